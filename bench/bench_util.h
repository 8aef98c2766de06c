/*
 * bench_util.h — header-only helpers shared by the benchmark drivers in bench/.
 *
 * Every .c file in bench/ is built as its own binary (build/bench/<name>), so shared code lives
 * here as static inline functions: clock, argument parsing, librdkafka configuration, the
 * in-process mock cluster, a bounded latency histogram and a produce call that rides out a full
 * local queue.
 *
 * Nothing here allocates per record.  All functions are for the calling thread unless stated.
 */
#ifndef GREGOR_BENCH_UTIL_H
#define GREGOR_BENCH_UTIL_H

#include <errno.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------------------ process */

__attribute__((noreturn, format(printf, 1, 2))) static inline void bench_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bench: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}

/* ------------------------------------------------------------------------------ time */

static inline uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline void bench_sleep_ns(uint64_t ns)
{
    struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000ull),
                          .tv_nsec = (long)(ns % 1000000000ull)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Wall-clock time as kafka-consumer-perf-test prints it: "yyyy-MM-dd HH:mm:ss:SSS". */
static inline void bench_fmt_wall(char *out, size_t out_size, const struct timeval *tv)
{
    struct tm tm;
    char date[32];
    localtime_r(&tv->tv_sec, &tm);
    strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(out, out_size, "%s:%03ld", date, (long)(tv->tv_usec / 1000));
}

/* ------------------------------------------------------------------------------ arguments */

static inline int64_t bench_parse_i64(const char *flag, const char *s)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0') bench_die("%s: not an integer: '%s'", flag, s);
    return (int64_t)v;
}

static inline double bench_parse_double(const char *flag, const char *s)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0') bench_die("%s: not a number: '%s'", flag, s);
    return v;
}

/* Returns argv[*i + 1] and advances *i, or dies if the flag has no value. */
static inline const char *bench_arg_value(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) bench_die("%s needs a value", argv[*i]);
    *i += 1;
    return argv[*i];
}

/* ------------------------------------------------------------------------------ librdkafka */

static inline void bench_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value)
{
    char errstr[512];
    if (rd_kafka_conf_set(conf, key, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
        bench_die("config %s=%s: %s", key, value, errstr);
}

/* Applies one "key=value" property (from --producer-props / --consumer-props). */
static inline void bench_conf_set_kv(rd_kafka_conf_t *conf, const char *kv)
{
    char key[256];
    const char *eq = strchr(kv, '=');
    if (eq == NULL || eq == kv || (size_t)(eq - kv) >= sizeof(key))
        bench_die("property must be key=value: '%s'", kv);
    memcpy(key, kv, (size_t)(eq - kv));
    key[eq - kv] = '\0';
    bench_conf_set(conf, key, eq + 1);
}

/* Bounded list of "key=value" strings borrowed from argv. */
#define BENCH_PROPS_MAX 64
struct bench_props {
    const char *kv[BENCH_PROPS_MAX];
    int count;
};

/* Collects the values following argv[*i] up to the next "--flag"; advances *i past them. */
static inline void bench_props_collect(struct bench_props *props, int argc, char **argv, int *i)
{
    while (*i + 1 < argc && strncmp(argv[*i + 1], "--", 2) != 0) {
        if (props->count == BENCH_PROPS_MAX) bench_die("more than %d properties", BENCH_PROPS_MAX);
        props->kv[props->count++] = argv[*i + 1];
        *i += 1;
    }
}

static inline void bench_props_apply(const struct bench_props *props, rd_kafka_conf_t *conf)
{
    for (int i = 0; i < props->count; i++)
        bench_conf_set_kv(conf, props->kv[i]);
}

/* Logs librdkafka errors to stderr; fatal errors end the process. */
static inline void bench_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char buf[512];
        rd_kafka_resp_err_t ferr = rd_kafka_fatal_error(rk, buf, sizeof(buf));
        bench_die("fatal error %s: %s", rd_kafka_err2name(ferr), buf);
    }
    fprintf(stderr, "bench: %s: %s: %s\n", rd_kafka_name(rk),
            rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

/* ------------------------------------------------------------------------------ mock cluster */

/*
 * librdkafka's in-process mock cluster: the baseline every Gregor figure is compared with.  It
 * lives in this process (its own threads), so a consumer benchmark must produce into it first.
 * The helper handle only anchors the cluster; clients connect to bench_mock.bootstraps.
 */
struct bench_mock {
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *cluster;
    const char *bootstraps; /* owned by cluster, valid until bench_mock_stop() */
};

static inline void bench_mock_start(struct bench_mock *mock, const char *topic, int partitions)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    bench_conf_set(conf, "log_level", "3");
    mock->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (mock->rk == NULL) bench_die("mock helper: %s", errstr);
    mock->cluster = rd_kafka_mock_cluster_new(mock->rk, 1);
    if (mock->cluster == NULL) bench_die("rd_kafka_mock_cluster_new failed");
    rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(mock->cluster, topic, partitions, 1);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
        bench_die("mock topic %s: %s", topic, rd_kafka_err2str(err));
    mock->bootstraps = rd_kafka_mock_cluster_bootstraps(mock->cluster);
}

static inline void bench_mock_stop(struct bench_mock *mock)
{
    if (mock->cluster != NULL) rd_kafka_mock_cluster_destroy(mock->cluster);
    if (mock->rk != NULL) rd_kafka_destroy(mock->rk);
    memset(mock, 0, sizeof(*mock));
}

/* ------------------------------------------------------------------------------ produce */

/*
 * Number of partitions of `topic` from the cluster's metadata, retried (auto-creation and a
 * fresh controller can take a moment) until timeout_ms passes.  Returns the count, or dies.
 */
static inline int bench_topic_partitions(rd_kafka_t *rk, const char *topic, int timeout_ms)
{
    uint64_t deadline = bench_now_ns() + (uint64_t)timeout_ms * 1000000ull;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    if (rkt == NULL) bench_die("topic %s: %s", topic, rd_kafka_err2str(rd_kafka_last_error()));
    rd_kafka_resp_err_t err;
    for (;;) {
        const struct rd_kafka_metadata *md = NULL;
        err = rd_kafka_metadata(rk, 0, rkt, &md, 5000);
        int count = 0;
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            err = md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
            if (err == RD_KAFKA_RESP_ERR_NO_ERROR) count = md->topics[0].partition_cnt;
            rd_kafka_metadata_destroy(md);
        }
        if (count > 0) {
            rd_kafka_topic_destroy(rkt);
            return count;
        }
        if (bench_now_ns() > deadline) break;
        bench_sleep_ns(100 * 1000 * 1000);
    }
    bench_die("no partitions for topic %s: %s", topic, rd_kafka_err2str(err));
}

/*
 * Enqueues one record (payload borrowed, never copied: it must outlive delivery) to
 * `partition`.  A full local queue is normal at full speed: wait for deliveries and retry.  If
 * `poll` is nonzero this thread serves delivery reports while waiting; otherwise another thread
 * does and this one sleeps briefly.  Returns 0, or the librdkafka error.
 */
static inline rd_kafka_resp_err_t bench_produce_one(rd_kafka_t *rk, rd_kafka_topic_t *rkt,
                                                    int32_t partition, void *payload, size_t len,
                                                    void *opaque, int poll)
{
    for (;;) {
        if (rd_kafka_produce(rkt, partition, 0, payload, len, NULL, 0, opaque) == 0)
            return RD_KAFKA_RESP_ERR_NO_ERROR;
        rd_kafka_resp_err_t err = rd_kafka_last_error();
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) return err;
        if (poll)
            rd_kafka_poll(rk, 10);
        else
            bench_sleep_ns(100 * 1000);
    }
}

/*
 * Partition for record i: records go to one partition in runs of BENCH_STICKY_RECORDS, then the
 * next, like the Java client's sticky partitioner.  Choosing it here rather than through
 * librdkafka's partitioner saves that call per record, which is measurable at >1 M records/s.
 */
#define BENCH_STICKY_RECORDS 1000
static inline int32_t bench_partition_for(int64_t i, int partitions)
{
    return (int32_t)((i / BENCH_STICKY_RECORDS) % partitions);
}

/* ------------------------------------------------------------------------------ histogram */

/*
 * Latency histogram in microseconds, log-linear like HdrHistogram: values below 2048 µs have
 * their own bucket; above, each power of two is split into 1024 buckets, so any recorded value
 * is reported within 0.1 %.  Values are clamped at 2^40 µs (12 days).  Fixed size, no malloc.
 */
#define BENCH_HIST_LINEAR 2048u
#define BENCH_HIST_SUB 1024u
#define BENCH_HIST_EXP_MAX 30u
#define BENCH_HIST_BUCKETS (BENCH_HIST_LINEAR + BENCH_HIST_EXP_MAX * BENCH_HIST_SUB)

struct bench_hist {
    uint64_t counts[BENCH_HIST_BUCKETS];
    uint64_t total;
    uint64_t sum_us;
    uint64_t max_us;
};

static inline uint32_t bench_hist_index(uint64_t us)
{
    if (us < BENCH_HIST_LINEAR) return (uint32_t)us;
    uint32_t exp = (uint32_t)(63 - __builtin_clzll(us)) - 10; /* us >> exp in [1024, 2047] */
    if (exp > BENCH_HIST_EXP_MAX) return BENCH_HIST_BUCKETS - 1;
    return BENCH_HIST_LINEAR + (exp - 1) * BENCH_HIST_SUB +
           (uint32_t)((us >> exp) - BENCH_HIST_SUB);
}

/* Upper bound (µs) of the values that land in bucket idx. */
static inline uint64_t bench_hist_value(uint32_t idx)
{
    if (idx < BENCH_HIST_LINEAR) return idx;
    uint32_t exp = (idx - BENCH_HIST_LINEAR) / BENCH_HIST_SUB + 1;
    uint64_t sub = (idx - BENCH_HIST_LINEAR) % BENCH_HIST_SUB + BENCH_HIST_SUB;
    return ((sub + 1) << exp) - 1;
}

static inline void bench_hist_record(struct bench_hist *h, uint64_t us)
{
    h->counts[bench_hist_index(us)]++;
    h->total++;
    h->sum_us += us;
    if (us > h->max_us) h->max_us = us;
}

/* Value (µs) at quantile q in [0, 1]; 0 for an empty histogram. */
static inline uint64_t bench_hist_quantile(const struct bench_hist *h, double q)
{
    if (h->total == 0) return 0;
    uint64_t rank = (uint64_t)(q * (double)h->total);
    if (rank >= h->total) rank = h->total - 1;
    uint64_t seen = 0;
    for (uint32_t i = 0; i < BENCH_HIST_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen > rank) {
            uint64_t v = bench_hist_value(i);
            return v < h->max_us ? v : h->max_us;
        }
    }
    return h->max_us;
}

#endif /* GREGOR_BENCH_UTIL_H */

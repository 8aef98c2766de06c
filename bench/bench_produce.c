/*
 * bench_produce — producer throughput and latency, like kafka-producer-perf-test.
 *
 * Produces --num-records records of --record-size bytes (one fixed payload, borrowed by
 * librdkafka, never copied) to --topic, against --bootstrap-server or librdkafka's in-process
 * mock cluster (--mock, the baseline).  Each record carries its send time in msg_opaque; a
 * dedicated poller thread serves delivery reports as soon as they arrive, so latency is send to
 * acknowledgement without waiting for the producing thread to poll.  Latencies go into a fixed
 * log-linear histogram (bench_util.h).
 *
 * Threads: main produces (and throttles for --throughput); the poller thread owns the histogram
 * and window statistics until it is joined; they share only the atomic counters below.
 */
#include <pthread.h>

#include "bench/bench_util.h"

#define BENCH_WINDOW_NS (5ull * 1000000000ull)
#define DR_CLOCK_EVERY 32u
/* Unthrottled, records are enqueued about a microsecond apart; reading the clock every 16 keeps
 * the send-time error near the enqueue cost.  Throttled runs read it for every record. */
#define SEND_CLOCK_EVERY 16

struct produce_opts {
    const char *bootstrap;
    const char *topic;
    int mock;
    int partitions;
    int64_t num_records;
    int64_t record_size;
    double throughput; /* records/s; <= 0 = unlimited */
    const char *acks;
    const char *linger_ms;
    const char *batch_size;
    const char *compression;
    int64_t timeout_ms; /* waiting for the final deliveries */
    const char *latency_log; /* one line per record: send time and latency, in µs */
    int64_t min_sleep_us;    /* the throttler sleeps once this far ahead */
    struct bench_props props;
};

/* Written by the poller thread (delivery reports), read by main. */
struct produce_state {
    struct bench_hist hist;
    uint64_t delivered;  /* atomic: ok + failed */
    uint64_t failed;     /* atomic */
    uint64_t last_dr_ns; /* atomic */
    int stop;            /* atomic: main asks the poller to exit */
    uint64_t record_size;
    /* Clock reads are costly on this VM (vDSO clock_gettime was 18 % of a profile), and the
     * reports of one batch arrive together: read the clock on the first report of each poll
     * and then every DR_CLOCK_EVERY reports, which keeps the error to a few microseconds. */
    uint64_t dr_now_ns;
    uint32_t dr_since_clock;
    /* Window statistics, printed every 5 s like kafka-producer-perf-test. */
    uint64_t window_start_ns;
    uint64_t window_count;
    uint64_t window_sum_us;
    uint64_t window_max_us;
    char first_error[256];
    /* --latency-log: per record, filled by the poller, written after the run */
    struct lat_sample *samples;
    uint64_t sample_count, sample_cap;
};

struct lat_sample {
    uint64_t sent_ns;
    uint32_t us;
    int32_t partition;
};

static struct produce_state g_state; /* the histogram is too big for the stack */

static void usage(FILE *out)
{
    fprintf(out, "usage: bench_produce (--bootstrap-server HOST:PORT | --mock) --topic T\n"
                 "         --num-records N --record-size BYTES [--throughput REC_PER_S (-1)]\n"
                 "         [--acks 0|1|all (1)] [--linger-ms MS] [--batch-size BYTES]\n"
                 "         [--compression-type none|gzip|snappy|lz4|zstd] [--partitions N (1)]\n"
                 "         [--timeout-ms MS (120000)] [--producer-props k=v ...]\n"
                 "         [--throttle-min-sleep-us US (2000)]\n"
                 "         [--latency-log FILE (send time and latency of every record, us)]\n");
}

static void parse_args(struct produce_opts *o, int argc, char **argv)
{
    *o = (struct produce_opts){.partitions = 1,
                               .num_records = -1,
                               .record_size = -1,
                               .throughput = -1,
                               .acks = "1",
                               .timeout_ms = 120000,
                               .min_sleep_us = 2000};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--bootstrap-server"))
            o->bootstrap = bench_arg_value(argc, argv, &i);
        else if (!strcmp(a, "--mock"))
            o->mock = 1;
        else if (!strcmp(a, "--topic"))
            o->topic = bench_arg_value(argc, argv, &i);
        else if (!strcmp(a, "--num-records"))
            o->num_records = bench_parse_i64(a, bench_arg_value(argc, argv, &i));
        else if (!strcmp(a, "--record-size"))
            o->record_size = bench_parse_i64(a, bench_arg_value(argc, argv, &i));
        else if (!strcmp(a, "--throughput"))
            o->throughput = bench_parse_double(a, bench_arg_value(argc, argv, &i));
        else if (!strcmp(a, "--acks"))
            o->acks = bench_arg_value(argc, argv, &i);
        else if (!strcmp(a, "--linger-ms"))
            o->linger_ms = bench_arg_value(argc, argv, &i);
        else if (!strcmp(a, "--batch-size"))
            o->batch_size = bench_arg_value(argc, argv, &i);
        else if (!strcmp(a, "--compression-type"))
            o->compression = bench_arg_value(argc, argv, &i);
        else if (!strcmp(a, "--partitions"))
            o->partitions = (int)bench_parse_i64(a, bench_arg_value(argc, argv, &i));
        else if (!strcmp(a, "--timeout-ms"))
            o->timeout_ms = bench_parse_i64(a, bench_arg_value(argc, argv, &i));
        else if (!strcmp(a, "--throttle-min-sleep-us"))
            o->min_sleep_us = bench_parse_i64(a, bench_arg_value(argc, argv, &i));
        else if (!strcmp(a, "--latency-log"))
            o->latency_log = bench_arg_value(argc, argv, &i);
        else if (!strcmp(a, "--producer-props"))
            bench_props_collect(&o->props, argc, argv, &i);
        else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            exit(0);
        } else {
            usage(stderr);
            bench_die("unknown argument '%s'", a);
        }
    }
    if (o->topic == NULL || o->num_records < 0 || o->record_size < 0 ||
        (o->bootstrap == NULL) == (o->mock == 0)) {
        usage(stderr);
        bench_die("need --topic, --num-records, --record-size and exactly one of "
                  "--bootstrap-server / --mock");
    }
    if (o->partitions < 1 || o->partitions > 100000) bench_die("--partitions out of range");
    if (o->record_size > 100 * 1024 * 1024) bench_die("--record-size above 100 MiB");
    if (o->min_sleep_us < 0) bench_die("--throttle-min-sleep-us below 0");
}

/* Delivery report: runs on the poller thread. */
static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct produce_state *s = &g_state;
    if (s->dr_since_clock++ % DR_CLOCK_EVERY == 0) s->dr_now_ns = bench_now_ns();
    uint64_t now = s->dr_now_ns;
    uint64_t sent = (uint64_t)(uintptr_t)m->_private;
    uint64_t us = now > sent ? (now - sent) / 1000 : 0;

    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (__atomic_fetch_add(&s->failed, 1, __ATOMIC_RELAXED) == 0)
            snprintf(s->first_error, sizeof(s->first_error), "%s", rd_kafka_err2str(m->err));
    } else {
        bench_hist_record(&s->hist, us);
        s->window_count++;
        s->window_sum_us += us;
        if (us > s->window_max_us) s->window_max_us = us;
        if (s->sample_count < s->sample_cap)
            s->samples[s->sample_count++] = (struct lat_sample){sent, (uint32_t)us, m->partition};
    }
    __atomic_store_n(&s->last_dr_ns, now, __ATOMIC_RELAXED);
    __atomic_fetch_add(&s->delivered, 1, __ATOMIC_RELEASE);
}

static void window_print(struct produce_state *s, uint64_t now)
{
    double secs = (double)(now - s->window_start_ns) / 1e9;
    double rps = (double)s->window_count / secs;
    printf("%" PRIu64 " records sent, %.1f records/sec (%.2f MB/sec), %.1f ms avg latency, "
           "%.1f ms max latency.\n",
           s->window_count, rps, rps * (double)s->record_size / (1024.0 * 1024.0),
           s->window_count ? (double)s->window_sum_us / (double)s->window_count / 1000.0 : 0.0,
           (double)s->window_max_us / 1000.0);
    fflush(stdout);
    s->window_start_ns = now;
    s->window_count = 0;
    s->window_sum_us = 0;
    s->window_max_us = 0;
}

static void *poller_main(void *arg)
{
    rd_kafka_t *rk = arg;
    struct produce_state *s = &g_state;
    while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
        rd_kafka_poll(rk, 50);
        s->dr_since_clock = 0;
        uint64_t now = bench_now_ns();
        if (now - s->window_start_ns >= BENCH_WINDOW_NS) window_print(s, now);
    }
    rd_kafka_poll(rk, 0);
    return NULL;
}

static rd_kafka_t *producer_new(const struct produce_opts *o, const char *bootstrap)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    bench_conf_set(conf, "bootstrap.servers", bootstrap);
    bench_conf_set(conf, "client.id", "gregor-bench-produce");
    bench_conf_set(conf, "acks", o->acks);
    if (o->linger_ms) bench_conf_set(conf, "linger.ms", o->linger_ms);
    if (o->batch_size) bench_conf_set(conf, "batch.size", o->batch_size);
    if (o->compression) bench_conf_set(conf, "compression.type", o->compression);
    bench_props_apply(&o->props, conf);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
    rd_kafka_conf_set_error_cb(conf, bench_error_cb);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (rk == NULL) bench_die("producer: %s", errstr);
    return rk;
}

/* Sleeps until record i is due under --throughput, once the producer is at least
 * --throttle-min-sleep-us ahead.  The default, 2 ms, is kafka-producer-perf-test's
 * ThroughputThrottler (MIN_SLEEP_NS): records leave in bursts of 2 ms worth.  A small value
 * paces records evenly, at the cost of a wakeup of the producing thread every few records. */
static void throttle(const struct produce_opts *o, uint64_t start_ns, int64_t i)
{
    uint64_t due = start_ns + (uint64_t)((double)i * 1e9 / o->throughput);
    uint64_t now = bench_now_ns();
    if (due > now + (uint64_t)o->min_sleep_us * 1000) bench_sleep_ns(due - now);
}

static void summary_print(const struct produce_opts *o, const struct produce_state *s,
                          uint64_t elapsed_ns)
{
    const struct bench_hist *h = &s->hist;
    double secs = (double)elapsed_ns / 1e9;
    double rps = (double)o->num_records / secs;
    double mbps = rps * (double)o->record_size / (1024.0 * 1024.0);
    double avg_ms = h->total ? (double)h->sum_us / (double)h->total / 1000.0 : 0.0;
    double p50 = (double)bench_hist_quantile(h, 0.50) / 1000.0;
    double p95 = (double)bench_hist_quantile(h, 0.95) / 1000.0;
    double p99 = (double)bench_hist_quantile(h, 0.99) / 1000.0;
    double p999 = (double)bench_hist_quantile(h, 0.999) / 1000.0;
    double max_ms = (double)h->max_us / 1000.0;

    printf("%" PRId64 " records sent, %.1f records/sec (%.2f MB/sec), %.3f ms avg latency, "
           "%.3f ms max latency, %.3f ms 50th, %.3f ms 95th, %.3f ms 99th, %.3f ms 99.9th.\n",
           o->num_records, rps, mbps, avg_ms, max_ms, p50, p95, p99, p999);
    printf("RESULT produce target=%s records=%" PRId64 " record_size=%" PRId64
           " acks=%s records_per_sec=%.1f mb_per_sec=%.2f avg_ms=%.3f p50_ms=%.3f "
           "p95_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f elapsed_s=%.3f failed=%" PRIu64 "\n",
           o->mock ? "mock" : "broker", o->num_records, o->record_size, o->acks, rps, mbps, avg_ms,
           p50, p95, p99, p999, max_ms, secs, s->failed);
    fflush(stdout);
}

/* "send_us latency_us partition" per acknowledged record, send time from the start. */
static void latency_log_write(const char *path, const struct produce_state *s, uint64_t start_ns)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) bench_die("%s: cannot write the latency log", path);
    for (uint64_t i = 0; i < s->sample_count; i++) {
        const struct lat_sample *x = &s->samples[i];
        fprintf(f, "%" PRIu64 " %" PRIu32 " %" PRId32 "\n",
                x->sent_ns > start_ns ? (x->sent_ns - start_ns) / 1000 : 0, x->us, x->partition);
    }
    if (fclose(f)) bench_die("%s: write failed", path);
}

int main(int argc, char **argv)
{
    struct produce_opts o;
    struct bench_mock mock = {0};
    parse_args(&o, argc, argv);

    const char *bootstrap = o.bootstrap;
    if (o.mock) {
        bench_mock_start(&mock, o.topic, o.partitions);
        bootstrap = mock.bootstraps;
    }

    /* One payload for every record, as kafka-producer-perf-test does.  A repeating alphabet
     * compresses very well: compressed figures are optimistic. */
    char *payload = malloc(o.record_size ? (size_t)o.record_size : 1);
    if (payload == NULL) bench_die("out of memory");
    for (int64_t i = 0; i < o.record_size; i++)
        payload[i] = (char)('A' + i % 26);

    rd_kafka_t *rk = producer_new(&o, bootstrap);
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, o.topic, NULL);
    if (rkt == NULL) bench_die("topic %s: %s", o.topic, rd_kafka_err2str(rd_kafka_last_error()));

    int partitions = bench_topic_partitions(rk, o.topic, 30000);
    g_state.record_size = (uint64_t)o.record_size;
    if (o.latency_log) {
        g_state.sample_cap = (uint64_t)o.num_records;
        g_state.samples = calloc(g_state.sample_cap ? g_state.sample_cap : 1,
                                 sizeof(*g_state.samples));
        if (g_state.samples == NULL) bench_die("out of memory for --latency-log");
    }
    uint64_t start_ns = bench_now_ns();
    g_state.window_start_ns = start_ns;
    pthread_t poller;
    if (pthread_create(&poller, NULL, poller_main, rk) != 0) bench_die("pthread_create failed");

    int rc = 0;
    int64_t sent = 0;
    uint64_t send_ns = start_ns;
    for (; sent < o.num_records; sent++) {
        if (o.throughput > 0) {
            throttle(&o, start_ns, sent);
            send_ns = bench_now_ns();
        } else if (sent % SEND_CLOCK_EVERY == 0) {
            send_ns = bench_now_ns();
        }
        void *opaque = (void *)(uintptr_t)send_ns;
        rd_kafka_resp_err_t err = bench_produce_one(rk, rkt, bench_partition_for(sent, partitions),
                                                    payload, (size_t)o.record_size, opaque, 0);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            fprintf(stderr, "bench: produce: %s\n", rd_kafka_err2str(err));
            rc = 1;
            break;
        }
    }

    /* Wait for every delivery report (the poller serves them), bounded by --timeout-ms. */
    uint64_t deadline = bench_now_ns() + (uint64_t)o.timeout_ms * 1000000ull;
    while (__atomic_load_n(&g_state.delivered, __ATOMIC_ACQUIRE) < (uint64_t)sent) {
        if (bench_now_ns() > deadline) {
            fprintf(stderr, "bench: timed out with %" PRIu64 " of %" PRId64 " deliveries\n",
                    __atomic_load_n(&g_state.delivered, __ATOMIC_ACQUIRE), sent);
            rc = 1;
            break;
        }
        bench_sleep_ns(200 * 1000);
    }
    uint64_t end_ns = __atomic_load_n(&g_state.last_dr_ns, __ATOMIC_RELAXED);
    if (end_ns < start_ns) end_ns = bench_now_ns();
    __atomic_store_n(&g_state.stop, 1, __ATOMIC_RELEASE);
    pthread_join(poller, NULL);

    o.num_records = sent;
    summary_print(&o, &g_state, end_ns - start_ns);
    if (o.latency_log) latency_log_write(o.latency_log, &g_state, start_ns);
    if (g_state.failed) {
        fprintf(stderr, "bench: %" PRIu64 " deliveries failed, first: %s\n", g_state.failed,
                g_state.first_error);
        rc = 1;
    }

    rd_kafka_topic_destroy(rkt);
    if (rc == 0) rd_kafka_flush(rk, 5000);
    rd_kafka_destroy(rk);
    bench_mock_stop(&mock);
    free(g_state.samples);
    free(payload);
    return rc;
}

/*
 * bench_consume — consumer throughput, like kafka-consumer-perf-test.
 *
 * Reads --messages records from every partition of --topic, from the beginning, with no consumer
 * group (no coordinator, no commits): each partition is started on one shared queue with the
 * legacy simple-consumer API and drained in large batches with rd_kafka_consume_batch_queue,
 * so the client spends its time on fetching, not on per-message polling.  The clock starts when
 * the partitions are started (connection and first fetch included, as in Kafka's tool) and stops
 * at the N-th record.
 *
 * --mock starts librdkafka's in-process mock cluster; since it lives in this process, the
 * records are first produced into it (untimed) with --record-size bytes each.  The mock keeps only
 * the newest ~5 MB of each partition (it drops older message sets), so the mock topic gets as many
 * partitions as it takes to hold all --messages records (at least --partitions).  Seeking back
 * over a small preload instead was tried: every wrap stalled the fetcher for ~100 ms.
 */
#include <sys/time.h>

#include "bench/bench_util.h"

#define CONSUME_BATCH_MAX 10000
#define PARTITIONS_MAX 10000
/* Safely below the mock's per-partition retention of 5 MiB (rdkafka_mock.c, max_size). */
#define MOCK_PARTITION_BYTES (4 * 1024 * 1024)
/* Per-record overhead in a v2 batch without key or headers, rounded up. */
#define RECORD_OVERHEAD_BYTES 16

struct consume_opts {
    const char *bootstrap;
    const char *topic;
    int mock;
    int partitions;      /* mock topic only */
    int64_t record_size; /* mock preload only */
    int64_t messages;
    const char *fetch_max_bytes;
    int64_t timeout_ms; /* give up after this long without a record */
    struct bench_props props;
};

static void usage(FILE *out)
{
    fprintf(out, "usage: bench_consume (--bootstrap-server HOST:PORT | --mock) --topic T\n"
                 "         --messages N [--fetch-max-bytes BYTES] [--timeout-ms MS (10000)]\n"
                 "         [--consumer-props k=v ...]\n"
                 "       with --mock also: [--record-size BYTES (100)] [--partitions N (1)]\n");
}

static void parse_args(struct consume_opts *o, int argc, char **argv)
{
    *o = (struct consume_opts){
        .partitions = 1, .record_size = 100, .messages = -1, .timeout_ms = 10000};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--bootstrap-server"))
            o->bootstrap = bench_arg_value(argc, argv, &i);
        else if (!strcmp(a, "--mock"))
            o->mock = 1;
        else if (!strcmp(a, "--topic"))
            o->topic = bench_arg_value(argc, argv, &i);
        else if (!strcmp(a, "--messages") || !strcmp(a, "--num-records"))
            o->messages = bench_parse_i64(a, bench_arg_value(argc, argv, &i));
        else if (!strcmp(a, "--record-size"))
            o->record_size = bench_parse_i64(a, bench_arg_value(argc, argv, &i));
        else if (!strcmp(a, "--partitions"))
            o->partitions = (int)bench_parse_i64(a, bench_arg_value(argc, argv, &i));
        else if (!strcmp(a, "--fetch-max-bytes"))
            o->fetch_max_bytes = bench_arg_value(argc, argv, &i);
        else if (!strcmp(a, "--timeout-ms") || !strcmp(a, "--timeout"))
            o->timeout_ms = bench_parse_i64(a, bench_arg_value(argc, argv, &i));
        else if (!strcmp(a, "--consumer-props"))
            bench_props_collect(&o->props, argc, argv, &i);
        else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            exit(0);
        } else {
            usage(stderr);
            bench_die("unknown argument '%s'", a);
        }
    }
    if (o->topic == NULL || o->messages < 0 || (o->bootstrap == NULL) == (o->mock == 0)) {
        usage(stderr);
        bench_die("need --topic, --messages and exactly one of --bootstrap-server / --mock");
    }
    if (o->partitions < 1 || o->partitions > PARTITIONS_MAX) bench_die("--partitions out of range");
    if (o->record_size < 0 || o->record_size > 100 * 1024 * 1024)
        bench_die("--record-size out of range");
}

/* ------------------------------------------------------------------------------ mock preload */

static int preload_failed;

static void preload_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR && preload_failed++ == 0)
        fprintf(stderr, "bench: preload delivery: %s\n", rd_kafka_err2str(m->err));
}

/* Partitions the mock topic needs so that its retention keeps every record. */
static int mock_partitions_needed(const struct consume_opts *o)
{
    int64_t per_partition = MOCK_PARTITION_BYTES / (o->record_size + RECORD_OVERHEAD_BYTES);
    if (per_partition < 1) per_partition = 1;
    int64_t need = (o->messages + per_partition - 1) / per_partition;
    if (need > PARTITIONS_MAX)
        bench_die("--mock would need %" PRId64 " partitions; use fewer --messages", need);
    return need > o->partitions ? (int)need : o->partitions;
}

/* Produces the preload into the mock cluster and waits for all of it. */
static void mock_preload(const struct consume_opts *o, const char *bootstrap)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    bench_conf_set(conf, "bootstrap.servers", bootstrap);
    bench_conf_set(conf, "client.id", "gregor-bench-preload");
    bench_conf_set(conf, "linger.ms", "5");
    rd_kafka_conf_set_dr_msg_cb(conf, preload_dr_cb);
    rd_kafka_conf_set_error_cb(conf, bench_error_cb);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (rk == NULL) bench_die("preload producer: %s", errstr);
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, o->topic, NULL);
    if (rkt == NULL) bench_die("topic %s: %s", o->topic, rd_kafka_err2str(rd_kafka_last_error()));

    char *payload = malloc(o->record_size ? (size_t)o->record_size : 1);
    if (payload == NULL) bench_die("out of memory");
    for (int64_t i = 0; i < o->record_size; i++)
        payload[i] = (char)('A' + i % 26);

    uint64_t t0 = bench_now_ns();
    int64_t total = o->messages;
    for (int64_t i = 0; i < total; i++) {
        rd_kafka_resp_err_t err = bench_produce_one(rk, rkt, (int32_t)(i % o->partitions), payload,
                                                    (size_t)o->record_size, NULL, 1);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
            bench_die("preload produce: %s", rd_kafka_err2str(err));
        if (i % 1024 == 0) rd_kafka_poll(rk, 0);
    }
    rd_kafka_resp_err_t err = rd_kafka_flush(rk, 120000);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR || preload_failed)
        bench_die("preload did not complete: %s, %d failed", rd_kafka_err2str(err), preload_failed);
    fprintf(stderr,
            "bench: preloaded %" PRId64 " records of %" PRId64
            " B into %d mock partitions in %.2f s\n",
            total, o->record_size, o->partitions, (double)(bench_now_ns() - t0) / 1e9);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    free(payload);
}

/* ------------------------------------------------------------------------------ consume */

static rd_kafka_t *consumer_new(const struct consume_opts *o, const char *bootstrap)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    bench_conf_set(conf, "bootstrap.servers", bootstrap);
    bench_conf_set(conf, "client.id", "gregor-bench-consume");
    bench_conf_set(conf, "enable.partition.eof", "false");
    bench_conf_set(conf, "check.crcs", "false");
    /* Large fetches and a deep prefetch queue so the fetcher never waits for the application:
     * 64 MiB per fetch, 8 MiB per partition, up to 1 GiB buffered locally. */
    bench_conf_set(conf, "fetch.max.bytes", o->fetch_max_bytes ? o->fetch_max_bytes : "67108864");
    bench_conf_set(conf, "max.partition.fetch.bytes", "8388608");
    bench_conf_set(conf, "receive.message.max.bytes", "134217728");
    bench_conf_set(conf, "queued.min.messages", "1000000");
    bench_conf_set(conf, "queued.max.messages.kbytes", "1048576");
    bench_conf_set(conf, "fetch.wait.max.ms", "100");
    bench_props_apply(&o->props, conf);
    rd_kafka_conf_set_error_cb(conf, bench_error_cb);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (rk == NULL) bench_die("consumer: %s", errstr);
    return rk;
}

int main(int argc, char **argv)
{
    struct consume_opts o;
    struct bench_mock mock = {0};
    parse_args(&o, argc, argv);

    const char *bootstrap = o.bootstrap;
    if (o.mock) {
        o.partitions = mock_partitions_needed(&o);
        bench_mock_start(&mock, o.topic, o.partitions);
        bootstrap = mock.bootstraps;
        mock_preload(&o, bootstrap);
    }

    rd_kafka_t *rk = consumer_new(&o, bootstrap);
    int partitions = bench_topic_partitions(rk, o.topic, 30000);
    if (partitions > PARTITIONS_MAX)
        bench_die("topic has %d partitions, more than %d", partitions, PARTITIONS_MAX);
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, o.topic, NULL);
    rd_kafka_queue_t *rkqu = rd_kafka_queue_new(rk);
    static rd_kafka_message_t *batch[CONSUME_BATCH_MAX];

    struct timeval start_wall, end_wall;
    gettimeofday(&start_wall, NULL);
    uint64_t start_ns = bench_now_ns();
    for (int p = 0; p < partitions; p++)
        if (rd_kafka_consume_start_queue(rkt, p, RD_KAFKA_OFFSET_BEGINNING, rkqu) != 0)
            bench_die("start partition %d: %s", p, rd_kafka_err2str(rd_kafka_last_error()));

    int64_t records = 0;
    uint64_t bytes = 0;
    int rc = 0;
    uint64_t last_record_ns = start_ns;
    while (records < o.messages) {
        ssize_t n = rd_kafka_consume_batch_queue(rkqu, 100, batch, CONSUME_BATCH_MAX);
        if (n < 0) bench_die("consume: %s", rd_kafka_err2str(rd_kafka_last_error()));
        int64_t got = 0;
        for (ssize_t i = 0; i < n; i++) {
            rd_kafka_message_t *m = batch[i];
            if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
                got++;
                bytes += m->len + m->key_len;
            } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                fprintf(stderr, "bench: consume error: %s\n", rd_kafka_message_errstr(m));
            }
            rd_kafka_message_destroy(m);
        }
        records += got;
        uint64_t now = bench_now_ns();
        if (got > 0) {
            last_record_ns = now;
        } else if (now - last_record_ns > (uint64_t)o.timeout_ms * 1000000ull) {
            fprintf(stderr,
                    "bench: no record for %" PRId64 " ms; stopping at %" PRId64 " of %" PRId64 "\n",
                    o.timeout_ms, records, o.messages);
            rc = 1;
            break;
        }
    }
    uint64_t end_ns = last_record_ns;
    gettimeofday(&end_wall, NULL);

    double secs = (double)(end_ns - start_ns) / 1e9;
    double mb = (double)bytes / (1024.0 * 1024.0);
    char start_s[64], end_s[64];
    bench_fmt_wall(start_s, sizeof(start_s), &start_wall);
    bench_fmt_wall(end_s, sizeof(end_s), &end_wall);
    printf("start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, "
           "nMsg.sec\n");
    printf("%s, %s, %.4f, %.4f, %" PRId64 ", %.4f\n", start_s, end_s, mb, mb / secs, records,
           (double)records / secs);
    printf("RESULT consume target=%s records=%" PRId64 " bytes=%" PRIu64
           " records_per_sec=%.1f mb_per_sec=%.2f elapsed_s=%.3f\n",
           o.mock ? "mock" : "broker", records, bytes, (double)records / secs, mb / secs, secs);
    fflush(stdout);

    for (int p = 0; p < partitions; p++)
        rd_kafka_consume_stop(rkt, p);
    rd_kafka_queue_destroy(rkqu);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    bench_mock_stop(&mock);
    return rc;
}

/* cli_consumer.c — `gregor console-consumer` (kafka-console-consumer.sh).
 *
 * Two ways to read, chosen by --group:
 *   - with a group: librdkafka's high-level consumer, subscribe() to the topic (or assign()
 *     the one --partition), offsets committed by the group as Kafka's console consumer does;
 *   - without: librdkafka's queue consumer (rd_kafka_consume_start_queue) on every partition
 *     (or --partition N), from --offset / --from-beginning (default latest).  librdkafka 2.0's
 *     rd_kafka_assign() refuses to work without a group.id, and a made-up group would send
 *     FindCoordinator to the cluster; the queue consumer never talks to a coordinator.
 *
 * Records print like Kafka 3.x's DefaultMessageFormatter: timestamp, partition, offset,
 * headers, key, value — each only if enabled — joined by key.separator, ended by
 * line.separator.  "Processed a total of N messages" goes to stderr at the end. */
#include "cli/cli_int.h"

#include <strings.h>
#include <stdlib.h>
#include <string.h>

#define CONSUMER_POLL_MS 100
#define CONSUMER_METADATA_TIMEOUT_MS 5000

static const char consumer_summary[] =
    "This tool helps to read data from Kafka topics and outputs it to standard output.";

static struct cli_opt consumer_opts[] = {
    CLI_OPT("bootstrap-server", NULL, CLI_OPT_VALUE, "String: server to connect to",
            "REQUIRED: The server(s) to connect to."),
    CLI_OPT("consumer-property", NULL, CLI_OPT_MULTI, "String: consumer_prop",
            "A mechanism to pass user-defined properties in the form key=value to the consumer "
            "(librdkafka property names)."),
    CLI_OPT("consumer.config", NULL, CLI_OPT_VALUE, "String: config file",
            "Consumer config properties file. Note that [consumer-property] takes precedence over "
            "this config."),
    CLI_OPT(
        "from-beginning", NULL, CLI_OPT_FLAG, NULL,
        "If the consumer does not already have an established offset to consume from, start with "
        "the earliest message present in the log rather than the latest message."),
    CLI_OPT("group", NULL, CLI_OPT_VALUE, "String: consumer group id",
            "The consumer group id of the consumer."),
    CLI_OPT("help", NULL, CLI_OPT_FLAG, NULL, "Print usage information."),
    CLI_OPT("isolation-level", NULL, CLI_OPT_VALUE, "String",
            "Set to read_committed in order to filter out transactional messages which are not "
            "committed. Set to read_uncommitted to read all messages. (default: read_uncommitted)"),
    CLI_OPT("max-messages", NULL, CLI_OPT_VALUE, "Integer: num_messages",
            "The maximum number of messages to consume before exiting. If not set, consumption is "
            "continual."),
    CLI_OPT("offset", NULL, CLI_OPT_VALUE, "String: consume offset",
            "The offset to consume from (a non-negative number), or 'earliest' which means from "
            "beginning, or 'latest' which means from end (default: latest)"),
    CLI_OPT(
        "partition", NULL, CLI_OPT_VALUE, "Integer: partition",
        "The partition to consume from. Consumption starts from the end of the partition unless "
        "'--offset' is specified."),
    CLI_OPT("property", NULL, CLI_OPT_MULTI, "String: prop",
            "The properties to initialize the message formatter: print.timestamp, print.key, "
            "print.offset, print.partition, print.headers, print.value, key.separator, "
            "line.separator, headers.separator, headers.key.separator, null.literal."),
    CLI_OPT("skip-message-on-error", NULL, CLI_OPT_FLAG, NULL,
            "If there is an error when processing a message, skip it instead of halt."),
    CLI_OPT("timeout-ms", NULL, CLI_OPT_VALUE, "Integer: timeout_ms",
            "If specified, exit if no message is available for consumption for the specified "
            "interval."),
    CLI_OPT("topic", NULL, CLI_OPT_VALUE, "String: topic", "The topic to consume on."),
};
#define CONSUMER_OPTS_N GR_ARRAY_LEN(consumer_opts)
#define C_HAS(name) cli_has(consumer_opts, CONSUMER_OPTS_N, name)
#define C_VAL(name) cli_val(consumer_opts, CONSUMER_OPTS_N, name)

/* DefaultMessageFormatter settings; strings borrowed from the props set holding them. */
struct msg_format {
    bool ts, partition, offset, headers, key, value;
    const char *key_sep, *line_sep, *headers_sep, *headers_key_sep, *null_literal;
};

struct consumer {
    rd_kafka_t *rk;
    rd_kafka_queue_t *q;   /* queue consumer only */
    rd_kafka_topic_t *rkt; /* queue consumer only */
    int32_t *parts;        /* queue consumer: started partitions */
    int parts_n;
    const char *topic;
    int64_t start_offset; /* RD_KAFKA_OFFSET_BEGINNING/END or absolute */
    int32_t partition;    /* -1: all */
    int64_t max_messages; /* -1: unlimited */
    int64_t timeout_ms;   /* -1: none */
    int64_t count;
    struct msg_format fmt;
};

/* ========================================================================================== */
/* Formatting                                                                                 */

static bool format_flag(const struct props *p, const char *key, bool dflt)
{
    const char *v = props_get(p, key);
    return v ? !strcasecmp(v, "true") : dflt;
}

static const char *format_str(const struct props *p, const char *key, const char *dflt)
{
    const char *v = props_get(p, key);
    return v ? v : dflt;
}

static void format_init(struct msg_format *f, const struct props *p)
{
    f->ts = format_flag(p, "print.timestamp", false);
    f->partition = format_flag(p, "print.partition", false);
    f->offset = format_flag(p, "print.offset", false);
    f->headers = format_flag(p, "print.headers", false);
    f->key = format_flag(p, "print.key", false);
    f->value = format_flag(p, "print.value", true);
    f->key_sep = format_str(p, "key.separator", "\t");
    f->line_sep = format_str(p, "line.separator", "\n");
    f->headers_sep = format_str(p, "headers.separator", ",");
    f->headers_key_sep = format_str(p, "headers.key.separator", ":");
    f->null_literal = format_str(p, "null.literal", "null");
}

static void format_bytes(FILE *out, const struct msg_format *f, const void *p, size_t n)
{
    if (p)
        fwrite(p, 1, n, out);
    else
        fputs(f->null_literal, out);
}

static void format_headers(FILE *out, const struct msg_format *f, const rd_kafka_message_t *m)
{
    rd_kafka_headers_t *h = NULL;
    if (rd_kafka_message_headers(m, &h) || !h || !rd_kafka_header_cnt(h)) {
        fputs("NO_HEADERS", out);
        return;
    }
    const char *name;
    const void *val;
    size_t size;
    for (size_t i = 0; !rd_kafka_header_get_all(h, i, &name, &val, &size); i++) {
        if (i) fputs(f->headers_sep, out);
        fputs(name, out);
        fputs(f->headers_key_sep, out);
        format_bytes(out, f, val, size);
    }
}

/* One record, exactly as DefaultMessageFormatter.writeTo lays it out. */
static void format_record(FILE *out, const struct msg_format *f, const rd_kafka_message_t *m)
{
    bool more[6] = {f->partition, f->offset, f->headers, f->key, f->value, false};
    for (int i = 4; i >= 0; i--)
        more[i] = more[i] || more[i + 1];
    /* more[k]: is any field after field k (0 ts, 1 partition, 2 offset, 3 headers, 4 key) on */
    if (f->ts) {
        rd_kafka_timestamp_type_t tt;
        int64_t ts = rd_kafka_message_timestamp(m, &tt);
        if (tt == RD_KAFKA_TIMESTAMP_CREATE_TIME)
            fprintf(out, "CreateTime:%lld", (long long)ts);
        else if (tt == RD_KAFKA_TIMESTAMP_LOG_APPEND_TIME)
            fprintf(out, "LogAppendTime:%lld", (long long)ts);
        else
            fputs("NO_TIMESTAMP", out);
        fputs(more[0] ? f->key_sep : f->line_sep, out);
    }
    if (f->partition) {
        fprintf(out, "Partition:%d", (int)m->partition);
        fputs(more[1] ? f->key_sep : f->line_sep, out);
    }
    if (f->offset) {
        fprintf(out, "Offset:%lld", (long long)m->offset);
        fputs(more[2] ? f->key_sep : f->line_sep, out);
    }
    if (f->headers) {
        format_headers(out, f, m);
        fputs(more[3] ? f->key_sep : f->line_sep, out);
    }
    if (f->key) {
        format_bytes(out, f, m->key, m->key_len);
        fputs(f->value ? f->key_sep : f->line_sep, out);
    }
    if (f->value) {
        format_bytes(out, f, m->payload, m->len);
        fputs(f->line_sep, out);
    }
}

/* ========================================================================================== */
/* The read loop, shared by both consumer kinds                                               */

static rd_kafka_message_t *consumer_poll(struct consumer *c, int timeout_ms)
{
    if (c->q) return rd_kafka_consume_queue(c->q, timeout_ms);
    return rd_kafka_consumer_poll(c->rk, timeout_ms);
}

/* Returns 0 to go on, 1 to stop with an error. */
static int consumer_error(struct consumer *c, const rd_kafka_message_t *m)
{
    rd_kafka_resp_err_t e = m->err;
    if (e == RD_KAFKA_RESP_ERR__PARTITION_EOF) return 0;
    char fatal[512];
    if (rd_kafka_fatal_error(c->rk, fatal, sizeof fatal)) {
        fprintf(stderr, "ERROR Fatal consumer error: %s\n", fatal);
        return 1;
    }
    fprintf(stderr, "ERROR Error processing message: %s\n", rd_kafka_message_errstr(m));
    if (e == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION || e == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
        e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
        e == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
        e == RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED)
        return C_HAS("skip-message-on-error") ? 0 : 1;
    return 0;
}

static int consumer_loop(struct consumer *c)
{
    int64_t last_ms = time_mono_ms();
    int wait_ms = 0, rc = 0;
    while (!cli_stop && (c->max_messages < 0 || c->count < c->max_messages)) {
        rd_kafka_message_t *m = consumer_poll(c, wait_ms);
        if (!m) {
            fflush(stdout);
            wait_ms = CONSUMER_POLL_MS;
            if (c->timeout_ms >= 0 && time_mono_ms() - last_ms >= c->timeout_ms) break;
            continue;
        }
        wait_ms = 0; /* drain what is ready, flush when idle */
        if (m->err) {
            rc = consumer_error(c, m);
        } else {
            format_record(stdout, &c->fmt, m);
            c->count++;
            last_ms = time_mono_ms();
        }
        rd_kafka_message_destroy(m);
        if (rc) break;
    }
    fflush(stdout);
    return rc;
}

/* ========================================================================================== */
/* Queue consumer (no group)                                                                  */

/* Waits for the topic's partition count (the topic may not exist yet, as Kafka's console
 * consumer waits for it), bounded by --timeout-ms and signals. */
static int queue_partitions(struct consumer *c)
{
    int64_t start_ms = time_mono_ms();
    bool warned = false;
    while (!cli_stop) {
        const struct rd_kafka_metadata *md;
        rd_kafka_resp_err_t e =
            rd_kafka_metadata(c->rk, 0, c->rkt, &md, CONSUMER_METADATA_TIMEOUT_MS);
        if (!e && md->topic_cnt == 1 && !md->topics[0].err && md->topics[0].partition_cnt > 0) {
            c->parts_n = md->topics[0].partition_cnt;
            c->parts = calloc((size_t)c->parts_n, sizeof *c->parts);
            for (int i = 0; c->parts && i < c->parts_n; i++)
                c->parts[i] = md->topics[0].partitions[i].id;
            rd_kafka_metadata_destroy(md);
            return c->parts ? 0 : 1;
        }
        if (!e) {
            e = md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
            rd_kafka_metadata_destroy(md);
        }
        if (!warned)
            fprintf(stderr, "WARN Waiting for topic %s: %s\n", c->topic, rd_kafka_err2str(e));
        warned = true;
        if (c->timeout_ms >= 0 && time_mono_ms() - start_ms >= c->timeout_ms) return -1;
        for (int i = 0; i < 5 && !cli_stop; i++)
            rd_kafka_poll(c->rk, 100);
    }
    return -1;
}

static int queue_start(struct consumer *c)
{
    c->rkt = rd_kafka_topic_new(c->rk, c->topic, NULL);
    if (!c->rkt) {
        fprintf(stderr, "ERROR Invalid topic %s: %s\n", c->topic,
                rd_kafka_err2str(rd_kafka_last_error()));
        return 1;
    }
    int rc = queue_partitions(c);
    if (rc) return rc;
    if (c->partition >= 0) {
        bool found = false;
        for (int i = 0; i < c->parts_n; i++)
            found = found || c->parts[i] == c->partition;
        if (!found) {
            fprintf(stderr, "ERROR Partition %d of topic %s does not exist (it has %d)\n",
                    c->partition, c->topic, c->parts_n);
            c->parts_n = 0;
            return 1;
        }
        c->parts[0] = c->partition;
        c->parts_n = 1;
    }
    c->q = rd_kafka_queue_new(c->rk);
    for (int i = 0; i < c->parts_n; i++) {
        if (rd_kafka_consume_start_queue(c->rkt, c->parts[i], c->start_offset, c->q) == -1) {
            fprintf(stderr, "ERROR Cannot consume partition %d of %s: %s\n", c->parts[i], c->topic,
                    rd_kafka_err2str(rd_kafka_last_error()));
            c->parts_n = i;
            return 1;
        }
    }
    return 0;
}

static void queue_stop(struct consumer *c)
{
    for (int i = 0; c->rkt && i < c->parts_n; i++)
        rd_kafka_consume_stop(c->rkt, c->parts[i]);
    if (c->q) rd_kafka_queue_destroy(c->q);
    if (c->rkt) rd_kafka_topic_destroy(c->rkt);
    free(c->parts);
}

/* ========================================================================================== */
/* Group consumer                                                                             */

static int group_start(struct consumer *c)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_resp_err_t e;
    rd_kafka_poll_set_consumer(c->rk);
    if (c->partition >= 0) {
        rd_kafka_topic_partition_list_add(l, c->topic, c->partition)->offset = c->start_offset;
        e = rd_kafka_assign(c->rk, l);
    } else {
        rd_kafka_topic_partition_list_add(l, c->topic, RD_KAFKA_PARTITION_UA);
        e = rd_kafka_subscribe(c->rk, l);
    }
    rd_kafka_topic_partition_list_destroy(l);
    if (e) fprintf(stderr, "ERROR Cannot consume from %s: %s\n", c->topic, rd_kafka_err2str(e));
    return e ? 1 : 0;
}

/* ========================================================================================== */
/* Options and entry point                                                                    */

/* Validates the option combinations as Kafka's ConsoleConsumer does; fills c. */
static int consumer_options(struct consumer *c)
{
    const char *off = C_VAL("offset"), *p = C_VAL("partition");
    int64_t v;
    c->topic = C_VAL("topic");
    c->partition = -1;
    c->max_messages = c->timeout_ms = -1;
    if (cli_require(consumer_opts, CONSUMER_OPTS_N, "bootstrap-server", consumer_summary)) return 1;
    if (!c->topic)
        return cli_usage_error("Exactly one of include/topic is required.", consumer_summary,
                               consumer_opts, CONSUMER_OPTS_N);
    if (p && cli_parse_int(p, 0, INT32_MAX, &v))
        return cli_usage_error("The partition must be a non-negative integer.", consumer_summary,
                               consumer_opts, CONSUMER_OPTS_N);
    if (p) c->partition = (int32_t)v;
    if (off && !p)
        return cli_usage_error("The partition is required when offset is specified.",
                               consumer_summary, consumer_opts, CONSUMER_OPTS_N);
    if (off && C_HAS("from-beginning"))
        return cli_usage_error("Options from-beginning and offset cannot be specified "
                               "together.",
                               consumer_summary, consumer_opts, CONSUMER_OPTS_N);
    c->start_offset = C_HAS("from-beginning") ? RD_KAFKA_OFFSET_BEGINNING : RD_KAFKA_OFFSET_END;
    if (off && !strcasecmp(off, "earliest"))
        c->start_offset = RD_KAFKA_OFFSET_BEGINNING;
    else if (off && !strcasecmp(off, "latest"))
        c->start_offset = RD_KAFKA_OFFSET_END;
    else if (off && cli_parse_int(off, 0, INT64_MAX, &c->start_offset))
        return cli_usage_error("The provided offset value is incorrect. Valid values are "
                               "'earliest', 'latest', or a non-negative long.",
                               consumer_summary, consumer_opts, CONSUMER_OPTS_N);
    if (C_VAL("max-messages") &&
        cli_parse_int(C_VAL("max-messages"), INT32_MIN, INT32_MAX, &c->max_messages))
        return cli_usage_error("Invalid --max-messages", consumer_summary, consumer_opts,
                               CONSUMER_OPTS_N);
    if (c->max_messages < 0) c->max_messages = -1; /* Kafka: negative means unlimited */
    if (C_VAL("timeout-ms") &&
        cli_parse_int(C_VAL("timeout-ms"), INT32_MIN, INT32_MAX, &c->timeout_ms))
        return cli_usage_error("Invalid --timeout-ms", consumer_summary, consumer_opts,
                               CONSUMER_OPTS_N);
    if (c->timeout_ms < 0) c->timeout_ms = -1;
    return 0;
}

static rd_kafka_t *consumer_new(const struct consumer *c)
{
    bool group = C_HAS("group");
    const char *defaults[] = {
        "client.id=console-consumer",
        "isolation.level=read_uncommitted",
        "enable.partition.eof=false",
        group ? "enable.auto.commit=true" : "enable.auto.commit=false",
        c->start_offset == RD_KAFKA_OFFSET_BEGINNING ? "auto.offset.reset=earliest"
                                                     : "auto.offset.reset=latest",
    };
    char err[512];
    struct cli_opt *cp = cli_opt(consumer_opts, CONSUMER_OPTS_N, "consumer-property");
    const char *file = C_VAL("consumer.config");
    rd_kafka_conf_t *conf =
        cli_conf_new(C_VAL("bootstrap-server"), defaults, GR_ARRAY_LEN(defaults), &file, 1,
                     cp->values, cp->values_n, err, sizeof err);
    if (!conf) goto err;
    if ((C_VAL("isolation-level") &&
         cli_conf_set(conf, "isolation.level", C_VAL("isolation-level"), err, sizeof err)) ||
        (group && cli_conf_set(conf, "group.id", C_VAL("group"), err, sizeof err)) ||
        (C_HAS("from-beginning") &&
         cli_conf_set(conf, "auto.offset.reset", "earliest", err, sizeof err)))
        goto err_conf;
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (rk) return rk;

err_conf:
    rd_kafka_conf_destroy(conf);
err:
    fprintf(stderr, "ERROR %s\n", err);
    return NULL;
}

static int consumer_run(struct consumer *c)
{
    bool group = C_HAS("group");
    c->rk = consumer_new(c);
    if (!c->rk) return 1;
    cli_install_signals();
    int rc = group ? group_start(c) : queue_start(c);
    if (rc < 0)
        rc = 0; /* gave up waiting for the topic: like Kafka's timeout, not an error */
    else if (!rc)
        rc = consumer_loop(c);
    if (group)
        rd_kafka_consumer_close(c->rk);
    else
        queue_stop(c);
    rd_kafka_destroy(c->rk);
    fprintf(stderr, "Processed a total of %lld messages\n", (long long)c->count);
    return rc;
}

int cli_consumer_main(int argc, char **argv)
{
    char err[512];
    struct consumer c = {0};
    if (cli_parse(consumer_opts, CONSUMER_OPTS_N, argc, argv, 1, NULL, 0, NULL, err, sizeof err))
        return cli_usage_error(err, consumer_summary, consumer_opts, CONSUMER_OPTS_N);
    if (C_HAS("help")) {
        cli_usage(stdout, consumer_summary, consumer_opts, CONSUMER_OPTS_N);
        return 0;
    }
    if (consumer_options(&c)) return 1;
    struct cli_opt *prop = cli_opt(consumer_opts, CONSUMER_OPTS_N, "property");
    struct props fp;
    props_init(&fp);
    int rc = cli_props_from_kvs(&fp, prop->values, prop->values_n, err, sizeof err);
    if (rc) {
        fprintf(stderr, "%s\n", err);
    } else {
        format_init(&c.fmt, &fp);
        rc = consumer_run(&c);
    }
    props_close(&fp);
    return rc ? 1 : 0;
}

/* cli_producer.c — `gregor console-producer` (kafka-console-producer.sh): one record per line
 * of standard input, parsed like Kafka 3.x's LineMessageReader:
 *
 *     [headers <headers.delimiter>] [key <key.separator>] value
 *     headers = k1<headers.key.separator>v1<headers.separator>k2...
 *
 * parse.headers and parse.key switch the optional parts on; null.marker turns a key, value or
 * header value that equals it into null.  Keyed records are partitioned with murmur2 as the
 * Java client does (librdkafka's murmur2_random), unless the user sets `partitioner`.
 *
 * Configuration precedence, as Kafka's ConsoleProducer: tool defaults < --producer.config <
 * --producer-property < explicit flags (--request-required-acks, --compression-codec, ...). */
#include "cli/cli_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PRODUCER_HEADERS_MAX 256
#define PRODUCER_ERRORS_PRINTED_MAX 10

static const char producer_summary[] =
    "This tool helps to read data from standard input and publish it to Kafka.";

static struct cli_opt producer_opts[] = {
    CLI_OPT("batch-size", NULL, CLI_OPT_VALUE, "Integer: size",
            "Number of messages to send in a single batch if they are not being sent synchronously "
            "(maps to batch.num.messages)."),
    CLI_OPT("bootstrap-server", "--broker-list", CLI_OPT_VALUE, "String: server to connect to",
            "REQUIRED: The server(s) to connect to. The broker list string in the form HOST1:PORT1,"
            "HOST2:PORT2."),
    CLI_OPT("compression-codec", NULL, CLI_OPT_VALUE, "String: compression-codec",
            "The compression codec: either 'none', 'gzip', 'snappy', 'lz4', or 'zstd'."),
    CLI_OPT("help", NULL, CLI_OPT_FLAG, NULL, "Print usage information."),
    CLI_OPT("message-send-max-retries", NULL, CLI_OPT_VALUE, "Integer",
            "The number of retries before the producer gives up and drops this message."),
    CLI_OPT("producer-property", NULL, CLI_OPT_MULTI, "String: producer_prop",
            "A mechanism to pass user-defined properties in the form key=value to the producer "
            "(librdkafka property names)."),
    CLI_OPT("producer.config", NULL, CLI_OPT_VALUE, "String: config file",
            "Producer config properties file. Note that [producer-property] takes precedence over "
            "this config."),
    CLI_OPT(
        "property", NULL, CLI_OPT_MULTI, "String: prop",
        "A mechanism to pass user-defined properties in the form key=value to the message "
        "reader: parse.key, key.separator, parse.headers, headers.delimiter, headers.separator, "
        "headers.key.separator, ignore.error, null.marker."),
    CLI_OPT("request-required-acks", NULL, CLI_OPT_VALUE, "String: request required acks",
            "The required acks of the producer requests (default: -1)"),
    CLI_OPT("request-timeout-ms", NULL, CLI_OPT_VALUE, "Integer: request timeout ms",
            "The ack timeout of the producer requests."),
    CLI_OPT("retry-backoff-ms", NULL, CLI_OPT_VALUE, "Long",
            "Before each retry, the producer refreshes the metadata of relevant topics. Since "
            "leader election takes a bit of time, this property specifies the amount of time that "
            "the producer waits before refreshing the metadata."),
    CLI_OPT("sync", NULL, CLI_OPT_FLAG, NULL,
            "If set message send requests to the brokers are synchronously, one at a time as they "
            "arrive."),
    CLI_OPT(
        "timeout", NULL, CLI_OPT_VALUE, "Long: timeout_ms",
        "If set and the producer is running in asynchronous mode, this gives the maximum amount "
        "of time a message will queue awaiting sufficient batch size (linger.ms, default 1000)."),
    CLI_OPT("topic", NULL, CLI_OPT_VALUE, "String: topic",
            "REQUIRED: The topic id to produce messages to."),
};
#define PRODUCER_OPTS_N GR_ARRAY_LEN(producer_opts)
#define P_HAS(name) cli_has(producer_opts, PRODUCER_OPTS_N, name)
#define P_VAL(name) cli_val(producer_opts, PRODUCER_OPTS_N, name)

/* The reader's settings (--property), borrowed from the props set that holds them. */
struct line_reader {
    bool parse_key, parse_headers, ignore_error;
    const char *key_sep, *headers_delim, *headers_sep, *headers_key_sep;
    const char *null_marker; /* NULL when not set */
    int64_t line_no;
};

/* Delivery outcome, updated from the delivery report callback (on the polling thread). */
struct producer_state {
    const char *topic;
    int64_t failed;
};

/* ========================================================================================== */
/* Line parsing                                                                               */

static int reader_init(struct line_reader *r, const struct props *p)
{
    struct {
        const char *name;
        bool *out;
    } bools[] = {{"parse.key", &r->parse_key},
                 {"parse.headers", &r->parse_headers},
                 {"ignore.error", &r->ignore_error}};
    for (size_t i = 0; i < GR_ARRAY_LEN(bools); i++) {
        const char *v = props_get(p, bools[i].name);
        *bools[i].out = false;
        if (v && parse_bool(v, bools[i].out)) {
            fprintf(stderr, "Invalid value '%s' for property %s (expected true or false)\n", v,
                    bools[i].name);
            return 1;
        }
    }
    r->key_sep = props_get(p, "key.separator") ? props_get(p, "key.separator") : "\t";
    r->headers_delim = props_get(p, "headers.delimiter") ? props_get(p, "headers.delimiter") : "\t";
    r->headers_sep = props_get(p, "headers.separator") ? props_get(p, "headers.separator") : ",";
    r->headers_key_sep =
        props_get(p, "headers.key.separator") ? props_get(p, "headers.key.separator") : ":";
    r->null_marker = props_get(p, "null.marker");
    if (!*r->key_sep || !*r->headers_delim || !*r->headers_sep || !*r->headers_key_sep) {
        fprintf(stderr, "Separators and delimiters must not be empty\n");
        return 1;
    }
    r->line_no = 0;
    return 0;
}

static bool reader_is_null(const struct line_reader *r, const char *s, size_t n)
{
    return r->null_marker && strlen(r->null_marker) == n && !memcmp(s, r->null_marker, n);
}

/* Cuts [start, first demarcation) out of line.  Returns 0 with *part (NULL if not enabled or
 * not found with ignore.error) and *next the index after the demarcation; 1 on error. */
static int reader_cut(const struct line_reader *r, bool enabled, const char *line, size_t start,
                      const char *dem, const char *dem_name, const char **part, size_t *part_len,
                      size_t *next)
{
    *part = NULL;
    *part_len = 0;
    *next = start;
    if (!enabled) return 0;
    const char *hit = strstr(line + start, dem);
    if (!hit) {
        if (r->ignore_error) return 0;
        fprintf(stderr, "No %s found on line number %lld: '%s'\n", dem_name, (long long)r->line_no,
                line);
        return 1;
    }
    *part = line + start;
    *part_len = (size_t)(hit - (line + start));
    *next = (size_t)(hit - line) + strlen(dem);
    return 0;
}

/* Adds the headers of "k1:v1,k2:v2" (hdrs, len n) to h.  Returns 0 or 1 on error. */
static int reader_headers(const struct line_reader *r, const char *hdrs, size_t n,
                          rd_kafka_headers_t *h)
{
    size_t sep_len = strlen(r->headers_sep), ksep_len = strlen(r->headers_key_sep);
    const char *end = hdrs + n;
    for (const char *p = hdrs; p < end || (n == 0 && p == hdrs);) {
        const char *pe = memmem(p, (size_t)(end - p), r->headers_sep, sep_len);
        if (!pe) pe = end;
        const char *ks = memmem(p, (size_t)(pe - p), r->headers_key_sep, ksep_len);
        if (!ks && !r->ignore_error) {
            fprintf(stderr, "No header key separator found in pair '%.*s' on line number %lld\n",
                    (int)(pe - p), p, (long long)r->line_no);
            return 1;
        }
        const char *v = ks ? ks + ksep_len : NULL;
        size_t klen = (size_t)((ks ? ks : pe) - p), vlen = v ? (size_t)(pe - v) : 0;
        if (reader_is_null(r, p, klen)) {
            fprintf(stderr,
                    "Header keys should not be equal to the null marker '%s' as they "
                    "can't be null\n",
                    r->null_marker);
            return 1;
        }
        if (v && reader_is_null(r, v, vlen)) v = NULL;
        rd_kafka_header_add(h, p, (ssize_t)klen, v, v ? (ssize_t)vlen : 0);
        p = pe + sep_len;
    }
    return 0;
}

/* ========================================================================================== */
/* Producing                                                                                  */

static void producer_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct producer_state *st = opaque;
    if (!m->err) return;
    if (st->failed++ < PRODUCER_ERRORS_PRINTED_MAX) {
        char key[32];
        if (m->key)
            strfmt(key, sizeof key, "%zu bytes", m->key_len);
        else
            strfmt(key, sizeof key, "null");
        fprintf(stderr,
                "ERROR Error when sending message to topic %s with key: %s, value: %zu "
                "bytes with error: %s\n",
                st->topic, key, m->len, rd_kafka_err2str(m->err));
    }
}

/* Hands one record to librdkafka, waiting while the local queue is full. */
static int producer_send(rd_kafka_t *rk, const char *topic, const char *key, size_t key_len,
                         const char *val, size_t val_len, rd_kafka_headers_t *h)
{
    for (;;) {
        rd_kafka_resp_err_t e =
            rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                              RD_KAFKA_V_KEY(key, key ? key_len : 0),
                              RD_KAFKA_V_VALUE((void *)val, val ? val_len : 0),
                              RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
        if (!e) return 0;
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL || cli_stop) {
            fprintf(stderr, "ERROR Failed to produce to topic %s: %s\n", topic,
                    rd_kafka_err2str(e));
            return 1;
        }
        rd_kafka_poll(rk, 100);
    }
}

/* Parses one line (NUL-terminated, newline stripped) and produces it. */
static int producer_line(rd_kafka_t *rk, const char *topic, struct line_reader *r, const char *line,
                         size_t len)
{
    const char *hdrs, *key;
    size_t hdrs_len, key_len, off;
    r->line_no++;
    if (reader_cut(r, r->parse_headers, line, 0, r->headers_delim, "headers delimiter", &hdrs,
                   &hdrs_len, &off) ||
        reader_cut(r, r->parse_key, line, off, r->key_sep, "key separator", &key, &key_len, &off))
        return 1;
    const char *val = line + off;
    size_t val_len = len - off;
    if (key && reader_is_null(r, key, key_len)) key = NULL;
    if (reader_is_null(r, val, val_len)) val = NULL;
    rd_kafka_headers_t *h = NULL;
    if (hdrs && !reader_is_null(r, hdrs, hdrs_len)) {
        h = rd_kafka_headers_new(8);
        if (reader_headers(r, hdrs, hdrs_len, h)) {
            rd_kafka_headers_destroy(h);
            return 1;
        }
    }
    int rc = producer_send(rk, topic, key, key_len, val, val_len, h);
    if (rc && h) rd_kafka_headers_destroy(h); /* ownership passes only on success */
    return rc;
}

/* Flushes everything produced so far; 1 if any record failed or the flush timed out. */
static int producer_flush(rd_kafka_t *rk, struct producer_state *st)
{
    while (rd_kafka_flush(rk, 1000) == RD_KAFKA_RESP_ERR__TIMED_OUT) {
        if (cli_stop > 1) {
            fprintf(stderr, "ERROR %d records were not delivered before shutdown\n",
                    rd_kafka_outq_len(rk));
            return 1;
        }
    }
    return st->failed ? 1 : 0;
}

static int producer_loop(rd_kafka_t *rk, struct producer_state *st, struct line_reader *r)
{
    bool prompt = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO), sync = P_HAS("sync");
    char *line = NULL;
    size_t cap = 0;
    int rc = 0;
    while (!cli_stop && !rc) {
        if (prompt) {
            fputc('>', stdout);
            fflush(stdout);
        }
        ssize_t n = getline(&line, &cap, stdin);
        if (n < 0) break;
        if (n && line[n - 1] == '\n') line[--n] = 0;
        if (n && line[n - 1] == '\r') line[--n] = 0;
        rc = producer_line(rk, st->topic, r, line, (size_t)n);
        if (!rc && sync) rc = producer_flush(rk, st);
        rd_kafka_poll(rk, 0);
    }
    if (ferror(stdin) && errno != EINTR) {
        fprintf(stderr, "ERROR reading standard input: %s\n", strerror(errno));
        rc = 1;
    }
    free(line);
    int frc = producer_flush(rk, st);
    return rc ? rc : frc;
}

/* ========================================================================================== */
/* Configuration and entry point                                                              */

/* Explicit flags, applied last so they override --producer-property and the config file. */
static int producer_conf_flags(rd_kafka_conf_t *conf, char *err, size_t err_len)
{
    static const struct {
        const char *opt, *key;
    } map[] = {
        {"request-required-acks", "acks"},
        {"compression-codec", "compression.codec"},
        {"timeout", "linger.ms"},
        {"batch-size", "batch.num.messages"},
        {"message-send-max-retries", "retries"},
        {"retry-backoff-ms", "retry.backoff.ms"},
        {"request-timeout-ms", "request.timeout.ms"},
    };
    for (size_t i = 0; i < GR_ARRAY_LEN(map); i++) {
        const char *v = P_VAL(map[i].opt);
        if (v && cli_conf_set(conf, map[i].key, v, err, err_len)) return GR_EINVAL;
    }
    return 0;
}

static rd_kafka_t *producer_new(struct producer_state *st)
{
    static const char *const defaults[] = {
        "acks=-1", "linger.ms=1000", "client.id=console-producer", "partitioner=murmur2_random"};
    char err[512];
    struct cli_opt *pp = cli_opt(producer_opts, PRODUCER_OPTS_N, "producer-property");
    const char *file = P_VAL("producer.config");
    rd_kafka_conf_t *conf =
        cli_conf_new(P_VAL("bootstrap-server"), defaults, GR_ARRAY_LEN(defaults), &file, 1,
                     pp->values, pp->values_n, err, sizeof err);
    if (!conf || producer_conf_flags(conf, err, sizeof err)) goto err_conf;
    rd_kafka_conf_set_dr_msg_cb(conf, producer_dr_cb);
    rd_kafka_conf_set_opaque(conf, st);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (rk) return rk;

err_conf:
    if (conf) rd_kafka_conf_destroy(conf);
    fprintf(stderr, "ERROR %s\n", err);
    return NULL;
}

int cli_producer_main(int argc, char **argv)
{
    char err[512];
    if (cli_parse(producer_opts, PRODUCER_OPTS_N, argc, argv, 1, NULL, 0, NULL, err, sizeof err))
        return cli_usage_error(err, producer_summary, producer_opts, PRODUCER_OPTS_N);
    if (P_HAS("help")) {
        cli_usage(stdout, producer_summary, producer_opts, PRODUCER_OPTS_N);
        return 0;
    }
    if (cli_require(producer_opts, PRODUCER_OPTS_N, "bootstrap-server", producer_summary) ||
        cli_require(producer_opts, PRODUCER_OPTS_N, "topic", producer_summary))
        return 1;
    struct cli_opt *prop = cli_opt(producer_opts, PRODUCER_OPTS_N, "property");
    struct props rp;
    struct line_reader r;
    props_init(&rp);
    int rc = cli_props_from_kvs(&rp, prop->values, prop->values_n, err, sizeof err);
    if (rc) fprintf(stderr, "%s\n", err);
    if (!rc) rc = reader_init(&r, &rp);
    struct producer_state st = {.topic = P_VAL("topic"), .failed = 0};
    rd_kafka_t *rk = rc ? NULL : producer_new(&st);
    if (rk) {
        cli_install_signals();
        rc = producer_loop(rk, &st, &r);
        rd_kafka_destroy(rk);
    } else {
        rc = 1;
    }
    props_close(&rp);
    return rc ? 1 : 0;
}

/* cli_leader_election.c — `gregor leader-election` (kafka-leader-election.sh): one ElectLeaders
 * request (api 43, at v2 when the broker advertises it, else the highest of v0-v1) for one
 * partition (--topic and --partition), the partitions of a JSON file (--path-to-json-file), or
 * every partition (--all-topic-partitions, sent as null topic_partitions), sent with our own
 * client (cli_kafka_client.c) since librdkafka 2.0.2 has no ElectLeaders.
 *
 * The output follows Kafka 3.x's LeaderElectionCommand, partitions printed as topic-partition,
 * sorted (Kafka prints them in hash-set order):
 *
 *   Successfully completed leader election (PREFERRED) for partitions t-0, t-1
 *   Valid replica already elected for partitions t-2
 *   Error completing leader election (PREFERRED) for partition: t-3: <Java exception>: <message>
 *
 * with the failures' count on stderr and exit status 1 when any partition failed.  Like a KRaft
 * controller, Gregor leaves partitions that need no election out of an --all-topic-partitions
 * answer, so a second run over a balanced cluster prints nothing.  The JSON file is Kafka's:
 *
 *   {"partitions": [{"topic": "foo", "partition": 1}, {"topic": "foobar", "partition": 2}]}
 */
#include "cli/cli_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "proto/proto.h"

#define ELECT_CLIENT_ID "gregor-leader-election"
#define ELECT_TIMEOUT_MS_DEFAULT 30000 /* Kafka's tool waits 30 s for the answer */
#define ELECT_VERSION_MAX 2
#define ELECT_JSON_BYTES_MAX (16u << 20)
#define ELECT_JSON_DEPTH_MAX 64
#define ELECT_PARTITIONS_MAX 1000000
#define ELECT_RETRY_BACKOFF_MS 200
#define ELECT_ERR_BYTES 512

static const char elect_summary[] =
    "usage: gregor leader-election --bootstrap-server HOST:PORT --election-type preferred|unclean\n"
    "                              (--topic T --partition N | --all-topic-partitions |\n"
    "                               --path-to-json-file FILE) [--command-config FILE]\n\n"
    "Elects new leaders for a set of partitions: preferred replicas or unclean replicas\n"
    "(kafka-leader-election.sh).\n";

static struct cli_opt elect_opts[] = {
    CLI_OPT("admin.config", NULL, CLI_OPT_VALUE, "config file",
            "(DEPRECATED) The admin client's properties file; use --command-config."),
    CLI_OPT("all-topic-partitions", NULL, CLI_OPT_FLAG, NULL,
            "Elect leaders for every partition that needs it for the --election-type. Not "
            "allowed with --topic or --path-to-json-file."),
    CLI_OPT("bootstrap-server", NULL, CLI_OPT_VALUE, "host:port",
            "REQUIRED: the broker(s) to connect to, as host:port[,host:port...]."),
    CLI_OPT("command-config", NULL, CLI_OPT_VALUE, "Config file",
            "The admin client's properties file (default.api.timeout.ms; security.protocol "
            "must be PLAINTEXT)."),
    CLI_OPT("election-type", NULL, CLI_OPT_VALUE, "election type",
            "REQUIRED: preferred (make each partition's preferred replica, the first of its "
            "replicas, the leader, if it is not already and it is in sync) or unclean (give a "
            "partition without a leader the first live replica, in sync or not)."),
    CLI_OPT("help", "-h", CLI_OPT_FLAG, NULL, "Print usage information."),
    CLI_OPT("partition", NULL, CLI_OPT_VALUE, "partition id",
            "The partition of --topic to elect a leader for. REQUIRED with --topic."),
    CLI_OPT("path-to-json-file", NULL, CLI_OPT_VALUE, "Path to JSON file",
            "A JSON file naming the partitions to elect leaders for:\n{\"partitions\":\n\t"
            "[{\"topic\": \"foo\", \"partition\": 1},\n\t {\"topic\": \"foobar\", "
            "\"partition\": 2}]\n}\nNot allowed with --all-topic-partitions or --topic."),
    CLI_OPT("topic", NULL, CLI_OPT_VALUE, "topic name",
            "The topic of the partition to elect a leader for. Not allowed with "
            "--path-to-json-file or --all-topic-partitions."),
};
#define ELECT_OPTS_N GR_ARRAY_LEN(elect_opts)
#define E_HAS(name) cli_has(elect_opts, ELECT_OPTS_N, name)
#define E_VAL(name) cli_val(elect_opts, ELECT_OPTS_N, name)

/* One partition to elect (or one result): the topic is owned by the list that holds it. */
struct elect_tp {
    char *topic;
    int32_t partition;
    int16_t error_code;
    char *message; /* owned; NULL when there is none */
};

/* A growable list of partitions.  Embed it: _init, then _close. */
struct elect_list {
    struct elect_tp *v;
    size_t n, cap;
};

static void elect_list_init(struct elect_list *l)
{
    memset(l, 0, sizeof(*l));
}

static void elect_list_close(struct elect_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].topic);
        free(l->v[i].message);
    }
    free(l->v);
    elect_list_init(l);
}

/* Appends a copy of topic (len bytes) and of message (NULL, or msg_len bytes).  0 or
 * GR_ENOMEM / GR_ERANGE (more than ELECT_PARTITIONS_MAX). */
static int elect_list_add(struct elect_list *l, const char *topic, size_t len, int32_t partition,
                          int16_t error_code, const char *msg, size_t msg_len)
{
    if (l->n == ELECT_PARTITIONS_MAX) return GR_ERANGE;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        struct elect_tp *v = realloc(l->v, cap * sizeof(*v));
        if (!v) return GR_ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    struct elect_tp *e = &l->v[l->n];
    e->topic = strndup(topic, len);
    e->message = msg ? strndup(msg, msg_len) : NULL;
    if (!e->topic || (msg && !e->message)) {
        free(e->topic);
        free(e->message);
        return GR_ENOMEM;
    }
    e->partition = partition;
    e->error_code = error_code;
    l->n++;
    return 0;
}

static int elect_tp_cmp(const void *a, const void *b)
{
    const struct elect_tp *x = a, *y = b;
    int c = strcmp(x->topic, y->topic);
    return c ? c : (x->partition > y->partition) - (x->partition < y->partition);
}

static int elect_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int elect_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

/* ========================================================================================== */
/* The JSON file: a small bounded parser for {"partitions": [{"topic": T, "partition": N}]}    */

struct json_in {
    const char *p, *end;
    int depth;
    char err[ELECT_ERR_BYTES];
};

static int json_bad(struct json_in *j, const char *what)
{
    if (!j->err[0]) strfmt(j->err, sizeof j->err, "%s", what);
    return GR_EINVAL;
}

static void json_ws(struct json_in *j)
{
    while (j->p < j->end && strchr(" \t\r\n", *j->p))
        j->p++;
}

static bool json_peek(struct json_in *j, char c)
{
    json_ws(j);
    return j->p < j->end && *j->p == c;
}

static int json_hex4(struct json_in *j, uint32_t *out)
{
    if (j->end - j->p < 4) return json_bad(j, "a truncated \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char c = *j->p++;
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0) return json_bad(j, "an invalid \\u escape");
        v = v * 16 + (uint32_t)d;
    }
    *out = v;
    return 0;
}

static void json_utf8(struct gbuf *out, uint32_t cp)
{
    uint8_t b[4];
    size_t n;
    if (cp < 0x80) {
        b[0] = (uint8_t)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (uint8_t)(0xc0 | cp >> 6);
        b[1] = (uint8_t)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (uint8_t)(0xe0 | cp >> 12);
        b[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
        b[2] = (uint8_t)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        b[0] = (uint8_t)(0xf0 | cp >> 18);
        b[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3f));
        b[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
        b[3] = (uint8_t)(0x80 | (cp & 0x3f));
        n = 4;
    }
    gbuf_append(out, b, n);
}

/* A string, unescaped into out (appended; out may be NULL to skip it). */
static int json_string(struct json_in *j, struct gbuf *out)
{
    if (!json_peek(j, '"')) return json_bad(j, "a string was expected");
    j->p++;
    while (j->p < j->end && *j->p != '"') {
        char c = *j->p++;
        if ((unsigned char)c < 0x20) return json_bad(j, "a control character in a string");
        if (c != '\\') {
            if (out) gbuf_append(out, &c, 1);
            continue;
        }
        if (j->p == j->end) break;
        char e = *j->p++;
        const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
        const char *k = strchr(from, e);
        if (e && k) {
            if (out) gbuf_append(out, &to[k - from], 1);
            continue;
        }
        if (e != 'u') return json_bad(j, "an invalid escape in a string");
        uint32_t cp, lo;
        if (json_hex4(j, &cp)) return GR_EINVAL;
        if (cp >= 0xd800 && cp < 0xdc00 && j->end - j->p >= 6 && j->p[0] == '\\' &&
            j->p[1] == 'u') {
            j->p += 2;
            if (json_hex4(j, &lo)) return GR_EINVAL;
            if (lo < 0xdc00 || lo > 0xdfff) return json_bad(j, "an invalid surrogate pair");
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        }
        if (out) json_utf8(out, cp);
    }
    if (j->p == j->end) return json_bad(j, "an unterminated string");
    j->p++;
    return 0;
}

/* A number; *is_int says whether it is a whole number that fits *out. */
static int json_number(struct json_in *j, int64_t *out, bool *is_int)
{
    json_ws(j);
    const char *s = j->p;
    if (j->p < j->end && *j->p == '-') j->p++;
    size_t digits = 0;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
        j->p++;
        digits++;
    }
    if (!digits) return json_bad(j, "a value was expected");
    bool frac = false;
    if (j->p < j->end && *j->p == '.') {
        frac = true;
        j->p++;
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
            j->p++;
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        frac = true;
        j->p++;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-')) j->p++;
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
            j->p++;
    }
    char buf[32];
    size_t n = (size_t)(j->p - s);
    *is_int = !frac && n < sizeof buf;
    if (*is_int) {
        memcpy(buf, s, n);
        buf[n] = 0;
        *is_int = !parse_i64(buf, out);
    }
    return 0;
}

static int json_skip_value(struct json_in *j);

/* An object: calls member(arg, j, key) for each key, positioned at its value, which member
 * must consume. */
static int json_object(struct json_in *j,
                       int (*member)(void *arg, struct json_in *j, const char *key), void *arg)
{
    if (!json_peek(j, '{')) return json_bad(j, "an object was expected");
    if (++j->depth > ELECT_JSON_DEPTH_MAX) return json_bad(j, "nesting too deep");
    j->p++;
    bool first = true;
    while (!json_peek(j, '}')) {
        if (!first) {
            if (!json_peek(j, ',')) return json_bad(j, "',' or '}' was expected");
            j->p++;
        }
        first = false;
        struct gbuf key;
        gbuf_init(&key);
        int rc = json_string(j, &key);
        if (!rc && !json_peek(j, ':')) rc = json_bad(j, "':' was expected");
        if (!rc) {
            j->p++;
            gbuf_append(&key, "", 1);
            rc = member(arg, j, (const char *)key.data);
        }
        gbuf_close(&key);
        if (rc) return rc;
    }
    j->p++;
    j->depth--;
    return 0;
}

/* An array: calls element(arg, j) for each element, which element must consume. */
static int json_array(struct json_in *j, int (*element)(void *arg, struct json_in *j), void *arg)
{
    if (!json_peek(j, '[')) return json_bad(j, "an array was expected");
    if (++j->depth > ELECT_JSON_DEPTH_MAX) return json_bad(j, "nesting too deep");
    j->p++;
    bool first = true;
    while (!json_peek(j, ']')) {
        if (!first) {
            if (!json_peek(j, ',')) return json_bad(j, "',' or ']' was expected");
            j->p++;
        }
        first = false;
        int rc = element(arg, j);
        if (rc) return rc;
    }
    j->p++;
    j->depth--;
    return 0;
}

static int json_skip_member(void *arg, struct json_in *j, const char *key)
{
    return json_skip_value(j);
}

static int json_skip_element(void *arg, struct json_in *j)
{
    return json_skip_value(j);
}

static int json_skip_value(struct json_in *j)
{
    json_ws(j);
    if (j->p == j->end) return json_bad(j, "a value was expected");
    switch (*j->p) {
    case '{':
        return json_object(j, json_skip_member, NULL);
    case '[':
        return json_array(j, json_skip_element, NULL);
    case '"':
        return json_string(j, NULL);
    default:
        break;
    }
    static const char *const words[] = {"true", "false", "null"};
    for (size_t i = 0; i < GR_ARRAY_LEN(words); i++) {
        size_t n = strlen(words[i]);
        if ((size_t)(j->end - j->p) >= n && !memcmp(j->p, words[i], n)) {
            j->p += n;
            return 0;
        }
    }
    int64_t v;
    bool is_int;
    return json_number(j, &v, &is_int);
}

/* One {"topic": T, "partition": N} of the partitions array. */
struct json_entry {
    struct gbuf topic;
    bool has_topic, has_partition;
    int64_t partition;
};

static int json_entry_member(void *arg, struct json_in *j, const char *key)
{
    struct json_entry *e = arg;
    if (!strcmp(key, "topic")) {
        gbuf_reset(&e->topic);
        e->has_topic = true;
        if (json_peek(j, '"')) return json_string(j, &e->topic);
        return json_bad(j, "Expected `topic` to be a string");
    }
    if (!strcmp(key, "partition")) {
        bool is_int = false;
        e->has_partition = true;
        if (json_peek(j, '"') || json_peek(j, '{') || json_peek(j, '[') ||
            json_number(j, &e->partition, &is_int) || !is_int || e->partition < INT32_MIN ||
            e->partition > INT32_MAX)
            return json_bad(j, "Expected `partition` to be an int");
        return 0;
    }
    return json_skip_value(j);
}

static int json_partition_element(void *arg, struct json_in *j)
{
    struct elect_list *l = arg;
    struct json_entry e = {.has_topic = false};
    gbuf_init(&e.topic);
    int rc = json_object(j, json_entry_member, &e);
    if (!rc && !e.has_topic) rc = json_bad(j, "No such field exists: `topic`");
    if (!rc && !e.has_partition) rc = json_bad(j, "No such field exists: `partition`");
    if (!rc) {
        rc = elect_list_add(l, e.topic.data ? (const char *)e.topic.data : "", e.topic.len,
                            (int32_t)e.partition, 0, NULL, 0);
        if (rc) json_bad(j, rc == GR_ERANGE ? "too many partitions" : "out of memory");
    }
    gbuf_close(&e.topic);
    return rc;
}

struct json_top {
    struct elect_list *l;
    bool has_partitions;
};

static int json_top_member(void *arg, struct json_in *j, const char *key)
{
    struct json_top *t = arg;
    if (strcmp(key, "partitions")) return json_skip_value(j);
    elect_list_close(t->l); /* a repeated key: the last one wins */
    t->has_partitions = true;
    return json_array(j, json_partition_element, t->l);
}

/* Reads the partitions of --path-to-json-file into l (sorted).  0, or 1 after printing the
 * problem in Kafka's words where Kafka has them. */
static int elect_read_json(const char *path, struct elect_list *l)
{
    FILE *f = fopen(path, "rb");
    if (!f) return elect_fail("%s (%s)", path, strerror(errno));
    struct gbuf text;
    gbuf_init(&text);
    char chunk[65536];
    size_t n;
    int rc = 0;
    while (!rc && (n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (text.len + n > ELECT_JSON_BYTES_MAX)
            rc = elect_fail("%s: the file is larger than %u bytes", path, ELECT_JSON_BYTES_MAX);
        else if (gbuf_append(&text, chunk, n))
            rc = elect_fail("out of memory reading %s", path);
    }
    if (!rc && ferror(f)) rc = elect_fail("%s (%s)", path, strerror(errno));
    fclose(f);
    struct json_in j = {.p = (const char *)text.data, .end = (const char *)text.data + text.len};
    struct json_top top = {l, false};
    if (!rc) {
        json_ws(&j);
        if (j.p == j.end) {
            rc = elect_fail("Replica election data is empty");
        } else if (!json_peek(&j, '{')) {
            json_skip_value(&j);
            rc = elect_fail("Replica election data is not a JSON object");
        } else if (json_object(&j, json_top_member, &top) || (json_ws(&j), j.p != j.end)) {
            rc = elect_fail("Replica election data is not valid JSON: %s (at byte %zu)",
                            j.err[0] ? j.err : "unexpected data after the object",
                            (size_t)(j.p - (const char *)text.data));
        } else if (!top.has_partitions) {
            rc = elect_fail("Replica election data is missing \"partitions\" field");
        }
    }
    gbuf_close(&text);
    if (rc) return rc;
    if (l->n) qsort(l->v, l->n, sizeof(*l->v), elect_tp_cmp);
    bool dup = false;
    for (size_t i = 1; i < l->n; i++)
        if (!elect_tp_cmp(&l->v[i - 1], &l->v[i]) &&
            (i < 2 || elect_tp_cmp(&l->v[i - 2], &l->v[i]))) {
            fprintf(stderr, "%s%s-%d",
                    dup ? ", "
                        : "Replica election data contains duplicate "
                          "partitions: [",
                    l->v[i].topic, l->v[i].partition);
            dup = true;
        }
    if (dup) fprintf(stderr, "]\n");
    return dup ? 1 : 0;
}

/* ========================================================================================== */
/* Asking                                                                                     */

static int elect_encode_request(struct kafka_writer *w, int16_t version, const void *req)
{
    return kafka_elect_leaders_request_encode(w, version, req);
}

static int elect_decode_response(struct kafka_reader *r, int16_t version, void *res)
{
    return kafka_elect_leaders_response_decode(r, version, res);
}

/* Reads what the tool needs from the admin client's property file: default.api.timeout.ms,
 * and that security.protocol leaves the connection plaintext.  0, or 1 after printing why. */
static int elect_read_command_config(const char *path, int *timeout_ms)
{
    struct props p;
    char err[ELECT_ERR_BYTES];
    int64_t v = 0;
    struct stat st;
    if (stat(path, &st) && errno == ENOENT)
        return elect_fail("%s (No such file or directory)", path);
    props_init(&p);
    int rc = props_load(&p, path, err, sizeof err);
    const char *t = rc ? NULL : props_get(&p, "default.api.timeout.ms");
    const char *sp = rc ? NULL : props_get(&p, "security.protocol");
    if (rc) fprintf(stderr, "%s\n", err);
    if (!rc && t && cli_parse_int(t, 1, INT32_MAX, &v))
        rc = elect_fail("Invalid value %s for configuration default.api.timeout.ms", t);
    else if (t)
        *timeout_ms = (int)v;
    if (!rc && sp && strcasecmp(sp, "plaintext"))
        rc = elect_fail("security.protocol=%s is not supported: gregor leader-election speaks "
                        "PLAINTEXT only",
                        sp);
    props_close(&p);
    return rc ? 1 : 0;
}

/* The request's topic_partitions from the sorted list l (one entry per topic), or null for
 * every partition when l is NULL.  Arrays are allocated in a (freed by the caller). */
static int elect_build(struct kafka_elect_leaders_request *req, const struct elect_list *l,
                       struct arena *a)
{
    req->topic_partitions = NULL;
    req->topic_partitions_count = -1;
    if (!l) return 0;
    req->topic_partitions = arena_calloc(a, GR_MAX(l->n, 1), sizeof(*req->topic_partitions));
    int32_t *ids = arena_calloc(a, GR_MAX(l->n, 1), sizeof(int32_t));
    if (!req->topic_partitions || !ids) return GR_ENOMEM;
    int32_t nt = 0;
    struct kafka_elect_leaders_request_topic_partitions *tp = NULL;
    for (size_t i = 0; i < l->n; i++) {
        if (i == 0 || strcmp(l->v[i - 1].topic, l->v[i].topic)) {
            tp = &req->topic_partitions[nt++];
            kafka_elect_leaders_request_topic_partitions_init(tp);
            tp->topic = KSTR(l->v[i].topic);
            tp->partitions = &ids[i];
            tp->partitions_count = 0;
        }
        tp->partitions[tp->partitions_count++] = l->v[i].partition;
    }
    req->topic_partitions_count = nt;
    return 0;
}

/* Kafka's exception class for an error code, as its tools print them. */
static void elect_exception_name(int16_t code, char *buf, size_t len)
{
    static const struct {
        int16_t code;
        const char *name;
    } special[] = {
        {KAFKA_ERR_UNKNOWN_SERVER_ERROR, "UnknownServerException"},
        {KAFKA_ERR_REQUEST_TIMED_OUT, "TimeoutException"},
        {KAFKA_ERR_INVALID_TOPIC_EXCEPTION, "InvalidTopicException"},
        {KAFKA_ERR_CLUSTER_AUTHORIZATION_FAILED, "ClusterAuthorizationException"},
        {KAFKA_ERR_TOPIC_AUTHORIZATION_FAILED, "TopicAuthorizationException"},
    };
    for (size_t i = 0; i < GR_ARRAY_LEN(special); i++)
        if (special[i].code == code) {
            strfmt(buf, len, "org.apache.kafka.common.errors.%s", special[i].name);
            return;
        }
    /* NAME_OF_ERROR -> NameOfErrorException */
    const char *name = kafka_err_name(code);
    strfmt(buf, len, "org.apache.kafka.common.errors.");
    size_t n = strlen(buf);
    bool up = true;
    for (const char *p = name; *p && n + 1 < len; p++) {
        if (*p == '_') {
            up = true;
            continue;
        }
        buf[n++] = up ? *p : (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
        up = false;
    }
    buf[n] = 0;
    strfmt(buf + n, len - n, "Exception");
}

/* Sends the election, retrying while no controller could take it (NOT_CONTROLLER), as Kafka's
 * admin client does, until the deadline.  On success *res is a view valid until the client's
 * next call.  0, or 1 after printing why. */
static int elect_ask(struct cli_kafka_client *c, int8_t type, const struct elect_list *l,
                     int timeout_ms, struct kafka_elect_leaders_response *res)
{
    char err[ELECT_ERR_BYTES];
    int16_t version = cli_kafka_client_version(c, KAFKA_API_ELECT_LEADERS, 0, ELECT_VERSION_MAX);
    if (version < 0 || (version == 0 && type != 0))
        return elect_fail("org.apache.kafka.common.errors.UnsupportedVersionException: the broker "
                          "does not support ElectLeaders (api key %d) %s",
                          KAFKA_API_ELECT_LEADERS,
                          version < 0 ? "at all" : "with an election type (v1+)");
    struct arena a;
    arena_init(&a, 4096);
    struct kafka_elect_leaders_request req;
    kafka_elect_leaders_request_init(&req);
    req.election_type = type;
    req.timeout_ms = timeout_ms;
    if (elect_build(&req, l, &a)) {
        arena_close(&a);
        return elect_fail("out of memory");
    }
    int64_t deadline_ms = time_mono_ms() + timeout_ms;
    int rc = 0;
    for (;;) {
        if (cli_kafka_client_call(c, KAFKA_API_ELECT_LEADERS, version, elect_encode_request, &req,
                                  elect_decode_response, res, err, sizeof err)) {
            rc = elect_fail("Error while making request: %s", err);
            break;
        }
        if (res->error_code == KAFKA_ERR_NOT_CONTROLLER &&
            time_mono_ms() + ELECT_RETRY_BACKOFF_MS < deadline_ms) {
            struct timespec ts = {0, ELECT_RETRY_BACKOFF_MS * 1000000L};
            nanosleep(&ts, NULL);
            continue;
        }
        if (res->error_code == KAFKA_ERR_REQUEST_TIMED_OUT ||
            res->error_code == KAFKA_ERR_NOT_CONTROLLER) {
            printf("Timeout waiting for election results\n");
            rc = 1;
        } else if (res->error_code == KAFKA_ERR_CLUSTER_AUTHORIZATION_FAILED) {
            printf("Not authorized to perform leader election\n");
            rc = 1;
        } else if (res->error_code) {
            char ex[128];
            elect_exception_name(res->error_code, ex, sizeof ex);
            rc = elect_fail("%s: ElectLeaders failed with error %s", ex,
                            kafka_err_name(res->error_code));
        }
        break;
    }
    arena_close(&a);
    return rc;
}

/* Prints "<prefix>t-0, t-1" for the results with (want_error < 0) any error other than
 * ELECTION_NOT_NEEDED, or exactly error want_error. */
static void elect_print_set(const struct elect_list *r, const char *prefix, int want_error)
{
    bool any = false;
    for (size_t i = 0; i < r->n; i++) {
        if (r->v[i].error_code != want_error) continue;
        printf("%s%s-%d", any ? ", " : prefix, r->v[i].topic, r->v[i].partition);
        any = true;
    }
    if (any) printf("\n");
}

/* Prints the results in Kafka's three groups.  Returns the exit status. */
static int elect_report(const struct kafka_elect_leaders_response *res, const char *type_name)
{
    struct elect_list r;
    elect_list_init(&r);
    for (int32_t i = 0; i < res->replica_election_results_count; i++) {
        const struct kafka_elect_leaders_response_replica_election_result *tr =
            &res->replica_election_results[i];
        for (int32_t k = 0; k < tr->partition_result_count; k++) {
            const struct kafka_elect_leaders_response_partition_result *pr =
                &tr->partition_result[k];
            if (elect_list_add(&r, tr->topic.ptr ? tr->topic.ptr : "",
                               (size_t)GR_MAX(tr->topic.len, 0), pr->partition_id, pr->error_code,
                               pr->error_message.ptr, (size_t)GR_MAX(pr->error_message.len, 0))) {
                elect_list_close(&r);
                return elect_fail("out of memory");
            }
        }
    }
    if (r.n) qsort(r.v, r.n, sizeof(*r.v), elect_tp_cmp);
    char prefix[128];
    strfmt(prefix, sizeof prefix, "Successfully completed leader election (%s) for partitions ",
           type_name);
    elect_print_set(&r, prefix, KAFKA_ERR_NONE);
    elect_print_set(&r, "Valid replica already elected for partitions ",
                    KAFKA_ERR_ELECTION_NOT_NEEDED);
    size_t failed = 0;
    for (size_t i = 0; i < r.n; i++) {
        const struct elect_tp *e = &r.v[i];
        if (e->error_code == KAFKA_ERR_NONE || e->error_code == KAFKA_ERR_ELECTION_NOT_NEEDED)
            continue;
        char ex[128];
        elect_exception_name(e->error_code, ex, sizeof ex);
        printf("Error completing leader election (%s) for partition: %s-%d: %s: %s\n", type_name,
               e->topic, e->partition, ex, e->message ? e->message : kafka_err_name(e->error_code));
        failed++;
    }
    if (failed) fprintf(stderr, "%zu replica(s) could not be elected\n", failed);
    elect_list_close(&r);
    return failed ? 1 : 0;
}

/* ========================================================================================== */

/* Kafka's checks of the flags, in its order.  0, or 1 after printing the problem. */
static int elect_check_flags(int8_t *type)
{
    if (!E_HAS("bootstrap-server") || !E_HAS("election-type"))
        return elect_fail("Missing required option(s): %s%s%s",
                          E_HAS("bootstrap-server") ? "" : "bootstrap-server",
                          !E_HAS("bootstrap-server") && !E_HAS("election-type") ? ", " : "",
                          E_HAS("election-type") ? "" : "election-type");
    const char *t = E_VAL("election-type");
    if (!strcasecmp(t, "preferred"))
        *type = 0;
    else if (!strcasecmp(t, "unclean"))
        *type = 1;
    else
        return elect_fail("Cannot parse argument '%s' of option election-type: it must be one "
                          "of preferred, unclean",
                          t);
    if (E_HAS("admin.config") && E_HAS("command-config"))
        return elect_fail("Option \"[admin.config]\" can't be used with option "
                          "\"[command-config]\"");
    int exclusive = E_HAS("topic") + E_HAS("all-topic-partitions") + E_HAS("path-to-json-file");
    if (exclusive != 1)
        return elect_fail("One and only one of the following options is required: topic, "
                          "all-topic-partitions, path-to-json-file");
    if (E_HAS("topic") && !E_HAS("partition"))
        return elect_fail("Missing required option(s): partition");
    if (!E_HAS("topic") && E_HAS("partition"))
        return elect_fail("Option partition is only allowed if topic is used");
    return 0;
}

int cli_leader_election_main(int argc, char **argv)
{
    char err[ELECT_ERR_BYTES];
    if (cli_parse(elect_opts, ELECT_OPTS_N, argc, argv, 1, NULL, 0, NULL, err, sizeof err))
        return cli_usage_error(err, elect_summary, elect_opts, ELECT_OPTS_N);
    if (E_HAS("help") || argc < 2) {
        cli_usage(argc < 2 ? stderr : stdout, elect_summary, elect_opts, ELECT_OPTS_N);
        return argc < 2;
    }
    int8_t type = 0;
    if (elect_check_flags(&type)) return 1;
    const char *type_name = type ? "UNCLEAN" : "PREFERRED";
    struct elect_list l;
    elect_list_init(&l);
    int rc = 0;
    if (E_HAS("path-to-json-file")) {
        rc = elect_read_json(E_VAL("path-to-json-file"), &l);
    } else if (E_HAS("topic")) {
        int64_t p;
        const char *topic = E_VAL("topic");
        if (cli_parse_int(E_VAL("partition"), INT32_MIN, INT32_MAX, &p))
            rc = elect_fail("Cannot parse argument '%s' of option partition", E_VAL("partition"));
        else if (elect_list_add(&l, topic, strlen(topic), (int32_t)p, 0, NULL, 0))
            rc = elect_fail("out of memory");
    }
    const char *cfg = E_VAL("command-config");
    if (E_HAS("admin.config")) {
        printf("Option --admin.config has been deprecated and will be removed in a future "
               "version. Use --command-config instead.\n");
        cfg = E_VAL("admin.config");
    }
    int timeout_ms = ELECT_TIMEOUT_MS_DEFAULT;
    if (!rc && cfg) rc = elect_read_command_config(cfg, &timeout_ms);
    struct cli_kafka_client *c = NULL;
    if (!rc && cli_kafka_client_new(&c, E_VAL("bootstrap-server"), ELECT_CLIENT_ID, timeout_ms, err,
                                    sizeof err))
        rc = elect_fail("Error while making request: %s", err);
    struct kafka_elect_leaders_response res;
    if (!rc) rc = elect_ask(c, type, E_HAS("all-topic-partitions") ? NULL : &l, timeout_ms, &res);
    if (!rc) rc = elect_report(&res, type_name);
    cli_kafka_client_free(c);
    elect_list_close(&l);
    return rc;
}

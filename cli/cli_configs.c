/* cli_configs.c — `gregor configs` (kafka-configs.sh) for topics and brokers: --describe [--all]
 * with DescribeConfigs (api 32, v1-4, synonyms asked for) and --alter with
 * IncrementalAlterConfigs (api 44, v0-1), both sent with our own client (cli_kafka_client.c).
 *
 * Entities, as Kafka's ConfigCommand names them:
 *
 *   --entity-type topics  --entity-name T    or  --topic T
 *   --entity-type brokers --entity-name 1    or  --broker 1
 *   --entity-type brokers --entity-default   or  --broker-defaults   (the cluster-wide default)
 *
 * --describe without a name describes every topic (Metadata, sorted by name), or every broker
 * (sorted by id) and then the broker default.  A broker's own configs are asked of that broker,
 * found by id in Metadata, as Kafka's admin client does; topics and the broker default are
 * asked of the bootstrap server.
 *
 * The output and the checks follow Kafka 3.x's ConfigCommand:
 *
 *   Dynamic configs for topic T are:          (All ... with --all; "Default configs for brokers
 *     key=value sensitive=false synonyms={SOURCE:key=value, ...}     in the cluster are:")
 *
 * Without --all only the entity's dynamic entries are listed (source DYNAMIC_TOPIC_CONFIG,
 * DYNAMIC_BROKER_CONFIG or DYNAMIC_DEFAULT_BROKER_CONFIG); entries are sorted by name.  The
 * synonyms are the broker's: a broker that sends none prints synonyms={}.
 *
 * --alter first describes the entity, so that --delete-config of a key without a dynamic value
 * fails with "Invalid config(s): k" as in Kafka, then sends one IncrementalAlterConfigs with a
 * SET (op 0) per added key and a DELETE (op 1) per deleted one.  Argument errors print Kafka's
 * sentence and exit 1; failures of the cluster print "Error while executing config command with
 * args '...'" and the Kafka error name and message, and exit 1.
 *
 * Not offered: --command-config (our client speaks PLAINTEXT with the default timeouts), and
 * the entity types Gregor has no configs for (clients, users, ips, broker-loggers). */
#include "cli/cli_int.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"

#define CONFIGS_TIMEOUT_MS_DEFAULT 30000 /* the admin client's request.timeout.ms */
#define CONFIGS_CLIENT_ID "gregor-configs"
#define CONFIGS_DESCRIBE_VERSION_MIN 1 /* v1 adds IncludeSynonyms and ConfigSource */
#define CONFIGS_DESCRIBE_VERSION_MAX 4
#define CONFIGS_ALTER_VERSION_MAX 1
#define CONFIGS_METADATA_VERSION_MAX 12
#define CONFIGS_OPS_MAX 1024        /* keys added plus keys deleted by one --alter */
#define CONFIGS_ENTITIES_MAX 100000 /* topics or brokers listed by one --describe */
#define CONFIGS_ADDR_BYTES 300      /* "host:port" of a broker from Metadata */
#define CONFIGS_ARGS_BYTES 4096     /* the command line quoted in failures */

/* DescribeConfigs / IncrementalAlterConfigs resource types and config operations. */
#define CONFIGS_RESOURCE_TOPIC 2
#define CONFIGS_RESOURCE_BROKER 4
#define CONFIGS_OP_SET 0
#define CONFIGS_OP_DELETE 1

/* DescribeConfigs ConfigSource on the wire. */
#define CONFIGS_SOURCE_TOPIC 1
#define CONFIGS_SOURCE_DYNAMIC_BROKER 2
#define CONFIGS_SOURCE_DYNAMIC_DEFAULT_BROKER 3

static const char configs_summary[] =
    "This tool helps to manipulate and describe entity config for a topic or broker.";

static struct cli_opt configs_opts[] = {
    CLI_OPT("add-config", NULL, CLI_OPT_VALUE, "String",
            "Key Value pairs of configs to add. Square brackets can be used to group values which "
            "contain commas: 'k1=v1,k2=[v1,v2,v2],k3=v3'. For entity-type 'topics' the valid "
            "configurations are the topic configs of docs/CONFIGURATION.md; Gregor has no dynamic "
            "broker configs."),
    CLI_OPT("add-config-file", NULL, CLI_OPT_VALUE, "String",
            "Path to a properties file with configs to add. See add-config for a list of valid "
            "configurations."),
    CLI_OPT("all", NULL, CLI_OPT_FLAG, NULL,
            "List all configs for the given topic or broker entity (includes static "
            "configuration when the entity type is brokers)"),
    CLI_OPT("alter", NULL, CLI_OPT_FLAG, NULL, "Alter the configuration for the entity."),
    CLI_OPT("bootstrap-server", NULL, CLI_OPT_VALUE, "String: server to connect to",
            "REQUIRED: The Kafka server to connect to."),
    CLI_OPT("broker", NULL, CLI_OPT_VALUE, "String", "The broker's ID."),
    CLI_OPT("broker-defaults", NULL, CLI_OPT_FLAG, NULL, "The config defaults for all brokers."),
    CLI_OPT("delete-config", NULL, CLI_OPT_MULTI, "String", "config keys to remove 'k1,k2'"),
    CLI_OPT("describe", NULL, CLI_OPT_FLAG, NULL, "List configs for the given entity."),
    CLI_OPT("entity-default", NULL, CLI_OPT_FLAG, NULL,
            "Default entity name for brokers (applies to corresponding entity type in command "
            "line)"),
    CLI_OPT("entity-name", NULL, CLI_OPT_VALUE, "String", "Name of entity (topic name/broker id)"),
    CLI_OPT("entity-type", NULL, CLI_OPT_MULTI, "String", "Type of entity (topics/brokers)"),
    CLI_OPT("force", NULL, CLI_OPT_FLAG, NULL, "Suppress console prompts"),
    CLI_OPT("help", "-h", CLI_OPT_FLAG, NULL, "Print usage information."),
    CLI_OPT("topic", NULL, CLI_OPT_VALUE, "String", "The topic's name."),
};
#define CONFIGS_OPTS_N GR_ARRAY_LEN(configs_opts)
#define C_HAS(name) cli_has(configs_opts, CONFIGS_OPTS_N, name)
#define C_VAL(name) cli_val(configs_opts, CONFIGS_OPTS_N, name)

/* The entity the command is about, after the flag checks. */
struct configs_entity {
    int8_t resource_type;  /* CONFIGS_RESOURCE_TOPIC or _BROKER */
    const char *type_name; /* "topics" or "brokers", as Kafka prints them */
    const char *name;      /* borrowed from argv; NULL: every entity; "": the broker default */
};

struct configs_ctx {
    int argc; /* the tool's argv, quoted by configs_fail_exec */
    char **argv;
    const char *bootstrap;
    int timeout_ms;
    struct cli_kafka_client *c; /* the bootstrap server */
    struct configs_entity e;
    struct props adds; /* --alter: the keys to set, in order, and to delete (values "") */
    struct props dels;
};

/* An argument error: Kafka prints the exception's message alone. */
static int configs_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int configs_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

/* A failure while talking to the cluster: Kafka's line quoting the arguments, then what went
 * wrong (where Kafka prints the exception and its stack). */
static int configs_fail_exec(const struct configs_ctx *x, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int configs_fail_exec(const struct configs_ctx *x, const char *fmt, ...)
{
    char args[CONFIGS_ARGS_BYTES];
    size_t o = 0;
    args[0] = 0;
    for (int i = 1; i < x->argc && o + 1 < sizeof args; i++) {
        strfmt(args + o, sizeof args - o, "%s%s", i > 1 ? " " : "", x->argv[i]);
        o += strlen(args + o);
    }
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "Error while executing config command with args '%s'\n", args);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

/* A Kafka error code from a response, with the broker's message when it sent one. */
static int configs_fail_kafka(const struct configs_ctx *x, int16_t code, struct kafka_str msg)
{
    if (msg.len > 0)
        return configs_fail_exec(x, "%s: %.*s", kafka_err_name(code), (int)msg.len, msg.ptr);
    return configs_fail_exec(x, "%s", kafka_err_name(code));
}

/* ========================================================================================== */
/* Flags                                                                                      */

/* Picks the entity type out of --entity-type and the specific flags.  0, or 1 after printing
 * Kafka's complaint. */
static int configs_check_type(struct configs_entity *e)
{
    const struct cli_opt *t = cli_opt(configs_opts, CONFIGS_OPTS_N, "entity-type");
    const char *types[CLI_MULTI_MAX + 3];
    size_t n = 0;
    for (size_t i = 0; i < t->values_n; i++)
        types[n++] = t->values[i];
    if (C_HAS("topic")) types[n++] = "topics";
    if (C_HAS("broker")) types[n++] = "brokers";
    if (C_HAS("broker-defaults")) types[n++] = "brokers";
    for (size_t i = 1; i < n; i++)
        for (size_t k = 0; k < i; k++)
            if (!strcmp(types[i], types[k]))
                return configs_fail("Duplicate entity type(s) specified: %s", types[i]);
    for (size_t i = 0; i < n; i++)
        if (strcmp(types[i], "topics") && strcmp(types[i], "brokers"))
            return configs_fail("Invalid entity type %s, the entity type must be one of "
                                "topics,brokers with the --bootstrap-server argument",
                                types[i]);
    if (n == 0) return configs_fail("At least one entity type must be specified");
    if (n > 1)
        return configs_fail("Only 'users' and 'clients' entity types may be specified together");
    bool generic = C_HAS("entity-type") || C_HAS("entity-name") || C_HAS("entity-default");
    if (generic && (C_HAS("topic") || C_HAS("broker") || C_HAS("broker-defaults")))
        return configs_fail("--entity-{type,name,default} should not be used in conjunction "
                            "with specific entity flags");
    e->type_name = types[0];
    e->resource_type =
        strcmp(types[0], "topics") ? CONFIGS_RESOURCE_BROKER : CONFIGS_RESOURCE_TOPIC;
    return 0;
}

/* Picks the entity name and checks it against the type and the action. */
static int configs_check_name(struct configs_entity *e)
{
    bool is_default = C_HAS("entity-default") || C_HAS("broker-defaults");
    e->name = C_VAL("entity-name");
    if (C_HAS("topic")) e->name = C_VAL("topic");
    if (C_HAS("broker")) e->name = C_VAL("broker");
    if (e->name && !*e->name) return configs_fail("The entity name must not be empty");
    if (e->name && is_default)
        return configs_fail("Only one of --entity-name and --entity-default may be given: an "
                            "entity is either named or the default");
    int64_t id;
    if (e->name && e->resource_type == CONFIGS_RESOURCE_BROKER &&
        cli_parse_int(e->name, INT32_MIN, INT32_MAX, &id))
        return configs_fail("The entity name for brokers must be a valid integer broker id, but "
                            "it is: %s",
                            e->name);
    if (C_HAS("alter")) {
        if (e->resource_type == CONFIGS_RESOURCE_BROKER && !e->name && !is_default)
            return configs_fail("an entity-name or default entity must be specified with --alter "
                                "of users, clients, brokers or ips");
        if (e->resource_type == CONFIGS_RESOURCE_TOPIC && !e->name)
            return configs_fail("an entity name must be specified with --alter of topics");
    }
    if (is_default && e->resource_type == CONFIGS_RESOURCE_TOPIC)
        return configs_fail("--entity-default is not supported for topics: topic configs "
                            "default to the brokers' (see --entity-type brokers --entity-default)");
    if (is_default) e->name = "";
    return 0;
}

/* Kafka's checkArgs, in its order.  0, or 1 after printing the problem (and the usage where
 * Kafka prints it). */
static int configs_check_args(struct configs_entity *e)
{
    static const char *const not_with_describe[] = {"alter", "add-config", "add-config-file",
                                                    "delete-config"};
    if (C_HAS("alter") + C_HAS("describe") != 1)
        return cli_usage_error("Command must include exactly one action: --describe, --alter",
                               configs_summary, configs_opts, CONFIGS_OPTS_N);
    for (size_t i = 0; C_HAS("describe") && i < GR_ARRAY_LEN(not_with_describe); i++) {
        if (!C_HAS(not_with_describe[i])) continue;
        char msg[160];
        strfmt(msg, sizeof msg, "Option \"[describe]\" can't be used with option \"[%s]\"",
               not_with_describe[i]);
        return cli_usage_error(msg, configs_summary, configs_opts, CONFIGS_OPTS_N);
    }
    if (configs_check_type(e)) return 1;
    if (cli_require(configs_opts, CONFIGS_OPTS_N, "bootstrap-server", configs_summary)) return 1;
    if (configs_check_name(e)) return 1;
    if (!C_HAS("alter")) return 0;
    if (C_HAS("add-config") && C_HAS("add-config-file"))
        return configs_fail("Only one of --add-config or --add-config-file must be specified");
    if (!C_HAS("add-config") && !C_HAS("add-config-file") && !C_HAS("delete-config"))
        return configs_fail("At least one of --add-config, --add-config-file, or --delete-config "
                            "must be specified with --alter");
    return 0;
}

/* ========================================================================================== */
/* --add-config and --delete-config                                                           */

/* Kafka splits --add-config at separators outside square brackets: a separator at s[i] counts
 * unless a ']' comes after it before any '[' (its regex lookahead (?=[^\]]*(?:\[|$))). */
static bool configs_outside_brackets(const char *s, size_t i, size_t len)
{
    for (size_t j = i + 1; j < len; j++) {
        if (s[j] == ']') return false;
        if (s[j] == '[') return true;
    }
    return true;
}

/* Java's String.trim(): drops characters <= ' ' at both ends of [*s, *s + *len). */
static void configs_trim(const char **s, size_t *len)
{
    while (*len > 0 && (unsigned char)(*s)[0] <= ' ')
        (*s)++, (*len)--;
    while (*len > 0 && (unsigned char)(*s)[*len - 1] <= ' ')
        (*len)--;
}

/* One "key=value" of --add-config: exactly one '=' outside brackets; the key trimmed, the value
 * with every '[' and ']' removed, then trimmed.  Adds it to adds.  0, GR_EINVAL or GR_ENOMEM. */
static int configs_add_pair(struct props *adds, const char *p, size_t len)
{
    size_t eq = len;
    for (size_t i = 0; i < len; i++) {
        if (p[i] != '=' || !configs_outside_brackets(p, i, len)) continue;
        if (eq != len) return GR_EINVAL;
        eq = i;
    }
    if (eq == len) return GR_EINVAL;
    const char *k = p, *v = p + eq + 1;
    size_t kn = eq, vn = len - eq - 1;
    configs_trim(&k, &kn);
    if (kn == 0) return GR_EINVAL;
    char *buf = malloc(len + 2);
    if (!buf) return GR_ENOMEM;
    memcpy(buf, k, kn);
    buf[kn] = 0;
    char *val = buf + kn + 1;
    size_t o = 0;
    for (size_t i = 0; i < vn; i++)
        if (v[i] != '[' && v[i] != ']') val[o++] = v[i];
    const char *vt = val;
    configs_trim(&vt, &o);
    memmove(val, vt, o);
    val[o] = 0;
    int rc = props_set(adds, buf, val);
    free(buf);
    return rc;
}

/* Parses --add-config as Kafka does: pairs split at commas outside brackets, trailing empty
 * pieces dropped (Java's split).  0, or 1 after printing. */
static int configs_parse_add_config(struct props *adds, const char *s)
{
    size_t len = strlen(s), starts[CONFIGS_OPS_MAX], ends[CONFIGS_OPS_MAX], n = 0, from = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && (s[i] != ',' || !configs_outside_brackets(s, i, len))) continue;
        if (n == CONFIGS_OPS_MAX)
            return configs_fail("--add-config lists more than %d configs", CONFIGS_OPS_MAX);
        starts[n] = from;
        ends[n++] = i;
        from = i + 1;
    }
    while (n > 1 && starts[n - 1] == ends[n - 1])
        n--;
    if (n == 1 && len > 0 && starts[0] == ends[0]) n = 0; /* "," alone: Java splits to [] */
    for (size_t i = 0; i < n; i++) {
        int rc = configs_add_pair(adds, s + starts[i], ends[i] - starts[i]);
        if (rc == GR_ENOMEM) return configs_fail("out of memory");
        if (rc)
            return configs_fail("requirement failed: Invalid entity config: all configs to be "
                                "added must be in the format \"key=val\".");
    }
    return 0;
}

/* The keys to add, from --add-config-file or --add-config (Kafka takes one of the two), in the
 * order given, a repeated key's last value winning.  0, or 1 after printing. */
static int configs_parse_adds(const struct configs_ctx *x, struct props *adds)
{
    const char *file = C_VAL("add-config-file");
    char err[512];
    if (file && props_load(adds, file, err, sizeof err)) return configs_fail_exec(x, "%s", err);
    const char *s = C_VAL("add-config");
    return s ? configs_parse_add_config(adds, s) : 0;
}

/* The keys of every --delete-config, each a comma-separated list (joptsimple's
 * withValuesSeparatedBy(',')), trimmed; empty pieces are skipped.  0, or 1 after printing. */
static int configs_parse_deletes(struct props *dels)
{
    const struct cli_opt *o = cli_opt(configs_opts, CONFIGS_OPTS_N, "delete-config");
    for (size_t i = 0; i < o->values_n; i++) {
        const char *s = o->values[i];
        while (*s) {
            size_t n = strcspn(s, ",");
            const char *k = s;
            size_t kn = n;
            s += n + (s[n] == ',');
            configs_trim(&k, &kn);
            if (!kn) continue;
            char key[512];
            if (kn >= sizeof key) return configs_fail("Config key too long: %.*s", (int)kn, k);
            memcpy(key, k, kn);
            key[kn] = 0;
            if (dels->n == CONFIGS_OPS_MAX)
                return configs_fail("--delete-config lists more than %d configs", CONFIGS_OPS_MAX);
            if (props_set(dels, key, "")) return configs_fail("out of memory");
        }
    }
    return 0;
}

/* ========================================================================================== */
/* Requests                                                                                   */

static int configs_encode_metadata(struct kafka_writer *w, int16_t version, const void *req)
{
    return kafka_metadata_request_encode(w, version, req);
}

static int configs_decode_metadata(struct kafka_reader *r, int16_t version, void *res)
{
    return kafka_metadata_response_decode(r, version, res);
}

static int configs_encode_describe(struct kafka_writer *w, int16_t version, const void *req)
{
    return kafka_describe_configs_request_encode(w, version, req);
}

static int configs_decode_describe(struct kafka_reader *r, int16_t version, void *res)
{
    return kafka_describe_configs_response_decode(r, version, res);
}

static int configs_encode_alter(struct kafka_writer *w, int16_t version, const void *req)
{
    return kafka_incremental_alter_configs_request_encode(w, version, req);
}

static int configs_decode_alter(struct kafka_reader *r, int16_t version, void *res)
{
    return kafka_incremental_alter_configs_response_decode(r, version, res);
}

/* Metadata for every topic (never creating one) and every broker.  On success *res is a view
 * valid until the next call on x->c.  0, or 1 after printing. */
static int configs_metadata(struct configs_ctx *x, struct kafka_metadata_response *res)
{
    char err[512];
    int16_t v = cli_kafka_client_version(x->c, KAFKA_API_METADATA, 1, CONFIGS_METADATA_VERSION_MAX);
    if (v < 0)
        return configs_fail_exec(x,
                                 "UNSUPPORTED_VERSION: the broker supports no Metadata version "
                                 "from 1 to %d",
                                 CONFIGS_METADATA_VERSION_MAX);
    struct kafka_metadata_request req;
    kafka_metadata_request_init(&req);
    req.topics = NULL;
    req.topics_count = -1; /* null: all topics */
    req.allow_auto_topic_creation = false;
    if (cli_kafka_client_call(x->c, KAFKA_API_METADATA, v, configs_encode_metadata, &req,
                              configs_decode_metadata, res, err, sizeof err))
        return configs_fail_exec(x, "%s", err);
    return 0;
}

/* Opens a client on broker id, found in the bootstrap server's Metadata.  0 with *out set (free
 * it), or 1 after printing. */
static int configs_broker_client(struct configs_ctx *x, int32_t id, struct cli_kafka_client **out)
{
    struct kafka_metadata_response md;
    char addr[CONFIGS_ADDR_BYTES], err[512];
    addr[0] = 0;
    if (configs_metadata(x, &md)) return 1;
    for (int32_t i = 0; i < md.brokers_count && !addr[0]; i++) {
        const struct kafka_metadata_response_broker *b = &md.brokers[i];
        if (b->node_id != id || b->host.len <= 0) continue;
        bool v6 = memchr(b->host.ptr, ':', (size_t)b->host.len) != NULL;
        strfmt(addr, sizeof addr, "%s%.*s%s:%d", v6 ? "[" : "", (int)b->host.len, b->host.ptr,
               v6 ? "]" : "", b->port);
    }
    if (!addr[0])
        return configs_fail_exec(x,
                                 "BROKER_NOT_AVAILABLE: broker %d is not in the cluster's "
                                 "metadata",
                                 id);
    if (cli_kafka_client_new(out, addr, CONFIGS_CLIENT_ID, x->timeout_ms, err, sizeof err))
        return configs_fail_exec(x, "%s", err);
    return 0;
}

/* Asks c for the configs of one resource.  On success *out is the result, a view valid until
 * the next call on c.  0, or 1 after printing (a Kafka error of the resource included). */
static int
configs_describe_one(const struct configs_ctx *x, struct cli_kafka_client *c, const char *name,
                     bool synonyms,
                     const struct kafka_describe_configs_response_describe_configs_result **out)
{
    char err[512];
    int16_t v = cli_kafka_client_version(
        c, KAFKA_API_DESCRIBE_CONFIGS, CONFIGS_DESCRIBE_VERSION_MIN, CONFIGS_DESCRIBE_VERSION_MAX);
    if (v < 0)
        return configs_fail_exec(x,
                                 "UNSUPPORTED_VERSION: the broker does not support "
                                 "DescribeConfigs (api key %d, versions %d-%d)",
                                 KAFKA_API_DESCRIBE_CONFIGS, CONFIGS_DESCRIBE_VERSION_MIN,
                                 CONFIGS_DESCRIBE_VERSION_MAX);
    struct kafka_describe_configs_request_describe_configs_resource res;
    kafka_describe_configs_request_describe_configs_resource_init(&res);
    res.resource_type = x->e.resource_type;
    res.resource_name = KSTR(name);
    res.configuration_keys = NULL;
    res.configuration_keys_count = -1; /* null: every key */
    struct kafka_describe_configs_request req;
    kafka_describe_configs_request_init(&req);
    req.resources = &res;
    req.resources_count = 1;
    req.include_synonyms = synonyms;
    req.include_documentation = false;
    struct kafka_describe_configs_response resp;
    if (cli_kafka_client_call(c, KAFKA_API_DESCRIBE_CONFIGS, v, configs_encode_describe, &req,
                              configs_decode_describe, &resp, err, sizeof err))
        return configs_fail_exec(x, "%s", err);
    for (int32_t i = 0; i < resp.results_count; i++) {
        const struct kafka_describe_configs_response_describe_configs_result *r = &resp.results[i];
        if (r->resource_type != x->e.resource_type || !kstr_eq(r->resource_name, name)) continue;
        if (r->error_code) return configs_fail_kafka(x, r->error_code, r->error_message);
        *out = r;
        return 0;
    }
    return configs_fail_exec(x,
                             "UNKNOWN_SERVER_ERROR: DescribeConfigs returned no result for "
                             "%s %s",
                             x->e.type_name, name);
}

/* ========================================================================================== */
/* --describe                                                                                 */

/* ConfigEntry.ConfigSource as Kafka's admin client names the wire values. */
static const char *configs_source_name(int8_t source)
{
    static const char *const names[] = {
        "UNKNOWN",
        "DYNAMIC_TOPIC_CONFIG",
        "DYNAMIC_BROKER_CONFIG",
        "DYNAMIC_DEFAULT_BROKER_CONFIG",
        "STATIC_BROKER_CONFIG",
        "DEFAULT_CONFIG",
        "DYNAMIC_BROKER_LOGGER_CONFIG",
        "DYNAMIC_CLIENT_METRICS_CONFIG",
        "DYNAMIC_GROUP_CONFIG",
    };
    return source >= 0 && (size_t)source < GR_ARRAY_LEN(names) ? names[source] : "UNKNOWN";
}

/* The source of the entity's own dynamic entries: what --describe lists without --all. */
static int8_t configs_dynamic_source(const struct configs_entity *e, const char *name)
{
    if (e->resource_type == CONFIGS_RESOURCE_TOPIC) return CONFIGS_SOURCE_TOPIC;
    return *name ? CONFIGS_SOURCE_DYNAMIC_BROKER : CONFIGS_SOURCE_DYNAMIC_DEFAULT_BROKER;
}

static void configs_print_kstr(struct kafka_str s)
{
    if (s.len < 0)
        fputs("null", stdout);
    else
        fwrite(s.ptr, 1, (size_t)s.len, stdout);
}

static int configs_entry_cmp(const void *a, const void *b)
{
    const struct kafka_describe_configs_response_describe_configs_resource_result *x =
        *(const struct kafka_describe_configs_response_describe_configs_resource_result *const *)a;
    const struct kafka_describe_configs_response_describe_configs_resource_result *y =
        *(const struct kafka_describe_configs_response_describe_configs_resource_result *const *)b;
    int32_t xl = GR_MAX(x->name.len, 0), yl = GR_MAX(y->name.len, 0);
    int c = memcmp(x->name.ptr, y->name.ptr, (size_t)GR_MIN(xl, yl));
    return c ? c : (xl > yl) - (xl < yl);
}

/* "  key=value sensitive=false synonyms={SOURCE:key=value, ...}" */
static void configs_print_entry(
    const struct kafka_describe_configs_response_describe_configs_resource_result *en)
{
    fputs("  ", stdout);
    configs_print_kstr(en->name);
    fputc('=', stdout);
    configs_print_kstr(en->is_sensitive ? KSTR_NULL : en->value);
    printf(" sensitive=%s synonyms={", en->is_sensitive ? "true" : "false");
    for (int32_t k = 0; k < en->synonyms_count; k++) {
        const struct kafka_describe_configs_response_describe_configs_synonym *s = &en->synonyms[k];
        printf("%s%s:", k ? ", " : "", configs_source_name(s->source));
        configs_print_kstr(s->name);
        fputc('=', stdout);
        configs_print_kstr(en->is_sensitive ? KSTR_NULL : s->value);
    }
    fputs("}\n", stdout);
}

/* Prints the entries of r whose source is source (all of them when source < 0), by name.
 * 0, or 1 after printing. */
static int
configs_print_entries(const struct configs_ctx *x,
                      const struct kafka_describe_configs_response_describe_configs_result *r,
                      int8_t source)
{
    if (r->configs_count <= 0) return 0;
    const struct kafka_describe_configs_response_describe_configs_resource_result **sel =
        calloc((size_t)r->configs_count, sizeof *sel);
    if (!sel) return configs_fail_exec(x, "out of memory");
    size_t n = 0;
    for (int32_t i = 0; i < r->configs_count; i++)
        if (source < 0 || r->configs[i].config_source == source) sel[n++] = &r->configs[i];
    qsort(sel, n, sizeof *sel, configs_entry_cmp);
    for (size_t i = 0; i < n; i++)
        configs_print_entry(sel[i]);
    free(sel);
    return 0;
}

/* Describes one named entity (name "" for the broker default): the header, then its entries.
 * Broker entities are asked of the broker itself.  0, or 1 after printing. */
static int configs_describe_entity(struct configs_ctx *x, const char *name)
{
    bool all = C_HAS("all");
    struct cli_kafka_client *c = x->c, *own = NULL;
    if (!*name)
        printf("Default configs for %s in the cluster are:\n", x->e.type_name);
    else
        printf("%s configs for %s %s are:\n", all ? "All" : "Dynamic",
               x->e.resource_type == CONFIGS_RESOURCE_TOPIC ? "topic" : "broker", name);
    fflush(stdout); /* the header comes first even when the describe fails, as in Kafka */
    if (x->e.resource_type == CONFIGS_RESOURCE_BROKER && *name) {
        if (configs_broker_client(x, (int32_t)strtol(name, NULL, 10), &own)) return 1;
        c = own;
    }
    const struct kafka_describe_configs_response_describe_configs_result *r;
    int rc = configs_describe_one(x, c, name, true, &r);
    if (!rc) rc = configs_print_entries(x, r, all ? -1 : configs_dynamic_source(&x->e, name));
    cli_kafka_client_free(own);
    return rc;
}

static int configs_str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int configs_id_cmp(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* The names of every entity of the type, from Metadata: topic names by name, or broker ids by
 * id followed by "" (the broker default).  *names is allocated, each name too; free with
 * configs_names_free.  0, or 1 after printing. */
static int configs_list_entities(struct configs_ctx *x, char ***names, size_t *n)
{
    struct kafka_metadata_response md;
    *names = NULL;
    *n = 0;
    if (configs_metadata(x, &md)) return 1;
    bool topics = x->e.resource_type == CONFIGS_RESOURCE_TOPIC;
    int32_t count = topics ? md.topics_count : md.brokers_count;
    if (count < 0 || count > CONFIGS_ENTITIES_MAX)
        return configs_fail_exec(x, "Metadata lists %d %s", count, x->e.type_name);
    *names = calloc((size_t)count + 1, sizeof **names);
    int32_t *ids = topics ? NULL : calloc((size_t)count + 1, sizeof *ids);
    if (!*names || (!topics && !ids)) goto err_oom;
    for (int32_t i = 0; i < count; i++) {
        if (!topics) {
            ids[i] = md.brokers[i].node_id;
            continue;
        }
        const struct kafka_metadata_response_topic *t = &md.topics[i];
        if (t->error_code || t->name.len <= 0) continue;
        (*names)[*n] = strndup(t->name.ptr, (size_t)t->name.len);
        if (!(*names)[(*n)++]) goto err_oom;
    }
    if (topics) {
        qsort(*names, *n, sizeof **names, configs_str_cmp);
        return 0;
    }
    qsort(ids, (size_t)count, sizeof *ids, configs_id_cmp);
    for (int32_t i = 0; i <= count; i++) {
        char id[16] = "";
        if (i < count) strfmt(id, sizeof id, "%d", ids[i]);
        (*names)[(*n)++] = strdup(id);
        if (!(*names)[*n - 1]) goto err_oom;
    }
    free(ids);
    return 0;

err_oom:
    free(ids);
    return configs_fail_exec(x, "out of memory");
}

static void configs_names_free(char **names, size_t n)
{
    for (size_t i = 0; names && i < n; i++)
        free(names[i]);
    free(names);
}

static int configs_describe(struct configs_ctx *x)
{
    if (x->e.name) return configs_describe_entity(x, x->e.name);
    char **names;
    size_t n;
    int rc = configs_list_entities(x, &names, &n);
    for (size_t i = 0; !rc && i < n; i++)
        rc = configs_describe_entity(x, names[i]);
    configs_names_free(names, n);
    return rc;
}

/* ========================================================================================== */
/* --alter                                                                                    */

/* Kafka's check before altering: every key to delete must have a dynamic value now. */
static int configs_check_deletes(const struct configs_ctx *x, struct cli_kafka_client *c,
                                 const struct props *dels)
{
    if (!dels->n) return 0;
    const struct kafka_describe_configs_response_describe_configs_result *r;
    if (configs_describe_one(x, c, x->e.name, false, &r)) return 1;
    int8_t source = configs_dynamic_source(&x->e, x->e.name);
    char bad[2048];
    size_t o = 0;
    bad[0] = 0;
    for (size_t i = 0; i < dels->n; i++) {
        bool found = false;
        for (int32_t k = 0; k < r->configs_count && !found; k++)
            found = r->configs[k].config_source == source &&
                    kstr_eq(r->configs[k].name, dels->v[i].key);
        if (found || o + 1 >= sizeof bad) continue;
        strfmt(bad + o, sizeof bad - o, "%s%s", o ? "," : "", dels->v[i].key);
        o += strlen(bad + o);
    }
    return o ? configs_fail("Invalid config(s): %s", bad) : 0;
}

/* Sends one IncrementalAlterConfigs for the entity: SET each of adds, DELETE each of dels.
 * 0, or 1 after printing. */
static int configs_send_alter(const struct configs_ctx *x, struct cli_kafka_client *c,
                              const struct props *adds, const struct props *dels)
{
    char err[512];
    int16_t v = cli_kafka_client_version(c, KAFKA_API_INCREMENTAL_ALTER_CONFIGS, 0,
                                         CONFIGS_ALTER_VERSION_MAX);
    if (v < 0)
        return configs_fail_exec(x,
                                 "UNSUPPORTED_VERSION: the broker does not support "
                                 "IncrementalAlterConfigs (api key %d, versions 0-%d)",
                                 KAFKA_API_INCREMENTAL_ALTER_CONFIGS, CONFIGS_ALTER_VERSION_MAX);
    size_t n = adds->n + dels->n;
    if (n > CONFIGS_OPS_MAX)
        return configs_fail("--alter changes more than %d configs", CONFIGS_OPS_MAX);
    struct kafka_incremental_alter_configs_request_alterable_config *ops =
        calloc(n ? n : 1, sizeof *ops);
    if (!ops) return configs_fail_exec(x, "out of memory");
    for (size_t i = 0; i < n; i++) {
        kafka_incremental_alter_configs_request_alterable_config_init(&ops[i]);
        bool set = i < adds->n;
        const struct props_entry *pe = set ? &adds->v[i] : &dels->v[i - adds->n];
        ops[i].name = KSTR(pe->key);
        ops[i].config_operation = set ? CONFIGS_OP_SET : CONFIGS_OP_DELETE;
        ops[i].value = KSTR(set ? pe->value : ""); /* Kafka's DELETE carries "" */
    }
    struct kafka_incremental_alter_configs_request_alter_configs_resource res;
    kafka_incremental_alter_configs_request_alter_configs_resource_init(&res);
    res.resource_type = x->e.resource_type;
    res.resource_name = KSTR(x->e.name);
    res.configs = ops;
    res.configs_count = (int32_t)n;
    struct kafka_incremental_alter_configs_request req;
    kafka_incremental_alter_configs_request_init(&req);
    req.resources = &res;
    req.resources_count = 1;
    req.validate_only = false;
    struct kafka_incremental_alter_configs_response resp;
    int rc = cli_kafka_client_call(c, KAFKA_API_INCREMENTAL_ALTER_CONFIGS, v, configs_encode_alter,
                                   &req, configs_decode_alter, &resp, err, sizeof err);
    free(ops);
    if (rc) return configs_fail_exec(x, "%s", err);
    for (int32_t i = 0; i < resp.responses_count; i++) {
        const struct kafka_incremental_alter_configs_response_alter_configs_resource_response *r =
            &resp.responses[i];
        if (r->resource_type != x->e.resource_type || !kstr_eq(r->resource_name, x->e.name))
            continue;
        return r->error_code ? configs_fail_kafka(x, r->error_code, r->error_message) : 0;
    }
    return configs_fail_exec(x,
                             "UNKNOWN_SERVER_ERROR: IncrementalAlterConfigs returned no "
                             "result for %s %s",
                             x->e.type_name, x->e.name);
}

/* Alters the entity with x->adds and x->dels, already parsed. */
static int configs_alter(struct configs_ctx *x)
{
    struct cli_kafka_client *own = NULL, *c = x->c;
    int rc = 0;
    if (x->e.resource_type == CONFIGS_RESOURCE_BROKER && *x->e.name) {
        rc = configs_broker_client(x, (int32_t)strtol(x->e.name, NULL, 10), &own);
        c = own;
    }
    if (!rc) rc = configs_check_deletes(x, c, &x->dels);
    if (!rc) rc = configs_send_alter(x, c, &x->adds, &x->dels);
    if (!rc && *x->e.name)
        printf("Completed updating config for %s %s.\n",
               x->e.resource_type == CONFIGS_RESOURCE_TOPIC ? "topic" : "broker", x->e.name);
    else if (!rc)
        printf("Completed updating default config for %s in the cluster.\n", x->e.type_name);
    cli_kafka_client_free(own);
    return rc;
}

/* ========================================================================================== */

int cli_configs_main(int argc, char **argv)
{
    char err[512];
    if (cli_parse(configs_opts, CONFIGS_OPTS_N, argc, argv, 1, NULL, 0, NULL, err, sizeof err))
        return cli_usage_error(err, configs_summary, configs_opts, CONFIGS_OPTS_N);
    if (C_HAS("help") || argc < 2) {
        cli_usage(argc < 2 ? stderr : stdout, configs_summary, configs_opts, CONFIGS_OPTS_N);
        return argc < 2;
    }
    struct configs_ctx x = {.argc = argc, .argv = argv, .timeout_ms = CONFIGS_TIMEOUT_MS_DEFAULT};
    if (configs_check_args(&x.e)) return 1;
    x.bootstrap = C_VAL("bootstrap-server");
    props_init(&x.adds);
    props_init(&x.dels);
    /* the syntax of what to change is checked before any server is asked */
    int rc = 0;
    if (C_HAS("alter")) rc = configs_parse_adds(&x, &x.adds);
    if (!rc && C_HAS("alter")) rc = configs_parse_deletes(&x.dels);
    if (!rc &&
        cli_kafka_client_new(&x.c, x.bootstrap, CONFIGS_CLIENT_ID, x.timeout_ms, err, sizeof err))
        rc = configs_fail_exec(&x, "%s", err);
    if (!rc) rc = C_HAS("alter") ? configs_alter(&x) : configs_describe(&x);
    cli_kafka_client_free(x.c);
    props_close(&x.dels);
    props_close(&x.adds);
    return rc;
}

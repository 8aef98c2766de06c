/* cli_topics.c — `gregor topics` (kafka-topics.sh): --create, --list, --describe, --alter,
 * --delete, through librdkafka's admin API and metadata requests.
 *
 * --topic is a regular expression except for --create, as in Kafka (commas mean "or", quotes
 * around it are dropped); matching is POSIX extended, anchored at both ends.
 *
 * TopicId: librdkafka 2.0.2 has neither topic ids in its metadata nor DescribeTopics, so
 * --describe fills the field from one Metadata v10+ request of its own (cli_kafka_client.c).
 * That lookup is best effort: if it fails for any reason (old broker, TLS/SASL listener, ...)
 * the field stays empty, as before, and nothing is reported.
 *
 * --describe's report options (--under-replicated-partitions, --under-min-isr-partitions,
 * --at-min-isr-partitions, --unavailable-partitions) work as kafka-topics.sh's: a partition is
 * printed if it matches any of those given, and the topic header lines are left out.  The
 * min-isr ones compare the ISR size with the topic's effective min.insync.replicas from
 * DescribeConfigs; "unavailable" is no leader, or a leader Metadata does not list as a broker.
 * Under-min-isr also counts a partition without a leader, as Kafka does. */
#include "cli/cli_int.h"

#include <regex.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define TOPICS_TIMEOUT_MS_DEFAULT 30000
#define TOPICS_CONFIGS_MAX 64
/* The id lookup only decorates the output, so it may not stall --describe for long. */
#define TOPICS_IDS_TIMEOUT_MS_MAX 10000

static const char topics_summary[] =
    "This tool helps to create, delete, describe, or change a topic.";

static struct cli_opt topics_opts[] = {
    CLI_OPT("alter", NULL, CLI_OPT_FLAG, NULL, "Alter the number of partitions of the topic."),
    CLI_OPT("at-min-isr-partitions", NULL, CLI_OPT_FLAG, NULL,
            "if set when describing topics, only show partitions whose isr count is equal to the "
            "configured minimum."),
    CLI_OPT("bootstrap-server", NULL, CLI_OPT_VALUE, "String: server to connect to",
            "REQUIRED: The Kafka server to connect to."),
    CLI_OPT("command-config", NULL, CLI_OPT_VALUE, "String: command config property file",
            "Property file containing configs to be passed to the admin client (librdkafka "
            "property names)."),
    CLI_OPT("config", NULL, CLI_OPT_MULTI, "String: name=value",
            "A topic configuration override for the topic being created."),
    CLI_OPT("create", NULL, CLI_OPT_FLAG, NULL, "Create a new topic."),
    CLI_OPT("delete", NULL, CLI_OPT_FLAG, NULL, "Delete a topic"),
    CLI_OPT("describe", NULL, CLI_OPT_FLAG, NULL, "List details for the given topics."),
    CLI_OPT("exclude-internal", NULL, CLI_OPT_FLAG, NULL,
            "exclude internal topics when running list or describe command. The internal topics "
            "will be listed by default"),
    CLI_OPT("help", NULL, CLI_OPT_FLAG, NULL, "Print usage information."),
    CLI_OPT(
        "if-exists", NULL, CLI_OPT_FLAG, NULL,
        "if set when altering or deleting or describing topics, the action will only execute if "
        "the topic exists."),
    CLI_OPT("if-not-exists", NULL, CLI_OPT_FLAG, NULL,
            "if set when creating topics, the action will only execute if the topic does not "
            "already exist."),
    CLI_OPT("list", NULL, CLI_OPT_FLAG, NULL, "List all available topics."),
    CLI_OPT("partitions", NULL, CLI_OPT_VALUE, "Integer: # of partitions",
            "The number of partitions for the topic being created or altered. If not supplied for "
            "create, defaults to the cluster default."),
    CLI_OPT(
        "replication-factor", NULL, CLI_OPT_VALUE, "Integer: replication factor",
        "The replication factor for each partition in the topic being created. If not supplied, "
        "defaults to the cluster default."),
    CLI_OPT("topic", NULL, CLI_OPT_VALUE, "String: topic",
            "The topic to create, alter, describe or delete. It also accepts a regular expression, "
            "except for --create option."),
    CLI_OPT("unavailable-partitions", NULL, CLI_OPT_FLAG, NULL,
            "if set when describing topics, only show partitions whose leader is not available"),
    CLI_OPT("under-min-isr-partitions", NULL, CLI_OPT_FLAG, NULL,
            "if set when describing topics, only show partitions whose isr count is less than the "
            "configured minimum."),
    CLI_OPT("under-replicated-partitions", NULL, CLI_OPT_FLAG, NULL,
            "if set when describing topics, only show under replicated partitions"),
};
#define TOPICS_OPTS_N GR_ARRAY_LEN(topics_opts)
#define T_HAS(name) cli_has(topics_opts, TOPICS_OPTS_N, name)
#define T_VAL(name) cli_val(topics_opts, TOPICS_OPTS_N, name)

struct topics_ctx {
    rd_kafka_t *rk;
    rd_kafka_queue_t *q;
    int timeout_ms;
    bool plaintext; /* security.protocol is PLAINTEXT: our own client can talk to the cluster */
};

static int topics_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int topics_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "Error while executing topic command : ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

/* ========================================================================================== */
/* Client and admin plumbing                                                                  */

/* Reads what the tool itself needs from --command-config: request.timeout.ms and whether
 * security.protocol leaves the connection plaintext. */
static int topics_read_command_config(const char *path, struct topics_ctx *c)
{
    struct props p;
    char err[512];
    int64_t v;
    props_init(&p);
    int rc = props_load(&p, path, err, sizeof err);
    const char *t = rc ? NULL : props_get(&p, "request.timeout.ms");
    const char *sp = rc ? NULL : props_get(&p, "security.protocol");
    if (rc) fprintf(stderr, "%s\n", err);
    if (t && !cli_parse_int(t, 1, INT32_MAX, &v)) c->timeout_ms = (int)v;
    if (sp && strcasecmp(sp, "plaintext")) c->plaintext = false;
    props_close(&p);
    return rc;
}

static int topics_ctx_open(struct topics_ctx *c)
{
    char err[512];
    const char *cfg = T_VAL("command-config");
    c->timeout_ms = TOPICS_TIMEOUT_MS_DEFAULT;
    c->plaintext = true;
    if (cfg && topics_read_command_config(cfg, c)) return 1;
    rd_kafka_conf_t *conf =
        cli_conf_new(T_VAL("bootstrap-server"), NULL, 0, &cfg, 1, NULL, 0, err, sizeof err);
    if (!conf) return topics_fail("%s", err);
    c->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!c->rk) {
        rd_kafka_conf_destroy(conf);
        return topics_fail("%s", err);
    }
    c->q = rd_kafka_queue_new(c->rk);
    return 0;
}

static void topics_ctx_close(struct topics_ctx *c)
{
    if (c->q) rd_kafka_queue_destroy(c->q);
    if (c->rk) rd_kafka_destroy(c->rk);
}

static rd_kafka_AdminOptions_t *topics_admin_options(struct topics_ctx *c, rd_kafka_admin_op_t op)
{
    char err[256];
    rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(c->rk, op);
    rd_kafka_AdminOptions_set_request_timeout(o, c->timeout_ms, err, sizeof err);
    if (op != RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS)
        rd_kafka_AdminOptions_set_operation_timeout(o, c->timeout_ms, err, sizeof err);
    return o;
}

/* Waits for the result event of one admin call; NULL after printing the error. */
static rd_kafka_event_t *topics_admin_wait(struct topics_ctx *c, rd_kafka_event_type_t type)
{
    rd_kafka_event_t *ev = rd_kafka_queue_poll(c->q, c->timeout_ms + 5000);
    if (!ev) {
        topics_fail("Timed out waiting for the admin request to complete.");
        return NULL;
    }
    if (rd_kafka_event_type(ev) != type || rd_kafka_event_error(ev)) {
        topics_fail("%s", rd_kafka_event_error_string(ev) ? rd_kafka_event_error_string(ev)
                                                          : "unexpected admin result");
        rd_kafka_event_destroy(ev);
        return NULL;
    }
    return ev;
}

/* The per-topic error as Kafka's admin client words it, preferring the broker's message. */
static const char *topics_result_msg(const rd_kafka_topic_result_t *r, char *buf, size_t len)
{
    const char *name = rd_kafka_topic_result_name(r);
    const char *msg = rd_kafka_topic_result_error_string(r);
    rd_kafka_resp_err_t e = rd_kafka_topic_result_error(r);
    if (e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
        strfmt(buf, len, "Topic '%s' already exists.", name);
    else if (e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
        strfmt(buf, len, "Topic '%s' does not exist as expected", name);
    else
        strfmt(buf, len, "%s", msg && *msg ? msg : rd_kafka_err2str(e));
    return buf;
}

/* Checks every topic result of a Create/Delete/CreatePartitions call. */
static int topics_check_results(const rd_kafka_topic_result_t **res, size_t n,
                                rd_kafka_resp_err_t ignore)
{
    int rc = 0;
    char buf[512];
    for (size_t i = 0; i < n; i++) {
        rd_kafka_resp_err_t e = rd_kafka_topic_result_error(res[i]);
        if (e && e != ignore) rc = topics_fail("%s", topics_result_msg(res[i], buf, sizeof buf));
    }
    return rc;
}

/* ========================================================================================== */
/* --create                                                                                   */

static int topics_read_int(const char *name, int64_t lo, int64_t hi, const char *range_msg,
                           int *out)
{
    const char *v = T_VAL(name);
    int64_t x;
    *out = -1;
    if (!v) return 0;
    if (parse_i64(v, &x)) return topics_fail("Invalid value '%s' for --%s", v, name);
    if (x < lo || x > hi) return topics_fail("%s", range_msg);
    *out = (int)x;
    return 0;
}

static int topics_new_topic(rd_kafka_NewTopic_t **out)
{
    const char *topic = T_VAL("topic");
    struct cli_opt *cfg = cli_opt(topics_opts, TOPICS_OPTS_N, "config");
    char err[512];
    int parts, rf;
    if (topics_read_int("partitions", 1, INT32_MAX, "The partitions must be greater than 0",
                        &parts) ||
        topics_read_int("replication-factor", 1, 32767,
                        "The replication factor must be between 1 and 32767", &rf))
        return 1;
    *out = rd_kafka_NewTopic_new(topic, parts, rf, err, sizeof err);
    if (!*out) return topics_fail("%s", err);
    for (size_t i = 0; i < cfg->values_n; i++) {
        char key[256];
        const char *v;
        if (cli_split_kv(cfg->values[i], key, sizeof key, &v)) {
            rd_kafka_NewTopic_destroy(*out);
            return topics_fail("Invalid topic config: all configs to be added must be in the "
                               "format \"key=val\".");
        }
        rd_kafka_NewTopic_set_config(*out, key, v);
    }
    return 0;
}

static int topics_create(struct topics_ctx *c)
{
    const char *topic = T_VAL("topic");
    rd_kafka_NewTopic_t *nt;
    if (strpbrk(topic, "._"))
        printf("WARNING: Due to limitations in metric names, topics with a period ('.') or "
               "underscore ('_') could collide. To avoid issues it is best to use either, but "
               "not both.\n");
    if (topics_new_topic(&nt)) return 1;
    rd_kafka_AdminOptions_t *o = topics_admin_options(c, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_CreateTopics(c->rk, &nt, 1, o, c->q);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_event_t *ev = topics_admin_wait(c, RD_KAFKA_EVENT_CREATETOPICS_RESULT);
    if (!ev) return 1;
    size_t n;
    const rd_kafka_topic_result_t **res =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
    bool exists =
        n == 1 && rd_kafka_topic_result_error(res[0]) == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS;
    int rc = topics_check_results(res, n,
                                  T_HAS("if-not-exists") ? RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS
                                                         : RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_event_destroy(ev);
    if (!rc && !exists) printf("Created topic %s.\n", topic);
    return rc;
}

/* ========================================================================================== */
/* Topic selection from metadata                                                              */

static bool topics_is_internal(const char *name)
{
    return !strncmp(name, "__", 2);
}

/* Kafka's IncludeList: strip quotes and spaces, commas mean alternation, whole-name match. */
static int topics_regex_compile(const char *pattern, regex_t *re)
{
    char buf[1024], full[1100];
    size_t o = 0;
    while (*pattern == '"' || *pattern == '\'')
        pattern++;
    for (const char *p = pattern; *p && o + 1 < sizeof buf; p++) {
        if (*p == ' ') continue;
        buf[o++] = *p == ',' ? '|' : *p;
    }
    while (o && (buf[o - 1] == '"' || buf[o - 1] == '\''))
        o--;
    buf[o] = 0;
    strfmt(full, sizeof full, "^(%s)$", buf);
    if (regcomp(re, full, REG_EXTENDED | REG_NOSUB))
        return topics_fail("Invalid topic regular expression '%s'", pattern);
    return 0;
}

static int topics_cmp(const void *a, const void *b)
{
    const rd_kafka_metadata_topic_t *x = *(const rd_kafka_metadata_topic_t *const *)a;
    const rd_kafka_metadata_topic_t *y = *(const rd_kafka_metadata_topic_t *const *)b;
    return strcmp(x->topic, y->topic);
}

/* Fetches metadata for all topics and selects those --topic (if given) matches, sorted by
 * name.  *sel is allocated (free it) and points into *md (rd_kafka_metadata_destroy it). */
static int topics_select(struct topics_ctx *c, const struct rd_kafka_metadata **md,
                         const rd_kafka_metadata_topic_t ***sel, size_t *sel_n)
{
    const char *pattern = T_VAL("topic");
    regex_t re;
    rd_kafka_resp_err_t e = rd_kafka_metadata(c->rk, 1, NULL, md, c->timeout_ms);
    if (e) return topics_fail("%s", rd_kafka_err2str(e));
    if (pattern && topics_regex_compile(pattern, &re)) goto err_md;
    *sel = calloc((size_t)(*md)->topic_cnt + 1, sizeof **sel);
    if (!*sel) goto err_re;
    *sel_n = 0;
    for (int i = 0; i < (*md)->topic_cnt; i++) {
        const rd_kafka_metadata_topic_t *t = &(*md)->topics[i];
        if (t->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) continue;
        if (T_HAS("exclude-internal") && topics_is_internal(t->topic)) continue;
        if (pattern && regexec(&re, t->topic, 0, NULL, 0)) continue;
        (*sel)[(*sel_n)++] = t;
    }
    qsort(*sel, *sel_n, sizeof **sel, topics_cmp);
    if (pattern) regfree(&re);
    if (pattern && !*sel_n && !T_HAS("if-exists")) {
        free(*sel);
        rd_kafka_metadata_destroy(*md);
        return topics_fail("Topic '%s' does not exist as expected", pattern);
    }
    return 0;

err_re:
    if (pattern) regfree(&re);
err_md:
    rd_kafka_metadata_destroy(*md);
    return 1;
}

static int topics_list(struct topics_ctx *c)
{
    const struct rd_kafka_metadata *md;
    const rd_kafka_metadata_topic_t **sel;
    size_t n;
    if (topics_select(c, &md, &sel, &n)) return 1;
    for (size_t i = 0; i < n; i++)
        printf("%s\n", sel[i]->topic);
    free(sel);
    rd_kafka_metadata_destroy(md);
    return 0;
}

/* ========================================================================================== */
/* --describe                                                                                 */

/* Fetches the topic configs of the selected topics; *out is the result event (destroy it), or
 * NULL when the cluster could not describe them, in which case a warning goes to stderr and
 * Configs: stays empty.  Returns 1 only on local failure. */
static int topics_describe_configs(struct topics_ctx *c, const rd_kafka_metadata_topic_t **sel,
                                   size_t n, rd_kafka_event_t **out)
{
    *out = NULL;
    if (!n) return 0;
    rd_kafka_ConfigResource_t **res = calloc(n, sizeof *res);
    if (!res) return topics_fail("out of memory");
    for (size_t i = 0; i < n; i++)
        res[i] = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, sel[i]->topic);
    rd_kafka_AdminOptions_t *o = topics_admin_options(c, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
    rd_kafka_DescribeConfigs(c->rk, res, n, o, c->q);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_ConfigResource_destroy_array(res, n);
    free(res);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(c->q, c->timeout_ms + 5000);
    rd_kafka_resp_err_t e = ev ? rd_kafka_event_error(ev) : RD_KAFKA_RESP_ERR__TIMED_OUT;
    if (e) {
        /* Still describe partitions: the configs are the only part missing. */
        fprintf(stderr, "WARN Could not describe topic configs (Configs: left empty): %s\n",
                ev ? rd_kafka_event_error_string(ev) : rd_kafka_err2str(e));
        if (ev) rd_kafka_event_destroy(ev);
        return 0;
    }
    *out = ev;
    return 0;
}

/* "k=v,k2=v2" of the topic-level overrides (source DYNAMIC_TOPIC_CONFIG). */
static void topics_configs_str(rd_kafka_event_t *ev, const char *topic, char *buf, size_t len)
{
    size_t o = 0, nres = 0, nent = 0;
    buf[0] = 0;
    if (!ev) return;
    const rd_kafka_ConfigResource_t **res =
        rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev), &nres);
    for (size_t i = 0; i < nres; i++) {
        if (strcmp(rd_kafka_ConfigResource_name(res[i]), topic)) continue;
        const rd_kafka_ConfigEntry_t **ents = rd_kafka_ConfigResource_configs(res[i], &nent);
        for (size_t k = 0; k < nent && o + 1 < len; k++) {
            if (rd_kafka_ConfigEntry_source(ents[k]) != RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG)
                continue;
            const char *v = rd_kafka_ConfigEntry_value(ents[k]);
            strfmt(buf + o, len - o, "%s%s=%s", o ? "," : "", rd_kafka_ConfigEntry_name(ents[k]),
                   v ? v : "null");
            o += strlen(buf + o);
        }
    }
}

static void topics_print_ids(const char *label, const int32_t *ids, int n)
{
    printf("\t%s: ", label);
    for (int i = 0; i < n; i++)
        printf("%s%d", i ? "," : "", ids[i]);
}

static int topics_part_cmp(const void *a, const void *b)
{
    const rd_kafka_metadata_partition_t *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

/* Fills ids with the selected topics' ids, or leaves it empty: see TopicId at the top. */
static void topics_describe_ids(struct topics_ctx *c, const rd_kafka_metadata_topic_t **sel,
                                size_t n, struct cli_topic_ids *ids)
{
    char err[512];
    if (!n || !c->plaintext) return;
    const char **names = calloc(n, sizeof *names);
    if (!names) return;
    for (size_t i = 0; i < n; i++)
        names[i] = sel[i]->topic;
    int timeout_ms =
        c->timeout_ms < TOPICS_IDS_TIMEOUT_MS_MAX ? c->timeout_ms : TOPICS_IDS_TIMEOUT_MS_MAX;
    cli_topic_ids_fetch(ids, T_VAL("bootstrap-server"), names, n, timeout_ms, err, sizeof err);
    free(names);
}

/* Kafka's replication report options: with any of them set, --describe prints only the
 * partitions that match at least one of them, and no topic header lines. */
static const char *const topics_report_opts[] = {
    "under-replicated-partitions",
    "under-min-isr-partitions",
    "at-min-isr-partitions",
    "unavailable-partitions",
};

static bool topics_reporting(void)
{
    for (size_t i = 0; i < GR_ARRAY_LEN(topics_report_opts); i++)
        if (T_HAS(topics_report_opts[i])) return true;
    return false;
}

/* The partition filters need the topic's min.insync.replicas only for these two. */
static bool topics_reporting_min_isr(void)
{
    return T_HAS("under-min-isr-partitions") || T_HAS("at-min-isr-partitions");
}

/* The topic's effective min.insync.replicas as DescribeConfigs reports it (whatever its source:
 * topic override, broker setting or default), or -1 when ev lacks it or it is not a number. */
static int topics_min_isr(rd_kafka_event_t *ev, const char *topic)
{
    size_t nres = 0, nent = 0;
    int64_t v;
    if (!ev) return -1;
    const rd_kafka_ConfigResource_t **res =
        rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev), &nres);
    for (size_t i = 0; i < nres; i++) {
        if (strcmp(rd_kafka_ConfigResource_name(res[i]), topic)) continue;
        const rd_kafka_ConfigEntry_t **ents = rd_kafka_ConfigResource_configs(res[i], &nent);
        for (size_t k = 0; k < nent; k++) {
            const char *val = rd_kafka_ConfigEntry_value(ents[k]);
            if (strcmp(rd_kafka_ConfigEntry_name(ents[k]), "min.insync.replicas")) continue;
            if (!val || cli_parse_int(val, 0, INT32_MAX, &v)) return -1;
            return (int)v;
        }
    }
    return -1;
}

/* A live broker is one Metadata lists: the controller leaves fenced brokers out. */
static bool topics_broker_live(const struct rd_kafka_metadata *md, int32_t id)
{
    for (int i = 0; i < md->broker_cnt; i++)
        if (md->brokers[i].id == id) return true;
    return false;
}

/* Whether --describe prints partition p: always without a report option, otherwise when it
 * matches any of those given (Kafka ORs them).  min_isr is the topic's min.insync.replicas
 * (-1 unknown; the caller refuses that when a min-isr option is set). */
static bool topics_show_partition(const struct rd_kafka_metadata *md,
                                  const rd_kafka_metadata_partition_t *p, int min_isr)
{
    bool has_leader = p->leader >= 0;
    if (!topics_reporting()) return true;
    if (T_HAS("under-replicated-partitions") && p->isr_cnt < p->replica_cnt) return true;
    if (T_HAS("unavailable-partitions") && (!has_leader || !topics_broker_live(md, p->leader)))
        return true;
    if (T_HAS("under-min-isr-partitions") && (!has_leader || p->isr_cnt < min_isr)) return true;
    if (T_HAS("at-min-isr-partitions") && p->isr_cnt == min_isr) return true;
    return false;
}

static void topics_print_topic(const struct rd_kafka_metadata *md,
                               const rd_kafka_metadata_topic_t *t, const char *configs, int min_isr,
                               const struct cli_topic_ids *ids)
{
    int rf = t->partition_cnt ? t->partitions[0].replica_cnt : 0;
    rd_kafka_metadata_partition_t *parts = t->partitions;
    qsort(parts, (size_t)t->partition_cnt, sizeof *parts, topics_part_cmp);
    const struct gr_uuid *id = cli_topic_ids_find(ids, t->topic);
    char id_str[23] = "";
    if (id) gr_uuid_to_base64(id, id_str);
    if (!topics_reporting())
        printf("Topic: %s\tTopicId: %s\tPartitionCount: %d\tReplicationFactor: %d\tConfigs: %s\n",
               t->topic, id_str, t->partition_cnt, rf, configs);
    for (int i = 0; i < t->partition_cnt; i++) {
        const rd_kafka_metadata_partition_t *p = &parts[i];
        if (!topics_show_partition(md, p, min_isr)) continue;
        printf("\tTopic: %s\tPartition: %d\tLeader: ", t->topic, p->id);
        if (p->leader >= 0)
            printf("%d", p->leader);
        else
            printf("none");
        topics_print_ids("Replicas", p->replicas, p->replica_cnt);
        topics_print_ids("Isr", p->isrs, p->isr_cnt);
        printf("\n");
    }
}

/* The min-isr report options compare against min.insync.replicas, so without it there is no
 * answer: fails (before anything is printed) if a selected topic's value is unknown. */
static int topics_check_min_isr(rd_kafka_event_t *cfg_ev, const rd_kafka_metadata_topic_t **sel,
                                size_t n)
{
    if (!topics_reporting_min_isr()) return 0;
    for (size_t i = 0; i < n; i++)
        if (topics_min_isr(cfg_ev, sel[i]->topic) < 0)
            return topics_fail("Could not describe min.insync.replicas of topic '%s', which "
                               "--under-min-isr-partitions and --at-min-isr-partitions need.",
                               sel[i]->topic);
    return 0;
}

static int topics_describe(struct topics_ctx *c)
{
    const struct rd_kafka_metadata *md;
    const rd_kafka_metadata_topic_t **sel;
    rd_kafka_event_t *cfg_ev;
    struct cli_topic_ids ids;
    size_t n;
    if (topics_select(c, &md, &sel, &n)) return 1;
    /* Configs are printed in the topic header lines, which the report options leave out. */
    bool need_configs = !topics_reporting() || topics_reporting_min_isr();
    cfg_ev = NULL;
    int rc = need_configs ? topics_describe_configs(c, sel, n, &cfg_ev) : 0;
    if (!rc) rc = topics_check_min_isr(cfg_ev, sel, n);
    cli_topic_ids_init(&ids);
    if (!rc && !topics_reporting()) topics_describe_ids(c, sel, n, &ids);
    for (size_t i = 0; !rc && i < n; i++) {
        char configs[8192];
        topics_configs_str(cfg_ev, sel[i]->topic, configs, sizeof configs);
        topics_print_topic(md, sel[i], configs, topics_min_isr(cfg_ev, sel[i]->topic), &ids);
    }
    cli_topic_ids_close(&ids);
    if (cfg_ev) rd_kafka_event_destroy(cfg_ev);
    free(sel);
    rd_kafka_metadata_destroy(md);
    return rc;
}

/* ========================================================================================== */
/* --delete and --alter                                                                       */

static int topics_delete(struct topics_ctx *c)
{
    const struct rd_kafka_metadata *md;
    const rd_kafka_metadata_topic_t **sel;
    size_t n;
    if (topics_select(c, &md, &sel, &n)) return 1;
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++)
        if (topics_is_internal(sel[i]->topic))
            rc = topics_fail("Topic %s is a kafka internal topic and is not allowed to be "
                             "marked for deletion.",
                             sel[i]->topic);
    rd_kafka_DeleteTopic_t **dt = rc || !n ? NULL : calloc(n, sizeof *dt);
    if (!dt) goto done;
    for (size_t i = 0; i < n; i++)
        dt[i] = rd_kafka_DeleteTopic_new(sel[i]->topic);
    rd_kafka_AdminOptions_t *o = topics_admin_options(c, RD_KAFKA_ADMIN_OP_DELETETOPICS);
    rd_kafka_DeleteTopics(c->rk, dt, n, o, c->q);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_DeleteTopic_destroy_array(dt, n);
    free(dt);
    rd_kafka_event_t *ev = topics_admin_wait(c, RD_KAFKA_EVENT_DELETETOPICS_RESULT);
    rc = 1;
    if (ev) {
        size_t rn;
        const rd_kafka_topic_result_t **res =
            rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &rn);
        rc = topics_check_results(res, rn, RD_KAFKA_RESP_ERR_NO_ERROR);
        rd_kafka_event_destroy(ev);
    }
done:
    free(sel);
    rd_kafka_metadata_destroy(md);
    return rc;
}

static int topics_alter_one(struct topics_ctx *c, const char *topic, int parts)
{
    char err[512];
    rd_kafka_NewPartitions_t *np =
        rd_kafka_NewPartitions_new(topic, (size_t)parts, err, sizeof err);
    if (!np) return topics_fail("%s", err);
    rd_kafka_AdminOptions_t *o = topics_admin_options(c, RD_KAFKA_ADMIN_OP_CREATEPARTITIONS);
    rd_kafka_CreatePartitions(c->rk, &np, 1, o, c->q);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_NewPartitions_destroy(np);
    rd_kafka_event_t *ev = topics_admin_wait(c, RD_KAFKA_EVENT_CREATEPARTITIONS_RESULT);
    if (!ev) return 1;
    size_t n;
    const rd_kafka_topic_result_t **res =
        rd_kafka_CreatePartitions_result_topics(rd_kafka_event_CreatePartitions_result(ev), &n);
    int rc = topics_check_results(res, n, RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_event_destroy(ev);
    return rc;
}

static int topics_alter(struct topics_ctx *c)
{
    int parts;
    if (T_HAS("config"))
        return topics_fail("Option \"[config]\" can't be used with option \"[alter]\"; use "
                           "`gregor configs` to change topic configs.");
    if (!T_HAS("partitions"))
        return topics_fail("--partitions is required to alter a topic (only the partition "
                           "count can be altered).");
    if (topics_read_int("partitions", 1, INT32_MAX, "The partitions must be greater than 0",
                        &parts))
        return 1;
    const struct rd_kafka_metadata *md;
    const rd_kafka_metadata_topic_t **sel;
    size_t n;
    if (topics_select(c, &md, &sel, &n)) return 1;
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++)
        rc = topics_alter_one(c, sel[i]->topic, parts);
    free(sel);
    rd_kafka_metadata_destroy(md);
    return rc;
}

/* ========================================================================================== */

/* Kafka's checkInvalidArgs for the options that belong to some actions only: the report
 * options to --describe, --exclude-internal to --list and --describe. */
static int topics_check_invalid_args(void)
{
    static const char *const actions[] = {"alter", "create", "list", "delete", "describe"};
    char msg[160];
    for (size_t i = 0; i < GR_ARRAY_LEN(actions); i++) {
        const char *bad = NULL;
        if (!T_HAS(actions[i])) continue;
        for (size_t k = 0; !bad && k < GR_ARRAY_LEN(topics_report_opts); k++)
            if (strcmp(actions[i], "describe") && T_HAS(topics_report_opts[k]))
                bad = topics_report_opts[k];
        if (!bad && T_HAS("exclude-internal") && strcmp(actions[i], "describe") &&
            strcmp(actions[i], "list"))
            bad = "exclude-internal";
        if (!bad) continue;
        strfmt(msg, sizeof msg, "Option \"[%s]\" can't be used with option \"[%s]\"", bad,
               actions[i]);
        return cli_usage_error(msg, topics_summary, topics_opts, TOPICS_OPTS_N);
    }
    return 0;
}

int cli_topics_main(int argc, char **argv)
{
    char err[256];
    if (cli_parse(topics_opts, TOPICS_OPTS_N, argc, argv, 1, NULL, 0, NULL, err, sizeof err))
        return cli_usage_error(err, topics_summary, topics_opts, TOPICS_OPTS_N);
    if (T_HAS("help") || argc < 2) {
        cli_usage(argc < 2 ? stderr : stdout, topics_summary, topics_opts, TOPICS_OPTS_N);
        return argc < 2;
    }
    int actions =
        T_HAS("create") + T_HAS("list") + T_HAS("describe") + T_HAS("alter") + T_HAS("delete");
    if (actions != 1)
        return cli_usage_error("Command must include exactly one action: --list, --describe, "
                               "--create, --alter or --delete",
                               topics_summary, topics_opts, TOPICS_OPTS_N);
    if (cli_require(topics_opts, TOPICS_OPTS_N, "bootstrap-server", topics_summary)) return 1;
    if (topics_check_invalid_args()) return 1;
    if ((T_HAS("create") || T_HAS("delete") || T_HAS("alter")) &&
        cli_require(topics_opts, TOPICS_OPTS_N, "topic", topics_summary))
        return 1;
    struct topics_ctx c = {0};
    int rc = topics_ctx_open(&c);
    if (!rc) {
        if (T_HAS("create"))
            rc = topics_create(&c);
        else if (T_HAS("list"))
            rc = topics_list(&c);
        else if (T_HAS("describe"))
            rc = topics_describe(&c);
        else if (T_HAS("delete"))
            rc = topics_delete(&c);
        else
            rc = topics_alter(&c);
    }
    topics_ctx_close(&c);
    return rc;
}

/* cli_groups.c — `gregor consumer-groups` (kafka-consumer-groups.sh): --list, --describe,
 * --delete, the flags and the helpers; --reset-offsets and --delete-offsets are in
 * cli_groups_reset.c (the two share cli_groups_int.h).  All through librdkafka 2.0.2's admin API
 * (ListConsumerGroups, DescribeConsumerGroups, ListConsumerGroupOffsets,
 * AlterConsumerGroupOffsets, DeleteGroups, DeleteConsumerGroupOffsets) and ListOffsets
 * (rd_kafka_offsets_for_times with the special timestamps -1 latest / -2 earliest, or a real
 * timestamp) on one consumer-type handle without a group.id.
 *
 * Flags, checks, sentences and tables follow Kafka 3.x's ConsumerGroupCommand:
 *
 *   --list [--state [s1,s2]]            ids one per line, or "GROUP STATE" columns
 *   --describe (--group G... | --all-groups) [--offsets | --members [--verbose] | --state]
 *   --delete (--group G... | --all-groups)
 *   --reset-offsets (--group G... | --all-groups) (--topic T[:p,...]... | --all-topics)
 *       (--to-earliest | --to-latest | --to-current | --to-offset N | --shift-by N |
 *        --to-datetime YYYY-MM-DDTHH:mm:SS.sss | --by-duration PnDTnHnMnS | --from-file F)
 *       [--dry-run | --execute] [--export]
 *   --delete-offsets --group G --topic T[:p,...]...
 *
 * As in Kafka, "Error: ..." lines go to standard output (preceded by an empty line) and the
 * "no active members" / "is rebalancing" notes to standard error; tables are padded to their
 * widest value with Kafka's minimum widths.  Kafka's own row order within a group comes from
 * hash maps; here rows are sorted by topic and partition (and groups by id), which is one of
 * the orders Kafka may print.
 *
 * Differences from Kafka, on purpose: the exit status is 1 whenever an "Error:" line or a usage
 * error is printed (Kafka's tool exits 0 after most of them); argument problems that Kafka only
 * notices after asking the cluster (missing reset scenario or scope, bad --to-datetime,
 * --by-duration, --topic spec or --from-file) are reported before anything is asked; and a
 * partition whose log end offset cannot be listed shows "-" in --describe instead of failing the
 * whole command.  The --describe --state table keeps Kafka 3.x's quirk: its GROUP column is as
 * wide as the coordinator ("host:port (id)", at least 25), the coordinator column 25.
 *
 * librdkafka 2.0.2 hangs in rd_kafka_destroy() or aborts on an assertion when a broker lacks
 * DescribeGroups, DeleteGroups or OffsetDelete (it fails those coordinator requests locally and
 * mishandles its own bookkeeping), so the command first asks the bootstrap server's ApiVersions
 * with our own client (groups_preflight; PLAINTEXT listeners only) and refuses cleanly. */
#include "cli/cli_groups_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto/proto.h"

static const char groups_summary[] =
    "This tool helps to list all consumer groups, describe a consumer group, delete consumer "
    "group info, or reset consumer group offsets.";

struct cli_opt groups_opts[] = {
    CLI_OPT("all-groups", NULL, CLI_OPT_FLAG, NULL, "Apply to all consumer groups."),
    CLI_OPT("all-topics", NULL, CLI_OPT_FLAG, NULL,
            "Consider all topics assigned to a group in the `reset-offsets` process."),
    CLI_OPT("bootstrap-server", NULL, CLI_OPT_VALUE, "String: server to connect to",
            "REQUIRED: The server(s) to connect to."),
    CLI_OPT("by-duration", NULL, CLI_OPT_VALUE, "String: duration",
            "Reset offsets to offset by duration from current timestamp. Format: 'PnDTnHnMnS'"),
    CLI_OPT("command-config", NULL, CLI_OPT_VALUE, "String: command config property file",
            "Property file containing configs to be passed to the admin client (librdkafka "
            "property names)."),
    CLI_OPT("delete", NULL, CLI_OPT_FLAG, NULL,
            "Pass in groups to delete topic partition offsets and ownership information over the "
            "entire consumer group. For instance --group g1 --group g2"),
    CLI_OPT("delete-offsets", NULL, CLI_OPT_FLAG, NULL,
            "Delete offsets of consumer group. Supports one consumer group at the time, and "
            "multiple topics."),
    CLI_OPT("describe", NULL, CLI_OPT_FLAG, NULL,
            "Describe consumer group and list offset lag (number of messages not yet processed) "
            "related to given group."),
    CLI_OPT("dry-run", NULL, CLI_OPT_FLAG, NULL,
            "Only show results without executing changes on Consumer Groups. Supported "
            "operations: reset-offsets."),
    CLI_OPT("execute", NULL, CLI_OPT_FLAG, NULL,
            "Execute operation. Supported operations: reset-offsets."),
    CLI_OPT("export", NULL, CLI_OPT_FLAG, NULL,
            "Export operation execution to a CSV file. Supported operations: reset-offsets."),
    CLI_OPT("from-file", NULL, CLI_OPT_VALUE, "String: path to CSV file",
            "Reset offsets to values defined in CSV file."),
    CLI_OPT("group", NULL, CLI_OPT_MULTI, "String: consumer group",
            "The consumer group we wish to act on."),
    CLI_OPT("help", NULL, CLI_OPT_FLAG, NULL, "Print usage information."),
    CLI_OPT("list", NULL, CLI_OPT_FLAG, NULL, "List all consumer groups."),
    CLI_OPT("members", NULL, CLI_OPT_FLAG, NULL,
            "Describe members of the group. This option may be used with '--describe' and "
            "'--bootstrap-server' options only.\nExample: --bootstrap-server localhost:9092 "
            "--describe --group group1 --members"),
    CLI_OPT("offsets", NULL, CLI_OPT_FLAG, NULL,
            "Describe the group and list all topic partitions in the group along with their "
            "offset lag. This is the default sub-action of and may be used with '--describe' and "
            "'--bootstrap-server' options only.\nExample: --bootstrap-server localhost:9092 "
            "--describe --group group1 --offsets"),
    CLI_OPT("reset-offsets", NULL, CLI_OPT_FLAG, NULL,
            "Reset offsets of consumer group. Supports one consumer group at the time, and "
            "instances should be inactive\nHas 2 execution options: --dry-run (the default) to "
            "plan which offsets to reset, and --execute to update the offsets. Additionally, the "
            "--export option is used to export the results to a CSV format.\nYou must choose one "
            "of the following reset specifications: --to-datetime, --by-duration, --to-earliest, "
            "--to-latest, --shift-by, --from-file, --to-current, --to-offset.\nTo define the "
            "scope use --all-topics or --topic. One scope must be specified unless you use "
            "'--from-file'."),
    CLI_OPT("shift-by", NULL, CLI_OPT_VALUE, "Long: number-of-offsets",
            "Reset offsets shifting current offset by 'n', where 'n' can be positive or "
            "negative."),
    CLI_OPT("state", NULL, CLI_OPT_VALUE, NULL,
            "[String, optional] When specified with '--describe', includes the state of the "
            "group.\nExample: --bootstrap-server localhost:9092 --describe --group group1 "
            "--state\nWhen specified with '--list', it displays the state of all groups. It can "
            "also be used to list groups with specific states.\nExample: --bootstrap-server "
            "localhost:9092 --list --state stable,empty\nThis option may be used with "
            "'--describe', '--list' and '--bootstrap-server' options only."),
    CLI_OPT("timeout", NULL, CLI_OPT_VALUE, "Long: timeout (ms)",
            "The timeout that can be set for some use cases. For example, it can be used when "
            "describing the group to specify the maximum amount of time in milliseconds to wait "
            "before the group stabilizes (when the group is just created, or is going through "
            "some changes). (default: 5000)"),
    CLI_OPT("to-current", NULL, CLI_OPT_FLAG, NULL, "Reset offsets to current offset."),
    CLI_OPT("to-datetime", NULL, CLI_OPT_VALUE, "String: datetime",
            "Reset offsets to offset from datetime. Format: 'YYYY-MM-DDTHH:mm:SS.sss'"),
    CLI_OPT("to-earliest", NULL, CLI_OPT_FLAG, NULL, "Reset offsets to earliest offset."),
    CLI_OPT("to-latest", NULL, CLI_OPT_FLAG, NULL, "Reset offsets to latest offset."),
    CLI_OPT("to-offset", NULL, CLI_OPT_VALUE, "Long: offset",
            "Reset offsets to a specific offset."),
    CLI_OPT("topic", NULL, CLI_OPT_MULTI, "String: topic",
            "The topic whose consumer group information should be deleted or topic whose should "
            "be included in the reset offset process. In `reset-offsets` case, partitions can be "
            "specified using this format: `topic1:0,1,2`, where 0,1,2 are the partition to be "
            "included in the process. Reset-offsets also supports multiple topic inputs."),
    CLI_OPT("verbose", NULL, CLI_OPT_FLAG, NULL,
            "Provide additional information, if any, when describing the group. This option may "
            "be used with '--offsets'/'--members'/'--state' and '--bootstrap-server' options "
            "only.\nExample: --bootstrap-server localhost:9092 --describe --group group1 "
            "--members --verbose"),
};
const size_t groups_opts_n = GR_ARRAY_LEN(groups_opts);

/* The reset scenarios, in the order Kafka lists them. */
static const char *const groups_scenarios[] = {
    "to-offset",   "shift-by",  "to-datetime", "by-duration",
    "to-earliest", "to-latest", "to-current",  "from-file",
};

/* ========================================================================================== */
/* Messages                                                                                   */

/* Kafka's printError: an empty line, then "Error: msg", on standard output. */
void groups_error(struct groups_ctx *x, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("\nError: ", stdout);
    vprintf(fmt, ap);
    fputc('\n', stdout);
    va_end(ap);
    fflush(stdout);
    x->failed = true;
}

/* A note on standard error, after what is already on standard output. */
void groups_note(const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* What Kafka prints for a failure of the cluster: the command stops. */
int groups_fail(struct groups_ctx *x, const char *fmt, ...)
{
    char msg[GROUPS_MSG_BYTES];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    groups_error(x, "Executing consumer group command failed due to %s", msg);
    return 1;
}

/* Kafka's printUsageAndDie: the sentence and the usage on standard error. */
int groups_usage_die(const char *fmt, ...)
{
    char msg[GROUPS_MSG_BYTES];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fflush(stdout);
    return cli_usage_error(msg, groups_summary, groups_opts, groups_opts_n);
}

/* The Java exception and message Kafka's admin client reports for the broker errors these
 * commands meet. */
static const struct {
    rd_kafka_resp_err_t err;
    const char *exception;
    const char *message;
} groups_kafka_errors[] = {
    {RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, "UnknownTopicOrPartitionException",
     "This server does not host this topic-partition."},
    {RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS, "CoordinatorLoadInProgressException",
     "The coordinator is loading and hence can't process requests."},
    {RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE, "CoordinatorNotAvailableException",
     "The coordinator is not available."},
    {RD_KAFKA_RESP_ERR_NOT_COORDINATOR, "NotCoordinatorException",
     "This is not the correct coordinator."},
    {RD_KAFKA_RESP_ERR_INVALID_GROUP_ID, "InvalidGroupIdException",
     "The configured groupId is invalid."},
    {RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID, "UnknownMemberIdException",
     "The coordinator is not aware of this member."},
    {RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS, "RebalanceInProgressException",
     "The group is rebalancing, so a rejoin is needed."},
    {RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, "TopicAuthorizationException",
     "Topic authorization failed."},
    {RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED, "GroupAuthorizationException",
     "Group authorization failed."},
    {RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION, "UnsupportedVersionException",
     "The version of API is not supported."},
    {RD_KAFKA_RESP_ERR_NON_EMPTY_GROUP, "GroupNotEmptyException", "The group is not empty."},
    {RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND, "GroupIdNotFoundException",
     "The group id does not exist."},
    {RD_KAFKA_RESP_ERR_GROUP_SUBSCRIBED_TO_TOPIC, "GroupSubscribedToTopicException",
     "The consumer group is actively subscribed to the topic"},
};

/* Kafka's exception.getMessage() for err: its sentence, or librdkafka's description. */
const char *groups_err_message(rd_kafka_resp_err_t err, const char *fallback)
{
    for (size_t i = 0; i < GR_ARRAY_LEN(groups_kafka_errors); i++)
        if (groups_kafka_errors[i].err == err) return groups_kafka_errors[i].message;
    return fallback && *fallback ? fallback : rd_kafka_err2str(err);
}

/* Kafka's exception.toString(): "org.apache.kafka.common.errors.XException: message". */
const char *groups_err_text(rd_kafka_resp_err_t err, const char *fallback, char *buf, size_t len)
{
    for (size_t i = 0; i < GR_ARRAY_LEN(groups_kafka_errors); i++)
        if (groups_kafka_errors[i].err == err) {
            strfmt(buf, len, "org.apache.kafka.common.errors.%s: %s",
                   groups_kafka_errors[i].exception, groups_kafka_errors[i].message);
            return buf;
        }
    strfmt(buf, len, "%s", fallback && *fallback ? fallback : rd_kafka_err2str(err));
    return buf;
}

/* ========================================================================================== */
/* Client plumbing                                                                            */

/* Notes an error code of an admin result.  librdkafka 2.0.2 mishandles the coordinator
 * requests it fails locally because the broker lacks the API (__UNSUPPORTED_FEATURE:
 * DescribeGroups, DeleteGroups, OffsetDelete): rd_kafka_destroy() then hangs forever
 * (DescribeConsumerGroups) or aborts on an assertion (DeleteGroups).  After one, the handle is
 * left for the exit to reclaim.  Returns e. */
rd_kafka_resp_err_t groups_seen(struct groups_ctx *x, rd_kafka_resp_err_t e)
{
    if (e == RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE) x->leak_rk = true;
    return e;
}

static int groups_ctx_open(struct groups_ctx *x)
{
    char err[512];
    const char *cfg = G_VAL("command-config");
    x->plaintext = true;
    if (cfg) {
        struct props p;
        props_init(&p);
        int rc = props_load(&p, cfg, err, sizeof err);
        const char *sp = rc ? NULL : props_get(&p, "security.protocol");
        if (sp && strcasecmp(sp, "plaintext")) x->plaintext = false;
        props_close(&p);
        if (rc) return groups_fail(x, "%s", err);
    }
    /* Kafka's admin client lists offsets read_uncommitted: the log end offset is the high
     * watermark, not the last stable offset. */
    static const char *const defaults[] = {"isolation.level=read_uncommitted"};
    rd_kafka_conf_t *conf = cli_conf_new(G_VAL("bootstrap-server"), defaults,
                                         GR_ARRAY_LEN(defaults), &cfg, 1, NULL, 0, err, sizeof err);
    if (!conf) return groups_fail(x, "%s", err);
    /* A consumer-type handle: it never asks for topics to be auto-created, and its ListOffsets
     * honour isolation.level.  It has no group.id and never joins a group. */
    x->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!x->rk) {
        rd_kafka_conf_destroy(conf);
        return groups_fail(x, "%s", err);
    }
    x->q = rd_kafka_queue_new(x->rk);
    return 0;
}

static void groups_ctx_close(struct groups_ctx *x)
{
    if (x->md) rd_kafka_metadata_destroy(x->md);
    if (x->leak_rk) return; /* see groups_seen */
    if (x->q) rd_kafka_queue_destroy(x->q);
    if (x->rk) rd_kafka_destroy(x->rk);
    for (size_t i = 0; i < x->plan_n; i++) {
        free(x->plan[i].group);
        free(x->plan[i].topic);
    }
    free(x->plan);
}

rd_kafka_AdminOptions_t *groups_admin_options(struct groups_ctx *x, rd_kafka_admin_op_t op)
{
    char err[256];
    rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(x->rk, op);
    rd_kafka_AdminOptions_set_request_timeout(o, x->timeout_ms, err, sizeof err);
    return o;
}

/* A hint for failures that mean "the cluster did not answer". */
const char *groups_hint(rd_kafka_resp_err_t e)
{
    if (e == RD_KAFKA_RESP_ERR__TIMED_OUT || e == RD_KAFKA_RESP_ERR__TRANSPORT ||
        e == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || e == RD_KAFKA_RESP_ERR__RESOLVE)
        return " (check --bootstrap-server and that the cluster is up; --timeout sets how long to "
               "wait)";
    if (e == RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE || e == RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION)
        return " (the broker does not support the request this command needs: ListGroups, "
               "DescribeGroups, DeleteGroups or OffsetDelete)";
    return "";
}

/* Waits for the result of one admin call named call (Kafka's name for it).  NULL after
 * printing the failure. */
rd_kafka_event_t *groups_admin_wait(struct groups_ctx *x, rd_kafka_event_type_t type,
                                    const char *call)
{
    rd_kafka_event_t *ev = rd_kafka_queue_poll(x->q, x->timeout_ms + GROUPS_POLL_SLACK_MS);
    if (!ev) {
        groups_fail(x, "Timed out waiting for a node assignment. Call: %s%s", call,
                    groups_hint(RD_KAFKA_RESP_ERR__TIMED_OUT));
        return NULL;
    }
    rd_kafka_resp_err_t e = rd_kafka_event_error(ev);
    if (rd_kafka_event_type(ev) != type || e) {
        const char *s = rd_kafka_event_error_string(ev);
        groups_fail(x, "%s%s", s && *s ? s : "unexpected admin result", groups_hint(e));
        rd_kafka_event_destroy(ev);
        return NULL;
    }
    return ev;
}

/* Checks with ApiVersions, before librdkafka is asked anything, that the bootstrap server
 * supports the group APIs the command needs: librdkafka 2.0.2 fails those requests locally
 * when the broker lacks them, and then hangs or aborts (see groups_seen).  Best effort: it is
 * skipped on a TLS/SASL listener, and when the server cannot be reached librdkafka reports.
 * 0, or 1 after printing. */
static int groups_preflight(struct groups_ctx *x)
{
    static const struct {
        int16_t key;
        const char *name;
    } apis[] = {
        {KAFKA_API_LIST_GROUPS, "ListGroups"},     {KAFKA_API_DESCRIBE_GROUPS, "DescribeGroups"},
        {KAFKA_API_OFFSET_FETCH, "OffsetFetch"},   {KAFKA_API_OFFSET_COMMIT, "OffsetCommit"},
        {KAFKA_API_DELETE_GROUPS, "DeleteGroups"}, {KAFKA_API_OFFSET_DELETE, "OffsetDelete"},
    };
    bool need[GR_ARRAY_LEN(apis)] = {
        G_HAS("list") || G_HAS("all-groups"),
        G_HAS("describe") || G_HAS("reset-offsets"),
        (G_HAS("describe") && !G_HAS("members") && !G_HAS("state")) || G_HAS("reset-offsets"),
        G_HAS("reset-offsets") && G_HAS("execute"),
        G_HAS("delete"),
        G_HAS("delete-offsets"),
    };
    if (!x->plaintext) return 0;
    char err[512];
    struct cli_kafka_client *c;
    if (cli_kafka_client_new(&c, G_VAL("bootstrap-server"), GROUPS_CLIENT_ID,
                             GR_MIN(x->timeout_ms, GROUPS_PREFLIGHT_TIMEOUT_MS_MAX), err,
                             sizeof err))
        return 0;
    int rc = 0;
    for (size_t i = 0; !rc && i < GR_ARRAY_LEN(apis); i++)
        if (need[i] && cli_kafka_client_version(c, apis[i].key, 0, INT16_MAX) < 0)
            rc = groups_fail(x,
                             "org.apache.kafka.common.errors.UnsupportedVersionException: The "
                             "broker does not support %s (API key %d), which this command needs",
                             apis[i].name, apis[i].key);
    cli_kafka_client_free(c);
    return rc;
}

/* Metadata of every topic (which never creates one), fetched once.  0 or 1 after printing. */
int groups_metadata(struct groups_ctx *x)
{
    if (x->md) return 0;
    rd_kafka_resp_err_t e = rd_kafka_metadata(x->rk, 1, NULL, &x->md, x->timeout_ms);
    if (e) {
        x->md = NULL;
        return groups_fail(x, "%s%s", rd_kafka_err2str(e), groups_hint(e));
    }
    return 0;
}

/* ========================================================================================== */
/* Partition lists                                                                            */

static int groups_tp_cmp(const void *a, const void *b, void *opaque)
{
    const rd_kafka_topic_partition_t *x = a, *y = b;
    int c = strcmp(x->topic, y->topic);
    return c ? c : (x->partition > y->partition) - (x->partition < y->partition);
}

/* Sorts by topic and partition and drops repeats (the first one stays). */
void groups_tp_sort_unique(rd_kafka_topic_partition_list_t *l)
{
    rd_kafka_topic_partition_list_sort(l, groups_tp_cmp, NULL);
    for (int i = l->cnt - 1; i > 0; i--)
        if (!groups_tp_cmp(&l->elems[i], &l->elems[i - 1], NULL))
            rd_kafka_topic_partition_list_del_by_idx(l, i);
}

/* Asks ListOffsets for every partition of l at ts (GROUPS_TS_LATEST, GROUPS_TS_EARLIEST or a
 * timestamp): each element's offset becomes the answer (-1 for a timestamp past the last
 * record), or RD_KAFKA_OFFSET_INVALID with err set when that partition could not be asked.
 * 0, or 1 after printing a failure of the whole request. */
int groups_list_offsets(struct groups_ctx *x, rd_kafka_topic_partition_list_t *l, int64_t ts)
{
    if (!l->cnt) return 0;
    for (int i = 0; i < l->cnt; i++) {
        l->elems[i].offset = ts;
        l->elems[i].err = RD_KAFKA_RESP_ERR_NO_ERROR;
    }
    rd_kafka_resp_err_t e = rd_kafka_offsets_for_times(x->rk, l, x->timeout_ms);
    if (e == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION || e == RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE)
        e = RD_KAFKA_RESP_ERR_NO_ERROR; /* per partition below */
    if (e) return groups_fail(x, "%s%s", rd_kafka_err2str(e), groups_hint(e));
    for (int i = 0; i < l->cnt; i++)
        if (l->elems[i].err || l->elems[i].offset == ts) {
            /* an offset still equal to the special timestamp was never answered */
            if (!l->elems[i].err) l->elems[i].err = RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION;
            l->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
        }
    return 0;
}

/* A copy of l with the offsets of ListOffsets at ts; see groups_list_offsets.  NULL after
 * printing. */
rd_kafka_topic_partition_list_t *
groups_offsets_at(struct groups_ctx *x, const rd_kafka_topic_partition_list_t *l, int64_t ts)
{
    rd_kafka_topic_partition_list_t *c = rd_kafka_topic_partition_list_copy(l);
    if (groups_list_offsets(x, c, ts)) {
        rd_kafka_topic_partition_list_destroy(c);
        return NULL;
    }
    return c;
}

/* The offset of topic/partition in l, or RD_KAFKA_OFFSET_INVALID. */
int64_t groups_tp_offset(const rd_kafka_topic_partition_list_t *l, const char *topic,
                         int32_t partition)
{
    rd_kafka_topic_partition_t *p =
        rd_kafka_topic_partition_list_find((rd_kafka_topic_partition_list_t *)l, topic, partition);
    return p && !p->err ? p->offset : RD_KAFKA_OFFSET_INVALID;
}

/* ========================================================================================== */
/* Groups                                                                                     */

static int groups_str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ListConsumerGroups, optionally filtered by state.  *ev holds the listings (destroy it);
 * *out is allocated (free it), sorted by group id.  0 or 1 after printing. */
static int groups_list_listings(struct groups_ctx *x, const rd_kafka_consumer_group_state_t *states,
                                size_t states_n, rd_kafka_event_t **ev,
                                const rd_kafka_ConsumerGroupListing_t ***out, size_t *out_n)
{
    rd_kafka_AdminOptions_t *o = groups_admin_options(x, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPS);
    if (states_n) {
        rd_kafka_error_t *e =
            rd_kafka_AdminOptions_set_match_consumer_group_states(o, states, states_n);
        if (e) {
            groups_fail(x, "%s", rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
            rd_kafka_AdminOptions_destroy(o);
            return 1;
        }
    }
    rd_kafka_ListConsumerGroups(x->rk, o, x->q);
    rd_kafka_AdminOptions_destroy(o);
    *ev = groups_admin_wait(x, RD_KAFKA_EVENT_LISTCONSUMERGROUPS_RESULT, "listConsumerGroups");
    if (!*ev) return 1;
    const rd_kafka_ListConsumerGroups_result_t *r = rd_kafka_event_ListConsumerGroups_result(*ev);
    size_t errs_n = 0, n = 0;
    const rd_kafka_error_t **errs = rd_kafka_ListConsumerGroups_result_errors(r, &errs_n);
    if (errs_n) {
        /* Kafka's listConsumerGroups().all() fails when any broker did */
        rd_kafka_resp_err_t c = groups_seen(x, rd_kafka_error_code(errs[0]));
        groups_fail(x, "%s%s", rd_kafka_error_string(errs[0]), groups_hint(c));
        rd_kafka_event_destroy(*ev);
        *ev = NULL;
        return 1;
    }
    const rd_kafka_ConsumerGroupListing_t **valid = rd_kafka_ListConsumerGroups_result_valid(r, &n);
    *out = calloc(n + 1, sizeof **out);
    if (!*out) {
        rd_kafka_event_destroy(*ev);
        *ev = NULL;
        return groups_fail(x, "out of memory");
    }
    if (n) memcpy(*out, valid, n * sizeof **out); /* valid is NULL when there are none */
    *out_n = n;
    /* by group id (insertion sort: the listings are opaque) */
    for (size_t i = 1; i < n; i++)
        for (size_t k = i; k > 0 && strcmp(rd_kafka_ConsumerGroupListing_group_id((*out)[k - 1]),
                                           rd_kafka_ConsumerGroupListing_group_id((*out)[k])) > 0;
             k--) {
            const rd_kafka_ConsumerGroupListing_t *t = (*out)[k];
            (*out)[k] = (*out)[k - 1];
            (*out)[k - 1] = t;
        }
    return 0;
}

/* The group ids the command acts on: --all-groups lists them; otherwise --group's values,
 * repeats dropped; sorted when sort is set (Kafka describes in id order).  *ids is allocated,
 * the strings are copies.  0 or 1 after printing. */
int groups_ids(struct groups_ctx *x, bool sort, char ***ids, size_t *n)
{
    *ids = NULL;
    *n = 0;
    if (G_HAS("all-groups")) {
        rd_kafka_event_t *ev;
        const rd_kafka_ConsumerGroupListing_t **l;
        size_t ln;
        if (groups_list_listings(x, NULL, 0, &ev, &l, &ln)) return 1;
        *ids = calloc(ln + 1, sizeof **ids);
        for (size_t i = 0; *ids && i < ln; i++) {
            (*ids)[i] = strdup(rd_kafka_ConsumerGroupListing_group_id(l[i]));
            if (!(*ids)[i]) break;
            (*n)++;
        }
        free(l);
        rd_kafka_event_destroy(ev);
        if (!*ids || *n != ln) return groups_fail(x, "out of memory");
        return 0;
    }
    const struct cli_opt *g = cli_opt(groups_opts, groups_opts_n, "group");
    *ids = calloc(g->values_n + 1, sizeof **ids);
    if (!*ids) return groups_fail(x, "out of memory");
    for (size_t i = 0; i < g->values_n; i++) {
        bool seen = false;
        for (size_t k = 0; k < *n && !seen; k++)
            seen = !strcmp((*ids)[k], g->values[i]);
        if (seen) continue;
        if (!((*ids)[*n] = strdup(g->values[i]))) return groups_fail(x, "out of memory");
        (*n)++;
    }
    if (sort) qsort(*ids, *n, sizeof **ids, groups_str_cmp);
    return 0;
}

void groups_ids_free(char **ids, size_t n)
{
    for (size_t i = 0; ids && i < n; i++)
        free(ids[i]);
    free(ids);
}

/* DescribeConsumerGroups of ids.  (*descs)[i] is the description of ids[i] (allocated array;
 * the descriptions live in *ev).  A failure for any group fails the command, as in Kafka,
 * except GROUP_ID_NOT_FOUND, which groups_state() reports as Dead.  0 or 1 after printing. */
int groups_describe(struct groups_ctx *x, char **ids, size_t n, rd_kafka_event_t **ev,
                    const rd_kafka_ConsumerGroupDescription_t ***descs)
{
    *ev = NULL;
    *descs = calloc(n + 1, sizeof **descs);
    if (!*descs) return groups_fail(x, "out of memory");
    if (!n) return 0;
    rd_kafka_AdminOptions_t *o = groups_admin_options(x, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS);
    rd_kafka_DescribeConsumerGroups(x->rk, (const char **)ids, n, o, x->q);
    rd_kafka_AdminOptions_destroy(o);
    *ev = groups_admin_wait(x, RD_KAFKA_EVENT_DESCRIBECONSUMERGROUPS_RESULT,
                            "describeConsumerGroups");
    if (!*ev) return 1;
    size_t rn = 0;
    const rd_kafka_ConsumerGroupDescription_t **r = rd_kafka_DescribeConsumerGroups_result_groups(
        rd_kafka_event_DescribeConsumerGroups_result(*ev), &rn);
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < rn && !(*descs)[i]; k++)
            if (!strcmp(rd_kafka_ConsumerGroupDescription_group_id(r[k]), ids[i]))
                (*descs)[i] = r[k];
        if (!(*descs)[i])
            return groups_fail(x, "the cluster sent no description of group '%s'", ids[i]);
        const rd_kafka_error_t *e = rd_kafka_ConsumerGroupDescription_error((*descs)[i]);
        if (e && groups_seen(x, rd_kafka_error_code(e)) != RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND) {
            char buf[GROUPS_MSG_BYTES];
            rd_kafka_resp_err_t c = rd_kafka_error_code(e);
            return groups_fail(x, "%s%s",
                               groups_err_text(c, rd_kafka_error_string(e), buf, sizeof buf),
                               groups_hint(c));
        }
    }
    return 0;
}

rd_kafka_consumer_group_state_t groups_state(const rd_kafka_ConsumerGroupDescription_t *d)
{
    if (rd_kafka_ConsumerGroupDescription_error(d)) return RD_KAFKA_CONSUMER_GROUP_STATE_DEAD;
    return rd_kafka_ConsumerGroupDescription_state(d);
}

/* Kafka's ConsumerGroupState names. */
const char *groups_state_name(rd_kafka_consumer_group_state_t s)
{
    static const char *const names[] = {
        "Unknown", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead", "Empty"};
    return (size_t)s < GR_ARRAY_LEN(names) ? names[s] : "Unknown";
}

/* The group's committed offsets (ListConsumerGroupOffsets of every partition), sorted; a
 * group that does not exist has none.  NULL after printing. */
rd_kafka_topic_partition_list_t *groups_committed(struct groups_ctx *x, const char *group)
{
    rd_kafka_ListConsumerGroupOffsets_t *req = rd_kafka_ListConsumerGroupOffsets_new(group, NULL);
    rd_kafka_AdminOptions_t *o =
        groups_admin_options(x, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS);
    rd_kafka_ListConsumerGroupOffsets(x->rk, &req, 1, o, x->q);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_ListConsumerGroupOffsets_destroy(req);
    rd_kafka_event_t *ev = groups_admin_wait(x, RD_KAFKA_EVENT_LISTCONSUMERGROUPOFFSETS_RESULT,
                                             "listConsumerGroupOffsets");
    if (!ev) return NULL;
    size_t n = 0;
    const rd_kafka_group_result_t **gr = rd_kafka_ListConsumerGroupOffsets_result_groups(
        rd_kafka_event_ListConsumerGroupOffsets_result(ev), &n);
    rd_kafka_topic_partition_list_t *out = rd_kafka_topic_partition_list_new(0);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(rd_kafka_group_result_name(gr[i]), group)) continue;
        const rd_kafka_error_t *e = rd_kafka_group_result_error(gr[i]);
        if (e && groups_seen(x, rd_kafka_error_code(e)) != RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND) {
            char buf[GROUPS_MSG_BYTES];
            rd_kafka_resp_err_t c = rd_kafka_error_code(e);
            groups_fail(x, "%s%s", groups_err_text(c, rd_kafka_error_string(e), buf, sizeof buf),
                        groups_hint(c));
            rd_kafka_topic_partition_list_destroy(out);
            rd_kafka_event_destroy(ev);
            return NULL;
        }
        const rd_kafka_topic_partition_list_t *p = rd_kafka_group_result_partitions(gr[i]);
        for (int k = 0; p && k < p->cnt; k++)
            if (!p->elems[k].err && p->elems[k].offset >= 0)
                rd_kafka_topic_partition_list_add(out, p->elems[k].topic, p->elems[k].partition)
                    ->offset = p->elems[k].offset;
    }
    rd_kafka_event_destroy(ev);
    groups_tp_sort_unique(out);
    return out;
}

/* ========================================================================================== */
/* --list                                                                                     */

/* Kafka's consumerGroupStatesFromString: comma-separated, case-insensitive, trimmed. */
static int groups_parse_states(const char *v, rd_kafka_consumer_group_state_t *out, size_t *n)
{
    *n = 0;
    const char *p = v;
    while (*p) {
        size_t len = strcspn(p, ",");
        const char *s = p;
        size_t sl = len;
        while (sl && (unsigned char)*s <= ' ')
            s++, sl--;
        while (sl && (unsigned char)s[sl - 1] <= ' ')
            sl--;
        int found = -1;
        for (int st = RD_KAFKA_CONSUMER_GROUP_STATE_PREPARING_REBALANCE;
             st < RD_KAFKA_CONSUMER_GROUP_STATE__CNT && found < 0; st++) {
            const char *name = groups_state_name((rd_kafka_consumer_group_state_t)st);
            if (strlen(name) == sl && !strncasecmp(name, s, sl)) found = st;
        }
        if (found < 0)
            return groups_usage_die("Invalid state list '%s'. Valid states are: "
                                    "PreparingRebalance, CompletingRebalance, Stable, Dead, Empty",
                                    v);
        bool dup = false;
        for (size_t i = 0; i < *n; i++)
            dup = dup || out[i] == (rd_kafka_consumer_group_state_t)found;
        if (!dup) out[(*n)++] = (rd_kafka_consumer_group_state_t)found;
        p += len;
        if (*p == ',') p++;
    }
    return 0;
}

static int groups_list(struct groups_ctx *x)
{
    rd_kafka_consumer_group_state_t states[RD_KAFKA_CONSUMER_GROUP_STATE__CNT];
    size_t states_n = 0;
    const char *sv = G_VAL("state");
    if (sv && *sv && groups_parse_states(sv, states, &states_n)) return 1;
    rd_kafka_event_t *ev;
    const rd_kafka_ConsumerGroupListing_t **l;
    size_t n;
    if (groups_list_listings(x, states, states_n, &ev, &l, &n)) return 1;
    if (!G_HAS("state")) {
        for (size_t i = 0; i < n; i++)
            printf("%s\n", rd_kafka_ConsumerGroupListing_group_id(l[i]));
    } else {
        int w = 15;
        for (size_t i = 0; i < n; i++)
            w = GR_MAX(w, (int)strlen(rd_kafka_ConsumerGroupListing_group_id(l[i])));
        printf("%-*s %s\n", w, "GROUP", "STATE");
        for (size_t i = 0; i < n; i++)
            printf("%-*s %s\n", w, rd_kafka_ConsumerGroupListing_group_id(l[i]),
                   groups_state_name(rd_kafka_ConsumerGroupListing_state(l[i])));
    }
    free(l);
    rd_kafka_event_destroy(ev);
    return 0;
}

/* ========================================================================================== */
/* --describe                                                                                 */

/* Kafka's shouldPrintMemberState: the notes for the state, and whether a table follows.
 * rows < 0: the group could not be described at all. */
static int groups_should_print(struct groups_ctx *x, const char *group,
                               rd_kafka_consumer_group_state_t st, long rows, bool *print)
{
    *print = false;
    if (rows < 0) {
        groups_error(x, "The consumer group '%s' does not exist.", group);
        return 0;
    }
    switch (st) {
    case RD_KAFKA_CONSUMER_GROUP_STATE_DEAD:
        groups_error(x, "Consumer group '%s' does not exist.", group);
        return 0;
    case RD_KAFKA_CONSUMER_GROUP_STATE_EMPTY:
        groups_note("\nConsumer group '%s' has no active members.", group);
        break;
    case RD_KAFKA_CONSUMER_GROUP_STATE_PREPARING_REBALANCE:
    case RD_KAFKA_CONSUMER_GROUP_STATE_COMPLETING_REBALANCE:
        groups_note("\nWarning: Consumer group '%s' is rebalancing.", group);
        break;
    case RD_KAFKA_CONSUMER_GROUP_STATE_STABLE:
        break;
    default:
        return groups_fail(x, "Expected a valid consumer group state, but found '%s'.",
                           groups_state_name(st));
    }
    *print = rows > 0;
    return 0;
}

/* One row of the offsets table. */
struct groups_row {
    const char *topic;
    int32_t partition;
    int64_t offset; /* committed, or < 0 */
    int64_t end;    /* log end, or < 0 when unknown */
    const char *consumer_id, *host, *client_id;
};

struct groups_member_ref {
    const rd_kafka_MemberDescription_t *m;
    size_t idx;
    int parts;
};

/* Members with more partitions first; ties keep the order the coordinator sent. */
static int groups_member_cmp(const void *a, const void *b)
{
    const struct groups_member_ref *x = a, *y = b;
    if (x->parts != y->parts) return x->parts > y->parts ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

static const rd_kafka_topic_partition_list_t *
groups_member_parts(const rd_kafka_MemberDescription_t *m)
{
    const rd_kafka_MemberAssignment_t *a = rd_kafka_MemberDescription_assignment(m);
    return a ? rd_kafka_MemberAssignment_partitions(a) : NULL;
}

static const char *groups_s(const char *s)
{
    return s ? s : "";
}

/* Prints one group's offsets table (Kafka's collectGroupsOffsets + printOffsets). */
static int groups_describe_offsets_one(struct groups_ctx *x, const char *group,
                                       const rd_kafka_ConsumerGroupDescription_t *d)
{
    rd_kafka_topic_partition_list_t *committed = groups_committed(x, group);
    if (!committed) return 1;
    size_t mn = rd_kafka_ConsumerGroupDescription_member_count(d);
    struct groups_member_ref *refs = calloc(mn + 1, sizeof *refs);
    size_t rows_max = (size_t)committed->cnt;
    for (size_t i = 0; refs && i < mn; i++) {
        refs[i].m = rd_kafka_ConsumerGroupDescription_member(d, i);
        refs[i].idx = i;
        const rd_kafka_topic_partition_list_t *p = groups_member_parts(refs[i].m);
        refs[i].parts = p ? p->cnt : 0;
        rows_max += (size_t)refs[i].parts;
    }
    struct groups_row *rows = calloc(rows_max + 1, sizeof *rows);
    rd_kafka_topic_partition_list_t *assigned = rd_kafka_topic_partition_list_new(0);
    if (!refs || !rows) {
        free(refs);
        free(rows);
        rd_kafka_topic_partition_list_destroy(assigned);
        rd_kafka_topic_partition_list_destroy(committed);
        return groups_fail(x, "out of memory");
    }
    qsort(refs, mn, sizeof *refs, groups_member_cmp);
    size_t n = 0;
    /* members with an assignment, their partitions in order; members without one have no row */
    for (size_t i = 0; i < mn; i++) {
        const rd_kafka_topic_partition_list_t *p = groups_member_parts(refs[i].m);
        if (!p || !p->cnt) continue;
        rd_kafka_topic_partition_list_t *own = rd_kafka_topic_partition_list_copy(p);
        groups_tp_sort_unique(own);
        for (int k = 0; k < own->cnt; k++) {
            rd_kafka_topic_partition_t *tp = &own->elems[k];
            if (rd_kafka_topic_partition_list_find(assigned, tp->topic, tp->partition)) continue;
            rd_kafka_topic_partition_t *a =
                rd_kafka_topic_partition_list_add(assigned, tp->topic, tp->partition);
            struct groups_row *r = &rows[n++];
            r->topic = a->topic; /* owned by assigned, which outlives rows */
            r->partition = tp->partition;
            r->offset = groups_tp_offset(committed, tp->topic, tp->partition);
            r->consumer_id = groups_s(rd_kafka_MemberDescription_consumer_id(refs[i].m));
            r->host = groups_s(rd_kafka_MemberDescription_host(refs[i].m));
            r->client_id = groups_s(rd_kafka_MemberDescription_client_id(refs[i].m));
        }
        rd_kafka_topic_partition_list_destroy(own);
    }
    /* committed offsets of partitions no member has */
    for (int k = 0; k < committed->cnt; k++) {
        rd_kafka_topic_partition_t *tp = &committed->elems[k];
        if (rd_kafka_topic_partition_list_find(assigned, tp->topic, tp->partition)) continue;
        struct groups_row *r = &rows[n++];
        r->topic = tp->topic;
        r->partition = tp->partition;
        r->offset = tp->offset;
        r->consumer_id = r->host = r->client_id = "-";
    }
    /* the log end offsets of every row, in one ListOffsets */
    rd_kafka_topic_partition_list_t *ends = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(ends, rows[i].topic, rows[i].partition);
    int rc = groups_list_offsets(x, ends, GROUPS_TS_LATEST);
    for (size_t i = 0; i < n; i++)
        rows[i].end = groups_tp_offset(ends, rows[i].topic, rows[i].partition);
    bool print = false;
    if (!rc) rc = groups_should_print(x, group, groups_state(d), (long)n, &print);
    if (!rc && print) {
        int wg = GR_MAX(15, (int)strlen(group)), wt = 15, wc = 15, wh = 15;
        for (size_t i = 0; i < n; i++) {
            wt = GR_MAX(wt, (int)strlen(rows[i].topic));
            wc = GR_MAX(wc, (int)strlen(rows[i].consumer_id));
            wh = GR_MAX(wh, (int)strlen(rows[i].host));
        }
        printf("\n%-*s %-*s %-10s %-15s %-15s %-15s %-*s %-*s %s\n", wg, "GROUP", wt, "TOPIC",
               "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", wc, "CONSUMER-ID", wh,
               "HOST", "CLIENT-ID");
        for (size_t i = 0; i < n; i++) {
            const struct groups_row *r = &rows[i];
            char cur[24] = "-", end[24] = "-", lag[24] = "-";
            if (r->offset >= 0) strfmt(cur, sizeof cur, "%" PRId64, r->offset);
            if (r->end >= 0) strfmt(end, sizeof end, "%" PRId64, r->end);
            if (r->offset >= 0 && r->end >= 0)
                strfmt(lag, sizeof lag, "%" PRId64, r->end - r->offset);
            printf("%-*s %-*s %-10d %-15s %-15s %-15s %-*s %-*s %s\n", wg, group, wt, r->topic,
                   r->partition, cur, end, lag, wc, r->consumer_id, wh, r->host, r->client_id);
        }
    }
    rd_kafka_topic_partition_list_destroy(ends);
    rd_kafka_topic_partition_list_destroy(assigned);
    rd_kafka_topic_partition_list_destroy(committed);
    free(rows);
    free(refs);
    return rc;
}

static int groups_assignment_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Kafka 3.x's ASSIGNMENT column: "topic(0,1,2), other(0)", topics sorted; "-" when empty.
 * Returns an allocated string, or NULL when out of memory. */
static char *groups_assignment_str(const rd_kafka_topic_partition_list_t *p)
{
    if (!p || !p->cnt) return strdup("-");
    rd_kafka_topic_partition_list_t *c = rd_kafka_topic_partition_list_copy(p);
    groups_tp_sort_unique(c);
    char **parts = calloc((size_t)c->cnt + 1, sizeof *parts);
    size_t n = 0, total = 1;
    struct gbuf b;
    gbuf_init(&b);
    bool ok = parts != NULL;
    for (int i = 0; ok && i < c->cnt;) {
        gbuf_reset(&b);
        int k = i;
        char num[16];
        ok = !gbuf_append(&b, c->elems[i].topic, strlen(c->elems[i].topic)) &&
             !gbuf_append(&b, "(", 1);
        for (; ok && k < c->cnt && !strcmp(c->elems[k].topic, c->elems[i].topic); k++) {
            strfmt(num, sizeof num, "%s%d", k > i ? "," : "", c->elems[k].partition);
            ok = !gbuf_append(&b, num, strlen(num));
        }
        ok = ok && !gbuf_append(&b, ")", 1);
        if (ok) ok = (parts[n] = strndup((const char *)b.data, b.len)) != NULL;
        if (ok) total += strlen(parts[n++]) + 2;
        i = k;
    }
    char *out = NULL;
    if (ok) {
        qsort(parts, n, sizeof *parts, groups_assignment_cmp);
        out = calloc(1, total);
        for (size_t i = 0; out && i < n; i++) {
            if (i) strcat(out, ", ");
            strcat(out, parts[i]);
        }
    }
    for (size_t i = 0; parts && i < n; i++)
        free(parts[i]);
    free(parts);
    gbuf_close(&b);
    rd_kafka_topic_partition_list_destroy(c);
    return out;
}

/* Prints one group's members table (Kafka's collectGroupsMembers + printMembers). */
static int groups_describe_members_one(struct groups_ctx *x, const char *group,
                                       const rd_kafka_ConsumerGroupDescription_t *d, bool verbose)
{
    size_t mn = rd_kafka_ConsumerGroupDescription_member_count(d);
    bool print;
    if (groups_should_print(x, group, groups_state(d), (long)mn, &print)) return 1;
    if (!print) return 0;
    int wg = GR_MAX(15, (int)strlen(group)), wc = 15, wi = 17, wh = 15, wcl = 15;
    bool with_instance = false;
    for (size_t i = 0; i < mn; i++) {
        const rd_kafka_MemberDescription_t *m = rd_kafka_ConsumerGroupDescription_member(d, i);
        const char *inst = groups_s(rd_kafka_MemberDescription_group_instance_id(m));
        wc = GR_MAX(wc, (int)strlen(groups_s(rd_kafka_MemberDescription_consumer_id(m))));
        wi = GR_MAX(wi, (int)strlen(inst));
        wh = GR_MAX(wh, (int)strlen(groups_s(rd_kafka_MemberDescription_host(m))));
        wcl = GR_MAX(wcl, (int)strlen(groups_s(rd_kafka_MemberDescription_client_id(m))));
        with_instance = with_instance || *inst;
    }
    if (with_instance)
        printf("\n%-*s %-*s %-*s %-*s %-*s %-15s ", wg, "GROUP", wc, "CONSUMER-ID", wi,
               "GROUP-INSTANCE-ID", wh, "HOST", wcl, "CLIENT-ID", "#PARTITIONS");
    else
        printf("\n%-*s %-*s %-*s %-*s %-15s ", wg, "GROUP", wc, "CONSUMER-ID", wh, "HOST", wcl,
               "CLIENT-ID", "#PARTITIONS");
    printf("%s\n", verbose ? "ASSIGNMENT" : "");
    for (size_t i = 0; i < mn; i++) {
        const rd_kafka_MemberDescription_t *m = rd_kafka_ConsumerGroupDescription_member(d, i);
        const rd_kafka_topic_partition_list_t *p = groups_member_parts(m);
        int np = p ? p->cnt : 0;
        if (with_instance)
            printf("%-*s %-*s %-*s %-*s %-*s %-15d ", wg, group, wc,
                   groups_s(rd_kafka_MemberDescription_consumer_id(m)), wi,
                   groups_s(rd_kafka_MemberDescription_group_instance_id(m)), wh,
                   groups_s(rd_kafka_MemberDescription_host(m)), wcl,
                   groups_s(rd_kafka_MemberDescription_client_id(m)), np);
        else
            printf("%-*s %-*s %-*s %-*s %-15d ", wg, group, wc,
                   groups_s(rd_kafka_MemberDescription_consumer_id(m)), wh,
                   groups_s(rd_kafka_MemberDescription_host(m)), wcl,
                   groups_s(rd_kafka_MemberDescription_client_id(m)), np);
        if (verbose) {
            char *a = groups_assignment_str(p);
            if (!a) return groups_fail(x, "out of memory");
            fputs(a, stdout);
            free(a);
        }
        fputc('\n', stdout);
    }
    return 0;
}

/* Prints one group's state table (Kafka 3.x's printStates, whose first column is as wide as
 * the coordinator's). */
static int groups_describe_state_one(struct groups_ctx *x, const char *group,
                                     const rd_kafka_ConsumerGroupDescription_t *d)
{
    bool print;
    if (groups_should_print(x, group, groups_state(d), 1, &print)) return 1;
    if (!print) return 0;
    const rd_kafka_Node_t *c = rd_kafka_ConsumerGroupDescription_coordinator(d);
    char coord[300] = "-";
    if (c)
        strfmt(coord, sizeof coord, "%s:%u (%d)", groups_s(rd_kafka_Node_host(c)),
               (unsigned)rd_kafka_Node_port(c), rd_kafka_Node_id(c));
    int w = GR_MAX(25, (int)strlen(coord));
    printf("\n%-*s %-25s %-20s %-15s %s", w, "GROUP", "COORDINATOR (ID)", "ASSIGNMENT-STRATEGY",
           "STATE", "#MEMBERS");
    printf("\n%-*s %-25s %-20s %-15s %zu\n", w, group, coord,
           groups_s(rd_kafka_ConsumerGroupDescription_partition_assignor(d)),
           groups_state_name(groups_state(d)), rd_kafka_ConsumerGroupDescription_member_count(d));
    return 0;
}

static int groups_describe_cmd(struct groups_ctx *x)
{
    char **ids;
    size_t n;
    if (groups_ids(x, true, &ids, &n)) return 1;
    rd_kafka_event_t *ev = NULL;
    const rd_kafka_ConsumerGroupDescription_t **descs = NULL;
    int rc = groups_describe(x, ids, n, &ev, &descs);
    for (size_t i = 0; !rc && i < n; i++) {
        if (G_HAS("members"))
            rc = groups_describe_members_one(x, ids[i], descs[i], G_HAS("verbose"));
        else if (G_HAS("state"))
            rc = groups_describe_state_one(x, ids[i], descs[i]);
        else
            rc = groups_describe_offsets_one(x, ids[i], descs[i]);
    }
    free(descs);
    if (ev) rd_kafka_event_destroy(ev);
    groups_ids_free(ids, n);
    return rc || x->failed;
}

/* ========================================================================================== */
/* --delete                                                                                   */

static int groups_delete_cmd(struct groups_ctx *x)
{
    char **ids;
    size_t n;
    if (groups_ids(x, false, &ids, &n)) return 1;
    if (!n) {
        /* Kafka's mkString("'", "', '", "'") of nothing */
        printf("Deletion of requested consumer groups ('') was successful.\n");
        groups_ids_free(ids, n);
        return 0;
    }
    rd_kafka_DeleteGroup_t **dg = calloc(n, sizeof *dg);
    if (!dg) {
        groups_ids_free(ids, n);
        return groups_fail(x, "out of memory");
    }
    for (size_t i = 0; i < n; i++)
        dg[i] = rd_kafka_DeleteGroup_new(ids[i]);
    rd_kafka_AdminOptions_t *o = groups_admin_options(x, RD_KAFKA_ADMIN_OP_DELETEGROUPS);
    rd_kafka_DeleteGroups(x->rk, dg, n, o, x->q);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_DeleteGroup_destroy_array(dg, n);
    free(dg);
    rd_kafka_event_t *ev =
        groups_admin_wait(x, RD_KAFKA_EVENT_DELETEGROUPS_RESULT, "deleteConsumerGroups");
    if (!ev) {
        groups_ids_free(ids, n);
        return 1;
    }
    size_t rn = 0;
    const rd_kafka_group_result_t **r =
        rd_kafka_DeleteGroups_result_groups(rd_kafka_event_DeleteGroups_result(ev), &rn);
    /* the result of each requested group, in the order asked */
    const rd_kafka_error_t **errs = calloc(n, sizeof *errs);
    bool *answered = calloc(n, sizeof *answered);
    size_t failed = 0;
    for (size_t i = 0; errs && answered && i < n; i++) {
        for (size_t k = 0; k < rn && !answered[i]; k++)
            if (!strcmp(rd_kafka_group_result_name(r[k]), ids[i])) {
                answered[i] = true;
                errs[i] = rd_kafka_group_result_error(r[k]);
                if (errs[i]) groups_seen(x, rd_kafka_error_code(errs[i]));
            }
        if (!answered[i] || errs[i]) failed++;
    }
    if (!errs || !answered) {
        free(errs);
        free(answered);
        rd_kafka_event_destroy(ev);
        groups_ids_free(ids, n);
        return groups_fail(x, "out of memory");
    }
    if (!failed) {
        printf("Deletion of requested consumer groups (");
        for (size_t i = 0; i < n; i++)
            printf("%s'%s'", i ? ", " : "", ids[i]);
        printf(") was successful.\n");
    } else {
        groups_error(x, "Deletion of some consumer groups failed:");
        for (size_t i = 0; i < n; i++) {
            if (answered[i] && !errs[i]) continue;
            char buf[GROUPS_MSG_BYTES];
            rd_kafka_resp_err_t c =
                errs[i] ? rd_kafka_error_code(errs[i]) : RD_KAFKA_RESP_ERR__TIMED_OUT;
            const char *s = errs[i] ? rd_kafka_error_string(errs[i]) : "no result for the group";
            printf("* Group '%s' could not be deleted due to: "
                   "java.util.concurrent.ExecutionException: %s\n",
                   ids[i], groups_err_text(c, s, buf, sizeof buf));
        }
        if (failed < n) {
            printf("\nThese consumer groups were deleted successfully: ");
            size_t k = 0;
            for (size_t i = 0; i < n; i++)
                if (answered[i] && !errs[i]) printf("%s'%s'", k++ ? ", " : "", ids[i]);
            printf("\n");
        }
    }
    free(errs);
    free(answered);
    rd_kafka_event_destroy(ev);
    groups_ids_free(ids, n);
    return failed ? 1 : 0;
}

/* ========================================================================================== */
/* Flags                                                                                      */

/* joptsimple's optional argument of --state: "--state" followed by nothing or by an option
 * gets an empty value, so the option table can treat it as a value option. */
static char **groups_fix_state_arg(int argc, char **argv)
{
    char **a = calloc((size_t)argc + 1, sizeof *a);
    if (!a) return NULL;
    for (int i = 0; i < argc; i++) {
        a[i] = argv[i];
        if (i > 0 && !strcmp(argv[i], "--state") &&
            (i + 1 == argc || (argv[i + 1][0] == '-' && argv[i + 1][1])))
            a[i] = (char *)"--state=";
    }
    return a;
}

/* joptsimple's "Cannot parse argument" for a Long option; 0 or 1 after the usage. */
static int groups_long_opt(const char *name, int64_t lo, int64_t hi, int64_t *out)
{
    const char *v = G_VAL(name);
    if (!v) return 0;
    if (cli_parse_int(v, INT64_MIN, INT64_MAX, out))
        return groups_usage_die("Cannot parse argument '%s' of option %s", v, name);
    if (*out < lo || *out > hi)
        return groups_usage_die("The value of --%s must be between %" PRId64 " and %" PRId64
                                ", but it is %s",
                                name, lo, hi, v);
    return 0;
}

/* Kafka's checkInvalidArgs: opt used with any of others. */
static int groups_invalid_with(const char *opt, const char *const *others, size_t n)
{
    if (!G_HAS(opt)) return 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(others[i], opt) && G_HAS(others[i]))
            return groups_usage_die("Option \"[%s]\" can't be used with option \"[%s]\"", opt,
                                    others[i]);
    return 0;
}

/* Kafka's parse-time availableIf and checkArgs, in Kafka's order, then the reset arguments
 * Kafka checks later.  0, or 1 after printing. */
static int groups_check_args(struct groups_ctx *x)
{
    static const char *const describe_only[] = {"members", "verbose", "offsets"};
    for (size_t i = 0; i < GR_ARRAY_LEN(describe_only); i++)
        if (G_HAS(describe_only[i]) && !G_HAS("describe"))
            return groups_usage_die("Option(s) [%s] are unavailable given other options on the "
                                    "command line",
                                    describe_only[i]);
    if (G_HAS("state") && !G_HAS("describe") && !G_HAS("list"))
        return groups_usage_die("Option(s) [state] are unavailable given other options on the "
                                "command line");
    int actions = G_HAS("list") + G_HAS("describe") + G_HAS("delete") + G_HAS("reset-offsets") +
                  G_HAS("delete-offsets");
    if (actions != 1)
        return groups_usage_die("Command must include exactly one action: --list, --describe, "
                                "--delete, --reset-offsets, --delete-offsets");
    if (cli_require(groups_opts, groups_opts_n, "bootstrap-server", groups_summary)) return 1;
    bool scope = G_HAS("group") || G_HAS("all-groups");
    if (G_HAS("describe")) {
        if (!scope)
            return groups_usage_die("Option [describe] takes one of these options: [group], "
                                    "[all-groups]");
        if (G_HAS("members") + G_HAS("offsets") + G_HAS("state") > 1)
            return groups_usage_die("Option [describe] takes at most one of these options: "
                                    "[members], [offsets], [state]");
        const char *sv = G_VAL("state");
        if (sv && *sv)
            return groups_usage_die("Option [describe] does not take a value for [state]");
    }
    if (G_HAS("delete")) {
        if (!scope)
            return groups_usage_die("Option [delete] takes one of these options: [group], "
                                    "[all-groups]");
        if (G_HAS("topic"))
            return groups_usage_die("The consumer does not support topic-specific offset "
                                    "deletion from a consumer group.");
    }
    if (G_HAS("delete-offsets")) {
        if (!G_HAS("group") || !G_HAS("topic"))
            return groups_usage_die("Option [delete-offsets] takes the following options: "
                                    "[group], [topic]");
        if (cli_opt(groups_opts, groups_opts_n, "group")->values_n > 1)
            return groups_usage_die("Option [delete-offsets] supports one consumer group at the "
                                    "time: give --group once");
    }
    if (G_HAS("reset-offsets")) {
        if (G_HAS("dry-run") && G_HAS("execute"))
            return groups_usage_die("Option [reset-offsets] only accepts one of [execute] and "
                                    "[dry-run]");
        if (!G_HAS("dry-run") && !G_HAS("execute"))
            groups_note("WARN: No action will be performed as the --execute option is missing."
                        "In a future major release, the default behavior of this command will "
                        "be to prompt the user before executing the reset rather than doing a "
                        "dry run. You should add the --dry-run option explicitly if you are "
                        "scripting this command and want to keep the current default behavior "
                        "without prompting.");
        if (!scope)
            return groups_usage_die("Option [reset-offsets] takes one of these options: "
                                    "[group], [all-groups]");
        for (size_t i = 0; i < GR_ARRAY_LEN(groups_scenarios); i++)
            if (groups_invalid_with(groups_scenarios[i], groups_scenarios,
                                    GR_ARRAY_LEN(groups_scenarios)))
                return 1;
    }
    static const char *const all_groups[] = {"all-groups"};
    static const char *const with_group[] = {"list"};
    static const char *const with_topic[] = {"list", "describe"};
    if (groups_invalid_with("group", all_groups, 1) ||
        groups_invalid_with("group", with_group, 1) || groups_invalid_with("topic", with_topic, 2))
        return 1;
    if (!G_HAS("reset-offsets")) return 0;

    /* what Kafka checks once it has the group: the scenario, the scope and their values */
    for (size_t i = 0; i < GR_ARRAY_LEN(groups_scenarios) && !x->scenario; i++)
        if (G_HAS(groups_scenarios[i])) x->scenario = groups_scenarios[i];
    if (!x->scenario)
        return groups_usage_die("Option '[reset-offsets]' requires one of the following "
                                "scenarios: [to-offset], [shift-by], [to-datetime], "
                                "[by-duration], [to-earliest], [to-latest], [to-current], "
                                "[from-file]");
    if (!G_HAS("all-topics") && !G_HAS("topic") && !G_HAS("from-file"))
        return groups_usage_die("One of the reset scopes should be defined: --all-topics, "
                                "--topic.");
    if (groups_long_opt("to-offset", INT64_MIN, INT64_MAX, &x->value) ||
        groups_long_opt("shift-by", INT64_MIN, INT64_MAX, &x->value))
        return 1;
    const char *dt = G_VAL("to-datetime"), *dur = G_VAL("by-duration");
    if (dt) {
        const char *tp = strchr(dt, 'T');
        if (!tp || !tp[1])
            return groups_fail(x, "Error parsing timestamp. It does not contain a 'T' according "
                                  "to ISO8601 format");
        if (cli_groups_parse_datetime(dt, &x->value))
            return groups_fail(x,
                               "Unparseable date: \"%s\" (expected YYYY-MM-DDTHH:mm:SS.sss, "
                               "optionally followed by Z or an offset such as +01:00)",
                               dt);
    }
    if (dur) {
        int64_t ms;
        if (cli_groups_parse_duration(dur, &ms) ||
            __builtin_sub_overflow(time_wall_ms(), ms, &x->value))
            return groups_fail(x, "Text cannot be parsed to a Duration (expected PnDTnHnMnS, "
                                  "such as PT1H or P1DT12H)");
    }
    static int32_t parts[GROUPS_SPEC_PARTS_MAX];
    const struct cli_opt *t = cli_opt(groups_opts, groups_opts_n, "topic");
    for (size_t i = 0; i < t->values_n; i++) {
        char topic[GROUPS_TOPIC_BYTES], err[GROUPS_MSG_BYTES];
        bool has_parts;
        size_t n;
        if (cli_groups_parse_topic_spec(t->values[i], topic, sizeof topic, &has_parts, parts,
                                        GR_ARRAY_LEN(parts), &n, err, sizeof err))
            return groups_usage_die("%s", err);
    }
    if (G_HAS("from-file") && groups_read_plan(x, G_VAL("from-file"))) return 1;
    return 0;
}

int cli_groups_main(int argc, char **argv)
{
    char err[512];
    char **args = groups_fix_state_arg(argc, argv);
    if (!args) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    if (cli_parse(groups_opts, groups_opts_n, argc, args, 1, NULL, 0, NULL, err, sizeof err)) {
        free(args);
        return cli_usage_error(err, groups_summary, groups_opts, groups_opts_n);
    }
    if (G_HAS("help") || argc < 2) {
        cli_usage(argc < 2 ? stderr : stdout, groups_summary, groups_opts, groups_opts_n);
        free(args);
        return argc < 2;
    }
    struct groups_ctx x = {.timeout_ms = GROUPS_TIMEOUT_MS_DEFAULT};
    int64_t timeout = GROUPS_TIMEOUT_MS_DEFAULT;
    int rc = groups_check_args(&x);
    if (!rc) rc = groups_long_opt("timeout", 1, INT32_MAX, &timeout);
    x.timeout_ms = (int)timeout;
    if (!rc) rc = groups_ctx_open(&x);
    if (!rc) rc = groups_preflight(&x);
    if (!rc) {
        if (G_HAS("list"))
            rc = groups_list(&x);
        else if (G_HAS("describe"))
            rc = groups_describe_cmd(&x);
        else if (G_HAS("delete"))
            rc = groups_delete_cmd(&x);
        else if (G_HAS("reset-offsets"))
            rc = groups_reset_cmd(&x);
        else
            rc = groups_delete_offsets_cmd(&x);
    }
    fflush(stdout);
    groups_ctx_close(&x);
    free(args);
    return rc ? 1 : 0;
}

/* cli_quorum.c — `gregor metadata-quorum` (kafka-metadata-quorum.sh): `describe --status` and
 * `describe --replication [--human-readable]`, from one DescribeQuorum request (api 55) for
 * __cluster_metadata-0 sent with our own client (cli_kafka_client.c), at v2 when the broker
 * advertises it, else the highest of v0-v1.  --status also asks Metadata for the cluster id.
 *
 * The output and the numbers follow Kafka 3.7's MetadataQuorumCommand:
 *
 *   MaxFollowerLag        the leader's LogEndOffset minus the smallest LogEndOffset among the
 *                         voters (observers do not count; the leader is a voter, so >= 0 in
 *                         any sane response).
 *   MaxFollowerLagTimeMs  0 when that smallest-LogEndOffset voter (the first one, on a tie) is
 *                         the leader; else the leader's LastCaughtUpTimestamp minus that
 *                         voter's; -1 when either is unknown (v0 has no timestamps).
 *   Lag (--replication)   the leader's LogEndOffset minus the row's LogEndOffset.
 *
 * CurrentVoters / CurrentObservers print as [1,2,3], Kafka 3.7's form.  Kafka 3.9 prints v2
 * answers as [{"id": 1, "directoryId": "...", "endpoints": ["CONTROLLER://host:port"]}, ...]
 * and adds a DirectoryId column to --replication; we keep 3.7's shapes, which scripts parse.
 * --bootstrap-controller (Kafka 3.7+) is not offered: Gregor's controllers answer on the
 * brokers' listeners. */
#include "cli/cli_int.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "proto/proto.h"

#define QUORUM_TIMEOUT_MS_DEFAULT 30000 /* the admin client's request.timeout.ms */
#define QUORUM_CLIENT_ID "gregor-metadata-quorum"
#define QUORUM_TOPIC "__cluster_metadata"
#define QUORUM_PARTITION 0
#define QUORUM_VERSION_MAX 2
#define QUORUM_CLUSTER_ID_BYTES_MAX 256
#define QUORUM_COLUMNS 6
#define QUORUM_CELL_BYTES 48 /* an int64 and " ms ago" fit */

static const char quorum_summary[] =
    "usage: gregor metadata-quorum --bootstrap-server HOST:PORT [--command-config FILE]\n"
    "                              describe (--status | --replication [--human-readable])\n\n"
    "This tool describes kraft metadata quorum status (kafka-metadata-quorum.sh).\n\n"
    "  describe      Describe the metadata quorum info.\n";

static struct cli_opt quorum_opts[] = {
    CLI_OPT("bootstrap-server", NULL, CLI_OPT_VALUE, "String: server to connect to",
            "REQUIRED: A comma-separated list of host:port pairs to use for establishing the "
            "connection to the Kafka cluster."),
    CLI_OPT("command-config", NULL, CLI_OPT_VALUE, "String: command config property file",
            "Property file containing configs to be passed to Admin Client (request.timeout.ms; "
            "security.protocol must be PLAINTEXT)."),
    CLI_OPT("help", "-h", CLI_OPT_FLAG, NULL, "Print usage information."),
    CLI_OPT("human-readable", NULL, CLI_OPT_FLAG, NULL,
            "(describe --replication) Human-readable output: timestamps as \"N ms ago\"."),
    CLI_OPT("replication", NULL, CLI_OPT_FLAG, NULL,
            "(describe) Detailed information about the status of replication."),
    CLI_OPT("status", NULL, CLI_OPT_FLAG, NULL, "(describe) A short summary of the quorum status."),
};
#define QUORUM_OPTS_N GR_ARRAY_LEN(quorum_opts)
#define Q_HAS(name) cli_has(quorum_opts, QUORUM_OPTS_N, name)
#define Q_VAL(name) cli_val(quorum_opts, QUORUM_OPTS_N, name)

/* The partition of a DescribeQuorum answer, and its leader's row among the voters.  Views into
 * the client's last response. */
struct quorum_state {
    const struct kafka_describe_quorum_response_partition_data *p;
    const struct kafka_describe_quorum_response_replica_state *leader;
};

static int quorum_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int quorum_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "Error while describing the metadata quorum: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

/* A Kafka error code of the answer, with the broker's message when it sent one (v2+); where
 * says which part of the answer held it when there is no message. */
static int quorum_fail_kafka(int16_t code, struct kafka_str msg, const char *where)
{
    if (msg.len > 0) return quorum_fail("%s: %.*s", kafka_err_name(code), (int)msg.len, msg.ptr);
    return quorum_fail("%s: DescribeQuorum returned error code %d%s", kafka_err_name(code), code,
                       where);
}

/* ========================================================================================== */
/* Asking                                                                                     */

/* Reads what the tool needs from --command-config: request.timeout.ms, and that
 * security.protocol leaves the connection plaintext (our client speaks nothing else). */
static int quorum_read_command_config(const char *path, int *timeout_ms)
{
    struct props p;
    char err[512];
    int64_t v = 0;
    struct stat st;
    if (stat(path, &st) && errno == ENOENT) {
        fprintf(stderr, "Properties file %s does not exist.\n", path);
        return 1;
    }
    props_init(&p);
    int rc = props_load(&p, path, err, sizeof err);
    const char *t = rc ? NULL : props_get(&p, "request.timeout.ms");
    const char *sp = rc ? NULL : props_get(&p, "security.protocol");
    if (rc) fprintf(stderr, "%s\n", err);
    if (!rc && t && cli_parse_int(t, 1, INT32_MAX, &v))
        rc = quorum_fail("Invalid value %s for configuration request.timeout.ms", t);
    else if (t)
        *timeout_ms = (int)v;
    if (!rc && sp && strcasecmp(sp, "plaintext"))
        rc = quorum_fail("security.protocol=%s is not supported: gregor metadata-quorum speaks "
                         "PLAINTEXT only",
                         sp);
    props_close(&p);
    return rc ? 1 : 0;
}

static int quorum_encode_request(struct kafka_writer *w, int16_t version, const void *req)
{
    return kafka_describe_quorum_request_encode(w, version, req);
}

static int quorum_decode_response(struct kafka_reader *r, int16_t version, void *res)
{
    return kafka_describe_quorum_response_decode(r, version, res);
}

/* Checks that the answer is about __cluster_metadata-0 and error-free, as Kafka's admin client
 * does, and finds the leader among the voters.  0, or 1 after printing the error. */
static int quorum_check(const struct kafka_describe_quorum_response *res, struct quorum_state *st)
{
    if (res->error_code) return quorum_fail_kafka(res->error_code, res->error_message, "");
    if (res->topics_count != 1)
        return quorum_fail("UNKNOWN_SERVER_ERROR: DescribeQuorum returned %d topics when 1 was "
                           "expected",
                           res->topics_count);
    const struct kafka_describe_quorum_response_topic_data *t = &res->topics[0];
    if (!kstr_eq(t->topic_name, QUORUM_TOPIC))
        return quorum_fail("UNKNOWN_SERVER_ERROR: DescribeQuorum returned topic %.*s when %s was "
                           "expected",
                           (int)GR_MAX(t->topic_name.len, 0), t->topic_name.ptr, QUORUM_TOPIC);
    if (t->partitions_count != 1)
        return quorum_fail("UNKNOWN_SERVER_ERROR: DescribeQuorum returned %d partitions when 1 "
                           "was expected",
                           t->partitions_count);
    st->p = &t->partitions[0];
    if (st->p->partition_index != QUORUM_PARTITION)
        return quorum_fail("UNKNOWN_SERVER_ERROR: DescribeQuorum returned partition %d when %d "
                           "was expected",
                           st->p->partition_index, QUORUM_PARTITION);
    if (st->p->error_code)
        return quorum_fail_kafka(st->p->error_code, st->p->error_message,
                                 " for partition " QUORUM_TOPIC "-0");
    st->leader = NULL;
    for (int32_t i = 0; i < st->p->current_voters_count && !st->leader; i++)
        if (st->p->current_voters[i].replica_id == st->p->leader_id)
            st->leader = &st->p->current_voters[i];
    if (!st->leader)
        return quorum_fail("the quorum has no leader among its voters (LeaderId %d, LeaderEpoch "
                           "%d)",
                           st->p->leader_id, st->p->leader_epoch);
    return 0;
}

/* Sends DescribeQuorum for __cluster_metadata-0 and checks the answer.  On success *res and
 * *st are views valid until the client's next call.  0, or 1 after printing the error. */
static int quorum_describe(struct cli_kafka_client *c, struct kafka_describe_quorum_response *res,
                           struct quorum_state *st)
{
    char err[512];
    int16_t version = cli_kafka_client_version(c, KAFKA_API_DESCRIBE_QUORUM, 0, QUORUM_VERSION_MAX);
    if (version < 0)
        return quorum_fail("UNSUPPORTED_VERSION: the broker does not support DescribeQuorum (api "
                           "key %d, versions 0-%d)",
                           KAFKA_API_DESCRIBE_QUORUM, QUORUM_VERSION_MAX);
    struct kafka_describe_quorum_request_partition_data part = {.partition_index =
                                                                    QUORUM_PARTITION};
    struct kafka_describe_quorum_request_topic_data topic = {
        .topic_name = KSTR(QUORUM_TOPIC), .partitions = &part, .partitions_count = 1};
    struct kafka_describe_quorum_request req = {.topics = &topic, .topics_count = 1};
    if (cli_kafka_client_call(c, KAFKA_API_DESCRIBE_QUORUM, version, quorum_encode_request, &req,
                              quorum_decode_response, res, err, sizeof err))
        return quorum_fail("%s", err);
    return quorum_check(res, st);
}

/* ========================================================================================== */
/* describe --status                                                                          */

static void quorum_print_ids(const char *label,
                             const struct kafka_describe_quorum_response_replica_state *rs,
                             int32_t n)
{
    printf("%s[", label);
    for (int32_t i = 0; i < n; i++)
        printf("%s%d", i ? "," : "", rs[i].replica_id);
    printf("]\n");
}

static int quorum_status(struct cli_kafka_client *c)
{
    char err[512], cluster_id[QUORUM_CLUSTER_ID_BYTES_MAX];
    struct kafka_describe_quorum_response res;
    struct quorum_state st;
    if (cli_kafka_client_cluster_id(c, cluster_id, sizeof cluster_id, err, sizeof err))
        return quorum_fail("%s", err);
    if (quorum_describe(c, &res, &st)) return 1;
    const struct kafka_describe_quorum_response_partition_data *p = st.p;

    /* the voter furthest behind: the first with the smallest log end offset */
    const struct kafka_describe_quorum_response_replica_state *behind = &p->current_voters[0];
    for (int32_t i = 1; i < p->current_voters_count; i++)
        if (p->current_voters[i].log_end_offset < behind->log_end_offset)
            behind = &p->current_voters[i];
    int64_t lag = st.leader->log_end_offset - behind->log_end_offset;
    int64_t lag_time_ms = -1;
    if (behind == st.leader)
        lag_time_ms = 0;
    else if (st.leader->last_caught_up_timestamp >= 0 && behind->last_caught_up_timestamp >= 0)
        lag_time_ms = st.leader->last_caught_up_timestamp - behind->last_caught_up_timestamp;

    printf("ClusterId:              %s\n", cluster_id[0] ? cluster_id : "null");
    printf("LeaderId:               %d\n", p->leader_id);
    printf("LeaderEpoch:            %d\n", p->leader_epoch);
    printf("HighWatermark:          %lld\n", (long long)p->high_watermark);
    printf("MaxFollowerLag:         %lld\n", (long long)lag);
    printf("MaxFollowerLagTimeMs:   %lld\n", (long long)lag_time_ms);
    quorum_print_ids("CurrentVoters:          ", p->current_voters, p->current_voters_count);
    quorum_print_ids("CurrentObservers:       ", p->observers, p->observers_count);
    return 0;
}

/* ========================================================================================== */
/* describe --replication                                                                     */

static const char *const quorum_columns[QUORUM_COLUMNS] = {
    "NodeId", "LogEndOffset", "Lag", "LastFetchTimestamp", "LastCaughtUpTimestamp", "Status"};

/* One timestamp cell: -1 when unknown; with --human-readable "N ms ago", which, as in Kafka,
 * fails (1, after printing why) for a time not after the epoch or later than now. */
static int quorum_time_cell(int64_t ts_ms, int64_t now_ms, bool human, const char *desc, char *cell)
{
    if (ts_ms < 0) {
        strfmt(cell, QUORUM_CELL_BYTES, "-1");
        return 0;
    }
    if (!human) {
        strfmt(cell, QUORUM_CELL_BYTES, "%lld", (long long)ts_ms);
        return 0;
    }
    if (ts_ms == 0 || ts_ms > now_ms) {
        fprintf(stderr,
                "Error while computing relative time, possible drift in system clock.\n"
                "Current timestamp is %lld, %s timestamp is %lld\n",
                (long long)now_ms, desc, (long long)ts_ms);
        return 1;
    }
    strfmt(cell, QUORUM_CELL_BYTES, "%lld ms ago", (long long)(now_ms - ts_ms));
    return 0;
}

/* Formats one table row.  0, or 1 after printing why a timestamp cannot be shown. */
static int quorum_row(const struct kafka_describe_quorum_response_replica_state *leader,
                      const struct kafka_describe_quorum_response_replica_state *rs,
                      const char *status, bool human, int64_t now_ms,
                      char cells[QUORUM_COLUMNS][QUORUM_CELL_BYTES])
{
    strfmt(cells[0], QUORUM_CELL_BYTES, "%d", rs->replica_id);
    strfmt(cells[1], QUORUM_CELL_BYTES, "%lld", (long long)rs->log_end_offset);
    strfmt(cells[2], QUORUM_CELL_BYTES, "%lld",
           (long long)(leader->log_end_offset - rs->log_end_offset));
    strfmt(cells[5], QUORUM_CELL_BYTES, "%s", status);
    if (quorum_time_cell(rs->last_fetch_timestamp, now_ms, human, "last fetch", cells[3]) ||
        quorum_time_cell(rs->last_caught_up_timestamp, now_ms, human, "last caught up", cells[4]))
        return 1;
    return 0;
}

/* Kafka's table: every cell left-aligned and padded to its column's widest, each followed by
 * a tab (the last one too). */
static void quorum_print_cells(const size_t widths[QUORUM_COLUMNS],
                               const char *const cells[QUORUM_COLUMNS])
{
    for (size_t i = 0; i < QUORUM_COLUMNS; i++)
        printf("%-*s\t", (int)widths[i], cells[i]);
    printf("\n");
}

/* Walks the rows in Kafka's order (the leader, the other voters, the observers): with
 * widths != NULL it measures them, else it prints them.  0, or 1 after printing an error. */
static int quorum_rows(const struct quorum_state *st, bool human, int64_t now_ms,
                       size_t widths[QUORUM_COLUMNS], const size_t *print_widths)
{
    const struct kafka_describe_quorum_response_partition_data *p = st->p;
    int32_t n = 1 + p->current_voters_count + p->observers_count;
    for (int32_t i = 0; i < n; i++) {
        const struct kafka_describe_quorum_response_replica_state *rs;
        const char *status;
        if (i == 0) {
            rs = st->leader;
            status = "Leader";
        } else if (i <= p->current_voters_count) {
            rs = &p->current_voters[i - 1];
            status = "Follower";
            if (rs->replica_id == p->leader_id) continue;
        } else {
            rs = &p->observers[i - 1 - p->current_voters_count];
            status = "Observer";
        }
        char cells[QUORUM_COLUMNS][QUORUM_CELL_BYTES];
        if (quorum_row(st->leader, rs, status, human, now_ms, cells)) return 1;
        const char *row[QUORUM_COLUMNS];
        for (size_t k = 0; k < QUORUM_COLUMNS; k++) {
            row[k] = cells[k];
            if (widths) widths[k] = GR_MAX(widths[k], strlen(cells[k]));
        }
        if (print_widths) quorum_print_cells(print_widths, row);
    }
    return 0;
}

static int quorum_replication(struct cli_kafka_client *c, bool human)
{
    struct kafka_describe_quorum_response res;
    struct quorum_state st;
    if (quorum_describe(c, &res, &st)) return 1;
    int64_t now_ms = time_wall_ms();
    size_t widths[QUORUM_COLUMNS];
    for (size_t k = 0; k < QUORUM_COLUMNS; k++)
        widths[k] = strlen(quorum_columns[k]);
    /* measure first: nothing is printed unless every row can be */
    if (quorum_rows(&st, human, now_ms, widths, NULL)) return 1;
    quorum_print_cells(widths, quorum_columns);
    return quorum_rows(&st, human, now_ms, NULL, widths);
}

/* ========================================================================================== */

/* Checks the describe flags as Kafka does.  0, or 1 after printing the problem. */
static int quorum_check_flags(void)
{
    if (Q_HAS("status") && Q_HAS("replication")) {
        fprintf(stderr, "Only one of --status or --replication should be specified with describe "
                        "sub-command\n");
        return 1;
    }
    if (!Q_HAS("status") && !Q_HAS("replication")) {
        fprintf(stderr, "One of --status or --replication must be specified with describe "
                        "sub-command\n");
        return 1;
    }
    if (Q_HAS("status") && Q_HAS("human-readable")) {
        fprintf(stderr, "The option --human-readable is only supported along with "
                        "--replication\n");
        return 1;
    }
    return 0;
}

int cli_quorum_main(int argc, char **argv)
{
    const char *pos[2];
    size_t pos_n;
    char err[512];
    if (cli_parse(quorum_opts, QUORUM_OPTS_N, argc, argv, 1, pos, 2, &pos_n, err, sizeof err))
        return cli_usage_error(err, quorum_summary, quorum_opts, QUORUM_OPTS_N);
    if (Q_HAS("help") || argc < 2) {
        cli_usage(argc < 2 ? stderr : stdout, quorum_summary, quorum_opts, QUORUM_OPTS_N);
        return argc < 2;
    }
    if (pos_n != 1)
        return cli_usage_error(pos_n ? "Too many arguments." : "Missing command: describe.",
                               quorum_summary, quorum_opts, QUORUM_OPTS_N);
    if (strcmp(pos[0], "describe")) {
        char msg[300];
        strfmt(msg, sizeof msg, "invalid choice: '%s' (choose from 'describe')", pos[0]);
        return cli_usage_error(msg, quorum_summary, quorum_opts, QUORUM_OPTS_N);
    }
    if (cli_require(quorum_opts, QUORUM_OPTS_N, "bootstrap-server", quorum_summary)) return 1;
    if (quorum_check_flags()) return 1;
    int timeout_ms = QUORUM_TIMEOUT_MS_DEFAULT;
    const char *cfg = Q_VAL("command-config");
    if (cfg && quorum_read_command_config(cfg, &timeout_ms)) return 1;

    struct cli_kafka_client *c;
    if (cli_kafka_client_new(&c, Q_VAL("bootstrap-server"), QUORUM_CLIENT_ID, timeout_ms, err,
                             sizeof err))
        return quorum_fail("%s", err);
    int rc = Q_HAS("status") ? quorum_status(c) : quorum_replication(c, Q_HAS("human-readable"));
    cli_kafka_client_free(c);
    return rc;
}

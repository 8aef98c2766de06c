/* cli_groups_int.h — what cli_groups.c (--list, --describe, --delete, the flags) and
 * cli_groups_reset.c (--reset-offsets, --from-file, --delete-offsets) of `gregor consumer-groups`
 * share: the option table, the command's context, and the helpers both halves call.  Internal to
 * those two files; each helper is described where it is defined. */
#ifndef GREGOR_CLI_GROUPS_INT_H
#define GREGOR_CLI_GROUPS_INT_H

#include "cli/cli_int.h"

#define GROUPS_TIMEOUT_MS_DEFAULT 5000 /* Kafka's --timeout default */
#define GROUPS_POLL_SLACK_MS 5000      /* beyond the request timeout, for a result to arrive */
#define GROUPS_SPEC_PARTS_MAX 65536    /* partitions in one --topic T:p,... */
#define GROUPS_TOPIC_BYTES 512
#define GROUPS_MSG_BYTES 1024
#define GROUPS_FILE_MAX (64 << 20) /* --from-file size */
#define GROUPS_CLIENT_ID "gregor-consumer-groups"
#define GROUPS_PREFLIGHT_TIMEOUT_MS_MAX 10000

/* ListOffsets' special timestamps. */
#define GROUPS_TS_LATEST (-1)
#define GROUPS_TS_EARLIEST (-2)

/* The option table (cli_groups.c). */
extern struct cli_opt groups_opts[];
extern const size_t groups_opts_n;
#define G_HAS(name) cli_has(groups_opts, groups_opts_n, name)
#define G_VAL(name) cli_val(groups_opts, groups_opts_n, name)

/* One --from-file line. */
struct groups_plan_entry {
    char *group; /* NULL in the single-group "topic,partition,offset" format */
    char *topic;
    int32_t partition;
    int64_t offset;
};

struct groups_ctx {
    rd_kafka_t *rk;
    rd_kafka_queue_t *q;
    int timeout_ms;
    const struct rd_kafka_metadata *md; /* every topic, fetched once when needed */
    bool failed;                        /* an "Error:" line was printed */
    bool leak_rk;   /* librdkafka 2.0.2 failed a coordinator request locally: see groups_seen */
    bool plaintext; /* security.protocol is PLAINTEXT: our own client can ask ApiVersions */
    /* --reset-offsets, checked before the cluster is asked */
    const char *scenario;
    int64_t value; /* --to-offset, --shift-by, or the timestamp of --to-datetime/--by-duration */
    struct groups_plan_entry *plan; /* --from-file */
    size_t plan_n;
};

/* cli_groups.c: messages */
void groups_error(struct groups_ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void groups_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int groups_fail(struct groups_ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int groups_usage_die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *groups_err_message(rd_kafka_resp_err_t err, const char *fallback);
const char *groups_err_text(rd_kafka_resp_err_t err, const char *fallback, char *buf, size_t len);
const char *groups_hint(rd_kafka_resp_err_t e);

/* cli_groups.c: client plumbing */
rd_kafka_resp_err_t groups_seen(struct groups_ctx *x, rd_kafka_resp_err_t e);
rd_kafka_AdminOptions_t *groups_admin_options(struct groups_ctx *x, rd_kafka_admin_op_t op);
rd_kafka_event_t *groups_admin_wait(struct groups_ctx *x, rd_kafka_event_type_t type,
                                    const char *call);
int groups_metadata(struct groups_ctx *x);

/* cli_groups.c: partition lists */
void groups_tp_sort_unique(rd_kafka_topic_partition_list_t *l);
int groups_list_offsets(struct groups_ctx *x, rd_kafka_topic_partition_list_t *l, int64_t ts);
rd_kafka_topic_partition_list_t *
groups_offsets_at(struct groups_ctx *x, const rd_kafka_topic_partition_list_t *l, int64_t ts);

int64_t groups_tp_offset(const rd_kafka_topic_partition_list_t *l, const char *topic,
                         int32_t partition);

/* cli_groups.c: groups */
int groups_ids(struct groups_ctx *x, bool sort, char ***ids, size_t *n);
void groups_ids_free(char **ids, size_t n);
int groups_describe(struct groups_ctx *x, char **ids, size_t n, rd_kafka_event_t **ev,
                    const rd_kafka_ConsumerGroupDescription_t ***descs);
rd_kafka_consumer_group_state_t groups_state(const rd_kafka_ConsumerGroupDescription_t *d);
const char *groups_state_name(rd_kafka_consumer_group_state_t s);
rd_kafka_topic_partition_list_t *groups_committed(struct groups_ctx *x, const char *group);

/* cli_groups_reset.c */
int groups_read_plan(struct groups_ctx *x, const char *path);
int groups_reset_cmd(struct groups_ctx *x);
int groups_delete_offsets_cmd(struct groups_ctx *x);

#endif

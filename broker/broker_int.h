/* broker_int.h — private to the broker module. */
#ifndef GREGOR_BROKER_INT_H
#define GREGOR_BROKER_INT_H

#include "broker/broker.h"
#include "proto/proto.h"

struct event;
struct fetch_waiter;

#define BROKER_REPLICAS_MAX 16

/* The leader's view of one follower (broker_replica.c). */
struct broker_follower {
    int32_t id;
    int64_t leo;                  /* its log end offset, from its last fetch; -1 unknown */
    int64_t last_fetch_ms;        /* monotonic */
    int64_t last_fetch_leader_leo;/* our log end offset when it last fetched */
    int64_t last_caught_up_ms;    /* the last time it had everything we had */
};

struct broker_partition {
    struct broker_topic *topic;
    int32_t id;
    struct storage_log *log;      /* NULL: not a replica here */
    int64_t high_watermark;
    struct fetch_waiter **waiters; /* delayed fetches watching this partition */
    int32_t waiter_count, waiter_cap;
    /* replication state, from the metadata image (broker_replica.c) */
    bool leader;                  /* this broker leads it */
    int32_t leader_id, leader_epoch, partition_epoch;
    int32_t isr_count;
    int32_t isr[BROKER_REPLICAS_MAX];
    int32_t follower_count;       /* leader: the other replicas */
    struct broker_follower followers[BROKER_REPLICAS_MAX];
    bool alter_pending;           /* leader: an AlterPartition is in flight */
    int32_t alter_adding;         /* ... adding this follower (-1: none), counted for the HW */
    int64_t alter_retry_ms;
    bool fetching;                /* follower: registered with the fetcher of its leader */
    struct broker_pstate *pstate; /* idempotent producers' last batches */
};

struct broker_topic {
    char *name;
    struct gr_uuid id;
    int32_t partition_count;
    struct broker_partition *partitions;
    struct broker_topic *hash_next;
    /* topic configs resolved for the hot path */
    int codec;             /* -1 = producer (keep), else RB_CODEC_* */
    bool log_append_time;  /* message.timestamp.type=LogAppendTime */
    int32_t max_message_bytes;
    int32_t min_isr;       /* min.insync.replicas */
};

/* One request being handled. */
struct broker_req {
    struct broker *b;
    struct net_slot *slot;
    struct kafka_request_header hdr;
    struct kafka_reader r; /* positioned at the body */
    struct arena *arena;
    int64_t now_ms;
    int16_t acks; /* Produce */
};

typedef int (*broker_handler_fn)(struct broker_req *req);

struct broker_api {
    int16_t key;
    int16_t min_version;
    int16_t max_version;
    broker_handler_fn handler;
};

struct broker_fetcher;
struct produce_waiter;

struct broker {
    struct event_base *base;
    struct broker_config cfg;
    struct md_client *mdc;
    struct broker_topic **buckets;
    size_t bucket_count;
    struct arena arena; /* per synchronous request, reset after each */
    struct gbuf scratch; /* recompression */
    struct fetch_waiter *waiters; /* all delayed fetches */
    int64_t next_retention_ms;
    int64_t next_checkpoint_ms;
    int32_t message_max_bytes;
    int32_t fetch_max_bytes; /* fetch.max.bytes: caps every response */
    bool auto_create;
    int64_t replica_lag_ms;               /* replica.lag.time.max.ms */
    struct broker_fetcher *fetchers;      /* one per leader this broker follows */
    struct produce_waiter *pwaiters;      /* acks=all produces waiting for the high watermark */
    int64_t next_isr_check_ms;
    int64_t pid_next, pid_end;            /* producer ids granted by the controller */
    bool pid_requesting;
    struct coord *coord;                  /* the group coordinator (broker_coordinator.c) */
    const char *const *listener_names;    /* by net listener index (broker_set_listeners) */
    int listener_count;
    const char *inter_broker_listener;    /* the listener followers fetch from leaders on */
};

extern const struct broker_api broker_apis[];
extern const size_t broker_api_count;
const struct broker_api *broker_api_find(int16_t key);

struct broker_topic *broker_topic_find(struct broker *b, const char *name, size_t len);
struct broker_partition *broker_partition_find(struct broker *b, struct kafka_str topic,
                                               int32_t partition);
/* KAFKA_ERR_NONE when this broker leads partition `partition` of t (t may be NULL) and hosts
 * its log; else the error for the client: UNKNOWN_TOPIC_OR_PARTITION, LEADER_NOT_AVAILABLE, or
 * NOT_LEADER_OR_FOLLOWER (the client refreshes its metadata and goes to the leader). */
int16_t broker_lead_error(struct broker *b, const struct broker_topic *t, int32_t partition);
/* Encodes the response header then calls encode_body; finishes the slot. */
void broker_respond_begin(struct broker_req *req, struct kafka_writer *w);
void broker_respond_end(struct broker_req *req, struct kafka_writer *w);

/* The name of the listener the request came in on (NULL when unknown: the first endpoint). */
const char *broker_req_listener(const struct broker_req *req);
/* A copy of a Kafka string into the request arena, NUL-terminated. */
char *broker_strdup(struct broker_req *req, struct kafka_str s);

int broker_handle_api_versions(struct broker_req *req);
int broker_handle_metadata(struct broker_req *req);
int broker_handle_produce(struct broker_req *req);
int broker_handle_fetch(struct broker_req *req);
int broker_handle_list_offsets(struct broker_req *req);
int broker_handle_create_topics(struct broker_req *req);
int broker_handle_delete_topics(struct broker_req *req);
int broker_handle_describe_configs(struct broker_req *req);
int broker_handle_describe_quorum(struct broker_req *req);
int broker_handle_create_partitions(struct broker_req *req);
int broker_handle_alter_configs(struct broker_req *req);
int broker_handle_incremental_alter_configs(struct broker_req *req);
int broker_handle_elect_leaders(struct broker_req *req);
int broker_handle_find_coordinator(struct broker_req *req);
int broker_handle_join_group(struct broker_req *req);
int broker_handle_sync_group(struct broker_req *req);
int broker_handle_heartbeat(struct broker_req *req);
int broker_handle_leave_group(struct broker_req *req);
int broker_handle_offset_commit(struct broker_req *req);
int broker_handle_offset_fetch(struct broker_req *req);
int broker_handle_offset_delete(struct broker_req *req);
int broker_handle_list_groups(struct broker_req *req);
int broker_handle_describe_groups(struct broker_req *req);
int broker_handle_delete_groups(struct broker_req *req);

/* ------------------------------------------------------------------------------------------ */
/* Consumer groups: the records of __consumer_offsets (broker_group_records.c, pure) and the
 * coordinator's hooks (broker_coordinator.c). */

struct grp_offset {
    int64_t offset;
    int32_t leader_epoch;
    char *metadata;
    int64_t commit_ts;
};

struct grp_member_value {
    char *member_id, *instance_id, *client_id, *client_host;
    int32_t rebalance_ms, session_ms;
    uint8_t *subscription, *assignment;
    int32_t subscription_len, assignment_len;
};

struct grp_group_value {
    char *protocol_type, *protocol, *leader;
    int32_t generation;
    int64_t state_ts;
    struct grp_member_value *members;
    int32_t member_count;
};

enum { GRP_REC_OFFSET = 1, GRP_REC_GROUP = 2 };

struct grp_record {
    int kind;
    char *group, *topic;
    int32_t partition;
    bool tombstone;
    struct grp_offset offset;           /* GRP_REC_OFFSET */
    struct grp_group_value group_value; /* GRP_REC_GROUP */
};

/* Java's String.hashCode of UTF-8 text, and Kafka's partitionFor(group). */
int32_t grp_java_string_hash(const char *s, size_t n);
int32_t grp_partition_for(const char *group, size_t n, int32_t partitions);
void grp_offset_key_encode(struct kafka_writer *w, const char *group, const char *topic,
                           int32_t partition);
void grp_offset_value_encode(struct kafka_writer *w, const struct grp_offset *o);
void grp_group_key_encode(struct kafka_writer *w, const char *group);
void grp_group_value_encode(struct kafka_writer *w, const struct grp_group_value *g);
/* Decodes one record of __consumer_offsets (value NULL or value_len < 0: a tombstone) into
 * views allocated from `a`.  0, GR_ECORRUPT, or GR_EUNSUP for record types that are not
 * offsets or group metadata. */
int grp_record_decode(const uint8_t *key, int32_t key_len, const uint8_t *value,
                      int32_t value_len, struct arena *a, struct grp_record *out);
bool grp_subscription_has_topic(const uint8_t *p, int32_t n, const char *topic);

int broker_coord_new(struct broker *b);
void broker_coord_free(struct broker *b);
/* A partition of __consumer_offsets changed role here: load or unload its groups. */
void broker_coord_partition_changed(struct broker *b, struct broker_partition *p);
/* High watermarks moved or leaderships changed: finish the appends that wait on them. */
void broker_coord_recheck(struct broker *b);
void broker_coord_tick(struct broker *b, int64_t now_mono);

/* Delayed fetch support (broker_fetch.c). */
void broker_partition_appended(struct broker *b, struct broker_partition *p);
void broker_fetch_cancel_all(struct broker *b);
void broker_fetch_partition_gone(struct broker *b, struct broker_partition *p);
/* The partition struct moved (its topic grew): delayed fetches follow it. */
void broker_fetch_partition_moved(struct broker_partition *from, struct broker_partition *to);

/* Replication (broker_replica.c, broker_fetcher.c). */
/* Pure rules, unit-tested: the leader's new high watermark (the ISR's smallest log end, a
 * follower being added counted as in sync, never going back); a follower's fetch updating
 * the leader's view of it; where a follower truncates when its leader reports a diverging
 * epoch (leader_end -1: undefined; local_end_for_epoch -1: we have no such epoch). */
int64_t broker_replica_compute_hw(int64_t leader_leo, int64_t hw,
                                  const struct broker_follower *followers, int32_t n,
                                  const int32_t *isr, int32_t isr_count, int32_t adding);
void broker_replica_fetch_update(struct broker_follower *f, int64_t fetch_offset,
                                 int64_t leader_leo, int64_t now_ms);
int64_t broker_replica_truncation_offset(int64_t leo, int64_t hw, int32_t leader_epoch,
                                         int64_t leader_end, int64_t local_end_for_epoch);
/* Brings the partitions of t in step with the image: leader or follower, epochs, ISR. */
void broker_replica_sync(struct broker *b, struct broker_topic *t, const struct md_topic *mt);
/* The partition is going away (topic deleted, broker stopping). */
void broker_replica_forget(struct broker *b, struct broker_partition *p);
/* Leader: recomputes the high watermark (min log end offset of the ISR); on an advance, wakes
 * delayed fetches and produces. */
void broker_replica_update_hw(struct broker *b, struct broker_partition *p);
/* Leader: a follower fetched at fetch_offset (its log end offset). */
void broker_replica_follower_fetched(struct broker *b, struct broker_partition *p, int32_t id,
                                     int64_t fetch_offset, int64_t now_ms);
/* Leader: ISR shrink for followers behind replica.lag.time.max.ms; AlterPartition retries. */
void broker_replica_tick(struct broker *b, int64_t now_ms);
void broker_fetcher_follow(struct broker *b, struct broker_partition *p);
void broker_fetcher_unfollow(struct broker *b, struct broker_partition *p);
void broker_fetchers_free(struct broker *b);
/* Delayed acks=all produces (broker_produce.c): rechecked when a high watermark advances or a
 * leadership changes; all answered at shutdown. */
void broker_produce_recheck(struct broker *b);
void broker_produce_cancel_all(struct broker *b);

/* Idempotent producers (broker_idempotence.c). */
int broker_handle_init_producer_id(struct broker_req *req);
void broker_pids_refill(struct broker *b);
int16_t broker_pstate_check(struct broker_partition *p, const uint8_t *batches, size_t n,
                            int64_t *dup_offset);
void broker_pstate_appended(struct broker_partition *p, const uint8_t *batches, size_t n);
void broker_pstate_rebuild(struct broker_partition *p);
void broker_pstate_free(struct broker_partition *p);

void broker_topic_resolve_configs(struct broker *b, struct broker_topic *t,
                                  const struct md_topic *mt);

#endif

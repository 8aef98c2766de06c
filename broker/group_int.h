/* group_int.h — private to the group coordinator (broker_group.c, broker_coordinator.c).
 *
 * The coordinator of a group is the leader of partition grp_partition_for(group) of
 * __consumer_offsets.  Its groups live in memory, rebuilt from that partition when this broker
 * becomes its leader, and every change that must survive (a completed rebalance's assignment,
 * committed offsets, a deletion) is appended to it and takes effect once the partition's high
 * watermark passes it, as Kafka's does. */
#ifndef GREGOR_BROKER_GROUP_INT_H
#define GREGOR_BROKER_GROUP_INT_H

#include "broker/broker_int.h"

#define GRP_OFFSETS_TOPIC "__consumer_offsets"

enum grp_state { GRP_EMPTY, GRP_PREPARING, GRP_COMPLETING, GRP_STABLE, GRP_DEAD };

/* A response that waits (a JoinGroup until the rebalance completes, a SyncGroup until the
 * leader's assignment is committed). */
struct grp_park {
    struct net_slot *slot; /* NULL: nothing waiting */
    struct kafka_request_header hdr;
};

struct grp_protocol {
    char *name;
    uint8_t *meta;
    int32_t meta_len;
};

struct grp_member {
    char *id, *instance_id, *client_id, *client_host;
    int32_t session_ms, rebalance_ms;
    char *protocol_type;
    struct grp_protocol *protocols;
    int32_t protocol_count;
    uint8_t *assignment;
    int32_t assignment_len;
    int64_t heartbeat_deadline; /* monotonic ms */
    struct grp_park join, sync;
    bool joined; /* rejoined in the rebalance under way */
};

struct grp_stored_offset {
    char *topic; /* owned, as is o.metadata */
    int32_t partition;
    struct grp_offset o;
};

struct grp_group {
    struct grp_group *next; /* hash chain */
    struct coord *c;
    char *id;
    int32_t part; /* its __consumer_offsets partition */
    enum grp_state state;
    int32_t generation;
    char *protocol_type, *protocol, *leader;
    int64_t state_ts; /* wall ms of the last state change (offsets expiry of empty groups) */
    struct grp_member **members;
    int32_t member_count, member_cap;
    char **pending; /* member ids handed out with MEMBER_ID_REQUIRED */
    int64_t *pending_deadline;
    int32_t pending_count, pending_cap;
    struct grp_stored_offset *offsets;
    int32_t offset_count, offset_cap;
    int64_t join_deadline;   /* PreparingRebalance: when it completes at the latest */
    int64_t delay_deadline;  /* ... the initial rebalance delay of a new group */
    int64_t sync_deadline;   /* CompletingRebalance: when missing syncs give up */
    int32_t appends;         /* writes in flight that refer to the group */
};

/* Per partition of __consumer_offsets. */
enum coord_part_state { CP_NONE, CP_LOADING, CP_ACTIVE };

struct coord_append;

struct coord {
    struct broker *b;
    int32_t part_count;
    enum coord_part_state *part_state;
    int32_t *part_epoch; /* the leader epoch the partition was loaded at */
    struct grp_group **buckets;
    size_t bucket_count;
    struct coord_append *appends;
    struct event *load_ev;
    int64_t next_expiry_ms;
    int64_t next_create_ms;
    /* configs */
    int32_t min_session_ms, max_session_ms, initial_delay_ms, max_group_size;
    int32_t commit_timeout_ms, metadata_max_bytes, num_partitions;
    int16_t replication_factor;
    int64_t retention_ms, retention_check_ms;
};

/* broker_coordinator.c */
/* The state of group `id`'s coordinator here: NONE (this broker coordinates it),
 * NOT_COORDINATOR or COORDINATOR_LOAD_IN_PROGRESS. */
int16_t coord_check(struct coord *c, const char *id, int32_t *part);
struct grp_group *coord_group_find(struct coord *c, const char *id);
struct grp_group *coord_group_add(struct coord *c, const char *id, int32_t part);
void coord_group_remove(struct coord *c, struct grp_group *g);
typedef void (*coord_append_fn)(void *arg, int16_t error);
/* Appends the batch in `batch` (built with rb_builder, base offset 0) to partition `part`;
 * done(arg, NONE) once the high watermark passes it, else with NOT_COORDINATOR,
 * COORDINATOR_NOT_AVAILABLE or REQUEST_TIMED_OUT.  done may run before this returns (an
 * error at once). */
void coord_append(struct coord *c, int32_t part, struct gbuf *batch, coord_append_fn done,
                  void *arg);
/* Sends a response body encoded by `enc` for a parked request. */
void grp_park_reply(struct broker *b, struct grp_park *pk,
                    void (*enc)(struct kafka_writer *w, int16_t v, const void *resp),
                    const void *resp);
/* Adds a stored offset (replacing the same topic-partition); -1 on no memory. */
int grp_offset_put(struct grp_group *g, const struct grp_stored_offset *o);
void grp_offset_del(struct grp_group *g, const char *topic, int32_t partition);

/* broker_group.c */
/* A NUL-terminated heap copy of a Kafka string (NULL for null or no memory), and whether a C
 * string (NULL = null) equals one. */
char *grp_kstr_dup(struct kafka_str s);
bool grp_str_is(const char *a, struct kafka_str b);
struct grp_group *grp_new(struct coord *c, const char *id, int32_t part);
void grp_free(struct grp_group *g);
/* Rebuilds a group from its metadata record while loading (members as Stable). */
int grp_load_value(struct grp_group *g, const struct grp_group_value *v, int64_t now_mono);
/* The coordinator lost the partition: waiting members get NOT_COORDINATOR. */
void grp_unload(struct grp_group *g);
void grp_tick(struct grp_group *g, int64_t now_mono);
const char *grp_state_name(enum grp_state s);
struct grp_member *grp_member_find(struct grp_group *g, const char *id);
/* Writes a group metadata record (or a tombstone) into the builder. */
int grp_write_metadata(struct grp_group *g, struct rb_builder *rb, int64_t now_wall,
                       bool tombstone);

#endif

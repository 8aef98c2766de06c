/* controller_int.h — private to the controller module. */
#ifndef GREGOR_CONTROLLER_INT_H
#define GREGOR_CONTROLLER_INT_H

#include "controller/controller.h"

/* Metadata record types, numbered as Kafka's metadata records are. */
enum md_record_type {
    MD_REC_REGISTER_BROKER = 0,
    MD_REC_TOPIC = 2,
    MD_REC_PARTITION = 3,
    MD_REC_CONFIG = 4,
    MD_REC_REMOVE_TOPIC = 9,
    MD_REC_FEATURE_LEVEL = 12,
    MD_REC_PRODUCER_IDS = 15,
    MD_REC_BROKER_CHANGE = 17,
};
#define MD_RESOURCE_TOPIC 2
#define MD_RESOURCE_BROKER 4

/* Topics one batch creates: the listener hears of them once the whole batch (their partitions
 * and configs) is applied.  CreateTopics caps a request at this many topics. */
#define MD_CREATED_MAX 4096
struct md_created {
    struct gr_uuid ids[MD_CREATED_MAX];
    int n;
    struct gr_uuid changed[64]; /* existing topics whose partitions changed in this batch */
    int n_changed;
    bool changed_overflow;      /* more than fit: every topic is announced */
};

/* A replica of the metadata state: the image, plus what applying needs.  The quorum
 * controller and the broker-side md_client each own one. */
struct md_state {
    struct md_image image;
    struct controller_listener listener; /* may be all NULL */
    struct arena arena;                  /* scratch for decoding records */
    struct gbuf scratch;
    struct md_created created;
};
int md_state_init(struct md_state *s, const struct gr_uuid *cluster_id,
                  const struct controller_listener *l);
void md_state_close(struct md_state *s);
/* Applies the record batch of the committed entry at `index` (every record in it). */
int md_state_apply(struct md_state *s, uint64_t index, const uint8_t *batch, size_t n);
/* Writes the image as one record batch that rebuilds it (a snapshot's data). */
int md_state_snapshot(const struct md_state *s, struct gbuf *out);
/* Replaces the image with a snapshot taken at `index`, telling the listener which topics
 * appeared, went, or changed configs. */
int md_state_load_snapshot(struct md_state *s, uint64_t index, const uint8_t *data, size_t n);

int md_image_init(struct md_image *img);
void md_image_close(struct md_image *img);
struct md_topic *md_image_add_topic(struct md_image *img, const char *name, size_t len,
                                    const struct gr_uuid *id);
void md_image_remove_topic(struct md_image *img, struct md_topic *t);
int md_topic_set_partition(struct md_topic *t, const struct md_partition *p);
/* Adds or replaces broker id with copies of its endpoints (at least one) and rack. */
struct md_broker *md_image_set_broker(struct md_image *img, int32_t id,
                                      const struct md_endpoint *eps, int32_t n, const char *rack);
/* Frees what a broker owns (endpoints, rack), not the struct. */
void md_broker_clear(struct md_broker *b);
void md_image_clear(struct md_image *img);

/* A batch of metadata records being built: each record value is
 *   uvarint type | uvarint version | body (the generated flexible encoding)            */
struct md_batch {
    struct rb_builder rb;
    struct gbuf value;
    int err;
};
void md_batch_init(struct md_batch *b);
void md_batch_close(struct md_batch *b);
void md_batch_add_topic(struct md_batch *b, struct kafka_str name, const struct gr_uuid *id);
void md_batch_add_partition(struct md_batch *b, const struct gr_uuid *topic_id, int32_t partition,
                            const int32_t *replicas, int32_t replica_count, int32_t leader);
void md_batch_add_config(struct md_batch *b, int8_t resource_type, struct kafka_str resource,
                         struct kafka_str name, struct kafka_str value);
void md_batch_add_remove_topic(struct md_batch *b, const struct gr_uuid *topic_id);
/* A partition's whole state (creation, and later changes of leader or ISR). */
void md_batch_add_partition_state(struct md_batch *b, const struct gr_uuid *topic_id,
                                  const struct md_partition *p);
void md_batch_add_register_broker(struct md_batch *b, const struct md_broker *br);
/* fenced: 1 fence, -1 unfence, 0 no change; shutdown: 1 entering controlled shutdown. */
void md_batch_add_broker_change(struct md_batch *b, int32_t id, int64_t epoch, int8_t fenced,
                                int8_t shutdown);
void md_batch_add_producer_ids(struct md_batch *b, int32_t broker_id, int64_t broker_epoch,
                               int64_t next_producer_id);
/* Finishes the batch into out (appended).  Returns 0, or b->err / GR_ENOMEM. */
int md_batch_finish(struct md_batch *b, struct gbuf *out);

/* ------------------------------------------------------------------------------------------ */
/* The quorum controller                                                                       */

struct raft;
struct raft_io_log;
struct raft_transport;
struct event;

enum ctrl_op_kind {
    CTRL_OP_FORWARD,  /* a Kafka admin request forwarded by a broker */
    CTRL_OP_REGISTER, /* BrokerRegistration */
    CTRL_OP_FENCE,    /* session expired */
    CTRL_OP_UNFENCE,  /* caught up */
    CTRL_OP_SHUTDOWN, /* controlled shutdown asked for in a heartbeat */
    CTRL_OP_ALTER_PARTITION, /* a partition leader changes the ISR */
    CTRL_OP_PRODUCER_IDS,    /* a broker wants a block of producer ids */
    CTRL_OP_REBALANCE,       /* internal: the automatic preferred leader election */
};

#define CTRL_ISR_MAX 16
#define CTRL_PRODUCER_ID_BLOCK 1000 /* Kafka's block size */

/* One change the active controller makes, in order, one at a time: it is decided against the
 * image (which holds every earlier change, committed and applied), proposed as one entry, and
 * answered when that entry is applied (or failed when leadership is lost). */
struct ctrl_op {
    struct ctrl_op *next;
    enum ctrl_op_kind kind;
    struct net_slot *slot; /* the RPC to answer; NULL for internal ops */
    uint64_t correlation_id;
    int32_t broker_id;
    int64_t broker_epoch;
    /* FORWARD */
    int16_t api_key, api_version;
    struct gbuf body;     /* request body (the decoded request holds views into it) */
    struct gbuf out;      /* response body once decided */
    struct arena arena;   /* the decoded request and response */
    void *req, *resp;     /* kafka_*_request / _response, in arena */
    bool decided;         /* resp holds an answer per item */
    /* REGISTER */
    struct md_broker reg; /* host, rack owned by the op */
    /* ALTER_PARTITION */
    struct gr_uuid topic_id;
    int32_t partition, leader_epoch, partition_epoch;
    int32_t isr[CTRL_ISR_MAX];
    int32_t isr_count;
    /* PRODUCER_IDS */
    int64_t pid_start;
    /* proposed at */
    uint64_t index, term;
};

struct ctrl_session {
    int32_t id;
    int64_t epoch;
    int64_t last_heartbeat_ms; /* monotonic */
    int64_t last_heartbeat_wall_ms;
    int64_t metadata_offset;
    bool op_pending; /* a fence/unfence/shutdown op is queued */
};

struct ctrl_fetch; /* a parked FetchMetadata */

struct controller {
    struct controller_config cfg;
    struct controller_voter voters[CONTROLLER_VOTERS_MAX];
    struct event_base *base;
    struct md_state st;
    struct raft *raft;
    struct raft_io_log *log;
    struct raft_transport *transport;
    struct event *ev_drive, *ev_tick;
    struct arena rpc_arena;
    struct gbuf out;
    /* the latest snapshot (what a broker behind it is sent) */
    struct gbuf snap;
    uint64_t snap_index, snap_term;
    uint64_t bytes_since_snapshot;
    uint64_t snapshot_bytes_max;  /* metadata.log.max.record.bytes.between.snapshots */
    /* leadership */
    bool leader;
    uint64_t term;
    uint64_t ready_index; /* ops wait until this (the new leader's noop) is applied */
    struct ctrl_op *ops_head, *ops_tail;
    bool op_in_flight;
    struct ctrl_session sessions[64];
    int n_sessions;
    int64_t session_timeout_ms;
    uint32_t election_timeout_ms;
    int64_t last_contact_wall[CONTROLLER_VOTERS_MAX];
    int64_t caught_up_wall[CONTROLLER_VOTERS_MAX];
    struct ctrl_fetch *fetches;
    int64_t now_ms;
    /* automatic preferred leader election (auto.leader.rebalance.enable), read each time this
     * node becomes the active controller */
    uint64_t rebalance_term;       /* the term the fields below were set up for */
    bool rebalance_enable;
    bool rebalance_pending;        /* a CTRL_OP_REBALANCE is queued, not yet decided */
    int64_t rebalance_interval_ms; /* leader.imbalance.check.interval.seconds */
    int32_t imbalance_pct;         /* leader.imbalance.per.broker.percentage */
    int64_t rebalance_due_ms;      /* monotonic */
};

/* controller_ops.c */
void ctrl_ops_run(struct controller *c);
void ctrl_ops_applied(struct controller *c, uint64_t index, uint64_t term);
void ctrl_ops_fail_all(struct controller *c);
void ctrl_op_enqueue(struct controller *c, struct ctrl_op *op);
struct ctrl_op *ctrl_op_new(enum ctrl_op_kind kind);
void ctrl_op_free(struct ctrl_op *op);
void ctrl_sessions_reset(struct controller *c);
struct ctrl_session *ctrl_session_get(struct controller *c, int32_t id, bool create);
void ctrl_sessions_tick(struct controller *c);
/* A heartbeat arrived: decides whether the broker should change state. */
void ctrl_session_heartbeat(struct controller *c, struct ctrl_session *s,
                            const struct md_broker *br, bool want_fence, bool want_shutdown);
/* Active controller, every tick: queues a CTRL_OP_REBALANCE every
 * leader.imbalance.check.interval.seconds when auto.leader.rebalance.enable is set. */
void ctrl_rebalance_tick(struct controller *c);
/* Chooses replicas for `partitions` new partitions among live brokers (rack-aware), writing
 * rf ids per partition into out (partitions * rf).  Returns 0 or GR_EINVAL (too few). */
int ctrl_place_replicas(const struct md_image *img, int32_t partitions, int32_t rf,
                        int32_t seed, int32_t *out);

/* Forwarded Kafka admin APIs (controller_admin.c): decode into op->req, decide (filling
 * op->resp and the records), encode op->resp, and mark every successful item failed. */
struct ctrl_api {
    int16_t key, min_version, max_version;
    int (*decode)(struct ctrl_op *op, struct kafka_reader *r); /* allocates req and resp */
    void (*decide)(struct controller *c, struct ctrl_op *op, struct md_batch *b);
    int (*encode)(struct ctrl_op *op, struct gbuf *out);
    void (*fail)(struct ctrl_op *op, int16_t ec, const char *msg);
};
const struct ctrl_api *ctrl_api_find(int16_t key);
/* Returns NONE, UNSUPPORTED_VERSION or INVALID_REQUEST. */
int16_t ctrl_api_decode(const struct ctrl_api *api, struct ctrl_op *op);
bool ctrl_broker_live(const struct md_broker *b);
/* A manual replica assignment: every broker registered, none twice.  A Kafka error. */
int16_t ctrl_check_replicas(const struct md_image *img, const int32_t *ids, int32_t n,
                            const char **msg, struct arena *a);
void ctrl_decide_create_topics(struct controller *c, struct ctrl_op *op, struct md_batch *b);
void ctrl_fail_create_topics(struct ctrl_op *op, int16_t ec, const char *msg);
void ctrl_decide_delete_topics(struct controller *c, struct ctrl_op *op, struct md_batch *b);
void ctrl_fail_delete_topics(struct ctrl_op *op, int16_t ec, const char *msg);

/* Leader elections (controller_admin.c), decided against an image. */
enum ctrl_election_type { CTRL_ELECTION_PREFERRED = 0, CTRL_ELECTION_UNCLEAN = 1 };
/* Partitions one automatic election moves at most; more wait for the next tick. */
#define CTRL_REBALANCE_MAX 1000
/* The election of one partition p of img, as Kafka's ElectLeaders decides it.
 *   PREFERRED: replicas[0] becomes leader when it is live (ctrl_broker_live) and in the ISR;
 *              ELECTION_NOT_NEEDED when it leads already, else PREFERRED_LEADER_NOT_AVAILABLE.
 *   UNCLEAN:   only for a partition without a leader: a live ISR member, else the first live
 *              replica with the ISR reduced to it; ELECTION_NOT_NEEDED when there is a leader,
 *              ELIGIBLE_LEADERS_NOT_AVAILABLE when no replica is live.
 * Returns NONE with *np the partition's new state (leader and partition epochs + 1; np->isr
 * points into p or at isr_one, one int32_t of the caller's), or the Kafka error with Kafka's
 * message in *msg (static).  Nothing is changed. */
int16_t ctrl_elect_leader(const struct md_image *img, const struct md_partition *p, int8_t type,
                          struct md_partition *np, int32_t *isr_one, const char **msg);
/* The automatic preferred leader election: for each broker, when more than imbalance_pct
 * percent of the partitions whose preferred replica it is are led by another broker (or none),
 * records in b the preferred elections of those that can have it back (ctrl_elect_leader), at
 * most CTRL_REBALANCE_MAX.  Returns the number of partitions moved. */
int32_t ctrl_decide_rebalance(const struct md_image *img, int32_t imbalance_pct,
                              struct md_batch *b);

/* controller_server.c */
void ctrl_answer(struct controller *c, struct net_slot *slot, Gregor__Control__ControlFrame *f);
void ctrl_fetches_wake(struct controller *c, bool all);
void ctrl_fetches_free(struct controller *c);
int32_t ctrl_leader_hint(const struct controller *c);

/* controller_quorum.c */
void ctrl_kick(struct controller *c);
struct raft_msg;
void ctrl_step_frame(struct controller *c, const struct raft_msg *m); /* schedule a drive of the Raft core */
int ctrl_propose(struct controller *c, const uint8_t *data, size_t len, uint64_t *index,
                 uint64_t *term);

#endif

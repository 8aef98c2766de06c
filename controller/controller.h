/*
 * controller.h — the public header of Gregor's `controller` module: the configuration registry
 * (broker and topic keys with Kafka's names and defaults), the metadata image, and the
 * controller that turns admin requests into metadata records, commits them to the metadata log
 * and applies them to the image.
 *
 * The metadata log is a Raft log (raft/) in `<log.dirs>/__cluster_metadata-0`, replicated by
 * the controller quorum (controller.quorum.voters).  Every entry is one record batch whose
 * record values are metadata records (controller_records.c), so one admin operation commits
 * whole or not at all.  The active controller (the Raft leader) decides: it validates a
 * request against its image, proposes the records, and answers once they are committed and
 * applied.  Every node applies the same committed entries, in order, to its own image:
 * controllers from their Raft log, brokers from FetchMetadata (md_client).  Snapshots are the
 * image written as the records that rebuild it.
 *
 * Threading: one thread (the node's event loop).
 */
#ifndef GREGOR_CONTROLLER_H
#define GREGOR_CONTROLLER_H

#include "common/common.h"
#include "proto/proto.h"
#include "proto/proto_control.h"
#include "storage/storage.h"

/* ------------------------------------------------------------------------------------------ */
/* Configuration registry                                                                      */

/* DescribeConfigs config_source values, as Kafka numbers them. */
enum cfg_source { CFG_SOURCE_UNKNOWN = 0, CFG_SOURCE_TOPIC = 1, CFG_SOURCE_DYNAMIC_BROKER = 2,
                  CFG_SOURCE_DYNAMIC_DEFAULT_BROKER = 3, CFG_SOURCE_STATIC_BROKER = 4,
                  CFG_SOURCE_DEFAULT = 5 };

enum cfg_type { CFG_INT, CFG_LONG, CFG_BOOL, CFG_STRING, CFG_LIST, CFG_DOUBLE, CFG_PASSWORD };
/* Where a key takes effect; CFG_SCOPE_IGNORED keys are accepted (Kafka users have them in their
 * files) but have no effect in Gregor. */
enum cfg_scope { CFG_SCOPE_BROKER, CFG_SCOPE_TOPIC, CFG_SCOPE_IGNORED };

struct cfg_def {
    const char *name;
    enum cfg_type type;
    const char *default_value; /* NULL = no default (required or unset) */
    enum cfg_scope scope;
    const char *broker_synonym; /* topic keys: the broker key supplying the default */
    int64_t min;                /* numeric lower bound (inclusive) */
    const char *doc;
};

/* All known broker keys, then all topic keys; terminated by a NULL name. */
extern const struct cfg_def cfg_broker_defs[];
extern const struct cfg_def cfg_topic_defs[];
const struct cfg_def *cfg_find(const struct cfg_def *defs, const char *name);
/* Validates one value against its definition.  0, or GR_EINVAL with a message in err. */
int cfg_validate(const struct cfg_def *d, const char *value, char *err, size_t err_len);

/* Loads server.properties plus `--override k=v` pairs into `out`, validates every known key,
 * warns about unknown keys, derives keys Kafka derives (log.retention.ms from .minutes/.hours,
 * log.roll.ms from log.roll.hours, log.dirs from log.dir, advertised.listeners from
 * listeners) and fills defaults.  Returns 0, or GR_EINVAL/GR_EIO with a message in err. */
int cfg_broker_load(struct props *out, const char *path, char **overrides, int n_overrides,
                    char *err, size_t err_len);
/* True when `key` of the loaded broker config was set by the user (file or override). */
bool cfg_broker_is_set(const struct props *broker, const char *key);

int64_t cfg_get_long(const struct props *p, const char *key, int64_t dflt);
bool cfg_get_bool(const struct props *p, const char *key, bool dflt);
const char *cfg_get_str(const struct props *p, const char *key, const char *dflt);

/* The value in effect for a topic key: the topic's own override, else the broker synonym's
 * value, else the static default.  *source (may be NULL) gets the DescribeConfigs source:
 * CFG_SOURCE_TOPIC, CFG_SOURCE_STATIC_BROKER (the broker key was set in server.properties) or
 * CFG_SOURCE_DEFAULT.  Returns NULL for an unknown key. */
const char *cfg_topic_value(const struct props *topic_overrides, const struct props *broker,
                            const char *key, int8_t *source);
/* Builds the storage config of a topic from its overrides and the broker config. */
void cfg_topic_storage_config(const struct props *topic_overrides, const struct props *broker,
                              struct storage_log_config *out);

/* ------------------------------------------------------------------------------------------ */
/* Metadata image                                                                              */

struct md_partition {
    int32_t id;
    int32_t leader;
    int32_t leader_epoch;
    int32_t partition_epoch;
    int32_t replica_count;
    int32_t *replicas;
    int32_t isr_count;
    int32_t *isr;
};

struct md_topic {
    char *name;
    struct gr_uuid id;
    int32_t partition_count;
    struct md_partition *partitions;
    struct props configs; /* topic-level overrides only */
    struct md_topic *hash_next;
};

/* One advertised listener of a broker (advertised.listeners, or listeners). */
#define MD_ENDPOINTS_MAX 16
struct md_endpoint {
    char *name; /* the listener name: PLAINTEXT, INTERNAL, EXTERNAL, ... */
    char *host;
    int32_t port;
};

struct md_broker {
    int32_t id;
    char *host; /* its first advertised endpoint (for logs) */
    int32_t port;
    struct md_endpoint *endpoints; /* every broker listener, as registered */
    int32_t endpoint_count;
    char *rack; /* NULL if none */
    int64_t epoch; /* the metadata offset of its registration */
    struct gr_uuid incarnation;
    bool fenced;
    bool in_controlled_shutdown;
};

struct md_image {
    struct md_topic **buckets;
    size_t bucket_count;
    size_t topic_count;
    struct md_broker *brokers;
    int32_t broker_count;
    int64_t applied_offset; /* metadata-log offset (Raft index) of the last applied entry, -1 */
    int64_t next_producer_id; /* the first producer id no broker has been given */
    struct gr_uuid cluster_id;
    char cluster_id_str[23];
};

struct md_topic *md_image_topic(const struct md_image *img, const char *name, size_t name_len);
struct md_topic *md_image_topic_by_id(const struct md_image *img, const struct gr_uuid *id);
/* A registered broker, or NULL. */
const struct md_broker *md_image_broker(const struct md_image *img, int32_t id);
/* The endpoint of listener `name` (NULL: the first), or NULL when the broker has none by that
 * name: Kafka then leaves the broker out of what it tells a client of that listener. */
const struct md_endpoint *md_broker_endpoint(const struct md_broker *b, const char *name);
/* A partition of a topic, or NULL. */
const struct md_partition *md_topic_partition(const struct md_topic *t, int32_t id);
/* Calls fn for every topic (order unspecified). */
void md_image_foreach(const struct md_image *img, void (*fn)(void *arg, struct md_topic *t),
                      void *arg);

/* Kafka's topic-name rules: [a-zA-Z0-9._-], 1..249 chars, not "." or "..".  Returns NULL if
 * legal, else the reason. */
const char *md_topic_name_invalid(const char *name, size_t len);


/* Observers of applied changes (the broker creates and deletes partition logs from these).
 * Called after the image has changed (topic_deleting: just before the topic goes). */
struct controller_listener {
    void *arg;
    void (*topic_created)(void *arg, const struct md_topic *t);
    void (*topic_deleting)(void *arg, const struct md_topic *t);
    void (*topic_config_changed)(void *arg, const struct md_topic *t);
    /* partitions of an existing topic changed: added, or a new leader, leader epoch or ISR */
    void (*partitions_changed)(void *arg, const struct md_topic *t);
};

/* ------------------------------------------------------------------------------------------ */
/* The quorum controller (nodes with process.roles containing `controller`)                    */

struct event_base;
struct net_conn;
struct net_slot;

#define CONTROLLER_VOTERS_MAX 16

struct controller_voter {
    int32_t id;
    char host[256];
    int port;
};

/* Parses controller.quorum.voters ("1@host:9093,2@host:9093").  Returns the count (>= 1), or
 * -1 with a message in err. */
int controller_parse_voters(const char *spec, struct controller_voter *out, int max, char *err,
                            size_t err_len);

struct controller_config {
    const struct props *broker; /* effective node config, borrowed for the lifetime */
    int32_t node_id;
    const char *log_dir;        /* the metadata log is <log_dir>/__cluster_metadata-0 */
    struct gr_uuid cluster_id;
    const struct controller_voter *voters;
    int n_voters;
};

struct controller;

/* Opens the durable Raft log, restores the image from its snapshot and entries, and starts
 * the Raft core (a follower; it elects a leader with the other voters).  Nothing is served
 * until controller_on_frame is wired to the controller listener. */
int controller_open(struct event_base *base, const struct controller_config *cfg,
                    struct controller **out, char *err, size_t err_len);
/* Hands leadership to another voter if this node leads (clean shutdown), then frees. */
void controller_free(struct controller *c);
/* net_frame_fn of the controller listener (ctx = the controller): Raft messages and the
 * control-plane RPCs (broker registration, heartbeats, metadata fetches, forwarded requests,
 * DescribeQuorum). */
int controller_on_frame(void *ctx, struct net_conn *conn, struct net_slot *slot,
                        uint8_t *payload, size_t len);
/* For the node's log line and tests. */
const struct md_image *controller_image(const struct controller *c);
bool controller_is_leader(const struct controller *c);
/* Clean shutdown: hands leadership to the most caught-up other voter.  GR_EINVAL when this
 * node does not lead or is the only voter. */
int controller_transfer_leadership(struct controller *c);

/* ------------------------------------------------------------------------------------------ */
/* The metadata client (nodes with the `broker` role)                                          */

struct md_client;

struct md_client_config {
    const struct props *broker; /* effective node config, borrowed */
    int32_t node_id;
    struct gr_uuid cluster_id;
    const struct md_endpoint *endpoints; /* the advertised broker listeners (borrowed) */
    int32_t endpoint_count;
    const struct controller_voter *voters;
    int n_voters;
};

/* Called once, when this broker has caught up and the controller has unfenced it. */
typedef void (*md_client_ready_fn)(void *arg);

/* Starts following the committed metadata log (applying it to this node's own image and
 * telling the listener), registers the broker with the active controller and heartbeats. */
int md_client_new(struct event_base *base, const struct md_client_config *cfg,
                  const struct controller_listener *l, md_client_ready_fn on_ready,
                  void *ready_arg, struct md_client **out);
void md_client_free(struct md_client *m);
const struct md_image *md_client_image(const struct md_client *m);

/* Forwards a Kafka admin request body (CreateTopics, DeleteTopics, ...) to the active
 * controller.  cb gets the Kafka response body (valid during the call) once the change is
 * committed AND applied to this node's image, or err != 0 with kafka_error set to a retriable
 * Kafka error (NOT_CONTROLLER, REQUEST_TIMED_OUT) when the quorum could not answer in time. */
typedef void (*md_client_forward_fn)(void *arg, int16_t kafka_error, const uint8_t *resp,
                                     size_t len);
int md_client_forward(struct md_client *m, int16_t api_key, int16_t api_version,
                      const uint8_t *body, size_t len, int64_t timeout_ms,
                      md_client_forward_fn cb, void *arg);

/* Asks the active controller to auto-create a topic with the defaults; fire and forget. */
void md_client_auto_create(struct md_client *m, const char *name, size_t len);
/* md_client_auto_create with a partition count and replication factor (-1: the broker
 * defaults) and topic configs as NULL-terminated name, value pairs (at most 16): the internal
 * topics (__consumer_offsets). */
void md_client_create_topic(struct md_client *m, const char *name, size_t len,
                            int32_t partitions, int16_t replication_factor,
                            const char *const *configs);

/* DescribeQuorum through the active controller.  resp is NULL on failure. */
typedef void (*md_client_quorum_fn)(void *arg, const Gregor__Control__DescribeQuorumResponse *resp);
int md_client_describe_quorum(struct md_client *m, md_client_quorum_fn cb, void *arg);

/* AlterPartition: a partition leader asks the active controller for a new ISR.  cb gets a Kafka
 * error (NONE: committed; the new ISR arrives with the metadata log) or REQUEST_TIMED_OUT /
 * NOT_CONTROLLER when no controller answered; retry later. */
typedef void (*md_client_alter_fn)(void *arg, int16_t error);
int md_client_alter_partition(struct md_client *m, const struct gr_uuid *topic_id,
                              int32_t partition, int32_t leader_epoch, int32_t partition_epoch,
                              const int32_t *isr, int32_t isr_count, md_client_alter_fn cb,
                              void *arg);

/* A block of producer ids for this broker (idempotent producers), committed to the metadata
 * log first.  cb gets error NONE with [start, start + len), or a retriable error. */
typedef void (*md_client_pids_fn)(void *arg, int16_t error, int64_t start, int32_t len);
int md_client_allocate_producer_ids(struct md_client *m, md_client_pids_fn cb, void *arg);

/* Controlled shutdown: asks the controller to move this broker's leaderships and fence it;
 * done(arg) runs when it has (or after timeout_ms). */
void md_client_shutdown(struct md_client *m, int64_t timeout_ms, void (*done)(void *arg),
                        void *arg);

#endif

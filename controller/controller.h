/*
 * controller.h — the public header of Gregor's `controller` module: the configuration registry
 * (broker and topic keys with Kafka's names and defaults), the metadata image, and the
 * controller that turns admin requests into metadata records, commits them to the metadata log
 * and applies them to the image.
 *
 * The metadata log is `<metadata.log.dir>/__cluster_metadata-0`, a log of record batches whose
 * record values are metadata records (see controller_records.c for the framing).  In this
 * version the quorum has one voter: a record is committed once it is written and fsynced, and
 * it is applied to the image right after.  Issue #3 replaces the commit step with Raft; the
 * image and everything that reads it stay as they are.
 *
 * Threading: one thread (the node's event loop).
 */
#ifndef GREGOR_CONTROLLER_H
#define GREGOR_CONTROLLER_H

#include "common/common.h"
#include "proto/proto.h"
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

struct md_broker {
    int32_t id;
    char *host;
    int32_t port;
    char *rack; /* NULL if none */
};

struct md_image {
    struct md_topic **buckets;
    size_t bucket_count;
    size_t topic_count;
    struct md_broker *brokers;
    int32_t broker_count;
    int64_t applied_offset; /* offset of the last applied metadata record, -1 if none */
    struct gr_uuid cluster_id;
    char cluster_id_str[23];
};

struct md_topic *md_image_topic(const struct md_image *img, const char *name, size_t name_len);
struct md_topic *md_image_topic_by_id(const struct md_image *img, const struct gr_uuid *id);
/* Calls fn for every topic (order unspecified). */
void md_image_foreach(const struct md_image *img, void (*fn)(void *arg, struct md_topic *t),
                      void *arg);

/* Kafka's topic-name rules: [a-zA-Z0-9._-], 1..249 chars, not "." or "..".  Returns NULL if
 * legal, else the reason. */
const char *md_topic_name_invalid(const char *name, size_t len);

/* ------------------------------------------------------------------------------------------ */
/* Controller                                                                                  */

struct controller;

/* Observers of applied changes (the broker creates and deletes partition logs from these).
 * Called after the image has changed. */
struct controller_listener {
    void *arg;
    void (*topic_created)(void *arg, const struct md_topic *t);
    void (*topic_deleting)(void *arg, const struct md_topic *t); /* before removal */
    void (*topic_config_changed)(void *arg, const struct md_topic *t);
};

struct controller_config {
    const struct props *broker; /* effective broker config, borrowed for the lifetime */
    int32_t node_id;
    struct storage_dir *metadata_dir; /* holds __cluster_metadata-0; borrowed */
    struct gr_uuid cluster_id;
    const char *advertised_host; /* this node's client endpoint, for the image's broker list */
    int32_t advertised_port;
};

/* Opens the metadata log, replays it into the image and registers this node as a broker.
 * Returns 0 or GR_E* with a message in err. */
int controller_open(const struct controller_config *cfg, const struct controller_listener *l,
                    struct controller **out, char *err, size_t err_len);
void controller_free(struct controller *c);
const struct md_image *controller_image(const struct controller *c);
/* Replays the image's topics to the listener (start-up: the broker opens the existing logs). */
void controller_replay_topics(struct controller *c);

/* Admin operations: decode-free, operating on the generated request structs; they fill the
 * matching response entries (error codes and messages are Kafka's).  `a` supplies memory for
 * response strings. */
void controller_create_topics(struct controller *c, const struct kafka_create_topics_request *req,
                              int16_t version, struct kafka_create_topics_response *resp,
                              struct arena *a);
void controller_delete_topics(struct controller *c, const struct kafka_delete_topics_request *req,
                              int16_t version, struct kafka_delete_topics_response *resp,
                              struct arena *a);
/* Auto-creation (Metadata / Produce on an unknown topic when auto.create.topics.enable):
 * creates with num.partitions and default.replication.factor.  Returns a Kafka error code. */
int16_t controller_auto_create_topic(struct controller *c, const char *name, size_t len);

#endif

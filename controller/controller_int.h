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
};
#define MD_RESOURCE_TOPIC 2
#define MD_RESOURCE_BROKER 4

/* Topics one batch creates: the listener hears of them once the whole batch (their partitions
 * and configs) is applied.  CreateTopics caps a request at this many topics. */
#define MD_CREATED_MAX 4096
struct md_created {
    struct gr_uuid ids[MD_CREATED_MAX];
    int n;
};

struct controller {
    struct controller_config cfg;
    struct controller_listener listener;
    struct md_image image;
    struct storage_log *log; /* __cluster_metadata-0 */
    struct arena arena;      /* scratch for decoding and building records */
    struct gbuf scratch;
    struct md_created created; /* scratch of controller_apply_batch */
};

int md_image_init(struct md_image *img);
void md_image_close(struct md_image *img);
struct md_topic *md_image_add_topic(struct md_image *img, const char *name, size_t len,
                                    const struct gr_uuid *id);
void md_image_remove_topic(struct md_image *img, struct md_topic *t);
int md_topic_set_partition(struct md_topic *t, const struct md_partition *p);
int md_image_set_broker(struct md_image *img, int32_t id, const char *host, int32_t port,
                        const char *rack);

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

/* Commits a batch: appends it to the metadata log, fsyncs, then applies every record to the
 * image and tells the listener.  Returns 0 or GR_E* (nothing applied on failure). */
int controller_commit(struct controller *c, struct md_batch *b);
/* Applies the records of one stored batch (replay and commit share this). */
int controller_apply_batch(struct controller *c, const uint8_t *batch, size_t n, bool notify);

#endif

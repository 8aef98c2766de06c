/* controller_records.c — building metadata records into batches and applying committed ones.
 *
 * A metadata batch is an ordinary magic-v2 record batch in __cluster_metadata-0.  Each record
 * has a null key and a value laid out as:
 *
 *   uvarint  record type    (enum md_record_type, Kafka's numbering)
 *   uvarint  record version (0)
 *   ...      body           (the generated flexible encoding of the record struct)
 *
 * One admin operation is one batch, so a crash leaves all of an operation or none of it: a torn
 * batch fails its CRC and is truncated by recovery. */
#include "controller/controller_int.h"

#include <stdlib.h>
#include <string.h>

void md_batch_init(struct md_batch *b)
{
    rb_builder_init(&b->rb, 0, RB_CODEC_NONE);
    gbuf_init(&b->value);
    b->err = 0;
}

void md_batch_close(struct md_batch *b)
{
    rb_builder_close(&b->rb);
    gbuf_close(&b->value);
}

static void md_batch_begin(struct md_batch *b, enum md_record_type type, struct kafka_writer *w)
{
    gbuf_reset(&b->value);
    kafka_writer_init(w, &b->value);
    kafka_write_uvarint(w, (uint32_t)type);
    kafka_write_uvarint(w, 0);
}

static void md_batch_end(struct md_batch *b, struct kafka_writer *w)
{
    if (w->err && !b->err) b->err = w->err;
    if (b->err) return;
    int rc = rb_builder_add(&b->rb, time_wall_ms(), NULL, -1, b->value.data,
                            (int32_t)b->value.len, NULL, 0);
    if (rc) b->err = rc;
}

void md_batch_add_topic(struct md_batch *b, struct kafka_str name, const struct gr_uuid *id)
{
    struct kafka_writer w;
    struct kafka_topic_record rec;
    kafka_topic_record_init(&rec);
    rec.name = name;
    memcpy(rec.topic_id.b, id->b, 16);
    md_batch_begin(b, MD_REC_TOPIC, &w);
    kafka_topic_record_encode(&w, 0, &rec);
    md_batch_end(b, &w);
}

void md_batch_add_partition(struct md_batch *b, const struct gr_uuid *topic_id, int32_t partition,
                            const int32_t *replicas, int32_t replica_count, int32_t leader)
{
    struct kafka_writer w;
    struct kafka_partition_record rec;
    kafka_partition_record_init(&rec);
    rec.partition_id = partition;
    memcpy(rec.topic_id.b, topic_id->b, 16);
    rec.replicas = (int32_t *)replicas;
    rec.replicas_count = replica_count;
    rec.isr = (int32_t *)replicas;
    rec.isr_count = replica_count;
    rec.leader = leader;
    rec.leader_epoch = 0;
    rec.partition_epoch = 0;
    md_batch_begin(b, MD_REC_PARTITION, &w);
    kafka_partition_record_encode(&w, 0, &rec);
    md_batch_end(b, &w);
}

void md_batch_add_config(struct md_batch *b, int8_t resource_type, struct kafka_str resource,
                         struct kafka_str name, struct kafka_str value)
{
    struct kafka_writer w;
    struct kafka_config_record rec;
    kafka_config_record_init(&rec);
    rec.resource_type = resource_type;
    rec.resource_name = resource;
    rec.name = name;
    rec.value = value;
    md_batch_begin(b, MD_REC_CONFIG, &w);
    kafka_config_record_encode(&w, 0, &rec);
    md_batch_end(b, &w);
}

void md_batch_add_remove_topic(struct md_batch *b, const struct gr_uuid *topic_id)
{
    struct kafka_writer w;
    struct kafka_remove_topic_record rec;
    kafka_remove_topic_record_init(&rec);
    memcpy(rec.topic_id.b, topic_id->b, 16);
    md_batch_begin(b, MD_REC_REMOVE_TOPIC, &w);
    kafka_remove_topic_record_encode(&w, 0, &rec);
    md_batch_end(b, &w);
}

/* ------------------------------------------------------------------------------------------ */
/* Applying                                                                                    */

static int apply_topic(struct controller *c, struct kafka_reader *r, struct md_created *created)
{
    struct kafka_topic_record rec;
    if (kafka_topic_record_decode(r, 0, &rec)) return GR_ECORRUPT;
    if (rec.name.len <= 0) return GR_ECORRUPT;
    struct gr_uuid id;
    memcpy(id.b, rec.topic_id.b, 16);
    if (md_image_topic(&c->image, rec.name.ptr, (size_t)rec.name.len)) return 0;
    if (!md_image_add_topic(&c->image, rec.name.ptr, (size_t)rec.name.len, &id)) return GR_ENOMEM;
    if (created->n < MD_CREATED_MAX) created->ids[created->n++] = id;
    return 0;
}

static int apply_partition(struct controller *c, struct kafka_reader *r)
{
    struct kafka_partition_record rec;
    if (kafka_partition_record_decode(r, 0, &rec)) return GR_ECORRUPT;
    struct gr_uuid id;
    memcpy(id.b, rec.topic_id.b, 16);
    struct md_topic *t = md_image_topic_by_id(&c->image, &id);
    if (!t) return 0; /* topic removed later in the log */
    struct md_partition p = {
        .id = rec.partition_id, .leader = rec.leader, .leader_epoch = rec.leader_epoch,
        .partition_epoch = rec.partition_epoch, .replica_count = GR_MAX(rec.replicas_count, 0),
        .replicas = rec.replicas, .isr_count = GR_MAX(rec.isr_count, 0), .isr = rec.isr};
    return md_topic_set_partition(t, &p);
}

static int apply_config(struct controller *c, struct kafka_reader *r)
{
    struct kafka_config_record rec;
    if (kafka_config_record_decode(r, 0, &rec)) return GR_ECORRUPT;
    if (rec.resource_type != MD_RESOURCE_TOPIC || rec.resource_name.len < 0) return 0;
    struct md_topic *t =
        md_image_topic(&c->image, rec.resource_name.ptr, (size_t)rec.resource_name.len);
    if (!t || rec.name.len <= 0) return 0;
    char key[256];
    strfmt(key, sizeof key, "%.*s", (int)rec.name.len, rec.name.ptr);
    if (rec.value.len < 0) {
        /* deletion of an override: rebuild without it */
        struct props np;
        props_init(&np);
        for (size_t i = 0; i < t->configs.n; i++)
            if (strcmp(t->configs.v[i].key, key))
                props_set(&np, t->configs.v[i].key, t->configs.v[i].value);
        props_close(&t->configs);
        t->configs = np;
    } else {
        char *val = strndup(rec.value.ptr, (size_t)rec.value.len);
        if (!val) return GR_ENOMEM;
        int rc = props_set(&t->configs, key, val);
        free(val);
        if (rc) return rc;
    }
    return 0;
}

static int apply_remove_topic(struct controller *c, struct kafka_reader *r, bool notify)
{
    struct kafka_remove_topic_record rec;
    if (kafka_remove_topic_record_decode(r, 0, &rec)) return GR_ECORRUPT;
    struct gr_uuid id;
    memcpy(id.b, rec.topic_id.b, 16);
    struct md_topic *t = md_image_topic_by_id(&c->image, &id);
    if (!t) return 0;
    if (notify && c->listener.topic_deleting) c->listener.topic_deleting(c->listener.arg, t);
    md_image_remove_topic(&c->image, t);
    return 0;
}

/* Applies one record value. */
static int apply_record(struct controller *c, const uint8_t *v, size_t n, bool notify,
                        struct md_created *created)
{
    struct kafka_reader r;
    kafka_reader_init(&r, v, n, &c->arena);
    uint32_t type = kafka_read_uvarint(&r);
    uint32_t version = kafka_read_uvarint(&r);
    if (r.err || version != 0) return GR_ECORRUPT;
    switch (type) {
    case MD_REC_TOPIC: return apply_topic(c, &r, created);
    case MD_REC_PARTITION: return apply_partition(c, &r);
    case MD_REC_CONFIG: return apply_config(c, &r);
    case MD_REC_REMOVE_TOPIC: return apply_remove_topic(c, &r, notify);
    default: return 0; /* records for later features are skipped */
    }
}

int controller_apply_batch(struct controller *c, const uint8_t *batch, size_t n, bool notify)
{
    struct rb_iter it;
    int rc = rb_iter_init(&it, batch, n, &c->scratch, 64u << 20);
    if (rc) return rc;
    struct rb_record rec;
    struct md_created *created = &c->created;
    created->n = 0;
    while ((rc = rb_iter_next(&it, &rec)) == 1) {
        if (rec.value_len < 0) return GR_ECORRUPT;
        arena_reset(&c->arena);
        rc = apply_record(c, rec.value, (size_t)rec.value_len, notify, created);
        if (rc) return rc;
        c->image.applied_offset = rec.offset;
    }
    if (rc < 0) return rc;
    for (int i = 0; notify && i < created->n; i++) {
        struct md_topic *t = md_image_topic_by_id(&c->image, &created->ids[i]);
        if (t && c->listener.topic_created) c->listener.topic_created(c->listener.arg, t);
    }
    return 0;
}

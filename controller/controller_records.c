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

void md_batch_add_partition_state(struct md_batch *b, const struct gr_uuid *topic_id,
                                  const struct md_partition *p)
{
    struct kafka_writer w;
    struct kafka_partition_record rec;
    kafka_partition_record_init(&rec);
    rec.partition_id = p->id;
    memcpy(rec.topic_id.b, topic_id->b, 16);
    rec.replicas = p->replicas;
    rec.replicas_count = p->replica_count;
    rec.isr = p->isr;
    rec.isr_count = p->isr_count;
    rec.leader = p->leader;
    rec.leader_epoch = p->leader_epoch;
    rec.partition_epoch = p->partition_epoch;
    md_batch_begin(b, MD_REC_PARTITION, &w);
    kafka_partition_record_encode(&w, 0, &rec);
    md_batch_end(b, &w);
}

void md_batch_add_register_broker(struct md_batch *b, const struct md_broker *br)
{
    struct kafka_writer w;
    struct kafka_register_broker_record rec;
    kafka_register_broker_record_init(&rec);
    rec.broker_id = br->id;
    memcpy(rec.incarnation_id.b, br->incarnation.b, 16);
    rec.broker_epoch = br->epoch;
    struct kafka_register_broker_record_broker_endpoint eps[MD_ENDPOINTS_MAX];
    int32_t n = GR_MIN(br->endpoint_count, MD_ENDPOINTS_MAX);
    for (int32_t i = 0; i < n; i++) {
        kafka_register_broker_record_broker_endpoint_init(&eps[i]);
        eps[i].name = KSTR(br->endpoints[i].name);
        eps[i].host = KSTR(br->endpoints[i].host);
        eps[i].port = (uint16_t)br->endpoints[i].port;
        eps[i].security_protocol = 0; /* PLAINTEXT */
    }
    rec.endpoints = eps;
    rec.endpoints_count = n;
    rec.rack = br->rack ? KSTR(br->rack) : KSTR_NULL;
    rec.fenced = br->fenced;
    md_batch_begin(b, MD_REC_REGISTER_BROKER, &w);
    kafka_register_broker_record_encode(&w, 0, &rec);
    md_batch_end(b, &w);
}

void md_batch_add_broker_change(struct md_batch *b, int32_t id, int64_t epoch, int8_t fenced,
                                int8_t shutdown)
{
    struct kafka_writer w;
    struct kafka_broker_registration_change_record rec;
    kafka_broker_registration_change_record_init(&rec);
    rec.broker_id = id;
    rec.broker_epoch = epoch;
    rec.fenced = fenced;
    rec.in_controlled_shutdown = shutdown;
    md_batch_begin(b, MD_REC_BROKER_CHANGE, &w);
    kafka_broker_registration_change_record_encode(&w, 0, &rec);
    md_batch_end(b, &w);
}

void md_batch_add_producer_ids(struct md_batch *b, int32_t broker_id, int64_t broker_epoch,
                               int64_t next_producer_id)
{
    struct kafka_writer w;
    struct kafka_producer_ids_record rec;
    kafka_producer_ids_record_init(&rec);
    rec.broker_id = broker_id;
    rec.broker_epoch = broker_epoch;
    rec.next_producer_id = next_producer_id;
    md_batch_begin(b, MD_REC_PRODUCER_IDS, &w);
    kafka_producer_ids_record_encode(&w, 0, &rec);
    md_batch_end(b, &w);
}

int md_batch_finish(struct md_batch *b, struct gbuf *out)
{
    if (b->err) return b->err;
    return rb_builder_finish(&b->rb, out);
}


/* broker_produce.c — Produce: validate record batches, append them, answer.
 *
 * The hot path does no decompression: batches are validated (lengths, magic, CRC) and stored
 * exactly as sent, with the base offset rewritten in place in the request buffer.  Only a
 * topic-level compression.type other than `producer` recompresses, as Kafka does. */
#include "broker/broker_int.h"

#include <string.h>

static int16_t produce_error_for(int rc)
{
    switch (rc) {
    case GR_EUNSUP: return KAFKA_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT;
    case GR_ECORRUPT:
    case GR_ETRUNC: return KAFKA_ERR_CORRUPT_MESSAGE;
    default: return KAFKA_ERR_KAFKA_STORAGE_ERROR;
    }
}

/* Rewrites every batch of the set with the topic's codec into b->scratch.  Returns 0 and sets
 * out and out_len, or a GR_E*. */
static int produce_recompress(struct broker *b, const uint8_t *p, size_t n, int codec,
                              uint8_t **out, size_t *out_len)
{
    gbuf_reset(&b->scratch);
    size_t pos = 0;
    while (pos < n) {
        size_t bn = rb_batch_size(p + pos, n - pos);
        if (!bn) return GR_ECORRUPT;
        int rc = rb_recompress(p + pos, bn, codec, &b->scratch);
        if (rc) return rc;
        pos += bn;
    }
    *out = b->scratch.data;
    *out_len = b->scratch.len;
    return 0;
}

static void produce_partition(struct broker_req *req,
                              const struct kafka_produce_request_partition_produce_data *pd,
                              struct broker_topic *t,
                              struct kafka_produce_response_partition_produce_response *pr)
{
    struct broker *b = req->b;
    kafka_produce_response_partition_produce_response_init(pr);
    pr->index = pd->index;
    pr->base_offset = -1;
    pr->log_append_time_ms = -1;
    pr->log_start_offset = -1;
    struct broker_partition *p =
        t && pd->index >= 0 && pd->index < t->partition_count ? &t->partitions[pd->index] : NULL;
    int16_t lead = broker_lead_error(b, t, pd->index);
    if (lead) {
        pr->error_code = lead;
        return;
    }
    if (pd->records.len <= 0) {
        pr->error_code = KAFKA_ERR_CORRUPT_MESSAGE;
        return;
    }
    struct rb_set_info info;
    int rc = rb_set_validate(pd->records.ptr, (size_t)pd->records.len, &info);
    if (rc) {
        pr->error_code = produce_error_for(rc);
        pr->error_message = KSTR("Record batch failed validation");
        return;
    }
    if (info.max_batch_bytes > t->max_message_bytes) {
        pr->error_code = KAFKA_ERR_MESSAGE_TOO_LARGE;
        return;
    }
    /* The request buffer is ours for the duration of the call: offsets are assigned in place. */
    uint8_t *data = (uint8_t *)pd->records.ptr;
    size_t len = (size_t)pd->records.len;
    if (t->codec >= 0 && t->codec != info.codec) {
        rc = produce_recompress(b, data, len, t->codec, &data, &len);
        if (rc) {
            pr->error_code = produce_error_for(rc);
            return;
        }
    }
    if (t->log_append_time) {
        rb_set_log_append_time(data, len, req->now_ms);
        pr->log_append_time_ms = req->now_ms;
    }
    struct storage_append_info ai;
    rc = storage_log_append(p->log, data, len, 0, req->now_ms, &ai);
    if (rc) {
        LOG_ERROR("broker", "append to %s-%d failed: %s", t->name, p->id, gr_strerror(rc));
        pr->error_code = KAFKA_ERR_KAFKA_STORAGE_ERROR;
        return;
    }
    pr->base_offset = ai.first_offset;
    pr->log_start_offset = storage_log_start_offset(p->log);
    p->high_watermark = storage_log_end_offset(p->log); /* one replica: committed on append */
    broker_partition_appended(b, p);
}

int broker_handle_produce(struct broker_req *req)
{
    int16_t v = req->hdr.api_version;
    struct kafka_produce_request body;
    if (kafka_produce_request_decode(&req->r, v, &body)) return -1;
    struct kafka_produce_response resp;
    kafka_produce_response_init(&resp);
    bool bad_acks = body.acks != 0 && body.acks != 1 && body.acks != -1;
    int32_t nt = GR_MAX(body.topic_data_count, 0);
    resp.responses = arena_calloc(req->arena, (size_t)GR_MAX(nt, 1), sizeof(*resp.responses));
    if (!resp.responses) return -1;
    resp.responses_count = nt;
    for (int32_t i = 0; i < nt; i++) {
        const struct kafka_produce_request_topic_produce_data *td = &body.topic_data[i];
        struct kafka_produce_response_topic_produce_response *tr = &resp.responses[i];
        kafka_produce_response_topic_produce_response_init(tr);
        tr->name = td->name;
        int32_t np = GR_MAX(td->partition_data_count, 0);
        tr->partition_responses =
            arena_calloc(req->arena, (size_t)GR_MAX(np, 1), sizeof(*tr->partition_responses));
        if (!tr->partition_responses) return -1;
        tr->partition_responses_count = np;
        struct broker_topic *t =
            td->name.len > 0 ? broker_topic_find(req->b, td->name.ptr, (size_t)td->name.len) : NULL;
        for (int32_t k = 0; k < np; k++) {
            struct kafka_produce_response_partition_produce_response *pr =
                &tr->partition_responses[k];
            if (bad_acks) {
                kafka_produce_response_partition_produce_response_init(pr);
                pr->index = td->partition_data[k].index;
                pr->error_code = KAFKA_ERR_INVALID_REQUIRED_ACKS;
                pr->base_offset = -1;
                pr->log_append_time_ms = -1;
                pr->log_start_offset = -1;
                continue;
            }
            produce_partition(req, &td->partition_data[k], t, pr);
        }
    }
    if (body.acks == 0) {
        net_slot_done_silent(req->slot);
        return 0;
    }
    struct kafka_writer w;
    broker_respond_begin(req, &w);
    kafka_produce_response_encode(&w, v, &resp);
    broker_respond_end(req, &w);
    return 0;
}

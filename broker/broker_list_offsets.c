/* broker_list_offsets.c — ListOffsets: earliest (-2), latest (-1), max timestamp (-3), and by
 * timestamp. */
#include "broker/broker_int.h"

#include <string.h>

#define LIST_OFFSETS_LATEST -1
#define LIST_OFFSETS_EARLIEST -2
#define LIST_OFFSETS_MAX_TIMESTAMP -3

static void list_partition(struct broker_req *req, struct broker_topic *t,
                           const struct kafka_list_offsets_request_list_offsets_partition *rp,
                           struct kafka_list_offsets_response_list_offsets_partition_response *out)
{
    kafka_list_offsets_response_list_offsets_partition_response_init(out);
    out->partition_index = rp->partition_index;
    out->timestamp = -1;
    out->offset = -1;
    out->leader_epoch = -1;
    struct broker_partition *p =
        t && rp->partition_index >= 0 && rp->partition_index < t->partition_count
            ? &t->partitions[rp->partition_index]
            : NULL;
    int16_t lead = broker_lead_error(req->b, t, rp->partition_index);
    if (lead) {
        out->error_code = lead;
        return;
    }
    out->leader_epoch = 0;
    int rc = 0;
    switch (rp->timestamp) {
    case LIST_OFFSETS_EARLIEST:
        out->offset = storage_log_start_offset(p->log);
        break;
    case LIST_OFFSETS_LATEST:
        out->offset = p->high_watermark; /* = last stable offset: no transactions yet */
        break;
    case LIST_OFFSETS_MAX_TIMESTAMP:
        rc = storage_log_max_timestamp(p->log, &out->offset, &out->timestamp);
        break;
    default:
        if (rp->timestamp < 0) {
            out->error_code = KAFKA_ERR_INVALID_REQUEST;
            return;
        }
        rc = storage_log_offset_for_timestamp(p->log, rp->timestamp, &out->offset,
                                              &out->timestamp);
        if (!rc && out->offset >= p->high_watermark) {
            out->offset = -1;
            out->timestamp = -1;
        }
        break;
    }
    if (rc) out->error_code = KAFKA_ERR_KAFKA_STORAGE_ERROR;
    if (req->hdr.api_version == 0 && out->offset >= 0) {
        out->old_style_offsets = arena_alloc(req->arena, sizeof(int64_t));
        if (out->old_style_offsets) {
            out->old_style_offsets[0] = out->offset;
            out->old_style_offsets_count = 1;
        }
    }
}

int broker_handle_list_offsets(struct broker_req *req)
{
    int16_t v = req->hdr.api_version;
    struct kafka_list_offsets_request body;
    if (kafka_list_offsets_request_decode(&req->r, v, &body)) return -1;
    struct kafka_list_offsets_response resp;
    kafka_list_offsets_response_init(&resp);
    int32_t nt = GR_MAX(body.topics_count, 0);
    resp.topics = arena_calloc(req->arena, (size_t)GR_MAX(nt, 1), sizeof(*resp.topics));
    if (!resp.topics) return -1;
    resp.topics_count = nt;
    for (int32_t i = 0; i < nt; i++) {
        const struct kafka_list_offsets_request_list_offsets_topic *rt = &body.topics[i];
        struct kafka_list_offsets_response_list_offsets_topic_response *tr = &resp.topics[i];
        kafka_list_offsets_response_list_offsets_topic_response_init(tr);
        tr->name = rt->name;
        int32_t np = GR_MAX(rt->partitions_count, 0);
        tr->partitions = arena_calloc(req->arena, (size_t)GR_MAX(np, 1), sizeof(*tr->partitions));
        if (!tr->partitions) return -1;
        tr->partitions_count = np;
        struct broker_topic *t =
            rt->name.len > 0 ? broker_topic_find(req->b, rt->name.ptr, (size_t)rt->name.len) : NULL;
        for (int32_t k = 0; k < np; k++)
            list_partition(req, t, &rt->partitions[k], &tr->partitions[k]);
    }
    struct kafka_writer w;
    broker_respond_begin(req, &w);
    kafka_list_offsets_response_encode(&w, v, &resp);
    broker_respond_end(req, &w);
    return 0;
}

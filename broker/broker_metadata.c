/* broker_metadata.c — ApiVersions and Metadata. */
#include "broker/broker_int.h"

#include <string.h>

/* KIP-511: client software name and version must match [a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])? */
static bool kip511_valid(struct kafka_str s)
{
    if (s.len <= 0) return false;
    for (int32_t i = 0; i < s.len; i++) {
        char c = s.ptr[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        bool edge = i == 0 || i == s.len - 1;
        if (!alnum && (edge || (c != '-' && c != '.'))) return false;
    }
    return true;
}

int broker_handle_api_versions(struct broker_req *req)
{
    const struct broker_api *self = broker_api_find(KAFKA_API_API_VERSIONS);
    int16_t version = req->hdr.api_version;
    struct kafka_api_versions_response resp;
    kafka_api_versions_response_init(&resp);
    int16_t enc_version = version;
    if (version > self->max_version || version < 0) {
        /* Unsupported: a v0-shaped body with UNSUPPORTED_VERSION, listing at least key 18's
         * range, so clients retry with a version we have. */
        resp.error_code = KAFKA_ERR_UNSUPPORTED_VERSION;
        enc_version = 0;
    } else {
        struct kafka_api_versions_request body;
        if (kafka_api_versions_request_decode(&req->r, version, &body)) return -1;
        if (version >= 3 && (!kip511_valid(body.client_software_name) ||
                             !kip511_valid(body.client_software_version)))
            resp.error_code = KAFKA_ERR_INVALID_REQUEST;
    }
    resp.api_keys = arena_calloc(req->arena, broker_api_count, sizeof(*resp.api_keys));
    if (!resp.api_keys) return -1;
    resp.api_keys_count = (int32_t)broker_api_count;
    for (size_t i = 0; i < broker_api_count; i++) {
        kafka_api_versions_response_api_version_init(&resp.api_keys[i]);
        resp.api_keys[i].api_key = broker_apis[i].key;
        resp.api_keys[i].min_version = broker_apis[i].min_version;
        resp.api_keys[i].max_version = broker_apis[i].max_version;
    }
    resp.throttle_time_ms = 0;
    struct kafka_writer w;
    struct gbuf *out = net_slot_buf(req->slot);
    gbuf_reset(out);
    kafka_writer_init(&w, out);
    kafka_response_header_encode(&w, 0, req->hdr.correlation_id); /* always v0 */
    kafka_api_versions_response_encode(&w, enc_version, &resp);
    broker_respond_end(req, &w);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */

static void fill_partitions(struct broker_req *req, const struct md_topic *t,
                            struct kafka_metadata_response_topic *rt)
{
    rt->partitions = arena_calloc(req->arena, (size_t)GR_MAX(t->partition_count, 1),
                                  sizeof(*rt->partitions));
    rt->partitions_count = rt->partitions ? t->partition_count : 0;
    for (int32_t i = 0; i < rt->partitions_count; i++) {
        const struct md_partition *p = &t->partitions[i];
        struct kafka_metadata_response_partition *rp = &rt->partitions[i];
        kafka_metadata_response_partition_init(rp);
        rp->error_code = p->leader < 0 ? KAFKA_ERR_LEADER_NOT_AVAILABLE : KAFKA_ERR_NONE;
        rp->partition_index = p->id;
        rp->leader_id = p->leader;
        rp->leader_epoch = p->leader_epoch;
        rp->replica_nodes = p->replicas;
        rp->replica_nodes_count = p->replica_count;
        rp->isr_nodes = p->isr;
        rp->isr_nodes_count = p->isr_count;
        rp->offline_replicas = NULL;
        rp->offline_replicas_count = 0;
    }
}

static void fill_topic(struct broker_req *req, const struct md_topic *t,
                       struct kafka_metadata_response_topic *rt)
{
    kafka_metadata_response_topic_init(rt);
    rt->error_code = KAFKA_ERR_NONE;
    rt->name = (struct kafka_str){t->name, (int32_t)strlen(t->name)};
    memcpy(rt->topic_id.b, t->id.b, 16);
    rt->is_internal = t->name[0] == '_' && t->name[1] == '_';
    rt->topic_authorized_operations = INT32_MIN;
    fill_partitions(req, t, rt);
}

struct all_topics_ctx {
    struct broker_req *req;
    struct kafka_metadata_response *resp;
};

static void add_any_topic(void *arg, struct md_topic *t)
{
    struct all_topics_ctx *ctx = arg;
    fill_topic(ctx->req, t, &ctx->resp->topics[ctx->resp->topics_count++]);
}

static void metadata_requested_topic(struct broker_req *req, const struct md_image *img,
                                     const struct kafka_metadata_request_topic *rq,
                                     bool allow_create, struct kafka_metadata_response_topic *rt)
{
    const struct md_topic *t = NULL;
    if (rq->name.len >= 0) t = md_image_topic(img, rq->name.ptr, (size_t)rq->name.len);
    else t = md_image_topic_by_id(img, (const struct gr_uuid *)rq->topic_id.b);
    if (!t && rq->name.len > 0 && allow_create &&
        !md_topic_name_invalid(rq->name.ptr, (size_t)rq->name.len)) {
        /* as Kafka: ask the controller to create it and tell the client to retry */
        md_client_auto_create(req->b->mdc, rq->name.ptr, (size_t)rq->name.len);
        kafka_metadata_response_topic_init(rt);
        rt->name = rq->name;
        rt->error_code = KAFKA_ERR_LEADER_NOT_AVAILABLE;
        rt->topic_authorized_operations = INT32_MIN;
        return;
    }
    if (t) {
        fill_topic(req, t, rt);
        return;
    }
    kafka_metadata_response_topic_init(rt);
    rt->name = rq->name;
    rt->topic_id = rq->topic_id;
    rt->topic_authorized_operations = INT32_MIN;
    bool bad = rq->name.len >= 0 && md_topic_name_invalid(rq->name.ptr, (size_t)rq->name.len);
    rt->error_code = rq->name.len < 0  ? KAFKA_ERR_UNKNOWN_TOPIC_ID
                     : bad             ? KAFKA_ERR_INVALID_TOPIC_EXCEPTION
                                       : KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION;
}

int broker_handle_metadata(struct broker_req *req)
{
    int16_t v = req->hdr.api_version;
    struct kafka_metadata_request body;
    if (kafka_metadata_request_decode(&req->r, v, &body)) return -1;
    const struct md_image *img = md_client_image(req->b->mdc);
    struct kafka_metadata_response resp;
    kafka_metadata_response_init(&resp);
    resp.brokers = arena_calloc(req->arena, (size_t)GR_MAX(img->broker_count, 1),
                                sizeof(*resp.brokers));
    if (!resp.brokers) return -1;
    /* only unfenced brokers, as Kafka lists them; controller_id is one of them (clients send
     * admin requests there, and the broker forwards them to the active controller) */
    resp.brokers_count = 0;
    resp.controller_id = -1;
    const char *listener = broker_req_listener(req);
    for (int32_t i = 0; i < img->broker_count; i++) {
        const struct md_broker *br = &img->brokers[i];
        /* a broker without the listener this client came in on is left out, as in Kafka */
        const struct md_endpoint *ep = md_broker_endpoint(br, listener);
        if (br->fenced || !ep) continue;
        struct kafka_metadata_response_broker *rb = &resp.brokers[resp.brokers_count++];
        kafka_metadata_response_broker_init(rb);
        rb->node_id = br->id;
        rb->host = KSTR(ep->host);
        rb->port = ep->port;
        rb->rack = br->rack ? KSTR(br->rack) : KSTR_NULL;
        if (resp.controller_id < 0 || br->id == req->b->cfg.node_id) resp.controller_id = br->id;
    }
    resp.cluster_id = KSTR(img->cluster_id_str);
    resp.cluster_authorized_operations = INT32_MIN;
    bool all = body.topics_count < 0 || (v == 0 && body.topics_count == 0);
    bool allow_create = req->b->auto_create && (v < 4 || body.allow_auto_topic_creation);
    if (all) {
        resp.topics = arena_calloc(req->arena, GR_MAX(img->topic_count, 1), sizeof(*resp.topics));
        if (!resp.topics) return -1;
        struct all_topics_ctx ctx = {req, &resp};
        resp.topics_count = 0;
        md_image_foreach(img, add_any_topic, &ctx);
    } else {
        resp.topics = arena_calloc(req->arena, (size_t)GR_MAX(body.topics_count, 1),
                                   sizeof(*resp.topics));
        if (!resp.topics) return -1;
        resp.topics_count = body.topics_count;
        for (int32_t i = 0; i < body.topics_count; i++)
            metadata_requested_topic(req, img, &body.topics[i], allow_create, &resp.topics[i]);
    }
    struct kafka_writer w;
    broker_respond_begin(req, &w);
    kafka_metadata_response_encode(&w, v, &resp);
    broker_respond_end(req, &w);
    return 0;
}

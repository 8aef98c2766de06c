/* broker_admin.c — the admin APIs (CreateTopics, DeleteTopics, CreatePartitions, AlterConfigs,
 * IncrementalAlterConfigs, ElectLeaders) and DescribeConfigs.  Metadata changes go to the
 * controller, which commits them to the metadata log before this answers. */
#include "broker/broker_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RESOURCE_TOPIC 2
#define ADMIN_TIMEOUT_MS 30000 /* requests without a timeout field: request.timeout.ms */
#define RESOURCE_BROKER 4

/* An admin request forwarded to the active controller, answered from its callback. */
struct admin_pending {
    struct broker *b;
    struct net_slot *slot;
    struct kafka_request_header hdr; /* api key, version, correlation id (strings unused) */
    struct gbuf body;                /* the request body, to build an error answer */
};

static const char *admin_error_text(int16_t ec)
{
    return ec == KAFKA_ERR_NOT_CONTROLLER
               ? "No active controller could take the request; retry."
               : "The controller quorum did not answer in time (is a majority of the "
                 "controllers up?); retry.";
}

/* The whole request failed (no controller in time): every item gets `ec`. */
static void admin_error_response(struct admin_pending *ap, int16_t ec, struct kafka_writer *w,
                                 struct arena *a)
{
    struct kafka_reader r;
    kafka_reader_init(&r, ap->body.data, ap->body.len, a);
    int16_t v = ap->hdr.api_version;
    struct kafka_str msg = KSTR(admin_error_text(ec));
    switch (ap->hdr.api_key) {
    case KAFKA_API_CREATE_TOPICS: {
        struct kafka_create_topics_request req;
        struct kafka_create_topics_response resp;
        kafka_create_topics_response_init(&resp);
        if (kafka_create_topics_request_decode(&r, v, &req)) return;
        resp.topics = arena_calloc(a, (size_t)GR_MAX(req.topics_count, 1), sizeof(*resp.topics));
        resp.topics_count = resp.topics ? GR_MAX(req.topics_count, 0) : 0;
        for (int32_t i = 0; i < resp.topics_count; i++) {
            kafka_create_topics_response_creatable_topic_result_init(&resp.topics[i]);
            resp.topics[i].name = req.topics[i].name;
            resp.topics[i].error_code = ec;
            resp.topics[i].error_message = msg;
        }
        kafka_create_topics_response_encode(w, v, &resp);
        break;
    }
    case KAFKA_API_DELETE_TOPICS: {
        struct kafka_delete_topics_request req;
        struct kafka_delete_topics_response resp;
        kafka_delete_topics_response_init(&resp);
        if (kafka_delete_topics_request_decode(&r, v, &req)) return;
        int32_t n = v >= 6 ? GR_MAX(req.topics_count, 0) : GR_MAX(req.topic_names_count, 0);
        resp.responses = arena_calloc(a, (size_t)GR_MAX(n, 1), sizeof(*resp.responses));
        resp.responses_count = resp.responses ? n : 0;
        for (int32_t i = 0; i < resp.responses_count; i++) {
            kafka_delete_topics_response_deletable_topic_result_init(&resp.responses[i]);
            if (v >= 6) {
                resp.responses[i].name = req.topics[i].name;
                resp.responses[i].topic_id = req.topics[i].topic_id;
            } else {
                resp.responses[i].name = req.topic_names[i];
            }
            resp.responses[i].error_code = ec;
        }
        kafka_delete_topics_response_encode(w, v, &resp);
        break;
    }
    case KAFKA_API_CREATE_PARTITIONS: {
        struct kafka_create_partitions_request req;
        struct kafka_create_partitions_response resp;
        kafka_create_partitions_response_init(&resp);
        if (kafka_create_partitions_request_decode(&r, v, &req)) return;
        resp.results = arena_calloc(a, (size_t)GR_MAX(req.topics_count, 1), sizeof(*resp.results));
        resp.results_count = resp.results ? GR_MAX(req.topics_count, 0) : 0;
        for (int32_t i = 0; i < resp.results_count; i++) {
            kafka_create_partitions_response_create_partitions_topic_result_init(&resp.results[i]);
            resp.results[i].name = req.topics[i].name;
            resp.results[i].error_code = ec;
            resp.results[i].error_message = msg;
        }
        kafka_create_partitions_response_encode(w, v, &resp);
        break;
    }
    case KAFKA_API_ALTER_CONFIGS: {
        struct kafka_alter_configs_request req;
        struct kafka_alter_configs_response resp;
        kafka_alter_configs_response_init(&resp);
        if (kafka_alter_configs_request_decode(&r, v, &req)) return;
        resp.responses = arena_calloc(a, (size_t)GR_MAX(req.resources_count, 1),
                                      sizeof(*resp.responses));
        resp.responses_count = resp.responses ? GR_MAX(req.resources_count, 0) : 0;
        for (int32_t i = 0; i < resp.responses_count; i++) {
            kafka_alter_configs_response_alter_configs_resource_response_init(&resp.responses[i]);
            resp.responses[i].resource_type = req.resources[i].resource_type;
            resp.responses[i].resource_name = req.resources[i].resource_name;
            resp.responses[i].error_code = ec;
            resp.responses[i].error_message = msg;
        }
        kafka_alter_configs_response_encode(w, v, &resp);
        break;
    }
    case KAFKA_API_INCREMENTAL_ALTER_CONFIGS: {
        struct kafka_incremental_alter_configs_request req;
        struct kafka_incremental_alter_configs_response resp;
        kafka_incremental_alter_configs_response_init(&resp);
        if (kafka_incremental_alter_configs_request_decode(&r, v, &req)) return;
        resp.responses = arena_calloc(a, (size_t)GR_MAX(req.resources_count, 1),
                                      sizeof(*resp.responses));
        resp.responses_count = resp.responses ? GR_MAX(req.resources_count, 0) : 0;
        for (int32_t i = 0; i < resp.responses_count; i++) {
            kafka_incremental_alter_configs_response_alter_configs_resource_response_init(
                &resp.responses[i]);
            resp.responses[i].resource_type = req.resources[i].resource_type;
            resp.responses[i].resource_name = req.resources[i].resource_name;
            resp.responses[i].error_code = ec;
            resp.responses[i].error_message = msg;
        }
        kafka_incremental_alter_configs_response_encode(w, v, &resp);
        break;
    }
    case KAFKA_API_ELECT_LEADERS: {
        struct kafka_elect_leaders_request req;
        struct kafka_elect_leaders_response resp;
        kafka_elect_leaders_response_init(&resp);
        if (kafka_elect_leaders_request_decode(&r, v, &req)) return;
        resp.error_code = ec; /* v1+; v0 clients see it per partition */
        int32_t n = GR_MAX(req.topic_partitions_count, 0);
        resp.replica_election_results =
            arena_calloc(a, (size_t)GR_MAX(n, 1), sizeof(*resp.replica_election_results));
        resp.replica_election_results_count = resp.replica_election_results ? n : 0;
        for (int32_t i = 0; i < resp.replica_election_results_count; i++) {
            const struct kafka_elect_leaders_request_topic_partitions *tp =
                &req.topic_partitions[i];
            struct kafka_elect_leaders_response_replica_election_result *tr =
                &resp.replica_election_results[i];
            kafka_elect_leaders_response_replica_election_result_init(tr);
            tr->topic = tp->topic;
            int32_t m = GR_MAX(tp->partitions_count, 0);
            tr->partition_result = arena_calloc(a, (size_t)GR_MAX(m, 1),
                                                sizeof(*tr->partition_result));
            tr->partition_result_count = tr->partition_result ? m : 0;
            for (int32_t k = 0; k < tr->partition_result_count; k++) {
                kafka_elect_leaders_response_partition_result_init(&tr->partition_result[k]);
                tr->partition_result[k].partition_id = tp->partitions[k];
                tr->partition_result[k].error_code = ec;
                tr->partition_result[k].error_message = msg;
            }
        }
        kafka_elect_leaders_response_encode(w, v, &resp);
        break;
    }
    default: break;
    }
}

static void admin_forwarded(void *arg, int16_t ec, const uint8_t *resp, size_t len)
{
    struct admin_pending *ap = arg;
    struct broker_req req = {.b = ap->b, .slot = ap->slot, .hdr = ap->hdr};
    struct kafka_writer w;
    broker_respond_begin(&req, &w);
    if (ec == KAFKA_ERR_NONE) {
        if (gbuf_append(w.buf, resp, len)) w.err = GR_ENOMEM;
    } else {
        struct arena a;
        arena_init(&a, 4096);
        admin_error_response(ap, ec, &w, &a);
        arena_close(&a);
    }
    broker_respond_end(&req, &w);
    gbuf_close(&ap->body);
    free(ap);
}

/* CreateTopics and DeleteTopics: checked here, decided by the active controller. */
static int admin_forward(struct broker_req *req, int32_t timeout_ms)
{
    const uint8_t *body = req->r.p;
    size_t len = (size_t)(req->r.end - req->r.p);
    struct admin_pending *ap = calloc(1, sizeof(*ap));
    if (!ap) return -1;
    ap->b = req->b;
    ap->slot = req->slot;
    ap->hdr = req->hdr;
    ap->hdr.client_id = KSTR_NULL;
    gbuf_init(&ap->body);
    if (gbuf_append(&ap->body, body, len) ||
        md_client_forward(req->b->mdc, req->hdr.api_key, req->hdr.api_version, body, len,
                          GR_MAX(timeout_ms, 1000), admin_forwarded, ap)) {
        gbuf_close(&ap->body);
        free(ap);
        return -1;
    }
    return 0;
}

/* Each forwarded API: decoded here first, so that an unparseable request closes the client's
 * connection as any other would, and for its timeout. */
#define ADMIN_HANDLER(fn, name, timeout_expr)                                                      \
    int fn(struct broker_req *req)                                                                 \
    {                                                                                              \
        struct kafka_reader r = req->r;                                                            \
        struct kafka_##name##_request body;                                                        \
        if (kafka_##name##_request_decode(&r, req->hdr.api_version, &body)) return -1;            \
        return admin_forward(req, (timeout_expr));                                                 \
    }

ADMIN_HANDLER(broker_handle_create_topics, create_topics, body.timeout_ms)
ADMIN_HANDLER(broker_handle_delete_topics, delete_topics, body.timeout_ms)
ADMIN_HANDLER(broker_handle_create_partitions, create_partitions, body.timeout_ms)
ADMIN_HANDLER(broker_handle_alter_configs, alter_configs, ADMIN_TIMEOUT_MS)
ADMIN_HANDLER(broker_handle_incremental_alter_configs, incremental_alter_configs,
              ADMIN_TIMEOUT_MS)
ADMIN_HANDLER(broker_handle_elect_leaders, elect_leaders, body.timeout_ms)

/* ------------------------------------------------------------------------------------------ */
/* DescribeConfigs                                                                             */

static bool key_wanted(const struct kafka_describe_configs_request_describe_configs_resource *r,
                       const char *name)
{
    if (r->configuration_keys_count < 0) return true;
    for (int32_t i = 0; i < r->configuration_keys_count; i++)
        if (kstr_eq(r->configuration_keys[i], name)) return true;
    return false;
}

static int8_t config_type_of(enum cfg_type t)
{
    /* DescribeConfigs ConfigType: 1 BOOLEAN 2 STRING 3 INT 4 SHORT 5 LONG 6 DOUBLE 7 LIST ... */
    switch (t) {
    case CFG_BOOL: return 1;
    case CFG_INT: return 3;
    case CFG_LONG: return 5;
    case CFG_DOUBLE: return 6;
    case CFG_LIST: return 7;
    case CFG_PASSWORD: return 9;
    default: return 2;
    }
}

static void describe_entry(struct broker_req *req, const struct cfg_def *d, const char *value,
                           int8_t source, bool read_only,
                           struct kafka_describe_configs_response_describe_configs_resource_result *e)
{
    kafka_describe_configs_response_describe_configs_resource_result_init(e);
    e->name = KSTR(d->name);
    e->value = value ? KSTR(value) : KSTR_NULL;
    e->read_only = read_only;
    e->is_default = source == CFG_SOURCE_DEFAULT;
    e->config_source = source;
    e->is_sensitive = d->type == CFG_PASSWORD;
    e->config_type = config_type_of(d->type);
    e->documentation = d->doc ? KSTR(d->doc) : KSTR_NULL;
    e->synonyms = NULL;
    e->synonyms_count = 0;
}

/* Kafka's synonyms of a topic key, most specific first: the topic's override, the broker key
 * set in server.properties, and the default (of the broker key when there is one). */
static void topic_synonyms(struct broker_req *req, const struct cfg_def *d, const struct md_topic *t,
                           struct kafka_describe_configs_response_describe_configs_resource_result *e)
{
    struct kafka_describe_configs_response_describe_configs_synonym *syn =
        arena_calloc(req->arena, 3, sizeof(*syn));
    if (!syn) return;
    int32_t n = 0;
    const char *v = props_get(&t->configs, d->name);
    if (v) syn[n++] = (struct kafka_describe_configs_response_describe_configs_synonym){
        KSTR(d->name), KSTR(v), CFG_SOURCE_TOPIC};
    const struct props *bc = req->b->cfg.cfg;
    const char *bk = d->broker_synonym;
    const struct cfg_def *bd = bk ? cfg_find(cfg_broker_defs, bk) : NULL;
    if (bk && cfg_broker_is_set(bc, bk)) syn[n++] =
        (struct kafka_describe_configs_response_describe_configs_synonym){
            KSTR(bk), KSTR(props_get(bc, bk)), CFG_SOURCE_STATIC_BROKER};
    const char *dv = bd && bd->default_value ? bd->default_value : d->default_value;
    syn[n++] = (struct kafka_describe_configs_response_describe_configs_synonym){
        KSTR(bd ? bk : d->name), dv ? KSTR(dv) : KSTR_NULL, CFG_SOURCE_DEFAULT};
    e->synonyms = syn;
    e->synonyms_count = n;
}

static void describe_topic(struct broker_req *req,
                           const struct kafka_describe_configs_request_describe_configs_resource *r,
                           bool synonyms,
                           struct kafka_describe_configs_response_describe_configs_result *out)
{
    const struct md_image *img = md_client_image(req->b->mdc);
    const struct md_topic *t =
        r->resource_name.len > 0
            ? md_image_topic(img, r->resource_name.ptr, (size_t)r->resource_name.len)
            : NULL;
    if (!t) {
        out->error_code = KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION;
        out->error_message = KSTR("The topic does not exist.");
        return;
    }
    int32_t n = 0;
    while (cfg_topic_defs[n].name) n++;
    out->configs = arena_calloc(req->arena, (size_t)n, sizeof(*out->configs));
    if (!out->configs) return;
    out->configs_count = 0;
    for (int32_t i = 0; i < n; i++) {
        const struct cfg_def *d = &cfg_topic_defs[i];
        if (!key_wanted(r, d->name)) continue;
        int8_t src;
        const char *v = cfg_topic_value(&t->configs, req->b->cfg.cfg, d->name, &src);
        describe_entry(req, d, v, src, false, &out->configs[out->configs_count]);
        if (synonyms) topic_synonyms(req, d, t, &out->configs[out->configs_count]);
        out->configs_count++;
    }
}

static void describe_broker(struct broker_req *req,
                            const struct kafka_describe_configs_request_describe_configs_resource *r,
                            struct kafka_describe_configs_response_describe_configs_result *out)
{
    char id[16];
    strfmt(id, sizeof id, "%d", req->b->cfg.node_id);
    if (r->resource_name.len > 0 && !kstr_eq(r->resource_name, id)) {
        out->error_code = KAFKA_ERR_INVALID_REQUEST;
        out->error_message = KSTR("Unexpected broker id, expected this node's id or empty.");
        return;
    }
    int32_t n = 0;
    while (cfg_broker_defs[n].name) n++;
    out->configs = arena_calloc(req->arena, (size_t)n, sizeof(*out->configs));
    if (!out->configs) return;
    out->configs_count = 0;
    const struct props *bc = req->b->cfg.cfg;
    for (int32_t i = 0; i < n; i++) {
        const struct cfg_def *d = &cfg_broker_defs[i];
        if (d->scope == CFG_SCOPE_IGNORED || !key_wanted(r, d->name)) continue;
        const char *v = props_get(bc, d->name);
        int8_t src = v ? CFG_SOURCE_STATIC_BROKER : CFG_SOURCE_DEFAULT;
        if (!v) v = d->default_value;
        describe_entry(req, d, v, src, true, &out->configs[out->configs_count++]);
    }
}

int broker_handle_describe_configs(struct broker_req *req)
{
    int16_t v = req->hdr.api_version;
    struct kafka_describe_configs_request body;
    if (kafka_describe_configs_request_decode(&req->r, v, &body)) return -1;
    struct kafka_describe_configs_response resp;
    kafka_describe_configs_response_init(&resp);
    int32_t n = GR_MAX(body.resources_count, 0);
    resp.results = arena_calloc(req->arena, (size_t)GR_MAX(n, 1), sizeof(*resp.results));
    if (!resp.results) return -1;
    resp.results_count = n;
    for (int32_t i = 0; i < n; i++) {
        const struct kafka_describe_configs_request_describe_configs_resource *r =
            &body.resources[i];
        struct kafka_describe_configs_response_describe_configs_result *out = &resp.results[i];
        kafka_describe_configs_response_describe_configs_result_init(out);
        out->resource_type = r->resource_type;
        out->resource_name = r->resource_name;
        out->configs = NULL;
        out->configs_count = 0;
        if (r->resource_type == RESOURCE_TOPIC)
            describe_topic(req, r, v >= 1 && body.include_synonyms, out);
        else if (r->resource_type == RESOURCE_BROKER) describe_broker(req, r, out);
        else {
            out->error_code = KAFKA_ERR_INVALID_REQUEST;
            out->error_message = KSTR("Unsupported resource type.");
        }
        if (!out->configs) out->configs_count = 0;
    }
    struct kafka_writer w;
    broker_respond_begin(req, &w);
    kafka_describe_configs_response_encode(&w, v, &resp);
    broker_respond_end(req, &w);
    return 0;
}

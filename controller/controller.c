/* controller.c — the single-voter controller: opening and replaying the metadata log,
 * committing record batches, and the topic admin operations. */
#include "controller/controller_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CTRL_TOPICS_PER_REQUEST_MAX MD_CREATED_MAX
#define CTRL_PARTITIONS_MAX 100000

static int controller_replay(struct controller *c, char *err, size_t err_len)
{
    int64_t off = storage_log_start_offset(c->log);
    int64_t end = storage_log_end_offset(c->log);
    struct gbuf buf;
    gbuf_init(&buf);
    int rc = 0;
    while (off < end) {
        struct storage_slice s;
        rc = storage_log_read(c->log, off, 1 << 20, end, true, &s);
        if (rc || s.bytes == 0) break;
        gbuf_reset(&buf);
        rc = storage_slice_copy(&s, &buf);
        if (rc) break;
        size_t pos = 0;
        while (pos < buf.len) {
            size_t bn = rb_batch_size(buf.data + pos, buf.len - pos);
            if (!bn) break;
            struct rb_header h;
            if (rb_header_parse(buf.data + pos, bn, &h)) {
                rc = GR_ECORRUPT;
                break;
            }
            if (h.base_offset + h.last_offset_delta >= off) {
                rc = controller_apply_batch(c, buf.data + pos, bn, false);
                if (rc) break;
            }
            off = h.base_offset + h.last_offset_delta + 1;
            pos += bn;
        }
        if (rc || pos == 0) break;
    }
    gbuf_close(&buf);
    if (rc) strfmt(err, err_len, "cannot replay the metadata log: %s", gr_strerror(rc));
    return rc;
}

int controller_open(const struct controller_config *cfg, const struct controller_listener *l,
                    struct controller **out, char *err, size_t err_len)
{
    struct controller *c = calloc(1, sizeof(*c));
    if (!c) return GR_ENOMEM;
    c->cfg = *cfg;
    if (l) c->listener = *l;
    arena_init(&c->arena, 16384);
    gbuf_init(&c->scratch);
    int rc = md_image_init(&c->image);
    if (rc) goto err_free;
    c->image.cluster_id = cfg->cluster_id;
    gr_uuid_to_base64(&cfg->cluster_id, c->image.cluster_id_str);
    struct storage_log_config lc;
    storage_log_config_default(&lc);
    lc.segment_bytes = 8 << 20;
    lc.retention_ms = -1;
    rc = storage_log_open(cfg->metadata_dir, "__cluster_metadata", 0, NULL, &lc, time_wall_ms(),
                          &c->log, err, err_len);
    if (rc) goto err_free;
    rc = controller_replay(c, err, err_len);
    if (rc) goto err_free;
    rc = md_image_set_broker(&c->image, cfg->node_id, cfg->advertised_host,
                             cfg->advertised_port, cfg_get_str(cfg->broker, "broker.rack", NULL));
    if (rc) goto err_free;
    LOG_INFO("controller", "metadata log replayed: %zu topics, last applied offset %lld",
             c->image.topic_count, (long long)c->image.applied_offset);
    *out = c;
    return 0;
err_free:
    controller_free(c);
    return rc;
}

void controller_free(struct controller *c)
{
    if (!c) return;
    md_image_close(&c->image);
    arena_close(&c->arena);
    gbuf_close(&c->scratch);
    free(c);
}

const struct md_image *controller_image(const struct controller *c)
{
    return &c->image;
}

static void replay_one(void *arg, struct md_topic *t)
{
    struct controller *c = arg;
    if (c->listener.topic_created) c->listener.topic_created(c->listener.arg, t);
}

void controller_replay_topics(struct controller *c)
{
    md_image_foreach(&c->image, replay_one, c);
}

int controller_commit(struct controller *c, struct md_batch *b)
{
    if (b->err) return b->err;
    if (b->rb.count == 0) return 0;
    struct gbuf out;
    gbuf_init(&out);
    int rc = rb_builder_finish(&b->rb, &out);
    if (rc) goto done;
    struct storage_append_info info;
    rc = storage_log_append(c->log, out.data, out.len, 0, time_wall_ms(), &info);
    if (rc) goto done;
    rc = storage_log_flush(c->log); /* committed = durable on the one voter */
    if (rc) goto done;
    rc = controller_apply_batch(c, out.data, out.len, true);
done:
    if (rc) LOG_ERROR("controller", "metadata commit failed: %s", gr_strerror(rc));
    gbuf_close(&out);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* CreateTopics                                                                                */

struct create_plan {
    int32_t partitions;
    int32_t replication_factor;
};

static int16_t create_validate(struct controller *c,
                               const struct kafka_create_topics_request_creatable_topic *t,
                               struct create_plan *plan, const char **msg, struct arena *a)
{
    const char *why = md_topic_name_invalid(t->name.ptr, (size_t)GR_MAX(t->name.len, 0));
    if (t->name.len < 0 || why) {
        *msg = why ? why : "Topic name is null";
        return KAFKA_ERR_INVALID_TOPIC_EXCEPTION;
    }
    if (md_image_topic(&c->image, t->name.ptr, (size_t)t->name.len)) {
        *msg = arena_printf(a, "Topic '%.*s' already exists.", t->name.len, t->name.ptr);
        return KAFKA_ERR_TOPIC_ALREADY_EXISTS;
    }
    const struct props *bc = c->cfg.broker;
    plan->partitions = t->num_partitions == -1 ? (int32_t)cfg_get_long(bc, "num.partitions", 1)
                                               : t->num_partitions;
    plan->replication_factor =
        t->replication_factor == -1 ? (int16_t)cfg_get_long(bc, "default.replication.factor", 1)
                                    : t->replication_factor;
    if (t->assignments_count > 0) {
        if (t->num_partitions != -1 || t->replication_factor != -1) {
            *msg = "Both numPartitions or replicationFactor and replicasAssignments were set. "
                   "Both cannot be used at the same time.";
            return KAFKA_ERR_INVALID_REQUEST;
        }
        plan->partitions = t->assignments_count;
        plan->replication_factor = (int32_t)t->assignments[0].broker_ids_count;
        for (int32_t i = 0; i < t->assignments_count; i++) {
            const struct kafka_create_topics_request_creatable_replica_assignment *as =
                &t->assignments[i];
            if (as->partition_index != i || as->broker_ids_count != plan->replication_factor) {
                *msg = "Partition assignments must be contiguous from 0 and of equal size.";
                return KAFKA_ERR_INVALID_REPLICA_ASSIGNMENT;
            }
            for (int32_t k = 0; k < as->broker_ids_count; k++) {
                if (as->broker_ids[k] != c->cfg.node_id) {
                    *msg = arena_printf(a, "Unknown broker %d in replica assignment.",
                                        as->broker_ids[k]);
                    return KAFKA_ERR_INVALID_REPLICA_ASSIGNMENT;
                }
            }
        }
    }
    if (plan->partitions <= 0 || plan->partitions > CTRL_PARTITIONS_MAX) {
        *msg = plan->partitions <= 0
                   ? "Number of partitions was set to an invalid non-positive value."
                   : "Number of partitions is too large.";
        return KAFKA_ERR_INVALID_PARTITIONS;
    }
    if (plan->replication_factor <= 0) {
        *msg = "Replication factor must be larger than 0, or -1 to use the default value.";
        return KAFKA_ERR_INVALID_REPLICATION_FACTOR;
    }
    if (plan->replication_factor > c->image.broker_count) {
        *msg = arena_printf(a, "Unable to replicate the partition %d time(s): The target "
                            "replication factor of %d cannot be reached because only %d "
                            "broker(s) are registered.", plan->replication_factor,
                            plan->replication_factor, c->image.broker_count);
        return KAFKA_ERR_INVALID_REPLICATION_FACTOR;
    }
    for (int32_t i = 0; i < t->configs_count; i++) {
        const struct kafka_create_topics_request_creatable_topic_config *kv = &t->configs[i];
        char *name = arena_strndup(a, kv->name.ptr ? kv->name.ptr : "",
                                   (size_t)GR_MAX(kv->name.len, 0));
        const struct cfg_def *d = cfg_find(cfg_topic_defs, name);
        if (!d) {
            *msg = arena_printf(a, "Unknown topic config name: %s", name);
            return KAFKA_ERR_INVALID_CONFIG;
        }
        if (kv->value.len < 0) continue;
        char *val = arena_strndup(a, kv->value.ptr, (size_t)kv->value.len);
        char ebuf[256];
        if (cfg_validate(d, val, ebuf, sizeof ebuf)) {
            *msg = arena_strndup(a, ebuf, strlen(ebuf));
            return KAFKA_ERR_INVALID_CONFIG;
        }
    }
    return KAFKA_ERR_NONE;
}

/* Fills the v5+ config description of a created (or validated) topic. */
static void create_describe_configs(struct controller *c,
                                    const struct kafka_create_topics_request_creatable_topic *t,
                                    struct kafka_create_topics_response_creatable_topic_result *r,
                                    struct arena *a)
{
    struct props overrides;
    props_init(&overrides);
    for (int32_t i = 0; i < t->configs_count; i++) {
        if (t->configs[i].value.len < 0) continue;
        char *k = arena_strndup(a, t->configs[i].name.ptr, (size_t)t->configs[i].name.len);
        char *v = arena_strndup(a, t->configs[i].value.ptr, (size_t)t->configs[i].value.len);
        props_set(&overrides, k, v);
    }
    int32_t n = 0;
    while (cfg_topic_defs[n].name) n++;
    r->configs = arena_calloc(a, (size_t)n, sizeof(*r->configs));
    r->configs_count = r->configs ? n : 0;
    for (int32_t i = 0; i < r->configs_count; i++) {
        struct kafka_create_topics_response_creatable_topic_configs *e = &r->configs[i];
        kafka_create_topics_response_creatable_topic_configs_init(e);
        int8_t src;
        const char *v = cfg_topic_value(&overrides, c->cfg.broker, cfg_topic_defs[i].name, &src);
        e->name = KSTR(cfg_topic_defs[i].name);
        e->value = v ? KSTR(arena_strndup(a, v, strlen(v))) : KSTR_NULL;
        e->read_only = false;
        e->config_source = src;
        e->is_sensitive = false;
    }
    props_close(&overrides);
}

void controller_create_topics(struct controller *c, const struct kafka_create_topics_request *req,
                              int16_t version, struct kafka_create_topics_response *resp,
                              struct arena *a)
{
    int32_t n = GR_MAX(req->topics_count, 0);
    resp->topics = arena_calloc(a, (size_t)GR_MAX(n, 1), sizeof(*resp->topics));
    resp->topics_count = resp->topics ? n : 0;
    struct md_batch b;
    md_batch_init(&b);
    for (int32_t i = 0; i < resp->topics_count; i++) {
        const struct kafka_create_topics_request_creatable_topic *t = &req->topics[i];
        struct kafka_create_topics_response_creatable_topic_result *r = &resp->topics[i];
        kafka_create_topics_response_creatable_topic_result_init(r);
        r->name = t->name;
        struct create_plan plan = {0, 0};
        const char *msg = NULL;
        int16_t ec = create_validate(c, t, &plan, &msg, a);
        for (int32_t k = 0; k < i && ec == KAFKA_ERR_NONE; k++) {
            if (req->topics[k].name.len == t->name.len &&
                !memcmp(req->topics[k].name.ptr, t->name.ptr, (size_t)t->name.len)) {
                ec = KAFKA_ERR_INVALID_REQUEST;
                msg = "Create topics request from client contains a duplicate topic";
            }
        }
        if (i >= CTRL_TOPICS_PER_REQUEST_MAX && ec == KAFKA_ERR_NONE) {
            ec = KAFKA_ERR_POLICY_VIOLATION;
            msg = "Too many topics in one CreateTopics request.";
        }
        r->error_code = ec;
        r->error_message = msg ? KSTR(msg) : KSTR_NULL;
        if (ec != KAFKA_ERR_NONE) continue;
        struct gr_uuid id;
        gr_uuid_random(&id);
        memcpy(r->topic_id.b, id.b, 16);
        r->num_partitions = plan.partitions;
        r->replication_factor = (int16_t)plan.replication_factor;
        if (version >= 5) create_describe_configs(c, t, r, a);
        if (req->validate_only) continue;
        md_batch_add_topic(&b, t->name, &id);
        for (int32_t p = 0; p < plan.partitions; p++) {
            int32_t replicas[1] = {c->cfg.node_id};
            md_batch_add_partition(&b, &id, p, replicas, 1, c->cfg.node_id);
        }
        for (int32_t k = 0; k < t->configs_count; k++)
            if (t->configs[k].value.len >= 0)
                md_batch_add_config(&b, MD_RESOURCE_TOPIC, t->name, t->configs[k].name,
                                    t->configs[k].value);
        LOG_INFO("controller", "creating topic %.*s with %d partition(s), replication factor %d",
                 t->name.len, t->name.ptr, plan.partitions, plan.replication_factor);
    }
    if (controller_commit(c, &b)) {
        for (int32_t i = 0; i < resp->topics_count; i++) {
            if (resp->topics[i].error_code != KAFKA_ERR_NONE || req->validate_only) continue;
            resp->topics[i].error_code = KAFKA_ERR_KAFKA_STORAGE_ERROR;
            resp->topics[i].error_message = KSTR("The metadata log could not be written.");
        }
    }
    md_batch_close(&b);
}

int16_t controller_auto_create_topic(struct controller *c, const char *name, size_t len)
{
    if (md_topic_name_invalid(name, len)) return KAFKA_ERR_INVALID_TOPIC_EXCEPTION;
    if (md_image_topic(&c->image, name, len)) return KAFKA_ERR_NONE;
    struct kafka_create_topics_request req;
    kafka_create_topics_request_init(&req);
    struct kafka_create_topics_request_creatable_topic t;
    kafka_create_topics_request_creatable_topic_init(&t);
    t.name = (struct kafka_str){name, (int32_t)len};
    t.num_partitions = -1;
    t.replication_factor = -1;
    req.topics = &t;
    req.topics_count = 1;
    struct kafka_create_topics_response resp;
    kafka_create_topics_response_init(&resp);
    struct arena a;
    arena_init(&a, 4096);
    controller_create_topics(c, &req, 4, &resp, &a);
    int16_t ec = resp.topics_count == 1 ? resp.topics[0].error_code : KAFKA_ERR_UNKNOWN_SERVER_ERROR;
    arena_close(&a);
    return ec;
}

/* ------------------------------------------------------------------------------------------ */
/* DeleteTopics                                                                                */

void controller_delete_topics(struct controller *c, const struct kafka_delete_topics_request *req,
                              int16_t version, struct kafka_delete_topics_response *resp,
                              struct arena *a)
{
    int32_t n = version >= 6 ? GR_MAX(req->topics_count, 0) : GR_MAX(req->topic_names_count, 0);
    resp->responses = arena_calloc(a, (size_t)GR_MAX(n, 1), sizeof(*resp->responses));
    resp->responses_count = resp->responses ? n : 0;
    struct md_batch b;
    md_batch_init(&b);
    bool allowed = cfg_get_bool(c->cfg.broker, "delete.topic.enable", true);
    for (int32_t i = 0; i < resp->responses_count; i++) {
        struct kafka_delete_topics_response_deletable_topic_result *r = &resp->responses[i];
        kafka_delete_topics_response_deletable_topic_result_init(r);
        struct md_topic *t = NULL;
        if (version >= 6) {
            const struct kafka_delete_topics_request_delete_topic_state *st = &req->topics[i];
            struct gr_uuid id;
            memcpy(id.b, st->topic_id.b, 16);
            if (st->name.len >= 0) t = md_image_topic(&c->image, st->name.ptr, (size_t)st->name.len);
            else if (!gr_uuid_is_zero(&id)) t = md_image_topic_by_id(&c->image, &id);
            r->name = st->name;
            r->topic_id = st->topic_id;
            if (!t && st->name.len < 0) {
                r->error_code = KAFKA_ERR_UNKNOWN_TOPIC_ID;
                continue;
            }
        } else {
            r->name = req->topic_names[i];
            t = md_image_topic(&c->image, r->name.ptr, (size_t)GR_MAX(r->name.len, 0));
        }
        if (!allowed) {
            r->error_code = KAFKA_ERR_TOPIC_DELETION_DISABLED;
            continue;
        }
        if (!t) {
            r->error_code = KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION;
            r->error_message = KSTR("This server does not host this topic-partition.");
            continue;
        }
        memcpy(r->topic_id.b, t->id.b, 16);
        r->name = (struct kafka_str){arena_strndup(a, t->name, strlen(t->name)),
                                     (int32_t)strlen(t->name)};
        md_batch_add_remove_topic(&b, &t->id);
        LOG_INFO("controller", "deleting topic %s", t->name);
    }
    if (controller_commit(c, &b)) {
        for (int32_t i = 0; i < resp->responses_count; i++)
            if (resp->responses[i].error_code == KAFKA_ERR_NONE)
                resp->responses[i].error_code = KAFKA_ERR_KAFKA_STORAGE_ERROR;
    }
    md_batch_close(&b);
}

/* broker_core.c — the broker object, its hosted partitions, request dispatch and periodic work. */
#include "broker/broker_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define BROKER_CHECKPOINT_INTERVAL_MS 60000

const struct broker_api broker_apis[] = {
    {KAFKA_API_PRODUCE, 3, 9, broker_handle_produce},
    {KAFKA_API_FETCH, 4, 12, broker_handle_fetch},
    {KAFKA_API_LIST_OFFSETS, 1, 7, broker_handle_list_offsets},
    {KAFKA_API_METADATA, 0, 12, broker_handle_metadata},
    {KAFKA_API_OFFSET_COMMIT, 0, 8, broker_handle_offset_commit},
    {KAFKA_API_OFFSET_FETCH, 0, 8, broker_handle_offset_fetch},
    {KAFKA_API_FIND_COORDINATOR, 0, 4, broker_handle_find_coordinator},
    {KAFKA_API_JOIN_GROUP, 0, 9, broker_handle_join_group},
    {KAFKA_API_HEARTBEAT, 0, 4, broker_handle_heartbeat},
    {KAFKA_API_LEAVE_GROUP, 0, 5, broker_handle_leave_group},
    {KAFKA_API_SYNC_GROUP, 0, 5, broker_handle_sync_group},
    {KAFKA_API_DESCRIBE_GROUPS, 0, 5, broker_handle_describe_groups},
    {KAFKA_API_LIST_GROUPS, 0, 4, broker_handle_list_groups},
    {KAFKA_API_API_VERSIONS, 0, 4, broker_handle_api_versions},
    {KAFKA_API_CREATE_TOPICS, 0, 7, broker_handle_create_topics},
    {KAFKA_API_DELETE_TOPICS, 0, 6, broker_handle_delete_topics},
    {KAFKA_API_DESCRIBE_CONFIGS, 0, 4, broker_handle_describe_configs},
    {KAFKA_API_DESCRIBE_QUORUM, 0, 2, broker_handle_describe_quorum},
    {KAFKA_API_CREATE_PARTITIONS, 0, 3, broker_handle_create_partitions},
    {KAFKA_API_INIT_PRODUCER_ID, 0, 4, broker_handle_init_producer_id},
    {KAFKA_API_ALTER_CONFIGS, 0, 2, broker_handle_alter_configs},
    {KAFKA_API_INCREMENTAL_ALTER_CONFIGS, 0, 1, broker_handle_incremental_alter_configs},
    {KAFKA_API_DELETE_GROUPS, 0, 2, broker_handle_delete_groups},
    {KAFKA_API_ELECT_LEADERS, 0, 2, broker_handle_elect_leaders},
    {KAFKA_API_OFFSET_DELETE, 0, 0, broker_handle_offset_delete},
};
const size_t broker_api_count = GR_ARRAY_LEN(broker_apis);

const struct broker_api *broker_api_find(int16_t key)
{
    for (size_t i = 0; i < broker_api_count; i++)
        if (broker_apis[i].key == key) return &broker_apis[i];
    return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Topics and partitions                                                                       */

struct broker_topic *broker_topic_find(struct broker *b, const char *name, size_t len)
{
    struct broker_topic *t = b->buckets[gr_hash(name, len) % b->bucket_count];
    for (; t; t = t->hash_next)
        if (strlen(t->name) == len && !memcmp(t->name, name, len)) return t;
    return NULL;
}

struct broker_partition *broker_partition_find(struct broker *b, struct kafka_str topic,
                                               int32_t partition)
{
    if (topic.len <= 0) return NULL;
    struct broker_topic *t = broker_topic_find(b, topic.ptr, (size_t)topic.len);
    if (!t || partition < 0 || partition >= t->partition_count) return NULL;
    return &t->partitions[partition];
}

int16_t broker_lead_error(struct broker *b, const struct broker_topic *t, int32_t partition)
{
    if (!t || partition < 0 || partition >= t->partition_count)
        return KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION;
    const struct md_topic *mt = md_image_topic(md_client_image(b->mdc), t->name, strlen(t->name));
    const struct md_partition *mp = mt ? md_topic_partition(mt, partition) : NULL;
    if (!mp) return KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION;
    if (mp->leader != b->cfg.node_id || !t->partitions[partition].log)
        return mp->leader < 0 ? KAFKA_ERR_LEADER_NOT_AVAILABLE : KAFKA_ERR_NOT_LEADER_OR_FOLLOWER;
    return KAFKA_ERR_NONE;
}

char *broker_strdup(struct broker_req *req, struct kafka_str s)
{
    return arena_strndup(req->arena, s.ptr ? s.ptr : "", (size_t)GR_MAX(s.len, 0));
}

static int codec_from_name(const char *v)
{
    if (!v || !strcmp(v, "producer")) return -1;
    if (!strcmp(v, "gzip")) return RB_CODEC_GZIP;
    if (!strcmp(v, "snappy")) return RB_CODEC_SNAPPY;
    if (!strcmp(v, "lz4")) return RB_CODEC_LZ4;
    if (!strcmp(v, "zstd")) return RB_CODEC_ZSTD;
    return RB_CODEC_NONE; /* uncompressed / none */
}

void broker_topic_resolve_configs(struct broker *b, struct broker_topic *t,
                                  const struct md_topic *mt)
{
    const struct props *bc = b->cfg.cfg;
    t->codec = codec_from_name(cfg_topic_value(&mt->configs, bc, "compression.type", NULL));
    const char *ts = cfg_topic_value(&mt->configs, bc, "message.timestamp.type", NULL);
    t->log_append_time = ts && !strcmp(ts, "LogAppendTime");
    int64_t mm = 0;
    parse_i64(cfg_topic_value(&mt->configs, bc, "max.message.bytes", NULL), &mm);
    t->max_message_bytes = (int32_t)mm;
    int64_t mi = 1;
    parse_i64(cfg_topic_value(&mt->configs, bc, "min.insync.replicas", NULL), &mi);
    t->min_isr = (int32_t)mi;
    struct storage_log_config lc;
    cfg_topic_storage_config(&mt->configs, bc, &lc);
    for (int32_t i = 0; i < t->partition_count; i++)
        if (t->partitions[i].log) storage_log_set_config(t->partitions[i].log, &lc);
}

static void partition_open(struct broker *b, struct broker_topic *t, const struct md_topic *mt,
                           int32_t i, const struct storage_log_config *lc);

static void on_topic_created(void *arg, const struct md_topic *mt)
{
    struct broker *b = arg;
    if (broker_topic_find(b, mt->name, strlen(mt->name))) return;
    struct broker_topic *t = calloc(1, sizeof(*t));
    if (!t) return;
    t->name = strdup(mt->name);
    t->id = mt->id;
    t->partitions = calloc((size_t)GR_MAX(mt->partition_count, 1), sizeof(*t->partitions));
    struct storage_log_config lc;
    cfg_topic_storage_config(&mt->configs, b->cfg.cfg, &lc);
    for (int32_t i = 0; t->partitions && i < mt->partition_count; i++) {
        t->partition_count = i + 1;
        partition_open(b, t, mt, i, &lc);
    }
    broker_topic_resolve_configs(b, t, mt);
    size_t h = gr_hash(t->name, strlen(t->name)) % b->bucket_count;
    t->hash_next = b->buckets[h];
    b->buckets[h] = t;
    broker_replica_sync(b, t, mt);
}

/* Opens the log of partition i of t if this broker is one of its replicas. */
static void partition_open(struct broker *b, struct broker_topic *t, const struct md_topic *mt,
                           int32_t i, const struct storage_log_config *lc)
{
    struct broker_partition *p = &t->partitions[i];
    p->topic = t;
    p->id = i;
    p->leader_id = -2; /* no role yet: broker_replica_sync gives it one */
    p->leader_epoch = -1;
    p->partition_epoch = -1;
    p->alter_adding = -1;
    const struct md_partition *mp = &mt->partitions[i];
    bool replica = false;
    for (int32_t k = 0; k < mp->replica_count; k++) replica |= mp->replicas[k] == b->cfg.node_id;
    if (!replica) return; /* hosted elsewhere */
    char err[256];
    if (storage_log_open(b->cfg.log_dir, mt->name, i, &mt->id, lc, time_wall_ms(), &p->log, err,
                         sizeof err)) {
        LOG_ERROR("broker", "cannot open log of %s-%d: %s", mt->name, i, err);
        return;
    }
    /* the high watermark is not stored: a leader starts from its log end when it is alone in
     * the ISR (broker_replica_update_hw), a follower learns it from its leader */
    p->high_watermark = mp->isr_count <= 1 ? storage_log_end_offset(p->log) : 0;
    broker_pstate_rebuild(p);
}

static void on_partitions_changed(void *arg, const struct md_topic *mt)
{
    struct broker *b = arg;
    struct broker_topic *t = broker_topic_find(b, mt->name, strlen(mt->name));
    if (!t) {
        on_topic_created(arg, mt);
        return;
    }
    if (mt->partition_count <= t->partition_count) {
        broker_replica_sync(b, t, mt); /* a new leader, leader epoch or ISR */
        return;
    }
    struct broker_partition *np = calloc((size_t)mt->partition_count, sizeof(*np));
    if (!np) {
        LOG_ERROR("broker", "out of memory adding partitions to %s", mt->name);
        return;
    }
    memcpy(np, t->partitions, sizeof(*np) * (size_t)t->partition_count);
    /* delayed fetches point at the old partition structs: move them */
    for (int32_t i = 0; i < t->partition_count; i++)
        broker_fetch_partition_moved(&t->partitions[i], &np[i]);
    free(t->partitions);
    t->partitions = np;
    struct storage_log_config lc;
    cfg_topic_storage_config(&mt->configs, b->cfg.cfg, &lc);
    int32_t old = t->partition_count;
    t->partition_count = mt->partition_count;
    for (int32_t i = old; i < mt->partition_count; i++) partition_open(b, t, mt, i, &lc);
    LOG_INFO("broker", "topic %s now has %d partitions", mt->name, mt->partition_count);
    broker_replica_sync(b, t, mt);
}

static void broker_topic_unlink(struct broker *b, struct broker_topic *t)
{
    size_t h = gr_hash(t->name, strlen(t->name)) % b->bucket_count;
    struct broker_topic **pp = &b->buckets[h];
    while (*pp && *pp != t) pp = &(*pp)->hash_next;
    if (*pp) *pp = t->hash_next;
}

static void broker_topic_free(struct broker_topic *t)
{
    for (int32_t i = 0; i < t->partition_count; i++) {
        free(t->partitions[i].waiters);
        broker_pstate_free(&t->partitions[i]);
    }
    free(t->partitions);
    free(t->name);
    free(t);
}

static void on_topic_deleting(void *arg, const struct md_topic *mt)
{
    struct broker *b = arg;
    struct broker_topic *t = broker_topic_find(b, mt->name, strlen(mt->name));
    if (!t) return;
    broker_topic_unlink(b, t);
    for (int32_t i = 0; i < t->partition_count; i++) {
        struct broker_partition *p = &t->partitions[i];
        broker_replica_forget(b, p);
        broker_fetch_partition_gone(b, p);
        if (p->log && storage_log_delete(p->log))
            LOG_WARN("broker", "could not remove the files of %s-%d", t->name, i);
        p->log = NULL;
    }
    broker_topic_free(t);
    broker_produce_recheck(b); /* acks=all produces waiting on it answer now */
}

static void on_topic_config_changed(void *arg, const struct md_topic *mt)
{
    struct broker *b = arg;
    struct broker_topic *t = broker_topic_find(b, mt->name, strlen(mt->name));
    if (t) broker_topic_resolve_configs(b, t, mt);
}

struct controller_listener broker_controller_listener(struct broker *b)
{
    struct controller_listener l = {b, on_topic_created, on_topic_deleting,
                                    on_topic_config_changed, on_partitions_changed};
    return l;
}

/* ------------------------------------------------------------------------------------------ */
/* Lifecycle                                                                                   */

int broker_new(struct event_base *base, const struct broker_config *cfg, struct broker **out)
{
    struct broker *b = calloc(1, sizeof(*b));
    if (!b) return GR_ENOMEM;
    b->base = base;
    b->cfg = *cfg;
    b->bucket_count = 1024;
    b->buckets = calloc(b->bucket_count, sizeof(*b->buckets));
    if (!b->buckets) {
        free(b);
        return GR_ENOMEM;
    }
    arena_init(&b->arena, 64 * 1024);
    gbuf_init(&b->scratch);
    b->message_max_bytes = (int32_t)cfg_get_long(cfg->cfg, "message.max.bytes", 1048588);
    b->fetch_max_bytes = (int32_t)cfg_get_long(cfg->cfg, "fetch.max.bytes", 57671680);
    b->auto_create = cfg_get_bool(cfg->cfg, "auto.create.topics.enable", true);
    b->replica_lag_ms = cfg_get_long(cfg->cfg, "replica.lag.time.max.ms", 30000);
    int64_t now = time_mono_ms();
    b->next_retention_ms = now + 1000;
    b->next_checkpoint_ms = now + BROKER_CHECKPOINT_INTERVAL_MS;
    if (broker_coord_new(b)) {
        arena_close(&b->arena);
        free(b->buckets);
        free(b);
        return GR_ENOMEM;
    }
    *out = b;
    return 0;
}

void broker_set_listeners(struct broker *b, const char *const *names, int n)
{
    b->listener_names = names;
    b->listener_count = n;
    /* as Kafka: the listener named so, else the one named PLAINTEXT; else the first */
    b->inter_broker_listener = n > 0 ? names[0] : NULL;
    for (int i = 0; i < n; i++)
        if (!strcmp(names[i], "PLAINTEXT")) b->inter_broker_listener = names[i];
    if (cfg_broker_is_set(b->cfg.cfg, "inter.broker.listener.name"))
        b->inter_broker_listener = cfg_get_str(b->cfg.cfg, "inter.broker.listener.name", NULL);
}

const char *broker_req_listener(const struct broker_req *req)
{
    struct net_conn *c = req->slot ? net_slot_conn(req->slot) : NULL;
    int i = c ? net_conn_listener(c) : -1;
    return i >= 0 && i < req->b->listener_count ? req->b->listener_names[i] : NULL;
}

void broker_set_md_client(struct broker *b, struct md_client *m)
{
    b->mdc = m;
}

void broker_free(struct broker *b)
{
    if (!b) return;
    broker_fetchers_free(b);
    broker_coord_free(b);
    broker_produce_cancel_all(b);
    broker_fetch_cancel_all(b);
    for (size_t i = 0; i < b->bucket_count; i++) {
        struct broker_topic *t = b->buckets[i];
        while (t) {
            struct broker_topic *n = t->hash_next;
            broker_topic_free(t);
            t = n;
        }
    }
    free(b->buckets);
    arena_close(&b->arena);
    gbuf_close(&b->scratch);
    free(b);
}

void broker_tick(struct broker *b, int64_t now_mono_ms)
{
    broker_replica_tick(b, now_mono_ms);
    broker_coord_tick(b, now_mono_ms);
    broker_pids_refill(b);
    int64_t wall = time_wall_ms();
    bool retention = now_mono_ms >= b->next_retention_ms;
    if (retention)
        b->next_retention_ms =
            now_mono_ms + cfg_get_long(b->cfg.cfg, "log.retention.check.interval.ms", 300000);
    for (size_t i = 0; i < b->bucket_count; i++) {
        for (struct broker_topic *t = b->buckets[i]; t; t = t->hash_next) {
            for (int32_t k = 0; k < t->partition_count; k++) {
                struct storage_log *l = t->partitions[k].log;
                if (!l) continue;
                storage_log_maybe_flush(l, wall);
                if (!retention) continue;
                int n = storage_log_enforce_retention(l, wall);
                if (n > 0)
                    LOG_INFO("broker", "retention deleted %d segment(s) of %s-%d; log start "
                             "offset is now %lld", n, t->name, k,
                             (long long)storage_log_start_offset(l));
            }
        }
    }
    if (now_mono_ms >= b->next_checkpoint_ms) {
        b->next_checkpoint_ms = now_mono_ms + BROKER_CHECKPOINT_INTERVAL_MS;
        storage_dir_checkpoint(b->cfg.log_dir);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Dispatch                                                                                    */

void broker_respond_begin(struct broker_req *req, struct kafka_writer *w)
{
    struct gbuf *out = net_slot_buf(req->slot);
    gbuf_reset(out);
    kafka_writer_init(w, out);
    int hv = kafka_response_header_version(req->hdr.api_key, req->hdr.api_version);
    kafka_response_header_encode(w, hv, req->hdr.correlation_id);
}

void broker_respond_end(struct broker_req *req, struct kafka_writer *w)
{
    if (w->err) {
        /* could not build the response: the client gets a closed connection, never garbage */
        LOG_WARN("broker", "failed to encode response to api %d v%d: %s", req->hdr.api_key,
                 req->hdr.api_version, gr_strerror(w->err));
        struct net_conn *c = net_slot_conn(req->slot);
        if (c) net_conn_close_after_flush(c);
        net_slot_done_silent(req->slot);
        return;
    }
    net_slot_done(req->slot);
}

int broker_on_frame(void *ctx, struct net_conn *c, struct net_slot *slot, uint8_t *payload,
                    size_t len)
{
    struct broker *b = ctx;
    struct broker_req req = {.b = b, .slot = slot, .arena = &b->arena, .now_ms = time_wall_ms()};
    arena_reset(&b->arena);
    if (len < 8) return -1;
    int16_t key = (int16_t)be16_get(payload);
    int16_t version = (int16_t)be16_get(payload + 2);
    const struct broker_api *api = broker_api_find(key);
    int hv = kafka_api_lookup(key) ? kafka_request_header_version(key, version) : 1;
    /* An ApiVersions version newer than ours may carry a header we cannot know the shape of;
     * its body is never read, so the client id is all we take (Kafka does the same). */
    if (key == KAFKA_API_API_VERSIONS && (!api || version > api->max_version)) hv = 1;
    kafka_reader_init(&req.r, payload, len, &b->arena);
    kafka_request_header_decode(&req.r, hv, &req.hdr);
    if (req.r.err) return -1;
    if (key == KAFKA_API_API_VERSIONS) return broker_handle_api_versions(&req);
    if (!api || version < api->min_version || version > api->max_version) {
        /* as Kafka does: an unsupported api or version closes the connection */
        LOG_WARN("broker", "closing connection from %s: unsupported api key %d version %d",
                 net_conn_peer(c), key, version);
        return -1;
    }
    return api->handler(&req);
}

/* ------------------------------------------------------------------------------------------ */
/* Start-up: partition directories whose topic is not in the metadata image are left over from a
 * deletion that crashed between committing the RemoveTopic record and removing the files.  The
 * image is the truth, so they go. */

struct orphan_list {
    char (*names)[256];
    int32_t *parts;
    size_t n, cap;
};

static void orphan_collect(void *arg, const char *topic, int32_t partition)
{
    struct orphan_list *o = arg;
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 64;
        char(*nn)[256] = realloc(o->names, cap * sizeof(*nn));
        if (nn) o->names = nn;
        int32_t *np = realloc(o->parts, cap * sizeof(*np));
        if (np) o->parts = np;
        if (!nn || !np) return;
        o->cap = cap;
    }
    strfmt(o->names[o->n], sizeof o->names[o->n], "%s", topic);
    o->parts[o->n++] = partition;
}

void broker_remove_orphans(struct broker *b)
{
    struct orphan_list o = {0};
    storage_dir_scan(b->cfg.log_dir, orphan_collect, &o);
    for (size_t i = 0; i < o.n; i++) {
        const char *name = o.names[i];
        if (!strcmp(name, "__cluster_metadata")) continue;
        struct broker_topic *t = broker_topic_find(b, name, strlen(name));
        if (t && o.parts[i] < t->partition_count) continue;
        struct storage_log_config lc;
        storage_log_config_default(&lc);
        struct storage_log *l;
        char err[256];
        if (storage_log_open(b->cfg.log_dir, name, o.parts[i], NULL, &lc, time_wall_ms(), &l, err,
                             sizeof err) == 0 &&
            storage_log_delete(l) == 0) {
            LOG_WARN("broker", "removed %s-%d: its topic is not in the metadata log (a deletion "
                     "interrupted by a crash)", name, o.parts[i]);
        } else {
            LOG_WARN("broker", "could not remove stale partition %s-%d", name, o.parts[i]);
        }
    }
    free(o.names);
    free(o.parts);
}

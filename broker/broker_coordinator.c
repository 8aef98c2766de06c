/* broker_coordinator.c — the group coordinator's home: __consumer_offsets, FindCoordinator,
 * committed offsets (OffsetCommit, OffsetFetch, OffsetDelete), DeleteGroups, loading groups
 * when this broker becomes the leader of an offsets partition, and offsets expiry.
 *
 * __consumer_offsets is an ordinary replicated topic (offsets.topic.num.partitions,
 * offsets.topic.replication.factor capped at the live brokers, cleanup.policy=compact), created
 * by the first FindCoordinator that needs it.  A write of the coordinator is appended to the
 * partition's log like a produce with acks=all and takes effect when the high watermark
 * passes it, so an acknowledged commit survives the loss of the leader.  The log is read
 * back, last value per key winning and a null value deleting, by the next leader. */
#include "broker/group_int.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#define COORD_BUCKETS 1024
#define COORD_LOAD_READ_BYTES (1 << 20)

struct coord_append {
    struct coord_append *next;
    int32_t part;
    int32_t leader_epoch;
    int64_t required; /* the high watermark that commits it */
    int64_t deadline; /* monotonic */
    coord_append_fn done;
    void *arg;
};

static void enc_offset_delete(struct kafka_writer *w, int16_t v, const void *r)
{
    kafka_offset_delete_response_encode(w, v, r);
}

static struct broker_topic *offsets_topic(struct broker *b)
{
    return broker_topic_find(b, GRP_OFFSETS_TOPIC, strlen(GRP_OFFSETS_TOPIC));
}

static struct broker_partition *offsets_partition(struct broker *b, int32_t part)
{
    struct broker_topic *t = offsets_topic(b);
    return t && part >= 0 && part < t->partition_count ? &t->partitions[part] : NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Groups                                                                                      */

static size_t bucket_of(struct coord *c, const char *id)
{
    return gr_hash(id, strlen(id)) % c->bucket_count;
}

struct grp_group *coord_group_find(struct coord *c, const char *id)
{
    for (struct grp_group *g = c->buckets[bucket_of(c, id)]; g; g = g->next)
        if (!strcmp(g->id, id)) return g;
    return NULL;
}

struct grp_group *coord_group_add(struct coord *c, const char *id, int32_t part)
{
    struct grp_group *g = grp_new(c, id, part);
    if (!g) return NULL;
    size_t h = bucket_of(c, id);
    g->next = c->buckets[h];
    c->buckets[h] = g;
    return g;
}

void coord_group_remove(struct coord *c, struct grp_group *g)
{
    struct grp_group **pp = &c->buckets[bucket_of(c, g->id)];
    while (*pp && *pp != g) pp = &(*pp)->next;
    if (*pp) *pp = g->next;
    grp_free(g);
}

int grp_offset_put(struct grp_group *g, const struct grp_stored_offset *o)
{
    char *meta = strdup(o->o.metadata ? o->o.metadata : "");
    if (!meta) return -1;
    for (int32_t i = 0; i < g->offset_count; i++) {
        struct grp_stored_offset *s = &g->offsets[i];
        if (s->partition != o->partition || strcmp(s->topic, o->topic)) continue;
        free(s->o.metadata);
        s->o = o->o;
        s->o.metadata = meta;
        return 0;
    }
    if (g->offset_count == g->offset_cap) {
        int32_t cap = g->offset_cap ? g->offset_cap * 2 : 16;
        struct grp_stored_offset *n = realloc(g->offsets, sizeof(*n) * (size_t)cap);
        if (!n) {
            free(meta);
            return -1;
        }
        g->offsets = n;
        g->offset_cap = cap;
    }
    char *topic = strdup(o->topic);
    if (!topic) {
        free(meta);
        return -1;
    }
    struct grp_stored_offset *s = &g->offsets[g->offset_count++];
    *s = *o;
    s->topic = topic;
    s->o.metadata = meta;
    return 0;
}

void grp_offset_del(struct grp_group *g, const char *topic, int32_t partition)
{
    for (int32_t i = 0; i < g->offset_count; i++) {
        struct grp_stored_offset *s = &g->offsets[i];
        if (s->partition != partition || strcmp(s->topic, topic)) continue;
        free(s->topic);
        free(s->o.metadata);
        g->offsets[i] = g->offsets[--g->offset_count];
        return;
    }
}

static const struct grp_stored_offset *offset_get(const struct grp_group *g, const char *topic,
                                                  size_t topic_len, int32_t partition)
{
    for (int32_t i = 0; g && i < g->offset_count; i++) {
        const struct grp_stored_offset *s = &g->offsets[i];
        if (s->partition == partition && strlen(s->topic) == topic_len &&
            !memcmp(s->topic, topic, topic_len))
            return s;
    }
    return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Where groups live                                                                           */

static int ensure_parts(struct coord *c, int32_t n)
{
    if (n <= c->part_count) return 0;
    enum coord_part_state *s = realloc(c->part_state, sizeof(*s) * (size_t)n);
    if (s) c->part_state = s;
    int32_t *e = realloc(c->part_epoch, sizeof(*e) * (size_t)n);
    if (e) c->part_epoch = e;
    if (!s || !e) return -1;
    for (int32_t i = c->part_count; i < n; i++) {
        c->part_state[i] = CP_NONE;
        c->part_epoch[i] = -1;
    }
    c->part_count = n;
    return 0;
}

int16_t coord_check(struct coord *c, const char *id, int32_t *part)
{
    struct broker_topic *t = offsets_topic(c->b);
    if (!t || t->partition_count <= 0) return KAFKA_ERR_COORDINATOR_NOT_AVAILABLE;
    int32_t p = grp_partition_for(id, strlen(id), t->partition_count);
    *part = p;
    if (p >= c->part_count || !t->partitions[p].leader) return KAFKA_ERR_NOT_COORDINATOR;
    if (c->part_state[p] == CP_LOADING) return KAFKA_ERR_COORDINATOR_LOAD_IN_PROGRESS;
    return c->part_state[p] == CP_ACTIVE ? KAFKA_ERR_NONE : KAFKA_ERR_NOT_COORDINATOR;
}

/* ------------------------------------------------------------------------------------------ */
/* Appending                                                                                   */

static void append_finish(struct coord *c, struct coord_append *a, int16_t err)
{
    struct coord_append **pp = &c->appends;
    while (*pp && *pp != a) pp = &(*pp)->next;
    if (*pp) *pp = a->next;
    a->done(a->arg, err);
    free(a);
}

void coord_append(struct coord *c, int32_t part, struct gbuf *batch, coord_append_fn done,
                  void *arg)
{
    struct broker *b = c->b;
    struct broker_partition *p = offsets_partition(b, part);
    if (!p || !p->leader || !p->log || part >= c->part_count || c->part_state[part] != CP_ACTIVE) {
        done(arg, KAFKA_ERR_NOT_COORDINATOR);
        return;
    }
    if (p->isr_count < p->topic->min_isr) {
        done(arg, KAFKA_ERR_COORDINATOR_NOT_AVAILABLE); /* NOT_ENOUGH_REPLICAS, as Kafka maps it */
        return;
    }
    struct coord_append *a = calloc(1, sizeof(*a));
    if (!a) {
        done(arg, KAFKA_ERR_COORDINATOR_NOT_AVAILABLE);
        return;
    }
    struct storage_append_info ai;
    int rc = storage_log_append(p->log, batch->data, batch->len, p->leader_epoch,
                                time_wall_ms(), &ai);
    if (rc) {
        LOG_ERROR("group", "append to %s-%d failed: %s", GRP_OFFSETS_TOPIC, part, gr_strerror(rc));
        free(a);
        done(arg, KAFKA_ERR_COORDINATOR_NOT_AVAILABLE);
        return;
    }
    *a = (struct coord_append){c->appends, part, p->leader_epoch, ai.last_offset + 1,
                               time_mono_ms() + c->commit_timeout_ms, done, arg};
    c->appends = a;
    broker_partition_appended(b, p); /* followers waiting in a fetch */
    broker_replica_update_hw(b, p);  /* alone in the ISR: committed now (calls recheck) */
    broker_coord_recheck(b);
}

void broker_coord_recheck(struct broker *b)
{
    struct coord *c = b->coord;
    if (!c) return;
    int64_t now = time_mono_ms();
    for (struct coord_append *a = c->appends, *next; a; a = next) {
        next = a->next;
        struct broker_partition *p = offsets_partition(b, a->part);
        int16_t err = -2; /* still waiting */
        if (!p || !p->leader || p->leader_epoch != a->leader_epoch) err = KAFKA_ERR_NOT_COORDINATOR;
        else if (p->high_watermark >= a->required) err = KAFKA_ERR_NONE;
        else if (now >= a->deadline) err = KAFKA_ERR_REQUEST_TIMED_OUT;
        if (err == -2) continue;
        append_finish(c, a, err);
        next = c->appends; /* a callback may have appended or finished others */
    }
}

void grp_park_reply(struct broker *b, struct grp_park *pk,
                    void (*enc)(struct kafka_writer *w, int16_t v, const void *resp),
                    const void *resp)
{
    if (!pk->slot) return;
    struct broker_req req = {.b = b, .slot = pk->slot, .hdr = pk->hdr};
    struct kafka_writer w;
    broker_respond_begin(&req, &w);
    enc(&w, pk->hdr.api_version, resp);
    broker_respond_end(&req, &w);
    pk->slot = NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Loading and unloading                                                                       */

static void apply_record(struct coord *c, int32_t part, const struct grp_record *r,
                         int64_t now)
{
    struct grp_group *g = coord_group_find(c, r->group);
    if (r->kind == GRP_REC_OFFSET) {
        if (r->tombstone) {
            if (g) grp_offset_del(g, r->topic, r->partition);
            return;
        }
        if (!g && !(g = coord_group_add(c, r->group, part))) return;
        struct grp_stored_offset o = {r->topic, r->partition, r->offset};
        grp_offset_put(g, &o);
        return;
    }
    if (r->tombstone) {
        if (!g) return;
        grp_unload(g);
        coord_group_remove(c, g);
        return;
    }
    if (!g && !(g = coord_group_add(c, r->group, part))) return;
    grp_load_value(g, &r->group_value, now);
}

static int load_partition(struct coord *c, struct broker_partition *p)
{
    struct storage_log *l = p->log;
    int64_t off = storage_log_start_offset(l), end = storage_log_end_offset(l);
    struct gbuf buf, scratch;
    gbuf_init(&buf);
    gbuf_init(&scratch);
    struct arena a;
    arena_init(&a, 64 * 1024);
    int64_t now = time_mono_ms();
    int rc = 0;
    int64_t records = 0;
    while (off < end && !rc) {
        struct storage_slice s;
        rc = storage_log_read(l, off, COORD_LOAD_READ_BYTES, end, true, &s);
        if (rc || s.bytes == 0) break;
        gbuf_reset(&buf);
        rc = storage_slice_copy(&s, &buf);
        size_t pos = 0;
        int64_t next = off;
        while (!rc && pos < buf.len) {
            size_t bn = rb_batch_size(buf.data + pos, buf.len - pos);
            if (!bn) break;
            struct rb_header h;
            if (rb_header_parse(buf.data + pos, bn, &h) == 0) {
                next = h.base_offset + h.last_offset_delta + 1;
                bool control = h.attributes & 0x20;
                struct rb_iter it;
                if (!control && h.base_offset + h.last_offset_delta >= off &&
                    rb_iter_init(&it, buf.data + pos, bn, &scratch, 64u << 20) == 0) {
                    struct rb_record rec;
                    while (rb_iter_next(&it, &rec) == 1) {
                        arena_reset(&a);
                        struct grp_record gr;
                        if (grp_record_decode(rec.key, rec.key_len, rec.value, rec.value_len,
                                              &a, &gr) == 0) {
                            apply_record(c, p->id, &gr, now);
                            records++;
                        }
                    }
                }
            }
            pos += bn;
        }
        if (next <= off) break; /* no progress: a damaged tail */
        off = next;
    }
    /* groups that only had a past are gone */
    for (size_t i = 0; i < c->bucket_count; i++) {
        for (struct grp_group *g = c->buckets[i], *n; g; g = n) {
            n = g->next;
            if (g->part == p->id && g->state == GRP_EMPTY && !g->offset_count && !g->member_count)
                coord_group_remove(c, g);
        }
    }
    arena_close(&a);
    gbuf_close(&buf);
    gbuf_close(&scratch);
    LOG_INFO("group", "loaded %s-%d: %lld record(s) up to offset %lld", GRP_OFFSETS_TOPIC, p->id,
             (long long)records, (long long)end);
    return rc;
}

static void on_load(evutil_socket_t fd, short what, void *arg)
{
    struct coord *c = arg;
    struct broker_topic *t = offsets_topic(c->b);
    for (int32_t i = 0; t && i < c->part_count && i < t->partition_count; i++) {
        if (c->part_state[i] != CP_LOADING) continue;
        struct broker_partition *p = &t->partitions[i];
        if (!p->leader || !p->log) {
            c->part_state[i] = CP_NONE;
            continue;
        }
        load_partition(c, p);
        c->part_state[i] = CP_ACTIVE;
    }
}

static void unload_partition(struct coord *c, int32_t part)
{
    for (size_t i = 0; i < c->bucket_count; i++) {
        for (struct grp_group *g = c->buckets[i], *n; g; g = n) {
            n = g->next;
            if (g->part != part) continue;
            grp_unload(g);
            coord_group_remove(c, g);
        }
    }
    c->part_state[part] = CP_NONE;
    c->part_epoch[part] = -1;
}

void broker_coord_partition_changed(struct broker *b, struct broker_partition *p)
{
    struct coord *c = b->coord;
    if (!c || strcmp(p->topic->name, GRP_OFFSETS_TOPIC)) return;
    if (ensure_parts(c, p->topic->partition_count)) return;
    int32_t i = p->id;
    bool lead = p->leader && p->log;
    if (lead && c->part_state[i] != CP_NONE && c->part_epoch[i] == p->leader_epoch) return;
    if (c->part_state[i] != CP_NONE) {
        LOG_INFO("group", "no longer the coordinator for %s-%d", GRP_OFFSETS_TOPIC, i);
        unload_partition(c, i);
    }
    if (!lead) return;
    LOG_INFO("group", "coordinator for %s-%d (leader epoch %d): loading its groups",
             GRP_OFFSETS_TOPIC, i, p->leader_epoch);
    c->part_state[i] = CP_LOADING;
    c->part_epoch[i] = p->leader_epoch;
    event_active(c->load_ev, EV_TIMEOUT, 0);
}

/* ------------------------------------------------------------------------------------------ */
/* Lifecycle, expiry                                                                           */

int broker_coord_new(struct broker *b)
{
    struct coord *c = calloc(1, sizeof(*c));
    if (!c) return GR_ENOMEM;
    c->b = b;
    c->bucket_count = COORD_BUCKETS;
    c->buckets = calloc(c->bucket_count, sizeof(*c->buckets));
    c->load_ev = event_new(b->base, -1, 0, on_load, c);
    if (!c->buckets || !c->load_ev) {
        free(c->buckets);
        if (c->load_ev) event_free(c->load_ev);
        free(c);
        return GR_ENOMEM;
    }
    const struct props *cfg = b->cfg.cfg;
    c->min_session_ms = (int32_t)cfg_get_long(cfg, "group.min.session.timeout.ms", 6000);
    c->max_session_ms = (int32_t)cfg_get_long(cfg, "group.max.session.timeout.ms", 1800000);
    c->initial_delay_ms = (int32_t)cfg_get_long(cfg, "group.initial.rebalance.delay.ms", 3000);
    c->max_group_size = (int32_t)cfg_get_long(cfg, "group.max.size", 2147483647);
    c->commit_timeout_ms = (int32_t)cfg_get_long(cfg, "offsets.commit.timeout.ms", 5000);
    c->metadata_max_bytes = (int32_t)cfg_get_long(cfg, "offset.metadata.max.bytes", 4096);
    c->num_partitions = (int32_t)cfg_get_long(cfg, "offsets.topic.num.partitions", 50);
    c->replication_factor = (int16_t)cfg_get_long(cfg, "offsets.topic.replication.factor", 3);
    c->retention_ms = cfg_get_long(cfg, "offsets.retention.minutes", 10080) * 60000;
    c->retention_check_ms = cfg_get_long(cfg, "offsets.retention.check.interval.ms", 600000);
    c->next_expiry_ms = time_mono_ms() + c->retention_check_ms;
    b->coord = c;
    return 0;
}

void broker_coord_free(struct broker *b)
{
    struct coord *c = b->coord;
    if (!c) return;
    while (c->appends) append_finish(c, c->appends, KAFKA_ERR_NOT_COORDINATOR);
    for (size_t i = 0; i < c->bucket_count; i++) {
        for (struct grp_group *g = c->buckets[i], *n; g; g = n) {
            n = g->next;
            grp_unload(g);
            grp_free(g);
        }
    }
    free(c->buckets);
    event_free(c->load_ev);
    free(c->part_state);
    free(c->part_epoch);
    free(c);
    b->coord = NULL;
}

struct tomb_ctx {
    struct coord *c;
    char *group;
};

static void expiry_done(void *arg, int16_t err)
{
    struct tomb_ctx *t = arg;
    struct grp_group *g = coord_group_find(t->c, t->group);
    if (g) g->appends--;
    free(t->group);
    free(t);
}

/* Offsets of empty groups older than offsets.retention.minutes (counted from the group becoming
 * empty, or for a group that never had members from the commit, as Kafka 2.1+ does) are
 * removed; an empty group with no offsets left is removed too. */
static void expire_offsets(struct coord *c, int64_t now_wall)
{
    for (size_t i = 0; i < c->bucket_count; i++) {
        for (struct grp_group *g = c->buckets[i], *n; g; g = n) {
            n = g->next;
            if (g->state != GRP_EMPTY || g->appends || c->part_state[g->part] != CP_ACTIVE)
                continue;
            struct rb_builder rb;
            rb_builder_init(&rb, 0, RB_CODEC_NONE);
            int32_t expired = 0;
            for (int32_t k = 0; k < g->offset_count;) {
                struct grp_stored_offset *s = &g->offsets[k];
                /* Kafka's rule: a group that had members counts from when it became
                 * empty; a group only ever used for offsets (no protocol type) from each
                 * offset's commit */
                int64_t since = g->protocol_type ? g->state_ts : s->o.commit_ts;
                if (since + c->retention_ms > now_wall) {
                    k++;
                    continue;
                }
                struct gbuf key;
                gbuf_init(&key);
                struct kafka_writer w;
                kafka_writer_init(&w, &key);
                grp_offset_key_encode(&w, g->id, s->topic, s->partition);
                if (!w.err) rb_builder_add(&rb, now_wall, key.data, (int32_t)key.len, NULL, -1, NULL, 0);
                gbuf_close(&key);
                grp_offset_del(g, s->topic, s->partition);
                expired++;
            }
            bool gone = g->offset_count == 0;
            if (gone) grp_write_metadata(g, &rb, now_wall, true);
            if (rb.count) {
                struct gbuf batch;
                gbuf_init(&batch);
                struct tomb_ctx *t = calloc(1, sizeof(*t));
                if (t && rb_builder_finish(&rb, &batch) == 0 && (t->group = strdup(g->id))) {
                    t->c = c;
                    g->appends++;
                    LOG_INFO("group", "group %s: %d offset(s) expired%s", g->id, expired,
                             gone ? "; the group is removed" : "");
                    coord_append(c, g->part, &batch, expiry_done, t);
                } else {
                    free(t);
                }
                gbuf_close(&batch);
            }
            rb_builder_close(&rb);
            g = coord_group_find(c, g->id) ? g : NULL;
            if (gone && g && g->appends == 0) coord_group_remove(c, g);
        }
    }
}

static void maybe_create_offsets_topic(struct coord *c);

void broker_coord_tick(struct broker *b, int64_t now)
{
    struct coord *c = b->coord;
    if (!c) return;
    broker_coord_recheck(b); /* timeouts */
    for (size_t i = 0; i < c->bucket_count; i++) {
        for (struct grp_group *g = c->buckets[i], *n; g; g = n) {
            n = g->next;
            if (g->part < c->part_count && c->part_state[g->part] == CP_ACTIVE) grp_tick(g, now);
        }
    }
    if (now >= c->next_expiry_ms) {
        c->next_expiry_ms = now + c->retention_check_ms;
        expire_offsets(c, time_wall_ms());
    }
}

/* ------------------------------------------------------------------------------------------ */
/* FindCoordinator                                                                             */

static void maybe_create_offsets_topic(struct coord *c)
{
    struct broker *b = c->b;
    int64_t now = time_mono_ms();
    if (offsets_topic(b) || now < c->next_create_ms) return;
    c->next_create_ms = now + 1000;
    const struct md_image *img = md_client_image(b->mdc);
    int32_t live = 0;
    for (int32_t i = 0; i < img->broker_count; i++) live += !img->brokers[i].fenced;
    int16_t rf = (int16_t)GR_MAX(1, GR_MIN(c->replication_factor, live));
    static const char *const configs[] = {"cleanup.policy", "compact", "compression.type",
                                          "producer", "segment.bytes", "104857600", NULL};
    md_client_create_topic(b->mdc, GRP_OFFSETS_TOPIC, strlen(GRP_OFFSETS_TOPIC),
                           c->num_partitions, rf, configs);
}

/* The coordinator of one key: its node and endpoint, or an error. */
static int16_t find_one(struct broker *b, const char *listener, struct kafka_str key,
                        int8_t type, int32_t *node, struct kafka_str *host, int32_t *port)
{
    *node = -1;
    *host = KSTR("");
    *port = -1;
    if (type == 1) return KAFKA_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED; /* no transactions */
    if (type != 0) return KAFKA_ERR_INVALID_REQUEST;
    if (key.len <= 0) return KAFKA_ERR_INVALID_REQUEST;
    struct coord *c = b->coord;
    struct broker_topic *t = offsets_topic(b);
    if (!t) {
        maybe_create_offsets_topic(c);
        return KAFKA_ERR_COORDINATOR_NOT_AVAILABLE;
    }
    char name[512];
    if ((size_t)key.len >= sizeof name) return KAFKA_ERR_INVALID_REQUEST;
    memcpy(name, key.ptr, (size_t)key.len);
    name[key.len] = 0;
    int32_t part = grp_partition_for(name, strlen(name), t->partition_count);
    const struct md_image *img = md_client_image(b->mdc);
    const struct md_topic *mt = md_image_topic(img, t->name, strlen(t->name));
    const struct md_partition *mp = mt ? md_topic_partition(mt, part) : NULL;
    const struct md_broker *mb = mp && mp->leader >= 0 ? md_image_broker(img, mp->leader) : NULL;
    const struct md_endpoint *ep = md_broker_endpoint(mb, listener);
    if (!mb || mb->fenced || !ep) return KAFKA_ERR_COORDINATOR_NOT_AVAILABLE;
    *node = mb->id;
    *host = KSTR(ep->host);
    *port = ep->port;
    return KAFKA_ERR_NONE;
}

int broker_handle_find_coordinator(struct broker_req *req)
{
    struct broker *b = req->b;
    int16_t v = req->hdr.api_version;
    struct kafka_find_coordinator_request r;
    if (kafka_find_coordinator_request_decode(&req->r, v, &r)) return -1;
    struct kafka_find_coordinator_response resp;
    kafka_find_coordinator_response_init(&resp);
    const char *listener = broker_req_listener(req);
    if (v < 4) {
        resp.error_code = find_one(b, listener, r.key, r.key_type, &resp.node_id, &resp.host,
                                   &resp.port);
        if (resp.error_code) resp.error_message = KSTR(kafka_err_name(resp.error_code));
    } else {
        resp.coordinators = arena_calloc(req->arena, (size_t)GR_MAX(r.coordinator_keys_count, 1),
                                         sizeof(*resp.coordinators));
        if (!resp.coordinators) return -1;
        resp.coordinators_count = r.coordinator_keys_count;
        for (int32_t i = 0; i < r.coordinator_keys_count; i++) {
            struct kafka_find_coordinator_response_coordinator *co = &resp.coordinators[i];
            kafka_find_coordinator_response_coordinator_init(co);
            co->key = r.coordinator_keys[i];
            co->error_code = find_one(b, listener, r.coordinator_keys[i], r.key_type,
                                      &co->node_id, &co->host, &co->port);
            if (co->error_code) co->error_message = KSTR(kafka_err_name(co->error_code));
        }
    }
    struct kafka_writer w;
    broker_respond_begin(req, &w);
    kafka_find_coordinator_response_encode(&w, v, &resp);
    broker_respond_end(req, &w);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* OffsetCommit                                                                                */

struct commit_ctx {
    struct coord *c;
    struct grp_park pk;
    char *group;
    int32_t n;
    struct grp_stored_offset *offs; /* topic and metadata owned */
    int16_t *errors;                /* per request partition, in request order */
    int32_t *topic_of;              /* request topic index of each partition */
    int32_t *index_of;
    int32_t *ok_of;                 /* index into offs, or -1 */
    struct kafka_str *topics;       /* owned copies of the request's topic names */
    int32_t *parts_per_topic;
    int32_t topic_count;
};

static void commit_ctx_free(struct commit_ctx *x)
{
    for (int32_t i = 0; i < x->n; i++) {
        free(x->offs[i].topic);
        free(x->offs[i].o.metadata);
    }
    for (int32_t i = 0; i < x->topic_count; i++) free((char *)x->topics[i].ptr);
    free(x->offs);
    free(x->errors);
    free(x->topic_of);
    free(x->index_of);
    free(x->ok_of);
    free(x->topics);
    free(x->parts_per_topic);
    free(x->group);
    free(x);
}

static void enc_commit(struct kafka_writer *w, int16_t v, const void *r)
{
    kafka_offset_commit_response_encode(w, v, r);
}

static void commit_reply(struct broker *b, struct commit_ctx *x, int16_t all_err)
{
    struct kafka_offset_commit_response resp;
    kafka_offset_commit_response_init(&resp);
    struct kafka_offset_commit_response_topic *ts =
        calloc((size_t)GR_MAX(x->topic_count, 1), sizeof(*ts));
    int32_t total = 0;
    for (int32_t t = 0; t < x->topic_count; t++) total += x->parts_per_topic[t];
    struct kafka_offset_commit_response_partition *ps = calloc((size_t)GR_MAX(total, 1), sizeof(*ps));
    if (ts && ps) {
        int32_t k = 0;
        for (int32_t t = 0; t < x->topic_count; t++) {
            kafka_offset_commit_response_topic_init(&ts[t]);
            ts[t].name = x->topics[t];
            ts[t].partitions = &ps[k];
            ts[t].partitions_count = x->parts_per_topic[t];
            for (int32_t i = 0; i < x->parts_per_topic[t]; i++, k++) {
                kafka_offset_commit_response_partition_init(&ps[k]);
                ps[k].partition_index = x->index_of[k];
                ps[k].error_code = x->errors[k] ? x->errors[k] : all_err;
            }
        }
        resp.topics = ts;
        resp.topics_count = x->topic_count;
    }
    grp_park_reply(b, &x->pk, enc_commit, &resp);
    free(ts);
    free(ps);
}

static void commit_done(void *arg, int16_t err)
{
    struct commit_ctx *x = arg;
    struct grp_group *g = coord_group_find(x->c, x->group);
    if (g) g->appends--;
    if (!err && g)
        for (int32_t i = 0; i < x->n; i++) grp_offset_put(g, &x->offs[i]);
    commit_reply(x->c->b, x, err);
    commit_ctx_free(x);
}

/* The group-level check of a commit (Kafka's doCommitOffsets). */
static int16_t commit_check(struct grp_group *g, int32_t generation, struct kafka_str member_id,
                            struct kafka_str instance_id)
{
    if (generation < 0 && member_id.len <= 0) {
        /* a commit from outside group management (the admin client, assign() consumers) */
        return g->state == GRP_EMPTY || g->state == GRP_DEAD || g->member_count == 0
                   ? KAFKA_ERR_NONE
                   : KAFKA_ERR_UNKNOWN_MEMBER_ID;
    }
    if (g->state == GRP_COMPLETING) return KAFKA_ERR_REBALANCE_IN_PROGRESS;
    char mid[512], iid[512];
    strfmt(mid, sizeof mid, "%.*s", (int)GR_MAX(member_id.len, 0), member_id.ptr ? member_id.ptr : "");
    if (instance_id.len >= 0) {
        strfmt(iid, sizeof iid, "%.*s", (int)instance_id.len, instance_id.ptr);
        for (int32_t i = 0; i < g->member_count; i++)
            if (g->members[i]->instance_id && !strcmp(g->members[i]->instance_id, iid) &&
                strcmp(g->members[i]->id, mid))
                return KAFKA_ERR_FENCED_INSTANCE_ID;
    }
    struct grp_member *m = grp_member_find(g, mid);
    if (!m) return KAFKA_ERR_UNKNOWN_MEMBER_ID;
    if (generation != g->generation) return KAFKA_ERR_ILLEGAL_GENERATION;
    m->heartbeat_deadline = time_mono_ms() + m->session_ms;
    return KAFKA_ERR_NONE;
}

int broker_handle_offset_commit(struct broker_req *req)
{
    struct broker *b = req->b;
    int16_t v = req->hdr.api_version;
    struct kafka_offset_commit_request r;
    if (kafka_offset_commit_request_decode(&req->r, v, &r)) return -1;
    struct coord *c = b->coord;
    struct commit_ctx *x = calloc(1, sizeof(*x));
    if (!x) return -1;
    x->c = c;
    x->pk = (struct grp_park){req->slot, req->hdr};
    x->pk.hdr.client_id = KSTR_NULL;
    int32_t total = 0;
    for (int32_t t = 0; t < r.topics_count; t++) total += GR_MAX(r.topics[t].partitions_count, 0);
    x->topic_count = r.topics_count;
    x->topics = calloc((size_t)GR_MAX(r.topics_count, 1), sizeof(*x->topics));
    x->parts_per_topic = calloc((size_t)GR_MAX(r.topics_count, 1), sizeof(int32_t));
    x->offs = calloc((size_t)GR_MAX(total, 1), sizeof(*x->offs));
    x->errors = calloc((size_t)GR_MAX(total, 1), sizeof(int16_t));
    x->index_of = calloc((size_t)GR_MAX(total, 1), sizeof(int32_t));
    x->topic_of = calloc((size_t)GR_MAX(total, 1), sizeof(int32_t));
    x->ok_of = calloc((size_t)GR_MAX(total, 1), sizeof(int32_t));
    if (!x->topics || !x->parts_per_topic || !x->offs || !x->errors || !x->index_of ||
        !x->topic_of || !x->ok_of) {
        x->topic_count = 0;
        commit_ctx_free(x);
        return -1;
    }
    int32_t k = 0;
    for (int32_t t = 0; t < r.topics_count; t++) {
        x->topics[t] = (struct kafka_str){grp_kstr_dup(r.topics[t].name), GR_MAX(r.topics[t].name.len, 0)};
        x->parts_per_topic[t] = GR_MAX(r.topics[t].partitions_count, 0);
        for (int32_t i = 0; i < x->parts_per_topic[t]; i++, k++) {
            x->index_of[k] = r.topics[t].partitions[i].partition_index;
            x->topic_of[k] = t;
        }
    }
    char name[512];
    int16_t err = KAFKA_ERR_NONE;
    int32_t part = -1;
    if (r.group_id.len <= 0 || (size_t)r.group_id.len >= sizeof name) {
        err = KAFKA_ERR_INVALID_GROUP_ID;
    } else {
        memcpy(name, r.group_id.ptr, (size_t)r.group_id.len);
        name[r.group_id.len] = 0;
        err = c ? coord_check(c, name, &part) : KAFKA_ERR_COORDINATOR_NOT_AVAILABLE;
    }
    struct grp_group *g = NULL;
    if (!err) {
        g = coord_group_find(c, name);
        int32_t gen = v >= 1 ? r.generation_id_or_member_epoch : -1;
        struct kafka_str mid = v >= 1 ? r.member_id : KSTR("");
        if (!g && (gen >= 0 || mid.len > 0)) err = KAFKA_ERR_ILLEGAL_GENERATION;
        else if (!g && !(g = coord_group_add(c, name, part))) err = KAFKA_ERR_COORDINATOR_NOT_AVAILABLE;
        else err = commit_check(g, gen, mid, r.group_instance_id);
    }
    if (err) {
        commit_reply(b, x, err);
        commit_ctx_free(x);
        return 0;
    }
    /* per partition checks, then one batch with every valid offset */
    const struct md_image *img = md_client_image(b->mdc);
    struct rb_builder rb;
    rb_builder_init(&rb, 0, RB_CODEC_NONE);
    int64_t now = time_wall_ms();
    struct gbuf key, val;
    gbuf_init(&key);
    gbuf_init(&val);
    k = 0;
    for (int32_t t = 0; t < r.topics_count; t++) {
        const struct kafka_offset_commit_request_topic *rt = &r.topics[t];
        const struct md_topic *mt =
            rt->name.len > 0 ? md_image_topic(img, rt->name.ptr, (size_t)rt->name.len) : NULL;
        for (int32_t i = 0; i < x->parts_per_topic[t]; i++, k++) {
            const struct kafka_offset_commit_request_partition *rp = &rt->partitions[i];
            x->ok_of[k] = -1;
            if (!mt || rp->partition_index < 0 || rp->partition_index >= mt->partition_count) {
                x->errors[k] = KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION;
                continue;
            }
            if (rp->committed_metadata.len > c->metadata_max_bytes) {
                x->errors[k] = KAFKA_ERR_OFFSET_METADATA_TOO_LARGE;
                continue;
            }
            struct grp_stored_offset *o = &x->offs[x->n];
            o->topic = grp_kstr_dup(rt->name);
            o->partition = rp->partition_index;
            o->o.offset = rp->committed_offset;
            o->o.leader_epoch = v >= 6 ? rp->committed_leader_epoch : -1;
            o->o.metadata = grp_kstr_dup(rp->committed_metadata.len >= 0 ? rp->committed_metadata : KSTR(""));
            o->o.commit_ts = v == 1 && rp->commit_timestamp >= 0 ? rp->commit_timestamp : now;
            x->n++;
            gbuf_reset(&key);
            gbuf_reset(&val);
            struct kafka_writer w;
            kafka_writer_init(&w, &key);
            grp_offset_key_encode(&w, name, o->topic ? o->topic : "", o->partition);
            struct kafka_writer wv;
            kafka_writer_init(&wv, &val);
            grp_offset_value_encode(&wv, &o->o);
            if (w.err || wv.err || !o->topic || !o->o.metadata ||
                rb_builder_add(&rb, now, key.data, (int32_t)key.len, val.data, (int32_t)val.len,
                               NULL, 0))
                x->errors[k] = KAFKA_ERR_UNKNOWN_SERVER_ERROR;
        }
    }
    gbuf_close(&key);
    gbuf_close(&val);
    if (x->n == 0 || rb.count == 0) {
        rb_builder_close(&rb);
        commit_reply(b, x, KAFKA_ERR_NONE);
        commit_ctx_free(x);
        return 0;
    }
    struct gbuf batch;
    gbuf_init(&batch);
    int rc = rb_builder_finish(&rb, &batch);
    rb_builder_close(&rb);
    x->group = strdup(name);
    if (rc || !x->group) {
        gbuf_close(&batch);
        commit_reply(b, x, KAFKA_ERR_COORDINATOR_NOT_AVAILABLE);
        commit_ctx_free(x);
        return 0;
    }
    g->appends++;
    coord_append(c, part, &batch, commit_done, x);
    gbuf_close(&batch);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* OffsetFetch                                                                                 */

static void fill_fetch_partition(const struct grp_group *g, struct kafka_str topic, int32_t index,
                                 int64_t *offset, int32_t *epoch, struct kafka_str *meta)
{
    const struct grp_stored_offset *s =
        offset_get(g, topic.ptr ? topic.ptr : "", (size_t)GR_MAX(topic.len, 0), index);
    *offset = s ? s->o.offset : -1;
    *epoch = s ? s->o.leader_epoch : -1;
    *meta = s ? KSTR(s->o.metadata) : KSTR("");
}

/* The offsets of one group: for `topics` (or every stored offset when all). */
static int fetch_group(struct broker_req *req, const char *name, int16_t group_err,
                       const struct kafka_offset_fetch_request_topic *topics, int32_t ntopics,
                       bool all, struct kafka_offset_fetch_response_topic **out, int32_t *nout)
{
    struct coord *c = req->b->coord;
    const struct grp_group *g = group_err ? NULL : coord_group_find(c, name);
    struct arena *a = req->arena;
    if (all) {
        /* every topic with an offset, grouped */
        int32_t n = g ? g->offset_count : 0;
        struct kafka_offset_fetch_response_topic *ts = arena_calloc(a, (size_t)GR_MAX(n, 1), sizeof(*ts));
        if (!ts) return -1;
        int32_t nt = 0;
        for (int32_t i = 0; i < n; i++) {
            const struct grp_stored_offset *s = &g->offsets[i];
            struct kafka_offset_fetch_response_topic *t = NULL;
            for (int32_t k = 0; k < nt && !t; k++)
                if (grp_str_is(s->topic, ts[k].name)) t = &ts[k];
            if (!t) {
                t = &ts[nt++];
                kafka_offset_fetch_response_topic_init(t);
                t->name = KSTR(s->topic);
                t->partitions = arena_calloc(a, (size_t)n, sizeof(*t->partitions));
                if (!t->partitions) return -1;
            }
            struct kafka_offset_fetch_response_partition *p = &t->partitions[t->partitions_count++];
            kafka_offset_fetch_response_partition_init(p);
            p->partition_index = s->partition;
            p->committed_offset = s->o.offset;
            p->committed_leader_epoch = s->o.leader_epoch;
            p->metadata = KSTR(s->o.metadata);
        }
        *out = ts;
        *nout = nt;
        return 0;
    }
    struct kafka_offset_fetch_response_topic *ts =
        arena_calloc(a, (size_t)GR_MAX(ntopics, 1), sizeof(*ts));
    if (!ts) return -1;
    for (int32_t t = 0; t < ntopics; t++) {
        kafka_offset_fetch_response_topic_init(&ts[t]);
        ts[t].name = topics[t].name;
        int32_t np = GR_MAX(topics[t].partition_indexes_count, 0);
        ts[t].partitions = arena_calloc(a, (size_t)GR_MAX(np, 1), sizeof(*ts[t].partitions));
        if (!ts[t].partitions) return -1;
        ts[t].partitions_count = np;
        for (int32_t i = 0; i < np; i++) {
            struct kafka_offset_fetch_response_partition *p = &ts[t].partitions[i];
            kafka_offset_fetch_response_partition_init(p);
            p->partition_index = topics[t].partition_indexes[i];
            fill_fetch_partition(g, topics[t].name, p->partition_index, &p->committed_offset,
                                 &p->committed_leader_epoch, &p->metadata);
            p->error_code = group_err;
        }
    }
    *out = ts;
    *nout = ntopics;
    return 0;
}

static int16_t fetch_check(struct coord *c, struct kafka_str id, char *name, size_t n)
{
    if (id.len <= 0 || (size_t)id.len >= n) return KAFKA_ERR_INVALID_GROUP_ID;
    memcpy(name, id.ptr, (size_t)id.len);
    name[id.len] = 0;
    int32_t part;
    return c ? coord_check(c, name, &part) : KAFKA_ERR_COORDINATOR_NOT_AVAILABLE;
}

int broker_handle_offset_fetch(struct broker_req *req)
{
    struct broker *b = req->b;
    int16_t v = req->hdr.api_version;
    struct kafka_offset_fetch_request r;
    if (kafka_offset_fetch_request_decode(&req->r, v, &r)) return -1;
    struct kafka_offset_fetch_response resp;
    kafka_offset_fetch_response_init(&resp);
    char name[512];
    if (v < 8) {
        int16_t err = fetch_check(b->coord, r.group_id, name, sizeof name);
        bool all = v >= 2 && r.topics_count < 0;
        if (fetch_group(req, name, err, r.topics, GR_MAX(r.topics_count, 0), all && !err,
                        &resp.topics, &resp.topics_count))
            return -1;
        resp.error_code = err;
    } else {
        resp.groups = arena_calloc(req->arena, (size_t)GR_MAX(r.groups_count, 1), sizeof(*resp.groups));
        if (!resp.groups) return -1;
        resp.groups_count = r.groups_count;
        for (int32_t i = 0; i < r.groups_count; i++) {
            const struct kafka_offset_fetch_request_group *rg = &r.groups[i];
            struct kafka_offset_fetch_response_group *og = &resp.groups[i];
            kafka_offset_fetch_response_group_init(og);
            og->group_id = rg->group_id;
            int16_t err = fetch_check(b->coord, rg->group_id, name, sizeof name);
            og->error_code = err;
            /* v8's nested types have their own names but the same shape */
            int32_t nt = GR_MAX(rg->topics_count, 0);
            struct kafka_offset_fetch_request_topic *tops =
                arena_calloc(req->arena, (size_t)GR_MAX(nt, 1), sizeof(*tops));
            if (!tops) return -1;
            for (int32_t t = 0; t < nt; t++) {
                tops[t].name = rg->topics[t].name;
                tops[t].partition_indexes = rg->topics[t].partition_indexes;
                tops[t].partition_indexes_count = rg->topics[t].partition_indexes_count;
            }
            struct kafka_offset_fetch_response_topic *ts;
            int32_t nts;
            if (fetch_group(req, name, err, tops, nt, rg->topics_count < 0 && !err, &ts, &nts))
                return -1;
            og->topics = arena_calloc(req->arena, (size_t)GR_MAX(nts, 1), sizeof(*og->topics));
            if (!og->topics) return -1;
            og->topics_count = nts;
            for (int32_t t = 0; t < nts; t++) {
                struct kafka_offset_fetch_response_topics *ot = &og->topics[t];
                kafka_offset_fetch_response_topics_init(ot);
                ot->name = ts[t].name;
                ot->partitions = arena_calloc(req->arena, (size_t)GR_MAX(ts[t].partitions_count, 1),
                                              sizeof(*ot->partitions));
                if (!ot->partitions) return -1;
                ot->partitions_count = ts[t].partitions_count;
                for (int32_t p = 0; p < ts[t].partitions_count; p++) {
                    struct kafka_offset_fetch_response_partitions *op = &ot->partitions[p];
                    const struct kafka_offset_fetch_response_partition *sp = &ts[t].partitions[p];
                    kafka_offset_fetch_response_partitions_init(op);
                    op->partition_index = sp->partition_index;
                    op->committed_offset = sp->committed_offset;
                    op->committed_leader_epoch = sp->committed_leader_epoch;
                    op->metadata = sp->metadata;
                    op->error_code = sp->error_code;
                }
            }
        }
    }
    struct kafka_writer w;
    broker_respond_begin(req, &w);
    kafka_offset_fetch_response_encode(&w, v, &resp);
    broker_respond_end(req, &w);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* OffsetDelete, DeleteGroups                                                                  */

struct delete_ctx {
    struct coord *c;
    struct grp_park pk;
    char *group;
    /* OffsetDelete: the response, encoded (arena copies would not outlive the request) */
    struct gbuf resp;
    int32_t pending; /* DeleteGroups: appends still out */
    int16_t *errors;
    char **names;
    int32_t n;
};

static void delete_ctx_free(struct delete_ctx *x)
{
    for (int32_t i = 0; i < x->n; i++) free(x->names ? x->names[i] : NULL);
    free(x->names);
    free(x->errors);
    gbuf_close(&x->resp);
    free(x->group);
    free(x);
}

static void enc_raw(struct kafka_writer *w, int16_t v, const void *r)
{
    const struct gbuf *g = r;
    kafka_write_raw(w, g->data, g->len);
}

static void enc_delete_groups(struct kafka_writer *w, int16_t v, const void *r)
{
    kafka_delete_groups_response_encode(w, v, r);
}

static void delete_groups_reply(struct delete_ctx *x)
{
    struct kafka_delete_groups_response resp;
    kafka_delete_groups_response_init(&resp);
    struct kafka_delete_groups_response_deletable_group_result *rs =
        calloc((size_t)GR_MAX(x->n, 1), sizeof(*rs));
    if (rs) {
        for (int32_t i = 0; i < x->n; i++) {
            kafka_delete_groups_response_deletable_group_result_init(&rs[i]);
            rs[i].group_id = KSTR(x->names[i] ? x->names[i] : "");
            rs[i].error_code = x->errors[i];
        }
        resp.results = rs;
        resp.results_count = x->n;
    }
    grp_park_reply(x->c->b, &x->pk, enc_delete_groups, &resp);
    free(rs);
}

struct delete_one {
    struct delete_ctx *x;
    int32_t index;
};

static void delete_one_done(void *arg, int16_t err)
{
    struct delete_one *d = arg;
    struct delete_ctx *x = d->x;
    struct grp_group *g = x->names[d->index] ? coord_group_find(x->c, x->names[d->index]) : NULL;
    if (g) {
        g->appends--;
        if (!err && g->state == GRP_DEAD) coord_group_remove(x->c, g);
        else if (err && g->state == GRP_DEAD) g->state = GRP_EMPTY;
    }
    x->errors[d->index] = err;
    free(d);
    if (--x->pending == 0) {
        delete_groups_reply(x);
        delete_ctx_free(x);
    }
}

/* Tombstones for the group's metadata and all its offsets, into rb. */
static int write_group_tombstones(struct grp_group *g, struct rb_builder *rb, int64_t now)
{
    struct gbuf key;
    gbuf_init(&key);
    int rc = 0;
    for (int32_t i = 0; !rc && i < g->offset_count; i++) {
        gbuf_reset(&key);
        struct kafka_writer w;
        kafka_writer_init(&w, &key);
        grp_offset_key_encode(&w, g->id, g->offsets[i].topic, g->offsets[i].partition);
        rc = w.err ? w.err : rb_builder_add(rb, now, key.data, (int32_t)key.len, NULL, -1, NULL, 0);
    }
    gbuf_close(&key);
    return rc ? rc : grp_write_metadata(g, rb, now, true);
}

int broker_handle_delete_groups(struct broker_req *req)
{
    struct broker *b = req->b;
    struct kafka_delete_groups_request r;
    if (kafka_delete_groups_request_decode(&req->r, req->hdr.api_version, &r)) return -1;
    struct delete_ctx *x = calloc(1, sizeof(*x));
    if (!x) return -1;
    gbuf_init(&x->resp);
    x->c = b->coord;
    x->pk = (struct grp_park){req->slot, req->hdr};
    x->pk.hdr.client_id = KSTR_NULL;
    x->n = GR_MAX(r.groups_names_count, 0);
    x->names = calloc((size_t)GR_MAX(x->n, 1), sizeof(char *));
    x->errors = calloc((size_t)GR_MAX(x->n, 1), sizeof(int16_t));
    if (!x->names || !x->errors) {
        x->n = 0;
        delete_ctx_free(x);
        return -1;
    }
    x->pending = 1; /* released below */
    int64_t now = time_wall_ms();
    for (int32_t i = 0; i < x->n; i++) {
        x->names[i] = grp_kstr_dup(r.groups_names[i]);
        char *name = x->names[i];
        int16_t err = KAFKA_ERR_NONE;
        int32_t part = -1;
        if (!name || !*name) err = KAFKA_ERR_INVALID_GROUP_ID;
        else err = x->c ? coord_check(x->c, name, &part) : KAFKA_ERR_COORDINATOR_NOT_AVAILABLE;
        struct grp_group *g = err ? NULL : coord_group_find(x->c, name);
        if (!err && (!g || g->state == GRP_DEAD)) err = KAFKA_ERR_GROUP_ID_NOT_FOUND;
        if (!err && (g->member_count > 0 || g->state != GRP_EMPTY)) err = KAFKA_ERR_NON_EMPTY_GROUP;
        if (err) {
            x->errors[i] = err;
            continue;
        }
        struct rb_builder rb;
        rb_builder_init(&rb, 0, RB_CODEC_NONE);
        struct gbuf batch;
        gbuf_init(&batch);
        struct delete_one *d = calloc(1, sizeof(*d));
        if (!d || write_group_tombstones(g, &rb, now) || rb_builder_finish(&rb, &batch)) {
            free(d);
            x->errors[i] = KAFKA_ERR_COORDINATOR_NOT_AVAILABLE;
        } else {
            d->x = x;
            d->index = i;
            x->pending++;
            g->appends++;
            g->state = GRP_DEAD;
            LOG_INFO("group", "group %s: deleting it (%d offset(s))", g->id, g->offset_count);
            coord_append(x->c, part, &batch, delete_one_done, d);
        }
        rb_builder_close(&rb);
        gbuf_close(&batch);
    }
    if (--x->pending == 0) {
        delete_groups_reply(x);
        delete_ctx_free(x);
    }
    return 0;
}

struct offset_delete_ctx {
    struct delete_ctx base;
    char **topics;
    int32_t *parts;
    int32_t count;
};

static void offset_delete_done(void *arg, int16_t err)
{
    struct offset_delete_ctx *o = arg;
    struct delete_ctx *x = &o->base;
    struct grp_group *g = coord_group_find(x->c, x->group);
    if (g) g->appends--;
    if (!err && g)
        for (int32_t i = 0; i < o->count; i++) grp_offset_del(g, o->topics[i], o->parts[i]);
    if (err) {
        struct kafka_offset_delete_response resp;
        kafka_offset_delete_response_init(&resp);
        resp.error_code = err;
        grp_park_reply(x->c->b, &x->pk, enc_offset_delete, &resp);
    } else {
        grp_park_reply(x->c->b, &x->pk, enc_raw, &x->resp);
    }
    for (int32_t i = 0; i < o->count; i++) free(o->topics[i]);
    free(o->topics);
    free(o->parts);
    gbuf_close(&x->resp);
    free(x->group);
    free(o);
}

int broker_handle_offset_delete(struct broker_req *req)
{
    struct broker *b = req->b;
    int16_t v = req->hdr.api_version;
    struct kafka_offset_delete_request r;
    if (kafka_offset_delete_request_decode(&req->r, v, &r)) return -1;
    struct kafka_offset_delete_response resp;
    kafka_offset_delete_response_init(&resp);
    char name[512];
    struct coord *c = b->coord;
    int16_t err = fetch_check(c, r.group_id, name, sizeof name);
    int32_t part = -1;
    struct grp_group *g = NULL;
    if (!err) {
        coord_check(c, name, &part);
        g = coord_group_find(c, name);
        if (!g || g->state == GRP_DEAD) err = KAFKA_ERR_GROUP_ID_NOT_FOUND;
    }
    resp.error_code = err;
    struct offset_delete_ctx *o = NULL;
    struct rb_builder rb;
    rb_builder_init(&rb, 0, RB_CODEC_NONE);
    if (!err) {
        int32_t total = 0;
        for (int32_t t = 0; t < r.topics_count; t++) total += GR_MAX(r.topics[t].partitions_count, 0);
        o = calloc(1, sizeof(*o));
        if (o) {
            o->topics = calloc((size_t)GR_MAX(total, 1), sizeof(char *));
            o->parts = calloc((size_t)GR_MAX(total, 1), sizeof(int32_t));
        }
        if (!o || !o->topics || !o->parts) {
            if (o) free(o->topics), free(o->parts);
            free(o);
            rb_builder_close(&rb);
            return -1;
        }
        resp.topics = arena_calloc(req->arena, (size_t)GR_MAX(r.topics_count, 1), sizeof(*resp.topics));
        if (!resp.topics) return -1;
        resp.topics_count = r.topics_count;
        int64_t now = time_wall_ms();
        for (int32_t t = 0; t < r.topics_count; t++) {
            const struct kafka_offset_delete_request_topic *rt = &r.topics[t];
            struct kafka_offset_delete_response_topic *ot = &resp.topics[t];
            kafka_offset_delete_response_topic_init(ot);
            ot->name = rt->name;
            int32_t np = GR_MAX(rt->partitions_count, 0);
            ot->partitions = arena_calloc(req->arena, (size_t)GR_MAX(np, 1), sizeof(*ot->partitions));
            if (!ot->partitions) return -1;
            ot->partitions_count = np;
            char *topic = broker_strdup(req, rt->name);
            bool subscribed = false;
            for (int32_t m = 0; topic && m < g->member_count; m++) {
                const struct grp_member *gm = g->members[m];
                for (int32_t p = 0; p < gm->protocol_count; p++)
                    if (g->protocol && !strcmp(gm->protocols[p].name, g->protocol))
                        subscribed |= grp_subscription_has_topic(gm->protocols[p].meta,
                                                                 gm->protocols[p].meta_len, topic);
            }
            for (int32_t i = 0; i < np; i++) {
                struct kafka_offset_delete_response_partition *op = &ot->partitions[i];
                kafka_offset_delete_response_partition_init(op);
                op->partition_index = rt->partitions[i].partition_index;
                if (subscribed) {
                    op->error_code = KAFKA_ERR_GROUP_SUBSCRIBED_TO_TOPIC;
                    continue;
                }
                if (!topic || !offset_get(g, topic, strlen(topic), op->partition_index)) continue;
                struct gbuf key;
                gbuf_init(&key);
                struct kafka_writer w;
                kafka_writer_init(&w, &key);
                grp_offset_key_encode(&w, g->id, topic, op->partition_index);
                if (!w.err && !rb_builder_add(&rb, now, key.data, (int32_t)key.len, NULL, -1, NULL, 0)) {
                    o->topics[o->count] = strdup(topic);
                    o->parts[o->count++] = op->partition_index;
                }
                gbuf_close(&key);
            }
        }
    }
    if (!o || o->count == 0) {
        rb_builder_close(&rb);
        if (o) {
            free(o->topics);
            free(o->parts);
            free(o);
        }
        struct kafka_writer w;
        broker_respond_begin(req, &w);
        kafka_offset_delete_response_encode(&w, v, &resp);
        broker_respond_end(req, &w);
        return 0;
    }
    struct delete_ctx *x = &o->base;
    x->c = c;
    x->pk = (struct grp_park){req->slot, req->hdr};
    x->pk.hdr.client_id = KSTR_NULL;
    gbuf_init(&x->resp);
    struct kafka_writer w;
    kafka_writer_init(&w, &x->resp);
    kafka_offset_delete_response_encode(&w, v, &resp);
    x->group = strdup(name);
    struct gbuf batch;
    gbuf_init(&batch);
    int rc = rb_builder_finish(&rb, &batch);
    rb_builder_close(&rb);
    if (rc || w.err || !x->group) {
        gbuf_close(&batch);
        offset_delete_done(o, KAFKA_ERR_COORDINATOR_NOT_AVAILABLE);
        return 0;
    }
    g->appends++;
    coord_append(c, part, &batch, offset_delete_done, o);
    gbuf_close(&batch);
    return 0;
}

/* broker_fetch.c — Fetch (sessionless), with delayed fetches that wait for fetch.min.bytes up
 * to fetch.max.wait.ms and wake when a watched partition is appended to.
 *
 * Record bytes go from the segment file straight into the response buffer (one pread per
 * partition inside the encoder): see kafka_records in proto_codec.h. */
#include "broker/broker_int.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#define FETCH_WAIT_MS_MAX 60000
#define FETCH_PARTITIONS_MAX 100000

struct fetch_part {
    int32_t partition;
    int64_t offset;
    int32_t max_bytes;
    struct broker_partition *p; /* NULL when unknown, deleted or not led here */
    int16_t error;              /* why p is NULL */
    int32_t current_leader_epoch; /* v9+: the epoch the fetcher knows; -1 none */
    bool from_follower;           /* v11+ consumer reading this follower's copy (KIP-392) */
    int32_t preferred_replica;    /* leader: send the consumer to this replica (-1: none) */
    int32_t last_fetched_epoch;   /* v12 followers: the epoch of their last batch; -1 none */
};

struct fetch_topic {
    struct kafka_str name; /* heap copy when waiting */
    int32_t part_count;
    struct fetch_part *parts;
};

struct fetch_waiter {
    struct fetch_waiter *prev, *next;
    struct broker *b;
    struct net_slot *slot;
    int32_t correlation_id;
    int16_t version;
    int32_t replica_id; /* a follower's fetch (reads up to the log end, not the HW); -1 */
    int32_t min_bytes, max_bytes;
    int64_t deadline_ms;
    int32_t topic_count;
    struct fetch_topic *topics;
    struct event *ev;
    void *heap; /* the single allocation holding topics, parts and names */
};

/* The offset a fetch may read up to: the high watermark for consumers, the log end for
 * followers. */
static int64_t fetch_limit(const struct broker_partition *p, bool replica)
{
    return replica ? storage_log_end_offset(p->log) : p->high_watermark;
}

/* Fills one partition's response.  Returns the record bytes it will carry. */
static int32_t fetch_partition(const struct fetch_part *fp, int32_t budget, bool first,
                               bool replica, struct kafka_fetch_response_partition_data *out)
{
    kafka_fetch_response_partition_data_init(out);
    out->partition_index = fp->partition;
    out->high_watermark = -1;
    out->last_stable_offset = -1;
    out->log_start_offset = -1;
    out->preferred_read_replica = -1;
    out->aborted_transactions = NULL;
    out->aborted_transactions_count = 0; /* an empty list: no transactions yet */
    out->records = (struct kafka_records){(const uint8_t *)"", 0, -1, 0};
    struct broker_partition *p = fp->p;
    if (!p || !p->log) {
        out->error_code = fp->error ? fp->error : KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION;
        return 0;
    }
    if (!p->leader && !fp->from_follower) { /* leadership moved while the fetch waited */
        out->error_code = KAFKA_ERR_NOT_LEADER_OR_FOLLOWER;
        return 0;
    }
    if (fp->preferred_replica >= 0) { /* KIP-392: the consumer reads from a closer replica */
        out->high_watermark = p->high_watermark;
        out->last_stable_offset = p->high_watermark;
        out->log_start_offset = storage_log_start_offset(p->log);
        out->preferred_read_replica = fp->preferred_replica;
        return 0;
    }
    if (fp->current_leader_epoch >= 0 && fp->current_leader_epoch != p->leader_epoch &&
        !fp->from_follower) {
        out->error_code = fp->current_leader_epoch < p->leader_epoch
                              ? KAFKA_ERR_FENCED_LEADER_EPOCH
                              : KAFKA_ERR_UNKNOWN_LEADER_EPOCH;
        return 0;
    }
    out->high_watermark = p->high_watermark;
    out->last_stable_offset = p->high_watermark;
    out->log_start_offset = storage_log_start_offset(p->log);
    int32_t max = GR_MIN(fp->max_bytes, budget);
    if (max <= 0 && !first) return 0;
    struct storage_slice s;
    if (replica && fp->last_fetched_epoch >= 0) {
        /* KIP-595: does the follower's log agree with ours up to its last batch's epoch? */
        int32_t ep;
        int64_t end;
        if (storage_log_end_offset_for_epoch(p->log, fp->last_fetched_epoch, &ep, &end) == 0 &&
            (ep < fp->last_fetched_epoch || end < fp->offset)) {
            out->diverging_epoch.epoch = ep;
            out->diverging_epoch.end_offset = end;
            return 0;
        }
    }
    int rc = storage_log_read(p->log, fp->offset, GR_MAX(max, 0), fetch_limit(p, replica), first,
                              &s);
    if (rc == GR_ERANGE) {
        out->error_code = KAFKA_ERR_OFFSET_OUT_OF_RANGE;
        return 0;
    }
    if (rc) {
        out->error_code = KAFKA_ERR_KAFKA_STORAGE_ERROR;
        return 0;
    }
    out->records = (struct kafka_records){NULL, s.bytes, s.bytes ? s.fd : -1, s.file_pos};
    if (!s.bytes) out->records.ptr = (const uint8_t *)"";
    return s.bytes;
}

/* Builds the response body; returns total record bytes. */
static int64_t fetch_build(struct arena *a, const struct fetch_waiter *f,
                           struct kafka_fetch_response *resp)
{
    kafka_fetch_response_init(resp);
    resp->error_code = KAFKA_ERR_NONE;
    resp->session_id = 0;
    resp->responses = arena_calloc(a, (size_t)GR_MAX(f->topic_count, 1), sizeof(*resp->responses));
    if (!resp->responses) return -1;
    resp->responses_count = f->topic_count;
    int64_t total = 0;
    int32_t budget = f->max_bytes;
    for (int32_t i = 0; i < f->topic_count; i++) {
        const struct fetch_topic *ft = &f->topics[i];
        struct kafka_fetch_response_fetchable_topic_response *tr = &resp->responses[i];
        kafka_fetch_response_fetchable_topic_response_init(tr);
        tr->topic = ft->name;
        tr->partitions = arena_calloc(a, (size_t)GR_MAX(ft->part_count, 1), sizeof(*tr->partitions));
        if (!tr->partitions) return -1;
        tr->partitions_count = ft->part_count;
        for (int32_t k = 0; k < ft->part_count; k++) {
            int32_t n = fetch_partition(&ft->parts[k], budget, total == 0, f->replica_id >= 0,
                                        &tr->partitions[k]);
            total += n;
            budget -= n;
        }
    }
    return total;
}

static void fetch_send(struct broker *b, const struct fetch_waiter *f, struct net_slot *slot,
                       struct kafka_fetch_response *resp)
{
    struct broker_req req = {.b = b, .slot = slot, .arena = &b->arena};
    req.hdr.api_key = KAFKA_API_FETCH;
    req.hdr.api_version = f->version;
    req.hdr.correlation_id = f->correlation_id;
    struct kafka_writer w;
    broker_respond_begin(&req, &w);
    kafka_fetch_response_encode(&w, f->version, resp);
    broker_respond_end(&req, &w);
}

/* ------------------------------------------------------------------------------------------ */
/* Waiting                                                                                     */

static void waiter_unwatch(struct fetch_waiter *f)
{
    for (int32_t i = 0; i < f->topic_count; i++) {
        for (int32_t k = 0; k < f->topics[i].part_count; k++) {
            struct broker_partition *p = f->topics[i].parts[k].p;
            if (!p) continue;
            for (int32_t j = 0; j < p->waiter_count; j++) {
                if (p->waiters[j] == f) {
                    p->waiters[j] = p->waiters[--p->waiter_count];
                    break;
                }
            }
        }
    }
}

static void waiter_free(struct broker *b, struct fetch_waiter *f)
{
    waiter_unwatch(f);
    if (f->prev) f->prev->next = f->next;
    else b->waiters = f->next;
    if (f->next) f->next->prev = f->prev;
    event_free(f->ev);
    free(f->heap);
    free(f);
}

static void waiter_complete(struct broker *b, struct fetch_waiter *f)
{
    struct kafka_fetch_response resp;
    arena_reset(&b->arena);
    if (fetch_build(&b->arena, f, &resp) < 0) {
        net_slot_done_silent(f->slot);
    } else {
        fetch_send(b, f, f->slot, &resp);
    }
    waiter_free(b, f);
}

static int64_t waiter_available(struct fetch_waiter *f)
{
    /* cheap estimate: bytes between each fetch offset and the high watermark */
    int64_t total = 0;
    for (int32_t i = 0; i < f->topic_count; i++) {
        for (int32_t k = 0; k < f->topics[i].part_count; k++) {
            struct fetch_part *fp = &f->topics[i].parts[k];
            if (!fp->p || !fp->p->log || (!fp->p->leader && !fp->from_follower) ||
                fp->preferred_replica >= 0)
                return INT64_MAX; /* answer now */
            int64_t limit = fetch_limit(fp->p, f->replica_id >= 0);
            if (fp->offset > limit) return INT64_MAX;
            if (fp->offset < limit) {
                struct storage_slice s;
                if (storage_log_read(fp->p->log, fp->offset, fp->max_bytes, limit, true, &s))
                    return INT64_MAX;
                total += s.bytes;
            }
        }
    }
    return total;
}

static void waiter_on_event(evutil_socket_t fd, short what, void *arg)
{
    struct fetch_waiter *f = arg;
    struct broker *b = f->b;
    if (time_mono_ms() >= f->deadline_ms || waiter_available(f) >= f->min_bytes) {
        waiter_complete(b, f);
        return;
    }
    int64_t left = f->deadline_ms - time_mono_ms();
    struct timeval tv = {left / 1000, (left % 1000) * 1000};
    event_add(f->ev, &tv);
}

void broker_partition_appended(struct broker *b, struct broker_partition *p)
{
    for (int32_t j = 0; j < p->waiter_count; j++)
        event_active(p->waiters[j]->ev, EV_READ, 0);
}

void broker_fetch_partition_gone(struct broker *b, struct broker_partition *p)
{
    while (p->waiter_count > 0) {
        struct fetch_waiter *f = p->waiters[0];
        waiter_unwatch(f);
        for (int32_t i = 0; i < f->topic_count; i++)
            for (int32_t k = 0; k < f->topics[i].part_count; k++)
                if (f->topics[i].parts[k].p == p) f->topics[i].parts[k].p = NULL;
        event_active(f->ev, EV_READ, 0);
    }
}

void broker_fetch_partition_moved(struct broker_partition *from, struct broker_partition *to)
{
    for (int32_t w = 0; w < from->waiter_count; w++) {
        struct fetch_waiter *f = from->waiters[w];
        for (int32_t i = 0; i < f->topic_count; i++)
            for (int32_t k = 0; k < f->topics[i].part_count; k++)
                if (f->topics[i].parts[k].p == from) f->topics[i].parts[k].p = to;
    }
}

void broker_fetch_cancel_all(struct broker *b)
{
    while (b->waiters) waiter_complete(b, b->waiters);
}

static int waiter_watch(struct broker_partition *p, struct fetch_waiter *f)
{
    if (p->waiter_count == p->waiter_cap) {
        int32_t cap = p->waiter_cap ? p->waiter_cap * 2 : 4;
        struct fetch_waiter **nw = realloc(p->waiters, sizeof(*nw) * (size_t)cap);
        if (!nw) return GR_ENOMEM;
        p->waiters = nw;
        p->waiter_cap = cap;
    }
    p->waiters[p->waiter_count++] = f;
    return 0;
}

/* Moves the request description onto the heap and parks it. */
static int fetch_park(struct broker *b, struct fetch_waiter *tmpl, int32_t max_wait_ms)
{
    size_t need = sizeof(struct fetch_topic) * (size_t)tmpl->topic_count;
    for (int32_t i = 0; i < tmpl->topic_count; i++)
        need += sizeof(struct fetch_part) * (size_t)tmpl->topics[i].part_count +
                (size_t)GR_MAX(tmpl->topics[i].name.len, 0) + 1;
    struct fetch_waiter *f = malloc(sizeof(*f));
    uint8_t *heap = malloc(need);
    if (!f || !heap) {
        free(f);
        free(heap);
        return GR_ENOMEM;
    }
    *f = *tmpl;
    f->heap = heap;
    f->topics = (struct fetch_topic *)heap;
    /* topics, then every part array, then the names: the arrays stay aligned */
    uint8_t *cur = heap + sizeof(struct fetch_topic) * (size_t)tmpl->topic_count;
    for (int32_t i = 0; i < tmpl->topic_count; i++) {
        struct fetch_topic *dst = &f->topics[i];
        *dst = tmpl->topics[i];
        dst->parts = (struct fetch_part *)cur;
        memcpy(cur, tmpl->topics[i].parts, sizeof(struct fetch_part) * (size_t)dst->part_count);
        cur += sizeof(struct fetch_part) * (size_t)dst->part_count;
    }
    for (int32_t i = 0; i < tmpl->topic_count; i++) {
        struct fetch_topic *dst = &f->topics[i];
        if (dst->name.len > 0) memcpy(cur, dst->name.ptr, (size_t)dst->name.len);
        dst->name.ptr = (const char *)cur;
        cur += (size_t)GR_MAX(dst->name.len, 0) + 1;
    }
    f->ev = event_new(b->base, -1, 0, waiter_on_event, f);
    f->deadline_ms = time_mono_ms() + max_wait_ms;
    f->prev = NULL;
    f->next = b->waiters;
    if (b->waiters) b->waiters->prev = f;
    b->waiters = f;
    for (int32_t i = 0; i < f->topic_count; i++)
        for (int32_t k = 0; k < f->topics[i].part_count; k++)
            if (f->topics[i].parts[k].p && waiter_watch(f->topics[i].parts[k].p, f)) {
                f->deadline_ms = 0; /* cannot watch: answer at once */
            }
    struct timeval tv = {max_wait_ms / 1000, (max_wait_ms % 1000) * 1000};
    event_add(f->ev, &tv);
    return 0;
}

/* KIP-392 with replica.selector.class = RackAwareReplicaSelector: a consumer whose client.rack
 * differs from the leader's rack is sent to an in-sync, live replica in its own rack. */
static int32_t preferred_read_replica(struct broker *b, const struct broker_partition *p,
                                      struct kafka_str rack)
{
    const char *sel = cfg_get_str(b->cfg.cfg, "replica.selector.class", NULL);
    if (!sel || !strstr(sel, "RackAwareReplicaSelector") || rack.len <= 0) return -1;
    const struct md_image *img = md_client_image(b->mdc);
    const struct md_broker *self = md_image_broker(img, b->cfg.node_id);
    if (self && self->rack && kstr_eq(rack, self->rack)) return -1;
    for (int32_t i = 0; i < p->isr_count; i++) {
        const struct md_broker *r = md_image_broker(img, p->isr[i]);
        if (r && !r->fenced && r->rack && kstr_eq(rack, r->rack)) return r->id;
    }
    return -1;
}

/* ------------------------------------------------------------------------------------------ */

int broker_handle_fetch(struct broker_req *req)
{
    int16_t v = req->hdr.api_version;
    struct kafka_fetch_request body;
    if (kafka_fetch_request_decode(&req->r, v, &body)) return -1;
    struct fetch_waiter f = {.b = req->b, .slot = req->slot,
                             .correlation_id = req->hdr.correlation_id, .version = v,
                             .replica_id = body.replica_id >= 0 ? body.replica_id : -1,
                             .min_bytes = body.min_bytes,
                             .max_bytes = body.max_bytes > 0 && v >= 3
                                              ? GR_MIN(body.max_bytes, req->b->fetch_max_bytes)
                                              : req->b->fetch_max_bytes};
    f.topic_count = GR_MAX(body.topics_count, 0);
    f.topics = arena_calloc(req->arena, (size_t)GR_MAX(f.topic_count, 1), sizeof(*f.topics));
    if (!f.topics) return -1;
    int64_t parts = 0;
    for (int32_t i = 0; i < f.topic_count; i++) {
        const struct kafka_fetch_request_fetch_topic *rt = &body.topics[i];
        struct fetch_topic *ft = &f.topics[i];
        ft->name = rt->topic;
        struct broker_topic *t =
            rt->topic.len > 0 ? broker_topic_find(req->b, rt->topic.ptr, (size_t)rt->topic.len)
                              : NULL;
        ft->part_count = GR_MAX(rt->partitions_count, 0);
        parts += ft->part_count;
        if (parts > FETCH_PARTITIONS_MAX) return -1;
        ft->parts = arena_calloc(req->arena, (size_t)GR_MAX(ft->part_count, 1), sizeof(*ft->parts));
        if (!ft->parts) return -1;
        for (int32_t k = 0; k < ft->part_count; k++) {
            const struct kafka_fetch_request_fetch_partition *rp = &rt->partitions[k];
            struct fetch_part *fp = &ft->parts[k];
            fp->partition = rp->partition;
            fp->offset = rp->fetch_offset;
            fp->max_bytes = rp->partition_max_bytes;
            fp->error = broker_lead_error(req->b, t, rp->partition);
            fp->preferred_replica = -1;
            if (fp->error == KAFKA_ERR_NOT_LEADER_OR_FOLLOWER && f.replica_id < 0 && v >= 11 &&
                t->partitions[rp->partition].log) {
                fp->error = KAFKA_ERR_NONE; /* a follower serves v11+ consumers (KIP-392) */
                fp->from_follower = true;
            }
            fp->p = fp->error ? NULL : &t->partitions[rp->partition];
            if (fp->p && !fp->from_follower && f.replica_id < 0 && v >= 11)
                fp->preferred_replica = preferred_read_replica(req->b, fp->p, body.rack_id);
            fp->current_leader_epoch = v >= 9 ? rp->current_leader_epoch : -1;
            fp->last_fetched_epoch = v >= 12 ? rp->last_fetched_epoch : -1;
            if (fp->p && f.replica_id >= 0 &&
                (fp->current_leader_epoch < 0 || fp->current_leader_epoch == fp->p->leader_epoch))
                broker_replica_follower_fetched(req->b, fp->p, f.replica_id, fp->offset,
                                                time_mono_ms());
        }
    }
    struct kafka_fetch_response resp;
    int64_t total = fetch_build(req->arena, &f, &resp);
    if (total < 0) return -1;
    int32_t wait_ms = GR_MIN(body.max_wait_ms, FETCH_WAIT_MS_MAX);
    bool any_error = false;
    for (int32_t i = 0; i < resp.responses_count; i++)
        for (int32_t k = 0; k < resp.responses[i].partitions_count; k++)
            any_error |= resp.responses[i].partitions[k].error_code != KAFKA_ERR_NONE;
    if (total >= f.min_bytes || wait_ms <= 0 || any_error || f.topic_count == 0 ||
        fetch_park(req->b, &f, wait_ms)) {
        fetch_send(req->b, &f, req->slot, &resp);
    }
    return 0;
}

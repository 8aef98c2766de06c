/* broker_produce.c — Produce: validate record batches, append them, answer.
 *
 * The hot path does no decompression: batches are validated (lengths, magic, CRC) and stored
 * exactly as sent, with the base offset rewritten in place in the request buffer.  Only a
 * topic-level compression.type other than `producer` recompresses, as Kafka does. */
#include "broker/broker_int.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

/* One partition of a waiting acks=all produce: answered when the high watermark passes
 * `required` (NONE), when the leadership moves (NOT_LEADER_OR_FOLLOWER) or at the timeout
 * (REQUEST_TIMED_OUT). */
struct pw_part {
    char *topic;        /* points into the waiter's heap */
    int32_t topic_len;
    int32_t index;
    int16_t error;
    int64_t base_offset, log_append_time_ms, log_start_offset;
    int64_t required;   /* -1: nothing to wait for (an error, or not appended) */
};

struct produce_waiter {
    struct produce_waiter *next;
    struct broker *b;
    struct net_slot *slot;
    struct kafka_request_header hdr;
    int32_t n;
    struct pw_part *parts;
    struct event *ev; /* the timeout */
    char *heap;
};

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
                              struct kafka_produce_response_partition_produce_response *pr,
                              int64_t *required)
{
    *required = -1;
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
    if (req->acks == -1 && p->isr_count < t->min_isr) {
        pr->error_code = KAFKA_ERR_NOT_ENOUGH_REPLICAS;
        pr->error_message = KSTR("The ISR is smaller than min.insync.replicas.");
        return;
    }
    int64_t dup;
    int16_t pec = broker_pstate_check(p, data, len, &dup);
    if (pec) {
        pr->error_code = pec;
        return;
    }
    if (dup >= 0) { /* a retry of a batch we have: its original offset, appended once */
        pr->base_offset = dup;
        pr->log_start_offset = storage_log_start_offset(p->log);
        *required = dup + 1;
        return;
    }
    struct storage_append_info ai;
    rc = storage_log_append(p->log, data, len, p->leader_epoch, req->now_ms, &ai);
    if (rc) {
        LOG_ERROR("broker", "append to %s-%d failed: %s", t->name, p->id, gr_strerror(rc));
        pr->error_code = KAFKA_ERR_KAFKA_STORAGE_ERROR;
        return;
    }
    pr->base_offset = ai.first_offset;
    pr->log_start_offset = storage_log_start_offset(p->log);
    *required = ai.last_offset + 1;
    broker_pstate_appended(p, data, len);
    broker_partition_appended(b, p); /* followers waiting in a fetch */
    broker_replica_update_hw(b, p);  /* alone in the ISR: committed now */
}

/* ------------------------------------------------------------------------------------------ */
/* Waiting for the ISR (acks=all)                                                              */

static void pw_send(struct produce_waiter *w)
{
    struct arena a;
    arena_init(&a, 4096);
    struct kafka_produce_response resp;
    kafka_produce_response_init(&resp);
    /* group the parts back by topic, in request order */
    resp.responses = arena_calloc(&a, (size_t)GR_MAX(w->n, 1), sizeof(*resp.responses));
    int32_t nt = 0;
    for (int32_t i = 0; resp.responses && i < w->n; i++) {
        const struct pw_part *pp = &w->parts[i];
        struct kafka_produce_response_topic_produce_response *tr =
            nt ? &resp.responses[nt - 1] : NULL;
        if (!tr || tr->name.len != pp->topic_len || memcmp(tr->name.ptr, pp->topic, (size_t)pp->topic_len)) {
            tr = &resp.responses[nt++];
            kafka_produce_response_topic_produce_response_init(tr);
            tr->name = (struct kafka_str){pp->topic, pp->topic_len};
            tr->partition_responses = arena_calloc(&a, (size_t)w->n, sizeof(*tr->partition_responses));
            if (!tr->partition_responses) break;
        }
        struct kafka_produce_response_partition_produce_response *pr =
            &tr->partition_responses[tr->partition_responses_count++];
        kafka_produce_response_partition_produce_response_init(pr);
        pr->index = pp->index;
        pr->error_code = pp->error;
        pr->base_offset = pp->error ? -1 : pp->base_offset;
        pr->log_append_time_ms = pp->log_append_time_ms;
        pr->log_start_offset = pp->log_start_offset;
    }
    resp.responses_count = nt;
    struct broker_req req = {.b = w->b, .slot = w->slot, .hdr = w->hdr};
    struct kafka_writer wr;
    broker_respond_begin(&req, &wr);
    kafka_produce_response_encode(&wr, w->hdr.api_version, &resp);
    broker_respond_end(&req, &wr);
    arena_close(&a);
}

static void pw_unlink(struct broker *b, struct produce_waiter *w)
{
    struct produce_waiter **pp = &b->pwaiters;
    while (*pp && *pp != w) pp = &(*pp)->next;
    if (*pp) *pp = w->next;
}

static void pw_finish(struct produce_waiter *w)
{
    pw_unlink(w->b, w);
    pw_send(w);
    event_free(w->ev);
    free(w->heap);
    free(w);
}

/* Updates the parts still waiting; true when none is. */
static bool pw_check(struct produce_waiter *w, bool timed_out)
{
    struct broker *b = w->b;
    bool waiting = false;
    for (int32_t i = 0; i < w->n; i++) {
        struct pw_part *pp = &w->parts[i];
        if (pp->required < 0) continue;
        struct broker_topic *t = broker_topic_find(b, pp->topic, (size_t)pp->topic_len);
        struct broker_partition *p =
            t && pp->index < t->partition_count ? &t->partitions[pp->index] : NULL;
        if (!p || !p->leader) {
            pp->error = KAFKA_ERR_NOT_LEADER_OR_FOLLOWER;
            pp->required = -1;
        } else if (p->high_watermark >= pp->required) {
            /* every ISR member has it; Kafka still refuses when the ISR shrank below the
             * minimum meanwhile */
            if (p->isr_count < t->min_isr)
                pp->error = KAFKA_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND;
            pp->required = -1;
        } else if (timed_out) {
            pp->error = KAFKA_ERR_REQUEST_TIMED_OUT;
            pp->required = -1;
        } else {
            waiting = true;
        }
    }
    return !waiting;
}

static void pw_on_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct produce_waiter *w = arg;
    pw_check(w, true);
    pw_finish(w);
}

void broker_produce_recheck(struct broker *b)
{
    broker_coord_recheck(b); /* the group coordinator's own appends */
    struct produce_waiter *w = b->pwaiters;
    while (w) {
        struct produce_waiter *next = w->next;
        if (pw_check(w, false)) pw_finish(w);
        w = next;
    }
}

void broker_produce_cancel_all(struct broker *b)
{
    while (b->pwaiters) {
        pw_check(b->pwaiters, true);
        pw_finish(b->pwaiters);
    }
}

/* Parks the response until the ISR has every appended batch.  Returns 0, or GR_ENOMEM (the
 * caller answers at once). */
static int pw_park(struct broker_req *req, const struct kafka_produce_response *resp,
                   int64_t *const *required, int32_t timeout_ms)
{
    int32_t n = 0;
    size_t names = 0;
    for (int32_t i = 0; i < resp->responses_count; i++) {
        n += resp->responses[i].partition_responses_count;
        names += (size_t)GR_MAX(resp->responses[i].name.len, 0);
    }
    struct produce_waiter *w = calloc(1, sizeof(*w));
    char *heap = malloc(sizeof(struct pw_part) * (size_t)GR_MAX(n, 1) + names + 1);
    if (!w || !heap) {
        free(w);
        free(heap);
        return GR_ENOMEM;
    }
    w->b = req->b;
    w->slot = req->slot;
    w->hdr = req->hdr;
    w->hdr.client_id = KSTR_NULL;
    w->heap = heap;
    w->parts = (struct pw_part *)heap;
    char *cur = heap + sizeof(struct pw_part) * (size_t)GR_MAX(n, 1);
    for (int32_t i = 0; i < resp->responses_count; i++) {
        const struct kafka_produce_response_topic_produce_response *tr = &resp->responses[i];
        int32_t tl = GR_MAX(tr->name.len, 0);
        if (tl) memcpy(cur, tr->name.ptr, (size_t)tl);
        for (int32_t k = 0; k < tr->partition_responses_count; k++) {
            const struct kafka_produce_response_partition_produce_response *pr =
                &tr->partition_responses[k];
            w->parts[w->n++] = (struct pw_part){cur, tl, pr->index, pr->error_code,
                                                pr->base_offset, pr->log_append_time_ms,
                                                pr->log_start_offset, required[i][k]};
        }
        cur += tl;
    }
    w->ev = event_new(req->b->base, -1, 0, pw_on_timeout, w);
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    event_add(w->ev, &tv);
    w->next = req->b->pwaiters;
    req->b->pwaiters = w;
    return 0;
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
    req->acks = body.acks;
    bool wait = false;
    int64_t **required = arena_calloc(req->arena, (size_t)GR_MAX(nt, 1), sizeof(*required));
    if (!required) return -1;
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
        required[i] = arena_calloc(req->arena, (size_t)GR_MAX(np, 1), sizeof(int64_t));
        if (!required[i]) return -1;
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
                required[i][k] = -1;
                continue;
            }
            produce_partition(req, &td->partition_data[k], t, pr, &required[i][k]);
            if (body.acks == -1 && required[i][k] >= 0) {
                const struct broker_partition *p = &t->partitions[td->partition_data[k].index];
                if (p->high_watermark < required[i][k]) wait = true;
            }
        }
    }
    if (body.acks == 0) {
        net_slot_done_silent(req->slot);
        return 0;
    }
    if (wait && pw_park(req, &resp, (int64_t *const *)required, GR_MAX(body.timeout_ms, 1)) == 0)
        return 0; /* answered when the ISR has the batches */
    struct kafka_writer w;
    broker_respond_begin(req, &w);
    kafka_produce_response_encode(&w, v, &resp);
    broker_respond_end(req, &w);
    return 0;
}

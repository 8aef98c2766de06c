/* broker_idempotence.c — idempotent producers: InitProducerId, producer-id blocks from the
 * controller, and per-partition producer state (the last five batches of each producer).
 *
 * As in Kafka, a producer with enable.idempotence numbers its batches per partition; the
 * partition leader accepts the next sequence, answers a batch it already has with the offset
 * it was stored at (a retry after a lost answer or a leader change), refuses a gap with
 * OUT_OF_ORDER_SEQUENCE_NUMBER and an older producer epoch with INVALID_PRODUCER_EPOCH.
 * Followers keep the same state from the batches they replicate (producer id, epoch and
 * sequence are in every batch header), so a new leader knows every producer; a restarted
 * broker rebuilds it from the tail of each log (PSTATE_REBUILD_OFFSETS records). */
#include "broker/broker_int.h"

#include <stdlib.h>
#include <string.h>

#define PSTATE_BATCHES 5            /* Kafka keeps the last five batches per producer */
#define PSTATE_REBUILD_OFFSETS 200000
#define PID_REFILL_BELOW 100
#define ATTR_TRANSACTIONAL 0x10
#define ATTR_CONTROL 0x20

struct pstate_batch {
    int32_t first_seq, last_seq;
    int64_t first_offset, last_offset;
};

struct pstate_entry {
    struct pstate_entry *next;
    int64_t pid;
    int16_t epoch;
    int32_t n;                                  /* batches kept, newest last */
    struct pstate_batch batches[PSTATE_BATCHES];
};

#define PSTATE_BUCKETS 256
struct broker_pstate {
    struct pstate_entry *buckets[PSTATE_BUCKETS];
};

static struct pstate_entry *pstate_find(struct broker_pstate *s, int64_t pid, bool create)
{
    size_t h = (size_t)((uint64_t)pid * 0x9E3779B97F4A7C15ull >> 56) % PSTATE_BUCKETS;
    for (struct pstate_entry *e = s->buckets[h]; e; e = e->next)
        if (e->pid == pid) return e;
    if (!create) return NULL;
    struct pstate_entry *e = calloc(1, sizeof(*e));
    if (!e) return NULL;
    e->pid = pid;
    e->epoch = -1;
    e->next = s->buckets[h];
    s->buckets[h] = e;
    return e;
}

void broker_pstate_free(struct broker_partition *p)
{
    struct broker_pstate *s = p->pstate;
    if (!s) return;
    for (size_t i = 0; i < PSTATE_BUCKETS; i++) {
        struct pstate_entry *e = s->buckets[i];
        while (e) {
            struct pstate_entry *n = e->next;
            free(e);
            e = n;
        }
    }
    free(s);
    p->pstate = NULL;
}

/* One stored batch (header fields) joins its producer's history. */
static void pstate_record(struct broker_pstate *s, const uint8_t *h)
{
    int64_t pid = (int64_t)be64_get(h + RB_OFF_PRODUCER_ID);
    if (pid < 0) return;
    int16_t attrs = (int16_t)be16_get(h + RB_OFF_ATTRIBUTES);
    if (attrs & ATTR_CONTROL) return;
    struct pstate_entry *e = pstate_find(s, pid, true);
    if (!e) return;
    int16_t epoch = (int16_t)be16_get(h + RB_OFF_PRODUCER_EPOCH);
    if (epoch != e->epoch) {
        e->epoch = epoch;
        e->n = 0;
    }
    int32_t seq = (int32_t)be32_get(h + RB_OFF_BASE_SEQUENCE);
    int32_t delta = (int32_t)be32_get(h + RB_OFF_LAST_OFFSET_DELTA);
    int64_t base = (int64_t)be64_get(h + RB_OFF_BASE_OFFSET);
    struct pstate_batch b = {seq, (int32_t)(((int64_t)seq + delta) % ((int64_t)INT32_MAX + 1)),
                             base, base + delta};
    if (e->n == PSTATE_BATCHES) {
        memmove(&e->batches[0], &e->batches[1], sizeof(b) * (PSTATE_BATCHES - 1));
        e->n--;
    }
    e->batches[e->n++] = b;
}

static struct broker_pstate *pstate_of(struct broker_partition *p)
{
    if (!p->pstate) p->pstate = calloc(1, sizeof(struct broker_pstate));
    return p->pstate;
}

void broker_pstate_appended(struct broker_partition *p, const uint8_t *batches, size_t n)
{
    struct broker_pstate *s = pstate_of(p);
    if (!s) return;
    for (size_t pos = 0; pos + RB_HEADER_BYTES <= n;) {
        size_t bn = rb_batch_size(batches + pos, n - pos);
        if (!bn) break;
        pstate_record(s, batches + pos);
        pos += bn;
    }
}

void broker_pstate_rebuild(struct broker_partition *p)
{
    broker_pstate_free(p);
    if (!p->log || !pstate_of(p)) return;
    int64_t end = storage_log_end_offset(p->log);
    int64_t off = GR_MAX(storage_log_start_offset(p->log), end - PSTATE_REBUILD_OFFSETS);
    struct gbuf buf;
    gbuf_init(&buf);
    while (off < end) {
        struct storage_slice sl;
        if (storage_log_read(p->log, off, 4 << 20, end, true, &sl) || sl.bytes == 0) break;
        gbuf_reset(&buf);
        if (storage_slice_copy(&sl, &buf)) break;
        int64_t next = off;
        for (size_t pos = 0; pos + RB_HEADER_BYTES <= buf.len;) {
            size_t bn = rb_batch_size(buf.data + pos, buf.len - pos);
            if (!bn) break;
            const uint8_t *h = buf.data + pos;
            int64_t last = (int64_t)be64_get(h + RB_OFF_BASE_OFFSET) +
                           (int32_t)be32_get(h + RB_OFF_LAST_OFFSET_DELTA);
            if (last >= off) pstate_record(p->pstate, h);
            next = last + 1;
            pos += bn;
        }
        if (next <= off) break;
        off = next;
    }
    gbuf_close(&buf);
}

/* Checks the batches of a produce against the producer state.  Returns NONE (append them),
 * or an error; a duplicate returns NONE with *dup_offset set to where the batch is stored
 * (answer with it, append nothing). */
int16_t broker_pstate_check(struct broker_partition *p, const uint8_t *batches, size_t n,
                            int64_t *dup_offset)
{
    *dup_offset = -1;
    if (n < RB_HEADER_BYTES) return KAFKA_ERR_NONE;
    const uint8_t *h = batches;
    int64_t pid = (int64_t)be64_get(h + RB_OFF_PRODUCER_ID);
    if (pid < 0) return KAFKA_ERR_NONE; /* not idempotent */
    int16_t attrs = (int16_t)be16_get(h + RB_OFF_ATTRIBUTES);
    if (attrs & ATTR_TRANSACTIONAL) return KAFKA_ERR_INVALID_REQUEST; /* no transactions yet */
    struct broker_pstate *s = pstate_of(p);
    if (!s) return KAFKA_ERR_KAFKA_STORAGE_ERROR;
    int16_t epoch = (int16_t)be16_get(h + RB_OFF_PRODUCER_EPOCH);
    int32_t seq = (int32_t)be32_get(h + RB_OFF_BASE_SEQUENCE);
    int32_t delta = (int32_t)be32_get(h + RB_OFF_LAST_OFFSET_DELTA);
    struct pstate_entry *e = pstate_find(s, pid, false);
    if (!e || e->n == 0) /* a producer we do not know (new, or older than what we keep) */
        return seq == 0 ? KAFKA_ERR_NONE : KAFKA_ERR_UNKNOWN_PRODUCER_ID;
    if (epoch < e->epoch) return KAFKA_ERR_INVALID_PRODUCER_EPOCH;
    if (epoch > e->epoch) return seq == 0 ? KAFKA_ERR_NONE : KAFKA_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER;
    int32_t last = (int32_t)(((int64_t)seq + delta) % ((int64_t)INT32_MAX + 1));
    for (int32_t i = 0; i < e->n; i++)
        if (e->batches[i].first_seq == seq && e->batches[i].last_seq == last) {
            *dup_offset = e->batches[i].first_offset;
            return KAFKA_ERR_NONE;
        }
    int32_t expect = e->batches[e->n - 1].last_seq == INT32_MAX
                         ? 0
                         : e->batches[e->n - 1].last_seq + 1;
    return seq == expect ? KAFKA_ERR_NONE : KAFKA_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER;
}

/* ------------------------------------------------------------------------------------------ */
/* Producer ids                                                                                */

static void pids_granted(void *arg, int16_t error, int64_t start, int32_t len)
{
    struct broker *b = arg;
    b->pid_requesting = false;
    if (error) return; /* asked again by the next tick or InitProducerId */
    b->pid_next = start;
    b->pid_end = start + len;
    LOG_INFO("broker", "producer ids %lld-%lld granted by the controller", (long long)start,
             (long long)(start + len - 1));
}

void broker_pids_refill(struct broker *b)
{
    if (b->pid_requesting || b->pid_end - b->pid_next >= PID_REFILL_BELOW || !b->mdc) return;
    if (md_client_allocate_producer_ids(b->mdc, pids_granted, b) == 0) b->pid_requesting = true;
}

int broker_handle_init_producer_id(struct broker_req *req)
{
    int16_t v = req->hdr.api_version;
    struct kafka_init_producer_id_request body;
    if (kafka_init_producer_id_request_decode(&req->r, v, &body)) return -1;
    struct kafka_init_producer_id_response resp;
    kafka_init_producer_id_response_init(&resp);
    resp.producer_id = -1;
    resp.producer_epoch = -1;
    if (body.transactional_id.len >= 0) {
        /* transactions come later: refuse cleanly rather than pretend */
        resp.error_code = KAFKA_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
    } else if (req->b->pid_next < req->b->pid_end) {
        /* an idempotent producer always gets a fresh id (epoch 0), also when it asks to bump
         * an epoch after an error (KIP-360): the old id's sequences start over either way */
        resp.producer_id = req->b->pid_next++;
        resp.producer_epoch = 0;
        broker_pids_refill(req->b);
    } else {
        resp.error_code = KAFKA_ERR_COORDINATOR_LOAD_IN_PROGRESS; /* retriable: ids coming */
        broker_pids_refill(req->b);
    }
    struct kafka_writer w;
    broker_respond_begin(req, &w);
    kafka_init_producer_id_response_encode(&w, v, &resp);
    broker_respond_end(req, &w);
    return 0;
}

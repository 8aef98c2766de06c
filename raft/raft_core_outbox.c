/*
 * raft_core_outbox.c — outgoing messages and the durability gate in front of them.
 *
 * Every message is stamped with need_seq, the persist_seq of the ready batch that carries (or
 * will carry) the hard state and entries it may depend on, and is held until raft_persisted()
 * reports that seq.  This is what makes "a vote or an acknowledgement leaves before the state
 * it promises is durable" impossible, whatever order the I/O layer uses.  The outbox is bounded
 * (msgs_max): beyond it new messages are dropped and counted, which Raft tolerates as loss.
 */
#include "raft/raft_int.h"

#include <stdlib.h>
#include <string.h>

bool raft_dirty(const struct raft *r)
{
    return r->hs_dirty || r->snap_install || r->truncate_from || r->compact_to ||
           r->unstable_from <= raft_log_last(&r->log);
}

void raft_msg_free_parts(struct raft_msg *m)
{
    free(m->entries); /* one block: entry array followed by their data */
    free(m->snapshot.data);
    m->entries = NULL;
    m->n_entries = 0;
    m->snapshot.data = NULL;
}

int raft_copy_entries(struct raft_msg *m, const struct raft_entry *src, uint32_t n)
{
    size_t bytes = (size_t)n * sizeof *src;
    for (uint32_t i = 0; i < n; i++) bytes += src[i].len;
    struct raft_entry *dst = malloc(bytes ? bytes : 1);
    if (!dst) return GR_ENOMEM;
    uint8_t *p = (uint8_t *)(dst + n);
    for (uint32_t i = 0; i < n; i++) {
        dst[i] = src[i];
        dst[i].data = NULL;
        if (src[i].len) {
            memcpy(p, src[i].data, src[i].len);
            dst[i].data = p;
            p += src[i].len;
        }
    }
    m->entries = dst;
    m->n_entries = n;
    return 0;
}

int raft_copy_snapshot(struct raft_snapshot *dst, const struct raft_snapshot *src)
{
    uint8_t *data = NULL;
    if (src->len) {
        data = malloc(src->len);
        if (!data) return GR_ENOMEM;
        memcpy(data, src->data, src->len);
    }
    free(dst->data);
    *dst = *src;
    dst->data = data;
    return 0;
}

void raft_send(struct raft *r, struct raft_msg *m)
{
    m->from = r->cfg.id;
    if (r->n_held + r->n_out >= r->cfg.msgs_max) {
        raft_msg_free_parts(m);
        r->msgs_dropped++;
        return;
    }
    struct raft_held *h = &r->held[r->n_held++];
    h->m = *m;
    h->need_seq = raft_dirty(r) ? r->seq_issued + 1 : r->seq_issued;
}

/* The in-memory log was cut at index: what was durable beyond it no longer counts. */
void raft_mark_truncated(struct raft *r, uint64_t index)
{
    assert(index > r->commit);
    r->truncate_from = r->truncate_from ? GR_MIN(r->truncate_from, index) : index;
    r->unstable_from = GR_MIN(r->unstable_from, index);
    r->persisted_index = GR_MIN(r->persisted_index, index - 1);
    for (uint32_t i = 0; i < r->n_batches; i++)
        r->batches[i].last_index = GR_MIN(r->batches[i].last_index, index - 1);
    /* A held acknowledgement of entries that are now cut would promise a log this node will
     * never have (found by the simulator, seed 11008): it must never leave. */
    uint32_t kept = 0;
    for (uint32_t i = 0; i < r->n_held; i++) {
        struct raft_msg *m = &r->held[i].m;
        if (m->type == RAFT_MSG_APPEND_RESP && !m->reject && m->index >= index)
            raft_msg_free_parts(m);
        else
            r->held[kept++] = r->held[i];
    }
    r->n_held = kept;
}

void raft_outbox_close(struct raft *r)
{
    for (uint32_t i = 0; i < r->n_held; i++) raft_msg_free_parts(&r->held[i].m);
    for (uint32_t i = 0; i < r->n_out; i++) raft_msg_free_parts(&r->out[i]);
    r->n_held = r->n_out = 0;
}

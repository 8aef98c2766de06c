/*
 * raft_core_ready.c — the output batch (raft_ready / raft_advance) and the persisted notice.
 * The contract is described at the top of raft/raft.h.
 */
#include "raft/raft_int.h"

#include <string.h>

#define RAFT_APPLY_BATCH_MAX 1024

static void ready_persist(struct raft *r, struct raft_ready *rd)
{
    if (!raft_dirty(r) || r->n_batches == RAFT_BATCHES_MAX) return;
    rd->persist_seq = ++r->seq_issued;
    if (r->hs_dirty) {
        rd->hard_state_changed = true;
        rd->hard_state.term = r->term;
        rd->hard_state.vote = r->vote;
        r->hs_dirty = false;
    }
    if (r->snap_install) rd->snapshot = &r->snap;
    r->snap_install = false;
    rd->truncate_from = r->truncate_from;
    rd->compact_to = r->compact_to;
    r->truncate_from = r->compact_to = 0;
    uint64_t last = raft_log_last(&r->log);
    assert(r->unstable_from > r->log.offset);
    if (r->unstable_from <= last) {
        rd->entries = raft_log_get(&r->log, r->unstable_from);
        rd->n_entries = (size_t)(last - r->unstable_from + 1);
        r->unstable_from = last + 1;
    }
    r->batches[r->n_batches++] = (struct raft_batch){.seq = rd->persist_seq, .last_index = last};
}

static void ready_release(struct raft *r, struct raft_ready *rd)
{
    uint32_t kept = 0;
    for (uint32_t i = 0; i < r->n_held; i++) {
        if (r->held[i].need_seq <= r->seq_persisted)
            r->out[r->n_out++] = r->held[i].m;
        else
            r->held[kept++] = r->held[i];
    }
    r->n_held = kept;
    rd->msgs = r->out;
    rd->n_msgs = r->n_out;
}

bool raft_ready(struct raft *r, struct raft_ready *rd)
{
    assert(!r->in_ready);
    memset(rd, 0, sizeof *rd);
    ready_persist(r, rd);
    ready_release(r, rd);
    uint64_t hi = GR_MIN(r->commit, r->persisted_index);
    if (hi > r->applied) {
        rd->committed = raft_log_get(&r->log, r->applied + 1);
        assert(rd->committed);
        rd->n_committed = (size_t)GR_MIN(hi - r->applied, RAFT_APPLY_BATCH_MAX);
    }
    uint64_t applied = r->applied + rd->n_committed;
    rd->snapshot_wanted = r->cfg.snapshot_threshold &&
                          applied - r->log.offset >= r->cfg.snapshot_threshold;
    bool any = rd->persist_seq || rd->n_msgs || rd->n_committed;
    r->in_ready = any;
    return any;
}

void raft_advance(struct raft *r, struct raft_ready *rd)
{
    if (!r->in_ready) return;
    for (uint32_t i = 0; i < r->n_out; i++) raft_msg_free_parts(&r->out[i]);
    r->n_out = 0;
    if (rd->n_committed) {
        assert(rd->committed[0].index == r->applied + 1);
        r->applied += rd->n_committed;
    }
    r->in_ready = false;
    memset(rd, 0, sizeof *rd);
}

void raft_persisted(struct raft *r, uint64_t persist_seq)
{
    assert(!r->in_ready);
    assert(persist_seq <= r->seq_issued);
    if (persist_seq <= r->seq_persisted) return;
    r->seq_persisted = persist_seq;
    uint32_t i = 0;
    for (; i < r->n_batches && r->batches[i].seq <= persist_seq; i++)
        r->persisted_index = GR_MAX(r->persisted_index, r->batches[i].last_index);
    memmove(r->batches, r->batches + i, (r->n_batches - i) * sizeof *r->batches);
    r->n_batches -= i;
    assert(r->persisted_index <= raft_log_last(&r->log));
    if (r->role == RAFT_LEADER) raft_maybe_commit(r);
}

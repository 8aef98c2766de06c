/*
 * raft_core_snapshot.c — snapshots: taken by the application (the log is compacted behind
 * them), sent by the leader to followers whose next index fell behind the log start, and
 * installed by followers.
 *
 * Invariant: when the in-memory log has an offset > 0, r->snap holds the snapshot at exactly
 * that offset (so the leader always has something to send).
 */
#include "raft/raft_int.h"

int raft_snapshot_taken(struct raft *r, const struct raft_snapshot *snap)
{
    assert(!r->in_ready);
    if (snap->index <= r->log.offset) return 0;
    if (snap->index > r->applied || snap->n_voters > RAFT_MEMBERS_MAX) return GR_EINVAL;
    if (raft_log_term(&r->log, snap->index) != snap->term) return GR_EINVAL;
    int err = raft_copy_snapshot(&r->snap, snap);
    if (err) return err;
    assert(r->unstable_from > snap->index);
    raft_log_compact_to(&r->log, snap->index, snap->term);
    r->compact_to = snap->index;
    return 0;
}

void raft_send_snapshot(struct raft *r, struct raft_member *p)
{
    assert(r->snap.index > 0 && r->snap.index == r->log.offset);
    struct raft_msg m = {.type = RAFT_MSG_SNAPSHOT, .to = p->id, .term = r->term,
                         .commit = r->commit};
    if (raft_copy_snapshot(&m.snapshot, &r->snap)) return;
    raft_send(r, &m);
    p->state = RAFT_PR_SNAPSHOT;
    p->snapshot_index = r->snap.index;
    p->snapshot_sent_ms = r->now_ms;
    p->inflight_n = 0;
}

void raft_handle_snapshot(struct raft *r, const struct raft_msg *m)
{
    const struct raft_snapshot *s = &m->snapshot;
    r->leader = m->from;
    r->leader_heard_ms = r->now_ms;
    raft_reset_election_timer(r);
    struct raft_msg resp = {.type = RAFT_MSG_APPEND_RESP, .to = m->from, .term = r->term};
    if (s->index <= r->commit) { /* nothing new: say how far we are */
        resp.index = r->commit;
        raft_send(r, &resp);
        return;
    }
    if (raft_log_term(&r->log, s->index) == s->term) {
        /* Our log holds the snapshot's last entry, hence (Log Matching) all before it: no
         * install, just commit up to it and apply from our own log.  Installing here would
         * let the application race ahead and snapshot past the installed one. */
        r->commit = s->index;
        resp.index = s->index;
        raft_send(r, &resp); /* held until those entries are durable */
        return;
    }
    if (raft_copy_snapshot(&r->snap, s)) return;
    raft_mark_truncated(r, s->index + 1);
    raft_log_reset(&r->log, s->index, s->term);
    r->unstable_from = s->index + 1;
    r->snap_install = true;
    r->commit = r->applied = s->index; /* the application restores from ready.snapshot */
    resp.index = s->index;
    raft_send(r, &resp); /* held until the snapshot is durable */
}

/*
 * raft_core_transfer.c — leadership transfer, for clean shutdown: the leader stops taking
 * proposals, brings the target's log up to its own last index, then sends TIMEOUT_NOW; the
 * target campaigns at once (no pre-vote) with `force`, which overrides the other nodes' leases.
 * Abandoned after one election timeout.
 */
#include "raft/raft_int.h"

static struct raft_member *most_caught_up(struct raft *r)
{
    struct raft_member *best = NULL;
    for (uint32_t i = 0; i < r->n_members; i++) {
        struct raft_member *p = &r->members[i];
        if (p->voter && p != r->self && (!best || p->match > best->match)) best = p;
    }
    return best;
}

int raft_transfer_leadership(struct raft *r, uint32_t target)
{
    assert(!r->in_ready);
    if (r->role != RAFT_LEADER) return RAFT_ENOTLEADER;
    struct raft_member *p = target ? raft_member_find(r, target) : most_caught_up(r);
    if (!p || p == r->self || !p->voter) return GR_EINVAL;
    r->transferee = p->id;
    r->transfer_sent = false;
    r->transfer_deadline_ms = r->now_ms + raft_election_timeout_ms(r);
    raft_transfer_check(r, p);
    raft_send_appends(r, p);
    return 0;
}

void raft_transfer_check(struct raft *r, struct raft_member *p)
{
    if (r->transferee != p->id || r->transfer_sent || p->match != raft_log_last(&r->log)) return;
    struct raft_msg m = {.type = RAFT_MSG_TIMEOUT_NOW, .to = p->id, .term = r->term};
    raft_send(r, &m);
    r->transfer_sent = true;
}

void raft_tick_transfer(struct raft *r)
{
    if (r->transferee && r->now_ms >= r->transfer_deadline_ms) r->transferee = 0;
}

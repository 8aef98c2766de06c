/*
 * raft_core_election.c — timeouts, pre-vote, RequestVote and the vote tally.
 *
 * A voter whose election timer fires first runs a pre-vote round (term + 1 proposed, not
 * adopted); only if a quorum would grant it does it bump its term and run the real vote.  Nodes
 * that heard from a leader within an election timeout ignore both (raft_in_lease), so a node
 * cut off by a partition cannot disrupt the quorum when it returns.  Observers never campaign
 * and never grant votes.
 */
#include "raft/raft_int.h"

void raft_reset_election_timer(struct raft *r)
{
    int64_t base = raft_election_timeout_ms(r);
    r->election_deadline_ms = r->now_ms + base + (int64_t)raft_prng_range(&r->prng, (uint64_t)base);
}

static void set_term(struct raft *r, uint64_t term)
{
    assert(term >= r->term);
    if (term > r->term) {
        r->term = term;
        r->vote = 0;
        r->hs_dirty = true;
    }
}

void raft_become_follower(struct raft *r, uint64_t term, uint32_t leader)
{
    set_term(r, term);
    r->role = RAFT_FOLLOWER;
    r->leader = leader;
    r->transferee = 0;
    if (leader) r->leader_heard_ms = r->now_ms;
    raft_reset_election_timer(r);
}

static void tally_reset(struct raft *r)
{
    for (uint32_t i = 0; i < r->n_members; i++)
        r->members[i].responded = r->members[i].granted = false;
    r->self->responded = r->self->granted = true;
}

/* Returns +1 won, -1 lost, 0 undecided. */
static int tally(const struct raft *r)
{
    uint32_t yes = 0, no = 0;
    for (uint32_t i = 0; i < r->n_members; i++) {
        const struct raft_member *p = &r->members[i];
        if (!p->voter || !p->responded) continue;
        if (p->granted)
            yes++;
        else
            no++;
    }
    if (yes >= raft_quorum(r)) return 1;
    if (no >= raft_quorum(r)) return -1;
    return 0;
}

static void request_votes(struct raft *r, enum raft_msg_type type, uint64_t term, bool force)
{
    uint64_t last = raft_log_last(&r->log);
    for (uint32_t i = 0; i < r->n_members; i++) {
        struct raft_member *p = &r->members[i];
        if (!p->voter || p == r->self) continue;
        struct raft_msg m = {.type = type, .to = p->id, .term = term, .last_log_index = last,
                             .last_log_term = raft_log_term(&r->log, last), .force = force};
        raft_send(r, &m);
    }
}

static void check_tally(struct raft *r)
{
    int t = tally(r);
    if (t < 0) {
        raft_become_follower(r, r->term, 0);
    } else if (t > 0) {
        if (r->role == RAFT_PRECANDIDATE)
            raft_campaign(r, false, false);
        else
            raft_become_leader(r);
    }
}

/* Starts a pre-vote round (pre_vote) or a real election.  force: a leadership transfer, which
 * skips pre-vote and overrides other nodes' leases. */
void raft_campaign(struct raft *r, bool pre_vote, bool force)
{
    assert(r->self->voter);
    r->leader = 0;
    r->transferee = 0;
    tally_reset(r);
    raft_reset_election_timer(r);
    if (pre_vote) {
        r->role = RAFT_PRECANDIDATE;
        request_votes(r, RAFT_MSG_PREVOTE, r->term + 1, false);
    } else {
        set_term(r, r->term + 1);
        r->vote = r->cfg.id;
        r->hs_dirty = true;
        r->role = RAFT_CANDIDATE;
        request_votes(r, RAFT_MSG_VOTE, r->term, force);
    }
    check_tally(r); /* a lone voter wins here, by the same path */
}

void raft_tick_election(struct raft *r)
{
    if (!r->self->voter || r->now_ms < r->election_deadline_ms) return;
    raft_campaign(r, r->cfg.pre_vote, false);
}

static bool log_up_to_date(const struct raft *r, uint64_t index, uint64_t term)
{
    uint64_t last = raft_log_last(&r->log);
    uint64_t last_term = raft_log_term(&r->log, last);
    return term > last_term || (term == last_term && index >= last);
}

/* PREVOTE or VOTE with m->term >= r->term (step_term has adopted a newer VOTE term). */
void raft_handle_vote(struct raft *r, const struct raft_msg *m)
{
    bool pre = m->type == RAFT_MSG_PREVOTE;
    bool can_vote = r->vote == m->from || (r->vote == 0 && r->leader == 0) ||
                    (pre && m->term > r->term);
    bool grant = r->self->voter && can_vote && log_up_to_date(r, m->last_log_index,
                                                              m->last_log_term);
    struct raft_msg resp = {.type = pre ? RAFT_MSG_PREVOTE_RESP : RAFT_MSG_VOTE_RESP,
                            .to = m->from, .term = grant ? m->term : r->term, .reject = !grant};
    if (grant && !pre) {
        assert(m->term == r->term);
        r->vote = m->from;
        r->hs_dirty = true; /* the grant below is held until this is durable */
        raft_reset_election_timer(r);
    }
    raft_send(r, &resp);
}

void raft_handle_vote_resp(struct raft *r, const struct raft_msg *m)
{
    bool want_pre = r->role == RAFT_PRECANDIDATE && m->type == RAFT_MSG_PREVOTE_RESP;
    bool want_vote = r->role == RAFT_CANDIDATE && m->type == RAFT_MSG_VOTE_RESP;
    if (!want_pre && !want_vote) return;
    if (want_pre && !m->reject && m->term != r->term + 1) return; /* an older round */
    struct raft_member *p = raft_member_find(r, m->from);
    if (!p->voter || p->responded) return;
    p->responded = true;
    p->granted = !m->reject;
    check_tally(r);
}

void raft_handle_timeout_now(struct raft *r, const struct raft_msg *m)
{
    if (!r->self->voter) return;
    raft_campaign(r, false, true);
}

/*
 * raft_core_replication.c — the leader's log replication and the follower's side of it.
 *
 * Per follower the leader keeps a progress record: PROBE sends one APPEND at a time until the
 * follower's log is found to match (the follower's reject carries a fast back-off hint: its
 * conflicting term and the first index of that term, or its last index + 1), REPLICATE
 * pipelines up to inflight_max APPENDs, SNAPSHOT waits for an InstallSnapshot to land.
 * Heartbeats carry commit = min(leader commit, follower match), which is safe to adopt.
 * Commit advances only to an index of the current term held by a quorum of voters (the leader
 * counts itself only up to what it has persisted).
 */
#include "raft/raft_int.h"

#include <string.h>

static void progress_reset(struct raft *r, struct raft_member *p, enum raft_progress_state st,
                           uint64_t next)
{
    p->state = st;
    p->next = GR_MAX(next, p->match + 1);
    p->paused = false;
    p->inflight_n = 0;
    p->last_ack_ms = r->now_ms;
}

void raft_become_leader(struct raft *r)
{
    assert(r->role == RAFT_CANDIDATE && r->vote == r->cfg.id);
    r->role = RAFT_LEADER;
    r->leader = r->cfg.id;
    r->transferee = 0;
    uint64_t last = raft_log_last(&r->log);
    for (uint32_t i = 0; i < r->n_members; i++) {
        struct raft_member *p = &r->members[i];
        p->match = 0;
        progress_reset(r, p, RAFT_PR_PROBE, last + 1);
        p->recent_active = false;
    }
    r->heartbeat_due_ms = r->now_ms + r->cfg.heartbeat_interval_ms;
    r->check_quorum_due_ms = r->now_ms + raft_election_timeout_ms(r);
    /* The no-op lets the new leader commit (and so learn) everything before its term. */
    if (raft_log_append(&r->log, r->term, RAFT_ENTRY_NOOP, NULL, 0) == 0) raft_bcast_append(r);
}

/* Sends at most one APPEND (or a SNAPSHOT) to p.  Returns true if another could follow. */
bool raft_send_append(struct raft *r, struct raft_member *p)
{
    if (p == r->self || p->state == RAFT_PR_SNAPSHOT) return false;
    if (p->state == RAFT_PR_PROBE && p->paused) return false;
    if (p->state == RAFT_PR_REPLICATE && p->inflight_n >= r->cfg.inflight_max) return false;
    if (p->next <= r->log.offset) {
        raft_send_snapshot(r, p);
        return false;
    }
    uint64_t prev = p->next - 1, last = raft_log_last(&r->log);
    uint32_t n = 0;
    size_t bytes = 0;
    while (prev + 1 + n <= last && n < r->cfg.append_entries_max) {
        const struct raft_entry *e = raft_log_get(&r->log, prev + 1 + n);
        if (n > 0 && bytes + e->len > r->cfg.append_bytes_max) break;
        bytes += e->len;
        n++;
    }
    if (p->state == RAFT_PR_REPLICATE && n == 0) return false;
    struct raft_msg m = {.type = RAFT_MSG_APPEND, .to = p->id, .term = r->term,
                         .prev_index = prev, .prev_term = raft_log_term(&r->log, prev),
                         .commit = r->commit};
    assert(m.prev_term != UINT64_MAX);
    if (n && raft_copy_entries(&m, raft_log_get(&r->log, prev + 1), n)) return false;
    raft_send(r, &m);
    if (p->state == RAFT_PR_PROBE) {
        p->paused = true;
        return false;
    }
    p->next = prev + n + 1;
    p->inflight[p->inflight_n++] = prev + n;
    return true;
}

void raft_send_appends(struct raft *r, struct raft_member *p)
{
    for (uint32_t i = 0; i <= RAFT_INFLIGHT_MAX && raft_send_append(r, p); i++) {
    }
}

void raft_bcast_append(struct raft *r)
{
    for (uint32_t i = 0; i < r->n_members; i++) raft_send_appends(r, &r->members[i]);
}

static void heartbeat_one(struct raft *r, struct raft_member *p)
{
    int64_t stall_ms = 2 * (int64_t)r->cfg.heartbeat_interval_ms;
    if (p->state == RAFT_PR_REPLICATE && p->inflight_n > 0 && r->now_ms - p->last_ack_ms >= stall_ms)
        progress_reset(r, p, RAFT_PR_PROBE, p->match + 1); /* the pipeline's tail was lost */
    else if (p->state == RAFT_PR_PROBE)
        p->paused = false;
    else if (p->state == RAFT_PR_SNAPSHOT &&
             r->now_ms - p->snapshot_sent_ms >= raft_election_timeout_ms(r))
        progress_reset(r, p, RAFT_PR_PROBE, p->next); /* retry the snapshot */
    struct raft_msg m = {.type = RAFT_MSG_HEARTBEAT, .to = p->id, .term = r->term,
                         .commit = GR_MIN(r->commit, p->match)};
    raft_send(r, &m);
    raft_send_appends(r, p);
}

static bool check_quorum(struct raft *r)
{
    uint32_t active = 0;
    for (uint32_t i = 0; i < r->n_members; i++) {
        struct raft_member *p = &r->members[i];
        if (p->voter && (p == r->self || p->recent_active)) active++;
        p->recent_active = false;
    }
    return active >= raft_quorum(r);
}

void raft_tick_heartbeat(struct raft *r)
{
    if (r->cfg.check_quorum && r->now_ms >= r->check_quorum_due_ms) {
        r->check_quorum_due_ms = r->now_ms + raft_election_timeout_ms(r);
        if (!check_quorum(r)) {
            raft_become_follower(r, r->term, 0); /* lost touch with a quorum: step down */
            return;
        }
    }
    if (r->now_ms < r->heartbeat_due_ms) return;
    r->heartbeat_due_ms = r->now_ms + r->cfg.heartbeat_interval_ms;
    for (uint32_t i = 0; i < r->n_members; i++)
        if (&r->members[i] != r->self) heartbeat_one(r, &r->members[i]);
}

void raft_maybe_commit(struct raft *r)
{
    uint64_t m[RAFT_MEMBERS_MAX];
    uint32_t k = 0;
    for (uint32_t i = 0; i < r->n_members; i++) {
        struct raft_member *p = &r->members[i];
        if (!p->voter) continue;
        uint64_t v = p == r->self ? r->persisted_index : p->match;
        uint32_t j = k++;
        for (; j > 0 && m[j - 1] < v; j--) m[j] = m[j - 1]; /* descending insertion sort */
        m[j] = v;
    }
    uint64_t c = m[raft_quorum(r) - 1];
    if (c > r->commit && raft_log_term(&r->log, c) == r->term) r->commit = c;
}

/* ------------------------------------------------------------------------------ follower */

static void append_reject(struct raft *r, const struct raft_msg *m, uint64_t prev)
{
    struct raft_msg resp = {.type = RAFT_MSG_APPEND_RESP, .to = m->from, .term = r->term,
                            .reject = true, .index = m->prev_index};
    uint64_t last = raft_log_last(&r->log);
    if (prev > last) {
        resp.hint_index = last + 1;
    } else {
        uint64_t t = raft_log_term(&r->log, prev), i = prev;
        while (i - 1 > r->commit && raft_log_term(&r->log, i - 1) == t) i--;
        resp.hint_term = t;
        resp.hint_index = i;
    }
    raft_send(r, &resp);
}

/* Appends what is new in ents[0..n) (after prev), cutting a conflicting suffix first.  Returns
 * how many of them the log now holds. */
static uint32_t append_new(struct raft *r, const struct raft_entry *ents, uint32_t n)
{
    uint32_t i = 0;
    for (; i < n; i++) {
        uint64_t t = raft_log_term(&r->log, ents[i].index);
        if (t == UINT64_MAX) break; /* beyond our last */
        if (t == ents[i].term) continue;
        raft_mark_truncated(r, ents[i].index);
        raft_log_truncate_from(&r->log, ents[i].index);
        break;
    }
    for (; i < n; i++) {
        const struct raft_entry *e = &ents[i];
        if (raft_log_append(&r->log, e->term, e->type, e->data, e->len)) break;
    }
    return i;
}

void raft_handle_append(struct raft *r, const struct raft_msg *m)
{
    r->leader = m->from;
    r->leader_heard_ms = r->now_ms;
    raft_reset_election_timer(r);
    uint64_t prev = m->prev_index, prev_term = m->prev_term;
    const struct raft_entry *ents = m->entries;
    uint32_t n = m->n_entries;
    struct raft_msg resp = {.type = RAFT_MSG_APPEND_RESP, .to = m->from, .term = r->term};
    if (prev + n <= r->commit) { /* all of it is committed here already */
        resp.index = r->commit;
        raft_send(r, &resp);
        return;
    }
    if (prev < r->commit) { /* skip the committed part: it matches by Log Matching */
        ents += r->commit - prev;
        n -= (uint32_t)(r->commit - prev);
        prev = r->commit;
        prev_term = raft_log_term(&r->log, prev);
    }
    if (raft_log_term(&r->log, prev) != prev_term) {
        append_reject(r, m, prev);
        return;
    }
    uint64_t last_new = prev + append_new(r, ents, n);
    r->commit = GR_MAX(r->commit, GR_MIN(m->commit, last_new));
    resp.index = last_new;
    raft_send(r, &resp); /* held until the appended entries are durable */
}

void raft_handle_heartbeat(struct raft *r, const struct raft_msg *m)
{
    r->leader = m->from;
    r->leader_heard_ms = r->now_ms;
    raft_reset_election_timer(r);
    r->commit = GR_MAX(r->commit, GR_MIN(m->commit, raft_log_last(&r->log)));
    /* index: our last entry, so that a leader learns when a follower lost its log (a
     * replaced disk) and brings it back with a snapshot instead of trusting its old match */
    struct raft_msg resp = {.type = RAFT_MSG_HEARTBEAT_RESP, .to = m->from, .term = r->term,
                            .index = raft_log_last(&r->log)};
    raft_send(r, &resp);
}

/* ------------------------------------------------------------------------------ leader */

static uint64_t backoff_next(struct raft *r, const struct raft_msg *m)
{
    uint64_t next = m->hint_index;
    if (m->hint_term) {
        uint64_t i = raft_log_last_of_term(&r->log, m->hint_term, m->index);
        if (i) next = i + 1;
    }
    return GR_MIN(next, m->index);
}

void raft_handle_append_resp(struct raft *r, const struct raft_msg *m)
{
    struct raft_member *p = raft_member_find(r, m->from);
    if (m->index > raft_log_last(&r->log)) return; /* not from this term's log: ignore */
    if (m->reject) {
        if (p->state == RAFT_PR_SNAPSHOT) return;
        if (p->state == RAFT_PR_REPLICATE && m->index <= p->match) return; /* stale */
        if (p->state == RAFT_PR_PROBE && m->index != p->next - 1) return;   /* stale */
        progress_reset(r, p, RAFT_PR_PROBE, backoff_next(r, m));
        raft_send_appends(r, p);
        return;
    }
    if (m->index > p->match) {
        p->match = m->index;
        p->last_ack_ms = r->now_ms;
    }
    uint32_t k = 0;
    for (uint32_t i = 0; i < p->inflight_n; i++)
        if (p->inflight[i] > m->index) p->inflight[k++] = p->inflight[i];
    p->inflight_n = k;
    if (p->state == RAFT_PR_PROBE ||
        (p->state == RAFT_PR_SNAPSHOT && p->match >= p->snapshot_index))
        progress_reset(r, p, RAFT_PR_REPLICATE, p->match + 1);
    else
        p->next = GR_MAX(p->next, p->match + 1);
    raft_maybe_commit(r);
    raft_transfer_check(r, p);
    raft_send_appends(r, p);
}

void raft_handle_heartbeat_resp(struct raft *r, const struct raft_msg *m)
{
    struct raft_member *p = raft_member_find(r, m->from);
    if (m->index < p->match && p->state == RAFT_PR_REPLICATE && p->inflight_n == 0) {
        /* The follower has less than it acknowledged: its log was lost.  Lowering match only
         * slows commitment (commit never goes back); probing from its real end resends what
         * it lacks, or a snapshot. */
        p->match = m->index;
        progress_reset(r, p, RAFT_PR_PROBE, m->index + 1);
    }
    if (p->state == RAFT_PR_PROBE) p->paused = false;
    raft_send_appends(r, p);
}

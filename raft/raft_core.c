/*
 * raft_core.c — the core's entry points: creation, tick, step (dispatch by role), propose,
 * status.  Elections, replication, snapshots and transfer live in raft_core_*.c; the ready
 * batch and the message outbox in raft_core_ready.c / raft_core_outbox.c.
 */
#include "raft/raft_int.h"

#include <stdlib.h>
#include <string.h>

const char *raft_strerror(int err)
{
    switch (err) {
    case RAFT_ENOTLEADER: return "not the leader";
    case RAFT_ETRANSFER: return "leadership transfer in progress";
    default: return gr_strerror(err);
    }
}

const char *raft_role_name(enum raft_role role)
{
    static const char *names[] = {"follower", "precandidate", "candidate", "leader"};
    return (unsigned)role < GR_ARRAY_LEN(names) ? names[role] : "?";
}

const char *raft_msg_type_name(enum raft_msg_type t)
{
    static const char *names[] = {"?",           "PREVOTE",  "PREVOTE_RESP",   "VOTE",
                                  "VOTE_RESP",   "APPEND",   "APPEND_RESP",    "HEARTBEAT",
                                  "HEARTBEAT_RESP", "SNAPSHOT", "TIMEOUT_NOW"};
    return (unsigned)t < GR_ARRAY_LEN(names) ? names[t] : "?";
}

void raft_config_defaults(struct raft_config *c)
{
    memset(c, 0, sizeof *c);
    c->election_timeout_ms = 1000;
    c->heartbeat_interval_ms = 100;
    c->append_entries_max = 64;
    c->append_bytes_max = 1u << 20;
    c->inflight_max = 8;
    c->uncommitted_max = 4096;
    c->msgs_max = 4096;
    c->entry_bytes_max = 1u << 20;
    c->snapshot_threshold = 0;
    c->pre_vote = true;
    c->check_quorum = true;
}

/* ------------------------------------------------------------------------------ helpers */

struct raft_member *raft_member_find(struct raft *r, uint32_t id)
{
    for (uint32_t i = 0; i < r->n_members; i++)
        if (r->members[i].id == id) return &r->members[i];
    return NULL;
}

int64_t raft_election_timeout_ms(const struct raft *r)
{
    return r->cfg.election_timeout_ms;
}

uint32_t raft_quorum(const struct raft *r)
{
    return r->n_voters / 2 + 1;
}

/* A node that has heard from a live leader within an election timeout ignores (pre)votes from
 * would-be candidates: this is what keeps a partitioned node from disrupting the quorum. */
bool raft_in_lease(const struct raft *r)
{
    if (!r->cfg.check_quorum || r->leader == 0) return false;
    if (r->role == RAFT_LEADER) return true;
    return r->now_ms - r->leader_heard_ms < raft_election_timeout_ms(r);
}

/* ------------------------------------------------------------------------------ lifecycle */

static int config_check(const struct raft_config *c)
{
    if (c->id == 0 || c->n_voters == 0) return GR_EINVAL;
    if (c->n_voters + c->n_observers > RAFT_MEMBERS_MAX) return GR_EINVAL;
    if (c->heartbeat_interval_ms == 0 || c->heartbeat_interval_ms >= c->election_timeout_ms)
        return GR_EINVAL;
    if (c->inflight_max == 0 || c->inflight_max > RAFT_INFLIGHT_MAX) return GR_EINVAL;
    if (c->append_entries_max == 0 || c->append_entries_max > RAFT_APPEND_ENTRIES_MAX ||
        c->msgs_max == 0 || c->uncommitted_max == 0)
        return GR_EINVAL;
    if (c->entry_bytes_max == 0 || c->entry_bytes_max > RAFT_ENTRY_BYTES_MAX) return GR_EINVAL;
    return 0;
}

static int members_init(struct raft *r, const struct raft_config *c)
{
    for (uint32_t i = 0; i < c->n_voters + c->n_observers; i++) {
        bool voter = i < c->n_voters;
        uint32_t id = voter ? c->voters[i] : c->observers[i - c->n_voters];
        if (id == 0 || raft_member_find(r, id)) return GR_EINVAL;
        struct raft_member *m = &r->members[r->n_members++];
        m->id = id;
        m->voter = voter;
        r->n_voters += voter;
    }
    r->self = raft_member_find(r, c->id);
    return r->self ? 0 : GR_EINVAL;
}

static int restore_apply(struct raft *r, const struct raft_restore *rs)
{
    r->term = rs->hard_state.term;
    r->vote = rs->hard_state.vote;
    if (rs->snapshot && rs->snapshot->index > 0) {
        int err = raft_copy_snapshot(&r->snap, rs->snapshot);
        if (err) return err;
        raft_log_reset(&r->log, r->snap.index, r->snap.term);
        r->commit = r->applied = r->snap.index;
    }
    for (size_t i = 0; i < rs->n_entries; i++) {
        const struct raft_entry *e = &rs->entries[i];
        if (e->index != raft_log_last(&r->log) + 1 || e->term < 1 || e->term > r->term ||
            e->term < raft_log_term(&r->log, raft_log_last(&r->log)))
            return GR_EINVAL;
        int err = raft_log_append(&r->log, e->term, e->type, e->data, e->len);
        if (err) return err;
    }
    return 0;
}

struct raft *raft_new(const struct raft_config *cfg, const struct raft_restore *restore,
                      int *err)
{
    *err = config_check(cfg);
    if (*err) return NULL;
    struct raft *r = calloc(1, sizeof *r);
    if (!r) {
        *err = GR_ENOMEM;
        return NULL;
    }
    r->cfg = *cfg;
    r->cfg.voters = r->cfg.observers = NULL; /* copied into members */
    r->prng = cfg->prng_seed ^ ((uint64_t)cfg->id << 32);
    raft_log_init(&r->log);
    r->held = calloc(cfg->msgs_max, sizeof *r->held);
    r->out = calloc(cfg->msgs_max, sizeof *r->out);
    if (!r->held || !r->out) *err = GR_ENOMEM;
    if (!*err) *err = members_init(r, cfg);
    if (!*err && restore) *err = restore_apply(r, restore);
    if (*err) {
        raft_free(r);
        return NULL;
    }
    r->unstable_from = raft_log_last(&r->log) + 1;
    r->persisted_index = raft_log_last(&r->log);
    r->role = RAFT_FOLLOWER;
    raft_reset_election_timer(r);
    return r;
}

void raft_free(struct raft *r)
{
    if (!r) return;
    raft_outbox_close(r);
    free(r->held);
    free(r->out);
    free(r->snap.data);
    raft_log_close(&r->log);
    free(r);
}

/* ------------------------------------------------------------------------------ inputs */

int raft_tick(struct raft *r, int64_t now_ms)
{
    assert(!r->in_ready);
    if (now_ms < r->now_ms) return GR_EINVAL;
    r->now_ms = now_ms;
    if (r->role == RAFT_LEADER) {
        raft_tick_heartbeat(r);
        raft_tick_transfer(r);
    } else {
        raft_tick_election(r);
    }
    return 0;
}

/* Network input is validated, never asserted on. */
static int msg_check(const struct raft *r, const struct raft_msg *m)
{
    if (m->to != r->cfg.id || m->from == r->cfg.id) return GR_EINVAL;
    if (m->type < RAFT_MSG_PREVOTE || m->type > RAFT_MSG_TIMEOUT_NOW) return GR_EINVAL;
    if (m->n_entries > 0 && (m->type != RAFT_MSG_APPEND || !m->entries)) return GR_EINVAL;
    uint64_t t = m->prev_term;
    for (uint32_t i = 0; i < m->n_entries; i++) {
        const struct raft_entry *e = &m->entries[i];
        if (e->index != m->prev_index + 1 + i || e->term < t || e->term > m->term ||
            e->term == 0 || (e->len && !e->data) || e->len > r->cfg.entry_bytes_max)
            return GR_EINVAL;
        t = e->term;
    }
    if (m->type == RAFT_MSG_SNAPSHOT &&
        (m->snapshot.index == 0 || m->snapshot.term == 0 || m->snapshot.term > m->term ||
         m->snapshot.n_voters > RAFT_MEMBERS_MAX || (m->snapshot.len && !m->snapshot.data)))
        return GR_EINVAL;
    return 0;
}

/* A message from a leader of a newer term (as opposed to a campaign message). */
static bool from_leader(const struct raft_msg *m)
{
    return m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_HEARTBEAT ||
           m->type == RAFT_MSG_SNAPSHOT || m->type == RAFT_MSG_TIMEOUT_NOW;
}

/* Returns true if m should be processed further. */
static bool step_term(struct raft *r, const struct raft_msg *m)
{
    if (m->term > r->term) {
        bool campaign = m->type == RAFT_MSG_VOTE || m->type == RAFT_MSG_PREVOTE;
        if (campaign && !m->force && raft_in_lease(r)) return false;
        if (m->type == RAFT_MSG_PREVOTE) return true;
        if (m->type == RAFT_MSG_PREVOTE_RESP && !m->reject) return true;
        raft_become_follower(r, m->term, from_leader(m) ? m->from : 0);
        return true;
    }
    if (m->term < r->term) {
        /* A stale leader (or a node rejoining after a partition) learns the new term from
         * the answer; a stale pre-candidate learns it from the rejection. */
        if (m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_HEARTBEAT ||
            m->type == RAFT_MSG_SNAPSHOT) {
            struct raft_msg resp = {.type = RAFT_MSG_APPEND_RESP, .to = m->from,
                                    .term = r->term, .reject = true, .index = m->prev_index};
            raft_send(r, &resp);
        } else if (m->type == RAFT_MSG_PREVOTE) {
            struct raft_msg resp = {.type = RAFT_MSG_PREVOTE_RESP, .to = m->from,
                                    .term = r->term, .reject = true};
            raft_send(r, &resp);
        }
        return false;
    }
    return true;
}

static void step_leader(struct raft *r, const struct raft_msg *m)
{
    struct raft_member *p = raft_member_find(r, m->from);
    p->recent_active = true;
    switch (m->type) {
    case RAFT_MSG_APPEND_RESP: raft_handle_append_resp(r, m); break;
    case RAFT_MSG_HEARTBEAT_RESP: raft_handle_heartbeat_resp(r, m); break;
    default: break; /* same-term APPEND etc. cannot come from another leader */
    }
}

static void step_other(struct raft *r, const struct raft_msg *m)
{
    if (from_leader(m) && r->role != RAFT_FOLLOWER) raft_become_follower(r, m->term, m->from);
    switch (m->type) {
    case RAFT_MSG_APPEND: raft_handle_append(r, m); break;
    case RAFT_MSG_HEARTBEAT: raft_handle_heartbeat(r, m); break;
    case RAFT_MSG_SNAPSHOT: raft_handle_snapshot(r, m); break;
    case RAFT_MSG_TIMEOUT_NOW: raft_handle_timeout_now(r, m); break;
    case RAFT_MSG_PREVOTE_RESP:
    case RAFT_MSG_VOTE_RESP: raft_handle_vote_resp(r, m); break;
    default: break;
    }
}

int raft_step(struct raft *r, const struct raft_msg *m)
{
    assert(!r->in_ready);
    int err = msg_check(r, m);
    if (err) return err;
    if (!raft_member_find(r, m->from)) return GR_EINVAL;
    if (!step_term(r, m)) return 0;
    if (m->type == RAFT_MSG_VOTE || m->type == RAFT_MSG_PREVOTE) {
        raft_handle_vote(r, m);
        return 0;
    }
    if (r->role == RAFT_LEADER)
        step_leader(r, m);
    else
        step_other(r, m);
    return 0;
}

int raft_propose(struct raft *r, const void *data, size_t len, struct raft_propose_result *res)
{
    assert(!r->in_ready);
    memset(res, 0, sizeof *res);
    if (r->role != RAFT_LEADER) {
        res->leader_id = r->leader;
        return RAFT_ENOTLEADER;
    }
    res->leader_id = r->cfg.id;
    if (r->transferee) return RAFT_ETRANSFER;
    if (len > r->cfg.entry_bytes_max) return GR_ERANGE;
    if (raft_log_last(&r->log) - r->commit >= r->cfg.uncommitted_max) return GR_EAGAIN;
    int err = raft_log_append(&r->log, r->term, RAFT_ENTRY_NORMAL, data, (uint32_t)len);
    if (err) return err;
    res->index = raft_log_last(&r->log);
    res->term = r->term;
    raft_bcast_append(r);
    return 0;
}

/* ------------------------------------------------------------------------------ inspection */

void raft_status(const struct raft *r, struct raft_status *st)
{
    memset(st, 0, sizeof *st);
    st->id = r->cfg.id;
    st->role = r->role;
    st->term = r->term;
    st->vote = r->vote;
    st->leader_id = r->leader;
    st->voter = r->self->voter;
    st->snapshot_index = r->log.offset;
    st->first_index = r->log.offset + 1;
    st->last_index = raft_log_last(&r->log);
    st->last_term = raft_log_term(&r->log, st->last_index);
    st->commit = r->commit;
    st->applied = r->applied;
    st->persisted_index = r->persisted_index;
    st->transferee = r->transferee;
    st->msgs_dropped = r->msgs_dropped;
}

const struct raft_entry *raft_entry_at(const struct raft *r, uint64_t index)
{
    return raft_log_get(&r->log, index);
}

int raft_member_progress(const struct raft *r, uint32_t id, uint64_t *match_index)
{
    *match_index = 0;
    for (uint32_t i = 0; i < r->n_members; i++) {
        if (r->members[i].id != id) continue;
        if (r->role == RAFT_LEADER)
            *match_index = id == r->cfg.id ? r->persisted_index : r->members[i].match;
        return 0;
    }
    return GR_ENOENT;
}

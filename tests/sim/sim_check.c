/*
 * sim_check.c — the safety checkers.
 *
 *   election safety     at most one leader per term (checked after every event)
 *   leader completeness a new leader of term T holds every entry committed in a term < T
 *   state-machine safety every node applies the same entries in the same order: each applied
 *                       entry is compared with one global committed sequence
 *   log matching        two logs with the same (index, term) agree on everything before it
 *   durability          no vote or acknowledgement leaves a node before the term, vote and
 *                       entries it promises are on its simulated disk (checked on every send);
 *                       what was committed is applied by every node at the end (sim_run.c)
 */
#include "tests/sim/sim.h"

#include <stdlib.h>
#include <string.h>

static uint64_t entry_id(const struct raft_entry *e)
{
    uint64_t id = 0;
    for (uint32_t i = 0; i < e->len && i < 8; i++) id |= (uint64_t)e->data[i] << (8 * i);
    return id;
}

void sim_check_apply(struct sim *s, struct sim_node *n, const struct raft_entry *e)
{
    uint64_t i = e->index;
    if (i <= s->glob_n) {
        const struct sim_glob *g = &s->glob[i - 1];
        if (g->term != e->term || g->type != e->type || g->id != entry_id(e) ||
            g->hash_after != n->hash)
            sim_fail(s, "state-machine safety",
                     "n%u applied index %llu term %llu id %llu, others applied term %llu id %llu",
                     n->id, (unsigned long long)i, (unsigned long long)e->term,
                     (unsigned long long)entry_id(e), (unsigned long long)g->term,
                     (unsigned long long)g->id);
        return;
    }
    if (i != s->glob_n + 1) {
        sim_fail(s, "state-machine safety", "n%u applied index %llu beyond the committed %zu",
                 n->id, (unsigned long long)i, s->glob_n);
        return;
    }
    if (s->glob_n == s->glob_cap) {
        s->glob_cap = s->glob_cap ? s->glob_cap * 2 : 256;
        s->glob = realloc(s->glob, s->glob_cap * sizeof *s->glob);
        if (!s->glob) abort();
    }
    struct raft_status st;
    raft_status(n->r, &st);
    s->glob[s->glob_n++] = (struct sim_glob){.term = e->term, .type = e->type, .id = entry_id(e),
                                             .hash_after = n->hash, .commit_term = st.term};
    if (e->type == RAFT_ENTRY_NORMAL && entry_id(e) >= s->marker_id && !s->marker_index)
        s->marker_index = i;
}

void sim_check_restore(struct sim *s, struct sim_node *n, uint64_t index, uint64_t hash)
{
    if (index == 0) return;
    if (index > s->glob_n || s->glob[index - 1].hash_after != hash)
        sim_fail(s, "state-machine safety",
                 "n%u restored a snapshot at %llu that differs from the committed sequence (%zu)",
                 n->id, (unsigned long long)index, s->glob_n);
}

static void check_completeness(struct sim *s, struct sim_node *n, uint64_t term)
{
    struct raft_status st;
    raft_status(n->r, &st);
    for (size_t i = st.snapshot_index + 1; i <= s->glob_n; i++) {
        const struct sim_glob *g = &s->glob[i - 1];
        if (g->commit_term >= term) continue;
        const struct raft_entry *e = raft_entry_at(n->r, i);
        if (!e || e->term != g->term || e->type != g->type || entry_id(e) != g->id) {
            sim_fail(s, "leader completeness",
                     "n%u leader of term %llu lacks committed index %zu (term %llu)", n->id,
                     (unsigned long long)term, i, (unsigned long long)g->term);
            return;
        }
    }
}

void sim_check_leaders(struct sim *s, struct sim_node *n)
{
    if (!n->up) return;
    struct raft_status st;
    raft_status(n->r, &st);
    if (st.role != RAFT_LEADER) return;
    if (st.term >= s->term_leader_cap) {
        size_t cap = s->term_leader_cap ? s->term_leader_cap : 64;
        while (cap <= st.term) cap *= 2;
        s->term_leader = realloc(s->term_leader, cap * sizeof *s->term_leader);
        if (!s->term_leader) abort();
        memset(s->term_leader + s->term_leader_cap, 0,
               (cap - s->term_leader_cap) * sizeof *s->term_leader);
        s->term_leader_cap = cap;
    }
    uint32_t *l = &s->term_leader[st.term];
    if (*l == n->id) return;
    if (*l) {
        sim_fail(s, "election safety", "two leaders in term %llu: n%u and n%u",
                 (unsigned long long)st.term, *l, n->id);
        return;
    }
    *l = n->id;
    s->elections++;
    sim_trace(s, "n%u became LEADER of term %llu (last %llu)", n->id,
              (unsigned long long)st.term, (unsigned long long)st.last_index);
    check_completeness(s, n, st.term);
}

static void check_pair(struct sim *s, struct sim_node *a, struct sim_node *b)
{
    struct raft_status sa, sb;
    raft_status(a->r, &sa);
    raft_status(b->r, &sb);
    uint64_t lo = GR_MAX(sa.first_index, sb.first_index);
    uint64_t hi = GR_MIN(sa.last_index, sb.last_index);
    bool matched = false;
    for (uint64_t i = hi; i >= lo && i > 0; i--) {
        const struct raft_entry *ea = raft_entry_at(a->r, i), *eb = raft_entry_at(b->r, i);
        bool same_term = ea->term == eb->term;
        if (!matched && same_term) matched = true;
        if (matched && (!same_term || ea->type != eb->type || entry_id(ea) != entry_id(eb))) {
            sim_fail(s, "log matching", "n%u and n%u agree at a later index but differ at %llu",
                     a->id, b->id, (unsigned long long)i);
            return;
        }
    }
}

void sim_check_log_matching(struct sim *s)
{
    for (uint32_t i = 0; i < s->n_nodes; i++)
        for (uint32_t j = i + 1; j < s->n_nodes; j++)
            if (s->nodes[i].up && s->nodes[j].up) check_pair(s, &s->nodes[i], &s->nodes[j]);
}

void sim_check_close(struct sim *s)
{
    free(s->glob);
    free(s->term_leader);
    s->glob = NULL;
    s->term_leader = NULL;
}

/* The ordering contract, checked against the simulated disk rather than trusted. */
void sim_check_send(struct sim *s, struct sim_node *n, const struct raft_msg *m)
{
    const struct sim_disk *d = &n->disk;
    bool pre = m->type == RAFT_MSG_PREVOTE || m->type == RAFT_MSG_PREVOTE_RESP;
    if (!pre && m->term > d->hs.term) {
        sim_fail(s, "durability", "n%u sent %s for term %llu with term %llu on disk", n->id,
                 raft_msg_type_name(m->type), (unsigned long long)m->term,
                 (unsigned long long)d->hs.term);
        return;
    }
    uint32_t voted = 0;
    if (m->type == RAFT_MSG_VOTE) voted = n->id;
    if (m->type == RAFT_MSG_VOTE_RESP && !m->reject) voted = m->to;
    if (voted && d->hs.term == m->term && d->hs.vote != voted)
        sim_fail(s, "durability", "n%u sent %s (vote n%u, term %llu) with vote n%u on disk",
                 n->id, raft_msg_type_name(m->type), voted, (unsigned long long)m->term,
                 d->hs.vote);
    if (m->type == RAFT_MSG_APPEND_RESP && !m->reject) {
        uint64_t last = d->n ? d->ents[d->n - 1].index : d->snap.index;
        if (m->index > last)
            sim_fail(s, "durability", "n%u acknowledged index %llu with %llu on disk", n->id,
                     (unsigned long long)m->index, (unsigned long long)last);
    }
}

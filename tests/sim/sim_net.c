/*
 * sim_net.c — the simulated network: per-message loss, delay (hence reordering), duplication,
 * and directed link cuts (a partition is a set of cut links, so one-way cuts come for free).
 * A message is dropped if its link is cut when it is sent or when it would arrive.
 */
#include "tests/sim/sim.h"

#include <stdlib.h>
#include <string.h>

struct raft_msg *sim_msg_copy(const struct raft_msg *m)
{
    struct raft_msg *c = malloc(sizeof *c);
    if (!c) abort();
    *c = *m;
    c->entries = NULL;
    c->snapshot.data = NULL;
    if (m->n_entries) {
        c->entries = malloc(m->n_entries * sizeof *c->entries);
        if (!c->entries) abort();
        for (uint32_t i = 0; i < m->n_entries; i++) {
            c->entries[i] = m->entries[i];
            if (m->entries[i].len) {
                c->entries[i].data = malloc(m->entries[i].len);
                if (!c->entries[i].data) abort();
                memcpy(c->entries[i].data, m->entries[i].data, m->entries[i].len);
            }
        }
    }
    if (m->snapshot.len) {
        c->snapshot.data = malloc(m->snapshot.len);
        if (!c->snapshot.data) abort();
        memcpy(c->snapshot.data, m->snapshot.data, m->snapshot.len);
    }
    return c;
}

void sim_msg_free(struct raft_msg *m)
{
    for (uint32_t i = 0; i < m->n_entries; i++) free(m->entries[i].data);
    free(m->entries);
    free(m->snapshot.data);
    free(m);
}

uint32_t sim_node_index(const struct sim *s, uint32_t id)
{
    for (uint32_t i = 0; i < s->n_nodes; i++)
        if (s->ids[i] == id) return i;
    abort();
}

static int64_t delay_us(struct sim *s)
{
    int64_t d = (int64_t)sim_range(&s->prng, (uint64_t)s->delay_min_us, (uint64_t)s->delay_max_us);
    if (sim_chance(&s->prng, 5)) d += (int64_t)sim_range(&s->prng, 0, 200000); /* a straggler */
    return d;
}

void sim_net_send(struct sim *s, const struct raft_msg *m)
{
    uint32_t from = sim_node_index(s, m->from), to = sim_node_index(s, m->to);
    if (s->blocked[from][to] || sim_chance(&s->prng, s->loss_pm)) {
        sim_trace(s, "n%u -> n%u %s t%llu DROPPED", m->from, m->to, raft_msg_type_name(m->type),
                  (unsigned long long)m->term);
        return;
    }
    int copies = sim_chance(&s->prng, s->dup_pm) ? 2 : 1;
    for (int i = 0; i < copies; i++)
        sim_schedule(s, s->now_us + delay_us(s), SIM_EV_DELIVER, to, sim_msg_copy(m));
}

void sim_net_deliver(struct sim *s, struct sim_event *ev)
{
    struct raft_msg *m = ev->msg;
    struct sim_node *n = &s->nodes[ev->node];
    uint32_t from = sim_node_index(s, m->from);
    if (n->up && !s->blocked[from][ev->node]) {
        sim_trace(s, "n%u -> n%u %s t%llu prev=%llu/%llu n=%u idx=%llu rej=%d hint=%llu/%llu c=%llu",
                  m->from, m->to, raft_msg_type_name(m->type), (unsigned long long)m->term,
                  (unsigned long long)m->prev_index, (unsigned long long)m->prev_term,
                  m->n_entries, (unsigned long long)m->index, m->reject,
                  (unsigned long long)m->hint_index, (unsigned long long)m->hint_term,
                  (unsigned long long)m->commit);
        int err = raft_step(n->r, m);
        if (err) sim_fail(s, "step", "n%u rejected a well-formed %s: %s", n->id,
                          raft_msg_type_name(m->type), raft_strerror(err));
        sim_node_process(s, n);
    }
    sim_msg_free(m);
    ev->msg = NULL;
}

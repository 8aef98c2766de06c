/*
 * sim_run.c — one simulated run: set-up from the seed, the chaos phase (clients propose while
 * faults are injected), then the heal (every node up, every link back, no loss) and the
 * liveness phase: a leader must emerge and a new proposal must be applied by every node within
 * a bounded simulated time.
 */
#include "tests/sim/sim.h"

#include <stdlib.h>
#include <string.h>

#define SIM_MARKER_ID (1ull << 62)

static void setup(struct sim *s, const struct sim_opts *o)
{
    static const uint32_t voter_choices[] = {1, 3, 5};
    uint32_t voters = o->nodes ? o->nodes : voter_choices[sim_range(&s->prng, 0, 2)];
    uint32_t observers = (uint32_t)sim_range(&s->prng, 0, 2);
    if (voters + observers > SIM_NODES_MAX) observers = SIM_NODES_MAX - voters;
    s->n_nodes = voters + observers;
    s->n_voters = voters;
    for (uint32_t i = 0; i < s->n_nodes; i++) s->ids[i] = i + 1;

    struct raft_config *c = &s->cfg;
    raft_config_defaults(c);
    c->voters = s->ids;
    c->n_voters = voters;
    c->observers = s->ids + voters;
    c->n_observers = observers;
    c->election_timeout_ms = (uint32_t)sim_range(&s->prng, 80, 200);
    c->heartbeat_interval_ms = c->election_timeout_ms / (uint32_t)sim_range(&s->prng, 3, 8);
    c->append_entries_max = (uint32_t)sim_range(&s->prng, 4, 64);
    c->append_bytes_max = (uint32_t)sim_range(&s->prng, 64, 1024); /* entries are 8 bytes */
    c->inflight_max = (uint32_t)sim_range(&s->prng, 1, 8);
    c->uncommitted_max = (uint32_t)sim_range(&s->prng, 8, 256);
    c->msgs_max = (uint32_t)sim_range(&s->prng, 16, 512);
    c->pre_vote = sim_chance(&s->prng, 850);
    c->check_quorum = sim_chance(&s->prng, 850);

    for (uint32_t i = 0; i < s->n_nodes; i++) {
        struct sim_node *n = &s->nodes[i];
        n->id = s->ids[i];
        n->voter = i < voters;
        n->tick_us = (int64_t)sim_range(&s->prng, 2000, 10000);
        n->snap_every = sim_chance(&s->prng, 600) ? sim_range(&s->prng, 3, 60) : 0;
    }
    s->delay_min_us = (int64_t)sim_range(&s->prng, 100, 2000);
    s->delay_max_us = s->delay_min_us + (int64_t)sim_range(&s->prng, 1000, 40000);
    s->loss_pm = sim_chance(&s->prng, 500) ? (uint32_t)sim_range(&s->prng, 0, 200) : 0;
    s->dup_pm = sim_chance(&s->prng, 500) ? (uint32_t)sim_range(&s->prng, 0, 100) : 0;
    s->chaos = true;
    s->heal_at_us = (int64_t)sim_range(&s->prng, 1000, 3000) * 1000;
    s->deadline_us = s->heal_at_us + 40 * (int64_t)c->election_timeout_ms * 1000;
    s->marker_id = SIM_MARKER_ID;
}

/* ------------------------------------------------------------------------------ clients */

static struct sim_node *random_up(struct sim *s)
{
    for (int tries = 0; tries < 4; tries++) {
        struct sim_node *n = &s->nodes[sim_range(&s->prng, 0, s->n_nodes - 1)];
        if (n->up) return n;
    }
    return NULL;
}

static void client(struct sim *s)
{
    struct sim_node *n = random_up(s);
    if (!n) return;
    uint64_t id = ++s->next_id + (s->chaos ? 0 : s->marker_id);
    uint8_t data[8];
    for (int i = 0; i < 8; i++) data[i] = (uint8_t)(id >> (8 * i));
    struct raft_propose_result res;
    int err = raft_propose(n->r, data, sizeof data, &res);
    if (err == RAFT_ENOTLEADER && res.leader_id) { /* follow the hint once */
        struct sim_node *l = &s->nodes[sim_node_index(s, res.leader_id)];
        if (l->up) {
            n = l;
            err = raft_propose(n->r, data, sizeof data, &res);
        }
    }
    sim_trace(s, "client propose id %llu at n%u: %s (index %llu)", (unsigned long long)id, n->id,
              err ? raft_strerror(err) : "ok", (unsigned long long)res.index);
    sim_node_process(s, n);
}

/* ------------------------------------------------------------------------------ faults */

static void cut(struct sim *s, uint32_t a, uint32_t b)
{
    if (a != b) s->blocked[a][b] = true;
}

static void heal_links(struct sim *s)
{
    memset(s->blocked, 0, sizeof s->blocked);
}

static void fault(struct sim *s)
{
    uint32_t k = (uint32_t)sim_range(&s->prng, 0, 99), n = s->n_nodes;
    uint32_t a = (uint32_t)sim_range(&s->prng, 0, n - 1), b = (uint32_t)sim_range(&s->prng, 0, n - 1);
    if (k < 20) {
        if (!s->nodes[a].up) return;
        sim_node_crash(s, &s->nodes[a]);
        sim_schedule(s, s->now_us + (int64_t)sim_range(&s->prng, 10, 1500) * 1000,
                     SIM_EV_RESTART, a, NULL);
    } else if (k < 35) {
        for (uint32_t i = 0; i < n; i++) cut(s, a, i), cut(s, i, a);
        sim_trace(s, "partition: n%u isolated", s->ids[a]);
    } else if (k < 50) {
        cut(s, a, b);
        sim_trace(s, "partition: n%u -> n%u cut (one way)", s->ids[a], s->ids[b]);
    } else if (k < 60) {
        uint64_t side = sim_rand(&s->prng);
        for (uint32_t i = 0; i < n; i++)
            for (uint32_t j = 0; j < n; j++)
                if (((side >> i) & 1) != ((side >> j) & 1)) cut(s, i, j);
        sim_trace(s, "partition: split %llx", (unsigned long long)(side & ((1u << n) - 1)));
    } else if (k < 80) {
        heal_links(s);
        sim_trace(s, "partition healed");
    } else if (k < 88) {
        s->loss_pm = (uint32_t)sim_range(&s->prng, 0, 300);
        s->dup_pm = (uint32_t)sim_range(&s->prng, 0, 100);
    } else if (k < 95) {
        struct sim_node *l = &s->nodes[a];
        uint32_t target = sim_chance(&s->prng, 500) ? 0 : s->ids[b];
        if (l->up && raft_transfer_leadership(l->r, target) == 0) {
            sim_trace(s, "n%u transfers leadership to n%u", l->id, target);
            sim_node_process(s, l);
        }
    }
}

static void heal(struct sim *s)
{
    s->chaos = false;
    heal_links(s);
    s->loss_pm = s->dup_pm = 0;
    sim_trace(s, "HEAL: faults stop");
    for (uint32_t i = 0; i < s->n_nodes; i++)
        if (!s->nodes[i].up) sim_node_start(s, &s->nodes[i]);
}

/* ------------------------------------------------------------------------------ loop */

static bool converged(struct sim *s)
{
    if (s->chaos || !s->marker_index) return false;
    for (uint32_t i = 0; i < s->n_nodes; i++)
        if (!s->nodes[i].up || s->nodes[i].applied < s->marker_index) return false;
    return true;
}

static void dispatch(struct sim *s, struct sim_event *ev)
{
    struct sim_node *n = &s->nodes[ev->node];
    bool current = n->up && ev->gen == n->gen;
    switch (ev->type) {
    case SIM_EV_TICK:
        if (!current) break;
        raft_tick(n->r, s->now_us / 1000);
        sim_node_process(s, n);
        sim_schedule(s, s->now_us + n->tick_us, SIM_EV_TICK, ev->node, NULL);
        break;
    case SIM_EV_DELIVER: sim_net_deliver(s, ev); break;
    case SIM_EV_DISK:
        if (current) sim_node_disk_done(s, n);
        break;
    case SIM_EV_CLIENT:
        client(s);
        sim_schedule(s, s->now_us + (int64_t)sim_range(&s->prng, 500, s->chaos ? 20000 : 30000),
                     SIM_EV_CLIENT, 0, NULL);
        break;
    case SIM_EV_FAULT:
        if (!s->chaos) break;
        fault(s);
        sim_schedule(s, s->now_us + (int64_t)sim_range(&s->prng, 30, 400) * 1000, SIM_EV_FAULT,
                     0, NULL);
        break;
    case SIM_EV_RESTART:
        if (s->chaos && !n->up) sim_node_start(s, n);
        break;
    case SIM_EV_HEAL: heal(s); break;
    }
}

static void run_loop(struct sim *s, bool faults)
{
    for (uint32_t i = 0; i < s->n_nodes; i++) sim_node_start(s, &s->nodes[i]);
    sim_schedule(s, (int64_t)sim_range(&s->prng, 1000, 10000), SIM_EV_CLIENT, 0, NULL);
    if (faults) sim_schedule(s, (int64_t)sim_range(&s->prng, 20, 300) * 1000, SIM_EV_FAULT, 0, NULL);
    sim_schedule(s, s->heal_at_us, SIM_EV_HEAL, 0, NULL);
    int64_t next_matching_us = 0;
    struct sim_event ev;
    while (!s->failed && sim_pop(s, &ev)) {
        if (ev.at_us > s->deadline_us) {
            if (ev.msg) sim_msg_free(ev.msg);
            sim_fail(s, "liveness", "no new entry committed and applied everywhere %lld ms "
                     "after the heal (marker index %llu)",
                     (long long)(s->deadline_us - s->heal_at_us) / 1000,
                     (unsigned long long)s->marker_index);
            break;
        }
        s->now_us = ev.at_us;
        s->events++;
        dispatch(s, &ev);
        if (s->now_us >= next_matching_us) {
            sim_check_log_matching(s);
            next_matching_us = s->now_us + 50000;
        }
        if (converged(s)) break;
    }
    if (!s->failed) sim_check_log_matching(s);
}

int sim_run(uint64_t seed, const struct sim_opts *o, char *fail, size_t fail_len,
            uint64_t *events)
{
    struct sim *s = calloc(1, sizeof *s);
    if (!s) abort();
    s->seed = seed;
    s->verbose = o->verbose;
    s->prng.s = seed * 0xD1B54A32D192ED03ull + 0x2545F4914F6CDD1Dull;
    setup(s, o);
    bool faults = !sim_chance(&s->prng, 100);
    if (s->verbose)
        printf("seed %llu: %u voters + %u observers, election %u ms, heartbeat %u ms, "
               "pre_vote %d, check_quorum %d, inflight %u, loss %u/1000, dup %u/1000, "
               "heal at %lld ms, faults %d\n",
               (unsigned long long)seed, s->n_voters, s->n_nodes - s->n_voters,
               s->cfg.election_timeout_ms, s->cfg.heartbeat_interval_ms, s->cfg.pre_vote,
               s->cfg.check_quorum, s->cfg.inflight_max, s->loss_pm, s->dup_pm,
               (long long)s->heal_at_us / 1000, faults);
    run_loop(s, faults);
    if (s->verbose)
        printf("seed %llu: %llu events, %llu crashes, %llu leaders, %zu entries committed, "
               "converged at %.3f ms\n",
               (unsigned long long)seed, (unsigned long long)s->events,
               (unsigned long long)s->crashes, (unsigned long long)s->elections, s->glob_n,
               (double)s->now_us / 1000.0);
    int rc = s->failed ? -1 : 0;
    if (s->failed) strfmt(fail, fail_len, "%s", s->fail);
    *events = s->events;
    sim_heap_close(s);
    for (uint32_t i = 0; i < s->n_nodes; i++) sim_node_close(&s->nodes[i]);
    sim_check_close(s);
    free(s);
    return rc;
}

/*
 * sim.h — internal header of the deterministic Raft simulator (tests/sim).  Not a module
 * header: only the sim_*.c files include it.
 *
 * One PRNG, seeded from the run's seed, drives every choice (delays, loss, faults, clients,
 * and the cores' own PRNG seeds); time is simulated in microseconds; events are ordered by
 * (time, insertion sequence).  So a seed replays exactly.
 */
#ifndef GREGOR_SIM_H
#define GREGOR_SIM_H

#include "raft/raft.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define SIM_NODES_MAX 8
#define SIM_EVENTS_MAX 200000 /* bound on queued events (deliveries dominate) */

/* ------------------------------------------------------------------------------ prng */
struct sim_prng {
    uint64_t s;
};
uint64_t sim_rand(struct sim_prng *p);
uint64_t sim_range(struct sim_prng *p, uint64_t lo, uint64_t hi); /* [lo, hi] */
bool sim_chance(struct sim_prng *p, uint32_t per_mille);

/* ------------------------------------------------------------------------------ events */
enum sim_ev_type { SIM_EV_TICK, SIM_EV_DELIVER, SIM_EV_DISK, SIM_EV_CLIENT, SIM_EV_FAULT,
                   SIM_EV_RESTART, SIM_EV_HEAL };

struct sim_event {
    int64_t at_us;
    uint64_t seq;
    enum sim_ev_type type;
    uint32_t node; /* index into sim.nodes */
    uint64_t gen;  /* node incarnation the event belongs to (TICK, DISK) */
    struct raft_msg *msg; /* DELIVER: owned copy */
};

struct sim_heap {
    struct sim_event *v;
    size_t n;
    size_t cap;
};

/* ------------------------------------------------------------------------------ node */
struct sim_batch {
    uint64_t seq;
    bool hs_changed;
    struct raft_hard_state hs;
    bool has_snap;
    struct raft_snapshot snap;
    uint64_t truncate_from;
    uint64_t compact_to;
    struct raft_entry *ents;
    size_t n;
};

/* The simulated disk: what is durable, and the batches written but not yet synced.  A crash
 * loses every unsynced batch except, sometimes, a prefix (written, but the notice was lost). */
struct sim_disk {
    struct raft_hard_state hs;
    struct raft_snapshot snap;
    struct raft_entry *ents; /* durable, consecutive */
    size_t n;
    size_t cap;
    struct sim_batch *pending;
    size_t n_pending;
    size_t cap_pending;
    bool busy; /* a SIM_EV_DISK is scheduled */
};

struct sim_node {
    uint32_t id;
    bool voter;
    bool up;
    uint64_t gen;
    struct raft *r;
    struct sim_disk disk;
    uint64_t applied; /* the app: index, rolling hash and term of the last applied entry */
    uint64_t hash;
    uint64_t applied_term;
    uint64_t snap_every; /* app snapshot policy: 0 never */
    int64_t tick_us;
};

/* ------------------------------------------------------------------------------ checker */
struct sim_glob {
    uint64_t term;
    uint8_t type;
    uint64_t id;
    uint64_t hash_after;
    uint64_t commit_term; /* >= the term the entry was committed in */
};

struct sim {
    uint64_t seed;
    bool verbose;
    struct sim_prng prng;
    int64_t now_us;
    uint64_t ev_seq;
    struct sim_heap heap;

    uint32_t n_nodes;
    uint32_t n_voters;
    uint32_t ids[SIM_NODES_MAX];
    struct sim_node nodes[SIM_NODES_MAX];
    struct raft_config cfg; /* template; id and seed set per node */

    /* network */
    bool blocked[SIM_NODES_MAX][SIM_NODES_MAX];
    uint32_t loss_pm, dup_pm;
    int64_t delay_min_us, delay_max_us;

    /* phases */
    bool chaos;
    int64_t heal_at_us;
    int64_t deadline_us;
    uint64_t next_id;
    uint64_t marker_id; /* first proposal id of the liveness phase */
    uint64_t marker_index;

    /* checker state */
    struct sim_glob *glob; /* glob[i-1] is entry i of the one committed sequence */
    size_t glob_n;
    size_t glob_cap;
    uint32_t *term_leader;
    size_t term_leader_cap;

    /* stats */
    uint64_t events;
    uint64_t crashes;
    uint64_t elections;

    bool failed;
    char fail[512];
};

uint64_t sim_entry_hash(uint64_t h, const struct raft_entry *e);
void sim_fail(struct sim *s, const char *checker, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void sim_trace(struct sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* sim_heap.c */
void sim_schedule(struct sim *s, int64_t at_us, enum sim_ev_type type, uint32_t node,
                  struct raft_msg *msg);
bool sim_pop(struct sim *s, struct sim_event *ev);
void sim_heap_close(struct sim *s);

/* sim_net.c */
struct raft_msg *sim_msg_copy(const struct raft_msg *m);
void sim_msg_free(struct raft_msg *m);
void sim_net_send(struct sim *s, const struct raft_msg *m);
void sim_net_deliver(struct sim *s, struct sim_event *ev);
uint32_t sim_node_index(const struct sim *s, uint32_t id);

/* sim_node.c */
void sim_node_start(struct sim *s, struct sim_node *n);
void sim_node_crash(struct sim *s, struct sim_node *n);
void sim_node_process(struct sim *s, struct sim_node *n);
void sim_node_disk_done(struct sim *s, struct sim_node *n);
void sim_node_close(struct sim_node *n);
void sim_snapshot_free(struct raft_snapshot *snap);

/* sim_check.c */
void sim_check_apply(struct sim *s, struct sim_node *n, const struct raft_entry *e);
void sim_check_restore(struct sim *s, struct sim_node *n, uint64_t index, uint64_t hash);
void sim_check_leaders(struct sim *s, struct sim_node *n);
void sim_check_log_matching(struct sim *s);
void sim_check_send(struct sim *s, struct sim_node *n, const struct raft_msg *m);
void sim_check_close(struct sim *s);

/* sim_run.c */
struct sim_opts {
    uint32_t nodes; /* 0: vary */
    bool verbose;
};
/* Runs one seed; returns 0 on success, -1 with s->fail set. */
int sim_run(uint64_t seed, const struct sim_opts *o, char *fail, size_t fail_len,
            uint64_t *events);

#endif

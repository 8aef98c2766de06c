/*
 * raft_int.h — private to raft/: the core's state and the functions its files share.
 */
#ifndef GREGOR_RAFT_INT_H
#define GREGOR_RAFT_INT_H

#include "raft/raft.h"

#include <assert.h>

/* ------------------------------------------------------------------------------ PRNG */
/* splitmix64: tiny, seedable, good enough for timeout jitter. */
uint64_t raft_prng_next(uint64_t *state);
uint64_t raft_prng_range(uint64_t *state, uint64_t n); /* [0, n), n > 0 */

/* ------------------------------------------------------------------------------ log */
/* In-memory log: entries (offset, offset + n] in one array; `offset` is the snapshot index and
 * offset_term its term.  Each entry owns its data. */
struct raft_log {
    struct raft_entry *ents;
    size_t n;
    size_t cap;
    uint64_t offset;
    uint64_t offset_term;
};

void raft_log_init(struct raft_log *l);
void raft_log_close(struct raft_log *l);
static inline uint64_t raft_log_last(const struct raft_log *l)
{
    return l->offset + l->n;
}
/* Term at index: 0 for index 0; the snapshot term at offset; UINT64_MAX if unknown. */
uint64_t raft_log_term(const struct raft_log *l, uint64_t index);
static inline const struct raft_entry *raft_log_get(const struct raft_log *l, uint64_t index)
{
    return (index > l->offset && index <= raft_log_last(l)) ? &l->ents[index - l->offset - 1]
                                                             : NULL;
}
int raft_log_append(struct raft_log *l, uint64_t term, uint8_t type, const void *data,
                    uint32_t len);
void raft_log_truncate_from(struct raft_log *l, uint64_t index); /* drops >= index */
void raft_log_compact_to(struct raft_log *l, uint64_t index, uint64_t term); /* drops <= index */
void raft_log_reset(struct raft_log *l, uint64_t index, uint64_t term); /* drops all */
uint64_t raft_log_last_of_term(const struct raft_log *l, uint64_t term, uint64_t max_index);

/* ------------------------------------------------------------------------------ state */
enum raft_progress_state {
    RAFT_PR_PROBE,     /* one APPEND at a time while next is being found */
    RAFT_PR_REPLICATE, /* pipelined APPENDs, up to inflight_max */
    RAFT_PR_SNAPSHOT,  /* a SNAPSHOT is on its way */
};

struct raft_member {
    uint32_t id;
    bool voter;
    /* leader-side progress */
    enum raft_progress_state state;
    uint64_t match;
    uint64_t next;
    bool paused;          /* PROBE: an APPEND is out, wait for its answer or a heartbeat */
    int64_t last_ack_ms;  /* REPLICATE: last progress; a silent pipeline falls back to PROBE */
    bool recent_active;   /* check-quorum: heard from within this election timeout */
    uint32_t inflight_n;  /* REPLICATE: last indexes of APPENDs not yet acknowledged */
    uint64_t inflight[RAFT_INFLIGHT_MAX];
    uint64_t snapshot_index;
    int64_t snapshot_sent_ms;
    /* candidate-side tally */
    bool responded;
    bool granted;
};

struct raft_held {
    struct raft_msg m;
    uint64_t need_seq; /* released once seq_persisted >= need_seq */
};

struct raft_batch {
    uint64_t seq;
    uint64_t last_index; /* log last index once this batch is durable (clamped by truncations) */
};

struct raft {
    struct raft_config cfg;
    struct raft_member members[RAFT_MEMBERS_MAX];
    uint32_t n_members;
    uint32_t n_voters;
    struct raft_member *self;

    enum raft_role role;
    uint64_t term;
    uint32_t vote;
    uint32_t leader;
    struct raft_log log;
    uint64_t commit;
    uint64_t applied;

    /* time */
    int64_t now_ms;
    int64_t election_deadline_ms;
    int64_t leader_heard_ms;
    int64_t heartbeat_due_ms;
    int64_t check_quorum_due_ms;
    uint64_t prng;

    /* persistence bookkeeping */
    bool hs_dirty;
    uint64_t unstable_from;  /* first log index not yet handed to the I/O layer */
    uint64_t truncate_from;  /* 0 or pending durable truncation */
    uint64_t compact_to;     /* 0 or pending durable compaction */
    bool snap_install;       /* received snapshot not yet handed out */
    uint64_t seq_issued;
    uint64_t seq_persisted;
    struct raft_batch batches[RAFT_BATCHES_MAX];
    uint32_t n_batches;
    uint64_t persisted_index; /* log durable and matching the in-memory log up to here */

    /* outbox */
    struct raft_held *held;
    uint32_t n_held;
    struct raft_msg *out;
    uint32_t n_out;
    uint64_t msgs_dropped;
    bool in_ready;

    /* snapshot */
    struct raft_snapshot snap; /* latest; data owned; index 0 = none */

    /* leader */
    uint32_t transferee;
    bool transfer_sent;
    int64_t transfer_deadline_ms;
};

/* raft_core.c */
struct raft_member *raft_member_find(struct raft *r, uint32_t id);
int64_t raft_election_timeout_ms(const struct raft *r);
bool raft_in_lease(const struct raft *r);
uint32_t raft_quorum(const struct raft *r);

/* raft_core_outbox.c */
bool raft_dirty(const struct raft *r);
void raft_send(struct raft *r, struct raft_msg *m); /* takes ownership of m's owned parts */
void raft_msg_free_parts(struct raft_msg *m);
int raft_copy_entries(struct raft_msg *m, const struct raft_entry *src, uint32_t n);
int raft_copy_snapshot(struct raft_snapshot *dst, const struct raft_snapshot *src);
void raft_mark_truncated(struct raft *r, uint64_t index);
void raft_outbox_close(struct raft *r);

/* raft_core_election.c */
void raft_reset_election_timer(struct raft *r);
void raft_become_follower(struct raft *r, uint64_t term, uint32_t leader);
void raft_campaign(struct raft *r, bool pre_vote, bool force);
void raft_handle_vote(struct raft *r, const struct raft_msg *m);
void raft_handle_vote_resp(struct raft *r, const struct raft_msg *m);
void raft_tick_election(struct raft *r);

/* raft_core_replication.c */
void raft_become_leader(struct raft *r);
bool raft_send_append(struct raft *r, struct raft_member *p);
void raft_send_appends(struct raft *r, struct raft_member *p);
void raft_bcast_append(struct raft *r);
void raft_tick_heartbeat(struct raft *r);
void raft_maybe_commit(struct raft *r);
void raft_handle_append(struct raft *r, const struct raft_msg *m);
void raft_handle_append_resp(struct raft *r, const struct raft_msg *m);
void raft_handle_heartbeat(struct raft *r, const struct raft_msg *m);
void raft_handle_heartbeat_resp(struct raft *r, const struct raft_msg *m);

/* raft_core_snapshot.c */
void raft_send_snapshot(struct raft *r, struct raft_member *p);
void raft_handle_snapshot(struct raft *r, const struct raft_msg *m);

/* raft_core_transfer.c */
void raft_transfer_check(struct raft *r, struct raft_member *p);
void raft_tick_transfer(struct raft *r);
void raft_handle_timeout_now(struct raft *r, const struct raft_msg *m);

#endif

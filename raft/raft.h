/*
 * raft.h — the public header of Gregor's `raft` module: a pure, deterministic Raft core.
 *
 * The core owns no sockets, reads no clock, starts no thread, calls no rand() and does no file
 * I/O.  Its inputs are:
 *   (a) a received message                      raft_step()
 *   (b) a tick carrying the current time in ms  raft_tick()
 *   (c) a proposal (opaque bytes)               raft_propose()
 *   (d) notices from the I/O layer:             raft_persisted()       (a ready batch is durable)
 *                                               raft_snapshot_taken()  (the app saved a snapshot)
 * Its outputs are collected into one batch, `struct raft_ready`, fetched with raft_ready() and
 * released with raft_advance().  Randomness (election-timeout jitter) comes from a PRNG inside
 * the core, seeded by the caller through raft_config.prng_seed: the same inputs produce the same
 * outputs, which is what the deterministic simulator (tests/sim) relies on.
 *
 * ---------------------------------------------------------------------------------------------
 * The persistence / ordering contract (etcd's Ready contract, made structural)
 * ---------------------------------------------------------------------------------------------
 * For every ready batch with persist_seq != 0 the I/O layer must, in this order and durably
 * (fsync), before calling raft_persisted(r, persist_seq):
 *   1. if `snapshot` is set:  store it; durable log entries with index <= snapshot->index go;
 *   2. if `truncate_from`:    delete durable entries with index >= truncate_from;
 *   3. if `compact_to`:       it MAY delete durable entries with index <= compact_to (a snapshot
 *                             the application already made durable covers them);
 *   4. append `entries` (consecutive indexes, the first one == durable last index + 1);
 *   5. if `hard_state_changed`: store `hard_state` (term, vote).
 * Batches are persisted in persist_seq order.  A crash may lose any batch whose
 * raft_persisted() notice has not been delivered, never an acknowledged one.
 *
 * Messages are the part that makes Raft unsafe when it is done in the wrong order: a vote or an
 * append acknowledgement must never leave before the term, vote and entries it depends on are
 * durable.  The core enforces that itself rather than trusting the caller: every message is
 * stamped, when it is created, with the persist_seq of the batch that carries (or will carry)
 * the state it depends on, and it is HELD inside the core until raft_persisted() has reported
 * that seq.  A held acknowledgement whose entries are cut (by a newer leader, or a snapshot
 * install) before they became durable is dropped, never sent.  So the messages in a ready are
 * always already safe to send — the I/O layer may send
 * them before, during or after persisting that same ready's entries.  (This holds leader
 * appends too: a leader sends after its own write, etcd's classic synchronous order.)  The
 * recommended loop is still etcd's: persist, then send, then apply, then raft_advance().
 *
 * Committed entries handed out for applying are always durable locally and committed.  A
 * received snapshot (ready.snapshot) replaces the whole log: the application restores its state
 * from it before applying the committed entries of the same ready, which all follow it.
 *
 * ---------------------------------------------------------------------------------------------
 * Threads and lifetimes
 * ---------------------------------------------------------------------------------------------
 * A struct raft is not locked: one thread drives it.  Between raft_ready() returning true and
 * raft_advance() no other raft_* call that changes state may be made (asserted).  Pointers in
 * a ready (entries, messages, snapshot) are borrowed views valid until raft_advance().  Inputs
 * (messages, proposal bytes, restore state, snapshots) are borrowed for the call only: the core
 * copies what it keeps.
 */
#ifndef GREGOR_RAFT_H
#define GREGOR_RAFT_H

#include "common/common.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Hard bounds.  Every queue and array in the core is sized from these or from raft_config. */
#define RAFT_MEMBERS_MAX 16   /* voters + observers, this node included */
#define RAFT_INFLIGHT_MAX 64  /* upper bound for raft_config.inflight_max */
#define RAFT_BATCHES_MAX 128  /* ready batches handed out but not yet reported persisted */
#define RAFT_ENTRY_BYTES_MAX (64u << 20)
#define RAFT_APPEND_ENTRIES_MAX 65536u /* upper bound for raft_config.append_entries_max (wire) */

/* raft-specific errors, in the GR_E* convention (negative).  raft_strerror() names them and
 * falls back to gr_strerror() for the common codes. */
enum raft_err {
    RAFT_ENOTLEADER = -64, /* this node is not the leader: see raft_propose_result.leader_id */
    RAFT_ETRANSFER = -65,  /* a leadership transfer is in progress: retry on the new leader */
};
const char *raft_strerror(int err);

enum raft_role { RAFT_FOLLOWER, RAFT_PRECANDIDATE, RAFT_CANDIDATE, RAFT_LEADER };
const char *raft_role_name(enum raft_role role);

enum raft_entry_type {
    RAFT_ENTRY_NORMAL = 0, /* application data */
    RAFT_ENTRY_NOOP = 1,   /* appended by every new leader; no data; the app skips it */
    RAFT_ENTRY_CONFIG = 2, /* reserved for membership changes (not yet produced) */
};

/* One log entry.  Terms start at 1; index 0 / term 0 mean "before the first entry".
 * Ownership: an entry inside the core owns `data`; entries in a raft_ready are views into the
 * core, valid until raft_advance(); entries passed in (restore, messages) are borrowed. */
struct raft_entry {
    uint64_t index;
    uint64_t term;
    uint8_t type; /* enum raft_entry_type */
    uint32_t len;
    uint8_t *data; /* len bytes; NULL when len == 0 */
};

/* A snapshot: the application's state after applying every entry up to `index`, plus the voter
 * set it was taken under.  `data` is opaque to the core. */
struct raft_snapshot {
    uint64_t index;
    uint64_t term;
    uint32_t voters[RAFT_MEMBERS_MAX];
    uint32_t n_voters;
    uint32_t len;
    uint8_t *data;
};

/* Durable per-node state besides the log.  vote == 0: no vote cast in `term`. */
struct raft_hard_state {
    uint64_t term;
    uint32_t vote;
};

enum raft_msg_type {
    RAFT_MSG_PREVOTE = 1,   /* "would you vote for me in term `term`?" (term not adopted) */
    RAFT_MSG_PREVOTE_RESP,  /* reject or grant; a grant carries the proposed term */
    RAFT_MSG_VOTE,          /* RequestVote */
    RAFT_MSG_VOTE_RESP,
    RAFT_MSG_APPEND,        /* AppendEntries: prev_index/prev_term, entries, commit */
    RAFT_MSG_APPEND_RESP,   /* ack of `index` (also acks SNAPSHOT), or reject with a hint */
    RAFT_MSG_HEARTBEAT,     /* leader liveness + commit (= min(commit, follower match)) */
    RAFT_MSG_HEARTBEAT_RESP,
    RAFT_MSG_SNAPSHOT,      /* InstallSnapshot (whole snapshot in one message for now) */
    RAFT_MSG_TIMEOUT_NOW,   /* leadership transfer: campaign now, skipping pre-vote */
};
const char *raft_msg_type_name(enum raft_msg_type t);

/* A message.  Plain struct; the wire encoding lives in raft/io_* (later).  Fields not used by a
 * type are zero.  Messages in a raft_ready own their entries/snapshot data until raft_advance();
 * a message given to raft_step() is borrowed for the call. */
struct raft_msg {
    enum raft_msg_type type;
    uint32_t from;
    uint32_t to;
    uint64_t term;
    /* PREVOTE / VOTE: the candidate's last log position; force = leadership transfer */
    uint64_t last_log_index;
    uint64_t last_log_term;
    bool force;
    /* *_RESP */
    bool reject;
    /* APPEND: entries follow prev_index/prev_term; HEARTBEAT uses commit only */
    uint64_t prev_index;
    uint64_t prev_term;
    uint64_t commit;
    struct raft_entry *entries;
    uint32_t n_entries;
    /* APPEND_RESP: success: the follower's log matches the leader's up to `index`;
     * reject: `index` is the rejected prev_index and (hint_term, hint_index) is the fast back-off
     * hint: hint_term = the follower's conflicting term and hint_index the first index it holds
     * of that term, or hint_term = 0 and hint_index = the follower's last index + 1. */
    uint64_t index;
    uint64_t hint_index;
    uint64_t hint_term;
    /* SNAPSHOT */
    struct raft_snapshot snapshot;
};

struct raft_config {
    uint32_t id; /* this node, nonzero */
    const uint32_t *voters;
    uint32_t n_voters;
    const uint32_t *observers; /* non-voting members: receive the log, never vote or count */
    uint32_t n_observers;
    uint32_t election_timeout_ms;    /* base; each timeout is drawn from [base, 2*base) */
    uint32_t heartbeat_interval_ms;  /* < election_timeout_ms */
    uint32_t append_entries_max;     /* entries per APPEND message */
    uint32_t append_bytes_max;       /* entry data bytes per APPEND message (>= one entry) */
    uint32_t inflight_max;           /* APPEND messages in flight per follower, <= RAFT_INFLIGHT_MAX */
    uint32_t uncommitted_max;        /* leader refuses proposals beyond this many uncommitted */
    uint32_t msgs_max;               /* messages queued inside the core; beyond: dropped */
    uint32_t entry_bytes_max;        /* largest proposal accepted */
    uint32_t snapshot_threshold;     /* ready.snapshot_wanted once this many applied entries
                                        follow the last snapshot; 0 = never */
    bool pre_vote;
    bool check_quorum;
    uint64_t prng_seed;
};

/* Fills c with the defaults (timeouts 1000/100 ms, pre-vote and check-quorum on); the caller
 * sets id, voters, observers and prng_seed. */
void raft_config_defaults(struct raft_config *c);

/* What survived on disk.  Everything in it is durable by definition.  `entries` must be
 * consecutive and start at snapshot->index + 1 (or 1 without a snapshot). */
struct raft_restore {
    struct raft_hard_state hard_state;
    const struct raft_snapshot *snapshot; /* NULL: none */
    const struct raft_entry *entries;
    size_t n_entries;
};

/* One batch of outputs; see the contract at the top of this file. */
struct raft_ready {
    uint64_t persist_seq; /* 0: nothing to persist; else report with raft_persisted() */
    bool hard_state_changed;
    struct raft_hard_state hard_state;
    const struct raft_snapshot *snapshot; /* received: persist, then restore the app from it */
    uint64_t truncate_from;               /* 0 or first durable index to delete */
    uint64_t compact_to;                  /* 0 or durable entries <= this may go */
    const struct raft_entry *entries;     /* to append durably */
    size_t n_entries;
    const struct raft_msg *msgs; /* safe to send now (dependencies durable) */
    size_t n_msgs;
    const struct raft_entry *committed; /* apply in order (skip NOOP) */
    size_t n_committed;
    bool snapshot_wanted; /* snapshot_threshold reached: take one and call raft_snapshot_taken */
};

struct raft_propose_result {
    uint64_t index;     /* on success: where the entry sits; it is committed when applied */
    uint64_t term;      /* ... and the term it must still have then */
    uint32_t leader_id; /* on RAFT_ENOTLEADER: the leader this node knows of, 0 if none */
};

struct raft_status {
    uint32_t id;
    enum raft_role role;
    uint64_t term;
    uint32_t vote;
    uint32_t leader_id; /* 0: unknown */
    bool voter;
    uint64_t first_index; /* first entry kept in memory; snapshot_index + 1 */
    uint64_t snapshot_index;
    uint64_t last_index;
    uint64_t last_term;
    uint64_t commit;
    uint64_t applied;
    uint64_t persisted_index;
    uint32_t transferee;
    uint64_t msgs_dropped; /* outbox overflow (treated like network loss) */
};

struct raft;

/* Creates a core.  restore may be NULL (a fresh node).  Returns NULL with *err set (GR_EINVAL:
 * bad config or restore, GR_ENOMEM).  The node starts as a follower with no leader. */
struct raft *raft_new(const struct raft_config *cfg, const struct raft_restore *restore,
                      int *err);
void raft_free(struct raft *r); /* NULL is a no-op */

/* Advances the core's clock.  now_ms must not go backwards (GR_EINVAL otherwise).  Drives
 * election timeouts, heartbeats, check-quorum and transfer deadlines. */
int raft_tick(struct raft *r, int64_t now_ms);

/* Feeds a received message (borrowed).  Messages not addressed to this node, from unknown
 * senders or malformed are dropped and return GR_EINVAL; stale ones are handled by Raft and
 * return 0. */
int raft_step(struct raft *r, const struct raft_msg *m);

/* Appends a NORMAL entry holding a copy of data[0..len).  Leader only: RAFT_ENOTLEADER with
 * res->leader_id as a hint otherwise; RAFT_ETRANSFER during a leadership transfer; GR_EAGAIN
 * when uncommitted_max entries are pending; GR_ERANGE when len > entry_bytes_max. */
int raft_propose(struct raft *r, const void *data, size_t len, struct raft_propose_result *res);

/* Fetches the next batch.  Returns false if there is nothing to do.  After true, the caller
 * handles it (persist, send, apply) and calls raft_advance(). */
bool raft_ready(struct raft *r, struct raft_ready *rd);
void raft_advance(struct raft *r, struct raft_ready *rd);

/* The I/O layer has made the ready with this persist_seq (and all earlier ones) durable. */
void raft_persisted(struct raft *r, uint64_t persist_seq);

/* The application has DURABLY saved a snapshot of its state at snap->index, where
 * raft_status.snapshot_index < snap->index <= applied (so every entry it covers is durable and
 * no received snapshot is still waiting to be persisted; ready.snapshot_wanted implies it).  The
 * core keeps a copy (to send to lagging followers), drops its log up to that index and asks the
 * I/O layer to compact through ready.compact_to.  Older snapshots are ignored (returns 0). */
int raft_snapshot_taken(struct raft *r, const struct raft_snapshot *snap);

/* Leader only: hand leadership to `target` (0: the most caught-up voter).  The leader stops
 * taking proposals, brings the target up to date and sends it TIMEOUT_NOW; the transfer is
 * abandoned after one election timeout.  RAFT_ENOTLEADER / GR_EINVAL (unknown, self, observer,
 * or no other voter). */
int raft_transfer_leadership(struct raft *r, uint32_t target);

void raft_status(const struct raft *r, struct raft_status *st);

/* A view of the in-memory entry at index (NULL if compacted or beyond the last index), valid
 * until the next call that changes the core.  For tests, inspection and DescribeQuorum. */
const struct raft_entry *raft_entry_at(const struct raft *r, uint64_t index);

/* The leader's view of a member's replication (0s for others): for DescribeQuorum. */
int raft_member_progress(const struct raft *r, uint32_t id, uint64_t *match_index);

#endif

/*
 * raft_io.h — the I/O side of the `raft` module: the durable Raft log.
 *
 * The core (raft/raft.h) does no file I/O; this store makes its outputs durable.  One directory
 * (later `<metadata.log.dir>/__raft/`) holds the entry segments, the hard state and the latest
 * snapshot; the on-disk format and its crash-safety invariant are described at the top of
 * raft/raft_io_log.c.  Depends on common/ and raft/raft.h only (no libevent, no storage/).
 *
 * Threads: a struct raft_io_log is not locked; one thread (the one driving the struct raft)
 * uses it.  All calls block on disk I/O.
 */
#ifndef GREGOR_RAFT_IO_H
#define GREGOR_RAFT_IO_H

#include "raft/raft.h"

#include <stddef.h>
#include <stdint.h>

#define RAFT_IO_SEGMENT_BYTES_DEFAULT (8u << 20)

struct raft_io_log_opts {
    /* A segment is rolled before a record would start at or past this size; 0 = default. */
    uint64_t segment_bytes_max;
};

struct raft_io_log;

/* Opens (creating the directory `path` if absent; its parent must exist) and recovers the store:
 * torn tails are cut, leftover temporary files removed, entries made consistent with the
 * snapshot.  Recovery writes what it repairs, so opening twice gives the same state.
 * opts may be NULL (defaults).  On success *out owns the store and *restore is filled with views
 * into it — hand it to raft_new(); the views stay valid until raft_io_log_restore_release() or
 * raft_io_log_close().  Returns 0, GR_EIO (a syscall failed), GR_ECORRUPT (validation failed
 * beyond a torn tail), GR_ENOMEM or GR_EINVAL, with detail in err[0..err_len). */
int raft_io_log_open(const char *path, const struct raft_io_log_opts *opts,
                     struct raft_io_log **out, struct raft_restore *restore, char *err,
                     size_t err_len);

/* Closes the store and frees everything it owns, the restore views included.  NULL: no-op. */
void raft_io_log_close(struct raft_io_log *log);

/* Frees the memory behind the restore views early (raft_new() has copied what it keeps). */
void raft_io_log_restore_release(struct raft_io_log *log);

/* Performs steps 1-5 of the contract in raft/raft.h for one ready (snapshot; truncate_from;
 * compact_to; entries; hard state) and fsyncs what needs it.  Returns 0 only when all of it is
 * durable: then call raft_persisted(r, rd->persist_seq).  A ready with persist_seq == 0 is a
 * no-op.  On failure (GR_EIO, GR_EINVAL when the ready breaks the contract, GR_ENOMEM) the store
 * is poisoned: every later call fails until it is closed and reopened (treat it as a crash).
 * A received snapshot (rd->snapshot) replaces the whole log; compaction never goes past the
 * stored snapshot, so the restore always starts right after it.  Call it between raft_ready()
 * and raft_advance(); raft_persisted() must come after raft_advance() (the core asserts that no
 * state-changing call is made inside a ready).
 * An append-only ready costs one write and one fdatasync (two when a segment rolls). */
int raft_io_log_persist(struct raft_io_log *log, const struct raft_ready *rd);

/* Stores a snapshot the application took (call before raft_snapshot_taken(), so that the
 * ready.compact_to that follows can drop the log behind it).  Log entries are not touched.
 * snap->index must not be below the stored snapshot's.  Returns 0 once durable, or as persist. */
int raft_io_log_save_snapshot(struct raft_io_log *log, const struct raft_snapshot *snap);

/* The last error's message ("" if none); valid until the next call. */
const char *raft_io_log_errmsg(const struct raft_io_log *log);

/* Inspection, for tests and status: the first entry index after the snapshot (snapshot index + 1
 * when the log is empty), the last entry index (the snapshot index when empty), the stored
 * snapshot's index (0: none), the number of segment files, and the stored hard state. */
uint64_t raft_io_log_first_index(const struct raft_io_log *log);
uint64_t raft_io_log_last_index(const struct raft_io_log *log);
uint64_t raft_io_log_snapshot_index(const struct raft_io_log *log);
size_t raft_io_log_segment_count(const struct raft_io_log *log);
struct raft_hard_state raft_io_log_hard_state(const struct raft_io_log *log);

#endif

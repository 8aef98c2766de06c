/*
 * storage_int.h — internals of the storage module, shared by the storage/ sources only.
 *
 * Layering inside the module (each file uses only the ones above it):
 *   storage_io.c        checked syscalls, paths, atomic small-file writes
 *   storage_index.c     .index / .timeindex: in-memory (active) or mmapped (closed) entries
 *   storage_segment.c   one .log file plus its two indexes; the batch-header cursor
 *   storage_recovery.c  validating scans (length + CRC-32C) that rebuild indexes and find a
 *                       torn tail; recovering a log at open
 *   storage_epoch.c     leader-epoch-checkpoint
 *   storage_log.c       open/close, append, flush, roll
 *   storage_read.c      fetch slices, ListOffsets by timestamp
 *   storage_retention.c retention, advance_start, truncate_to, deleted-segment fds
 *   storage_dir.c       the log dir: checkpoints, partition dirs
 *
 * Invariants of a log (checked by assertions at the module's edges):
 *   - segs[] is sorted by base_offset, never empty; segs[seg_count-1] is the active segment,
 *     the only one that is appended to and whose indexes live in malloc'd memory;
 *   - every segment's .log holds whole, CRC-valid batches only (a torn tail is cut at open or
 *     an append that fails is rolled back with ftruncate);
 *   - start_offset <= end_offset; recovery_point <= end_offset and everything below it is
 *     fsynced (.log and indexes), so open re-validates only what lies above it.
 */
#ifndef GREGOR_STORAGE_INT_H
#define GREGOR_STORAGE_INT_H

#include "storage/storage.h"

#include "proto/proto_record_batch.h"

#include <assert.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STORAGE_COMP "storage"
#define STORAGE_OFFSET_ENTRY_BYTES 8 /* relative offset u32, position u32 */
#define STORAGE_TIME_ENTRY_BYTES 12  /* timestamp i64, relative offset u32 */
#define STORAGE_CURSOR_CHUNK_BYTES 4096
#define STORAGE_SCAN_CHUNK_BYTES (256 * 1024)
#define STORAGE_FILE_DELETE_DELAY_MS 60000 /* file.delete.delay.ms: fds of deleted segments */
#define STORAGE_NO_TIMESTAMP (-1)
#define STORAGE_TS_UNKNOWN INT64_MIN
#define STORAGE_PATH_MAX 4096

/* ------------------------------------------------------------------------------------------ */
/* storage_io.c                                                                                */

/* write()/pwrite() everything, retrying short writes and EINTR.  0 or GR_EIO (errno kept). */
int storage_write_all(int fd, const void *p, size_t n);
int storage_pwrite_all(int fd, const void *p, size_t n, int64_t off);
/* pread up to n bytes (fewer only at end of file); *got = bytes read.  0 or GR_EIO. */
int storage_pread_full(int fd, void *p, size_t n, int64_t off, size_t *got);
int storage_fsync_path(const char *path); /* opens a dir or file and fsyncs it */
/* Writes data to dir/name atomically: dir/name.tmp, fsync, rename, fsync dir.  0 or GR_EIO. */
int storage_write_file_atomic(const char *dir, const char *name, const void *data, size_t n);
/* Reads a whole small file (up to max bytes) into buf.  0, GR_ENOENT, GR_ERANGE or GR_EIO. */
int storage_read_file(const char *path, struct gbuf *buf, size_t max);
/* "<dir>/<20-digit base><ext>" */
void storage_segment_path(char *out, size_t n, const char *dir, int64_t base, const char *ext);
void storage_err(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ------------------------------------------------------------------------------------------ */
/* storage_index.c — entries kept in their on-disk big-endian form so one lookup serves both   */
/* the malloc'd (active) and the mmapped (closed segment) representation.                      */

struct storage_index {
    uint8_t *data;       /* malloc'd when owned, mmapped read-only when mapped, else NULL */
    size_t count;        /* entries */
    size_t cap;          /* owned: capacity in entries */
    size_t map_bytes;    /* mapped: length of the mapping */
    size_t persisted;    /* owned: entries already written to the file */
    size_t file_entries; /* owned: entries the file holds (may exceed count after truncation) */
    int entry_bytes;     /* STORAGE_OFFSET_ENTRY_BYTES or STORAGE_TIME_ENTRY_BYTES */
    int fd;              /* owned: the file, open for pwrite; else -1 */
    bool owned, mapped, dirty; /* dirty: written since the last fdatasync */
};

void storage_index_init(struct storage_index *ix, int entry_bytes);
/* Frees memory / unmaps and closes the fd. */
void storage_index_release(struct storage_index *ix);
/* Opens (creating) the file and reads its entries into owned memory, keeping the longest
 * prefix that is monotonic (and, for the offset index, whose positions are > 0 and <
 * log_size).  0 or GR_EIO/GR_ENOMEM. */
int storage_index_load_owned(struct storage_index *ix, const char *path, int64_t base,
                             int64_t log_size);
/* Creates an empty owned index with a fresh (truncated) file. */
int storage_index_create_owned(struct storage_index *ix, const char *path);
/* Maps a closed segment's index read-only (missing file = empty index).  0 or GR_EIO. */
int storage_index_map(struct storage_index *ix, const char *path);
int storage_index_append(struct storage_index *ix, const uint8_t *entry);
void storage_index_truncate(struct storage_index *ix, size_t count);
/* Writes unpersisted entries and trims the file to count entries.  0 or GR_EIO. */
int storage_index_persist(struct storage_index *ix);
/* persist + fdatasync when dirty. */
int storage_index_sync(struct storage_index *ix);

static inline const uint8_t *storage_index_entry(const struct storage_index *ix, size_t i)
{
    return ix->data + i * (size_t)ix->entry_bytes;
}
static inline int64_t storage_oidx_offset(const struct storage_index *ix, size_t i, int64_t base)
{
    return base + be32_get(storage_index_entry(ix, i));
}
static inline int64_t storage_oidx_pos(const struct storage_index *ix, size_t i)
{
    return be32_get(storage_index_entry(ix, i) + 4);
}
static inline int64_t storage_tidx_ts(const struct storage_index *ix, size_t i)
{
    return (int64_t)be64_get(storage_index_entry(ix, i));
}
static inline int64_t storage_tidx_offset(const struct storage_index *ix, size_t i, int64_t base)
{
    return base + be32_get(storage_index_entry(ix, i) + 8);
}

/* Number of leading entries satisfying "entry <= key" for the given field (binary search);
 * the entry found is [result - 1].  by: 0 offset index by offset, 1 offset index by position,
 * 2 time index by timestamp. */
enum storage_index_key { STORAGE_OIDX_BY_OFFSET, STORAGE_OIDX_BY_POS, STORAGE_TIDX_BY_TS };
size_t storage_index_upper(const struct storage_index *ix, enum storage_index_key by, int64_t base,
                           int64_t key);

/* ------------------------------------------------------------------------------------------ */
/* storage_segment.c                                                                           */

struct storage_segment {
    int64_t base_offset;
    int fd;                    /* .log, O_RDWR|O_APPEND, open while the segment exists */
    int64_t size_bytes;        /* bytes of whole batches in .log */
    int64_t max_ts;            /* largest batch maxTimestamp, STORAGE_NO_TIMESTAMP if none */
    int64_t max_ts_offset;     /* last offset of the first batch that reached max_ts */
    int64_t first_batch_ts;    /* maxTimestamp of the first batch; STORAGE_TS_UNKNOWN */
    int64_t created_ms;        /* when created or opened (segment.ms without timestamps) */
    int64_t bytes_since_index; /* bytes appended since the last .index entry */
    bool flushed;              /* .log and indexes fsynced up to size_bytes */
    struct storage_index oidx, tidx;
    struct storage_tail *tail; /* the newest batches appended here (active segment), or NULL */
};

/* The header fields of one batch, as the cursor sees them. */
struct storage_batch {
    int64_t pos;
    int64_t size; /* including RB_LOG_OVERHEAD */
    int64_t base_offset;
    int64_t last_offset;
    int64_t max_ts;
    int32_t leader_epoch;
    int16_t attributes;
};

/* The headers of the newest batches appended to the active segment, in a ring, so that finding
 * an offset near the end (every follower fetch and tail consumer, twice per fetch) costs no
 * pread.  It describes itself: only the newest entries that lie back to back and end where the
 * segment ends are trusted, so a truncation needs no bookkeeping here. */
#define STORAGE_TAIL_BATCHES 32
struct storage_tail {
    struct storage_batch b[STORAGE_TAIL_BATCHES];
    int next;  /* slot of the next entry */
    int count; /* entries held, at most STORAGE_TAIL_BATCHES */
};

/* Walks batch headers of one segment with chunked preads into a borrowed buffer. */
struct storage_cursor {
    const struct storage_segment *seg;
    int64_t pos;   /* next batch */
    int64_t limit; /* end of readable bytes */
    struct gbuf *buf;
    int64_t buf_pos; /* file position of buf->data[0] */
};

/* Creates an empty segment (files .log/.index/.timeindex) at base.  0 or GR_EIO. */
int storage_segment_create(const char *dir, int64_t base, int64_t now_ms,
                           struct storage_segment **out);
/* Opens an existing segment's .log (indexes untouched).  0 or GR_EIO. */
int storage_segment_open(const char *dir, int64_t base, int64_t now_ms,
                         struct storage_segment **out);
/* Closes fds and frees.  NULL is a no-op. */
void storage_segment_free(struct storage_segment *s);
/* Makes the segment the active one: indexes loaded into owned memory and kept open. */
int storage_segment_activate(const char *dir, struct storage_segment *s);
/* Ends the active life: final time-index entry, indexes persisted and swapped for lazy maps,
 * writeback of the .log started.  0 or GR_EIO. */
int storage_segment_deactivate(struct storage_segment *s);
/* Maps a closed segment's indexes if not yet (reads only). */
int storage_segment_indexes_ready(const char *dir, struct storage_segment *s);
/* fdatasync .log and indexes.  0 or GR_EIO. */
int storage_segment_sync(const char *dir, struct storage_segment *s);
/* Unlinks the segment's files (fds stay usable). */
int storage_segment_unlink(const char *dir, const struct storage_segment *s);
/* Adds the .index/.timeindex entries for batch b, per Kafka's LogSegment.append.  max_ts /
 * max_ts_offset must already include b. */
void storage_segment_index_batch(struct storage_segment *s, const struct storage_batch *b,
                                 int32_t interval_bytes, size_t oidx_max, size_t tidx_max);
/* Recomputes nothing; appends (max_ts, max_ts_offset) when it raises the time index. */
void storage_segment_time_entry(struct storage_segment *s, size_t tidx_max);
/* maxTimestamp of the first batch (loaded lazily), STORAGE_NO_TIMESTAMP when empty. */
int storage_segment_first_ts(struct storage_segment *s, struct gbuf *scratch, int64_t *ts);

void storage_cursor_init(struct storage_cursor *c, const struct storage_segment *s, int64_t pos,
                         struct gbuf *buf);
/* Reads the header of the batch at c->pos without advancing: 1 (b filled), 0 at the end, or
 * GR_EIO / GR_ECORRUPT. */
int storage_cursor_peek(struct storage_cursor *c, struct storage_batch *b);
/* Position of the first batch with last_offset >= offset (size_bytes if none); *b filled when
 * found (returns 1), 0 when none, negative on error. */
/* Remembers batch b, just appended at the end of s (its tail ring; nothing if out of memory). */
void storage_segment_tail_note(struct storage_segment *s, const struct storage_batch *b);
int storage_segment_find(const char *dir, struct storage_segment *s, int64_t offset,
                         struct gbuf *buf, struct storage_batch *b);

/* ------------------------------------------------------------------------------------------ */
/* storage_epoch.c — leader-epoch-checkpoint: "0\n<count>\n<epoch> <start offset>\n..."        */

struct storage_epoch_entry {
    int32_t epoch;
    int64_t start_offset;
};
struct storage_epochs {
    struct storage_epoch_entry *v;
    int count, cap;
};
int storage_epochs_load(struct storage_epochs *e, const char *dir);
/* Adds (epoch, start) when epoch is newer than the last entry; *changed tells the caller to
 * write the file.  0 or GR_ENOMEM. */
int storage_epochs_assign(struct storage_epochs *e, int32_t epoch, int64_t start, bool *changed);
/* The last entry's epoch, -1 when empty. */
int32_t storage_epochs_latest(const struct storage_epochs *e);
/* OffsetsForLeaderEpoch over the entries, the log ending at log_end: see
 * storage_log_end_offset_for_epoch. */
void storage_epochs_end_offset_for(const struct storage_epochs *e, int32_t epoch, int64_t log_end,
                                   int32_t *out_epoch, int64_t *out_end);
/* Drops entries starting at or after end. */
bool storage_epochs_truncate_end(struct storage_epochs *e, int64_t end);
/* Drops entries wholly below start; the last one below moves up to start. */
bool storage_epochs_truncate_start(struct storage_epochs *e, int64_t start);
int storage_epochs_store(const struct storage_epochs *e, const char *dir);
void storage_epochs_close(struct storage_epochs *e);

/* ------------------------------------------------------------------------------------------ */
/* The log and the dir.                                                                         */

struct storage_dead_fd {
    int fd;
    int64_t deleted_ms;
};

struct storage_log {
    struct storage_dir *dir;
    struct storage_log *next; /* the dir's list */
    char *topic;
    int32_t partition;
    char *path;
    struct storage_log_config cfg;
    struct storage_segment **segs;
    int seg_count, seg_cap;
    int64_t start_offset;
    int64_t end_offset;
    int64_t recovery_point;
    int64_t last_flush_ms;
    int64_t now_ms;    /* latest time the caller told us */
    bool failed;       /* an append could not be rolled back: refuse writes */
    bool dir_dirty;    /* files created since the partition dir was last fsynced */
    bool epochs_dirty; /* leader-epoch-checkpoint must be rewritten */
    struct storage_epochs epochs;
    struct storage_dead_fd *dead;
    int dead_count, dead_cap;
    struct gbuf cursor_buf; /* header chunks for reads (reused) */
    struct gbuf batch_buf;  /* one whole batch (timestamp search) */
    struct gbuf scratch;    /* decompressed records */
};

static inline struct storage_segment *storage_log_active(const struct storage_log *l)
{
    return l->segs[l->seg_count - 1];
}

/* storage_log.c */
int storage_log_roll(struct storage_log *l, int64_t now_ms);
/* fsyncs closed segments not yet flushed (started writing back at roll) and moves the
 * recovery point to the active segment's base.  0 or GR_EIO. */
int storage_log_flush_closed(struct storage_log *l);
/* Index of the segment holding offset (the last with base <= offset), 0 if below all. */
int storage_log_segment_index(const struct storage_log *l, int64_t offset);
/* Removes segs[i..j) from the array; unlinks their files and parks their fds. */
void storage_log_drop_segments(struct storage_log *l, int i, int j);
void storage_log_close_dead(struct storage_log *l, bool all);
size_t storage_log_oidx_max(const struct storage_log *l);
size_t storage_log_tidx_max(const struct storage_log *l);

/* storage_recovery.c */
/* Validates s from the offset-index entry chosen by keep (entries [0, keep) are trusted, the
 * scan starts at entry keep-1's batch, or at 0 when keep == 0), rebuilding indexes and max
 * timestamp.  *valid_pos is where the valid bytes end, *next_offset the offset after the last
 * valid batch (base when none).  Epochs of scanned batches go into l->epochs.
 * 0 or GR_EIO/GR_ENOMEM. */
int storage_recover_segment(struct storage_log *l, struct storage_segment *s, size_t keep,
                            int64_t *valid_pos, int64_t *next_offset);
/* Loads segments of a freshly opened log and recovers from recovery_point.  0 or GR_E*. */
int storage_recover_log(struct storage_log *l, int64_t now_ms, char *err, size_t err_len);

/* storage_dir.c */
/* Checkpointed values for topic-partition (-1 when absent). */
void storage_dir_lookup(const struct storage_dir *d, const char *topic, int32_t partition,
                        int64_t *recovery_point, int64_t *start_offset);
void storage_dir_attach(struct storage_dir *d, struct storage_log *l);
void storage_dir_detach(struct storage_dir *d, struct storage_log *l, bool forget);

#endif

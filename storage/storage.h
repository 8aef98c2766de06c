/*
 * storage.h — the public header of Gregor's `storage` module: one segmented log per partition
 * and the log directories that hold them.
 *
 * On disk, per partition, `<log.dir>/<topic>-<partition>/`:
 *   00000000000000000000.log        record batches exactly as appended (magic v2)
 *   00000000000000000000.index      sparse (relative offset u32, file position u32), 8 bytes
 *   00000000000000000000.timeindex  (timestamp i64, relative offset u32), 12 bytes
 *   leader-epoch-checkpoint         Kafka's text format (version, count, "epoch offset" lines)
 *   partition.metadata              "version: 0\ntopic_id: <base64 uuid>\n"
 * and per log dir: `recovery-point-offset-checkpoint` and `log-start-offset-checkpoint` in
 * Kafka's text format ("0\n<count>\n<topic> <partition> <offset>\n...").
 *
 * Crash safety: a .log file may end in a torn batch after a crash; opening a log re-validates
 * (length + CRC) every batch after the recovery point and truncates the file at the first bad
 * one, then rebuilds the indexes of the segments it scanned.  Indexes are derived data and are
 * rebuilt whenever they disagree with the log.
 *
 * Threading: a log and its dir are used from one thread (the broker's event loop).
 */
#ifndef GREGOR_STORAGE_H
#define GREGOR_STORAGE_H

#include "common/common.h"

#include <stdint.h>

struct storage_log_config {
    int64_t segment_bytes;           /* segment.bytes / log.segment.bytes, default 1 GiB */
    int64_t segment_ms;              /* segment.ms / log.roll.ms, default 7 days */
    int64_t retention_ms;            /* retention.ms, default 7 days; -1 = unlimited */
    int64_t retention_bytes;         /* retention.bytes, default -1 = unlimited */
    int32_t index_interval_bytes;    /* index.interval.bytes, default 4096 */
    int32_t segment_index_bytes;     /* segment.index.bytes, default 10 MiB */
    int64_t flush_interval_messages; /* flush.messages, default INT64_MAX (never) */
    int64_t flush_interval_ms;       /* flush.ms, default INT64_MAX (never) */
};

/* Fills Kafka's defaults. */
void storage_log_config_default(struct storage_log_config *c);

struct storage_dir;
struct storage_log;

/* Opens (creating if needed) a log directory and reads its checkpoint files.  Returns 0 or a
 * GR_E* with a message in err. */
int storage_dir_open(const char *path, struct storage_dir **out, char *err, size_t err_len);
/* Writes checkpoints, closes every log still open, frees the dir.  NULL is a no-op. */
void storage_dir_close(struct storage_dir *d);
const char *storage_dir_path(const struct storage_dir *d);

/* Opens or creates the log of topic-partition under the dir, recovering it from the dir's
 * recovery point (segments are scanned and a torn tail truncated).  topic_id may be NULL.
 * The log stays owned by the dir.  Returns 0 or GR_E* with a message in err. */
int storage_log_open(struct storage_dir *d, const char *topic, int32_t partition,
                     const struct gr_uuid *topic_id, const struct storage_log_config *cfg,
                     int64_t now_ms, struct storage_log **out, char *err, size_t err_len);
/* Replaces the log's configuration (a topic config change). */
void storage_log_set_config(struct storage_log *l, const struct storage_log_config *cfg);
/* Closes the log and removes all its files and directory. */
int storage_log_delete(struct storage_log *l);

/* Lists "<topic>-<partition>" directories present in the dir (for start-up: logs on disk
 * whose topic no longer exists are deleted by the caller).  Calls fn for each. */
int storage_dir_scan(struct storage_dir *d,
                     void (*fn)(void *arg, const char *topic, int32_t partition), void *arg);

/* Writes recovery-point and log-start-offset checkpoints for all open logs (atomic rename,
 * fsync).  Called periodically and at shutdown.  0 or GR_EIO. */
int storage_dir_checkpoint(struct storage_dir *d);

int64_t storage_log_start_offset(const struct storage_log *l);
int64_t storage_log_end_offset(const struct storage_log *l); /* next offset to assign */
int64_t storage_log_size_bytes(const struct storage_log *l);
int storage_log_segment_count(const struct storage_log *l);

struct storage_append_info {
    int64_t first_offset;   /* offset given to the first record */
    int64_t last_offset;    /* offset of the last record */
    int64_t max_timestamp;  /* max batch maxTimestamp appended */
    int64_t offset_of_max_timestamp;
};

/* Appends a validated record set (one or more complete magic-v2 batches, as checked by
 * rb_set_validate).  Assigns offsets by rewriting each batch's baseOffset in place (the
 * caller's buffer is modified) and stamps partitionLeaderEpoch, rolls the segment first when
 * it would exceed segment.bytes or is older than segment.ms, writes with one write/writev, adds
 * index entries every index.interval.bytes, and fsyncs when flush.messages is reached.
 * A leader_epoch >= 0 newer than the leader epoch cache's latest is recorded there, starting at
 * the first offset appended (leader-epoch-checkpoint rewritten).
 * An empty set (n == 0) appends nothing and reports offsets -1, as Kafka does.
 * Returns 0, GR_EIO, or GR_EINVAL when the bytes are not whole magic-v2 batches (or span more
 * than 2^31 offsets, which no segment can index). */
int storage_log_append(struct storage_log *l, uint8_t *batches, size_t n, int32_t leader_epoch,
                       int64_t now_ms, struct storage_append_info *info);

/* Appends batches a follower fetched from its leader, as they are: their baseOffsets and
 * partitionLeaderEpochs are kept, the buffer is not modified (only borrowed for the call).
 * The bytes come from the network and are checked here whatever the caller did: whole magic-v2
 * batches with valid lengths and CRCs (rb_set_validate_flags with RB_VALIDATE_LOG, so control
 * batches and compacted batches pass), else GR_ECORRUPT.  The first batch must start at the
 * log end offset and each next one right after the previous one's last offset, else GR_ERANGE
 * (a follower whose log ends inside the leader's first batch truncates to its base first).
 * Nothing is written on any of these errors.  Each batch's partitionLeaderEpoch (when >= 0 and
 * newer than the cache's latest) enters the leader epoch cache at the batch's base offset, as
 * recovery does.  Rolling, indexing, flush.messages and the empty set (n == 0) are as
 * storage_log_append; info as there.  Returns 0, GR_ECORRUPT, GR_ERANGE, GR_EIO or GR_EINVAL
 * (a set spanning more than 2^31 offsets). */
int storage_log_append_replica(struct storage_log *l, const uint8_t *batches, size_t n,
                               int64_t now_ms, struct storage_append_info *info);

/* The leader epoch cache (leader-epoch-checkpoint): for each leader epoch that wrote to this
 * log, the first offset written in it.  Entries move with the log: truncate_to drops those
 * starting at or after the new end, retention and advance_start those wholly below the start. */

/* The highest leader epoch in the cache, -1 when empty. */
int32_t storage_log_latest_epoch(const struct storage_log *l);

/* OffsetsForLeaderEpoch (KIP-101/KIP-279) answered from this log for a requested epoch:
 *   *out_epoch = the largest cached epoch <= epoch, and *out_end_offset = the start offset of
 *   the next cached epoch, or the log end offset when there is none (epoch >= the latest).
 *   epoch below every cached epoch: *out_epoch = epoch and *out_end_offset = the first cached
 *   epoch's start offset (Kafka since 2.0: that data is gone, so nothing past it can match).
 *   epoch < 0 (UNDEFINED) or an empty cache: -1 and -1 (UNDEFINED_EPOCH/_OFFSET).
 * Kafka answers UNDEFINED for an epoch above the latest because its leader caches its current
 * epoch at election; ours learns epochs from the batches written, and answers (latest, log end)
 * as Kafka's cache would then.  Always returns 0. */
int storage_log_end_offset_for_epoch(const struct storage_log *l, int32_t epoch, int32_t *out_epoch,
                                     int64_t *out_end_offset);

/* A byte range of one segment file holding whole batches. */
struct storage_slice {
    int fd;            /* the segment's fd (-1 when bytes == 0).  Stays open and readable for
                        * at least 60 s (file.delete.delay.ms) after retention, truncation or
                        * advance_start deletes the segment, and until storage_log_delete or
                        * storage_dir_close; a truncated segment's file may be shorter than
                        * file_pos + bytes, so readers must handle a short read/sendfile. */
    int64_t file_pos;
    int32_t bytes;     /* 0 when nothing to read */
};

/* Finds the batches from the one containing `offset` onward, up to max_bytes, never past
 * max_offset (exclusive: the high watermark), within one segment.  When min_one_batch is true
 * and the first batch is larger than max_bytes, it is returned whole (as Kafka does so a
 * consumer can make progress).  Returns 0, or GR_ERANGE if offset < log start or > log end
 * (OFFSET_OUT_OF_RANGE).  An offset equal to the end gives an empty slice. */
int storage_log_read(struct storage_log *l, int64_t offset, int32_t max_bytes, int64_t max_offset,
                     bool min_one_batch, struct storage_slice *out);

/* Copies the bytes of a slice into buf (appending).  0 or GR_EIO. */
int storage_slice_copy(const struct storage_slice *s, struct gbuf *buf);

/* ListOffsets by timestamp: the first record whose timestamp >= ts, using the time index and
 * then iterating records (decompressing when needed).  Sets *offset and *timestamp, or *offset
 * = -1 when no such record exists.  0 or GR_EIO/GR_ECORRUPT. */
int storage_log_offset_for_timestamp(struct storage_log *l, int64_t ts, int64_t *offset,
                                     int64_t *timestamp);
/* The offset and timestamp of the record with the largest timestamp (ListOffsets -3). */
int storage_log_max_timestamp(struct storage_log *l, int64_t *offset, int64_t *timestamp);

/* Deletes whole segments by retention.ms (a segment's largest timestamp older than now -
 * retention.ms) and retention.bytes (oldest first while the log is larger), and rolls a
 * non-empty active segment older than segment.ms (age since it was created or the log was
 * opened; appends roll by batch timestamps as Kafka does).  An expired non-empty active
 * segment is rolled, then deleted, as Kafka does.
 * The log start offset moves to the base offset of the first remaining segment.  Returns the
 * number of segments deleted, or a negative GR_E*. */
int storage_log_enforce_retention(struct storage_log *l, int64_t now_ms);

/* Raises the log start offset (DeleteRecords); deletes segments wholly below it. */
int storage_log_advance_start(struct storage_log *l, int64_t offset);

/* Removes everything at and after offset (follower truncation).  A batch is never split: if
 * offset falls inside a batch, that whole batch goes and the log end becomes its base offset.
 * An offset below the first segment empties the log and restarts it at offset.  Leader epoch
 * cache entries starting at or after the new log end go too (leader-epoch-checkpoint
 * rewritten).  Writes the dir's checkpoints (so the lowered recovery point is durable).
 * 0 or GR_E*. */
int storage_log_truncate_to(struct storage_log *l, int64_t offset);

/* Deletes every segment and restarts the log, empty, at offset (Kafka's truncateFullyAndStartAt:
 * a follower far behind a leader whose retention already removed what it would fetch).  The
 * leader epoch cache is emptied; checkpoints are written.  0 or GR_E* (the log then refuses
 * writes until reopened). */
int storage_log_reset(struct storage_log *l, int64_t offset);

/* fsyncs the active segment (and anything unflushed).  0 or GR_EIO. */
int storage_log_flush(struct storage_log *l);
/* fsyncs when flush.ms has passed since the last flush and there is unflushed data. */
int storage_log_maybe_flush(struct storage_log *l, int64_t now_ms);

#endif

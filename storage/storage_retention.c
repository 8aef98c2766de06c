/*
 * storage_retention.c — removing data: retention (time, size, log start), DeleteRecords
 * (advance_start) and follower truncation (truncate_to).
 *
 * Deleted segment files are unlinked at once, but their fds are parked for
 * STORAGE_FILE_DELETE_DELAY_MS (Kafka's file.delete.delay.ms) before being closed, so a fetch
 * response still holding a slice of a deleted segment keeps reading valid bytes and the fd
 * number is not reused under it.
 */
#include "storage/storage_int.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A segment's largest timestamp, or its file's mtime when it has no timestamps (Kafka). */
static int64_t segment_largest_ts(const struct storage_segment *s)
{
    if (s->max_ts >= 0) return s->max_ts;
    struct stat st;
    if (fstat(s->fd, &st)) return INT64_MAX; /* unknown: never expire on an error */
    return (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
}

static bool deletable(const struct storage_log *l, int i)
{
    /* an empty active segment is never deleted */
    return !(i == l->seg_count - 1 && l->segs[i]->size_bytes == 0);
}

static int count_time_breach(const struct storage_log *l, int64_t now_ms)
{
    if (l->cfg.retention_ms < 0) return 0;
    int n = 0;
    while (n < l->seg_count && deletable(l, n) &&
           now_ms - segment_largest_ts(l->segs[n]) > l->cfg.retention_ms)
        n++;
    return n;
}

static int count_size_breach(const struct storage_log *l)
{
    if (l->cfg.retention_bytes < 0) return 0;
    int64_t diff = storage_log_size_bytes(l) - l->cfg.retention_bytes;
    int n = 0;
    while (n < l->seg_count && deletable(l, n) && diff - l->segs[n]->size_bytes >= 0) {
        diff -= l->segs[n]->size_bytes;
        n++;
    }
    return n;
}

static int count_start_breach(const struct storage_log *l)
{
    int n = 0;
    while (n + 1 < l->seg_count && l->segs[n + 1]->base_offset <= l->start_offset)
        n++;
    return n;
}

/* Deletes the first n segments (rolling first when that includes the active one) and moves
 * the log start offset up.  Returns n or a negative GR_E*. */
static int delete_front(struct storage_log *l, int n, const char *why)
{
    if (n <= 0) return 0;
    if (n == l->seg_count) {
        int rc = storage_log_roll(l, l->now_ms);
        if (rc) return rc;
    }
    LOG_INFO(STORAGE_COMP, "%s: deleting %d segment(s) from %020lld (%s)", l->path, n,
             (long long)l->segs[0]->base_offset, why);
    storage_log_drop_segments(l, 0, n);
    if (l->start_offset < l->segs[0]->base_offset) l->start_offset = l->segs[0]->base_offset;
    if (storage_epochs_truncate_start(&l->epochs, l->start_offset)) l->epochs_dirty = true;
    return n;
}

static int roll_by_time(struct storage_log *l, int64_t now_ms)
{
    struct storage_segment *s = storage_log_active(l);
    if (s->size_bytes == 0 || now_ms - s->created_ms <= l->cfg.segment_ms) return 0;
    return storage_log_roll(l, now_ms);
}

int storage_log_enforce_retention(struct storage_log *l, int64_t now_ms)
{
    l->now_ms = now_ms;
    storage_log_close_dead(l, false);
    int rc = roll_by_time(l, now_ms);
    if (rc) return rc;
    int total = 0;
    rc = delete_front(l, count_time_breach(l, now_ms), "retention.ms");
    if (rc >= 0) total += rc;
    if (rc >= 0 && (rc = delete_front(l, count_size_breach(l), "retention.bytes")) >= 0)
        total += rc;
    if (rc >= 0 && (rc = delete_front(l, count_start_breach(l), "log start offset")) >= 0)
        total += rc;
    if (rc < 0) return rc;
    if (l->epochs_dirty && storage_epochs_store(&l->epochs, l->path) == 0) l->epochs_dirty = false;
    return total;
}

int storage_log_advance_start(struct storage_log *l, int64_t offset)
{
    if (offset > l->end_offset) return GR_ERANGE;
    if (offset <= l->start_offset) return 0;
    l->start_offset = offset;
    int rc = delete_front(l, count_start_breach(l), "log start offset");
    if (rc < 0) return rc;
    if (storage_epochs_truncate_start(&l->epochs, offset)) l->epochs_dirty = true;
    if (l->epochs_dirty && storage_epochs_store(&l->epochs, l->path) == 0) l->epochs_dirty = false;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Truncation.                                                                                 */

/* Replaces every segment with one empty segment at offset (Kafka's truncateFullyAndStartAt). */
static int truncate_fully(struct storage_log *l, int64_t offset)
{
    struct storage_segment *s;
    int rc = storage_segment_create(l->path, offset, l->now_ms, &s);
    if (rc) return rc;
    storage_log_drop_segments(l, 0, l->seg_count);
    l->segs[0] = s; /* seg_cap >= 1 always */
    l->seg_count = 1;
    l->start_offset = l->end_offset = offset;
    return 0;
}

/* Cuts the last segment at the batch holding offset; returns the new end offset. */
static int truncate_active(struct storage_log *l, int64_t offset, int64_t *end)
{
    struct storage_segment *s = storage_log_active(l);
    int rc = storage_segment_activate(l->path, s);
    struct storage_batch b;
    if (!rc) rc = storage_segment_find(l->path, s, offset, &l->cursor_buf, &b);
    if (rc < 0) return rc;
    int64_t cut = rc == 1 ? b.pos : s->size_bytes;
    if (cut < s->size_bytes) {
        if (ftruncate(s->fd, (off_t)cut)) {
            LOG_ERROR(STORAGE_COMP, "%s: ftruncate failed: %s", l->path, strerror(errno));
            return GR_EIO;
        }
        s->size_bytes = cut;
    }
    s->flushed = false;
    size_t keep = cut > 0 ? storage_index_upper(&s->oidx, STORAGE_OIDX_BY_POS, 0, cut - 1) : 0;
    int64_t pos;
    rc = storage_recover_segment(l, s, keep, &pos, end);
    if (!rc) rc = storage_index_persist(&s->oidx);
    if (!rc) rc = storage_index_persist(&s->tidx);
    return rc;
}

int storage_log_reset(struct storage_log *l, int64_t offset)
{
    if (offset < 0) return GR_EINVAL;
    LOG_INFO(STORAGE_COMP, "%s: emptying the log and restarting it at offset %lld (it was "
             "%lld..%lld)", l->path, (long long)offset, (long long)l->start_offset,
             (long long)l->end_offset);
    int rc = truncate_fully(l, offset);
    if (rc) {
        l->failed = true;
        LOG_ERROR(STORAGE_COMP, "%s: reset failed; the log refuses writes until reopened",
                  l->path);
        return rc;
    }
    l->recovery_point = offset;
    if (storage_epochs_truncate_end(&l->epochs, 0)) l->epochs_dirty = true;
    if (l->epochs_dirty && storage_epochs_store(&l->epochs, l->path) == 0) l->epochs_dirty = false;
    return storage_dir_checkpoint(l->dir);
}

int storage_log_truncate_to(struct storage_log *l, int64_t offset)
{
    if (offset < 0) return GR_EINVAL;
    if (offset >= l->end_offset) return 0;
    LOG_INFO(STORAGE_COMP, "%s: truncating to offset %lld (log end was %lld)", l->path,
             (long long)offset, (long long)l->end_offset);
    int rc;
    if (l->segs[0]->base_offset > offset) {
        rc = truncate_fully(l, offset);
    } else {
        int j = storage_log_segment_index(l, offset) + 1;
        if (j < l->seg_count) storage_log_drop_segments(l, j, l->seg_count);
        int64_t end = offset;
        rc = truncate_active(l, offset, &end);
        if (!rc) l->end_offset = end;
    }
    if (rc) {
        l->failed = true;
        LOG_ERROR(STORAGE_COMP, "%s: truncation failed; the log refuses writes until reopened",
                  l->path);
        return rc;
    }
    l->recovery_point = GR_MIN(l->recovery_point, l->end_offset);
    l->start_offset = GR_MIN(l->start_offset, l->end_offset);
    if (storage_epochs_truncate_end(&l->epochs, l->end_offset)) l->epochs_dirty = true;
    if (l->epochs_dirty && storage_epochs_store(&l->epochs, l->path) == 0) l->epochs_dirty = false;
    /* make the lower recovery point durable before anything is appended above it */
    return storage_dir_checkpoint(l->dir);
}

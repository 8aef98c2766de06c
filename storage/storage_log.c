/*
 * storage_log.c — a partition's log: open/close, append, roll, flush.
 *
 * The append path does, per call: one header walk over the (cache-hot, just validated)
 * batches to assign offsets and find the max timestamp, the roll checks, ONE write(), and —
 * only when index.interval.bytes was crossed — a second header walk that adds in-memory index
 * entries.  No other syscall unless flush.messages is reached or the leader epoch changes.
 * A follower's append (append_replica) differs only in its first walk, which checks the
 * leader's offsets instead of assigning them, after a CRC pass over bytes from the network.
 */
#include "storage/storage_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void storage_log_config_default(struct storage_log_config *c)
{
    c->segment_bytes = 1LL << 30;
    c->segment_ms = 7LL * 24 * 3600 * 1000;
    c->retention_ms = 7LL * 24 * 3600 * 1000;
    c->retention_bytes = -1;
    c->index_interval_bytes = 4096;
    c->segment_index_bytes = 10 * 1024 * 1024;
    c->flush_interval_messages = INT64_MAX;
    c->flush_interval_ms = INT64_MAX;
}

static void config_sanitize(struct storage_log_config *c)
{
    c->segment_bytes = GR_MAX(GR_MIN(c->segment_bytes, (int64_t)INT32_MAX), RB_HEADER_BYTES);
    if (c->segment_ms <= 0) c->segment_ms = INT64_MAX;
    c->index_interval_bytes = GR_MAX(c->index_interval_bytes, 0);
    c->segment_index_bytes = GR_MAX(c->segment_index_bytes, 4 * STORAGE_TIME_ENTRY_BYTES);
    c->flush_interval_messages = GR_MAX(c->flush_interval_messages, 1);
    c->flush_interval_ms = GR_MAX(c->flush_interval_ms, 0);
}

void storage_log_set_config(struct storage_log *l, const struct storage_log_config *cfg)
{
    l->cfg = *cfg;
    config_sanitize(&l->cfg);
}

size_t storage_log_oidx_max(const struct storage_log *l)
{
    return (size_t)l->cfg.segment_index_bytes / STORAGE_OFFSET_ENTRY_BYTES;
}

size_t storage_log_tidx_max(const struct storage_log *l)
{
    return (size_t)l->cfg.segment_index_bytes / STORAGE_TIME_ENTRY_BYTES;
}

int64_t storage_log_start_offset(const struct storage_log *l)
{
    return l->start_offset;
}

int64_t storage_log_end_offset(const struct storage_log *l)
{
    return l->end_offset;
}

int32_t storage_log_latest_epoch(const struct storage_log *l)
{
    return storage_epochs_latest(&l->epochs);
}

int storage_log_end_offset_for_epoch(const struct storage_log *l, int32_t epoch, int32_t *out_epoch,
                                     int64_t *out_end_offset)
{
    storage_epochs_end_offset_for(&l->epochs, epoch, l->end_offset, out_epoch, out_end_offset);
    return 0;
}

int64_t storage_log_size_bytes(const struct storage_log *l)
{
    int64_t n = 0;
    for (int i = 0; i < l->seg_count; i++)
        n += l->segs[i]->size_bytes;
    return n;
}

int storage_log_segment_count(const struct storage_log *l)
{
    return l->seg_count;
}

int storage_log_segment_index(const struct storage_log *l, int64_t offset)
{
    int lo = 0, hi = l->seg_count; /* first segment with base > offset */
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (l->segs[mid]->base_offset <= offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo > 0 ? lo - 1 : 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Segment list maintenance.                                                                   */

static void park_fd(struct storage_log *l, int fd)
{
    if (fd < 0) return;
    if (l->dead_count == l->dead_cap) {
        int cap = l->dead_cap ? l->dead_cap * 2 : 8;
        struct storage_dead_fd *v = realloc(l->dead, (size_t)cap * sizeof(*v));
        if (!v) {
            close(fd); /* cannot defer: readers of this fd will see EBADF */
            return;
        }
        l->dead = v;
        l->dead_cap = cap;
    }
    l->dead[l->dead_count++] = (struct storage_dead_fd){fd, l->now_ms};
}

void storage_log_close_dead(struct storage_log *l, bool all)
{
    int k = 0;
    for (int i = 0; i < l->dead_count; i++) {
        if (all || l->now_ms - l->dead[i].deleted_ms >= STORAGE_FILE_DELETE_DELAY_MS)
            close(l->dead[i].fd);
        else
            l->dead[k++] = l->dead[i];
    }
    l->dead_count = k;
}

void storage_log_drop_segments(struct storage_log *l, int i, int j)
{
    assert(0 <= i && i <= j && j <= l->seg_count);
    for (int k = i; k < j; k++) {
        struct storage_segment *s = l->segs[k];
        storage_segment_unlink(l->path, s);
        park_fd(l, s->fd);
        s->fd = -1;
        storage_segment_free(s);
    }
    memmove(l->segs + i, l->segs + j, (size_t)(l->seg_count - j) * sizeof(*l->segs));
    l->seg_count -= j - i;
    l->dir_dirty = true;
}

static int segs_reserve(struct storage_log *l, int n)
{
    if (n <= l->seg_cap) return 0;
    int cap = l->seg_cap ? l->seg_cap * 2 : 8;
    while (cap < n)
        cap *= 2;
    struct storage_segment **v = realloc(l->segs, (size_t)cap * sizeof(*v));
    if (!v) return GR_ENOMEM;
    l->segs = v;
    l->seg_cap = cap;
    return 0;
}

int storage_log_roll(struct storage_log *l, int64_t now_ms)
{
    struct storage_segment *old = storage_log_active(l), *s = NULL;
    if (old->size_bytes == 0 && old->base_offset == l->end_offset) return 0;
    int rc = segs_reserve(l, l->seg_count + 1);
    if (!rc) rc = storage_segment_create(l->path, l->end_offset, now_ms, &s);
    if (!rc && (rc = storage_segment_deactivate(old)) != 0) {
        storage_segment_unlink(l->path, s);
        storage_segment_free(s);
    }
    if (rc) {
        LOG_ERROR(STORAGE_COMP, "%s: rolling a new segment at %lld failed", l->path,
                  (long long)l->end_offset);
        return rc;
    }
    l->segs[l->seg_count++] = s;
    l->dir_dirty = true;
    LOG_DEBUG(STORAGE_COMP, "%s: rolled segment %020lld", l->path, (long long)s->base_offset);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Flushing.                                                                                   */

static int sync_dir_if_dirty(struct storage_log *l)
{
    if (!l->dir_dirty) return 0;
    if (storage_fsync_path(l->path)) {
        LOG_ERROR(STORAGE_COMP, "%s: fsync of the directory failed: %s", l->path, strerror(errno));
        return GR_EIO;
    }
    l->dir_dirty = false;
    return 0;
}

int storage_log_flush_closed(struct storage_log *l)
{
    for (int i = 0; i + 1 < l->seg_count; i++) {
        struct storage_segment *s = l->segs[i];
        if (s->flushed) continue;
        int rc = storage_segment_sync(l->path, s);
        if (rc) return rc;
    }
    int rc = sync_dir_if_dirty(l);
    if (rc) return rc;
    int64_t active_base = storage_log_active(l)->base_offset;
    if (l->recovery_point < active_base) l->recovery_point = GR_MIN(active_base, l->end_offset);
    return 0;
}

int storage_log_flush(struct storage_log *l)
{
    int rc = storage_log_flush_closed(l);
    struct storage_segment *s = storage_log_active(l);
    if (!rc && !s->flushed) rc = storage_segment_sync(l->path, s);
    if (!rc) rc = sync_dir_if_dirty(l);
    if (!rc && l->epochs_dirty && (rc = storage_epochs_store(&l->epochs, l->path)) == 0)
        l->epochs_dirty = false;
    if (rc) return GR_EIO;
    l->recovery_point = l->end_offset;
    l->last_flush_ms = l->now_ms;
    return 0;
}

int storage_log_maybe_flush(struct storage_log *l, int64_t now_ms)
{
    l->now_ms = now_ms;
    storage_log_close_dead(l, false);
    if (l->end_offset <= l->recovery_point) {
        l->last_flush_ms = now_ms;
        return 0;
    }
    if (now_ms - l->last_flush_ms < l->cfg.flush_interval_ms) return 0;
    return storage_log_flush(l);
}

/* ------------------------------------------------------------------------------------------ */
/* Append.  Two front ends share one back end (append_commit):                                 */
/*   storage_log_append          the leader: assigns offsets from the log end, stamps the epoch */
/*   storage_log_append_replica  a follower: keeps the leader's offsets and epochs, checks that */
/*                               they continue the log                                          */

/* What the header walk over a set found. */
struct append_walk {
    int64_t first_offset;
    int64_t next_offset; /* after the last record */
    int64_t max_ts;
    int64_t max_ts_offset;
    int64_t first_max_ts; /* maxTimestamp of the first batch */
    int32_t first_epoch;  /* partitionLeaderEpoch of the first batch */
    bool epochs_vary;     /* some batch carries another epoch: learn them batch by batch */
    int64_t batches;
};

static void walk_start(struct append_walk *w, int64_t first)
{
    *w = (struct append_walk){.first_offset = first,
                              .next_offset = first,
                              .max_ts = STORAGE_NO_TIMESTAMP,
                              .max_ts_offset = -1,
                              .first_max_ts = STORAGE_NO_TIMESTAMP};
}

/* Accounts for the next batch of the set, b, whose offsets and epoch are final. */
static void walk_batch(struct append_walk *w, const uint8_t *b)
{
    int64_t base = (int64_t)be64_get(b + RB_OFF_BASE_OFFSET);
    int64_t last = base + (int32_t)be32_get(b + RB_OFF_LAST_OFFSET_DELTA);
    int64_t ts = (int64_t)be64_get(b + RB_OFF_MAX_TIMESTAMP);
    int32_t epoch = (int32_t)be32_get(b + RB_OFF_LEADER_EPOCH);
    if (w->batches++ == 0) {
        w->first_max_ts = ts;
        w->first_epoch = epoch;
    } else if (epoch != w->first_epoch) {
        w->epochs_vary = true;
    }
    if (ts > w->max_ts) {
        w->max_ts = ts;
        w->max_ts_offset = last;
    }
    w->next_offset = last + 1;
}

/* Leader: assigns offsets from first and stamps the epoch; GR_EINVAL if the set is not whole
 * batches. */
static int walk_assign(uint8_t *p, size_t n, int64_t first, int32_t epoch, struct append_walk *w)
{
    walk_start(w, first);
    size_t off = 0;
    while (off < n) {
        uint8_t *b = p + off;
        size_t size = rb_batch_size(b, n - off);
        if (size < RB_HEADER_BYTES || b[RB_OFF_MAGIC] != RB_MAGIC_V2) return GR_EINVAL;
        if ((int32_t)be32_get(b + RB_OFF_LAST_OFFSET_DELTA) < 0) return GR_EINVAL;
        be64_put(b + RB_OFF_BASE_OFFSET, (uint64_t)w->next_offset);
        be32_put(b + RB_OFF_LEADER_EPOCH, (uint32_t)epoch);
        walk_batch(w, b);
        off += size;
    }
    return 0;
}

/* Follower: the set (already validated whole) must start at first and its batches follow
 * each other without a gap or overlap; GR_ERANGE otherwise. */
static int walk_check(const uint8_t *p, size_t n, int64_t first, struct append_walk *w)
{
    walk_start(w, first);
    size_t off = 0;
    while (off < n) {
        const uint8_t *b = p + off;
        size_t size = rb_batch_size(b, n - off);
        assert(size >= RB_HEADER_BYTES); /* precondition: rb_set_validate_flags passed */
        if ((int64_t)be64_get(b + RB_OFF_BASE_OFFSET) != w->next_offset) return GR_ERANGE;
        walk_batch(w, b);
        off += size;
    }
    return 0;
}

static int maybe_roll(struct storage_log *l, size_t n, const struct append_walk *w, int64_t now_ms)
{
    struct storage_segment *s = storage_log_active(l);
    if (s->size_bytes == 0) return 0;
    int64_t first_ts;
    int rc = storage_segment_first_ts(s, &l->cursor_buf, &first_ts);
    if (rc) return rc;
    int64_t waited =
        first_ts >= 0 && w->max_ts >= 0 ? w->max_ts - first_ts : now_ms - s->created_ms;
    bool roll = s->size_bytes + (int64_t)n > l->cfg.segment_bytes || waited > l->cfg.segment_ms ||
                s->oidx.count >= storage_log_oidx_max(l) ||
                s->tidx.count >= storage_log_tidx_max(l) ||
                w->next_offset - 1 - s->base_offset > INT32_MAX;
    return roll ? storage_log_roll(l, now_ms) : 0;
}

/* Notes the batches just written at position `pos` of the active segment in its tail ring and,
 * with `index`, adds their index entries. */
static void append_index(struct storage_log *l, const uint8_t *p, size_t n, int64_t pos,
                         bool index)
{
    struct storage_segment *s = storage_log_active(l);
    size_t oidx_max = storage_log_oidx_max(l), tidx_max = storage_log_tidx_max(l);
    size_t off = 0;
    while (off < n) {
        struct storage_batch b;
        b.pos = pos + (int64_t)off;
        b.size = (int64_t)rb_batch_size(p + off, n - off);
        b.base_offset = (int64_t)be64_get(p + off + RB_OFF_BASE_OFFSET);
        b.last_offset = b.base_offset + (int32_t)be32_get(p + off + RB_OFF_LAST_OFFSET_DELTA);
        b.max_ts = (int64_t)be64_get(p + off + RB_OFF_MAX_TIMESTAMP);
        b.leader_epoch = (int32_t)be32_get(p + off + RB_OFF_LEADER_EPOCH);
        b.attributes = (int16_t)be16_get(p + off + RB_OFF_ATTRIBUTES);
        storage_segment_tail_note(s, &b);
        if (index) {
            if (b.max_ts > s->max_ts) {
                s->max_ts = b.max_ts;
                s->max_ts_offset = b.last_offset;
            }
            storage_segment_index_batch(s, &b, l->cfg.index_interval_bytes, oidx_max, tidx_max);
        }
        off += (size_t)b.size;
    }
}

static int append_write(struct storage_log *l, const uint8_t *p, size_t n)
{
    struct storage_segment *s = storage_log_active(l);
    if (storage_write_all(s->fd, p, n) == 0) return 0;
    int saved = errno;
    /* never leave a partial batch behind: cut back to the last whole one */
    if (ftruncate(s->fd, (off_t)s->size_bytes)) {
        l->failed = true;
        LOG_ERROR(STORAGE_COMP,
                  "%s: append failed (%s) and could not be rolled back (%s); "
                  "the log refuses writes until reopened",
                  l->path, strerror(saved), strerror(errno));
    } else {
        LOG_ERROR(STORAGE_COMP, "%s: append failed: %s", l->path, strerror(saved));
    }
    errno = saved;
    return GR_EIO;
}

/* Teaches the epoch cache the partitionLeaderEpoch of each batch written, at the batch's base
 * offset, as recovery does; marks the cache dirty when it changed. */
static void append_learn_epochs(struct storage_log *l, const uint8_t *p, size_t n,
                                const struct append_walk *w)
{
    bool changed = false, any = false;
    if (!w->epochs_vary) { /* the usual case: one epoch for the whole set, no second walk */
        if (w->first_epoch >= 0)
            storage_epochs_assign(&l->epochs, w->first_epoch, w->first_offset, &any);
    } else {
        size_t off = 0, size;
        while ((size = rb_batch_size(p + off, n - off)) != 0) {
            int32_t epoch = (int32_t)be32_get(p + off + RB_OFF_LEADER_EPOCH);
            int64_t base = (int64_t)be64_get(p + off + RB_OFF_BASE_OFFSET);
            if (epoch >= 0 && storage_epochs_assign(&l->epochs, epoch, base, &changed) == 0)
                any = any || changed;
            off += size;
        }
    }
    if (any) l->epochs_dirty = true;
}

/* The shared back end: batches hold their final offsets and epochs, described by w.  Rolls,
 * writes, indexes, moves the log end, learns epochs, flushes per flush.messages. */
static int append_commit(struct storage_log *l, const uint8_t *batches, size_t n,
                         const struct append_walk *w, int64_t now_ms,
                         struct storage_append_info *info)
{
    assert(w->first_offset == l->end_offset && w->next_offset > w->first_offset);
    /* relative offsets in a segment's indexes are u32 from its base; a set spanning more than
     * that (possible only with compacted batches) fits no segment */
    if (w->next_offset - 1 - w->first_offset > INT32_MAX) return GR_EINVAL;
    int rc = maybe_roll(l, n, w, now_ms);
    if (!rc) rc = append_write(l, batches, n);
    if (rc) return rc;
    struct storage_segment *s = storage_log_active(l);
    if (s->size_bytes == 0) s->first_batch_ts = w->first_max_ts;
    if (s->bytes_since_index + (int64_t)n > l->cfg.index_interval_bytes) {
        append_index(l, batches, n, s->size_bytes, true);
    } else {
        append_index(l, batches, n, s->size_bytes, false);
        s->bytes_since_index += (int64_t)n;
        if (w->max_ts > s->max_ts) {
            s->max_ts = w->max_ts;
            s->max_ts_offset = w->max_ts_offset;
        }
    }
    s->size_bytes += (int64_t)n;
    s->flushed = false;
    if (info)
        *info = (struct storage_append_info){w->first_offset, w->next_offset - 1, w->max_ts,
                                             w->max_ts_offset};
    append_learn_epochs(l, batches, n, w);
    l->end_offset = w->next_offset;
    if (l->epochs_dirty && storage_epochs_store(&l->epochs, l->path) == 0) l->epochs_dirty = false;
    if (l->end_offset - l->recovery_point >= l->cfg.flush_interval_messages)
        return storage_log_flush(l);
    return 0;
}

/* Checks common to both front ends; returns 1 when there is something to append. */
static int append_begin(struct storage_log *l, size_t n, int64_t now_ms,
                        struct storage_append_info *info)
{
    if (l->failed) return GR_EIO;
    if (n == 0) { /* Kafka: an empty record set appends nothing and has no offsets */
        if (info) *info = (struct storage_append_info){-1, -1, -1, -1};
        return 0;
    }
    if (n > INT32_MAX) return GR_EINVAL;
    l->now_ms = now_ms;
    return 1;
}

int storage_log_append(struct storage_log *l, uint8_t *batches, size_t n, int32_t leader_epoch,
                       int64_t now_ms, struct storage_append_info *info)
{
    int rc = append_begin(l, n, now_ms, info);
    if (rc <= 0) return rc;
    struct append_walk w;
    rc = walk_assign(batches, n, l->end_offset, leader_epoch, &w);
    return rc ? rc : append_commit(l, batches, n, &w, now_ms, info);
}

int storage_log_append_replica(struct storage_log *l, const uint8_t *batches, size_t n,
                               int64_t now_ms, struct storage_append_info *info)
{
    int rc = append_begin(l, n, now_ms, info);
    if (rc <= 0) return rc;
    /* from the network: lengths, magic and CRC are checked here whatever the caller did */
    struct rb_set_info si;
    if ((rc = rb_set_validate_flags(batches, n, RB_VALIDATE_LOG, &si)) != 0) {
        LOG_WARN(STORAGE_COMP, "%s: refusing replicated batches: batch %d is invalid (%s)", l->path,
                 si.bad_batch_index, gr_strerror(rc));
        return GR_ECORRUPT;
    }
    struct append_walk w;
    if ((rc = walk_check(batches, n, l->end_offset, &w)) != 0) return rc;
    return append_commit(l, batches, n, &w, now_ms, info);
}

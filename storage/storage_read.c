/*
 * storage_read.c — reading a log: fetch slices and ListOffsets (by timestamp, max timestamp).
 *
 * A slice is a byte range of one segment file holding whole batches, found with the sparse
 * .index and a walk over batch headers (chunked preads), so a read costs O(log n) in the index
 * plus at most about index.interval.bytes of headers per boundary it has to find.
 */
#include "storage/storage_int.h"

#include <errno.h>
#include <string.h>

/* Position where a slice of s must end so no batch with base >= max_offset is included. */
static int slice_limit(struct storage_log *l, int idx, int64_t max_offset, int64_t *limit)
{
    struct storage_segment *s = l->segs[idx];
    int64_t seg_next = idx + 1 < l->seg_count ? l->segs[idx + 1]->base_offset : l->end_offset;
    *limit = s->size_bytes;
    if (max_offset >= seg_next) return 0;
    struct storage_batch b;
    int rc = storage_segment_find(l->path, s, max_offset, &l->cursor_buf, &b);
    if (rc == 1) *limit = b.base_offset >= max_offset ? b.pos : b.pos + b.size;
    return rc < 0 ? rc : 0;
}

/* The last batch boundary in [from, want] (want < limit), from being a boundary. */
static int last_boundary(struct storage_log *l, struct storage_segment *s, int64_t from,
                         int64_t want, int64_t *end)
{
    size_t k = storage_index_upper(&s->oidx, STORAGE_OIDX_BY_POS, s->base_offset, want);
    int64_t start = k ? GR_MAX(storage_oidx_pos(&s->oidx, k - 1), from) : from;
    struct storage_cursor c;
    struct storage_batch b;
    int rc;
    storage_cursor_init(&c, s, start, &l->cursor_buf);
    *end = start;
    while ((rc = storage_cursor_peek(&c, &b)) == 1 && b.pos + b.size <= want) {
        *end = b.pos + b.size;
        c.pos = *end;
    }
    return rc < 0 ? rc : 0;
}

int storage_log_read(struct storage_log *l, int64_t offset, int32_t max_bytes, int64_t max_offset,
                     bool min_one_batch, struct storage_slice *out)
{
    *out = (struct storage_slice){-1, 0, 0};
    if (offset < l->start_offset || offset > l->end_offset) return GR_ERANGE;
    if (offset >= l->end_offset || offset >= max_offset) return 0;
    struct storage_batch b;
    int i = storage_log_segment_index(l, offset), rc = 0;
    for (; i < l->seg_count; i++) { /* offsets past a segment's last batch: the next one */
        struct storage_segment *s = l->segs[i];
        rc = storage_segment_find(l->path, s, GR_MAX(offset, s->base_offset), &l->cursor_buf, &b);
        if (rc != 0) break;
    }
    if (rc < 0) goto err;
    if (i == l->seg_count || b.base_offset >= max_offset) return 0;
    struct storage_segment *s = l->segs[i];
    int64_t limit, end;
    if ((rc = slice_limit(l, i, max_offset, &limit))) goto err;
    int64_t want = b.pos + GR_MAX(max_bytes, 0);
    if (want >= limit)
        end = limit;
    else if ((rc = last_boundary(l, s, b.pos, want, &end)))
        goto err;
    if (end == b.pos && min_one_batch) end = b.pos + b.size;
    if (end > b.pos) *out = (struct storage_slice){s->fd, b.pos, (int32_t)(end - b.pos)};
    return 0;
err:
    LOG_ERROR(STORAGE_COMP, "%s: read at offset %lld failed: %s", l->path, (long long)offset,
              gr_strerror(rc));
    return rc == GR_ECORRUPT ? GR_ECORRUPT : GR_EIO;
}

int storage_slice_copy(const struct storage_slice *s, struct gbuf *buf)
{
    if (s->bytes <= 0) return 0;
    if (gbuf_reserve(buf, (size_t)s->bytes)) return GR_ENOMEM;
    size_t got = 0;
    if (storage_pread_full(s->fd, buf->data + buf->len, (size_t)s->bytes, s->file_pos, &got) ||
        got != (size_t)s->bytes) {
        LOG_ERROR(STORAGE_COMP, "reading a slice failed: %s", got ? "short read" : strerror(errno));
        return GR_EIO;
    }
    buf->len += got;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* ListOffsets.                                                                                */

/* Reads batch b of s into l->batch_buf and finds its first record with timestamp >= ts (or
 * == ts when exact) and offset >= min_offset.  1 found, 0 not, negative on error. */
static int batch_find_record(struct storage_log *l, const struct storage_segment *s,
                             const struct storage_batch *b, int64_t ts, bool exact,
                             int64_t min_offset, int64_t *offset, int64_t *timestamp)
{
    gbuf_reset(&l->batch_buf);
    if (gbuf_reserve(&l->batch_buf, (size_t)b->size)) return GR_ENOMEM;
    size_t got = 0;
    if (storage_pread_full(s->fd, l->batch_buf.data, (size_t)b->size, b->pos, &got)) return GR_EIO;
    if (got != (size_t)b->size) return GR_ECORRUPT;
    struct rb_iter it;
    struct rb_record r;
    gbuf_reset(&l->scratch);
    int rc = rb_iter_init(&it, l->batch_buf.data, got, &l->scratch, RB_RECOMPRESS_MAX_BYTES);
    if (rc) return GR_ECORRUPT;
    while ((rc = rb_iter_next(&it, &r)) == 1) {
        if (r.offset < min_offset) continue;
        if (exact ? r.timestamp == ts : r.timestamp >= ts) {
            *offset = r.offset;
            *timestamp = r.timestamp;
            return 1;
        }
    }
    return rc < 0 ? GR_ECORRUPT : 0;
}

static int segment_offset_for_ts(struct storage_log *l, struct storage_segment *s, int64_t ts,
                                 int64_t *offset, int64_t *timestamp)
{
    int rc = storage_segment_indexes_ready(l->path, s);
    if (rc) return rc;
    size_t k = storage_index_upper(&s->tidx, STORAGE_TIDX_BY_TS, s->base_offset, ts);
    int64_t from = k ? storage_tidx_offset(&s->tidx, k - 1, s->base_offset) : s->base_offset;
    from = GR_MAX(from, l->start_offset);
    struct storage_batch b;
    if ((rc = storage_segment_find(l->path, s, from, &l->cursor_buf, &b)) != 1) return rc;
    struct storage_cursor c;
    storage_cursor_init(&c, s, b.pos, &l->cursor_buf);
    while ((rc = storage_cursor_peek(&c, &b)) == 1) {
        c.pos += b.size;
        if (b.max_ts < ts || b.last_offset < l->start_offset) continue;
        int64_t saved_pos = c.pos;
        rc = batch_find_record(l, s, &b, ts, false, l->start_offset, offset, timestamp);
        if (rc != 0) return rc;
        storage_cursor_init(&c, s, saved_pos, &l->cursor_buf);
    }
    return rc;
}

int storage_log_offset_for_timestamp(struct storage_log *l, int64_t ts, int64_t *offset,
                                     int64_t *timestamp)
{
    *offset = -1;
    *timestamp = -1;
    for (int i = 0; i < l->seg_count; i++) {
        struct storage_segment *s = l->segs[i];
        if (s->max_ts < ts || s->size_bytes == 0) continue;
        int rc = segment_offset_for_ts(l, s, ts, offset, timestamp);
        if (rc == 1) return 0;
        if (rc < 0) {
            LOG_ERROR(STORAGE_COMP, "%s: timestamp search failed: %s", l->path, gr_strerror(rc));
            return rc == GR_ECORRUPT ? GR_ECORRUPT : GR_EIO;
        }
    }
    return 0;
}

int storage_log_max_timestamp(struct storage_log *l, int64_t *offset, int64_t *timestamp)
{
    *offset = -1;
    *timestamp = -1;
    int best = -1;
    for (int i = 0; i < l->seg_count; i++)
        if (l->segs[i]->size_bytes > 0 && l->segs[i]->max_ts >= 0 &&
            (best < 0 || l->segs[i]->max_ts > l->segs[best]->max_ts))
            best = i;
    if (best < 0) return 0;
    struct storage_segment *s = l->segs[best];
    *offset = GR_MAX(s->max_ts_offset, l->start_offset);
    *timestamp = s->max_ts;
    /* the index keeps the batch; the exact record is the first one carrying the max */
    struct storage_batch b;
    int rc = storage_segment_find(l->path, s, s->max_ts_offset, &l->cursor_buf, &b);
    if (rc == 1)
        rc = batch_find_record(l, s, &b, s->max_ts, true, l->start_offset, offset, timestamp);
    if (rc < 0) {
        LOG_ERROR(STORAGE_COMP, "%s: max timestamp lookup failed: %s", l->path, gr_strerror(rc));
        return rc == GR_ECORRUPT ? GR_ECORRUPT : GR_EIO;
    }
    return 0;
}

/*
 * storage_segment.c — one segment: `<base>.log` with its `.index` and `.timeindex`.
 *
 * The .log is a plain concatenation of magic-v2 record batches exactly as they arrived (only
 * baseOffset and partitionLeaderEpoch rewritten, both outside the CRC).  It is opened
 * O_APPEND, so every append lands at the current end even after a truncation, and it is only
 * ever shortened at a batch boundary (recovery, truncate_to, a failed append's rollback).
 *
 * What survives a crash: after kill -9 the page cache survives, so every completed write() is
 * there; a write() interrupted mid-way may leave a partial batch, which the next open cuts off
 * (length + CRC check).  After power loss only what was fsynced below the recovery point is
 * trusted; everything above it is re-validated.
 */
#include "storage/storage_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct storage_segment *segment_alloc(int64_t base, int64_t now_ms)
{
    struct storage_segment *s = calloc(1, sizeof(*s));
    if (!s) return NULL;
    s->base_offset = base;
    s->fd = -1;
    s->max_ts = STORAGE_NO_TIMESTAMP;
    s->max_ts_offset = -1;
    s->first_batch_ts = STORAGE_TS_UNKNOWN;
    s->created_ms = now_ms;
    storage_index_init(&s->oidx, STORAGE_OFFSET_ENTRY_BYTES);
    storage_index_init(&s->tidx, STORAGE_TIME_ENTRY_BYTES);
    return s;
}

void storage_segment_free(struct storage_segment *s)
{
    if (!s) return;
    if (s->fd >= 0) close(s->fd);
    storage_index_release(&s->oidx);
    storage_index_release(&s->tidx);
    free(s->tail);
    free(s);
}

int storage_segment_create(const char *dir, int64_t base, int64_t now_ms,
                           struct storage_segment **out)
{
    char path[STORAGE_PATH_MAX];
    struct storage_segment *s = segment_alloc(base, now_ms);
    if (!s) return GR_ENOMEM;
    storage_segment_path(path, sizeof path, dir, base, ".log");
    s->fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
    if (s->fd < 0 && errno == EEXIST) {
        /* left over from an earlier attempt: reuse it only if it holds nothing */
        struct stat st;
        s->fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC);
        if (s->fd >= 0 && (fstat(s->fd, &st) || st.st_size != 0)) {
            LOG_ERROR(STORAGE_COMP, "segment %s already exists and is not empty", path);
            errno = EEXIST;
            goto err_free;
        }
    }
    if (s->fd < 0) goto err_free;
    storage_segment_path(path, sizeof path, dir, base, ".index");
    if (storage_index_create_owned(&s->oidx, path)) goto err_free;
    storage_segment_path(path, sizeof path, dir, base, ".timeindex");
    if (storage_index_create_owned(&s->tidx, path)) goto err_free;
    s->flushed = false;
    *out = s;
    return 0;
err_free:
    LOG_ERROR(STORAGE_COMP, "cannot create segment %s: %s", path, strerror(errno));
    storage_segment_free(s);
    return GR_EIO;
}

int storage_segment_open(const char *dir, int64_t base, int64_t now_ms,
                         struct storage_segment **out)
{
    char path[STORAGE_PATH_MAX];
    struct storage_segment *s = segment_alloc(base, now_ms);
    if (!s) return GR_ENOMEM;
    storage_segment_path(path, sizeof path, dir, base, ".log");
    struct stat st;
    s->fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC);
    if (s->fd < 0 || fstat(s->fd, &st)) {
        LOG_ERROR(STORAGE_COMP, "cannot open segment %s: %s", path, strerror(errno));
        storage_segment_free(s);
        return GR_EIO;
    }
    s->size_bytes = st.st_size;
    s->flushed = true;
    *out = s;
    return 0;
}

int storage_segment_activate(const char *dir, struct storage_segment *s)
{
    char path[STORAGE_PATH_MAX];
    if (s->oidx.owned && s->tidx.owned) return 0;
    storage_segment_path(path, sizeof path, dir, s->base_offset, ".index");
    int rc = storage_index_load_owned(&s->oidx, path, s->base_offset, s->size_bytes);
    if (rc) return rc;
    storage_segment_path(path, sizeof path, dir, s->base_offset, ".timeindex");
    return storage_index_load_owned(&s->tidx, path, s->base_offset, s->size_bytes);
}

int storage_segment_deactivate(struct storage_segment *s)
{
    storage_segment_time_entry(s, SIZE_MAX);
    int rc = storage_index_persist(&s->oidx);
    if (!rc) rc = storage_index_persist(&s->tidx);
    if (rc) return rc;
    /* Start writeback now so the fsync at the next checkpoint finds little left to do. */
    if (sync_file_range(s->fd, 0, 0, SYNC_FILE_RANGE_WRITE))
        LOG_WARN(STORAGE_COMP, "sync_file_range: %s", strerror(errno));
    bool dirty = s->oidx.dirty || s->tidx.dirty;
    free(s->tail); /* no more appends here */
    s->tail = NULL;
    storage_index_release(&s->oidx);
    storage_index_release(&s->tidx);
    if (dirty) s->flushed = false;
    return 0;
}

int storage_segment_indexes_ready(const char *dir, struct storage_segment *s)
{
    char path[STORAGE_PATH_MAX];
    int rc = 0;
    if (!s->oidx.owned && !s->oidx.mapped) {
        storage_segment_path(path, sizeof path, dir, s->base_offset, ".index");
        rc = storage_index_map(&s->oidx, path);
    }
    if (!rc && !s->tidx.owned && !s->tidx.mapped) {
        storage_segment_path(path, sizeof path, dir, s->base_offset, ".timeindex");
        rc = storage_index_map(&s->tidx, path);
    }
    return rc;
}

static int sync_index(const char *dir, struct storage_index *ix, int64_t base, const char *ext)
{
    if (ix->owned) return storage_index_sync(ix);
    char path[STORAGE_PATH_MAX];
    storage_segment_path(path, sizeof path, dir, base, ext);
    if (storage_fsync_path(path) && errno != ENOENT) return GR_EIO;
    return 0;
}

int storage_segment_sync(const char *dir, struct storage_segment *s)
{
    if (fdatasync(s->fd)) {
        LOG_ERROR(STORAGE_COMP, "fdatasync of segment %lld failed: %s", (long long)s->base_offset,
                  strerror(errno));
        return GR_EIO;
    }
    int rc = sync_index(dir, &s->oidx, s->base_offset, ".index");
    if (!rc) rc = sync_index(dir, &s->tidx, s->base_offset, ".timeindex");
    if (!rc) s->flushed = true;
    return rc;
}

int storage_segment_unlink(const char *dir, const struct storage_segment *s)
{
    static const char *const exts[] = {".log", ".index", ".timeindex"};
    char path[STORAGE_PATH_MAX];
    int rc = 0;
    for (size_t i = 0; i < GR_ARRAY_LEN(exts); i++) {
        storage_segment_path(path, sizeof path, dir, s->base_offset, exts[i]);
        if (unlink(path) && errno != ENOENT) {
            LOG_ERROR(STORAGE_COMP, "cannot delete %s: %s", path, strerror(errno));
            rc = GR_EIO;
        }
    }
    return rc;
}

void storage_segment_time_entry(struct storage_segment *s, size_t tidx_max)
{
    struct storage_index *t = &s->tidx;
    if (!t->owned || t->count >= tidx_max || s->max_ts < 0) return;
    if (t->count > 0 && s->max_ts <= storage_tidx_ts(t, t->count - 1)) return;
    uint8_t e[STORAGE_TIME_ENTRY_BYTES];
    be64_put(e, (uint64_t)s->max_ts);
    be32_put(e + 8, (uint32_t)(s->max_ts_offset - s->base_offset));
    (void)storage_index_append(t, e); /* on ENOMEM the index just stays sparser */
}

void storage_segment_index_batch(struct storage_segment *s, const struct storage_batch *b,
                                 int32_t interval_bytes, size_t oidx_max, size_t tidx_max)
{
    if (s->bytes_since_index > interval_bytes) {
        if (s->oidx.count < oidx_max) {
            uint8_t e[STORAGE_OFFSET_ENTRY_BYTES];
            be32_put(e, (uint32_t)(b->last_offset - s->base_offset));
            be32_put(e + 4, (uint32_t)b->pos);
            (void)storage_index_append(&s->oidx, e);
        }
        storage_segment_time_entry(s, tidx_max);
        s->bytes_since_index = 0;
    }
    s->bytes_since_index += b->size;
}

int storage_segment_first_ts(struct storage_segment *s, struct gbuf *scratch, int64_t *ts)
{
    if (s->first_batch_ts != STORAGE_TS_UNKNOWN) {
        *ts = s->first_batch_ts;
        return 0;
    }
    *ts = STORAGE_NO_TIMESTAMP;
    if (s->size_bytes == 0) return 0;
    struct storage_cursor c;
    struct storage_batch b;
    storage_cursor_init(&c, s, 0, scratch);
    int rc = storage_cursor_peek(&c, &b);
    if (rc < 0) return rc;
    if (rc == 1) *ts = s->first_batch_ts = b.max_ts;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* The header cursor: chunked preads, so walking many small batches costs few syscalls.        */

void storage_cursor_init(struct storage_cursor *c, const struct storage_segment *s, int64_t pos,
                         struct gbuf *buf)
{
    c->seg = s;
    c->pos = pos;
    c->limit = s->size_bytes;
    c->buf = buf;
    c->buf_pos = 0;
    gbuf_reset(buf);
}

static int cursor_fill(struct storage_cursor *c)
{
    size_t want = (size_t)GR_MIN((int64_t)STORAGE_CURSOR_CHUNK_BYTES, c->limit - c->pos);
    gbuf_reset(c->buf);
    if (gbuf_reserve(c->buf, STORAGE_CURSOR_CHUNK_BYTES)) return GR_ENOMEM;
    size_t got = 0;
    if (storage_pread_full(c->seg->fd, c->buf->data, want, c->pos, &got)) {
        LOG_ERROR(STORAGE_COMP, "reading segment %lld failed: %s", (long long)c->seg->base_offset,
                  strerror(errno));
        return GR_EIO;
    }
    c->buf->len = got;
    c->buf_pos = c->pos;
    return 0;
}

int storage_cursor_peek(struct storage_cursor *c, struct storage_batch *b)
{
    if (c->pos >= c->limit) return 0;
    if (c->limit - c->pos < RB_HEADER_BYTES) return GR_ECORRUPT;
    if (c->pos < c->buf_pos || c->pos + RB_HEADER_BYTES > c->buf_pos + (int64_t)c->buf->len) {
        int rc = cursor_fill(c);
        if (rc) return rc;
        if (c->buf->len < RB_HEADER_BYTES) return GR_ECORRUPT; /* file shrank under us */
    }
    struct rb_header h;
    if (rb_header_parse(c->buf->data + (c->pos - c->buf_pos), RB_HEADER_BYTES, &h))
        return GR_ECORRUPT;
    b->pos = c->pos;
    b->size = (int64_t)h.batch_length + RB_LOG_OVERHEAD;
    if (b->size > c->limit - c->pos || h.last_offset_delta < 0) return GR_ECORRUPT;
    b->base_offset = h.base_offset;
    b->last_offset = h.base_offset + h.last_offset_delta;
    b->max_ts = h.max_timestamp;
    b->leader_epoch = h.partition_leader_epoch;
    b->attributes = h.attributes;
    return 1;
}

void storage_segment_tail_note(struct storage_segment *s, const struct storage_batch *b)
{
    if (!s->tail && !(s->tail = calloc(1, sizeof(*s->tail)))) return;
    struct storage_tail *t = s->tail;
    t->b[t->next] = *b;
    t->next = (t->next + 1) % STORAGE_TAIL_BATCHES;
    if (t->count < STORAGE_TAIL_BATCHES) t->count++;
}

/* The first batch with last_offset >= offset from the tail ring: 1 found, 0 there is none in
 * this segment, -1 the ring cannot tell (the disk walk must). */
static int tail_find(const struct storage_segment *s, int64_t offset, struct storage_batch *out)
{
    const struct storage_tail *t = s->tail;
    if (!t || t->count == 0) return -1;
    int i = (t->next + STORAGE_TAIL_BATCHES - 1) % STORAGE_TAIL_BATCHES;
    const struct storage_batch *e = &t->b[i];
    if (e->pos + e->size != s->size_bytes) return -1; /* cut since, or not the newest */
    if (offset > e->last_offset) return 0;
    for (int seen = 1;; seen++) {
        if (e->base_offset <= offset) {
            *out = *e; /* offsets only grow along a segment: the batches before end below it */
            return 1;
        }
        if (seen == t->count) return -1;
        int j = (i + STORAGE_TAIL_BATCHES - 1) % STORAGE_TAIL_BATCHES;
        const struct storage_batch *older = &t->b[j];
        if (older->pos + older->size != e->pos) return -1; /* not back to back: stale */
        if (older->last_offset < offset) {
            *out = *e; /* offset falls in a gap before e: e is the first batch past it */
            return 1;
        }
        i = j;
        e = older;
    }
}

int storage_segment_find(const char *dir, struct storage_segment *s, int64_t offset,
                         struct gbuf *buf, struct storage_batch *b)
{
    int known = tail_find(s, offset, b);
    if (known >= 0) return known;
    int rc = storage_segment_indexes_ready(dir, s);
    if (rc) return rc;
    size_t k = storage_index_upper(&s->oidx, STORAGE_OIDX_BY_OFFSET, s->base_offset, offset);
    int64_t pos = k ? storage_oidx_pos(&s->oidx, k - 1) : 0;
    if (pos >= s->size_bytes) pos = 0; /* an index entry past the data: distrust it */
    struct storage_cursor c;
    storage_cursor_init(&c, s, pos, buf);
    while ((rc = storage_cursor_peek(&c, b)) == 1) {
        if (b->last_offset >= offset) return 1;
        c.pos += b->size;
    }
    return rc;
}

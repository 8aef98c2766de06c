/*
 * storage_recovery.c — bringing a partition's segments back after a clean or unclean stop.
 *
 * Recovery point R (from recovery-point-offset-checkpoint; absent = 0) is the offset below
 * which everything was fsynced, .log and indexes.  At open:
 *   - segments wholly below the one containing R are trusted: their indexes get a cheap sanity
 *     check (sizes, last entries) and are rebuilt from the .log if it fails;
 *   - from the segment containing R onwards every batch is validated: magic 2, batchLength
 *     >= 49 and within the file, offsets increasing, CRC-32C over bytes 21..end.  In the
 *     segment containing R the scan starts at the last .index entry below R, so after a clean
 *     shutdown (R = log end) only the bytes after the last index entry are read;
 *   - the first invalid or partial batch ends the log: the .log is truncated there (logged
 *     with the bytes dropped) and every later segment is deleted;
 *   - indexes of the scanned segments are rebuilt from the batches seen.
 */
#include "storage/storage_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Sequential reader over one .log with a large reused buffer. */
struct scan {
    int fd;
    int64_t limit;
    uint8_t *buf;
    size_t cap;
    int64_t buf_pos;
    size_t buf_len;
};

static int scan_fill(struct scan *sc, int64_t pos)
{
    size_t want = (size_t)GR_MIN((int64_t)sc->cap, sc->limit - pos);
    size_t got = 0;
    if (storage_pread_full(sc->fd, sc->buf, want, pos, &got)) return GR_EIO;
    sc->buf_pos = pos;
    sc->buf_len = got;
    return 0;
}

/* Makes [pos, pos + n) available (n <= cap) and points *p at it; GR_ETRUNC when the file
 * ends first. */
static int scan_get(struct scan *sc, int64_t pos, size_t n, const uint8_t **p)
{
    if (pos < sc->buf_pos || pos + (int64_t)n > sc->buf_pos + (int64_t)sc->buf_len) {
        int rc = scan_fill(sc, pos);
        if (rc) return rc;
        if (sc->buf_len < n) return GR_ETRUNC;
    }
    *p = sc->buf + (pos - sc->buf_pos);
    return 0;
}

static int scan_crc(struct scan *sc, int64_t from, int64_t to, uint32_t *crc)
{
    uint32_t c = 0;
    while (from < to) {
        if (from < sc->buf_pos || from >= sc->buf_pos + (int64_t)sc->buf_len) {
            int rc = scan_fill(sc, from);
            if (rc) return rc;
            if (sc->buf_len == 0) return GR_ETRUNC;
        }
        int64_t end = GR_MIN(to, sc->buf_pos + (int64_t)sc->buf_len);
        c = crc32c(c, sc->buf + (from - sc->buf_pos), (size_t)(end - from));
        from = end;
    }
    *crc = c;
    return 0;
}

/* Validates the batch at pos.  1 = valid (b filled), 0 = invalid (reason set), < 0 = I/O. */
static int scan_batch(struct scan *sc, const struct storage_segment *s, int64_t pos,
                      int64_t next_offset, struct storage_batch *b, const char **reason)
{
    const uint8_t *p;
    struct rb_header h;
    *reason = "partial batch header";
    if (sc->limit - pos < RB_HEADER_BYTES) return 0;
    int rc = scan_get(sc, pos, RB_HEADER_BYTES, &p);
    if (rc == GR_ETRUNC) return 0;
    if (rc) return rc;
    *reason = "bad batch header";
    if (rb_header_parse(p, RB_HEADER_BYTES, &h) || h.last_offset_delta < 0) return 0;
    b->pos = pos;
    b->size = (int64_t)h.batch_length + RB_LOG_OVERHEAD;
    b->base_offset = h.base_offset;
    b->last_offset = h.base_offset + h.last_offset_delta;
    b->max_ts = h.max_timestamp;
    b->leader_epoch = h.partition_leader_epoch;
    b->attributes = h.attributes;
    *reason = "partial batch";
    if (b->size > sc->limit - pos) return 0;
    *reason = "offset out of order";
    if (b->base_offset < next_offset || b->last_offset - s->base_offset > INT32_MAX) return 0;
    uint32_t crc;
    rc = scan_crc(sc, pos + RB_OFF_ATTRIBUTES, pos + b->size, &crc);
    *reason = "partial batch";
    if (rc == GR_ETRUNC) return 0;
    if (rc) return rc;
    *reason = "CRC mismatch";
    return crc == h.crc ? 1 : 0;
}

/* Drops index entries the scan will recreate; returns the position to scan from. */
static int64_t recover_reset(struct storage_segment *s, size_t keep)
{
    storage_index_truncate(&s->oidx, keep);
    int64_t trusted = keep ? storage_oidx_offset(&s->oidx, keep - 1, s->base_offset) : -1;
    size_t t = s->tidx.count;
    while (t > 0 && storage_tidx_offset(&s->tidx, t - 1, s->base_offset) > trusted)
        t--;
    storage_index_truncate(&s->tidx, t);
    s->max_ts = t ? storage_tidx_ts(&s->tidx, t - 1) : STORAGE_NO_TIMESTAMP;
    s->max_ts_offset = t ? storage_tidx_offset(&s->tidx, t - 1, s->base_offset) : -1;
    s->bytes_since_index = 0;
    if (keep == 0) s->first_batch_ts = STORAGE_TS_UNKNOWN;
    return keep ? storage_oidx_pos(&s->oidx, keep - 1) : 0;
}

static void recover_note_batch(struct storage_log *l, struct storage_segment *s,
                               const struct storage_batch *b)
{
    if (b->pos == 0) s->first_batch_ts = b->max_ts;
    if (b->max_ts > s->max_ts) {
        s->max_ts = b->max_ts;
        s->max_ts_offset = b->last_offset;
    }
    storage_segment_index_batch(s, b, l->cfg.index_interval_bytes, storage_log_oidx_max(l),
                                storage_log_tidx_max(l));
    bool changed = false;
    if (b->leader_epoch >= 0 &&
        storage_epochs_assign(&l->epochs, b->leader_epoch, b->base_offset, &changed) == 0 &&
        changed)
        l->epochs_dirty = true;
}

static int recover_cut(struct storage_log *l, struct storage_segment *s, int64_t pos,
                       const char *reason)
{
    LOG_WARN(STORAGE_COMP,
             "%s: %s at position %lld of segment %020lld; truncating the log "
             "there (%lld bytes dropped)",
             l->path, reason, (long long)pos, (long long)s->base_offset,
             (long long)(s->size_bytes - pos));
    if (ftruncate(s->fd, (off_t)pos)) {
        LOG_ERROR(STORAGE_COMP, "%s: ftruncate failed: %s", l->path, strerror(errno));
        return GR_EIO;
    }
    s->size_bytes = pos;
    s->flushed = false;
    return 0;
}

int storage_recover_segment(struct storage_log *l, struct storage_segment *s, size_t keep,
                            int64_t *valid_pos, int64_t *next_offset)
{
    assert(s->oidx.owned && s->tidx.owned && keep <= s->oidx.count);
    struct scan sc = {.fd = s->fd, .limit = s->size_bytes, .cap = STORAGE_SCAN_CHUNK_BYTES};
    sc.buf = malloc(sc.cap);
    if (!sc.buf) return GR_ENOMEM;
    int64_t trusted = keep ? storage_oidx_offset(&s->oidx, keep - 1, s->base_offset) : -1;
    int64_t pos = recover_reset(s, keep), next = s->base_offset;
    const char *reason = NULL;
    struct storage_batch b;
    int rc = 0;
    while (pos < s->size_bytes) {
        rc = scan_batch(&sc, s, pos, next, &b, &reason);
        if (rc < 0) break;
        if (trusted >= 0) {
            bool named = rc == 1 && b.last_offset == trusted;
            trusted = -1;
            if (!named) { /* the index entry we trusted does not name this batch */
                pos = recover_reset(s, 0);
                continue;
            }
        }
        if (rc == 0) break;
        recover_note_batch(l, s, &b);
        next = b.last_offset + 1;
        pos += b.size;
    }
    free(sc.buf);
    if (rc < 0) {
        LOG_ERROR(STORAGE_COMP, "%s: reading segment %020lld failed: %s", l->path,
                  (long long)s->base_offset, strerror(errno));
        return rc;
    }
    if (pos < s->size_bytes && (rc = recover_cut(l, s, pos, reason))) return rc;
    *valid_pos = pos;
    *next_offset = next;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Whole-log recovery at open.                                                                 */

static bool segment_name(const char *name, const char *ext, int64_t *base)
{
    size_t n = strlen(name), e = strlen(ext);
    if (n != 20 + e || strcmp(name + 20, ext) != 0) return false;
    int64_t v = 0;
    for (int i = 0; i < 20; i++) {
        if (name[i] < '0' || name[i] > '9' || v > (INT64_MAX - 9) / 10) return false;
        v = v * 10 + (name[i] - '0');
    }
    *base = v;
    return true;
}

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Sorted base offsets of the .log files; leftovers (.tmp, .deleted, .cleaned, .swap, indexes
 * without a .log) are removed. */
static int list_segments(struct storage_log *l, int64_t **out, int *count)
{
    DIR *dir = opendir(l->path);
    if (!dir) return GR_EIO;
    int64_t *v = NULL, base;
    int n = 0, cap = 0, rc = 0;
    struct dirent *de;
    for (int pass = 0; pass < 2 && !rc; pass++) {
        rewinddir(dir);
        while ((de = readdir(dir)) != NULL) {
            char path[STORAGE_PATH_MAX];
            strfmt(path, sizeof path, "%s/%s", l->path, de->d_name);
            bool junk = has_suffix(de->d_name, ".tmp") || has_suffix(de->d_name, ".deleted") ||
                        has_suffix(de->d_name, ".cleaned") || has_suffix(de->d_name, ".swap");
            if (pass == 0 && segment_name(de->d_name, ".log", &base)) {
                if (n == cap) {
                    cap = cap ? cap * 2 : 16;
                    int64_t *nv = realloc(v, (size_t)cap * sizeof(*v));
                    if (!nv) {
                        rc = GR_ENOMEM;
                        break;
                    }
                    v = nv;
                }
                v[n++] = base;
            } else if (pass == 1 && (segment_name(de->d_name, ".index", &base) ||
                                     segment_name(de->d_name, ".timeindex", &base))) {
                junk = !bsearch(&base, v, (size_t)n, sizeof(*v), cmp_i64);
            }
            if (junk && pass == 1) {
                LOG_INFO(STORAGE_COMP, "removing leftover file %s", path);
                if (unlink(path) && errno != ENOENT) rc = GR_EIO;
            }
        }
        if (pass == 0 && n > 0) qsort(v, (size_t)n, sizeof(*v), cmp_i64);
    }
    closedir(dir);
    if (rc) {
        free(v);
        return rc;
    }
    *out = v;
    *count = n;
    return 0;
}

/* Reads the last entry of an index file; *entries = 0 when empty.  GR_ENOENT, GR_ECORRUPT
 * (size not a whole number of entries) or GR_EIO. */
static int read_last_entry(const char *path, int eb, uint8_t *e, size_t *entries)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? GR_ENOENT : GR_EIO;
    struct stat st;
    int rc = 0;
    size_t got = 0;
    if (fstat(fd, &st)) {
        rc = GR_EIO;
    } else if (st.st_size % eb != 0) {
        rc = GR_ECORRUPT;
    } else {
        *entries = (size_t)st.st_size / (size_t)eb;
        if (*entries > 0 &&
            (storage_pread_full(fd, e, (size_t)eb, st.st_size - eb, &got) || got != (size_t)eb))
            rc = GR_EIO;
    }
    close(fd);
    return rc;
}

/* Kafka's sanity check of a trusted segment's indexes; also loads its max timestamp. */
static bool segment_trusted_ok(struct storage_log *l, struct storage_segment *s)
{
    char path[STORAGE_PATH_MAX];
    uint8_t e[STORAGE_TIME_ENTRY_BYTES];
    size_t n = 0;
    storage_segment_path(path, sizeof path, l->path, s->base_offset, ".index");
    if (read_last_entry(path, STORAGE_OFFSET_ENTRY_BYTES, e, &n)) return false;
    if (n > 0 && ((int64_t)be32_get(e + 4) >= s->size_bytes || be32_get(e) > INT32_MAX))
        return false;
    storage_segment_path(path, sizeof path, l->path, s->base_offset, ".timeindex");
    if (read_last_entry(path, STORAGE_TIME_ENTRY_BYTES, e, &n)) return false;
    if (n == 0) return s->size_bytes == 0;
    s->max_ts = (int64_t)be64_get(e);
    s->max_ts_offset = s->base_offset + be32_get(e + 8);
    return true;
}

/* Rebuilds a closed segment's indexes from its .log (truncating a bad tail in place). */
static int rebuild_closed(struct storage_log *l, struct storage_segment *s)
{
    char path[STORAGE_PATH_MAX];
    LOG_INFO(STORAGE_COMP, "%s: rebuilding the indexes of segment %020lld", l->path,
             (long long)s->base_offset);
    storage_segment_path(path, sizeof path, l->path, s->base_offset, ".index");
    int rc = storage_index_create_owned(&s->oidx, path);
    storage_segment_path(path, sizeof path, l->path, s->base_offset, ".timeindex");
    if (!rc) rc = storage_index_create_owned(&s->tidx, path);
    int64_t pos, next;
    if (!rc) rc = storage_recover_segment(l, s, 0, &pos, &next);
    if (!rc) rc = storage_segment_deactivate(s);
    s->flushed = false;
    return rc;
}

/* Validates segments k.. (k holds the recovery point); returns the log end offset. */
static int recover_tail(struct storage_log *l, int k, int64_t *end)
{
    int64_t next = l->segs[k]->base_offset, pos;
    for (int i = k; i < l->seg_count; i++) {
        struct storage_segment *s = l->segs[i];
        if (i > k && s->base_offset < next) {
            LOG_WARN(STORAGE_COMP,
                     "%s: segment %020lld overlaps the one before; deleting it "
                     "and every later segment",
                     l->path, (long long)s->base_offset);
            storage_log_drop_segments(l, i, l->seg_count);
            break;
        }
        int rc = storage_segment_activate(l->path, s);
        size_t keep = 0;
        if (!rc && i == k && l->recovery_point > s->base_offset)
            keep = storage_index_upper(&s->oidx, STORAGE_OIDX_BY_OFFSET, s->base_offset,
                                       l->recovery_point - 1);
        int64_t size_before = s->size_bytes;
        if (!rc) rc = storage_recover_segment(l, s, keep, &pos, &next);
        if (rc) return rc;
        s->flushed = false;
        if (pos < size_before && i + 1 < l->seg_count) {
            LOG_WARN(STORAGE_COMP, "%s: deleting %d segment(s) after the truncation point", l->path,
                     l->seg_count - i - 1);
            storage_log_drop_segments(l, i + 1, l->seg_count);
        }
        if (i + 1 < l->seg_count && (rc = storage_segment_deactivate(s))) return rc;
        if (s->size_bytes == 0) next = s->base_offset;
    }
    *end = next;
    return storage_segment_activate(l->path, storage_log_active(l));
}

static int open_segments(struct storage_log *l, int64_t now_ms)
{
    int64_t *bases = NULL;
    int n = 0;
    int rc = list_segments(l, &bases, &n);
    if (rc) return rc;
    l->segs = calloc((size_t)GR_MAX(n, 1) + 4, sizeof(*l->segs));
    l->seg_cap = GR_MAX(n, 1) + 4;
    if (!l->segs) rc = GR_ENOMEM;
    for (int i = 0; i < n && !rc; i++) {
        rc = storage_segment_open(l->path, bases[i], now_ms, &l->segs[i]);
        if (!rc) l->seg_count++;
    }
    free(bases);
    if (!rc && l->seg_count == 0) {
        rc = storage_segment_create(l->path, GR_MAX(l->start_offset, 0), now_ms, &l->segs[0]);
        if (!rc) l->seg_count = 1;
        l->dir_dirty = true;
    }
    return rc;
}

int storage_recover_log(struct storage_log *l, int64_t now_ms, char *err, size_t err_len)
{
    int rc = open_segments(l, now_ms);
    if (rc) {
        storage_err(err, err_len, "%s: cannot open segments: %s", l->path, gr_strerror(rc));
        return rc;
    }
    if (l->recovery_point < 0) l->recovery_point = 0;
    int k = storage_log_segment_index(l, l->recovery_point);
    for (int i = 0; i < k && !rc; i++)
        if (!segment_trusted_ok(l, l->segs[i])) rc = rebuild_closed(l, l->segs[i]);
    int64_t end = 0;
    if (!rc) rc = recover_tail(l, k, &end);
    if (rc) {
        storage_err(err, err_len, "%s: recovery failed: %s (%s)", l->path, gr_strerror(rc),
                    strerror(errno));
        return rc;
    }
    l->end_offset = end;
    l->start_offset = GR_MIN(GR_MAX(l->start_offset, l->segs[0]->base_offset), end);
    l->recovery_point = GR_MIN(l->recovery_point, end);
    if (storage_epochs_truncate_end(&l->epochs, end)) l->epochs_dirty = true;
    if (storage_epochs_truncate_start(&l->epochs, l->start_offset)) l->epochs_dirty = true;
    if (l->epochs_dirty && (rc = storage_epochs_store(&l->epochs, l->path)) == 0)
        l->epochs_dirty = false;
    if (rc) storage_err(err, err_len, "%s: cannot write leader-epoch-checkpoint", l->path);
    return rc;
}

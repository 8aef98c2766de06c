/*
 * raft_io_log.c — the durable Raft log: entry segments, hard state and snapshot in one
 * directory.  Implements raft/raft_io.h; open/recovery is at the bottom of this file.
 *
 * Directory layout (all integers big-endian):
 *
 *   <dir>/00000000000000000001.rlog   entry segments, named by the index of their first entry
 *   <dir>/00000000000000004097.rlog   (20 digits); only the last one is ever appended to
 *   <dir>/hardstate                   two fixed 32-byte slots, written alternately
 *   <dir>/snapshot                    the latest snapshot (replaced atomically)
 *   <dir>/snapshot.tmp                a snapshot being written; removed by recovery
 *
 * Segment record (header 29 bytes, then data):
 *   +0  u32 magic  0x47524C31 "GRL1" (format version 1)
 *   +4  u32 len    data bytes, <= RAFT_ENTRY_BYTES_MAX (more is corruption)
 *   +8  u32 crc    CRC-32C of bytes +4..+8 (len) then +12..end (index, term, type, data)
 *   +12 u64 index  consecutive within the directory; the first equals the file name
 *   +20 u64 term   >= 1, never decreasing along the log
 *   +28 u8  type   enum raft_entry_type
 *   +29 data[len]
 *
 * hardstate slot (32 bytes; slot = seq & 1, the valid slot with the higher seq wins):
 *   +0 u32 magic 0x47524853 "GRHS"  +4 u32 version 1  +8 u64 seq  +16 u64 term
 *   +24 u32 vote  +28 u32 crc (CRC-32C of bytes 0..28)
 *
 * snapshot file:
 *   +0 u32 magic 0x47525331 "GRS1"  +4 u32 version 1  +8 u64 index  +16 u64 term
 *   +24 u32 n_voters (<= RAFT_MEMBERS_MAX)  +28 u32 voters[n_voters]  then u32 len, data[len],
 *   u32 crc (CRC-32C of everything before it); the file size must match exactly.
 *
 * What survives a crash at any point:
 *   - Appends: records are written at the end of the last segment and fdatasync'd once per
 *     ready.  A record counts only when its header, CRC and index check; recovery cuts the last
 *     segment at the first bad record (a torn tail) and makes that cut durable.  A segment is
 *     fdatasync'd before the next one is created (and the directory fsync'd), so only the last
 *     segment can have a torn tail; a bad record elsewhere is GR_ECORRUPT.
 *   - Truncation unlinks later segments from the last down (a crash leaves a prefix), then
 *     ftruncates and fdatasyncs BEFORE new records are written into the freed space, so a crash
 *     can never mix old and new records at one position.
 *   - Compaction unlinks whole segments from the first up (a crash leaves a suffix) and never
 *     past the stored snapshot, so entries always continue right after the snapshot.
 *   - The snapshot is written to snapshot.tmp, fdatasync'd, renamed, and the directory fsync'd:
 *     a crash leaves the old snapshot or the new one.  A received snapshot then replaces the
 *     log (unlinks from the last segment down, starts an empty one after the snapshot).
 *     Recovery ignores entries <= the snapshot index and, if the log conflicts with the snapshot
 *     at its index (that replacement was cut short), drops the log the same way.
 *   - The hard state overwrites the older slot only, so a torn write leaves the previous value.
 *     Step 5 comes after the entries, so a crash can leave entries of a newer term than the
 *     stored one: recovery then raises the term to the newest seen with no vote (the vote, if
 *     any, belonged to the lost ready and was never sent).
 */
#include "raft/raft_io.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RIO_REC_MAGIC 0x47524C31u
#define RIO_REC_HDR 29u
#define RIO_HS_MAGIC 0x47524853u
#define RIO_HS_SLOT 32u
#define RIO_SNAP_MAGIC 0x47525331u
#define RIO_VERSION 1u
#define RIO_SNAP_HDR 28u
#define RIO_SEGS_MAX (1u << 20)
#define RIO_WBUF_FLUSH_BYTES (1u << 20)
#define RIO_SEG_READ_MAX ((uint64_t)1 << 34)
#define RIO_SNAP_BYTES_MAX ((uint64_t)UINT32_MAX)
#define RIO_DIR_MAX 4000 /* path of the directory, NUL included */
#define RIO_PATH_MAX 4096

struct rio_seg {
    uint64_t first; /* index of its first entry (the file name) */
    uint64_t bytes; /* valid bytes */
};

struct raft_io_log {
    char dir[RIO_DIR_MAX];
    int dir_fd;
    int seg_fd; /* the last segment, the only one written */
    int hs_fd;
    uint64_t seg_bytes_max;
    struct rio_seg *segs; /* sorted; segs[n_segs-1] is the active one; n_segs >= 1 once open */
    size_t n_segs, cap_segs;
    uint64_t phys_first; /* segs[0].first: first entry held in the files */
    uint64_t last;       /* last entry held; phys_first - 1 when none */
    uint64_t *off;       /* off[i]: position of entry phys_first + i in its segment */
    size_t cap_off;
    struct raft_hard_state hs;
    uint64_t hs_seq;
    struct raft_snapshot snap; /* index 0: none; owns data */
    struct gbuf wbuf;
    bool failed;
    /* restore memory: segment images and the entry views into them */
    uint8_t **bufs;
    size_t n_bufs, cap_bufs;
    struct raft_entry *rents; /* rents[i] is entry phys_first + i */
    size_t cap_rents;
    char errmsg[256];
};

/* ------------------------------------------------------------------------------------------ */
/* Errors and small syscall helpers                                                            */

__attribute__((format(printf, 3, 4))) static int rio_err(struct raft_io_log *log, int code,
                                                         const char *fmt, ...)
{
    int saved = errno;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(log->errmsg, sizeof log->errmsg, fmt, ap);
    va_end(ap);
    if (code == GR_EIO && n >= 0 && (size_t)n < sizeof log->errmsg)
        snprintf(log->errmsg + n, sizeof log->errmsg - (size_t)n, ": %s", strerror(saved));
    errno = saved;
    return code;
}

static void rio_path(const struct raft_io_log *log, char *buf, const char *name)
{
    snprintf(buf, RIO_PATH_MAX, "%s/%s", log->dir, name);
}

static void seg_path(const struct raft_io_log *log, char *buf, uint64_t first)
{
    snprintf(buf, RIO_PATH_MAX, "%s/%020llu.rlog", log->dir, (unsigned long long)first);
}

static int pwrite_all(int fd, const void *p, size_t n, uint64_t off)
{
    const uint8_t *b = p;
    while (n) {
        ssize_t w = pwrite(fd, b, n, (off_t)off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        b += w, n -= (size_t)w, off += (uint64_t)w;
    }
    return 0;
}

/* Reads up to n bytes at off; returns the count read (short only at end of file) or -1. */
static ssize_t pread_all(int fd, void *p, size_t n, uint64_t off)
{
    uint8_t *b = p;
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, b + got, n - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -1;
        if (r == 0) break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

static int dir_sync(struct raft_io_log *log)
{
    if (fsync(log->dir_fd) < 0) return rio_err(log, GR_EIO, "fsync %s", log->dir);
    return 0;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return 0;
    size_t n = *cap ? *cap : 16;
    while (n < need)
        n *= 2;
    void *q = realloc(*p, n * elem);
    if (!q) return GR_ENOMEM;
    *p = q;
    *cap = n;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Segments                                                                                    */

static size_t seg_find(const struct raft_io_log *log, uint64_t index)
{
    size_t lo = 0, hi = log->n_segs; /* last i with segs[i].first <= index */
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (log->segs[mid].first <= index)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

static int seg_open_active(struct raft_io_log *log)
{
    char p[RIO_PATH_MAX];
    if (log->seg_fd >= 0) close(log->seg_fd);
    seg_path(log, p, log->segs[log->n_segs - 1].first);
    log->seg_fd = open(p, O_RDWR | O_CLOEXEC);
    if (log->seg_fd < 0) return rio_err(log, GR_EIO, "open %s", p);
    return 0;
}

/* Creates an empty segment starting at `first` after the existing ones and makes it durable. */
static int seg_create(struct raft_io_log *log, uint64_t first)
{
    char p[RIO_PATH_MAX];
    if (grow((void **)&log->segs, &log->cap_segs, log->n_segs + 1, sizeof *log->segs))
        return rio_err(log, GR_ENOMEM, "segment table");
    seg_path(log, p, first);
    int fd = open(p, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return rio_err(log, GR_EIO, "create %s", p);
    if (fsync(fd) < 0) {
        close(fd);
        return rio_err(log, GR_EIO, "fsync %s", p);
    }
    if (log->seg_fd >= 0) close(log->seg_fd);
    log->seg_fd = fd;
    log->segs[log->n_segs++] = (struct rio_seg){.first = first, .bytes = 0};
    if (log->n_segs == 1) log->phys_first = first, log->last = first - 1;
    return dir_sync(log);
}

static int seg_unlink(struct raft_io_log *log, size_t i)
{
    char p[RIO_PATH_MAX];
    seg_path(log, p, log->segs[i].first);
    if (unlink(p) < 0 && errno != ENOENT) return rio_err(log, GR_EIO, "unlink %s", p);
    return 0;
}

/* Deletes every segment and starts an empty one at `next`. */
static int log_reset(struct raft_io_log *log, uint64_t next)
{
    for (size_t i = log->n_segs; i-- > 0;) {
        int err = seg_unlink(log, i);
        if (err) return err;
    }
    if (log->seg_fd >= 0) close(log->seg_fd);
    log->seg_fd = -1;
    log->n_segs = 0;
    return seg_create(log, next); /* syncs the directory */
}

/* Deletes the leading segments all of whose entries are <= upto (never the last one). */
static int log_drop_front(struct raft_io_log *log, uint64_t upto)
{
    size_t n = 0;
    while (n + 1 < log->n_segs && log->segs[n + 1].first - 1 <= upto) {
        int err = seg_unlink(log, n);
        if (err) return err;
        n++;
    }
    if (!n) return 0;
    uint64_t new_first = log->segs[n].first, drop = new_first - log->phys_first;
    memmove(log->segs, log->segs + n, (log->n_segs - n) * sizeof *log->segs);
    log->n_segs -= n;
    memmove(log->off, log->off + drop, (size_t)(log->last + 1 - new_first) * sizeof *log->off);
    log->phys_first = new_first;
    return dir_sync(log);
}

/* Deletes entries >= from (phys_first < from <= last) and makes the cut durable. */
static int log_truncate(struct raft_io_log *log, uint64_t from)
{
    size_t i = seg_find(log, from);
    bool unlinked = false;
    for (size_t j = log->n_segs; j-- > i + 1;) {
        int err = seg_unlink(log, j);
        if (err) return err;
        unlinked = true;
    }
    log->n_segs = i + 1;
    if (unlinked) {
        int err = dir_sync(log);
        if (!err) err = seg_open_active(log);
        if (err) return err;
    }
    uint64_t pos = log->off[from - log->phys_first];
    if (ftruncate(log->seg_fd, (off_t)pos) < 0 || fdatasync(log->seg_fd) < 0)
        return rio_err(log, GR_EIO, "truncate segment %llu at %llu",
                       (unsigned long long)log->segs[i].first, (unsigned long long)pos);
    log->segs[i].bytes = pos;
    log->last = from - 1;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Appending                                                                                   */

static int wbuf_flush(struct raft_io_log *log, bool sync)
{
    struct rio_seg *s = &log->segs[log->n_segs - 1];
    if (log->wbuf.len && pwrite_all(log->seg_fd, log->wbuf.data, log->wbuf.len, s->bytes) < 0)
        return rio_err(log, GR_EIO, "write segment %llu", (unsigned long long)s->first);
    s->bytes += log->wbuf.len;
    gbuf_reset(&log->wbuf);
    if (sync && fdatasync(log->seg_fd) < 0)
        return rio_err(log, GR_EIO, "fdatasync segment %llu", (unsigned long long)s->first);
    return 0;
}

static int rec_encode(struct raft_io_log *log, const struct raft_entry *e)
{
    uint8_t h[RIO_REC_HDR];
    be32_put(h, RIO_REC_MAGIC);
    be32_put(h + 4, e->len);
    be64_put(h + 12, e->index);
    be64_put(h + 20, e->term);
    h[28] = e->type;
    uint32_t crc = crc32c(0, h + 4, 4);
    crc = crc32c(crc, h + 12, RIO_REC_HDR - 12);
    if (e->len) crc = crc32c(crc, e->data, e->len);
    be32_put(h + 8, crc);
    if (gbuf_append(&log->wbuf, h, sizeof h) || gbuf_append(&log->wbuf, e->data, e->len))
        return rio_err(log, GR_ENOMEM, "write buffer");
    return 0;
}

static int log_append(struct raft_io_log *log, const struct raft_entry *es, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        const struct raft_entry *e = &es[k];
        if (e->index != log->last + 1 || e->len > RAFT_ENTRY_BYTES_MAX || e->term < 1 ||
            (e->len && !e->data))
            return rio_err(log, GR_EINVAL, "append: entry %llu (len %u) after %llu",
                           (unsigned long long)e->index, e->len, (unsigned long long)log->last);
        uint64_t at = log->segs[log->n_segs - 1].bytes + log->wbuf.len;
        if (at >= log->seg_bytes_max && at > 0) { /* roll: the old segment is synced first */
            int err = wbuf_flush(log, true);
            if (!err) err = seg_create(log, e->index);
            if (err) return err;
        } else if (log->wbuf.len >= RIO_WBUF_FLUSH_BYTES) {
            int err = wbuf_flush(log, false);
            if (err) return err;
        }
        at = log->segs[log->n_segs - 1].bytes + log->wbuf.len;
        size_t slot = (size_t)(e->index - log->phys_first);
        if (grow((void **)&log->off, &log->cap_off, slot + 1, sizeof *log->off))
            return rio_err(log, GR_ENOMEM, "offset table");
        int err = rec_encode(log, e);
        if (err) return err;
        log->off[slot] = at;
        log->last = e->index;
    }
    return wbuf_flush(log, true);
}

/* ------------------------------------------------------------------------------------------ */
/* Hard state and snapshot files                                                               */

static int hs_write(struct raft_io_log *log, const struct raft_hard_state *hs)
{
    uint8_t b[RIO_HS_SLOT];
    uint64_t seq = log->hs_seq + 1;
    be32_put(b, RIO_HS_MAGIC);
    be32_put(b + 4, RIO_VERSION);
    be64_put(b + 8, seq);
    be64_put(b + 16, hs->term);
    be32_put(b + 24, hs->vote);
    be32_put(b + 28, crc32c(0, b, 28));
    if (pwrite_all(log->hs_fd, b, sizeof b, (seq & 1) * RIO_HS_SLOT) < 0 ||
        fdatasync(log->hs_fd) < 0)
        return rio_err(log, GR_EIO, "write %s/hardstate", log->dir);
    log->hs_seq = seq;
    log->hs = *hs;
    return 0;
}

static int snap_copy(struct raft_io_log *log, const struct raft_snapshot *s)
{
    uint8_t *data = NULL;
    if (s->len) {
        data = malloc(s->len);
        if (!data) return rio_err(log, GR_ENOMEM, "snapshot copy");
        memcpy(data, s->data, s->len);
    }
    free(log->snap.data);
    log->snap = *s;
    log->snap.data = data;
    return 0;
}

static int snap_write(struct raft_io_log *log, const struct raft_snapshot *s)
{
    if (s->n_voters > RAFT_MEMBERS_MAX || s->index == 0 || s->index < log->snap.index ||
        (s->len && !s->data))
        return rio_err(log, GR_EINVAL, "snapshot at %llu (stored %llu, %u voters)",
                       (unsigned long long)s->index, (unsigned long long)log->snap.index,
                       s->n_voters);
    uint8_t h[RIO_SNAP_HDR + 4 * RAFT_MEMBERS_MAX + 4], t[4];
    be32_put(h, RIO_SNAP_MAGIC);
    be32_put(h + 4, RIO_VERSION);
    be64_put(h + 8, s->index);
    be64_put(h + 16, s->term);
    be32_put(h + 24, s->n_voters);
    size_t hl = RIO_SNAP_HDR;
    for (uint32_t i = 0; i < s->n_voters; i++, hl += 4)
        be32_put(h + hl, s->voters[i]);
    be32_put(h + hl, s->len);
    hl += 4;
    uint32_t crc = crc32c(crc32c(0, h, hl), s->data, s->len);
    be32_put(t, crc);
    char tmp[RIO_PATH_MAX], dst[RIO_PATH_MAX];
    rio_path(log, tmp, "snapshot.tmp");
    rio_path(log, dst, "snapshot");
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return rio_err(log, GR_EIO, "create %s", tmp);
    int bad = pwrite_all(fd, h, hl, 0) < 0 || pwrite_all(fd, s->data, s->len, hl) < 0 ||
              pwrite_all(fd, t, 4, hl + s->len) < 0 || fdatasync(fd) < 0;
    if (close(fd) < 0) bad = 1;
    if (bad) return rio_err(log, GR_EIO, "write %s", tmp);
    if (rename(tmp, dst) < 0) return rio_err(log, GR_EIO, "rename %s", tmp);
    int err = dir_sync(log);
    return err ? err : snap_copy(log, s);
}

/* ------------------------------------------------------------------------------------------ */
/* The ready contract                                                                          */

/* Step 1: store the snapshot, then drop the entries it covers.  A received snapshot replaces
 * the whole log (the core installs one only when its log lacks the snapshot's last entry, and
 * cuts everything after it in the same ready), so the log restarts empty right after it: no
 * entry of a conflicting history stays below the snapshot to confuse recovery. */
static int step_snapshot(struct raft_io_log *log, const struct raft_snapshot *s)
{
    int err = snap_write(log, s);
    return err ? err : log_reset(log, s->index + 1);
}

/* Step 2.  Entries up to the snapshot are gone already: a cut below it (an earlier conflict in
 * the same ready as a received snapshot) means everything after the snapshot. */
static int step_truncate(struct raft_io_log *log, uint64_t from)
{
    from = GR_MAX(from, log->snap.index + 1);
    if (from > log->last) return 0;
    if (from <= log->phys_first) return log_reset(log, from);
    return log_truncate(log, from);
}

int raft_io_log_persist(struct raft_io_log *log, const struct raft_ready *rd)
{
    if (log->failed) return rio_err(log, GR_EIO, "raft log %s failed earlier", log->dir);
    if (!rd->persist_seq) return 0;
    int err = 0;
    if (rd->snapshot) err = step_snapshot(log, rd->snapshot);
    if (!err && rd->truncate_from) err = step_truncate(log, rd->truncate_from);
    if (!err && rd->compact_to) /* step 3: never past the stored snapshot */
        err = log_drop_front(log, GR_MIN(rd->compact_to, log->snap.index));
    if (!err && rd->n_entries) err = log_append(log, rd->entries, rd->n_entries);
    if (!err && rd->hard_state_changed) err = hs_write(log, &rd->hard_state);
    if (err) log->failed = true;
    return err;
}

int raft_io_log_save_snapshot(struct raft_io_log *log, const struct raft_snapshot *snap)
{
    if (log->failed) return rio_err(log, GR_EIO, "raft log %s failed earlier", log->dir);
    int err = snap_write(log, snap);
    if (err) log->failed = true;
    return err;
}

const char *raft_io_log_errmsg(const struct raft_io_log *log)
{
    return log->errmsg;
}

uint64_t raft_io_log_first_index(const struct raft_io_log *log)
{
    return GR_MAX(log->phys_first, log->snap.index + 1);
}

uint64_t raft_io_log_last_index(const struct raft_io_log *log)
{
    return GR_MAX(log->last, log->snap.index);
}

uint64_t raft_io_log_snapshot_index(const struct raft_io_log *log)
{
    return log->snap.index;
}

size_t raft_io_log_segment_count(const struct raft_io_log *log)
{
    return log->n_segs;
}

struct raft_hard_state raft_io_log_hard_state(const struct raft_io_log *log)
{
    return log->hs;
}

void raft_io_log_restore_release(struct raft_io_log *log)
{
    for (size_t i = 0; i < log->n_bufs; i++)
        free(log->bufs[i]);
    free(log->bufs);
    free(log->rents);
    log->bufs = NULL;
    log->rents = NULL;
    log->n_bufs = log->cap_bufs = log->cap_rents = 0;
}

void raft_io_log_close(struct raft_io_log *log)
{
    if (!log) return;
    raft_io_log_restore_release(log);
    if (log->seg_fd >= 0) close(log->seg_fd);
    if (log->hs_fd >= 0) close(log->hs_fd);
    if (log->dir_fd >= 0) close(log->dir_fd);
    free(log->segs);
    free(log->off);
    free(log->snap.data);
    gbuf_close(&log->wbuf);
    free(log);
}

/* ------------------------------------------------------------------------------------------ */
/* Recovery                                                                                    */

/* 1: valid, 0: never written (all zero), -1: torn or corrupt. */
static int hs_slot_parse(const uint8_t *b, uint64_t *seq, struct raft_hard_state *hs)
{
    static const uint8_t zero[RIO_HS_SLOT];
    if (!memcmp(b, zero, RIO_HS_SLOT)) return 0;
    if (be32_get(b) != RIO_HS_MAGIC || be32_get(b + 4) != RIO_VERSION ||
        be32_get(b + 28) != crc32c(0, b, 28))
        return -1;
    *seq = be64_get(b + 8);
    hs->term = be64_get(b + 16);
    hs->vote = be32_get(b + 24);
    return 1;
}

static int hs_load(struct raft_io_log *log)
{
    char p[RIO_PATH_MAX];
    uint8_t b[2 * RIO_HS_SLOT] = {0};
    rio_path(log, p, "hardstate");
    log->hs_fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (log->hs_fd < 0) return rio_err(log, GR_EIO, "open %s", p);
    if (pread_all(log->hs_fd, b, sizeof b, 0) < 0) return rio_err(log, GR_EIO, "read %s", p);
    uint64_t seq[2] = {0, 0};
    struct raft_hard_state hs[2] = {{0, 0}, {0, 0}};
    int v0 = hs_slot_parse(b, &seq[0], &hs[0]);
    int v1 = hs_slot_parse(b + RIO_HS_SLOT, &seq[1], &hs[1]);
    if (v0 < 0 && v1 < 0) return rio_err(log, GR_ECORRUPT, "%s: both slots corrupt", p);
    if ((v0 > 0 && (seq[0] & 1)) || (v1 > 0 && !(seq[1] & 1)))
        return rio_err(log, GR_ECORRUPT, "%s: slot holds a foreign seq", p);
    int pick = (v1 > 0 && (v0 <= 0 || seq[1] > seq[0])) ? 1 : 0;
    if ((pick == 0 && v0 > 0) || pick == 1) {
        log->hs = hs[pick];
        log->hs_seq = seq[pick];
    }
    return 0;
}

static int snap_parse(struct raft_io_log *log, const uint8_t *b, size_t size)
{
    if (size < RIO_SNAP_HDR + 8 || be32_get(b) != RIO_SNAP_MAGIC)
        return rio_err(log, GR_ECORRUPT, "snapshot: bad magic or size %zu", size);
    if (be32_get(b + 4) != RIO_VERSION)
        return rio_err(log, GR_EUNSUP, "snapshot: version %u", be32_get(b + 4));
    struct raft_snapshot s = {
        .index = be64_get(b + 8), .term = be64_get(b + 16), .n_voters = be32_get(b + 24)};
    if (s.n_voters > RAFT_MEMBERS_MAX || RIO_SNAP_HDR + 4 * (size_t)s.n_voters + 8 > size)
        return rio_err(log, GR_ECORRUPT, "snapshot: %u voters", s.n_voters);
    size_t hl = RIO_SNAP_HDR;
    for (uint32_t i = 0; i < s.n_voters; i++, hl += 4)
        s.voters[i] = be32_get(b + hl);
    s.len = be32_get(b + hl);
    hl += 4;
    if ((uint64_t)hl + s.len + 4 != size)
        return rio_err(log, GR_ECORRUPT, "snapshot: length %u, file %zu", s.len, size);
    if (crc32c(0, b, size - 4) != be32_get(b + size - 4))
        return rio_err(log, GR_ECORRUPT, "snapshot: CRC mismatch");
    if (s.index == 0 || s.term == 0)
        return rio_err(log, GR_ECORRUPT, "snapshot: index %llu term %llu",
                       (unsigned long long)s.index, (unsigned long long)s.term);
    s.data = s.len ? (uint8_t *)b + hl : NULL;
    return snap_copy(log, &s);
}

static int snap_load(struct raft_io_log *log)
{
    char p[RIO_PATH_MAX];
    rio_path(log, p, "snapshot");
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) return 0;
    if (fd < 0) return rio_err(log, GR_EIO, "open %s", p);
    struct stat st;
    int err = 0;
    uint8_t *b = NULL;
    if (fstat(fd, &st) < 0) {
        err = rio_err(log, GR_EIO, "stat %s", p);
    } else if ((uint64_t)st.st_size > RIO_SNAP_BYTES_MAX) {
        err = rio_err(log, GR_ECORRUPT, "%s: %lld bytes", p, (long long)st.st_size);
    } else if (!(b = malloc((size_t)st.st_size + 1))) {
        err = rio_err(log, GR_ENOMEM, "%s", p);
    } else if (pread_all(fd, b, (size_t)st.st_size, 0) != (ssize_t)st.st_size) {
        err = rio_err(log, GR_EIO, "read %s", p);
    } else {
        err = snap_parse(log, b, (size_t)st.st_size);
    }
    free(b);
    close(fd);
    return err;
}

static int seg_cmp(const void *a, const void *b)
{
    const struct rio_seg *x = a, *y = b;
    return x->first < y->first ? -1 : x->first > y->first;
}

static int segs_list(struct raft_io_log *log)
{
    DIR *d = opendir(log->dir);
    if (!d) return rio_err(log, GR_EIO, "opendir %s", log->dir);
    int err = 0;
    struct dirent *de;
    while (!err && (de = readdir(d))) {
        const char *n = de->d_name;
        if (strlen(n) != 25 || strcmp(n + 20, ".rlog") || strspn(n, "0123456789") != 20) continue;
        if (log->n_segs >= RIO_SEGS_MAX) {
            err = rio_err(log, GR_ECORRUPT, "%s: more than %u segments", log->dir, RIO_SEGS_MAX);
        } else if (grow((void **)&log->segs, &log->cap_segs, log->n_segs + 1, sizeof *log->segs)) {
            err = rio_err(log, GR_ENOMEM, "segment table");
        } else {
            uint64_t first = strtoull(n, NULL, 10);
            log->segs[log->n_segs++] = (struct rio_seg){.first = first};
            if (first == 0) err = rio_err(log, GR_ECORRUPT, "%s: segment 0", log->dir);
        }
    }
    closedir(d);
    if (!err && log->n_segs) {
        qsort(log->segs, log->n_segs, sizeof *log->segs, seg_cmp);
        log->phys_first = log->segs[0].first;
        log->last = log->phys_first - 1;
    }
    return err;
}

/* Checks the record at b[0..avail); NULL if it is whole and valid, else why not. */
static const char *rec_check(const uint8_t *b, uint64_t avail, uint64_t index, uint64_t term_min,
                             uint32_t *rec_len)
{
    if (avail < RIO_REC_HDR) return "short header";
    if (be32_get(b) != RIO_REC_MAGIC) return "bad magic";
    uint32_t len = be32_get(b + 4);
    if (len > RAFT_ENTRY_BYTES_MAX) return "length too large";
    if (avail - RIO_REC_HDR < len) return "short record";
    uint32_t crc = crc32c(crc32c(0, b + 4, 4), b + 12, RIO_REC_HDR - 12 + (size_t)len);
    if (crc != be32_get(b + 8)) return "CRC mismatch";
    if (be64_get(b + 12) != index) return "unexpected index";
    uint64_t term = be64_get(b + 20);
    if (term < 1 || term < term_min) return "term goes backwards";
    *rec_len = RIO_REC_HDR + len;
    return NULL;
}

/* Parses segment i's image; cuts a torn tail of the last segment durably. */
static int seg_parse(struct raft_io_log *log, size_t i, int fd, const uint8_t *b, uint64_t size)
{
    struct rio_seg *s = &log->segs[i];
    if (s->first != log->last + 1)
        return rio_err(log, GR_ECORRUPT, "segment %llu does not follow entry %llu",
                       (unsigned long long)s->first, (unsigned long long)log->last);
    uint64_t pos = 0;
    const char *why = NULL;
    while (pos < size) {
        uint64_t index = log->last + 1, slot = index - log->phys_first;
        uint64_t term_min = slot ? log->rents[slot - 1].term : 1;
        uint32_t rl = 0;
        if ((why = rec_check(b + pos, size - pos, index, term_min, &rl))) break;
        if (grow((void **)&log->rents, &log->cap_rents, slot + 1, sizeof *log->rents) ||
            grow((void **)&log->off, &log->cap_off, slot + 1, sizeof *log->off))
            return rio_err(log, GR_ENOMEM, "entry table");
        uint32_t len = be32_get(b + pos + 4);
        log->rents[slot] =
            (struct raft_entry){.index = index,
                                .term = be64_get(b + pos + 20),
                                .type = b[pos + 28],
                                .len = len,
                                .data = len ? (uint8_t *)b + pos + RIO_REC_HDR : NULL};
        log->off[slot] = pos;
        log->last = index;
        pos += rl;
    }
    s->bytes = pos;
    if (!why) return 0;
    if (i + 1 != log->n_segs)
        return rio_err(log, GR_ECORRUPT, "segment %llu: %s at byte %llu (not the last segment)",
                       (unsigned long long)s->first, why, (unsigned long long)pos);
    LOG_WARN("raft", "%s: segment %llu: %s at byte %llu: cutting the torn tail", log->dir,
             (unsigned long long)s->first, why, (unsigned long long)pos);
    if (ftruncate(fd, (off_t)pos) < 0 || fdatasync(fd) < 0)
        return rio_err(log, GR_EIO, "truncate segment %llu", (unsigned long long)s->first);
    return 0;
}

static int seg_load(struct raft_io_log *log, size_t i)
{
    char p[RIO_PATH_MAX];
    seg_path(log, p, log->segs[i].first);
    int fd = open(p, O_RDWR | O_CLOEXEC);
    if (fd < 0) return rio_err(log, GR_EIO, "open %s", p);
    struct stat st;
    int err = 0;
    uint8_t *b = NULL;
    if (fstat(fd, &st) < 0) {
        err = rio_err(log, GR_EIO, "stat %s", p);
    } else if ((uint64_t)st.st_size > RIO_SEG_READ_MAX) {
        err = rio_err(log, GR_ECORRUPT, "%s: %lld bytes", p, (long long)st.st_size);
    } else if (grow((void **)&log->bufs, &log->cap_bufs, log->n_bufs + 1, sizeof *log->bufs) ||
               !(b = malloc((size_t)st.st_size + 1))) {
        err = rio_err(log, GR_ENOMEM, "%s", p);
    } else {
        log->bufs[log->n_bufs++] = b;
        if (pread_all(fd, b, (size_t)st.st_size, 0) != (ssize_t)st.st_size)
            err = rio_err(log, GR_EIO, "read %s", p);
        else
            err = seg_parse(log, i, fd, b, (uint64_t)st.st_size);
    }
    if (!err && i + 1 == log->n_segs) {
        log->seg_fd = fd;
        return 0;
    }
    close(fd);
    return err;
}

/* Makes the entries continue the snapshot (see the crash statement at the top) and the hard
 * state's term cover every stored term. */
static int reconcile(struct raft_io_log *log)
{
    uint64_t s = log->snap.index;
    int err = 0;
    if (log->n_segs == 0 || log->last < s) {
        err = log_reset(log, s + 1);
    } else if (log->phys_first > s + 1) {
        return rio_err(log, GR_ECORRUPT, "entries start at %llu, after snapshot %llu + 1",
                       (unsigned long long)log->phys_first, (unsigned long long)s);
    } else if (s && s >= log->phys_first &&
               log->rents[s - log->phys_first].term != log->snap.term) {
        err = log_reset(log, s + 1); /* conflicting history: its truncation was lost */
    } else if (s && log->last > s && log->rents[s + 1 - log->phys_first].term < log->snap.term) {
        err = log_reset(log, s + 1);
    }
    if (err) return err;
    uint64_t term = log->snap.term;
    if (log->last > s) term = GR_MAX(term, log->rents[log->last - log->phys_first].term);
    if (log->hs.term < term) {
        struct raft_hard_state hs = {.term = term, .vote = 0};
        err = hs_write(log, &hs);
    }
    return err;
}

static int dir_prepare(struct raft_io_log *log, const char *path)
{
    snprintf(log->dir, sizeof log->dir, "%s", path);
    if (mkdir(path, 0755) == 0) {
        char parent[RIO_PATH_MAX];
        snprintf(parent, sizeof parent, "%s", path);
        char *slash = strrchr(parent, '/');
        if (slash == parent)
            slash[1] = '\0';
        else if (slash)
            *slash = '\0';
        else
            snprintf(parent, sizeof parent, ".");
        int pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (pfd < 0 || fsync(pfd) < 0) {
            if (pfd >= 0) close(pfd);
            return rio_err(log, GR_EIO, "fsync %s", parent);
        }
        close(pfd);
    } else if (errno != EEXIST) {
        return rio_err(log, GR_EIO, "mkdir %s", path);
    }
    log->dir_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (log->dir_fd < 0) return rio_err(log, GR_EIO, "open %s", path);
    char p[RIO_PATH_MAX];
    rio_path(log, p, "snapshot.tmp");
    if (unlink(p) < 0 && errno != ENOENT) return rio_err(log, GR_EIO, "unlink %s", p);
    return 0;
}

int raft_io_log_open(const char *path, const struct raft_io_log_opts *opts,
                     struct raft_io_log **out, struct raft_restore *restore, char *err,
                     size_t err_len)
{
    *out = NULL;
    memset(restore, 0, sizeof *restore);
    if (strlen(path) >= RIO_DIR_MAX) {
        snprintf(err, err_len, "raft log path too long");
        return GR_EINVAL;
    }
    struct raft_io_log *log = calloc(1, sizeof *log);
    if (!log) {
        snprintf(err, err_len, "raft log: out of memory");
        return GR_ENOMEM;
    }
    log->dir_fd = log->seg_fd = log->hs_fd = -1;
    gbuf_init(&log->wbuf);
    log->seg_bytes_max =
        opts && opts->segment_bytes_max ? opts->segment_bytes_max : RAFT_IO_SEGMENT_BYTES_DEFAULT;
    int rc = dir_prepare(log, path);
    if (!rc) rc = hs_load(log);
    if (!rc) rc = snap_load(log);
    if (!rc) rc = segs_list(log);
    for (size_t i = 0; !rc && i < log->n_segs; i++)
        rc = seg_load(log, i);
    if (!rc) rc = reconcile(log);
    if (!rc) rc = dir_sync(log);
    if (rc) {
        snprintf(err, err_len, "%s", log->errmsg);
        raft_io_log_close(log);
        return rc;
    }
    uint64_t first = raft_io_log_first_index(log);
    restore->hard_state = log->hs;
    restore->snapshot = log->snap.index ? &log->snap : NULL;
    if (log->last >= first) {
        restore->entries = log->rents + (first - log->phys_first);
        restore->n_entries = (size_t)(log->last - first + 1);
    }
    *out = log;
    return 0;
}

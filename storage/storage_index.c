/*
 * storage_index.c — Kafka's two sparse per-segment indexes.
 *
 *   .index      entry = 8 bytes, big-endian        .timeindex  entry = 12 bytes, big-endian
 *   +--------------------+--------------+          +------------------+--------------------+
 *   | relativeOffset u32 | position u32 |          | timestamp i64    | relativeOffset u32 |
 *   +--------------------+--------------+          +------------------+--------------------+
 *
 * relativeOffset = offset - segment base offset.  An .index entry names the LAST offset of
 * the batch that starts at `position` (Kafka 3.7's LogSegment.append); a .timeindex entry
 * (T, O) says the segment's max timestamp became T at the batch whose last offset is O.  Both
 * are strictly increasing in their first field.  Entries are appended whenever more than
 * index.interval.bytes were written since the last one, so a lookup scans at most about that
 * many bytes of batch headers.
 *
 * The active segment keeps its entries in malloc'd memory and writes them to the file when it
 * is flushed, rolled or closed (no syscall on the append path).  Closed segments map the file
 * read-only, lazily.  Indexes are derived data: a file that is short or disagrees with its
 * .log is rebuilt from the .log (storage_recovery.c), so a crash at any point is harmless.
 */
#include "storage/storage_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

void storage_index_init(struct storage_index *ix, int entry_bytes)
{
    memset(ix, 0, sizeof(*ix));
    ix->entry_bytes = entry_bytes;
    ix->fd = -1;
}

void storage_index_release(struct storage_index *ix)
{
    if (ix->owned) free(ix->data);
    if (ix->mapped && ix->data) munmap(ix->data, ix->map_bytes);
    if (ix->fd >= 0) close(ix->fd);
    storage_index_init(ix, ix->entry_bytes);
}

static int index_reserve(struct storage_index *ix, size_t entries)
{
    if (entries <= ix->cap) return 0;
    size_t cap = ix->cap ? ix->cap : 512;
    while (cap < entries)
        cap *= 2;
    uint8_t *p = realloc(ix->data, cap * (size_t)ix->entry_bytes);
    if (!p) return GR_ENOMEM;
    ix->data = p;
    ix->cap = cap;
    return 0;
}

/* How many leading entries form a valid, monotonic index. */
static size_t index_valid_prefix(const struct storage_index *ix, int64_t log_size)
{
    int64_t prev_a = -1, prev_b = -1;
    for (size_t i = 0; i < ix->count; i++) {
        const uint8_t *e = storage_index_entry(ix, i);
        if (ix->entry_bytes == STORAGE_OFFSET_ENTRY_BYTES) {
            int64_t rel = be32_get(e), pos = be32_get(e + 4);
            if (rel > INT32_MAX || rel <= prev_a || pos <= prev_b || pos <= 0 || pos >= log_size)
                return i;
            prev_a = rel;
            prev_b = pos;
        } else {
            int64_t ts = (int64_t)be64_get(e), rel = be32_get(e + 8);
            if (i > 0 && ts <= prev_a) return i;
            if (rel > INT32_MAX || rel < prev_b || (ts == 0 && rel == 0)) return i;
            prev_a = ts;
            prev_b = rel;
        }
    }
    return ix->count;
}

static int index_open_owned(struct storage_index *ix, const char *path, int flags)
{
    ix->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | flags, 0644);
    if (ix->fd < 0) {
        LOG_ERROR(STORAGE_COMP, "cannot open %s: %s", path, strerror(errno));
        return GR_EIO;
    }
    ix->owned = true;
    return index_reserve(ix, 64);
}

int storage_index_create_owned(struct storage_index *ix, const char *path)
{
    storage_index_release(ix);
    return index_open_owned(ix, path, O_TRUNC);
}

int storage_index_load_owned(struct storage_index *ix, const char *path, int64_t base,
                             int64_t log_size)
{
    (void)base;
    storage_index_release(ix);
    int rc = index_open_owned(ix, path, 0);
    if (rc) return rc;
    struct stat st;
    if (fstat(ix->fd, &st)) return GR_EIO;
    size_t entries = (size_t)st.st_size / (size_t)ix->entry_bytes;
    if ((rc = index_reserve(ix, entries))) return rc;
    size_t got = 0;
    size_t want = entries * (size_t)ix->entry_bytes;
    if ((rc = storage_pread_full(ix->fd, ix->data, want, 0, &got))) {
        LOG_ERROR(STORAGE_COMP, "cannot read %s: %s", path, strerror(errno));
        return rc;
    }
    ix->count = got / (size_t)ix->entry_bytes;
    ix->count = index_valid_prefix(ix, log_size);
    ix->persisted = ix->count;
    ix->file_entries = ((size_t)st.st_size + (size_t)ix->entry_bytes - 1) / (size_t)ix->entry_bytes;
    return 0;
}

int storage_index_map(struct storage_index *ix, const char *path)
{
    storage_index_release(ix);
    ix->mapped = true;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return 0; /* empty index: lookups scan from the segment start */
        LOG_ERROR(STORAGE_COMP, "cannot open %s: %s", path, strerror(errno));
        return GR_EIO;
    }
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st)) {
        rc = GR_EIO;
    } else if (st.st_size >= ix->entry_bytes) {
        size_t entries = (size_t)st.st_size / (size_t)ix->entry_bytes;
        size_t bytes = entries * (size_t)ix->entry_bytes;
        void *p = mmap(NULL, bytes, PROT_READ, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED) {
            rc = GR_EIO;
        } else {
            ix->data = p;
            ix->map_bytes = bytes;
            ix->count = entries;
        }
    }
    if (rc) LOG_ERROR(STORAGE_COMP, "cannot map %s: %s", path, strerror(errno));
    close(fd);
    return rc;
}

int storage_index_append(struct storage_index *ix, const uint8_t *entry)
{
    assert(ix->owned);
    int rc = index_reserve(ix, ix->count + 1);
    if (rc) return rc;
    memcpy(ix->data + ix->count * (size_t)ix->entry_bytes, entry, (size_t)ix->entry_bytes);
    ix->count++;
    return 0;
}

void storage_index_truncate(struct storage_index *ix, size_t count)
{
    assert(ix->owned);
    if (count >= ix->count) return;
    ix->count = count;
    if (ix->persisted > count) ix->persisted = count;
}

int storage_index_persist(struct storage_index *ix)
{
    assert(ix->owned && ix->fd >= 0);
    size_t eb = (size_t)ix->entry_bytes;
    if (ix->file_entries > ix->count) {
        if (ftruncate(ix->fd, (off_t)(ix->count * eb))) goto err;
        ix->file_entries = ix->count;
        ix->dirty = true;
    }
    if (ix->persisted < ix->count) {
        size_t n = (ix->count - ix->persisted) * eb;
        if (storage_pwrite_all(ix->fd, ix->data + ix->persisted * eb, n,
                               (int64_t)(ix->persisted * eb)))
            goto err;
        ix->persisted = ix->count;
        ix->file_entries = ix->count;
        ix->dirty = true;
    }
    return 0;
err:
    LOG_ERROR(STORAGE_COMP, "writing an index failed: %s", strerror(errno));
    return GR_EIO;
}

int storage_index_sync(struct storage_index *ix)
{
    int rc = storage_index_persist(ix);
    if (rc) return rc;
    if (!ix->dirty) return 0;
    if (fdatasync(ix->fd)) {
        LOG_ERROR(STORAGE_COMP, "fdatasync of an index failed: %s", strerror(errno));
        return GR_EIO;
    }
    ix->dirty = false;
    return 0;
}

static int64_t index_key(const struct storage_index *ix, enum storage_index_key by, size_t i,
                         int64_t base)
{
    switch (by) {
    case STORAGE_OIDX_BY_OFFSET:
        return storage_oidx_offset(ix, i, base);
    case STORAGE_OIDX_BY_POS:
        return storage_oidx_pos(ix, i);
    case STORAGE_TIDX_BY_TS:
        return storage_tidx_ts(ix, i);
    }
    return 0;
}

size_t storage_index_upper(const struct storage_index *ix, enum storage_index_key by, int64_t base,
                           int64_t key)
{
    size_t lo = 0, hi = ix->count; /* answer in [lo, hi] */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (index_key(ix, by, mid, base) <= key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

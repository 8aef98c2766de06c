/*
 * storage_epoch.c — the leader epoch cache and its file, `leader-epoch-checkpoint`.
 *
 * Kafka's text format, one file per partition, replaced atomically:
 *
 *   0                  version
 *   2                  number of entries
 *   0 0                "<leader epoch> <start offset>": the first offset written in that epoch
 *   3 1200
 *
 * Epochs and start offsets are strictly increasing.  The cache is rebuilt from the batches'
 * partitionLeaderEpoch during recovery, so a lost or stale file is repaired at open.
 */
#include "storage/storage_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EPOCH_FILE "leader-epoch-checkpoint"
#define EPOCH_FILE_MAX_BYTES (4 << 20)

void storage_epochs_close(struct storage_epochs *e)
{
    free(e->v);
    memset(e, 0, sizeof(*e));
}

static int epochs_push(struct storage_epochs *e, int32_t epoch, int64_t start)
{
    if (e->count == e->cap) {
        int cap = e->cap ? e->cap * 2 : 8;
        struct storage_epoch_entry *v = realloc(e->v, (size_t)cap * sizeof(*v));
        if (!v) return GR_ENOMEM;
        e->v = v;
        e->cap = cap;
    }
    e->v[e->count++] = (struct storage_epoch_entry){epoch, start};
    return 0;
}

/* Parses the file; on any format problem the cache is left empty (recovery refills it). */
static void epochs_parse(struct storage_epochs *e, char *text)
{
    char *save = NULL;
    char *line = strtok_r(text, "\n", &save);
    int64_t version, count;
    if (!line || parse_i64(line, &version) || version != 0) goto bad;
    line = strtok_r(NULL, "\n", &save);
    if (!line || parse_i64(line, &count) || count < 0) goto bad;
    for (int64_t i = 0; i < count; i++) {
        line = strtok_r(NULL, "\n", &save);
        long long ep, off;
        char extra;
        if (!line || sscanf(line, "%lld %lld %c", &ep, &off, &extra) != 2) goto bad;
        if (ep < 0 || ep > INT32_MAX || off < 0) goto bad;
        if (e->count > 0 &&
            (ep <= e->v[e->count - 1].epoch || off < e->v[e->count - 1].start_offset))
            goto bad;
        if (epochs_push(e, (int32_t)ep, off)) goto bad;
    }
    return;
bad:
    LOG_WARN(STORAGE_COMP, "ignoring a malformed " EPOCH_FILE "; rebuilding it from the log");
    e->count = 0;
}

int storage_epochs_load(struct storage_epochs *e, const char *dir)
{
    char path[STORAGE_PATH_MAX];
    strfmt(path, sizeof path, "%s/" EPOCH_FILE, dir);
    struct gbuf b;
    gbuf_init(&b);
    int rc = storage_read_file(path, &b, EPOCH_FILE_MAX_BYTES);
    if (rc == 0) {
        b.data[b.len] = '\0';
        epochs_parse(e, (char *)b.data);
    }
    gbuf_close(&b);
    return rc == GR_ENOENT || rc == GR_ERANGE ? 0 : rc;
}

int storage_epochs_assign(struct storage_epochs *e, int32_t epoch, int64_t start, bool *changed)
{
    *changed = false;
    if (e->count > 0) {
        const struct storage_epoch_entry *last = &e->v[e->count - 1];
        if (epoch <= last->epoch || start < last->start_offset) return 0;
    }
    int rc = epochs_push(e, epoch, start);
    *changed = rc == 0;
    return rc;
}

int32_t storage_epochs_latest(const struct storage_epochs *e)
{
    return e->count > 0 ? e->v[e->count - 1].epoch : -1;
}

/*
 * Kafka's LeaderEpochFileCache.endOffsetFor (KIP-101, KIP-279), for cache entries
 * (e0, s0) < (e1, s1) < ... < (ek, sk) and a requested epoch E:
 *
 *   E < 0 (UNDEFINED) or no entries    (-1, -1)
 *   E < e0                             (E, s0): the log no longer holds E's data, so the
 *                                      follower keeps nothing past our first epoch's start
 *   ei <= E < e(i+1)                   (ei, s(i+1))
 *   E >= ek                            (ek, log end)
 *
 * For E > ek Kafka answers UNDEFINED, reasoning that a leader's cache always ends with its
 * current epoch (Kafka assigns it at the log end on election).  Ours learns an epoch only from
 * the first batch written in it, so a new leader's cache ends with the last epoch that wrote;
 * (ek, log end) is what Kafka's cache would answer then, a (current epoch, log end) entry
 * being the next one after ek.
 */
void storage_epochs_end_offset_for(const struct storage_epochs *e, int32_t epoch, int64_t log_end,
                                   int32_t *out_epoch, int64_t *out_end)
{
    *out_epoch = -1;
    *out_end = -1;
    if (epoch < 0 || e->count == 0) return;
    int lo = 0, hi = e->count; /* the first entry whose epoch is above the one asked for */
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (e->v[mid].epoch <= epoch)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0) {
        *out_epoch = epoch;
        *out_end = e->v[0].start_offset;
    } else {
        *out_epoch = e->v[lo - 1].epoch;
        *out_end = lo < e->count ? e->v[lo].start_offset : log_end;
    }
}

bool storage_epochs_truncate_end(struct storage_epochs *e, int64_t end)
{
    int n = e->count;
    while (n > 0 && e->v[n - 1].start_offset >= end)
        n--;
    bool changed = n != e->count;
    e->count = n;
    return changed;
}

bool storage_epochs_truncate_start(struct storage_epochs *e, int64_t start)
{
    int drop = 0;
    while (drop + 1 < e->count && e->v[drop + 1].start_offset <= start)
        drop++;
    bool changed = drop > 0;
    if (drop > 0) {
        memmove(e->v, e->v + drop, (size_t)(e->count - drop) * sizeof(*e->v));
        e->count -= drop;
    }
    if (e->count > 0 && e->v[0].start_offset < start) {
        e->v[0].start_offset = start;
        changed = true;
    }
    return changed;
}

int storage_epochs_store(const struct storage_epochs *e, const char *dir)
{
    struct gbuf b;
    gbuf_init(&b);
    char line[64];
    strfmt(line, sizeof line, "0\n%d\n", e->count);
    int rc = gbuf_append(&b, line, strlen(line));
    for (int i = 0; i < e->count && !rc; i++) {
        strfmt(line, sizeof line, "%d %lld\n", e->v[i].epoch, (long long)e->v[i].start_offset);
        rc = gbuf_append(&b, line, strlen(line));
    }
    if (!rc) rc = storage_write_file_atomic(dir, EPOCH_FILE, b.data, b.len);
    gbuf_close(&b);
    return rc;
}

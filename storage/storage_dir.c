/*
 * storage_dir.c — a log directory (`log.dirs` entry): its partition logs and checkpoints.
 *
 * Per log dir, replaced atomically (tmp + fsync + rename + fsync dir), Kafka's text format:
 *
 *   recovery-point-offset-checkpoint      log-start-offset-checkpoint
 *   0                    version          0
 *   2                    entries          1
 *   orders 0 1200        topic part off   orders 1 50
 *   orders 1 977
 *
 * The recovery point of a partition is the offset below which its files were fsynced; a
 * missing entry (or file) means 0, i.e. validate everything at the next open.  Entries of
 * partitions not opened in this run are carried over unchanged.
 *
 * Per partition dir `<topic>-<partition>/partition.metadata`: "version: 0\ntopic_id: <id>\n".
 */
#include "storage/storage_int.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RECOVERY_CP "recovery-point-offset-checkpoint"
#define START_CP "log-start-offset-checkpoint"
#define PARTITION_METADATA "partition.metadata"
#define CP_FILE_MAX_BYTES (64 << 20)
#define TOPIC_MAX_LEN 249

struct storage_cp_entry {
    char *topic;
    int32_t partition;
    int64_t recovery_point; /* -1 = absent */
    int64_t start_offset;   /* -1 = absent */
};

struct storage_dir {
    char *path;
    struct storage_log *logs;
    struct storage_cp_entry *cp;
    int cp_count, cp_cap;
};

const char *storage_dir_path(const struct storage_dir *d)
{
    return d->path;
}

static struct storage_cp_entry *cp_find(const struct storage_dir *d, const char *topic,
                                        int32_t partition)
{
    for (int i = 0; i < d->cp_count; i++)
        if (d->cp[i].partition == partition && strcmp(d->cp[i].topic, topic) == 0) return &d->cp[i];
    return NULL;
}

static struct storage_cp_entry *cp_get(struct storage_dir *d, const char *topic, int32_t partition)
{
    struct storage_cp_entry *e = cp_find(d, topic, partition);
    if (e) return e;
    if (d->cp_count == d->cp_cap) {
        int cap = d->cp_cap ? d->cp_cap * 2 : 16;
        struct storage_cp_entry *v = realloc(d->cp, (size_t)cap * sizeof(*v));
        if (!v) return NULL;
        d->cp = v;
        d->cp_cap = cap;
    }
    char *t = strdup(topic);
    if (!t) return NULL;
    e = &d->cp[d->cp_count++];
    *e = (struct storage_cp_entry){t, partition, -1, -1};
    return e;
}

void storage_dir_lookup(const struct storage_dir *d, const char *topic, int32_t partition,
                        int64_t *recovery_point, int64_t *start_offset)
{
    const struct storage_cp_entry *e = cp_find(d, topic, partition);
    *recovery_point = e ? e->recovery_point : -1;
    *start_offset = e ? e->start_offset : -1;
}

void storage_dir_attach(struct storage_dir *d, struct storage_log *l)
{
    l->dir = d;
    l->next = d->logs;
    d->logs = l;
}

void storage_dir_detach(struct storage_dir *d, struct storage_log *l, bool forget)
{
    for (struct storage_log **p = &d->logs; *p; p = &(*p)->next) {
        if (*p == l) {
            *p = l->next;
            break;
        }
    }
    struct storage_cp_entry *e = forget ? cp_find(d, l->topic, l->partition) : NULL;
    if (e) {
        free(e->topic);
        *e = d->cp[--d->cp_count];
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Checkpoint files.                                                                           */

/* Parses one checkpoint file into the entries; a malformed file is ignored as a whole. */
static int cp_parse(struct storage_dir *d, char *text, bool recovery)
{
    char *save = NULL, *line = strtok_r(text, "\n", &save);
    int64_t version, count;
    if (!line || parse_i64(line, &version) || version != 0) return GR_ECORRUPT;
    line = strtok_r(NULL, "\n", &save);
    if (!line || parse_i64(line, &count) || count < 0) return GR_ECORRUPT;
    for (int64_t i = 0; i < count; i++) {
        char topic[TOPIC_MAX_LEN + 1], extra;
        int partition;
        long long off;
        line = strtok_r(NULL, "\n", &save);
        if (!line || sscanf(line, "%249s %d %lld %c", topic, &partition, &off, &extra) != 3 ||
            partition < 0 || off < 0)
            return GR_ECORRUPT;
        struct storage_cp_entry *e = cp_get(d, topic, partition);
        if (!e) return GR_ENOMEM;
        if (recovery)
            e->recovery_point = off;
        else
            e->start_offset = off;
    }
    return 0;
}

static int cp_load(struct storage_dir *d, const char *name, bool recovery)
{
    char path[STORAGE_PATH_MAX];
    strfmt(path, sizeof path, "%s/%s", d->path, name);
    struct gbuf b;
    gbuf_init(&b);
    int rc = storage_read_file(path, &b, CP_FILE_MAX_BYTES);
    if (rc == 0) {
        b.data[b.len] = '\0';
        rc = cp_parse(d, (char *)b.data, recovery);
        if (rc == GR_ECORRUPT) {
            LOG_WARN(STORAGE_COMP, "ignoring malformed %s", path);
            for (int i = 0; i < d->cp_count; i++) {
                if (recovery)
                    d->cp[i].recovery_point = -1;
                else
                    d->cp[i].start_offset = -1;
            }
            rc = 0;
        }
    } else if (rc == GR_ENOENT) {
        rc = 0;
    }
    gbuf_close(&b);
    return rc;
}

static int cp_store(struct storage_dir *d, const char *name, bool recovery)
{
    struct gbuf b;
    gbuf_init(&b);
    char line[TOPIC_MAX_LEN + 64];
    int n = 0;
    for (int i = 0; i < d->cp_count; i++)
        n += (recovery ? d->cp[i].recovery_point : d->cp[i].start_offset) >= 0;
    strfmt(line, sizeof line, "0\n%d\n", n);
    int rc = gbuf_append(&b, line, strlen(line));
    for (int i = 0; i < d->cp_count && !rc; i++) {
        int64_t v = recovery ? d->cp[i].recovery_point : d->cp[i].start_offset;
        if (v < 0) continue;
        strfmt(line, sizeof line, "%s %d %lld\n", d->cp[i].topic, d->cp[i].partition, (long long)v);
        rc = gbuf_append(&b, line, strlen(line));
    }
    if (!rc) rc = storage_write_file_atomic(d->path, name, b.data, b.len);
    gbuf_close(&b);
    return rc ? GR_EIO : 0;
}

int storage_dir_checkpoint(struct storage_dir *d)
{
    int rc = 0;
    for (struct storage_log *l = d->logs; l; l = l->next) {
        if (storage_log_flush_closed(l)) rc = GR_EIO; /* keep the older recovery point */
        struct storage_cp_entry *e = cp_get(d, l->topic, l->partition);
        if (!e) return GR_ENOMEM;
        e->recovery_point = l->recovery_point;
        e->start_offset = l->start_offset;
    }
    if (cp_store(d, RECOVERY_CP, true)) rc = GR_EIO;
    if (cp_store(d, START_CP, false)) rc = GR_EIO;
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* The dir.                                                                                    */

static int mkdir_p(const char *path)
{
    char tmp[STORAGE_PATH_MAX];
    strfmt(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(tmp, 0755) && errno != EEXIST) return GR_EIO;
        *p = '/';
    }
    if (mkdir(tmp, 0755) && errno != EEXIST) return GR_EIO;
    return 0;
}

int storage_dir_open(const char *path, struct storage_dir **out, char *err, size_t err_len)
{
    if (!path || !*path || strlen(path) > STORAGE_PATH_MAX - 64) {
        storage_err(err, err_len, "invalid log dir path");
        return GR_EINVAL;
    }
    struct storage_dir *d = calloc(1, sizeof(*d));
    if (!d || !(d->path = strdup(path))) {
        free(d);
        storage_err(err, err_len, "out of memory");
        return GR_ENOMEM;
    }
    int rc = mkdir_p(path);
    if (rc) storage_err(err, err_len, "cannot create log dir %s: %s", path, strerror(errno));
    if (!rc && (rc = cp_load(d, RECOVERY_CP, true)) != 0)
        storage_err(err, err_len, "cannot read %s/%s", path, RECOVERY_CP);
    if (!rc && (rc = cp_load(d, START_CP, false)) != 0)
        storage_err(err, err_len, "cannot read %s/%s", path, START_CP);
    if (rc) {
        d->logs = NULL;
        storage_dir_close(d);
        return rc;
    }
    *out = d;
    return 0;
}

static void log_free(struct storage_log *l)
{
    for (int i = 0; i < l->seg_count; i++)
        storage_segment_free(l->segs[i]);
    free(l->segs);
    storage_log_close_dead(l, true);
    free(l->dead);
    storage_epochs_close(&l->epochs);
    gbuf_close(&l->cursor_buf);
    gbuf_close(&l->batch_buf);
    gbuf_close(&l->scratch);
    free(l->topic);
    free(l->path);
    free(l);
}

void storage_dir_close(struct storage_dir *d)
{
    if (!d) return;
    for (struct storage_log *l = d->logs; l; l = l->next)
        if (storage_log_flush(l)) LOG_ERROR(STORAGE_COMP, "%s: flush at shutdown failed", l->path);
    if (d->logs && storage_dir_checkpoint(d))
        LOG_ERROR(STORAGE_COMP, "%s: writing checkpoints at shutdown failed", d->path);
    while (d->logs) {
        struct storage_log *l = d->logs;
        d->logs = l->next;
        log_free(l);
    }
    for (int i = 0; i < d->cp_count; i++)
        free(d->cp[i].topic);
    free(d->cp);
    free(d->path);
    free(d);
}

/* Splits "<topic>-<partition>"; false if the name is not a partition dir. */
static bool parse_partition_dir(const char *name, char *topic, size_t topic_n, int32_t *part)
{
    const char *dash = strrchr(name, '-');
    if (!dash || dash == name || (size_t)(dash - name) >= topic_n || !dash[1]) return false;
    int64_t v = 0;
    for (const char *p = dash + 1; *p; p++) {
        if (*p < '0' || *p > '9' || v > INT32_MAX / 10) return false;
        v = v * 10 + (*p - '0');
    }
    if (v > INT32_MAX) return false;
    memcpy(topic, name, (size_t)(dash - name));
    topic[dash - name] = '\0';
    *part = (int32_t)v;
    return true;
}

int storage_dir_scan(struct storage_dir *d,
                     void (*fn)(void *arg, const char *topic, int32_t partition), void *arg)
{
    DIR *dir = opendir(d->path);
    if (!dir) {
        LOG_ERROR(STORAGE_COMP, "cannot list %s: %s", d->path, strerror(errno));
        return GR_EIO;
    }
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        char topic[TOPIC_MAX_LEN + 1], path[STORAGE_PATH_MAX];
        int32_t part;
        if (de->d_name[0] == '.') continue;
        if (!parse_partition_dir(de->d_name, topic, sizeof topic, &part)) continue;
        struct stat st;
        strfmt(path, sizeof path, "%s/%s", d->path, de->d_name);
        if (stat(path, &st) || !S_ISDIR(st.st_mode)) continue;
        fn(arg, topic, part);
    }
    closedir(dir);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Opening and deleting partition logs.                                                        */

static int partition_metadata(struct storage_log *l, const struct gr_uuid *id, char *err,
                              size_t err_len)
{
    if (!id || gr_uuid_is_zero(id)) return 0;
    char want[23], path[STORAGE_PATH_MAX], text[96];
    gr_uuid_to_base64(id, want);
    strfmt(path, sizeof path, "%s/" PARTITION_METADATA, l->path);
    struct gbuf b;
    gbuf_init(&b);
    int rc = storage_read_file(path, &b, 4096);
    if (rc == 0) {
        b.data[b.len] = '\0';
        const char *p = strstr((const char *)b.data, "topic_id: ");
        char have[23] = "";
        if (p) sscanf(p + 10, "%22s", have);
        gbuf_close(&b);
        if (strcmp(have, want) == 0) return 0;
        if (have[0]) {
            storage_err(err, err_len, "%s: partition.metadata has topic id %s, expected %s",
                        l->path, have, want);
            return GR_EEXIST;
        }
    }
    gbuf_close(&b);
    if (rc != 0 && rc != GR_ENOENT && rc != GR_ERANGE) return rc;
    strfmt(text, sizeof text, "version: 0\ntopic_id: %s\n", want);
    return storage_write_file_atomic(l->path, PARTITION_METADATA, text, strlen(text));
}

static struct storage_log *log_alloc(struct storage_dir *d, const char *topic, int32_t partition)
{
    struct storage_log *l = calloc(1, sizeof(*l));
    char path[STORAGE_PATH_MAX];
    if (!l) return NULL;
    strfmt(path, sizeof path, "%s/%s-%d", d->path, topic, partition);
    l->topic = strdup(topic);
    l->path = strdup(path);
    l->partition = partition;
    l->dir = d;
    gbuf_init(&l->cursor_buf);
    gbuf_init(&l->batch_buf);
    gbuf_init(&l->scratch);
    if (!l->topic || !l->path) {
        log_free(l);
        return NULL;
    }
    return l;
}

static bool topic_name_ok(const char *t)
{
    size_t n = strlen(t);
    if (n == 0 || n > TOPIC_MAX_LEN || strcmp(t, ".") == 0 || strcmp(t, "..") == 0) return false;
    for (size_t i = 0; i < n; i++)
        if (t[i] == '/' || t[i] == ' ' || t[i] == '\n' || t[i] == '\0') return false;
    return true;
}

int storage_log_open(struct storage_dir *d, const char *topic, int32_t partition,
                     const struct gr_uuid *topic_id, const struct storage_log_config *cfg,
                     int64_t now_ms, struct storage_log **out, char *err, size_t err_len)
{
    if (!topic_name_ok(topic) || partition < 0) {
        storage_err(err, err_len, "invalid topic-partition %s-%d", topic, partition);
        return GR_EINVAL;
    }
    for (struct storage_log *l = d->logs; l; l = l->next) {
        if (l->partition == partition && strcmp(l->topic, topic) == 0) {
            storage_log_set_config(l, cfg);
            *out = l;
            return 0;
        }
    }
    struct storage_log *l = log_alloc(d, topic, partition);
    if (!l) {
        storage_err(err, err_len, "out of memory");
        return GR_ENOMEM;
    }
    int rc = 0;
    if (mkdir(l->path, 0755) == 0) {
        l->dir_dirty = true;
        if (storage_fsync_path(d->path)) rc = GR_EIO;
    } else if (errno != EEXIST) {
        rc = GR_EIO;
    }
    if (rc) storage_err(err, err_len, "cannot create %s: %s", l->path, strerror(errno));
    if (!rc) rc = partition_metadata(l, topic_id, err, err_len);
    storage_log_set_config(l, cfg);
    storage_dir_lookup(d, topic, partition, &l->recovery_point, &l->start_offset);
    l->now_ms = l->last_flush_ms = now_ms;
    if (!rc && (rc = storage_epochs_load(&l->epochs, l->path)) != 0)
        storage_err(err, err_len, "%s: cannot read leader-epoch-checkpoint", l->path);
    if (!rc) rc = storage_recover_log(l, now_ms, err, err_len);
    if (rc) {
        log_free(l);
        return rc;
    }
    storage_dir_attach(d, l);
    *out = l;
    return 0;
}

int storage_log_delete(struct storage_log *l)
{
    struct storage_dir *d = l->dir;
    storage_dir_detach(d, l, true);
    char *path = l->path;
    l->path = NULL;
    log_free(l);
    int rc = 0;
    DIR *dir = opendir(path);
    if (dir) {
        struct dirent *de;
        while ((de = readdir(dir)) != NULL) {
            char p[STORAGE_PATH_MAX];
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
            strfmt(p, sizeof p, "%s/%s", path, de->d_name);
            if (unlink(p) && errno != ENOENT) rc = GR_EIO;
        }
        closedir(dir);
    }
    if (rmdir(path) && errno != ENOENT) rc = GR_EIO;
    if (rc) LOG_ERROR(STORAGE_COMP, "cannot delete %s: %s", path, strerror(errno));
    if (!rc && storage_fsync_path(d->path)) rc = GR_EIO;
    if (!rc) LOG_INFO(STORAGE_COMP, "deleted log %s", path);
    free(path);
    return rc;
}

/*
 * test_storage.c — Check suite for the storage module (segmented partition log), through
 * storage/storage.h only (plus the record-batch builder to make batches).
 *
 * Every test works in its own mkdtemp directory under /tmp, removed at teardown.
 */
#include "proto/proto_record_batch.h"
#include "storage/storage.h"

#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define TOPIC "orders"
#define T0 1700000000000LL

static char tmp_root[64];
static char err[256];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void setup(void)
{
    strcpy(tmp_root, "/tmp/gregor_storage_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmp_root));
}

static void teardown(void)
{
    nftw(tmp_root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ------------------------------------------------------------------------------------------ */
/* Helpers.                                                                                    */

/* Appends one batch of `count` records (timestamps ts[i] or base_ts + i) to out. */
static void make_batch(struct gbuf *out, int count, int64_t base_ts, const int64_t *ts,
                       int value_bytes, int codec)
{
    struct rb_builder b;
    rb_builder_init(&b, 0, codec);
    char value[4096];
    ck_assert_int_le(value_bytes, (int)sizeof value);
    for (int i = 0; i < count; i++) {
        memset(value, 'a' + i % 26, (size_t)value_bytes);
        ck_assert_int_eq(
            rb_builder_add(&b, ts ? ts[i] : base_ts + i, "k", 1, value, value_bytes, NULL, 0), 0);
    }
    ck_assert_int_eq(rb_builder_finish(&b, out), 0);
    rb_builder_close(&b);
}

static int64_t append_batch(struct storage_log *l, int count, int64_t base_ts, int value_bytes)
{
    struct gbuf g;
    gbuf_init(&g);
    make_batch(&g, count, base_ts, NULL, value_bytes, RB_CODEC_NONE);
    struct storage_append_info ai;
    ck_assert_int_eq(storage_log_append(l, g.data, g.len, 0, base_ts, &ai), 0);
    ck_assert_int_eq(ai.last_offset - ai.first_offset + 1, count);
    gbuf_close(&g);
    return ai.first_offset;
}

/* Appends one batch as a leader does, stamping leader_epoch; returns its first offset. */
static int64_t append_epoch(struct storage_log *l, int count, int64_t base_ts, int value_bytes,
                            int32_t leader_epoch)
{
    struct gbuf g;
    gbuf_init(&g);
    make_batch(&g, count, base_ts, NULL, value_bytes, RB_CODEC_NONE);
    struct storage_append_info ai;
    ck_assert_int_eq(storage_log_append(l, g.data, g.len, leader_epoch, base_ts, &ai), 0);
    gbuf_close(&g);
    return ai.first_offset;
}

/* Appends to out one batch as a leader stored it: baseOffset base, partitionLeaderEpoch epoch
 * (both outside the CRC).  Returns the offset after it. */
static int64_t leader_batch(struct gbuf *out, int64_t base, int32_t epoch, int count,
                            int64_t base_ts, int value_bytes)
{
    size_t at = out->len;
    make_batch(out, count, base_ts, NULL, value_bytes, RB_CODEC_NONE);
    be64_put(out->data + at + RB_OFF_BASE_OFFSET, (uint64_t)base);
    be32_put(out->data + at + RB_OFF_LEADER_EPOCH, (uint32_t)epoch);
    return base + count;
}

static void check_epoch_answer(struct storage_log *l, int32_t asked, int32_t epoch, int64_t end)
{
    int32_t got_epoch = -2;
    int64_t got_end = -2;
    ck_assert_int_eq(storage_log_end_offset_for_epoch(l, asked, &got_epoch, &got_end), 0);
    ck_assert_msg(got_epoch == epoch && got_end == end, "epoch %d: got (%d, %lld), want (%d, %lld)",
                  asked, got_epoch, (long long)got_end, epoch, (long long)end);
}

static struct storage_log_config small_cfg(int64_t segment_bytes)
{
    struct storage_log_config c;
    storage_log_config_default(&c);
    c.segment_bytes = segment_bytes;
    c.index_interval_bytes = 100;
    return c;
}

static struct storage_dir *open_dir(void)
{
    struct storage_dir *d = NULL;
    ck_assert_msg(storage_dir_open(tmp_root, &d, err, sizeof err) == 0, "%s", err);
    return d;
}

static struct storage_log *open_log(struct storage_dir *d, const struct storage_log_config *c)
{
    struct storage_log *l = NULL;
    ck_assert_msg(storage_log_open(d, TOPIC, 0, NULL, c, T0, &l, err, sizeof err) == 0, "%s", err);
    return l;
}

static void part_path(char *out, size_t n, const char *file)
{
    snprintf(out, n, "%s/" TOPIC "-0/%s", tmp_root, file);
}

static off_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : -1;
}

static char *read_text(const char *path)
{
    static char buf[4096];
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Reads a slice and checks it holds whole batches; returns the first batch's base and last
 * offsets through the pointers, and the number of batches. */
static int read_batches(struct storage_log *l, int64_t offset, int32_t max_bytes, int64_t max_off,
                        bool min_one, int64_t *first_base, int64_t *first_last, int64_t *last_last)
{
    struct storage_slice s;
    ck_assert_int_eq(storage_log_read(l, offset, max_bytes, max_off, min_one, &s), 0);
    if (s.bytes == 0) return 0;
    struct gbuf g;
    gbuf_init(&g);
    ck_assert_int_eq(storage_slice_copy(&s, &g), 0);
    ck_assert_int_eq((int)g.len, s.bytes);
    ck_assert_int_eq(rb_set_validate_flags(g.data, g.len, RB_VALIDATE_LOG, NULL), 0);
    int n = 0;
    size_t off = 0, size;
    while ((size = rb_batch_size(g.data + off, g.len - off)) != 0) {
        struct rb_header h;
        ck_assert_int_eq(rb_header_parse(g.data + off, g.len - off, &h), 0);
        if (n == 0) {
            *first_base = h.base_offset;
            *first_last = h.base_offset + h.last_offset_delta;
        }
        *last_last = h.base_offset + h.last_offset_delta;
        n++;
        off += size;
    }
    ck_assert_uint_eq(off, g.len);
    gbuf_close(&g);
    return n;
}

/* ------------------------------------------------------------------------------------------ */

START_TEST(test_round_trip)
{
    struct storage_dir *d = open_dir();
    struct storage_log_config c;
    storage_log_config_default(&c);
    struct storage_log *l = open_log(d, &c);
    ck_assert_int_eq(storage_log_end_offset(l), 0);
    struct gbuf g;
    gbuf_init(&g);
    make_batch(&g, 3, T0, NULL, 10, RB_CODEC_NONE);
    struct gbuf orig;
    gbuf_init(&orig);
    gbuf_append(&orig, g.data, g.len);
    struct storage_append_info ai;
    ck_assert_int_eq(storage_log_append(l, g.data, g.len, 7, T0, &ai), 0);
    ck_assert_int_eq(ai.first_offset, 0);
    ck_assert_int_eq(ai.last_offset, 2);
    ck_assert_int_eq(ai.max_timestamp, T0 + 2);
    ck_assert_int_eq(storage_log_end_offset(l), 3);
    ck_assert_int_eq(storage_log_size_bytes(l), (int64_t)g.len);

    struct storage_slice s;
    for (int64_t off = 0; off < 3; off++) {
        ck_assert_int_eq(storage_log_read(l, off, 1 << 20, 3, false, &s), 0);
        ck_assert_int_eq(s.file_pos, 0);
        ck_assert_int_eq(s.bytes, (int32_t)g.len);
    }
    struct gbuf back;
    gbuf_init(&back);
    ck_assert_int_eq(storage_slice_copy(&s, &back), 0);
    /* bytes come back as stored: epoch stamped, CRC untouched */
    ck_assert_int_eq((int32_t)be32_get(back.data + RB_OFF_LEADER_EPOCH), 7);
    ck_assert_int_eq(
        memcmp(back.data + RB_OFF_MAGIC, orig.data + RB_OFF_MAGIC, orig.len - RB_OFF_MAGIC), 0);
    ck_assert_int_eq(rb_set_validate(back.data, back.len, NULL), 0);
    ck_assert_int_eq(storage_log_read(l, 3, 1 << 20, 3, true, &s), 0);
    ck_assert_int_eq(s.bytes, 0);
    ck_assert_int_eq(storage_log_read(l, 4, 1 << 20, 4, true, &s), GR_ERANGE);
    ck_assert_int_eq(storage_log_read(l, -1, 1 << 20, 4, true, &s), GR_ERANGE);
    gbuf_close(&g);
    gbuf_close(&orig);
    gbuf_close(&back);
    storage_dir_close(d);
}
END_TEST

/* Appends batches of 1..5 records; returns the number of offsets. */
static int64_t fill_log(struct storage_log *l, int batches, int64_t *bases)
{
    for (int i = 0; i < batches; i++) {
        int64_t first = append_batch(l, 1 + i % 5, T0 + i * 10, 20 + (i * 7) % 60);
        if (bases) bases[i] = first;
    }
    return storage_log_end_offset(l);
}

static void check_every_offset(struct storage_log *l)
{
    int64_t end = storage_log_end_offset(l);
    for (int64_t off = storage_log_start_offset(l); off < end; off++) {
        int64_t fb = -1, fl = -1, ll = -1;
        ck_assert_int_eq(read_batches(l, off, 1, end, true, &fb, &fl, &ll), 1);
        ck_assert_msg(fb <= off && off <= fl, "offset %lld got batch %lld..%lld", (long long)off,
                      (long long)fb, (long long)fl);
        int n = read_batches(l, off, 1 << 20, end, false, &fb, &fl, &ll);
        ck_assert_int_ge(n, 1);
        ck_assert(fb <= off && off <= fl);
    }
}

/* Closes the dir and opens the log again from its files: it must end where it did and read back
 * every offset. */
static struct storage_log *reopen_checked(struct storage_dir **d, struct storage_log *l,
                                          const struct storage_log_config *c)
{
    int64_t end = storage_log_end_offset(l);
    storage_dir_close(*d);
    *d = open_dir();
    l = open_log(*d, c);
    ck_assert_int_eq(storage_log_end_offset(l), end);
    check_every_offset(l);
    return l;
}

START_TEST(test_rolls_and_every_offset)
{
    struct storage_dir *d = open_dir();
    struct storage_log_config c = small_cfg(1024);
    struct storage_log *l = open_log(d, &c);
    int64_t bases[300];
    int64_t end = fill_log(l, 300, bases);
    ck_assert_int_eq(end, 300 / 5 * 15);
    ck_assert_int_gt(storage_log_segment_count(l), 10);
    for (int i = 1; i < 300; i++)
        ck_assert_int_eq(bases[i], bases[i - 1] + 1 + (i - 1) % 5);
    check_every_offset(l);
    /* segment files are named by their base offsets and the first one starts at 0 */
    char path[512];
    part_path(path, sizeof path, "00000000000000000000.log");
    ck_assert_int_gt(file_size(path), 0);
    ck_assert_int_le(file_size(path), 1024);
    storage_dir_close(d);

    d = open_dir();
    l = open_log(d, &c);
    ck_assert_int_eq(storage_log_end_offset(l), end);
    check_every_offset(l);
    storage_dir_close(d);
}
END_TEST

START_TEST(test_index_files)
{
    struct storage_dir *d = open_dir();
    struct storage_log_config c = small_cfg(64 * 1024);
    struct storage_log *l = open_log(d, &c);
    fill_log(l, 200, NULL);
    storage_dir_close(d);
    char path[512];
    part_path(path, sizeof path, "00000000000000000000.index");
    off_t n = file_size(path);
    ck_assert_int_gt(n, 8);
    ck_assert_int_eq(n % 8, 0);
    int fd = open(path, O_RDONLY);
    uint8_t idx[65536];
    ck_assert_int_eq(read(fd, idx, sizeof idx), n);
    close(fd);
    part_path(path, sizeof path, "00000000000000000000.log");
    fd = open(path, O_RDONLY);
    uint32_t prev_rel = 0, prev_pos = 0;
    for (off_t i = 0; i < n; i += 8) {
        uint32_t rel = be32_get(idx + i), pos = be32_get(idx + i + 4);
        ck_assert(i == 0 || (rel > prev_rel && pos > prev_pos));
        uint8_t h[RB_HEADER_BYTES];
        ck_assert_int_eq(pread(fd, h, sizeof h, pos), RB_HEADER_BYTES);
        struct rb_header hdr;
        ck_assert_int_eq(rb_header_parse(h, sizeof h, &hdr), 0);
        /* Kafka's convention: an entry names the batch's last offset */
        ck_assert_int_eq(hdr.base_offset + hdr.last_offset_delta, rel);
        prev_rel = rel;
        prev_pos = pos;
    }
    close(fd);
    part_path(path, sizeof path, "00000000000000000000.timeindex");
    ck_assert_int_gt(file_size(path), 0);
    ck_assert_int_eq(file_size(path) % 12, 0);
}
END_TEST

START_TEST(test_max_offset_and_bytes)
{
    struct storage_dir *d = open_dir();
    struct storage_log_config c;
    storage_log_config_default(&c);
    struct storage_log *l = open_log(d, &c);
    for (int i = 0; i < 5; i++)
        append_batch(l, 2, T0, 30); /* offsets 0-1, 2-3, ... 8-9 */
    int32_t one = (int32_t)(storage_log_size_bytes(l) / 5);
    int64_t fb, fl, ll;
    ck_assert_int_eq(read_batches(l, 0, 1 << 20, 4, false, &fb, &fl, &ll), 2);
    ck_assert_int_eq(ll, 3);
    ck_assert_int_eq(read_batches(l, 0, 1 << 20, 5, false, &fb, &fl, &ll), 3);
    ck_assert_int_eq(ll, 5);
    ck_assert_int_eq(read_batches(l, 4, 1 << 20, 4, true, &fb, &fl, &ll), 0);
    ck_assert_int_eq(read_batches(l, 3, 1 << 20, 4, true, &fb, &fl, &ll), 1);
    ck_assert_int_eq(fb, 2);
    ck_assert_int_eq(read_batches(l, 0, one + 1, 10, false, &fb, &fl, &ll), 1);
    ck_assert_int_eq(read_batches(l, 0, 2 * one, 10, false, &fb, &fl, &ll), 2);
    ck_assert_int_eq(read_batches(l, 0, 2 * one - 1, 10, false, &fb, &fl, &ll), 1);
    ck_assert_int_eq(read_batches(l, 0, 10, 10, false, &fb, &fl, &ll), 0);
    ck_assert_int_eq(read_batches(l, 0, 10, 10, true, &fb, &fl, &ll), 1);
    ck_assert_int_eq(read_batches(l, 0, 0, 10, true, &fb, &fl, &ll), 1);
    ck_assert_int_eq(read_batches(l, 7, 1 << 20, 10, true, &fb, &fl, &ll), 2);
    ck_assert_int_eq(fb, 6);
    ck_assert_int_eq(ll, 9);
    storage_dir_close(d);
}
END_TEST

START_TEST(test_reopen_continues)
{
    struct storage_dir *d = open_dir();
    struct storage_log_config c = small_cfg(2048);
    struct storage_log *l = open_log(d, &c);
    int64_t end = fill_log(l, 50, NULL);
    storage_dir_close(d);
    d = open_dir();
    l = open_log(d, &c);
    ck_assert_int_eq(storage_log_end_offset(l), end);
    ck_assert_int_eq(append_batch(l, 3, T0, 10), end);
    ck_assert_int_eq(storage_log_end_offset(l), end + 3);
    check_every_offset(l);
    storage_dir_close(d);
}
END_TEST

static void corrupt_file(const char *path, off_t at, const void *bytes, size_t n)
{
    int fd = open(path, O_WRONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pwrite(fd, bytes, n, at), (ssize_t)n);
    close(fd);
}

START_TEST(test_torn_tail)
{
    struct storage_dir *d = open_dir();
    struct storage_log_config c;
    storage_log_config_default(&c);
    struct storage_log *l = open_log(d, &c);
    append_batch(l, 2, T0, 40);
    append_batch(l, 2, T0, 40);
    int64_t good = storage_log_size_bytes(l);
    append_batch(l, 2, T0, 40);
    int64_t full = storage_log_size_bytes(l);
    storage_dir_close(d);

    char path[512];
    part_path(path, sizeof path, "00000000000000000000.log");
    ck_assert_int_eq(truncate(path, full - 10), 0); /* the last batch is torn */
    d = open_dir();
    l = open_log(d, &c);
    ck_assert_int_eq(storage_log_end_offset(l), 4);
    ck_assert_int_eq(storage_log_size_bytes(l), good);
    ck_assert_int_eq(file_size(path), good);
    ck_assert_int_eq(append_batch(l, 1, T0, 10), 4);
    int64_t size = storage_log_size_bytes(l);
    storage_dir_close(d);

    /* garbage after the last batch: cut off, nothing lost */
    int fd = open(path, O_WRONLY | O_APPEND);
    char junk[100];
    memset(junk, 0x5a, sizeof junk);
    ck_assert_int_eq(write(fd, junk, sizeof junk), (ssize_t)sizeof junk);
    close(fd);
    d = open_dir();
    l = open_log(d, &c);
    ck_assert_int_eq(storage_log_end_offset(l), 5);
    ck_assert_int_eq(file_size(path), size);
    check_every_offset(l);
    storage_dir_close(d);
}
END_TEST

START_TEST(test_unclean_shutdown)
{
    struct storage_log_config c = small_cfg(1500);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) { /* the "broker": appends and dies without closing anything */
        struct storage_dir *d = open_dir();
        struct storage_log *l = open_log(d, &c);
        fill_log(l, 100, NULL);
        storage_dir_checkpoint(d);
        fill_log(l, 37, NULL);
        _exit(0);
    }
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    struct storage_dir *d = open_dir();
    struct storage_log *l = open_log(d, &c);
    int64_t expect = 0;
    for (int i = 0; i < 100; i++)
        expect += 1 + i % 5;
    for (int i = 0; i < 37; i++)
        expect += 1 + i % 5;
    ck_assert_int_eq(storage_log_end_offset(l), expect);
    check_every_offset(l);
    ck_assert_int_eq(append_batch(l, 1, T0, 5), expect);
    storage_dir_close(d);
}
END_TEST

START_TEST(test_corrupt_crc_middle)
{
    struct storage_dir *d = open_dir();
    struct storage_log_config c = small_cfg(1024);
    struct storage_log *l = open_log(d, &c);
    fill_log(l, 100, NULL);
    int segs = storage_log_segment_count(l);
    ck_assert_int_gt(segs, 4);
    storage_dir_close(d);

    /* find the second segment and flip a byte in its second batch's records */
    char path[512], name[64];
    int64_t base = -1;
    for (int64_t b = 1; b < 500 && base < 0; b++) {
        snprintf(name, sizeof name, "%020lld.log", (long long)b);
        part_path(path, sizeof path, name);
        if (file_size(path) > 0) base = b;
    }
    ck_assert_int_gt(base, 0);
    int fd = open(path, O_RDONLY);
    uint8_t h[RB_HEADER_BYTES];
    ck_assert_int_eq(pread(fd, h, sizeof h, 0), RB_HEADER_BYTES);
    int64_t second = (int64_t)be32_get(h + RB_OFF_LENGTH) + RB_LOG_OVERHEAD;
    ck_assert_int_eq(pread(fd, h, sizeof h, second), RB_HEADER_BYTES);
    close(fd);
    int64_t bad_base = (int64_t)be64_get(h);
    corrupt_file(path, second + RB_HEADER_BYTES + 2, "\xff", 1);
    /* without a recovery point everything is validated */
    char cp[512];
    snprintf(cp, sizeof cp, "%s/recovery-point-offset-checkpoint", tmp_root);
    ck_assert_int_eq(unlink(cp), 0);
    d = open_dir();
    l = open_log(d, &c);
    ck_assert_int_eq(storage_log_end_offset(l), bad_base);
    ck_assert_int_eq(storage_log_segment_count(l), 2);
    ck_assert_int_eq(file_size(path), second);
    check_every_offset(l);
    ck_assert_int_eq(append_batch(l, 2, T0, 10), bad_base);
    storage_dir_close(d);
}
END_TEST

START_TEST(test_retention_bytes)
{
    struct storage_dir *d = open_dir();
    struct storage_log_config c = small_cfg(1024);
    c.retention_ms = -1;
    struct storage_log *l = open_log(d, &c);
    fill_log(l, 100, NULL);
    int segs = storage_log_segment_count(l);
    int64_t size = storage_log_size_bytes(l);
    c.retention_bytes = size / 2;
    storage_log_set_config(l, &c);
    int n = storage_log_enforce_retention(l, T0 + 1000);
    ck_assert_int_gt(n, 0);
    ck_assert_int_eq(storage_log_segment_count(l), segs - n);
    ck_assert_int_ge(storage_log_size_bytes(l), c.retention_bytes);
    ck_assert_int_lt(storage_log_size_bytes(l), c.retention_bytes + 1024);
    int64_t start = storage_log_start_offset(l);
    ck_assert_int_gt(start, 0);
    struct storage_slice s;
    ck_assert_int_eq(storage_log_read(l, start - 1, 100, INT64_MAX, true, &s), GR_ERANGE);
    check_every_offset(l);
    ck_assert_int_eq(storage_log_enforce_retention(l, T0 + 1000), 0);
    storage_dir_close(d);
    /* the new log start survives a restart */
    d = open_dir();
    l = open_log(d, &c);
    ck_assert_int_eq(storage_log_start_offset(l), start);
    storage_dir_close(d);
}
END_TEST

START_TEST(test_retention_time)
{
    struct storage_dir *d = open_dir();
    struct storage_log_config c = small_cfg(1 << 20);
    c.retention_ms = 1500;
    c.segment_ms = 500; /* each append below rolls: batch timestamps are 1000 apart */
    struct storage_log *l = open_log(d, &c);
    append_batch(l, 2, 1000, 10);
    append_batch(l, 2, 2000, 10);
    append_batch(l, 2, 3000, 10);
    ck_assert_int_eq(storage_log_segment_count(l), 3);
    c.segment_ms = 24 * 3600 * 1000;
    storage_log_set_config(l, &c);
    ck_assert_int_eq(storage_log_enforce_retention(l, 2600), 1);
    ck_assert_int_eq(storage_log_start_offset(l), 2);
    ck_assert_int_eq(storage_log_enforce_retention(l, 3600), 1);
    ck_assert_int_eq(storage_log_start_offset(l), 4);
    ck_assert_int_eq(storage_log_segment_count(l), 1);
    /* the expired active segment is rolled, then deleted */
    ck_assert_int_eq(storage_log_enforce_retention(l, 10000), 1);
    ck_assert_int_eq(storage_log_segment_count(l), 1);
    ck_assert_int_eq(storage_log_start_offset(l), 6);
    ck_assert_int_eq(storage_log_end_offset(l), 6);
    ck_assert_int_eq(storage_log_size_bytes(l), 0);
    ck_assert_int_eq(append_batch(l, 1, 10000, 10), 6);
    storage_dir_close(d);
}
END_TEST

START_TEST(test_roll_by_segment_ms)
{
    struct storage_dir *d = open_dir();
    struct storage_log_config c = small_cfg(1 << 20);
    c.segment_ms = 1000;
    struct storage_log *l = open_log(d, &c);
    append_batch(l, 1, T0, 10);
    append_batch(l, 1, T0 + 500, 10);
    ck_assert_int_eq(storage_log_segment_count(l), 1);
    append_batch(l, 1, T0 + 1500, 10); /* batch timestamps, as Kafka */
    ck_assert_int_eq(storage_log_segment_count(l), 2);
    storage_dir_close(d);
}
END_TEST

START_TEST(test_offset_for_timestamp)
{
    struct storage_dir *d = open_dir();
    struct storage_log_config c = small_cfg(400);
    struct storage_log *l = open_log(d, &c);
    static const int64_t t1[] = {100, 110, 120}, t2[] = {200, 210}, t3[] = {150, 300},
                         t4[] = {250, 260};
    const int64_t *sets[] = {t1, t2, t3, t4};
    int counts[] = {3, 2, 2, 2};
    for (int i = 0; i < 4; i++) {
        struct gbuf g;
        gbuf_init(&g);
        make_batch(&g, counts[i], 0, sets[i], 50, i == 2 ? RB_CODEC_GZIP : RB_CODEC_NONE);
        ck_assert_int_eq(storage_log_append(l, g.data, g.len, 0, T0, NULL), 0);
        gbuf_close(&g);
    }
    ck_assert_int_gt(storage_log_segment_count(l), 1);
    static const struct {
        int64_t ts, off, found;
    } cases[] = {
        {0, 0, 100},   {100, 0, 100}, {101, 1, 110}, {115, 2, 120}, {121, 3, 200},
        {150, 3, 200}, {201, 4, 210}, {211, 6, 300}, {300, 6, 300}, {301, -1, -1},
    };
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            int64_t off, ts;
            ck_assert_int_eq(storage_log_offset_for_timestamp(l, cases[i].ts, &off, &ts), 0);
            ck_assert_msg(off == cases[i].off && ts == cases[i].found,
                          "pass %d ts %lld: got %lld/%lld", pass, (long long)cases[i].ts,
                          (long long)off, (long long)ts);
        }
        int64_t off, ts;
        ck_assert_int_eq(storage_log_max_timestamp(l, &off, &ts), 0);
        ck_assert_int_eq(off, 6);
        ck_assert_int_eq(ts, 300);
        storage_dir_close(d); /* second pass: closed segments use their mapped indexes */
        d = open_dir();
        l = open_log(d, &c);
    }
    storage_dir_close(d);
}
END_TEST

START_TEST(test_truncate_to)
{
    struct storage_dir *d = open_dir();
    struct storage_log_config c = small_cfg(1024);
    struct storage_log *l = open_log(d, &c);
    int64_t bases[100];
    fill_log(l, 100, bases);
    int segs = storage_log_segment_count(l);
    ck_assert_int_eq(storage_log_truncate_to(l, bases[60]), 0);
    ck_assert_int_eq(storage_log_end_offset(l), bases[60]);
    ck_assert_int_lt(storage_log_segment_count(l), segs);
    check_every_offset(l);
    ck_assert_int_eq(append_batch(l, 2, T0, 10), bases[60]);
    /* inside a batch: the whole batch goes (a batch is never split) */
    ck_assert_int_eq(storage_log_truncate_to(l, bases[41] + 1), 0);
    ck_assert_int_eq(storage_log_end_offset(l), bases[41]);
    check_every_offset(l);
    l = reopen_checked(&d, l, &c);
    /* below the log start offset: everything goes and the log restarts there */
    ck_assert_int_eq(storage_log_advance_start(l, 30), 0);
    ck_assert_int_eq(storage_log_truncate_to(l, 18), 0); /* offsets 18-20 are one batch */
    ck_assert_int_eq(storage_log_end_offset(l), 18);
    ck_assert_int_eq(storage_log_start_offset(l), 18);
    ck_assert_int_eq(append_batch(l, 1, T0, 10), 18);
    check_every_offset(l);
    ck_assert_int_eq(storage_log_truncate_to(l, 0), 0);
    ck_assert_int_eq(storage_log_end_offset(l), 0);
    ck_assert_int_eq(storage_log_segment_count(l), 1);
    ck_assert_int_eq(append_batch(l, 1, T0, 10), 0);
    storage_dir_close(d);
}
END_TEST

/* Reads near the end are answered from the active segment's ring of the newest batch headers:
 * it must agree with the disk through appends, truncations inside and before it, and reopen. */
START_TEST(test_tail_ring_agrees_with_the_disk)
{
    struct storage_dir *d = open_dir();
    struct storage_log_config c = small_cfg(1 << 20); /* one segment */
    struct storage_log *l = open_log(d, &c);
    int64_t bases[120];
    fill_log(l, 100, bases); /* more batches than the ring holds */
    ck_assert_int_eq(storage_log_segment_count(l), 1);
    check_every_offset(l);
    ck_assert_int_eq(storage_log_truncate_to(l, bases[90]), 0); /* inside the ring */
    check_every_offset(l);
    for (int i = 0; i < 5; i++) /* other sizes where the cut batches were */
        bases[90 + i] = append_batch(l, 7 - i, T0 + 5000 + i, 90 + 13 * i);
    check_every_offset(l);
    ck_assert_int_eq(storage_log_truncate_to(l, bases[50]), 0); /* before the ring */
    check_every_offset(l);
    for (int i = 0; i < 40; i++) append_batch(l, 1 + i % 3, T0 + 9000 + i, 30 + i);
    check_every_offset(l);
    l = reopen_checked(&d, l, &c); /* no ring after a reopen: the disk walk */
    append_batch(l, 2, T0 + 20000, 10);
    check_every_offset(l);
    storage_dir_close(d);
}
END_TEST

START_TEST(test_advance_start)
{
    struct storage_dir *d = open_dir();
    struct storage_log_config c = small_cfg(1024);
    struct storage_log *l = open_log(d, &c);
    int64_t end = fill_log(l, 100, NULL);
    int segs = storage_log_segment_count(l);
    ck_assert_int_eq(storage_log_advance_start(l, end + 1), GR_ERANGE);
    ck_assert_int_eq(storage_log_advance_start(l, end / 2), 0);
    ck_assert_int_eq(storage_log_start_offset(l), end / 2);
    ck_assert_int_lt(storage_log_segment_count(l), segs);
    int64_t fb, fl, ll;
    ck_assert_int_ge(read_batches(l, end / 2, 1, end, true, &fb, &fl, &ll), 1);
    ck_assert(fl >= end / 2);
    struct storage_slice s;
    ck_assert_int_eq(storage_log_read(l, end / 2 - 1, 1, end, true, &s), GR_ERANGE);
    storage_dir_close(d);
    d = open_dir();
    l = open_log(d, &c);
    ck_assert_int_eq(storage_log_start_offset(l), end / 2);
    storage_dir_close(d);
}
END_TEST

START_TEST(test_checkpoint_files)
{
    struct storage_dir *d = open_dir();
    struct storage_log_config c;
    storage_log_config_default(&c);
    struct storage_log *l = NULL;
    struct gr_uuid id;
    ck_assert_int_eq(gr_uuid_random(&id), 0);
    ck_assert_int_eq(storage_log_open(d, TOPIC, 0, &id, &c, T0, &l, err, sizeof err), 0);
    struct storage_log *l2 = NULL;
    ck_assert_int_eq(storage_log_open(d, "my.topic-x", 3, NULL, &c, T0, &l2, err, sizeof err), 0);
    struct gbuf g;
    gbuf_init(&g);
    make_batch(&g, 4, T0, NULL, 10, RB_CODEC_NONE);
    ck_assert_int_eq(storage_log_append(l, g.data, g.len, 5, T0, NULL), 0);
    ck_assert_int_eq(storage_dir_checkpoint(d), 0);
    char path[512];
    snprintf(path, sizeof path, "%s/recovery-point-offset-checkpoint", tmp_root);
    char *t = read_text(path);
    ck_assert_ptr_nonnull(strstr(t, "0\n2\n"));
    ck_assert_ptr_nonnull(strstr(t, "\n" TOPIC " 0 0\n"));
    ck_assert_ptr_nonnull(strstr(t, "\nmy.topic-x 3 0\n"));
    storage_dir_close(d);
    t = read_text(path);
    ck_assert_ptr_eq(t, strstr(t, "0\n2\n"));
    ck_assert_ptr_nonnull(strstr(t, "\n" TOPIC " 0 4\n"));
    snprintf(path, sizeof path, "%s/log-start-offset-checkpoint", tmp_root);
    t = read_text(path);
    ck_assert_ptr_nonnull(strstr(t, "\n" TOPIC " 0 0\n"));
    part_path(path, sizeof path, "leader-epoch-checkpoint");
    ck_assert_str_eq(read_text(path), "0\n1\n5 0\n");
    char b64[23], want[64];
    gr_uuid_to_base64(&id, b64);
    snprintf(want, sizeof want, "version: 0\ntopic_id: %s\n", b64);
    part_path(path, sizeof path, "partition.metadata");
    ck_assert_str_eq(read_text(path), want);
    /* a different topic id for the same name is refused */
    d = open_dir();
    struct gr_uuid other;
    ck_assert_int_eq(gr_uuid_random(&other), 0);
    ck_assert_int_eq(storage_log_open(d, TOPIC, 0, &other, &c, T0, &l, err, sizeof err), GR_EEXIST);
    storage_dir_close(d);
    gbuf_close(&g);
}
END_TEST

START_TEST(test_slice_survives_retention)
{
    struct storage_dir *d = open_dir();
    struct storage_log_config c = small_cfg(1024);
    struct storage_log *l = open_log(d, &c);
    fill_log(l, 60, NULL);
    struct storage_slice s;
    ck_assert_int_eq(storage_log_read(l, 0, 1 << 20, INT64_MAX, true, &s), 0);
    ck_assert_int_gt(s.bytes, 0);
    struct gbuf before, after;
    gbuf_init(&before);
    gbuf_init(&after);
    ck_assert_int_eq(storage_slice_copy(&s, &before), 0);
    ck_assert_int_gt(storage_log_advance_start(l, storage_log_end_offset(l)), -1);
    ck_assert_int_eq(storage_log_segment_count(l), 1);
    char path[512];
    part_path(path, sizeof path, "00000000000000000000.log");
    ck_assert_int_lt(file_size(path), 0);                /* unlinked ... */
    ck_assert_int_eq(storage_slice_copy(&s, &after), 0); /* ... but the fd still reads */
    ck_assert_int_eq(before.len, after.len);
    ck_assert_int_eq(memcmp(before.data, after.data, before.len), 0);
    gbuf_close(&before);
    gbuf_close(&after);
    storage_dir_close(d);
}
END_TEST

static void scan_cb(void *arg, const char *topic, int32_t partition)
{
    char *out = arg;
    char line[300];
    snprintf(line, sizeof line, "%s:%d;", topic, partition);
    strcat(out, line);
}

START_TEST(test_delete_and_scan)
{
    struct storage_dir *d = open_dir();
    struct storage_log_config c = small_cfg(512);
    struct storage_log *l = open_log(d, &c), *l2 = NULL;
    ck_assert_int_eq(storage_log_open(d, "a-b", 12, NULL, &c, T0, &l2, err, sizeof err), 0);
    fill_log(l, 30, NULL);
    char seen[1024] = "";
    ck_assert_int_eq(storage_dir_scan(d, scan_cb, seen), 0);
    ck_assert_ptr_nonnull(strstr(seen, TOPIC ":0;"));
    ck_assert_ptr_nonnull(strstr(seen, "a-b:12;"));
    ck_assert_str_eq(storage_dir_path(d), tmp_root);
    ck_assert_int_eq(storage_log_delete(l), 0);
    char path[512];
    snprintf(path, sizeof path, "%s/" TOPIC "-0", tmp_root);
    struct stat st;
    ck_assert_int_ne(stat(path, &st), 0);
    seen[0] = '\0';
    ck_assert_int_eq(storage_dir_scan(d, scan_cb, seen), 0);
    ck_assert_str_eq(seen, "a-b:12;");
    storage_dir_close(d);
}
END_TEST

START_TEST(test_flush_messages)
{
    struct storage_dir *d = open_dir();
    struct storage_log_config c;
    storage_log_config_default(&c);
    c.flush_interval_messages = 3;
    struct storage_log *l = open_log(d, &c);
    append_batch(l, 2, T0, 10);
    append_batch(l, 2, T0, 10); /* 4 unflushed >= 3: fsynced, recovery point = 4 */
    append_batch(l, 1, T0, 10);
    ck_assert_int_eq(storage_log_maybe_flush(l, T0 + 10), 0);
    ck_assert_int_eq(storage_log_flush(l), 0);
    ck_assert_int_eq(storage_log_end_offset(l), 5);
    storage_dir_close(d);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* Follower appends and the leader epoch cache.                                                */

START_TEST(test_replica_append_keeps_offsets)
{
    struct storage_dir *d = open_dir();
    struct storage_log_config c;
    storage_log_config_default(&c);
    struct storage_log *l = open_log(d, &c);
    ck_assert_int_eq(storage_log_latest_epoch(l), -1);
    /* one fetch's worth: epochs 0, 0, -1 (none), 2, 5 */
    struct gbuf g;
    gbuf_init(&g);
    int64_t next = leader_batch(&g, 0, 0, 3, T0, 20);
    next = leader_batch(&g, next, 0, 2, T0 + 5, 20);
    next = leader_batch(&g, next, -1, 1, T0 + 9, 20);
    next = leader_batch(&g, next, 2, 1, T0 + 7, 20);
    next = leader_batch(&g, next, 5, 3, T0 + 20, 20);
    ck_assert_int_eq(next, 10);
    struct gbuf orig;
    gbuf_init(&orig);
    gbuf_append(&orig, g.data, g.len);
    struct storage_append_info ai;
    ck_assert_int_eq(storage_log_append_replica(l, g.data, g.len, T0, &ai), 0);
    ck_assert_int_eq(ai.first_offset, 0);
    ck_assert_int_eq(ai.last_offset, 9);
    ck_assert_int_eq(ai.max_timestamp, T0 + 22);
    ck_assert_int_eq(ai.offset_of_max_timestamp, 9);
    ck_assert_int_eq(memcmp(g.data, orig.data, g.len), 0); /* the buffer is only borrowed */
    ck_assert_int_eq(storage_log_end_offset(l), 10);
    ck_assert_int_eq(storage_log_latest_epoch(l), 5);
    char path[512];
    part_path(path, sizeof path, "leader-epoch-checkpoint");
    ck_assert_str_eq(read_text(path), "0\n3\n0 0\n2 6\n5 7\n");
    /* the log holds the leader's bytes exactly: offsets and epochs as they were */
    struct storage_slice sl;
    ck_assert_int_eq(storage_log_read(l, 0, 1 << 20, INT64_MAX, true, &sl), 0);
    struct gbuf back;
    gbuf_init(&back);
    ck_assert_int_eq(storage_slice_copy(&sl, &back), 0);
    ck_assert_uint_eq(back.len, orig.len);
    ck_assert_int_eq(memcmp(back.data, orig.data, orig.len), 0);
    check_every_offset(l);
    /* the empty set appends nothing */
    ck_assert_int_eq(storage_log_append_replica(l, g.data, 0, T0, &ai), 0);
    ck_assert_int_eq(ai.first_offset, -1);
    ck_assert_int_eq(storage_log_end_offset(l), 10);
    storage_dir_close(d);

    /* offsets and the epoch cache survive a restart, and appends continue */
    d = open_dir();
    l = open_log(d, &c);
    ck_assert_int_eq(storage_log_end_offset(l), 10);
    ck_assert_int_eq(storage_log_latest_epoch(l), 5);
    check_epoch_answer(l, 2, 2, 7);
    check_epoch_answer(l, 5, 5, 10);
    gbuf_reset(&g);
    leader_batch(&g, 10, 6, 2, T0 + 30, 20);
    ck_assert_int_eq(storage_log_append_replica(l, g.data, g.len, T0, &ai), 0);
    ck_assert_int_eq(ai.first_offset, 10);
    ck_assert_int_eq(storage_log_latest_epoch(l), 6);
    check_every_offset(l);
    storage_dir_close(d);
    ck_assert_str_eq(read_text(path), "0\n4\n0 0\n2 6\n5 7\n6 10\n");

    /* a lost checkpoint file is rebuilt from the batches' epochs when the log is scanned */
    ck_assert_int_eq(unlink(path), 0);
    char cp[512];
    snprintf(cp, sizeof cp, "%s/recovery-point-offset-checkpoint", tmp_root);
    ck_assert_int_eq(unlink(cp), 0);
    d = open_dir();
    l = open_log(d, &c);
    ck_assert_int_eq(storage_log_end_offset(l), 12);
    ck_assert_str_eq(read_text(path), "0\n4\n0 0\n2 6\n5 7\n6 10\n");
    storage_dir_close(d);
    gbuf_close(&g);
    gbuf_close(&orig);
    gbuf_close(&back);
}
END_TEST

START_TEST(test_replica_append_rejects)
{
    struct storage_dir *d = open_dir();
    struct storage_log_config c;
    storage_log_config_default(&c);
    struct storage_log *l = open_log(d, &c);
    struct gbuf g;
    gbuf_init(&g);
    leader_batch(&g, 0, 1, 5, T0, 20);
    ck_assert_int_eq(storage_log_append_replica(l, g.data, g.len, T0, NULL), 0);
    int64_t size = storage_log_size_bytes(l);
    char path[512];
    part_path(path, sizeof path, "00000000000000000000.log");
    struct storage_append_info ai;

    /* a gap, an overlap, and a gap between two batches of one set: nothing is written */
    static const int64_t bad[][2] = {{6, 8}, {4, 6}, {0, 2}, {5, 9}, {5, 6}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        gbuf_reset(&g);
        leader_batch(&g, bad[i][0], 9, 2, T0, 20);
        leader_batch(&g, bad[i][1], 9, 1, T0, 20);
        ck_assert_msg(storage_log_append_replica(l, g.data, g.len, T0, &ai) == GR_ERANGE,
                      "case %zu", i);
        ck_assert_int_eq(storage_log_end_offset(l), 5);
        ck_assert_int_eq(storage_log_size_bytes(l), size);
        ck_assert_int_eq(file_size(path), size);
        ck_assert_int_eq(storage_log_latest_epoch(l), 1);
    }

    /* corrupt bytes: a flipped record byte (CRC), a cut last batch, a bad length, old magic */
    for (int i = 0; i < 4; i++) {
        gbuf_reset(&g);
        int64_t next = leader_batch(&g, 5, 9, 2, T0, 20);
        size_t second = g.len;
        leader_batch(&g, next, 9, 2, T0, 20);
        size_t n = g.len;
        if (i == 0) g.data[second + RB_HEADER_BYTES + 3] ^= 0x40;
        if (i == 1) n -= 7;
        if (i == 2) be32_put(g.data + second + RB_OFF_LENGTH, 20);
        if (i == 3) g.data[second + RB_OFF_MAGIC] = 1;
        ck_assert_msg(storage_log_append_replica(l, g.data, n, T0, &ai) == GR_ECORRUPT, "case %d",
                      i);
        ck_assert_int_eq(storage_log_end_offset(l), 5);
        ck_assert_int_eq(storage_log_size_bytes(l), size);
        ck_assert_int_eq(file_size(path), size);
        ck_assert_int_eq(storage_log_latest_epoch(l), 1);
    }
    char ep[512];
    part_path(ep, sizeof ep, "leader-epoch-checkpoint");
    ck_assert_str_eq(read_text(ep), "0\n1\n1 0\n");

    /* the log still takes the right batches */
    gbuf_reset(&g);
    leader_batch(&g, 5, 1, 2, T0, 20);
    leader_batch(&g, 7, 3, 1, T0, 20);
    ck_assert_int_eq(storage_log_append_replica(l, g.data, g.len, T0, &ai), 0);
    ck_assert_int_eq(ai.first_offset, 5);
    ck_assert_int_eq(ai.last_offset, 7);
    ck_assert_int_eq(storage_log_latest_epoch(l), 3);
    check_every_offset(l);
    storage_dir_close(d);
    gbuf_close(&g);
}
END_TEST

static bool files_equal(const char *a, const char *b)
{
    struct gbuf x, y;
    gbuf_init(&x);
    gbuf_init(&y);
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    bool same = fa && fb;
    char buf[4096];
    size_t n;
    while (same && (n = fread(buf, 1, sizeof buf, fa)) > 0)
        gbuf_append(&x, buf, n);
    while (same && (n = fread(buf, 1, sizeof buf, fb)) > 0)
        gbuf_append(&y, buf, n);
    same = same && x.len == y.len && (x.len == 0 || memcmp(x.data, y.data, x.len) == 0);
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    gbuf_close(&x);
    gbuf_close(&y);
    return same;
}

/* A follower fed the leader's batches ends up with the same files as the leader. */
START_TEST(test_replica_append_rolls_like_leader)
{
    struct storage_dir *d = open_dir();
    struct storage_log_config c = small_cfg(1024);
    c.segment_ms = 5000;
    struct storage_log *leader = open_log(d, &c), *follower = NULL;
    ck_assert_int_eq(storage_log_open(d, TOPIC, 1, NULL, &c, T0, &follower, err, sizeof err), 0);
    struct gbuf g;
    gbuf_init(&g);
    int64_t next = 0;
    for (int set = 0, i = 0; set < 60; set++) {
        /* the leader appends sets of 1-3 batches; the follower is fed the same sets, as
         * stored (offsets assigned, epoch stamped) */
        int32_t epoch = set / 20; /* epochs 0, 1, 2 */
        int64_t ts = 0, count = 0;
        gbuf_reset(&g);
        for (int k = 0; k <= set % 3; k++, i++) {
            ts = T0 + i * 100 + (i >= 70 ? 10000 : 0); /* one set rolls by time */
            make_batch(&g, 1 + i % 4, ts, NULL, 10 + (i * 13) % 50, RB_CODEC_NONE);
            count += 1 + i % 4;
        }
        struct storage_append_info la, fa;
        ck_assert_int_eq(storage_log_append(leader, g.data, g.len, epoch, ts, &la), 0);
        ck_assert_int_eq(la.first_offset, next);
        ck_assert_int_eq(storage_log_append_replica(follower, g.data, g.len, ts, &fa), 0);
        ck_assert_mem_eq(&fa, &la, sizeof fa);
        next += count;
    }
    ck_assert_int_eq(storage_log_end_offset(follower), next);
    ck_assert_int_gt(storage_log_segment_count(follower), 5);
    ck_assert_int_eq(storage_log_segment_count(follower), storage_log_segment_count(leader));
    ck_assert_int_eq(storage_log_size_bytes(follower), storage_log_size_bytes(leader));
    ck_assert_int_eq(storage_log_latest_epoch(follower), 2);
    check_every_offset(follower);
    storage_dir_close(d);

    /* every file of the follower's partition dir matches the leader's */
    char dir[300], lpath[600], fpath[600];
    snprintf(dir, sizeof dir, "%s/" TOPIC "-1", tmp_root);
    DIR *dd = opendir(dir);
    ck_assert_ptr_nonnull(dd);
    struct dirent *de;
    int compared = 0;
    while ((de = readdir(dd)) != NULL) {
        if (de->d_name[0] == '.' || strcmp(de->d_name, "partition.metadata") == 0) continue;
        snprintf(fpath, sizeof fpath, "%s/%s", dir, de->d_name);
        part_path(lpath, sizeof lpath, de->d_name);
        ck_assert_msg(files_equal(lpath, fpath), "%s differs", de->d_name);
        compared++;
    }
    closedir(dd);
    ck_assert_int_gt(compared, 3 * 5);

    d = open_dir();
    ck_assert_int_eq(storage_log_open(d, TOPIC, 1, NULL, &c, T0, &follower, err, sizeof err), 0);
    ck_assert_int_eq(storage_log_end_offset(follower), next);
    ck_assert_int_eq(storage_log_latest_epoch(follower), 2);
    check_every_offset(follower);
    storage_dir_close(d);
    gbuf_close(&g);
}
END_TEST

/* A log whose epoch cache is {0: 0, 2: 10, 5: 20}, ending at 30. */
static struct storage_log *epochs_0_2_5(struct storage_dir *d, const struct storage_log_config *c)
{
    struct storage_log *l = open_log(d, c);
    static const int32_t epochs[] = {0, 2, 5};
    for (int e = 0; e < 3; e++)
        for (int i = 0; i < 2; i++)
            append_epoch(l, 5, T0 + e * 10 + i, 40, epochs[e]);
    ck_assert_int_eq(storage_log_end_offset(l), 30);
    return l;
}

START_TEST(test_end_offset_for_epoch)
{
    struct storage_dir *d = open_dir();
    struct storage_log_config c = small_cfg(512);
    struct storage_log *l = open_log(d, &c);
    /* an empty cache knows nothing */
    ck_assert_int_eq(storage_log_latest_epoch(l), -1);
    check_epoch_answer(l, 0, -1, -1);
    check_epoch_answer(l, 3, -1, -1);
    storage_log_delete(l);

    l = epochs_0_2_5(d, &c);
    ck_assert_int_gt(storage_log_segment_count(l), 2);
    for (int pass = 0; pass < 2; pass++) {
        ck_assert_int_eq(storage_log_latest_epoch(l), 5);
        check_epoch_answer(l, -1, -1, -1); /* UNDEFINED asked, UNDEFINED answered */
        check_epoch_answer(l, 0, 0, 10);   /* exact: ends where epoch 2 starts */
        check_epoch_answer(l, 1, 0, 10);   /* between: the epoch below, same end */
        check_epoch_answer(l, 2, 2, 20);
        check_epoch_answer(l, 3, 2, 20);
        check_epoch_answer(l, 4, 2, 20);
        check_epoch_answer(l, 5, 5, 30); /* the latest: the log end */
        check_epoch_answer(l, 6, 5, 30); /* above the latest: the latest */
        check_epoch_answer(l, INT32_MAX, 5, 30);
        storage_dir_close(d);
        d = open_dir();
        l = open_log(d, &c);
    }
    /* the log end moves the latest epoch's end */
    append_epoch(l, 3, T0 + 100, 10, 5);
    check_epoch_answer(l, 5, 5, 33);
    check_epoch_answer(l, 4, 2, 20);
    /* below every cached epoch (epoch 0's data deleted): the requested epoch and the first
     * cached start, as Kafka answers since KIP-279 */
    ck_assert_int_eq(storage_log_advance_start(l, 15), 0);
    check_epoch_answer(l, 0, 0, 15);
    check_epoch_answer(l, 1, 1, 15);
    check_epoch_answer(l, 2, 2, 20);
    char path[512];
    part_path(path, sizeof path, "leader-epoch-checkpoint");
    ck_assert_str_eq(read_text(path), "0\n2\n2 15\n5 20\n");
    storage_dir_close(d);
}
END_TEST

START_TEST(test_truncate_drops_epochs)
{
    struct storage_dir *d = open_dir();
    struct storage_log_config c = small_cfg(512);
    struct storage_log *l = epochs_0_2_5(d, &c);
    char path[512];
    part_path(path, sizeof path, "leader-epoch-checkpoint");
    ck_assert_str_eq(read_text(path), "0\n3\n0 0\n2 10\n5 20\n");
    /* epoch 5 still wrote offsets 20..24 */
    ck_assert_int_eq(storage_log_truncate_to(l, 25), 0);
    ck_assert_int_eq(storage_log_latest_epoch(l), 5);
    check_epoch_answer(l, 5, 5, 25);
    ck_assert_str_eq(read_text(path), "0\n3\n0 0\n2 10\n5 20\n");
    /* at the epoch's start offset: the epoch goes */
    ck_assert_int_eq(storage_log_truncate_to(l, 20), 0);
    ck_assert_int_eq(storage_log_latest_epoch(l), 2);
    check_epoch_answer(l, 5, 2, 20);
    ck_assert_str_eq(read_text(path), "0\n2\n0 0\n2 10\n");
    /* inside epoch 2's first batch (10..14): the batch goes, so does the epoch */
    ck_assert_int_eq(storage_log_truncate_to(l, 12), 0);
    ck_assert_int_eq(storage_log_end_offset(l), 10);
    ck_assert_int_eq(storage_log_latest_epoch(l), 0);
    check_epoch_answer(l, 2, 0, 10);
    ck_assert_str_eq(read_text(path), "0\n1\n0 0\n");
    storage_dir_close(d);

    d = open_dir();
    l = open_log(d, &c);
    ck_assert_int_eq(storage_log_latest_epoch(l), 0);
    ck_assert_str_eq(read_text(path), "0\n1\n0 0\n");
    /* the truncated range is written again by a new epoch */
    struct gbuf g;
    gbuf_init(&g);
    leader_batch(&g, 10, 7, 4, T0, 40);
    ck_assert_int_eq(storage_log_append_replica(l, g.data, g.len, T0, NULL), 0);
    ck_assert_str_eq(read_text(path), "0\n2\n0 0\n7 10\n");
    check_epoch_answer(l, 5, 0, 10);
    check_epoch_answer(l, 7, 7, 14);
    /* below the first segment: the log restarts empty and so does the cache */
    ck_assert_int_eq(storage_log_advance_start(l, 13), 0);
    ck_assert_int_gt(storage_log_start_offset(l), 0);
    ck_assert_int_eq(storage_log_truncate_to(l, 3), 0);
    ck_assert_int_eq(storage_log_end_offset(l), 3);
    ck_assert_int_eq(storage_log_latest_epoch(l), -1);
    check_epoch_answer(l, 7, -1, -1);
    ck_assert_str_eq(read_text(path), "0\n0\n");
    storage_dir_close(d);
    gbuf_close(&g);
}
END_TEST

/* A follower far behind a leader whose retention moved on restarts its log at the leader's
 * start: empty, epochs gone, durable across a reopen, and it appends from there. */
START_TEST(test_reset_restarts_the_log_elsewhere)
{
    struct storage_dir *d = open_dir();
    struct storage_log_config c = small_cfg(512);
    struct storage_log *l = epochs_0_2_5(d, &c);
    ck_assert_int_gt(storage_log_segment_count(l), 1);
    ck_assert_int_eq(storage_log_reset(l, 1000), 0);
    ck_assert_int_eq(storage_log_start_offset(l), 1000);
    ck_assert_int_eq(storage_log_end_offset(l), 1000);
    ck_assert_int_eq(storage_log_segment_count(l), 1);
    ck_assert_int_eq(storage_log_latest_epoch(l), -1);
    struct gbuf g;
    gbuf_init(&g);
    leader_batch(&g, 1000, 9, 3, T0, 40);
    ck_assert_int_eq(storage_log_append_replica(l, g.data, g.len, T0, NULL), 0);
    storage_dir_close(d);
    d = open_dir();
    l = open_log(d, &c);
    ck_assert_int_eq(storage_log_start_offset(l), 1000);
    ck_assert_int_eq(storage_log_end_offset(l), 1003);
    check_epoch_answer(l, 9, 9, 1003);
    storage_dir_close(d);
    gbuf_close(&g);
}
END_TEST

static Suite *storage_suite(void)
{
    Suite *s = suite_create("storage");
    TCase *tc = tcase_create("log");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_rolls_and_every_offset);
    tcase_add_test(tc, test_index_files);
    tcase_add_test(tc, test_max_offset_and_bytes);
    tcase_add_test(tc, test_reopen_continues);
    tcase_add_test(tc, test_torn_tail);
    tcase_add_test(tc, test_unclean_shutdown);
    tcase_add_test(tc, test_corrupt_crc_middle);
    tcase_add_test(tc, test_retention_bytes);
    tcase_add_test(tc, test_retention_time);
    tcase_add_test(tc, test_roll_by_segment_ms);
    tcase_add_test(tc, test_offset_for_timestamp);
    tcase_add_test(tc, test_truncate_to);
    tcase_add_test(tc, test_tail_ring_agrees_with_the_disk);
    tcase_add_test(tc, test_advance_start);
    tcase_add_test(tc, test_checkpoint_files);
    tcase_add_test(tc, test_delete_and_scan);
    tcase_add_test(tc, test_flush_messages);
    tcase_add_test(tc, test_slice_survives_retention);
    tcase_add_test(tc, test_replica_append_keeps_offsets);
    tcase_add_test(tc, test_replica_append_rejects);
    tcase_add_test(tc, test_replica_append_rolls_like_leader);
    tcase_add_test(tc, test_end_offset_for_epoch);
    tcase_add_test(tc, test_truncate_drops_epochs);
    tcase_add_test(tc, test_reset_restarts_the_log_elsewhere);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(storage_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

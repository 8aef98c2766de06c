/*
 * test_raft_io.c — Check suite for the durable Raft log (raft/raft_io.h): round trips,
 * truncation, compaction, torn tails, snapshot and hard-state atomicity, segment rolls, a real
 * crash test (a forked writer SIGKILLed at a random moment) and a 1-voter core driven through
 * the log.  Each test works in its own mkdtemp() directory.
 */
#include "raft/raft_io.h"

#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct tdir {
    char root[64];
    char path[128];
};

static void tdir_init(struct tdir *t)
{
    snprintf(t->root, sizeof t->root, "/tmp/test_raft_io_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(t->root));
    snprintf(t->path, sizeof t->path, "%s/__raft", t->root);
}

static void tdir_close(struct tdir *t)
{
    DIR *d = opendir(t->path);
    if (d) {
        struct dirent *de;
        char p[512];
        while ((de = readdir(d))) {
            if (de->d_name[0] == '.') continue;
            snprintf(p, sizeof p, "%s/%s", t->path, de->d_name);
            unlink(p);
        }
        closedir(d);
        rmdir(t->path);
    }
    rmdir(t->root);
}

static void tfile(const struct tdir *t, const char *name, char *out, size_t n)
{
    snprintf(out, n, "%s/%s", t->path, name);
}

/* Entry data is a function of (index, term) so any recovered entry can be checked alone. */
static uint32_t data_len(uint64_t index)
{
    return 8 + (uint32_t)(index % 23);
}

static void data_fill(uint8_t *b, uint64_t index, uint64_t term)
{
    be64_put(b, index * 1000003u + term);
    for (uint32_t i = 8; i < data_len(index); i++)
        b[i] = (uint8_t)(index + i);
}

static bool entry_ok(const struct raft_entry *e)
{
    uint8_t b[64];
    if (e->len != data_len(e->index)) return false;
    data_fill(b, e->index, e->term);
    return memcmp(b, e->data, e->len) == 0 && e->type == RAFT_ENTRY_NORMAL;
}

#define BATCH_MAX 256
struct batch {
    struct raft_entry e[BATCH_MAX];
    uint8_t d[BATCH_MAX][64];
    size_t n;
};

static void batch_make(struct batch *b, uint64_t first, size_t n, uint64_t term)
{
    ck_assert_uint_le(n, BATCH_MAX);
    b->n = n;
    for (size_t i = 0; i < n; i++) {
        uint64_t idx = first + i;
        data_fill(b->d[i], idx, term);
        b->e[i] = (struct raft_entry){.index = idx,
                                      .term = term,
                                      .type = RAFT_ENTRY_NORMAL,
                                      .len = data_len(idx),
                                      .data = b->d[i]};
    }
}

static uint64_t g_seq;

/* Persists entries [first, first+n) of `term`, with optional hard state / truncation. */
static int put(struct raft_io_log *log, uint64_t first, size_t n, uint64_t term,
               const struct raft_hard_state *hs, uint64_t truncate_from, uint64_t compact_to)
{
    static struct batch b;
    batch_make(&b, first, n, term);
    struct raft_ready rd = {.persist_seq = ++g_seq,
                            .truncate_from = truncate_from,
                            .compact_to = compact_to,
                            .entries = n ? b.e : NULL,
                            .n_entries = n};
    if (hs) rd.hard_state_changed = true, rd.hard_state = *hs;
    return raft_io_log_persist(log, &rd);
}

static struct raft_io_log *reopen(struct raft_io_log *log, const struct tdir *t, uint64_t seg,
                                  struct raft_restore *rs)
{
    raft_io_log_close(log);
    struct raft_io_log_opts o = {.segment_bytes_max = seg};
    char err[256] = "";
    struct raft_io_log *l = NULL;
    int rc = raft_io_log_open(t->path, &o, &l, rs, err, sizeof err);
    ck_assert_msg(rc == 0, "open: %d %s", rc, err);
    return l;
}

/* Checks that the restore holds exactly [first, last], each entry's data matching. */
static void check_entries(const struct raft_restore *rs, uint64_t first, uint64_t last)
{
    ck_assert_uint_eq(rs->n_entries, last >= first ? last - first + 1 : 0);
    for (size_t i = 0; i < rs->n_entries; i++) {
        ck_assert_uint_eq(rs->entries[i].index, first + i);
        ck_assert_msg(entry_ok(&rs->entries[i]), "entry %zu bad", (size_t)(first + i));
    }
}

START_TEST(test_round_trip)
{
    struct tdir t;
    tdir_init(&t);
    struct raft_restore rs;
    struct raft_io_log *log = reopen(NULL, &t, 0, &rs);
    ck_assert_uint_eq(rs.n_entries, 0);
    ck_assert_ptr_null(rs.snapshot);
    ck_assert_uint_eq(rs.hard_state.term, 0);
    struct raft_hard_state hs1 = {1, 1}, hs2 = {2, 0};
    ck_assert_int_eq(put(log, 1, 3, 1, &hs1, 0, 0), 0);
    ck_assert_int_eq(put(log, 4, 7, 2, &hs2, 0, 0), 0);
    struct raft_ready none = {0};
    ck_assert_int_eq(raft_io_log_persist(log, &none), 0);
    uint8_t sd[5] = {1, 2, 3, 4, 5};
    struct raft_snapshot s = {
        .index = 5, .term = 2, .voters = {1, 2, 3}, .n_voters = 3, .len = 5, .data = sd};
    ck_assert_int_eq(raft_io_log_save_snapshot(log, &s), 0);
    ck_assert_int_eq(put(log, 11, 2, 2, NULL, 0, 5), 0);
    log = reopen(log, &t, 0, &rs);
    ck_assert_uint_eq(rs.hard_state.term, 2);
    ck_assert_uint_eq(rs.hard_state.vote, 0);
    ck_assert_ptr_nonnull(rs.snapshot);
    ck_assert_uint_eq(rs.snapshot->index, 5);
    ck_assert_uint_eq(rs.snapshot->term, 2);
    ck_assert_uint_eq(rs.snapshot->n_voters, 3);
    ck_assert_uint_eq(rs.snapshot->voters[2], 3);
    ck_assert_uint_eq(rs.snapshot->len, 5);
    ck_assert_mem_eq(rs.snapshot->data, sd, 5);
    check_entries(&rs, 6, 12);
    ck_assert_uint_eq(rs.entries[0].term, 2);
    /* idempotent: a second open sees the same */
    log = reopen(log, &t, 0, &rs);
    check_entries(&rs, 6, 12);
    raft_io_log_close(log);
    tdir_close(&t);
}
END_TEST

START_TEST(test_truncate_then_append)
{
    struct tdir t;
    tdir_init(&t);
    struct raft_restore rs;
    struct raft_io_log *log = reopen(NULL, &t, 200, &rs); /* ~5 records per segment */
    struct raft_hard_state hs1 = {1, 0}, hs2 = {2, 0}, hs3 = {3, 0};
    ck_assert_int_eq(put(log, 1, 30, 1, &hs1, 0, 0), 0);
    size_t segs = raft_io_log_segment_count(log);
    ck_assert_uint_gt(segs, 3);
    ck_assert_int_eq(put(log, 12, 3, 2, &hs2, 12, 0), 0); /* cuts across segments */
    ck_assert_uint_eq(raft_io_log_last_index(log), 14);
    ck_assert_uint_lt(raft_io_log_segment_count(log), segs);
    log = reopen(log, &t, 200, &rs);
    check_entries(&rs, 1, 14);
    ck_assert_uint_eq(rs.entries[10].term, 1);
    ck_assert_uint_eq(rs.entries[11].term, 2);
    /* truncating at the very first entry empties the log */
    ck_assert_int_eq(put(log, 1, 2, 3, &hs3, 1, 0), 0);
    log = reopen(log, &t, 200, &rs);
    check_entries(&rs, 1, 2);
    ck_assert_uint_eq(rs.entries[0].term, 3);
    /* a ready that breaks the contract is refused and poisons the log */
    ck_assert_int_eq(put(log, 9, 1, 3, NULL, 0, 0), GR_EINVAL);
    ck_assert_int_eq(put(log, 3, 1, 3, NULL, 0, 0), GR_EIO);
    raft_io_log_close(log);
    tdir_close(&t);
}
END_TEST

START_TEST(test_compaction_and_install)
{
    struct tdir t;
    tdir_init(&t);
    struct raft_restore rs;
    struct raft_io_log *log = reopen(NULL, &t, 200, &rs);
    struct raft_hard_state hs1 = {1, 0}, hs4 = {4, 0};
    ck_assert_int_eq(put(log, 1, 50, 1, &hs1, 0, 0), 0);
    size_t segs = raft_io_log_segment_count(log);
    ck_assert_int_eq(put(log, 51, 0, 1, NULL, 0, 40), 0); /* no snapshot yet: nothing goes */
    ck_assert_uint_eq(raft_io_log_segment_count(log), segs);
    struct raft_snapshot s = {.index = 30, .term = 1, .voters = {1}, .n_voters = 1};
    ck_assert_int_eq(raft_io_log_save_snapshot(log, &s), 0);
    ck_assert_int_eq(put(log, 51, 0, 1, NULL, 0, 40), 0); /* clamped to the snapshot */
    ck_assert_uint_lt(raft_io_log_segment_count(log), segs);
    ck_assert_uint_eq(raft_io_log_first_index(log), 31);
    log = reopen(log, &t, 200, &rs);
    ck_assert_uint_eq(rs.snapshot->index, 30);
    check_entries(&rs, 31, 50);
    /* a received snapshot past the log replaces it */
    struct raft_snapshot s2 = {.index = 100, .term = 4, .voters = {1, 2}, .n_voters = 2};
    struct raft_ready rd = {.persist_seq = ++g_seq,
                            .snapshot = &s2,
                            .truncate_from = 101,
                            .hard_state_changed = true,
                            .hard_state = hs4};
    ck_assert_int_eq(raft_io_log_persist(log, &rd), 0);
    ck_assert_uint_eq(raft_io_log_segment_count(log), 1);
    ck_assert_uint_eq(raft_io_log_first_index(log), 101);
    ck_assert_uint_eq(raft_io_log_last_index(log), 100);
    ck_assert_int_eq(put(log, 101, 5, 4, NULL, 0, 0), 0);
    log = reopen(log, &t, 200, &rs);
    ck_assert_uint_eq(rs.snapshot->index, 100);
    ck_assert_uint_eq(rs.snapshot->n_voters, 2);
    check_entries(&rs, 101, 105);
    /* a received snapshot inside the log, with a conflict cut below it in the same ready */
    ck_assert_int_eq(put(log, 106, 20, 4, NULL, 0, 0), 0);
    struct raft_snapshot s3 = {.index = 115, .term = 5, .voters = {1}, .n_voters = 1};
    struct raft_ready rd3 = {.persist_seq = ++g_seq,
                             .snapshot = &s3,
                             .truncate_from = 110,
                             .hard_state_changed = true,
                             .hard_state = {5, 0}};
    ck_assert_int_eq(raft_io_log_persist(log, &rd3), 0);
    ck_assert_uint_eq(raft_io_log_last_index(log), 115);
    ck_assert_uint_eq(raft_io_log_first_index(log), 116);
    ck_assert_int_eq(put(log, 116, 3, 5, NULL, 0, 0), 0);
    log = reopen(log, &t, 200, &rs);
    ck_assert_uint_eq(rs.snapshot->index, 115);
    check_entries(&rs, 116, 118);
    ck_assert_uint_eq(rs.entries[0].term, 5);
    raft_io_log_close(log);
    tdir_close(&t);
}
END_TEST

static void file_trunc(const char *p, off_t by)
{
    struct stat st;
    ck_assert_int_eq(stat(p, &st), 0);
    ck_assert_int_eq(truncate(p, st.st_size - by), 0);
}

static void file_poke(const char *p, off_t off_from_end, const void *b, size_t n, bool append)
{
    int fd = open(p, O_RDWR);
    ck_assert_int_ge(fd, 0);
    struct stat st;
    ck_assert_int_eq(fstat(fd, &st), 0);
    off_t at = append ? st.st_size : st.st_size - off_from_end;
    ck_assert_int_eq(pwrite(fd, b, n, at), (ssize_t)n);
    close(fd);
}

START_TEST(test_torn_tail)
{
    struct tdir t;
    tdir_init(&t);
    char seg[256];
    tfile(&t, "00000000000000000001.rlog", seg, sizeof seg);
    struct raft_restore rs;
    struct raft_io_log *log = reopen(NULL, &t, 0, &rs);
    struct raft_hard_state hs = {1, 0};
    ck_assert_int_eq(put(log, 1, 10, 1, &hs, 0, 0), 0);
    raft_io_log_close(log);
    file_trunc(seg, 5); /* mid-record */
    log = reopen(NULL, &t, 0, &rs);
    check_entries(&rs, 1, 9);
    log = reopen(log, &t, 0, &rs); /* idempotent */
    check_entries(&rs, 1, 9);
    ck_assert_int_eq(put(log, 10, 2, 1, NULL, 0, 0), 0);
    raft_io_log_close(log);
    uint8_t junk[100];
    memset(junk, 0xA5, sizeof junk);
    file_poke(seg, 0, junk, sizeof junk, true); /* garbage after the last record */
    log = reopen(NULL, &t, 0, &rs);
    check_entries(&rs, 1, 11);
    raft_io_log_close(log);
    /* flip a CRC byte of the last record (entry 11: 29-byte header + data_len(11) bytes) */
    uint8_t x = 0xFF;
    file_poke(seg, 29 + data_len(11) - 8, &x, 1, false);
    log = reopen(NULL, &t, 0, &rs);
    check_entries(&rs, 1, 10);
    ck_assert_int_eq(put(log, 11, 1, 1, NULL, 0, 0), 0);
    log = reopen(log, &t, 0, &rs);
    check_entries(&rs, 1, 11);
    raft_io_log_close(log);
    tdir_close(&t);
}
END_TEST

START_TEST(test_snapshot_tmp_crash)
{
    struct tdir t;
    tdir_init(&t);
    struct raft_restore rs;
    struct raft_io_log *log = reopen(NULL, &t, 0, &rs);
    struct raft_hard_state hs = {1, 0};
    ck_assert_int_eq(put(log, 1, 10, 1, &hs, 0, 0), 0);
    uint8_t a[3] = {'o', 'l', 'd'};
    struct raft_snapshot s = {
        .index = 4, .term = 1, .voters = {7}, .n_voters = 1, .len = 3, .data = a};
    ck_assert_int_eq(raft_io_log_save_snapshot(log, &s), 0);
    raft_io_log_close(log);
    /* A crash after writing snapshot.tmp (here: a valid newer snapshot) before the rename. */
    char p[256], tmp[256], cmd[600];
    tfile(&t, "snapshot", p, sizeof p);
    tfile(&t, "snapshot.tmp", tmp, sizeof tmp);
    snprintf(cmd, sizeof cmd, "cp %s %s", p, tmp);
    ck_assert_int_eq(system(cmd), 0);
    uint8_t idx[8];
    be64_put(idx, 8);
    int fd = open(tmp, O_RDWR);
    ck_assert_int_eq(pwrite(fd, idx, 8, 8), 8);
    close(fd);
    log = reopen(NULL, &t, 0, &rs);
    ck_assert_uint_eq(rs.snapshot->index, 4);
    ck_assert_mem_eq(rs.snapshot->data, "old", 3);
    check_entries(&rs, 5, 10);
    ck_assert_int_eq(access(tmp, F_OK), -1);
    raft_io_log_close(log);
    /* A corrupt snapshot file is an error, not a silent reset. */
    uint8_t x = 0x55;
    file_poke(p, 2, &x, 1, false);
    char err[256];
    ck_assert_int_eq(raft_io_log_open(t.path, NULL, &log, &rs, err, sizeof err), GR_ECORRUPT);
    ck_assert_ptr_null(log);
    tdir_close(&t);
}
END_TEST

/* A crash after a received snapshot's rename but before the log was replaced: the old log
 * conflicts with the snapshot at its index, so recovery drops it and raises the term. */
START_TEST(test_snapshot_conflict_recovery)
{
    struct tdir t, u;
    tdir_init(&t);
    tdir_init(&u);
    struct raft_restore rs;
    struct raft_io_log *log = reopen(NULL, &t, 200, &rs);
    struct raft_hard_state hs = {1, 0};
    ck_assert_int_eq(put(log, 1, 20, 1, &hs, 0, 0), 0);
    raft_io_log_close(log);
    log = reopen(NULL, &u, 0, &rs);
    struct raft_snapshot s = {.index = 10, .term = 2, .voters = {1}, .n_voters = 1};
    ck_assert_int_eq(raft_io_log_save_snapshot(log, &s), 0);
    raft_io_log_close(log);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "cp %s/snapshot %s/snapshot", u.path, t.path);
    ck_assert_int_eq(system(cmd), 0);
    log = reopen(NULL, &t, 200, &rs);
    ck_assert_uint_eq(rs.snapshot->index, 10);
    ck_assert_uint_eq(rs.n_entries, 0);
    ck_assert_uint_eq(rs.hard_state.term, 2);
    ck_assert_uint_eq(raft_io_log_segment_count(log), 1);
    ck_assert_int_eq(put(log, 11, 2, 2, NULL, 0, 0), 0);
    log = reopen(log, &t, 200, &rs);
    check_entries(&rs, 11, 12);
    raft_io_log_close(log);
    tdir_close(&t);
    tdir_close(&u);
}
END_TEST

START_TEST(test_hard_state_atomic)
{
    struct tdir t;
    tdir_init(&t);
    struct raft_restore rs;
    struct raft_io_log *log = reopen(NULL, &t, 0, &rs);
    struct raft_hard_state a = {1, 1}, b = {2, 2}, c = {3, 0};
    ck_assert_int_eq(put(log, 1, 0, 1, &a, 0, 0), 0);
    ck_assert_int_eq(put(log, 1, 0, 1, &b, 0, 0), 0);
    ck_assert_int_eq(put(log, 1, 0, 1, &c, 0, 0), 0);
    log = reopen(log, &t, 0, &rs);
    ck_assert_uint_eq(rs.hard_state.term, 3);
    raft_io_log_close(log);
    /* a torn write of the newest slot (seq 3: slot 1) leaves the previous value */
    char p[256];
    tfile(&t, "hardstate", p, sizeof p);
    int fd = open(p, O_RDWR);
    uint8_t x = 0x77;
    ck_assert_int_eq(pwrite(fd, &x, 1, 32 + 20), 1);
    close(fd);
    log = reopen(NULL, &t, 0, &rs);
    ck_assert_uint_eq(rs.hard_state.term, 2);
    ck_assert_uint_eq(rs.hard_state.vote, 2);
    /* entries newer than the stored term raise it (step 5 lost in a crash), vote cleared */
    ck_assert_int_eq(put(log, 1, 2, 5, NULL, 0, 0), 0);
    log = reopen(log, &t, 0, &rs);
    ck_assert_uint_eq(rs.hard_state.term, 5);
    ck_assert_uint_eq(rs.hard_state.vote, 0);
    raft_io_log_close(log);
    fd = open(p, O_RDWR);
    ck_assert_int_eq(pwrite(fd, &x, 1, 20), 1);
    ck_assert_int_eq(pwrite(fd, &x, 1, 32 + 21), 1);
    close(fd);
    char err[256];
    ck_assert_int_eq(raft_io_log_open(t.path, NULL, &log, &rs, err, sizeof err), GR_ECORRUPT);
    tdir_close(&t);
}
END_TEST

START_TEST(test_segment_roll)
{
    struct tdir t;
    tdir_init(&t);
    struct raft_restore rs;
    struct raft_io_log *log = reopen(NULL, &t, 256, &rs);
    struct raft_hard_state hs = {1, 0};
    for (uint64_t i = 0; i < 20; i++)
        ck_assert_int_eq(put(log, 1 + i * 10, 10, 1, i ? NULL : &hs, 0, 0), 0);
    size_t segs = raft_io_log_segment_count(log);
    ck_assert_uint_gt(segs, 10);
    log = reopen(log, &t, 256, &rs);
    ck_assert_uint_eq(raft_io_log_segment_count(log), segs);
    check_entries(&rs, 1, 200);
    /* every segment file but the last is at least the limit and starts where its name says */
    DIR *d = opendir(t.path);
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        n += strstr(de->d_name, ".rlog") != NULL;
    closedir(d);
    ck_assert_uint_eq(n, segs);
    raft_io_log_close(log);
    tdir_close(&t);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* Crash test: a child appends (with term bumps, truncations, snapshots and compaction) and     */
/* reports each durable ready on a pipe; the parent SIGKILLs it at a random moment and checks. */
/* Lines: "L <last>" after a persist returned; "T <from>" before a ready that truncates.       */

#define CRASH_ENTRIES_MAX 200000
static uint64_t crash_terms[CRASH_ENTRIES_MAX + 64]; /* the child's view: term per index */

static void crash_child(const struct tdir *t, int wfd, uint64_t seed)
{
    struct raft_restore rs;
    struct raft_io_log_opts o = {.segment_bytes_max = 4096};
    struct raft_io_log *log;
    char err[256];
    if (raft_io_log_open(t->path, &o, &log, &rs, err, sizeof err)) _exit(2);
    uint64_t last = raft_io_log_last_index(log), snap = raft_io_log_snapshot_index(log);
    uint64_t term = GR_MAX(rs.hard_state.term, 1), x = seed | 1;
    if (rs.snapshot) crash_terms[snap] = rs.snapshot->term;
    for (size_t i = 0; i < rs.n_entries; i++)
        crash_terms[rs.entries[i].index] = rs.entries[i].term;
    static struct batch b;
    for (uint64_t seq = 1; last < CRASH_ENTRIES_MAX; seq++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        struct raft_ready rd = {.persist_seq = seq, .hard_state_changed = true};
        uint64_t first = last + 1;
        if (x % 11 == 0 && last > snap + 3) { /* a new leader overwrites our last 3 entries */
            term++;
            first = last - 2;
            rd.truncate_from = first;
            if (dprintf(wfd, "T %llu\n", (unsigned long long)first) < 0) _exit(5);
        } else if (x % 13 == 0) {
            term++;
        }
        if (x % 7 == 0 && first > snap + 12) {
            snap = first - 11;
            struct raft_snapshot s = {
                .index = snap, .term = crash_terms[snap], .voters = {1}, .n_voters = 1};
            if (raft_io_log_save_snapshot(log, &s)) _exit(3);
            rd.compact_to = snap;
        }
        size_t n = 1 + (x >> 8) % 40;
        batch_make(&b, first, n, term);
        for (size_t i = 0; i < n; i++)
            crash_terms[first + i] = term;
        rd.entries = b.e, rd.n_entries = n;
        rd.hard_state = (struct raft_hard_state){.term = term, .vote = 1};
        if (raft_io_log_persist(log, &rd)) _exit(4);
        last = first + n - 1;
        if (dprintf(wfd, "L %llu\n", (unsigned long long)last) < 0) _exit(5);
    }
    _exit(0);
}

/* The lowest last index the recovery may show: the last reported one, or just below a cut
 * announced after it (that ready may be half done). */
static uint64_t crash_floor(int rfd, uint64_t floor)
{
    FILE *f = fdopen(rfd, "r");
    char kind;
    unsigned long long v;
    uint64_t cut = 0;
    while (fscanf(f, " %c %llu", &kind, &v) == 2) {
        if (kind == 'L') floor = v, cut = 0;
        if (kind == 'T') cut = v;
    }
    fclose(f);
    return cut ? GR_MIN(floor, cut - 1) : floor;
}

static uint64_t crash_verify(const struct tdir *t, uint64_t seed, uint64_t floor)
{
    struct raft_restore rs;
    struct raft_io_log *log = reopen(NULL, t, 4096, &rs);
    uint64_t first = rs.snapshot ? rs.snapshot->index + 1 : 1, last = first + rs.n_entries - 1;
    uint64_t term = rs.snapshot ? rs.snapshot->term : 1;
    ck_assert_msg(last >= floor, "seed %llu: recovered %llu < durable %llu",
                  (unsigned long long)seed, (unsigned long long)last, (unsigned long long)floor);
    for (size_t i = 0; i < rs.n_entries; i++) {
        const struct raft_entry *e = &rs.entries[i];
        ck_assert_uint_eq(e->index, first + i);
        ck_assert_msg(e->term >= term && entry_ok(e), "seed %llu: entry %llu",
                      (unsigned long long)seed, (unsigned long long)e->index);
        term = e->term;
    }
    ck_assert_uint_ge(rs.hard_state.term, term);
    raft_io_log_close(log);
    return last;
}

START_TEST(test_crash_sigkill)
{
    struct tdir t;
    tdir_init(&t);
    uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
    fprintf(stderr, "test_crash_sigkill seed %llu\n", (unsigned long long)seed);
    srand((unsigned)seed);
    uint64_t durable = 0;
    for (int round = 0; round < 8; round++) {
        int p[2];
        ck_assert_int_eq(pipe(p), 0);
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            close(p[0]);
            crash_child(&t, p[1], seed + (uint64_t)round);
        }
        close(p[1]);
        usleep((useconds_t)(2000 + rand() % 60000));
        kill(pid, SIGKILL);
        int status;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFSIGNALED(status) || (WIFEXITED(status) && !WEXITSTATUS(status)),
                      "seed %llu: child exited %d", (unsigned long long)seed, WEXITSTATUS(status));
        durable = crash_verify(&t, seed, crash_floor(p[0], durable));
    }
    fprintf(stderr, "test_crash_sigkill: %llu entries after 8 kills\n",
            (unsigned long long)durable);
    ck_assert_uint_gt(durable, 0);
    tdir_close(&t);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* A real 1-voter core persisting through the log.                                            */

static void core_drain(struct raft *r, struct raft_io_log *log)
{
    struct raft_ready rd;
    for (int i = 0; i < 100 && raft_ready(r, &rd); i++) {
        uint64_t seq = rd.persist_seq;
        ck_assert_int_eq(raft_io_log_persist(log, &rd), 0);
        raft_advance(r, &rd);
        if (seq) raft_persisted(r, seq);
    }
}

static struct raft *core_new(const struct raft_restore *rs)
{
    static const uint32_t voters[1] = {1};
    struct raft_config c;
    raft_config_defaults(&c);
    c.id = 1;
    c.voters = voters;
    c.n_voters = 1;
    c.prng_seed = 42;
    int err = 0;
    struct raft *r = raft_new(&c, rs, &err);
    ck_assert_msg(r != NULL, "raft_new: %d", err);
    return r;
}

START_TEST(test_core_round_trip)
{
    struct tdir t;
    tdir_init(&t);
    struct raft_restore rs;
    struct raft_io_log *log = reopen(NULL, &t, 0, &rs);
    struct raft *r = core_new(&rs);
    struct raft_status st;
    int64_t now = 0;
    for (int i = 0; i < 1000; i++) {
        now += 10;
        ck_assert_int_eq(raft_tick(r, now), 0);
        core_drain(r, log);
        raft_status(r, &st);
        if (st.role == RAFT_LEADER) break;
    }
    ck_assert_int_eq(st.role, RAFT_LEADER);
    struct raft_propose_result pr;
    ck_assert_int_eq(raft_propose(r, "hello", 5, &pr), 0);
    ck_assert_int_eq(raft_propose(r, "world", 5, &pr), 0);
    core_drain(r, log);
    raft_status(r, &st);
    ck_assert_uint_eq(st.commit, 3);
    raft_free(r);
    log = reopen(log, &t, 0, &rs);
    ck_assert_uint_eq(rs.hard_state.term, st.term);
    ck_assert_uint_eq(rs.hard_state.vote, 1);
    ck_assert_uint_eq(rs.n_entries, 3);
    ck_assert_int_eq(rs.entries[0].type, RAFT_ENTRY_NOOP);
    r = core_new(&rs);
    raft_io_log_restore_release(log);
    struct raft_status st2;
    raft_status(r, &st2);
    ck_assert_uint_eq(st2.term, st.term);
    ck_assert_uint_eq(st2.last_index, 3);
    const struct raft_entry *e = raft_entry_at(r, 2);
    ck_assert_ptr_nonnull(e);
    ck_assert_mem_eq(e->data, "hello", 5);
    raft_free(r);
    raft_io_log_close(log);
    tdir_close(&t);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("raft_io");
    TCase *tc = tcase_create("log");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_truncate_then_append);
    tcase_add_test(tc, test_compaction_and_install);
    tcase_add_test(tc, test_torn_tail);
    tcase_add_test(tc, test_snapshot_tmp_crash);
    tcase_add_test(tc, test_snapshot_conflict_recovery);
    tcase_add_test(tc, test_hard_state_atomic);
    tcase_add_test(tc, test_segment_roll);
    tcase_add_test(tc, test_crash_sigkill);
    tcase_add_test(tc, test_core_round_trip);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}

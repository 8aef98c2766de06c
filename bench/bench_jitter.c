/*
 * bench_jitter — how long this machine keeps a ready thread waiting, as a baseline for latency
 * figures measured in the same run.
 *
 * Sleeps --interval-us (200) in a loop for --seconds (10) and records how late each wakeup is
 * (the overshoot past the requested sleep).  On an idle host that is tens of microseconds; on a
 * shared VM the host also takes the vCPUs away now and then, and no program on the guest, broker
 * or client, answers faster than its worst wakeup.  A p99 produce latency passes through about
 * eight such wakeups (client threads, leader, followers, leader, client).  Prints
 *
 *   RESULT jitter seconds=10 wakeups=... p50_us=... p99_us=... p999_us=... max_us=...
 *          worst_per_second_median_us=... worst_per_second_max_us=...
 */
#include "bench/bench_util.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: bench_jitter [--seconds S (10)] [--interval-us US (200)]\n");
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int64_t seconds = 10, interval_us = 200;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--seconds"))
            seconds = bench_parse_i64(a, bench_arg_value(argc, argv, &i));
        else if (!strcmp(a, "--interval-us"))
            interval_us = bench_parse_i64(a, bench_arg_value(argc, argv, &i));
        else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            bench_die("unknown argument %s", a);
        }
    }
    if (seconds < 1 || seconds > 3600) bench_die("--seconds out of range (1..3600)");
    if (interval_us < 1 || interval_us > 1000000) bench_die("--interval-us out of range");

    size_t cap = (size_t)(seconds * 1000000 / interval_us) + 1;
    uint64_t *late = malloc(cap * sizeof(*late));
    uint64_t *worst = calloc((size_t)seconds, sizeof(*worst));
    if (late == NULL || worst == NULL) bench_die("out of memory");
    uint64_t start = bench_now_ns(), end = start + (uint64_t)seconds * 1000000000ull;
    size_t n = 0;
    for (uint64_t before = bench_now_ns(); before < end && n < cap;) {
        bench_sleep_ns((uint64_t)interval_us * 1000);
        uint64_t after = bench_now_ns();
        uint64_t slept_us = (after - before) / 1000;
        uint64_t us = slept_us > (uint64_t)interval_us ? slept_us - (uint64_t)interval_us : 0;
        late[n++] = us;
        size_t sec = (size_t)((after - start) / 1000000000ull);
        if (sec < (size_t)seconds && us > worst[sec]) worst[sec] = us;
        before = after;
    }
    qsort(late, n, sizeof(*late), cmp_u64);
    qsort(worst, (size_t)seconds, sizeof(*worst), cmp_u64);
    printf("RESULT jitter seconds=%" PRId64 " wakeups=%zu p50_us=%" PRIu64 " p99_us=%" PRIu64
           " p999_us=%" PRIu64 " max_us=%" PRIu64 " worst_per_second_median_us=%" PRIu64
           " worst_per_second_max_us=%" PRIu64 "\n",
           seconds, n, late[n / 2], late[n * 99 / 100], late[n * 999 / 1000], late[n - 1],
           worst[seconds / 2], worst[seconds - 1]);
    free(late);
    free(worst);
    return 0;
}

/*
 * sim_main.c — raft_sim: runs the deterministic Raft simulation over a range of seeds.
 *
 *   raft_sim [--seeds N] [--start S] [--nodes K]   N seeds from S (defaults 2000, 1)
 *   raft_sim --seed X [--nodes K]                  replay one seed with an event trace
 *
 * A failure prints "FAILED seed=N: <checker>: <detail>" and the command that replays it; the
 * exit status is nonzero if any seed failed.
 */
#include "tests/sim/sim.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static double wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts); /* the simulator's own timing, never the sim clock */
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int usage(const char *argv0)
{
    fprintf(stderr, "usage: %s [--seeds N] [--start S] [--seed X] [--nodes K]\n", argv0);
    return 2;
}

static bool parse_u64(const char *s, uint64_t *out)
{
    int64_t v;
    if (!s || parse_i64(s, &v) || v < 0) return false;
    *out = (uint64_t)v;
    return true;
}

int main(int argc, char **argv)
{
    uint64_t seeds = 2000, start = 1, one = 0, nodes = 0;
    bool replay = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok;
        if (!strcmp(a, "--seeds"))
            ok = parse_u64(v, &seeds);
        else if (!strcmp(a, "--start"))
            ok = parse_u64(v, &start);
        else if (!strcmp(a, "--seed"))
            ok = parse_u64(v, &one), replay = true;
        else if (!strcmp(a, "--nodes"))
            ok = parse_u64(v, &nodes) && nodes >= 1 && nodes <= SIM_NODES_MAX;
        else
            ok = false;
        if (!ok) return usage(argv[0]);
        i++;
    }
    struct sim_opts o = {.nodes = (uint32_t)nodes, .verbose = replay};
    if (replay) {
        start = one;
        seeds = 1;
    }
    char nodes_arg[32] = "";
    if (nodes) strfmt(nodes_arg, sizeof nodes_arg, " --nodes %llu", (unsigned long long)nodes);
    double t0 = wall_s();
    uint64_t passed = 0, failed = 0, events = 0;
    for (uint64_t seed = start; seed < start + seeds; seed++) {
        char fail[600];
        uint64_t ev = 0;
        if (sim_run(seed, &o, fail, sizeof fail, &ev) == 0) {
            passed++;
        } else {
            failed++;
            printf("FAILED seed=%llu: %s\n  replay: %s --seed %llu%s\n", (unsigned long long)seed,
                   fail, argv[0], (unsigned long long)seed, nodes_arg);
            fflush(stdout);
        }
        events += ev;
    }
    double el = wall_s() - t0;
    printf("raft_sim: %llu seeds passed, %llu failed (elapsed %.1fs, %llu events)\n",
           (unsigned long long)passed, (unsigned long long)failed, el, (unsigned long long)events);
    printf("%llu passed, %llu failed\n", (unsigned long long)passed, (unsigned long long)failed);
    return failed ? 1 : 0;
}

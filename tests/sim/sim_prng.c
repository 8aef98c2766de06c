/* sim_prng.c — the simulator's PRNG (splitmix64) and small helpers built on it. */
#include "tests/sim/sim.h"

#include <stdarg.h>

uint64_t sim_rand(struct sim_prng *p)
{
    uint64_t z = (p->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t sim_range(struct sim_prng *p, uint64_t lo, uint64_t hi)
{
    return lo + sim_rand(p) % (hi - lo + 1);
}

bool sim_chance(struct sim_prng *p, uint32_t per_mille)
{
    return sim_rand(p) % 1000 < per_mille;
}

uint64_t sim_entry_hash(uint64_t h, const struct raft_entry *e)
{
    uint64_t id = 0;
    for (uint32_t i = 0; i < e->len && i < 8; i++) id |= (uint64_t)e->data[i] << (8 * i);
    struct sim_prng p = {h ^ (e->term * 0x100000001B3ull) ^ ((uint64_t)e->type << 56) ^ id};
    return sim_rand(&p);
}

void sim_fail(struct sim *s, const char *checker, const char *fmt, ...)
{
    if (s->failed) return;
    s->failed = true;
    int n = snprintf(s->fail, sizeof s->fail, "%s: ", checker);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->fail + n, sizeof s->fail - (size_t)n, fmt, ap);
    va_end(ap);
    if (s->verbose) printf("%10.3fms FAIL %s\n", (double)s->now_us / 1000.0, s->fail);
}

void sim_trace(struct sim *s, const char *fmt, ...)
{
    if (!s->verbose) return;
    printf("%10.3fms ", (double)s->now_us / 1000.0);
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

/* raft_prng.c — the core's only source of randomness: splitmix64, seeded by the caller. */
#include "raft/raft_int.h"

uint64_t raft_prng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t raft_prng_range(uint64_t *state, uint64_t n)
{
    assert(n > 0);
    return raft_prng_next(state) % n;
}

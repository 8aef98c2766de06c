/*
 * raft_log.c — the in-memory Raft log: one array of entries after a snapshot offset.
 *
 * Invariants: ents[i].index == offset + 1 + i; terms never decrease along the array; every
 * entry owns its data (malloc'd, NULL when empty).
 */
#include "raft/raft_int.h"

#include <stdlib.h>
#include <string.h>

void raft_log_init(struct raft_log *l)
{
    memset(l, 0, sizeof *l);
}

static void entry_free(struct raft_entry *e)
{
    free(e->data);
    e->data = NULL;
}

void raft_log_close(struct raft_log *l)
{
    for (size_t i = 0; i < l->n; i++) entry_free(&l->ents[i]);
    free(l->ents);
    memset(l, 0, sizeof *l);
}

uint64_t raft_log_term(const struct raft_log *l, uint64_t index)
{
    if (index == l->offset) return l->offset_term;
    const struct raft_entry *e = raft_log_get(l, index);
    return e ? e->term : UINT64_MAX;
}

int raft_log_append(struct raft_log *l, uint64_t term, uint8_t type, const void *data,
                    uint32_t len)
{
    assert(term >= 1);
    assert(term >= raft_log_term(l, raft_log_last(l)));
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        struct raft_entry *e = realloc(l->ents, cap * sizeof *e);
        if (!e) return GR_ENOMEM;
        l->ents = e;
        l->cap = cap;
    }
    uint8_t *copy = NULL;
    if (len) {
        copy = malloc(len);
        if (!copy) return GR_ENOMEM;
        memcpy(copy, data, len);
    }
    struct raft_entry *e = &l->ents[l->n];
    e->index = raft_log_last(l) + 1;
    e->term = term;
    e->type = type;
    e->len = len;
    e->data = copy;
    l->n++;
    return 0;
}

void raft_log_truncate_from(struct raft_log *l, uint64_t index)
{
    assert(index > l->offset);
    if (index > raft_log_last(l)) return;
    size_t keep = (size_t)(index - l->offset - 1);
    for (size_t i = keep; i < l->n; i++) entry_free(&l->ents[i]);
    l->n = keep;
}

void raft_log_compact_to(struct raft_log *l, uint64_t index, uint64_t term)
{
    if (index <= l->offset) return;
    if (index >= raft_log_last(l)) {
        raft_log_reset(l, index, term);
        return;
    }
    assert(raft_log_term(l, index) == term);
    size_t drop = (size_t)(index - l->offset);
    for (size_t i = 0; i < drop; i++) entry_free(&l->ents[i]);
    memmove(l->ents, l->ents + drop, (l->n - drop) * sizeof *l->ents);
    l->n -= drop;
    l->offset = index;
    l->offset_term = term;
}

void raft_log_reset(struct raft_log *l, uint64_t index, uint64_t term)
{
    for (size_t i = 0; i < l->n; i++) entry_free(&l->ents[i]);
    l->n = 0;
    l->offset = index;
    l->offset_term = term;
}

/* The last index <= max_index holding `term`, or 0 if the in-memory log has none.  Terms are
 * monotonic, so the scan stops at the first smaller term. */
uint64_t raft_log_last_of_term(const struct raft_log *l, uint64_t term, uint64_t max_index)
{
    uint64_t i = GR_MIN(max_index, raft_log_last(l));
    for (; i > l->offset; i--) {
        uint64_t t = l->ents[i - l->offset - 1].term;
        if (t == term) return i;
        if (t < term) return 0;
    }
    return (i == l->offset && l->offset_term == term && i > 0) ? i : 0;
}

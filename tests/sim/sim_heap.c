/* sim_heap.c — the event queue: a binary min-heap ordered by (time, insertion sequence), so
 * events at the same instant run in a reproducible order. */
#include "tests/sim/sim.h"

#include <stdlib.h>

static bool before(const struct sim_event *a, const struct sim_event *b)
{
    return a->at_us < b->at_us || (a->at_us == b->at_us && a->seq < b->seq);
}

void sim_schedule(struct sim *s, int64_t at_us, enum sim_ev_type type, uint32_t node,
                  struct raft_msg *msg)
{
    struct sim_heap *h = &s->heap;
    if (h->n >= SIM_EVENTS_MAX) { /* bounded: an overfull network drops the message */
        if (msg) sim_msg_free(msg);
        return;
    }
    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 1024;
        h->v = realloc(h->v, h->cap * sizeof *h->v);
        if (!h->v) abort();
    }
    struct sim_event ev = {.at_us = at_us, .seq = s->ev_seq++, .type = type, .node = node,
                           .gen = s->nodes[node].gen, .msg = msg};
    size_t i = h->n++;
    while (i > 0 && before(&ev, &h->v[(i - 1) / 2])) {
        h->v[i] = h->v[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->v[i] = ev;
}

bool sim_pop(struct sim *s, struct sim_event *ev)
{
    struct sim_heap *h = &s->heap;
    if (h->n == 0) return false;
    *ev = h->v[0];
    struct sim_event last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && before(&h->v[c + 1], &h->v[c])) c++;
        if (!before(&h->v[c], &last)) break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n) h->v[i] = last;
    return true;
}

void sim_heap_close(struct sim *s)
{
    for (size_t i = 0; i < s->heap.n; i++)
        if (s->heap.v[i].msg) sim_msg_free(s->heap.v[i].msg);
    free(s->heap.v);
    s->heap.v = NULL;
    s->heap.n = s->heap.cap = 0;
}

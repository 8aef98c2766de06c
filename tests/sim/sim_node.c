/*
 * sim_node.c — one simulated node: the real raft core, an I/O layer that follows the ready
 * contract against a simulated disk, and a tiny application (a rolling hash of what it
 * applied, snapshotted as 16 bytes: index and hash).
 */
#include "tests/sim/sim.h"

#include <stdlib.h>
#include <string.h>

void sim_snapshot_free(struct raft_snapshot *snap)
{
    free(snap->data);
    memset(snap, 0, sizeof *snap);
}

static void snapshot_copy(struct raft_snapshot *dst, const struct raft_snapshot *src)
{
    sim_snapshot_free(dst);
    *dst = *src;
    dst->data = NULL;
    if (src->len) {
        dst->data = malloc(src->len);
        if (!dst->data) abort();
        memcpy(dst->data, src->data, src->len);
    }
}

static void entries_free(struct raft_entry *e, size_t n)
{
    for (size_t i = 0; i < n; i++) free(e[i].data);
}

static void batch_free(struct sim_batch *b)
{
    entries_free(b->ents, b->n);
    free(b->ents);
    sim_snapshot_free(&b->snap);
}

/* ------------------------------------------------------------------------------ disk */

static uint64_t disk_last(const struct sim_disk *d)
{
    return d->n ? d->ents[d->n - 1].index : d->snap.index;
}

/* Drops durable entries with index < lo or > hi. */
static void disk_keep(struct sim_disk *d, uint64_t lo, uint64_t hi)
{
    size_t k = 0;
    for (size_t i = 0; i < d->n; i++) {
        if (d->ents[i].index >= lo && d->ents[i].index <= hi)
            d->ents[k++] = d->ents[i];
        else
            free(d->ents[i].data);
    }
    d->n = k;
}

static void disk_apply(struct sim *s, struct sim_node *n, struct sim_batch *b)
{
    struct sim_disk *d = &n->disk;
    if (b->has_snap) {
        if (b->snap.index < d->snap.index)
            sim_fail(s, "disk", "n%u: installed snapshot %llu older than durable %llu", n->id,
                     (unsigned long long)b->snap.index, (unsigned long long)d->snap.index);
        snapshot_copy(&d->snap, &b->snap);
        disk_keep(d, b->snap.index + 1, UINT64_MAX);
    }
    if (b->truncate_from) disk_keep(d, 0, b->truncate_from - 1);
    if (b->compact_to) disk_keep(d, b->compact_to + 1, UINT64_MAX);
    if (b->n && b->ents[0].index != disk_last(d) + 1)
        sim_fail(s, "disk", "n%u: append at %llu after durable last %llu", n->id,
                 (unsigned long long)b->ents[0].index, (unsigned long long)disk_last(d));
    if (d->n + b->n > d->cap) {
        d->cap = (d->n + b->n) * 2;
        d->ents = realloc(d->ents, d->cap * sizeof *d->ents);
        if (!d->ents) abort();
    }
    if (b->n) memcpy(d->ents + d->n, b->ents, b->n * sizeof *b->ents);
    d->n += b->n;
    b->n = 0; /* data moved */
    if (b->hs_changed) d->hs = b->hs;
    batch_free(b);
}

static void disk_write(struct sim *s, struct sim_node *n, const struct raft_ready *rd)
{
    struct sim_disk *d = &n->disk;
    if (d->n_pending == d->cap_pending) {
        d->cap_pending = d->cap_pending ? d->cap_pending * 2 : 16;
        d->pending = realloc(d->pending, d->cap_pending * sizeof *d->pending);
        if (!d->pending) abort();
    }
    struct sim_batch *b = &d->pending[d->n_pending++];
    memset(b, 0, sizeof *b);
    b->seq = rd->persist_seq;
    b->hs_changed = rd->hard_state_changed;
    b->hs = rd->hard_state;
    if (rd->snapshot) {
        b->has_snap = true;
        snapshot_copy(&b->snap, rd->snapshot);
    }
    b->truncate_from = rd->truncate_from;
    b->compact_to = rd->compact_to;
    b->n = rd->n_entries;
    b->ents = calloc(b->n ? b->n : 1, sizeof *b->ents);
    if (!b->ents) abort();
    for (size_t i = 0; i < b->n; i++) {
        b->ents[i] = rd->entries[i];
        if (rd->entries[i].len) {
            b->ents[i].data = malloc(rd->entries[i].len);
            if (!b->ents[i].data) abort();
            memcpy(b->ents[i].data, rd->entries[i].data, rd->entries[i].len);
        }
    }
    if (!d->busy) {
        d->busy = true;
        sim_schedule(s, s->now_us + (int64_t)sim_range(&s->prng, 50, 3000), SIM_EV_DISK,
                     (uint32_t)(n - s->nodes), NULL);
    }
}

/* The oldest pending batch (sometimes all of them: a group commit) becomes durable. */
void sim_node_disk_done(struct sim *s, struct sim_node *n)
{
    struct sim_disk *d = &n->disk;
    d->busy = false;
    if (!d->n_pending) return;
    size_t k = sim_chance(&s->prng, 300) ? d->n_pending : 1;
    uint64_t seq = d->pending[k - 1].seq;
    for (size_t i = 0; i < k; i++) disk_apply(s, n, &d->pending[i]);
    memmove(d->pending, d->pending + k, (d->n_pending - k) * sizeof *d->pending);
    d->n_pending -= k;
    sim_trace(s, "n%u disk synced seq %llu", n->id, (unsigned long long)seq);
    raft_persisted(n->r, seq);
    if (d->n_pending) {
        d->busy = true;
        sim_schedule(s, s->now_us + (int64_t)sim_range(&s->prng, 50, 3000), SIM_EV_DISK,
                     (uint32_t)(n - s->nodes), NULL);
    }
    sim_node_process(s, n);
}

/* ------------------------------------------------------------------------------ app */

static void app_restore(struct sim *s, struct sim_node *n, const struct raft_snapshot *snap)
{
    uint64_t index = 0, hash = 0;
    if (snap->len == 16) {
        memcpy(&index, snap->data, 8);
        memcpy(&hash, snap->data + 8, 8);
    }
    if (index != snap->index) sim_fail(s, "snapshot", "n%u: snapshot data for %llu at %llu",
                                       n->id, (unsigned long long)index,
                                       (unsigned long long)snap->index);
    sim_check_restore(s, n, index, hash);
    n->applied = index;
    n->hash = hash;
    n->applied_term = snap->term;
}

static void app_maybe_snapshot(struct sim *s, struct sim_node *n)
{
    struct raft_status st;
    raft_status(n->r, &st);
    if (!n->snap_every || n->applied < st.snapshot_index + n->snap_every) return;
    uint8_t data[16];
    memcpy(data, &n->applied, 8);
    memcpy(data + 8, &n->hash, 8);
    struct raft_snapshot snap = {.index = n->applied, .term = n->applied_term, .len = 16,
                                 .data = data, .n_voters = s->n_voters};
    memcpy(snap.voters, s->ids, s->n_voters * sizeof *s->ids);
    snapshot_copy(&n->disk.snap, &snap); /* durable first, then tell the core */
    int err = raft_snapshot_taken(n->r, &snap);
    if (err) sim_fail(s, "snapshot", "n%u: raft_snapshot_taken(%llu): %s", n->id,
                      (unsigned long long)snap.index, raft_strerror(err));
    sim_trace(s, "n%u snapshot at %llu", n->id, (unsigned long long)snap.index);
}

/* ------------------------------------------------------------------------------ ready loop */

void sim_node_process(struct sim *s, struct sim_node *n)
{
    struct raft_ready rd;
    for (int rounds = 0; rounds < 1000 && raft_ready(n->r, &rd); rounds++) {
        if (rd.persist_seq) disk_write(s, n, &rd);
        for (size_t i = 0; i < rd.n_msgs; i++) {
            sim_check_send(s, n, &rd.msgs[i]);
            sim_net_send(s, &rd.msgs[i]);
        }
        if (rd.snapshot) app_restore(s, n, rd.snapshot);
        for (size_t i = 0; i < rd.n_committed; i++) {
            const struct raft_entry *e = &rd.committed[i];
            if (e->index != n->applied + 1) {
                sim_fail(s, "apply", "n%u applies %llu after %llu", n->id,
                         (unsigned long long)e->index, (unsigned long long)n->applied);
                break;
            }
            n->hash = sim_entry_hash(n->hash, e);
            n->applied = e->index;
            n->applied_term = e->term;
            sim_check_apply(s, n, e);
        }
        raft_advance(n->r, &rd);
        app_maybe_snapshot(s, n);
    }
    sim_check_leaders(s, n);
}

/* ------------------------------------------------------------------------------ lifecycle */

void sim_node_start(struct sim *s, struct sim_node *n)
{
    struct raft_config c = s->cfg;
    c.id = n->id;
    c.prng_seed = sim_rand(&s->prng);
    struct sim_disk *d = &n->disk;
    disk_keep(d, d->snap.index + 1, UINT64_MAX);
    struct raft_restore rs = {.hard_state = d->hs, .snapshot = d->snap.index ? &d->snap : NULL,
                              .entries = d->ents, .n_entries = d->n};
    int err;
    n->r = raft_new(&c, &rs, &err);
    if (!n->r) {
        sim_fail(s, "restart", "n%u: raft_new: %s", n->id, raft_strerror(err));
        return;
    }
    n->applied = n->hash = n->applied_term = 0;
    if (d->snap.index) app_restore(s, n, &d->snap);
    n->up = true;
    n->gen++;
    raft_tick(n->r, s->now_us / 1000);
    sim_schedule(s, s->now_us + (int64_t)sim_range(&s->prng, 0, (uint64_t)n->tick_us),
                 SIM_EV_TICK, (uint32_t)(n - s->nodes), NULL);
    sim_trace(s, "n%u started (term %llu, log %llu..%llu)", n->id,
              (unsigned long long)d->hs.term, (unsigned long long)d->snap.index,
              (unsigned long long)(d->n ? d->ents[d->n - 1].index : d->snap.index));
}

/* Power loss: unsynced batches are lost, except sometimes a prefix that had reached the
 * platter without its notice reaching the core. */
void sim_node_crash(struct sim *s, struct sim_node *n)
{
    struct sim_disk *d = &n->disk;
    size_t keep = sim_chance(&s->prng, 300) ? (size_t)sim_range(&s->prng, 0, d->n_pending) : 0;
    for (size_t i = 0; i < d->n_pending; i++) {
        if (i < keep)
            disk_apply(s, n, &d->pending[i]);
        else
            batch_free(&d->pending[i]);
    }
    d->n_pending = 0;
    d->busy = false;
    raft_free(n->r);
    n->r = NULL;
    n->up = false;
    n->gen++;
    s->crashes++;
    sim_trace(s, "n%u CRASHED (kept %zu unsynced batches)", n->id, keep);
}

void sim_node_close(struct sim_node *n)
{
    raft_free(n->r);
    n->r = NULL;
    struct sim_disk *d = &n->disk;
    for (size_t i = 0; i < d->n_pending; i++) batch_free(&d->pending[i]);
    free(d->pending);
    entries_free(d->ents, d->n);
    free(d->ents);
    sim_snapshot_free(&d->snap);
    memset(d, 0, sizeof *d);
}

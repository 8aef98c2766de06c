/* raft_test_msg.h — shared by the raft test suites: deep copies of raft messages (the core's
 * views live only until raft_advance) and field-by-field comparison.  Header-only. */
#ifndef GREGOR_RAFT_TEST_MSG_H
#define GREGOR_RAFT_TEST_MSG_H

#include "raft/raft.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static inline struct raft_msg *msg_copy(const struct raft_msg *m)
{
    struct raft_msg *c = calloc(1, sizeof *c);
    ck_assert_ptr_nonnull(c);
    *c = *m;
    if (m->n_entries) {
        c->entries = calloc(m->n_entries, sizeof *c->entries);
        for (uint32_t i = 0; i < m->n_entries; i++) {
            c->entries[i] = m->entries[i];
            if (m->entries[i].len) {
                c->entries[i].data = malloc(m->entries[i].len);
                memcpy(c->entries[i].data, m->entries[i].data, m->entries[i].len);
            }
        }
    }
    if (m->snapshot.len) {
        c->snapshot.data = malloc(m->snapshot.len);
        memcpy(c->snapshot.data, m->snapshot.data, m->snapshot.len);
    }
    return c;
}

static inline void msg_free(struct raft_msg *m)
{
    if (!m) return;
    for (uint32_t i = 0; i < m->n_entries; i++) free(m->entries[i].data);
    free(m->entries);
    free(m->snapshot.data);
    free(m);
}

static inline void msg_assert_equal(const struct raft_msg *a, const struct raft_msg *b)
{
    ck_assert_int_eq(a->type, b->type);
    ck_assert_uint_eq(a->from, b->from);
    ck_assert_uint_eq(a->to, b->to);
    ck_assert_uint_eq(a->term, b->term);
    ck_assert_uint_eq(a->last_log_index, b->last_log_index);
    ck_assert_uint_eq(a->last_log_term, b->last_log_term);
    ck_assert_int_eq(a->force, b->force);
    ck_assert_int_eq(a->reject, b->reject);
    ck_assert_uint_eq(a->prev_index, b->prev_index);
    ck_assert_uint_eq(a->prev_term, b->prev_term);
    ck_assert_uint_eq(a->commit, b->commit);
    ck_assert_uint_eq(a->index, b->index);
    ck_assert_uint_eq(a->hint_index, b->hint_index);
    ck_assert_uint_eq(a->hint_term, b->hint_term);
    ck_assert_uint_eq(a->n_entries, b->n_entries);
    for (uint32_t i = 0; i < a->n_entries; i++) {
        const struct raft_entry *x = &a->entries[i], *y = &b->entries[i];
        ck_assert_uint_eq(x->index, y->index);
        ck_assert_uint_eq(x->term, y->term);
        ck_assert_uint_eq(x->type, y->type);
        ck_assert_uint_eq(x->len, y->len);
        if (x->len) ck_assert_int_eq(memcmp(x->data, y->data, x->len), 0);
    }
    const struct raft_snapshot *s = &a->snapshot, *u = &b->snapshot;
    ck_assert_uint_eq(s->index, u->index);
    ck_assert_uint_eq(s->term, u->term);
    ck_assert_uint_eq(s->n_voters, u->n_voters);
    for (uint32_t i = 0; i < s->n_voters; i++) ck_assert_uint_eq(s->voters[i], u->voters[i]);
    ck_assert_uint_eq(s->len, u->len);
    if (s->len) ck_assert_int_eq(memcmp(s->data, u->data, s->len), 0);
}

#endif

/*
 * test_raft.c — Check suite for raft/: scripted scenarios through raft/raft.h only.
 *
 * A small fixture runs N cores with synchronous "disks" (each ready is persisted before the
 * next), a FIFO network with cuttable links and a shared clock, in the spirit of
 * canonical/raft's fixture.  The randomized, crash-and-partition coverage lives in tests/sim.
 */
#include "raft/raft.h"
#include "tests/unit/raft_test_msg.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#define FX_MAX 6
#define FX_QUEUE_MAX 20000

struct fx_applied {
    uint64_t n_normal;
    uint64_t last_value;
    uint64_t index;
};

struct fx {
    int n;
    uint32_t ids[FX_MAX];
    struct raft_config cfg;
    struct raft *r[FX_MAX];
    bool cut[FX_MAX][FX_MAX];
    struct raft_msg *queue[FX_QUEUE_MAX];
    int q_head, q_tail;
    int64_t now_ms;
    struct fx_applied app[FX_MAX];
    uint64_t sent[FX_MAX][RAFT_MSG_TIMEOUT_NOW + 1]; /* per sender and type */
    uint64_t rejects[FX_MAX];
    bool auto_snapshot;
};

static int fx_index(const struct fx *f, uint32_t id)
{
    for (int i = 0; i < f->n; i++)
        if (f->ids[i] == id) return i;
    ck_abort_msg("unknown id %u", id);
    return -1;
}

static void fx_init(struct fx *f, int voters, int observers, uint32_t snapshot_threshold)
{
    memset(f, 0, sizeof *f);
    f->n = voters + observers;
    for (int i = 0; i < f->n; i++) f->ids[i] = (uint32_t)i + 1;
    raft_config_defaults(&f->cfg);
    f->cfg.voters = f->ids;
    f->cfg.n_voters = (uint32_t)voters;
    f->cfg.observers = f->ids + voters;
    f->cfg.n_observers = (uint32_t)observers;
    f->cfg.election_timeout_ms = 100;
    f->cfg.heartbeat_interval_ms = 20;
    f->cfg.snapshot_threshold = snapshot_threshold;
    f->auto_snapshot = snapshot_threshold > 0;
    for (int i = 0; i < f->n; i++) {
        struct raft_config c = f->cfg;
        c.id = f->ids[i];
        c.prng_seed = 1000 + (uint64_t)i;
        int err;
        f->r[i] = raft_new(&c, NULL, &err);
        ck_assert_ptr_nonnull(f->r[i]);
    }
}

static void fx_close(struct fx *f)
{
    for (int i = 0; i < f->n; i++) raft_free(f->r[i]);
    while (f->q_head != f->q_tail) {
        msg_free(f->queue[f->q_head]);
        f->q_head = (f->q_head + 1) % FX_QUEUE_MAX;
    }
}

static void fx_apply(struct fx *f, int i, const struct raft_ready *rd)
{
    struct fx_applied *a = &f->app[i];
    if (rd->snapshot) {
        ck_assert_uint_eq(rd->snapshot->len, sizeof *a);
        memcpy(a, rd->snapshot->data, sizeof *a);
        ck_assert_uint_eq(a->index, rd->snapshot->index);
    }
    for (size_t k = 0; k < rd->n_committed; k++) {
        const struct raft_entry *e = &rd->committed[k];
        ck_assert_uint_eq(e->index, a->index + 1);
        a->index = e->index;
        if (e->type != RAFT_ENTRY_NORMAL) continue;
        a->n_normal++;
        ck_assert_uint_eq(e->len, 8);
        memcpy(&a->last_value, e->data, 8);
    }
}

static void fx_snapshot(struct fx *f, int i)
{
    struct fx_applied *a = &f->app[i];
    const struct raft_entry *e = raft_entry_at(f->r[i], a->index);
    ck_assert_ptr_nonnull(e);
    struct raft_snapshot s = {.index = a->index, .term = e->term, .len = sizeof *a,
                              .data = (uint8_t *)a, .n_voters = f->cfg.n_voters};
    memcpy(s.voters, f->ids, f->cfg.n_voters * sizeof *f->ids);
    ck_assert_int_eq(raft_snapshot_taken(f->r[i], &s), 0);
}

/* Synchronous I/O: persist (nothing to store here), send, apply, advance, then notify. */
static void fx_process(struct fx *f, int i)
{
    struct raft_ready rd;
    for (int rounds = 0; rounds < 10000 && raft_ready(f->r[i], &rd); rounds++) {
        uint64_t seq = rd.persist_seq;
        bool want = rd.snapshot_wanted;
        for (size_t k = 0; k < rd.n_msgs; k++) {
            const struct raft_msg *m = &rd.msgs[k];
            f->sent[i][m->type]++;
            if (m->type == RAFT_MSG_APPEND_RESP && m->reject) f->rejects[i]++;
            int next = (f->q_tail + 1) % FX_QUEUE_MAX;
            ck_assert_int_ne(next, f->q_head);
            f->queue[f->q_tail] = msg_copy(m);
            f->q_tail = next;
        }
        fx_apply(f, i, &rd);
        raft_advance(f->r[i], &rd);
        if (seq) raft_persisted(f->r[i], seq);
        if (want && f->auto_snapshot) fx_snapshot(f, i);
    }
}

static void fx_deliver_all(struct fx *f)
{
    for (int i = 0; i < f->n; i++) fx_process(f, i);
    for (int steps = 0; f->q_head != f->q_tail; steps++) {
        ck_assert_int_lt(steps, 1000000);
        struct raft_msg *m = f->queue[f->q_head];
        f->q_head = (f->q_head + 1) % FX_QUEUE_MAX;
        int from = fx_index(f, m->from), to = fx_index(f, m->to);
        if (!f->cut[from][to]) {
            raft_step(f->r[to], m);
            fx_process(f, to);
        }
        msg_free(m);
    }
}

static void fx_run(struct fx *f, int64_t ms)
{
    for (int64_t t = 0; t < ms; t += 5) {
        f->now_ms += 5;
        for (int i = 0; i < f->n; i++) raft_tick(f->r[i], f->now_ms);
        fx_deliver_all(f);
    }
}

static void fx_isolate(struct fx *f, int i, bool on)
{
    for (int j = 0; j < f->n; j++) f->cut[i][j] = f->cut[j][i] = on;
}

static struct raft_status fx_status(struct fx *f, int i)
{
    struct raft_status st;
    raft_status(f->r[i], &st);
    return st;
}

/* The leader with the highest term, or -1. */
static int fx_leader(struct fx *f)
{
    int leader = -1;
    uint64_t best_term = 0;
    for (int i = 0; i < f->n; i++) {
        struct raft_status st = fx_status(f, i);
        if (st.role == RAFT_LEADER && st.term >= best_term) {
            leader = i;
            best_term = st.term;
        }
    }
    return leader;
}

static int fx_propose(struct fx *f, int i, uint64_t value)
{
    struct raft_propose_result res;
    return raft_propose(f->r[i], &value, sizeof value, &res);
}

/* ------------------------------------------------------------------------------ tests */

START_TEST(test_single_voter)
{
    struct fx f;
    fx_init(&f, 1, 0, 0);
    fx_run(&f, 300);
    struct raft_status st = fx_status(&f, 0);
    ck_assert_int_eq(st.role, RAFT_LEADER);
    ck_assert_uint_eq(st.term, 1);
    ck_assert_int_eq(fx_propose(&f, 0, 42), 0);
    fx_deliver_all(&f);
    ck_assert_uint_eq(f.app[0].n_normal, 1);
    ck_assert_uint_eq(f.app[0].last_value, 42);
    st = fx_status(&f, 0);
    ck_assert_uint_eq(st.commit, 2); /* the leader's no-op, then 42 */
    fx_close(&f);
}
END_TEST

START_TEST(test_three_node_election)
{
    struct fx f;
    fx_init(&f, 3, 0, 0);
    fx_run(&f, 500);
    int l = fx_leader(&f);
    ck_assert_int_ge(l, 0);
    int leaders = 0;
    for (int i = 0; i < 3; i++) {
        struct raft_status st = fx_status(&f, i);
        leaders += st.role == RAFT_LEADER;
        ck_assert_uint_eq(st.leader_id, f.ids[l]);
        ck_assert_uint_eq(st.term, fx_status(&f, l).term);
    }
    ck_assert_int_eq(leaders, 1);
    ck_assert_int_eq(fx_propose(&f, l, 7), 0);
    fx_run(&f, 100);
    for (int i = 0; i < 3; i++) ck_assert_uint_eq(f.app[i].last_value, 7);
    fx_close(&f);
}
END_TEST

START_TEST(test_proposal_to_follower_refused_with_hint)
{
    struct fx f;
    fx_init(&f, 3, 0, 0);
    fx_run(&f, 500);
    int l = fx_leader(&f), follower = (l + 1) % 3;
    struct raft_propose_result res;
    uint64_t v = 1;
    ck_assert_int_eq(raft_propose(f.r[follower], &v, sizeof v, &res), RAFT_ENOTLEADER);
    ck_assert_uint_eq(res.leader_id, f.ids[l]);
    fx_close(&f);
}
END_TEST

/* A vote or an acknowledgement must not leave before what it promises is durable: the core
 * holds it until raft_persisted(). */
START_TEST(test_ack_held_until_persisted)
{
    struct fx f;
    fx_init(&f, 3, 0, 0);
    fx_run(&f, 500);
    int l = fx_leader(&f), fo = (l + 1) % 3;
    ck_assert_int_eq(fx_propose(&f, l, 9), 0);
    fx_process(&f, l);
    /* find the leader's APPEND with the entry to fo and step it by hand */
    struct raft_msg *app = NULL;
    while (f.q_head != f.q_tail) {
        struct raft_msg *m = f.queue[f.q_head];
        f.q_head = (f.q_head + 1) % FX_QUEUE_MAX;
        if (!app && m->type == RAFT_MSG_APPEND && m->to == f.ids[fo] && m->n_entries)
            app = m;
        else
            msg_free(m);
    }
    ck_assert_ptr_nonnull(app);
    ck_assert_int_eq(raft_step(f.r[fo], app), 0);
    msg_free(app);
    struct raft_ready rd;
    ck_assert(raft_ready(f.r[fo], &rd));
    ck_assert_uint_ne(rd.persist_seq, 0);
    ck_assert_uint_eq(rd.n_entries, 1);
    ck_assert_uint_eq(rd.n_msgs, 0); /* the ack waits for the fsync */
    uint64_t seq = rd.persist_seq;
    raft_advance(f.r[fo], &rd);
    ck_assert(!raft_ready(f.r[fo], &rd));
    raft_persisted(f.r[fo], seq);
    ck_assert(raft_ready(f.r[fo], &rd));
    ck_assert_uint_eq(rd.n_msgs, 1);
    ck_assert_int_eq(rd.msgs[0].type, RAFT_MSG_APPEND_RESP);
    ck_assert(!rd.msgs[0].reject);
    raft_advance(f.r[fo], &rd);
    fx_close(&f);
}
END_TEST

/* Regression (simulator seed 11008): an ack held for durability must be dropped when the
 * entries it acknowledges are cut by a newer leader before they became durable. */
START_TEST(test_held_ack_dropped_on_truncation)
{
    struct fx f;
    fx_init(&f, 3, 0, 0);
    struct raft *r = f.r[2];
    uint8_t d[8] = {0};
    struct raft_entry e1[4];
    for (int i = 0; i < 4; i++)
        e1[i] = (struct raft_entry){.index = (uint64_t)i + 1, .term = 1, .len = 8, .data = d};
    struct raft_msg a1 = {.type = RAFT_MSG_APPEND, .from = 1, .to = 3, .term = 1,
                          .entries = e1, .n_entries = 4};
    ck_assert_int_eq(raft_step(r, &a1), 0);
    struct raft_entry e2 = {.index = 3, .term = 2, .len = 8, .data = d};
    struct raft_msg a2 = {.type = RAFT_MSG_APPEND, .from = 2, .to = 3, .term = 2,
                          .prev_index = 2, .prev_term = 1, .entries = &e2, .n_entries = 1};
    ck_assert_int_eq(raft_step(r, &a2), 0);
    struct raft_ready rd;
    ck_assert(raft_ready(r, &rd));
    uint64_t seq = rd.persist_seq;
    ck_assert_uint_eq(rd.n_msgs, 0);
    raft_advance(r, &rd);
    raft_persisted(r, seq);
    ck_assert(raft_ready(r, &rd));
    for (size_t i = 0; i < rd.n_msgs; i++) {
        ck_assert_int_eq(rd.msgs[i].type, RAFT_MSG_APPEND_RESP);
        ck_assert_uint_eq(rd.msgs[i].to, 2); /* only the ack of index 3 to the new leader */
        ck_assert_uint_eq(rd.msgs[i].index, 3);
    }
    ck_assert_uint_eq(rd.n_msgs, 1);
    raft_advance(r, &rd);
    fx_close(&f);
}
END_TEST

START_TEST(test_conflicting_log_repaired)
{
    struct fx f;
    fx_init(&f, 3, 0, 0);
    fx_run(&f, 500);
    int old = fx_leader(&f);
    for (uint64_t v = 1; v <= 5; v++) ck_assert_int_eq(fx_propose(&f, old, v), 0);
    fx_run(&f, 50);
    uint64_t old_term = fx_status(&f, old).term;
    fx_isolate(&f, old, true);
    for (uint64_t v = 100; v < 140; v++) ck_assert_int_eq(fx_propose(&f, old, v), 0);
    fx_deliver_all(&f);
    ck_assert_uint_ge(fx_status(&f, old).last_index, 46); /* 40 uncommitted entries */
    fx_run(&f, 1000);
    int nl = fx_leader(&f);
    ck_assert_int_ne(nl, old);
    for (uint64_t v = 200; v < 210; v++) ck_assert_int_eq(fx_propose(&f, nl, v), 0);
    fx_run(&f, 100);
    /* check-quorum made the isolated leader step down; pre-vote kept its term */
    ck_assert_int_ne(fx_status(&f, old).role, RAFT_LEADER);
    ck_assert_uint_eq(fx_status(&f, old).term, old_term);
    fx_isolate(&f, old, false);
    fx_run(&f, 300);
    struct raft_status so = fx_status(&f, old), sn = fx_status(&f, nl);
    ck_assert_int_eq(so.role, RAFT_FOLLOWER);
    ck_assert_uint_gt(so.term, old_term);
    ck_assert_uint_eq(so.leader_id, f.ids[nl]);
    ck_assert_uint_eq(so.last_index, sn.last_index);
    for (uint64_t i = 1; i <= sn.last_index; i++)
        ck_assert_uint_eq(raft_entry_at(f.r[old], i)->term, raft_entry_at(f.r[nl], i)->term);
    ck_assert_uint_eq(f.app[old].last_value, 209);
    ck_assert_uint_eq(f.app[old].n_normal, 15); /* 1..5 and 200..209: the 40 are gone */
    ck_assert_uint_le(f.rejects[old], 3);      /* fast back-off: not one reject per entry */
    fx_close(&f);
}
END_TEST

START_TEST(test_stale_leader_steps_down_on_higher_term)
{
    struct fx f;
    fx_init(&f, 3, 0, 0);
    fx_run(&f, 500);
    int l = fx_leader(&f), o = (l + 1) % 3;
    uint64_t t = fx_status(&f, l).term;
    struct raft_msg m = {.type = RAFT_MSG_HEARTBEAT, .from = f.ids[o], .to = f.ids[l],
                         .term = t + 5};
    ck_assert_int_eq(raft_step(f.r[l], &m), 0);
    struct raft_status st = fx_status(&f, l);
    ck_assert_int_eq(st.role, RAFT_FOLLOWER);
    ck_assert_uint_eq(st.term, t + 5);
    fx_close(&f);
}
END_TEST

START_TEST(test_prevote_keeps_partitioned_node_quiet)
{
    struct fx f;
    fx_init(&f, 3, 0, 0);
    fx_run(&f, 500);
    int l = fx_leader(&f), p = (l + 1) % 3;
    uint64_t t = fx_status(&f, l).term;
    fx_isolate(&f, p, true);
    fx_run(&f, 2000);
    ck_assert_uint_eq(fx_status(&f, p).term, t); /* pre-vote failed; the term never rose */
    ck_assert_uint_gt(f.sent[p][RAFT_MSG_PREVOTE], 0);
    ck_assert_uint_eq(f.sent[p][RAFT_MSG_VOTE], 0);
    fx_isolate(&f, p, false);
    fx_run(&f, 300);
    ck_assert_int_eq(fx_leader(&f), l); /* no disruption on return */
    ck_assert_uint_eq(fx_status(&f, l).term, t);
    ck_assert_uint_eq(fx_status(&f, p).leader_id, f.ids[l]);
    fx_close(&f);
}
END_TEST

START_TEST(test_check_quorum_steps_down)
{
    struct fx f;
    fx_init(&f, 3, 0, 0);
    fx_run(&f, 500);
    int l = fx_leader(&f);
    fx_isolate(&f, l, true);
    fx_run(&f, 250); /* two election timeouts without hearing from a quorum */
    struct raft_status st = fx_status(&f, l);
    ck_assert_int_ne(st.role, RAFT_LEADER);
    ck_assert_int_eq(fx_propose(&f, l, 1), RAFT_ENOTLEADER);
    fx_close(&f);
}
END_TEST

START_TEST(test_leadership_transfer)
{
    struct fx f;
    fx_init(&f, 3, 0, 0);
    fx_run(&f, 500);
    int l = fx_leader(&f), target = (l + 2) % 3;
    uint64_t t = fx_status(&f, l).term;
    ck_assert_int_eq(fx_propose(&f, l, 5), 0);
    ck_assert_int_eq(raft_transfer_leadership(f.r[l], f.ids[target]), 0);
    ck_assert_int_eq(fx_propose(&f, l, 6), RAFT_ETRANSFER);
    fx_deliver_all(&f);
    ck_assert_int_eq(fx_status(&f, target).role, RAFT_LEADER);
    ck_assert_uint_eq(fx_status(&f, target).term, t + 1);
    ck_assert_int_eq(fx_status(&f, l).role, RAFT_FOLLOWER);
    ck_assert_uint_eq(fx_status(&f, l).leader_id, f.ids[target]);
    ck_assert_int_eq(raft_transfer_leadership(f.r[l], 0), RAFT_ENOTLEADER);
    fx_run(&f, 100);
    for (int i = 0; i < 3; i++) ck_assert_uint_eq(f.app[i].last_value, 5);
    fx_close(&f);
}
END_TEST

START_TEST(test_snapshot_installed_on_lagging_follower)
{
    struct fx f;
    fx_init(&f, 3, 0, 10);
    fx_run(&f, 500);
    int l = fx_leader(&f), lag = (l + 1) % 3;
    fx_isolate(&f, lag, true);
    for (uint64_t v = 1; v <= 50; v++) {
        ck_assert_int_eq(fx_propose(&f, l, v), 0);
        fx_run(&f, 5);
    }
    fx_run(&f, 50);
    struct raft_status sl = fx_status(&f, l);
    ck_assert_uint_ge(sl.snapshot_index, 40); /* the log was truncated behind the snapshot */
    ck_assert_ptr_null(raft_entry_at(f.r[l], 1));
    ck_assert_uint_eq(sl.first_index, sl.snapshot_index + 1);
    fx_isolate(&f, lag, false);
    fx_run(&f, 300);
    ck_assert_uint_gt(f.sent[l][RAFT_MSG_SNAPSHOT], 0);
    struct raft_status sf = fx_status(&f, lag);
    ck_assert_uint_ge(sf.snapshot_index, 40);
    ck_assert_uint_eq(sf.last_index, fx_status(&f, l).last_index);
    ck_assert_uint_eq(f.app[lag].n_normal, 50);
    ck_assert_uint_eq(f.app[lag].last_value, 50);
    fx_close(&f);
}
END_TEST

START_TEST(test_observer_applies_but_never_votes)
{
    struct fx f;
    fx_init(&f, 3, 1, 0);
    int obs = 3;
    fx_run(&f, 500);
    int l = fx_leader(&f);
    ck_assert_int_ne(l, obs);
    for (uint64_t v = 1; v <= 10; v++) ck_assert_int_eq(fx_propose(&f, l, v), 0);
    fx_run(&f, 100);
    ck_assert_uint_eq(f.app[obs].n_normal, 10);
    ck_assert_uint_eq(f.app[obs].last_value, 10);
    struct raft_status so = fx_status(&f, obs);
    ck_assert(!so.voter);
    ck_assert_uint_eq(so.leader_id, f.ids[l]);
    /* cut off, it never campaigns */
    fx_isolate(&f, obs, true);
    fx_run(&f, 2000);
    so = fx_status(&f, obs);
    ck_assert_int_eq(so.role, RAFT_FOLLOWER);
    ck_assert_uint_eq(f.sent[obs][RAFT_MSG_PREVOTE] + f.sent[obs][RAFT_MSG_VOTE], 0);
    fx_isolate(&f, obs, false);
    /* kill the leader's quorum: the two other voters must still elect without the observer;
     * a vote request that reaches an observer is refused */
    struct raft_msg m = {.type = RAFT_MSG_VOTE, .from = f.ids[0], .to = f.ids[obs],
                         .term = so.term + 1, .last_log_index = 1000, .last_log_term = 1000};
    ck_assert_int_eq(raft_step(f.r[obs], &m), 0);
    struct raft_ready rd;
    ck_assert(raft_ready(f.r[obs], &rd));
    uint64_t seq = rd.persist_seq;
    raft_advance(f.r[obs], &rd);
    raft_persisted(f.r[obs], seq);
    ck_assert(raft_ready(f.r[obs], &rd));
    ck_assert_uint_eq(rd.n_msgs, 1);
    ck_assert_int_eq(rd.msgs[0].type, RAFT_MSG_VOTE_RESP);
    ck_assert(rd.msgs[0].reject);
    raft_advance(f.r[obs], &rd);
    fx_close(&f);
}
END_TEST

START_TEST(test_bad_input_rejected)
{
    struct fx f;
    fx_init(&f, 3, 0, 0);
    struct raft_msg m = {.type = RAFT_MSG_APPEND, .from = 9, .to = 1, .term = 1};
    ck_assert_int_eq(raft_step(f.r[0], &m), GR_EINVAL); /* unknown sender */
    m.from = 2;
    m.to = 3;
    ck_assert_int_eq(raft_step(f.r[0], &m), GR_EINVAL); /* not addressed to us */
    struct raft_entry e = {.index = 5, .term = 1};
    m.to = 1;
    m.entries = &e;
    m.n_entries = 1;
    m.prev_index = 1;
    ck_assert_int_eq(raft_step(f.r[0], &m), GR_EINVAL); /* index gap */
    ck_assert_int_eq(raft_tick(f.r[0], 10), 0);
    ck_assert_int_eq(raft_tick(f.r[0], 5), GR_EINVAL); /* time went backwards */
    struct raft_config c = f.cfg;
    c.id = 0;
    int err;
    ck_assert_ptr_null(raft_new(&c, NULL, &err));
    ck_assert_int_eq(err, GR_EINVAL);
    fx_close(&f);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("raft");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_single_voter);
    tcase_add_test(tc, test_three_node_election);
    tcase_add_test(tc, test_proposal_to_follower_refused_with_hint);
    tcase_add_test(tc, test_ack_held_until_persisted);
    tcase_add_test(tc, test_held_ack_dropped_on_truncation);
    tcase_add_test(tc, test_conflicting_log_repaired);
    tcase_add_test(tc, test_stale_leader_steps_down_on_higher_term);
    tcase_add_test(tc, test_prevote_keeps_partitioned_node_quiet);
    tcase_add_test(tc, test_check_quorum_steps_down);
    tcase_add_test(tc, test_leadership_transfer);
    tcase_add_test(tc, test_snapshot_installed_on_lagging_follower);
    tcase_add_test(tc, test_observer_applies_but_never_votes);
    tcase_add_test(tc, test_bad_input_rejected);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}

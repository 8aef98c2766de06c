/*
 * test_raft_transport.c — Check suite for raft/raft_io_transport.h: three transports in one
 * process and one event_base, each behind its own net_server on 127.0.0.1.  Field-by-field
 * delivery and per-peer order; a peer going down (sends dropped without blocking) and coming
 * back on the same port (backoff, reconnect); bad frames; and a 3-node cluster of real raft
 * cores over the transport electing a leader and committing a proposal.
 */
#include "net/net.h"
#include "raft/raft.h"
#include "tests/unit/raft_test_msg.h"
#include "raft/raft_io_transport.h"
#include "raft/raft_io_wire.h"

#include <arpa/inet.h>
#include <check.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define N 3
#define RECV_MAX 4096

struct tnode {
    int32_t id;
    struct event_base *base;
    struct net_server *srv;
    int port;
    struct raft_transport *t;
    struct raft_msg *recv[RECV_MAX];
    int n_recv;
    /* cluster test */
    struct raft *r;
    int64_t t0_ms;
    char applied[64];
    uint64_t n_applied;
};

static struct tnode nodes[N];

/* ------------------------------------------------------------------------------------------ */
/* Message copies and comparison                                                               */

/* ------------------------------------------------------------------------------------------ */
/* Fixture                                                                                     */

static void on_msg_record(void *ctx, const struct raft_msg *m)
{
    struct tnode *n = ctx;
    ck_assert_int_lt(n->n_recv, RECV_MAX);
    n->recv[n->n_recv++] = msg_copy(m);
}

static int on_frame(void *ctx, struct net_conn *c, struct net_slot *slot, uint8_t *payload,
                    size_t len)
{
    struct tnode *n = ctx;
    return raft_transport_on_frame(n->t, c, slot, payload, len);
}

static void server_start(struct tnode *n, int port)
{
    struct net_server_config cfg = {.frame_bytes_max = 64 << 20,
                                    .idle_ms_max = 0,
                                    .inflight_bytes_max = 1 << 20,
                                    .inflight_requests_max = 64};
    n->srv = net_server_new(n->base, &cfg, on_frame, n);
    ck_assert_ptr_nonnull(n->srv);
    char err[128];
    int bound = 0;
    ck_assert_int_eq(net_server_listen(n->srv, "127.0.0.1", port, &bound, err, sizeof err), 0);
    n->port = port ? port : bound;
}

static struct event_base *fixture_start(raft_transport_recv_fn fn)
{
    struct event_base *base = event_base_new();
    ck_assert_ptr_nonnull(base);
    memset(nodes, 0, sizeof nodes);
    for (int i = 0; i < N; i++) {
        nodes[i].id = i + 1;
        nodes[i].base = base;
        server_start(&nodes[i], 0);
    }
    struct raft_transport_peer peers[N];
    for (int i = 0; i < N; i++)
        peers[i] = (struct raft_transport_peer){nodes[i].id, "127.0.0.1", nodes[i].port};
    for (int i = 0; i < N; i++) {
        nodes[i].t = raft_transport_new(base, nodes[i].id, peers, N, fn, &nodes[i]);
        ck_assert_ptr_nonnull(nodes[i].t);
    }
    return base;
}

static void fixture_stop(struct event_base *base)
{
    for (int i = 0; i < N; i++) {
        raft_transport_free(nodes[i].t);
        net_server_free(nodes[i].srv);
        raft_free(nodes[i].r);
        for (int j = 0; j < nodes[i].n_recv; j++) msg_free(nodes[i].recv[j]);
    }
    event_base_free(base);
}

static void recv_clear(struct tnode *n)
{
    for (int j = 0; j < n->n_recv; j++) msg_free(n->recv[j]);
    n->n_recv = 0;
}

/* Runs the loop until *count >= want or timeout_ms pass; returns whether it got there. */
static bool pump_until(struct event_base *base, const int *count, int want, int timeout_ms)
{
    int64_t end = time_mono_ms() + timeout_ms;
    for (int i = 0; i < 1000000 && time_mono_ms() < end; i++) {
        event_base_loop(base, EVLOOP_NONBLOCK);
        if (count && *count >= want) return true;
        usleep(200);
    }
    return count && *count >= want;
}

static void pump_ms(struct event_base *base, int ms)
{
    pump_until(base, NULL, 0, ms);
}

static struct raft_msg mk_heartbeat(uint32_t from, uint32_t to, uint64_t commit)
{
    return (struct raft_msg){.type = RAFT_MSG_HEARTBEAT, .from = from, .to = to, .term = 7,
                             .commit = commit};
}

/* ------------------------------------------------------------------------------------------ */
/* Tests                                                                                       */

START_TEST(test_delivery_fields_and_order)
{
    struct event_base *base = fixture_start(on_msg_record);
    uint8_t d1[] = "first entry", d2[300], snap[5000];
    for (size_t i = 0; i < sizeof d2; i++) d2[i] = (uint8_t)(i * 7);
    for (size_t i = 0; i < sizeof snap; i++) snap[i] = (uint8_t)(i * 13 + 1);
    struct raft_entry ents[3] = {
        {.index = 11, .term = 4, .type = RAFT_ENTRY_NORMAL, .len = sizeof d1, .data = d1},
        {.index = 12, .term = 4, .type = RAFT_ENTRY_NOOP},
        {.index = 13, .term = 5, .type = RAFT_ENTRY_NORMAL, .len = sizeof d2, .data = d2},
    };
    struct raft_msg msgs[] = {
        {.type = RAFT_MSG_PREVOTE, .term = 5, .last_log_index = 10, .last_log_term = 4},
        {.type = RAFT_MSG_VOTE, .term = 5, .last_log_index = 10, .last_log_term = 4,
         .force = true},
        {.type = RAFT_MSG_VOTE_RESP, .term = 5, .reject = true},
        {.type = RAFT_MSG_APPEND, .term = 5, .prev_index = 10, .prev_term = 4, .commit = 9,
         .entries = ents, .n_entries = 3},
        {.type = RAFT_MSG_APPEND_RESP, .term = 5, .reject = true, .index = 10, .hint_index = 3,
         .hint_term = 2},
        {.type = RAFT_MSG_HEARTBEAT, .term = 5, .commit = 12},
        {.type = RAFT_MSG_SNAPSHOT, .term = 5,
         .snapshot = {.index = 100, .term = 4, .voters = {1, 2, 3}, .n_voters = 3,
                      .len = sizeof snap, .data = snap}},
        {.type = RAFT_MSG_TIMEOUT_NOW, .term = 5},
    };
    int n_types = (int)(sizeof msgs / sizeof msgs[0]);
    /* every node sends every type to both others, then 200 numbered heartbeats each */
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            if (i == j) continue;
            for (int k = 0; k < n_types; k++) {
                struct raft_msg m = msgs[k];
                m.from = (uint32_t)nodes[i].id;
                m.to = (uint32_t)nodes[j].id;
                ck_assert_int_eq(raft_transport_send(nodes[i].t, &m), 0);
            }
            for (int k = 0; k < 200; k++) {
                struct raft_msg m = mk_heartbeat((uint32_t)nodes[i].id, (uint32_t)nodes[j].id,
                                                 (uint64_t)k);
                ck_assert_int_eq(raft_transport_send(nodes[i].t, &m), 0);
            }
        }
    int want = 2 * (n_types + 200);
    for (int j = 0; j < N; j++)
        ck_assert_msg(pump_until(base, &nodes[j].n_recv, want, 15000), "node %d got %d of %d",
                      nodes[j].id, nodes[j].n_recv, want);
    pump_ms(base, 20);
    for (int j = 0; j < N; j++) {
        ck_assert_int_eq(nodes[j].n_recv, want);
        for (int i = 0; i < N; i++) {
            if (i == j) continue;
            int seen = 0; /* messages from i, in order */
            for (int r = 0; r < nodes[j].n_recv; r++) {
                const struct raft_msg *got = nodes[j].recv[r];
                if (got->from != (uint32_t)nodes[i].id) continue;
                struct raft_msg exp;
                if (seen < n_types) {
                    exp = msgs[seen];
                    exp.from = (uint32_t)nodes[i].id;
                    exp.to = (uint32_t)nodes[j].id;
                } else {
                    exp = mk_heartbeat((uint32_t)nodes[i].id, (uint32_t)nodes[j].id,
                                       (uint64_t)(seen - n_types));
                }
                msg_assert_equal(got, &exp);
                seen++;
            }
            ck_assert_int_eq(seen, n_types + 200);
        }
    }
    struct raft_transport_stats st;
    ck_assert_int_eq(raft_transport_stats(nodes[0].t, 0, &st), 0);
    ck_assert_uint_eq(st.sent, 2 * (uint64_t)(n_types + 200));
    ck_assert_uint_eq(st.dropped, 0);
    ck_assert_uint_eq(st.connect_failures, 0);
    ck_assert_int_eq(raft_transport_stats(nodes[0].t, 9, &st), GR_EINVAL);
    /* unknown peer and self */
    struct raft_msg bad = mk_heartbeat(1, 9, 0);
    ck_assert_int_eq(raft_transport_send(nodes[0].t, &bad), GR_EINVAL);
    bad.to = 1;
    ck_assert_int_eq(raft_transport_send(nodes[0].t, &bad), GR_EINVAL);
    fixture_stop(base);
}
END_TEST

START_TEST(test_peer_down_and_back)
{
    struct event_base *base = fixture_start(on_msg_record);
    struct tnode *a = &nodes[0], *b = &nodes[1], *c = &nodes[2];
    /* warm up both connections */
    struct raft_msg m = mk_heartbeat(1, 2, 0);
    raft_transport_send(a->t, &m);
    m.to = 3;
    raft_transport_send(a->t, &m);
    ck_assert(pump_until(base, &b->n_recv, 1, 2000));
    ck_assert(pump_until(base, &c->n_recv, 1, 2000));
    ck_assert(raft_transport_connected(a->t, 3));

    /* stop node 3's server: a's connection sees EOF; sends are dropped, never block */
    net_server_free(c->srv);
    c->srv = NULL;
    recv_clear(c);
    recv_clear(b);
    int64_t start = time_mono_ms();
    for (int k = 0; k < 300; k++) {
        m = mk_heartbeat(1, 3, (uint64_t)k);
        ck_assert_int_eq(raft_transport_send(a->t, &m), 0);
        m.to = 2;
        ck_assert_int_eq(raft_transport_send(a->t, &m), 0);
        pump_ms(base, 2);
    }
    ck_assert_int_lt(time_mono_ms() - start, 15000); /* generous: sends never block */
    struct raft_transport_stats st;
    ck_assert_int_eq(raft_transport_stats(a->t, 3, &st), 0);
    ck_assert_uint_gt(st.dropped, 0);
    ck_assert_uint_gt(st.connect_failures, 0);
    ck_assert(!raft_transport_connected(a->t, 3));
    ck_assert_int_eq(c->n_recv, 0);
    /* the others still talk, in order, nothing lost */
    ck_assert(pump_until(base, &b->n_recv, 300, 2000));
    for (int k = 0; k < 300; k++) ck_assert_uint_eq(b->recv[k]->commit, (uint64_t)k);
    ck_assert_int_eq(raft_transport_stats(a->t, 2, &st), 0);
    ck_assert_uint_eq(st.dropped, 0);

    /* restart node 3 on the same port: the connection comes back after the backoff */
    server_start(c, c->port);
    bool back = false;
    for (int k = 0; k < 1000 && !back; k++) { /* up to ~10 s: backoff is at most 2 s */
        m = mk_heartbeat(1, 3, 1000);
        raft_transport_send(a->t, &m);
        back = pump_until(base, &c->n_recv, 1, 10);
    }
    ck_assert_msg(back, "no message reached the restarted peer");
    ck_assert(raft_transport_connected(a->t, 3));
    pump_ms(base, 20);
    recv_clear(c);
    for (int k = 0; k < 50; k++) {
        m = mk_heartbeat(1, 3, (uint64_t)k);
        raft_transport_send(a->t, &m);
    }
    ck_assert(pump_until(base, &c->n_recv, 50, 2000));
    for (int k = 0; k < 50; k++) ck_assert_uint_eq(c->recv[k]->commit, (uint64_t)k);
    fixture_stop(base);
}
END_TEST

/* A raw client: an unknown body is skipped, a raft frame after it is delivered, and a corrupt
 * frame closes the connection. */
START_TEST(test_bad_frames)
{
    struct event_base *base = fixture_start(on_msg_record);
    struct tnode *b = &nodes[1];
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)b->port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    struct gbuf out;
    gbuf_init(&out);
    /* body field 4 (broker_heartbeat_request), empty, and an unknown field 14 */
    const uint8_t other[] = {0, 0, 0, 2, 0x22, 0x00, 0, 0, 0, 2, 0x72, 0x00};
    gbuf_append(&out, other, sizeof other);
    struct raft_msg m = mk_heartbeat(1, 2, 42);
    ck_assert_int_eq(raft_io_wire_encode(&m, &out), 0);
    const uint8_t garbage[] = {0, 0, 0, 3, 0xff, 0xff, 0xff};
    gbuf_append(&out, garbage, sizeof garbage);
    ck_assert_int_eq(write(fd, out.data, out.len), (ssize_t)out.len);
    gbuf_close(&out);
    ck_assert(pump_until(base, &b->n_recv, 1, 2000));
    ck_assert_uint_eq(b->recv[0]->commit, 42);
    int64_t end = time_mono_ms() + 2000;
    while (net_server_conn_count(b->srv) > 0 && time_mono_ms() < end) pump_ms(base, 5);
    ck_assert_int_eq(net_server_conn_count(b->srv), 0);
    char x;
    ck_assert_int_le(read(fd, &x, 1), 0); /* closed by the server */
    close(fd);
    ck_assert_int_eq(b->n_recv, 1);
    fixture_stop(base);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* A real 3-node cluster over the transport                                                    */

static void node_drain_ready(struct tnode *n)
{
    struct raft_ready rd;
    for (int guard = 0; guard < 1000 && raft_ready(n->r, &rd); guard++) {
        /* "persist": memory only; the core holds messages until raft_persisted() */
        for (size_t i = 0; i < rd.n_msgs; i++) raft_transport_send(n->t, &rd.msgs[i]);
        for (size_t i = 0; i < rd.n_committed; i++) {
            const struct raft_entry *e = &rd.committed[i];
            if (e->type != RAFT_ENTRY_NORMAL) continue;
            n->n_applied++;
            size_t l = e->len < sizeof n->applied - 1 ? e->len : sizeof n->applied - 1;
            memcpy(n->applied, e->data, l);
            n->applied[l] = 0;
        }
        uint64_t seq = rd.persist_seq;
        raft_advance(n->r, &rd);
        if (seq) raft_persisted(n->r, seq);
    }
}

static void on_msg_raft(void *ctx, const struct raft_msg *m)
{
    struct tnode *n = ctx;
    raft_step(n->r, m);
    node_drain_ready(n);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    for (int i = 0; i < N; i++) {
        struct tnode *n = &nodes[i];
        ck_assert_int_eq(raft_tick(n->r, time_mono_ms() - n->t0_ms), 0);
        node_drain_ready(n);
    }
}

static int count_leaders(uint32_t *leader)
{
    int leaders = 0;
    for (int i = 0; i < N; i++) {
        struct raft_status st;
        raft_status(nodes[i].r, &st);
        if (st.role == RAFT_LEADER) {
            leaders++;
            *leader = st.id;
        }
    }
    return leaders;
}

START_TEST(test_cluster_elects_and_commits)
{
    struct event_base *base = fixture_start(on_msg_raft);
    uint32_t voters[N];
    for (int i = 0; i < N; i++) voters[i] = (uint32_t)nodes[i].id;
    int64_t t0 = time_mono_ms();
    for (int i = 0; i < N; i++) {
        struct raft_config cfg;
        raft_config_defaults(&cfg);
        cfg.id = (uint32_t)nodes[i].id;
        cfg.voters = voters;
        cfg.n_voters = N;
        cfg.election_timeout_ms = 300;
        cfg.heartbeat_interval_ms = 50;
        cfg.prng_seed = 0x5eed0000u + (uint64_t)i;
        int err = 0;
        nodes[i].r = raft_new(&cfg, NULL, &err);
        ck_assert_ptr_nonnull(nodes[i].r);
        nodes[i].t0_ms = t0;
    }
    struct event *tick = event_new(base, -1, EV_PERSIST, on_tick, NULL);
    struct timeval tv = {0, 10 * 1000};
    event_add(tick, &tv);

    int64_t deadline = t0 + 15000;
    uint32_t leader = 0;
    bool proposed = false;
    bool done = false;
    while (!done && time_mono_ms() < deadline) {
        event_base_loop(base, EVLOOP_NONBLOCK);
        usleep(500);
        if (!proposed && count_leaders(&leader) == 1) {
            struct raft_propose_result res;
            int rc = raft_propose(nodes[leader - 1].r, "hello", 5, &res);
            if (rc == 0) {
                proposed = true;
                node_drain_ready(&nodes[leader - 1]);
            }
        }
        done = proposed;
        for (int i = 0; i < N; i++) done = done && nodes[i].n_applied == 1;
    }
    ck_assert_msg(proposed, "no leader elected within 5 s");
    ck_assert_msg(done, "proposal not applied on all nodes within 5 s");
    ck_assert_int_eq(count_leaders(&leader), 1);
    for (int i = 0; i < N; i++) ck_assert_str_eq(nodes[i].applied, "hello");
    event_free(tick);
    fixture_stop(base);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("raft_transport");
    TCase *tc = tcase_create("transport");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_delivery_fields_and_order);
    tcase_add_test(tc, test_peer_down_and_back);
    tcase_add_test(tc, test_bad_frames);
    tcase_add_test(tc, test_cluster_elects_and_commits);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

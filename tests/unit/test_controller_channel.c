/*
 * test_controller_channel.c — Check suite for controller/channel_int.h: a ctl_channel against
 * net_servers on 127.0.0.1 (free ports) in one process and one event_base.  Each test server
 * answers BrokerHeartbeatRequests with BrokerHeartbeatResponses whose error_code is
 * server id * 1000 + the request's broker_epoch, so a test sees which server answered which call.
 *
 * Covered: a simple call; 100 pipelined calls answered out of order; a late answer ignored and a
 * call made from a callback; a silent server (GR_ETIMEDOUT); a closed port (GR_EIO, the target
 * moves on, the endpoint is barred); a connect that never completes (GR_EIO after the connect
 * timeout); an undecodable and an oversized answer (GR_EIO, connection closed); set_target and a
 * connection drained after the target moved; free with calls pending (GR_ECANCELED, and no new call
 * from those callbacks).
 *
 * The loop runs until a condition holds (no fixed sleeps); the wall-clock bounds are generous.
 */
#include "controller/channel_int.h"
#include "net/net.h"

#include <arpa/inet.h>
#include <check.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define WAIT_MS 15000 /* wall-clock bound for anything that should take milliseconds */
#include "loop_test_util.h"
#define HELD_MAX 256
#define CALLS_MAX 128

/* ------------------------------------------------------------------------------------------ */
/* Test server                                                                                 */

enum srv_mode {
    SRV_ANSWER,  /* answer at once */
    SRV_SHUFFLE, /* epoch % 3 == 0 at once; the rest held, released in reverse in batches */
    SRV_HOLD,    /* hold every request until srv_release() */
    SRV_LATE,    /* hold the first request; answer it when the next arrives, then the next */
    SRV_SILENT,  /* never answer */
    SRV_GARBAGE, /* answer with bytes that are not a ControlFrame */
};

struct held {
    struct net_slot *slot;
    uint64_t correlation_id;
    int32_t code;
};

struct tsrv {
    int32_t id;
    struct event_base *base;
    struct net_server *srv;
    int port;
    enum srv_mode mode;
    int n_frames;
    struct arena arena;
    struct held held[HELD_MAX];
    int n_held;
    struct event *ev_release; /* SRV_SHUFFLE: releases a partial batch */
};

static void slot_answer(struct net_slot *slot, uint64_t correlation_id, int32_t code)
{
    Gregor__Control__BrokerHeartbeatResponse r = GREGOR__CONTROL__BROKER_HEARTBEAT_RESPONSE__INIT;
    r.error_code = code;
    Gregor__Control__ControlFrame f = GREGOR__CONTROL__CONTROL_FRAME__INIT;
    f.correlation_id = correlation_id;
    f.body_case = GREGOR__CONTROL__CONTROL_FRAME__BODY_BROKER_HEARTBEAT_RESPONSE;
    f.broker_heartbeat_response = &r;
    struct gbuf *b = net_slot_buf(slot);
    size_t n = protobuf_c_message_get_packed_size(&f.base);
    ck_assert_int_eq(gbuf_reserve(b, n), 0);
    b->len += protobuf_c_message_pack(&f.base, b->data + b->len);
    net_slot_done(slot);
}

/* Answers the held requests: slot k (wire position k) carries the answer to request n-1-k. */
static void srv_release(struct tsrv *s)
{
    int n = s->n_held;
    s->n_held = 0;
    for (int k = 0; k < n; k++)
        slot_answer(s->held[k].slot, s->held[n - 1 - k].correlation_id, s->held[n - 1 - k].code);
}

static void srv_on_release(evutil_socket_t fd, short what, void *arg)
{
    srv_release(arg);
}

static void srv_hold(struct tsrv *s, struct net_slot *slot, uint64_t cid, int32_t code)
{
    ck_assert_int_lt(s->n_held, HELD_MAX);
    s->held[s->n_held++] = (struct held){slot, cid, code};
}

static int srv_on_frame(void *ctx, struct net_conn *c, struct net_slot *slot, uint8_t *payload,
                        size_t len)
{
    struct tsrv *s = ctx;
    s->n_frames++;
    arena_reset(&s->arena);
    int err = 0;
    Gregor__Control__ControlFrame *f = (Gregor__Control__ControlFrame *)control_message_unpack(
        &gregor__control__control_frame__descriptor, payload, len, &s->arena, &err);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(f->body_case, GREGOR__CONTROL__CONTROL_FRAME__BODY_BROKER_HEARTBEAT_REQUEST);
    ck_assert_uint_ne(f->correlation_id, 0);
    uint64_t cid = f->correlation_id;
    int32_t code = s->id * 1000 + (int32_t)f->broker_heartbeat_request->broker_epoch;
    arena_reset(&s->arena);
    static const uint8_t garbage[] = {0x0a, 0x05, 0x01}; /* field 1: 5 bytes announced, 1 sent */
    switch (s->mode) {
    case SRV_ANSWER:
        slot_answer(slot, cid, code);
        break;
    case SRV_SHUFFLE:
        if (f->broker_heartbeat_request->broker_epoch % 3 == 0) {
            slot_answer(slot, cid, code);
            break;
        }
        srv_hold(s, slot, cid, code);
        if (s->n_held == 10) {
            srv_release(s);
        } else if (s->n_held == 1) {
            struct timeval tv = {0, 5 * 1000};
            evtimer_add(s->ev_release, &tv);
        }
        break;
    case SRV_HOLD:
        srv_hold(s, slot, cid, code);
        break;
    case SRV_LATE:
        if (s->n_held > 0) srv_release(s);
        if (s->n_frames == 1)
            srv_hold(s, slot, cid, code);
        else
            slot_answer(slot, cid, code);
        break;
    case SRV_SILENT:
        net_slot_done_silent(slot);
        break;
    case SRV_GARBAGE:
        ck_assert_int_eq(gbuf_append(net_slot_buf(slot), garbage, sizeof garbage), 0);
        net_slot_done(slot);
        break;
    }
    return 0;
}

static void srv_start(struct tsrv *s, struct event_base *base, int32_t id, enum srv_mode mode)
{
    memset(s, 0, sizeof *s);
    s->id = id;
    s->base = base;
    s->mode = mode;
    arena_init(&s->arena, 0);
    struct net_server_config cfg = {.frame_bytes_max = 1 << 20,
                                    .idle_ms_max = 0,
                                    .inflight_bytes_max = 1 << 20,
                                    .inflight_requests_max = 1024};
    s->srv = net_server_new(base, &cfg, srv_on_frame, s);
    ck_assert_ptr_nonnull(s->srv);
    char err[128];
    ck_assert_int_eq(net_server_listen(s->srv, "127.0.0.1", 0, &s->port, err, sizeof err), 0);
    s->ev_release = evtimer_new(base, srv_on_release, s);
    ck_assert_ptr_nonnull(s->ev_release);
}

static void srv_stop(struct tsrv *s)
{
    /* held slots must be completed while their server exists */
    for (int k = 0; k < s->n_held; k++)
        net_slot_done_silent(s->held[k].slot);
    s->n_held = 0;
    event_free(s->ev_release);
    net_server_free(s->srv);
    arena_close(&s->arena);
}

static struct ctl_endpoint endpoint(int32_t id, int port)
{
    struct ctl_endpoint e = {.id = id, .port = port};
    strfmt(e.host, sizeof e.host, "127.0.0.1");
    return e;
}

/* ------------------------------------------------------------------------------------------ */
/* Calls and the loop                                                                          */

struct tcall {
    struct trec *rec;
    int idx;
    int n_cb; /* callbacks run: must end at exactly 1 */
    int err;
    int32_t code;
};

struct trec {
    struct ctl_channel *ch;
    struct tcall calls[CALLS_MAX];
    int n_calls;
    int order[CALLS_MAX]; /* call indexes in callback order */
    int n_done;
    void (*then)(struct tcall *c); /* runs inside the callback (re-entrancy tests) */
};

static int in_call_depth; /* > 0 while ctl_channel_call runs */

static void on_answer(void *arg, int err, const Gregor__Control__ControlFrame *resp)
{
    struct tcall *c = arg;
    ck_assert_int_eq(in_call_depth, 0); /* never from inside ctl_channel_call */
    c->n_cb++;
    c->err = err;
    if (err == 0) {
        ck_assert_ptr_nonnull(resp);
        ck_assert_int_eq(resp->body_case,
                         GREGOR__CONTROL__CONTROL_FRAME__BODY_BROKER_HEARTBEAT_RESPONSE);
        c->code = resp->broker_heartbeat_response->error_code;
    } else {
        ck_assert_ptr_null(resp);
    }
    c->rec->order[c->rec->n_done++] = c->idx;
    if (c->rec->then) c->rec->then(c);
}

/* Sends a heartbeat with broker_epoch = the call's index; returns the call. */
static struct tcall *call(struct trec *r, int64_t timeout_ms)
{
    ck_assert_int_lt(r->n_calls, CALLS_MAX);
    struct tcall *c = &r->calls[r->n_calls];
    *c = (struct tcall){.rec = r, .idx = r->n_calls, .err = 1};
    r->n_calls++;
    Gregor__Control__BrokerHeartbeatRequest hb = GREGOR__CONTROL__BROKER_HEARTBEAT_REQUEST__INIT;
    hb.broker_id = 7;
    hb.broker_epoch = c->idx;
    Gregor__Control__ControlFrame f = GREGOR__CONTROL__CONTROL_FRAME__INIT;
    f.body_case = GREGOR__CONTROL__CONTROL_FRAME__BODY_BROKER_HEARTBEAT_REQUEST;
    f.broker_heartbeat_request = &hb;
    in_call_depth++;
    int rc = ctl_channel_call(r->ch, &f, timeout_ms, on_answer, c);
    in_call_depth--;
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_ne(f.correlation_id, 0);
    ck_assert_int_eq(c->n_cb, 0);
    return c;
}

static void assert_each_once(const struct trec *r)
{
    for (int i = 0; i < r->n_calls; i++)
        ck_assert_msg(r->calls[i].n_cb == 1, "call %d: %d callbacks", i, r->calls[i].n_cb);
}

/* ------------------------------------------------------------------------------------------ */
/* Tests                                                                                       */

START_TEST(test_simple_call)
{
    struct event_base *base = event_base_new();
    struct tsrv s;
    srv_start(&s, base, 1, SRV_ANSWER);
    struct ctl_endpoint eps[] = {endpoint(1, s.port)};
    static struct trec r;
    memset(&r, 0, sizeof r);
    r.ch = ctl_channel_new(base, eps, 1);
    ck_assert_ptr_nonnull(r.ch);
    ck_assert_int_eq(ctl_channel_target(r.ch), 1);
    struct tcall *c = call(&r, 5000);
    ck_assert(wait_count(base, &r.n_done, 1));
    ck_assert_int_eq(c->err, 0);
    ck_assert_int_eq(c->code, 1000);
    /* a second call reuses the connection */
    c = call(&r, 5000);
    ck_assert(wait_count(base, &r.n_done, 2));
    ck_assert_int_eq(c->err, 0);
    ck_assert_int_eq(c->code, 1001);
    ck_assert_int_eq(net_server_conn_count(s.srv), 1);
    pump_idle(base);
    assert_each_once(&r);
    ctl_channel_free(r.ch);
    srv_stop(&s);
    event_base_free(base);
}
END_TEST

START_TEST(test_bad_arguments)
{
    struct event_base *base = event_base_new();
    struct ctl_endpoint eps[CTL_CHANNEL_ENDPOINTS_MAX + 1];
    for (int i = 0; i <= CTL_CHANNEL_ENDPOINTS_MAX; i++)
        eps[i] = endpoint(i + 1, 9);
    ck_assert_ptr_null(ctl_channel_new(base, eps, 0));
    ck_assert_ptr_null(ctl_channel_new(base, eps, CTL_CHANNEL_ENDPOINTS_MAX + 1));
    struct ctl_endpoint bad = endpoint(0, 9);
    ck_assert_ptr_null(ctl_channel_new(base, &bad, 1));
    bad = endpoint(1, 0);
    ck_assert_ptr_null(ctl_channel_new(base, &bad, 1));
    struct ctl_endpoint dup[] = {endpoint(1, 9), endpoint(1, 10)};
    ck_assert_ptr_null(ctl_channel_new(base, dup, 2));
    struct ctl_channel *ch = ctl_channel_new(base, eps, CTL_CHANNEL_ENDPOINTS_MAX);
    ck_assert_ptr_nonnull(ch);
    Gregor__Control__ControlFrame f = GREGOR__CONTROL__CONTROL_FRAME__INIT;
    ck_assert_int_eq(ctl_channel_call(ch, &f, 0, on_answer, NULL), GR_EINVAL);
    ctl_channel_free(ch);
    ctl_channel_free(NULL);
    event_base_free(base);
}
END_TEST

START_TEST(test_pipelined_out_of_order)
{
    struct event_base *base = event_base_new();
    struct tsrv s;
    srv_start(&s, base, 2, SRV_SHUFFLE);
    struct ctl_endpoint eps[] = {endpoint(2, s.port)};
    static struct trec r;
    memset(&r, 0, sizeof r);
    r.ch = ctl_channel_new(base, eps, 1);
    enum { N_CALLS = 100 };
    for (int i = 0; i < N_CALLS; i++)
        call(&r, 10000);
    ck_assert_int_eq(r.n_done, 0);
    ck_assert_msg(wait_count(base, &r.n_done, N_CALLS), "%d of %d answered", r.n_done, N_CALLS);
    pump_idle(base);
    ck_assert_int_eq(r.n_done, N_CALLS);
    assert_each_once(&r);
    int inversions = 0;
    for (int i = 0; i < N_CALLS; i++) {
        ck_assert_int_eq(r.calls[i].err, 0);
        ck_assert_int_eq(r.calls[i].code, 2000 + i); /* each answer reached its own call */
        if (i > 0 && r.order[i] < r.order[i - 1]) inversions++;
    }
    ck_assert_int_gt(inversions, 0); /* and they did not come back in order */
    ck_assert_int_eq(s.n_frames, N_CALLS);
    ck_assert_int_eq(net_server_conn_count(s.srv), 1); /* all on one connection */
    ctl_channel_free(r.ch);
    srv_stop(&s);
    event_base_free(base);
}
END_TEST

/* The first call times out; its callback makes the second, whose arrival makes the server send
 * the first's (now unknown) answer, then the second's. */
static void then_call_again(struct tcall *c)
{
    if (c->idx == 0) {
        ck_assert_int_eq(c->err, GR_ETIMEDOUT);
        call(c->rec, 10000);
    }
}

START_TEST(test_timeout_and_late_answer)
{
    struct event_base *base = event_base_new();
    struct tsrv s;
    srv_start(&s, base, 3, SRV_LATE);
    struct ctl_endpoint eps[] = {endpoint(3, s.port)};
    static struct trec r;
    memset(&r, 0, sizeof r);
    r.ch = ctl_channel_new(base, eps, 1);
    r.then = then_call_again;
    call(&r, 100);
    ck_assert(wait_count(base, &r.n_done, 2));
    pump_idle(base);
    ck_assert_int_eq(r.n_calls, 2);
    assert_each_once(&r);
    ck_assert_int_eq(r.calls[0].err, GR_ETIMEDOUT);
    ck_assert_int_eq(r.calls[1].err, 0);
    ck_assert_int_eq(r.calls[1].code, 3001);
    ck_assert_int_eq(s.n_frames, 2);
    ck_assert_int_eq(net_server_conn_count(s.srv), 1); /* the late answer closed nothing */
    ctl_channel_free(r.ch);
    srv_stop(&s);
    event_base_free(base);
}
END_TEST

START_TEST(test_silent_server_times_out)
{
    struct event_base *base = event_base_new();
    struct tsrv s;
    srv_start(&s, base, 4, SRV_SILENT);
    struct ctl_endpoint eps[] = {endpoint(4, s.port)};
    static struct trec r;
    memset(&r, 0, sizeof r);
    r.ch = ctl_channel_new(base, eps, 1);
    int64_t t0 = time_mono_ms();
    call(&r, 100);
    call(&r, 150);
    ck_assert(wait_count(base, &r.n_done, 2));
    ck_assert_int_ge(time_mono_ms() - t0, 80); /* libevent's clock may be coarse */
    pump_idle(base);
    assert_each_once(&r);
    ck_assert_int_eq(r.calls[0].err, GR_ETIMEDOUT);
    ck_assert_int_eq(r.calls[1].err, GR_ETIMEDOUT);
    ck_assert_int_eq(ctl_channel_target(r.ch), 4);
    ctl_channel_free(r.ch);
    srv_stop(&s);
    event_base_free(base);
}
END_TEST

/* A target that leaves a call of CTL_CHANNEL_SILENT_MS unanswered (a controller cut off by the
 * network: no error, no EOF) is given up: the call times out, the target moves on, and the next
 * call is answered by the next controller. */
START_TEST(test_a_silent_target_is_given_up_after_a_long_call)
{
    struct event_base *base = event_base_new();
    struct tsrv mute, live;
    srv_start(&mute, base, 8, SRV_SILENT);
    srv_start(&live, base, 9, SRV_ANSWER);
    struct ctl_endpoint eps[] = {endpoint(8, mute.port), endpoint(9, live.port)};
    static struct trec r;
    memset(&r, 0, sizeof r);
    r.ch = ctl_channel_new(base, eps, 2);
    call(&r, CTL_CHANNEL_SILENT_MS);
    ck_assert(wait_count(base, &r.n_done, 1));
    ck_assert_int_eq(r.calls[0].err, GR_ETIMEDOUT);
    ck_assert_int_eq(ctl_channel_target(r.ch), 9);
    call(&r, 5000);
    ck_assert(wait_count(base, &r.n_done, 2));
    ck_assert_int_eq(r.calls[1].err, 0);
    ck_assert_int_eq(live.n_frames, 1);
    assert_each_once(&r);
    ctl_channel_free(r.ch);
    srv_stop(&mute);
    srv_stop(&live);
    event_base_free(base);
}
END_TEST

/* Inside the first failure: back to the endpoint that just failed.  It is barred (or, on a very
 * slow machine, refused again): either way the call fails with GR_EIO and the target moves. */
static void then_retry_failed(struct tcall *c)
{
    if (c->idx != 0) return;
    ck_assert_int_eq(c->err, GR_EIO);
    ck_assert_int_eq(ctl_channel_target(c->rec->ch), 6);
    ctl_channel_set_target(c->rec->ch, 5);
    ck_assert_int_eq(ctl_channel_target(c->rec->ch), 5);
    call(c->rec, 5000);
}

START_TEST(test_closed_port_then_next_endpoint)
{
    struct event_base *base = event_base_new();
    struct tsrv s;
    srv_start(&s, base, 6, SRV_ANSWER);
    struct ctl_endpoint eps[] = {endpoint(5, closed_port()), endpoint(6, s.port)};
    static struct trec r;
    memset(&r, 0, sizeof r);
    r.ch = ctl_channel_new(base, eps, 2);
    r.then = then_retry_failed;
    call(&r, 5000);
    ck_assert(wait_count(base, &r.n_done, 2));
    ck_assert_int_eq(r.calls[1].err, GR_EIO);
    ck_assert_int_eq(ctl_channel_target(r.ch), 6);
    r.then = NULL;
    struct tcall *c = call(&r, 5000);
    ck_assert(wait_count(base, &r.n_done, 3));
    ck_assert_int_eq(c->err, 0);
    ck_assert_int_eq(c->code, 6002);
    pump_idle(base);
    assert_each_once(&r);
    ctl_channel_free(r.ch);
    srv_stop(&s);
    event_base_free(base);
}
END_TEST

START_TEST(test_undecodable_answer)
{
    struct event_base *base = event_base_new();
    struct tsrv bad, good;
    srv_start(&bad, base, 7, SRV_GARBAGE);
    srv_start(&good, base, 8, SRV_ANSWER);
    struct ctl_endpoint eps[] = {endpoint(7, bad.port), endpoint(8, good.port)};
    static struct trec r;
    memset(&r, 0, sizeof r);
    r.ch = ctl_channel_new(base, eps, 2);
    call(&r, 5000);
    call(&r, 5000);
    ck_assert(wait_count(base, &r.n_done, 2));
    ck_assert_int_eq(r.calls[0].err, GR_EIO);
    ck_assert_int_eq(r.calls[1].err, GR_EIO);
    ck_assert_int_eq(ctl_channel_target(r.ch), 8);
    ck_assert(pump_until(base, pred_no_conns, bad.srv)); /* the channel closed it */
    struct tcall *c = call(&r, 5000);
    ck_assert(wait_count(base, &r.n_done, 3));
    ck_assert_int_eq(c->err, 0);
    ck_assert_int_eq(c->code, 8002);
    pump_idle(base);
    assert_each_once(&r);
    ctl_channel_free(r.ch);
    srv_stop(&bad);
    srv_stop(&good);
    event_base_free(base);
}
END_TEST

/* A listener with backlog 0 and one connection nobody accepts: Linux drops further SYNs, so a
 * connect there neither succeeds nor fails until CTL_CHANNEL_CONNECT_TIMEOUT_MS. */
START_TEST(test_connect_timeout)
{
    struct event_base *base = event_base_new();
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(lfd, 0), 0);
    socklen_t l = sizeof a;
    ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&a, &l), 0);
    int filler = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_eq(connect(filler, (struct sockaddr *)&a, sizeof a), 0);
    struct tsrv s;
    srv_start(&s, base, 16, SRV_ANSWER);
    struct ctl_endpoint eps[] = {endpoint(15, ntohs(a.sin_port)), endpoint(16, s.port)};
    static struct trec r;
    memset(&r, 0, sizeof r);
    r.ch = ctl_channel_new(base, eps, 2);
    int64_t t0 = time_mono_ms();
    call(&r, 30000);
    ck_assert(wait_count(base, &r.n_done, 1));
    ck_assert_int_ge(time_mono_ms() - t0, CTL_CHANNEL_CONNECT_TIMEOUT_MS - 100);
    ck_assert_int_eq(r.calls[0].err, GR_EIO);
    ck_assert_int_eq(ctl_channel_target(r.ch), 16);
    struct tcall *c = call(&r, 5000);
    ck_assert(wait_count(base, &r.n_done, 2));
    ck_assert_int_eq(c->code, 16001);
    pump_idle(base);
    assert_each_once(&r);
    ctl_channel_free(r.ch);
    srv_stop(&s);
    close(filler);
    close(lfd);
    event_base_free(base);
}
END_TEST

/* A raw listener whose accepted connections announce a frame of UINT32_MAX bytes. */
struct huge_srv {
    int lfd;
    int fds[4];
    int n_fds;
};

static void huge_on_accept(evutil_socket_t lfd, short what, void *arg)
{
    struct huge_srv *h = arg;
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0) return;
    ck_assert_int_lt(h->n_fds, 4);
    h->fds[h->n_fds++] = fd;
    static const uint8_t hdr[4] = {0xff, 0xff, 0xff, 0xff};
    ck_assert_int_eq(write(fd, hdr, sizeof hdr), 4);
}

START_TEST(test_oversized_answer)
{
    struct event_base *base = event_base_new();
    struct huge_srv h = {.lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)};
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(h.lfd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(h.lfd, 8), 0);
    socklen_t l = sizeof a;
    ck_assert_int_eq(getsockname(h.lfd, (struct sockaddr *)&a, &l), 0);
    struct event *ev = event_new(base, h.lfd, EV_READ | EV_PERSIST, huge_on_accept, &h);
    event_add(ev, NULL);
    struct ctl_endpoint eps[] = {endpoint(9, ntohs(a.sin_port))};
    static struct trec r;
    memset(&r, 0, sizeof r);
    r.ch = ctl_channel_new(base, eps, 1);
    call(&r, 5000);
    ck_assert(wait_count(base, &r.n_done, 1));
    ck_assert_int_eq(r.calls[0].err, GR_EIO);
    ck_assert_int_eq(ctl_channel_target(r.ch), 9); /* the only endpoint: round-robin to itself */
    pump_idle(base);
    assert_each_once(&r);
    ctl_channel_free(r.ch);
    event_free(ev);
    for (int i = 0; i < h.n_fds; i++)
        close(h.fds[i]);
    close(h.lfd);
    event_base_free(base);
}
END_TEST

/* Y's callback moves the target to 11 and calls Z there. */
static void then_move_to_11(struct tcall *c)
{
    if (c->idx != 1) return;
    ctl_channel_set_target(c->rec->ch, 11);
    call(c->rec, 5000);
}

START_TEST(test_set_target)
{
    struct event_base *base = event_base_new();
    struct tsrv s[3];
    srv_start(&s[0], base, 10, SRV_HOLD);
    srv_start(&s[1], base, 11, SRV_ANSWER);
    srv_start(&s[2], base, 12, SRV_ANSWER);
    struct ctl_endpoint eps[] = {endpoint(10, s[0].port), endpoint(11, s[1].port),
                                 endpoint(12, s[2].port)};
    static struct trec r;
    memset(&r, 0, sizeof r);
    r.ch = ctl_channel_new(base, eps, 3);
    ck_assert_int_eq(ctl_channel_target(r.ch), 10);

    struct tcall *x = call(&r, 10000); /* held by 10 */
    ck_assert(wait_count(base, &s[0].n_frames, 1));
    ctl_channel_set_target(r.ch, 12);
    ck_assert_int_eq(ctl_channel_target(r.ch), 12);
    r.then = then_move_to_11;
    call(&r, 5000); /* Y, to 12; its callback sends Z to 11 */
    ck_assert(wait_count(base, &r.n_done, 2));
    ck_assert_int_eq(r.n_calls, 3);
    ck_assert_int_eq(r.calls[1].err, 0);
    ck_assert_int_eq(r.calls[1].code, 12001);
    ck_assert_int_eq(r.calls[2].err, 0);
    ck_assert_int_eq(r.calls[2].code, 11002);
    ck_assert_int_eq(ctl_channel_target(r.ch), 11);
    /* 12 had nothing pending when the target left it: closed at once */
    ck_assert(pump_until(base, pred_no_conns, s[2].srv));
    /* 10 still has X: its connection stays until X is answered, then closes */
    ck_assert_int_eq(x->n_cb, 0);
    ck_assert_int_eq(net_server_conn_count(s[0].srv), 1);
    srv_release(&s[0]);
    ck_assert(wait_count(base, &r.n_done, 3));
    ck_assert_int_eq(x->err, 0);
    ck_assert_int_eq(x->code, 10000);
    ck_assert(pump_until(base, pred_no_conns, s[0].srv));

    /* 0 and unknown ids advance round-robin; a known id is taken as is */
    ctl_channel_set_target(r.ch, 0);
    ck_assert_int_eq(ctl_channel_target(r.ch), 12);
    ctl_channel_set_target(r.ch, 99);
    ck_assert_int_eq(ctl_channel_target(r.ch), 10);
    ctl_channel_set_target(r.ch, 10);
    ck_assert_int_eq(ctl_channel_target(r.ch), 10);
    ctl_channel_set_target(r.ch, 11);
    ck_assert_int_eq(ctl_channel_target(r.ch), 11);
    r.then = NULL;
    struct tcall *w = call(&r, 5000);
    ck_assert(wait_count(base, &r.n_done, 4));
    ck_assert_int_eq(w->code, 11003);
    pump_idle(base);
    assert_each_once(&r);
    ctl_channel_free(r.ch);
    for (int i = 0; i < 3; i++)
        srv_stop(&s[i]);
    event_base_free(base);
}
END_TEST

/* During ctl_channel_free a callback may not start a call. */
static void then_call_refused(struct tcall *c)
{
    ck_assert_int_eq(c->err, GR_ECANCELED);
    Gregor__Control__ControlFrame f = GREGOR__CONTROL__CONTROL_FRAME__INIT;
    ck_assert_int_eq(ctl_channel_call(c->rec->ch, &f, 1000, on_answer, c), GR_ECANCELED);
    ctl_channel_set_target(c->rec->ch, 0); /* a no-op */
}

START_TEST(test_free_cancels_pending)
{
    struct event_base *base = event_base_new();
    struct tsrv s;
    srv_start(&s, base, 13, SRV_HOLD);
    struct ctl_endpoint eps[] = {endpoint(13, s.port), endpoint(14, closed_port())};
    static struct trec r;
    memset(&r, 0, sizeof r);
    r.ch = ctl_channel_new(base, eps, 2);
    for (int i = 0; i < 3; i++)
        call(&r, 10000);
    ck_assert(wait_count(base, &s.n_frames, 3));
    /* one more to 14 (refused): its failure is queued, or already on its way */
    ctl_channel_set_target(r.ch, 14);
    call(&r, 10000);
    ck_assert_int_eq(r.n_done, 0);
    r.then = then_call_refused;
    ctl_channel_free(r.ch);
    ck_assert_int_eq(r.n_done, 4); /* inside ctl_channel_free */
    assert_each_once(&r);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(r.calls[i].err, GR_ECANCELED);
    srv_stop(&s);
    event_base_free(base);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("controller_channel");
    TCase *tc = tcase_create("channel");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_simple_call);
    tcase_add_test(tc, test_bad_arguments);
    tcase_add_test(tc, test_pipelined_out_of_order);
    tcase_add_test(tc, test_timeout_and_late_answer);
    tcase_add_test(tc, test_a_silent_target_is_given_up_after_a_long_call);
    tcase_add_test(tc, test_silent_server_times_out);
    tcase_add_test(tc, test_closed_port_then_next_endpoint);
    tcase_add_test(tc, test_undecodable_answer);
    tcase_add_test(tc, test_oversized_answer);
    tcase_add_test(tc, test_connect_timeout);
    tcase_add_test(tc, test_set_target);
    tcase_add_test(tc, test_free_cancels_pending);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

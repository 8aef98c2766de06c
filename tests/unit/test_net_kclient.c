/*
 * test_net_kclient.c — Check suite for net_kclient (net/net.h): a client against net_servers on
 * 127.0.0.1 (free ports) in one process and one event_base.  The test server decodes every
 * request with the header version the generated table gives (so a client using the wrong one
 * fails the decode), checks the client id, and answers with the generated encoders:
 *   ApiVersions v0 / v3  (request header v1 / v2, response header v0 for both)
 *       api_keys end with a marker {10000 + server id, 0, the request's sequence number on the
 *       server}; v3 also echoes client_software_name as a supported feature's name;
 *   Metadata v12         (request header v2, response header v1)
 *       controller_id = server id, the requested topic names echoed;
 *   Fetch v12            (request header v2, response header v1)
 *       one partition whose records are max_bytes bytes of a known pattern (the 20 MB test).
 *
 * Covered: both ApiVersions versions and Metadata v12 on one connection; 99 pipelined calls of
 * mixed header versions, completed out of order by the server; a timeout whose late answer is
 * dropped while a call made from its callback gets its own; the server closing the connection
 * (GR_EIO, the 100 ms retry bar, then a reconnect); a wrong correlation id and an undecodable
 * response header (GR_EIO, the connection closed); set_address, also from a callback; free with
 * calls pending (GR_ECANCELED); a 20 MB response; an idle connection closed by the server (no
 * failure); a server that stops answering (closed after NET_KCLIENT_ORPHANS_MAX timeouts); bad
 * arguments.
 *
 * The loop runs until a condition holds (no fixed sleeps); the wall-clock bounds are generous.
 */
#include "net/net.h"
#include "proto/proto.h"

#include <arpa/inet.h>
#include <check.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define WAIT_MS 15000 /* wall-clock bound for anything that should take milliseconds */
#include "loop_test_util.h"
#define HELD_MAX 256
#define CALLS_MAX 128
#define CLIENT_ID "test-client"
#define BIG_BYTES (20 * 1000 * 1000)

NET_KCLIENT_ENCODER(kafka_api_versions_request)
NET_KCLIENT_ENCODER(kafka_metadata_request)
NET_KCLIENT_ENCODER(kafka_fetch_request)

static uint8_t pattern_byte(size_t i)
{
    return (uint8_t)((i * 131u + 7u) ^ (i >> 13));
}

/* ------------------------------------------------------------------------------------------ */
/* Test server                                                                                 */

enum srv_mode {
    SRV_ANSWER,      /* answer at once */
    SRV_SHUFFLE,     /* seq % 3 == 0 at once; the rest held, completed in reverse in batches */
    SRV_HOLD,        /* hold every answer until srv_release() */
    SRV_LATE,        /* hold the first answer; complete it when the next request arrives */
    SRV_CLOSE,       /* close the connection on every request */
    SRV_BAD_CID,     /* answer with the correlation id + 1 */
    SRV_SHORT_HEADER /* answer with a 2-byte frame: no room for a correlation id */
};

struct tsrv {
    int32_t id;
    struct event_base *base;
    struct net_server *srv;
    int port;
    enum srv_mode mode;
    int n_frames;
    struct arena arena;
    uint8_t *big; /* Fetch records, BIG_BYTES of the pattern */
    struct net_slot *held[HELD_MAX];
    int n_held;
    struct event *ev_release; /* SRV_SHUFFLE: releases a partial batch */
};

/* Completes the held answers, last held first (net_server still writes them in order). */
static void srv_release(struct tsrv *s)
{
    int n = s->n_held;
    s->n_held = 0;
    for (int k = n - 1; k >= 0; k--)
        net_slot_done(s->held[k]);
}

static void srv_on_release(evutil_socket_t fd, short what, void *arg)
{
    srv_release(arg);
}

static void srv_hold(struct tsrv *s, struct net_slot *slot)
{
    ck_assert_int_lt(s->n_held, HELD_MAX);
    s->held[s->n_held++] = slot;
}

static void answer_api_versions(struct tsrv *s, struct kafka_reader *r, int16_t ver, int seq,
                                struct kafka_writer *w)
{
    struct kafka_api_versions_request req;
    ck_assert_int_eq(kafka_api_versions_request_decode(r, ver, &req), 0);
    struct kafka_api_versions_response_api_version keys[3] = {
        {KAFKA_API_API_VERSIONS, 0, 4},
        {KAFKA_API_METADATA, 0, 12},
        {(int16_t)(10000 + s->id), 0, (int16_t)seq},
    };
    struct kafka_api_versions_response_supported_feature_key feature;
    kafka_api_versions_response_supported_feature_key_init(&feature);
    feature.name = req.client_software_name;
    feature.max_version = 1;
    struct kafka_api_versions_response resp;
    kafka_api_versions_response_init(&resp);
    resp.api_keys = keys;
    resp.api_keys_count = 3;
    if (ver >= 3) {
        resp.supported_features = &feature;
        resp.supported_features_count = 1;
    }
    ck_assert_int_eq(kafka_api_versions_response_encode(w, ver, &resp), 0);
}

static void answer_metadata(struct tsrv *s, struct kafka_reader *r, int16_t ver,
                            struct kafka_writer *w)
{
    struct kafka_metadata_request req;
    ck_assert_int_eq(kafka_metadata_request_decode(r, ver, &req), 0);
    ck_assert_int_ge(req.topics_count, 0);
    struct kafka_metadata_response_broker broker;
    kafka_metadata_response_broker_init(&broker);
    broker.node_id = s->id;
    broker.host = KSTR("127.0.0.1");
    broker.port = s->port;
    struct kafka_metadata_response_topic *topics =
        arena_calloc(&s->arena, (size_t)req.topics_count + 1, sizeof *topics);
    ck_assert_ptr_nonnull(topics);
    for (int32_t i = 0; i < req.topics_count; i++) {
        kafka_metadata_response_topic_init(&topics[i]);
        topics[i].name = req.topics[i].name;
    }
    struct kafka_metadata_response resp;
    kafka_metadata_response_init(&resp);
    resp.brokers = &broker;
    resp.brokers_count = 1;
    resp.cluster_id = KSTR("gregor-test");
    resp.controller_id = s->id;
    resp.topics = topics;
    resp.topics_count = req.topics_count;
    ck_assert_int_eq(kafka_metadata_response_encode(w, ver, &resp), 0);
}

static void answer_fetch(struct tsrv *s, struct kafka_reader *r, int16_t ver,
                         struct kafka_writer *w)
{
    struct kafka_fetch_request req;
    ck_assert_int_eq(kafka_fetch_request_decode(r, ver, &req), 0);
    ck_assert_int_eq(req.topics_count, 1);
    ck_assert_int_le(req.max_bytes, BIG_BYTES);
    if (!s->big) {
        s->big = malloc(BIG_BYTES);
        ck_assert_ptr_nonnull(s->big);
        for (size_t i = 0; i < BIG_BYTES; i++)
            s->big[i] = pattern_byte(i);
    }
    struct kafka_fetch_response_partition_data part;
    kafka_fetch_response_partition_data_init(&part);
    part.high_watermark = 42;
    part.records = (struct kafka_records){s->big, req.max_bytes, -1, 0};
    struct kafka_fetch_response_fetchable_topic_response topic;
    kafka_fetch_response_fetchable_topic_response_init(&topic);
    topic.topic = req.topics[0].topic;
    topic.partitions = &part;
    topic.partitions_count = 1;
    struct kafka_fetch_response resp;
    kafka_fetch_response_init(&resp);
    resp.responses = &topic;
    resp.responses_count = 1;
    ck_assert_int_eq(kafka_fetch_response_encode(w, ver, &resp), 0);
}

static int srv_on_frame(void *ctx, struct net_conn *c, struct net_slot *slot, uint8_t *payload,
                        size_t len)
{
    struct tsrv *s = ctx;
    int seq = s->n_frames++;
    if (s->mode == SRV_CLOSE) return 1; /* net_server completes the slot and closes */
    ck_assert_uint_ge(len, 4);
    int16_t key = (int16_t)be16_get(payload);
    int16_t ver = (int16_t)be16_get(payload + 2);
    arena_reset(&s->arena);
    struct kafka_reader r;
    kafka_reader_init(&r, payload, len, &s->arena);
    struct kafka_request_header h;
    kafka_request_header_decode(&r, kafka_request_header_version(key, ver), &h);
    ck_assert_int_eq(r.err, 0);
    ck_assert(kstr_eq(h.client_id, CLIENT_ID));
    struct gbuf *b = net_slot_buf(slot);
    struct kafka_writer w;
    kafka_writer_init(&w, b);
    if (s->mode == SRV_SHORT_HEADER) {
        kafka_write_i16(&w, 7);
        net_slot_done(slot);
        return 0;
    }
    int32_t cid = h.correlation_id + (s->mode == SRV_BAD_CID ? 1 : 0);
    kafka_response_header_encode(&w, kafka_response_header_version(key, ver), cid);
    switch (key) {
    case KAFKA_API_API_VERSIONS:
        answer_api_versions(s, &r, ver, seq, &w);
        break;
    case KAFKA_API_METADATA:
        answer_metadata(s, &r, ver, &w);
        break;
    case KAFKA_API_FETCH:
        answer_fetch(s, &r, ver, &w);
        break;
    default:
        ck_abort_msg("unexpected api key %d", key);
    }
    ck_assert_int_eq(kafka_reader_left(&r), 0); /* the whole request was read */
    ck_assert_int_eq(w.err, 0);
    arena_reset(&s->arena);
    switch (s->mode) {
    case SRV_SHUFFLE:
        if (seq % 3 == 0) {
            net_slot_done(slot);
            break;
        }
        srv_hold(s, slot);
        if (s->n_held == 10) {
            srv_release(s);
        } else if (s->n_held == 1) {
            struct timeval tv = {0, 5 * 1000};
            evtimer_add(s->ev_release, &tv);
        }
        break;
    case SRV_HOLD:
        srv_hold(s, slot);
        break;
    case SRV_LATE:
        if (s->n_held > 0) srv_release(s);
        if (seq == 0)
            srv_hold(s, slot);
        else
            net_slot_done(slot);
        break;
    default:
        net_slot_done(slot);
    }
    return 0;
}

static void srv_start_cfg(struct tsrv *s, struct event_base *base, int32_t id, enum srv_mode mode,
                          int64_t idle_ms_max)
{
    memset(s, 0, sizeof *s);
    s->id = id;
    s->base = base;
    s->mode = mode;
    arena_init(&s->arena, 0);
    struct net_server_config cfg = {.frame_bytes_max = 1 << 20,
                                    .idle_ms_max = idle_ms_max,
                                    .inflight_bytes_max = 1 << 20,
                                    .inflight_requests_max = 1024};
    s->srv = net_server_new(base, &cfg, srv_on_frame, s);
    ck_assert_ptr_nonnull(s->srv);
    char err[128];
    ck_assert_int_eq(net_server_listen(s->srv, "127.0.0.1", 0, &s->port, err, sizeof err), 0);
    s->ev_release = evtimer_new(base, srv_on_release, s);
    ck_assert_ptr_nonnull(s->ev_release);
}

static void srv_start(struct tsrv *s, struct event_base *base, int32_t id, enum srv_mode mode)
{
    srv_start_cfg(s, base, id, mode, 0);
}

static void srv_stop(struct tsrv *s)
{
    /* held slots must be completed while their server exists */
    for (int k = 0; k < s->n_held; k++)
        net_slot_done_silent(s->held[k]);
    s->n_held = 0;
    event_free(s->ev_release);
    net_server_free(s->srv);
    arena_close(&s->arena);
    free(s->big);
}

/* ------------------------------------------------------------------------------------------ */
/* Calls and the loop                                                                          */

enum tkind { T_APIV0, T_APIV3, T_META, T_FETCH };

struct tcall {
    struct trec *rec;
    int idx;
    enum tkind kind;
    int n_cb; /* callbacks run: must end at exactly 1 */
    int err;
    int32_t server_id; /* from the answer */
    int32_t seq;       /* ApiVersions: the request's sequence number on the server */
    char echo[64];     /* client_software_name (v3) or the topic name (Metadata, Fetch) */
    size_t records_bytes;
    bool records_ok;
};

struct trec {
    struct net_kclient *kc;
    struct tcall calls[CALLS_MAX];
    int n_calls;
    int n_done;
    void (*then)(struct tcall *c); /* runs inside the callback (re-entrancy tests) */
};

static int in_call_depth; /* > 0 while net_kclient_call runs */
static struct arena cb_arena;

static void echo_copy(struct tcall *c, struct kafka_str s)
{
    ck_assert_int_ge(s.len, 0);
    ck_assert_int_lt(s.len, (int32_t)sizeof c->echo);
    memcpy(c->echo, s.ptr, (size_t)s.len);
    c->echo[s.len] = '\0';
}

/* Decodes the body with the call's API and version; every byte must be used. */
static void decode_answer(struct tcall *c, const uint8_t *body, size_t len)
{
    arena_reset(&cb_arena);
    struct kafka_reader r;
    kafka_reader_init(&r, body, len, &cb_arena);
    switch (c->kind) {
    case T_APIV0:
    case T_APIV3: {
        int16_t ver = c->kind == T_APIV0 ? 0 : 3;
        struct kafka_api_versions_response resp;
        ck_assert_int_eq(kafka_api_versions_response_decode(&r, ver, &resp), 0);
        ck_assert_int_eq(resp.api_keys_count, 3);
        c->server_id = resp.api_keys[2].api_key - 10000;
        c->seq = resp.api_keys[2].max_version;
        if (ver >= 3) {
            ck_assert_int_eq(resp.supported_features_count, 1);
            echo_copy(c, resp.supported_features[0].name);
        }
        break;
    }
    case T_META: {
        struct kafka_metadata_response resp;
        ck_assert_int_eq(kafka_metadata_response_decode(&r, 12, &resp), 0);
        ck_assert(kstr_eq(resp.cluster_id, "gregor-test"));
        ck_assert_int_eq(resp.brokers_count, 1);
        ck_assert_int_eq(resp.brokers[0].node_id, resp.controller_id);
        ck_assert_int_eq(resp.topics_count, 1);
        c->server_id = resp.controller_id;
        echo_copy(c, resp.topics[0].name);
        break;
    }
    case T_FETCH: {
        struct kafka_fetch_response resp;
        ck_assert_int_eq(kafka_fetch_response_decode(&r, 12, &resp), 0);
        ck_assert_int_eq(resp.responses_count, 1);
        ck_assert_int_eq(resp.responses[0].partitions_count, 1);
        echo_copy(c, resp.responses[0].topic);
        const struct kafka_fetch_response_partition_data *p = &resp.responses[0].partitions[0];
        ck_assert_int_eq(p->high_watermark, 42);
        ck_assert_int_ge(p->records.len, 0);
        c->records_bytes = (size_t)p->records.len;
        c->records_ok = true;
        for (size_t i = 0; i < c->records_bytes && c->records_ok; i++)
            c->records_ok = p->records.ptr[i] == pattern_byte(i);
        break;
    }
    }
    ck_assert_int_eq(kafka_reader_left(&r), 0);
    arena_reset(&cb_arena);
}

static void on_answer(void *arg, int err, const uint8_t *body, size_t len)
{
    struct tcall *c = arg;
    ck_assert_int_eq(in_call_depth, 0); /* never from inside net_kclient_call */
    c->n_cb++;
    c->err = err;
    if (err == 0) {
        ck_assert_ptr_nonnull(body);
        decode_answer(c, body, len);
    } else {
        ck_assert_ptr_null(body);
        ck_assert_uint_eq(len, 0);
    }
    c->rec->n_done++;
    if (c->rec->then) c->rec->then(c);
}

/* Starts a call of the given kind, tagged with its index (echoed back where the API can);
 * returns net_kclient_call's result in *rc_out if given, else asserts 0. */
static struct tcall *call_rc(struct trec *r, enum tkind kind, int64_t timeout_ms, int *rc_out)
{
    ck_assert_int_lt(r->n_calls, CALLS_MAX);
    struct tcall *c = &r->calls[r->n_calls];
    *c = (struct tcall){.rec = r, .idx = r->n_calls, .kind = kind, .err = 1, .seq = -1};
    r->n_calls++;
    char tag[32];
    strfmt(tag, sizeof tag, "call-%d", c->idx);
    int rc;
    in_call_depth++;
    switch (kind) {
    case T_APIV0:
    case T_APIV3: {
        struct kafka_api_versions_request req;
        kafka_api_versions_request_init(&req);
        req.client_software_name = KSTR(tag);
        req.client_software_version = KSTR("1.0");
        rc =
            net_kclient_call(r->kc, KAFKA_API_API_VERSIONS, kind == T_APIV0 ? 0 : 3,
                             kafka_api_versions_request_encode_any, &req, timeout_ms, on_answer, c);
        break;
    }
    case T_META: {
        struct kafka_metadata_request_topic topic;
        kafka_metadata_request_topic_init(&topic);
        topic.name = KSTR(tag);
        struct kafka_metadata_request req;
        kafka_metadata_request_init(&req);
        req.topics = &topic;
        req.topics_count = 1;
        rc = net_kclient_call(r->kc, KAFKA_API_METADATA, 12, kafka_metadata_request_encode_any,
                              &req, timeout_ms, on_answer, c);
        break;
    }
    case T_FETCH:
    default: {
        struct kafka_fetch_request_fetch_partition part;
        kafka_fetch_request_fetch_partition_init(&part);
        part.partition_max_bytes = BIG_BYTES;
        struct kafka_fetch_request_fetch_topic topic;
        kafka_fetch_request_fetch_topic_init(&topic);
        topic.topic = KSTR(tag);
        topic.partitions = &part;
        topic.partitions_count = 1;
        struct kafka_fetch_request req;
        kafka_fetch_request_init(&req);
        req.replica_id = 2;
        req.max_bytes = BIG_BYTES;
        req.topics = &topic;
        req.topics_count = 1;
        rc = net_kclient_call(r->kc, KAFKA_API_FETCH, 12, kafka_fetch_request_encode_any, &req,
                              timeout_ms, on_answer, c);
        break;
    }
    }
    in_call_depth--;
    if (rc_out)
        *rc_out = rc;
    else
        ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(c->n_cb, 0);
    return c;
}

static struct tcall *call(struct trec *r, enum tkind kind, int64_t timeout_ms)
{
    return call_rc(r, kind, timeout_ms, NULL);
}

static bool pred_time_reached(const void *arg)
{
    return time_mono_ms() >= *(const int64_t *)arg;
}

static bool pred_disconnected(const void *arg)
{
    return !net_kclient_connected(arg);
}

static void assert_each_once(const struct trec *r)
{
    for (int i = 0; i < r->n_calls; i++)
        ck_assert_msg(r->calls[i].n_cb == 1, "call %d: %d callbacks", i, r->calls[i].n_cb);
}

static struct trec *rec_new(struct event_base *base, int port)
{
    static struct trec r;
    memset(&r, 0, sizeof r);
    r.kc = net_kclient_new(base, "127.0.0.1", port, CLIENT_ID);
    ck_assert_ptr_nonnull(r.kc);
    return &r;
}

/* ------------------------------------------------------------------------------------------ */
/* Tests                                                                                       */

START_TEST(test_api_versions_and_metadata)
{
    struct event_base *base = event_base_new();
    struct tsrv s;
    srv_start(&s, base, 1, SRV_ANSWER);
    struct trec *r = rec_new(base, s.port);
    ck_assert(!net_kclient_connected(r->kc)); /* lazy: nothing before the first call */
    pump_idle(base);
    ck_assert_int_eq(net_server_conn_count(s.srv), 0);

    struct tcall *v0 = call(r, T_APIV0, 5000);
    ck_assert(wait_count(base, &r->n_done, 1));
    ck_assert_int_eq(v0->err, 0);
    ck_assert_int_eq(v0->server_id, 1);
    ck_assert_int_eq(v0->seq, 0);
    ck_assert(net_kclient_connected(r->kc));

    struct tcall *v3 = call(r, T_APIV3, 5000);
    ck_assert(wait_count(base, &r->n_done, 2));
    ck_assert_int_eq(v3->err, 0);
    ck_assert_int_eq(v3->seq, 1);
    ck_assert_str_eq(v3->echo, "call-1");

    struct tcall *md = call(r, T_META, 5000);
    ck_assert(wait_count(base, &r->n_done, 3));
    ck_assert_int_eq(md->err, 0);
    ck_assert_int_eq(md->server_id, 1);
    ck_assert_str_eq(md->echo, "call-2");

    ck_assert_int_eq(net_server_conn_count(s.srv), 1); /* all on one connection */
    pump_idle(base);
    assert_each_once(r);
    net_kclient_free(r->kc);
    srv_stop(&s);
    event_base_free(base);
}
END_TEST

START_TEST(test_pipelined)
{
    struct event_base *base = event_base_new();
    struct tsrv s;
    srv_start(&s, base, 2, SRV_SHUFFLE);
    struct trec *r = rec_new(base, s.port);
    enum { N_CALLS = 99 };
    for (int i = 0; i < N_CALLS; i++) /* header versions v1/v2 and v0/v1 interleaved */
        call(r, (enum tkind)(i % 3), 10000);
    ck_assert_int_eq(r->n_done, 0);
    ck_assert_msg(wait_count(base, &r->n_done, N_CALLS), "%d of %d answered", r->n_done, N_CALLS);
    pump_idle(base);
    assert_each_once(r);
    for (int i = 0; i < N_CALLS; i++) {
        struct tcall *c = &r->calls[i];
        char tag[32];
        strfmt(tag, sizeof tag, "call-%d", i);
        ck_assert_int_eq(c->err, 0);
        if (c->kind == T_APIV0 || c->kind == T_APIV3)
            ck_assert_int_eq(c->seq, i); /* each answer reached its own call */
        else
            ck_assert_int_eq(c->server_id, 2);
        if (c->kind != T_APIV0) ck_assert_str_eq(c->echo, tag);
    }
    ck_assert_int_eq(s.n_frames, N_CALLS);
    ck_assert_int_eq(net_server_conn_count(s.srv), 1);
    net_kclient_free(r->kc);
    srv_stop(&s);
    event_base_free(base);
}
END_TEST

/* The first call times out; its callback makes the second, whose arrival makes the server send
 * the first's answer (to be dropped), then the second's. */
static void then_call_again(struct tcall *c)
{
    if (c->idx == 0) {
        ck_assert_int_eq(c->err, GR_ETIMEDOUT);
        call(c->rec, T_META, 10000);
    }
}

START_TEST(test_timeout_then_own_answer)
{
    struct event_base *base = event_base_new();
    struct tsrv s;
    srv_start(&s, base, 3, SRV_LATE);
    struct trec *r = rec_new(base, s.port);
    r->then = then_call_again;
    int64_t t0 = time_mono_ms();
    call(r, T_META, 100);
    ck_assert(wait_count(base, &r->n_done, 2));
    ck_assert_int_ge(time_mono_ms() - t0, 80); /* libevent's clock may be coarse */
    pump_idle(base);
    ck_assert_int_eq(r->n_calls, 2);
    assert_each_once(r);
    ck_assert_int_eq(r->calls[0].err, GR_ETIMEDOUT);
    ck_assert_int_eq(r->calls[1].err, 0);
    ck_assert_str_eq(r->calls[1].echo, "call-1"); /* its own answer, not call 0's */
    ck_assert_int_eq(s.n_frames, 2);
    /* the late answer closed nothing, and the connection is still in step */
    ck_assert_int_eq(net_server_conn_count(s.srv), 1);
    ck_assert(net_kclient_connected(r->kc));
    r->then = NULL;
    struct tcall *c = call(r, T_APIV0, 5000);
    ck_assert(wait_count(base, &r->n_done, 3));
    ck_assert_int_eq(c->err, 0);
    ck_assert_int_eq(c->seq, 2);
    net_kclient_free(r->kc);
    srv_stop(&s);
    event_base_free(base);
}
END_TEST

/* Inside the failure: a call at once is refused by the retry bar without reaching the server. */
static void then_retry_at_once(struct tcall *c)
{
    if (c->idx == 0) {
        ck_assert_int_eq(c->err, GR_EIO);
        call(c->rec, T_META, 5000);
    }
}

START_TEST(test_server_closes)
{
    struct event_base *base = event_base_new();
    struct tsrv s;
    srv_start(&s, base, 4, SRV_CLOSE);
    struct trec *r = rec_new(base, s.port);
    r->then = then_retry_at_once;
    call(r, T_META, 5000);
    ck_assert(wait_count(base, &r->n_done, 2));
    ck_assert_int_eq(r->calls[0].err, GR_EIO);
    ck_assert_int_eq(r->calls[1].err, GR_EIO);
    ck_assert_int_eq(s.n_frames, 1); /* the second never left: barred */
    ck_assert(!net_kclient_connected(r->kc));
    r->then = NULL;
    /* after NET_KCLIENT_RETRY_MS the next call reconnects */
    s.mode = SRV_ANSWER;
    int64_t later = time_mono_ms() + NET_KCLIENT_RETRY_MS + 20;
    ck_assert(pump_until(base, pred_time_reached, &later));
    struct tcall *c = call(r, T_META, 5000);
    ck_assert(wait_count(base, &r->n_done, 3));
    ck_assert_int_eq(c->err, 0);
    ck_assert_str_eq(c->echo, "call-2");
    ck_assert(net_kclient_connected(r->kc));
    pump_idle(base);
    assert_each_once(r);
    net_kclient_free(r->kc);
    srv_stop(&s);
    event_base_free(base);
}
END_TEST

START_TEST(test_connect_refused)
{
    struct event_base *base = event_base_new();
    struct trec *r = rec_new(base, closed_port());
    call(r, T_APIV0, 5000);
    call(r, T_APIV3, 5000);
    ck_assert(wait_count(base, &r->n_done, 2));
    ck_assert_int_eq(r->calls[0].err, GR_EIO);
    ck_assert_int_eq(r->calls[1].err, GR_EIO);
    ck_assert(!net_kclient_connected(r->kc));
    pump_idle(base);
    assert_each_once(r);
    net_kclient_free(r->kc);
    event_base_free(base);
}
END_TEST

/* A wrong correlation id and a header too short for one: both close the connection. */
START_TEST(test_bad_answers)
{
    static const enum srv_mode modes[] = {SRV_BAD_CID, SRV_SHORT_HEADER};
    for (size_t m = 0; m < GR_ARRAY_LEN(modes); m++) {
        struct event_base *base = event_base_new();
        struct tsrv s;
        srv_start(&s, base, 5, modes[m]);
        struct trec *r = rec_new(base, s.port);
        call(r, T_META, 5000);
        call(r, T_APIV0, 5000);
        ck_assert(wait_count(base, &r->n_done, 2));
        ck_assert_int_eq(r->calls[0].err, GR_EIO);
        ck_assert_int_eq(r->calls[1].err, GR_EIO);
        ck_assert(pump_until(base, pred_no_conns, s.srv)); /* the client closed it */
        ck_assert(!net_kclient_connected(r->kc));
        pump_idle(base);
        assert_each_once(r);
        net_kclient_free(r->kc);
        srv_stop(&s);
        event_base_free(base);
    }
}
END_TEST

static int port_a, port_b;

/* Call 2's callback moves back to A and calls there. */
static void then_move_back(struct tcall *c)
{
    if (c->idx != 2) return;
    net_kclient_set_address(c->rec->kc, "127.0.0.1", port_a);
    call(c->rec, T_META, 5000);
}

START_TEST(test_set_address)
{
    struct event_base *base = event_base_new();
    struct tsrv a, b;
    srv_start(&a, base, 6, SRV_HOLD);
    srv_start(&b, base, 7, SRV_ANSWER);
    port_a = a.port;
    port_b = b.port;
    struct trec *r = rec_new(base, a.port);
    call(r, T_META, 10000); /* held by A */
    call(r, T_META, 10000);
    ck_assert(wait_count(base, &a.n_frames, 2));
    net_kclient_set_address(r->kc, "127.0.0.1", b.port);
    ck_assert_int_eq(r->n_done, 0); /* failed from the loop, not inside set_address */
    ck_assert(!net_kclient_connected(r->kc));
    ck_assert(wait_count(base, &r->n_done, 2));
    ck_assert_int_eq(r->calls[0].err, GR_EIO);
    ck_assert_int_eq(r->calls[1].err, GR_EIO);
    ck_assert(pump_until(base, pred_no_conns, a.srv));
    srv_release(&a); /* the held slots: their connection is gone */

    /* at once to B (no retry bar: B never failed); its callback moves back to A */
    a.mode = SRV_ANSWER;
    r->then = then_move_back;
    struct tcall *c2 = call(r, T_META, 5000);
    ck_assert(wait_count(base, &r->n_done, 4));
    ck_assert_int_eq(c2->err, 0);
    ck_assert_int_eq(c2->server_id, 7);
    ck_assert_int_eq(r->calls[3].err, 0);
    ck_assert_int_eq(r->calls[3].server_id, 6);
    ck_assert(pump_until(base, pred_no_conns, b.srv));
    ck_assert_int_eq(net_server_conn_count(a.srv), 1);

    /* the same address again: nothing changes */
    r->then = NULL;
    net_kclient_set_address(r->kc, "127.0.0.1", port_a);
    ck_assert(net_kclient_connected(r->kc));
    /* a bad address: calls to it fail */
    net_kclient_set_address(r->kc, NULL, port_b);
    struct tcall *c4 = call(r, T_META, 5000);
    ck_assert(wait_count(base, &r->n_done, 5));
    ck_assert_int_eq(c4->err, GR_EIO);
    pump_idle(base);
    assert_each_once(r);
    net_kclient_free(r->kc);
    srv_stop(&a);
    srv_stop(&b);
    event_base_free(base);
}
END_TEST

static void on_never(void *arg, int err, const uint8_t *body, size_t len)
{
    ck_abort_msg("callback of a refused call");
}

/* During net_kclient_free a callback may not start a call or move the client. */
static void then_call_refused(struct tcall *c)
{
    ck_assert_int_eq(c->err, GR_ECANCELED);
    struct kafka_api_versions_request req;
    kafka_api_versions_request_init(&req);
    ck_assert_int_eq(net_kclient_call(c->rec->kc, KAFKA_API_API_VERSIONS, 0,
                                      kafka_api_versions_request_encode_any, &req, 1000, on_never,
                                      NULL),
                     GR_ECANCELED);
    net_kclient_set_address(c->rec->kc, "127.0.0.1", 1); /* a no-op */
}

START_TEST(test_free_cancels_pending)
{
    struct event_base *base = event_base_new();
    struct tsrv s;
    srv_start(&s, base, 8, SRV_HOLD);
    struct trec *r = rec_new(base, s.port);
    for (int i = 0; i < 3; i++)
        call(r, T_META, 10000);
    ck_assert(wait_count(base, &s.n_frames, 3));
    ck_assert(net_kclient_connected(r->kc));
    /* a fourth, whose connect is barely started */
    net_kclient_set_address(r->kc, "127.0.0.1", closed_port()); /* 0..2: GR_EIO queued */
    call(r, T_META, 10000);
    ck_assert_int_eq(r->n_done, 0);
    r->then = then_call_refused;
    net_kclient_free(r->kc);
    ck_assert_int_eq(r->n_done, 4); /* inside net_kclient_free */
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(r->calls[i].err, GR_ECANCELED);
    assert_each_once(r);
    pump_idle(base);
    srv_stop(&s);
    event_base_free(base);
}
END_TEST

START_TEST(test_large_response)
{
    struct event_base *base = event_base_new();
    struct tsrv s;
    srv_start(&s, base, 9, SRV_ANSWER);
    struct trec *r = rec_new(base, s.port);
    int64_t t0 = time_mono_ms();
    struct tcall *c = call(r, T_FETCH, 30000);
    struct tcall *after = call(r, T_META, 30000); /* pipelined behind it */
    ck_assert(wait_count(base, &r->n_done, 2));
    ck_assert_int_eq(c->err, 0);
    ck_assert_str_eq(c->echo, "call-0");
    ck_assert_uint_eq(c->records_bytes, BIG_BYTES);
    ck_assert(c->records_ok);
    ck_assert_int_eq(after->err, 0);
    ck_assert_str_eq(after->echo, "call-1");
    fprintf(stderr, "20 MB response in %lld ms\n", (long long)(time_mono_ms() - t0));
    /* and again on the same connection */
    c = call(r, T_FETCH, 30000);
    ck_assert(wait_count(base, &r->n_done, 3));
    ck_assert_int_eq(c->err, 0);
    ck_assert(c->records_ok);
    ck_assert_int_eq(net_server_conn_count(s.srv), 1);
    pump_idle(base);
    assert_each_once(r);
    net_kclient_free(r->kc);
    srv_stop(&s);
    event_base_free(base);
}
END_TEST

/* The server closing an idle connection is no failure: the next call reconnects at once. */
START_TEST(test_idle_close)
{
    struct event_base *base = event_base_new();
    struct tsrv s;
    srv_start_cfg(&s, base, 10, SRV_ANSWER, 50);
    struct trec *r = rec_new(base, s.port);
    call(r, T_APIV0, 5000);
    ck_assert(wait_count(base, &r->n_done, 1));
    ck_assert_int_eq(r->calls[0].err, 0);
    ck_assert(pump_until(base, pred_disconnected, r->kc));
    struct tcall *c = call(r, T_META, 5000);
    ck_assert(wait_count(base, &r->n_done, 2));
    ck_assert_int_eq(c->err, 0);
    ck_assert_str_eq(c->echo, "call-1");
    pump_idle(base);
    assert_each_once(r);
    net_kclient_free(r->kc);
    srv_stop(&s);
    event_base_free(base);
}
END_TEST

/* A broker that stops answering: once NET_KCLIENT_ORPHANS_MAX timed-out calls await answers, the
 * connection is closed; after the retry bar the next call gets a new one. */
START_TEST(test_too_many_orphans)
{
    struct event_base *base = event_base_new();
    struct tsrv s;
    srv_start(&s, base, 11, SRV_HOLD);
    struct trec *r = rec_new(base, s.port);
    for (int i = 0; i < NET_KCLIENT_ORPHANS_MAX; i++)
        call(r, T_APIV0, 20);
    ck_assert(wait_count(base, &r->n_done, NET_KCLIENT_ORPHANS_MAX));
    for (int i = 0; i < NET_KCLIENT_ORPHANS_MAX; i++)
        ck_assert_int_eq(r->calls[i].err, GR_ETIMEDOUT);
    ck_assert(!net_kclient_connected(r->kc));
    ck_assert(pump_until(base, pred_no_conns, s.srv));
    srv_release(&s);
    s.mode = SRV_ANSWER;
    int64_t later = time_mono_ms() + NET_KCLIENT_RETRY_MS + 20;
    ck_assert(pump_until(base, pred_time_reached, &later));
    struct tcall *c = call(r, T_META, 5000);
    ck_assert(wait_count(base, &r->n_done, NET_KCLIENT_ORPHANS_MAX + 1));
    ck_assert_int_eq(c->err, 0);
    ck_assert_int_eq(c->server_id, 11);
    pump_idle(base);
    assert_each_once(r);
    net_kclient_free(r->kc);
    srv_stop(&s);
    event_base_free(base);
}
END_TEST

static int encode_fails(struct kafka_writer *w, int16_t version, const void *req)
{
    kafka_write_i32(w, 1);
    return GR_EINVAL;
}

START_TEST(test_bad_arguments)
{
    struct event_base *base = event_base_new();
    char long_host[NET_KCLIENT_HOST_BYTES_MAX + 1];
    memset(long_host, 'h', sizeof long_host - 1);
    long_host[sizeof long_host - 1] = '\0';
    ck_assert_ptr_null(net_kclient_new(NULL, "127.0.0.1", 9, CLIENT_ID));
    ck_assert_ptr_null(net_kclient_new(base, NULL, 9, CLIENT_ID));
    ck_assert_ptr_null(net_kclient_new(base, "", 9, CLIENT_ID));
    ck_assert_ptr_null(net_kclient_new(base, long_host, 9, CLIENT_ID));
    ck_assert_ptr_null(net_kclient_new(base, "127.0.0.1", 0, CLIENT_ID));
    ck_assert_ptr_null(net_kclient_new(base, "127.0.0.1", 65536, CLIENT_ID));
    struct net_kclient *kc = net_kclient_new(base, "127.0.0.1", closed_port(), NULL);
    ck_assert_ptr_nonnull(kc);
    struct kafka_api_versions_request req;
    kafka_api_versions_request_init(&req);
    ck_assert_int_eq(net_kclient_call(kc, KAFKA_API_API_VERSIONS, 0,
                                      kafka_api_versions_request_encode_any, &req, 0, on_never,
                                      NULL),
                     GR_EINVAL);
    ck_assert_int_eq(net_kclient_call(kc, 999, 0, kafka_api_versions_request_encode_any, &req, 1000,
                                      on_never, NULL),
                     GR_EINVAL);
    ck_assert_int_eq(net_kclient_call(kc, KAFKA_API_API_VERSIONS, 5,
                                      kafka_api_versions_request_encode_any, &req, 1000, on_never,
                                      NULL),
                     GR_EINVAL);
    ck_assert_int_eq(
        net_kclient_call(kc, KAFKA_API_API_VERSIONS, 0, NULL, &req, 1000, on_never, NULL),
        GR_EINVAL);
    ck_assert_int_eq(
        net_kclient_call(kc, KAFKA_API_API_VERSIONS, 0, encode_fails, &req, 1000, on_never, NULL),
        GR_EINVAL);
    pump_idle(base);
    ck_assert(!net_kclient_connected(kc)); /* nothing was sent, nothing connected */
    net_kclient_free(kc);
    net_kclient_free(NULL);
    event_base_free(base);
}
END_TEST

int main(void)
{
    arena_init(&cb_arena, 0);
    Suite *s = suite_create("net_kclient");
    TCase *tc = tcase_create("kclient");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_api_versions_and_metadata);
    tcase_add_test(tc, test_pipelined);
    tcase_add_test(tc, test_timeout_then_own_answer);
    tcase_add_test(tc, test_server_closes);
    tcase_add_test(tc, test_connect_refused);
    tcase_add_test(tc, test_bad_answers);
    tcase_add_test(tc, test_set_address);
    tcase_add_test(tc, test_free_cancels_pending);
    tcase_add_test(tc, test_large_response);
    tcase_add_test(tc, test_idle_close);
    tcase_add_test(tc, test_too_many_orphans);
    tcase_add_test(tc, test_bad_arguments);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    arena_close(&cb_arena);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

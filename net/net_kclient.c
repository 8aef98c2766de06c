/*
 * net_kclient.c — a Kafka protocol client connection for broker-to-broker traffic; the contract
 * is in net.h.  The connection itself (connect, write queue, framing) is a net_link.
 *
 * Calls.  A call is in exactly one of two places:
 *   wire   c->wire, in request order = the order the answers come in.  Each has its request in
 *          the link's write queue or already sent.  A live call (cb set) has its timeout armed;
 *          an orphan (cb NULL: it timed out and was told so) only holds the place of the answer
 *          that will be dropped.  Calls leave the head by an answer, or all at once when the
 *          connection goes (kc_drop_wire);
 *   done   the done queue, with the error its callback gets, delivered by the zero-delay
 *          ev_done; failures only ever queue, so none reaches a callback inside
 *          net_kclient_call.
 * A callback runs after its call has left both places and the client is consistent, so it may
 * call net_kclient_call or net_kclient_set_address; the link stops handing over the frames of a
 * connection that a callback closed.
 *
 * Request frame, as queued on the link:
 *
 *   +-------------+-------------------------------------------+---------------------------+
 *   | size: i32 BE| request header v1 / v2                    | body: encode(w, ver, req) |
 *   | excl. itself| api_key i16, api_version i16,             |                           |
 *   |             | correlation_id i32, client_id (i16 string)|                           |
 *   |             | [v2: empty tagged fields]                 |                           |
 *   +-------------+-------------------------------------------+---------------------------+
 *
 * Response frame: size i32 BE, correlation_id i32, [header v1: tagged fields], body.
 */
#include "net/net.h"
#include "proto/proto.h"

#include <assert.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#define KC_COMP "kclient"

struct kc_call {
    struct kc_call *next; /* c->wire or the done queue */
    struct net_kclient *c;
    int32_t correlation_id;
    int16_t api_key, api_version;
    int err;                  /* in the done queue: what the callback gets */
    struct event *ev_timeout; /* live calls on the wire only */
    net_kclient_cb cb;        /* NULL: an orphan */
    void *arg;
};

struct net_kclient {
    struct event_base *base;
    struct net_link *link;
    char host[NET_KCLIENT_HOST_BYTES_MAX]; /* "" for a bad address */
    int port;
    char *client_id;             /* NULL: a null client id */
    int32_t next_correlation_id; /* 1..INT32_MAX, wrapping */
    struct kc_call *wire_head, *wire_tail;
    int n_wire;    /* calls on the wire, orphans included */
    int n_orphans; /* of which orphans */
    struct kc_call *done_head, *done_tail;
    int n_done;
    struct event *ev_done;
    int64_t retry_at_ms; /* after a failure: no new connection before this */
    bool down_logged;    /* a WARN went out for the current outage */
    bool freeing;
};

/* ------------------------------------------------------------------------------------------ */
/* Calls                                                                                       */

static void wire_push(struct net_kclient *c, struct kc_call *call)
{
    call->next = NULL;
    if (c->wire_tail)
        c->wire_tail->next = call;
    else
        c->wire_head = call;
    c->wire_tail = call;
    c->n_wire++;
}

static struct kc_call *wire_pop(struct net_kclient *c)
{
    struct kc_call *call = c->wire_head;
    assert(call);
    c->wire_head = call->next;
    if (!c->wire_head) c->wire_tail = NULL;
    call->next = NULL;
    c->n_wire--;
    if (!call->cb) c->n_orphans--;
    return call;
}

/* Queues a call (off the wire) for delivery of err from the loop. */
static void done_push(struct net_kclient *c, struct kc_call *call, int err)
{
    static const struct timeval zero = {0, 0};
    call->err = err;
    call->next = NULL;
    if (c->done_tail)
        c->done_tail->next = call;
    else
        c->done_head = call;
    c->done_tail = call;
    c->n_done++;
    evtimer_add(c->ev_done, &zero);
}

/* Frees the call and runs its callback (if it still has one): the last thing done with it. */
static void call_deliver(struct kc_call *call, int err, const uint8_t *body, size_t len)
{
    net_kclient_cb cb = call->cb;
    void *arg = call->arg;
    if (call->ev_timeout) event_free(call->ev_timeout);
    free(call);
    if (cb) cb(arg, err, body, len);
}

/* Takes every call off the wire: live ones to the done queue with err, orphans freed.  Returns
 * how many live calls there were. */
static int kc_drop_wire(struct net_kclient *c, int err)
{
    int live = 0;
    while (c->wire_head) {
        struct kc_call *call = wire_pop(c);
        if (!call->cb) {
            call_deliver(call, 0, NULL, 0); /* just frees */
            continue;
        }
        event_free(call->ev_timeout);
        call->ev_timeout = NULL;
        done_push(c, call, err);
        live++;
    }
    assert(c->n_wire == 0 && c->n_orphans == 0);
    return live;
}

/* The connection failed (already closed, or closed here): the calls on it fail with GR_EIO and
 * no new connection is made for NET_KCLIENT_RETRY_MS. */
static void kc_fail(struct net_kclient *c, const char *reason)
{
    net_link_close(c->link);
    c->retry_at_ms = time_mono_ms() + NET_KCLIENT_RETRY_MS;
    int failed = kc_drop_wire(c, GR_EIO);
    if (!c->down_logged) {
        LOG_WARN(KC_COMP, "broker at %s:%d (client %s): %s; %d call(s) failed", c->host, c->port,
                 c->client_id ? c->client_id : "-", reason, failed);
        c->down_logged = true;
    } else {
        LOG_DEBUG(KC_COMP, "broker at %s:%d: %s; %d call(s) failed", c->host, c->port, reason,
                  failed);
    }
}

static void kc_on_done(evutil_socket_t fd, short what, void *arg)
{
    struct net_kclient *c = arg;
    /* calls a callback queues wait for the next round: a callback that retries every failure
     * cannot starve the loop */
    struct kc_call *call = c->done_head;
    c->done_head = c->done_tail = NULL;
    c->n_done = 0;
    while (call) {
        struct kc_call *next = call->next;
        call_deliver(call, call->err, NULL, 0);
        call = next;
    }
}

/* The call stays on the wire as an orphan: its answer is still to come and will be dropped. */
static void call_on_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct kc_call *call = arg;
    struct net_kclient *c = call->c;
    net_kclient_cb cb = call->cb;
    void *cb_arg = call->arg;
    event_free(call->ev_timeout);
    call->ev_timeout = NULL;
    call->cb = NULL;
    c->n_orphans++;
    if (c->n_orphans >= NET_KCLIENT_ORPHANS_MAX)
        kc_fail(c, "too many timed-out calls awaiting answers");
    cb(cb_arg, GR_ETIMEDOUT, NULL, 0);
}

/* ------------------------------------------------------------------------------------------ */
/* Link callbacks                                                                              */

static void kc_on_connected(void *ctx)
{
    struct net_kclient *c = ctx;
    c->retry_at_ms = 0;
    if (c->down_logged) LOG_INFO(KC_COMP, "connected to broker at %s:%d", c->host, c->port);
    c->down_logged = false;
}

/* An answer: it belongs to the oldest call on the wire, or the connection is out of step. */
static void kc_on_frame(void *ctx, const uint8_t *frame, size_t frame_bytes)
{
    struct net_kclient *c = ctx;
    struct kc_call *call = c->wire_head;
    char reason[96];
    if (!call) {
        kc_fail(c, "an answer with no request outstanding");
        return;
    }
    struct kafka_reader r;
    kafka_reader_init(&r, frame + 4, frame_bytes - 4, NULL);
    int32_t correlation_id = kafka_response_header_decode(
        &r, kafka_response_header_version(call->api_key, call->api_version));
    if (r.err) {
        strfmt(reason, sizeof reason, "undecodable response header: %s", gr_strerror(r.err));
        kc_fail(c, reason);
        return;
    }
    if (correlation_id != call->correlation_id) {
        strfmt(reason, sizeof reason, "answer with correlation id %d, expected %d", correlation_id,
               call->correlation_id);
        kc_fail(c, reason);
        return;
    }
    wire_pop(c);
    if (!call->cb)
        LOG_DEBUG(KC_COMP, "broker at %s:%d: dropping the late answer to call %d", c->host, c->port,
                  call->correlation_id);
    call_deliver(call, 0, r.p, kafka_reader_left(&r));
}

static void kc_on_closed(void *ctx, bool eof, const char *reason)
{
    struct net_kclient *c = ctx;
    if (eof && c->n_wire == c->n_orphans) { /* the broker closed an idle connection */
        LOG_DEBUG(KC_COMP, "broker at %s:%d closed an idle connection", c->host, c->port);
        kc_drop_wire(c, GR_EIO); /* orphans only */
        return;
    }
    kc_fail(c, reason);
}

static const struct net_link_ops kc_link_ops = {
    .on_connected = kc_on_connected,
    .on_frame = kc_on_frame,
    .on_closed = kc_on_closed,
};

/* ------------------------------------------------------------------------------------------ */
/* Public API                                                                                  */

/* Copies host:port, or stores "" (connects fail) if it cannot be used. */
static void kc_set_host(struct net_kclient *c, const char *host, int port)
{
    bool ok = host && strlen(host) < sizeof c->host && port > 0 && port <= 65535;
    strfmt(c->host, sizeof c->host, "%s", ok ? host : "");
    c->port = port;
}

struct net_kclient *net_kclient_new(struct event_base *base, const char *host, int port,
                                    const char *client_id)
{
    if (!base || !host || !*host || strlen(host) >= NET_KCLIENT_HOST_BYTES_MAX || port <= 0 ||
        port > 65535 || (client_id && strlen(client_id) > INT16_MAX))
        return NULL;
    struct net_kclient *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->base = base;
    kc_set_host(c, host, port);
    c->next_correlation_id = 1;
    if (client_id && !(c->client_id = strdup(client_id))) goto err_free;
    c->link = net_link_new(base, &kc_link_ops, c, NET_KCLIENT_FRAME_BYTES_MAX);
    if (!c->link) goto err_free;
    c->ev_done = evtimer_new(base, kc_on_done, c);
    if (!c->ev_done) goto err_free;
    return c;
err_free:
    net_kclient_free(c);
    return NULL;
}

void net_kclient_free(struct net_kclient *c)
{
    if (!c) return;
    assert(!c->freeing);
    c->freeing = true;
    while (c->done_head) {
        struct kc_call *call = c->done_head;
        c->done_head = call->next;
        if (!c->done_head) c->done_tail = NULL;
        c->n_done--;
        call_deliver(call, GR_ECANCELED, NULL, 0);
    }
    while (c->wire_head)
        call_deliver(wire_pop(c), GR_ECANCELED, NULL, 0); /* orphans: just freed */
    net_link_free(c->link);
    if (c->ev_done) event_free(c->ev_done);
    free(c->client_id);
    free(c);
}

/* Appends the request frame to the link's write queue; on error the queue is unchanged. */
static int kc_encode(struct net_kclient *c, const struct kc_call *call,
                     int (*encode)(struct kafka_writer *w, int16_t version, const void *req),
                     const void *req)
{
    struct gbuf *out = net_link_out(c->link);
    size_t start = out->len;
    static const uint8_t size_placeholder[4];
    if (gbuf_append(out, size_placeholder, sizeof size_placeholder)) return GR_ENOMEM;
    struct kafka_writer w;
    kafka_writer_init(&w, out);
    struct kafka_request_header h = {
        .api_key = call->api_key,
        .api_version = call->api_version,
        .correlation_id = call->correlation_id,
        .client_id = c->client_id ? KSTR(c->client_id) : KSTR_NULL,
    };
    kafka_request_header_encode(&w, kafka_request_header_version(call->api_key, call->api_version),
                                &h);
    int rc = w.err ? w.err : encode(&w, call->api_version, req);
    if (!rc) rc = w.err;
    size_t size = out->len - start - 4;
    if (!rc && size > NET_KCLIENT_FRAME_BYTES_MAX) rc = GR_EINVAL;
    if (rc) {
        out->len = start;
        return rc == GR_ENOMEM ? GR_ENOMEM : GR_EINVAL;
    }
    be32_put(out->data + start, (uint32_t)size);
    return 0;
}

int net_kclient_call(struct net_kclient *c, int16_t api_key, int16_t version,
                     int (*encode)(struct kafka_writer *w, int16_t version, const void *req),
                     const void *req, int64_t timeout_ms, net_kclient_cb cb, void *arg)
{
    if (!c || !encode || !cb || timeout_ms <= 0) return GR_EINVAL;
    if (c->freeing) return GR_ECANCELED;
    const struct kafka_api_info *api = kafka_api_lookup(api_key);
    if (!api || version < api->min_version || version > api->max_version) return GR_EINVAL;
    if (c->n_wire + c->n_done >= NET_KCLIENT_CALLS_MAX) return GR_ENOMEM;
    struct kc_call *call = calloc(1, sizeof *call);
    if (!call) return GR_ENOMEM;
    *call = (struct kc_call){.c = c,
                             .correlation_id = c->next_correlation_id,
                             .api_key = api_key,
                             .api_version = version,
                             .cb = cb,
                             .arg = arg};
    c->next_correlation_id = c->next_correlation_id == INT32_MAX ? 1 : c->next_correlation_id + 1;
    bool idle = net_link_state(c->link) == NET_LINK_IDLE;
    if (idle && time_mono_ms() < c->retry_at_ms) {
        /* failed recently: fail this one too, from the loop */
        done_push(c, call, GR_EIO);
        return 0;
    }
    call->ev_timeout = evtimer_new(c->base, call_on_timeout, call);
    if (!call->ev_timeout) {
        free(call);
        return GR_ENOMEM;
    }
    int rc = kc_encode(c, call, encode, req);
    if (rc) {
        event_free(call->ev_timeout);
        free(call);
        return rc;
    }
    struct timeval tv = {(time_t)(timeout_ms / 1000), (suseconds_t)(timeout_ms % 1000) * 1000};
    evtimer_add(call->ev_timeout, &tv);
    wire_push(c, call);
    if (idle) {
        char err[160];
        if (net_link_connect(c->link, c->host, c->port, NET_KCLIENT_CONNECT_TIMEOUT_MS, err,
                             sizeof err))
            kc_fail(c, err); /* the call is failed from the loop */
    } else {
        net_link_send_now(c->link);
    }
    return 0;
}

void net_kclient_set_address(struct net_kclient *c, const char *host, int port)
{
    if (c->freeing) return;
    if (host && port == c->port && strcmp(host, c->host) == 0) return;
    int failed = kc_drop_wire(c, GR_EIO);
    net_link_close(c->link);
    LOG_DEBUG(KC_COMP, "moving from %s:%d to %s:%d; %d call(s) failed", c->host, c->port,
              host ? host : "(null)", port, failed);
    kc_set_host(c, host, port);
    c->retry_at_ms = 0;
    c->down_logged = false;
}

bool net_kclient_connected(const struct net_kclient *c)
{
    return net_link_state(c->link) == NET_LINK_CONNECTED;
}

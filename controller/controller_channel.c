/*
 * controller_channel.c — the request/response client of the control plane; the contract is in
 * channel_int.h.
 *
 * Endpoints.  One struct ctl_ep per configured endpoint, each with at most one connection, a
 * net_link (net/net.h: non-blocking connect, write queue, framing).  New calls go only to the
 * target's; a connection to an endpoint that stopped being the target lives on only until its
 * last outstanding call completes (ctl_channel_set_target), so at most one connection per
 * endpoint ever exists and usually just the target's.
 *
 *   IDLE --call--> CONNECTING --writable, SO_ERROR == 0--> CONNECTED
 *    ^  ^               |  connect error / timeout               |  error, EOF with calls
 *    |  +-- ep_fail ----+----------------------------------------+  outstanding, bad frame
 *    +----- net_link_close: idle non-target connection, or EOF with no call outstanding
 *
 * ep_fail fails the calls outstanding on the connection with GR_EIO, advances the target if it
 * was the target, and bars the endpoint for CTL_CHANNEL_RETRY_MS.  An EOF on a connection with
 * nothing outstanding (the controller closing an idle connection) is not a failure: the next
 * call reconnects to the same endpoint.
 *
 * Calls.  A call is in exactly one of two places:
 *   pending  in ch->calls (creation order) and in its hash bucket, counted in its endpoint's
 *            n_pending, its timeout armed; it leaves by an answer, a timeout or ep_fail;
 *   done     in the done queue with its error and no timer, delivered by the zero-delay
 *            ev_done.  ep_fail only ever queues, so a failure found inside ctl_channel_call
 *            (a refused connect) still reaches the callback from the loop.
 * A callback runs after its call has left both places and the channel is consistent, so it may
 * call ctl_channel_call or ctl_channel_set_target.  A callback that closes the connection whose
 * answer it is handling (set_target, or the last answer on a non-target connection) is safe:
 * the link hands over no further frames of a connection once it is closed.
 *
 * Requests are only queued by ctl_channel_call; the link's write event sends them from the loop,
 * so a burst of calls leaves in one send and a write error never surfaces inside a callback.
 */
#include "controller/channel_int.h"
#include "net/net.h"

#include <assert.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#define CC_COMP "ctl-channel"
#define CC_BUCKETS 64 /* pending calls hashed by correlation id (sequential: spreads evenly) */
#define CC_ARENA_BLOCK_BYTES (64 * 1024)

struct ctl_ep {
    struct ctl_channel *ch;
    struct ctl_endpoint cfg;
    struct net_link *link; /* the connection; its state is the endpoint's */
    int n_pending;         /* calls outstanding on this connection */
    int64_t retry_at_ms;   /* after a failure: no new connection before this */
};

struct ctl_call {
    struct ctl_call *prev, *next; /* ch->calls while pending; `next` links the done queue */
    struct ctl_call *bucket_next;
    struct ctl_channel *ch;
    uint64_t correlation_id;
    int ep;                   /* index into ch->eps */
    int err;                  /* in the done queue: what the callback gets */
    int64_t timeout_ms;
    struct event *ev_timeout; /* pending calls only */
    ctl_channel_cb cb;
    void *arg;
};

struct ctl_channel {
    struct event_base *base;
    struct ctl_ep eps[CTL_CHANNEL_ENDPOINTS_MAX];
    int n_eps;
    int target;
    uint64_t next_correlation_id; /* never 0 */
    struct ctl_call *calls_head, *calls_tail;
    struct ctl_call *buckets[CC_BUCKETS];
    struct ctl_call *done_head, *done_tail;
    struct event *ev_done;
    struct arena arena; /* one received frame at a time, reset per frame */
    int logged_ep;      /* endpoint of the last "connected" INFO, -1 before any */
    bool down_logged;   /* a WARN went out for the current outage */
    bool freeing;
};

static int ep_index(const struct ctl_channel *ch, const struct ctl_ep *ep)
{
    return (int)(ep - ch->eps);
}

static bool ep_idle(const struct ctl_ep *ep)
{
    return net_link_state(ep->link) == NET_LINK_IDLE;
}

/* ------------------------------------------------------------------------------------------ */
/* Calls                                                                                       */

static void call_link(struct ctl_channel *ch, struct ctl_call *c)
{
    c->next = NULL;
    c->prev = ch->calls_tail;
    if (ch->calls_tail)
        ch->calls_tail->next = c;
    else
        ch->calls_head = c;
    ch->calls_tail = c;
    struct ctl_call **bucket = &ch->buckets[c->correlation_id % CC_BUCKETS];
    c->bucket_next = *bucket;
    *bucket = c;
    ch->eps[c->ep].n_pending++;
}

/* Takes a pending call out of the list, its bucket and its endpoint's count; frees its timer. */
static void call_unlink(struct ctl_channel *ch, struct ctl_call *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        ch->calls_head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        ch->calls_tail = c->prev;
    c->prev = c->next = NULL;
    struct ctl_call **pp = &ch->buckets[c->correlation_id % CC_BUCKETS];
    while (*pp != c)
        pp = &(*pp)->bucket_next;
    *pp = c->bucket_next;
    c->bucket_next = NULL;
    assert(ch->eps[c->ep].n_pending > 0);
    ch->eps[c->ep].n_pending--;
    event_free(c->ev_timeout);
    c->ev_timeout = NULL;
}

static struct ctl_call *call_find(struct ctl_channel *ch, uint64_t correlation_id)
{
    struct ctl_call *c = ch->buckets[correlation_id % CC_BUCKETS];
    while (c && c->correlation_id != correlation_id)
        c = c->bucket_next;
    return c;
}

/* Queues a call (pending or new, not both) for delivery of err from the loop. */
static void done_push(struct ctl_channel *ch, struct ctl_call *c, int err)
{
    static const struct timeval zero = {0, 0};
    c->err = err;
    c->next = NULL;
    if (ch->done_tail)
        ch->done_tail->next = c;
    else
        ch->done_head = c;
    ch->done_tail = c;
    evtimer_add(ch->ev_done, &zero);
}

/* Frees c and runs its callback: the last thing a completion path does with c. */
static void call_deliver(struct ctl_call *c, int err, const Gregor__Control__ControlFrame *resp)
{
    ctl_channel_cb cb = c->cb;
    void *arg = c->arg;
    free(c);
    cb(arg, err, resp);
}

/* Completes a pending call.  A connection that is no longer the target closes with its last
 * call, before the callback, so the callback sees the channel as it will stay. */
static void call_finish(struct ctl_channel *ch, struct ctl_call *c, int err,
                        const Gregor__Control__ControlFrame *resp)
{
    struct ctl_ep *ep = &ch->eps[c->ep];
    call_unlink(ch, c);
    if (ep->n_pending == 0 && !ep_idle(ep) && ep_index(ch, ep) != ch->target) {
        LOG_DEBUG(CC_COMP, "closing the drained connection to controller %d", ep->cfg.id);
        net_link_close(ep->link);
    }
    call_deliver(c, err, resp);
}

static void ep_fail(struct ctl_channel *ch, struct ctl_ep *ep, const char *reason);

static void call_on_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct ctl_call *c = arg;
    struct ctl_channel *ch = c->ch;
    struct ctl_ep *ep = &ch->eps[c->ep];
    if (c->ep == ch->target && !ep_idle(ep) && c->timeout_ms >= CTL_CHANNEL_SILENT_MS) {
        /* The target let a call of CTL_CHANNEL_SILENT_MS or more go unanswered: a controller
         * cut off by the network sends neither an error nor an EOF, so silence is the only
         * sign.  Its connection goes and the next controller is tried; a live one that does
         * not lead answers NOT_CONTROLLER with the leader to go to. */
        char why[96];
        strfmt(why, sizeof why, "no answer within %lld ms", (long long)c->timeout_ms);
        call_unlink(ch, c);
        ep_fail(ch, ep, why);
        call_deliver(c, GR_ETIMEDOUT, NULL);
        return;
    }
    call_finish(ch, c, GR_ETIMEDOUT, NULL);
}

/* Delivers the calls queued so far.  Calls a callback queues (a call to a barred endpoint) wait
 * for the next round, so a callback that retries on every failure cannot starve the loop. */
static void ch_on_done(evutil_socket_t fd, short what, void *arg)
{
    struct ctl_channel *ch = arg;
    struct ctl_call *c = ch->done_head;
    ch->done_head = ch->done_tail = NULL;
    while (c) {
        struct ctl_call *next = c->next;
        call_deliver(c, c->err, NULL);
        c = next;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Connections                                                                                 */

/* The connection failed: every call outstanding on it fails with GR_EIO (from the loop), the
 * endpoint is barred for CTL_CHANNEL_RETRY_MS, and the target moves on if it was the target. */
static void ep_fail(struct ctl_channel *ch, struct ctl_ep *ep, const char *reason)
{
    int idx = ep_index(ch, ep);
    int failed = ep->n_pending;
    net_link_close(ep->link);
    ep->retry_at_ms = time_mono_ms() + CTL_CHANNEL_RETRY_MS;
    struct ctl_call *c = ch->calls_head;
    while (c) {
        struct ctl_call *next = c->next;
        if (c->ep == idx) {
            call_unlink(ch, c);
            done_push(ch, c, GR_EIO);
        }
        c = next;
    }
    assert(ep->n_pending == 0);
    if (idx == ch->target) ch->target = (idx + 1) % ch->n_eps;
    if (!ch->down_logged) {
        LOG_WARN(CC_COMP, "controller %d at %s:%d: %s; %d call(s) failed, target now %d",
                 ep->cfg.id, ep->cfg.host, ep->cfg.port, reason, failed,
                 ch->eps[ch->target].cfg.id);
        ch->down_logged = true;
    } else {
        LOG_DEBUG(CC_COMP, "controller %d at %s:%d: %s; %d call(s) failed", ep->cfg.id,
                  ep->cfg.host, ep->cfg.port, reason, failed);
    }
}

static void ep_on_connected(void *ctx)
{
    struct ctl_ep *ep = ctx;
    struct ctl_channel *ch = ep->ch;
    int idx = ep_index(ch, ep);
    ep->retry_at_ms = 0;
    if (idx != ch->logged_ep || ch->down_logged)
        LOG_INFO(CC_COMP, "connected to controller %d at %s:%d", ep->cfg.id, ep->cfg.host,
                 ep->cfg.port);
    ch->logged_ep = idx;
    ch->down_logged = false;
}

/* An answer: completes its call, if it is still pending on this connection. */
static void ep_dispatch(struct ctl_channel *ch, struct ctl_ep *ep,
                        const Gregor__Control__ControlFrame *f)
{
    struct ctl_call *c = f->correlation_id ? call_find(ch, f->correlation_id) : NULL;
    if (!c || c->ep != ep_index(ch, ep)) {
        LOG_DEBUG(CC_COMP, "controller %d: ignoring an answer to unknown call %llu", ep->cfg.id,
                  (unsigned long long)f->correlation_id);
        return;
    }
    call_finish(ch, c, 0, f);
}

/* One whole frame (the link checked its length against CTL_CHANNEL_FRAME_BYTES_MAX). */
static void ep_on_frame(void *ctx, const uint8_t *frame, size_t frame_bytes)
{
    struct ctl_ep *ep = ctx;
    struct ctl_channel *ch = ep->ch;
    struct control_frame_view v;
    arena_reset(&ch->arena);
    int rc = control_frame_decode(frame, frame_bytes, CTL_CHANNEL_FRAME_BYTES_MAX, &v, &ch->arena);
    /* GR_EUNSUP: a body this build does not know; its call gets it with BODY__NOT_SET */
    if (rc != 0 && rc != GR_EUNSUP) {
        char reason[64];
        strfmt(reason, sizeof reason, "bad frame: %s", gr_strerror(rc));
        ep_fail(ch, ep, reason);
    } else {
        ep_dispatch(ch, ep, v.frame);
    }
    arena_reset(&ch->arena);
}

static void ep_on_closed(void *ctx, bool eof, const char *reason)
{
    struct ctl_ep *ep = ctx;
    if (eof && ep->n_pending == 0) {
        LOG_DEBUG(CC_COMP, "controller %d closed an idle connection", ep->cfg.id);
        return;
    }
    ep_fail(ep->ch, ep, reason);
}

static const struct net_link_ops ep_link_ops = {
    .on_connected = ep_on_connected,
    .on_frame = ep_on_frame,
    .on_closed = ep_on_closed,
};

/* Starts a non-blocking connect.  Failures go through ep_fail (the callbacks run later). */
static void ep_connect(struct ctl_channel *ch, struct ctl_ep *ep)
{
    char err[160];
    if (net_link_connect(ep->link, ep->cfg.host, ep->cfg.port, CTL_CHANNEL_CONNECT_TIMEOUT_MS, err,
                         sizeof err))
        ep_fail(ch, ep, err);
}

/* ------------------------------------------------------------------------------------------ */
/* Public API                                                                                  */

static bool endpoint_valid(const struct ctl_endpoint *e)
{
    return e->id != 0 && e->port > 0 && e->port <= 65535 && e->host[0] != '\0' &&
           memchr(e->host, '\0', sizeof e->host) != NULL;
}

struct ctl_channel *ctl_channel_new(struct event_base *base, const struct ctl_endpoint *eps, int n)
{
    if (!base || !eps || n < 1 || n > CTL_CHANNEL_ENDPOINTS_MAX) return NULL;
    for (int i = 0; i < n; i++) {
        if (!endpoint_valid(&eps[i])) return NULL;
        for (int j = 0; j < i; j++)
            if (eps[j].id == eps[i].id) return NULL;
    }
    struct ctl_channel *ch = calloc(1, sizeof *ch);
    if (!ch) return NULL;
    ch->base = base;
    ch->n_eps = n;
    ch->next_correlation_id = 1;
    ch->logged_ep = -1;
    arena_init(&ch->arena, CC_ARENA_BLOCK_BYTES);
    for (int i = 0; i < n; i++) {
        struct ctl_ep *ep = &ch->eps[i];
        ep->ch = ch;
        ep->cfg = eps[i];
        ep->link = net_link_new(base, &ep_link_ops, ep, CTL_CHANNEL_FRAME_BYTES_MAX);
        if (!ep->link) goto err_free;
    }
    ch->ev_done = evtimer_new(base, ch_on_done, ch);
    if (!ch->ev_done) goto err_free;
    return ch;
err_free:
    ctl_channel_free(ch);
    return NULL;
}

void ctl_channel_free(struct ctl_channel *ch)
{
    if (!ch) return;
    assert(!ch->freeing);
    ch->freeing = true; /* callbacks run below may not start new calls */
    while (ch->done_head) {
        struct ctl_call *c = ch->done_head;
        ch->done_head = c->next;
        if (!ch->done_head) ch->done_tail = NULL;
        call_deliver(c, GR_ECANCELED, NULL);
    }
    while (ch->calls_head) {
        struct ctl_call *c = ch->calls_head;
        call_unlink(ch, c);
        call_deliver(c, GR_ECANCELED, NULL);
    }
    for (int i = 0; i < ch->n_eps; i++)
        net_link_free(ch->eps[i].link);
    if (ch->ev_done) event_free(ch->ev_done);
    arena_close(&ch->arena);
    free(ch);
}

int ctl_channel_call(struct ctl_channel *ch, Gregor__Control__ControlFrame *f, int64_t timeout_ms,
                     ctl_channel_cb cb, void *arg)
{
    if (!f || !cb || timeout_ms <= 0) return GR_EINVAL;
    if (ch->freeing) return GR_ECANCELED;
    if (protobuf_c_message_get_packed_size(&f->base) > CTL_CHANNEL_FRAME_BYTES_MAX)
        return GR_EINVAL;
    struct ctl_call *c = calloc(1, sizeof *c);
    if (!c) return GR_ENOMEM;
    c->ch = ch;
    c->cb = cb;
    c->arg = arg;
    c->ep = ch->target;
    c->timeout_ms = timeout_ms;
    c->correlation_id = ch->next_correlation_id++;
    f->correlation_id = c->correlation_id;
    struct ctl_ep *ep = &ch->eps[ch->target];
    if (ep_idle(ep) && time_mono_ms() < ep->retry_at_ms) {
        /* barred after a recent failure: fail now (from the loop) and try the next one */
        LOG_DEBUG(CC_COMP, "controller %d failed recently; failing the call", ep->cfg.id);
        ch->target = (ch->target + 1) % ch->n_eps;
        done_push(ch, c, GR_EIO);
        return 0;
    }
    c->ev_timeout = evtimer_new(ch->base, call_on_timeout, c);
    if (!c->ev_timeout) {
        free(c);
        return GR_ENOMEM;
    }
    int rc = control_frame_encode(f, net_link_out(ep->link)); /* on failure: unchanged */
    if (rc) {
        event_free(c->ev_timeout);
        free(c);
        return rc == GR_ENOMEM ? GR_ENOMEM : GR_EINVAL;
    }
    struct timeval tv = {(time_t)(timeout_ms / 1000), (suseconds_t)(timeout_ms % 1000) * 1000};
    evtimer_add(c->ev_timeout, &tv);
    call_link(ch, c);
    if (ep_idle(ep))
        ep_connect(ch, ep);
    else
        net_link_send(ep->link);
    return 0;
}

void ctl_channel_set_target(struct ctl_channel *ch, int32_t id)
{
    if (ch->freeing) return;
    int next = (ch->target + 1) % ch->n_eps;
    for (int i = 0; id != 0 && i < ch->n_eps; i++) {
        if (ch->eps[i].cfg.id == id) {
            next = i;
            break;
        }
    }
    if (next == ch->target) return;
    struct ctl_ep *old = &ch->eps[ch->target];
    ch->target = next;
    /* with calls outstanding it closes with the last of them (call_finish) */
    if (!ep_idle(old) && old->n_pending == 0) net_link_close(old->link);
}

int32_t ctl_channel_target(const struct ctl_channel *ch)
{
    return ch->eps[ch->target].cfg.id;
}

/*
 * net_link.c — one outbound framed TCP connection at a time: non-blocking connect with a
 * timeout, a write queue, and a read buffer cut into [int32 BE size][payload] frames.  The
 * contract is in net.h; the control-plane channel and net_kclient are built on it.
 *
 * Output: `out` holds whole frames back to back, [out_off, out.len) not sent yet.  Owners only
 * append (net_link_out) and ask for a send: net_link_send leaves it to the write event, so a
 * burst of requests leaves in one send; net_link_send_now sends at once, which saves a trip
 * through the event loop (and two epoll_ctl calls) for an owner with one request at a time.
 * Either way a write error is never reported inside an owner's own call.
 *
 * Input: `in` holds what was received; after link_on_read at most one partial frame.  While
 * on_frame runs (`dispatching`), `in` is neither freed nor moved, whatever the callee does, so
 * the frame it was given stays valid to the end of the call; `gen`, bumped by every close, tells
 * the dispatch loop that the callee closed the connection those bytes came from.
 */
#include "net/net.h"

#include <assert.h>
#include <errno.h>
#include <event2/event.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LINK_READ_BYTES_MIN (64 * 1024)       /* room ensured before each read */
/* An empty buffer above this is given back.  Followers' fetch responses run to ~10 MiB
 * (replica.fetch.response.max.bytes): keeping one such buffer saves a malloc, its page faults
 * and the realloc copies of every response. */
#define LINK_BUF_KEEP_BYTES ((size_t)16 << 20)
#define LINK_REASON_BYTES 160

struct net_link {
    struct event_base *base;
    const struct net_link_ops *ops;
    void *ctx;
    size_t frame_bytes_max;
    enum net_link_state state;
    int fd;                           /* -1 when IDLE */
    struct event *ev_read, *ev_write; /* exist while fd does */
    struct event *ev_connect_timeout;
    struct gbuf out;
    size_t out_off;
    struct gbuf in;
    uint64_t gen;     /* bumped by every close */
    bool dispatching; /* on_frame is running: `in` stays where it is */
};

/* Gives back the memory of an empty buffer that a large frame made large. */
static void buf_trim(struct gbuf *b)
{
    if (b->len == 0 && b->cap > LINK_BUF_KEEP_BYTES) gbuf_close(b);
}

void net_link_close(struct net_link *l)
{
    if (l->ev_read) event_free(l->ev_read);
    if (l->ev_write) event_free(l->ev_write);
    l->ev_read = l->ev_write = NULL;
    evtimer_del(l->ev_connect_timeout);
    if (l->fd >= 0) close(l->fd);
    l->fd = -1;
    l->state = NET_LINK_IDLE;
    gbuf_reset(&l->out);
    l->out_off = 0;
    buf_trim(&l->out);
    gbuf_reset(&l->in);
    if (!l->dispatching) buf_trim(&l->in); /* else the dispatch loop trims it */
    l->gen++;
}

/* The connection failed or the peer closed it: close, then tell the owner. */
static void link_fail(struct net_link *l, bool eof, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void link_fail(struct net_link *l, bool eof, const char *fmt, ...)
{
    char reason[LINK_REASON_BYTES];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    net_link_close(l);
    l->ops->on_closed(l->ctx, eof, reason);
}

/* Drops what was sent from the front of `out`. */
static void out_compact(struct net_link *l)
{
    if (l->out_off == l->out.len) {
        gbuf_reset(&l->out);
        l->out_off = 0;
        buf_trim(&l->out);
    } else if (l->out_off > l->out.len / 2) {
        gbuf_consume(&l->out, l->out_off);
        l->out_off = 0;
    }
}

/* Writes queued frames until the socket would block or nothing is left. */
static void link_flush(struct net_link *l)
{
    assert(l->state == NET_LINK_CONNECTED);
    while (l->out_off < l->out.len) {
        ssize_t w = send(l->fd, l->out.data + l->out_off, l->out.len - l->out_off, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                event_add(l->ev_write, NULL);
                break;
            }
            link_fail(l, false, "write: %s", strerror(errno));
            return;
        }
        l->out_off += (size_t)w;
    }
    out_compact(l);
}

/* Hands every complete frame in `in` to on_frame, then keeps only the partial rest. */
static void link_dispatch(struct net_link *l)
{
    uint64_t gen = l->gen;
    size_t pos = 0;
    l->dispatching = true;
    while (l->in.len - pos >= 4) {
        uint32_t size = be32_get(l->in.data + pos);
        if (size > l->frame_bytes_max) { /* also a negative int32 size: max <= INT32_MAX */
            l->dispatching = false;
            link_fail(l, false, "frame of %" PRIu32 " bytes, above the maximum of %zu", size,
                      l->frame_bytes_max);
            return;
        }
        /* Incomplete: wait for more.  The check costs O(1) however large the frame is. */
        if (l->in.len - pos - 4 < size) break;
        l->ops->on_frame(l->ctx, l->in.data + pos, (size_t)size + 4);
        if (l->gen != gen) break; /* the callee closed this connection; `in` is empty now */
        pos += (size_t)size + 4;
    }
    l->dispatching = false;
    if (l->gen == gen) gbuf_consume(&l->in, pos);
    buf_trim(&l->in);
}

static void link_on_read(evutil_socket_t fd, short what, void *arg)
{
    struct net_link *l = arg;
    /* Room for the rest of the frame being received, once its size is known and allowed
     * (link_dispatch refuses a larger one), so a large frame costs one realloc rather than a
     * copy per doubling; and at least LINK_READ_BYTES_MIN. */
    size_t want = LINK_READ_BYTES_MIN;
    if (l->in.len >= 4) {
        size_t frame = (size_t)be32_get(l->in.data) + 4;
        if (frame <= l->frame_bytes_max + 4 && frame > l->in.len + want) want = frame - l->in.len;
    }
    if (gbuf_reserve(&l->in, want)) {
        link_fail(l, false, "read: %s", gr_strerror(GR_ENOMEM));
        return;
    }
    ssize_t n = recv(fd, l->in.data + l->in.len, l->in.cap - l->in.len, 0);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
        link_fail(l, false, "read: %s", strerror(errno));
        return;
    }
    if (n == 0) {
        link_fail(l, true, "connection closed by the peer");
        return;
    }
    l->in.len += (size_t)n;
    link_dispatch(l);
}

static void link_on_write(evutil_socket_t fd, short what, void *arg)
{
    struct net_link *l = arg;
    if (l->state == NET_LINK_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
        if (err) {
            link_fail(l, false, "connect: %s", strerror(err));
            return;
        }
        l->state = NET_LINK_CONNECTED;
        evtimer_del(l->ev_connect_timeout);
        event_add(l->ev_read, NULL);
        uint64_t gen = l->gen;
        l->ops->on_connected(l->ctx);
        if (l->gen != gen) return; /* the owner closed it */
    }
    link_flush(l);
}

static void link_on_connect_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct net_link *l = arg;
    if (l->state == NET_LINK_CONNECTING) link_fail(l, false, "connect: timed out");
}

/* ------------------------------------------------------------------------------------------ */
/* Public API                                                                                  */

struct net_link *net_link_new(struct event_base *base, const struct net_link_ops *ops, void *ctx,
                              size_t frame_bytes_max)
{
    if (!base || !ops || !ops->on_connected || !ops->on_frame || !ops->on_closed ||
        frame_bytes_max > INT32_MAX)
        return NULL;
    struct net_link *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    l->base = base;
    l->ops = ops;
    l->ctx = ctx;
    l->frame_bytes_max = frame_bytes_max;
    l->fd = -1;
    gbuf_init(&l->out);
    gbuf_init(&l->in);
    l->ev_connect_timeout = evtimer_new(base, link_on_connect_timeout, l);
    if (!l->ev_connect_timeout) {
        free(l);
        return NULL;
    }
    return l;
}

void net_link_free(struct net_link *l)
{
    if (!l) return;
    assert(!l->dispatching);
    net_link_close(l);
    event_free(l->ev_connect_timeout);
    gbuf_close(&l->out);
    gbuf_close(&l->in);
    free(l);
}

int net_link_connect(struct net_link *l, const char *host, int port, int64_t connect_timeout_ms,
                     char *err, size_t err_len)
{
    assert(l->state == NET_LINK_IDLE && l->fd < 0);
    int rc = GR_EIO;
    if (!host || !*host || port <= 0 || port > 65535 || connect_timeout_ms <= 0) {
        strfmt(err, err_len, "connect: bad address %s:%d", host ? host : "(null)", port);
        rc = GR_EINVAL;
        goto err_close;
    }
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char port_str[16];
    strfmt(port_str, sizeof port_str, "%d", port);
    int gai = getaddrinfo(host, port_str, &hints, &res);
    if (gai || !res) {
        strfmt(err, err_len, "resolve %s: %s", host, gai ? gai_strerror(gai) : "no address");
        goto err_close;
    }
    l->fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (l->fd < 0) {
        strfmt(err, err_len, "socket: %s", strerror(errno));
        goto err_free_res;
    }
    int one = 1;
    setsockopt(l->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    l->ev_read = event_new(l->base, l->fd, EV_READ | EV_PERSIST, link_on_read, l);
    l->ev_write = event_new(l->base, l->fd, EV_WRITE, link_on_write, l);
    if (!l->ev_read || !l->ev_write) {
        strfmt(err, err_len, "event_new: %s", gr_strerror(GR_ENOMEM));
        rc = GR_ENOMEM;
        goto err_free_res;
    }
    /* An immediate success is rare; it too is seen through the write event (SO_ERROR 0), so
     * on_connected always runs from the loop.  After EINTR the connect goes on, too. */
    if (connect(l->fd, res->ai_addr, res->ai_addrlen) < 0 && errno != EINPROGRESS &&
        errno != EINTR) {
        strfmt(err, err_len, "connect: %s", strerror(errno));
        goto err_free_res;
    }
    freeaddrinfo(res);
    l->state = NET_LINK_CONNECTING;
    struct timeval tv = {(time_t)(connect_timeout_ms / 1000),
                         (suseconds_t)(connect_timeout_ms % 1000) * 1000};
    evtimer_add(l->ev_connect_timeout, &tv);
    event_add(l->ev_write, NULL);
    return 0;
err_free_res:
    freeaddrinfo(res);
err_close:
    net_link_close(l);
    return rc;
}

enum net_link_state net_link_state(const struct net_link *l)
{
    return l->state;
}

struct gbuf *net_link_out(struct net_link *l)
{
    return &l->out;
}

void net_link_send(struct net_link *l)
{
    /* CONNECTING: the queue goes out once the connect completes */
    if (l->state == NET_LINK_CONNECTED && l->out_off < l->out.len) event_add(l->ev_write, NULL);
}

void net_link_send_now(struct net_link *l)
{
    if (l->state != NET_LINK_CONNECTED || l->out_off >= l->out.len) return;
    /* Already waiting for room: a send now would only meet EAGAIN. */
    if (!event_pending(l->ev_write, EV_WRITE, NULL)) {
        while (l->out_off < l->out.len) {
            ssize_t w =
                send(l->fd, l->out.data + l->out_off, l->out.len - l->out_off, MSG_NOSIGNAL);
            if (w < 0) {
                if (errno == EINTR) continue;
                break; /* EAGAIN, or an error the write event will meet and report */
            }
            l->out_off += (size_t)w;
        }
        out_compact(l);
        if (l->out_off == l->out.len) return;
    }
    event_add(l->ev_write, NULL);
}

/* net_server.c — listeners, Kafka-framed connections, and in-order response queues. */
#include "net/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define NET_READ_CHUNK (256 * 1024)
#define NET_IOV_MAX 64
#define NET_SLOT_KEEP_BYTES (8 * 1024 * 1024) /* larger response buffers are not pooled */
#define NET_LISTENERS_MAX 8

struct net_slot {
    struct net_slot *next; /* in the connection's queue, or the free list */
    struct net_conn *conn; /* NULL once the connection has closed */
    struct net_server *server;
    struct gbuf buf;
    uint8_t size_prefix[4];
    size_t sent; /* bytes of prefix+payload already written */
    bool done;
    bool silent;
};

struct net_conn {
    struct net_conn *prev, *next; /* server's connection list */
    struct net_server *server;
    int fd;
    struct event *ev_read, *ev_write;
    struct gbuf in;
    struct net_slot *q_head, *q_tail; /* requests in arrival order */
    int32_t outstanding;              /* slots in the queue */
    size_t queued_bytes;              /* completed, unsent response bytes */
    int64_t last_active_ms;
    bool reading;
    bool closing;       /* close when the queue has drained */
    bool dead;          /* closed; freed when no callback is running */
    int in_callback;
    int listener; /* which of the server's listeners accepted it, in net_server_listen order */
    char peer[64];
};

struct net_server {
    struct event_base *base;
    struct net_server_config cfg;
    net_frame_fn on_frame;
    void *ctx;
    int listen_fds[NET_LISTENERS_MAX];
    struct event *listen_evs[NET_LISTENERS_MAX];
    int listener_count;
    bool paused; /* bound, but connections wait in the backlog */
    struct net_conn *conns;
    int conn_count;
    struct net_slot *free_slots;
    struct event *idle_timer;
};

static void conn_close(struct net_conn *c);
static void conn_flush(struct net_conn *c);

/* ------------------------------------------------------------------------------------------ */
/* Slots                                                                                       */

static struct net_slot *slot_get(struct net_server *s)
{
    struct net_slot *slot = s->free_slots;
    if (slot) {
        s->free_slots = slot->next;
    } else {
        slot = calloc(1, sizeof(*slot));
        if (!slot) return NULL;
        gbuf_init(&slot->buf);
        slot->server = s;
    }
    slot->next = NULL;
    slot->conn = NULL;
    slot->sent = 0;
    slot->done = false;
    slot->silent = false;
    gbuf_reset(&slot->buf);
    return slot;
}

static void slot_put(struct net_slot *slot)
{
    struct net_server *s = slot->server;
    if (!s) { /* server already freed */
        gbuf_close(&slot->buf);
        free(slot);
        return;
    }
    if (slot->buf.cap > NET_SLOT_KEEP_BYTES) gbuf_close(&slot->buf);
    slot->next = s->free_slots;
    s->free_slots = slot;
}

struct gbuf *net_slot_buf(struct net_slot *slot)
{
    return &slot->buf;
}

struct net_conn *net_slot_conn(struct net_slot *slot)
{
    return slot->conn;
}

static void slot_complete(struct net_slot *slot, bool silent)
{
    slot->done = true;
    slot->silent = silent;
    struct net_conn *c = slot->conn;
    if (!c) { /* connection gone: the slot was detached from its queue */
        slot_put(slot);
        return;
    }
    if (!silent) {
        be32_put(slot->size_prefix, (uint32_t)slot->buf.len);
        c->queued_bytes += slot->buf.len + 4;
    }
    conn_flush(c);
}

void net_slot_done(struct net_slot *slot)
{
    slot_complete(slot, false);
}

void net_slot_done_silent(struct net_slot *slot)
{
    slot_complete(slot, true);
}

/* ------------------------------------------------------------------------------------------ */
/* Connections                                                                                 */

const char *net_conn_peer(const struct net_conn *c)
{
    return c->peer;
}

int net_conn_listener(const struct net_conn *c)
{
    return c->listener;
}

static bool conn_over_limits(const struct net_conn *c)
{
    const struct net_server_config *cfg = &c->server->cfg;
    return c->queued_bytes > cfg->inflight_bytes_max ||
           c->outstanding >= cfg->inflight_requests_max;
}

static void conn_update_reading(struct net_conn *c)
{
    bool want = !c->dead && !c->closing && !conn_over_limits(c);
    if (want == c->reading) return;
    if (want) {
        event_add(c->ev_read, NULL);
        /* frames that arrived while paused are already buffered: process them now */
        if (c->in.len >= 4) event_active(c->ev_read, EV_READ, 0);
    } else {
        event_del(c->ev_read);
    }
    c->reading = want;
}

/* Writes completed slots from the head of the queue, in order. */
static void conn_flush(struct net_conn *c)
{
    if (c->dead) return;
    for (;;) {
        struct iovec iov[NET_IOV_MAX];
        int n = 0;
        struct net_slot *slot = c->q_head;
        while (slot && slot->done && n + 2 <= NET_IOV_MAX) {
            if (!slot->silent) {
                size_t off = slot->sent;
                if (off < 4) {
                    iov[n].iov_base = slot->size_prefix + off;
                    iov[n++].iov_len = 4 - off;
                    off = 0;
                } else {
                    off -= 4;
                }
                if (slot->buf.len > off) {
                    iov[n].iov_base = slot->buf.data + off;
                    iov[n++].iov_len = slot->buf.len - off;
                }
            }
            slot = slot->next;
        }
        ssize_t w = 0;
        if (n > 0) {
            w = writev(c->fd, iov, n);
            if (w < 0) {
                if (errno == EINTR) continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK) {
                    event_add(c->ev_write, NULL);
                    break;
                }
                conn_close(c);
                return;
            }
        }
        /* retire fully written (or silent) slots */
        size_t left = (size_t)w;
        while (c->q_head && c->q_head->done) {
            struct net_slot *h = c->q_head;
            size_t total = h->silent ? 0 : h->buf.len + 4;
            size_t need = total - h->sent;
            if (left < need) {
                h->sent += left;
                left = 0;
                break;
            }
            left -= need;
            c->queued_bytes -= h->silent ? 0 : total;
            c->q_head = h->next;
            if (!c->q_head) c->q_tail = NULL;
            c->outstanding--;
            slot_put(h);
        }
        if (n == 0 || !c->q_head || !c->q_head->done) break;
    }
    if (c->closing && !c->q_head) {
        conn_close(c);
        return;
    }
    conn_update_reading(c);
}

static void conn_free(struct net_conn *c)
{
    gbuf_close(&c->in);
    free(c);
}

/* Closes the socket and detaches outstanding slots (their owners complete them later). */
static void conn_close(struct net_conn *c)
{
    if (c->dead) return;
    c->dead = true;
    struct net_server *s = c->server;
    event_free(c->ev_read);
    event_free(c->ev_write);
    close(c->fd);
    struct net_slot *slot = c->q_head;
    while (slot) {
        struct net_slot *next = slot->next;
        slot->conn = NULL;
        slot->next = NULL;
        if (slot->done) slot_put(slot);
        slot = next;
    }
    c->q_head = c->q_tail = NULL;
    if (c->prev) c->prev->next = c->next;
    else s->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    s->conn_count--;
    LOG_DEBUG("net", "closed connection from %s", c->peer);
    if (!c->in_callback) conn_free(c);
}

void net_conn_close_after_flush(struct net_conn *c)
{
    c->closing = true;
}

/* Hands every complete frame in c->in to the frame callback.  Returns false if the connection
 * closed (it is then freed by the caller, which holds in_callback). */
static bool conn_process_frames(struct net_conn *c)
{
    struct net_server *s = c->server;
    size_t pos = 0;
    while (!c->dead && !c->closing && c->in.len - pos >= 4) {
        int32_t size = (int32_t)be32_get(c->in.data + pos);
        if (size < 0 || size > s->cfg.frame_bytes_max) {
            LOG_WARN("net", "closing connection from %s: frame of %d bytes exceeds "
                     "socket.request.max.bytes (%d)", c->peer, size, s->cfg.frame_bytes_max);
            conn_close(c);
            return false;
        }
        /* Incomplete: wait for more.  The buffer grows only as bytes arrive, so a peer that
         * announces a large frame and sends nothing costs nothing. */
        if (c->in.len - pos < (size_t)size + 4) break;
        struct net_slot *slot = slot_get(s);
        if (!slot) {
            conn_close(c);
            return false;
        }
        slot->conn = c;
        if (c->q_tail) c->q_tail->next = slot;
        else c->q_head = slot;
        c->q_tail = slot;
        c->outstanding++;
        int rc = s->on_frame(s->ctx, c, slot, c->in.data + pos + 4, (size_t)size);
        pos += (size_t)size + 4;
        if (rc && !c->dead) {
            if (!slot->done) net_slot_done_silent(slot);
            conn_close(c);
        }
        if (c->dead) return false;
        if (conn_over_limits(c)) break;
    }
    gbuf_consume(&c->in, pos);
    return true;
}

static void conn_on_read(evutil_socket_t fd, short what, void *arg)
{
    struct net_conn *c = arg;
    c->last_active_ms = time_mono_ms();
    if (gbuf_reserve(&c->in, NET_READ_CHUNK)) {
        conn_close(c);
        return;
    }
    ssize_t n = read(fd, c->in.data + c->in.len, c->in.cap - c->in.len);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR && errno != EWOULDBLOCK)) {
        conn_close(c);
        return;
    }
    /* n < 0 (EAGAIN) happens when reading resumes with frames already buffered */
    if (n > 0) c->in.len += (size_t)n;
    c->in_callback++;
    conn_process_frames(c);
    c->in_callback--;
    if (c->dead) {
        conn_free(c);
        return;
    }
    conn_update_reading(c);
}

static void conn_on_write(evutil_socket_t fd, short what, void *arg)
{
    struct net_conn *c = arg;
    c->last_active_ms = time_mono_ms();
    conn_flush(c);
}

/* ------------------------------------------------------------------------------------------ */
/* Listeners                                                                                   */

static void server_on_accept(evutil_socket_t lfd, short what, void *arg)
{
    struct net_server *s = arg;
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                LOG_WARN("net", "accept failed: %s", strerror(errno));
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct net_conn *c = calloc(1, sizeof(*c));
        if (!c) {
            close(fd);
            return;
        }
        c->server = s;
        c->fd = fd;
        for (int k = 0; k < s->listener_count; k++)
            if (s->listen_fds[k] == lfd) c->listener = k;
        gbuf_init(&c->in);
        char host[INET6_ADDRSTRLEN] = "?", port[8] = "?";
        getnameinfo((struct sockaddr *)&ss, sl, host, sizeof host, port, sizeof port,
                    NI_NUMERICHOST | NI_NUMERICSERV);
        strfmt(c->peer, sizeof c->peer, "%s:%s", host, port);
        c->ev_read = event_new(s->base, fd, EV_READ | EV_PERSIST, conn_on_read, c);
        c->ev_write = event_new(s->base, fd, EV_WRITE, conn_on_write, c);
        if (!c->ev_read || !c->ev_write) {
            if (c->ev_read) event_free(c->ev_read);
            if (c->ev_write) event_free(c->ev_write);
            close(fd);
            free(c);
            return;
        }
        c->last_active_ms = time_mono_ms();
        c->next = s->conns;
        if (s->conns) s->conns->prev = c;
        s->conns = c;
        s->conn_count++;
        event_add(c->ev_read, NULL);
        c->reading = true;
    }
}

static void server_on_idle_timer(evutil_socket_t fd, short what, void *arg)
{
    struct net_server *s = arg;
    int64_t now = time_mono_ms();
    struct net_conn *c = s->conns;
    while (c) {
        struct net_conn *next = c->next;
        if (s->cfg.idle_ms_max > 0 && !c->q_head && now - c->last_active_ms > s->cfg.idle_ms_max) {
            LOG_DEBUG("net", "closing idle connection from %s", c->peer);
            conn_close(c);
        }
        c = next;
    }
}

struct net_server *net_server_new(struct event_base *base, const struct net_server_config *cfg,
                                  net_frame_fn on_frame, void *ctx)
{
    struct net_server *s = calloc(1, sizeof(*s));
    if (!s) return NULL;
    s->base = base;
    s->cfg = *cfg;
    s->on_frame = on_frame;
    s->ctx = ctx;
    s->idle_timer = event_new(base, -1, EV_PERSIST, server_on_idle_timer, s);
    struct timeval tv = {0, 200 * 1000};
    event_add(s->idle_timer, &tv);
    return s;
}

int net_server_listen(struct net_server *s, const char *host, int port, int *bound_port,
                      char *err, size_t err_len)
{
    if (s->listener_count == NET_LISTENERS_MAX) {
        strfmt(err, err_len, "too many listeners");
        return GR_EINVAL;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE};
    struct addrinfo *res = NULL;
    char portstr[16];
    strfmt(portstr, sizeof portstr, "%d", port);
    int gai = getaddrinfo(host && *host ? host : NULL, portstr, &hints, &res);
    if (gai) {
        strfmt(err, err_len, "cannot resolve listener host '%s': %s", host, gai_strerror(gai));
        return GR_EIO;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) || listen(fd, 1024)) {
        strfmt(err, err_len, "cannot listen on %s:%d: %s", host && *host ? host : "*", port,
               strerror(errno));
        if (fd >= 0) close(fd);
        freeaddrinfo(res);
        return GR_EIO;
    }
    freeaddrinfo(res);
    if (bound_port) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        getsockname(fd, (struct sockaddr *)&ss, &sl);
        *bound_port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                     : ((struct sockaddr_in *)&ss)->sin_port);
    }
    struct event *ev = event_new(s->base, fd, EV_READ | EV_PERSIST, server_on_accept, s);
    if (!s->paused) event_add(ev, NULL);
    s->listen_fds[s->listener_count] = fd;
    s->listen_evs[s->listener_count++] = ev;
    return 0;
}

void net_server_stop_listening(struct net_server *s)
{
    for (int i = 0; i < s->listener_count; i++) {
        event_free(s->listen_evs[i]);
        close(s->listen_fds[i]);
    }
    s->listener_count = 0;
}

void net_server_set_accepting(struct net_server *s, bool accepting)
{
    s->paused = !accepting;
    for (int i = 0; i < s->listener_count; i++) {
        if (accepting) event_add(s->listen_evs[i], NULL);
        else event_del(s->listen_evs[i]);
    }
}

int net_server_conn_count(const struct net_server *s)
{
    return s->conn_count;
}

void net_server_free(struct net_server *s)
{
    if (!s) return;
    net_server_stop_listening(s);
    while (s->conns) conn_close(s->conns);
    if (s->idle_timer) event_free(s->idle_timer);
    while (s->free_slots) {
        struct net_slot *n = s->free_slots->next;
        gbuf_close(&s->free_slots->buf);
        free(s->free_slots);
        s->free_slots = n;
    }
    free(s);
}

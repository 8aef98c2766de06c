/*
 * raft_io_transport.c — outbound peer connections with bounded queues and backoff, and the
 * inbound frame handler.  See raft_io_transport.h for the contract.
 *
 * Peer connection states:
 *
 *   IDLE --send--> CONNECTING --writable, SO_ERROR == 0--> CONNECTED
 *                      |                                      |
 *                      +------------ failure / EOF -----------+--> BACKOFF --timer--> CONNECTING
 *
 * Queue: `out` holds encoded frames back to back, [out_off, out.len) unsent; `lens` holds the
 * u32 byte length of each queued frame, [lens_head, lens_n), so that `sent` counts whole frames
 * and a failure knows how many messages it drops.
 */
#include "raft/raft_io_transport.h"

#include "net/net.h"
#include "proto/proto_control.h"
#include "raft/raft_io_wire.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <event2/event.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define RT_COMP "raft-transport"
#define RT_STABLE_MS 2000 /* a connection up this long resets the backoff when it is lost */
#define RT_ARENA_BLOCK_BYTES (64 * 1024)

enum rt_state { RT_IDLE, RT_CONNECTING, RT_CONNECTED, RT_BACKOFF };

struct rt_peer {
    struct raft_transport *t;
    int32_t id;
    char host[256];
    int port;
    struct sockaddr_storage addr;
    socklen_t addr_len;
    enum rt_state state;
    int fd;
    struct event *ev_read, *ev_write, *ev_backoff;
    struct gbuf out;
    size_t out_off;
    uint32_t *lens; /* ring of RAFT_TRANSPORT_QUEUE_MSGS_MAX frame lengths */
    uint32_t lens_head, lens_n;
    int backoff_ms;
    int64_t connected_at_ms;
    bool down_logged; /* a WARN went out for the current outage */
    struct raft_transport_stats stats;
};

struct raft_transport {
    struct event_base *base;
    int32_t self_id;
    raft_transport_recv_fn on_msg;
    void *ctx;
    struct rt_peer peers[RAFT_TRANSPORT_PEERS_MAX];
    int n_peers;
    struct arena arena; /* one inbound frame at a time */
};

static void peer_connect(struct rt_peer *p);
static void peer_flush(struct rt_peer *p);

/* ------------------------------------------------------------------------------------------ */
/* Peer connections                                                                            */

static void peer_drop_queue(struct rt_peer *p)
{
    p->stats.dropped += p->lens_n;
    p->lens_head = p->lens_n = 0;
    gbuf_reset(&p->out);
    p->out_off = 0;
}

static void peer_close_fd(struct rt_peer *p)
{
    if (p->ev_read) event_free(p->ev_read);
    if (p->ev_write) event_free(p->ev_write);
    p->ev_read = p->ev_write = NULL;
    if (p->fd >= 0) close(p->fd);
    p->fd = -1;
}

/* The connection failed or closed: drop what was queued and retry after the backoff. */
static void peer_fail(struct rt_peer *p, const char *what, int err)
{
    bool was_up = p->state == RT_CONNECTED;
    int64_t now = time_mono_ms();
    peer_close_fd(p);
    peer_drop_queue(p);
    p->stats.connect_failures++;
    if (was_up && now - p->connected_at_ms >= RT_STABLE_MS) p->backoff_ms = 0;
    if (p->backoff_ms == 0) p->backoff_ms = RAFT_TRANSPORT_BACKOFF_MS_MIN;
    else if (p->backoff_ms < RAFT_TRANSPORT_BACKOFF_MS_MAX) p->backoff_ms *= 2;
    if (p->backoff_ms > RAFT_TRANSPORT_BACKOFF_MS_MAX) p->backoff_ms = RAFT_TRANSPORT_BACKOFF_MS_MAX;
    if (!p->down_logged) {
        LOG_WARN(RT_COMP, "peer %d (%s:%d) unreachable: %s: %s; retrying with backoff", p->id,
                 p->host, p->port, what, err ? strerror(err) : "closed");
        p->down_logged = true;
    }
    p->state = RT_BACKOFF;
    struct timeval tv = {p->backoff_ms / 1000, (p->backoff_ms % 1000) * 1000};
    evtimer_add(p->ev_backoff, &tv);
}

static void peer_on_backoff(evutil_socket_t fd, short what, void *arg)
{
    struct rt_peer *p = arg;
    if (p->state == RT_BACKOFF) peer_connect(p);
}

static void peer_on_connected(struct rt_peer *p)
{
    p->state = RT_CONNECTED;
    p->connected_at_ms = time_mono_ms();
    if (p->down_logged) {
        LOG_INFO(RT_COMP, "peer %d (%s:%d) reachable again", p->id, p->host, p->port);
        p->down_logged = false;
    }
    event_add(p->ev_read, NULL);
    peer_flush(p);
}

/* The peer never sends on our outbound connection; reading only notices EOF and errors. */
static void peer_on_read(evutil_socket_t fd, short what, void *arg)
{
    struct rt_peer *p = arg;
    uint8_t buf[512];
    for (int i = 0; i < 16; i++) {
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r > 0) continue;
        if (r < 0 && (errno == EINTR)) continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        peer_fail(p, "connection lost", r < 0 ? errno : 0);
        return;
    }
}

static void peer_on_write(evutil_socket_t fd, short what, void *arg)
{
    struct rt_peer *p = arg;
    if (p->state == RT_CONNECTING) {
        int err = 0;
        socklen_t el = sizeof err;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0) err = errno;
        if (err) {
            peer_fail(p, "connect", err);
            return;
        }
        peer_on_connected(p);
        return;
    }
    if (p->state == RT_CONNECTED) peer_flush(p);
}

static void peer_connect(struct rt_peer *p)
{
    p->fd = socket(p->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (p->fd < 0) {
        p->state = RT_CONNECTING; /* so peer_fail treats it as an attempt */
        peer_fail(p, "socket", errno);
        return;
    }
    int one = 1;
    setsockopt(p->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    p->ev_read = event_new(p->t->base, p->fd, EV_READ | EV_PERSIST, peer_on_read, p);
    p->ev_write = event_new(p->t->base, p->fd, EV_WRITE, peer_on_write, p);
    p->state = RT_CONNECTING;
    if (!p->ev_read || !p->ev_write) {
        peer_fail(p, "event_new", ENOMEM);
        return;
    }
    int rc;
    do {
        rc = connect(p->fd, (const struct sockaddr *)&p->addr, p->addr_len);
    } while (rc < 0 && errno == EINTR);
    if (rc == 0) {
        peer_on_connected(p);
    } else if (errno == EINPROGRESS) {
        event_add(p->ev_write, NULL);
    } else {
        peer_fail(p, "connect", errno);
    }
}

/* Writes queued frames until the socket would block or the queue is empty. */
static void peer_flush(struct rt_peer *p)
{
    while (p->state == RT_CONNECTED && p->out_off < p->out.len) {
        ssize_t w = send(p->fd, p->out.data + p->out_off, p->out.len - p->out_off, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                event_add(p->ev_write, NULL);
                return;
            }
            peer_fail(p, "write", errno);
            return;
        }
        size_t left = (size_t)w;
        /* retire whole frames: the head frame starts at out_off */
        while (left > 0) {
            assert(p->lens_n > 0);
            uint32_t *head = &p->lens[p->lens_head];
            if (left < *head) {
                *head -= (uint32_t)left;
                p->out_off += left;
                left = 0;
                break;
            }
            left -= *head;
            p->out_off += *head;
            p->lens_head = (p->lens_head + 1) % RAFT_TRANSPORT_QUEUE_MSGS_MAX;
            p->lens_n--;
            p->stats.sent++;
        }
    }
    if (p->out_off == p->out.len) {
        gbuf_reset(&p->out);
        p->out_off = 0;
    } else if (p->out_off > p->out.len / 2) {
        gbuf_consume(&p->out, p->out_off);
        p->out_off = 0;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Public API                                                                                  */

static int peer_resolve(struct rt_peer *p)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    char port[16];
    snprintf(port, sizeof port, "%d", p->port);
    if (getaddrinfo(p->host, port, &hints, &res) != 0 || !res) {
        LOG_WARN(RT_COMP, "peer %d: cannot resolve %s", p->id, p->host);
        return GR_EINVAL;
    }
    memcpy(&p->addr, res->ai_addr, res->ai_addrlen);
    p->addr_len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static struct rt_peer *peer_find(struct raft_transport *t, int64_t id)
{
    for (int i = 0; i < t->n_peers; i++)
        if (t->peers[i].id == id) return &t->peers[i];
    return NULL;
}

struct raft_transport *raft_transport_new(struct event_base *base, int32_t self_id,
                                          const struct raft_transport_peer *peers, int n_peers,
                                          raft_transport_recv_fn on_msg, void *ctx)
{
    if (!base || self_id <= 0 || n_peers < 0 || (n_peers > 0 && !peers) || !on_msg) return NULL;
    struct raft_transport *t = calloc(1, sizeof(*t));
    if (!t) return NULL;
    t->base = base;
    t->self_id = self_id;
    t->on_msg = on_msg;
    t->ctx = ctx;
    arena_init(&t->arena, RT_ARENA_BLOCK_BYTES);
    for (int i = 0; i < n_peers; i++) {
        const struct raft_transport_peer *src = &peers[i];
        if (src->id == self_id) continue;
        if (src->id <= 0 || !src->host || src->port <= 0 || src->port > 65535 ||
            strlen(src->host) >= sizeof t->peers[0].host || peer_find(t, src->id) ||
            t->n_peers == RAFT_TRANSPORT_PEERS_MAX)
            goto err_free;
        struct rt_peer *p = &t->peers[t->n_peers];
        p->t = t;
        p->id = src->id;
        p->fd = -1;
        snprintf(p->host, sizeof p->host, "%s", src->host);
        p->port = src->port;
        gbuf_init(&p->out);
        t->n_peers++;
        p->lens = malloc(sizeof(uint32_t) * RAFT_TRANSPORT_QUEUE_MSGS_MAX);
        p->ev_backoff = evtimer_new(base, peer_on_backoff, p);
        if (!p->lens || !p->ev_backoff) goto err_free;
        if (peer_resolve(p)) goto err_free;
    }
    return t;
err_free:
    raft_transport_free(t);
    return NULL;
}

void raft_transport_free(struct raft_transport *t)
{
    if (!t) return;
    for (int i = 0; i < t->n_peers; i++) {
        struct rt_peer *p = &t->peers[i];
        peer_close_fd(p);
        if (p->ev_backoff) event_free(p->ev_backoff);
        gbuf_close(&p->out);
        free(p->lens);
    }
    arena_close(&t->arena);
    free(t);
}

int raft_transport_send(struct raft_transport *t, const struct raft_msg *m)
{
    struct rt_peer *p = peer_find(t, m->to);
    if (!p) return GR_EINVAL;
    if (p->state == RT_BACKOFF || p->lens_n == RAFT_TRANSPORT_QUEUE_MSGS_MAX) {
        p->stats.dropped++;
        return 0;
    }
    size_t before = p->out.len;
    int rc = raft_io_wire_encode(m, &p->out);
    if (rc) {
        p->stats.dropped++;
        return rc;
    }
    size_t frame = p->out.len - before;
    size_t queued = before - p->out_off;
    if (frame > UINT32_MAX || (queued > 0 && queued + frame > RAFT_TRANSPORT_QUEUE_BYTES_MAX)) {
        p->out.len = before; /* drop the newest */
        p->stats.dropped++;
        return 0;
    }
    p->lens[(p->lens_head + p->lens_n) % RAFT_TRANSPORT_QUEUE_MSGS_MAX] = (uint32_t)frame;
    p->lens_n++;
    if (p->state == RT_IDLE) peer_connect(p);
    else if (p->state == RT_CONNECTED) peer_flush(p);
    return 0;
}

int raft_transport_on_frame(void *ctx, struct net_conn *c, struct net_slot *slot,
                            uint8_t *payload, size_t len)
{
    struct raft_transport *t = ctx;
    int rc = 0;
    arena_reset(&t->arena);
    Gregor__Control__ControlFrame *f = (Gregor__Control__ControlFrame *)control_message_unpack(
        &gregor__control__control_frame__descriptor, payload, len, &t->arena, &rc);
    if (!f) goto out;
    if (f->body_case != GREGOR__CONTROL__CONTROL_FRAME__BODY_RAFT) goto out; /* GR_EUNSUP */
    if (!f->raft) {
        rc = GR_ECORRUPT;
        goto out;
    }
    struct raft_msg msg;
    memset(&msg, 0, sizeof msg);
    rc = raft_io_wire_from_frame(f, &msg, &t->arena);
    if (rc == 0) t->on_msg(t->ctx, &msg);
out:
    arena_reset(&t->arena);
    if (rc == GR_ECORRUPT || rc == GR_ERANGE || rc == GR_EINVAL) {
        /* the caller completes the slot and closes the connection */
        LOG_WARN(RT_COMP, "bad raft frame from %s: %s; closing", c ? net_conn_peer(c) : "?",
                 gr_strerror(rc));
        return 1;
    }
    /* 0, or GR_ENOMEM: the message is dropped and Raft retransmits */
    net_slot_done_silent(slot);
    return 0;
}

int raft_transport_stats(const struct raft_transport *t, int32_t peer_id,
                         struct raft_transport_stats *out)
{
    memset(out, 0, sizeof *out);
    bool found = peer_id == 0;
    for (int i = 0; i < t->n_peers; i++) {
        const struct rt_peer *p = &t->peers[i];
        if (peer_id != 0 && p->id != peer_id) continue;
        found = true;
        out->sent += p->stats.sent;
        out->dropped += p->stats.dropped;
        out->connect_failures += p->stats.connect_failures;
    }
    return found ? 0 : GR_EINVAL;
}

bool raft_transport_connected(const struct raft_transport *t, int32_t peer_id)
{
    for (int i = 0; i < t->n_peers; i++)
        if (t->peers[i].id == peer_id) return t->peers[i].state == RT_CONNECTED;
    return false;
}

/*
 * net.h — the public header of Gregor's `net` module: a libevent loop, TCP listeners, and
 * Kafka-framed connections (int32 big-endian size + payload) whose responses leave in request
 * order even when they complete out of order (delayed fetches and produces).
 *
 * Threading: everything runs on the loop's thread.
 *
 * Flow: the listener accepts; each complete frame is handed to the frame callback with a fresh
 * response slot; the callback (now or later, through a timer or another event) fills
 * net_slot_buf() with the response payload and calls net_slot_done().  Completed slots are
 * written in order with writev.  A connection whose unsent responses exceed the in-flight cap
 * stops being read until they drain.  A frame callback that returns nonzero closes the
 * connection (an unparseable frame).
 */
#ifndef GREGOR_NET_H
#define GREGOR_NET_H

#include "common/common.h"

struct event_base;
struct net_server;
struct net_conn;
struct net_slot;

struct net_server_config {
    int32_t frame_bytes_max;       /* socket.request.max.bytes */
    int64_t idle_ms_max;           /* connections.max.idle.ms; <= 0 never */
    size_t inflight_bytes_max;     /* stop reading while queued response bytes exceed this */
    int32_t inflight_requests_max; /* ... or while this many requests are outstanding */
};

/* Called for each complete frame.  payload/len is valid only during the call and the callee may
 * modify it in place (Produce assigns offsets in the request bytes).  slot is owned by the
 * connection; the callee must call net_slot_done(slot) exactly once.  Return 0, or nonzero to
 * close the connection (the slot is then completed by the caller). */
typedef int (*net_frame_fn)(void *ctx, struct net_conn *c, struct net_slot *slot,
                            uint8_t *payload, size_t len);

struct net_server *net_server_new(struct event_base *base, const struct net_server_config *cfg,
                                  net_frame_fn on_frame, void *ctx);
/* Closes listeners and all connections; outstanding slots are released.  NULL is a no-op. */
void net_server_free(struct net_server *s);
/* Binds and listens on host:port ("" or "0.0.0.0" for any).  If port is 0, the chosen port is
 * returned through *bound_port.  Returns 0 or GR_EIO with a message in err. */
int net_server_listen(struct net_server *s, const char *host, int port, int *bound_port,
                      char *err, size_t err_len);
/* Stops accepting new connections (for shutdown). */
void net_server_stop_listening(struct net_server *s);
int net_server_conn_count(const struct net_server *s);
/* Stops (false) or resumes (true) accepting on every listener, including ones bound later;
 * connections meanwhile wait in the kernel's backlog.  A broker binds its ports at start and
 * accepts once the controller has unfenced it, as Kafka's brokers do. */
void net_server_set_accepting(struct net_server *s, bool accepting);

/* The response payload buffer of a slot (without the size prefix, which net adds). */
struct gbuf *net_slot_buf(struct net_slot *slot);
/* Marks the slot complete; if the connection has gone, just releases it. */
void net_slot_done(struct net_slot *slot);
/* Completes the slot with no response at all (acks=0 produce).  Ordering is kept. */
void net_slot_done_silent(struct net_slot *slot);
/* The connection of a slot, or NULL once the connection has closed. */
struct net_conn *net_slot_conn(struct net_slot *slot);
/* A short "host:port" of the peer, for logs. */
const char *net_conn_peer(const struct net_conn *c);
/* Requests that the connection close once the responses already completed are written. */
void net_conn_close_after_flush(struct net_conn *c);

#endif

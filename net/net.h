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
/* The listener that accepted the connection: 0 for the first net_server_listen, and so on. */
int net_conn_listener(const struct net_conn *c);
/* Requests that the connection close once the responses already completed are written. */
void net_conn_close_after_flush(struct net_conn *c);

/* ------------------------------------------------------------------------------------------ */
/* Outbound framed connections (net_link.c)                                                    */
/*
 * A net_link holds at most one outbound TCP connection at a time, to an address given per
 * connect: a non-blocking connect with a timeout, TCP_NODELAY, a write queue its owner appends
 * whole frames to, and a read buffer cut into frames of the framing above ([int32 BE size]
 * [payload]).  It knows nothing of requests and answers: the control-plane channel
 * (controller/controller_channel.c) and net_kclient below are built on it.
 *
 *   IDLE --net_link_connect--> CONNECTING --writable, SO_ERROR == 0--> CONNECTED
 *    ^                             |  refused, connect timeout            |  error, EOF, a frame
 *    +--------- on_closed ---------+--------------------------------------+  above the maximum
 *    +--------- net_link_close (the owner, from any state; no callback)
 *
 * Every close drops the unsent output and the unparsed input.  Callbacks run from the loop
 * only, never inside a net_link_* call.  The read buffer grows as bytes arrive, by doubling: a
 * peer announcing a huge frame costs nothing up front, and a frame of tens of MB costs a few
 * reallocs, not a copy per read; an emptied buffer above 1 MiB is given back.
 *
 * Threads: the event_base's thread only.
 */
struct net_link;

enum net_link_state { NET_LINK_IDLE, NET_LINK_CONNECTING, NET_LINK_CONNECTED };

struct net_link_ops {
    /* The connect completed; the queued output starts going out after this returns. */
    void (*on_connected)(void *ctx);
    /* One complete frame: `frame` points at its 4-byte size prefix, frame_bytes counts it.  Valid
     * during the call only, and for all of it even if the callee closes the link.  The callee
     * may queue output, close the link and connect it again (the rest of the input of the closed
     * connection is then dropped), but not free it. */
    void (*on_frame)(void *ctx, const uint8_t *frame, size_t frame_bytes);
    /* The connection is gone and the link is IDLE again.  eof: the peer closed it (an orderly
     * EOF); otherwise something failed.  reason is for logs ("connect: Connection refused"),
     * valid during the call only. */
    void (*on_closed)(void *ctx, bool eof, const char *reason);
};

/* ops (all three set) is borrowed and must outlive the link.  frame_bytes_max (<= INT32_MAX) is
 * the largest frame payload accepted; a larger announced size closes the connection.  Returns
 * NULL on a bad argument or out of memory.  No connection is opened. */
struct net_link *net_link_new(struct event_base *base, const struct net_link_ops *ops, void *ctx,
                              size_t frame_bytes_max);
/* Closes any connection (no callback) and frees.  Not from inside this link's callbacks.  NULL:
 * no-op. */
void net_link_free(struct net_link *l);
/* Starts connecting an IDLE link to host:port (resolved here, with a blocking getaddrinfo; the
 * first address is used).  Output queued before the call is kept and goes out once connected.
 * Returns 0 (on_connected or on_closed follows, from the loop, the latter after
 * connect_timeout_ms at the latest), or GR_EINVAL (bad address), GR_EIO or GR_ENOMEM with the
 * reason in err; the link is then IDLE, its queue dropped, and no callback follows. */
int net_link_connect(struct net_link *l, const char *host, int port, int64_t connect_timeout_ms,
                     char *err, size_t err_len);
/* Closes the connection, if any, without a callback.  May be called from the callbacks. */
void net_link_close(struct net_link *l);
enum net_link_state net_link_state(const struct net_link *l);
/* The write queue: append whole frames (size prefix included), then call net_link_send.  The
 * buffer is owned by the link; a close empties it. */
struct gbuf *net_link_out(struct net_link *l);
/* Has the write event send what is queued (once connected; nothing is sent inside this call). */
void net_link_send(struct net_link *l);
/* Sends what is queued now, as far as the socket takes it; the write event sends the rest and
 * reports a write error (never this call).  While connecting, the same as net_link_send. */
void net_link_send_now(struct net_link *l);

/* ------------------------------------------------------------------------------------------ */
/* Kafka protocol client connection (net_kclient.c)                                            */
/*
 * A client of the Kafka protocol over one connection to one broker, for broker-to-broker
 * traffic (a follower fetching from a partition's leader: Fetch, OffsetsForLeaderEpoch).
 * Requests carry request header v1 or v2 and responses header v0 or v1, as the generated
 * kafka_request_header_version / kafka_response_header_version say for the API and version.
 *
 * Calls are pipelined on the connection and matched to answers in order, as Kafka answers
 * them; an answer whose correlation id is not the oldest outstanding call's, an undecodable
 * response header, or a response frame above NET_KCLIENT_FRAME_BYTES_MAX closes the connection.
 * A call that times out gets GR_ETIMEDOUT at once, but keeps its place in the order: its answer
 * is dropped when it comes, so the connection stays in step.  Should NET_KCLIENT_ORPHANS_MAX
 * timed-out calls await their answers at once, the broker is taken to be stuck and the
 * connection is closed.
 *
 * Connection: opened on the first call (lazily), non-blocking, within
 * NET_KCLIENT_CONNECT_TIMEOUT_MS.  When it fails or closes, the calls outstanding on it fail
 * with GR_EIO; the next call reconnects, but not sooner than NET_KCLIENT_RETRY_MS after the
 * failure (calls made meanwhile fail, asynchronously, with GR_EIO).  The broker closing an idle
 * connection is no failure.
 *
 * Threads: everything runs on the event_base's thread.
 */
struct net_kclient;
struct kafka_writer;

#define NET_KCLIENT_CONNECT_TIMEOUT_MS 3000
#define NET_KCLIENT_RETRY_MS 100
#define NET_KCLIENT_FRAME_BYTES_MAX ((size_t)256 << 20) /* requests and responses alike */
#define NET_KCLIENT_HOST_BYTES_MAX 256                  /* host names, with the terminating NUL */
#define NET_KCLIENT_CALLS_MAX 4096 /* outstanding calls, timed-out ones awaiting answers too */
#define NET_KCLIENT_ORPHANS_MAX 64 /* timed-out calls awaiting their answers */

/* err: 0 (body = the response body after the response header, len bytes, valid during the
 * callback only), GR_EIO (the connection failed or closed before the answer), GR_ETIMEDOUT (no
 * answer within the call's timeout), GR_ECANCELED (net_kclient_free).  body is NULL and len 0
 * unless err is 0. */
typedef void (*net_kclient_cb)(void *arg, int err, const uint8_t *body, size_t len);

/* The encoder net_kclient_call takes writes req's body (no header) and returns 0 or w->err.
 * NET_KCLIENT_ENCODER(name) defines a static inline name##_encode_any of that type calling the
 * generated name##_encode(w, version, (const struct name *)req), so that no function pointer is
 * cast.  Use where proto/proto.h is included:
 *     NET_KCLIENT_ENCODER(kafka_fetch_request)
 *     net_kclient_call(c, KAFKA_API_FETCH, 12, kafka_fetch_request_encode_any, &req, ...); */
#define NET_KCLIENT_ENCODER(name)                                                                  \
    static inline int name##_encode_any(struct kafka_writer *w, int16_t version, const void *req)  \
    {                                                                                              \
        return name##_encode(w, version, (const struct name *)req);                                \
    }

/* A client of the broker at host:port (host: a name or address, shorter than
 * NET_KCLIENT_HOST_BYTES_MAX), sending client_id (copied; NULL for a null client id, at most
 * INT16_MAX bytes) in every request header.  Returns NULL on a bad argument or out of memory.
 * No connection is opened until the first call. */
struct net_kclient *net_kclient_new(struct event_base *base, const char *host, int port,
                                    const char *client_id);
/* Fails every outstanding call with GR_ECANCELED (the callbacks run inside this call; from them
 * net_kclient_call returns GR_ECANCELED and net_kclient_set_address does nothing), closes the
 * connection, frees.  Not from inside a callback of c.  NULL: no-op. */
void net_kclient_free(struct net_kclient *c);
/* Sends one request: api_key at version (both in the generated API table, else GR_EINVAL), body
 * = what encode writes for req (borrowed; encoded before the call returns).  cb is called
 * exactly once, always from the event loop, never inside net_kclient_call; it may call
 * net_kclient_call and net_kclient_set_address, not net_kclient_free.  timeout_ms > 0 bounds the
 * wait for the answer, connecting included.  Returns 0, or with cb never called: GR_EINVAL (bad
 * argument, the encoder failed, or the request is above NET_KCLIENT_FRAME_BYTES_MAX), GR_ENOMEM
 * (out of memory, or NET_KCLIENT_CALLS_MAX calls outstanding), GR_ECANCELED (from a callback
 * that net_kclient_free runs). */
int net_kclient_call(struct net_kclient *c, int16_t api_key, int16_t version,
                     int (*encode)(struct kafka_writer *w, int16_t version, const void *req),
                     const void *req, int64_t timeout_ms, net_kclient_cb cb, void *arg);
/* Moves the client to host:port (a leader moved).  If that differs from the current address, the
 * connection is closed and the calls outstanding on it fail with GR_EIO (from the loop); later
 * calls connect to the new address at once.  A bad address (NULL or overlong host, port outside
 * 1..65535) is taken too: calls to it fail with GR_EIO. */
void net_kclient_set_address(struct net_kclient *c, const char *host, int port);
/* True while a connection is established (not connecting, not idle). */
bool net_kclient_connected(const struct net_kclient *c);

#endif

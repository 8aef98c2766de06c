/*
 * raft_io_transport.h — the Raft message transport between controllers.
 *
 * Outbound: one non-blocking TCP connection per peer, opened lazily on the first send, carrying
 * control frames written by raft_io_wire_encode() ([u32 BE length][ControlFrame{raft}]).  A
 * connection that fails or closes loses its queued messages (Raft retransmits, so dropping is
 * the correct loss model) and is re-opened after an exponential backoff of 50 ms doubling to
 * 2 s.  While a peer is backing off, sends to it are dropped at once.  Each peer's output queue
 * is bounded (RAFT_TRANSPORT_QUEUE_BYTES_MAX, RAFT_TRANSPORT_QUEUE_MSGS_MAX): beyond it the
 * newest message is dropped and counted.  One message larger than the byte bound is still
 * accepted when the queue is empty (a whole snapshot travels in one message).
 *
 * Inbound: raft_transport_on_frame() has the signature of net's net_frame_fn, so a node runs a
 * net_server on its controller listener with the transport as the frame handler.  Raft messages
 * have no response frame: a response is an ordinary raft message that travels back over this
 * node's own outbound connection to the sender.
 *
 * No Raft logic lives here and nothing blocks, except that peer host names that are not
 * numeric addresses are resolved once, in raft_transport_new().
 *
 * Logging: one LOG_WARN when a peer becomes unreachable, one LOG_INFO when it is reachable
 * again; nothing in between (no floods while a peer is down).
 *
 * Threads: everything runs on the thread of the event_base given to raft_transport_new().
 */
#ifndef GREGOR_RAFT_IO_TRANSPORT_H
#define GREGOR_RAFT_IO_TRANSPORT_H

#include "common/common.h"
#include "raft/raft.h"

#include <stdint.h>

struct event_base;
struct net_conn;
struct net_slot;

#define RAFT_TRANSPORT_PEERS_MAX RAFT_MEMBERS_MAX
#define RAFT_TRANSPORT_QUEUE_BYTES_MAX ((size_t)8 << 20) /* per peer, encoded frame bytes */
#define RAFT_TRANSPORT_QUEUE_MSGS_MAX 65536u              /* per peer */
#define RAFT_TRANSPORT_BACKOFF_MS_MIN 50
#define RAFT_TRANSPORT_BACKOFF_MS_MAX 2000

/* A peer's address.  host is borrowed for the call (copied); ids are nonzero. */
struct raft_transport_peer {
    int32_t id;
    const char *host;
    int port;
};

/* Counters since raft_transport_new().
 *   sent:             messages whose whole frame was written to the socket;
 *   dropped:          messages refused (queue full, peer backing off, encode error) or lost
 *                     from a queue when its connection failed;
 *   connect_failures: connection attempts that failed, plus established connections lost. */
struct raft_transport_stats {
    uint64_t sent;
    uint64_t dropped;
    uint64_t connect_failures;
};

/* Called for every received raft message.  msg and everything it points to (entries, their
 * data, the snapshot data) are valid only during the call.  The callback may call
 * raft_transport_send() but not raft_transport_free(). */
typedef void (*raft_transport_recv_fn)(void *ctx, const struct raft_msg *msg);

struct raft_transport;

/* Creates a transport for node self_id.  peers[0..n_peers) are copied; an entry whose id is
 * self_id is skipped, so the whole voter list may be passed.  No connection is opened yet.
 * Returns NULL on a bad argument (duplicate or zero id, more than RAFT_TRANSPORT_PEERS_MAX
 * peers, a host that does not resolve, port outside 1..65535) or out of memory. */
struct raft_transport *raft_transport_new(struct event_base *base, int32_t self_id,
                                          const struct raft_transport_peer *peers, int n_peers,
                                          raft_transport_recv_fn on_msg, void *ctx);

/* Closes every connection and frees the transport.  Queued messages are lost.  NULL is a
 * no-op.  Must not be called from inside on_msg. */
void raft_transport_free(struct raft_transport *t);

/* Queues m (borrowed: it is encoded before the call returns) for the peer m->to and starts
 * writing.  Never blocks.  Returns 0 when queued, or when dropped by the loss model (the drop is
 * counted in stats: queue full, peer backing off); GR_EINVAL for an unknown peer (or self) or a
 * message the encoder refuses; GR_ENOMEM. */
int raft_transport_send(struct raft_transport *t, const struct raft_msg *m);

/* net_frame_fn for a net_server on the controller listener; ctx is the struct raft_transport.
 * Decodes the frame, calls on_msg synchronously and completes the slot silently.  Frames with a
 * body other than a raft message are ignored.  Returns nonzero (close the connection) on a
 * corrupt or oversized frame. */
int raft_transport_on_frame(void *ctx, struct net_conn *c, struct net_slot *slot,
                            uint8_t *payload, size_t len);

/* Counters for one peer, or summed over all peers when peer_id is 0.  Returns 0 or GR_EINVAL
 * (unknown peer). */
int raft_transport_stats(const struct raft_transport *t, int32_t peer_id,
                         struct raft_transport_stats *out);

/* True while an outbound connection to peer_id is established (for tests and status). */
bool raft_transport_connected(const struct raft_transport *t, int32_t peer_id);

#endif

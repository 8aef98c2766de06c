/*
 * channel_int.h — private to the controller module: a request/response client of the control
 * plane, used by a broker (and the broker half of a combined node) to reach the controller
 * quorum: registration, heartbeats, metadata fetches, forwarded admin requests, DescribeQuorum.
 *
 * Wire: the controller listener's framing, [u32 BE body length][ControlFrame protobuf]
 * (proto/proto_control.h).  A request carries a nonzero correlation_id chosen by the channel;
 * the server answers with a frame carrying the same correlation_id.  Requests are pipelined on
 * one connection; answers may come back in any order.
 *
 * Target: the channel talks to one endpoint at a time (the "target"), starting with the first.
 * ctl_channel_set_target() moves it (a leader hint from a NOT_CONTROLLER answer).  When the
 * connection to the target fails, closes, or does not connect within the connect timeout, every
 * call outstanding on it fails with GR_EIO and the target advances to the next endpoint
 * (round-robin); the next call connects there.  So does a call of CTL_CHANNEL_SILENT_MS or more
 * that the target leaves unanswered (a controller cut off by the network: no error, no EOF);
 * shorter calls may time out without that (they carry a client's short deadline).  Reconnects are lazy (on the next call), and a
 * failed endpoint is not retried sooner than CTL_CHANNEL_RETRY_MS after its failure (calls made
 * meanwhile to an endpoint in that state fail at once, asynchronously, with GR_EIO and advance
 * the target).
 *
 * Threads: everything runs on the event_base's thread.  Callbacks are never called from inside
 * ctl_channel_call() itself (always from the event loop), so a caller may hold state across it.
 */
#ifndef GREGOR_CONTROLLER_CHANNEL_INT_H
#define GREGOR_CONTROLLER_CHANNEL_INT_H

#include "common/common.h"
#include "proto/proto_control.h"

#include <stdint.h>

struct event_base;

#define CTL_CHANNEL_ENDPOINTS_MAX 16
#define CTL_CHANNEL_CONNECT_TIMEOUT_MS 2000
#define CTL_CHANNEL_RETRY_MS 200
#define CTL_CHANNEL_SILENT_MS 1000
#define CTL_CHANNEL_FRAME_BYTES_MAX ((size_t)256 << 20)

struct ctl_endpoint {
    int32_t id; /* controller node id, nonzero */
    char host[256];
    int port;
};

/* err: 0 (resp is the decoded answer), GR_EIO (connection failed or closed before the answer),
 * GR_ETIMEDOUT (no answer within the call's timeout; a late answer is ignored), GR_ECANCELED
 * (ctl_channel_free).  resp and everything it points to are valid only during the callback. */
typedef void (*ctl_channel_cb)(void *arg, int err, const Gregor__Control__ControlFrame *resp);

/* eps are copied.  Returns NULL on a bad argument (n < 1 or > CTL_CHANNEL_ENDPOINTS_MAX) or
 * out of memory.  No connection is opened until the first call. */
struct ctl_channel *ctl_channel_new(struct event_base *base, const struct ctl_endpoint *eps,
                                    int n);
/* Fails every pending call with GR_ECANCELED (callbacks run inside this call), closes the
 * connection, frees.  NULL: no-op. */
void ctl_channel_free(struct ctl_channel *ch);

/* Sends f (borrowed; encoded before the call returns; its correlation_id is overwritten) to the
 * target.  cb is called exactly once, later, from the event loop.  timeout_ms > 0.  Returns 0,
 * or GR_ENOMEM / GR_EINVAL (encode failed) with cb never called (GR_ECANCELED from a callback
 * that ctl_channel_free runs). */
int ctl_channel_call(struct ctl_channel *ch, Gregor__Control__ControlFrame *f,
                     int64_t timeout_ms, ctl_channel_cb cb, void *arg);

/* Makes endpoint `id` the target for later calls; 0 or an unknown id advances to the next
 * endpoint.  Moving the target closes the current connection only if it has no call pending;
 * otherwise that connection is closed once its last pending call completes. */
void ctl_channel_set_target(struct ctl_channel *ch, int32_t id);
/* The current target's id. */
int32_t ctl_channel_target(const struct ctl_channel *ch);

#endif

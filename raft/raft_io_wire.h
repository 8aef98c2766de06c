/*
 * raft_io_wire.h — struct raft_msg on the wire: the mapping between raft/raft.h's messages and
 * the RaftMessage body of a control-plane frame (proto/control.proto, framed by
 * proto/proto_control.h).
 *
 * Why here and not in proto/: proto/ depends on common/ only, and struct raft_msg belongs to
 * raft/.  So the envelope (length prefix, protobuf-c decode into an arena) is proto's, and this
 * file is the raft side of it: raft depends on proto, never the reverse.
 *
 * Checks on decode are structural only — what makes a struct raft_msg well-formed for the C
 * types it lands in.  raft_step() still validates the semantics (terms, indexes, addressee).
 *   - type is one of enum raft_msg_type;
 *   - entries only in APPEND, at most RAFT_IO_WIRE_ENTRIES_MAX, each type a known
 *     enum raft_entry_type and each data at most RAFT_ENTRY_BYTES_MAX bytes;
 *   - a snapshot exactly in SNAPSHOT, with at most RAFT_MEMBERS_MAX voters and data that fits
 *     a u32 length.
 * Anything else is GR_ECORRUPT.  The encoder enforces the same rules on what it sends
 * (GR_EINVAL), so whatever it writes decodes.
 *
 * Pure functions, any thread, objects owned by the calling thread.
 */
#ifndef GREGOR_RAFT_IO_WIRE_H
#define GREGOR_RAFT_IO_WIRE_H

#include "common/common.h"
#include "proto/proto_control.h"
#include "raft/raft.h"

/* Most entries one APPEND may carry on the wire.  raft_config.append_entries_max must not be
 * above it, or the leader builds appends the encoder refuses. */
#define RAFT_IO_WIRE_ENTRIES_MAX RAFT_APPEND_ENTRIES_MAX

/* Appends one control frame carrying m ([u32 BE length][ControlFrame{raft}]) to out.  m is
 * borrowed.  Returns 0, GR_EINVAL (m breaks the rules above), GR_ENOMEM or GR_ERANGE (larger
 * than a frame can be).  On error out->len is unchanged. */
int raft_io_wire_encode(const struct raft_msg *m, struct gbuf *out);

/* Fills out from a decoded frame whose body is RAFT.  out->entries, the entry data and
 * out->snapshot.data point into arena memory (the frame's, plus the entries array allocated
 * from a): valid until a is reset.  Returns 0, GR_EINVAL (the body is not RAFT), GR_ECORRUPT
 * (the message breaks the rules above) or GR_ENOMEM. */
int raft_io_wire_from_frame(const Gregor__Control__ControlFrame *f, struct raft_msg *out,
                            struct arena *a);

/* control_frame_decode() followed by raft_io_wire_from_frame(): decodes the frame at the start
 * of p[0..n) into out.  *frame_bytes is set (header + body) whenever the whole frame was there,
 * so the caller can skip it even on GR_ECORRUPT from the mapping.  Returns 0, GR_ETRUNC,
 * GR_ERANGE, GR_ECORRUPT, GR_ENOMEM, or GR_EUNSUP (a frame whose body is not a raft message).
 * Memory as for raft_io_wire_from_frame(). */
int raft_io_wire_decode(const uint8_t *p, size_t n, size_t max_frame, struct raft_msg *out,
                        size_t *frame_bytes, struct arena *a);

#endif

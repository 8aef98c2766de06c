/* proto_control.c — the control-plane frame envelope; the layout is drawn in proto_control.h. */
#include "proto/proto_control.h"

#include <assert.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------ */
/* protobuf-c allocator over an arena, with a byte budget.                                     */

struct control_alloc {
    struct arena *a;
    size_t budget_bytes; /* what this decode may take from the arena */
    size_t used_bytes;
    bool oom; /* the arena itself failed (as opposed to the budget running out) */
};

static void *control_alloc_fn(void *data, size_t size)
{
    struct control_alloc *ca = data;
    size_t rounded = (size + 7) & ~(size_t)7;
    if (rounded < size || rounded > ca->budget_bytes - ca->used_bytes) return NULL;
    void *p = arena_alloc(ca->a, size);
    if (!p) {
        ca->oom = true;
        return NULL;
    }
    ca->used_bytes += rounded;
    return p;
}

/* Arena memory goes in one arena_reset; protobuf-c's per-object frees are no-ops. */
static void control_free_fn(void *data, void *p)
{
    (void)data;
    (void)p;
}

/* protobuf-c 1.4 rejects a one-byte tag 0 but accepts an over-long one (0x80 0x00) and keeps it
 * as an unknown field, which it then packs as the one-byte form that it rejects: a message that
 * would not survive being re-sent.  Such input is corrupt; find it in every nested message.  The
 * schema has no recursive message, so the depth is bounded by it. */
static bool message_tags_valid(const ProtobufCMessage *m)
{
    for (unsigned i = 0; i < m->n_unknown_fields; i++)
        if (m->unknown_fields[i].tag == 0) return false;
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const char *base = (const char *)m;
    for (unsigned f = 0; f < d->n_fields; f++) {
        const ProtobufCFieldDescriptor *fd = &d->fields[f];
        if (fd->type != PROTOBUF_C_TYPE_MESSAGE) continue;
        if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(base + fd->quantifier_offset);
            ProtobufCMessage *const *v = *(ProtobufCMessage *const *const *)(base + fd->offset);
            for (size_t k = 0; k < n; k++)
                if (v[k] && !message_tags_valid(v[k])) return false;
            continue;
        }
        /* oneof members share one pointer: only the selected one may be followed */
        if ((fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            *(const uint32_t *)(base + fd->quantifier_offset) != fd->id)
            continue;
        const ProtobufCMessage *sub = *(ProtobufCMessage *const *)(base + fd->offset);
        if (sub && !message_tags_valid(sub)) return false;
    }
    return true;
}

ProtobufCMessage *control_message_unpack(const ProtobufCMessageDescriptor *d, const uint8_t *p,
                                         size_t n, struct arena *a, int *err)
{
    if (n > (SIZE_MAX - ((size_t)64 << 10)) / 16) {
        *err = GR_ECORRUPT;
        return NULL;
    }
    struct control_alloc ca = {
        .a = a, .budget_bytes = CONTROL_DECODE_BYTES_MAX(n), .used_bytes = 0, .oom = false};
    ProtobufCAllocator alloc = {
        .alloc = control_alloc_fn, .free = control_free_fn, .allocator_data = &ca};
    ProtobufCMessage *m = protobuf_c_message_unpack(d, &alloc, n, p);
    if (!m) {
        *err = ca.oom ? GR_ENOMEM : GR_ECORRUPT;
        return NULL;
    }
    if (!message_tags_valid(m)) {
        *err = GR_ECORRUPT;
        return NULL;
    }
    return m;
}

/* ------------------------------------------------------------------------------------------ */
/* Frames.                                                                                     */

int control_frame_encode(const Gregor__Control__ControlFrame *f, struct gbuf *out)
{
    size_t body = protobuf_c_message_get_packed_size(&f->base);
    if (body > CONTROL_FRAME_BODY_BYTES_MAX) return GR_ERANGE;
    int rc = gbuf_reserve(out, CONTROL_FRAME_HEADER_BYTES + body);
    if (rc) return rc;
    uint8_t *hdr = out->data + out->len;
    be32_put(hdr, (uint32_t)body);
    size_t packed = protobuf_c_message_pack(&f->base, hdr + CONTROL_FRAME_HEADER_BYTES);
    assert(packed == body);
    out->len += CONTROL_FRAME_HEADER_BYTES + body;
    return 0;
}

int control_frame_peek(const uint8_t *p, size_t n, size_t max_frame, size_t *frame_bytes)
{
    *frame_bytes = 0;
    if (n < CONTROL_FRAME_HEADER_BYTES) return GR_ETRUNC;
    size_t body = be32_get(p);
    if (body > max_frame) return GR_ERANGE;
    *frame_bytes = CONTROL_FRAME_HEADER_BYTES + body;
    return n - CONTROL_FRAME_HEADER_BYTES < body ? GR_ETRUNC : 0;
}

int control_frame_decode(const uint8_t *p, size_t n, size_t max_frame,
                         struct control_frame_view *out, struct arena *a)
{
    out->frame = NULL;
    out->frame_bytes = 0;
    size_t frame_bytes;
    int rc = control_frame_peek(p, n, max_frame, &frame_bytes);
    if (rc) return rc;
    int err = 0;
    ProtobufCMessage *m = control_message_unpack(&gregor__control__control_frame__descriptor,
                                                 p + CONTROL_FRAME_HEADER_BYTES,
                                                 frame_bytes - CONTROL_FRAME_HEADER_BYTES, a, &err);
    if (!m) return err;
    out->frame = (Gregor__Control__ControlFrame *)m;
    out->frame_bytes = frame_bytes;
    switch (out->frame->body_case) {
    case GREGOR__CONTROL__CONTROL_FRAME__BODY_RAFT:
    case GREGOR__CONTROL__CONTROL_FRAME__BODY_BROKER_REGISTRATION_REQUEST:
    case GREGOR__CONTROL__CONTROL_FRAME__BODY_BROKER_REGISTRATION_RESPONSE:
    case GREGOR__CONTROL__CONTROL_FRAME__BODY_BROKER_HEARTBEAT_REQUEST:
    case GREGOR__CONTROL__CONTROL_FRAME__BODY_BROKER_HEARTBEAT_RESPONSE:
    case GREGOR__CONTROL__CONTROL_FRAME__BODY_FETCH_METADATA_REQUEST:
    case GREGOR__CONTROL__CONTROL_FRAME__BODY_FETCH_METADATA_RESPONSE:
    case GREGOR__CONTROL__CONTROL_FRAME__BODY_FORWARD_REQUEST:
    case GREGOR__CONTROL__CONTROL_FRAME__BODY_FORWARD_RESPONSE:
    case GREGOR__CONTROL__CONTROL_FRAME__BODY_DESCRIBE_QUORUM_REQUEST:
    case GREGOR__CONTROL__CONTROL_FRAME__BODY_DESCRIBE_QUORUM_RESPONSE:
        /* a oneof member that is set always points at a message (protobuf-c allocates it) */
        if (!out->frame->raft) {
            out->frame = NULL;
            return GR_ECORRUPT;
        }
        return 0;
    default:
        return GR_EUNSUP;
    }
}

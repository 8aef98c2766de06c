/* raft_io_wire.c — struct raft_msg <-> RaftMessage; the rules are listed in raft_io_wire.h. */
#include "raft/raft_io_wire.h"

#include <stdlib.h>
#include <string.h>

static bool msg_type_known(uint32_t t)
{
    return t >= RAFT_MSG_PREVOTE && t <= RAFT_MSG_TIMEOUT_NOW;
}

/* ------------------------------------------------------------------------------------------ */
/* Encode.                                                                                     */

static int check_outgoing(const struct raft_msg *m)
{
    if (!msg_type_known((uint32_t)m->type)) return GR_EINVAL;
    if (m->n_entries > 0 && (m->type != RAFT_MSG_APPEND || !m->entries)) return GR_EINVAL;
    if (m->n_entries > RAFT_IO_WIRE_ENTRIES_MAX) return GR_EINVAL;
    for (uint32_t i = 0; i < m->n_entries; i++) {
        const struct raft_entry *e = &m->entries[i];
        if (e->type > RAFT_ENTRY_CONFIG || e->len > RAFT_ENTRY_BYTES_MAX || (e->len && !e->data))
            return GR_EINVAL;
    }
    if (m->type == RAFT_MSG_SNAPSHOT) {
        if (m->snapshot.n_voters > RAFT_MEMBERS_MAX || (m->snapshot.len && !m->snapshot.data))
            return GR_EINVAL;
    }
    return 0;
}

int raft_io_wire_encode(const struct raft_msg *m, struct gbuf *out)
{
    int rc = check_outgoing(m);
    if (rc) return rc;

    Gregor__Control__RaftMessage pm = GREGOR__CONTROL__RAFT_MESSAGE__INIT;
    pm.type = (Gregor__Control__RaftMessageType)m->type;
    pm.from = m->from;
    pm.to = m->to;
    pm.term = m->term;
    pm.last_log_index = m->last_log_index;
    pm.last_log_term = m->last_log_term;
    pm.force = m->force;
    pm.reject = m->reject;
    pm.prev_index = m->prev_index;
    pm.prev_term = m->prev_term;
    pm.commit = m->commit;
    pm.index = m->index;
    pm.hint_index = m->hint_index;
    pm.hint_term = m->hint_term;

    /* entries: one allocation holding the pointer array and the structs it points at */
    Gregor__Control__RaftEntry **ptrs = NULL;
    if (m->n_entries > 0) {
        size_t n = m->n_entries;
        ptrs = malloc(n * (sizeof(*ptrs) + sizeof(Gregor__Control__RaftEntry)));
        if (!ptrs) return GR_ENOMEM;
        Gregor__Control__RaftEntry *pe = (Gregor__Control__RaftEntry *)(ptrs + n);
        for (size_t i = 0; i < n; i++) {
            const struct raft_entry *e = &m->entries[i];
            gregor__control__raft_entry__init(&pe[i]);
            pe[i].index = e->index;
            pe[i].term = e->term;
            pe[i].type = e->type;
            pe[i].data.len = e->len;
            pe[i].data.data = e->len ? e->data : NULL;
            ptrs[i] = &pe[i];
        }
        pm.n_entries = n;
        pm.entries = ptrs;
    }

    Gregor__Control__RaftSnapshot ps = GREGOR__CONTROL__RAFT_SNAPSHOT__INIT;
    if (m->type == RAFT_MSG_SNAPSHOT) {
        ps.index = m->snapshot.index;
        ps.term = m->snapshot.term;
        ps.n_voters = m->snapshot.n_voters;
        /* pack only reads; protobuf-c's struct has no const */
        ps.voters = m->snapshot.n_voters ? (uint32_t *)m->snapshot.voters : NULL;
        ps.data.len = m->snapshot.len;
        ps.data.data = m->snapshot.len ? m->snapshot.data : NULL;
        pm.snapshot = &ps;
    }

    Gregor__Control__ControlFrame f = GREGOR__CONTROL__CONTROL_FRAME__INIT;
    f.body_case = GREGOR__CONTROL__CONTROL_FRAME__BODY_RAFT;
    f.raft = &pm;
    rc = control_frame_encode(&f, out);
    free(ptrs);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Decode.                                                                                     */

static int entries_from_pb(const Gregor__Control__RaftMessage *pm, struct raft_msg *out,
                           struct arena *a)
{
    if (pm->n_entries == 0) return 0;
    if (pm->type != GREGOR__CONTROL__RAFT_MESSAGE_TYPE__RAFT_MESSAGE_TYPE_APPEND ||
        pm->n_entries > RAFT_IO_WIRE_ENTRIES_MAX || !pm->entries)
        return GR_ECORRUPT;
    struct raft_entry *es = arena_calloc(a, pm->n_entries, sizeof(*es));
    if (!es) return GR_ENOMEM;
    for (size_t i = 0; i < pm->n_entries; i++) {
        const Gregor__Control__RaftEntry *pe = pm->entries[i];
        if (!pe || pe->type > RAFT_ENTRY_CONFIG || pe->data.len > RAFT_ENTRY_BYTES_MAX ||
            (pe->data.len && !pe->data.data))
            return GR_ECORRUPT;
        es[i].index = pe->index;
        es[i].term = pe->term;
        es[i].type = (uint8_t)pe->type;
        es[i].len = (uint32_t)pe->data.len;
        es[i].data = pe->data.len ? pe->data.data : NULL;
    }
    out->entries = es;
    out->n_entries = (uint32_t)pm->n_entries;
    return 0;
}

static int snapshot_from_pb(const Gregor__Control__RaftMessage *pm, struct raft_msg *out)
{
    bool want = pm->type == GREGOR__CONTROL__RAFT_MESSAGE_TYPE__RAFT_MESSAGE_TYPE_SNAPSHOT;
    const Gregor__Control__RaftSnapshot *ps = pm->snapshot;
    if (!ps) return want ? GR_ECORRUPT : 0;
    if (!want) return GR_ECORRUPT;
    if (ps->n_voters > RAFT_MEMBERS_MAX || (ps->n_voters && !ps->voters) ||
        ps->data.len > UINT32_MAX || (ps->data.len && !ps->data.data))
        return GR_ECORRUPT;
    out->snapshot.index = ps->index;
    out->snapshot.term = ps->term;
    for (size_t i = 0; i < ps->n_voters; i++)
        out->snapshot.voters[i] = ps->voters[i];
    out->snapshot.n_voters = (uint32_t)ps->n_voters;
    out->snapshot.len = (uint32_t)ps->data.len;
    out->snapshot.data = ps->data.len ? ps->data.data : NULL;
    return 0;
}

int raft_io_wire_from_frame(const Gregor__Control__ControlFrame *f, struct raft_msg *out,
                            struct arena *a)
{
    memset(out, 0, sizeof(*out));
    if (f->body_case != GREGOR__CONTROL__CONTROL_FRAME__BODY_RAFT) return GR_EINVAL;
    const Gregor__Control__RaftMessage *pm = f->raft;
    if (!pm) return GR_ECORRUPT;
    /* an open proto3 enum: any int32 may arrive */
    if (!msg_type_known((uint32_t)pm->type)) return GR_ECORRUPT;
    out->type = (enum raft_msg_type)pm->type;
    out->from = pm->from;
    out->to = pm->to;
    out->term = pm->term;
    out->last_log_index = pm->last_log_index;
    out->last_log_term = pm->last_log_term;
    out->force = pm->force;
    out->reject = pm->reject;
    out->prev_index = pm->prev_index;
    out->prev_term = pm->prev_term;
    out->commit = pm->commit;
    out->index = pm->index;
    out->hint_index = pm->hint_index;
    out->hint_term = pm->hint_term;
    int rc = entries_from_pb(pm, out, a);
    if (!rc) rc = snapshot_from_pb(pm, out);
    if (rc) memset(out, 0, sizeof(*out));
    return rc;
}

int raft_io_wire_decode(const uint8_t *p, size_t n, size_t max_frame, struct raft_msg *out,
                        size_t *frame_bytes, struct arena *a)
{
    memset(out, 0, sizeof(*out));
    struct control_frame_view v;
    int rc = control_frame_decode(p, n, max_frame, &v, a);
    *frame_bytes = v.frame_bytes;
    if (rc) return rc;
    if (v.frame->body_case != GREGOR__CONTROL__CONTROL_FRAME__BODY_RAFT) return GR_EUNSUP;
    return raft_io_wire_from_frame(v.frame, out, a);
}

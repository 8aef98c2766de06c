/* controller_server.c — the controller listener: Raft messages and the control-plane RPCs
 * (BrokerRegistration, BrokerHeartbeat, FetchMetadata with long polling, Forward,
 * DescribeQuorum).  Frames are [u32 BE length][ControlFrame]; net hands us the body. */
#include "controller/controller_int.h"

#include "net/net.h"
#include "raft/raft.h"
#include "raft/raft_io_wire.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#define CTRL_COMP "controller"
#define CTRL_FETCH_BYTES_MAX (8u << 20)
#define CTRL_FETCH_WAIT_MS_MAX 5000

struct ctrl_fetch {
    struct ctrl_fetch *next;
    struct net_slot *slot;
    uint64_t correlation_id;
    uint64_t offset;
    uint32_t max_bytes;
    int64_t deadline_ms;
};

int32_t ctrl_leader_hint(const struct controller *c)
{
    struct raft_status rs;
    raft_status(c->raft, &rs);
    return (int32_t)rs.leader_id;
}

void ctrl_answer(struct controller *c, struct net_slot *slot, Gregor__Control__ControlFrame *f)
{
    struct gbuf *out = net_slot_buf(slot);
    gbuf_reset(out);
    size_t n = protobuf_c_message_get_packed_size(&f->base);
    if (gbuf_reserve(out, n)) {
        struct net_conn *conn = net_slot_conn(slot);
        if (conn) net_conn_close_after_flush(conn);
        net_slot_done_silent(slot);
        return;
    }
    protobuf_c_message_pack(&f->base, out->data);
    out->len = n;
    net_slot_done(slot);
}

/* ------------------------------------------------------------------------------------------ */
/* FetchMetadata                                                                               */

static void fetch_answer(struct controller *c, struct ctrl_fetch *fe)
{
    struct raft_status rs;
    raft_status(c->raft, &rs);
    Gregor__Control__ControlFrame f = GREGOR__CONTROL__CONTROL_FRAME__INIT;
    Gregor__Control__FetchMetadataResponse r = GREGOR__CONTROL__FETCH_METADATA_RESPONSE__INIT;
    Gregor__Control__RaftSnapshot snap = GREGOR__CONTROL__RAFT_SNAPSHOT__INIT;
    f.correlation_id = fe->correlation_id;
    f.body_case = GREGOR__CONTROL__CONTROL_FRAME__BODY_FETCH_METADATA_RESPONSE;
    f.fetch_metadata_response = &r;
    r.high_watermark = rs.commit;
    r.leader_id = (int32_t)rs.leader_id;
    r.leader_epoch = rs.term;
    struct arena a; /* not rpc_arena: the request being handled may still live there */
    arena_init(&a, 4096);
    uint64_t applied = (uint64_t)GR_MAX(c->st.image.applied_offset, 0);
    if (fe->offset <= c->snap_index && c->snap_index) {
        snap.index = c->snap_index;
        snap.term = c->snap_term;
        snap.data.data = c->snap.data;
        snap.data.len = c->snap.len;
        r.snapshot = &snap;
    } else {
        /* committed AND applied here, so the entries are ones this controller has checked */
        size_t n = 0, bytes = 0, cap = 0;
        Gregor__Control__RaftEntry **es = NULL;
        for (uint64_t i = fe->offset; i <= applied && bytes < fe->max_bytes; i++) {
            const struct raft_entry *e = raft_entry_at(c->raft, i);
            if (!e) break;
            if (n == cap) {
                size_t ncap = cap ? cap * 2 : 64;
                Gregor__Control__RaftEntry **ne =
                    arena_alloc(&a, sizeof(*ne) * ncap);
                if (!ne) break;
                if (n) memcpy(ne, es, sizeof(*ne) * n);
                es = ne;
                cap = ncap;
            }
            Gregor__Control__RaftEntry *pe = arena_alloc(&a, sizeof(*pe));
            if (!pe) break;
            gregor__control__raft_entry__init(pe);
            pe->index = e->index;
            pe->term = e->term;
            pe->type = e->type;
            pe->data.data = e->data;
            pe->data.len = e->len;
            es[n++] = pe;
            bytes += e->len + 32;
        }
        r.entries = es;
        r.n_entries = n;
    }
    ctrl_answer(c, fe->slot, &f);
    arena_close(&a);
}

static bool fetch_has_data(struct controller *c, const struct ctrl_fetch *fe)
{
    if (fe->offset <= c->snap_index && c->snap_index) return true;
    return c->st.image.applied_offset >= 0 && fe->offset <= (uint64_t)c->st.image.applied_offset;
}

void ctrl_fetches_wake(struct controller *c, bool all)
{
    int64_t now = time_mono_ms();
    struct ctrl_fetch **pp = &c->fetches;
    while (*pp) {
        struct ctrl_fetch *fe = *pp;
        if (all || fetch_has_data(c, fe) || now >= fe->deadline_ms) {
            *pp = fe->next;
            fetch_answer(c, fe);
            free(fe);
        } else {
            pp = &fe->next;
        }
    }
}

void ctrl_fetches_free(struct controller *c)
{
    ctrl_fetches_wake(c, true);
}

static void rpc_fetch(struct controller *c, struct net_slot *slot, uint64_t corr,
                      const Gregor__Control__FetchMetadataRequest *rq)
{
    struct ctrl_fetch *fe = calloc(1, sizeof(*fe));
    if (!fe) {
        net_slot_done_silent(slot);
        return;
    }
    fe->slot = slot;
    fe->correlation_id = corr;
    fe->offset = GR_MAX(rq->fetch_offset, 1);
    fe->max_bytes = rq->max_bytes ? GR_MIN(rq->max_bytes, CTRL_FETCH_BYTES_MAX)
                                  : CTRL_FETCH_BYTES_MAX;
    fe->deadline_ms = time_mono_ms() + GR_MIN(rq->max_wait_ms, CTRL_FETCH_WAIT_MS_MAX);
    /* the broker's own offset feeds its session (observers in DescribeQuorum) */
    struct ctrl_session *s = ctrl_session_get(c, rq->broker_id, false);
    if (s) s->metadata_offset = GR_MAX(s->metadata_offset, (int64_t)fe->offset - 1);
    if (fetch_has_data(c, fe) || rq->max_wait_ms == 0) {
        fetch_answer(c, fe);
        free(fe);
        return;
    }
    fe->next = c->fetches;
    c->fetches = fe;
}

/* ------------------------------------------------------------------------------------------ */
/* Broker registration and heartbeats                                                          */

static void answer_not_controller(struct controller *c, struct net_slot *slot, uint64_t corr,
                                  int body_case)
{
    Gregor__Control__ControlFrame f = GREGOR__CONTROL__CONTROL_FRAME__INIT;
    f.correlation_id = corr;
    Gregor__Control__BrokerRegistrationResponse rr =
        GREGOR__CONTROL__BROKER_REGISTRATION_RESPONSE__INIT;
    Gregor__Control__BrokerHeartbeatResponse hr = GREGOR__CONTROL__BROKER_HEARTBEAT_RESPONSE__INIT;
    Gregor__Control__ForwardResponse fr = GREGOR__CONTROL__FORWARD_RESPONSE__INIT;
    Gregor__Control__DescribeQuorumResponse qr = GREGOR__CONTROL__DESCRIBE_QUORUM_RESPONSE__INIT;
    Gregor__Control__AlterPartitionResponse ar = GREGOR__CONTROL__ALTER_PARTITION_RESPONSE__INIT;
    Gregor__Control__AllocateProducerIdsResponse pr =
        GREGOR__CONTROL__ALLOCATE_PRODUCER_IDS_RESPONSE__INIT;
    int32_t hint = ctrl_leader_hint(c);
    switch (body_case) {
    case GREGOR__CONTROL__CONTROL_FRAME__BODY_ALLOCATE_PRODUCER_IDS_REQUEST: {
        pr.error_code = KAFKA_ERR_NOT_CONTROLLER;
        pr.leader_id = hint;
        f.body_case = GREGOR__CONTROL__CONTROL_FRAME__BODY_ALLOCATE_PRODUCER_IDS_RESPONSE;
        f.allocate_producer_ids_response = &pr;
        break;
    }
    case GREGOR__CONTROL__CONTROL_FRAME__BODY_ALTER_PARTITION_REQUEST:
        ar.error_code = KAFKA_ERR_NOT_CONTROLLER;
        ar.leader_id = hint;
        f.body_case = GREGOR__CONTROL__CONTROL_FRAME__BODY_ALTER_PARTITION_RESPONSE;
        f.alter_partition_response = &ar;
        break;
    case GREGOR__CONTROL__CONTROL_FRAME__BODY_BROKER_REGISTRATION_REQUEST:
        rr.error_code = KAFKA_ERR_NOT_CONTROLLER;
        rr.broker_epoch = -1;
        rr.leader_id = hint;
        f.body_case = GREGOR__CONTROL__CONTROL_FRAME__BODY_BROKER_REGISTRATION_RESPONSE;
        f.broker_registration_response = &rr;
        break;
    case GREGOR__CONTROL__CONTROL_FRAME__BODY_BROKER_HEARTBEAT_REQUEST:
        hr.error_code = KAFKA_ERR_NOT_CONTROLLER;
        hr.leader_id = hint;
        hr.is_fenced = true;
        f.body_case = GREGOR__CONTROL__CONTROL_FRAME__BODY_BROKER_HEARTBEAT_RESPONSE;
        f.broker_heartbeat_response = &hr;
        break;
    case GREGOR__CONTROL__CONTROL_FRAME__BODY_FORWARD_REQUEST:
        fr.error_code = KAFKA_ERR_NOT_CONTROLLER;
        fr.leader_id = hint;
        f.body_case = GREGOR__CONTROL__CONTROL_FRAME__BODY_FORWARD_RESPONSE;
        f.forward_response = &fr;
        break;
    default:
        qr.error_code = KAFKA_ERR_NOT_CONTROLLER;
        qr.leader_id = hint;
        f.body_case = GREGOR__CONTROL__CONTROL_FRAME__BODY_DESCRIBE_QUORUM_RESPONSE;
        f.describe_quorum_response = &qr;
        break;
    }
    ctrl_answer(c, slot, &f);
}

static bool leader_ready(const struct controller *c)
{
    return c->leader;
}

static void rpc_register(struct controller *c, struct net_slot *slot, uint64_t corr,
                         const Gregor__Control__BrokerRegistrationRequest *rq)
{
    int16_t ec = KAFKA_ERR_NONE;
    if (rq->cluster_id && strcmp(rq->cluster_id, c->st.image.cluster_id_str))
        ec = KAFKA_ERR_INCONSISTENT_CLUSTER_ID;
    else if (rq->broker_id < 0 || rq->n_listeners < 1 || rq->n_listeners > MD_ENDPOINTS_MAX ||
             rq->incarnation_id.len != 16)
        ec = KAFKA_ERR_INVALID_REQUEST;
    for (size_t i = 0; !ec && i < rq->n_listeners; i++)
        if (!rq->listeners[i]->host || !rq->listeners[i]->name || rq->listeners[i]->port > 65535)
            ec = KAFKA_ERR_INVALID_REQUEST;
    struct ctrl_op *op = ec ? NULL : ctrl_op_new(CTRL_OP_REGISTER);
    if (!op) {
        Gregor__Control__ControlFrame f = GREGOR__CONTROL__CONTROL_FRAME__INIT;
        Gregor__Control__BrokerRegistrationResponse rr =
            GREGOR__CONTROL__BROKER_REGISTRATION_RESPONSE__INIT;
        f.correlation_id = corr;
        rr.error_code = ec ? ec : KAFKA_ERR_UNKNOWN_SERVER_ERROR;
        rr.broker_epoch = -1;
        f.body_case = GREGOR__CONTROL__CONTROL_FRAME__BODY_BROKER_REGISTRATION_RESPONSE;
        f.broker_registration_response = &rr;
        ctrl_answer(c, slot, &f);
        return;
    }
    op->slot = slot;
    op->correlation_id = corr;
    op->broker_id = rq->broker_id;
    op->reg.id = rq->broker_id;
    op->reg.endpoints = calloc(rq->n_listeners, sizeof(*op->reg.endpoints));
    for (size_t i = 0; op->reg.endpoints && i < rq->n_listeners; i++) {
        op->reg.endpoints[i].name = strdup(rq->listeners[i]->name);
        op->reg.endpoints[i].host = strdup(rq->listeners[i]->host);
        op->reg.endpoints[i].port = (int32_t)rq->listeners[i]->port;
        op->reg.endpoint_count = (int32_t)i + 1;
    }
    op->reg.host = op->reg.endpoint_count ? op->reg.endpoints[0].host : NULL;
    op->reg.port = op->reg.endpoint_count ? op->reg.endpoints[0].port : -1;
    op->reg.rack = rq->rack && rq->rack[0] ? strdup(rq->rack) : NULL;
    memcpy(op->reg.incarnation.b, rq->incarnation_id.data, 16);
    ctrl_op_enqueue(c, op);
}

static void rpc_heartbeat(struct controller *c, struct net_slot *slot, uint64_t corr,
                          const Gregor__Control__BrokerHeartbeatRequest *rq)
{
    Gregor__Control__ControlFrame f = GREGOR__CONTROL__CONTROL_FRAME__INIT;
    Gregor__Control__BrokerHeartbeatResponse hr = GREGOR__CONTROL__BROKER_HEARTBEAT_RESPONSE__INIT;
    f.correlation_id = corr;
    f.body_case = GREGOR__CONTROL__CONTROL_FRAME__BODY_BROKER_HEARTBEAT_RESPONSE;
    f.broker_heartbeat_response = &hr;
    hr.leader_id = ctrl_leader_hint(c);
    const struct md_broker *br = md_image_broker(&c->st.image, rq->broker_id);
    struct ctrl_session *s = br ? ctrl_session_get(c, rq->broker_id, true) : NULL;
    if (!br || br->epoch != rq->broker_epoch || !s) {
        hr.error_code = KAFKA_ERR_STALE_BROKER_EPOCH;
        hr.is_fenced = true;
        ctrl_answer(c, slot, &f);
        return;
    }
    s->metadata_offset = rq->current_metadata_offset;
    ctrl_session_heartbeat(c, s, br, rq->want_fence, rq->want_shutdown);
    hr.is_caught_up = rq->current_metadata_offset >= br->epoch;
    hr.is_fenced = br->fenced;
    hr.should_shut_down = rq->want_shutdown && br->in_controlled_shutdown;
    ctrl_answer(c, slot, &f);
}

/* ------------------------------------------------------------------------------------------ */
/* Forward and DescribeQuorum                                                                  */

static void rpc_forward(struct controller *c, struct net_slot *slot, uint64_t corr,
                        const Gregor__Control__ForwardRequest *rq)
{
    struct ctrl_op *op = ctrl_op_new(CTRL_OP_FORWARD);
    if (!op || gbuf_append(&op->body, rq->request.data, rq->request.len)) {
        ctrl_op_free(op);
        net_slot_done_silent(slot);
        return;
    }
    op->slot = slot;
    op->correlation_id = corr;
    op->api_key = (int16_t)rq->api_key;
    op->api_version = (int16_t)rq->api_version;
    ctrl_op_enqueue(c, op);
}

/* A new op answering the RPC in slot, from broker (id, epoch); NULL (the slot completed
 * silently) when out of memory. */
static struct ctrl_op *rpc_op(enum ctrl_op_kind kind, struct net_slot *slot, uint64_t corr,
                              int32_t broker_id, int64_t broker_epoch)
{
    struct ctrl_op *op = ctrl_op_new(kind);
    if (!op) {
        net_slot_done_silent(slot);
        return NULL;
    }
    op->slot = slot;
    op->correlation_id = corr;
    op->broker_id = broker_id;
    op->broker_epoch = broker_epoch;
    return op;
}

static void rpc_alter_partition(struct controller *c, struct net_slot *slot, uint64_t corr,
                                const Gregor__Control__AlterPartitionRequest *rq)
{
    struct ctrl_op *op =
        rpc_op(CTRL_OP_ALTER_PARTITION, slot, corr, rq->broker_id, rq->broker_epoch);
    if (!op) return;
    if (rq->topic_id.len == 16) memcpy(op->topic_id.b, rq->topic_id.data, 16);
    op->partition = rq->partition;
    op->leader_epoch = rq->leader_epoch;
    op->partition_epoch = rq->partition_epoch;
    op->isr_count = (int32_t)GR_MIN(rq->n_new_isr, (size_t)CTRL_ISR_MAX);
    for (int32_t i = 0; i < op->isr_count; i++) op->isr[i] = rq->new_isr[i];
    if (rq->n_new_isr > CTRL_ISR_MAX) op->isr_count = 0; /* refused as INVALID_REQUEST */
    ctrl_op_enqueue(c, op);
}

static void rpc_producer_ids(struct controller *c, struct net_slot *slot, uint64_t corr,
                             const Gregor__Control__AllocateProducerIdsRequest *rq)
{
    struct ctrl_op *op = rpc_op(CTRL_OP_PRODUCER_IDS, slot, corr, rq->broker_id, rq->broker_epoch);
    if (op) ctrl_op_enqueue(c, op);
}

static void rpc_describe_quorum(struct controller *c, struct net_slot *slot, uint64_t corr)
{
    struct raft_status rs;
    raft_status(c->raft, &rs);
    Gregor__Control__ControlFrame f = GREGOR__CONTROL__CONTROL_FRAME__INIT;
    Gregor__Control__DescribeQuorumResponse qr = GREGOR__CONTROL__DESCRIBE_QUORUM_RESPONSE__INIT;
    f.correlation_id = corr;
    f.body_case = GREGOR__CONTROL__CONTROL_FRAME__BODY_DESCRIBE_QUORUM_RESPONSE;
    f.describe_quorum_response = &qr;
    qr.leader_id = (int32_t)rs.leader_id;
    qr.leader_epoch = rs.term;
    qr.high_watermark = rs.commit;
    Gregor__Control__ReplicaState vs[CONTROLLER_VOTERS_MAX], os[64];
    Gregor__Control__ReplicaState *vp[CONTROLLER_VOTERS_MAX], *op[64];
    int64_t wall = time_wall_ms();
    for (int i = 0; i < c->cfg.n_voters; i++) {
        gregor__control__replica_state__init(&vs[i]);
        uint64_t match = 0;
        raft_member_progress(c->raft, (uint32_t)c->voters[i].id, &match);
        bool self = c->voters[i].id == c->cfg.node_id;
        vs[i].replica_id = c->voters[i].id;
        vs[i].log_end_offset = self ? rs.last_index : match;
        vs[i].last_fetch_timestamp_ms = self ? wall : c->last_contact_wall[i];
        vs[i].last_caught_up_timestamp_ms = self ? wall : c->caught_up_wall[i];
        if (!vs[i].last_fetch_timestamp_ms) vs[i].last_fetch_timestamp_ms = -1;
        if (!vs[i].last_caught_up_timestamp_ms) vs[i].last_caught_up_timestamp_ms = -1;
        vp[i] = &vs[i];
    }
    qr.voters = vp;
    qr.n_voters = (size_t)c->cfg.n_voters;
    size_t no = 0;
    /* observers in broker id order (the image keeps brokers sorted) */
    for (int32_t b = 0; b < c->st.image.broker_count && no < GR_ARRAY_LEN(os); b++) {
        const struct md_broker *br = &c->st.image.brokers[b];
        const struct ctrl_session *s = ctrl_session_get(c, br->id, false);
        if (!s) continue;
        gregor__control__replica_state__init(&os[no]);
        os[no].replica_id = s->id;
        os[no].log_end_offset = (uint64_t)GR_MAX(s->metadata_offset, 0);
        os[no].last_fetch_timestamp_ms = s->last_heartbeat_wall_ms ? s->last_heartbeat_wall_ms : -1;
        os[no].last_caught_up_timestamp_ms =
            s->metadata_offset >= (int64_t)rs.commit ? os[no].last_fetch_timestamp_ms : -1;
        op[no] = &os[no];
        no++;
    }
    qr.observers = op;
    qr.n_observers = no;
    ctrl_answer(c, slot, &f);
}

/* ------------------------------------------------------------------------------------------ */

int controller_on_frame(void *ctx, struct net_conn *conn, struct net_slot *slot,
                        uint8_t *payload, size_t len)
{
    struct controller *c = ctx;
    arena_reset(&c->rpc_arena);
    int rc = 0;
    Gregor__Control__ControlFrame *f = (Gregor__Control__ControlFrame *)control_message_unpack(
        &gregor__control__control_frame__descriptor, payload, len, &c->rpc_arena, &rc);
    if (!f) {
        LOG_WARN(CTRL_COMP, "undecodable control frame from %s: %s; closing",
                 net_conn_peer(conn), gr_strerror(rc));
        return 1;
    }
    uint64_t corr = f->correlation_id;
    c->now_ms = time_mono_ms();
    switch (f->body_case) {
    case GREGOR__CONTROL__CONTROL_FRAME__BODY_RAFT: {
        struct raft_msg m;
        memset(&m, 0, sizeof m);
        if (raft_io_wire_from_frame(f, &m, &c->rpc_arena)) return 1;
        ctrl_step_frame(c, &m);
        net_slot_done_silent(slot);
        return 0;
    }
    case GREGOR__CONTROL__CONTROL_FRAME__BODY_FETCH_METADATA_REQUEST:
        if (!f->fetch_metadata_request) return 1;
        rpc_fetch(c, slot, corr, f->fetch_metadata_request);
        return 0;
    case GREGOR__CONTROL__CONTROL_FRAME__BODY_BROKER_REGISTRATION_REQUEST:
    case GREGOR__CONTROL__CONTROL_FRAME__BODY_BROKER_HEARTBEAT_REQUEST:
    case GREGOR__CONTROL__CONTROL_FRAME__BODY_FORWARD_REQUEST:
    case GREGOR__CONTROL__CONTROL_FRAME__BODY_DESCRIBE_QUORUM_REQUEST:
    case GREGOR__CONTROL__CONTROL_FRAME__BODY_ALTER_PARTITION_REQUEST:
    case GREGOR__CONTROL__CONTROL_FRAME__BODY_ALLOCATE_PRODUCER_IDS_REQUEST:
        if (!leader_ready(c)) {
            answer_not_controller(c, slot, corr, f->body_case);
            return 0;
        }
        break;
    default:
        /* a body this build does not know (a newer peer): no answer, keep the connection */
        net_slot_done_silent(slot);
        return 0;
    }
    switch (f->body_case) {
    case GREGOR__CONTROL__CONTROL_FRAME__BODY_BROKER_REGISTRATION_REQUEST:
        if (!f->broker_registration_request) return 1;
        rpc_register(c, slot, corr, f->broker_registration_request);
        break;
    case GREGOR__CONTROL__CONTROL_FRAME__BODY_BROKER_HEARTBEAT_REQUEST:
        if (!f->broker_heartbeat_request) return 1;
        rpc_heartbeat(c, slot, corr, f->broker_heartbeat_request);
        break;
    case GREGOR__CONTROL__CONTROL_FRAME__BODY_FORWARD_REQUEST:
        if (!f->forward_request) return 1;
        rpc_forward(c, slot, corr, f->forward_request);
        break;
    case GREGOR__CONTROL__CONTROL_FRAME__BODY_ALTER_PARTITION_REQUEST:
        if (!f->alter_partition_request) return 1;
        rpc_alter_partition(c, slot, corr, f->alter_partition_request);
        break;
    case GREGOR__CONTROL__CONTROL_FRAME__BODY_ALLOCATE_PRODUCER_IDS_REQUEST:
        if (!f->allocate_producer_ids_request) return 1;
        rpc_producer_ids(c, slot, corr, f->allocate_producer_ids_request);
        break;
    default: rpc_describe_quorum(c, slot, corr); break;
    }
    return 0;
}

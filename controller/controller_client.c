/* controller_client.c — the broker side of the control plane (md_client): follows the
 * committed metadata log with FetchMetadata long polls, registers the broker and heartbeats,
 * forwards admin requests to the active controller, and asks it for DescribeQuorum.
 *
 * Two channels: metadata fetches park at the controller for up to FETCH_WAIT_MS, and a
 * connection answers in order, so they get their own connection and never hold up a heartbeat
 * or a forwarded request behind them. */
#include "controller/channel_int.h"
#include "controller/controller_int.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#define MDC_COMP "metadata"
#define MDC_TICK_MS 50
#define MDC_FETCH_WAIT_MS 500
#define MDC_FETCH_TIMEOUT_MS 5000
#define MDC_CALL_TIMEOUT_MS 3000
#define MDC_RETRY_MS 200
#define MDC_FENCED_HEARTBEAT_MS 200

struct mdc_forward {
    struct mdc_forward *next;
    struct md_client *m;
    md_client_forward_fn cb;
    void *arg;
    int16_t api_key, api_version;
    struct gbuf body;     /* request; then the response */
    int64_t deadline_ms;  /* monotonic */
    int64_t next_try_ms;
    bool in_call;
    bool answered;        /* response in body, waiting until applied >= wait_offset */
    uint64_t wait_offset;
    char auto_name[256];  /* auto-creation: the topic (to avoid duplicates) */
};

struct mdc_quorum_call {
    struct md_client *m;
    md_client_quorum_fn cb;
    void *arg;
    int attempts;
};

struct md_client {
    struct event_base *base;
    struct md_client_config cfg;
    struct controller_voter voters[CONTROLLER_VOTERS_MAX];
    struct md_state st;
    struct ctl_channel *ch_fetch, *ch_ctl;
    struct event *ev_tick;
    md_client_ready_fn on_ready;
    void *ready_arg;
    struct gr_uuid incarnation;
    int64_t epoch; /* -1: not registered */
    bool fenced, ready_fired;
    bool fetch_in_flight, reg_in_flight, hb_in_flight;
    int64_t next_fetch_ms, next_reg_ms, next_hb_ms;
    int64_t hb_interval_ms;
    struct mdc_forward *fwds;
    /* controlled shutdown */
    bool want_shutdown;
    void (*shutdown_done)(void *arg);
    void *shutdown_arg;
    int64_t shutdown_deadline_ms;
    bool freeing;
    bool first_catch_up_logged;
    /* Until the first catch-up the listener hears nothing: the history it would replay (a topic
     * created, deleted and created again) is not what it must act on; it is then told of the
     * image as it stands (mdc_first_catch_up). */
    struct controller_listener listener;
    int32_t seen_leader; /* the active controller last logged, and its epoch */
    uint64_t seen_epoch;
};

static void mdc_heartbeat(struct md_client *m);

/* Ready (serving clients) once the controller has unfenced us AND our own image says so: then
 * our Metadata answers list this broker and the leaderships it was given. */
static void mdc_check_ready(struct md_client *m)
{
    if (m->ready_fired || m->fenced || m->epoch < 0) return;
    const struct md_broker *self = md_image_broker(&m->st.image, m->cfg.node_id);
    if (!self || self->epoch != m->epoch || self->fenced) return;
    m->ready_fired = true;
    if (m->on_ready) m->on_ready(m->ready_arg);
}

const struct md_image *md_client_image(const struct md_client *m)
{
    return &m->st.image;
}

static uint64_t mdc_applied(const struct md_client *m)
{
    return (uint64_t)GR_MAX(m->st.image.applied_offset, 0);
}

/* ------------------------------------------------------------------------------------------ */
/* Forwarded requests                                                                          */

static void fwd_finish(struct md_client *m, struct mdc_forward *f, int16_t ec)
{
    struct mdc_forward **pp = &m->fwds;
    while (*pp && *pp != f) pp = &(*pp)->next;
    if (*pp) *pp = f->next;
    if (f->cb) f->cb(f->arg, ec, ec ? NULL : f->body.data, ec ? 0 : f->body.len);
    gbuf_close(&f->body);
    free(f);
}

static void fwd_check_applied(struct md_client *m)
{
    struct mdc_forward *f = m->fwds;
    while (f) {
        struct mdc_forward *n = f->next;
        if (f->answered && mdc_applied(m) >= f->wait_offset) fwd_finish(m, f, KAFKA_ERR_NONE);
        f = n;
    }
}

static void fwd_on_answer(void *arg, int err, const Gregor__Control__ControlFrame *resp)
{
    struct mdc_forward *f = arg;
    struct md_client *m = f->m;
    f->in_call = false;
    if (m->freeing) return;
    int64_t now = time_mono_ms();
    const Gregor__Control__ForwardResponse *r =
        !err && resp && resp->body_case == GREGOR__CONTROL__CONTROL_FRAME__BODY_FORWARD_RESPONSE
            ? resp->forward_response : NULL;
    if (r && r->error_code == KAFKA_ERR_NONE) {
        gbuf_reset(&f->body);
        if (gbuf_append(&f->body, r->response.data, r->response.len)) {
            fwd_finish(m, f, KAFKA_ERR_UNKNOWN_SERVER_ERROR);
            return;
        }
        f->answered = true;
        f->wait_offset = r->metadata_offset;
        fwd_check_applied(m);
        return;
    }
    if (r && r->error_code == KAFKA_ERR_NOT_CONTROLLER) ctl_channel_set_target(m->ch_ctl, r->leader_id);
    if (r && r->error_code != KAFKA_ERR_NOT_CONTROLLER) {
        fwd_finish(m, f, (int16_t)r->error_code);
        return;
    }
    /* no controller answered (yet): retry until the deadline, as Kafka's forwarding does */
    if (now + MDC_RETRY_MS >= f->deadline_ms) {
        fwd_finish(m, f, r ? KAFKA_ERR_NOT_CONTROLLER : KAFKA_ERR_REQUEST_TIMED_OUT);
        return;
    }
    f->next_try_ms = now + (r ? 50 : MDC_RETRY_MS);
}

static void fwd_send(struct md_client *m, struct mdc_forward *f)
{
    Gregor__Control__ControlFrame fr = GREGOR__CONTROL__CONTROL_FRAME__INIT;
    Gregor__Control__ForwardRequest rq = GREGOR__CONTROL__FORWARD_REQUEST__INIT;
    rq.api_key = f->api_key;
    rq.api_version = f->api_version;
    rq.request.data = f->body.data;
    rq.request.len = f->body.len;
    fr.body_case = GREGOR__CONTROL__CONTROL_FRAME__BODY_FORWARD_REQUEST;
    fr.forward_request = &rq;
    int64_t left = f->deadline_ms - time_mono_ms();
    if (ctl_channel_call(m->ch_ctl, &fr, GR_MAX(GR_MIN(left, MDC_CALL_TIMEOUT_MS), 1),
                         fwd_on_answer, f) == 0)
        f->in_call = true;
    else
        f->next_try_ms = time_mono_ms() + MDC_RETRY_MS;
}

static struct mdc_forward *fwd_new(struct md_client *m, int16_t api_key, int16_t api_version,
                                   const uint8_t *body, size_t len, int64_t timeout_ms,
                                   md_client_forward_fn cb, void *arg)
{
    struct mdc_forward *f = calloc(1, sizeof(*f));
    if (!f) return NULL;
    gbuf_init(&f->body);
    if (gbuf_append(&f->body, body, len)) {
        gbuf_close(&f->body);
        free(f);
        return NULL;
    }
    f->m = m;
    f->cb = cb;
    f->arg = arg;
    f->api_key = api_key;
    f->api_version = api_version;
    f->deadline_ms = time_mono_ms() + GR_MAX(timeout_ms, 100);
    f->next = m->fwds;
    m->fwds = f;
    fwd_send(m, f);
    return f;
}

int md_client_forward(struct md_client *m, int16_t api_key, int16_t api_version,
                      const uint8_t *body, size_t len, int64_t timeout_ms,
                      md_client_forward_fn cb, void *arg)
{
    return fwd_new(m, api_key, api_version, body, len, timeout_ms, cb, arg) ? 0 : GR_ENOMEM;
}

static void auto_create_done(void *arg, int16_t ec, const uint8_t *resp, size_t len)
{
}

void md_client_auto_create(struct md_client *m, const char *name, size_t len)
{
    md_client_create_topic(m, name, len, -1, -1, NULL);
}

void md_client_create_topic(struct md_client *m, const char *name, size_t len,
                            int32_t partitions, int16_t replication_factor,
                            const char *const *configs)
{
    if (len >= sizeof(((struct mdc_forward *)0)->auto_name)) return;
    for (struct mdc_forward *f = m->fwds; f; f = f->next)
        if (!strncmp(f->auto_name, name, len) && f->auto_name[len] == 0) return;
    struct kafka_create_topics_request req;
    kafka_create_topics_request_init(&req);
    struct kafka_create_topics_request_creatable_topic t;
    kafka_create_topics_request_creatable_topic_init(&t);
    t.name = (struct kafka_str){name, (int32_t)len};
    t.num_partitions = partitions;
    t.replication_factor = replication_factor;
    struct kafka_create_topics_request_creatable_topic_config cfgs[16];
    for (int i = 0; configs && configs[2 * i] && i < 16; i++) {
        cfgs[i].name = KSTR(configs[2 * i]);
        cfgs[i].value = KSTR(configs[2 * i + 1]);
        t.configs = cfgs;
        t.configs_count = i + 1;
    }
    req.topics = &t;
    req.topics_count = 1;
    req.timeout_ms = 30000;
    struct gbuf body;
    gbuf_init(&body);
    struct kafka_writer w;
    kafka_writer_init(&w, &body);
    kafka_create_topics_request_encode(&w, 4, &req);
    if (!w.err) {
        struct mdc_forward *f = fwd_new(m, KAFKA_API_CREATE_TOPICS, 4, body.data, body.len,
                                        30000, auto_create_done, NULL);
        if (f) strfmt(f->auto_name, sizeof f->auto_name, "%.*s", (int)len, name);
        LOG_INFO(MDC_COMP, "asking the controller to create topic %.*s", (int)len, name);
    }
    gbuf_close(&body);
}

/* ------------------------------------------------------------------------------------------ */
/* AlterPartition                                                                              */

struct mdc_alter_call {
    struct md_client *m;
    md_client_alter_fn cb;
    void *arg;
};

static void alter_on_answer(void *arg, int err, const Gregor__Control__ControlFrame *resp)
{
    struct mdc_alter_call *a = arg;
    const Gregor__Control__AlterPartitionResponse *r =
        !err && resp &&
                resp->body_case == GREGOR__CONTROL__CONTROL_FRAME__BODY_ALTER_PARTITION_RESPONSE
            ? resp->alter_partition_response : NULL;
    if (r && r->error_code == KAFKA_ERR_NOT_CONTROLLER && !a->m->freeing)
        ctl_channel_set_target(a->m->ch_ctl, r->leader_id);
    a->cb(a->arg, r ? (int16_t)r->error_code : KAFKA_ERR_REQUEST_TIMED_OUT);
    free(a);
}

int md_client_alter_partition(struct md_client *m, const struct gr_uuid *topic_id,
                              int32_t partition, int32_t leader_epoch, int32_t partition_epoch,
                              const int32_t *isr, int32_t isr_count, md_client_alter_fn cb,
                              void *arg)
{
    if (m->epoch < 0) return GR_EAGAIN;
    struct mdc_alter_call *a = calloc(1, sizeof(*a));
    if (!a) return GR_ENOMEM;
    *a = (struct mdc_alter_call){m, cb, arg};
    Gregor__Control__ControlFrame f = GREGOR__CONTROL__CONTROL_FRAME__INIT;
    Gregor__Control__AlterPartitionRequest rq = GREGOR__CONTROL__ALTER_PARTITION_REQUEST__INIT;
    rq.broker_id = m->cfg.node_id;
    rq.broker_epoch = m->epoch;
    rq.topic_id.data = (uint8_t *)topic_id->b;
    rq.topic_id.len = 16;
    rq.partition = partition;
    rq.leader_epoch = leader_epoch;
    rq.partition_epoch = partition_epoch;
    rq.new_isr = (int32_t *)isr;
    rq.n_new_isr = (size_t)isr_count;
    f.body_case = GREGOR__CONTROL__CONTROL_FRAME__BODY_ALTER_PARTITION_REQUEST;
    f.alter_partition_request = &rq;
    int rc = ctl_channel_call(m->ch_ctl, &f, MDC_CALL_TIMEOUT_MS, alter_on_answer, a);
    if (rc) free(a);
    return rc;
}

struct mdc_pids_call {
    struct md_client *m;
    md_client_pids_fn cb;
    void *arg;
};

static void pids_on_answer(void *arg, int err, const Gregor__Control__ControlFrame *resp)
{
    struct mdc_pids_call *a = arg;
    const Gregor__Control__AllocateProducerIdsResponse *r =
        !err && resp &&
                resp->body_case ==
                    GREGOR__CONTROL__CONTROL_FRAME__BODY_ALLOCATE_PRODUCER_IDS_RESPONSE
            ? resp->allocate_producer_ids_response : NULL;
    if (r && r->error_code == KAFKA_ERR_NOT_CONTROLLER && !a->m->freeing)
        ctl_channel_set_target(a->m->ch_ctl, r->leader_id);
    if (r && r->error_code == KAFKA_ERR_NONE)
        a->cb(a->arg, KAFKA_ERR_NONE, r->producer_id_start, r->producer_id_len);
    else
        a->cb(a->arg, r ? (int16_t)r->error_code : KAFKA_ERR_REQUEST_TIMED_OUT, -1, 0);
    free(a);
}

int md_client_allocate_producer_ids(struct md_client *m, md_client_pids_fn cb, void *arg)
{
    if (m->epoch < 0) return GR_EAGAIN;
    struct mdc_pids_call *a = calloc(1, sizeof(*a));
    if (!a) return GR_ENOMEM;
    *a = (struct mdc_pids_call){m, cb, arg};
    Gregor__Control__ControlFrame f = GREGOR__CONTROL__CONTROL_FRAME__INIT;
    Gregor__Control__AllocateProducerIdsRequest rq =
        GREGOR__CONTROL__ALLOCATE_PRODUCER_IDS_REQUEST__INIT;
    rq.broker_id = m->cfg.node_id;
    rq.broker_epoch = m->epoch;
    f.body_case = GREGOR__CONTROL__CONTROL_FRAME__BODY_ALLOCATE_PRODUCER_IDS_REQUEST;
    f.allocate_producer_ids_request = &rq;
    int rc = ctl_channel_call(m->ch_ctl, &f, MDC_CALL_TIMEOUT_MS, pids_on_answer, a);
    if (rc) free(a);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* DescribeQuorum                                                                              */

static void quorum_send(struct mdc_quorum_call *q);

static void quorum_on_answer(void *arg, int err, const Gregor__Control__ControlFrame *resp)
{
    struct mdc_quorum_call *q = arg;
    struct md_client *m = q->m;
    const Gregor__Control__DescribeQuorumResponse *r =
        !err && resp &&
                resp->body_case == GREGOR__CONTROL__CONTROL_FRAME__BODY_DESCRIBE_QUORUM_RESPONSE
            ? resp->describe_quorum_response : NULL;
    if (!m->freeing && r && r->error_code == KAFKA_ERR_NOT_CONTROLLER && q->attempts < 3 &&
        r->leader_id) {
        ctl_channel_set_target(m->ch_ctl, r->leader_id);
        quorum_send(q);
        return;
    }
    if (!m->freeing && !r && err == GR_EIO && q->attempts < (int)m->cfg.n_voters + 1) {
        quorum_send(q); /* the channel moved to the next controller */
        return;
    }
    q->cb(q->arg, r);
    free(q);
}

static void quorum_send(struct mdc_quorum_call *q)
{
    q->attempts++;
    Gregor__Control__ControlFrame f = GREGOR__CONTROL__CONTROL_FRAME__INIT;
    Gregor__Control__DescribeQuorumRequest rq = GREGOR__CONTROL__DESCRIBE_QUORUM_REQUEST__INIT;
    f.body_case = GREGOR__CONTROL__CONTROL_FRAME__BODY_DESCRIBE_QUORUM_REQUEST;
    f.describe_quorum_request = &rq;
    if (ctl_channel_call(q->m->ch_ctl, &f, MDC_CALL_TIMEOUT_MS, quorum_on_answer, q)) {
        q->cb(q->arg, NULL);
        free(q);
    }
}

int md_client_describe_quorum(struct md_client *m, md_client_quorum_fn cb, void *arg)
{
    struct mdc_quorum_call *q = calloc(1, sizeof(*q));
    if (!q) return GR_ENOMEM;
    q->m = m;
    q->cb = cb;
    q->arg = arg;
    quorum_send(q);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Following the metadata log                                                                  */

static void mdc_fetch(struct md_client *m);
static void announce_topic(void *arg, struct md_topic *t);

static void fetch_on_answer(void *arg, int err, const Gregor__Control__ControlFrame *resp)
{
    struct md_client *m = arg;
    m->fetch_in_flight = false;
    if (m->freeing) return;
    const Gregor__Control__FetchMetadataResponse *r =
        !err && resp &&
                resp->body_case == GREGOR__CONTROL__CONTROL_FRAME__BODY_FETCH_METADATA_RESPONSE
            ? resp->fetch_metadata_response : NULL;
    if (!r) {
        m->next_fetch_ms = time_mono_ms() + MDC_RETRY_MS;
        return;
    }
    if (r->leader_id > 0 && r->leader_id != ctl_channel_target(m->ch_fetch))
        ctl_channel_set_target(m->ch_fetch, r->leader_id);
    bool changed = false;
    if (r->snapshot && r->snapshot->index > mdc_applied(m)) {
        int rc = md_state_load_snapshot(&m->st, r->snapshot->index, r->snapshot->data.data,
                                        r->snapshot->data.len);
        if (rc) {
            LOG_ERROR(MDC_COMP, "cannot load the metadata snapshot at %llu: %s",
                      (unsigned long long)r->snapshot->index, gr_strerror(rc));
            m->next_fetch_ms = time_mono_ms() + MDC_RETRY_MS;
            return;
        }
        LOG_INFO(MDC_COMP, "loaded the metadata snapshot at offset %llu (%zu topics)",
                 (unsigned long long)r->snapshot->index, m->st.image.topic_count);
        changed = true;
    }
    for (size_t i = 0; i < r->n_entries; i++) {
        const Gregor__Control__RaftEntry *e = r->entries[i];
        if (e->index != mdc_applied(m) + 1) break; /* a gap: fetch again from where we are */
        if (e->type == 0 && e->data.len) {
            int rc = md_state_apply(&m->st, e->index, e->data.data, e->data.len);
            if (rc)
                LOG_ERROR(MDC_COMP, "cannot apply metadata entry %llu: %s (skipped)",
                          (unsigned long long)e->index, gr_strerror(rc));
        }
        m->st.image.applied_offset = (int64_t)e->index;
        changed = true;
    }
    if (changed) {
        fwd_check_applied(m);
        mdc_check_ready(m);
    }
    if (r->leader_id > 0 && (r->leader_id != m->seen_leader || r->leader_epoch != m->seen_epoch)) {
        m->seen_leader = r->leader_id;
        m->seen_epoch = r->leader_epoch;
        LOG_INFO(MDC_COMP, "node %d is the active controller (epoch %llu); metadata applied up "
                 "to offset %lld, high watermark %llu", r->leader_id,
                 (unsigned long long)r->leader_epoch, (long long)m->st.image.applied_offset,
                 (unsigned long long)r->high_watermark);
    }
    if (!m->first_catch_up_logged && mdc_applied(m) >= r->high_watermark) {
        m->first_catch_up_logged = true;
        m->st.listener = m->listener;
        if (m->listener.topic_created) md_image_foreach(&m->st.image, announce_topic, m);
        LOG_INFO(MDC_COMP, "caught up with the metadata log at offset %llu (%zu topics, %d "
                 "brokers)", (unsigned long long)mdc_applied(m), m->st.image.topic_count,
                 m->st.image.broker_count);
    }
    /* a fenced broker that just caught up tells the controller at once */
    if (changed && m->epoch >= 0 && m->fenced && (int64_t)mdc_applied(m) >= m->epoch)
        m->next_hb_ms = 0;
    mdc_fetch(m);
}

static void announce_topic(void *arg, struct md_topic *t)
{
    struct md_client *m = arg;
    m->listener.topic_created(m->listener.arg, t);
}

static void mdc_fetch(struct md_client *m)
{
    if (m->fetch_in_flight || m->freeing) return;
    Gregor__Control__ControlFrame f = GREGOR__CONTROL__CONTROL_FRAME__INIT;
    Gregor__Control__FetchMetadataRequest rq = GREGOR__CONTROL__FETCH_METADATA_REQUEST__INIT;
    rq.broker_id = m->cfg.node_id;
    rq.fetch_offset = mdc_applied(m) + 1;
    rq.max_bytes = 8u << 20;
    rq.max_wait_ms = MDC_FETCH_WAIT_MS;
    f.body_case = GREGOR__CONTROL__CONTROL_FRAME__BODY_FETCH_METADATA_REQUEST;
    f.fetch_metadata_request = &rq;
    if (ctl_channel_call(m->ch_fetch, &f, MDC_FETCH_TIMEOUT_MS, fetch_on_answer, m) == 0)
        m->fetch_in_flight = true;
    else
        m->next_fetch_ms = time_mono_ms() + MDC_RETRY_MS;
}

/* ------------------------------------------------------------------------------------------ */
/* Registration and heartbeats                                                                 */

static void reg_on_answer(void *arg, int err, const Gregor__Control__ControlFrame *resp)
{
    struct md_client *m = arg;
    m->reg_in_flight = false;
    if (m->freeing) return;
    const Gregor__Control__BrokerRegistrationResponse *r =
        !err && resp &&
                resp->body_case ==
                    GREGOR__CONTROL__CONTROL_FRAME__BODY_BROKER_REGISTRATION_RESPONSE
            ? resp->broker_registration_response : NULL;
    int64_t now = time_mono_ms();
    if (r && r->error_code == KAFKA_ERR_NONE) {
        m->epoch = r->broker_epoch;
        m->fenced = true;
        m->next_hb_ms = now;
        LOG_INFO(MDC_COMP, "broker %d registered with controller %d, broker epoch %lld",
                 m->cfg.node_id, ctl_channel_target(m->ch_ctl), (long long)m->epoch);
        mdc_heartbeat(m);
        return;
    }
    if (r && r->error_code == KAFKA_ERR_NOT_CONTROLLER) {
        ctl_channel_set_target(m->ch_ctl, r->leader_id);
        m->next_reg_ms = now + (r->leader_id ? 20 : MDC_RETRY_MS);
        return;
    }
    if (r)
        LOG_ERROR(MDC_COMP, "the controller refused to register broker %d: %s",
                  m->cfg.node_id, kafka_err_name((int16_t)r->error_code));
    m->next_reg_ms = now + (r ? 2000 : MDC_RETRY_MS);
}

static void mdc_register(struct md_client *m)
{
    if (m->reg_in_flight || m->freeing) return;
    Gregor__Control__ControlFrame f = GREGOR__CONTROL__CONTROL_FRAME__INIT;
    Gregor__Control__BrokerRegistrationRequest rq =
        GREGOR__CONTROL__BROKER_REGISTRATION_REQUEST__INIT;
    Gregor__Control__Listener ls[MD_ENDPOINTS_MAX];
    Gregor__Control__Listener *lp[MD_ENDPOINTS_MAX];
    int32_t n = GR_MIN(m->cfg.endpoint_count, MD_ENDPOINTS_MAX);
    for (int32_t i = 0; i < n; i++) {
        ls[i] = (Gregor__Control__Listener)GREGOR__CONTROL__LISTENER__INIT;
        ls[i].name = m->cfg.endpoints[i].name;
        ls[i].host = m->cfg.endpoints[i].host;
        ls[i].port = (uint32_t)m->cfg.endpoints[i].port;
        ls[i].security_protocol = "PLAINTEXT";
        lp[i] = &ls[i];
    }
    rq.broker_id = m->cfg.node_id;
    rq.incarnation_id.data = m->incarnation.b;
    rq.incarnation_id.len = 16;
    rq.listeners = lp;
    rq.n_listeners = (size_t)n;
    rq.rack = (char *)cfg_get_str(m->cfg.broker, "broker.rack", "");
    rq.previous_broker_epoch = m->epoch;
    rq.cluster_id = m->st.image.cluster_id_str;
    f.body_case = GREGOR__CONTROL__CONTROL_FRAME__BODY_BROKER_REGISTRATION_REQUEST;
    f.broker_registration_request = &rq;
    if (ctl_channel_call(m->ch_ctl, &f, MDC_CALL_TIMEOUT_MS, reg_on_answer, m) == 0)
        m->reg_in_flight = true;
    else
        m->next_reg_ms = time_mono_ms() + MDC_RETRY_MS;
}

static void hb_on_answer(void *arg, int err, const Gregor__Control__ControlFrame *resp)
{
    struct md_client *m = arg;
    m->hb_in_flight = false;
    if (m->freeing) return;
    const Gregor__Control__BrokerHeartbeatResponse *r =
        !err && resp &&
                resp->body_case == GREGOR__CONTROL__CONTROL_FRAME__BODY_BROKER_HEARTBEAT_RESPONSE
            ? resp->broker_heartbeat_response : NULL;
    int64_t now = time_mono_ms();
    if (!r) {
        m->next_hb_ms = now + MDC_RETRY_MS;
        return;
    }
    if (r->error_code == KAFKA_ERR_NOT_CONTROLLER) {
        ctl_channel_set_target(m->ch_ctl, r->leader_id);
        m->next_hb_ms = now + (r->leader_id ? 20 : MDC_RETRY_MS);
        return;
    }
    if (r->error_code == KAFKA_ERR_STALE_BROKER_EPOCH) {
        LOG_WARN(MDC_COMP, "the controller does not know broker epoch %lld: registering again",
                 (long long)m->epoch);
        m->epoch = -1;
        m->fenced = true;
        m->next_reg_ms = now;
        return;
    }
    if (r->error_code) {
        m->next_hb_ms = now + MDC_RETRY_MS;
        return;
    }
    if (m->fenced != r->is_fenced)
        LOG_INFO(MDC_COMP, "broker %d is %s", m->cfg.node_id,
                 r->is_fenced ? "fenced" : "unfenced: serving clients");
    m->fenced = r->is_fenced;
    mdc_check_ready(m);
    if (m->want_shutdown && r->should_shut_down && m->shutdown_done) {
        void (*done)(void *) = m->shutdown_done;
        m->shutdown_done = NULL;
        LOG_INFO(MDC_COMP, "controlled shutdown of broker %d complete", m->cfg.node_id);
        done(m->shutdown_arg);
    }
}

static void mdc_heartbeat(struct md_client *m)
{
    if (m->hb_in_flight || m->freeing || m->epoch < 0) return;
    Gregor__Control__ControlFrame f = GREGOR__CONTROL__CONTROL_FRAME__INIT;
    Gregor__Control__BrokerHeartbeatRequest rq = GREGOR__CONTROL__BROKER_HEARTBEAT_REQUEST__INIT;
    rq.broker_id = m->cfg.node_id;
    rq.broker_epoch = m->epoch;
    rq.current_metadata_offset = m->st.image.applied_offset;
    rq.want_shutdown = m->want_shutdown;
    f.body_case = GREGOR__CONTROL__CONTROL_FRAME__BODY_BROKER_HEARTBEAT_REQUEST;
    f.broker_heartbeat_request = &rq;
    int64_t now = time_mono_ms();
    bool fast = m->fenced || m->want_shutdown;
    m->next_hb_ms = now + (fast ? GR_MIN(m->hb_interval_ms, MDC_FENCED_HEARTBEAT_MS)
                                : m->hb_interval_ms);
    /* Two heartbeat intervals without an answer: the controller is given up (the channel moves
     * on), well before the active controller's session for us runs out. */
    int64_t timeout = GR_MIN(MDC_CALL_TIMEOUT_MS, GR_MAX(CTL_CHANNEL_SILENT_MS, 2 * m->hb_interval_ms));
    if (ctl_channel_call(m->ch_ctl, &f, timeout, hb_on_answer, m) == 0)
        m->hb_in_flight = true;
}

void md_client_shutdown(struct md_client *m, int64_t timeout_ms, void (*done)(void *arg),
                        void *arg)
{
    if (m->epoch < 0 || m->want_shutdown) {
        done(arg);
        return;
    }
    LOG_INFO(MDC_COMP, "broker %d asking the controller for a controlled shutdown",
             m->cfg.node_id);
    m->want_shutdown = true;
    m->shutdown_done = done;
    m->shutdown_arg = arg;
    m->shutdown_deadline_ms = time_mono_ms() + timeout_ms;
    m->next_hb_ms = 0;
    mdc_heartbeat(m);
}

/* ------------------------------------------------------------------------------------------ */

static void mdc_on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct md_client *m = arg;
    int64_t now = time_mono_ms();
    if (!m->fetch_in_flight && now >= m->next_fetch_ms) mdc_fetch(m);
    if (m->epoch < 0 && !m->reg_in_flight && now >= m->next_reg_ms) mdc_register(m);
    if (m->epoch >= 0 && !m->hb_in_flight && now >= m->next_hb_ms) mdc_heartbeat(m);
    struct mdc_forward *f = m->fwds;
    while (f) {
        struct mdc_forward *n = f->next;
        if (!f->in_call && now >= f->deadline_ms) {
            /* answered but not applied in time: the change is made, answer anyway */
            fwd_finish(m, f, f->answered ? KAFKA_ERR_NONE : KAFKA_ERR_REQUEST_TIMED_OUT);
        } else if (!f->in_call && !f->answered && now >= f->next_try_ms) {
            fwd_send(m, f);
        }
        f = n;
    }
    if (m->shutdown_done && now >= m->shutdown_deadline_ms) {
        void (*done)(void *) = m->shutdown_done;
        m->shutdown_done = NULL;
        LOG_WARN(MDC_COMP, "controlled shutdown not confirmed by the controller in time; "
                 "stopping anyway");
        done(m->shutdown_arg);
    }
}

int md_client_new(struct event_base *base, const struct md_client_config *cfg,
                  const struct controller_listener *l, md_client_ready_fn on_ready,
                  void *ready_arg, struct md_client **out)
{
    struct md_client *m = calloc(1, sizeof(*m));
    if (!m) return GR_ENOMEM;
    m->base = base;
    m->cfg = *cfg;
    memcpy(m->voters, cfg->voters, sizeof(*cfg->voters) * (size_t)cfg->n_voters);
    m->cfg.voters = m->voters;
    m->on_ready = on_ready;
    m->ready_arg = ready_arg;
    m->epoch = -1;
    m->fenced = true;
    m->hb_interval_ms = cfg_get_long(cfg->broker, "broker.heartbeat.interval.ms", 2000);
    gr_uuid_random(&m->incarnation);
    if (l) m->listener = *l;
    int rc = md_state_init(&m->st, &cfg->cluster_id, NULL); /* listener: at the first catch-up */
    struct ctl_endpoint eps[CTL_CHANNEL_ENDPOINTS_MAX];
    int n = GR_MIN(cfg->n_voters, CTL_CHANNEL_ENDPOINTS_MAX);
    for (int i = 0; i < n; i++) {
        eps[i].id = cfg->voters[i].id;
        strfmt(eps[i].host, sizeof eps[i].host, "%s", cfg->voters[i].host);
        eps[i].port = cfg->voters[i].port;
    }
    if (!rc) {
        m->ch_fetch = ctl_channel_new(base, eps, n);
        m->ch_ctl = ctl_channel_new(base, eps, n);
        m->ev_tick = event_new(base, -1, EV_PERSIST, mdc_on_tick, m);
        if (!m->ch_fetch || !m->ch_ctl || !m->ev_tick) rc = GR_ENOMEM;
    }
    if (rc) {
        md_client_free(m);
        return rc;
    }
    struct timeval tv = {0, MDC_TICK_MS * 1000};
    event_add(m->ev_tick, &tv);
    mdc_fetch(m);
    mdc_register(m);
    *out = m;
    return 0;
}

void md_client_free(struct md_client *m)
{
    if (!m) return;
    m->freeing = true;
    ctl_channel_free(m->ch_fetch); /* pending calls end here, seeing `freeing` */
    ctl_channel_free(m->ch_ctl);
    while (m->fwds) fwd_finish(m, m->fwds, KAFKA_ERR_REQUEST_TIMED_OUT);
    if (m->ev_tick) event_free(m->ev_tick);
    md_state_close(&m->st);
    free(m);
}

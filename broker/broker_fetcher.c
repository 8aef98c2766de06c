/* broker_fetcher.c — followers fetching from partition leaders.
 *
 * One fetcher per leader broker: one Kafka connection (net_kclient) and one Fetch request at a
 * time (v12, replica_id = this broker), long-polled at the leader (replica.fetch.wait.max.ms),
 * carrying every partition this broker follows there.  Batches are appended as the leader
 * stored them (offsets and leader epochs kept).  Divergence after a leader change is found the
 * KIP-595 way: each fetch carries the epoch of our last batch, and the leader answers with a
 * diverging epoch when its log differs from ours there; we truncate to where the logs agree
 * and fetch on.  No replica ever keeps records above the high watermark that the leader does
 * not have. */
#include "broker/broker_int.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#define FETCHER_RETRY_MS 200
#define FETCHER_TIMEOUT_MS 30000
#define FETCHER_VERSION 12

struct fetcher_part {
    char topic[256];
    int32_t partition;
    int64_t retry_ms; /* backing off until (an error from the leader) */
};

struct broker_fetcher {
    struct broker_fetcher *next;
    struct broker *b;
    int32_t leader_id;
    char host[256];
    int port;
    struct net_kclient *kc;
    struct fetcher_part *parts;
    int32_t n, cap;
    bool in_flight;
    struct event *ev; /* sends the next fetch */
    struct arena arena;
};

NET_KCLIENT_ENCODER(kafka_fetch_request)

static struct broker_partition *part_lookup(struct broker *b, const struct fetcher_part *fp)
{
    struct broker_topic *t = broker_topic_find(b, fp->topic, strlen(fp->topic));
    if (!t || fp->partition < 0 || fp->partition >= t->partition_count) return NULL;
    return &t->partitions[fp->partition];
}

/* Still ours to fetch from this leader? */
static struct broker_partition *part_live(struct broker_fetcher *f, const struct fetcher_part *fp)
{
    struct broker_partition *p = part_lookup(f->b, fp);
    if (!p || !p->log || p->leader || p->leader_id != f->leader_id) return NULL;
    return p;
}

static void fetcher_schedule(struct broker_fetcher *f, int64_t delay_ms)
{
    struct timeval tv = {delay_ms / 1000, (delay_ms % 1000) * 1000};
    event_add(f->ev, &tv);
}

/* ------------------------------------------------------------------------------------------ */
/* Answers                                                                                     */

int64_t broker_replica_truncation_offset(int64_t leo, int64_t hw, int32_t leader_epoch,
                                         int64_t leader_end, int64_t local_end_for_epoch)
{
    int64_t to;
    if (leader_end < 0) to = hw;                         /* the leader knows none of our epochs */
    else if (leader_epoch < 0) to = GR_MIN(leader_end, leo);
    else if (local_end_for_epoch < 0) to = hw;           /* we have nothing of that epoch */
    else to = GR_MIN(leader_end, local_end_for_epoch);   /* where both logs end that epoch */
    return GR_MIN(GR_MAX(to, 0), leo);
}

/* KIP-595: the leader says our log diverges from its own after (epoch, end_offset). */
static void truncate_diverging(struct broker_partition *p,
                               const struct kafka_fetch_response_epoch_end_offset *d)
{
    int64_t leo = storage_log_end_offset(p->log);
    int32_t fe = -1;
    int64_t fo = -1;
    if (d->end_offset >= 0 && d->epoch >= 0 &&
        storage_log_end_offset_for_epoch(p->log, d->epoch, &fe, &fo))
        fo = -1;
    int64_t to = broker_replica_truncation_offset(leo, p->high_watermark, d->epoch,
                                                  d->end_offset, fo);
    if (to < leo) {
        LOG_INFO("broker", "%s-%d: truncating from %lld to %lld to match leader %d (diverging "
                 "epoch %d ends at %lld)", p->topic->name, p->id, (long long)leo, (long long)to,
                 p->leader_id, d->epoch, (long long)d->end_offset);
        if (storage_log_truncate_to(p->log, to))
            LOG_ERROR("broker", "%s-%d: truncation failed", p->topic->name, p->id);
        broker_pstate_rebuild(p);
    }
    p->high_watermark = GR_MIN(p->high_watermark, storage_log_end_offset(p->log));
}

static void append_records(struct broker_fetcher *f, struct broker_partition *p,
                           const struct kafka_records *r)
{
    if (r->len <= 0 || !r->ptr) return;
    /* whole batches only (a leader may cut the last one at the byte limit) */
    size_t n = 0, len = (size_t)r->len;
    while (n < len) {
        size_t bn = rb_batch_size(r->ptr + n, len - n);
        if (!bn || n + bn > len) break;
        n += bn;
    }
    if (!n) return;
    /* appended straight from the receive buffer: storage only reads it */
    int64_t base = (int64_t)be64_get(r->ptr + RB_OFF_BASE_OFFSET);
    int64_t leo = storage_log_end_offset(p->log);
    if (base < leo) {
        /* our log ends inside one of the leader's batches: cut back to its start */
        LOG_WARN("broker", "%s-%d: our log ends at %lld inside the leader's batch at %lld; "
                 "truncating to it", p->topic->name, p->id, (long long)leo, (long long)base);
        storage_log_truncate_to(p->log, base);
        broker_pstate_rebuild(p);
        return;
    }
    struct storage_append_info ai;
    int rc = storage_log_append_replica(p->log, r->ptr, n, time_wall_ms(), &ai);
    if (!rc) broker_pstate_appended(p, r->ptr, n);
    if (rc)
        LOG_ERROR("broker", "%s-%d: appending %zu bytes fetched from leader %d at %lld "
                  "failed: %s", p->topic->name, p->id, n, f->leader_id, (long long)base,
                  gr_strerror(rc));
}

static void fetch_answered(void *arg, int err, const uint8_t *body, size_t len)
{
    struct broker_fetcher *f = arg;
    f->in_flight = false;
    if (err == GR_ECANCELED) return;
    int64_t now = time_mono_ms();
    if (err) {
        fetcher_schedule(f, FETCHER_RETRY_MS);
        return;
    }
    arena_reset(&f->arena);
    struct kafka_reader r;
    kafka_reader_init(&r, body, len, &f->arena);
    struct kafka_fetch_response resp;
    if (kafka_fetch_response_decode(&r, FETCHER_VERSION, &resp) || resp.error_code) {
        LOG_WARN("broker", "fetch from leader %d failed: %s", f->leader_id,
                 resp.error_code ? kafka_err_name(resp.error_code) : "undecodable response");
        fetcher_schedule(f, FETCHER_RETRY_MS);
        return;
    }
    for (int32_t i = 0; i < resp.responses_count; i++) {
        const struct kafka_fetch_response_fetchable_topic_response *tr = &resp.responses[i];
        for (int32_t k = 0; k < tr->partitions_count; k++) {
            const struct kafka_fetch_response_partition_data *pd = &tr->partitions[k];
            struct fetcher_part *fp = NULL;
            for (int32_t j = 0; j < f->n && !fp; j++)
                if (f->parts[j].partition == pd->partition_index &&
                    kstr_eq(tr->topic, f->parts[j].topic))
                    fp = &f->parts[j];
            struct broker_partition *p = fp ? part_live(f, fp) : NULL;
            if (!p) continue;
            if (pd->error_code != KAFKA_ERR_NONE) {
                int64_t our_end = storage_log_end_offset(p->log);
                if (pd->error_code == KAFKA_ERR_OFFSET_OUT_OF_RANGE &&
                    pd->log_start_offset > our_end) {
                    /* the leader's retention removed what we would fetch: start over there */
                    LOG_WARN("broker", "%s-%d: leader %d starts at %lld, past our end %lld: "
                             "restarting our log there", p->topic->name, p->id, f->leader_id,
                             (long long)pd->log_start_offset, (long long)our_end);
                    if (storage_log_reset(p->log, pd->log_start_offset) == 0) {
                        broker_pstate_rebuild(p);
                        p->high_watermark = pd->log_start_offset;
                    }
                } else if (pd->error_code == KAFKA_ERR_OFFSET_OUT_OF_RANGE &&
                           our_end > pd->high_watermark && pd->high_watermark >= 0) {
                    /* longer than the leader and no epoch to compare: keep what it has */
                    struct kafka_fetch_response_epoch_end_offset d = {-1, pd->high_watermark};
                    truncate_diverging(p, &d);
                } else {
                    fp->retry_ms = now + FETCHER_RETRY_MS;
                }
                continue;
            }
            if (pd->diverging_epoch.epoch >= 0 || pd->diverging_epoch.end_offset >= 0) {
                truncate_diverging(p, &pd->diverging_epoch);
                continue;
            }
            append_records(f, p, &pd->records);
            int64_t leo = storage_log_end_offset(p->log);
            p->high_watermark = GR_MIN(pd->high_watermark, leo);
        }
    }
    fetcher_schedule(f, 0);
}

/* ------------------------------------------------------------------------------------------ */
/* Requests                                                                                    */

static void fetch_send(struct broker_fetcher *f)
{
    struct broker *b = f->b;
    if (f->in_flight || !f->n) return;
    const struct md_broker *lb = md_image_broker(md_client_image(b->mdc), f->leader_id);
    const struct md_endpoint *ep = md_broker_endpoint(lb, b->inter_broker_listener);
    if (!lb || lb->fenced || !ep) { /* the image will move these partitions soon */
        if (lb && !lb->fenced && !ep)
            LOG_WARN("broker", "leader %d has no %s listener (inter.broker.listener.name)",
                     lb->id, b->inter_broker_listener ? b->inter_broker_listener : "?");
        fetcher_schedule(f, FETCHER_RETRY_MS);
        return;
    }
    if (strcmp(ep->host, f->host) || ep->port != f->port) {
        strfmt(f->host, sizeof f->host, "%s", ep->host);
        f->port = ep->port;
        net_kclient_set_address(f->kc, f->host, f->port);
    }
    arena_reset(&f->arena);
    int64_t now = time_mono_ms();
    struct kafka_fetch_request req;
    kafka_fetch_request_init(&req);
    req.replica_id = b->cfg.node_id;
    req.max_wait_ms = (int32_t)cfg_get_long(b->cfg.cfg, "replica.fetch.wait.max.ms", 500);
    req.min_bytes = (int32_t)cfg_get_long(b->cfg.cfg, "replica.fetch.min.bytes", 1);
    req.max_bytes = (int32_t)cfg_get_long(b->cfg.cfg, "replica.fetch.response.max.bytes",
                                          10485760);
    req.session_id = 0;
    req.session_epoch = -1;
    req.topics = arena_calloc(&f->arena, (size_t)f->n, sizeof(*req.topics));
    if (!req.topics) return;
    int32_t per_part = (int32_t)cfg_get_long(b->cfg.cfg, "replica.fetch.max.bytes", 1048576);
    int32_t nt = 0, total = 0;
    for (int32_t i = 0; i < f->n; i++) {
        struct fetcher_part *fp = &f->parts[i];
        struct broker_partition *p = part_live(f, fp);
        if (!p || now < fp->retry_ms) continue;
        struct kafka_fetch_request_fetch_topic *rt = NULL;
        for (int32_t k = 0; k < nt && !rt; k++)
            if (kstr_eq(req.topics[k].topic, fp->topic)) rt = &req.topics[k];
        if (!rt) {
            rt = &req.topics[nt++];
            kafka_fetch_request_fetch_topic_init(rt);
            rt->topic = KSTR(fp->topic);
            rt->partitions = arena_calloc(&f->arena, (size_t)f->n, sizeof(*rt->partitions));
            if (!rt->partitions) return;
        }
        struct kafka_fetch_request_fetch_partition *rp = &rt->partitions[rt->partitions_count++];
        kafka_fetch_request_fetch_partition_init(rp);
        rp->partition = fp->partition;
        rp->current_leader_epoch = p->leader_epoch;
        rp->fetch_offset = storage_log_end_offset(p->log);
        rp->last_fetched_epoch = storage_log_latest_epoch(p->log);
        rp->log_start_offset = storage_log_start_offset(p->log);
        rp->partition_max_bytes = per_part;
        total++;
    }
    req.topics_count = nt;
    if (!total) {
        fetcher_schedule(f, FETCHER_RETRY_MS);
        return;
    }
    if (net_kclient_call(f->kc, KAFKA_API_FETCH, FETCHER_VERSION,
                         kafka_fetch_request_encode_any, &req, FETCHER_TIMEOUT_MS,
                         fetch_answered, f) == 0)
        f->in_flight = true;
    else
        fetcher_schedule(f, FETCHER_RETRY_MS);
}

static void fetcher_on_event(evutil_socket_t fd, short what, void *arg)
{
    fetch_send(arg);
}

/* ------------------------------------------------------------------------------------------ */

static struct broker_fetcher *fetcher_get(struct broker *b, int32_t leader_id)
{
    for (struct broker_fetcher *f = b->fetchers; f; f = f->next)
        if (f->leader_id == leader_id) return f;
    struct broker_fetcher *f = calloc(1, sizeof(*f));
    if (!f) return NULL;
    char client_id[64];
    strfmt(client_id, sizeof client_id, "broker-%d-fetcher-%d", b->cfg.node_id, leader_id);
    f->b = b;
    f->leader_id = leader_id;
    f->kc = net_kclient_new(b->base, "127.0.0.1", 1, client_id); /* address set on first send */
    f->ev = event_new(b->base, -1, 0, fetcher_on_event, f);
    arena_init(&f->arena, 65536);
    if (!f->kc || !f->ev) {
        if (f->kc) net_kclient_free(f->kc);
        if (f->ev) event_free(f->ev);
        arena_close(&f->arena);
        free(f);
        return NULL;
    }
    f->next = b->fetchers;
    b->fetchers = f;
    LOG_INFO("broker", "starting a fetcher from leader %d", leader_id);
    return f;
}

void broker_fetcher_follow(struct broker *b, struct broker_partition *p)
{
    struct broker_fetcher *f = fetcher_get(b, p->leader_id);
    if (!f) return;
    if (f->n == f->cap) {
        int32_t cap = f->cap ? f->cap * 2 : 16;
        struct fetcher_part *np = realloc(f->parts, sizeof(*np) * (size_t)cap);
        if (!np) return;
        f->parts = np;
        f->cap = cap;
    }
    struct fetcher_part *fp = &f->parts[f->n++];
    memset(fp, 0, sizeof(*fp));
    strfmt(fp->topic, sizeof fp->topic, "%s", p->topic->name);
    fp->partition = p->id;
    p->fetching = true;
    LOG_INFO("broker", "%s-%d: following leader %d at epoch %d from offset %lld",
             p->topic->name, p->id, p->leader_id, p->leader_epoch,
             (long long)storage_log_end_offset(p->log));
    if (!f->in_flight) fetcher_schedule(f, 0);
}

void broker_fetcher_unfollow(struct broker *b, struct broker_partition *p)
{
    if (!p->fetching) return;
    p->fetching = false;
    for (struct broker_fetcher *f = b->fetchers; f; f = f->next)
        for (int32_t i = 0; i < f->n; i++)
            if (f->parts[i].partition == p->id && !strcmp(f->parts[i].topic, p->topic->name)) {
                f->parts[i] = f->parts[--f->n];
                return;
            }
}

static void fetcher_free(struct broker_fetcher *f)
{
    event_free(f->ev);
    net_kclient_free(f->kc); /* a pending fetch ends here with GR_ECANCELED */
    arena_close(&f->arena);
    free(f->parts);
    free(f);
}

void broker_fetchers_free(struct broker *b)
{
    while (b->fetchers) {
        struct broker_fetcher *f = b->fetchers;
        b->fetchers = f->next;
        fetcher_free(f);
    }
}

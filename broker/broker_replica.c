/* broker_replica.c — partition replication on the leader's side, and roles from the image.
 *
 * The metadata image says who leads each partition, at which leader epoch, and which replicas
 * are in sync (ISR).  A leader tracks each follower's log end offset from its fetches and keeps
 * the high watermark at the smallest log end offset of the ISR (its own included), as Kafka
 * does; consumers read below it and acks=all produces complete when it passes them.  A
 * follower that has not caught up within replica.lag.time.max.ms is dropped from the ISR, and
 * one that caught up is added back, both through AlterPartition to the active controller; the
 * new ISR takes effect when it arrives with the metadata log.  Followers fetch from their
 * leader (broker_fetcher.c). */
#include "broker/broker_int.h"

#include <stdlib.h>
#include <string.h>

#define REPLICA_ALTER_RETRY_MS 500
#define REPLICA_ISR_CHECK_MS 250

static bool in_isr(const struct broker_partition *p, int32_t id)
{
    for (int32_t i = 0; i < p->isr_count; i++)
        if (p->isr[i] == id) return true;
    return false;
}

static struct broker_follower *follower_of(struct broker_partition *p, int32_t id)
{
    for (int32_t i = 0; i < p->follower_count; i++)
        if (p->followers[i].id == id) return &p->followers[i];
    return NULL;
}

int64_t broker_replica_compute_hw(int64_t leader_leo, int64_t hw,
                                  const struct broker_follower *followers, int32_t n,
                                  const int32_t *isr, int32_t isr_count, int32_t adding)
{
    int64_t cand = leader_leo;
    for (int32_t i = 0; i < n; i++) {
        bool counts = followers[i].id == adding;
        for (int32_t k = 0; k < isr_count; k++) counts |= isr[k] == followers[i].id;
        if (counts) cand = GR_MIN(cand, followers[i].leo); /* -1 (unknown) holds it */
    }
    return GR_MAX(hw, cand); /* the high watermark never goes back */
}

void broker_replica_fetch_update(struct broker_follower *f, int64_t fetch_offset,
                                 int64_t leader_leo, int64_t now_ms)
{
    /* caught up: it has everything we had now, or everything we had at its previous fetch
     * (Kafka's rule: a follower fetching steadily behind a busy leader stays in sync) */
    if (fetch_offset >= leader_leo) f->last_caught_up_ms = now_ms;
    else if (f->last_fetch_ms && fetch_offset >= f->last_fetch_leader_leo)
        f->last_caught_up_ms = GR_MAX(f->last_caught_up_ms, f->last_fetch_ms);
    f->leo = GR_MIN(fetch_offset, leader_leo);
    f->last_fetch_ms = now_ms;
    f->last_fetch_leader_leo = leader_leo;
}

void broker_replica_update_hw(struct broker *b, struct broker_partition *p)
{
    if (!p->leader || !p->log) return;
    int64_t hw = broker_replica_compute_hw(storage_log_end_offset(p->log), p->high_watermark,
                                           p->followers, p->follower_count, p->isr,
                                           p->isr_count, p->alter_adding);
    if (hw <= p->high_watermark) return;
    p->high_watermark = hw;
    broker_partition_appended(b, p); /* consumers waiting on the high watermark */
    broker_produce_recheck(b);
}

/* ------------------------------------------------------------------------------------------ */
/* AlterPartition                                                                              */

struct alter_ctx {
    struct broker *b;
    char topic[256];
    int32_t partition;
    int32_t partition_epoch;
};

static struct broker_partition *lookup(struct broker *b, const char *topic, int32_t partition)
{
    struct broker_topic *t = broker_topic_find(b, topic, strlen(topic));
    if (!t || partition < 0 || partition >= t->partition_count) return NULL;
    return &t->partitions[partition];
}

static void alter_done(void *arg, int16_t error)
{
    struct alter_ctx *a = arg;
    struct broker_partition *p = lookup(a->b, a->topic, a->partition);
    if (p && p->alter_pending && p->partition_epoch == a->partition_epoch) {
        /* committed: the new ISR arrives with the image (and clears alter_pending then);
         * refused or unanswered: try again later from the image's current state */
        if (error != KAFKA_ERR_NONE) {
            p->alter_pending = false;
            p->alter_adding = -1;
            p->alter_retry_ms = time_mono_ms() + REPLICA_ALTER_RETRY_MS;
            /* INELIGIBLE_REPLICA: the follower is still fenced (just restarted); it is asked
             * again every REPLICA_ALTER_RETRY_MS until it is not, which is no news */
            if (error == KAFKA_ERR_INELIGIBLE_REPLICA)
                LOG_DEBUG("broker", "%s-%d: ISR change refused: %s", a->topic, a->partition,
                          kafka_err_name(error));
            else if (error != KAFKA_ERR_REQUEST_TIMED_OUT && error != KAFKA_ERR_NOT_CONTROLLER)
                LOG_WARN("broker", "%s-%d: ISR change refused: %s", a->topic, a->partition,
                         kafka_err_name(error));
        }
    }
    free(a);
}

/* Asks for ISR = current ISR - remove + add (remove / add -1 for none). */
static void alter_isr(struct broker *b, struct broker_partition *p, int32_t remove, int32_t add)
{
    if (p->alter_pending || time_mono_ms() < p->alter_retry_ms) return;
    int32_t isr[BROKER_REPLICAS_MAX];
    int32_t n = 0;
    for (int32_t i = 0; i < p->isr_count; i++)
        if (p->isr[i] != remove) isr[n++] = p->isr[i];
    if (add >= 0 && n < BROKER_REPLICAS_MAX) isr[n++] = add;
    struct alter_ctx *a = calloc(1, sizeof(*a));
    if (!a) return;
    a->b = b;
    strfmt(a->topic, sizeof a->topic, "%s", p->topic->name);
    a->partition = p->id;
    a->partition_epoch = p->partition_epoch;
    p->alter_pending = true;
    p->alter_adding = add;
    if (md_client_alter_partition(b->mdc, &p->topic->id, p->id, p->leader_epoch,
                                  p->partition_epoch, isr, n, alter_done, a)) {
        p->alter_pending = false;
        p->alter_adding = -1;
        p->alter_retry_ms = time_mono_ms() + REPLICA_ALTER_RETRY_MS;
        free(a);
        return;
    }
    /* once per change: a retry after a refusal is logged at DEBUG */
    enum gr_log_level level = p->alter_retry_ms ? GR_LOG_DEBUG : GR_LOG_INFO;
    gr_log(level, "broker", "%s-%d: asking the controller to %s broker %d %s the ISR",
           p->topic->name, p->id, add >= 0 ? "add" : "remove", add >= 0 ? add : remove,
           add >= 0 ? "to" : "from");
}

/* ------------------------------------------------------------------------------------------ */
/* The leader's view of its followers                                                          */

void broker_replica_follower_fetched(struct broker *b, struct broker_partition *p, int32_t id,
                                     int64_t fetch_offset, int64_t now_ms)
{
    struct broker_follower *f = follower_of(p, id);
    if (!f || !p->log) return;
    broker_replica_fetch_update(f, fetch_offset, storage_log_end_offset(p->log), now_ms);
    if (!in_isr(p, id) && f->leo >= p->high_watermark &&
        f->leo >= storage_log_start_offset(p->log))
        alter_isr(b, p, -1, id); /* caught up with the high watermark: back into the ISR */
    broker_replica_update_hw(b, p);
}

static void tick_partition(struct broker *b, struct broker_partition *p, int64_t now_ms)
{
    if (!p->leader || !p->log || p->alter_pending) return;
    for (int32_t i = 0; i < p->follower_count; i++) {
        struct broker_follower *f = &p->followers[i];
        if (!in_isr(p, f->id)) continue;
        if (now_ms - f->last_caught_up_ms > b->replica_lag_ms) {
            LOG_INFO("broker", "%s-%d: follower %d has not caught up for %lld ms "
                     "(replica.lag.time.max.ms=%lld)", p->topic->name, p->id, f->id,
                     (long long)(now_ms - f->last_caught_up_ms), (long long)b->replica_lag_ms);
            alter_isr(b, p, f->id, -1);
            return;
        }
    }
}

void broker_replica_tick(struct broker *b, int64_t now_ms)
{
    if (now_ms < b->next_isr_check_ms) return;
    b->next_isr_check_ms = now_ms + REPLICA_ISR_CHECK_MS;
    for (size_t i = 0; i < b->bucket_count; i++)
        for (struct broker_topic *t = b->buckets[i]; t; t = t->hash_next)
            for (int32_t k = 0; k < t->partition_count; k++)
                tick_partition(b, &t->partitions[k], now_ms);
}

/* ------------------------------------------------------------------------------------------ */
/* Roles from the image                                                                        */

static void become_leader(struct broker *b, struct broker_partition *p,
                          const struct md_partition *mp, int64_t now)
{
    broker_fetcher_unfollow(b, p);
    p->leader = true;
    p->follower_count = 0;
    for (int32_t k = 0; k < mp->replica_count && p->follower_count < BROKER_REPLICAS_MAX; k++) {
        if (mp->replicas[k] == b->cfg.node_id) continue;
        /* every follower gets a full lag period to show up before it can leave the ISR */
        p->followers[p->follower_count++] = (struct broker_follower){
            .id = mp->replicas[k], .leo = -1, .last_caught_up_ms = now};
    }
    p->alter_pending = false;
    p->alter_adding = -1;
    LOG_INFO("broker", "%s-%d: leader at epoch %d (log end offset %lld, high watermark %lld)",
             p->topic->name, p->id, mp->leader_epoch, (long long)storage_log_end_offset(p->log),
             (long long)p->high_watermark);
}

static void sync_partition(struct broker *b, struct broker_partition *p,
                           const struct md_partition *mp, int64_t now)
{
    if (!p->log) return; /* not a replica here */
    bool lead = mp->leader == b->cfg.node_id;
    bool new_epoch = mp->leader != p->leader_id || mp->leader_epoch != p->leader_epoch;
    bool was_leader = p->leader;
    p->isr_count = GR_MIN(mp->isr_count, BROKER_REPLICAS_MAX);
    memcpy(p->isr, mp->isr, sizeof(int32_t) * (size_t)p->isr_count);
    if (mp->partition_epoch != p->partition_epoch) {
        p->alter_pending = false; /* our change (or another) is in: decide again from here */
        p->alter_adding = -1;
        p->alter_retry_ms = 0;
    }
    p->partition_epoch = mp->partition_epoch;
    p->leader_id = mp->leader;
    p->leader_epoch = mp->leader_epoch;
    if (lead) {
        if (!was_leader || new_epoch) become_leader(b, p, mp, now);
        broker_replica_update_hw(b, p); /* the ISR may have shrunk */
        return;
    }
    if (was_leader) {
        p->leader = false;
        LOG_INFO("broker", "%s-%d: no longer the leader (leader %d, epoch %d)", p->topic->name,
                 p->id, mp->leader, mp->leader_epoch);
        broker_partition_appended(b, p); /* delayed fetches answer NOT_LEADER_OR_FOLLOWER */
        broker_produce_recheck(b);       /* ... and waiting produces too */
    }
    if (mp->leader < 0) broker_fetcher_unfollow(b, p);
    else if (new_epoch || was_leader || !p->fetching) {
        broker_fetcher_unfollow(b, p);
        broker_fetcher_follow(b, p);
    }
}

void broker_replica_sync(struct broker *b, struct broker_topic *t, const struct md_topic *mt)
{
    int64_t now = time_mono_ms();
    for (int32_t i = 0; i < t->partition_count && i < mt->partition_count; i++) {
        sync_partition(b, &t->partitions[i], &mt->partitions[i], now);
        broker_coord_partition_changed(b, &t->partitions[i]);
    }
}

void broker_replica_forget(struct broker *b, struct broker_partition *p)
{
    broker_fetcher_unfollow(b, p);
    p->leader = false;
    broker_coord_partition_changed(b, p);
}

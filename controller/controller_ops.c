/* controller_ops.c — what the active controller decides: the queue of changes (one proposed at
 * a time), topic creation and deletion with replica placement, broker registration, fencing,
 * unfencing and controlled shutdown, broker sessions, and the timer of the automatic preferred
 * leader election (decided in controller_admin.c). */
#include "controller/controller_int.h"

#include "net/net.h"
#include "raft/raft.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CTRL_COMP "controller"
#define CTRL_TOPICS_PER_REQUEST_MAX MD_CREATED_MAX
#define CTRL_PARTITIONS_MAX 100000

/* ------------------------------------------------------------------------------------------ */
/* Op queue                                                                                    */

struct ctrl_op *ctrl_op_new(enum ctrl_op_kind kind)
{
    struct ctrl_op *op = calloc(1, sizeof(*op));
    if (!op) return NULL;
    op->kind = kind;
    gbuf_init(&op->body);
    gbuf_init(&op->out);
    arena_init(&op->arena, 8192);
    return op;
}

void ctrl_op_free(struct ctrl_op *op)
{
    if (!op) return;
    gbuf_close(&op->body);
    gbuf_close(&op->out);
    arena_close(&op->arena);
    md_broker_clear(&op->reg);
    free(op);
}

void ctrl_op_enqueue(struct controller *c, struct ctrl_op *op)
{
    op->next = NULL;
    if (c->ops_tail) c->ops_tail->next = op;
    else c->ops_head = op;
    c->ops_tail = op;
    ctrl_kick(c);
}

static struct ctrl_op *ctrl_op_pop(struct controller *c)
{
    struct ctrl_op *op = c->ops_head;
    if (!op) return NULL;
    c->ops_head = op->next;
    if (!c->ops_head) c->ops_tail = NULL;
    c->op_in_flight = false;
    return op;
}

static void session_op_done(struct controller *c, struct ctrl_op *op)
{
    struct ctrl_session *s = ctrl_session_get(c, op->broker_id, false);
    if (s) s->op_pending = false;
}

/* ------------------------------------------------------------------------------------------ */
/* Placement                                                                                   */

bool ctrl_broker_live(const struct md_broker *b)
{
    return !b->fenced && !b->in_controlled_shutdown;
}

/* Live brokers in a rack-alternating order: ids sorted, then taken one rack at a time, as
 * Kafka's rack-aware assignment does, so consecutive replicas land in different racks. */
static int32_t live_brokers(const struct md_image *img, int32_t *out)
{
    int32_t n = 0;
    bool any_rack = false;
    for (int32_t i = 0; i < img->broker_count; i++)
        if (ctrl_broker_live(&img->brokers[i])) any_rack |= img->brokers[i].rack != NULL;
    if (!any_rack) {
        for (int32_t i = 0; i < img->broker_count; i++)
            if (ctrl_broker_live(&img->brokers[i])) out[n++] = img->brokers[i].id;
        return n;
    }
    bool *used = calloc((size_t)GR_MAX(img->broker_count, 1), sizeof(bool));
    if (!used) return 0;
    int32_t total = 0;
    for (int32_t i = 0; i < img->broker_count; i++) total += ctrl_broker_live(&img->brokers[i]);
    while (n < total) {
        /* one pass: the first unused broker of every rack not yet taken in this pass */
        const char *taken[256];
        int nt = 0;
        for (int32_t i = 0; i < img->broker_count && n < total; i++) {
            const struct md_broker *b = &img->brokers[i];
            if (used[i] || !ctrl_broker_live(b)) continue;
            const char *rack = b->rack ? b->rack : "";
            bool seen = false;
            for (int k = 0; k < nt; k++) seen |= !strcmp(taken[k], rack);
            if (seen) continue;
            if (nt < 256) taken[nt++] = rack;
            used[i] = true;
            out[n++] = b->id;
        }
    }
    free(used);
    return n;
}

int ctrl_place_replicas(const struct md_image *img, int32_t partitions, int32_t rf, int32_t seed,
                        int32_t *out)
{
    int32_t *live = malloc(sizeof(int32_t) * (size_t)GR_MAX(img->broker_count, 1));
    if (!live) return GR_ENOMEM;
    int32_t n = live_brokers(img, live);
    bool racks = false;
    for (int32_t i = 0; i < img->broker_count; i++) racks |= img->brokers[i].rack != NULL;
    if (rf <= 0 || rf > n) {
        free(live);
        return GR_EINVAL;
    }
    int32_t start = (int32_t)((uint32_t)seed % (uint32_t)n);
    for (int32_t p = 0; p < partitions; p++) {
        /* the leader (first replica) moves round-robin; without racks the followers are
         * spread by Kafka's shift (1 + (shift + k - 1) mod (n - 1) after the leader, the shift
         * growing once per full round), which keeps replicas distinct and varies the pairs;
         * with racks they follow the leader in the rack-alternating list */
        int32_t first = (start + p) % n;
        int32_t round_shift = p / n;
        for (int32_t k = 0; k < rf; k++) {
            int32_t idx = first;
            if (k > 0)
                idx = racks || n < 2 ? (first + k) % n
                                     : (first + 1 + (round_shift + k - 1) % (n - 1)) % n;
            out[p * rf + k] = live[idx];
        }
    }
    free(live);
    return 0;
}

int16_t ctrl_check_replicas(const struct md_image *img, const int32_t *ids, int32_t n,
                            const char **msg, struct arena *a)
{
    for (int32_t k = 0; k < n; k++) {
        if (!md_image_broker(img, ids[k])) {
            *msg = arena_printf(a, "Unknown broker %d in replica assignment.", ids[k]);
            return KAFKA_ERR_INVALID_REPLICA_ASSIGNMENT;
        }
        for (int32_t j = 0; j < k; j++)
            if (ids[j] == ids[k]) {
                *msg = "Duplicate broker in a partition's replica assignment.";
                return KAFKA_ERR_INVALID_REPLICA_ASSIGNMENT;
            }
    }
    return KAFKA_ERR_NONE;
}

/* ------------------------------------------------------------------------------------------ */
/* CreateTopics                                                                                */

struct create_plan {
    int32_t partitions;
    int32_t replication_factor;
};

static int16_t create_validate(struct controller *c,
                               const struct kafka_create_topics_request_creatable_topic *t,
                               struct create_plan *plan, const char **msg, struct arena *a)
{
    const struct md_image *img = &c->st.image;
    const char *why = md_topic_name_invalid(t->name.ptr, (size_t)GR_MAX(t->name.len, 0));
    if (t->name.len < 0 || why) {
        *msg = why ? why : "Topic name is null";
        return KAFKA_ERR_INVALID_TOPIC_EXCEPTION;
    }
    if (md_image_topic(img, t->name.ptr, (size_t)t->name.len)) {
        *msg = arena_printf(a, "Topic '%.*s' already exists.", t->name.len, t->name.ptr);
        return KAFKA_ERR_TOPIC_ALREADY_EXISTS;
    }
    const struct props *bc = c->cfg.broker;
    plan->partitions = t->num_partitions == -1 ? (int32_t)cfg_get_long(bc, "num.partitions", 1)
                                               : t->num_partitions;
    plan->replication_factor =
        t->replication_factor == -1 ? (int16_t)cfg_get_long(bc, "default.replication.factor", 1)
                                    : t->replication_factor;
    if (t->assignments_count > 0) {
        if (t->num_partitions != -1 || t->replication_factor != -1) {
            *msg = "Both numPartitions or replicationFactor and replicasAssignments were set. "
                   "Both cannot be used at the same time.";
            return KAFKA_ERR_INVALID_REQUEST;
        }
        plan->partitions = t->assignments_count;
        plan->replication_factor = (int32_t)t->assignments[0].broker_ids_count;
        for (int32_t i = 0; i < t->assignments_count; i++) {
            const struct kafka_create_topics_request_creatable_replica_assignment *as =
                &t->assignments[i];
            if (as->partition_index != i || as->broker_ids_count != plan->replication_factor) {
                *msg = "Partition assignments must be contiguous from 0 and of equal size.";
                return KAFKA_ERR_INVALID_REPLICA_ASSIGNMENT;
            }
            int16_t ec = ctrl_check_replicas(img, as->broker_ids, as->broker_ids_count, msg, a);
            if (ec) return ec;
        }
    }
    if (plan->partitions <= 0 || plan->partitions > CTRL_PARTITIONS_MAX) {
        *msg = plan->partitions <= 0
                   ? "Number of partitions was set to an invalid non-positive value."
                   : "Number of partitions is too large.";
        return KAFKA_ERR_INVALID_PARTITIONS;
    }
    if (plan->replication_factor <= 0) {
        *msg = "Replication factor must be larger than 0, or -1 to use the default value.";
        return KAFKA_ERR_INVALID_REPLICATION_FACTOR;
    }
    int32_t live = 0;
    for (int32_t i = 0; i < img->broker_count; i++) live += ctrl_broker_live(&img->brokers[i]);
    if (t->assignments_count <= 0 && plan->replication_factor > live) {
        *msg = arena_printf(a, "Unable to replicate the partition %d time(s): The target "
                            "replication factor of %d cannot be reached because only %d "
                            "broker(s) are registered.", plan->replication_factor,
                            plan->replication_factor, live);
        return KAFKA_ERR_INVALID_REPLICATION_FACTOR;
    }
    for (int32_t i = 0; i < t->configs_count; i++) {
        const struct kafka_create_topics_request_creatable_topic_config *kv = &t->configs[i];
        char *name = arena_strndup(a, kv->name.ptr ? kv->name.ptr : "",
                                   (size_t)GR_MAX(kv->name.len, 0));
        const struct cfg_def *d = cfg_find(cfg_topic_defs, name);
        if (!d) {
            *msg = arena_printf(a, "Unknown topic config name: %s", name);
            return KAFKA_ERR_INVALID_CONFIG;
        }
        if (kv->value.len < 0) continue;
        char *val = arena_strndup(a, kv->value.ptr, (size_t)kv->value.len);
        char ebuf[256];
        if (cfg_validate(d, val, ebuf, sizeof ebuf)) {
            *msg = arena_strndup(a, ebuf, strlen(ebuf));
            return KAFKA_ERR_INVALID_CONFIG;
        }
    }
    return KAFKA_ERR_NONE;
}

/* Fills the v5+ config description of a created (or validated) topic. */
static void create_describe_configs(struct controller *c,
                                    const struct kafka_create_topics_request_creatable_topic *t,
                                    struct kafka_create_topics_response_creatable_topic_result *r,
                                    struct arena *a)
{
    struct props overrides;
    props_init(&overrides);
    for (int32_t i = 0; i < t->configs_count; i++) {
        if (t->configs[i].value.len < 0) continue;
        char *k = arena_strndup(a, t->configs[i].name.ptr, (size_t)t->configs[i].name.len);
        char *v = arena_strndup(a, t->configs[i].value.ptr, (size_t)t->configs[i].value.len);
        props_set(&overrides, k, v);
    }
    int32_t n = 0;
    while (cfg_topic_defs[n].name) n++;
    r->configs = arena_calloc(a, (size_t)n, sizeof(*r->configs));
    r->configs_count = r->configs ? n : 0;
    for (int32_t i = 0; i < r->configs_count; i++) {
        struct kafka_create_topics_response_creatable_topic_configs *e = &r->configs[i];
        kafka_create_topics_response_creatable_topic_configs_init(e);
        int8_t src;
        const char *v = cfg_topic_value(&overrides, c->cfg.broker, cfg_topic_defs[i].name, &src);
        e->name = KSTR(cfg_topic_defs[i].name);
        e->value = v ? KSTR(arena_strndup(a, v, strlen(v))) : KSTR_NULL;
        e->read_only = false;
        e->config_source = src;
        e->is_sensitive = false;
    }
    props_close(&overrides);
}

void ctrl_decide_create_topics(struct controller *c, struct ctrl_op *op, struct md_batch *b)
{
    struct arena *a = &op->arena;
    const struct kafka_create_topics_request *req = op->req;
    struct kafka_create_topics_response *resp = op->resp;
    int16_t version = op->api_version;
    int32_t n = GR_MAX(req->topics_count, 0);
    resp->topics = arena_calloc(a, (size_t)GR_MAX(n, 1), sizeof(*resp->topics));
    resp->topics_count = resp->topics ? n : 0;
    for (int32_t i = 0; i < resp->topics_count; i++) {
        const struct kafka_create_topics_request_creatable_topic *t = &req->topics[i];
        struct kafka_create_topics_response_creatable_topic_result *r = &resp->topics[i];
        kafka_create_topics_response_creatable_topic_result_init(r);
        r->name = t->name;
        struct create_plan plan = {0, 0};
        const char *msg = NULL;
        int16_t ec = create_validate(c, t, &plan, &msg, a);
        for (int32_t k = 0; k < i && ec == KAFKA_ERR_NONE; k++) {
            if (req->topics[k].name.len == t->name.len &&
                !memcmp(req->topics[k].name.ptr, t->name.ptr, (size_t)t->name.len)) {
                ec = KAFKA_ERR_INVALID_REQUEST;
                msg = "Create topics request from client contains a duplicate topic";
            }
        }
        if (i >= CTRL_TOPICS_PER_REQUEST_MAX && ec == KAFKA_ERR_NONE) {
            ec = KAFKA_ERR_POLICY_VIOLATION;
            msg = "Too many topics in one CreateTopics request.";
        }
        int32_t *replicas = NULL;
        if (ec == KAFKA_ERR_NONE) {
            size_t cnt = (size_t)plan.partitions * (size_t)plan.replication_factor;
            replicas = arena_calloc(a, cnt, sizeof(int32_t));
            if (!replicas) {
                ec = KAFKA_ERR_UNKNOWN_SERVER_ERROR;
            } else if (t->assignments_count > 0) {
                for (int32_t p = 0; p < plan.partitions; p++)
                    memcpy(&replicas[p * plan.replication_factor], t->assignments[p].broker_ids,
                           sizeof(int32_t) * (size_t)plan.replication_factor);
            } else if (ctrl_place_replicas(&c->st.image, plan.partitions,
                                           plan.replication_factor,
                                           (int32_t)c->st.image.topic_count + i, replicas)) {
                ec = KAFKA_ERR_INVALID_REPLICATION_FACTOR;
                msg = "Not enough live brokers for the replication factor.";
            }
        }
        r->error_code = ec;
        r->error_message = msg ? KSTR(msg) : KSTR_NULL;
        if (ec != KAFKA_ERR_NONE) continue;
        struct gr_uuid id;
        gr_uuid_random(&id);
        memcpy(r->topic_id.b, id.b, 16);
        r->num_partitions = plan.partitions;
        r->replication_factor = (int16_t)plan.replication_factor;
        if (version >= 5) create_describe_configs(c, t, r, a);
        if (req->validate_only) continue;
        md_batch_add_topic(b, t->name, &id);
        for (int32_t p = 0; p < plan.partitions; p++) {
            int32_t *rs = &replicas[p * plan.replication_factor];
            /* the leader is the first replica that is live; -1 when none is */
            int32_t leader = -1;
            for (int32_t k = 0; k < plan.replication_factor && leader < 0; k++) {
                const struct md_broker *br = md_image_broker(&c->st.image, rs[k]);
                if (br && ctrl_broker_live(br)) leader = rs[k];
            }
            struct md_partition mp = {.id = p, .leader = leader, .replica_count =
                                      plan.replication_factor, .replicas = rs,
                                      .isr_count = plan.replication_factor, .isr = rs};
            md_batch_add_partition_state(b, &id, &mp);
        }
        for (int32_t k = 0; k < t->configs_count; k++)
            if (t->configs[k].value.len >= 0)
                md_batch_add_config(b, MD_RESOURCE_TOPIC, t->name, t->configs[k].name,
                                    t->configs[k].value);
        LOG_INFO(CTRL_COMP, "creating topic %.*s with %d partition(s), replication factor %d",
                 t->name.len, t->name.ptr, plan.partitions, plan.replication_factor);
    }
}

void ctrl_fail_create_topics(struct ctrl_op *op, int16_t ec, const char *msg)
{
    const struct kafka_create_topics_request *req = op->req;
    struct kafka_create_topics_response *resp = op->resp;
    for (int32_t i = 0; i < resp->topics_count; i++) {
        if (resp->topics[i].error_code != KAFKA_ERR_NONE || req->validate_only) continue;
        resp->topics[i].error_code = ec;
        resp->topics[i].error_message = KSTR(msg);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* DeleteTopics                                                                                */

void ctrl_decide_delete_topics(struct controller *c, struct ctrl_op *op, struct md_batch *b)
{
    struct arena *a = &op->arena;
    const struct kafka_delete_topics_request *req = op->req;
    struct kafka_delete_topics_response *resp = op->resp;
    int16_t version = op->api_version;
    const struct md_image *img = &c->st.image;
    int32_t n = version >= 6 ? GR_MAX(req->topics_count, 0) : GR_MAX(req->topic_names_count, 0);
    resp->responses = arena_calloc(a, (size_t)GR_MAX(n, 1), sizeof(*resp->responses));
    resp->responses_count = resp->responses ? n : 0;
    bool allowed = cfg_get_bool(c->cfg.broker, "delete.topic.enable", true);
    for (int32_t i = 0; i < resp->responses_count; i++) {
        struct kafka_delete_topics_response_deletable_topic_result *r = &resp->responses[i];
        kafka_delete_topics_response_deletable_topic_result_init(r);
        struct md_topic *t = NULL;
        if (version >= 6) {
            const struct kafka_delete_topics_request_delete_topic_state *st = &req->topics[i];
            struct gr_uuid id;
            memcpy(id.b, st->topic_id.b, 16);
            if (st->name.len >= 0) t = md_image_topic(img, st->name.ptr, (size_t)st->name.len);
            else if (!gr_uuid_is_zero(&id)) t = md_image_topic_by_id(img, &id);
            r->name = st->name;
            r->topic_id = st->topic_id;
            if (!t && st->name.len < 0) {
                r->error_code = KAFKA_ERR_UNKNOWN_TOPIC_ID;
                continue;
            }
        } else {
            r->name = req->topic_names[i];
            t = md_image_topic(img, r->name.ptr, (size_t)GR_MAX(r->name.len, 0));
        }
        if (!allowed) {
            r->error_code = KAFKA_ERR_TOPIC_DELETION_DISABLED;
            continue;
        }
        if (!t) {
            r->error_code = KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION;
            r->error_message = KSTR("This server does not host this topic-partition.");
            continue;
        }
        memcpy(r->topic_id.b, t->id.b, 16);
        r->name = (struct kafka_str){arena_strndup(a, t->name, strlen(t->name)),
                                     (int32_t)strlen(t->name)};
        md_batch_add_remove_topic(b, &t->id);
        LOG_INFO(CTRL_COMP, "deleting topic %s", t->name);
    }
}

void ctrl_fail_delete_topics(struct ctrl_op *op, int16_t ec, const char *msg)
{
    struct kafka_delete_topics_response *resp = op->resp;
    for (int32_t i = 0; i < resp->responses_count; i++)
        if (resp->responses[i].error_code == KAFKA_ERR_NONE) resp->responses[i].error_code = ec;
}

/* ------------------------------------------------------------------------------------------ */
/* Broker lifecycle decisions                                                                  */

/* Moves leadership off broker `id` (fenced or shutting down), or back onto it (unfenced) for
 * partitions without a leader whose ISR holds it. */
struct leader_ctx {
    struct controller *c;
    struct md_batch *b;
    int32_t id;
    bool onto;
};

static bool unclean_allowed(const struct controller *c, const struct md_topic *t)
{
    const char *v = cfg_topic_value(&t->configs, c->cfg.broker, "unclean.leader.election.enable",
                                    NULL);
    return v && !strcmp(v, "true");
}

/* A broker leaves (fenced, or in controlled shutdown): it leaves every ISR (unless it is the
 * last member, as Kafka keeps it), and partitions it led get a new leader from the remaining
 * live ISR, or none (-1); with unclean.leader.election.enable any live replica may lead.
 * A broker comes back (unfenced): partitions without a leader whose ISR holds it get it. */
static void leaders_of_topic(void *arg, struct md_topic *t)
{
    struct leader_ctx *x = arg;
    const struct md_image *img = &x->c->st.image;
    for (int32_t p = 0; p < t->partition_count; p++) {
        struct md_partition mp = t->partitions[p];
        int32_t isr[CTRL_ISR_MAX];
        int32_t n = 0;
        bool in_isr = false;
        for (int32_t k = 0; k < mp.isr_count && k < CTRL_ISR_MAX; k++) {
            in_isr |= mp.isr[k] == x->id;
            isr[n++] = mp.isr[k];
        }
        int32_t leader = mp.leader;
        if (x->onto) {
            if (mp.leader >= 0 || !in_isr) continue;
            leader = x->id;
        } else {
            bool in_replicas = false;
            for (int32_t k = 0; k < mp.replica_count; k++) in_replicas |= mp.replicas[k] == x->id;
            if (!in_replicas || (!in_isr && mp.leader != x->id)) continue;
            if (in_isr && n > 1) { /* drop it from the ISR */
                int32_t m = 0;
                for (int32_t k = 0; k < n; k++)
                    if (isr[k] != x->id) isr[m++] = isr[k];
                n = m;
            }
            if (mp.leader == x->id) {
                leader = -1;
                for (int32_t k = 0; k < n && leader < 0; k++) {
                    const struct md_broker *br = md_image_broker(img, isr[k]);
                    if (isr[k] != x->id && br && ctrl_broker_live(br)) leader = isr[k];
                }
                for (int32_t k = 0; k < mp.replica_count && leader < 0 && unclean_allowed(x->c, t);
                     k++) {
                    const struct md_broker *br = md_image_broker(img, mp.replicas[k]);
                    if (mp.replicas[k] != x->id && br && ctrl_broker_live(br)) {
                        leader = mp.replicas[k];
                        isr[0] = leader; /* unclean: the new leader alone is in sync */
                        n = 1;
                        LOG_WARN(CTRL_COMP, "unclean leader election for %s-%d: broker %d was "
                                 "not in the ISR; records only the old ISR had are lost",
                                 t->name, p, leader);
                    }
                }
            }
        }
        if (leader == mp.leader && n == mp.isr_count) continue; /* nothing changes */
        if (leader != mp.leader) mp.leader_epoch++;
        mp.leader = leader;
        mp.isr = isr;
        mp.isr_count = n;
        mp.partition_epoch++;
        md_batch_add_partition_state(x->b, &t->id, &mp);
    }
}

static void decide_broker_change(struct controller *c, struct ctrl_op *op, struct md_batch *b)
{
    const struct md_broker *br = md_image_broker(&c->st.image, op->broker_id);
    if (!br || br->epoch != op->broker_epoch) return; /* re-registered meanwhile */
    struct leader_ctx x = {c, b, op->broker_id, false};
    switch (op->kind) {
    case CTRL_OP_FENCE:
        if (br->fenced) return;
        LOG_INFO(CTRL_COMP, "fencing broker %d: no heartbeat for %lld ms", br->id,
                 (long long)c->session_timeout_ms);
        md_batch_add_broker_change(b, br->id, br->epoch, 1, 0);
        md_image_foreach(&c->st.image, leaders_of_topic, &x);
        break;
    case CTRL_OP_SHUTDOWN:
        if (br->in_controlled_shutdown) return;
        LOG_INFO(CTRL_COMP, "broker %d asked for a controlled shutdown: moving its "
                 "leaderships", br->id);
        md_batch_add_broker_change(b, br->id, br->epoch, 1, 1);
        md_image_foreach(&c->st.image, leaders_of_topic, &x);
        break;
    case CTRL_OP_UNFENCE:
        if (!br->fenced) return;
        LOG_INFO(CTRL_COMP, "unfencing broker %d: it has caught up with the metadata log",
                 br->id);
        md_batch_add_broker_change(b, br->id, br->epoch, -1, 0);
        x.onto = true;
        md_image_foreach(&c->st.image, leaders_of_topic, &x);
        break;
    default: break;
    }
}

/* AlterPartition: validated against the partition's current state; returns a Kafka error. */
static int16_t decide_alter_partition(struct controller *c, struct ctrl_op *op, struct md_batch *b)
{
    const struct md_image *img = &c->st.image;
    const struct md_topic *t = md_image_topic_by_id(img, &op->topic_id);
    const struct md_partition *mp = t ? md_topic_partition(t, op->partition) : NULL;
    if (!mp) return KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION;
    const struct md_broker *br = md_image_broker(img, op->broker_id);
    if (!br || br->epoch != op->broker_epoch) return KAFKA_ERR_STALE_BROKER_EPOCH;
    if (mp->leader != op->broker_id || mp->leader_epoch != op->leader_epoch)
        return KAFKA_ERR_FENCED_LEADER_EPOCH;
    if (mp->partition_epoch != op->partition_epoch) return KAFKA_ERR_INVALID_UPDATE_VERSION;
    bool has_leader = false;
    for (int32_t i = 0; i < op->isr_count; i++) {
        int32_t id = op->isr[i];
        has_leader |= id == mp->leader;
        bool replica = false, in_isr = false;
        for (int32_t k = 0; k < mp->replica_count; k++) replica |= mp->replicas[k] == id;
        for (int32_t k = 0; k < mp->isr_count; k++) in_isr |= mp->isr[k] == id;
        for (int32_t k = 0; k < i; k++)
            if (op->isr[k] == id) return KAFKA_ERR_INVALID_REQUEST;
        if (!replica) return KAFKA_ERR_INVALID_REQUEST;
        const struct md_broker *rb = md_image_broker(img, id);
        if (!in_isr && (!rb || !ctrl_broker_live(rb))) return KAFKA_ERR_INELIGIBLE_REPLICA;
    }
    if (!has_leader) return KAFKA_ERR_INVALID_REQUEST;
    struct md_partition np = *mp;
    np.isr = op->isr;
    np.isr_count = op->isr_count;
    np.partition_epoch = mp->partition_epoch + 1;
    md_batch_add_partition_state(b, &t->id, &np);
    op->partition_epoch = np.partition_epoch;
    LOG_INFO(CTRL_COMP, "ISR of %s-%d changes from %d to %d replica(s) (partition epoch %d), "
             "asked by leader %d", t->name, op->partition, mp->isr_count, op->isr_count,
             np.partition_epoch, op->broker_id);
    return KAFKA_ERR_NONE;
}

/* ------------------------------------------------------------------------------------------ */
/* Answering                                                                                   */

static void op_answer(struct controller *c, struct ctrl_op *op, int16_t ec, uint64_t offset)
{
    if (!op->slot) return;
    Gregor__Control__ControlFrame f = GREGOR__CONTROL__CONTROL_FRAME__INIT;
    f.correlation_id = op->correlation_id;
    Gregor__Control__ForwardResponse fr = GREGOR__CONTROL__FORWARD_RESPONSE__INIT;
    Gregor__Control__BrokerRegistrationResponse rr =
        GREGOR__CONTROL__BROKER_REGISTRATION_RESPONSE__INIT;
    Gregor__Control__AlterPartitionResponse ar = GREGOR__CONTROL__ALTER_PARTITION_RESPONSE__INIT;
    Gregor__Control__AllocateProducerIdsResponse pr =
        GREGOR__CONTROL__ALLOCATE_PRODUCER_IDS_RESPONSE__INIT;
    if (op->kind == CTRL_OP_PRODUCER_IDS) {
        pr.error_code = ec;
        pr.leader_id = ctrl_leader_hint(c);
        pr.producer_id_start = ec ? -1 : op->pid_start;
        pr.producer_id_len = ec ? 0 : CTRL_PRODUCER_ID_BLOCK;
        f.body_case = GREGOR__CONTROL__CONTROL_FRAME__BODY_ALLOCATE_PRODUCER_IDS_RESPONSE;
        f.allocate_producer_ids_response = &pr;
    } else if (op->kind == CTRL_OP_ALTER_PARTITION) {
        ar.error_code = ec;
        ar.leader_id = ctrl_leader_hint(c);
        ar.partition_epoch = op->partition_epoch;
        ar.isr = op->isr;
        ar.n_isr = (size_t)op->isr_count;
        ar.metadata_offset = offset;
        f.body_case = GREGOR__CONTROL__CONTROL_FRAME__BODY_ALTER_PARTITION_RESPONSE;
        f.alter_partition_response = &ar;
    } else if (op->kind == CTRL_OP_FORWARD) {
        fr.error_code = ec;
        fr.metadata_offset = offset;
        fr.leader_id = ctrl_leader_hint(c);
        fr.response.data = op->out.data;
        fr.response.len = ec ? 0 : op->out.len;
        f.body_case = GREGOR__CONTROL__CONTROL_FRAME__BODY_FORWARD_RESPONSE;
        f.forward_response = &fr;
    } else {
        rr.error_code = ec;
        rr.broker_epoch = ec ? -1 : op->broker_epoch;
        rr.leader_id = ctrl_leader_hint(c);
        f.body_case = GREGOR__CONTROL__CONTROL_FRAME__BODY_BROKER_REGISTRATION_RESPONSE;
        f.broker_registration_response = &rr;
    }
    ctrl_answer(c, op->slot, &f);
    op->slot = NULL;
}

/* The op failed as a whole (leadership lost, or the proposal was refused). */
static void op_fail(struct controller *c, struct ctrl_op *op, int16_t ec)
{
    const struct ctrl_api *api = op->kind == CTRL_OP_FORWARD ? ctrl_api_find(op->api_key) : NULL;
    if (api && op->resp && op->decided) {
        /* a well-formed response carrying the error for every item that had none */
        api->fail(op, ec, ec == KAFKA_ERR_NOT_CONTROLLER
                              ? "The active controller changed; retry."
                              : "The metadata change timed out; retry.");
        if (!api->encode(op, &op->out)) {
            op_answer(c, op, KAFKA_ERR_NONE, 0);
            return;
        }
    }
    op_answer(c, op, ec, 0);
}

void ctrl_ops_fail_all(struct controller *c)
{
    struct ctrl_op *op;
    while ((op = ctrl_op_pop(c))) {
        op_fail(c, op, KAFKA_ERR_NOT_CONTROLLER);
        session_op_done(c, op);
        ctrl_op_free(op);
    }
}

/* Decides the head op and proposes it; ops that need no change are answered at once. */
void ctrl_ops_run(struct controller *c)
{
    while (c->ops_head && !c->op_in_flight) {
        if (!c->leader) {
            ctrl_ops_fail_all(c);
            return;
        }
        if ((uint64_t)GR_MAX(c->st.image.applied_offset, 0) < c->ready_index) return;
        struct ctrl_op *op = c->ops_head;
        struct md_batch b;
        md_batch_init(&b);
        int16_t ec = KAFKA_ERR_NONE;
        switch (op->kind) {
        case CTRL_OP_FORWARD: {
            const struct ctrl_api *api = ctrl_api_find(op->api_key);
            ec = api ? ctrl_api_decode(api, op) : KAFKA_ERR_UNSUPPORTED_VERSION;
            if (ec) break;
            api->decide(c, op, &b);
            op->decided = true;
            if (api->encode(op, &op->out)) ec = KAFKA_ERR_UNKNOWN_SERVER_ERROR;
            break;
        }
        case CTRL_OP_REGISTER: {
            struct raft_status rs;
            raft_status(c->raft, &rs);
            op->reg.epoch = (int64_t)rs.last_index + 1; /* where this entry will sit */
            op->reg.fenced = true;
            op->broker_epoch = op->reg.epoch;
            md_batch_add_register_broker(&b, &op->reg);
            const struct md_broker *old = md_image_broker(&c->st.image, op->reg.id);
            if (old && old->fenced) old = NULL;
            if (old) { /* a restart without a clean shutdown: its old leaderships move first */
                struct leader_ctx x = {c, &b, op->reg.id, false};
                md_image_foreach(&c->st.image, leaders_of_topic, &x);
            }
            LOG_INFO(CTRL_COMP, "registering broker %d (%s:%d%s%s) with epoch %lld", op->reg.id,
                     op->reg.host, op->reg.port, op->reg.rack ? ", rack " : "",
                     op->reg.rack ? op->reg.rack : "", (long long)op->reg.epoch);
            break;
        }
        case CTRL_OP_ALTER_PARTITION: ec = decide_alter_partition(c, op, &b); break;
        case CTRL_OP_PRODUCER_IDS: {
            const struct md_broker *br = md_image_broker(&c->st.image, op->broker_id);
            if (!br || br->epoch != op->broker_epoch) {
                ec = KAFKA_ERR_STALE_BROKER_EPOCH;
                break;
            }
            op->pid_start = c->st.image.next_producer_id;
            md_batch_add_producer_ids(&b, op->broker_id, op->broker_epoch,
                                      op->pid_start + CTRL_PRODUCER_ID_BLOCK);
            break;
        }
        case CTRL_OP_REBALANCE:
            /* decided now, against every earlier change: a later check queues a new op */
            c->rebalance_pending = false;
            if (ctrl_decide_rebalance(&c->st.image, c->imbalance_pct, &b) >= CTRL_REBALANCE_MAX)
                c->rebalance_due_ms = c->now_ms; /* more to move: check again next tick */
            break;
        default: decide_broker_change(c, op, &b); break;
        }
        struct gbuf data;
        gbuf_init(&data);
        int rc = 0;
        if (!ec && b.rb.count) rc = md_batch_finish(&b, &data);
        md_batch_close(&b);
        if (ec || rc || data.len == 0) {
            /* nothing to commit: answer now */
            ctrl_op_pop(c);
            if (ec || rc) op_fail(c, op, ec ? ec : KAFKA_ERR_UNKNOWN_SERVER_ERROR);
            else op_answer(c, op, KAFKA_ERR_NONE, (uint64_t)GR_MAX(c->st.image.applied_offset, 0));
            session_op_done(c, op);
            ctrl_op_free(op);
            gbuf_close(&data);
            continue;
        }
        rc = ctrl_propose(c, data.data, data.len, &op->index, &op->term);
        gbuf_close(&data);
        if (rc || (op->kind == CTRL_OP_REGISTER && op->index != (uint64_t)op->reg.epoch)) {
            LOG_WARN(CTRL_COMP, "metadata proposal refused: %s", raft_strerror(rc));
            ctrl_op_pop(c);
            op_fail(c, op, rc == GR_EAGAIN ? KAFKA_ERR_REQUEST_TIMED_OUT
                                           : KAFKA_ERR_NOT_CONTROLLER);
            session_op_done(c, op);
            ctrl_op_free(op);
            continue;
        }
        c->op_in_flight = true;
    }
}

void ctrl_ops_applied(struct controller *c, uint64_t index, uint64_t term)
{
    struct ctrl_op *op = c->ops_head;
    if (!op || !c->op_in_flight || index < op->index) return;
    ctrl_op_pop(c);
    if (index == op->index && term == op->term) {
        op_answer(c, op, KAFKA_ERR_NONE, index);
    } else {
        /* another leader's entry took its place: the change was not made */
        op_fail(c, op, KAFKA_ERR_NOT_CONTROLLER);
    }
    session_op_done(c, op);
    ctrl_op_free(op);
    ctrl_kick(c);
}

/* ------------------------------------------------------------------------------------------ */
/* Sessions                                                                                    */

struct ctrl_session *ctrl_session_get(struct controller *c, int32_t id, bool create)
{
    for (int i = 0; i < c->n_sessions; i++)
        if (c->sessions[i].id == id) return &c->sessions[i];
    if (!create || c->n_sessions == (int)GR_ARRAY_LEN(c->sessions)) return NULL;
    struct ctrl_session *s = &c->sessions[c->n_sessions++];
    memset(s, 0, sizeof(*s));
    s->id = id;
    s->last_heartbeat_ms = c->now_ms;
    s->metadata_offset = -1;
    return s;
}

/* A new leader gives every registered broker a full session timeout from now. */
void ctrl_sessions_reset(struct controller *c)
{
    c->n_sessions = 0;
    const struct md_image *img = &c->st.image;
    for (int32_t i = 0; i < img->broker_count; i++) {
        struct ctrl_session *s = ctrl_session_get(c, img->brokers[i].id, true);
        if (s) s->epoch = img->brokers[i].epoch;
    }
}

static void enqueue_change(struct controller *c, struct ctrl_session *s, enum ctrl_op_kind kind)
{
    if (s->op_pending) return;
    struct ctrl_op *op = ctrl_op_new(kind);
    if (!op) return;
    op->broker_id = s->id;
    op->broker_epoch = s->epoch;
    s->op_pending = true;
    ctrl_op_enqueue(c, op);
}

void ctrl_sessions_tick(struct controller *c)
{
    const struct md_image *img = &c->st.image;
    for (int32_t i = 0; i < img->broker_count; i++) {
        const struct md_broker *br = &img->brokers[i];
        struct ctrl_session *s = ctrl_session_get(c, br->id, true);
        if (!s || br->fenced) continue;
        if (s->epoch != br->epoch) {
            s->epoch = br->epoch;
            s->last_heartbeat_ms = c->now_ms;
        }
        if (c->now_ms - s->last_heartbeat_ms > c->session_timeout_ms)
            enqueue_change(c, s, CTRL_OP_FENCE);
    }
}

void ctrl_rebalance_tick(struct controller *c)
{
    if (c->rebalance_term != c->term) { /* just became the active controller */
        const struct props *cfg = c->cfg.broker;
        c->rebalance_term = c->term;
        c->rebalance_enable = cfg_get_bool(cfg, "auto.leader.rebalance.enable", true);
        c->rebalance_interval_ms =
            cfg_get_long(cfg, "leader.imbalance.check.interval.seconds", 300) * 1000;
        c->imbalance_pct = (int32_t)cfg_get_long(cfg, "leader.imbalance.per.broker.percentage",
                                                 10);
        c->rebalance_due_ms = c->now_ms + c->rebalance_interval_ms;
        c->rebalance_pending = false; /* an op of an earlier term was failed with the queue */
    }
    if (!c->rebalance_enable || c->rebalance_pending || c->now_ms < c->rebalance_due_ms) return;
    c->rebalance_due_ms = c->now_ms + c->rebalance_interval_ms;
    struct ctrl_op *op = ctrl_op_new(CTRL_OP_REBALANCE);
    if (!op) return;
    op->broker_id = -1; /* no broker session is waiting on it */
    c->rebalance_pending = true;
    ctrl_op_enqueue(c, op);
}

void ctrl_session_heartbeat(struct controller *c, struct ctrl_session *s, const struct md_broker *br,
                            bool want_fence, bool want_shutdown)
{
    s->epoch = br->epoch;
    s->last_heartbeat_ms = c->now_ms;
    s->last_heartbeat_wall_ms = time_wall_ms();
    if (want_shutdown) {
        if (!br->in_controlled_shutdown) enqueue_change(c, s, CTRL_OP_SHUTDOWN);
    } else if (want_fence) {
        if (!br->fenced) enqueue_change(c, s, CTRL_OP_FENCE);
    } else if (br->fenced && s->metadata_offset >= br->epoch) {
        enqueue_change(c, s, CTRL_OP_UNFENCE);
    }
}

/* controller_admin.c — the Kafka admin APIs a broker forwards to the active controller: the
 * table (decode, decide, encode, fail), and the decisions for CreatePartitions, AlterConfigs,
 * IncrementalAlterConfigs and ElectLeaders (with the automatic preferred leader election).
 * CreateTopics and DeleteTopics are decided in controller_ops.c. */
#include "controller/controller_int.h"

#include <stdlib.h>
#include <string.h>

#define CTRL_COMP "controller"
#define CTRL_PARTITIONS_MAX 100000

/* decode / encode wrappers of one generated request/response pair */
#define CTRL_CODEC(name)                                                                           \
    static int name##_dec(struct ctrl_op *op, struct kafka_reader *r)                              \
    {                                                                                              \
        struct kafka_##name##_request *req = arena_calloc(&op->arena, 1, sizeof(*req));            \
        struct kafka_##name##_response *resp = arena_calloc(&op->arena, 1, sizeof(*resp));         \
        if (!req || !resp || kafka_##name##_request_decode(r, op->api_version, req)) return -1;    \
        kafka_##name##_response_init(resp);                                                        \
        op->req = req;                                                                             \
        op->resp = resp;                                                                           \
        return 0;                                                                                  \
    }                                                                                              \
    static int name##_enc(struct ctrl_op *op, struct gbuf *out)                                    \
    {                                                                                              \
        struct kafka_writer w;                                                                     \
        gbuf_reset(out);                                                                           \
        kafka_writer_init(&w, out);                                                                \
        kafka_##name##_response_encode(&w, op->api_version, op->resp);                             \
        return w.err;                                                                              \
    }

CTRL_CODEC(create_topics)
CTRL_CODEC(delete_topics)
CTRL_CODEC(create_partitions)
CTRL_CODEC(alter_configs)
CTRL_CODEC(incremental_alter_configs)
CTRL_CODEC(elect_leaders)

/* ------------------------------------------------------------------------------------------ */
/* CreatePartitions                                                                            */

static int16_t partitions_validate(struct controller *c,
                                   const struct kafka_create_partitions_request_create_partitions_topic *t,
                                   const struct md_topic **out, const char **msg,
                                   struct arena *a)
{
    const struct md_image *img = &c->st.image;
    const struct md_topic *mt =
        t->name.len > 0 ? md_image_topic(img, t->name.ptr, (size_t)t->name.len) : NULL;
    if (!mt) {
        *msg = arena_printf(a, "The topic '%.*s' does not exist.", GR_MAX(t->name.len, 0),
                            t->name.ptr ? t->name.ptr : "");
        return KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION;
    }
    *out = mt;
    if (t->count < mt->partition_count) {
        *msg = arena_printf(a, "Topic currently has %d partitions, which is higher than the "
                            "requested %d.", mt->partition_count, t->count);
        return KAFKA_ERR_INVALID_PARTITIONS;
    }
    if (t->count == mt->partition_count) {
        *msg = arena_printf(a, "Topic already has %d partitions.", mt->partition_count);
        return KAFKA_ERR_INVALID_PARTITIONS;
    }
    if (t->count > CTRL_PARTITIONS_MAX) {
        *msg = "Number of partitions is too large.";
        return KAFKA_ERR_INVALID_PARTITIONS;
    }
    int32_t rf = mt->partition_count ? mt->partitions[0].replica_count : 1;
    if (t->assignments_count >= 0) {
        if (t->assignments_count != t->count - mt->partition_count) {
            *msg = arena_printf(a, "Increasing the number of partitions by %d but %d "
                                "assignments provided.", t->count - mt->partition_count,
                                t->assignments_count);
            return KAFKA_ERR_INVALID_REPLICA_ASSIGNMENT;
        }
        for (int32_t i = 0; i < t->assignments_count; i++) {
            const struct kafka_create_partitions_request_create_partitions_assignment *as =
                &t->assignments[i];
            if (as->broker_ids_count != rf) {
                *msg = arena_printf(a, "Inconsistent replication factor between partitions, "
                                    "partition 0 has %d while partitions [%d] has %d "
                                    "replicas.", rf, mt->partition_count + i,
                                    as->broker_ids_count);
                return KAFKA_ERR_INVALID_REPLICA_ASSIGNMENT;
            }
            int16_t ec = ctrl_check_replicas(img, as->broker_ids, as->broker_ids_count, msg, a);
            if (ec) return ec;
        }
    }
    return KAFKA_ERR_NONE;
}

static void create_partitions_decide(struct controller *c, struct ctrl_op *op,
                                     struct md_batch *b)
{
    struct arena *a = &op->arena;
    const struct kafka_create_partitions_request *req = op->req;
    struct kafka_create_partitions_response *resp = op->resp;
    int32_t n = GR_MAX(req->topics_count, 0);
    resp->results = arena_calloc(a, (size_t)GR_MAX(n, 1), sizeof(*resp->results));
    resp->results_count = resp->results ? n : 0;
    for (int32_t i = 0; i < resp->results_count; i++) {
        const struct kafka_create_partitions_request_create_partitions_topic *t = &req->topics[i];
        struct kafka_create_partitions_response_create_partitions_topic_result *r =
            &resp->results[i];
        kafka_create_partitions_response_create_partitions_topic_result_init(r);
        r->name = t->name;
        const struct md_topic *mt = NULL;
        const char *msg = NULL;
        int16_t ec = partitions_validate(c, t, &mt, &msg, a);
        for (int32_t k = 0; k < i && ec == KAFKA_ERR_NONE; k++)
            if (kstr_eq(req->topics[k].name, mt->name)) {
                ec = KAFKA_ERR_INVALID_REQUEST;
                msg = "Duplicate topic in the request.";
            }
        int32_t add = ec ? 0 : t->count - mt->partition_count;
        int32_t rf = ec ? 0 : (mt->partition_count ? mt->partitions[0].replica_count : 1);
        int32_t *replicas = ec ? NULL : arena_calloc(a, (size_t)add * (size_t)rf, sizeof(int32_t));
        if (!ec && !replicas) ec = KAFKA_ERR_UNKNOWN_SERVER_ERROR;
        if (!ec && t->assignments_count >= 0) {
            for (int32_t p = 0; p < add; p++)
                memcpy(&replicas[p * rf], t->assignments[p].broker_ids, sizeof(int32_t) * (size_t)rf);
        } else if (!ec && ctrl_place_replicas(&c->st.image, add, rf, mt->partition_count,
                                              replicas)) {
            ec = KAFKA_ERR_INVALID_REPLICATION_FACTOR;
            msg = arena_printf(a, "Unable to replicate the new partitions %d time(s): too few "
                               "live brokers.", rf);
        }
        r->error_code = ec;
        r->error_message = msg ? KSTR(msg) : KSTR_NULL;
        if (ec || req->validate_only) continue;
        for (int32_t p = 0; p < add; p++) {
            int32_t *rs = &replicas[p * rf];
            int32_t leader = -1;
            for (int32_t k = 0; k < rf && leader < 0; k++) {
                const struct md_broker *br = md_image_broker(&c->st.image, rs[k]);
                if (br && ctrl_broker_live(br)) leader = rs[k];
            }
            struct md_partition mp = {.id = mt->partition_count + p, .leader = leader,
                                      .replica_count = rf, .replicas = rs, .isr_count = rf,
                                      .isr = rs};
            md_batch_add_partition_state(b, &mt->id, &mp);
        }
        LOG_INFO(CTRL_COMP, "increasing the partitions of %s from %d to %d", mt->name,
                 mt->partition_count, t->count);
    }
}

static void create_partitions_fail(struct ctrl_op *op, int16_t ec, const char *msg)
{
    const struct kafka_create_partitions_request *req = op->req;
    struct kafka_create_partitions_response *resp = op->resp;
    for (int32_t i = 0; i < resp->results_count; i++) {
        if (resp->results[i].error_code != KAFKA_ERR_NONE || req->validate_only) continue;
        resp->results[i].error_code = ec;
        resp->results[i].error_message = KSTR(msg);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* AlterConfigs and IncrementalAlterConfigs                                                    */

#define OP_SET 0
#define OP_DELETE 1
#define OP_APPEND 2
#define OP_SUBTRACT 3

/* One config change of either API, normalized. */
struct cfg_change {
    struct kafka_str name;
    struct kafka_str value; /* null: delete */
    int8_t op;
};

/* The effective value of a list key after APPEND or SUBTRACT of `items` (comma-separated). */
static char *list_edit(const char *cur, struct kafka_str items, bool append, struct arena *a)
{
    struct gbuf out;
    gbuf_init(&out);
    char *its = arena_strndup(a, items.ptr ? items.ptr : "", (size_t)GR_MAX(items.len, 0));
    /* keep the current items, minus subtracted ones */
    for (const char *p = cur ? cur : ""; *p;) {
        size_t len = strcspn(p, ",");
        bool drop = false;
        for (const char *q = its; !append && *q;) {
            size_t ql = strcspn(q, ",");
            drop |= ql == len && !strncmp(p, q, len);
            q += ql + (q[ql] == ',');
        }
        if (len && !drop) {
            if (out.len) gbuf_append(&out, ",", 1);
            gbuf_append(&out, p, len);
        }
        p += len + (p[len] == ',');
    }
    for (const char *q = its; append && *q;) {
        size_t ql = strcspn(q, ",");
        bool have = false;
        for (const char *p = cur ? cur : ""; *p;) {
            size_t len = strcspn(p, ",");
            have |= ql == len && !strncmp(p, q, len);
            p += len + (p[len] == ',');
        }
        if (ql && !have) {
            if (out.len) gbuf_append(&out, ",", 1);
            gbuf_append(&out, q, ql);
        }
        q += ql + (q[ql] == ',');
    }
    char *r = arena_strndup(a, out.data ? (const char *)out.data : "", out.len);
    gbuf_close(&out);
    return r;
}

/* Validates and records the changes of one resource.  Returns a Kafka error. */
static int16_t alter_resource(struct controller *c, int8_t type, struct kafka_str name,
                              const struct cfg_change *ch, int32_t n, bool replace,
                              bool validate_only, struct md_batch *b, const char **msg,
                              struct arena *a)
{
    if (type == MD_RESOURCE_BROKER) {
        *msg = "Dynamic broker configs are not supported yet: set the key in the broker's "
               "server.properties and restart it.";
        return KAFKA_ERR_INVALID_REQUEST;
    }
    if (type != MD_RESOURCE_TOPIC) {
        *msg = arena_printf(a, "Unsupported resource type %d.", type);
        return KAFKA_ERR_INVALID_REQUEST;
    }
    const struct md_topic *t =
        name.len > 0 ? md_image_topic(&c->st.image, name.ptr, (size_t)name.len) : NULL;
    if (!t) {
        *msg = arena_printf(a, "The topic '%.*s' does not exist.", GR_MAX(name.len, 0),
                            name.ptr ? name.ptr : "");
        return KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION;
    }
    struct kafka_str *vals = arena_calloc(a, (size_t)GR_MAX(n, 1), sizeof(*vals));
    if (!vals) return KAFKA_ERR_UNKNOWN_SERVER_ERROR;
    for (int32_t i = 0; i < n; i++) {
        char *key = arena_strndup(a, ch[i].name.ptr ? ch[i].name.ptr : "",
                                  (size_t)GR_MAX(ch[i].name.len, 0));
        const struct cfg_def *d = cfg_find(cfg_topic_defs, key);
        if (!d) {
            *msg = arena_printf(a, "Unknown topic config name: %s", key);
            return KAFKA_ERR_INVALID_CONFIG;
        }
        for (int32_t k = 0; k < i; k++)
            if (kstr_eq(ch[k].name, key)) {
                *msg = arena_printf(a, "Duplicate config key: %s", key);
                return KAFKA_ERR_INVALID_REQUEST;
            }
        vals[i] = ch[i].value;
        if (ch[i].op == OP_DELETE) {
            vals[i] = KSTR_NULL;
            continue;
        }
        if (ch[i].op == OP_APPEND || ch[i].op == OP_SUBTRACT) {
            if (d->type != CFG_LIST) {
                *msg = arena_printf(a, "Config value append is not allowed for config key: "
                                    "%s", key);
                return KAFKA_ERR_INVALID_CONFIG;
            }
            const char *cur = cfg_topic_value(&t->configs, c->cfg.broker, key, NULL);
            vals[i] = KSTR(list_edit(cur, ch[i].value, ch[i].op == OP_APPEND, a));
        } else if (ch[i].op != OP_SET) {
            *msg = arena_printf(a, "Unknown config operation %d.", ch[i].op);
            return KAFKA_ERR_INVALID_REQUEST;
        }
        if (vals[i].len < 0) continue; /* AlterConfigs: null value = back to default */
        char *v = arena_strndup(a, vals[i].ptr, (size_t)vals[i].len);
        char ebuf[256];
        if (cfg_validate(d, v, ebuf, sizeof ebuf)) {
            *msg = arena_strndup(a, ebuf, strlen(ebuf));
            return KAFKA_ERR_INVALID_CONFIG;
        }
    }
    if (validate_only) return KAFKA_ERR_NONE;
    struct kafka_str tname = {t->name, (int32_t)strlen(t->name)};
    if (replace) /* AlterConfigs: overrides not named go back to their defaults */
        for (size_t k = 0; k < t->configs.n; k++) {
            bool named = false;
            for (int32_t i = 0; i < n; i++) named |= kstr_eq(ch[i].name, t->configs.v[k].key);
            if (!named)
                md_batch_add_config(b, MD_RESOURCE_TOPIC, tname, KSTR(t->configs.v[k].key),
                                    KSTR_NULL);
        }
    for (int32_t i = 0; i < n; i++) {
        if (vals[i].len < 0 && !props_get(&t->configs, arena_strndup(a, ch[i].name.ptr,
                                                                      (size_t)ch[i].name.len)))
            continue; /* deleting an override that is not there */
        md_batch_add_config(b, MD_RESOURCE_TOPIC, tname, ch[i].name, vals[i]);
    }
    LOG_INFO(CTRL_COMP, "altering %d config(s) of topic %s", n, t->name);
    return KAFKA_ERR_NONE;
}

/* AlterConfigs and IncrementalAlterConfigs have the same shapes; they differ in the operation
 * of a change (SET only for AlterConfigs) and in replacing the whole override set. */
#define CONFIG_API(api, OP_OF, REPLACE)                                                           \
    static void api##_decide(struct controller *c, struct ctrl_op *op, struct md_batch *b)        \
    {                                                                                              \
        struct arena *a = &op->arena;                                                              \
        const struct kafka_##api##_request *req = op->req;                                        \
        struct kafka_##api##_response *resp = op->resp;                                           \
        int32_t n = GR_MAX(req->resources_count, 0);                                               \
        resp->responses = arena_calloc(a, (size_t)GR_MAX(n, 1), sizeof(*resp->responses));        \
        resp->responses_count = resp->responses ? n : 0;                                           \
        for (int32_t i = 0; i < resp->responses_count; i++) {                                      \
            const struct kafka_##api##_request_alter_configs_resource *rs = &req->resources[i];   \
            struct kafka_##api##_response_alter_configs_resource_response *r =                    \
                &resp->responses[i];                                                               \
            kafka_##api##_response_alter_configs_resource_response_init(r);                       \
            r->resource_type = rs->resource_type;                                                  \
            r->resource_name = rs->resource_name;                                                  \
            int32_t m = GR_MAX(rs->configs_count, 0);                                              \
            struct cfg_change *ch = arena_calloc(a, (size_t)GR_MAX(m, 1), sizeof(*ch));            \
            if (!ch) {                                                                             \
                r->error_code = KAFKA_ERR_UNKNOWN_SERVER_ERROR;                                    \
                continue;                                                                          \
            }                                                                                      \
            for (int32_t k = 0; k < m; k++)                                                        \
                ch[k] = (struct cfg_change){rs->configs[k].name, rs->configs[k].value,             \
                                            OP_OF(rs->configs[k])};                                \
            const char *msg = NULL;                                                                \
            r->error_code = alter_resource(c, rs->resource_type, rs->resource_name, ch, m,         \
                                           REPLACE, req->validate_only, b, &msg, a);               \
            r->error_message = msg ? KSTR(msg) : KSTR_NULL;                                        \
        }                                                                                          \
    }                                                                                              \
    static void api##_fail(struct ctrl_op *op, int16_t ec, const char *msg)                       \
    {                                                                                              \
        const struct kafka_##api##_request *req = op->req;                                        \
        struct kafka_##api##_response *resp = op->resp;                                           \
        for (int32_t i = 0; i < resp->responses_count; i++) {                                      \
            if (resp->responses[i].error_code != KAFKA_ERR_NONE || req->validate_only) continue;   \
            resp->responses[i].error_code = ec;                                                    \
            resp->responses[i].error_message = KSTR(msg);                                          \
        }                                                                                          \
    }

#define OP_INCREMENTAL(cfg) ((cfg).config_operation)
#define OP_ALWAYS_SET(cfg) OP_SET
CONFIG_API(incremental_alter_configs, OP_INCREMENTAL, false)
CONFIG_API(alter_configs, OP_ALWAYS_SET, true)

/* ------------------------------------------------------------------------------------------ */
/* Leader elections: ElectLeaders, and the automatic preferred leader election                 */

#define ELECT_NOT_NEEDED_MSG "Leader election not needed for topic partition."
#define ELECT_PREFERRED_MSG "The preferred leader was not available."
#define ELECT_ELIGIBLE_MSG "Eligible topic partition leaders are not available."

static bool elect_in_isr(const struct md_partition *p, int32_t id)
{
    for (int32_t k = 0; k < p->isr_count; k++)
        if (p->isr[k] == id) return true;
    return false;
}

static bool elect_live(const struct md_image *img, int32_t id)
{
    const struct md_broker *br = md_image_broker(img, id);
    return br && ctrl_broker_live(br);
}

int16_t ctrl_elect_leader(const struct md_image *img, const struct md_partition *p, int8_t type,
                          struct md_partition *np, int32_t *isr_one, const char **msg)
{
    *np = *p;
    *msg = NULL;
    int32_t leader = -1;
    if (type == CTRL_ELECTION_PREFERRED) {
        int32_t preferred = p->replica_count > 0 ? p->replicas[0] : -1;
        if (preferred >= 0 && p->leader == preferred) {
            *msg = ELECT_NOT_NEEDED_MSG;
            return KAFKA_ERR_ELECTION_NOT_NEEDED;
        }
        if (preferred >= 0 && elect_live(img, preferred) && elect_in_isr(p, preferred))
            leader = preferred;
        if (leader < 0) {
            *msg = ELECT_PREFERRED_MSG;
            return KAFKA_ERR_PREFERRED_LEADER_NOT_AVAILABLE;
        }
    } else {
        if (p->leader >= 0) {
            *msg = ELECT_NOT_NEEDED_MSG;
            return KAFKA_ERR_ELECTION_NOT_NEEDED;
        }
        /* a live in-sync replica if there is one (a clean election, as Kafka tries first);
         * else the first live replica, alone in the ISR: what only the old ISR had is lost */
        for (int32_t k = 0; k < p->isr_count && leader < 0; k++)
            if (elect_live(img, p->isr[k])) leader = p->isr[k];
        for (int32_t k = 0; k < p->replica_count && leader < 0; k++)
            if (elect_live(img, p->replicas[k])) {
                leader = p->replicas[k];
                isr_one[0] = leader;
                np->isr = isr_one;
                np->isr_count = 1;
            }
        if (leader < 0) {
            *msg = ELECT_ELIGIBLE_MSG;
            return KAFKA_ERR_ELIGIBLE_LEADERS_NOT_AVAILABLE;
        }
    }
    np->leader = leader;
    np->leader_epoch = p->leader_epoch + 1;
    np->partition_epoch = p->partition_epoch + 1;
    return KAFKA_ERR_NONE;
}

/* Elects one requested partition, recording the change in b.  r gets the result. */
static void elect_one(const struct md_image *img, const struct md_topic *mt,
                      struct kafka_str topic, int32_t partition, int8_t type, struct md_batch *b,
                      struct kafka_elect_leaders_response_partition_result *r, struct arena *a)
{
    kafka_elect_leaders_response_partition_result_init(r);
    r->partition_id = partition;
    const struct md_partition *p = mt ? md_topic_partition(mt, partition) : NULL;
    const char *msg = NULL;
    if (!mt) {
        r->error_code = KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION;
        msg = arena_printf(a, "No such topic as %.*s", GR_MAX(topic.len, 0),
                           topic.ptr ? topic.ptr : "");
    } else if (!p) {
        r->error_code = KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION;
        msg = arena_printf(a, "No such partition as %s-%d", mt->name, partition);
    } else if (type != CTRL_ELECTION_PREFERRED && type != CTRL_ELECTION_UNCLEAN) {
        r->error_code = KAFKA_ERR_INVALID_REQUEST;
        msg = arena_printf(a, "Unknown election type %d", type);
    } else {
        struct md_partition np;
        int32_t isr_one[1];
        r->error_code = ctrl_elect_leader(img, p, type, &np, isr_one, &msg);
        if (r->error_code == KAFKA_ERR_NONE) {
            md_batch_add_partition_state(b, &mt->id, &np);
            LOG_INFO(CTRL_COMP, "%s leader election for %s-%d: broker %d leads (was %d), "
                     "leader epoch %d", type == CTRL_ELECTION_PREFERRED ? "preferred" : "unclean",
                     mt->name, partition, np.leader, p->leader, np.leader_epoch);
        }
    }
    r->error_message = r->error_code && msg ? KSTR(msg) : KSTR_NULL;
}

struct elect_topics {
    const struct md_topic **v;
    int32_t n, cap;
};

static void elect_collect(void *arg, struct md_topic *t)
{
    struct elect_topics *x = arg;
    if (x->n < x->cap) x->v[x->n++] = t;
}

static int elect_topic_cmp(const void *a, const void *b)
{
    return strcmp((*(const struct md_topic *const *)a)->name,
                  (*(const struct md_topic *const *)b)->name);
}

/* Every partition of every topic (topic_partitions null), in topic-name order.  As Kafka's
 * controller does, partitions that need no election are left out of the answer. */
static void elect_all(const struct md_image *img, int8_t type, struct md_batch *b,
                      struct kafka_elect_leaders_response *resp, struct arena *a)
{
    int32_t cap = (int32_t)img->topic_count;
    struct elect_topics x = {arena_calloc(a, (size_t)GR_MAX(cap, 1), sizeof(*x.v)), 0, cap};
    resp->replica_election_results =
        arena_calloc(a, (size_t)GR_MAX(cap, 1), sizeof(*resp->replica_election_results));
    if (!x.v || !resp->replica_election_results) {
        resp->error_code = KAFKA_ERR_UNKNOWN_SERVER_ERROR;
        return;
    }
    md_image_foreach(img, elect_collect, &x);
    qsort(x.v, (size_t)x.n, sizeof(*x.v), elect_topic_cmp);
    for (int32_t i = 0; i < x.n; i++) {
        const struct md_topic *mt = x.v[i];
        struct kafka_elect_leaders_response_replica_election_result *tr =
            &resp->replica_election_results[resp->replica_election_results_count++];
        kafka_elect_leaders_response_replica_election_result_init(tr);
        tr->topic = KSTR(mt->name);
        tr->partition_result =
            arena_calloc(a, (size_t)GR_MAX(mt->partition_count, 1), sizeof(*tr->partition_result));
        if (!tr->partition_result) {
            resp->error_code = KAFKA_ERR_UNKNOWN_SERVER_ERROR;
            return;
        }
        for (int32_t p = 0; p < mt->partition_count; p++) {
            struct kafka_elect_leaders_response_partition_result *r =
                &tr->partition_result[tr->partition_result_count];
            elect_one(img, mt, tr->topic, p, type, b, r, a);
            if (r->error_code != KAFKA_ERR_ELECTION_NOT_NEEDED) tr->partition_result_count++;
        }
    }
}

static void elect_leaders_decide(struct controller *c, struct ctrl_op *op, struct md_batch *b)
{
    struct arena *a = &op->arena;
    const struct md_image *img = &c->st.image;
    const struct kafka_elect_leaders_request *req = op->req;
    struct kafka_elect_leaders_response *resp = op->resp;
    int8_t type = op->api_version >= 1 ? req->election_type : CTRL_ELECTION_PREFERRED;
    if (type != CTRL_ELECTION_PREFERRED && type != CTRL_ELECTION_UNCLEAN)
        resp->error_code = KAFKA_ERR_INVALID_REQUEST; /* and every partition says why */
    if (req->topic_partitions_count < 0) {
        if (!resp->error_code) elect_all(img, type, b, resp, a);
        return;
    }
    int32_t n = req->topic_partitions_count;
    resp->replica_election_results =
        arena_calloc(a, (size_t)GR_MAX(n, 1), sizeof(*resp->replica_election_results));
    if (!resp->replica_election_results) {
        resp->error_code = KAFKA_ERR_UNKNOWN_SERVER_ERROR;
        return;
    }
    for (int32_t i = 0; i < n; i++) {
        const struct kafka_elect_leaders_request_topic_partitions *tp = &req->topic_partitions[i];
        struct kafka_elect_leaders_response_replica_election_result *tr =
            &resp->replica_election_results[resp->replica_election_results_count++];
        kafka_elect_leaders_response_replica_election_result_init(tr);
        tr->topic = tp->topic;
        int32_t m = GR_MAX(tp->partitions_count, 0);
        tr->partition_result = arena_calloc(a, (size_t)GR_MAX(m, 1), sizeof(*tr->partition_result));
        if (!tr->partition_result) {
            resp->error_code = KAFKA_ERR_UNKNOWN_SERVER_ERROR;
            return;
        }
        tr->partition_result_count = m;
        const struct md_topic *mt =
            tp->topic.len > 0 ? md_image_topic(img, tp->topic.ptr, (size_t)tp->topic.len) : NULL;
        for (int32_t k = 0; k < m; k++)
            elect_one(img, mt, tp->topic, tp->partitions[k], type, b, &tr->partition_result[k],
                      a);
    }
}

static void elect_leaders_fail(struct ctrl_op *op, int16_t ec, const char *msg)
{
    struct kafka_elect_leaders_response *resp = op->resp;
    for (int32_t i = 0; i < resp->replica_election_results_count; i++) {
        struct kafka_elect_leaders_response_replica_election_result *tr =
            &resp->replica_election_results[i];
        for (int32_t k = 0; k < tr->partition_result_count; k++) {
            if (tr->partition_result[k].error_code != KAFKA_ERR_NONE) continue;
            tr->partition_result[k].error_code = ec;
            tr->partition_result[k].error_message = KSTR(msg);
        }
    }
}

/* The automatic preferred leader election (auto.leader.rebalance.enable), as Kafka's
 * controller checks it: per broker, the share of the partitions whose preferred replica it is
 * that another broker leads (or none does); above imbalance_pct, those of them where it is live
 * and in the ISR get it back as leader. */
struct rebalance_ctx {
    const struct md_image *img;
    int32_t *preferred; /* per image broker index: partitions it is the preferred replica of */
    int32_t *elsewhere; /* ... of which it does not lead */
    int32_t *moved;
    int32_t imbalance_pct;
    struct md_batch *b; /* NULL while counting */
    int32_t moved_total;
};

static int32_t rebalance_broker_index(const struct md_image *img, int32_t id)
{
    const struct md_broker *br = md_image_broker(img, id);
    return br ? (int32_t)(br - img->brokers) : -1;
}

static void rebalance_topic(void *arg, struct md_topic *t)
{
    struct rebalance_ctx *x = arg;
    for (int32_t p = 0; p < t->partition_count; p++) {
        const struct md_partition *mp = &t->partitions[p];
        int32_t i = mp->replica_count > 0 ? rebalance_broker_index(x->img, mp->replicas[0]) : -1;
        if (i < 0) continue;
        if (!x->b) {
            x->preferred[i]++;
            x->elsewhere[i] += mp->leader != mp->replicas[0];
            continue;
        }
        if (mp->leader == mp->replicas[0] || x->moved_total >= CTRL_REBALANCE_MAX) continue;
        if ((int64_t)x->elsewhere[i] * 100 <= (int64_t)x->imbalance_pct * x->preferred[i])
            continue;
        struct md_partition np;
        int32_t isr_one[1];
        const char *msg;
        if (ctrl_elect_leader(x->img, mp, CTRL_ELECTION_PREFERRED, &np, isr_one, &msg)) continue;
        md_batch_add_partition_state(x->b, &t->id, &np);
        x->moved[i]++;
        x->moved_total++;
    }
}

int32_t ctrl_decide_rebalance(const struct md_image *img, int32_t imbalance_pct,
                              struct md_batch *b)
{
    size_t n = (size_t)GR_MAX(img->broker_count, 1);
    struct rebalance_ctx x = {img, calloc(n, sizeof(int32_t)), calloc(n, sizeof(int32_t)),
                              calloc(n, sizeof(int32_t)), imbalance_pct, NULL, 0};
    if (x.preferred && x.elsewhere && x.moved) {
        md_image_foreach(img, rebalance_topic, &x);
        x.b = b;
        md_image_foreach(img, rebalance_topic, &x);
        for (int32_t i = 0; i < img->broker_count; i++)
            if (x.moved[i])
                LOG_INFO(CTRL_COMP, "leader imbalance of broker %d: it leads %d of the %d "
                         "partition(s) it is the preferred replica of; moving %d leadership(s) "
                         "back to it", img->brokers[i].id, x.preferred[i] - x.elsewhere[i],
                         x.preferred[i], x.moved[i]);
    }
    free(x.preferred);
    free(x.elsewhere);
    free(x.moved);
    return x.moved_total;
}

/* ------------------------------------------------------------------------------------------ */

static const struct ctrl_api ctrl_apis[] = {
    {KAFKA_API_CREATE_TOPICS, 0, 7, create_topics_dec, ctrl_decide_create_topics,
     create_topics_enc, ctrl_fail_create_topics},
    {KAFKA_API_DELETE_TOPICS, 0, 6, delete_topics_dec, ctrl_decide_delete_topics,
     delete_topics_enc, ctrl_fail_delete_topics},
    {KAFKA_API_CREATE_PARTITIONS, 0, 3, create_partitions_dec, create_partitions_decide,
     create_partitions_enc, create_partitions_fail},
    {KAFKA_API_ALTER_CONFIGS, 0, 2, alter_configs_dec, alter_configs_decide, alter_configs_enc,
     alter_configs_fail},
    {KAFKA_API_INCREMENTAL_ALTER_CONFIGS, 0, 1, incremental_alter_configs_dec,
     incremental_alter_configs_decide, incremental_alter_configs_enc,
     incremental_alter_configs_fail},
    {KAFKA_API_ELECT_LEADERS, 0, 2, elect_leaders_dec, elect_leaders_decide, elect_leaders_enc,
     elect_leaders_fail},
};

const struct ctrl_api *ctrl_api_find(int16_t key)
{
    for (size_t i = 0; i < GR_ARRAY_LEN(ctrl_apis); i++)
        if (ctrl_apis[i].key == key) return &ctrl_apis[i];
    return NULL;
}

int16_t ctrl_api_decode(const struct ctrl_api *api, struct ctrl_op *op)
{
    if (op->api_version < api->min_version || op->api_version > api->max_version)
        return KAFKA_ERR_UNSUPPORTED_VERSION;
    struct kafka_reader r;
    kafka_reader_init(&r, op->body.data, op->body.len, &op->arena);
    return api->decode(op, &r) ? KAFKA_ERR_INVALID_REQUEST : KAFKA_ERR_NONE;
}

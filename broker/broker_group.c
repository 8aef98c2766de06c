/* broker_group.c — the classic consumer group protocol: JoinGroup, SyncGroup, Heartbeat,
 * LeaveGroup, DescribeGroups, ListGroups and DeleteGroups, and the group state machine behind
 * them (Empty, PreparingRebalance, CompletingRebalance, Stable, Dead), as Kafka's
 * GroupCoordinator runs it.
 *
 * A rebalance: a member joins or leaves (or its session expires), the group goes to
 * PreparingRebalance and every member must rejoin within the rebalance timeout (a new group
 * first waits group.initial.rebalance.delay.ms for more members).  The join phase completes
 * with a new generation: the protocol all members support with the most first-choice votes,
 * a leader (the old one if it stayed), and the JoinGroup answers, the leader's with every
 * member's subscription.  The leader computes the assignment and sends it with its SyncGroup;
 * once that is committed to __consumer_offsets, every member's SyncGroup gets its part and
 * the group is Stable.  Static members (group.instance.id, KIP-345) keep their place across
 * restarts within the session timeout: a rejoin under the same instance id takes over the old
 * member without a rebalance, and the old member id is fenced (FENCED_INSTANCE_ID). */
#include "broker/group_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *grp_state_name(enum grp_state s)
{
    switch (s) {
    case GRP_EMPTY: return "Empty";
    case GRP_PREPARING: return "PreparingRebalance";
    case GRP_COMPLETING: return "CompletingRebalance";
    case GRP_STABLE: return "Stable";
    default: return "Dead";
    }
}

char *grp_kstr_dup(struct kafka_str s)
{
    if (s.len < 0) return NULL;
    char *p = malloc((size_t)s.len + 1);
    if (!p) return NULL;
    if (s.len) memcpy(p, s.ptr, (size_t)s.len);
    p[s.len] = 0;
    return p;
}

static char *dup_cstr(const char *s)
{
    return s ? strdup(s) : NULL;
}

static uint8_t *dup_bytes(const void *p, int32_t n)
{
    uint8_t *d = malloc((size_t)GR_MAX(n, 1));
    if (d && n > 0) memcpy(d, p, (size_t)n);
    return d;
}

static struct kafka_str kstr_or_empty(const char *s)
{
    return s ? KSTR(s) : KSTR("");
}

static struct kafka_str kstr_or_null(const char *s)
{
    return s ? KSTR(s) : KSTR_NULL;
}

bool grp_str_is(const char *a, struct kafka_str b)
{
    if (!a) return b.len < 0;
    return b.len >= 0 && (size_t)b.len == strlen(a) && !memcmp(a, b.ptr, (size_t)b.len);
}

/* ------------------------------------------------------------------------------------------ */
/* Groups and members                                                                          */

struct grp_group *grp_new(struct coord *c, const char *id, int32_t part)
{
    struct grp_group *g = calloc(1, sizeof(*g));
    if (!g) return NULL;
    g->c = c;
    g->id = strdup(id);
    if (!g->id) {
        free(g);
        return NULL;
    }
    g->part = part;
    g->state = GRP_EMPTY;
    g->state_ts = time_wall_ms();
    return g;
}

static void member_free(struct grp_member *m)
{
    if (!m) return;
    free(m->id);
    free(m->instance_id);
    free(m->client_id);
    free(m->client_host);
    free(m->protocol_type);
    for (int32_t i = 0; i < m->protocol_count; i++) {
        free(m->protocols[i].name);
        free(m->protocols[i].meta);
    }
    free(m->protocols);
    free(m->assignment);
    free(m);
}

void grp_free(struct grp_group *g)
{
    if (!g) return;
    for (int32_t i = 0; i < g->member_count; i++) member_free(g->members[i]);
    free(g->members);
    for (int32_t i = 0; i < g->pending_count; i++) free(g->pending[i]);
    free(g->pending);
    free(g->pending_deadline);
    for (int32_t i = 0; i < g->offset_count; i++) {
        free(g->offsets[i].topic);
        free(g->offsets[i].o.metadata);
    }
    free(g->offsets);
    free(g->protocol_type);
    free(g->protocol);
    free(g->leader);
    free(g->id);
    free(g);
}

struct grp_member *grp_member_find(struct grp_group *g, const char *id)
{
    for (int32_t i = 0; i < g->member_count; i++)
        if (!strcmp(g->members[i]->id, id)) return g->members[i];
    return NULL;
}

static struct grp_member *member_by_instance(struct grp_group *g, const char *instance)
{
    for (int32_t i = 0; instance && i < g->member_count; i++)
        if (g->members[i]->instance_id && !strcmp(g->members[i]->instance_id, instance))
            return g->members[i];
    return NULL;
}

static int member_add(struct grp_group *g, struct grp_member *m)
{
    if (g->member_count == g->member_cap) {
        int32_t cap = g->member_cap ? g->member_cap * 2 : 8;
        struct grp_member **n = realloc(g->members, sizeof(*n) * (size_t)cap);
        if (!n) return -1;
        g->members = n;
        g->member_cap = cap;
    }
    g->members[g->member_count++] = m;
    return 0;
}

static void member_unlink(struct grp_group *g, struct grp_member *m)
{
    for (int32_t i = 0; i < g->member_count; i++) {
        if (g->members[i] != m) continue;
        memmove(&g->members[i], &g->members[i + 1],
                sizeof(*g->members) * (size_t)(g->member_count - i - 1));
        g->member_count--;
        break;
    }
    if (g->leader && !strcmp(g->leader, m->id)) {
        free(g->leader);
        g->leader = g->member_count ? strdup(g->members[0]->id) : NULL;
    }
}

static bool pending_take(struct grp_group *g, const char *id)
{
    for (int32_t i = 0; i < g->pending_count; i++) {
        if (strcmp(g->pending[i], id)) continue;
        free(g->pending[i]);
        g->pending[i] = g->pending[g->pending_count - 1];
        g->pending_deadline[i] = g->pending_deadline[g->pending_count - 1];
        g->pending_count--;
        return true;
    }
    return false;
}

static void pending_add(struct grp_group *g, const char *id, int64_t deadline)
{
    if (g->pending_count == g->pending_cap) {
        int32_t cap = g->pending_cap ? g->pending_cap * 2 : 8;
        char **n = realloc(g->pending, sizeof(*n) * (size_t)cap);
        if (n) g->pending = n;
        int64_t *d = realloc(g->pending_deadline, sizeof(*d) * (size_t)cap);
        if (d) g->pending_deadline = d;
        if (!n || !d) return;
        g->pending_cap = cap;
    }
    char *s = strdup(id);
    if (!s) return;
    g->pending[g->pending_count] = s;
    g->pending_deadline[g->pending_count++] = deadline;
}

static void set_state(struct grp_group *g, enum grp_state s)
{
    if (g->state != s)
        LOG_INFO("group", "group %s: %s -> %s (generation %d, %d member(s))", g->id,
                 grp_state_name(g->state), grp_state_name(s), g->generation, g->member_count);
    g->state = s;
    g->state_ts = time_wall_ms();
}

static const struct grp_protocol *member_protocol(const struct grp_member *m, const char *name)
{
    for (int32_t i = 0; name && i < m->protocol_count; i++)
        if (!strcmp(m->protocols[i].name, name)) return &m->protocols[i];
    return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Replies                                                                                     */

static void enc_join(struct kafka_writer *w, int16_t v, const void *r)
{
    kafka_join_group_response_encode(w, v, r);
}

static void enc_sync(struct kafka_writer *w, int16_t v, const void *r)
{
    kafka_sync_group_response_encode(w, v, r);
}

static void join_error(struct broker *b, struct grp_park *pk, int16_t err, const char *member_id)
{
    struct kafka_join_group_response resp;
    kafka_join_group_response_init(&resp);
    resp.error_code = err;
    resp.generation_id = -1;
    resp.protocol_name = pk->hdr.api_version >= 7 ? KSTR_NULL : KSTR("");
    resp.leader = KSTR("");
    resp.member_id = kstr_or_empty(member_id);
    grp_park_reply(b, pk, enc_join, &resp);
}

/* The answer to a member's JoinGroup for the generation that just completed. */
static void join_reply(struct grp_group *g, struct grp_member *m, bool members_too)
{
    struct broker *b = g->c->b;
    struct kafka_join_group_response resp;
    kafka_join_group_response_init(&resp);
    resp.generation_id = g->generation;
    resp.protocol_type = kstr_or_null(g->protocol_type);
    resp.protocol_name = kstr_or_empty(g->protocol);
    resp.leader = kstr_or_empty(g->leader);
    resp.member_id = KSTR(m->id);
    bool leader = g->leader && !strcmp(g->leader, m->id);
    struct kafka_join_group_response_member *ms = NULL;
    if (leader && members_too) {
        ms = calloc((size_t)GR_MAX(g->member_count, 1), sizeof(*ms));
        for (int32_t i = 0; ms && i < g->member_count; i++) {
            const struct grp_member *o = g->members[i];
            const struct grp_protocol *p = member_protocol(o, g->protocol);
            kafka_join_group_response_member_init(&ms[i]);
            ms[i].member_id = KSTR(o->id);
            ms[i].group_instance_id = kstr_or_null(o->instance_id);
            ms[i].metadata = (struct kafka_bytes){p ? p->meta : NULL, p ? p->meta_len : 0};
        }
        resp.members = ms;
        resp.members_count = ms ? g->member_count : 0;
    }
    resp.skip_assignment = leader && !members_too;
    grp_park_reply(b, &m->join, enc_join, &resp);
    free(ms);
}

static void sync_reply(struct broker *b, struct grp_park *pk, int16_t err, const char *ptype,
                       const char *pname, const uint8_t *assignment, int32_t len)
{
    struct kafka_sync_group_response resp;
    kafka_sync_group_response_init(&resp);
    resp.error_code = err;
    resp.protocol_type = kstr_or_null(err ? NULL : ptype);
    resp.protocol_name = kstr_or_null(err ? NULL : pname);
    resp.assignment = (struct kafka_bytes){err ? NULL : assignment, err ? 0 : len};
    grp_park_reply(b, pk, enc_sync, &resp);
}

/* Whatever the member was waiting for ends with `err`. */
static void member_fail_parked(struct grp_group *g, struct grp_member *m, int16_t err)
{
    struct broker *b = g->c->b;
    if (m->join.slot) join_error(b, &m->join, err, m->id);
    if (m->sync.slot) sync_reply(b, &m->sync, err, NULL, NULL, NULL, 0);
}

/* ------------------------------------------------------------------------------------------ */
/* The state machine                                                                           */

static void maybe_complete_join(struct grp_group *g, int64_t now);

static void prepare_rebalance(struct grp_group *g, int64_t now, const char *why)
{
    struct broker *b = g->c->b;
    if (g->state == GRP_COMPLETING) {
        /* the leader's assignment will not come for this generation: waiting syncs retry */
        for (int32_t i = 0; i < g->member_count; i++) {
            struct grp_member *m = g->members[i];
            if (m->sync.slot)
                sync_reply(b, &m->sync, KAFKA_ERR_REBALANCE_IN_PROGRESS, NULL, NULL, NULL, 0);
        }
    }
    bool was_empty = g->state == GRP_EMPTY;
    LOG_INFO("group", "group %s: preparing to rebalance (generation %d): %s", g->id,
             g->generation, why);
    set_state(g, GRP_PREPARING);
    int32_t rebalance_ms = 0;
    for (int32_t i = 0; i < g->member_count; i++)
        rebalance_ms = GR_MAX(rebalance_ms, g->members[i]->rebalance_ms);
    g->join_deadline = now + rebalance_ms;
    g->delay_deadline =
        was_empty && g->c->initial_delay_ms > 0 ? now + g->c->initial_delay_ms : 0;
    if (g->delay_deadline > g->join_deadline) g->delay_deadline = g->join_deadline;
}

static void remove_member(struct grp_group *g, struct grp_member *m, int16_t err, int64_t now,
                          const char *why)
{
    LOG_INFO("group", "group %s: member %s leaves: %s", g->id, m->id, why);
    member_fail_parked(g, m, err);
    member_unlink(g, m);
    member_free(m);
    if (g->state == GRP_STABLE || g->state == GRP_COMPLETING) prepare_rebalance(g, now, why);
    /* the last member gone: Empty before the LeaveGroup is answered, as in Kafka */
    maybe_complete_join(g, now);
}

/* The protocol every member supports with the most first-choice votes (Kafka's
 * selectProtocol); NULL when there is none. */
static const char *select_protocol(struct grp_group *g)
{
    if (!g->member_count) return NULL;
    const struct grp_member *first = g->members[0];
    const char *best = NULL;
    int32_t best_votes = -1;
    for (int32_t k = 0; k < first->protocol_count; k++) {
        const char *cand = first->protocols[k].name;
        bool all = true;
        for (int32_t i = 1; all && i < g->member_count; i++)
            all = member_protocol(g->members[i], cand) != NULL;
        if (!all) continue;
        int32_t votes = 0;
        for (int32_t i = 0; i < g->member_count; i++) {
            /* member i votes for its most preferred protocol that all support */
            const struct grp_member *m = g->members[i];
            for (int32_t p = 0; p < m->protocol_count; p++) {
                bool supported = true;
                for (int32_t j = 0; supported && j < g->member_count; j++)
                    supported = member_protocol(g->members[j], m->protocols[p].name) != NULL;
                if (!supported) continue;
                if (!strcmp(m->protocols[p].name, cand)) votes++;
                break;
            }
        }
        if (votes > best_votes) {
            best = cand;
            best_votes = votes;
        }
    }
    return best;
}

static void write_metadata_done(void *arg, int16_t err);

struct meta_write {
    struct coord *c;
    char *group;
    int32_t generation;
    bool completing; /* the leader's assignment: Stable once committed */
};

/* Persists the group's metadata; for a completed sync, answers the members once committed. */
static void persist(struct grp_group *g, bool completing)
{
    struct rb_builder rb;
    rb_builder_init(&rb, 0, RB_CODEC_NONE);
    struct gbuf batch;
    gbuf_init(&batch);
    struct meta_write *mw = calloc(1, sizeof(*mw));
    int rc = !mw ? GR_ENOMEM : grp_write_metadata(g, &rb, time_wall_ms(), false);
    if (!rc) rc = rb_builder_finish(&rb, &batch);
    rb_builder_close(&rb);
    if (rc || !(mw->group = strdup(g->id))) {
        free(mw);
        gbuf_close(&batch);
        if (completing) {
            for (int32_t i = 0; i < g->member_count; i++)
                if (g->members[i]->sync.slot)
                    sync_reply(g->c->b, &g->members[i]->sync,
                               KAFKA_ERR_COORDINATOR_NOT_AVAILABLE, NULL, NULL, NULL, 0);
            prepare_rebalance(g, time_mono_ms(), "could not write the group's metadata");
        }
        return;
    }
    mw->c = g->c;
    mw->generation = g->generation;
    mw->completing = completing;
    g->appends++;
    coord_append(g->c, g->part, &batch, write_metadata_done, mw);
    gbuf_close(&batch);
}

static void write_metadata_done(void *arg, int16_t err)
{
    struct meta_write *mw = arg;
    struct grp_group *g = coord_group_find(mw->c, mw->group);
    if (g) g->appends--;
    if (g && mw->completing && g->state == GRP_COMPLETING && g->generation == mw->generation) {
        struct broker *b = g->c->b;
        if (err) {
            LOG_WARN("group", "group %s: could not commit the assignment of generation %d: %s",
                     g->id, g->generation, kafka_err_name(err));
            for (int32_t i = 0; i < g->member_count; i++)
                if (g->members[i]->sync.slot)
                    sync_reply(b, &g->members[i]->sync, err, NULL, NULL, NULL, 0);
            prepare_rebalance(g, time_mono_ms(), "the assignment could not be committed");
        } else {
            set_state(g, GRP_STABLE);
            int64_t now = time_mono_ms();
            for (int32_t i = 0; i < g->member_count; i++) {
                struct grp_member *m = g->members[i];
                m->heartbeat_deadline = now + m->session_ms;
                if (m->sync.slot)
                    sync_reply(b, &m->sync, KAFKA_ERR_NONE, g->protocol_type, g->protocol,
                               m->assignment, m->assignment_len);
            }
        }
    }
    free(mw->group);
    free(mw);
}

static void complete_join(struct grp_group *g, int64_t now)
{
    /* members that did not rejoin in time are out */
    for (int32_t i = 0; i < g->member_count;) {
        struct grp_member *m = g->members[i];
        if (m->join.slot) {
            i++;
            continue;
        }
        LOG_INFO("group", "group %s: member %s did not rejoin in time", g->id, m->id);
        member_fail_parked(g, m, KAFKA_ERR_UNKNOWN_MEMBER_ID);
        member_unlink(g, m);
        member_free(m);
    }
    g->generation++;
    free(g->protocol);
    g->protocol = NULL;
    if (g->member_count == 0) {
        free(g->leader);
        g->leader = NULL;
        set_state(g, GRP_EMPTY);
        persist(g, false);
        return;
    }
    const char *proto = select_protocol(g);
    g->protocol = dup_cstr(proto);
    if (!g->leader || !grp_member_find(g, g->leader)) {
        free(g->leader);
        g->leader = strdup(g->members[0]->id);
    }
    if (!g->protocol_type && g->members[0]->protocol_type)
        g->protocol_type = strdup(g->members[0]->protocol_type);
    set_state(g, GRP_COMPLETING);
    int32_t rebalance_ms = 0;
    for (int32_t i = 0; i < g->member_count; i++) {
        struct grp_member *m = g->members[i];
        rebalance_ms = GR_MAX(rebalance_ms, m->rebalance_ms);
        free(m->assignment);
        m->assignment = NULL;
        m->assignment_len = 0;
        m->heartbeat_deadline = now + m->session_ms;
        m->joined = false;
        join_reply(g, m, true);
    }
    g->sync_deadline = now + rebalance_ms;
}

static void maybe_complete_join(struct grp_group *g, int64_t now)
{
    if (g->state != GRP_PREPARING) return;
    if (g->delay_deadline && now < g->delay_deadline) return;
    bool all = true;
    for (int32_t i = 0; all && i < g->member_count; i++) all = g->members[i]->join.slot != NULL;
    if (!all && now < g->join_deadline) return;
    complete_join(g, now);
}

void grp_tick(struct grp_group *g, int64_t now)
{
    for (int32_t i = 0; i < g->pending_count;) {
        if (now < g->pending_deadline[i]) {
            i++;
            continue;
        }
        char id[256];
        strfmt(id, sizeof id, "%s", g->pending[i]);
        pending_take(g, id);
    }
    for (int32_t i = 0; i < g->member_count;) {
        struct grp_member *m = g->members[i];
        bool waiting = m->join.slot || m->sync.slot;
        if (!waiting && now > m->heartbeat_deadline) {
            char why[160];
            strfmt(why, sizeof why, "no heartbeat within its session timeout (%d ms)",
                   m->session_ms);
            remove_member(g, m, KAFKA_ERR_UNKNOWN_MEMBER_ID, now, why);
            i = 0; /* the list changed */
            continue;
        }
        i++;
    }
    if (g->state == GRP_PREPARING) maybe_complete_join(g, now);
    if (g->state == GRP_COMPLETING && now >= g->sync_deadline) {
        bool leader_synced = false;
        for (int32_t i = 0; i < g->member_count; i++)
            if (g->leader && !strcmp(g->members[i]->id, g->leader) && g->members[i]->sync.slot)
                leader_synced = true;
        if (!leader_synced) prepare_rebalance(g, now, "the leader sent no assignment in time");
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Loading and persisting                                                                      */

int grp_write_metadata(struct grp_group *g, struct rb_builder *rb, int64_t now_wall,
                       bool tombstone)
{
    struct gbuf key, val;
    gbuf_init(&key);
    gbuf_init(&val);
    struct kafka_writer w;
    kafka_writer_init(&w, &key);
    grp_group_key_encode(&w, g->id);
    int rc = w.err;
    if (!rc && !tombstone) {
        struct grp_group_value v = {g->protocol_type, g->protocol, g->leader, g->generation,
                                    g->state_ts, NULL, 0};
        v.members = calloc((size_t)GR_MAX(g->member_count, 1), sizeof(*v.members));
        if (!v.members) rc = GR_ENOMEM;
        for (int32_t i = 0; !rc && i < g->member_count; i++) {
            const struct grp_member *m = g->members[i];
            const struct grp_protocol *p = member_protocol(m, g->protocol);
            v.members[i] = (struct grp_member_value){
                m->id, m->instance_id, m->client_id, m->client_host, m->rebalance_ms,
                m->session_ms, p ? p->meta : NULL, m->assignment, p ? p->meta_len : 0,
                m->assignment_len};
        }
        v.member_count = g->member_count;
        kafka_writer_init(&w, &val);
        if (!rc) grp_group_value_encode(&w, &v);
        free(v.members);
        if (!rc) rc = w.err;
    }
    if (!rc)
        rc = rb_builder_add(rb, now_wall, key.data, (int32_t)key.len, tombstone ? NULL : val.data,
                            tombstone ? -1 : (int32_t)val.len, NULL, 0);
    gbuf_close(&key);
    gbuf_close(&val);
    return rc;
}

int grp_load_value(struct grp_group *g, const struct grp_group_value *v, int64_t now)
{
    for (int32_t i = 0; i < g->member_count; i++) member_free(g->members[i]);
    g->member_count = 0;
    free(g->protocol_type);
    free(g->protocol);
    free(g->leader);
    /* "" is how a group without a protocol type is written */
    g->protocol_type = v->protocol_type && *v->protocol_type ? strdup(v->protocol_type) : NULL;
    g->protocol = dup_cstr(v->protocol);
    g->leader = dup_cstr(v->leader);
    g->generation = v->generation;
    g->state_ts = v->state_ts > 0 ? v->state_ts : time_wall_ms();
    for (int32_t i = 0; i < v->member_count; i++) {
        const struct grp_member_value *mv = &v->members[i];
        struct grp_member *m = calloc(1, sizeof(*m));
        if (!m) return -1;
        m->id = dup_cstr(mv->member_id);
        m->instance_id = dup_cstr(mv->instance_id);
        m->client_id = dup_cstr(mv->client_id ? mv->client_id : "");
        m->client_host = dup_cstr(mv->client_host ? mv->client_host : "");
        m->session_ms = mv->session_ms;
        m->rebalance_ms = mv->rebalance_ms;
        m->protocol_type = dup_cstr(v->protocol_type);
        m->protocols = calloc(1, sizeof(*m->protocols));
        if (m->protocols && v->protocol) {
            m->protocols[0].name = strdup(v->protocol);
            m->protocols[0].meta = dup_bytes(mv->subscription, mv->subscription_len);
            m->protocols[0].meta_len = mv->subscription_len;
            m->protocol_count = 1;
        }
        m->assignment = dup_bytes(mv->assignment, mv->assignment_len);
        m->assignment_len = mv->assignment_len;
        /* a loaded member gets a full session to find the new coordinator */
        m->heartbeat_deadline = now + m->session_ms;
        if (!m->id || member_add(g, m)) {
            member_free(m);
            return -1;
        }
    }
    g->state = g->member_count ? GRP_STABLE : GRP_EMPTY;
    return 0;
}

void grp_unload(struct grp_group *g)
{
    for (int32_t i = 0; i < g->member_count; i++)
        member_fail_parked(g, g->members[i], KAFKA_ERR_NOT_COORDINATOR);
}

/* ------------------------------------------------------------------------------------------ */
/* Request checks shared by the group APIs                                                     */

/* The group of a request to this coordinator, or an error: NOT_COORDINATOR,
 * COORDINATOR_LOAD_IN_PROGRESS, INVALID_GROUP_ID, or (create false) UNKNOWN_MEMBER_ID. */
static int16_t group_for(struct broker *b, struct kafka_str id, bool create,
                         struct grp_group **out, char *name, size_t name_len)
{
    *out = NULL;
    if (id.len <= 0 || (size_t)id.len >= name_len) return KAFKA_ERR_INVALID_GROUP_ID;
    memcpy(name, id.ptr, (size_t)id.len);
    name[id.len] = 0;
    if (!b->coord) return KAFKA_ERR_COORDINATOR_NOT_AVAILABLE;
    int32_t part;
    int16_t err = coord_check(b->coord, name, &part);
    if (err) return err;
    struct grp_group *g = coord_group_find(b->coord, name);
    if (!g && create) g = coord_group_add(b->coord, name, part);
    if (!g) return create ? KAFKA_ERR_COORDINATOR_NOT_AVAILABLE : KAFKA_ERR_UNKNOWN_MEMBER_ID;
    *out = g;
    return KAFKA_ERR_NONE;
}

/* A request naming member_id and instance_id: the member, or UNKNOWN_MEMBER_ID /
 * FENCED_INSTANCE_ID. */
static int16_t member_for(struct grp_group *g, struct kafka_str member_id,
                          struct kafka_str instance_id, struct grp_member **out)
{
    *out = NULL;
    char mid[512], iid[512];
    if (member_id.len < 0 || (size_t)member_id.len >= sizeof mid) return KAFKA_ERR_UNKNOWN_MEMBER_ID;
    memcpy(mid, member_id.ptr, (size_t)member_id.len);
    mid[member_id.len] = 0;
    if (instance_id.len >= 0 && (size_t)instance_id.len < sizeof iid) {
        memcpy(iid, instance_id.ptr, (size_t)instance_id.len);
        iid[instance_id.len] = 0;
        struct grp_member *si = member_by_instance(g, iid);
        if (si && strcmp(si->id, mid)) return KAFKA_ERR_FENCED_INSTANCE_ID;
    }
    struct grp_member *m = grp_member_find(g, mid);
    if (!m) return KAFKA_ERR_UNKNOWN_MEMBER_ID;
    *out = m;
    return KAFKA_ERR_NONE;
}

static struct grp_park park_of(struct broker_req *req)
{
    struct grp_park pk = {req->slot, req->hdr};
    pk.hdr.client_id = KSTR_NULL; /* points into the request buffer */
    return pk;
}

/* ------------------------------------------------------------------------------------------ */
/* JoinGroup                                                                                   */

static bool same_protocols(const struct grp_member *m, const struct kafka_join_group_request *r)
{
    if (m->protocol_count != r->protocols_count) return false;
    for (int32_t i = 0; i < r->protocols_count; i++) {
        const struct grp_protocol *p = &m->protocols[i];
        const struct kafka_join_group_request_protocol *q = &r->protocols[i];
        if (!grp_str_is(p->name, q->name) || p->meta_len != GR_MAX(q->metadata.len, 0) ||
            (p->meta_len && memcmp(p->meta, q->metadata.ptr, (size_t)p->meta_len)))
            return false;
    }
    return true;
}

static int set_protocols(struct grp_member *m, const struct kafka_join_group_request *r)
{
    struct grp_protocol *ps = calloc((size_t)GR_MAX(r->protocols_count, 1), sizeof(*ps));
    if (!ps) return -1;
    for (int32_t i = 0; i < r->protocols_count; i++) {
        ps[i].name = grp_kstr_dup(r->protocols[i].name);
        ps[i].meta_len = GR_MAX(r->protocols[i].metadata.len, 0);
        ps[i].meta = dup_bytes(r->protocols[i].metadata.ptr, ps[i].meta_len);
    }
    for (int32_t i = 0; i < m->protocol_count; i++) {
        free(m->protocols[i].name);
        free(m->protocols[i].meta);
    }
    free(m->protocols);
    m->protocols = ps;
    m->protocol_count = r->protocols_count;
    return 0;
}

/* INCONSISTENT_GROUP_PROTOCOL when the joiner cannot be in the group. */
static int16_t protocols_fit(struct grp_group *g, const struct kafka_join_group_request *r,
                             const struct grp_member *replacing)
{
    if (r->protocol_type.len <= 0 || r->protocols_count <= 0)
        return KAFKA_ERR_INCONSISTENT_GROUP_PROTOCOL;
    bool others = false;
    for (int32_t i = 0; i < g->member_count; i++) others |= g->members[i] != replacing;
    if (!others) return KAFKA_ERR_NONE;
    if (g->protocol_type && !grp_str_is(g->protocol_type, r->protocol_type))
        return KAFKA_ERR_INCONSISTENT_GROUP_PROTOCOL;
    for (int32_t k = 0; k < r->protocols_count; k++) {
        bool all = true;
        for (int32_t i = 0; all && i < g->member_count; i++) {
            const struct grp_member *m = g->members[i];
            if (m == replacing) continue;
            bool has = false;
            for (int32_t p = 0; p < m->protocol_count; p++)
                has |= grp_str_is(m->protocols[p].name, r->protocols[k].name);
            all = has;
        }
        if (all) return KAFKA_ERR_NONE;
    }
    return KAFKA_ERR_INCONSISTENT_GROUP_PROTOCOL;
}

static struct grp_member *member_new(struct broker_req *req, const char *id,
                                     const struct kafka_join_group_request *r)
{
    struct grp_member *m = calloc(1, sizeof(*m));
    if (!m) return NULL;
    m->id = strdup(id);
    m->instance_id = grp_kstr_dup(r->group_instance_id);
    m->client_id = grp_kstr_dup(req->hdr.client_id.len >= 0 ? req->hdr.client_id : KSTR(""));
    char host[80] = "/";
    struct net_conn *conn = net_slot_conn(req->slot);
    const char *peer = conn ? net_conn_peer(conn) : "";
    const char *colon = strrchr(peer, ':');
    size_t hl = colon ? (size_t)(colon - peer) : strlen(peer);
    if (hl > sizeof host - 2) hl = sizeof host - 2;
    memcpy(host + 1, peer, hl);
    host[hl + 1] = 0;
    m->client_host = strdup(host);
    m->session_ms = r->session_timeout_ms;
    m->rebalance_ms = req->hdr.api_version >= 1 ? r->rebalance_timeout_ms : r->session_timeout_ms;
    m->protocol_type = grp_kstr_dup(r->protocol_type);
    if (!m->id || !m->client_id || !m->client_host || set_protocols(m, r)) {
        member_free(m);
        return NULL;
    }
    return m;
}

static void new_member_id(struct broker_req *req, char *out, size_t n)
{
    struct gr_uuid u;
    gr_uuid_random(&u);
    const uint8_t *x = u.b;
    struct kafka_str cid = req->hdr.client_id.len > 0 ? req->hdr.client_id : KSTR("");
    strfmt(out, n,
           "%.*s-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
           (int)GR_MIN(cid.len, 200), cid.ptr, x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7],
           x[8], x[9], x[10], x[11], x[12], x[13], x[14], x[15]);
}

/* A static member rejoining under a new process: it takes the old member's place. */
static void static_rejoin(struct broker_req *req, struct grp_group *g, struct grp_member *old,
                          const struct kafka_join_group_request *r, int64_t now)
{
    char id[512];
    new_member_id(req, id, sizeof id);
    member_fail_parked(g, old, KAFKA_ERR_FENCED_INSTANCE_ID);
    LOG_INFO("group", "group %s: static member %s rejoins as %s (was %s)", g->id,
             old->instance_id, id, old->id);
    bool was_leader = g->leader && !strcmp(g->leader, old->id);
    char *nid = strdup(id);
    if (!nid) {
        struct grp_park pk = park_of(req);
        join_error(req->b, &pk, KAFKA_ERR_COORDINATOR_NOT_AVAILABLE, "");
        return;
    }
    free(old->id);
    old->id = nid;
    if (was_leader) {
        free(g->leader);
        g->leader = strdup(nid);
    }
    old->session_ms = r->session_timeout_ms;
    old->heartbeat_deadline = now + old->session_ms;
    old->join = park_of(req);
    bool unchanged = same_protocols(old, r) || (old->protocol_count == 1 && g->protocol &&
                                               !strcmp(old->protocols[0].name, g->protocol));
    if (g->state == GRP_STABLE && unchanged) {
        /* no rebalance: the member gets the current generation and, with SyncGroup, its
         * assignment back; the leader is told to skip the assignment (KIP-814) */
        persist(g, false);
        join_reply(g, old, false);
        return;
    }
    set_protocols(old, r);
    if (g->state == GRP_STABLE || g->state == GRP_COMPLETING)
        prepare_rebalance(g, now, "a static member rejoined with new protocols");
    maybe_complete_join(g, now);
}

int broker_handle_join_group(struct broker_req *req)
{
    struct broker *b = req->b;
    int16_t v = req->hdr.api_version;
    struct kafka_join_group_request r;
    if (kafka_join_group_request_decode(&req->r, v, &r)) return -1;
    struct grp_park pk = park_of(req);
    char name[512];
    struct grp_group *g;
    bool unknown_member = r.member_id.len <= 0;
    struct coord *c = b->coord;
    if (c && (r.session_timeout_ms < c->min_session_ms || r.session_timeout_ms > c->max_session_ms)) {
        join_error(b, &pk, KAFKA_ERR_INVALID_SESSION_TIMEOUT, "");
        return 0;
    }
    int16_t err = group_for(b, r.group_id, unknown_member, &g, name, sizeof name);
    if (err) {
        join_error(b, &pk, err, "");
        return 0;
    }
    int64_t now = time_mono_ms();
    if (g->state == GRP_DEAD) {
        join_error(b, &pk, KAFKA_ERR_COORDINATOR_NOT_AVAILABLE, "");
        return 0;
    }
    char iid[512] = "";
    if (r.group_instance_id.len >= 0 && (size_t)r.group_instance_id.len < sizeof iid) {
        memcpy(iid, r.group_instance_id.ptr, (size_t)r.group_instance_id.len);
        iid[r.group_instance_id.len] = 0;
    }
    struct grp_member *by_instance = r.group_instance_id.len >= 0 ? member_by_instance(g, iid) : NULL;
    err = protocols_fit(g, &r, by_instance);
    if (err) {
        join_error(b, &pk, err, "");
        return 0;
    }
    if (unknown_member) {
        if (by_instance) {
            static_rejoin(req, g, by_instance, &r, now);
            return 0;
        }
        if (c->max_group_size > 0 && g->member_count >= c->max_group_size) {
            join_error(b, &pk, KAFKA_ERR_GROUP_MAX_SIZE_REACHED, "");
            return 0;
        }
        char id[512];
        new_member_id(req, id, sizeof id);
        if (v >= 4 && r.group_instance_id.len < 0) {
            /* KIP-394: the member learns its id first, and joins with it */
            pending_add(g, id, now + r.session_timeout_ms);
            join_error(b, &pk, KAFKA_ERR_MEMBER_ID_REQUIRED, id);
            return 0;
        }
        struct grp_member *m = member_new(req, id, &r);
        if (!m || member_add(g, m)) {
            member_free(m);
            join_error(b, &pk, KAFKA_ERR_COORDINATOR_NOT_AVAILABLE, "");
            return 0;
        }
        m->join = pk;
        m->heartbeat_deadline = now + m->session_ms;
        if (g->state != GRP_PREPARING) prepare_rebalance(g, now, "a new member joined");
        else if (g->delay_deadline)
            g->delay_deadline = GR_MIN(now + c->initial_delay_ms, g->join_deadline);
        maybe_complete_join(g, now);
        return 0;
    }
    char mid[512];
    strfmt(mid, sizeof mid, "%.*s", (int)r.member_id.len, r.member_id.ptr);
    if (by_instance && strcmp(by_instance->id, mid)) {
        join_error(b, &pk, KAFKA_ERR_FENCED_INSTANCE_ID, mid);
        return 0;
    }
    struct grp_member *m = grp_member_find(g, mid);
    if (!m && pending_take(g, mid)) {
        if (c->max_group_size > 0 && g->member_count >= c->max_group_size) {
            join_error(b, &pk, KAFKA_ERR_GROUP_MAX_SIZE_REACHED, mid);
            return 0;
        }
        m = member_new(req, mid, &r);
        if (!m || member_add(g, m)) {
            member_free(m);
            join_error(b, &pk, KAFKA_ERR_COORDINATOR_NOT_AVAILABLE, mid);
            return 0;
        }
        m->join = pk;
        m->heartbeat_deadline = now + m->session_ms;
        if (g->state != GRP_PREPARING) prepare_rebalance(g, now, "a new member joined");
        else if (g->delay_deadline)
            g->delay_deadline = GR_MIN(now + c->initial_delay_ms, g->join_deadline);
        maybe_complete_join(g, now);
        return 0;
    }
    if (!m) {
        join_error(b, &pk, KAFKA_ERR_UNKNOWN_MEMBER_ID, mid);
        return 0;
    }
    if (m->join.slot) join_error(b, &m->join, KAFKA_ERR_UNKNOWN_MEMBER_ID, mid); /* superseded */
    m->heartbeat_deadline = now + m->session_ms;
    m->session_ms = r.session_timeout_ms;
    bool changed = !same_protocols(m, &r);
    switch (g->state) {
    case GRP_PREPARING:
        set_protocols(m, &r);
        m->join = pk;
        maybe_complete_join(g, now);
        break;
    case GRP_COMPLETING:
    case GRP_STABLE:
        if (!changed && !(g->state == GRP_STABLE && g->leader && !strcmp(g->leader, mid))) {
            /* nothing new: the current generation again (Kafka does the same) */
            m->join = pk;
            join_reply(g, m, true);
            break;
        }
        set_protocols(m, &r);
        m->join = pk;
        prepare_rebalance(g, now, changed ? "a member changed its subscription"
                                          : "the leader rejoined");
        maybe_complete_join(g, now);
        break;
    default:
        join_error(b, &pk, KAFKA_ERR_UNKNOWN_MEMBER_ID, mid);
        break;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* SyncGroup                                                                                   */

int broker_handle_sync_group(struct broker_req *req)
{
    struct broker *b = req->b;
    int16_t v = req->hdr.api_version;
    struct kafka_sync_group_request r;
    if (kafka_sync_group_request_decode(&req->r, v, &r)) return -1;
    struct grp_park pk = park_of(req);
    char name[512];
    struct grp_group *g;
    int16_t err = group_for(b, r.group_id, false, &g, name, sizeof name);
    struct grp_member *m = NULL;
    if (!err) err = member_for(g, r.member_id, r.group_instance_id, &m);
    if (!err && r.generation_id != g->generation) err = KAFKA_ERR_ILLEGAL_GENERATION;
    if (!err && ((r.protocol_type.len >= 0 && !grp_str_is(g->protocol_type, r.protocol_type)) ||
                 (r.protocol_name.len >= 0 && !grp_str_is(g->protocol, r.protocol_name))))
        err = KAFKA_ERR_INCONSISTENT_GROUP_PROTOCOL;
    if (!err && g->state == GRP_PREPARING) err = KAFKA_ERR_REBALANCE_IN_PROGRESS;
    if (!err && (g->state == GRP_EMPTY || g->state == GRP_DEAD)) err = KAFKA_ERR_UNKNOWN_MEMBER_ID;
    if (err) {
        sync_reply(b, &pk, err, NULL, NULL, NULL, 0);
        return 0;
    }
    m->heartbeat_deadline = time_mono_ms() + m->session_ms;
    if (g->state == GRP_STABLE) {
        sync_reply(b, &pk, KAFKA_ERR_NONE, g->protocol_type, g->protocol, m->assignment,
                   m->assignment_len);
        return 0;
    }
    /* CompletingRebalance */
    if (m->sync.slot) sync_reply(b, &m->sync, KAFKA_ERR_UNKNOWN_MEMBER_ID, NULL, NULL, NULL, 0);
    m->sync = pk;
    if (!g->leader || strcmp(g->leader, m->id)) return 0; /* waits for the leader */
    for (int32_t i = 0; i < g->member_count; i++) {
        struct grp_member *o = g->members[i];
        free(o->assignment);
        o->assignment = NULL;
        o->assignment_len = 0;
        for (int32_t k = 0; k < r.assignments_count; k++) {
            if (!grp_str_is(o->id, r.assignments[k].member_id)) continue;
            o->assignment_len = GR_MAX(r.assignments[k].assignment.len, 0);
            o->assignment = dup_bytes(r.assignments[k].assignment.ptr, o->assignment_len);
            break;
        }
    }
    persist(g, true);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Heartbeat and LeaveGroup                                                                    */

static void enc_heartbeat(struct kafka_writer *w, int16_t v, const void *r)
{
    kafka_heartbeat_response_encode(w, v, r);
}

int broker_handle_heartbeat(struct broker_req *req)
{
    struct broker *b = req->b;
    struct kafka_heartbeat_request r;
    if (kafka_heartbeat_request_decode(&req->r, req->hdr.api_version, &r)) return -1;
    char name[512];
    struct grp_group *g;
    int16_t err = group_for(b, r.group_id, false, &g, name, sizeof name);
    struct grp_member *m = NULL;
    if (!err) err = member_for(g, r.member_id, r.group_instance_id, &m);
    if (!err && (g->state == GRP_EMPTY || g->state == GRP_DEAD)) err = KAFKA_ERR_UNKNOWN_MEMBER_ID;
    if (!err && r.generation_id != g->generation) err = KAFKA_ERR_ILLEGAL_GENERATION;
    if (m) m->heartbeat_deadline = time_mono_ms() + m->session_ms;
    if (!err && g->state == GRP_PREPARING) err = KAFKA_ERR_REBALANCE_IN_PROGRESS;
    struct kafka_heartbeat_response resp;
    kafka_heartbeat_response_init(&resp);
    resp.error_code = err;
    struct grp_park pk = park_of(req);
    grp_park_reply(b, &pk, enc_heartbeat, &resp);
    return 0;
}

static void enc_leave(struct kafka_writer *w, int16_t v, const void *r)
{
    kafka_leave_group_response_encode(w, v, r);
}

int broker_handle_leave_group(struct broker_req *req)
{
    struct broker *b = req->b;
    int16_t v = req->hdr.api_version;
    struct kafka_leave_group_request r;
    if (kafka_leave_group_request_decode(&req->r, v, &r)) return -1;
    struct kafka_leave_group_response resp;
    kafka_leave_group_response_init(&resp);
    char name[512];
    struct grp_group *g;
    int16_t err = group_for(b, r.group_id, false, &g, name, sizeof name);
    struct kafka_leave_group_request_member_identity single;
    if (v < 3) {
        kafka_leave_group_request_member_identity_init(&single);
        single.member_id = r.member_id;
        single.group_instance_id = KSTR_NULL;
        r.members = &single;
        r.members_count = 1;
    }
    if (err) {
        resp.error_code = err;
    } else {
        resp.members = arena_calloc(req->arena, (size_t)GR_MAX(r.members_count, 1),
                                    sizeof(*resp.members));
        if (!resp.members) return -1;
        resp.members_count = r.members_count;
        int64_t now = time_mono_ms();
        for (int32_t i = 0; i < r.members_count; i++) {
            const struct kafka_leave_group_request_member_identity *mi = &r.members[i];
            struct kafka_leave_group_response_member_response *mr = &resp.members[i];
            kafka_leave_group_response_member_response_init(mr);
            mr->member_id = mi->member_id;
            mr->group_instance_id = mi->group_instance_id;
            struct grp_member *m = NULL;
            int16_t e = KAFKA_ERR_UNKNOWN_MEMBER_ID;
            if (mi->member_id.len <= 0 && mi->group_instance_id.len >= 0) {
                /* by instance id alone (kafka-consumer-groups / the admin client) */
                char iid[512];
                strfmt(iid, sizeof iid, "%.*s", (int)mi->group_instance_id.len,
                       mi->group_instance_id.ptr);
                m = member_by_instance(g, iid);
                e = m ? KAFKA_ERR_NONE : KAFKA_ERR_UNKNOWN_MEMBER_ID;
            } else {
                e = member_for(g, mi->member_id, mi->group_instance_id, &m);
            }
            mr->error_code = e;
            if (!e && m) remove_member(g, m, KAFKA_ERR_UNKNOWN_MEMBER_ID, now, "it left the group");
        }
        /* v0-2 answer the single member's error at the top */
        if (v < 3) resp.error_code = resp.members[0].error_code;
        if (v < 3) resp.members_count = 0;
    }
    struct grp_park pk = park_of(req);
    grp_park_reply(b, &pk, enc_leave, &resp);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* DescribeGroups, ListGroups                                                                  */

static void enc_describe(struct kafka_writer *w, int16_t v, const void *r)
{
    kafka_describe_groups_response_encode(w, v, r);
}

int broker_handle_describe_groups(struct broker_req *req)
{
    struct broker *b = req->b;
    struct kafka_describe_groups_request r;
    if (kafka_describe_groups_request_decode(&req->r, req->hdr.api_version, &r)) return -1;
    struct kafka_describe_groups_response resp;
    kafka_describe_groups_response_init(&resp);
    resp.groups = arena_calloc(req->arena, (size_t)GR_MAX(r.groups_count, 1), sizeof(*resp.groups));
    if (!resp.groups) return -1;
    resp.groups_count = r.groups_count;
    for (int32_t i = 0; i < r.groups_count; i++) {
        struct kafka_describe_groups_response_described_group *d = &resp.groups[i];
        kafka_describe_groups_response_described_group_init(d);
        d->group_id = r.groups[i];
        d->group_state = KSTR("");
        d->protocol_type = KSTR("");
        d->protocol_data = KSTR("");
        d->authorized_operations = INT32_MIN;
        char name[512];
        struct grp_group *g;
        int16_t err = group_for(b, r.groups[i], false, &g, name, sizeof name);
        if (err == KAFKA_ERR_UNKNOWN_MEMBER_ID) { /* no such group: Dead, as Kafka answers */
            d->group_state = KSTR("Dead");
            continue;
        }
        d->error_code = err;
        if (err) continue;
        d->group_state = KSTR(grp_state_name(g->state));
        d->protocol_type = kstr_or_empty(g->protocol_type);
        bool stable = g->state == GRP_STABLE;
        d->protocol_data = stable ? kstr_or_empty(g->protocol) : KSTR("");
        d->members = arena_calloc(req->arena, (size_t)GR_MAX(g->member_count, 1),
                                  sizeof(*d->members));
        if (!d->members) return -1;
        d->members_count = g->member_count;
        for (int32_t k = 0; k < g->member_count; k++) {
            const struct grp_member *m = g->members[k];
            struct kafka_describe_groups_response_described_group_member *dm = &d->members[k];
            kafka_describe_groups_response_described_group_member_init(dm);
            dm->member_id = KSTR(m->id);
            dm->group_instance_id = kstr_or_null(m->instance_id);
            dm->client_id = kstr_or_empty(m->client_id);
            dm->client_host = kstr_or_empty(m->client_host);
            const struct grp_protocol *p = stable ? member_protocol(m, g->protocol) : NULL;
            dm->member_metadata = (struct kafka_bytes){p ? p->meta : NULL, p ? p->meta_len : 0};
            dm->member_assignment =
                (struct kafka_bytes){stable ? m->assignment : NULL, stable ? m->assignment_len : 0};
        }
    }
    struct grp_park pk = park_of(req);
    grp_park_reply(b, &pk, enc_describe, &resp);
    return 0;
}

static void enc_list(struct kafka_writer *w, int16_t v, const void *r)
{
    kafka_list_groups_response_encode(w, v, r);
}

int broker_handle_list_groups(struct broker_req *req)
{
    struct broker *b = req->b;
    struct kafka_list_groups_request r;
    if (kafka_list_groups_request_decode(&req->r, req->hdr.api_version, &r)) return -1;
    struct kafka_list_groups_response resp;
    kafka_list_groups_response_init(&resp);
    struct coord *c = b->coord;
    size_t n = 0;
    for (size_t i = 0; c && i < c->bucket_count; i++)
        for (struct grp_group *g = c->buckets[i]; g; g = g->next) n++;
    resp.groups = arena_calloc(req->arena, GR_MAX(n, 1), sizeof(*resp.groups));
    if (!resp.groups) return -1;
    for (size_t i = 0; c && i < c->bucket_count; i++) {
        for (struct grp_group *g = c->buckets[i]; g; g = g->next) {
            if (g->state == GRP_DEAD || c->part_state[g->part] != CP_ACTIVE) continue;
            const char *st = grp_state_name(g->state);
            bool keep = r.states_filter_count == 0;
            for (int32_t k = 0; k < r.states_filter_count; k++)
                keep |= r.states_filter[k].len == (int32_t)strlen(st) &&
                        !strncasecmp(r.states_filter[k].ptr, st, strlen(st));
            if (!keep) continue;
            struct kafka_list_groups_response_listed_group *lg = &resp.groups[resp.groups_count++];
            kafka_list_groups_response_listed_group_init(lg);
            lg->group_id = KSTR(g->id);
            lg->protocol_type = kstr_or_empty(g->protocol_type);
            lg->group_state = KSTR(st);
        }
    }
    struct grp_park pk = park_of(req);
    grp_park_reply(b, &pk, enc_list, &resp);
    return 0;
}

/* controller_state.c — a replica of the metadata state: applying committed record batches to
 * the image, and snapshots (the image written as the records that rebuild it).
 *
 * The quorum controller applies the entries of its Raft log; a broker applies what it fetched
 * with FetchMetadata.  Both run exactly this code on exactly the same bytes, so every node
 * derives the same image.  Applying is deterministic and never consults a clock. */
#include "controller/controller_int.h"

#include <stdlib.h>
#include <string.h>

int md_state_init(struct md_state *s, const struct gr_uuid *cluster_id,
                  const struct controller_listener *l)
{
    memset(s, 0, sizeof(*s));
    if (l) s->listener = *l;
    arena_init(&s->arena, 16384);
    gbuf_init(&s->scratch);
    int rc = md_image_init(&s->image);
    if (rc) return rc;
    s->image.cluster_id = *cluster_id;
    gr_uuid_to_base64(cluster_id, s->image.cluster_id_str);
    return 0;
}

void md_state_close(struct md_state *s)
{
    md_image_close(&s->image);
    arena_close(&s->arena);
    gbuf_close(&s->scratch);
}

/* ------------------------------------------------------------------------------------------ */
/* Applying one record                                                                         */

static int apply_topic(struct md_state *s, struct kafka_reader *r)
{
    struct kafka_topic_record rec;
    if (kafka_topic_record_decode(r, 0, &rec)) return GR_ECORRUPT;
    if (rec.name.len <= 0) return GR_ECORRUPT;
    struct gr_uuid id;
    memcpy(id.b, rec.topic_id.b, 16);
    if (md_image_topic(&s->image, rec.name.ptr, (size_t)rec.name.len)) return 0;
    if (!md_image_add_topic(&s->image, rec.name.ptr, (size_t)rec.name.len, &id)) return GR_ENOMEM;
    if (s->created.n < MD_CREATED_MAX) s->created.ids[s->created.n++] = id;
    return 0;
}

static int apply_partition(struct md_state *s, struct kafka_reader *r)
{
    struct kafka_partition_record rec;
    if (kafka_partition_record_decode(r, 0, &rec)) return GR_ECORRUPT;
    struct gr_uuid id;
    memcpy(id.b, rec.topic_id.b, 16);
    struct md_topic *t = md_image_topic_by_id(&s->image, &id);
    if (!t) return 0; /* topic removed later in the log */
    {
        bool fresh = false, known = false;
        for (int i = 0; i < s->created.n; i++) fresh |= !memcmp(s->created.ids[i].b, id.b, 16);
        for (int i = 0; i < s->created.n_changed; i++)
            known |= !memcmp(s->created.changed[i].b, id.b, 16);
        if (!fresh && !known) {
            if (s->created.n_changed < (int)GR_ARRAY_LEN(s->created.changed))
                s->created.changed[s->created.n_changed++] = id;
            else
                s->created.changed_overflow = true;
        }
    }
    struct md_partition p = {
        .id = rec.partition_id, .leader = rec.leader, .leader_epoch = rec.leader_epoch,
        .partition_epoch = rec.partition_epoch, .replica_count = GR_MAX(rec.replicas_count, 0),
        .replicas = rec.replicas, .isr_count = GR_MAX(rec.isr_count, 0), .isr = rec.isr};
    return md_topic_set_partition(t, &p);
}

static int apply_config(struct md_state *s, struct kafka_reader *r)
{
    struct kafka_config_record rec;
    if (kafka_config_record_decode(r, 0, &rec)) return GR_ECORRUPT;
    if (rec.resource_type != MD_RESOURCE_TOPIC || rec.resource_name.len < 0) return 0;
    struct md_topic *t =
        md_image_topic(&s->image, rec.resource_name.ptr, (size_t)rec.resource_name.len);
    if (!t || rec.name.len <= 0) return 0;
    char key[256];
    strfmt(key, sizeof key, "%.*s", (int)rec.name.len, rec.name.ptr);
    if (rec.value.len < 0) {
        /* deletion of an override: rebuild without it */
        struct props np;
        props_init(&np);
        for (size_t i = 0; i < t->configs.n; i++)
            if (strcmp(t->configs.v[i].key, key))
                props_set(&np, t->configs.v[i].key, t->configs.v[i].value);
        props_close(&t->configs);
        t->configs = np;
    } else {
        char *val = strndup(rec.value.ptr, (size_t)rec.value.len);
        if (!val) return GR_ENOMEM;
        int rc = props_set(&t->configs, key, val);
        free(val);
        if (rc) return rc;
    }
    bool fresh = false;
    for (int i = 0; i < s->created.n; i++)
        if (!memcmp(s->created.ids[i].b, t->id.b, 16)) fresh = true;
    if (!fresh && s->listener.topic_config_changed)
        s->listener.topic_config_changed(s->listener.arg, t);
    return 0;
}

static int apply_remove_topic(struct md_state *s, struct kafka_reader *r)
{
    struct kafka_remove_topic_record rec;
    if (kafka_remove_topic_record_decode(r, 0, &rec)) return GR_ECORRUPT;
    struct gr_uuid id;
    memcpy(id.b, rec.topic_id.b, 16);
    struct md_topic *t = md_image_topic_by_id(&s->image, &id);
    if (!t) return 0;
    if (s->listener.topic_deleting) s->listener.topic_deleting(s->listener.arg, t);
    md_image_remove_topic(&s->image, t);
    return 0;
}

static int apply_register_broker(struct md_state *s, struct kafka_reader *r)
{
    struct kafka_register_broker_record rec;
    if (kafka_register_broker_record_decode(r, 0, &rec)) return GR_ECORRUPT;
    if (rec.endpoints_count < 1 || rec.endpoints_count > MD_ENDPOINTS_MAX) return GR_ECORRUPT;
    char names[MD_ENDPOINTS_MAX][256], hosts[MD_ENDPOINTS_MAX][256], rack[256];
    struct md_endpoint eps[MD_ENDPOINTS_MAX];
    for (int32_t i = 0; i < rec.endpoints_count; i++) {
        const struct kafka_register_broker_record_broker_endpoint *e = &rec.endpoints[i];
        if (e->host.len < 0 || e->name.len < 0) return GR_ECORRUPT;
        strfmt(names[i], sizeof names[i], "%.*s", (int)e->name.len, e->name.ptr);
        strfmt(hosts[i], sizeof hosts[i], "%.*s", (int)e->host.len, e->host.ptr);
        eps[i] = (struct md_endpoint){names[i], hosts[i], e->port};
    }
    if (rec.rack.len >= 0) strfmt(rack, sizeof rack, "%.*s", (int)rec.rack.len, rec.rack.ptr);
    struct md_broker *b = md_image_set_broker(&s->image, rec.broker_id, eps, rec.endpoints_count,
                                              rec.rack.len >= 0 ? rack : NULL);
    if (!b) return GR_ENOMEM;
    b->epoch = rec.broker_epoch;
    memcpy(b->incarnation.b, rec.incarnation_id.b, 16);
    b->fenced = rec.fenced;
    b->in_controlled_shutdown = false;
    return 0;
}

static int apply_broker_change(struct md_state *s, struct kafka_reader *r)
{
    struct kafka_broker_registration_change_record rec;
    if (kafka_broker_registration_change_record_decode(r, 0, &rec)) return GR_ECORRUPT;
    struct md_broker *b = (struct md_broker *)md_image_broker(&s->image, rec.broker_id);
    if (!b || b->epoch != rec.broker_epoch) return 0; /* a stale change: a newer registration */
    if (rec.fenced == 1) b->fenced = true;
    if (rec.fenced == -1) {
        b->fenced = false;
        b->in_controlled_shutdown = false;
    }
    if (rec.in_controlled_shutdown == 1) b->in_controlled_shutdown = true;
    return 0;
}

static int apply_producer_ids(struct md_state *s, struct kafka_reader *r)
{
    struct kafka_producer_ids_record rec;
    if (kafka_producer_ids_record_decode(r, 0, &rec)) return GR_ECORRUPT;
    s->image.next_producer_id = GR_MAX(s->image.next_producer_id, rec.next_producer_id);
    return 0;
}

static int apply_record(struct md_state *s, const uint8_t *v, size_t n)
{
    struct kafka_reader r;
    kafka_reader_init(&r, v, n, &s->arena);
    uint32_t type = kafka_read_uvarint(&r);
    uint32_t version = kafka_read_uvarint(&r);
    if (r.err || version != 0) return GR_ECORRUPT;
    switch (type) {
    case MD_REC_TOPIC: return apply_topic(s, &r);
    case MD_REC_PARTITION: return apply_partition(s, &r);
    case MD_REC_CONFIG: return apply_config(s, &r);
    case MD_REC_REMOVE_TOPIC: return apply_remove_topic(s, &r);
    case MD_REC_REGISTER_BROKER: return apply_register_broker(s, &r);
    case MD_REC_BROKER_CHANGE: return apply_broker_change(s, &r);
    case MD_REC_PRODUCER_IDS: return apply_producer_ids(s, &r);
    default: return 0; /* records for later features are skipped */
    }
}

static int apply_records(struct md_state *s, const uint8_t *batch, size_t n)
{
    struct rb_set_info info;
    if (rb_set_validate(batch, n, &info)) return GR_ECORRUPT; /* lengths and CRCs */
    size_t pos = 0;
    while (pos < n) {
        size_t bn = rb_batch_size(batch + pos, n - pos);
        if (!bn) return GR_ECORRUPT;
        struct rb_iter it;
        int rc = rb_iter_init(&it, batch + pos, bn, &s->scratch, 64u << 20);
        if (rc) return rc;
        struct rb_record rec;
        while ((rc = rb_iter_next(&it, &rec)) == 1) {
            if (rec.value_len < 0) return GR_ECORRUPT;
            arena_reset(&s->arena);
            rc = apply_record(s, rec.value, (size_t)rec.value_len);
            if (rc) return rc;
        }
        if (rc < 0) return rc;
        pos += bn;
    }
    return 0;
}

static void notify_changed(void *arg, struct md_topic *t)
{
    struct md_state *s = arg;
    for (int i = 0; i < s->created.n; i++)
        if (!memcmp(s->created.ids[i].b, t->id.b, 16)) return; /* announced as created */
    s->listener.partitions_changed(s->listener.arg, t);
}

static void notify_created(struct md_state *s)
{
    for (int i = 0; i < s->created.n; i++) {
        struct md_topic *t = md_image_topic_by_id(&s->image, &s->created.ids[i]);
        if (t && s->listener.topic_created) s->listener.topic_created(s->listener.arg, t);
    }
    if (s->created.changed_overflow && s->listener.partitions_changed) {
        md_image_foreach(&s->image, notify_changed, s);
    } else {
        for (int i = 0; i < s->created.n_changed; i++) {
            struct md_topic *t = md_image_topic_by_id(&s->image, &s->created.changed[i]);
            if (t && s->listener.partitions_changed)
                s->listener.partitions_changed(s->listener.arg, t);
        }
    }
    s->created.changed_overflow = false;
    s->created.n = s->created.n_changed = 0;
}

int md_state_apply(struct md_state *s, uint64_t index, const uint8_t *batch, size_t n)
{
    s->created.n = s->created.n_changed = 0;
    int rc = apply_records(s, batch, n);
    notify_created(s); /* what was applied before an error stays applied: tell the broker */
    if (rc) return rc;
    s->image.applied_offset = (int64_t)index;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Snapshots                                                                                   */

struct snap_ctx {
    struct md_batch *b;
};

static void snap_topic(void *arg, struct md_topic *t)
{
    struct snap_ctx *x = arg;
    struct kafka_str name = {t->name, (int32_t)strlen(t->name)};
    md_batch_add_topic(x->b, name, &t->id);
    for (int32_t p = 0; p < t->partition_count; p++)
        md_batch_add_partition_state(x->b, &t->id, &t->partitions[p]);
    for (size_t i = 0; i < t->configs.n; i++)
        md_batch_add_config(x->b, MD_RESOURCE_TOPIC, name, KSTR(t->configs.v[i].key),
                            KSTR(t->configs.v[i].value));
}

int md_state_snapshot(const struct md_state *s, struct gbuf *out)
{
    struct md_batch b;
    md_batch_init(&b);
    for (int32_t i = 0; i < s->image.broker_count; i++) {
        const struct md_broker *br = &s->image.brokers[i];
        md_batch_add_register_broker(&b, br);
        if (br->in_controlled_shutdown) md_batch_add_broker_change(&b, br->id, br->epoch, 0, 1);
    }
    if (s->image.next_producer_id > 0)
        md_batch_add_producer_ids(&b, -1, -1, s->image.next_producer_id);
    struct snap_ctx x = {&b};
    md_image_foreach(&s->image, snap_topic, &x);
    int rc = b.rb.count ? md_batch_finish(&b, out) : 0;
    md_batch_close(&b);
    return rc;
}

struct diff_ctx {
    struct md_state *s;
    const struct md_image *other;
    int which; /* 0: topics of the old image gone from the new; 1: new or changed topics */
};

static bool same_configs(const struct props *a, const struct props *b)
{
    if (a->n != b->n) return false;
    for (size_t i = 0; i < a->n; i++) {
        const char *v = props_get(b, a->v[i].key);
        if (!v || strcmp(v, a->v[i].value)) return false;
    }
    return true;
}

static bool same_ids(const int32_t *a, int32_t na, const int32_t *b, int32_t nb)
{
    return na == nb && (na == 0 || !memcmp(a, b, sizeof(int32_t) * (size_t)na));
}

static bool same_partitions(const struct md_topic *a, const struct md_topic *b)
{
    if (a->partition_count != b->partition_count) return false;
    for (int32_t i = 0; i < a->partition_count; i++) {
        const struct md_partition *x = &a->partitions[i], *y = &b->partitions[i];
        if (x->leader != y->leader || x->leader_epoch != y->leader_epoch ||
            x->partition_epoch != y->partition_epoch ||
            !same_ids(x->isr, x->isr_count, y->isr, y->isr_count) ||
            !same_ids(x->replicas, x->replica_count, y->replicas, y->replica_count))
            return false;
    }
    return true;
}

static void diff_old(void *arg, struct md_topic *t)
{
    struct diff_ctx *x = arg;
    struct md_topic *n = md_image_topic_by_id(x->other, &t->id);
    if (!n && x->s->listener.topic_deleting) x->s->listener.topic_deleting(x->s->listener.arg, t);
}

static void diff_new(void *arg, struct md_topic *t)
{
    struct diff_ctx *x = arg;
    struct md_topic *o = md_image_topic_by_id(x->other, &t->id);
    if (!o) {
        if (x->s->listener.topic_created) x->s->listener.topic_created(x->s->listener.arg, t);
    } else {
        if (!same_configs(&o->configs, &t->configs) && x->s->listener.topic_config_changed)
            x->s->listener.topic_config_changed(x->s->listener.arg, t);
        if (!same_partitions(o, t) && x->s->listener.partitions_changed)
            x->s->listener.partitions_changed(x->s->listener.arg, t);
    }
}

int md_state_load_snapshot(struct md_state *s, uint64_t index, const uint8_t *data, size_t n)
{
    struct md_state fresh;
    int rc = md_state_init(&fresh, &s->image.cluster_id, NULL);
    if (!rc) rc = apply_records(&fresh, data, n);
    if (rc) {
        md_state_close(&fresh);
        return rc;
    }
    fresh.image.applied_offset = (int64_t)index;
    /* tell the listener what differs: deletions against the old image first */
    struct diff_ctx x = {s, &fresh.image, 0};
    md_image_foreach(&s->image, diff_old, &x);
    struct md_image old = s->image;
    s->image = fresh.image;
    fresh.image = old;
    x.other = &fresh.image;
    md_image_foreach(&s->image, diff_new, &x);
    md_state_close(&fresh); /* frees the old image */
    return 0;
}

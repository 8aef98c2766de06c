/* broker_group_records.c — the records of __consumer_offsets, in Kafka's own formats, and the
 * group-to-partition hash.  Pure: no I/O, unit-tested.
 *
 * Keys and values are Kafka's (GroupCoordinatorRecordSerde), so a tool that reads Kafka's
 * offsets topic reads ours:
 *   offset commit key   v1: group string, topic string, partition int32
 *   offset commit value v3: offset int64, leader epoch int32, metadata string,
 *                           commit timestamp int64        (v0-v2 decoded too)
 *   group metadata key  v2: group string
 *   group metadata value v3: protocol type string, generation int32, protocol nullable
 *                           string, leader nullable string, current state timestamp int64,
 *                           members [member id, group instance id (nullable), client id,
 *                           client host, rebalance timeout int32, session timeout int32,
 *                           subscription bytes, assignment bytes]   (v0-v2 decoded too)
 * Every key and value starts with its int16 version; a null value is a tombstone. */
#include "broker/broker_int.h"

#include <string.h>

int32_t grp_java_string_hash(const char *s, size_t n)
{
    /* String.hashCode() over the UTF-16 code units of the UTF-8 text; invalid bytes count as
     * U+FFFD, as Java's decoder makes them */
    uint32_t h = 0;
    size_t i = 0;
    while (i < n) {
        uint8_t c = (uint8_t)s[i];
        uint32_t cp = 0xFFFD;
        size_t len = 1;
        if (c < 0x80) cp = c;
        else if ((c & 0xE0) == 0xC0) len = 2, cp = c & 0x1F;
        else if ((c & 0xF0) == 0xE0) len = 3, cp = c & 0x0F;
        else if ((c & 0xF8) == 0xF0) len = 4, cp = c & 0x07;
        else len = 0;
        if (len > 1) {
            bool ok = i + len <= n;
            for (size_t k = 1; ok && k < len; k++) {
                uint8_t cc = (uint8_t)s[i + k];
                ok = (cc & 0xC0) == 0x80;
                cp = (cp << 6) | (cc & 0x3F);
            }
            if (!ok) len = 0, cp = 0xFFFD;
        }
        i += len ? len : 1;
        if (cp >= 0x10000) {
            cp -= 0x10000;
            h = h * 31 + (0xD800 + (cp >> 10));
            h = h * 31 + (0xDC00 + (cp & 0x3FF));
        } else {
            h = h * 31 + cp;
        }
    }
    return (int32_t)h;
}

int32_t grp_partition_for(const char *group, size_t n, int32_t partitions)
{
    int32_t h = grp_java_string_hash(group, n);
    /* Kafka's Utils.abs: Integer.MIN_VALUE maps to 0 */
    int32_t a = h == INT32_MIN ? 0 : (h < 0 ? -h : h);
    return partitions > 0 ? a % partitions : 0;
}

static void put_str(struct kafka_writer *w, const char *s)
{
    kafka_write_str(w, s ? KSTR(s) : KSTR_NULL, false);
}

void grp_offset_key_encode(struct kafka_writer *w, const char *group, const char *topic,
                           int32_t partition)
{
    kafka_write_i16(w, 1);
    put_str(w, group);
    put_str(w, topic);
    kafka_write_i32(w, partition);
}

void grp_offset_value_encode(struct kafka_writer *w, const struct grp_offset *o)
{
    kafka_write_i16(w, 3);
    kafka_write_i64(w, o->offset);
    kafka_write_i32(w, o->leader_epoch);
    put_str(w, o->metadata ? o->metadata : "");
    kafka_write_i64(w, o->commit_ts);
}

void grp_group_key_encode(struct kafka_writer *w, const char *group)
{
    kafka_write_i16(w, 2);
    put_str(w, group);
}

void grp_group_value_encode(struct kafka_writer *w, const struct grp_group_value *g)
{
    kafka_write_i16(w, 3);
    put_str(w, g->protocol_type ? g->protocol_type : "");
    kafka_write_i32(w, g->generation);
    put_str(w, g->protocol);
    put_str(w, g->leader);
    kafka_write_i64(w, g->state_ts);
    kafka_write_i32(w, g->member_count);
    for (int32_t i = 0; i < g->member_count; i++) {
        const struct grp_member_value *m = &g->members[i];
        put_str(w, m->member_id);
        put_str(w, m->instance_id);
        put_str(w, m->client_id ? m->client_id : "");
        put_str(w, m->client_host ? m->client_host : "");
        kafka_write_i32(w, m->rebalance_ms);
        kafka_write_i32(w, m->session_ms);
        kafka_write_bytes(w, (struct kafka_bytes){m->subscription, m->subscription_len}, false);
        kafka_write_bytes(w, (struct kafka_bytes){m->assignment, m->assignment_len}, false);
    }
}

static char *get_str(struct kafka_reader *r, bool *null)
{
    struct kafka_str s = kafka_read_str(r, false);
    if (null) *null = s.len < 0;
    if (r->err) return NULL;
    if (s.len < 0) return NULL;
    char *p = arena_alloc(r->arena, (size_t)s.len + 1);
    if (!p) {
        kafka_reader_fail(r, GR_ENOMEM);
        return NULL;
    }
    memcpy(p, s.ptr, (size_t)s.len);
    p[s.len] = 0;
    return p;
}

int grp_record_decode(const uint8_t *key, int32_t key_len, const uint8_t *value,
                      int32_t value_len, struct arena *a, struct grp_record *out)
{
    memset(out, 0, sizeof(*out));
    if (!key || key_len < 2) return GR_ECORRUPT;
    struct kafka_reader r;
    kafka_reader_init(&r, key, (size_t)key_len, a);
    int16_t kv = kafka_read_i16(&r);
    if (kv == 0 || kv == 1) {
        out->kind = GRP_REC_OFFSET;
        out->group = get_str(&r, NULL);
        out->topic = get_str(&r, NULL);
        out->partition = kafka_read_i32(&r);
        if (r.err || !out->group || !out->topic) return GR_ECORRUPT;
    } else if (kv == 2) {
        out->kind = GRP_REC_GROUP;
        out->group = get_str(&r, NULL);
        if (r.err || !out->group) return GR_ECORRUPT;
    } else {
        return GR_EUNSUP; /* a newer record type (transactions, KIP-848): not ours */
    }
    out->tombstone = !value || value_len < 0;
    if (out->tombstone) return 0;
    kafka_reader_init(&r, value, (size_t)value_len, a);
    int16_t vv = kafka_read_i16(&r);
    if (out->kind == GRP_REC_OFFSET) {
        struct grp_offset *o = &out->offset;
        if (vv < 0 || vv > 4) return GR_EUNSUP;
        o->offset = kafka_read_i64(&r);
        o->leader_epoch = vv >= 3 ? kafka_read_i32(&r) : -1;
        o->metadata = get_str(&r, NULL);
        o->commit_ts = kafka_read_i64(&r);
        if (vv == 1) (void)kafka_read_i64(&r); /* expire timestamp: unused since Kafka 2.1 */
        return r.err ? GR_ECORRUPT : 0;
    }
    struct grp_group_value *g = &out->group_value;
    if (vv < 0 || vv > 3) return GR_EUNSUP;
    g->protocol_type = get_str(&r, NULL);
    g->generation = kafka_read_i32(&r);
    g->protocol = get_str(&r, NULL);
    g->leader = get_str(&r, NULL);
    g->state_ts = vv >= 2 ? kafka_read_i64(&r) : -1;
    int32_t n = kafka_read_array_len(&r, false, 4);
    if (r.err || n < 0) return GR_ECORRUPT;
    g->members = arena_calloc(a, (size_t)GR_MAX(n, 1), sizeof(*g->members));
    if (!g->members) return GR_ENOMEM;
    for (int32_t i = 0; i < n && !r.err; i++) {
        struct grp_member_value *m = &g->members[i];
        m->member_id = get_str(&r, NULL);
        m->instance_id = vv >= 3 ? get_str(&r, NULL) : NULL;
        m->client_id = get_str(&r, NULL);
        m->client_host = get_str(&r, NULL);
        m->rebalance_ms = vv >= 1 ? kafka_read_i32(&r) : 0;
        m->session_ms = kafka_read_i32(&r);
        if (vv == 0) m->rebalance_ms = m->session_ms;
        struct kafka_bytes sb = kafka_read_bytes(&r, false);
        struct kafka_bytes ab = kafka_read_bytes(&r, false);
        m->subscription = (uint8_t *)sb.ptr;
        m->subscription_len = GR_MAX(sb.len, 0);
        m->assignment = (uint8_t *)ab.ptr;
        m->assignment_len = GR_MAX(ab.len, 0);
        if (!m->member_id) kafka_reader_fail(&r, GR_ECORRUPT);
        g->member_count = i + 1;
    }
    return r.err ? GR_ECORRUPT : 0;
}

/* ------------------------------------------------------------------------------------------ */
/* The consumer protocol's subscription (ConsumerProtocolSubscription v0-3): its topics, for
 * OffsetDelete's GROUP_SUBSCRIBED_TO_TOPIC.  Returns true when `topic` is among them. */

bool grp_subscription_has_topic(const uint8_t *p, int32_t n, const char *topic)
{
    if (!p || n < 2) return false;
    struct kafka_reader r;
    kafka_reader_init(&r, p, (size_t)n, NULL);
    (void)kafka_read_i16(&r);
    int32_t count = kafka_read_array_len(&r, false, 2);
    for (int32_t i = 0; i < count && !r.err; i++) {
        struct kafka_str s = kafka_read_str(&r, false);
        if (!r.err && s.len >= 0 && (size_t)s.len == strlen(topic) &&
            !memcmp(s.ptr, topic, (size_t)s.len))
            return true;
    }
    return false;
}

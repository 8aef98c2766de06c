/* fuzz_group_records.c — libFuzzer target for the decoder of __consumer_offsets records, which a
 * new group coordinator runs over whatever its partition holds.  The input is split into a key
 * and a value (the first byte: key length; 0xFF: a tombstone, no value).  A record that decodes
 * is encoded again and must decode to the same fields.  The input is also read as a consumer
 * protocol subscription (OffsetDelete's check). */
#include "broker/broker_int.h"

#include <stdlib.h>
#include <string.h>

static void same(const char *a, const char *b)
{
    if ((a == NULL) != (b == NULL) || (a && strcmp(a, b))) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    bool tomb = data[0] == 0xFF;
    size_t klen = tomb ? size - 1 : data[0];
    if (klen > size - 1) klen = size - 1;
    const uint8_t *key = data + 1, *val = data + 1 + klen;
    size_t vlen = size - 1 - klen;
    struct arena a;
    arena_init(&a, 4096);
    struct grp_record r;
    if (grp_record_decode(key, (int32_t)klen, tomb ? NULL : val, tomb ? -1 : (int32_t)vlen, &a,
                          &r) == 0 &&
        !r.tombstone) {
        struct gbuf k2, v2;
        gbuf_init(&k2);
        gbuf_init(&v2);
        struct kafka_writer w;
        kafka_writer_init(&w, &k2);
        if (r.kind == GRP_REC_OFFSET) grp_offset_key_encode(&w, r.group, r.topic, r.partition);
        else grp_group_key_encode(&w, r.group);
        kafka_writer_init(&w, &v2);
        if (r.kind == GRP_REC_OFFSET) grp_offset_value_encode(&w, &r.offset);
        else grp_group_value_encode(&w, &r.group_value);
        struct grp_record r2;
        if (grp_record_decode(k2.data, (int32_t)k2.len, v2.data, (int32_t)v2.len, &a, &r2))
            abort(); /* what we write we must read */
        same(r.group, r2.group);
        if (r.kind == GRP_REC_OFFSET) {
            same(r.topic, r2.topic);
            if (r.partition != r2.partition || r.offset.offset != r2.offset.offset) abort();
        } else if (r.group_value.member_count != r2.group_value.member_count ||
                   r.group_value.generation != r2.group_value.generation) {
            abort();
        }
        gbuf_close(&k2);
        gbuf_close(&v2);
    }
    (void)grp_subscription_has_topic(data, (int32_t)size, "t");
    (void)grp_java_string_hash((const char *)data, size);
    arena_close(&a);
    return 0;
}

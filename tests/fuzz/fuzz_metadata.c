/* fuzz_metadata.c — libFuzzer target for the decoders that read what is on disk or arrives
 * from another node: the metadata-log records (generated data messages), whole metadata
 * entries and snapshots as a node applies them (record batches of records, through
 * md_state_apply / md_state_load_snapshot), and Java properties (server.properties,
 * meta.properties).  The first byte picks the decoder. */
#include "common/common.h"
#include "controller/controller_int.h"
#include "proto/proto.h"

#include <stdlib.h>
#include <string.h>

static void roundtrip_records(const uint8_t *p, size_t n, struct arena *a)
{
    struct kafka_reader r;
    struct gbuf out;
    gbuf_init(&out);
    struct kafka_writer w;
#define TRY(T)                                                                                     \
    do {                                                                                           \
        struct kafka_##T rec;                                                                      \
        kafka_reader_init(&r, p, n, a);                                                            \
        if (kafka_##T##_decode(&r, 0, &rec) == 0) {                                                \
            gbuf_reset(&out);                                                                      \
            kafka_writer_init(&w, &out);                                                           \
            kafka_##T##_encode(&w, 0, &rec);                                                       \
        }                                                                                          \
    } while (0)
    TRY(topic_record);
    TRY(partition_record);
    TRY(config_record);
    TRY(remove_topic_record);
    TRY(register_broker_record);
    TRY(feature_level_record);
    TRY(broker_registration_change_record);
    TRY(producer_ids_record);
#undef TRY
    gbuf_close(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    struct arena a;
    arena_init(&a, 4096);
    if (data[0] % 3 == 2) {
        /* a metadata entry applied, then the state snapshotted and loaded elsewhere: never a
         * crash, and a loaded snapshot is the image it came from */
        struct gr_uuid cid = {{1}};
        struct md_state st, st2;
        md_state_init(&st, &cid, NULL);
        md_state_init(&st2, &cid, NULL);
        if (data[0] & 0x80) md_state_load_snapshot(&st, 1, data + 1, size - 1);
        else md_state_apply(&st, 1, data + 1, size - 1);
        struct gbuf snap;
        gbuf_init(&snap);
        if (md_state_snapshot(&st, &snap) == 0 && snap.len) {
            if (md_state_load_snapshot(&st2, 2, snap.data, snap.len) != 0 ||
                st2.image.topic_count != st.image.topic_count ||
                st2.image.broker_count != st.image.broker_count)
                abort();
        }
        gbuf_close(&snap);
        md_state_close(&st);
        md_state_close(&st2);
    } else if (data[0] & 1) {
        roundtrip_records(data + 1, size - 1, &a);
    } else {
        struct props p;
        props_init(&p);
        char err[128];
        props_parse(&p, (const char *)data + 1, size - 1, err, sizeof err);
        for (size_t i = 0; i < p.n; i++) (void)props_get(&p, p.v[i].key);
        props_close(&p);
    }
    arena_close(&a);
    return 0;
}

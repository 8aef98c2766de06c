/* fuzz_metadata.c — libFuzzer target for the decoders that read what is on disk: the
 * metadata-log records (generated data messages) and Java properties (server.properties,
 * meta.properties).  The first byte picks the decoder. */
#include "common/common.h"
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
#undef TRY
    gbuf_close(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    struct arena a;
    arena_init(&a, 4096);
    if (data[0] & 1) {
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

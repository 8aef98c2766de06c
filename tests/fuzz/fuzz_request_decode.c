/*
 * fuzz_request_decode.c — libFuzzer target for the Kafka request path: the input is a request
 * frame body (everything after the int32 size): a request header, then the body.
 *
 * The header version comes from the api key and version in the first four bytes, as the broker
 * does it.  If the schema has that api and version, the body is decoded with the generated
 * request decoder (and, for extra coverage, with the response decoder too).  Whatever decodes
 * must re-encode, and encode(decode(encode(decode(x)))) must equal encode(decode(x)): decoding
 * accepts some non-canonical input (any non-zero bool, unknown tags), but once canonical the
 * bytes must be a fixed point.  A violation aborts.
 *
 * Memory: one arena for the process, reset per input; one output buffer, reset per input.
 */
#include "proto/proto.h"

#include <stdio.h>
#include <stdlib.h>

static struct arena arena;
static struct gbuf out1, out2;
static bool ready;

#define DISPATCH_ONE(KEY, api)                                                                     \
    case KEY: {                                                                                    \
        struct kafka_##api m;                                                                      \
        struct kafka_reader r;                                                                     \
        kafka_reader_init(&r, p, n, &arena);                                                       \
        if (kafka_##api##_decode(&r, version, &m) != 0) return;                                    \
        struct kafka_writer w;                                                                     \
        kafka_writer_init(&w, &out1);                                                              \
        if (kafka_##api##_encode(&w, version, &m) != 0) {                                          \
            fprintf(stderr, #api " v%d: decoded message does not encode (%d)\n", version, w.err);  \
            abort();                                                                               \
        }                                                                                          \
        struct kafka_##api m2;                                                                     \
        kafka_reader_init(&r, out1.data, out1.len, &arena);                                        \
        if (kafka_##api##_decode(&r, version, &m2) != 0 || kafka_reader_left(&r) != 0) {           \
            fprintf(stderr, #api " v%d: own encoding does not decode\n", version);                 \
            abort();                                                                               \
        }                                                                                          \
        kafka_writer_init(&w, &out2);                                                              \
        if (kafka_##api##_encode(&w, version, &m2) != 0 || out1.len != out2.len ||                 \
            (out1.len && memcmp(out1.data, out2.data, out1.len) != 0)) {                           \
            fprintf(stderr, #api " v%d: encoding is not a fixed point\n", version);                \
            abort();                                                                               \
        }                                                                                          \
        return;                                                                                    \
    }

/* Decodes p[0..n) as the body of (key, version), request or response side. */
static void check_body(int16_t key, int16_t version, bool response, const uint8_t *p, size_t n)
{
    gbuf_reset(&out1);
    gbuf_reset(&out2);
    if (!response) {
        switch (key) {
            DISPATCH_ONE(KAFKA_API_PRODUCE, produce_request)
            DISPATCH_ONE(KAFKA_API_FETCH, fetch_request)
            DISPATCH_ONE(KAFKA_API_LIST_OFFSETS, list_offsets_request)
            DISPATCH_ONE(KAFKA_API_METADATA, metadata_request)
            DISPATCH_ONE(KAFKA_API_API_VERSIONS, api_versions_request)
            DISPATCH_ONE(KAFKA_API_CREATE_TOPICS, create_topics_request)
            DISPATCH_ONE(KAFKA_API_DELETE_TOPICS, delete_topics_request)
            DISPATCH_ONE(KAFKA_API_DESCRIBE_CONFIGS, describe_configs_request)
#ifdef KAFKA_API_FIND_COORDINATOR
            DISPATCH_ONE(KAFKA_API_FIND_COORDINATOR, find_coordinator_request)
            DISPATCH_ONE(KAFKA_API_DELETE_RECORDS, delete_records_request)
            DISPATCH_ONE(KAFKA_API_INIT_PRODUCER_ID, init_producer_id_request)
            DISPATCH_ONE(KAFKA_API_ALTER_CONFIGS, alter_configs_request)
            DISPATCH_ONE(KAFKA_API_CREATE_PARTITIONS, create_partitions_request)
            DISPATCH_ONE(KAFKA_API_INCREMENTAL_ALTER_CONFIGS, incremental_alter_configs_request)
            DISPATCH_ONE(KAFKA_API_DESCRIBE_CLUSTER, describe_cluster_request)
            DISPATCH_ONE(KAFKA_API_DESCRIBE_QUORUM, describe_quorum_request)
            DISPATCH_ONE(KAFKA_API_OFFSET_COMMIT, offset_commit_request)
            DISPATCH_ONE(KAFKA_API_OFFSET_FETCH, offset_fetch_request)
            DISPATCH_ONE(KAFKA_API_JOIN_GROUP, join_group_request)
            DISPATCH_ONE(KAFKA_API_HEARTBEAT, heartbeat_request)
            DISPATCH_ONE(KAFKA_API_LEAVE_GROUP, leave_group_request)
            DISPATCH_ONE(KAFKA_API_SYNC_GROUP, sync_group_request)
            DISPATCH_ONE(KAFKA_API_DESCRIBE_GROUPS, describe_groups_request)
            DISPATCH_ONE(KAFKA_API_LIST_GROUPS, list_groups_request)
            DISPATCH_ONE(KAFKA_API_DELETE_GROUPS, delete_groups_request)
            DISPATCH_ONE(KAFKA_API_OFFSET_DELETE, offset_delete_request)
            DISPATCH_ONE(KAFKA_API_ELECT_LEADERS, elect_leaders_request)
#endif
        default:
            return;
        }
    }
    switch (key) {
        DISPATCH_ONE(KAFKA_API_PRODUCE, produce_response)
        DISPATCH_ONE(KAFKA_API_FETCH, fetch_response)
        DISPATCH_ONE(KAFKA_API_LIST_OFFSETS, list_offsets_response)
        DISPATCH_ONE(KAFKA_API_METADATA, metadata_response)
        DISPATCH_ONE(KAFKA_API_API_VERSIONS, api_versions_response)
        DISPATCH_ONE(KAFKA_API_CREATE_TOPICS, create_topics_response)
        DISPATCH_ONE(KAFKA_API_DELETE_TOPICS, delete_topics_response)
        DISPATCH_ONE(KAFKA_API_DESCRIBE_CONFIGS, describe_configs_response)
#ifdef KAFKA_API_FIND_COORDINATOR
        DISPATCH_ONE(KAFKA_API_FIND_COORDINATOR, find_coordinator_response)
        DISPATCH_ONE(KAFKA_API_DELETE_RECORDS, delete_records_response)
        DISPATCH_ONE(KAFKA_API_INIT_PRODUCER_ID, init_producer_id_response)
        DISPATCH_ONE(KAFKA_API_ALTER_CONFIGS, alter_configs_response)
        DISPATCH_ONE(KAFKA_API_CREATE_PARTITIONS, create_partitions_response)
        DISPATCH_ONE(KAFKA_API_INCREMENTAL_ALTER_CONFIGS, incremental_alter_configs_response)
        DISPATCH_ONE(KAFKA_API_DESCRIBE_CLUSTER, describe_cluster_response)
        DISPATCH_ONE(KAFKA_API_DESCRIBE_QUORUM, describe_quorum_response)
        DISPATCH_ONE(KAFKA_API_OFFSET_COMMIT, offset_commit_response)
        DISPATCH_ONE(KAFKA_API_OFFSET_FETCH, offset_fetch_response)
        DISPATCH_ONE(KAFKA_API_JOIN_GROUP, join_group_response)
        DISPATCH_ONE(KAFKA_API_HEARTBEAT, heartbeat_response)
        DISPATCH_ONE(KAFKA_API_LEAVE_GROUP, leave_group_response)
        DISPATCH_ONE(KAFKA_API_SYNC_GROUP, sync_group_response)
        DISPATCH_ONE(KAFKA_API_DESCRIBE_GROUPS, describe_groups_response)
        DISPATCH_ONE(KAFKA_API_LIST_GROUPS, list_groups_response)
        DISPATCH_ONE(KAFKA_API_DELETE_GROUPS, delete_groups_response)
        DISPATCH_ONE(KAFKA_API_OFFSET_DELETE, offset_delete_response)
        DISPATCH_ONE(KAFKA_API_ELECT_LEADERS, elect_leaders_response)
#endif
    default:
        return;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ready) {
        arena_init(&arena, 16384);
        gbuf_init(&out1);
        gbuf_init(&out2);
        ready = true;
    }
    arena_reset(&arena);
    if (size < 4) return 0;

    int16_t key = (int16_t)be16_get(data);
    int16_t version = (int16_t)be16_get(data + 2);
    struct kafka_reader r;
    kafka_reader_init(&r, data, size, &arena);
    struct kafka_request_header h;
    kafka_request_header_decode(&r, kafka_request_header_version(key, version), &h);
    if (r.err) return 0;
    if (h.api_key != key || h.api_version != version) abort();

    const struct kafka_api_info *api = kafka_api_lookup(key);
    if (!api || version < api->min_version || version > api->max_version) return 0;
    check_body(key, version, false, r.p, kafka_reader_left(&r));
    check_body(key, version, true, r.p, kafka_reader_left(&r));
    return 0;
}

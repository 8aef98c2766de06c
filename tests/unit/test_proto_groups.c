/*
 * test_proto_groups.c — Check suite for the consumer-group messages of the generated codec:
 * field by field, what each version keeps and what it leaves at the default (JoinGroup,
 * OffsetCommit, OffsetFetch, SyncGroup), and byte vectors of what kafka-python sends
 * (Heartbeat v1, OffsetCommit v2).  Their every-version round trip is in test_proto_messages.c.
 */
#include "proto_group_builders.h"

#include <stdlib.h>

/* ========================================================================================== */
/* Consumer-group APIs: encode with the generated codec, decode, and check what each version  */
/* keeps and what it leaves at the default                                                     */

/* Encodes msg in version v into buf (reset first), decodes it into out; all bytes consumed. */
#define ENCODE_DECODE(type, v, msg, out)                                                           \
    do {                                                                                           \
        struct kafka_writer w_;                                                                    \
        gbuf_reset(&buf);                                                                          \
        kafka_writer_init(&w_, &buf);                                                              \
        ck_assert_int_eq(kafka_##type##_encode(&w_, (v), (msg)), 0);                               \
        struct kafka_reader r_;                                                                    \
        reader_on(&r_, buf.data, buf.len);                                                         \
        ck_assert_int_eq(kafka_##type##_decode(&r_, (v), (out)), 0);                               \
        ck_assert_uint_eq(kafka_reader_left(&r_), 0);                                              \
    } while (0)

static bool kbytes_eq(struct kafka_bytes b, const void *p, size_t n)
{
    return b.len == (int32_t)n && (n == 0 || memcmp(b.ptr, p, n) == 0);
}
#define KBYTES_EQ(b, lit) kbytes_eq((b), (lit), sizeof(lit) - 1)

START_TEST(test_join_group_request_v5_v9)
{
    const struct kafka_join_group_request *m = build_join_group_request();
    static const int16_t versions[] = {5, 9};
    for (size_t i = 0; i < GR_ARRAY_LEN(versions); i++) {
        int16_t v = versions[i];
        struct kafka_join_group_request d;
        ENCODE_DECODE(join_group_request, v, m, &d);
        ck_assert(kstr_eq(d.group_id, "my-group"));
        ck_assert_int_eq(d.session_timeout_ms, 10000);
        ck_assert_int_eq(d.rebalance_timeout_ms, 300000);
        ck_assert(kstr_eq(d.member_id, ""));
        ck_assert(kstr_eq(d.group_instance_id, "instance-1"));
        ck_assert(kstr_eq(d.protocol_type, "consumer"));
        ck_assert_int_eq(d.protocols_count, 2);
        ck_assert(kstr_eq(d.protocols[0].name, "range"));
        ck_assert(kbytes_eq(d.protocols[0].metadata, join_range_meta, sizeof(join_range_meta)));
        ck_assert(kstr_eq(d.protocols[1].name, "roundrobin"));
        ck_assert(KBYTES_EQ(d.protocols[1].metadata, "rr"));
        if (v >= 8)
            ck_assert(kstr_eq(d.reason, "rebalance needed"));
        else
            ck_assert_int_eq(d.reason.len, -1); /* absent before v8: the default, null */
    }
}
END_TEST

START_TEST(test_join_group_response_v5_v7)
{
    const struct kafka_join_group_response *m = build_join_group_response();
    static const int16_t versions[] = {5, 7};
    for (size_t i = 0; i < GR_ARRAY_LEN(versions); i++) {
        int16_t v = versions[i];
        struct kafka_join_group_response d;
        ENCODE_DECODE(join_group_response, v, m, &d);
        ck_assert_int_eq(d.throttle_time_ms, 1);
        ck_assert_int_eq(d.error_code, 0);
        ck_assert_int_eq(d.generation_id, 7);
        if (v >= 7)
            ck_assert(kstr_eq(d.protocol_type, "consumer"));
        else
            ck_assert_int_eq(d.protocol_type.len, -1);
        ck_assert(kstr_eq(d.protocol_name, "range"));
        ck_assert(kstr_eq(d.leader, "consumer-1-abc"));
        ck_assert(!d.skip_assignment); /* v9 only */
        ck_assert(kstr_eq(d.member_id, "consumer-1-abc"));
        ck_assert_int_eq(d.members_count, 2);
        ck_assert(kstr_eq(d.members[0].member_id, "consumer-1-abc"));
        ck_assert(kstr_eq(d.members[0].group_instance_id, "instance-1"));
        ck_assert(KBYTES_EQ(d.members[0].metadata, "meta-1"));
        ck_assert(kstr_eq(d.members[1].member_id, "consumer-2-def"));
        ck_assert_int_eq(d.members[1].group_instance_id.len, -1);
        ck_assert(KBYTES_EQ(d.members[1].metadata, "meta-two"));
    }
    /* a null protocol name is only legal from v7 */
    struct kafka_join_group_response *n = build_join_group_response();
    n->protocol_name = KSTR_NULL;
    struct kafka_writer w;
    gbuf_reset(&buf);
    kafka_writer_init(&w, &buf);
    ck_assert_int_eq(kafka_join_group_response_encode(&w, 6, n), GR_EINVAL);
    struct kafka_join_group_response d;
    ENCODE_DECODE(join_group_response, 7, n, &d);
    ck_assert_int_eq(d.protocol_name.len, -1);
}
END_TEST

START_TEST(test_offset_commit_request_v2_v8)
{
    const struct kafka_offset_commit_request *m = build_offset_commit_request();
    static const int16_t versions[] = {2, 8};
    for (size_t i = 0; i < GR_ARRAY_LEN(versions); i++) {
        int16_t v = versions[i];
        struct kafka_offset_commit_request d;
        ENCODE_DECODE(offset_commit_request, v, m, &d);
        ck_assert(kstr_eq(d.group_id, "my-group"));
        ck_assert_int_eq(d.generation_id_or_member_epoch, 5);
        ck_assert(kstr_eq(d.member_id, "consumer-1-abc"));
        if (v >= 7)
            ck_assert(kstr_eq(d.group_instance_id, "instance-1"));
        else
            ck_assert_int_eq(d.group_instance_id.len, -1);
        ck_assert(d.retention_time_ms == (v <= 4 ? 86400000 : -1));
        ck_assert_int_eq(d.topics_count, 1);
        ck_assert(kstr_eq(d.topics[0].name, "orders"));
        ck_assert_int_eq(d.topics[0].partitions_count, 2);
        const struct kafka_offset_commit_request_partition *p = d.topics[0].partitions;
        ck_assert_int_eq(p[0].partition_index, 0);
        ck_assert(p[0].committed_offset == 42);
        ck_assert_int_eq(p[0].committed_leader_epoch, v >= 6 ? 3 : -1);
        ck_assert(p[0].commit_timestamp == -1); /* v1 only */
        ck_assert(kstr_eq(p[0].committed_metadata, "meta"));
        ck_assert_int_eq(p[1].partition_index, 1);
        ck_assert(p[1].committed_offset == 7);
        ck_assert_int_eq(p[1].committed_leader_epoch, -1);
        ck_assert_int_eq(p[1].committed_metadata.len, -1);
    }
}
END_TEST

START_TEST(test_offset_fetch_response_v5_v8)
{
    const struct kafka_offset_fetch_response *m = build_offset_fetch_response();

    struct kafka_offset_fetch_response d;
    ENCODE_DECODE(offset_fetch_response, 5, m, &d);
    ck_assert_int_eq(d.throttle_time_ms, 4);
    ck_assert_int_eq(d.error_code, KAFKA_ERR_COORDINATOR_LOAD_IN_PROGRESS);
    ck_assert_int_eq(d.groups_count, 0); /* v8+ */
    ck_assert_int_eq(d.topics_count, 1);
    ck_assert(kstr_eq(d.topics[0].name, "orders"));
    ck_assert_int_eq(d.topics[0].partitions_count, 2);
    const struct kafka_offset_fetch_response_partition *p = d.topics[0].partitions;
    ck_assert_int_eq(p[0].partition_index, 0);
    ck_assert(p[0].committed_offset == 42);
    ck_assert_int_eq(p[0].committed_leader_epoch, 3);
    ck_assert(kstr_eq(p[0].metadata, "meta"));
    ck_assert_int_eq(p[0].error_code, 0);
    ck_assert_int_eq(p[1].partition_index, 1);
    ck_assert(p[1].committed_offset == -1);
    ck_assert_int_eq(p[1].committed_leader_epoch, -1);
    ck_assert_int_eq(p[1].metadata.len, -1);
    ck_assert_int_eq(p[1].error_code, KAFKA_ERR_UNSTABLE_OFFSET_COMMIT);

    ENCODE_DECODE(offset_fetch_response, 8, m, &d);
    ck_assert_int_eq(d.throttle_time_ms, 4);
    ck_assert_int_eq(d.error_code, 0);   /* v2-7 only */
    ck_assert_int_eq(d.topics_count, 0); /* v0-7 only */
    ck_assert_int_eq(d.groups_count, 2);
    ck_assert(kstr_eq(d.groups[0].group_id, "my-group"));
    ck_assert_int_eq(d.groups[0].error_code, 0);
    ck_assert_int_eq(d.groups[0].topics_count, 1);
    ck_assert(kstr_eq(d.groups[0].topics[0].name, "orders"));
    ck_assert_int_eq(d.groups[0].topics[0].partitions_count, 1);
    const struct kafka_offset_fetch_response_partitions *gp = d.groups[0].topics[0].partitions;
    ck_assert_int_eq(gp->partition_index, 2);
    ck_assert(gp->committed_offset == 99);
    ck_assert_int_eq(gp->committed_leader_epoch, 4);
    ck_assert(kstr_eq(gp->metadata, ""));
    ck_assert_int_eq(gp->error_code, 0);
    ck_assert(kstr_eq(d.groups[1].group_id, "other-group"));
    ck_assert_int_eq(d.groups[1].topics_count, 0);
    ck_assert_int_eq(d.groups[1].error_code, KAFKA_ERR_GROUP_AUTHORIZATION_FAILED);
}
END_TEST

START_TEST(test_sync_group_request_v3)
{
    const struct kafka_sync_group_request *m = build_sync_group_request();
    struct kafka_sync_group_request d;
    ENCODE_DECODE(sync_group_request, 3, m, &d);
    ck_assert(kstr_eq(d.group_id, "my-group"));
    ck_assert_int_eq(d.generation_id, 7);
    ck_assert(kstr_eq(d.member_id, "consumer-1-abc"));
    ck_assert(kstr_eq(d.group_instance_id, "instance-1"));
    ck_assert_int_eq(d.protocol_type.len, -1); /* v5+ */
    ck_assert_int_eq(d.protocol_name.len, -1);
    ck_assert_int_eq(d.assignments_count, 2);
    ck_assert(kstr_eq(d.assignments[0].member_id, "consumer-1-abc"));
    ck_assert(KBYTES_EQ(d.assignments[0].assignment, "orders:0,1"));
    ck_assert(kstr_eq(d.assignments[1].member_id, "consumer-2-def"));
    ck_assert_int_eq(d.assignments[1].assignment.len, 0);
}
END_TEST

/* kafka-python 2.0.2: HeartbeatRequest[1]('my-group', 3, 'consumer-1-abc') sent with
 * client_id kafka-python-2.0.2 (bytes from kafka.protocol.parser.KafkaProtocol.send_bytes,
 * without the int32 size). */
START_TEST(test_vector_heartbeat_v1_request_kafka_python)
{
    static const uint8_t frame[] = {
        0x00, 0x0c, 0x00, 0x01, 0x00, 0x00, 0x00, 0x07, /* key 12, v1, correlation 7 */
        0x00, 0x12, 'k',  'a',  'f',  'k',  'a',  '-',  'p', 'y', 't', 'h', 'o', 'n', '-', '2',
        '.',  '0',  '.',  '2',                                    /* client_id */
        0x00, 0x08, 'm',  'y',  '-',  'g',  'r',  'o',  'u', 'p', /* group_id */
        0x00, 0x00, 0x00, 0x03,                                   /* generation_id 3 */
        0x00, 0x0e, 'c',  'o',  'n',  's',  'u',  'm',  'e', 'r', '-', '1', '-', 'a', 'b', 'c',
        /* member_id */
    };
    struct kafka_reader r;
    reader_on(&r, frame, sizeof(frame));
    int hv = kafka_request_header_version(KAFKA_API_HEARTBEAT, 1);
    ck_assert_int_eq(hv, 1);
    struct kafka_request_header h;
    kafka_request_header_decode(&r, hv, &h);
    ck_assert_int_eq(r.err, 0);
    ck_assert_int_eq(h.api_key, KAFKA_API_HEARTBEAT);
    ck_assert_int_eq(h.api_version, 1);
    ck_assert_int_eq(h.correlation_id, 7);
    ck_assert(kstr_eq(h.client_id, "kafka-python-2.0.2"));
    struct kafka_heartbeat_request req;
    ck_assert_int_eq(kafka_heartbeat_request_decode(&r, 1, &req), 0);
    ck_assert_uint_eq(kafka_reader_left(&r), 0);
    ck_assert(kstr_eq(req.group_id, "my-group"));
    ck_assert_int_eq(req.generation_id, 3);
    ck_assert(kstr_eq(req.member_id, "consumer-1-abc"));
    ck_assert_int_eq(req.group_instance_id.len, -1); /* v3+ */

    /* and we produce the same bytes */
    struct kafka_writer w;
    kafka_writer_init(&w, &buf);
    kafka_request_header_encode(&w, hv, &h);
    ck_assert_int_eq(kafka_heartbeat_request_encode(&w, 1, &req), 0);
    expect_bytes(&buf, frame, sizeof(frame));
}
END_TEST

/* kafka-python 2.0.2: OffsetCommitRequest[2]('my-group', 3, 'consumer-1-abc', -1,
 * [('orders', [(0, 42, ''), (1, 7, 'meta')])]).encode() -- our encoder writes the same body. */
START_TEST(test_vector_offset_commit_v2_request_kafka_python)
{
    static const uint8_t want[] = {
        0x00, 0x08, 'm',  'y',  '-',  'g',  'r',  'o',  'u', 'p', /* group_id */
        0x00, 0x00, 0x00, 0x03,                                   /* generation 3 */
        0x00, 0x0e, 'c',  'o',  'n',  's',  'u',  'm',  'e', 'r',
        '-',  '1',  '-',  'a',  'b',  'c',              /* member_id */
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* retention -1 */
        0x00, 0x00, 0x00, 0x01,                         /* topics: 1 */
        0x00, 0x06, 'o',  'r',  'd',  'e',  'r',  's',  /* "orders" */
        0x00, 0x00, 0x00, 0x02,                         /* partitions: 2 */
        0x00, 0x00, 0x00, 0x00,                         /* partition 0 */
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a, /* offset 42 */
        0x00, 0x00,                                     /* metadata "" */
        0x00, 0x00, 0x00, 0x01,                         /* partition 1 */
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, /* offset 7 */
        0x00, 0x04, 'm',  'e',  't',  'a',              /* metadata "meta" */
    };
    struct kafka_offset_commit_request_partition parts[2];
    kafka_offset_commit_request_partition_init(&parts[0]);
    kafka_offset_commit_request_partition_init(&parts[1]);
    parts[0].partition_index = 0;
    parts[0].committed_offset = 42;
    parts[0].committed_metadata = KSTR("");
    parts[1].partition_index = 1;
    parts[1].committed_offset = 7;
    parts[1].committed_metadata = KSTR("meta");
    struct kafka_offset_commit_request_topic topic = {KSTR("orders"), parts, 2};
    struct kafka_offset_commit_request req;
    kafka_offset_commit_request_init(&req);
    req.group_id = KSTR("my-group");
    req.generation_id_or_member_epoch = 3;
    req.member_id = KSTR("consumer-1-abc");
    req.topics = &topic;
    req.topics_count = 1;
    ck_assert(req.retention_time_ms == -1); /* the schema default */
    struct kafka_writer w;
    kafka_writer_init(&w, &buf);
    ck_assert_int_eq(kafka_offset_commit_request_encode(&w, 2, &req), 0);
    expect_bytes(&buf, want, sizeof(want));
}
END_TEST

/* ========================================================================================== */

int main(void)
{
    Suite *s = suite_create("proto_groups");
    TCase *msgs = tcase_create("messages");
    tcase_add_checked_fixture(msgs, setup, teardown);
    tcase_add_test(msgs, test_join_group_request_v5_v9);
    tcase_add_test(msgs, test_join_group_response_v5_v7);
    tcase_add_test(msgs, test_offset_commit_request_v2_v8);
    tcase_add_test(msgs, test_offset_fetch_response_v5_v8);
    tcase_add_test(msgs, test_sync_group_request_v3);
    suite_add_tcase(s, msgs);
    TCase *vec = tcase_create("vectors");
    tcase_add_checked_fixture(vec, setup, teardown);
    tcase_add_test(vec, test_vector_heartbeat_v1_request_kafka_python);
    tcase_add_test(vec, test_vector_offset_commit_v2_request_kafka_python);
    suite_add_tcase(s, vec);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}

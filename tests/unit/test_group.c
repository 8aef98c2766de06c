/* test_group.c — Check suite for the pure parts of the group coordinator: Java's String
 * hashCode and Kafka's partitionFor(group), and the records of __consumer_offsets in Kafka's
 * formats (round trips, older versions, tombstones, bad bytes). */
#include "broker/broker_int.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static int32_t jhash(const char *s)
{
    return grp_java_string_hash(s, strlen(s));
}

START_TEST(test_java_string_hash)
{
    /* values of String.hashCode() in Java */
    ck_assert_int_eq(jhash(""), 0);
    ck_assert_int_eq(jhash("abc"), 96354);
    ck_assert_int_eq(jhash("hello"), 99162322);
    ck_assert_int_eq(jhash("\xc3\xa9"), 233);          /* U+00E9: one UTF-16 unit */
    ck_assert_int_eq(jhash("\xf0\x9f\x98\x80"), 1772899); /* U+1F600: a surrogate pair */
    ck_assert_int_eq(jhash("polygenelubricants"), INT32_MIN);
    /* Kafka's Utils.abs maps Integer.MIN_VALUE to 0; negative hashes are made positive */
    ck_assert_int_eq(grp_partition_for("polygenelubricants", 18, 50), 0);
    int32_t h = jhash("my-group");
    int32_t want = (h < 0 ? -h : h) % 50;
    ck_assert_int_eq(grp_partition_for("my-group", 8, 50), want);
    ck_assert_int_eq(grp_partition_for("hello", 5, 50), 99162322 % 50);
}
END_TEST

START_TEST(test_offset_record_round_trip)
{
    struct gbuf k, v;
    gbuf_init(&k);
    gbuf_init(&v);
    struct kafka_writer w;
    kafka_writer_init(&w, &k);
    grp_offset_key_encode(&w, "g", "topic-a", 7);
    struct grp_offset o = {12345, 3, "meta", 1700000000000};
    kafka_writer_init(&w, &v);
    grp_offset_value_encode(&w, &o);
    /* Kafka's layout: key v1 = version, group, topic, partition */
    static const uint8_t key[] = {0, 1, 0, 1, 'g', 0, 7, 't', 'o', 'p', 'i', 'c', '-', 'a',
                                  0, 0, 0, 7};
    ck_assert_uint_eq(k.len, sizeof key);
    ck_assert(!memcmp(k.data, key, sizeof key));
    ck_assert_uint_eq(v.len, 2 + 8 + 4 + 2 + 4 + 8);
    struct arena a;
    arena_init(&a, 4096);
    struct grp_record r;
    ck_assert_int_eq(grp_record_decode(k.data, (int32_t)k.len, v.data, (int32_t)v.len, &a, &r), 0);
    ck_assert_int_eq(r.kind, GRP_REC_OFFSET);
    ck_assert_str_eq(r.group, "g");
    ck_assert_str_eq(r.topic, "topic-a");
    ck_assert_int_eq(r.partition, 7);
    ck_assert(!r.tombstone);
    ck_assert_int_eq(r.offset.offset, 12345);
    ck_assert_int_eq(r.offset.leader_epoch, 3);
    ck_assert_str_eq(r.offset.metadata, "meta");
    ck_assert_int_eq(r.offset.commit_ts, 1700000000000);
    /* a tombstone */
    ck_assert_int_eq(grp_record_decode(k.data, (int32_t)k.len, NULL, -1, &a, &r), 0);
    ck_assert(r.tombstone);
    /* value v1 (Kafka 2.0): offset, metadata, commit and expire timestamps, no epoch */
    static const uint8_t v1[] = {0, 1, 0, 0, 0, 0, 0, 0, 0, 42, 0, 0,
                                 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 10};
    ck_assert_int_eq(grp_record_decode(k.data, (int32_t)k.len, v1, sizeof v1, &a, &r), 0);
    ck_assert_int_eq(r.offset.offset, 42);
    ck_assert_int_eq(r.offset.leader_epoch, -1);
    ck_assert_int_eq(r.offset.commit_ts, 9);
    /* every truncation of the value is refused, never read past */
    for (size_t n = 0; n < v.len; n++)
        ck_assert_int_ne(grp_record_decode(k.data, (int32_t)k.len, v.data, (int32_t)n, &a, &r), 0);
    /* an unknown key version (a transaction record, KIP-848's) is not ours */
    static const uint8_t k9[] = {0, 9, 0, 1, 'g'};
    ck_assert_int_eq(grp_record_decode(k9, sizeof k9, NULL, -1, &a, &r), GR_EUNSUP);
    arena_close(&a);
    gbuf_close(&k);
    gbuf_close(&v);
}
END_TEST

START_TEST(test_group_record_round_trip)
{
    uint8_t sub[] = {0, 1, 0, 0, 0, 1, 0, 2, 't', '1', 0, 0, 0, 0};
    uint8_t asg[] = {1, 2, 3};
    struct grp_member_value ms[2] = {
        {"m1", NULL, "c1", "/127.0.0.1", 300000, 45000, sub, asg, sizeof sub, sizeof asg},
        {"m2", "static-2", "c2", "/127.0.0.1", 300000, 10000, NULL, NULL, 0, 0},
    };
    struct grp_group_value g = {"consumer", "range", "m1", 4, 1700000000000, ms, 2};
    struct gbuf k, v;
    gbuf_init(&k);
    gbuf_init(&v);
    struct kafka_writer w;
    kafka_writer_init(&w, &k);
    grp_group_key_encode(&w, "grp");
    kafka_writer_init(&w, &v);
    grp_group_value_encode(&w, &g);
    struct arena a;
    arena_init(&a, 4096);
    struct grp_record r;
    ck_assert_int_eq(grp_record_decode(k.data, (int32_t)k.len, v.data, (int32_t)v.len, &a, &r), 0);
    ck_assert_int_eq(r.kind, GRP_REC_GROUP);
    ck_assert_str_eq(r.group, "grp");
    const struct grp_group_value *d = &r.group_value;
    ck_assert_str_eq(d->protocol_type, "consumer");
    ck_assert_str_eq(d->protocol, "range");
    ck_assert_str_eq(d->leader, "m1");
    ck_assert_int_eq(d->generation, 4);
    ck_assert_int_eq(d->member_count, 2);
    ck_assert_str_eq(d->members[0].member_id, "m1");
    ck_assert_ptr_null(d->members[0].instance_id);
    ck_assert_str_eq(d->members[1].instance_id, "static-2");
    ck_assert_int_eq(d->members[0].session_ms, 45000);
    ck_assert_int_eq(d->members[0].assignment_len, 3);
    ck_assert(!memcmp(d->members[0].assignment, asg, 3));
    ck_assert(grp_subscription_has_topic(d->members[0].subscription,
                                         d->members[0].subscription_len, "t1"));
    ck_assert(!grp_subscription_has_topic(d->members[0].subscription,
                                          d->members[0].subscription_len, "t2"));
    for (size_t n = 0; n < v.len; n++)
        ck_assert_int_ne(grp_record_decode(k.data, (int32_t)k.len, v.data, (int32_t)n, &a, &r), 0);
    arena_close(&a);
    gbuf_close(&k);
    gbuf_close(&v);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("group");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_java_string_hash);
    tcase_add_test(tc, test_offset_record_round_trip);
    tcase_add_test(tc, test_group_record_round_trip);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

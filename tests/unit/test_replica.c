/* test_replica.c — Check suite for the replication rules of broker/: the leader's high
 * watermark, its view of a follower's fetches (in sync or lagging), where a follower truncates
 * on a diverging epoch, and idempotent producers' sequence checks.  Deterministic: no sockets,
 * no clock. */
#include "broker/broker_int.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

START_TEST(test_high_watermark_follows_the_isr)
{
    struct broker_follower f[2] = {{.id = 2, .leo = 7}, {.id = 3, .leo = -1}};
    int32_t isr12[] = {1, 2}, isr123[] = {1, 2, 3};
    /* the ISR's smallest log end, the leader's own included */
    ck_assert_int_eq(broker_replica_compute_hw(10, 5, f, 2, isr12, 2, -1), 7);
    ck_assert_int_eq(broker_replica_compute_hw(6, 5, f, 2, isr12, 2, -1), 6);
    /* a follower out of the ISR does not hold it back ... */
    f[0].leo = 1;
    ck_assert_int_eq(broker_replica_compute_hw(10, 5, f, 2, (int32_t[]){1}, 1, -1), 10);
    /* ... one whose log end is unknown (a new leader has not heard from it) holds it where it
     * is, and it never goes back */
    ck_assert_int_eq(broker_replica_compute_hw(10, 5, f, 2, isr123, 3, -1), 5);
    ck_assert_int_eq(broker_replica_compute_hw(10, 8, f, 2, isr12, 2, -1), 8);
    /* a follower being added to the ISR already counts (Kafka's maximal ISR) */
    f[0].leo = 9;
    f[1].leo = 4;
    ck_assert_int_eq(broker_replica_compute_hw(10, 0, f, 2, isr12, 2, 3), 4);
    ck_assert_int_eq(broker_replica_compute_hw(10, 0, f, 2, isr12, 2, -1), 9);
}
END_TEST

START_TEST(test_follower_caught_up_rules)
{
    struct broker_follower f = {.id = 2, .leo = -1};
    /* fetching at our log end: caught up now */
    broker_replica_fetch_update(&f, 100, 100, 1000);
    ck_assert_int_eq(f.last_caught_up_ms, 1000);
    ck_assert_int_eq(f.leo, 100);
    /* behind a busy leader but with everything it had at the previous fetch: caught up as of
     * that fetch */
    broker_replica_fetch_update(&f, 100, 150, 1500);
    ck_assert_int_eq(f.last_caught_up_ms, 1000);
    broker_replica_fetch_update(&f, 150, 200, 2000);
    ck_assert_int_eq(f.last_caught_up_ms, 1500);
    /* stuck: the caught-up time stops, and it ages towards replica.lag.time.max.ms */
    broker_replica_fetch_update(&f, 160, 300, 2500);
    broker_replica_fetch_update(&f, 160, 300, 9000);
    ck_assert_int_eq(f.last_caught_up_ms, 1500);
    ck_assert_int_eq(f.leo, 160);
    /* a fetch offset beyond our end (a follower with records we lost) counts as our end */
    broker_replica_fetch_update(&f, 400, 300, 9500);
    ck_assert_int_eq(f.leo, 300);
    ck_assert_int_eq(f.last_caught_up_ms, 9500);
}
END_TEST

START_TEST(test_truncation_on_diverging_epoch)
{
    /* the leader ends our last epoch earlier than we do: cut to its end */
    ck_assert_int_eq(broker_replica_truncation_offset(120, 90, 3, 100, 120), 100);
    /* it ends that epoch later than we do (we lack its later records): keep ours */
    ck_assert_int_eq(broker_replica_truncation_offset(120, 90, 3, 130, 110), 110);
    /* it answered with an older epoch than ours: both logs agree up to the end of that one */
    ck_assert_int_eq(broker_replica_truncation_offset(120, 90, 2, 95, 97), 95);
    /* it knows none of our epochs: the high watermark is all that is safe */
    ck_assert_int_eq(broker_replica_truncation_offset(120, 90, 3, -1, 120), 90);
    /* an epoch we do not have: the high watermark */
    ck_assert_int_eq(broker_replica_truncation_offset(120, 90, 4, 100, -1), 90);
    /* undefined epoch with an end offset: its end, if shorter */
    ck_assert_int_eq(broker_replica_truncation_offset(120, 90, -1, 100, -1), 100);
    /* never past our own end, never negative */
    ck_assert_int_eq(broker_replica_truncation_offset(50, 40, 3, 100, 120), 50);
    ck_assert_int_eq(broker_replica_truncation_offset(50, -1, 3, -1, 10), 0);
}
END_TEST

/* A batch of `n` records from producer (pid, epoch) starting at sequence seq, stored at base. */
static size_t batch(struct gbuf *out, int64_t base, int64_t pid, int16_t epoch, int32_t seq,
                    int n)
{
    struct rb_builder b;
    rb_builder_init(&b, base, RB_CODEC_NONE);
    b.producer_id = pid;
    b.producer_epoch = epoch;
    b.base_sequence = seq;
    for (int i = 0; i < n; i++) ck_assert_int_eq(rb_builder_add(&b, 1, NULL, -1, "v", 1, NULL, 0), 0);
    size_t at = out->len;
    ck_assert_int_eq(rb_builder_finish(&b, out), 0);
    rb_builder_close(&b);
    return out->len - at;
}

static int16_t check(struct broker_partition *p, int64_t base, int64_t pid, int16_t epoch,
                     int32_t seq, int n, int64_t *dup, bool store)
{
    struct gbuf g;
    gbuf_init(&g);
    batch(&g, base, pid, epoch, seq, n);
    int16_t ec = broker_pstate_check(p, g.data, g.len, dup);
    if (store && ec == KAFKA_ERR_NONE && *dup < 0) broker_pstate_appended(p, g.data, g.len);
    gbuf_close(&g);
    return ec;
}

START_TEST(test_idempotent_sequences)
{
    struct broker_partition p;
    memset(&p, 0, sizeof p);
    int64_t dup;
    /* a new producer starts at 0; anything else is a producer we do not know */
    ck_assert_int_eq(check(&p, 0, 7, 0, 3, 1, &dup, false), KAFKA_ERR_UNKNOWN_PRODUCER_ID);
    ck_assert_int_eq(check(&p, 0, 7, 0, 0, 2, &dup, true), KAFKA_ERR_NONE);
    ck_assert_int_eq(dup, -1);
    ck_assert_int_eq(check(&p, 2, 7, 0, 2, 3, &dup, true), KAFKA_ERR_NONE);
    /* a retry of either batch: its original offset, not stored again */
    ck_assert_int_eq(check(&p, 5, 7, 0, 0, 2, &dup, true), KAFKA_ERR_NONE);
    ck_assert_int_eq(dup, 0);
    ck_assert_int_eq(check(&p, 5, 7, 0, 2, 3, &dup, true), KAFKA_ERR_NONE);
    ck_assert_int_eq(dup, 2);
    /* a gap, and an overlap that is no batch we have */
    ck_assert_int_eq(check(&p, 5, 7, 0, 6, 1, &dup, true), KAFKA_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
    ck_assert_int_eq(check(&p, 5, 7, 0, 1, 2, &dup, true), KAFKA_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
    /* only the last five batches are kept */
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(check(&p, 5 + i, 7, 0, 5 + i, 1, &dup, true), KAFKA_ERR_NONE);
    ck_assert_int_eq(check(&p, 10, 7, 0, 0, 2, &dup, true), KAFKA_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
    ck_assert_int_eq(check(&p, 10, 7, 0, 9, 1, &dup, true), KAFKA_ERR_NONE);
    ck_assert_int_eq(dup, 9);
    /* a newer epoch starts again at 0 and fences the older one */
    ck_assert_int_eq(check(&p, 10, 7, 1, 4, 1, &dup, true), KAFKA_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
    ck_assert_int_eq(check(&p, 10, 7, 1, 0, 1, &dup, true), KAFKA_ERR_NONE);
    ck_assert_int_eq(check(&p, 11, 7, 0, 10, 1, &dup, true), KAFKA_ERR_INVALID_PRODUCER_EPOCH);
    /* sequences wrap after INT32_MAX (state seeded as a follower would learn it) */
    struct gbuf g;
    gbuf_init(&g);
    batch(&g, 11, 8, 0, INT32_MAX - 1, 2);
    broker_pstate_appended(&p, g.data, g.len);
    gbuf_close(&g);
    ck_assert_int_eq(check(&p, 13, 8, 0, 1, 1, &dup, true), KAFKA_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
    ck_assert_int_eq(check(&p, 13, 8, 0, 0, 1, &dup, true), KAFKA_ERR_NONE);
    ck_assert_int_eq(check(&p, 14, 9, 0, 0, 1, &dup, true), KAFKA_ERR_NONE);
    /* other producers are independent; a batch without a producer id is not checked */
    ck_assert_int_eq(check(&p, 15, -1, -1, -1, 1, &dup, true), KAFKA_ERR_NONE);
    ck_assert_int_eq(check(&p, 15, 8, 0, 1, 1, &dup, true), KAFKA_ERR_NONE);
    ck_assert_int_eq(check(&p, 16, 9, 0, 1, 1, &dup, true), KAFKA_ERR_NONE);
    broker_pstate_free(&p);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("replica");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_high_watermark_follows_the_isr);
    tcase_add_test(tc, test_follower_caught_up_rules);
    tcase_add_test(tc, test_truncation_on_diverging_epoch);
    tcase_add_test(tc, test_idempotent_sequences);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* test_cli_groups.c — Check suite for the pure argument parsers of `gregor consumer-groups`
 * (cli/cli_groups_parse.c): --by-duration, --to-datetime and --topic topic:p1,p2. */
#include "cli/cli_int.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static int64_t dt(const char *s)
{
    int64_t ms = 0;
    ck_assert_msg(cli_groups_parse_datetime(s, &ms) == 0, "datetime '%s' refused", s);
    return ms;
}

static void dt_bad(const char *s)
{
    int64_t ms = 12345;
    ck_assert_msg(cli_groups_parse_datetime(s, &ms) == GR_EINVAL, "datetime '%s' accepted", s);
    ck_assert(ms == 12345);
}

START_TEST(test_datetime)
{
    /* no zone means UTC, as Kafka appends "Z" */
    ck_assert(dt("2023-11-14T22:13:20.000") == 1700000000000LL);
    ck_assert(dt("2023-11-14T22:13:20.123Z") == 1700000000123LL);
    ck_assert(dt("2023-11-14T23:13:20.000+01:00") == 1700000000000LL);
    ck_assert(dt("2023-11-14T17:13:20.000-05:00") == 1700000000000LL);
    ck_assert(dt("2023-11-14T23:13:20.000+01") == 1700000000000LL);
    ck_assert(dt("2023-11-14T23:43:20.000+0130") == 1700000000000LL);
    ck_assert(dt("1970-01-01T00:00:00.000") == 0);
    ck_assert(dt("1969-12-31T23:59:59.000") == -1000);
    ck_assert(dt("2000-03-01T00:00:00.000") == 951868800000LL);
    /* SimpleDateFormat reads "SSS" as a number: ".5" is 5 ms */
    ck_assert(dt("1970-01-01T00:00:00.5") == 5);
    /* leap years */
    ck_assert(dt("2024-02-29T00:00:00.000") == 1709164800000LL);
    dt("2000-02-29T12:00:00.000");
    dt_bad("2023-02-29T00:00:00.000");
    dt_bad("1900-02-29T00:00:00.000");
    /* strict fields */
    dt_bad("2023-11-14");
    dt_bad("2023-11-14T");
    dt_bad("2023-11-14T22:13:20");
    dt_bad("2023-11-14T22:13:20Z");
    dt_bad("2023-13-01T00:00:00.000");
    dt_bad("2023-00-01T00:00:00.000");
    dt_bad("2023-11-31T00:00:00.000");
    dt_bad("2023-11-14T24:00:00.000");
    dt_bad("2023-11-14T22:60:00.000");
    dt_bad("2023-11-14T22:13:60.000");
    dt_bad("2023-11-14T22:13:20.1000");
    dt_bad("2023-11-14 22:13:20.000");
    dt_bad("2023/11/14T22:13:20.000");
    dt_bad("0000-01-01T00:00:00.000");
    /* zones */
    dt_bad("2023-11-14T22:13:20.000X");
    dt_bad("2023-11-14T22:13:20.000+25:00");
    dt_bad("2023-11-14T22:13:20.000+01:60");
    dt_bad("2023-11-14T22:13:20.000+01:");
    dt_bad("2023-11-14T22:13:20.000+1");
    dt_bad("2023-11-14T22:13:20.000Zjunk");
    dt_bad("2023-11-14T22:13:20.000+01:00:00");
}
END_TEST

static int64_t dur(const char *s)
{
    int64_t ms = 0;
    ck_assert_msg(cli_groups_parse_duration(s, &ms) == 0, "duration '%s' refused", s);
    return ms;
}

static void dur_bad(const char *s)
{
    int64_t ms = 12345;
    ck_assert_msg(cli_groups_parse_duration(s, &ms) == GR_EINVAL, "duration '%s' accepted", s);
    ck_assert(ms == 12345);
}

START_TEST(test_duration)
{
    ck_assert(dur("PT1H") == 3600000);
    ck_assert(dur("P1D") == 86400000);
    ck_assert(dur("P1DT2H3M4S") == 93784000);
    ck_assert(dur("pt15m") == 900000);
    ck_assert(dur("PT0S") == 0);
    ck_assert(dur("PT0.5S") == 500);
    ck_assert(dur("PT1,5S") == 1500);
    ck_assert(dur("PT1.S") == 1000);
    ck_assert(dur("PT0.123456789S") == 124); /* rounded up, as Instant.minus then toEpochMilli */
    ck_assert(dur("PT0.0005S") == 1);
    ck_assert(dur("-PT1H") == -3600000);
    ck_assert(dur("+PT1H") == 3600000);
    ck_assert(dur("PT-1H") == -3600000);
    ck_assert(dur("PT1H-30M") == 1800000);
    ck_assert(dur("P-1DT24H") == 0);
    ck_assert(dur("PT-0.5S") == -500);
    ck_assert(dur("-PT0.5S") == -500);
    ck_assert(dur("-PT0.0005S") == 0);
    ck_assert(dur("-PT1.5S") == -1500);
    ck_assert(dur("P2DT3H") == (2 * 86400 + 3 * 3600) * 1000LL);
    ck_assert(dur("PT36H") == 36 * 3600 * 1000LL);
    dur_bad("");
    dur_bad("P");
    dur_bad("PT");
    dur_bad("P1DT");
    dur_bad("1H");
    dur_bad("T1H");
    dur_bad("PT1");
    dur_bad("P1H");
    dur_bad("PT1S1M");
    dur_bad("PT1M1H");
    dur_bad("P1W");
    dur_bad("P1Y");
    dur_bad("P1M");
    dur_bad("PTH");
    dur_bad("PT1.5H");
    dur_bad("PT1.1234567891S");
    dur_bad("PT1H ");
    dur_bad(" PT1H");
    dur_bad("--PT1H");
    int64_t ms;
    ck_assert_int_eq(cli_groups_parse_duration("P106751991167301D", &ms), GR_ERANGE);
    ck_assert_int_eq(cli_groups_parse_duration("PT99999999999999999999S", &ms), GR_ERANGE);
}
END_TEST

struct spec {
    char topic[64];
    bool has_parts;
    int32_t parts[8];
    size_t n;
    char err[256];
};

static int spec(const char *s, struct spec *o)
{
    memset(o, 0, sizeof *o);
    return cli_groups_parse_topic_spec(s, o->topic, sizeof o->topic, &o->has_parts, o->parts,
                                       GR_ARRAY_LEN(o->parts), &o->n, o->err, sizeof o->err);
}

START_TEST(test_topic_spec)
{
    struct spec o;
    ck_assert_int_eq(spec("orders", &o), 0);
    ck_assert_str_eq(o.topic, "orders");
    ck_assert(!o.has_parts);
    ck_assert_uint_eq(o.n, 0);

    ck_assert_int_eq(spec("orders:0,1,2", &o), 0);
    ck_assert_str_eq(o.topic, "orders");
    ck_assert(o.has_parts);
    ck_assert_uint_eq(o.n, 3);
    ck_assert_int_eq(o.parts[0], 0);
    ck_assert_int_eq(o.parts[1], 1);
    ck_assert_int_eq(o.parts[2], 2);

    ck_assert_int_eq(spec("my.topic-1:7", &o), 0);
    ck_assert_str_eq(o.topic, "my.topic-1");
    ck_assert_uint_eq(o.n, 1);
    ck_assert_int_eq(o.parts[0], 7);

    /* Java's split drops trailing empty pieces */
    ck_assert_int_eq(spec("orders:0,1,", &o), 0);
    ck_assert_uint_eq(o.n, 2);
    ck_assert_int_eq(spec("orders:,", &o), 0);
    ck_assert(o.has_parts);
    ck_assert_uint_eq(o.n, 0);
    /* Integer.parseInt takes a sign */
    ck_assert_int_eq(spec("orders:+1,-1", &o), 0);
    ck_assert_int_eq(o.parts[0], 1);
    ck_assert_int_eq(o.parts[1], -1);
    ck_assert_int_eq(spec("orders:2147483647", &o), 0);
    ck_assert_int_eq(o.parts[0], INT32_MAX);

    ck_assert_int_eq(spec("orders:", &o), GR_EINVAL);
    ck_assert_str_eq(o.err, "Invalid topic arg 'orders:', expected topic name and partitions");
    ck_assert_int_eq(spec("a:b:0", &o), GR_EINVAL);
    ck_assert_str_eq(o.err, "Invalid topic arg 'a:b:0', expected topic name and partitions");
    ck_assert_int_eq(spec("orders:a", &o), GR_EINVAL);
    ck_assert_str_eq(o.err, "Invalid partition 'a' specified in topic arg 'orders:a''");
    ck_assert_int_eq(spec("orders:0,,1", &o), GR_EINVAL);
    ck_assert_str_eq(o.err, "Invalid partition '' specified in topic arg 'orders:0,,1''");
    ck_assert_int_eq(spec("orders: 1", &o), GR_EINVAL);
    ck_assert_int_eq(spec("orders:2147483648", &o), GR_EINVAL);
    ck_assert_int_eq(spec("orders:-", &o), GR_EINVAL);
    ck_assert_int_eq(spec(":0", &o), GR_EINVAL);
    ck_assert_int_eq(spec("", &o), GR_EINVAL);
    ck_assert_int_eq(spec("t:0,1,2,3,4,5,6,7,8", &o), GR_EINVAL); /* more than parts_max */
    char big[100];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    ck_assert_int_eq(spec(big, &o), GR_EINVAL); /* longer than the topic buffer */
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cli_groups");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, test_datetime);
    tcase_add_test(tc, test_duration);
    tcase_add_test(tc, test_topic_spec);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

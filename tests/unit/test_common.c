/* test_common.c — Check suite for common/: CRC-32C, varints, UUIDs, properties, buffers. */
#include "common/common.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

START_TEST(test_crc32c_vectors)
{
    ck_assert_uint_eq(crc32c(0, "123456789", 9), 0xE3069283u);
    ck_assert_uint_eq(crc32c(0, "", 0), 0);
    uint8_t zeros[32] = {0};
    ck_assert_uint_eq(crc32c(0, zeros, 32), 0x8A9136AAu); /* RFC 3720 B.4 */
    uint8_t buf[1000];
    for (int i = 0; i < 1000; i++) buf[i] = (uint8_t)(i * 7);
    /* incremental == one shot, at every split and alignment */
    uint32_t whole = crc32c(0, buf, sizeof buf);
    for (int s = 0; s < 40; s++) ck_assert_uint_eq(crc32c(crc32c(0, buf, s), buf + s, 1000 - s), whole);
}
END_TEST

START_TEST(test_varints)
{
    uint8_t b[10];
    uint64_t vals[] = {0, 1, 127, 128, 300, 16383, 16384, 0xFFFFFFFFull, UINT64_MAX};
    for (size_t i = 0; i < GR_ARRAY_LEN(vals); i++) {
        size_t n = uvarint_put(b, vals[i]);
        ck_assert_uint_eq(n, uvarint_size(vals[i]));
        uint64_t out;
        ck_assert_uint_eq(uvarint_get(b, b + n, &out, 10), n);
        ck_assert(out == vals[i]);
        if (n > 1) ck_assert_uint_eq(uvarint_get(b, b + n - 1, &out, 10), 0); /* truncated */
    }
    int64_t s[] = {0, -1, 1, -64, 63, INT64_MIN, INT64_MAX};
    for (size_t i = 0; i < GR_ARRAY_LEN(s); i++) ck_assert(unzigzag64(zigzag64(s[i])) == s[i]);
    ck_assert_uint_eq(zigzag64(-1), 1);
    ck_assert_uint_eq(zigzag64(1), 2);
    uint8_t too_long[6] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
    uint64_t out;
    ck_assert_uint_eq(uvarint_get(too_long, too_long + 6, &out, 5), 0);
}
END_TEST

START_TEST(test_uuid_base64)
{
    for (int i = 0; i < 200; i++) {
        struct gr_uuid u, v;
        ck_assert_int_eq(gr_uuid_random(&u), 0);
        char s[23];
        gr_uuid_to_base64(&u, s);
        ck_assert_uint_eq(strlen(s), 22);
        ck_assert(s[0] != '-');
        ck_assert_int_eq(gr_uuid_from_base64(s, &v), 0);
        ck_assert(!memcmp(u.b, v.b, 16));
    }
    struct gr_uuid z;
    ck_assert_int_eq(gr_uuid_from_base64("AAAAAAAAAAAAAAAAAAAAAA", &z), 0);
    ck_assert(gr_uuid_is_zero(&z));
    ck_assert_int_eq(gr_uuid_from_base64("short", &z), GR_EINVAL);
    ck_assert_int_eq(gr_uuid_from_base64("AAAAAAAAAAAAAAAAAAAAA*", &z), GR_EINVAL);
}
END_TEST

START_TEST(test_props_java_syntax)
{
    const char *text = "# comment\n"
                       "! also a comment\n"
                       "a=1\n"
                       "  b : two words  \n"
                       "c 3\n"
                       "d=line\\\n"
                       "    continued\n"
                       "e=tab\\there\n"
                       "f\\=g=h\n"
                       "empty=\n"
                       "a=overridden\r\n";
    struct props p;
    props_init(&p);
    char err[128];
    ck_assert_int_eq(props_parse(&p, text, strlen(text), err, sizeof err), 0);
    ck_assert_str_eq(props_get(&p, "a"), "overridden");
    ck_assert_str_eq(props_get(&p, "b"), "two words  ");
    ck_assert_str_eq(props_get(&p, "c"), "3");
    ck_assert_str_eq(props_get(&p, "d"), "linecontinued");
    ck_assert_str_eq(props_get(&p, "e"), "tab\there");
    ck_assert_str_eq(props_get(&p, "f=g"), "h");
    ck_assert_str_eq(props_get(&p, "empty"), "");
    ck_assert_ptr_null(props_get(&p, "missing"));
    props_close(&p);
}
END_TEST

START_TEST(test_arena_and_gbuf)
{
    struct arena a;
    arena_init(&a, 64);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 100; i++) {
            uint8_t *p = arena_alloc(&a, (size_t)(i % 17) + 1);
            ck_assert_ptr_nonnull(p);
            ck_assert_uint_eq((uintptr_t)p % 8, 0);
            memset(p, 0xAB, (size_t)(i % 17) + 1);
        }
        ck_assert_ptr_nonnull(arena_alloc(&a, 10000)); /* oversized block */
        arena_reset(&a);
        ck_assert_uint_eq(a.used_bytes, 0);
    }
    ck_assert_str_eq(arena_printf(&a, "%d-%s", 42, "x"), "42-x");
    arena_close(&a);

    struct gbuf b;
    gbuf_init(&b);
    for (int i = 0; i < 1000; i++) ck_assert_int_eq(gbuf_append(&b, "abcd", 4), 0);
    ck_assert_uint_eq(b.len, 4000);
    gbuf_consume(&b, 3998);
    ck_assert_uint_eq(b.len, 2);
    ck_assert(!memcmp(b.data, "cd", 2));
    gbuf_close(&b);
}
END_TEST

START_TEST(test_parsers)
{
    int64_t v;
    ck_assert_int_eq(parse_i64("123", &v), 0);
    ck_assert(v == 123);
    ck_assert_int_eq(parse_i64(" -9 ", &v), 0);
    ck_assert(v == -9);
    ck_assert_int_eq(parse_i64("12x", &v), GR_EINVAL);
    ck_assert_int_eq(parse_i64("", &v), GR_EINVAL);
    ck_assert_int_eq(parse_i64("99999999999999999999", &v), GR_EINVAL);
    bool b;
    ck_assert_int_eq(parse_bool("TRUE", &b), 0);
    ck_assert(b);
    ck_assert_int_eq(parse_bool("no", &b), GR_EINVAL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("common");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_crc32c_vectors);
    tcase_add_test(tc, test_varints);
    tcase_add_test(tc, test_uuid_base64);
    tcase_add_test(tc, test_props_java_syntax);
    tcase_add_test(tc, test_arena_and_gbuf);
    tcase_add_test(tc, test_parsers);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* proto_test_util.h — the fixture shared by the Kafka codec suites (test_proto_codec.c,
 * test_proto_messages.c, test_proto_groups.c): one arena and one output buffer per test, and
 * small builders.
 * Header-only; each suite gets its own copy of the fixture state. */
#ifndef GREGOR_PROTO_TEST_UTIL_H
#define GREGOR_PROTO_TEST_UTIL_H

#include "proto/proto.h"

#include <check.h>
#include <stdio.h>
#include <string.h>

static struct arena arena;
static struct gbuf buf;

static inline void setup(void)
{
    arena_init(&arena, 4096);
    gbuf_init(&buf);
}

static inline void teardown(void)
{
    gbuf_close(&buf);
    arena_close(&arena);
}

static inline void *alloc(size_t count, size_t size)
{
    void *p = arena_calloc(&arena, count, size);
    ck_assert_ptr_nonnull(p);
    return p;
}
#define NEW_ARRAY(ptr, n) ((ptr) = alloc((n), sizeof(*(ptr))))

static inline struct kafka_uuid uuid_of(uint8_t seed)
{
    struct kafka_uuid u;
    for (int i = 0; i < 16; i++)
        u.b[i] = (uint8_t)(seed + i * 7);
    return u;
}

static inline struct kafka_bytes bytes_of(const char *s)
{
    return (struct kafka_bytes){(const uint8_t *)s, (int32_t)strlen(s)};
}

static inline struct kafka_records records_of(const char *s)
{
    return (struct kafka_records){(const uint8_t *)s, (int32_t)strlen(s), -1, 0};
}

static inline void reader_on(struct kafka_reader *r, const void *p, size_t n)
{
    kafka_reader_init(r, p, n, &arena);
}

static inline void expect_bytes(const struct gbuf *b, const uint8_t *want, size_t n)
{
    if (b->len != n || memcmp(b->data, want, n) != 0) {
        fprintf(stderr, "got %zu bytes:", b->len);
        for (size_t i = 0; i < b->len; i++)
            fprintf(stderr, " %02x", b->data[i]);
        fprintf(stderr, "\nwant %zu bytes:", n);
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, " %02x", want[i]);
        fprintf(stderr, "\n");
    }
    ck_assert_uint_eq(b->len, n);
    ck_assert_mem_eq(b->data, want, n);
}

/* ========================================================================================== */

#endif

/*
 * test_proto_codec.c — Check suite for the Kafka wire primitives (proto/proto_codec.c): fixed
 * and variable-length integers, strings, arrays, tagged fields, records, request and response
 * headers, the API table and error names; round trips and error handling.  The generated
 * messages are tested in test_proto_messages.c.
 */
#include "proto_test_util.h"

#include <stdlib.h>
#include <unistd.h>

/* Primitives                                                                                 */

START_TEST(test_fixed_ints_round_trip)
{
    struct kafka_writer w;
    kafka_writer_init(&w, &buf);
    kafka_write_i8(&w, -5);
    kafka_write_i16(&w, INT16_MIN);
    kafka_write_i32(&w, INT32_MIN);
    kafka_write_i64(&w, INT64_MAX);
    kafka_write_u16(&w, 65535);
    kafka_write_u32(&w, UINT32_MAX);
    kafka_write_f64(&w, -2.5);
    kafka_write_bool(&w, true);
    kafka_write_uuid(&w, uuid_of(3));
    ck_assert_int_eq(w.err, 0);
    ck_assert_uint_eq(buf.len, 1 + 2 + 4 + 8 + 2 + 4 + 8 + 1 + 16);
    /* big-endian on the wire */
    ck_assert_uint_eq(buf.data[1], 0x80);
    ck_assert_uint_eq(buf.data[2], 0x00);

    struct kafka_reader r;
    reader_on(&r, buf.data, buf.len);
    ck_assert_int_eq(kafka_read_i8(&r), -5);
    ck_assert_int_eq(kafka_read_i16(&r), INT16_MIN);
    ck_assert_int_eq(kafka_read_i32(&r), INT32_MIN);
    ck_assert(kafka_read_i64(&r) == INT64_MAX);
    ck_assert_uint_eq(kafka_read_u16(&r), 65535);
    ck_assert_uint_eq(kafka_read_u32(&r), UINT32_MAX);
    ck_assert(kafka_read_f64(&r) == -2.5);
    ck_assert(kafka_read_bool(&r));
    struct kafka_uuid u = kafka_read_uuid(&r), want = uuid_of(3);
    ck_assert_mem_eq(u.b, want.b, 16);
    ck_assert_int_eq(r.err, 0);
    ck_assert_uint_eq(kafka_reader_left(&r), 0);
}
END_TEST

static const struct {
    int32_t v;
    uint8_t bytes[5];
    size_t n;
} varint_vectors[] = {
    {0, {0x00}, 1},
    {-1, {0x01}, 1},
    {1, {0x02}, 1},
    {63, {0x7e}, 1},
    {-64, {0x7f}, 1},
    {64, {0x80, 0x01}, 2},
    {-65, {0x81, 0x01}, 2},
    {300, {0xd8, 0x04}, 2},
    {INT32_MAX, {0xfe, 0xff, 0xff, 0xff, 0x0f}, 5},
    {INT32_MIN, {0xff, 0xff, 0xff, 0xff, 0x0f}, 5},
};

START_TEST(test_varint_edges)
{
    for (size_t i = 0; i < GR_ARRAY_LEN(varint_vectors); i++) {
        gbuf_reset(&buf);
        struct kafka_writer w;
        kafka_writer_init(&w, &buf);
        kafka_write_varint(&w, varint_vectors[i].v);
        expect_bytes(&buf, varint_vectors[i].bytes, varint_vectors[i].n);
        struct kafka_reader r;
        reader_on(&r, buf.data, buf.len);
        ck_assert_int_eq(kafka_read_varint(&r), varint_vectors[i].v);
        ck_assert_int_eq(r.err, 0);
        ck_assert_uint_eq(kafka_reader_left(&r), 0);
    }
}
END_TEST

START_TEST(test_uvarint_and_varlong_edges)
{
    const uint32_t uv[] = {0, 1, 127, 128, 16383, 16384, 2097151, 2097152, UINT32_MAX};
    const size_t uv_len[] = {1, 1, 1, 2, 2, 3, 3, 4, 5};
    for (size_t i = 0; i < GR_ARRAY_LEN(uv); i++) {
        gbuf_reset(&buf);
        struct kafka_writer w;
        kafka_writer_init(&w, &buf);
        kafka_write_uvarint(&w, uv[i]);
        ck_assert_uint_eq(buf.len, uv_len[i]);
        struct kafka_reader r;
        reader_on(&r, buf.data, buf.len);
        ck_assert_uint_eq(kafka_read_uvarint(&r), uv[i]);
        ck_assert_int_eq(r.err, 0);
    }
    const int64_t lv[] = {0, -1, 1, INT32_MAX, (int64_t)INT32_MIN - 1, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < GR_ARRAY_LEN(lv); i++) {
        gbuf_reset(&buf);
        struct kafka_writer w;
        kafka_writer_init(&w, &buf);
        kafka_write_varlong(&w, lv[i]);
        struct kafka_reader r;
        reader_on(&r, buf.data, buf.len);
        ck_assert(kafka_read_varlong(&r) == lv[i]);
        ck_assert_int_eq(r.err, 0);
        ck_assert_uint_eq(kafka_reader_left(&r), 0);
    }
    /* INT64_MIN zig-zags to 2^64-1: ten bytes, the last 0x01 */
    ck_assert_uint_eq(buf.len, 10);
    ck_assert_uint_eq(buf.data[9], 0x01);
}
END_TEST

START_TEST(test_varint_too_long_or_truncated)
{
    struct kafka_reader r;
    static const uint8_t six[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
    reader_on(&r, six, sizeof(six));
    ck_assert_uint_eq(kafka_read_uvarint(&r), 0);
    ck_assert_int_eq(r.err, GR_ECORRUPT);

    static const uint8_t eleven[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
                                     0x80, 0x80, 0x80, 0x80, 0x00};
    reader_on(&r, eleven, sizeof(eleven));
    ck_assert(kafka_read_varlong(&r) == 0);
    ck_assert_int_eq(r.err, GR_ECORRUPT);
    /* ten bytes are fine for a varlong */
    reader_on(&r, eleven + 1, 10);
    ck_assert(kafka_read_varlong(&r) == 0);
    ck_assert_int_eq(r.err, 0);

    static const uint8_t cut[] = {0x80, 0x80};
    reader_on(&r, cut, sizeof(cut));
    ck_assert_int_eq(kafka_read_varint(&r), 0);
    ck_assert_int_eq(r.err, GR_ETRUNC);
    ck_assert_uint_eq(kafka_reader_left(&r), 2);
}
END_TEST

START_TEST(test_strings_compact_and_not)
{
    for (int compact = 0; compact <= 1; compact++) {
        gbuf_reset(&buf);
        struct kafka_writer w;
        kafka_writer_init(&w, &buf);
        kafka_write_str(&w, KSTR("hello"), compact);
        kafka_write_str(&w, KSTR_NULL, compact);
        kafka_write_str(&w, KSTR(""), compact);
        kafka_write_bytes(&w, bytes_of("xyz"), compact);
        kafka_write_bytes(&w, KBYTES_NULL, compact);
        kafka_write_records(&w, records_of("batch"), compact);
        kafka_write_records(&w, (struct kafka_records){NULL, -1, -1, 0}, compact);
        ck_assert_int_eq(w.err, 0);
        if (compact) {
            static const uint8_t want[] = {6,   'h', 'e', 'l', 'l', 'o', 0,   1,   4,   'x',
                                           'y', 'z', 0,   6,   'b', 'a', 't', 'c', 'h', 0};
            expect_bytes(&buf, want, sizeof(want));
        } else {
            static const uint8_t want[] = {0, 5, 'h', 'e', 'l', 'l', 'o',  0xff, 0xff, 0,    0,   0,
                                           0, 0, 3,   'x', 'y', 'z', 0xff, 0xff, 0xff, 0xff, 0,   0,
                                           0, 5, 'b', 'a', 't', 'c', 'h',  0xff, 0xff, 0xff, 0xff};
            expect_bytes(&buf, want, sizeof(want));
        }
        struct kafka_reader r;
        reader_on(&r, buf.data, buf.len);
        ck_assert(kstr_eq(kafka_read_str(&r, compact), "hello"));
        ck_assert_int_eq(kafka_read_str(&r, compact).len, -1);
        struct kafka_str empty = kafka_read_str(&r, compact);
        ck_assert_int_eq(empty.len, 0);
        ck_assert_ptr_nonnull(empty.ptr);
        struct kafka_bytes b = kafka_read_bytes(&r, compact);
        ck_assert_int_eq(b.len, 3);
        ck_assert_mem_eq(b.ptr, "xyz", 3);
        ck_assert_int_eq(kafka_read_bytes(&r, compact).len, -1);
        struct kafka_records rec = kafka_read_records(&r, compact);
        ck_assert_int_eq(rec.len, 5);
        ck_assert_int_eq(rec.fd, -1);
        ck_assert_int_eq(kafka_read_records(&r, compact).len, -1);
        ck_assert_int_eq(r.err, 0);
        ck_assert_uint_eq(kafka_reader_left(&r), 0);
    }
}
END_TEST

START_TEST(test_bad_lengths_rejected)
{
    struct kafka_reader r;
    static const uint8_t neg_str[] = {0xff, 0xfe, 'a'}; /* int16 -2 */
    reader_on(&r, neg_str, sizeof(neg_str));
    (void)kafka_read_str(&r, false);
    ck_assert_int_eq(r.err, GR_ECORRUPT);

    static const uint8_t long_str[] = {0x00, 0x09, 'a', 'b'}; /* says 9, has 2 */
    reader_on(&r, long_str, sizeof(long_str));
    struct kafka_str s = kafka_read_str(&r, false);
    ck_assert_int_eq(r.err, GR_ETRUNC);
    ck_assert_ptr_null(s.ptr);

    static const uint8_t neg_bytes[] = {0xff, 0xff, 0xff, 0xf0};
    reader_on(&r, neg_bytes, sizeof(neg_bytes));
    (void)kafka_read_bytes(&r, false);
    ck_assert_int_eq(r.err, GR_ECORRUPT);

    /* compact string longer than a Java string may be */
    static const uint8_t huge_compact[] = {0x82, 0x80, 0x02}; /* 32769 + 1 */
    reader_on(&r, huge_compact, sizeof(huge_compact));
    (void)kafka_read_str(&r, true);
    ck_assert_int_eq(r.err, GR_ECORRUPT);

    /* writing a string longer than int16 or a NULL pointer with a length is refused */
    struct kafka_writer w;
    kafka_writer_init(&w, &buf);
    kafka_write_str(&w, (struct kafka_str){"x", 40000}, false);
    ck_assert_int_eq(w.err, GR_EINVAL);
    kafka_writer_init(&w, &buf);
    kafka_write_bytes(&w, (struct kafka_bytes){NULL, 3}, true);
    ck_assert_int_eq(w.err, GR_EINVAL);
}
END_TEST

START_TEST(test_arrays_null_and_empty)
{
    struct kafka_writer w;
    kafka_writer_init(&w, &buf);
    kafka_write_array_len(&w, -1, false);
    kafka_write_array_len(&w, 0, false);
    kafka_write_array_len(&w, -1, true);
    kafka_write_array_len(&w, 0, true);
    kafka_write_array_len(&w, 2, true);
    kafka_write_i8(&w, 1);
    kafka_write_i8(&w, 2);
    static const uint8_t want[] = {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0x00, 0x01, 0x03, 1, 2};
    expect_bytes(&buf, want, sizeof(want));

    struct kafka_reader r;
    reader_on(&r, buf.data, buf.len);
    ck_assert_int_eq(kafka_read_array_len(&r, false, 4), -1);
    ck_assert_int_eq(kafka_read_array_len(&r, false, 4), 0);
    ck_assert_int_eq(kafka_read_array_len(&r, true, 4), -1);
    ck_assert_int_eq(kafka_read_array_len(&r, true, 4), 0);
    ck_assert_int_eq(kafka_read_array_len(&r, true, 1), 2);
    ck_assert_int_eq(r.err, 0);
}
END_TEST

START_TEST(test_huge_array_count_rejected_before_alloc)
{
    static const uint8_t plain[] = {0x7f, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5, 6, 7, 8};
    struct kafka_reader r;
    reader_on(&r, plain, sizeof(plain));
    ck_assert_int_eq(kafka_read_array_len(&r, false, 4), 0);
    ck_assert_int_eq(r.err, GR_ECORRUPT);
    ck_assert_ptr_null(kafka_alloc_array(&r, 0x7fffffff, 64));
    ck_assert_uint_eq(arena.used_bytes, 0);

    /* exactly fitting is fine: 2 elements of 4 bytes in 8 bytes */
    static const uint8_t fits[] = {0, 0, 0, 2, 1, 2, 3, 4, 5, 6, 7, 8};
    reader_on(&r, fits, sizeof(fits));
    ck_assert_int_eq(kafka_read_array_len(&r, false, 4), 2);
    ck_assert_int_eq(r.err, 0);
    reader_on(&r, fits, sizeof(fits) - 1);
    ck_assert_int_eq(kafka_read_array_len(&r, false, 4), 0);
    ck_assert_int_eq(r.err, GR_ECORRUPT);

    /* negative counts other than -1 */
    static const uint8_t neg[] = {0xff, 0xff, 0xff, 0xfe};
    reader_on(&r, neg, sizeof(neg));
    ck_assert_int_eq(kafka_read_array_len(&r, false, 1), 0);
    ck_assert_int_eq(r.err, GR_ECORRUPT);

    /* compact: uvarint 0xffffffff would be a count of 2^32-2 */
    static const uint8_t compact[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0};
    reader_on(&r, compact, sizeof(compact));
    ck_assert_int_eq(kafka_read_array_len(&r, true, 1), 0);
    ck_assert_int_eq(r.err, GR_ECORRUPT);

    /* through a generated decoder: Metadata v0 response claiming 2^31-1 brokers */
    static const uint8_t meta[] = {0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0};
    reader_on(&r, meta, sizeof(meta));
    struct kafka_metadata_response resp;
    ck_assert_int_eq(kafka_metadata_response_decode(&r, 0, &resp), GR_ECORRUPT);
    ck_assert_uint_eq(arena.used_bytes, 0);
}
END_TEST

START_TEST(test_sticky_error)
{
    static const uint8_t in[] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05};
    struct kafka_reader r;
    reader_on(&r, in, sizeof(in));
    ck_assert_int_eq(kafka_read_i32(&r), 0x00010203);
    ck_assert_int_eq(kafka_read_i32(&r), 0); /* only 2 left */
    ck_assert_int_eq(r.err, GR_ETRUNC);
    /* bytes are still there, but every later read is a zero value and does not move */
    ck_assert_int_eq(kafka_read_i8(&r), 0);
    ck_assert_int_eq(kafka_read_i16(&r), 0);
    ck_assert_int_eq(kafka_read_uvarint(&r), 0);
    ck_assert(!kafka_read_bool(&r));
    struct kafka_str s = kafka_read_str(&r, true);
    ck_assert_ptr_null(s.ptr);
    ck_assert_int_eq(s.len, 0);
    ck_assert_ptr_null(kafka_read_raw(&r, 1));
    ck_assert_int_eq(kafka_read_array_len(&r, false, 1), 0);
    ck_assert_uint_eq(kafka_reader_left(&r), 2);
    ck_assert_int_eq(r.err, GR_ETRUNC);
    kafka_reader_fail(&r, GR_ENOMEM);
    ck_assert_int_eq(r.err, GR_ETRUNC);

    /* the writer is sticky too */
    struct kafka_writer w;
    kafka_writer_init(&w, &buf);
    kafka_writer_fail(&w, GR_EINVAL);
    kafka_write_i32(&w, 5);
    kafka_write_str(&w, KSTR("x"), false);
    ck_assert_uint_eq(buf.len, 0);
    ck_assert_int_eq(w.err, GR_EINVAL);
}
END_TEST

START_TEST(test_tagged_fields_skip)
{
    /* two tagged fields: tag 0 with 2 bytes, tag 300 with 0 bytes */
    static const uint8_t in[] = {0x02, 0x00, 0x02, 0xaa, 0xbb, 0xac, 0x02, 0x00, 0x7e};
    struct kafka_reader r;
    reader_on(&r, in, sizeof(in));
    kafka_skip_tagged_fields(&r);
    ck_assert_int_eq(r.err, 0);
    ck_assert_uint_eq(kafka_reader_left(&r), 1);

    static const uint8_t cut[] = {0x01, 0x00, 0x05, 0xaa};
    reader_on(&r, cut, sizeof(cut));
    kafka_skip_tagged_fields(&r);
    ck_assert_int_eq(r.err, GR_ETRUNC);

    /* a huge field count cannot spin: it runs out of input */
    static const uint8_t many[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x00, 0x00};
    reader_on(&r, many, sizeof(many));
    kafka_skip_tagged_fields(&r);
    ck_assert_int_eq(r.err, GR_ETRUNC);
}
END_TEST

START_TEST(test_write_tag_inserts_size)
{
    struct kafka_writer w;
    kafka_writer_init(&w, &buf);
    kafka_write_i8(&w, 0x55);
    size_t at = kafka_write_tag_begin(&w, 3);
    for (int i = 0; i < 200; i++)
        kafka_write_i8(&w, (int8_t)i);
    kafka_write_tag_end(&w, at);
    ck_assert_int_eq(w.err, 0);
    ck_assert_uint_eq(buf.len, 1 + 1 + 2 + 200);
    ck_assert_uint_eq(buf.data[0], 0x55);
    ck_assert_uint_eq(buf.data[1], 3);
    ck_assert_uint_eq(buf.data[2], 0xc8); /* 200 = 0xc8 0x01 */
    ck_assert_uint_eq(buf.data[3], 0x01);
    ck_assert_uint_eq(buf.data[4], 0);
    ck_assert_uint_eq(buf.data[203], 199);
}
END_TEST

START_TEST(test_records_from_fd)
{
    char path[] = "/tmp/test_proto_codec_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    unlink(path);
    const char content[] = "0123456789abcdef";
    ck_assert_int_eq(write(fd, content, 16), 16);

    for (int compact = 0; compact <= 1; compact++) {
        gbuf_reset(&buf);
        struct kafka_writer w;
        kafka_writer_init(&w, &buf);
        kafka_write_records(&w, (struct kafka_records){NULL, 6, fd, 4}, compact);
        ck_assert_int_eq(w.err, 0);
        struct kafka_reader r;
        reader_on(&r, buf.data, buf.len);
        struct kafka_records rec = kafka_read_records(&r, compact);
        ck_assert_int_eq(r.err, 0);
        ck_assert_int_eq(rec.len, 6);
        ck_assert_mem_eq(rec.ptr, "456789", 6);
        ck_assert_uint_eq(kafka_reader_left(&r), 0);
    }
    /* asking for bytes past the end of the file is a short read */
    gbuf_reset(&buf);
    struct kafka_writer w;
    kafka_writer_init(&w, &buf);
    kafka_write_records(&w, (struct kafka_records){NULL, 10, fd, 10}, false);
    ck_assert_int_eq(w.err, GR_EIO);
    close(fd);
    /* and a bad fd is an error, not a crash */
    kafka_writer_init(&w, &buf);
    kafka_write_records(&w, (struct kafka_records){NULL, 4, fd, 0}, false);
    ck_assert_int_eq(w.err, GR_EIO);
}
END_TEST

START_TEST(test_headers)
{
    for (int hv = 0; hv <= 2; hv++) {
        gbuf_reset(&buf);
        struct kafka_writer w;
        kafka_writer_init(&w, &buf);
        struct kafka_request_header h = {3, 9, 77, KSTR("cli")};
        kafka_request_header_encode(&w, hv, &h);
        ck_assert_int_eq(w.err, 0);
        ck_assert_uint_eq(buf.len, 8u + (hv >= 1 ? 5u : 0u) + (hv >= 2 ? 1u : 0u));
        struct kafka_reader r;
        reader_on(&r, buf.data, buf.len);
        struct kafka_request_header d;
        kafka_request_header_decode(&r, hv, &d);
        ck_assert_int_eq(r.err, 0);
        ck_assert_uint_eq(kafka_reader_left(&r), 0);
        ck_assert_int_eq(d.api_key, 3);
        ck_assert_int_eq(d.api_version, 9);
        ck_assert_int_eq(d.correlation_id, 77);
        if (hv >= 1)
            ck_assert(kstr_eq(d.client_id, "cli"));
        else
            ck_assert_int_eq(d.client_id.len, -1);
    }
    /* null client id, header v2 with an unknown tag in its tag block */
    static const uint8_t v2[] = {0, 18, 0, 3, 0, 0, 0, 1, 0xff, 0xff, 0x01, 0x09, 0x01, 0xee};
    struct kafka_reader r;
    reader_on(&r, v2, sizeof(v2));
    struct kafka_request_header d;
    kafka_request_header_decode(&r, 2, &d);
    ck_assert_int_eq(r.err, 0);
    ck_assert_int_eq(d.client_id.len, -1);
    ck_assert_uint_eq(kafka_reader_left(&r), 0);

    for (int hv = 0; hv <= 1; hv++) {
        gbuf_reset(&buf);
        struct kafka_writer w;
        kafka_writer_init(&w, &buf);
        kafka_response_header_encode(&w, hv, -5);
        ck_assert_uint_eq(buf.len, 4u + (unsigned)hv);
        reader_on(&r, buf.data, buf.len);
        ck_assert_int_eq(kafka_response_header_decode(&r, hv), -5);
        ck_assert_uint_eq(kafka_reader_left(&r), 0);
    }
}
END_TEST

START_TEST(test_api_table_and_errors)
{
    ck_assert_int_eq(KAFKA_API_PRODUCE, 0);
    ck_assert_int_eq(KAFKA_API_FETCH, 1);
    ck_assert_int_eq(KAFKA_API_LIST_OFFSETS, 2);
    ck_assert_int_eq(KAFKA_API_METADATA, 3);
    ck_assert_int_eq(KAFKA_API_API_VERSIONS, 18);
    ck_assert_int_eq(KAFKA_API_CREATE_TOPICS, 19);
    ck_assert_int_eq(KAFKA_API_DELETE_TOPICS, 20);
    ck_assert_int_eq(KAFKA_API_DESCRIBE_CONFIGS, 32);
    ck_assert_int_eq(KAFKA_API_FIND_COORDINATOR, 10);
    ck_assert_int_eq(KAFKA_API_INIT_PRODUCER_ID, 22);
    ck_assert_int_eq(KAFKA_API_DESCRIBE_CLUSTER, 60);
    ck_assert_int_eq(kafka_request_header_version(KAFKA_API_DESCRIBE_CLUSTER, 0), 2);
    ck_assert_int_eq(kafka_response_header_version(KAFKA_API_DESCRIBE_CLUSTER, 0), 1);
    ck_assert_int_eq(KAFKA_API_DESCRIBE_QUORUM, 55);
    ck_assert_int_eq(kafka_request_header_version(KAFKA_API_DESCRIBE_QUORUM, 0), 2);
    ck_assert_int_eq(kafka_response_header_version(KAFKA_API_DESCRIBE_QUORUM, 2), 1);
    const struct kafka_api_info *m = kafka_api_lookup(KAFKA_API_METADATA);
    ck_assert_ptr_nonnull(m);
    ck_assert_str_eq(m->name, "Metadata");
    ck_assert_int_eq(m->min_version, 0);
    ck_assert_int_eq(m->max_version, 12);
    ck_assert_int_eq(m->flexible_min, 9);
    ck_assert_ptr_null(kafka_api_lookup(9999));
    ck_assert_ptr_null(kafka_api_lookup(-1));
    for (size_t i = 1; i < kafka_api_table_len; i++)
        ck_assert_int_lt(kafka_api_table[i - 1].key, kafka_api_table[i].key);

    ck_assert_int_eq(kafka_request_header_version(KAFKA_API_METADATA, 8), 1);
    ck_assert_int_eq(kafka_request_header_version(KAFKA_API_METADATA, 9), 2);
    ck_assert_int_eq(kafka_response_header_version(KAFKA_API_METADATA, 8), 0);
    ck_assert_int_eq(kafka_response_header_version(KAFKA_API_METADATA, 9), 1);
    ck_assert_int_eq(kafka_request_header_version(KAFKA_API_API_VERSIONS, 3), 2);
    ck_assert_int_eq(kafka_response_header_version(KAFKA_API_API_VERSIONS, 3), 0);
    ck_assert_int_eq(kafka_response_header_version(KAFKA_API_API_VERSIONS, 4), 0);
    ck_assert_int_eq(kafka_request_header_version(KAFKA_API_PRODUCE, 9), 2);
    ck_assert_int_eq(kafka_request_header_version(KAFKA_API_FETCH, 11), 1);
    ck_assert_int_eq(kafka_request_header_version(7, 0), 0);

    ck_assert_int_eq(KAFKA_ERR_NONE, 0);
    ck_assert_int_eq(KAFKA_ERR_UNKNOWN_SERVER_ERROR, -1);
    ck_assert_int_eq(KAFKA_ERR_NOT_LEADER_OR_FOLLOWER, 6);
    ck_assert_int_eq(KAFKA_ERR_UNSUPPORTED_VERSION, 35);
    ck_assert_int_eq(KAFKA_ERR_POLICY_VIOLATION, 44);
    ck_assert_int_eq(KAFKA_ERR_UNKNOWN_TOPIC_ID, 100);
    ck_assert_int_eq(KAFKA_ERR_INCONSISTENT_TOPIC_ID, 103);
    ck_assert_str_eq(kafka_err_name(3), "UNKNOWN_TOPIC_OR_PARTITION");
    ck_assert_str_eq(kafka_err_name(-1), "UNKNOWN_SERVER_ERROR");
    ck_assert_str_eq(kafka_err_name(0), "NONE");
    ck_assert_str_eq(kafka_err_name(17), "INVALID_TOPIC_EXCEPTION");
    ck_assert_str_eq(kafka_err_name(32000), "UNKNOWN");
}
END_TEST

/* ========================================================================================== */
/* Message builders: every field set to something other than its default                      */

static Suite *proto_codec_suite(void)
{
    Suite *s = suite_create("proto_codec");
    TCase *prim = tcase_create("primitives");
    tcase_add_checked_fixture(prim, setup, teardown);
    tcase_add_test(prim, test_fixed_ints_round_trip);
    tcase_add_test(prim, test_varint_edges);
    tcase_add_test(prim, test_uvarint_and_varlong_edges);
    tcase_add_test(prim, test_varint_too_long_or_truncated);
    tcase_add_test(prim, test_strings_compact_and_not);
    tcase_add_test(prim, test_bad_lengths_rejected);
    tcase_add_test(prim, test_arrays_null_and_empty);
    tcase_add_test(prim, test_huge_array_count_rejected_before_alloc);
    tcase_add_test(prim, test_sticky_error);
    tcase_add_test(prim, test_tagged_fields_skip);
    tcase_add_test(prim, test_write_tag_inserts_size);
    tcase_add_test(prim, test_records_from_fd);
    tcase_add_test(prim, test_headers);
    tcase_add_test(prim, test_api_table_and_errors);
    suite_add_tcase(s, prim);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(proto_codec_suite());
    srunner_run_all(sr, CK_ENV); /* CK_VERBOSITY=verbose lists each test */
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}

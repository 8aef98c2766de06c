/*
 * test_record_batch.c — Check suite for the record-batch (magic v2) codec and the compression
 * codecs, through proto/proto_record_batch.h only.
 */
#include "proto/proto_record_batch.h"

#include <check.h>
#include <snappy-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const int all_codecs[] = {RB_CODEC_NONE, RB_CODEC_GZIP, RB_CODEC_SNAPPY, RB_CODEC_LZ4,
                                 RB_CODEC_ZSTD};
#define CAP_1MIB ((size_t)1 << 20)

/*
 * Known-good batch written out by hand from the spec (CLIENTS.md §7), CRC computed once by an
 * independent bitwise CRC-32C in Python (checked against the "123456789" -> 0xE3069283 vector):
 *   baseOffset 0, batchLength 81, partitionLeaderEpoch -1, crc 0x9e726f60, attributes 0,
 *   lastOffsetDelta 1, baseTimestamp 1700000000000, maxTimestamp +5, producer -1/-1/-1, 2 records:
 *   {ts +0, key "k", value "hello", headers [h=v]}, {ts +5, key null, value "world", [n=null]}.
 */
static const uint8_t known_batch[] =
    "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x51\xff\xff\xff\xff"
    "\x02\x9e\x72\x6f\x60\x00\x00\x00\x00\x00\x01\x00\x00\x01\x8b\xcf"
    "\xe5\x68\x00\x00\x00\x01\x8b\xcf\xe5\x68\x05\xff\xff\xff\xff\xff"
    "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x00\x00\x00\x02\x20\x00\x00"
    "\x00\x02\x6b\x0a\x68\x65\x6c\x6c\x6f\x02\x02\x68\x02\x76\x1c\x00"
    "\x0a\x02\x01\x0a\x77\x6f\x72\x6c\x64\x02\x02\x6e\x01";
#define KNOWN_BATCH_BYTES (sizeof(known_batch) - 1)
#define KNOWN_CRC 0x9e726f60u

/* The same two records, gzip-compressed by Python's gzip module (mtime 0), CRC 0x78cd528c. */
static const uint8_t known_gzip_batch[] =
    "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x65\xff\xff\xff\xff"
    "\x02\x78\xcd\x52\x8c\x00\x01\x00\x00\x00\x01\x00\x00\x01\x8b\xcf"
    "\xe5\x68\x00\x00\x00\x01\x8b\xcf\xe5\x68\x05\xff\xff\xff\xff\xff"
    "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x00\x00\x00\x02\x1f\x8b\x08"
    "\x00\x00\x00\x00\x00\x02\x03\x53\x60\x60\x60\x60\xca\xe6\xca\x48"
    "\xcd\xc9\xc9\x67\x62\xca\x60\x2a\x93\x61\xe0\x62\x62\xe4\x2a\xcf"
    "\x2f\xca\x49\x61\x62\xca\x63\x04\x00\xa4\xcb\xf2\x50\x20\x00\x00"
    "\x00";
#define KNOWN_GZIP_BATCH_BYTES (sizeof(known_gzip_batch) - 1)

#define KNOWN_TS 1700000000000LL

/* ------------------------------------------------------------------------------------------ */
/* Helpers.                                                                                    */

static void recrc(uint8_t *batch, size_t size)
{
    be32_put(batch + RB_OFF_CRC, crc32c(0, batch + RB_OFF_ATTRIBUTES, size - RB_OFF_ATTRIBUTES));
}

static void build_known(int codec, struct gbuf *out)
{
    struct rb_builder b;
    rb_builder_init(&b, 0, codec);
    struct rb_header_kv h1 = {(const uint8_t *)"h", 1, (const uint8_t *)"v", 1};
    struct rb_header_kv h2 = {(const uint8_t *)"n", 1, NULL, -1};
    ck_assert_int_eq(rb_builder_add(&b, KNOWN_TS, "k", 1, "hello", 5, &h1, 1), 0);
    ck_assert_int_eq(rb_builder_add(&b, KNOWN_TS + 5, NULL, -1, "world", 5, &h2, 1), 0);
    ck_assert_int_eq(rb_builder_finish(&b, out), 0);
    rb_builder_close(&b);
}

static void check_known_records(const uint8_t *batch, size_t n, int64_t base_offset)
{
    struct gbuf scratch;
    gbuf_init(&scratch);
    struct rb_iter it;
    struct rb_record rec;
    struct rb_header_kv kv;
    ck_assert_int_eq(rb_iter_init(&it, batch, n, &scratch, CAP_1MIB), 0);

    ck_assert_int_eq(rb_iter_next(&it, &rec), 1);
    ck_assert_int_eq(rec.offset, base_offset);
    ck_assert_int_eq(rec.timestamp, KNOWN_TS);
    ck_assert_int_eq(rec.key_len, 1);
    ck_assert_mem_eq(rec.key, "k", 1);
    ck_assert_int_eq(rec.value_len, 5);
    ck_assert_mem_eq(rec.value, "hello", 5);
    ck_assert_int_eq(rec.header_count, 1);
    const uint8_t *hp = rec.headers;
    ck_assert_int_eq(rb_record_header_next(&hp, rec.headers + rec.headers_len, &kv), 1);
    ck_assert_int_eq(kv.key_len, 1);
    ck_assert_mem_eq(kv.key, "h", 1);
    ck_assert_int_eq(kv.value_len, 1);
    ck_assert_mem_eq(kv.value, "v", 1);
    ck_assert_int_eq(rb_record_header_next(&hp, rec.headers + rec.headers_len, &kv), 0);

    ck_assert_int_eq(rb_iter_next(&it, &rec), 1);
    ck_assert_int_eq(rec.offset, base_offset + 1);
    ck_assert_int_eq(rec.timestamp, KNOWN_TS + 5);
    ck_assert_int_eq(rec.key_len, -1);
    ck_assert_ptr_null(rec.key);
    ck_assert_mem_eq(rec.value, "world", 5);
    hp = rec.headers;
    ck_assert_int_eq(rb_record_header_next(&hp, rec.headers + rec.headers_len, &kv), 1);
    ck_assert_mem_eq(kv.key, "n", 1);
    ck_assert_int_eq(kv.value_len, -1);
    ck_assert_ptr_null(kv.value);

    ck_assert_int_eq(rb_iter_next(&it, &rec), 0);
    ck_assert_int_eq(rb_iter_next(&it, &rec), 0);
    gbuf_close(&scratch);
}

/* Deterministic record contents for record i of a generated batch. */
static int32_t gen_key(int i, char *buf)
{
    if (i % 7 == 3) return -1; /* null key */
    return (int32_t)sprintf(buf, "key-%d", i);
}

static int32_t gen_value(int i, char *buf)
{
    if (i % 11 == 5) return -1; /* null value (tombstone) */
    int32_t n = 0;
    for (int k = 0; k < i % 50; k++)
        n += sprintf(buf + n, "value-%d-%d;", i, k);
    return n;
}

static int64_t gen_ts(int i)
{
    return KNOWN_TS + (i * 37) % 1000 - 300; /* not monotonic, deltas can be negative */
}

static void build_generated(int codec, int count, int64_t base_offset, struct gbuf *out)
{
    struct rb_builder b;
    rb_builder_init(&b, base_offset, codec);
    char key[32], value[1024];
    for (int i = 0; i < count; i++) {
        struct rb_header_kv h[3] = {
            {(const uint8_t *)"trace", 5, (const uint8_t *)key, 3},
            {(const uint8_t *)"nul", 3, NULL, -1},
            {(const uint8_t *)"empty", 5, (const uint8_t *)"", 0},
        };
        int32_t klen = gen_key(i, key), vlen = gen_value(i, value);
        ck_assert_int_eq(rb_builder_add(&b, gen_ts(i), klen < 0 ? NULL : key, klen,
                                        vlen < 0 ? NULL : value, vlen, h, i % 4),
                         0);
    }
    ck_assert_int_eq(rb_builder_finish(&b, out), 0);
    rb_builder_close(&b);
}

static void check_generated(const uint8_t *batch, size_t n, int count, int64_t base_offset)
{
    struct gbuf scratch;
    gbuf_init(&scratch);
    struct rb_iter it;
    struct rb_record rec;
    char key[32], value[1024];
    ck_assert_int_eq(rb_iter_init(&it, batch, n, &scratch, CAP_1MIB), 0);
    ck_assert_int_eq(it.h.record_count, count);
    for (int i = 0; i < count; i++) {
        ck_assert_int_eq(rb_iter_next(&it, &rec), 1);
        int32_t klen = gen_key(i, key), vlen = gen_value(i, value);
        ck_assert_int_eq(rec.offset, base_offset + i);
        ck_assert_int_eq(rec.timestamp, gen_ts(i));
        ck_assert_int_eq(rec.key_len, klen);
        if (klen > 0) ck_assert_mem_eq(rec.key, key, (size_t)klen);
        ck_assert_int_eq(rec.value_len, vlen);
        if (vlen > 0) ck_assert_mem_eq(rec.value, value, (size_t)vlen);
        ck_assert_int_eq(rec.header_count, i % 4);
        const uint8_t *hp = rec.headers, *he = rec.headers + rec.headers_len;
        struct rb_header_kv kv;
        int seen = 0;
        int rc;
        while ((rc = rb_record_header_next(&hp, he, &kv)) == 1) {
            if (seen == 1) {
                ck_assert_int_eq(kv.value_len, -1);
                ck_assert_ptr_null(kv.value);
            }
            if (seen == 2) ck_assert_int_eq(kv.value_len, 0);
            seen++;
        }
        ck_assert_int_eq(rc, 0);
        ck_assert_int_eq(seen, i % 4);
    }
    ck_assert_int_eq(rb_iter_next(&it, &rec), 0);
    gbuf_close(&scratch);
}

static int iterate_all(const uint8_t *batch, size_t n, size_t cap)
{
    struct gbuf scratch;
    gbuf_init(&scratch);
    struct rb_iter it;
    struct rb_record rec;
    int rc = rb_iter_init(&it, batch, n, &scratch, cap);
    if (rc == 0)
        while ((rc = rb_iter_next(&it, &rec)) == 1) {
        }
    gbuf_close(&scratch);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Known vectors.                                                                              */

START_TEST(test_known_vector)
{
    struct rb_set_info info;
    ck_assert_int_eq(
        crc32c(0, known_batch + RB_OFF_ATTRIBUTES, KNOWN_BATCH_BYTES - RB_OFF_ATTRIBUTES),
        KNOWN_CRC);
    ck_assert_int_eq(rb_set_validate(known_batch, KNOWN_BATCH_BYTES, &info), 0);
    ck_assert_int_eq(info.batch_count, 1);
    ck_assert_int_eq(info.record_count, 2);
    ck_assert_int_eq(info.first_timestamp, KNOWN_TS);
    ck_assert_int_eq(info.max_timestamp, KNOWN_TS + 5);
    ck_assert_int_eq(info.codec, RB_CODEC_NONE);
    ck_assert_int_eq(info.max_batch_bytes, KNOWN_BATCH_BYTES);
    ck_assert_int_eq(info.bad_batch_index, -1);
    ck_assert_uint_eq(rb_batch_size(known_batch, KNOWN_BATCH_BYTES), KNOWN_BATCH_BYTES);

    struct rb_header h;
    ck_assert_int_eq(rb_header_parse(known_batch, KNOWN_BATCH_BYTES, &h), 0);
    ck_assert_int_eq(h.batch_length, 81);
    ck_assert_int_eq(h.partition_leader_epoch, -1);
    ck_assert_uint_eq(h.crc, KNOWN_CRC);
    ck_assert_int_eq(h.last_offset_delta, 1);
    ck_assert_int_eq(h.producer_id, -1);
    ck_assert_int_eq(h.producer_epoch, -1);
    ck_assert_int_eq(h.base_sequence, -1);
    check_known_records(known_batch, KNOWN_BATCH_BYTES, 0);

    /* The builder must produce exactly these bytes. */
    struct gbuf out;
    gbuf_init(&out);
    build_known(RB_CODEC_NONE, &out);
    ck_assert_uint_eq(out.len, KNOWN_BATCH_BYTES);
    ck_assert_mem_eq(out.data, known_batch, KNOWN_BATCH_BYTES);
    gbuf_close(&out);
}
END_TEST

START_TEST(test_known_gzip_vector)
{
    struct rb_set_info info;
    ck_assert_int_eq(rb_set_validate(known_gzip_batch, KNOWN_GZIP_BATCH_BYTES, &info), 0);
    ck_assert_int_eq(info.codec, RB_CODEC_GZIP);
    check_known_records(known_gzip_batch, KNOWN_GZIP_BATCH_BYTES, 0);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* Round trips per codec.                                                                      */

START_TEST(test_roundtrip_codec)
{
    int codec = all_codecs[_i];
    struct gbuf out;
    gbuf_init(&out);
    build_generated(codec, 300, 1000, &out);
    struct rb_set_info info;
    ck_assert_int_eq(rb_set_validate(out.data, out.len, &info), 0);
    ck_assert_int_eq(info.codec, codec);
    ck_assert_int_eq(info.record_count, 300);
    ck_assert_int_eq(info.first_timestamp, gen_ts(0));
    int64_t max_ts = INT64_MIN;
    for (int i = 0; i < 300; i++)
        max_ts = gen_ts(i) > max_ts ? gen_ts(i) : max_ts;
    ck_assert_int_eq(info.max_timestamp, max_ts);
    check_generated(out.data, out.len, 300, 1000);

    gbuf_reset(&out);
    build_known(codec, &out);
    ck_assert_int_eq(rb_set_validate(out.data, out.len, NULL), 0);
    check_known_records(out.data, out.len, 0);
    gbuf_close(&out);
}
END_TEST

START_TEST(test_codec_raw_roundtrip)
{
    int codec = all_codecs[_i];
    struct gbuf in, comp, plain;
    gbuf_init(&in);
    gbuf_init(&comp);
    gbuf_init(&plain);
    for (int i = 0; i < 200000; i++) {
        uint8_t c = (uint8_t)((i * 7) % 13 + (i / 1000));
        gbuf_append(&in, &c, 1);
    }
    ck_assert_int_eq(rb_compress(codec, -1, in.data, in.len, &comp), 0);
    ck_assert_int_eq(rb_decompress(codec, comp.data, comp.len, &plain, in.len), 0);
    ck_assert_uint_eq(plain.len, in.len);
    ck_assert_mem_eq(plain.data, in.data, in.len);
    /* One byte under the size: refused. */
    gbuf_reset(&plain);
    ck_assert_int_eq(rb_decompress(codec, comp.data, comp.len, &plain, in.len - 1), GR_ERANGE);
    /* Appends after existing content; the cap counts only the new bytes. */
    gbuf_reset(&plain);
    gbuf_append(&plain, "xyz", 3);
    ck_assert_int_eq(rb_decompress(codec, comp.data, comp.len, &plain, in.len), 0);
    ck_assert_uint_eq(plain.len, in.len + 3);
    ck_assert_mem_eq(plain.data + 3, in.data, in.len);
    /* Truncated compressed input is corrupt, never silently short. */
    if (codec != RB_CODEC_NONE) {
        gbuf_reset(&plain);
        ck_assert_int_eq(rb_decompress(codec, comp.data, comp.len / 2, &plain, CAP_1MIB),
                         GR_ECORRUPT);
        gbuf_reset(&plain);
        ck_assert_int_eq(rb_decompress(codec, comp.data, 0, &plain, CAP_1MIB), GR_ECORRUPT);
    }
    gbuf_close(&in);
    gbuf_close(&comp);
    gbuf_close(&plain);
}
END_TEST

START_TEST(test_empty_values_and_bad_builder_args)
{
    struct rb_builder b;
    rb_builder_init(&b, 5, RB_CODEC_NONE);
    ck_assert_int_eq(rb_builder_add(&b, 1, "", 0, "", 0, NULL, 0), 0);
    ck_assert_int_eq(rb_builder_add(&b, 2, NULL, -2, "", 0, NULL, 0), GR_EINVAL);
    struct rb_header_kv bad = {NULL, -1, NULL, -1};
    ck_assert_int_eq(rb_builder_add(&b, 2, NULL, -1, NULL, -1, &bad, 1), GR_EINVAL);
    ck_assert_int_eq(rb_builder_add(&b, 2, NULL, -1, NULL, -1, NULL, -1), GR_EINVAL);
    ck_assert_int_eq(rb_builder_add(&b, 2, NULL, -1, NULL, -1, NULL, 0), 0);
    struct gbuf out;
    gbuf_init(&out);
    ck_assert_int_eq(rb_builder_finish(&b, &out), 0);
    ck_assert_int_eq(rb_set_validate(out.data, out.len, NULL), 0);
    struct gbuf scratch;
    gbuf_init(&scratch);
    struct rb_iter it;
    struct rb_record rec;
    ck_assert_int_eq(rb_iter_init(&it, out.data, out.len, &scratch, CAP_1MIB), 0);
    ck_assert_int_eq(rb_iter_next(&it, &rec), 1);
    ck_assert_int_eq(rec.key_len, 0);
    ck_assert_int_eq(rec.value_len, 0);
    ck_assert_int_eq(rec.offset, 5);
    ck_assert_int_eq(rb_iter_next(&it, &rec), 1);
    ck_assert_int_eq(rec.key_len, -1);
    ck_assert_int_eq(rec.value_len, -1);
    ck_assert_int_eq(rec.offset, 6);
    ck_assert_int_eq(rec.timestamp, 2);
    ck_assert_int_eq(rb_iter_next(&it, &rec), 0);
    gbuf_close(&scratch);
    gbuf_close(&out);
    rb_builder_close(&b);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* Corruption.                                                                                 */

static uint8_t *known_copy(void)
{
    uint8_t *p = malloc(KNOWN_BATCH_BYTES);
    ck_assert_ptr_nonnull(p);
    memcpy(p, known_batch, KNOWN_BATCH_BYTES);
    return p;
}

START_TEST(test_corrupt_crc_every_byte)
{
    /* Flipping any byte from the magic onwards fails validation; bytes before are the
     * broker-owned offset/epoch fields or the length (which then misframes the set). */
    uint8_t *p = known_copy();
    for (size_t i = RB_OFF_MAGIC; i < KNOWN_BATCH_BYTES; i++) {
        p[i] ^= 0x01;
        int rc = rb_set_validate(p, KNOWN_BATCH_BYTES, NULL);
        ck_assert_msg(rc == GR_ECORRUPT || (i == RB_OFF_MAGIC && rc == GR_EUNSUP),
                      "byte %zu: rc %d", i, rc);
        p[i] ^= 0x01;
    }
    p[RB_OFF_BASE_OFFSET + 7] ^= 0xff;
    p[RB_OFF_LEADER_EPOCH] ^= 0xff;
    ck_assert_int_eq(rb_set_validate(p, KNOWN_BATCH_BYTES, NULL), 0);
    free(p);
}
END_TEST

START_TEST(test_truncated)
{
    struct rb_set_info info;
    for (size_t n = 1; n < KNOWN_BATCH_BYTES; n++) {
        int rc = rb_set_validate(known_batch, n, &info);
        ck_assert_msg(rc == GR_ETRUNC, "n %zu rc %d", n, rc);
        ck_assert_int_eq(info.bad_batch_index, 0);
        ck_assert_uint_eq(rb_batch_size(known_batch, n), 0);
        struct rb_iter it;
        ck_assert_int_lt(rb_iter_init(&it, known_batch, n, NULL, CAP_1MIB), 0);
    }
    /* A complete batch followed by a partial one: the second is reported. */
    uint8_t two[2 * KNOWN_BATCH_BYTES];
    memcpy(two, known_batch, KNOWN_BATCH_BYTES);
    memcpy(two + KNOWN_BATCH_BYTES, known_batch, KNOWN_BATCH_BYTES);
    ck_assert_int_eq(rb_set_validate(two, sizeof(two) - 1, &info), GR_ETRUNC);
    ck_assert_int_eq(info.bad_batch_index, 1);
    ck_assert_int_eq(rb_set_validate(two, sizeof(two), &info), 0);
    ck_assert_int_eq(info.batch_count, 2);
    ck_assert_int_eq(info.record_count, 4);
    /* Empty set: nothing to append, not an error here. */
    ck_assert_int_eq(rb_set_validate(two, 0, &info), 0);
    ck_assert_int_eq(info.batch_count, 0);
}
END_TEST

START_TEST(test_wrong_magic)
{
    uint8_t *p = known_copy();
    struct rb_header h;
    for (int m = 0; m < 2; m++) {
        p[RB_OFF_MAGIC] = (uint8_t)m;
        ck_assert_int_eq(rb_set_validate(p, KNOWN_BATCH_BYTES, NULL), GR_EUNSUP);
        ck_assert_int_eq(rb_header_parse(p, KNOWN_BATCH_BYTES, &h), GR_EUNSUP);
        /* old message sets are shorter than 61 bytes: magic is still what we report */
        ck_assert_int_eq(rb_set_validate(p, 30, NULL), GR_EUNSUP);
    }
    p[RB_OFF_MAGIC] = 3;
    ck_assert_int_eq(rb_set_validate(p, KNOWN_BATCH_BYTES, NULL), GR_EUNSUP);
    free(p);
}
END_TEST

START_TEST(test_bad_header_fields)
{
    uint8_t *p = known_copy();
    /* lastOffsetDelta != recordCount - 1 */
    be32_put(p + RB_OFF_LAST_OFFSET_DELTA, 2);
    recrc(p, KNOWN_BATCH_BYTES);
    ck_assert_int_eq(rb_set_validate(p, KNOWN_BATCH_BYTES, NULL), GR_ECORRUPT);
    /* ... but a log (compacted) batch may have lastOffsetDelta > count - 1 */
    ck_assert_int_eq(rb_set_validate_flags(p, KNOWN_BATCH_BYTES, RB_VALIDATE_LOG, NULL), 0);
    be32_put(p + RB_OFF_LAST_OFFSET_DELTA, 0); /* fewer offsets than records */
    recrc(p, KNOWN_BATCH_BYTES);
    ck_assert_int_eq(rb_set_validate_flags(p, KNOWN_BATCH_BYTES, RB_VALIDATE_LOG, NULL),
                     GR_ECORRUPT);
    be32_put(p + RB_OFF_LAST_OFFSET_DELTA, 1);
    /* recordCount 0 */
    be32_put(p + RB_OFF_RECORD_COUNT, 0);
    be32_put(p + RB_OFF_LAST_OFFSET_DELTA, (uint32_t)-1);
    recrc(p, KNOWN_BATCH_BYTES);
    ck_assert_int_eq(rb_set_validate(p, KNOWN_BATCH_BYTES, NULL), GR_ECORRUPT);
    /* absurd count for the bytes available */
    be32_put(p + RB_OFF_RECORD_COUNT, 1000);
    be32_put(p + RB_OFF_LAST_OFFSET_DELTA, 999);
    recrc(p, KNOWN_BATCH_BYTES);
    ck_assert_int_eq(rb_set_validate(p, KNOWN_BATCH_BYTES, NULL), GR_ECORRUPT);
    be32_put(p + RB_OFF_RECORD_COUNT, 2);
    be32_put(p + RB_OFF_LAST_OFFSET_DELTA, 1);
    /* control bit: never from a producer; fine in a log */
    be16_put(p + RB_OFF_ATTRIBUTES, RB_ATTR_CONTROL | RB_ATTR_TRANSACTIONAL);
    recrc(p, KNOWN_BATCH_BYTES);
    ck_assert_int_eq(rb_set_validate(p, KNOWN_BATCH_BYTES, NULL), GR_ECORRUPT);
    ck_assert_int_eq(rb_set_validate_flags(p, KNOWN_BATCH_BYTES, RB_VALIDATE_LOG, NULL), 0);
    /* undefined codec 5 */
    be16_put(p + RB_OFF_ATTRIBUTES, 5);
    recrc(p, KNOWN_BATCH_BYTES);
    ck_assert_int_eq(rb_set_validate(p, KNOWN_BATCH_BYTES, NULL), GR_ECORRUPT);
    ck_assert_int_eq(iterate_all(p, KNOWN_BATCH_BYTES, CAP_1MIB), GR_ECORRUPT);
    be16_put(p + RB_OFF_ATTRIBUTES, 0);
    recrc(p, KNOWN_BATCH_BYTES);
    ck_assert_int_eq(rb_set_validate(p, KNOWN_BATCH_BYTES, NULL), 0);
    /* batchLength below the header size, and negative */
    be32_put(p + RB_OFF_LENGTH, 48);
    ck_assert_int_eq(rb_set_validate(p, KNOWN_BATCH_BYTES, NULL), GR_ECORRUPT);
    ck_assert_uint_eq(rb_batch_size(p, KNOWN_BATCH_BYTES), 0);
    be32_put(p + RB_OFF_LENGTH, 0x80000000u);
    ck_assert_int_eq(rb_set_validate(p, KNOWN_BATCH_BYTES, NULL), GR_ECORRUPT);
    be32_put(p + RB_OFF_LENGTH, 0x7fffffffu);
    ck_assert_int_eq(rb_set_validate(p, KNOWN_BATCH_BYTES, NULL), GR_ETRUNC);
    free(p);
}
END_TEST

/* Rewrites the uncompressed known batch with one byte patched inside the records; the CRC is
 * made valid again so that only the record parser can catch it. */
static int iterate_patched(size_t off, uint8_t value)
{
    uint8_t *p = known_copy();
    p[off] = value;
    recrc(p, KNOWN_BATCH_BYTES);
    ck_assert_int_eq(rb_set_validate(p, KNOWN_BATCH_BYTES, NULL), 0);
    int rc = iterate_all(p, KNOWN_BATCH_BYTES, CAP_1MIB);
    free(p);
    return rc;
}

START_TEST(test_record_length_lies)
{
    const size_t rec0 = RB_HEADER_BYTES;      /* length varint of record 0: 0x20 (16) */
    const size_t rec1 = RB_HEADER_BYTES + 17; /* length varint of record 1: 0x1c (14) */
    ck_assert_int_eq(known_batch[rec0], 0x20);
    ck_assert_int_eq(known_batch[rec1], 0x1c);
    ck_assert_int_eq(iterate_patched(rec0, 0x1e), GR_ECORRUPT); /* says 15 */
    ck_assert_int_eq(iterate_patched(rec0, 0x22), GR_ECORRUPT); /* says 17 */
    ck_assert_int_eq(iterate_patched(rec1, 0x1e), GR_ECORRUPT); /* runs past the end */
    ck_assert_int_eq(iterate_patched(rec1, 0x1a), GR_ECORRUPT); /* leaves a trailing byte */
    ck_assert_int_eq(iterate_patched(rec0, 0x01), GR_ECORRUPT); /* negative length */
    ck_assert_int_eq(iterate_patched(rec0, 0x80), GR_ECORRUPT); /* varint runs on */
    /* key length 2 instead of 1: fields overrun the record */
    ck_assert_int_eq(iterate_patched(rec0 + 4, 0x04), GR_ECORRUPT);
    /* key length -2 */
    ck_assert_int_eq(iterate_patched(rec0 + 4, 0x03), GR_ECORRUPT);
    /* header count 2 (there is one) and -1 */
    ck_assert_int_eq(iterate_patched(rec0 + 12, 0x04), GR_ECORRUPT);
    ck_assert_int_eq(iterate_patched(rec0 + 12, 0x01), GR_ECORRUPT);
    /* header key null (-1) is not allowed */
    ck_assert_int_eq(iterate_patched(rec0 + 13, 0x01), GR_ECORRUPT);
    /* control: the unpatched batch iterates cleanly */
    ck_assert_int_eq(iterate_patched(rec0, 0x20), 0);

    /* recordCount 3 with bytes for 2, and recordCount 1 with bytes for 2 */
    uint8_t *p = known_copy();
    be32_put(p + RB_OFF_RECORD_COUNT, 3);
    ck_assert_int_eq(iterate_all(p, KNOWN_BATCH_BYTES, CAP_1MIB), GR_ECORRUPT);
    be32_put(p + RB_OFF_RECORD_COUNT, 1);
    ck_assert_int_eq(iterate_all(p, KNOWN_BATCH_BYTES, CAP_1MIB), GR_ECORRUPT);
    be32_put(p + RB_OFF_RECORD_COUNT, 0xffffffffu);
    ck_assert_int_eq(iterate_all(p, KNOWN_BATCH_BYTES, CAP_1MIB), GR_ECORRUPT);
    free(p);
}
END_TEST

START_TEST(test_corrupt_compressed_records)
{
    /* A compressed batch whose blob is damaged but whose CRC was recomputed (a buggy or hostile
     * client): validation passes, iteration and recompression fail cleanly. */
    int codec = all_codecs[_i + 1];
    struct gbuf out, re;
    gbuf_init(&out);
    gbuf_init(&re);
    build_generated(codec, 50, 0, &out);
    /* Truncated blob: every codec must notice. */
    out.len -= 3;
    be32_put(out.data + RB_OFF_LENGTH, (uint32_t)(out.len - RB_LOG_OVERHEAD));
    recrc(out.data, out.len);
    ck_assert_int_eq(rb_set_validate(out.data, out.len, NULL), 0);
    ck_assert_int_eq(iterate_all(out.data, out.len, CAP_1MIB), GR_ECORRUPT);
    ck_assert_int_eq(rb_recompress(out.data, out.len, RB_CODEC_NONE, &re), GR_ECORRUPT);
    ck_assert_uint_eq(re.len, 0);
    /* Flipped bytes mid-blob: gzip/zstd checksums or the record parser catch most; an LZ4
     * frame without content checksum (as the Java client writes it) may decode to other
     * bytes that still parse.  Either way: no crash, no partial output. */
    gbuf_reset(&out);
    build_generated(codec, 50, 0, &out);
    size_t mid = RB_HEADER_BYTES + (out.len - RB_HEADER_BYTES) / 2;
    out.data[mid] ^= 0x5a;
    out.data[mid + 1] ^= 0xa5;
    recrc(out.data, out.len);
    int rc = iterate_all(out.data, out.len, CAP_1MIB);
    ck_assert_msg(rc == GR_ECORRUPT || rc == GR_ERANGE || (rc == 0 && codec == RB_CODEC_LZ4),
                  "rc %d", rc);
    gbuf_close(&out);
    gbuf_close(&re);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* Snappy framing, caps.                                                                       */

/* Builds a batch whose records are xerial-framed snappy in chunks of chunk_bytes. */
static void build_xerial(size_t chunk_bytes, struct gbuf *out)
{
    struct gbuf plain_batch, blob;
    gbuf_init(&plain_batch);
    gbuf_init(&blob);
    build_generated(RB_CODEC_NONE, 120, 77, &plain_batch);
    const uint8_t *recs = plain_batch.data + RB_HEADER_BYTES;
    size_t recs_len = plain_batch.len - RB_HEADER_BYTES;
    static const uint8_t hdr[16] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1};
    gbuf_append(&blob, hdr, sizeof(hdr));
    for (size_t off = 0; off < recs_len; off += chunk_bytes) {
        size_t n = recs_len - off < chunk_bytes ? recs_len - off : chunk_bytes;
        size_t clen = snappy_max_compressed_length(n);
        ck_assert_int_eq(gbuf_reserve(&blob, clen + 4), 0);
        ck_assert_int_eq(
            snappy_compress((const char *)recs + off, n, (char *)blob.data + blob.len + 4, &clen),
            SNAPPY_OK);
        be32_put(blob.data + blob.len, (uint32_t)clen);
        blob.len += 4 + clen;
    }
    gbuf_append(out, plain_batch.data, RB_HEADER_BYTES);
    gbuf_append(out, blob.data, blob.len);
    be32_put(out->data + RB_OFF_LENGTH, (uint32_t)(out->len - RB_LOG_OVERHEAD));
    be16_put(out->data + RB_OFF_ATTRIBUTES, RB_CODEC_SNAPPY);
    recrc(out->data, out->len);
    gbuf_close(&plain_batch);
    gbuf_close(&blob);
}

START_TEST(test_xerial_snappy)
{
    struct gbuf out, re;
    gbuf_init(&out);
    gbuf_init(&re);
    build_xerial(32 * 1024, &out); /* snappy-java's default block size */
    ck_assert_int_eq(rb_set_validate(out.data, out.len, NULL), 0);
    check_generated(out.data, out.len, 120, 77);
    gbuf_reset(&out);
    build_xerial(1000, &out); /* many chunks, records straddling them */
    ck_assert_int_eq(rb_set_validate(out.data, out.len, NULL), 0);
    check_generated(out.data, out.len, 120, 77);
    /* recompression turns it into a raw block, as librdkafka writes */
    ck_assert_int_eq(rb_recompress(out.data, out.len, RB_CODEC_SNAPPY, &re), 0);
    ck_assert_int_ne(re.data[RB_HEADER_BYTES], 0x82);
    check_generated(re.data, re.len, 120, 77);
    /* a chunk length that runs past the end */
    be32_put(out.data + RB_HEADER_BYTES + 16, 0x7fffffff);
    recrc(out.data, out.len);
    ck_assert_int_eq(iterate_all(out.data, out.len, CAP_1MIB), GR_ECORRUPT);
    gbuf_close(&out);
    gbuf_close(&re);
}
END_TEST

START_TEST(test_decompression_cap)
{
    int codec = all_codecs[_i + 1];
    struct rb_builder b;
    rb_builder_init(&b, 0, codec);
    uint8_t *zeros = calloc(1, 4u << 20);
    ck_assert_ptr_nonnull(zeros);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(rb_builder_add(&b, 1, NULL, -1, zeros, 1 << 20, NULL, 0), 0);
    struct gbuf out;
    gbuf_init(&out);
    ck_assert_int_eq(rb_builder_finish(&b, &out), 0);
    ck_assert_uint_lt(out.len, 1u << 20); /* it really is a bomb-shaped batch */
    ck_assert_int_eq(rb_set_validate(out.data, out.len, NULL), 0);
    struct gbuf scratch;
    gbuf_init(&scratch);
    struct rb_iter it;
    ck_assert_int_eq(rb_iter_init(&it, out.data, out.len, &scratch, 64 * 1024), GR_ERANGE);
    ck_assert_uint_le(scratch.len, 64 * 1024 + 1);
    ck_assert_uint_le(scratch.cap, 256 * 1024);
    ck_assert_int_eq(rb_iter_init(&it, out.data, out.len, &scratch, 8u << 20), 0);
    struct rb_record rec;
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(rb_iter_next(&it, &rec), 1);
        ck_assert_int_eq(rec.value_len, 1 << 20);
    }
    ck_assert_int_eq(rb_iter_next(&it, &rec), 0);
    struct gbuf re;
    gbuf_init(&re);
    ck_assert_int_eq(rb_recompress_max(out.data, out.len, RB_CODEC_NONE, -1, 1 << 20, &re),
                     GR_ERANGE);
    ck_assert_uint_eq(re.len, 0);
    gbuf_close(&re);
    gbuf_close(&scratch);
    gbuf_close(&out);
    free(zeros);
    rb_builder_close(&b);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* Stamping and recompression.                                                                 */

START_TEST(test_assign_offsets)
{
    struct gbuf set;
    gbuf_init(&set);
    int counts[] = {1, 7, 300, 2};
    for (int i = 0; i < 4; i++)
        build_generated(all_codecs[i + 1], counts[i], 0, &set);
    struct rb_set_info info;
    ck_assert_int_eq(rb_set_validate(set.data, set.len, &info), 0);
    ck_assert_int_eq(info.batch_count, 4);
    ck_assert_int_eq(info.record_count, 310);
    ck_assert_int_eq(info.codec, RB_CODEC_GZIP);
    int64_t next = rb_set_assign_offsets(set.data, set.len, 5000, 42);
    ck_assert_int_eq(next, 5310);
    ck_assert_int_eq(rb_set_validate(set.data, set.len, NULL), 0); /* CRC untouched */
    size_t off = 0;
    int64_t base = 5000;
    for (int i = 0; i < 4; i++) {
        size_t size = rb_batch_size(set.data + off, set.len - off);
        ck_assert_uint_gt(size, 0);
        struct rb_header h;
        ck_assert_int_eq(rb_header_parse(set.data + off, size, &h), 0);
        ck_assert_int_eq(h.base_offset, base);
        ck_assert_int_eq(h.partition_leader_epoch, 42);
        check_generated(set.data + off, size, counts[i], base);
        base += counts[i];
        off += size;
    }
    ck_assert_uint_eq(off, set.len);
    gbuf_close(&set);
}
END_TEST

START_TEST(test_log_append_time)
{
    struct gbuf set;
    gbuf_init(&set);
    build_generated(RB_CODEC_LZ4, 20, 0, &set);
    build_known(RB_CODEC_NONE, &set);
    const int64_t now = 1800000000123LL;
    rb_set_log_append_time(set.data, set.len, now);
    struct rb_set_info info;
    ck_assert_int_eq(rb_set_validate(set.data, set.len, &info), 0);
    ck_assert_int_eq(info.max_timestamp, now);
    size_t first = rb_batch_size(set.data, set.len);
    struct rb_header h;
    ck_assert_int_eq(rb_header_parse(set.data, set.len, &h), 0);
    ck_assert(h.attributes & RB_ATTR_LOG_APPEND_TIME);
    ck_assert_int_eq(h.max_timestamp, now);
    ck_assert_int_eq(h.base_timestamp, gen_ts(0)); /* as Kafka: only maxTimestamp changes */
    struct gbuf scratch;
    gbuf_init(&scratch);
    struct rb_iter it;
    struct rb_record rec;
    for (size_t off = 0; off < set.len; off += rb_batch_size(set.data + off, set.len - off)) {
        ck_assert_int_eq(rb_iter_init(&it, set.data + off, set.len - off, &scratch, CAP_1MIB), 0);
        int n = 0;
        while (rb_iter_next(&it, &rec) == 1) {
            ck_assert_int_eq(rec.timestamp, now);
            n++;
        }
        ck_assert_int_eq(it.err, 0);
        ck_assert_int_eq(n, off == 0 ? 20 : 2);
    }
    ck_assert_uint_gt(first, 0);
    gbuf_close(&scratch);
    gbuf_close(&set);
}
END_TEST

START_TEST(test_recompress_roundtrip)
{
    struct gbuf a, b, c, d;
    gbuf_init(&a);
    gbuf_init(&b);
    gbuf_init(&c);
    gbuf_init(&d);
    struct rb_builder bl;
    rb_builder_init(&bl, 900, RB_CODEC_NONE);
    bl.producer_id = 12345;
    bl.producer_epoch = 3;
    bl.base_sequence = 77;
    bl.attributes |= RB_ATTR_TRANSACTIONAL;
    char key[32], value[1024];
    for (int i = 0; i < 64; i++) {
        int32_t kl = gen_key(i, key), vl = gen_value(i, value);
        ck_assert_int_eq(rb_builder_add(&bl, gen_ts(i), kl < 0 ? NULL : key, kl,
                                        vl < 0 ? NULL : value, vl, NULL, 0),
                         0);
    }
    ck_assert_int_eq(rb_builder_finish(&bl, &a), 0);
    rb_builder_close(&bl);
    rb_set_assign_offsets(a.data, a.len, 900, 7);

    ck_assert_int_eq(rb_recompress(a.data, a.len, RB_CODEC_ZSTD, &b), 0);
    ck_assert_int_eq(rb_set_validate(b.data, b.len, NULL), 0);
    ck_assert_uint_lt(b.len, a.len);
    ck_assert_int_eq(rb_recompress(b.data, b.len, RB_CODEC_GZIP, &c), 0);
    ck_assert_int_eq(rb_set_validate(c.data, c.len, NULL), 0);
    ck_assert_int_eq(rb_recompress(c.data, c.len, RB_CODEC_NONE, &d), 0);
    /* Back to uncompressed: byte-identical to the original, header fields and all. */
    ck_assert_uint_eq(d.len, a.len);
    ck_assert_mem_eq(d.data, a.data, a.len);

    struct rb_header ha, hc;
    ck_assert_int_eq(rb_header_parse(c.data, c.len, &hc), 0);
    ck_assert_int_eq(rb_header_parse(a.data, a.len, &ha), 0);
    ck_assert_int_eq(hc.attributes, RB_ATTR_TRANSACTIONAL | RB_CODEC_GZIP);
    ck_assert_int_eq(hc.base_offset, 900);
    ck_assert_int_eq(hc.partition_leader_epoch, 7);
    ck_assert_int_eq(hc.producer_id, 12345);
    ck_assert_int_eq(hc.producer_epoch, 3);
    ck_assert_int_eq(hc.base_sequence, 77);
    ck_assert_int_eq(hc.base_timestamp, ha.base_timestamp);
    ck_assert_int_eq(hc.max_timestamp, ha.max_timestamp);
    ck_assert_int_eq(hc.last_offset_delta, 63);

    /* A source whose CRC is wrong is refused, not re-blessed. */
    a.data[a.len - 1] ^= 1;
    gbuf_reset(&b);
    ck_assert_int_eq(rb_recompress(a.data, a.len, RB_CODEC_ZSTD, &b), GR_ECORRUPT);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_int_eq(rb_recompress(known_batch, KNOWN_BATCH_BYTES, 6, &b), GR_EINVAL);
    gbuf_close(&a);
    gbuf_close(&b);
    gbuf_close(&c);
    gbuf_close(&d);
}
END_TEST

START_TEST(test_header_parse_short)
{
    struct rb_header h;
    ck_assert_int_eq(rb_header_parse(known_batch, 10, &h), GR_ETRUNC);
    ck_assert_int_eq(rb_header_parse(known_batch, 17, &h), GR_ETRUNC);
    ck_assert_int_eq(rb_header_parse(known_batch, 60, &h), GR_ETRUNC);
    ck_assert_int_eq(rb_header_parse(known_batch, 61, &h), 0);
    ck_assert_int_eq(h.record_count, 2);
}
END_TEST

static Suite *record_batch_suite(void)
{
    Suite *s = suite_create("record_batch");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_known_vector);
    tcase_add_test(tc, test_known_gzip_vector);
    tcase_add_loop_test(tc, test_roundtrip_codec, 0, 5);
    tcase_add_loop_test(tc, test_codec_raw_roundtrip, 0, 5);
    tcase_add_test(tc, test_empty_values_and_bad_builder_args);
    tcase_add_test(tc, test_corrupt_crc_every_byte);
    tcase_add_test(tc, test_truncated);
    tcase_add_test(tc, test_wrong_magic);
    tcase_add_test(tc, test_bad_header_fields);
    tcase_add_test(tc, test_record_length_lies);
    tcase_add_loop_test(tc, test_corrupt_compressed_records, 0, 4);
    tcase_add_test(tc, test_xerial_snappy);
    tcase_add_loop_test(tc, test_decompression_cap, 0, 4);
    tcase_add_test(tc, test_assign_offsets);
    tcase_add_test(tc, test_log_append_time);
    tcase_add_test(tc, test_recompress_roundtrip);
    tcase_add_test(tc, test_header_parse_short);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(record_batch_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

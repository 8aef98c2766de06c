/*
 * fuzz_record_batch.c — libFuzzer target for the record-batch codec and the codecs.
 *
 * For the input as a record set: rb_set_validate (produce and log modes), then for every batch
 * that at least parses, the record iterator to the end (1 MiB cap) and every record's headers;
 * then, on a copy with every CRC re-stamped (so mutations reach past the checksum), assign
 * offsets / LogAppendTime / recompress if the set validates.  Then the raw input through
 * each decompressor with a small cap.
 *
 * Built with -DRB_FUZZ_SEED_MAIN (and without -fsanitize=fuzzer) this file instead writes the
 * seed corpus: `seedgen tests/fuzz/seeds/fuzz_record_batch`.
 */
#include "proto/proto_record_batch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CAP_BYTES ((size_t)1 << 20)
#define FUZZ_RAW_CAP_BYTES ((size_t)64 * 1024)

static void walk_records(const uint8_t *batch, size_t n, struct gbuf *scratch)
{
    struct rb_iter it;
    if (rb_iter_init(&it, batch, n, scratch, FUZZ_CAP_BYTES)) return;
    struct rb_record rec;
    while (rb_iter_next(&it, &rec) == 1) {
        if (rec.key_len > 0) (void)crc32c(0, rec.key, (size_t)rec.key_len);
        if (rec.value_len > 0) (void)crc32c(0, rec.value, (size_t)rec.value_len);
        const uint8_t *hp = rec.headers, *he = rec.headers + rec.headers_len;
        struct rb_header_kv kv;
        int seen = 0;
        while (rb_record_header_next(&hp, he, &kv) == 1) {
            if (kv.value_len > 0) (void)crc32c(0, kv.value, (size_t)kv.value_len);
            seen++;
        }
        if (seen != rec.header_count) abort(); /* the iterator validated the headers */
    }
}

static void walk_set(const uint8_t *p, size_t n, struct gbuf *scratch)
{
    /* Walk even what does not validate: the iterator must be safe on any bytes that parse. */
    while (n >= RB_LOG_OVERHEAD) {
        struct rb_header h;
        if (rb_header_parse(p, n, &h)) return;
        size_t size = (size_t)h.batch_length + RB_LOG_OVERHEAD;
        walk_records(p, GR_MIN(size, n), scratch);
        if (size > n) return;
        p += size;
        n -= size;
    }
}

static void stamp_and_recompress(const uint8_t *data, size_t size, struct gbuf *scratch)
{
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) return;
    memcpy(copy, data, size);
    /* Re-stamp every CRC so mutations get past the checksum and reach the deeper checks. */
    for (size_t off = 0, bsize; (bsize = rb_batch_size(copy + off, size - off)) != 0; off += bsize)
        be32_put(copy + off + RB_OFF_CRC,
                 crc32c(0, copy + off + RB_OFF_ATTRIBUTES, bsize - RB_OFF_ATTRIBUTES));
    struct rb_set_info info;
    if (rb_set_validate(copy, size, &info) == 0) {
        int64_t next = rb_set_assign_offsets(copy, size, 100, 1);
        if (next != 100 + info.record_count) abort();
        rb_set_log_append_time(copy, size, 1234);
        if (rb_set_validate(copy, size, NULL) != 0) abort(); /* CRCs must stay valid */
        size_t bsize = rb_batch_size(copy, size);
        struct gbuf out;
        gbuf_init(&out);
        if (rb_recompress_max(copy, bsize, RB_CODEC_ZSTD, 1, FUZZ_CAP_BYTES, &out) == 0) {
            if (rb_set_validate_flags(out.data, out.len, RB_VALIDATE_LOG, NULL) != 0) abort();
            walk_records(out.data, out.len, scratch);
        }
        gbuf_close(&out);
    }
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gbuf scratch;
    gbuf_init(&scratch);
    struct rb_set_info info;
    (void)rb_set_validate(data, size, &info);
    (void)rb_set_validate_flags(data, size, RB_VALIDATE_LOG, &info);
    (void)rb_batch_size(data, size);
    walk_set(data, size, &scratch);
    stamp_and_recompress(data, size, &scratch);
    for (int codec = RB_CODEC_NONE; codec <= RB_CODEC_ZSTD + 1; codec++) {
        gbuf_reset(&scratch);
        int rc = rb_decompress(codec, data, size, &scratch, FUZZ_RAW_CAP_BYTES);
        if (scratch.len > FUZZ_RAW_CAP_BYTES + 1) abort(); /* the cap must hold */
        (void)rc;
    }
    gbuf_close(&scratch);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */

#ifdef RB_FUZZ_SEED_MAIN
#include <snappy-c.h>

static int write_file(const char *dir, const char *name, const struct gbuf *b)
{
    char path[512];
    strfmt(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(b->data, 1, b->len, f);
    return fclose(f) == 0 && w == b->len ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    static const char *names[] = {"none", "gzip", "snappy", "lz4", "zstd"};
    struct gbuf set;
    gbuf_init(&set);
    for (int codec = RB_CODEC_NONE; codec <= RB_CODEC_ZSTD; codec++) {
        struct rb_builder b;
        rb_builder_init(&b, 0, codec);
        struct rb_header_kv hs[2] = {{(const uint8_t *)"h", 1, (const uint8_t *)"v", 1},
                                     {(const uint8_t *)"n", 1, NULL, -1}};
        rb_builder_add(&b, 1700000000000LL, "k", 1, "hello", 5, hs, 2);
        rb_builder_add(&b, 1700000000005LL, NULL, -1, "world", 5, NULL, 0);
        rb_builder_add(&b, 1699999999990LL, "k3", 2, NULL, -1, hs, 1);
        struct gbuf one;
        gbuf_init(&one);
        if (rb_builder_finish(&b, &one)) return 1;
        char name[32];
        strfmt(name, sizeof(name), "batch_%s", names[codec]);
        if (write_file(argv[1], name, &one)) return 1;
        gbuf_append(&set, one.data, one.len);
        gbuf_close(&one);
        rb_builder_close(&b);
    }
    if (write_file(argv[1], "set_all_codecs", &set)) return 1;
    /* xerial-framed snappy blob (Java client framing), for the raw decompress path */
    static const char text[] = "hello hello hello hello xerial";
    char block[128];
    size_t block_len = sizeof(block);
    if (snappy_compress(text, sizeof(text) - 1, block, &block_len) != SNAPPY_OK) return 1;
    static const uint8_t magic[16] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0,
                                      0,    0,   0,   1,   0,   0,   0,   1};
    uint8_t len_be[4];
    be32_put(len_be, (uint32_t)block_len);
    gbuf_reset(&set);
    gbuf_append(&set, magic, sizeof(magic));
    gbuf_append(&set, len_be, 4);
    gbuf_append(&set, block, block_len);
    if (write_file(argv[1], "raw_xerial_snappy", &set)) return 1;
    gbuf_close(&set);
    return 0;
}
#endif

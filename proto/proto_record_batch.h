/*
 * proto_record_batch.h — Kafka record batches (magic v2): validation, offset assignment,
 * record iteration, compression codecs, and building batches.  Included through proto/proto.h.
 *
 * Batch layout (big-endian), 61 bytes before the records:
 *
 *   off  field                  type   notes
 *   0    baseOffset             i64    assigned by the broker; outside the CRC
 *   8    batchLength            i32    bytes after this field (total - 12)
 *   12   partitionLeaderEpoch   i32    stamped by the broker; outside the CRC
 *   16   magic                  i8     2
 *   17   crc                    u32    CRC-32C over bytes 21..end
 *   21   attributes             i16    bits 0-2 codec, 3 timestamp type, 4 txn, 5 control
 *   23   lastOffsetDelta        i32
 *   27   baseTimestamp          i64
 *   35   maxTimestamp           i64
 *   43   producerId             i64
 *   51   producerEpoch          i16
 *   53   baseSequence           i32
 *   57   recordCount            i32
 *   61   records                       one compressed blob after the count when codec != 0
 *
 * Record (varints zig-zag): length, attributes i8, timestampDelta varlong, offsetDelta varint,
 * keyLen varint (-1 null) + key, valueLen varint + value, headers count varint, then per
 * header keyLen + key, valueLen (-1 null) + value.
 */
#ifndef GREGOR_PROTO_RECORD_BATCH_H
#define GREGOR_PROTO_RECORD_BATCH_H

#include "common/common.h"

#define RB_LOG_OVERHEAD 12 /* baseOffset + batchLength */
#define RB_HEADER_BYTES 61
#define RB_MAGIC_V2 2

#define RB_OFF_BASE_OFFSET 0
#define RB_OFF_LENGTH 8
#define RB_OFF_LEADER_EPOCH 12
#define RB_OFF_MAGIC 16
#define RB_OFF_CRC 17
#define RB_OFF_ATTRIBUTES 21
#define RB_OFF_LAST_OFFSET_DELTA 23
#define RB_OFF_BASE_TIMESTAMP 27
#define RB_OFF_MAX_TIMESTAMP 35
#define RB_OFF_PRODUCER_ID 43
#define RB_OFF_PRODUCER_EPOCH 51
#define RB_OFF_BASE_SEQUENCE 53
#define RB_OFF_RECORD_COUNT 57

enum rb_codec { RB_CODEC_NONE = 0, RB_CODEC_GZIP = 1, RB_CODEC_SNAPPY = 2, RB_CODEC_LZ4 = 3,
                RB_CODEC_ZSTD = 4 };
#define RB_ATTR_CODEC_MASK 0x07
#define RB_ATTR_LOG_APPEND_TIME 0x08
#define RB_ATTR_TRANSACTIONAL 0x10
#define RB_ATTR_CONTROL 0x20

struct rb_header {
    int64_t base_offset;
    int32_t batch_length;
    int32_t partition_leader_epoch;
    int8_t magic;
    uint32_t crc;
    int16_t attributes;
    int32_t last_offset_delta;
    int64_t base_timestamp;
    int64_t max_timestamp;
    int64_t producer_id;
    int16_t producer_epoch;
    int32_t base_sequence;
    int32_t record_count;
};

/* Parses the fixed header of the batch at p (n bytes available, n >= RB_LOG_OVERHEAD+5 for
 * magic).  Returns 0, GR_ETRUNC if fewer than RB_HEADER_BYTES are available, GR_EUNSUP if
 * magic != 2 (callers answer UNSUPPORTED_FOR_MESSAGE_FORMAT), or GR_ECORRUPT. */
int rb_header_parse(const uint8_t *p, size_t n, struct rb_header *h);

/* Result of validating a record set (the `records` bytes of one partition in a Produce). */
struct rb_set_info {
    int32_t batch_count;
    int64_t record_count;    /* sum of recordCount */
    int64_t max_timestamp;   /* max of maxTimestamp */
    int64_t first_timestamp; /* baseTimestamp of the first batch */
    int codec;               /* codec of the first batch */
    int32_t max_batch_bytes; /* largest batch including RB_LOG_OVERHEAD */
    int32_t bad_batch_index; /* on failure: which batch */
};

/* Validates a whole record set: every batch complete (no partial trailing batch), magic 2,
 * batchLength >= 49, CRC-32C matches, recordCount >= 1 and lastOffsetDelta == count - 1
 * (Kafka rejects empty batches in a produce), control bit clear (clients never produce
 * control batches).  Does NOT decompress.  Returns 0, GR_EUNSUP (old magic), GR_ECORRUPT
 * (CRC, lengths, counts), or GR_ETRUNC (partial batch).  info may be NULL. */
int rb_set_validate(const uint8_t *p, size_t n, struct rb_set_info *info);

/* rb_set_validate with options.  RB_VALIDATE_LOG is for batches already in a log (recovery,
 * follower fetch): control batches are allowed, and so are the batches compaction leaves
 * behind (recordCount 0..lastOffsetDelta+1, offset deltas with gaps).  CRC, magic, lengths
 * and codec are checked as in rb_set_validate.  Same return values; no allocation. */
#define RB_VALIDATE_LOG 0x1u
int rb_set_validate_flags(const uint8_t *p, size_t n, unsigned flags, struct rb_set_info *info);

/* Walks batches in place: returns the byte length (including RB_LOG_OVERHEAD) of the complete
 * batch at p, or 0 if fewer bytes than a whole batch (or its header) remain or the length is
 * impossible.  Does not check the CRC. */
size_t rb_batch_size(const uint8_t *p, size_t n);

/* Rewrites baseOffset and partitionLeaderEpoch (both outside the CRC) of each batch in the set,
 * consecutively from first_offset.  The set must have passed rb_set_validate.  Returns the next
 * offset after the last record. */
int64_t rb_set_assign_offsets(uint8_t *p, size_t n, int64_t first_offset, int32_t leader_epoch);

/* For message.timestamp.type=LogAppendTime: sets the timestamp-type bit and maxTimestamp to ts
 * on every batch of the set and recomputes each CRC.  baseTimestamp is left alone, as Kafka's
 * DefaultRecordBatch.setMaxTimestamp does (readers take maxTimestamp for every record of a
 * LogAppendTime batch).  The set must have passed rb_set_validate. */
void rb_set_log_append_time(uint8_t *p, size_t n, int64_t ts);

/* ------------------------------------------------------------------------------------------ */
/* Codecs.  Snappy accepts both raw blocks (librdkafka) and xerial framing (Java); compresses
 * raw.  LZ4 is the standard LZ4 frame format. */

/* Appends the decompressed bytes of in[0..n) to out; fails with GR_ECORRUPT on bad input or
 * GR_ERANGE if the output would exceed max_out bytes. */
int rb_decompress(int codec, const uint8_t *in, size_t n, struct gbuf *out, size_t max_out);
/* Appends the compressed form of in[0..n) to out.  level < 0 = codec default. */
int rb_compress(int codec, int level, const uint8_t *in, size_t n, struct gbuf *out);

/* ------------------------------------------------------------------------------------------ */
/* Records. */

struct rb_header_kv {
    const uint8_t *key;
    int32_t key_len;
    const uint8_t *value;
    int32_t value_len; /* -1 = null */
};

struct rb_record {
    int64_t offset;    /* base offset + offset delta */
    int64_t timestamp; /* base timestamp + delta (or maxTimestamp for LogAppendTime) */
    const uint8_t *key;
    int32_t key_len; /* -1 = null */
    const uint8_t *value;
    int32_t value_len; /* -1 = null */
    int32_t header_count;
    const uint8_t *headers; /* raw header bytes: parse with rb_record_header_next */
    size_t headers_len;
};

/* Iterates the records of one batch.  For a compressed batch the records are decompressed into
 * `scratch` (owned by the caller, reused across calls; max_bytes caps the output).  Views in
 * rb_record point into the batch or scratch and live until scratch is reused.  rb_iter_init
 * does not check the CRC (run rb_set_validate first); it returns 0, GR_ETRUNC, GR_EUNSUP,
 * GR_ECORRUPT, GR_ERANGE (max_bytes exceeded) or GR_EINVAL (compressed batch, scratch NULL).
 * rb_iter_next also reports GR_ECORRUPT when bytes remain after recordCount records. */
struct rb_iter {
    struct rb_header h;
    const uint8_t *p, *end;
    int32_t left;
    int err;
};
int rb_iter_init(struct rb_iter *it, const uint8_t *batch, size_t n, struct gbuf *scratch,
                 size_t max_bytes);
/* Returns 1 and fills rec, 0 at the end, or a negative GR_E* (GR_ECORRUPT) on bad bytes. */
int rb_iter_next(struct rb_iter *it, struct rb_record *rec);
/* Header iteration over rec->headers: returns 1 and fills kv, 0 at end, negative on error. */
int rb_record_header_next(const uint8_t **p, const uint8_t *end, struct rb_header_kv *kv);

/* ------------------------------------------------------------------------------------------ */
/* Building batches (recompression, the metadata log, tests and benchmarks). */

struct rb_builder {
    struct gbuf records; /* uncompressed record bytes */
    int64_t base_offset;
    int64_t base_timestamp;
    int64_t max_timestamp;
    int32_t count;
    int16_t attributes;
    int64_t producer_id;
    int16_t producer_epoch;
    int32_t base_sequence;
};

void rb_builder_init(struct rb_builder *b, int64_t base_offset, int codec);
void rb_builder_close(struct rb_builder *b);
/* Appends a record; offset delta = current count.  Returns 0 or GR_ENOMEM. */
int rb_builder_add(struct rb_builder *b, int64_t timestamp, const void *key, int32_t key_len,
                   const void *value, int32_t value_len, const struct rb_header_kv *headers,
                   int32_t header_count);
/* Writes the complete batch (header, compressed records, CRC) to out.  0 or GR_E*. */
int rb_builder_finish(struct rb_builder *b, struct gbuf *out);

/* Rewrites one batch with another codec (Kafka's topic-level compression.type), preserving
 * offsets, timestamps, producer fields and records.  Appends the new batch to out. */
int rb_recompress(const uint8_t *batch, size_t n, int codec, struct gbuf *out);

/* rb_recompress with a cap on the decompressed record bytes (rb_recompress uses
 * RB_RECOMPRESS_MAX_BYTES) and a codec level (< 0 = default).  The source batch's CRC and every
 * record are checked before a new CRC is written, so corrupt input is never re-blessed.
 * Returns 0, GR_ECORRUPT, GR_EUNSUP, GR_ETRUNC, GR_ERANGE (cap) or GR_ENOMEM; on failure out
 * is left at its original length. */
#define RB_RECOMPRESS_MAX_BYTES ((size_t)256 << 20)
int rb_recompress_max(const uint8_t *batch, size_t n, int codec, int level, size_t max_bytes,
                      struct gbuf *out);

#endif

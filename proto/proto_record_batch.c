/*
 * proto_record_batch.c — record batches (magic v2) as whole units: header parsing, validation
 * of a produced record set, offset and LogAppendTime stamping, building and recompressing.
 * Record-level parsing lives in proto_record_iter.c, the codecs in proto_compress.c.
 *
 * The layout table is in proto_record_batch.h.  Invariants this file keeps:
 *   - batchLength >= 49 (a header with no records) and the batch fits in the bytes given;
 *   - the CRC-32C covers bytes 21..end, so baseOffset (0), batchLength (8) and
 *     partitionLeaderEpoch (12) can be rewritten without touching it, while any change from
 *     attributes onwards (LogAppendTime, recompression) must recompute it.
 */
#include "proto/proto_record_batch.h"

#include <assert.h>
#include <string.h>

#define RB_MIN_BATCH_LENGTH (RB_HEADER_BYTES - RB_LOG_OVERHEAD) /* 49 */
/* length(1) attributes(1) tsDelta(1) offsetDelta(1) key -1(1) value -1(1) headers 0(1) */
#define RB_MIN_RECORD_BYTES 7
#define RB_NO_TIMESTAMP (-1)

int rb_header_parse(const uint8_t *p, size_t n, struct rb_header *h)
{
    memset(h, 0, sizeof(*h));
    if (n < RB_OFF_MAGIC + 1) return GR_ETRUNC;
    h->base_offset = (int64_t)be64_get(p + RB_OFF_BASE_OFFSET);
    h->batch_length = (int32_t)be32_get(p + RB_OFF_LENGTH);
    h->partition_leader_epoch = (int32_t)be32_get(p + RB_OFF_LEADER_EPOCH);
    h->magic = (int8_t)p[RB_OFF_MAGIC];
    /* Magic first: a v0/v1 message set has another layout and may be shorter than 61. */
    if (h->magic != RB_MAGIC_V2) return GR_EUNSUP;
    if (n < RB_HEADER_BYTES) return GR_ETRUNC;
    h->crc = be32_get(p + RB_OFF_CRC);
    h->attributes = (int16_t)be16_get(p + RB_OFF_ATTRIBUTES);
    h->last_offset_delta = (int32_t)be32_get(p + RB_OFF_LAST_OFFSET_DELTA);
    h->base_timestamp = (int64_t)be64_get(p + RB_OFF_BASE_TIMESTAMP);
    h->max_timestamp = (int64_t)be64_get(p + RB_OFF_MAX_TIMESTAMP);
    h->producer_id = (int64_t)be64_get(p + RB_OFF_PRODUCER_ID);
    h->producer_epoch = (int16_t)be16_get(p + RB_OFF_PRODUCER_EPOCH);
    h->base_sequence = (int32_t)be32_get(p + RB_OFF_BASE_SEQUENCE);
    h->record_count = (int32_t)be32_get(p + RB_OFF_RECORD_COUNT);
    if (h->batch_length < RB_MIN_BATCH_LENGTH) return GR_ECORRUPT;
    return 0;
}

size_t rb_batch_size(const uint8_t *p, size_t n)
{
    if (n < RB_LOG_OVERHEAD) return 0;
    int32_t len = (int32_t)be32_get(p + RB_OFF_LENGTH);
    if (len < RB_MIN_BATCH_LENGTH) return 0;
    size_t size = (size_t)len + RB_LOG_OVERHEAD;
    return size <= n ? size : 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Validation (produce hot path: one CRC pass per batch, no allocation).                      */

/* Checks the batch at p; on success *size is its length including RB_LOG_OVERHEAD. */
static int batch_check(const uint8_t *p, size_t n, unsigned flags, size_t *size)
{
    if (n < RB_OFF_MAGIC + 1) return GR_ETRUNC;
    if (p[RB_OFF_MAGIC] != RB_MAGIC_V2) return GR_EUNSUP;
    int32_t len = (int32_t)be32_get(p + RB_OFF_LENGTH);
    if (len < RB_MIN_BATCH_LENGTH) return GR_ECORRUPT;
    *size = (size_t)len + RB_LOG_OVERHEAD;
    if (*size > n) return GR_ETRUNC;
    uint32_t crc = crc32c(0, p + RB_OFF_ATTRIBUTES, *size - RB_OFF_ATTRIBUTES);
    if (crc != be32_get(p + RB_OFF_CRC)) return GR_ECORRUPT;

    uint16_t attr = be16_get(p + RB_OFF_ATTRIBUTES);
    int32_t count = (int32_t)be32_get(p + RB_OFF_RECORD_COUNT);
    int32_t last_delta = (int32_t)be32_get(p + RB_OFF_LAST_OFFSET_DELTA);
    if ((attr & RB_ATTR_CODEC_MASK) > RB_CODEC_ZSTD) return GR_ECORRUPT;
    if (flags & RB_VALIDATE_LOG) {
        /* compaction keeps lastOffsetDelta but may drop records, down to none */
        if (count < 0 || last_delta < 0 || count > (int64_t)last_delta + 1) return GR_ECORRUPT;
    } else {
        if (attr & RB_ATTR_CONTROL) return GR_ECORRUPT;
        if (count < 1 || last_delta != count - 1) return GR_ECORRUPT;
    }
    /* Uncompressed records take at least 7 bytes each: reject counts the bytes cannot hold. */
    if ((attr & RB_ATTR_CODEC_MASK) == RB_CODEC_NONE &&
        (int64_t)count * RB_MIN_RECORD_BYTES > (int64_t)(*size - RB_HEADER_BYTES))
        return GR_ECORRUPT;
    return 0;
}

static void set_info_add(struct rb_set_info *info, const uint8_t *p, size_t size)
{
    int64_t max_ts = (int64_t)be64_get(p + RB_OFF_MAX_TIMESTAMP);
    if (info->batch_count == 0) {
        info->first_timestamp = (int64_t)be64_get(p + RB_OFF_BASE_TIMESTAMP);
        info->codec = be16_get(p + RB_OFF_ATTRIBUTES) & RB_ATTR_CODEC_MASK;
    }
    if (max_ts > info->max_timestamp) info->max_timestamp = max_ts;
    if ((int32_t)size > info->max_batch_bytes) info->max_batch_bytes = (int32_t)size;
    info->record_count += (int32_t)be32_get(p + RB_OFF_RECORD_COUNT);
    info->batch_count++;
}

int rb_set_validate_flags(const uint8_t *p, size_t n, unsigned flags, struct rb_set_info *info)
{
    struct rb_set_info local;
    if (!info) info = &local;
    memset(info, 0, sizeof(*info));
    info->max_timestamp = RB_NO_TIMESTAMP;
    info->first_timestamp = RB_NO_TIMESTAMP;
    info->bad_batch_index = -1;
    while (n > 0) {
        size_t size = 0;
        int rc = batch_check(p, n, flags, &size);
        if (rc) {
            info->bad_batch_index = info->batch_count;
            return rc;
        }
        set_info_add(info, p, size);
        p += size;
        n -= size;
    }
    return 0;
}

int rb_set_validate(const uint8_t *p, size_t n, struct rb_set_info *info)
{
    return rb_set_validate_flags(p, n, 0, info);
}

/* ------------------------------------------------------------------------------------------ */
/* Stamping validated sets in place.                                                          */

int64_t rb_set_assign_offsets(uint8_t *p, size_t n, int64_t first_offset, int32_t leader_epoch)
{
    uint64_t next = (uint64_t)first_offset;
    size_t size;
    while ((size = rb_batch_size(p, n)) != 0) {
        int32_t last_delta = (int32_t)be32_get(p + RB_OFF_LAST_OFFSET_DELTA);
        assert(last_delta >= 0); /* precondition: the set passed validation */
        be64_put(p + RB_OFF_BASE_OFFSET, next);
        be32_put(p + RB_OFF_LEADER_EPOCH, (uint32_t)leader_epoch);
        next += (uint64_t)last_delta + 1;
        p += size;
        n -= size;
    }
    return (int64_t)next;
}

void rb_set_log_append_time(uint8_t *p, size_t n, int64_t ts)
{
    size_t size;
    while ((size = rb_batch_size(p, n)) != 0) {
        uint16_t attr = be16_get(p + RB_OFF_ATTRIBUTES);
        be16_put(p + RB_OFF_ATTRIBUTES, (uint16_t)(attr | RB_ATTR_LOG_APPEND_TIME));
        be64_put(p + RB_OFF_MAX_TIMESTAMP, (uint64_t)ts);
        be32_put(p + RB_OFF_CRC, crc32c(0, p + RB_OFF_ATTRIBUTES, size - RB_OFF_ATTRIBUTES));
        p += size;
        n -= size;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Building.                                                                                   */

void rb_builder_init(struct rb_builder *b, int64_t base_offset, int codec)
{
    assert(codec >= RB_CODEC_NONE && codec <= RB_CODEC_ZSTD);
    gbuf_init(&b->records);
    b->base_offset = base_offset;
    b->base_timestamp = RB_NO_TIMESTAMP;
    b->max_timestamp = RB_NO_TIMESTAMP;
    b->count = 0;
    b->attributes = (int16_t)codec;
    b->producer_id = -1;
    b->producer_epoch = -1;
    b->base_sequence = -1;
}

void rb_builder_close(struct rb_builder *b)
{
    gbuf_close(&b->records);
}

/* Bytes a varint-length-prefixed field takes; len -1 (null) is the prefix alone. */
static uint64_t field_size(int32_t len)
{
    return uvarint_size(zigzag64(len)) + (len > 0 ? (uint64_t)len : 0);
}

static uint8_t *put_varint(uint8_t *w, int64_t v)
{
    return w + uvarint_put(w, zigzag64(v));
}

static uint8_t *put_field(uint8_t *w, const void *data, int32_t len)
{
    w = put_varint(w, len);
    if (len > 0) memcpy(w, data, (size_t)len);
    return w + (len > 0 ? len : 0);
}

/* Record body size (after the length varint), or 0 if an argument is invalid. */
static uint64_t record_body_size(int64_t ts_delta, int32_t offset_delta, int32_t key_len,
                                 int32_t value_len, const struct rb_header_kv *headers,
                                 int32_t header_count)
{
    if (key_len < -1 || value_len < -1 || header_count < 0) return 0;
    if (header_count > 0 && !headers) return 0;
    uint64_t size = 1 + uvarint_size(zigzag64(ts_delta)) + uvarint_size(zigzag64(offset_delta));
    size += field_size(key_len) + field_size(value_len) + uvarint_size(zigzag64(header_count));
    for (int32_t i = 0; i < header_count; i++) {
        if (headers[i].key_len < 0 || headers[i].value_len < -1) return 0;
        size += field_size(headers[i].key_len) + field_size(headers[i].value_len);
    }
    return size;
}

int rb_builder_add(struct rb_builder *b, int64_t timestamp, const void *key, int32_t key_len,
                   const void *value, int32_t value_len, const struct rb_header_kv *headers,
                   int32_t header_count)
{
    if (b->count == INT32_MAX) return GR_ERANGE;
    int64_t base_ts = b->count == 0 ? timestamp : b->base_timestamp;
    int64_t ts_delta = (int64_t)((uint64_t)timestamp - (uint64_t)base_ts);
    uint64_t body = record_body_size(ts_delta, b->count, key_len, value_len, headers, header_count);
    if (body == 0) return GR_EINVAL;
    if (body > INT32_MAX - RB_HEADER_BYTES) return GR_ERANGE;
    if (gbuf_reserve(&b->records, body + 10)) return GR_ENOMEM;
    uint8_t *w = b->records.data + b->records.len;
    w = put_varint(w, (int64_t)body);
    *w++ = 0; /* record attributes: unused */
    w = put_varint(w, ts_delta);
    w = put_varint(w, b->count);
    w = put_field(w, key, key_len);
    w = put_field(w, value, value_len);
    w = put_varint(w, header_count);
    for (int32_t i = 0; i < header_count; i++) {
        w = put_field(w, headers[i].key, headers[i].key_len);
        w = put_field(w, headers[i].value, headers[i].value_len);
    }
    b->records.len = (size_t)(w - b->records.data);
    if (b->count == 0 || timestamp > b->max_timestamp) b->max_timestamp = timestamp;
    b->base_timestamp = base_ts;
    b->count++;
    return 0;
}

/* Fills the 61-byte header at p for a batch of `size` bytes and stamps the CRC. */
static void header_write(uint8_t *p, size_t size, const struct rb_header *h)
{
    be64_put(p + RB_OFF_BASE_OFFSET, (uint64_t)h->base_offset);
    be32_put(p + RB_OFF_LENGTH, (uint32_t)(size - RB_LOG_OVERHEAD));
    be32_put(p + RB_OFF_LEADER_EPOCH, (uint32_t)h->partition_leader_epoch);
    p[RB_OFF_MAGIC] = RB_MAGIC_V2;
    be16_put(p + RB_OFF_ATTRIBUTES, (uint16_t)h->attributes);
    be32_put(p + RB_OFF_LAST_OFFSET_DELTA, (uint32_t)h->last_offset_delta);
    be64_put(p + RB_OFF_BASE_TIMESTAMP, (uint64_t)h->base_timestamp);
    be64_put(p + RB_OFF_MAX_TIMESTAMP, (uint64_t)h->max_timestamp);
    be64_put(p + RB_OFF_PRODUCER_ID, (uint64_t)h->producer_id);
    be16_put(p + RB_OFF_PRODUCER_EPOCH, (uint16_t)h->producer_epoch);
    be32_put(p + RB_OFF_BASE_SEQUENCE, (uint32_t)h->base_sequence);
    be32_put(p + RB_OFF_RECORD_COUNT, (uint32_t)h->record_count);
    be32_put(p + RB_OFF_CRC, crc32c(0, p + RB_OFF_ATTRIBUTES, size - RB_OFF_ATTRIBUTES));
}

/* Appends header + records (compressed with the codec in h->attributes) to out. */
static int batch_write(const struct rb_header *h, int level, const uint8_t *recs, size_t recs_len,
                       struct gbuf *out)
{
    size_t start = out->len;
    static const uint8_t zero[RB_HEADER_BYTES];
    int rc = gbuf_append(out, zero, sizeof(zero));
    if (!rc) rc = rb_compress(h->attributes & RB_ATTR_CODEC_MASK, level, recs, recs_len, out);
    if (!rc && out->len - start > (size_t)INT32_MAX) rc = GR_ERANGE;
    if (rc) {
        out->len = start;
        return rc;
    }
    header_write(out->data + start, out->len - start, h);
    return 0;
}

int rb_builder_finish(struct rb_builder *b, struct gbuf *out)
{
    struct rb_header h = {
        .base_offset = b->base_offset,
        .partition_leader_epoch = -1, /* as producers send it; the leader stamps its own */
        .magic = RB_MAGIC_V2,
        .attributes = b->attributes,
        .last_offset_delta = b->count - 1,
        .base_timestamp = b->base_timestamp,
        .max_timestamp = b->max_timestamp,
        .producer_id = b->producer_id,
        .producer_epoch = b->producer_epoch,
        .base_sequence = b->base_sequence,
        .record_count = b->count,
    };
    return batch_write(&h, -1, b->records.data, b->records.len, out);
}

/* ------------------------------------------------------------------------------------------ */
/* Recompression.                                                                              */

int rb_recompress_max(const uint8_t *batch, size_t n, int codec, int level, size_t max_bytes,
                      struct gbuf *out)
{
    if (codec < RB_CODEC_NONE || codec > RB_CODEC_ZSTD) return GR_EINVAL;
    size_t size = 0;
    int rc = batch_check(batch, n, RB_VALIDATE_LOG, &size);
    if (rc) return rc;
    struct gbuf plain;
    gbuf_init(&plain);
    struct rb_iter it;
    rc = rb_iter_init(&it, batch, size, &plain, max_bytes);
    if (rc) goto out_close;
    /* Walk every record so that corrupt inner bytes never get a fresh, valid CRC. */
    const uint8_t *recs = it.p;
    size_t recs_len = (size_t)(it.end - it.p);
    struct rb_record rec;
    while ((rc = rb_iter_next(&it, &rec)) == 1) {
    }
    if (rc) goto out_close;
    struct rb_header h = it.h;
    h.attributes = (int16_t)((h.attributes & ~RB_ATTR_CODEC_MASK) | codec);
    rc = batch_write(&h, level, recs, recs_len, out);
out_close:
    gbuf_close(&plain);
    return rc;
}

int rb_recompress(const uint8_t *batch, size_t n, int codec, struct gbuf *out)
{
    return rb_recompress_max(batch, n, codec, -1, RB_RECOMPRESS_MAX_BYTES, out);
}

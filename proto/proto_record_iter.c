/*
 * proto_record_iter.c — iterating the records of one batch and the headers of one record.
 *
 * Record (all varints zig-zag, lengths -1 = null):
 *
 *   length          varint   bytes after this field
 *   attributes      i8       unused, 0
 *   timestampDelta  varlong  from baseTimestamp
 *   offsetDelta     varint   from baseOffset
 *   keyLen, key     varint + bytes   (-1 null)
 *   valueLen, value varint + bytes   (-1 null)
 *   headerCount     varint   >= 0
 *   headers         per header: keyLen (>= 0) + key, valueLen (-1 null) + value
 *
 * Every varint and length is checked against the end of its record, and a record's fields must
 * end exactly where its length says; the batch must hold exactly recordCount records.  Bytes
 * come from the network or disk, so nothing here asserts on them.
 */
#include "proto/proto_record_batch.h"

#include <string.h>

/* Reads a zig-zag varint that must fit an int32 (at most 5 bytes). */
static int rd_varint(const uint8_t **p, const uint8_t *end, int32_t *out)
{
    uint64_t u;
    size_t k = uvarint_get(*p, end, &u, 5);
    if (k == 0 || u > UINT32_MAX) return GR_ECORRUPT;
    *out = (int32_t)unzigzag64(u);
    *p += k;
    return 0;
}

static int rd_varlong(const uint8_t **p, const uint8_t *end, int64_t *out)
{
    uint64_t u;
    size_t k = uvarint_get(*p, end, &u, 10);
    if (k == 0) return GR_ECORRUPT;
    *out = unzigzag64(u);
    *p += k;
    return 0;
}

/* Reads a length-prefixed byte field; -1 is allowed (null) only when nullable. */
static int rd_field(const uint8_t **p, const uint8_t *end, bool nullable, const uint8_t **data,
                    int32_t *len)
{
    if (rd_varint(p, end, len)) return GR_ECORRUPT;
    if (*len < 0) {
        if (*len != -1 || !nullable) return GR_ECORRUPT;
        *data = NULL;
        return 0;
    }
    if ((size_t)(end - *p) < (size_t)*len) return GR_ECORRUPT;
    *data = *p;
    *p += *len;
    return 0;
}

int rb_record_header_next(const uint8_t **p, const uint8_t *end, struct rb_header_kv *kv)
{
    if (*p >= end) return 0;
    const uint8_t *q = *p;
    if (rd_field(&q, end, false, &kv->key, &kv->key_len)) return GR_ECORRUPT;
    if (rd_field(&q, end, true, &kv->value, &kv->value_len)) return GR_ECORRUPT;
    *p = q;
    return 1;
}

int rb_iter_init(struct rb_iter *it, const uint8_t *batch, size_t n, struct gbuf *scratch,
                 size_t max_bytes)
{
    memset(it, 0, sizeof(*it));
    int rc = rb_header_parse(batch, n, &it->h);
    if (rc == 0 && (size_t)it->h.batch_length + RB_LOG_OVERHEAD > n) rc = GR_ETRUNC;
    if (rc == 0 && it->h.record_count < 0) rc = GR_ECORRUPT;
    if (rc) return it->err = rc;
    const uint8_t *recs = batch + RB_HEADER_BYTES;
    size_t recs_len = (size_t)it->h.batch_length + RB_LOG_OVERHEAD - RB_HEADER_BYTES;
    int codec = it->h.attributes & RB_ATTR_CODEC_MASK;
    if (codec == RB_CODEC_NONE) {
        it->p = recs;
        it->end = recs + recs_len;
    } else {
        if (!scratch) return it->err = GR_EINVAL;
        gbuf_reset(scratch);
        rc = rb_decompress(codec, recs, recs_len, scratch, max_bytes);
        if (rc) return it->err = rc;
        it->p = it->end = scratch->data;
        if (scratch->len) it->end += scratch->len;
    }
    it->left = it->h.record_count;
    return 0;
}

/* Parses the record at it->p into rec and moves it->p past it. */
static int record_parse(struct rb_iter *it, struct rb_record *rec)
{
    const uint8_t *p = it->p;
    int32_t len;
    if (p >= it->end) return GR_ECORRUPT; /* fewer records than recordCount */
    if (rd_varint(&p, it->end, &len) || len < 1 || (size_t)(it->end - p) < (size_t)len)
        return GR_ECORRUPT;
    const uint8_t *end = p + len;
    p++; /* attributes: unused */
    int64_t ts_delta;
    int32_t offset_delta;
    if (rd_varlong(&p, end, &ts_delta) || rd_varint(&p, end, &offset_delta)) return GR_ECORRUPT;
    if (rd_field(&p, end, true, &rec->key, &rec->key_len) ||
        rd_field(&p, end, true, &rec->value, &rec->value_len) ||
        rd_varint(&p, end, &rec->header_count) || rec->header_count < 0)
        return GR_ECORRUPT;
    rec->headers = p;
    /* Each header takes >= 2 bytes, so this loop is bounded by the record's bytes. */
    for (int32_t i = 0; i < rec->header_count; i++) {
        struct rb_header_kv kv;
        if (rb_record_header_next(&p, end, &kv) != 1) return GR_ECORRUPT;
    }
    if (p != end) return GR_ECORRUPT; /* the record's length disagrees with its fields */
    rec->headers_len = (size_t)(end - rec->headers);
    /* Wrapping arithmetic: hostile deltas must not be signed overflow. */
    rec->offset = (int64_t)((uint64_t)it->h.base_offset + (uint64_t)(int64_t)offset_delta);
    if (it->h.attributes & RB_ATTR_LOG_APPEND_TIME)
        rec->timestamp = it->h.max_timestamp;
    else
        rec->timestamp = (int64_t)((uint64_t)it->h.base_timestamp + (uint64_t)ts_delta);
    it->p = end;
    return 0;
}

int rb_iter_next(struct rb_iter *it, struct rb_record *rec)
{
    if (it->err) return it->err;
    if (it->left == 0) {
        /* Kafka: "Incorrect declared batch size, records still remaining" */
        if (it->p != it->end) return it->err = GR_ECORRUPT;
        return 0;
    }
    int rc = record_parse(it, rec);
    if (rc) return it->err = rc;
    it->left--;
    return 1;
}

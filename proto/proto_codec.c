/*
 * proto_codec.c — the Kafka wire primitives the generated codec (build/gen/kafka_msgs.c) is
 * written in: a bounds-checked reader with a sticky error flag and a matching writer.
 *
 * Reader invariants: r->p never passes r->end; once r->err is set it stays set and every read
 * returns a zero value (0, false, a {NULL, 0} view, a zero uuid) without moving r->p.
 * Writer invariants: once w->err is set every write is a no-op.
 *
 * Encodings (all integers big-endian):
 *
 *   type                 non-flexible                     flexible (compact)
 *   string / nullable    int16 len (-1 = null) + bytes    uvarint len+1 (0 = null) + bytes
 *   bytes / records      int32 len (-1 = null) + bytes    uvarint len+1 (0 = null) + bytes
 *   array                int32 count (-1 = null)          uvarint count+1 (0 = null)
 *   varint / varlong     zig-zag LEB128, at most 5 / 10 bytes
 *   uuid                 16 raw bytes
 *   tagged fields        (flexible only) uvarint count, then per field uvarint tag, uvarint
 *                        size, size bytes
 */
#include "proto/proto.h"

#include <errno.h>
#include <unistd.h>

/* ------------------------------------------------------------------------------------------ */
/* Reading                                                                                     */

void kafka_reader_fail(struct kafka_reader *r, int err)
{
    if (!r->err) r->err = err;
}

/* Returns a pointer to the next n bytes and advances past them, or NULL (err set). */
static inline const uint8_t *take(struct kafka_reader *r, size_t n)
{
    if (r->err) return NULL;
    if ((size_t)(r->end - r->p) < n) {
        r->err = GR_ETRUNC;
        return NULL;
    }
    const uint8_t *p = r->p;
    r->p += n;
    return p;
}

const uint8_t *kafka_read_raw(struct kafka_reader *r, size_t n)
{
    return take(r, n);
}

int8_t kafka_read_i8(struct kafka_reader *r)
{
    const uint8_t *p = take(r, 1);
    return p ? (int8_t)p[0] : 0;
}

int16_t kafka_read_i16(struct kafka_reader *r)
{
    const uint8_t *p = take(r, 2);
    return p ? (int16_t)be16_get(p) : 0;
}

int32_t kafka_read_i32(struct kafka_reader *r)
{
    const uint8_t *p = take(r, 4);
    return p ? (int32_t)be32_get(p) : 0;
}

int64_t kafka_read_i64(struct kafka_reader *r)
{
    const uint8_t *p = take(r, 8);
    return p ? (int64_t)be64_get(p) : 0;
}

uint16_t kafka_read_u16(struct kafka_reader *r)
{
    const uint8_t *p = take(r, 2);
    return p ? be16_get(p) : 0;
}

uint32_t kafka_read_u32(struct kafka_reader *r)
{
    const uint8_t *p = take(r, 4);
    return p ? be32_get(p) : 0;
}

double kafka_read_f64(struct kafka_reader *r)
{
    const uint8_t *p = take(r, 8);
    if (!p) return 0.0;
    uint64_t bits = be64_get(p);
    double d;
    memcpy(&d, &bits, sizeof(d));
    return d;
}

/* Kafka treats any non-zero byte as true. */
bool kafka_read_bool(struct kafka_reader *r)
{
    const uint8_t *p = take(r, 1);
    return p ? p[0] != 0 : false;
}

/* Reads an unsigned LEB128 of at most max_bytes; a longer or truncated one sets err. */
static uint64_t read_uvarint_n(struct kafka_reader *r, int max_bytes)
{
    if (r->err) return 0;
    uint64_t v = 0;
    size_t n = uvarint_get(r->p, r->end, &v, max_bytes);
    if (n == 0) {
        /* truncated if we ran out of input inside the varint, corrupt if it was too long */
        size_t left = kafka_reader_left(r);
        r->err = left < (size_t)max_bytes ? GR_ETRUNC : GR_ECORRUPT;
        return 0;
    }
    r->p += n;
    return v;
}

/* Like Java's ByteUtils.readUnsignedVarint, bits past 32 of a 5-byte varint are dropped. */
uint32_t kafka_read_uvarint(struct kafka_reader *r)
{
    return (uint32_t)read_uvarint_n(r, 5);
}

int32_t kafka_read_varint(struct kafka_reader *r)
{
    uint32_t u = kafka_read_uvarint(r);
    return (int32_t)(u >> 1) ^ -(int32_t)(u & 1);
}

int64_t kafka_read_varlong(struct kafka_reader *r)
{
    return unzigzag64(read_uvarint_n(r, 10));
}

struct kafka_uuid kafka_read_uuid(struct kafka_reader *r)
{
    struct kafka_uuid u;
    const uint8_t *p = take(r, sizeof(u.b));
    if (p)
        memcpy(u.b, p, sizeof(u.b));
    else
        memset(u.b, 0, sizeof(u.b));
    return u;
}

/* Reads a length prefix: -1 for null, else 0..max_len.  Anything else sets err. */
static int32_t read_len(struct kafka_reader *r, bool compact, bool wide, int32_t max_len)
{
    int64_t len;
    if (compact) {
        len = (int64_t)kafka_read_uvarint(r) - 1;
    } else {
        len = wide ? kafka_read_i32(r) : kafka_read_i16(r);
    }
    if (r->err) return 0;
    if (len < -1 || len > max_len) {
        r->err = GR_ECORRUPT;
        return 0;
    }
    return (int32_t)len;
}

struct kafka_str kafka_read_str(struct kafka_reader *r, bool compact)
{
    struct kafka_str s = {NULL, 0};
    int32_t len = read_len(r, compact, false, INT16_MAX);
    if (r->err) return s;
    if (len < 0) return KSTR_NULL;
    const uint8_t *p = take(r, (size_t)len);
    if (!p) return s;
    s.ptr = (const char *)p;
    s.len = len;
    return s;
}

struct kafka_bytes kafka_read_bytes(struct kafka_reader *r, bool compact)
{
    struct kafka_bytes b = {NULL, 0};
    int32_t len = read_len(r, compact, true, INT32_MAX);
    if (r->err) return b;
    if (len < 0) return KBYTES_NULL;
    const uint8_t *p = take(r, (size_t)len);
    if (!p) return b;
    b.ptr = p;
    b.len = len;
    return b;
}

struct kafka_records kafka_read_records(struct kafka_reader *r, bool compact)
{
    struct kafka_bytes b = kafka_read_bytes(r, compact);
    struct kafka_records rec = {b.ptr, b.len, -1, 0};
    return rec;
}

int32_t kafka_read_array_len(struct kafka_reader *r, bool compact, size_t min_elem_bytes)
{
    int32_t n = read_len(r, compact, true, INT32_MAX);
    if (r->err || n <= 0) return n;
    /* 64-bit product: n < 2^31 and min_elem_bytes is a small constant */
    if ((uint64_t)n * (uint64_t)min_elem_bytes > (uint64_t)kafka_reader_left(r)) {
        r->err = GR_ECORRUPT;
        return 0;
    }
    return n;
}

void kafka_read_tagged_field(struct kafka_reader *r, uint32_t *tag, struct kafka_reader *sub)
{
    *tag = kafka_read_uvarint(r);
    uint32_t size = kafka_read_uvarint(r);
    const uint8_t *p = take(r, size);
    if (!p) {
        *tag = 0;
        kafka_reader_init(sub, r->p, 0, r->arena);
        sub->err = r->err;
        return;
    }
    kafka_reader_init(sub, p, size, r->arena);
}

void kafka_skip_tagged_fields(struct kafka_reader *r)
{
    uint32_t n = kafka_read_uvarint(r);
    /* each field takes at least two bytes, so the loop is bounded by the input */
    for (uint32_t i = 0; i < n && !r->err; i++) {
        (void)kafka_read_uvarint(r);
        uint32_t size = kafka_read_uvarint(r);
        (void)take(r, size);
    }
}

void *kafka_alloc_array(struct kafka_reader *r, int32_t count, size_t elem_size)
{
    if (r->err || count <= 0) return NULL;
    if (!r->arena || (size_t)count > SIZE_MAX / elem_size) {
        r->err = GR_ENOMEM;
        return NULL;
    }
    void *p = arena_calloc(r->arena, (size_t)count, elem_size);
    if (!p) r->err = GR_ENOMEM;
    return p;
}

/* ------------------------------------------------------------------------------------------ */
/* Writing                                                                                     */

void kafka_writer_fail(struct kafka_writer *w, int err)
{
    if (!w->err) w->err = err;
}

/* Room for n more bytes at the end of the buffer; the caller fills them.  NULL on error. */
static inline uint8_t *put(struct kafka_writer *w, size_t n)
{
    if (w->err) return NULL;
    if (w->buf->cap - w->buf->len < n && gbuf_reserve(w->buf, n) != 0) {
        w->err = GR_ENOMEM;
        return NULL;
    }
    uint8_t *p = w->buf->data + w->buf->len;
    w->buf->len += n;
    return p;
}

void kafka_write_raw(struct kafka_writer *w, const void *p, size_t n)
{
    if (n == 0) return;
    uint8_t *d = put(w, n);
    if (d) memcpy(d, p, n);
}

void kafka_write_i8(struct kafka_writer *w, int8_t v)
{
    uint8_t *d = put(w, 1);
    if (d) d[0] = (uint8_t)v;
}

void kafka_write_i16(struct kafka_writer *w, int16_t v)
{
    uint8_t *d = put(w, 2);
    if (d) be16_put(d, (uint16_t)v);
}

void kafka_write_i32(struct kafka_writer *w, int32_t v)
{
    uint8_t *d = put(w, 4);
    if (d) be32_put(d, (uint32_t)v);
}

void kafka_write_i64(struct kafka_writer *w, int64_t v)
{
    uint8_t *d = put(w, 8);
    if (d) be64_put(d, (uint64_t)v);
}

void kafka_write_u16(struct kafka_writer *w, uint16_t v)
{
    uint8_t *d = put(w, 2);
    if (d) be16_put(d, v);
}

void kafka_write_u32(struct kafka_writer *w, uint32_t v)
{
    uint8_t *d = put(w, 4);
    if (d) be32_put(d, v);
}

void kafka_write_f64(struct kafka_writer *w, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof(bits));
    uint8_t *d = put(w, 8);
    if (d) be64_put(d, bits);
}

void kafka_write_bool(struct kafka_writer *w, bool v)
{
    uint8_t *d = put(w, 1);
    if (d) d[0] = v ? 1 : 0;
}

static void write_uvarint64(struct kafka_writer *w, uint64_t v)
{
    if (w->err) return;
    uint8_t tmp[10];
    size_t n = uvarint_put(tmp, v);
    uint8_t *d = put(w, n);
    if (d) memcpy(d, tmp, n);
}

void kafka_write_uvarint(struct kafka_writer *w, uint32_t v)
{
    if (v < 0x80) {
        kafka_write_i8(w, (int8_t)v);
        return;
    }
    write_uvarint64(w, v);
}

void kafka_write_varint(struct kafka_writer *w, int32_t v)
{
    kafka_write_uvarint(w, ((uint32_t)v << 1) ^ (uint32_t)(v >> 31));
}

void kafka_write_varlong(struct kafka_writer *w, int64_t v)
{
    write_uvarint64(w, zigzag64(v));
}

void kafka_write_uuid(struct kafka_writer *w, struct kafka_uuid v)
{
    kafka_write_raw(w, v.b, sizeof(v.b));
}

/* Writes a length prefix for len >= -1 (-1 = null). */
static void write_len(struct kafka_writer *w, int32_t len, bool compact, bool wide)
{
    if (compact)
        kafka_write_uvarint(w, (uint32_t)(len + 1));
    else if (wide)
        kafka_write_i32(w, len);
    else
        kafka_write_i16(w, (int16_t)len);
}

void kafka_write_str(struct kafka_writer *w, struct kafka_str s, bool compact)
{
    if (s.len > INT16_MAX || (s.len > 0 && !s.ptr)) {
        kafka_writer_fail(w, GR_EINVAL);
        return;
    }
    if (s.len < 0) {
        write_len(w, -1, compact, false);
        return;
    }
    write_len(w, s.len, compact, false);
    kafka_write_raw(w, s.ptr, (size_t)s.len);
}

void kafka_write_bytes(struct kafka_writer *w, struct kafka_bytes b, bool compact)
{
    if (b.len > 0 && !b.ptr) {
        kafka_writer_fail(w, GR_EINVAL);
        return;
    }
    if (b.len < 0) {
        write_len(w, -1, compact, true);
        return;
    }
    write_len(w, b.len, compact, true);
    kafka_write_raw(w, b.ptr, (size_t)b.len);
}

/* pread exactly n bytes at off into dst; 0 or GR_EIO (a short file counts as an error). */
static int pread_full(int fd, uint8_t *dst, size_t n, int64_t off)
{
    while (n > 0) {
        ssize_t got = pread(fd, dst, n, (off_t)off);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return GR_EIO;
        dst += got;
        n -= (size_t)got;
        off += got;
    }
    return 0;
}

void kafka_write_records(struct kafka_writer *w, struct kafka_records rec, bool compact)
{
    if (rec.len < 0) {
        write_len(w, -1, compact, true);
        return;
    }
    if (rec.fd < 0) {
        kafka_write_bytes(w, (struct kafka_bytes){rec.ptr, rec.len}, compact);
        return;
    }
    /* Zero-copy-ish path: one copy, straight from the page cache into the output buffer. */
    write_len(w, rec.len, compact, true);
    uint8_t *dst = put(w, (size_t)rec.len);
    if (!dst) return;
    if (pread_full(rec.fd, dst, (size_t)rec.len, rec.file_pos) != 0) {
        w->buf->len -= (size_t)rec.len;
        w->err = GR_EIO;
    }
}

void kafka_write_array_len(struct kafka_writer *w, int32_t count, bool compact)
{
    if (count < -1) {
        kafka_writer_fail(w, GR_EINVAL);
        return;
    }
    write_len(w, count, compact, true);
}

void kafka_write_empty_tags(struct kafka_writer *w)
{
    kafka_write_i8(w, 0);
}

size_t kafka_write_tag_begin(struct kafka_writer *w, uint32_t tag)
{
    kafka_write_uvarint(w, tag);
    return w->buf->len;
}

void kafka_write_tag_end(struct kafka_writer *w, size_t start)
{
    if (w->err) return;
    size_t size = w->buf->len - start;
    if (size > UINT32_MAX) {
        w->err = GR_EINVAL;
        return;
    }
    uint8_t tmp[10];
    size_t n = uvarint_put(tmp, size);
    if (!put(w, n)) return;
    /* shift the field's bytes right to make room for its size in front of them */
    memmove(w->buf->data + start + n, w->buf->data + start, size);
    memcpy(w->buf->data + start, tmp, n);
}

/* ------------------------------------------------------------------------------------------ */
/* Headers                                                                                     */

void kafka_request_header_decode(struct kafka_reader *r, int header_version,
                                 struct kafka_request_header *h)
{
    h->api_key = kafka_read_i16(r);
    h->api_version = kafka_read_i16(r);
    h->correlation_id = kafka_read_i32(r);
    h->client_id = KSTR_NULL;
    if (header_version >= 1) h->client_id = kafka_read_str(r, false);
    if (header_version >= 2) kafka_skip_tagged_fields(r);
}

void kafka_request_header_encode(struct kafka_writer *w, int header_version,
                                 const struct kafka_request_header *h)
{
    kafka_write_i16(w, h->api_key);
    kafka_write_i16(w, h->api_version);
    kafka_write_i32(w, h->correlation_id);
    if (header_version >= 1) kafka_write_str(w, h->client_id, false);
    if (header_version >= 2) kafka_write_empty_tags(w);
}

void kafka_response_header_encode(struct kafka_writer *w, int header_version,
                                  int32_t correlation_id)
{
    kafka_write_i32(w, correlation_id);
    if (header_version >= 1) kafka_write_empty_tags(w);
}

int32_t kafka_response_header_decode(struct kafka_reader *r, int header_version)
{
    int32_t correlation_id = kafka_read_i32(r);
    if (header_version >= 1) kafka_skip_tagged_fields(r);
    return correlation_id;
}

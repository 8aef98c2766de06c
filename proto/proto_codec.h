/*
 * proto_codec.h — hand-written Kafka wire primitives: a bounds-checked reader with a sticky
 * error flag and a matching writer.  The generated message code (build/gen/kafka_msgs.[ch])
 * is written entirely in terms of these.  Included through proto/proto.h.
 *
 * Reading never reads past `end`; the first failure sets `err` and every later read returns a
 * zero value, so decoders check `r->err` once at the end.  Strings and byte fields are views
 * into the input buffer and live as long as it does.  Arrays are allocated from `arena`, and an
 * array count is checked against the bytes remaining before anything is allocated for it.
 */
#ifndef GREGOR_PROTO_CODEC_H
#define GREGOR_PROTO_CODEC_H

#include "common/common.h"

#include <string.h>

/* A string view; len < 0 means null. */
struct kafka_str {
    const char *ptr;
    int32_t len;
};
/* A bytes view; len < 0 means null. */
struct kafka_bytes {
    const uint8_t *ptr;
    int32_t len;
};
/* A record-set field.  Decoded: a view into the input (fd = -1).  To encode, either set ptr/len
 * with fd = -1, or set fd >= 0 and file_pos: the encoder then preads len bytes from the file
 * straight into the output buffer (the fetch path's single copy).  len < 0 means null. */
struct kafka_records {
    const uint8_t *ptr;
    int32_t len;
    int fd;
    int64_t file_pos;
};
struct kafka_uuid {
    uint8_t b[16];
};

#define KSTR(s) ((struct kafka_str){(s), (int32_t)strlen(s)})
#define KSTR_NULL ((struct kafka_str){NULL, -1})
#define KBYTES_NULL ((struct kafka_bytes){NULL, -1})

static inline bool kstr_eq(struct kafka_str a, const char *s)
{
    size_t n = strlen(s);
    return a.len >= 0 && (size_t)a.len == n && memcmp(a.ptr, s, n) == 0;
}

struct kafka_reader {
    const uint8_t *p;
    const uint8_t *end;
    int err; /* 0, or the first GR_E* hit (GR_ETRUNC, GR_ECORRUPT, GR_ENOMEM) */
    struct arena *arena;
};

struct kafka_writer {
    struct gbuf *buf;
    int err; /* 0, or the first GR_E* hit (GR_ENOMEM, GR_EIO for a failed records pread) */
};

static inline void kafka_reader_init(struct kafka_reader *r, const void *p, size_t n,
                                     struct arena *a)
{
    r->p = p;
    r->end = r->p + n;
    r->err = 0;
    r->arena = a;
}
static inline size_t kafka_reader_left(const struct kafka_reader *r)
{
    return (size_t)(r->end - r->p);
}
static inline void kafka_writer_init(struct kafka_writer *w, struct gbuf *b)
{
    w->buf = b;
    w->err = 0;
}

/* --- reading ---------------------------------------------------------------------------- */
int8_t kafka_read_i8(struct kafka_reader *r);
int16_t kafka_read_i16(struct kafka_reader *r);
int32_t kafka_read_i32(struct kafka_reader *r);
int64_t kafka_read_i64(struct kafka_reader *r);
uint16_t kafka_read_u16(struct kafka_reader *r);
uint32_t kafka_read_u32(struct kafka_reader *r);
double kafka_read_f64(struct kafka_reader *r);
bool kafka_read_bool(struct kafka_reader *r);
uint32_t kafka_read_uvarint(struct kafka_reader *r);
int32_t kafka_read_varint(struct kafka_reader *r);
int64_t kafka_read_varlong(struct kafka_reader *r);
struct kafka_uuid kafka_read_uuid(struct kafka_reader *r);
/* compact: uvarint N+1 length (0 = null); otherwise int16 (strings) / int32 (bytes) length */
struct kafka_str kafka_read_str(struct kafka_reader *r, bool compact);
struct kafka_bytes kafka_read_bytes(struct kafka_reader *r, bool compact);
struct kafka_records kafka_read_records(struct kafka_reader *r, bool compact);
/* Array count: -1 for null.  Fails (and returns 0) if count * min_elem_bytes exceeds what is
 * left, so callers may allocate count elements after checking r->err. */
int32_t kafka_read_array_len(struct kafka_reader *r, bool compact, size_t min_elem_bytes);
/* Skips a whole tagged-field block (count, then tag/size/bytes per field). */
void kafka_skip_tagged_fields(struct kafka_reader *r);
/* Takes n raw bytes as a view (NULL and err set if fewer remain). */
const uint8_t *kafka_read_raw(struct kafka_reader *r, size_t n);
void *kafka_alloc_array(struct kafka_reader *r, int32_t count, size_t elem_size);
/* Records err (GR_E*) unless an earlier error is already recorded; later reads return zeros. */
void kafka_reader_fail(struct kafka_reader *r, int err);
/* Reads one tagged field's tag and size and points *sub at its size bytes (r moves past them).
 * On failure r->err is set and *sub is an empty reader. */
void kafka_read_tagged_field(struct kafka_reader *r, uint32_t *tag, struct kafka_reader *sub);

/* --- writing ---------------------------------------------------------------------------- */
void kafka_write_raw(struct kafka_writer *w, const void *p, size_t n);
void kafka_write_i8(struct kafka_writer *w, int8_t v);
void kafka_write_i16(struct kafka_writer *w, int16_t v);
void kafka_write_i32(struct kafka_writer *w, int32_t v);
void kafka_write_i64(struct kafka_writer *w, int64_t v);
void kafka_write_u16(struct kafka_writer *w, uint16_t v);
void kafka_write_u32(struct kafka_writer *w, uint32_t v);
void kafka_write_f64(struct kafka_writer *w, double v);
void kafka_write_bool(struct kafka_writer *w, bool v);
void kafka_write_uvarint(struct kafka_writer *w, uint32_t v);
void kafka_write_varint(struct kafka_writer *w, int32_t v);
void kafka_write_varlong(struct kafka_writer *w, int64_t v);
void kafka_write_uuid(struct kafka_writer *w, struct kafka_uuid v);
void kafka_write_str(struct kafka_writer *w, struct kafka_str s, bool compact);
void kafka_write_bytes(struct kafka_writer *w, struct kafka_bytes b, bool compact);
void kafka_write_records(struct kafka_writer *w, struct kafka_records rec, bool compact);
void kafka_write_array_len(struct kafka_writer *w, int32_t count, bool compact);
/* Writes an empty tagged-field block (a single 0). */
void kafka_write_empty_tags(struct kafka_writer *w);
/* Records err (GR_E*) unless an earlier error is already recorded; later writes are no-ops. */
void kafka_writer_fail(struct kafka_writer *w, int err);
/* One tagged field: begin writes the tag and returns the position where the field's bytes start;
 * the caller writes the field, then end inserts its uvarint size in front of those bytes. */
size_t kafka_write_tag_begin(struct kafka_writer *w, uint32_t tag);
void kafka_write_tag_end(struct kafka_writer *w, size_t start);

/* --- headers ---------------------------------------------------------------------------- */

struct kafka_request_header {
    int16_t api_key;
    int16_t api_version;
    int32_t correlation_id;
    struct kafka_str client_id; /* v1+: always int16-length, even in header v2 */
};

/* Decodes header v0 (no client id), v1, or v2 (v1 + tagged fields). */
void kafka_request_header_decode(struct kafka_reader *r, int header_version,
                                 struct kafka_request_header *h);
void kafka_request_header_encode(struct kafka_writer *w, int header_version,
                                 const struct kafka_request_header *h);
/* Response header v0 = correlation id; v1 adds an empty tagged-field block. */
void kafka_response_header_encode(struct kafka_writer *w, int header_version,
                                  int32_t correlation_id);
int32_t kafka_response_header_decode(struct kafka_reader *r, int header_version);

#endif

/*
 * common.h — the public header of Gregor's `common` module: buffers, arenas, varints, CRC32C,
 * logging, Java-style properties, time, UUIDs and the project's C error codes.
 *
 * Depends on libc only.  Everything here is safe to call from any thread unless a comment says
 * otherwise; objects are not internally locked.
 */
#ifndef GREGOR_COMMON_H
#define GREGOR_COMMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------------------------------ */
/* Error codes: 0 on success, a negative GR_E* on failure.  Kafka error codes are response     */
/* data and never travel through these.                                                       */

enum gr_err {
    GR_OK = 0,
    GR_ENOMEM = -1,   /* allocation failed */
    GR_EINVAL = -2,   /* invalid argument or value */
    GR_EIO = -3,      /* read/write/fsync failed; errno is preserved where it means something */
    GR_ECORRUPT = -4, /* data failed validation (CRC, length, format) */
    GR_ENOENT = -5,   /* not found */
    GR_EEXIST = -6,   /* already exists */
    GR_ERANGE = -7,   /* out of range (offset, size) */
    GR_EAGAIN = -8,   /* not now: try again later (normal in non-blocking work) */
    GR_ETRUNC = -9,   /* input ended early */
    GR_EUNSUP = -10,  /* unsupported version or feature */
    GR_ETIMEDOUT = -11, /* no answer in time */
    GR_ECANCELED = -12, /* the operation was abandoned (shutdown, lost leadership) */
};

/* A static, human-readable name for a GR_E* code. */
const char *gr_strerror(int err);

/* ------------------------------------------------------------------------------------------ */
/* Growable byte buffer.  Owns its memory; reuse it (gbuf_reset) instead of freeing per use.   */

struct gbuf {
    uint8_t *data;
    size_t len;
    size_t cap;
};

void gbuf_init(struct gbuf *b);
void gbuf_close(struct gbuf *b);
static inline void gbuf_reset(struct gbuf *b)
{
    b->len = 0;
}
/* Ensures room for `extra` more bytes.  Returns 0 or GR_ENOMEM. */
int gbuf_reserve(struct gbuf *b, size_t extra);
/* Appends; returns 0 or GR_ENOMEM. */
int gbuf_append(struct gbuf *b, const void *p, size_t n);
/* Drops the first n bytes (n <= len). */
void gbuf_consume(struct gbuf *b, size_t n);

/* ------------------------------------------------------------------------------------------ */
/* Arena: bump allocator for one request.  Memory lives until arena_reset/arena_close.         */

struct arena_block;
struct arena {
    struct arena_block *head;
    size_t block_bytes;
    size_t used_bytes; /* total handed out since the last reset, for caps */
};

void arena_init(struct arena *a, size_t block_bytes);
void arena_close(struct arena *a);
/* Frees all but the first block and rewinds it; pointers handed out become invalid. */
void arena_reset(struct arena *a);
/* 8-byte aligned, uninitialised; NULL on allocation failure. */
void *arena_alloc(struct arena *a, size_t n);
void *arena_calloc(struct arena *a, size_t count, size_t size);
char *arena_strndup(struct arena *a, const char *s, size_t n);
char *arena_printf(struct arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ------------------------------------------------------------------------------------------ */
/* Big-endian fixed integers and Kafka varints (zig-zag for signed).                           */

static inline uint16_t be16_get(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}
static inline uint32_t be32_get(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline uint64_t be64_get(const uint8_t *p)
{
    return ((uint64_t)be32_get(p) << 32) | be32_get(p + 4);
}
static inline void be16_put(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static inline void be32_put(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
static inline void be64_put(uint8_t *p, uint64_t v)
{
    be32_put(p, (uint32_t)(v >> 32));
    be32_put(p + 4, (uint32_t)v);
}

/* Unsigned LEB128 varint.  Returns bytes consumed (1..5/10) or 0 if truncated or too long. */
size_t uvarint_get(const uint8_t *p, const uint8_t *end, uint64_t *out, int max_bytes);
/* Writes into p (room for 10 bytes); returns bytes written. */
size_t uvarint_put(uint8_t *p, uint64_t v);
size_t uvarint_size(uint64_t v);
static inline uint64_t zigzag64(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}
static inline int64_t unzigzag64(uint64_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

/* ------------------------------------------------------------------------------------------ */
/* CRC-32C (Castagnoli), SSE4.2-accelerated when the CPU has it.                               */

uint32_t crc32c(uint32_t crc, const void *data, size_t n);

/* ------------------------------------------------------------------------------------------ */
/* Logging to stderr: "[2026-11-27 10:00:00,123] INFO message (component)" like Kafka's log4j. */

enum gr_log_level { GR_LOG_DEBUG, GR_LOG_INFO, GR_LOG_WARN, GR_LOG_ERROR };
extern enum gr_log_level gr_log_min_level;
void gr_log(enum gr_log_level lvl, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define LOG_DEBUG(comp, ...)                                                                       \
    do {                                                                                           \
        if (gr_log_min_level <= GR_LOG_DEBUG) gr_log(GR_LOG_DEBUG, comp, __VA_ARGS__);             \
    } while (0)
#define LOG_INFO(comp, ...) gr_log(GR_LOG_INFO, comp, __VA_ARGS__)
#define LOG_WARN(comp, ...) gr_log(GR_LOG_WARN, comp, __VA_ARGS__)
#define LOG_ERROR(comp, ...) gr_log(GR_LOG_ERROR, comp, __VA_ARGS__)

/* ------------------------------------------------------------------------------------------ */
/* Java .properties (key=value / key: value, # and ! comments, backslash continuation).        */

struct props_entry {
    char *key;
    char *value;
};
struct props {
    struct props_entry *v;
    size_t n, cap;
};

void props_init(struct props *p);
void props_close(struct props *p);
/* Parses text, adding or replacing keys.  Returns 0, or GR_EINVAL with a message in err. */
int props_parse(struct props *p, const char *text, size_t len, char *err, size_t err_len);
/* Loads a file.  Returns 0, GR_EIO (message in err) or GR_EINVAL. */
int props_load(struct props *p, const char *path, char *err, size_t err_len);
/* Sets (copies) key and value, replacing an existing key.  0 or GR_ENOMEM. */
int props_set(struct props *p, const char *key, const char *value);
/* Borrowed view valid until the key is set again or the props are closed; NULL if absent. */
const char *props_get(const struct props *p, const char *key);
/* Writes the entries as key=value lines (no escaping beyond what values need). */
int props_store(const struct props *p, const char *path, const char *header_comment);

/* ------------------------------------------------------------------------------------------ */
/* Time.                                                                                       */

int64_t time_wall_ms(void);      /* milliseconds since the epoch */
int64_t time_mono_ms(void);      /* monotonic milliseconds */
int64_t time_mono_us(void);      /* monotonic microseconds */

/* ------------------------------------------------------------------------------------------ */
/* UUIDs as Kafka prints them: 16 random bytes, URL-safe base64 without padding (22 chars).    */

struct gr_uuid {
    uint8_t b[16];
};
/* Fills with random bytes (getrandom).  Kafka reserves the all-zero uuid and ids whose
 * base64 starts with '-', so those are re-drawn.  Returns 0 or GR_EIO. */
int gr_uuid_random(struct gr_uuid *u);
/* out must have room for 23 bytes. */
void gr_uuid_to_base64(const struct gr_uuid *u, char out[23]);
/* Returns 0 or GR_EINVAL. */
int gr_uuid_from_base64(const char *s, struct gr_uuid *u);
bool gr_uuid_is_zero(const struct gr_uuid *u);

/* ------------------------------------------------------------------------------------------ */
/* FNV-1a 64-bit hash, for in-memory hash tables (not stable across versions, never stored).   */

static inline uint64_t gr_hash(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* ------------------------------------------------------------------------------------------ */
/* Small string helpers.                                                                       */

/* Parses a whole string as a signed 64-bit integer.  0 or GR_EINVAL. */
int parse_i64(const char *s, int64_t *out);
/* Parses "true"/"false" (case-insensitive).  0 or GR_EINVAL. */
int parse_bool(const char *s, bool *out);
/* snprintf that always terminates and never warns about truncation. */
void strfmt(char *dst, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define GR_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define GR_MIN(a, b) ((a) < (b) ? (a) : (b))
#define GR_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif

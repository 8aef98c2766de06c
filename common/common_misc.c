/* common_misc.c — error names, varints, time, logging, UUIDs and small parsers. */
#include "common/common.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

const char *gr_strerror(int err)
{
    switch (err) {
    case GR_OK: return "success";
    case GR_ENOMEM: return "out of memory";
    case GR_EINVAL: return "invalid argument";
    case GR_EIO: return "I/O error";
    case GR_ECORRUPT: return "corrupt data";
    case GR_ENOENT: return "not found";
    case GR_EEXIST: return "already exists";
    case GR_ERANGE: return "out of range";
    case GR_EAGAIN: return "try again";
    case GR_ETRUNC: return "truncated input";
    case GR_EUNSUP: return "unsupported";
    case GR_ETIMEDOUT: return "timed out";
    case GR_ECANCELED: return "canceled";
    default: return "unknown error";
    }
}

/* ------------------------------------------------------------------------------------------ */

size_t uvarint_get(const uint8_t *p, const uint8_t *end, uint64_t *out, int max_bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < max_bytes; i++) {
        if (p + i >= end) return 0;
        uint8_t b = p[i];
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *out = v;
            return (size_t)i + 1;
        }
    }
    return 0;
}

size_t uvarint_put(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

size_t uvarint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* ------------------------------------------------------------------------------------------ */

int64_t time_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t time_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t time_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ------------------------------------------------------------------------------------------ */

enum gr_log_level gr_log_min_level = GR_LOG_INFO;
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;

void gr_log(enum gr_log_level lvl, const char *component, const char *fmt, ...)
{
    static const char *names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    if (lvl < gr_log_min_level) return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    localtime_r(&ts.tv_sec, &tm);
    char when[32];
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
    pthread_mutex_lock(&log_mu);
    fprintf(stderr, "[%s,%03ld] %s %s (%s)\n", when, ts.tv_nsec / 1000000, names[lvl], msg,
            component);
    pthread_mutex_unlock(&log_mu);
}

/* ------------------------------------------------------------------------------------------ */

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

bool gr_uuid_is_zero(const struct gr_uuid *u)
{
    for (int i = 0; i < 16; i++)
        if (u->b[i]) return false;
    return true;
}

int gr_uuid_random(struct gr_uuid *u)
{
    for (int tries = 0; tries < 100; tries++) {
        size_t got = 0;
        while (got < 16) {
            ssize_t n = getrandom(u->b + got, 16 - got, 0);
            if (n < 0) {
                if (errno == EINTR) continue;
                return GR_EIO;
            }
            got += (size_t)n;
        }
        /* version 4 / IETF variant bits, as java.util.UUID.randomUUID sets them */
        u->b[6] = (uint8_t)((u->b[6] & 0x0f) | 0x40);
        u->b[8] = (uint8_t)((u->b[8] & 0x3f) | 0x80);
        char s[23];
        gr_uuid_to_base64(u, s);
        if (!gr_uuid_is_zero(u) && s[0] != '-') return 0;
    }
    return GR_EIO;
}

void gr_uuid_to_base64(const struct gr_uuid *u, char out[23])
{
    size_t o = 0;
    int i = 0;
    for (; i + 3 <= 16; i += 3) {
        uint32_t v = ((uint32_t)u->b[i] << 16) | ((uint32_t)u->b[i + 1] << 8) | u->b[i + 2];
        out[o++] = b64url[(v >> 18) & 63];
        out[o++] = b64url[(v >> 12) & 63];
        out[o++] = b64url[(v >> 6) & 63];
        out[o++] = b64url[v & 63];
    }
    uint32_t v = (uint32_t)u->b[15] << 16; /* one byte left: two output chars */
    out[o++] = b64url[(v >> 18) & 63];
    out[o++] = b64url[(v >> 12) & 63];
    out[o] = 0;
}

static int b64val(char c)
{
    const char *p = c ? strchr(b64url, c) : NULL;
    return p ? (int)(p - b64url) : -1;
}

int gr_uuid_from_base64(const char *s, struct gr_uuid *u)
{
    if (!s || strlen(s) != 22) return GR_EINVAL;
    uint8_t out[18];
    size_t o = 0;
    for (int i = 0; i < 24; i += 4) {
        int v[4];
        for (int k = 0; k < 4; k++) {
            v[k] = i + k < 22 ? b64val(s[i + k]) : 0;
            if (v[k] < 0) return GR_EINVAL;
        }
        uint32_t w = ((uint32_t)v[0] << 18) | ((uint32_t)v[1] << 12) | ((uint32_t)v[2] << 6) |
                     (uint32_t)v[3];
        out[o++] = (uint8_t)(w >> 16);
        out[o++] = (uint8_t)(w >> 8);
        out[o++] = (uint8_t)w;
    }
    memcpy(u->b, out, 16);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */

int parse_i64(const char *s, int64_t *out)
{
    if (!s || !*s) return GR_EINVAL;
    while (isspace((unsigned char)*s)) s++;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    while (isspace((unsigned char)*end)) end++;
    if (errno || *end || end == s) return GR_EINVAL;
    *out = v;
    return 0;
}

int parse_bool(const char *s, bool *out)
{
    if (!s) return GR_EINVAL;
    if (!strcasecmp(s, "true")) {
        *out = true;
        return 0;
    }
    if (!strcasecmp(s, "false")) {
        *out = false;
        return 0;
    }
    return GR_EINVAL;
}

void strfmt(char *dst, size_t n, const char *fmt, ...)
{
    if (!n) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, n, fmt, ap);
    va_end(ap);
}

/* cli_groups_parse.c — the pure argument parsers of `gregor consumer-groups`: --by-duration
 * (java.time.Duration.parse), --to-datetime (Kafka's Utils.getDateTime) and the --topic
 * "topic:0,1,2" spec.  No I/O and no state, so the unit tests link this object alone
 * (tests/unit/test_cli_groups.c); it uses nothing of libgregor.a either. */
#include "cli/cli_int.h"

#include <ctype.h>
#include <stdarg.h>
#include <string.h>

static void parse_err(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void parse_err(char *err, size_t err_len, const char *fmt, ...)
{
    if (!err || !err_len) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
}

/* ========================================================================================== */
/* --by-duration                                                                              */

/* One "[-+]?[0-9]+" at *p; advances *p.  0, or GR_EINVAL (no digits) / GR_ERANGE (overflow). */
static int dur_number(const char **p, int64_t *out, bool *negative)
{
    const char *s = *p;
    bool neg = false;
    if (*s == '-' || *s == '+') neg = *s++ == '-';
    if (!isdigit((unsigned char)*s)) return GR_EINVAL;
    int64_t v = 0;
    for (; isdigit((unsigned char)*s); s++) {
        int d = *s - '0';
        if (v > (INT64_MAX - d) / 10) return GR_ERANGE;
        v = v * 10 + d;
    }
    *out = neg ? -v : v;
    if (negative) *negative = neg;
    *p = s;
    return 0;
}

static int mul_add(int64_t *acc, int64_t v, int64_t unit)
{
    int64_t t;
    if (__builtin_mul_overflow(v, unit, &t) || __builtin_add_overflow(*acc, t, acc)) return -1;
    return 0;
}

/* java.time.Duration.parse, case-insensitive:
 *   [-+]P[nD][T[nH][nM][n[.fffffffff]S]]   every n may carry its own sign
 * with at least one section, and no bare trailing T. */
int cli_groups_parse_duration(const char *s, int64_t *ms_out)
{
    const char *p = s;
    bool neg_all = false;
    if (*p == '-' || *p == '+') neg_all = *p++ == '-';
    if (*p != 'P' && *p != 'p') return GR_EINVAL;
    p++;
    int64_t secs = 0, nanos = 0, v;
    bool any = false;
    /* nD */
    const char *q = p;
    if (!dur_number(&q, &v, NULL) && (*q == 'D' || *q == 'd')) {
        if (mul_add(&secs, v, 86400)) return GR_ERANGE;
        p = q + 1;
        any = true;
    }
    if (*p == 'T' || *p == 't') {
        p++;
        bool any_t = false;
        static const char units[] = "HMS";
        static const int64_t unit_secs[] = {3600, 60, 1};
        for (int u = 0; u < 3; u++) {
            q = p;
            bool neg = false;
            int rc = dur_number(&q, &v, &neg);
            if (rc == GR_ERANGE) return GR_ERANGE;
            if (rc) break;
            int64_t frac = 0;
            if (u == 2 && (*q == '.' || *q == ',')) {
                /* [.,][0-9]{0,9}: the fraction takes the sign of the seconds */
                q++;
                int digits = 0;
                for (; isdigit((unsigned char)*q) && digits < 9; q++, digits++)
                    frac = frac * 10 + (*q - '0');
                for (; digits < 9; digits++)
                    frac *= 10;
                if (neg) frac = -frac;
            }
            if (toupper((unsigned char)*q) != units[u]) {
                if (u == 2 || frac) return GR_EINVAL;
                continue; /* try the next unit at the same place */
            }
            if (mul_add(&secs, v, unit_secs[u])) return GR_ERANGE;
            nanos += frac;
            p = q + 1;
            any = any_t = true;
        }
        if (!any_t) return GR_EINVAL;
    }
    if (*p || !any) return GR_EINVAL;
    /* normalise to secs + nanos with 0 <= nanos < 1e9, as java.time does */
    if (nanos < 0) {
        if (__builtin_sub_overflow(secs, 1, &secs)) return GR_ERANGE;
        nanos += 1000000000;
    }
    if (neg_all) {
        /* -(secs + nanos/1e9) = (-secs - 1) + (1e9 - nanos)/1e9 */
        if (nanos) {
            if (secs == INT64_MIN) return GR_ERANGE;
            secs = -secs - 1;
            nanos = 1000000000 - nanos;
        } else {
            if (secs == INT64_MIN) return GR_ERANGE;
            secs = -secs;
        }
    }
    /* Instant.now().minus(d).toEpochMilli() == now_ms - ceil(d in ms) */
    int64_t ms;
    if (__builtin_mul_overflow(secs, 1000, &ms) ||
        __builtin_add_overflow(ms, (nanos + 999999) / 1000000, &ms))
        return GR_ERANGE;
    *ms_out = ms;
    return 0;
}

/* ========================================================================================== */
/* --to-datetime                                                                              */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* 1 to max_digits digits at *p into *out; advances *p.  false if there are none. */
static bool dt_digits(const char **p, int max_digits, int64_t *out)
{
    const char *s = *p;
    int64_t v = 0;
    int n = 0;
    for (; n < max_digits && isdigit((unsigned char)*s); s++, n++)
        v = v * 10 + (*s - '0');
    if (!n || isdigit((unsigned char)*s)) return false;
    *p = s;
    *out = v;
    return true;
}

static bool dt_two(const char *s, int64_t *out)
{
    if (!isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1])) return false;
    *out = (s[0] - '0') * 10 + (s[1] - '0');
    return true;
}

/* Kafka's Utils.getDateTime: a zone-less value gets "Z" appended (when the part after the
 * first 'T' has no '+', '-' or 'Z'), then "yyyy-MM-dd'T'HH:mm:ss.SSS" followed by an ISO-8601
 * zone (XXX: Z or +hh:mm; X: Z, +hh or +hhmm), parsed strictly (setLenient(false)).
 * Differences from SimpleDateFormat: trailing text after the zone is refused rather than
 * ignored, and dates before 1582 are proleptic Gregorian rather than Julian. */
int cli_groups_parse_datetime(const char *s, int64_t *ms_out)
{
    const char *t = strchr(s, 'T');
    if (!t || !t[1]) return GR_EINVAL; /* Kafka: "It does not contain a 'T'" */
    const char *second_t = strchr(t + 1, 'T');
    size_t second_len = second_t ? (size_t)(second_t - t - 1) : strlen(t + 1);
    bool has_zone = memchr(t + 1, '+', second_len) || memchr(t + 1, '-', second_len) ||
                    memchr(t + 1, 'Z', second_len);
    const char *p = s;
    int64_t y, mo, d, h, mi, se, ms;
    if (!dt_digits(&p, 6, &y) || *p++ != '-' || !dt_digits(&p, 9, &mo) || *p++ != '-' ||
        !dt_digits(&p, 9, &d) || *p++ != 'T' || !dt_digits(&p, 9, &h) || *p++ != ':' ||
        !dt_digits(&p, 9, &mi) || *p++ != ':' || !dt_digits(&p, 9, &se) || *p++ != '.' ||
        !dt_digits(&p, 9, &ms))
        return GR_EINVAL;
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || se > 59 || ms > 999)
        return GR_EINVAL;
    if (d > mdays[mo - 1] + (mo == 2 && is_leap(y))) return GR_EINVAL;
    int64_t off_min = 0;
    if (!has_zone) {
        if (*p) return GR_EINVAL;
    } else if (*p == 'Z') {
        if (p[1]) return GR_EINVAL;
    } else if (*p == '+' || *p == '-') {
        /* +hh, +hhmm or +hh:mm */
        int sign = *p++ == '-' ? -1 : 1;
        int64_t oh, om = 0;
        if (!dt_two(p, &oh)) return GR_EINVAL;
        p += 2;
        if (*p == ':') p++;
        if (*p && (!dt_two(p, &om) || p[2])) return GR_EINVAL;
        if (!*p && p[-1] == ':') return GR_EINVAL;
        if (oh > 23 || om > 59) return GR_EINVAL;
        off_min = sign * (oh * 60 + om);
    } else {
        return GR_EINVAL;
    }
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - off_min * 60;
    *ms_out = secs * 1000 + ms;
    return 0;
}

/* ========================================================================================== */
/* --topic topic[:p1,p2,...]                                                                  */

/* Java's Integer.parseInt of [s, s + n). */
static bool parse_int32(const char *s, size_t n, int32_t *out)
{
    size_t i = 0;
    bool neg = false;
    if (n && (s[0] == '-' || s[0] == '+')) neg = s[i++] == '-';
    if (i == n) return false;
    int64_t v = 0;
    for (; i < n; i++) {
        if (!isdigit((unsigned char)s[i])) return false;
        v = v * 10 + (s[i] - '0');
        if (v > (int64_t)INT32_MAX + 1) return false;
    }
    if (neg) v = -v;
    if (v < INT32_MIN || v > INT32_MAX) return false;
    *out = (int32_t)v;
    return true;
}

int cli_groups_parse_topic_spec(const char *s, char *topic, size_t topic_len, bool *has_parts,
                                int32_t *parts, size_t parts_max, size_t *parts_n, char *err,
                                size_t err_len)
{
    *parts_n = 0;
    *has_parts = false;
    const char *colon = strchr(s, ':');
    size_t tlen = colon ? (size_t)(colon - s) : strlen(s);
    if (tlen + 1 > topic_len) {
        parse_err(err, err_len, "Invalid topic arg '%s': the topic name is too long", s);
        return GR_EINVAL;
    }
    if (!colon) {
        memcpy(topic, s, tlen);
        topic[tlen] = 0;
        if (!tlen) {
            parse_err(err, err_len, "Invalid topic arg '%s', expected topic name and partitions",
                      s);
            return GR_EINVAL;
        }
        return 0;
    }
    /* Java's s.split(":") must give exactly [topic, partitions]: trailing empty pieces are
     * dropped, so "t:" is one piece and "t:0:1" three. */
    const char *list = colon + 1;
    if (!tlen || !*list || strchr(list, ':')) {
        parse_err(err, err_len, "Invalid topic arg '%s', expected topic name and partitions", s);
        return GR_EINVAL;
    }
    memcpy(topic, s, tlen);
    topic[tlen] = 0;
    *has_parts = true;
    /* list.split(","): trailing empty pieces dropped, inner ones are invalid partitions */
    size_t len = strlen(list);
    while (len && list[len - 1] == ',')
        len--;
    for (size_t i = 0; i < len;) {
        size_t n = strcspn(list + i, ",");
        if (n > len - i) n = len - i;
        int32_t v;
        if (!parse_int32(list + i, n, &v)) {
            parse_err(err, err_len, "Invalid partition '%.*s' specified in topic arg '%s''", (int)n,
                      list + i, s);
            return GR_EINVAL;
        }
        if (*parts_n == parts_max) {
            parse_err(err, err_len, "Invalid topic arg '%s': more than %zu partitions", s,
                      parts_max);
            return GR_EINVAL;
        }
        parts[(*parts_n)++] = v;
        i += n + 1;
    }
    return 0;
}

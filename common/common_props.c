/* common_props.c — Java .properties files, as Kafka reads server.properties.
 *
 * Supported: '#' and '!' comment lines, key/value separated by '=', ':' or whitespace,
 * backslash line continuation (leading whitespace of the next line dropped), and the escapes
 * \t \n \r \f \\ \= \: \# \! and \uXXXX (ASCII range only). */
#include "common/common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void props_init(struct props *p)
{
    p->v = NULL;
    p->n = p->cap = 0;
}

void props_close(struct props *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->v[i].key);
        free(p->v[i].value);
    }
    free(p->v);
    props_init(p);
}

const char *props_get(const struct props *p, const char *key)
{
    for (size_t i = 0; i < p->n; i++)
        if (!strcmp(p->v[i].key, key)) return p->v[i].value;
    return NULL;
}

int props_set(struct props *p, const char *key, const char *value)
{
    char *v = strdup(value);
    if (!v) return GR_ENOMEM;
    for (size_t i = 0; i < p->n; i++) {
        if (!strcmp(p->v[i].key, key)) {
            free(p->v[i].value);
            p->v[i].value = v;
            return 0;
        }
    }
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 32;
        struct props_entry *nv = realloc(p->v, cap * sizeof(*nv));
        if (!nv) {
            free(v);
            return GR_ENOMEM;
        }
        p->v = nv;
        p->cap = cap;
    }
    char *k = strdup(key);
    if (!k) {
        free(v);
        return GR_ENOMEM;
    }
    p->v[p->n].key = k;
    p->v[p->n].value = v;
    p->n++;
    return 0;
}

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\f';
}

/* Reads one logical line (joining continuations) into out, unescaping; marks the position of
 * the key/value split.  Returns the number of input bytes consumed. */
static size_t props_logical_line(const char *s, size_t len, struct gbuf *out, size_t *key_end,
                                 bool *have_sep)
{
    size_t i = 0;
    bool in_key = true, after_key = false;
    *key_end = (size_t)-1;
    *have_sep = false;
    while (i < len && is_ws(s[i])) i++;
    while (i < len) {
        char c = s[i];
        if (c == '\r' || c == '\n') {
            i++;
            if (c == '\r' && i < len && s[i] == '\n') i++;
            break;
        }
        if (c == '\\') {
            if (i + 1 >= len) {
                i++;
                break;
            }
            char e = s[i + 1];
            if (e == '\n' || e == '\r') { /* continuation */
                i += 2;
                if (e == '\r' && i < len && s[i] == '\n') i++;
                while (i < len && is_ws(s[i])) i++;
                continue;
            }
            char o = e;
            i += 2;
            if (e == 't') o = '\t';
            else if (e == 'n') o = '\n';
            else if (e == 'r') o = '\r';
            else if (e == 'f') o = '\f';
            else if (e == 'u' && i + 4 <= len) {
                char hex[5] = {s[i], s[i + 1], s[i + 2], s[i + 3], 0};
                long cp = strtol(hex, NULL, 16);
                o = cp > 0 && cp < 128 ? (char)cp : '?';
                i += 4;
            }
            if (after_key) after_key = false;
            gbuf_append(out, &o, 1);
            continue;
        }
        if (in_key && (c == '=' || c == ':' || is_ws(c))) {
            in_key = false;
            *key_end = out->len;
            i++;
            if (c == '=' || c == ':') *have_sep = true;
            /* skip whitespace, then at most one separator, then whitespace */
            while (i < len && is_ws(s[i])) i++;
            if (!*have_sep && i < len && (s[i] == '=' || s[i] == ':')) {
                *have_sep = true;
                i++;
                while (i < len && is_ws(s[i])) i++;
            }
            continue;
        }
        gbuf_append(out, &c, 1);
        i++;
    }
    if (*key_end == (size_t)-1) *key_end = out->len;
    return i;
}

int props_parse(struct props *p, const char *text, size_t len, char *err, size_t err_len)
{
    struct gbuf line;
    gbuf_init(&line);
    size_t pos = 0;
    int rc = 0;
    while (pos < len) {
        size_t lstart = pos;
        while (lstart < len && is_ws(text[lstart])) lstart++;
        if (lstart < len && (text[lstart] == '#' || text[lstart] == '!')) {
            while (lstart < len && text[lstart] != '\n') lstart++;
            pos = lstart + 1;
            continue;
        }
        gbuf_reset(&line);
        size_t key_end;
        bool sep;
        pos += props_logical_line(text + pos, len - pos, &line, &key_end, &sep);
        if (line.len == 0) continue;
        if (gbuf_append(&line, "", 1)) {
            rc = GR_ENOMEM;
            break;
        }
        char *k = (char *)line.data;
        char *v = k + key_end;
        char saved = *v;
        *v = 0;
        char *key = strdup(k);
        *v = saved;
        if (!key) {
            rc = GR_ENOMEM;
            break;
        }
        rc = props_set(p, key, (char *)line.data + key_end);
        free(key);
        if (rc) break;
    }
    gbuf_close(&line);
    if (rc && err) strfmt(err, err_len, "properties: %s", gr_strerror(rc));
    return rc;
}

int props_load(struct props *p, const char *path, char *err, size_t err_len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        strfmt(err, err_len, "cannot open %s: %s", path, strerror(errno));
        return GR_EIO;
    }
    struct gbuf b;
    gbuf_init(&b);
    char chunk[8192];
    size_t n;
    int rc = 0;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (gbuf_append(&b, chunk, n)) {
            rc = GR_ENOMEM;
            break;
        }
    }
    if (ferror(f)) {
        strfmt(err, err_len, "cannot read %s: %s", path, strerror(errno));
        rc = GR_EIO;
    }
    fclose(f);
    if (!rc) rc = props_parse(p, (const char *)b.data, b.len, err, err_len);
    gbuf_close(&b);
    return rc;
}

int props_store(const struct props *p, const char *path, const char *header_comment)
{
    char tmp[4096];
    strfmt(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return GR_EIO;
    if (header_comment) fprintf(f, "#%s\n", header_comment);
    for (size_t i = 0; i < p->n; i++) fprintf(f, "%s=%s\n", p->v[i].key, p->v[i].value);
    if (fflush(f) || fsync(fileno(f))) {
        fclose(f);
        return GR_EIO;
    }
    if (fclose(f)) return GR_EIO;
    if (rename(tmp, path)) return GR_EIO;
    return 0;
}

/* common_buf.c — growable byte buffers and per-request arenas. */
#include "common/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void gbuf_init(struct gbuf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void gbuf_close(struct gbuf *b)
{
    free(b->data);
    gbuf_init(b);
}

int gbuf_reserve(struct gbuf *b, size_t extra)
{
    if (extra > SIZE_MAX / 2 - b->len) return GR_ENOMEM;
    size_t need = b->len + extra;
    if (need <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) cap *= 2;
    uint8_t *p = realloc(b->data, cap);
    if (!p) return GR_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int gbuf_append(struct gbuf *b, const void *p, size_t n)
{
    if (n == 0) return 0;
    int rc = gbuf_reserve(b, n);
    if (rc) return rc;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

void gbuf_consume(struct gbuf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

/* ------------------------------------------------------------------------------------------ */

struct arena_block {
    struct arena_block *next;
    size_t used, cap;
    max_align_t data[];
};

void arena_init(struct arena *a, size_t block_bytes)
{
    a->head = NULL;
    a->block_bytes = block_bytes ? block_bytes : 16384;
    a->used_bytes = 0;
}

void arena_close(struct arena *a)
{
    struct arena_block *blk = a->head;
    while (blk) {
        struct arena_block *next = blk->next;
        free(blk);
        blk = next;
    }
    a->head = NULL;
    a->used_bytes = 0;
}

void arena_reset(struct arena *a)
{
    if (!a->head) return;
    /* keep the last block in the chain (the first allocated, usually the standard size) */
    struct arena_block *blk = a->head, *keep = NULL;
    while (blk) {
        struct arena_block *next = blk->next;
        if (!next && blk->cap == a->block_bytes) {
            keep = blk;
        } else {
            free(blk);
        }
        blk = next;
    }
    a->head = keep;
    if (keep) keep->used = 0;
    a->used_bytes = 0;
}

void *arena_alloc(struct arena *a, size_t n)
{
    n = (n + 7) & ~(size_t)7;
    if (n == 0) n = 8;
    struct arena_block *blk = a->head;
    if (!blk || blk->cap - blk->used < n) {
        size_t cap = n > a->block_bytes ? n : a->block_bytes;
        struct arena_block *nb = malloc(sizeof(*nb) + cap);
        if (!nb) return NULL;
        nb->cap = cap;
        nb->used = 0;
        if (blk && n > a->block_bytes) {
            /* oversized: insert behind the head so the head keeps serving small requests */
            nb->next = blk->next;
            blk->next = nb;
        } else {
            nb->next = blk;
            a->head = nb;
        }
        blk = nb;
    }
    void *p = (uint8_t *)blk->data + blk->used;
    blk->used += n;
    a->used_bytes += n;
    return p;
}

void *arena_calloc(struct arena *a, size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size) return NULL;
    void *p = arena_alloc(a, count * size);
    if (p) memset(p, 0, count * size);
    return p;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

char *arena_printf(struct arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return NULL;
    char *p = arena_alloc(a, (size_t)n + 1);
    if (!p) return NULL;
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

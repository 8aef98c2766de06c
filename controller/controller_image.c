/* controller_image.c — the in-memory metadata image: topics by name and id, partitions, topic
 * configs and brokers.  Only controller_records.c mutates it, by applying committed records. */
#include "controller/controller_int.h"

#include <stdlib.h>
#include <string.h>

int md_image_init(struct md_image *img)
{
    memset(img, 0, sizeof(*img));
    img->bucket_count = 1024;
    img->buckets = calloc(img->bucket_count, sizeof(*img->buckets));
    img->applied_offset = -1;
    return img->buckets ? 0 : GR_ENOMEM;
}

static void md_topic_free(struct md_topic *t)
{
    for (int32_t i = 0; i < t->partition_count; i++) {
        free(t->partitions[i].replicas);
        free(t->partitions[i].isr);
    }
    free(t->partitions);
    props_close(&t->configs);
    free(t->name);
    free(t);
}

void md_image_close(struct md_image *img)
{
    for (size_t b = 0; img->buckets && b < img->bucket_count; b++) {
        struct md_topic *t = img->buckets[b];
        while (t) {
            struct md_topic *n = t->hash_next;
            md_topic_free(t);
            t = n;
        }
    }
    free(img->buckets);
    for (int32_t i = 0; i < img->broker_count; i++) md_broker_clear(&img->brokers[i]);
    free(img->brokers);
    memset(img, 0, sizeof(*img));
}

struct md_topic *md_image_topic(const struct md_image *img, const char *name, size_t len)
{
    struct md_topic *t = img->buckets[gr_hash(name, len) % img->bucket_count];
    for (; t; t = t->hash_next)
        if (strlen(t->name) == len && !memcmp(t->name, name, len)) return t;
    return NULL;
}

struct md_topic *md_image_topic_by_id(const struct md_image *img, const struct gr_uuid *id)
{
    for (size_t b = 0; b < img->bucket_count; b++)
        for (struct md_topic *t = img->buckets[b]; t; t = t->hash_next)
            if (!memcmp(t->id.b, id->b, 16)) return t;
    return NULL;
}

void md_image_foreach(const struct md_image *img, void (*fn)(void *arg, struct md_topic *t),
                      void *arg)
{
    for (size_t b = 0; b < img->bucket_count; b++) {
        struct md_topic *t = img->buckets[b];
        while (t) {
            struct md_topic *n = t->hash_next;
            fn(arg, t);
            t = n;
        }
    }
}

struct md_topic *md_image_add_topic(struct md_image *img, const char *name, size_t len,
                                    const struct gr_uuid *id)
{
    struct md_topic *t = calloc(1, sizeof(*t));
    if (!t) return NULL;
    t->name = strndup(name, len);
    if (!t->name) {
        free(t);
        return NULL;
    }
    t->id = *id;
    props_init(&t->configs);
    size_t b = gr_hash(name, len) % img->bucket_count;
    t->hash_next = img->buckets[b];
    img->buckets[b] = t;
    img->topic_count++;
    return t;
}

void md_image_remove_topic(struct md_image *img, struct md_topic *t)
{
    size_t b = gr_hash(t->name, strlen(t->name)) % img->bucket_count;
    struct md_topic **pp = &img->buckets[b];
    while (*pp && *pp != t) pp = &(*pp)->hash_next;
    if (*pp) {
        *pp = t->hash_next;
        img->topic_count--;
    }
    md_topic_free(t);
}

/* Sets partition `id` of t, growing the array so partitions stay indexed by id. */
int md_topic_set_partition(struct md_topic *t, const struct md_partition *p)
{
    if (p->id < 0 || p->id > 1000000) return GR_EINVAL;
    if (p->id >= t->partition_count) {
        struct md_partition *np = realloc(t->partitions, sizeof(*np) * (size_t)(p->id + 1));
        if (!np) return GR_ENOMEM;
        memset(np + t->partition_count, 0, sizeof(*np) * (size_t)(p->id + 1 - t->partition_count));
        for (int32_t i = t->partition_count; i <= p->id; i++) np[i].id = i;
        t->partitions = np;
        t->partition_count = p->id + 1;
    }
    struct md_partition *dst = &t->partitions[p->id];
    free(dst->replicas);
    free(dst->isr);
    *dst = *p;
    dst->replicas = malloc(sizeof(int32_t) * (size_t)GR_MAX(p->replica_count, 1));
    dst->isr = malloc(sizeof(int32_t) * (size_t)GR_MAX(p->isr_count, 1));
    if (!dst->replicas || !dst->isr) return GR_ENOMEM;
    memcpy(dst->replicas, p->replicas, sizeof(int32_t) * (size_t)p->replica_count);
    memcpy(dst->isr, p->isr, sizeof(int32_t) * (size_t)p->isr_count);
    return 0;
}

void md_broker_clear(struct md_broker *b)
{
    for (int32_t i = 0; i < b->endpoint_count; i++) {
        free(b->endpoints[i].name);
        free(b->endpoints[i].host);
    }
    free(b->endpoints);
    free(b->rack);
    b->endpoints = NULL;
    b->endpoint_count = 0;
    b->rack = NULL;
    b->host = NULL;
}

const struct md_endpoint *md_broker_endpoint(const struct md_broker *b, const char *name)
{
    if (!b || b->endpoint_count <= 0) return NULL;
    if (!name) return &b->endpoints[0];
    for (int32_t i = 0; i < b->endpoint_count; i++)
        if (!strcmp(b->endpoints[i].name, name)) return &b->endpoints[i];
    return NULL;
}

struct md_broker *md_image_set_broker(struct md_image *img, int32_t id,
                                      const struct md_endpoint *eps, int32_t n, const char *rack)
{
    if (n < 1) return NULL;
    struct md_endpoint *copy = calloc((size_t)n, sizeof(*copy));
    bool ok = copy != NULL;
    for (int32_t i = 0; ok && i < n; i++) {
        copy[i].name = strdup(eps[i].name ? eps[i].name : "PLAINTEXT");
        copy[i].host = strdup(eps[i].host ? eps[i].host : "");
        copy[i].port = eps[i].port;
        ok = copy[i].name && copy[i].host;
    }
    char *rack_copy = rack ? strdup(rack) : NULL;
    if (!ok || (rack && !rack_copy)) {
        for (int32_t i = 0; copy && i < n; i++) {
            free(copy[i].name);
            free(copy[i].host);
        }
        free(copy);
        free(rack_copy);
        return NULL;
    }
    struct md_broker *b = (struct md_broker *)md_image_broker(img, id);
    if (!b) {
        struct md_broker *nb = realloc(img->brokers, sizeof(*nb) * (size_t)(img->broker_count + 1));
        if (!nb) return NULL;
        img->brokers = nb;
        /* kept sorted by id: Metadata lists brokers in a stable order */
        int32_t at = 0;
        while (at < img->broker_count && nb[at].id < id) at++;
        memmove(&nb[at + 1], &nb[at], sizeof(*nb) * (size_t)(img->broker_count - at));
        img->broker_count++;
        b = &nb[at];
        memset(b, 0, sizeof(*b));
    }
    md_broker_clear(b);
    b->id = id;
    b->endpoints = copy;
    b->endpoint_count = n;
    b->host = copy[0].host;
    b->port = copy[0].port;
    b->rack = rack_copy;
    return b;
}

const struct md_broker *md_image_broker(const struct md_image *img, int32_t id)
{
    for (int32_t i = 0; i < img->broker_count; i++)
        if (img->brokers[i].id == id) return &img->brokers[i];
    return NULL;
}

const struct md_partition *md_topic_partition(const struct md_topic *t, int32_t id)
{
    if (id < 0 || id >= t->partition_count) return NULL;
    return &t->partitions[id];
}

/* Empties the image (topics and brokers), keeping the cluster id. */
void md_image_clear(struct md_image *img)
{
    struct gr_uuid cid = img->cluster_id;
    md_image_close(img);
    md_image_init(img);
    img->cluster_id = cid;
    gr_uuid_to_base64(&cid, img->cluster_id_str);
}

const char *md_topic_name_invalid(const char *name, size_t len)
{
    if (len == 0) return "Topic name is illegal, it can't be empty";
    if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
        return "Topic name cannot be \".\" or \"..\"";
    if (len > 249) return "Topic name is illegal, it can't be longer than 249 characters";
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok)
            return "Topic name contains a character other than ASCII alphanumerics, '.', '_' "
                   "and '-'";
    }
    return NULL;
}

/* broker_int.h — private to the broker module. */
#ifndef GREGOR_BROKER_INT_H
#define GREGOR_BROKER_INT_H

#include "broker/broker.h"
#include "proto/proto.h"

struct event;
struct fetch_waiter;

struct broker_partition {
    struct broker_topic *topic;
    int32_t id;
    struct storage_log *log;
    int64_t high_watermark;
    struct fetch_waiter **waiters; /* delayed fetches watching this partition */
    int32_t waiter_count, waiter_cap;
};

struct broker_topic {
    char *name;
    struct gr_uuid id;
    int32_t partition_count;
    struct broker_partition *partitions;
    struct broker_topic *hash_next;
    /* topic configs resolved for the hot path */
    int codec;             /* -1 = producer (keep), else RB_CODEC_* */
    bool log_append_time;  /* message.timestamp.type=LogAppendTime */
    int32_t max_message_bytes;
};

/* One request being handled. */
struct broker_req {
    struct broker *b;
    struct net_slot *slot;
    struct kafka_request_header hdr;
    struct kafka_reader r; /* positioned at the body */
    struct arena *arena;
    int64_t now_ms;
};

typedef int (*broker_handler_fn)(struct broker_req *req);

struct broker_api {
    int16_t key;
    int16_t min_version;
    int16_t max_version;
    broker_handler_fn handler;
};

struct broker {
    struct event_base *base;
    struct broker_config cfg;
    struct md_client *mdc;
    struct broker_topic **buckets;
    size_t bucket_count;
    struct arena arena; /* per synchronous request, reset after each */
    struct gbuf scratch; /* recompression */
    struct fetch_waiter *waiters; /* all delayed fetches */
    int64_t next_retention_ms;
    int64_t next_checkpoint_ms;
    int32_t message_max_bytes;
    int32_t fetch_max_bytes; /* fetch.max.bytes: caps every response */
    bool auto_create;
};

extern const struct broker_api broker_apis[];
extern const size_t broker_api_count;
const struct broker_api *broker_api_find(int16_t key);

struct broker_topic *broker_topic_find(struct broker *b, const char *name, size_t len);
struct broker_partition *broker_partition_find(struct broker *b, struct kafka_str topic,
                                               int32_t partition);
/* KAFKA_ERR_NONE when this broker leads partition `partition` of t (t may be NULL) and hosts
 * its log; else the error for the client: UNKNOWN_TOPIC_OR_PARTITION, LEADER_NOT_AVAILABLE, or
 * NOT_LEADER_OR_FOLLOWER (the client refreshes its metadata and goes to the leader). */
int16_t broker_lead_error(struct broker *b, const struct broker_topic *t, int32_t partition);
/* Encodes the response header then calls encode_body; finishes the slot. */
void broker_respond_begin(struct broker_req *req, struct kafka_writer *w);
void broker_respond_end(struct broker_req *req, struct kafka_writer *w);

/* A copy of a Kafka string into the request arena, NUL-terminated. */
char *broker_strdup(struct broker_req *req, struct kafka_str s);

int broker_handle_api_versions(struct broker_req *req);
int broker_handle_metadata(struct broker_req *req);
int broker_handle_produce(struct broker_req *req);
int broker_handle_fetch(struct broker_req *req);
int broker_handle_list_offsets(struct broker_req *req);
int broker_handle_create_topics(struct broker_req *req);
int broker_handle_delete_topics(struct broker_req *req);
int broker_handle_describe_configs(struct broker_req *req);
int broker_handle_describe_quorum(struct broker_req *req);
int broker_handle_create_partitions(struct broker_req *req);
int broker_handle_alter_configs(struct broker_req *req);
int broker_handle_incremental_alter_configs(struct broker_req *req);

/* Delayed fetch support (broker_fetch.c). */
void broker_partition_appended(struct broker *b, struct broker_partition *p);
void broker_fetch_cancel_all(struct broker *b);
void broker_fetch_partition_gone(struct broker *b, struct broker_partition *p);
/* The partition struct moved (its topic grew): delayed fetches follow it. */
void broker_fetch_partition_moved(struct broker_partition *from, struct broker_partition *to);

void broker_topic_resolve_configs(struct broker *b, struct broker_topic *t,
                                  const struct md_topic *mt);

#endif

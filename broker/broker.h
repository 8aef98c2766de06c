/*
 * broker.h — the public header of Gregor's `broker` module: the Kafka request handlers, the
 * hosted partitions (their logs and high watermarks), and delayed fetches.
 *
 * Threading: everything runs on the node's event loop thread.
 */
#ifndef GREGOR_BROKER_H
#define GREGOR_BROKER_H

#include "common/common.h"
#include "controller/controller.h"
#include "net/net.h"
#include "storage/storage.h"

struct event_base;
struct broker;

struct broker_config {
    const struct props *cfg; /* effective broker config; borrowed for the broker's lifetime */
    int32_t node_id;
    struct storage_dir *log_dir; /* partition logs; borrowed */
};

int broker_new(struct event_base *base, const struct broker_config *cfg, struct broker **out);
/* Completes every delayed request, closes partition logs (the dir keeps them), frees. */
void broker_free(struct broker *b);
/* The broker reads the image, and forwards admin requests, through its metadata client; set
 * once, before serving. */
void broker_set_md_client(struct broker *b, struct md_client *m);
/* The names of the broker listeners (borrowed), in the order the client server listens on
 * them: Metadata and FindCoordinator answer with each broker's endpoint of the listener a
 * request came in on; followers reach leaders on inter.broker.listener.name (default: the
 * first).  Set once, before serving. */
void broker_set_listeners(struct broker *b, const char *const *names, int n);
/* The controller listener that keeps the broker's partitions in step with the image. */
struct controller_listener broker_controller_listener(struct broker *b);
/* The frame callback for net_server_new (ctx = the broker). */
int broker_on_frame(void *ctx, struct net_conn *c, struct net_slot *slot, uint8_t *payload,
                    size_t len);
/* Removes partition directories whose topic is not in the image (call after the controller has
 * replayed the topics, before serving). */
void broker_remove_orphans(struct broker *b);
/* Periodic work: retention, flush.ms, checkpoints.  Called by the node's timer. */
void broker_tick(struct broker *b, int64_t now_ms);

#endif

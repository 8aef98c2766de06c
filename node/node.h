/*
 * node.h — the public header of Gregor's `node` module: turning a server.properties into a
 * running node (roles wired together on one event loop), and stopping it cleanly.
 */
#ifndef GREGOR_NODE_H
#define GREGOR_NODE_H

#include "common/common.h"

#define NODE_LISTENERS_MAX 8

struct node_listener {
    char name[64]; /* PLAINTEXT, CONTROLLER, ... */
    char host[256];
    int port;
};

/* Parses "NAME://host:port,NAME2://[::1]:port".  Returns the count, or -1 with err set. */
int node_parse_listeners(const char *spec, struct node_listener *out, int max, char *err,
                         size_t err_len);

/* Reads <dir>/meta.properties.  Returns 0, GR_ENOENT (not formatted) or GR_EINVAL, with a
 * message in err.  cluster_id must have room for 23 bytes. */
int node_read_meta(const char *dir, int32_t *node_id, char *cluster_id, char *err, size_t err_len);

struct node;
/* Loads the config, checks storage, opens everything and binds the listeners. */
int node_start(const char *config_path, char **overrides, int n_overrides, struct node **out,
               char *err, size_t err_len);
/* Runs the event loop until node_request_stop (or SIGINT/SIGTERM, which call it). */
int node_run(struct node *n);
void node_request_stop(struct node *n);
/* Closes everything, writing checkpoints.  NULL is a no-op. */
void node_free(struct node *n);

#endif

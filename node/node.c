/* node.c — start-up, the event loop, and shutdown of one gregord process. */
#include "node/node.h"

#include "broker/broker.h"
#include "controller/controller.h"
#include "net/net.h"
#include "storage/storage.h"

#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NODE_TICK_MS 100

struct node {
    struct props cfg;
    int32_t node_id;
    struct event_base *base;
    struct storage_dir *dir;
    struct broker *broker;
    struct controller *ctrl;
    struct net_server *clients;
    struct event *ev_sigint, *ev_sigterm, *ev_tick;
};

int node_parse_listeners(const char *spec, struct node_listener *out, int max, char *err,
                         size_t err_len)
{
    int n = 0;
    const char *p = spec;
    while (p && *p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char item[512];
        strfmt(item, sizeof item, "%.*s", (int)len, p);
        char *sep = strstr(item, "://");
        char *colon = sep ? strrchr(sep + 3, ':') : NULL;
        if (!sep || !colon || n == max) {
            strfmt(err, err_len, "Invalid listener '%s': expected NAME://host:port", item);
            return -1;
        }
        struct node_listener *l = &out[n++];
        *sep = 0;
        *colon = 0;
        strfmt(l->name, sizeof l->name, "%s", item);
        char *host = sep + 3;
        if (host[0] == '[') { /* [::1] */
            host++;
            char *rb = strchr(host, ']');
            if (rb) *rb = 0;
        }
        strfmt(l->host, sizeof l->host, "%s", host);
        int64_t port;
        if (parse_i64(colon + 1, &port) || port < 0 || port > 65535) {
            strfmt(err, err_len, "Invalid port in listener '%s'", item);
            return -1;
        }
        l->port = (int)port;
        p = end ? end + 1 : NULL;
    }
    return n;
}

int node_read_meta(const char *dir, int32_t *node_id, char *cluster_id, char *err, size_t err_len)
{
    char path[4096];
    strfmt(path, sizeof path, "%s/meta.properties", dir);
    if (access(path, F_OK)) {
        strfmt(err, err_len, "No meta.properties found in %s (have you run `gregor storage "
               "format -t <cluster-id> -c <config>` to format the directory? `gregor storage "
               "random-uuid` makes a cluster id)", dir);
        return GR_ENOENT;
    }
    struct props p;
    props_init(&p);
    int rc = props_load(&p, path, err, err_len);
    const char *cid = rc ? NULL : props_get(&p, "cluster.id");
    const char *nid = rc ? NULL : props_get(&p, "node.id");
    int64_t id;
    if (!rc && (!cid || !nid || parse_i64(nid, &id) || strlen(cid) != 22)) {
        strfmt(err, err_len, "%s is missing cluster.id or node.id, or they are malformed", path);
        rc = GR_EINVAL;
    }
    if (!rc) {
        *node_id = (int32_t)id;
        strfmt(cluster_id, 23, "%s", cid);
    }
    props_close(&p);
    return rc;
}

static void node_on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct node *n = arg;
    LOG_INFO("node", "received %s, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    node_request_stop(n);
}

static void node_on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct node *n = arg;
    broker_tick(n->broker, time_mono_ms());
}

void node_request_stop(struct node *n)
{
    event_base_loopbreak(n->base);
}

/* Checks roles, the log dir and its meta.properties. */
static int node_check_storage(struct node *n, const char **log_dir, struct gr_uuid *cluster_id,
                              char *err, size_t err_len)
{
    const char *roles = cfg_get_str(&n->cfg, "process.roles", NULL);
    if (!roles) {
        strfmt(err, err_len, "process.roles must be set (broker,controller for a single node)");
        return GR_EINVAL;
    }
    if (!strstr(roles, "broker") || !strstr(roles, "controller")) {
        strfmt(err, err_len, "process.roles=%s: this version runs combined nodes only "
               "(process.roles=broker,controller)", roles);
        return GR_EINVAL;
    }
    int64_t id;
    if (parse_i64(cfg_get_str(&n->cfg, "node.id", ""), &id)) {
        strfmt(err, err_len, "node.id must be set in the configuration");
        return GR_EINVAL;
    }
    n->node_id = (int32_t)id;
    const char *dirs = cfg_get_str(&n->cfg, "log.dirs", "");
    if (strchr(dirs, ',')) {
        strfmt(err, err_len, "log.dirs=%s: this version supports one log directory", dirs);
        return GR_EINVAL;
    }
    *log_dir = dirs;
    const char *md = cfg_get_str(&n->cfg, "metadata.log.dir", NULL);
    if (md && strcmp(md, dirs)) {
        strfmt(err, err_len, "metadata.log.dir must equal log.dirs in this version");
        return GR_EINVAL;
    }
    int32_t meta_node;
    char cid[23];
    int rc = node_read_meta(dirs, &meta_node, cid, err, err_len);
    if (rc) return rc;
    if (meta_node != n->node_id) {
        strfmt(err, err_len, "Stored node id %d in %s/meta.properties doesn't match node.id=%d "
               "in the configuration", meta_node, dirs, n->node_id);
        return GR_EINVAL;
    }
    if (gr_uuid_from_base64(cid, cluster_id)) {
        strfmt(err, err_len, "invalid cluster.id '%s' in %s/meta.properties", cid, dirs);
        return GR_EINVAL;
    }
    return 0;
}

/* The security protocol of a listener name, from listener.security.protocol.map (a listener
 * named after a protocol maps to it by default, as in Kafka).  Writes "" if unknown. */
static void listener_protocol(const char *map, const char *name, char *out, size_t out_len)
{
    out[0] = 0;
    size_t nl = strlen(name);
    for (const char *p = map; p && *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *colon = memchr(p, ':', len);
        if (colon && (size_t)(colon - p) == nl && !strncmp(p, name, nl)) {
            strfmt(out, out_len, "%.*s", (int)(len - nl - 1), colon + 1);
            return;
        }
        p = end ? end + 1 : NULL;
    }
    static const char *const protos[] = {"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"};
    for (size_t i = 0; i < GR_ARRAY_LEN(protos); i++)
        if (!strcmp(name, protos[i])) strfmt(out, out_len, "%s", name);
}

/* Binds the client listeners (and the controller listener, which serves the same protocol in
 * this single-node version) and finds the endpoint to advertise. */
static int node_bind(struct node *n, const char **adv_host, int *adv_port, char *err,
                     size_t err_len)
{
    struct node_listener ls[NODE_LISTENERS_MAX], adv[NODE_LISTENERS_MAX];
    int nl = node_parse_listeners(cfg_get_str(&n->cfg, "listeners", ""), ls, NODE_LISTENERS_MAX,
                                  err, err_len);
    if (nl <= 0) {
        if (nl == 0) strfmt(err, err_len, "listeners must name at least one listener");
        return GR_EINVAL;
    }
    const char *ctrl_names = cfg_get_str(&n->cfg, "controller.listener.names", "CONTROLLER");
    const char *adv_spec = props_get(&n->cfg, "advertised.listeners");
    int na = adv_spec ? node_parse_listeners(adv_spec, adv, NODE_LISTENERS_MAX, err, err_len) : 0;
    if (na < 0) return GR_EINVAL;
    static char host_buf[256];
    *adv_port = -1;
    const char *map = cfg_get_str(&n->cfg, "listener.security.protocol.map", "");
    for (int i = 0; i < nl; i++) {
        char proto[32];
        listener_protocol(map, ls[i].name, proto, sizeof proto);
        if (strcmp(proto, "PLAINTEXT")) {
            strfmt(err, err_len, "listener %s uses security protocol %s; this release serves "
                   "PLAINTEXT only (see listener.security.protocol.map)", ls[i].name,
                   proto[0] ? proto : "(none: add it to listener.security.protocol.map)");
            return GR_EINVAL;
        }
    }
    for (int i = 0; i < nl; i++) {
        int bound = 0;
        int rc = net_server_listen(n->clients, ls[i].host, ls[i].port, &bound, err, err_len);
        if (rc) return rc;
        bool is_ctrl = strstr(ctrl_names, ls[i].name) != NULL;
        LOG_INFO("node", "listening on %s://%s:%d%s", ls[i].name, ls[i].host, bound,
                 is_ctrl ? " (controller)" : "");
        if (is_ctrl || *adv_port >= 0) continue;
        const struct node_listener *a = &ls[i];
        for (int k = 0; k < na; k++)
            if (!strcmp(adv[k].name, ls[i].name)) a = &adv[k];
        strfmt(host_buf, sizeof host_buf, "%s", a->host);
        if (!host_buf[0] || !strcmp(host_buf, "0.0.0.0") || !strcmp(host_buf, "::"))
            gethostname(host_buf, sizeof host_buf);
        *adv_port = a == &ls[i] ? bound : a->port;
    }
    if (*adv_port < 0) {
        strfmt(err, err_len, "listeners has no broker (non-controller) listener");
        return GR_EINVAL;
    }
    *adv_host = host_buf;
    return 0;
}

int node_start(const char *config_path, char **overrides, int n_overrides, struct node **out,
               char *err, size_t err_len)
{
    struct node *n = calloc(1, sizeof(*n));
    if (!n) return GR_ENOMEM;
    props_init(&n->cfg);
    int rc = cfg_broker_load(&n->cfg, config_path, overrides, n_overrides, err, err_len);
    const char *log_dir = NULL;
    struct gr_uuid cluster_id;
    if (!rc) rc = node_check_storage(n, &log_dir, &cluster_id, err, err_len);
    if (rc) goto fail;
    signal(SIGPIPE, SIG_IGN);
    n->base = event_base_new();
    /* signals first: a SIGTERM that arrives as soon as the port opens must stop us cleanly */
    n->ev_sigint = evsignal_new(n->base, SIGINT, node_on_signal, n);
    n->ev_sigterm = evsignal_new(n->base, SIGTERM, node_on_signal, n);
    event_add(n->ev_sigint, NULL);
    event_add(n->ev_sigterm, NULL);
    rc = storage_dir_open(log_dir, &n->dir, err, err_len);
    if (rc) goto fail;
    struct broker_config bc = {&n->cfg, n->node_id, n->dir};
    rc = broker_new(n->base, &bc, &n->broker);
    if (rc) goto fail;
    struct net_server_config nc = {
        .frame_bytes_max = (int32_t)cfg_get_long(&n->cfg, "socket.request.max.bytes", 104857600),
        .idle_ms_max = cfg_get_long(&n->cfg, "connections.max.idle.ms", 600000),
        .inflight_bytes_max = 64u << 20,
        .inflight_requests_max = 256,
    };
    n->clients = net_server_new(n->base, &nc, broker_on_frame, n->broker);
    const char *adv_host;
    int adv_port;
    rc = node_bind(n, &adv_host, &adv_port, err, err_len);
    if (rc) goto fail;
    struct controller_config cc = {&n->cfg, n->node_id, n->dir, cluster_id, adv_host, adv_port};
    struct controller_listener cl = broker_controller_listener(n->broker);
    rc = controller_open(&cc, &cl, &n->ctrl, err, err_len);
    if (rc) goto fail;
    broker_set_controller(n->broker, n->ctrl);
    controller_replay_topics(n->ctrl);
    broker_remove_orphans(n->broker);
    n->ev_tick = event_new(n->base, -1, EV_PERSIST, node_on_tick, n);
    struct timeval tv = {0, NODE_TICK_MS * 1000};
    event_add(n->ev_tick, &tv);
    LOG_INFO("node", "Gregor node %d started (cluster %s), advertising %s:%d", n->node_id,
             controller_image(n->ctrl)->cluster_id_str, adv_host, adv_port);
    *out = n;
    return 0;
fail:
    node_free(n);
    return rc ? rc : GR_EINVAL;
}

int node_run(struct node *n)
{
    return event_base_dispatch(n->base) < 0 ? GR_EIO : 0;
}

void node_free(struct node *n)
{
    if (!n) return;
    if (n->clients) net_server_stop_listening(n->clients);
    broker_free(n->broker); /* answers delayed fetches before connections go */
    net_server_free(n->clients);
    controller_free(n->ctrl);
    storage_dir_close(n->dir);
    if (n->ev_sigint) event_free(n->ev_sigint);
    if (n->ev_sigterm) event_free(n->ev_sigterm);
    if (n->ev_tick) event_free(n->ev_tick);
    if (n->base) event_base_free(n->base);
    props_close(&n->cfg);
    free(n);
}

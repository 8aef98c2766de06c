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

#define NODE_SHUTDOWN_MS 10000 /* controlled shutdown; a second signal stops at once */

struct node {
    struct props cfg;
    int32_t node_id;
    bool is_broker, is_controller;
    struct controller_voter voters[CONTROLLER_VOTERS_MAX];
    int n_voters;
    struct event_base *base;
    struct storage_dir *dir;
    struct broker *broker;
    struct md_client *mdc;
    struct controller *ctrl;
    struct net_server *clients;   /* the Kafka protocol (broker role) */
    struct net_server *ctrl_srv;  /* the control plane (controller role) */
    struct event *ev_sigint, *ev_sigterm, *ev_tick, *ev_stop;
    bool stopping;
    /* the broker listeners in the order the client server listens on them, as advertised */
    struct node_listener adv[NODE_LISTENERS_MAX];
    struct md_endpoint endpoints[NODE_LISTENERS_MAX];
    const char *listener_names[NODE_LISTENERS_MAX];
    int n_endpoints;
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
    if (n->broker) broker_tick(n->broker, time_mono_ms());
}

static void node_on_stop_timer(evutil_socket_t fd, short what, void *arg)
{
    struct node *n = arg;
    event_base_loopbreak(n->base);
}

/* After the broker's controlled shutdown: a leading controller hands leadership over, so the
 * quorum does not wait an election timeout for us. */
static void node_stop_controller(void *arg)
{
    struct node *n = arg;
    int64_t wait_ms = 0;
    if (n->ctrl && controller_transfer_leadership(n->ctrl) == 0) {
        LOG_INFO("node", "handing the controller leadership to another voter");
        wait_ms = 300;
    }
    struct timeval tv = {0, (suseconds_t)wait_ms * 1000};
    event_add(n->ev_stop, &tv);
}

void node_request_stop(struct node *n)
{
    if (n->stopping) {
        event_base_loopbreak(n->base);
        return;
    }
    n->stopping = true;
    if (n->clients) net_server_stop_listening(n->clients);
    if (n->mdc) md_client_shutdown(n->mdc, NODE_SHUTDOWN_MS, node_stop_controller, n);
    else node_stop_controller(n);
}

static void node_on_ready(void *arg)
{
    struct node *n = arg;
    broker_remove_orphans(n->broker);
    if (!n->stopping) net_server_set_accepting(n->clients, true);
    LOG_INFO("node", "broker %d is unfenced and accepting clients", n->node_id);
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
    for (const char *p = roles; *p;) {
        size_t len = strcspn(p, ",");
        char role[64];
        strfmt(role, sizeof role, "%.*s", (int)len, p);
        if (!strcmp(role, "broker")) n->is_broker = true;
        else if (!strcmp(role, "controller")) n->is_controller = true;
        else {
            strfmt(err, err_len, "process.roles=%s: unknown role '%s' (use broker, controller "
                   "or broker,controller)", roles, role);
            return GR_EINVAL;
        }
        p += len + (p[len] == ',');
    }
    if (!n->is_broker && !n->is_controller) {
        strfmt(err, err_len, "process.roles must name broker, controller or both");
        return GR_EINVAL;
    }
    n->n_voters = controller_parse_voters(cfg_get_str(&n->cfg, "controller.quorum.voters", ""),
                                          n->voters, CONTROLLER_VOTERS_MAX, err, err_len);
    if (n->n_voters < 0) return GR_EINVAL;
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

/* Binds the listeners: the controller listener(s) (controller.listener.names) on the control
 * plane server, the others on the Kafka one, and records each broker listener's advertised
 * endpoint (advertised.listeners by name, else the bound address) in n->endpoints. */
static int node_bind(struct node *n, char *err, size_t err_len)
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
    bool have_ctrl = false;
    for (int i = 0; i < nl; i++) {
        bool is_ctrl = strstr(ctrl_names, ls[i].name) != NULL;
        if (is_ctrl && !n->is_controller) {
            strfmt(err, err_len, "listener %s is a controller listener (controller.listener.names"
                   ") but process.roles has no controller role; remove it from listeners",
                   ls[i].name);
            return GR_EINVAL;
        }
        if (!is_ctrl && !n->is_broker) {
            strfmt(err, err_len, "listener %s is not in controller.listener.names=%s, and a "
                   "controller-only node serves only controller listeners", ls[i].name,
                   ctrl_names);
            return GR_EINVAL;
        }
        have_ctrl |= is_ctrl;
        int bound = 0;
        int rc = net_server_listen(is_ctrl ? n->ctrl_srv : n->clients, ls[i].host, ls[i].port,
                                   &bound, err, err_len);
        if (rc) return rc;
        LOG_INFO("node", "listening on %s://%s:%d%s", ls[i].name, ls[i].host, bound,
                 is_ctrl ? " (controller)" : "");
        if (is_ctrl) continue;
        const struct node_listener *a = &ls[i];
        for (int k = 0; k < na; k++)
            if (!strcmp(adv[k].name, ls[i].name)) a = &adv[k];
        struct node_listener *e = &n->adv[n->n_endpoints];
        *e = *a;
        if (!e->host[0] || !strcmp(e->host, "0.0.0.0") || !strcmp(e->host, "::"))
            gethostname(e->host, sizeof e->host);
        e->port = a == &ls[i] ? bound : a->port;
        n->endpoints[n->n_endpoints] = (struct md_endpoint){e->name, e->host, e->port};
        n->listener_names[n->n_endpoints++] = e->name;
    }
    if (n->is_controller && !have_ctrl) {
        strfmt(err, err_len, "a controller needs a listener named in controller.listener.names"
               "=%s (e.g. CONTROLLER://:9093 in listeners)", ctrl_names);
        return GR_EINVAL;
    }
    if (n->is_broker && n->n_endpoints == 0) {
        strfmt(err, err_len, "listeners has no broker (non-controller) listener");
        return GR_EINVAL;
    }
    const char *ibl = props_get(&n->cfg, "inter.broker.listener.name");
    bool found = !ibl || !n->is_broker;
    for (int i = 0; !found && i < n->n_endpoints; i++) found = !strcmp(ibl, n->adv[i].name);
    if (!found) {
        strfmt(err, err_len, "inter.broker.listener.name=%s is not one of the broker listeners "
               "in listeners", ibl);
        return GR_EINVAL;
    }
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
    n->ev_stop = event_new(n->base, -1, 0, node_on_stop_timer, n);
    event_add(n->ev_sigint, NULL);
    event_add(n->ev_sigterm, NULL);
    rc = storage_dir_open(log_dir, &n->dir, err, err_len);
    if (rc) goto fail;
    if (n->is_controller) {
        struct controller_config cc = {&n->cfg, n->node_id, log_dir, cluster_id, n->voters,
                                       n->n_voters};
        rc = controller_open(n->base, &cc, &n->ctrl, err, err_len);
        if (rc) goto fail;
        struct net_server_config sc = {
            .frame_bytes_max = INT32_MAX,
            .idle_ms_max = 0,
            .inflight_bytes_max = 256u << 20,
            .inflight_requests_max = 1024,
        };
        n->ctrl_srv = net_server_new(n->base, &sc, controller_on_frame, n->ctrl);
    }
    if (n->is_broker) {
        struct broker_config bc = {&n->cfg, n->node_id, n->dir};
        rc = broker_new(n->base, &bc, &n->broker);
        if (rc) goto fail;
        struct net_server_config nc = {
            .frame_bytes_max = (int32_t)cfg_get_long(&n->cfg, "socket.request.max.bytes",
                                                     104857600),
            .idle_ms_max = cfg_get_long(&n->cfg, "connections.max.idle.ms", 600000),
            .inflight_bytes_max = 64u << 20,
            .inflight_requests_max = 256,
        };
        n->clients = net_server_new(n->base, &nc, broker_on_frame, n->broker);
        net_server_set_accepting(n->clients, false); /* until the controller unfences us */
    }
    rc = node_bind(n, err, err_len);
    if (rc) goto fail;
    if (n->is_broker) {
        broker_set_listeners(n->broker, n->listener_names, n->n_endpoints);
        struct md_client_config mc = {&n->cfg,      n->node_id,     cluster_id, n->endpoints,
                                      n->n_endpoints, n->voters, n->n_voters};
        struct controller_listener cl = broker_controller_listener(n->broker);
        rc = md_client_new(n->base, &mc, &cl, node_on_ready, n, &n->mdc);
        if (rc) {
            strfmt(err, err_len, "cannot start the metadata client: %s", gr_strerror(rc));
            goto fail;
        }
        broker_set_md_client(n->broker, n->mdc);
        n->ev_tick = event_new(n->base, -1, EV_PERSIST, node_on_tick, n);
        struct timeval tv = {0, NODE_TICK_MS * 1000};
        event_add(n->ev_tick, &tv);
    }
    char cid[23];
    gr_uuid_to_base64(&cluster_id, cid);
    if (n->is_broker) {
        char adv[512] = "";
        for (int i = 0; i < n->n_endpoints; i++)
            strfmt(adv + strlen(adv), sizeof adv - strlen(adv), "%s%s://%s:%d", i ? "," : "",
                   n->adv[i].name, n->adv[i].host, n->adv[i].port);
        LOG_INFO("node", "Gregor node %d started (cluster %s, roles %s), advertising %s; "
                 "waiting for the controller to unfence it", n->node_id, cid,
                 n->is_controller ? "broker,controller" : "broker", adv);
    }
    else
        LOG_INFO("node", "Gregor node %d started (cluster %s, roles controller)", n->node_id,
                 cid);
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
    if (n->ctrl_srv) net_server_stop_listening(n->ctrl_srv);
    md_client_free(n->mdc); /* answers forwarded requests still waiting */
    broker_free(n->broker); /* answers delayed fetches before connections go */
    net_server_free(n->clients);
    controller_free(n->ctrl); /* answers parked control-plane requests */
    net_server_free(n->ctrl_srv);
    storage_dir_close(n->dir);
    if (n->ev_sigint) event_free(n->ev_sigint);
    if (n->ev_sigterm) event_free(n->ev_sigterm);
    if (n->ev_tick) event_free(n->ev_tick);
    if (n->ev_stop) event_free(n->ev_stop);
    if (n->base) event_base_free(n->base);
    props_close(&n->cfg);
    free(n);
}

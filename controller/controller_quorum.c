/* controller_quorum.c — the quorum controller's Raft driver: the durable log, the core, the
 * transport, applying committed entries to the image, snapshots, and leadership changes.
 *
 * The driver follows raft/raft.h's contract: for each ready, persist (fsync), send, apply,
 * raft_advance, raft_persisted.  Inputs (messages, ticks, proposals) only schedule a drive
 * (ctrl_kick), so every message that arrives in one turn of the event loop shares one fsync. */
#include "controller/controller_int.h"

#include "net/net.h"
#include "raft/raft.h"
#include "raft/raft_io.h"
#include "raft/raft_io_transport.h"

#include <dirent.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CTRL_TICK_MS 50
#define CTRL_COMP "controller"

int controller_parse_voters(const char *spec, struct controller_voter *out, int max, char *err,
                            size_t err_len)
{
    int n = 0;
    for (const char *p = spec; p && *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char item[512];
        strfmt(item, sizeof item, "%.*s", (int)len, p);
        char *at = strchr(item, '@');
        char *colon = strrchr(item, ':');
        int64_t id, port;
        if (n == max || !at || !colon || colon < at) goto bad;
        *at = 0;
        *colon = 0;
        if (parse_i64(item, &id) || id <= 0 || id > INT32_MAX || parse_i64(colon + 1, &port) ||
            port <= 0 || port > 65535)
            goto bad;
        char *host = at + 1;
        if (host[0] == '[') {
            host++;
            char *rb = strchr(host, ']');
            if (rb) *rb = 0;
        }
        for (int i = 0; i < n; i++)
            if (out[i].id == id) goto bad;
        out[n].id = (int32_t)id;
        strfmt(out[n].host, sizeof out[n].host, "%s", host);
        out[n].port = (int)port;
        n++;
        p = end ? end + 1 : NULL;
        continue;
    bad:
        strfmt(err, err_len, "controller.quorum.voters: invalid entry '%.*s' (expected "
               "id@host:port, distinct ids, at most %d voters)", (int)len, p, max);
        return -1;
    }
    if (n == 0) strfmt(err, err_len, "controller.quorum.voters must list at least one voter");
    return n ? n : -1;
}

void ctrl_kick(struct controller *c)
{
    if (c->ev_drive) event_active(c->ev_drive, 0, 0);
}

int ctrl_propose(struct controller *c, const uint8_t *data, size_t len, uint64_t *index,
                 uint64_t *term)
{
    struct raft_propose_result res;
    int rc = raft_propose(c->raft, data, len, &res);
    if (rc) return rc;
    *index = res.index;
    *term = res.term;
    ctrl_kick(c);
    return 0;
}

static void ctrl_keep_snapshot(struct controller *c, uint64_t index, uint64_t term,
                               const uint8_t *data, size_t len)
{
    gbuf_reset(&c->snap);
    if (len && gbuf_append(&c->snap, data, len)) {
        LOG_ERROR(CTRL_COMP, "out of memory keeping the metadata snapshot");
        return;
    }
    c->snap_index = index;
    c->snap_term = term;
    c->bytes_since_snapshot = 0;
}

static void ctrl_maybe_snapshot(struct controller *c)
{
    if (c->bytes_since_snapshot < c->snapshot_bytes_max) return;
    struct raft_status rs;
    raft_status(c->raft, &rs);
    uint64_t index = (uint64_t)c->st.image.applied_offset;
    if (index <= rs.snapshot_index) return;
    const struct raft_entry *e = raft_entry_at(c->raft, index);
    if (!e) return;
    struct gbuf data;
    gbuf_init(&data);
    int rc = md_state_snapshot(&c->st, &data);
    struct raft_snapshot snap;
    memset(&snap, 0, sizeof snap);
    snap.index = index;
    snap.term = e->term;
    for (int i = 0; i < c->cfg.n_voters; i++) snap.voters[i] = (uint32_t)c->voters[i].id;
    snap.n_voters = (uint32_t)c->cfg.n_voters;
    snap.len = (uint32_t)data.len;
    snap.data = data.data;
    if (!rc) rc = raft_io_log_save_snapshot(c->log, &snap);
    if (!rc) rc = raft_snapshot_taken(c->raft, &snap);
    if (rc) {
        LOG_ERROR(CTRL_COMP, "cannot take a metadata snapshot at %llu: %s",
                  (unsigned long long)index, gr_strerror(rc));
    } else {
        LOG_INFO(CTRL_COMP, "metadata snapshot taken at offset %llu (%zu bytes, %zu topics); "
                 "the log before it is truncated", (unsigned long long)index, data.len,
                 c->st.image.topic_count);
        ctrl_keep_snapshot(c, index, snap.term, data.data, data.len);
    }
    gbuf_close(&data);
}

static void ctrl_check_role(struct controller *c)
{
    struct raft_status rs;
    raft_status(c->raft, &rs);
    bool leader = rs.role == RAFT_LEADER;
    if (leader && (!c->leader || rs.term != c->term)) {
        c->leader = true;
        c->term = rs.term;
        c->ready_index = rs.last_index; /* our noop */
        ctrl_sessions_reset(c);
        LOG_INFO(CTRL_COMP, "node %d is the active controller (epoch %llu); metadata applied "
                 "up to offset %lld", c->cfg.node_id, (unsigned long long)rs.term,
                 (long long)c->st.image.applied_offset);
    } else if (!leader && c->leader) {
        c->leader = false;
        LOG_INFO(CTRL_COMP, "node %d is no longer the active controller (epoch %llu, leader %u)",
                 c->cfg.node_id, (unsigned long long)rs.term, rs.leader_id);
        ctrl_ops_fail_all(c);
    } else if (!leader && rs.term != c->term && rs.leader_id) {
        c->term = rs.term;
        LOG_INFO(CTRL_COMP, "node %u is the active controller (epoch %llu); metadata applied "
                 "up to offset %lld", rs.leader_id, (unsigned long long)rs.term,
                 (long long)c->st.image.applied_offset);
    }
}

static void ctrl_apply(struct controller *c, const struct raft_entry *e)
{
    if (e->type == RAFT_ENTRY_NORMAL && e->len) {
        int rc = md_state_apply(&c->st, e->index, e->data, e->len);
        if (rc)
            LOG_ERROR(CTRL_COMP, "cannot apply metadata entry %llu: %s (skipped)",
                      (unsigned long long)e->index, gr_strerror(rc));
        c->bytes_since_snapshot += e->len;
    }
    c->st.image.applied_offset = (int64_t)e->index;
    ctrl_ops_applied(c, e->index, e->term);
}

static void ctrl_drive(struct controller *c)
{
    struct raft_ready rd;
    bool applied = false;
    while (raft_ready(c->raft, &rd)) {
        if (raft_io_log_persist(c->log, &rd)) {
            /* A controller that cannot write its log must not go on voting or acking. */
            LOG_ERROR(CTRL_COMP, "cannot write the metadata log: %s; stopping the node",
                      raft_io_log_errmsg(c->log));
            _exit(1);
        }
        for (size_t i = 0; i < rd.n_msgs; i++) raft_transport_send(c->transport, &rd.msgs[i]);
        if (rd.snapshot) {
            int rc = md_state_load_snapshot(&c->st, rd.snapshot->index, rd.snapshot->data,
                                            rd.snapshot->len);
            if (rc)
                LOG_ERROR(CTRL_COMP, "cannot load the received snapshot: %s", gr_strerror(rc));
            else
                LOG_INFO(CTRL_COMP, "installed a metadata snapshot at offset %llu from the "
                         "leader", (unsigned long long)rd.snapshot->index);
            ctrl_keep_snapshot(c, rd.snapshot->index, rd.snapshot->term, rd.snapshot->data,
                               rd.snapshot->len);
            applied = true;
        }
        for (size_t i = 0; i < rd.n_committed; i++) ctrl_apply(c, &rd.committed[i]);
        applied |= rd.n_committed > 0;
        uint64_t seq = rd.persist_seq;
        raft_advance(c->raft, &rd);
        if (seq) raft_persisted(c->raft, seq);
        ctrl_check_role(c);
    }
    ctrl_check_role(c);
    if (applied) {
        ctrl_maybe_snapshot(c);
        ctrl_fetches_wake(c, false);
    }
    ctrl_ops_run(c);
    /* proposals made by ctrl_ops_run kicked another drive */
}

static void ctrl_on_drive(evutil_socket_t fd, short what, void *arg)
{
    ctrl_drive(arg);
}

static void ctrl_on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct controller *c = arg;
    c->now_ms = time_mono_ms();
    raft_tick(c->raft, c->now_ms);
    if (c->leader) {
        struct raft_status rs;
        raft_status(c->raft, &rs);
        int64_t wall = time_wall_ms();
        for (int i = 0; i < c->cfg.n_voters; i++) {
            uint64_t match = 0;
            raft_member_progress(c->raft, (uint32_t)c->voters[i].id, &match);
            /* caught up: at the commit index, and heard from lately (a stopped voter keeps
             * its old match index, but is not caught up) */
            bool heard = wall - c->last_contact_wall[i] <= (int64_t)c->election_timeout_ms;
            if (c->voters[i].id == c->cfg.node_id || (match >= rs.commit && heard))
                c->caught_up_wall[i] = wall;
        }
        ctrl_sessions_tick(c);
        ctrl_rebalance_tick(c);
    }
    ctrl_fetches_wake(c, false);
    ctrl_drive(c);
}

static void ctrl_on_raft_msg(void *ctx, const struct raft_msg *m)
{
    struct controller *c = ctx;
    for (int i = 0; i < c->cfg.n_voters; i++)
        if ((uint32_t)c->voters[i].id == m->from) c->last_contact_wall[i] = time_wall_ms();
    raft_step(c->raft, m);
    ctrl_kick(c);
}

/* Raft bodies arriving on the controller listener (controller_server.c) come here. */
void ctrl_step_frame(struct controller *c, const struct raft_msg *m)
{
    ctrl_on_raft_msg(c, m);
}

/* True when dir holds a metadata log in the pre-Raft format (Kafka-style .log segments) that
 * this release cannot read: starting on it would look like an empty cluster. */
static bool old_format_log(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return false;
    bool old = false;
    for (struct dirent *de; (de = readdir(d));) {
        size_t n = strlen(de->d_name);
        if (n > 4 && !strcmp(de->d_name + n - 4, ".log")) old = true;
    }
    closedir(d);
    return old;
}

int controller_open(struct event_base *base, const struct controller_config *cfg,
                    struct controller **out, char *err, size_t err_len)
{
    struct controller *c = calloc(1, sizeof(*c));
    if (!c) return GR_ENOMEM;
    c->cfg = *cfg;
    c->base = base;
    if (cfg->n_voters < 1 || cfg->n_voters > CONTROLLER_VOTERS_MAX) {
        free(c);
        strfmt(err, err_len, "controller.quorum.voters must list 1..%d voters",
               CONTROLLER_VOTERS_MAX);
        return GR_EINVAL;
    }
    memcpy(c->voters, cfg->voters, sizeof(*cfg->voters) * (size_t)cfg->n_voters);
    c->cfg.voters = c->voters;
    arena_init(&c->rpc_arena, 65536);
    gbuf_init(&c->out);
    gbuf_init(&c->snap);
    c->session_timeout_ms = cfg_get_long(cfg->broker, "broker.session.timeout.ms", 9000);
    c->snapshot_bytes_max = (uint64_t)cfg_get_long(
        cfg->broker, "metadata.log.max.record.bytes.between.snapshots", 20971520);
    c->now_ms = time_mono_ms();
    int rc = md_state_init(&c->st, &cfg->cluster_id, NULL);
    if (rc) goto fail;
    bool self_voter = false;
    uint32_t ids[CONTROLLER_VOTERS_MAX];
    struct raft_transport_peer peers[CONTROLLER_VOTERS_MAX];
    for (int i = 0; i < cfg->n_voters; i++) {
        ids[i] = (uint32_t)c->voters[i].id;
        peers[i] = (struct raft_transport_peer){c->voters[i].id, c->voters[i].host,
                                                c->voters[i].port};
        self_voter |= c->voters[i].id == cfg->node_id;
    }
    if (!self_voter) {
        strfmt(err, err_len, "node.id=%d is not in controller.quorum.voters: a controller must "
               "be a voter", cfg->node_id);
        rc = GR_EINVAL;
        goto fail;
    }
    char path[4096];
    strfmt(path, sizeof path, "%s/__cluster_metadata-0", cfg->log_dir);
    if (old_format_log(path)) {
        strfmt(err, err_len, "%s holds a metadata log written by an earlier Gregor release "
               "(before the Raft quorum), which this release cannot read; move the data "
               "directory away and format a new one with `gregor storage format`", path);
        rc = GR_EUNSUP;
        goto fail;
    }
    struct raft_restore restore;
    char lerr[512];
    struct raft_io_log_opts lo = {
        .segment_bytes_max = (uint64_t)cfg_get_long(cfg->broker, "metadata.log.segment.bytes",
                                                    RAFT_IO_SEGMENT_BYTES_DEFAULT)};
    rc = raft_io_log_open(path, &lo, &c->log, &restore, lerr, sizeof lerr);
    if (rc) {
        strfmt(err, err_len, "cannot open the metadata log in %s: %s", path, lerr);
        goto fail;
    }
    if (restore.snapshot) {
        rc = md_state_load_snapshot(&c->st, restore.snapshot->index, restore.snapshot->data,
                                    restore.snapshot->len);
        if (rc) {
            strfmt(err, err_len, "cannot load the metadata snapshot in %s: %s", path,
                   gr_strerror(rc));
            goto fail;
        }
        ctrl_keep_snapshot(c, restore.snapshot->index, restore.snapshot->term,
                           restore.snapshot->data, restore.snapshot->len);
    }
    struct raft_config rcfg;
    raft_config_defaults(&rcfg);
    rcfg.id = (uint32_t)cfg->node_id;
    rcfg.voters = ids;
    rcfg.n_voters = (uint32_t)cfg->n_voters;
    rcfg.election_timeout_ms =
        (uint32_t)cfg_get_long(cfg->broker, "controller.quorum.election.timeout.ms", 1000);
    rcfg.heartbeat_interval_ms = GR_MAX(rcfg.election_timeout_ms / 10, 10);
    c->election_timeout_ms = rcfg.election_timeout_ms;
    rcfg.snapshot_threshold = 0; /* the controller decides, by bytes */
    rcfg.prng_seed = (uint64_t)time_wall_ms() * 2654435761u ^ (uint64_t)cfg->node_id;
    c->raft = raft_new(&rcfg, &restore, &rc);
    if (!c->raft) {
        strfmt(err, err_len, "cannot start Raft on the metadata log in %s: %s", path,
               gr_strerror(rc));
        goto fail;
    }
    raft_io_log_restore_release(c->log);
    c->transport = raft_transport_new(base, cfg->node_id, peers, cfg->n_voters,
                                      ctrl_on_raft_msg, c);
    if (!c->transport) {
        strfmt(err, err_len, "cannot set up the quorum transport (check the hosts in "
               "controller.quorum.voters)");
        rc = GR_EINVAL;
        goto fail;
    }
    c->ev_drive = event_new(base, -1, 0, ctrl_on_drive, c);
    c->ev_tick = event_new(base, -1, EV_PERSIST, ctrl_on_tick, c);
    struct timeval tv = {0, CTRL_TICK_MS * 1000};
    event_add(c->ev_tick, &tv);
    raft_tick(c->raft, c->now_ms);
    struct raft_status rs;
    raft_status(c->raft, &rs);
    LOG_INFO(CTRL_COMP, "metadata log opened: snapshot at %llu, entries up to %llu, term %llu; "
             "%d voter(s)", (unsigned long long)rs.snapshot_index,
             (unsigned long long)rs.last_index, (unsigned long long)rs.term, cfg->n_voters);
    *out = c;
    return 0;
fail:
    controller_free(c);
    return rc ? rc : GR_EINVAL;
}

void controller_free(struct controller *c)
{
    if (!c) return;
    ctrl_ops_fail_all(c);
    ctrl_fetches_free(c);
    if (c->ev_drive) event_free(c->ev_drive);
    if (c->ev_tick) event_free(c->ev_tick);
    raft_transport_free(c->transport);
    raft_free(c->raft);
    raft_io_log_close(c->log);
    md_state_close(&c->st);
    arena_close(&c->rpc_arena);
    gbuf_close(&c->out);
    gbuf_close(&c->snap);
    free(c);
}

bool controller_is_leader(const struct controller *c)
{
    return c->leader;
}

int controller_transfer_leadership(struct controller *c)
{
    if (!c->leader || c->cfg.n_voters < 2) return GR_EINVAL;
    int rc = raft_transfer_leadership(c->raft, 0);
    ctrl_kick(c);
    return rc;
}

const struct md_image *controller_image(const struct controller *c)
{
    return &c->st.image;
}

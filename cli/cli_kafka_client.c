/* cli_kafka_client.c — a tiny blocking Kafka client for what librdkafka 2.0.2 cannot ask:
 * topic ids (Metadata v10+) and the KRaft quorum (DescribeQuorum).  It speaks PLAINTEXT only,
 * to one bootstrap server at a time, with the project's generated codec (proto/).
 *
 * One exchange on the wire (all integers big-endian):
 *
 *   request:   | int32 size | request header v1 (v2 if flexible) | body |
 *   response:  | int32 size | response header v0 (v1 if flexible) | body |
 *
 *   request header v1: int16 api_key, int16 api_version, int32 correlation_id,
 *                      int16-length client_id; v2 adds an empty tagged-field block.
 *   response header v0: int32 correlation_id; v1 adds a tagged-field block.
 *
 * A client is one connection: it opens with ApiVersions v0 and keeps the version range the
 * server advertised for each API, then sends one request at a time and waits for its answer.
 * Topic ids are one Metadata request at min(12, the broker's max); below v10 there are no ids
 * and the lookup gives up with GR_EUNSUP.  Everything is bounded: one deadline covers connect,
 * send and receive of everything said to a server, and a response frame may not exceed
 * CLI_KAFKA_FRAME_BYTES_MAX. */
#include "cli/cli_int.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto/proto.h"

#define CLI_KAFKA_FRAME_BYTES_MAX (100 * 1024 * 1024)
#define CLI_KAFKA_SERVERS_MAX 64
#define CLI_KAFKA_HOST_LEN_MAX 256
#define CLI_KAFKA_ARENA_BLOCK_BYTES (64 * 1024)
/* ApiVersions entries with a key at or above this are ignored (Kafka's keys end below 100). */
#define CLI_KAFKA_API_KEYS_MAX 256
#define CLI_KAFKA_TOPIC_IDS_CLIENT_ID "gregor-topics"
#define CLI_KAFKA_METADATA_VERSION_MAX 12
#define CLI_KAFKA_METADATA_VERSION_IDS_MIN 10
#define CLI_KAFKA_METADATA_VERSION_CLUSTER_ID_MIN 2

/* One connection to one broker.  fd is -1 when closed. */
struct cli_kafka_conn {
    int fd;
    int64_t deadline_ms; /* time_mono_ms() after which every wait fails */
    int32_t correlation_id_next;
};

/* A connection plus what the server's ApiVersions advertised (see cli_int.h). */
struct cli_kafka_client {
    struct cli_kafka_conn conn;
    const char *client_id;                       /* borrowed */
    int16_t version_min[CLI_KAFKA_API_KEYS_MAX]; /* -1: the API is not advertised */
    int16_t version_max[CLI_KAFKA_API_KEYS_MAX];
    struct gbuf resp;   /* the last response frame: decoded strings point into it */
    struct arena arena; /* the last response's decoded arrays */
};

/* ========================================================================================== */
/* Socket I/O with a deadline                                                                 */

/* Waits until fd is ready for events or the deadline passes.  0, or GR_EIO (errno ETIMEDOUT
 * on timeout, EINTR when a stop signal arrived). */
static int cli_kafka_wait(int fd, short events, int64_t deadline_ms)
{
    for (;;) {
        int64_t left_ms = deadline_ms - time_mono_ms();
        if (left_ms <= 0) {
            errno = ETIMEDOUT;
            return GR_EIO;
        }
        struct pollfd pfd = {.fd = fd, .events = events};
        int n = poll(&pfd, 1, (int)(left_ms > INT32_MAX ? INT32_MAX : left_ms));
        if (n > 0) return 0;
        if (n < 0 && errno != EINTR) return GR_EIO;
        if (n < 0 && cli_stop) return GR_EIO; /* errno is EINTR: the user asked to stop */
    }
}

static int cli_kafka_send_all(struct cli_kafka_conn *c, const uint8_t *p, size_t n)
{
    while (n > 0) {
        int rc = cli_kafka_wait(c->fd, POLLOUT, c->deadline_ms);
        if (rc) return rc;
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
        if (w <= 0) return GR_EIO;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads exactly n bytes.  GR_ETRUNC if the peer closes first. */
static int cli_kafka_recv_all(struct cli_kafka_conn *c, uint8_t *p, size_t n)
{
    while (n > 0) {
        int rc = cli_kafka_wait(c->fd, POLLIN, c->deadline_ms);
        if (rc) return rc;
        ssize_t r = recv(c->fd, p, n, 0);
        if (r < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
        if (r < 0) return GR_EIO;
        if (r == 0) return GR_ETRUNC;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* The words for a failed send/receive: errno's for I/O errors, ours otherwise. */
static const char *cli_kafka_io_strerror(int rc)
{
    return rc == GR_EIO ? strerror(errno) : gr_strerror(rc);
}

/* ========================================================================================== */
/* Connecting                                                                                 */

/* Splits one bootstrap entry ("host:port", "[v6]:port", optionally "SCHEME://host:port") into
 * host and port.  0 or GR_EINVAL. */
static int cli_kafka_split_server(const char *s, size_t len, char *host, size_t host_len,
                                  char *port, size_t port_len)
{
    while (len > 0 && (*s == ' ' || *s == '\t'))
        s++, len--;
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    const char *scheme = memmem(s, len, "://", 3);
    if (scheme) {
        len -= (size_t)(scheme + 3 - s);
        s = scheme + 3;
    }
    const char *colon = NULL;
    for (size_t i = len; i > 0; i--) {
        if (s[i - 1] == ':') {
            colon = s + i - 1;
            break;
        }
    }
    if (!colon || colon == s) return GR_EINVAL;
    size_t hl = (size_t)(colon - s), pl = len - hl - 1;
    if (hl >= 2 && s[0] == '[' && s[hl - 1] == ']') s++, hl -= 2; /* [::1]:9092 */
    if (!hl || hl >= host_len || !pl || pl >= port_len) return GR_EINVAL;
    memcpy(host, s, hl);
    host[hl] = 0;
    memcpy(port, colon + 1, pl);
    port[pl] = 0;
    return 0;
}

/* Steps through a bootstrap list: sets *entry / *len to the next "host:port" of *list and
 * advances *list past it.  false when the list is used up. */
static bool cli_kafka_next_server(const char **list, const char **entry, size_t *len)
{
    const char *s = *list;
    if (!*s) return false;
    const char *comma = strchr(s, ',');
    *entry = s;
    *len = comma ? (size_t)(comma - s) : strlen(s);
    *list = comma ? comma + 1 : s + *len;
    return true;
}

/* Non-blocking connect to one address, waited for until the deadline.  Returns the fd (left
 * non-blocking) or -1 with errno saying why. */
static int cli_kafka_connect_addr(const struct addrinfo *ai, int64_t deadline_ms)
{
    int saved_errno;
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0) return -1;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) return fd;
    if (errno != EINPROGRESS && errno != EINTR) goto err_close_fd;
    if (cli_kafka_wait(fd, POLLOUT, deadline_ms)) goto err_close_fd;
    int so_err = 0;
    socklen_t so_len = sizeof so_err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_err, &so_len)) goto err_close_fd;
    if (so_err) {
        errno = so_err;
        goto err_close_fd;
    }
    return fd;

err_close_fd:
    saved_errno = errno;
    close(fd);
    errno = saved_errno;
    return -1;
}

/* Connects c to host:port, trying each resolved address.  0 or GR_EIO / GR_ENOENT with a
 * message in err. */
static int cli_kafka_connect(struct cli_kafka_conn *c, const char *host, const char *port,
                             char *err, size_t err_len)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res;
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai) {
        strfmt(err, err_len, "%s:%s: %s", host, port, gai_strerror(gai));
        return GR_ENOENT;
    }
    int last_errno = 0;
    c->fd = -1;
    for (const struct addrinfo *ai = res; ai && c->fd < 0; ai = ai->ai_next) {
        c->fd = cli_kafka_connect_addr(ai, c->deadline_ms);
        if (c->fd < 0) last_errno = errno;
    }
    freeaddrinfo(res);
    if (c->fd < 0) {
        strfmt(err, err_len, "%s:%s: could not connect: %s", host, port,
               last_errno ? strerror(last_errno) : "no address");
        return GR_EIO;
    }
    return 0;
}

static void cli_kafka_close(struct cli_kafka_conn *c)
{
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
}

/* ========================================================================================== */
/* One request/response exchange                                                              */

/* Sends one request (header, then the body encode writes from req) and reads its response
 * into cl->resp.  On success *r reads the response body (decoded arrays go into cl->arena).
 * 0 or a GR_E* code with a message in err; after a failure the connection is closed, since
 * the stream may be out of step. */
static int cli_kafka_roundtrip(struct cli_kafka_client *cl, int16_t key, int16_t version,
                               int (*encode)(struct kafka_writer *, int16_t, const void *),
                               const void *req, struct kafka_reader *r, char *err, size_t err_len)
{
    struct cli_kafka_conn *c = &cl->conn;
    if (c->fd < 0) {
        strfmt(err, err_len, "request %d: not connected", key);
        return GR_EIO;
    }
    struct gbuf out;
    struct kafka_writer w;
    struct kafka_request_header h = {.api_key = key,
                                     .api_version = version,
                                     .correlation_id = c->correlation_id_next++,
                                     .client_id = KSTR(cl->client_id)};
    gbuf_init(&out);
    kafka_writer_init(&w, &out);
    kafka_write_i32(&w, 0); /* size, patched below */
    kafka_request_header_encode(&w, kafka_request_header_version(key, version), &h);
    int rc = encode(&w, version, req);
    if (!rc) rc = w.err;
    if (!rc && out.len - 4 > INT32_MAX) rc = GR_ERANGE;
    if (rc) {
        strfmt(err, err_len, "encoding request %d v%d: %s", key, version, gr_strerror(rc));
        goto err_free_out;
    }
    be32_put(out.data, (uint32_t)(out.len - 4));
    rc = cli_kafka_send_all(c, out.data, out.len);
    if (rc) {
        strfmt(err, err_len, "sending request %d: %s", key, cli_kafka_io_strerror(rc));
        goto err_close_conn;
    }
    gbuf_close(&out);

    uint8_t size_buf[4];
    rc = cli_kafka_recv_all(c, size_buf, sizeof size_buf);
    int32_t size = (int32_t)be32_get(size_buf);
    if (!rc && (size < 4 || size > CLI_KAFKA_FRAME_BYTES_MAX)) rc = GR_ECORRUPT;
    gbuf_reset(&cl->resp);
    if (!rc) rc = gbuf_reserve(&cl->resp, (size_t)size);
    if (!rc) rc = cli_kafka_recv_all(c, cl->resp.data, (size_t)size);
    if (rc) {
        strfmt(err, err_len, "reading response %d: %s", key, cli_kafka_io_strerror(rc));
        cli_kafka_close(c);
        return rc;
    }
    cl->resp.len = (size_t)size;
    kafka_reader_init(r, cl->resp.data, cl->resp.len, &cl->arena);
    int32_t correlation_id =
        kafka_response_header_decode(r, kafka_response_header_version(key, version));
    if (r->err || correlation_id != h.correlation_id) {
        strfmt(err, err_len, "response %d: bad header", key);
        cli_kafka_close(c);
        return GR_ECORRUPT;
    }
    return 0;

err_close_conn:
    cli_kafka_close(c);
err_free_out:
    gbuf_close(&out);
    return rc;
}

int cli_kafka_client_call(struct cli_kafka_client *c, int16_t api_key, int16_t version,
                          int (*encode)(struct kafka_writer *, int16_t, const void *),
                          const void *req, int (*decode)(struct kafka_reader *, int16_t, void *),
                          void *res, char *err, size_t err_len)
{
    struct kafka_reader r;
    arena_reset(&c->arena);
    int rc = cli_kafka_roundtrip(c, api_key, version, encode, req, &r, err, err_len);
    if (rc) return rc;
    rc = decode(&r, version, res);
    if (!rc) rc = r.err;
    if (rc) {
        const struct kafka_api_info *api = kafka_api_lookup(api_key);
        strfmt(err, err_len, "%s v%d response: %s", api ? api->name : "unknown", version,
               gr_strerror(rc));
    }
    return rc;
}

/* ========================================================================================== */
/* Clients                                                                                    */

static int cli_kafka_encode_api_versions(struct kafka_writer *w, int16_t version, const void *req)
{
    return kafka_api_versions_request_encode(w, version, req);
}

static int cli_kafka_decode_api_versions(struct kafka_reader *r, int16_t version, void *res)
{
    return kafka_api_versions_response_decode(r, version, res);
}

static void cli_kafka_client_init(struct cli_kafka_client *c, const char *client_id)
{
    c->conn = (struct cli_kafka_conn){.fd = -1, .correlation_id_next = 1};
    c->client_id = client_id;
    for (size_t i = 0; i < CLI_KAFKA_API_KEYS_MAX; i++)
        c->version_min[i] = c->version_max[i] = -1;
    gbuf_init(&c->resp);
    arena_init(&c->arena, CLI_KAFKA_ARENA_BLOCK_BYTES);
}

static void cli_kafka_client_close(struct cli_kafka_client *c)
{
    cli_kafka_close(&c->conn);
    gbuf_close(&c->resp);
    arena_close(&c->arena);
}

/* Asks ApiVersions v0 and records the advertised ranges.  0 or GR_E* with err. */
static int cli_kafka_client_api_versions(struct cli_kafka_client *c, char *err, size_t err_len)
{
    struct kafka_api_versions_request req;
    struct kafka_api_versions_response res;
    kafka_api_versions_request_init(&req);
    int rc = cli_kafka_client_call(c, KAFKA_API_API_VERSIONS, 0, cli_kafka_encode_api_versions,
                                   &req, cli_kafka_decode_api_versions, &res, err, err_len);
    if (rc) return rc;
    if (res.error_code) {
        strfmt(err, err_len, "ApiVersions: %s", kafka_err_name(res.error_code));
        return GR_EUNSUP;
    }
    for (int32_t i = 0; i < res.api_keys_count; i++) {
        const struct kafka_api_versions_response_api_version *v = &res.api_keys[i];
        if (v->api_key < 0 || v->api_key >= CLI_KAFKA_API_KEYS_MAX) continue;
        if (v->min_version < 0 || v->max_version < v->min_version) continue;
        c->version_min[v->api_key] = v->min_version;
        c->version_max[v->api_key] = v->max_version;
    }
    return 0;
}

/* Opens c (initialised) on one bootstrap entry: connect, then ApiVersions.  timeout_ms starts
 * counting here.  0 or GR_E* with err; on failure c's connection is closed. */
static int cli_kafka_client_open(struct cli_kafka_client *c, const char *entry, size_t len,
                                 int timeout_ms, char *err, size_t err_len)
{
    char host[CLI_KAFKA_HOST_LEN_MAX], port[16];
    if (cli_kafka_split_server(entry, len, host, sizeof host, port, sizeof port)) {
        strfmt(err, err_len, "bad bootstrap server \"%.*s\"", (int)len, entry);
        return GR_EINVAL;
    }
    c->conn.deadline_ms = time_mono_ms() + timeout_ms;
    int rc = cli_kafka_connect(&c->conn, host, port, err, err_len);
    if (rc) return rc;
    rc = cli_kafka_client_api_versions(c, err, err_len);
    if (rc) {
        /* say which server: the same words could come from any of them */
        char detail[512];
        strfmt(detail, sizeof detail, "%s", err);
        strfmt(err, err_len, "%s:%s: %s", host, port, detail);
        cli_kafka_close(&c->conn);
    }
    return rc;
}

int cli_kafka_client_new(struct cli_kafka_client **out, const char *bootstrap,
                         const char *client_id, int timeout_ms, char *err, size_t err_len)
{
    *out = NULL;
    struct cli_kafka_client *c = malloc(sizeof *c);
    if (!c) {
        strfmt(err, err_len, "out of memory");
        return GR_ENOMEM;
    }
    cli_kafka_client_init(c, client_id);
    int rc = GR_EINVAL;
    strfmt(err, err_len, "no bootstrap server");
    const char *list = bootstrap ? bootstrap : "", *entry;
    size_t len;
    for (int i = 0; i < CLI_KAFKA_SERVERS_MAX && cli_kafka_next_server(&list, &entry, &len); i++) {
        rc = cli_kafka_client_open(c, entry, len, timeout_ms, err, err_len);
        if (!rc) {
            *out = c;
            return 0;
        }
        if (rc == GR_ENOMEM) break;
    }
    cli_kafka_client_free(c);
    return rc;
}

void cli_kafka_client_free(struct cli_kafka_client *c)
{
    if (!c) return;
    cli_kafka_client_close(c);
    free(c);
}

int16_t cli_kafka_client_version(const struct cli_kafka_client *c, int16_t api_key, int16_t lo,
                                 int16_t hi)
{
    if (api_key < 0 || api_key >= CLI_KAFKA_API_KEYS_MAX || c->version_max[api_key] < 0) return -1;
    int16_t v = GR_MIN(hi, c->version_max[api_key]);
    return v >= lo && v >= c->version_min[api_key] ? v : -1;
}

/* ========================================================================================== */
/* Metadata: the cluster id and topic ids                                                     */

static int cli_kafka_encode_metadata(struct kafka_writer *w, int16_t version, const void *req)
{
    return kafka_metadata_request_encode(w, version, req);
}

static int cli_kafka_decode_metadata(struct kafka_reader *r, int16_t version, void *res)
{
    return kafka_metadata_response_decode(r, version, res);
}

int cli_kafka_client_cluster_id(struct cli_kafka_client *c, char *buf, size_t buf_len, char *err,
                                size_t err_len)
{
    assert(buf_len > 0);
    buf[0] = 0;
    /* from v1 an empty topic list means none (v0: all) */
    int16_t version =
        cli_kafka_client_version(c, KAFKA_API_METADATA, 1, CLI_KAFKA_METADATA_VERSION_MAX);
    if (version < 0) {
        strfmt(err, err_len, "the broker supports no Metadata version from 1 to %d",
               CLI_KAFKA_METADATA_VERSION_MAX);
        return GR_EUNSUP;
    }
    if (version < CLI_KAFKA_METADATA_VERSION_CLUSTER_ID_MIN) return 0;
    struct kafka_metadata_request req;
    struct kafka_metadata_response res;
    kafka_metadata_request_init(&req);
    req.topics_count = 0;
    req.allow_auto_topic_creation = false;
    int rc = cli_kafka_client_call(c, KAFKA_API_METADATA, version, cli_kafka_encode_metadata, &req,
                                   cli_kafka_decode_metadata, &res, err, err_len);
    if (rc) return rc;
    if (res.cluster_id.len < 0) return 0;
    if ((size_t)res.cluster_id.len >= buf_len) {
        strfmt(err, err_len, "Metadata: cluster id of %d bytes", res.cluster_id.len);
        return GR_ERANGE;
    }
    memcpy(buf, res.cluster_id.ptr, (size_t)res.cluster_id.len);
    buf[res.cluster_id.len] = 0;
    return 0;
}

static int cli_topic_id_cmp(const void *a, const void *b)
{
    const struct cli_topic_id *x = a, *y = b;
    return strcmp(x->name, y->name);
}

/* Copies the ids of the error-free topics of res into m (sorted by name).  0 or GR_ENOMEM. */
static int cli_topic_ids_fill(struct cli_topic_ids *m, const struct kafka_metadata_response *res)
{
    if (res->topics_count <= 0) return 0;
    m->ids = calloc((size_t)res->topics_count, sizeof *m->ids);
    if (!m->ids) return GR_ENOMEM;
    for (int32_t i = 0; i < res->topics_count; i++) {
        const struct kafka_metadata_response_topic *t = &res->topics[i];
        struct gr_uuid id;
        memcpy(id.b, t->topic_id.b, sizeof id.b);
        if (t->error_code || t->name.len <= 0 || gr_uuid_is_zero(&id)) continue;
        struct cli_topic_id *e = &m->ids[m->ids_n];
        e->name = strndup(t->name.ptr, (size_t)t->name.len);
        if (!e->name) return GR_ENOMEM;
        e->id = id;
        m->ids_n++;
    }
    qsort(m->ids, m->ids_n, sizeof *m->ids, cli_topic_id_cmp);
    return 0;
}

/* The Metadata exchange with one opened server. */
static int cli_topic_ids_ask(struct cli_kafka_client *c, const char *const *topics, size_t topics_n,
                             struct cli_topic_ids *m, char *err, size_t err_len)
{
    int16_t version = cli_kafka_client_version(
        c, KAFKA_API_METADATA, CLI_KAFKA_METADATA_VERSION_IDS_MIN, CLI_KAFKA_METADATA_VERSION_MAX);
    if (version < 0) {
        int16_t max = c->version_max[KAFKA_API_METADATA];
        if (max < 0)
            strfmt(err, err_len, "the broker lists no Metadata API");
        else
            strfmt(err, err_len, "the broker's Metadata v%d has no topic ids", max);
        return GR_EUNSUP;
    }
    /* the request's topics live in a private arena: the client's is reset by every call */
    struct arena arena;
    arena_init(&arena, CLI_KAFKA_ARENA_BLOCK_BYTES);
    int rc = 0;
    struct kafka_metadata_request req;
    kafka_metadata_request_init(&req);
    req.allow_auto_topic_creation = false; /* describing must never create */
    req.topics_count = (int32_t)topics_n;
    req.topics = arena_calloc(&arena, topics_n ? topics_n : 1, sizeof *req.topics);
    if (!req.topics) {
        rc = GR_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < topics_n; i++) {
        kafka_metadata_request_topic_init(&req.topics[i]);
        req.topics[i].name = KSTR(topics[i]);
    }
    struct kafka_metadata_response res;
    rc = cli_kafka_client_call(c, KAFKA_API_METADATA, version, cli_kafka_encode_metadata, &req,
                               cli_kafka_decode_metadata, &res, err, err_len);
    if (rc) goto out;
    rc = cli_topic_ids_fill(m, &res);
    if (rc) strfmt(err, err_len, "%s", gr_strerror(rc));

out:
    arena_close(&arena);
    return rc;
}

void cli_topic_ids_init(struct cli_topic_ids *m)
{
    m->ids = NULL;
    m->ids_n = 0;
}

void cli_topic_ids_close(struct cli_topic_ids *m)
{
    for (size_t i = 0; i < m->ids_n; i++)
        free(m->ids[i].name);
    free(m->ids);
    cli_topic_ids_init(m);
}

int cli_topic_ids_fetch(struct cli_topic_ids *m, const char *bootstrap, const char *const *topics,
                        size_t topics_n, int timeout_ms, char *err, size_t err_len)
{
    assert(m->ids == NULL && m->ids_n == 0);
    int rc = GR_EINVAL;
    strfmt(err, err_len, "no bootstrap server");
    if (topics_n > INT32_MAX) return GR_EINVAL;
    const char *list = bootstrap ? bootstrap : "", *entry;
    size_t len;
    /* Unlike cli_kafka_client_new, a server that answers but fails the lookup passes the
     * question on to the next one. */
    for (int i = 0; i < CLI_KAFKA_SERVERS_MAX && cli_kafka_next_server(&list, &entry, &len); i++) {
        struct cli_kafka_client c;
        cli_kafka_client_init(&c, CLI_KAFKA_TOPIC_IDS_CLIENT_ID);
        rc = cli_kafka_client_open(&c, entry, len, timeout_ms, err, err_len);
        if (!rc) rc = cli_topic_ids_ask(&c, topics, topics_n, m, err, err_len);
        cli_kafka_client_close(&c);
        if (!rc) return 0;
        cli_topic_ids_close(m);
        /* A broker too old for ids, or a local failure: another server will not help. */
        if (rc == GR_EUNSUP || rc == GR_ENOMEM) break;
    }
    cli_topic_ids_close(m);
    return rc;
}

const struct gr_uuid *cli_topic_ids_find(const struct cli_topic_ids *m, const char *name)
{
    struct cli_topic_id key = {.name = (char *)name};
    const struct cli_topic_id *e =
        m->ids_n ? bsearch(&key, m->ids, m->ids_n, sizeof *m->ids, cli_topic_id_cmp) : NULL;
    return e ? &e->id : NULL;
}

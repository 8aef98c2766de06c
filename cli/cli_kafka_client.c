/* cli_kafka_client.c — a tiny blocking Kafka client for what librdkafka 2.0.2 cannot ask:
 * topic ids (Metadata v10+).  It speaks PLAINTEXT only, to one bootstrap server at a time, with
 * the project's generated codec (proto/).
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
 * The sequence is ApiVersions v0 (to learn the broker's highest Metadata version), then one
 * Metadata request at min(12, that max) naming the topics; below v10 there are no ids and the
 * lookup gives up with GR_EUNSUP.  Everything is bounded: one deadline covers connect, send and
 * receive of a server, and a response frame may not exceed CLI_KAFKA_FRAME_BYTES_MAX. */
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
#define CLI_KAFKA_CLIENT_ID "gregor-topics"
#define CLI_KAFKA_API_METADATA 3
#define CLI_KAFKA_API_API_VERSIONS 18
#define CLI_KAFKA_METADATA_VERSION_MAX 12
#define CLI_KAFKA_METADATA_VERSION_IDS_MIN 10

/* One connection to one broker.  fd is -1 when closed. */
struct cli_kafka_conn {
    int fd;
    int64_t deadline_ms; /* time_mono_ms() after which every wait fails */
    int32_t correlation_id_next;
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

/* Non-blocking connect to one address, waited for until the deadline.  Returns the fd (left
 * non-blocking) or -1. */
static int cli_kafka_connect_addr(const struct addrinfo *ai, int64_t deadline_ms)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0) return -1;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) return fd;
    if (errno != EINPROGRESS && errno != EINTR) goto err_close_fd;
    if (cli_kafka_wait(fd, POLLOUT, deadline_ms)) goto err_close_fd;
    int so_err = 0;
    socklen_t so_len = sizeof so_err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_err, &so_len) || so_err) goto err_close_fd;
    return fd;

err_close_fd:
    close(fd);
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
    c->fd = -1;
    for (const struct addrinfo *ai = res; ai && c->fd < 0; ai = ai->ai_next)
        c->fd = cli_kafka_connect_addr(ai, c->deadline_ms);
    freeaddrinfo(res);
    if (c->fd < 0) {
        strfmt(err, err_len, "%s:%s: could not connect", host, port);
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

/* Sends one request (header, then the body encode writes from req) and reads its response.
 * On success *r reads the response body (a view
 * into resp, valid until resp changes; decoded arrays go into arena).  0 or a GR_E* code with
 * a message in err. */
static int cli_kafka_roundtrip(struct cli_kafka_conn *c, int16_t key, int16_t version,
                               int (*encode)(struct kafka_writer *, int16_t, const void *),
                               const void *req, struct gbuf *resp, struct arena *arena,
                               struct kafka_reader *r, char *err, size_t err_len)
{
    struct gbuf out;
    struct kafka_writer w;
    struct kafka_request_header h = {.api_key = key,
                                     .api_version = version,
                                     .correlation_id = c->correlation_id_next++,
                                     .client_id = KSTR(CLI_KAFKA_CLIENT_ID)};
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
        strfmt(err, err_len, "sending request %d: %s", key, strerror(errno));
        goto err_free_out;
    }
    gbuf_close(&out);

    uint8_t size_buf[4];
    rc = cli_kafka_recv_all(c, size_buf, sizeof size_buf);
    int32_t size = (int32_t)be32_get(size_buf);
    if (!rc && (size < 4 || size > CLI_KAFKA_FRAME_BYTES_MAX)) rc = GR_ECORRUPT;
    gbuf_reset(resp);
    if (!rc) rc = gbuf_reserve(resp, (size_t)size);
    if (!rc) rc = cli_kafka_recv_all(c, resp->data, (size_t)size);
    if (rc) {
        strfmt(err, err_len, "reading response %d: %s", key, gr_strerror(rc));
        return rc;
    }
    resp->len = (size_t)size;
    kafka_reader_init(r, resp->data, resp->len, arena);
    int32_t correlation_id =
        kafka_response_header_decode(r, kafka_response_header_version(key, version));
    if (r->err || correlation_id != h.correlation_id) {
        strfmt(err, err_len, "response %d: bad header", key);
        return GR_ECORRUPT;
    }
    return 0;

err_free_out:
    gbuf_close(&out);
    return rc;
}

static int cli_kafka_encode_api_versions(struct kafka_writer *w, int16_t version, const void *req)
{
    return kafka_api_versions_request_encode(w, version, req);
}

static int cli_kafka_encode_metadata(struct kafka_writer *w, int16_t version, const void *req)
{
    return kafka_metadata_request_encode(w, version, req);
}

/* The broker's highest Metadata version, from ApiVersions v0.  0 or GR_E* with err. */
static int cli_kafka_metadata_version_max(struct cli_kafka_conn *c, struct gbuf *resp,
                                          struct arena *arena, int16_t *version_max, char *err,
                                          size_t err_len)
{
    struct kafka_api_versions_request req;
    struct kafka_api_versions_response res;
    struct kafka_reader r;
    kafka_api_versions_request_init(&req);
    int rc = cli_kafka_roundtrip(c, CLI_KAFKA_API_API_VERSIONS, 0, cli_kafka_encode_api_versions,
                                 &req, resp, arena, &r, err, err_len);
    if (rc) return rc;
    kafka_api_versions_response_init(&res);
    rc = kafka_api_versions_response_decode(&r, 0, &res);
    if (!rc) rc = r.err;
    if (rc || res.error_code) {
        strfmt(err, err_len, "ApiVersions: %s (error code %d)", gr_strerror(rc), res.error_code);
        return rc ? rc : GR_EUNSUP;
    }
    for (int32_t i = 0; i < res.api_keys_count; i++) {
        if (res.api_keys[i].api_key != CLI_KAFKA_API_METADATA) continue;
        *version_max = res.api_keys[i].max_version;
        return 0;
    }
    strfmt(err, err_len, "ApiVersions: the broker lists no Metadata API");
    return GR_EUNSUP;
}

/* ========================================================================================== */
/* Topic ids                                                                                  */

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

/* The whole exchange with one connected server. */
static int cli_topic_ids_ask(struct cli_kafka_conn *c, const char *const *topics, size_t topics_n,
                             struct cli_topic_ids *m, char *err, size_t err_len)
{
    struct gbuf resp;
    struct arena arena;
    struct kafka_reader r;
    int16_t version_max = -1;
    gbuf_init(&resp);
    arena_init(&arena, 64 * 1024);
    int rc = cli_kafka_metadata_version_max(c, &resp, &arena, &version_max, err, err_len);
    if (rc) goto out;
    if (version_max < CLI_KAFKA_METADATA_VERSION_IDS_MIN) {
        strfmt(err, err_len, "the broker's Metadata v%d has no topic ids", version_max);
        rc = GR_EUNSUP;
        goto out;
    }
    int16_t version =
        version_max < CLI_KAFKA_METADATA_VERSION_MAX ? version_max : CLI_KAFKA_METADATA_VERSION_MAX;

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
    rc = cli_kafka_roundtrip(c, CLI_KAFKA_API_METADATA, version, cli_kafka_encode_metadata, &req,
                             &resp, &arena, &r, err, err_len);
    if (rc) goto out;

    struct kafka_metadata_response res;
    kafka_metadata_response_init(&res);
    rc = kafka_metadata_response_decode(&r, version, &res);
    if (!rc) rc = r.err;
    if (rc) {
        strfmt(err, err_len, "Metadata v%d: %s", version, gr_strerror(rc));
        goto out;
    }
    rc = cli_topic_ids_fill(m, &res);
    if (rc) strfmt(err, err_len, "%s", gr_strerror(rc));

out:
    arena_close(&arena);
    gbuf_close(&resp);
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
    const char *s = bootstrap ? bootstrap : "";
    for (int i = 0; *s && i < CLI_KAFKA_SERVERS_MAX; i++) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        char host[CLI_KAFKA_HOST_LEN_MAX], port[16];
        struct cli_kafka_conn c = {.fd = -1, .correlation_id_next = 1};
        c.deadline_ms = time_mono_ms() + timeout_ms;
        if (cli_kafka_split_server(s, len, host, sizeof host, port, sizeof port)) {
            strfmt(err, err_len, "bad bootstrap server \"%.*s\"", (int)len, s);
            rc = GR_EINVAL;
        } else if (!(rc = cli_kafka_connect(&c, host, port, err, err_len))) {
            rc = cli_topic_ids_ask(&c, topics, topics_n, m, err, err_len);
            cli_kafka_close(&c);
            /* A broker too old for ids, or a local failure: another server will not help. */
            if (rc == GR_EUNSUP || rc == GR_ENOMEM) break;
            if (rc) cli_topic_ids_close(m);
        }
        if (!rc) return 0;
        s = comma ? comma + 1 : s + len;
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

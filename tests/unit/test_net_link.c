/* test_net_link.c — net_link_send_now against a plain socket the test reads itself: what the
 * socket cannot take at once goes out from the write event, in order with what is queued
 * behind it, and a write error is reported from the loop, never inside the call. */
#define WAIT_MS 10000

#include "tests/unit/loop_test_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

struct tlink {
    int connected;
    int closed;
    bool closed_eof;
};

static void on_connected(void *ctx)
{
    ((struct tlink *)ctx)->connected++;
}

static void on_frame(void *ctx, const uint8_t *frame, size_t frame_bytes) {}

static void on_closed(void *ctx, bool eof, const char *reason)
{
    struct tlink *t = ctx;
    t->closed++;
    t->closed_eof = eof;
}

static const struct net_link_ops ops = {on_connected, on_frame, on_closed};

/* A listening socket on 127.0.0.1; its port through *port. */
static int listen_any(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(fd, 4), 0);
    socklen_t l = sizeof a;
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &l), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

/* Queues one frame of `n` payload bytes, byte i of the payload = (seed + i) % 251. */
static void queue_frame(struct net_link *l, uint32_t n, int seed)
{
    struct gbuf *out = net_link_out(l);
    ck_assert_int_eq(gbuf_reserve(out, 4 + (size_t)n), 0);
    be32_put(out->data + out->len, n);
    for (uint32_t i = 0; i < n; i++) out->data[out->len + 4 + i] = (uint8_t)((seed + i) % 251);
    out->len += 4 + (size_t)n;
}

/* Connects a new link to a listener and returns the accepted (non-blocking) server side. */
static int connect_pair(struct event_base *base, struct net_link *l, struct tlink *t)
{
    int port;
    int lfd = listen_any(&port);
    char err[128];
    ck_assert_int_eq(net_link_connect(l, "127.0.0.1", port, 5000, err, sizeof err), 0);
    ck_assert(wait_count(base, &t->connected, 1));
    int sfd = accept(lfd, NULL, NULL);
    ck_assert_int_ge(sfd, 0);
    close(lfd);
    ck_assert_int_eq(fcntl(sfd, F_SETFL, fcntl(sfd, F_GETFL) | O_NONBLOCK), 0);
    return sfd;
}

START_TEST(test_send_now_keeps_order_past_a_full_socket)
{
    struct event_base *base = event_base_new();
    struct tlink t = {0};
    struct net_link *l = net_link_new(base, &ops, &t, 64u << 20);
    int sfd = connect_pair(base, l, &t);
    enum { BIG = 24 << 20, SMALL = 100 };
    queue_frame(l, BIG, 1);
    net_link_send_now(l); /* more than loopback buffers hold: the rest waits for room */
    queue_frame(l, SMALL, 7);
    net_link_send_now(l); /* goes out after the rest of the first */
    size_t want = 4 + (size_t)BIG + 4 + SMALL, got = 0;
    uint8_t *in = malloc(want);
    ck_assert_ptr_nonnull(in);
    int64_t end = time_mono_ms() + WAIT_MS;
    while (got < want && time_mono_ms() < end) {
        ssize_t r = read(sfd, in + got, want - got);
        if (r > 0) got += (size_t)r;
        else if (r < 0 && errno != EAGAIN) ck_abort_msg("read: %s", strerror(errno));
        event_base_loop(base, EVLOOP_NONBLOCK);
    }
    ck_assert_uint_eq(got, want);
    ck_assert_uint_eq(be32_get(in), BIG);
    for (size_t i = 0; i < BIG; i += 4093)
        ck_assert_uint_eq(in[4 + i], (uint8_t)((1 + i) % 251));
    ck_assert_uint_eq(be32_get(in + 4 + BIG), SMALL);
    for (size_t i = 0; i < SMALL; i++)
        ck_assert_uint_eq(in[8 + BIG + i], (uint8_t)((7 + i) % 251));
    ck_assert_int_eq(t.closed, 0);
    free(in);
    close(sfd);
    net_link_free(l);
    event_base_free(base);
}
END_TEST

START_TEST(test_send_now_reports_errors_from_the_loop)
{
    struct event_base *base = event_base_new();
    struct tlink t = {0};
    struct net_link *l = net_link_new(base, &ops, &t, 1u << 20);
    int sfd = connect_pair(base, l, &t);
    /* unread data at close makes the peer answer with a reset: sends then fail */
    struct linger lg = {1, 0};
    ck_assert_int_eq(setsockopt(sfd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    close(sfd);
    for (int i = 0; i < 50 && t.closed == 0; i++) {
        queue_frame(l, 1000, i);
        net_link_send_now(l);
        ck_assert_int_eq(t.closed, 0); /* never inside the call */
        event_base_loop(base, EVLOOP_NONBLOCK);
        usleep(1000);
    }
    ck_assert(wait_count(base, &t.closed, 1));
    ck_assert_int_eq(net_link_state(l), NET_LINK_IDLE);
    /* idle: nothing to send, nothing happens */
    net_link_send_now(l);
    pump_idle(base);
    ck_assert_int_eq(t.closed, 1);
    net_link_free(l);
    event_base_free(base);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("net_link");
    TCase *tc = tcase_create("send_now");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_send_now_keeps_order_past_a_full_socket);
    tcase_add_test(tc, test_send_now_reports_errors_from_the_loop);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}

/* loop_test_util.h — shared by the suites that drive a real libevent loop on 127.0.0.1
 * (test_controller_channel.c, test_net_kclient.c): running the loop until a condition holds,
 * and a port nothing listens on.  Header-only.  The includer defines WAIT_MS, the wall-clock
 * bound for anything that should take milliseconds. */
#ifndef GREGOR_LOOP_TEST_UTIL_H
#define GREGOR_LOOP_TEST_UTIL_H

#include "common/common.h"
#include "net/net.h"

#include <arpa/inet.h>
#include <check.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <unistd.h>

static inline void loop_on_tick(evutil_socket_t fd, short what, void *arg) {}

/* Runs the loop until pred(arg) holds or WAIT_MS pass.  A 10 ms tick wakes the loop to check
 * the clock; otherwise it blocks in the kernel until something happens. */
static inline bool pump_until(struct event_base *base, bool (*pred)(const void *),
                              const void *arg)
{
    struct event *tick = event_new(base, -1, EV_PERSIST, loop_on_tick, NULL);
    struct timeval tv = {0, 10 * 1000};
    event_add(tick, &tv);
    int64_t end = time_mono_ms() + WAIT_MS;
    while (!pred(arg) && time_mono_ms() < end)
        event_base_loop(base, EVLOOP_ONCE);
    event_free(tick);
    return pred(arg);
}

struct count_ge {
    const int *count;
    int want;
};

static inline bool pred_count_ge(const void *arg)
{
    const struct count_ge *c = arg;
    return *c->count >= c->want;
}

static inline bool wait_count(struct event_base *base, const int *count, int want)
{
    struct count_ge c = {count, want};
    return pump_until(base, pred_count_ge, &c);
}

static inline bool pred_no_conns(const void *arg)
{
    return net_server_conn_count(arg) == 0;
}

/* A few more loop rounds without blocking: anything wrongly pending would run now. */
static inline void pump_idle(struct event_base *base)
{
    for (int i = 0; i < 20; i++)
        event_base_loop(base, EVLOOP_NONBLOCK);
}

/* A port on 127.0.0.1 that nothing listens on (bound, then closed). */
static inline int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t l = sizeof a;
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &l), 0);
    close(fd);
    return ntohs(a.sin_port);
}

#endif

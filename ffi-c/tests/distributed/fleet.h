/* What the tests of the distributed breaker and the fleet rate limiter
 * share: the redis-server scripts/test-c.sh starts (SEAWALL_TEST_REDIS_URL),
 * a URL where nothing answers, namespaces of this run only, coordinators,
 * and polling with a deadline.
 *
 * What the fleet decides reaches another instance through Redis and a
 * coordinator thread, so each such check polls (EVENTUALLY) instead of
 * asserting after a fixed sleep. */
#ifndef SEAWALL_TEST_FLEET_H
#define SEAWALL_TEST_FLEET_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

#ifndef SEAWALL_DISTRIBUTED
#error "the fleet tests need -DSEAWALL_DISTRIBUTED and a library built with --features distributed"
#endif

/* The longest a fleet decision may take to reach another instance here:
 * far above the 10 ms sync interval, for a loaded machine under ASan. */
#define DEADLINE_MS 20000

static inline uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static inline void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Polls `cond` every 5 ms until it holds or DEADLINE_MS have passed; a
 * check failure if it never held. */
#define EVENTUALLY(cond)                                                    \
    do {                                                                    \
        uint64_t until_ = now_ms() + DEADLINE_MS;                           \
        bool held_ = (cond);                                                \
        while (!held_ && now_ms() < until_) {                               \
            sleep_ms(5);                                                    \
            held_ = (cond);                                                 \
        }                                                                   \
        if (!held_) {                                                       \
            fprintf(stderr, "%s:%d: never held within %d ms: %s\n",         \
                    __FILE__, __LINE__, DEADLINE_MS, #cond);                \
            check_failures++;                                               \
        }                                                                   \
    } while (0)

/* The server's URL, a URL on a loopback port nothing listens on (bound,
 * then closed unlistened), and two namespaces of this run only (so nothing
 * another run left in the server counts): filled by fleet_setup. */
static const char *redis_url;
static char down_url[64];
static char ns[2][64];

/* Reads SEAWALL_TEST_REDIS_URL and fills the globals above; false (with a
 * message) when it is not set. */
static inline bool fleet_setup(const char *test) {
    redis_url = getenv("SEAWALL_TEST_REDIS_URL");
    if (redis_url == NULL || *redis_url == '\0') {
        fprintf(stderr, "%s: set SEAWALL_TEST_REDIS_URL to a redis-server (scripts/test-c.sh "
                        "starts one)\n", test);
        return false;
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t n = sizeof a;
    CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
          getsockname(fd, (struct sockaddr *)&a, &n) == 0);
    close(fd);
    snprintf(down_url, sizeof down_url, "redis://127.0.0.1:%d/", ntohs(a.sin_port));
    for (int i = 0; i < 2; i++)
        snprintf(ns[i], sizeof ns[i], "ctest-%s-%ld-%d", test, (long)getpid(), i);
    return true;
}

/* A coordinator on `url` in namespace `space`, flushing every 10 ms and
 * polling every `poll_ns` (0: the default, 1 s). */
static inline const seawall_coordinator *coordinator(const char *url, const char *space,
                                                     uint64_t poll_ns) {
    seawall_coordinator_config c;
    memset(&c, 0, sizeof c); /* zero: every default */
    c.key_namespace = space;
    c.sync_interval_ns = 10 * NS_PER_MS;
    c.poll_interval_ns = poll_ns;
    const seawall_coordinator *co = NULL;
    CHECK_OK(seawall_coordinator_new(url, &c, &co));
    return co;
}

static inline bool degraded(const seawall_coordinator *c) {
    bool d = false;
    CHECK_OK(seawall_coordinator_is_degraded(c, &d));
    return d;
}

#endif /* SEAWALL_TEST_FLEET_H */

/* Minimal assertion helpers shared by the C tests. */
#ifndef SEAWALL_TEST_CHECK_H
#define SEAWALL_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "seawall.h"

static int check_failures = 0;

#define CHECK(cond)                                                         \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__,          \
                    __LINE__, #cond);                                       \
            check_failures++;                                               \
        }                                                                   \
    } while (0)

/* Checks that `expr` returns `code`; on mismatch prints the last error. */
#define CHECK_RC(expr, code)                                                \
    do {                                                                    \
        seawall_result rc_ = (expr);                                        \
        if (rc_ != (code)) {                                                \
            char msg_[256];                                                 \
            seawall_last_error_message(msg_, sizeof msg_, NULL);            \
            fprintf(stderr, "%s:%d: %s returned %u, expected %u (%s)\n",    \
                    __FILE__, __LINE__, #expr, (unsigned)rc_,               \
                    (unsigned)(code), msg_);                                \
            check_failures++;                                               \
        }                                                                   \
    } while (0)

#define CHECK_OK(expr) CHECK_RC(expr, SEAWALL_RESULT_OK)

/* Checks that the calling thread's last error message is exactly `want`. */
#define CHECK_LAST_ERROR(want)                                              \
    do {                                                                    \
        char got_[512];                                                     \
        seawall_last_error_message(got_, sizeof got_, NULL);                \
        if (strcmp(got_, (want)) != 0) {                                    \
            fprintf(stderr, "%s:%d: last error \"%s\", expected \"%s\"\n",  \
                    __FILE__, __LINE__, got_, (want));                      \
            check_failures++;                                               \
        }                                                                   \
    } while (0)

/* The last error for a pointer `p` passed as `param` of `func` that is not
 * aligned to `align` bytes. The last eight results stay valid. */
static inline const char *misaligned_message(const char *func, const char *param, const void *p,
                                             size_t align) {
    static char msgs[8][160];
    static int next = 0;
    char *m = msgs[next++ % 8];
    snprintf(m, sizeof msgs[0], "%s: `%s` = %p is not aligned to %zu bytes", func, param, p,
             align);
    return m;
}

/* A breaker's metrics (poisoned first, so a field left unwritten shows). */
static inline seawall_metrics metrics_of(const seawall_breaker *b) {
    seawall_metrics m;
    memset(&m, 0xAB, sizeof m);
    CHECK_OK(seawall_breaker_metrics(b, &m));
    return m;
}

/* A breaker's state. */
static inline seawall_state state_of(const seawall_breaker *b) {
    seawall_state s = 99;
    CHECK_OK(seawall_breaker_state(b, &s));
    return s;
}

static int check_report(const char *name) {
    if (check_failures != 0) {
        fprintf(stderr, "%s: %d check(s) failed\n", name, check_failures);
        return 1;
    }
    printf("%s: all checks passed\n", name);
    return 0;
}

#endif /* SEAWALL_TEST_CHECK_H */

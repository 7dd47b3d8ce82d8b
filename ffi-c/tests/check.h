/* Minimal assertion helpers shared by the C tests. */
#ifndef SEAWALL_TEST_CHECK_H
#define SEAWALL_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "seawall.h"

#define NS_PER_MS 1000000ull
#define NS_PER_S 1000000000ull

static int check_failures = 0;

/* Bad inputs refused with the exact message expected (by BAD and
 * BAD_PREFIX below; counted for the report at the end). */
static int refused = 0;

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

/* Sets a known last error, so tests can see that answers leave it alone. */
static inline void set_known_last_error(void) {
    CHECK_RC(seawall_rate_limiter_check(NULL, NULL), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_LAST_ERROR("seawall_rate_limiter_check: `limiter` is NULL");
}

/* --- every bad input of every function, with its exact message ---------- */

/* A last error no row expects, set before each row so that a call that
 * fails without recording its own error cannot pass on a stale message. */
static inline void reset_last_error(void) {
    CHECK_RC(seawall_breaker_config_default(NULL), SEAWALL_RESULT_NULL_PARAMETER);
}

static inline void expect_error(const char *call, seawall_result rc, seawall_result code,
                                const char *want, size_t prefix, int line) {
    char got[512];
    seawall_last_error_message(got, sizeof got, NULL);
    int same = prefix ? strncmp(got, want, prefix) == 0 : strcmp(got, want) == 0;
    if (rc != code || seawall_last_error() != code || !same) {
        fprintf(stderr, "line %d: %s returned %u with \"%s\", expected %u with \"%s\"%s\n", line,
                call, (unsigned)rc, got, (unsigned)code, want, prefix ? " (prefix)" : "");
        check_failures++;
        return;
    }
    refused++;
}

/* `call` fails with SEAWALL_RESULT_<code> and exactly the message `want`. */
#define BAD(call, code, want)                                                       \
    do {                                                                            \
        reset_last_error();                                                         \
        seawall_result rc_ = (call);                                                \
        expect_error(#call, rc_, SEAWALL_RESULT_##code, (want), 0, __LINE__);       \
    } while (0)

/* As BAD, comparing the message's first strlen(want) bytes only (for
 * handles, whose alignment is that of a type internal to the library). */
#define BAD_PREFIX(call, code, want)                                                \
    do {                                                                            \
        reset_last_error();                                                         \
        seawall_result rc_ = (call);                                                \
        expect_error(#call, rc_, SEAWALL_RESULT_##code, (want), strlen(want), __LINE__); \
    } while (0)

/* Odd addresses: misaligned for every type wider than a byte. */
static _Alignas(64) unsigned char raw[256];
#define MIS(type) ((type *)(void *)(raw + 1))

/* The message for a misaligned `param` of `func`, aligned to `align`. */
static inline const char *misaligned(const char *func, const char *param, size_t align) {
    return misaligned_message(func, param, raw + 1, align);
}

static int check_report(const char *name) {
    if (refused != 0)
        printf("%s: %d bad inputs refused with the exact message\n", name, refused);
    if (check_failures != 0) {
        fprintf(stderr, "%s: %d check(s) failed\n", name, check_failures);
        return 1;
    }
    printf("%s: all checks passed\n", name);
    return 0;
}

#endif /* SEAWALL_TEST_CHECK_H */

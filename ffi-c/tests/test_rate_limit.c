/* The rate limiter through the C ABI: its defaults, GCRA admissions and
 * reservations on a manual clock, the production clock, every config error,
 * and exact admissions under contention from pthreads. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "check.h"

#define THREADS 8

static void test_rate_defaults(void) {
    seawall_rate_limit_config c;
    CHECK_OK(seawall_rate_limit_config_default(&c));
    CHECK(c.rate == 100 && c.burst == 100 && c.period_ns == NS_PER_S);
    CHECK(c.timing == SEAWALL_TIMING_EXACT);

    /* NULL config: the defaults, read back. */
    const seawall_rate_limiter *l = NULL;
    CHECK_OK(seawall_rate_limiter_new(NULL, NULL, &l));
    seawall_rate_limit_config got;
    memset(&got, 0xab, sizeof got);
    CHECK_OK(seawall_rate_limiter_get_config(l, &got));
    CHECK(got.rate == 100 && got.burst == 100 && got.period_ns == NS_PER_S &&
          got.timing == SEAWALL_TIMING_EXACT);
    seawall_rate_limiter_free(l);
}

static void test_rate_gcra(void) {
    const seawall_manual_clock *clock = NULL;
    CHECK_OK(seawall_manual_clock_new(&clock));
    CHECK_OK(seawall_manual_clock_set(clock, 5 * NS_PER_S));
    seawall_rate_limit_config c;
    CHECK_OK(seawall_rate_limit_config_default(&c));
    c.rate = 10; /* one call per 100 ms */
    c.burst = 2;
    const seawall_rate_limiter *l = NULL;
    CHECK_OK(seawall_rate_limiter_new(&c, clock, &l));

    set_known_last_error();
    uint64_t wait = 777;
    CHECK_OK(seawall_rate_limiter_check(l, &wait));
    CHECK(wait == 777); /* nothing written on success */
    CHECK_OK(seawall_rate_limiter_check(l, &wait));
    CHECK_RC(seawall_rate_limiter_check(l, &wait), SEAWALL_RESULT_RATE_LIMITED);
    CHECK(wait == 100 * NS_PER_MS);
    /* A refusal changes nothing and is not an error. */
    CHECK_RC(seawall_rate_limiter_check(l, NULL), SEAWALL_RESULT_RATE_LIMITED);
    CHECK(seawall_last_error() == SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_LAST_ERROR("seawall_rate_limiter_check: `limiter` is NULL");

    CHECK_OK(seawall_manual_clock_advance(clock, 100 * NS_PER_MS - 1));
    CHECK_RC(seawall_rate_limiter_check(l, &wait), SEAWALL_RESULT_RATE_LIMITED);
    CHECK(wait == 1);
    CHECK_OK(seawall_manual_clock_advance(clock, 1));
    CHECK_OK(seawall_rate_limiter_check(l, &wait));
    CHECK_RC(seawall_rate_limiter_check(l, &wait), SEAWALL_RESULT_RATE_LIMITED);
    CHECK(wait == 100 * NS_PER_MS);

    /* After a quiet second the full burst (2) is back, and no more. */
    CHECK_OK(seawall_manual_clock_advance(clock, NS_PER_S));
    CHECK_OK(seawall_rate_limiter_check(l, NULL));
    CHECK_OK(seawall_rate_limiter_check(l, NULL));
    CHECK_RC(seawall_rate_limiter_check(l, NULL), SEAWALL_RESULT_RATE_LIMITED);

    /* A clone is the same limiter; the clock outlives its handle. */
    const seawall_rate_limiter *l2 = NULL;
    CHECK_OK(seawall_rate_limiter_clone(l, &l2));
    CHECK(l2 == l);
    seawall_rate_limiter_free(l);
    seawall_manual_clock_free(clock);
    CHECK_RC(seawall_rate_limiter_check(l2, &wait), SEAWALL_RESULT_RATE_LIMITED);
    CHECK(wait == 100 * NS_PER_MS);
    seawall_rate_limit_config got;
    CHECK_OK(seawall_rate_limiter_get_config(l2, &got));
    CHECK(got.rate == 10 && got.burst == 2 && got.period_ns == NS_PER_S);
    seawall_rate_limiter_free(l2);
    seawall_rate_limiter_free(NULL);
}

/* Reservations decide a caller's wait once: within max_wait the turn is
 * taken and the wait to sleep written; beyond it the call is refused with
 * the wait and nothing changes. */
static void test_rate_reserve(void) {
    const seawall_manual_clock *clock = NULL;
    CHECK_OK(seawall_manual_clock_new(&clock));
    CHECK_OK(seawall_manual_clock_set(clock, 5 * NS_PER_S));
    seawall_rate_limit_config c;
    CHECK_OK(seawall_rate_limit_config_default(&c));
    c.rate = 10; /* one call per 100 ms */
    c.burst = 2;
    const seawall_rate_limiter *l = NULL;
    CHECK_OK(seawall_rate_limiter_new(&c, clock, &l));

    uint64_t wait = 777;
    CHECK_OK(seawall_rate_limiter_reserve(l, 0, &wait));
    CHECK(wait == 0);
    CHECK_OK(seawall_rate_limiter_reserve(l, 0, &wait));
    CHECK(wait == 0);
    /* The burst is spent: the next turn is 100 ms away. */
    set_known_last_error();
    CHECK_RC(seawall_rate_limiter_reserve(l, 50 * NS_PER_MS, &wait), SEAWALL_RESULT_RATE_LIMITED);
    CHECK(wait == 100 * NS_PER_MS);
    CHECK_LAST_ERROR("seawall_rate_limiter_check: `limiter` is NULL"); /* an answer */
    /* Taken turns queue: 100 ms, then 200 ms. */
    CHECK_OK(seawall_rate_limiter_reserve(l, NS_PER_S, &wait));
    CHECK(wait == 100 * NS_PER_MS);
    CHECK_OK(seawall_rate_limiter_reserve(l, UINT64_MAX, &wait));
    CHECK(wait == 200 * NS_PER_MS);
    CHECK_RC(seawall_rate_limiter_check(l, &wait), SEAWALL_RESULT_RATE_LIMITED);
    CHECK(wait == 300 * NS_PER_MS);
    /* Sleeping the reserved wait, the call goes ahead: the clock at the
     * last turn (200 ms on), the next is 100 ms further. */
    CHECK_OK(seawall_manual_clock_advance(clock, 200 * NS_PER_MS));
    CHECK_RC(seawall_rate_limiter_reserve(l, 0, &wait), SEAWALL_RESULT_RATE_LIMITED);
    CHECK(wait == 100 * NS_PER_MS);

    /* Bad arguments: the wait is the answer, so it must be given. */
    CHECK_RC(seawall_rate_limiter_reserve(l, 0, NULL), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_LAST_ERROR("seawall_rate_limiter_reserve: `out_wait_ns` is NULL");
    CHECK_RC(seawall_rate_limiter_reserve(NULL, 0, &wait), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_LAST_ERROR("seawall_rate_limiter_reserve: `limiter` is NULL");
    seawall_rate_limiter_free(l);
    seawall_manual_clock_free(clock);
}

static void test_rate_production_clock(void) {
    /* One call a year, bursts of 3: exactly three now, then a wait. */
    seawall_rate_limit_config c;
    CHECK_OK(seawall_rate_limit_config_default(&c));
    c.rate = 1;
    c.period_ns = 365ull * 24 * 3600 * NS_PER_S;
    c.burst = 3;
    c.timing = SEAWALL_TIMING_RECENT;
    const seawall_rate_limiter *l = NULL;
    CHECK_OK(seawall_rate_limiter_new(&c, NULL, &l));
    for (int i = 0; i < 3; i++) CHECK_OK(seawall_rate_limiter_check(l, NULL));
    uint64_t wait = 0;
    CHECK_RC(seawall_rate_limiter_check(l, &wait), SEAWALL_RESULT_RATE_LIMITED);
    CHECK(wait > 0 && wait <= c.period_ns);
    seawall_rate_limit_config got;
    CHECK_OK(seawall_rate_limiter_get_config(l, &got));
    CHECK(got.timing == SEAWALL_TIMING_RECENT);
    seawall_rate_limiter_free(l);
}

static void rate_config_error(seawall_rate_limit_config c, const char *want) {
    const seawall_rate_limiter *l = (const seawall_rate_limiter *)&c; /* sentinel */
    CHECK_RC(seawall_rate_limiter_new(&c, NULL, &l), SEAWALL_RESULT_INVALID_CONFIG);
    CHECK(l == (const seawall_rate_limiter *)&c);
    CHECK(seawall_last_error() == SEAWALL_RESULT_INVALID_CONFIG);
    CHECK_LAST_ERROR(want);
}

static void test_rate_errors(void) {
    seawall_rate_limit_config d, c;
    CHECK_OK(seawall_rate_limit_config_default(&d));

    c = d; c.rate = 0;
    rate_config_error(c, "seawall_rate_limiter_new: invalid rate = 0: must be an integer in [1, 1000000000]");
    c = d; c.rate = 1000000001u;
    rate_config_error(c, "seawall_rate_limiter_new: invalid rate = 1000000001: must be an integer in [1, 1000000000]");
    c = d; c.period_ns = 0;
    rate_config_error(c, "seawall_rate_limiter_new: invalid period_ns = 0ns: must be a duration in (0, 365 days]");
    c = d; c.rate = 1000; c.period_ns = 999;
    rate_config_error(c, "seawall_rate_limiter_new: invalid period_ns = 999ns: must be at least `rate` nanoseconds (1 ns between calls)");
    c = d; c.burst = 0;
    rate_config_error(c, "seawall_rate_limiter_new: invalid burst = 0: must be an integer in [1, 1000000000]");
    c = d; c.timing = 7;
    rate_config_error(c, "seawall_rate_limiter_new: invalid timing = 7: must be SEAWALL_TIMING_EXACT (0) or SEAWALL_TIMING_RECENT (1)");

    CHECK_RC(seawall_rate_limiter_new(&d, NULL, NULL), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_LAST_ERROR("seawall_rate_limiter_new: `out` is NULL");
    CHECK_RC(seawall_rate_limit_config_default(NULL), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_LAST_ERROR("seawall_rate_limit_config_default: `out` is NULL");

    const seawall_rate_limiter *l = NULL;
    CHECK_OK(seawall_rate_limiter_new(NULL, NULL, &l));
    _Alignas(8) unsigned char raw[16];
    CHECK_RC(seawall_rate_limiter_check(l, (uint64_t *)(void *)(raw + 1)), SEAWALL_RESULT_INVALID_ARGUMENT);
    CHECK_LAST_ERROR(misaligned_message("seawall_rate_limiter_check", "out_retry_after_ns", raw + 1, 8));
    CHECK_RC(seawall_rate_limiter_clone(l, NULL), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_LAST_ERROR("seawall_rate_limiter_clone: `out` is NULL");
    const seawall_rate_limiter *none = NULL;
    CHECK_RC(seawall_rate_limiter_clone(NULL, &none), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK(none == NULL);
    CHECK_RC(seawall_rate_limiter_get_config(l, NULL), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_LAST_ERROR("seawall_rate_limiter_get_config: `out` is NULL");
    CHECK_RC(seawall_rate_limiter_get_config(NULL, &d), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_LAST_ERROR("seawall_rate_limiter_get_config: `limiter` is NULL");
    seawall_rate_limiter_free(l);
}

struct rate_shared {
    const seawall_rate_limiter *limiter;
    atomic_int admitted;
    atomic_int refused;
    atomic_int errors;
};

#define RATE_CALLS 5000
#define RATE_BURST 7000

static void *rate_worker(void *arg) {
    struct rate_shared *s = (struct rate_shared *)arg;
    for (int i = 0; i < RATE_CALLS; i++) {
        uint64_t wait = 0;
        seawall_result rc = seawall_rate_limiter_check(s->limiter, &wait);
        if (rc == SEAWALL_RESULT_OK) atomic_fetch_add(&s->admitted, 1);
        else if (rc == SEAWALL_RESULT_RATE_LIMITED && wait > 0) atomic_fetch_add(&s->refused, 1);
        else atomic_fetch_add(&s->errors, 1);
    }
    return NULL;
}

/* Time stands still: exactly `burst` of the calls from all threads get in. */
static void test_rate_threads(void) {
    const seawall_manual_clock *clock = NULL;
    CHECK_OK(seawall_manual_clock_new(&clock));
    seawall_rate_limit_config c;
    CHECK_OK(seawall_rate_limit_config_default(&c));
    c.rate = 1;
    c.period_ns = NS_PER_S;
    c.burst = RATE_BURST;
    struct rate_shared s;
    s.limiter = NULL;
    atomic_init(&s.admitted, 0);
    atomic_init(&s.refused, 0);
    atomic_init(&s.errors, 0);
    CHECK_OK(seawall_rate_limiter_new(&c, clock, &s.limiter));
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) CHECK(pthread_create(&t[i], NULL, rate_worker, &s) == 0);
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
    CHECK(atomic_load(&s.errors) == 0);
    CHECK(atomic_load(&s.admitted) == RATE_BURST);
    CHECK(atomic_load(&s.refused) == THREADS * RATE_CALLS - RATE_BURST);
    seawall_rate_limiter_free(s.limiter);
    seawall_manual_clock_free(clock);
}

int main(void) {
    test_rate_defaults();
    test_rate_gcra();
    test_rate_reserve();
    test_rate_production_clock();
    test_rate_errors();
    test_rate_threads();
    return check_report("test_rate_limit");
}

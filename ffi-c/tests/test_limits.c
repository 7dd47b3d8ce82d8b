/* The rate limiter, the bulkhead, the retry budget and the retry back-off
 * through the C ABI: every function, its answers and its errors, on a
 * manual clock; pthreads tests for exact counting under contention. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "check.h"

#define NS_PER_MS 1000000ull
#define NS_PER_S 1000000000ull
#define THREADS 8

/* Sets a known last error, so tests can see that answers leave it alone. */
static void set_known_last_error(void) {
    CHECK_RC(seawall_rate_limiter_check(NULL, NULL), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_LAST_ERROR("seawall_rate_limiter_check: `limiter` is NULL");
}

/* --- rate limiter -------------------------------------------------------- */

static void test_rate_defaults(void) {
    seawall_rate_limit_config c;
    CHECK_OK(seawall_rate_limit_config_default(&c));
    CHECK(c.rate == 100 && c.burst == 100 && c.period_ns == NS_PER_S);
    CHECK(c.timing == SEAWALL_RATE_TIMING_EXACT);

    /* NULL config: the defaults, read back. */
    const seawall_rate_limiter *l = NULL;
    CHECK_OK(seawall_rate_limiter_new(NULL, NULL, &l));
    seawall_rate_limit_config got;
    memset(&got, 0xab, sizeof got);
    CHECK_OK(seawall_rate_limiter_get_config(l, &got));
    CHECK(got.rate == 100 && got.burst == 100 && got.period_ns == NS_PER_S &&
          got.timing == SEAWALL_RATE_TIMING_EXACT);
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
    c.timing = SEAWALL_RATE_TIMING_RECENT;
    const seawall_rate_limiter *l = NULL;
    CHECK_OK(seawall_rate_limiter_new(&c, NULL, &l));
    for (int i = 0; i < 3; i++) CHECK_OK(seawall_rate_limiter_check(l, NULL));
    uint64_t wait = 0;
    CHECK_RC(seawall_rate_limiter_check(l, &wait), SEAWALL_RESULT_RATE_LIMITED);
    CHECK(wait > 0 && wait <= c.period_ns);
    seawall_rate_limit_config got;
    CHECK_OK(seawall_rate_limiter_get_config(l, &got));
    CHECK(got.timing == SEAWALL_RATE_TIMING_RECENT);
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
    rate_config_error(c, "seawall_rate_limiter_new: invalid timing = 7: must be SEAWALL_RATE_TIMING_EXACT (0) or SEAWALL_RATE_TIMING_RECENT (1)");

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

/* --- bulkhead ------------------------------------------------------------ */

static uint32_t available(const seawall_bulkhead *b) {
    uint32_t n = UINT32_MAX;
    CHECK_OK(seawall_bulkhead_available_permits(b, &n));
    return n;
}

static uint32_t queued(const seawall_bulkhead *b) {
    uint32_t n = UINT32_MAX;
    CHECK_OK(seawall_bulkhead_queue_size(b, &n));
    return n;
}

static void test_bulkhead_defaults(void) {
    seawall_bulkhead_config c;
    CHECK_OK(seawall_bulkhead_config_default(&c));
    CHECK(c.max_concurrent == 10 && c.max_queue_size == 100 && c.timeout_ns == 30 * NS_PER_S);
    const seawall_bulkhead *b = NULL;
    CHECK_OK(seawall_bulkhead_new(NULL, NULL, &b));
    seawall_bulkhead_config got;
    memset(&got, 0xab, sizeof got);
    CHECK_OK(seawall_bulkhead_get_config(b, &got));
    CHECK(got.max_concurrent == 10 && got.max_queue_size == 100 && got.timeout_ns == 30 * NS_PER_S);
    CHECK(available(b) == 10 && queued(b) == 0);
    seawall_bulkhead_free(b);
    seawall_bulkhead_free(NULL);
}

static void test_bulkhead_permits(void) {
    const seawall_manual_clock *clock = NULL;
    CHECK_OK(seawall_manual_clock_new(&clock));
    seawall_bulkhead_config c;
    CHECK_OK(seawall_bulkhead_config_default(&c));
    c.max_concurrent = 2;
    c.max_queue_size = 0;
    const seawall_bulkhead *b = NULL, *other = NULL;
    CHECK_OK(seawall_bulkhead_new(&c, clock, &b));
    CHECK_OK(seawall_bulkhead_new(&c, clock, &other));

    set_known_last_error();
    seawall_bulkhead_permit p1, p2, p3, never, foreign;
    CHECK_OK(seawall_bulkhead_try_acquire(b, &p1));
    CHECK(available(b) == 1);
    CHECK_OK(seawall_bulkhead_try_acquire(b, &p2));
    CHECK(available(b) == 0);
    memset(&p3, 0x5a, sizeof p3);
    seawall_bulkhead_permit before = p3;
    CHECK_RC(seawall_bulkhead_try_acquire(b, &p3), SEAWALL_RESULT_BULKHEAD_FULL);
    CHECK(memcmp(&p3, &before, sizeof p3) == 0); /* nothing written */
    /* Queue of 0: a waiting acquire is refused at once. */
    CHECK_RC(seawall_bulkhead_acquire_timeout(b, 10 * NS_PER_S, &p3), SEAWALL_RESULT_BULKHEAD_FULL);
    CHECK_RC(seawall_bulkhead_acquire(b, &p3), SEAWALL_RESULT_BULKHEAD_FULL);
    CHECK(memcmp(&p3, &before, sizeof p3) == 0);
    /* Answers are not errors. */
    CHECK(seawall_last_error() == SEAWALL_RESULT_NULL_PARAMETER);
    CHECK(queued(b) == 0);

    /* A permit of another bulkhead, a never-issued one: refused, nothing freed. */
    CHECK_OK(seawall_bulkhead_try_acquire(other, &foreign));
    CHECK_RC(seawall_bulkhead_release(b, &foreign), SEAWALL_RESULT_PERMIT_WRONG_BULKHEAD);
    CHECK_LAST_ERROR("seawall_bulkhead_release: the permit was issued by another bulkhead");
    CHECK(available(b) == 0 && available(other) == 1);
    memset(&never, 0, sizeof never);
    CHECK_RC(seawall_bulkhead_release(b, &never), SEAWALL_RESULT_PERMIT_NOT_ISSUED);
    CHECK_LAST_ERROR("seawall_bulkhead_release: the permit was never issued by a successful acquire");
    CHECK(available(b) == 0);

    CHECK_OK(seawall_bulkhead_release(b, &p1));
    CHECK(available(b) == 1);
    CHECK_RC(seawall_bulkhead_release(b, &p1), SEAWALL_RESULT_PERMIT_ALREADY_RELEASED);
    CHECK_LAST_ERROR("seawall_bulkhead_release: the permit was already released");
    CHECK(available(b) == 1);
    /* A zero timeout still takes a free slot. */
    CHECK_OK(seawall_bulkhead_acquire_timeout(b, 0, &p3));
    CHECK(available(b) == 0);
    CHECK_OK(seawall_bulkhead_release(b, &p2));
    CHECK_OK(seawall_bulkhead_release(b, &p3));
    CHECK_OK(seawall_bulkhead_release(other, &foreign));
    CHECK(available(b) == 2 && available(other) == 2);

    /* A clone is the same bulkhead. */
    const seawall_bulkhead *b2 = NULL;
    CHECK_OK(seawall_bulkhead_clone(b, &b2));
    CHECK(b2 == b);
    seawall_bulkhead_free(b);
    CHECK_OK(seawall_bulkhead_try_acquire(b2, &p1));
    CHECK(available(b2) == 1);
    CHECK_OK(seawall_bulkhead_release(b2, &p1));
    seawall_bulkhead_free(b2);
    seawall_bulkhead_free(other);
    seawall_manual_clock_free(clock);
}

struct waiter_arg {
    const seawall_bulkhead *bulkhead;
    uint64_t timeout_ns;
    int use_configured; /* seawall_bulkhead_acquire instead */
    seawall_result rc;
    seawall_bulkhead_permit permit;
};

static void *waiter(void *arg) {
    struct waiter_arg *w = (struct waiter_arg *)arg;
    w->rc = w->use_configured ? seawall_bulkhead_acquire(w->bulkhead, &w->permit)
                              : seawall_bulkhead_acquire_timeout(w->bulkhead, w->timeout_ns, &w->permit);
    return NULL;
}

/* Waits (without a deadline: not a timed assertion) until `n` calls queue. */
static void wait_for_queue(const seawall_bulkhead *b, uint32_t n) {
    while (queued(b) != n) sched_yield();
}

static void test_bulkhead_queue(void) {
    const seawall_manual_clock *clock = NULL;
    CHECK_OK(seawall_manual_clock_new(&clock));
    seawall_bulkhead_config c;
    CHECK_OK(seawall_bulkhead_config_default(&c));
    c.max_concurrent = 1;
    c.max_queue_size = 1;
    c.timeout_ns = 20 * NS_PER_MS;
    const seawall_bulkhead *b = NULL;
    CHECK_OK(seawall_bulkhead_new(&c, clock, &b));
    seawall_bulkhead_permit held, p;
    CHECK_OK(seawall_bulkhead_try_acquire(b, &held));

    /* A zero timeout gives up at once when every slot is taken. */
    set_known_last_error();
    CHECK_RC(seawall_bulkhead_acquire_timeout(b, 0, &p), SEAWALL_RESULT_BULKHEAD_TIMEOUT);
    CHECK(seawall_last_error() == SEAWALL_RESULT_NULL_PARAMETER);
    CHECK(queued(b) == 0);

    /* A blocked waiter gets the slot a release frees. */
    struct waiter_arg w = {b, 3600 * NS_PER_S, 0, SEAWALL_RESULT_PANIC, {0, 0}};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, waiter, &w) == 0);
    wait_for_queue(b, 1);
    /* The queue (size 1) is full: a second waiter is refused at once. */
    CHECK_RC(seawall_bulkhead_acquire_timeout(b, 3600 * NS_PER_S, &p), SEAWALL_RESULT_BULKHEAD_FULL);
    CHECK_OK(seawall_bulkhead_release(b, &held));
    pthread_join(t, NULL);
    CHECK_RC(w.rc, SEAWALL_RESULT_OK);
    CHECK(queued(b) == 0 && available(b) == 0);

    /* The configured timeout (20 ms of the manual clock) runs out once the
     * clock passes it; the waiter leaves the queue. */
    struct waiter_arg w2 = {b, 0, 1, SEAWALL_RESULT_PANIC, {0, 0}};
    CHECK(pthread_create(&t, NULL, waiter, &w2) == 0);
    wait_for_queue(b, 1);
    CHECK_OK(seawall_manual_clock_advance(clock, 20 * NS_PER_MS));
    pthread_join(t, NULL);
    CHECK_RC(w2.rc, SEAWALL_RESULT_BULKHEAD_TIMEOUT);
    CHECK(w2.permit.status == 0); /* nothing written */
    CHECK(queued(b) == 0 && available(b) == 0);

    /* An explicit timeout, likewise. */
    struct waiter_arg w3 = {b, 5 * NS_PER_MS, 0, SEAWALL_RESULT_PANIC, {0, 0}};
    CHECK(pthread_create(&t, NULL, waiter, &w3) == 0);
    wait_for_queue(b, 1);
    CHECK_OK(seawall_manual_clock_advance(clock, 5 * NS_PER_MS));
    pthread_join(t, NULL);
    CHECK_RC(w3.rc, SEAWALL_RESULT_BULKHEAD_TIMEOUT);
    CHECK(queued(b) == 0);

    CHECK_OK(seawall_bulkhead_release(b, &w.permit));
    CHECK(available(b) == 1);
    seawall_bulkhead_free(b);
    seawall_manual_clock_free(clock);
}

struct flagged_waiter {
    struct waiter_arg w;
    atomic_int done;
};

static void *flagged_waiter(void *arg) {
    struct flagged_waiter *f = (struct flagged_waiter *)arg;
    waiter(&f->w);
    atomic_store(&f->done, 1);
    return NULL;
}

/* Waits up to a generous guard (30 s, not a timed assertion) for `f` to
 * return. */
static int returns(struct flagged_waiter *f) {
    struct timespec now, end;
    clock_gettime(CLOCK_MONOTONIC, &end);
    end.tv_sec += 30;
    do {
        if (atomic_load(&f->done)) return 1;
        struct timespec ms = {0, 1000000L};
        nanosleep(&ms, NULL);
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while (now.tv_sec < end.tv_sec || (now.tv_sec == end.tv_sec && now.tv_nsec < end.tv_nsec));
    return atomic_load(&f->done);
}

/* A wait on a manual clock ends when the clock is moved past its deadline,
 * not after that much real time: a waiter with 3 s and one with an hour of
 * manual time return BULKHEAD_TIMEOUT each right after the move that passes
 * its own deadline, and not before. */
static void test_bulkhead_manual_clock_moves_end_waits(void) {
    const seawall_manual_clock *clock = NULL;
    CHECK_OK(seawall_manual_clock_new(&clock));
    seawall_bulkhead_config c;
    CHECK_OK(seawall_bulkhead_config_default(&c));
    c.max_concurrent = 1;
    c.max_queue_size = 2;
    c.timeout_ns = 3 * NS_PER_S;
    const seawall_bulkhead *b = NULL;
    CHECK_OK(seawall_bulkhead_new(&c, clock, &b));
    seawall_bulkhead_permit held;
    CHECK_OK(seawall_bulkhead_try_acquire(b, &held));

    struct flagged_waiter short_w = {{b, 0, 1, SEAWALL_RESULT_PANIC, {0, 0}}, 0};
    struct flagged_waiter long_w = {{b, 3600 * NS_PER_S, 0, SEAWALL_RESULT_PANIC, {0, 0}}, 0};
    pthread_t ts, tl;
    CHECK(pthread_create(&ts, NULL, flagged_waiter, &short_w) == 0);
    CHECK(pthread_create(&tl, NULL, flagged_waiter, &long_w) == 0);
    wait_for_queue(b, 2);
    /* Short of both deadlines: both wake, see the time, and sleep on. */
    CHECK_OK(seawall_manual_clock_advance(clock, 3 * NS_PER_S - NS_PER_MS));
    struct timespec ms20 = {0, 20 * 1000000L};
    nanosleep(&ms20, NULL);
    CHECK(!atomic_load(&short_w.done) && !atomic_load(&long_w.done));
    /* Past the first deadline: only that waiter returns. */
    CHECK_OK(seawall_manual_clock_advance(clock, NS_PER_MS));
    CHECK(returns(&short_w));
    CHECK(!atomic_load(&long_w.done));
    /* `set` moves the clock too. */
    CHECK_OK(seawall_manual_clock_set(clock, 3600 * NS_PER_S));
    CHECK(returns(&long_w));
    /* Were a waiter still asleep, the release would wake it: no hang here. */
    CHECK_OK(seawall_bulkhead_release(b, &held));
    pthread_join(ts, NULL);
    pthread_join(tl, NULL);
    CHECK_RC(short_w.w.rc, SEAWALL_RESULT_BULKHEAD_TIMEOUT);
    CHECK_RC(long_w.w.rc, SEAWALL_RESULT_BULKHEAD_TIMEOUT);
    CHECK(queued(b) == 0 && available(b) == 1);
    seawall_bulkhead_free(b);
    seawall_manual_clock_free(clock);
}

static void bulkhead_config_error(seawall_bulkhead_config c, const char *want) {
    const seawall_bulkhead *b = (const seawall_bulkhead *)&c; /* sentinel */
    CHECK_RC(seawall_bulkhead_new(&c, NULL, &b), SEAWALL_RESULT_INVALID_CONFIG);
    CHECK(b == (const seawall_bulkhead *)&c);
    CHECK_LAST_ERROR(want);
}

static void test_bulkhead_errors(void) {
    seawall_bulkhead_config d, c;
    CHECK_OK(seawall_bulkhead_config_default(&d));
    c = d; c.max_concurrent = 0;
    bulkhead_config_error(c, "seawall_bulkhead_new: invalid max_concurrent = 0: must be an integer in [1, 4294967295]");
    c = d; c.timeout_ns = 365ull * 24 * 3600 * NS_PER_S + 1;
    bulkhead_config_error(c, "seawall_bulkhead_new: invalid timeout_ns = 31536000.000000001s: must be a duration in [0, 365 days]");

    CHECK_RC(seawall_bulkhead_new(&d, NULL, NULL), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_LAST_ERROR("seawall_bulkhead_new: `out` is NULL");
    CHECK_RC(seawall_bulkhead_config_default(NULL), SEAWALL_RESULT_NULL_PARAMETER);

    const seawall_bulkhead *b = NULL;
    CHECK_OK(seawall_bulkhead_new(&d, NULL, &b));
    seawall_bulkhead_permit p;
    CHECK_RC(seawall_bulkhead_try_acquire(NULL, &p), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_LAST_ERROR("seawall_bulkhead_try_acquire: `bulkhead` is NULL");
    CHECK_RC(seawall_bulkhead_try_acquire(b, NULL), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_LAST_ERROR("seawall_bulkhead_try_acquire: `out_permit` is NULL");
    CHECK_RC(seawall_bulkhead_acquire_timeout(b, 0, NULL), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_LAST_ERROR("seawall_bulkhead_acquire_timeout: `out_permit` is NULL");
    CHECK_RC(seawall_bulkhead_acquire(NULL, &p), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_LAST_ERROR("seawall_bulkhead_acquire: `bulkhead` is NULL");
    _Alignas(8) unsigned char raw[32];
    CHECK_RC(seawall_bulkhead_try_acquire(b, (seawall_bulkhead_permit *)(void *)(raw + 1)),
             SEAWALL_RESULT_INVALID_ARGUMENT);
    CHECK_LAST_ERROR(misaligned_message("seawall_bulkhead_try_acquire", "out_permit", raw + 1, 8));
    CHECK(available(b) == 10); /* the failed acquires took nothing */
    CHECK_RC(seawall_bulkhead_release(b, NULL), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_LAST_ERROR("seawall_bulkhead_release: `permit` is NULL");
    CHECK_RC(seawall_bulkhead_release(NULL, &p), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_LAST_ERROR("seawall_bulkhead_release: `bulkhead` is NULL");
    uint32_t n = 0;
    CHECK_RC(seawall_bulkhead_available_permits(b, NULL), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_LAST_ERROR("seawall_bulkhead_available_permits: `out_count` is NULL");
    CHECK_RC(seawall_bulkhead_queue_size(NULL, &n), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_LAST_ERROR("seawall_bulkhead_queue_size: `bulkhead` is NULL");
    CHECK_RC(seawall_bulkhead_clone(b, NULL), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_RC(seawall_bulkhead_get_config(b, NULL), SEAWALL_RESULT_NULL_PARAMETER);
    seawall_bulkhead_free(b);
}

#define BH_SLOTS 3
#define BH_CALLS 4000

struct bh_shared {
    const seawall_bulkhead *bulkhead;
    int blocking;
    atomic_int inside;
    atomic_int max_inside;
    atomic_int admitted;
    atomic_int full;
    atomic_int errors;
};

static void *bh_worker(void *arg) {
    struct bh_shared *s = (struct bh_shared *)arg;
    for (int i = 0; i < BH_CALLS; i++) {
        seawall_bulkhead_permit p;
        seawall_result rc = s->blocking
                                ? seawall_bulkhead_acquire_timeout(s->bulkhead, 3600 * NS_PER_S, &p)
                                : seawall_bulkhead_try_acquire(s->bulkhead, &p);
        if (rc == SEAWALL_RESULT_BULKHEAD_FULL && !s->blocking) {
            atomic_fetch_add(&s->full, 1);
            continue;
        }
        if (rc != SEAWALL_RESULT_OK) {
            atomic_fetch_add(&s->errors, 1);
            continue;
        }
        atomic_fetch_add(&s->admitted, 1);
        int now = atomic_fetch_add(&s->inside, 1) + 1;
        int seen = atomic_load(&s->max_inside);
        while (now > seen && !atomic_compare_exchange_weak(&s->max_inside, &seen, now)) {
        }
        sched_yield();
        atomic_fetch_sub(&s->inside, 1);
        if (seawall_bulkhead_release(s->bulkhead, &p) != SEAWALL_RESULT_OK) atomic_fetch_add(&s->errors, 1);
        if (seawall_bulkhead_release(s->bulkhead, &p) != SEAWALL_RESULT_PERMIT_ALREADY_RELEASED)
            atomic_fetch_add(&s->errors, 1);
    }
    return NULL;
}

/* Never more than BH_SLOTS inside; every call accounted for; every slot
 * free at the end. Blocking: every call eventually gets in (no lost
 * wake-up), none times out. */
static void test_bulkhead_threads(int blocking) {
    seawall_bulkhead_config c;
    CHECK_OK(seawall_bulkhead_config_default(&c));
    c.max_concurrent = BH_SLOTS;
    c.max_queue_size = THREADS;
    struct bh_shared s;
    s.bulkhead = NULL;
    s.blocking = blocking;
    atomic_init(&s.inside, 0);
    atomic_init(&s.max_inside, 0);
    atomic_init(&s.admitted, 0);
    atomic_init(&s.full, 0);
    atomic_init(&s.errors, 0);
    CHECK_OK(seawall_bulkhead_new(&c, NULL, &s.bulkhead));
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) CHECK(pthread_create(&t[i], NULL, bh_worker, &s) == 0);
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
    CHECK(atomic_load(&s.errors) == 0);
    CHECK(atomic_load(&s.max_inside) >= 1 && atomic_load(&s.max_inside) <= BH_SLOTS);
    CHECK(atomic_load(&s.admitted) + atomic_load(&s.full) == THREADS * BH_CALLS);
    if (blocking) CHECK(atomic_load(&s.admitted) == THREADS * BH_CALLS);
    CHECK(available(s.bulkhead) == BH_SLOTS);
    CHECK(queued(s.bulkhead) == 0);
    seawall_bulkhead_free(s.bulkhead);
}

/* --- retry budget -------------------------------------------------------- */

static seawall_retry_budget_counts budget_counts(const seawall_retry_budget *b) {
    seawall_retry_budget_counts c = {UINT64_MAX, UINT64_MAX};
    CHECK_OK(seawall_retry_budget_get_counts(b, &c));
    return c;
}

static double budget_left(const seawall_retry_budget *b) {
    double p = -1.0;
    CHECK_OK(seawall_retry_budget_remaining_percent(b, &p));
    return p;
}

static int budget_grant(const seawall_retry_budget *b) {
    bool allowed = false;
    CHECK_OK(seawall_retry_budget_can_retry(b, &allowed));
    return allowed;
}

static void test_budget_defaults(void) {
    seawall_retry_budget_config c;
    CHECK_OK(seawall_retry_budget_config_default(&c));
    CHECK(c.budget_percent == 10.0 && c.min_requests == 100 && c.max_tokens == 100);
    CHECK(c.window_size_ns == 60 * NS_PER_S && c.tokens_per_second == 10.0);
    const seawall_retry_budget *b = NULL;
    CHECK_OK(seawall_retry_budget_new(NULL, NULL, &b));
    seawall_retry_budget_config got;
    memset(&got, 0xab, sizeof got);
    CHECK_OK(seawall_retry_budget_get_config(b, &got));
    CHECK(got.budget_percent == 10.0 && got.min_requests == 100 && got.max_tokens == 100 &&
          got.window_size_ns == 60 * NS_PER_S && got.tokens_per_second == 10.0);
    CHECK(budget_counts(b).requests == 0 && budget_counts(b).retries == 0);
    CHECK(budget_left(b) == 100.0); /* below min_requests: a full bucket */
    seawall_retry_budget_free(b);
    seawall_retry_budget_free(NULL);
}

static void test_budget_share(void) {
    const seawall_manual_clock *clock = NULL;
    CHECK_OK(seawall_manual_clock_new(&clock));
    CHECK_OK(seawall_manual_clock_set(clock, 1000 * NS_PER_S));
    seawall_retry_budget_config c;
    CHECK_OK(seawall_retry_budget_config_default(&c));
    c.min_requests = 10;
    const seawall_retry_budget *b = NULL;
    CHECK_OK(seawall_retry_budget_new(&c, clock, &b));
    for (int i = 0; i < 90; i++) CHECK_OK(seawall_retry_budget_record_attempt(b, false));
    CHECK(budget_counts(b).requests == 90 && budget_counts(b).retries == 0);
    CHECK(budget_left(b) == 100.0);
    /* 10 retries fit: 10 of 100 requests; then none. */
    int granted = 0;
    for (int i = 0; i < 20; i++) granted += budget_grant(b);
    CHECK(granted == 10);
    CHECK(budget_counts(b).requests == 100 && budget_counts(b).retries == 10);
    CHECK(budget_left(b) == 0.0);
    /* A retry recorded by hand counts as a request and a retry. */
    CHECK_OK(seawall_retry_budget_record_attempt(b, true));
    CHECK(budget_counts(b).requests == 101 && budget_counts(b).retries == 11);
    /* Two windows later the window is empty again: the full bucket decides. */
    CHECK_OK(seawall_manual_clock_advance(clock, 2 * c.window_size_ns));
    CHECK(budget_counts(b).requests == 0 && budget_counts(b).retries == 0);
    CHECK(budget_left(b) == 100.0);
    CHECK(budget_grant(b));

    const seawall_retry_budget *b2 = NULL;
    CHECK_OK(seawall_retry_budget_clone(b, &b2));
    CHECK(b2 == b);
    seawall_retry_budget_free(b);
    CHECK(budget_counts(b2).requests == 1 && budget_counts(b2).retries == 1);
    seawall_retry_budget_free(b2);
    seawall_manual_clock_free(clock);
}

static void test_budget_tokens(void) {
    const seawall_manual_clock *clock = NULL;
    CHECK_OK(seawall_manual_clock_new(&clock));
    CHECK_OK(seawall_manual_clock_set(clock, 1000 * NS_PER_S));
    seawall_retry_budget_config c;
    CHECK_OK(seawall_retry_budget_config_default(&c));
    c.max_tokens = 3;
    c.tokens_per_second = 1.0;
    const seawall_retry_budget *b = NULL;
    CHECK_OK(seawall_retry_budget_new(&c, clock, &b));
    CHECK(budget_left(b) == 100.0);
    CHECK(budget_grant(b) && budget_grant(b) && budget_grant(b));
    CHECK(!budget_grant(b));
    CHECK(budget_left(b) == 0.0);
    CHECK_OK(seawall_manual_clock_advance(clock, NS_PER_S));
    CHECK(fabs(budget_left(b) - 100.0 / 3.0) < 1e-9);
    CHECK(budget_grant(b));
    CHECK(!budget_grant(b));
    /* Granted retries are counted in the window. */
    CHECK(budget_counts(b).requests == 4 && budget_counts(b).retries == 4);
    uint64_t tokens = UINT64_MAX;
    CHECK_OK(seawall_retry_budget_tokens(b, &tokens));
    CHECK(tokens == 0);
    CHECK_OK(seawall_manual_clock_advance(clock, 2 * NS_PER_S));
    CHECK_OK(seawall_retry_budget_tokens(b, &tokens));
    CHECK(tokens == 2);
    /* A reset forgets the window and refills the bucket. */
    CHECK_OK(seawall_retry_budget_reset(b));
    CHECK(budget_counts(b).requests == 0 && budget_counts(b).retries == 0);
    CHECK_OK(seawall_retry_budget_tokens(b, &tokens));
    CHECK(tokens == 3);
    CHECK_RC(seawall_retry_budget_tokens(b, NULL), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_LAST_ERROR("seawall_retry_budget_tokens: `out_tokens` is NULL");
    CHECK_RC(seawall_retry_budget_reset(NULL), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_LAST_ERROR("seawall_retry_budget_reset: `budget` is NULL");
    seawall_retry_budget_free(b);

    /* No bucket: no retry below min_requests. */
    c.max_tokens = 0;
    CHECK_OK(seawall_retry_budget_new(&c, clock, &b));
    CHECK(!budget_grant(b));
    CHECK(budget_left(b) == 0.0);
    seawall_retry_budget_free(b);
    seawall_manual_clock_free(clock);
}

static void budget_config_error(seawall_retry_budget_config c, const char *want) {
    const seawall_retry_budget *b = (const seawall_retry_budget *)&c; /* sentinel */
    CHECK_RC(seawall_retry_budget_new(&c, NULL, &b), SEAWALL_RESULT_INVALID_CONFIG);
    CHECK(b == (const seawall_retry_budget *)&c);
    CHECK_LAST_ERROR(want);
}

static void test_budget_errors(void) {
    seawall_retry_budget_config d, c;
    CHECK_OK(seawall_retry_budget_config_default(&d));
    c = d; c.budget_percent = 100.5;
    budget_config_error(c, "seawall_retry_budget_new: invalid budget_percent = 100.5: must be a number in [0, 100]");
    c = d; c.budget_percent = NAN;
    budget_config_error(c, "seawall_retry_budget_new: invalid budget_percent = NaN: must be a number in [0, 100]");
    c = d; c.min_requests = 1000000001u;
    budget_config_error(c, "seawall_retry_budget_new: invalid min_requests = 1000000001: must be an integer in [0, 1000000000]");
    c = d; c.window_size_ns = 9 * NS_PER_MS;
    budget_config_error(c, "seawall_retry_budget_new: invalid window_size_ns = 9ms: must be a duration in [10 ms, 365 days]");
    c = d; c.tokens_per_second = 0.0;
    budget_config_error(c, "seawall_retry_budget_new: invalid tokens_per_second = 0.0: must be a finite number in (0, 1000000000]");
    c = d; c.tokens_per_second = INFINITY;
    budget_config_error(c, "seawall_retry_budget_new: invalid tokens_per_second = inf: must be a finite number in (0, 1000000000]");
    c = d; c.max_tokens = 1000000001u;
    budget_config_error(c, "seawall_retry_budget_new: invalid max_tokens = 1000000001: must be an integer in [0, 1000000000]");

    CHECK_RC(seawall_retry_budget_new(&d, NULL, NULL), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_LAST_ERROR("seawall_retry_budget_new: `out` is NULL");
    CHECK_RC(seawall_retry_budget_config_default(NULL), SEAWALL_RESULT_NULL_PARAMETER);
    const seawall_retry_budget *b = NULL;
    CHECK_OK(seawall_retry_budget_new(NULL, NULL, &b));
    CHECK_RC(seawall_retry_budget_record_attempt(NULL, false), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_LAST_ERROR("seawall_retry_budget_record_attempt: `budget` is NULL");
    bool allowed = true;
    CHECK_RC(seawall_retry_budget_can_retry(NULL, &allowed), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK(allowed == true);
    CHECK_RC(seawall_retry_budget_can_retry(b, NULL), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_LAST_ERROR("seawall_retry_budget_can_retry: `out_allowed` is NULL");
    /* The refused call took nothing: the bucket is still full. */
    CHECK(budget_counts(b).retries == 0 && budget_left(b) == 100.0);
    double pct = -2.0;
    CHECK_RC(seawall_retry_budget_remaining_percent(NULL, &pct), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK(pct == -2.0);
    CHECK_RC(seawall_retry_budget_remaining_percent(b, NULL), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_LAST_ERROR("seawall_retry_budget_remaining_percent: `out_percent` is NULL");
    _Alignas(8) unsigned char raw[16];
    CHECK_RC(seawall_retry_budget_remaining_percent(b, (double *)(void *)(raw + 1)), SEAWALL_RESULT_INVALID_ARGUMENT);
    CHECK_LAST_ERROR(misaligned_message("seawall_retry_budget_remaining_percent", "out_percent", raw + 1, 8));
    CHECK_RC(seawall_retry_budget_get_counts(b, NULL), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_RC(seawall_retry_budget_get_config(NULL, &d), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_RC(seawall_retry_budget_clone(b, NULL), SEAWALL_RESULT_NULL_PARAMETER);
    seawall_retry_budget_free(b);
}

#define BUDGET_CALLS 5000
#define BUDGET_FIRST 90000

struct budget_shared {
    const seawall_retry_budget *budget;
    int record; /* record attempts instead of asking for retries */
    atomic_int granted;
    atomic_int errors;
};

static void *budget_worker(void *arg) {
    struct budget_shared *s = (struct budget_shared *)arg;
    for (int i = 0; i < BUDGET_CALLS; i++) {
        if (s->record) {
            if (seawall_retry_budget_record_attempt(s->budget, i % 2 == 1) != SEAWALL_RESULT_OK)
                atomic_fetch_add(&s->errors, 1);
            continue;
        }
        bool allowed = false;
        if (seawall_retry_budget_can_retry(s->budget, &allowed) != SEAWALL_RESULT_OK)
            atomic_fetch_add(&s->errors, 1);
        else if (allowed)
            atomic_fetch_add(&s->granted, 1);
    }
    return NULL;
}

static void test_budget_threads(void) {
    const seawall_manual_clock *clock = NULL;
    CHECK_OK(seawall_manual_clock_new(&clock));
    CHECK_OK(seawall_manual_clock_set(clock, 1000 * NS_PER_S));
    seawall_retry_budget_config c;
    CHECK_OK(seawall_retry_budget_config_default(&c));
    struct budget_shared s;
    s.budget = NULL;
    atomic_init(&s.granted, 0);
    atomic_init(&s.errors, 0);

    /* Concurrent recording: every attempt counted. */
    CHECK_OK(seawall_retry_budget_new(&c, clock, &s.budget));
    s.record = 1;
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) CHECK(pthread_create(&t[i], NULL, budget_worker, &s) == 0);
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
    CHECK(budget_counts(s.budget).requests == THREADS * BUDGET_CALLS);
    CHECK(budget_counts(s.budget).retries == THREADS * BUDGET_CALLS / 2);
    seawall_retry_budget_free(s.budget);

    /* Concurrent asking: exactly 10% of the requests, never more. */
    CHECK_OK(seawall_retry_budget_new(&c, clock, &s.budget));
    for (int i = 0; i < BUDGET_FIRST; i++) seawall_retry_budget_record_attempt(s.budget, false);
    s.record = 0;
    for (int i = 0; i < THREADS; i++) CHECK(pthread_create(&t[i], NULL, budget_worker, &s) == 0);
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
    CHECK(atomic_load(&s.errors) == 0);
    CHECK(atomic_load(&s.granted) == BUDGET_FIRST / 9);
    CHECK(budget_counts(s.budget).requests == BUDGET_FIRST + BUDGET_FIRST / 9);
    CHECK(budget_counts(s.budget).retries == BUDGET_FIRST / 9);
    seawall_retry_budget_free(s.budget);
    seawall_manual_clock_free(clock);
}

/* --- retry back-off ------------------------------------------------------ */

static uint64_t delay(const seawall_retry_config *c, uint32_t attempt, uint64_t previous, double unit) {
    uint64_t d = UINT64_MAX;
    CHECK_OK(seawall_retry_delay(c, attempt, previous, unit, &d));
    return d;
}

static void test_retry_delays(void) {
    seawall_retry_config c;
    CHECK_OK(seawall_retry_config_default(&c));
    CHECK(c.strategy == SEAWALL_RETRY_STRATEGY_EXPONENTIAL_WITH_JITTER && c.max_attempts == 3);
    CHECK(c.initial_delay_ns == NS_PER_S && c.max_delay_ns == 60 * NS_PER_S);
    CHECK(c.exponential_base == 2.0 && c.jitter_factor == 0.1 && c.has_max_total_delay == 0);
    CHECK_OK(seawall_retry_config_validate(&c));
    /* The default: 1 s, 2 s, 4 s scaled by [0.9, 1.1). */
    CHECK(delay(&c, 1, 0, 0.5) == NS_PER_S);
    CHECK(delay(&c, 2, 0, 0.5) == 2 * NS_PER_S);
    CHECK(delay(&c, 3, 0, 0.0) == 4 * NS_PER_S * 9 / 10);
    CHECK(delay(&c, 3, 0, 0.75) == 4 * NS_PER_S * 105 / 100);
    CHECK(delay(&c, 20, 0, 0.5) == 60 * NS_PER_S); /* capped */

    c.initial_delay_ns = 100 * NS_PER_MS;
    c.max_delay_ns = 500 * NS_PER_MS;
    c.strategy = SEAWALL_RETRY_STRATEGY_FIXED;
    for (uint32_t n = 1; n <= 5; n++) CHECK(delay(&c, n, 0, 0.3) == 100 * NS_PER_MS);
    c.strategy = SEAWALL_RETRY_STRATEGY_LINEAR;
    CHECK(delay(&c, 1, 0, 0.3) == 100 * NS_PER_MS);
    CHECK(delay(&c, 3, 0, 0.3) == 300 * NS_PER_MS);
    CHECK(delay(&c, 9, 0, 0.3) == 500 * NS_PER_MS);
    c.strategy = SEAWALL_RETRY_STRATEGY_EXPONENTIAL;
    const uint64_t expo[] = {100, 200, 400, 500, 500};
    for (uint32_t n = 1; n <= 5; n++) CHECK(delay(&c, n, 0, 0.9) == expo[n - 1] * NS_PER_MS);
    c.strategy = SEAWALL_RETRY_STRATEGY_FIBONACCI;
    c.max_delay_ns = 10 * NS_PER_S;
    const uint64_t fib[] = {100, 100, 200, 300, 500, 800};
    for (uint32_t n = 1; n <= 6; n++) CHECK(delay(&c, n, 0, 0.9) == fib[n - 1] * NS_PER_MS);
    c.strategy = SEAWALL_RETRY_STRATEGY_DECORRELATED_JITTER;
    CHECK(delay(&c, 1, 0, 0.0) == 100 * NS_PER_MS);
    CHECK(delay(&c, 1, 0, 0.5) == 200 * NS_PER_MS);          /* [100 ms, 300 ms) */
    CHECK(delay(&c, 2, NS_PER_S, 0.5) == 1550 * NS_PER_MS);  /* [100 ms, 3 s) */
    uint64_t top = delay(&c, 3, 10 * NS_PER_S, 0.999999);    /* [100 ms, 10 s cap) */
    CHECK(top > 9 * NS_PER_S && top < 10 * NS_PER_S);
    /* Deterministic. */
    CHECK(delay(&c, 2, NS_PER_S, 0.123) == delay(&c, 2, NS_PER_S, 0.123));
}

static void retry_config_error(seawall_retry_config c, const char *want) {
    uint64_t d = 42;
    CHECK_RC(seawall_retry_delay(&c, 1, 0, 0.5, &d), SEAWALL_RESULT_INVALID_CONFIG);
    CHECK(d == 42);
    CHECK_LAST_ERROR(want);
    CHECK_RC(seawall_retry_config_validate(&c), SEAWALL_RESULT_INVALID_CONFIG);
}

static void test_retry_errors(void) {
    seawall_retry_config d, c;
    CHECK_OK(seawall_retry_config_default(&d));
    c = d; c.strategy = 6;
    retry_config_error(c, "seawall_retry_delay: invalid strategy = 6: must be a seawall_retry_strategy: SEAWALL_RETRY_STRATEGY_FIXED (0) to _DECORRELATED_JITTER (5)");
    c = d; c.max_attempts = 0;
    retry_config_error(c, "seawall_retry_delay: invalid max_attempts = 0: must be an integer in [1, 4294967295]");
    c = d; c.max_delay_ns = 500 * NS_PER_MS;
    retry_config_error(c, "seawall_retry_delay: invalid max_delay_ns = 500ms: must be a duration in [initial_delay, 365 days]");
    c = d; c.exponential_base = 0.5;
    retry_config_error(c, "seawall_retry_delay: invalid exponential_base = 0.5: must be a number in [1, 1000]");
    c = d; c.jitter_factor = 1.5;
    retry_config_error(c, "seawall_retry_delay: invalid jitter_factor = 1.5: must be a fraction in [0, 1]");
    c = d; c.has_max_total_delay = 1; c.max_total_delay_ns = 366ull * 24 * 3600 * NS_PER_S;
    retry_config_error(c, "seawall_retry_delay: invalid max_total_delay_ns = 31622400s: must be unset or a duration in [0, 365 days]");
    c = d; c.has_max_total_delay = 1; c.max_total_delay_ns = 0;
    CHECK_OK(seawall_retry_config_validate(&c));

    uint64_t out = 42;
    CHECK_RC(seawall_retry_delay(&d, 0, 0, 0.5, &out), SEAWALL_RESULT_INVALID_ARGUMENT);
    CHECK_LAST_ERROR("seawall_retry_delay: `attempt` = 0 is not in [1, 4294967295] (attempts are numbered from 1)");
    CHECK_RC(seawall_retry_delay(&d, 1, 0, 1.0, &out), SEAWALL_RESULT_INVALID_ARGUMENT);
    CHECK_LAST_ERROR("seawall_retry_delay: `unit` = 1 is not in [0, 1)");
    CHECK_RC(seawall_retry_delay(&d, 1, 0, -0.25, &out), SEAWALL_RESULT_INVALID_ARGUMENT);
    CHECK_LAST_ERROR("seawall_retry_delay: `unit` = -0.25 is not in [0, 1)");
    CHECK_RC(seawall_retry_delay(&d, 1, 0, NAN, &out), SEAWALL_RESULT_INVALID_ARGUMENT);
    CHECK_LAST_ERROR("seawall_retry_delay: `unit` = NaN is not in [0, 1)");
    CHECK(out == 42);
    CHECK_RC(seawall_retry_delay(NULL, 1, 0, 0.5, &out), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_LAST_ERROR("seawall_retry_delay: `config` is NULL");
    CHECK_RC(seawall_retry_delay(&d, 1, 0, 0.5, NULL), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_LAST_ERROR("seawall_retry_delay: `out_delay_ns` is NULL");
    CHECK_RC(seawall_retry_config_validate(NULL), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_RC(seawall_retry_config_default(NULL), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK(out == 42);
}

int main(void) {
    test_rate_defaults();
    test_rate_gcra();
    test_rate_reserve();
    test_rate_production_clock();
    test_rate_errors();
    test_rate_threads();
    test_bulkhead_defaults();
    test_bulkhead_permits();
    test_bulkhead_queue();
    test_bulkhead_manual_clock_moves_end_waits();
    test_bulkhead_errors();
    test_bulkhead_threads(0);
    test_bulkhead_threads(1);
    test_budget_defaults();
    test_budget_share();
    test_budget_tokens();
    test_budget_errors();
    test_budget_threads();
    test_retry_delays();
    test_retry_errors();
    return check_report("test_limits");
}

/* The bulkhead through the C ABI: its defaults, permits, the wait queue,
 * waits ended by moving a manual clock, every config error, and exact slot
 * counting under contention from pthreads (try and blocking acquires). */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "check.h"

#define THREADS 8

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

int main(void) {
    test_bulkhead_defaults();
    test_bulkhead_permits();
    test_bulkhead_queue();
    test_bulkhead_manual_clock_moves_end_waits();
    test_bulkhead_errors();
    test_bulkhead_threads(0);
    test_bulkhead_threads(1);
    return check_report("test_bulkhead");
}

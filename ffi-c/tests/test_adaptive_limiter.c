/* The adaptive limiter through the C ABI: its defaults, permits and their
 * misuse, the limit learnt from failures and successes (AIMD) and from
 * latency timed on a manual clock (gradient), every config error, and
 * exact counting under contention from pthreads. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>

#include "check.h"

#define THREADS 8
#define AL_CALLS 2000
#define AL_MAX 6

static uint32_t limit_of(const seawall_adaptive_limiter *l) {
    uint32_t n = UINT32_MAX;
    CHECK_OK(seawall_adaptive_limiter_limit(l, &n));
    return n;
}

static seawall_adaptive_metrics metrics_of_limiter(const seawall_adaptive_limiter *l) {
    seawall_adaptive_metrics m;
    memset(&m, 0xab, sizeof m);
    CHECK_OK(seawall_adaptive_limiter_metrics(l, &m));
    return m;
}

static void test_defaults(void) {
    seawall_adaptive_limiter_config c;
    CHECK_OK(seawall_adaptive_limiter_config_default(&c));
    CHECK(c.algorithm == SEAWALL_LIMIT_ALGORITHM_GRADIENT);
    CHECK(c.initial_limit == 20 && c.min_limit == 1 && c.max_limit == 200);
    CHECK(c.backoff_ratio == 0.9 && c.latency_threshold_ns == 5 * NS_PER_S);
    CHECK(c.tolerance == 1.5 && c.smoothing == 0.2 && c.queue_size == 4.0);
    CHECK(c.long_window == 600 && c.window_calls == 10 && c.window_ns == NS_PER_S);
    CHECK(c.timing == SEAWALL_TIMING_EXACT);
    const seawall_adaptive_limiter *l = NULL;
    CHECK_OK(seawall_adaptive_limiter_new(NULL, NULL, &l));
    seawall_adaptive_limiter_config got;
    memset(&got, 0xab, sizeof got);
    CHECK_OK(seawall_adaptive_limiter_get_config(l, &got));
    /* Field by field: the struct ends in 4 bytes of padding. */
    CHECK(got.algorithm == c.algorithm && got.initial_limit == c.initial_limit);
    CHECK(got.min_limit == c.min_limit && got.max_limit == c.max_limit);
    CHECK(got.backoff_ratio == c.backoff_ratio);
    CHECK(got.latency_threshold_ns == c.latency_threshold_ns);
    CHECK(got.tolerance == c.tolerance && got.smoothing == c.smoothing);
    CHECK(got.queue_size == c.queue_size && got.long_window == c.long_window);
    CHECK(got.window_calls == c.window_calls && got.window_ns == c.window_ns);
    CHECK(got.timing == c.timing);
    CHECK(limit_of(l) == 20);
    seawall_adaptive_limiter_free(l);
    seawall_adaptive_limiter_free(NULL);

    /* The cheap reading on the production clock: kept, and admitting. */
    c.timing = SEAWALL_TIMING_RECENT;
    CHECK_OK(seawall_adaptive_limiter_new(&c, NULL, &l));
    CHECK_OK(seawall_adaptive_limiter_get_config(l, &got));
    CHECK(got.timing == SEAWALL_TIMING_RECENT);
    seawall_adaptive_limiter_permit p;
    CHECK_OK(seawall_adaptive_limiter_try_acquire(l, &p));
    CHECK_OK(seawall_adaptive_limiter_release(l, &p, SEAWALL_OUTCOME_SUCCESS));
    seawall_adaptive_limiter_free(l);
}

static void test_permits_and_aimd(void) {
    seawall_adaptive_limiter_config c;
    CHECK_OK(seawall_adaptive_limiter_config_default(&c));
    c.algorithm = SEAWALL_LIMIT_ALGORITHM_AIMD;
    c.initial_limit = 2;
    c.min_limit = 1;
    c.max_limit = 4;
    c.backoff_ratio = 0.5;
    c.latency_threshold_ns = 100 * NS_PER_MS;
    const seawall_adaptive_limiter *l = NULL, *other = NULL;
    CHECK_OK(seawall_adaptive_limiter_new(&c, NULL, &l));
    CHECK_OK(seawall_adaptive_limiter_new(&c, NULL, &other));

    set_known_last_error();
    seawall_adaptive_limiter_permit p1, p2, p3, never, foreign;
    CHECK_OK(seawall_adaptive_limiter_try_acquire(l, &p1));
    CHECK_OK(seawall_adaptive_limiter_try_acquire(l, &p2));
    CHECK(p1.in_flight == 1 && p2.in_flight == 2);
    memset(&p3, 0x5a, sizeof p3);
    seawall_adaptive_limiter_permit before = p3;
    CHECK_RC(seawall_adaptive_limiter_try_acquire(l, &p3), SEAWALL_RESULT_BULKHEAD_FULL);
    CHECK(memcmp(&p3, &before, sizeof p3) == 0); /* nothing written */
    CHECK(seawall_last_error() == SEAWALL_RESULT_NULL_PARAMETER); /* an answer */

    CHECK_OK(seawall_adaptive_limiter_try_acquire(other, &foreign));
    CHECK_RC(seawall_adaptive_limiter_release(l, &foreign, SEAWALL_OUTCOME_SUCCESS),
             SEAWALL_RESULT_PERMIT_WRONG_BULKHEAD);
    CHECK_LAST_ERROR("seawall_adaptive_limiter_release: the permit was issued by another adaptive limiter");
    memset(&never, 0, sizeof never);
    CHECK_RC(seawall_adaptive_limiter_release(l, &never, SEAWALL_OUTCOME_SUCCESS),
             SEAWALL_RESULT_PERMIT_NOT_ISSUED);
    BAD(seawall_adaptive_limiter_release(l, &p1, 3), INVALID_ARGUMENT,
        "seawall_adaptive_limiter_release: `outcome` = 3 is not one of "
        "SEAWALL_OUTCOME_SUCCESS (0), _FAILURE (1), _IGNORED (2)");
    CHECK(metrics_of_limiter(l).in_flight == 2); /* nothing freed */

    /* p2 saw 2 in flight of 2: a success adds one. */
    CHECK_OK(seawall_adaptive_limiter_release_latency(l, &p2, SEAWALL_OUTCOME_SUCCESS, NS_PER_MS));
    CHECK(limit_of(l) == 3);
    CHECK_RC(seawall_adaptive_limiter_release(l, &p2, SEAWALL_OUTCOME_SUCCESS),
             SEAWALL_RESULT_PERMIT_ALREADY_RELEASED);
    CHECK_LAST_ERROR("seawall_adaptive_limiter_release: the permit was already released");
    /* A failure halves it (3 * 0.5 = 1.5, admitting 1). */
    CHECK_OK(seawall_adaptive_limiter_release(l, &p1, SEAWALL_OUTCOME_FAILURE));
    CHECK(limit_of(l) == 1);
    /* A slow success is a drop too; the floor holds. */
    CHECK_OK(seawall_adaptive_limiter_try_acquire(l, &p1));
    CHECK_OK(seawall_adaptive_limiter_release_latency(l, &p1, SEAWALL_OUTCOME_SUCCESS, NS_PER_S));
    CHECK(limit_of(l) == 1);
    /* Ignored teaches nothing. */
    CHECK_OK(seawall_adaptive_limiter_try_acquire(l, &p1));
    CHECK_OK(seawall_adaptive_limiter_release(l, &p1, SEAWALL_OUTCOME_IGNORED));
    seawall_adaptive_metrics m = metrics_of_limiter(l);
    CHECK(m.limit == 1 && m.in_flight == 0 && m.admitted == 4 && m.rejected == 1);

    const seawall_adaptive_limiter *l2 = NULL;
    CHECK_OK(seawall_adaptive_limiter_clone(l, &l2));
    CHECK(l2 == l);
    seawall_adaptive_limiter_free(l);
    CHECK(limit_of(l2) == 1);
    seawall_adaptive_limiter_free(l2);
    CHECK_OK(seawall_adaptive_limiter_release(other, &foreign, SEAWALL_OUTCOME_IGNORED));
    seawall_adaptive_limiter_free(other);
}

/* Gradient: calls timed on a manual clock. Ten times the latency shrinks
 * the limit; the healthy latency grows it back. */
static void test_gradient_on_a_manual_clock(void) {
    const seawall_manual_clock *clock = NULL;
    CHECK_OK(seawall_manual_clock_new(&clock));
    seawall_adaptive_limiter_config c;
    CHECK_OK(seawall_adaptive_limiter_config_default(&c));
    c.initial_limit = 10;
    c.window_calls = 5;
    c.window_ns = 0;
    const seawall_adaptive_limiter *l = NULL;
    CHECK_OK(seawall_adaptive_limiter_new(&c, clock, &l));
    uint64_t latency[] = {10 * NS_PER_MS, 100 * NS_PER_MS};
    uint32_t after[2];
    for (int phase = 0; phase < 2; phase++) {
        for (int round = 0; round < 30; round++) {
            /* Fill the limiter (not app-limited), then release in order:
             * each window's last call saw the most calls in flight. */
            seawall_adaptive_limiter_permit p[256];
            int n = 0;
            while (n < 256 && seawall_adaptive_limiter_try_acquire(l, &p[n]) == SEAWALL_RESULT_OK) n++;
            CHECK_OK(seawall_manual_clock_advance(clock, latency[phase]));
            for (int i = 0; i < n; i++)
                CHECK_OK(seawall_adaptive_limiter_release(l, &p[i], SEAWALL_OUTCOME_SUCCESS));
        }
        after[phase] = limit_of(l);
    }
    CHECK(after[0] > 10);
    CHECK(after[1] < after[0] && after[1] <= 9);
    seawall_adaptive_limiter_free(l);
    seawall_manual_clock_free(clock);
}

static void config_error(seawall_adaptive_limiter_config c, const char *want) {
    const seawall_adaptive_limiter *l = (const seawall_adaptive_limiter *)&c; /* sentinel */
    CHECK_RC(seawall_adaptive_limiter_new(&c, NULL, &l), SEAWALL_RESULT_INVALID_CONFIG);
    CHECK(l == (const seawall_adaptive_limiter *)&c);
    CHECK_LAST_ERROR(want);
}

static void test_errors(void) {
    seawall_adaptive_limiter_config d, c;
    CHECK_OK(seawall_adaptive_limiter_config_default(&d));
    c = d; c.algorithm = 7;
    config_error(c, "seawall_adaptive_limiter_new: invalid algorithm = 7: must be one of "
                    "SEAWALL_LIMIT_ALGORITHM_AIMD (0), _GRADIENT (1)");
    c = d; c.min_limit = 0;
    config_error(c, "seawall_adaptive_limiter_new: invalid min_limit = 0: must be an integer in [1, 16777215]");
    c = d; c.max_limit = 1u << 24;
    config_error(c, "seawall_adaptive_limiter_new: invalid max_limit = 16777216: must be an integer in [min_limit, 16777215]");
    c = d; c.initial_limit = 201;
    config_error(c, "seawall_adaptive_limiter_new: invalid initial_limit = 201: must be an integer in [min_limit, max_limit]");
    c = d; c.backoff_ratio = 1.0;
    config_error(c, "seawall_adaptive_limiter_new: invalid backoff_ratio = 1.0: must be a number in (0, 1)");
    c = d; c.smoothing = 0.0;
    config_error(c, "seawall_adaptive_limiter_new: invalid smoothing = 0.0: must be a number in (0, 1]");
    c = d; c.window_calls = 0;
    config_error(c, "seawall_adaptive_limiter_new: invalid window_calls = 0: must be an integer in [1, 65535]");
    c = d; c.timing = 2;
    config_error(c, "seawall_adaptive_limiter_new: invalid timing = 2: must be SEAWALL_TIMING_EXACT (0) "
                    "or SEAWALL_TIMING_RECENT (1)");

    CHECK_RC(seawall_adaptive_limiter_new(&d, NULL, NULL), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_LAST_ERROR("seawall_adaptive_limiter_new: `out` is NULL");
    CHECK_RC(seawall_adaptive_limiter_config_default(NULL), SEAWALL_RESULT_NULL_PARAMETER);

    const seawall_adaptive_limiter *l = NULL;
    CHECK_OK(seawall_adaptive_limiter_new(&d, NULL, &l));
    seawall_adaptive_limiter_permit p;
    CHECK_RC(seawall_adaptive_limiter_try_acquire(NULL, &p), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_LAST_ERROR("seawall_adaptive_limiter_try_acquire: `limiter` is NULL");
    CHECK_RC(seawall_adaptive_limiter_try_acquire(l, NULL), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_LAST_ERROR("seawall_adaptive_limiter_try_acquire: `out_permit` is NULL");
    CHECK_RC(seawall_adaptive_limiter_try_acquire(l, MIS(seawall_adaptive_limiter_permit)),
             SEAWALL_RESULT_INVALID_ARGUMENT);
    CHECK_LAST_ERROR(misaligned("seawall_adaptive_limiter_try_acquire", "out_permit", 8));
    CHECK(metrics_of_limiter(l).in_flight == 0); /* the failed acquires took nothing */
    CHECK_RC(seawall_adaptive_limiter_release(l, NULL, SEAWALL_OUTCOME_SUCCESS), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_LAST_ERROR("seawall_adaptive_limiter_release: `permit` is NULL");
    CHECK_RC(seawall_adaptive_limiter_release_latency(NULL, &p, SEAWALL_OUTCOME_SUCCESS, 0),
             SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_LAST_ERROR("seawall_adaptive_limiter_release_latency: `limiter` is NULL");
    CHECK_RC(seawall_adaptive_limiter_limit(l, NULL), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_LAST_ERROR("seawall_adaptive_limiter_limit: `out_limit` is NULL");
    CHECK_RC(seawall_adaptive_limiter_metrics(NULL, NULL), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_RC(seawall_adaptive_limiter_clone(l, NULL), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_RC(seawall_adaptive_limiter_get_config(l, NULL), SEAWALL_RESULT_NULL_PARAMETER);
    seawall_adaptive_limiter_free(l);
}

struct al_shared {
    const seawall_adaptive_limiter *limiter;
    atomic_int inside, max_inside, admitted, full, errors;
};

static void *al_worker(void *arg) {
    struct al_shared *s = (struct al_shared *)arg;
    for (int i = 0; i < AL_CALLS; i++) {
        seawall_adaptive_limiter_permit p;
        seawall_result rc = seawall_adaptive_limiter_try_acquire(s->limiter, &p);
        if (rc == SEAWALL_RESULT_BULKHEAD_FULL) {
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
        /* One call in ten fails: the limit moves while others acquire. */
        uint32_t outcome = i % 10 == 0 ? SEAWALL_OUTCOME_FAILURE : SEAWALL_OUTCOME_SUCCESS;
        if (seawall_adaptive_limiter_release_latency(s->limiter, &p, outcome, NS_PER_MS) != SEAWALL_RESULT_OK)
            atomic_fetch_add(&s->errors, 1);
        if (seawall_adaptive_limiter_release(s->limiter, &p, outcome) != SEAWALL_RESULT_PERMIT_ALREADY_RELEASED)
            atomic_fetch_add(&s->errors, 1);
    }
    return NULL;
}

/* Never more than the ceiling inside; every call accounted for; nothing
 * in flight at the end. */
static void test_threads(void) {
    seawall_adaptive_limiter_config c;
    CHECK_OK(seawall_adaptive_limiter_config_default(&c));
    c.algorithm = SEAWALL_LIMIT_ALGORITHM_AIMD;
    c.initial_limit = 3;
    c.min_limit = 2;
    c.max_limit = AL_MAX;
    struct al_shared s;
    s.limiter = NULL;
    atomic_init(&s.inside, 0);
    atomic_init(&s.max_inside, 0);
    atomic_init(&s.admitted, 0);
    atomic_init(&s.full, 0);
    atomic_init(&s.errors, 0);
    CHECK_OK(seawall_adaptive_limiter_new(&c, NULL, &s.limiter));
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) CHECK(pthread_create(&t[i], NULL, al_worker, &s) == 0);
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
    CHECK(atomic_load(&s.errors) == 0);
    CHECK(atomic_load(&s.max_inside) >= 1 && atomic_load(&s.max_inside) <= AL_MAX);
    CHECK(atomic_load(&s.admitted) + atomic_load(&s.full) == THREADS * AL_CALLS);
    seawall_adaptive_metrics m = metrics_of_limiter(s.limiter);
    CHECK(m.in_flight == 0);
    CHECK(m.admitted == (uint64_t)atomic_load(&s.admitted));
    CHECK(m.rejected == (uint64_t)atomic_load(&s.full));
    CHECK(m.limit >= 2 && m.limit <= AL_MAX);
    seawall_adaptive_limiter_free(s.limiter);
}

int main(void) {
    test_defaults();
    test_permits_and_aimd();
    test_gradient_on_a_manual_clock();
    test_errors();
    test_threads();
    return check_report("test_adaptive_limiter");
}

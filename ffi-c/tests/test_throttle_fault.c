/* The adaptive throttler and the fault injector through the C ABI: their
 * defaults, shedding by priority on a manual clock with a seeded draw, the
 * window forgetting, the injector off by default and switched at run time,
 * every config and argument error, and exact counts under pthreads. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "check.h"

#define THREADS 8
#define CALLS 2000

static seawall_throttler_metrics metrics(const seawall_throttler *t) {
    seawall_throttler_metrics m;
    memset(&m, 0xab, sizeof m);
    CHECK_OK(seawall_throttler_get_metrics(t, &m));
    return m;
}

static double probability(const seawall_throttler *t, uint32_t priority) {
    double p = -1.0;
    CHECK_OK(seawall_throttler_rejection_probability(t, priority, &p));
    return p;
}

static void test_throttler_sheds_low_priorities_first(void) {
    seawall_throttler_config c;
    CHECK_OK(seawall_throttler_config_default(&c));
    CHECK(c.k == 2.0 && c.max_rejection_probability == 1.0 && c.window_ns == 120 * NS_PER_S);
    const seawall_manual_clock *clock = NULL;
    CHECK_OK(seawall_manual_clock_new(&clock));
    const seawall_throttler *t = NULL;
    CHECK_OK(seawall_throttler_new_seeded(&c, clock, 42, &t));
    /* 40 of 100 accepted: low and normal are shed, high and critical not. */
    for (int i = 0; i < 100; i++) CHECK_OK(seawall_throttler_record(t, i % 5 < 2));
    CHECK(probability(t, SEAWALL_PRIORITY_CRITICAL) == 0.0);
    CHECK(probability(t, SEAWALL_PRIORITY_HIGH) == 0.0);
    CHECK(probability(t, SEAWALL_PRIORITY_NORMAL) > 0.19 && probability(t, SEAWALL_PRIORITY_NORMAL) < 0.2);
    CHECK(probability(t, SEAWALL_PRIORITY_LOW) > 0.39 && probability(t, SEAWALL_PRIORITY_LOW) < 0.4);
    double refused = -1.0;
    CHECK_OK(seawall_throttler_check(t, SEAWALL_PRIORITY_CRITICAL, &refused));
    CHECK(refused == 0.0);
    CHECK_OK(seawall_throttler_record(t, true));

    /* A backend that refuses everything: most calls are shed, each shed
     * call counted as a request. */
    CHECK_OK(seawall_throttler_reset(t));
    int shed = 0;
    for (int i = 0; i < 200; i++) {
        CHECK_OK(seawall_throttler_check(t, SEAWALL_PRIORITY_NORMAL, &refused));
        if (refused > 0.0) {
            CHECK(refused < 1.0);
            shed++;
        } else {
            CHECK_OK(seawall_throttler_record(t, false));
        }
    }
    seawall_throttler_metrics m = metrics(t);
    CHECK(m.requests == 200 && m.accepts == 0 && m.throttled == (uint64_t)shed && shed > 150);
    CHECK(m.rejection_probability > 0.9);
    /* The window forgets. */
    CHECK_OK(seawall_manual_clock_advance(clock, 131 * NS_PER_S));
    CHECK(probability(t, SEAWALL_PRIORITY_LOW) == 0.0);

    const seawall_throttler *t2 = NULL;
    CHECK_OK(seawall_throttler_clone(t, &t2));
    CHECK(t2 == t);
    seawall_throttler_free(t2);
    seawall_throttler_free(t);
    seawall_throttler_free(NULL);
    seawall_manual_clock_free(clock);
}

static void test_throttler_errors(void) {
    seawall_throttler_config c;
    CHECK_OK(seawall_throttler_config_default(&c));
    c.k = 0.5;
    const seawall_throttler *t = NULL;
    CHECK_RC(seawall_throttler_new(&c, NULL, &t), SEAWALL_RESULT_INVALID_CONFIG);
    CHECK(t == NULL);
    CHECK_LAST_ERROR("seawall_throttler_new: invalid k = 0.5: must be a number in [1, 1000]");
    CHECK_OK(seawall_throttler_new(NULL, NULL, &t));
    double p = -1.0;
    CHECK_RC(seawall_throttler_check(t, 4, &p), SEAWALL_RESULT_INVALID_ARGUMENT);
    CHECK(p == -1.0);
    CHECK_RC(seawall_throttler_check(t, SEAWALL_PRIORITY_LOW, NULL), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_RC(seawall_throttler_record(NULL, true), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK(metrics(t).requests == 0);
    seawall_throttler_free(t);
}

typedef struct {
    const seawall_throttler *t;
    atomic_int errors;
} throttle_shared;

static void *throttle_worker(void *arg) {
    throttle_shared *s = arg;
    for (int i = 0; i < CALLS; i++) {
        if (seawall_throttler_record(s->t, i % 2) != SEAWALL_RESULT_OK) atomic_fetch_add(&s->errors, 1);
    }
    return NULL;
}

static void test_throttler_threads(void) {
    const seawall_manual_clock *clock = NULL;
    CHECK_OK(seawall_manual_clock_new(&clock));
    throttle_shared s = {NULL, 0};
    CHECK_OK(seawall_throttler_new(NULL, clock, &s.t));
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) CHECK(pthread_create(&th[i], NULL, throttle_worker, &s) == 0);
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
    seawall_throttler_metrics m = metrics(s.t);
    CHECK(atomic_load(&s.errors) == 0);
    CHECK(m.requests == THREADS * CALLS && m.accepts == THREADS * CALLS / 2);
    seawall_throttler_free(s.t);
    seawall_manual_clock_free(clock);
}

static seawall_fault decide(const seawall_fault_injector *f) {
    seawall_fault d = {99, 99};
    CHECK_OK(seawall_fault_injector_decide(f, &d));
    return d;
}

static void test_fault_injector(void) {
    seawall_fault_config c;
    CHECK_OK(seawall_fault_config_default(&c));
    CHECK(c.enabled == 0 && c.error_rate == 0.0 && c.latency_max_ns == 0);
    c.error_rate = 1.0;
    const seawall_fault_injector *f = NULL;
    CHECK_OK(seawall_fault_injector_new_seeded(&c, 7, &f));
    /* Off by default. */
    CHECK(decide(f).kind == SEAWALL_FAULT_KIND_NONE);
    CHECK_OK(seawall_fault_injector_set_enabled(f, true));
    CHECK(decide(f).kind == SEAWALL_FAULT_KIND_ERROR);
    /* Reconfigured at run time: every call delayed by 10..20 ms. */
    c.enabled = 1;
    c.error_rate = 0.0;
    c.latency_rate = 1.0;
    c.latency_min_ns = 10000000;
    c.latency_max_ns = 20000000;
    CHECK_OK(seawall_fault_injector_configure(f, &c));
    seawall_fault d = decide(f);
    CHECK(d.kind == SEAWALL_FAULT_KIND_LATENCY && d.latency_ns >= 10000000 && d.latency_ns <= 20000000);
    /* A bad config changes nothing. */
    c.latency_min_ns = 30000000;
    CHECK_RC(seawall_fault_injector_configure(f, &c), SEAWALL_RESULT_INVALID_CONFIG);
    seawall_fault_config got;
    CHECK_OK(seawall_fault_injector_get_config(f, &got));
    CHECK(got.enabled == 1 && got.latency_rate == 1.0 && got.latency_min_ns == 10000000);
    CHECK_OK(seawall_fault_injector_set_enabled(f, false));
    CHECK(decide(f).kind == SEAWALL_FAULT_KIND_NONE);
    seawall_fault_metrics m;
    CHECK_OK(seawall_fault_injector_get_metrics(f, &m));
    CHECK(m.errors == 1 && m.results == 0 && m.latencies == 1);
    const seawall_fault_injector *f2 = NULL;
    CHECK_OK(seawall_fault_injector_clone(f, &f2));
    seawall_fault_injector_free(f2);
    seawall_fault_injector_free(f);
    seawall_fault_injector_free(NULL);

    c.error_rate = 0.7;
    c.result_rate = 0.7;
    CHECK_RC(seawall_fault_injector_new(&c, &f), SEAWALL_RESULT_INVALID_CONFIG);
    CHECK_RC(seawall_fault_injector_decide(NULL, &d), SEAWALL_RESULT_NULL_PARAMETER);
}

int main(void) {
    test_throttler_sheds_low_priorities_first();
    test_throttler_errors();
    test_throttler_threads();
    test_fault_injector();
    return check_report("test_throttle_fault");
}

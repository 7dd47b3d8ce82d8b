/* The retry budget through the C ABI: its defaults, the retry share, the
 * token bucket on a manual clock, every config error, and exact records and
 * grants under contention from pthreads. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "check.h"

#define THREADS 8

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

int main(void) {
    test_budget_defaults();
    test_budget_share();
    test_budget_tokens();
    test_budget_errors();
    test_budget_threads();
    return check_report("test_retry_budget");
}

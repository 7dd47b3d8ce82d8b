/* Hedging through the C ABI: the defaults, a call driven on a manual clock
 * (delay, budget draw, winner, losers), a call that may not be hedged, an
 * exhausted budget, the learnt delay, bad arguments, and one winner among
 * attempts reported at once from pthreads. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "check.h"

#define THREADS 8

static const seawall_hedge *fixed_hedge(const seawall_retry_budget *budget,
                                        const seawall_manual_clock *clock, uint32_t max_hedges,
                                        uint64_t delay_ns) {
    seawall_hedge_config c;
    CHECK_OK(seawall_hedge_config_default(&c));
    c.quantile = 0.0;
    c.max_hedges = max_hedges;
    c.delay_ns = delay_ns;
    c.min_delay_ns = 0;
    const seawall_hedge *h = NULL;
    CHECK_OK(seawall_hedge_new(&c, budget, clock, &h));
    return h;
}

static seawall_hedge_metrics metrics(const seawall_hedge *h) {
    seawall_hedge_metrics m;
    memset(&m, 0xab, sizeof m);
    CHECK_OK(seawall_hedge_get_metrics(h, &m));
    return m;
}

static seawall_hedge_decision may_hedge(seawall_hedge_call *call, uint64_t *value) {
    seawall_hedge_decision d = (seawall_hedge_decision)99;
    CHECK_OK(seawall_hedge_call_may_hedge(call, &d, value));
    return d;
}

static seawall_hedge_resolution record(seawall_hedge_call *call, uint32_t attempt, bool ok) {
    seawall_hedge_resolution r = (seawall_hedge_resolution)99;
    CHECK_OK(seawall_hedge_call_record(call, attempt, ok, &r));
    return r;
}

static void test_hedge_defaults(void) {
    seawall_hedge_config c;
    CHECK_OK(seawall_hedge_config_default(&c));
    CHECK(c.max_hedges == 1 && c.min_samples == 20 && c.quantile == 0.95);
    CHECK(c.delay_ns == 100 * NS_PER_MS && c.min_delay_ns == NS_PER_MS &&
          c.max_delay_ns == NS_PER_S && c.window_ns == 10 * NS_PER_S);
    const seawall_retry_budget *b = NULL;
    CHECK_OK(seawall_retry_budget_new(NULL, NULL, &b));
    const seawall_hedge *h = NULL;
    CHECK_OK(seawall_hedge_new(NULL, b, NULL, &h));
    seawall_retry_budget_free(b); /* the hedge keeps its own reference */
    uint64_t delay = 0;
    CHECK_OK(seawall_hedge_delay(h, &delay));
    CHECK(delay == 100 * NS_PER_MS); /* too few latencies: the fixed delay */
    seawall_hedge_free(h);
    seawall_hedge_free(NULL);
    seawall_hedge_call_free(NULL);
}

static void test_hedge_call(void) {
    const seawall_manual_clock *clock = NULL;
    CHECK_OK(seawall_manual_clock_new(&clock));
    const seawall_retry_budget *b = NULL;
    CHECK_OK(seawall_retry_budget_new(NULL, clock, &b));
    const seawall_hedge *h = fixed_hedge(b, clock, 2, 10 * NS_PER_MS);

    seawall_hedge_call *call = NULL;
    CHECK_OK(seawall_hedge_call_new(h, true, true, &call));
    uint64_t v = 0;
    CHECK_OK(seawall_hedge_call_next_delay(call, &v));
    CHECK(v == 10 * NS_PER_MS);
    CHECK(may_hedge(call, &v) == SEAWALL_HEDGE_DECISION_WAIT && v == 10 * NS_PER_MS);
    CHECK_OK(seawall_manual_clock_advance(clock, 10 * NS_PER_MS));
    CHECK(may_hedge(call, &v) == SEAWALL_HEDGE_DECISION_START && v == 1);
    CHECK_OK(seawall_manual_clock_advance(clock, 3 * NS_PER_MS));
    CHECK(record(call, 1, false) == SEAWALL_HEDGE_RESOLUTION_PENDING);
    CHECK(record(call, 0, true) == SEAWALL_HEDGE_RESOLUTION_WON);
    CHECK(may_hedge(call, &v) == SEAWALL_HEDGE_DECISION_DONE && v == 0);
    CHECK_OK(seawall_hedge_call_next_delay(call, &v));
    CHECK(v == UINT64_MAX);
    /* Reported twice, or never started: refused, nothing written. */
    seawall_hedge_resolution r = (seawall_hedge_resolution)99;
    CHECK_RC(seawall_hedge_call_record(call, 0, true, &r), SEAWALL_RESULT_INVALID_ARGUMENT);
    CHECK_LAST_ERROR("seawall_hedge_call_record: attempt 0 was never started or was reported "
                     "before");
    CHECK_RC(seawall_hedge_call_record(call, 2, true, &r), SEAWALL_RESULT_INVALID_ARGUMENT);
    CHECK((int)r == 99);
    seawall_hedge_call_free(call);

    seawall_hedge_metrics m = metrics(h);
    CHECK(m.calls == 1 && m.hedges == 1 && m.refused == 0 && m.wins == 0);
    seawall_retry_budget_counts c;
    CHECK_OK(seawall_retry_budget_get_counts(b, &c));
    CHECK(c.requests == 2 && c.retries == 1);

    /* Not idempotent: never hedged, nothing drawn. */
    CHECK_OK(seawall_hedge_call_new(h, false, true, &call));
    CHECK_OK(seawall_manual_clock_advance(clock, NS_PER_S));
    CHECK(may_hedge(call, &v) == SEAWALL_HEDGE_DECISION_DONE);
    CHECK(record(call, 0, false) == SEAWALL_HEDGE_RESOLUTION_FAILED);
    seawall_hedge_call_free(call);
    CHECK_OK(seawall_retry_budget_get_counts(b, &c));
    CHECK(c.requests == 3 && c.retries == 1);

    seawall_hedge_free(h);
    seawall_retry_budget_free(b);
    seawall_manual_clock_free(clock);
}

static void test_hedge_refused_by_the_budget(void) {
    const seawall_manual_clock *clock = NULL;
    CHECK_OK(seawall_manual_clock_new(&clock));
    seawall_retry_budget_config bc;
    CHECK_OK(seawall_retry_budget_config_default(&bc));
    bc.max_tokens = 0;
    bc.min_requests = 1000;
    const seawall_retry_budget *b = NULL;
    CHECK_OK(seawall_retry_budget_new(&bc, clock, &b));
    const seawall_hedge *h = fixed_hedge(b, clock, 3, 0);
    seawall_hedge_call *call = NULL;
    CHECK_OK(seawall_hedge_call_new(h, true, true, &call));
    uint64_t v = 7;
    CHECK(may_hedge(call, &v) == SEAWALL_HEDGE_DECISION_REFUSED && v == 0);
    CHECK(may_hedge(call, &v) == SEAWALL_HEDGE_DECISION_DONE);
    CHECK(record(call, 0, true) == SEAWALL_HEDGE_RESOLUTION_WON);
    seawall_hedge_call_free(call);
    seawall_hedge_metrics m = metrics(h);
    CHECK(m.calls == 1 && m.hedges == 0 && m.refused == 1);
    seawall_hedge_free(h);
    seawall_retry_budget_free(b);
    seawall_manual_clock_free(clock);
}

static void test_hedge_learnt_delay(void) {
    const seawall_manual_clock *clock = NULL;
    CHECK_OK(seawall_manual_clock_new(&clock));
    const seawall_retry_budget *b = NULL;
    CHECK_OK(seawall_retry_budget_new(NULL, clock, &b));
    seawall_hedge_config c;
    CHECK_OK(seawall_hedge_config_default(&c));
    c.quantile = 0.5;
    c.min_samples = 4;
    const seawall_hedge *h = NULL;
    CHECK_OK(seawall_hedge_new(&c, b, clock, &h));
    for (int i = 0; i < 4; i++) CHECK_OK(seawall_hedge_record_latency(h, 20 * NS_PER_MS));
    uint64_t delay = 0;
    CHECK_OK(seawall_hedge_delay(h, &delay));
    /* The bucket's upper edge: at most 1/8 above. */
    CHECK(delay >= 20 * NS_PER_MS && delay <= 20 * NS_PER_MS + 20 * NS_PER_MS / 8);
    seawall_hedge_free(h);
    seawall_retry_budget_free(b);
    seawall_manual_clock_free(clock);
}

static void test_hedge_errors(void) {
    const seawall_retry_budget *b = NULL;
    CHECK_OK(seawall_retry_budget_new(NULL, NULL, &b));
    const seawall_hedge *h = NULL;
    CHECK_RC(seawall_hedge_new(NULL, NULL, NULL, &h), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_LAST_ERROR("seawall_hedge_new: `budget` is NULL");
    seawall_hedge_config c;
    CHECK_OK(seawall_hedge_config_default(&c));
    c.max_hedges = 16;
    CHECK_RC(seawall_hedge_new(&c, b, NULL, &h), SEAWALL_RESULT_INVALID_CONFIG);
    CHECK(h == NULL);
    CHECK_OK(seawall_hedge_config_default(&c));
    c.quantile = 1.5;
    CHECK_RC(seawall_hedge_new(&c, b, NULL, &h), SEAWALL_RESULT_INVALID_CONFIG);
    CHECK_OK(seawall_hedge_new(NULL, b, NULL, &h));
    seawall_hedge_call *call = NULL;
    CHECK_RC(seawall_hedge_call_new(h, true, true, NULL), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_OK(seawall_hedge_call_new(h, true, true, &call));
    seawall_hedge_decision d;
    CHECK_RC(seawall_hedge_call_may_hedge(call, &d, NULL), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_RC(seawall_hedge_call_may_hedge(NULL, &d, NULL), SEAWALL_RESULT_NULL_PARAMETER);
    seawall_hedge_call_free(call);
    seawall_hedge_free(h);
    seawall_retry_budget_free(b);
}

struct race {
    seawall_hedge_call *call;
    uint32_t attempt;
    _Atomic int *won;
    _Atomic int *lost;
};

static void *report(void *arg) {
    struct race *r = arg;
    seawall_hedge_resolution res = record(r->call, r->attempt, true);
    if (res == SEAWALL_HEDGE_RESOLUTION_WON) atomic_fetch_add(r->won, 1);
    if (res == SEAWALL_HEDGE_RESOLUTION_LOST) atomic_fetch_add(r->lost, 1);
    return NULL;
}

/* All attempts of a call succeed at once on their own threads: one wins. */
static void test_hedge_threads(void) {
    const seawall_manual_clock *clock = NULL;
    CHECK_OK(seawall_manual_clock_new(&clock));
    /* Every attempt of every call may be a hedge: a share of 100%. */
    seawall_retry_budget_config bc;
    CHECK_OK(seawall_retry_budget_config_default(&bc));
    bc.budget_percent = 100.0;
    bc.min_requests = 0;
    const seawall_retry_budget *b = NULL;
    CHECK_OK(seawall_retry_budget_new(&bc, clock, &b));
    const seawall_hedge *h = fixed_hedge(b, clock, THREADS - 1, 0);
    for (int round = 0; round < 50; round++) {
        seawall_hedge_call *call = NULL;
        CHECK_OK(seawall_hedge_call_new(h, true, false, &call));
        uint64_t v = 0;
        for (uint32_t n = 1; n < THREADS; n++) {
            CHECK(may_hedge(call, &v) == SEAWALL_HEDGE_DECISION_START && v == n);
        }
        _Atomic int won = 0, lost = 0;
        pthread_t t[THREADS];
        struct race r[THREADS];
        for (uint32_t i = 0; i < THREADS; i++) {
            r[i] = (struct race){call, i, &won, &lost};
            CHECK(pthread_create(&t[i], NULL, report, &r[i]) == 0);
        }
        for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
        CHECK(atomic_load(&won) == 1 && atomic_load(&lost) == THREADS - 1);
        seawall_hedge_call_free(call);
    }
    seawall_hedge_metrics m = metrics(h);
    CHECK(m.calls == 50 && m.hedges == 50 * (THREADS - 1));
    seawall_hedge_free(h);
    seawall_retry_budget_free(b);
    seawall_manual_clock_free(clock);
}

int main(void) {
    test_hedge_defaults();
    test_hedge_call();
    test_hedge_refused_by_the_budget();
    test_hedge_learnt_delay();
    test_hedge_errors();
    test_hedge_threads();
    return check_report("test_hedge");
}

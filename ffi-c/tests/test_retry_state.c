/* The retry state machine (seawall_retry_state_*): the three-line loop,
 * exhaustion, non-retryable failures, the retry budget (the first attempt
 * recorded, grants charged, refusals once exhausted), delays against
 * seawall_retry_delay, seeded reproducible jitter, breaker rejections
 * waited for or stopped at, and the protocol (each attempt reported once).
 * Stops are answers: they leave the last error alone and write nothing but
 * the reason. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#include "check.h"

#define NS_PER_MS 1000000ull
#define NS_PER_S 1000000000ull

/* A policy of `strategy`: 100 ms first delay, 10 s cap, `attempts` in all. */
static seawall_retry_config policy(uint32_t strategy, uint32_t attempts) {
    seawall_retry_config c;
    CHECK_OK(seawall_retry_config_default(&c));
    c.strategy = strategy;
    c.max_attempts = attempts;
    c.initial_delay_ns = 100 * NS_PER_MS;
    c.max_delay_ns = 10 * NS_PER_S;
    c.jitter_factor = 0.5;
    return c;
}

static seawall_retry_state *state_new(const seawall_retry_config *c, uint64_t seed) {
    seawall_retry_state *s = NULL;
    CHECK_OK(seawall_retry_state_new(c, seed, &s));
    return s;
}

static uint32_t attempts_of(const seawall_retry_state *s) {
    uint32_t n = UINT32_MAX;
    CHECK_OK(seawall_retry_state_attempts(s, &n));
    return n;
}

static uint64_t total_of(const seawall_retry_state *s) {
    uint64_t t = UINT64_MAX;
    CHECK_OK(seawall_retry_state_total_delay(s, &t));
    return t;
}

/* Sets a last error no test expects, to see that answers leave it. */
static void mark_last_error(void) {
    CHECK_RC(seawall_breaker_config_default(NULL), SEAWALL_RESULT_NULL_PARAMETER);
}

#define MARK "seawall_breaker_config_default: `out` is NULL"

/* A dependency that fails `failures` times, then succeeds. */
static int failures_left;
static int call_dependency(uint32_t attempt) {
    (void)attempt;
    return failures_left-- > 0 ? -1 : 0;
}

static seawall_retry_budget_counts counts_of(const seawall_retry_budget *b) {
    seawall_retry_budget_counts c = {UINT64_MAX, UINT64_MAX};
    CHECK_OK(seawall_retry_budget_get_counts(b, &c));
    return c;
}

/* The README's loop, as a C caller writes it: a named policy, a retry
 * budget shared by the dependency's callers, a seeded state, and three
 * lines of loop. */
static int run_the_loop(const seawall_retry_budget *budget, int failures, uint32_t *attempts,
                        uint64_t *slept, seawall_retry_stop *stop_out) {
    seawall_retry_config rc;
    CHECK_OK(seawall_retry_policy_config(SEAWALL_RETRY_POLICY_NETWORK, &rc)); /* 4 attempts */
    seawall_retry_state *s = NULL;
    CHECK_OK(seawall_retry_state_new(&rc, 7, &s)); /* seed: reproducible jitter */
    failures_left = failures;
    bool retryable = true; /* classify the failure: is it worth retrying? */
    int ok = 0;
    uint32_t attempt = 0;
    uint64_t delay_ns;
    seawall_retry_stop stop = 99;
    *slept = 0;

    while (seawall_retry_state_begin(s, budget, &attempt) == SEAWALL_RESULT_OK) {
        if (call_dependency(attempt) == 0) { ok = 1; break; }
        if (seawall_retry_state_failed(s, retryable, budget, &delay_ns, &stop) != SEAWALL_RESULT_OK) break;
        *slept += delay_ns; /* sleep_ns(delay_ns) */
    }

    CHECK(total_of(s) == *slept);
    seawall_retry_state_free(s);
    *attempts = attempt;
    *stop_out = stop;
    return ok;
}

static void test_the_loop(void) {
    seawall_retry_budget_config bc;
    CHECK_OK(seawall_retry_budget_config_default(&bc));
    const seawall_retry_budget *budget = NULL;
    CHECK_OK(seawall_retry_budget_new(&bc, NULL, &budget));
    uint32_t attempts;
    uint64_t slept;
    seawall_retry_stop stop;

    /* Two failures, then a success on the third attempt: 0.5 s and 1 s of
     * back-off, each within the policy's 10% jitter. */
    CHECK(run_the_loop(budget, 2, &attempts, &slept, &stop));
    CHECK(attempts == 3 && stop == 99);
    CHECK(slept >= 1350 * NS_PER_MS && slept < 1650 * NS_PER_MS);
    /* The call counted once, each granted retry as a request and a retry. */
    seawall_retry_budget_counts c = counts_of(budget);
    CHECK(c.requests == 3 && c.retries == 2);

    /* Failing every time: the last of the 4 attempts stops the loop. */
    CHECK(!run_the_loop(budget, 100, &attempts, &slept, &stop));
    CHECK(attempts == 4 && stop == SEAWALL_RETRY_STOP_EXHAUSTED);
    CHECK(slept >= 3150 * NS_PER_MS && slept < 3850 * NS_PER_MS); /* 0.5 + 1 + 2 s, +-10% */
    seawall_retry_budget_free(budget);
}

static void test_exhaustion(void) {
    seawall_retry_config c = policy(SEAWALL_RETRY_STRATEGY_FIXED, 3);
    seawall_retry_state *s = state_new(&c, 0);
    CHECK(attempts_of(s) == 0 && total_of(s) == 0);
    uint32_t attempt = 0;
    uint64_t delay = 0;
    seawall_retry_stop stop = 99;
    for (uint32_t n = 1; n <= 2; n++) {
        CHECK_OK(seawall_retry_state_begin(s, NULL, &attempt));
        CHECK(attempt == n);
        CHECK_OK(seawall_retry_state_failed(s, true, NULL, &delay, &stop));
        CHECK(delay == 100 * NS_PER_MS && stop == 99);
    }
    CHECK_OK(seawall_retry_state_begin(s, NULL, &attempt));
    CHECK(attempt == 3);
    mark_last_error();
    delay = 42;
    CHECK_RC(seawall_retry_state_failed(s, true, NULL, &delay, &stop), SEAWALL_RESULT_RETRY_STOPPED);
    CHECK(stop == SEAWALL_RETRY_STOP_EXHAUSTED && delay == 42);
    CHECK(seawall_last_error() == SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_LAST_ERROR(MARK);
    CHECK(attempts_of(s) == 3 && total_of(s) == 200 * NS_PER_MS);
    /* The reason is optional. */
    CHECK_OK(seawall_retry_state_begin(s, NULL, NULL));
    CHECK_RC(seawall_retry_state_failed(s, true, NULL, &delay, NULL), SEAWALL_RESULT_RETRY_STOPPED);
    CHECK(attempts_of(s) == 4 && delay == 42);
    seawall_retry_state_free(s);
}

static void test_not_retryable(void) {
    seawall_retry_config c = policy(SEAWALL_RETRY_STRATEGY_FIXED, 10);
    seawall_retry_state *s = state_new(&c, 0);
    uint64_t delay = 42;
    seawall_retry_stop stop = 99;
    CHECK_OK(seawall_retry_state_begin(s, NULL, NULL));
    CHECK_RC(seawall_retry_state_failed(s, false, NULL, &delay, &stop), SEAWALL_RESULT_RETRY_STOPPED);
    CHECK(stop == SEAWALL_RETRY_STOP_NOT_RETRYABLE && delay == 42);
    CHECK(attempts_of(s) == 1 && total_of(s) == 0);
    seawall_retry_state_free(s);
}

static void test_delay_budget(void) {
    seawall_retry_config c = policy(SEAWALL_RETRY_STRATEGY_LINEAR, 10);
    c.has_max_total_delay = 1;
    c.max_total_delay_ns = 500 * NS_PER_MS; /* 100 + 200 fit, + 300 does not */
    seawall_retry_state *s = state_new(&c, 0);
    uint64_t delay = 0;
    seawall_retry_stop stop = 99;
    CHECK_OK(seawall_retry_state_begin(s, NULL, NULL));
    CHECK_OK(seawall_retry_state_failed(s, true, NULL, &delay, &stop));
    CHECK_OK(seawall_retry_state_begin(s, NULL, NULL));
    CHECK_OK(seawall_retry_state_failed(s, true, NULL, &delay, &stop));
    CHECK(delay == 200 * NS_PER_MS);
    CHECK_OK(seawall_retry_state_begin(s, NULL, NULL));
    CHECK_RC(seawall_retry_state_failed(s, true, NULL, &delay, &stop), SEAWALL_RESULT_RETRY_STOPPED);
    CHECK(stop == SEAWALL_RETRY_STOP_DELAY_BUDGET_EXHAUSTED && total_of(s) == 300 * NS_PER_MS);
    seawall_retry_state_free(s);
}


static void test_budget(void) {
    const seawall_manual_clock *clock = NULL;
    CHECK_OK(seawall_manual_clock_new(&clock));
    seawall_retry_budget_config bc;
    CHECK_OK(seawall_retry_budget_config_default(&bc));
    bc.min_requests = 1; /* the window's share decides from the first request */
    bc.budget_percent = 50.0;
    const seawall_retry_budget *b = NULL;
    CHECK_OK(seawall_retry_budget_new(&bc, clock, &b));

    seawall_retry_config c = policy(SEAWALL_RETRY_STRATEGY_FIXED, 10);
    seawall_retry_state *s = state_new(&c, 0);
    uint64_t delay = 0;
    seawall_retry_stop stop = 99;
    /* The first attempt is recorded as a request. */
    CHECK_OK(seawall_retry_state_begin(s, b, NULL));
    CHECK(counts_of(b).requests == 1 && counts_of(b).retries == 0);
    /* A granted retry is charged at once: (0 + 1) / (1 + 1) <= 50%. */
    CHECK_OK(seawall_retry_state_failed(s, true, b, &delay, &stop));
    CHECK(delay == 100 * NS_PER_MS);
    CHECK(counts_of(b).requests == 2 && counts_of(b).retries == 1);
    /* The retry itself is not recorded again. */
    CHECK_OK(seawall_retry_state_begin(s, b, NULL));
    CHECK(counts_of(b).requests == 2 && counts_of(b).retries == 1);
    /* (1 + 1) / (2 + 1) > 50%: refused, and nothing is charged. */
    mark_last_error();
    delay = 42;
    CHECK_RC(seawall_retry_state_failed(s, true, b, &delay, &stop), SEAWALL_RESULT_RETRY_STOPPED);
    CHECK(stop == SEAWALL_RETRY_STOP_BUDGET_EXHAUSTED && delay == 42);
    CHECK(counts_of(b).requests == 2 && counts_of(b).retries == 1);
    CHECK_LAST_ERROR(MARK);
    CHECK(attempts_of(s) == 2 && total_of(s) == 100 * NS_PER_MS);
    seawall_retry_state_free(s);

    /* A stop decided by the policy does not ask (or charge) the budget. */
    s = state_new(&c, 0);
    CHECK_OK(seawall_retry_state_begin(s, b, NULL));
    CHECK(counts_of(b).requests == 3);
    CHECK_RC(seawall_retry_state_failed(s, false, b, &delay, &stop), SEAWALL_RESULT_RETRY_STOPPED);
    CHECK(stop == SEAWALL_RETRY_STOP_NOT_RETRYABLE);
    CHECK(counts_of(b).requests == 3 && counts_of(b).retries == 1);
    seawall_retry_state_free(s);

    seawall_retry_budget_free(b);
    seawall_manual_clock_free(clock);
}

/* Every delay of a call that keeps failing, `n` at most. */
static size_t delays_of(const seawall_retry_config *c, uint64_t seed, uint64_t *out, size_t n) {
    seawall_retry_state *s = state_new(c, seed);
    size_t k = 0;
    uint64_t d;
    while (k < n) {
        CHECK_OK(seawall_retry_state_begin(s, NULL, NULL));
        if (seawall_retry_state_failed(s, true, NULL, &d, NULL) != SEAWALL_RESULT_OK) break;
        out[k++] = d;
    }
    seawall_retry_state_free(s);
    return k;
}

static void test_delays_are_the_pure_functions(void) {
    static const uint32_t exact[] = {SEAWALL_RETRY_STRATEGY_FIXED, SEAWALL_RETRY_STRATEGY_LINEAR,
                                     SEAWALL_RETRY_STRATEGY_EXPONENTIAL, SEAWALL_RETRY_STRATEGY_FIBONACCI};
    uint64_t got[16], want;
    /* Strategies without jitter: exactly seawall_retry_delay's. */
    for (size_t i = 0; i < sizeof exact / sizeof *exact; i++) {
        seawall_retry_config c = policy(exact[i], 12);
        size_t n = delays_of(&c, 5, got, 16);
        CHECK(n == 11);
        uint64_t previous = 0;
        for (size_t k = 0; k < n; k++) {
            CHECK_OK(seawall_retry_delay(&c, (uint32_t)k + 1, previous, 0.5, &want));
            CHECK(got[k] == want);
            previous = got[k];
        }
    }
    /* Jittered strategies: between the pure function's delays for the
     * smallest and the largest random number (it grows with the number). */
    static const uint32_t jittered[] = {SEAWALL_RETRY_STRATEGY_EXPONENTIAL_WITH_JITTER,
                                        SEAWALL_RETRY_STRATEGY_DECORRELATED_JITTER};
    const double below_one = nextafter(1.0, 0.0);
    for (size_t i = 0; i < 2; i++) {
        seawall_retry_config c = policy(jittered[i], 12);
        size_t n = delays_of(&c, 5, got, 16);
        CHECK(n == 11);
        uint64_t previous = 0, low, high;
        for (size_t k = 0; k < n; k++) {
            CHECK_OK(seawall_retry_delay(&c, (uint32_t)k + 1, previous, 0.0, &low));
            CHECK_OK(seawall_retry_delay(&c, (uint32_t)k + 1, previous, below_one, &high));
            CHECK(low <= got[k] && got[k] <= high);
            previous = got[k];
        }
    }
}

static void test_seeded_jitter_is_reproducible(void) {
    seawall_retry_config c = policy(SEAWALL_RETRY_STRATEGY_DECORRELATED_JITTER, 12);
    uint64_t a[16], b[16], other[16];
    size_t na = delays_of(&c, 42, a, 16);
    size_t nb = delays_of(&c, 42, b, 16);
    size_t no = delays_of(&c, 43, other, 16);
    CHECK(na == 11 && nb == 11 && no == 11);
    CHECK(memcmp(a, b, sizeof a[0] * na) == 0);
    CHECK(memcmp(a, other, sizeof a[0] * na) != 0);
    /* The jittered exponential's sequence for seed 42 (the core's
     * SeededRandom, SplitMix64) is pinned: the same on every run, build and
     * platform (a change here changes the delays every seeded caller
     * sleeps). */
    static const uint64_t pinned[11] = {
        124156487,  131982078,   311440452,  675352573,   860848269, 4378329844,
        4597793239, 10000000000, 8399310389, 10000000000, 7049018317,
    };
    c.strategy = SEAWALL_RETRY_STRATEGY_EXPONENTIAL_WITH_JITTER;
    na = delays_of(&c, 42, a, 16);
    CHECK(na == 11 && memcmp(a, pinned, sizeof pinned) == 0);
}

static void test_rejections(void) {
    seawall_retry_config c = policy(SEAWALL_RETRY_STRATEGY_FIXED, 4);
    c.max_delay_ns = NS_PER_S;
    seawall_retry_state *s = state_new(&c, 0);
    uint64_t wait = 42;
    seawall_retry_stop stop = 99;

    /* A trial announced within max_delay is waited for: the wait counts in
     * the total, not in the back-off schedule. */
    CHECK_OK(seawall_retry_state_begin(s, NULL, NULL));
    CHECK_OK(seawall_retry_state_rejected(s, 500 * NS_PER_MS, NULL, &wait, &stop));
    CHECK(wait == 500 * NS_PER_MS && stop == 99 && total_of(s) == 500 * NS_PER_MS);
    CHECK_OK(seawall_retry_state_begin(s, NULL, NULL));
    CHECK_OK(seawall_retry_state_failed(s, true, NULL, &wait, &stop));
    CHECK(wait == 100 * NS_PER_MS && total_of(s) == 600 * NS_PER_MS);
    /* Beyond max_delay, or none announced (forced open): stop. */
    CHECK_OK(seawall_retry_state_begin(s, NULL, NULL));
    wait = 42;
    mark_last_error();
    CHECK_RC(seawall_retry_state_rejected(s, NS_PER_S + 1, NULL, &wait, &stop),
             SEAWALL_RESULT_RETRY_STOPPED);
    CHECK(stop == SEAWALL_RETRY_STOP_REJECTED && wait == 42);
    CHECK_LAST_ERROR(MARK);
    seawall_retry_state_free(s);

    /* With a breaker: tripped on a manual clock, it announces its trial in
     * 800 ms, within max_delay; forced open, it announces none. */
    const seawall_manual_clock *clock = NULL;
    CHECK_OK(seawall_manual_clock_new(&clock));
    seawall_breaker_config bc;
    CHECK_OK(seawall_breaker_config_default(&bc));
    bc.failure_threshold = 1;
    bc.timeout_ns = 800 * NS_PER_MS;
    const seawall_breaker *b = NULL;
    CHECK_OK(seawall_breaker_new_with_clock("dep", &bc, clock, &b));
    seawall_permit p;
    CHECK_OK(seawall_breaker_try_acquire(b, &p, NULL));
    CHECK_OK(seawall_breaker_report_failure(b, &p));

    s = state_new(&c, 0);
    seawall_rejection why;
    CHECK_OK(seawall_retry_state_begin(s, NULL, NULL));
    CHECK_RC(seawall_breaker_try_acquire(b, &p, &why), SEAWALL_RESULT_REJECTED);
    CHECK_OK(seawall_retry_state_rejected(s, why.retry_after_ns, NULL, &wait, &stop));
    CHECK(wait == 800 * NS_PER_MS);
    CHECK_OK(seawall_manual_clock_advance(clock, wait));
    CHECK_OK(seawall_retry_state_begin(s, NULL, NULL));
    CHECK_OK(seawall_breaker_try_acquire(b, &p, &why)); /* the trial */
    CHECK_OK(seawall_breaker_report_success(b, &p));
    CHECK(attempts_of(s) == 2);

    CHECK_OK(seawall_breaker_force_open(b));
    CHECK_RC(seawall_breaker_try_acquire(b, &p, &why), SEAWALL_RESULT_REJECTED);
    CHECK(why.retry_after_ns == UINT64_MAX);
    CHECK_OK(seawall_retry_state_begin(s, NULL, NULL));
    CHECK_RC(seawall_retry_state_rejected(s, why.retry_after_ns, NULL, &wait, &stop),
             SEAWALL_RESULT_RETRY_STOPPED);
    CHECK(stop == SEAWALL_RETRY_STOP_REJECTED);
    /* The last attempt stops even when the trial is near. */
    CHECK_OK(seawall_retry_state_begin(s, NULL, NULL));
    CHECK(attempts_of(s) == 4);
    CHECK_RC(seawall_retry_state_rejected(s, 1, NULL, &wait, &stop), SEAWALL_RESULT_RETRY_STOPPED);
    CHECK(stop == SEAWALL_RETRY_STOP_EXHAUSTED);
    seawall_retry_state_free(s);
    seawall_breaker_free(b);
    seawall_manual_clock_free(clock);
}

static void test_each_attempt_is_reported_once(void) {
    seawall_retry_config c = policy(SEAWALL_RETRY_STRATEGY_FIXED, 10);
    seawall_retry_state *s = state_new(&c, 0);
    uint64_t delay = 42;
    seawall_retry_stop stop = 99;
    const char *failed = "seawall_retry_state_failed: no attempt in progress (begin each "
                         "attempt with seawall_retry_state_begin and report it once)";
    CHECK_RC(seawall_retry_state_failed(s, true, NULL, &delay, &stop), SEAWALL_RESULT_INVALID_ARGUMENT);
    CHECK_LAST_ERROR(failed);
    CHECK_OK(seawall_retry_state_begin(s, NULL, NULL));
    CHECK_OK(seawall_retry_state_failed(s, true, NULL, &delay, &stop));
    delay = 42;
    CHECK_RC(seawall_retry_state_failed(s, true, NULL, &delay, &stop), SEAWALL_RESULT_INVALID_ARGUMENT);
    CHECK_RC(seawall_retry_state_rejected(s, 1, NULL, &delay, &stop), SEAWALL_RESULT_INVALID_ARGUMENT);
    CHECK_LAST_ERROR("seawall_retry_state_rejected: no attempt in progress (begin each attempt "
                     "with seawall_retry_state_begin and report it once)");
    CHECK(delay == 42 && stop == 99);
    CHECK(attempts_of(s) == 1 && total_of(s) == 100 * NS_PER_MS);
    /* A refused report leaves the attempt in progress. */
    CHECK_OK(seawall_retry_state_begin(s, NULL, NULL));
    CHECK_RC(seawall_retry_state_failed(s, true, NULL, NULL, &stop), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_OK(seawall_retry_state_failed(s, true, NULL, &delay, &stop));
    seawall_retry_state_free(s);
    seawall_retry_state_free(NULL);
}

int main(void) {
    test_the_loop();
    test_exhaustion();
    test_not_retryable();
    test_delay_budget();
    test_budget();
    test_delays_are_the_pure_functions();
    test_seeded_jitter_is_reproducible();
    test_rejections();
    test_each_attempt_is_reported_once();
    return check_report("test_retry_state");
}

/* seawall_retry_delay over the whole uint32_t attempt range: for every
 * strategy and a table of configurations, delays never decrease as the
 * attempt grows (same unit, same previous delay), never leave
 * [lower bound, max_delay_ns], and the growing strategies stay at the cap
 * for attempts past INT32_MAX. The named policies
 * (seawall_retry_policy_config) and their values. Every strategy's delays
 * for a few attempts, and every config and argument error. */
#include <math.h>
#include <stdint.h>

#include "check.h"

#define YEAR_NS (365ull * 24 * 3600 * NS_PER_S)

static const uint32_t strategies[] = {
    SEAWALL_RETRY_STRATEGY_FIXED,     SEAWALL_RETRY_STRATEGY_LINEAR,
    SEAWALL_RETRY_STRATEGY_EXPONENTIAL, SEAWALL_RETRY_STRATEGY_FIBONACCI,
    SEAWALL_RETRY_STRATEGY_EXPONENTIAL_WITH_JITTER, SEAWALL_RETRY_STRATEGY_DECORRELATED_JITTER,
};

/* Ascending; the edges of int32_t and uint32_t included. */
static const uint32_t attempts[] = {
    1,          2,          3,          10,         31,         32,
    33,         63,         64,         65,         1000,       1001,
    65535,      65536,      INT32_MAX - 1, INT32_MAX, 0x80000000u, 0x80000001u,
    0x80000002u, UINT32_MAX - 1, UINT32_MAX,
};

struct setting {
    uint64_t initial_ns, max_ns;
    double base, jitter;
};

static const struct setting settings[] = {
    {NS_PER_S, 60 * NS_PER_S, 2.0, 0.1},         /* the defaults */
    {100 * NS_PER_MS, 500 * NS_PER_MS, 1000.0, 1.0},
    {1, YEAR_NS, 1.0, 0.5},                      /* base 1: flat exponential */
    {1, YEAR_NS, 1.5, 0.0},
    {0, 0, 2.0, 0.1},                            /* no delay at all */
    {0, YEAR_NS, 2.0, 0.1},
    {YEAR_NS - 1, YEAR_NS, 1000.0, 0.25},
    {YEAR_NS, YEAR_NS, 2.0, 1.0},
};

static const double units[] = {0.0, 0.5, 0.999999};
static const uint64_t previous[] = {0, 1, 7 * NS_PER_S, UINT64_MAX};

/* The smallest delay the strategy of `c` may give. */
static uint64_t lower_bound(const seawall_retry_config *c) {
    if (c->strategy == SEAWALL_RETRY_STRATEGY_EXPONENTIAL_WITH_JITTER) {
        uint64_t lo = (uint64_t)((double)c->initial_delay_ns * (1.0 - c->jitter_factor));
        return lo < c->initial_delay_ns ? lo : c->initial_delay_ns;
    }
    return c->initial_delay_ns;
}

static void test_monotone_and_bounded(void) {
    int cases = 0;
    for (size_t s = 0; s < sizeof strategies / sizeof *strategies; s++)
        for (size_t k = 0; k < sizeof settings / sizeof *settings; k++)
            for (size_t u = 0; u < sizeof units / sizeof *units; u++)
                for (size_t p = 0; p < sizeof previous / sizeof *previous; p++) {
                    seawall_retry_config c;
                    CHECK_OK(seawall_retry_config_default(&c));
                    c.strategy = strategies[s];
                    c.initial_delay_ns = settings[k].initial_ns;
                    c.max_delay_ns = settings[k].max_ns;
                    c.exponential_base = settings[k].base;
                    c.jitter_factor = settings[k].jitter;
                    uint64_t last = 0, lo = lower_bound(&c);
                    for (size_t a = 0; a < sizeof attempts / sizeof *attempts; a++) {
                        uint64_t d = UINT64_MAX;
                        CHECK_OK(seawall_retry_delay(&c, attempts[a], previous[p], units[u], &d));
                        cases++;
                        if (d < last || d < lo || d > c.max_delay_ns) {
                            fprintf(stderr,
                                    "strategy %u, setting %zu, unit %g, previous %llu: "
                                    "attempt %u gives %llu ns (previous attempt %llu ns, "
                                    "bounds [%llu, %llu])\n",
                                    (unsigned)c.strategy, k, units[u],
                                    (unsigned long long)previous[p], (unsigned)attempts[a],
                                    (unsigned long long)d, (unsigned long long)last,
                                    (unsigned long long)lo,
                                    (unsigned long long)c.max_delay_ns);
                            check_failures++;
                        }
                        last = d;
                    }
                }
    CHECK(cases == 6 * 8 * 3 * 4 * 21);
}

static uint64_t delay(const seawall_retry_config *c, uint32_t attempt, uint64_t previous, double unit) {
    uint64_t d = UINT64_MAX;
    CHECK_OK(seawall_retry_delay(c, attempt, previous, unit, &d));
    return d;
}

static void test_cap_past_int32(void) {
    seawall_retry_config c;
    CHECK_OK(seawall_retry_config_default(&c));
    c.strategy = SEAWALL_RETRY_STRATEGY_EXPONENTIAL;
    /* 1 s doubling, capped at 60 s, whatever the attempt number. */
    CHECK(delay(&c, 7, 0, 0.5) == 60 * NS_PER_S);
    CHECK(delay(&c, 0x80000000u, 0, 0.5) == 60 * NS_PER_S);
    CHECK(delay(&c, 0x80000001u, 0, 0.5) == 60 * NS_PER_S);
    CHECK(delay(&c, UINT32_MAX, 0, 0.5) == 60 * NS_PER_S);
    c.strategy = SEAWALL_RETRY_STRATEGY_EXPONENTIAL_WITH_JITTER;
    CHECK(delay(&c, 0x80000001u, 0, 0.5) == 60 * NS_PER_S);
    CHECK(delay(&c, UINT32_MAX, 0, 0.0) == 54 * NS_PER_S); /* 60 s * 0.9 */
    c.strategy = SEAWALL_RETRY_STRATEGY_LINEAR;
    CHECK(delay(&c, UINT32_MAX, 0, 0.5) == 60 * NS_PER_S);
    c.strategy = SEAWALL_RETRY_STRATEGY_FIBONACCI;
    CHECK(delay(&c, UINT32_MAX, 0, 0.5) == 60 * NS_PER_S);
    /* The exact largest delay: a year, to the nanosecond. */
    c.strategy = SEAWALL_RETRY_STRATEGY_LINEAR;
    c.initial_delay_ns = YEAR_NS - 3;
    c.max_delay_ns = YEAR_NS;
    CHECK(delay(&c, 1, 0, 0.5) == YEAR_NS - 3);
    CHECK(delay(&c, 2, 0, 0.5) == YEAR_NS);
    c.strategy = SEAWALL_RETRY_STRATEGY_FIXED;
    CHECK(delay(&c, UINT32_MAX, 0, 0.5) == YEAR_NS - 3);
}

static void test_attempt_zero_is_refused(void) {
    seawall_retry_config c;
    CHECK_OK(seawall_retry_config_default(&c));
    uint64_t d = 42;
    CHECK_RC(seawall_retry_delay(&c, 0, 0, 0.5, &d), SEAWALL_RESULT_INVALID_ARGUMENT);
    CHECK(d == 42);
    CHECK_LAST_ERROR("seawall_retry_delay: `attempt` = 0 is not in [1, 4294967295] (attempts are "
                     "numbered from 1)");
}

/* The named policies: the same table as Rust's RetryPolicy and Python's
 * RETRY_POLICIES (attempts = max_retries + 1). */
static void test_policies(void) {
    static const struct {
        uint32_t policy, strategy, attempts;
        uint64_t initial_ns, max_ns;
        double base;
    } want[] = {
        {SEAWALL_RETRY_POLICY_STANDARD, SEAWALL_RETRY_STRATEGY_EXPONENTIAL_WITH_JITTER, 4,
         NS_PER_S, 10 * NS_PER_S, 2.0},
        {SEAWALL_RETRY_POLICY_NETWORK, SEAWALL_RETRY_STRATEGY_EXPONENTIAL_WITH_JITTER, 4,
         500 * NS_PER_MS, 10 * NS_PER_S, 2.0},
        {SEAWALL_RETRY_POLICY_CONSERVATIVE, SEAWALL_RETRY_STRATEGY_EXPONENTIAL_WITH_JITTER, 3,
         2 * NS_PER_S, 20 * NS_PER_S, 1.5},
        {SEAWALL_RETRY_POLICY_DATABASE, SEAWALL_RETRY_STRATEGY_EXPONENTIAL_WITH_JITTER, 6,
         NS_PER_S, 30 * NS_PER_S, 1.5},
        {SEAWALL_RETRY_POLICY_WEBHOOK, SEAWALL_RETRY_STRATEGY_EXPONENTIAL, 4, 30 * NS_PER_S,
         300 * NS_PER_S, 2.0},
        {SEAWALL_RETRY_POLICY_VALIDATION, SEAWALL_RETRY_STRATEGY_EXPONENTIAL, 2, NS_PER_S,
         NS_PER_S, 1.0},
        {SEAWALL_RETRY_POLICY_CRITICAL, SEAWALL_RETRY_STRATEGY_EXPONENTIAL_WITH_JITTER, 11,
         100 * NS_PER_MS, 60 * NS_PER_S, 1.3},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        seawall_retry_config c;
        CHECK_OK(seawall_retry_policy_config(want[i].policy, &c));
        CHECK(c.strategy == want[i].strategy && c.max_attempts == want[i].attempts);
        CHECK(c.initial_delay_ns == want[i].initial_ns && c.max_delay_ns == want[i].max_ns);
        CHECK(c.exponential_base == want[i].base && c.jitter_factor == 0.1);
        CHECK(c.has_max_total_delay == 0);
        CHECK_OK(seawall_retry_config_validate(&c));
    }
    /* webhook: 30 s, 60 s, 120 s (no jitter: the unit does not matter). */
    seawall_retry_config c;
    CHECK_OK(seawall_retry_policy_config(SEAWALL_RETRY_POLICY_WEBHOOK, &c));
    CHECK(delay(&c, 3, 0, 0.9) == 120 * NS_PER_S);
    /* An unknown number is an error and writes nothing. */
    c.max_attempts = 42;
    CHECK_RC(seawall_retry_policy_config(7, &c), SEAWALL_RESULT_INVALID_ARGUMENT);
    CHECK(c.max_attempts == 42);
    CHECK_LAST_ERROR("seawall_retry_policy_config: `policy` = 7 is not a seawall_retry_policy: "
                     "SEAWALL_RETRY_POLICY_STANDARD (0) to _CRITICAL (6)");
    CHECK_RC(seawall_retry_policy_config(SEAWALL_RETRY_POLICY_NETWORK, NULL),
             SEAWALL_RESULT_NULL_PARAMETER);
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
    test_monotone_and_bounded();
    test_cap_past_int32();
    test_attempt_zero_is_refused();
    test_policies();
    test_retry_delays();
    test_retry_errors();
    return check_report("test_retry");
}

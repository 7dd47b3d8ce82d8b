/* Every bad input of every function of the rate limiter, the bulkhead, the
 * retry budget, the retry back-off and the retry state through the C ABI,
 * with the exact message each must leave. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#include "check.h"

static void test_rate_limiter_arguments(void) {
    seawall_rate_limit_config d, c;
    CHECK_OK(seawall_rate_limit_config_default(&d));
    const seawall_rate_limiter *l = NULL, *out = NULL;
    CHECK_OK(seawall_rate_limiter_new(&d, NULL, &l));
    uint64_t wait;

    BAD(seawall_rate_limit_config_default(NULL), NULL_PARAMETER,
        "seawall_rate_limit_config_default: `out` is NULL");
    BAD(seawall_rate_limiter_new(&d, NULL, NULL), NULL_PARAMETER, "seawall_rate_limiter_new: `out` is NULL");
    BAD(seawall_rate_limiter_new(MIS(seawall_rate_limit_config), NULL, &out), INVALID_ARGUMENT,
        misaligned("seawall_rate_limiter_new", "config", _Alignof(seawall_rate_limit_config)));
    BAD_PREFIX(seawall_rate_limiter_new(&d, MIS(const seawall_manual_clock), &out), INVALID_ARGUMENT,
               "seawall_rate_limiter_new: `clock` = 0x");
    c = d; c.rate = 0;
    BAD(seawall_rate_limiter_new(&c, NULL, &out), INVALID_CONFIG,
        "seawall_rate_limiter_new: invalid rate = 0: must be an integer in [1, 1000000000]");
    c = d; c.burst = 1000000001u;
    BAD(seawall_rate_limiter_new(&c, NULL, &out), INVALID_CONFIG,
        "seawall_rate_limiter_new: invalid burst = 1000000001: must be an integer in [1, 1000000000]");
    c = d; c.period_ns = 366ull * 24 * 3600 * 1000000000ull;
    BAD(seawall_rate_limiter_new(&c, NULL, &out), INVALID_CONFIG,
        "seawall_rate_limiter_new: invalid period_ns = 31622400s: must be a duration in (0, 365 days]");
    c = d; c.rate = 1; c.period_ns = 365ull * 24 * 3600 * 1000000000ull; c.burst = 101;
    BAD(seawall_rate_limiter_new(&c, NULL, &out), INVALID_CONFIG,
        "seawall_rate_limiter_new: invalid burst = 101: must be at most 100 years of calls at "
        "`rate` per `period`");
    c = d; c.timing = UINT32_MAX;
    BAD(seawall_rate_limiter_new(&c, NULL, &out), INVALID_CONFIG,
        "seawall_rate_limiter_new: invalid timing = 4294967295: must be SEAWALL_TIMING_EXACT "
        "(0) or SEAWALL_TIMING_RECENT (1)");
    BAD(seawall_rate_limiter_clone(NULL, &out), NULL_PARAMETER, "seawall_rate_limiter_clone: `limiter` is NULL");
    BAD(seawall_rate_limiter_clone(l, NULL), NULL_PARAMETER, "seawall_rate_limiter_clone: `out` is NULL");
    BAD(seawall_rate_limiter_check(NULL, &wait), NULL_PARAMETER, "seawall_rate_limiter_check: `limiter` is NULL");
    BAD(seawall_rate_limiter_check(l, MIS(uint64_t)), INVALID_ARGUMENT,
        misaligned("seawall_rate_limiter_check", "out_retry_after_ns", _Alignof(uint64_t)));
    BAD(seawall_rate_limiter_get_config(NULL, &c), NULL_PARAMETER,
        "seawall_rate_limiter_get_config: `limiter` is NULL");
    BAD(seawall_rate_limiter_get_config(l, NULL), NULL_PARAMETER, "seawall_rate_limiter_get_config: `out` is NULL");
    CHECK(out == NULL);
    seawall_rate_limiter_free(l);
}

static void test_bulkhead_arguments(void) {
    seawall_bulkhead_config d, c;
    CHECK_OK(seawall_bulkhead_config_default(&d));
    const seawall_bulkhead *h = NULL, *out = NULL;
    CHECK_OK(seawall_bulkhead_new(&d, NULL, &h));
    seawall_bulkhead_permit p, zero;
    memset(&zero, 0, sizeof zero);
    uint32_t count;

    BAD(seawall_bulkhead_config_default(NULL), NULL_PARAMETER, "seawall_bulkhead_config_default: `out` is NULL");
    BAD(seawall_bulkhead_new(&d, NULL, NULL), NULL_PARAMETER, "seawall_bulkhead_new: `out` is NULL");
    BAD(seawall_bulkhead_new(MIS(seawall_bulkhead_config), NULL, &out), INVALID_ARGUMENT,
        misaligned("seawall_bulkhead_new", "config", _Alignof(seawall_bulkhead_config)));
    c = d; c.max_concurrent = 0;
    BAD(seawall_bulkhead_new(&c, NULL, &out), INVALID_CONFIG,
        "seawall_bulkhead_new: invalid max_concurrent = 0: must be an integer in [1, 4294967295]");
    c = d; c.timeout_ns = UINT64_MAX;
    BAD(seawall_bulkhead_new(&c, NULL, &out), INVALID_CONFIG,
        "seawall_bulkhead_new: invalid timeout_ns = 18446744073.709551615s: must be a duration in "
        "[0, 365 days]");
    BAD(seawall_bulkhead_clone(NULL, &out), NULL_PARAMETER, "seawall_bulkhead_clone: `bulkhead` is NULL");
    BAD(seawall_bulkhead_clone(h, NULL), NULL_PARAMETER, "seawall_bulkhead_clone: `out` is NULL");
    BAD(seawall_bulkhead_try_acquire(NULL, &p), NULL_PARAMETER, "seawall_bulkhead_try_acquire: `bulkhead` is NULL");
    BAD(seawall_bulkhead_try_acquire(h, MIS(seawall_bulkhead_permit)), INVALID_ARGUMENT,
        misaligned("seawall_bulkhead_try_acquire", "out_permit", _Alignof(seawall_bulkhead_permit)));
    BAD(seawall_bulkhead_acquire_timeout(h, 0, NULL), NULL_PARAMETER,
        "seawall_bulkhead_acquire_timeout: `out_permit` is NULL");
    BAD(seawall_bulkhead_acquire(NULL, &p), NULL_PARAMETER, "seawall_bulkhead_acquire: `bulkhead` is NULL");
    BAD(seawall_bulkhead_release(NULL, &p), NULL_PARAMETER, "seawall_bulkhead_release: `bulkhead` is NULL");
    BAD(seawall_bulkhead_release(h, NULL), NULL_PARAMETER, "seawall_bulkhead_release: `permit` is NULL");
    BAD(seawall_bulkhead_release(h, MIS(seawall_bulkhead_permit)), INVALID_ARGUMENT,
        misaligned("seawall_bulkhead_release", "permit", _Alignof(seawall_bulkhead_permit)));
    BAD(seawall_bulkhead_release(h, &zero), PERMIT_NOT_ISSUED,
        "seawall_bulkhead_release: the permit was never issued by a successful acquire");
    BAD(seawall_bulkhead_available_permits(h, NULL), NULL_PARAMETER,
        "seawall_bulkhead_available_permits: `out_count` is NULL");
    BAD(seawall_bulkhead_available_permits(h, MIS(uint32_t)), INVALID_ARGUMENT,
        misaligned("seawall_bulkhead_available_permits", "out_count", _Alignof(uint32_t)));
    BAD(seawall_bulkhead_queue_size(NULL, &count), NULL_PARAMETER, "seawall_bulkhead_queue_size: `bulkhead` is NULL");
    BAD(seawall_bulkhead_get_config(h, NULL), NULL_PARAMETER, "seawall_bulkhead_get_config: `out` is NULL");
    CHECK(out == NULL);
    seawall_bulkhead_free(h);
}

static void test_budget_arguments(void) {
    seawall_retry_budget_config d, c;
    CHECK_OK(seawall_retry_budget_config_default(&d));
    const seawall_retry_budget *g = NULL, *out = NULL;
    CHECK_OK(seawall_retry_budget_new(&d, NULL, &g));
    bool allowed;
    double percent;
    seawall_retry_budget_counts counts;

    BAD(seawall_retry_budget_config_default(NULL), NULL_PARAMETER,
        "seawall_retry_budget_config_default: `out` is NULL");
    BAD(seawall_retry_budget_new(&d, NULL, NULL), NULL_PARAMETER, "seawall_retry_budget_new: `out` is NULL");
    BAD(seawall_retry_budget_new(MIS(seawall_retry_budget_config), NULL, &out), INVALID_ARGUMENT,
        misaligned("seawall_retry_budget_new", "config", _Alignof(seawall_retry_budget_config)));
    /* Every field: below, above, NaN and infinities where it is a double. */
    static const struct {
        int field;
        double value;
        const char *message;
    } rows[] = {
        {0, -1.0, "invalid budget_percent = -1.0: must be a number in [0, 100]"},
        {0, 100.5, "invalid budget_percent = 100.5: must be a number in [0, 100]"},
        {0, NAN, "invalid budget_percent = NaN: must be a number in [0, 100]"},
        {0, INFINITY, "invalid budget_percent = inf: must be a number in [0, 100]"},
        {1, 1000000001.0, "invalid min_requests = 1000000001: must be an integer in [0, 1000000000]"},
        {2, 9e6, "invalid window_size_ns = 9ms: must be a duration in [10 ms, 365 days]"},
        {2, 0.0, "invalid window_size_ns = 0ns: must be a duration in [10 ms, 365 days]"},
        {3, 0.0, "invalid tokens_per_second = 0.0: must be a finite number in (0, 1000000000]"},
        {3, -5.0, "invalid tokens_per_second = -5.0: must be a finite number in (0, 1000000000]"},
        {3, NAN, "invalid tokens_per_second = NaN: must be a finite number in (0, 1000000000]"},
        {3, INFINITY, "invalid tokens_per_second = inf: must be a finite number in (0, 1000000000]"},
        {3, 1e-9, "invalid tokens_per_second = 1e-9: must be fast enough to refill `max_tokens` within "
                  "100 years"},
        {4, 4294967295.0, "invalid max_tokens = 4294967295: must be an integer in [0, 1000000000]"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        c = d;
        switch (rows[i].field) {
        case 0: c.budget_percent = rows[i].value; break;
        case 1: c.min_requests = (uint32_t)rows[i].value; break;
        case 2: c.window_size_ns = (uint64_t)rows[i].value; break;
        case 3: c.tokens_per_second = rows[i].value; break;
        default: c.max_tokens = (uint32_t)rows[i].value; break;
        }
        char want[256];
        snprintf(want, sizeof want, "seawall_retry_budget_new: %s", rows[i].message);
        BAD(seawall_retry_budget_new(&c, NULL, &out), INVALID_CONFIG, want);
    }
    BAD(seawall_retry_budget_clone(NULL, &out), NULL_PARAMETER, "seawall_retry_budget_clone: `budget` is NULL");
    BAD(seawall_retry_budget_clone(g, NULL), NULL_PARAMETER, "seawall_retry_budget_clone: `out` is NULL");
    BAD(seawall_retry_budget_record_attempt(NULL, false), NULL_PARAMETER,
        "seawall_retry_budget_record_attempt: `budget` is NULL");
    BAD(seawall_retry_budget_can_retry(NULL, &allowed), NULL_PARAMETER,
        "seawall_retry_budget_can_retry: `budget` is NULL");
    BAD(seawall_retry_budget_can_retry(g, NULL), NULL_PARAMETER,
        "seawall_retry_budget_can_retry: `out_allowed` is NULL");
    BAD(seawall_retry_budget_remaining_percent(NULL, &percent), NULL_PARAMETER,
        "seawall_retry_budget_remaining_percent: `budget` is NULL");
    BAD(seawall_retry_budget_remaining_percent(g, MIS(double)), INVALID_ARGUMENT,
        misaligned("seawall_retry_budget_remaining_percent", "out_percent", _Alignof(double)));
    BAD(seawall_retry_budget_get_counts(NULL, &counts), NULL_PARAMETER,
        "seawall_retry_budget_get_counts: `budget` is NULL");
    BAD(seawall_retry_budget_get_counts(g, MIS(seawall_retry_budget_counts)), INVALID_ARGUMENT,
        misaligned("seawall_retry_budget_get_counts", "out", _Alignof(seawall_retry_budget_counts)));
    BAD(seawall_retry_budget_get_config(g, NULL), NULL_PARAMETER,
        "seawall_retry_budget_get_config: `out` is NULL");
    CHECK(out == NULL);
    seawall_retry_budget_free(g);
}

static void test_retry_arguments(void) {
    seawall_retry_config d, c;
    CHECK_OK(seawall_retry_config_default(&d));
    uint64_t delay = 42;
    const uint64_t year = 365ull * 24 * 3600 * 1000000000ull;

    BAD(seawall_retry_config_default(NULL), NULL_PARAMETER, "seawall_retry_config_default: `out` is NULL");
    BAD(seawall_retry_config_default(MIS(seawall_retry_config)), INVALID_ARGUMENT,
        misaligned("seawall_retry_config_default", "out", _Alignof(seawall_retry_config)));
    BAD(seawall_retry_config_validate(NULL), NULL_PARAMETER, "seawall_retry_config_validate: `config` is NULL");
    BAD(seawall_retry_delay(NULL, 1, 0, 0.5, &delay), NULL_PARAMETER, "seawall_retry_delay: `config` is NULL");
    BAD(seawall_retry_delay(MIS(seawall_retry_config), 1, 0, 0.5, &delay), INVALID_ARGUMENT,
        misaligned("seawall_retry_delay", "config", _Alignof(seawall_retry_config)));
    BAD(seawall_retry_delay(&d, 1, 0, 0.5, NULL), NULL_PARAMETER, "seawall_retry_delay: `out_delay_ns` is NULL");
    BAD(seawall_retry_delay(&d, 1, 0, 0.5, MIS(uint64_t)), INVALID_ARGUMENT,
        misaligned("seawall_retry_delay", "out_delay_ns", _Alignof(uint64_t)));
    BAD(seawall_retry_delay(&d, 0, 0, 0.5, &delay), INVALID_ARGUMENT,
        "seawall_retry_delay: `attempt` = 0 is not in [1, 4294967295] (attempts are numbered from 1)");
    static const double units[] = {1.0, -0.25, 2.5, NAN, INFINITY, -INFINITY};
    static const char *const unit_messages[] = {
        "seawall_retry_delay: `unit` = 1 is not in [0, 1)",
        "seawall_retry_delay: `unit` = -0.25 is not in [0, 1)",
        "seawall_retry_delay: `unit` = 2.5 is not in [0, 1)",
        "seawall_retry_delay: `unit` = NaN is not in [0, 1)",
        "seawall_retry_delay: `unit` = inf is not in [0, 1)",
        "seawall_retry_delay: `unit` = -inf is not in [0, 1)",
    };
    for (size_t i = 0; i < sizeof units / sizeof *units; i++)
        BAD(seawall_retry_delay(&d, 1, 0, units[i], &delay), INVALID_ARGUMENT, unit_messages[i]);

    /* Every config field, through both functions that judge a config. */
    struct row {
        seawall_retry_config c;
        const char *message;
    } rows[16];
    size_t nrows = 0;
#define ROW(assign, msg) do { c = d; assign; rows[nrows].c = c; rows[nrows].message = (msg); nrows++; } while (0)
    ROW(c.strategy = 6, "invalid strategy = 6: must be a seawall_retry_strategy: SEAWALL_RETRY_STRATEGY_FIXED (0) to _DECORRELATED_JITTER (5)");
    ROW(c.strategy = UINT32_MAX,
        "invalid strategy = 4294967295: must be a seawall_retry_strategy: SEAWALL_RETRY_STRATEGY_FIXED (0) to _DECORRELATED_JITTER (5)");
    ROW(c.max_attempts = 0, "invalid max_attempts = 0: must be an integer in [1, 4294967295]");
    ROW((c.initial_delay_ns = year + 1, c.max_delay_ns = year + 1),
        "invalid initial_delay_ns = 31536000.000000001s: must be a duration in [0, 365 days]");
    ROW(c.max_delay_ns = 999999999,
        "invalid max_delay_ns = 999.999999ms: must be a duration in [initial_delay, 365 days]");
    ROW(c.max_delay_ns = UINT64_MAX,
        "invalid max_delay_ns = 18446744073.709551615s: must be a duration in [initial_delay, 365 days]");
    ROW(c.exponential_base = 0.5, "invalid exponential_base = 0.5: must be a number in [1, 1000]");
    ROW(c.exponential_base = 1000.5, "invalid exponential_base = 1000.5: must be a number in [1, 1000]");
    ROW(c.exponential_base = NAN, "invalid exponential_base = NaN: must be a number in [1, 1000]");
    ROW(c.exponential_base = INFINITY, "invalid exponential_base = inf: must be a number in [1, 1000]");
    ROW(c.jitter_factor = -0.1, "invalid jitter_factor = -0.1: must be a fraction in [0, 1]");
    ROW(c.jitter_factor = NAN, "invalid jitter_factor = NaN: must be a fraction in [0, 1]");
    ROW(c.jitter_factor = 1.5, "invalid jitter_factor = 1.5: must be a fraction in [0, 1]");
    ROW((c.has_max_total_delay = 1, c.max_total_delay_ns = year + 1),
        "invalid max_total_delay_ns = 31536000.000000001s: must be unset or a duration in [0, 365 days]");
#undef ROW
    for (size_t i = 0; i < nrows; i++) {
        char want[256];
        snprintf(want, sizeof want, "seawall_retry_config_validate: %s", rows[i].message);
        BAD(seawall_retry_config_validate(&rows[i].c), INVALID_CONFIG, want);
        snprintf(want, sizeof want, "seawall_retry_delay: %s", rows[i].message);
        BAD(seawall_retry_delay(&rows[i].c, 1, 0, 0.5, &delay), INVALID_CONFIG, want);
    }
    CHECK(delay == 42);
}

static void test_retry_state_arguments(void) {
    seawall_retry_config d, c;
    CHECK_OK(seawall_retry_config_default(&d));
    seawall_retry_state *s = NULL, *out = NULL;
    CHECK_OK(seawall_retry_state_new(&d, 7, &s));
    const seawall_retry_budget *g = NULL;
    CHECK_OK(seawall_retry_budget_new(NULL, NULL, &g));
    uint32_t attempt = 42;
    uint64_t ns = 42;
    seawall_retry_stop stop = 42;

    BAD(seawall_retry_state_new(NULL, 0, &out), NULL_PARAMETER,
        "seawall_retry_state_new: `config` is NULL");
    BAD(seawall_retry_state_new(MIS(seawall_retry_config), 0, &out), INVALID_ARGUMENT,
        misaligned("seawall_retry_state_new", "config", _Alignof(seawall_retry_config)));
    BAD(seawall_retry_state_new(&d, 0, NULL), NULL_PARAMETER, "seawall_retry_state_new: `out` is NULL");
    BAD(seawall_retry_state_new(&d, 0, MIS(seawall_retry_state *)), INVALID_ARGUMENT,
        misaligned("seawall_retry_state_new", "out", sizeof(void *)));
    c = d; c.max_attempts = 0;
    BAD(seawall_retry_state_new(&c, 0, &out), INVALID_CONFIG,
        "seawall_retry_state_new: invalid max_attempts = 0: must be an integer in [1, 4294967295]");
    c = d; c.strategy = 6;
    BAD(seawall_retry_state_new(&c, 0, &out), INVALID_CONFIG,
        "seawall_retry_state_new: invalid strategy = 6: must be a seawall_retry_strategy: SEAWALL_RETRY_STRATEGY_FIXED (0) to _DECORRELATED_JITTER (5)");
    CHECK(out == NULL);

    BAD(seawall_retry_state_begin(NULL, NULL, &attempt), NULL_PARAMETER,
        "seawall_retry_state_begin: `state` is NULL");
    BAD_PREFIX(seawall_retry_state_begin(MIS(seawall_retry_state), NULL, &attempt), INVALID_ARGUMENT,
               "seawall_retry_state_begin: `state` = 0x");
    BAD_PREFIX(seawall_retry_state_begin(s, MIS(const seawall_retry_budget), &attempt),
               INVALID_ARGUMENT, "seawall_retry_state_begin: `budget` = 0x");
    BAD(seawall_retry_state_begin(s, g, MIS(uint32_t)), INVALID_ARGUMENT,
        misaligned("seawall_retry_state_begin", "out_attempt", _Alignof(uint32_t)));

    BAD(seawall_retry_state_failed(NULL, true, NULL, &ns, &stop), NULL_PARAMETER,
        "seawall_retry_state_failed: `state` is NULL");
    BAD_PREFIX(seawall_retry_state_failed(MIS(seawall_retry_state), true, NULL, &ns, &stop),
               INVALID_ARGUMENT, "seawall_retry_state_failed: `state` = 0x");
    BAD_PREFIX(seawall_retry_state_failed(s, true, MIS(const seawall_retry_budget), &ns, &stop),
               INVALID_ARGUMENT, "seawall_retry_state_failed: `budget` = 0x");
    BAD(seawall_retry_state_failed(s, true, NULL, NULL, &stop), NULL_PARAMETER,
        "seawall_retry_state_failed: `out_delay_ns` is NULL");
    BAD(seawall_retry_state_failed(s, true, NULL, MIS(uint64_t), &stop), INVALID_ARGUMENT,
        misaligned("seawall_retry_state_failed", "out_delay_ns", _Alignof(uint64_t)));
    BAD(seawall_retry_state_failed(s, true, NULL, &ns, MIS(seawall_retry_stop)), INVALID_ARGUMENT,
        misaligned("seawall_retry_state_failed", "out_stop", _Alignof(seawall_retry_stop)));
    BAD(seawall_retry_state_failed(s, true, g, &ns, &stop), INVALID_ARGUMENT,
        "seawall_retry_state_failed: no attempt in progress (begin each attempt with "
        "seawall_retry_state_begin and report it once)");

    BAD(seawall_retry_state_rejected(NULL, 1, NULL, &ns, &stop), NULL_PARAMETER,
        "seawall_retry_state_rejected: `state` is NULL");
    BAD_PREFIX(seawall_retry_state_rejected(s, 1, MIS(const seawall_retry_budget), &ns, &stop),
               INVALID_ARGUMENT, "seawall_retry_state_rejected: `budget` = 0x");
    BAD(seawall_retry_state_rejected(s, 1, NULL, NULL, &stop), NULL_PARAMETER,
        "seawall_retry_state_rejected: `out_wait_ns` is NULL");
    BAD(seawall_retry_state_rejected(s, 1, NULL, MIS(uint64_t), &stop), INVALID_ARGUMENT,
        misaligned("seawall_retry_state_rejected", "out_wait_ns", _Alignof(uint64_t)));
    BAD(seawall_retry_state_rejected(s, 1, NULL, &ns, MIS(seawall_retry_stop)), INVALID_ARGUMENT,
        misaligned("seawall_retry_state_rejected", "out_stop", _Alignof(seawall_retry_stop)));
    BAD(seawall_retry_state_rejected(s, 1, NULL, &ns, &stop), INVALID_ARGUMENT,
        "seawall_retry_state_rejected: no attempt in progress (begin each attempt with "
        "seawall_retry_state_begin and report it once)");

    BAD(seawall_retry_state_attempts(NULL, &attempt), NULL_PARAMETER,
        "seawall_retry_state_attempts: `state` is NULL");
    BAD(seawall_retry_state_attempts(s, NULL), NULL_PARAMETER,
        "seawall_retry_state_attempts: `out_attempts` is NULL");
    BAD(seawall_retry_state_attempts(s, MIS(uint32_t)), INVALID_ARGUMENT,
        misaligned("seawall_retry_state_attempts", "out_attempts", _Alignof(uint32_t)));
    BAD(seawall_retry_state_total_delay(NULL, &ns), NULL_PARAMETER,
        "seawall_retry_state_total_delay: `state` is NULL");
    BAD(seawall_retry_state_total_delay(s, NULL), NULL_PARAMETER,
        "seawall_retry_state_total_delay: `out_ns` is NULL");
    BAD(seawall_retry_state_total_delay(s, MIS(uint64_t)), INVALID_ARGUMENT,
        misaligned("seawall_retry_state_total_delay", "out_ns", _Alignof(uint64_t)));

    /* No refused call wrote an output, began an attempt or touched the
     * budget. */
    CHECK(attempt == 42 && ns == 42 && stop == 42);
    CHECK_OK(seawall_retry_state_attempts(s, &attempt));
    CHECK_OK(seawall_retry_state_total_delay(s, &ns));
    CHECK(attempt == 0 && ns == 0);
    seawall_retry_budget_counts counts;
    CHECK_OK(seawall_retry_budget_get_counts(g, &counts));
    CHECK(counts.requests == 0 && counts.retries == 0);
    seawall_retry_state_free(s);
    seawall_retry_state_free(NULL);
    seawall_retry_budget_free(g);
}

int main(void) {
    test_rate_limiter_arguments();
    test_bulkhead_arguments();
    test_budget_arguments();
    test_retry_arguments();
    test_retry_state_arguments();
    return check_report("test_errors_engines");
}

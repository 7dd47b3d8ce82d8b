/* The breaker at the edges of its ranges through the C ABI: thresholds far
 * beyond a small packed field, the one joint limit on the HALF_OPEN
 * bookkeeping (refused with a message naming both fields), a permit held
 * across 2^20 state changes, and a manual clock at the end of its range. */
#include <stdint.h>

#include "check.h"

#define SEC 1000000000ull

static const seawall_breaker *make(seawall_breaker_config *c, const seawall_manual_clock *clock) {
    const seawall_breaker *b = NULL;
    CHECK_OK(seawall_breaker_new_with_clock("edge", c, clock, &b));
    return b;
}

static void fail_once(const seawall_breaker *b) {
    seawall_permit p;
    CHECK_OK(seawall_breaker_try_acquire(b, &p, NULL));
    CHECK_OK(seawall_breaker_report_failure(b, &p));
}

static void test_large_thresholds(void) {
    const seawall_manual_clock *clock = NULL;
    CHECK_OK(seawall_manual_clock_new(&clock));
    seawall_breaker_config c;
    CHECK_OK(seawall_breaker_config_default(&c));
    c.failure_threshold = UINT32_MAX;
    c.success_threshold = 2147483647u;
    const seawall_breaker *b = make(&c, clock);
    for (int i = 0; i < 5000; i++) fail_once(b);
    CHECK(state_of(b) == SEAWALL_STATE_CLOSED);
    CHECK(metrics_of(b).consecutive_failures == 5000);
    seawall_breaker_free(b);

    c.failure_threshold = 5000;
    b = make(&c, clock);
    for (int i = 0; i < 4999; i++) fail_once(b);
    CHECK(state_of(b) == SEAWALL_STATE_CLOSED);
    fail_once(b);
    CHECK(state_of(b) == SEAWALL_STATE_OPEN);
    seawall_breaker_free(b);
    seawall_manual_clock_free(clock);
}

static void test_joint_trial_limit_is_named(void) {
    seawall_breaker_config c;
    CHECK_OK(seawall_breaker_config_default(&c));
    c.success_threshold = 2147483647u;
    c.half_open_max_calls = 1000000;
    const seawall_breaker *b = NULL;
    CHECK_RC(seawall_breaker_new("too-wide", &c, &b), SEAWALL_RESULT_INVALID_CONFIG);
    CHECK(b == NULL);
    char msg[512];
    seawall_last_error_message(msg, sizeof msg, NULL);
    CHECK(strstr(msg, "half_open_max_calls = 1000000 (with success_threshold = 2147483647)") != NULL);
    CHECK(strstr(msg, "36 bits") != NULL);
}

static void test_permit_held_across_a_generation_cycle_is_late(void) {
    const seawall_manual_clock *clock = NULL;
    CHECK_OK(seawall_manual_clock_new(&clock));
    seawall_breaker_config c;
    CHECK_OK(seawall_breaker_config_default(&c));
    c.failure_threshold = 1;
    const seawall_breaker *b = make(&c, clock);
    seawall_permit stale;
    CHECK_OK(seawall_breaker_try_acquire(b, &stale, NULL));
    for (long i = 0; i < (1L << 20); i++) CHECK_OK(seawall_breaker_reset(b));
    CHECK_OK(seawall_breaker_report_failure(b, &stale));
    CHECK(state_of(b) == SEAWALL_STATE_CLOSED);
    seawall_metrics m = metrics_of(b);
    CHECK(m.late == 1 && m.failures == 0);
    seawall_breaker_free(b);
    seawall_manual_clock_free(clock);
}

static void test_clock_at_the_end_of_its_range(void) {
    const seawall_manual_clock *clock = NULL;
    CHECK_OK(seawall_manual_clock_new(&clock));
    seawall_breaker_config c;
    CHECK_OK(seawall_breaker_config_default(&c));
    c.failure_threshold = 1;
    c.success_threshold = 1;
    c.timeout_ns = 60 * SEC;
    const seawall_breaker *b = make(&c, clock);
    CHECK_OK(seawall_manual_clock_set(clock, UINT64_MAX - 1000));
    fail_once(b);
    seawall_permit p;
    seawall_rejection why;
    CHECK_RC(seawall_breaker_try_acquire(b, &p, &why), SEAWALL_RESULT_REJECTED);
    CHECK(why.state == SEAWALL_STATE_OPEN && why.retry_after_ns > 0 && why.retry_after_ns <= 1000);
    CHECK_OK(seawall_manual_clock_advance(clock, 60 * SEC));
    CHECK_OK(seawall_breaker_try_acquire(b, &p, NULL));
    CHECK_OK(seawall_manual_clock_advance(clock, 3600 * SEC));
    CHECK_OK(seawall_breaker_report_success(b, &p));
    CHECK(state_of(b) == SEAWALL_STATE_CLOSED);
    seawall_breaker_free(b);
    seawall_manual_clock_free(clock);
}

int main(void) {
    test_large_thresholds();
    test_joint_trial_limit_is_named();
    test_permit_held_across_a_generation_cycle_is_late();
    test_clock_at_the_end_of_its_range();
    return check_report("test_extremes");
}

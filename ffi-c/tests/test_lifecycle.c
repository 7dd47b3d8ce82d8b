/* The full life of breakers and a registry through the C ABI, on a manual
 * clock: create, protect calls, trip, reject, recover, force, reset, read
 * metrics, receive transitions, and release every handle (LeakSanitizer
 * checks that nothing is left behind). */
#include <stdint.h>

#include "check.h"

#define SEC 1000000000ull

struct event {
    char name[32];
    seawall_state from, to;
    uint64_t at_ns;
};

struct events {
    struct event list[16];
    int count;
};

static void on_transition(void *user_data, const char *name, seawall_state from,
                          seawall_state to, uint64_t at_ns) {
    struct events *ev = (struct events *)user_data;
    if (ev->count < 16) {
        struct event *e = &ev->list[ev->count];
        snprintf(e->name, sizeof e->name, "%s", name);
        e->from = from;
        e->to = to;
        e->at_ns = at_ns;
    }
    ev->count++;
}

/* A listener that uses the breaker it listens to, from inside the
 * callback: the state it reads is the one just entered. */
struct reentrant {
    const seawall_breaker *breaker;
    int calls;
    int mismatches;
};

static void read_state_inside(void *user_data, const char *name, seawall_state from,
                              seawall_state to, uint64_t at_ns) {
    struct reentrant *r = (struct reentrant *)user_data;
    (void)name;
    (void)from;
    (void)at_ns;
    seawall_state now = 99;
    seawall_metrics m;
    if (seawall_breaker_state(r->breaker, &now) != SEAWALL_RESULT_OK || now != to ||
        seawall_breaker_metrics(r->breaker, &m) != SEAWALL_RESULT_OK)
        r->mismatches++;
    r->calls++;
}

static void test_version_and_defaults(void) {
    const char *v = seawall_version();
    CHECK(v != NULL && strlen(v) >= 5);

    seawall_breaker_config c;
    memset(&c, 0xAB, sizeof c);
    CHECK_OK(seawall_breaker_config_default(&c));
    CHECK(c.failure_threshold == 5);
    CHECK(c.trip_on_consecutive_failures == 1);
    CHECK(c.window_kind == SEAWALL_WINDOW_KIND_NONE);
    CHECK(c.minimum_calls == 10);
    CHECK(c.failure_count_threshold == 0);
    CHECK(c.failure_rate_threshold == 0.0);
    CHECK(c.success_threshold == 3);
    CHECK(c.half_open_max_calls == 1);
    CHECK(c.half_open_success_rate == 0.0);
    CHECK(c.timeout_ns == 60 * SEC);
    CHECK(c.half_open_timeout_ns == 30 * SEC);
    CHECK(c.timeout_multiplier == 1.0);
    CHECK(c.max_timeout_ns == 0);
    CHECK(c.timeout_jitter == 0.0);
    CHECK(c.slow_call_duration_ns == 0);

    CHECK(strcmp(seawall_state_name(SEAWALL_STATE_HALF_OPEN), "HALF_OPEN") == 0);
    CHECK(strcmp(seawall_state_name(SEAWALL_STATE_FORCED_CLOSED), "FORCED_CLOSED") == 0);
}

static void test_breaker_life(void) {
    const seawall_manual_clock *clock = NULL;
    CHECK_OK(seawall_manual_clock_new(&clock));

    seawall_breaker_config c;
    CHECK_OK(seawall_breaker_config_default(&c));
    c.failure_threshold = 2;
    c.success_threshold = 1;
    c.timeout_ns = 1 * SEC;

    const seawall_breaker *b = NULL;
    CHECK_OK(seawall_breaker_new_with_clock("payments", &c, clock, &b));
    CHECK(b != NULL);

    seawall_breaker_config back;
    CHECK_OK(seawall_breaker_get_config(b, &back));
    CHECK(back.failure_threshold == 2 && back.success_threshold == 1);
    CHECK(back.timeout_ns == 1 * SEC && back.half_open_timeout_ns == 30 * SEC);

    /* The name: length query, full copy, truncation. */
    size_t len = 0;
    CHECK_RC(seawall_breaker_name(b, NULL, 0, &len), SEAWALL_RESULT_BUFFER_TOO_SMALL);
    CHECK(len == 8);
    char name[16];
    CHECK_OK(seawall_breaker_name(b, name, sizeof name, &len));
    CHECK(strcmp(name, "payments") == 0 && len == 8);
    char small[4];
    CHECK_RC(seawall_breaker_name(b, small, sizeof small, &len),
             SEAWALL_RESULT_BUFFER_TOO_SMALL);
    CHECK(strcmp(small, "pay") == 0 && len == 8);

    struct events ev = {0};
    CHECK_OK(seawall_breaker_add_listener(b, on_transition, &ev));
    struct reentrant re = {b, 0, 0};
    CHECK_OK(seawall_breaker_add_listener(b, read_state_inside, &re));

    /* CLOSED: calls flow; a success resets the failure count. */
    seawall_permit p;
    seawall_rejection why;
    CHECK(state_of(b) == SEAWALL_STATE_CLOSED);
    CHECK_OK(seawall_breaker_try_acquire(b, &p, &why));
    CHECK_OK(seawall_breaker_report_failure(b, &p));
    CHECK(metrics_of(b).consecutive_failures == 1);
    CHECK_OK(seawall_breaker_try_acquire(b, &p, &why));
    CHECK_OK(seawall_breaker_report_success(b, &p));
    CHECK(metrics_of(b).consecutive_failures == 0);
    CHECK_OK(seawall_breaker_try_acquire(b, &p, &why));
    CHECK_OK(seawall_breaker_report_ignored(b, &p));
    CHECK(ev.count == 0);

    /* Two consecutive failures trip it. */
    CHECK_OK(seawall_breaker_try_acquire(b, &p, &why));
    CHECK_OK(seawall_breaker_report_failure(b, &p));
    CHECK_OK(seawall_breaker_try_acquire(b, &p, &why));
    CHECK_OK(seawall_breaker_report_failure(b, &p));
    CHECK(state_of(b) == SEAWALL_STATE_OPEN);
    CHECK(ev.count == 1);
    CHECK(strcmp(ev.list[0].name, "payments") == 0);
    CHECK(ev.list[0].from == SEAWALL_STATE_CLOSED && ev.list[0].to == SEAWALL_STATE_OPEN);
    CHECK(ev.list[0].at_ns == 0);

    /* OPEN rejects and says when to retry; nothing else is written. */
    seawall_permit untouched;
    memset(&untouched, 0x5A, sizeof untouched);
    seawall_permit before = untouched;
    memset(&why, 0, sizeof why);
    CHECK_RC(seawall_breaker_try_acquire(b, &untouched, &why), SEAWALL_RESULT_REJECTED);
    CHECK(memcmp(&untouched, &before, sizeof before) == 0);
    CHECK(why.state == SEAWALL_STATE_OPEN);
    CHECK(!why.until_reset);
    CHECK(why.retry_after_ns == 1 * SEC);
    CHECK_OK(seawall_manual_clock_advance(clock, SEC / 4));
    CHECK_RC(seawall_breaker_try_acquire(b, &untouched, NULL), SEAWALL_RESULT_REJECTED);
    CHECK_RC(seawall_breaker_try_acquire(b, &untouched, &why), SEAWALL_RESULT_REJECTED);
    CHECK(why.retry_after_ns == 3 * SEC / 4);
    /* A rejection is an answer, not an error: the last error stays. */
    CHECK(seawall_last_error() == SEAWALL_RESULT_BUFFER_TOO_SMALL);

    /* After the open time a trial is admitted; only one at a time. */
    CHECK_OK(seawall_manual_clock_advance(clock, 3 * SEC / 4));
    uint64_t now = 0;
    CHECK_OK(seawall_manual_clock_now(clock, &now));
    CHECK(now == 1 * SEC);
    CHECK(state_of(b) == SEAWALL_STATE_HALF_OPEN);
    seawall_permit trial;
    CHECK_OK(seawall_breaker_try_acquire(b, &trial, &why));
    CHECK_RC(seawall_breaker_try_acquire(b, &p, &why), SEAWALL_RESULT_REJECTED);
    CHECK(why.state == SEAWALL_STATE_HALF_OPEN);
    CHECK(metrics_of(b).trial_calls_in_flight == 1);
    CHECK_OK(seawall_breaker_report_success(b, &trial));
    CHECK(state_of(b) == SEAWALL_STATE_CLOSED);
    CHECK(ev.count == 3);
    CHECK(ev.list[1].from == SEAWALL_STATE_OPEN && ev.list[1].to == SEAWALL_STATE_HALF_OPEN);
    CHECK(ev.list[2].from == SEAWALL_STATE_HALF_OPEN && ev.list[2].to == SEAWALL_STATE_CLOSED);
    CHECK(ev.list[1].at_ns == 1 * SEC && ev.list[2].at_ns == 1 * SEC);

    seawall_metrics m = metrics_of(b);
    CHECK(m.state == SEAWALL_STATE_CLOSED);
    CHECK(m.permitted == 6);
    CHECK(m.successes == 2 && m.failures == 3 && m.ignored == 1 && m.late == 0);
    CHECK(m.rejected == 4);
    CHECK(m.to_open == 1 && m.to_half_open == 1 && m.to_closed == 1);
    CHECK(m.to_forced_open == 0 && m.to_forced_closed == 0);
    CHECK(!m.has_window);
    CHECK(m.time_in_state_ns == 0);

    /* Forced open rejects until reset, with no retry time. */
    CHECK_OK(seawall_breaker_force_open(b));
    CHECK_RC(seawall_breaker_try_acquire(b, &p, &why), SEAWALL_RESULT_REJECTED);
    CHECK(why.state == SEAWALL_STATE_FORCED_OPEN && why.until_reset);
    CHECK(why.retry_after_ns == UINT64_MAX);
    CHECK_OK(seawall_manual_clock_advance(clock, 3600 * SEC));
    CHECK(state_of(b) == SEAWALL_STATE_FORCED_OPEN);

    /* Forced closed admits everything; failures do not trip. */
    CHECK_OK(seawall_breaker_force_closed(b));
    for (int i = 0; i < 5; i++) {
        CHECK_OK(seawall_breaker_try_acquire(b, &p, &why));
        CHECK_OK(seawall_breaker_report_failure(b, &p));
    }
    CHECK(state_of(b) == SEAWALL_STATE_FORCED_CLOSED);

    /* A permit issued before a reset no longer decides anything. */
    seawall_permit stale;
    CHECK_OK(seawall_breaker_reset(b));
    CHECK_OK(seawall_breaker_try_acquire(b, &stale, &why));
    CHECK_OK(seawall_breaker_reset(b));
    CHECK_OK(seawall_breaker_report_failure(b, &stale));
    m = metrics_of(b);
    CHECK(m.state == SEAWALL_STATE_CLOSED && m.consecutive_failures == 0);
    CHECK(m.late == 1);
    CHECK(m.to_forced_open == 1 && m.to_forced_closed == 1 && m.to_closed == 2);
    CHECK(ev.count == 6);

    CHECK(re.calls == ev.count && re.mismatches == 0);

    CHECK_OK(seawall_breaker_clear_metrics(b));
    m = metrics_of(b);
    CHECK(m.permitted == 0 && m.failures == 0 && m.late == 0 && m.to_closed == 0);

    /* A cloned handle is the same breaker; each handle is freed once. */
    const seawall_breaker *b2 = NULL;
    CHECK_OK(seawall_breaker_clone(b, &b2));
    CHECK(b2 == b);
    seawall_breaker_free(b);
    CHECK_OK(seawall_breaker_try_acquire(b2, &p, &why));
    CHECK_OK(seawall_breaker_report_success(b2, &p));
    CHECK(metrics_of(b2).successes == 1);
    seawall_breaker_free(b2);

    seawall_manual_clock_free(clock);
}

static void test_slow_calls_and_durations(void) {
    const seawall_manual_clock *clock = NULL;
    CHECK_OK(seawall_manual_clock_new(&clock));
    seawall_breaker_config c;
    CHECK_OK(seawall_breaker_config_default(&c));
    c.slow_call_duration_ns = 2 * SEC;
    const seawall_breaker *b = NULL;
    CHECK_OK(seawall_breaker_new_with_clock("slow", &c, clock, &b));
    /* The clock may be freed before the breakers that read it. */
    seawall_manual_clock_free(clock);
    clock = NULL;

    seawall_permit p;
    /* Caller-measured durations, even at clock time 0. */
    CHECK_OK(seawall_breaker_try_acquire(b, &p, NULL));
    CHECK_OK(seawall_breaker_report(b, &p, SEAWALL_OUTCOME_SUCCESS, 3 * SEC));
    CHECK(metrics_of(b).slow_calls == 1);
    CHECK_OK(seawall_breaker_try_acquire(b, &p, NULL));
    CHECK_OK(seawall_breaker_report(b, &p, SEAWALL_OUTCOME_FAILURE, 1 * SEC));
    CHECK(metrics_of(b).slow_calls == 1);
    CHECK_OK(seawall_breaker_try_acquire(b, &p, NULL));
    CHECK_OK(seawall_breaker_report(b, &p, SEAWALL_OUTCOME_IGNORED, 2 * SEC));
    seawall_metrics m = metrics_of(b);
    CHECK(m.successes == 1 && m.failures == 1 && m.ignored == 1);
    seawall_breaker_free(b);
}

static void test_measured_durations(void) {
    const seawall_manual_clock *clock = NULL;
    CHECK_OK(seawall_manual_clock_new(&clock));
    CHECK_OK(seawall_manual_clock_set(clock, 100 * SEC));
    seawall_breaker_config c;
    CHECK_OK(seawall_breaker_config_default(&c));
    c.slow_call_duration_ns = 2 * SEC;
    const seawall_breaker *b = NULL;
    CHECK_OK(seawall_breaker_new_with_clock("measured", &c, clock, &b));
    seawall_permit fast, slow;
    CHECK_OK(seawall_breaker_try_acquire(b, &slow, NULL));
    CHECK_OK(seawall_manual_clock_advance(clock, 1 * SEC));
    CHECK_OK(seawall_breaker_try_acquire(b, &fast, NULL));
    CHECK_OK(seawall_breaker_report_success(b, &fast));
    CHECK(metrics_of(b).slow_calls == 0);
    CHECK_OK(seawall_manual_clock_advance(clock, 1 * SEC));
    CHECK_OK(seawall_breaker_report_success(b, &slow));
    CHECK(metrics_of(b).slow_calls == 1);
    seawall_breaker_free(b);
    seawall_manual_clock_free(clock);
}

static void test_window_rule(void) {
    seawall_breaker_config c;
    CHECK_OK(seawall_breaker_config_default(&c));
    c.trip_on_consecutive_failures = 0;
    c.window_kind = SEAWALL_WINDOW_KIND_COUNT;
    c.window_size = 10;
    c.minimum_calls = 4;
    c.failure_rate_threshold = 0.5;
    const seawall_breaker *b = NULL;
    CHECK_OK(seawall_breaker_new("windowed", &c, &b));
    seawall_breaker_config back;
    CHECK_OK(seawall_breaker_get_config(b, &back));
    CHECK(back.window_kind == SEAWALL_WINDOW_KIND_COUNT && back.window_size == 10);
    CHECK(back.failure_rate_threshold == 0.5 && !back.trip_on_consecutive_failures);

    seawall_permit p;
    CHECK_OK(seawall_breaker_try_acquire(b, &p, NULL));
    CHECK_OK(seawall_breaker_report_success(b, &p));
    CHECK_OK(seawall_breaker_try_acquire(b, &p, NULL));
    CHECK_OK(seawall_breaker_report_success(b, &p));
    CHECK_OK(seawall_breaker_try_acquire(b, &p, NULL));
    CHECK_OK(seawall_breaker_report_failure(b, &p));
    seawall_metrics m = metrics_of(b);
    CHECK(m.has_window && m.window_successes == 2 && m.window_failures == 1);
    CHECK(m.state == SEAWALL_STATE_CLOSED);
    /* 2 failures of 4 calls: 50%, at the minimum: trips. */
    CHECK_OK(seawall_breaker_try_acquire(b, &p, NULL));
    CHECK_OK(seawall_breaker_report_failure(b, &p));
    CHECK(state_of(b) == SEAWALL_STATE_OPEN);
    seawall_breaker_free(b);
}

struct visit {
    char names[8][16];
    int count;
    int stop_after;
    uint64_t permitted_sum;
};

static int visitor(void *user_data, const char *name, const seawall_breaker *b) {
    struct visit *v = (struct visit *)user_data;
    snprintf(v->names[v->count], sizeof v->names[0], "%s", name);
    seawall_metrics m;
    if (seawall_breaker_metrics(b, &m) == SEAWALL_RESULT_OK) v->permitted_sum += m.permitted;
    v->count++;
    return v->count == v->stop_after;
}

static void test_registry(void) {
    const seawall_manual_clock *clock = NULL;
    CHECK_OK(seawall_manual_clock_new(&clock));
    const seawall_registry *r = NULL;
    CHECK_OK(seawall_registry_new_with_clock(clock, &r));

    seawall_breaker_config c;
    CHECK_OK(seawall_breaker_config_default(&c));
    c.failure_threshold = 1;
    const seawall_breaker *users = NULL, *users2 = NULL, *orders = NULL, *got = NULL;
    CHECK_OK(seawall_registry_get_or_create(r, "users", &c, &users));
    /* An existing breaker keeps its configuration. */
    CHECK_OK(seawall_registry_get_or_create(r, "users", NULL, &users2));
    CHECK(users == users2);
    seawall_breaker_config back;
    CHECK_OK(seawall_breaker_get_config(users2, &back));
    CHECK(back.failure_threshold == 1);
    CHECK_OK(seawall_registry_get_or_create(r, "orders", NULL, &orders));
    CHECK_OK(seawall_registry_get(r, "users", &got));
    CHECK(got == users);

    size_t n = 0;
    CHECK_OK(seawall_registry_count(r, &n));
    CHECK(n == 2);

    seawall_permit p;
    CHECK_OK(seawall_breaker_try_acquire(users, &p, NULL));
    CHECK_OK(seawall_breaker_report_failure(users, &p));
    CHECK(state_of(got) == SEAWALL_STATE_OPEN);
    CHECK_OK(seawall_breaker_try_acquire(orders, &p, NULL));
    CHECK_OK(seawall_breaker_report_success(orders, &p));

    struct visit v = {0};
    v.stop_after = -1;
    CHECK_OK(seawall_registry_for_each(r, visitor, &v));
    CHECK(v.count == 2);
    CHECK(strcmp(v.names[0], "orders") == 0 && strcmp(v.names[1], "users") == 0);
    CHECK(v.permitted_sum == 2);
    struct visit first = {0};
    first.stop_after = 1;
    CHECK_OK(seawall_registry_for_each(r, visitor, &first));
    CHECK(first.count == 1);

    /* Removed breakers keep working for their holders. */
    CHECK_OK(seawall_registry_remove(r, "users"));
    CHECK_RC(seawall_registry_remove(r, "users"), SEAWALL_RESULT_NOT_FOUND);
    CHECK_OK(seawall_registry_count(r, &n));
    CHECK(n == 1);
    const seawall_breaker *none = (const seawall_breaker *)&n;
    CHECK_RC(seawall_registry_get(r, "users", &none), SEAWALL_RESULT_NOT_FOUND);
    CHECK(none == (const seawall_breaker *)&n);
    CHECK_LAST_ERROR("seawall_registry_get: no breaker named \"users\"");
    CHECK(state_of(users) == SEAWALL_STATE_OPEN);

    /* A cloned registry handle is the same registry. */
    const seawall_registry *r2 = NULL;
    CHECK_OK(seawall_registry_clone(r, &r2));
    CHECK(r2 == r);
    seawall_registry_free(r);
    CHECK_OK(seawall_registry_count(r2, &n));
    CHECK(n == 1);
    /* Handles outlive the registry. */
    seawall_registry_free(r2);
    CHECK_OK(seawall_breaker_try_acquire(orders, &p, NULL));
    CHECK_OK(seawall_breaker_report_success(orders, &p));
    CHECK(metrics_of(orders).successes == 2);

    seawall_breaker_free(users);
    seawall_breaker_free(users2);
    seawall_breaker_free(got);
    seawall_breaker_free(orders);
    seawall_manual_clock_free(clock);
}

static void test_production_clock(void) {
    const seawall_registry *r = NULL;
    CHECK_OK(seawall_registry_new(&r));
    const seawall_breaker *b = NULL;
    CHECK_OK(seawall_registry_get_or_create(r, "real", NULL, &b));
    seawall_permit p;
    seawall_rejection why;
    CHECK_OK(seawall_breaker_force_open(b));
    CHECK_RC(seawall_breaker_try_acquire(b, &p, &why), SEAWALL_RESULT_REJECTED);
    CHECK(why.until_reset);
    CHECK_OK(seawall_breaker_reset(b));
    CHECK_OK(seawall_breaker_try_acquire(b, &p, &why));
    CHECK_OK(seawall_breaker_report_success(b, &p));
    /* Default config: 5 failures trip; the open time is 60 s. */
    for (int i = 0; i < 5; i++) {
        CHECK_OK(seawall_breaker_try_acquire(b, &p, &why));
        CHECK_OK(seawall_breaker_report_failure(b, &p));
    }
    CHECK_RC(seawall_breaker_try_acquire(b, &p, &why), SEAWALL_RESULT_REJECTED);
    CHECK(why.state == SEAWALL_STATE_OPEN && !why.until_reset);
    /* The production clock's deadline is rounded up to a microsecond and
     * read through its ~1 ms "recent" time: allow a second either way. */
    CHECK(why.retry_after_ns > 30 * SEC && why.retry_after_ns <= 61 * SEC);
    seawall_breaker_free(b);
    seawall_registry_free(r);
}

/* The open times of a breaker made with `seed`: it trips on every
 * failure, and each open time (read from the rejection, then waited out on
 * its manual clock) is jittered by up to half of 10 s. */
static void jittered_open_times(uint64_t seed, uint64_t out[5]) {
    const seawall_manual_clock *clock = NULL;
    CHECK_OK(seawall_manual_clock_new(&clock));
    seawall_breaker_config c;
    CHECK_OK(seawall_breaker_config_default(&c));
    c.failure_threshold = 1;
    c.success_threshold = 1;
    c.timeout_ns = 10 * SEC;
    c.timeout_jitter = 0.5;
    const seawall_breaker *b = NULL;
    CHECK_OK(seawall_breaker_new_seeded("seeded", &c, clock, seed, &b));
    seawall_permit p;
    seawall_rejection why;
    for (int i = 0; i < 5; i++) {
        CHECK_OK(seawall_breaker_try_acquire(b, &p, &why));
        CHECK_OK(seawall_breaker_report_failure(b, &p));
        CHECK_RC(seawall_breaker_try_acquire(b, &p, &why), SEAWALL_RESULT_REJECTED);
        out[i] = why.retry_after_ns;
        CHECK(out[i] > 5 * SEC && out[i] <= 10 * SEC);
        CHECK_OK(seawall_manual_clock_advance(clock, out[i]));
    }
    seawall_breaker_free(b);
    seawall_manual_clock_free(clock);
}

static void test_seeded_jitter(void) {
    uint64_t a[5], again[5], other[5];
    jittered_open_times(42, a);
    jittered_open_times(42, again);
    jittered_open_times(43, other);
    CHECK(memcmp(a, again, sizeof a) == 0);
    CHECK(memcmp(a, other, sizeof a) != 0);
    /* The jitter varies from one trip to the next. */
    CHECK(a[0] != a[1] || a[1] != a[2]);
    /* NULL is the production clock; the seed is still taken. */
    const seawall_breaker *b = NULL;
    CHECK_OK(seawall_breaker_new_seeded("real", NULL, NULL, 0, &b));
    seawall_breaker_free(b);
    seawall_breaker_config c;
    CHECK_OK(seawall_breaker_config_default(&c));
    c.timeout_ns = 0;
    b = NULL;
    CHECK_RC(seawall_breaker_new_seeded("bad", &c, NULL, 1, &b), SEAWALL_RESULT_INVALID_CONFIG);
    CHECK_LAST_ERROR("seawall_breaker_new_seeded: invalid timeout_ns = 0ns: must be a duration in "
                     "(0, 365 days]");
    CHECK(b == NULL);
}

int main(void) {
    test_version_and_defaults();
    test_breaker_life();
    test_slow_calls_and_durations();
    test_measured_durations();
    test_window_rule();
    test_registry();
    test_production_clock();
    test_seeded_jitter();
    return check_report("test_lifecycle");
}

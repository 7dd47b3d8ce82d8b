/* The distributed breaker and its coordinator through the C ABI (a library
 * built with --features distributed, compiled with -DSEAWALL_DISTRIBUTED),
 * against a real redis-server: two instances (two coordinators, one
 * namespace) sharing a fleet OPEN, a reset and forced states, with the
 * fleet status each reports; degraded mode on a closed port, where the
 * local breaker decides and nothing waits; the configuration structs'
 * defaults; every NULL, invalid setting, bad name and foreign permit with
 * its exact message. */
#define _POSIX_C_SOURCE 200809L
#include "fleet.h"

static seawall_fleet_status fleet_of(const seawall_distributed_breaker *b) {
    seawall_fleet_status s;
    memset(&s, 0xAB, sizeof s);
    CHECK_OK(seawall_distributed_breaker_fleet_status(b, &s));
    return s;
}

static seawall_state dstate(const seawall_distributed_breaker *b) {
    seawall_state s = 99;
    CHECK_OK(seawall_distributed_breaker_state(b, &s));
    return s;
}

/* Whether `b` rejects a call now, with `*why` written; an admitted call is
 * reported ignored. */
static bool rejects(const seawall_distributed_breaker *b, seawall_rejection *why) {
    seawall_permit p;
    seawall_result r = seawall_distributed_breaker_try_acquire(b, &p, why);
    if (r == SEAWALL_RESULT_OK) {
        CHECK_OK(seawall_distributed_breaker_report_ignored(b, &p));
        return false;
    }
    CHECK(r == SEAWALL_RESULT_REJECTED);
    return true;
}

static bool rejects_as(const seawall_distributed_breaker *b, seawall_state state) {
    seawall_rejection why;
    return rejects(b, &why) && why.state == state;
}

/* Whether `b` admits a call now, reported a success. */
static bool admits(const seawall_distributed_breaker *b) {
    seawall_permit p;
    if (seawall_distributed_breaker_try_acquire(b, &p, NULL) != SEAWALL_RESULT_OK)
        return false;
    CHECK_OK(seawall_distributed_breaker_report_success(b, &p));
    return true;
}

static void test_defaults(void) {
    seawall_coordinator_config c;
    memset(&c, 0xAB, sizeof c);
    CHECK_OK(seawall_coordinator_config_default(&c));
    CHECK(c.key_namespace == NULL && c.sync_interval_ns == 100 * NS_PER_MS &&
          c.poll_interval_ns == NS_PER_S && c.op_timeout_ns == 100 * NS_PER_MS &&
          c.connect_timeout_ns == 250 * NS_PER_MS && c.reconnect_min_ns == 100 * NS_PER_MS &&
          c.reconnect_max_ns == 30 * NS_PER_S);

    seawall_fleet_config f;
    CHECK_OK(seawall_fleet_config_default(&f));
    CHECK(f.window_ns == 10 * NS_PER_S && f.buckets == 10 && f.minimum_calls == 20 &&
          f.failure_rate_threshold == 0.5 && f.failure_count_threshold == 0 &&
          f.min_failing_instances == 0 && f.urgent_failures == 0 &&
          f.slow_call_rate_threshold == 0.0 && f.state_ttl_ns == 0);

    /* The fleet rules that read like a local configuration. */
    seawall_breaker_config local;
    CHECK_OK(seawall_breaker_config_default(&local));
    local.minimum_calls = 7;
    local.failure_count_threshold = 9;
    local.window_kind = SEAWALL_WINDOW_KIND_TIME;
    local.window_length_ns = 30 * NS_PER_S;
    local.window_buckets = 6;
    CHECK_OK(seawall_fleet_config_from_local(&local, &f));
    CHECK(f.minimum_calls == 7 && f.failure_count_threshold == 9 &&
          f.failure_rate_threshold == 0.5 && f.window_ns == 30 * NS_PER_S && f.buckets == 6);
    CHECK_OK(seawall_fleet_config_from_local(NULL, &f));
    CHECK(f.minimum_calls == 10 && f.window_ns == 10 * NS_PER_S);
}

/* Two instances: failures on one open the fleet, and the other rejects. */
static void test_fleet_opens_everywhere(void) {
    const seawall_coordinator *c1 = coordinator(redis_url, ns[0], 50 * NS_PER_MS);
    const seawall_coordinator *c2 = coordinator(redis_url, ns[0], 50 * NS_PER_MS);
    char id1[128], id2[128];
    CHECK_OK(seawall_coordinator_instance_id(c1, id1, sizeof id1, NULL));
    CHECK_OK(seawall_coordinator_instance_id(c2, id2, sizeof id2, NULL));
    CHECK(strcmp(id1, id2) != 0);
    EVENTUALLY(!degraded(c1) && !degraded(c2));

    /* The local breakers never trip on their own: any rejection below is
     * the fleet's. One instance's failures are enough to trip it. */
    seawall_breaker_config local;
    CHECK_OK(seawall_breaker_config_default(&local));
    local.failure_threshold = 1000000;
    seawall_fleet_config fleet;
    CHECK_OK(seawall_fleet_config_default(&fleet));
    fleet.minimum_calls = 10;
    fleet.min_failing_instances = 1;
    const seawall_distributed_breaker *a = NULL, *b = NULL;
    CHECK_OK(seawall_distributed_breaker_new("payments", &local, &fleet, c1, NULL, &a));
    CHECK_OK(seawall_distributed_breaker_new("payments", &local, &fleet, c2, NULL, &b));
    /* The breakers keep their coordinators running. */
    seawall_coordinator_free(c2);
    char name[16];
    size_t n = 0;
    CHECK_OK(seawall_distributed_breaker_name(b, name, sizeof name, &n));
    CHECK(strcmp(name, "payments") == 0 && n == 8);
    CHECK(dstate(a) == SEAWALL_STATE_CLOSED && dstate(b) == SEAWALL_STATE_CLOSED);

    for (int i = 0; i < 20; i++) {
        seawall_permit p;
        CHECK_OK(seawall_distributed_breaker_try_acquire(a, &p, NULL));
        CHECK_OK(seawall_distributed_breaker_report_failure(a, &p));
    }
    seawall_rejection why;
    EVENTUALLY(rejects(b, &why));
    CHECK(why.state == SEAWALL_STATE_OPEN && !why.until_reset && why.retry_after_ns > 0 &&
          why.retry_after_ns <= 60 * NS_PER_S);
    CHECK(dstate(b) == SEAWALL_STATE_OPEN);
    seawall_metrics m;
    CHECK_OK(seawall_distributed_breaker_metrics(b, &m));
    CHECK(m.state == SEAWALL_STATE_OPEN && m.failures == 0 && m.rejected >= 1);

    /* What each instance knows of the fleet. */
    EVENTUALLY(fleet_of(a).state == SEAWALL_STATE_OPEN);
    seawall_fleet_status s = fleet_of(a);
    CHECK(!s.degraded && s.generation >= 1 && s.window_failures >= 10 &&
          s.window_successes == 0 && s.failing_instances == 1 && s.live_instances >= 1 &&
          s.flushes >= 1 && s.fenced == 0 && s.config_conflicts == 0);
    s = fleet_of(b);
    CHECK(s.state == SEAWALL_STATE_OPEN && !s.degraded && s.rejected >= 1);
    char ea[64], eb[64];
    size_t elen = 0;
    CHECK_OK(seawall_distributed_breaker_fleet_epoch(a, ea, sizeof ea, &elen));
    CHECK_OK(seawall_distributed_breaker_fleet_epoch(b, eb, sizeof eb, NULL));
    CHECK(elen > 0 && strcmp(ea, eb) == 0);
    CHECK_RC(seawall_distributed_breaker_fleet_epoch(a, ea, 2, NULL),
             SEAWALL_RESULT_BUFFER_TOO_SMALL);

    /* An operator's reset on one instance closes the fleet for both. */
    CHECK_OK(seawall_distributed_breaker_reset(b));
    EVENTUALLY(admits(a));
    EVENTUALLY(fleet_of(a).state == SEAWALL_STATE_CLOSED);

    /* A forced OPEN reaches the other instance's local breaker. */
    CHECK_OK(seawall_distributed_breaker_force_open(a));
    EVENTUALLY(rejects_as(b, SEAWALL_STATE_FORCED_OPEN));
    CHECK(rejects(b, &why) && why.until_reset && why.retry_after_ns == UINT64_MAX);
    CHECK_OK(seawall_distributed_breaker_force_closed(b));
    EVENTUALLY(dstate(a) == SEAWALL_STATE_FORCED_CLOSED);
    CHECK_OK(seawall_distributed_breaker_reset(a));
    EVENTUALLY(dstate(b) == SEAWALL_STATE_CLOSED);

    CHECK_OK(seawall_distributed_breaker_clear_metrics(b));
    CHECK_OK(seawall_distributed_breaker_metrics(b, &m));
    CHECK(m.rejected == 0 && m.permitted == 0);
    seawall_breaker_config got;
    CHECK_OK(seawall_distributed_breaker_get_config(a, &got));
    CHECK(got.failure_threshold == 1000000);
    seawall_distributed_breaker_free(a);
    seawall_distributed_breaker_free(b);
    seawall_coordinator_free(c1);
}

/* The fleet's trial calls: after the fleet's open time, a call admitted on
 * one instance holds one of the fleet's trial permits, and its success,
 * reported through the C permit, closes the fleet for both. */
static void test_a_fleet_trial_closes_it(void) {
    const seawall_coordinator *c1 = coordinator(redis_url, ns[0], 50 * NS_PER_MS);
    const seawall_coordinator *c2 = coordinator(redis_url, ns[0], 50 * NS_PER_MS);
    EVENTUALLY(!degraded(c1) && !degraded(c2));
    seawall_breaker_config local;
    CHECK_OK(seawall_breaker_config_default(&local));
    local.failure_threshold = 1000000;
    local.timeout_ns = 100 * NS_PER_MS; /* the fleet's open time too */
    local.success_threshold = 1;
    seawall_fleet_config fleet;
    CHECK_OK(seawall_fleet_config_default(&fleet));
    fleet.minimum_calls = 10;
    fleet.min_failing_instances = 1;
    const seawall_distributed_breaker *a = NULL, *b = NULL;
    CHECK_OK(seawall_distributed_breaker_new("trials", &local, &fleet, c1, NULL, &a));
    CHECK_OK(seawall_distributed_breaker_new("trials", &local, &fleet, c2, NULL, &b));
    for (int i = 0; i < 20; i++) {
        seawall_permit p;
        CHECK_OK(seawall_distributed_breaker_try_acquire(a, &p, NULL));
        CHECK_OK(seawall_distributed_breaker_report_failure(a, &p));
    }
    EVENTUALLY(fleet_of(a).state != SEAWALL_STATE_CLOSED);
    /* Until the fleet closes, a call admitted is one of its trials (the
     * local breaker never trips). */
    seawall_permit trial;
    EVENTUALLY(seawall_distributed_breaker_try_acquire(a, &trial, NULL) == SEAWALL_RESULT_OK);
    CHECK(fleet_of(a).trials_granted >= 1);
    CHECK_OK(seawall_distributed_breaker_report_success(a, &trial));
    EVENTUALLY(fleet_of(b).state == SEAWALL_STATE_CLOSED);
    CHECK(admits(b) && admits(a));
    seawall_distributed_breaker_free(a);
    seawall_distributed_breaker_free(b);
    seawall_coordinator_free(c1);
    seawall_coordinator_free(c2);
}

/* A Redis nobody answers: the coordinator starts degraded, at once, and the
 * local breaker decides alone. */
static void test_degraded(void) {
    const seawall_coordinator *c = coordinator(down_url, ns[1], 0);
    CHECK(degraded(c));
    seawall_breaker_config local;
    CHECK_OK(seawall_breaker_config_default(&local));
    local.failure_threshold = 3;
    const seawall_manual_clock *clock = NULL;
    CHECK_OK(seawall_manual_clock_new(&clock));
    const seawall_distributed_breaker *b = NULL;
    CHECK_OK(seawall_distributed_breaker_new("inventory", &local, NULL, c, clock, &b));
    CHECK(fleet_of(b).degraded);
    CHECK(admits(b));
    for (int i = 0; i < 3; i++) {
        seawall_permit p;
        CHECK_OK(seawall_distributed_breaker_try_acquire(b, &p, NULL));
        CHECK_OK(seawall_distributed_breaker_report_failure(b, &p));
    }
    seawall_rejection why;
    CHECK(rejects(b, &why) && why.state == SEAWALL_STATE_OPEN &&
          why.retry_after_ns == 60 * NS_PER_S);
    /* Its open time runs on the breaker's clock. */
    CHECK_OK(seawall_manual_clock_advance(clock, 60 * NS_PER_S));
    seawall_permit trial;
    CHECK_OK(seawall_distributed_breaker_try_acquire(b, &trial, NULL));
    CHECK(dstate(b) == SEAWALL_STATE_HALF_OPEN);
    /* A caller-timed report, as seawall_breaker_report. */
    CHECK_OK(seawall_distributed_breaker_report(b, &trial, SEAWALL_OUTCOME_SUCCESS, 1000));
    seawall_metrics m;
    CHECK_OK(seawall_distributed_breaker_metrics(b, &m));
    CHECK(m.successes == 2 && m.failures == 3 && m.rejected == 1);

    seawall_distributed_breaker_free(b);
    seawall_manual_clock_free(clock);
    seawall_coordinator_free(c);
}

/* Every bad argument, with the exact message it leaves. */
static void test_errors(void) {
    const seawall_coordinator *c = coordinator(down_url, ns[1], 0);
    const seawall_coordinator *co = NULL;
    const seawall_distributed_breaker *b = NULL;
    seawall_coordinator_config cc;
    memset(&cc, 0, sizeof cc);

    BAD(seawall_coordinator_new(NULL, NULL, &co), NULL_PARAMETER,
        "seawall_coordinator_new: `redis_url` is NULL");
    BAD(seawall_coordinator_new(down_url, NULL, NULL), NULL_PARAMETER,
        "seawall_coordinator_new: `out` is NULL");
    BAD_PREFIX(seawall_coordinator_new("http://example.com/", NULL, &co), INVALID_ARGUMENT,
               "seawall_coordinator_new: fleet store: invalid redis_url: ");
    BAD(seawall_coordinator_new("redis://127.0.0.1:1/\xff", NULL, &co), INVALID_ARGUMENT,
        "seawall_coordinator_new: `redis_url` = \"redis://127.0.0.1:1/\\xff\" is not valid "
        "UTF-8 (invalid utf-8 sequence of 1 bytes from index 20)");
    cc.sync_interval_ns = 20 * NS_PER_S;
    BAD(seawall_coordinator_new(down_url, &cc, &co), INVALID_CONFIG,
        "seawall_coordinator_new: invalid sync_interval_ns = 20s: must be in [1 ms, 10 s]");
    cc.sync_interval_ns = 0;
    cc.reconnect_min_ns = 31 * NS_PER_S;
    BAD(seawall_coordinator_new(down_url, &cc, &co), INVALID_CONFIG,
        "seawall_coordinator_new: invalid reconnect_min_ns = 31s: must be in [1 ms, "
        "reconnect_max]");
    cc.reconnect_min_ns = 0;
    cc.key_namespace = "a{b";
    BAD(seawall_coordinator_new(down_url, &cc, &co), INVALID_CONFIG,
        "seawall_coordinator_new: invalid key_namespace = \"a{b\": must be 1 to 100 bytes "
        "without '{', '}' (they would change the keys' Redis Cluster hash tag) or control "
        "characters");
    cc.key_namespace = "\xff";
    BAD(seawall_coordinator_new(down_url, &cc, &co), INVALID_CONFIG,
        "seawall_coordinator_new: invalid key_namespace = \"\\xff\": must be valid UTF-8");
    cc.key_namespace = NULL;
    BAD(seawall_coordinator_new(down_url, MIS(seawall_coordinator_config), &co),
        INVALID_ARGUMENT, misaligned("seawall_coordinator_new", "config", 8));
    CHECK(co == NULL); /* nothing written by a refused call */

    const char *nodes[] = {down_url, NULL};
    BAD_PREFIX(seawall_coordinator_new_cluster(nodes, 0, NULL, &co), INVALID_ARGUMENT,
               "seawall_coordinator_new_cluster: fleet store: ");
    BAD(seawall_coordinator_new_cluster(NULL, 2, NULL, &co), NULL_PARAMETER,
        "seawall_coordinator_new_cluster: `nodes` is NULL");
    BAD(seawall_coordinator_new_cluster(nodes, 2, NULL, &co), NULL_PARAMETER,
        "seawall_coordinator_new_cluster: `nodes[1]` is NULL");
    /* One seed node is enough to build it (it connects in the background). */
    CHECK_OK(seawall_coordinator_new_cluster(nodes, 1, NULL, &co));
    const seawall_coordinator *co2 = NULL;
    CHECK_OK(seawall_coordinator_clone(co, &co2));
    CHECK(co2 == co && degraded(co2));
    seawall_coordinator_free(co2);
    seawall_coordinator_free(co);
    seawall_coordinator_free(NULL);

    BAD(seawall_coordinator_instance_id(NULL, NULL, 0, NULL), NULL_PARAMETER,
        "seawall_coordinator_instance_id: `coordinator` is NULL");
    char id[4];
    BAD_PREFIX(seawall_coordinator_instance_id(c, id, sizeof id, NULL), BUFFER_TOO_SMALL,
               "seawall_coordinator_instance_id: `len` = 4 is less than the ");
    BAD(seawall_coordinator_is_degraded(c, NULL), NULL_PARAMETER,
        "seawall_coordinator_is_degraded: `out_degraded` is NULL");
    BAD(seawall_coordinator_config_default(NULL), NULL_PARAMETER,
        "seawall_coordinator_config_default: `out` is NULL");

    /* The distributed breaker's arguments, in the order they are read. */
    seawall_breaker_config local;
    CHECK_OK(seawall_breaker_config_default(&local));
    seawall_fleet_config fleet;
    CHECK_OK(seawall_fleet_config_default(&fleet));
    BAD(seawall_distributed_breaker_new(NULL, NULL, NULL, c, NULL, &b), NULL_PARAMETER,
        "seawall_distributed_breaker_new: `name` is NULL");
    BAD_PREFIX(seawall_distributed_breaker_new("\xc3(", NULL, NULL, c, NULL, &b),
               INVALID_ARGUMENT,
               "seawall_distributed_breaker_new: `name` = \"\\xc3(\" is not valid UTF-8");
    BAD(seawall_distributed_breaker_new("a{b", NULL, NULL, c, NULL, &b), INVALID_ARGUMENT,
        "seawall_distributed_breaker_new: invalid name \"a{b\": must not contain '{' or '}' "
        "(they would change the key's Redis Cluster hash tag)");
    BAD(seawall_distributed_breaker_new("", NULL, NULL, c, NULL, &b), INVALID_ARGUMENT,
        "seawall_distributed_breaker_new: invalid name \"\": must not be empty");
    BAD(seawall_distributed_breaker_new("x", NULL, NULL, NULL, NULL, &b), NULL_PARAMETER,
        "seawall_distributed_breaker_new: `coordinator` is NULL");
    BAD(seawall_distributed_breaker_new("x", NULL, NULL, c, NULL, NULL), NULL_PARAMETER,
        "seawall_distributed_breaker_new: `out` is NULL");
    local.timeout_ns = 0;
    BAD(seawall_distributed_breaker_new("x", &local, &fleet, c, NULL, &b), INVALID_CONFIG,
        "seawall_distributed_breaker_new: invalid timeout_ns = 0ns: must be a duration in "
        "(0, 365 days]");
    local.timeout_ns = 60 * NS_PER_S;
    /* A field of both structs is named for the one that is wrong. */
    local.minimum_calls = 0;
    BAD(seawall_distributed_breaker_new("x", &local, &fleet, c, NULL, &b), INVALID_CONFIG,
        "seawall_distributed_breaker_new: invalid minimum_calls = 0: must be at least 1 and at "
        "most the size of a count window");
    local.minimum_calls = 10;
    fleet.minimum_calls = 0;
    BAD(seawall_distributed_breaker_new("x", &local, &fleet, c, NULL, &b), INVALID_CONFIG,
        "seawall_distributed_breaker_new: invalid fleet.minimum_calls = 0: must be at least 1");
    fleet.minimum_calls = 20;
    fleet.window_ns = 5 * NS_PER_MS;
    BAD(seawall_distributed_breaker_new("x", &local, &fleet, c, NULL, &b), INVALID_CONFIG,
        "seawall_distributed_breaker_new: invalid fleet.window_ns = 5ms: must be in [10 ms, "
        "1 day]");
    fleet.window_ns = 10 * NS_PER_S;
    fleet.failure_rate_threshold = 0.0;
    BAD(seawall_distributed_breaker_new("x", &local, &fleet, c, NULL, &b), INVALID_CONFIG,
        "seawall_distributed_breaker_new: invalid fleet.failure_rate_threshold = None: must be "
        "set (or failure_count_threshold set): the fleet needs a rule to trip on");
    fleet.failure_rate_threshold = 0.5;
    fleet.slow_call_rate_threshold = 0.5;
    BAD(seawall_distributed_breaker_new("x", &local, &fleet, c, NULL, &b), INVALID_CONFIG,
        "seawall_distributed_breaker_new: invalid fleet.slow_call_rate_threshold = Some(0.5): "
        "must be unset unless the local breaker's slow_call_duration is set");
    fleet.slow_call_rate_threshold = 0.0;
    BAD(seawall_distributed_breaker_new("x", &local, MIS(seawall_fleet_config), c, NULL, &b),
        INVALID_ARGUMENT, misaligned("seawall_distributed_breaker_new", "fleet", 8));
    CHECK(b == NULL);
    BAD(seawall_fleet_config_default(NULL), NULL_PARAMETER,
        "seawall_fleet_config_default: `out` is NULL");
    BAD(seawall_fleet_config_from_local(&local, NULL), NULL_PARAMETER,
        "seawall_fleet_config_from_local: `out` is NULL");

    /* Permits: one breaker's are not another's, local or distributed. */
    CHECK_OK(seawall_distributed_breaker_new("x", &local, &fleet, c, NULL, &b));
    const seawall_breaker *lb = NULL;
    CHECK_OK(seawall_breaker_new("x", &local, &lb));
    seawall_permit p, lp, zero;
    memset(&zero, 0, sizeof zero);
    CHECK_OK(seawall_distributed_breaker_try_acquire(b, &p, NULL));
    CHECK_OK(seawall_breaker_try_acquire(lb, &lp, NULL));
    BAD(seawall_distributed_breaker_report_success(b, &lp), PERMIT_WRONG_BREAKER,
        "seawall_distributed_breaker_report_success: the permit was issued by another breaker");
    BAD(seawall_breaker_report_success(lb, &p), PERMIT_WRONG_BREAKER,
        "seawall_breaker_report_success: the permit was issued by another breaker");
    BAD(seawall_distributed_breaker_report_failure(b, &zero), PERMIT_NOT_ISSUED,
        "seawall_distributed_breaker_report_failure: the permit was never issued (was the "
        "acquire successful?)");
    BAD(seawall_distributed_breaker_report(b, &p, 7, 0), INVALID_ARGUMENT,
        "seawall_distributed_breaker_report: `outcome` = 7 is not one of "
        "SEAWALL_OUTCOME_SUCCESS (0), _FAILURE (1), _IGNORED (2)");
    CHECK_OK(seawall_distributed_breaker_report_ignored(b, &p));
    BAD(seawall_distributed_breaker_report_ignored(b, &p), PERMIT_ALREADY_REPORTED,
        "seawall_distributed_breaker_report_ignored: the permit was already reported");
    CHECK_OK(seawall_breaker_report_success(lb, &lp));
    BAD(seawall_distributed_breaker_try_acquire(NULL, &p, NULL), NULL_PARAMETER,
        "seawall_distributed_breaker_try_acquire: `breaker` is NULL");
    BAD(seawall_distributed_breaker_try_acquire(b, NULL, NULL), NULL_PARAMETER,
        "seawall_distributed_breaker_try_acquire: `out_permit` is NULL");
    BAD(seawall_distributed_breaker_try_acquire(b, &p, MIS(seawall_rejection)),
        INVALID_ARGUMENT,
        misaligned("seawall_distributed_breaker_try_acquire", "out_rejection", 8));
    BAD(seawall_distributed_breaker_report_success(b, NULL), NULL_PARAMETER,
        "seawall_distributed_breaker_report_success: `permit` is NULL");
    BAD(seawall_distributed_breaker_state(b, NULL), NULL_PARAMETER,
        "seawall_distributed_breaker_state: `out_state` is NULL");
    BAD(seawall_distributed_breaker_metrics(NULL, NULL), NULL_PARAMETER,
        "seawall_distributed_breaker_metrics: `breaker` is NULL");
    BAD(seawall_distributed_breaker_fleet_status(b, NULL), NULL_PARAMETER,
        "seawall_distributed_breaker_fleet_status: `out` is NULL");
    BAD(seawall_distributed_breaker_force_open(NULL), NULL_PARAMETER,
        "seawall_distributed_breaker_force_open: `breaker` is NULL");
    BAD(seawall_distributed_breaker_reset(NULL), NULL_PARAMETER,
        "seawall_distributed_breaker_reset: `breaker` is NULL");
    const seawall_distributed_breaker *b2 = NULL;
    CHECK_OK(seawall_distributed_breaker_clone(b, &b2));
    CHECK(b2 == b);
    seawall_distributed_breaker_free(b2);
    seawall_distributed_breaker_free(b);
    seawall_distributed_breaker_free(NULL);
    seawall_breaker_free(lb);

    seawall_coordinator_free(c);
}

int main(void) {
    if (!fleet_setup("test_distributed_breaker"))
        return 1;
    test_defaults();
    test_errors();
    test_degraded();
    test_fleet_opens_everywhere();
    test_a_fleet_trial_closes_it();
    return check_report("test_distributed_breaker");
}

/* The fleet rate limiter through the C ABI (a library built with
 * --features distributed, compiled with -DSEAWALL_DISTRIBUTED), against a
 * real redis-server: one limit shared by two limiters on two coordinators;
 * what each mode admits while the store is unreachable; its defaults, and
 * every bad argument with its exact message. */
#define _POSIX_C_SOURCE 200809L
#include "fleet.h"

static void test_defaults(void) {
    seawall_fleet_limit_config l;
    memset(&l, 0xAB, sizeof l);
    CHECK_OK(seawall_fleet_limit_config_default(&l));
    CHECK(l.lease == 0 && l.lease_ttl_ns == NS_PER_S &&
          l.on_store_failure == SEAWALL_ON_STORE_FAILURE_LOCAL);
}

/* Offers calls to `l` until it has refused 100 in a row, 10 ms apart (a
 * second: long enough for every lease asked meanwhile to have been
 * answered), or the deadline passes; returns the calls admitted. */
static int drain(const seawall_fleet_rate_limiter *l) {
    int admitted = 0, refused = 0;
    uint64_t until = now_ms() + DEADLINE_MS;
    while (refused < 100 && now_ms() < until) {
        if (seawall_fleet_rate_limiter_check(l, NULL) == SEAWALL_RESULT_OK) {
            admitted++;
            refused = 0;
        } else {
            refused++;
            sleep_ms(10);
        }
    }
    CHECK(refused == 100);
    return admitted;
}

static uint64_t live_instances(const seawall_fleet_rate_limiter *l) {
    seawall_fleet_limit_status s;
    CHECK_OK(seawall_fleet_rate_limiter_status(l, &s));
    return s.live_instances;
}

/* Two limiters on two coordinators share one limit: once one has spent the
 * fleet's burst, the other admits only the tokens it held and its local
 * share, not a burst of its own. */
static void test_the_limit_is_shared(void) {
    /* Polling every second: an instance stays live for three. */
    const seawall_coordinator *c1 = coordinator(redis_url, ns[0], 0);
    const seawall_coordinator *c2 = coordinator(redis_url, ns[0], 0);
    EVENTUALLY(!degraded(c1) && !degraded(c2));
    seawall_rate_limit_config rc;
    CHECK_OK(seawall_rate_limit_config_default(&rc));
    rc.rate = 20; /* 20 an hour: no turn frees up during the test */
    rc.burst = 20;
    rc.period_ns = 3600 * NS_PER_S;
    seawall_fleet_limit_config lc;
    CHECK_OK(seawall_fleet_limit_config_default(&lc));
    lc.lease = 2;
    const seawall_fleet_rate_limiter *a = NULL, *b = NULL;
    CHECK_OK(seawall_fleet_rate_limiter_new("partner-api", &rc, &lc, c1, NULL, &a));
    CHECK_OK(seawall_fleet_rate_limiter_new("partner-api", &rc, &lc, c2, NULL, &b));
    EVENTUALLY(live_instances(a) == 2 && live_instances(b) == 2);

    int by_a = drain(a);
    int by_b = drain(b);
    /* A: the fleet's burst but what B held (one lease, or nothing once it
     * went back unused), its local share (burst / 2 live instances)
     * charged to the fleet among it. */
    CHECK(by_a >= 20 - 2 && by_a <= 20 + 10);
    /* B: what it still held, plus its local share; alone it would have had
     * a burst of 20. */
    CHECK(by_b <= 2 + 10);
    CHECK(by_a + by_b <= 20 + 2 * 10);
    seawall_fleet_limit_status s;
    memset(&s, 0xAB, sizeof s);
    CHECK_OK(seawall_fleet_rate_limiter_status(a, &s));
    CHECK(!s.degraded && s.leases >= 1 && s.granted >= 1 && s.live_instances == 2);
    seawall_rate_limit_config got;
    CHECK_OK(seawall_fleet_rate_limiter_get_config(b, &got));
    CHECK(got.rate == 20 && got.burst == 20 && got.period_ns == 3600 * NS_PER_S);

    const seawall_fleet_rate_limiter *a2 = NULL;
    CHECK_OK(seawall_fleet_rate_limiter_clone(a, &a2));
    CHECK(a2 == a);
    seawall_fleet_rate_limiter_free(a2);
    seawall_fleet_rate_limiter_free(a);
    seawall_fleet_rate_limiter_free(b);
    seawall_coordinator_free(c1);
    seawall_coordinator_free(c2);
}

/* A Redis nobody answers: each mode decides alone, at once. */
static void test_without_the_store(void) {
    const seawall_coordinator *c = coordinator(down_url, ns[1], 0);
    CHECK(degraded(c));
    seawall_rate_limit_config rc;
    CHECK_OK(seawall_rate_limit_config_default(&rc));
    seawall_fleet_limit_config lc;
    memset(&lc, 0, sizeof lc); /* zero: every default */
    const seawall_fleet_rate_limiter *l = NULL;
    uint64_t wait = 0;
    lc.on_store_failure = SEAWALL_ON_STORE_FAILURE_DENY;
    CHECK_OK(seawall_fleet_rate_limiter_new("deny", &rc, &lc, c, NULL, &l));
    CHECK_RC(seawall_fleet_rate_limiter_check(l, &wait), SEAWALL_RESULT_RATE_LIMITED);
    CHECK(wait == 10 * NS_PER_MS); /* the coordinator's sync interval */
    seawall_fleet_limit_status st;
    CHECK_OK(seawall_fleet_rate_limiter_status(l, &st));
    CHECK(st.degraded && st.tokens == 0 && st.leases == 0 && st.live_instances == 1);
    seawall_fleet_rate_limiter_free(l);

    lc.on_store_failure = SEAWALL_ON_STORE_FAILURE_ALLOW;
    CHECK_OK(seawall_fleet_rate_limiter_new("allow", &rc, &lc, c, NULL, &l));
    for (int i = 0; i < 1000; i++)
        CHECK_OK(seawall_fleet_rate_limiter_check(l, NULL));
    seawall_fleet_rate_limiter_free(l);

    /* The local share (the default, and a NULL `fleet`): the whole limit
     * for the one live instance known. */
    rc.rate = 5;
    rc.burst = 5;
    rc.period_ns = 3600 * NS_PER_S;
    CHECK_OK(seawall_fleet_rate_limiter_new("local", &rc, NULL, c, NULL, &l));
    int admitted = 0;
    for (int i = 0; i < 50; i++)
        admitted += seawall_fleet_rate_limiter_check(l, NULL) == SEAWALL_RESULT_OK;
    CHECK(admitted == 5);
    CHECK_RC(seawall_fleet_rate_limiter_check(l, &wait), SEAWALL_RESULT_RATE_LIMITED);
    CHECK(wait > 0 && wait <= 720 * NS_PER_S); /* one turn: an hour / 5 */
    seawall_fleet_rate_limiter_free(l);
    seawall_coordinator_free(c);
}

/* Every bad argument, with the exact message it leaves. */
static void test_errors(void) {
    const seawall_coordinator *c = coordinator(down_url, ns[1], 0);
    const seawall_fleet_rate_limiter *l = NULL;
    seawall_rate_limit_config rc;
    CHECK_OK(seawall_rate_limit_config_default(&rc));
    seawall_fleet_limit_config lc;
    memset(&lc, 0, sizeof lc);
    BAD(seawall_fleet_rate_limiter_new(NULL, &rc, &lc, c, NULL, &l), NULL_PARAMETER,
        "seawall_fleet_rate_limiter_new: `name` is NULL");
    BAD_PREFIX(seawall_fleet_rate_limiter_new("\xff", &rc, &lc, c, NULL, &l), INVALID_ARGUMENT,
               "seawall_fleet_rate_limiter_new: `name` = \"\\xff\" is not valid UTF-8");
    BAD(seawall_fleet_rate_limiter_new("a}", &rc, &lc, c, NULL, &l), INVALID_ARGUMENT,
        "seawall_fleet_rate_limiter_new: invalid name \"a}\": must not contain '{' or '}' "
        "(they would change the key's Redis Cluster hash tag)");
    BAD(seawall_fleet_rate_limiter_new("api", &rc, &lc, NULL, NULL, &l), NULL_PARAMETER,
        "seawall_fleet_rate_limiter_new: `coordinator` is NULL");
    BAD(seawall_fleet_rate_limiter_new("api", &rc, &lc, c, NULL, NULL), NULL_PARAMETER,
        "seawall_fleet_rate_limiter_new: `out` is NULL");
    rc.rate = 0;
    BAD(seawall_fleet_rate_limiter_new("api", &rc, &lc, c, NULL, &l), INVALID_CONFIG,
        "seawall_fleet_rate_limiter_new: invalid rate = 0: must be an integer in [1, "
        "1000000000]");
    rc.rate = 100;
    lc.lease_ttl_ns = 2 * 3600 * NS_PER_S;
    BAD(seawall_fleet_rate_limiter_new("api", &rc, &lc, c, NULL, &l), INVALID_CONFIG,
        "seawall_fleet_rate_limiter_new: invalid fleet.lease_ttl_ns = 7200s: must be in "
        "[1 ms, 1 hour]");
    lc.lease_ttl_ns = 0;
    lc.on_store_failure = 3;
    BAD(seawall_fleet_rate_limiter_new("api", &rc, &lc, c, NULL, &l), INVALID_CONFIG,
        "seawall_fleet_rate_limiter_new: invalid fleet.on_store_failure = 3: must be one of "
        "SEAWALL_ON_STORE_FAILURE_LOCAL (0), _ALLOW (1), _DENY (2)");
    BAD(seawall_fleet_rate_limiter_new("api", &rc, MIS(seawall_fleet_limit_config), c, NULL, &l),
        INVALID_ARGUMENT, misaligned("seawall_fleet_rate_limiter_new", "fleet", 8));
    CHECK(l == NULL); /* nothing written by a refused call */
    BAD(seawall_fleet_rate_limiter_check(NULL, NULL), NULL_PARAMETER,
        "seawall_fleet_rate_limiter_check: `limiter` is NULL");
    BAD(seawall_fleet_rate_limiter_status(NULL, NULL), NULL_PARAMETER,
        "seawall_fleet_rate_limiter_status: `limiter` is NULL");
    BAD(seawall_fleet_rate_limiter_get_config(NULL, NULL), NULL_PARAMETER,
        "seawall_fleet_rate_limiter_get_config: `limiter` is NULL");
    BAD(seawall_fleet_limit_config_default(NULL), NULL_PARAMETER,
        "seawall_fleet_limit_config_default: `out` is NULL");
    CHECK_OK(seawall_fleet_rate_limiter_new("api", &rc, NULL, c, NULL, &l));
    BAD(seawall_fleet_rate_limiter_check(l, MIS(uint64_t)), INVALID_ARGUMENT,
        misaligned("seawall_fleet_rate_limiter_check", "out_retry_after_ns", 8));
    BAD(seawall_fleet_rate_limiter_status(l, NULL), NULL_PARAMETER,
        "seawall_fleet_rate_limiter_status: `out` is NULL");
    seawall_fleet_rate_limiter_free(l);
    seawall_fleet_rate_limiter_free(NULL);
    seawall_coordinator_free(c);
}

int main(void) {
    if (!fleet_setup("test_fleet_rate_limiter"))
        return 1;
    test_defaults();
    test_errors();
    test_without_the_store();
    test_the_limit_is_shared();
    return check_report("test_fleet_rate_limiter");
}

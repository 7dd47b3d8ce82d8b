/* The keyed breaker through the C ABI: a breaker per key made on first use
 * from one configuration, the bound on live keys (KEYED_FULL when none is
 * idle), eviction of idle keys only (never an OPEN one, never one with a
 * permit outstanding), totals that keep evicted keys, threads racing on
 * more keys than fit, and every bad argument with the last error it leaves. */
#include <pthread.h>
#include <stdint.h>

#include "check.h"

/* Keys as bytes: a NUL-terminated literal without its NUL. */
#define KEY(s) ((const uint8_t *)(s)), (sizeof(s) - 1)

/* Trips at the first failure, OPEN for 60 s; keys idle after 30 s. */
static const seawall_keyed_breaker *family(uint32_t max_keys, uint64_t idle_ns,
                                           const seawall_manual_clock *clock) {
    seawall_breaker_config c;
    CHECK_OK(seawall_breaker_config_default(&c));
    c.failure_threshold = 1;
    const seawall_keyed_breaker *b = NULL;
    CHECK_OK(seawall_keyed_breaker_new(&c, "http:", max_keys, idle_ns, clock, &b));
    return b;
}

static void test_per_key_breakers_and_eviction(void) {
    const seawall_manual_clock *clock = NULL;
    CHECK_OK(seawall_manual_clock_new(&clock));
    const seawall_keyed_breaker *b = family(2, 30 * NS_PER_S, clock);

    seawall_keyed_permit p;
    seawall_rejection r;
    CHECK_OK(seawall_keyed_breaker_try_acquire(b, KEY("a:443"), &p, &r));
    CHECK_OK(seawall_keyed_breaker_report(b, &p, SEAWALL_OUTCOME_FAILURE));
    CHECK_RC(seawall_keyed_breaker_report(b, &p, SEAWALL_OUTCOME_FAILURE),
             SEAWALL_RESULT_PERMIT_ALREADY_REPORTED);
    seawall_state s;
    CHECK_OK(seawall_keyed_breaker_state(b, KEY("a:443"), &s));
    CHECK(s == SEAWALL_STATE_OPEN);
    memset(&r, 0, sizeof r);
    CHECK_RC(seawall_keyed_breaker_try_acquire(b, KEY("a:443"), &p, &r), SEAWALL_RESULT_REJECTED);
    CHECK(r.state == SEAWALL_STATE_OPEN && r.retry_after_ns == 60 * NS_PER_S);

    /* b:443 holds a permit: with a:443 OPEN, no key is idle. */
    seawall_keyed_permit held;
    CHECK_OK(seawall_keyed_breaker_try_acquire(b, KEY("b:443"), &held, NULL));
    CHECK_OK(seawall_manual_clock_advance(clock, 30 * NS_PER_S));
    CHECK_RC(seawall_keyed_breaker_try_acquire(b, KEY("c:443"), &p, NULL),
             SEAWALL_RESULT_KEYED_FULL);
    CHECK(seawall_last_error() != SEAWALL_RESULT_KEYED_FULL); /* an answer */
    CHECK_OK(seawall_keyed_breaker_report(b, &held, SEAWALL_OUTCOME_SUCCESS));
    /* b:443 is idle now (unused 30 s, nothing outstanding); a:443 OPEN stays. */
    CHECK_OK(seawall_keyed_breaker_try_acquire(b, KEY("c:443"), &p, NULL));
    CHECK_OK(seawall_keyed_breaker_report(b, &p, SEAWALL_OUTCOME_IGNORED));
    CHECK_RC(seawall_keyed_breaker_state(b, KEY("b:443"), &s), SEAWALL_RESULT_NOT_FOUND);
    CHECK_OK(seawall_keyed_breaker_state(b, KEY("a:443"), &s));
    CHECK(s == SEAWALL_STATE_OPEN);

    seawall_metrics km;
    CHECK_OK(seawall_keyed_breaker_key_metrics(b, KEY("a:443"), &km));
    CHECK(km.failures == 1 && km.rejected == 1);

    /* A minute on, a:443's open time is over: both keys are idle. */
    CHECK_OK(seawall_manual_clock_advance(clock, 60 * NS_PER_S));
    size_t evicted = 0;
    CHECK_OK(seawall_keyed_breaker_evict_idle(b, &evicted));
    CHECK(evicted == 2);
    /* The next call of a:443 gets a fresh CLOSED breaker. */
    CHECK_OK(seawall_keyed_breaker_try_acquire(b, KEY("a:443"), &p, NULL));
    CHECK_OK(seawall_keyed_breaker_report(b, &p, SEAWALL_OUTCOME_SUCCESS));
    CHECK_OK(seawall_keyed_breaker_state(b, KEY("a:443"), &s));
    CHECK(s == SEAWALL_STATE_CLOSED);

    seawall_keyed_metrics m;
    CHECK_OK(seawall_keyed_breaker_metrics(b, &m));
    CHECK(m.permitted == 4 && m.rejected == 1 && m.full == 1);
    CHECK(m.successes == 2 && m.failures == 1 && m.ignored == 1);
    CHECK(m.created == 4 && m.evicted == 3 && m.keys == 1);

    seawall_keyed_breaker_free(b);
    seawall_manual_clock_free(clock);
}

#define THREADS 4
#define CALLS 20000

struct worker {
    const seawall_keyed_breaker *b;
    unsigned seed;
    uint64_t ok, full;
};

static void *work(void *arg) {
    struct worker *w = arg;
    for (int i = 0; i < CALLS; i++) {
        w->seed = w->seed * 1103515245u + 12345u;
        uint8_t key = (uint8_t)((w->seed >> 16) % 16);
        seawall_keyed_permit p;
        seawall_result rc = seawall_keyed_breaker_try_acquire(w->b, &key, 1, &p, NULL);
        if (rc == SEAWALL_RESULT_OK) {
            w->ok++;
            if (seawall_keyed_breaker_report(w->b, &p, SEAWALL_OUTCOME_SUCCESS) !=
                SEAWALL_RESULT_OK)
                return NULL;
        } else if (rc == SEAWALL_RESULT_KEYED_FULL) {
            w->full++;
        }
        size_t evicted;
        if (i % 8 == 0 && seawall_keyed_breaker_evict_idle(w->b, &evicted) != SEAWALL_RESULT_OK)
            return NULL;
    }
    return w;
}

static void test_threads_lose_no_outcome(void) {
    const seawall_keyed_breaker *b = NULL;
    CHECK_OK(seawall_keyed_breaker_new(NULL, NULL, 8, 0, NULL, &b));
    pthread_t t[THREADS];
    struct worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){b, (unsigned)i + 1, 0, 0};
        CHECK(pthread_create(&t[i], NULL, work, &w[i]) == 0);
    }
    uint64_t ok = 0, full = 0;
    for (int i = 0; i < THREADS; i++) {
        void *ret = NULL;
        pthread_join(t[i], &ret);
        CHECK(ret == &w[i]);
        ok += w[i].ok;
        full += w[i].full;
    }
    seawall_keyed_metrics m;
    CHECK_OK(seawall_keyed_breaker_metrics(b, &m));
    CHECK(ok + full == (uint64_t)THREADS * CALLS);
    CHECK(m.permitted == ok && m.successes == ok && m.full == full);
    CHECK(m.keys <= 8 && m.created - m.evicted == m.keys);
    seawall_keyed_breaker_free(b);
}

static void test_bad_arguments(void) {
    const seawall_keyed_breaker *b = NULL;
    BAD(seawall_keyed_breaker_new(NULL, "x", 0, 0, NULL, &b), INVALID_CONFIG,
        "seawall_keyed_breaker_new: invalid max_keys = 0: must be an integer in [1, 1048576]");
    BAD(seawall_keyed_breaker_new(NULL, "x", 1, 0, NULL, NULL), NULL_PARAMETER,
        "seawall_keyed_breaker_new: `out` is NULL");
    CHECK(b == NULL);
    CHECK_OK(seawall_keyed_breaker_new(NULL, "x", 1, 0, NULL, &b));
    const seawall_keyed_breaker *other = NULL;
    CHECK_OK(seawall_keyed_breaker_clone(b, &other));

    seawall_keyed_permit p;
    memset(&p, 0, sizeof p);
    BAD(seawall_keyed_breaker_try_acquire(NULL, KEY("k"), &p, NULL), NULL_PARAMETER,
        "seawall_keyed_breaker_try_acquire: `breaker` is NULL");
    BAD(seawall_keyed_breaker_try_acquire(b, NULL, 3, &p, NULL), NULL_PARAMETER,
        "seawall_keyed_breaker_try_acquire: `key` is NULL with `key_len` = 3 (a NULL `key` "
        "needs `key_len` = 0)");
    BAD(seawall_keyed_breaker_try_acquire(b, KEY("k"), NULL, NULL), NULL_PARAMETER,
        "seawall_keyed_breaker_try_acquire: `out_permit` is NULL");
    BAD(seawall_keyed_breaker_report(b, &p, SEAWALL_OUTCOME_SUCCESS), PERMIT_NOT_ISSUED,
        "seawall_keyed_breaker_report: the permit was never issued (was the acquire "
        "successful?)");
    BAD(seawall_keyed_breaker_report(b, NULL, SEAWALL_OUTCOME_SUCCESS), NULL_PARAMETER,
        "seawall_keyed_breaker_report: `permit` is NULL");
    seawall_state s;
    BAD(seawall_keyed_breaker_state(b, KEY("k"), &s), NOT_FOUND,
        "seawall_keyed_breaker_state: no breaker for the key \"k\"");
    /* The empty key is a key. */
    CHECK_OK(seawall_keyed_breaker_try_acquire(b, NULL, 0, &p, NULL));
    BAD(seawall_keyed_breaker_report(b, &p, 7), INVALID_ARGUMENT,
        "seawall_keyed_breaker_report: `outcome` = 7 is not one of SEAWALL_OUTCOME_SUCCESS (0), "
        "_FAILURE (1), _IGNORED (2)");
    CHECK(p.status != 0); /* still unreported */
    /* Another family's permit is refused and stays unreported. */
    const seawall_keyed_breaker *c = NULL;
    CHECK_OK(seawall_keyed_breaker_new(NULL, "y", 1, 0, NULL, &c));
    BAD(seawall_keyed_breaker_report(c, &p, SEAWALL_OUTCOME_SUCCESS), PERMIT_WRONG_BREAKER,
        "seawall_keyed_breaker_report: the permit was issued by another breaker");
    CHECK_OK(seawall_keyed_breaker_report(other, &p, SEAWALL_OUTCOME_SUCCESS));
    seawall_keyed_metrics m;
    BAD(seawall_keyed_breaker_metrics(b, NULL), NULL_PARAMETER,
        "seawall_keyed_breaker_metrics: `out` is NULL");
    CHECK_OK(seawall_keyed_breaker_metrics(b, &m));
    CHECK(m.successes == 1 && m.keys == 1);
    seawall_keyed_breaker_free(c);
    seawall_keyed_breaker_free(other);
    seawall_keyed_breaker_free(b);
    seawall_keyed_breaker_free(NULL);
}

int main(void) {
    test_per_key_breakers_and_eviction();
    test_threads_lose_no_outcome();
    test_bad_arguments();
    return check_report("test_keyed_breaker");
}

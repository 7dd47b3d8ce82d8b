/* Several threads share one breaker (and one registry) through the C ABI.
 * After joining, every counter must be exact, each transition must have
 * been delivered exactly once, and a registry must hand every thread the
 * same breaker. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "check.h"

#define THREADS 8
#define CALLS 20000

struct shared {
    const seawall_breaker *breaker;
    atomic_int errors;
};

/* Success, failure, ignored in turn: no thread ever reports two failures
 * without a success in between, so at most THREADS failures are consecutive
 * and the breaker (threshold 100) never trips. */
static void *mixed_calls(void *arg) {
    struct shared *s = (struct shared *)arg;
    const seawall_breaker *b = NULL;
    if (seawall_breaker_clone(s->breaker, &b) != SEAWALL_RESULT_OK) {
        atomic_fetch_add(&s->errors, 1);
        return NULL;
    }
    for (int i = 0; i < CALLS; i++) {
        seawall_permit p;
        seawall_result rc = seawall_breaker_try_acquire(b, &p, NULL);
        if (rc != SEAWALL_RESULT_OK) {
            atomic_fetch_add(&s->errors, 1);
            continue;
        }
        switch (i % 3) {
        case 0: rc = seawall_breaker_report_success(b, &p); break;
        case 1: rc = seawall_breaker_report_failure(b, &p); break;
        default: rc = seawall_breaker_report_ignored(b, &p); break;
        }
        if (rc != SEAWALL_RESULT_OK) atomic_fetch_add(&s->errors, 1);
        /* A second report from any thread must be refused. */
        if (seawall_breaker_report_success(b, &p) != SEAWALL_RESULT_PERMIT_ALREADY_REPORTED)
            atomic_fetch_add(&s->errors, 1);
    }
    seawall_breaker_free(b);
    return NULL;
}

static void test_exact_totals(void) {
    seawall_breaker_config c;
    CHECK_OK(seawall_breaker_config_default(&c));
    c.failure_threshold = 100;
    struct shared s;
    s.breaker = NULL;
    atomic_init(&s.errors, 0);
    CHECK_OK(seawall_breaker_new("shared", &c, &s.breaker));

    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) CHECK(pthread_create(&t[i], NULL, mixed_calls, &s) == 0);
    for (int i = 0; i < THREADS; i++) CHECK(pthread_join(t[i], NULL) == 0);

    CHECK(atomic_load(&s.errors) == 0);
    seawall_metrics m;
    CHECK_OK(seawall_breaker_metrics(s.breaker, &m));
    const uint64_t per = CALLS / 3;
    CHECK(m.state == SEAWALL_STATE_CLOSED);
    CHECK(m.permitted == (uint64_t)THREADS * CALLS);
    CHECK(m.successes == (uint64_t)THREADS * (per + (CALLS % 3 > 0)));
    CHECK(m.failures == (uint64_t)THREADS * (per + (CALLS % 3 > 1)));
    CHECK(m.ignored == (uint64_t)THREADS * per);
    CHECK(m.successes + m.failures + m.ignored == m.permitted);
    CHECK(m.late == 0 && m.rejected == 0);
    CHECK(m.to_open == 0);
    seawall_breaker_free(s.breaker);
}

struct trip {
    const seawall_breaker *breaker;
    atomic_int opened;
    atomic_int other_transitions;
    atomic_ulong admitted;
    atomic_ulong rejected;
};

static void count_transition(void *user_data, const char *name, seawall_state from,
                             seawall_state to, uint64_t at_ns) {
    struct trip *t = (struct trip *)user_data;
    (void)at_ns;
    if (strcmp(name, "racing") == 0 && from == SEAWALL_STATE_CLOSED && to == SEAWALL_STATE_OPEN)
        atomic_fetch_add(&t->opened, 1);
    else
        atomic_fetch_add(&t->other_transitions, 1);
}

/* Fails every call until the breaker rejects. */
static void *fail_until_rejected(void *arg) {
    struct trip *t = (struct trip *)arg;
    for (;;) {
        seawall_permit p;
        seawall_rejection why;
        seawall_result rc = seawall_breaker_try_acquire(t->breaker, &p, &why);
        if (rc == SEAWALL_RESULT_REJECTED) {
            atomic_fetch_add(&t->rejected, 1);
            if (why.state != SEAWALL_STATE_OPEN) atomic_fetch_add(&t->other_transitions, 1);
            return NULL;
        }
        atomic_fetch_add(&t->admitted, 1);
        seawall_breaker_report_failure(t->breaker, &p);
    }
}

static void test_one_trip_one_callback(void) {
    seawall_breaker_config c;
    CHECK_OK(seawall_breaker_config_default(&c));
    c.failure_threshold = 1000;
    struct trip t;
    t.breaker = NULL;
    atomic_init(&t.opened, 0);
    atomic_init(&t.other_transitions, 0);
    atomic_init(&t.admitted, 0);
    atomic_init(&t.rejected, 0);
    CHECK_OK(seawall_breaker_new("racing", &c, &t.breaker));
    CHECK_OK(seawall_breaker_add_listener(t.breaker, count_transition, &t));

    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        CHECK(pthread_create(&th[i], NULL, fail_until_rejected, &t) == 0);
    for (int i = 0; i < THREADS; i++) CHECK(pthread_join(th[i], NULL) == 0);

    CHECK(atomic_load(&t.opened) == 1);
    CHECK(atomic_load(&t.other_transitions) == 0);
    seawall_metrics m;
    CHECK_OK(seawall_breaker_metrics(t.breaker, &m));
    CHECK(m.state == SEAWALL_STATE_OPEN);
    CHECK(m.to_open == 1);
    CHECK(m.permitted == atomic_load(&t.admitted));
    CHECK(m.rejected == atomic_load(&t.rejected) && m.rejected == THREADS);
    /* Failures of the tripping episode, plus those reported after it. */
    CHECK(m.failures >= 1000);
    CHECK(m.failures + m.late == m.permitted);
    seawall_breaker_free(t.breaker);
}

struct lookup {
    const seawall_registry *registry;
    const seawall_breaker *got[THREADS];
    atomic_int next;
    atomic_int errors;
};

static void *look_up(void *arg) {
    struct lookup *l = (struct lookup *)arg;
    int me = atomic_fetch_add(&l->next, 1);
    if (seawall_registry_get_or_create(l->registry, "one", NULL, &l->got[me]) != SEAWALL_RESULT_OK)
        atomic_fetch_add(&l->errors, 1);
    /* The last error is per thread: this one stays here. */
    const seawall_breaker *none = NULL;
    if (seawall_registry_get(l->registry, "missing", &none) != SEAWALL_RESULT_NOT_FOUND ||
        seawall_last_error() != SEAWALL_RESULT_NOT_FOUND)
        atomic_fetch_add(&l->errors, 1);
    return NULL;
}

static void test_registry_shared(void) {
    struct lookup l;
    memset(&l, 0, sizeof l);
    atomic_init(&l.next, 0);
    atomic_init(&l.errors, 0);
    CHECK_OK(seawall_registry_new(&l.registry));
    /* Give this thread a last error of its own first. */
    CHECK_RC(seawall_breaker_config_default(NULL), SEAWALL_RESULT_NULL_PARAMETER);

    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) CHECK(pthread_create(&th[i], NULL, look_up, &l) == 0);
    for (int i = 0; i < THREADS; i++) CHECK(pthread_join(th[i], NULL) == 0);

    CHECK(atomic_load(&l.errors) == 0);
    for (int i = 1; i < THREADS; i++) CHECK(l.got[i] == l.got[0] && l.got[0] != NULL);
    size_t n = 0;
    CHECK_OK(seawall_registry_count(l.registry, &n));
    CHECK(n == 1);
    CHECK(seawall_last_error() == SEAWALL_RESULT_NULL_PARAMETER);
    for (int i = 0; i < THREADS; i++) seawall_breaker_free(l.got[i]);
    seawall_registry_free(l.registry);
}

int main(void) {
    test_exact_totals();
    test_one_trip_one_callback();
    test_registry_shared();
    return check_report("test_threads");
}

/* A fork storm: while threads start, exit, add listeners, trip and reset
 * breakers and wait on a bulkhead, the main thread forks again and again.
 * Each child uses everything it inherited (acquire, report, trip, reset, a
 * listener that must fire, a new thread that counts, the bulkhead, the
 * registry) and
 * exits. No lock of the library may be caught held by a parent thread at
 * the fork: the parent gives every child a deadline and fails on any that
 * has not finished by then (then kills it).
 *
 * First, before anything in this process reads the production clock, a
 * fork lands while another thread takes the process's first clock reading
 * (which calibrates the clock, up to milliseconds): the child must still
 * read the clock. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

#define BREAKERS 2
#define WORKERS 4      /* threads alive at once in the parent */
#define FORKS 200
#define LISTENERS 64   /* listeners the workers add, in all */
#define CHILD_DEADLINE_MS 5000

struct shared {
    const seawall_breaker *breakers[BREAKERS];
    const seawall_bulkhead *bulkhead;
    const seawall_registry *registry;
    atomic_int stop;
    atomic_int listeners_added;
    atomic_int errors;
};

/* Transitions heard by the listeners, in whichever process they run. */
static atomic_long heard;

static void count_transition(void *user_data, const char *name, seawall_state from,
                             seawall_state to, uint64_t at_ns) {
    (void)name;
    (void)from;
    (void)to;
    (void)at_ns;
    atomic_fetch_add((atomic_long *)user_data, 1);
}

static long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* One short-lived thread: a few calls that trip and reset every breaker
 * (each trip and reset is a transition delivered to the listeners), maybe
 * one more listener, a few bulkhead acquisitions that wait for a slot, a
 * registry look-up (a thread's first one registers it with the map's
 * memory reclamation); then it exits, handing back its counter stripe. */
static void *worker(void *arg) {
    struct shared *s = (struct shared *)arg;
    const seawall_breaker *named = NULL;
    if (seawall_registry_get_or_create(s->registry, "fork-registry", NULL, &named) !=
        SEAWALL_RESULT_OK)
        atomic_fetch_add(&s->errors, 1);
    seawall_breaker_free(named);
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < BREAKERS; i++) {
            const seawall_breaker *b = s->breakers[i];
            seawall_permit p;
            if (seawall_breaker_try_acquire(b, &p, NULL) == SEAWALL_RESULT_OK &&
                seawall_breaker_report_failure(b, &p) != SEAWALL_RESULT_OK)
                atomic_fetch_add(&s->errors, 1);
            if (seawall_breaker_reset(b) != SEAWALL_RESULT_OK) atomic_fetch_add(&s->errors, 1);
        }
        if (atomic_fetch_add(&s->listeners_added, 1) < LISTENERS &&
            seawall_breaker_add_listener(s->breakers[round % BREAKERS], count_transition,
                                         &heard) != SEAWALL_RESULT_OK)
            atomic_fetch_add(&s->errors, 1);
        seawall_bulkhead_permit bp;
        seawall_result rc = seawall_bulkhead_acquire_timeout(s->bulkhead, 200000, &bp);
        if (rc == SEAWALL_RESULT_OK) {
            if (seawall_bulkhead_release(s->bulkhead, &bp) != SEAWALL_RESULT_OK)
                atomic_fetch_add(&s->errors, 1);
        } else if (rc != SEAWALL_RESULT_BULKHEAD_TIMEOUT) {
            atomic_fetch_add(&s->errors, 1);
        }
    }
    return NULL;
}

/* Keeps WORKERS threads starting and exiting until told to stop. */
static void *spawner(void *arg) {
    struct shared *s = (struct shared *)arg;
    while (!atomic_load(&s->stop)) {
        pthread_t t[WORKERS];
        int n = 0;
        for (; n < WORKERS; n++)
            if (pthread_create(&t[n], NULL, worker, s) != 0) break;
        for (int i = 0; i < n; i++) pthread_join(t[i], NULL);
    }
    return NULL;
}

struct child_counts {
    const seawall_breaker *breaker;
    int ok;
};

/* A thread new in the child: its first count claims a counter stripe. */
static void *child_thread(void *arg) {
    struct child_counts *c = (struct child_counts *)arg;
    seawall_permit p;
    c->ok = seawall_breaker_try_acquire(c->breaker, &p, NULL) == SEAWALL_RESULT_OK &&
            seawall_breaker_report_success(c->breaker, &p) == SEAWALL_RESULT_OK;
    return NULL;
}

/* The child's work on what it inherited; its exit status is the number of
 * things that went wrong (0 for none). */
static int child(struct shared *s) {
    int bad = 0;
    static atomic_long mine;
    for (int i = 0; i < BREAKERS; i++) {
        const seawall_breaker *b = s->breakers[i];
        atomic_store(&mine, 0);
        bad += seawall_breaker_add_listener(b, count_transition, &mine) != SEAWALL_RESULT_OK;
        bad += seawall_breaker_reset(b) != SEAWALL_RESULT_OK;
        seawall_permit p;
        bad += seawall_breaker_try_acquire(b, &p, NULL) != SEAWALL_RESULT_OK;
        bad += seawall_breaker_report_failure(b, &p) != SEAWALL_RESULT_OK;
        seawall_state st = SEAWALL_STATE_CLOSED;
        bad += seawall_breaker_state(b, &st) != SEAWALL_RESULT_OK || st != SEAWALL_STATE_OPEN;
        bad += seawall_breaker_reset(b) != SEAWALL_RESULT_OK;
        /* reset() from CLOSED is no transition; the trip and the reset are. */
        bad += atomic_load(&mine) < 2;
        struct child_counts c = {b, 0};
        pthread_t t;
        if (pthread_create(&t, NULL, child_thread, &c) == 0) {
            pthread_join(t, NULL);
            bad += !c.ok;
        } else {
            bad++;
        }
    }
    /* The registry: found, and a new name added. */
    const seawall_breaker *named = NULL;
    bad += seawall_registry_get_or_create(s->registry, "fork-registry", NULL, &named) !=
           SEAWALL_RESULT_OK;
    seawall_breaker_free(named);
    named = NULL;
    bad += seawall_registry_get_or_create(s->registry, "fork-child", NULL, &named) !=
           SEAWALL_RESULT_OK;
    seawall_breaker_free(named);
    /* Slots held by parent threads at the fork stay taken here (those
     * threads never release them in this process): a slot may or may not
     * be free, but the answer comes without hanging. */
    seawall_bulkhead_permit bp;
    seawall_result rc = seawall_bulkhead_acquire_timeout(s->bulkhead, 20000000, &bp);
    if (rc == SEAWALL_RESULT_OK)
        bad += seawall_bulkhead_release(s->bulkhead, &bp) != SEAWALL_RESULT_OK;
    else
        bad += rc != SEAWALL_RESULT_BULKHEAD_TIMEOUT;
    return bad > 100 ? 100 : bad;
}

/* Waits for `pid` up to `ms` milliseconds; kills it if it is still running. */
static int wait_child(pid_t pid, int *status, long ms) {
    long deadline = now_ms() + ms;
    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid) return 1;
        if (r < 0 && errno != EINTR) return 0;
        if (now_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, status, 0);
            return 0;
        }
        sleep_ms(1);
    }
}

#define FIRST_READS 30

static atomic_int first_trip_started;

static void *first_trip(void *arg) {
    const seawall_breaker *b = (const seawall_breaker *)arg;
    seawall_permit p;
    atomic_store(&first_trip_started, 1);
    if (seawall_breaker_try_acquire(b, &p, NULL) == SEAWALL_RESULT_OK)
        seawall_breaker_report_failure(b, &p); /* trips: reads the clock */
    return NULL;
}

/* In a fresh process (forked before this process read the clock): a thread
 * makes the first clock reading while this one forks; the grandchild trips
 * a breaker (reads the clock) and must finish. Exit status: 0 when it did. */
static int first_read_race(int k) {
    seawall_breaker_config c;
    const seawall_breaker *b = NULL;
    if (seawall_breaker_config_default(&c) != SEAWALL_RESULT_OK) return 2;
    c.failure_threshold = 1;
    if (seawall_breaker_new("first-read", &c, &b) != SEAWALL_RESULT_OK) return 2;
    pthread_t t;
    atomic_store(&first_trip_started, 0);
    if (pthread_create(&t, NULL, first_trip, (void *)b) != 0) return 2;
    while (!atomic_load(&first_trip_started)) sched_yield();
    struct timespec d = {0, (k % 10) * 20000L}; /* 0 to 0.18 ms into it */
    nanosleep(&d, NULL);
    pid_t pid = fork();
    if (pid == 0) {
        seawall_permit p;
        seawall_breaker_reset(b);
        int ok = seawall_breaker_try_acquire(b, &p, NULL) == SEAWALL_RESULT_OK &&
                 seawall_breaker_report_failure(b, &p) == SEAWALL_RESULT_OK;
        _exit(ok ? 0 : 1);
    }
    pthread_join(t, NULL);
    if (pid < 0) return 2;
    int status = 0;
    if (!wait_child(pid, &status, CHILD_DEADLINE_MS)) return 3;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 4;
}

/* Must run before anything else in this process reads the clock. */
static void test_fork_during_the_first_clock_reading(void) {
    int hung = 0, failed = 0;
    for (int k = 0; k < FIRST_READS; k++) {
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) _exit(first_read_race(k));
        CHECK(pid > 0);
        if (pid < 0) break;
        int status = 0;
        /* The helper waits up to a deadline for its own child. */
        if (!wait_child(pid, &status, 2 * CHILD_DEADLINE_MS)) {
            hung++;
            continue;
        }
        int code = WIFEXITED(status) ? WEXITSTATUS(status) : 4;
        hung += code == 3;
        failed += code != 0 && code != 3;
    }
    if (hung) fprintf(stderr, "%d of %d children forked during the first clock reading hung\n",
                      hung, FIRST_READS);
    CHECK(hung == 0);
    CHECK(failed == 0);
}

static void test_fork_storm(void) {
    struct shared s;
    memset(&s, 0, sizeof s);
    atomic_init(&s.stop, 0);
    atomic_init(&s.listeners_added, 0);
    atomic_init(&s.errors, 0);
    seawall_breaker_config c;
    CHECK_OK(seawall_breaker_config_default(&c));
    c.failure_threshold = 1;
    for (int i = 0; i < BREAKERS; i++) {
        char name[16];
        snprintf(name, sizeof name, "fork-%d", i);
        CHECK_OK(seawall_breaker_new(name, &c, &s.breakers[i]));
    }
    seawall_bulkhead_config bc;
    CHECK_OK(seawall_bulkhead_config_default(&bc));
    bc.max_concurrent = 2;
    bc.max_queue_size = 64;
    CHECK_OK(seawall_bulkhead_new(&bc, NULL, &s.bulkhead));
    CHECK_OK(seawall_registry_new(&s.registry));

    pthread_t sp;
    CHECK(pthread_create(&sp, NULL, spawner, &s) == 0);
    int hung = 0, failed = 0;
    for (int k = 0; k < FORKS; k++) {
        sleep_ms(k % 3); /* vary where the fork lands */
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) _exit(child(&s)); /* no atexit: no leak check of the parent's heap */
        CHECK(pid > 0);
        if (pid < 0) break;
        int status = 0;
        if (!wait_child(pid, &status, CHILD_DEADLINE_MS)) {
            hung++;
        } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            failed++;
            fprintf(stderr, "child %d: %s %d\n", k, WIFEXITED(status) ? "exit" : "signal",
                    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        }
    }
    atomic_store(&s.stop, 1);
    CHECK(pthread_join(sp, NULL) == 0);
    if (hung) fprintf(stderr, "%d of %d children hung (killed after %d ms)\n", hung, FORKS,
                      CHILD_DEADLINE_MS);
    CHECK(hung == 0);
    CHECK(failed == 0);
    CHECK(atomic_load(&s.errors) == 0);
    CHECK(atomic_load(&heard) > 0);

    for (int i = 0; i < BREAKERS; i++) seawall_breaker_free(s.breakers[i]);
    seawall_bulkhead_free(s.bulkhead);
    seawall_registry_free(s.registry);
}

int main(void) {
    test_fork_during_the_first_clock_reading();
    test_fork_storm();
    return check_report("test_fork");
}

/* Protecting calls to a flaky dependency with a seawall circuit breaker,
 * from C.
 *
 * It shows, in order:
 *   1. error handling: a bad argument and an invalid config are refused
 *      with a result code, and the thread's last error names the problem;
 *   2. a breaker built from a config, taken from a registry, with a
 *      transition callback that prints every state change;
 *   3. the permit protocol: acquire, make the call only if admitted, then
 *      report its success or failure exactly once;
 *   4. the breaker's metrics at the end.
 *
 * Time comes from a manual clock, advanced by the loop, so the output is
 * the same on every run; in production pass no clock
 * (seawall_registry_new, seawall_breaker_new) and the breaker reads the
 * system's monotonic clock.
 *
 * Build and run (see the Makefile next to this file for the flags):
 *
 *     cargo build --release -p seawall-ffi
 *     make -C examples/c run
 */
#include <stdio.h>
#include <string.h>

#include "seawall.h"

#define MS 1000000ULL /* nanoseconds in a millisecond */

/* The dependency: healthy, then down for calls 10-24, then healthy again.
 * Returns 0 on success. */
static int call_inventory(int attempt) {
    return (attempt >= 10 && attempt < 25) ? -1 : 0;
}

/* Runs on the thread whose call caused the transition, once per transition,
 * outside any lock of the library. */
static void on_transition(void *user_data, const char *name, seawall_state from,
                          seawall_state to, uint64_t at_ns) {
    (void)user_data;
    printf("  [t=%4llu ms] %s: %s -> %s\n", (unsigned long long)(at_ns / MS), name,
           seawall_state_name(from), seawall_state_name(to));
}

/* Prints what went wrong: the code's description and the last error's message,
 * which names the function, the argument or config field, the value given
 * and what is allowed. */
static void print_last_error(const char *what, seawall_result rc) {
    char code[64];
    char msg[256];
    seawall_result_message((uint32_t)rc, code, sizeof code, NULL);
    seawall_last_error_message(msg, sizeof msg, NULL);
    printf("%s: refused (%s): %s\n", what, code, msg);
}

int main(void) {
    printf("seawall %s\n", seawall_version());

    /* --- 1. errors are results, never crashes ---------------------------- */
    seawall_breaker_config bad;
    seawall_breaker_config_default(&bad);
    bad.timeout_ns = 0; /* an open time must be positive */
    const seawall_breaker *nothing = NULL;
    seawall_result rc = seawall_breaker_new("bad", &bad, &nothing);
    if (rc != SEAWALL_RESULT_INVALID_CONFIG || nothing != NULL) return 1;
    print_last_error("invalid config", rc);

    rc = seawall_breaker_new("no-out", NULL, NULL); /* nowhere to write the handle */
    if (rc != SEAWALL_RESULT_NULL_PARAMETER) return 1;
    print_last_error("NULL out pointer", rc);

    /* --- 2. a breaker from a config, in a registry ------------------------ */
    const seawall_manual_clock *clock = NULL;
    const seawall_registry *registry = NULL;
    if (seawall_manual_clock_new(&clock) != SEAWALL_RESULT_OK ||
        seawall_registry_new_with_clock(clock, &registry) != SEAWALL_RESULT_OK) {
        print_last_error("setup", seawall_last_error());
        return 1;
    }

    seawall_breaker_config config;
    seawall_breaker_config_default(&config);
    config.failure_threshold = 3; /* open after 3 failures in a row */
    config.success_threshold = 2; /* close after 2 successful trials */
    config.timeout_ns = 20 * MS;  /* stay open 20 ms, then admit a trial */

    /* Every part of a program that asks the registry for "inventory" gets
     * this same breaker (the first caller's config wins). */
    const seawall_breaker *breaker = NULL;
    rc = seawall_registry_get_or_create(registry, "inventory", &config, &breaker);
    if (rc != SEAWALL_RESULT_OK) {
        print_last_error("get_or_create", rc);
        return 1;
    }
    /* user_data (NULL here) must outlive the breaker: listeners stay. */
    seawall_breaker_add_listener(breaker, on_transition, NULL);

    /* --- 3. the permit protocol ------------------------------------------ */
    printf("40 calls, 5 ms apart, to a dependency that is down for calls 10-24\n");
    int ok = 0, failed = 0, rejected = 0;
    for (int attempt = 0; attempt < 40; attempt++) {
        seawall_permit permit;
        seawall_rejection why;
        rc = seawall_breaker_try_acquire(breaker, &permit, &why);
        if (rc == SEAWALL_RESULT_REJECTED) {
            /* Not called: the breaker says why and when to come back. */
            rejected++;
            if (rejected <= 2)
                printf("call %2d: rejected (%s, next trial in %llu ms)\n", attempt,
                       seawall_state_name(why.state),
                       (unsigned long long)(why.retry_after_ns / MS));
        } else if (rc != SEAWALL_RESULT_OK) {
            print_last_error("try_acquire", rc);
            return 1;
        } else if (call_inventory(attempt) == 0) {
            seawall_breaker_report_success(breaker, &permit);
            ok++;
        } else {
            printf("call %2d: failed\n", attempt);
            failed++;
            /* A report that trips the breaker runs the callback here. */
            seawall_breaker_report_failure(breaker, &permit);
        }
        seawall_manual_clock_advance(clock, 5 * MS);
    }

    /* --- 4. metrics ------------------------------------------------------- */
    seawall_metrics m;
    seawall_breaker_metrics(breaker, &m);
    printf("%d ok, %d failed, %d rejected\n", ok, failed, rejected);
    printf("final state %s: %llu permitted, %llu successes, %llu failures, %llu rejected, "
           "opened %llu times\n",
           seawall_state_name(m.state), (unsigned long long)m.permitted,
           (unsigned long long)m.successes, (unsigned long long)m.failures,
           (unsigned long long)m.rejected, (unsigned long long)m.to_open);

    seawall_breaker_free(breaker);
    seawall_registry_free(registry);
    seawall_manual_clock_free(clock);
    return m.state == SEAWALL_STATE_CLOSED ? 0 : 1;
}

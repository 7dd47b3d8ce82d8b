/* Protecting calls to a flaky dependency with a seawall circuit breaker.
 *
 * Build and run from the repository root:
 *
 *     cargo build --release -p seawall-ffi
 *     lib=$(realpath "${CARGO_TARGET_DIR:-target}/release")
 *     cc -std=c11 -Wall -Iinclude ffi-c/examples/protect.c \
 *        -L"$lib" -lseawall_ffi -Wl,-rpath,"$lib" -o "$lib/protect"
 *     "$lib/protect"
 *
 * or, with the library installed by cargo cinstall (ffi-c/README.md) and
 * PKG_CONFIG_PATH naming its pkgconfig directory:
 *
 *     cc -std=c11 ffi-c/examples/protect.c $(pkg-config --cflags --libs seawall) \
 *        -Wl,-rpath,"$(pkg-config --variable=libdir seawall)" -o protect
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <time.h>

#include "seawall.h"

/* The dependency: healthy, then down for a while, then healthy again. */
static int call_inventory(int attempt) {
    return (attempt >= 10 && attempt < 25) ? -1 : 0;
}

static void on_transition(void *user_data, const char *name, seawall_state from,
                          seawall_state to, uint64_t at_ns) {
    (void)user_data;
    (void)at_ns;
    printf("  [%s] %s -> %s\n", name, seawall_state_name(from), seawall_state_name(to));
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int fail(const char *what) {
    char msg[256];
    seawall_last_error_message(msg, sizeof msg, NULL);
    fprintf(stderr, "%s: %s\n", what, msg);
    return 1;
}

int main(void) {
    const seawall_registry *registry = NULL;
    if (seawall_registry_new(&registry) != SEAWALL_RESULT_OK) return fail("registry");

    seawall_breaker_config config;
    seawall_breaker_config_default(&config);
    config.failure_threshold = 3;
    config.success_threshold = 2;
    config.timeout_ns = 20 * 1000 * 1000; /* 20 ms open, then a trial call */

    const seawall_breaker *breaker = NULL;
    if (seawall_registry_get_or_create(registry, "inventory", &config, &breaker) !=
        SEAWALL_RESULT_OK)
        return fail("get_or_create");
    seawall_breaker_add_listener(breaker, on_transition, NULL);

    printf("seawall %s: 40 calls to a dependency that is down for calls 10-24\n",
           seawall_version());
    for (int attempt = 0; attempt < 40; attempt++) {
        seawall_permit permit;
        seawall_rejection why;
        seawall_result rc = seawall_breaker_try_acquire(breaker, &permit, &why);
        if (rc == SEAWALL_RESULT_REJECTED) {
            printf("call %2d: rejected (%s, retry in %.1f ms)\n", attempt,
                   seawall_state_name(why.state), (double)why.retry_after_ns / 1e6);
        } else if (rc != SEAWALL_RESULT_OK) {
            return fail("try_acquire");
        } else if (call_inventory(attempt) == 0) {
            seawall_breaker_report_success(breaker, &permit);
            printf("call %2d: ok\n", attempt);
        } else {
            seawall_breaker_report_failure(breaker, &permit);
            printf("call %2d: failed\n", attempt);
        }
        sleep_ms(5);
    }

    seawall_metrics m;
    seawall_breaker_metrics(breaker, &m);
    printf("state %s: %llu permitted, %llu ok, %llu failed, %llu rejected, %llu trips\n",
           seawall_state_name(m.state), (unsigned long long)m.permitted,
           (unsigned long long)m.successes, (unsigned long long)m.failures,
           (unsigned long long)m.rejected, (unsigned long long)m.to_open);

    seawall_breaker_free(breaker);
    seawall_registry_free(registry);
    return m.state == SEAWALL_STATE_CLOSED ? 0 : 1;
}

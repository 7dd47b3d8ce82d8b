/* Speed of the protected-call protocol through the C ABI: one
 * seawall_breaker_try_acquire + seawall_breaker_report_success per call on
 * a CLOSED breaker (default config, production clock), single-threaded.
 *
 *     cargo build --release -p seawall-ffi
 *     lib=$(realpath "${CARGO_TARGET_DIR:-target}/release")
 *     cc -O2 -std=c11 -Iinclude ffi-c/bench/bench.c "$lib/libseawall_ffi.a" \
 *        -pthread -ldl -lm -o "$lib/seawall-bench"          # static
 *     cc -O2 -std=c11 -Iinclude ffi-c/bench/bench.c -L"$lib" -lseawall_ffi \
 *        -Wl,-rpath,"$lib" -o "$lib/seawall-bench-so"       # shared
 *     "$lib/seawall-bench" [calls per run] [runs] [closed|rejected|rejected_manual]
 *
 * `rejected` measures seawall_breaker_try_acquire on an OPEN breaker on the
 * production clock; `rejected_manual` the same on a manual clock that never
 * moves, so every call takes the same instructions (the production clock's
 * reading, and the retry-after computed from it, vary from call to call).
 *
 * Prints nanoseconds per call for each run and their median, by the wall
 * clock and by the thread's CPU clock (CLOCK_THREAD_CPUTIME_ID, which does
 * not count time the thread spends preempted: the figure to compare on a
 * shared machine, as the criterion benches' `SEAWALL_BENCH_CLOCK=cpu`). For
 * instruction counts, run `rejected_manual` (or `closed`, which reads no
 * clock) under `valgrind --tool=callgrind --toggle-collect='run_*'` with two
 * call counts and divide the difference in instructions by the difference
 * in calls (this cancels the setup). */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "seawall.h"

static uint64_t now_ns(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Kept out of line so a profiler can attribute the loop. */
__attribute__((noinline)) static uint64_t run_closed(const seawall_breaker *b, uint64_t n) {
    uint64_t ok = 0;
    for (uint64_t i = 0; i < n; i++) {
        seawall_permit p;
        if (seawall_breaker_try_acquire(b, &p, NULL) == SEAWALL_RESULT_OK)
            ok += seawall_breaker_report_success(b, &p) == SEAWALL_RESULT_OK;
    }
    return ok;
}

__attribute__((noinline)) static uint64_t run_rejected(const seawall_breaker *b, uint64_t n) {
    uint64_t rejected = 0;
    for (uint64_t i = 0; i < n; i++) {
        seawall_permit p;
        seawall_rejection why;
        rejected += seawall_breaker_try_acquire(b, &p, &why) == SEAWALL_RESULT_REJECTED;
    }
    return rejected;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    uint64_t calls = argc > 1 ? strtoull(argv[1], NULL, 10) : 20000000u;
    int runs = argc > 2 ? atoi(argv[2]) : 7;
    const char *mode = argc > 3 ? argv[3] : "closed";
    int manual = strcmp(mode, "rejected_manual") == 0;
    int rejected = manual || strcmp(mode, "rejected") == 0;
    if (calls == 0 || runs < 1 || runs > 100 || (!rejected && strcmp(mode, "closed") != 0)) {
        fprintf(stderr, "usage: %s [calls per run] [runs 1-100] [closed|rejected|rejected_manual]\n",
                argv[0]);
        return 2;
    }

    const seawall_breaker *b = NULL;
    /* The manual clock stays at 0 ns: the breaker stays OPEN for good. */
    const seawall_manual_clock *clock = NULL;
    if (manual) {
        if (seawall_manual_clock_new(&clock) != SEAWALL_RESULT_OK ||
            seawall_breaker_new_with_clock("bench", NULL, clock, &b) != SEAWALL_RESULT_OK)
            return 1;
    } else if (seawall_breaker_new("bench", NULL, &b) != SEAWALL_RESULT_OK) {
        return 1;
    }
    if (rejected) {
        /* Trip it: 5 failures, then 60 s open. */
        for (int i = 0; i < 5; i++) {
            seawall_permit p;
            seawall_breaker_try_acquire(b, &p, NULL);
            seawall_breaker_report_failure(b, &p);
        }
    }
    uint64_t (*run)(const seawall_breaker *, uint64_t) = rejected ? run_rejected : run_closed;
    run(b, calls / 10 + 1); /* warm up */

    double ns[100], cpu[100];
    for (int r = 0; r < runs; r++) {
        uint64_t c0 = now_ns(CLOCK_THREAD_CPUTIME_ID);
        uint64_t t0 = now_ns(CLOCK_MONOTONIC);
        uint64_t got = run(b, calls);
        uint64_t t1 = now_ns(CLOCK_MONOTONIC);
        uint64_t c1 = now_ns(CLOCK_THREAD_CPUTIME_ID);
        if (got != calls) {
            fprintf(stderr, "run %d: %llu of %llu calls took the %s path\n", r,
                    (unsigned long long)got, (unsigned long long)calls, mode);
            return 1;
        }
        ns[r] = (double)(t1 - t0) / (double)calls;
        cpu[r] = (double)(c1 - c0) / (double)calls;
        printf("run %d: %.2f ns/call (thread CPU %.2f)\n", r, ns[r], cpu[r]);
    }
    qsort(ns, (size_t)runs, sizeof ns[0], cmp_double);
    qsort(cpu, (size_t)runs, sizeof cpu[0], cmp_double);
    printf("%s: median %.2f ns/call over %d runs of %llu calls (min %.2f, max %.2f)\n", mode,
           ns[runs / 2], runs, (unsigned long long)calls, ns[0], ns[runs - 1]);
    printf("%s: thread CPU median %.2f ns/call (min %.2f, max %.2f)\n", mode, cpu[runs / 2],
           cpu[0], cpu[runs - 1]);
    seawall_breaker_free(b);
    seawall_manual_clock_free(clock);
    return 0;
}

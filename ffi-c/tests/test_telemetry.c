/* seawall_registry_prometheus_text: the scraped text carries the breakers'
 * exact counters after a scripted run (open, half-open, close,
 * rejections), with the usual size protocol and errors. */
#include <stdint.h>

#include "check.h"

/* The value of the sample line that starts with `series` and a space. */
static double sample(const char *text, const char *series) {
    size_t n = strlen(series);
    for (const char *line = text; line && *line; line = strchr(line, '\n'), line += line != NULL) {
        if (strncmp(line, series, n) == 0 && line[n] == ' ')
            return strtod(line + n + 1, NULL);
    }
    fprintf(stderr, "no sample %s\n", series);
    check_failures++;
    return -1;
}

static void call(const seawall_breaker *b, int ok) {
    seawall_permit p;
    CHECK_OK(seawall_breaker_try_acquire(b, &p, NULL));
    CHECK_OK(ok ? seawall_breaker_report_success(b, &p) : seawall_breaker_report_failure(b, &p));
}

static void test_scripted_run(void) {
    const seawall_manual_clock *clock = NULL;
    CHECK_OK(seawall_manual_clock_new(&clock));
    const seawall_registry *r = NULL;
    CHECK_OK(seawall_registry_new_with_clock(clock, &r));
    seawall_breaker_config c;
    CHECK_OK(seawall_breaker_config_default(&c));
    c.failure_threshold = 2;
    c.success_threshold = 1;
    c.timeout_ns = 10 * NS_PER_S;
    const seawall_breaker *b = NULL;
    CHECK_OK(seawall_registry_get_or_create(r, "users", &c, &b));

    call(b, 1);
    call(b, 0);
    call(b, 0); /* opens */
    seawall_permit p;
    for (int i = 0; i < 3; i++)
        CHECK_RC(seawall_breaker_try_acquire(b, &p, NULL), SEAWALL_RESULT_REJECTED);
    CHECK_OK(seawall_manual_clock_advance(clock, 10 * NS_PER_S));
    call(b, 1); /* the half-open trial closes it */
    CHECK_OK(seawall_manual_clock_advance(clock, 2 * NS_PER_S));

    /* The size query, then the text. */
    size_t need = 0;
    CHECK_RC(seawall_registry_prometheus_text(r, NULL, 0, &need), SEAWALL_RESULT_BUFFER_TOO_SMALL);
    CHECK(need > 0);
    char *text = malloc(need + 1);
    size_t got = 0;
    CHECK_OK(seawall_registry_prometheus_text(r, text, need + 1, &got));
    CHECK(got == need && strlen(text) == need);

    seawall_metrics m;
    CHECK_OK(seawall_breaker_metrics(b, &m));
    CHECK(sample(text, "seawall_breaker_calls_total{name=\"users\",outcome=\"success\"}") ==
          (double)m.successes);
    CHECK(m.successes == 2);
    CHECK(sample(text, "seawall_breaker_calls_total{name=\"users\",outcome=\"failure\"}") ==
          (double)m.failures);
    CHECK(m.failures == 2);
    CHECK(sample(text, "seawall_breaker_rejected_calls_total{name=\"users\"}") == (double)m.rejected);
    CHECK(m.rejected == 3);
    CHECK(sample(text, "seawall_breaker_transitions_total{name=\"users\",from=\"closed\",to=\"open\"}") == 1);
    CHECK(sample(text, "seawall_breaker_transitions_total{name=\"users\",from=\"open\",to=\"half_open\"}") == 1);
    CHECK(sample(text, "seawall_breaker_transitions_total{name=\"users\",from=\"half_open\",to=\"closed\"}") == 1);
    CHECK(sample(text, "seawall_breaker_state{name=\"users\",state=\"closed\"}") == 1);
    CHECK(sample(text, "seawall_breaker_state{name=\"users\",state=\"open\"}") == 0);
    CHECK(sample(text, "seawall_breaker_state_duration_seconds{name=\"users\"}") == 2.0);
    CHECK(strstr(text, "# TYPE seawall_breaker_calls counter\n") != NULL);
    CHECK(strcmp(text + need - 6, "# EOF\n") == 0);

    /* Too small: a NUL-terminated prefix, the full length, and an error. */
    char small[16];
    size_t full = 0;
    BAD_PREFIX(seawall_registry_prometheus_text(r, small, sizeof small, &full), BUFFER_TOO_SMALL,
               "seawall_registry_prometheus_text: `len` = 16 is less than the ");
    CHECK(full == need && strlen(small) == 15 && strncmp(small, text, 15) == 0);
    free(text);

    BAD(seawall_registry_prometheus_text(NULL, NULL, 0, NULL), NULL_PARAMETER,
        "seawall_registry_prometheus_text: `registry` is NULL");
    BAD(seawall_registry_prometheus_text(r, NULL, 8, NULL), NULL_PARAMETER,
        "seawall_registry_prometheus_text: `buf` is NULL with `len` = 8 (a NULL `buf` needs `len` = 0)");

    seawall_breaker_free(b);
    seawall_registry_free(r);
    seawall_manual_clock_free(clock);
}

int main(void) {
    test_scripted_run();
    return check_report("test_telemetry");
}

/* Every error path of the breaker, the registry and the manual clock
 * through the C ABI: NULL handles and outputs, invalid configurations, bad
 * names, misused permits, and a table of every bad input of every function
 * with the exact message it must leave. Outputs must stay untouched on
 * every failure. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#include "check.h"

static void fill(void *p, size_t n) { memset(p, 0x5A, n); }

static int untouched(const void *p, size_t n) {
    const unsigned char *c = (const unsigned char *)p;
    for (size_t i = 0; i < n; i++)
        if (c[i] != 0x5A) return 0;
    return 1;
}

static void test_null_handles(void) {
    seawall_permit p;
    seawall_rejection why;
    seawall_metrics m;
    seawall_breaker_config c;
    seawall_state s;
    size_t n;
    char buf[16];
    uint64_t t;
    fill(&p, sizeof p);
    fill(&why, sizeof why);
    fill(&m, sizeof m);
    fill(&c, sizeof c);
    fill(&s, sizeof s);
    fill(&n, sizeof n);
    fill(buf, sizeof buf);
    fill(&t, sizeof t);

    const seawall_breaker *nb = NULL;
    CHECK_RC(seawall_breaker_try_acquire(nb, &p, &why), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_LAST_ERROR("seawall_breaker_try_acquire: `breaker` is NULL");
    CHECK(seawall_last_error() == SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_RC(seawall_breaker_report_success(nb, &p), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_RC(seawall_breaker_report_failure(nb, &p), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_RC(seawall_breaker_report_ignored(nb, &p), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_RC(seawall_breaker_report(nb, &p, SEAWALL_OUTCOME_SUCCESS, 1), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_RC(seawall_breaker_state(nb, &s), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_RC(seawall_breaker_metrics(nb, &m), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_RC(seawall_breaker_get_config(nb, &c), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_RC(seawall_breaker_name(nb, buf, sizeof buf, &n), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_RC(seawall_breaker_force_open(nb), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_LAST_ERROR("seawall_breaker_force_open: `breaker` is NULL");
    CHECK_RC(seawall_breaker_force_closed(nb), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_RC(seawall_breaker_reset(nb), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_RC(seawall_breaker_clear_metrics(nb), SEAWALL_RESULT_NULL_PARAMETER);
    const seawall_breaker *clone = NULL;
    CHECK_RC(seawall_breaker_clone(nb, &clone), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK(clone == NULL);
    CHECK_RC(seawall_breaker_add_listener(nb, NULL, NULL), SEAWALL_RESULT_NULL_PARAMETER);

    const seawall_registry *nr = NULL;
    const seawall_breaker *got = NULL;
    CHECK_RC(seawall_registry_get_or_create(nr, "x", NULL, &got), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_LAST_ERROR("seawall_registry_get_or_create: `registry` is NULL");
    CHECK_RC(seawall_registry_get(nr, "x", &got), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_RC(seawall_registry_remove(nr, "x"), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_RC(seawall_registry_count(nr, &n), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_RC(seawall_registry_for_each(nr, NULL, NULL), SEAWALL_RESULT_NULL_PARAMETER);
    const seawall_registry *rclone = NULL;
    CHECK_RC(seawall_registry_clone(nr, &rclone), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK(got == NULL && rclone == NULL);

    const seawall_manual_clock *nc = NULL;
    CHECK_RC(seawall_manual_clock_advance(nc, 1), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_RC(seawall_manual_clock_set(nc, 1), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_RC(seawall_manual_clock_now(nc, &t), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_RC(seawall_breaker_new_with_clock("x", NULL, nc, &got), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_LAST_ERROR("seawall_breaker_new_with_clock: `clock` is NULL");
    CHECK_RC(seawall_registry_new_with_clock(nc, &rclone), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK(got == NULL && rclone == NULL);

    CHECK(untouched(&p, sizeof p) && untouched(&why, sizeof why));
    CHECK(untouched(&m, sizeof m) && untouched(&c, sizeof c) && untouched(&s, sizeof s));
    CHECK(untouched(&n, sizeof n) && untouched(buf, sizeof buf) && untouched(&t, sizeof t));

    /* Freeing NULL does nothing. */
    seawall_breaker_free(NULL);
    seawall_registry_free(NULL);
    seawall_manual_clock_free(NULL);
}

static void test_null_outputs(void) {
    const seawall_breaker *b = NULL;
    CHECK_OK(seawall_breaker_new("b", NULL, &b));
    const seawall_registry *r = NULL;
    CHECK_OK(seawall_registry_new(&r));
    const seawall_manual_clock *clock = NULL;
    CHECK_OK(seawall_manual_clock_new(&clock));

    CHECK_RC(seawall_breaker_config_default(NULL), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_LAST_ERROR("seawall_breaker_config_default: `out` is NULL");
    CHECK_RC(seawall_breaker_new("x", NULL, NULL), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_RC(seawall_breaker_new(NULL, NULL, &b), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_LAST_ERROR("seawall_breaker_new: `name` is NULL");
    CHECK_RC(seawall_breaker_new_with_clock("x", NULL, clock, NULL), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_RC(seawall_breaker_new_seeded("x", NULL, clock, 7, NULL), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_LAST_ERROR("seawall_breaker_new_seeded: `out` is NULL");
    CHECK_RC(seawall_breaker_new_seeded(NULL, NULL, NULL, 7, &b), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_LAST_ERROR("seawall_breaker_new_seeded: `name` is NULL");
    CHECK_RC(seawall_breaker_clone(b, NULL), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_RC(seawall_breaker_try_acquire(b, NULL, NULL), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_LAST_ERROR("seawall_breaker_try_acquire: `out_permit` is NULL");
    CHECK_RC(seawall_breaker_report_success(b, NULL), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_LAST_ERROR("seawall_breaker_report_success: `permit` is NULL");
    CHECK_RC(seawall_breaker_state(b, NULL), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_RC(seawall_breaker_metrics(b, NULL), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_RC(seawall_breaker_get_config(b, NULL), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_RC(seawall_breaker_name(b, NULL, 4, NULL), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_RC(seawall_breaker_add_listener(b, NULL, NULL), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_LAST_ERROR("seawall_breaker_add_listener: `callback` is NULL");
    CHECK_RC(seawall_registry_new(NULL), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_RC(seawall_registry_new_with_clock(clock, NULL), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_RC(seawall_registry_clone(r, NULL), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_RC(seawall_registry_get_or_create(r, "x", NULL, NULL), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_RC(seawall_registry_get_or_create(r, NULL, NULL, &b), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_RC(seawall_registry_get(r, "x", NULL), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_RC(seawall_registry_get(r, NULL, &b), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_RC(seawall_registry_remove(r, NULL), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_RC(seawall_registry_count(r, NULL), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_RC(seawall_registry_for_each(r, NULL, NULL), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_LAST_ERROR("seawall_registry_for_each: `visitor` is NULL");
    CHECK_RC(seawall_manual_clock_new(NULL), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_RC(seawall_manual_clock_now(clock, NULL), SEAWALL_RESULT_NULL_PARAMETER);

    /* Nothing was created by the failed calls. */
    size_t n = 99;
    CHECK_OK(seawall_registry_count(r, &n));
    CHECK(n == 0);
    /* The failed acquire took no permit. */
    seawall_metrics m;
    CHECK_OK(seawall_breaker_metrics(b, &m));
    CHECK(m.permitted == 0);

    seawall_breaker_free(b);
    seawall_registry_free(r);
    seawall_manual_clock_free(clock);
}

/* Expects `seawall_breaker_new` to refuse `c` with `message`, leaving the
 * output untouched. */
static void expect_invalid(const seawall_breaker_config *c, const char *message, int line) {
    const seawall_breaker *b = (const seawall_breaker *)&b;
    seawall_result rc = seawall_breaker_new("bad", c, &b);
    char got[512];
    seawall_last_error_message(got, sizeof got, NULL);
    if (rc != SEAWALL_RESULT_INVALID_CONFIG || strcmp(got, message) != 0 ||
        b != (const seawall_breaker *)&b) {
        fprintf(stderr, "line %d: rc %u, message \"%s\", expected \"%s\"\n", line,
                (unsigned)rc, got, message);
        check_failures++;
    }
}

#define EXPECT_INVALID(field, value, message)                               \
    do {                                                                    \
        seawall_breaker_config c_;                                                  \
        CHECK_OK(seawall_breaker_config_default(&c_));                              \
        c_.field = (value);                                                 \
        expect_invalid(&c_, "seawall_breaker_new: " message, __LINE__);     \
    } while (0)

static void test_invalid_configs(void) {
    EXPECT_INVALID(failure_threshold, 0,
                   "invalid failure_threshold = 0: must be an integer in [1, 4294967295]");
    EXPECT_INVALID(success_threshold, 0,
                   "invalid success_threshold = 0: must be an integer in [1, 4294967295]");
    EXPECT_INVALID(half_open_max_calls, 0,
                   "invalid half_open_max_calls = 0: must be an integer in [1, 4294967295]");
    {
        /* The HALF_OPEN fields are judged together. */
        seawall_breaker_config c_;
        CHECK_OK(seawall_breaker_config_default(&c_));
        c_.success_threshold = INT32_MAX;
        c_.half_open_max_calls = 1000000;
        expect_invalid(&c_,
                       "seawall_breaker_new: invalid half_open_max_calls = 1000000 (with "
                       "success_threshold = 2147483647): must be small enough that the HALF_OPEN "
                       "bookkeeping fits 36 bits: bits(success_threshold - 1) + "
                       "bits(half_open_max_calls) + bits(trial failures tolerated) <= 36, where "
                       "bits(n) is the bit length of n (e.g. success_threshold up to 2^31 with "
                       "half_open_max_calls up to 31, or both up to 2^18 - 1)",
                       __LINE__);
    }
    EXPECT_INVALID(timeout_ns, 0,
                   "invalid timeout_ns = 0ns: must be a duration in (0, 365 days]");
    EXPECT_INVALID(half_open_timeout_ns, 0,
                   "invalid half_open_timeout_ns = 0ns: must be a duration in (0, 365 days]");
    EXPECT_INVALID(timeout_multiplier, 0.5,
                   "invalid timeout_multiplier = 0.5: must be a number in [1, 1000]");
    EXPECT_INVALID(timeout_multiplier, NAN,
                   "invalid timeout_multiplier = NaN: must be a number in [1, 1000]");
    EXPECT_INVALID(max_timeout_ns, 1000,
                   "invalid max_timeout_ns = 1µs: must be a duration in [timeout, 365 days]");
    EXPECT_INVALID(timeout_jitter, 1.0,
                   "invalid timeout_jitter = 1.0: must be a fraction in [0, 1)");
    EXPECT_INVALID(window_kind, 7,
                   "invalid window_kind = 7: must be one of SEAWALL_WINDOW_KIND_NONE (0), "
                   "_COUNT (1), _TIME (2)");
    EXPECT_INVALID(minimum_calls, 0, "invalid minimum_calls = 0: must be at least 1 and at "
                                     "most the size of a count window");

    /* Whatever bytes the struct holds, the answer is an error code. */
    seawall_breaker_config junk;
    const seawall_breaker *jb = NULL;
    memset(&junk, 0xFF, sizeof junk);
    CHECK_RC(seawall_breaker_new("junk", &junk, &jb), SEAWALL_RESULT_INVALID_CONFIG);
    CHECK_LAST_ERROR("seawall_breaker_new: invalid window_kind = 4294967295: must be one of "
                     "SEAWALL_WINDOW_KIND_NONE (0), _COUNT (1), _TIME (2)");
    memset(&junk, 0, sizeof junk);
    CHECK_RC(seawall_breaker_new("junk", &junk, &jb), SEAWALL_RESULT_INVALID_CONFIG);
    CHECK(jb == NULL);

    /* Window settings are checked for the kind chosen. */
    seawall_breaker_config c;
    CHECK_OK(seawall_breaker_config_default(&c));
    c.window_kind = SEAWALL_WINDOW_KIND_COUNT;
    c.window_size = 0;
    const seawall_breaker *b = NULL;
    CHECK_RC(seawall_breaker_new("bad", &c, &b), SEAWALL_RESULT_INVALID_CONFIG);
    char msg[256];
    size_t n = 0;
    CHECK_OK(seawall_last_error_message(msg, sizeof msg, &n));
    CHECK(strstr(msg, "window_size = 0") != NULL && n == strlen(msg));
    c.window_kind = SEAWALL_WINDOW_KIND_TIME;
    c.window_length_ns = 0;
    c.window_buckets = 10;
    CHECK_RC(seawall_breaker_new("bad", &c, &b), SEAWALL_RESULT_INVALID_CONFIG);
    CHECK_OK(seawall_last_error_message(msg, sizeof msg, NULL));
    CHECK(strstr(msg, "window_length_ns") != NULL);
    CHECK(b == NULL);

    /* The registry reports an invalid config only when it must create. */
    const seawall_registry *r = NULL;
    CHECK_OK(seawall_registry_new(&r));
    seawall_breaker_config bad;
    CHECK_OK(seawall_breaker_config_default(&bad));
    bad.failure_threshold = 0;
    CHECK_RC(seawall_registry_get_or_create(r, "x", &bad, &b), SEAWALL_RESULT_INVALID_CONFIG);
    CHECK_LAST_ERROR("seawall_registry_get_or_create: invalid failure_threshold = 0: must be "
                     "an integer in [1, 4294967295]");
    size_t count = 99;
    CHECK_OK(seawall_registry_count(r, &count));
    CHECK(count == 0 && b == NULL);
    CHECK_OK(seawall_registry_get_or_create(r, "x", NULL, &b));
    const seawall_breaker *again = NULL;
    CHECK_OK(seawall_registry_get_or_create(r, "x", &bad, &again));
    CHECK(again == b);
    seawall_breaker_free(again);
    seawall_breaker_free(b);
    seawall_registry_free(r);
}

static void test_bad_names(void) {
    const seawall_breaker *b = NULL;
    const char not_utf8[] = {(char)0xC3, (char)0x28, 0};
    CHECK_RC(seawall_breaker_new(not_utf8, NULL, &b), SEAWALL_RESULT_INVALID_ARGUMENT);
    CHECK(b == NULL);
    char msg[256];
    CHECK_OK(seawall_last_error_message(msg, sizeof msg, NULL));
    CHECK(strcmp(msg, "seawall_breaker_new: `name` = \"\\xc3(\" is not valid UTF-8 (invalid "
                      "utf-8 sequence of 1 bytes from index 0)") == 0);
    const seawall_registry *r = NULL;
    CHECK_OK(seawall_registry_new(&r));
    CHECK_RC(seawall_registry_get(r, not_utf8, &b), SEAWALL_RESULT_INVALID_ARGUMENT);
    CHECK_RC(seawall_registry_get_or_create(r, not_utf8, NULL, &b),
             SEAWALL_RESULT_INVALID_ARGUMENT);
    CHECK(b == NULL);
    /* Any UTF-8 is a name, the empty one included. */
    CHECK_OK(seawall_registry_get_or_create(r, "", NULL, &b));
    seawall_breaker_free(b);
    CHECK_OK(seawall_registry_get_or_create(r, "caf\xC3\xA9", NULL, &b));
    char name[8];
    size_t n = 0;
    CHECK_OK(seawall_breaker_name(b, name, sizeof name, &n));
    CHECK(n == 5 && strcmp(name, "caf\xC3\xA9") == 0);
    /* Truncation never splits a character. */
    char cut[5];
    CHECK_RC(seawall_breaker_name(b, cut, sizeof cut, &n), SEAWALL_RESULT_BUFFER_TOO_SMALL);
    CHECK(strcmp(cut, "caf") == 0 && n == 5);
    seawall_breaker_free(b);
    seawall_registry_free(r);
}

static void test_permit_misuse(void) {
    const seawall_manual_clock *clock = NULL;
    CHECK_OK(seawall_manual_clock_new(&clock));
    seawall_breaker_config c;
    CHECK_OK(seawall_breaker_config_default(&c));
    c.failure_threshold = 2;
    const seawall_breaker *a = NULL, *other = NULL;
    CHECK_OK(seawall_breaker_new_with_clock("a", &c, clock, &a));
    CHECK_OK(seawall_breaker_new_with_clock("other", &c, clock, &other));

    /* A second report of the same permit is refused and counts nowhere. */
    seawall_permit p;
    CHECK_OK(seawall_breaker_try_acquire(a, &p, NULL));
    CHECK_OK(seawall_breaker_report_failure(a, &p));
    CHECK_RC(seawall_breaker_report_failure(a, &p), SEAWALL_RESULT_PERMIT_ALREADY_REPORTED);
    CHECK_LAST_ERROR("seawall_breaker_report_failure: the permit was already reported");
    CHECK_RC(seawall_breaker_report_success(a, &p), SEAWALL_RESULT_PERMIT_ALREADY_REPORTED);
    CHECK_RC(seawall_breaker_report(a, &p, SEAWALL_OUTCOME_IGNORED, 0),
             SEAWALL_RESULT_PERMIT_ALREADY_REPORTED);
    seawall_metrics m;
    CHECK_OK(seawall_breaker_metrics(a, &m));
    CHECK(m.failures == 1 && m.successes == 0 && m.ignored == 0);
    CHECK(m.consecutive_failures == 1 && m.state == SEAWALL_STATE_CLOSED);

    /* A zeroed permit was never issued. */
    seawall_permit zero;
    memset(&zero, 0, sizeof zero);
    CHECK_RC(seawall_breaker_report_success(a, &zero), SEAWALL_RESULT_PERMIT_NOT_ISSUED);

    /* A permit from another breaker is refused, and stays usable there. */
    seawall_permit theirs;
    CHECK_OK(seawall_breaker_try_acquire(other, &theirs, NULL));
    CHECK_RC(seawall_breaker_report_failure(a, &theirs), SEAWALL_RESULT_PERMIT_WRONG_BREAKER);
    CHECK_LAST_ERROR("seawall_breaker_report_failure: the permit was issued by another breaker");
    CHECK_OK(seawall_breaker_report_success(other, &theirs));

    /* An unknown outcome is refused and leaves the permit unreported. */
    CHECK_OK(seawall_breaker_try_acquire(a, &p, NULL));
    CHECK_RC(seawall_breaker_report(a, &p, 3, 0), SEAWALL_RESULT_INVALID_ARGUMENT);
    CHECK_LAST_ERROR("seawall_breaker_report: `outcome` = 3 is not one of "
                     "SEAWALL_OUTCOME_SUCCESS (0), _FAILURE (1), _IGNORED (2)");
    CHECK_OK(seawall_breaker_report(a, &p, SEAWALL_OUTCOME_SUCCESS, 0));

    /* The permit of a rejected acquire is never written, so never issued. */
    CHECK_OK(seawall_breaker_force_open(a));
    seawall_permit rejected;
    memset(&rejected, 0, sizeof rejected);
    CHECK_RC(seawall_breaker_try_acquire(a, &rejected, NULL), SEAWALL_RESULT_REJECTED);
    CHECK_RC(seawall_breaker_report_success(a, &rejected), SEAWALL_RESULT_PERMIT_NOT_ISSUED);

    CHECK_OK(seawall_breaker_metrics(a, &m));
    CHECK(m.permitted == 2 && m.successes == 1 && m.failures == 1 && m.rejected == 1);
    CHECK_OK(seawall_breaker_metrics(other, &m));
    CHECK(m.permitted == 1 && m.successes == 1 && m.failures == 0);

    seawall_breaker_free(a);
    seawall_breaker_free(other);
    seawall_manual_clock_free(clock);
}

static const char not_utf8[] = {(char)0xC3, (char)0x28, 0};

static void test_breaker_arguments(void) {
    const seawall_breaker *b = NULL, *out = NULL;
    CHECK_OK(seawall_breaker_new("b3x", NULL, &b));
    seawall_breaker_config c;
    seawall_permit p;
    seawall_rejection why;
    seawall_metrics m;
    seawall_state st;
    char buf[8];
    size_t n;

    BAD(seawall_breaker_new(NULL, NULL, &out), NULL_PARAMETER, "seawall_breaker_new: `name` is NULL");
    BAD(seawall_breaker_new(not_utf8, NULL, &out), INVALID_ARGUMENT,
        "seawall_breaker_new: `name` = \"\\xc3(\" is not valid UTF-8 (invalid utf-8 sequence of 1 "
        "bytes from index 0)");
    BAD(seawall_breaker_new("x", NULL, NULL), NULL_PARAMETER, "seawall_breaker_new: `out` is NULL");
    BAD(seawall_breaker_new("x", NULL, MIS(const seawall_breaker *)), INVALID_ARGUMENT,
        misaligned("seawall_breaker_new", "out", sizeof(void *)));
    BAD(seawall_breaker_new("x", MIS(seawall_breaker_config), &out), INVALID_ARGUMENT,
        misaligned("seawall_breaker_new", "config", _Alignof(seawall_breaker_config)));
    BAD(seawall_breaker_new_with_clock("x", NULL, NULL, &out), NULL_PARAMETER,
        "seawall_breaker_new_with_clock: `clock` is NULL");
    BAD_PREFIX(seawall_breaker_new_with_clock("x", NULL, MIS(const seawall_manual_clock), &out),
               INVALID_ARGUMENT, "seawall_breaker_new_with_clock: `clock` = 0x");
    BAD(seawall_breaker_clone(NULL, &out), NULL_PARAMETER, "seawall_breaker_clone: `breaker` is NULL");
    BAD_PREFIX(seawall_breaker_clone(MIS(const seawall_breaker), &out), INVALID_ARGUMENT,
               "seawall_breaker_clone: `breaker` = 0x");
    BAD(seawall_breaker_clone(b, NULL), NULL_PARAMETER, "seawall_breaker_clone: `out` is NULL");
    BAD(seawall_breaker_clone(b, MIS(const seawall_breaker *)), INVALID_ARGUMENT,
        misaligned("seawall_breaker_clone", "out", sizeof(void *)));

    BAD(seawall_breaker_name(NULL, buf, sizeof buf, &n), NULL_PARAMETER,
        "seawall_breaker_name: `breaker` is NULL");
    BAD(seawall_breaker_name(b, NULL, 5, &n), NULL_PARAMETER,
        "seawall_breaker_name: `buf` is NULL with `len` = 5 (a NULL `buf` needs `len` = 0)");
    BAD(seawall_breaker_name(b, buf, sizeof buf, MIS(size_t)), INVALID_ARGUMENT,
        misaligned("seawall_breaker_name", "out_len", _Alignof(size_t)));
    BAD(seawall_breaker_name(b, buf, 2, &n), BUFFER_TOO_SMALL,
        "seawall_breaker_name: `len` = 2 is less than the 4 bytes of the name and its NUL");
    BAD(seawall_breaker_name(b, NULL, 0, &n), BUFFER_TOO_SMALL,
        "seawall_breaker_name: `len` = 0 is less than the 4 bytes of the name and its NUL");
    CHECK(n == 3);

    BAD(seawall_breaker_get_config(NULL, &c), NULL_PARAMETER, "seawall_breaker_get_config: `breaker` is NULL");
    BAD(seawall_breaker_get_config(b, NULL), NULL_PARAMETER, "seawall_breaker_get_config: `out` is NULL");
    BAD(seawall_breaker_get_config(b, MIS(seawall_breaker_config)), INVALID_ARGUMENT,
        misaligned("seawall_breaker_get_config", "out", _Alignof(seawall_breaker_config)));

    BAD(seawall_breaker_try_acquire(NULL, &p, &why), NULL_PARAMETER,
        "seawall_breaker_try_acquire: `breaker` is NULL");
    BAD(seawall_breaker_try_acquire(b, NULL, &why), NULL_PARAMETER,
        "seawall_breaker_try_acquire: `out_permit` is NULL");
    BAD(seawall_breaker_try_acquire(b, MIS(seawall_permit), &why), INVALID_ARGUMENT,
        misaligned("seawall_breaker_try_acquire", "out_permit", _Alignof(seawall_permit)));
    BAD(seawall_breaker_try_acquire(b, &p, MIS(seawall_rejection)), INVALID_ARGUMENT,
        misaligned("seawall_breaker_try_acquire", "out_rejection", _Alignof(seawall_rejection)));

    BAD(seawall_breaker_report_success(NULL, &p), NULL_PARAMETER,
        "seawall_breaker_report_success: `breaker` is NULL");
    BAD(seawall_breaker_report_success(b, NULL), NULL_PARAMETER,
        "seawall_breaker_report_success: `permit` is NULL");
    BAD(seawall_breaker_report_success(b, MIS(seawall_permit)), INVALID_ARGUMENT,
        misaligned("seawall_breaker_report_success", "permit", _Alignof(seawall_permit)));
    BAD(seawall_breaker_report_failure(NULL, &p), NULL_PARAMETER,
        "seawall_breaker_report_failure: `breaker` is NULL");
    BAD(seawall_breaker_report_failure(b, NULL), NULL_PARAMETER,
        "seawall_breaker_report_failure: `permit` is NULL");
    BAD(seawall_breaker_report_ignored(NULL, &p), NULL_PARAMETER,
        "seawall_breaker_report_ignored: `breaker` is NULL");
    BAD(seawall_breaker_report_ignored(b, MIS(seawall_permit)), INVALID_ARGUMENT,
        misaligned("seawall_breaker_report_ignored", "permit", _Alignof(seawall_permit)));
    BAD(seawall_breaker_report(NULL, &p, SEAWALL_OUTCOME_SUCCESS, 0), NULL_PARAMETER,
        "seawall_breaker_report: `breaker` is NULL");
    BAD(seawall_breaker_report(b, NULL, SEAWALL_OUTCOME_SUCCESS, 0), NULL_PARAMETER,
        "seawall_breaker_report: `permit` is NULL");
    BAD(seawall_breaker_report(b, &p, UINT32_MAX, 0), INVALID_ARGUMENT,
        "seawall_breaker_report: `outcome` = 4294967295 is not one of SEAWALL_OUTCOME_SUCCESS "
        "(0), _FAILURE (1), _IGNORED (2)");

    BAD(seawall_breaker_state(NULL, &st), NULL_PARAMETER, "seawall_breaker_state: `breaker` is NULL");
    BAD(seawall_breaker_state(b, NULL), NULL_PARAMETER, "seawall_breaker_state: `out_state` is NULL");
    BAD(seawall_breaker_state(b, MIS(seawall_state)), INVALID_ARGUMENT,
        misaligned("seawall_breaker_state", "out_state", _Alignof(seawall_state)));
    BAD(seawall_breaker_force_open(NULL), NULL_PARAMETER, "seawall_breaker_force_open: `breaker` is NULL");
    BAD(seawall_breaker_force_closed(NULL), NULL_PARAMETER,
        "seawall_breaker_force_closed: `breaker` is NULL");
    BAD(seawall_breaker_reset(NULL), NULL_PARAMETER, "seawall_breaker_reset: `breaker` is NULL");
    BAD_PREFIX(seawall_breaker_reset(MIS(const seawall_breaker)), INVALID_ARGUMENT,
               "seawall_breaker_reset: `breaker` = 0x");
    BAD(seawall_breaker_clear_metrics(NULL), NULL_PARAMETER,
        "seawall_breaker_clear_metrics: `breaker` is NULL");
    BAD(seawall_breaker_metrics(NULL, &m), NULL_PARAMETER, "seawall_breaker_metrics: `breaker` is NULL");
    BAD(seawall_breaker_metrics(b, NULL), NULL_PARAMETER, "seawall_breaker_metrics: `out` is NULL");
    BAD(seawall_breaker_metrics(b, MIS(seawall_metrics)), INVALID_ARGUMENT,
        misaligned("seawall_breaker_metrics", "out", _Alignof(seawall_metrics)));
    BAD(seawall_breaker_add_listener(NULL, NULL, NULL), NULL_PARAMETER,
        "seawall_breaker_add_listener: `breaker` is NULL");
    BAD(seawall_breaker_add_listener(b, NULL, NULL), NULL_PARAMETER,
        "seawall_breaker_add_listener: `callback` is NULL");
    BAD(seawall_breaker_config_default(MIS(seawall_breaker_config)), INVALID_ARGUMENT,
        misaligned("seawall_breaker_config_default", "out", _Alignof(seawall_breaker_config)));

    /* No failed call took a permit or changed the state. */
    CHECK_OK(seawall_breaker_metrics(b, &m));
    CHECK(m.permitted == 0 && m.state == SEAWALL_STATE_CLOSED);
    seawall_breaker_free(b);
}

static void test_registry_and_clock_arguments(void) {
    const seawall_registry *r = NULL, *rout = NULL;
    CHECK_OK(seawall_registry_new(&r));
    const seawall_manual_clock *k = NULL, *kout = NULL;
    CHECK_OK(seawall_manual_clock_new(&k));
    const seawall_breaker *out = NULL;
    seawall_breaker_config bad;
    CHECK_OK(seawall_breaker_config_default(&bad));
    bad.window_kind = 9;
    size_t n;
    uint64_t t;

    BAD(seawall_registry_new(NULL), NULL_PARAMETER, "seawall_registry_new: `out` is NULL");
    BAD(seawall_registry_new(MIS(const seawall_registry *)), INVALID_ARGUMENT,
        misaligned("seawall_registry_new", "out", sizeof(void *)));
    BAD(seawall_registry_new_with_clock(NULL, &rout), NULL_PARAMETER,
        "seawall_registry_new_with_clock: `clock` is NULL");
    BAD(seawall_registry_new_with_clock(k, NULL), NULL_PARAMETER,
        "seawall_registry_new_with_clock: `out` is NULL");
    BAD(seawall_registry_clone(NULL, &rout), NULL_PARAMETER, "seawall_registry_clone: `registry` is NULL");
    BAD(seawall_registry_clone(r, NULL), NULL_PARAMETER, "seawall_registry_clone: `out` is NULL");
    BAD(seawall_registry_get_or_create(NULL, "x", NULL, &out), NULL_PARAMETER,
        "seawall_registry_get_or_create: `registry` is NULL");
    BAD_PREFIX(seawall_registry_get_or_create(MIS(const seawall_registry), "x", NULL, &out),
               INVALID_ARGUMENT, "seawall_registry_get_or_create: `registry` = 0x");
    BAD(seawall_registry_get_or_create(r, NULL, NULL, &out), NULL_PARAMETER,
        "seawall_registry_get_or_create: `name` is NULL");
    BAD(seawall_registry_get_or_create(r, not_utf8, NULL, &out), INVALID_ARGUMENT,
        "seawall_registry_get_or_create: `name` = \"\\xc3(\" is not valid UTF-8 (invalid utf-8 "
        "sequence of 1 bytes from index 0)");
    BAD(seawall_registry_get_or_create(r, "x", NULL, NULL), NULL_PARAMETER,
        "seawall_registry_get_or_create: `out` is NULL");
    BAD(seawall_registry_get_or_create(r, "x", MIS(seawall_breaker_config), &out), INVALID_ARGUMENT,
        misaligned("seawall_registry_get_or_create", "config", _Alignof(seawall_breaker_config)));
    BAD(seawall_registry_get_or_create(r, "x", &bad, &out), INVALID_CONFIG,
        "seawall_registry_get_or_create: invalid window_kind = 9: must be one of "
        "SEAWALL_WINDOW_KIND_NONE (0), _COUNT (1), _TIME (2)");
    BAD(seawall_registry_get(NULL, "x", &out), NULL_PARAMETER, "seawall_registry_get: `registry` is NULL");
    BAD(seawall_registry_get(r, NULL, &out), NULL_PARAMETER, "seawall_registry_get: `name` is NULL");
    BAD(seawall_registry_get(r, "x", NULL), NULL_PARAMETER, "seawall_registry_get: `out` is NULL");
    BAD(seawall_registry_get(r, "zz", &out), NOT_FOUND, "seawall_registry_get: no breaker named \"zz\"");
    BAD(seawall_registry_remove(NULL, "x"), NULL_PARAMETER, "seawall_registry_remove: `registry` is NULL");
    BAD(seawall_registry_remove(r, NULL), NULL_PARAMETER, "seawall_registry_remove: `name` is NULL");
    BAD(seawall_registry_remove(r, not_utf8), INVALID_ARGUMENT,
        "seawall_registry_remove: `name` = \"\\xc3(\" is not valid UTF-8 (invalid utf-8 sequence "
        "of 1 bytes from index 0)");
    BAD(seawall_registry_remove(r, "zz"), NOT_FOUND, "seawall_registry_remove: no breaker named \"zz\"");
    BAD(seawall_registry_count(NULL, &n), NULL_PARAMETER, "seawall_registry_count: `registry` is NULL");
    BAD(seawall_registry_count(r, NULL), NULL_PARAMETER, "seawall_registry_count: `out_count` is NULL");
    BAD(seawall_registry_count(r, MIS(size_t)), INVALID_ARGUMENT,
        misaligned("seawall_registry_count", "out_count", _Alignof(size_t)));
    BAD(seawall_registry_for_each(NULL, NULL, NULL), NULL_PARAMETER,
        "seawall_registry_for_each: `registry` is NULL");
    BAD(seawall_registry_for_each(r, NULL, NULL), NULL_PARAMETER,
        "seawall_registry_for_each: `visitor` is NULL");
    CHECK(out == NULL && rout == NULL);

    BAD(seawall_manual_clock_new(NULL), NULL_PARAMETER, "seawall_manual_clock_new: `out` is NULL");
    BAD(seawall_manual_clock_new(MIS(const seawall_manual_clock *)), INVALID_ARGUMENT,
        misaligned("seawall_manual_clock_new", "out", sizeof(void *)));
    BAD(seawall_manual_clock_advance(NULL, 1), NULL_PARAMETER,
        "seawall_manual_clock_advance: `clock` is NULL");
    BAD(seawall_manual_clock_set(NULL, 1), NULL_PARAMETER, "seawall_manual_clock_set: `clock` is NULL");
    BAD(seawall_manual_clock_now(NULL, &t), NULL_PARAMETER, "seawall_manual_clock_now: `clock` is NULL");
    BAD(seawall_manual_clock_now(k, NULL), NULL_PARAMETER, "seawall_manual_clock_now: `out_nanos` is NULL");
    BAD(seawall_manual_clock_now(k, MIS(uint64_t)), INVALID_ARGUMENT,
        misaligned("seawall_manual_clock_now", "out_nanos", _Alignof(uint64_t)));
    CHECK(kout == NULL);

    seawall_registry_free(r);
    seawall_manual_clock_free(k);
}

int main(void) {
    test_null_handles();
    test_null_outputs();
    test_invalid_configs();
    test_bad_names();
    test_permit_misuse();
    test_breaker_arguments();
    test_registry_and_clock_arguments();
    return check_report("test_errors_breaker");
}

/* The keyed rate limiter through the C ABI: per-key admissions and waits on
 * a manual clock, keys sharing a slot sharing its allowance, reservations,
 * and every bad argument with the exact last error it leaves. */
#include <stdint.h>

#include "check.h"

#define NS_PER_MS 1000000ull
#define NS_PER_S 1000000000ull

/* Keys as bytes: a NUL-terminated literal without its NUL. */
#define KEY(s) ((const uint8_t *)(s)), (sizeof(s) - 1)

/* 10 calls per second (100 ms apart), `burst` at once, on `clock`. */
static const seawall_keyed_rate_limiter *keyed(uint32_t burst, uint32_t slots,
                                               const seawall_manual_clock *clock) {
    seawall_rate_limit_config c;
    CHECK_OK(seawall_rate_limit_config_default(&c));
    c.rate = 10;
    c.burst = burst;
    const seawall_keyed_rate_limiter *l = NULL;
    CHECK_OK(seawall_keyed_rate_limiter_new(&c, slots, clock, &l));
    return l;
}

static void test_defaults_and_size(void) {
    const seawall_keyed_rate_limiter *l = NULL;
    CHECK_OK(seawall_keyed_rate_limiter_new(NULL, 1000, NULL, &l));
    seawall_rate_limit_config got;
    memset(&got, 0xab, sizeof got);
    CHECK_OK(seawall_keyed_rate_limiter_get_config(l, &got));
    CHECK(got.rate == 100 && got.burst == 100 && got.period_ns == NS_PER_S &&
          got.timing == SEAWALL_TIMING_EXACT);
    uint32_t slots = 0;
    CHECK_OK(seawall_keyed_rate_limiter_slots(l, &slots));
    CHECK(slots == 1024); /* rounded up to a power of two */
    size_t bytes = 0;
    CHECK_OK(seawall_keyed_rate_limiter_memory_bytes(l, &bytes));
    CHECK(bytes >= 1024 * 8);
    /* Memory does not grow with the keys seen. */
    char key[32];
    for (int i = 0; i < 10000; i++) {
        int n = snprintf(key, sizeof key, "client-%d", i);
        seawall_keyed_rate_limiter_check(l, (const uint8_t *)key, (size_t)n, NULL);
    }
    size_t after = 0;
    CHECK_OK(seawall_keyed_rate_limiter_memory_bytes(l, &after));
    CHECK(after == bytes);
    seawall_keyed_rate_limiter_free(l);

    /* The recent timing is taken and read back. */
    seawall_rate_limit_config c;
    CHECK_OK(seawall_rate_limit_config_default(&c));
    c.timing = SEAWALL_TIMING_RECENT;
    CHECK_OK(seawall_keyed_rate_limiter_new(&c, 1, NULL, &l));
    CHECK_OK(seawall_keyed_rate_limiter_get_config(l, &got));
    CHECK(got.timing == SEAWALL_TIMING_RECENT);
    CHECK_OK(seawall_keyed_rate_limiter_slots(l, &slots));
    CHECK(slots == 1);
    seawall_keyed_rate_limiter_free(l);
}

/* Each key has its own burst and spacing; a key in another slot is
 * untouched by a busy one. */
static void test_admissions_per_key(void) {
    const seawall_manual_clock *clock = NULL;
    CHECK_OK(seawall_manual_clock_new(&clock));
    CHECK_OK(seawall_manual_clock_set(clock, 5 * NS_PER_S));
    /* Two slots: a key whose first call is admitted once "tenant-a" is
     * spent is in the other slot (64 candidates all landing in a's slot
     * has probability 2^-64). */
    const seawall_keyed_rate_limiter *l = keyed(2, 2, clock);

    set_known_last_error();
    uint64_t wait = 777;
    CHECK_OK(seawall_keyed_rate_limiter_check(l, KEY("tenant-a"), &wait));
    CHECK(wait == 777); /* nothing written on success */
    CHECK_OK(seawall_keyed_rate_limiter_check(l, KEY("tenant-a"), &wait));
    CHECK_RC(seawall_keyed_rate_limiter_check(l, KEY("tenant-a"), &wait),
             SEAWALL_RESULT_RATE_LIMITED);
    CHECK(wait == 100 * NS_PER_MS);
    /* A refusal changes nothing and is not an error. */
    CHECK_RC(seawall_keyed_rate_limiter_check(l, KEY("tenant-a"), NULL),
             SEAWALL_RESULT_RATE_LIMITED);
    CHECK_LAST_ERROR("seawall_rate_limiter_check: `limiter` is NULL");

    char other[32];
    int len = 0, found = 0;
    for (int i = 0; i < 64 && !found; i++) {
        len = snprintf(other, sizeof other, "tenant-%d", i);
        found = seawall_keyed_rate_limiter_check(l, (const uint8_t *)other, (size_t)len, NULL) ==
                SEAWALL_RESULT_OK;
    }
    CHECK(found);
    /* Its own burst of 2 (one taken by the probe), then its own wait. */
    CHECK_OK(seawall_keyed_rate_limiter_check(l, (const uint8_t *)other, (size_t)len, &wait));
    CHECK_RC(seawall_keyed_rate_limiter_check(l, (const uint8_t *)other, (size_t)len, &wait),
             SEAWALL_RESULT_RATE_LIMITED);
    CHECK(wait == 100 * NS_PER_MS);

    /* Time refills each key exactly. */
    CHECK_OK(seawall_manual_clock_advance(clock, 100 * NS_PER_MS - 1));
    CHECK_RC(seawall_keyed_rate_limiter_check(l, KEY("tenant-a"), &wait),
             SEAWALL_RESULT_RATE_LIMITED);
    CHECK(wait == 1);
    CHECK_OK(seawall_manual_clock_advance(clock, 1));
    CHECK_OK(seawall_keyed_rate_limiter_check(l, KEY("tenant-a"), &wait));
    CHECK_RC(seawall_keyed_rate_limiter_check(l, KEY("tenant-a"), &wait),
             SEAWALL_RESULT_RATE_LIMITED);
    CHECK(wait == 100 * NS_PER_MS);

    /* A clone is the same limiter; the clock outlives its handle. */
    const seawall_keyed_rate_limiter *l2 = NULL;
    CHECK_OK(seawall_keyed_rate_limiter_clone(l, &l2));
    CHECK(l2 == l);
    seawall_keyed_rate_limiter_free(l);
    seawall_manual_clock_free(clock);
    CHECK_RC(seawall_keyed_rate_limiter_check(l2, KEY("tenant-a"), &wait),
             SEAWALL_RESULT_RATE_LIMITED);
    CHECK(wait == 100 * NS_PER_MS);
    seawall_keyed_rate_limiter_free(l2);
    seawall_keyed_rate_limiter_free(NULL);
}

/* Keys sharing a slot share one allowance; the empty key (NULL or not,
 * length 0) is a key like any other. */
static void test_shared_slot(void) {
    const seawall_manual_clock *clock = NULL;
    CHECK_OK(seawall_manual_clock_new(&clock));
    const seawall_keyed_rate_limiter *l = keyed(3, 1, clock);
    CHECK_OK(seawall_keyed_rate_limiter_check(l, KEY("a"), NULL));
    CHECK_OK(seawall_keyed_rate_limiter_check(l, KEY("a"), NULL));
    CHECK_OK(seawall_keyed_rate_limiter_check(l, NULL, 0, NULL)); /* what a left */
    uint64_t wait = 0;
    CHECK_RC(seawall_keyed_rate_limiter_check(l, KEY("b"), &wait), SEAWALL_RESULT_RATE_LIMITED);
    CHECK(wait == 100 * NS_PER_MS);
    CHECK_RC(seawall_keyed_rate_limiter_check(l, KEY(""), &wait), SEAWALL_RESULT_RATE_LIMITED);
    CHECK(wait == 100 * NS_PER_MS);
    /* Bytes, not text: NULs and invalid UTF-8 are part of a key. */
    static const uint8_t bytes[] = {0x00, 0xff, 0xc3, 0x28};
    CHECK_RC(seawall_keyed_rate_limiter_check(l, bytes, sizeof bytes, &wait),
             SEAWALL_RESULT_RATE_LIMITED);
    CHECK_OK(seawall_manual_clock_advance(clock, 100 * NS_PER_MS));
    CHECK_OK(seawall_keyed_rate_limiter_check(l, bytes, sizeof bytes, &wait));
    seawall_keyed_rate_limiter_free(l);
    seawall_manual_clock_free(clock);
}

/* Reservations decide a key's wait once, as seawall_rate_limiter_reserve
 * does for one limit. */
static void test_reserve(void) {
    const seawall_manual_clock *clock = NULL;
    CHECK_OK(seawall_manual_clock_new(&clock));
    CHECK_OK(seawall_manual_clock_set(clock, 5 * NS_PER_S));
    const seawall_keyed_rate_limiter *l = keyed(2, 64, clock);

    uint64_t wait = 777;
    CHECK_OK(seawall_keyed_rate_limiter_reserve(l, KEY("k"), 0, &wait));
    CHECK(wait == 0);
    CHECK_OK(seawall_keyed_rate_limiter_reserve(l, KEY("k"), 0, &wait));
    CHECK(wait == 0);
    /* The burst is spent: the next turn is 100 ms away. */
    set_known_last_error();
    CHECK_RC(seawall_keyed_rate_limiter_reserve(l, KEY("k"), 50 * NS_PER_MS, &wait),
             SEAWALL_RESULT_RATE_LIMITED);
    CHECK(wait == 100 * NS_PER_MS);
    CHECK_LAST_ERROR("seawall_rate_limiter_check: `limiter` is NULL"); /* an answer */
    /* Taken turns queue: 100 ms, then 200 ms. */
    CHECK_OK(seawall_keyed_rate_limiter_reserve(l, KEY("k"), NS_PER_S, &wait));
    CHECK(wait == 100 * NS_PER_MS);
    CHECK_OK(seawall_keyed_rate_limiter_reserve(l, KEY("k"), UINT64_MAX, &wait));
    CHECK(wait == 200 * NS_PER_MS);
    CHECK_RC(seawall_keyed_rate_limiter_check(l, KEY("k"), &wait), SEAWALL_RESULT_RATE_LIMITED);
    CHECK(wait == 300 * NS_PER_MS);
    /* A refusal changed nothing. */
    CHECK_RC(seawall_keyed_rate_limiter_reserve(l, KEY("k"), 250 * NS_PER_MS, &wait),
             SEAWALL_RESULT_RATE_LIMITED);
    CHECK(wait == 300 * NS_PER_MS);
    /* Sleeping the reserved wait, the call goes ahead: at the last turn
     * (200 ms on) the next is 100 ms further. */
    CHECK_OK(seawall_manual_clock_advance(clock, 200 * NS_PER_MS));
    CHECK_RC(seawall_keyed_rate_limiter_reserve(l, KEY("k"), 0, &wait),
             SEAWALL_RESULT_RATE_LIMITED);
    CHECK(wait == 100 * NS_PER_MS);
    seawall_keyed_rate_limiter_free(l);

    /* Keys sharing a slot queue behind each other's turns. */
    l = keyed(1, 1, clock);
    CHECK_OK(seawall_keyed_rate_limiter_reserve(l, KEY("a"), 0, &wait));
    CHECK(wait == 0);
    CHECK_OK(seawall_keyed_rate_limiter_reserve(l, KEY("b"), UINT64_MAX, &wait));
    CHECK(wait == 100 * NS_PER_MS);
    CHECK_OK(seawall_keyed_rate_limiter_reserve(l, KEY("a"), UINT64_MAX, &wait));
    CHECK(wait == 200 * NS_PER_MS);
    seawall_keyed_rate_limiter_free(l);
    seawall_manual_clock_free(clock);
}

/* --- bad arguments, each with its exact message -------------------------- */

static void test_bad_arguments(void) {
    seawall_rate_limit_config d, c;
    CHECK_OK(seawall_rate_limit_config_default(&d));
    const seawall_keyed_rate_limiter *l = NULL, *out = NULL;
    CHECK_OK(seawall_keyed_rate_limiter_new(&d, 16, NULL, &l));
    uint64_t wait = 777;
    uint32_t slots = 777;
    size_t bytes = 777;

    /* Creation. */
    BAD(seawall_keyed_rate_limiter_new(&d, 16, NULL, NULL), NULL_PARAMETER,
        "seawall_keyed_rate_limiter_new: `out` is NULL");
    BAD(seawall_keyed_rate_limiter_new(&d, 16, NULL, MIS(const seawall_keyed_rate_limiter *)),
        INVALID_ARGUMENT, misaligned("seawall_keyed_rate_limiter_new", "out", sizeof(void *)));
    BAD(seawall_keyed_rate_limiter_new(MIS(seawall_rate_limit_config), 16, NULL, &out),
        INVALID_ARGUMENT,
        misaligned("seawall_keyed_rate_limiter_new", "config", _Alignof(seawall_rate_limit_config)));
    BAD_PREFIX(seawall_keyed_rate_limiter_new(&d, 16, MIS(const seawall_manual_clock), &out),
               INVALID_ARGUMENT, "seawall_keyed_rate_limiter_new: `clock` = 0x");
    BAD(seawall_keyed_rate_limiter_new(&d, 0, NULL, &out), INVALID_CONFIG,
        "seawall_keyed_rate_limiter_new: invalid slots = 0: must be an integer in [1, 1048576]");
    BAD(seawall_keyed_rate_limiter_new(&d, 1048577, NULL, &out), INVALID_CONFIG,
        "seawall_keyed_rate_limiter_new: invalid slots = 1048577: must be an integer in "
        "[1, 1048576]");
    c = d; c.rate = 0;
    BAD(seawall_keyed_rate_limiter_new(&c, 16, NULL, &out), INVALID_CONFIG,
        "seawall_keyed_rate_limiter_new: invalid rate = 0: must be an integer in [1, 1000000000]");
    c = d; c.period_ns = 0;
    BAD(seawall_keyed_rate_limiter_new(&c, 16, NULL, &out), INVALID_CONFIG,
        "seawall_keyed_rate_limiter_new: invalid period_ns = 0ns: must be a duration in "
        "(0, 365 days]");
    c = d; c.timing = 2;
    BAD(seawall_keyed_rate_limiter_new(&c, 16, NULL, &out), INVALID_CONFIG,
        "seawall_keyed_rate_limiter_new: invalid timing = 2: must be SEAWALL_TIMING_EXACT "
        "(0) or SEAWALL_TIMING_RECENT (1)");
    CHECK(out == NULL);
    CHECK_OK(seawall_keyed_rate_limiter_new(&d, 1048576, NULL, &out)); /* the edges */
    seawall_keyed_rate_limiter_free(out);
    out = NULL;

    /* Handles. */
    BAD(seawall_keyed_rate_limiter_clone(NULL, &out), NULL_PARAMETER,
        "seawall_keyed_rate_limiter_clone: `limiter` is NULL");
    BAD(seawall_keyed_rate_limiter_clone(l, NULL), NULL_PARAMETER,
        "seawall_keyed_rate_limiter_clone: `out` is NULL");
    BAD_PREFIX(seawall_keyed_rate_limiter_clone(MIS(const seawall_keyed_rate_limiter), &out),
               INVALID_ARGUMENT, "seawall_keyed_rate_limiter_clone: `limiter` = 0x");
    BAD_PREFIX(seawall_keyed_rate_limiter_check(MIS(const seawall_keyed_rate_limiter), KEY("k"),
                                                &wait),
               INVALID_ARGUMENT, "seawall_keyed_rate_limiter_check: `limiter` = 0x");
    CHECK(out == NULL);

    /* Checks: the key is bytes, NULL only when empty. */
    BAD(seawall_keyed_rate_limiter_check(NULL, KEY("k"), &wait), NULL_PARAMETER,
        "seawall_keyed_rate_limiter_check: `limiter` is NULL");
    BAD(seawall_keyed_rate_limiter_check(l, NULL, 3, &wait), NULL_PARAMETER,
        "seawall_keyed_rate_limiter_check: `key` is NULL with `key_len` = 3 (a NULL `key` needs "
        "`key_len` = 0)");
    BAD(seawall_keyed_rate_limiter_check(l, (const uint8_t *)"k", SIZE_MAX, &wait),
        INVALID_ARGUMENT,
        SIZE_MAX == 18446744073709551615ull
            ? "seawall_keyed_rate_limiter_check: `key_len` = 18446744073709551615 is not at most "
              "9223372036854775807"
            : "seawall_keyed_rate_limiter_check: `key_len` = 4294967295 is not at most 2147483647");
    BAD(seawall_keyed_rate_limiter_check(l, KEY("k"), MIS(uint64_t)), INVALID_ARGUMENT,
        misaligned("seawall_keyed_rate_limiter_check", "out_retry_after_ns", _Alignof(uint64_t)));

    /* Reservations: the wait is the answer, so it must be given. */
    BAD(seawall_keyed_rate_limiter_reserve(NULL, KEY("k"), 0, &wait), NULL_PARAMETER,
        "seawall_keyed_rate_limiter_reserve: `limiter` is NULL");
    BAD(seawall_keyed_rate_limiter_reserve(l, NULL, 1, 0, &wait), NULL_PARAMETER,
        "seawall_keyed_rate_limiter_reserve: `key` is NULL with `key_len` = 1 (a NULL `key` "
        "needs `key_len` = 0)");
    BAD(seawall_keyed_rate_limiter_reserve(l, KEY("k"), 0, NULL), NULL_PARAMETER,
        "seawall_keyed_rate_limiter_reserve: `out_wait_ns` is NULL");
    BAD(seawall_keyed_rate_limiter_reserve(l, KEY("k"), 0, MIS(uint64_t)), INVALID_ARGUMENT,
        misaligned("seawall_keyed_rate_limiter_reserve", "out_wait_ns", _Alignof(uint64_t)));
    CHECK(wait == 777);

    /* Getters. */
    BAD(seawall_keyed_rate_limiter_get_config(NULL, &c), NULL_PARAMETER,
        "seawall_keyed_rate_limiter_get_config: `limiter` is NULL");
    BAD(seawall_keyed_rate_limiter_get_config(l, NULL), NULL_PARAMETER,
        "seawall_keyed_rate_limiter_get_config: `out` is NULL");
    BAD(seawall_keyed_rate_limiter_get_config(l, MIS(seawall_rate_limit_config)), INVALID_ARGUMENT,
        misaligned("seawall_keyed_rate_limiter_get_config", "out",
                   _Alignof(seawall_rate_limit_config)));
    BAD(seawall_keyed_rate_limiter_slots(NULL, &slots), NULL_PARAMETER,
        "seawall_keyed_rate_limiter_slots: `limiter` is NULL");
    BAD(seawall_keyed_rate_limiter_slots(l, NULL), NULL_PARAMETER,
        "seawall_keyed_rate_limiter_slots: `out_slots` is NULL");
    BAD(seawall_keyed_rate_limiter_slots(l, MIS(uint32_t)), INVALID_ARGUMENT,
        misaligned("seawall_keyed_rate_limiter_slots", "out_slots", _Alignof(uint32_t)));
    BAD(seawall_keyed_rate_limiter_memory_bytes(NULL, &bytes), NULL_PARAMETER,
        "seawall_keyed_rate_limiter_memory_bytes: `limiter` is NULL");
    BAD(seawall_keyed_rate_limiter_memory_bytes(l, NULL), NULL_PARAMETER,
        "seawall_keyed_rate_limiter_memory_bytes: `out_bytes` is NULL");
    BAD(seawall_keyed_rate_limiter_memory_bytes(l, MIS(size_t)), INVALID_ARGUMENT,
        misaligned("seawall_keyed_rate_limiter_memory_bytes", "out_bytes", _Alignof(size_t)));
    CHECK(slots == 777 && bytes == 777);

    /* None of it touched the limiter: the key's whole burst is there. */
    for (int i = 0; i < 100; i++) CHECK_OK(seawall_keyed_rate_limiter_check(l, KEY("k"), NULL));
    seawall_keyed_rate_limiter_free(l);
}

int main(void) {
    test_defaults_and_size();
    test_admissions_per_key();
    test_shared_slot();
    test_reserve();
    test_bad_arguments();
    return check_report("test_keyed");
}

/* The message functions of the C ABI: every result code's text, truncation
 * and size queries, unknown codes and states, and the last error, which
 * they read but never replace. */
#include <stdint.h>

#include "check.h"

static void test_messages(void) {
    char buf[128];
    size_t n = 0;
    for (uint32_t code = 0; code <= SEAWALL_RESULT_KEYED_FULL; code++) {
        CHECK_OK(seawall_result_message(code, buf, sizeof buf, &n));
        CHECK(n > 0 && n == strlen(buf));
    }
    CHECK_OK(seawall_result_message(SEAWALL_RESULT_REJECTED, buf, sizeof buf, &n));
    CHECK(strcmp(buf, "the circuit breaker rejected the call") == 0);
    CHECK_RC(seawall_result_message(SEAWALL_RESULT_KEYED_FULL + 1, buf, sizeof buf, &n),
             SEAWALL_RESULT_INVALID_ARGUMENT);

    /* Truncation: a NUL-terminated prefix and the full length. */
    char small[5];
    CHECK_RC(seawall_result_message(SEAWALL_RESULT_OK, small, sizeof small, &n),
             SEAWALL_RESULT_BUFFER_TOO_SMALL);
    CHECK(strcmp(small, "succ") == 0 && n == strlen("success"));
    /* Size query. */
    n = 0;
    CHECK_RC(seawall_result_message(SEAWALL_RESULT_OK, NULL, 0, &n), SEAWALL_RESULT_BUFFER_TOO_SMALL);
    CHECK(n == 7);
    CHECK_RC(seawall_result_message(SEAWALL_RESULT_OK, NULL, 8, &n), SEAWALL_RESULT_NULL_PARAMETER);

    /* The message functions do not replace the last error. */
    const seawall_breaker *b = NULL;
    CHECK_RC(seawall_breaker_new(NULL, NULL, &b), SEAWALL_RESULT_NULL_PARAMETER);
    const char *want = "seawall_breaker_new: `name` is NULL";
    CHECK_RC(seawall_last_error_message(small, sizeof small, &n), SEAWALL_RESULT_BUFFER_TOO_SMALL);
    CHECK(strcmp(small, "seaw") == 0 && n == strlen(want));
    CHECK_RC(seawall_result_message(99, buf, sizeof buf, NULL), SEAWALL_RESULT_INVALID_ARGUMENT);
    CHECK(seawall_last_error() == SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_LAST_ERROR(want);

    /* Successful calls leave it alone. */
    seawall_breaker_config c;
    CHECK_OK(seawall_breaker_config_default(&c));
    CHECK_LAST_ERROR(want);

    CHECK(strcmp(seawall_state_name(99), "UNKNOWN") == 0);
}

/* The message functions report a bad buffer by their code alone: they never
 * replace the last error they exist to read. */
static void test_message_functions_keep_the_last_error(void) {
    const seawall_breaker *b = NULL;
    CHECK_RC(seawall_breaker_new(NULL, NULL, &b), SEAWALL_RESULT_NULL_PARAMETER);
    char buf[8];
    CHECK_RC(seawall_last_error_message(NULL, 5, NULL), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_RC(seawall_last_error_message(buf, sizeof buf, MIS(size_t)), SEAWALL_RESULT_INVALID_ARGUMENT);
    CHECK_RC(seawall_result_message(SEAWALL_RESULT_OK, NULL, 5, NULL), SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_RC(seawall_result_message(SEAWALL_RESULT_OK, buf, sizeof buf, MIS(size_t)),
             SEAWALL_RESULT_INVALID_ARGUMENT);
    CHECK_RC(seawall_result_message(1000, buf, sizeof buf, NULL), SEAWALL_RESULT_INVALID_ARGUMENT);
    CHECK(seawall_last_error() == SEAWALL_RESULT_NULL_PARAMETER);
    CHECK_LAST_ERROR("seawall_breaker_new: `name` is NULL");
}

int main(void) {
    test_messages();
    test_message_functions_keep_the_last_error();
    return check_report("test_errors_messages");
}

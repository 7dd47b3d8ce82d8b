/* The header can be included more than once, compiles on its own under
 * -Wpedantic, and its structs have the layout the library was built with. */
#include "seawall.h"
#include "seawall.h"

#include <stddef.h>
#include <stdio.h>

_Static_assert(sizeof(seawall_result) == 4, "result codes are 32-bit");
_Static_assert(sizeof(seawall_state) == 4, "states are 32-bit");
/* episode, status, trial, start, owner */
_Static_assert(sizeof(seawall_permit) == 3 * sizeof(uint64_t) + sizeof(void *), "permit layout");
_Static_assert(offsetof(seawall_permit, trial) == 12, "permit layout");
_Static_assert(offsetof(seawall_permit, start) == 16, "permit layout");
_Static_assert(sizeof(seawall_rejection) == 16, "rejection layout");
_Static_assert(offsetof(seawall_rejection, retry_after_ns) == 8, "rejection layout");
_Static_assert(SEAWALL_RESULT_OK == 0, "OK is 0");
_Static_assert(SEAWALL_RESULT_PANIC == 10, "codes are never renumbered");

int main(void) {
    seawall_breaker_config c;
    if (seawall_breaker_config_default(&c) != SEAWALL_RESULT_OK || c.failure_threshold != 5) {
        fprintf(stderr, "test_header: seawall_breaker_config_default failed\n");
        return 1;
    }
    printf("test_header: all checks passed (seawall %s)\n", seawall_version());
    return 0;
}

/* Lets a Python benchmark turn callgrind's counting on and off around the
 * measured loop (a no-op outside valgrind). */
#include <valgrind/callgrind.h>

void seawall_cg_toggle(void) { CALLGRIND_TOGGLE_COLLECT; }

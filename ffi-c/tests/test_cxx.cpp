// The header from C++: included twice, declarations inside extern "C",
// enums usable as typed constants, and a protected call end to end.
#include "seawall.h"
#include "seawall.h"

#include <cstdio>
#include <cstring>
#include <string>
#include <type_traits>

static_assert(sizeof(seawall_result) == 4, "result codes are 32-bit");
static_assert(std::is_trivially_copyable<seawall_permit>::value, "permits are plain values");
static_assert(std::is_standard_layout<seawall_metrics>::value, "metrics are plain values");

namespace {

// RAII owner of a breaker handle, as a C++ wrapper would write it.
class Breaker {
public:
    explicit Breaker(const char *name, const seawall_breaker_config &config) {
        if (seawall_breaker_new(name, &config, &handle_) != SEAWALL_RESULT_OK) handle_ = nullptr;
    }
    Breaker(const Breaker &other) {
        if (seawall_breaker_clone(other.handle_, &handle_) != SEAWALL_RESULT_OK) handle_ = nullptr;
    }
    Breaker &operator=(const Breaker &) = delete;
    ~Breaker() { seawall_breaker_free(handle_); }
    const seawall_breaker *get() const { return handle_; }

private:
    const seawall_breaker *handle_ = nullptr;
};

std::string last_error() {
    size_t len = 0;
    seawall_last_error_message(nullptr, 0, &len);
    std::string s(len, '\0');
    seawall_last_error_message(&s[0], len + 1, nullptr);
    return s;
}

int failures = 0;

void check(bool ok, const char *what) {
    if (!ok) {
        std::fprintf(stderr, "test_cxx: CHECK failed: %s\n", what);
        failures++;
    }
}

}  // namespace

int main() {
    seawall_breaker_config config;
    check(seawall_breaker_config_default(&config) == SEAWALL_RESULT_OK, "defaults");
    config.failure_threshold = 1;
    Breaker b("cxx", config);
    check(b.get() != nullptr, "created");
    Breaker copy = b;
    check(copy.get() == b.get(), "clone is the same breaker");

    seawall_permit permit;
    seawall_rejection why;
    check(seawall_breaker_try_acquire(b.get(), &permit, &why) == SEAWALL_RESULT_OK, "acquire");
    check(seawall_breaker_report(b.get(), &permit, SEAWALL_OUTCOME_FAILURE, 5) ==
              SEAWALL_RESULT_OK,
          "report");
    seawall_result rc = seawall_breaker_try_acquire(copy.get(), &permit, &why);
    check(rc == SEAWALL_RESULT_REJECTED, "rejected once open");
    check(why.state == SEAWALL_STATE_OPEN, "rejection state");

    config.success_threshold = 0;
    const seawall_breaker *bad = nullptr;
    check(seawall_breaker_new("bad", &config, &bad) == SEAWALL_RESULT_INVALID_CONFIG, "invalid");
    check(last_error() ==
              "seawall_breaker_new: invalid success_threshold = 0: must be an integer in [1, "
              "4294967295]",
          "error message");
    check(bad == nullptr, "no output on failure");

    if (failures != 0) return 1;
    std::printf("test_cxx: all checks passed\n");
    return 0;
}

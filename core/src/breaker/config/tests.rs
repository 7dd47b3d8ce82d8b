//! Validation of every breaker setting.

use std::time::Duration;

use super::*;
use crate::config::MAX_DURATION;

fn err(c: BreakerConfig) -> ConfigError {
    c.validate().expect_err("config should be rejected")
}

#[test]
fn defaults_match_the_original_package() {
    let c = BreakerConfig::default();
    assert_eq!(c.failure_threshold, 5);
    assert_eq!(c.success_threshold, 3);
    assert_eq!(c.timeout, Duration::from_secs(60));
    assert_eq!(c.half_open_timeout, Duration::from_secs(30));
    c.validate().unwrap();
}

#[test]
fn thresholds_and_trial_counts_take_any_u32_the_state_word_can_hold() {
    let d = BreakerConfig::default;
    for c in [
        BreakerConfig {
            failure_threshold: 1_000_000,
            ..d()
        },
        BreakerConfig {
            failure_threshold: u32::MAX,
            ..d()
        },
        BreakerConfig {
            success_threshold: i32::MAX as u32,
            ..d()
        },
        BreakerConfig {
            success_threshold: u32::MAX,
            half_open_max_calls: 7,
            ..d()
        },
        BreakerConfig {
            half_open_max_calls: i32::MAX as u32,
            ..d()
        },
        BreakerConfig {
            success_threshold: (1 << 18) - 1,
            half_open_max_calls: (1 << 18) - 1,
            ..d()
        },
    ] {
        c.validate().unwrap_or_else(|e| panic!("{c:?}: {e}"));
    }
}

#[test]
fn trial_bookkeeping_beyond_36_bits_is_refused_naming_both_fields() {
    let e = err(BreakerConfig {
        success_threshold: i32::MAX as u32,
        half_open_max_calls: 1_000_000,
        ..BreakerConfig::default()
    });
    assert_eq!(e.field, "half_open_max_calls");
    let text = e.to_string();
    assert!(
        text.starts_with(
            "invalid half_open_max_calls = 1000000 (with success_threshold = 2147483647): \
             must be small enough that the HALF_OPEN bookkeeping fits 36 bits"
        ),
        "{text}"
    );
    let rate = err(BreakerConfig {
        success_threshold: 1 << 30,
        half_open_success_rate: Some(0.5),
        ..BreakerConfig::default()
    });
    assert!(
        rate.value.ends_with("half_open_success_rate = 0.5)"),
        "{}",
        rate.value
    );
}

#[test]
fn each_bad_field_is_named_with_value_and_range() {
    let d = BreakerConfig::default;
    let e = err(BreakerConfig {
        failure_threshold: 0,
        ..d()
    });
    assert_eq!(
        e.to_string(),
        "invalid failure_threshold = 0: must be an integer in [1, 4294967295]"
    );
    assert_eq!(
        err(BreakerConfig {
            success_threshold: 0,
            ..d()
        })
        .field,
        "success_threshold"
    );
    assert_eq!(
        err(BreakerConfig {
            half_open_max_calls: 0,
            ..d()
        })
        .field,
        "half_open_max_calls"
    );
    assert_eq!(
        err(BreakerConfig {
            timeout: Duration::ZERO,
            ..d()
        })
        .field,
        "timeout"
    );
    assert_eq!(
        err(BreakerConfig {
            half_open_timeout: MAX_DURATION * 2,
            ..d()
        })
        .field,
        "half_open_timeout"
    );
    let e = err(BreakerConfig {
        timeout_multiplier: 0.5,
        ..d()
    });
    assert_eq!(
        e.to_string(),
        "invalid timeout_multiplier = 0.5: must be a number in [1, 1000]"
    );
    assert_eq!(
        err(BreakerConfig {
            timeout_multiplier: f64::NAN,
            ..d()
        })
        .value,
        "NaN"
    );
    let e = err(BreakerConfig {
        max_timeout: Some(Duration::from_secs(1)),
        ..d()
    });
    assert_eq!(e.field, "max_timeout");
    assert_eq!(
        err(BreakerConfig {
            timeout_jitter: 1.0,
            ..d()
        })
        .field,
        "timeout_jitter"
    );
    assert_eq!(
        err(BreakerConfig {
            timeout_jitter: f64::NAN,
            ..d()
        })
        .field,
        "timeout_jitter"
    );
    assert_eq!(
        err(BreakerConfig {
            slow_call_duration: Some(Duration::ZERO),
            ..d()
        })
        .field,
        "slow_call_duration"
    );
}

#[test]
fn window_settings_are_checked() {
    let d = BreakerConfig::default;
    let count = |size| Window::Count { size };
    assert_eq!(
        err(BreakerConfig {
            window: count(0),
            ..d()
        })
        .field,
        "window.size"
    );
    assert_eq!(
        err(BreakerConfig {
            window: count(10_001),
            ..d()
        })
        .field,
        "window.size"
    );
    let time = |secs, buckets| Window::Time {
        length: Duration::from_secs(secs),
        buckets,
    };
    assert_eq!(
        err(BreakerConfig {
            window: time(0, 10),
            ..d()
        })
        .field,
        "window.length"
    );
    assert_eq!(
        err(BreakerConfig {
            window: time(10, 0),
            ..d()
        })
        .field,
        "window.buckets"
    );
    let thin = Window::Time {
        length: Duration::from_millis(999),
        buckets: 1000,
    };
    assert_eq!(
        err(BreakerConfig {
            window: thin,
            ..d()
        })
        .field,
        "window.buckets",
        "1 ms slices are the minimum"
    );
    BreakerConfig {
        window: time(1, 1000),
        ..d()
    }
    .validate()
    .unwrap();
    for bad in [0.0, -0.5, 1.5, f64::NAN] {
        let e = err(BreakerConfig {
            window: count(100),
            failure_rate_threshold: Some(bad),
            ..d()
        });
        assert_eq!(e.field, "failure_rate_threshold");
        assert_eq!(e.allowed, "a fraction in (0, 1]");
        assert_eq!(
            err(BreakerConfig {
                half_open_success_rate: Some(bad),
                ..d()
            })
            .field,
            "half_open_success_rate"
        );
    }
    let e = err(BreakerConfig {
        failure_rate_threshold: Some(0.5),
        ..d()
    });
    assert_eq!(
        e.to_string(),
        "invalid failure_rate_threshold = \"set\": must be unset unless a window is configured"
    );
    let e = err(BreakerConfig {
        window: count(100),
        slow_call_rate_threshold: Some(0.5),
        ..d()
    });
    assert_eq!(e.allowed, "unset unless slow_call_duration is set");
    assert_eq!(
        err(BreakerConfig {
            window: count(5),
            minimum_calls: 6,
            ..d()
        })
        .field,
        "minimum_calls"
    );
    assert_eq!(
        err(BreakerConfig {
            window: count(5),
            failure_count_threshold: Some(6),
            ..d()
        })
        .field,
        "failure_count_threshold"
    );
    assert_eq!(
        err(BreakerConfig {
            trip_on_consecutive_failures: false,
            ..d()
        })
        .field,
        "trip_on_consecutive_failures"
    );
    BreakerConfig {
        trip_on_consecutive_failures: false,
        window: count(5),
        failure_count_threshold: Some(5),
        minimum_calls: 5,
        ..d()
    }
    .validate()
    .unwrap();
}

//! The wording of errors about an argument or a setting, shared by both
//! faces so that a bad value reads the same from C and from Python:
//!
//! * out of range: "invalid {field} = {value}: must be {allowed}" (the
//!   wording of the core's `ConfigError`);
//! * of the wrong type: "{field} must be {expected}, not {type} ({value})".
//!
//! C callers see the core's fields under their C names (`timeout_ns` for
//! `timeout`): [`c_name`].

use std::fmt::Display;

use seawall::ConfigError;

/// The longest value shown in a message, in characters; a longer one is cut
/// and ends in "...".
const SHOWN_CHARS: usize = 80;

/// "invalid {field} = {value}: must be {allowed}".
pub fn invalid(field: impl Display, value: impl Display, allowed: impl Display) -> String {
    format!("invalid {field} = {value}: must be {allowed}")
}

/// "{field} must be {expected}, not {type_name} ({shown})": `shown` is the
/// value as the caller's language writes it, cut by [`shorten`].
pub fn wrong_type(field: &str, expected: &str, type_name: &str, shown: &str) -> String {
    format!("{field} must be {expected}, not {type_name} ({shown})")
}

/// `text` cut to at most 80 characters, ending in "..." when cut.
pub fn shorten(text: String) -> String {
    if text.chars().count() <= SHOWN_CHARS {
        return text;
    }
    let mut s: String = text.chars().take(SHOWN_CHARS - 3).collect();
    s.push_str("...");
    s
}

/// The C spelling of a core field name: durations carry their unit
/// (`timeout` is `timeout_ns`) and the window's fields are flat
/// (`window.size` is `window_size`).
pub fn c_name(field: &'static str) -> &'static str {
    match field {
        // Breaker (and the bulkhead's `timeout`).
        "timeout" => "timeout_ns",
        "half_open_timeout" => "half_open_timeout_ns",
        "max_timeout" => "max_timeout_ns",
        "slow_call_duration" => "slow_call_duration_ns",
        "window.size" => "window_size",
        "window.length" => "window_length_ns",
        "window.buckets" => "window_buckets",
        // Rate limiter.
        "period" => "period_ns",
        // Retry budget.
        "window_size" => "window_size_ns",
        // Adaptive limiter.
        "latency_threshold" => "latency_threshold_ns",
        // Retry back-off.
        "initial_delay" => "initial_delay_ns",
        "max_delay" => "max_delay_ns",
        "max_total_delay" => "max_total_delay_ns",
        // Distributed breaker and rate limiter (`namespace` is a C++
        // keyword).
        "window" => "window_ns",
        "state_ttl" => "state_ttl_ns",
        "lease_ttl" => "lease_ttl_ns",
        "namespace" => "key_namespace",
        "sync_interval" => "sync_interval_ns",
        "poll_interval" => "poll_interval_ns",
        "op_timeout" => "op_timeout_ns",
        "connect_timeout" => "connect_timeout_ns",
        "reconnect_min" => "reconnect_min_ns",
        "reconnect_max" => "reconnect_max_ns",
        other => other,
    }
}

/// The message of a configuration error for C callers, with the C field
/// name: "invalid timeout_ns = 0ns: must be a duration in (0, 365 days]".
pub fn for_c(e: &ConfigError) -> String {
    invalid(c_name(e.field), &e.value, e.allowed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wording_matches_the_core() {
        let e = ConfigError {
            field: "timeout",
            value: "0ns".into(),
            allowed: "a duration in (0, 365 days]",
        };
        assert_eq!(invalid(e.field, &e.value, e.allowed), e.to_string());
        assert_eq!(
            for_c(&e),
            "invalid timeout_ns = 0ns: must be a duration in (0, 365 days]"
        );
        assert_eq!(
            wrong_type("name", "a str", "int", "3"),
            "name must be a str, not int (3)"
        );
    }

    #[test]
    fn long_values_are_cut_at_80_characters() {
        assert_eq!(shorten("abc".into()), "abc");
        let long = "é".repeat(100);
        let cut = shorten(long);
        assert_eq!(cut.chars().count(), 80);
        assert!(cut.ends_with("..."));
    }
}

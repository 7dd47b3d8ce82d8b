//! The C view of `seawall::BreakerConfig`, and what every engine's
//! configuration shares: the [`CConfig`] conversion, reading a `config`
//! argument, and the body of the `_new` functions.
//!
//! The two conversion functions of `seawall_breaker_config` below are the
//! only places that know its field list: a field added to the core is added
//! to the struct and to both of them, and nowhere else. Fields the C struct
//! does not carry yet take the core's defaults (`..Default::default()`).

use std::time::Duration;

use seawall::{BreakerConfig, ConfigError, Window};
use seawall_bindings_support::{fields, DynClock};

use crate::clock::{clock_arg, seawall_manual_clock};
use crate::error::{borrow, put, run, seawall_result, Error};
use crate::handle::{self, Handle, Shared};

/// The kind of window the rate and count rules judge
/// (`seawall_breaker_config.window_kind`).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum seawall_window_kind {
    /// No window: only the consecutive-failure rule applies.
    None = 0,
    /// The last `window_size` outcomes.
    Count = 1,
    /// The outcomes of the last `window_length_ns`, kept in `window_buckets`
    /// slices.
    Time = 2,
}

/// How a breaker decides. Fill it with `seawall_breaker_config_default` and then
/// change the fields you need: the struct may gain fields in later versions
/// (recompile against the new header), and a default-filled struct keeps
/// working. Durations are in nanoseconds; for the optional settings 0 means
/// "not set". A breaker constructor checks every field and returns
/// `SEAWALL_RESULT_INVALID_CONFIG`, with a last error naming the field, the
/// value and the allowed range, when one is out of range.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct seawall_breaker_config {
    /// Consecutive failures that open a CLOSED breaker. 1..=UINT32_MAX,
    /// default 5.
    pub failure_threshold: u32,
    /// Whether `failure_threshold` consecutive failures trip the breaker:
    /// non-zero for true (the default, written as 1); may be 0 only when a
    /// window rule is set. A byte rather than a `bool` so that no bit
    /// pattern a foreign caller can leave in the struct is invalid.
    pub trip_on_consecutive_failures: u8,
    /// A `seawall_window_kind` (as a number, so that an unknown one is
    /// reported as `SEAWALL_RESULT_INVALID_CONFIG`); default
    /// `SEAWALL_WINDOW_KIND_NONE`.
    pub window_kind: u32,
    /// `SEAWALL_WINDOW_KIND_COUNT`: the outcomes kept, 1..=10000. Ignored
    /// for other kinds.
    pub window_size: u32,
    /// `SEAWALL_WINDOW_KIND_TIME`: the number of slices, 1..=1000, each at
    /// least 1 ms. Ignored for other kinds.
    pub window_buckets: u32,
    /// `SEAWALL_WINDOW_KIND_TIME`: the span judged, (0, 1 year]. Ignored for
    /// other kinds.
    pub window_length_ns: u64,
    /// Failures within the window that open the breaker: 0 (off, the
    /// default) or at least 1 and at most `window_size` for a count window.
    pub failure_count_threshold: u32,
    /// The calls (successes plus failures) the window must hold before a
    /// rate rule may fire. At least 1, at most `window_size` for a count
    /// window; default 10.
    pub minimum_calls: u32,
    /// The share of failed calls in the window that opens the breaker:
    /// 0 (off, the default) or in (0, 1].
    pub failure_rate_threshold: f64,
    /// The share of slow calls in the window that opens the breaker: 0 (off,
    /// the default) or in (0, 1]; needs `slow_call_duration_ns`.
    pub slow_call_rate_threshold: f64,
    /// Successful trial calls that close a HALF_OPEN breaker (with
    /// `half_open_success_rate`: the trial outcomes judged). 1..=UINT32_MAX,
    /// default 3.
    pub success_threshold: u32,
    /// Trial calls admitted at once while HALF_OPEN. At least 1, default 1.
    /// Trial successes, trials in flight and trial failures share 36 bits:
    /// bits(success_threshold - 1) + bits(half_open_max_calls) + bits(trial
    /// failures tolerated) <= 36, where bits(n) is the bit length of n (any
    /// success_threshold with one trial at a time; both up to 2^18 - 1).
    pub half_open_max_calls: u32,
    /// 0 (the default): `success_threshold` successes close a HALF_OPEN
    /// breaker and any trial failure reopens it. In (0, 1]: the trials are
    /// judged as a batch of `success_threshold` outcomes, closing once this
    /// share of them has succeeded.
    pub half_open_success_rate: f64,
    /// Time spent OPEN after the first trip before trial calls are admitted.
    /// (0, 1 year], default 60 s.
    pub timeout_ns: u64,
    /// How long a batch of trial calls may stay unresolved before the breaker
    /// reopens. (0, 1 year], default 30 s.
    pub half_open_timeout_ns: u64,
    /// Each consecutive trip multiplies the open time by this factor.
    /// [1, 1000], default 1 (no back-off).
    pub timeout_multiplier: f64,
    /// The cap on the grown open time: [timeout_ns, 1 year], or 0 (the
    /// default) for "equal to timeout_ns", so a multiplier needs a cap to
    /// have an effect.
    pub max_timeout_ns: u64,
    /// Shortens each open time by a random share of up to this fraction.
    /// [0, 1), default 0.
    pub timeout_jitter: f64,
    /// Calls lasting at least this long are counted as slow
    /// (`seawall_metrics.slow_calls`). (0, 1 year], or 0 (the default) to
    /// disable slow-call timing and the clock read it costs.
    pub slow_call_duration_ns: u64,
}

/// A duration as C sees it: whole nanoseconds, saturating at `UINT64_MAX`
/// (the bindings' one conversion).
pub(crate) use seawall_bindings_support::duration::nanos;

/// 0 means "not set".
fn optional_ns(ns: u64) -> Option<Duration> {
    (ns != 0).then(|| Duration::from_nanos(ns))
}

/// 0 means "not set" (every rate's range excludes it); anything else,
/// NaN included, is passed on for the core to judge.
fn optional_rate(r: f64) -> Option<f64> {
    (r != 0.0).then_some(r)
}

impl From<&BreakerConfig> for seawall_breaker_config {
    fn from(c: &BreakerConfig) -> Self {
        let (window_kind, window_size, window_length_ns, window_buckets) = match c.window {
            Window::None => (seawall_window_kind::None, 0, 0, 0),
            Window::Count { size } => (seawall_window_kind::Count, size, 0, 0),
            Window::Time { length, buckets } => {
                (seawall_window_kind::Time, 0, nanos(length), buckets)
            }
        };
        Self {
            failure_threshold: c.failure_threshold,
            trip_on_consecutive_failures: u8::from(c.trip_on_consecutive_failures),
            window_kind: window_kind as u32,
            window_size,
            window_buckets,
            window_length_ns,
            failure_count_threshold: c.failure_count_threshold.unwrap_or(0),
            minimum_calls: c.minimum_calls,
            failure_rate_threshold: c.failure_rate_threshold.unwrap_or(0.0),
            slow_call_rate_threshold: c.slow_call_rate_threshold.unwrap_or(0.0),
            success_threshold: c.success_threshold,
            half_open_max_calls: c.half_open_max_calls,
            half_open_success_rate: c.half_open_success_rate.unwrap_or(0.0),
            timeout_ns: nanos(c.timeout),
            half_open_timeout_ns: nanos(c.half_open_timeout),
            timeout_multiplier: c.timeout_multiplier,
            max_timeout_ns: c.max_timeout.map_or(0, nanos),
            timeout_jitter: c.timeout_jitter,
            slow_call_duration_ns: c.slow_call_duration.map_or(0, nanos),
        }
    }
}

impl CConfig for seawall_breaker_config {
    type Core = BreakerConfig;

    /// Only the C-only `window_kind` is checked here: the core validates
    /// the rest when (and only when) it builds a breaker, so a registry
    /// look-up of an existing breaker ignores the config as the core does.
    /// Fields the C struct does not carry take the core's defaults.
    fn to_core(&self) -> Result<BreakerConfig, ConfigError> {
        let c = self;
        let window = match c.window_kind {
            k if k == seawall_window_kind::None as u32 => Window::None,
            k if k == seawall_window_kind::Count as u32 => Window::Count {
                size: c.window_size,
            },
            k if k == seawall_window_kind::Time as u32 => Window::Time {
                length: Duration::from_nanos(c.window_length_ns),
                buckets: c.window_buckets,
            },
            k => {
                return Err(unknown_enum(
                    "window_kind",
                    k,
                    "one of SEAWALL_WINDOW_KIND_NONE (0), _COUNT (1), _TIME (2)",
                ))
            }
        };
        // Every field is listed today; the update keeps a field added to the
        // core from breaking this build before the C struct carries it.
        #[allow(clippy::needless_update)]
        let config = BreakerConfig {
            failure_threshold: c.failure_threshold,
            trip_on_consecutive_failures: c.trip_on_consecutive_failures != 0,
            window,
            failure_count_threshold: (c.failure_count_threshold != 0)
                .then_some(c.failure_count_threshold),
            failure_rate_threshold: optional_rate(c.failure_rate_threshold),
            slow_call_rate_threshold: optional_rate(c.slow_call_rate_threshold),
            minimum_calls: c.minimum_calls,
            success_threshold: c.success_threshold,
            half_open_success_rate: optional_rate(c.half_open_success_rate),
            half_open_max_calls: c.half_open_max_calls,
            timeout: Duration::from_nanos(c.timeout_ns),
            half_open_timeout: Duration::from_nanos(c.half_open_timeout_ns),
            timeout_multiplier: c.timeout_multiplier,
            max_timeout: optional_ns(c.max_timeout_ns),
            timeout_jitter: c.timeout_jitter,
            slow_call_duration: optional_ns(c.slow_call_duration_ns),
            ..Default::default()
        };
        Ok(config)
    }
}

/// `impl From<$core> for $c`, for a C enum that mirrors the core enum
/// `$core` variant for variant (same names; the C numbers are the C
/// enum's).
macro_rules! mirror_enum {
    ($core:ident => $c:ident { $($variant:ident),+ $(,)? }) => {
        impl From<$core> for $c {
            #[inline]
            fn from(v: $core) -> Self {
                match v {
                    $($core::$variant => Self::$variant,)+
                }
            }
        }
    };
}
pub(crate) use mirror_enum;

/// A config struct's C enum field holding a number that names no constant.
pub(crate) fn unknown_enum(field: &'static str, value: u32, allowed: &'static str) -> ConfigError {
    ConfigError {
        field,
        value: value.to_string(),
        allowed,
    }
}

/// A C configuration struct: the C view of the core configuration
/// `Core`, written from it by `From` and read back by [`CConfig::to_core`].
pub(crate) trait CConfig: for<'a> From<&'a Self::Core> {
    /// The core configuration it describes.
    type Core: Default;

    /// The core configuration `self` describes; checks what only the C view
    /// can get wrong (an unknown enum number), and may leave the rest to
    /// the constructor that validates it.
    fn to_core(&self) -> Result<Self::Core, ConfigError>;
}

/// The configuration a `_new` function builds from: the core's defaults
/// for a NULL `config`, else `*config` read by [`CConfig::to_core`].
///
/// # Safety
///
/// `config` is NULL or points to a valid `C`.
pub(crate) unsafe fn config_arg<C: CConfig>(
    config: *const C,
    func: &'static str,
) -> Result<C::Core, Error> {
    if config.is_null() {
        return Ok(C::Core::default());
    }
    // SAFETY: `config` points to a valid `C` (the caller's contract; not
    // NULL here).
    let c = unsafe { borrow(config, func, "config") }?;
    c.to_core().map_err(|e| config_error(func, &e))
}

/// Checks `out`, then reads `*config` (the defaults for NULL), builds the
/// value with `build` and writes a new handle to it. Nothing is written if
/// any step fails; the failure names `func`.
///
/// # Safety
///
/// `config` is NULL or valid; `out` is NULL or valid for a write.
pub(crate) unsafe fn new_configured<H: Handle<Kind = Shared>, C: CConfig>(
    func: &'static str,
    config: *const C,
    out: *mut *const H,
    build: impl FnOnce(C::Core) -> Result<H::Inner, ConfigError>,
) -> Result<(), Error> {
    let make = || {
        // SAFETY: `config` is NULL or valid (the caller's contract).
        let config = unsafe { config_arg(config, func) }?;
        build(config).map_err(|e| config_error(func, &e))
    };
    // SAFETY: `out` is NULL or valid for a write (the caller's contract).
    unsafe { handle::new_handle(func, out, make) }
}

/// The body of an engine's `_new`: reads `clock` (NULL for the production
/// clock), then as [`new_configured`] with `build` given the clock.
///
/// # Safety
///
/// `config` is NULL or valid; `clock` is NULL or a live handle; `out` is
/// NULL or valid for a write.
pub(crate) unsafe fn new_engine<H: Handle<Kind = Shared>, C: CConfig>(
    func: &'static str,
    config: *const C,
    clock: *const seawall_manual_clock,
    out: *mut *const H,
    build: impl FnOnce(C::Core, DynClock) -> Result<H::Inner, ConfigError>,
) -> seawall_result {
    run(func, || {
        // SAFETY: `clock` is NULL or a live handle (the caller's contract).
        let clock = unsafe { clock_arg(clock, func) }?;
        // SAFETY: `config` is NULL or valid, `out` NULL or valid for a
        // write (the caller's contract).
        unsafe { new_configured(func, config, out, |c| build(c, clock)) }
    })
}

/// The body of every `_config_default`: fills `*out` with the C view of
/// the core's defaults.
///
/// # Safety
///
/// `out` is NULL or valid for a write.
pub(crate) unsafe fn write_default<Core: Default, C>(
    func: &'static str,
    out: *mut C,
) -> seawall_result
where
    C: for<'a> From<&'a Core>,
{
    let default = || Ok(C::from(&Core::default()));
    // SAFETY: `out` is NULL or valid for a write (the caller's contract).
    run(func, || unsafe { put(out, func, "out", default) })
}

/// The error for an invalid configuration of any engine, reported by `func`.
#[cold]
pub(crate) fn config_error(func: &'static str, e: &ConfigError) -> Error {
    Error::new(
        seawall_result::InvalidConfig,
        format!("{func}: {}", fields::for_c(e)),
    )
}

/// Fills `*out` with the default configuration.
///
/// # Safety
///
/// `out` is NULL or valid for a write of a `seawall_breaker_config`.
#[no_mangle]
pub unsafe extern "C" fn seawall_breaker_config_default(
    out: *mut seawall_breaker_config,
) -> seawall_result {
    // SAFETY: `out` is NULL or valid for a write (this function's contract).
    unsafe { write_default::<BreakerConfig, _>("seawall_breaker_config_default", out) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_round_trips_through_the_c_struct() {
        let d = BreakerConfig::default();
        let c = seawall_breaker_config::from(&d);
        assert_eq!(c.timeout_ns, 60_000_000_000);
        assert_eq!(c.max_timeout_ns, 0);
        assert_eq!(c.to_core().unwrap(), d);
    }

    #[test]
    fn every_field_reaches_the_core() {
        let mut c = seawall_breaker_config::from(&BreakerConfig::default());
        c.failure_threshold = 7;
        c.trip_on_consecutive_failures = 0;
        c.window_kind = seawall_window_kind::Count as u32;
        c.window_size = 50;
        c.failure_count_threshold = 20;
        c.minimum_calls = 5;
        c.failure_rate_threshold = 0.5;
        c.slow_call_rate_threshold = 0.75;
        c.success_threshold = 4;
        c.half_open_max_calls = 4;
        c.half_open_success_rate = 0.5;
        c.timeout_ns = 1_000;
        c.half_open_timeout_ns = 2_000;
        c.timeout_multiplier = 2.5;
        c.max_timeout_ns = 9_000;
        c.timeout_jitter = 0.25;
        c.slow_call_duration_ns = 500;
        let b = c.to_core().unwrap();
        assert_eq!(b.window, Window::Count { size: 50 });
        assert_eq!(b.failure_rate_threshold, Some(0.5));
        assert_eq!(seawall_breaker_config::from(&b), c);

        c.window_kind = seawall_window_kind::Time as u32;
        c.window_size = 0;
        c.failure_count_threshold = 0;
        c.window_length_ns = 10_000_000_000;
        c.window_buckets = 10;
        let b = c.to_core().unwrap();
        assert_eq!(
            b.window,
            Window::Time {
                length: Duration::from_secs(10),
                buckets: 10
            }
        );
        assert_eq!(b.failure_count_threshold, None);
        assert_eq!(seawall_breaker_config::from(&b), c);
    }

    fn checked(c: &seawall_breaker_config) -> ConfigError {
        c.to_core()
            .and_then(|b| b.validate())
            .expect_err("config should be rejected")
    }

    #[test]
    fn errors_use_the_c_field_names() {
        let mut c = seawall_breaker_config::from(&BreakerConfig::default());
        c.timeout_ns = 0;
        let e = fields::for_c(&checked(&c));
        assert_eq!(
            e,
            "invalid timeout_ns = 0ns: must be a duration in (0, 365 days]"
        );
        c.timeout_ns = 1;
        c.window_kind = 9;
        let e = fields::for_c(&checked(&c));
        assert!(
            e.starts_with("invalid window_kind = 9: must be one of"),
            "{e}"
        );
        c.window_kind = seawall_window_kind::Count as u32;
        c.window_size = 0;
        assert!(fields::for_c(&checked(&c)).starts_with("invalid window_size = 0"));
        c.window_size = 5;
        c.failure_rate_threshold = f64::NAN;
        assert!(fields::for_c(&checked(&c)).contains("failure_rate_threshold"));
    }
}

//! The fault injector handle: errors, results and delays injected at run
//! time for tests and game days. The core decides (`seawall::fault`); the
//! C caller acts on each `seawall_fault`: fails the call, returns its
//! chosen result, or sleeps before the call.

use std::time::Duration;

use seawall::{ConfigError, Fault, FaultConfig, FaultInjector, SeededRandom, ThreadRandom};

use crate::config::{nanos, new_configured, write_default, CConfig};
use crate::error::{run, seawall_result};
use crate::handle;

/// The injector type behind every handle.
pub(crate) type CInjector = FaultInjector;

/// A fault injector, off until enabled; while off, a decision is one load
/// of a flag. Reference-counted like `seawall_breaker`; every function
/// taking one is thread-safe and lock-free.
pub struct seawall_fault_injector {
    _private: [u8; 0],
}

handle::declare!(seawall_fault_injector: CInjector, Shared, "fault injector");

/// What a call should suffer this time.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum seawall_fault_kind {
    /// Nothing: make the call as is.
    None = 0,
    /// Fail the call without making it.
    Error = 1,
    /// Return the chosen result without making the call.
    Result = 2,
    /// Sleep `latency_ns`, then make the call.
    Latency = 3,
}

/// A decision of `seawall_fault_injector_decide`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct seawall_fault {
    /// A `seawall_fault_kind`.
    pub kind: u32,
    /// `SEAWALL_FAULT_KIND_LATENCY`: the delay; 0 otherwise.
    pub latency_ns: u64,
}

/// What an injector injects. The rates are the probabilities of disjoint
/// outcomes of one draw (error first, then result, then latency), each in
/// [0, 1], adding up to at most 1. Fill it with
/// `seawall_fault_config_default` and change the fields you need.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct seawall_fault_config {
    /// Nonzero: inject. Default 0 (off).
    pub enabled: u8,
    /// The probability of `SEAWALL_FAULT_KIND_ERROR`. Default 0.
    pub error_rate: f64,
    /// The probability of `SEAWALL_FAULT_KIND_RESULT`. Default 0.
    pub result_rate: f64,
    /// The probability of `SEAWALL_FAULT_KIND_LATENCY`. Default 0.
    pub latency_rate: f64,
    /// The shortest injected delay, at most `latency_max_ns`. Default 0.
    pub latency_min_ns: u64,
    /// The longest injected delay, at most 1 year. Default 0.
    pub latency_max_ns: u64,
}

impl From<&FaultConfig> for seawall_fault_config {
    fn from(c: &FaultConfig) -> Self {
        Self {
            enabled: u8::from(c.enabled),
            error_rate: c.error_rate,
            result_rate: c.result_rate,
            latency_rate: c.latency_rate,
            latency_min_ns: nanos(c.latency_min),
            latency_max_ns: nanos(c.latency_max),
        }
    }
}

impl CConfig for seawall_fault_config {
    type Core = FaultConfig;

    fn to_core(&self) -> Result<FaultConfig, ConfigError> {
        Ok(FaultConfig {
            enabled: self.enabled != 0,
            error_rate: self.error_rate,
            result_rate: self.result_rate,
            latency_rate: self.latency_rate,
            latency_min: Duration::from_nanos(self.latency_min_ns),
            latency_max: Duration::from_nanos(self.latency_max_ns),
        })
    }
}

/// The faults an injector injected.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct seawall_fault_metrics {
    /// Errors decided.
    pub errors: u64,
    /// Results decided.
    pub results: u64,
    /// Delays decided.
    pub latencies: u64,
}

/// Fills `*out` with the default configuration (off, every rate 0).
///
/// # Safety
///
/// `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_fault_config_default(
    out: *mut seawall_fault_config,
) -> seawall_result {
    const F: &str = "seawall_fault_config_default";
    // SAFETY: `out` is NULL or valid for a write (this function's contract).
    unsafe { write_default::<FaultConfig, _>(F, out) }
}

/// Creates an injector from `*config` (NULL for the defaults: off),
/// drawing unseeded thread-local numbers, and writes its handle to `*out`.
/// Release it with `seawall_fault_injector_free`.
///
/// # Safety
///
/// `config` is NULL or valid; `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_fault_injector_new(
    config: *const seawall_fault_config,
    out: *mut *const seawall_fault_injector,
) -> seawall_result {
    const F: &str = "seawall_fault_injector_new";
    let build = |c| FaultInjector::with_random(c, ThreadRandom);
    // SAFETY: `config` is NULL or valid, `out` NULL or valid for a write
    // (this function's contract).
    run(F, || unsafe { new_configured(F, config, out, build) })
}

/// As `seawall_fault_injector_new`, drawing from a generator seeded with
/// `seed`: the same config, seed and sequence of decisions give the same
/// faults, from run to run.
///
/// # Safety
///
/// As `seawall_fault_injector_new`.
#[no_mangle]
pub unsafe extern "C" fn seawall_fault_injector_new_seeded(
    config: *const seawall_fault_config,
    seed: u64,
    out: *mut *const seawall_fault_injector,
) -> seawall_result {
    const F: &str = "seawall_fault_injector_new_seeded";
    let build = |c| FaultInjector::with_random(c, SeededRandom::new(seed));
    // SAFETY: `config` is NULL or valid, `out` NULL or valid for a write
    // (this function's contract).
    run(F, || unsafe { new_configured(F, config, out, build) })
}

/// Writes a new handle to the same injector to `*out`.
///
/// # Safety
///
/// `injector` is NULL or a live handle; `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_fault_injector_clone(
    injector: *const seawall_fault_injector,
    out: *mut *const seawall_fault_injector,
) -> seawall_result {
    // SAFETY: `injector` is NULL or a live handle, `out` NULL or valid for a
    // write (this function's contract).
    unsafe { handle::clone_handle("seawall_fault_injector_clone", injector, out) }
}

/// Releases one injector handle. `NULL` is a no-op.
///
/// # Safety
///
/// `injector` is NULL or a live handle, which must not be used afterwards.
#[no_mangle]
pub unsafe extern "C" fn seawall_fault_injector_free(injector: *const seawall_fault_injector) {
    // SAFETY: `injector` is NULL or a live handle the caller gives up (this
    // function's contract).
    unsafe { handle::free_handle("seawall_fault_injector_free", injector) }
}

/// Decides the next call's fault and writes it to `*out`.
///
/// # Safety
///
/// `injector` is NULL or a live handle; `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_fault_injector_decide(
    injector: *const seawall_fault_injector,
    out: *mut seawall_fault,
) -> seawall_result {
    let f = |i: &CInjector| {
        let (kind, latency_ns) = match i.decide() {
            Fault::None => (seawall_fault_kind::None, 0),
            Fault::Error => (seawall_fault_kind::Error, 0),
            Fault::Result => (seawall_fault_kind::Result, 0),
            Fault::Latency(d) => (seawall_fault_kind::Latency, nanos(d)),
        };
        seawall_fault {
            kind: kind as u32,
            latency_ns,
        }
    };
    // SAFETY: `injector` is NULL or a live handle, `out` NULL or valid for a
    // write (this function's contract).
    unsafe { handle::get("seawall_fault_injector_decide", injector, out, "out", f) }
}

/// Switches injection on (`enabled`) or off, keeping the rates.
///
/// # Safety
///
/// `injector` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn seawall_fault_injector_set_enabled(
    injector: *const seawall_fault_injector,
    enabled: bool,
) -> seawall_result {
    let f = |i: &CInjector| i.set_enabled(enabled);
    // SAFETY: `injector` is NULL or a live handle (this function's contract).
    unsafe { handle::command("seawall_fault_injector_set_enabled", injector, f) }
}

/// Replaces the whole configuration (its `enabled` too) with `*config`; an
/// invalid one returns `SEAWALL_RESULT_INVALID_CONFIG` and changes nothing.
///
/// # Safety
///
/// `injector` is NULL or a live handle; `config` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn seawall_fault_injector_configure(
    injector: *const seawall_fault_injector,
    config: *const seawall_fault_config,
) -> seawall_result {
    const F: &str = "seawall_fault_injector_configure";
    run(F, || {
        // SAFETY: `injector` is NULL or a live handle (this function's
        // contract).
        let i: &CInjector = unsafe { handle::borrow(injector, F) }?;
        // SAFETY: `config` is NULL or valid (this function's contract).
        let c: &seawall_fault_config = unsafe { crate::error::borrow(config, F, "config") }?;
        let core = c
            .to_core()
            .map_err(|e| crate::config::config_error(F, &e))?;
        i.configure(&core)
            .map_err(|e| crate::config::config_error(F, &e))
    })
}

/// Writes the configuration now to `*out`.
///
/// # Safety
///
/// `injector` is NULL or a live handle; `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_fault_injector_get_config(
    injector: *const seawall_fault_injector,
    out: *mut seawall_fault_config,
) -> seawall_result {
    let f = |i: &CInjector| (&i.config()).into();
    // SAFETY: `injector` is NULL or a live handle, `out` NULL or valid for a
    // write (this function's contract).
    unsafe { handle::get("seawall_fault_injector_get_config", injector, out, "out", f) }
}

/// Writes the faults injected so far to `*out`.
///
/// # Safety
///
/// `injector` is NULL or a live handle; `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_fault_injector_get_metrics(
    injector: *const seawall_fault_injector,
    out: *mut seawall_fault_metrics,
) -> seawall_result {
    let f = |i: &CInjector| {
        let m = i.metrics();
        seawall_fault_metrics {
            errors: m.errors,
            results: m.results,
            latencies: m.latencies,
        }
    };
    // SAFETY: `injector` is NULL or a live handle, `out` NULL or valid for a
    // write (this function's contract).
    unsafe {
        handle::get(
            "seawall_fault_injector_get_metrics",
            injector,
            out,
            "out",
            f,
        )
    }
}

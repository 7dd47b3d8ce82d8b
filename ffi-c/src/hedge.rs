//! Hedging, driven from C: the core's `Hedge` (the policy shared by the
//! calls to one dependency) and `HedgeCall` (one call's state machine)
//! decide when to start an extra attempt, draw it from the retry budget,
//! and name the winner; the caller starts, waits and cancels.

use std::sync::Arc;
use std::time::Duration;

use seawall::{ConfigError, Hedge, HedgeCall, HedgeConfig, HedgeDecision, Resolution};
use seawall_bindings_support::DynClock;

use crate::budget::seawall_retry_budget;
use crate::clock::{clock_arg, seawall_manual_clock};
use crate::config::{config_arg, config_error, nanos, write_default, CConfig};
use crate::error::{put, run, seawall_result, Error};
use crate::handle;

type CHedge = Hedge<DynClock>;

/// A hedging policy: the delay before each extra attempt (fixed, or a
/// quantile of recent latencies), `max_hedges`, the retry budget every
/// extra attempt is drawn from, and its counters. Reference-counted like
/// `seawall_breaker`; every function taking one is thread-safe and
/// lock-free.
pub struct seawall_hedge {
    _private: [u8; 0],
}

handle::declare!(seawall_hedge: CHedge, Shared, "hedge");

/// One hedged call, made by `seawall_hedge_call_new`, owned by its caller
/// (not reference-counted). Its functions are lock-free and may be called
/// from the threads running its attempts; free it once, when no attempt
/// will report any more, with `seawall_hedge_call_free`.
pub struct seawall_hedge_call {
    _private: [u8; 0],
}

handle::declare!(seawall_hedge_call: HedgeCall<Arc<CHedge>>, Owned, "call");

/// How a hedge decides when to start extra attempts. Fill it with
/// `seawall_hedge_config_default` and change the fields you need.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct seawall_hedge_config {
    /// Extra attempts per call at most. 0..=15, default 1; 0 never hedges.
    pub max_hedges: u32,
    /// Latencies needed in the window before the quantile is used.
    /// 1..=1000000000, default 20.
    pub min_samples: u32,
    /// The delay, in nanoseconds, when `quantile` is 0 and while fewer
    /// than `min_samples` latencies were observed. At most one year;
    /// default 100 ms.
    pub delay_ns: u64,
    /// The quantile of recent latencies the delay is taken from, in (0, 1),
    /// or 0 for the fixed `delay_ns`. Default 0.95.
    pub quantile: f64,
    /// The shortest delay, in nanoseconds. At most `max_delay_ns`; default
    /// 1 ms.
    pub min_delay_ns: u64,
    /// The longest delay, in nanoseconds. At most one year; default 1 s.
    pub max_delay_ns: u64,
    /// The span of recent latencies the quantile reads, in nanoseconds.
    /// [10 ms, 1 year], default 10 s.
    pub window_ns: u64,
}

impl From<&HedgeConfig> for seawall_hedge_config {
    fn from(c: &HedgeConfig) -> Self {
        Self {
            max_hedges: c.max_hedges,
            min_samples: c.min_samples,
            delay_ns: nanos(c.delay),
            quantile: c.quantile.unwrap_or(0.0),
            min_delay_ns: nanos(c.min_delay),
            max_delay_ns: nanos(c.max_delay),
            window_ns: nanos(c.window),
        }
    }
}

impl CConfig for seawall_hedge_config {
    type Core = HedgeConfig;

    fn to_core(&self) -> Result<HedgeConfig, ConfigError> {
        Ok(HedgeConfig {
            max_hedges: self.max_hedges,
            delay: Duration::from_nanos(self.delay_ns),
            quantile: (self.quantile != 0.0).then_some(self.quantile),
            min_delay: Duration::from_nanos(self.min_delay_ns),
            max_delay: Duration::from_nanos(self.max_delay_ns),
            window: Duration::from_nanos(self.window_ns),
            min_samples: self.min_samples,
        })
    }
}

/// A hedge's counters.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct seawall_hedge_metrics {
    /// Calls started.
    pub calls: u64,
    /// Extra attempts started (each one granted by the budget).
    pub hedges: u64,
    /// Extra attempts the budget refused (none was started).
    pub refused: u64,
    /// Calls won by an extra attempt rather than the first.
    pub wins: u64,
}

/// What `seawall_hedge_call_may_hedge` decided.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum seawall_hedge_decision {
    /// Start extra attempt number `*out_value` (1 for the first) now: the
    /// budget granted it.
    Start = 0,
    /// The next extra attempt is due in `*out_value` nanoseconds: wait that
    /// long (or until an attempt ends) and ask again.
    Wait = 1,
    /// The budget refused the extra attempt: none was started, and the call
    /// makes no more.
    Refused = 2,
    /// No extra attempt will be started (not idempotent, `max_hedges` made,
    /// refused before, or decided).
    Done = 3,
    /// As `Refused`, and every attempt started has failed meanwhile
    /// (reported from another thread as `PENDING`): the call failed.
    AllFailed = 4,
}

/// What an attempt's end means for its call
/// (`seawall_hedge_call_record`).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum seawall_hedge_resolution {
    /// This attempt succeeded first: its result is the call's; cancel the
    /// others.
    Won = 0,
    /// The call was decided before: ignore this attempt's result.
    Lost = 1,
    /// This attempt failed while others may still succeed: wait on.
    Pending = 2,
    /// This attempt failed, and so did every other one started: its error
    /// is the call's.
    Failed = 3,
}

/// Fills `*out` with the default configuration (one extra attempt after
/// the 95th percentile of the last 10 s of latencies, 100 ms until 20 were
/// seen, clamped to [1 ms, 1 s]).
///
/// # Safety
///
/// `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_hedge_config_default(
    out: *mut seawall_hedge_config,
) -> seawall_result {
    const F: &str = "seawall_hedge_config_default";
    // SAFETY: `out` is NULL or valid for a write (this function's contract).
    unsafe { write_default::<HedgeConfig, _>(F, out) }
}

/// Creates a hedge from `*config` (NULL for the defaults) whose extra
/// attempts are drawn from `budget` (required; the hedge keeps its own
/// reference), and writes its handle to `*out`. `clock` is NULL for the
/// production clock or a manual clock (for tests; give the budget the same
/// one). Release it with `seawall_hedge_free`.
///
/// # Safety
///
/// `config` is NULL or valid; `budget` is NULL or a live handle; `clock` is
/// NULL or a live handle; `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_hedge_new(
    config: *const seawall_hedge_config,
    budget: *const seawall_retry_budget,
    clock: *const seawall_manual_clock,
    out: *mut *const seawall_hedge,
) -> seawall_result {
    const F: &str = "seawall_hedge_new";
    run(F, || {
        // SAFETY: `budget` is NULL or a live handle (this function's
        // contract).
        let budget = unsafe { handle::share(budget, F) }?;
        // SAFETY: `clock` is NULL or a live handle (this function's
        // contract).
        let clock = unsafe { clock_arg(clock, F) }?;
        // SAFETY: `config` is NULL or valid (this function's contract).
        let config = unsafe { config_arg(config, F) }?;
        let make = || {
            Hedge::with_clock(config, budget, clock)
                .map(Arc::new)
                .map_err(|e| config_error(F, &e))
        };
        // SAFETY: `out` is NULL or valid for a write (this function's
        // contract).
        unsafe { handle::new_handle(F, out, make) }
    })
}

/// Releases one hedge handle. `NULL` is a no-op.
///
/// # Safety
///
/// `hedge` is NULL or a live handle, which must not be used afterwards.
#[no_mangle]
pub unsafe extern "C" fn seawall_hedge_free(hedge: *const seawall_hedge) {
    // SAFETY: `hedge` is NULL or a live handle the caller gives up (this
    // function's contract).
    unsafe { handle::free_handle("seawall_hedge_free", hedge) }
}

/// Writes the delay, in nanoseconds, that a call starting now would wait
/// before its first extra attempt to `*out_delay_ns`.
///
/// # Safety
///
/// `hedge` is NULL or a live handle; `out_delay_ns` is NULL or valid for a
/// write.
#[no_mangle]
pub unsafe extern "C" fn seawall_hedge_delay(
    hedge: *const seawall_hedge,
    out_delay_ns: *mut u64,
) -> seawall_result {
    const F: &str = "seawall_hedge_delay";
    let f = |h: &CHedge| nanos(h.delay(h.now()));
    // SAFETY: `hedge` is NULL or a live handle, `out_delay_ns` NULL or
    // valid for a write (this function's contract).
    unsafe { handle::get(F, hedge, out_delay_ns, "out_delay_ns", f) }
}

/// Records a latency of `latency_ns` observed now, for the quantile (a
/// caller that drives attempts without `seawall_hedge_call_*`; the calls
/// record their own). Ignored with a fixed delay.
///
/// # Safety
///
/// `hedge` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn seawall_hedge_record_latency(
    hedge: *const seawall_hedge,
    latency_ns: u64,
) -> seawall_result {
    let f = |h: &CHedge| h.record_latency(h.now(), Duration::from_nanos(latency_ns));
    // SAFETY: `hedge` is NULL or a live handle (this function's contract).
    unsafe { handle::command("seawall_hedge_record_latency", hedge, f) }
}

/// Writes the hedge's counters to `*out`.
///
/// # Safety
///
/// `hedge` is NULL or a live handle; `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_hedge_get_metrics(
    hedge: *const seawall_hedge,
    out: *mut seawall_hedge_metrics,
) -> seawall_result {
    let f = |h: &CHedge| {
        let m = h.metrics();
        seawall_hedge_metrics {
            calls: m.calls,
            hedges: m.hedges,
            refused: m.refused,
            wins: m.wins,
        }
    };
    // SAFETY: `hedge` is NULL or a live handle, `out` NULL or valid for a
    // write (this function's contract).
    unsafe { handle::get("seawall_hedge_get_metrics", hedge, out, "out", f) }
}

/// Starts a call under `hedge` whose first attempt (number 0) starts now,
/// and writes it to `*out`. `idempotent`: whether it may be hedged at all
/// (false: no extra attempt, ever). `record_first`: count the first
/// attempt in the budget as a request (false when a retry loop sharing the
/// budget counted it already).
///
/// # Safety
///
/// `hedge` is NULL or a live handle; `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_hedge_call_new(
    hedge: *const seawall_hedge,
    idempotent: bool,
    record_first: bool,
    out: *mut *mut seawall_hedge_call,
) -> seawall_result {
    const F: &str = "seawall_hedge_call_new";
    run(F, || {
        // SAFETY: `hedge` is NULL or a live handle (this function's
        // contract).
        let hedge = unsafe { handle::share(hedge, F) }?;
        let make = || {
            let now = hedge.now();
            Ok(HedgeCall::new(hedge, now, idempotent, record_first))
        };
        // SAFETY: `out` is NULL or valid for a write (this function's
        // contract).
        unsafe { handle::new_owned(F, out, make) }
    })
}

/// Releases a call. `NULL` is a no-op.
///
/// # Safety
///
/// `call` is NULL or a live call, which must not be used afterwards.
#[no_mangle]
pub unsafe extern "C" fn seawall_hedge_call_free(call: *mut seawall_hedge_call) {
    // SAFETY: `call` is NULL or a live call the caller gives up (this
    // function's contract).
    unsafe { handle::free_owned("seawall_hedge_call_free", call) }
}

/// Writes the nanoseconds until the next extra attempt is due (0: now) to
/// `*out_delay_ns`, or `UINT64_MAX` when none will be started.
///
/// # Safety
///
/// `call` is NULL or a live call; `out_delay_ns` is NULL or valid for a
/// write.
#[no_mangle]
pub unsafe extern "C" fn seawall_hedge_call_next_delay(
    call: *const seawall_hedge_call,
    out_delay_ns: *mut u64,
) -> seawall_result {
    let f = |c: &HedgeCall<Arc<CHedge>>| c.next_delay(c.hedge().now()).map_or(u64::MAX, nanos);
    // SAFETY: `call` is NULL or a live call, `out_delay_ns` NULL or valid
    // for a write (this function's contract).
    unsafe {
        handle::get(
            "seawall_hedge_call_next_delay",
            call,
            out_delay_ns,
            "out_delay_ns",
            f,
        )
    }
}

/// Decides whether to start an extra attempt now; when one is due the
/// budget is asked (and counts it if granted). Writes the decision to
/// `*out_decision` and, for `START` the attempt's number, for `WAIT` the
/// nanoseconds to wait, to `*out_value` (0 otherwise).
///
/// # Safety
///
/// `call` is NULL or a live call; `out_decision` and `out_value` are NULL
/// or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_hedge_call_may_hedge(
    call: *const seawall_hedge_call,
    out_decision: *mut seawall_hedge_decision,
    out_value: *mut u64,
) -> seawall_result {
    const F: &str = "seawall_hedge_call_may_hedge";
    run(F, || {
        // SAFETY: `call` is NULL or a live call (this function's contract).
        let c = unsafe { handle::borrow(call, F) }?;
        crate::error::check(out_value, F, "out_value")?;
        let decide = || {
            Ok(match c.may_hedge(c.hedge().now()) {
                HedgeDecision::Start(n) => (seawall_hedge_decision::Start, u64::from(n)),
                HedgeDecision::Wait(d) => (seawall_hedge_decision::Wait, nanos(d)),
                HedgeDecision::Refused => (seawall_hedge_decision::Refused, 0),
                HedgeDecision::Done => (seawall_hedge_decision::Done, 0),
                HedgeDecision::AllFailed => (seawall_hedge_decision::AllFailed, 0),
            })
        };
        let mut value = 0;
        // SAFETY: `out_decision` is NULL or valid for a write (this
        // function's contract); `put` checks it before deciding.
        unsafe {
            put(out_decision, F, "out_decision", || {
                decide().map(|(d, v)| {
                    value = v;
                    d
                })
            })
        }?;
        // SAFETY: non-NULL and aligned (checked above); valid for a write
        // by this function's contract.
        unsafe { out_value.write(value) };
        Ok(())
    })
}

/// Reports that attempt `attempt` ended, well (`ok`) or not, and writes
/// what that means for the call to `*out_resolution`. An attempt never
/// started, or reported before, is `SEAWALL_RESULT_INVALID_ARGUMENT`.
///
/// # Safety
///
/// `call` is NULL or a live call; `out_resolution` is NULL or valid for a
/// write.
#[no_mangle]
pub unsafe extern "C" fn seawall_hedge_call_record(
    call: *const seawall_hedge_call,
    attempt: u32,
    ok: bool,
    out_resolution: *mut seawall_hedge_resolution,
) -> seawall_result {
    const F: &str = "seawall_hedge_call_record";
    run(F, || {
        // SAFETY: `call` is NULL or a live call (this function's contract).
        let c = unsafe { handle::borrow(call, F) }?;
        let record = || match c.record_attempt_result(attempt, c.hedge().now(), ok) {
            Resolution::Won => Ok(seawall_hedge_resolution::Won),
            Resolution::Lost => Ok(seawall_hedge_resolution::Lost),
            Resolution::Pending => Ok(seawall_hedge_resolution::Pending),
            Resolution::Failed => Ok(seawall_hedge_resolution::Failed),
            Resolution::Invalid => Err(Error::new(
                seawall_result::InvalidArgument,
                format!("{F}: attempt {attempt} was never started or was reported before"),
            )),
        };
        // SAFETY: `out_resolution` is NULL or valid for a write (this
        // function's contract); `put` checks it before recording.
        unsafe { put(out_resolution, F, "out_resolution", record) }
    })
}

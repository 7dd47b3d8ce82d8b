//! The breaker handle: creation, the permit protocol, commands, metrics and
//! transition callbacks.

use std::ffi::{c_char, c_void, CString};
use std::time::Duration;

use seawall::{Breaker, BreakerConfig, Metrics, Outcome, State, Ticket, Transition};

use crate::clock::{manual_clock, seawall_manual_clock, FfiClock};
use crate::config::{config_error, config_or_default, nanos, seawall_config, to_core};
use crate::error::{
    check, check_optional, fail, name_arg, run, run_code, run_value, seawall_result, write_text,
    Error, Written,
};
use crate::handle::{self, Handle, Shared};

/// The breaker type behind every handle.
pub(crate) type CBreaker = Breaker<FfiClock>;

/// A circuit breaker. Handles are reference-counted: each handle returned
/// by a `_new`, `_clone` or registry function is released once with
/// `seawall_breaker_free`, and the breaker lives until the last release.
/// Every function taking a `const seawall_breaker *` is thread-safe: any
/// number of threads may use one handle at once.
pub struct seawall_breaker {
    _private: [u8; 0],
}

impl Handle for seawall_breaker {
    type Inner = CBreaker;
    type Kind = Shared;
    const NAME: &'static str = "breaker";
}

/// A breaker state.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum seawall_state {
    /// Calls flow; outcomes are counted against the trip rules.
    Closed = 0,
    /// Calls are rejected until the open time has passed.
    Open = 1,
    /// A bounded number of trial calls decide whether to close or reopen.
    HalfOpen = 2,
    /// Opened by hand: every call is rejected until reset.
    ForcedOpen = 3,
    /// Closed by hand: every call is admitted and measured, nothing trips.
    ForcedClosed = 4,
}

impl From<State> for seawall_state {
    fn from(s: State) -> Self {
        match s {
            State::Closed => Self::Closed,
            State::Open => Self::Open,
            State::HalfOpen => Self::HalfOpen,
            State::ForcedOpen => Self::ForcedOpen,
            State::ForcedClosed => Self::ForcedClosed,
        }
    }
}

/// What a call's result counts as, for `seawall_breaker_report`.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum seawall_outcome {
    /// Counts toward closing and resets the consecutive-failure count.
    Success = 0,
    /// Counts toward opening.
    Failure = 1,
    /// Neutral: counted in the metrics only; frees a trial slot.
    Ignored = 2,
}

/// `seawall_permit.status` of a permit written by a successful acquire.
const ISSUED: u32 = 0x5EA7_0001;
/// `seawall_permit.status` after its one report.
const REPORTED: u32 = 0x5EA7_0002;

/// Permission to make one call, written by `seawall_breaker_try_acquire`
/// on success. Report it exactly once with `seawall_breaker_report_*` on the
/// breaker that issued it; the report marks it used, so reporting the same
/// struct again returns `SEAWALL_RESULT_PERMIT_ALREADY_REPORTED` (a copy of
/// the struct made before the first report cannot be told apart: do not copy
/// permits). An unreported permit holds a trial slot while the breaker is
/// HALF_OPEN until the trial batch expires. Treat the fields as opaque.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct seawall_permit {
    /// The number of the breaker's episode (state) that issued the permit:
    /// 64 bits, so a permit held across any number of state changes is
    /// reported as late, never mistaken for a current one.
    pub episode: u64,
    /// Issued or reported (internal magic numbers; 0 is "never issued").
    pub status: u32,
    /// The clock reading when the permit was issued (0 when slow-call
    /// timing is off).
    pub start: u64,
    /// The address of the breaker that issued it.
    pub owner: usize,
}

/// Why a call was rejected, written by `seawall_breaker_try_acquire` when it
/// returns `SEAWALL_RESULT_REJECTED`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct seawall_rejection {
    /// OPEN, HALF_OPEN (all trial slots taken) or FORCED_OPEN.
    pub state: seawall_state,
    /// True when the breaker is forced open: no trial until a reset.
    pub until_reset: bool,
    /// Nanoseconds until a trial call may be admitted; `UINT64_MAX` when
    /// `until_reset`.
    pub retry_after_ns: u64,
}

/// A snapshot of a breaker's books. Once the calls that produced it are
/// complete, `permitted == successes + failures + ignored + late` plus the
/// permits still outstanding.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct seawall_metrics {
    /// The state, as `seawall_breaker_state` reads it.
    pub state: seawall_state,
    /// Consecutive failures counted toward the trip (CLOSED only, else 0).
    pub consecutive_failures: u32,
    /// Trial successes counted toward closing (HALF_OPEN only, else 0).
    pub trial_successes: u32,
    /// Trial permits outstanding (HALF_OPEN only, else 0).
    pub trial_calls_in_flight: u32,
    /// Permits issued.
    pub permitted: u64,
    /// Successes reported in the episode that issued their permit.
    pub successes: u64,
    /// Failures reported in the episode that issued their permit.
    pub failures: u64,
    /// Neutral outcomes reported in the episode that issued their permit.
    pub ignored: u64,
    /// Outcomes of any kind that arrived after the episode that issued
    /// their permit had ended: counted here only, never toward a decision.
    pub late: u64,
    /// Calls rejected.
    pub rejected: u64,
    /// Successes and failures whose call lasted at least
    /// `slow_call_duration_ns`.
    pub slow_calls: u64,
    /// Whether a window is configured; the `window_*` counts are 0 if not.
    pub has_window: bool,
    /// Successful calls in the window.
    pub window_successes: u64,
    /// Failed calls in the window.
    pub window_failures: u64,
    /// Slow calls (successful or failed) in the window.
    pub window_slow_calls: u64,
    /// Neutral outcomes in the window.
    pub window_ignored: u64,
    /// Entries into CLOSED (trials succeeded, or a reset).
    pub to_closed: u64,
    /// Entries into OPEN (trips and failed trials).
    pub to_open: u64,
    /// Entries into HALF_OPEN.
    pub to_half_open: u64,
    /// Entries into FORCED_OPEN.
    pub to_forced_open: u64,
    /// Entries into FORCED_CLOSED.
    pub to_forced_closed: u64,
    /// Nanoseconds since the last transition (or since creation).
    pub time_in_state_ns: u64,
}

impl From<&Metrics> for seawall_metrics {
    fn from(m: &Metrics) -> Self {
        let w = m.window.unwrap_or_default();
        Self {
            state: m.state.into(),
            consecutive_failures: m.consecutive_failures,
            trial_successes: m.trial_successes,
            trial_calls_in_flight: m.trial_calls_in_flight,
            permitted: m.permitted,
            successes: m.successes,
            failures: m.failures,
            ignored: m.ignored,
            late: m.late,
            rejected: m.rejected,
            slow_calls: m.slow_calls,
            has_window: m.window.is_some(),
            window_successes: w.successes,
            window_failures: w.failures,
            window_slow_calls: w.slow_calls,
            window_ignored: w.ignored,
            to_closed: m.transitions.to_closed,
            to_open: m.transitions.to_open,
            to_half_open: m.transitions.to_half_open,
            to_forced_open: m.transitions.to_forced_open,
            to_forced_closed: m.transitions.to_forced_closed,
            time_in_state_ns: nanos(m.time_in_state),
        }
    }
}

/// Called once per transition, by the thread whose call caused it, after the
/// state changed and outside any lock. `breaker_name` is valid only during
/// the call. The callback must not unwind (C++ exceptions, longjmp) out of
/// itself; it may use the breaker.
pub type seawall_transition_callback = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        breaker_name: *const c_char,
        from: seawall_state,
        to: seawall_state,
        at_ns: u64,
    ),
>;

/// The configuration to build from: `*config`, or the defaults for NULL.
///
/// # Safety
///
/// `config` is NULL or points to a valid `seawall_config`.
pub(crate) unsafe fn config_arg(
    config: *const seawall_config,
    func: &'static str,
) -> Result<BreakerConfig, Error> {
    let convert = |c: &seawall_config| to_core(c).map_err(|e| config_error(func, &e));
    // SAFETY: the caller's contract.
    unsafe { config_or_default(config, func, convert) }
}

/// The body of both `_new`s: the name, then `out`, then the config.
///
/// # Safety
///
/// As `seawall_breaker_new`.
unsafe fn new_breaker(
    func: &'static str,
    name: *const c_char,
    config: *const seawall_config,
    clock: FfiClock,
    out: *mut *const seawall_breaker,
) -> Result<(), Error> {
    // SAFETY: `name` is NULL or NUL-terminated (the caller's contract).
    let name = unsafe { name_arg(name, func, "name") }?;
    let make = || {
        // SAFETY: `config` is NULL or valid (the caller's contract).
        let config = unsafe { config_arg(config, func) }?;
        Breaker::with_clock(name, config, clock).map_err(|e| config_error(func, &e))
    };
    // SAFETY: `out` is NULL or valid for a write (the caller's contract).
    unsafe { handle::new_handle(func, out, make) }
}

/// Creates a breaker called `name` (NUL-terminated UTF-8, copied) from
/// `*config` (NULL for the defaults) on the production clock and writes its
/// handle to `*out`. Release it with `seawall_breaker_free`.
///
/// # Safety
///
/// `name` is NULL or a NUL-terminated string; `config` is NULL or valid;
/// `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_breaker_new(
    name: *const c_char,
    config: *const seawall_config,
    out: *mut *const seawall_breaker,
) -> seawall_result {
    const F: &str = "seawall_breaker_new";
    // SAFETY: this function's contract is `new_breaker`'s.
    run(F, || unsafe {
        new_breaker(F, name, config, FfiClock::Quanta, out)
    })
}

/// As `seawall_breaker_new`, on a manual clock (for tests).
///
/// # Safety
///
/// As `seawall_breaker_new`; `clock` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn seawall_breaker_new_with_clock(
    name: *const c_char,
    config: *const seawall_config,
    clock: *const seawall_manual_clock,
    out: *mut *const seawall_breaker,
) -> seawall_result {
    const F: &str = "seawall_breaker_new_with_clock";
    run(F, || {
        // SAFETY: `clock` is NULL or a live handle (this function's
        // contract).
        let clock = unsafe { manual_clock(clock, F) }?;
        // SAFETY: the rest of this function's contract is `new_breaker`'s.
        unsafe { new_breaker(F, name, config, clock, out) }
    })
}

/// Writes a new handle to the same breaker to `*out` (the reference count
/// goes up by one); release it with `seawall_breaker_free`. The new handle
/// has the same address as `breaker`.
///
/// # Safety
///
/// `breaker` is NULL or a live handle; `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_breaker_clone(
    breaker: *const seawall_breaker,
    out: *mut *const seawall_breaker,
) -> seawall_result {
    // SAFETY: `breaker` is NULL or a live handle, `out` NULL or valid for a
    // write (this function's contract).
    unsafe { handle::clone_handle("seawall_breaker_clone", breaker, out) }
}

/// Releases one handle. The breaker is destroyed when its last handle (and
/// the registry, if it is in one) lets go. `NULL` is a no-op.
///
/// # Safety
///
/// `breaker` is NULL or a live handle, which must not be used afterwards.
#[no_mangle]
pub unsafe extern "C" fn seawall_breaker_free(breaker: *const seawall_breaker) {
    // SAFETY: `breaker` is NULL or a live handle the caller gives up (this
    // function's contract).
    unsafe { handle::free_handle("seawall_breaker_free", breaker) }
}

/// Copies the breaker's name into `buf` (NUL-terminated) and its length in
/// bytes into `*out_len` (if not NULL). Returns
/// `SEAWALL_RESULT_BUFFER_TOO_SMALL` with a truncated name when it does not
/// fit; `buf = NULL, len = 0` asks for the length only.
///
/// # Safety
///
/// `breaker` is NULL or a live handle; `buf` is NULL or valid for `len`
/// bytes; `out_len` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_breaker_name(
    breaker: *const seawall_breaker,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> seawall_result {
    const F: &str = "seawall_breaker_name";
    run(F, || {
        // SAFETY: `breaker` is NULL or a live handle (this function's
        // contract).
        let b = unsafe { handle::borrow(breaker, F) }?;
        let name = b.name();
        // SAFETY: `buf` is NULL or valid for `len` bytes, `out_len` NULL or
        // valid for a write (this function's contract).
        match unsafe { write_text(F, name, buf, len, out_len) }? {
            Written::All => Ok(()),
            Written::Truncated => Err(Error::new(
                seawall_result::BufferTooSmall,
                format!(
                    "{F}: `len` = {len} is less than the {} bytes of the name and its NUL",
                    name.len() + 1
                ),
            )),
        }
    })
}

/// Writes the configuration the breaker was built with to `*out`.
///
/// # Safety
///
/// `breaker` is NULL or a live handle; `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_breaker_config(
    breaker: *const seawall_breaker,
    out: *mut seawall_config,
) -> seawall_result {
    let f = |b: &CBreaker| b.config().into();
    // SAFETY: `breaker` is NULL or a live handle, `out` NULL or valid for a
    // write (this function's contract).
    unsafe { handle::get("seawall_breaker_config", breaker, out, "out", f) }
}

/// Asks for permission to make one call.
///
/// Returns `SEAWALL_RESULT_OK` and writes `*out_permit` when the call may
/// proceed: make it, then report its outcome with the permit. Returns
/// `SEAWALL_RESULT_REJECTED` and writes `*out_rejection` (if not NULL) when
/// it may not: do not make the call. Nothing is written on other results.
///
/// # Safety
///
/// `breaker` is NULL or a live handle; `out_permit` is NULL or valid for a
/// write; `out_rejection` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_breaker_try_acquire(
    breaker: *const seawall_breaker,
    out_permit: *mut seawall_permit,
    out_rejection: *mut seawall_rejection,
) -> seawall_result {
    const F: &str = "seawall_breaker_try_acquire";
    run_code(F, || {
        // SAFETY: `breaker` is NULL or a live handle (this function's
        // contract).
        let b = match unsafe { handle::borrow(breaker, F) } {
            Ok(b) => b,
            Err(e) => return fail(e),
        };
        // Checked before acquiring, so no permit is taken that could not be
        // handed out.
        if let Err(e) = check(out_permit, F, "out_permit") {
            return fail(e);
        }
        if let Err(e) = check_optional(out_rejection, F, "out_rejection") {
            return fail(e);
        }
        match b.try_acquire() {
            Ok(p) => {
                let (episode, start) = p.into_ticket().into_parts();
                let permit = seawall_permit {
                    episode,
                    status: ISSUED,
                    start,
                    owner: b as *const CBreaker as usize,
                };
                // SAFETY: checked non-NULL and aligned; valid by the
                // contract.
                unsafe { out_permit.write(permit) };
                seawall_result::Ok
            }
            // SAFETY: `out_rejection` is NULL or checked aligned, and valid
            // by the contract.
            Err(r) => unsafe { rejected(r, out_rejection) },
        }
    })
}

/// The rejection exit of `seawall_breaker_try_acquire`. A rejection is an
/// answer, not an error: it leaves the last error alone (and stays cheap).
///
/// # Safety
///
/// `out` is NULL or aligned and valid for a write.
#[inline(never)]
unsafe fn rejected(r: seawall::Rejected, out: *mut seawall_rejection) -> seawall_result {
    if !out.is_null() {
        let rejection = seawall_rejection {
            state: r.state.into(),
            until_reset: r.retry_after.is_none(),
            // UINT64_MAX is kept for "until reset".
            retry_after_ns: r
                .retry_after
                .map_or(u64::MAX, |d| nanos(d).min(u64::MAX - 1)),
        };
        // SAFETY: non-NULL; aligned and valid by the caller's contract.
        unsafe { out.write(rejection) };
    }
    seawall_result::Rejected
}

/// Reports `outcome` for the permit; `duration` overrides the call's
/// measured duration.
///
/// # Safety
///
/// `breaker` is NULL or a live handle; `permit` is NULL or valid for reads
/// and writes.
#[inline(always)]
unsafe fn report(
    func: &'static str,
    breaker: *const seawall_breaker,
    permit: *mut seawall_permit,
    outcome: Outcome,
    duration: Option<u64>,
) -> seawall_result {
    // SAFETY: `breaker` is NULL or a live handle (the caller's contract).
    let b = match unsafe { handle::borrow(breaker, func) } {
        Ok(b) => b,
        Err(e) => return fail(e),
    };
    if let Err(e) = check(permit, func, "permit") {
        return fail(e);
    }
    // SAFETY: checked non-NULL and aligned; valid and not otherwise
    // referenced during this call by the contract.
    let p = unsafe { &mut *permit };
    if p.status != ISSUED || p.owner != b as *const CBreaker as usize {
        return fail(permit_error(func, p.status));
    }
    p.status = REPORTED;
    let ticket = Ticket::from_parts(p.episode, p.start);
    match duration {
        None => b.record(ticket, outcome),
        Some(d) => b.record_elapsed(ticket, outcome, Duration::from_nanos(d)),
    }
    seawall_result::Ok
}

#[cold]
fn permit_error(func: &'static str, status: u32) -> Error {
    if status == ISSUED {
        Error::new(
            seawall_result::PermitWrongBreaker,
            format!("{func}: the permit was issued by another breaker"),
        )
    } else if status == REPORTED {
        Error::new(
            seawall_result::PermitAlreadyReported,
            format!("{func}: the permit was already reported"),
        )
    } else {
        Error::new(
            seawall_result::PermitNotIssued,
            format!("{func}: the permit was never issued (was the acquire successful?)"),
        )
    }
}

/// Reports that the call made under `*permit` succeeded, and marks the
/// permit reported.
///
/// # Safety
///
/// `breaker` is NULL or a live handle; `permit` is NULL or valid for reads
/// and writes.
#[no_mangle]
pub unsafe extern "C" fn seawall_breaker_report_success(
    breaker: *const seawall_breaker,
    permit: *mut seawall_permit,
) -> seawall_result {
    const F: &str = "seawall_breaker_report_success";
    // SAFETY: `breaker` is NULL or a live handle, `permit` NULL or valid
    // for reads and writes (this function's contract).
    run_code(F, || unsafe {
        report(F, breaker, permit, Outcome::Success, None)
    })
}

/// Reports that the call made under `*permit` failed, and marks the permit
/// reported.
///
/// # Safety
///
/// As `seawall_breaker_report_success`.
#[no_mangle]
pub unsafe extern "C" fn seawall_breaker_report_failure(
    breaker: *const seawall_breaker,
    permit: *mut seawall_permit,
) -> seawall_result {
    const F: &str = "seawall_breaker_report_failure";
    // SAFETY: `breaker` is NULL or a live handle, `permit` NULL or valid
    // for reads and writes (this function's contract).
    run_code(F, || unsafe {
        report(F, breaker, permit, Outcome::Failure, None)
    })
}

/// Reports the call made under `*permit` as neither success nor failure
/// (counted in the metrics only; frees a trial slot), and marks the permit
/// reported.
///
/// # Safety
///
/// As `seawall_breaker_report_success`.
#[no_mangle]
pub unsafe extern "C" fn seawall_breaker_report_ignored(
    breaker: *const seawall_breaker,
    permit: *mut seawall_permit,
) -> seawall_result {
    const F: &str = "seawall_breaker_report_ignored";
    // SAFETY: `breaker` is NULL or a live handle, `permit` NULL or valid
    // for reads and writes (this function's contract).
    run_code(F, || unsafe {
        report(F, breaker, permit, Outcome::Ignored, None)
    })
}

/// Reports `outcome` (one of `seawall_outcome`) for the call made under
/// `*permit`, which lasted `duration_ns` nanoseconds: the duration the
/// caller measured replaces the one the breaker would measure for the
/// slow-call count (`slow_call_duration_ns`). Marks the permit reported.
/// An unknown `outcome` returns `SEAWALL_RESULT_INVALID_ARGUMENT` and leaves
/// the permit unreported.
///
/// # Safety
///
/// As `seawall_breaker_report_success`.
#[no_mangle]
pub unsafe extern "C" fn seawall_breaker_report(
    breaker: *const seawall_breaker,
    permit: *mut seawall_permit,
    outcome: u32,
    duration_ns: u64,
) -> seawall_result {
    const F: &str = "seawall_breaker_report";
    run_code(F, || {
        let outcome = match outcome {
            o if o == seawall_outcome::Success as u32 => Outcome::Success,
            o if o == seawall_outcome::Failure as u32 => Outcome::Failure,
            o if o == seawall_outcome::Ignored as u32 => Outcome::Ignored,
            o => {
                return fail(Error::argument(
                    F,
                    "outcome",
                    o,
                    "one of SEAWALL_OUTCOME_SUCCESS (0), _FAILURE (1), _IGNORED (2)",
                ))
            }
        };
        // SAFETY: `breaker` is NULL or a live handle, `permit` NULL or valid
        // for reads and writes (this function's contract).
        unsafe { report(F, breaker, permit, outcome, Some(duration_ns)) }
    })
}

/// Writes the current state to `*out_state`. Exact at the moment of the
/// call: an OPEN breaker whose open time has passed reads HALF_OPEN.
///
/// # Safety
///
/// `breaker` is NULL or a live handle; `out_state` is NULL or valid for a
/// write.
#[no_mangle]
pub unsafe extern "C" fn seawall_breaker_state(
    breaker: *const seawall_breaker,
    out_state: *mut seawall_state,
) -> seawall_result {
    let f = |b: &CBreaker| b.state().into();
    // SAFETY: `breaker` is NULL or a live handle, `out_state` NULL or valid
    // for a write (this function's contract).
    unsafe { handle::get("seawall_breaker_state", breaker, out_state, "out_state", f) }
}

/// Opens the breaker until `seawall_breaker_reset` or
/// `seawall_breaker_force_closed`: every call is rejected.
///
/// # Safety
///
/// `breaker` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn seawall_breaker_force_open(
    breaker: *const seawall_breaker,
) -> seawall_result {
    // SAFETY: `breaker` is NULL or a live handle (this function's contract).
    unsafe { handle::command("seawall_breaker_force_open", breaker, CBreaker::force_open) }
}

/// Admits every call (still measured) until `seawall_breaker_reset` or
/// `seawall_breaker_force_open`.
///
/// # Safety
///
/// `breaker` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn seawall_breaker_force_closed(
    breaker: *const seawall_breaker,
) -> seawall_result {
    // SAFETY: `breaker` is NULL or a live handle (this function's contract).
    unsafe {
        handle::command(
            "seawall_breaker_force_closed",
            breaker,
            CBreaker::force_closed,
        )
    }
}

/// Returns to CLOSED with no failures counted and no back-off. Permits
/// issued before the reset can no longer change the state.
///
/// # Safety
///
/// `breaker` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn seawall_breaker_reset(breaker: *const seawall_breaker) -> seawall_result {
    // SAFETY: `breaker` is NULL or a live handle (this function's contract).
    unsafe { handle::command("seawall_breaker_reset", breaker, CBreaker::reset) }
}

/// Clears every counter of the metrics (not the state). Exact only while
/// no call is in progress.
///
/// # Safety
///
/// `breaker` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn seawall_breaker_clear_metrics(
    breaker: *const seawall_breaker,
) -> seawall_result {
    // SAFETY: `breaker` is NULL or a live handle (this function's contract).
    unsafe {
        handle::command(
            "seawall_breaker_clear_metrics",
            breaker,
            CBreaker::clear_metrics,
        )
    }
}

/// Writes a snapshot of the breaker's metrics to `*out`.
///
/// # Safety
///
/// `breaker` is NULL or a live handle; `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_breaker_metrics(
    breaker: *const seawall_breaker,
    out: *mut seawall_metrics,
) -> seawall_result {
    let f = |b: &CBreaker| (&b.metrics()).into();
    // SAFETY: `breaker` is NULL or a live handle, `out` NULL or valid for a
    // write (this function's contract).
    unsafe { handle::get("seawall_breaker_metrics", breaker, out, "out", f) }
}

/// A C callback and its user data, as a core listener.
struct CListener {
    callback: unsafe extern "C" fn(*mut c_void, *const c_char, seawall_state, seawall_state, u64),
    user_data: *mut c_void,
    name: CString,
}

// SAFETY: the listener only hands `user_data` back to the callback; the
// header requires both to be usable from any thread that drives the
// breaker.
unsafe impl Send for CListener {}
// SAFETY: as for `Send`: nothing in the struct is touched except by passing
// it to the callback, which the caller made thread-safe.
unsafe impl Sync for CListener {}

impl seawall::Listener for CListener {
    fn on_transition(&self, _breaker: &str, t: Transition) {
        // SAFETY: `callback` is a non-NULL function pointer the caller
        // registered with this `user_data` and promised is callable from any
        // thread; `name` is NUL-terminated and outlives the call.
        unsafe {
            (self.callback)(
                self.user_data,
                self.name.as_ptr(),
                t.from.into(),
                t.to.into(),
                t.at_nanos,
            )
        }
    }
}

/// Registers `callback` to be called with `user_data` once for every later
/// transition of the breaker. It runs on the thread whose call made the
/// transition (any thread using the breaker, including inside
/// `seawall_breaker_try_acquire` and the report functions), after the
/// change and outside any lock, so it may use the breaker. It cannot be
/// unregistered: `user_data` must stay valid as long as the breaker lives.
/// `at_ns` is the breaker clock's reading (the manual clock's time, or
/// nanoseconds since the process first read the production clock).
///
/// # Safety
///
/// `breaker` is NULL or a live handle; `callback` and `user_data` must be
/// safe to use from any thread for the breaker's lifetime.
#[no_mangle]
pub unsafe extern "C" fn seawall_breaker_add_listener(
    breaker: *const seawall_breaker,
    callback: seawall_transition_callback,
    user_data: *mut c_void,
) -> seawall_result {
    const F: &str = "seawall_breaker_add_listener";
    run(F, || {
        // SAFETY: `breaker` is NULL or a live handle (this function's
        // contract).
        let b = unsafe { handle::borrow(breaker, F) }?;
        let Some(callback) = callback else {
            return Err(Error::null(F, "callback"));
        };
        // Names come from C strings, so they hold no NUL.
        let name = CString::new(b.name()).unwrap_or_default();
        b.add_listener(CListener {
            callback,
            user_data,
            name,
        });
        Ok(())
    })
}

/// The upper-case name of a state (`"CLOSED"`, `"HALF_OPEN"`, ...), a
/// static string; `"UNKNOWN"` for a number that is not a state.
#[no_mangle]
pub extern "C" fn seawall_state_name(state: u32) -> *const c_char {
    run_value("seawall_state_name", c"UNKNOWN".as_ptr(), || {
        match state {
            0 => c"CLOSED",
            1 => c"OPEN",
            2 => c"HALF_OPEN",
            3 => c"FORCED_OPEN",
            4 => c"FORCED_CLOSED",
            _ => c"UNKNOWN",
        }
        .as_ptr()
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn state_numbers_match_names() {
        for s in [
            State::Closed,
            State::Open,
            State::HalfOpen,
            State::ForcedOpen,
            State::ForcedClosed,
        ] {
            let n = seawall_state::from(s) as u32;
            // SAFETY: seawall_state_name returns a static C string.
            let name = unsafe { std::ffi::CStr::from_ptr(seawall_state_name(n)) };
            assert_eq!(name.to_str().unwrap(), s.as_str());
        }
    }

    #[test]
    fn duration_override_counts_slow_calls_from_time_zero() {
        let clock = seawall::ManualClock::new();
        let config = BreakerConfig {
            slow_call_duration: Some(Duration::from_secs(2)),
            ..Default::default()
        };
        let b = Arc::new(Breaker::with_clock("x", config, FfiClock::Manual(clock)).unwrap());
        let h: *const seawall_breaker = handle::into_raw(Arc::clone(&b));
        let mut p = std::mem::MaybeUninit::<seawall_permit>::uninit();
        // SAFETY: `h` is live; `p` is valid for a write.
        let r = unsafe { seawall_breaker_try_acquire(h, p.as_mut_ptr(), std::ptr::null_mut()) };
        assert_eq!(r, seawall_result::Ok);
        // SAFETY: the acquire succeeded, so it wrote the permit.
        let mut p = unsafe { p.assume_init() };
        // SAFETY: as above.
        let r = unsafe { seawall_breaker_report(h, &mut p, 0, 3_000_000_000) };
        assert_eq!(r, seawall_result::Ok);
        assert_eq!(b.metrics().slow_calls, 1);
        // SAFETY: releases the handle made above.
        unsafe { seawall_breaker_free(h) };
        assert_eq!(Arc::strong_count(&b), 1);
    }
}

//! The permit protocol: `seawall_breaker_try_acquire` writes a permit (or
//! a rejection), and one report per permit gives the call's outcome. The
//! distributed breaker's permits (`crate::distributed`) are the same struct
//! with the same status words.

use std::time::Duration;

use crate::config::nanos;
use seawall::{Outcome, Ticket};
use seawall_bindings_support::names;

use super::{seawall_breaker, seawall_state, CBreaker};
use crate::error::{
    check, check_optional, fail, misalignment, run_code, run_split, seawall_result, Error,
};
use crate::handle;

/// The names of the functions split into an inline common case and an
/// out-of-line body (`acquire`, `report_success`), for their messages.
const ACQUIRE: &str = "seawall_breaker_try_acquire";
const REPORT_SUCCESS: &str = "seawall_breaker_report_success";

/// `seawall_permit.status` of a permit written by a successful acquire.
pub(crate) const ISSUED: u32 = 0x5EA7_0001;
/// `seawall_permit.status` after its one report.
pub(crate) const REPORTED: u32 = 0x5EA7_0002;
/// `seawall_permit.status` of a distributed breaker's permit that holds one
/// of the fleet's trial permits (its generation tag in `trial`).
pub(crate) const ISSUED_TRIAL: u32 = 0x5EA7_0003;

/// Permission to make one call, written by `seawall_breaker_try_acquire`
/// on success. Report it exactly once with `seawall_breaker_report_*` on the
/// breaker that issued it; the report marks it used, so reporting the same
/// struct again returns `SEAWALL_RESULT_PERMIT_ALREADY_REPORTED` (a copy of
/// the struct made before the first report cannot be told apart: do not copy
/// permits). An unreported permit holds a trial slot while the breaker is
/// HALF_OPEN until the trial batch expires. Treat the fields as opaque.
/// A distributed breaker (`seawall_distributed_breaker_try_acquire`) writes
/// the same struct, reported with its own `seawall_distributed_breaker_report_*`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct seawall_permit {
    /// The number of the breaker's episode (state) that issued the permit:
    /// 64 bits, so a permit held across any number of state changes is
    /// reported as late, never mistaken for a current one.
    pub episode: u64,
    /// Issued or reported (internal magic numbers; 0 is "never issued").
    pub status: u32,
    /// The generation tag of the fleet trial permit a distributed breaker's
    /// permit holds (0 otherwise).
    pub trial: u32,
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
    // The core's first test alone (`Breaker::try_acquire_at_once`: the
    // CLOSED admission, the steady OPEN rejection); every other case starts
    // over in `acquire`, which runs the whole of `Breaker::try_acquire`.
    let fast = || {
        if breaker.is_null()
            || out_permit.is_null()
            || (handle::misalignment(breaker)
                | misalignment(out_permit)
                | misalignment(out_rejection))
                != 0
        {
            return None;
        }
        // SAFETY: non-NULL and aligned (checked), and a live handle by this
        // function's contract.
        let b: &CBreaker = unsafe { handle::lend(breaker) };
        Some(match b.try_acquire_at_once()? {
            Ok(p) => {
                // SAFETY: checked non-NULL and aligned; valid by the
                // contract.
                unsafe { out_permit.write(issued(b, p.into_ticket())) };
                seawall_result::Ok
            }
            Err(r) => {
                if !out_rejection.is_null() {
                    // SAFETY: non-NULL and checked aligned; valid by the
                    // contract.
                    unsafe { out_rejection.write(rejection(r)) };
                }
                seawall_result::Rejected
            }
        })
    };
    // SAFETY: this function's contract.
    let slow = || unsafe { acquire(breaker, out_permit, out_rejection) };
    run_split(ACQUIRE, fast, slow)
}

/// The body of `seawall_breaker_try_acquire`, out of line. `extern "C"`
/// (which cannot unwind: it aborts instead, and its own catcher stops
/// every panic first) so that the exported function can jump to it as a
/// tail call: a call that may unwind out of an `extern "C"` function
/// carries the abort guard's landing pad, and cannot be one.
///
/// # Safety
///
/// As `seawall_breaker_try_acquire`.
#[cold]
#[inline(never)]
unsafe extern "C" fn acquire(
    breaker: *const seawall_breaker,
    out_permit: *mut seawall_permit,
    out_rejection: *mut seawall_rejection,
) -> seawall_result {
    const F: &str = ACQUIRE;
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
                // SAFETY: checked non-NULL and aligned; valid by the
                // contract.
                unsafe { out_permit.write(issued(b, p.into_ticket())) };
                seawall_result::Ok
            }
            // SAFETY: `out_rejection` is NULL or checked aligned, and valid
            // by the contract.
            Err(r) => unsafe { rejected(r, out_rejection) },
        }
    })
}

/// The permit `b` issued as `ticket`.
#[inline(always)]
fn issued(b: &CBreaker, ticket: Ticket) -> seawall_permit {
    let (episode, start) = ticket.into_parts();
    seawall_permit {
        episode,
        status: ISSUED,
        trial: 0,
        start,
        owner: b as *const CBreaker as usize,
    }
}

/// The rejection exit of the `_try_acquire`s. A rejection is an answer,
/// not an error: it leaves the last error alone (and stays cheap).
///
/// # Safety
///
/// `out` is NULL or aligned and valid for a write.
#[inline(never)]
pub(crate) unsafe fn rejected(r: seawall::Rejected, out: *mut seawall_rejection) -> seawall_result {
    if !out.is_null() {
        // SAFETY: non-NULL; aligned and valid by the caller's contract.
        unsafe { out.write(rejection(r)) };
    }
    seawall_result::Rejected
}

/// What `seawall_rejection` says of `r`.
#[inline(always)]
fn rejection(r: seawall::Rejected) -> seawall_rejection {
    seawall_rejection {
        state: r.state.into(),
        until_reset: r.retry_after.is_none(),
        // UINT64_MAX is kept for "until reset".
        retry_after_ns: r
            .retry_after
            .map_or(u64::MAX, |d| nanos(d).min(u64::MAX - 1)),
    }
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

/// The body of the reports of one outcome, measured by the breaker. A
/// macro, not a function: each report then gets a closure of its own, which
/// the compiler inlines with its outcome as a constant (one function shared
/// by the three reports stayed out of line: 38 more instructions per call).
///
/// The caller's contract is [`report`]'s.
macro_rules! report_now {
    ($func:expr, $breaker:expr, $permit:expr, $outcome:expr) => {
        // SAFETY: the exported function's contract, which is `report`'s.
        run_code($func, || unsafe {
            report($func, $breaker, $permit, $outcome, None)
        })
    };
}

/// Why a permit with status word `status` was refused by a report on a
/// breaker whose own permit it is not, or no longer.
#[cold]
pub(crate) fn permit_error(func: &'static str, status: u32) -> Error {
    if status == ISSUED || status == ISSUED_TRIAL {
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

/// The `outcome` argument of the `_report`s: a `seawall_outcome`, passed
/// as a number so that an unknown one is an error.
pub(crate) fn outcome_arg(func: &'static str, outcome: u32) -> Result<Outcome, Error> {
    names::outcome_of(outcome).ok_or_else(|| {
        Error::argument(
            func,
            "outcome",
            outcome,
            "one of SEAWALL_OUTCOME_SUCCESS (0), _FAILURE (1), _IGNORED (2)",
        )
    })
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
    // The core's first test alone (`Breaker::record_at_once`) on a permit
    // this breaker issued; every other case starts over in
    // `report_success`, which runs the whole of `Breaker::record`.
    let fast = || {
        if breaker.is_null()
            || permit.is_null()
            || (handle::misalignment(breaker) | misalignment(permit)) != 0
        {
            return None;
        }
        // SAFETY: checked non-NULL and aligned; valid for reads and writes
        // and not otherwise referenced during this call by the contract.
        let p = unsafe { &mut *permit };
        if p.status != ISSUED || p.owner != breaker as usize {
            return None;
        }
        // SAFETY: non-NULL and aligned (checked), and a live handle by this
        // function's contract.
        let b: &CBreaker = unsafe { handle::lend(breaker) };
        if !b.record_at_once(Ticket::from_parts(p.episode, p.start), Outcome::Success) {
            return None;
        }
        p.status = REPORTED;
        Some(seawall_result::Ok)
    };
    // SAFETY: this function's contract.
    let slow = || unsafe { report_success(breaker, permit) };
    run_split(REPORT_SUCCESS, fast, slow)
}

/// The body of `seawall_breaker_report_success`, out of line; `extern
/// "C"` for the reason `acquire` is.
///
/// # Safety
///
/// As `seawall_breaker_report_success`.
#[cold]
#[inline(never)]
unsafe extern "C" fn report_success(
    breaker: *const seawall_breaker,
    permit: *mut seawall_permit,
) -> seawall_result {
    // SAFETY: the caller's contract, which is `report`'s.
    report_now!(REPORT_SUCCESS, breaker, permit, Outcome::Success)
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
    report_now!(F, breaker, permit, Outcome::Failure)
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
    report_now!(F, breaker, permit, Outcome::Ignored)
}

/// Reports `outcome` (a `seawall_outcome`, passed as a number so that an
/// out-of-range value is an error, not undefined behaviour) for the call made under
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
        let outcome = match outcome_arg(F, outcome) {
            Ok(o) => o,
            Err(e) => return fail(e),
        };
        // SAFETY: `breaker` is NULL or a live handle, `permit` NULL or valid
        // for reads and writes (this function's contract).
        unsafe { report(F, breaker, permit, outcome, Some(duration_ns)) }
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use seawall::{Breaker, BreakerConfig};
    use seawall_bindings_support::DynClock;

    use super::super::seawall_breaker_free;
    use super::*;

    #[test]
    fn a_distributed_breakers_trial_permit_is_another_breakers() {
        let e = permit_error("f", ISSUED_TRIAL);
        assert_eq!(e.code, seawall_result::PermitWrongBreaker);
        assert_eq!(permit_error("f", 0).code, seawall_result::PermitNotIssued);
    }

    #[test]
    fn duration_override_counts_slow_calls_from_time_zero() {
        let clock = seawall::ManualClock::new();
        let config = BreakerConfig {
            slow_call_duration: Some(Duration::from_secs(2)),
            ..Default::default()
        };
        let b = Arc::new(Breaker::with_clock("x", config, DynClock::Manual(clock)).unwrap());
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

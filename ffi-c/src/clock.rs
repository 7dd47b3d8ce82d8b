//! The manual clock C tests use to move time without sleeping, and the
//! clock arguments of the engines' `_new` functions (the clock itself,
//! `DynClock`, is the bindings' shared one).

use std::time::Duration;

use seawall::{Clock, ConfigError, ManualClock, Timing};
use seawall_bindings_support::DynClock;

use crate::config::{mirror_enum, unknown_enum};
use crate::error::{run, seawall_result, Error};
use crate::handle;

/// Which clock reading an engine decides or measures on (the `timing`
/// field of `seawall_rate_limit_config` and
/// `seawall_adaptive_limiter_config`; each says what the lag changes).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum seawall_timing {
    /// The exact clock reading (the default).
    Exact = 0,
    /// The cheap "recent" reading, one shared load that lags by up to 1 ms.
    Recent = 1,
}

mirror_enum!(Timing => seawall_timing { Exact, Recent });

/// The timing a config struct's `timing` field names.
pub(crate) fn timing_of(value: u32) -> Result<Timing, ConfigError> {
    match value {
        v if v == seawall_timing::Exact as u32 => Ok(Timing::Exact),
        v if v == seawall_timing::Recent as u32 => Ok(Timing::Recent),
        v => Err(unknown_enum(
            "timing",
            v,
            "SEAWALL_TIMING_EXACT (0) or SEAWALL_TIMING_RECENT (1)",
        )),
    }
}

/// A clock that moves only when told to: for tests of code that uses
/// breakers. Breakers and registries made with it read its time; freeing the
/// handle does not stop them from doing so.
pub struct seawall_manual_clock {
    _private: [u8; 0],
}

handle::declare!(seawall_manual_clock: ManualClock, Shared, "clock");

/// The clock of a `_with_clock` function, which requires one.
///
/// # Safety
///
/// `clock` is NULL or a live handle.
pub(crate) unsafe fn manual_clock(
    clock: *const seawall_manual_clock,
    func: &'static str,
) -> Result<DynClock, Error> {
    // SAFETY: `clock` is NULL or a live handle (the caller's contract).
    let c = unsafe { handle::borrow(clock, func) }?;
    Ok(DynClock::Manual(c.clone()))
}

/// The clock an engine's `_new` function was given: NULL for the production
/// clock, else the manual clock behind the handle.
///
/// # Safety
///
/// `clock` is NULL or a live handle.
pub(crate) unsafe fn clock_arg(
    clock: *const seawall_manual_clock,
    func: &'static str,
) -> Result<DynClock, Error> {
    if clock.is_null() {
        return Ok(DynClock::Quanta);
    }
    // SAFETY: `clock` is a live handle (the caller's contract; not NULL
    // here).
    unsafe { manual_clock(clock, func) }
}

/// Creates a manual clock reading 0 ns and writes its handle to `*out`.
/// Release it with `seawall_manual_clock_free`.
///
/// # Safety
///
/// `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_manual_clock_new(
    out: *mut *const seawall_manual_clock,
) -> seawall_result {
    const F: &str = "seawall_manual_clock_new";
    // SAFETY: `out` is NULL or valid for a write (this function's contract).
    run(F, || unsafe {
        handle::new_handle(F, out, || Ok(ManualClock::new()))
    })
}

/// Releases a manual clock handle. `NULL` is a no-op.
///
/// # Safety
///
/// `clock` is NULL or a live handle, which must not be used afterwards.
#[no_mangle]
pub unsafe extern "C" fn seawall_manual_clock_free(clock: *const seawall_manual_clock) {
    // SAFETY: `clock` is NULL or a live handle the caller gives up (this
    // function's contract).
    unsafe { handle::free_handle("seawall_manual_clock_free", clock) }
}

/// Moves the clock forward by `nanos` nanoseconds (saturating).
///
/// # Safety
///
/// `clock` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn seawall_manual_clock_advance(
    clock: *const seawall_manual_clock,
    nanos: u64,
) -> seawall_result {
    let f = |c: &ManualClock| c.advance(Duration::from_nanos(nanos));
    // SAFETY: `clock` is NULL or a live handle (this function's contract).
    unsafe { handle::command("seawall_manual_clock_advance", clock, f) }
}

/// Sets the clock to `nanos`, backwards as well as forwards.
///
/// # Safety
///
/// `clock` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn seawall_manual_clock_set(
    clock: *const seawall_manual_clock,
    nanos: u64,
) -> seawall_result {
    let f = |c: &ManualClock| c.set(nanos);
    // SAFETY: `clock` is NULL or a live handle (this function's contract).
    unsafe { handle::command("seawall_manual_clock_set", clock, f) }
}

/// Writes the clock's current reading, in nanoseconds, to `*out_nanos`.
///
/// # Safety
///
/// `clock` is NULL or a live handle; `out_nanos` is NULL or valid for a
/// write.
#[no_mangle]
pub unsafe extern "C" fn seawall_manual_clock_now(
    clock: *const seawall_manual_clock,
    out_nanos: *mut u64,
) -> seawall_result {
    const F: &str = "seawall_manual_clock_now";
    // SAFETY: `clock` is NULL or a live handle, `out_nanos` NULL or valid
    // for a write (this function's contract).
    unsafe { handle::get(F, clock, out_nanos, "out_nanos", ManualClock::now) }
}

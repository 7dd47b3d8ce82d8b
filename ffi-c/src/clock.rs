//! The clock of every breaker made through the C ABI, and the manual clock
//! C tests use to move time without sleeping.

use std::sync::Arc;

use seawall::clock::EventCount;
use seawall::{Clock, ManualClock, QuantaClock};

use crate::error::{borrow, run, run_value, seawall_result, Error};

/// The production clock, or a manual clock shared with C.
#[derive(Clone, Debug)]
pub(crate) enum FfiClock {
    Quanta,
    Manual(ManualClock),
}

impl Clock for FfiClock {
    #[inline]
    fn now(&self) -> u64 {
        match self {
            FfiClock::Quanta => QuantaClock.now(),
            FfiClock::Manual(m) => m.now(),
        }
    }

    #[inline]
    fn recent(&self) -> u64 {
        match self {
            FfiClock::Quanta => QuantaClock.recent(),
            FfiClock::Manual(m) => m.recent(),
        }
    }

    /// The manual clock's: its moves wake the waits on it.
    #[inline]
    fn moves(&self) -> Option<&EventCount> {
        match self {
            FfiClock::Quanta => None,
            FfiClock::Manual(m) => m.moves(),
        }
    }
}

/// A clock that moves only when told to: for tests of code that uses
/// breakers. Breakers and registries made with it read its time; freeing the
/// handle does not stop them from doing so.
pub struct seawall_manual_clock {
    _private: [u8; 0],
}

fn to_raw(c: Arc<ManualClock>) -> *const seawall_manual_clock {
    Arc::into_raw(c).cast()
}

/// Borrows the clock behind a handle.
///
/// # Safety
///
/// `clock` is NULL or a live handle from `seawall_manual_clock_new`.
pub(crate) unsafe fn manual_clock<'a>(
    clock: *const seawall_manual_clock,
    func: &'static str,
) -> Result<&'a ManualClock, Error> {
    // SAFETY: a live handle is a pointer from `Arc::into_raw` of a
    // `ManualClock`, valid while the handle is (the caller's contract).
    unsafe { borrow(clock.cast::<ManualClock>(), func, "clock") }
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
) -> Result<FfiClock, Error> {
    if clock.is_null() {
        return Ok(FfiClock::Quanta);
    }
    // SAFETY: forwarded contract; non-NULL here.
    Ok(FfiClock::Manual(
        unsafe { manual_clock(clock, func) }?.clone(),
    ))
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
    run(F, || {
        crate::error::check(out, F, "out")?;
        let c = to_raw(Arc::new(ManualClock::new()));
        // SAFETY: `out` is non-NULL and aligned (checked), valid for a
        // write by the contract.
        unsafe { out.write(c) };
        Ok(())
    })
}

/// Releases a manual clock handle. `NULL` is a no-op.
///
/// # Safety
///
/// `clock` is NULL or a live handle, which must not be used afterwards.
#[no_mangle]
pub unsafe extern "C" fn seawall_manual_clock_free(clock: *const seawall_manual_clock) {
    run_value("seawall_manual_clock_free", (), || {
        if clock.is_null() {
            return;
        }
        // SAFETY: a live handle came from `Arc::into_raw` in
        // `seawall_manual_clock_new`; the caller gives up this reference.
        drop(unsafe { Arc::from_raw(clock.cast::<ManualClock>()) });
    })
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
    const F: &str = "seawall_manual_clock_advance";
    run(F, || {
        // SAFETY: forwarded contract.
        let c = unsafe { manual_clock(clock, F) }?;
        c.advance(std::time::Duration::from_nanos(nanos));
        Ok(())
    })
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
    const F: &str = "seawall_manual_clock_set";
    run(F, || {
        // SAFETY: forwarded contract.
        let c = unsafe { manual_clock(clock, F) }?;
        c.set(nanos);
        Ok(())
    })
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
    run(F, || {
        // SAFETY: forwarded contract.
        let c = unsafe { manual_clock(clock, F) }?;
        crate::error::check(out_nanos, F, "out_nanos")?;
        // SAFETY: non-NULL and aligned (checked), valid by the contract.
        unsafe { out_nanos.write(c.now()) };
        Ok(())
    })
}

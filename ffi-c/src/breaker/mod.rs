//! The breaker handle: creation, configuration, state and commands. The
//! permit protocol is in `permit.rs`, the state and outcome numbers in
//! `state.rs`, metrics in `metrics.rs`, transition callbacks in
//! `listener.rs`.

mod listener;
mod metrics;
pub(crate) mod permit;
mod state;

use std::ffi::c_char;

use seawall::{Breaker, Random, SeededRandom, ThreadRandom};
use seawall_bindings_support::DynClock;

use crate::clock::{clock_arg, manual_clock, seawall_manual_clock};
use crate::config::{new_configured, seawall_breaker_config};
use crate::error::{name_arg, run, seawall_result, text_out, Error};
use crate::handle;

pub use listener::{seawall_breaker_add_listener, seawall_transition_callback};
pub use metrics::{seawall_breaker_metrics, seawall_metrics};
pub use permit::{
    seawall_breaker_report, seawall_breaker_report_failure, seawall_breaker_report_ignored,
    seawall_breaker_report_success, seawall_breaker_try_acquire, seawall_permit, seawall_rejection,
};
pub use state::{seawall_outcome, seawall_state, seawall_state_name};

/// The breaker type behind every handle.
pub(crate) type CBreaker = Breaker<DynClock>;

/// A circuit breaker. Handles are reference-counted: each handle returned
/// by a `_new`, `_clone` or registry function is released once with
/// `seawall_breaker_free`, and the breaker lives until the last release.
/// Every function taking a `const seawall_breaker *` is thread-safe: any
/// number of threads may use one handle at once.
pub struct seawall_breaker {
    _private: [u8; 0],
}

handle::declare!(seawall_breaker: CBreaker, Shared, "breaker");

/// The body of the `_new`s: the name, then `out`, then the config.
///
/// # Safety
///
/// `name` is NULL or a NUL-terminated string; `config` is NULL or valid;
/// `out` is NULL or valid for a write.
unsafe fn new_breaker(
    func: &'static str,
    name: *const c_char,
    config: *const seawall_breaker_config,
    clock: DynClock,
    random: impl Random + 'static,
    out: *mut *const seawall_breaker,
) -> Result<(), Error> {
    // SAFETY: `name` is NULL or NUL-terminated (the caller's contract).
    let name = unsafe { name_arg(name, func, "name") }?;
    let build = |config| Breaker::with_clock_and_random(name, config, clock, random);
    // SAFETY: `config` is NULL or valid, `out` NULL or valid for a write
    // (the caller's contract).
    unsafe { new_configured(func, config, out, build) }
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
    config: *const seawall_breaker_config,
    out: *mut *const seawall_breaker,
) -> seawall_result {
    const F: &str = "seawall_breaker_new";
    // SAFETY: `name` is NULL or NUL-terminated, `config` NULL or valid, `out`
    // NULL or valid for a write (this function's contract, `new_breaker`'s).
    run(F, || unsafe {
        new_breaker(F, name, config, DynClock::Quanta, ThreadRandom, out)
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
    config: *const seawall_breaker_config,
    clock: *const seawall_manual_clock,
    out: *mut *const seawall_breaker,
) -> seawall_result {
    const F: &str = "seawall_breaker_new_with_clock";
    run(F, || {
        // SAFETY: `clock` is NULL or a live handle (this function's
        // contract).
        let clock = unsafe { manual_clock(clock, F) }?;
        // SAFETY: `name` is NULL or NUL-terminated, `config` NULL or valid,
        // `out` NULL or valid for a write (this function's contract).
        unsafe { new_breaker(F, name, config, clock, ThreadRandom, out) }
    })
}

/// As `seawall_breaker_new`, with the open-time jitter (`timeout_jitter`)
/// drawn from a generator seeded with `seed` (every value is a seed, 0
/// included; the other constructors draw unseeded thread-local numbers):
/// two breakers made with the same config and seed and driven alike on
/// manual clocks open for the same jittered durations, from run to run.
/// `clock` is NULL for the production clock or a manual clock.
///
/// # Safety
///
/// As `seawall_breaker_new`; `clock` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn seawall_breaker_new_seeded(
    name: *const c_char,
    config: *const seawall_breaker_config,
    clock: *const seawall_manual_clock,
    seed: u64,
    out: *mut *const seawall_breaker,
) -> seawall_result {
    const F: &str = "seawall_breaker_new_seeded";
    run(F, || {
        // SAFETY: `clock` is NULL or a live handle (this function's
        // contract).
        let clock = unsafe { clock_arg(clock, F) }?;
        let random = SeededRandom::new(seed);
        // SAFETY: `name` is NULL or NUL-terminated, `config` NULL or valid,
        // `out` NULL or valid for a write (this function's contract).
        unsafe { new_breaker(F, name, config, clock, random, out) }
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
        // SAFETY: `buf` is NULL or valid for `len` bytes, `out_len` NULL or
        // valid for a write (this function's contract).
        unsafe { text_out(F, "name", b.name(), buf, len, out_len) }
    })
}

/// Writes the configuration the breaker was built with to `*out`.
///
/// # Safety
///
/// `breaker` is NULL or a live handle; `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_breaker_get_config(
    breaker: *const seawall_breaker,
    out: *mut seawall_breaker_config,
) -> seawall_result {
    let f = |b: &CBreaker| b.config().into();
    // SAFETY: `breaker` is NULL or a live handle, `out` NULL or valid for a
    // write (this function's contract).
    unsafe { handle::get("seawall_breaker_get_config", breaker, out, "out", f) }
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

//! The registry handle: named breakers shared across a program.

use std::ffi::{c_char, c_int, c_void, CString};
use std::sync::Arc;

use seawall::Registry;
use seawall_bindings_support::DynClock;

use crate::breaker::{seawall_breaker, CBreaker};
use crate::clock::{manual_clock, seawall_manual_clock};
use crate::config::{config_arg, config_error, seawall_breaker_config};
use crate::error::{name_arg, run, seawall_result, Error};
use crate::handle;

type CRegistry = Registry<DynClock>;

/// A thread-safe map from names to breakers. Reference-counted like
/// `seawall_breaker`; breaker handles obtained from it stay valid after the
/// registry is freed or the breaker removed.
pub struct seawall_registry {
    _private: [u8; 0],
}

handle::declare!(seawall_registry: CRegistry, Shared, "registry");

/// Called by `seawall_registry_for_each` for each breaker, in name order.
/// `name` and `breaker` are borrowed for the duration of the call only (use
/// `seawall_breaker_clone` to keep the breaker). Return 0 to continue, any
/// other value to stop.
pub type seawall_registry_visitor = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        name: *const c_char,
        breaker: *const seawall_breaker,
    ) -> c_int,
>;

/// Creates an empty registry whose breakers use the production clock and
/// writes its handle to `*out`. Release it with `seawall_registry_free`.
///
/// # Safety
///
/// `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_registry_new(out: *mut *const seawall_registry) -> seawall_result {
    const F: &str = "seawall_registry_new";
    let make = || Ok(Registry::with_clock(DynClock::Quanta));
    // SAFETY: `out` is NULL or valid for a write (this function's contract).
    run(F, || unsafe { handle::new_handle(F, out, make) })
}

/// As `seawall_registry_new`, with breakers on a manual clock (for tests).
///
/// # Safety
///
/// `clock` is NULL or a live handle; `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_registry_new_with_clock(
    clock: *const seawall_manual_clock,
    out: *mut *const seawall_registry,
) -> seawall_result {
    const F: &str = "seawall_registry_new_with_clock";
    run(F, || {
        // SAFETY: `clock` is NULL or a live handle (this function's
        // contract).
        let clock = unsafe { manual_clock(clock, F) }?;
        // SAFETY: `out` is NULL or valid for a write (this function's
        // contract).
        unsafe { handle::new_handle(F, out, || Ok(Registry::with_clock(clock))) }
    })
}

/// Writes a new handle to the same registry to `*out`.
///
/// # Safety
///
/// `registry` is NULL or a live handle; `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_registry_clone(
    registry: *const seawall_registry,
    out: *mut *const seawall_registry,
) -> seawall_result {
    // SAFETY: `registry` is NULL or a live handle, `out` NULL or valid for
    // a write (this function's contract).
    unsafe { handle::clone_handle("seawall_registry_clone", registry, out) }
}

/// Releases one registry handle. `NULL` is a no-op.
///
/// # Safety
///
/// `registry` is NULL or a live handle, which must not be used afterwards.
#[no_mangle]
pub unsafe extern "C" fn seawall_registry_free(registry: *const seawall_registry) {
    // SAFETY: `registry` is NULL or a live handle the caller gives up (this
    // function's contract).
    unsafe { handle::free_handle("seawall_registry_free", registry) }
}

/// Writes a handle to the breaker called `name` to `*out`, creating it from
/// `*config` (NULL for the defaults) if there is none yet. An existing
/// breaker keeps its own configuration; `SEAWALL_RESULT_INVALID_CONFIG` is
/// returned only when a breaker had to be created from an invalid config
/// (an unknown `window_kind` is refused in every case).
/// Concurrent calls with one name all get the same breaker. Release the
/// handle with `seawall_breaker_free`.
///
/// # Safety
///
/// `registry` is NULL or a live handle; `name` is NULL or NUL-terminated;
/// `config` is NULL or valid; `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_registry_get_or_create(
    registry: *const seawall_registry,
    name: *const c_char,
    config: *const seawall_breaker_config,
    out: *mut *const seawall_breaker,
) -> seawall_result {
    const F: &str = "seawall_registry_get_or_create";
    run(F, || {
        // SAFETY: `registry` is NULL or a live handle (this function's
        // contract).
        let r = unsafe { handle::borrow(registry, F) }?;
        // SAFETY: `name` is NULL or NUL-terminated (this function's
        // contract).
        let name = unsafe { name_arg(name, F, "name") }?;
        let make = || {
            // SAFETY: `config` is NULL or valid (this function's contract).
            let config = unsafe { config_arg(config, F) }?;
            r.get_or_create(name, &config)
                .map_err(|e| config_error(F, &e))
        };
        // SAFETY: `out` is NULL or valid for a write (this function's
        // contract).
        unsafe { handle::new_handle(F, out, make) }
    })
}

/// Writes a handle to the breaker called `name` to `*out`, or returns
/// `SEAWALL_RESULT_NOT_FOUND`. Release the handle with
/// `seawall_breaker_free`.
///
/// # Safety
///
/// `registry` is NULL or a live handle; `name` is NULL or NUL-terminated;
/// `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_registry_get(
    registry: *const seawall_registry,
    name: *const c_char,
    out: *mut *const seawall_breaker,
) -> seawall_result {
    const F: &str = "seawall_registry_get";
    run(F, || {
        // SAFETY: `registry` is NULL or a live handle (this function's
        // contract).
        let r = unsafe { handle::borrow(registry, F) }?;
        // SAFETY: `name` is NULL or NUL-terminated (this function's
        // contract).
        let name = unsafe { name_arg(name, F, "name") }?;
        let make = || r.get(name).ok_or_else(|| not_found(F, name));
        // SAFETY: `out` is NULL or valid for a write (this function's
        // contract).
        unsafe { handle::new_handle(F, out, make) }
    })
}

#[cold]
fn not_found(func: &'static str, name: &str) -> Error {
    Error::new(
        seawall_result::NotFound,
        format!("{func}: no breaker named {name:?}"),
    )
}

/// Removes the breaker called `name`, or returns `SEAWALL_RESULT_NOT_FOUND`.
/// Handles to it stay valid and the breaker keeps working.
///
/// # Safety
///
/// `registry` is NULL or a live handle; `name` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn seawall_registry_remove(
    registry: *const seawall_registry,
    name: *const c_char,
) -> seawall_result {
    const F: &str = "seawall_registry_remove";
    run(F, || {
        // SAFETY: `registry` is NULL or a live handle (this function's
        // contract).
        let r = unsafe { handle::borrow(registry, F) }?;
        // SAFETY: `name` is NULL or NUL-terminated (this function's
        // contract).
        let name = unsafe { name_arg(name, F, "name") }?;
        r.remove(name).map(drop).ok_or_else(|| not_found(F, name))
    })
}

/// Writes the number of breakers to `*out_count`.
///
/// # Safety
///
/// `registry` is NULL or a live handle; `out_count` is NULL or valid for a
/// write.
#[no_mangle]
pub unsafe extern "C" fn seawall_registry_count(
    registry: *const seawall_registry,
    out_count: *mut usize,
) -> seawall_result {
    const F: &str = "seawall_registry_count";
    // SAFETY: `registry` is NULL or a live handle, `out_count` NULL or valid
    // for a write (this function's contract).
    unsafe { handle::get(F, registry, out_count, "out_count", CRegistry::len) }
}

/// Calls `visitor(user_data, name, breaker)` for each breaker in the
/// registry, in name order, until it returns non-zero. The set of breakers
/// is taken when the call starts; the visitor runs outside any lock and may
/// use the registry (breakers it adds are not visited). Use
/// `seawall_breaker_metrics` on the borrowed breaker for a snapshot.
///
/// # Safety
///
/// `registry` is NULL or a live handle; `visitor` must be safe to call with
/// `user_data`.
#[no_mangle]
pub unsafe extern "C" fn seawall_registry_for_each(
    registry: *const seawall_registry,
    visitor: seawall_registry_visitor,
    user_data: *mut c_void,
) -> seawall_result {
    const F: &str = "seawall_registry_for_each";
    run(F, || {
        // SAFETY: `registry` is NULL or a live handle (this function's
        // contract).
        let r = unsafe { handle::borrow(registry, F) }?;
        let Some(visitor) = visitor else {
            return Err(Error::null(F, "visitor"));
        };
        // Collected first so the visitor runs with no table guard held.
        let all: Vec<(CString, Arc<CBreaker>)> = r
            .names()
            .into_iter()
            .filter_map(|n| {
                let b = r.get(&n)?;
                Some((CString::new(&*n).ok()?, b))
            })
            .collect();
        for (name, b) in &all {
            let lent: *const seawall_breaker = handle::as_raw(b);
            // SAFETY: the caller's contract makes `visitor` callable with
            // `user_data`; `name` and `lent` stay valid during the call
            // (`all` holds a reference to each breaker).
            if unsafe { visitor(user_data, name.as_ptr(), lent) } != 0 {
                break;
            }
        }
        Ok(())
    })
}

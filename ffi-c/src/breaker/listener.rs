//! Transition callbacks: a C function pointer and its user data as a core
//! listener.

use std::ffi::{c_char, c_void, CString};

use seawall::Transition;

use super::{seawall_breaker, seawall_state};
use crate::error::{run, seawall_result, Error};
use crate::handle;

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

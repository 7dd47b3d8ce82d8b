//! The error surface: result and last-error messages into buffers of any
//! length, state names, and NULL for every handle.

use std::ffi::CStr;
use std::ptr;

use seawall_ffi::*;
use seawall_result as R;

use crate::call::{expect, last};
use crate::ops::Op;

/// Message and NULL calls: `Op::ResultMessage`, `Op::LastErrorMessage`, `Op::StateName`, `Op::NullHandle`.
pub(crate) unsafe fn step(op: &Op, before: R) {
    match op {
        Op::ResultMessage { code, len } => {
            let code = code % 20;
            let n = usize::from(*len);
            let mut buf = vec![0xA5u8; n];
            let mut out_len = 0xA5usize;
            let r =
                unsafe { seawall_result_message(code, buf.as_mut_ptr().cast(), n, &mut out_len) };
            // The highest code: keep it the last variant of `seawall_result`.
            let allowed: &[R] = if code > R::KeyedFull as u32 {
                &[R::InvalidArgument]
            } else {
                &[R::Ok, R::BufferTooSmall]
            };
            assert!(
                allowed.contains(&r),
                "seawall_result_message({code}) = {r:?}"
            );
            assert_eq!(
                last(),
                before,
                "seawall_result_message changed the last error"
            );
            if r != R::InvalidArgument && n > 0 {
                assert!(buf.contains(&0), "not NUL-terminated");
                assert_eq!(r == R::Ok, out_len < n);
            }
        }
        Op::LastErrorMessage { len } => {
            let n = usize::from(*len);
            let mut buf = vec![0xA5u8; n];
            let mut out_len = 0usize;
            let r = unsafe { seawall_last_error_message(buf.as_mut_ptr().cast(), n, &mut out_len) };
            assert!(matches!(r, R::Ok | R::BufferTooSmall), "{r:?}");
            assert_eq!(
                last(),
                before,
                "seawall_last_error_message changed the last error"
            );
            if n > 0 {
                let cut = buf.iter().position(|c| *c == 0).expect("NUL-terminated");
                assert!(
                    std::str::from_utf8(&buf[..cut]).is_ok(),
                    "cut inside a character"
                );
            }
        }
        Op::StateName(s) => {
            let p = seawall_state_name(*s);
            assert!(!p.is_null());
            let n = unsafe { CStr::from_ptr(p) }.to_bytes();
            assert_eq!(*s <= 4, n != b"UNKNOWN", "state {s} named {n:?}");
            assert_eq!(last(), before);
        }
        Op::NullHandle(which) => unsafe { null_handle(*which, before) },
        _ => unreachable!("step dispatches {op:?} elsewhere"),
    }
}

/// Every function that takes a handle refuses NULL with NULL_PARAMETER,
/// writes nothing, and records it; every `_free(NULL)` does nothing.
pub(crate) unsafe fn null_handle(which: u8, before: R) {
    let mut permit = unsafe { std::mem::zeroed::<seawall_permit>() };
    let (mut u64_out, mut u32_out, mut usize_out, mut bool_out) =
        (0xA5u64, 0xA5u32, 0xA5usize, false);
    let mut handle_out: *const seawall_breaker = ptr::null();
    let p = ptr::from_mut(&mut permit);
    let u = ptr::from_mut(&mut u64_out);
    let n = ptr::from_mut(&mut u32_out);
    let z = ptr::from_mut(&mut usize_out);
    let b = ptr::from_mut(&mut bool_out);
    let out = ptr::from_mut(&mut handle_out);
    let mut stop = seawall_retry_stop::Exhausted;
    let st = ptr::from_mut(&mut stop);
    let calls: [&dyn Fn() -> R; 20] = [
        &|| unsafe { seawall_breaker_try_acquire(ptr::null(), p, ptr::null_mut()) },
        &|| unsafe { seawall_breaker_report_success(ptr::null(), p) },
        &|| unsafe { seawall_breaker_force_open(ptr::null()) },
        &|| unsafe { seawall_breaker_clone(ptr::null(), out) },
        &|| unsafe { seawall_manual_clock_advance(ptr::null(), 5) },
        &|| unsafe { seawall_manual_clock_now(ptr::null(), u) },
        &|| unsafe { seawall_registry_count(ptr::null(), z) },
        &|| unsafe { seawall_registry_get(ptr::null(), c"x".as_ptr(), out) },
        &|| unsafe { seawall_rate_limiter_check(ptr::null(), u) },
        &|| unsafe { seawall_rate_limiter_reserve(ptr::null(), 0, u) },
        &|| unsafe { seawall_bulkhead_available_permits(ptr::null(), n) },
        &|| unsafe { seawall_retry_budget_can_retry(ptr::null(), b) },
        &|| unsafe { seawall_retry_budget_record_attempt(ptr::null(), true) },
        &|| unsafe { seawall_breaker_new(c"x".as_ptr(), ptr::null(), ptr::null_mut()) },
        &|| unsafe { seawall_manual_clock_new(ptr::null_mut()) },
        &|| unsafe { seawall_breaker_config_default(ptr::null_mut()) },
        &|| unsafe { seawall_retry_state_begin(ptr::null_mut(), ptr::null(), n) },
        &|| unsafe { seawall_retry_state_failed(ptr::null_mut(), true, ptr::null(), u, st) },
        &|| unsafe { seawall_retry_state_total_delay(ptr::null(), u) },
        &|| {
            unsafe {
                seawall_breaker_free(ptr::null());
                seawall_registry_free(ptr::null());
                seawall_manual_clock_free(ptr::null());
                seawall_rate_limiter_free(ptr::null());
                seawall_bulkhead_free(ptr::null());
                seawall_retry_budget_free(ptr::null());
                seawall_retry_state_free(ptr::null_mut());
            }
            R::NullParameter
        },
    ];
    let i = usize::from(which) % calls.len();
    let r = calls[i]();
    if i == calls.len() - 1 {
        assert_eq!(last(), before, "a _free(NULL) changed the last error");
        return;
    }
    expect("a call with NULL", r, &[R::NullParameter], before);
    assert_eq!(
        (u64_out, u32_out, usize_out, bool_out),
        (0xA5, 0xA5, 0xA5, false),
        "written on failure"
    );
    assert!(handle_out.is_null(), "handle written on failure");
    assert_eq!(
        stop,
        seawall_retry_stop::Exhausted,
        "stop written on failure"
    );
}

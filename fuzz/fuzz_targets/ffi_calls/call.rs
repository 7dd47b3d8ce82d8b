//! What every call gets: the result code checked against the ones the
//! header allows and the last-error rule, handles made, cloned and freed
//! with their models, and the arguments a call takes (configs, clocks,
//! permits).

use std::collections::HashMap;
use std::ptr;

use seawall_ffi::*;
use seawall_result as R;

use crate::model::{pick, Counted, Use, MAX_HANDLES};

pub(crate) fn last() -> seawall_result {
    seawall_last_error()
}

/// Checks `r` against the codes `allowed` and the last-error rule.
#[track_caller]
pub(crate) fn expect(
    func: &str,
    r: seawall_result,
    allowed: &[seawall_result],
    before: seawall_result,
) {
    assert!(
        allowed.contains(&r),
        "{func} returned {r:?}, expected one of {allowed:?}"
    );
    let now = last();
    match r {
        R::Ok
        | R::Rejected
        | R::RateLimited
        | R::BulkheadFull
        | R::BulkheadTimeout
        | R::RetryStopped => {
            assert_eq!(now, before, "{func}: {r:?} changed the last error")
        }
        _ => assert_eq!(
            now, r,
            "{func}: failure {r:?} not recorded as the last error"
        ),
    }
}

/// The config argument of a `_new` that takes NULL for the defaults, with
/// the results the header allows for it: NULL always builds; a struct
/// builds or is refused with INVALID_CONFIG.
pub(crate) fn config_arg<C>(c: &C, null: bool) -> (*const C, &'static [R]) {
    if null {
        (ptr::null(), &[R::Ok])
    } else {
        (c, &[R::Ok, R::InvalidConfig])
    }
}

pub(crate) fn cfg_ptr<C>(c: &Option<C>) -> *const C {
    c.as_ref().map_or(ptr::null(), ptr::from_ref)
}

/// The address of a manual clock argument; `None` for NULL (production).
pub(crate) fn clock_addr(clock: *const seawall_manual_clock) -> Option<usize> {
    (!clock.is_null()).then_some(clock as usize)
}

/// Makes a handle through `new` (a `_new` function given its output): the
/// result is one of `allowed` (with the last-error rule) and the output
/// keeps its sentinel unless it is OK. The new handle, on success.
pub(crate) fn create<H>(
    func: &str,
    allowed: &[R],
    before: R,
    new: impl FnOnce(*mut *const H) -> R,
) -> Option<*const H> {
    let sentinel = 0xA5A0 as *const H;
    let mut out = sentinel;
    let r = new(&mut out);
    expect(func, r, allowed, before);
    if r != R::Ok {
        assert_eq!(out, sentinel, "{func}: out written on {r:?}");
        return None;
    }
    Some(out)
}

/// Clones handle `i` of `handles` through `clone` (unless MAX_HANDLES are
/// held): OK, the clone has the original's address, and its model counts
/// one more reference.
pub(crate) unsafe fn clone_handle<H, M: Counted>(
    func: &str,
    handles: &mut Vec<*const H>,
    models: &mut HashMap<usize, M>,
    i: u8,
    before: R,
    clone: unsafe extern "C" fn(*const H, *mut *const H) -> R,
) {
    if handles.len() >= MAX_HANDLES {
        return;
    }
    let Some((_, h)) = pick(handles, i) else {
        return;
    };
    let mut out = ptr::null();
    // SAFETY: `h` is a live handle; `out` is valid for a write.
    let r = unsafe { clone(h, &mut out) };
    expect(func, r, &[R::Ok], before);
    assert_eq!(out, h, "{func}: a clone has the original's address");
    *models.get_mut(&(h as usize)).unwrap().refs() += 1;
    handles.push(out);
}

/// Frees handle `i` of `handles` through `free`; its model counts one
/// reference less and is returned, with its address, once none is left.
pub(crate) unsafe fn free_handle<H, M: Counted>(
    handles: &mut Vec<*const H>,
    models: &mut HashMap<usize, M>,
    i: u8,
    free: unsafe extern "C" fn(*const H),
) -> Option<(usize, M)> {
    let (i, h) = pick(handles, i)?;
    handles.swap_remove(i);
    // SAFETY: `h` is a live handle, no longer held.
    unsafe { free(h) };
    let addr = h as usize;
    let refs = models.get_mut(&addr).unwrap().refs();
    *refs -= 1;
    if *refs == 0 {
        models.remove(&addr).map(|m| (addr, m))
    } else {
        None
    }
}

/// The permit argument of a report or release: NULL, the permit `held` in
/// a slot, or (for an empty slot) `empty`; and a copy of what it points to.
pub(crate) fn permit_arg<P: Copy>(
    held: Option<&mut P>,
    empty: &mut P,
    null: bool,
) -> (*mut P, Option<P>) {
    if null {
        return (ptr::null_mut(), None);
    }
    let p: *mut P = held.unwrap_or(empty);
    // SAFETY: `p` points to a live permit.
    (p, Some(unsafe { *p }))
}

/// The results the header allows for handing back the permit of a slot in
/// `entry` (its use and owner; `None` for a zeroed struct) to the handle
/// at `addr`: `used` for a permit already handed back, `wrong` for one of
/// another handle; a forged one may read as any of those.
pub(crate) fn permit_back_codes(
    entry: Option<(Use, usize)>,
    addr: usize,
    used: R,
    wrong: R,
) -> Vec<R> {
    match entry {
        None => vec![R::PermitNotIssued],
        Some((state, owner)) => match state {
            Use::Issued if owner == addr => vec![R::Ok],
            Use::Issued => vec![wrong],
            Use::Used if owner == addr => vec![used],
            Use::Used => vec![used, wrong],
            Use::Forged => vec![R::PermitNotIssued, used, wrong],
        },
    }
}

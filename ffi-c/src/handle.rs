//! The one mechanism behind every handle.
//!
//! A handle is a pointer to `H`, an opaque, zero-sized `seawall_*` type the
//! header declares but never defines; it points at an `H::Inner` on the
//! heap, and is of one of two kinds:
//!
//! * [`Shared`] (breakers, registries, clocks, limiters, bulkheads,
//!   budgets): a `*const H` that is `Arc::into_raw` of an `Arc<H::Inner>`,
//!   cast. Every handle a function writes to an `out` parameter owns one
//!   strong reference; `_clone` adds one, `_free` gives one back, and the
//!   value lives until the last one is given back.
//! * [`Owned`] (a retry state, one caller's): a `*mut H` that is
//!   `Box::into_raw` of a `Box<H::Inner>`, cast; `_free` drops it.
//!
//! Each handle type is declared once, with [`declare!`] (its [`Handle`]
//! implementation); the functions here hold all the pointer reasoning, so
//! an exported function is a call to one of them:
//!
//! * [`new_handle`] (shared) and [`new_owned`] check `out`, build the value
//!   and write a new handle;
//! * [`borrow`] checks a handle (NULL, alignment of `H::Inner`) and lends
//!   the value for the call, [`borrow_optional`] takes NULL for "none",
//!   [`borrow_mut`] lends an owned handle's value mutably;
//! * [`get`] borrows, checks the output, computes and writes it; [`command`]
//!   borrows and acts;
//! * [`clone_handle`] and [`free_handle`] move the reference count of a
//!   shared handle, [`free_owned`] drops an owned one.
//!
//! Each checks every pointer before it changes anything, so a refused call
//! leaves the outputs and the handles as they were.

use std::sync::Arc;

use crate::error::{check, check_optional, put, run, run_value, seawall_result, Error};

/// An opaque handle type of the C ABI, standing for an `Arc<Self::Inner>`
/// or a `Box<Self::Inner>` as `Kind` says.
///
/// Implementing it asks nothing unsafe of the implementer: handle pointers
/// are only ever made from an `Arc` or a `Box` of `Self::Inner` by the
/// functions of this module that `Kind` allows, and cast back to
/// `Self::Inner` (never read as `Self`), so the only promise involved is
/// the C caller's that a handle argument is NULL or a live handle of the
/// type the header names. `Inner: Send + Sync` is what makes every
/// function taking a shared handle thread-safe.
pub(crate) trait Handle: Sized {
    /// The value behind the handle.
    type Inner: Send + Sync;
    /// [`Shared`] or [`Owned`]: which functions may make, copy and release
    /// it (checked by the compiler: a `Box` is never reference-counted).
    type Kind;
    /// The name of a handle argument of this type in error messages:
    /// "f: `budget` is NULL".
    const NAME: &'static str;
}

/// Declares `$handle` a handle of kind `$kind` ([`Shared`] or [`Owned`])
/// standing for a `$inner`, called `$name` in error messages: the
/// [`Handle`] implementation of every `seawall_*` handle type.
macro_rules! declare {
    ($handle:ident: $inner:ty, $kind:ident, $name:literal) => {
        impl $crate::handle::Handle for $handle {
            type Inner = $inner;
            type Kind = $crate::handle::$kind;
            const NAME: &'static str = $name;
        }
    };
}
pub(crate) use declare;

/// The kind of reference-counted handles (`Arc`).
pub(crate) enum Shared {}

/// The kind of handles with a single owner (`Box`), used by one thread at a
/// time.
pub(crate) enum Owned {}

/// Turns one strong reference into a handle, which owns it.
#[inline]
pub(crate) fn into_raw<H: Handle<Kind = Shared>>(inner: Arc<H::Inner>) -> *const H {
    Arc::into_raw(inner).cast()
}

/// A handle to `inner` that owns no reference: valid while `inner` is, for
/// lending to a callback.
#[inline]
pub(crate) fn as_raw<H: Handle<Kind = Shared>>(inner: &Arc<H::Inner>) -> *const H {
    Arc::as_ptr(inner).cast()
}

/// Checks `out`, then builds the value with `make` and writes a new handle
/// to it (`make` may hand back a new value or a reference it holds). Nothing
/// is written if either fails.
///
/// # Safety
///
/// `out` is NULL or valid for a write of a `*const H`.
#[inline]
pub(crate) unsafe fn new_handle<H: Handle<Kind = Shared>, A: Into<Arc<H::Inner>>>(
    func: &'static str,
    out: *mut *const H,
    make: impl FnOnce() -> Result<A, Error>,
) -> Result<(), Error> {
    // SAFETY: `out` is NULL or valid for a write (the caller's contract);
    // `put` checks it before `make` runs and writes only if it succeeds.
    unsafe { put(out, func, "out", || make().map(|a| into_raw(a.into()))) }
}

/// Lends the value behind handle `h` for the rest of the call, after
/// checking that `h` is non-NULL and aligned for `H::Inner`.
///
/// # Safety
///
/// `h` is NULL or a live handle of type `H`, and stays live for `'a`; an
/// owned handle is not used by another thread meanwhile.
#[inline(always)]
pub(crate) unsafe fn borrow<'a, H: Handle>(
    h: *const H,
    func: &'static str,
) -> Result<&'a H::Inner, Error> {
    check(h.cast::<H::Inner>(), func, H::NAME)?;
    // SAFETY: non-NULL and aligned (checked); a live handle of type `H`
    // that stays live for 'a (the caller's contract).
    Ok(unsafe { lend(h) })
}

/// The bits of handle `h`'s address below the alignment of `H::Inner`,
/// which [`borrow`] checks (see `error::misalignment`).
#[inline(always)]
pub(crate) fn misalignment<H: Handle>(h: *const H) -> usize {
    crate::error::misalignment(h.cast::<H::Inner>())
}

/// As [`borrow`] for a handle argument that may be NULL ("none").
///
/// # Safety
///
/// As [`borrow`].
#[inline(always)]
pub(crate) unsafe fn borrow_optional<'a, H: Handle>(
    h: *const H,
    func: &'static str,
) -> Result<Option<&'a H::Inner>, Error> {
    check_optional(h.cast::<H::Inner>(), func, H::NAME)?;
    // SAFETY: lent only when non-NULL; aligned (checked); a live handle of
    // type `H` that stays live for 'a (the caller's contract).
    Ok((!h.is_null()).then(|| unsafe { lend(h) }))
}

/// The value behind a handle checked non-NULL and aligned (by [`borrow`],
/// or on the hot paths by a NULL test and [`misalignment`]).
///
/// # Safety
///
/// `h` is non-NULL, aligned for `H::Inner`, and a live handle of type `H`
/// that stays live for `'a`; an owned handle is not used by another thread
/// meanwhile.
#[inline(always)]
pub(crate) unsafe fn lend<'a, H: Handle>(h: *const H) -> &'a H::Inner {
    // SAFETY: a live handle is `Arc::into_raw` of an `Arc<H::Inner>` whose
    // reference it owns, or `Box::into_raw` of a `Box<H::Inner>`, so the
    // value is alive while the handle is, which the caller promises for
    // 'a; it is only read through `&` (shared values synchronise
    // internally; an owned one has no other user meanwhile).
    unsafe { &*h.cast::<H::Inner>() }
}

/// Lends the value behind owned handle `h` mutably for the rest of the
/// call, after checking that `h` is non-NULL and aligned.
///
/// # Safety
///
/// `h` is NULL or a live handle of type `H`, used by no one else (no other
/// thread, no other argument of the call) for `'a`.
#[inline(always)]
pub(crate) unsafe fn borrow_mut<'a, H: Handle<Kind = Owned>>(
    h: *mut H,
    func: &'static str,
) -> Result<&'a mut H::Inner, Error> {
    let p = h.cast::<H::Inner>();
    check(p, func, H::NAME)?;
    // SAFETY: non-NULL and aligned (checked); a live owned handle is
    // `Box::into_raw` of a `Box<H::Inner>`, alive until `free_owned`, and
    // the caller promises no other use of it for 'a.
    Ok(unsafe { &mut *p })
}

/// Checks `out`, then builds the value with `make` and writes a new owned
/// handle to it. Nothing is written (nor allocated) if either fails.
///
/// # Safety
///
/// `out` is NULL or valid for a write of a `*mut H`.
#[inline]
pub(crate) unsafe fn new_owned<H: Handle<Kind = Owned>>(
    func: &'static str,
    out: *mut *mut H,
    make: impl FnOnce() -> Result<H::Inner, Error>,
) -> Result<(), Error> {
    let make = || make().map(|inner| Box::into_raw(Box::new(inner)).cast::<H>());
    // SAFETY: `out` is NULL or valid for a write (the caller's contract);
    // `put` checks it before `make` runs.
    unsafe { put(out, func, "out", make) }
}

/// The body of an owned handle's `_free`: drops the value. NULL does
/// nothing.
///
/// # Safety
///
/// `h` is NULL or a live owned handle, which nobody uses afterwards.
pub(crate) unsafe fn free_owned<H: Handle<Kind = Owned>>(func: &'static str, h: *mut H) {
    run_value(func, (), || {
        if h.is_null() {
            return;
        }
        // SAFETY: a live owned handle is `Box::into_raw` of a
        // `Box<H::Inner>`, given back here once.
        drop(unsafe { Box::from_raw(h.cast::<H::Inner>()) });
    })
}

/// The body of a getter: borrows `h`, checks `out` (named `param`), and
/// writes `f` of the value to it. `f` runs only once both are checked.
///
/// # Safety
///
/// `h` is NULL or a live handle; `out` is NULL or valid for a write.
#[inline(always)]
pub(crate) unsafe fn get<H: Handle, T>(
    func: &'static str,
    h: *const H,
    out: *mut T,
    param: &'static str,
    f: impl FnOnce(&H::Inner) -> T,
) -> seawall_result {
    run(func, || {
        // SAFETY: `h` is NULL or a live handle (the caller's contract).
        let inner = unsafe { borrow(h, func) }?;
        // SAFETY: `out` is NULL or valid for a write (the caller's
        // contract).
        unsafe { put(out, func, param, || Ok(f(inner))) }
    })
}

/// The body of a function that only acts on the value behind `h`.
///
/// # Safety
///
/// `h` is NULL or a live handle.
#[inline(always)]
pub(crate) unsafe fn command<H: Handle>(
    func: &'static str,
    h: *const H,
    f: impl FnOnce(&H::Inner),
) -> seawall_result {
    run(func, || {
        // SAFETY: `h` is NULL or a live handle (the caller's contract).
        f(unsafe { borrow(h, func) }?);
        Ok(())
    })
}

/// The body of every `_clone`: writes a second handle to the same value
/// (the same address) to `*out`, adding one reference.
///
/// # Safety
///
/// `h` is NULL or a live handle; `out` is NULL or valid for a write.
pub(crate) unsafe fn clone_handle<H: Handle<Kind = Shared>>(
    func: &'static str,
    h: *const H,
    out: *mut *const H,
) -> seawall_result {
    run(func, || {
        let p = h.cast::<H::Inner>();
        check(p, func, H::NAME)?;
        let add_reference = || {
            // SAFETY: `p` is non-NULL and aligned (checked) and, by the
            // caller's contract, `Arc::into_raw` of an `Arc<H::Inner>` whose
            // count includes the caller's reference; the one added here is
            // owned by the handle written to `out`.
            unsafe { Arc::increment_strong_count(p) };
            Ok(h)
        };
        // SAFETY: `out` is NULL or valid for a write (the caller's
        // contract); `put` checks it before the count moves.
        unsafe { put(out, func, "out", add_reference) }
    })
}

/// A new strong reference to the value behind shared handle `h`, for an
/// engine that keeps another engine (a hedge its budget) alive.
///
/// # Safety
///
/// `h` is NULL or a live handle.
pub(crate) unsafe fn share<H: Handle<Kind = Shared>>(
    h: *const H,
    func: &'static str,
) -> Result<Arc<H::Inner>, Error> {
    let p = h.cast::<H::Inner>();
    check(p, func, H::NAME)?;
    // SAFETY: `p` is non-NULL and aligned (checked) and, by the caller's
    // contract, `Arc::into_raw` of an `Arc<H::Inner>` whose count includes
    // the caller's reference; the one added here is owned by the `Arc`
    // returned.
    unsafe {
        Arc::increment_strong_count(p);
        Ok(Arc::from_raw(p))
    }
}

/// The body of every `_free`: gives back the reference `h` owns, dropping
/// the value with the last one. NULL does nothing.
///
/// # Safety
///
/// `h` is NULL or a live handle, which the caller does not use afterwards.
pub(crate) unsafe fn free_handle<H: Handle<Kind = Shared>>(func: &'static str, h: *const H) {
    run_value(func, (), || {
        if h.is_null() {
            return;
        }
        // SAFETY: a live handle is `Arc::into_raw` of an `Arc<H::Inner>`
        // and owns one reference, which the caller gives up here.
        drop(unsafe { Arc::from_raw(h.cast::<H::Inner>()) });
    })
}

//! Result codes, the thread-local last error, the panic catcher every
//! exported function runs in, and the pointer checks they share.

use std::borrow::Cow;
use std::cell::RefCell;
use std::ffi::{c_char, CStr};
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// The result of every fallible function. `SEAWALL_RESULT_OK` is 0; the
/// numbers of the others are stable and never reused for another meaning.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum seawall_result {
    /// Success: the outputs have been written.
    Ok = 0,
    /// A required pointer argument was NULL.
    NullParameter = 1,
    /// The configuration is outside its allowed ranges; the last error names
    /// the field, the value and the allowed range.
    InvalidConfig = 2,
    /// An argument other than the configuration is invalid (a name that is
    /// not UTF-8, an unknown outcome, a number out of range, a misaligned
    /// pointer); the last error names the argument, the value and what is
    /// allowed.
    InvalidArgument = 3,
    /// The breaker refused the call; the `seawall_rejection` says why and
    /// when to retry. An answer, not an error: the last error is left as
    /// it was.
    Rejected = 4,
    /// The permit was already reported once; the second report is refused
    /// and counts nowhere.
    PermitAlreadyReported = 5,
    /// The permit was never issued (for instance zero-initialised, or the
    /// acquire that should have filled it was rejected).
    PermitNotIssued = 6,
    /// The permit was issued by another breaker.
    PermitWrongBreaker = 7,
    /// No breaker with that name in the registry.
    NotFound = 8,
    /// The text did not fit the caller's buffer: it holds a truncated,
    /// NUL-terminated prefix and the length output holds the full length.
    BufferTooSmall = 9,
    /// The library panicked; the operation did not complete. This is a bug
    /// in seawall: please report it with the last error message.
    Panic = 10,
    /// The rate limiter refused the call; the wait until a call would be
    /// admitted was written. An answer, not an error: the last error is
    /// left as it was.
    RateLimited = 11,
    /// Every bulkhead slot is taken and its queue is full (or has size 0);
    /// or the adaptive limiter's calls in flight are at its limit. An
    /// answer, not an error: the last error is left as it was.
    BulkheadFull = 12,
    /// The call waited its whole timeout for a bulkhead slot without getting
    /// one. An answer, not an error: the last error is left as it was.
    BulkheadTimeout = 13,
    /// The bulkhead permit was already released once; the second release is
    /// refused and frees nothing.
    PermitAlreadyReleased = 14,
    /// The bulkhead permit was issued by another bulkhead (or the adaptive
    /// limiter permit by another limiter).
    PermitWrongBulkhead = 15,
    /// The retry state decided that the call must stop, not retry; the
    /// `seawall_retry_stop` says why. An answer, not an error: the last
    /// error is left as it was.
    RetryStopped = 16,
    /// The keyed breaker refused a call of a new key: `max_keys` keys are
    /// alive and none is idle. An answer, not an error: the last error is
    /// left as it was.
    KeyedFull = 17,
}

/// Every code (kept out of the `impl` so cbindgen does not export it).
const ALL_RESULTS: [seawall_result; 18] = [
    seawall_result::Ok,
    seawall_result::NullParameter,
    seawall_result::InvalidConfig,
    seawall_result::InvalidArgument,
    seawall_result::Rejected,
    seawall_result::PermitAlreadyReported,
    seawall_result::PermitNotIssued,
    seawall_result::PermitWrongBreaker,
    seawall_result::NotFound,
    seawall_result::BufferTooSmall,
    seawall_result::Panic,
    seawall_result::RateLimited,
    seawall_result::BulkheadFull,
    seawall_result::BulkheadTimeout,
    seawall_result::PermitAlreadyReleased,
    seawall_result::PermitWrongBulkhead,
    seawall_result::RetryStopped,
    seawall_result::KeyedFull,
];

impl seawall_result {
    /// The code with number `n`, if there is one.
    pub fn from_u32(n: u32) -> Option<Self> {
        ALL_RESULTS.iter().copied().find(|c| *c as u32 == n)
    }

    /// The fixed description of the code.
    pub fn message(self) -> &'static str {
        match self {
            Self::Ok => "success",
            Self::NullParameter => "a required pointer argument was NULL",
            Self::InvalidConfig => "invalid configuration",
            Self::InvalidArgument => "invalid argument",
            Self::Rejected => "the circuit breaker rejected the call",
            Self::PermitAlreadyReported => "the permit was already reported",
            Self::PermitNotIssued => "the permit was never issued by a successful acquire",
            Self::PermitWrongBreaker => "the permit was issued by another breaker",
            Self::NotFound => "no breaker with that name",
            Self::BufferTooSmall => "the buffer is too small; the text was truncated",
            Self::Panic => "internal error: seawall panicked",
            Self::RateLimited => "the rate limiter refused the call",
            Self::BulkheadFull => "the bulkhead is full",
            Self::BulkheadTimeout => "timed out waiting for a bulkhead slot",
            Self::PermitAlreadyReleased => "the bulkhead permit was already released",
            Self::PermitWrongBulkhead => "the bulkhead permit was issued by another bulkhead",
            Self::RetryStopped => "the retry state decided to stop retrying",
            Self::KeyedFull => "the keyed breaker is full: no idle key to evict",
        }
    }
}

/// An error on its way to the caller: the code and, for the last-error
/// message, the details (which argument, which field).
pub(crate) struct Error {
    pub(crate) code: seawall_result,
    pub(crate) detail: Cow<'static, str>,
}

impl Error {
    #[cold]
    pub(crate) fn new(code: seawall_result, detail: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            detail: detail.into(),
        }
    }

    /// A required pointer that is NULL: "f: `out` is NULL".
    #[cold]
    pub(crate) fn null(func: &'static str, param: impl fmt::Display) -> Self {
        Self::new(
            seawall_result::NullParameter,
            format!("{func}: `{param}` is NULL"),
        )
    }

    /// Any other argument outside its allowed values, named with the value
    /// given and what is allowed: "f: `unit` = 1.5 is not in [0, 1)".
    #[cold]
    pub(crate) fn argument(
        func: &'static str,
        param: impl fmt::Display,
        value: impl fmt::Display,
        allowed: impl fmt::Display,
    ) -> Self {
        Self::new(
            seawall_result::InvalidArgument,
            format!("{func}: `{param}` = {value} is not {allowed}"),
        )
    }

    /// A pointer not aligned for its type:
    /// "f: `out_len` = 0x7ffd3 is not aligned to 8 bytes".
    #[cold]
    pub(crate) fn misaligned<T>(func: &'static str, param: &'static str, p: *const T) -> Self {
        Self::argument(
            func,
            param,
            format_args!("{p:p}"),
            format_args!("aligned to {} bytes", std::mem::align_of::<T>()),
        )
    }
}

struct LastError {
    code: seawall_result,
    detail: Cow<'static, str>,
}

thread_local! {
    static LAST: RefCell<LastError> = const {
        RefCell::new(LastError { code: seawall_result::Ok, detail: Cow::Borrowed("no error") })
    };
}

/// Stores `e` as this thread's last error and returns its code.
fn record(e: Error) -> seawall_result {
    let code = e.code;
    // `try_with`: during thread teardown the slot may be gone; the code is
    // still returned.
    let _ = LAST.try_with(|l| {
        if let Ok(mut l) = l.try_borrow_mut() {
            *l = LastError {
                code,
                detail: e.detail,
            };
        }
    });
    code
}

/// The last error's code and message on this thread.
pub(crate) fn last_error() -> (seawall_result, String) {
    LAST.try_with(|l| {
        let l = l.borrow();
        (l.code, l.detail.to_string())
    })
    .unwrap_or((seawall_result::Ok, String::from("no error")))
}

fn panic_message(func: &'static str, payload: &(dyn std::any::Any + Send)) -> String {
    let what = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)");
    format!("{func} panicked: {what}")
}

/// Runs an exported function's body: catches any panic, records errors as
/// the thread's last error, and turns the result into a code.
#[inline(always)]
pub(crate) fn run(func: &'static str, body: impl FnOnce() -> Result<(), Error>) -> seawall_result {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => seawall_result::Ok,
        Ok(Err(e)) => record(e),
        Err(payload) => panicked(func, payload),
    }
}

/// As [`run`] for the hot paths, whose bodies return their code directly
/// (errors through [`fail`]), so the success path never inspects an error
/// value.
#[inline(always)]
pub(crate) fn run_code(
    func: &'static str,
    body: impl FnOnce() -> seawall_result,
) -> seawall_result {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(code) => code,
        Err(payload) => panicked(func, payload),
    }
}

/// As [`run_code`] for a hot path split in two: `fast` answers the common
/// case, or `None` having done nothing, and `slow` (out of line, under a
/// catcher of its own) then starts over from the arguments. `slow` is
/// called outside `fast`'s catcher, in tail position: when `fast` makes no
/// call, the whole function needs no stack frame.
#[inline(always)]
pub(crate) fn run_split(
    func: &'static str,
    fast: impl FnOnce() -> Option<seawall_result>,
    slow: impl FnOnce() -> seawall_result,
) -> seawall_result {
    match catch_unwind(AssertUnwindSafe(fast)) {
        Ok(Some(code)) => code,
        Ok(None) => slow(),
        Err(payload) => panicked(func, payload),
    }
}

/// Records `e` as the thread's last error and returns its code: the error
/// exit of [`run_code`] bodies.
#[cold]
#[inline(never)]
pub(crate) fn fail(e: Error) -> seawall_result {
    record(e)
}

/// As [`run`] for functions that return nothing (the `_free`s) or a plain
/// value: a panic is recorded as the last error and `fallback` returned.
#[inline(always)]
pub(crate) fn run_value<T>(func: &'static str, fallback: T, body: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(v) => v,
        Err(payload) => {
            panicked(func, payload);
            fallback
        }
    }
}

#[cold]
fn panicked(func: &'static str, payload: Box<dyn std::any::Any + Send>) -> seawall_result {
    let msg = panic_message(func, &*payload);
    // Dropping a panic payload can itself panic; keep it from unwinding
    // into the caller.
    let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
    record(Error::new(seawall_result::Panic, msg))
}

/// The bits of `p`'s address below the alignment of `T`: 0 when `p` is
/// aligned for `T`, as [`check`] requires. For the fast paths of
/// [`run_split`], which build no error: they OR those of all their
/// pointers and test once (one branch, not one per pointer: measurably
/// faster on those paths), and a refused pointer sends them to the full
/// body, whose `check` names it.
#[inline(always)]
pub(crate) fn misalignment<T>(p: *const T) -> usize {
    p as usize & (std::mem::align_of::<T>() - 1)
}

/// Checks that `p` is non-NULL and aligned for `T`.
#[inline(always)]
pub(crate) fn check<T>(p: *const T, func: &'static str, param: &'static str) -> Result<(), Error> {
    if p.is_null() {
        return Err(Error::null(func, param));
    }
    check_optional(p, func, param)
}

/// Checks that `p`, which may be NULL, is aligned for `T`.
#[inline(always)]
pub(crate) fn check_optional<T>(
    p: *const T,
    func: &'static str,
    param: &'static str,
) -> Result<(), Error> {
    if !p.is_aligned() {
        return Err(Error::misaligned(func, param, p));
    }
    Ok(())
}

/// Writes output `p` (named `param`): checks it non-NULL and aligned, and
/// only then computes its value with `value`, which may act (take a permit,
/// charge a budget) knowing its answer can be delivered. A refused pointer
/// or a failed `value` leaves `*p` as it was: the one place that keeps the
/// rule "outputs are written only on success".
///
/// # Safety
///
/// `p` is NULL or valid for a write of a `T`.
#[inline(always)]
pub(crate) unsafe fn put<T>(
    p: *mut T,
    func: &'static str,
    param: &'static str,
    value: impl FnOnce() -> Result<T, Error>,
) -> Result<(), Error> {
    check(p, func, param)?;
    let v = value()?;
    // SAFETY: non-NULL and aligned (checked); valid for a write by the
    // caller's contract.
    unsafe { p.write(v) };
    Ok(())
}

/// Borrows the caller's struct behind `p`.
///
/// # Safety
///
/// `p` is NULL or points to a valid `T` that stays valid and unaliased by
/// writes for `'a`.
#[inline(always)]
pub(crate) unsafe fn borrow<'a, T>(
    p: *const T,
    func: &'static str,
    param: &'static str,
) -> Result<&'a T, Error> {
    check(p, func, param)?;
    // SAFETY: non-NULL and aligned (checked); valid for 'a by the caller's
    // contract.
    Ok(unsafe { &*p })
}

/// Reads a NUL-terminated UTF-8 name (or URL), the argument `param`
/// (`"name"`, or `nodes[1]` for an element of an array).
///
/// # Safety
///
/// `p` is NULL or points to a NUL-terminated string valid for `'a`.
pub(crate) unsafe fn name_arg<'a>(
    p: *const c_char,
    func: &'static str,
    param: impl fmt::Display + Copy,
) -> Result<&'a str, Error> {
    if p.is_null() {
        return Err(Error::null(func, param));
    }
    // SAFETY: non-NULL; NUL-terminated and valid for 'a by the caller's
    // contract.
    let s = unsafe { CStr::from_ptr(p) };
    s.to_str().map_err(|e| {
        Error::argument(
            func,
            param,
            format_args!("\"{}\"", s.to_bytes().escape_ascii()),
            format_args!("valid UTF-8 ({e})"),
        )
    })
}

/// How much of a text [`write_text`] wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Written {
    /// All of it, NUL-terminated.
    All,
    /// A NUL-terminated prefix (or nothing, for `len` 0): `BufferTooSmall`.
    Truncated,
}

impl Written {
    /// The result code of a text function that wrote this.
    pub(crate) fn code(self) -> seawall_result {
        match self {
            Written::All => seawall_result::Ok,
            Written::Truncated => seawall_result::BufferTooSmall,
        }
    }
}

/// Copies `text` into the caller's buffer, snprintf-style: `*out_len` (if
/// not NULL) receives the full length in bytes without the NUL; the buffer
/// receives as much as fits, cut at a character boundary, NUL-terminated.
/// `Truncated` when the text was cut (or `buf` is NULL with `len` 0, the
/// size query). The error for a NULL `buf` with a non-zero `len` or a
/// misaligned `out_len` names `func`; the caller decides whether to record
/// it (the last-error functions must not).
///
/// # Safety
///
/// `buf` is NULL or valid for writes of `len` bytes; `out_len` is NULL or
/// valid for a write.
pub(crate) unsafe fn write_text(
    func: &'static str,
    text: &str,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> Result<Written, Error> {
    if buf.is_null() && len != 0 {
        return Err(Error::new(
            seawall_result::NullParameter,
            format!("{func}: `buf` is NULL with `len` = {len} (a NULL `buf` needs `len` = 0)"),
        ));
    }
    check_optional(out_len, func, "out_len")?;
    if !out_len.is_null() {
        // SAFETY: non-NULL, aligned (checked), and valid for a write by the
        // contract.
        unsafe { out_len.write(text.len()) };
    }
    if len == 0 {
        return Ok(Written::Truncated);
    }
    let mut n = text.len().min(len - 1);
    while !text.is_char_boundary(n) {
        n -= 1;
    }
    // SAFETY: `buf` is non-NULL (checked) and valid for `len` bytes by the
    // contract; `n + 1 <= len`; the source is a live `&str` that cannot
    // overlap a buffer the caller owns.
    unsafe {
        std::ptr::copy_nonoverlapping(text.as_ptr(), buf.cast::<u8>(), n);
        buf.add(n).write(0);
    }
    if n < text.len() {
        Ok(Written::Truncated)
    } else {
        Ok(Written::All)
    }
}

/// The output of a function that copies a text of its handle (a name, an
/// id) into the caller's buffer: as [`write_text`], with a truncation
/// recorded as an error naming the text (`what`): "f: `len` = 4 is less
/// than the 8 bytes of the name and its NUL".
///
/// # Safety
///
/// As [`write_text`].
pub(crate) unsafe fn text_out(
    func: &'static str,
    what: &'static str,
    text: &str,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> Result<(), Error> {
    // SAFETY: `buf` is NULL or valid for `len` bytes, `out_len` NULL or
    // valid for a write (the caller's contract).
    match unsafe { write_text(func, text, buf, len, out_len) }? {
        Written::All => Ok(()),
        Written::Truncated => Err(Error::new(
            seawall_result::BufferTooSmall,
            format!(
                "{func}: `len` = {len} is less than the {} bytes of the {what} and its NUL",
                text.len() + 1
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_numbered_in_order_and_round_trip() {
        for (i, c) in ALL_RESULTS.iter().enumerate() {
            assert_eq!(*c as u32, i as u32, "codes are never renumbered");
            assert_eq!(seawall_result::from_u32(i as u32), Some(*c));
            assert!(!c.message().is_empty());
        }
        assert_eq!(seawall_result::from_u32(ALL_RESULTS.len() as u32), None);
    }

    #[test]
    fn numbers_are_pinned() {
        // The ABI: these numbers are compiled into callers.
        let pinned = [
            (seawall_result::Ok, 0),
            (seawall_result::Rejected, 4),
            (seawall_result::Panic, 10),
            (seawall_result::RateLimited, 11),
            (seawall_result::BulkheadFull, 12),
            (seawall_result::BulkheadTimeout, 13),
            (seawall_result::PermitAlreadyReleased, 14),
            (seawall_result::PermitWrongBulkhead, 15),
            (seawall_result::RetryStopped, 16),
            (seawall_result::KeyedFull, 17),
        ];
        for (code, n) in pinned {
            assert_eq!(code as u32, n, "{code:?}");
        }
    }

    #[test]
    fn text_is_truncated_at_a_character_boundary() {
        let mut buf = [0x7f as c_char; 4];
        let mut n = 0usize;
        // SAFETY: `buf` is valid for 4 bytes, `n` for a write.
        let r = unsafe { write_text("t", "aé€", buf.as_mut_ptr(), buf.len(), &mut n) };
        assert_eq!(r.ok(), Some(Written::Truncated));
        assert_eq!(n, "aé€".len());
        // "a" + "é" (2 bytes) fit in 3; the NUL takes the 4th.
        // SAFETY: write_text NUL-terminated the buffer.
        let s = unsafe { CStr::from_ptr(buf.as_ptr()) };
        assert_eq!(s.to_str().unwrap(), "aé");
        let mut small = [0x7f as c_char; 3];
        // SAFETY: as above.
        let _ = unsafe {
            write_text(
                "t",
                "aé€",
                small.as_mut_ptr(),
                small.len(),
                std::ptr::null_mut(),
            )
        };
        // SAFETY: as above.
        let s = unsafe { CStr::from_ptr(small.as_ptr()) };
        assert_eq!(s.to_str().unwrap(), "a");
    }

    #[test]
    fn a_panic_becomes_a_code_and_a_message() {
        let r = run("seawall_test", || panic!("boom"));
        assert_eq!(r, seawall_result::Panic);
        let (code, msg) = last_error();
        assert_eq!(code, seawall_result::Panic);
        assert_eq!(msg, "seawall_test panicked: boom");
    }
}

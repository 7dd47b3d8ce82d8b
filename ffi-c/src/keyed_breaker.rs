//! The keyed breaker handle: a breaker per key (host, tenant, endpoint;
//! the key given as bytes), made on the key's first call from one
//! configuration, with a bound on the keys alive at once and eviction of
//! idle ones.

use std::ffi::c_char;
use std::time::Duration;

use seawall::{KeyedBreaker, KeyedMetrics, KeyedRejected, KeyedTicket};
use seawall_bindings_support::DynClock;

use crate::breaker::permit::{outcome_arg, permit_error, rejected, ISSUED, REPORTED};
use crate::breaker::{seawall_metrics, seawall_rejection, seawall_state};
use crate::clock::seawall_manual_clock;
use crate::config::{new_engine, seawall_breaker_config};
use crate::error::{
    check, check_optional, fail, name_arg, put, run, run_code, seawall_result, Error,
};
use crate::handle;
use crate::keyed_rate_limit::key_arg;

/// The family behind every handle: keys are byte strings.
type CKeyedBreaker = KeyedBreaker<DynClock>;

/// A breaker per key, made on the key's first call from one configuration,
/// at most `max_keys` keys alive at once. A key is idle (and may be evicted
/// to make room for a new key, or by `seawall_keyed_breaker_evict_idle`)
/// when no permit of it is outstanding, it has not been used for
/// `idle_timeout_ns`, and its breaker is CLOSED, or HALF_OPEN with no trial
/// in flight; an OPEN or forced breaker is never evicted. An evicted key's
/// next call gets a fresh CLOSED breaker. Reference-counted like
/// `seawall_breaker`; every function taking one is thread-safe.
pub struct seawall_keyed_breaker {
    _private: [u8; 0],
}

handle::declare!(seawall_keyed_breaker: CKeyedBreaker, Shared, "breaker");

/// Permission to make one call of one key, written by
/// `seawall_keyed_breaker_try_acquire` on success. Report it exactly once
/// with `seawall_keyed_breaker_report` on the family that issued it: until
/// then it keeps its key's breaker alive and from eviction. The report
/// marks it used, so reporting the same struct again returns
/// `SEAWALL_RESULT_PERMIT_ALREADY_REPORTED`; reporting a copy made before
/// the first report is undefined behaviour (do not copy permits). Treat the
/// fields as opaque.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct seawall_keyed_permit {
    /// The number of the key's breaker's episode that issued the permit.
    pub episode: u64,
    /// The clock reading when the permit was issued (0 when slow-call
    /// timing is off).
    pub start: u64,
    /// The address of the key's entry.
    pub entry: usize,
    /// The address of the family that issued it.
    pub owner: usize,
    /// Issued or reported (internal magic numbers; 0 is "never issued").
    pub status: u32,
}

/// The totals of a keyed breaker over every key it ever had, evicted ones
/// included: each count but `keys` only grows.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct seawall_keyed_metrics {
    /// Calls admitted by their key's breaker.
    pub permitted: u64,
    /// Calls refused by their key's breaker.
    pub rejected: u64,
    /// Calls of new keys refused with `SEAWALL_RESULT_KEYED_FULL`.
    pub full: u64,
    /// Successes reported (including ones their breaker counted as late).
    pub successes: u64,
    /// Failures reported (likewise).
    pub failures: u64,
    /// Neutral outcomes reported (likewise).
    pub ignored: u64,
    /// Breakers made.
    pub created: u64,
    /// Breakers evicted.
    pub evicted: u64,
    /// Keys alive now.
    pub keys: u64,
}

impl From<KeyedMetrics> for seawall_keyed_metrics {
    fn from(m: KeyedMetrics) -> Self {
        Self {
            permitted: m.permitted,
            rejected: m.rejected,
            full: m.full,
            successes: m.successes,
            failures: m.failures,
            ignored: m.ignored,
            created: m.created,
            evicted: m.evicted,
            keys: m.keys,
        }
    }
}

/// Creates a keyed breaker whose breakers are made from `*config` (NULL for
/// the defaults) and named `prefix` (NUL-terminated UTF-8; NULL for none)
/// followed by the key, with at most `max_keys` (1..=1048576) keys alive
/// and keys idle after `idle_timeout_ns` (at most one year; 0 makes any key
/// with no permit outstanding and a CLOSED breaker idle), and writes its
/// handle to `*out`. `clock` is NULL for the production clock or a manual
/// clock (for tests). Release it with `seawall_keyed_breaker_free`.
///
/// # Safety
///
/// `config` is NULL or valid; `prefix` is NULL or NUL-terminated; `clock`
/// is NULL or a live handle; `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_keyed_breaker_new(
    config: *const seawall_breaker_config,
    prefix: *const c_char,
    max_keys: u32,
    idle_timeout_ns: u64,
    clock: *const seawall_manual_clock,
    out: *mut *const seawall_keyed_breaker,
) -> seawall_result {
    const F: &str = "seawall_keyed_breaker_new";
    let prefix = if prefix.is_null() {
        ""
    } else {
        // SAFETY: `prefix` is NUL-terminated (this function's contract).
        match unsafe { name_arg(prefix, F, "prefix") } {
            Ok(p) => p,
            Err(e) => return run(F, || Err(e)),
        }
    };
    let idle = Duration::from_nanos(idle_timeout_ns);
    let build = |config, clock| CKeyedBreaker::with_clock(prefix, config, max_keys, idle, clock);
    // SAFETY: `config` is NULL or valid, `clock` NULL or a live handle,
    // `out` NULL or valid for a write (this function's contract).
    unsafe { new_engine(F, config, clock, out, build) }
}

/// Writes a new handle to the same keyed breaker to `*out`.
///
/// # Safety
///
/// `breaker` is NULL or a live handle; `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_keyed_breaker_clone(
    breaker: *const seawall_keyed_breaker,
    out: *mut *const seawall_keyed_breaker,
) -> seawall_result {
    // SAFETY: `breaker` is NULL or a live handle, `out` NULL or valid for a
    // write (this function's contract).
    unsafe { handle::clone_handle("seawall_keyed_breaker_clone", breaker, out) }
}

/// Releases one keyed breaker handle. `NULL` is a no-op. Permits still
/// outstanding must be reported before the last handle is released.
///
/// # Safety
///
/// `breaker` is NULL or a live handle, which must not be used afterwards.
#[no_mangle]
pub unsafe extern "C" fn seawall_keyed_breaker_free(breaker: *const seawall_keyed_breaker) {
    // SAFETY: `breaker` is NULL or a live handle the caller gives up (this
    // function's contract).
    unsafe { handle::free_handle("seawall_keyed_breaker_free", breaker) }
}

/// Asks the breaker of the key `key[..key_len]` (bytes; NULL only with
/// `key_len` 0) for permission to make one call, making the key's breaker
/// if it has none.
///
/// Returns `SEAWALL_RESULT_OK` and writes `*out_permit`: make the call,
/// then report it with `seawall_keyed_breaker_report`.
/// `SEAWALL_RESULT_REJECTED` and writes `*out_rejection` (if not NULL): the
/// key's breaker refused the call. `SEAWALL_RESULT_KEYED_FULL`: the key is
/// new, `max_keys` keys are alive and none is idle. Refusals are answers:
/// the last error is left alone. Nothing is written on other results.
///
/// # Safety
///
/// `breaker` is NULL or a live handle; `key` is NULL or valid for reads of
/// `key_len` bytes; `out_permit` is NULL or valid for a write;
/// `out_rejection` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_keyed_breaker_try_acquire(
    breaker: *const seawall_keyed_breaker,
    key: *const u8,
    key_len: usize,
    out_permit: *mut seawall_keyed_permit,
    out_rejection: *mut seawall_rejection,
) -> seawall_result {
    const F: &str = "seawall_keyed_breaker_try_acquire";
    run_code(F, || {
        let args = || {
            // SAFETY: `breaker` is NULL or a live handle (this function's
            // contract).
            let b = unsafe { handle::borrow(breaker, F) }?;
            // SAFETY: `key` is NULL or valid for reads of `key_len` bytes
            // (this function's contract).
            let key = unsafe { key_arg(key, key_len, F) }?;
            // Checked before acquiring, so no permit is taken that could
            // not be handed out.
            check(out_permit, F, "out_permit")?;
            check_optional(out_rejection, F, "out_rejection")?;
            Ok::<_, Error>((b, key))
        };
        let (b, key) = match args() {
            Ok(a) => a,
            Err(e) => return fail(e),
        };
        match b.try_acquire(key) {
            Ok(p) => {
                let (owner, entry, episode, start) = p.into_ticket().into_parts();
                let permit = seawall_keyed_permit {
                    episode,
                    start,
                    entry,
                    owner,
                    status: ISSUED,
                };
                // SAFETY: checked non-NULL and aligned; valid by the
                // contract.
                unsafe { out_permit.write(permit) };
                seawall_result::Ok
            }
            // SAFETY: `out_rejection` is NULL or checked aligned, and valid
            // by the contract.
            Err(KeyedRejected::Open(r)) => unsafe { rejected(r, out_rejection) },
            Err(KeyedRejected::Full { .. }) => seawall_result::KeyedFull,
        }
    })
}

/// Reports `outcome` (a `seawall_outcome`, passed as a number so that an
/// out-of-range value is an error) for the call made under `*permit`, and
/// marks the permit reported. A permit of another family returns
/// `SEAWALL_RESULT_PERMIT_WRONG_BREAKER`, a reported one
/// `SEAWALL_RESULT_PERMIT_ALREADY_REPORTED`, a never-issued one
/// `SEAWALL_RESULT_PERMIT_NOT_ISSUED`; each leaves the permit as it was.
///
/// # Safety
///
/// `breaker` is NULL or a live handle; `permit` is NULL or valid for reads
/// and writes, and not a copy of a permit reported before.
#[no_mangle]
pub unsafe extern "C" fn seawall_keyed_breaker_report(
    breaker: *const seawall_keyed_breaker,
    permit: *mut seawall_keyed_permit,
    outcome: u32,
) -> seawall_result {
    const F: &str = "seawall_keyed_breaker_report";
    run(F, || {
        let outcome = outcome_arg(F, outcome)?;
        // SAFETY: `breaker` is NULL or a live handle (this function's
        // contract).
        let b = unsafe { handle::borrow(breaker, F) }?;
        check(permit, F, "permit")?;
        // SAFETY: checked non-NULL and aligned; valid and not otherwise
        // referenced during this call by the contract.
        let p = unsafe { &mut *permit };
        if p.status != ISSUED || p.owner != b as *const CKeyedBreaker as usize {
            return Err(permit_error(F, p.status));
        }
        p.status = REPORTED;
        // SAFETY: the parts were written by a successful acquire on this
        // family (status and owner checked) and not reported since (the
        // status; copies are excluded by the contract).
        let ticket = unsafe { KeyedTicket::from_parts(p.owner, p.entry, p.episode, p.start) };
        b.record(ticket, outcome);
        Ok(())
    })
}

/// Runs `f` on the breaker of the key `key[..key_len]`, or returns
/// `SEAWALL_RESULT_NOT_FOUND` if it has none; makes none.
///
/// # Safety
///
/// `breaker` is NULL or a live handle; `key` NULL or valid for reads of
/// `key_len` bytes; `out` NULL or valid for a write.
unsafe fn of_key<T>(
    func: &'static str,
    breaker: *const seawall_keyed_breaker,
    key: *const u8,
    key_len: usize,
    out: *mut T,
    param: &'static str,
    f: impl FnOnce(&seawall::Breaker<DynClock>) -> T,
) -> seawall_result {
    run(func, || {
        // SAFETY: `breaker` is NULL or a live handle (the caller's
        // contract).
        let b = unsafe { handle::borrow(breaker, func) }?;
        // SAFETY: `key` is NULL or valid for reads of `key_len` bytes (the
        // caller's contract).
        let key = unsafe { key_arg(key, key_len, func) }?;
        let value = || {
            b.with(key, f).ok_or_else(|| {
                Error::new(
                    seawall_result::NotFound,
                    format!("{func}: no breaker for the key \"{}\"", key.escape_ascii()),
                )
            })
        };
        // SAFETY: `out` is NULL or valid for a write (the caller's
        // contract).
        unsafe { put(out, func, param, value) }
    })
}

/// Writes the state of the breaker of the key `key[..key_len]` to
/// `*out_state`, or returns `SEAWALL_RESULT_NOT_FOUND` if the key has none
/// (never used, or evicted).
///
/// # Safety
///
/// `breaker` is NULL or a live handle; `key` is NULL or valid for reads of
/// `key_len` bytes; `out_state` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_keyed_breaker_state(
    breaker: *const seawall_keyed_breaker,
    key: *const u8,
    key_len: usize,
    out_state: *mut seawall_state,
) -> seawall_result {
    const F: &str = "seawall_keyed_breaker_state";
    // SAFETY: this function's contract.
    unsafe {
        of_key(F, breaker, key, key_len, out_state, "out_state", |b| {
            b.state().into()
        })
    }
}

/// Writes the metrics of the breaker of the key `key[..key_len]` to
/// `*out`, or returns `SEAWALL_RESULT_NOT_FOUND` if the key has none.
///
/// # Safety
///
/// `breaker` is NULL or a live handle; `key` is NULL or valid for reads of
/// `key_len` bytes; `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_keyed_breaker_key_metrics(
    breaker: *const seawall_keyed_breaker,
    key: *const u8,
    key_len: usize,
    out: *mut seawall_metrics,
) -> seawall_result {
    const F: &str = "seawall_keyed_breaker_key_metrics";
    // SAFETY: this function's contract.
    unsafe {
        of_key(F, breaker, key, key_len, out, "out", |b| {
            (&b.metrics()).into()
        })
    }
}

/// Writes the family's totals over every key it ever had to `*out`.
///
/// # Safety
///
/// `breaker` is NULL or a live handle; `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_keyed_breaker_metrics(
    breaker: *const seawall_keyed_breaker,
    out: *mut seawall_keyed_metrics,
) -> seawall_result {
    const F: &str = "seawall_keyed_breaker_metrics";
    let f = |b: &CKeyedBreaker| b.metrics().into();
    // SAFETY: `breaker` is NULL or a live handle, `out` NULL or valid for a
    // write (this function's contract).
    unsafe { handle::get(F, breaker, out, "out", f) }
}

/// Evicts every idle key now and writes how many to `*out_evicted` (new
/// keys evict idle ones when the family is full; call this periodically to
/// free memory sooner).
///
/// # Safety
///
/// `breaker` is NULL or a live handle; `out_evicted` is NULL or valid for
/// a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_keyed_breaker_evict_idle(
    breaker: *const seawall_keyed_breaker,
    out_evicted: *mut usize,
) -> seawall_result {
    const F: &str = "seawall_keyed_breaker_evict_idle";
    let f = CKeyedBreaker::evict_idle;
    // SAFETY: `breaker` is NULL or a live handle, `out_evicted` NULL or
    // valid for a write (this function's contract).
    unsafe { handle::get(F, breaker, out_evicted, "out_evicted", f) }
}

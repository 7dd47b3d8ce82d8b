//! The keyed rate limiter handle: one GCRA limit per key (the key given as
//! bytes) in a fixed table of slots, with the same checks and reservations
//! as `seawall_rate_limiter`.

use std::time::Duration;

use seawall::KeyedRateLimiter;
use seawall_bindings_support::DynClock;

use crate::clock::seawall_manual_clock;
use crate::config::new_engine;
use crate::error::{seawall_result, Error};
use crate::handle;
use crate::rate_limit::{check_with, reserve_with, seawall_rate_limit_config};

/// The limiter type behind every handle: keys are byte strings, hashed
/// with a randomly seeded hash (as Python's `str` and `bytes` keys are).
type CKeyed = KeyedRateLimiter<[u8], DynClock>;

/// A rate limit per key (client, tenant, host) in bounded memory: keys are
/// hashed into a fixed table of slots, each a GCRA limiter, and keys that
/// share a slot share its allowance (a collision never lets a key exceed
/// its own limit). Reference-counted like `seawall_rate_limiter`; every
/// function taking one is thread-safe.
pub struct seawall_keyed_rate_limiter {
    _private: [u8; 0],
}

handle::declare!(seawall_keyed_rate_limiter: CKeyed, Shared, "limiter");

/// The key `key[..key_len]`: any bytes (NULL only with `key_len` 0, the
/// empty key).
///
/// # Safety
///
/// `key` is NULL or valid for reads of `key_len` bytes for `'a`.
#[inline(always)]
pub(crate) unsafe fn key_arg<'a>(
    key: *const u8,
    key_len: usize,
    func: &'static str,
) -> Result<&'a [u8], Error> {
    if key_len == 0 {
        return Ok(&[]);
    }
    if key.is_null() {
        return Err(Error::new(
            seawall_result::NullParameter,
            format!(
                "{func}: `key` is NULL with `key_len` = {key_len} (a NULL `key` needs `key_len` = 0)"
            ),
        ));
    }
    if key_len > isize::MAX as usize {
        return Err(Error::argument(
            func,
            "key_len",
            key_len,
            format_args!("at most {}", isize::MAX),
        ));
    }
    // SAFETY: non-NULL, `key_len` within `isize::MAX` (checked); valid for
    // reads of `key_len` bytes for 'a by the caller's contract (bytes have
    // no alignment to check).
    Ok(unsafe { std::slice::from_raw_parts(key, key_len) })
}

/// The arguments of the keyed `_check` and `_reserve`: the limiter behind
/// `limiter`, then the key `key[..key_len]`.
///
/// # Safety
///
/// `limiter` is NULL or a live handle and `key` NULL or valid for reads of
/// `key_len` bytes, both for `'a`.
#[inline(always)]
unsafe fn limiter_and_key<'a>(
    func: &'static str,
    limiter: *const seawall_keyed_rate_limiter,
    key: *const u8,
    key_len: usize,
) -> Result<(&'a CKeyed, &'a [u8]), Error> {
    // SAFETY: `limiter` is NULL or a live handle for 'a (the caller's
    // contract).
    let l = unsafe { handle::borrow(limiter, func) }?;
    // SAFETY: `key` is NULL or valid for `key_len` bytes for 'a (the
    // caller's contract).
    let key = unsafe { key_arg(key, key_len, func) }?;
    Ok((l, key))
}

/// Creates a keyed rate limiter from `*config` (NULL for the defaults),
/// applied to every key, with `slots` slots (1..=1048576, rounded up to a
/// power of two; 4096 keeps 100 keys busy at once 97.6% collision-free in
/// 32 KiB), every key's full burst available, and writes its handle to
/// `*out`. `clock` is NULL for the production clock or a manual clock (for
/// tests). Release it with `seawall_keyed_rate_limiter_free`.
///
/// # Safety
///
/// `config` is NULL or valid; `clock` is NULL or a live handle; `out` is
/// NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_keyed_rate_limiter_new(
    config: *const seawall_rate_limit_config,
    slots: u32,
    clock: *const seawall_manual_clock,
    out: *mut *const seawall_keyed_rate_limiter,
) -> seawall_result {
    const F: &str = "seawall_keyed_rate_limiter_new";
    let build = |config, clock| CKeyed::with_hasher(config, slots, clock, Default::default());
    // SAFETY: `config` is NULL or valid, `clock` NULL or a live handle,
    // `out` NULL or valid for a write (this function's contract).
    unsafe { new_engine(F, config, clock, out, build) }
}

/// Writes a new handle to the same keyed limiter to `*out`.
///
/// # Safety
///
/// `limiter` is NULL or a live handle; `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_keyed_rate_limiter_clone(
    limiter: *const seawall_keyed_rate_limiter,
    out: *mut *const seawall_keyed_rate_limiter,
) -> seawall_result {
    // SAFETY: `limiter` is NULL or a live handle, `out` NULL or valid for a
    // write (this function's contract).
    unsafe { handle::clone_handle("seawall_keyed_rate_limiter_clone", limiter, out) }
}

/// Releases one keyed limiter handle. `NULL` is a no-op.
///
/// # Safety
///
/// `limiter` is NULL or a live handle, which must not be used afterwards.
#[no_mangle]
pub unsafe extern "C" fn seawall_keyed_rate_limiter_free(
    limiter: *const seawall_keyed_rate_limiter,
) {
    // SAFETY: `limiter` is NULL or a live handle the caller gives up (this
    // function's contract).
    unsafe { handle::free_handle("seawall_keyed_rate_limiter_free", limiter) }
}

/// Admits one call for the key `key[..key_len]` (bytes; NULL only with
/// `key_len` 0) now (`SEAWALL_RESULT_OK`), or refuses it with
/// `SEAWALL_RESULT_RATE_LIMITED` and writes the nanoseconds until a call of
/// that key would be admitted to `*out_retry_after_ns` (if not NULL;
/// nothing is written on success), as `seawall_rate_limiter_check` does for
/// its one limit. A refusal is an answer, not an error: the last error is
/// left as it was, and a refused call changes nothing.
///
/// # Safety
///
/// `limiter` is NULL or a live handle; `key` is NULL or valid for reads of
/// `key_len` bytes; `out_retry_after_ns` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_keyed_rate_limiter_check(
    limiter: *const seawall_keyed_rate_limiter,
    key: *const u8,
    key_len: usize,
    out_retry_after_ns: *mut u64,
) -> seawall_result {
    const F: &str = "seawall_keyed_rate_limiter_check";
    // SAFETY: `limiter` is NULL or a live handle, `key` NULL or valid for
    // reads of `key_len` bytes (this function's contract).
    let args = || unsafe { limiter_and_key(F, limiter, key, key_len) };
    let decide = |(l, key): (&CKeyed, &[u8])| l.check_key(key);
    // SAFETY: `out_retry_after_ns` is NULL or valid for a write (this
    // function's contract).
    unsafe { check_with(F, args, out_retry_after_ns, decide) }
}

/// Reserves the next turn of the key `key[..key_len]` (bytes; NULL only
/// with `key_len` 0) if it comes within `max_wait_ns` nanoseconds, deciding
/// the wait once, as `seawall_rate_limiter_reserve` does for its one limit:
/// `SEAWALL_RESULT_OK` with the nanoseconds to sleep before the call
/// written to `*out_wait_ns` (0: go now), the turn taken;
/// `SEAWALL_RESULT_RATE_LIMITED` (an answer: the last error is left as it
/// was) when the wait would exceed `max_wait_ns` (or one year), with that
/// wait written to `*out_wait_ns` and nothing changed. A reserved turn is
/// spent even if the caller then gives up.
///
/// # Safety
///
/// `limiter` is NULL or a live handle; `key` is NULL or valid for reads of
/// `key_len` bytes; `out_wait_ns` is NULL or valid for a write (NULL is
/// refused with `SEAWALL_RESULT_NULL_PARAMETER`: the wait is the answer).
#[no_mangle]
pub unsafe extern "C" fn seawall_keyed_rate_limiter_reserve(
    limiter: *const seawall_keyed_rate_limiter,
    key: *const u8,
    key_len: usize,
    max_wait_ns: u64,
    out_wait_ns: *mut u64,
) -> seawall_result {
    const F: &str = "seawall_keyed_rate_limiter_reserve";
    let max_wait = Duration::from_nanos(max_wait_ns);
    // SAFETY: `limiter` is NULL or a live handle, `key` NULL or valid for
    // reads of `key_len` bytes (this function's contract).
    let args = || unsafe { limiter_and_key(F, limiter, key, key_len) };
    let decide = |(l, key): (&CKeyed, &[u8])| l.reserve_key(key, max_wait);
    // SAFETY: `out_wait_ns` is NULL or valid for a write (this function's
    // contract).
    unsafe { reserve_with(F, args, out_wait_ns, decide) }
}

/// Writes the configuration applied to every key to `*out`.
///
/// # Safety
///
/// `limiter` is NULL or a live handle; `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_keyed_rate_limiter_get_config(
    limiter: *const seawall_keyed_rate_limiter,
    out: *mut seawall_rate_limit_config,
) -> seawall_result {
    const F: &str = "seawall_keyed_rate_limiter_get_config";
    let f = |l: &CKeyed| l.config().into();
    // SAFETY: `limiter` is NULL or a live handle, `out` NULL or valid for a
    // write (this function's contract).
    unsafe { handle::get(F, limiter, out, "out", f) }
}

/// Writes the number of slots (the `slots` given to
/// `seawall_keyed_rate_limiter_new`, rounded up to a power of two) to
/// `*out_slots`.
///
/// # Safety
///
/// `limiter` is NULL or a live handle; `out_slots` is NULL or valid for a
/// write.
#[no_mangle]
pub unsafe extern "C" fn seawall_keyed_rate_limiter_slots(
    limiter: *const seawall_keyed_rate_limiter,
    out_slots: *mut u32,
) -> seawall_result {
    const F: &str = "seawall_keyed_rate_limiter_slots";
    // At most 2^20 slots (validated at creation): the cast is exact.
    let f = |l: &CKeyed| l.slots() as u32;
    // SAFETY: `limiter` is NULL or a live handle, `out_slots` NULL or valid
    // for a write (this function's contract).
    unsafe { handle::get(F, limiter, out_slots, "out_slots", f) }
}

/// Writes the bytes the limiter occupies, its table included, to
/// `*out_bytes`: fixed at creation, whatever keys it sees.
///
/// # Safety
///
/// `limiter` is NULL or a live handle; `out_bytes` is NULL or valid for a
/// write.
#[no_mangle]
pub unsafe extern "C" fn seawall_keyed_rate_limiter_memory_bytes(
    limiter: *const seawall_keyed_rate_limiter,
    out_bytes: *mut usize,
) -> seawall_result {
    const F: &str = "seawall_keyed_rate_limiter_memory_bytes";
    let f = CKeyed::memory_bytes;
    // SAFETY: `limiter` is NULL or a live handle, `out_bytes` NULL or valid
    // for a write (this function's contract).
    unsafe { handle::get(F, limiter, out_bytes, "out_bytes", f) }
}

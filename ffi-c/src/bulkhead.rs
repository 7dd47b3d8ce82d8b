//! The bulkhead handle: a bound on the calls in flight, with a bounded wait
//! queue, through paired acquire/release calls.

use std::time::Duration;

use seawall::{Bulkhead, BulkheadConfig, BulkheadError, BulkheadPermit, ConfigError};
use seawall_bindings_support::DynClock;

use crate::clock::seawall_manual_clock;
use crate::config::{nanos, new_engine, write_default, CConfig};
use crate::error::{check, fail, run, run_code, seawall_result, Error};
use crate::handle;

/// The bulkhead type behind every handle.
type CBulkhead = Bulkhead<DynClock>;

/// `seawall_bulkhead_permit.status` of a permit written by an acquire.
const ISSUED: u32 = 0x5EA7_B001;
/// `seawall_bulkhead_permit.status` after its one release.
const RELEASED: u32 = 0x5EA7_B002;

/// A bulkhead: at most `max_concurrent` calls in flight, at most
/// `max_queue_size` more waiting up to a timeout. Reference-counted like
/// `seawall_breaker`; every function taking one is thread-safe.
pub struct seawall_bulkhead {
    _private: [u8; 0],
}

handle::declare!(seawall_bulkhead: CBulkhead, Shared, "bulkhead");

/// How a bulkhead bounds its calls. Fill it with
/// `seawall_bulkhead_config_default` and change the fields you need.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct seawall_bulkhead_config {
    /// Calls in flight at once. 1..=UINT32_MAX, default 10.
    pub max_concurrent: u32,
    /// Calls that may wait for a slot. 0..=UINT32_MAX, default 100; 0 refuses at
    /// once when every slot is taken.
    pub max_queue_size: u32,
    /// How long `seawall_bulkhead_acquire` waits, in nanoseconds.
    /// [0, 1 year], default 30 s.
    pub timeout_ns: u64,
}

impl From<&BulkheadConfig> for seawall_bulkhead_config {
    fn from(c: &BulkheadConfig) -> Self {
        Self {
            max_concurrent: c.max_concurrent,
            max_queue_size: c.max_queue_size,
            timeout_ns: nanos(c.timeout),
        }
    }
}

impl CConfig for seawall_bulkhead_config {
    type Core = BulkheadConfig;

    fn to_core(&self) -> Result<BulkheadConfig, ConfigError> {
        Ok(BulkheadConfig {
            max_concurrent: self.max_concurrent,
            max_queue_size: self.max_queue_size,
            timeout: Duration::from_nanos(self.timeout_ns),
        })
    }
}

/// One slot of a bulkhead, written by a successful acquire. Release it
/// exactly once with `seawall_bulkhead_release` on the bulkhead that issued
/// it; the release marks it, so releasing the same struct again returns
/// `SEAWALL_RESULT_PERMIT_ALREADY_RELEASED`. Do not copy permits (a copy made
/// before the release cannot be told apart). A permit never released keeps
/// its slot taken for the bulkhead's lifetime. Treat the fields as opaque.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct seawall_bulkhead_permit {
    /// The address of the bulkhead that issued it.
    pub owner: usize,
    /// Issued or released (internal magic numbers; 0 is "never issued").
    pub status: u32,
}

/// Fills `*out` with the default configuration (10 in flight, a queue of
/// 100, a 30 s timeout).
///
/// # Safety
///
/// `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_bulkhead_config_default(
    out: *mut seawall_bulkhead_config,
) -> seawall_result {
    const F: &str = "seawall_bulkhead_config_default";
    // SAFETY: `out` is NULL or valid for a write (this function's contract).
    unsafe { write_default::<BulkheadConfig, _>(F, out) }
}

/// Creates a bulkhead from `*config` (NULL for the defaults) and writes its
/// handle to `*out`. `clock` is NULL for the production clock or a manual
/// clock (for tests: waiters' deadlines are read from it). Release it with
/// `seawall_bulkhead_free`.
///
/// # Safety
///
/// `config` is NULL or valid; `clock` is NULL or a live handle; `out` is
/// NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_bulkhead_new(
    config: *const seawall_bulkhead_config,
    clock: *const seawall_manual_clock,
    out: *mut *const seawall_bulkhead,
) -> seawall_result {
    const F: &str = "seawall_bulkhead_new";
    // SAFETY: `config` is NULL or valid, `clock` NULL or a live handle,
    // `out` NULL or valid for a write (this function's contract).
    unsafe { new_engine(F, config, clock, out, Bulkhead::with_clock) }
}

/// Writes a new handle to the same bulkhead to `*out`.
///
/// # Safety
///
/// `bulkhead` is NULL or a live handle; `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_bulkhead_clone(
    bulkhead: *const seawall_bulkhead,
    out: *mut *const seawall_bulkhead,
) -> seawall_result {
    // SAFETY: `bulkhead` is NULL or a live handle, `out` NULL or valid for
    // a write (this function's contract).
    unsafe { handle::clone_handle("seawall_bulkhead_clone", bulkhead, out) }
}

/// Releases one bulkhead handle. `NULL` is a no-op. Must not be called
/// while another thread is blocked in an acquire through this handle's last
/// reference.
///
/// # Safety
///
/// `bulkhead` is NULL or a live handle, which must not be used afterwards.
#[no_mangle]
pub unsafe extern "C" fn seawall_bulkhead_free(bulkhead: *const seawall_bulkhead) {
    // SAFETY: `bulkhead` is NULL or a live handle the caller gives up (this
    // function's contract).
    unsafe { handle::free_handle("seawall_bulkhead_free", bulkhead) }
}

/// Turns a core permit into the caller's token.
///
/// # Safety
///
/// `out` was checked non-NULL and aligned and is valid for a write.
unsafe fn issue(b: &CBulkhead, p: BulkheadPermit<'_, DynClock>, out: *mut seawall_bulkhead_permit) {
    p.detach();
    let token = seawall_bulkhead_permit {
        owner: std::ptr::from_ref(b) as usize,
        status: ISSUED,
    };
    // SAFETY: `out` is non-NULL, aligned and valid for a write (the
    // caller's contract).
    unsafe { out.write(token) };
}

/// The body of the acquires: `Ok` with the permit written, or the
/// bulkhead's answer (not recorded as an error).
///
/// # Safety
///
/// As the exported acquires.
unsafe fn acquire_with(
    func: &'static str,
    bulkhead: *const seawall_bulkhead,
    out_permit: *mut seawall_bulkhead_permit,
    take: impl FnOnce(&CBulkhead) -> Result<BulkheadPermit<'_, DynClock>, BulkheadError>,
) -> seawall_result {
    run_code(func, || {
        // SAFETY: `bulkhead` is NULL or a live handle (the caller's
        // contract).
        let b = match unsafe { handle::borrow(bulkhead, func) } {
            Ok(b) => b,
            Err(e) => return fail(e),
        };
        if let Err(e) = check(out_permit, func, "out_permit") {
            return fail(e);
        }
        match take(b) {
            Ok(p) => {
                // SAFETY: `out_permit` checked above; valid by the contract.
                unsafe { issue(b, p, out_permit) };
                seawall_result::Ok
            }
            Err(BulkheadError::Full) => seawall_result::BulkheadFull,
            Err(BulkheadError::Timeout) => seawall_result::BulkheadTimeout,
            // Only a `Waiter` can be cancelled, and none is exposed.
            Err(BulkheadError::Cancelled) => seawall_result::BulkheadTimeout,
        }
    })
}

/// Takes a slot if one is free, without waiting: `SEAWALL_RESULT_OK` with
/// `*out_permit` written, or `SEAWALL_RESULT_BULKHEAD_FULL` (an answer, the
/// last error is left alone). Release the permit with
/// `seawall_bulkhead_release`.
///
/// # Safety
///
/// `bulkhead` is NULL or a live handle; `out_permit` is NULL or valid for a
/// write.
#[no_mangle]
pub unsafe extern "C" fn seawall_bulkhead_try_acquire(
    bulkhead: *const seawall_bulkhead,
    out_permit: *mut seawall_bulkhead_permit,
) -> seawall_result {
    const F: &str = "seawall_bulkhead_try_acquire";
    // SAFETY: `bulkhead` is NULL or a live handle, `out_permit` NULL or
    // valid for a write (this function's contract).
    unsafe { acquire_with(F, bulkhead, out_permit, CBulkhead::try_acquire) }
}

/// Takes a slot, BLOCKING the calling thread up to `timeout_ns` nanoseconds
/// (of the bulkhead's clock) for one when every slot is taken. Returns
/// `SEAWALL_RESULT_OK` with `*out_permit` written,
/// `SEAWALL_RESULT_BULKHEAD_FULL` at once when the queue is full, or
/// `SEAWALL_RESULT_BULKHEAD_TIMEOUT` when the wait ran out (both answers;
/// the last error is left alone). The thread sleeps (no spinning, no
/// lock held) until a release, or the deadline: on a manual clock, the
/// moment `seawall_manual_clock_advance`/`_set` moves the clock past it,
/// with no real time spent. It counts in `seawall_bulkhead_queue_size`.
/// A `timeout_ns` of 0 never waits but may still take a free slot.
///
/// # Safety
///
/// `bulkhead` is NULL or a live handle; `out_permit` is NULL or valid for a
/// write.
#[no_mangle]
pub unsafe extern "C" fn seawall_bulkhead_acquire_timeout(
    bulkhead: *const seawall_bulkhead,
    timeout_ns: u64,
    out_permit: *mut seawall_bulkhead_permit,
) -> seawall_result {
    const F: &str = "seawall_bulkhead_acquire_timeout";
    // SAFETY: `bulkhead` is NULL or a live handle, `out_permit` NULL or
    // valid for a write (this function's contract).
    let timeout = Duration::from_nanos(timeout_ns);
    // SAFETY: as above.
    unsafe { acquire_with(F, bulkhead, out_permit, |b| b.acquire_timeout(timeout)) }
}

/// As `seawall_bulkhead_acquire_timeout` with the configured `timeout_ns`:
/// BLOCKS the calling thread while it waits.
///
/// # Safety
///
/// `bulkhead` is NULL or a live handle; `out_permit` is NULL or valid for a
/// write.
#[no_mangle]
pub unsafe extern "C" fn seawall_bulkhead_acquire(
    bulkhead: *const seawall_bulkhead,
    out_permit: *mut seawall_bulkhead_permit,
) -> seawall_result {
    const F: &str = "seawall_bulkhead_acquire";
    // SAFETY: `bulkhead` is NULL or a live handle, `out_permit` NULL or
    // valid for a write (this function's contract).
    unsafe { acquire_with(F, bulkhead, out_permit, CBulkhead::acquire) }
}

/// Frees the slot `*permit` holds and marks the permit released (waking one
/// waiter, if any). Returns `SEAWALL_RESULT_PERMIT_ALREADY_RELEASED` for a
/// second release, `SEAWALL_RESULT_PERMIT_NOT_ISSUED` for a struct no
/// acquire wrote, `SEAWALL_RESULT_PERMIT_WRONG_BULKHEAD` for a permit of
/// another bulkhead; none of them frees anything.
///
/// # Safety
///
/// `bulkhead` is NULL or a live handle; `permit` is NULL or valid for reads
/// and writes, and used by one thread at a time.
#[no_mangle]
pub unsafe extern "C" fn seawall_bulkhead_release(
    bulkhead: *const seawall_bulkhead,
    permit: *mut seawall_bulkhead_permit,
) -> seawall_result {
    const F: &str = "seawall_bulkhead_release";
    run(F, || {
        // SAFETY: `bulkhead` is NULL or a live handle (this function's
        // contract).
        let b = unsafe { handle::borrow(bulkhead, F) }?;
        check(permit, F, "permit")?;
        // SAFETY: checked non-NULL and aligned; valid and not shared by the
        // contract.
        let p = unsafe { &mut *permit };
        match p.status {
            ISSUED => {}
            RELEASED => {
                return Err(Error::new(
                    seawall_result::PermitAlreadyReleased,
                    format!("{F}: the permit was already released"),
                ))
            }
            _ => {
                return Err(Error::new(
                    seawall_result::PermitNotIssued,
                    format!("{F}: the permit was never issued by a successful acquire"),
                ))
            }
        }
        if p.owner != std::ptr::from_ref(b) as usize {
            return Err(Error::new(
                seawall_result::PermitWrongBulkhead,
                format!("{F}: the permit was issued by another bulkhead"),
            ));
        }
        p.status = RELEASED;
        if b.release_detached() {
            Ok(())
        } else {
            // Only a copy of an already released permit gets here.
            Err(Error::new(
                seawall_result::PermitAlreadyReleased,
                format!("{F}: no slot is taken (a copy of this permit was released)"),
            ))
        }
    })
}

/// Writes the number of free slots now to `*out_count`.
///
/// # Safety
///
/// `bulkhead` is NULL or a live handle; `out_count` is NULL or valid for a
/// write.
#[no_mangle]
pub unsafe extern "C" fn seawall_bulkhead_available_permits(
    bulkhead: *const seawall_bulkhead,
    out_count: *mut u32,
) -> seawall_result {
    const F: &str = "seawall_bulkhead_available_permits";
    let f = CBulkhead::available_permits;
    // SAFETY: `bulkhead` is NULL or a live handle, `out_count` NULL or valid
    // for a write (this function's contract).
    unsafe { handle::get(F, bulkhead, out_count, "out_count", f) }
}

/// Writes the number of calls waiting for a slot now to `*out_count`.
///
/// # Safety
///
/// `bulkhead` is NULL or a live handle; `out_count` is NULL or valid for a
/// write.
#[no_mangle]
pub unsafe extern "C" fn seawall_bulkhead_queue_size(
    bulkhead: *const seawall_bulkhead,
    out_count: *mut u32,
) -> seawall_result {
    const F: &str = "seawall_bulkhead_queue_size";
    let f = CBulkhead::queue_size;
    // SAFETY: `bulkhead` is NULL or a live handle, `out_count` NULL or valid
    // for a write (this function's contract).
    unsafe { handle::get(F, bulkhead, out_count, "out_count", f) }
}

/// Writes the configuration the bulkhead was built with to `*out`.
///
/// # Safety
///
/// `bulkhead` is NULL or a live handle; `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_bulkhead_get_config(
    bulkhead: *const seawall_bulkhead,
    out: *mut seawall_bulkhead_config,
) -> seawall_result {
    let f = |b: &CBulkhead| b.config().into();
    // SAFETY: `bulkhead` is NULL or a live handle, `out` NULL or valid for a
    // write (this function's contract).
    unsafe { handle::get("seawall_bulkhead_get_config", bulkhead, out, "out", f) }
}

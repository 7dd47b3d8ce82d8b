//! Breakers: what the driver checks of each call on one (acquire, report,
//! metrics, rejections) and the scenarios it drives (trip, wait
//! retry_after, never stuck OPEN).

use std::cell::RefCell;
use std::ffi::{c_char, c_void, CString};
use std::ptr;

use seawall_ffi::*;
use seawall_fuzz::c::breaker_config;
use seawall_result as R;

use crate::call::{expect, last, permit_arg, permit_back_codes};
use crate::model::{pick, BreakerModel, Use, World};
use crate::ops::{ConfigSel, NameSel, ReportKind};

/// A `seawall_breaker_config` from the fields chosen, or `None` for a NULL config.
pub(crate) fn breaker_cfg(sel: &ConfigSel) -> Option<seawall_breaker_config> {
    match sel {
        ConfigSel::Null => None,
        ConfigSel::Fields(f) => Some(breaker_config(f)),
    }
}

/// A NUL-terminated name; `None` for NULL.
pub(crate) fn name_of(n: &NameSel) -> Option<CString> {
    match n {
        NameSel::Short(i) => Some(CString::new(format!("b{}", i % 4)).unwrap()),
        NameSel::Bytes(b) => {
            let end = b.iter().position(|c| *c == 0).unwrap_or(b.len());
            Some(CString::new(&b[..end]).unwrap())
        }
        NameSel::Null => None,
    }
}

pub(crate) fn name_ptr(n: &Option<CString>) -> *const c_char {
    n.as_ref().map_or(ptr::null(), |c| c.as_ptr())
}

pub(crate) fn longest_open_ns(c: &seawall_breaker_config) -> u64 {
    c.timeout_ns.max(c.max_timeout_ns)
}

/// Transition callbacks: check their arguments and call back into the
/// breaker (allowed: they run outside any lock).
pub(crate) unsafe extern "C" fn on_transition(
    user_data: *mut c_void,
    name: *const c_char,
    from: seawall_state,
    to: seawall_state,
    _at_ns: u64,
) {
    assert!(!name.is_null(), "callback without a name");
    assert_ne!(from, to, "a transition to the same state");
    let b = user_data as *const seawall_breaker;
    let mut s = seawall_state::Closed;
    // SAFETY: `user_data` is the breaker's address, live while it is.
    let r = unsafe { seawall_breaker_state(b, &mut s) };
    assert_eq!(r, R::Ok);
    let mut m = std::mem::MaybeUninit::<seawall_metrics>::uninit();
    // SAFETY: as above; `m` is valid for a write.
    assert_eq!(unsafe { seawall_breaker_metrics(b, m.as_mut_ptr()) }, R::Ok);
    CALLBACKS.with(|c| *c.borrow_mut() += 1);
}

thread_local! {
    static CALLBACKS: RefCell<u64> = const { RefCell::new(0) };
}

/// A `seawall_permit` holding `bytes` (as far as they reach), as a C
/// caller could leave in the struct: its fields are plain integers, so
/// every bit pattern is a value.
pub(crate) fn permit_from_bytes(bytes: &[u8; 32]) -> seawall_permit {
    let mut p = std::mem::MaybeUninit::<seawall_permit>::zeroed();
    let n = std::mem::size_of::<seawall_permit>().min(bytes.len());
    // SAFETY: `n` bytes fit both; the struct's fields are integers (see the
    // header), for which any bytes are valid, and it was zeroed first.
    unsafe {
        ptr::copy_nonoverlapping(bytes.as_ptr(), p.as_mut_ptr().cast::<u8>(), n);
        p.assume_init()
    }
}

impl World {
    /// A breaker handle was released: the breaker dies with its last
    /// reference; its permits are dropped from the slots (reporting them to
    /// a later breaker at the same address would be the caller's error).
    pub(crate) fn breaker_unref(&mut self, addr: usize, registry: bool) {
        let m = self.bmodels.get_mut(&addr).expect("model");
        if registry {
            m.registries -= 1;
        } else {
            m.refs -= 1;
        }
        if m.refs == 0 && m.registries == 0 {
            self.bmodels.remove(&addr);
            for s in &mut self.permits {
                if s.is_some_and(|p| p.owner == addr) {
                    *s = None;
                }
            }
        }
    }

    pub(crate) fn new_breaker_model(&mut self, addr: usize, clock: Option<usize>) {
        let mut config = std::mem::MaybeUninit::<seawall_breaker_config>::uninit();
        // SAFETY: `addr` is a live breaker; `config` is valid for a write.
        let r = unsafe { seawall_breaker_get_config(addr as *const _, config.as_mut_ptr()) };
        assert_eq!(r, R::Ok);
        let mut len = 0usize;
        // SAFETY: a NULL buffer of length 0 asks for the length.
        let r = unsafe { seawall_breaker_name(addr as *const _, ptr::null_mut(), 0, &mut len) };
        assert_eq!(r, R::BufferTooSmall, "the length query");
        let mut buf = vec![0u8; len + 1];
        // SAFETY: `buf` holds `len + 1` bytes.
        let r = unsafe {
            seawall_breaker_name(
                addr as *const _,
                buf.as_mut_ptr().cast(),
                buf.len(),
                ptr::null_mut(),
            )
        };
        assert_eq!(r, R::Ok);
        buf.truncate(len);
        let old = self.bmodels.insert(
            addr,
            BreakerModel {
                refs: 0,
                registries: 0,
                clock,
                // SAFETY: written by the successful call above.
                config: unsafe { config.assume_init() },
                name: buf,
                epoch: 0,
                outstanding: 0,
                extra: 0,
                rejected: 0,
            },
        );
        assert!(old.is_none(), "a new breaker at a live breaker's address");
    }

    /// Checks a rejection against the breaker's state and configuration.
    pub(crate) fn check_rejection(&self, addr: usize, why: &seawall_rejection) {
        let m = &self.bmodels[&addr];
        let now = self.clock_now(m.clock);
        match why.state {
            seawall_state::ForcedOpen => {
                assert!(why.until_reset && why.retry_after_ns == u64::MAX, "{why:?}");
            }
            seawall_state::Open => {
                assert!(
                    !why.until_reset && why.retry_after_ns != u64::MAX,
                    "{why:?}"
                );
                let longest = longest_open_ns(&m.config)
                    .saturating_add(1000)
                    .saturating_add(self.clock_back(m.clock));
                assert!(
                    why.retry_after_ns <= longest,
                    "OPEN retry_after {} ns above the longest open time {longest} ns",
                    why.retry_after_ns
                );
                assert!(
                    why.retry_after_ns > 0,
                    "rejected OPEN with retry_after 0 (clock {now:?})"
                );
            }
            seawall_state::HalfOpen => {
                assert!(!why.until_reset, "{why:?}");
                let limit = m
                    .config
                    .half_open_timeout_ns
                    .saturating_add(1000)
                    .saturating_add(self.clock_back(m.clock));
                assert!(
                    why.retry_after_ns <= limit,
                    "HALF_OPEN retry_after {} above the trial timeout {limit}",
                    why.retry_after_ns
                );
            }
            s => panic!("rejected in state {s:?}"),
        }
    }

    /// Acquires on breaker `addr` (through handle `b`) into `out`; returns
    /// the result after the checks every acquire gets.
    pub(crate) unsafe fn acquire(
        &mut self,
        b: *const seawall_breaker,
        out: *mut seawall_permit,
        why: *mut seawall_rejection,
    ) -> seawall_result {
        let addr = b as usize;
        let before = last();
        let sentinel_permit = permit_from_bytes(&[0xA5; 32]);
        let sentinel_why = seawall_rejection {
            state: seawall_state::ForcedClosed,
            until_reset: true,
            retry_after_ns: 0xA5A5,
        };
        if !out.is_null() {
            unsafe { out.write(sentinel_permit) };
        }
        if !why.is_null() {
            unsafe { why.write(sentinel_why) };
        }
        let r = unsafe { seawall_breaker_try_acquire(b, out, why) };
        let allowed: &[R] = if out.is_null() {
            &[R::NullParameter]
        } else {
            &[R::Ok, R::Rejected]
        };
        expect("seawall_breaker_try_acquire", r, allowed, before);
        let m = self.bmodels.get_mut(&addr).expect("model");
        match r {
            R::Ok => {
                m.outstanding += 1;
                let p = unsafe { *out };
                assert_ne!(p.status, 0, "an issued permit reads as never issued");
                assert_eq!(p.owner, addr);
                if !why.is_null() {
                    assert_eq!(
                        unsafe { *why },
                        sentinel_why,
                        "rejection written on success"
                    );
                }
            }
            R::Rejected => {
                m.rejected += 1;
                assert_eq!(
                    unsafe { *out },
                    sentinel_permit,
                    "permit written on rejection"
                );
                if !why.is_null() {
                    let w = unsafe { *why };
                    assert_ne!(w, sentinel_why, "rejection not written");
                    self.check_rejection(addr, &w);
                }
            }
            _ => {
                if !why.is_null() {
                    assert_eq!(
                        unsafe { *why },
                        sentinel_why,
                        "rejection written on failure"
                    );
                }
            }
        }
        r
    }

    pub(crate) fn check_metrics(&self, b: *const seawall_breaker) -> seawall_metrics {
        let addr = b as usize;
        let mut m = std::mem::MaybeUninit::<seawall_metrics>::uninit();
        let before = last();
        // SAFETY: live handle; `m` valid for a write.
        let r = unsafe { seawall_breaker_metrics(b, m.as_mut_ptr()) };
        expect("seawall_breaker_metrics", r, &[R::Ok], before);
        // SAFETY: written by the successful call.
        let m = unsafe { m.assume_init() };
        let model = &self.bmodels[&addr];
        assert_eq!(
            m.permitted + model.extra,
            m.successes + m.failures + m.ignored + m.late + model.outstanding,
            "books do not balance ({} outstanding, {} earlier): {m:?}",
            model.outstanding,
            model.extra
        );
        assert_eq!(m.rejected, model.rejected, "rejections miscounted: {m:?}");
        let mut s = seawall_state::Closed;
        // SAFETY: live handle.
        assert_eq!(unsafe { seawall_breaker_state(b, &mut s) }, R::Ok);
        assert_eq!(s, m.state, "state and metrics disagree");
        m
    }

    /// Reports slot `slot` (or a zeroed permit for an empty slot) on `b`.
    pub(crate) unsafe fn report(
        &mut self,
        b: *const seawall_breaker,
        slot: usize,
        kind: &ReportKind,
        null: bool,
    ) {
        let addr = b as usize;
        let mut tmp = unsafe { std::mem::zeroed::<seawall_permit>() };
        let entry = self.permits[slot];
        let held = self.permits[slot].as_mut().map(|s| &mut s.permit);
        let (p, copy) = permit_arg(held, &mut tmp, null);
        let before = last();
        let (r, raw_outcome) = match kind {
            ReportKind::Success => (unsafe { seawall_breaker_report_success(b, p) }, None),
            ReportKind::Failure => (unsafe { seawall_breaker_report_failure(b, p) }, None),
            ReportKind::Ignored => (unsafe { seawall_breaker_report_ignored(b, p) }, None),
            ReportKind::Raw(o, d) => (unsafe { seawall_breaker_report(b, p, *o, d.0) }, Some(*o)),
        };
        let bad_outcome = raw_outcome.is_some_and(|o| o > 2);
        let allowed: Vec<R> = if bad_outcome {
            vec![R::InvalidArgument]
        } else if null {
            vec![R::NullParameter]
        } else {
            let e = entry.map(|e| (e.state, e.owner));
            permit_back_codes(e, addr, R::PermitAlreadyReported, R::PermitWrongBreaker)
        };
        // `null` with a bad outcome: either argument may be the one named.
        let allowed = if bad_outcome && null {
            vec![R::InvalidArgument, R::NullParameter]
        } else {
            allowed
        };
        expect("seawall_breaker_report*", r, &allowed, before);
        if r == R::Ok {
            let e = entry.expect("reported a slot");
            let m = self.bmodels.get_mut(&addr).expect("model");
            if e.epoch == m.epoch {
                m.outstanding -= 1;
            } else {
                m.extra += 1;
            }
            let s = self.permits[slot].as_mut().expect("slot");
            s.state = Use::Used;
            assert_ne!(
                s.permit,
                copy.unwrap(),
                "the permit was not marked reported"
            );
        } else if let Some(c) = copy {
            assert_eq!(unsafe { *p }, c, "the permit changed on failure");
        }
    }

    /// `acquire` into a new permit and rejection: the result and both.
    pub(crate) unsafe fn acquire_new(
        &mut self,
        b: *const seawall_breaker,
    ) -> (seawall_result, seawall_permit, seawall_rejection) {
        let mut p = unsafe { std::mem::zeroed::<seawall_permit>() };
        let mut why = unsafe { std::mem::zeroed::<seawall_rejection>() };
        let r = unsafe { self.acquire(b, &mut p, &mut why) };
        (r, p, why)
    }

    /// Reports permit `p` of `b` through `report`, which must take it, and
    /// takes it off the books.
    pub(crate) unsafe fn hand_back(
        &mut self,
        b: *const seawall_breaker,
        mut p: seawall_permit,
        report: unsafe extern "C" fn(*const seawall_breaker, *mut seawall_permit) -> R,
    ) {
        assert_eq!(unsafe { report(b, &mut p) }, R::Ok);
        self.bmodels
            .get_mut(&(b as usize))
            .expect("model")
            .outstanding -= 1;
    }

    pub(crate) fn breaker_handle(&self, i: u8) -> Option<*const seawall_breaker> {
        pick(&self.breakers, i).map(|(_, b)| b)
    }

    /// On a manual clock, advance past the longest open time (and a trial
    /// batch's timeout) until a trial is admitted: at most three rounds.
    pub(crate) unsafe fn not_stuck(&mut self, b: *const seawall_breaker) {
        let addr = b as usize;
        let m = &self.bmodels[&addr];
        let Some(clock_addr) = m.clock else { return };
        let Some(clock) = self.clock_handle(clock_addr) else {
            return;
        };
        let step = longest_open_ns(&m.config)
            .saturating_add(m.config.half_open_timeout_ns)
            .saturating_add(1000)
            .saturating_add(self.clock_back(m.clock));
        for round in 0..4 {
            let (r, p, why) = unsafe { self.acquire_new(b) };
            match r {
                R::Ok => {
                    // The trial goes back at once, as neutral.
                    unsafe { self.hand_back(b, p, seawall_breaker_report_ignored) };
                    return;
                }
                R::Rejected if why.state == seawall_state::ForcedOpen => return,
                R::Rejected => {}
                r => panic!("acquire returned {r:?}"),
            }
            let now = self.clock_time[&clock_addr];
            if round == 3 {
                panic!(
                    "stuck {:?}: no trial after moving the clock {step} ns three times (now {now}, retry_after {})",
                    why.state, why.retry_after_ns
                );
            }
            if now.checked_add(step).is_none() {
                // The clock cannot move that far: nothing to conclude.
                return;
            }
            assert_eq!(unsafe { seawall_manual_clock_advance(clock, step) }, R::Ok);
            self.clock_moved(clock_addr, now + step);
        }
    }

    /// Fails calls until the breaker leaves CLOSED, at most 64 of them.
    pub(crate) unsafe fn trip(&mut self, b: *const seawall_breaker) {
        for _ in 0..64 {
            let (r, p, _) = unsafe { self.acquire_new(b) };
            if r != R::Ok {
                return;
            }
            unsafe { self.hand_back(b, p, seawall_breaker_report_failure) };
            let mut s = seawall_state::Closed;
            assert_eq!(unsafe { seawall_breaker_state(b, &mut s) }, R::Ok);
            if !matches!(s, seawall_state::Closed | seawall_state::ForcedClosed) {
                return;
            }
        }
    }

    /// After an OPEN rejection, waiting exactly retry_after admits a trial.
    pub(crate) unsafe fn wait_retry_after(&mut self, b: *const seawall_breaker) {
        let addr = b as usize;
        let Some(clock_addr) = self.bmodels[&addr].clock else {
            return;
        };
        let Some(clock) = self.clock_handle(clock_addr) else {
            return;
        };
        let (r, p, why) = unsafe { self.acquire_new(b) };
        if r == R::Ok {
            unsafe { self.hand_back(b, p, seawall_breaker_report_ignored) };
            return;
        }
        if why.state != seawall_state::Open {
            return;
        }
        let now = self.clock_time[&clock_addr];
        let Some(then) = now.checked_add(why.retry_after_ns) else {
            return;
        };
        unsafe { self.set_clock(clock, then) };
        match unsafe { self.acquire_new(b) } {
            (R::Ok, p, _) => unsafe { self.hand_back(b, p, seawall_breaker_report_ignored) },
            (r, _, why2) => panic!(
                "OPEN said retry after {} ns; after waiting that long: {r:?} {why2:?} (clock {then})",
                why.retry_after_ns
            ),
        }
    }
}

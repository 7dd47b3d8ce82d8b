//! The C ABI driven as a C caller would drive it: the input is a sequence
//! of calls on the exported `seawall_*` functions (handles made, cloned and
//! freed; breakers from arbitrary config structs, alone or in registries;
//! permits acquired and reported, twice, on the wrong breaker, zeroed,
//! forged or copied; manual clocks moved to arbitrary times including near
//! `u64::MAX`; commands; metrics; names with arbitrary bytes and buffer
//! lengths; NULL where the header allows it; rate limiters, bulkheads, retry
//! budgets, back-off and retry states).
//!
//! After every call it checks what include/seawall.h promises:
//! - no crash, no undefined behaviour (ASan), no panic (libFuzzer aborts on
//!   the panic itself, before the catcher would turn it into
//!   SEAWALL_RESULT_PANIC);
//! - the result is one the header documents for that function and
//!   situation;
//! - outputs are written only on success (and the rejection only on
//!   SEAWALL_RESULT_REJECTED);
//! - failures set the last error to their code; successes and answers
//!   (REJECTED, RATE_LIMITED, BULKHEAD_FULL, BULKHEAD_TIMEOUT) leave it;
//! - a breaker's books balance: `permitted == successes + failures +
//!   ignored + late + permits outstanding`, `rejected` counts the
//!   rejections;
//! - a rejection says why and when: FORCED_OPEN exactly when
//!   `until_reset` and `retry_after_ns == UINT64_MAX`; OPEN with a
//!   retry_after in (0, longest open time]; HALF_OPEN within the trial
//!   batch's timeout; after waiting retry_after an OPEN breaker admits a
//!   trial;
//! - a breaker is never stuck OPEN: once the manual clock has moved past the
//!   longest open time (and a trial batch's timeout) a trial is admitted;
//! - a bulkhead counts its slots exactly; a rate limiter's refusal names a
//!   wait after which it admits; a retry budget keeps retries within
//!   requests and its remaining share in [0, 100];
//! - a retry state counts its attempts and total delay exactly, refuses a
//!   report with no attempt in progress, stops for the reasons the header
//!   gives (not retryable, the last attempt, the delay cap, the budget, a
//!   trial beyond `max_delay_ns`) and otherwise grants a delay within
//!   `max_delay_ns` (a breaker wait equal to the trial announced).
//!
//! The clock may be anywhere in `u64`, near `u64::MAX` included (the
//! `HighClock` step goes there directly).
#![no_main]

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::ptr;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use seawall_ffi::*;
use seawall_fuzz::c::{
    breaker_config, budget_config, bulkhead_config, manual_clock_new, rate_limiter_config,
    retry_config, BreakerField, BudgetField, BulkheadField, RateField, RetryField,
};
use seawall_fuzz::{Count, Float, Nanos};

use seawall_result as R;

/// Handles of one kind the driver holds at most; further `_new` are skipped.
const MAX_HANDLES: usize = 6;
/// Permit slots (breaker and bulkhead each).
const SLOTS: usize = 6;

#[derive(Arbitrary, Debug)]
enum ClockSel {
    /// NULL: the production clock.
    Production,
    /// One of the manual clocks held (production if there is none).
    Manual(u8),
}

#[derive(Arbitrary, Debug, Clone)]
enum ConfigSel {
    Null,
    Fields(Vec<BreakerField>),
}

/// A name: one of four short ones (so registries see the same names again)
/// or arbitrary bytes up to the first NUL, UTF-8 or not.
#[derive(Arbitrary, Debug)]
enum NameSel {
    Short(u8),
    Bytes(Vec<u8>),
    Null,
}

#[derive(Arbitrary, Debug)]
enum ReportKind {
    Success,
    Failure,
    Ignored,
    /// `seawall_breaker_report` with any outcome number and duration.
    Raw(u32, Nanos),
}

#[derive(Arbitrary, Debug)]
enum Forge {
    Zeroed,
    Bytes([u8; 32]),
    /// A copy of another slot's struct, taken only once that one was
    /// reported or released (copying a live permit is the caller's error).
    CopyOfUsed(u8),
}

#[derive(Arbitrary, Debug)]
enum Command {
    ForceOpen,
    ForceClosed,
    Reset,
    ClearMetrics,
}

#[derive(Arbitrary, Debug)]
enum Op {
    ClockNew,
    ClockFree(u8),
    ClockAdvance(u8, Nanos),
    ClockSet(u8, Nanos),
    ClockNow(u8, bool),
    BreakerNew {
        name: NameSel,
        config: ConfigSel,
        clock: ClockSel,
    },
    BreakerClone(u8),
    BreakerFree(u8),
    Acquire {
        b: u8,
        slot: u8,
        null_permit: bool,
        null_rejection: bool,
    },
    Report {
        b: u8,
        slot: u8,
        kind: ReportKind,
        null_permit: bool,
    },
    ForgePermit {
        slot: u8,
        how: Forge,
    },
    Command(u8, Command),
    Metrics(u8),
    State(u8),
    Name {
        b: u8,
        len: u8,
        null_buf: bool,
        null_len: bool,
    },
    Config(u8),
    Listener(u8),
    /// Fails calls until the breaker leaves CLOSED (at most 64).
    Trip(u8),
    /// A whole scenario in one step, so the fuzzer reaches it easily: a
    /// breaker on a manual clock set to `u64::MAX - below`, tripped, then
    /// checked for a trial after its retry_after and after its open time.
    HighClock {
        below: Nanos,
        config: ConfigSel,
    },
    NotStuck(u8),
    WaitRetryAfter(u8),
    RegistryNew(ClockSel),
    RegistryClone(u8),
    RegistryFree(u8),
    RegistryGetOrCreate {
        r: u8,
        name: NameSel,
        config: ConfigSel,
    },
    RegistryGet {
        r: u8,
        name: NameSel,
    },
    RegistryRemove {
        r: u8,
        name: NameSel,
    },
    RegistryCount(u8),
    RegistryForEach {
        r: u8,
        stop_after: u8,
    },
    LimiterNew {
        fields: Vec<RateField>,
        null_config: bool,
        clock: ClockSel,
    },
    LimiterClone(u8),
    LimiterFree(u8),
    LimiterCheck {
        l: u8,
        null_out: bool,
        then_wait: bool,
    },
    BulkheadNew {
        fields: Vec<BulkheadField>,
        null_config: bool,
        clock: ClockSel,
    },
    BulkheadClone(u8),
    BulkheadFree(u8),
    BulkheadTryAcquire {
        h: u8,
        slot: u8,
    },
    BulkheadAcquire {
        h: u8,
        slot: u8,
        timeout: Option<Nanos>,
    },
    BulkheadRelease {
        h: u8,
        slot: u8,
        null_permit: bool,
    },
    BulkheadForge {
        slot: u8,
        how: Forge,
    },
    BulkheadCounts(u8),
    BudgetNew {
        fields: Vec<BudgetField>,
        null_config: bool,
        clock: ClockSel,
    },
    BudgetClone(u8),
    BudgetFree(u8),
    BudgetRecord(u8, bool),
    BudgetCanRetry(u8, bool),
    BudgetReport(u8),
    RetryDelay {
        fields: Vec<RetryField>,
        null_config: bool,
        attempt: Count,
        previous: Nanos,
        unit: Float,
    },
    RetryStateNew {
        fields: Vec<RetryField>,
        null_config: bool,
        seed: u64,
    },
    RetryStateFree(u8),
    RetryStateBegin {
        s: u8,
        /// One of the budgets held (NULL if none, or for `None`).
        budget: Option<u8>,
        null_out: bool,
    },
    RetryStateFailed {
        s: u8,
        retryable: bool,
        budget: Option<u8>,
        null_stop: bool,
    },
    RetryStateRejected {
        s: u8,
        /// `None`: `UINT64_MAX`, no trial announced.
        retry_after: Option<Nanos>,
        budget: Option<u8>,
    },
    ResultMessage {
        code: u32,
        len: u8,
    },
    LastErrorMessage {
        len: u8,
    },
    StateName(u32),
    NullHandle(u8),
}

// --- the model of what the driver holds -------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Use {
    Issued,
    Used,
    Forged,
}

#[derive(Clone, Copy, Debug)]
struct PermitSlot {
    permit: seawall_permit,
    owner: usize,
    state: Use,
    /// The metrics epoch (count of clears) it was issued in.
    epoch: u64,
}

#[derive(Clone, Copy, Debug)]
struct SlotSlot {
    permit: seawall_bulkhead_permit,
    owner: usize,
    state: Use,
}

#[derive(Debug)]
struct BreakerModel {
    refs: usize,
    registries: usize,
    clock: Option<usize>,
    config: seawall_breaker_config,
    name: Vec<u8>,
    epoch: u64,
    /// Permits of this epoch not yet reported.
    outstanding: u64,
    /// Reports this epoch of permits issued in an earlier one.
    extra: u64,
    rejected: u64,
}

#[derive(Debug, Default)]
struct RegistryModel {
    refs: usize,
    clock: Option<usize>,
    names: BTreeMap<Vec<u8>, usize>,
}

#[derive(Debug)]
struct BulkheadModel {
    refs: usize,
    max: u32,
    queue: u32,
    timeout_ns: u64,
    manual: bool,
    held: u32,
}

#[derive(Debug)]
struct LimiterModel {
    refs: usize,
    clock: Option<usize>,
}

#[derive(Debug)]
struct BudgetModel {
    refs: usize,
    max_tokens: u32,
}

/// What the driver knows of a retry state.
#[derive(Debug)]
struct RetryStateModel {
    config: seawall_retry_config,
    attempts: u32,
    total_ns: u64,
    in_attempt: bool,
}

#[derive(Default)]
struct World {
    clocks: Vec<*const seawall_manual_clock>,
    /// Clock address -> (handles held, reading).
    clock_time: HashMap<usize, u64>,
    /// Clock address -> the highest reading it has had (the clock may be
    /// set backwards; a deadline is at most an open time past this).
    clock_max: HashMap<usize, u64>,
    breakers: Vec<*const seawall_breaker>,
    bmodels: HashMap<usize, BreakerModel>,
    registries: Vec<*const seawall_registry>,
    rmodels: HashMap<usize, RegistryModel>,
    limiters: Vec<*const seawall_rate_limiter>,
    lmodels: HashMap<usize, LimiterModel>,
    bulkheads: Vec<*const seawall_bulkhead>,
    hmodels: HashMap<usize, BulkheadModel>,
    budgets: Vec<*const seawall_retry_budget>,
    gmodels: HashMap<usize, BudgetModel>,
    states: Vec<(*mut seawall_retry_state, RetryStateModel)>,
    permits: [Option<PermitSlot>; SLOTS],
    slots: [Option<SlotSlot>; SLOTS],
}

fn pick<T: Copy>(v: &[T], i: u8) -> Option<(usize, T)> {
    if v.is_empty() {
        None
    } else {
        let i = usize::from(i) % v.len();
        Some((i, v[i]))
    }
}

fn last() -> seawall_result {
    seawall_last_error()
}

/// Checks `r` against the codes `allowed` and the last-error rule.
#[track_caller]
fn expect(func: &str, r: seawall_result, allowed: &[seawall_result], before: seawall_result) {
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

/// A model of a handle type: how many handles of it the driver holds.
trait Counted {
    fn refs(&mut self) -> &mut usize;
}

macro_rules! counted {
    ($($model:ty),*) => {$(
        impl Counted for $model {
            fn refs(&mut self) -> &mut usize {
                &mut self.refs
            }
        }
    )*};
}

counted!(
    BreakerModel,
    RegistryModel,
    LimiterModel,
    BulkheadModel,
    BudgetModel
);

/// The config argument of a `_new` that takes NULL for the defaults, with
/// the results the header allows for it: NULL always builds; a struct
/// builds or is refused with INVALID_CONFIG.
fn config_arg<C>(c: &C, null: bool) -> (*const C, &'static [R]) {
    if null {
        (ptr::null(), &[R::Ok])
    } else {
        (c, &[R::Ok, R::InvalidConfig])
    }
}

/// A `seawall_breaker_config` from the fields chosen, or `None` for a NULL config.
fn breaker_cfg(sel: &ConfigSel) -> Option<seawall_breaker_config> {
    match sel {
        ConfigSel::Null => None,
        ConfigSel::Fields(f) => Some(breaker_config(f)),
    }
}

fn cfg_ptr<C>(c: &Option<C>) -> *const C {
    c.as_ref().map_or(ptr::null(), ptr::from_ref)
}

/// The address of a manual clock argument; `None` for NULL (production).
fn clock_addr(clock: *const seawall_manual_clock) -> Option<usize> {
    (!clock.is_null()).then_some(clock as usize)
}

/// Makes a handle through `new` (a `_new` function given its output): the
/// result is one of `allowed` (with the last-error rule) and the output
/// keeps its sentinel unless it is OK. The new handle, on success.
fn create<H>(
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
unsafe fn clone_handle<H, M: Counted>(
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
unsafe fn free_handle<H, M: Counted>(
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
fn permit_arg<P: Copy>(held: Option<&mut P>, empty: &mut P, null: bool) -> (*mut P, Option<P>) {
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
fn permit_back_codes(entry: Option<(Use, usize)>, addr: usize, used: R, wrong: R) -> Vec<R> {
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

/// A NUL-terminated name; `None` for NULL.
fn name_of(n: &NameSel) -> Option<CString> {
    match n {
        NameSel::Short(i) => Some(CString::new(format!("b{}", i % 4)).unwrap()),
        NameSel::Bytes(b) => {
            let end = b.iter().position(|c| *c == 0).unwrap_or(b.len());
            Some(CString::new(&b[..end]).unwrap())
        }
        NameSel::Null => None,
    }
}

fn name_ptr(n: &Option<CString>) -> *const c_char {
    n.as_ref().map_or(ptr::null(), |c| c.as_ptr())
}

fn longest_open_ns(c: &seawall_breaker_config) -> u64 {
    c.timeout_ns.max(c.max_timeout_ns)
}

/// Transition callbacks: check their arguments and call back into the
/// breaker (allowed: they run outside any lock).
unsafe extern "C" fn on_transition(
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

unsafe extern "C" fn visit(
    user_data: *mut c_void,
    name: *const c_char,
    b: *const seawall_breaker,
) -> c_int {
    // SAFETY: `user_data` is the `Visit` of `RegistryForEach`.
    let v = unsafe { &mut *(user_data as *mut Visit) };
    // SAFETY: the registry passes a NUL-terminated name.
    let name = unsafe { CStr::from_ptr(name) }.to_bytes().to_vec();
    if let Some(prev) = &v.last {
        assert!(prev < &name, "names not in order: {prev:?} then {name:?}");
    }
    v.seen.push((name.clone(), b as usize));
    v.last = Some(name);
    c_int::from(v.seen.len() >= v.stop_after)
}

struct Visit {
    seen: Vec<(Vec<u8>, usize)>,
    last: Option<Vec<u8>>,
    stop_after: usize,
}

impl World {
    /// The clock argument of a `_new`: NULL, or a manual clock held (one is
    /// made if none is).
    fn clock_arg(&mut self, sel: &ClockSel) -> *const seawall_manual_clock {
        match sel {
            ClockSel::Production => ptr::null(),
            ClockSel::Manual(i) => {
                if self.clocks.is_empty() {
                    self.add_clock(manual_clock_new());
                }
                pick(&self.clocks, *i).map_or(ptr::null(), |(_, c)| c)
            }
        }
    }

    /// Holds a new manual clock, which reads 0.
    fn add_clock(&mut self, c: *const seawall_manual_clock) {
        self.clocks.push(c);
        self.clock_time.insert(c as usize, 0);
        self.clock_max.insert(c as usize, 0);
    }

    fn clock_handle(&self, addr: usize) -> Option<*const seawall_manual_clock> {
        self.clocks.iter().copied().find(|c| *c as usize == addr)
    }

    /// A breaker handle was released: the breaker dies with its last
    /// reference; its permits are dropped from the slots (reporting them to
    /// a later breaker at the same address would be the caller's error).
    fn breaker_unref(&mut self, addr: usize, registry: bool) {
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

    fn new_breaker_model(&mut self, addr: usize, clock: Option<usize>) {
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

    /// Records a clock's new reading.
    fn clock_moved(&mut self, addr: usize, now: u64) {
        self.clock_time.insert(addr, now);
        let max = self.clock_max.entry(addr).or_insert(0);
        *max = (*max).max(now);
    }

    /// How far the clock of a breaker is below the highest reading it had.
    fn clock_back(&self, addr: Option<usize>) -> u64 {
        addr.map_or(0, |a| {
            self.clock_max.get(&a).copied().unwrap_or(0) - self.clock_time[&a]
        })
    }

    fn clock_now(&self, addr: Option<usize>) -> Option<u64> {
        addr.and_then(|a| self.clock_time.get(&a).copied())
    }

    /// Checks a rejection against the breaker's state and configuration.
    fn check_rejection(&self, addr: usize, why: &seawall_rejection) {
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
    unsafe fn acquire(
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

    fn check_metrics(&self, b: *const seawall_breaker) -> seawall_metrics {
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
    unsafe fn report(
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
    unsafe fn acquire_new(
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
    unsafe fn hand_back(
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

    /// Sets manual clock `clock`, which must take it, to `now`.
    unsafe fn set_clock(&mut self, clock: *const seawall_manual_clock, now: u64) {
        assert_eq!(unsafe { seawall_manual_clock_set(clock, now) }, R::Ok);
        self.clock_moved(clock as usize, now);
    }

    fn breaker_handle(&self, i: u8) -> Option<*const seawall_breaker> {
        pick(&self.breakers, i).map(|(_, b)| b)
    }

    /// On a manual clock, advance past the longest open time (and a trial
    /// batch's timeout) until a trial is admitted: at most three rounds.
    unsafe fn not_stuck(&mut self, b: *const seawall_breaker) {
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
    unsafe fn trip(&mut self, b: *const seawall_breaker) {
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
    unsafe fn wait_retry_after(&mut self, b: *const seawall_breaker) {
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

fuzz_target!(|ops: Vec<Op>| {
    let mut w = World::default();
    for op in ops.iter().take(200) {
        // SAFETY: the driver hands the C functions only live handles, NULL,
        // and pointers to live locals of the right types.
        unsafe { step(&mut w, op) };
    }
    // SAFETY: as above.
    unsafe { teardown(&mut w) };
});

unsafe fn teardown(w: &mut World) {
    for b in std::mem::take(&mut w.breakers) {
        unsafe { seawall_breaker_free(b) };
    }
    for r in std::mem::take(&mut w.registries) {
        unsafe { seawall_registry_free(r) };
    }
    for l in std::mem::take(&mut w.limiters) {
        unsafe { seawall_rate_limiter_free(l) };
    }
    for h in std::mem::take(&mut w.bulkheads) {
        unsafe { seawall_bulkhead_free(h) };
    }
    for (s, _) in std::mem::take(&mut w.states) {
        unsafe { seawall_retry_state_free(s) };
    }
    for g in std::mem::take(&mut w.budgets) {
        unsafe { seawall_retry_budget_free(g) };
    }
    for c in std::mem::take(&mut w.clocks) {
        unsafe { seawall_manual_clock_free(c) };
    }
}

unsafe fn step(w: &mut World, op: &Op) {
    let before = last();
    match op {
        Op::ClockNew => {
            if w.clocks.len() >= MAX_HANDLES {
                return;
            }
            let new = |out| unsafe { seawall_manual_clock_new(out) };
            if let Some(c) = create("seawall_manual_clock_new", &[R::Ok], before, new) {
                w.add_clock(c);
            }
        }
        Op::ClockFree(i) => {
            if let Some((i, c)) = pick(&w.clocks, *i) {
                w.clocks.swap_remove(i);
                unsafe { seawall_manual_clock_free(c) };
                // The reading stays known while anything holds the clock;
                // a new clock at this address starts at 0 (ClockNew).
            }
        }
        Op::ClockAdvance(i, n) => {
            if let Some((_, c)) = pick(&w.clocks, *i) {
                let r = unsafe { seawall_manual_clock_advance(c, n.0) };
                expect("seawall_manual_clock_advance", r, &[R::Ok], before);
                let t = w.clock_time[&(c as usize)].saturating_add(n.0);
                w.clock_moved(c as usize, t);
            }
        }
        Op::ClockSet(i, n) => {
            if let Some((_, c)) = pick(&w.clocks, *i) {
                let r = unsafe { seawall_manual_clock_set(c, n.0) };
                expect("seawall_manual_clock_set", r, &[R::Ok], before);
                w.clock_moved(c as usize, n.0);
            }
        }
        Op::ClockNow(i, null) => {
            if let Some((_, c)) = pick(&w.clocks, *i) {
                let mut t = 0xA5u64;
                let out = if *null { ptr::null_mut() } else { &mut t };
                let r = unsafe { seawall_manual_clock_now(c, out) };
                if *null {
                    expect("seawall_manual_clock_now", r, &[R::NullParameter], before);
                } else {
                    expect("seawall_manual_clock_now", r, &[R::Ok], before);
                    assert_eq!(t, w.clock_time[&(c as usize)], "the clock reads otherwise");
                }
            }
        }
        Op::BreakerNew {
            name,
            config,
            clock,
        } => {
            if w.breakers.len() >= MAX_HANDLES {
                return;
            }
            let name = name_of(name);
            let cfg = breaker_cfg(config);
            let clock = w.clock_arg(clock);
            let utf8 = name.as_ref().is_none_or(|n| n.to_str().is_ok());
            let allowed: &[R] = match (&name, utf8) {
                (None, _) => &[R::NullParameter],
                (Some(_), false) => &[R::InvalidArgument, R::InvalidConfig],
                (Some(_), true) if cfg.is_none() => &[R::Ok],
                _ => &[R::Ok, R::InvalidConfig],
            };
            let (n, c) = (name_ptr(&name), cfg_ptr(&cfg));
            let new = |out| unsafe {
                if clock.is_null() {
                    seawall_breaker_new(n, c, out)
                } else {
                    seawall_breaker_new_with_clock(n, c, clock, out)
                }
            };
            let Some(b) = create("seawall_breaker_new", allowed, before, new) else {
                return;
            };
            w.new_breaker_model(b as usize, clock_addr(clock));
            w.bmodels.get_mut(&(b as usize)).unwrap().refs = 1;
            w.breakers.push(b);
        }
        Op::BreakerClone(i) => {
            let func = "seawall_breaker_clone";
            let (hs, ms) = (&mut w.breakers, &mut w.bmodels);
            unsafe { clone_handle(func, hs, ms, *i, before, seawall_breaker_clone) };
        }
        Op::BreakerFree(i) => {
            if let Some((i, b)) = pick(&w.breakers, *i) {
                w.breakers.swap_remove(i);
                unsafe { seawall_breaker_free(b) };
                w.breaker_unref(b as usize, false);
            }
        }
        Op::Acquire {
            b,
            slot,
            null_permit,
            null_rejection,
        } => {
            let Some(b) = w.breaker_handle(*b) else {
                return;
            };
            let slot = usize::from(*slot) % SLOTS;
            let mut p = unsafe { std::mem::zeroed::<seawall_permit>() };
            let mut why = unsafe { std::mem::zeroed::<seawall_rejection>() };
            let out = if *null_permit {
                ptr::null_mut()
            } else {
                &mut p
            };
            let whyp = if *null_rejection {
                ptr::null_mut()
            } else {
                &mut why
            };
            if unsafe { w.acquire(b, out, whyp) } == R::Ok {
                let epoch = w.bmodels[&(b as usize)].epoch;
                // Overwriting an unreported permit leaks it: it stays
                // outstanding in the books, as it would for a C caller.
                w.permits[slot] = Some(PermitSlot {
                    permit: p,
                    owner: b as usize,
                    state: Use::Issued,
                    epoch,
                });
            }
        }
        Op::Report {
            b,
            slot,
            kind,
            null_permit,
        } => {
            let Some(b) = w.breaker_handle(*b) else {
                return;
            };
            unsafe { w.report(b, usize::from(*slot) % SLOTS, kind, *null_permit) };
        }
        Op::ForgePermit { slot, how } => {
            let slot = usize::from(*slot) % SLOTS;
            let live: Vec<usize> = w.bmodels.keys().copied().collect();
            w.permits[slot] = match how {
                Forge::Zeroed => None,
                Forge::Bytes(bytes) => {
                    let mut permit = permit_from_bytes(bytes);
                    if live.contains(&permit.owner) {
                        // An issued-looking struct with a live breaker's
                        // address is a forgery the ABI cannot detect.
                        permit.owner ^= 1;
                    }
                    Some(PermitSlot {
                        permit,
                        owner: 0,
                        state: Use::Forged,
                        epoch: 0,
                    })
                }
                Forge::CopyOfUsed(src) => match w.permits[usize::from(*src) % SLOTS] {
                    Some(s) if s.state == Use::Used => Some(s),
                    _ => w.permits[slot],
                },
            };
        }
        Op::Command(i, cmd) => {
            let Some(b) = w.breaker_handle(*i) else {
                return;
            };
            let (f, r) = match cmd {
                Command::ForceOpen => ("seawall_breaker_force_open", unsafe {
                    seawall_breaker_force_open(b)
                }),
                Command::ForceClosed => ("seawall_breaker_force_closed", unsafe {
                    seawall_breaker_force_closed(b)
                }),
                Command::Reset => ("seawall_breaker_reset", unsafe { seawall_breaker_reset(b) }),
                Command::ClearMetrics => ("seawall_breaker_clear_metrics", unsafe {
                    seawall_breaker_clear_metrics(b)
                }),
            };
            expect(f, r, &[R::Ok], before);
            let mut s = seawall_state::Closed;
            assert_eq!(unsafe { seawall_breaker_state(b, &mut s) }, R::Ok);
            match cmd {
                Command::ForceOpen => assert_eq!(s, seawall_state::ForcedOpen),
                Command::ForceClosed => assert_eq!(s, seawall_state::ForcedClosed),
                Command::Reset => assert_eq!(s, seawall_state::Closed),
                Command::ClearMetrics => {
                    let m = w.bmodels.get_mut(&(b as usize)).unwrap();
                    m.epoch += 1;
                    m.outstanding = 0;
                    m.extra = 0;
                    m.rejected = 0;
                }
            }
            w.check_metrics(b);
        }
        Op::Metrics(i) => {
            if let Some(b) = w.breaker_handle(*i) {
                w.check_metrics(b);
            }
        }
        Op::State(i) => {
            if let Some(b) = w.breaker_handle(*i) {
                let mut s = seawall_state::Closed;
                let r = unsafe { seawall_breaker_state(b, &mut s) };
                expect("seawall_breaker_state", r, &[R::Ok], before);
                let n = unsafe { CStr::from_ptr(seawall_state_name(s as u32)) };
                assert_ne!(n.to_bytes(), b"UNKNOWN");
            }
        }
        Op::Name {
            b,
            len,
            null_buf,
            null_len,
        } => {
            let Some(b) = w.breaker_handle(*b) else {
                return;
            };
            let name = w.bmodels[&(b as usize)].name.clone();
            let mut buf = vec![0xA5u8; usize::from(*len)];
            let bufp = if *null_buf {
                ptr::null_mut()
            } else {
                buf.as_mut_ptr().cast::<c_char>()
            };
            let mut out_len = 0xA5A5usize;
            let lenp = if *null_len {
                ptr::null_mut()
            } else {
                &mut out_len
            };
            let r = unsafe { seawall_breaker_name(b, bufp, usize::from(*len), lenp) };
            let n = usize::from(*len);
            let allowed: &[R] = if *null_buf && n != 0 {
                &[R::NullParameter]
            } else if n > name.len() {
                &[R::Ok]
            } else {
                &[R::BufferTooSmall]
            };
            expect("seawall_breaker_name", r, allowed, before);
            if matches!(r, R::Ok | R::BufferTooSmall) {
                if !*null_len {
                    assert_eq!(out_len, name.len());
                }
                if n > 0 && !*null_buf {
                    let cut = buf.iter().position(|c| *c == 0).expect("NUL-terminated");
                    assert!(cut < n && name.starts_with(&buf[..cut]), "not a prefix");
                    if r == R::Ok {
                        assert_eq!(&buf[..cut], &name[..]);
                    }
                }
            } else {
                assert!(buf.iter().all(|c| *c == 0xA5), "buffer written on failure");
                assert_eq!(out_len, 0xA5A5, "length written on failure");
            }
        }
        Op::Config(i) => {
            if let Some(b) = w.breaker_handle(*i) {
                let mut c = std::mem::MaybeUninit::<seawall_breaker_config>::uninit();
                let r = unsafe { seawall_breaker_get_config(b, c.as_mut_ptr()) };
                expect("seawall_breaker_get_config", r, &[R::Ok], before);
            }
        }
        Op::Listener(i) => {
            if let Some(b) = w.breaker_handle(*i) {
                let r = unsafe {
                    seawall_breaker_add_listener(b, Some(on_transition), b as *mut c_void)
                };
                expect("seawall_breaker_add_listener", r, &[R::Ok], before);
                let r = unsafe { seawall_breaker_add_listener(b, None, ptr::null_mut()) };
                expect(
                    "seawall_breaker_add_listener(NULL)",
                    r,
                    &[R::NullParameter, R::Ok],
                    before,
                );
            }
        }
        Op::HighClock { below, config } => {
            if w.breakers.len() >= MAX_HANDLES {
                return;
            }
            let before_len = w.breakers.len();
            let clock = ClockSel::Manual(0);
            unsafe {
                step(
                    w,
                    &Op::BreakerNew {
                        name: NameSel::Short(0),
                        config: config.clone(),
                        clock,
                    },
                )
            };
            if w.breakers.len() == before_len {
                return;
            }
            let b = w.breakers[before_len];
            let ca = w.bmodels[&(b as usize)].clock.expect("a manual clock");
            let c = w.clock_handle(ca).expect("held");
            let now = u64::MAX - below.0;
            unsafe { w.set_clock(c, now) };
            unsafe {
                w.trip(b);
                w.wait_retry_after(b);
                w.trip(b);
                w.not_stuck(b);
            }
        }
        Op::Trip(i) => {
            if let Some(b) = w.breaker_handle(*i) {
                unsafe { w.trip(b) };
            }
        }
        Op::NotStuck(i) => {
            if let Some(b) = w.breaker_handle(*i) {
                unsafe { w.not_stuck(b) };
            }
        }
        Op::WaitRetryAfter(i) => {
            if let Some(b) = w.breaker_handle(*i) {
                unsafe { w.wait_retry_after(b) };
            }
        }
        Op::RegistryNew(clock) => {
            if w.registries.len() >= MAX_HANDLES {
                return;
            }
            let clock = w.clock_arg(clock);
            let new = |out| unsafe {
                if clock.is_null() {
                    seawall_registry_new(out)
                } else {
                    seawall_registry_new_with_clock(clock, out)
                }
            };
            let Some(r_) = create("seawall_registry_new", &[R::Ok], before, new) else {
                return;
            };
            w.registries.push(r_);
            let old = w.rmodels.insert(
                r_ as usize,
                RegistryModel {
                    refs: 1,
                    clock: clock_addr(clock),
                    names: BTreeMap::new(),
                },
            );
            assert!(old.is_none());
        }
        Op::RegistryClone(i) => {
            let func = "seawall_registry_clone";
            let (hs, ms) = (&mut w.registries, &mut w.rmodels);
            unsafe { clone_handle(func, hs, ms, *i, before, seawall_registry_clone) };
        }
        Op::RegistryFree(i) => {
            let (hs, ms) = (&mut w.registries, &mut w.rmodels);
            // The last handle takes the registry's breakers with it.
            if let Some((_, m)) = unsafe { free_handle(hs, ms, *i, seawall_registry_free) } {
                for b in m.names.values() {
                    w.breaker_unref(*b, true);
                }
            }
        }
        Op::RegistryGetOrCreate { r, name, config } => {
            if w.breakers.len() >= MAX_HANDLES {
                return;
            }
            let Some((_, reg)) = pick(&w.registries, *r) else {
                return;
            };
            let name = name_of(name);
            let cfg = breaker_cfg(config);
            let key = name.as_ref().map(|n| n.to_bytes().to_vec());
            let existing = key
                .as_ref()
                .and_then(|k| w.rmodels[&(reg as usize)].names.get(k).copied());
            let utf8 = name.as_ref().is_none_or(|n| n.to_str().is_ok());
            let unknown_kind = cfg.is_some_and(|c| c.window_kind > 2);
            let allowed: &[R] = if name.is_none() {
                &[R::NullParameter]
            } else if !utf8 {
                &[R::InvalidArgument, R::InvalidConfig]
            } else if unknown_kind {
                &[R::InvalidConfig]
            } else if existing.is_some() || cfg.is_none() {
                &[R::Ok]
            } else {
                &[R::Ok, R::InvalidConfig]
            };
            let (n, c) = (name_ptr(&name), cfg_ptr(&cfg));
            let new = |out| unsafe { seawall_registry_get_or_create(reg, n, c, out) };
            let Some(b) = create("seawall_registry_get_or_create", allowed, before, new) else {
                return;
            };
            let addr = b as usize;
            match existing {
                Some(e) => assert_eq!(addr, e, "get_or_create made a second breaker for a name"),
                None => {
                    let clock = w.rmodels[&(reg as usize)].clock;
                    w.new_breaker_model(addr, clock);
                    w.bmodels.get_mut(&addr).unwrap().registries = 1;
                    w.rmodels
                        .get_mut(&(reg as usize))
                        .unwrap()
                        .names
                        .insert(key.unwrap(), addr);
                }
            }
            w.bmodels.get_mut(&addr).unwrap().refs += 1;
            w.breakers.push(b);
        }
        Op::RegistryGet { r, name } => {
            if w.breakers.len() >= MAX_HANDLES {
                return;
            }
            let Some((_, reg)) = pick(&w.registries, *r) else {
                return;
            };
            let name = name_of(name);
            let existing = name
                .as_ref()
                .and_then(|n| w.rmodels[&(reg as usize)].names.get(n.to_bytes()).copied());
            let allowed: &[R] = match (&name, existing) {
                (None, _) => &[R::NullParameter],
                (Some(_), Some(_)) => &[R::Ok],
                (Some(_), None) => &[R::NotFound, R::InvalidArgument],
            };
            let n = name_ptr(&name);
            let get = |out| unsafe { seawall_registry_get(reg, n, out) };
            if let Some(b) = create("seawall_registry_get", allowed, before, get) {
                assert_eq!(Some(b as usize), existing);
                w.bmodels.get_mut(&(b as usize)).unwrap().refs += 1;
                w.breakers.push(b);
            }
        }
        Op::RegistryRemove { r, name } => {
            let Some((_, reg)) = pick(&w.registries, *r) else {
                return;
            };
            let name = name_of(name);
            let res = unsafe { seawall_registry_remove(reg, name_ptr(&name)) };
            let existing = name.as_ref().and_then(|n| {
                w.rmodels
                    .get_mut(&(reg as usize))
                    .unwrap()
                    .names
                    .remove(n.to_bytes())
            });
            let allowed: &[R] = match (&name, existing) {
                (None, _) => &[R::NullParameter],
                (Some(_), Some(_)) => &[R::Ok],
                (Some(_), None) => &[R::NotFound, R::InvalidArgument],
            };
            expect("seawall_registry_remove", res, allowed, before);
            if let Some(b) = existing {
                w.breaker_unref(b, true);
            }
        }
        Op::RegistryCount(i) => {
            if let Some((_, reg)) = pick(&w.registries, *i) {
                let mut n = 0xA5usize;
                let r = unsafe { seawall_registry_count(reg, &mut n) };
                expect("seawall_registry_count", r, &[R::Ok], before);
                assert_eq!(n, w.rmodels[&(reg as usize)].names.len());
            }
        }
        Op::RegistryForEach { r, stop_after } => {
            let Some((_, reg)) = pick(&w.registries, *r) else {
                return;
            };
            let mut v = Visit {
                seen: Vec::new(),
                last: None,
                stop_after: usize::from(*stop_after).max(1),
            };
            let res = unsafe {
                seawall_registry_for_each(reg, Some(visit), ptr::from_mut(&mut v).cast())
            };
            expect("seawall_registry_for_each", res, &[R::Ok], before);
            let names = &w.rmodels[&(reg as usize)].names;
            let expected: Vec<(Vec<u8>, usize)> = names
                .iter()
                .map(|(k, v)| (k.clone(), *v))
                .take(v.stop_after)
                .collect();
            assert_eq!(v.seen, expected, "for_each visited otherwise");
        }
        Op::LimiterNew {
            fields,
            null_config,
            clock,
        } => {
            if w.limiters.len() >= MAX_HANDLES {
                return;
            }
            let c = rate_limiter_config(fields);
            let (cp, allowed) = config_arg(&c, *null_config);
            let clock = w.clock_arg(clock);
            let new = |out| unsafe { seawall_rate_limiter_new(cp, clock, out) };
            let Some(l) = create("seawall_rate_limiter_new", allowed, before, new) else {
                return;
            };
            w.limiters.push(l);
            let model = LimiterModel {
                refs: 1,
                clock: clock_addr(clock),
            };
            w.lmodels.insert(l as usize, model);
        }
        Op::LimiterClone(i) => {
            let func = "seawall_rate_limiter_clone";
            let (hs, ms) = (&mut w.limiters, &mut w.lmodels);
            unsafe { clone_handle(func, hs, ms, *i, before, seawall_rate_limiter_clone) };
        }
        Op::LimiterFree(i) => {
            let (hs, ms) = (&mut w.limiters, &mut w.lmodels);
            unsafe { free_handle(hs, ms, *i, seawall_rate_limiter_free) };
        }
        Op::LimiterCheck {
            l,
            null_out,
            then_wait,
        } => {
            let Some((_, l)) = pick(&w.limiters, *l) else {
                return;
            };
            let mut wait = 0xA5u64;
            let out = if *null_out {
                ptr::null_mut()
            } else {
                &mut wait
            };
            let r = unsafe { seawall_rate_limiter_check(l, out) };
            expect(
                "seawall_rate_limiter_check",
                r,
                &[R::Ok, R::RateLimited],
                before,
            );
            if r == R::Ok || *null_out {
                assert_eq!(wait, 0xA5, "wait written on success or through NULL");
                return;
            }
            assert!(wait > 0, "refused with a wait of 0");
            if !*then_wait {
                // A reservation is refused beyond the same wait (changing
                // nothing), and within it takes that turn.
                reserve_probe(l, wait);
                return;
            }
            // Waiting that long on the limiter's manual clock admits a call.
            let Some(ca) = w.lmodels[&(l as usize)].clock else {
                return;
            };
            let Some(clock) = w.clock_handle(ca) else {
                return;
            };
            let now = w.clock_time[&ca];
            let Some(then) = now.checked_add(wait) else {
                return;
            };
            unsafe { w.set_clock(clock, then) };
            let r = unsafe { seawall_rate_limiter_check(l, ptr::null_mut()) };
            assert_eq!(
                r,
                R::Ok,
                "refused after waiting the {wait} ns it named (clock {then})"
            );
        }
        Op::BulkheadNew {
            fields,
            null_config,
            clock,
        } => {
            if w.bulkheads.len() >= MAX_HANDLES {
                return;
            }
            let c = bulkhead_config(fields);
            let (cp, allowed) = config_arg(&c, *null_config);
            let clock = w.clock_arg(clock);
            let new = |out| unsafe { seawall_bulkhead_new(cp.cast(), clock, out) };
            let Some(h) = create("seawall_bulkhead_new", allowed, before, new) else {
                return;
            };
            let mut back = seawall_fuzz::c::BulkheadConfigC {
                max_concurrent: 0,
                max_queue_size: 0,
                timeout_ns: 0,
            };
            assert_eq!(
                unsafe { seawall_bulkhead_get_config(h, ptr::from_mut(&mut back).cast()) },
                R::Ok
            );
            w.bulkheads.push(h);
            w.hmodels.insert(
                h as usize,
                BulkheadModel {
                    refs: 1,
                    max: back.max_concurrent,
                    queue: back.max_queue_size,
                    timeout_ns: back.timeout_ns,
                    manual: !clock.is_null(),
                    held: 0,
                },
            );
        }
        Op::BulkheadClone(i) => {
            let func = "seawall_bulkhead_clone";
            let (hs, ms) = (&mut w.bulkheads, &mut w.hmodels);
            unsafe { clone_handle(func, hs, ms, *i, before, seawall_bulkhead_clone) };
        }
        Op::BulkheadFree(i) => {
            let (hs, ms) = (&mut w.bulkheads, &mut w.hmodels);
            // The last handle takes the bulkhead's permits with it.
            if let Some((addr, _)) = unsafe { free_handle(hs, ms, *i, seawall_bulkhead_free) } {
                for s in &mut w.slots {
                    if s.is_some_and(|p| p.owner == addr) {
                        *s = None;
                    }
                }
            }
        }
        Op::BulkheadTryAcquire { h, slot } | Op::BulkheadAcquire { h, slot, .. } => {
            let Some((_, h)) = pick(&w.bulkheads, *h) else {
                return;
            };
            let m = &w.hmodels[&(h as usize)];
            let free = m.held < m.max;
            let sentinel = seawall_bulkhead_permit {
                owner: 0xA5,
                status: 0xA5,
            };
            let mut p = sentinel;
            let (r, allowed): (R, &[R]) = match op {
                Op::BulkheadAcquire { timeout, .. } => {
                    let t = timeout.map_or(m.timeout_ns, |t| t.0);
                    // Only calls that cannot block on a clock nobody moves:
                    // a free slot, no queue, no wait, or a short real wait.
                    let short = !m.manual && t <= 20_000;
                    if !(free || m.queue == 0 || t == 0 || short) {
                        return;
                    }
                    let r = match timeout {
                        Some(t) => unsafe { seawall_bulkhead_acquire_timeout(h, t.0, &mut p) },
                        None => unsafe { seawall_bulkhead_acquire(h, &mut p) },
                    };
                    (
                        r,
                        if free {
                            &[R::Ok]
                        } else {
                            &[R::BulkheadFull, R::BulkheadTimeout]
                        },
                    )
                }
                _ => {
                    let r = unsafe { seawall_bulkhead_try_acquire(h, &mut p) };
                    (r, if free { &[R::Ok] } else { &[R::BulkheadFull] })
                }
            };
            expect("seawall_bulkhead_*acquire*", r, allowed, before);
            if r == R::Ok {
                w.hmodels.get_mut(&(h as usize)).unwrap().held += 1;
                assert_eq!(p.owner, h as usize);
                w.slots[usize::from(*slot) % SLOTS] = Some(SlotSlot {
                    permit: p,
                    owner: h as usize,
                    state: Use::Issued,
                });
            } else {
                assert_eq!(p, sentinel, "permit written on {r:?}");
            }
            check_bulkhead(w, h);
        }
        Op::BulkheadRelease {
            h,
            slot,
            null_permit,
        } => {
            let Some((_, h)) = pick(&w.bulkheads, *h) else {
                return;
            };
            let slot = usize::from(*slot) % SLOTS;
            let entry = w.slots[slot];
            let mut tmp = seawall_bulkhead_permit {
                owner: 0,
                status: 0,
            };
            let held = w.slots[slot].as_mut().map(|s| &mut s.permit);
            let (p, copy) = permit_arg(held, &mut tmp, *null_permit);
            let r = unsafe { seawall_bulkhead_release(h, p) };
            let addr = h as usize;
            let allowed: Vec<R> = if *null_permit {
                vec![R::NullParameter]
            } else {
                let e = entry.map(|e| (e.state, e.owner));
                permit_back_codes(e, addr, R::PermitAlreadyReleased, R::PermitWrongBulkhead)
            };
            expect("seawall_bulkhead_release", r, &allowed, before);
            if r == R::Ok {
                w.hmodels.get_mut(&addr).unwrap().held -= 1;
                w.slots[slot].as_mut().unwrap().state = Use::Used;
            } else if let Some(c) = copy {
                assert_eq!(unsafe { *p }, c, "permit changed on failure");
            }
            check_bulkhead(w, h);
        }
        Op::BulkheadForge { slot, how } => {
            let slot = usize::from(*slot) % SLOTS;
            let live: Vec<usize> = w.hmodels.keys().copied().collect();
            w.slots[slot] = match how {
                Forge::Zeroed => None,
                Forge::Bytes(b) => {
                    let mut owner = u64::from_le_bytes(b[0..8].try_into().unwrap()) as usize;
                    if live.contains(&owner) {
                        owner ^= 1;
                    }
                    let status = u32::from_le_bytes(b[8..12].try_into().unwrap());
                    Some(SlotSlot {
                        permit: seawall_bulkhead_permit { owner, status },
                        owner: 0,
                        state: Use::Forged,
                    })
                }
                Forge::CopyOfUsed(src) => match w.slots[usize::from(*src) % SLOTS] {
                    Some(s) if s.state == Use::Used => Some(s),
                    _ => w.slots[slot],
                },
            };
        }
        Op::BulkheadCounts(i) => {
            if let Some((_, h)) = pick(&w.bulkheads, *i) {
                check_bulkhead(w, h);
            }
        }
        Op::BudgetNew {
            fields,
            null_config,
            clock,
        } => {
            if w.budgets.len() >= MAX_HANDLES {
                return;
            }
            let c = budget_config(fields);
            let (cp, allowed) = config_arg(&c, *null_config);
            let clock = w.clock_arg(clock);
            let new = |out| unsafe { seawall_retry_budget_new(cp, clock, out) };
            let Some(g) = create("seawall_retry_budget_new", allowed, before, new) else {
                return;
            };
            let mut back = unsafe { std::mem::zeroed::<seawall_retry_budget_config>() };
            assert_eq!(
                unsafe { seawall_retry_budget_get_config(g, &mut back) },
                R::Ok
            );
            w.budgets.push(g);
            w.gmodels.insert(
                g as usize,
                BudgetModel {
                    refs: 1,
                    max_tokens: back.max_tokens,
                },
            );
        }
        Op::BudgetClone(i) => {
            let func = "seawall_retry_budget_clone";
            let (hs, ms) = (&mut w.budgets, &mut w.gmodels);
            unsafe { clone_handle(func, hs, ms, *i, before, seawall_retry_budget_clone) };
        }
        Op::BudgetFree(i) => {
            let (hs, ms) = (&mut w.budgets, &mut w.gmodels);
            unsafe { free_handle(hs, ms, *i, seawall_retry_budget_free) };
        }
        Op::BudgetRecord(i, retry) => {
            if let Some((_, g)) = pick(&w.budgets, *i) {
                let r = unsafe { seawall_retry_budget_record_attempt(g, *retry) };
                expect("seawall_retry_budget_record_attempt", r, &[R::Ok], before);
            }
        }
        Op::BudgetCanRetry(i, null) => {
            if let Some((_, g)) = pick(&w.budgets, *i) {
                let mut allowed = false;
                let out = if *null { ptr::null_mut() } else { &mut allowed };
                let r = unsafe { seawall_retry_budget_can_retry(g, out) };
                let codes: &[R] = if *null { &[R::NullParameter] } else { &[R::Ok] };
                expect("seawall_retry_budget_can_retry", r, codes, before);
            }
        }
        Op::BudgetReport(i) => {
            if let Some((_, g)) = pick(&w.budgets, *i) {
                let mut p = -1.0f64;
                let r = unsafe { seawall_retry_budget_remaining_percent(g, &mut p) };
                expect(
                    "seawall_retry_budget_remaining_percent",
                    r,
                    &[R::Ok],
                    before,
                );
                assert!((0.0..=100.0).contains(&p), "remaining_percent {p}");
                let mut c = seawall_retry_budget_counts {
                    requests: 0,
                    retries: 0,
                };
                let r = unsafe { seawall_retry_budget_get_counts(g, &mut c) };
                expect("seawall_retry_budget_get_counts", r, &[R::Ok], before);
                assert!(c.retries <= c.requests, "{c:?}");
                let _ = w.gmodels[&(g as usize)].max_tokens;
            }
        }
        Op::RetryDelay {
            fields,
            null_config,
            attempt,
            previous,
            unit,
        } => {
            let c = retry_config(fields);
            let cp = if *null_config {
                ptr::null()
            } else {
                &c as *const _
            };
            let mut d = 0xA5u64;
            let r = unsafe { seawall_retry_delay(cp, attempt.0, previous.0, unit.0, &mut d) };
            let codes: &[R] = if *null_config {
                &[R::NullParameter]
            } else {
                &[R::Ok, R::InvalidConfig, R::InvalidArgument]
            };
            expect("seawall_retry_delay", r, codes, before);
            if r == R::Ok {
                assert!(d <= c.max_delay_ns, "delay {d} above max_delay_ns: {c:?}");
            } else {
                assert_eq!(d, 0xA5, "delay written on failure");
            }
        }
        Op::RetryStateNew {
            fields,
            null_config,
            seed,
        } => {
            if w.states.len() >= MAX_HANDLES {
                return;
            }
            let c = retry_config(fields);
            let cp = if *null_config {
                ptr::null()
            } else {
                ptr::from_ref(&c)
            };
            let sentinel = 0xA5A0 as *mut seawall_retry_state;
            let mut out = sentinel;
            let r = unsafe { seawall_retry_state_new(cp, *seed, &mut out) };
            let codes: &[R] = if *null_config {
                &[R::NullParameter]
            } else {
                &[R::Ok, R::InvalidConfig]
            };
            expect("seawall_retry_state_new", r, codes, before);
            if r != R::Ok {
                assert_eq!(out, sentinel, "state written on {r:?}");
                return;
            }
            let model = RetryStateModel {
                config: c,
                attempts: 0,
                total_ns: 0,
                in_attempt: false,
            };
            w.states.push((out, model));
            check_retry_state(w, w.states.len() - 1);
        }
        Op::RetryStateFree(i) => {
            if !w.states.is_empty() {
                let (s, _) = w.states.swap_remove(usize::from(*i) % w.states.len());
                unsafe { seawall_retry_state_free(s) };
            }
        }
        Op::RetryStateBegin {
            s,
            budget,
            null_out,
        } => {
            let Some(i) = pick_index(w.states.len(), *s) else {
                return;
            };
            let g = w.budget_arg(*budget);
            let mut attempt = 0xA5u32;
            let out = if *null_out {
                ptr::null_mut()
            } else {
                ptr::from_mut(&mut attempt)
            };
            let r = unsafe { seawall_retry_state_begin(w.states[i].0, g, out) };
            expect("seawall_retry_state_begin", r, &[R::Ok], before);
            let m = &mut w.states[i].1;
            m.attempts = m.attempts.saturating_add(1);
            m.in_attempt = true;
            if !*null_out {
                assert_eq!(attempt, m.attempts, "attempt number");
            }
            check_retry_state(w, i);
        }
        Op::RetryStateFailed {
            s,
            retryable,
            budget,
            null_stop,
        } => {
            let Some(i) = pick_index(w.states.len(), *s) else {
                return;
            };
            let g = w.budget_arg(*budget);
            let (mut delay, mut stop) = (0xA5u64, seawall_retry_stop::Rejected);
            let out_stop = if *null_stop {
                ptr::null_mut()
            } else {
                ptr::from_mut(&mut stop)
            };
            let r = unsafe {
                seawall_retry_state_failed(w.states[i].0, *retryable, g, &mut delay, out_stop)
            };
            let m = &mut w.states[i].1;
            if !m.in_attempt {
                expect(
                    "seawall_retry_state_failed",
                    r,
                    &[R::InvalidArgument],
                    before,
                );
                assert_eq!(delay, 0xA5, "delay written on failure");
                return;
            }
            m.in_attempt = false;
            let c = m.config;
            let last = m.attempts >= c.max_attempts;
            let codes: &[R] = if !*retryable || last {
                &[R::RetryStopped]
            } else {
                &[R::Ok, R::RetryStopped]
            };
            expect("seawall_retry_state_failed", r, codes, before);
            if r == R::Ok {
                assert!(
                    delay <= c.max_delay_ns,
                    "delay {delay} above the cap: {c:?}"
                );
                m.total_ns = m.total_ns.saturating_add(delay);
                if c.has_max_total_delay != 0 {
                    assert!(m.total_ns <= c.max_total_delay_ns, "total over the cap");
                }
            } else {
                assert_eq!(delay, 0xA5, "delay written on a stop");
                let want = if !*retryable {
                    Some(seawall_retry_stop::NotRetryable)
                } else if last {
                    Some(seawall_retry_stop::Exhausted)
                } else {
                    None
                };
                if !*null_stop {
                    match want {
                        Some(want) => assert_eq!(stop, want),
                        None => {
                            let budget = stop == seawall_retry_stop::BudgetExhausted;
                            assert!(
                                (budget && !g.is_null())
                                    || (stop == seawall_retry_stop::DelayBudgetExhausted
                                        && c.has_max_total_delay != 0),
                                "stopped for {stop:?}"
                            );
                        }
                    }
                }
            }
            check_retry_state(w, i);
        }
        Op::RetryStateRejected {
            s,
            retry_after,
            budget,
        } => {
            let Some(i) = pick_index(w.states.len(), *s) else {
                return;
            };
            let g = w.budget_arg(*budget);
            let after = retry_after.map_or(u64::MAX, |n| n.0);
            let (mut wait, mut stop) = (0xA5u64, seawall_retry_stop::Exhausted);
            let r = unsafe {
                seawall_retry_state_rejected(w.states[i].0, after, g, &mut wait, &mut stop)
            };
            let m = &mut w.states[i].1;
            if !m.in_attempt {
                expect(
                    "seawall_retry_state_rejected",
                    r,
                    &[R::InvalidArgument],
                    before,
                );
                assert_eq!(wait, 0xA5, "wait written on failure");
                return;
            }
            m.in_attempt = false;
            let c = m.config;
            let beyond = after == u64::MAX
                || after > c.max_delay_ns
                || (c.has_max_total_delay != 0
                    && m.total_ns.saturating_add(after) > c.max_total_delay_ns);
            let codes: &[R] = if beyond || m.attempts >= c.max_attempts {
                &[R::RetryStopped]
            } else {
                &[R::Ok, R::RetryStopped]
            };
            expect("seawall_retry_state_rejected", r, codes, before);
            if r == R::Ok {
                assert_eq!(wait, after, "the wait is the trial announced");
                m.total_ns = m.total_ns.saturating_add(wait);
            } else {
                assert_eq!(wait, 0xA5, "wait written on a stop");
                let want = if beyond {
                    seawall_retry_stop::Rejected
                } else if m.attempts >= c.max_attempts {
                    seawall_retry_stop::Exhausted
                } else {
                    assert!(!g.is_null(), "stopped for {stop:?} without a budget");
                    seawall_retry_stop::BudgetExhausted
                };
                assert_eq!(stop, want);
            }
            check_retry_state(w, i);
        }
        Op::ResultMessage { code, len } => {
            let code = code % 20;
            let n = usize::from(*len);
            let mut buf = vec![0xA5u8; n];
            let mut out_len = 0xA5usize;
            let r =
                unsafe { seawall_result_message(code, buf.as_mut_ptr().cast(), n, &mut out_len) };
            let allowed: &[R] = if code > 16 {
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
    }
}

/// A `seawall_permit` holding `bytes` (as far as they reach), as a C
/// caller could leave in the struct: its fields are plain integers, so
/// every bit pattern is a value.
fn permit_from_bytes(bytes: &[u8; 32]) -> seawall_permit {
    let mut p = std::mem::MaybeUninit::<seawall_permit>::zeroed();
    let n = std::mem::size_of::<seawall_permit>().min(bytes.len());
    // SAFETY: `n` bytes fit both; the struct's fields are integers (see the
    // header), for which any bytes are valid, and it was zeroed first.
    unsafe {
        ptr::copy_nonoverlapping(bytes.as_ptr(), p.as_mut_ptr().cast::<u8>(), n);
        p.assume_init()
    }
}

/// The index of one of `n` things, if there is any.
fn pick_index(n: usize, i: u8) -> Option<usize> {
    (n > 0).then(|| usize::from(i) % n)
}

impl World {
    /// A budget argument: one of the budgets held, or NULL.
    fn budget_arg(&self, sel: Option<u8>) -> *const seawall_retry_budget {
        sel.and_then(|i| pick(&self.budgets, i))
            .map_or(ptr::null(), |(_, g)| g)
    }
}

/// A retry state's getters agree with the model.
fn check_retry_state(w: &World, i: usize) {
    let (s, m) = &w.states[i];
    let before = last();
    let (mut n, mut t) = (0xA5u32, 0xA5u64);
    // SAFETY: live state; the outputs are valid.
    let r = unsafe { seawall_retry_state_attempts(*s, &mut n) };
    expect("seawall_retry_state_attempts", r, &[R::Ok], before);
    // SAFETY: as above.
    let r = unsafe { seawall_retry_state_total_delay(*s, &mut t) };
    expect("seawall_retry_state_total_delay", r, &[R::Ok], before);
    assert_eq!((n, t), (m.attempts, m.total_ns), "retry state books");
}

/// After a check refused with `wait` (on a clock that has not moved since):
/// `seawall_rate_limiter_reserve` refuses a smaller `max_wait` with the same
/// wait and changes nothing, then, given `wait`, reserves that very turn (up
/// to the one-year cap on reservations).
fn reserve_probe(l: *const seawall_rate_limiter, wait: u64) {
    const YEAR_NS: u64 = 365 * 24 * 3600 * 1_000_000_000;
    let mut got = 0xA5u64;
    let r = unsafe { seawall_rate_limiter_reserve(l, wait - 1, &mut got) };
    assert_eq!((r, got), (R::RateLimited, wait), "reserve below the wait");
    let r = unsafe { seawall_rate_limiter_reserve(l, wait, &mut got) };
    let want = if wait <= YEAR_NS {
        R::Ok
    } else {
        R::RateLimited
    };
    assert_eq!((r, got), (want, wait), "reserve at the wait");
}

fn check_bulkhead(w: &World, h: *const seawall_bulkhead) {
    let m = &w.hmodels[&(h as usize)];
    let before = last();
    let mut n = 0xA5u32;
    // SAFETY: live handle.
    let r = unsafe { seawall_bulkhead_available_permits(h, &mut n) };
    expect("seawall_bulkhead_available_permits", r, &[R::Ok], before);
    assert_eq!(
        n,
        m.max - m.held,
        "available slots miscounted ({} held)",
        m.held
    );
    let mut q = 0xA5u32;
    // SAFETY: live handle.
    let r = unsafe { seawall_bulkhead_queue_size(h, &mut q) };
    expect("seawall_bulkhead_queue_size", r, &[R::Ok], before);
    assert_eq!(q, 0, "a waiter left in the queue");
}

/// Every function that takes a handle refuses NULL with NULL_PARAMETER,
/// writes nothing, and records it; every `_free(NULL)` does nothing.
unsafe fn null_handle(which: u8, before: R) {
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

//! One call's retry state machine, driven from C: the core's `RetryState`
//! decides attempt, delay, budget and stop; the caller makes the attempts
//! and sleeps.

use std::time::Duration;

use seawall::{Random, RetryState, SeededRandom, Stop};

use crate::budget::seawall_retry_budget;
use crate::config::nanos;
use crate::error::{check, check_optional, fail, run, run_code, seawall_result, Error};
use crate::handle;
use crate::retry::{backoff, seawall_retry_config};

/// One call's retry state: the attempts made, the delay spent, and the
/// seeded generator of its jitter. Made by `seawall_retry_state_new` for one
/// call, owned by its caller (not reference-counted) and used by one thread
/// at a time; release it with `seawall_retry_state_free`.
pub struct seawall_retry_state {
    _private: [u8; 0],
}

/// Why a call must stop retrying, written by `seawall_retry_state_failed`
/// and `seawall_retry_state_rejected` with `SEAWALL_RESULT_RETRY_STOPPED`.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum seawall_retry_stop {
    /// `max_attempts` attempts were made.
    Exhausted = 0,
    /// The failure was reported as not retryable.
    NotRetryable = 1,
    /// The retry budget refused the retry.
    BudgetExhausted = 2,
    /// The next delay would overrun `max_total_delay_ns`.
    DelayBudgetExhausted = 3,
    /// The breaker refused the attempt and announced no trial within
    /// `max_delay_ns` and what is left of `max_total_delay_ns` (or is
    /// forced open).
    Rejected = 4,
}

crate::config::mirror_enum!(Stop => seawall_retry_stop { Exhausted, NotRetryable, BudgetExhausted, DelayBudgetExhausted, Rejected });

/// The value behind a `seawall_retry_state`.
pub(crate) struct CRetryState {
    state: RetryState,
    /// The jitter's random numbers, seeded by the caller.
    rng: SeededRandom,
    /// An attempt was begun and not yet reported failed or rejected.
    in_attempt: bool,
}

handle::declare!(seawall_retry_state: CRetryState, Owned, "state");

/// Creates the retry state of one call under the policy `*config` (checked
/// like `seawall_retry_config_validate`), with no attempt made, and writes
/// it to `*out`. `seed` seeds the random numbers of the jittered strategies:
/// the same config, seed and sequence of reports give the same delays.
/// Release it with `seawall_retry_state_free`.
///
/// # Safety
///
/// `config` is NULL or valid; `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_retry_state_new(
    config: *const seawall_retry_config,
    seed: u64,
    out: *mut *mut seawall_retry_state,
) -> seawall_result {
    const F: &str = "seawall_retry_state_new";
    run(F, || {
        // SAFETY: `config` is NULL or valid (this function's contract).
        let c = unsafe { crate::error::borrow(config, F, "config") }?;
        let make = || {
            Ok(CRetryState {
                state: RetryState::new(&backoff(c, F)?),
                rng: SeededRandom::new(seed),
                in_attempt: false,
            })
        };
        // SAFETY: `out` is NULL or valid for a write (this function's
        // contract).
        unsafe { handle::new_owned(F, out, make) }
    })
}

/// Releases a retry state. `NULL` is a no-op.
///
/// # Safety
///
/// `state` is NULL or a live retry state, which must not be used
/// afterwards.
#[no_mangle]
pub unsafe extern "C" fn seawall_retry_state_free(state: *mut seawall_retry_state) {
    // SAFETY: `state` is NULL or a live retry state the caller gives up
    // (this function's contract).
    unsafe { handle::free_owned("seawall_retry_state_free", state) }
}

/// Begins an attempt and writes its number (1 for the first) to
/// `*out_attempt` (if not NULL). With a `budget` (NULL for none), the
/// call's first attempt is recorded in it as a request (retries are
/// counted when granted; do not record them). Make the attempt, then
/// report a failure with `seawall_retry_state_failed` or a breaker
/// rejection with `seawall_retry_state_rejected`; after a success, just
/// free the state.
///
/// # Safety
///
/// `state` is NULL or a live retry state; `budget` is NULL or a live
/// handle; `out_attempt` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_retry_state_begin(
    state: *mut seawall_retry_state,
    budget: *const seawall_retry_budget,
    out_attempt: *mut u32,
) -> seawall_result {
    const F: &str = "seawall_retry_state_begin";
    run(F, || {
        // SAFETY: `state` is NULL or a live retry state used by this thread
        // only (this function's contract).
        let s = unsafe { handle::borrow_mut(state, F) }?;
        // SAFETY: `budget` is NULL or a live handle (this function's
        // contract).
        let budget = unsafe { handle::borrow_optional(budget, F) }?;
        check_optional(out_attempt, F, "out_attempt")?;
        let attempt = s.state.begin(budget);
        s.in_attempt = true;
        if !out_attempt.is_null() {
            // SAFETY: non-NULL and aligned (checked); valid for a write by
            // this function's contract.
            unsafe { out_attempt.write(attempt) };
        }
        Ok(())
    })
}

/// The body of `_failed` and `_rejected`: checks every pointer, then lets
/// `decide` (the core) answer for the attempt in progress, and writes the
/// wait (`SEAWALL_RESULT_OK`) or why to stop (`SEAWALL_RESULT_RETRY_STOPPED`,
/// `*out_stop` if not NULL). A stop is an answer: it leaves the last error
/// alone.
///
/// # Safety
///
/// As `seawall_retry_state_failed`.
unsafe fn report(
    func: &'static str,
    state: *mut seawall_retry_state,
    budget: *const seawall_retry_budget,
    out_ns: *mut u64,
    out_param: &'static str,
    out_stop: *mut seawall_retry_stop,
    decide: impl FnOnce(&mut CRetryState, Option<&crate::budget::CBudget>) -> Result<Duration, Stop>,
) -> seawall_result {
    let checked = || {
        // SAFETY: `state` is NULL or a live retry state used by this thread
        // only (the caller's contract).
        let s = unsafe { handle::borrow_mut(state, func) }?;
        // SAFETY: `budget` is NULL or a live handle (the caller's contract).
        let budget = unsafe { handle::borrow_optional(budget, func) }?;
        check(out_ns, func, out_param)?;
        check_optional(out_stop, func, "out_stop")?;
        if !s.in_attempt {
            return Err(Error::new(
                seawall_result::InvalidArgument,
                format!(
                    "{func}: no attempt in progress (begin each attempt with \
                     seawall_retry_state_begin and report it once)"
                ),
            ));
        }
        Ok((s, budget))
    };
    let (s, budget) = match checked() {
        Ok(v) => v,
        Err(e) => return fail(e),
    };
    s.in_attempt = false;
    match decide(s, budget) {
        Ok(d) => {
            // SAFETY: non-NULL and aligned (checked); valid for a write by
            // the caller's contract.
            unsafe { out_ns.write(nanos(d)) };
            seawall_result::Ok
        }
        Err(stop) => {
            if !out_stop.is_null() {
                // SAFETY: non-NULL and aligned (checked); valid for a write
                // by the caller's contract.
                unsafe { out_stop.write(stop.into()) };
            }
            seawall_result::RetryStopped
        }
    }
}

/// Reports that the attempt in progress failed, and says what to do next:
/// `SEAWALL_RESULT_OK` with the delay to sleep before the next attempt in
/// `*out_delay_ns`, or `SEAWALL_RESULT_RETRY_STOPPED` with the reason in
/// `*out_stop` (if not NULL) when the call must stop. The decision, in
/// order: a failure not `retryable` stops (`NOT_RETRYABLE`), as does the
/// last of `max_attempts` (`EXHAUSTED`) and a delay that would overrun
/// `max_total_delay_ns` (`DELAY_BUDGET_EXHAUSTED`); then `budget` (NULL for
/// none) is asked for the retry (`BUDGET_EXHAUSTED` if it refuses; a grant
/// is counted in it at once). The delay is the policy's
/// (`seawall_retry_delay` for this attempt and the previous delay), with
/// the state's seeded random number, and adds to the total delay.
/// `SEAWALL_RESULT_INVALID_ARGUMENT` when no attempt is in progress (each
/// begun attempt is reported once).
///
/// # Safety
///
/// `state` is NULL or a live retry state; `budget` is NULL or a live
/// handle; `out_delay_ns` is NULL or valid for a write; `out_stop` is NULL
/// or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_retry_state_failed(
    state: *mut seawall_retry_state,
    retryable: bool,
    budget: *const seawall_retry_budget,
    out_delay_ns: *mut u64,
    out_stop: *mut seawall_retry_stop,
) -> seawall_result {
    const F: &str = "seawall_retry_state_failed";
    let decide = |s: &mut CRetryState, budget: Option<&_>| {
        let rng = &s.rng;
        s.state.on_failure(retryable, budget, || rng.unit())
    };
    // SAFETY: this function's contract is `report`'s.
    run_code(F, || unsafe {
        report(
            F,
            state,
            budget,
            out_delay_ns,
            "out_delay_ns",
            out_stop,
            decide,
        )
    })
}

/// Reports that the breaker refused the attempt in progress, given the
/// `retry_after_ns` of its `seawall_rejection` (`UINT64_MAX`: no trial
/// announced, forced open), and says what to do next: `SEAWALL_RESULT_OK`
/// with the wait for the breaker's next trial in `*out_wait_ns`, or
/// `SEAWALL_RESULT_RETRY_STOPPED` with the reason in `*out_stop` (if not
/// NULL). A trial beyond `max_delay_ns` or what is left of
/// `max_total_delay_ns` stops (`REJECTED`), as does the last of
/// `max_attempts` (`EXHAUSTED`) and a refusal of `budget` (NULL for none;
/// `BUDGET_EXHAUSTED`, a grant is counted). The wait adds to the total
/// delay but not to the back-off schedule.
/// `SEAWALL_RESULT_INVALID_ARGUMENT` when no attempt is in progress.
///
/// # Safety
///
/// `state` is NULL or a live retry state; `budget` is NULL or a live
/// handle; `out_wait_ns` is NULL or valid for a write; `out_stop` is NULL
/// or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_retry_state_rejected(
    state: *mut seawall_retry_state,
    retry_after_ns: u64,
    budget: *const seawall_retry_budget,
    out_wait_ns: *mut u64,
    out_stop: *mut seawall_retry_stop,
) -> seawall_result {
    const F: &str = "seawall_retry_state_rejected";
    let retry_after = (retry_after_ns != u64::MAX).then(|| Duration::from_nanos(retry_after_ns));
    let decide =
        |s: &mut CRetryState, budget: Option<&_>| s.state.on_rejection(retry_after, budget);
    // SAFETY: this function's contract is `report`'s.
    run_code(F, || unsafe {
        report(
            F,
            state,
            budget,
            out_wait_ns,
            "out_wait_ns",
            out_stop,
            decide,
        )
    })
}

/// Writes the number of attempts begun so far to `*out_attempts`.
///
/// # Safety
///
/// `state` is NULL or a live retry state; `out_attempts` is NULL or valid
/// for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_retry_state_attempts(
    state: *const seawall_retry_state,
    out_attempts: *mut u32,
) -> seawall_result {
    const F: &str = "seawall_retry_state_attempts";
    let f = |s: &CRetryState| s.state.attempts();
    // SAFETY: `state` is NULL or a live retry state, `out_attempts` NULL or
    // valid for a write (this function's contract).
    unsafe { handle::get(F, state, out_attempts, "out_attempts", f) }
}

/// Writes the delay granted so far (back-off delays and breaker waits), in
/// nanoseconds, to `*out_ns`.
///
/// # Safety
///
/// `state` is NULL or a live retry state; `out_ns` is NULL or valid for a
/// write.
#[no_mangle]
pub unsafe extern "C" fn seawall_retry_state_total_delay(
    state: *const seawall_retry_state,
    out_ns: *mut u64,
) -> seawall_result {
    const F: &str = "seawall_retry_state_total_delay";
    let f = |s: &CRetryState| nanos(s.state.total_delay());
    // SAFETY: `state` is NULL or a live retry state, `out_ns` NULL or valid
    // for a write (this function's contract).
    unsafe { handle::get(F, state, out_ns, "out_ns", f) }
}

#[cfg(test)]
mod tests {
    use std::ptr;

    use seawall::{Backoff, RetryConfig, RetryStrategy};

    use super::*;

    fn config(strategy: u32) -> seawall_retry_config {
        seawall_retry_config::from(&RetryConfig {
            strategy: RetryStrategy::Fixed,
            max_attempts: 12,
            initial_delay: Duration::from_millis(10),
            max_delay: Duration::from_secs(5),
            jitter_factor: 0.5,
            ..Default::default()
        })
        .with_strategy(strategy)
    }

    impl seawall_retry_config {
        fn with_strategy(mut self, strategy: u32) -> Self {
            self.strategy = strategy;
            self
        }
    }

    /// The delays a C caller is given for a call that always fails.
    fn c_delays(c: &seawall_retry_config, seed: u64) -> (Vec<u64>, seawall_retry_stop) {
        let mut s = ptr::null_mut();
        // SAFETY: `c` and `s` are valid; the state is freed below.
        let r = unsafe { seawall_retry_state_new(c, seed, &mut s) };
        assert_eq!(r, seawall_result::Ok);
        let mut delays = Vec::new();
        let stop = loop {
            let (mut d, mut stop) = (0, seawall_retry_stop::Rejected);
            // SAFETY: `s` is live; the outputs are valid.
            let r = unsafe {
                seawall_retry_state_begin(s, ptr::null(), ptr::null_mut());
                seawall_retry_state_failed(s, true, ptr::null(), &mut d, &mut stop)
            };
            match r {
                seawall_result::Ok => delays.push(d),
                seawall_result::RetryStopped => break stop,
                other => panic!("{other:?}"),
            }
        };
        // SAFETY: live, not used afterwards.
        unsafe { seawall_retry_state_free(s) };
        (delays, stop)
    }

    #[test]
    fn stop_numbers_are_pinned() {
        // The ABI: these numbers are compiled into callers.
        let pinned = [
            (Stop::Exhausted, 0),
            (Stop::NotRetryable, 1),
            (Stop::BudgetExhausted, 2),
            (Stop::DelayBudgetExhausted, 3),
            (Stop::Rejected, 4),
        ];
        for (stop, n) in pinned {
            assert_eq!(seawall_retry_stop::from(stop) as u32, n, "{stop:?}");
        }
    }

    #[test]
    fn delays_are_the_cores_for_the_same_seed() {
        for strategy in 0..=5 {
            let c = config(strategy);
            let backoff = backoff(&c, "t").ok().unwrap();
            for seed in [0, 1, 42, u64::MAX] {
                let mut core = RetryState::new(&backoff);
                let rng = SeededRandom::new(seed);
                let mut want = Vec::new();
                let stop = loop {
                    core.begin_attempt();
                    let none = None::<&crate::budget::CBudget>;
                    match core.on_failure(true, none, || rng.unit()) {
                        Ok(d) => want.push(nanos(d)),
                        Err(stop) => break stop,
                    }
                };
                let (got, got_stop) = c_delays(&c, seed);
                assert_eq!(got, want, "strategy {strategy}, seed {seed}");
                assert_eq!(got_stop, stop.into());
                assert_eq!(got.len(), 11, "max_attempts - 1 delays");
            }
        }
    }

    #[test]
    fn jittered_delays_are_the_pure_functions_for_the_drawn_numbers() {
        let c = config(crate::retry::seawall_retry_strategy::DecorrelatedJitter as u32);
        let backoff: Backoff = backoff(&c, "t").ok().unwrap();
        let rng = SeededRandom::new(7);
        let mut previous = Duration::ZERO;
        let (got, _) = c_delays(&c, 7);
        for (i, d) in got.iter().enumerate() {
            let want = backoff.delay(i as u32 + 1, previous, rng.unit());
            assert_eq!(*d, nanos(want));
            previous = want;
        }
        assert_ne!(c_delays(&c, 7).0, c_delays(&c, 8).0);
    }
}

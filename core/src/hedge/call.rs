//! One hedged call's state machine ([`HedgeCall`]): a packed state word,
//! the pure functions that decide its next value, and the one
//! compare-and-swap loop per method that applies them.

use std::ops::Deref;
use std::time::Duration;

use super::{Count, Hedge, MAX_HEDGES};
use crate::clock::{nanos, Clock};
use crate::sync::{AtomicU64, Ordering};

/// What [`HedgeCall::may_hedge`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HedgeDecision {
    /// Start extra attempt number `n` (1 for the first hedge) now: the
    /// budget granted it and it is counted as started.
    Start(u32),
    /// The next extra attempt is due this much later: sleep it (or until an
    /// attempt ends) and ask again.
    Wait(Duration),
    /// The budget refused the extra attempt: none was started, and the call
    /// makes no more (its attempts already running carry on).
    Refused,
    /// No extra attempt will be started: the call is not idempotent, made
    /// all of its `max_hedges`, was refused before, or is decided.
    Done,
    /// As `Refused`, and every attempt already started has failed while
    /// this one was being asked for: the call failed, with the last failure
    /// its driver was told was [`Resolution::Pending`]. Only drivers that
    /// report results from other threads than the one asking ever see it.
    AllFailed,
}

/// What an attempt's end means for its call
/// ([`HedgeCall::record_attempt_result`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// This attempt succeeded first: its result is the call's; cancel the
    /// others.
    Won,
    /// The call was decided before: ignore this attempt's result.
    Lost,
    /// This attempt failed while others may still succeed: keep its error
    /// in case they all fail, and wait on.
    Pending,
    /// This attempt failed, and so did every other one started: its error
    /// is the call's.
    Failed,
    /// The attempt was never started or was reported before: nothing
    /// changed.
    Invalid,
}

// The state word: `[failed call: 1 | closed: 1 | reported: 16 | winner: 5 |
// failed: 5 | started: 5]`, low bits first. Counts fit: at most
// `MAX_HEDGES + 1 = 16` attempts.
const COUNT_BITS: u32 = 5;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;
const FAILED_SHIFT: u32 = COUNT_BITS;
const WINNER_SHIFT: u32 = 2 * COUNT_BITS;
const REPORTED_SHIFT: u32 = 16;
/// No more extra attempts: the budget refused one.
const CLOSED: u64 = 1 << 32;
/// Every attempt failed: the call failed.
const FAILED_CALL: u64 = 1 << 33;

const _: () = assert!(MAX_HEDGES < 16 && 3 * COUNT_BITS <= REPORTED_SHIFT);

/// The delay not computed yet.
const UNSET: u64 = u64::MAX;

/// A call's state word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct State(u64);

impl State {
    /// One attempt started, nothing reported.
    const FIRST: State = State(1);

    /// Attempts started (the first one included) or being granted.
    fn started(self) -> u32 {
        (self.0 & COUNT_MASK) as u32
    }
    /// Attempts reported failed.
    fn failed(self) -> u32 {
        ((self.0 >> FAILED_SHIFT) & COUNT_MASK) as u32
    }
    /// The winning attempt's number.
    fn winner(self) -> Option<u32> {
        match ((self.0 >> WINNER_SHIFT) & COUNT_MASK) as u32 {
            0 => None,
            w => Some(w - 1),
        }
    }
    fn reported(self, attempt: u32) -> bool {
        self.0 & (1 << (REPORTED_SHIFT + attempt)) != 0
    }
    fn decided(self) -> bool {
        self.winner().is_some() || self.0 & FAILED_CALL != 0
    }

    /// Reserves the next attempt, if another may start at all.
    fn reserve(self, allowed: u32) -> Option<State> {
        let open = !self.decided() && self.0 & CLOSED == 0 && self.started() <= allowed;
        open.then_some(State(self.0 + 1))
    }

    /// Gives back a reserved attempt the budget refused, and stops hedging.
    /// The call fails if every attempt started so far has failed.
    fn refuse(self) -> State {
        let next = State((self.0 - 1) | CLOSED);
        if !next.decided() && next.failed() == next.started() {
            State(next.0 | FAILED_CALL)
        } else {
            next
        }
    }

    /// Attempt `attempt` ended, well or not.
    fn report(self, attempt: u32, ok: bool) -> (State, Resolution) {
        if attempt >= self.started() || self.reported(attempt) {
            return (self, Resolution::Invalid);
        }
        let marked = State(self.0 | 1 << (REPORTED_SHIFT + attempt));
        if self.decided() {
            (marked, Resolution::Lost)
        } else if ok {
            let won = marked.0 | u64::from(attempt + 1) << WINNER_SHIFT;
            (State(won), Resolution::Won)
        } else {
            let failed = State(marked.0 + (1 << FAILED_SHIFT));
            if failed.failed() == failed.started() {
                (State(failed.0 | FAILED_CALL), Resolution::Failed)
            } else {
                (failed, Resolution::Pending)
            }
        }
    }
}

/// One hedged call, without any I/O: it says when to start extra attempts
/// and which attempt's result is the call's (see the [module
/// docs](super)).
///
/// Attempt 0 is the first, started when the call is; extra attempt `n` is
/// due `n` delays after it. Every method takes `&self` and is lock-free,
/// so a driver may report attempts from the threads that ran them.
///
/// `H` is how it holds its [`Hedge`]: `&Hedge` ([`Hedge::start`]) or an
/// `Arc<Hedge>` for a call that outlives the borrow (a binding's handle).
#[derive(Debug)]
pub struct HedgeCall<H> {
    hedge: H,
    /// When attempt 0 started.
    start: u64,
    /// The delay between attempts, in nanoseconds, or [`UNSET`] until
    /// first needed: a call that answers before anyone asks when to hedge
    /// never reads the latencies.
    delay: AtomicU64,
    /// Extra attempts allowed: `max_hedges`, or 0 if not idempotent.
    allowed: u32,
    state: AtomicU64,
}

impl<C: Clock, H: Deref<Target = Hedge<C>>> HedgeCall<H> {
    /// A call whose first attempt starts at `now`. `idempotent`: whether it
    /// may be hedged at all. `record_first`: count the first attempt in the
    /// budget as a request (not when a retry layer sharing the budget
    /// counted it already).
    pub fn new(hedge: H, now: u64, idempotent: bool, record_first: bool) -> Self {
        if record_first {
            hedge.budget.record_attempt(false);
        }
        hedge.count(Count::Calls);
        let allowed = if idempotent {
            hedge.config.max_hedges
        } else {
            0
        };
        Self {
            hedge,
            start: now,
            delay: AtomicU64::new(if allowed > 0 { UNSET } else { 0 }),
            allowed,
            state: AtomicU64::new(State::FIRST.0),
        }
    }

    fn load(&self) -> State {
        // Acquire: pairs with the Release of the swaps below, so a driver
        // that sees an attempt reported also sees what the reporting thread
        // wrote before reporting (its attempt's value).
        State(self.state.load(Ordering::Acquire))
    }

    /// Applies `step` to the state word until the swap holds; returns the
    /// state it replaced and what `step` said.
    fn update<R>(&self, mut step: impl FnMut(State) -> (State, R)) -> (State, R) {
        let mut cur = self.load();
        loop {
            let (next, r) = step(cur);
            if next == cur {
                return (cur, r);
            }
            // AcqRel: Release publishes the caller's writes before the
            // change (see `load`); Acquire, also on failure, as `load`.
            match self.state.compare_exchange_weak(
                cur.0,
                next.0,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return (cur, r),
                Err(actual) => cur = State(actual),
            }
        }
    }

    /// The delay between attempts, in nanoseconds: the hedge's delay at
    /// the call's start, computed on first use.
    fn delay_nanos(&self) -> u64 {
        // Relaxed: the value is self-contained; the swap makes every caller
        // use the first value stored.
        let d = self.delay.load(Ordering::Relaxed);
        if d != UNSET {
            return d;
        }
        let d = nanos(self.hedge.delay(self.start)).min(UNSET - 1);
        match self
            .delay
            .compare_exchange(UNSET, d, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) => d,
            Err(first) => first,
        }
    }

    /// When extra attempt `n` is due.
    fn due(&self, n: u32) -> u64 {
        self.start
            .saturating_add(self.delay_nanos().saturating_mul(u64::from(n)))
    }

    /// How long after `now` the next extra attempt is due (zero: now or
    /// overdue), or `None` when none will be started.
    pub fn next_delay(&self, now: u64) -> Option<Duration> {
        let s = self.load();
        s.reserve(self.allowed)?;
        Some(Duration::from_nanos(
            self.due(s.started()).saturating_sub(now),
        ))
    }

    /// Whether to start an extra attempt at `now`: when one is due, it asks
    /// the budget, which counts it as a retry if granted. The attempt is
    /// reserved before the budget is asked, so a call decided meanwhile
    /// never draws from it; a call decided between the two (by a result
    /// reported from another thread) still gets its granted attempt, which
    /// its driver may start or skip.
    pub fn may_hedge(&self, now: u64) -> HedgeDecision {
        let (before, wait) = self.update(|s| match s.reserve(self.allowed) {
            None => (s, Some(HedgeDecision::Done)),
            Some(next) => {
                let due = self.due(s.started());
                if now < due {
                    (
                        s,
                        Some(HedgeDecision::Wait(Duration::from_nanos(due - now))),
                    )
                } else {
                    (next, None)
                }
            }
        });
        if let Some(decision) = wait {
            return decision;
        }
        let n = before.started();
        if self.hedge.budget.can_retry() {
            self.hedge.count(Count::Hedges);
            return HedgeDecision::Start(n);
        }
        self.hedge.count(Count::Refused);
        let (before, ()) = self.update(|s| (s.refuse(), ()));
        if before.refuse().0 & FAILED_CALL != 0 && !before.decided() {
            HedgeDecision::AllFailed
        } else {
            HedgeDecision::Refused
        }
    }

    /// Attempt `attempt` ended at `now`, well (`ok`) or not: whether its
    /// result is the call's. The first success wins; a call's successful
    /// latency is recorded for the quantile.
    pub fn record_attempt_result(&self, attempt: u32, now: u64, ok: bool) -> Resolution {
        let (_, r) = self.update(|s| s.report(attempt, ok));
        if r == Resolution::Won {
            self.hedge
                .record_latency(now, Duration::from_nanos(now.saturating_sub(self.start)));
            if attempt > 0 {
                self.hedge.count(Count::Wins);
            }
        }
        r
    }

    /// The winning attempt, once there is one.
    pub fn winner(&self) -> Option<u32> {
        self.load().winner()
    }

    /// Whether the call is decided: won, or every attempt failed.
    pub fn is_decided(&self) -> bool {
        self.load().decided()
    }

    /// Attempts started (the first one included).
    pub fn attempts(&self) -> u32 {
        self.load().started()
    }

    /// The delay between attempts this call uses (zero if it may not be
    /// hedged).
    pub fn delay(&self) -> Duration {
        Duration::from_nanos(self.delay_nanos())
    }

    /// The hedge it belongs to.
    pub fn hedge(&self) -> &H {
        &self.hedge
    }
}

#[cfg(all(test, not(seawall_loom)))]
mod tests {
    use super::*;

    #[test]
    fn the_first_success_wins_and_later_ones_lose() {
        let s = State::FIRST.reserve(1).unwrap();
        assert_eq!(s.started(), 2);
        assert_eq!(s.reserve(1), None, "max_hedges reached");
        let (s, r) = s.report(1, true);
        assert_eq!((r, s.winner()), (Resolution::Won, Some(1)));
        let (s, r) = s.report(0, true);
        assert_eq!((r, s.winner()), (Resolution::Lost, Some(1)));
        assert_eq!(s.report(0, false).1, Resolution::Invalid, "reported twice");
        assert_eq!(s.report(2, true).1, Resolution::Invalid, "never started");
    }

    #[test]
    fn the_call_fails_when_every_started_attempt_failed() {
        let s = State::FIRST.reserve(2).unwrap();
        let (s, r) = s.report(0, false);
        assert_eq!(r, Resolution::Pending);
        let (s, r) = s.report(1, false);
        assert_eq!(r, Resolution::Failed);
        assert!(s.decided());
        assert_eq!(s.reserve(2), None, "no hedge after the call failed");
    }

    #[test]
    fn a_refused_hedge_gives_its_slot_back_and_closes() {
        let reserved = State::FIRST.reserve(3).unwrap();
        let s = reserved.refuse();
        assert_eq!(s.started(), 1);
        assert_eq!(s.reserve(3), None, "closed");
        // The first attempt failed while the hedge was being asked for.
        let (failed, r) = reserved.report(0, false);
        assert_eq!(r, Resolution::Pending);
        assert!(failed.refuse().decided(), "the refusal ends the call");
    }
}

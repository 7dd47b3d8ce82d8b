//! The breaker's decisions: pure functions from one state word to what to do
//! with it.
//!
//! Each function looks at a word (and the limits of its configuration) and
//! returns a [`Decision`]: keep the word or swap it for another, and what the
//! operation answers. A decision that depends on time says so instead of
//! reading a clock ([`Decision::ByDeadline`]: one step for an episode whose
//! deadline is still ahead, one for an episode whose deadline has passed).
//! The CAS driver (`driver.rs`) reads the clock and the deadline word only
//! then, picks the step, and applies it; these functions touch no atomic,
//! no clock and no listener, and are unit-tested alone below.
//!
//! Depends on the word (`state.rs`) and the configuration (`config.rs`).

use super::config::BreakerConfig;
use super::state::{Kind, Outcome, State, TrialLayout, Word};

/// The limits the decisions need, copied out of the configuration.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// Consecutive failures that trip; 0 when that rule is off.
    pub(crate) failure_threshold: u32,
    /// Trial successes that close.
    pub(crate) trial_successes: u32,
    /// Trial failures tolerated before reopening (0 unless in success-rate
    /// mode).
    pub(crate) trial_failures_allowed: u32,
    pub(crate) half_open_max_calls: u32,
    /// Where the HALF_OPEN fields sit in the word.
    pub(crate) trials: TrialLayout,
}

impl Limits {
    pub(crate) fn new(c: &BreakerConfig) -> Self {
        let (trial_successes, trial_failures_allowed) = c.trial_limits();
        Self {
            failure_threshold: if c.trip_on_consecutive_failures {
                c.failure_threshold
            } else {
                0
            },
            trial_successes,
            trial_failures_allowed,
            half_open_max_calls: c.half_open_max_calls,
            trials: TrialLayout::new(
                trial_successes,
                c.half_open_max_calls,
                trial_failures_allowed,
            ),
        }
    }
}

/// What to do with the word a decision was made on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step<T> {
    /// Leave the word as it is; the operation answers `T`.
    Keep(T),
    /// Swap the word for this one; once the swap wins, the operation answers
    /// `T` (a lost swap decides again on the word found).
    Swap(Word, T),
}

/// A decision on one word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Decision<T> {
    /// Decided on the word alone: no clock read needed.
    Made(Step<T>),
    /// Depends on whether the deadline of the word's episode (the open time's
    /// end for OPEN, the trial batch's expiry for HALF_OPEN) has passed.
    ByDeadline { pending: Step<T>, passed: Step<T> },
}

impl<T> Decision<T> {
    /// Does this decision need the deadline of the word's episode?
    #[inline(always)]
    pub(crate) fn timed(&self) -> bool {
        matches!(self, Decision::ByDeadline { .. })
    }

    /// The step to take, given whether the deadline has passed (ignored by a
    /// decision made on the word alone).
    #[inline(always)]
    pub(crate) fn given(self, deadline_passed: bool) -> Step<T> {
        match self {
            Decision::Made(step) => step,
            Decision::ByDeadline { pending, passed } => {
                if deadline_passed {
                    passed
                } else {
                    pending
                }
            }
        }
    }
}

/// What an acquire answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Admit the call: an ordinary call in the word's episode, or (after a
    /// swap) a trial call in the episode swapped in.
    Admit,
    /// Reject the call. After a swap: the trial batch expired and the
    /// breaker reopened.
    Reject,
}

/// Decides an acquire. The deadline matters only for OPEN (has the open time
/// elapsed?) and for a HALF_OPEN batch with trials in flight (have they
/// expired?), so the clock is read only where the answer depends on it.
#[inline]
pub(crate) fn acquire(w: Word, limits: &Limits) -> Decision<Admission> {
    use Admission::{Admit, Reject};
    let t = &limits.trials;
    match w.kind() {
        Kind::Closed | Kind::ForcedClosed => Decision::Made(Step::Keep(Admit)),
        Kind::ForcedOpen => Decision::Made(Step::Keep(Reject)),
        Kind::Open => Decision::ByDeadline {
            pending: Step::Keep(Reject),
            passed: Step::Swap(
                t.with_inflight(w.enter(Kind::HalfOpen, w.trips()), 1),
                Admit,
            ),
        },
        Kind::HalfOpen => {
            let n = t.inflight(w);
            if n == 0 {
                // A new batch of trials: a new generation, so the batch gets
                // its own half-open deadline.
                return Decision::Made(Step::Swap(t.with_inflight(w.bump(), 1), Admit));
            }
            // An expired batch takes no one: it reopens the breaker.
            let expired = Step::Swap(w.reopen(), Reject);
            if n < limits.half_open_max_calls {
                // A free slot beside outstanding trials: join their batch.
                Decision::ByDeadline {
                    pending: Step::Swap(t.with_inflight(w, n + 1), Admit),
                    passed: expired,
                }
            } else {
                Decision::ByDeadline {
                    pending: Step::Keep(Reject),
                    passed: expired,
                }
            }
        }
    }
}

/// Decides what an outcome does to `w`. `current` says whether the permit
/// belongs to the episode of `w`: a late one (of an episode that is over)
/// changes nothing.
///
/// The deadline matters only for a trial outcome (HALF_OPEN): an expired
/// batch reopens the breaker and the outcome is discarded. `rule_trips` says
/// whether a window rule (evaluated by the caller after recording the
/// outcome) demands that a CLOSED breaker open.
#[inline]
pub(crate) fn outcome(
    w: Word,
    current: bool,
    outcome: Outcome,
    limits: &Limits,
    rule_trips: bool,
) -> Decision<()> {
    if !current {
        return Decision::Made(Step::Keep(()));
    }
    let t = &limits.trials;
    let to = |w: Word| Step::Swap(w, ());
    match w.kind() {
        Kind::Closed => Decision::Made(match outcome {
            _ if rule_trips => to(w.enter(Kind::Open, 0)),
            Outcome::Success if w.payload() != 0 => to(w.with_payload(0)),
            Outcome::Success | Outcome::Ignored => Step::Keep(()),
            Outcome::Failure if limits.failure_threshold == 0 => Step::Keep(()),
            Outcome::Failure => {
                let c = w.payload() + 1;
                if c >= u64::from(limits.failure_threshold) {
                    to(w.enter(Kind::Open, 0))
                } else {
                    to(w.with_payload(c))
                }
            }
        }),
        Kind::HalfOpen => {
            let released = t.with_inflight(w, t.inflight(w).saturating_sub(1));
            let pending = match outcome {
                Outcome::Success => {
                    let c = t.successes(w) + 1;
                    if c >= limits.trial_successes {
                        to(w.enter(Kind::Closed, 0))
                    } else {
                        to(t.with_successes(released, c))
                    }
                }
                Outcome::Failure => {
                    let f = t.fails(w) + 1;
                    if f > limits.trial_failures_allowed {
                        to(w.reopen())
                    } else {
                        to(t.with_fails(released, f))
                    }
                }
                Outcome::Ignored => to(released),
            };
            Decision::ByDeadline {
                pending,
                passed: to(w.reopen()),
            }
        }
        // No permit is ever issued in these generations, or (FORCED_CLOSED)
        // outcomes are only measured.
        Kind::Open | Kind::ForcedOpen | Kind::ForcedClosed => Decision::Made(Step::Keep(())),
    }
}

/// The state a caller sees in `w`: an OPEN breaker whose open time has
/// passed reads as HALF_OPEN (the next call will be a trial), and a HALF_OPEN
/// one whose outstanding trials have expired as OPEN. Never writes.
#[inline]
pub(crate) fn read(w: Word, limits: &Limits) -> Decision<State> {
    let as_is = Step::Keep(w.kind().into());
    match w.kind() {
        Kind::Open => Decision::ByDeadline {
            pending: as_is,
            passed: Step::Keep(State::HalfOpen),
        },
        Kind::HalfOpen if limits.trials.inflight(w) > 0 => Decision::ByDeadline {
            pending: as_is,
            passed: Step::Keep(State::Open),
        },
        _ => Decision::Made(as_is),
    }
}

/// The word after a manual command: a fresh episode unless the breaker is
/// already in that forced state (then nothing to do).
#[inline]
pub(crate) fn command(w: Word, to: Kind) -> Decision<()> {
    Decision::Made(match to {
        Kind::ForcedOpen | Kind::ForcedClosed if w.kind() == to => Step::Keep(()),
        _ => Step::Swap(w.enter(to, 0), ()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(failure: u32, successes: u32, max_calls: u32) -> Limits {
        Limits::new(&BreakerConfig {
            failure_threshold: failure,
            success_threshold: successes,
            half_open_max_calls: max_calls,
            ..Default::default()
        })
    }

    /// The step of a decision that must not consult the clock.
    fn made<T>(d: Decision<T>) -> Step<T> {
        assert!(!d.timed(), "the clock must not be consulted here");
        d.given(false)
    }

    /// The step of a decision that depends on the deadline, given whether it
    /// has passed.
    fn timed<T>(d: Decision<T>, passed: bool) -> Step<T> {
        assert!(d.timed(), "the deadline must be consulted here");
        d.given(passed)
    }

    /// The word a step swaps in, if any.
    fn swapped<T>(s: Step<T>) -> Option<Word> {
        match s {
            Step::Keep(_) => None,
            Step::Swap(w, _) => Some(w),
        }
    }

    /// An outcome's new word: `None` if it keeps the word. `passed` is `None`
    /// when the decision must not consult the clock.
    fn out(
        w: Word,
        o: Outcome,
        l: &Limits,
        passed: Option<bool>,
        rule_trips: bool,
    ) -> Option<Word> {
        let d = outcome(w, true, o, l, rule_trips);
        swapped(match passed {
            None => made(d),
            Some(p) => timed(d, p),
        })
    }

    /// A command's new word: `None` if it keeps the word.
    fn cmd(w: Word, to: Kind) -> Option<Word> {
        swapped(made(command(w, to)))
    }

    #[test]
    fn trial_fields_are_as_wide_as_their_limits() {
        // The widest single limits: every field at its maximum at once.
        let c = BreakerConfig {
            success_threshold: i32::MAX as u32,
            half_open_success_rate: None,
            half_open_max_calls: 31,
            ..Default::default()
        };
        assert_eq!(c.trial_bits(), 31 + 5);
        let l = Limits::new(&c);
        let t = &l.trials;
        let max_trips = Word::INITIAL.enter(Kind::Open, u32::MAX).trips();
        let h = Word::INITIAL.enter(Kind::HalfOpen, max_trips);
        let h = t.with_inflight(t.with_successes(h, i32::MAX as u32 - 1), 31);
        assert_eq!((t.successes(h), t.inflight(h)), (i32::MAX as u32 - 1, 31));
        assert_eq!(
            (h.kind(), h.trips(), h.gen()),
            (Kind::HalfOpen, max_trips, 1)
        );
        // Success-rate mode keeps a failure field too.
        let r = BreakerConfig {
            success_threshold: 10_000,
            half_open_success_rate: Some(0.5),
            half_open_max_calls: 1_000,
            ..Default::default()
        };
        assert_eq!(r.trial_bits(), 13 + 10 + 13);
        let l = Limits::new(&r);
        let t = &l.trials;
        let h = Word::INITIAL.enter(Kind::HalfOpen, 3);
        let h = t.with_fails(t.with_inflight(t.with_successes(h, 4_999), 1_000), 5_000);
        assert_eq!(
            (t.successes(h), t.inflight(h), t.fails(h), h.trips()),
            (4_999, 1_000, 5_000, 3)
        );
    }

    #[test]
    fn closed_counts_up_to_the_largest_threshold() {
        let l = limits(u32::MAX, 1, 1);
        let w = Word::INITIAL.with_payload(u64::from(u32::MAX) - 2);
        let w = out(w, Outcome::Failure, &l, None, false).unwrap();
        assert_eq!(
            (w.kind(), w.payload()),
            (Kind::Closed, u64::from(u32::MAX) - 1)
        );
        let open = out(w, Outcome::Failure, &l, None, false).unwrap();
        assert_eq!((open.kind(), open.gen()), (Kind::Open, 1));
    }

    #[test]
    fn closed_admits_without_clock_and_counts_consecutive_failures() {
        let l = limits(3, 2, 2);
        let w = Word::INITIAL;
        assert_eq!(made(acquire(w, &l)), Step::Keep(Admission::Admit));
        let w1 = out(w, Outcome::Failure, &l, None, false).unwrap();
        assert_eq!(w1.payload(), 1);
        let w2 = out(w1, Outcome::Failure, &l, None, false).unwrap();
        // Ignored changes nothing, success resets.
        assert_eq!(out(w2, Outcome::Ignored, &l, None, false), None);
        assert_eq!(
            out(w2, Outcome::Success, &l, None, false)
                .unwrap()
                .payload(),
            0
        );
        assert_eq!(out(w, Outcome::Success, &l, None, false), None);
        let open = out(w2, Outcome::Failure, &l, None, false).unwrap();
        assert_eq!(
            (open.kind(), open.gen(), open.trips(), open.payload()),
            (Kind::Open, 1, 0, 0)
        );
    }

    #[test]
    fn a_rule_trip_opens_on_any_outcome() {
        let open = out(
            Word::INITIAL,
            Outcome::Success,
            &limits(3, 2, 2),
            None,
            true,
        )
        .unwrap();
        assert_eq!(open.kind(), Kind::Open);
    }

    #[test]
    fn open_asks_the_deadline_and_starts_a_trial_generation() {
        let l = limits(3, 2, 2);
        let open = Word::INITIAL.enter(Kind::Open, 2);
        assert_eq!(
            timed(acquire(open, &l), false),
            Step::Keep(Admission::Reject)
        );
        let Step::Swap(h, Admission::Admit) = timed(acquire(open, &l), true) else {
            panic!("expected a trial")
        };
        assert_eq!(
            (h.kind(), l.trials.inflight(h), h.trips(), h.gen()),
            (Kind::HalfOpen, 1, 2, 2)
        );
    }

    #[test]
    fn half_open_bounds_trials_and_expires_only_when_full() {
        let l = limits(3, 2, 2);
        let t = &l.trials;
        let h = t.with_inflight(Word::INITIAL.enter(Kind::HalfOpen, 0), 1);
        let Step::Swap(h2, Admission::Admit) = timed(acquire(h, &l), false) else {
            panic!("second slot should be free")
        };
        assert!(
            matches!(
                timed(acquire(h, &l), true),
                Step::Swap(_, Admission::Reject)
            ),
            "an expired batch takes no one"
        );
        assert_eq!((t.inflight(h2), h2.gen()), (2, h.gen()));
        assert_eq!(timed(acquire(h2, &l), false), Step::Keep(Admission::Reject));
        let Step::Swap(o, Admission::Reject) = timed(acquire(h2, &l), true) else {
            panic!("expired trials reopen")
        };
        assert_eq!((o.kind(), o.trips()), (Kind::Open, 1));
        // An empty batch starts a new generation.
        let idle = t.with_successes(t.with_inflight(h, 0), 1);
        let Step::Swap(n, Admission::Admit) = made(acquire(idle, &l)) else {
            panic!("idle half-open admits")
        };
        assert_eq!(
            (n.gen(), t.inflight(n), t.successes(n)),
            (h.gen() + 1, 1, 1)
        );
    }

    #[test]
    fn trial_outcomes() {
        let l = limits(3, 2, 2);
        let t = &l.trials;
        let h = t.with_inflight(Word::INITIAL.enter(Kind::HalfOpen, 3), 2);
        let g = h.gen();
        let s = out(h, Outcome::Success, &l, Some(false), false).unwrap();
        assert_eq!(
            (s.kind(), t.successes(s), t.inflight(s)),
            (Kind::HalfOpen, 1, 1)
        );
        let c = out(s, Outcome::Success, &l, Some(false), false).unwrap();
        assert_eq!((c.kind(), c.trips(), c.gen()), (Kind::Closed, 0, g + 1));
        let f = out(h, Outcome::Failure, &l, Some(false), false).unwrap();
        assert_eq!((f.kind(), f.trips()), (Kind::Open, 4));
        let i = out(h, Outcome::Ignored, &l, Some(false), false).unwrap();
        assert_eq!(
            (i.kind(), t.inflight(i), t.successes(i)),
            (Kind::HalfOpen, 1, 0)
        );
        let e = out(h, Outcome::Success, &l, Some(true), false).unwrap();
        assert_eq!((e.kind(), e.trips()), (Kind::Open, 4));
    }

    #[test]
    fn success_rate_mode_judges_a_batch() {
        let c = BreakerConfig {
            success_threshold: 10,
            half_open_success_rate: Some(0.8),
            half_open_max_calls: 10,
            ..Default::default()
        };
        let l = Limits::new(&c);
        let t = &l.trials;
        assert_eq!((l.trial_successes, l.trial_failures_allowed), (8, 2));
        let mut h = t.with_inflight(Word::INITIAL.enter(Kind::HalfOpen, 0), 10);
        for _ in 0..2 {
            h = out(h, Outcome::Failure, &l, Some(false), false).unwrap();
            assert_eq!(h.kind(), Kind::HalfOpen, "two failures are tolerated");
        }
        let reopened = out(h, Outcome::Failure, &l, Some(false), false).unwrap();
        assert_eq!(
            reopened.kind(),
            Kind::Open,
            "a third makes 8 of 10 impossible"
        );
        for _ in 0..7 {
            h = out(h, Outcome::Success, &l, Some(false), false).unwrap();
        }
        assert_eq!(
            (h.kind(), t.successes(h), t.fails(h), t.inflight(h)),
            (Kind::HalfOpen, 7, 2, 1)
        );
        let closed = out(h, Outcome::Success, &l, Some(false), false).unwrap();
        assert_eq!(closed.kind(), Kind::Closed);
        // A rate that rounds the need below one still needs a success.
        let tiny = BreakerConfig {
            success_threshold: 1,
            half_open_success_rate: Some(0.01),
            ..Default::default()
        };
        assert_eq!(Limits::new(&tiny).trial_successes, 1);
    }

    #[test]
    fn consecutive_rule_can_be_off() {
        let mut l = limits(3, 2, 2);
        l.failure_threshold = 0;
        assert_eq!(out(Word::INITIAL, Outcome::Failure, &l, None, false), None);
        assert_eq!(
            out(Word::INITIAL, Outcome::Failure, &l, None, true)
                .unwrap()
                .kind(),
            Kind::Open
        );
    }

    #[test]
    fn a_late_outcome_changes_nothing() {
        let l = limits(1, 1, 1);
        let h = l
            .trials
            .with_inflight(Word::INITIAL.enter(Kind::HalfOpen, 0), 1);
        for w in [Word::INITIAL, h] {
            for o in [Outcome::Success, Outcome::Failure, Outcome::Ignored] {
                assert_eq!(made(outcome(w, false, o, &l, true)), Step::Keep(()));
            }
        }
    }

    #[test]
    fn reads_see_passed_deadlines_without_writing() {
        let l = limits(3, 2, 2);
        let open = Word::INITIAL.enter(Kind::Open, 0);
        assert_eq!(timed(read(open, &l), false), Step::Keep(State::Open));
        assert_eq!(timed(read(open, &l), true), Step::Keep(State::HalfOpen));
        let idle = Word::INITIAL.enter(Kind::HalfOpen, 0);
        assert_eq!(made(read(idle, &l)), Step::Keep(State::HalfOpen));
        let busy = l.trials.with_inflight(idle, 1);
        assert_eq!(timed(read(busy, &l), true), Step::Keep(State::Open));
        assert_eq!(made(read(Word::INITIAL, &l)), Step::Keep(State::Closed));
    }

    #[test]
    fn commands() {
        let w = Word::INITIAL.with_payload(2);
        let fo = cmd(w, Kind::ForcedOpen).unwrap();
        assert_eq!((fo.kind(), fo.gen()), (Kind::ForcedOpen, 1));
        assert_eq!(cmd(fo, Kind::ForcedOpen), None);
        let r = cmd(fo, Kind::Closed).unwrap();
        assert_eq!((r.kind(), r.payload(), r.gen()), (Kind::Closed, 0, 2));
        // Reset of a CLOSED breaker clears its count in a new generation.
        assert_eq!(cmd(w, Kind::Closed).unwrap().payload(), 0);
    }
}

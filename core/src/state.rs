//! The packed state word and the pure functions that decide its next value.
//!
//! One `u64` holds everything a decision needs, so a single compare-and-swap
//! applies a decision atomically:
//!
//! | bits  | field      | meaning                                                  |
//! |-------|------------|----------------------------------------------------------|
//! | 0-2   | `kind`     | CLOSED, OPEN, HALF_OPEN, FORCED_OPEN, FORCED_CLOSED      |
//! | 3-14  | `count`    | CLOSED: consecutive failures; HALF_OPEN: trial successes |
//! | 15-26 | `inflight` | HALF_OPEN: trial permits issued and not yet resolved     |
//! | 27-38 | `fails`    | HALF_OPEN: trial failures (success-rate mode only)       |
//! | 39-43 | `trips`    | consecutive trips without closing (back-off exponent)    |
//! | 44-63 | `gen`      | generation: bumped by every write that starts an episode |
//!
//! The generation stamps every permit. An outcome changes the word only when
//! its permit's generation is the word's, so a result that arrives after the
//! breaker moved on can never decide the new episode. The generation wraps
//! after a million episodes; a permit would have to stay outstanding across
//! exactly that many to be mistaken for a current one.

use crate::Outcome;

const KIND_BITS: u32 = 3;
const COUNT_SHIFT: u32 = KIND_BITS;
const FIELD_BITS: u32 = 12;
const INFLIGHT_SHIFT: u32 = COUNT_SHIFT + FIELD_BITS;
const FAILS_SHIFT: u32 = INFLIGHT_SHIFT + FIELD_BITS;
const TRIPS_SHIFT: u32 = FAILS_SHIFT + FIELD_BITS;
const TRIPS_BITS: u32 = 5;
const GEN_SHIFT: u32 = TRIPS_SHIFT + TRIPS_BITS;

const KIND_MASK: u64 = (1 << KIND_BITS) - 1;
const FIELD_MASK: u64 = (1 << FIELD_BITS) - 1;
const TRIPS_MAX: u32 = (1 << TRIPS_BITS) - 1;
/// Generations count modulo this: it fits the 20-bit field and is a multiple
/// of the deadline tag range (`breaker.rs`), so tags stay in step when the
/// generation wraps.
pub(crate) const GEN_MODULUS: u32 = 1 << 20;
/// The largest value of a 12-bit field: the cap on thresholds and trial slots.
pub(crate) const FIELD_MAX: u32 = (1 << FIELD_BITS) - 1;

/// The stored state of the state machine.
///
/// [`crate::State`] is the public view; this is the encoding in the word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Kind {
    Closed = 0,
    Open = 1,
    HalfOpen = 2,
    ForcedOpen = 3,
    ForcedClosed = 4,
}

/// One value of the state word.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Word(pub(crate) u64);

impl std::fmt::Debug for Word {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Word")
            .field("kind", &self.kind())
            .field("count", &self.count())
            .field("inflight", &self.inflight())
            .field("fails", &self.fails())
            .field("trips", &self.trips())
            .field("gen", &self.gen())
            .finish()
    }
}

impl Word {
    /// A new breaker: CLOSED, generation 0, nothing counted.
    pub(crate) const INITIAL: Word = Word(0);

    #[inline]
    pub(crate) fn kind(self) -> Kind {
        match self.0 & KIND_MASK {
            0 => Kind::Closed,
            1 => Kind::Open,
            2 => Kind::HalfOpen,
            3 => Kind::ForcedOpen,
            _ => Kind::ForcedClosed,
        }
    }
    #[inline]
    pub(crate) fn count(self) -> u32 {
        ((self.0 >> COUNT_SHIFT) & FIELD_MASK) as u32
    }
    #[inline]
    pub(crate) fn inflight(self) -> u32 {
        ((self.0 >> INFLIGHT_SHIFT) & FIELD_MASK) as u32
    }
    #[inline]
    pub(crate) fn fails(self) -> u32 {
        ((self.0 >> FAILS_SHIFT) & FIELD_MASK) as u32
    }
    #[inline]
    pub(crate) fn trips(self) -> u32 {
        ((self.0 >> TRIPS_SHIFT) as u32) & TRIPS_MAX
    }
    #[inline]
    pub(crate) fn gen(self) -> u32 {
        (self.0 >> GEN_SHIFT) as u32
    }

    fn with_count(self, c: u32) -> Word {
        debug_assert!(u64::from(c) <= FIELD_MASK);
        Word(self.0 & !(FIELD_MASK << COUNT_SHIFT) | u64::from(c) << COUNT_SHIFT)
    }
    fn with_inflight(self, n: u32) -> Word {
        debug_assert!(u64::from(n) <= FIELD_MASK);
        Word(self.0 & !(FIELD_MASK << INFLIGHT_SHIFT) | u64::from(n) << INFLIGHT_SHIFT)
    }
    fn with_fails(self, n: u32) -> Word {
        debug_assert!(u64::from(n) <= FIELD_MASK);
        Word(self.0 & !(FIELD_MASK << FAILS_SHIFT) | u64::from(n) << FAILS_SHIFT)
    }

    /// The same state and counts in the next generation.
    fn bump(self) -> Word {
        let gen = (self.gen() + 1) % GEN_MODULUS;
        Word(self.0 & ((1 << GEN_SHIFT) - 1) | u64::from(gen) << GEN_SHIFT)
    }

    /// A fresh episode of `kind` in the next generation, with `trips`.
    pub(crate) fn enter(self, kind: Kind, trips: u32) -> Word {
        let gen = u64::from(self.bump().gen());
        Word(kind as u64 | u64::from(trips.min(TRIPS_MAX)) << TRIPS_SHIFT | gen << GEN_SHIFT)
    }

    /// OPEN after a HALF_OPEN episode failed: one more consecutive trip.
    fn reopen(self) -> Word {
        self.enter(Kind::Open, self.trips() + 1)
    }
}

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
}

impl Limits {
    pub(crate) fn new(c: &crate::BreakerConfig) -> Self {
        let (trial_successes, trial_failures_allowed) = match c.half_open_success_rate {
            None => (c.success_threshold, 0),
            Some(rate) => {
                let batch = u64::from(c.success_threshold);
                let needed = (crate::rules::ppm(rate) * batch).div_ceil(1_000_000).max(1);
                (needed as u32, (batch - needed) as u32)
            }
        };
        Self {
            failure_threshold: if c.trip_on_consecutive_failures {
                c.failure_threshold
            } else {
                0
            },
            trial_successes,
            trial_failures_allowed,
            half_open_max_calls: c.half_open_max_calls,
        }
    }
}

/// What an acquire does, given the current word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Acquire {
    /// Admit without writing: an ordinary call in the word's generation.
    Admit,
    /// Admit as a trial call if the word can be swapped for this one; the
    /// permit carries its generation.
    Trial(Word),
    /// The trials have expired: swap to this OPEN word, then reject.
    Expire(Word),
    /// Reject.
    Reject,
}

/// Decides an acquire. `deadline_passed` is asked only for OPEN (has the open
/// time elapsed?) and for a full HALF_OPEN (have the outstanding trials
/// expired?), so the clock is read only where the answer depends on it.
pub(crate) fn acquire(w: Word, limits: &Limits, deadline_passed: impl FnOnce() -> bool) -> Acquire {
    match w.kind() {
        Kind::Closed | Kind::ForcedClosed => Acquire::Admit,
        Kind::ForcedOpen => Acquire::Reject,
        Kind::Open => {
            if deadline_passed() {
                Acquire::Trial(w.enter(Kind::HalfOpen, w.trips()).with_inflight(1))
            } else {
                Acquire::Reject
            }
        }
        Kind::HalfOpen => {
            let n = w.inflight();
            if n > 0 && n < limits.half_open_max_calls {
                // A free slot beside outstanding trials: join their batch,
                // unless it has expired.
                return if deadline_passed() {
                    Acquire::Expire(w.reopen())
                } else {
                    Acquire::Trial(w.with_inflight(n + 1))
                };
            }
            if n == 0 {
                // A new batch of trials: a new generation, so the batch gets
                // its own half-open deadline (see `Breaker::deadline`).
                Acquire::Trial(w.bump().with_inflight(1))
            } else if deadline_passed() {
                Acquire::Expire(w.reopen())
            } else {
                Acquire::Reject
            }
        }
    }
}

/// Decides what an outcome of a permit from generation `gen` does to `w`.
/// `None` means the word stays as it is.
///
/// `trials_expired` is asked only for a trial outcome (HALF_OPEN, current
/// generation): an expired batch reopens the breaker and the outcome is
/// discarded. `rule_trips` says whether a window rule (evaluated by the
/// caller after recording the outcome) demands that a CLOSED breaker open.
pub(crate) fn outcome(
    w: Word,
    gen: u32,
    outcome: Outcome,
    limits: &Limits,
    trials_expired: impl FnOnce() -> bool,
    rule_trips: bool,
) -> Option<Word> {
    if w.gen() != gen {
        return None;
    }
    match w.kind() {
        Kind::Closed => match outcome {
            _ if rule_trips => Some(w.enter(Kind::Open, 0)),
            Outcome::Success if w.count() != 0 => Some(w.with_count(0)),
            Outcome::Success | Outcome::Ignored => None,
            Outcome::Failure if limits.failure_threshold == 0 => None,
            Outcome::Failure => {
                let c = w.count() + 1;
                if c >= limits.failure_threshold {
                    Some(w.enter(Kind::Open, 0))
                } else {
                    Some(w.with_count(c))
                }
            }
        },
        Kind::HalfOpen => {
            if trials_expired() {
                return Some(w.reopen());
            }
            let released = w.with_inflight(w.inflight().saturating_sub(1));
            match outcome {
                Outcome::Success => {
                    let c = w.count() + 1;
                    if c >= limits.trial_successes {
                        Some(w.enter(Kind::Closed, 0))
                    } else {
                        Some(released.with_count(c))
                    }
                }
                Outcome::Failure => {
                    let f = w.fails() + 1;
                    if f > limits.trial_failures_allowed {
                        Some(w.reopen())
                    } else {
                        Some(released.with_fails(f))
                    }
                }
                Outcome::Ignored => Some(released),
            }
        }
        // No permit is ever issued in these generations, or (FORCED_CLOSED)
        // outcomes are only measured.
        Kind::Open | Kind::ForcedOpen | Kind::ForcedClosed => None,
    }
}

/// The word after a manual command: a fresh episode unless the breaker is
/// already in that forced state (`None`: nothing to do).
pub(crate) fn command(w: Word, to: Kind) -> Option<Word> {
    match to {
        Kind::ForcedOpen | Kind::ForcedClosed if w.kind() == to => None,
        _ => Some(w.enter(to, 0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        failure_threshold: 3,
        trial_successes: 2,
        trial_failures_allowed: 0,
        half_open_max_calls: 2,
    };

    fn never() -> bool {
        panic!("the clock must not be consulted here")
    }

    #[test]
    fn fields_round_trip_and_do_not_overlap() {
        let w = Word::INITIAL
            .enter(Kind::HalfOpen, 7)
            .with_count(0xFFF)
            .with_inflight(0xABC)
            .with_fails(0x5A5);
        assert_eq!(w.kind(), Kind::HalfOpen);
        assert_eq!(w.count(), 0xFFF);
        assert_eq!(w.inflight(), 0xABC);
        assert_eq!(w.fails(), 0x5A5);
        assert_eq!(w.trips(), 7);
        assert_eq!(w.gen(), 1);
        assert_eq!(w.with_count(0).inflight(), 0xABC);
        assert_eq!(w.with_inflight(0).fails(), 0x5A5);
        assert_eq!(Word::INITIAL.enter(Kind::Open, 99).trips(), TRIPS_MAX);
    }

    #[test]
    fn generation_wraps_without_touching_other_fields() {
        let w = Word(u64::from(GEN_MODULUS - 1) << GEN_SHIFT | Kind::Open as u64);
        assert_eq!(w.gen(), GEN_MODULUS - 1);
        let b = w.bump();
        assert_eq!(b.gen(), 0);
        assert_eq!(b.kind(), Kind::Open);
    }

    #[test]
    fn closed_admits_without_clock_and_counts_consecutive_failures() {
        let w = Word::INITIAL;
        assert_eq!(acquire(w, &LIMITS, never), Acquire::Admit);
        let w1 = outcome(w, 0, Outcome::Failure, &LIMITS, never, false).unwrap();
        assert_eq!(w1.count(), 1);
        let w2 = outcome(w1, 0, Outcome::Failure, &LIMITS, never, false).unwrap();
        // Ignored changes nothing, success resets.
        assert_eq!(
            outcome(w2, 0, Outcome::Ignored, &LIMITS, never, false),
            None
        );
        assert_eq!(
            outcome(w2, 0, Outcome::Success, &LIMITS, never, false)
                .unwrap()
                .count(),
            0
        );
        assert_eq!(outcome(w, 0, Outcome::Success, &LIMITS, never, false), None);
        let open = outcome(w2, 0, Outcome::Failure, &LIMITS, never, false).unwrap();
        assert_eq!(
            (open.kind(), open.gen(), open.trips(), open.count()),
            (Kind::Open, 1, 0, 0)
        );
    }

    #[test]
    fn a_rule_trip_opens_on_any_outcome() {
        let w = Word::INITIAL;
        let open = outcome(w, 0, Outcome::Success, &LIMITS, never, true).unwrap();
        assert_eq!(open.kind(), Kind::Open);
    }

    #[test]
    fn outcomes_of_another_generation_change_nothing() {
        let w = Word::INITIAL.enter(Kind::Closed, 0).with_count(2);
        assert_eq!(outcome(w, 0, Outcome::Failure, &LIMITS, never, false), None);
        let h = Word::INITIAL.enter(Kind::HalfOpen, 0).with_inflight(1);
        assert_eq!(outcome(h, 0, Outcome::Success, &LIMITS, never, false), None);
        assert_eq!(outcome(h, 0, Outcome::Failure, &LIMITS, never, false), None);
    }

    #[test]
    fn open_asks_the_deadline_and_starts_a_trial_generation() {
        let open = Word::INITIAL.enter(Kind::Open, 2);
        assert_eq!(acquire(open, &LIMITS, || false), Acquire::Reject);
        let Acquire::Trial(h) = acquire(open, &LIMITS, || true) else {
            panic!("expected a trial")
        };
        assert_eq!(
            (h.kind(), h.inflight(), h.trips(), h.gen()),
            (Kind::HalfOpen, 1, 2, 2)
        );
    }

    #[test]
    fn half_open_bounds_trials_and_expires_only_when_full() {
        let h = Word::INITIAL.enter(Kind::HalfOpen, 0).with_inflight(1);
        let Acquire::Trial(h2) = acquire(h, &LIMITS, || false) else {
            panic!("second slot should be free")
        };
        assert!(
            matches!(acquire(h, &LIMITS, || true), Acquire::Expire(_)),
            "an expired batch takes no one"
        );
        assert_eq!((h2.inflight(), h2.gen()), (2, h.gen()));
        assert_eq!(acquire(h2, &LIMITS, || false), Acquire::Reject);
        let Acquire::Expire(o) = acquire(h2, &LIMITS, || true) else {
            panic!("expired trials reopen")
        };
        assert_eq!((o.kind(), o.trips()), (Kind::Open, 1));
        // An empty batch starts a new generation.
        let idle = h.with_inflight(0).with_count(1);
        let Acquire::Trial(n) = acquire(idle, &LIMITS, never) else {
            panic!("idle half-open admits")
        };
        assert_eq!((n.gen(), n.inflight(), n.count()), (h.gen() + 1, 1, 1));
    }

    #[test]
    fn trial_outcomes() {
        let h = Word::INITIAL.enter(Kind::HalfOpen, 3).with_inflight(2);
        let g = h.gen();
        let s = outcome(h, g, Outcome::Success, &LIMITS, || false, false).unwrap();
        assert_eq!((s.kind(), s.count(), s.inflight()), (Kind::HalfOpen, 1, 1));
        let c = outcome(s, g, Outcome::Success, &LIMITS, || false, false).unwrap();
        assert_eq!((c.kind(), c.trips(), c.gen()), (Kind::Closed, 0, g + 1));
        let f = outcome(h, g, Outcome::Failure, &LIMITS, || false, false).unwrap();
        assert_eq!((f.kind(), f.trips()), (Kind::Open, 4));
        let i = outcome(h, g, Outcome::Ignored, &LIMITS, || false, false).unwrap();
        assert_eq!((i.kind(), i.inflight(), i.count()), (Kind::HalfOpen, 1, 0));
        let e = outcome(h, g, Outcome::Success, &LIMITS, || true, false).unwrap();
        assert_eq!((e.kind(), e.trips()), (Kind::Open, 4));
    }

    #[test]
    fn success_rate_mode_judges_a_batch() {
        let c = crate::BreakerConfig {
            success_threshold: 10,
            half_open_success_rate: Some(0.8),
            half_open_max_calls: 10,
            ..Default::default()
        };
        let l = Limits::new(&c);
        assert_eq!((l.trial_successes, l.trial_failures_allowed), (8, 2));
        let mut h = Word::INITIAL.enter(Kind::HalfOpen, 0).with_inflight(10);
        let g = h.gen();
        for _ in 0..2 {
            h = outcome(h, g, Outcome::Failure, &l, || false, false).unwrap();
            assert_eq!(h.kind(), Kind::HalfOpen, "two failures are tolerated");
        }
        let reopened = outcome(h, g, Outcome::Failure, &l, || false, false).unwrap();
        assert_eq!(
            reopened.kind(),
            Kind::Open,
            "a third makes 8 of 10 impossible"
        );
        for _ in 0..7 {
            h = outcome(h, g, Outcome::Success, &l, || false, false).unwrap();
        }
        assert_eq!(
            (h.kind(), h.count(), h.fails(), h.inflight()),
            (Kind::HalfOpen, 7, 2, 1)
        );
        let closed = outcome(h, g, Outcome::Success, &l, || false, false).unwrap();
        assert_eq!(closed.kind(), Kind::Closed);
        // A rate that rounds the need below one still needs a success.
        let tiny = crate::BreakerConfig {
            success_threshold: 1,
            half_open_success_rate: Some(0.01),
            ..Default::default()
        };
        assert_eq!(Limits::new(&tiny).trial_successes, 1);
    }

    #[test]
    fn consecutive_rule_can_be_off() {
        let l = Limits {
            failure_threshold: 0,
            ..LIMITS
        };
        assert_eq!(
            outcome(Word::INITIAL, 0, Outcome::Failure, &l, never, false),
            None
        );
        assert_eq!(
            outcome(Word::INITIAL, 0, Outcome::Failure, &l, never, true)
                .unwrap()
                .kind(),
            Kind::Open
        );
    }

    #[test]
    fn commands() {
        let w = Word::INITIAL.with_count(2);
        let fo = command(w, Kind::ForcedOpen).unwrap();
        assert_eq!((fo.kind(), fo.gen()), (Kind::ForcedOpen, 1));
        assert_eq!(command(fo, Kind::ForcedOpen), None);
        let r = command(fo, Kind::Closed).unwrap();
        assert_eq!((r.kind(), r.count(), r.gen()), (Kind::Closed, 0, 2));
        // Reset of a CLOSED breaker clears its count in a new generation.
        assert_eq!(command(w, Kind::Closed).unwrap().count(), 0);
        for k in [
            Kind::Closed,
            Kind::Open,
            Kind::HalfOpen,
            Kind::ForcedOpen,
            Kind::ForcedClosed,
        ] {
            assert_eq!(Word::INITIAL.enter(k, 0).kind(), k);
        }
    }
}

/// The state of a breaker, as callers see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    /// Calls flow; outcomes are counted against the trip rules.
    Closed,
    /// Calls are rejected until the open time has passed.
    Open,
    /// A bounded number of trial calls decide whether to close or reopen.
    HalfOpen,
    /// Opened by hand: every call is rejected until reset.
    ForcedOpen,
    /// Closed by hand: every call is admitted and measured, nothing trips.
    ForcedClosed,
}

impl From<Kind> for State {
    fn from(k: Kind) -> State {
        match k {
            Kind::Closed => State::Closed,
            Kind::Open => State::Open,
            Kind::HalfOpen => State::HalfOpen,
            Kind::ForcedOpen => State::ForcedOpen,
            Kind::ForcedClosed => State::ForcedClosed,
        }
    }
}

impl State {
    /// The upper-case name used in messages: `CLOSED`, `OPEN`, `HALF_OPEN`,
    /// `FORCED_OPEN`, `FORCED_CLOSED`.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Closed => "CLOSED",
            State::Open => "OPEN",
            State::HalfOpen => "HALF_OPEN",
            State::ForcedOpen => "FORCED_OPEN",
            State::ForcedClosed => "FORCED_CLOSED",
        }
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

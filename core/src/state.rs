//! The packed state word and the pure functions that decide its next value.
//!
//! One `u64` holds everything a decision needs, so a single compare-and-swap
//! applies a decision atomically:
//!
//! | bits  | field     | meaning                                                   |
//! |-------|-----------|-----------------------------------------------------------|
//! | 0-2   | `kind`    | CLOSED, OPEN, HALF_OPEN, FORCED_OPEN, FORCED_CLOSED       |
//! | 3-7   | `trips`   | consecutive trips without closing (back-off exponent)     |
//! | 8-27  | `gen`     | generation, modulo 2^20: bumped by every write that starts an episode |
//! | 28-63 | payload   | CLOSED: consecutive failures (all 36 bits); HALF_OPEN: trial successes, trials in flight and trial failures, each as wide as its limit needs ([`TrialLayout`]); zero otherwise |
//!
//! The payload is zero in every state but CLOSED and HALF_OPEN, and a CLOSED
//! word's payload is its failure count, so "CLOSED with no failures" is one
//! comparison of constant bits: the steady success path needs no layout.
//! Thresholds up to `u32::MAX` fit the CLOSED count; the HALF_OPEN fields
//! share 36 bits between them (validated with the configuration, see
//! [`trial_bits`]).
//!
//! The generation stamps every permit. The word keeps its low 20 bits; the
//! breaker extends them to a 64-bit episode number (`Breaker::episode`), so a
//! permit can be held across any number of state changes and still be told
//! from a current one.

use crate::Outcome;

const KIND_BITS: u32 = 3;
const KIND_MASK: u64 = (1 << KIND_BITS) - 1;
const TRIPS_SHIFT: u32 = KIND_BITS;
const TRIPS_BITS: u32 = 5;
const TRIPS_MAX: u32 = (1 << TRIPS_BITS) - 1;
const GEN_SHIFT: u32 = TRIPS_SHIFT + TRIPS_BITS;
const GEN_BITS: u32 = 20;
const PAYLOAD_SHIFT: u32 = GEN_SHIFT + GEN_BITS;
/// The bits the HALF_OPEN fields share (and the CLOSED count may use).
pub(crate) const PAYLOAD_BITS: u32 = 64 - PAYLOAD_SHIFT;
/// Generations in the word count modulo this. It is a multiple of the
/// deadline tag range (`breaker.rs`), so tags stay in step when the
/// generation wraps.
pub(crate) const GEN_MODULUS: u32 = 1 << GEN_BITS;

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
            .field("trips", &self.trips())
            .field("gen", &self.gen())
            .field("payload", &self.payload())
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
    pub(crate) fn trips(self) -> u32 {
        ((self.0 >> TRIPS_SHIFT) as u32) & TRIPS_MAX
    }
    /// The generation modulo [`GEN_MODULUS`].
    #[inline]
    pub(crate) fn gen(self) -> u32 {
        ((self.0 >> GEN_SHIFT) as u32) & (GEN_MODULUS - 1)
    }
    /// CLOSED: the consecutive failures. Zero in every state without counts.
    #[inline]
    pub(crate) fn payload(self) -> u64 {
        self.0 >> PAYLOAD_SHIFT
    }

    fn with_payload(self, p: u64) -> Word {
        debug_assert!(p < 1 << PAYLOAD_BITS);
        Word(self.0 & ((1 << PAYLOAD_SHIFT) - 1) | p << PAYLOAD_SHIFT)
    }

    /// The same state and counts in the next generation.
    fn bump(self) -> Word {
        let gen = (self.gen() + 1) % GEN_MODULUS;
        Word(self.0 & !(u64::from(GEN_MODULUS - 1) << GEN_SHIFT) | u64::from(gen) << GEN_SHIFT)
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

/// Bits needed to store every value in `0..=n`.
fn bits(n: u32) -> u32 {
    u32::BITS - n.leading_zeros()
}

/// Where the three HALF_OPEN fields sit in the payload: trial successes
/// (below `trial_successes`), trials in flight (up to `half_open_max_calls`)
/// and trial failures (up to the failures tolerated), each exactly as wide as
/// its limit needs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TrialLayout {
    inflight_shift: u32,
    fails_shift: u32,
    successes_mask: u64,
    inflight_mask: u64,
    fails_mask: u64,
}

impl TrialLayout {
    fn new(trial_successes: u32, half_open_max_calls: u32, failures_allowed: u32) -> Self {
        let (s, i, f) = (
            bits(trial_successes.saturating_sub(1)),
            bits(half_open_max_calls),
            bits(failures_allowed),
        );
        debug_assert!(s + i + f <= PAYLOAD_BITS, "validated with the config");
        let mask = |b: u32| (1u64 << b) - 1;
        Self {
            inflight_shift: s,
            fails_shift: s + i,
            successes_mask: mask(s),
            inflight_mask: mask(i),
            fails_mask: mask(f),
        }
    }

    /// HALF_OPEN: trial successes so far.
    #[inline]
    pub(crate) fn successes(&self, w: Word) -> u32 {
        (w.payload() & self.successes_mask) as u32
    }
    /// HALF_OPEN: trial permits issued and not yet resolved.
    #[inline]
    pub(crate) fn inflight(&self, w: Word) -> u32 {
        (w.payload() >> self.inflight_shift & self.inflight_mask) as u32
    }
    /// HALF_OPEN: trial failures so far (success-rate mode only).
    #[inline]
    pub(crate) fn fails(&self, w: Word) -> u32 {
        (w.payload() >> self.fails_shift & self.fails_mask) as u32
    }

    fn with(w: Word, shift: u32, mask: u64, v: u32) -> Word {
        debug_assert!(u64::from(v) <= mask, "a trial field overflowed its width");
        w.with_payload(w.payload() & !(mask << shift) | u64::from(v) << shift)
    }
    fn with_successes(&self, w: Word, v: u32) -> Word {
        Self::with(w, 0, self.successes_mask, v)
    }
    fn with_inflight(&self, w: Word, v: u32) -> Word {
        Self::with(w, self.inflight_shift, self.inflight_mask, v)
    }
    fn with_fails(&self, w: Word, v: u32) -> Word {
        Self::with(w, self.fails_shift, self.fails_mask, v)
    }
}

/// The HALF_OPEN bookkeeping a configuration needs: trial successes needed
/// to close, failures tolerated (success-rate mode), and trials in flight.
fn trial_limits(c: &crate::BreakerConfig) -> (u32, u32) {
    match c.half_open_success_rate {
        None => (c.success_threshold, 0),
        Some(rate) => {
            let batch = u64::from(c.success_threshold);
            let needed = (crate::rules::ppm(rate) * batch).div_ceil(1_000_000).max(1);
            (needed as u32, (batch - needed) as u32)
        }
    }
}

/// The payload bits the HALF_OPEN fields of `c` need together; a valid
/// configuration needs at most [`PAYLOAD_BITS`].
pub(crate) fn trial_bits(c: &crate::BreakerConfig) -> u32 {
    let (successes, failures) = trial_limits(c);
    bits(successes.saturating_sub(1)) + bits(c.half_open_max_calls) + bits(failures)
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
    /// Where the HALF_OPEN fields sit in the word.
    pub(crate) trials: TrialLayout,
}

impl Limits {
    pub(crate) fn new(c: &crate::BreakerConfig) -> Self {
        let (trial_successes, trial_failures_allowed) = trial_limits(c);
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
    let t = &limits.trials;
    match w.kind() {
        Kind::Closed | Kind::ForcedClosed => Acquire::Admit,
        Kind::ForcedOpen => Acquire::Reject,
        Kind::Open => {
            if deadline_passed() {
                Acquire::Trial(t.with_inflight(w.enter(Kind::HalfOpen, w.trips()), 1))
            } else {
                Acquire::Reject
            }
        }
        Kind::HalfOpen => {
            let n = t.inflight(w);
            if n > 0 && n < limits.half_open_max_calls {
                // A free slot beside outstanding trials: join their batch,
                // unless it has expired.
                return if deadline_passed() {
                    Acquire::Expire(w.reopen())
                } else {
                    Acquire::Trial(t.with_inflight(w, n + 1))
                };
            }
            if n == 0 {
                // A new batch of trials: a new generation, so the batch gets
                // its own half-open deadline (see `Breaker::deadline`).
                Acquire::Trial(t.with_inflight(w.bump(), 1))
            } else if deadline_passed() {
                Acquire::Expire(w.reopen())
            } else {
                Acquire::Reject
            }
        }
    }
}

/// Decides what an outcome of a permit of the word's own episode does to
/// `w` (the caller has checked the episode; a late permit changes nothing).
/// `None` means the word stays as it is.
///
/// `trials_expired` is asked only for a trial outcome (HALF_OPEN): an
/// expired batch reopens the breaker and the outcome is discarded.
/// `rule_trips` says whether a window rule (evaluated by the caller after
/// recording the outcome) demands that a CLOSED breaker open.
pub(crate) fn outcome(
    w: Word,
    outcome: Outcome,
    limits: &Limits,
    trials_expired: impl FnOnce() -> bool,
    rule_trips: bool,
) -> Option<Word> {
    let t = &limits.trials;
    match w.kind() {
        Kind::Closed => match outcome {
            _ if rule_trips => Some(w.enter(Kind::Open, 0)),
            Outcome::Success if w.payload() != 0 => Some(w.with_payload(0)),
            Outcome::Success | Outcome::Ignored => None,
            Outcome::Failure if limits.failure_threshold == 0 => None,
            Outcome::Failure => {
                let c = w.payload() + 1;
                if c >= u64::from(limits.failure_threshold) {
                    Some(w.enter(Kind::Open, 0))
                } else {
                    Some(w.with_payload(c))
                }
            }
        },
        Kind::HalfOpen => {
            if trials_expired() {
                return Some(w.reopen());
            }
            let released = t.with_inflight(w, t.inflight(w).saturating_sub(1));
            match outcome {
                Outcome::Success => {
                    let c = t.successes(w) + 1;
                    if c >= limits.trial_successes {
                        Some(w.enter(Kind::Closed, 0))
                    } else {
                        Some(t.with_successes(released, c))
                    }
                }
                Outcome::Failure => {
                    let f = t.fails(w) + 1;
                    if f > limits.trial_failures_allowed {
                        Some(w.reopen())
                    } else {
                        Some(t.with_fails(released, f))
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

    fn limits(failure: u32, successes: u32, max_calls: u32) -> Limits {
        Limits::new(&crate::BreakerConfig {
            failure_threshold: failure,
            success_threshold: successes,
            half_open_max_calls: max_calls,
            ..Default::default()
        })
    }

    fn never() -> bool {
        panic!("the clock must not be consulted here")
    }

    #[test]
    fn fields_round_trip_and_do_not_overlap() {
        let l = limits(5, 4096, 4095);
        let t = &l.trials;
        let w = Word::INITIAL.enter(Kind::HalfOpen, 7);
        let w = t.with_fails(t.with_inflight(t.with_successes(w, 0xFFF), 0xABC), 0);
        assert_eq!(w.kind(), Kind::HalfOpen);
        assert_eq!(t.successes(w), 0xFFF);
        assert_eq!(t.inflight(w), 0xABC);
        assert_eq!(w.trips(), 7);
        assert_eq!(w.gen(), 1);
        assert_eq!(t.inflight(t.with_successes(w, 0)), 0xABC);
        assert_eq!(t.successes(t.with_inflight(w, 0)), 0xFFF);
        assert_eq!(Word::INITIAL.enter(Kind::Open, 99).trips(), TRIPS_MAX);
    }

    #[test]
    fn trial_fields_are_as_wide_as_their_limits() {
        // The widest single limits: every field at its maximum at once.
        let c = crate::BreakerConfig {
            success_threshold: i32::MAX as u32,
            half_open_success_rate: None,
            half_open_max_calls: 31,
            ..Default::default()
        };
        assert_eq!(trial_bits(&c), 31 + 5);
        let l = Limits::new(&c);
        let t = &l.trials;
        let h = Word::INITIAL.enter(Kind::HalfOpen, TRIPS_MAX);
        let h = t.with_inflight(t.with_successes(h, i32::MAX as u32 - 1), 31);
        assert_eq!((t.successes(h), t.inflight(h)), (i32::MAX as u32 - 1, 31));
        assert_eq!(
            (h.kind(), h.trips(), h.gen()),
            (Kind::HalfOpen, TRIPS_MAX, 1)
        );
        // Success-rate mode keeps a failure field too.
        let r = crate::BreakerConfig {
            success_threshold: 10_000,
            half_open_success_rate: Some(0.5),
            half_open_max_calls: 1_000,
            ..Default::default()
        };
        assert_eq!(trial_bits(&r), 13 + 10 + 13);
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
        let w = outcome(w, Outcome::Failure, &l, never, false).unwrap();
        assert_eq!(
            (w.kind(), w.payload()),
            (Kind::Closed, u64::from(u32::MAX) - 1)
        );
        let open = outcome(w, Outcome::Failure, &l, never, false).unwrap();
        assert_eq!((open.kind(), open.gen()), (Kind::Open, 1));
    }

    #[test]
    fn generation_wraps_without_touching_other_fields() {
        let w =
            Word(u64::from(GEN_MODULUS - 1) << GEN_SHIFT | Kind::Open as u64 | 3 << TRIPS_SHIFT);
        assert_eq!(w.gen(), GEN_MODULUS - 1);
        let b = w.bump();
        assert_eq!((b.gen(), b.kind(), b.trips()), (0, Kind::Open, 3));
        let c = Word::INITIAL.with_payload(7).enter(Kind::Closed, 0);
        assert_eq!(c.payload(), 0);
    }

    #[test]
    fn closed_admits_without_clock_and_counts_consecutive_failures() {
        let l = limits(3, 2, 2);
        let w = Word::INITIAL;
        assert_eq!(acquire(w, &l, never), Acquire::Admit);
        let w1 = outcome(w, Outcome::Failure, &l, never, false).unwrap();
        assert_eq!(w1.payload(), 1);
        let w2 = outcome(w1, Outcome::Failure, &l, never, false).unwrap();
        // Ignored changes nothing, success resets.
        assert_eq!(outcome(w2, Outcome::Ignored, &l, never, false), None);
        assert_eq!(
            outcome(w2, Outcome::Success, &l, never, false)
                .unwrap()
                .payload(),
            0
        );
        assert_eq!(outcome(w, Outcome::Success, &l, never, false), None);
        let open = outcome(w2, Outcome::Failure, &l, never, false).unwrap();
        assert_eq!(
            (open.kind(), open.gen(), open.trips(), open.payload()),
            (Kind::Open, 1, 0, 0)
        );
    }

    #[test]
    fn a_rule_trip_opens_on_any_outcome() {
        let open = outcome(
            Word::INITIAL,
            Outcome::Success,
            &limits(3, 2, 2),
            never,
            true,
        )
        .unwrap();
        assert_eq!(open.kind(), Kind::Open);
    }

    #[test]
    fn open_asks_the_deadline_and_starts_a_trial_generation() {
        let l = limits(3, 2, 2);
        let open = Word::INITIAL.enter(Kind::Open, 2);
        assert_eq!(acquire(open, &l, || false), Acquire::Reject);
        let Acquire::Trial(h) = acquire(open, &l, || true) else {
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
        let Acquire::Trial(h2) = acquire(h, &l, || false) else {
            panic!("second slot should be free")
        };
        assert!(
            matches!(acquire(h, &l, || true), Acquire::Expire(_)),
            "an expired batch takes no one"
        );
        assert_eq!((t.inflight(h2), h2.gen()), (2, h.gen()));
        assert_eq!(acquire(h2, &l, || false), Acquire::Reject);
        let Acquire::Expire(o) = acquire(h2, &l, || true) else {
            panic!("expired trials reopen")
        };
        assert_eq!((o.kind(), o.trips()), (Kind::Open, 1));
        // An empty batch starts a new generation.
        let idle = t.with_successes(t.with_inflight(h, 0), 1);
        let Acquire::Trial(n) = acquire(idle, &l, never) else {
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
        let s = outcome(h, Outcome::Success, &l, || false, false).unwrap();
        assert_eq!(
            (s.kind(), t.successes(s), t.inflight(s)),
            (Kind::HalfOpen, 1, 1)
        );
        let c = outcome(s, Outcome::Success, &l, || false, false).unwrap();
        assert_eq!((c.kind(), c.trips(), c.gen()), (Kind::Closed, 0, g + 1));
        let f = outcome(h, Outcome::Failure, &l, || false, false).unwrap();
        assert_eq!((f.kind(), f.trips()), (Kind::Open, 4));
        let i = outcome(h, Outcome::Ignored, &l, || false, false).unwrap();
        assert_eq!(
            (i.kind(), t.inflight(i), t.successes(i)),
            (Kind::HalfOpen, 1, 0)
        );
        let e = outcome(h, Outcome::Success, &l, || true, false).unwrap();
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
        let t = &l.trials;
        assert_eq!((l.trial_successes, l.trial_failures_allowed), (8, 2));
        let mut h = t.with_inflight(Word::INITIAL.enter(Kind::HalfOpen, 0), 10);
        for _ in 0..2 {
            h = outcome(h, Outcome::Failure, &l, || false, false).unwrap();
            assert_eq!(h.kind(), Kind::HalfOpen, "two failures are tolerated");
        }
        let reopened = outcome(h, Outcome::Failure, &l, || false, false).unwrap();
        assert_eq!(
            reopened.kind(),
            Kind::Open,
            "a third makes 8 of 10 impossible"
        );
        for _ in 0..7 {
            h = outcome(h, Outcome::Success, &l, || false, false).unwrap();
        }
        assert_eq!(
            (h.kind(), t.successes(h), t.fails(h), t.inflight(h)),
            (Kind::HalfOpen, 7, 2, 1)
        );
        let closed = outcome(h, Outcome::Success, &l, || false, false).unwrap();
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
        let mut l = limits(3, 2, 2);
        l.failure_threshold = 0;
        assert_eq!(
            outcome(Word::INITIAL, Outcome::Failure, &l, never, false),
            None
        );
        assert_eq!(
            outcome(Word::INITIAL, Outcome::Failure, &l, never, true)
                .unwrap()
                .kind(),
            Kind::Open
        );
    }

    #[test]
    fn commands() {
        let w = Word::INITIAL.with_payload(2);
        let fo = command(w, Kind::ForcedOpen).unwrap();
        assert_eq!((fo.kind(), fo.gen()), (Kind::ForcedOpen, 1));
        assert_eq!(command(fo, Kind::ForcedOpen), None);
        let r = command(fo, Kind::Closed).unwrap();
        assert_eq!((r.kind(), r.payload(), r.gen()), (Kind::Closed, 0, 2));
        // Reset of a CLOSED breaker clears its count in a new generation.
        assert_eq!(command(w, Kind::Closed).unwrap().payload(), 0);
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

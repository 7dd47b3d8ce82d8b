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
//! `BreakerConfig::trial_bits` in `config.rs`).
//!
//! The generation stamps every permit. The word keeps its low 20 bits; the
//! breaker extends them to a 64-bit episode number ([`extend`]), so a permit
//! can be held across any number of state changes and still be told from a
//! current one.
//!
//! This file is the bottom of the breaker's dependency order and imports
//! nothing from it: [`State`] and [`Outcome`], the public vocabulary of
//! every breaker type, live here with the word that encodes them.

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
/// deadline tag range (`deadline.rs`), so tags stay in step when the
/// generation wraps.
pub(crate) const GEN_MODULUS: u32 = 1 << GEN_BITS;

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
    /// Every state, in the order of [`State::index`].
    pub const ALL: [State; 5] = [
        State::Closed,
        State::Open,
        State::HalfOpen,
        State::ForcedOpen,
        State::ForcedClosed,
    ];

    /// Its position in [`State::ALL`] (the order of the stored kinds).
    pub fn index(self) -> usize {
        let k = match self {
            State::Closed => Kind::Closed,
            State::Open => Kind::Open,
            State::HalfOpen => Kind::HalfOpen,
            State::ForcedOpen => Kind::ForcedOpen,
            State::ForcedClosed => Kind::ForcedClosed,
        };
        k as usize
    }

    /// The lower-case name used in metric labels: `closed`, `open`,
    /// `half_open`, `forced_open`, `forced_closed`.
    pub fn label(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half_open",
            State::ForcedOpen => "forced_open",
            State::ForcedClosed => "forced_closed",
        }
    }

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

/// What a call's result counts as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Counts toward closing, resets the consecutive-failure count.
    Success,
    /// Counts toward opening.
    Failure,
    /// Neutral: counted in the metrics only; frees a trial slot.
    Ignored,
}

/// The stored state of the state machine.
///
/// [`State`] is the public view; this is the encoding in the word.
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

    pub(crate) fn with_payload(self, p: u64) -> Word {
        debug_assert!(p < 1 << PAYLOAD_BITS);
        Word(self.0 & ((1 << PAYLOAD_SHIFT) - 1) | p << PAYLOAD_SHIFT)
    }

    /// The same state and counts in the next generation.
    pub(crate) fn bump(self) -> Word {
        let gen = (self.gen() + 1) % GEN_MODULUS;
        Word(self.0 & !(u64::from(GEN_MODULUS - 1) << GEN_SHIFT) | u64::from(gen) << GEN_SHIFT)
    }

    /// A fresh episode of `kind` in the next generation, with `trips`.
    pub(crate) fn enter(self, kind: Kind, trips: u32) -> Word {
        let gen = u64::from(self.bump().gen());
        Word(kind as u64 | u64::from(trips.min(TRIPS_MAX)) << TRIPS_SHIFT | gen << GEN_SHIFT)
    }

    /// OPEN after a HALF_OPEN episode failed: one more consecutive trip.
    pub(crate) fn reopen(self) -> Word {
        self.enter(Kind::Open, self.trips() + 1)
    }
}

/// Bits needed to store every value in `0..=n`.
pub(crate) fn bits(n: u32) -> u32 {
    u32::BITS - n.leading_zeros()
}

/// Where the three HALF_OPEN fields sit in the payload: trial successes
/// (below `trial_successes`), trials in flight (up to `half_open_max_calls`)
/// and trial failures (up to the failures tolerated), each exactly as wide as
/// its limit needs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TrialLayout {
    /// The fields' widths in bits, in payload order from bit 0: kept as
    /// widths (three bytes, not three masks and two shifts) to keep the
    /// breaker small; a shift and a mask cost a few instructions on the
    /// HALF_OPEN paths only.
    successes_bits: u8,
    inflight_bits: u8,
    fails_bits: u8,
}

/// The low `bits` bits set.
fn mask(bits: u8) -> u64 {
    (1u64 << bits) - 1
}

impl TrialLayout {
    pub(crate) fn new(
        trial_successes: u32,
        half_open_max_calls: u32,
        failures_allowed: u32,
    ) -> Self {
        let (s, i, f) = (
            bits(trial_successes.saturating_sub(1)),
            bits(half_open_max_calls),
            bits(failures_allowed),
        );
        debug_assert!(s + i + f <= PAYLOAD_BITS, "validated with the config");
        // Each width is at most 32 bits.
        Self {
            successes_bits: s as u8,
            inflight_bits: i as u8,
            fails_bits: f as u8,
        }
    }

    fn inflight_shift(&self) -> u8 {
        self.successes_bits
    }
    fn fails_shift(&self) -> u8 {
        self.successes_bits + self.inflight_bits
    }

    /// HALF_OPEN: trial successes so far.
    #[inline]
    pub(crate) fn successes(&self, w: Word) -> u32 {
        (w.payload() & mask(self.successes_bits)) as u32
    }
    /// HALF_OPEN: trial permits issued and not yet resolved.
    #[inline]
    pub(crate) fn inflight(&self, w: Word) -> u32 {
        (w.payload() >> self.inflight_shift() & mask(self.inflight_bits)) as u32
    }
    /// HALF_OPEN: trial failures so far (success-rate mode only).
    #[inline]
    pub(crate) fn fails(&self, w: Word) -> u32 {
        (w.payload() >> self.fails_shift() & mask(self.fails_bits)) as u32
    }

    fn with(w: Word, shift: u8, bits: u8, v: u32) -> Word {
        let mask = mask(bits);
        debug_assert!(u64::from(v) <= mask, "a trial field overflowed its width");
        w.with_payload(w.payload() & !(mask << shift) | u64::from(v) << shift)
    }
    pub(crate) fn with_successes(&self, w: Word, v: u32) -> Word {
        Self::with(w, 0, self.successes_bits, v)
    }
    pub(crate) fn with_inflight(&self, w: Word, v: u32) -> Word {
        Self::with(w, self.inflight_shift(), self.inflight_bits, v)
    }
    pub(crate) fn with_fails(&self, w: Word, v: u32) -> Word {
        Self::with(w, self.fails_shift(), self.fails_bits, v)
    }
}

/// The episode number that is `gen` modulo [`GEN_MODULUS`] and nearest to
/// `near` (an episode number published a few transitions before or after).
/// Exact while fewer than `GEN_MODULUS / 2` transitions separate the two.
/// Branch-free: the difference, sign-extended from the generation's width.
#[inline]
pub(crate) fn extend(near: u64, gen: u32) -> u64 {
    const SPARE: u32 = u32::BITS - GEN_MODULUS.trailing_zeros();
    let delta = ((gen.wrapping_sub(near as u32) << SPARE) as i32) >> SPARE;
    near.wrapping_add(i64::from(delta) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip_and_do_not_overlap() {
        let t = TrialLayout::new(4096, 4095, 0);
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
    fn generation_wraps_without_touching_other_fields() {
        let w =
            Word(u64::from(GEN_MODULUS - 1) << GEN_SHIFT | Kind::Open as u64 | 3 << TRIPS_SHIFT);
        assert_eq!(w.gen(), GEN_MODULUS - 1);
        let b = w.bump();
        assert_eq!((b.gen(), b.kind(), b.trips()), (0, Kind::Open, 3));
        let c = Word::INITIAL.with_payload(7).enter(Kind::Closed, 0);
        assert_eq!(c.payload(), 0);
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

    #[test]
    fn episode_numbers_extend_the_generation_both_ways() {
        let m = u64::from(GEN_MODULUS);
        assert_eq!(extend(0, 0), 0);
        assert_eq!(extend(0, 5), 5);
        assert_eq!(extend(10 * m + 3, 1), 10 * m + 1, "published ahead");
        assert_eq!(extend(10 * m - 2, 1), 10 * m + 1, "across the wrap");
        assert_eq!(
            extend(10 * m + 1, (m - 1) as u32),
            10 * m - 1,
            "behind, across the wrap"
        );
        assert_eq!(
            extend(u64::MAX - 1, 0),
            u64::MAX.wrapping_add(1),
            "wraps only at 2^64"
        );
    }
}

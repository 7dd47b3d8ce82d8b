//! The deadline word and the lengths of the timed episodes.
//!
//! An OPEN episode ends when its open time has passed; a HALF_OPEN batch of
//! trials expires `half_open_timeout` after it started. Both deadlines live
//! in one atomic word beside the state word, encoded here: an end time and
//! the generation of the episode it belongs to, so that a reader can tell a
//! current deadline from a stale one. The driver (`driver.rs`) reads and
//! publishes the word; everything here is pure.

use super::config::BreakerConfig;
use super::state::{Kind, Word};
use crate::clock::nanos;
use crate::random::{clamp_unit, Random};

/// Deadlines are stored in whole microseconds (rounded up) shifted left by
/// `TAG_BITS`, with the generation of their episode modulo `2^TAG_BITS` in
/// the low bits: the decoded time is in nanoseconds, a multiple of 1 µs, and
/// timeouts given in whole microseconds come out exact. 55 bits of
/// microseconds cover the clock's whole range, so no deadline is ever cut
/// short of its clock. Generations wrap at a multiple of `2^TAG_BITS`
/// (`state::GEN_MODULUS`), so tags stay in step across the wrap. A
/// power-of-two tag keeps the hot-path check to a mask and a compare (a
/// modulus by 1000 costs two multiplications per check).
///
/// Every generation change publishes a deadline (a dummy one for CLOSED and
/// the forced states), so the stored tag is the current generation's or one a
/// few generations old; mistaking an old value for the current one would take
/// 512 consecutive transitions whose winners all stalled before publishing.
const TAG_BITS: u32 = 9;
const TAG_MASK: u64 = (1 << TAG_BITS) - 1;

/// The last microsecond of the clock's range: deadlines beyond it (a clock
/// near `u64::MAX` plus an open time) saturate to it.
const MAX_MICROS: u64 = u64::MAX / 1000;
const _: () = assert!(MAX_MICROS <= u64::MAX >> TAG_BITS);
// The last representable deadline is within a microsecond of the clock's end.
const _: () = assert!(u64::MAX - MAX_MICROS * 1000 < 1000);

/// The latest deadline there is. An OPEN episode ending there still ends
/// when the clock gets there; a trial batch whose expiry saturated to it
/// never expires (its trials decide it), so a breaker near the end of its
/// clock can still close.
const LAST: u64 = MAX_MICROS * 1000;

pub(super) fn tag(gen: u32) -> u64 {
    u64::from(gen) & TAG_MASK
}

/// The generation tag a deadline value carries.
pub(super) fn tag_of(v: u64) -> u64 {
    v & TAG_MASK
}

pub(super) fn encode(end: u64, gen: u32) -> u64 {
    end.div_ceil(1000).min(MAX_MICROS) << TAG_BITS | tag(gen)
}

/// The time a deadline value encodes, in clock nanoseconds.
pub(super) fn time(v: u64) -> u64 {
    (v >> TAG_BITS) * 1000
}

/// Has the deadline of the episode `w` belongs to passed at `now`?
pub(super) fn passed(w: Word, now: u64, deadline: u64) -> bool {
    now >= deadline && !(deadline == LAST && w.kind() == Kind::HalfOpen)
}

/// How long each OPEN episode lasts.
#[derive(Clone, Copy, Debug)]
pub(super) struct OpenTime {
    base: f64,
    multiplier: f64,
    max: f64,
    jitter: f64,
}

impl OpenTime {
    pub(super) fn new(config: &BreakerConfig) -> Self {
        let base = nanos(config.timeout) as f64;
        Self {
            base,
            multiplier: config.timeout_multiplier,
            max: config.max_timeout.map_or(base, |m| nanos(m) as f64),
            jitter: config.timeout_jitter,
        }
    }

    /// The length, in nanoseconds, of an OPEN episode after `trips`
    /// consecutive trips. `random` is drawn from only when jitter is
    /// configured.
    pub(super) fn length(&self, trips: u32, random: &dyn Random) -> u64 {
        let mut t = self.base;
        if trips > 0 && self.multiplier > 1.0 {
            t = (t * self.multiplier.powi(trips as i32)).min(self.max);
        }
        if self.jitter > 0.0 {
            t *= 1.0 - self.jitter * clamp_unit(random.unit());
        }
        // `as` saturates: a float beyond u64 becomes u64::MAX.
        t as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::breaker::state::GEN_MODULUS;

    #[test]
    fn tags_stay_in_step_when_the_generation_wraps() {
        assert_eq!(u64::from(GEN_MODULUS) & TAG_MASK, 0);
    }

    #[test]
    fn deadlines_keep_microseconds_exact_and_round_up_below() {
        assert_eq!(time(encode(60_000_000_000, 7)), 60_000_000_000);
        assert_eq!(tag_of(encode(60_000_000_000, 519)), 7);
        assert_eq!(time(encode(1, 0)), 1_000);
        assert_eq!(time(encode(u64::MAX, 511)), LAST);
        let open = Word::INITIAL.enter(Kind::Open, 0);
        let trials = Word::INITIAL.enter(Kind::HalfOpen, 0);
        assert!(
            passed(open, LAST, LAST),
            "an OPEN episode ends at the end of time"
        );
        assert!(!passed(open, LAST - 1, LAST));
        assert!(
            !passed(trials, u64::MAX, LAST),
            "a saturated trial expiry never passes"
        );
        assert!(passed(trials, LAST - 1, LAST - 1000));
    }

    #[test]
    fn open_times_grow_cap_and_jitter_from_the_given_source() {
        struct Fixed(f64);
        impl Random for Fixed {
            fn unit(&self) -> f64 {
                self.0
            }
        }
        let config = BreakerConfig {
            timeout: std::time::Duration::from_secs(10),
            timeout_multiplier: 2.0,
            max_timeout: Some(std::time::Duration::from_secs(30)),
            ..Default::default()
        };
        let o = OpenTime::new(&config);
        let s = 1_000_000_000;
        assert_eq!(o.length(0, &Fixed(f64::NAN)), 10 * s, "no jitter, no draw");
        assert_eq!(o.length(1, &Fixed(0.5)), 20 * s);
        assert_eq!(o.length(5, &Fixed(0.5)), 30 * s, "capped");
        let jittered = OpenTime::new(&BreakerConfig {
            timeout_jitter: 0.5,
            ..config
        });
        assert_eq!(jittered.length(0, &Fixed(0.0)), 10 * s);
        assert_eq!(jittered.length(0, &Fixed(0.5)), 7_500_000_000);
        assert_eq!(
            jittered.length(0, &Fixed(f64::NAN)),
            10 * s,
            "NaN counts as 0"
        );
    }
}

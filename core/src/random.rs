//! Sources of randomness, injectable like clocks.
//!
//! The engines draw random numbers to spread work out in time (a breaker's
//! open-time jitter) and where a decision is a probability by design (the
//! adaptive throttler's local refusals, the fault injector's faults). The
//! source is
//! a [`Random`] the caller may choose: [`ThreadRandom`] (the default, fast
//! and unseeded) in production, or [`SeededRandom`] where a run must repeat
//! exactly: simulations, tests, a fleet replayed from a log.

use std::sync::Arc;

use crate::sync::{AtomicU64, Ordering};

/// A source of uniformly distributed numbers in `[0, 1)`.
///
/// Shared by every thread that uses the engine it belongs to, hence `Send +
/// Sync` and `&self`. An implementation that returns a value outside
/// `[0, 1)` is clamped into it, NaN counting as 0.
pub trait Random: Send + Sync {
    /// A number in `[0, 1)`.
    fn unit(&self) -> f64;
}

impl<R: Random + ?Sized> Random for Arc<R> {
    fn unit(&self) -> f64 {
        (**self).unit()
    }
}

impl<R: Random + ?Sized> Random for Box<R> {
    fn unit(&self) -> f64 {
        (**self).unit()
    }
}

/// `u` clamped into `[0, 1)`, NaN counting as 0.
pub(crate) fn clamp_unit(u: f64) -> f64 {
    if u.is_nan() {
        0.0
    } else {
        u.clamp(0.0, 1.0 - f64::EPSILON)
    }
}

/// The default source: `fastrand`'s generator, one per thread (seeded from
/// the system), so drawing a number touches no shared memory.
#[derive(Clone, Copy, Debug, Default)]
pub struct ThreadRandom;

impl Random for ThreadRandom {
    fn unit(&self) -> f64 {
        fastrand::f64()
    }
}

/// A seeded source: the same seed gives the same sequence of numbers.
///
/// SplitMix64 over one atomic counter: every draw takes the next counter
/// value with one `fetch_add` and mixes it, so the source is lock-free and
/// may be shared by any number of threads. Each draw gets a distinct value;
/// which thread gets which depends on their order, so a sequence repeats
/// exactly when the draws happen in the same order (one thread, or a
/// simulation that orders its steps).
#[derive(Debug)]
pub struct SeededRandom {
    state: AtomicU64,
}

/// The SplitMix64 increment: the odd integer nearest 2^64 / phi.
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

impl SeededRandom {
    /// A source whose sequence is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            state: AtomicU64::new(seed),
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&self) -> u64 {
        // Relaxed: the counter orders nothing but itself; the read-modify-
        // write alone makes every draw take a distinct value.
        let mut z = self
            .state
            .fetch_add(GOLDEN, Ordering::Relaxed)
            .wrapping_add(GOLDEN);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl Random for SeededRandom {
    fn unit(&self) -> f64 {
        // The top 53 bits: every double in [0, 1) with that spacing, equally
        // likely.
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

#[cfg(all(test, not(seawall_loom)))]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_repeats_and_another_differs() {
        let (a, b, c) = (
            SeededRandom::new(7),
            SeededRandom::new(7),
            SeededRandom::new(8),
        );
        let draw = |r: &SeededRandom| (0..100).map(|_| r.unit()).collect::<Vec<_>>();
        let (x, y, z) = (draw(&a), draw(&b), draw(&c));
        assert_eq!(x, y);
        assert_ne!(x, z);
        assert!(x.iter().chain(&z).all(|u| (0.0..1.0).contains(u)));
    }

    #[test]
    fn splitmix64_matches_its_reference_sequence() {
        // The first outputs of SplitMix64 seeded with 0, as published with
        // the algorithm.
        let r = SeededRandom::new(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn sources_are_shareable_and_clamped() {
        fn shared<R: Random + 'static>(_: &R) {}
        shared(&Arc::new(SeededRandom::new(1)));
        shared(&ThreadRandom);
        let u = ThreadRandom.unit();
        assert!((0.0..1.0).contains(&u));
        assert_eq!(clamp_unit(f64::NAN), 0.0);
        assert_eq!(clamp_unit(-1.0), 0.0);
        assert!(clamp_unit(1.0) < 1.0);
        assert_eq!(clamp_unit(0.25), 0.25);
    }
}

//! Fault injection for tests and game days: with a given probability, a
//! call fails with an error, returns a chosen result, or is delayed.
//!
//! A [`FaultInjector`] only decides ([`FaultInjector::decide`] returns a
//! [`Fault`]); the face around it acts: the Python binding raises the
//! configured exception, returns the configured value, or sleeps (in
//! `asyncio` for coroutines); a C caller does the same by hand. Placed
//! innermost, around the call itself, it lets breakers, retries and
//! fallbacks meet the faults as they would meet real ones.
//!
//! An injector is off by default and switched at run time
//! ([`FaultInjector::set_enabled`], [`FaultInjector::configure`]) without
//! rebuilding anything. Off, a decision is one `Relaxed` load of the
//! enabled flag: free enough to leave in production code.
//!
//! One draw picks at most one fault: `u < error_rate` injects an error,
//! then `u < error_rate + result_rate` a result, then
//! `u < error_rate + result_rate + latency_rate` a delay, drawn uniformly
//! from `[latency_min, latency_max]` by a second draw.
//!
//! ```
//! use std::time::Duration;
//! use seawall::{Fault, FaultConfig, FaultInjector, SeededRandom};
//!
//! let injector = FaultInjector::with_random(
//!     FaultConfig { error_rate: 0.5, ..Default::default() },
//!     SeededRandom::new(1),
//! )
//! .unwrap();
//! assert_eq!(injector.decide(), Fault::None, "off by default");
//! injector.set_enabled(true);
//! let errors = (0..1000).filter(|_| injector.decide() == Fault::Error).count();
//! assert!((400..600).contains(&errors));
//! ```
//!
//! # Memory ordering
//!
//! Every word is `Relaxed` and self-contained: the flag, the three
//! rates, the two latency bounds and the counts of faults
//! injected publish nothing to each other. A decision that races with
//! [`FaultInjector::configure`] may therefore combine old and new values
//! of different fields (an old error rate with a new result rate); every
//! decision made after `configure` returns (in the happens-before sense)
//! sees only the new ones.

use std::fmt;
use std::time::Duration;

use crate::clock::nanos;
use crate::config::{ConfigError, MAX_DURATION};
use crate::random::{clamp_unit, Random, ThreadRandom};
use crate::sync::{AtomicBool, AtomicU64, Ordering};

/// What a call should suffer this time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Nothing: run the call as is.
    None,
    /// Fail without running the call, with the configured error.
    Error,
    /// Return the configured result without running the call.
    Result,
    /// Wait this long, then run the call.
    Latency(Duration),
}

/// What a [`FaultInjector`] injects. The rates are probabilities of
/// disjoint outcomes of one draw, so they add up to at most 1.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FaultConfig {
    /// Whether faults are injected at all. Default `false`.
    pub enabled: bool,
    /// The probability of [`Fault::Error`]. `[0, 1]`, default 0.
    pub error_rate: f64,
    /// The probability of [`Fault::Result`]. `[0, 1]`, default 0.
    pub result_rate: f64,
    /// The probability of [`Fault::Latency`]. `[0, 1]`, default 0.
    pub latency_rate: f64,
    /// The shortest injected delay. At most `latency_max`; default 0.
    pub latency_min: Duration,
    /// The longest injected delay. At most 365 days; default 0.
    pub latency_max: Duration,
}

impl Default for FaultConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            error_rate: 0.0,
            result_rate: 0.0,
            latency_rate: 0.0,
            latency_min: Duration::ZERO,
            latency_max: Duration::ZERO,
        }
    }
}

impl FaultConfig {
    /// Checks every field against its documented range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (field, rate) in [
            ("error_rate", self.error_rate),
            ("result_rate", self.result_rate),
            ("latency_rate", self.latency_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(ConfigError::new(field, rate, "a number in [0, 1]"));
            }
        }
        let total = self.error_rate + self.result_rate + self.latency_rate;
        if total > 1.0 + 1e-9 {
            return Err(ConfigError::new(
                "latency_rate",
                self.latency_rate,
                "such that error_rate + result_rate + latency_rate <= 1",
            ));
        }
        if self.latency_max > MAX_DURATION {
            return Err(ConfigError::new(
                "latency_max",
                self.latency_max,
                "a duration in [0, 365 days]",
            ));
        }
        if self.latency_min > self.latency_max {
            return Err(ConfigError::new(
                "latency_min",
                self.latency_min,
                "a duration in [0, latency_max]",
            ));
        }
        Ok(())
    }
}

/// The faults a [`FaultInjector`] injected ([`FaultInjector::metrics`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultMetrics {
    /// Is it injecting now ([`FaultInjector::is_enabled`])?
    pub enabled: bool,
    /// [`Fault::Error`]s decided.
    pub errors: u64,
    /// [`Fault::Result`]s decided.
    pub results: u64,
    /// [`Fault::Latency`]s decided.
    pub latencies: u64,
}

/// A lock-free fault injector (see the module docs).
pub struct FaultInjector {
    /// Read on every decision: alone on its own word, ahead of the rest.
    enabled: AtomicBool,
    /// The rates (as `f64` bits): error, result, latency.
    rates: [AtomicU64; 3],
    latency_min: AtomicU64,
    latency_max: AtomicU64,
    /// Faults injected, indexed like `rates`.
    injected: [AtomicU64; 3],
    random: Box<dyn Random>,
}

impl FaultInjector {
    /// An injector drawing from [`ThreadRandom`].
    pub fn new(config: FaultConfig) -> Result<Self, ConfigError> {
        Self::with_random(config, ThreadRandom)
    }

    /// An injector drawing from `random`: with a [`crate::SeededRandom`],
    /// the faults repeat from run to run.
    pub fn with_random(
        config: FaultConfig,
        random: impl Random + 'static,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        let injector = Self {
            enabled: AtomicBool::new(false),
            rates: std::array::from_fn(|_| AtomicU64::new(0)),
            latency_min: AtomicU64::new(0),
            latency_max: AtomicU64::new(0),
            injected: std::array::from_fn(|_| AtomicU64::new(0)),
            random: Box::new(random),
        };
        injector.store(&config);
        Ok(injector)
    }

    /// What the next call should suffer. Off, this is one `Relaxed` load.
    #[inline]
    pub fn decide(&self) -> Fault {
        // Relaxed: the flag publishes nothing (see the module's "Memory
        // ordering"); a decision that misses a concurrent switch is one
        // that came just before it.
        if !self.enabled.load(Ordering::Relaxed) {
            return Fault::None;
        }
        self.draw()
    }

    #[cold]
    #[inline(never)]
    fn draw(&self) -> Fault {
        let u = clamp_unit(self.random.unit());
        // The draw falls in error, result or latency by the cumulative
        // rates, or past them all.
        let rates = self.rates();
        let mut cumulative = 0.0;
        let Some(i) = (0..3).find(|&i| {
            cumulative += rates[i];
            u < cumulative
        }) else {
            return Fault::None;
        };
        // Relaxed: a count for metrics.
        self.injected[i].fetch_add(1, Ordering::Relaxed);
        match i {
            0 => Fault::Error,
            1 => Fault::Result,
            _ => {
                let lo = self.latency_min.load(Ordering::Relaxed);
                let hi = self.latency_max.load(Ordering::Relaxed).max(lo);
                let span = (hi - lo) as f64 * clamp_unit(self.random.unit());
                Fault::Latency(Duration::from_nanos(lo + span as u64))
            }
        }
    }

    /// Switches injection on or off, keeping the rates.
    pub fn set_enabled(&self, enabled: bool) {
        // Relaxed: see `decide`.
        self.enabled.store(enabled, Ordering::Relaxed);
    }

    /// Whether faults are injected now.
    pub fn is_enabled(&self) -> bool {
        // Relaxed: see `decide`.
        self.enabled.load(Ordering::Relaxed)
    }

    /// Replaces the whole configuration (including `enabled`), after
    /// checking it; a bad one changes nothing.
    pub fn configure(&self, config: &FaultConfig) -> Result<(), ConfigError> {
        config.validate()?;
        self.store(config);
        Ok(())
    }

    fn store(&self, config: &FaultConfig) {
        let rates = [config.error_rate, config.result_rate, config.latency_rate];
        // Relaxed throughout: see the module's "Memory ordering".
        for (word, r) in self.rates.iter().zip(rates) {
            word.store(r.to_bits(), Ordering::Relaxed);
        }
        self.latency_min
            .store(nanos(config.latency_min), Ordering::Relaxed);
        self.latency_max
            .store(nanos(config.latency_max), Ordering::Relaxed);
        self.enabled.store(config.enabled, Ordering::Relaxed);
    }

    /// The error, result and latency rates, each as last stored.
    fn rates(&self) -> [f64; 3] {
        // Relaxed: see the module's "Memory ordering".
        std::array::from_fn(|i| f64::from_bits(self.rates[i].load(Ordering::Relaxed)))
    }

    /// The configuration now (each field as last stored).
    pub fn config(&self) -> FaultConfig {
        let [error_rate, result_rate, latency_rate] = self.rates();
        FaultConfig {
            enabled: self.is_enabled(),
            error_rate,
            result_rate,
            latency_rate,
            latency_min: Duration::from_nanos(self.latency_min.load(Ordering::Relaxed)),
            latency_max: Duration::from_nanos(self.latency_max.load(Ordering::Relaxed)),
        }
    }

    /// The faults injected so far, and whether it injects now.
    pub fn metrics(&self) -> FaultMetrics {
        // Relaxed: counts for metrics.
        let n = |i: usize| self.injected[i].load(Ordering::Relaxed);
        FaultMetrics {
            enabled: self.is_enabled(),
            errors: n(0),
            results: n(1),
            latencies: n(2),
        }
    }
}

impl fmt::Debug for FaultInjector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultInjector")
            .field("config", &self.config())
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(seawall_loom)))]
mod tests {
    use super::*;
    use crate::random::SeededRandom;

    /// A source that returns the numbers given, in turn.
    struct Script(crate::sync::AtomicU64, Vec<f64>);
    impl Random for Script {
        fn unit(&self) -> f64 {
            let i = self.0.fetch_add(1, Ordering::Relaxed) as usize;
            self.1[i % self.1.len()]
        }
    }

    fn config() -> FaultConfig {
        FaultConfig {
            enabled: true,
            error_rate: 0.1,
            result_rate: 0.2,
            latency_rate: 0.3,
            latency_min: Duration::from_millis(100),
            latency_max: Duration::from_millis(300),
        }
    }

    #[test]
    fn off_by_default_and_off_means_nothing() {
        let f = FaultInjector::new(FaultConfig {
            error_rate: 1.0,
            ..Default::default()
        })
        .unwrap();
        assert!(!f.is_enabled());
        assert!((0..100).all(|_| f.decide() == Fault::None));
        assert_eq!(f.metrics(), FaultMetrics::default());
        f.set_enabled(true);
        assert_eq!(f.decide(), Fault::Error);
        f.set_enabled(false);
        assert_eq!(f.decide(), Fault::None);
    }

    #[test]
    fn one_draw_picks_one_fault_in_order() {
        let script = Script(AtomicU64::new(0), vec![0.05, 0.15, 0.35, 0.5, 0.65, 0.99]);
        let f = FaultInjector::with_random(config(), script).unwrap();
        assert_eq!(f.decide(), Fault::Error);
        assert_eq!(f.decide(), Fault::Result);
        // 0.35 picks latency; the next draw, 0.5, puts it mid-range.
        assert_eq!(f.decide(), Fault::Latency(Duration::from_millis(200)));
        assert_eq!(f.decide(), Fault::None, "0.65 is past 0.6");
        assert_eq!(
            f.metrics(),
            FaultMetrics {
                enabled: true,
                errors: 1,
                results: 1,
                latencies: 1
            }
        );
    }

    #[test]
    fn rates_hold_over_many_draws_and_change_at_run_time() {
        let f = FaultInjector::with_random(config(), SeededRandom::new(9)).unwrap();
        let mut counts = [0u32; 4];
        for _ in 0..10_000 {
            counts[match f.decide() {
                Fault::Error => 0,
                Fault::Result => 1,
                Fault::Latency(d) => {
                    assert!((100..=300).contains(&d.as_millis()));
                    2
                }
                Fault::None => 3,
            }] += 1;
        }
        for (got, want) in counts.iter().zip([1000, 2000, 3000, 4000]) {
            assert!(got.abs_diff(want) < 250, "{counts:?}");
        }
        f.configure(&FaultConfig {
            enabled: true,
            result_rate: 1.0,
            ..Default::default()
        })
        .unwrap();
        assert!((0..100).all(|_| f.decide() == Fault::Result));
        assert_eq!(f.config().result_rate, 1.0);
    }

    #[test]
    fn the_configuration_reads_back_exactly() {
        // Rates whose sums are inexact in binary: kept as given, not
        // recovered from cumulative sums.
        let c = FaultConfig {
            enabled: true,
            error_rate: 0.1,
            result_rate: 0.2,
            latency_rate: 0.3,
            latency_min: Duration::from_millis(1),
            latency_max: Duration::from_millis(2),
        };
        let f = FaultInjector::new(c).unwrap();
        assert_eq!(f.config(), c);
    }

    #[test]
    fn bad_configs_name_the_field_and_change_nothing() {
        let bad = |c: FaultConfig| c.validate().unwrap_err().field;
        let d = FaultConfig::default();
        assert_eq!(
            bad(FaultConfig {
                error_rate: -0.1,
                ..d
            }),
            "error_rate"
        );
        assert_eq!(
            bad(FaultConfig {
                result_rate: f64::NAN,
                ..d
            }),
            "result_rate"
        );
        assert_eq!(
            bad(FaultConfig {
                error_rate: 0.6,
                latency_rate: 0.6,
                ..d
            }),
            "latency_rate"
        );
        assert_eq!(
            bad(FaultConfig {
                latency_min: Duration::from_secs(2),
                latency_max: Duration::from_secs(1),
                ..d
            }),
            "latency_min"
        );
        let f = FaultInjector::new(config()).unwrap();
        assert!(f
            .configure(&FaultConfig {
                error_rate: 2.0,
                ..d
            })
            .is_err());
        assert_eq!(f.config().error_rate, 0.1);
        assert!(f.is_enabled());
    }
}

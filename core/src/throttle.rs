//! Adaptive throttling: the client-side throttling of Google's SRE book
//! ("Handling Overload"), with priorities.
//!
//! A client that sends a struggling backend more than it accepts wastes the
//! backend's time on refusals. The throttler counts, over a sliding window
//! (`window`, two minutes by default), the `requests` the client made and
//! the `accepts` the backend answered; once requests pass `K` times the
//! accepts, it refuses calls locally, without sending them, with
//! probability
//!
//! ```text
//! p = min(max_rejection_probability, max(0, (requests - K * accepts) / (requests + 1)))
//! ```
//!
//! A call refused locally counts as a request (as in the book): while the
//! backend accepts nothing, `p` climbs towards 1; as soon as it accepts
//! again, the accepts pull `p` back down.
//!
//! # Priorities
//!
//! Each call carries a [`Priority`]; lower priorities are shed first. A
//! priority's multiplier is `K_p = 1 + (k - 1) * w_p`, where `k` is the
//! configured multiplier (default 2) and the weight `w_p` is 2 for
//! [`Priority::Critical`], 1.5 for [`Priority::High`], 1 for
//! [`Priority::Normal`] and 0.5 for [`Priority::Low`]. With the default
//! `k = 2`, the multipliers are 3, 2.5, 2 and 1.5: a priority starts being
//! shed once the backend accepts less than `1 / K_p` of the requests
//! (33 %, 40 %, 50 % and 67 %). Every `K_p` is at least 1 (`k >= 1`), so
//! no priority is shed while the backend accepts everything. All
//! priorities share one window: the counts describe the backend, not the
//! caller.
//!
//! # Counting
//!
//! [`AdaptiveThrottler::check`] refuses (and counts one request) or admits;
//! an admitted call's outcome is counted when it is recorded, as one
//! request and, if the backend accepted it, one accept
//! ([`ThrottlePermit::record`], or [`AdaptiveThrottler::record`] from a
//! face that keeps no permit). A permit dropped without a record counts
//! nothing: the call never got the backend's answer. "Accepted" is the
//! caller's judgement: a backend that refuses for overload (HTTP 429 or
//! 503, a gRPC `RESOURCE_EXHAUSTED`) did not accept; an application error
//! the backend answered in full did.
//!
//! ```
//! use seawall::{AdaptiveThrottler, ManualClock, Priority, SeededRandom, ThrottleConfig};
//!
//! let throttler = AdaptiveThrottler::with_clock_and_random(
//!     ThrottleConfig::default(),
//!     ManualClock::new(),
//!     SeededRandom::new(7),
//! )
//! .unwrap();
//! // The backend refuses everything: the throttler starts shedding.
//! for _ in 0..100 {
//!     if let Ok(permit) = throttler.check(Priority::Normal) {
//!         permit.record(false);
//!     }
//! }
//! assert!(throttler.rejection_probability(Priority::Normal) > 0.9);
//! assert!(throttler.metrics().throttled > 50);
//! ```
//!
//! # Memory ordering
//!
//! The counts live in the shared window of time slices (`slices.rs`),
//! whose words are self-contained. A check reads the window once and draws
//! once; two racing checks may both see the same counts, which shifts a
//! probability by at most the calls in flight. The count of refusals is a
//! `Relaxed` counter for metrics.

use std::fmt;
use std::time::Duration;

use crate::clock::{Clock, QuantaClock};
use crate::config::{ConfigError, MAX_DURATION};
use crate::random::{clamp_unit, Random, ThreadRandom};
use crate::slices::{Pair, SliceWindow};
use crate::sync::{AtomicU64, Ordering};

/// The narrowest window: ten slices of one millisecond.
pub const MIN_THROTTLE_WINDOW: Duration = Duration::from_millis(10);
/// The largest multiplier `k`.
pub const MAX_K: f64 = 1000.0;

/// How important a call is: lower priorities are shed first (see the
/// module docs for the exact rule).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Priority {
    /// Shed last: `K_p = 1 + 2 (k - 1)`.
    Critical,
    /// `K_p = 1 + 1.5 (k - 1)`.
    High,
    /// `K_p = k`.
    #[default]
    Normal,
    /// Shed first: `K_p = 1 + 0.5 (k - 1)`.
    Low,
}

impl Priority {
    /// Every priority, most important first.
    pub const ALL: [Priority; 4] = [Self::Critical, Self::High, Self::Normal, Self::Low];

    /// Its name (`"critical"`, `"high"`, `"normal"`, `"low"`), as the
    /// Python binding spells it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Critical => "critical",
            Self::High => "high",
            Self::Normal => "normal",
            Self::Low => "low",
        }
    }

    /// The priority named `name`, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The weight of `k - 1` in this priority's multiplier.
    fn weight(self) -> f64 {
        match self {
            Self::Critical => 2.0,
            Self::High => 1.5,
            Self::Normal => 1.0,
            Self::Low => 0.5,
        }
    }

    /// This priority's multiplier for the configured `k`: `1 + (k - 1) w_p`.
    pub fn multiplier(self, k: f64) -> f64 {
        1.0 + (k - 1.0) * self.weight()
    }
}

/// How an [`AdaptiveThrottler`] sheds load. Build one with struct syntax;
/// [`ThrottleConfig::validate`] (called by every constructor) checks it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ThrottleConfig {
    /// The multiplier `K` of [`Priority::Normal`]: calls are shed once the
    /// requests pass `K` times the accepts. `[1, 1000]`, default 2 (the
    /// book's choice).
    pub k: f64,
    /// The span of recent requests judged. `[10 ms, 365 days]`, default
    /// two minutes (the book's choice).
    pub window: Duration,
    /// The highest probability of refusing a call. `[0, 1]`, default 1 (no
    /// cap; the formula itself stays below 1). A cap below 1 keeps a share
    /// of calls probing a backend that accepts nothing.
    pub max_rejection_probability: f64,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            k: 2.0,
            window: Duration::from_secs(120),
            max_rejection_probability: 1.0,
        }
    }
}

impl ThrottleConfig {
    /// Checks every field against its documented range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1.0..=MAX_K).contains(&self.k) {
            return Err(ConfigError::new("k", self.k, "a number in [1, 1000]"));
        }
        if self.window < MIN_THROTTLE_WINDOW || self.window > MAX_DURATION {
            return Err(ConfigError::new(
                "window",
                self.window,
                "a duration in [10 ms, 365 days]",
            ));
        }
        let cap = self.max_rejection_probability;
        if !(0.0..=1.0).contains(&cap) {
            return Err(ConfigError::new(
                "max_rejection_probability",
                cap,
                "a number in [0, 1]",
            ));
        }
        Ok(())
    }
}

/// The probability of refusing a call of multiplier `k_p` over `counts`,
/// capped at `cap`: `min(cap, max(0, (requests - k_p accepts) / (requests + 1)))`.
pub(crate) fn rejection_probability(requests: u64, accepts: u64, k_p: f64, cap: f64) -> f64 {
    let (r, a) = (requests as f64, accepts as f64);
    ((r - k_p * a) / (r + 1.0)).clamp(0.0, cap)
}

/// A call refused locally by an [`AdaptiveThrottler`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Throttled {
    /// The priority of the refused call.
    pub priority: Priority,
    /// The probability it was refused with. It falls as the backend
    /// accepts again; there is no fixed time to retry after.
    pub probability: f64,
}

impl fmt::Display for Throttled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "throttled: the backend is refusing requests; {} call shed with probability {:.3}",
            self.priority.name(),
            self.probability
        )
    }
}

impl std::error::Error for Throttled {}

/// A snapshot of a throttler ([`AdaptiveThrottler::metrics`]).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ThrottlerMetrics {
    /// Requests in the window (calls recorded and calls refused locally).
    pub requests: u64,
    /// Requests in the window that the backend accepted.
    pub accepts: u64,
    /// Calls refused locally since the throttler was built.
    pub throttled: u64,
    /// The probability a [`Priority::Normal`] call is refused now.
    pub rejection_probability: f64,
}

/// An admitted call: report whether the backend accepted it. Dropping it
/// unrecorded counts nothing.
#[must_use = "record the backend's answer, or the throttler never learns of it"]
#[derive(Debug)]
pub struct ThrottlePermit<'a, C: Clock = QuantaClock> {
    throttler: &'a AdaptiveThrottler<C>,
}

impl<C: Clock> ThrottlePermit<'_, C> {
    /// Counts the call: one request, and one accept when `accepted`.
    pub fn record(self, accepted: bool) {
        self.throttler.record(accepted);
    }
}

/// A lock-free adaptive throttler shared by every caller of one backend
/// (see the module docs).
pub struct AdaptiveThrottler<C: Clock = QuantaClock> {
    /// Requests and (marked) accepts.
    window: SliceWindow,
    /// Calls refused locally; written only on refusals.
    throttled: AtomicU64,
    config: ThrottleConfig,
    clock: C,
    random: Box<dyn Random>,
}

impl AdaptiveThrottler<QuantaClock> {
    /// A throttler on the production clock.
    pub fn new(config: ThrottleConfig) -> Result<Self, ConfigError> {
        Self::with_clock(config, QuantaClock)
    }
}

impl<C: Clock> AdaptiveThrottler<C> {
    /// A throttler on the given clock, drawing from [`ThreadRandom`].
    pub fn with_clock(config: ThrottleConfig, clock: C) -> Result<Self, ConfigError> {
        Self::with_clock_and_random(config, clock, ThreadRandom)
    }

    /// A throttler on the given clock that draws its refusals from
    /// `random`: with a [`crate::SeededRandom`] and a
    /// [`crate::ManualClock`], every decision repeats from run to run.
    pub fn with_clock_and_random(
        config: ThrottleConfig,
        clock: C,
        random: impl Random + 'static,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self {
            window: SliceWindow::new(config.window),
            throttled: AtomicU64::new(0),
            config,
            clock,
            random: Box::new(random),
        })
    }

    /// Admits a call of `priority`, or refuses it locally (and counts it as
    /// a request).
    pub fn check(&self, priority: Priority) -> Result<ThrottlePermit<'_, C>, Throttled> {
        // The cheap reading (about a millisecond behind at most, see
        // `Clock::recent`): a slice is at least a millisecond long, and the
        // window takes readings behind another caller's as current.
        let now = self.clock.recent();
        let p = self.probability_at(now, priority);
        // No draw while nothing is shed: the common, healthy case.
        if p > 0.0 && clamp_unit(self.random.unit()) < p {
            self.window.add(now, 1, 0);
            // Relaxed: a count for metrics; written only on refusals.
            self.throttled.fetch_add(1, Ordering::Relaxed);
            return Err(Throttled {
                priority,
                probability: p,
            });
        }
        Ok(ThrottlePermit { throttler: self })
    }

    /// Counts one call that was sent: one request, and one accept when the
    /// backend `accepted` it. [`ThrottlePermit::record`] calls this.
    pub fn record(&self, accepted: bool) {
        // The cheap reading: see `check`.
        self.window.add(self.clock.recent(), 1, u64::from(accepted));
    }

    fn probability_at(&self, now: u64, priority: Priority) -> f64 {
        let Pair { requests, marked } = self.window.sum(now, None);
        rejection_probability(
            requests,
            marked,
            priority.multiplier(self.config.k),
            self.config.max_rejection_probability,
        )
    }

    /// The probability a call of `priority` is refused now.
    pub fn rejection_probability(&self, priority: Priority) -> f64 {
        self.probability_at(self.clock.now(), priority)
    }

    /// A snapshot for metrics.
    pub fn metrics(&self) -> ThrottlerMetrics {
        let now = self.clock.now();
        let Pair { requests, marked } = self.window.sum(now, None);
        ThrottlerMetrics {
            requests,
            accepts: marked,
            // Relaxed: see `check`.
            throttled: self.throttled.load(Ordering::Relaxed),
            rejection_probability: rejection_probability(
                requests,
                marked,
                self.config.k,
                self.config.max_rejection_probability,
            ),
        }
    }

    /// Empties the window. Exact only while no other thread uses the
    /// throttler.
    pub fn reset(&self) {
        self.window.reset();
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &ThrottleConfig {
        &self.config
    }
}

impl<C: Clock> fmt::Debug for AdaptiveThrottler<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdaptiveThrottler")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(seawall_loom)))]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::random::SeededRandom;

    /// A source that always returns the same number.
    struct Fixed(f64);
    impl Random for Fixed {
        fn unit(&self) -> f64 {
            self.0
        }
    }

    fn throttler(config: ThrottleConfig, u: f64) -> (AdaptiveThrottler<ManualClock>, ManualClock) {
        let clock = ManualClock::new();
        let t = AdaptiveThrottler::with_clock_and_random(config, clock.clone(), Fixed(u)).unwrap();
        (t, clock)
    }

    #[test]
    fn the_formula_and_its_cap() {
        assert_eq!(rejection_probability(0, 0, 2.0, 1.0), 0.0);
        assert_eq!(rejection_probability(100, 50, 2.0, 1.0), 0.0);
        assert_eq!(rejection_probability(99, 0, 2.0, 1.0), 0.99);
        assert_eq!(rejection_probability(99, 0, 2.0, 0.5), 0.5);
        assert_eq!(rejection_probability(9, 2, 2.0, 1.0), 0.5);
        assert_eq!(rejection_probability(9, 2, 4.0, 1.0), 0.1);
    }

    #[test]
    fn multipliers_order_the_priorities_and_stay_at_least_one() {
        let ks: Vec<f64> = Priority::ALL.iter().map(|p| p.multiplier(2.0)).collect();
        assert_eq!(ks, [3.0, 2.5, 2.0, 1.5]);
        assert!(Priority::ALL.iter().all(|p| p.multiplier(1.0) == 1.0));
        for p in Priority::ALL {
            assert_eq!(Priority::from_name(p.name()), Some(p));
        }
        assert_eq!(Priority::from_name("urgent"), None);
    }

    #[test]
    fn a_healthy_backend_is_never_throttled() {
        let (t, _) = throttler(ThrottleConfig::default(), 0.0);
        for _ in 0..1000 {
            t.check(Priority::Low).unwrap().record(true);
        }
        assert_eq!(t.rejection_probability(Priority::Low), 0.0);
        assert_eq!(t.metrics().throttled, 0);
    }

    #[test]
    fn lower_priorities_are_shed_first() {
        // The backend accepts 40 of 100: Low (1.5) and Normal (2) are shed,
        // High (2.5) is at its threshold, Critical (3) is not.
        let (t, _) = throttler(ThrottleConfig::default(), 0.0);
        for i in 0..100 {
            t.record(i % 5 < 2);
        }
        let p: Vec<f64> = Priority::ALL
            .iter()
            .map(|&p| t.rejection_probability(p))
            .collect();
        assert_eq!(p[0], 0.0);
        assert_eq!(p[1], 0.0);
        assert!((p[2] - 20.0 / 101.0).abs() < 1e-12, "{p:?}");
        assert!((p[3] - 40.0 / 101.0).abs() < 1e-12, "{p:?}");
        // A draw of 0.3 sheds Low, admits Normal.
        let t2 = AdaptiveThrottler::with_clock_and_random(
            ThrottleConfig::default(),
            ManualClock::new(),
            Fixed(0.3),
        )
        .unwrap();
        for i in 0..100 {
            t2.record(i % 5 < 2);
        }
        let refused = t2.check(Priority::Low).unwrap_err();
        assert_eq!(refused.priority, Priority::Low);
        assert!(t2.check(Priority::Normal).is_ok());
    }

    #[test]
    fn a_local_refusal_counts_as_a_request_not_an_accept() {
        let (t, _) = throttler(ThrottleConfig::default(), 0.0);
        for _ in 0..10 {
            t.record(false);
        }
        assert!(t.check(Priority::Normal).is_err());
        let m = t.metrics();
        assert_eq!((m.requests, m.accepts, m.throttled), (11, 0, 1));
    }

    #[test]
    fn the_cap_keeps_probing() {
        let config = ThrottleConfig {
            max_rejection_probability: 0.5,
            ..Default::default()
        };
        let (t, _) = throttler(config, 0.5);
        for _ in 0..1000 {
            t.record(false);
        }
        assert_eq!(t.rejection_probability(Priority::Low), 0.5);
        assert!(
            t.check(Priority::Low).is_ok(),
            "a draw of 0.5 passes a cap of 0.5"
        );
    }

    #[test]
    fn counts_leave_with_the_window() {
        let (t, clock) = throttler(ThrottleConfig::default(), 0.0);
        for _ in 0..50 {
            t.record(false);
        }
        assert!(t.rejection_probability(Priority::Normal) > 0.9);
        clock.advance(Duration::from_secs(119));
        assert!(t.rejection_probability(Priority::Normal) > 0.9);
        clock.advance(Duration::from_secs(12));
        assert_eq!(t.rejection_probability(Priority::Normal), 0.0);
        assert!(t.check(Priority::Normal).is_ok());
    }

    #[test]
    fn seeded_runs_repeat() {
        let run = || {
            let t = AdaptiveThrottler::with_clock_and_random(
                ThrottleConfig::default(),
                ManualClock::new(),
                SeededRandom::new(3),
            )
            .unwrap();
            (0..200)
                .map(|i| match t.check(Priority::Normal) {
                    Ok(permit) => {
                        permit.record(i % 4 == 0);
                        true
                    }
                    Err(_) => false,
                })
                .collect::<Vec<_>>()
        };
        let a = run();
        assert_eq!(a, run());
        assert!(a.iter().any(|&x| x) && a.iter().any(|&x| !x));
    }

    #[test]
    fn bad_configs_name_the_field() {
        let bad = |c: ThrottleConfig| c.validate().unwrap_err().field;
        let d = ThrottleConfig::default();
        assert_eq!(bad(ThrottleConfig { k: 0.5, ..d }), "k");
        assert_eq!(bad(ThrottleConfig { k: f64::NAN, ..d }), "k");
        assert_eq!(
            bad(ThrottleConfig {
                window: Duration::from_millis(1),
                ..d
            }),
            "window"
        );
        assert_eq!(
            bad(ThrottleConfig {
                max_rejection_probability: 1.5,
                ..d
            }),
            "max_rejection_probability"
        );
    }
}

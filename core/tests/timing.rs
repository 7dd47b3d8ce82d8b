//! `Timing`: engines that decide or measure on the cheap clock reading do
//! so, within the slack each documents: the rate limiter's decisions and
//! the adaptive limiter's admission times.

use std::time::Duration;

use seawall::{
    AdaptiveLimiter, AdaptiveLimiterConfig, LimitAlgorithm, ManualClock, Outcome, RateLimitConfig,
    RateLimiter, Timing,
};

const MS: Duration = Duration::from_millis(1);

/// A clock whose cheap reading is set apart from the exact one, as a
/// refresher thread's would be.
#[derive(Clone, Default)]
struct TwoReadings {
    exact: ManualClock,
    recent: ManualClock,
}

impl seawall::Clock for TwoReadings {
    fn now(&self) -> u64 {
        self.exact.now()
    }
    fn recent(&self) -> u64 {
        self.recent.now()
    }
}

impl TwoReadings {
    fn set(&self, exact_ms: u64, recent_ms: u64) {
        self.exact.set(exact_ms * 1_000_000);
        self.recent.set(recent_ms * 1_000_000);
    }
}

#[test]
fn recent_timing_decides_on_the_cheap_reading_within_the_documented_slack() {
    let clock = TwoReadings::default();
    let config = |timing| RateLimitConfig {
        rate: 10, // 100 ms apart
        period: Duration::from_secs(1),
        burst: 1,
        timing,
    };
    let exact = RateLimiter::with_clock(config(Timing::Exact), clock.clone()).unwrap();
    let coarse = RateLimiter::with_clock(config(Timing::Recent), clock.clone()).unwrap();
    clock.set(1000, 1000);
    assert!(exact.check().is_ok() && coarse.check().is_ok());
    // The cheap reading lags by 10 ms: the coarse limiter refuses a call the
    // exact one admits, and asks for 10 ms more.
    clock.set(1100, 1090);
    assert!(exact.check().is_ok());
    assert_eq!(coarse.check().unwrap_err().retry_after, 10 * MS);
    clock.set(1100, 1100);
    assert!(coarse.check().is_ok());
    // A lagging reading installs a TAT lower by the lag (50 ms here): the
    // coarse limiter then admits one call more than the exact one within
    // the next interval, the bound its documentation states (ceil(lag /
    // interval) = 1), and no more.
    clock.set(1300, 1250);
    assert!(exact.check().is_ok() && coarse.check().is_ok());
    clock.set(1350, 1350);
    assert_eq!(exact.check().unwrap_err().retry_after, 50 * MS);
    assert!(coarse.check().is_ok());
    assert_eq!(coarse.check().unwrap_err().retry_after, 100 * MS);
}

#[test]
fn recent_timing_admits_on_the_cheap_reading_and_times_calls_on_it() {
    let clock = TwoReadings::default();
    let config = |timing| AdaptiveLimiterConfig {
        algorithm: LimitAlgorithm::Aimd,
        initial_limit: 10,
        latency_threshold: 100 * MS,
        timing,
        ..Default::default()
    };
    let exact = AdaptiveLimiter::with_clock(config(Timing::Exact), clock.clone()).unwrap();
    let coarse = AdaptiveLimiter::with_clock(config(Timing::Recent), clock.clone()).unwrap();
    clock.set(1000, 990);
    let (e, c) = (exact.try_acquire().unwrap(), coarse.try_acquire().unwrap());
    assert_eq!(e.ticket().started, 1000 * 1_000_000);
    assert_eq!(c.ticket().started, 990 * 1_000_000);
    // 95 ms on the exact clock, 105 ms on the lagging one (its first reading
    // lagged by 10 ms, its second by none): only the coarse limiter sees a
    // call slower than the 100 ms threshold, a drop.
    clock.set(1095, 1095);
    e.success();
    c.success();
    assert_eq!(exact.limit(), 10);
    assert_eq!(coarse.limit(), 9);
    // A latency the caller gives is taken as given on either timing.
    clock.set(2000, 1999);
    let c = coarse.try_acquire().unwrap();
    clock.set(2500, 2500);
    c.record(Outcome::Success, 50 * MS);
    assert_eq!(coarse.limit(), 9);
}

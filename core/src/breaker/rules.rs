//! Window-based trip rules: failure count, failure rate and slow-call rate,
//! judged over a [`Window`]. The consecutive-failure rule and the HALF_OPEN
//! rules live in the state word (`state.rs`, decided in `decide.rs`); these
//! are the rules whose inputs do not fit in it.
//!
//! Depends on the configuration, the windows and the counters; only the
//! breaker itself uses it.
//!
//! The breaker asks [`Rules::observe`] about every outcome of a CLOSED
//! episode; a `true` answer makes its next swap open the breaker. Evaluating
//! costs a scan of the window, so it happens only when an outcome could make
//! a rule fire: anything but a fast success (a failure; a slow call; an
//! ignored outcome, which in a count window can push out a success and so
//! raise a rate), a time-window roll-over (old successes leave the window),
//! or any outcome while the rules are *armed*. An evaluation arms them when
//! some rate is at or past its threshold but the window does not yet hold
//! `minimum_calls` calls; a fast success can then complete the minimum.
//! Otherwise a fast success cannot make any rule fire: it adds no failure and
//! no slow call, and what it pushes out of a count window (a success, a
//! failure, an ignored outcome or nothing) leaves every rate where it was or
//! lower. Skipping it changes no decision; the model test in
//! `core/tests/window_model.rs` checks exactly that.

use super::config::{ppm, BreakerConfig, Window, PPM};
use super::counters::{Counter, Counters};
use super::state::Outcome;
use super::window::{CountWindow, Sample, TimeWindow, WindowCounts};
use crate::sync::{AtomicBool, Ordering};

/// The thresholds, 0 meaning "rule off".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Thresholds {
    pub(crate) failure_count: u64,
    pub(crate) failure_rate_ppm: u64,
    pub(crate) slow_rate_ppm: u64,
    pub(crate) minimum_calls: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// A rule fires.
    Trip,
    /// No rule fires yet, but a rate is at its threshold below the minimum.
    Armed,
    /// Nothing fires.
    Calm,
}

fn at_rate(part: u64, whole: u64, rate_ppm: u64) -> bool {
    rate_ppm != 0
        && whole != 0
        && u128::from(part) * u128::from(PPM) >= u128::from(rate_ppm) * u128::from(whole)
}

/// Decides whether the window's counts make a rule fire.
pub(crate) fn verdict(c: &WindowCounts, t: &Thresholds) -> Verdict {
    if t.failure_count != 0 && c.failures >= t.failure_count {
        return Verdict::Trip;
    }
    let calls = c.calls();
    let rate_met = at_rate(c.failures, calls, t.failure_rate_ppm)
        || at_rate(c.slow_calls, calls, t.slow_rate_ppm);
    match (rate_met, calls >= t.minimum_calls) {
        (true, true) => Verdict::Trip,
        (true, false) => Verdict::Armed,
        (false, _) => Verdict::Calm,
    }
}

enum Kind {
    Count(CountWindow),
    Time(TimeWindow),
}

/// The window and its rules, for one breaker.
pub(crate) struct Rules {
    window: Kind,
    thresholds: Thresholds,
    armed: AtomicBool,
}

/// The cumulative outcome counts of a breaker, as a time window needs them.
fn cumulative(c: &Counters) -> WindowCounts {
    WindowCounts {
        successes: c.get(Counter::Successes),
        failures: c.get(Counter::Failures),
        slow_calls: c.get(Counter::Slow),
        ignored: c.get(Counter::Ignored),
    }
}

impl Rules {
    /// The rules of `config`, or `None` when it has no window.
    pub(crate) fn new(config: &BreakerConfig) -> Option<Self> {
        let window = match config.window {
            Window::None => return None,
            Window::Count { size } => Kind::Count(CountWindow::new(size)),
            Window::Time { length, buckets } => Kind::Time(TimeWindow::new(length, buckets)),
        };
        Some(Self {
            window,
            thresholds: Thresholds {
                failure_count: config.failure_count_threshold.map_or(0, u64::from),
                failure_rate_ppm: config.failure_rate_threshold.map_or(0, ppm),
                slow_rate_ppm: config.slow_call_rate_threshold.map_or(0, ppm),
                minimum_calls: u64::from(config.minimum_calls),
            },
            armed: AtomicBool::new(false),
        })
    }

    /// Does the time window need the clock for recording?
    pub(crate) fn needs_time(&self) -> bool {
        matches!(self.window, Kind::Time(_))
    }

    /// The common case on the hot path: records a fast success that needs no
    /// evaluation (rules not armed, no time-window roll-over due) and returns
    /// `true`; the caller then adds it to the cumulative counters. Returns
    /// `false`, having recorded nothing, when the caller must take
    /// [`Rules::observe`] instead. Equivalent to `observe` for such an
    /// outcome, which would record it and skip the evaluation.
    #[inline(always)]
    pub(crate) fn quiet_success(&self, now: impl FnOnce() -> u64) -> bool {
        // Relaxed: see `observe`.
        if self.armed.load(Ordering::Relaxed) {
            return false;
        }
        match &self.window {
            Kind::Count(w) => {
                w.record(Sample {
                    outcome: Outcome::Success,
                    slow: false,
                });
                true
            }
            Kind::Time(w) => w.in_current_bucket(now()),
        }
    }

    /// Records one outcome of the CLOSED episode at `now` and says whether a
    /// rule fires. `count` adds the outcome to the breaker's cumulative
    /// counters; it runs after a time window's roll-over snapshot, so the
    /// snapshot holds the counts from before this bucket's first outcome.
    #[inline]
    pub(crate) fn observe(
        &self,
        now: u64,
        s: Sample,
        counters: &Counters,
        count: impl FnOnce(),
    ) -> bool {
        let rolled = match &self.window {
            Kind::Count(w) => {
                w.record(s);
                false
            }
            Kind::Time(w) => w.roll(now, || cumulative(counters)),
        };
        count();
        // Relaxed: `armed` only tells whether to evaluate; a stale value
        // costs one evaluation or delays a trip by one outcome under a race.
        if s.outcome == Outcome::Success
            && !s.slow
            && !rolled
            && !self.armed.load(Ordering::Relaxed)
        {
            return false;
        }
        let v = verdict(&self.counts(now, counters), &self.thresholds);
        // Relaxed: see above.
        self.armed.store(v == Verdict::Armed, Ordering::Relaxed);
        v == Verdict::Trip
    }

    /// The counts of the window ending at `now`.
    pub(crate) fn counts(&self, now: u64, counters: &Counters) -> WindowCounts {
        match &self.window {
            Kind::Count(w) => w.counts(),
            Kind::Time(w) => w.counts(now, cumulative(counters)),
        }
    }

    /// Starts a new episode: outcomes so far leave the window.
    pub(crate) fn raise_floor(&self, counters: &Counters) {
        match &self.window {
            Kind::Count(w) => w.raise_floor(),
            Kind::Time(w) => w.raise_floor(cumulative(counters)),
        }
    }

    /// Heap bytes held by the window.
    pub(crate) fn heap_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + match &self.window {
                Kind::Count(w) => w.bytes(),
                Kind::Time(w) => w.bytes(),
            }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(successes: u64, failures: u64, slow_calls: u64) -> WindowCounts {
        WindowCounts {
            successes,
            failures,
            slow_calls,
            ignored: 0,
        }
    }

    #[test]
    fn rates_are_exact_integers() {
        let t = Thresholds {
            failure_rate_ppm: ppm(0.3),
            minimum_calls: 10,
            ..Default::default()
        };
        assert_eq!(
            verdict(&counts(7, 3, 0), &t),
            Verdict::Trip,
            "30% of 10 is exactly 3"
        );
        assert_eq!(verdict(&counts(8, 2, 0), &t), Verdict::Calm);
        assert_eq!(
            verdict(&counts(1, 3, 0), &t),
            Verdict::Armed,
            "rate met below minimum"
        );
        assert_eq!(verdict(&counts(0, 0, 0), &t), Verdict::Calm);
        assert_eq!(ppm(1e-9), 1);
    }

    #[test]
    fn each_rule_fires_on_its_own() {
        let count = Thresholds {
            failure_count: 3,
            minimum_calls: 100,
            ..Default::default()
        };
        assert_eq!(
            verdict(&counts(100, 3, 0), &count),
            Verdict::Trip,
            "count ignores the minimum"
        );
        assert_eq!(verdict(&counts(100, 2, 0), &count), Verdict::Calm);
        let slow = Thresholds {
            slow_rate_ppm: ppm(0.5),
            minimum_calls: 4,
            ..Default::default()
        };
        assert_eq!(verdict(&counts(4, 0, 2), &slow), Verdict::Trip);
        assert_eq!(verdict(&counts(4, 0, 1), &slow), Verdict::Calm);
        let off = Thresholds {
            minimum_calls: 1,
            ..Default::default()
        };
        assert_eq!(verdict(&counts(0, 1000, 1000), &off), Verdict::Calm);
    }
}

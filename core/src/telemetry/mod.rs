//! The metric catalog: every metric Seawall exports, named in one place,
//! built from the engines' snapshots when a collector asks for them.
//!
//! Nothing here runs on a call path. A scrape reads each engine's snapshot
//! ([`Breaker::metrics`](crate::Breaker::metrics),
//! [`Bulkhead::metrics`](crate::Bulkhead::metrics),
//! [`AdaptiveLimiter::metrics`](crate::AdaptiveLimiter::metrics),
//! [`AdaptiveThrottler::metrics`](crate::AdaptiveThrottler::metrics),
//! [`FaultInjector::metrics`](crate::FaultInjector::metrics),
//! [`Hedge::metrics`](crate::Hedge::metrics),
//! [`RateLimiter::metrics`](crate::RateLimiter::metrics),
//! [`RetryBudget::metrics`](crate::RetryBudget::metrics),
//! [`RetryStats::counts`]) and turns it into [`Family`] values with
//! [`Catalog`]; the exporters (the scrape [`text`] that the C face returns
//! and Python serves, the `prometheus-client` feature, the Python
//! collectors) only translate families.
//!
//! Family names carry no unit suffix beyond the one in the name and no
//! `_total`: every exposition format adds `_total` to a counter itself
//! (Prometheus text: `seawall_breaker_calls_total`), and OpenTelemetry uses
//! the dotted form ([`Family::dotted_name`]: `seawall.breaker.calls`).
//! Every sample carries the engine's name as the label `name`.
//!
//! ```
//! use seawall::telemetry::Catalog;
//! use seawall::{Breaker, BreakerConfig, ManualClock};
//!
//! let b = Breaker::with_clock("users", BreakerConfig::default(), ManualClock::new()).unwrap();
//! b.try_acquire().unwrap().success();
//! let mut catalog = Catalog::new();
//! catalog.breaker(b.name(), &b.metrics());
//! let families = catalog.finish();
//! let calls = families.iter().find(|f| f.name == "seawall_breaker_calls").unwrap();
//! assert_eq!(calls.samples[0].labels, &[("outcome", "success")]);
//! assert_eq!(calls.samples[0].value, 1.0);
//! ```

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::breaker::{Metrics, State};
use crate::budget::RetryBudgetMetrics;
use crate::bulkhead::BulkheadMetrics;
use crate::fault::FaultMetrics;
use crate::hedge::HedgeMetrics;
use crate::limiter::AdaptiveLimiterMetrics;
use crate::rate_limit::RateLimiterMetrics;
use crate::throttle::ThrottlerMetrics;

#[cfg(feature = "prometheus-client")]
pub mod prometheus;
mod retry;
mod text;

pub use retry::{RetryCounts, RetryOutcome, RetryStats};
pub use text::{text, write_text, TextFormat};

/// Whether a family only grows or may go both ways.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricKind {
    /// Monotone since the engine was created (or its metrics cleared).
    Counter,
    /// A value now.
    Gauge,
}

/// A label other than `name`: its name and value, both fixed strings.
pub type Label = (&'static str, &'static str);

/// One value of a family, for one engine.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The engine's name: the label `name`.
    pub name: Arc<str>,
    /// The other labels, in a fixed order.
    pub labels: &'static [Label],
    /// The value (counts are exact below 2^53).
    pub value: f64,
}

/// One metric and its samples.
#[derive(Clone, Debug, PartialEq)]
pub struct Family {
    /// The Prometheus-style name, without `_total`.
    pub name: &'static str,
    /// What it measures.
    pub help: &'static str,
    /// Counter or gauge.
    pub kind: MetricKind,
    /// One sample per engine and label set.
    pub samples: Vec<Sample>,
}

impl Family {
    /// The OpenTelemetry name: `seawall.breaker.calls` for
    /// `seawall_breaker_calls` (the first two underscores become dots).
    pub fn dotted_name(&self) -> String {
        self.name.replacen('_', ".", 2)
    }
}

/// Every family the catalog may export, in export order: name, help, kind
/// (for exporters that declare their instruments before any engine
/// exists).
pub fn families() -> &'static [(&'static str, &'static str, MetricKind)] {
    &FAMILIES
}

/// Every family, in export order: name, help, kind.
const FAMILIES: [(&str, &str, MetricKind); F_COUNT] = {
    use MetricKind::{Counter as C, Gauge as G};
    [
        (
            "seawall_breaker_calls",
            "Calls admitted by the breaker and reported, by outcome.",
            C,
        ),
        (
            "seawall_breaker_rejected_calls",
            "Calls the breaker rejected.",
            C,
        ),
        (
            "seawall_breaker_slow_calls",
            "Reported calls that lasted at least slow_call_duration.",
            C,
        ),
        (
            "seawall_breaker_transitions",
            "State transitions, by the state left and the state entered.",
            C,
        ),
        (
            "seawall_breaker_state",
            "The breaker's state: 1 for the current one, 0 for the others.",
            G,
        ),
        (
            "seawall_breaker_state_duration_seconds",
            "Time spent in the current state.",
            G,
        ),
        (
            "seawall_breaker_trial_calls_in_flight",
            "Trial calls outstanding while half-open.",
            G,
        ),
        (
            "seawall_breaker_window_failure_ratio",
            "Failures over calls in the trip rules' window.",
            G,
        ),
        (
            "seawall_breaker_fleet_state",
            "The fleet's shared state: 1 for the current one, 0 for the others.",
            G,
        ),
        (
            "seawall_breaker_fleet_degraded",
            "1 while the shared store is unreachable.",
            G,
        ),
        ("seawall_bulkhead_in_use", "Bulkhead slots taken.", G),
        (
            "seawall_bulkhead_queued",
            "Calls waiting for a bulkhead slot.",
            G,
        ),
        (
            "seawall_bulkhead_capacity",
            "Calls the bulkhead admits at once.",
            G,
        ),
        (
            "seawall_bulkhead_rejected_calls",
            "Calls the bulkhead refused (full, or timed out waiting).",
            C,
        ),
        (
            "seawall_rate_limiter_allowed",
            "Calls the rate limiter admitted.",
            C,
        ),
        (
            "seawall_rate_limiter_denied",
            "Calls the rate limiter refused.",
            C,
        ),
        (
            "seawall_retry_budget_remaining_ratio",
            "Share of the retry allowance left (0..1).",
            G,
        ),
        (
            "seawall_retry_budget_exhausted",
            "Retries refused for lack of budget.",
            C,
        ),
        (
            "seawall_retry_calls",
            "Retried calls, by how they ended.",
            C,
        ),
        ("seawall_retry_attempts", "Attempts beyond the first.", C),
        (
            "seawall_adaptive_limiter_limit",
            "Calls the adaptive limiter admits at once now (its learnt limit).",
            G,
        ),
        (
            "seawall_adaptive_limiter_in_flight",
            "Calls holding an adaptive limiter permit.",
            G,
        ),
        (
            "seawall_adaptive_limiter_admitted_calls",
            "Calls the adaptive limiter admitted.",
            C,
        ),
        (
            "seawall_adaptive_limiter_rejected_calls",
            "Calls the adaptive limiter refused (at its limit).",
            C,
        ),
        (
            "seawall_throttler_requests",
            "Requests in the adaptive throttler's window (sent, and refused locally).",
            G,
        ),
        (
            "seawall_throttler_accepts",
            "Requests in the adaptive throttler's window that the backend accepted.",
            G,
        ),
        (
            "seawall_throttler_rejection_probability",
            "The probability the adaptive throttler refuses a normal-priority call now.",
            G,
        ),
        (
            "seawall_throttler_throttled_calls",
            "Calls the adaptive throttler refused locally.",
            C,
        ),
        (
            "seawall_fault_injection_enabled",
            "1 while the fault injector injects.",
            G,
        ),
        ("seawall_fault_injections", "Faults injected, by kind.", C),
        (
            "seawall_hedge_calls",
            "Calls made through a hedging policy.",
            C,
        ),
        (
            "seawall_hedge_attempts",
            "Extra attempts started by a hedging policy (each granted by the retry budget).",
            C,
        ),
        (
            "seawall_hedge_refused",
            "Extra attempts the retry budget refused (never started).",
            C,
        ),
        (
            "seawall_hedge_wins",
            "Calls won by an extra attempt rather than the first.",
            C,
        ),
    ]
};

const F_CALLS: usize = 0;
const F_REJECTED: usize = 1;
const F_SLOW: usize = 2;
const F_TRANSITIONS: usize = 3;
const F_STATE: usize = 4;
const F_STATE_SECONDS: usize = 5;
const F_TRIALS: usize = 6;
const F_WINDOW_RATIO: usize = 7;
const F_FLEET_STATE: usize = 8;
const F_FLEET_DEGRADED: usize = 9;
const F_BH_IN_USE: usize = 10;
const F_BH_QUEUED: usize = 11;
const F_BH_CAPACITY: usize = 12;
const F_BH_REJECTED: usize = 13;
const F_RL_ALLOWED: usize = 14;
const F_RL_DENIED: usize = 15;
const F_BUDGET_RATIO: usize = 16;
const F_BUDGET_EXHAUSTED: usize = 17;
const F_RETRY_CALLS: usize = 18;
const F_RETRY_ATTEMPTS: usize = 19;
const F_AL_LIMIT: usize = 20;
const F_AL_IN_FLIGHT: usize = 21;
const F_AL_ADMITTED: usize = 22;
const F_AL_REJECTED: usize = 23;
const F_TH_REQUESTS: usize = 24;
const F_TH_ACCEPTS: usize = 25;
const F_TH_PROBABILITY: usize = 26;
const F_TH_THROTTLED: usize = 27;
const F_FAULT_ENABLED: usize = 28;
const F_FAULT_INJECTIONS: usize = 29;
const F_HEDGE_CALLS: usize = 30;
const F_HEDGE_ATTEMPTS: usize = 31;
const F_HEDGE_REFUSED: usize = 32;
const F_HEDGE_WINS: usize = 33;
const F_COUNT: usize = 34;

/// The families a breaker adds to and the samples it usually adds to each
/// (transitions: the four of the state machine).
const BREAKER_SAMPLES: [(usize, usize); 8] = [
    (F_CALLS, 3),
    (F_REJECTED, 1),
    (F_SLOW, 1),
    (F_TRANSITIONS, 4),
    (F_STATE, 5),
    (F_STATE_SECONDS, 1),
    (F_TRIALS, 1),
    (F_WINDOW_RATIO, 1),
];

const NO_LABELS: &[Label] = &[];
const OUTCOMES: [&[Label]; 3] = [
    &[("outcome", "success")],
    &[("outcome", "failure")],
    &[("outcome", "ignored")],
];

/// `state` labels, indexed like [`State::ALL`].
static STATES: [[Label; 1]; 5] = {
    let mut a = [[("state", "")]; 5];
    let mut i = 0;
    while i < 5 {
        a[i] = [("state", STATE_LABELS[i])];
        i += 1;
    }
    a
};

/// The transitions of the state machine itself, reported from zero so that
/// `increase()` sees their first one; a pair that involves a forced state
/// (an operator's command) is reported once it has happened, so an idle
/// breaker costs a scrape 4 transition samples, not 20.
const ALWAYS_REPORTED: [(State, State); 4] = [
    (State::Closed, State::Open),
    (State::Open, State::HalfOpen),
    (State::HalfOpen, State::Closed),
    (State::HalfOpen, State::Open),
];

/// `from`/`to` labels, indexed like [`State::ALL`] twice.
static PAIRS: [[[Label; 2]; 5]; 5] = {
    let mut a = [[[("", ""); 2]; 5]; 5];
    let mut f = 0;
    while f < 5 {
        let mut t = 0;
        while t < 5 {
            a[f][t] = [("from", STATE_LABELS[f]), ("to", STATE_LABELS[t])];
            t += 1;
        }
        f += 1;
    }
    a
};

/// [`State::label`] of each state of [`State::ALL`], for the tables above.
const STATE_LABELS: [&str; 5] = [
    "closed",
    "open",
    "half_open",
    "forced_open",
    "forced_closed",
];

/// Families being filled from snapshots; [`Catalog::finish`] hands them out.
///
/// Engines of one kind that share a name report as one: their counters are
/// summed, and of their gauges the one added last is kept (a scrape must
/// not carry two samples with the same labels, which Prometheus refuses).
#[derive(Debug)]
pub struct Catalog {
    families: Vec<Family>,
    /// Each engine's name, with the first family of its kind.
    engines: HashSet<(usize, Arc<str>), foldhash::fast::RandomState>,
    /// Two engines of one kind share a name: `finish` merges them.
    shared_names: bool,
}

impl Default for Catalog {
    fn default() -> Self {
        Self::new()
    }
}

impl Catalog {
    /// No samples yet.
    pub fn new() -> Self {
        Self {
            families: FAMILIES
                .iter()
                .map(|&(name, help, kind)| Family {
                    name,
                    help,
                    kind,
                    samples: Vec::new(),
                })
                .collect(),
            engines: HashSet::default(),
            shared_names: false,
        }
    }

    /// Notes an engine whose first family is `family`.
    fn engine(&mut self, family: usize, name: &Arc<str>) {
        if !self.engines.insert((family, Arc::clone(name))) {
            self.shared_names = true;
        }
    }

    fn push(&mut self, family: usize, name: &Arc<str>, labels: &'static [Label], value: f64) {
        self.families[family].samples.push(Sample {
            name: Arc::clone(name),
            labels,
            value,
        });
    }

    /// Adds a breaker's snapshot.
    pub fn breaker(&mut self, name: impl Into<Arc<str>>, m: &Metrics) {
        let name: Arc<str> = name.into();
        self.engine(F_CALLS, &name);
        let n = &name;
        for (labels, v) in OUTCOMES
            .into_iter()
            .zip([m.successes, m.failures, m.ignored])
        {
            self.push(F_CALLS, n, labels, v as f64);
        }
        self.push(F_REJECTED, n, NO_LABELS, m.rejected as f64);
        self.push(F_SLOW, n, NO_LABELS, m.slow_calls as f64);
        for from in State::ALL {
            for to in State::ALL {
                let v = m.transitions.between(from, to);
                if v > 0 || ALWAYS_REPORTED.contains(&(from, to)) {
                    self.push(F_TRANSITIONS, n, &PAIRS[from.index()][to.index()], v as f64);
                }
            }
        }
        self.one_hot(F_STATE, n, m.state);
        self.push(F_STATE_SECONDS, n, NO_LABELS, m.time_in_state.as_secs_f64());
        let trials = f64::from(m.trial_calls_in_flight);
        self.push(F_TRIALS, n, NO_LABELS, trials);
        if let Some(w) = m.window {
            let ratio = if w.calls() == 0 {
                0.0
            } else {
                w.failures as f64 / w.calls() as f64
            };
            self.push(F_WINDOW_RATIO, n, NO_LABELS, ratio);
        }
    }

    /// Adds a distributed breaker's view of its fleet: the shared state and
    /// whether the shared store is unreachable (its local books go through
    /// [`Catalog::breaker`]).
    pub fn fleet(&mut self, name: impl Into<Arc<str>>, state: State, degraded: bool) {
        let name: Arc<str> = name.into();
        self.engine(F_FLEET_STATE, &name);
        self.one_hot(F_FLEET_STATE, &name, state);
        self.push(
            F_FLEET_DEGRADED,
            &name,
            NO_LABELS,
            f64::from(u8::from(degraded)),
        );
    }

    fn one_hot(&mut self, family: usize, name: &Arc<str>, state: State) {
        for s in State::ALL {
            let v = f64::from(u8::from(s == state));
            self.push(family, name, &STATES[s.index()], v);
        }
    }

    /// Adds a bulkhead's snapshot.
    pub fn bulkhead(&mut self, name: impl Into<Arc<str>>, m: &BulkheadMetrics) {
        let name: Arc<str> = name.into();
        self.engine(F_BH_IN_USE, &name);
        self.push(F_BH_IN_USE, &name, NO_LABELS, f64::from(m.in_use));
        self.push(F_BH_QUEUED, &name, NO_LABELS, f64::from(m.queued));
        self.push(F_BH_CAPACITY, &name, NO_LABELS, f64::from(m.capacity));
        self.push(F_BH_REJECTED, &name, NO_LABELS, m.rejected as f64);
    }

    /// Adds a rate limiter's snapshot.
    pub fn rate_limiter(&mut self, name: impl Into<Arc<str>>, m: &RateLimiterMetrics) {
        let name: Arc<str> = name.into();
        self.engine(F_RL_ALLOWED, &name);
        self.push(F_RL_ALLOWED, &name, NO_LABELS, m.allowed as f64);
        self.push(F_RL_DENIED, &name, NO_LABELS, m.denied as f64);
    }

    /// Adds a retry budget's snapshot.
    pub fn retry_budget(&mut self, name: impl Into<Arc<str>>, m: &RetryBudgetMetrics) {
        let name: Arc<str> = name.into();
        self.engine(F_BUDGET_RATIO, &name);
        self.push(F_BUDGET_RATIO, &name, NO_LABELS, m.remaining_ratio);
        self.push(F_BUDGET_EXHAUSTED, &name, NO_LABELS, m.exhausted as f64);
    }

    /// Adds a retrier's counts.
    pub fn retry(&mut self, name: impl Into<Arc<str>>, c: &RetryCounts) {
        let name: Arc<str> = name.into();
        self.engine(F_RETRY_CALLS, &name);
        for o in RetryOutcome::ALL {
            self.push(F_RETRY_CALLS, &name, o.labels(), c.calls(o) as f64);
        }
        self.push(F_RETRY_ATTEMPTS, &name, NO_LABELS, c.retries as f64);
    }

    /// Adds an adaptive concurrency limiter's snapshot.
    pub fn adaptive_limiter(&mut self, name: impl Into<Arc<str>>, m: &AdaptiveLimiterMetrics) {
        let name: Arc<str> = name.into();
        self.engine(F_AL_LIMIT, &name);
        self.push(F_AL_LIMIT, &name, NO_LABELS, f64::from(m.limit));
        self.push(F_AL_IN_FLIGHT, &name, NO_LABELS, f64::from(m.in_flight));
        self.push(F_AL_ADMITTED, &name, NO_LABELS, m.admitted as f64);
        self.push(F_AL_REJECTED, &name, NO_LABELS, m.rejected as f64);
    }

    /// Adds an adaptive throttler's snapshot.
    pub fn throttler(&mut self, name: impl Into<Arc<str>>, m: &ThrottlerMetrics) {
        let name: Arc<str> = name.into();
        self.engine(F_TH_REQUESTS, &name);
        self.push(F_TH_REQUESTS, &name, NO_LABELS, m.requests as f64);
        self.push(F_TH_ACCEPTS, &name, NO_LABELS, m.accepts as f64);
        self.push(F_TH_PROBABILITY, &name, NO_LABELS, m.rejection_probability);
        self.push(F_TH_THROTTLED, &name, NO_LABELS, m.throttled as f64);
    }

    /// Adds a fault injector's snapshot.
    pub fn fault_injector(&mut self, name: impl Into<Arc<str>>, m: &FaultMetrics) {
        let name: Arc<str> = name.into();
        self.engine(F_FAULT_ENABLED, &name);
        self.push(
            F_FAULT_ENABLED,
            &name,
            NO_LABELS,
            f64::from(u8::from(m.enabled)),
        );
        for (labels, n) in [
            (&[("kind", "error")], m.errors),
            (&[("kind", "result")], m.results),
            (&[("kind", "latency")], m.latencies),
        ] {
            self.push(F_FAULT_INJECTIONS, &name, labels, n as f64);
        }
    }

    /// Adds a hedging policy's snapshot.
    pub fn hedge(&mut self, name: impl Into<Arc<str>>, m: &HedgeMetrics) {
        let name: Arc<str> = name.into();
        self.engine(F_HEDGE_CALLS, &name);
        self.push(F_HEDGE_CALLS, &name, NO_LABELS, m.calls as f64);
        self.push(F_HEDGE_ATTEMPTS, &name, NO_LABELS, m.hedges as f64);
        self.push(F_HEDGE_REFUSED, &name, NO_LABELS, m.refused as f64);
        self.push(F_HEDGE_WINS, &name, NO_LABELS, m.wins as f64);
    }

    /// Adds every breaker of a registry, sorted by name.
    pub fn registry<C: crate::Clock + Clone>(&mut self, registry: &crate::Registry<C>) {
        let snapshot = registry.snapshot();
        // At most this many samples a breaker in each family: room for all
        // of them at once, not a copy of each family's samples per doubling.
        for (f, per_breaker) in BREAKER_SAMPLES {
            self.families[f]
                .samples
                .reserve(snapshot.len() * per_breaker);
        }
        for (name, m) in snapshot {
            self.breaker(name, &m);
        }
    }

    /// The families that have samples, in catalog order.
    pub fn finish(self) -> Vec<Family> {
        let merge = self.shared_names;
        self.families
            .into_iter()
            .filter(|f| !f.samples.is_empty())
            .map(|f| if merge { merged(f) } else { f })
            .collect()
    }
}

/// `f` with one sample per name and label set, in order of first
/// appearance: counters summed, the last gauge kept.
fn merged(mut f: Family) -> Family {
    let mut at: HashMap<(Arc<str>, &'static [Label]), usize> = HashMap::new();
    let mut out: Vec<Sample> = Vec::with_capacity(f.samples.len());
    for s in f.samples.drain(..) {
        match at.get(&(Arc::clone(&s.name), s.labels)) {
            Some(&i) => match f.kind {
                MetricKind::Counter => out[i].value += s.value,
                MetricKind::Gauge => out[i].value = s.value,
            },
            None => {
                at.insert((Arc::clone(&s.name), s.labels), out.len());
                out.push(s);
            }
        }
    }
    f.samples = out;
    f
}

#[cfg(test)]
mod tests;

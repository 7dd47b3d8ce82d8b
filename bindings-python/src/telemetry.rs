//! The process-wide view of every engine this module created, for metrics:
//! `_native.metric_families()` (the core's catalog), `_native.prometheus_text()`
//! (the same as scrape text) and `_native.snapshot()`.
//!
//! Each engine registers once, when it is constructed, as a weak reference:
//! the view never keeps an engine alive and nothing is done per call. A
//! dropped engine disappears from the next scrape. Entries of dropped
//! engines are swept at registration whenever the list has doubled since
//! the last sweep, so creating and dropping engines leaves memory flat
//! (a weak reference keeps its engine's allocation until swept).
//!
//! The list sits behind a mutex taken only at construction and at scrape
//! time, never while Python code runs.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, Weak};

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};

use seawall::telemetry::{
    write_text, Catalog, Family, MetricKind, RetryCounts, RetryOutcome,
    RetryStats as CoreRetryStats, TextFormat,
};
use seawall::{
    AdaptiveLimiter as CoreAdaptiveLimiter, AdaptiveLimiterMetrics,
    AdaptiveThrottler as CoreThrottler, Breaker as CoreBreaker, Bulkhead as CoreBulkhead,
    FaultInjector as CoreInjector, FaultMetrics, Hedge as CoreHedge, HedgeMetrics,
    KeyedBreaker as CoreKeyedBreaker, KeyedRateLimiter as CoreKeyedRateLimiter,
    RateLimiter as CoreRateLimiter, RateLimiterMetrics, RetryBudget as CoreRetryBudget,
    ThrottlerMetrics,
};
use seawall_bindings_support::DynClock;

use crate::fleet::{FleetInner, FleetLimiter};
use crate::handle::{metrics_dict, set_fields};

/// A weakly held engine and the name it reports under.
enum Entry {
    Breaker(Weak<CoreBreaker<DynClock>>),
    FleetBreaker(Weak<FleetInner>),
    KeyedBreaker(Weak<CoreKeyedBreaker<DynClock>>),
    KeyedRateLimiter(Arc<str>, Weak<CoreKeyedRateLimiter<[u8], DynClock>>),
    FleetRateLimiter(Weak<FleetLimiter>),
    Bulkhead(Arc<str>, Weak<CoreBulkhead<DynClock>>),
    AdaptiveLimiter(Arc<str>, Weak<CoreAdaptiveLimiter<DynClock>>),
    Throttler(Arc<str>, Weak<CoreThrottler<DynClock>>),
    FaultInjector(Arc<str>, Weak<CoreInjector>),
    Hedge(Arc<str>, Weak<CoreHedge<DynClock>>),
    RateLimiter(Arc<str>, Weak<CoreRateLimiter<DynClock>>),
    RetryBudget(Arc<str>, Weak<CoreRetryBudget<DynClock>>),
    Retry(Arc<str>, Weak<CoreRetryStats>),
}

impl Entry {
    fn alive(&self) -> bool {
        match self {
            Entry::Breaker(w) => w.strong_count() > 0,
            Entry::FleetBreaker(w) => w.strong_count() > 0,
            Entry::KeyedBreaker(w) => w.strong_count() > 0,
            Entry::KeyedRateLimiter(_, w) => w.strong_count() > 0,
            Entry::FleetRateLimiter(w) => w.strong_count() > 0,
            Entry::Bulkhead(_, w) => w.strong_count() > 0,
            Entry::AdaptiveLimiter(_, w) => w.strong_count() > 0,
            Entry::Throttler(_, w) => w.strong_count() > 0,
            Entry::FaultInjector(_, w) => w.strong_count() > 0,
            Entry::Hedge(_, w) => w.strong_count() > 0,
            Entry::RateLimiter(_, w) => w.strong_count() > 0,
            Entry::RetryBudget(_, w) => w.strong_count() > 0,
            Entry::Retry(_, w) => w.strong_count() > 0,
        }
    }
}

/// An engine held for the length of a scrape.
enum Live {
    Breaker(Arc<CoreBreaker<DynClock>>),
    FleetBreaker(Arc<FleetInner>),
    KeyedBreaker(Arc<CoreKeyedBreaker<DynClock>>),
    KeyedRateLimiter(Arc<str>, Arc<CoreKeyedRateLimiter<[u8], DynClock>>),
    FleetRateLimiter(Arc<FleetLimiter>),
    Bulkhead(Arc<str>, Arc<CoreBulkhead<DynClock>>),
    AdaptiveLimiter(Arc<str>, Arc<CoreAdaptiveLimiter<DynClock>>),
    Throttler(Arc<str>, Arc<CoreThrottler<DynClock>>),
    FaultInjector(Arc<str>, Arc<CoreInjector>),
    Hedge(Arc<str>, Arc<CoreHedge<DynClock>>),
    RateLimiter(Arc<str>, Arc<CoreRateLimiter<DynClock>>),
    RetryBudget(Arc<str>, Arc<CoreRetryBudget<DynClock>>),
    Retry(Arc<str>, Arc<CoreRetryStats>),
}

struct View {
    entries: Vec<Entry>,
    /// Entries left by the last sweep: the next sweep comes at twice this.
    swept: usize,
}

static VIEW: Mutex<View> = Mutex::new(View {
    entries: Vec::new(),
    swept: 0,
});

/// The smallest list worth sweeping.
const SWEEP_FLOOR: usize = 64;

fn view() -> std::sync::MutexGuard<'static, View> {
    // A panic while holding the lock leaves a list that is still valid.
    VIEW.lock().unwrap_or_else(|p| p.into_inner())
}

fn register(entry: Entry) {
    let mut v = view();
    v.entries.push(entry);
    if v.entries.len() >= 2 * v.swept.max(SWEEP_FLOOR) {
        v.entries.retain(Entry::alive);
        v.swept = v.entries.len();
    }
}

/// Registers a breaker (once per core breaker, not per handle).
pub(crate) fn breaker(b: &Arc<CoreBreaker<DynClock>>) {
    register(Entry::Breaker(Arc::downgrade(b)));
}

/// Registers a distributed breaker (once per handle: its fleet breaker is
/// built again in a forked child, and the view follows the handle).
pub(crate) fn fleet_breaker(b: &Arc<FleetInner>) {
    register(Entry::FleetBreaker(Arc::downgrade(b)));
}

/// Registers a keyed breaker family: each scrape lists the breakers of
/// its live keys, by their names.
pub(crate) fn keyed_breaker(k: &Arc<CoreKeyedBreaker<DynClock>>) {
    register(Entry::KeyedBreaker(Arc::downgrade(k)));
}

/// Registers a keyed rate limiter reporting as `name`.
pub(crate) fn keyed_rate_limiter(name: &str, l: &Arc<CoreKeyedRateLimiter<[u8], DynClock>>) {
    register(Entry::KeyedRateLimiter(name.into(), Arc::downgrade(l)));
}

/// Registers a fleet rate limiter (once per handle, as a distributed
/// breaker).
pub(crate) fn fleet_rate_limiter(l: &Arc<FleetLimiter>) {
    register(Entry::FleetRateLimiter(Arc::downgrade(l)));
}

/// Registers a bulkhead reporting as `name`.
pub(crate) fn bulkhead(name: &str, b: &Arc<CoreBulkhead<DynClock>>) {
    register(Entry::Bulkhead(name.into(), Arc::downgrade(b)));
}

/// Registers an adaptive limiter reporting as `name`.
pub(crate) fn adaptive_limiter(name: &str, l: &Arc<CoreAdaptiveLimiter<DynClock>>) {
    register(Entry::AdaptiveLimiter(name.into(), Arc::downgrade(l)));
}

/// An adaptive limiter's snapshot as `{"limit", "in_flight", "admitted",
/// "rejected"}`.
pub(crate) fn adaptive_limiter_dict<'py>(
    py: Python<'py>,
    m: &AdaptiveLimiterMetrics,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    set_fields!(d, m; limit, in_flight, admitted, rejected);
    Ok(d)
}

/// Registers an adaptive throttler reporting as `name`.
pub(crate) fn throttler(name: &str, t: &Arc<CoreThrottler<DynClock>>) {
    register(Entry::Throttler(name.into(), Arc::downgrade(t)));
}

/// A throttler's snapshot as `{"requests", "accepts", "throttled",
/// "rejection_probability"}`.
pub(crate) fn throttler_dict<'py>(
    py: Python<'py>,
    m: &ThrottlerMetrics,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    set_fields!(d, m; requests, accepts, throttled, rejection_probability);
    Ok(d)
}

/// Registers a fault injector reporting as `name`.
pub(crate) fn fault_injector(name: &str, f: &Arc<CoreInjector>) {
    register(Entry::FaultInjector(name.into(), Arc::downgrade(f)));
}

/// A fault injector's snapshot as `{"enabled", "errors", "results",
/// "latencies"}`.
pub(crate) fn fault_dict<'py>(py: Python<'py>, m: &FaultMetrics) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    set_fields!(d, m; enabled, errors, results, latencies);
    Ok(d)
}

/// Registers a hedging policy reporting as `name`.
pub(crate) fn hedge(name: &str, h: &Arc<CoreHedge<DynClock>>) {
    register(Entry::Hedge(name.into(), Arc::downgrade(h)));
}

/// A hedging policy's counts as `{"calls", "hedges", "refused", "wins"}`.
pub(crate) fn hedge_dict<'py>(py: Python<'py>, m: &HedgeMetrics) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    set_fields!(d, m; calls, hedges, refused, wins);
    Ok(d)
}

/// Registers a rate limiter reporting as `name`.
pub(crate) fn rate_limiter(name: &str, l: &Arc<CoreRateLimiter<DynClock>>) {
    register(Entry::RateLimiter(name.into(), Arc::downgrade(l)));
}

/// Registers a retry budget reporting as `name`.
pub(crate) fn retry_budget(name: &str, b: &Arc<CoreRetryBudget<DynClock>>) {
    register(Entry::RetryBudget(name.into(), Arc::downgrade(b)));
}

/// The engines alive now, each once (sweeping the dead ones), in order of
/// creation.
fn live() -> Vec<Live> {
    let mut v = view();
    v.entries.retain(Entry::alive);
    v.swept = v.entries.len();
    let mut seen = HashSet::new();
    v.entries
        .iter()
        .filter_map(|e| match e {
            Entry::Breaker(w) => w.upgrade().map(Live::Breaker),
            Entry::FleetBreaker(w) => w.upgrade().map(Live::FleetBreaker),
            Entry::KeyedBreaker(w) => w.upgrade().map(Live::KeyedBreaker),
            Entry::KeyedRateLimiter(n, w) => {
                w.upgrade().map(|l| Live::KeyedRateLimiter(n.clone(), l))
            }
            Entry::FleetRateLimiter(w) => w.upgrade().map(Live::FleetRateLimiter),
            Entry::Bulkhead(n, w) => w.upgrade().map(|b| Live::Bulkhead(n.clone(), b)),
            Entry::AdaptiveLimiter(n, w) => {
                w.upgrade().map(|l| Live::AdaptiveLimiter(n.clone(), l))
            }
            Entry::Throttler(n, w) => w.upgrade().map(|t| Live::Throttler(n.clone(), t)),
            Entry::FaultInjector(n, w) => w.upgrade().map(|f| Live::FaultInjector(n.clone(), f)),
            Entry::Hedge(n, w) => w.upgrade().map(|h| Live::Hedge(n.clone(), h)),
            Entry::RateLimiter(n, w) => w.upgrade().map(|l| Live::RateLimiter(n.clone(), l)),
            Entry::RetryBudget(n, w) => w.upgrade().map(|b| Live::RetryBudget(n.clone(), b)),
            Entry::Retry(n, w) => w.upgrade().map(|s| Live::Retry(n.clone(), s)),
        })
        .filter(|l| seen.insert(address(l)))
        .collect()
}

fn address(l: &Live) -> usize {
    match l {
        Live::Breaker(a) => Arc::as_ptr(a) as usize,
        Live::FleetBreaker(a) => Arc::as_ptr(a) as usize,
        Live::KeyedBreaker(a) => Arc::as_ptr(a) as usize,
        Live::KeyedRateLimiter(_, a) => Arc::as_ptr(a) as usize,
        Live::FleetRateLimiter(a) => Arc::as_ptr(a) as usize,
        Live::Bulkhead(_, a) => Arc::as_ptr(a) as usize,
        Live::AdaptiveLimiter(_, a) => Arc::as_ptr(a) as usize,
        Live::Throttler(_, a) => Arc::as_ptr(a) as usize,
        Live::FaultInjector(_, a) => Arc::as_ptr(a) as usize,
        Live::Hedge(_, a) => Arc::as_ptr(a) as usize,
        Live::RateLimiter(_, a) => Arc::as_ptr(a) as usize,
        Live::RetryBudget(_, a) => Arc::as_ptr(a) as usize,
        Live::Retry(_, a) => Arc::as_ptr(a) as usize,
    }
}

/// `[(name, help, kind)]`: every family the catalog may export, `kind`
/// being `"counter"` or `"gauge"`.
#[pyfunction]
pub(crate) fn metric_catalog() -> Vec<(&'static str, &'static str, &'static str)> {
    seawall::telemetry::families()
        .iter()
        .map(|&(name, help, kind)| (name, help, kind_name(kind)))
        .collect()
}

fn kind_name(kind: MetricKind) -> &'static str {
    match kind {
        MetricKind::Counter => "counter",
        MetricKind::Gauge => "gauge",
    }
}

/// The catalog's families over `engines`.
fn families(engines: &[Live]) -> Vec<Family> {
    let mut c = Catalog::new();
    for e in engines {
        match e {
            Live::Breaker(b) => c.breaker(b.name(), &b.metrics()),
            Live::FleetBreaker(f) => f.breaker().export(&mut c),
            Live::KeyedBreaker(k) => {
                for (n, m) in k.snapshot() {
                    c.breaker(n, &m);
                }
            }
            Live::KeyedRateLimiter(n, l) => c.rate_limiter(Arc::clone(n), &l.metrics()),
            Live::FleetRateLimiter(l) => l.get().export(&mut c),
            Live::Bulkhead(n, b) => c.bulkhead(Arc::clone(n), &b.metrics()),
            Live::AdaptiveLimiter(n, l) => c.adaptive_limiter(Arc::clone(n), &l.metrics()),
            Live::Throttler(n, t) => c.throttler(Arc::clone(n), &t.metrics()),
            Live::FaultInjector(n, f) => c.fault_injector(Arc::clone(n), &f.metrics()),
            Live::Hedge(n, h) => c.hedge(Arc::clone(n), &h.metrics()),
            Live::RateLimiter(n, l) => c.rate_limiter(Arc::clone(n), &l.metrics()),
            Live::RetryBudget(n, b) => c.retry_budget(Arc::clone(n), &b.metrics()),
            Live::Retry(n, s) => c.retry(Arc::clone(n), &s.counts()),
        }
    }
    c.finish()
}

/// `[(name, help, kind, label_names, samples)]`: the catalog's families
/// over every live engine, `kind` being `"counter"` or `"gauge"`,
/// `label_names` a tuple starting with `"name"`, each sample a
/// `(label_values, value)` pair whose tuple of values follows
/// `label_names`. Names are Prometheus-style without `_total`.
#[pyfunction]
pub(crate) fn metric_families(py: Python<'_>) -> PyResult<Bound<'_, PyList>> {
    let engines = live();
    let families = py.detach(|| families(&engines));
    let out = PyList::empty(py);
    // One Python string per engine name and label value, however many
    // samples share it.
    let mut strings: HashMap<(*const u8, usize), Bound<'_, PyString>> = HashMap::new();
    let mut string = |s: &str| {
        strings
            .entry((s.as_ptr(), s.len()))
            .or_insert_with(|| PyString::new(py, s))
            .clone()
    };
    for f in families {
        let names = f.samples.first().map_or(&[][..], |s| s.labels);
        let label_names: Vec<&str> = std::iter::once("name")
            .chain(names.iter().map(|l| l.0))
            .collect();
        let samples = PyList::empty(py);
        for s in &f.samples {
            let values: Vec<Bound<'_, PyString>> = std::iter::once(string(&s.name))
                .chain(s.labels.iter().map(|l| string(l.1)))
                .collect();
            let values = PyTuple::new(py, values)?;
            samples.append((values, s.value))?;
        }
        let label_names = PyTuple::new(py, label_names)?;
        out.append((f.name, f.help, kind_name(f.kind), label_names, samples))?;
    }
    Ok(out)
}

/// The scrape text of every live engine: the Prometheus text format 0.0.4,
/// or OpenMetrics 1.0 (ending with `# EOF`) with `openmetrics=True`.
#[pyfunction]
#[pyo3(signature = (openmetrics = false))]
pub(crate) fn prometheus_text(py: Python<'_>, openmetrics: bool) -> Bound<'_, PyBytes> {
    let engines = live();
    let format = if openmetrics {
        TextFormat::OpenMetrics
    } else {
        TextFormat::Prometheus
    };
    // A buffer kept from scrape to scrape: a megabyte of fresh memory each
    // time would cost its page faults each time. A scrape takes it (one
    // running meanwhile starts from an empty one) and puts it back.
    static BUFFER: Mutex<String> = Mutex::new(String::new());
    let buffer = || BUFFER.lock().unwrap_or_else(|p| p.into_inner());
    let mut out = std::mem::take(&mut *buffer());
    out = py.detach(move || {
        out.clear();
        write_text(&families(&engines), format, &mut out);
        out
    });
    let bytes = PyBytes::new(py, out.as_bytes());
    // Never kept larger than twice what the last scrape needed.
    out.shrink_to(2 * out.len());
    *buffer() = out;
    bytes
}

/// `{kind: {name: snapshot}}` for every live engine: kinds `breakers`
/// (the `metrics()` dict), `bulkheads`, `rate_limiters`, `retry_budgets`,
/// `retriers`, `adaptive_limiters`, `throttlers`, `fault_injectors`,
/// `hedges`. Of engines of one kind with one name, the last created wins.
#[pyfunction]
pub(crate) fn snapshot(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let kinds = [
        "breakers",
        "bulkheads",
        "rate_limiters",
        "retry_budgets",
        "retriers",
        "adaptive_limiters",
        "throttlers",
        "fault_injectors",
        "hedges",
    ];
    let out = PyDict::new(py);
    let by_kind: Vec<Bound<'_, PyDict>> = kinds.iter().map(|_| PyDict::new(py)).collect();
    for e in live() {
        match e {
            Live::Breaker(b) => by_kind[0].set_item(b.name(), metrics_dict(py, &b.metrics())?)?,
            Live::FleetBreaker(f) => {
                let b = f.breaker();
                by_kind[0].set_item(b.name(), metrics_dict(py, &b.metrics())?)?;
            }
            Live::KeyedBreaker(k) => {
                for (n, m) in k.snapshot() {
                    by_kind[0].set_item(&*n, metrics_dict(py, &m)?)?;
                }
            }
            Live::Bulkhead(n, b) => {
                let m = b.metrics();
                let d = PyDict::new(py);
                d.set_item("in_use", m.in_use)?;
                d.set_item("queued", m.queued)?;
                d.set_item("capacity", m.capacity)?;
                d.set_item("rejected", m.rejected)?;
                by_kind[1].set_item(&*n, d)?;
            }
            Live::RateLimiter(n, l) => by_kind[2].set_item(&*n, limiter_dict(py, &l.metrics())?)?,
            Live::KeyedRateLimiter(n, l) => {
                by_kind[2].set_item(&*n, limiter_dict(py, &l.metrics())?)?
            }
            Live::FleetRateLimiter(l) => {
                let l = l.get();
                by_kind[2].set_item(l.name(), limiter_dict(py, &l.metrics())?)?
            }
            Live::RetryBudget(n, b) => {
                let m = b.metrics();
                let d = PyDict::new(py);
                d.set_item("remaining_ratio", m.remaining_ratio)?;
                d.set_item("exhausted", m.exhausted)?;
                by_kind[3].set_item(&*n, d)?;
            }
            Live::Retry(n, s) => by_kind[4].set_item(&*n, retry_counts_dict(py, &s.counts())?)?,
            Live::AdaptiveLimiter(n, l) => {
                by_kind[5].set_item(&*n, adaptive_limiter_dict(py, &l.metrics())?)?
            }
            Live::Throttler(n, t) => by_kind[6].set_item(&*n, throttler_dict(py, &t.metrics())?)?,
            Live::FaultInjector(n, f) => by_kind[7].set_item(&*n, fault_dict(py, &f.metrics())?)?,
            Live::Hedge(n, h) => by_kind[8].set_item(&*n, hedge_dict(py, &h.metrics())?)?,
        }
    }
    for (k, d) in kinds.iter().zip(by_kind) {
        out.set_item(k, d)?;
    }
    Ok(out)
}

/// A rate limiter's counts as a dict: `allowed`, `denied`.
fn limiter_dict<'py>(py: Python<'py>, m: &RateLimiterMetrics) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("allowed", m.allowed)?;
    d.set_item("denied", m.denied)?;
    Ok(d)
}

/// A retrier's counts as a dict: calls by outcome, and `retries`.
fn retry_counts_dict<'py>(py: Python<'py>, c: &RetryCounts) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for o in RetryOutcome::ALL {
        d.set_item(o.label(), c.calls(o))?;
    }
    d.set_item("retries", c.retries)?;
    Ok(d)
}

/// The counts of one retrier (`seawall.Retrier`): how its calls ended and
/// their retries, recorded once per call when it ends.
#[pyclass(frozen, module = "seawall._native")]
pub struct RetryStats(Arc<CoreRetryStats>);

#[pymethods]
impl RetryStats {
    /// Zeroed counts, reported under `name`.
    #[new]
    fn new(name: &str) -> Self {
        let s = Arc::new(CoreRetryStats::new());
        register(Entry::Retry(name.into(), Arc::downgrade(&s)));
        RetryStats(s)
    }

    /// Counts a call that succeeded after `attempts` attempts.
    fn succeeded(&self, attempts: u32) {
        self.0.record(RetryOutcome::succeeded(attempts), attempts);
    }

    /// `{outcome: calls, ..., "retries": attempts beyond the first}`, as
    /// `seawall.snapshot()["retriers"]` shows them.
    fn counts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        retry_counts_dict(py, &self.0.counts())
    }

    /// Counts a call that stopped after `attempts` attempts;
    /// `not_retryable`: at an error not to retry.
    fn stopped(&self, attempts: u32, not_retryable: bool) {
        let o = if not_retryable {
            RetryOutcome::NotRetryable
        } else {
            RetryOutcome::GaveUp
        };
        self.0.record(o, attempts);
    }
}

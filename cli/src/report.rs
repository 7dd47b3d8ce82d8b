//! What a run found: the counts, each unhealthy episode's detection and
//! recovery, every transition, and a per-second timeline; as a table for
//! people and as JSON for tools.

use std::fmt::Write as _;

use serde::Serialize;

use seawall::{State, Transition};

use crate::engine::SECOND;
use crate::source::Episode;

/// Totals over the run.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Counts {
    /// Calls made (first attempts).
    pub calls: u64,
    /// Attempts, retries included.
    pub attempts: u64,
    /// Attempts that were retries.
    pub retries: u64,
    /// Attempts the breaker admitted (they reached the dependency).
    pub admitted: u64,
    /// Admitted attempts that succeeded.
    pub successes: u64,
    /// Admitted attempts that failed.
    pub failures: u64,
    /// Attempts the breaker refused.
    pub rejected: u64,
    /// Refused while the dependency was healthy (for a trace: refused calls
    /// whose recorded answer was a success).
    pub rejected_while_healthy: u64,
    /// Refused while the dependency was unhealthy.
    pub rejected_while_degraded: u64,
    /// Admitted while the dependency was unhealthy: the load an outage got.
    pub reached_while_degraded: u64,
    /// Attempts admitted as HALF_OPEN trials.
    pub trial_calls: u64,
    /// Attempts the rate limiter refused.
    pub rate_limited: u64,
    /// Attempts the bulkhead refused (every slot taken).
    pub bulkhead_full: u64,
    /// Attempts the adaptive throttler shed (never sent).
    pub throttled: u64,
    /// Attempts the adaptive limiter refused (its limit reached).
    pub limit_reached: u64,
    /// Retries the retry budget refused.
    pub budget_exhausted: u64,
    /// Calls that stopped retrying for another reason (attempts or delay
    /// used up).
    pub gave_up: u64,
}

/// One simulated second (the fields of [`Counts`], in that second).
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct Second {
    pub calls: u32,
    pub attempts: u32,
    pub retries: u32,
    pub admitted: u32,
    /// Answers that were failures (recorded this second).
    pub failures: u32,
    /// Answers that were successes (recorded this second).
    pub successes: u32,
    pub rejected: u32,
    pub rejected_while_degraded: u32,
    pub reached_while_degraded: u32,
    pub trials: u32,
    pub rate_limited: u32,
    pub bulkhead_full: u32,
    pub throttled: u32,
    pub limit_reached: u32,
    pub budget_exhausted: u32,
    pub gave_up: u32,
    /// The answers' latencies summed, in nanoseconds.
    pub latency_sum: u64,
    /// Whether the dependency was unhealthy at some attempt this second.
    pub degraded: bool,
}

/// A breaker's transition.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TransitionRecord {
    /// When, in seconds.
    pub at: f64,
    /// Which breaker: 0 when one serves all; else, with `clients` calling
    /// clients, client `breaker % clients`'s (for instance
    /// `breaker / clients` when each instance has its own).
    pub breaker: u32,
    /// The state it left.
    pub from: &'static str,
    /// The state it entered.
    pub to: &'static str,
    #[serde(skip)]
    at_nanos: u64,
    #[serde(skip)]
    to_state: State,
}

impl TransitionRecord {
    pub(crate) fn new(breaker: u32, t: &Transition) -> Self {
        Self {
            at: t.at_nanos as f64 / SECOND as f64,
            breaker,
            from: t.from.as_str(),
            to: t.to.as_str(),
            at_nanos: t.at_nanos,
            to_state: t.to,
        }
    }

    /// The state entered.
    pub fn state(&self) -> State {
        self.to_state
    }

    /// When, in nanoseconds.
    pub fn at_nanos(&self) -> u64 {
        self.at_nanos
    }
}

/// How the breaker met one unhealthy episode.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct EpisodeResult {
    /// Its start, in seconds.
    pub start: f64,
    /// Its end, in seconds.
    pub end: f64,
    /// The instance it struck (`null`: all).
    pub instance: Option<u32>,
    /// Seconds from its start until a breaker serving it was OPEN (0 if one
    /// already was); `null` if none opened during it.
    pub detected_after: Option<f64>,
    /// Seconds from its end until that breaker was CLOSED again (0 if it
    /// closed before the end); `null` if it had not opened, or never closed
    /// again within the run.
    pub recovered_after: Option<f64>,
}

/// 99th percentiles of latency, in milliseconds.
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq)]
pub struct LatencyP99 {
    /// Attempts made while the dependency was healthy.
    pub healthy: Option<f64>,
    /// Attempts made while it was unhealthy.
    pub degraded: Option<f64>,
}

/// Latencies counted in buckets 1/32 of a power of two wide (exact below
/// 64 ns), for percentiles over runs of any length in fixed memory.
#[derive(Clone, Debug)]
pub(crate) struct Histogram {
    counts: Vec<u64>,
    total: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            counts: vec![0; Self::BUCKETS],
            total: 0,
        }
    }
}

impl Histogram {
    /// 64 exact buckets, then 32 for each power of two from 2^6 to 2^63.
    const BUCKETS: usize = 64 + 58 * 32;

    fn bucket(v: u64) -> usize {
        if v < 64 {
            return v as usize;
        }
        let shift = 63 - v.leading_zeros() - 5;
        64 + (shift as usize - 1) * 32 + ((v >> shift) as usize - 32)
    }

    /// The largest value of bucket `i`.
    fn top(i: usize) -> u64 {
        if i < 64 {
            return i as u64;
        }
        let (shift, m) = ((i - 64) / 32 + 1, (i - 64) % 32 + 32);
        ((m as u64 + 1) << shift) - 1
    }

    pub(crate) fn record(&mut self, v: u64) {
        self.counts[Self::bucket(v)] += 1;
        self.total += 1;
    }

    /// The `q` quantile (the top of its bucket), in milliseconds.
    pub(crate) fn quantile_ms(&self, q: f64) -> Option<f64> {
        if self.total == 0 {
            return None;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        let i = self.counts.iter().position(|&c| {
            seen += c;
            seen >= rank
        })?;
        Some(Self::top(i) as f64 / 1e6)
    }

    /// The median, 99th percentile and largest value, or `None` without
    /// a value.
    pub(crate) fn summary(&self) -> Option<LatencySummary> {
        Some(LatencySummary {
            calls: self.total,
            p50_ms: self.quantile_ms(0.5)?,
            p99_ms: self.quantile_ms(0.99)?,
            max_ms: self.quantile_ms(1.0)?,
        })
    }
}

/// A run's results.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// What was simulated: a scenario's name or a trace's path.
    pub source: String,
    /// The settings given (a file's and `--set`'s; unset fields take the
    /// engines' and the scenario's defaults), as `key = value` lines with
    /// dotted keys.
    pub settings: Vec<String>,
    /// The seed of every draw.
    pub seed: u64,
    /// The simulated span, in seconds.
    pub simulated_seconds: f64,
    /// Totals.
    pub counts: Counts,
    /// Transitions to OPEN.
    pub opens: u64,
    /// The mean of the episodes' detection times, in seconds.
    pub detect_mean: Option<f64>,
    /// The longest detection time, in seconds.
    pub detect_max: Option<f64>,
    /// Episodes during which no breaker opened.
    pub undetected: u64,
    /// The mean of the recovery times, in seconds.
    pub recover_mean: Option<f64>,
    /// The longest recovery time, in seconds.
    pub recover_max: Option<f64>,
    /// The 99th percentile of the admitted attempts' latencies, in
    /// milliseconds (to within 1/32): of those made while the dependency
    /// was healthy, and while it was unhealthy (`null`: none).
    pub latency_p99_ms: LatencyP99,
    /// Each unhealthy episode.
    pub episodes: Vec<EpisodeResult>,
    /// Every transition, in order.
    pub transitions: Vec<TransitionRecord>,
    /// Per second; in the JSON only when asked for (`--timeline`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeline: Option<Vec<Second>>,
    /// The timeline, always kept for the plot.
    #[serde(skip)]
    pub seconds: Vec<Second>,
    /// The failure rate that opens the breaker, for the plot.
    #[serde(skip)]
    pub failure_rate_threshold: Option<f64>,
    /// The latencies of the calls that succeeded, from arrival to answer
    /// (retries and hedges included); only when answers take time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call_latency: Option<LatencySummary>,
    /// What hedging did, with a `[hedge]` section.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hedging: Option<HedgeSummary>,
}

/// Call latencies (each the upper edge of its bucket, within 1/32).
#[derive(Clone, Copy, Debug, Serialize, PartialEq)]
pub struct LatencySummary {
    /// Calls that succeeded.
    pub calls: u64,
    /// The median, in milliseconds.
    pub p50_ms: f64,
    /// The 99th percentile, in milliseconds.
    pub p99_ms: f64,
    /// The largest, in milliseconds.
    pub max_ms: f64,
}

/// What hedging did over the run.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
pub struct HedgeSummary {
    /// Extra attempts started (each granted by the budget); their share of
    /// the calls is the load hedging added.
    pub hedges: u64,
    /// Extra attempts the budget refused.
    pub refused: u64,
    /// Calls an extra attempt won.
    pub wins: u64,
}

impl Counts {
    /// The totals of a timeline.
    pub fn of(seconds: &[Second]) -> Self {
        let mut c = Counts::default();
        for s in seconds {
            c.calls += u64::from(s.calls);
            c.attempts += u64::from(s.attempts);
            c.retries += u64::from(s.retries);
            c.admitted += u64::from(s.admitted);
            c.successes += u64::from(s.successes);
            c.failures += u64::from(s.failures);
            c.rejected += u64::from(s.rejected);
            c.rejected_while_degraded += u64::from(s.rejected_while_degraded);
            c.reached_while_degraded += u64::from(s.reached_while_degraded);
            c.trial_calls += u64::from(s.trials);
            c.rate_limited += u64::from(s.rate_limited);
            c.bulkhead_full += u64::from(s.bulkhead_full);
            c.throttled += u64::from(s.throttled);
            c.limit_reached += u64::from(s.limit_reached);
            c.budget_exhausted += u64::from(s.budget_exhausted);
            c.gave_up += u64::from(s.gave_up);
        }
        c.rejected_while_healthy = c.rejected - c.rejected_while_degraded;
        c
    }
}

impl Report {
    pub(crate) fn new(
        seconds: Vec<Second>,
        transitions: Vec<TransitionRecord>,
        episodes: Vec<Episode>,
        end: u64,
        shared: bool,
        clients: u32,
        latency: [&Histogram; 2],
    ) -> Self {
        let results: Vec<EpisodeResult> = episodes
            .iter()
            .map(|e| judge(e, &transitions, shared, clients))
            .collect();
        let detected: Vec<f64> = results.iter().filter_map(|e| e.detected_after).collect();
        let recovered: Vec<f64> = results.iter().filter_map(|e| e.recovered_after).collect();
        Self {
            source: String::new(),
            settings: Vec::new(),
            seed: 0,
            simulated_seconds: end as f64 / SECOND as f64,
            counts: Counts::of(&seconds),
            opens: transitions
                .iter()
                .filter(|t| t.state() == State::Open)
                .count() as u64,
            detect_mean: mean(&detected),
            detect_max: detected.iter().copied().reduce(f64::max),
            undetected: (results.len() - detected.len()) as u64,
            recover_mean: mean(&recovered),
            recover_max: recovered.iter().copied().reduce(f64::max),
            latency_p99_ms: LatencyP99 {
                healthy: latency[0].quantile_ms(0.99),
                degraded: latency[1].quantile_ms(0.99),
            },
            episodes: results,
            transitions,
            timeline: None,
            seconds,
            failure_rate_threshold: None,
            call_latency: None,
            hedging: None,
        }
    }

    /// The JSON text (deterministic: the same run gives the same bytes).
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("plain data serializes");
        s.push('\n');
        s
    }

    /// The table people read.
    pub fn table(&self) -> String {
        let c = &self.counts;
        let secs = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), duration);
        let mut rows: Vec<(&str, String, String)> = vec![
            (
                "time to detect",
                secs(self.detect_mean),
                format!(
                    "mean over {} unhealthy episode(s), max {}; {} undetected",
                    self.episodes.len(),
                    secs(self.detect_max),
                    self.undetected
                ),
            ),
            (
                "time to recover",
                secs(self.recover_mean),
                format!(
                    "from the dependency's recovery to CLOSED again, max {}",
                    secs(self.recover_max)
                ),
            ),
            (
                "reached the failing dependency",
                c.reached_while_degraded.to_string(),
                "attempts admitted while it was unhealthy".into(),
            ),
            (
                "rejected while healthy",
                c.rejected_while_healthy.to_string(),
                "attempts refused that would have been served".into(),
            ),
            (
                "rejected while unhealthy",
                c.rejected_while_degraded.to_string(),
                "attempts the breaker spared the dependency".into(),
            ),
            (
                "trial calls",
                c.trial_calls.to_string(),
                format!("HALF_OPEN attempts; {} opening(s)", self.opens),
            ),
            (
                "calls / attempts",
                format!("{} / {}", c.calls, c.attempts),
                format!(
                    "{} admitted: {} succeeded, {} failed",
                    c.admitted, c.successes, c.failures
                ),
            ),
        ];
        if c.retries + c.budget_exhausted + c.gave_up > 0 {
            rows.push((
                "retries",
                c.retries.to_string(),
                format!(
                    "{} refused by the retry budget, {} calls gave up",
                    c.budget_exhausted, c.gave_up
                ),
            ));
        }
        if c.rate_limited + c.bulkhead_full + c.limit_reached > 0 {
            rows.push((
                "limited",
                (c.rate_limited + c.bulkhead_full + c.limit_reached).to_string(),
                format!(
                    "{} by the rate limiter, {} by the bulkhead, {} by the adaptive limiter",
                    c.rate_limited, c.bulkhead_full, c.limit_reached
                ),
            ));
        }
        if let Some(l) = self.call_latency {
            rows.push((
                "call latency p99",
                format!("{:.1} ms", l.p99_ms),
                format!(
                    "median {:.1} ms, max {:.1} ms, over {} successful calls",
                    l.p50_ms, l.max_ms, l.calls
                ),
            ));
        }
        if let Some(h) = self.hedging {
            rows.push((
                "hedges",
                h.hedges.to_string(),
                format!(
                    "{:.1}% of the calls; {} refused by the budget, {} won",
                    100.0 * h.hedges as f64 / c.calls.max(1) as f64,
                    h.refused,
                    h.wins
                ),
            ));
        }
        if c.throttled > 0 {
            rows.push((
                "throttled",
                c.throttled.to_string(),
                "shed by the adaptive throttler, never sent".to_owned(),
            ));
        }
        let p99 = self.latency_p99_ms;
        if let (Some(healthy), Some(degraded)) = (p99.healthy, p99.degraded) {
            if healthy > 0.0 || degraded > 0.0 {
                rows.push((
                    "latency p99",
                    format!("{healthy:.1} ms"),
                    format!("while healthy; {degraded:.1} ms while unhealthy"),
                ));
            }
        }
        let mut out = format!(
            "{}: {:.0} s simulated, {} calls, seed {}\n",
            self.source, self.simulated_seconds, c.calls, self.seed
        );
        if self.settings.is_empty() {
            out += "settings: the defaults\n";
        } else {
            let _ = writeln!(out, "settings: {}", self.settings.join(", "));
        }
        let spans: Vec<String> = self
            .episodes
            .iter()
            .take(4)
            .map(|e| {
                let who = e
                    .instance
                    .map_or(String::new(), |i| format!(" (instance {i})"));
                format!("{} to {}{who}", duration(e.start), duration(e.end))
            })
            .collect();
        let more = if self.episodes.len() > 4 { ", ..." } else { "" };
        let _ = writeln!(
            out,
            "unhealthy: {}{more}",
            if spans.is_empty() {
                "never".to_owned()
            } else {
                spans.join(", ")
            }
        );
        out.push('\n');
        let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
        let value_width = rows.iter().map(|r| r.1.chars().count()).max().unwrap_or(0);
        for (name, value, note) in rows {
            let _ = writeln!(out, "  {name:<width$}  {value:>value_width$}  {note}");
        }
        out
    }
}

/// Seconds in the unit that shows them best: "2.500 s", "40.000 ms",
/// "3.000 µs".
pub fn duration(secs: f64) -> String {
    if secs == 0.0 || secs >= 1.0 {
        format!("{secs:.3} s")
    } else if secs >= 1e-3 {
        format!("{:.3} ms", secs * 1e3)
    } else {
        format!("{:.3} µs", secs * 1e6)
    }
}

fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// When the breakers serving `e` opened during it and closed after it.
/// `shared`: each client has one breaker for every instance; else breaker
/// `b` is client `b % clients`'s for instance `b / clients`.
fn judge(
    e: &Episode,
    transitions: &[TransitionRecord],
    shared: bool,
    clients: u32,
) -> EpisodeResult {
    let serves =
        |t: &TransitionRecord| shared || e.instance.is_none_or(|i| t.breaker / clients == i);
    // The state of the breakers serving `e` at its start: the last
    // transition of each before it.
    let mut open_at_start = false;
    let mut last: std::collections::HashMap<u32, State> = Default::default();
    for t in transitions
        .iter()
        .filter(|t| serves(t) && t.at_nanos() < e.start)
    {
        last.insert(t.breaker, t.state());
    }
    for s in last.values() {
        open_at_start |= !matches!(s, State::Closed | State::ForcedClosed);
    }
    let opened = if open_at_start {
        Some(e.start)
    } else {
        transitions
            .iter()
            .filter(|t| serves(t) && (e.start..e.end).contains(&t.at_nanos()))
            .find(|t| t.state() == State::Open)
            .map(TransitionRecord::at_nanos)
    };
    let secs = |ns: u64| ns as f64 / SECOND as f64;
    let recovered = opened.and_then(|_| {
        // The last serving breaker to close again, after the episode's
        // start; a close before the end counts as 0.
        let mut open: std::collections::HashMap<u32, bool> = Default::default();
        for (b, s) in &last {
            open.insert(*b, !matches!(s, State::Closed | State::ForcedClosed));
        }
        let mut closed_at = None;
        for t in transitions
            .iter()
            .filter(|t| serves(t) && t.at_nanos() >= e.start)
        {
            if t.at_nanos() >= e.end && closed_at.is_some() {
                break;
            }
            let is_open = !matches!(t.state(), State::Closed | State::ForcedClosed);
            open.insert(t.breaker, is_open);
            if !is_open {
                if open.values().all(|o| !o) {
                    closed_at = Some(t.at_nanos());
                    if t.at_nanos() >= e.end {
                        break;
                    }
                }
            } else {
                closed_at = None;
            }
        }
        closed_at.map(|c| c.saturating_sub(e.end))
    });
    EpisodeResult {
        start: secs(e.start),
        end: secs(e.end),
        instance: e.instance,
        detected_after: opened.map(|o| secs(o - e.start)),
        recovered_after: recovered.map(secs),
    }
}

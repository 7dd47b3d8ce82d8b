//! The built-in scenarios: a dependency's health over time and the traffic
//! sent to it, each with parameters (the `[scenario]` section, or
//! `--set scenario.FIELD=VALUE`). Times are in seconds, latencies in
//! milliseconds, rates in calls per second.
//!
//! | name | what happens |
//! | --- | --- |
//! | `outage` | the dependency fails every call from `start` to `end` |
//! | `flapping` | from `start` to `end` it is down `down` seconds of every `period` |
//! | `brownout` | its failure rate rises from 0 to `peak_failure` halfway through `start..end`, then falls back |
//! | `latency-spike` | from `start` to `end` its calls take `spike_latency_ms` (and fail with `failure`); with `servers`, each instance serves at most that many calls at once and the rest wait in its queue (first come, first served), so a spike that leaves it short of capacity makes calls queue |
//! | `partial` | one instance (`sick`) of `instances` fails from `start` to `end`; calls go round-robin |
//! | `diurnal` | traffic follows a day's curve from `low` to `high` calls/s over `period`, with an outage from `start` to `end` |
//! | `long-tail` | healthy throughout, but each attempt takes `tail_latency_ms` instead of `latency_ms` with probability `tail` (the slow calls hedging is for) |
//! | `overload` | from `start` to `end` the dependency serves at most `capacity` calls in each second and refuses the rest at once |

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use serde::{Deserialize, Serialize};

use seawall::{Random, SeededRandom};

use crate::engine::SECOND;
use crate::source::{Answer, Arrival, Episode, Source};
use crate::Error;

/// The `[scenario]` section. Unset fields take the scenario's defaults; a
/// field the scenario does not read is an error that names it.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
#[allow(missing_docs)]
pub struct ScenarioFields {
    pub name: Option<String>,
    pub duration: Option<f64>,
    pub rate: Option<f64>,
    /// `"uniform"` (evenly spaced, the default) or `"poisson"`.
    pub arrivals: Option<String>,
    pub latency_ms: Option<f64>,
    /// Latencies are drawn evenly within `latency_ms * (1 ± latency_spread)`.
    pub latency_spread: Option<f64>,
    /// The healthy dependency's failure probability (default 0).
    pub healthy_failure: Option<f64>,
    pub start: Option<f64>,
    pub end: Option<f64>,
    /// The failure probability while unhealthy.
    pub failure: Option<f64>,
    pub period: Option<f64>,
    pub down: Option<f64>,
    pub peak_failure: Option<f64>,
    pub spike_latency_ms: Option<f64>,
    /// `latency-spike`: the calls each instance serves at once (unset: no
    /// bound); the others wait for one of them to finish.
    pub servers: Option<u32>,
    pub instances: Option<u32>,
    /// The calling fleet's processes, each with its own breakers; calls
    /// are spread evenly over them.
    pub clients: Option<u32>,
    pub sick: Option<u32>,
    pub low: Option<f64>,
    pub high: Option<f64>,
    /// `long-tail`: the probability of an attempt being slow.
    pub tail: Option<f64>,
    /// `long-tail`: a slow attempt's latency.
    pub tail_latency_ms: Option<f64>,
    /// `overload`: the calls served per second; more are refused.
    pub capacity: Option<u32>,
}

/// The scenarios' names, in the order `seawall simulate --help` lists them.
pub const NAMES: [&str; 8] = [
    "outage",
    "flapping",
    "brownout",
    "latency-spike",
    "partial",
    "diurnal",
    "long-tail",
    "overload",
];

/// How a failure probability moves through an unhealthy span.
#[derive(Clone, Copy, Debug)]
enum Curve {
    Flat(f64),
    /// 0 at the ends, `peak` halfway.
    Triangle(f64),
}

/// An unhealthy span.
#[derive(Clone, Copy, Debug)]
struct Phase {
    episode: Episode,
    failure: Curve,
    latency: u64,
    /// `overload`: the calls served per second, the rest refused.
    capacity: Option<u32>,
}

#[derive(Clone, Copy, Debug)]
enum Traffic {
    Constant(f64),
    /// Lowest at the start, highest halfway through each period.
    Diurnal {
        low: f64,
        high: f64,
        period: f64,
    },
}

/// A built-in scenario, ready to run.
#[derive(Clone, Debug)]
pub struct Scenario {
    name: &'static str,
    duration: u64,
    instances: u32,
    clients: u32,
    traffic: Traffic,
    poisson: bool,
    healthy_failure: f64,
    healthy_latency: u64,
    spread: f64,
    phases: Vec<Phase>,
    /// `long-tail`: the probability of a slow attempt and its latency.
    tail: Option<(f64, u64)>,
    /// The next arrival's time, in nanoseconds, as a real number.
    next: f64,
    /// The first phase that has not ended by the last time asked.
    cursor: usize,
    /// The phase in force at the last time asked, and when that changes.
    active: Option<Phase>,
    boundary: u64,
    /// The gap between calls in whole nanoseconds, when they are evenly
    /// spaced at a constant rate that makes it whole; then `next_ns` is the
    /// next call's time.
    step: Option<u64>,
    next_ns: u64,
    /// The instance and the client of the next call.
    turn: (u32, u32),
    /// `overload`: the second being served and the calls served in it.
    served: (u64, u32),
    /// The mean gap between calls, in nanoseconds, until `gap_until`.
    gap: f64,
    gap_until: f64,
    /// With `servers`: per instance, when each of its servers is free.
    servers: Vec<BinaryHeap<Reverse<u64>>>,
}

/// The most pairs of a client and an instance (each may have a breaker).
const MAX_PAIRS: u64 = 100_000;

/// The fields every scenario reads.
const COMMON: [&str; 9] = [
    "name",
    "duration",
    "rate",
    "arrivals",
    "latency_ms",
    "latency_spread",
    "healthy_failure",
    "instances",
    "clients",
];

impl Scenario {
    /// The scenario `fields.name` (default `outage`) with its parameters.
    pub fn new(fields: &ScenarioFields) -> Result<Self, Error> {
        let name = fields.name.as_deref().unwrap_or("outage");
        let name = NAMES.into_iter().find(|n| *n == name).ok_or_else(|| {
            Error::Input(format!(
                "unknown scenario {name:?}: the scenarios are {}",
                NAMES.join(", ")
            ))
        })?;
        let own: &[&str] = match name {
            "outage" => &["start", "end", "failure"],
            "flapping" => &["start", "end", "failure", "period", "down"],
            "brownout" => &["start", "end", "peak_failure"],
            "latency-spike" => &["start", "end", "failure", "spike_latency_ms", "servers"],
            "partial" => &["start", "end", "failure", "sick"],
            "long-tail" => &["tail", "tail_latency_ms"],
            "overload" => &["start", "end", "capacity"],
            _ => &["start", "end", "failure", "low", "high", "period"],
        };
        let table = toml::Table::try_from(fields).expect("plain fields serialize");
        if let Some(extra) = table
            .keys()
            .find(|k| !COMMON.contains(&k.as_str()) && !own.contains(&k.as_str()))
        {
            let mut known: Vec<&str> = COMMON.to_vec();
            known.extend(own);
            return Err(Error::Input(format!(
                "scenario.{extra} does not apply to scenario {name:?} (its fields: {})",
                known.join(", ")
            )));
        }

        let diurnal = name == "diurnal";
        let duration = positive(
            "duration",
            fields.duration,
            if diurnal { 86_400.0 } else { 120.0 },
        )?;
        let (start_default, end_default) = if diurnal {
            (50_400.0, 52_200.0)
        } else {
            (30.0, 90.0)
        };
        let start = non_negative("start", fields.start, start_default)?;
        let end = non_negative("end", fields.end, end_default)?;
        if end < start {
            return Err(Error::Input(format!(
                "invalid scenario.end = {end}: must be at least scenario.start ({start})"
            )));
        }
        let failure = probability("failure", fields.failure, 1.0)?;
        let instances = fields
            .instances
            .unwrap_or(if name == "partial" { 4 } else { 1 });
        let clients = fields.clients.unwrap_or(1);
        for (field, n) in [("instances", instances), ("clients", clients)] {
            if n == 0 {
                return Err(Error::Input(format!(
                    "invalid scenario.{field} = 0: must be at least 1"
                )));
            }
        }
        if u64::from(instances) * u64::from(clients) > MAX_PAIRS {
            return Err(Error::Input(format!(
                "scenario.instances x scenario.clients = {instances} x {clients}: must be at most {MAX_PAIRS}"
            )));
        }
        let long_tail = name == "long-tail";
        let latency_ms = non_negative(
            "latency_ms",
            fields.latency_ms,
            if long_tail { 20.0 } else { 0.0 },
        )?;
        let span = |from: f64, to: f64, instance| Episode {
            start: nanos(from),
            end: nanos(to),
            instance,
        };
        let flat = |from, to, instance| Phase {
            episode: span(from, to, instance),
            failure: Curve::Flat(failure),
            latency: millis(latency_ms),
            capacity: None,
        };
        let phases = match name {
            "long-tail" => Vec::new(),
            "outage" | "diurnal" => vec![flat(start, end, None)],
            "flapping" => {
                let period = positive("period", fields.period, 20.0)?;
                let down = non_negative("down", fields.down, 10.0)?;
                if down > period {
                    return Err(Error::Input(format!(
                        "invalid scenario.down = {down}: must be at most scenario.period ({period})"
                    )));
                }
                let mut phases = Vec::new();
                let mut at = start;
                while at < end {
                    phases.push(flat(at, (at + down).min(end), None));
                    at += period;
                }
                phases
            }
            "brownout" => vec![Phase {
                episode: span(start, end, None),
                failure: Curve::Triangle(probability("peak_failure", fields.peak_failure, 0.6)?),
                latency: millis(latency_ms),
                capacity: None,
            }],
            "latency-spike" => vec![Phase {
                episode: span(start, end, None),
                failure: Curve::Flat(probability("failure", fields.failure, 0.0)?),
                latency: millis(non_negative(
                    "spike_latency_ms",
                    fields.spike_latency_ms,
                    2_000.0,
                )?),
                capacity: None,
            }],
            "overload" => vec![Phase {
                episode: span(start, end, None),
                failure: Curve::Flat(0.0),
                latency: millis(latency_ms),
                capacity: Some(fields.capacity.unwrap_or(20)),
            }],
            _ => {
                let sick = fields.sick.unwrap_or(0);
                if sick >= instances {
                    return Err(Error::Input(format!(
                        "invalid scenario.sick = {sick}: must be an instance in 0..{instances}"
                    )));
                }
                vec![flat(start, end, Some(sick))]
            }
        };
        let traffic = if diurnal {
            let low = positive("low", fields.low, 500.0)?;
            let high = positive("high", fields.high, 1_500.0)?;
            if high < low {
                return Err(Error::Input(format!(
                    "invalid scenario.high = {high}: must be at least scenario.low ({low})"
                )));
            }
            Traffic::Diurnal {
                low,
                high,
                period: positive("period", fields.period, 86_400.0)?,
            }
        } else {
            Traffic::Constant(positive("rate", fields.rate, 100.0)?)
        };
        let poisson = match fields.arrivals.as_deref() {
            None | Some("uniform") => false,
            Some("poisson") => true,
            Some(other) => {
                return Err(Error::Input(format!(
                    "invalid scenario.arrivals = {other:?}: must be \"uniform\" or \"poisson\""
                )))
            }
        };
        let servers = match fields.servers {
            None => Vec::new(),
            Some(0) => {
                return Err(Error::Input(
                    "invalid scenario.servers = 0: must be at least 1".into(),
                ))
            }
            Some(c) => {
                let idle: BinaryHeap<Reverse<u64>> = (0..c).map(|_| Reverse(0)).collect();
                vec![idle; instances as usize]
            }
        };
        let spread = non_negative("latency_spread", fields.latency_spread, 0.0)?;
        if spread > 1.0 {
            return Err(Error::Input(format!(
                "invalid scenario.latency_spread = {spread}: must be in [0, 1]"
            )));
        }
        Ok(Self {
            name,
            duration: nanos(duration),
            instances,
            clients,
            traffic,
            poisson,
            healthy_failure: probability("healthy_failure", fields.healthy_failure, 0.0)?,
            healthy_latency: millis(latency_ms),
            spread,
            phases,
            tail: if long_tail {
                Some((
                    probability("tail", fields.tail, 0.02)?,
                    millis(non_negative(
                        "tail_latency_ms",
                        fields.tail_latency_ms,
                        1_000.0,
                    )?),
                ))
            } else {
                None
            },
            next: 0.0,
            cursor: 0,
            active: None,
            boundary: 0,
            step: match traffic {
                Traffic::Constant(rate) if !poisson && (1e9 / rate).fract() == 0.0 => {
                    Some((1e9 / rate) as u64)
                }
                _ => None,
            },
            next_ns: 0,
            turn: (0, 0),
            served: (0, 0),
            gap: match traffic {
                Traffic::Constant(rate) => 1e9 / rate,
                Traffic::Diurnal { .. } => 0.0,
            },
            gap_until: match traffic {
                Traffic::Constant(_) => f64::INFINITY,
                Traffic::Diurnal { .. } => 0.0,
            },
            servers,
        })
    }

    /// The scenario's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    fn rate(&self, at: f64) -> f64 {
        match self.traffic {
            Traffic::Constant(rate) => rate,
            Traffic::Diurnal { low, high, period } => {
                let phase = std::f64::consts::TAU * at / (period * 1e9);
                low + (high - low) * (1.0 - phase.cos()) / 2.0
            }
        }
    }

    /// The phase covering `at` for `instance`, if any. Times asked never go
    /// back: the phase in force (or none) is kept until the next start or
    /// end of a phase, and a cursor skips the phases that are over.
    #[inline]
    fn phase(&mut self, at: u64, instance: u32) -> Option<Phase> {
        if at >= self.boundary {
            self.enter(at);
        }
        self.active
            .filter(|p| p.episode.instance.is_none_or(|i| i == instance))
    }

    /// Finds the phase in force at `at` and when that changes.
    #[cold]
    fn enter(&mut self, at: u64) {
        while self
            .phases
            .get(self.cursor)
            .is_some_and(|p| p.episode.end <= at)
        {
            self.cursor += 1;
        }
        (self.active, self.boundary) = match self.phases.get(self.cursor) {
            None => (None, u64::MAX),
            Some(p) if p.episode.start <= at => (Some(*p), p.episode.end),
            Some(p) => (None, p.episode.start),
        };
    }
}

impl Source for Scenario {
    fn clients(&self) -> u32 {
        self.clients
    }

    #[inline]
    fn next_arrival(&mut self, draws: &SeededRandom) -> Result<Option<Arrival>, Error> {
        let at = match self.step {
            // Evenly spaced calls a whole number of nanoseconds apart: the
            // same times as below, without a conversion per call.
            Some(step) => {
                let at = self.next_ns;
                self.next_ns = at.saturating_add(step);
                at
            }
            None => {
                // Not `round`, a call into libm: the time is never negative.
                let at = (self.next + 0.5) as u64;
                if self.next >= self.gap_until {
                    // A changing rate is followed second by second: the gap
                    // of the rate at each second's start.
                    let second = (self.next / 1e9).floor() * 1e9;
                    self.gap = 1e9 / self.rate(second);
                    self.gap_until = second + 1e9;
                }
                let gap = self.gap;
                self.next += if self.poisson {
                    // The exponential gap of a Poisson process:
                    // -ln(1 - u) / rate.
                    -(1.0 - draws.unit()).ln() * gap
                } else {
                    gap
                };
                at
            }
        };
        if at >= self.duration {
            return Ok(None);
        }
        // Round robin over the instances, then the clients, so every
        // client calls every instance (no division on this path).
        let (instance, client) = self.turn;
        self.turn = if instance + 1 < self.instances {
            (instance + 1, client)
        } else if client + 1 < self.clients {
            (0, client + 1)
        } else {
            (0, 0)
        };
        Ok(Some(Arrival {
            at,
            instance,
            client,
            given: None,
        }))
    }

    fn instant(&self) -> bool {
        self.healthy_latency == 0
            && self.phases.iter().all(|p| p.latency == 0)
            && self.tail.is_none_or(|(_, slow)| slow == 0)
    }

    #[inline]
    fn degraded(&mut self, at: u64, instance: u32) -> bool {
        self.phase(at, instance).is_some()
    }

    #[inline]
    fn answer(&mut self, at: u64, instance: u32, draws: &SeededRandom) -> Answer {
        let (p, latency) = match self.phase(at, instance) {
            None => match self.tail {
                Some((tail, slow)) if draws.unit() < tail => (self.healthy_failure, slow),
                _ => (self.healthy_failure, self.healthy_latency),
            },
            Some(phase) => {
                let p = match phase.failure {
                    Curve::Flat(p) => p,
                    Curve::Triangle(peak) => {
                        let e = phase.episode;
                        let x = (at - e.start) as f64 / (e.end - e.start).max(1) as f64;
                        peak * (1.0 - (2.0 * x - 1.0).abs())
                    }
                };
                (p, phase.latency)
            }
        };
        // No draw when the answer is certain: an outage costs nothing.
        let mut failed = p >= 1.0 || (p > 0.0 && draws.unit() < p);
        if let Some(capacity) = self.phase(at, instance).and_then(|p| p.capacity) {
            // Overloaded: the first `capacity` calls of each second are
            // served, the rest refused.
            let second = at / SECOND;
            if self.served.0 != second {
                self.served = (second, 0);
            }
            failed |= self.served.1 >= capacity;
            self.served.1 += u32::from(!failed);
        }
        let latency = if self.spread > 0.0 && latency > 0 {
            (latency as f64 * (1.0 + self.spread * (2.0 * draws.unit() - 1.0))) as u64
        } else {
            latency
        };
        // With servers, the call is served by the server free first
        // (answers are asked in time order, so this is a queue served first
        // come, first served), and waits for it if it is busy.
        let latency = match self.servers.get_mut(instance as usize) {
            None => latency,
            Some(servers) => {
                let Reverse(free) = servers.pop().expect("servers is at least 1");
                let done = free.max(at).saturating_add(latency);
                servers.push(Reverse(done));
                done - at
            }
        };
        Answer { failed, latency }
    }

    fn done(&self) -> f64 {
        let next = match self.step {
            Some(_) => self.next_ns as f64,
            None => self.next,
        };
        next / self.duration as f64
    }

    fn episodes(&self) -> Vec<Episode> {
        self.phases.iter().map(|p| p.episode).collect()
    }

    fn end(&self) -> u64 {
        self.duration
    }
}

fn nanos(secs: f64) -> u64 {
    (secs * SECOND as f64).round() as u64
}

fn millis(ms: f64) -> u64 {
    (ms * 1e6).round() as u64
}

fn checked(
    field: &str,
    value: Option<f64>,
    default: f64,
    ok: fn(f64) -> bool,
    allowed: &str,
) -> Result<f64, Error> {
    let v = value.unwrap_or(default);
    if ok(v) {
        Ok(v)
    } else {
        Err(Error::Input(format!(
            "invalid scenario.{field} = {v}: must be {allowed}"
        )))
    }
}

fn positive(field: &str, value: Option<f64>, default: f64) -> Result<f64, Error> {
    checked(
        field,
        value,
        default,
        |v| v.is_finite() && v > 0.0,
        "a finite number above 0",
    )
}

fn non_negative(field: &str, value: Option<f64>, default: f64) -> Result<f64, Error> {
    checked(
        field,
        value,
        default,
        |v| v.is_finite() && v >= 0.0,
        "a finite number, at least 0",
    )
}

fn probability(field: &str, value: Option<f64>, default: f64) -> Result<f64, Error> {
    checked(
        field,
        value,
        default,
        |v| (0.0..=1.0).contains(&v),
        "a probability in [0, 1]",
    )
}

//! A grid over one or two settings, each point a whole run of the same
//! scenario or trace, run on every core; reported with the Pareto front of
//! time to detect against healthy calls rejected, so a team can pick its
//! thresholds and write down why.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use serde::Serialize;

use crate::{simulate, Error, Settings};

/// One swept setting: a `--set` key and the values it takes.
#[derive(Clone, Debug, Serialize)]
pub struct Axis {
    /// The key, as `--set` takes it (`failure_rate_threshold`,
    /// `retry.max_attempts`).
    pub key: String,
    /// Its values, as written.
    pub values: Vec<String>,
}

impl Axis {
    /// Parses `KEY=V1,V2,...` (values as `--set` takes them; commas inside
    /// braces, brackets or quotes belong to the value).
    pub fn parse(text: &str) -> Result<Self, Error> {
        let (key, values) = text
            .split_once('=')
            .ok_or_else(|| Error::Input(format!("--grid {text}: expected KEY=VALUE,VALUE,...")))?;
        let values: Vec<String> = split_values(values)
            .into_iter()
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .collect();
        if values.is_empty() {
            return Err(Error::Input(format!("--grid {text}: no values")));
        }
        Ok(Self {
            key: key.trim().to_owned(),
            values,
        })
    }
}

/// Splits `V1,V2,...` at the commas outside braces, brackets and quotes,
/// so a value may be an inline table (`{ count = 50 },{ count = 100 }`).
fn split_values(text: &str) -> Vec<&str> {
    let (mut parts, mut depth, mut quoted, mut start) = (Vec::new(), 0i32, false, 0);
    for (i, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '{' | '[' if !quoted => depth += 1,
            '}' | ']' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// One point of the grid and what its run found.
#[derive(Clone, Debug, Serialize)]
pub struct Point {
    /// Its value's index on the first axis.
    pub ix: usize,
    /// Its value's index on the second axis (0 with one axis).
    pub iy: usize,
    /// The longest time to detect, in seconds; `null` if an episode went
    /// undetected.
    pub detect: Option<f64>,
    /// The longest time to recover, in seconds.
    pub recover: Option<f64>,
    /// Attempts admitted while the dependency was unhealthy.
    pub reached_while_degraded: u64,
    /// Attempts refused while the dependency was healthy.
    pub rejected_while_healthy: u64,
    /// Trial calls.
    pub trial_calls: u64,
    /// Transitions to OPEN.
    pub opens: u64,
    /// Whether no other point detects at least as fast while refusing at
    /// most as many healthy calls, better in one of the two.
    pub pareto: bool,
}

/// A sweep's results.
#[derive(Clone, Debug, Serialize)]
pub struct Sweep {
    /// The scenario or trace swept.
    pub source: String,
    /// The first axis.
    pub x: Axis,
    /// The second axis, if any.
    pub y: Option<Axis>,
    /// The points, the first axis varying fastest.
    pub points: Vec<Point>,
}

/// Runs every point of `x` (by `y`) over `base`, on `jobs` threads.
/// `progress` is called once per finished point. The points' settings are
/// all checked before any runs.
pub fn run(
    base: &Settings,
    trace: Option<&Path>,
    x: Axis,
    y: Option<Axis>,
    jobs: usize,
    progress: &(dyn Fn() + Sync),
) -> Result<Sweep, Error> {
    let ny = y.as_ref().map_or(1, |y| y.values.len());
    let mut settings = Vec::with_capacity(x.values.len() * ny);
    for iy in 0..ny {
        for (ix, xv) in x.values.iter().enumerate() {
            let mut s = base.clone();
            s.set(&format!("{}={xv}", x.key))?;
            if let Some(y) = &y {
                s.set(&format!("{}={}", y.key, y.values[iy]))?;
            }
            s.engines()?;
            settings.push((ix, iy, s));
        }
    }
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<Point, Error>>>> =
        Mutex::new((0..settings.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, settings.len()) {
            scope.spawn(|| loop {
                // Relaxed: the counter only hands out distinct indices; the
                // results are published through the mutex and the join.
                let k = next.fetch_add(1, Ordering::Relaxed);
                let Some((ix, iy, s)) = settings.get(k) else {
                    break;
                };
                let point = simulate(s, trace, &mut |_| {}).map(|r| Point {
                    ix: *ix,
                    iy: *iy,
                    detect: if r.undetected == 0 {
                        r.detect_max
                    } else {
                        None
                    },
                    recover: r.recover_max,
                    reached_while_degraded: r.counts.reached_while_degraded,
                    rejected_while_healthy: r.counts.rejected_while_healthy,
                    trial_calls: r.counts.trial_calls,
                    opens: r.opens,
                    pareto: false,
                });
                results.lock().expect("no worker panics holding it")[k] = Some(point);
                progress();
            });
        }
    });
    let mut points = results
        .into_inner()
        .expect("no worker panicked")
        .into_iter()
        .map(|r| r.expect("every point ran"))
        .collect::<Result<Vec<_>, _>>()?;
    mark_front(&mut points);
    let source = match trace {
        Some(p) => p.display().to_string(),
        None => format!(
            "scenario {}",
            base.scenario.name.as_deref().unwrap_or("outage")
        ),
    };
    Ok(Sweep {
        source,
        x,
        y,
        points,
    })
}

/// Marks the points no other point dominates on (time to detect, healthy
/// calls rejected), both to minimise; "never detected" is worse than any
/// time.
fn mark_front(points: &mut [Point]) {
    let key = |p: &Point| (p.detect.unwrap_or(f64::INFINITY), p.rejected_while_healthy);
    let keys: Vec<(f64, u64)> = points.iter().map(key).collect();
    for (p, &(d, r)) in points.iter_mut().zip(&keys) {
        p.pareto = !keys
            .iter()
            .any(|&(d2, r2)| d2 <= d && r2 <= r && (d2 < d || r2 < r));
    }
}

impl Sweep {
    /// The JSON text.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("plain data serializes");
        s.push('\n');
        s
    }

    /// The table people read; `*` marks the Pareto front.
    pub fn table(&self) -> String {
        let mut header = vec![self.x.key.clone()];
        if let Some(y) = &self.y {
            header.push(y.key.clone());
        }
        header.extend(
            [
                "detect (s)",
                "recover (s)",
                "reached failing",
                "rejected healthy",
                "trials",
                "front",
            ]
            .map(String::from),
        );
        let secs = |v: Option<f64>| v.map_or_else(|| "never".into(), |v| format!("{v:.3}"));
        let mut rows = vec![header];
        for p in &self.points {
            let mut row = vec![self.x.values[p.ix].clone()];
            if let Some(y) = &self.y {
                row.push(y.values[p.iy].clone());
            }
            row.extend([
                secs(p.detect),
                secs(p.recover),
                p.reached_while_degraded.to_string(),
                p.rejected_while_healthy.to_string(),
                p.trial_calls.to_string(),
                if p.pareto { "*".into() } else { String::new() },
            ]);
            rows.push(row);
        }
        let widths: Vec<usize> = (0..rows[0].len())
            .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
            .collect();
        let mut out = format!("{}: {} settings\n\n", self.source, self.points.len());
        for row in rows {
            let cells: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:>w$}"))
                .collect();
            let _ = writeln!(out, "  {}", cells.join("  ").trim_end());
        }
        out
    }
}

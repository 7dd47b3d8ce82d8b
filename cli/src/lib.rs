//! The `seawall` command's library: a simulator that drives Seawall's real
//! engines (breaker, retry with its budget, bulkhead, rate limiter) on a
//! simulated clock through a built-in scenario or a recorded trace, reports
//! what a configuration would have done (time to detect and to recover,
//! load on the failing dependency, healthy calls refused, trials, retries),
//! draws it as an SVG timeline, and sweeps a grid of settings.
//!
//! The simulator holds no rule of its own: every decision is the engines',
//! the same code that runs in production, so a simulated run makes exactly
//! the calls a program would make against a breaker on a manual clock
//! (`tests/simulate.rs` checks this). Every random draw comes from one
//! seeded sequence: the same seed gives the same bytes of JSON and SVG.
//!
//! ```
//! use seawall_cli::{simulate, Settings};
//!
//! let mut settings = Settings::default();
//! settings.set("scenario.rate=100").unwrap();
//! let report = simulate(&settings, None, &mut |_| {}).unwrap();
//! // The default outage from 30 s to 90 s: five failures open the breaker.
//! assert_eq!(report.detect_max, Some(0.04));
//! ```

pub mod cli;
pub mod config;
mod engine;
pub mod plot;
pub mod report;
pub mod scenario;
pub mod source;
pub mod sweep;
pub mod trace;

use std::fmt;
use std::path::Path;

pub use config::{Engines, Settings};
pub use report::Report;

/// Why a run could not be made.
#[derive(Debug)]
pub enum Error {
    /// A file, a trace row, a flag or a scenario parameter is wrong; the
    /// message names the file and line or the field.
    Input(String),
    /// An engine refused its configuration; the message names the field.
    Config(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Input(m) => f.write_str(m),
            Error::Config(m) => write!(f, "configuration: {m}"),
        }
    }
}

impl std::error::Error for Error {}

/// Runs `settings`' scenario, or the trace at `trace`, and returns what
/// happened. `progress` is told the share done from time to time.
pub fn simulate(
    settings: &Settings,
    trace: Option<&Path>,
    progress: &mut dyn FnMut(f64),
) -> Result<Report, Error> {
    let engines = settings.engines()?;
    let (mut report, name) = match trace {
        Some(path) => {
            let mut source = trace::Trace::open(path)?;
            let r = engine::run(&engines, settings.seed, &mut source, progress)?;
            (r, path.display().to_string())
        }
        None => {
            let mut source = scenario::Scenario::new(&settings.scenario)?;
            let r = engine::run(&engines, settings.seed, &mut source, progress)?;
            (r, format!("scenario {}", source.name()))
        }
    };
    report.source = name;
    report.settings = settings.given();
    report.seed = settings.seed;
    report.failure_rate_threshold = engines.breaker.failure_rate_threshold;
    Ok(report)
}

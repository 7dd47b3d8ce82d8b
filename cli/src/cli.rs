//! The command line: `seawall simulate` and `seawall sweep`, parsed by
//! clap. The binary and `python -m seawall` both call [`main`]; Python's
//! `seawall.simulate()` calls [`json`], which parses the same arguments and
//! returns the JSON instead of printing.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::sweep::{self, Axis};
use crate::{plot, scenario, simulate, Error, Settings};

/// See what a resilience configuration does before production does it to
/// you: replays a scenario or a recorded trace through Seawall's real
/// engines on a simulated clock.
#[derive(Debug, Parser)]
#[command(name = "seawall", version)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs one configuration through a scenario or a trace and reports
    /// time to detect and to recover, load on the failing dependency,
    /// healthy calls refused, trials and retries.
    Simulate(SimulateArgs),
    /// Runs a grid over one or two settings (on every core) and marks the
    /// Pareto front of time to detect against healthy calls refused.
    Sweep(SweepArgs),
}

#[derive(Debug, Args)]
struct Common {
    /// A built-in scenario: outage (default), flapping, brownout,
    /// latency-spike, partial, diurnal, long-tail. Its parameters are
    /// `--set scenario.FIELD=VALUE`.
    #[arg(value_parser = clap::builder::PossibleValuesParser::new(scenario::NAMES))]
    scenario: Option<String>,
    /// Settings from a .toml or .yaml file: [breaker] with the fields of
    /// CircuitBreakerConfig (durations in seconds), [retry],
    /// [retry_budget], [bulkhead], [rate_limit], [hedge], [scenario], seed.
    #[arg(long, short, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Replays a recorded trace (.csv with a header, or .jsonl): timestamp,
    /// outcome or status, optional latency_ms and instance.
    #[arg(long, value_name = "FILE", conflicts_with = "scenario")]
    trace: Option<PathBuf>,
    /// Sets one field, after the file: `failure_threshold=10` (a breaker
    /// field), `retry.max_attempts=3`, `scenario.rate=1000`,
    /// `window.count=100`. Repeatable.
    #[arg(long = "set", short = 's', value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// The seed of every random draw (default: the file's, else 0).
    #[arg(long)]
    seed: Option<u64>,
    /// Prints JSON instead of the table.
    #[arg(long)]
    json: bool,
    /// Writes the picture as SVG.
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
    /// Writes the picture as PNG (converted from the SVG by rsvg-convert,
    /// from librsvg).
    #[arg(long, value_name = "FILE")]
    png: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct SimulateArgs {
    #[command(flatten)]
    common: Common,
    /// Adds the per-second timeline to the JSON.
    #[arg(long)]
    timeline: bool,
}

#[derive(Debug, Args)]
struct SweepArgs {
    #[command(flatten)]
    common: Common,
    /// A swept setting and its values: `failure_rate_threshold=0.2,0.5`.
    /// Once or twice.
    #[arg(long, value_name = "KEY=V1,V2,...", required = true, num_args = 1)]
    grid: Vec<String>,
    /// Runs at once (default: the cores available).
    #[arg(long)]
    jobs: Option<usize>,
}

impl Common {
    fn settings(&self) -> Result<Settings, Error> {
        let mut settings = match &self.config {
            Some(path) => Settings::from_file(path)?,
            None => Settings::default(),
        };
        if let Some(name) = &self.scenario {
            settings.scenario.name = Some(name.clone());
        }
        for assignment in &self.set {
            settings.set(assignment)?;
        }
        if let Some(seed) = self.seed {
            settings.seed = seed;
        }
        Ok(settings)
    }

    /// Writes the pictures asked for and says where, for the table.
    fn write_pictures(&self, what: &str, svg: impl FnOnce() -> String) -> Result<String, Error> {
        if self.svg.is_none() && self.png.is_none() {
            return Ok(String::new());
        }
        let svg = svg();
        let mut written = String::new();
        if let Some(path) = &self.svg {
            std::fs::write(path, &svg)
                .map_err(|e| Error::Input(format!("{}: {e}", path.display())))?;
            written += &format!("\n{what} written to {}", path.display());
        }
        if let Some(path) = &self.png {
            png(&svg, path)?;
            written += &format!("\n{what} written to {}", path.display());
        }
        Ok(written + "\n")
    }
}

/// Converts `svg` to a PNG at `path` with rsvg-convert.
fn png(svg: &str, path: &Path) -> Result<(), Error> {
    let mut child = Process::new("rsvg-convert")
        .args(["--format", "png", "--background-color", "white", "--output"])
        .arg(path)
        .stdin(Stdio::piped())
        .spawn()
        .map_err(|e| {
            Error::Input(format!(
                "--png needs rsvg-convert on the PATH (Debian and Ubuntu: apt-get install librsvg2-bin; or write --svg): {e}"
            ))
        })?;
    let fed = child
        .stdin
        .take()
        .expect("stdin was piped")
        .write_all(svg.as_bytes());
    let status = child
        .wait()
        .map_err(|e| Error::Input(format!("rsvg-convert: {e}")))?;
    match (fed, status.success()) {
        (Ok(()), true) => Ok(()),
        _ => Err(Error::Input(format!(
            "rsvg-convert could not write {} ({status})",
            path.display()
        ))),
    }
}

fn bar(len: u64) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {percent:>3}% {elapsed} (eta {eta})")
            .expect("a valid template"),
    );
    bar
}

/// What one command produced: its JSON and its table.
struct Output {
    json: String,
    table: String,
}

fn run(cli: &Cli, json_only: bool) -> Result<Output, Error> {
    match &cli.command {
        Command::Simulate(args) => {
            let c = &args.common;
            let settings = c.settings()?;
            let progress = bar(1_000);
            let mut report = simulate(&settings, c.trace.as_deref(), &mut |done| {
                progress.set_position((done.clamp(0.0, 1.0) * 1_000.0) as u64);
            })?;
            progress.finish_and_clear();
            let written = c.write_pictures("timeline", || plot::timeline(&report))?;
            if args.timeline {
                report.timeline = Some(report.seconds.clone());
            }
            Ok(Output {
                json: report.to_json(),
                table: if json_only {
                    String::new()
                } else {
                    report.table() + &written
                },
            })
        }
        Command::Sweep(args) => {
            let c = &args.common;
            let settings = c.settings()?;
            let mut axes = args.grid.iter().map(|g| Axis::parse(g));
            let x = axes.next().expect("clap requires one --grid")?;
            let y = axes.next().transpose()?;
            if axes.next().is_some() {
                return Err(Error::Input("--grid: at most two settings".into()));
            }
            let points = x.values.len() * y.as_ref().map_or(1, |y| y.values.len());
            let jobs = args.jobs.unwrap_or_else(|| {
                std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
            });
            let progress = bar(points as u64);
            let sweep = sweep::run(&settings, c.trace.as_deref(), x, y, jobs, &|| {
                progress.inc(1)
            })?;
            progress.finish_and_clear();
            let written = c.write_pictures("heatmaps", || plot::heatmap(&sweep))?;
            Ok(Output {
                json: sweep.to_json(),
                table: if json_only {
                    String::new()
                } else {
                    sweep.table() + &written
                },
            })
        }
    }
}

/// Runs the command line `args` (the first is the program's name): prints
/// the table or the JSON and returns the exit status (0 done, 1 an error
/// named on stderr, 2 bad usage).
pub fn main(args: impl IntoIterator<Item = String>) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return e.exit_code();
        }
    };
    let json = match &cli.command {
        Command::Simulate(a) => a.common.json,
        Command::Sweep(a) => a.common.json,
    };
    match run(&cli, json) {
        Ok(out) => {
            let text = if json { out.json } else { out.table };
            let mut stdout = std::io::stdout().lock();
            // A closed pipe (`seawall simulate | head`) is not an error.
            let _ = stdout
                .write_all(text.as_bytes())
                .and_then(|()| stdout.flush());
            0
        }
        Err(e) => {
            eprintln!("seawall: {e}");
            1
        }
    }
}

/// Parses `args` (without the program's name: `["simulate", "outage",
/// "--set", "timeout=30"]`) as the command line does, runs it, writes any
/// pictures asked for, and returns the JSON. Errors are the messages the
/// command line prints, usage errors included.
pub fn json(args: &[String]) -> Result<String, String> {
    let cli =
        Cli::try_parse_from(std::iter::once("seawall".to_owned()).chain(args.iter().cloned()))
            .map_err(|e| e.render().to_string())?;
    run(&cli, true).map(|o| o.json).map_err(|e| e.to_string())
}

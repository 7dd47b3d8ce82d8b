//! `fleet-worker`: one instance of a fleet, for the multi-process tests
//! (`distributed/tests/fleet/`) and `scripts/bench-convergence.sh`. Not part
//! of the library's interface.
//!
//! ```text
//! fleet-worker REDIS_URL NAMESPACE DEPENDENCY_PORT ID [key=value ...]
//! ```
//!
//! It runs one coordinator and `breakers` distributed breakers (`dep0`,
//! `dep1`, ...). While busy, every `period_us` it makes one call through
//! each breaker: `dep0`'s calls go to the dependency, a loopback TCP server
//! (it sends its ID once per connection, then one byte per call and reads
//! one byte back: `o` success, anything else failure; no answer within
//! `dep_timeout_ms` is a failure too); the other breakers record the same
//! outcome without a call of their own.
//!
//! Commands on stdin, one per line: `busy`, `idle`, `stats`, `quit` (also
//! on end of input). It writes one line per event on stdout, the kind, then
//! the wall clock in microseconds since the Unix epoch (comparable with the
//! other processes on the host and with Redis `TIME`):
//!
//! * `ready T INSTANCE` once connected to Redis;
//! * `fleet T BREAKER STATE GENERATION` for each fleet state change;
//! * `degraded T` and `recovered T` (of `dep0`);
//! * `reject T STATE` at `dep0`'s first rejection after an admitted call
//!   (and at the first call, if rejected), `admit T` at its first admitted
//!   call after a rejection;
//! * `trial T GENERATION ok|fail STARTED` for each fleet trial call `dep0`
//!   makes, written once its outcome is recorded (`GENERATION` as this
//!   instance knew it then; `STARTED` when the permit was granted);
//! * `stats T calls=N failures=N rejected=N max_ns=N p99_ns=N`: calls made
//!   through `dep0`, and the time `try_acquire` + `record` took, without
//!   the dependency.

use std::io::{BufRead, Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use seawall::{BreakerConfig, Outcome};
use seawall_distributed::{
    Coordinator, CoordinatorConfig, DistributedBreaker, FleetConfig, FleetEvent,
};

const IDLE: u8 = 0;
const BUSY: u8 = 1;
const QUIT: u8 = 2;

fn micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// Writes one event line: its kind, the wall clock, then `rest`.
fn emit(kind: &str, rest: std::fmt::Arguments<'_>) {
    println!("{kind} {} {rest}", micros());
}

/// The settings a harness may change, with their defaults.
struct Options {
    breakers: usize,
    period: Duration,
    dep_timeout: Duration,
    sync: Duration,
    poll: Duration,
    /// The local breaker's open time, which is also the fleet's.
    open: Duration,
    /// Consecutive failures that open a local breaker.
    local_failures: u32,
    /// Failures in the fleet window that trip the fleet.
    fleet_failures: u32,
    /// Failures since the last flush that flush at once (0: automatic).
    urgent: u32,
    /// Fleet trial calls per HALF_OPEN round, and successes that close.
    trials: u32,
}

fn options(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        breakers: 1,
        period: Duration::from_micros(5000),
        dep_timeout: Duration::from_millis(50),
        sync: Duration::from_millis(100),
        poll: Duration::from_millis(1000),
        open: Duration::from_millis(600),
        local_failures: 20,
        fleet_failures: 20,
        urgent: 0,
        trials: 2,
    };
    for a in args {
        let (k, v) = a
            .split_once('=')
            .ok_or_else(|| format!("expected key=value, got {a:?}"))?;
        let n: u64 = v.parse().map_err(|e| format!("{k}: {e}"))?;
        let ms = Duration::from_millis(n);
        match k {
            "breakers" => o.breakers = n.max(1) as usize,
            "period_us" => o.period = Duration::from_micros(n),
            "dep_timeout_ms" => o.dep_timeout = ms,
            "sync_ms" => o.sync = ms,
            "poll_ms" => o.poll = ms,
            "open_ms" => o.open = ms,
            "local_failures" => o.local_failures = n as u32,
            "fleet_failures" => o.fleet_failures = n as u32,
            "urgent" => o.urgent = n as u32,
            "trials" => o.trials = n as u32,
            _ => return Err(format!("unknown option {k:?}")),
        }
    }
    Ok(o)
}

/// The loopback dependency: one connection, reopened after an error.
struct Dependency {
    port: u16,
    id: String,
    timeout: Duration,
    con: Option<TcpStream>,
}

impl Dependency {
    fn call(&mut self) -> Outcome {
        match self.try_call() {
            Ok(true) => Outcome::Success,
            Ok(false) => Outcome::Failure,
            Err(_) => {
                // A late answer must not be read as the next call's.
                self.con = None;
                Outcome::Failure
            }
        }
    }

    fn try_call(&mut self) -> std::io::Result<bool> {
        if self.con.is_none() {
            let mut con = TcpStream::connect(("127.0.0.1", self.port))?;
            con.set_nodelay(true)?;
            con.set_read_timeout(Some(self.timeout))?;
            writeln!(con, "{}", self.id)?;
            self.con = Some(con);
        }
        let con = self.con.as_mut().expect("connected above");
        con.write_all(b"?")?;
        let mut answer = [0u8];
        con.read_exact(&mut answer)?;
        Ok(answer[0] == b'o')
    }
}

#[derive(Default)]
struct Tally {
    calls: u64,
    failures: u64,
    rejected: u64,
    latencies: Vec<u32>,
}

impl Tally {
    fn report(&mut self) {
        self.latencies.sort_unstable();
        let max = self.latencies.last().copied().unwrap_or(0);
        let p99 = self
            .latencies
            .get(self.latencies.len() * 99 / 100)
            .copied()
            .unwrap_or(0);
        emit(
            "stats",
            format_args!(
                "calls={} failures={} rejected={} max_ns={max} p99_ns={p99}",
                self.calls, self.failures, self.rejected
            ),
        );
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let [url, ns, port, id, rest @ ..] = args else {
        return Err(
            "usage: fleet-worker REDIS_URL NAMESPACE DEPENDENCY_PORT ID [key=value ...]".into(),
        );
    };
    let o = options(rest)?;
    let coordinator = Coordinator::connect(
        url,
        CoordinatorConfig {
            namespace: ns.clone(),
            sync_interval: o.sync,
            poll_interval: o.poll,
            reconnect_min: Duration::from_millis(20),
            reconnect_max: Duration::from_millis(200),
            ..Default::default()
        },
    )
    .map_err(|e| e.to_string())?;
    let local = BreakerConfig {
        failure_threshold: o.local_failures,
        timeout: o.open,
        half_open_max_calls: o.trials,
        success_threshold: o.trials,
        half_open_timeout: Duration::from_secs(2),
        ..Default::default()
    };
    let fleet = FleetConfig {
        failure_rate_threshold: None,
        failure_count_threshold: Some(o.fleet_failures),
        minimum_calls: o.fleet_failures,
        urgent_failures: (o.urgent > 0).then_some(o.urgent),
        ..Default::default()
    };
    let breakers = (0..o.breakers)
        .map(|i| {
            let b = DistributedBreaker::new(
                &format!("dep{i}"),
                local.clone(),
                fleet.clone(),
                &coordinator,
            )
            .map_err(|e| e.to_string())?;
            b.add_fleet_listener(move |name, e| match e {
                FleetEvent::StateChanged { to, generation, .. } => {
                    emit("fleet", format_args!("{name} {to:?} {generation}"))
                }
                FleetEvent::Degraded { .. } if i == 0 => emit("degraded", format_args!("")),
                FleetEvent::Recovered if i == 0 => emit("recovered", format_args!("")),
                _ => {}
            });
            Ok(b)
        })
        .collect::<Result<Vec<_>, String>>()?;
    let started = Instant::now();
    while coordinator.is_degraded() || breakers[0].fleet().live_instances == 0 {
        if started.elapsed() > Duration::from_secs(10) {
            return Err("no connection to Redis within 10 s".into());
        }
        thread::sleep(Duration::from_millis(2));
    }
    emit("ready", format_args!("{}", coordinator.instance_id()));

    let mode = Arc::new(AtomicU8::new(IDLE));
    let stats = Arc::new(AtomicU8::new(0));
    {
        let (mode, stats) = (Arc::clone(&mode), Arc::clone(&stats));
        thread::spawn(move || {
            for line in std::io::stdin().lock().lines() {
                // Relaxed: self-contained flags, read by the call loop.
                match line.as_deref().map(str::trim) {
                    Ok("busy") => mode.store(BUSY, Ordering::Relaxed),
                    Ok("idle") => mode.store(IDLE, Ordering::Relaxed),
                    Ok("stats") => stats.store(1, Ordering::Relaxed),
                    Ok("quit") | Err(_) => break,
                    Ok(other) => eprintln!("fleet-worker: unknown command {other:?}"),
                }
            }
            mode.store(QUIT, Ordering::Relaxed);
        });
    }

    let mut dep = Dependency {
        port: port.parse().map_err(|e| format!("DEPENDENCY_PORT: {e}"))?,
        id: id.clone(),
        timeout: o.dep_timeout,
        con: None,
    };
    let mut tally = Tally::default();
    let mut admitted: Option<bool> = None;
    let mut next = Instant::now();
    loop {
        // Relaxed: see above.
        if stats.swap(0, Ordering::Relaxed) == 1 {
            tally.report();
        }
        match mode.load(Ordering::Relaxed) {
            QUIT => return Ok(()),
            IDLE => {
                thread::sleep(Duration::from_millis(2));
                next = Instant::now();
                continue;
            }
            _ => {}
        }
        let mut outcome = Outcome::Success;
        for (i, b) in breakers.iter().enumerate() {
            let t0 = Instant::now();
            let permit = b.try_acquire();
            let mut spent = t0.elapsed();
            let permit = match permit {
                Ok(p) => p,
                Err(r) => {
                    if i == 0 {
                        tally.rejected += 1;
                        if admitted != Some(false) {
                            emit("reject", format_args!("{:?}", r.state));
                        }
                        admitted = Some(false);
                    }
                    continue;
                }
            };
            // A trial call runs from here until its outcome is recorded.
            let trial = permit.is_fleet_trial().then(micros);
            if i == 0 {
                if admitted == Some(false) {
                    emit("admit", format_args!(""));
                }
                admitted = Some(true);
                outcome = dep.call();
                tally.calls += 1;
                tally.failures += u64::from(outcome == Outcome::Failure);
            }
            let t1 = Instant::now();
            permit.record(outcome);
            spent += t1.elapsed();
            if i == 0 {
                tally
                    .latencies
                    .push(spent.as_nanos().min(u128::from(u32::MAX)) as u32);
                if let Some(started) = trial {
                    let ok = if outcome == Outcome::Success {
                        "ok"
                    } else {
                        "fail"
                    };
                    let gen = b.fleet().generation;
                    emit("trial", format_args!("{gen} {ok} {started}"));
                }
            }
        }
        next += o.period;
        match next.checked_duration_since(Instant::now()) {
            Some(wait) => thread::sleep(wait),
            None => next = Instant::now(),
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fleet-worker: {e}");
            ExitCode::FAILURE
        }
    }
}

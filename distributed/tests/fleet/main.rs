//! Tier 2: a fleet of `fleet-worker` processes (`src/bin/fleet-worker.rs`)
//! against one `redis-server` the test starts, each calling a loopback
//! dependency whose answers the test flips. It checks the convergence
//! bounds of ARCHITECTURE.md ("Convergence bound") end to end: the fleet
//! trips together soon after the threshold is crossed, every worker rejects
//! within the bound, no more than `half_open_max_calls` fleet trial calls
//! run at once, recovery closes every worker, and one worker whose own path
//! fails trips alone.
//!
//! `convergence_figures` (ignored; run by `scripts/bench-convergence.sh`)
//! repeats the trip and measures the same figures over many rounds, and the
//! Redis scripts and commands per second one instance with 10 busy breakers
//! generates.

#[path = "../common/mod.rs"]
mod common;
mod harness;

use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use common::server::{wait_until, RedisServer};
use common::{micros, percentile};
use harness::{Decisions, Dependency, Line, Mode, Worker};

/// The fleet's settings, passed to every worker (the bounds below are
/// derived from them).
const SYNC_MS: u64 = 100;
const POLL_MS: u64 = 1000;
const OPEN_MS: u64 = 600;
const LOCAL_FAILURES: u64 = 20;
const FLEET_FAILURES: usize = 20;
const TRIALS: usize = 2;
/// Each busy worker calls every 10 ms.
const PERIOD_MS: u64 = 10;
/// A worker flushes at once on its second failure since its last flush.
const URGENT: u64 = 2;
/// Slack over the documented bounds for a loaded 2-core CI machine: the
/// worker processes, their coordinator threads and Redis share the cores
/// with the test and whatever else runs.
const SLACK_MS: u64 = 200;
/// A worker with traffic rejects within `I + B x R` of the decision
/// (its own next tick answers with the state even without pub/sub); B = 1,
/// R well under a millisecond on loopback.
const BUSY_BOUND_US: u64 = (SYNC_MS + SLACK_MS) * 1000;
/// An idle worker within `P + R`.
const IDLE_BOUND_US: u64 = (POLL_MS + SLACK_MS) * 1000;
/// Failing calls past the threshold: at worst `fleet_rate x (min(I, U) +
/// I + 2 B x R)`, with `U` the time a worker takes to see `URGENT`
/// failures; the `I` term covers pub/sub delays and a loaded machine. With
/// 4 workers: 48, against 4 x 20 = 80 for local breakers alone.
fn leak_bound(busy: u64) -> usize {
    let fleet_rate = busy * 1000 / PERIOD_MS;
    (fleet_rate * (URGENT * PERIOD_MS + SYNC_MS) / 1000) as usize
}

/// No call may take this long: a caller that waited for Redis would (the
/// coordinator's `op_timeout` is 100 ms), a caller merely preempted on a
/// loaded machine would not.
const BLOCKING_NS: u64 = 50_000_000;

/// The tests share two cores: one at a time, so the timing bounds measure
/// the fleet and not the other tests.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn options() -> Vec<String> {
    vec![
        format!("sync_ms={SYNC_MS}"),
        format!("poll_ms={POLL_MS}"),
        format!("open_ms={OPEN_MS}"),
        format!("local_failures={LOCAL_FAILURES}"),
        format!("fleet_failures={FLEET_FAILURES}"),
        format!("trials={TRIALS}"),
        format!("period_us={}", PERIOD_MS * 1000),
        format!("urgent={URGENT}"),
    ]
}

struct Fleet {
    server: RedisServer,
    dep: Dependency,
    decisions: Decisions,
    workers: Vec<Worker>,
    busy: usize,
}

/// What one trip measured.
struct Trip {
    /// Redis `TIME` of the fleet's decision to open.
    decision: u64,
    /// Per busy worker: decision to its first rejection.
    busy_us: Vec<u64>,
    /// Per idle worker: decision to its overlay turning OPEN.
    idle_us: Vec<u64>,
    /// Per worker: decision to its coordinator publishing the OPEN to its
    /// overlay (what a call made then would see).
    learned_us: Vec<u64>,
    /// Failing calls after the fleet threshold was crossed (the
    /// `FLEET_FAILURES`th failing call) and before the open time ended.
    leaked: usize,
    /// Of those, the calls after the decision.
    leaked_after_decision: usize,
}

impl Fleet {
    fn start(ns: &str, busy: usize, idle: usize, extra: &[&str]) -> Self {
        let server = RedisServer::start();
        let dep = Dependency::start();
        dep.set(Mode::Ok);
        let decisions = Decisions::subscribe(server.client(), ns);
        let options = options();
        let mut args: Vec<&str> = options.iter().map(String::as_str).collect();
        args.extend(extra);
        let workers: Vec<Worker> = (0..busy + idle)
            .map(|id| Worker::spawn(id, &server.url(), ns, dep.port, &args))
            .collect();
        for w in &workers {
            wait_until("the worker is connected", Duration::from_secs(20), || {
                w.first("ready", 0, &[]).is_some()
            });
        }
        let mut fleet = Self {
            server,
            dep,
            decisions,
            workers,
            busy,
        };
        for w in &mut fleet.workers[..busy] {
            w.send("busy");
        }
        fleet
    }

    /// Flips the dependency to `mode` (failing) and waits for the fleet to
    /// open and every worker to reject.
    fn trip(&mut self, mode: Mode) -> Trip {
        let flipped = micros();
        self.dep.set(mode);
        let mut decision = None;
        wait_until("the fleet opens", Duration::from_secs(10), || {
            // Redis TIME has whole milliseconds: the decision may read up
            // to 1 ms before the flip.
            decision = self.decisions.first(1, flipped.saturating_sub(1000));
            decision.is_some()
        });
        let decision = decision.expect("waited for").at;
        let mut busy_us = Vec::new();
        let mut idle_us = Vec::new();
        let mut learned_us = Vec::new();
        for (i, w) in self.workers.iter().enumerate() {
            let mut seen: Option<Line> = None;
            wait_until(
                &format!("worker {i} rejects"),
                Duration::from_secs(10),
                || {
                    seen = if i < self.busy {
                        w.first("reject", flipped, &["Open"])
                    } else {
                        w.first("fleet", flipped, &["dep0", "Open"])
                    };
                    seen.is_some()
                },
            );
            let at = seen.expect("waited for").at.saturating_sub(decision);
            let mut learned = None;
            wait_until(
                &format!("worker {i} hears of the OPEN"),
                Duration::from_secs(10),
                || {
                    learned = w.first("fleet", flipped, &["dep0", "Open"]);
                    learned.is_some()
                },
            );
            learned_us.push(learned.expect("waited for").at.saturating_sub(decision));
            if i < self.busy {
                busy_us.push(at);
            } else {
                idle_us.push(at);
            }
        }
        let mut failing: Vec<u64> = self
            .dep
            .calls()
            .iter()
            .filter(|c| c.failed && c.at >= flipped)
            .map(|c| c.at)
            .collect();
        failing.sort_unstable();
        let crossed = failing[FLEET_FAILURES - 1];
        let before_trials = decision + OPEN_MS * 1000;
        let leaked = failing
            .iter()
            .filter(|&&t| t > crossed && t < before_trials)
            .count();
        let leaked_after_decision = failing
            .iter()
            .filter(|&&t| t >= decision && t < before_trials)
            .count();
        Trip {
            decision,
            busy_us,
            idle_us,
            learned_us,
            leaked,
            leaked_after_decision,
        }
    }

    /// Keeps the dependency failing through one failed HALF_OPEN round,
    /// then heals it and waits for the fleet to close and every worker to
    /// hear of it. Returns the microseconds from the close decision to the
    /// last worker's learning it.
    fn recover(&mut self, trip: &Trip) -> u64 {
        let mut half_open = None;
        wait_until("a trial round", Duration::from_secs(10), || {
            half_open = self.decisions.first(2, trip.decision);
            half_open.is_some()
        });
        let half_open = half_open.expect("waited for");
        wait_until(
            "the failed trials reopen the fleet",
            Duration::from_secs(10),
            || {
                self.decisions
                    .all()
                    .iter()
                    .any(|d| d.state == 1 && d.gen > half_open.gen)
            },
        );
        let healed = micros();
        self.dep.set(Mode::Ok);
        let mut closed = None;
        wait_until("the fleet closes", Duration::from_secs(10), || {
            closed = self.decisions.first(0, healed.saturating_sub(1000));
            closed.is_some()
        });
        let closed = closed.expect("waited for");
        let mut last = 0;
        for (i, w) in self.workers.iter().enumerate() {
            let mut seen = None;
            wait_until(
                &format!("worker {i} learns the fleet closed"),
                Duration::from_secs(10),
                || {
                    seen = w.first("fleet", closed.at, &["dep0", "Closed"]);
                    seen.is_some()
                },
            );
            last = last.max(seen.expect("waited for").at.saturating_sub(closed.at));
        }
        for (i, w) in self.workers[..self.busy].iter().enumerate() {
            wait_until(
                &format!("worker {i} admits again"),
                Duration::from_secs(5),
                || {
                    w.lines()
                        .iter()
                        .rev()
                        .find(|l| l.kind == "admit" || l.kind == "reject")
                        .is_some_and(|l| l.kind == "admit")
                },
            );
        }
        last
    }

    /// Every fleet trial call of every worker: (generation, start, end).
    fn trials(&self) -> Vec<(u64, u64, u64)> {
        self.workers
            .iter()
            .flat_map(|w| w.lines())
            .filter(|l| l.kind == "trial")
            .map(|l| {
                let gen = l.rest[0].parse().expect("a generation");
                (gen, l.rest[2].parse().expect("a start"), l.at)
            })
            .collect()
    }
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

#[test]
fn a_fleet_of_processes_trips_together_runs_bounded_trials_and_recovers() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let busy = 4;
    let mut fleet = Fleet::start("fleet", busy, 1, &[]);
    thread::sleep(Duration::from_millis(300));

    let trip = fleet.trip(Mode::Fail);
    eprintln!(
        "trip: busy workers reject {:?} ms after the decision, the idle one {:?} ms; \
         {} failing calls after the threshold was crossed ({} after the decision; bound {}, \
         local breakers alone: {})",
        trip.busy_us.iter().map(|&u| ms(u)).collect::<Vec<_>>(),
        trip.idle_us.iter().map(|&u| ms(u)).collect::<Vec<_>>(),
        trip.leaked,
        trip.leaked_after_decision,
        leak_bound(busy as u64),
        busy as u64 * LOCAL_FAILURES,
    );
    for &us in &trip.busy_us {
        assert!(us <= BUSY_BOUND_US, "a busy worker took {} ms", ms(us));
    }
    for &us in &trip.idle_us {
        assert!(us <= IDLE_BOUND_US, "the idle worker took {} ms", ms(us));
    }
    assert!(
        trip.leaked <= leak_bound(busy as u64),
        "{} failing calls leaked past the threshold",
        trip.leaked
    );

    let closing = fleet.recover(&trip);
    eprintln!(
        "recovery: every worker learned the close within {} ms",
        ms(closing)
    );
    assert!(closing <= IDLE_BOUND_US, "{} ms", ms(closing));
    // HALF_OPEN admits `half_open_max_calls` trial calls at once, fleet-wide
    // (as a local breaker does): a success frees its permit for another
    // trial until `success_threshold` successes close, and the first
    // failure reopens. So a round holds at most `success_threshold - 1 +
    // half_open_max_calls` trial calls, and no more than
    // `half_open_max_calls` ever overlap.
    let trials = fleet.trials();
    let mut per_round: std::collections::BTreeMap<u64, usize> = Default::default();
    for &(gen, _, _) in &trials {
        *per_round.entry(gen).or_default() += 1;
    }
    let overlap = trials
        .iter()
        .map(|&(_, start, _)| {
            trials
                .iter()
                .filter(|&&(_, s, e)| s <= start && start <= e)
                .count()
        })
        .max()
        .unwrap_or(0);
    eprintln!(
        "fleet trial calls per HALF_OPEN generation: {per_round:?}, at most {overlap} at once"
    );
    assert!(per_round.len() >= 2, "a failed round and the closing one");
    for (&gen, &n) in &per_round {
        assert!(n < 2 * TRIALS, "{n} trial calls in generation {gen}");
    }
    assert!(overlap <= TRIALS, "{overlap} trial calls at once");

    // One worker's own path fails (its calls time out): its local breaker
    // opens; the fleet window passes the failure count, but with one
    // failing instance of five the quorum (2) keeps the fleet closed.
    let sick_from = micros();
    fleet.dep.set_for(0, Mode::Slow);
    wait_until(
        "the sick worker's local breaker opens",
        Duration::from_secs(10),
        || {
            fleet.workers[0]
                .first("reject", sick_from, &["Open"])
                .is_some()
        },
    );
    // Several ticks and a poll interval.
    thread::sleep(Duration::from_millis(POLL_MS + 500));
    let state: String = fleet.server.cmd(&["HGET", "fleet:cb:{dep0}", "state"]);
    assert_eq!(state, "0", "the fleet stays closed");
    assert!(fleet.decisions.first(1, sick_from).is_none());
    let failures: u64 = window(&fleet.server, "fleet", "dep0").1;
    assert!(failures >= FLEET_FAILURES as u64, "{failures} failures");
    let failing: u64 = fleet.server.cmd(&["ZCARD", "fleet:cb:{dep0}:fi"]);
    assert_eq!(failing, 1);
    for w in &fleet.workers[1..busy] {
        assert!(
            w.first("reject", sick_from, &[]).is_none(),
            "worker {} rejected",
            w.id
        );
    }
    assert!(fleet
        .dep
        .calls()
        .iter()
        .all(|c| c.at < sick_from || !c.failed || c.worker == 0));

    // The call path never waited for anything.
    for w in &mut fleet.workers[..busy] {
        let s = w.stats();
        eprintln!(
            "worker {}: {} calls, try_acquire + record p99 {} ns, max {} ns",
            w.id, s["calls"], s["p99_ns"], s["max_ns"]
        );
        assert!(s["max_ns"] < BLOCKING_NS, "{s:?}");
    }
}

/// The fleet window's (successes, failures) as Redis holds it.
fn window(server: &RedisServer, ns: &str, name: &str) -> (u64, u64) {
    let fields: Vec<(String, u64)> = server.cmd(&["HGETALL", &format!("{ns}:cb:{{{name}}}:w")]);
    fields.iter().fold((0, 0), |(s, f), (k, v)| {
        if k.ends_with(":s") {
            (s + v, f)
        } else {
            (s, f + v)
        }
    })
}

/// Repeats the trip over `FLEET_ROUNDS` rounds (default 20) and prints the
/// figures: time from the fleet's decision to each busy worker's first
/// rejection (p50, p99, max), failing calls after the threshold, and the
/// Redis commands per second one instance with 10 busy breakers sends.
#[test]
#[ignore = "a benchmark: scripts/bench-convergence.sh"]
fn convergence_figures() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let rounds: usize = std::env::var("FLEET_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let busy = 4;
    let mut lat = Vec::new();
    let mut learned = Vec::new();
    let mut leaked = Vec::new();
    let mut leaked_after = Vec::new();
    {
        let mut fleet = Fleet::start("bench", busy, 0, &[]);
        for round in 0..rounds {
            thread::sleep(Duration::from_millis(300));
            let trip = fleet.trip(Mode::Fail);
            lat.extend(&trip.busy_us);
            learned.extend(&trip.learned_us);
            leaked.push(trip.leaked as u64);
            leaked_after.push(trip.leaked_after_decision as u64);
            fleet.recover(&trip);
            eprintln!(
                "round {round}: {:?} ms, leaked {}",
                trip.busy_us.iter().map(|&u| ms(u)).collect::<Vec<_>>(),
                trip.leaked
            );
        }
    }
    println!(
        "convergence, {busy} busy workers, {rounds} rounds (sync {SYNC_MS} ms): decision to \
         first rejection p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        ms(percentile(&mut lat, 50)),
        ms(percentile(&mut lat, 99)),
        ms(percentile(&mut lat, 100)),
    );
    println!(
        "decision to each worker's overlay holding the OPEN: p50 {:.2} ms, p99 {:.2} ms, max \
         {:.2} ms (a rejection waits for the worker's next call, every {PERIOD_MS} ms)",
        ms(percentile(&mut learned, 50)),
        ms(percentile(&mut learned, 99)),
        ms(percentile(&mut learned, 100)),
    );
    println!(
        "failing calls after the threshold (local breakers alone: {}): p50 {}, max {}; \
         after the decision: p50 {}, max {}",
        busy as u64 * LOCAL_FAILURES,
        percentile(&mut leaked, 50),
        percentile(&mut leaked, 100),
        percentile(&mut leaked_after, 50),
        percentile(&mut leaked_after, 100),
    );

    // Redis load: one instance, 10 busy breakers.
    let server = RedisServer::start();
    let dep = Dependency::start();
    dep.set(Mode::Ok);
    let options = options();
    let mut args: Vec<&str> = options.iter().map(String::as_str).collect();
    args.push("breakers=10");
    let mut w = Worker::spawn(0, &server.url(), "load", dep.port, &args);
    wait_until("connected", Duration::from_secs(20), || {
        w.first("ready", 0, &[]).is_some()
    });
    w.send("busy");
    thread::sleep(Duration::from_millis(500));
    // (commands sent, of which scripts), from INFO commandstats; the
    // commands a script calls are counted there too, as Redis runs them.
    let calls = |server: &RedisServer| -> (u64, u64, u64) {
        let info: String = server.cmd(&["INFO", "commandstats"]);
        let mut sent = (0, 0, 0);
        for l in info.lines().filter(|l| l.starts_with("cmdstat_")) {
            let name = &l["cmdstat_".len()..l.find(':').unwrap_or(l.len())];
            let Some(n) = l
                .split("calls=")
                .nth(1)
                .and_then(|r| r.split(',').next())
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            match name {
                "info" => {}
                "evalsha" | "eval" => sent.1 += n,
                "publish" | "subscribe" | "ping" | "script|load" | "client|setinfo" => sent.0 += n,
                _ => sent.2 += n,
            }
        }
        sent
    };
    let before = (calls(&server), Instant::now());
    thread::sleep(Duration::from_secs(3));
    let after = (calls(&server), Instant::now());
    let secs = (after.1 - before.1).as_secs_f64();
    let rate = |f: fn(&(u64, u64, u64)) -> u64| (f(&after.0) - f(&before.0)) as f64 / secs;
    println!(
        "Redis load, one instance with 10 busy breakers (sync {SYNC_MS} ms): {:.0} scripts/s \
         (formula: 10 / {SYNC_MS} ms = {}/s), {:.0} other commands/s sent, {:.0} commands/s \
         run inside the scripts",
        rate(|c| c.1),
        10 * 1000 / SYNC_MS,
        rate(|c| c.0),
        rate(|c| c.2),
    );
}

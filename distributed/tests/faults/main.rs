//! Tier 3: one fault per test, injected under a running fleet (in-process
//! instances, each with its own coordinator, as in `fleet.rs`): Redis
//! killed with SIGKILL and restarted on its port, Redis stopped (SIGSTOP)
//! and continued, `CLIENT PAUSE`, pub/sub connections killed over and over,
//! and a TCP proxy between the coordinators and Redis that blackholes,
//! resets or delays the link.
//!
//! Every outage test checks the same things (`outage`): no call waits (each
//! `try_acquire` + `record` is timed; none may take `BLOCKING`, and the p99
//! is printed), no caller panics, each instance announces `Degraded` once
//! and `Recovered` once, every instance holds the store's state again
//! within the reconnection bound (`reconnect_bound`), the fleet window
//! holds exactly what was sent after the recovery (plus what it held
//! before, unless the data was lost): the outage's counts are neither lost
//! nor replayed, and a trip after the recovery reaches every instance
//! within the sync interval. The bounds have 300 ms of slack for a loaded
//! 2-core machine.

#[path = "../common/mod.rs"]
mod common;
mod fleet;
mod proxy;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::percentile;
use common::server::{wait_until, RedisServer};
use fleet::{coordinator_config, Fleet, Traffic};
use proxy::{Link, Proxy};
use seawall::State;
use seawall_distributed::FleetEvent;

/// Instances per fleet.
const N: usize = 3;
/// No call may take this long: a caller that waited for the store would
/// (the coordinators' `op_timeout` is 100 ms and a stopped Redis never
/// answers); a caller merely preempted on a loaded 2-core machine would not.
const BLOCKING: Duration = Duration::from_millis(50);
/// Slack over the documented bounds for a loaded 2-core CI machine.
const SLACK: Duration = Duration::from_millis(300);

/// The fault tests share two cores: one at a time, so the bounds measure
/// the fleet and not the other tests.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// Redis, and optionally the proxy every instance reaches it through.
struct Env {
    server: Option<RedisServer>,
    port: u16,
    proxy: Option<Proxy>,
}

impl Env {
    fn direct() -> Self {
        let server = RedisServer::start();
        Self {
            port: server.port,
            server: Some(server),
            proxy: None,
        }
    }

    fn proxied() -> Self {
        let mut env = Self::direct();
        env.proxy = Some(Proxy::start(env.port));
        env
    }

    fn url(&self) -> String {
        let port = self.proxy.as_ref().map_or(self.port, |p| p.port);
        format!("redis://127.0.0.1:{port}/")
    }

    fn redis(&self) -> &RedisServer {
        self.server.as_ref().expect("Redis is running")
    }

    fn proxy(&self) -> &Proxy {
        self.proxy.as_ref().expect("a proxied environment")
    }

    /// The fleet window's (successes, failures), straight from Redis.
    fn window(&self, ns: &str) -> (u64, u64) {
        let fields: Vec<(String, u64)> = self
            .redis()
            .cmd(&["HGETALL", &format!("{ns}:cb:{{dep}}:w")]);
        fields.iter().fold((0, 0), |(s, f), (k, v)| {
            if k.ends_with(":s") {
                (s + v, f)
            } else {
                (s, f + v)
            }
        })
    }

    /// The stored (epoch, generation).
    fn stored(&self, ns: &str) -> (String, u64) {
        let (epoch, gen): (Option<String>, Option<u64>) =
            self.redis()
                .cmd(&["HMGET", &format!("{ns}:cb:{{dep}}"), "epoch", "gen"]);
        (epoch.unwrap_or_default(), gen.unwrap_or(0))
    }
}

/// How long after a repair every instance is back on the store's state:
/// a reconnection attempt under way when the store came back may still run
/// into its timeouts (connect, then the first operation), the next comes
/// within the back-off (at most `reconnect_max`), and it reads every
/// breaker's state at once (an empty flush).
fn reconnect_bound() -> Duration {
    let c = coordinator_config("any");
    c.connect_timeout + c.op_timeout + c.reconnect_max + SLACK
}

fn add(a: (u64, u64), b: (u64, u64)) -> (u64, u64) {
    (a.0 + b.0, a.1 + b.1)
}

fn sub(a: (u64, u64), b: (u64, u64)) -> (u64, u64) {
    (a.0 - b.0, a.1 - b.1)
}

/// Runs `traffic` on every caller for `d`, then stops them; returns what
/// they recorded meanwhile.
fn run_for(fleet: &Fleet, traffic: Traffic, d: Duration) -> (u64, u64) {
    let before = fleet.sent();
    fleet.traffic(traffic);
    thread::sleep(d);
    fleet.traffic(Traffic::Stop);
    sub(fleet.sent(), before)
}

/// Waits until the fleet window holds exactly `expected`, failing at once
/// if it ever holds more (counts sent twice).
fn window_reaches(env: &Env, ns: &str, expected: (u64, u64)) {
    let mut seen = (0, 0);
    wait_until(
        "the fleet window holds what was sent",
        Duration::from_secs(10),
        || {
            seen = env.window(ns);
            assert!(
                seen.0 <= expected.0 && seen.1 <= expected.1,
                "the window holds {seen:?}, more than the {expected:?} sent"
            );
            seen == expected
        },
    );
}

/// Asserts that no call blocked, and prints the latencies.
fn no_call_blocked(name: &str, fleet: &mut Fleet) {
    fleet.stop();
    let mut lat = fleet.latencies();
    assert!(lat.len() > 500, "{} calls timed", lat.len());
    let (p50, p99, max) = (
        percentile(&mut lat, 50),
        percentile(&mut lat, 99),
        percentile(&mut lat, 100),
    );
    eprintln!(
        "{name}: {} calls, try_acquire + record p50 {p50} ns, p99 {p99} ns, max {max} ns",
        lat.len()
    );
    assert!(
        max < BLOCKING.as_nanos() as u64,
        "{name}: a call took {max} ns"
    );
}

/// Every instance fails; returns the time from the first instance hearing
/// of the fleet's OPEN to the last caller's first rejection, once every
/// caller has been rejected.
fn trip_reaches_everyone(fleet: &Fleet) -> Duration {
    let from = Instant::now();
    fleet.traffic(Traffic::Fail);
    wait_until(
        "every caller rejected by the fleet",
        Duration::from_secs(10),
        || fleet.first_rejections().iter().all(Option::is_some),
    );
    let rejected = fleet.first_rejections();
    fleet.traffic(Traffic::Stop);
    let opened = (0..N)
        .filter_map(|i| {
            fleet.events(i).into_iter().find_map(|(at, e)| match e {
                FleetEvent::StateChanged {
                    to: State::Open, ..
                } if at >= from => Some(at),
                _ => None,
            })
        })
        .min()
        .expect("an instance heard of the OPEN");
    let last = rejected
        .into_iter()
        .flatten()
        .max()
        .expect("every caller rejected");
    (fleet.epoch() + last).saturating_duration_since(opened)
}

/// The outage scenario: `inject` a fault into a running fleet, `heal` it,
/// and check everything the module's documentation lists. `wipes`: the
/// fault loses Redis's data.
fn outage(
    ns: &str,
    mut env: Env,
    inject: impl FnOnce(&mut Env),
    heal: impl FnOnce(&mut Env),
    wipes: bool,
) {
    let url = env.url();
    let mut fleet = Fleet::start(N, ns, |_| url.clone());
    fleet.connected();

    // Before: the window holds exactly what was sent.
    let before = run_for(&fleet, Traffic::Succeed, Duration::from_millis(300));
    window_reaches(&env, ns, before);

    // The fault. Calls go on, counted as ignored until every instance
    // knows, then as failures that must never reach the window.
    let faulted = Instant::now();
    inject(&mut env);
    fleet.traffic(Traffic::Ignore);
    wait_until("every instance degraded", Duration::from_secs(10), || {
        (0..N).all(|i| fleet.instances[i].coordinator.is_degraded())
    });
    let detected = faulted.elapsed();
    let during = run_for(&fleet, Traffic::Fail, Duration::from_millis(200));
    assert!(during.1 > 100, "failures during the outage: {during:?}");

    // Recovery: every instance back on the store's state.
    heal(&mut env);
    let healed = Instant::now();
    // The coordinator restores the fleet state first, then tells the
    // listeners: wait for both.
    wait_until(
        "every instance recovered, on the stored state and announced so",
        Duration::from_secs(10),
        || {
            let stored = env.stored(ns);
            (0..N).all(|i| {
                let f = fleet.instances[i].breaker.fleet();
                !f.degraded
                    && (f.epoch.clone(), f.generation) == stored
                    && fleet
                        .events(i)
                        .iter()
                        .any(|(at, e)| *at >= faulted && *e == FleetEvent::Recovered)
            })
        },
    );
    let reconverged = healed.elapsed();
    eprintln!(
        "{ns}: degraded everywhere {detected:?} after the fault, back {reconverged:?} after \
         the repair"
    );
    assert!(
        reconverged <= reconnect_bound(),
        "{ns}: reconverged after {reconverged:?}"
    );
    for i in 0..N {
        let events: Vec<FleetEvent> = fleet
            .events(i)
            .into_iter()
            .filter(|(at, _)| *at >= faulted)
            .map(|(_, e)| e)
            .filter(|e| !matches!(e, FleetEvent::StateChanged { .. }))
            .collect();
        assert!(
            matches!(
                &events[..],
                [FleetEvent::Degraded { .. }, FleetEvent::Recovered]
            ),
            "{ns}: instance {i}: {events:?}"
        );
    }

    // After: exactly what was sent since the recovery (and what the window
    // held before, unless Redis lost it); the outage's failures are gone.
    let after = run_for(&fleet, Traffic::Succeed, Duration::from_millis(300));
    let kept = if wipes { (0, 0) } else { before };
    window_reaches(&env, ns, add(kept, after));

    let spread = trip_reaches_everyone(&fleet);
    eprintln!("{ns}: a trip after the recovery reached every caller within {spread:?}");
    assert!(
        spread <= coordinator_config(ns).sync_interval + SLACK,
        "{ns}: {spread:?}"
    );
    no_call_blocked(ns, &mut fleet);
}

#[test]
fn redis_killed_and_restarted_on_its_port() {
    let _one = one_at_a_time();
    outage(
        "kill",
        Env::direct(),
        |env| {
            env.redis().signal("KILL");
            // Reaps it.
            env.server = None;
        },
        |env| env.server = Some(RedisServer::start_on(env.port)),
        true,
    );
}

#[test]
fn redis_stopped_and_continued() {
    let _one = one_at_a_time();
    outage(
        "stop",
        Env::direct(),
        |env| env.redis().signal("STOP"),
        |env| env.redis().signal("CONT"),
        false,
    );
}

#[test]
fn redis_clients_paused() {
    let _one = one_at_a_time();
    let paused = Arc::new(Mutex::new(None::<Instant>));
    let p = paused.clone();
    outage(
        "pause",
        Env::direct(),
        move |env| {
            let () = env.redis().cmd(&["CLIENT", "PAUSE", "1500", "ALL"]);
            *p.lock().unwrap() = Some(Instant::now() + Duration::from_millis(1500));
        },
        move |_| {
            // The pause ends by itself.
            let until = paused.lock().unwrap().expect("paused");
            thread::sleep(until.saturating_duration_since(Instant::now()));
        },
        false,
    );
}

#[test]
fn link_blackholed() {
    let _one = one_at_a_time();
    outage(
        "blackhole",
        Env::proxied(),
        |env| env.proxy().set(Link::Blackhole),
        |env| env.proxy().set(Link::Pass),
        false,
    );
}

#[test]
fn link_reset() {
    let _one = one_at_a_time();
    outage(
        "reset",
        Env::proxied(),
        |env| env.proxy().set(Link::Reset),
        |env| env.proxy().set(Link::Pass),
        false,
    );
}

#[test]
fn link_slower_than_the_op_timeout() {
    let _one = one_at_a_time();
    outage(
        "delay",
        Env::proxied(),
        |env| env.proxy().delay(Duration::from_millis(300)),
        |env| env.proxy().set(Link::Pass),
        false,
    );
}

/// Pub/sub connections killed every 30 ms: no instance degrades (the main
/// connection is fine), busy instances still learn of a trip from their
/// own flush answers within the sync interval of the first instance to
/// know, idle ones from their poll (or the read after each
/// resubscription), and no count is lost or doubled.
#[test]
fn pubsub_connections_killed_over_and_over() {
    let _one = one_at_a_time();
    let env = Env::direct();
    let ns = "pubsub";
    let n = 4;
    let url = env.url();
    let mut fleet = Fleet::start(n, ns, |_| url.clone());
    fleet.connected();
    let stop = Arc::new(AtomicBool::new(false));
    let killed = Arc::new(AtomicU64::new(0));
    let killer = {
        let (stop, killed) = (stop.clone(), killed.clone());
        let client = env.redis().client();
        thread::spawn(move || {
            let mut con = client.get_connection().expect("connects");
            while !stop.load(Ordering::Relaxed) {
                let k: u64 = redis::cmd("CLIENT")
                    .arg(&["KILL", "TYPE", "pubsub"])
                    .query(&mut con)
                    .expect("CLIENT KILL");
                killed.fetch_add(k, Ordering::Relaxed);
                thread::sleep(Duration::from_millis(30));
            }
        })
    };
    let sent = run_for(&fleet, Traffic::Succeed, Duration::from_millis(300));
    window_reaches(&env, ns, sent);

    // Two busy instances fail; two stay idle.
    let from = Instant::now();
    let failed_before = fleet.sent();
    fleet.traffic_for(0, Traffic::Fail);
    fleet.traffic_for(1, Traffic::Fail);
    let mut learned = [None; 4];
    wait_until(
        "every instance holds the fleet OPEN",
        Duration::from_secs(10),
        || {
            for (i, l) in learned.iter_mut().enumerate() {
                if l.is_none() && fleet.instances[i].breaker.fleet().state == State::Open {
                    *l = Some(from.elapsed());
                }
            }
            learned.iter().all(Option::is_some)
        },
    );
    fleet.traffic(Traffic::Stop);
    stop.store(true, Ordering::Relaxed);
    killer.join().expect("the killer thread");
    let first = learned.iter().flatten().min().copied().expect("learned");
    let spread: Vec<Duration> = learned.iter().flatten().map(|&t| t - first).collect();
    eprintln!(
        "{ns}: {} subscriptions killed; instances learned of the OPEN {spread:?} after the first",
        killed.load(Ordering::Relaxed)
    );
    assert!(
        killed.load(Ordering::Relaxed) >= 4,
        "the subscribers were killed"
    );
    let c = coordinator_config(ns);
    assert!(spread[0] <= c.sync_interval + SLACK && spread[1] <= c.sync_interval + SLACK);
    assert!(spread[2] <= c.poll_interval + SLACK && spread[3] <= c.poll_interval + SLACK);
    for i in 0..n {
        assert!(
            !fleet
                .events(i)
                .iter()
                .any(|(_, e)| !matches!(e, FleetEvent::StateChanged { .. })),
            "instance {i} degraded: {:?}",
            fleet.events(i)
        );
    }
    let failed = sub(fleet.sent(), failed_before);
    assert!(failed.1 >= 40, "{failed:?}");
    window_reaches(&env, ns, add(sent, failed));
    no_call_blocked(ns, &mut fleet);
}

/// One instance behind a blackholed link decides on its local breaker
/// (degraded, admitting) while the others trip the fleet and reject; once
/// its link is back it learns of the OPEN within the reconnection bound.
#[test]
fn one_instance_cut_off_decides_locally_while_the_rest_converge() {
    let _one = one_at_a_time();
    let env = Env::proxied();
    let ns = "partition";
    let direct = format!("redis://127.0.0.1:{}/", env.port);
    let cut = N - 1;
    let behind_proxy = env.url();
    let mut fleet = Fleet::start(N, ns, |i| {
        if i == cut {
            behind_proxy.clone()
        } else {
            direct.clone()
        }
    });
    fleet.connected();
    run_for(&fleet, Traffic::Succeed, Duration::from_millis(200));

    env.proxy().set(Link::Blackhole);
    fleet.traffic_for(cut, Traffic::Succeed);
    wait_until(
        "the cut-off instance degrades",
        Duration::from_secs(10),
        || fleet.instances[cut].coordinator.is_degraded(),
    );
    for i in 0..cut {
        fleet.traffic_for(i, Traffic::Fail);
    }
    wait_until(
        "the connected instances reject",
        Duration::from_secs(10),
        || fleet.first_rejections()[..cut].iter().all(Option::is_some),
    );
    thread::sleep(coordinator_config(ns).sync_interval * 2);
    assert_eq!(fleet.first_rejections()[cut], None, "it decides locally");
    assert_eq!(fleet.instances[cut].breaker.state(), State::Closed);
    assert!(fleet.instances[cut].breaker.fleet().degraded);

    let healed = Instant::now();
    env.proxy().set(Link::Pass);
    wait_until(
        "the cut-off instance learns of the OPEN",
        Duration::from_secs(10),
        || fleet.first_rejections()[cut].is_some(),
    );
    let learned = healed.elapsed();
    eprintln!("{ns}: the cut-off instance rejects {learned:?} after its link is back");
    assert!(learned <= reconnect_bound(), "{learned:?}");
    assert!(!fleet.instances[cut].coordinator.is_degraded());
    no_call_blocked(ns, &mut fleet);
}

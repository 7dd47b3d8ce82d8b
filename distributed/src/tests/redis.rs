//! Tier 1: against a real `redis-server` started by each test (see
//! `server.rs`). The script scenarios of `scenarios.rs` run here on Redis,
//! then what only a real server shows: TTLs, script cache loss, FLUSHALL
//! while OPEN, pub/sub, and a small fleet of instances in one process, each
//! with its own coordinator thread.

use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use seawall::{BreakerConfig, Outcome, RateLimitConfig, State};

use super::params;
use super::scenarios;
use super::server::{wait_for, RedisServer};
use crate::keys::Keys;
use crate::store::redis::{RedisStore, Timeouts};
use crate::store::{FleetKind, Store};
use crate::{
    Coordinator, CoordinatorConfig, DistributedBreaker, FleetConfig, FleetEvent, FleetLimitConfig,
    FleetRateLimiter,
};

fn store(server: &RedisServer) -> RedisStore {
    let mut s = RedisStore::new(
        &server.url(),
        Timeouts {
            connect: Duration::from_secs(1),
            op: Duration::from_secs(1),
            resubscribe_max: Duration::from_millis(200),
        },
    )
    .unwrap();
    s.reconnect().unwrap();
    s
}

fn sleep_ms(ms: u64) {
    // Server time passes in real time; a little more, never less.
    thread::sleep(Duration::from_millis(ms + 5));
}

#[test]
fn every_script_scenario_runs_the_same_on_redis() {
    let server = RedisServer::start();
    let mut s = store(&server);
    scenarios::quorum_trip_trials_close(&mut s, &sleep_ms, "t1");
    scenarios::trial_failure_backs_off(&mut s, &sleep_ms, "t1");
    scenarios::lease_expiry_reopens(&mut s, &sleep_ms, "t1");
    scenarios::commands(&mut s, &sleep_ms, "t1");
    scenarios::window_slides(&mut s, &sleep_ms, "t1");
    scenarios::slow_calls_trip(&mut s, &sleep_ms, "t1");
}

#[test]
fn every_key_has_a_ttl_and_numbers_are_stored_exactly() {
    let server = RedisServer::start();
    let mut s = store(&server);
    let k = Keys::new("ttl", "db").unwrap();
    let p = params(&k, |p| p.min_failing = 1);
    let (v, _) = s.flush(&k, &p, "a", 0, 10, 0).unwrap();
    assert_eq!(v.kind, FleetKind::Open);
    for (key, max) in [
        (&k.state, 60_000),
        (&k.window, 11_000),
        (&k.failing, 10_000),
        (&k.members, 30_000),
        (&k.configs, 30_000),
    ] {
        let ttl: i64 = server.cmd(&["PTTL", key]);
        assert!(
            ttl > 0 && ttl <= max,
            "{key}: PTTL {ttl}, expected in (0, {max}]"
        );
    }
    let keys: Vec<String> = server.cmd(&["KEYS", "*"]);
    assert_eq!(keys.len(), 5, "{keys:?}");
    let open_until: String = server.cmd(&["HGET", &k.state, "open_until"]);
    assert_eq!(
        open_until,
        v.open_until.to_string(),
        "whole milliseconds, no exponent"
    );
    assert!(v.open_until > 1_600_000_000_000);
}

#[test]
fn a_flushed_script_cache_is_reloaded_transparently() {
    let server = RedisServer::start();
    let mut s = store(&server);
    let k = Keys::new("sf", "db").unwrap();
    let p = params(&k, |_| {});
    s.flush(&k, &p, "a", 1, 0, 0).unwrap();
    let () = server.cmd(&["SCRIPT", "FLUSH"]);
    let (_, stats) = s.flush(&k, &p, "a", 1, 0, 0).unwrap();
    assert_eq!(stats.successes, 2);
    let () = server.cmd(&["SCRIPT", "FLUSH"]);
    assert_eq!(s.read(&k).unwrap().kind, FleetKind::Closed);
}

#[test]
fn changes_are_published_on_the_namespace_channel() {
    let server = RedisServer::start();
    let mut sub_con = server.client().get_connection().unwrap();
    let mut sub = sub_con.as_pubsub();
    sub.subscribe("pub:cb:events").unwrap();
    sub.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut s = store(&server);
    let k = Keys::new("pub", "a|b").unwrap();
    let p = params(&k, |p| p.min_failing = 1);
    let (v, _) = s.flush(&k, &p, "a", 0, 10, 0).unwrap();
    let payload: String = sub.get_message().unwrap().get_payload().unwrap();
    let (name, published) = crate::store::parse_published(&payload).unwrap();
    assert_eq!(name, "a|b");
    assert_eq!(
        (published.kind, published.gen, published.epoch),
        (v.kind, v.gen, v.epoch)
    );
    assert_eq!((published.open_until, published.now), (v.open_until, v.now));
}

fn coordinator(server: &RedisServer, ns: &str) -> Coordinator {
    Coordinator::connect(
        &server.url(),
        CoordinatorConfig {
            namespace: ns.into(),
            sync_interval: Duration::from_millis(20),
            poll_interval: Duration::from_millis(200),
            reconnect_min: Duration::from_millis(20),
            reconnect_max: Duration::from_millis(200),
            ..Default::default()
        },
    )
    .unwrap()
}

fn local() -> BreakerConfig {
    BreakerConfig {
        failure_threshold: 12,
        timeout: Duration::from_secs(30),
        ..Default::default()
    }
}

struct Instance {
    coordinator: Coordinator,
    breaker: DistributedBreaker,
}

fn fleet(server: &RedisServer, ns: &str, n: usize, fleet: FleetConfig) -> Vec<Instance> {
    (0..n)
        .map(|_| {
            let coordinator = coordinator(server, ns);
            let breaker =
                DistributedBreaker::new("dep", local(), fleet.clone(), &coordinator).unwrap();
            Instance {
                coordinator,
                breaker,
            }
        })
        .collect()
}

fn connected(instances: &[Instance]) {
    wait_for("every instance connected and seen live", || {
        instances.iter().all(|i| {
            !i.coordinator.is_degraded()
                && i.breaker.fleet().live_instances == instances.len() as u64
        })
    });
}

#[test]
fn a_fleet_trips_together_and_one_sick_instance_trips_alone() {
    let server = RedisServer::start();
    let config = FleetConfig {
        minimum_calls: 10,
        ..Default::default()
    };
    let fleet = fleet(&server, "multi", 4, config);
    connected(&fleet);
    for i in &fleet {
        i.breaker.call(|| Ok::<_, ()>(())).unwrap();
    }
    // Instance 0 fails until its local breaker opens (12 failures): the
    // fleet window holds 12 failures of 16 calls, past minimum_calls and
    // the rate, but only one failing instance.
    for _ in 0..12 {
        let _ = fleet[0].breaker.call(|| Err::<(), _>("down"));
    }
    assert_eq!(fleet[0].breaker.state(), State::Open);
    wait_for("instance 0's failures reach the fleet window", || {
        let s = fleet[0].breaker.fleet();
        s.window_failures == 12 && s.window_successes == 4
    });
    for i in &fleet[1..] {
        assert!(
            i.breaker.try_acquire().is_ok(),
            "a healthy instance still admits"
        );
        assert_eq!(i.breaker.fleet().state, State::Closed);
    }
    // A second instance fails too: the fleet trips, and every instance
    // rejects, the idle ones included.
    for _ in 0..12 {
        let _ = fleet[1].breaker.call(|| Err::<(), _>("down"));
    }
    wait_for("every instance rejects with the fleet OPEN", || {
        fleet.iter().all(|i| {
            i.breaker.fleet().state == State::Open
                && i.breaker
                    .try_acquire()
                    .is_err_and(|r| r.state == State::Open)
        })
    });
    assert_eq!(fleet[3].breaker.local().state(), State::Closed);
}

#[test]
fn fleet_half_open_runs_the_bounded_trials_and_closes_everywhere() {
    let server = RedisServer::start();
    let local = BreakerConfig {
        failure_threshold: 1000,
        timeout: Duration::from_millis(200),
        half_open_max_calls: 1,
        success_threshold: 2,
        ..Default::default()
    };
    let config = FleetConfig {
        minimum_calls: 4,
        min_failing_instances: Some(1),
        ..Default::default()
    };
    let c = coordinator(&server, "ho");
    let b = DistributedBreaker::new("dep", local.clone(), config.clone(), &c).unwrap();
    let c2 = coordinator(&server, "ho");
    let b2 = DistributedBreaker::new("dep", local, config, &c2).unwrap();
    wait_for("connected", || !c.is_degraded() && !c2.is_degraded());
    for _ in 0..4 {
        b.try_acquire().unwrap().record(Outcome::Failure);
    }
    wait_for("both see the fleet OPEN", || {
        b.fleet().state == State::Open && b2.fleet().state == State::Open
    });
    let mut successes = 0;
    wait_for("two trial successes close the fleet", || {
        for br in [&b, &b2] {
            if let Ok(p) = br.try_acquire() {
                if p.is_fleet_trial() {
                    successes += 1;
                }
                p.success();
            }
        }
        b.fleet().state == State::Closed && b2.fleet().state == State::Closed
    });
    assert!(successes >= 2, "{successes}");
    assert!(b.try_acquire().is_ok() && b2.try_acquire().is_ok());
}

#[test]
fn flushall_while_open_starts_a_new_epoch() {
    let server = RedisServer::start();
    let config = FleetConfig {
        minimum_calls: 4,
        min_failing_instances: Some(1),
        ..Default::default()
    };
    let c = coordinator(&server, "wipe");
    let b = DistributedBreaker::new("dep", local(), config, &c).unwrap();
    wait_for("connected", || !c.is_degraded());
    for _ in 0..4 {
        b.try_acquire().unwrap().failure();
    }
    wait_for("the fleet opens", || b.fleet().state == State::Open);
    let old = b.fleet().epoch;
    let () = server.cmd(&["FLUSHALL"]);
    wait_for("the poll sees the state gone", || {
        b.fleet().state == State::Closed
    });
    assert!(b.try_acquire().is_ok(), "no stuck OPEN");
    b.local().reset();
    b.try_acquire().unwrap().success();
    wait_for("a new epoch from generation 0", || {
        let s = b.fleet();
        !s.epoch.is_empty() && s.epoch != old && s.generation == 0
    });
}

#[test]
fn an_unreachable_store_never_blocks_callers_and_recovery_is_announced() {
    let server = RedisServer::start();
    let port = server.port;
    let events = Arc::new(Mutex::new(Vec::new()));
    let c = coordinator(&server, "outage");
    let b = DistributedBreaker::new("dep", local(), FleetConfig::default(), &c).unwrap();
    let ev = Arc::clone(&events);
    b.add_fleet_listener(move |_, e| ev.lock().unwrap().push(e.clone()));
    wait_for("connected", || !c.is_degraded());
    drop(server);
    wait_for("degraded", || c.is_degraded());
    for _ in 0..1000 {
        b.try_acquire().unwrap().success();
    }
    assert!(events
        .lock()
        .unwrap()
        .iter()
        .any(|e| matches!(e, FleetEvent::Degraded { .. })));
    let _server = RedisServer::start_on(port);
    wait_for("recovered", || {
        events.lock().unwrap().contains(&FleetEvent::Recovered)
    });
    assert!(!c.is_degraded());
    b.try_acquire().unwrap().success();
    wait_for("flushes resume without the outage's counts", || {
        let s = b.fleet();
        s.flushes > 0 && s.window_successes == 1
    });
}

#[test]
fn a_coordinator_without_a_server_starts_degraded_and_admits() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let c = Coordinator::connect(
        &format!("redis://127.0.0.1:{port}/"),
        CoordinatorConfig::default(),
    )
    .unwrap();
    let b = DistributedBreaker::new("dep", local(), FleetConfig::default(), &c).unwrap();
    assert!(c.is_degraded());
    for _ in 0..100 {
        b.try_acquire().unwrap().success();
    }
    assert!(matches!(
        Coordinator::connect("http://nope", CoordinatorConfig::default()),
        Err(crate::Error::Store(_))
    ));
}

#[test]
fn one_shared_coordinator_per_url_and_namespace() {
    let server = RedisServer::start();
    let config = |ns: &str| CoordinatorConfig {
        namespace: ns.into(),
        ..Default::default()
    };
    let a = Coordinator::shared(&server.url(), config("s1")).unwrap();
    let b = Coordinator::shared(&server.url(), config("s1")).unwrap();
    let c = Coordinator::shared(&server.url(), config("s2")).unwrap();
    assert_eq!(a.instance_id(), b.instance_id());
    assert_ne!(a.instance_id(), c.instance_id());
    let id = a.instance_id().to_owned();
    drop((a, b));
    let again = Coordinator::shared(&server.url(), config("s1")).unwrap();
    assert_ne!(
        again.instance_id(),
        id,
        "a new one once the last user is gone"
    );
}

#[test]
fn a_least_privilege_acl_user_is_enough() {
    let server = RedisServer::start();
    server.add_fleet_user("acl", &[]);
    let url = format!("redis://fleet:secret@127.0.0.1:{}/", server.port);
    let config = CoordinatorConfig {
        namespace: "acl".into(),
        sync_interval: Duration::from_millis(20),
        ..Default::default()
    };
    let c = Coordinator::connect(&url, config.clone()).unwrap();
    let fleet = FleetConfig {
        minimum_calls: 4,
        min_failing_instances: Some(1),
        ..Default::default()
    };
    let b = DistributedBreaker::new("dep", local(), fleet.clone(), &c).unwrap();
    let c2 = Coordinator::connect(&url, config).unwrap();
    let b2 = DistributedBreaker::new("dep", local(), fleet, &c2).unwrap();
    wait_for("connected", || !c.is_degraded() && !c2.is_degraded());
    for _ in 0..4 {
        b.try_acquire().unwrap().failure();
    }
    wait_for(
        "the fleet opens, and the other instance hears of it",
        || b2.try_acquire().is_err_and(|r| r.state == State::Open),
    );
    b.force_closed();
    wait_for("commands pass too", || b2.state() == State::ForcedClosed);
    // The fleet rate limiter's lease needs nothing more.
    let limit = RateLimitConfig {
        rate: 1000,
        period: Duration::from_secs(1),
        burst: 100,
        ..Default::default()
    };
    let l = FleetRateLimiter::new("api", limit, FleetLimitConfig::default(), &c).unwrap();
    wait_for("a lease is granted", || l.status().granted > 0);
    assert!(!c.is_degraded());
    // The same user outside its namespace is refused.
    let outside = CoordinatorConfig {
        namespace: "other".into(),
        ..Default::default()
    };
    let c3 = Coordinator::connect(&url, outside).unwrap();
    let b3 = DistributedBreaker::new("dep", local(), FleetConfig::default(), &c3).unwrap();
    thread::sleep(Duration::from_millis(300));
    assert!(c3.is_degraded(), "keys outside ~acl:* are refused");
    assert!(b3.try_acquire().is_ok(), "and the instance decides locally");
}

#[test]
fn a_hung_server_degrades_without_blocking_callers_and_recovers() {
    let server = RedisServer::start();
    let events = Arc::new(Mutex::new(Vec::new()));
    let c = coordinator(&server, "hung");
    let b = DistributedBreaker::new("dep", local(), FleetConfig::default(), &c).unwrap();
    let ev = Arc::clone(&events);
    b.add_fleet_listener(move |_, e| ev.lock().unwrap().push(e.clone()));
    wait_for("connected", || !c.is_degraded());
    server.signal("STOP");
    // The next tick's operation times out (op_timeout, 100 ms).
    wait_for("degraded", || c.is_degraded());
    for _ in 0..10_000 {
        b.try_acquire().unwrap().success();
    }
    server.signal("CONT");
    wait_for("recovered", || {
        events.lock().unwrap().contains(&FleetEvent::Recovered)
    });
    b.try_acquire().unwrap().failure();
    wait_for("the outage's successes are not replayed", || {
        let s = b.fleet();
        s.window_failures == 1 && s.window_successes == 0
    });
}

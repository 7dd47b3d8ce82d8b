//! An in-process fleet for the fault tests: instances (a coordinator and a
//! distributed breaker each, as separate processes would have), a caller
//! thread per instance making a call every millisecond and timing its
//! `try_acquire` + `record`, and each breaker's fleet events.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use seawall::{BreakerConfig, Outcome};

use crate::common::server::wait_until;
use seawall_distributed::{
    Coordinator, CoordinatorConfig, DistributedBreaker, FleetConfig, FleetEvent,
};

/// What a caller thread does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Traffic {
    Stop = 0,
    Succeed = 1,
    /// Calls recorded as ignored: timed, but never counted.
    Ignore = 2,
    Fail = 3,
    Quit = 4,
}

/// The coordinators' settings: the defaults, with a shorter poll and
/// reconnect back-off so a test takes seconds.
pub fn coordinator_config(ns: &str) -> CoordinatorConfig {
    CoordinatorConfig {
        namespace: ns.into(),
        sync_interval: Duration::from_millis(100),
        poll_interval: Duration::from_millis(500),
        op_timeout: Duration::from_millis(100),
        connect_timeout: Duration::from_millis(250),
        reconnect_min: Duration::from_millis(20),
        reconnect_max: Duration::from_millis(200),
    }
}

/// The local breakers never trip on their own here: every trip is the
/// fleet's.
pub fn local_config() -> BreakerConfig {
    BreakerConfig {
        failure_threshold: 100_000,
        timeout: Duration::from_secs(5),
        ..Default::default()
    }
}

/// Trips on 40 failures in a 30 s window, from 2 or more instances.
pub fn fleet_config() -> FleetConfig {
    FleetConfig {
        window: Duration::from_secs(30),
        failure_rate_threshold: None,
        failure_count_threshold: Some(40),
        minimum_calls: 40,
        ..Default::default()
    }
}

struct CallerShared {
    traffic: AtomicU8,
    /// The traffic of the caller's last finished iteration.
    acted: AtomicU8,
    successes: AtomicU64,
    failures: AtomicU64,
    /// Microseconds since `epoch` of the first rejection since the traffic
    /// last changed (0: none yet).
    first_rejection: AtomicU64,
    latencies: Mutex<Vec<u64>>,
}

pub struct Instance {
    pub coordinator: Coordinator,
    pub breaker: Arc<DistributedBreaker>,
    events: Arc<Mutex<Vec<(Instant, FleetEvent)>>>,
    caller: Arc<CallerShared>,
    thread: Option<JoinHandle<()>>,
}

pub struct Fleet {
    pub instances: Vec<Instance>,
    epoch: Instant,
}

impl Fleet {
    /// `n` instances, instance `i` reaching Redis at `url(i)`.
    pub fn start(n: usize, ns: &str, url: impl Fn(usize) -> String) -> Self {
        let epoch = Instant::now();
        let instances = (0..n)
            .map(|i| {
                let coordinator =
                    Coordinator::connect(&url(i), coordinator_config(ns)).expect("a valid URL");
                let breaker = Arc::new(
                    DistributedBreaker::new("dep", local_config(), fleet_config(), &coordinator)
                        .expect("a valid configuration"),
                );
                let events: Arc<Mutex<Vec<(Instant, FleetEvent)>>> = Arc::default();
                let ev = events.clone();
                breaker.add_fleet_listener(move |_, e| {
                    ev.lock().unwrap().push((Instant::now(), e.clone()))
                });
                let caller = Arc::new(CallerShared {
                    traffic: AtomicU8::new(Traffic::Stop as u8),
                    acted: AtomicU8::new(Traffic::Stop as u8),
                    successes: AtomicU64::new(0),
                    failures: AtomicU64::new(0),
                    first_rejection: AtomicU64::new(0),
                    latencies: Mutex::new(Vec::new()),
                });
                let (b, c) = (breaker.clone(), caller.clone());
                let thread = thread::spawn(move || call_loop(&b, &c, epoch));
                Instance {
                    coordinator,
                    breaker,
                    events,
                    caller,
                    thread: Some(thread),
                }
            })
            .collect();
        Self { instances, epoch }
    }

    /// Waits until every instance is connected and sees every other live.
    pub fn connected(&self) {
        let n = self.instances.len() as u64;
        wait_until(
            "every instance connected and live",
            Duration::from_secs(10),
            || {
                self.instances
                    .iter()
                    .all(|i| !i.coordinator.is_degraded() && i.breaker.fleet().live_instances == n)
            },
        );
    }

    /// Sets every caller's traffic and waits until each acts on it (its
    /// call in progress, if any, is finished).
    pub fn traffic(&self, t: Traffic) {
        for i in 0..self.instances.len() {
            self.traffic_for(i, t);
        }
    }

    pub fn traffic_for(&self, i: usize, t: Traffic) {
        let c = &self.instances[i].caller;
        // Relaxed: the caller polls it; `acted` reports back.
        c.first_rejection.store(0, Ordering::Relaxed);
        c.traffic.store(t as u8, Ordering::Relaxed);
        wait_until(
            "the caller acts on its traffic",
            Duration::from_secs(5),
            || c.acted.load(Ordering::Acquire) == t as u8,
        );
    }

    /// Successes and failures the callers recorded, all instances.
    pub fn sent(&self) -> (u64, u64) {
        self.instances.iter().fold((0, 0), |(s, f), i| {
            (
                s + i.caller.successes.load(Ordering::Relaxed),
                f + i.caller.failures.load(Ordering::Relaxed),
            )
        })
    }

    /// Each caller's first rejection since its traffic changed, as time
    /// since the fleet started.
    pub fn first_rejections(&self) -> Vec<Option<Duration>> {
        self.instances
            .iter()
            .map(|i| match i.caller.first_rejection.load(Ordering::Relaxed) {
                0 => None,
                us => Some(Duration::from_micros(us)),
            })
            .collect()
    }

    /// The fleet's start, the origin of `first_rejections`.
    pub fn epoch(&self) -> Instant {
        self.epoch
    }

    /// Every timed call so far (nanoseconds), all instances.
    pub fn latencies(&self) -> Vec<u64> {
        self.instances
            .iter()
            .flat_map(|i| i.caller.latencies.lock().unwrap().clone())
            .collect()
    }

    pub fn events(&self, i: usize) -> Vec<(Instant, FleetEvent)> {
        self.instances[i].events.lock().unwrap().clone()
    }

    /// Stops the callers and joins them (a panic in one fails the test);
    /// `latencies` then holds every call.
    pub fn stop(&mut self) {
        for i in &mut self.instances {
            i.caller
                .traffic
                .store(Traffic::Quit as u8, Ordering::Relaxed);
            if let Some(t) = i.thread.take() {
                t.join().expect("a caller thread panicked");
            }
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for i in &self.instances {
            i.caller
                .traffic
                .store(Traffic::Quit as u8, Ordering::Relaxed);
        }
    }
}

fn call_loop(b: &DistributedBreaker, c: &CallerShared, epoch: Instant) {
    let mut latencies = Vec::new();
    loop {
        let t = c.traffic.load(Ordering::Relaxed);
        let outcome = match t {
            t if t == Traffic::Quit as u8 => break,
            t if t == Traffic::Succeed as u8 => Outcome::Success,
            t if t == Traffic::Fail as u8 => Outcome::Failure,
            t if t == Traffic::Ignore as u8 => Outcome::Ignored,
            _ => {
                // Release: what this caller recorded happens before the
                // test's Acquire load of `acted` sees this traffic.
                c.acted.store(t, Ordering::Release);
                thread::sleep(Duration::from_millis(1));
                continue;
            }
        };
        let start = Instant::now();
        match b.try_acquire() {
            Ok(p) => {
                p.record(outcome);
                latencies.push(start.elapsed().as_nanos() as u64);
                // Relaxed: tallies, read after `acted` (Acquire) or at the end.
                match outcome {
                    Outcome::Success => c.successes.fetch_add(1, Ordering::Relaxed),
                    Outcome::Failure => c.failures.fetch_add(1, Ordering::Relaxed),
                    Outcome::Ignored => 0,
                };
            }
            Err(_) => {
                latencies.push(start.elapsed().as_nanos() as u64);
                let us = epoch.elapsed().as_micros() as u64;
                let _ = c.first_rejection.compare_exchange(
                    0,
                    us.max(1),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
            }
        }
        if latencies.len() >= 64 {
            c.latencies.lock().unwrap().append(&mut latencies);
        }
        c.acted.store(t, Ordering::Release);
        thread::sleep(Duration::from_millis(1));
    }
    c.latencies.lock().unwrap().append(&mut latencies);
}

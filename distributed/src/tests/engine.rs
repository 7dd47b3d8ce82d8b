//! Tier 0: distributed breakers and their coordinators, driven step by step
//! against the in-memory store on manual clocks (the store's server clock
//! and the instances' local clock move together).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use seawall::telemetry::Catalog;
use seawall::{BreakerConfig, ManualClock, Outcome, State};

use crate::coordinator::{Coordinator, Engine};
use crate::store::memory::MemoryStore;
use crate::store::Store;
use crate::{CoordinatorConfig, DistributedBreaker, FleetConfig, FleetEvent, FleetTicket};

pub(crate) struct Fleet {
    pub store: MemoryStore,
    pub clock: ManualClock,
    pub engines: Vec<Mutex<Engine>>,
    pub breakers: Vec<DistributedBreaker<ManualClock>>,
    pub events: Arc<Mutex<Vec<(usize, FleetEvent)>>>,
}

/// A local breaker that never trips by itself unless a test says so.
pub(crate) fn patient() -> BreakerConfig {
    BreakerConfig {
        failure_threshold: u32::MAX,
        timeout: Duration::from_secs(1),
        half_open_max_calls: 2,
        success_threshold: 2,
        ..Default::default()
    }
}

pub(crate) fn fleet_config() -> FleetConfig {
    FleetConfig {
        minimum_calls: 10,
        ..Default::default()
    }
}

impl Fleet {
    pub(crate) fn new(n: usize, local: BreakerConfig, fleet: FleetConfig) -> Self {
        let store = MemoryStore::new();
        store.set_now_ms(1_700_000_000_000);
        let clock = ManualClock::new();
        let events = Arc::new(Mutex::new(Vec::new()));
        let mut engines = Vec::new();
        let mut breakers = Vec::new();
        for i in 0..n {
            let (c, e) =
                Coordinator::manual(Box::new(store.clone()), CoordinatorConfig::default()).unwrap();
            let b = DistributedBreaker::with_clock(
                "dep",
                local.clone(),
                fleet.clone(),
                &c,
                clock.clone(),
            )
            .unwrap();
            let ev = Arc::clone(&events);
            b.add_fleet_listener(move |_, e| ev.lock().unwrap().push((i, e.clone())));
            engines.push(Mutex::new(e));
            breakers.push(b);
        }
        let f = Self {
            store,
            clock,
            engines,
            breakers,
            events,
        };
        f.step_all();
        f
    }

    pub(crate) fn step(&self, i: usize) {
        self.engines[i].lock().unwrap().step();
    }

    pub(crate) fn step_all(&self) {
        for e in &self.engines {
            e.lock().unwrap().step();
        }
    }

    pub(crate) fn advance(&self, d: Duration) {
        self.clock.advance(d);
        self.store.advance_ms(d.as_millis() as i64);
    }

    /// Records `n` outcomes through instance `i`; panics if one is rejected.
    pub(crate) fn record(&self, i: usize, outcome: Outcome, n: usize) {
        for _ in 0..n {
            self.breakers[i].try_acquire().unwrap().record(outcome);
        }
    }

    pub(crate) fn rejection(&self, i: usize) -> Option<State> {
        self.breakers[i].try_acquire().err().map(|r| r.state)
    }

    pub(crate) fn events(&self) -> Vec<(usize, FleetEvent)> {
        self.events.lock().unwrap().clone()
    }
}

#[test]
fn two_failing_instances_trip_the_fleet_and_every_instance_rejects() {
    let f = Fleet::new(3, patient(), fleet_config());
    f.record(2, Outcome::Success, 5);
    f.record(0, Outcome::Failure, 10);
    f.record(1, Outcome::Failure, 10);
    f.step(2);
    f.step(0);
    assert_eq!(
        f.breakers[0].fleet().state,
        State::Closed,
        "one failing instance"
    );
    f.step(1);
    assert_eq!(f.breakers[1].fleet().state, State::Open);
    // Instance 1 knows from its own flush, 0 and 2 from the published
    // change (their next step reads the queue first).
    assert_eq!(f.rejection(1), Some(State::Open));
    f.step(0);
    f.step(2);
    for i in 0..3 {
        let r = f.breakers[i].try_acquire().unwrap_err();
        assert_eq!(r.state, State::Open, "instance {i}");
        assert_eq!(r.retry_after, Some(Duration::from_secs(1)));
        assert_eq!(f.breakers[i].state(), State::Open);
        assert_eq!(
            f.breakers[i].local().state(),
            State::Closed,
            "the local breaker is untouched"
        );
    }
    assert_eq!(f.breakers[2].metrics().rejected, 1);
    let changes: Vec<_> = f
        .events()
        .into_iter()
        .filter(|(_, e)| {
            matches!(
                e,
                FleetEvent::StateChanged {
                    to: State::Open,
                    ..
                }
            )
        })
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        changes.len(),
        3,
        "every instance reports the fleet trip once: {changes:?}"
    );
}

#[test]
fn one_sick_instance_trips_alone() {
    let local = BreakerConfig {
        failure_threshold: 12,
        ..patient()
    };
    let f = Fleet::new(3, local, fleet_config());
    f.record(1, Outcome::Success, 1);
    f.record(0, Outcome::Failure, 12);
    assert_eq!(
        f.rejection(0),
        Some(State::Open),
        "its local breaker opened"
    );
    f.step_all();
    f.step_all();
    assert_eq!(f.breakers[1].fleet().state, State::Closed);
    // 12 of 13 calls failed, past minimum_calls (10) and the rate: only the
    // quorum of two failing instances keeps the fleet closed.
    let s = f.breakers[0].fleet();
    assert_eq!(
        (s.window_failures, s.window_successes, s.failing_instances),
        (12, 1, 1)
    );
    assert!(f.breakers[1].try_acquire().is_ok());
    assert!(f.breakers[2].try_acquire().is_ok());
    assert_eq!(f.rejection(0), Some(State::Open));
}

#[test]
fn fleet_half_open_admits_at_most_the_bound_then_closes_everywhere() {
    let f = Fleet::new(3, patient(), fleet_config());
    f.record(0, Outcome::Failure, 10);
    f.record(1, Outcome::Failure, 10);
    f.step_all();
    f.step_all();
    f.advance(Duration::from_secs(1));
    // Past the open time, calls ask for trial permits.
    for i in 0..3 {
        assert_eq!(
            f.rejection(i),
            Some(State::HalfOpen),
            "no permit leased yet"
        );
    }
    f.step_all();
    let mut trials = Vec::new();
    for b in &f.breakers {
        while let Ok(p) = b.try_acquire() {
            assert!(p.is_fleet_trial());
            trials.push(p);
        }
    }
    assert_eq!(
        trials.len(),
        2,
        "half_open_max_calls across the whole fleet"
    );
    for p in trials.drain(..) {
        p.success();
    }
    f.step_all();
    f.step_all();
    for i in 0..3 {
        assert_eq!(f.breakers[i].fleet().state, State::Closed, "instance {i}");
        assert!(f.breakers[i].try_acquire().is_ok());
    }
}

#[test]
fn a_trial_failure_reopens_and_late_results_are_fenced() {
    let f = Fleet::new(2, patient(), fleet_config());
    f.record(0, Outcome::Failure, 10);
    f.record(1, Outcome::Failure, 10);
    f.step_all();
    f.step_all();
    f.advance(Duration::from_secs(1));
    assert_eq!(f.rejection(0), Some(State::HalfOpen));
    assert_eq!(f.rejection(1), Some(State::HalfOpen));
    f.step_all();
    let a = f.breakers[0].try_acquire().unwrap();
    let b = f.breakers[1].try_acquire().unwrap();
    assert!(a.is_fleet_trial() && b.is_fleet_trial());
    b.failure();
    f.step(1);
    assert_eq!(f.breakers[1].fleet().state, State::Open);
    // Instance 0's trial ends after the fleet reopened: its success must
    // not close anything.
    a.success();
    f.step(0);
    f.step_all();
    assert_eq!(f.breakers[0].fleet().state, State::Open);
    assert_eq!(f.rejection(0), Some(State::Open));
    assert_eq!(f.breakers[0].fleet().generation, 3);
}

#[test]
fn export_adds_the_local_books_the_fleet_state_and_the_store_health() {
    let f = Fleet::new(2, patient(), fleet_config());
    f.record(0, Outcome::Failure, 10);
    f.record(1, Outcome::Failure, 10);
    f.step_all();
    f.step_all();
    assert_eq!(f.rejection(0), Some(State::Open));
    f.store.set_down(true);
    f.step_all();
    let b = &f.breakers[0];
    let mut c = Catalog::new();
    b.export(&mut c);
    let families = c.finish();
    let v = |family: &str, labels: &[(&str, &str)]| {
        let f = families.iter().find(|f| f.name == family).unwrap();
        let s = f.samples.iter().find(|s| s.labels == labels).unwrap();
        assert_eq!(&*s.name, b.name());
        s.value
    };
    let state = "seawall_breaker_fleet_state";
    assert_eq!(v(state, &[("state", "open")]), 1.0);
    assert_eq!(v(state, &[("state", "closed")]), 0.0);
    assert_eq!(v("seawall_breaker_fleet_degraded", &[]), 1.0);
    assert_eq!(v("seawall_breaker_calls", &[("outcome", "failure")]), 10.0);
    // The fleet's rejections are the breaker's.
    let rejected = b.metrics().rejected;
    assert!(rejected >= 1);
    assert_eq!(v("seawall_breaker_rejected_calls", &[]), rejected as f64);
    f.store.set_down(false);
    f.step_all();
    let mut c = Catalog::new();
    b.export(&mut c);
    let families = c.finish();
    let degraded = families
        .iter()
        .find(|f| f.name == "seawall_breaker_fleet_degraded")
        .unwrap();
    assert_eq!(degraded.samples[0].value, 0.0);
}

#[test]
fn listeners_and_breakers_that_come_during_an_outage_hear_of_it_once() {
    let store = MemoryStore::new();
    let (c, mut engine) =
        Coordinator::manual(Box::new(store.clone()), CoordinatorConfig::default()).unwrap();
    let clock = ManualClock::new();
    let breaker = |name: &str| {
        DistributedBreaker::with_clock(name, patient(), fleet_config(), &c, clock.clone()).unwrap()
    };
    let heard = Arc::new(Mutex::new(Vec::new()));
    let listen = |b: &DistributedBreaker<ManualClock>| {
        let heard = Arc::clone(&heard);
        b.add_fleet_listener(move |name, e| {
            heard.lock().unwrap().push((name.to_string(), e.clone()))
        });
    };
    let early = breaker("early");
    engine.step();
    store.set_down(true);
    engine.step(); // the outage is announced to `early`, which no one listens to yet
    assert!(early.fleet().degraded);
    listen(&early); // told at once
    let late = breaker("late");
    listen(&late);
    engine.step(); // a failed reconnection: `late` is told now
    engine.step(); // and not again
    assert!(late.fleet().degraded);
    let names = |pick: fn(&FleetEvent) -> bool| {
        let mut v: Vec<String> = heard
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, e)| pick(e))
            .map(|(n, _)| n.clone())
            .collect();
        v.sort();
        v
    };
    let degraded = |e: &FleetEvent| matches!(e, FleetEvent::Degraded { .. });
    assert_eq!(names(degraded), ["early", "late"]);
    store.set_down(false);
    engine.step();
    assert!(!late.fleet().degraded);
    assert_eq!(names(|e| *e == FleetEvent::Recovered), ["early", "late"]);
    // A listener added after the recovery hears of no outage.
    listen(&late);
    engine.step();
    assert_eq!(names(degraded), ["early", "late"]);
}

#[test]
fn degraded_mode_keeps_a_known_open_then_decides_locally_and_recovers() {
    let f = Fleet::new(2, patient(), fleet_config());
    f.record(0, Outcome::Failure, 10);
    f.record(1, Outcome::Failure, 10);
    f.step_all();
    f.step_all();
    f.store.set_down(true);
    f.step_all();
    assert!(f.breakers[0].fleet().degraded);
    assert!(f
        .events()
        .iter()
        .any(|(i, e)| *i == 0 && matches!(e, FleetEvent::Degraded { .. })));
    assert_eq!(
        f.rejection(0),
        Some(State::Open),
        "the fleet OPEN holds until its deadline"
    );
    f.advance(Duration::from_secs(1));
    // Past the deadline the local breaker decides alone: no trial permit
    // is needed (none can be had).
    f.record(0, Outcome::Failure, 50);
    assert_eq!(f.breakers[0].state(), State::Closed);
    f.store.set_down(false);
    f.step_all();
    assert!(!f.breakers[0].fleet().degraded);
    assert!(f
        .events()
        .iter()
        .any(|(i, e)| *i == 0 && *e == FleetEvent::Recovered));
    // The outage's 50 failures are not replayed.
    let flushes = f.breakers[0].fleet().flushes;
    f.step(0);
    assert_eq!(
        f.breakers[0].fleet().flushes,
        flushes,
        "nothing of the outage is flushed"
    );
    let sh = f.breakers[0].shared();
    let (_, stats) = f
        .store
        .clone()
        .flush(&sh.keys, &sh.params, "probe", 0, 0, 0)
        .unwrap();
    assert_eq!((stats.failures, stats.successes), (20, 0));
}

#[test]
fn operator_commands_apply_locally_at_once_and_fleet_wide_after_a_step() {
    let f = Fleet::new(2, patient(), fleet_config());
    f.breakers[0].force_open();
    assert_eq!(
        f.breakers[0].state(),
        State::ForcedOpen,
        "at once, before any I/O"
    );
    f.step(0);
    f.step(1);
    assert_eq!(f.breakers[1].state(), State::ForcedOpen);
    assert_eq!(f.rejection(1), Some(State::ForcedOpen));
    f.breakers[1].force_closed();
    f.step(1);
    f.step(0);
    assert_eq!(f.breakers[0].state(), State::ForcedClosed);
    f.breakers[0].reset();
    f.step(0);
    f.step(1);
    assert_eq!(f.breakers[1].state(), State::Closed);
    assert_eq!(
        f.breakers[0].local().metrics().transitions.to_forced_open,
        1,
        "applied once"
    );
}

#[test]
fn a_command_not_sent_yet_is_not_undone_by_an_earlier_one_heard_meanwhile() {
    let f = Fleet::new(2, patient(), fleet_config());
    // Another instance's reset, published; then this instance's operator
    // forces it open, before its coordinator has sent the command.
    f.breakers[1].reset();
    f.step(1);
    f.breakers[0].force_open();
    // The step hears the earlier reset first: it must not reset the local
    // breaker (calls would slip through until the command's own answer).
    f.step(0);
    assert_eq!(f.breakers[0].state(), State::ForcedOpen);
    let t = f.breakers[0].local().metrics().transitions;
    assert_eq!(
        (t.to_forced_open, t.to_closed),
        (1, 0),
        "never undone meanwhile"
    );
    f.step(1);
    assert_eq!(
        f.breakers[1].state(),
        State::ForcedOpen,
        "the later command wins"
    );
}

#[test]
fn a_wiped_store_starts_a_new_epoch_and_nothing_stays_stuck() {
    let f = Fleet::new(2, patient(), fleet_config());
    f.record(0, Outcome::Failure, 10);
    f.record(1, Outcome::Failure, 10);
    f.step_all();
    f.step_all();
    let before = f.breakers[0].fleet();
    assert_eq!((before.state, before.generation), (State::Open, 1));
    f.store.flush_all();
    f.step_all();
    let after = f.breakers[0].fleet();
    assert_eq!(after.state, State::Closed);
    assert!(f.breakers[0].try_acquire().is_ok());
    f.record(0, Outcome::Success, 1);
    f.step(0);
    let s = f.breakers[0].fleet();
    assert_eq!((s.state, s.generation), (State::Closed, 0));
    assert!(!s.epoch.is_empty() && s.epoch != before.epoch);
}

#[test]
fn a_burst_of_failures_or_a_local_trip_wakes_the_coordinator() {
    let fleet = FleetConfig {
        urgent_failures: Some(5),
        ..fleet_config()
    };
    let local = BreakerConfig {
        failure_threshold: 3,
        ..patient()
    };
    let f = Fleet::new(2, local, fleet.clone());
    let inner = f.breakers[0].coordinator().inner().clone();
    inner.take_urgent();
    f.record(0, Outcome::Failure, 2);
    assert!(!inner.take_urgent(), "two failures: no hurry yet");
    f.record(0, Outcome::Failure, 1);
    assert!(inner.take_urgent(), "the local trip asks for a flush");

    let f = Fleet::new(1, patient(), fleet);
    let inner = f.breakers[0].coordinator().inner().clone();
    inner.take_urgent();
    f.record(0, Outcome::Failure, 4);
    assert!(!inner.take_urgent());
    f.record(0, Outcome::Failure, 1);
    assert!(
        inner.take_urgent(),
        "urgent_failures failures since the last flush"
    );
}

#[test]
fn an_outcome_counts_once_whatever_the_permit_path() {
    let f = Fleet::new(1, patient(), fleet_config());
    let p = f.breakers[0].try_acquire().unwrap();
    drop(p);
    f.breakers[0]
        .try_acquire()
        .unwrap()
        .record(Outcome::Ignored);
    let m = f.breakers[0].metrics();
    assert_eq!((m.permitted, m.ignored, m.successes), (2, 2, 0));
}

#[test]
fn detached_tickets_report_like_permits_trials_included() {
    let f = Fleet::new(2, patient(), fleet_config());
    let t = f.breakers[0].try_acquire().unwrap().into_ticket();
    f.breakers[0].record(t, Outcome::Failure);
    assert_eq!(f.breakers[0].metrics().failures, 1);
    f.record(0, Outcome::Failure, 9);
    f.record(1, Outcome::Failure, 10);
    f.step_all();
    f.step_all();
    f.advance(Duration::from_secs(1));
    assert_eq!(f.rejection(0), Some(State::HalfOpen));
    assert_eq!(f.rejection(1), Some(State::HalfOpen));
    f.step_all();
    let p = f.breakers[0].try_acquire().unwrap();
    assert!(p.is_fleet_trial());
    // Through its raw parts, as a binding stores it, timed by the caller.
    let (episode, start, trial) = p.into_ticket().into_parts();
    assert!(trial.is_some());
    let t = FleetTicket::from_parts(episode, start, trial);
    f.breakers[0].record_elapsed(t, Outcome::Success, Duration::from_millis(1));
    let p = f.breakers[1].try_acquire().unwrap();
    assert!(p.is_fleet_trial());
    f.breakers[1].record(p.into_ticket(), Outcome::Success);
    f.step_all();
    f.step_all();
    assert_eq!(
        f.breakers[0].fleet().state,
        State::Closed,
        "two trial successes closed it"
    );
    f.breakers[0].clear_metrics();
    assert_eq!(f.breakers[0].metrics().rejected, 0);
}

#[test]
fn instances_configured_differently_hear_of_it_once_per_other_configuration() {
    let f = Fleet::new(2, patient(), fleet_config());
    f.step_all();
    assert!(f.events().is_empty(), "the same settings: no warning");
    assert_eq!(f.breakers[0].fleet().config_conflicts, 0);
    // A third instance joins with another minimum_calls (a rolling deploy).
    let (c, e) =
        Coordinator::manual(Box::new(f.store.clone()), CoordinatorConfig::default()).unwrap();
    let other = FleetConfig {
        minimum_calls: 20,
        ..fleet_config()
    };
    let b = DistributedBreaker::with_clock("dep", patient(), other, &c, f.clock.clone()).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = Arc::clone(&seen);
    b.add_fleet_listener(move |_, ev| s.lock().unwrap().push(ev.clone()));
    let mut e = e;
    for _ in 0..3 {
        e.step();
        f.step_all();
    }
    let mismatches = |events: &[FleetEvent]| {
        events
            .iter()
            .filter(|ev| matches!(ev, FleetEvent::ConfigMismatch { .. }))
            .count()
    };
    let theirs = f.events().into_iter().map(|(_, ev)| ev).collect::<Vec<_>>();
    assert_eq!(
        mismatches(&theirs),
        2,
        "once on each old instance: {theirs:?}"
    );
    assert_eq!(mismatches(&seen.lock().unwrap()), 1, "once on the new one");
    let FleetEvent::ConfigMismatch {
        ours,
        theirs: other_fp,
    } = seen.lock().unwrap()[0].clone()
    else {
        unreachable!()
    };
    assert_ne!(ours, other_fp);
    assert!(b.fleet().config_conflicts >= 2, "counted at every flush");
}

#[test]
fn slow_calls_on_two_instances_trip_the_fleet() {
    let local = BreakerConfig {
        slow_call_duration: Some(Duration::from_millis(100)),
        ..patient()
    };
    let fleet = FleetConfig {
        failure_rate_threshold: None,
        failure_count_threshold: Some(1_000),
        slow_call_rate_threshold: Some(0.5),
        ..fleet_config()
    };
    let f = Fleet::new(2, local.clone(), fleet.clone());
    for i in 0..2 {
        for _ in 0..5 {
            let p = f.breakers[i].try_acquire().unwrap();
            f.clock.advance(Duration::from_millis(150));
            p.record(Outcome::Success);
        }
    }
    f.step_all();
    f.step_all();
    assert_eq!(f.rejection(0), Some(State::Open));
    assert_eq!(f.rejection(1), Some(State::Open));
    // A duration the caller measured decides as the breaker's own would.
    f.breakers[0].reset();
    f.step_all();
    let t = f.breakers[0].try_acquire().unwrap().into_ticket();
    f.breakers[0].record_elapsed(t, Outcome::Success, Duration::from_millis(150));
    let t = f.breakers[0].try_acquire().unwrap().into_ticket();
    f.breakers[0].record_elapsed(t, Outcome::Success, Duration::from_millis(50));
    assert_eq!(f.breakers[0].metrics().slow_calls, 5 + 1);
    // The rule needs the local breaker to time calls.
    let (c, _e) =
        Coordinator::manual(Box::new(f.store.clone()), CoordinatorConfig::default()).unwrap();
    let err =
        DistributedBreaker::with_clock("dep2", patient(), fleet, &c, f.clock.clone()).unwrap_err();
    assert!(err.to_string().contains("slow_call_duration"), "{err}");
}

//! Script scenarios written once against the `Store` trait and run on both
//! stores: the in-memory one (here, tier 0) and Redis (`redis.rs`, tier 1),
//! which keeps the in-memory store's semantics equal to the Lua scripts'.

use super::params;
use crate::keys::Keys;
use crate::store::memory::MemoryStore;
use crate::store::{Command, FleetKind, Store, TrialResults, View};

/// Lets server time pass: exact on the memory store, a sleep on Redis.
pub(crate) type Advance<'a> = &'a dyn Fn(u64);

fn left(v: &View) -> i64 {
    v.open_until - v.now
}

fn results(gen: u64, successes: u64, failures: u64, freed: u64) -> TrialResults {
    TrialResults {
        gen,
        successes,
        failures,
        freed,
    }
}

/// Quorum, trip, the trial-permit bound, fencing, closing.
pub(crate) fn quorum_trip_trials_close(store: &mut dyn Store, advance: Advance<'_>, ns: &str) {
    let k = Keys::new(ns, "quorum").unwrap();
    let p = params(&k, |_| {});
    assert_eq!(store.read(&k).unwrap().epoch, "", "nothing stored yet");
    for inst in ["a", "b", "c"] {
        let (v, _) = store.flush(&k, &p, inst, 50, 0, 0).unwrap();
        assert_eq!((v.kind, v.gen), (FleetKind::Closed, 0));
        assert!(v.epoch.starts_with("n0."), "{}", v.epoch);
    }
    // One instance fails alone: 200 of 350 calls, but only one failing
    // instance of three live ones.
    let (v, s) = store.flush(&k, &p, "a", 0, 200, 0).unwrap();
    assert_eq!(
        v.kind,
        FleetKind::Closed,
        "one sick instance opens only itself"
    );
    assert_eq!(
        (
            s.successes,
            s.failures,
            s.failing_instances,
            s.live_instances
        ),
        (150, 200, 1, 3)
    );
    // A second instance fails: the quorum of 2 is met.
    let (v, s) = store.flush(&k, &p, "b", 0, 10, 0).unwrap();
    assert_eq!((v.kind, v.gen), (FleetKind::Open, 1));
    assert_eq!(s.failing_instances, 2);
    assert_eq!(left(&v), 300);
    // No trial before the open time has passed.
    let a = store.trial(&k, &p, results(0, 0, 0, 0), 1).unwrap();
    assert_eq!((a.view.kind, a.granted), (FleetKind::Open, 0));
    // Outcomes flushed while OPEN are counted but decide nothing.
    let (v, _) = store.flush(&k, &p, "c", 0, 5, 0).unwrap();
    assert_eq!((v.kind, v.gen), (FleetKind::Open, 1));
    advance(320);
    let a = store.trial(&k, &p, results(0, 0, 0, 0), 1).unwrap();
    assert_eq!(
        (a.view.kind, a.view.gen, a.granted),
        (FleetKind::HalfOpen, 2, 1)
    );
    let b = store.trial(&k, &p, results(0, 0, 0, 0), 5).unwrap();
    assert_eq!(
        b.granted, 1,
        "at most half_open_max (2) trials across the fleet"
    );
    let c = store.trial(&k, &p, results(0, 0, 0, 0), 1).unwrap();
    assert_eq!(c.granted, 0);
    // A result of an older generation is fenced.
    let f = store.trial(&k, &p, results(1, 1, 0, 0), 0).unwrap();
    assert!(f.fenced);
    assert_eq!((f.view.kind, f.view.gen), (FleetKind::HalfOpen, 2));
    // One success frees its permit, which another instance may take.
    let s1 = store.trial(&k, &p, results(2, 1, 0, 0), 0).unwrap();
    assert!(!s1.fenced);
    assert_eq!(s1.view.kind, FleetKind::HalfOpen);
    let again = store.trial(&k, &p, results(0, 0, 0, 0), 1).unwrap();
    assert_eq!(again.granted, 1);
    // The second success (successes_needed = 2) closes the fleet and
    // empties the window.
    let s2 = store.trial(&k, &p, results(2, 1, 0, 0), 0).unwrap();
    assert_eq!((s2.view.kind, s2.view.gen), (FleetKind::Closed, 3));
    let (v, s) = store.flush(&k, &p, "a", 1, 0, 0).unwrap();
    assert_eq!(
        (v.kind, s.successes, s.failures, s.failing_instances),
        (FleetKind::Closed, 1, 0, 0)
    );
    let r = store.read(&k).unwrap();
    assert_eq!((r.kind, r.gen, r.epoch), (FleetKind::Closed, 3, v.epoch));
}

/// A trial failure reopens with a longer open time, capped.
pub(crate) fn trial_failure_backs_off(store: &mut dyn Store, advance: Advance<'_>, ns: &str) {
    let k = Keys::new(ns, "backoff").unwrap();
    let p = params(&k, |p| {
        p.open_ms = 100;
        p.open_mult_milli = 2000;
        p.open_max_ms = 350;
        p.min_failing = 1;
        p.count = 3;
        p.rate_ppm = 0;
    });
    let (v, _) = store.flush(&k, &p, "a", 0, 3, 0).unwrap();
    assert_eq!(
        (v.kind, left(&v)),
        (FleetKind::Open, 100),
        "count rule, quorum 1"
    );
    let mut expect = [200, 350, 350].into_iter();
    let mut gen = v.gen;
    for _ in 0..3 {
        advance(400);
        let t = store.trial(&k, &p, results(0, 0, 0, 0), 1).unwrap();
        assert_eq!(
            (t.view.kind, t.granted, t.view.gen),
            (FleetKind::HalfOpen, 1, gen + 1)
        );
        let f = store
            .trial(&k, &p, results(t.view.gen, 0, 1, 0), 0)
            .unwrap();
        assert_eq!(f.view.kind, FleetKind::Open);
        assert_eq!(left(&f.view), expect.next().unwrap());
        gen = f.view.gen;
    }
}

/// Trials left unresolved past their lease reopen the fleet; their late
/// results are fenced.
pub(crate) fn lease_expiry_reopens(store: &mut dyn Store, advance: Advance<'_>, ns: &str) {
    let k = Keys::new(ns, "lease").unwrap();
    let p = params(&k, |p| {
        p.open_ms = 50;
        p.open_max_ms = 50;
        p.lease_ms = 100;
        p.min_failing = 1;
    });
    let (v, _) = store.flush(&k, &p, "a", 0, 10, 0).unwrap();
    assert_eq!(v.kind, FleetKind::Open);
    advance(80);
    let t = store.trial(&k, &p, results(0, 0, 0, 0), 1).unwrap();
    assert_eq!((t.view.kind, t.granted), (FleetKind::HalfOpen, 1));
    advance(150);
    let late = store
        .trial(&k, &p, results(t.view.gen, 1, 0, 0), 0)
        .unwrap();
    assert!(late.fenced, "the lease expired: the trial's result is late");
    assert_eq!(
        (late.view.kind, late.view.gen),
        (FleetKind::Open, t.view.gen + 1)
    );
}

/// Operator commands: forced states hold against any count; reset clears.
pub(crate) fn commands(store: &mut dyn Store, _advance: Advance<'_>, ns: &str) {
    let k = Keys::new(ns, "commands").unwrap();
    let p = params(&k, |p| p.min_failing = 1);
    let v = store.command(&k, &p, Command::ForceOpen).unwrap();
    assert_eq!((v.kind, v.gen, v.cmd), (FleetKind::ForcedOpen, 1, 1));
    let (v, _) = store.flush(&k, &p, "a", 100, 0, 0).unwrap();
    assert_eq!(
        v.kind,
        FleetKind::ForcedOpen,
        "successes do not close a forced state"
    );
    let v = store.command(&k, &p, Command::ForceClosed).unwrap();
    assert_eq!((v.kind, v.gen, v.cmd), (FleetKind::ForcedClosed, 2, 2));
    let (v, _) = store.flush(&k, &p, "a", 0, 100, 0).unwrap();
    assert_eq!(v.kind, FleetKind::ForcedClosed, "failures do not open it");
    let v = store.command(&k, &p, Command::Reset).unwrap();
    assert_eq!((v.kind, v.gen, v.cmd), (FleetKind::Closed, 3, 3));
    let (v, s) = store.flush(&k, &p, "a", 1, 0, 0).unwrap();
    assert_eq!(
        (v.kind, s.failures, s.successes),
        (FleetKind::Closed, 0, 1),
        "reset empties the window"
    );
}

/// Old buckets leave the window.
pub(crate) fn window_slides(store: &mut dyn Store, advance: Advance<'_>, ns: &str) {
    let k = Keys::new(ns, "slide").unwrap();
    let p = params(&k, |p| {
        p.bucket_ms = 100;
        p.buckets = 5;
        p.minimum_calls = 1000;
    });
    let (_, s) = store.flush(&k, &p, "a", 3, 3, 0).unwrap();
    assert_eq!((s.successes, s.failures, s.failing_instances), (3, 3, 1));
    advance(650);
    let (v, s) = store.flush(&k, &p, "b", 1, 0, 0).unwrap();
    assert_eq!(v.kind, FleetKind::Closed);
    assert_eq!((s.successes, s.failures, s.failing_instances), (1, 0, 0));
    assert_eq!(s.live_instances, 2, "members are kept for three windows");
}

/// The slow-call rule: slow calls trip on their share of the window, once
/// it holds `minimum_calls` and enough instances saw them; without the rule
/// they trip nothing.
pub(crate) fn slow_calls_trip(store: &mut dyn Store, _advance: Advance<'_>, ns: &str) {
    let k = Keys::new(ns, "slow").unwrap();
    let p = params(&k, |p| {
        p.rate_ppm = 0;
        p.count = 0;
        p.slow_ppm = 500_000;
        p.minimum_calls = 20;
    });
    let (v, s) = store.flush(&k, &p, "a", 10, 0, 8).unwrap();
    assert_eq!(
        v.kind,
        FleetKind::Closed,
        "one slow instance of one is below the call minimum"
    );
    assert_eq!(
        s.failing_instances, 1,
        "slow calls make an instance a failing one"
    );
    let (v, _) = store.flush(&k, &p, "b", 10, 0, 2).unwrap();
    assert_eq!(
        v.kind,
        FleetKind::Open,
        "10 slow of 20 calls, from two instances"
    );
    let k = Keys::new(ns, "slow-off").unwrap();
    let off = params(&k, |p| {
        p.rate_ppm = 0;
        p.count = 100;
    });
    store.flush(&k, &off, "a", 10, 0, 10).unwrap();
    let (v, s) = store.flush(&k, &off, "b", 10, 0, 10).unwrap();
    assert_eq!(v.kind, FleetKind::Closed, "no slow-call rule");
    assert_eq!(s.failing_instances, 0);
}

/// Every scenario on the in-memory store.
#[test]
fn memory_store_runs_every_scenario() {
    let store = MemoryStore::new();
    store.set_now_ms(1_700_000_000_000);
    let clock = store.clone();
    let advance = move |ms: u64| clock.advance_ms(ms as i64);
    let mut s = store.clone();
    quorum_trip_trials_close(&mut s, &advance, "t0");
    trial_failure_backs_off(&mut s, &advance, "t0");
    lease_expiry_reopens(&mut s, &advance, "t0");
    commands(&mut s, &advance, "t0");
    window_slides(&mut s, &advance, "t0");
    slow_calls_trip(&mut s, &advance, "t0");
}

#[test]
fn memory_store_publishes_every_change_and_expires_state() {
    let mut store = MemoryStore::new();
    let k = Keys::new("t0", "pub").unwrap();
    let p = params(&k, |p| p.min_failing = 1);
    store.set_now_ms(5_000);
    let (v, _) = store.flush(&k, &p, "a", 0, 10, 0).unwrap();
    assert_eq!(
        store.published(),
        vec![format!("1|1|5300|5000|0|{}|pub", v.epoch)]
    );
    assert_eq!(store.pttl(&k.state), Some(60_000));
    assert_eq!(store.pttl(&k.window), Some(11_000));
    assert_eq!(store.pttl(&k.failing), Some(10_000));
    assert_eq!(store.pttl(&k.members), Some(30_000));
    assert_eq!(store.hget(&k.state, "trips").as_deref(), Some("1"));
    // The clock steps back (failover): decisions never go back with it.
    store.set_now_ms(4_000);
    let r = store.read(&k).unwrap();
    assert_eq!(r.now, 5_000);
    // Expiry forgets the state: a new epoch starts from generation 0.
    store.set_now_ms(70_000);
    assert_eq!(store.read(&k).unwrap().epoch, "");
    let (v2, _) = store.flush(&k, &p, "a", 1, 0, 0).unwrap();
    assert_eq!((v2.kind, v2.gen), (FleetKind::Closed, 0));
    assert_ne!(v2.epoch, v.epoch);
}

use std::collections::BTreeMap;
use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::ManualClock;

const MINUTE: Duration = Duration::from_secs(60);

fn family(max_keys: u32, idle: Duration) -> (KeyedBreaker<ManualClock>, ManualClock) {
    let clock = ManualClock::new();
    let config = BreakerConfig {
        failure_threshold: 1,
        ..Default::default()
    };
    let f = KeyedBreaker::with_clock("svc:", config, max_keys, idle, clock.clone()).unwrap();
    (f, clock)
}

#[test]
fn one_breaker_per_key_made_from_the_shared_config_and_named_by_prefix() {
    let (f, _) = family(8, MINUTE);
    f.try_acquire("a").unwrap().success();
    f.try_acquire(b"a").unwrap().success();
    f.try_acquire("b").unwrap().failure();
    assert_eq!(f.len(), 2);
    assert_eq!(f.key_metrics("a").unwrap().successes, 2);
    assert_eq!(f.state("b"), Some(State::Open));
    assert_eq!(f.with("a", |b| b.config().failure_threshold), Some(1));
    let names: Vec<_> = f.snapshot().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, vec![Arc::<str>::from("svc:a"), Arc::from("svc:b")]);
    assert!(matches!(
        f.try_acquire("b"),
        Err(KeyedRejected::Open(Rejected {
            state: State::Open,
            ..
        }))
    ));
    assert_eq!(f.state("nope"), None, "reading makes no breaker");
    let m = f.metrics();
    assert_eq!(
        (m.permitted, m.successes, m.failures, m.rejected, m.created),
        (3, 2, 1, 1, 2)
    );
}

#[test]
fn a_full_family_refuses_new_keys_while_every_key_is_busy() {
    let (f, clock) = family(2, MINUTE);
    let a = f.try_acquire("a").unwrap();
    f.try_acquire("b").unwrap().success();
    // "a" has a call in flight; "b" was used just now.
    assert_eq!(
        f.try_acquire("c").unwrap_err(),
        KeyedRejected::Full { max_keys: 2 }
    );
    clock.advance(MINUTE);
    // "b" is idle now; "a" still has its call in flight.
    f.try_acquire("c").unwrap().success();
    assert_eq!(f.state("b"), None);
    assert_eq!(f.state("a"), Some(State::Closed));
    clock.advance(MINUTE);
    assert_eq!(f.evict_idle(), 1, "only c: a is still in flight");
    a.success();
    assert_eq!(f.evict_idle(), 1);
    assert!(f.is_empty());
    let m = f.metrics();
    assert_eq!((m.full, m.created, m.evicted, m.keys), (1, 3, 3, 0));
    assert_eq!(
        (m.permitted, m.successes),
        (3, 3),
        "evicted keys stay counted"
    );
}

#[test]
fn an_open_breaker_is_kept_until_its_open_time_ends() {
    let (f, clock) = family(1, Duration::ZERO);
    f.try_acquire("down").unwrap().failure();
    assert_eq!(f.evict_idle(), 0);
    assert_eq!(
        f.try_acquire("up").unwrap_err(),
        KeyedRejected::Full { max_keys: 1 }
    );
    clock.advance(MINUTE); // the open time ends: reads HALF_OPEN
    assert_eq!(f.state("down"), Some(State::HalfOpen));
    f.try_acquire("up").unwrap().success();
    assert_eq!(f.state("down"), None);
    // Its next call gets a fresh CLOSED breaker.
    clock.advance(MINUTE);
    f.try_acquire("down").unwrap().success();
    assert_eq!(f.state("down"), Some(State::Closed));
}

#[test]
fn a_forced_breaker_is_never_evicted() {
    let (f, clock) = family(4, Duration::ZERO);
    f.try_acquire("x").unwrap().success();
    f.with("x", |b| b.force_open());
    clock.advance(MINUTE);
    assert_eq!(f.evict_idle(), 0);
    f.with("x", |b| b.reset());
    assert_eq!(f.evict_idle(), 1);
}

#[test]
fn a_detached_ticket_keeps_its_key_until_reported() {
    let (f, clock) = family(4, Duration::ZERO);
    let t = f.try_acquire("k").unwrap().into_ticket();
    clock.advance(MINUTE);
    assert_eq!(f.evict_idle(), 0);
    f.record(t, Outcome::Failure);
    assert_eq!(f.state("k"), Some(State::Open));
    assert_eq!(f.metrics().failures, 1);
    let dropped = f.try_acquire("j").unwrap();
    drop(dropped);
    assert_eq!(f.key_metrics("j").unwrap().ignored, 1);
    assert_eq!(f.metrics().ignored, 1);
}

#[test]
#[should_panic(expected = "did not issue it")]
fn a_ticket_of_another_family_is_refused() {
    let (f, _) = family(4, MINUTE);
    let (g, _) = family(4, MINUTE);
    let t = f.try_acquire("k").unwrap().into_ticket();
    g.record(t, Outcome::Success);
}

#[test]
fn a_clock_that_steps_back_reads_as_a_use() {
    let (f, clock) = family(4, MINUTE);
    clock.set(10 * MINUTE.as_nanos() as u64);
    f.try_acquire("k").unwrap().success();
    clock.set(0);
    assert_eq!(f.evict_idle(), 0);
    clock.set(12 * MINUTE.as_nanos() as u64);
    assert_eq!(f.evict_idle(), 1);
}

#[test]
fn invalid_settings_name_their_field() {
    let c = ManualClock::new();
    let cfg = BreakerConfig::default();
    let e = KeyedBreaker::with_clock("", cfg.clone(), 0, MINUTE, c.clone()).unwrap_err();
    assert_eq!(e.field, "max_keys");
    let e = KeyedBreaker::with_clock("", cfg.clone(), 1 << 21, MINUTE, c.clone()).unwrap_err();
    assert_eq!(e.field, "max_keys");
    let e = KeyedBreaker::with_clock("", cfg, 1, Duration::from_secs(400 * 86400), c.clone())
        .unwrap_err();
    assert_eq!(e.field, "idle_timeout");
    let bad = BreakerConfig {
        failure_threshold: 0,
        ..Default::default()
    };
    let e = KeyedBreaker::with_clock("", bad, 1, MINUTE, c).unwrap_err();
    assert_eq!(e.field, "failure_threshold");
}

/// Threads racing on more keys than fit, with eviction at every chance:
/// every call is counted exactly once, and the bound holds.
#[test]
fn racing_calls_and_evictions_lose_no_outcome() {
    const THREADS: usize = 4;
    const CALLS: u64 = 5_000;
    let clock = ManualClock::new();
    let config = BreakerConfig {
        failure_threshold: u32::MAX,
        ..Default::default()
    };
    let f = KeyedBreaker::with_clock("", config, 8, Duration::ZERO, clock).unwrap();
    let outcomes: Vec<(u64, u64)> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..THREADS as u64)
            .map(|t| {
                let f = &f;
                s.spawn(move || {
                    let mut rng = fastrand::Rng::with_seed(t);
                    let (mut ok, mut full) = (0, 0);
                    for _ in 0..CALLS {
                        let key = rng.u8(0..16).to_le_bytes();
                        match f.try_acquire(key) {
                            Ok(p) => {
                                assert!(f.len() <= 8);
                                ok += 1;
                                if rng.bool() {
                                    p.success()
                                } else {
                                    p.failure()
                                }
                            }
                            Err(KeyedRejected::Full { .. }) => full += 1,
                            Err(e) => panic!("{e}"),
                        }
                        if rng.u8(0..8) == 0 {
                            f.evict_idle();
                        }
                    }
                    (ok, full)
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ok: u64 = outcomes.iter().map(|o| o.0).sum();
    let full: u64 = outcomes.iter().map(|o| o.1).sum();
    let m = f.metrics();
    assert_eq!(m.permitted, ok);
    assert_eq!(m.full, full);
    assert_eq!(ok + full, THREADS as u64 * CALLS);
    assert_eq!(m.successes + m.failures, ok);
    assert!(f.len() <= 8);
    assert_eq!(m.created - m.evicted, f.len() as u64);
    // The live breakers hold what the evicted ones did not.
    let live: u64 = f.snapshot().iter().map(|(_, m)| m.permitted).sum();
    assert!(live <= ok);
}

/// The sequential model of the family: which keys are alive, with their
/// calls in flight, last use and whether they are held open.
#[derive(Default)]
struct Model {
    keys: BTreeMap<u8, (u32, u64, bool)>,
    created: u64,
    evicted: u64,
    /// Family totals: permitted, successes, ignored.
    totals: (u64, u64, u64),
}

impl Model {
    fn sweep(&mut self, now: u64, idle: u64) -> usize {
        let before = self.keys.len();
        self.keys.retain(|_, (in_flight, used, forced)| {
            *in_flight > 0 || *forced || now.saturating_sub(*used) < idle
        });
        let n = before - self.keys.len();
        self.evicted += n as u64;
        n
    }
}

#[derive(Clone, Debug)]
enum Op {
    /// A call of this key, held (kept in flight) or reported at once (as
    /// a success, or by dropping its permit).
    Call(u8, bool, bool),
    /// Reports the held call at this position (modulo their number).
    Report(usize),
    /// Holds the key's breaker open, or resets it.
    Force(u8, bool),
    Advance(u8),
    Evict,
}

/// The bytes of model key `k`: odd keys are longer than the map keeps
/// inline.
fn key(k: u8) -> Vec<u8> {
    if k % 2 == 0 {
        vec![k]
    } else {
        vec![k; 45]
    }
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..6u8, any::<bool>(), any::<bool>()).prop_map(|(k, h, d)| Op::Call(k, h, d)),
        2 => any::<usize>().prop_map(Op::Report),
        1 => (0..6u8, any::<bool>()).prop_map(|(k, o)| Op::Force(k, o)),
        2 => (0..4u8).prop_map(Op::Advance),
        1 => Just(Op::Evict),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// get-or-create and eviction agree with the sequential model after
    /// every step.
    #[test]
    fn matches_the_sequential_model(max in 1..5u32, ops in prop::collection::vec(op(), 1..60)) {
        const IDLE: u64 = 2_000_000_000;
        let clock = ManualClock::new();
        let config = BreakerConfig { failure_threshold: u32::MAX, ..Default::default() };
        let f = KeyedBreaker::with_clock("", config, max, Duration::from_nanos(IDLE), clock.clone())
            .unwrap();
        let mut m = Model::default();
        let mut held: Vec<(u8, KeyedTicket)> = Vec::new();
        for op in ops {
            let now = clock.now();
            match op {
                Op::Call(k, hold, drop_it) => {
                    let got = f.try_acquire(key(k));
                    let expected = if let Some(e) = m.keys.get_mut(&k) {
                        e.1 = now;
                        if e.2 { "open" } else { "ok" }
                    } else if m.keys.len() < max as usize
                        || m.sweep(now, IDLE) > 0
                    {
                        m.created += 1;
                        m.keys.insert(k, (0, now, false));
                        "ok"
                    } else {
                        "full"
                    };
                    match (got, expected) {
                        (Ok(p), "ok") => {
                            m.totals.0 += 1;
                            if hold {
                                m.keys.get_mut(&k).unwrap().0 += 1;
                                held.push((k, p.into_ticket()));
                            } else if drop_it {
                                drop(p);
                                m.totals.2 += 1;
                            } else {
                                p.success();
                                m.totals.1 += 1;
                            }
                        }
                        (Err(KeyedRejected::Open(_)), "open") => {}
                        (Err(KeyedRejected::Full { .. }), "full") => {}
                        (got, expected) => prop_assert!(false, "{:?} vs {}", got.map(|_| ()), expected),
                    }
                }
                Op::Report(i) if !held.is_empty() => {
                    let (k, t) = held.swap_remove(i % held.len());
                    f.record(t, Outcome::Success);
                    m.keys.get_mut(&k).unwrap().0 -= 1;
                    m.totals.1 += 1;
                }
                Op::Report(_) => {}
                Op::Force(k, open) => {
                    let done = f.with(key(k), |b| if open { b.force_open() } else { b.reset() });
                    prop_assert_eq!(done.is_some(), m.keys.contains_key(&k));
                    if let Some(e) = m.keys.get_mut(&k) {
                        e.2 = open;
                    }
                }
                Op::Advance(s) => clock.advance(Duration::from_secs(u64::from(s))),
                Op::Evict => {
                    prop_assert_eq!(f.evict_idle(), m.sweep(now, IDLE));
                }
            }
            let mut keys: Vec<u8> = f.keys().iter().map(|k| {
                assert_eq!(&k[..], &key(k[0])[..]);
                k[0]
            }).collect();
            keys.sort_unstable();
            prop_assert_eq!(keys, m.keys.keys().copied().collect::<Vec<_>>());
            let fm = f.metrics();
            prop_assert_eq!((fm.created, fm.evicted), (m.created, m.evicted));
            prop_assert_eq!((fm.permitted, fm.successes, fm.ignored), m.totals);
        }
        for (_, t) in held {
            f.record(t, Outcome::Ignored);
        }
    }
}

/// Key churn through a full family: every evicted key's link and node are
/// freed as the family goes (nothing is left waiting once no call holds a
/// guard), so memory stays bounded by the live keys.
#[test]
fn evicted_keys_are_freed_as_the_family_churns() {
    let (f, _) = family(4, Duration::ZERO);
    for i in 0..1_000 {
        f.try_acquire(format!("key-{i}")).unwrap().success();
    }
    assert_eq!(f.metrics().evicted, 996);
    // Counted before any reclamation of the test's own: the family's
    // calls freed them.
    assert_eq!(
        f.map.waiting(),
        0,
        "evicted entries still waiting to be freed"
    );
    assert!(!f.map.reclaim());
    assert_eq!(f.len(), 4);
}

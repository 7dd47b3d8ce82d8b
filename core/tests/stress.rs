//! Multi-thread stress: many threads share one breaker that trips and
//! recovers over and over (a shared manual clock is moved by one of them),
//! taking permits and reporting random outcomes from seeded generators. Once
//! the threads are joined the books must balance exactly, and the
//! transitions, counted both by the breaker and by a listener, must form a
//! coherent path from CLOSED to the final state.
//!
//! No assertion here depends on timing; interleavings vary from run to run,
//! the invariants do not.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use seawall::{Breaker, BreakerConfig, ManualClock, Metrics, Outcome, Permit, State, Transition};

/// What one thread did, by its own count.
#[derive(Clone, Copy, Debug, Default)]
struct Tally {
    attempts: u64,
    admitted: u64,
    rejected: u64,
    successes: u64,
    failures: u64,
    /// Reported as ignored, or dropped without an outcome.
    ignored: u64,
}

impl std::ops::AddAssign for Tally {
    fn add_assign(&mut self, o: Tally) {
        self.attempts += o.attempts;
        self.admitted += o.admitted;
        self.rejected += o.rejected;
        self.successes += o.successes;
        self.failures += o.failures;
        self.ignored += o.ignored;
    }
}

const STATES: [State; 5] = [
    State::Closed,
    State::Open,
    State::HalfOpen,
    State::ForcedOpen,
    State::ForcedClosed,
];

fn idx(s: State) -> usize {
    STATES.iter().position(|&x| x == s).unwrap()
}

/// Counts transitions by (from, to), as a listener sees them.
#[derive(Default)]
struct PairCounts([[AtomicU64; 5]; 5]);

impl PairCounts {
    fn get(&self, from: State, to: State) -> u64 {
        self.0[idx(from)][idx(to)].load(Ordering::Relaxed)
    }
    fn into(&self, to: State) -> u64 {
        STATES.iter().map(|&f| self.get(f, to)).sum()
    }
    fn out_of(&self, from: State) -> u64 {
        STATES.iter().map(|&t| self.get(from, t)).sum()
    }
}

/// Reports a random outcome: 3% dropped, 3% ignored, `fail_pct`% failures,
/// the rest successes.
fn report(permit: Permit<'_, ManualClock>, fail_pct: u32, rng: &mut fastrand::Rng, t: &mut Tally) {
    let r = rng.u32(0..100);
    match r {
        // Dropped without an outcome: counts as ignored.
        0..=2 => {
            t.ignored += 1;
            drop(permit);
        }
        3..=5 => {
            t.ignored += 1;
            permit.ignore();
        }
        r if r < 6 + fail_pct => {
            t.failures += 1;
            permit.failure();
        }
        _ => {
            t.successes += 1;
            permit.success();
        }
    }
}

/// Checks that the books balance and that the transitions form one path.
fn check_books(m: &Metrics, total: &Tally, pairs: &PairCounts) {
    assert_eq!(total.admitted + total.rejected, total.attempts);
    assert_eq!(m.permitted, total.admitted, "permits issued");
    assert_eq!(m.rejected, total.rejected, "rejections");
    assert_eq!(
        m.permitted,
        m.successes + m.failures + m.ignored + m.late,
        "every permit reported exactly once: {m:?}"
    );
    // Each outcome is counted either under its kind or, if its episode had
    // ended, as late: so per kind the breaker's count is at most the
    // threads', and the shortfalls add up to `late` exactly.
    assert!(m.successes <= total.successes, "{m:?} vs {total:?}");
    assert!(m.failures <= total.failures, "{m:?} vs {total:?}");
    assert!(m.ignored <= total.ignored, "{m:?} vs {total:?}");
    assert_eq!(
        (total.successes - m.successes)
            + (total.failures - m.failures)
            + (total.ignored - m.ignored),
        m.late
    );
    assert_eq!(m.trial_calls_in_flight, 0, "every trial was resolved");

    // The listener heard what the breaker counted, and nothing impossible.
    let t = m.transitions;
    let counted = [
        t.to_closed,
        t.to_open,
        t.to_half_open,
        t.to_forced_open,
        t.to_forced_closed,
    ];
    for (i, &s) in STATES.iter().enumerate() {
        assert_eq!(pairs.into(s), counted[i], "transitions into {s}");
        assert_eq!(pairs.get(s, s), 0, "no transition from {s} to itself");
    }
    for (from, to) in [
        (State::Closed, State::HalfOpen),
        (State::ForcedOpen, State::Open),
        (State::ForcedOpen, State::HalfOpen),
        (State::ForcedClosed, State::Open),
        (State::ForcedClosed, State::HalfOpen),
    ] {
        assert_eq!(
            pairs.get(from, to),
            0,
            "impossible transition {from} -> {to}"
        );
    }
    // One path from CLOSED: every state is left as often as it is entered,
    // except the start (entered once before any transition) and the end.
    let mut ends = Vec::new();
    for &s in &STATES {
        let entered = pairs.into(s) + u64::from(s == State::Closed);
        let left = pairs.out_of(s);
        assert!(entered >= left, "{s} left {left} times, entered {entered}");
        for _ in left..entered {
            ends.push(s);
        }
    }
    assert_eq!(ends.len(), 1, "the path must end in one state: {ends:?}");
    // And the state read agrees with where the path ended: an OPEN breaker
    // past its open time reads HALF_OPEN; nothing else is reinterpreted once
    // no trial is outstanding.
    let end = ends[0];
    let ok = match end {
        State::Open => matches!(m.state, State::Open | State::HalfOpen),
        s => m.state == s,
    };
    assert!(ok, "path ends in {end} but the state reads {}", m.state);
}

fn attach(b: &Breaker<ManualClock>) -> Arc<PairCounts> {
    let pairs = Arc::new(PairCounts::default());
    let p = Arc::clone(&pairs);
    b.add_listener(move |_: &str, t: Transition| {
        p.0[idx(t.from)][idx(t.to)].fetch_add(1, Ordering::Relaxed);
    });
    pairs
}

#[test]
fn books_balance_while_the_breaker_trips_and_recovers() {
    const THREADS: u64 = 4;
    const CALLS: u64 = 250_000;
    const FAIL_PCT: u32 = 25;
    let clock = ManualClock::new();
    let config = BreakerConfig {
        failure_threshold: 4,
        success_threshold: 2,
        half_open_max_calls: 2,
        timeout: Duration::from_millis(5),
        half_open_timeout: Duration::from_millis(3),
        timeout_multiplier: 2.0,
        max_timeout: Some(Duration::from_millis(20)),
        timeout_jitter: 0.2,
        ..Default::default()
    };
    let b = Breaker::with_clock("stress", config, clock.clone()).unwrap();
    let pairs = attach(&b);
    let total = std::thread::scope(|s| {
        let workers: Vec<_> = (0..THREADS)
            .map(|id| {
                let (b, clock) = (&b, &clock);
                s.spawn(move || {
                    let mut rng = fastrand::Rng::with_seed(0x5EA_3A11 + id);
                    let mut t = Tally::default();
                    // A permit held across later calls: its outcome often
                    // arrives after the breaker moved on.
                    let mut parked = None;
                    for i in 0..CALLS {
                        if id == 0 && i % 4 == 0 {
                            clock.advance(Duration::from_millis(1));
                        }
                        if id == 1 {
                            // Manual control during traffic, now and then.
                            match i % 50_000 {
                                10_000 => b.force_open(),
                                11_000 => b.force_closed(),
                                12_000 => b.reset(),
                                _ => {}
                            }
                        }
                        t.attempts += 1;
                        match b.try_acquire() {
                            Err(_) => t.rejected += 1,
                            Ok(permit) => {
                                t.admitted += 1;
                                match rng.u32(0..1000) {
                                    0..=4 => {
                                        if let Some(old) = parked.replace(permit) {
                                            report(old, FAIL_PCT, &mut rng, &mut t);
                                        }
                                    }
                                    5..=14 => {
                                        // Detached and recorded by ticket.
                                        let ticket = permit.into_ticket();
                                        let o = if rng.bool() {
                                            t.successes += 1;
                                            Outcome::Success
                                        } else {
                                            t.failures += 1;
                                            Outcome::Failure
                                        };
                                        b.record(ticket, o);
                                    }
                                    _ => report(permit, FAIL_PCT, &mut rng, &mut t),
                                }
                            }
                        }
                    }
                    if let Some(old) = parked {
                        report(old, FAIL_PCT, &mut rng, &mut t);
                    }
                    t
                })
            })
            .collect();
        let mut total = Tally::default();
        for w in workers {
            total += w.join().unwrap();
        }
        total
    });
    assert_eq!(total.attempts, THREADS * CALLS);
    let m = b.metrics();
    check_books(&m, &total, &pairs);
    // The run really cycled: many trips and recoveries, and late outcomes.
    let t = m.transitions;
    assert!(
        t.to_open >= 10 && t.to_closed >= 10,
        "too few cycles: {t:?}"
    );
    assert!(t.to_half_open >= 10, "{t:?}");
    assert!(m.late > 0 && m.rejected > 0, "{m:?}");
}

/// More threads than the 8 owned counter stripes: the threads beyond them
/// share one stripe, and every count must still be exact. The breaker is
/// forced closed, so no outcome is late and each kind matches exactly; a
/// second, forced-open breaker counts rejections from all threads.
#[test]
fn counts_are_exact_with_more_threads_than_stripes() {
    const THREADS: u64 = 20;
    const CALLS: u64 = 30_000;
    let clock = ManualClock::new();
    let open = Breaker::with_clock("open", BreakerConfig::default(), clock.clone()).unwrap();
    let closed = Breaker::with_clock("closed", BreakerConfig::default(), clock.clone()).unwrap();
    open.force_open();
    closed.force_closed();
    let total = std::thread::scope(|s| {
        let workers: Vec<_> = (0..THREADS)
            .map(|id| {
                let (open, closed) = (&open, &closed);
                s.spawn(move || {
                    let mut rng = fastrand::Rng::with_seed(0xC0FFEE + id);
                    let mut t = Tally::default();
                    for _ in 0..CALLS {
                        t.attempts += 1;
                        let permit = closed.try_acquire().expect("forced closed admits");
                        t.admitted += 1;
                        report(permit, 40, &mut rng, &mut t);
                        assert!(open.try_acquire().is_err(), "forced open rejects");
                    }
                    t
                })
            })
            .collect();
        let mut total = Tally::default();
        for w in workers {
            total += w.join().unwrap();
        }
        total
    });
    let m = closed.metrics();
    assert_eq!(m.state, State::ForcedClosed);
    assert_eq!(m.permitted, THREADS * CALLS);
    assert_eq!(
        (m.successes, m.failures, m.ignored, m.late, m.rejected),
        (total.successes, total.failures, total.ignored, 0, 0)
    );
    assert_eq!(
        m.consecutive_failures, 0,
        "forced closed never counts toward a trip"
    );
    let o = open.metrics();
    assert_eq!((o.permitted, o.rejected), (0, THREADS * CALLS));
    assert_eq!(o.state, State::ForcedOpen);
}

/// Threads racing to trip a CLOSED breaker: exactly one transition, heard
/// once, however many failures arrive at once.
#[test]
fn racing_failures_trip_once_per_episode() {
    const THREADS: usize = 4;
    let clock = ManualClock::new();
    let config = BreakerConfig {
        failure_threshold: 2,
        ..Default::default()
    };
    let b = Breaker::with_clock("race", config, clock.clone()).unwrap();
    let pairs = attach(&b);
    for round in 0..2_000u64 {
        let barrier = std::sync::Barrier::new(THREADS);
        std::thread::scope(|s| {
            for _ in 0..THREADS {
                s.spawn(|| {
                    let permit = b.try_acquire();
                    barrier.wait();
                    if let Ok(p) = permit {
                        p.failure();
                    }
                });
            }
        });
        assert_eq!(b.state(), State::Open, "round {round}");
        assert_eq!(pairs.get(State::Closed, State::Open), round + 1);
        b.reset();
    }
    let m = b.metrics();
    assert_eq!(m.transitions.to_open, 2_000);
    assert_eq!(m.permitted, m.successes + m.failures + m.ignored + m.late);
    // Per round: the two failures needed trip it; the others are late, or
    // counted as failures if they raced the trip (read the word before it).
    assert_eq!(m.failures + m.late, 4 * 2_000);
    assert!(m.failures >= 2 * 2_000, "{m:?}");
}

use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::ManualClock;

fn limiter(config: AdaptiveLimiterConfig) -> AdaptiveLimiter<ManualClock> {
    AdaptiveLimiter::with_clock(config, ManualClock::new()).expect("valid config")
}

fn aimd(initial: u32, min: u32, max: u32) -> AdaptiveLimiterConfig {
    AdaptiveLimiterConfig {
        algorithm: LimitAlgorithm::Aimd,
        initial_limit: initial,
        min_limit: min,
        max_limit: max,
        latency_threshold: Duration::from_millis(100),
        ..Default::default()
    }
}

const MS: Duration = Duration::from_millis(1);

#[test]
fn admits_up_to_the_limit_and_counts_refusals() {
    let l = limiter(aimd(3, 1, 10));
    let permits: Vec<_> = (0..3).map(|_| l.try_acquire().unwrap()).collect();
    assert_eq!(l.try_acquire().unwrap_err(), LimitReached { limit: 3 });
    assert_eq!(
        l.metrics(),
        AdaptiveLimiterMetrics {
            limit: 3,
            in_flight: 3,
            admitted: 3,
            rejected: 1
        }
    );
    drop(permits);
    assert_eq!(l.in_flight(), 0);
    assert!(l.try_acquire().is_ok());
    assert_eq!(l.metrics().admitted, 4);
}

#[test]
fn aimd_backs_off_on_failures_down_to_the_floor_and_recovers() {
    let l = limiter(aimd(10, 4, 12));
    for _ in 0..20 {
        l.try_acquire().unwrap().record(Outcome::Failure, MS);
    }
    assert_eq!(l.limit(), 4);
    // One at a time: in flight (1) is below half the limit, no increase.
    l.try_acquire().unwrap().record(Outcome::Success, MS);
    assert_eq!(l.limit(), 4);
    // Full: the successes of calls admitted with half the limit or more in
    // flight add one each, up to the ceiling.
    let held: Vec<_> = std::iter::from_fn(|| l.try_acquire().ok()).collect();
    for p in held {
        p.record(Outcome::Success, MS);
    }
    assert_eq!(l.limit(), 7, "calls 2, 3 and 4 of 4 were near the limit");
    for _ in 0..5 {
        let held: Vec<_> = std::iter::from_fn(|| l.try_acquire().ok()).collect();
        for p in held {
            p.record(Outcome::Success, MS);
        }
    }
    assert_eq!(l.limit(), 12);
}

#[test]
fn aimd_counts_a_slow_success_as_a_drop() {
    let l = limiter(aimd(10, 1, 20));
    l.try_acquire()
        .unwrap()
        .record(Outcome::Success, Duration::from_millis(101));
    assert_eq!(l.limit(), 9);
}

#[test]
fn ignored_outcomes_and_dropped_permits_teach_nothing() {
    let l = limiter(aimd(2, 1, 20));
    let a = l.try_acquire().unwrap();
    l.try_acquire().unwrap().record(Outcome::Ignored, MS);
    drop(a);
    assert_eq!((l.limit(), l.in_flight()), (2, 0));
}

#[test]
fn success_and_failure_time_the_call_on_the_limiters_clock() {
    let clock = ManualClock::new();
    let l = AdaptiveLimiter::with_clock(aimd(10, 1, 20), clock.clone()).unwrap();
    let hold: Vec<_> = (0..4).map(|_| l.try_acquire().unwrap()).collect();
    let p = l.try_acquire().unwrap();
    clock.advance(Duration::from_millis(150));
    p.success(); // slower than the threshold: a drop
    assert_eq!(l.limit(), 9);
    let p = l.try_acquire().unwrap();
    clock.advance(MS);
    p.success(); // five in flight of nine: +1
    assert_eq!(l.limit(), 10);
    drop(hold);
}

#[test]
fn gradient_sheds_load_when_latency_rises_and_regrows_when_it_falls() {
    let l = limiter(AdaptiveLimiterConfig {
        initial_limit: 50,
        max_limit: 100,
        window_calls: 5,
        window: Duration::ZERO,
        ..Default::default()
    });
    let run = |latency: Duration, windows: usize| {
        for _ in 0..windows {
            // Keep the limiter busy (not app-limited): fill it, then sample.
            let held: Vec<_> = std::iter::from_fn(|| l.try_acquire().ok()).collect();
            // The window's last sample is the call admitted last, with the
            // limiter full.
            let skip = held.len().saturating_sub(5);
            for p in held.into_iter().skip(skip) {
                p.record(Outcome::Success, latency);
            }
        }
    };
    run(10 * MS, 20);
    let healthy = l.limit();
    assert!(healthy > 50, "grows while latency is steady: {healthy}");
    run(100 * MS, 60);
    let spiked = l.limit();
    assert!(
        spiked <= 9,
        "shrinks toward 2 * queue_size under a spike: {spiked}"
    );
    run(10 * MS, 60);
    assert!(l.limit() > 20, "regrows after the spike: {}", l.limit());
}

#[test]
fn complete_frees_a_detached_ticket_once() {
    let l = limiter(aimd(2, 1, 20));
    let a = l.try_acquire().unwrap().detach();
    let b = l.try_acquire().unwrap().detach();
    assert_eq!(b.in_flight, 2);
    assert!(l.complete(b, Outcome::Success, Some(MS)));
    assert_eq!(l.limit(), 3);
    assert!(l.complete(a, Outcome::Ignored, None));
    assert!(!l.complete(a, Outcome::Ignored, None), "nothing in flight");
    assert_eq!(l.in_flight(), 0);
}

#[test]
fn invalid_configs_name_the_field() {
    let bad = |c: AdaptiveLimiterConfig| c.validate().unwrap_err().field;
    let d = AdaptiveLimiterConfig::default();
    assert_eq!(
        bad(AdaptiveLimiterConfig { min_limit: 0, ..d }),
        "min_limit"
    );
    assert_eq!(
        bad(AdaptiveLimiterConfig {
            max_limit: MAX_LIMIT + 1,
            ..d
        }),
        "max_limit"
    );
    assert_eq!(
        bad(AdaptiveLimiterConfig {
            initial_limit: 201,
            ..d
        }),
        "initial_limit"
    );
    assert_eq!(
        bad(AdaptiveLimiterConfig {
            backoff_ratio: 1.0,
            ..d
        }),
        "backoff_ratio"
    );
    assert_eq!(
        bad(AdaptiveLimiterConfig {
            tolerance: f64::NAN,
            ..d
        }),
        "tolerance"
    );
    assert_eq!(
        bad(AdaptiveLimiterConfig {
            smoothing: 0.0,
            ..d
        }),
        "smoothing"
    );
    assert_eq!(
        bad(AdaptiveLimiterConfig {
            queue_size: -1.0,
            ..d
        }),
        "queue_size"
    );
    assert_eq!(
        bad(AdaptiveLimiterConfig {
            long_window: 0,
            ..d
        }),
        "long_window"
    );
    assert_eq!(
        bad(AdaptiveLimiterConfig {
            window_calls: 0,
            ..d
        }),
        "window_calls"
    );
    assert_eq!(
        bad(AdaptiveLimiterConfig {
            latency_threshold: Duration::from_secs(400 * 86_400),
            ..d
        }),
        "latency_threshold"
    );
}

#[test]
fn the_admitted_count_wraps_without_touching_the_in_flight_count() {
    let l = limiter(aimd(2, 1, 20));
    // Relaxed: single-threaded test set-up.
    l.calls
        .store(((1 << 40) - 1) << IN_FLIGHT_BITS, Ordering::Relaxed);
    let p = l.try_acquire().unwrap();
    assert_eq!((l.metrics().admitted, l.in_flight()), (0, 1));
    drop(p);
    assert_eq!(l.in_flight(), 0);
}

/// A plain sequential model of both algorithms, written from the module
/// docs: no atomics, no packing; the estimate is rounded to `f32` after
/// each update, as the engine stores it.
struct Model {
    c: AdaptiveLimiterConfig,
    limit: f64,
    long: f64,
    window: Vec<u64>,
    /// When the open window opened.
    window_start: u64,
    in_flight: u32,
}

impl Model {
    fn new(c: AdaptiveLimiterConfig) -> Self {
        Self {
            c,
            limit: f64::from(c.initial_limit),
            long: 0.0,
            window: Vec::new(),
            window_start: 0,
            in_flight: 0,
        }
    }

    fn acquire(&mut self) -> Option<u32> {
        if f64::from(self.in_flight) >= self.limit.floor() {
            return None;
        }
        self.in_flight += 1;
        Some(self.in_flight)
    }

    fn complete(&mut self, seen: u32, started: u64, outcome: Outcome, latency_ns: u64) {
        self.in_flight -= 1;
        let (min, max) = (f64::from(self.c.min_limit), f64::from(self.c.max_limit));
        match (self.c.algorithm, outcome) {
            (_, Outcome::Ignored) => {}
            (LimitAlgorithm::Aimd, _) => {
                let threshold = self.c.latency_threshold.as_nanos() as u64;
                if outcome == Outcome::Failure || latency_ns > threshold {
                    self.limit = (self.limit * self.c.backoff_ratio).max(min);
                } else if 2.0 * f64::from(seen) >= self.limit {
                    self.limit = (self.limit + 1.0).min(max);
                }
                self.limit = f64::from(self.limit as f32);
            }
            (LimitAlgorithm::Gradient, _) => {
                self.window.push(latency_ns);
                let at = started + latency_ns;
                let long_enough =
                    at.saturating_sub(self.window_start) >= self.c.window.as_nanos() as u64;
                if self.window.len() < self.c.window_calls as usize || !long_enough {
                    return;
                }
                self.window_start = at;
                let short =
                    (self.window.iter().sum::<u64>() as f64 / self.window.len() as f64).max(1.0);
                self.window.clear();
                self.long = if self.long == 0.0 {
                    short
                } else {
                    self.long + (short - self.long) * (2.0 / (f64::from(self.c.long_window) + 1.0))
                };
                if self.long > 2.0 * short {
                    self.long *= 0.95;
                }
                if f64::from(seen) >= self.limit / 2.0 {
                    let gradient = (self.c.tolerance * self.long / short).clamp(0.5, 1.0);
                    let target = self.limit * gradient + self.c.queue_size;
                    let smoothed =
                        self.limit * (1.0 - self.c.smoothing) + target * self.c.smoothing;
                    self.limit = f64::from(smoothed.clamp(min, max) as f32);
                }
                self.long = f64::from(self.long as f32);
            }
        }
    }
}

#[derive(Clone, Debug)]
enum Op {
    Acquire,
    /// Completes the held permit at this index (modulo the count held).
    Complete(usize, Outcome, u64),
    /// Moves the clock forward, in milliseconds.
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Acquire),
        2 => (
            any::<usize>(),
            prop_oneof![
                6 => Just(Outcome::Success),
                2 => Just(Outcome::Failure),
                1 => Just(Outcome::Ignored)
            ],
            // Latencies from 0 to 200 ms, around the AIMD threshold.
            0u64..200_000_000,
        )
            .prop_map(|(i, o, l)| Op::Complete(i, o, l)),
        1 => (0u64..100).prop_map(Op::Advance),
    ]
}

fn config() -> impl Strategy<Value = AdaptiveLimiterConfig> {
    (
        prop_oneof![Just(LimitAlgorithm::Aimd), Just(LimitAlgorithm::Gradient)],
        1u32..4,
        0u32..20,
        0u32..20,
        0.5f64..0.99,
        1.0f64..3.0,
        0.05f64..1.0,
        0.0f64..6.0,
        1u32..50,
        1u32..5,
        prop_oneof![Just(0u64), Just(5), Just(50)],
        // The manual clock's two readings agree: either timing must match
        // the model.
        prop_oneof![Just(Timing::Exact), Just(Timing::Recent)],
    )
        .prop_map(
            |(
                algorithm,
                min,
                span,
                start,
                backoff,
                tol,
                smooth,
                queue,
                long,
                window,
                ms,
                timing,
            )| {
                AdaptiveLimiterConfig {
                    algorithm,
                    min_limit: min,
                    max_limit: min + span,
                    initial_limit: min + start.min(span),
                    backoff_ratio: backoff,
                    latency_threshold: Duration::from_millis(100),
                    tolerance: tol,
                    smoothing: smooth,
                    queue_size: queue,
                    long_window: long,
                    window_calls: window,
                    window: Duration::from_millis(ms),
                    timing,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The lock-free engine, driven by one thread, admits and refuses
    /// exactly as the sequential model does, and its limit stays equal to
    /// the model's after every step.
    #[test]
    fn the_engine_follows_the_sequential_model(c in config(), ops in prop::collection::vec(op(), 1..200)) {
        let clock = ManualClock::new();
        let l = AdaptiveLimiter::with_clock(c, clock.clone()).unwrap();
        let mut m = Model::new(c);
        let mut held = Vec::new();
        let (mut admitted, mut rejected) = (0, 0);
        for op in ops {
            match op {
                Op::Acquire => {
                    let want = m.acquire();
                    match l.try_acquire() {
                        Ok(p) => {
                            prop_assert_eq!(Some(p.ticket().in_flight), want);
                            held.push(p);
                            admitted += 1;
                        }
                        Err(e) => {
                            prop_assert_eq!(want, None);
                            prop_assert_eq!(e.limit, m.limit as u32);
                            rejected += 1;
                        }
                    }
                }
                Op::Complete(i, outcome, latency) if !held.is_empty() => {
                    let p = held.swap_remove(i % held.len());
                    let t = p.ticket();
                    m.complete(t.in_flight, t.started, outcome, latency);
                    p.record(outcome, Duration::from_nanos(latency));
                }
                Op::Complete(..) => {}
                Op::Advance(ms) => clock.advance(Duration::from_millis(ms)),
            }
            prop_assert_eq!(l.estimate(), m.limit);
            prop_assert!(l.limit() >= c.min_limit && l.limit() <= c.max_limit);
        }
        prop_assert_eq!(
            l.metrics(),
            AdaptiveLimiterMetrics {
                limit: m.limit as u32,
                in_flight: m.in_flight,
                admitted,
                rejected,
            }
        );
    }
}

/// Threads acquire and complete with random outcomes at once: the calls in
/// flight never exceed the ceiling, every slot comes back, and the counts
/// are exact.
#[test]
fn concurrent_calls_keep_exact_counts() {
    let l = std::sync::Arc::new(AdaptiveLimiter::new(aimd(8, 2, 16)).unwrap());
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let l = std::sync::Arc::clone(&l);
            std::thread::spawn(move || {
                let mut rng = fastrand::Rng::with_seed(t);
                let mut ok = 0u64;
                for _ in 0..20_000 {
                    if let Ok(p) = l.try_acquire() {
                        assert!(l.in_flight() <= 16);
                        ok += 1;
                        let outcome = if rng.u8(..10) == 0 {
                            Outcome::Failure
                        } else {
                            Outcome::Success
                        };
                        p.record(outcome, MS);
                    }
                }
                ok
            })
        })
        .collect();
    let admitted: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    let m = l.metrics();
    assert_eq!((m.in_flight, m.admitted), (0, admitted));
    assert_eq!(m.admitted + m.rejected, 80_000);
    assert!((2..=16).contains(&m.limit));
}

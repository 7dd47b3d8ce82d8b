//! Model-based property test of the window trip rules: random calls,
//! durations, clock steps and resets against a plain sequential model that
//! keeps every outcome of the CLOSED episode in a list and judges every rule
//! after every outcome. The implementation judges lazily (only failures, slow
//! calls, roll-overs and armed states) and keeps no list; the two must agree
//! on every state and every window count.

use std::time::Duration;

use proptest::prelude::*;
use seawall::{Breaker, BreakerConfig, ManualClock, Outcome, State, Window, WindowCounts};

const MS: u64 = 1_000_000;

#[derive(Clone, Debug)]
enum Op {
    Call { outcome: Outcome, millis: u64 },
    Advance { millis: u64 },
    Reset,
}

fn op() -> impl Strategy<Value = Op> {
    let outcome = prop_oneof![
        3 => Just(Outcome::Success),
        2 => Just(Outcome::Failure),
        1 => Just(Outcome::Ignored)
    ];
    prop_oneof![
        8 => (outcome, prop_oneof![Just(0u64), Just(999), Just(1000), 0..3000u64])
            .prop_map(|(outcome, millis)| Op::Call { outcome, millis }),
        2 => prop_oneof![0..2000u64, Just(1000), 0..30_000u64].prop_map(|millis| Op::Advance { millis }),
        1 => Just(Op::Reset),
    ]
}

fn config() -> impl Strategy<Value = BreakerConfig> {
    let window = prop_oneof![
        (1..=8u32).prop_map(|size| Window::Count { size }),
        (1..=20u64, 1..=5u32).prop_map(|(s, buckets)| Window::Time {
            length: Duration::from_secs(s),
            buckets
        }),
    ];
    let rate = prop_oneof![Just(0.25), Just(0.5), Just(0.6), Just(1.0)];
    (
        window,
        proptest::option::of(1..=6u32),
        proptest::option::of(rate.clone()),
        proptest::option::of(rate),
        1..=8u32,
        proptest::option::of(1..=6u32),
    )
        .prop_filter_map(
            "invalid combination",
            |(window, count, fail_rate, slow_rate, min, consecutive)| {
                let c = BreakerConfig {
                    window,
                    failure_count_threshold: count,
                    failure_rate_threshold: fail_rate,
                    slow_call_rate_threshold: slow_rate,
                    slow_call_duration: Some(Duration::from_secs(1)),
                    minimum_calls: min,
                    trip_on_consecutive_failures: consecutive.is_some(),
                    failure_threshold: consecutive.unwrap_or(5),
                    timeout: Duration::from_secs(365 * 24 * 3600),
                    ..Default::default()
                };
                c.validate().is_ok().then_some(c)
            },
        )
}

/// The sequential model: every outcome of the episode, judged in full.
struct Model {
    config: BreakerConfig,
    open: bool,
    consecutive: u32,
    /// (record time, outcome, slow) of the current CLOSED episode.
    episode: Vec<(u64, Outcome, bool)>,
}

impl Model {
    fn window(&self, now: u64) -> WindowCounts {
        let kept: Vec<_> = match self.config.window {
            Window::Count { size } => {
                let n = self.episode.len().saturating_sub(size as usize);
                self.episode[n..].to_vec()
            }
            Window::Time { length, buckets } => {
                let width = length.as_nanos() as u64 / u64::from(buckets);
                let first = (now / width).saturating_sub(u64::from(buckets) - 1);
                self.episode
                    .iter()
                    .copied()
                    .filter(|(t, ..)| t / width >= first)
                    .collect()
            }
            Window::None => unreachable!(),
        };
        let mut c = WindowCounts::default();
        for (_, o, slow) in kept {
            match o {
                Outcome::Success => c.successes += 1,
                Outcome::Failure => c.failures += 1,
                Outcome::Ignored => c.ignored += 1,
            }
            c.slow_calls += u64::from(slow);
        }
        c
    }

    fn rate_met(part: u64, whole: u64, rate: Option<f64>) -> bool {
        rate.is_some_and(|r| whole > 0 && part as f64 >= r * whole as f64 - 1e-9)
    }

    fn record(&mut self, now: u64, o: Outcome, slow: bool) {
        self.episode.push((now, o, slow));
        match o {
            Outcome::Success => self.consecutive = 0,
            Outcome::Failure => self.consecutive += 1,
            Outcome::Ignored => {}
        }
        let c = self.window(now);
        let cfg = &self.config;
        let consecutive =
            cfg.trip_on_consecutive_failures && self.consecutive >= cfg.failure_threshold;
        let count = cfg
            .failure_count_threshold
            .is_some_and(|n| c.failures >= u64::from(n));
        let rates = c.calls() >= u64::from(cfg.minimum_calls)
            && (Self::rate_met(c.failures, c.calls(), cfg.failure_rate_threshold)
                || Self::rate_met(c.slow_calls, c.calls(), cfg.slow_call_rate_threshold));
        if consecutive || count || rates {
            self.open = true;
        }
    }

    fn reset(&mut self) {
        self.open = false;
        self.consecutive = 0;
        self.episode.clear();
    }
}

proptest! {
    // 256 cases by default (CI-sized); PROPTEST_CASES overrides.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256),
        ..ProptestConfig::default()
    })]

    #[test]
    fn window_rules_match_the_sequential_model(config in config(), ops in prop::collection::vec(op(), 1..120)) {
        let clock = ManualClock::new();
        let b = Breaker::with_clock("m", config.clone(), clock.clone()).unwrap();
        let mut m = Model { config, open: false, consecutive: 0, episode: Vec::new() };
        let mut now = 0u64;
        for op in ops {
            match op {
                Op::Call { outcome, millis } => {
                    let permit = b.try_acquire();
                    prop_assert_eq!(permit.is_err(), m.open, "admission");
                    now += millis * MS;
                    clock.set(now);
                    if let Ok(p) = permit {
                        p.record(outcome);
                        let slow = outcome != Outcome::Ignored && millis >= 1000;
                        m.record(now, outcome, slow);
                    }
                }
                Op::Advance { millis } => {
                    now += millis * MS;
                    clock.set(now);
                }
                Op::Reset => {
                    b.reset();
                    m.reset();
                }
            }
            let expected = if m.open { State::Open } else { State::Closed };
            prop_assert_eq!(b.state(), expected);
            if !m.open {
                prop_assert_eq!(b.metrics().window.unwrap(), m.window(now));
            }
        }
    }
}

//! Model-based property test of the adaptive throttler: random checks (of
//! every priority), recorded outcomes and clock steps against a plain
//! sequential model that keeps every request in a list with its time and
//! recomputes the book's formula from it. The engine keeps ten packed time
//! slices instead; with the same seeded source, the two must agree on
//! every decision, every probability and every count.

use std::time::Duration;

use proptest::prelude::*;
use seawall::{AdaptiveThrottler, ManualClock, Priority, Random, SeededRandom, ThrottleConfig};

#[derive(Clone, Debug)]
enum Op {
    Check { priority: Priority, accepted: bool },
    Record { accepted: bool },
    Advance { millis: u64 },
}

fn op() -> impl Strategy<Value = Op> {
    let priority = prop::sample::select(Priority::ALL.to_vec());
    prop_oneof![
        6 => (priority, prop::bool::weighted(0.3))
            .prop_map(|(priority, accepted)| Op::Check { priority, accepted }),
        2 => prop::bool::weighted(0.3).prop_map(|accepted| Op::Record { accepted }),
        2 => prop_oneof![0..500u64, 0..5000u64, Just(1000)].prop_map(|millis| Op::Advance { millis }),
    ]
}

/// The sequential model: every request with its slice number.
struct Model {
    config: ThrottleConfig,
    /// (slice number, accepted) of every request counted.
    requests: Vec<(u64, bool)>,
    slice: u64,
    random: SeededRandom,
    throttled: u64,
}

impl Model {
    fn counts(&self, now: u64) -> (u64, u64) {
        let n = now / self.slice;
        let live = self.requests.iter().filter(|(s, _)| s + 10 > n);
        let (mut r, mut a) = (0, 0);
        for (_, accepted) in live {
            r += 1;
            a += u64::from(*accepted);
        }
        (r, a)
    }

    fn probability(&self, now: u64, priority: Priority) -> f64 {
        let (r, a) = self.counts(now);
        let k = 1.0
            + (self.config.k - 1.0)
                * match priority {
                    Priority::Critical => 2.0,
                    Priority::High => 1.5,
                    Priority::Normal => 1.0,
                    Priority::Low => 0.5,
                };
        let p = (r as f64 - k * a as f64) / (r as f64 + 1.0);
        p.max(0.0).min(self.config.max_rejection_probability)
    }

    /// Admits (true) or refuses and counts.
    fn check(&mut self, now: u64, priority: Priority) -> bool {
        let p = self.probability(now, priority);
        if p > 0.0 && self.random.unit() < p {
            self.requests.push((now / self.slice, false));
            self.throttled += 1;
            false
        } else {
            true
        }
    }
}

fn config() -> impl Strategy<Value = ThrottleConfig> {
    (
        prop_oneof![Just(1.0), Just(2.0), 1.0..4.0f64],
        1..=20u64,
        prop_oneof![Just(1.0), 0.0..1.0f64],
    )
        .prop_map(|(k, secs, cap)| ThrottleConfig {
            k,
            window: Duration::from_secs(secs),
            max_rejection_probability: cap,
        })
}

proptest! {
    // 256 cases by default (CI-sized); PROPTEST_CASES overrides.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256),
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_engine_matches_the_sequential_model(
        config in config(),
        seed in any::<u64>(),
        ops in prop::collection::vec(op(), 1..300),
    ) {
        let clock = ManualClock::new();
        let engine = AdaptiveThrottler::with_clock_and_random(
            config,
            clock.clone(),
            SeededRandom::new(seed),
        )
        .unwrap();
        let mut model = Model {
            config,
            requests: Vec::new(),
            slice: config.window.as_nanos() as u64 / 10,
            random: SeededRandom::new(seed),
            throttled: 0,
        };
        let mut now = 0u64;
        for op in ops {
            match op {
                Op::Check { priority, accepted } => {
                    let want = model.check(now, priority);
                    match engine.check(priority) {
                        Ok(permit) => {
                            prop_assert!(want, "the engine admitted what the model refused");
                            permit.record(accepted);
                            model.requests.push((now / model.slice, accepted));
                        }
                        Err(refused) => {
                            prop_assert!(!want, "the engine refused what the model admitted");
                            prop_assert_eq!(refused.priority, priority);
                        }
                    }
                }
                Op::Record { accepted } => {
                    engine.record(accepted);
                    model.requests.push((now / model.slice, accepted));
                }
                Op::Advance { millis } => {
                    clock.advance(Duration::from_millis(millis));
                    now += millis * 1_000_000;
                }
            }
            let m = engine.metrics();
            prop_assert_eq!((m.requests, m.accepts), model.counts(now));
            prop_assert_eq!(m.throttled, model.throttled);
            for p in Priority::ALL {
                prop_assert_eq!(engine.rejection_probability(p), model.probability(now, p));
            }
        }
    }
}

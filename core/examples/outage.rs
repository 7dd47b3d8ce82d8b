//! The README's main job: drives a breaker through an outage and a recovery
//! on a manual clock and prints every transition as it happens.

use std::time::Duration;

use seawall::{Breaker, BreakerConfig, CallError, ManualClock, Transition};

fn main() {
    let clock = ManualClock::new();
    let config = BreakerConfig {
        failure_threshold: 5,
        success_threshold: 3,
        half_open_max_calls: 1,
        timeout: Duration::from_secs(10),
        timeout_multiplier: 2.0,
        max_timeout: Some(Duration::from_secs(60)),
        ..Default::default()
    };
    let breaker = Breaker::with_clock("payments", config, clock.clone()).expect("valid config");
    breaker.add_listener(|name: &str, t: Transition| {
        println!(
            "  [t={:>5.1}s] {name}: {} -> {}",
            t.at_nanos as f64 / 1e9,
            t.from,
            t.to
        );
    });

    // The dependency: healthy, then down for 45 s, then healthy again.
    let outage = 20.0..65.0;
    let mut served = 0;
    let mut failed = 0;
    let mut rejected = 0;
    println!("one call per second; the dependency is down from t=20s to t=65s");
    for second in 0..100u64 {
        let t = second as f64;
        let result = breaker.call(|| {
            if outage.contains(&t) {
                Err("503")
            } else {
                Ok(())
            }
        });
        match result {
            Ok(()) => served += 1,
            Err(CallError::Failed(_)) => failed += 1,
            Err(CallError::Rejected(r)) => {
                rejected += 1;
                if second % 10 == 0 {
                    println!("  [t={t:>5.1}s] rejected: {r}");
                }
            }
        }
        clock.advance(Duration::from_secs(1));
    }
    let m = breaker.metrics();
    println!(
        "served {served}, failed {failed}, rejected {rejected}; final state {}",
        m.state
    );
    println!(
        "metrics: permitted {} = successes {} + failures {} + ignored {}; rejected {}; transitions to OPEN {}, HALF_OPEN {}, CLOSED {}",
        m.permitted, m.successes, m.failures, m.ignored, m.rejected,
        m.transitions.to_open, m.transitions.to_half_open, m.transitions.to_closed
    );
}

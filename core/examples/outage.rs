//! The README's main job: drives a breaker through an outage and a recovery
//! on a manual clock, prints the configuration it runs, and explains every
//! transition in plain words as it happens: why it opened, how long it stays
//! open and why, when it tries again.

use std::time::Duration;

use seawall::{Breaker, BreakerConfig, CallError, ManualClock, State, Transition};

/// One call per second for `SECONDS`; the dependency is down over `OUTAGE`.
const SECONDS: u64 = 100;
const OUTAGE: std::ops::Range<u64> = 20..65;

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
    println!("breaker \"payments\":");
    println!(
        "  failure_threshold  {:>4}    consecutive failures that open it",
        config.failure_threshold
    );
    println!(
        "  timeout            {:>4}s   how long it stays open before a trial call",
        config.timeout.as_secs()
    );
    println!(
        "  timeout_multiplier {:>4}    each reopening after a failed trial multiplies it...",
        config.timeout_multiplier
    );
    println!(
        "  max_timeout        {:>4}s   ...up to this (a dependency that stays down is probed less and less often)",
        config.max_timeout.map_or(0, |d| d.as_secs())
    );
    println!(
        "  half_open_max_calls{:>4}    trial calls let through at once",
        config.half_open_max_calls
    );
    println!(
        "  success_threshold  {:>4}    trial successes that close it",
        config.success_threshold
    );
    println!(
        "one call per second for {SECONDS} s; the dependency is down from t={}s to t={}s\n",
        OUTAGE.start, OUTAGE.end
    );

    let breaker =
        Breaker::with_clock("payments", config.clone(), clock.clone()).expect("valid config");
    let explain = config.clone();
    breaker.add_listener(move |name: &str, t: Transition| {
        let at = t.at_nanos / 1_000_000_000;
        println!("  [t={at:>3}s] {name}: {} -> {}", t.from, t.to);
        println!("           {}", why(&explain, &t, at));
    });

    let mut served = 0;
    let mut failed = 0;
    let mut rejected = 0;
    for second in 0..SECONDS {
        if second == OUTAGE.start || second == OUTAGE.end {
            let health = if second == OUTAGE.start {
                "goes down"
            } else {
                "is healthy again"
            };
            println!("  [t={second:>3}s] (the dependency {health})");
            if second == OUTAGE.end && breaker.state() == State::Open {
                println!(
                    "           the breaker cannot know yet: it calls nothing while OPEN, and learns of the recovery at its next trial"
                );
            }
        }
        let result = breaker.call(|| {
            if OUTAGE.contains(&second) {
                Err("503")
            } else {
                Ok(())
            }
        });
        match result {
            Ok(()) => served += 1,
            Err(CallError::Failed(_)) => failed += 1,
            Err(CallError::Rejected(_)) => rejected += 1,
        }
        clock.advance(Duration::from_secs(1));
    }
    let m = breaker.metrics();
    println!(
        "\nserved {served}, failed {failed}, rejected {rejected} (never sent to the dependency); final state {}",
        m.state
    );
    println!(
        "metrics: permitted {} = successes {} + failures {} + ignored {}; rejected {}; transitions to OPEN {}, HALF_OPEN {}, CLOSED {}",
        m.permitted, m.successes, m.failures, m.ignored, m.rejected,
        m.transitions.to_open, m.transitions.to_half_open, m.transitions.to_closed
    );
    println!(
        "the breaker stayed OPEN for a while after the recovery: the back-off traded that delay for fewer probes of a dependency that was down; a lower max_timeout (or timeout_multiplier 1) notices a recovery sooner, at the cost of more trial calls during a long outage"
    );
}

/// A transition in plain words, from what it carries and the configuration.
fn why(config: &BreakerConfig, t: &Transition, at: u64) -> String {
    let next_trial = |d: Duration| format!("next trial call at t={}s", at + d.as_secs());
    match (t.from, t.to) {
        (State::Closed, State::Open) => {
            let open = t.retry_after.unwrap_or(config.timeout);
            format!(
                "{} failures in a row reached failure_threshold: calls are refused at once for {} s ({})",
                t.failures,
                open.as_secs(),
                next_trial(open)
            )
        }
        (State::Open, State::HalfOpen) => format!(
            "the open time is over: letting {} trial call(s) through to see whether the dependency is back",
            config.half_open_max_calls
        ),
        (State::HalfOpen, State::Open) => {
            let open = t.retry_after.unwrap_or(config.timeout);
            let capped = config.max_timeout == Some(open);
            format!(
                "the trial call failed, still down: open again, for {} s this time (x{} per failed trial{}; {})",
                open.as_secs(),
                config.timeout_multiplier,
                if capped { ", capped by max_timeout" } else { "" },
                next_trial(open)
            )
        }
        (State::HalfOpen, State::Closed) => format!(
            "{} trial calls succeeded: closed, every call goes through again and the open time is back to {} s",
            config.success_threshold,
            config.timeout.as_secs()
        ),
        _ => "forced by an operator".to_owned(),
    }
}

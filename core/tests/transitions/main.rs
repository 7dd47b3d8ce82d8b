//! Unit tests of every transition and edge of the breaker, on the manual
//! clock. Each test drives one breaker step by step and checks the state,
//! the rejection (state and exact `retry_after`), the events and the metrics
//! that the docs of the breaker (`core/src/breaker/`: `state.rs`,
//! `decide.rs`, `mod.rs`, `config.rs`) promise. One file per part of the
//! state machine; the helpers they share are here.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use seawall::{
    Breaker, BreakerConfig, CallError, Clock, ManualClock, Outcome, Permit, Rejected, SeededRandom,
    State, Ticket, Transition,
};

mod calls;
mod clock;
mod closed_open;
mod episodes;
mod half_open;
mod listeners;
mod metrics;

const US: Duration = Duration::from_micros(1);

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn new_breaker(config: BreakerConfig) -> (Breaker<ManualClock>, ManualClock) {
    let clock = ManualClock::new();
    let breaker = Breaker::with_clock("t", config, clock.clone()).expect("valid config");
    (breaker, clock)
}

/// A config with small thresholds; everything else at its default.
fn small(failures: u32, successes: u32, trials: u32, timeout: u64) -> BreakerConfig {
    BreakerConfig {
        failure_threshold: failures,
        success_threshold: successes,
        half_open_max_calls: trials,
        timeout: secs(timeout),
        half_open_timeout: secs(5),
        ..Default::default()
    }
}

fn rejected(b: &Breaker<ManualClock>) -> Rejected {
    match b.try_acquire() {
        Ok(p) => {
            let _ = p.into_ticket();
            panic!("expected a rejection in {:?}", b.state())
        }
        Err(r) => r,
    }
}

fn admitted(b: &Breaker<ManualClock>) -> Permit<'_, ManualClock> {
    b.try_acquire()
        .unwrap_or_else(|r| panic!("expected an admission, got {r}"))
}

/// Trips a CLOSED breaker with `failure_threshold` failures.
fn trip(b: &Breaker<ManualClock>) {
    assert_eq!(b.state(), State::Closed);
    for _ in 0..b.config().failure_threshold {
        admitted(b).failure();
    }
    assert_eq!(b.state(), State::Open);
}

/// Records every transition a breaker announces.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<(String, Transition)>>>);

impl Recorder {
    fn attach(&self, b: &Breaker<ManualClock>) {
        let log = Arc::clone(&self.0);
        b.add_listener(move |name: &str, t: Transition| {
            log.lock().unwrap().push((name.to_owned(), t));
        });
    }

    fn take(&self) -> Vec<(State, State)> {
        self.0
            .lock()
            .unwrap()
            .drain(..)
            .map(|(_, t)| (t.from, t.to))
            .collect()
    }

    fn take_full(&self) -> Vec<(String, Transition)> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

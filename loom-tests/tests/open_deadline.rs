//! OPEN -> HALF_OPEN happens once, on time, and the deadline word (tagged
//! with its episode's generation, published by the transition's winner or by
//! any thread that finds it missing) never leaves the breaker stuck OPEN or
//! lets it go HALF_OPEN early.
#![cfg(seawall_loom)]

use std::time::Duration;

use loom::thread;
use seawall::{Outcome, State};
use seawall_loom_tests::{
    assert_books_balance, breaker, model, model_with_branches, HALF_OPEN_TIMEOUT, TIMEOUT,
};

const NS: Duration = Duration::from_nanos(1);

/// Tripped at time 0, open time just passed, one trial slot: three threads
/// race to be the trial. Exactly one is admitted and makes the only
/// OPEN -> HALF_OPEN transition; the others see a full HALF_OPEN whose
/// trials expire `HALF_OPEN_TIMEOUT` from now. Afterwards the batch expires
/// exactly on time, and the reopened breaker opens for exactly `TIMEOUT`.
#[test]
fn open_to_half_open_race_transitions_once() {
    model(|| {
        let (b, clock, events) = breaker(1, 1, 1);
        b.try_acquire().unwrap().failure();
        clock.advance(TIMEOUT);

        let threads: Vec<_> = (0..3)
            .map(|_| {
                let b = b.clone();
                thread::spawn(move || match b.try_acquire() {
                    Ok(p) => Some(p.into_ticket()),
                    Err(r) => {
                        assert_eq!(r.state, State::HalfOpen);
                        assert_eq!(r.retry_after, Some(HALF_OPEN_TIMEOUT));
                        None
                    }
                })
            })
            .collect();
        let mut tickets: Vec<_> = threads
            .into_iter()
            .filter_map(|t| t.join().unwrap())
            .collect();
        assert_eq!(tickets.len(), 1);
        let trial = tickets.pop().unwrap();

        let ho = events.all();
        assert_eq!(events.count(State::Open, State::HalfOpen), 1, "{ho:?}");
        assert_eq!(ho.last().unwrap().at_nanos, TIMEOUT.as_nanos() as u64);

        // The batch has not expired one nanosecond early...
        clock.advance(HALF_OPEN_TIMEOUT - NS);
        assert_eq!(b.state(), State::HalfOpen);
        let r = b.try_acquire().expect_err("slot taken, batch not expired");
        assert_eq!(r.retry_after, Some(NS));
        // ...and has exactly on time: the next caller reopens it.
        clock.advance(NS);
        assert_eq!(b.state(), State::Open);
        let r = b.try_acquire().expect_err("expired batch reopens");
        assert_eq!((r.state, r.retry_after), (State::Open, Some(TIMEOUT)));
        // The expired trial's success comes too late to close it.
        b.record(trial, Outcome::Success);
        assert_eq!(b.state(), State::Open);
        clock.advance(TIMEOUT);
        assert_eq!(b.state(), State::HalfOpen);
        b.try_acquire().expect("not stuck open").success();
        assert_eq!(b.state(), State::Closed);

        let m = b.metrics();
        events.balance(State::Closed, &m);
        assert_books_balance(&m, 7);
    });
}

/// The trip itself races with callers: two failing calls (threshold two)
/// and a third caller that may read the fresh OPEN word before the winner
/// published its deadline, and so publish it itself. The deadline must be
/// the trip time plus `TIMEOUT`, whoever published it: the breaker is not
/// HALF_OPEN a nanosecond early, and is HALF_OPEN exactly on time.
#[test]
fn deadline_published_by_helpers_is_exact() {
    model(|| {
        let (b, clock, events) = breaker(2, 1, 1);
        let fail = |b: std::sync::Arc<seawall::Breaker<seawall::ManualClock>>| {
            thread::spawn(move || b.try_acquire().unwrap().failure())
        };
        let f1 = fail(b.clone());
        let f2 = fail(b.clone());
        let probe = {
            let b = b.clone();
            thread::spawn(move || match b.try_acquire() {
                Ok(p) => p.ignore(),
                Err(r) => {
                    assert_eq!((r.state, r.retry_after), (State::Open, Some(TIMEOUT)));
                    assert_eq!(b.state(), State::Open);
                }
            })
        };
        f1.join().unwrap();
        f2.join().unwrap();
        probe.join().unwrap();

        assert_eq!(events.count(State::Closed, State::Open), 1);
        clock.advance(TIMEOUT - NS);
        assert_eq!(b.state(), State::Open);
        let r = b.try_acquire().expect_err("not half-open early");
        assert_eq!(r.retry_after, Some(NS));
        clock.advance(NS);
        assert_eq!(b.state(), State::HalfOpen);
        b.try_acquire().expect("half-open on time").success();
        let m = b.metrics();
        assert_eq!(m.state, State::Closed);
        events.balance(State::Closed, &m);
        assert_books_balance(&m, 5);
    });
}

/// The clock moves while the breaker trips: the published deadline is the
/// open time after some clock reading taken at or after the trip, never
/// earlier than the earliest one (time 0) nor later than the latest (1 s),
/// and the breaker turns HALF_OPEN exactly at that deadline.
#[test]
fn deadline_with_a_moving_clock() {
    model(|| {
        let (b, clock, events) = breaker(1, 1, 1);
        let tick = {
            let clock = clock.clone();
            thread::spawn(move || clock.advance(Duration::from_secs(1)))
        };
        let trip = {
            let b = b.clone();
            thread::spawn(move || b.try_acquire().unwrap().failure())
        };
        let probe = {
            let b = b.clone();
            thread::spawn(move || {
                if let Ok(p) = b.try_acquire() {
                    p.ignore();
                }
            })
        };
        tick.join().unwrap();
        trip.join().unwrap();
        probe.join().unwrap();

        assert_eq!(events.count(State::Closed, State::Open), 1);
        let now = clock_now(&clock);
        assert_eq!(now, Duration::from_secs(1));
        let r = b.try_acquire().expect_err("open");
        let deadline = now + r.retry_after.unwrap();
        assert!(
            deadline == TIMEOUT || deadline == TIMEOUT + Duration::from_secs(1),
            "deadline {deadline:?} is not the open time after any clock reading"
        );
        clock.advance(deadline - now - NS);
        assert_eq!(b.state(), State::Open);
        clock.advance(NS);
        assert_eq!(b.state(), State::HalfOpen);
        b.try_acquire()
            .expect("half-open at the deadline")
            .success();
        assert_eq!(b.state(), State::Closed);
    });
}

fn clock_now(c: &seawall::ManualClock) -> Duration {
    use seawall::Clock;
    Duration::from_nanos(c.now())
}

/// Commands start a new generation without publishing a deadline. After
/// `n` of them the next trip's deadline must still be its own: exactly
/// `TIMEOUT` after the trip. (Single-threaded: what matters is the sequence;
/// loom is used because the deadline word is a loom atomic under this cfg.)
fn trip_after_commands(n: u32) {
    model_with_branches(20 * n as usize + 1_000, move || {
        let (b, clock, _events) = breaker(1, 1, 1);
        // One trip and recovery, so the deadline word holds a real value.
        b.try_acquire().unwrap().failure();
        clock.advance(TIMEOUT);
        b.try_acquire().unwrap().success();
        assert_eq!(b.state(), State::Closed);
        for _ in 0..n {
            b.reset();
        }
        b.try_acquire().unwrap().failure();
        assert_eq!(b.state(), State::Open);
        let r = b.try_acquire().expect_err("just tripped");
        assert_eq!(r.retry_after, Some(TIMEOUT), "after {n} resets");
        clock.advance(TIMEOUT);
        assert_eq!(b.state(), State::HalfOpen, "stuck open after {n} resets");
    });
}

#[test]
fn trip_after_a_few_resets() {
    trip_after_commands(3);
}

#[test]
fn trip_after_many_resets() {
    // Half the deadline tag range and more: the previous deadline's tag then
    // looks newer than the trip's generation.
    trip_after_commands(600);
}

#[test]
fn trip_after_a_tag_range_of_resets() {
    // The trip's generation has the same tag as the stale deadline left by
    // the first episode.
    trip_after_commands(998);
}

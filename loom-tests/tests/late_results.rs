//! A result from an old generation never changes the new episode.
#![cfg(seawall_loom)]

use loom::thread;
use seawall::{Outcome, State};
use seawall_loom_tests::{assert_books_balance, breaker, model, HALF_OPEN_TIMEOUT, TIMEOUT};

/// One failure counted (threshold two), and a permit of that episode still
/// out. Its failure races a reset that is followed by a fresh failing call.
/// Without the generation check the old failure could land after the reset
/// and trip the breaker together with the new one. With it, either the old
/// failure trips the breaker before the reset (which then closes it), or it
/// lands after the reset and is only measured; the new episode always ends
/// CLOSED with exactly one consecutive failure, the new call's.
#[test]
fn late_closed_failure_does_not_count_after_reset() {
    model(|| {
        let (b, _clock, events) = breaker(2, 1, 1);
        b.try_acquire().unwrap().failure();
        let old = b.try_acquire().unwrap().into_ticket();

        let late = {
            let b = b.clone();
            thread::spawn(move || b.record(old, Outcome::Failure))
        };
        let fresh = {
            let b = b.clone();
            thread::spawn(move || {
                b.reset();
                b.try_acquire()
                    .expect("only a counted new failure could open it")
                    .failure();
            })
        };
        late.join().unwrap();
        fresh.join().unwrap();

        let m = b.metrics();
        assert_eq!(m.state, State::Closed);
        assert_eq!(m.consecutive_failures, 1, "{:?}", events.all());
        // The old failure is counted as a failure if it reached its episode
        // before the reset (whether or not its trip won the race with the
        // reset), else as late; never as both.
        assert_eq!(m.failures + m.late, 3);
        if events.count(State::Closed, State::Open) == 1 {
            assert_eq!(m.late, 0);
        }
        // Either no transition, or the old failure tripped before the reset.
        let trips = events.count(State::Closed, State::Open);
        assert!(trips <= 1);
        assert_eq!(events.count(State::Open, State::Closed), trips);
        events.balance(State::Closed, &m);
        assert_books_balance(&m, 3);
    });
}

/// A trial batch expires (its half-open timeout passed) with one trial out.
/// The trial's late success races another caller that finds the batch full
/// and expired. Whichever comes first reopens the breaker, exactly once; the
/// late success never closes it.
#[test]
fn late_trial_success_after_expiry_does_not_close() {
    model(|| {
        let (b, clock, events) = breaker(1, 1, 1);
        b.try_acquire().unwrap().failure();
        clock.advance(TIMEOUT);
        let trial = b.try_acquire().expect("open time passed").into_ticket();
        clock.advance(HALF_OPEN_TIMEOUT);
        assert_eq!(b.state(), State::Open, "outstanding trials expired");

        let late = {
            let b = b.clone();
            thread::spawn(move || b.record(trial, Outcome::Success))
        };
        let caller = {
            let b = b.clone();
            thread::spawn(move || {
                let r = b.try_acquire().expect_err("reopened: nothing is admitted");
                assert_eq!(r.state, State::Open);
                assert_eq!(r.retry_after, Some(TIMEOUT));
            })
        };
        late.join().unwrap();
        caller.join().unwrap();

        let m = b.metrics();
        assert_eq!(m.state, State::Open);
        // Counted as a success if it reached the batch before the expiry
        // (which then discards it), else as late.
        assert_eq!(m.successes + m.late, 1);
        assert_eq!(m.transitions.to_closed, 0);
        assert_eq!(
            events.count(State::HalfOpen, State::Open),
            1,
            "{:?}",
            events.all()
        );
        events.balance(State::Open, &m);
        assert_books_balance(&m, 3);
        // Not stuck: the reopened breaker admits a trial after its open time.
        clock.advance(TIMEOUT);
        assert_eq!(b.state(), State::HalfOpen);
        b.try_acquire()
            .expect("trial after the new open time")
            .success();
        assert_eq!(b.state(), State::Closed);
    });
}

/// Two trials of one batch resolve at once, one failing and one succeeding,
/// with one success enough to close. The first to land decides the batch;
/// the other is from a finished generation and changes nothing. The breaker
/// ends CLOSED or OPEN accordingly, never having taken both transitions.
#[test]
fn one_trial_batch_is_decided_once() {
    model(|| {
        let (b, clock, events) = breaker(1, 1, 2);
        b.try_acquire().unwrap().failure();
        clock.advance(TIMEOUT);
        let a = b.try_acquire().unwrap().into_ticket();
        let c = b.try_acquire().unwrap().into_ticket();
        assert_eq!(b.metrics().trial_calls_in_flight, 2);

        let fail = {
            let b = b.clone();
            thread::spawn(move || b.record(a, Outcome::Failure))
        };
        let succeed = {
            let b = b.clone();
            thread::spawn(move || b.record(c, Outcome::Success))
        };
        fail.join().unwrap();
        succeed.join().unwrap();

        let m = b.metrics();
        let closed = events.count(State::HalfOpen, State::Closed);
        let reopened = events.count(State::HalfOpen, State::Open);
        assert_eq!(closed + reopened, 1, "{:?}", events.all());
        match m.state {
            State::Closed => assert_eq!(closed, 1),
            State::Open => assert_eq!(reopened, 1),
            other => panic!("unexpected state {other}"),
        }
        assert_eq!(m.trial_calls_in_flight, 0);
        events.balance(m.state, &m);
        assert_books_balance(&m, 3);
    });
}

//! Racing failures trip a CLOSED breaker exactly once.
#![cfg(seawall_loom)]

use loom::thread;
use seawall::{Outcome, State};
use seawall_loom_tests::{assert_books_balance, breaker, model, TIMEOUT};

/// Three failures land at once on permits all taken while CLOSED, with the
/// threshold at three: whichever lands last trips the breaker. Exactly one
/// swap wins, so exactly one CLOSED -> OPEN transition is counted and
/// exactly one event delivered.
#[test]
fn racing_failures_trip_once() {
    model(|| {
        let (b, _clock, events) = breaker(3, 1, 1);
        let tickets: Vec<_> = (0..3)
            .map(|_| b.try_acquire().expect("closed admits").into_ticket())
            .collect();
        let threads: Vec<_> = tickets
            .into_iter()
            .map(|t| {
                let b = b.clone();
                thread::spawn(move || b.record(t, Outcome::Failure))
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }

        let m = b.metrics();
        assert_eq!(m.state, State::Open);
        assert_eq!(m.failures, 3);
        assert_eq!(m.late, 0);
        assert_eq!(m.consecutive_failures, 0);
        assert_eq!(m.transitions.to_open, 1);
        assert_eq!(events.count(State::Closed, State::Open), 1);
        assert_eq!(events.all().len(), 1, "{:?}", events.all());
        assert_eq!(events.all()[0].at_nanos, 0);
        events.balance(State::Open, &m);
        assert_books_balance(&m, 3);
        let r = b.try_acquire().expect_err("open rejects");
        assert_eq!(r.retry_after, Some(TIMEOUT));
    });
}

/// Two threads each take a permit and fail it (threshold two) while a third
/// takes a permit and succeeds. The success either lands between the
/// failures (no trip, one failure counted) or not (one trip); the third
/// call may also be rejected once the breaker is open. In every case the
/// state, the consecutive-failure count and the events agree.
#[test]
fn racing_acquires_failures_and_a_success() {
    model(|| {
        let (b, _clock, events) = breaker(2, 1, 1);
        let fail = |b: std::sync::Arc<seawall::Breaker<seawall::ManualClock>>| {
            thread::spawn(move || {
                b.try_acquire()
                    .expect("cannot open before both fail")
                    .failure()
            })
        };
        let f1 = fail(b.clone());
        let f2 = fail(b.clone());
        let s = {
            let b = b.clone();
            thread::spawn(move || match b.try_acquire() {
                Ok(p) => {
                    p.success();
                    true
                }
                Err(r) => {
                    assert_eq!(r.state, State::Open);
                    assert_eq!(r.retry_after, Some(TIMEOUT));
                    false
                }
            })
        };
        f1.join().unwrap();
        f2.join().unwrap();
        let permitted = s.join().unwrap();

        let m = b.metrics();
        let trips = events.count(State::Closed, State::Open);
        assert!(trips <= 1, "{:?}", events.all());
        match m.state {
            State::Open => {
                assert_eq!(trips, 1);
                assert_eq!(m.consecutive_failures, 0);
            }
            State::Closed => {
                // Only a success between the two failures prevents the trip.
                assert!(permitted);
                assert_eq!(trips, 0);
                assert_eq!(m.consecutive_failures, 1);
            }
            other => panic!("unexpected state {other}"),
        }
        // Both failures land in the episode that admitted them (the second
        // one ends it); the success may land after the trip, as late.
        assert_eq!(m.failures, 2);
        assert_eq!(m.successes + m.late, u64::from(permitted));
        assert_eq!(m.rejected, u64::from(!permitted));
        events.balance(m.state, &m);
        assert_books_balance(&m, 3);
    });
}

//! Permits, tickets and the `call` helpers.

use super::*;

#[test]
fn dropping_a_permit_counts_as_ignored_and_frees_its_trial_slot() {
    let (b, clock) = new_breaker(small(2, 1, 1, 10));
    admitted(&b).failure();
    drop(admitted(&b));
    assert_eq!(b.metrics().consecutive_failures, 1);
    assert_eq!(b.metrics().ignored, 1);
    admitted(&b).failure();
    clock.advance(secs(10));
    let trial = admitted(&b);
    assert!(b.try_acquire().is_err());
    drop(trial);
    assert_eq!(b.metrics().trial_calls_in_flight, 0);
    assert_eq!(b.state(), State::HalfOpen);
    admitted(&b).success();
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.metrics().ignored, 2);
}

#[test]
fn a_ticket_round_trips_and_records_like_its_permit() {
    let (b, clock) = new_breaker(small(2, 1, 1, 10));
    let t1 = admitted(&b).into_ticket();
    let t2 = admitted(&b).into_ticket();
    let (gen, start) = t2.into_parts();
    let t2 = Ticket::from_parts(gen, start);
    assert_eq!(b.metrics().ignored, 0, "a detached permit is not dropped");
    b.record(t1, Outcome::Failure);
    assert_eq!(b.state(), State::Closed);
    b.record(t2, Outcome::Failure);
    assert_eq!(b.state(), State::Open);
    // A trial held as a ticket keeps its slot until recorded.
    clock.advance(secs(10));
    let trial = admitted(&b).into_ticket();
    assert_eq!(rejected(&b).state, State::HalfOpen);
    b.record(trial, Outcome::Success);
    assert_eq!(b.state(), State::Closed);
    // A ticket of an older generation is stale like its permit.
    let stale = admitted(&b).into_ticket();
    b.reset();
    admitted(&b).failure();
    b.record(stale, Outcome::Failure);
    assert_eq!(b.state(), State::Closed);
    let m = b.metrics();
    assert_eq!(
        (m.permitted, m.successes, m.failures, m.ignored, m.late),
        (5, 1, 3, 0, 1)
    );
}

#[test]
fn call_counts_ok_as_success_and_every_err_as_failure() {
    let (b, _) = new_breaker(small(2, 1, 1, 10));
    assert_eq!(b.call(|| Ok::<_, &str>(7)), Ok(7));
    assert_eq!(
        b.call(|| Err::<(), _>("boom")),
        Err(CallError::Failed("boom"))
    );
    assert_eq!(b.metrics().consecutive_failures, 1);
    assert_eq!(
        b.call(|| Err::<(), _>("boom")),
        Err(CallError::Failed("boom"))
    );
    assert_eq!(b.state(), State::Open);
    match b.call(|| Ok::<_, &str>(1)) {
        Err(CallError::Rejected(r)) => assert_eq!(r.state, State::Open),
        other => panic!("expected a rejection, got {other:?}"),
    }
    let m = b.metrics();
    assert_eq!(
        (m.permitted, m.successes, m.failures, m.rejected),
        (3, 1, 2, 1)
    );
}

#[test]
fn call_classified_lets_the_classifier_decide() {
    let (b, _) = new_breaker(small(1, 1, 1, 10));
    let classify = |e: &u32| match e {
        404 => Outcome::Ignored,
        200 => Outcome::Success,
        _ => Outcome::Failure,
    };
    assert_eq!(
        b.call_classified(|| Err::<(), _>(404), classify),
        Err(CallError::Failed(404))
    );
    assert_eq!(b.state(), State::Closed);
    assert_eq!(
        b.call_classified(|| Err::<(), _>(200), classify),
        Err(CallError::Failed(200))
    );
    assert_eq!(b.state(), State::Closed);
    assert_eq!(
        b.call_classified(|| Err::<(), _>(503), classify),
        Err(CallError::Failed(503))
    );
    assert_eq!(b.state(), State::Open);
    let m = b.metrics();
    assert_eq!((m.successes, m.failures, m.ignored), (1, 1, 1));
}

#[test]
fn a_panic_inside_call_releases_the_permit_as_ignored() {
    let (b, clock) = new_breaker(small(1, 1, 1, 10));
    let r = catch_unwind(AssertUnwindSafe(|| {
        let _ = b.call(|| -> Result<(), ()> { panic!("closure panics in CLOSED") });
    }));
    assert!(r.is_err());
    assert_eq!(b.state(), State::Closed);
    trip(&b);
    clock.advance(secs(10));
    let r = catch_unwind(AssertUnwindSafe(|| {
        let _ = b.call_classified(
            || -> Result<(), ()> { panic!("closure panics in a trial") },
            |_| Outcome::Failure,
        );
    }));
    assert!(r.is_err());
    assert_eq!(b.state(), State::HalfOpen);
    assert_eq!(
        b.metrics().trial_calls_in_flight,
        0,
        "the trial slot is free again"
    );
    assert_eq!(b.call(|| Ok::<_, ()>(())), Ok(()));
    assert_eq!(b.state(), State::Closed);
    let m = b.metrics();
    assert_eq!(
        (m.permitted, m.successes, m.failures, m.ignored),
        (4, 1, 1, 2)
    );
}

/// A permit that writes down the outcome it is given.
struct Noted<'a>(&'a Mutex<Vec<Outcome>>);

impl seawall::Report for Noted<'_> {
    fn record(self, outcome: Outcome) {
        self.0.lock().unwrap().push(outcome);
    }
}

#[test]
fn protected_call_drives_any_permit_through_the_call_protocol() {
    let noted = Mutex::new(Vec::new());
    let ok = seawall::protected_call(Ok(Noted(&noted)), || Ok::<_, u16>(7), |_| Outcome::Failure);
    assert_eq!(ok, Ok(7));
    let err = seawall::protected_call(
        Ok(Noted(&noted)),
        || Err::<(), _>(404),
        |_| Outcome::Ignored,
    );
    assert_eq!(err, Err(CallError::Failed(404)));
    let (b, _) = new_breaker(small(1, 1, 1, 10));
    trip(&b);
    let rejected = b.try_acquire().unwrap_err();
    let mut ran = false;
    let refused = seawall::protected_call(
        Err::<Noted<'_>, _>(rejected),
        || {
            ran = true;
            Ok::<(), ()>(())
        },
        |_| Outcome::Failure,
    );
    assert_eq!(refused, Err(CallError::Rejected(rejected)));
    assert!(!ran, "a rejected call does not run");
    assert_eq!(*noted.lock().unwrap(), [Outcome::Success, Outcome::Ignored]);
}

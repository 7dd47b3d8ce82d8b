//! Listeners hear every transition once, and cannot break the breaker.

use super::*;

#[test]
fn listeners_hear_each_transition_exactly_once_with_from_and_to() {
    let (b, clock) = new_breaker(small(1, 2, 2, 10));
    let events = Recorder::default();
    let second = Recorder::default();
    events.attach(&b);
    second.attach(&b);
    clock.set(1_000);
    trip(&b);
    clock.advance(secs(10));
    assert_eq!(b.state(), State::HalfOpen);
    assert!(events.take_full().iter().all(|(n, _)| n == "t"));
    let t = admitted(&b);
    let t2 = admitted(&b);
    t.ignore();
    t2.ignore();
    // A new batch of trials in the same HALF_OPEN episode is no transition.
    admitted(&b).failure();
    clock.advance(secs(10));
    admitted(&b).success();
    admitted(&b).success();
    b.force_open();
    b.force_closed();
    b.force_closed();
    b.reset();
    b.reset();
    let expected = vec![
        (State::Open, State::HalfOpen),
        (State::HalfOpen, State::Open),
        (State::Open, State::HalfOpen),
        (State::HalfOpen, State::Closed),
        (State::Closed, State::ForcedOpen),
        (State::ForcedOpen, State::ForcedClosed),
        (State::ForcedClosed, State::Closed),
    ];
    assert_eq!(events.take(), expected);
    let mut all = vec![(State::Closed, State::Open)];
    all.extend(expected);
    assert_eq!(second.take(), all);
    let m = b.metrics().transitions;
    assert_eq!(
        (
            m.to_closed,
            m.to_open,
            m.to_half_open,
            m.to_forced_open,
            m.to_forced_closed
        ),
        (2, 2, 2, 1, 1)
    );
}

#[test]
fn transitions_carry_the_clock_reading_and_the_breaker_name() {
    let (b, clock) = new_breaker(small(1, 1, 1, 10));
    let events = Recorder::default();
    events.attach(&b);
    clock.set(3_000);
    trip(&b);
    clock.set(20 * 1_000_000_000);
    admitted(&b).success();
    let got: Vec<_> = events
        .take_full()
        .into_iter()
        .map(|(n, t)| (n, t.from, t.to, t.at_nanos))
        .collect();
    let at = 20 * 1_000_000_000;
    assert_eq!(
        got,
        vec![
            ("t".to_owned(), State::Closed, State::Open, 3_000),
            ("t".to_owned(), State::Open, State::HalfOpen, at),
            ("t".to_owned(), State::HalfOpen, State::Closed, at),
        ]
    );
}

#[test]
fn a_panicking_listener_does_not_break_the_breaker() {
    let (b, clock) = new_breaker(small(1, 1, 1, 10));
    b.add_listener(|_: &str, t: Transition| panic!("listener panics on {t:?}"));
    let events = Recorder::default();
    events.attach(&b);
    trip(&b);
    assert_eq!(rejected(&b).retry_after, Some(secs(10)));
    clock.advance(secs(10));
    admitted(&b).success();
    assert_eq!(b.state(), State::Closed);
    assert_eq!(
        events.take(),
        vec![
            (State::Closed, State::Open),
            (State::Open, State::HalfOpen),
            (State::HalfOpen, State::Closed)
        ]
    );
    let m = b.metrics();
    assert_eq!(
        (m.permitted, m.failures, m.successes, m.rejected),
        (2, 1, 1, 1)
    );
}

/// A listener that reads the breaker, registers another listener and issues
/// a command from inside the callback. Run on another thread so that a
/// deadlock fails the test instead of hanging it.
#[test]
fn a_listener_may_call_back_into_the_breaker() {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let clock = ManualClock::new();
        let b = Arc::new(Breaker::with_clock("t", small(1, 1, 1, 10), clock.clone()).unwrap());
        let me: Arc<OnceLock<Weak<Breaker<ManualClock>>>> = Arc::default();
        me.set(Arc::downgrade(&b)).unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let late = Recorder::default();
        {
            let (me, seen, late) = (Arc::clone(&me), Arc::clone(&seen), late.clone());
            let added = AtomicBool::new(false);
            b.add_listener(move |_: &str, t: Transition| {
                let b = me.get().unwrap().upgrade().unwrap();
                seen.lock()
                    .unwrap()
                    .push((t.to, b.state(), b.metrics().state));
                if !added.swap(true, Ordering::Relaxed) {
                    late.attach(&b);
                }
                if t.to == State::HalfOpen {
                    // Drive the breaker from inside the callback.
                    b.force_open();
                }
            });
        }
        trip(&b);
        clock.advance(secs(10));
        let trial = b.try_acquire().map(Permit::into_ticket);
        let state = b.state();
        let seen = seen.lock().unwrap().clone();
        tx.send((trial.is_ok(), state, seen, late.take())).unwrap();
        if let Ok(t) = trial {
            b.record(t, Outcome::Ignored);
        }
    });
    let (got_trial, state, seen, late) = match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(v) => v,
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("a listener calling back into the breaker deadlocked")
        }
        Err(e) => panic!("the test thread failed: {e}"),
    };
    assert!(got_trial);
    assert_eq!(state, State::ForcedOpen);
    assert_eq!(
        seen,
        vec![
            (State::Open, State::Open, State::Open),
            (State::HalfOpen, State::HalfOpen, State::HalfOpen),
            (State::ForcedOpen, State::ForcedOpen, State::ForcedOpen),
        ]
    );
    // Registered during the CLOSED -> OPEN delivery, it hears each later
    // transition once, in the order the thread made them: the one caused by
    // a listener is delivered after the delivery in progress.
    assert_eq!(
        late,
        vec![
            (State::Open, State::HalfOpen),
            (State::HalfOpen, State::ForcedOpen)
        ]
    );
}

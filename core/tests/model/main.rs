//! Model-based property test: random sequences of operations run against the
//! breaker and against a plain sequential model of its documented
//! semantics; after every operation the two must agree on the state, on
//! admission versus rejection (with the rejection's state and `retry_after`),
//! on the transitions announced, and on every metrics counter.
//!
//! The model is written from the docs (`lib.rs`, `config.rs`, `metrics.rs`,
//! the `Breaker` methods), not from the implementation: it keeps plain
//! integers, an unbounded generation number and absolute deadlines.
//!
//! The model is in `sequential.rs`; this file draws the operations and runs
//! them against both.
//!
//! Cases default to 256; set `PROPTEST_CASES` to run more (or fewer).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use proptest::prelude::*;
use proptest::sample::Index;
use seawall::{Breaker, ManualClock, Outcome, Permit, State, Ticket, Transition};

mod sequential;

use sequential::{Admission, Model, Params, MULTIPLIERS, SEC, US};

// ---------------------------------------------------------------- operations

#[derive(Clone, Copy, Debug)]
enum Step {
    /// By the configured timeout.
    Timeout,
    /// By the configured half-open timeout.
    HalfOpenTimeout,
    /// To the model's current deadline, or one microsecond before it.
    ToDeadline { early: bool },
    /// By this many microseconds.
    Micros(u64),
}

#[derive(Clone, Debug)]
enum Op {
    /// Acquire and, if admitted, report at once: the common call.
    Call(Outcome),
    /// Acquire and hold the permit (or its detached ticket).
    Acquire {
        detach: bool,
    },
    /// Report a held permit: the newest one (`None`) or any, stale included.
    Record {
        pick: Option<Index>,
        outcome: Outcome,
    },
    Drop {
        pick: Index,
    },
    Advance(Step),
    /// Steps the clock back by this many microseconds (saturating at zero).
    Back(u64),
    ForceOpen,
    ForceClosed,
    Reset,
    /// Many resets in a row: generations move on without a deadline.
    Resets(u16),
}

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        3 => Just(Outcome::Failure),
        3 => Just(Outcome::Success),
        1 => Just(Outcome::Ignored),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        2 => Just(Step::Timeout),
        1 => Just(Step::HalfOpenTimeout),
        2 => any::<bool>().prop_map(|early| Step::ToDeadline { early }),
        1 => Just(Step::Micros(1)),
        2 => (0..10_000_000u64).prop_map(Step::Micros),
        1 => (0..8u64).prop_map(|s| Step::Micros(s * 1_000_000)),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        20 => outcome().prop_map(Op::Call),
        14 => any::<bool>().prop_map(|detach| Op::Acquire { detach }),
        12 => (prop::option::of(any::<Index>()), outcome())
            .prop_map(|(pick, outcome)| Op::Record { pick, outcome }),
        2 => any::<Index>().prop_map(|pick| Op::Drop { pick }),
        16 => step().prop_map(Op::Advance),
        2 => (0..10_000_000u64).prop_map(Op::Back),
        1 => Just(Op::ForceOpen),
        1 => Just(Op::ForceClosed),
        3 => Just(Op::Reset),
        1 => (1..1_200u16).prop_map(Op::Resets),
    ]
}

fn params() -> impl Strategy<Value = Params> {
    (
        1..=4u32,
        1..=4u32,
        1..=3u32,
        1..=4u64,
        1..=4u64,
        0..MULTIPLIERS.len(),
        prop::option::of(1..=4u64),
        prop::option::of(1..=3u64),
        prop::option::of(prop::sample::select(vec![(1u64, 2u64), (3, 4), (1, 1)])),
    )
        .prop_map(|(f, s, m, t, h, mi, cap, slow, rate)| Params {
            failure_threshold: f,
            success_threshold: s,
            half_open_max_calls: m,
            timeout: t * SEC,
            half_open_timeout: h * SEC,
            multiplier: MULTIPLIERS[mi],
            cap,
            slow: slow.map(|s| s * SEC),
            rate,
        })
}

// ---------------------------------------------------------------- the run

enum Handle<'a> {
    Permit(Permit<'a, ManualClock>),
    Ticket(Ticket),
}

/// A permit held by the test, with what the model knows about it.
struct Held<'a> {
    handle: Handle<'a>,
    gen: u64,
    start: u64,
}

fn finish(b: &Breaker<ManualClock>, held: Held<'_>, outcome: Option<Outcome>) {
    match (held.handle, outcome) {
        (Handle::Permit(p), Some(o)) => p.record(o),
        (Handle::Permit(p), None) => drop(p),
        (Handle::Ticket(t), o) => b.record(t, o.unwrap_or(Outcome::Ignored)),
    }
}

fn check(
    b: &Breaker<ManualClock>,
    m: &Model,
    now: u64,
    events: &Mutex<Vec<(State, State)>>,
) -> Result<(), TestCaseError> {
    let got = b.metrics();
    let want_state = m.observed(now);
    prop_assert_eq!(b.state(), want_state);
    prop_assert_eq!(got.state, want_state);
    let k = &m.books;
    prop_assert_eq!(
        (
            got.permitted,
            got.successes,
            got.failures,
            got.ignored,
            got.late
        ),
        (k.permitted, k.successes, k.failures, k.ignored, k.late)
    );
    prop_assert_eq!((got.rejected, got.slow_calls), (k.rejected, k.slow));
    let closed = m.kind == State::Closed;
    let half_open = m.kind == State::HalfOpen;
    prop_assert_eq!(got.consecutive_failures, if closed { m.count } else { 0 });
    prop_assert_eq!(got.trial_successes, if half_open { m.count } else { 0 });
    prop_assert_eq!(
        got.trial_calls_in_flight,
        if half_open { m.inflight } else { 0 }
    );
    let t = got.transitions;
    prop_assert_eq!(
        [
            t.to_closed,
            t.to_open,
            t.to_half_open,
            t.to_forced_open,
            t.to_forced_closed
        ],
        m.entered
    );
    prop_assert_eq!(
        got.time_in_state,
        Duration::from_nanos(now.saturating_sub(m.since))
    );
    prop_assert_eq!(&*events.lock().unwrap(), &m.events);
    Ok(())
}

fn run(p: Params, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let clock = ManualClock::new();
    let b = Breaker::with_clock("model", p.config(), clock.clone()).unwrap();
    let events = Arc::new(Mutex::new(Vec::new()));
    {
        let events = Arc::clone(&events);
        b.add_listener(move |_: &str, t: Transition| events.lock().unwrap().push((t.from, t.to)));
    }
    let mut m = Model::new(p.clone());
    let mut held: Vec<Held<'_>> = Vec::new();
    let mut now = 0u64;
    for op in ops {
        match op {
            Op::Call(outcome) => {
                let want = m.acquire(now);
                match (b.try_acquire(), want) {
                    (Ok(permit), Admission::Admitted { gen }) => {
                        m.outcome(gen, now, outcome, now);
                        permit.record(outcome);
                    }
                    (Err(r), Admission::Rejected { state, retry_after }) => {
                        prop_assert_eq!((r.state, r.retry_after), (state, retry_after));
                    }
                    (Ok(permit), want) => {
                        let _ = permit.into_ticket();
                        prop_assert!(false, "admitted, the model says {:?}", want);
                    }
                    (Err(r), want) => prop_assert!(false, "rejected ({}), model {:?}", r, want),
                }
            }
            Op::Acquire { detach } => {
                let want = m.acquire(now);
                match (b.try_acquire(), want) {
                    (Ok(permit), Admission::Admitted { gen }) => {
                        let handle = if detach {
                            Handle::Ticket(permit.into_ticket())
                        } else {
                            Handle::Permit(permit)
                        };
                        held.push(Held {
                            handle,
                            gen,
                            start: now,
                        });
                    }
                    (Err(r), Admission::Rejected { state, retry_after }) => {
                        prop_assert_eq!((r.state, r.retry_after), (state, retry_after));
                    }
                    (Ok(permit), want) => {
                        let _ = permit.into_ticket();
                        prop_assert!(false, "admitted, the model says {:?}", want);
                    }
                    (Err(r), want) => prop_assert!(false, "rejected ({}), model {:?}", r, want),
                }
            }
            Op::Record { pick, outcome } => {
                if !held.is_empty() {
                    let i = pick.map_or(held.len() - 1, |i| i.index(held.len()));
                    let h = held.swap_remove(i);
                    m.outcome(h.gen, h.start, outcome, now);
                    finish(&b, h, Some(outcome));
                }
            }
            Op::Drop { pick } => {
                if !held.is_empty() {
                    let h = held.swap_remove(pick.index(held.len()));
                    m.outcome(h.gen, h.start, Outcome::Ignored, now);
                    finish(&b, h, None);
                }
            }
            Op::Advance(step) => {
                now = match step {
                    Step::Timeout => now + p.timeout,
                    Step::HalfOpenTimeout => now + p.half_open_timeout,
                    Step::ToDeadline { early } => match m.kind {
                        State::Open | State::HalfOpen if m.deadline > now => {
                            m.deadline - if early { US } else { 0 }
                        }
                        _ => now + SEC,
                    },
                    Step::Micros(us) => now + us * US,
                };
                clock.set(now);
            }
            Op::Back(us) => {
                now = now.saturating_sub(us * US);
                clock.set(now);
            }
            Op::ForceOpen => {
                m.command(State::ForcedOpen, now);
                b.force_open();
            }
            Op::ForceClosed => {
                m.command(State::ForcedClosed, now);
                b.force_closed();
            }
            Op::Reset => {
                m.command(State::Closed, now);
                b.reset();
            }
            Op::Resets(n) => {
                for _ in 0..n {
                    m.command(State::Closed, now);
                    b.reset();
                }
            }
        }
        check(&b, &m, now, &events)?;
    }
    // Settle every permit still held: the books must balance exactly.
    for h in held.drain(..) {
        m.outcome(h.gen, h.start, Outcome::Ignored, now);
        finish(&b, h, None);
    }
    check(&b, &m, now, &events)?;
    let got = b.metrics();
    prop_assert_eq!(
        got.permitted,
        got.successes + got.failures + got.ignored + got.late
    );
    Ok(())
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        ..ProptestConfig::default()
    })]

    #[test]
    fn breaker_matches_the_sequential_model(
        p in params(),
        ops in prop::collection::vec(op(), 1..120),
    ) {
        run(p, ops)?;
    }
}

/// The model itself: a few fixed runs whose outcome is known by hand, so a
/// model that agrees with a wrong breaker would be caught here.
#[test]
fn the_model_follows_the_documented_cycle() {
    let p = Params {
        failure_threshold: 2,
        success_threshold: 2,
        half_open_max_calls: 1,
        timeout: 10 * SEC,
        half_open_timeout: 5 * SEC,
        multiplier: (2, 1),
        cap: Some(3),
        slow: None,
        rate: None,
    };
    let mut m = Model::new(p);
    assert_eq!(m.acquire(0), Admission::Admitted { gen: 0 });
    m.outcome(0, 0, Outcome::Failure, 0);
    m.outcome(0, 0, Outcome::Failure, 0);
    assert_eq!(m.observed(0), State::Open);
    let open = |s: u64| Admission::Rejected {
        state: State::Open,
        retry_after: Some(Duration::from_secs(s)),
    };
    assert_eq!(m.acquire(SEC), open(9));
    assert_eq!(m.observed(10 * SEC), State::HalfOpen);
    let Admission::Admitted { gen } = m.acquire(10 * SEC) else {
        panic!("a trial")
    };
    m.outcome(gen, 10 * SEC, Outcome::Failure, 10 * SEC);
    assert_eq!(m.acquire(10 * SEC), open(20), "backed off");
    let Admission::Admitted { gen } = m.acquire(30 * SEC) else {
        panic!("a trial")
    };
    assert_eq!(m.observed(35 * SEC), State::Open, "expired trial");
    assert_eq!(m.acquire(35 * SEC), open(30), "capped at 3 x timeout");
    m.outcome(gen, 30 * SEC, Outcome::Success, 35 * SEC);
    assert_eq!(m.books.late, 1);
    assert_eq!(m.entered, [0, 3, 2, 0, 0]);
    assert_eq!(m.books.permitted + m.books.rejected, 6);

    // The success-rate rule: ceil(rate * batch) successes, at least one.
    let rule = |success_threshold, rate| {
        Params {
            success_threshold,
            rate,
            ..m.p.clone()
        }
        .trial_rule()
    };
    assert_eq!(rule(4, None), (4, 0));
    assert_eq!(rule(4, Some((3, 4))), (3, 1));
    assert_eq!(rule(3, Some((1, 2))), (2, 1));
    assert_eq!(rule(1, Some((1, 2))), (1, 0));
    assert_eq!(rule(4, Some((1, 1))), (4, 0));
}

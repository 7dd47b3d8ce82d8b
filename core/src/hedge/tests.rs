//! Hedging on the manual clock: delays, the budget draw, winners, metrics.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::{BudgetCounts, HedgeDecision, ManualClock, Resolution, RetryBudgetConfig};

const MS: u64 = 1_000_000;

fn hedge(config: HedgeConfig, budget: RetryBudgetConfig) -> (Hedge<ManualClock>, ManualClock) {
    let clock = ManualClock::new();
    let budget = Arc::new(RetryBudget::with_clock(budget, clock.clone()).unwrap());
    (
        Hedge::with_clock(config, budget, clock.clone()).unwrap(),
        clock,
    )
}

fn fixed(ms: u64, max_hedges: u32) -> HedgeConfig {
    HedgeConfig {
        max_hedges,
        delay: Duration::from_millis(ms),
        quantile: None,
        ..Default::default()
    }
}

#[test]
fn hedges_start_one_delay_apart_up_to_max_hedges() {
    let (h, clock) = hedge(fixed(10, 2), RetryBudgetConfig::default());
    let call = h.start(h.now(), true);
    assert_eq!(
        call.may_hedge(h.now()),
        HedgeDecision::Wait(Duration::from_millis(10))
    );
    clock.advance(Duration::from_millis(4));
    assert_eq!(call.next_delay(h.now()), Some(Duration::from_millis(6)));
    clock.advance(Duration::from_millis(6));
    assert_eq!(call.may_hedge(h.now()), HedgeDecision::Start(1));
    assert_eq!(
        call.may_hedge(h.now()),
        HedgeDecision::Wait(Duration::from_millis(10))
    );
    // A late driver gets the overdue hedge at once, then none.
    clock.advance(Duration::from_millis(25));
    assert_eq!(call.next_delay(h.now()), Some(Duration::ZERO));
    assert_eq!(call.may_hedge(h.now()), HedgeDecision::Start(2));
    assert_eq!(call.may_hedge(h.now()), HedgeDecision::Done);
    assert_eq!(call.next_delay(h.now()), None);
    assert_eq!(call.attempts(), 3);
    // The budget saw one request and two retries.
    assert_eq!(
        h.budget().counts(),
        BudgetCounts {
            requests: 3,
            retries: 2
        }
    );
}

#[test]
fn a_call_not_marked_idempotent_is_never_hedged() {
    let (h, clock) = hedge(fixed(10, 3), RetryBudgetConfig::default());
    let call = h.start(h.now(), false);
    assert_eq!(call.next_delay(h.now()), None);
    clock.advance(Duration::from_secs(5));
    assert_eq!(call.may_hedge(h.now()), HedgeDecision::Done);
    assert_eq!(
        call.record_attempt_result(0, h.now(), true),
        Resolution::Won
    );
    assert_eq!(h.metrics().hedges, 0);
    assert_eq!(h.budget().counts().retries, 0, "nothing drawn");
}

#[test]
fn an_exhausted_budget_refuses_hedges_and_counts_them() {
    // No tokens and a share that a few requests never reach: every draw fails.
    let budget = RetryBudgetConfig {
        max_tokens: 0,
        min_requests: 1000,
        ..Default::default()
    };
    let (h, clock) = hedge(fixed(10, 2), budget);
    let call = h.start(h.now(), true);
    clock.advance(Duration::from_millis(10));
    assert_eq!(call.may_hedge(h.now()), HedgeDecision::Refused);
    assert_eq!(
        call.may_hedge(h.now()),
        HedgeDecision::Done,
        "no second try"
    );
    assert_eq!(call.attempts(), 1);
    assert_eq!(
        call.record_attempt_result(0, h.now(), true),
        Resolution::Won
    );
    let m = h.metrics();
    assert_eq!((m.calls, m.hedges, m.refused, m.wins), (1, 0, 1, 0));
    assert_eq!(h.budget().metrics().exhausted, 1);
}

#[test]
fn the_budget_caps_hedges_to_its_share_of_the_calls() {
    // 10% of the requests once 100 are in the window; no token floor.
    let budget = RetryBudgetConfig {
        max_tokens: 0,
        min_requests: 100,
        ..Default::default()
    };
    let (h, clock) = hedge(fixed(1, 1), budget);
    let mut started = 0;
    for _ in 0..1000 {
        let call = h.start(h.now(), true);
        clock.advance(Duration::from_millis(1));
        if let HedgeDecision::Start(_) = call.may_hedge(h.now()) {
            started += 1;
        }
    }
    // Every call is slow, yet the hedges stay near a tenth of the requests.
    let c = h.budget().counts();
    assert_eq!(c.retries, started);
    assert!(c.retries * 10 <= c.requests, "{c:?}");
    assert!(started > 80, "{started}");
    assert_eq!(h.metrics().refused, 1000 - started);
}

#[test]
fn a_failure_with_other_attempts_running_waits_for_them() {
    let (h, clock) = hedge(fixed(10, 1), RetryBudgetConfig::default());
    let call = h.start(h.now(), true);
    clock.advance(Duration::from_millis(10));
    assert_eq!(call.may_hedge(h.now()), HedgeDecision::Start(1));
    assert_eq!(
        call.record_attempt_result(1, h.now(), false),
        Resolution::Pending
    );
    assert!(!call.is_decided());
    assert_eq!(
        call.record_attempt_result(0, h.now(), true),
        Resolution::Won
    );
    assert_eq!(call.winner(), Some(0));
    assert_eq!(h.metrics().wins, 0, "the first attempt won");
}

#[test]
fn a_lone_failure_ends_the_call_without_a_hedge() {
    let (h, clock) = hedge(fixed(10, 1), RetryBudgetConfig::default());
    let call = h.start(h.now(), true);
    assert_eq!(
        call.record_attempt_result(0, h.now(), false),
        Resolution::Failed
    );
    clock.advance(Duration::from_millis(10));
    assert_eq!(
        call.may_hedge(h.now()),
        HedgeDecision::Done,
        "retrying is not hedging"
    );
    assert_eq!(h.budget().counts().retries, 0);
}

#[test]
fn the_delay_follows_the_quantile_once_enough_latencies_were_seen() {
    let config = HedgeConfig {
        quantile: Some(0.9),
        min_samples: 10,
        delay: Duration::from_millis(100),
        min_delay: Duration::from_millis(2),
        max_delay: Duration::from_millis(500),
        ..Default::default()
    };
    let (h, clock) = hedge(config, RetryBudgetConfig::default());
    assert_eq!(
        h.delay(h.now()),
        Duration::from_millis(100),
        "too few samples"
    );
    // Calls of 1..=10 ms: the 90th percentile is 9 ms.
    for ms in 1..=10 {
        let call = h.start(h.now(), true);
        clock.advance(Duration::from_millis(ms));
        assert_eq!(
            call.record_attempt_result(0, h.now(), true),
            Resolution::Won
        );
    }
    let d = h.delay(h.now()).as_nanos() as u64;
    assert!((9 * MS..=9 * MS + 9 * MS / 8).contains(&d), "{d}");
    // Clamped to [min_delay, max_delay].
    for _ in 0..100 {
        let call = h.start(h.now(), true);
        call.record_attempt_result(0, h.now(), true);
    }
    assert_eq!(h.delay(h.now()), Duration::from_millis(2));
}

#[test]
fn a_hedge_win_records_the_first_attempts_censored_latency() {
    let config = HedgeConfig {
        quantile: Some(0.5),
        min_samples: 1,
        delay: Duration::from_millis(10),
        ..Default::default()
    };
    let (h, clock) = hedge(config, RetryBudgetConfig::default());
    let call = h.start(h.now(), true);
    assert_eq!(call.delay(), Duration::from_millis(10));
    clock.advance(Duration::from_millis(10));
    assert_eq!(call.may_hedge(h.now()), HedgeDecision::Start(1));
    clock.advance(Duration::from_millis(30));
    assert_eq!(
        call.record_attempt_result(1, h.now(), true),
        Resolution::Won
    );
    // 40 ms since the first attempt started, not the hedge's 30 ms.
    let d = h.delay(h.now()).as_nanos() as u64;
    assert!((40 * MS..=45 * MS).contains(&d), "{d}");
    assert_eq!(h.metrics().wins, 1);
}

#[test]
fn a_call_held_by_an_arc_outlives_the_borrow() {
    let config = HedgeConfig {
        min_delay: Duration::ZERO,
        ..fixed(0, 1)
    };
    let (h, _clock) = hedge(config, RetryBudgetConfig::default());
    let h = Arc::new(h);
    let call = HedgeCall::new(Arc::clone(&h), h.now(), true, false);
    assert_eq!(
        call.may_hedge(h.now()),
        HedgeDecision::Start(1),
        "zero delay: at once"
    );
    assert_eq!(
        h.budget().counts(),
        BudgetCounts {
            requests: 1,
            retries: 1
        },
        "the first attempt was counted by the caller, not here"
    );
}

#[test]
fn invalid_configs_name_the_field() {
    let bad = [
        (
            HedgeConfig {
                max_hedges: 16,
                ..Default::default()
            },
            "max_hedges",
        ),
        (
            HedgeConfig {
                quantile: Some(1.0),
                ..Default::default()
            },
            "quantile",
        ),
        (
            HedgeConfig {
                quantile: Some(f64::NAN),
                ..Default::default()
            },
            "quantile",
        ),
        (
            HedgeConfig {
                min_delay: Duration::from_secs(2),
                max_delay: Duration::from_secs(1),
                ..Default::default()
            },
            "min_delay",
        ),
        (
            HedgeConfig {
                window: Duration::from_millis(1),
                ..Default::default()
            },
            "window",
        ),
        (
            HedgeConfig {
                min_samples: 0,
                ..Default::default()
            },
            "min_samples",
        ),
        (
            HedgeConfig {
                delay: Duration::from_secs(400 * 86400),
                ..Default::default()
            },
            "delay",
        ),
    ];
    for (config, field) in bad {
        assert_eq!(config.validate().unwrap_err().field, field);
    }
    HedgeConfig::default().validate().unwrap();
}

/// Polls `f` to the end with a waker that does nothing: every future here
/// is ready or pending by construction, never woken.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    struct Noop;
    impl std::task::Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }
    let waker = std::task::Waker::from(Arc::new(Noop));
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(&waker);
    for _ in 0..1000 {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
    panic!("the future never finished");
}

/// A future that is pending `polls` times, then ready with `value`; it
/// counts in `dropped` whether it was dropped before finishing.
struct Slow<T> {
    polls: u32,
    value: Option<T>,
    dropped: Arc<std::sync::atomic::AtomicU32>,
}

impl<T: Unpin> std::future::Future for Slow<T> {
    type Output = T;
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<T> {
        if self.polls == 0 {
            return std::task::Poll::Ready(self.value.take().expect("polled after the end"));
        }
        self.polls -= 1;
        std::task::Poll::Pending
    }
}

impl<T> Drop for Slow<T> {
    fn drop(&mut self) {
        if self.value.is_some() {
            self.dropped
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

#[test]
fn run_returns_the_first_good_answer_and_drops_the_losers() {
    let (h, clock) = hedge(fixed(10, 2), RetryBudgetConfig::default());
    let dropped = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let sleeps = std::cell::Cell::new(0);
    let r: Result<u32, ()> = block_on(h.run(
        true,
        |n| Slow {
            // The first attempt is slow; a hedge answers at once.
            polls: if n == 0 { u32::MAX } else { 0 },
            value: Some(Ok(n)),
            dropped: Arc::clone(&dropped),
        },
        |d| {
            sleeps.set(sleeps.get() + 1);
            clock.advance(d);
            std::future::ready(())
        },
    ));
    assert_eq!(r, Ok(1));
    // Hedge 1, started at 10 ms, answered before hedge 2 was due.
    assert_eq!(h.metrics().hedges, 1);
    assert_eq!(h.metrics().wins, 1);
    assert_eq!(
        dropped.load(std::sync::atomic::Ordering::Relaxed),
        1,
        "the first attempt, cancelled"
    );
    assert_eq!(sleeps.get(), 1);
}

#[test]
fn run_makes_no_timer_for_an_answer_at_once_nor_for_a_call_not_idempotent() {
    let (h, _clock) = hedge(fixed(10, 1), RetryBudgetConfig::default());
    let no_sleep = |_: Duration| -> std::future::Ready<()> { panic!("no timer expected") };
    let r: Result<u32, ()> = block_on(h.run(true, |n| std::future::ready(Ok(n)), no_sleep));
    assert_eq!(r, Ok(0));
    let dropped = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let slow = |n| Slow {
        polls: 3,
        value: Some(Ok::<u32, ()>(n)),
        dropped: Arc::clone(&dropped),
    };
    assert_eq!(block_on(h.run(false, slow, no_sleep)), Ok(0));
    assert_eq!(h.metrics().hedges, 0);
}

#[test]
fn run_fails_with_the_last_error_when_every_attempt_failed() {
    let (h, clock) = hedge(fixed(10, 1), RetryBudgetConfig::default());
    let dropped = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let r: Result<(), u32> = block_on(h.run(
        true,
        // The first attempt fails after the hedge started; the hedge later.
        |n| Slow {
            polls: if n == 0 { 2 } else { 5 },
            value: Some(Err(n)),
            dropped: Arc::clone(&dropped),
        },
        |d| {
            clock.advance(d);
            std::future::ready(())
        },
    ));
    assert_eq!(r, Err(1));
    assert_eq!(dropped.load(std::sync::atomic::Ordering::Relaxed), 0);
}

#[test]
fn run_waits_for_the_first_attempt_when_the_budget_refuses() {
    let budget = RetryBudgetConfig {
        max_tokens: 0,
        min_requests: 1000,
        ..Default::default()
    };
    let (h, clock) = hedge(fixed(10, 1), budget);
    let dropped = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let r: Result<u32, ()> = block_on(h.run(
        true,
        |n| Slow {
            polls: 20,
            value: Some(Ok(n)),
            dropped: Arc::clone(&dropped),
        },
        |d| {
            clock.advance(d);
            std::future::ready(())
        },
    ));
    assert_eq!(r, Ok(0));
    assert_eq!((h.metrics().hedges, h.metrics().refused), (0, 1));
}

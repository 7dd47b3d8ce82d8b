//! A hedged call's winner selection and budget draws under racing attempts.
//!
//! A call's state is one word changed by compare-and-swap: attempts that
//! end at once cannot both win, a loser's result is never the call's, an
//! extra attempt is reserved before the budget is asked (so a call decided
//! first never draws), and every budget grant is an attempt started.
#![cfg(seawall_loom)]

use std::sync::Arc;
use std::time::Duration;

use loom::thread;
use seawall::{
    Hedge, HedgeCall, HedgeConfig, HedgeDecision, ManualClock, Resolution, RetryBudget,
    RetryBudgetConfig,
};
use seawall_loom_tests::model;

fn hedge(max_hedges: u32, budget: RetryBudgetConfig) -> Arc<Hedge<ManualClock>> {
    let clock = ManualClock::new();
    let budget = Arc::new(RetryBudget::with_clock(budget, clock.clone()).expect("valid budget"));
    let config = HedgeConfig {
        max_hedges,
        delay: Duration::ZERO,
        min_delay: Duration::ZERO,
        quantile: None,
        ..Default::default()
    };
    Arc::new(Hedge::with_clock(config, budget, clock).expect("valid config"))
}

/// Attempts 0 and 1 succeed at once on two threads while a third asks for
/// hedge 2: exactly one attempt wins, the other loses, and the budget
/// granted exactly the hedges started.
#[test]
fn racing_successes_name_one_winner_and_draw_only_started_hedges() {
    model(|| {
        let h = hedge(2, RetryBudgetConfig::default());
        let call = Arc::new(HedgeCall::new(Arc::clone(&h), 0, true, true));
        assert_eq!(call.may_hedge(0), HedgeDecision::Start(1));
        let report = |attempt: u32| {
            let call = Arc::clone(&call);
            thread::spawn(move || call.record_attempt_result(attempt, 0, true))
        };
        let (a, b) = (report(0), report(1));
        let third = call.may_hedge(0);
        let (a, b) = (a.join().unwrap(), b.join().unwrap());
        let won = [a, b].iter().filter(|r| **r == Resolution::Won).count();
        assert_eq!(won, 1, "attempt 0: {a:?}, attempt 1: {b:?}");
        assert!([a, b].contains(&Resolution::Lost));
        let winner = call.winner().expect("decided");
        assert_eq!(winner, if a == Resolution::Won { 0 } else { 1 });
        let started = 1 + u64::from(matches!(third, HedgeDecision::Start(2)));
        assert!(
            matches!(third, HedgeDecision::Start(2) | HedgeDecision::Done),
            "{third:?}"
        );
        // Every grant is a started hedge: none was drawn for a decided call.
        assert_eq!(h.budget().counts().retries, started);
        assert_eq!(h.metrics().hedges, started);
        assert_eq!(h.metrics().wins, u64::from(winner == 1));
        if let HedgeDecision::Start(n) = third {
            // The hedge started in the race loses: the call was decided.
            assert_eq!(call.record_attempt_result(n, 0, true), Resolution::Lost);
            assert_eq!(call.winner(), Some(winner));
        }
    });
}

/// The only attempt fails while a hedge is being asked for, which the
/// budget refuses: exactly one of the two ends the call (the failure as `Failed`, or the
/// refusal as `AllFailed`), never both and never neither.
#[test]
fn a_failure_racing_a_refused_hedge_ends_the_call_once() {
    model(|| {
        let h = hedge(
            1,
            RetryBudgetConfig {
                max_tokens: 0,
                ..Default::default()
            },
        );
        let call = Arc::new(HedgeCall::new(Arc::clone(&h), 0, true, true));
        let c2 = Arc::clone(&call);
        let t = thread::spawn(move || c2.record_attempt_result(0, 0, false));
        let asked = call.may_hedge(0);
        let failed = t.join().unwrap();
        // `Done`: the failure came first and decided the call.
        assert!(matches!(
            asked,
            HedgeDecision::Refused | HedgeDecision::AllFailed | HedgeDecision::Done
        ));
        let ends =
            u32::from(failed == Resolution::Failed) + u32::from(asked == HedgeDecision::AllFailed);
        assert_eq!(ends, 1, "failure {failed:?}, hedge {asked:?}");
        assert!(call.is_decided());
        assert_eq!(h.budget().counts().retries, 0, "refused: nothing drawn");
        assert_eq!(h.metrics().refused, u64::from(asked != HedgeDecision::Done));
    });
}

//! The retry budget on the manual clock: the share rule, the token-bucket
//! floor below `min_requests`, refill, the sliding window, the remaining
//! share, validation, and exact accounting under threads.

use std::sync::Arc;
use std::time::Duration;

use seawall::{BudgetCounts, ManualClock, RetryBudget, RetryBudgetConfig};

fn budget(f: impl FnOnce(&mut RetryBudgetConfig)) -> (RetryBudget<ManualClock>, ManualClock) {
    let mut c = RetryBudgetConfig::default();
    f(&mut c);
    let clock = ManualClock::new();
    (RetryBudget::with_clock(c, clock.clone()).unwrap(), clock)
}

fn grants(b: &RetryBudget<ManualClock>, asks: usize) -> usize {
    (0..asks).filter(|_| b.can_retry()).count()
}

#[test]
fn a_window_idle_for_a_whole_tag_cycle_counts_nothing_old() {
    // Ten 1 ms slices; slice tags repeat every 2^20 slices (17.5 minutes).
    let (b, clock) = budget(|c| {
        c.window_size = Duration::from_millis(10);
        c.min_requests = 10;
        c.budget_percent = 10.0;
    });
    for _ in 0..100 {
        b.record_attempt(false);
    }
    assert_eq!(b.counts().requests, 100);
    for idle_slices in [(1u64 << 20), (1 << 20) + 3, 5 << 20, (3 << 20) + 9] {
        clock.advance(Duration::from_millis(idle_slices));
        assert_eq!(
            b.counts(),
            BudgetCounts::default(),
            "after {idle_slices} idle slices"
        );
        // A fresh request starts from zero, not on top of the old slice.
        b.record_attempt(false);
        assert_eq!(b.counts().requests, 1, "after {idle_slices} idle slices");
        clock.advance(Duration::from_millis(10));
    }
}

#[test]
fn at_the_end_of_the_clock_the_token_bucket_still_runs_dry() {
    // 100 ms apart from u64::MAX - 99_999_999: an arrival time wraps to 0.
    for (start, per_second) in [
        (u64::MAX - 1_000, 1.0),
        (u64::MAX, 1.0),
        (u64::MAX - 99_999_999, 10.0),
    ] {
        let (b, clock) = budget(|c| {
            c.max_tokens = 3;
            c.tokens_per_second = per_second;
            c.min_requests = 1_000;
        });
        clock.set(start);
        assert_eq!(b.tokens(), 3);
        assert_eq!(grants(&b, 10), 3, "from {start}");
        assert_eq!(b.tokens(), 0);
    }
}

#[test]
fn retries_stop_at_the_share_of_requests_and_count_themselves() {
    let (b, _) = budget(|c| {
        c.budget_percent = 10.0;
        c.min_requests = 10;
    });
    for _ in 0..90 {
        b.record_attempt(false);
    }
    // (r + 1) / (R + 1) <= 10%: ten retries make 10 of 100.
    assert_eq!(grants(&b, 50), 10);
    assert_eq!(
        b.counts(),
        BudgetCounts {
            requests: 100,
            retries: 10
        }
    );
    assert_eq!(b.remaining_percent(), 0.0);
    // Nine more first attempts make room for exactly one more retry
    // (11 of 110); eight do not (11 of 109).
    for _ in 0..8 {
        b.record_attempt(false);
    }
    assert!(!b.can_retry());
    b.record_attempt(false);
    assert!(b.can_retry());
    assert!(!b.can_retry());
}

#[test]
fn retries_reported_by_hand_count_against_the_share() {
    let (b, _) = budget(|c| {
        c.budget_percent = 50.0;
        c.min_requests = 1;
    });
    for _ in 0..4 {
        b.record_attempt(false);
    }
    b.record_attempt(true);
    b.record_attempt(true);
    assert_eq!(
        b.counts(),
        BudgetCounts {
            requests: 6,
            retries: 2
        }
    );
    // 3 / 7 <= 50%, then 4 / 8, then 5 / 9 is too many.
    assert_eq!(grants(&b, 5), 2);
}

#[test]
fn a_zero_share_forbids_retries_once_the_window_is_busy() {
    let (b, _) = budget(|c| {
        c.budget_percent = 0.0;
        c.min_requests = 5;
        c.max_tokens = 2;
    });
    for _ in 0..4 {
        b.record_attempt(false);
    }
    // Below min_requests: tokens (each granted retry also counts as a request).
    assert!(b.can_retry());
    assert!(!b.can_retry(), "five requests now: the 0% share rules");
}

#[test]
fn below_min_requests_the_token_bucket_paces_retries_and_refills() {
    let (b, clock) = budget(|c| {
        c.min_requests = 1000;
        c.tokens_per_second = 2.0;
        c.max_tokens = 3;
    });
    assert_eq!(b.tokens(), 3);
    assert_eq!(b.remaining_percent(), 100.0);
    assert_eq!(grants(&b, 10), 3, "the bucket starts full");
    assert_eq!(b.tokens(), 0);
    assert_eq!(b.remaining_percent(), 0.0);
    clock.advance(Duration::from_millis(499));
    assert!(!b.can_retry());
    clock.advance(Duration::from_millis(1));
    assert_eq!(b.tokens(), 1);
    assert!(b.can_retry(), "one token per half second");
    assert!(!b.can_retry());
    // Granted retries are counted in the window.
    assert_eq!(
        b.counts(),
        BudgetCounts {
            requests: 4,
            retries: 4
        }
    );
    clock.advance(Duration::from_secs(1));
    assert_eq!(b.tokens(), 2);
    assert!((b.remaining_percent() - 200.0 / 3.0).abs() < 1e-9);
    // Refill stops at max_tokens.
    clock.advance(Duration::from_secs(3600));
    assert_eq!(b.tokens(), 3);
    assert_eq!(grants(&b, 10), 3);
    // The earlier four have left the one-minute window.
    assert_eq!(b.counts().retries, 3);
}

#[test]
fn no_tokens_means_no_retries_below_min_requests() {
    let (b, _) = budget(|c| {
        c.min_requests = 10;
        c.max_tokens = 0;
    });
    b.record_attempt(false);
    assert!(!b.can_retry());
    assert_eq!(b.remaining_percent(), 0.0);
    assert_eq!(b.tokens(), 0);
}

#[test]
fn the_window_slides_and_old_requests_leave_it() {
    let (b, clock) = budget(|c| {
        c.window_size = Duration::from_secs(10); // ten 1 s slices
        c.min_requests = 10;
        c.max_tokens = 0;
        c.budget_percent = 50.0;
    });
    for _ in 0..10 {
        b.record_attempt(false);
    }
    clock.advance(Duration::from_secs(5));
    for _ in 0..10 {
        b.record_attempt(false);
    }
    assert_eq!(b.counts().requests, 20);
    // At 10 s the first slice (0..1 s) has left; the second batch remains.
    clock.set(10_000_000_000);
    assert_eq!(b.counts().requests, 10);
    assert!(b.can_retry());
    // At 16 s both batches have left; only the retry granted at 10 s is
    // left: below min_requests, and no tokens.
    clock.set(16_000_000_000);
    assert_eq!(
        b.counts(),
        BudgetCounts {
            requests: 1,
            retries: 1
        }
    );
    assert!(!b.can_retry());
    // Slice 0 is reused cleanly after another turn of the ring.
    clock.set(20_000_000_000);
    b.record_attempt(false);
    assert_eq!(
        b.counts(),
        BudgetCounts {
            requests: 1,
            retries: 0
        }
    );
}

#[test]
fn remaining_percent_is_the_unused_share_of_the_allowance() {
    let (b, _) = budget(|c| {
        c.budget_percent = 10.0;
        c.min_requests = 10;
    });
    for _ in 0..95 {
        b.record_attempt(false);
    }
    assert_eq!(b.remaining_percent(), 100.0);
    assert_eq!(grants(&b, 5), 5);
    // 100 requests, 5 retries, allowance 10: half left.
    assert!((b.remaining_percent() - 50.0).abs() < 1e-9);
}

#[test]
fn a_clock_stepping_back_neither_panics_nor_loses_counts() {
    let (b, clock) = budget(|c| {
        c.window_size = Duration::from_secs(10);
        c.min_requests = 1;
        c.budget_percent = 100.0;
    });
    clock.set(50_000_000_000);
    for _ in 0..3 {
        b.record_attempt(false);
    }
    clock.set(49_000_000_000); // one slice back
    b.record_attempt(false);
    assert_eq!(b.counts().requests, 4);
    clock.set(0); // far back: the window from there is empty
    b.record_attempt(false);
    assert_eq!(b.counts().requests, 1);
    assert!(b.can_retry());
}

#[test]
fn reset_empties_the_window_and_refills_the_bucket() {
    let (b, _) = budget(|c| {
        c.min_requests = 5;
        c.max_tokens = 1;
    });
    assert!(b.can_retry());
    for _ in 0..10 {
        b.record_attempt(false);
    }
    b.reset();
    assert_eq!(b.counts(), BudgetCounts::default());
    assert_eq!(b.tokens(), 1);
}

#[test]
fn threads_never_take_more_than_the_budget() {
    let clock = ManualClock::new();
    let config = RetryBudgetConfig {
        budget_percent: 20.0,
        min_requests: 1,
        ..Default::default()
    };
    let b = Arc::new(RetryBudget::with_clock(config, clock).unwrap());
    for _ in 0..800 {
        b.record_attempt(false);
    }
    let granted: usize = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4)
            .map(|_| s.spawn(|| (0..200).filter(|_| b.can_retry()).count()))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum()
    });
    // (r + 1) / (800 + r + 1) <= 20%: r = 200 exactly.
    assert_eq!(granted, 200);
    assert_eq!(
        b.counts(),
        BudgetCounts {
            requests: 1000,
            retries: 200
        }
    );
}

#[test]
fn invalid_settings_name_the_field() {
    const YEAR: Duration = Duration::from_secs(365 * 24 * 3600);
    const NS: Duration = Duration::from_nanos(1);
    // Every field: below and above its range, NaN and infinities for the
    // numbers, the largest durations.
    type Set = fn(&mut RetryBudgetConfig);
    let rows: [(Set, &str); 19] = [
        (|c| c.budget_percent = -1.0, "invalid budget_percent = -1.0: must be a number in [0, 100]"),
        (|c| c.budget_percent = 100.5, "invalid budget_percent = 100.5: must be a number in [0, 100]"),
        (|c| c.budget_percent = f64::NAN, "invalid budget_percent = NaN: must be a number in [0, 100]"),
        (|c| c.budget_percent = f64::INFINITY, "invalid budget_percent = inf: must be a number in [0, 100]"),
        (
            |c| c.min_requests = 1_000_000_001,
            "invalid min_requests = 1000000001: must be an integer in [0, 1000000000]",
        ),
        (
            |c| c.min_requests = u32::MAX,
            "invalid min_requests = 4294967295: must be an integer in [0, 1000000000]",
        ),
        (|c| c.window_size = Duration::ZERO, "invalid window_size = 0ns: must be a duration in [10 ms, 365 days]"),
        (
            |c| c.window_size = Duration::from_millis(10) - NS,
            "invalid window_size = 9.999999ms: must be a duration in [10 ms, 365 days]",
        ),
        (
            |c| c.window_size = YEAR + NS,
            "invalid window_size = 31536000.000000001s: must be a duration in [10 ms, 365 days]",
        ),
        (
            |c| c.tokens_per_second = 0.0,
            "invalid tokens_per_second = 0.0: must be a finite number in (0, 1000000000]",
        ),
        (
            |c| c.tokens_per_second = -1.0,
            "invalid tokens_per_second = -1.0: must be a finite number in (0, 1000000000]",
        ),
        (
            |c| c.tokens_per_second = 1_000_000_001.0,
            "invalid tokens_per_second = 1000000001.0: must be a finite number in (0, 1000000000]",
        ),
        (
            |c| c.tokens_per_second = f64::NAN,
            "invalid tokens_per_second = NaN: must be a finite number in (0, 1000000000]",
        ),
        (
            |c| c.tokens_per_second = f64::INFINITY,
            "invalid tokens_per_second = inf: must be a finite number in (0, 1000000000]",
        ),
        (
            |c| c.tokens_per_second = f64::NEG_INFINITY,
            "invalid tokens_per_second = -inf: must be a finite number in (0, 1000000000]",
        ),
        (
            |c| c.tokens_per_second = 1e-9,
            "invalid tokens_per_second = 1e-9: must be fast enough to refill `max_tokens` within 100 years",
        ),
        (
            |c| c.tokens_per_second = f64::MIN_POSITIVE,
            "invalid tokens_per_second = 2.2250738585072014e-308: must be fast enough to refill `max_tokens` within 100 years",
        ),
        (
            |c| c.max_tokens = 1_000_000_001,
            "invalid max_tokens = 1000000001: must be an integer in [0, 1000000000]",
        ),
        (
            |c| c.max_tokens = u32::MAX,
            "invalid max_tokens = 4294967295: must be an integer in [0, 1000000000]",
        ),
    ];
    for (set, want) in rows {
        let mut c = RetryBudgetConfig::default();
        set(&mut c);
        let e = RetryBudget::with_clock(c, ManualClock::new()).unwrap_err();
        assert_eq!(e.to_string(), want);
    }
    // The edges of every range are accepted.
    for set in [
        (|c| c.budget_percent = 0.0) as Set,
        |c| c.budget_percent = 100.0,
        |c| c.min_requests = 0,
        |c| c.min_requests = 1_000_000_000,
        |c| c.window_size = Duration::from_millis(10),
        |c| c.window_size = YEAR,
        |c| c.tokens_per_second = 1e9,
        |c| (c.tokens_per_second, c.max_tokens) = (1e-9, 3),
        |c| (c.tokens_per_second, c.max_tokens) = (f64::MIN_POSITIVE, 0),
        |c| c.max_tokens = 1_000_000_000,
    ] {
        let mut c = RetryBudgetConfig::default();
        set(&mut c);
        assert!(
            RetryBudget::with_clock(c, ManualClock::new()).is_ok(),
            "{c:?}"
        );
    }
    let d = RetryBudgetConfig::default();
    assert_eq!(
        (
            d.budget_percent,
            d.min_requests,
            d.window_size,
            d.tokens_per_second,
            d.max_tokens
        ),
        (10.0, 100, Duration::from_secs(60), 10.0, 100)
    );
}

#[test]
fn a_bucket_refilling_over_more_than_100_years_is_refused() {
    let with = |tokens_per_second: f64, max_tokens: u32| {
        RetryBudget::with_clock(
            RetryBudgetConfig {
                tokens_per_second,
                max_tokens,
                // The bucket alone decides.
                min_requests: 1_000_000_000,
                ..Default::default()
            },
            ManualClock::new(),
        )
    };
    // 100 tokens at one per 31.7 years: the bucket's arrival time would
    // saturate and every retry would be granted.
    let e = with(1e-9, 100).unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid tokens_per_second = 1e-9: must be fast enough to refill `max_tokens` within 100 years"
    );
    assert_eq!(
        with(f64::MIN_POSITIVE, 1).unwrap_err().field,
        "tokens_per_second"
    );
    // Without a bucket the rate does not matter.
    assert!(with(f64::MIN_POSITIVE, 0).is_ok());
    // Three tokens over 95 years fit, and exactly those are granted.
    let b = with(1e-9, 3).unwrap();
    assert_eq!(grants(&b, 1000), 3);
}

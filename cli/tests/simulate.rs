//! The simulator against hand-computed expectations, against the same calls
//! made directly on a breaker, and for determinism.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use seawall::{Breaker, BreakerConfig, ManualClock, Outcome, State, Window};
use seawall_cli::{simulate, Settings};

fn settings(sets: &[&str]) -> Settings {
    let mut s = Settings::default();
    for a in sets {
        s.set(a).unwrap();
    }
    s
}

/// A hard outage from 10 s to 40 s at 100 calls/s, five consecutive
/// failures to open, 10 s open, one trial success to close.
const OUTAGE: [&str; 8] = [
    "scenario.rate=100",
    "scenario.duration=60",
    "scenario.start=10",
    "scenario.end=40",
    "failure_threshold=5",
    "timeout=10",
    "success_threshold=1",
    "half_open_max_calls=1",
];

#[test]
fn a_hard_outage_opens_after_exactly_five_failures_and_sends_one_trial_per_open_period() {
    let r = simulate(&settings(&OUTAGE), None, &mut |_| {}).unwrap();
    // Calls every 10 ms; the 1,001st, at 10.000 s, is the first to fail, and
    // the fifth failure (10.040 s) opens the breaker.
    let opened = &r.transitions[0];
    assert_eq!((opened.from, opened.to), ("CLOSED", "OPEN"));
    assert!((opened.at - 10.04).abs() < 1e-9, "{}", opened.at);
    assert_eq!(r.episodes[0].detected_after, Some(0.04 + 0.0));
    // Open periods end at 20.04 and 30.04 (a failing trial each, reopening
    // for 10 s) and 40.04, when the dependency is back: its trial succeeds.
    let trials: Vec<f64> = r
        .transitions
        .iter()
        .filter(|t| t.to == "HALF_OPEN")
        .map(|t| t.at)
        .collect();
    assert_eq!(trials.len(), 3);
    for (got, want) in trials.iter().zip([20.04, 30.04, 40.04]) {
        assert!((got - want).abs() < 1e-9, "{got} != {want}");
    }
    let c = &r.counts;
    assert_eq!(c.calls, 6_000);
    assert_eq!(
        c.reached_while_degraded,
        5 + 2,
        "five failures, then one trial per open period"
    );
    assert_eq!(c.trial_calls, 3);
    assert_eq!(c.failures, 7);
    // 40.00 to 40.03 were refused after the dependency recovered.
    assert_eq!(c.rejected_while_healthy, 4);
    assert_eq!(c.rejected, 3_000 - 7 + 4);
    assert_eq!(r.opens, 3);
    let recovered = r.episodes[0].recovered_after.unwrap();
    assert!((recovered - 0.04).abs() < 1e-9, "{recovered}");
}

#[test]
fn a_simulated_run_makes_exactly_the_calls_a_program_makes_on_a_breaker() {
    // A flapping dependency judged by a count window's failure rate, with
    // an open time that grows on each failed trial.
    let sets = [
        "scenario.name=\"flapping\"",
        "scenario.rate=50",
        "scenario.duration=300",
        "scenario.start=20",
        "scenario.end=260",
        "scenario.period=37",
        "scenario.down=13",
        "window.count=40",
        "failure_rate_threshold=0.25",
        "minimum_calls=20",
        "trip_on_consecutive_failures=false",
        "timeout=2",
        "timeout_multiplier=2",
        "max_timeout=16",
        "success_threshold=3",
        "half_open_max_calls=2",
    ];
    let r = simulate(&settings(&sets), None, &mut |_| {}).unwrap();

    // The same calls by hand: every 20 ms, failing while the dependency is
    // down (13 s of every 37 s from 20 s to 260 s).
    let clock = ManualClock::new();
    let config = BreakerConfig {
        window: Window::Count { size: 40 },
        failure_rate_threshold: Some(0.25),
        minimum_calls: 20,
        trip_on_consecutive_failures: false,
        timeout: Duration::from_secs(2),
        timeout_multiplier: 2.0,
        max_timeout: Some(Duration::from_secs(16)),
        success_threshold: 3,
        half_open_max_calls: 2,
        ..Default::default()
    };
    let breaker = Breaker::with_clock("direct", config, clock.clone()).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    breaker.add_listener(move |_: &str, t: seawall::Transition| {
        log.lock().unwrap().push((t.at_nanos, t.from, t.to));
    });
    let (mut admitted, mut rejected) = (0u64, 0u64);
    for k in 0..15_000u64 {
        let at = k * 20_000_000;
        clock.set(at);
        let down = (20_000_000_000..260_000_000_000).contains(&at)
            && (at - 20_000_000_000) % 37_000_000_000 < 13_000_000_000;
        match breaker.try_acquire() {
            Ok(permit) => {
                admitted += 1;
                permit.record(if down {
                    Outcome::Failure
                } else {
                    Outcome::Success
                });
            }
            Err(_) => rejected += 1,
        }
    }
    let direct = seen.lock().unwrap().clone();
    let simulated: Vec<(u64, State, State)> = r
        .transitions
        .iter()
        .map(|t| (t.at_nanos(), state(t.from), t.state()))
        .collect();
    assert!(
        direct.len() > 10,
        "the scenario trips the breaker repeatedly"
    );
    assert_eq!(simulated, direct);
    assert_eq!((r.counts.admitted, r.counts.rejected), (admitted, rejected));
}

fn state(name: &str) -> State {
    [
        State::Closed,
        State::Open,
        State::HalfOpen,
        State::ForcedOpen,
        State::ForcedClosed,
    ]
    .into_iter()
    .find(|s| s.as_str() == name)
    .unwrap()
}

#[test]
fn the_same_seed_gives_the_same_bytes_and_another_seed_other_draws() {
    let sets = [
        "scenario.name=\"brownout\"",
        "scenario.arrivals=\"poisson\"",
        "scenario.latency_ms=20",
        "scenario.latency_spread=0.5",
        "window.time=10",
        "failure_rate_threshold=0.2",
        "timeout_jitter=0.3",
        "retry.max_attempts=3",
        "retry.initial_delay=0.1",
        "retry_budget.budget_percent=10",
    ];
    let run = |seed: u64| {
        let mut s = settings(&sets);
        s.seed = seed;
        let mut r = simulate(&s, None, &mut |_| {}).unwrap();
        r.timeline = Some(r.seconds.clone());
        (r.to_json(), seawall_cli::plot::timeline(&r))
    };
    let (json, svg) = run(7);
    assert_eq!(run(7), (json.clone(), svg.clone()));
    let (other, _) = run(8);
    assert_ne!(json, other);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(v["counts"]["retries"].as_u64().unwrap() > 0);
    assert!(v["opens"].as_u64().unwrap() > 0);
}

#[test]
fn slow_calls_open_a_breaker_with_a_slow_call_rule_during_a_latency_spike() {
    let sets = [
        "scenario.name=\"latency-spike\"",
        "scenario.latency_ms=20",
        "scenario.spike_latency_ms=1500",
        "window.count=20",
        "slow_call_duration=1",
        "slow_call_rate_threshold=0.5",
        "minimum_calls=10",
    ];
    let r = simulate(&settings(&sets), None, &mut |_| {}).unwrap();
    let e = &r.episodes[0];
    // The first slow answers come back 1.5 s after the spike starts, and
    // ten of them (a 100 calls/s) fill half the window soon after.
    let detected = e.detected_after.expect("the slow-call rule opens it");
    assert!((1.5..1.7).contains(&detected), "{detected}");
    assert_eq!(r.counts.failures, 0, "slow, not failing");
}

#[test]
fn one_sick_instance_opens_only_its_own_breaker_when_each_has_one() {
    let mut sets = vec![
        "scenario.name=\"partial\"",
        "scenario.instances=4",
        "scenario.sick=2",
        "window.count=20",
        "failure_rate_threshold=0.2",
    ];
    let shared = simulate(&settings(&sets), None, &mut |_| {}).unwrap();
    sets.push("per_instance=true");
    let own = simulate(&settings(&sets), None, &mut |_| {}).unwrap();
    assert!(own.transitions.iter().all(|t| t.breaker == 2));
    assert!(own.opens >= 1);
    // One breaker for all: the sick quarter of the calls trips its rate
    // rule (its consecutive rule alone never would: the failures are
    // interleaved), refusing the healthy instances' calls too.
    assert!(
        shared.counts.rejected_while_healthy > 10 * own.counts.rejected_while_healthy.max(1),
        "{} vs {}",
        shared.counts.rejected_while_healthy,
        own.counts.rejected_while_healthy
    );
}

#[test]
fn a_retry_budget_stops_retries_during_an_outage() {
    let sets = [
        "retry.max_attempts=5",
        "retry.initial_delay=0.05",
        "retry_budget.budget_percent=10",
        "retry_budget.min_requests=10",
        "retry_budget.max_tokens=5",
        "failure_threshold=1000",
    ];
    let r = simulate(&settings(&sets), None, &mut |_| {}).unwrap();
    assert!(r.counts.budget_exhausted > 0);
    assert!(r.counts.retries > 0);
    assert!(r.counts.retries * 10 < r.counts.calls, "{:?}", r.counts);
}

#[test]
fn a_diurnal_day_follows_its_curve() {
    let r = simulate(
        &settings(&[
            "scenario.name=\"diurnal\"",
            "scenario.duration=864",
            "scenario.period=864",
            "scenario.low=10",
            "scenario.high=30",
            "scenario.start=0",
            "scenario.end=0",
        ]),
        None,
        &mut |_| {},
    )
    .unwrap();
    let s = &r.seconds;
    // Lowest at the start, highest halfway, the mean in between.
    assert_eq!(s[0].calls, 10);
    assert_eq!(s[432].calls, 30);
    let total: u64 = s.iter().map(|s| u64::from(s.calls)).sum();
    assert!((17_000..=17_560).contains(&total), "{total}");
}

#[test]
fn each_client_of_a_fleet_learns_of_an_outage_on_its_own() {
    // Four processes, each with its own breaker, share the 100 calls/s:
    // each sends five failing calls before its breaker opens, 20 in all,
    // and the first opens after its fifth call, 160 ms in.
    let mut sets = OUTAGE.to_vec();
    sets.push("scenario.clients=4");
    let r = simulate(&settings(&sets), None, &mut |_| {}).unwrap();
    let opened: Vec<u32> = r
        .transitions
        .iter()
        .filter(|t| t.to == "OPEN" && t.at < 10.5)
        .map(|t| t.breaker)
        .collect();
    assert_eq!(opened, [0, 1, 2, 3]);
    assert_eq!(r.counts.reached_while_degraded, 4 * (5 + 2));
    let detected = r.episodes[0].detected_after.unwrap();
    assert!((detected - 0.16).abs() < 1e-9, "{detected}");
}

#[test]
fn the_plain_loop_counts_what_the_general_loop_counts() {
    // A bulkhead that never fills sends every call through the general loop
    // (the event heap, the per-call bookkeeping); without it the plain loop
    // runs. The same engine calls and draws must give the same results.
    for scenario in ["outage", "flapping", "brownout", "partial", "diurnal"] {
        let mut sets = vec![
            format!("scenario.name=\"{scenario}\""),
            "window.count=30".into(),
            "failure_rate_threshold=0.2".into(),
            "timeout=4".into(),
            "timeout_jitter=0.5".into(),
            "scenario.arrivals=\"poisson\"".into(),
        ];
        if scenario == "diurnal" {
            sets.extend([
                "scenario.duration=3000".into(),
                "scenario.start=1000".into(),
                "scenario.end=1500".into(),
                "scenario.low=5".into(),
                "scenario.high=20".into(),
                "scenario.period=3000".into(),
            ]);
        }
        let refs: Vec<&str> = sets.iter().map(String::as_str).collect();
        let plain = simulate(&settings(&refs), None, &mut |_| {}).unwrap();
        let mut general = refs.clone();
        general.push("bulkhead.max_concurrent=1000000");
        let general = simulate(&settings(&general), None, &mut |_| {}).unwrap();
        assert_eq!(plain.seconds, general.seconds, "{scenario}");
        assert_eq!(plain.transitions, general.transitions, "{scenario}");
        assert!(plain.opens > 0, "{scenario}");
    }
}

/// The long tail: 2% of attempts take 1 s instead of 20 ms. Without hedging
/// the 99th percentile is the tail; a hedge after the learnt 95th
/// percentile (about 20 ms) answers in the ordinary time, for about 2%
/// more attempts.
#[test]
fn hedging_cuts_the_long_tail_p99_at_under_a_tenth_more_load() {
    let run = |sets: &[&str]| {
        let mut s = settings(sets);
        s.seed = 7;
        simulate(&s, None, &mut |_| {}).unwrap()
    };
    let plain = run(&["scenario.name=\"long-tail\""]);
    let hedged = run(&["scenario.name=\"long-tail\"", "hedge.max_hedges=1"]);
    let (p, h) = (plain.call_latency.unwrap(), hedged.call_latency.unwrap());
    assert_eq!(p.calls, 12_000);
    assert_eq!(h.calls, p.calls, "every call still succeeds");
    assert!(plain.hedging.is_none());
    assert!(p.p99_ms >= 1_000.0, "{p:?}");
    assert!(h.p99_ms <= 50.0, "{h:?}");
    assert_eq!(h.p50_ms, p.p50_ms, "the median call is never hedged");
    let hedges = hedged.hedging.unwrap();
    let extra = hedges.hedges as f64 / hedged.counts.calls as f64;
    assert!(extra < 0.10 && hedges.hedges > 0, "{hedges:?}");
    assert_eq!(hedged.counts.attempts, hedged.counts.calls + hedges.hedges);
    // Losers are cancelled: neither successes nor failures for the breaker.
    assert_eq!(hedged.counts.successes, hedged.counts.calls);
    assert_eq!(hedged.counts.failures, 0);
}

/// Every attempt slow: every call passes the hedge delay, and the retry
/// budget (10% of the requests once 100 are in its window) is all that
/// stands between hedging and twice the load.
#[test]
fn the_retry_budget_caps_hedges_when_every_call_is_slow() {
    let mut s = settings(&[
        "scenario.name=\"long-tail\"",
        "scenario.tail=1",
        "hedge.quantile=0",
        "hedge.delay=0.05",
    ]);
    s.seed = 7;
    let r = simulate(&s, None, &mut |_| {}).unwrap();
    let h = r.hedging.unwrap();
    // Hedges are at most a tenth of all the requests (calls and hedges).
    assert_eq!(r.counts.attempts, r.counts.calls + h.hedges);
    assert!(
        h.hedges * 10 <= r.counts.attempts,
        "{h:?} over {} calls",
        r.counts.calls
    );
    assert!(
        h.hedges * 10 > r.counts.attempts * 9 / 10,
        "the budget is used: {h:?}"
    );
    assert!(h.refused > r.counts.calls / 2, "{h:?}");
    assert_eq!(h.wins, 0, "a hedge is as slow as the call it hedges");
}

/// An overloaded dependency (20 calls served per second of the 100 sent,
/// the rest refused at once, from 10 s to 70 s), a breaker that never trips
/// on it: the adaptive throttler cuts the
/// calls sent only to be refused, and serves as many.
#[test]
fn an_adaptive_throttler_cuts_the_requests_an_overloaded_dependency_refuses() {
    let base = [
        "scenario.name=\"overload\"",
        "scenario.rate=100",
        "scenario.duration=80",
        "scenario.start=10",
        "scenario.end=70",
        "scenario.capacity=20",
        "failure_threshold=100000",
    ];
    let seeded = |sets: &[&str]| {
        let mut s = settings(sets);
        s.seed = 11;
        simulate(&s, None, &mut |_| {}).unwrap()
    };
    let without = seeded(&base);
    let mut with = base.to_vec();
    with.push("throttle.window=10");
    let with = seeded(&with);
    let (a, b) = (&without.counts, &with.counts);
    assert_eq!(a.calls, 8_000);
    assert_eq!(b.calls, 8_000);
    // Without: every call of the overload beyond 20 per second is sent
    // and refused: 80 per second for 60 s.
    assert_eq!(a.failures, 80 * 60);
    assert_eq!(a.throttled, 0);
    // With k = 2 the throttler settles near two sends per accept: about
    // 20 refusals per second instead of 80. Shed calls were never sent.
    eprintln!(
        "overload: without a throttler {} refused of {} sent; with one {} refused of {} sent, {} shed; served {} vs {}",
        a.failures, a.admitted, b.failures, b.admitted, b.throttled, a.successes, b.successes
    );
    assert!(b.throttled > 2_500, "{b:?}");
    assert!(
        b.failures * 2 < a.failures,
        "{} vs {}",
        b.failures,
        a.failures
    );
    assert_eq!(b.admitted + b.throttled, b.calls);
    // It sheds mostly what the dependency would refuse: almost as many
    // served (it keeps shedding a little while the window forgets the
    // overload, after 70 s).
    assert!(
        b.successes * 10 >= a.successes * 9,
        "{} vs {}",
        b.successes,
        a.successes
    );
}

/// A dependency of 50 servers answering in 10 ms, at 4,000 calls/s (80%
/// busy); from 10 s to 40 s its calls take 15 ms, which leaves it short of
/// capacity (120% busy), so calls queue for its servers. The breaker never
/// opens (nothing fails): only the bound on the calls in flight decides
/// how long the admitted calls wait.
const QUEUEING_SPIKE: [&str; 9] = [
    "scenario.name=latency-spike",
    "scenario.rate=4000",
    "scenario.duration=50",
    "scenario.start=10",
    "scenario.end=40",
    "scenario.latency_ms=10",
    "scenario.spike_latency_ms=15",
    "scenario.servers=50",
    "scenario.failure=0",
];

#[test]
fn an_adaptive_limiter_keeps_latency_near_healthy_where_a_fixed_bulkhead_lets_it_queue() {
    let run = |extra: &[&str]| {
        let mut sets = QUEUEING_SPIKE.to_vec();
        sets.extend_from_slice(extra);
        simulate(&settings(&sets), None, &mut |_| {}).unwrap()
    };
    let fixed = run(&["bulkhead.max_concurrent=200"]);
    // Starting near the 40 calls in flight the healthy dependency needs
    // (4,000/s x 10 ms), with room to learn up to 200.
    let adaptive = run(&[
        "adaptive_limiter.initial_limit=50",
        "adaptive_limiter.max_limit=200",
    ]);
    let p99 = |r: &seawall_cli::Report| {
        let l = r.latency_p99_ms;
        (l.healthy.unwrap(), l.degraded.unwrap())
    };
    let (fixed_healthy, fixed_spike) = p99(&fixed);
    let (healthy, spike) = p99(&adaptive);
    eprintln!(
        "fixed: {fixed_healthy} / {fixed_spike} ms ({} refused, {} served while unhealthy); \
         adaptive: {healthy} / {spike} ms ({} refused, {} served while unhealthy)",
        fixed.counts.bulkhead_full,
        fixed.counts.reached_while_degraded,
        adaptive.counts.limit_reached,
        adaptive.counts.reached_while_degraded,
    );
    assert!(
        fixed_healthy <= 10.5 && healthy <= 10.5,
        "no queueing while healthy"
    );
    assert!(
        fixed_spike > 4.0 * fixed_healthy,
        "the fixed bulkhead's queue: {fixed_spike} ms"
    );
    assert!(
        spike <= 2.0 * healthy,
        "adaptive: {spike} ms against {healthy} ms healthy"
    );
}

/// Hedges refused by an adaptive limiter that holds one call at a time:
/// each refusal is an attempt that got no answer, and the call goes on with
/// its first attempt; when that fails, the call fails and is retried (or
/// gives up on its second attempt). So every failure is a retry or a call
/// given up: none is left pending behind a refused hedge.
#[test]
fn a_hedge_refused_by_the_adaptive_limiter_leaves_its_call_to_the_other_attempt() {
    let mut s = settings(&[
        "scenario.name=\"long-tail\"",
        "scenario.rate=10",
        "scenario.healthy_failure=0.5",
        "failure_threshold=100000",
        "retry.max_attempts=2",
        "hedge.max_hedges=1",
        "hedge.quantile=0",
        "hedge.delay=0.001",
        "adaptive_limiter.initial_limit=1",
        "adaptive_limiter.min_limit=1",
        "adaptive_limiter.max_limit=1",
    ]);
    s.seed = 7;
    let r = simulate(&s, None, &mut |_| {}).unwrap();
    let (c, h) = (&r.counts, r.hedging.unwrap());
    assert!(h.hedges > 0 && c.limit_reached >= h.hedges, "{h:?} {c:?}");
    assert_eq!(h.wins, 0, "no hedge was ever admitted");
    assert_eq!(c.budget_exhausted, 0, "{c:?}");
    assert_eq!(c.failures, c.retries + c.gave_up, "{c:?}");
}

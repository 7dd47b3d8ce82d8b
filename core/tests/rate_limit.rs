//! The GCRA rate limiter on the manual clock: burst, denial with the exact
//! wait, sustained rate, a clock stepping back, exact admission and refusal
//! counts under threads, and the keyed limiter's bounded memory and slot sharing.

use std::collections::hash_map::DefaultHasher;
use std::hash::BuildHasherDefault;
use std::time::Duration;

use seawall::{Clock, KeyedRateLimiter, ManualClock, RateLimitConfig, RateLimited, RateLimiter};

const MS: Duration = Duration::from_millis(1);

fn limiter(rate: u32, burst: u32) -> (RateLimiter<ManualClock>, ManualClock) {
    let clock = ManualClock::new();
    let config = RateLimitConfig {
        rate,
        period: Duration::from_secs(1),
        burst,
        ..Default::default()
    };
    (
        RateLimiter::with_clock(config, clock.clone()).unwrap(),
        clock,
    )
}

fn admitted(check: impl Fn() -> Result<(), RateLimited>, tries: usize) -> usize {
    (0..tries).filter(|_| check().is_ok()).count()
}

#[test]
fn a_burst_then_denial_with_the_exact_wait() {
    let (l, clock) = limiter(10, 3); // 100 ms apart, 3 at once
    clock.set(5_000_000_000);
    assert_eq!(admitted(|| l.check(), 10), 3);
    assert_eq!(
        l.check(),
        Err(RateLimited {
            retry_after: 100 * MS
        })
    );
    clock.advance(40 * MS);
    assert_eq!(
        l.check(),
        Err(RateLimited {
            retry_after: 60 * MS
        })
    );
    clock.advance(60 * MS);
    assert_eq!(l.check(), Ok(()));
    assert_eq!(
        l.check(),
        Err(RateLimited {
            retry_after: 100 * MS
        })
    );
    assert_eq!(
        l.check().unwrap_err().to_string(),
        "rate limit exceeded; retry in 100ms"
    );
}

#[test]
fn at_the_end_of_the_clock_a_burst_is_admitted_then_calls_are_spaced() {
    for start in [u64::MAX - 150_000_000, u64::MAX - 1, u64::MAX] {
        let (l, clock) = limiter(10, 3); // 100 ms apart, 3 at once
        clock.set(start);
        assert_eq!(admitted(|| l.check(), 10), 3, "from {start}");
        assert_eq!(
            l.check(),
            Err(RateLimited {
                retry_after: 100 * MS
            })
        );
        let (keyed, clock) = keyed(4, 3);
        clock.set(start);
        assert_eq!(
            admitted(|| keyed.check_key("k"), 10),
            3,
            "keyed, from {start}"
        );
    }
}

#[test]
fn a_burst_whose_arrival_time_wraps_to_zero_is_whole() {
    // 1 ns apart (3 ns / 2 rounds down), 2 at once, from the last instant:
    // the second call's arrival time wraps to exactly 0.
    let clock = ManualClock::new();
    let config = RateLimitConfig {
        rate: 2,
        period: Duration::from_nanos(3),
        burst: 2,
        ..Default::default()
    };
    let l = RateLimiter::with_clock(config, clock.clone()).unwrap();
    clock.set(u64::MAX);
    assert_eq!(admitted(|| l.check(), 5), 2);
}

#[test]
fn refused_calls_consume_nothing() {
    let (l, clock) = limiter(10, 1);
    assert!(l.check().is_ok());
    for _ in 0..1000 {
        assert!(l.check().is_err());
    }
    clock.advance(100 * MS);
    assert!(
        l.check().is_ok(),
        "a thousand refusals did not push the wait"
    );
}

#[test]
fn the_sustained_rate_is_the_configured_one() {
    let (l, clock) = limiter(1000, 1); // 1 ms apart
    let mut ok = 0;
    // Ten tries every 100 us for one second.
    for _ in 0..10_000 {
        ok += admitted(|| l.check(), 10);
        clock.advance(Duration::from_micros(100));
    }
    assert_eq!(ok, 1000);
    // After a quiet spell no more than the burst is available.
    let (l, clock) = limiter(1000, 50);
    clock.advance(Duration::from_secs(3600));
    assert_eq!(admitted(|| l.check(), 1000), 50);
}

#[test]
fn a_clock_stepping_back_makes_calls_wait_longer_never_admits_more() {
    let (l, clock) = limiter(10, 2);
    clock.set(10_000_000_000);
    assert_eq!(admitted(|| l.check(), 5), 2);
    clock.set(9_000_000_000); // one second back
    assert_eq!(
        l.check(),
        Err(RateLimited {
            retry_after: 1100 * MS
        })
    );
    clock.set(0);
    assert_eq!(
        l.check().unwrap_err().retry_after,
        Duration::from_millis(10_100)
    );
}

#[test]
fn threads_are_admitted_exactly_the_burst() {
    let (l, _clock) = limiter(1, 500); // time never moves: only the burst
    let total: usize = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4)
            .map(|_| s.spawn(|| admitted(|| l.check(), 400)))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(total, 500);
}

#[test]
fn refusals_under_threads_are_counted_exactly() {
    // More threads than owned stripes: some count on their own stripe, the
    // rest on the shared one.
    const THREADS: usize = 2 * seawall::stripes::STRIPES;
    const CALLS: usize = 5_000;
    let (l, _clock) = limiter(1, 3); // time never moves: the burst, then refusals
    assert_eq!(admitted(|| l.check(), 3), 3);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let l = &l;
            s.spawn(move || {
                for i in 0..CALLS {
                    // Both ways of asking are refused and counted.
                    let r = if (t + i) % 2 == 0 {
                        l.check()
                    } else {
                        l.reserve(MS).map(drop)
                    };
                    assert!(r.is_err(), "the limiter is saturated");
                }
            });
        }
    });
    let m = l.metrics();
    assert_eq!((m.allowed, m.denied), (3, (THREADS * CALLS) as u64));
}

type Fixed = BuildHasherDefault<DefaultHasher>;

fn keyed(slots: u32, burst: u32) -> (KeyedRateLimiter<str, ManualClock, Fixed>, ManualClock) {
    let clock = ManualClock::new();
    let config = RateLimitConfig {
        rate: 10,
        period: Duration::from_secs(1),
        burst,
        ..Default::default()
    };
    let l = KeyedRateLimiter::with_hasher(config, slots, clock.clone(), Fixed::default()).unwrap();
    (l, clock)
}

#[test]
fn keys_in_different_slots_are_limited_independently() {
    let (l, clock) = keyed(64, 2);
    let a = "tenant-a";
    let b = (0..)
        .map(|i| format!("tenant-{i}"))
        .find(|k| l.slot_of(k) != l.slot_of(a))
        .unwrap();
    assert_eq!(admitted(|| l.check_key(a), 5), 2);
    assert_eq!(l.check_key(a).unwrap_err().retry_after, 100 * MS);
    assert_eq!(admitted(|| l.check_key(&b), 5), 2, "b is untouched by a");
    clock.advance(100 * MS);
    assert!(l.check_key(a).is_ok());
}

#[test]
fn keys_sharing_a_slot_share_one_allowance() {
    let (l, _) = keyed(1, 3);
    assert_eq!(l.slots(), 1);
    assert_eq!(admitted(|| l.check_key("a"), 2), 2);
    assert_eq!(admitted(|| l.check_key("b"), 5), 1, "b gets what a left");
}

/// `reserve_key` is `reserve` for one key's slot: it decides the wait once
/// (later calls of the slot queue behind a taken turn), refuses beyond
/// `max_wait` changing nothing, leaves other slots alone, and makes keys
/// sharing a slot queue together.
#[test]
fn reserve_key_takes_a_turn_of_the_keys_slot_within_max_wait() {
    let (l, clock) = keyed(64, 2); // 100 ms apart, 2 at once
    clock.set(1_000_000_000);
    let a = "tenant-a";
    let b = (0..)
        .map(|i| format!("tenant-{i}"))
        .find(|k| l.slot_of(k) != l.slot_of(a))
        .unwrap();
    assert_eq!(l.reserve_key(a, Duration::ZERO), Ok(Duration::ZERO));
    assert_eq!(l.reserve_key(a, Duration::ZERO), Ok(Duration::ZERO));
    assert_eq!(
        l.reserve_key(a, 50 * MS),
        Err(RateLimited {
            retry_after: 100 * MS
        }),
        "beyond max_wait"
    );
    assert_eq!(l.reserve_key(a, 100 * MS), Ok(100 * MS));
    assert_eq!(l.reserve_key(a, Duration::MAX), Ok(200 * MS));
    // Both turns are taken, and a refusal changed nothing.
    assert_eq!(
        l.check_key(a),
        Err(RateLimited {
            retry_after: 300 * MS
        })
    );
    assert_eq!(
        l.reserve_key(a, 250 * MS),
        Err(RateLimited {
            retry_after: 300 * MS
        })
    );
    // Another slot still has its whole burst.
    assert_eq!(l.reserve_key(&b, Duration::ZERO), Ok(Duration::ZERO));
    assert_eq!(l.reserve_key(&b, Duration::ZERO), Ok(Duration::ZERO));
    // Keys sharing a slot queue behind each other's turns.
    let (shared, _) = keyed(1, 1);
    assert_eq!(shared.reserve_key("a", Duration::ZERO), Ok(Duration::ZERO));
    assert_eq!(shared.reserve_key("b", Duration::MAX), Ok(100 * MS));
    assert_eq!(shared.reserve_key("a", Duration::MAX), Ok(200 * MS));
}

#[test]
fn memory_is_fixed_whatever_the_number_of_keys() {
    let (l, clock) = keyed(1000, 1);
    assert_eq!(l.slots(), 1024, "rounded up to a power of two");
    let before = l.memory_bytes();
    assert!(before >= 1024 * 8);
    for i in 0..100_000 {
        let _ = l.check_key(&format!("client-{i}"));
        if i % 10_000 == 0 {
            clock.advance(MS);
        }
    }
    assert_eq!(l.memory_bytes(), before);
    // With 100,000 keys in 1,024 slots every slot has been charged.
    let probe = (0..)
        .map(|i| format!("fresh-{i}"))
        .take(20)
        .filter(|k| l.check_key(k).is_ok())
        .count();
    assert!(probe < 20, "a fresh key shares a slot with a busy one");
}

#[test]
fn invalid_settings_name_the_field() {
    const YEAR: Duration = Duration::from_secs(365 * 24 * 3600);
    let d = RateLimitConfig::default;
    // Every field below and above its range, and the combinations judged
    // together (period against rate, the burst's refill time).
    let rows = [
        (
            RateLimitConfig { rate: 0, ..d() },
            "invalid rate = 0: must be an integer in [1, 1000000000]",
        ),
        (
            RateLimitConfig {
                rate: 1_000_000_001,
                ..d()
            },
            "invalid rate = 1000000001: must be an integer in [1, 1000000000]",
        ),
        (
            RateLimitConfig {
                period: Duration::ZERO,
                ..d()
            },
            "invalid period = 0ns: must be a duration in (0, 365 days]",
        ),
        (
            RateLimitConfig {
                period: YEAR + Duration::from_nanos(1),
                ..d()
            },
            "invalid period = 31536000.000000001s: must be a duration in (0, 365 days]",
        ),
        (
            RateLimitConfig {
                period: Duration::MAX,
                ..d()
            },
            "invalid period = 18446744073709551615.999999999s: must be a duration in (0, 365 days]",
        ),
        (
            RateLimitConfig {
                rate: 1000,
                period: Duration::from_nanos(999),
                ..d()
            },
            "invalid period = 999ns: must be at least `rate` nanoseconds (1 ns between calls)",
        ),
        (
            RateLimitConfig { burst: 0, ..d() },
            "invalid burst = 0: must be an integer in [1, 1000000000]",
        ),
        (
            RateLimitConfig {
                burst: u32::MAX,
                ..d()
            },
            "invalid burst = 4294967295: must be an integer in [1, 1000000000]",
        ),
        (
            RateLimitConfig {
                rate: 1,
                period: YEAR,
                burst: 101,
                ..d()
            },
            "invalid burst = 101: must be at most 100 years of calls at `rate` per `period`",
        ),
    ];
    for (c, want) in rows {
        let e = RateLimiter::with_clock(c, ManualClock::new()).unwrap_err();
        assert_eq!(e.to_string(), want);
        // The keyed limiter judges the same settings the same way.
        assert_eq!(
            KeyedRateLimiter::<str>::new(c, 16).unwrap_err().to_string(),
            want
        );
    }
    for slots in [0, (1 << 20) + 1, u32::MAX] {
        let e = KeyedRateLimiter::<str>::new(d(), slots).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("invalid slots = {slots}: must be an integer in [1, 1048576]")
        );
    }
    // The edges of every range are accepted.
    for c in [
        RateLimitConfig {
            rate: 1,
            burst: 1,
            ..d()
        },
        RateLimitConfig {
            rate: 1_000_000_000,
            burst: 1_000_000_000,
            ..d()
        },
        RateLimitConfig {
            rate: 1000,
            period: Duration::from_nanos(1000),
            ..d()
        },
        RateLimitConfig {
            rate: 1,
            period: YEAR,
            burst: 100,
            ..d()
        },
    ] {
        assert!(
            RateLimiter::with_clock(c, ManualClock::new()).is_ok(),
            "{c:?}"
        );
    }
}

#[test]
fn a_burst_refilling_over_more_than_100_years_is_refused() {
    // 1000 calls a year apart: admitting them would push the theoretical
    // arrival time past u64::MAX nanoseconds, where it would saturate and
    // every later call would conform.
    let year = Duration::from_secs(365 * 24 * 3600);
    let c = RateLimitConfig {
        rate: 1,
        period: year,
        burst: 1000,
        ..Default::default()
    };
    let e = RateLimiter::with_clock(c, ManualClock::new()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid burst = 1000: must be at most 100 years of calls at `rate` per `period`"
    );
    // 100 of them fit, and exactly those are admitted at once.
    let clock = ManualClock::new();
    let l = RateLimiter::with_clock(RateLimitConfig { burst: 100, ..c }, clock.clone()).unwrap();
    assert_eq!(admitted(|| l.check(), 1000), 100);
    assert_eq!(l.check(), Err(RateLimited { retry_after: year }));
    clock.advance(year);
    assert_eq!(admitted(|| l.check(), 10), 1);
    // The largest rate and burst: a second's worth of nanosecond-spaced calls.
    let (l, _) = limiter(1_000_000_000, 1_000_000_000);
    assert_eq!(admitted(|| l.check(), 1000), 1000);
}

/// `reserve` decides the wait once: within `max_wait` it takes the call's
/// turn and says how long to sleep (later calls queue behind it); beyond it
/// it refuses and changes nothing. Sleeping the returned wait and going
/// ahead keeps the configured rate, with no second check.
#[test]
fn reserve_takes_a_turn_within_max_wait_and_refuses_beyond_it() {
    let (l, clock) = limiter(10, 2); // 100 ms apart, 2 at once
    clock.set(1_000_000_000);
    assert_eq!(l.reserve(Duration::ZERO), Ok(Duration::ZERO));
    assert_eq!(l.reserve(Duration::ZERO), Ok(Duration::ZERO));
    // The burst is spent: the next turn is 100 ms away, the one after 200.
    assert_eq!(
        l.reserve(50 * MS),
        Err(RateLimited {
            retry_after: 100 * MS
        }),
        "beyond max_wait"
    );
    assert_eq!(l.reserve(100 * MS), Ok(100 * MS));
    assert_eq!(l.reserve(Duration::from_secs(1)), Ok(200 * MS));
    // Both turns are taken: `check` agrees (300 ms to the next).
    assert_eq!(
        l.check(),
        Err(RateLimited {
            retry_after: 300 * MS
        })
    );
    // A refusal changed nothing.
    assert_eq!(
        l.reserve(250 * MS),
        Err(RateLimited {
            retry_after: 300 * MS
        })
    );
    assert_eq!(
        l.check(),
        Err(RateLimited {
            retry_after: 300 * MS
        })
    );
    // Each reserved call runs at its turn: over 10 s of callers that sleep
    // what they are told, the rate holds.
    clock.set(10_000_000_000);
    let start = clock.now();
    let mut turns = Vec::new();
    for _ in 0..100 {
        let wait = l.reserve(Duration::from_secs(60)).unwrap();
        turns.push(clock.now() + seawall_nanos(wait));
    }
    for pair in turns.windows(2).skip(2) {
        assert_eq!(pair[1] - pair[0], 100_000_000, "spaced one interval");
    }
    assert_eq!(turns[99] - start, 98 * 100_000_000);
    // Unbounded waits are capped at a year (one call a year here).
    let year = Duration::from_secs(365 * 24 * 3600);
    let config = RateLimitConfig {
        rate: 1,
        period: year,
        burst: 1,
        ..Default::default()
    };
    let slow = RateLimiter::with_clock(config, ManualClock::new()).unwrap();
    assert_eq!(slow.reserve(Duration::MAX), Ok(Duration::ZERO));
    assert_eq!(slow.reserve(Duration::MAX), Ok(year));
    assert_eq!(
        slow.reserve(Duration::MAX),
        Err(RateLimited {
            retry_after: 2 * year
        })
    );
}

#[test]
fn timings_are_named_as_the_bindings_spell_them() {
    use seawall::Timing;
    assert_eq!(Timing::ALL.map(Timing::name), ["exact", "recent"]);
    for t in Timing::ALL {
        assert_eq!(Timing::from_name(t.name()), Some(t));
    }
    assert_eq!(Timing::from_name("Exact"), None);
    assert_eq!(Timing::from_name(""), None);
}

fn seawall_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap()
}

#[test]
fn a_keyed_limiter_counts_every_key_exactly_under_threads() {
    const THREADS: usize = 2 * seawall::stripes::STRIPES;
    const CALLS: usize = 1_000;
    let (l, _clock) = keyed(64, 2); // time never moves: two calls per slot
    let keys: Vec<String> = (0..THREADS).map(|t| format!("tenant-{t}")).collect();
    std::thread::scope(|s| {
        for key in &keys {
            let l = &l;
            s.spawn(move || {
                for i in 0..CALLS {
                    let _ = if i % 2 == 0 {
                        l.check_key(key)
                    } else {
                        l.reserve_key(key, Duration::ZERO).map(drop)
                    };
                }
            });
        }
    });
    let m = l.metrics();
    assert_eq!(m.allowed + m.denied, (THREADS * CALLS) as u64);
    // Each slot admits its burst once; keys sharing a slot share it.
    let slots: std::collections::HashSet<usize> = keys.iter().map(|k| l.slot_of(k)).collect();
    assert_eq!(m.allowed, 2 * slots.len() as u64);
}

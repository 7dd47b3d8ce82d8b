//! The fleet rate limiter: the lease script's GCRA (tier 0 on the in-memory
//! store, tier 1 against a real server and a reference model) and limiters
//! on several coordinators sharing one limit.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use seawall::telemetry::Catalog;
use seawall::{ManualClock, RateLimitConfig};

use super::server::RedisServer;
use crate::coordinator::{Coordinator, Engine};
use crate::keys::LimiterKeys;
use crate::store::memory::MemoryStore;
use crate::store::redis::{RedisStore, Timeouts};
use crate::store::{LeaseArgs, Store};
use crate::{CoordinatorConfig, FleetLimitConfig, FleetRateLimiter, OnStoreFailure};

fn limit(rate: u32, burst: u32) -> RateLimitConfig {
    RateLimitConfig {
        rate,
        period: Duration::from_secs(1),
        burst,
        ..Default::default()
    }
}

fn args(rate: u32, burst: u64, want: u64) -> LeaseArgs {
    LeaseArgs {
        interval_us: 1e6 / f64::from(rate),
        burst,
        want,
        returned: 0,
        debt: 0,
        member_ttl_ms: 3000,
    }
}

#[test]
fn a_lease_grants_what_conforms_takes_back_returns_and_charges_debts() {
    let mut store = MemoryStore::new();
    store.set_now_ms(1_700_000_000_000);
    let keys = LimiterKeys::new("svc", "api").unwrap();
    // 100 calls/s, burst 50: 20 + 20 + 10 at once, then nothing.
    let grants: Vec<u64> = (0..4)
        .map(|_| store.lease(&keys, &args(100, 50, 20), "a").unwrap().granted)
        .collect();
    assert_eq!(grants, [20, 20, 10, 0]);
    let refused = store.lease(&keys, &args(100, 50, 20), "a").unwrap();
    assert_eq!(refused.retry_after_us, 10_000, "one call's interval");
    // 200 ms later, 20 turns are free again.
    store.advance_ms(200);
    assert_eq!(
        store.lease(&keys, &args(100, 50, 30), "a").unwrap().granted,
        20
    );
    // Ten unused tokens given back are granted again.
    let back = LeaseArgs {
        returned: 10,
        ..args(100, 50, 30)
    };
    assert_eq!(store.lease(&keys, &back, "a").unwrap().granted, 10);
    // Calls admitted without a token are charged before any grant: after
    // 100 ms (10 turns), a debt of 4 leaves 6.
    store.advance_ms(100);
    let owed = LeaseArgs {
        debt: 4,
        ..args(100, 50, 30)
    };
    assert_eq!(store.lease(&keys, &owed, "a").unwrap().granted, 6);
    // Instances are counted while they lease within the member TTL.
    assert_eq!(store.lease(&keys, &args(100, 50, 0), "b").unwrap().live, 2);
    store.advance_ms(3001);
    assert_eq!(store.lease(&keys, &args(100, 50, 0), "b").unwrap().live, 1);
    assert!(
        store.pttl(&keys.rate).is_some_and(|t| t > 0),
        "the key expires"
    );
}

/// Instances sharing one fleet limit on one in-memory store, each with its
/// own coordinator driven by hand; local clocks and the server clock move
/// together.
struct Fleet {
    store: MemoryStore,
    clock: ManualClock,
    engines: Vec<Mutex<Engine>>,
    limiters: Vec<FleetRateLimiter<ManualClock>>,
}

impl Fleet {
    fn new(n: usize, config: RateLimitConfig, fleet: FleetLimitConfig) -> Self {
        let store = MemoryStore::new();
        store.set_now_ms(1_700_000_000_000);
        let clock = ManualClock::new();
        let mut engines = Vec::new();
        let mut limiters = Vec::new();
        for _ in 0..n {
            let (c, e) =
                Coordinator::manual(Box::new(store.clone()), CoordinatorConfig::default()).unwrap();
            limiters.push(
                FleetRateLimiter::with_clock("api", config, fleet, &c, clock.clone()).unwrap(),
            );
            engines.push(Mutex::new(e));
        }
        let f = Self {
            store,
            clock,
            engines,
            limiters,
        };
        f.step_all();
        f
    }

    fn step_all(&self) {
        for e in &self.engines {
            e.lock().unwrap().step();
        }
    }

    fn advance_ms(&self, ms: u64) {
        self.clock.advance(Duration::from_millis(ms));
        self.store.advance_ms(ms as i64);
    }

    /// Offers `n` calls to instance `i`; returns how many were admitted.
    fn offer(&self, i: usize, n: usize) -> u64 {
        (0..n).filter(|_| self.limiters[i].check().is_ok()).count() as u64
    }
}

#[test]
fn instances_share_one_limit_within_the_leased_bound() {
    // 200 calls/s for the fleet, burst 40, leases of 5 tokens.
    let fleet = FleetLimitConfig {
        lease: 5,
        ..Default::default()
    };
    let f = Fleet::new(3, limit(200, 40), fleet);
    let mut admitted = 0;
    // Five seconds of every instance offering 10 calls every 10 ms (3,000
    // calls/s, 15 times the limit), coordinators stepping every 10 ms.
    for _ in 0..500 {
        for i in 0..3 {
            admitted += f.offer(i, 10);
        }
        f.step_all();
        f.advance_ms(10);
    }
    // The fleet admits its rate, its burst, plus at most the tokens leased
    // and not used (3 x 5) and one local-share burst per instance.
    let most = 200 * 5 + 40 + 3 * 5 + 3 * 40;
    assert!(admitted <= most, "admitted {admitted} > {most}");
    assert!(admitted >= 200 * 5 - 200, "admitted only {admitted}");
    for l in &f.limiters {
        let s = l.status();
        assert_eq!(s.live_instances, 3);
        assert!(!s.degraded && s.leases > 0 && s.granted > 0);
    }
}

#[test]
fn each_instance_counts_its_admissions_and_refusals_and_exports_them() {
    let f = Fleet::new(2, limit(200, 40), FleetLimitConfig::default());
    let admitted = f.offer(0, 100);
    let m = f.limiters[0].metrics();
    assert_eq!((m.allowed, m.denied), (admitted, 100 - admitted));
    assert!(
        m.denied > 0,
        "100 calls at once exceed the fleet's burst of 40"
    );
    assert_eq!(f.limiters[1].metrics(), Default::default());
    let mut c = Catalog::new();
    f.limiters[0].export(&mut c);
    let families = c.finish();
    let value = |name: &str| {
        let f = families.iter().find(|f| f.name == name).unwrap();
        assert_eq!(&*f.samples[0].name, "api");
        f.samples[0].value
    };
    assert_eq!(value("seawall_rate_limiter_allowed"), admitted as f64);
    assert_eq!(
        value("seawall_rate_limiter_denied"),
        (100 - admitted) as f64
    );
}

#[test]
fn a_call_with_no_token_left_is_admitted_on_the_local_share_and_charged() {
    let f = Fleet::new(2, limit(10, 10), FleetLimitConfig::default());
    let l = &f.limiters[1];
    while l.status().tokens > 0 {
        l.check().unwrap();
    }
    // No token left: the call does not wait for a lease; it is admitted on
    // the instance's share and owed to the fleet, which leases more.
    let before = l.status();
    assert!(l.check().is_ok());
    f.step_all();
    let after = l.status();
    assert_eq!(after.charged, before.charged + 1);
    assert!(after.leases > before.leases && after.tokens > 0);
    // The share is 10/s over 2 instances, burst 5: it refuses beyond that.
    while l.status().tokens > 0 {
        l.check().unwrap();
    }
    let admitted = f.offer(1, 20);
    assert!((1..=5).contains(&admitted), "admitted {admitted}");
}

#[test]
fn without_the_store_each_instance_admits_its_share_or_what_the_mode_says() {
    for (mode, expect) in [
        (OnStoreFailure::Local, Some(25)),
        (OnStoreFailure::Allow, Some(1000)),
        (OnStoreFailure::Deny, None),
    ] {
        let fleet = FleetLimitConfig {
            on_store_failure: mode,
            ..Default::default()
        };
        let f = Fleet::new(4, limit(100, 100), fleet);
        f.step_all();
        assert_eq!(f.limiters[0].status().live_instances, 4);
        f.store.set_down(true);
        f.step_all();
        assert!(f.limiters[0].status().degraded, "{mode:?}");
        // Spend whatever was leased, then a second's worth of calls.
        while f.limiters[0].status().tokens > 0 {
            f.limiters[0].check().unwrap();
        }
        let mut admitted = 0;
        for _ in 0..10 {
            admitted += f.offer(0, 100);
            f.advance_ms(100);
        }
        match expect {
            // 100/s over 4 live instances: 25 a second, burst 25.
            Some(25) => assert!((25..=50).contains(&admitted), "{mode:?}: {admitted}"),
            Some(n) => assert_eq!(admitted, n, "{mode:?}"),
            None => assert_eq!(admitted, 0, "{mode:?}"),
        }
        // Back up: nothing of the outage is charged.
        f.store.set_down(false);
        let charged = f.limiters[0].status().charged;
        f.step_all();
        f.step_all();
        let s = f.limiters[0].status();
        assert!(!s.degraded && s.charged == charged, "{mode:?}");
    }
}

#[test]
fn tokens_unused_for_the_lease_ttl_go_back() {
    let fleet = FleetLimitConfig {
        lease: 8,
        lease_ttl: Duration::from_millis(1),
        ..Default::default()
    };
    let f = Fleet::new(1, limit(100, 20), fleet);
    assert!(f.limiters[0].check().is_ok());
    f.step_all();
    let held = f.limiters[0].status().tokens;
    assert!(held > 0);
    f.step_all();
    std::thread::sleep(Duration::from_millis(5));
    f.step_all();
    let s = f.limiters[0].status();
    assert_eq!((s.tokens, s.returned), (0, held));
}

#[test]
fn a_bad_lease_ttl_or_limit_is_refused_by_name() {
    let (c, _e) =
        Coordinator::manual(Box::new(MemoryStore::new()), CoordinatorConfig::default()).unwrap();
    let fleet = FleetLimitConfig {
        lease_ttl: Duration::ZERO,
        ..Default::default()
    };
    let e = FleetRateLimiter::new("api", limit(10, 10), fleet, &c).unwrap_err();
    assert!(e.to_string().contains("lease_ttl"), "{e}");
    let e =
        FleetRateLimiter::new("api", limit(0, 10), FleetLimitConfig::default(), &c).unwrap_err();
    assert!(e.to_string().contains("rate"), "{e}");
    let e =
        FleetRateLimiter::new("a{b", limit(10, 10), FleetLimitConfig::default(), &c).unwrap_err();
    assert!(e.to_string().contains("hash tag"), "{e}");
}

/// Tier 1: the script on a real server, against the GCRA reference: over a
/// stretch of real time, a client that keeps asking is granted the burst
/// plus the rate times the time passed, never more, hardly less.
#[test]
fn the_lease_script_matches_the_reference_at_several_rates() {
    let server = RedisServer::start();
    let mut store = RedisStore::new(
        &server.url(),
        Timeouts {
            connect: Duration::from_secs(1),
            op: Duration::from_secs(1),
            resubscribe_max: Duration::from_secs(1),
        },
    )
    .unwrap();
    store.reconnect().unwrap();
    for (i, (rate, burst, want)) in [(50u32, 10u64, 4u64), (1000, 100, 25), (20_000, 500, 200)]
        .into_iter()
        .enumerate()
    {
        let keys = LimiterKeys::new("ref", &format!("r{i}")).unwrap();
        let start = Instant::now();
        let mut granted = 0;
        while start.elapsed() < Duration::from_millis(400) {
            granted += store
                .lease(&keys, &args(rate, burst, want), "a")
                .unwrap()
                .granted;
        }
        let secs = start.elapsed().as_secs_f64();
        // Reference: burst + rate x elapsed (the server's span is inside
        // the client's, so this bounds it from above).
        let most = burst as f64 + f64::from(rate) * secs + 1.0;
        assert!((granted as f64) <= most, "rate {rate}: {granted} > {most}");
        // Hardly less: a lease every round trip catches every turn but the
        // last ask's worth.
        let least = f64::from(rate) * (secs - 0.05) - want as f64;
        assert!(
            (granted as f64) >= least,
            "rate {rate}: {granted} < {least}"
        );
    }
}

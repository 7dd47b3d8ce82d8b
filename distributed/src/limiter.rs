//! The fleet rate limiter: one limit shared by every instance, decided by
//! GCRA on the server's clock (`scripts/lease.lua`) and served to callers
//! from tokens the coordinator leases in advance, so a call never waits for
//! Redis.
//!
//! A call takes a leased token with one compare-and-swap. With none left it
//! is decided on the instance's *local share* (a GCRA at the fleet's rate
//! divided by the live instances) and, when admitted, owed to the fleet: the
//! coordinator charges it at the next lease. So the first call after a quiet
//! spell is never refused for want of a lease, and the fleet's books stay
//! whole. While the store is unreachable the local share decides alone (or
//! every call is admitted, or refused: [`OnStoreFailure`]), and nothing is
//! owed.

use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;
use seawall::rate_limit::Gcra;
use seawall::stripes::StripedCounts;
use seawall::telemetry::Catalog;
use seawall::{
    Clock, ConfigError, QuantaClock, RateLimitConfig, RateLimited, RateLimiterMetrics, Timing,
};

use crate::config::bad;
use crate::coordinator::{Coordinator, Inner};
use crate::keys::LimiterKeys;
use crate::overlay::Tokens;
use crate::store::{LeaseArgs, Store, StoreError};
use crate::sync::{AtomicBool, AtomicU64, Ordering};
use crate::Error;

/// What a fleet rate limiter does while the store is unreachable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnStoreFailure {
    /// Each instance admits its share of the limit: the fleet's rate divided
    /// by the instances last seen live. The default.
    #[default]
    Local,
    /// Every call is admitted.
    Allow,
    /// Every call not covered by a leased token is refused.
    Deny,
}

/// How a fleet rate limiter leases (the limit itself is a
/// [`RateLimitConfig`] for the whole fleet).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FleetLimitConfig {
    /// Tokens asked for per lease; 0 (the default) picks `burst / (4 x live
    /// instances)`, at least 1. Over-admission across the fleet is bounded
    /// by the tokens leased and not yet used: instances x `lease`.
    pub lease: u32,
    /// How long leased tokens stay unused before they go back to the fleet
    /// (they would otherwise be stranded on an idle instance). `[1 ms, 1
    /// hour]`, default 1 s.
    pub lease_ttl: Duration,
    /// What happens while the store is unreachable. Default `Local`.
    pub on_store_failure: OnStoreFailure,
}

impl Default for FleetLimitConfig {
    fn default() -> Self {
        Self {
            lease: 0,
            lease_ttl: Duration::from_secs(1),
            on_store_failure: OnStoreFailure::Local,
        }
    }
}

impl FleetLimitConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let ttl = self.lease_ttl;
        if ttl < Duration::from_millis(1) || ttl > Duration::from_secs(3600) {
            return Err(bad("lease_ttl", ttl, "in [1 ms, 1 hour]"));
        }
        Ok(())
    }
}

/// A snapshot of a fleet rate limiter, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FleetLimitStatus {
    /// Leased tokens not used yet.
    pub tokens: u64,
    /// Instances that leased recently, as last seen (at least 1).
    pub live_instances: u64,
    /// The store is unreachable: the local share decides alone.
    pub degraded: bool,
    /// Lease scripts run.
    pub leases: u64,
    /// Tokens the leases granted.
    pub granted: u64,
    /// Leased tokens given back unused.
    pub returned: u64,
    /// Calls admitted on the local share and charged to the fleet.
    pub charged: u64,
}

/// What only the coordinator touches.
#[derive(Default)]
struct Books {
    /// Tokens left after the last round, and since when none was used.
    last_tokens: u64,
    idle_since: Option<Instant>,
    last_contact: Option<Instant>,
    status: FleetLimitStatus,
}

pub(crate) struct LimiterShared<C: Clock> {
    name: String,
    keys: LimiterKeys,
    /// Admissions and refusals, on the calling thread's own stripe.
    counts: StripedCounts<2>,
    config: RateLimitConfig,
    fleet: FleetLimitConfig,
    /// The fleet's GCRA (one call per `interval` ns, `burst` at once).
    gcra: Gcra,
    tokens: Tokens,
    /// The local share's GCRA word.
    local: CachePadded<AtomicU64>,
    /// Calls admitted on the local share, to charge at the next lease.
    debt: AtomicU64,
    /// Callers ran short: lease now.
    demand: AtomicBool,
    /// At this many tokens left, ask for more.
    low_water: AtomicU64,
    live: AtomicU64,
    degraded: AtomicBool,
    /// The coordinator's interval: the wait announced by `Deny`.
    sync_interval: Duration,
    coordinator: Weak<Inner>,
    books: Mutex<Books>,
    clock: C,
}

/// [`LimiterShared::counts`]: admissions and refusals.
const ALLOWED: usize = 0;
const DENIED: usize = 1;

/// The share of `gcra` one of `live` instances admits on its own.
fn share(gcra: Gcra, burst: u32, live: u64) -> Gcra {
    let burst = (u64::from(burst) / live).max(1);
    let interval = gcra.interval.saturating_mul(live);
    Gcra {
        interval,
        tolerance: interval.saturating_mul(burst - 1),
    }
}

impl<C: Clock> LimiterShared<C> {
    /// Asks the coordinator for a lease (once until it answers).
    fn ask(&self) {
        // Relaxed: a hint; the wake-up carries it.
        if !self.demand.load(Ordering::Relaxed) && !self.demand.swap(true, Ordering::Relaxed) {
            if let Some(inner) = self.coordinator.upgrade() {
                inner.wake();
            }
        }
    }

    #[cold]
    fn local_share(&self) -> Result<(), RateLimited> {
        // Relaxed: status flags and counts, publishing nothing.
        let degraded = self.degraded.load(Ordering::Relaxed);
        if degraded {
            match self.fleet.on_store_failure {
                OnStoreFailure::Local => {}
                OnStoreFailure::Allow => return Ok(()),
                OnStoreFailure::Deny => {
                    return Err(RateLimited {
                        retry_after: self.sync_interval,
                    })
                }
            }
        } else {
            self.ask();
        }
        let live = self.live.load(Ordering::Relaxed).max(1);
        let gcra = share(self.gcra, self.config.burst, live);
        let now = match self.config.timing {
            Timing::Exact => self.clock.now(),
            Timing::Recent => self.clock.recent(),
        };
        let mut word = self.local.load(Ordering::Relaxed);
        loop {
            let next = gcra.decide(word, now).map_err(|wait| RateLimited {
                retry_after: Duration::from_nanos(wait),
            })?;
            match self
                .local
                .compare_exchange_weak(word, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(actual) => word = actual,
            }
        }
        if !degraded {
            self.debt.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    fn books(&self) -> MutexGuard<'_, Books> {
        self.books.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What the coordinator drives, whatever the limiter's clock.
pub(crate) trait LimiterEntry: Send + Sync {
    /// One round: give back idle tokens, charge the debt, lease on demand,
    /// or a heartbeat when `poll` is due.
    fn sync(
        &self,
        store: &mut dyn Store,
        instance: &str,
        poll_interval: Duration,
        force: bool,
    ) -> Result<(), StoreError>;
    /// Enters or leaves degraded mode. Entering drops the debt (the outage's
    /// calls are never charged).
    fn set_degraded(&self, on: bool);
}

impl<C: Clock> LimiterEntry for LimiterShared<C> {
    fn sync(
        &self,
        store: &mut dyn Store,
        instance: &str,
        poll_interval: Duration,
        force: bool,
    ) -> Result<(), StoreError> {
        let now = Instant::now();
        let mut b = self.books();
        // Relaxed throughout: counts, publishing nothing.
        let tokens = self.tokens.get();
        if tokens == 0 || tokens != b.last_tokens {
            b.idle_since = Some(now);
        }
        let idle = b
            .idle_since
            .is_some_and(|t| now - t >= self.fleet.lease_ttl);
        let returned = if idle { self.tokens.take_all() } else { 0 };
        let debt = self.debt.swap(0, Ordering::Relaxed);
        let live = self.live.load(Ordering::Relaxed).max(1);
        let size = match self.fleet.lease {
            0 => (u64::from(self.config.burst) / (4 * live)).max(1),
            n => u64::from(n),
        };
        let have = self.tokens.get();
        let want = if self.demand.swap(false, Ordering::Relaxed) {
            size.saturating_sub(have)
        } else {
            0
        };
        let due = force || b.last_contact.is_none_or(|t| now - t >= poll_interval);
        if want == 0 && debt == 0 && returned == 0 && !due {
            b.last_tokens = have;
            return Ok(());
        }
        let args = LeaseArgs {
            interval_us: self.gcra.interval as f64 / 1000.0,
            burst: u64::from(self.config.burst),
            want,
            returned,
            debt,
            member_ttl_ms: (poll_interval.as_millis() as u64).saturating_mul(3),
        };
        let ans = store.lease(&self.keys, &args, instance)?;
        self.tokens.grant(ans.granted);
        self.live.store(ans.live.max(1), Ordering::Relaxed);
        self.low_water.store(size / 2, Ordering::Relaxed);
        b.last_contact = Some(now);
        b.last_tokens = self.tokens.get();
        let s = &mut b.status;
        s.leases += 1;
        s.granted += ans.granted;
        s.returned += returned;
        s.charged += debt;
        Ok(())
    }

    fn set_degraded(&self, on: bool) {
        // Relaxed: a status flag; the debt is a count.
        self.degraded.store(on, Ordering::Relaxed);
        if on {
            self.debt.store(0, Ordering::Relaxed);
        }
    }
}

/// A rate limit shared by every instance using the same namespace and name
/// (see the module documentation). Cheap to call from any thread; dropping
/// it stops its leases.
pub struct FleetRateLimiter<C: Clock = QuantaClock> {
    shared: Arc<LimiterShared<C>>,
    _coordinator: Coordinator,
}

impl FleetRateLimiter<QuantaClock> {
    /// A fleet rate limiter on the production clock: `config` is the limit
    /// of the whole fleet.
    pub fn new(
        name: &str,
        config: RateLimitConfig,
        fleet: FleetLimitConfig,
        coordinator: &Coordinator,
    ) -> Result<Self, Error> {
        Self::with_clock(name, config, fleet, coordinator, QuantaClock)
    }
}

impl<C: Clock> FleetRateLimiter<C> {
    /// A fleet rate limiter whose local share reads `clock`.
    pub fn with_clock(
        name: &str,
        config: RateLimitConfig,
        fleet: FleetLimitConfig,
        coordinator: &Coordinator,
        clock: C,
    ) -> Result<Self, Error> {
        config.validate()?;
        fleet.validate()?;
        let inner = coordinator.inner();
        let shared = Arc::new(LimiterShared {
            name: name.to_owned(),
            keys: LimiterKeys::new(&inner.config.namespace, name)?,
            counts: StripedCounts::new(),
            gcra: Gcra::new(&config),
            config,
            fleet,
            tokens: Tokens::new(),
            local: CachePadded::new(AtomicU64::new(Gcra::EMPTY)),
            debt: AtomicU64::new(0),
            demand: AtomicBool::new(true),
            low_water: AtomicU64::new(0),
            live: AtomicU64::new(1),
            degraded: AtomicBool::new(inner.is_degraded()),
            sync_interval: inner.config.sync_interval,
            coordinator: Arc::downgrade(inner),
            books: Mutex::new(Books::default()),
            clock,
        });
        let entry: Arc<dyn LimiterEntry> = shared.clone();
        inner.register_limiter(Arc::downgrade(&entry));
        Ok(Self {
            shared,
            _coordinator: coordinator.clone(),
        })
    }

    /// Admits one call now, or says how long until one would be admitted.
    /// Never waits for the store.
    #[inline]
    pub fn check(&self) -> Result<(), RateLimited> {
        let s = &*self.shared;
        let r = match s.tokens.take() {
            Some(left) => {
                // Relaxed: a threshold.
                if left == s.low_water.load(Ordering::Relaxed) {
                    s.ask();
                }
                Ok(())
            }
            None => s.local_share(),
        };
        s.counts.incr(if r.is_ok() { ALLOWED } else { DENIED });
        r
    }

    /// The name it was built with.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// This instance's admissions and refusals so far. Exact once the
    /// calling threads are joined; during traffic each count is a lower
    /// bound.
    pub fn metrics(&self) -> RateLimiterMetrics {
        let c = &self.shared.counts;
        RateLimiterMetrics {
            allowed: c.total(ALLOWED),
            denied: c.total(DENIED),
        }
    }

    /// Adds this limiter to `catalog`: this instance's admissions and
    /// refusals, as a rate limiter's families.
    pub fn export(&self, catalog: &mut Catalog) {
        catalog.rate_limiter(self.name(), &self.metrics());
    }

    /// The fleet's limit.
    pub fn config(&self) -> &RateLimitConfig {
        &self.shared.config
    }

    /// A snapshot for metrics.
    pub fn status(&self) -> FleetLimitStatus {
        let s = &*self.shared;
        FleetLimitStatus {
            // Relaxed: a snapshot of counts and flags.
            tokens: s.tokens.get(),
            live_instances: s.live.load(Ordering::Relaxed).max(1),
            degraded: s.degraded.load(Ordering::Relaxed),
            ..s.books().status
        }
    }
}

impl<C: Clock> std::fmt::Debug for FleetRateLimiter<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FleetRateLimiter")
            .field("key", &self.shared.keys.rate)
            .field("status", &self.status())
            .finish()
    }
}

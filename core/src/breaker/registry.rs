//! Named breakers shared across a process.

use std::sync::Arc;

use super::config::BreakerConfig;
use super::metrics::Metrics;
use super::Breaker;
use crate::clock::{Clock, QuantaClock};
use crate::config::ConfigError;

use crossbeam_epoch as epoch;
use crossbeam_skiplist::base::{RefEntry, SkipList};

type Map<C> = SkipList<Arc<str>, Arc<Breaker<C>>>;

/// A concurrent map from names to breakers, all on one clock.
///
/// A lock-free skip list (crossbeam's, with epoch-based reclamation): no
/// operation takes a lock, not even a thread's first use or its exit, so a
/// process that forks while other threads use a registry leaves the child
/// a registry it can use. Look-ups cost a few string comparisons per level
/// (O(log n)) inside one epoch pin (a write to the thread's own epoch
/// record, none to memory other threads read), and [`Registry::with`]
/// touches no reference count, so it is cheap enough to run on every call.
/// Names come out sorted.
pub struct Registry<C: Clock + Clone = QuantaClock> {
    map: Map<C>,
    clock: C,
}

impl Registry<QuantaClock> {
    /// An empty registry on the production clock.
    pub fn new() -> Self {
        Self::with_clock(QuantaClock)
    }
}

impl Default for Registry<QuantaClock> {
    fn default() -> Self {
        Self::new()
    }
}

/// The breaker of an entry the skip list handed out counted, and the count
/// handed back.
fn take<C: Clock>(
    entry: RefEntry<'_, Arc<str>, Arc<Breaker<C>>>,
    guard: &epoch::Guard,
) -> Arc<Breaker<C>> {
    let b = Arc::clone(entry.value());
    entry.release(guard);
    b
}

impl<C: Clock + Clone> Registry<C> {
    /// An empty registry whose breakers read `clock`.
    pub fn with_clock(clock: C) -> Self {
        Self {
            map: Map::new(epoch::default_collector().clone()),
            clock,
        }
    }

    /// The breaker called `name`, created from `config` if there is none yet.
    /// An existing breaker keeps its own configuration; the error reports an
    /// invalid `config` only when a breaker had to be created from it.
    pub fn get_or_create(
        &self,
        name: &str,
        config: &BreakerConfig,
    ) -> Result<Arc<Breaker<C>>, ConfigError> {
        if let Some(b) = self.get(name) {
            return Ok(b);
        }
        let b = Arc::new(Breaker::with_clock(
            name,
            config.clone(),
            self.clock.clone(),
        )?);
        // A racing creator may have inserted first: its breaker wins.
        let guard = &epoch::pin();
        Ok(take(
            self.map.get_or_insert(Arc::from(name), b, guard),
            guard,
        ))
    }

    /// The breaker called `name`, if any.
    pub fn get(&self, name: &str) -> Option<Arc<Breaker<C>>> {
        let guard = &epoch::pin();
        self.map.get(name, guard).map(|e| Arc::clone(e.value()))
    }

    /// Runs `f` on the breaker called `name`, borrowed for the call: no
    /// reference count is touched.
    pub fn with<R>(&self, name: &str, f: impl FnOnce(&Breaker<C>) -> R) -> Option<R> {
        let guard = &epoch::pin();
        self.map.get(name, guard).map(|e| f(e.value()))
    }

    /// Removes the breaker called `name`; holders of it keep a working one.
    pub fn remove(&self, name: &str) -> Option<Arc<Breaker<C>>> {
        let guard = &epoch::pin();
        self.map.remove(name, guard).map(|e| take(e, guard))
    }

    /// The number of breakers.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The names of all breakers, sorted.
    pub fn names(&self) -> Vec<Arc<str>> {
        let guard = &epoch::pin();
        self.map.iter(guard).map(|e| Arc::clone(e.key())).collect()
    }

    /// The metrics of every breaker, sorted by name.
    pub fn snapshot(&self) -> Vec<(Arc<str>, Metrics)> {
        let guard = &epoch::pin();
        self.map
            .iter(guard)
            .map(|e| (Arc::clone(e.key()), e.value().metrics()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ManualClock;

    #[test]
    fn get_or_create_shares_one_breaker_per_name() {
        let r = Registry::with_clock(ManualClock::new());
        let cfg = BreakerConfig {
            failure_threshold: 1,
            ..Default::default()
        };
        let a = r.get_or_create("users", &cfg).unwrap();
        let b = r.get_or_create("users", &BreakerConfig::default()).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(b.config().failure_threshold, 1);
        r.get_or_create("orders", &cfg).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(
            r.names(),
            vec![Arc::<str>::from("orders"), Arc::from("users")]
        );
        a.try_acquire().unwrap().failure();
        assert_eq!(r.with("users", |b| b.state()), Some(crate::State::Open));
        let snap = r.snapshot();
        assert_eq!(snap[1].1.failures, 1);
        assert!(r.get("nope").is_none());
        assert!(r.remove("users").is_some());
        assert_eq!(
            a.state(),
            crate::State::Open,
            "a removed breaker keeps working"
        );
    }

    #[test]
    fn invalid_config_is_reported_only_when_creating() {
        let r = Registry::with_clock(ManualClock::new());
        let bad = BreakerConfig {
            failure_threshold: 0,
            ..Default::default()
        };
        assert_eq!(
            r.get_or_create("x", &bad).unwrap_err().field,
            "failure_threshold"
        );
        assert!(r.is_empty());
        r.get_or_create("x", &BreakerConfig::default()).unwrap();
        assert!(r.get_or_create("x", &bad).is_ok());
    }

    #[test]
    fn concurrent_get_or_create_yields_one_breaker() {
        let r = Registry::with_clock(ManualClock::new());
        let got: Vec<_> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..4)
                .map(|_| s.spawn(|| r.get_or_create("k", &BreakerConfig::default()).unwrap()))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(got.windows(2).all(|w| Arc::ptr_eq(&w[0], &w[1])));
    }
}

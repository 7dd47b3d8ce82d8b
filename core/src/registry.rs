//! Named breakers shared across a process.

use std::sync::Arc;

use crate::clock::{Clock, QuantaClock};
use crate::config::{BreakerConfig, ConfigError};
use crate::{Breaker, Metrics};

type Map<C> = papaya::HashMap<Arc<str>, Arc<Breaker<C>>, foldhash::fast::RandomState>;

/// A concurrent map from names to breakers, all on one clock.
///
/// Look-ups are lock-free (papaya's epoch-protected table with foldhash), so
/// [`Registry::with`] is cheap enough to run on every call; creation takes
/// the table's insert path once per name.
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

impl<C: Clock + Clone> Registry<C> {
    /// An empty registry whose breakers read `clock`.
    pub fn with_clock(clock: C) -> Self {
        Self {
            map: papaya::HashMap::builder()
                .hasher(foldhash::fast::RandomState::default())
                .build(),
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
        let map = self.map.pin();
        if let Some(b) = map.get(name) {
            return Ok(Arc::clone(b));
        }
        let b = Arc::new(Breaker::with_clock(
            name,
            config.clone(),
            self.clock.clone(),
        )?);
        Ok(Arc::clone(map.get_or_insert(Arc::from(name), b)))
    }

    /// The breaker called `name`, if any.
    pub fn get(&self, name: &str) -> Option<Arc<Breaker<C>>> {
        self.map.pin().get(name).cloned()
    }

    /// Runs `f` on the breaker called `name` without touching its reference
    /// count (no shared write per call).
    pub fn with<R>(&self, name: &str, f: impl FnOnce(&Breaker<C>) -> R) -> Option<R> {
        self.map.pin().get(name).map(|b| f(b))
    }

    /// Removes the breaker called `name`; holders of it keep a working one.
    pub fn remove(&self, name: &str) -> Option<Arc<Breaker<C>>> {
        self.map.pin().remove(name).cloned()
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
        let mut v: Vec<_> = self.map.pin().keys().cloned().collect();
        v.sort();
        v
    }

    /// The metrics of every breaker, sorted by name.
    pub fn snapshot(&self) -> Vec<(Arc<str>, Metrics)> {
        let mut v: Vec<_> = self
            .map
            .pin()
            .iter()
            .map(|(k, b)| (Arc::clone(k), b.metrics()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
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

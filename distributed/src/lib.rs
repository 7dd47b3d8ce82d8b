//! # Fleet-wide circuit breaker state on Redis
//!
//! A [`DistributedBreaker`] is a local [`seawall::Breaker`] plus a *fleet
//! overlay*: what all instances of a service, together, say about a
//! dependency. One [`Coordinator`] per process flushes every breaker's
//! outcome counts to Redis in batches (every 100 ms by default, at once on a
//! burst of failures), where atomic Lua scripts aggregate them over a
//! time-bucketed fleet window, trip on the fleet's failure rate or count
//! when enough distinct instances fail, lease the fleet's HALF_OPEN trial
//! permits, and publish every change. The call path never does I/O: it
//! reads one overlay word and asks the local breaker. A [`FleetRateLimiter`]
//! shares one rate limit among the instances the same way: GCRA on the
//! server's clock, served from tokens the coordinator leases in advance.
//!
//! ```no_run
//! use std::time::Duration;
//! use seawall::{BreakerConfig, RateLimitConfig};
//! use seawall_distributed::{
//!     Coordinator, CoordinatorConfig, DistributedBreaker, FleetConfig, FleetLimitConfig,
//!     FleetRateLimiter,
//! };
//!
//! let coordinator = Coordinator::shared("redis://127.0.0.1:6379/", CoordinatorConfig::default())?;
//! let breaker = DistributedBreaker::new(
//!     "payments",
//!     BreakerConfig::default(),
//!     FleetConfig::default(),
//!     &coordinator,
//! )?;
//! let answer = breaker.call(|| Ok::<_, std::io::Error>("charged"));
//!
//! // A rate limit for the whole fleet, served from leased tokens.
//! let limit = RateLimitConfig {
//!     rate: 500,
//!     period: Duration::from_secs(1),
//!     burst: 50,
//!     ..Default::default()
//! };
//! let api = FleetRateLimiter::new("partner-api", limit, FleetLimitConfig::default(), &coordinator)?;
//! if api.check().is_ok() { /* admitted */ }
//! println!("{:?}", breaker.fleet());
//! # Ok::<(), seawall_distributed::Error>(())
//! ```
//!
//! On a Redis Cluster, [`Coordinator::shared_cluster`] (or
//! [`Coordinator::connect_cluster`]) takes the seed nodes instead of one
//! URL; each breaker's keys share one hash tag, so its scripts go to the one
//! primary owning that slot, with the same timeouts:
//!
//! ```no_run
//! # use seawall_distributed::{Coordinator, CoordinatorConfig};
//! let coordinator = Coordinator::shared_cluster(
//!     &["redis://10.0.0.1:6379/", "redis://10.0.0.2:6379/"],
//!     CoordinatorConfig::default(),
//! )?;
//! # Ok::<(), seawall_distributed::Error>(())
//! ```
//!
//! When Redis is unreachable, refusing or hung, callers notice nothing: the
//! instance decides on its local breaker, keeps a fleet OPEN it knew until
//! its deadline, reconnects with back-off and drops the outage's counts.
//! `ARCHITECTURE.md` describes the scripts, the overlay and the failure
//! modes.

#![deny(unsafe_op_in_unsafe_fn)]

mod breaker;
mod config;
mod coordinator;
mod keys;
mod limiter;
#[cfg(all(test, seawall_loom))]
mod loom;
mod member;
mod overlay;
mod scripts;
mod store;
mod sync;

#[cfg(test)]
mod tests;

pub use breaker::{DistributedBreaker, DistributedPermit, FleetStatus, FleetTicket};
pub use config::{CoordinatorConfig, FleetConfig};
pub use coordinator::Coordinator;
pub use keys::{KeyError, MAX_NAME, MAX_NAMESPACE};
pub use limiter::{FleetLimitConfig, FleetLimitStatus, FleetRateLimiter, OnStoreFailure};
pub use member::{FleetEvent, FleetListener};
pub use store::StoreError;

/// Why a distributed breaker or coordinator could not be built.
#[derive(Debug)]
pub enum Error {
    /// A configuration field out of range (names the field).
    Config(seawall::ConfigError),
    /// A namespace or breaker name that cannot form valid keys.
    Key(KeyError),
    /// The store could not be set up (an invalid URL, a thread that could
    /// not start). An unreachable server is not an error: the coordinator
    /// starts degraded and keeps trying.
    Store(StoreError),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Config(e) => e.fmt(f),
            Error::Key(e) => e.fmt(f),
            Error::Store(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Error {}

impl From<seawall::ConfigError> for Error {
    fn from(e: seawall::ConfigError) -> Self {
        Error::Config(e)
    }
}

impl From<KeyError> for Error {
    fn from(e: KeyError) -> Self {
        Error::Key(e)
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        Error::Store(e)
    }
}

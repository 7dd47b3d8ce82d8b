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
//! The project's [architecture notes](https://github.com/seawall-rs/seawall/blob/main/ARCHITECTURE.md)
//! describe the scripts, the overlay and the failure modes.

#![deny(unsafe_op_in_unsafe_fn)]
// Under loom only the shared words and their models are built (the models
// need neither the store nor redis); what the I/O side alone uses is unused.
#![cfg_attr(seawall_loom, allow(dead_code))]

#[cfg(all(test, seawall_loom))]
mod loom;
mod overlay;
mod sync;

#[cfg(not(seawall_loom))]
mod breaker;
#[cfg(not(seawall_loom))]
mod config;
#[cfg(not(seawall_loom))]
mod coordinator;
#[cfg(not(seawall_loom))]
mod keys;
#[cfg(not(seawall_loom))]
mod limiter;
#[cfg(not(seawall_loom))]
mod member;
#[cfg(not(seawall_loom))]
mod scripts;
#[cfg(not(seawall_loom))]
mod store;

#[cfg(all(test, not(seawall_loom)))]
mod tests;

#[cfg(not(seawall_loom))]
mod error;

#[cfg(not(seawall_loom))]
pub use {
    breaker::{DistributedBreaker, DistributedPermit, FleetStatus, FleetTicket},
    config::{CoordinatorConfig, FleetConfig},
    coordinator::Coordinator,
    error::Error,
    keys::{KeyError, MAX_NAME, MAX_NAMESPACE},
    limiter::{FleetLimitConfig, FleetLimitStatus, FleetRateLimiter, OnStoreFailure},
    member::{FleetEvent, FleetListener},
    store::StoreError,
};

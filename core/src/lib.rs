//! # Seawall: lock-free resilience engines
//!
//! One engine per concern, each a few atomic words with no lock on its call
//! path, each on an injectable [`Clock`] (a [`ManualClock`] makes tests
//! exact), each reporting the metrics it keeps anyway:
//!
//! - [`Breaker`]: the circuit breaker (below), with trip rules over
//!   sliding [`Window`]s; [`Registry`] shares breakers by name;
//!   [`KeyedBreaker`] keeps one per key (host, tenant), bounded.
//! - [`Retry`] and [`RetryState`] ([`retry`]): back-off schedules and the
//!   per-call retry decision, aware of the breaker and of a
//!   [`RetryBudget`] ([`budget`]) that keeps retries to a share of the
//!   requests so they never turn into a storm.
//! - [`Bulkhead`] ([`bulkhead`]): a bound on the calls in flight, with a
//!   fair, bounded wait queue; [`AdaptiveLimiter`] ([`limiter`]): a bound
//!   learnt from the calls' latency and errors (AIMD or gradient).
//! - [`RateLimiter`] and [`KeyedRateLimiter`] ([`rate_limit`]): GCRA on one
//!   atomic word.
//! - [`Hedge`] ([`hedge`]): after a delay without an answer, another
//!   attempt at an idempotent call, drawn from a [`RetryBudget`]; the
//!   first good answer wins.
//! - [`AdaptiveThrottler`] ([`throttle`]): client-side throttling that
//!   sheds calls locally, lowest [`Priority`] first, while the backend
//!   refuses more than it accepts.
//! - [`FaultInjector`] ([`fault`]): errors, results and delays injected
//!   at run time for tests and game days; free while off.
//! - [`telemetry`]: the metric catalog every exporter reads (Prometheus
//!   and OpenMetrics text, `prometheus-client`, the C and Python faces).
//!
//! The same engines back the C ABI (`seawall-ffi`), the Python module
//! (`bindings-python`, imported as `seawall`), the fleet-wide breaker
//! and rate limiter shared through Redis (`seawall-distributed`) and the
//! `tower` layers (`seawall-tower`).
//!
//! ```
//! use std::time::Duration;
//! use seawall::{
//!     Backoff, BreakerConfig, Bulkhead, BulkheadConfig, ManualClock, ManualSleep,
//!     RateLimitConfig, RateLimiter, Registry, Retry, RetryBudget, RetryBudgetConfig,
//!     RetryPolicy,
//! };
//!
//! let clock = ManualClock::new();
//! // Breakers shared by name; a retry schedule from a preset, within a budget.
//! let breakers = Registry::with_clock(clock.clone());
//! let breaker = breakers.get_or_create("inventory", &BreakerConfig::default()).unwrap();
//! let backoff = Backoff::new(RetryPolicy::Network.config()).unwrap();
//! let budget = RetryBudget::with_clock(RetryBudgetConfig::default(), clock.clone()).unwrap();
//! let sleep = ManualSleep::new(clock.clone());
//! // At most 8 calls in flight; 100 calls per second.
//! let bulkhead =
//!     Bulkhead::with_clock(BulkheadConfig { max_concurrent: 8, ..Default::default() }, clock.clone())
//!         .unwrap();
//! let limiter = RateLimiter::with_clock(
//!     RateLimitConfig { rate: 100, period: Duration::from_secs(1), burst: 100, ..Default::default() },
//!     clock.clone(),
//! )
//! .unwrap();
//!
//! let stock = Retry::new(&backoff, &sleep)
//!     .breaker(&breaker)
//!     .budget(&budget)
//!     .run(|attempt| {
//!         limiter.check().map_err(|_| "rate limited")?;
//!         let _slot = bulkhead.try_acquire().map_err(|_| "bulkhead full")?;
//!         if attempt < 2 { Err("timeout") } else { Ok(42) } // the dependency
//!     })
//!     .unwrap();
//! assert_eq!((stock.value, stock.attempts), (42, 2));
//! assert_eq!(breaker.metrics().failures, 1);
//! ```
//!
//! ## The circuit breaker
//!
//! A [`Breaker`] protects calls to a dependency. While CLOSED it admits every
//! call and counts consecutive failures; at `failure_threshold` it opens and
//! rejects calls, without running them, for `timeout`. Then it admits at most
//! `half_open_max_calls` trial calls at once (HALF_OPEN): `success_threshold`
//! successes close it, any failure reopens it (for longer, if back-off is
//! configured), and trials left unresolved past `half_open_timeout` reopen it
//! too.
//!
//! ```
//! use std::time::Duration;
//! use seawall::{Breaker, BreakerConfig, ManualClock, State};
//!
//! let clock = ManualClock::new();
//! let config = BreakerConfig { failure_threshold: 2, success_threshold: 1, ..Default::default() };
//! let breaker = Breaker::with_clock("users", config, clock.clone()).unwrap();
//!
//! breaker.try_acquire().unwrap().failure();
//! breaker.try_acquire().unwrap().failure();
//! assert_eq!(breaker.state(), State::Open);
//! let rejected = breaker.try_acquire().unwrap_err();
//! assert_eq!(rejected.retry_after, Some(Duration::from_secs(60)));
//!
//! clock.advance(Duration::from_secs(60));
//! assert_eq!(breaker.state(), State::HalfOpen);
//! breaker.try_acquire().unwrap().success();
//! assert_eq!(breaker.state(), State::Closed);
//! ```
//!
//! ## Trip rules over sliding windows
//!
//! Besides consecutive failures, a breaker can judge a [`Window`] of recent
//! outcomes: the last N calls ([`Window::Count`], a true sliding window) or the
//! last T of time ([`Window::Time`], a fixed ring of buckets). Over it,
//! `failure_count_threshold`, `failure_rate_threshold` and
//! `slow_call_rate_threshold` each open the breaker when they fire; rates wait
//! for `minimum_calls`. Rules combine: the first to fire opens.
//!
//! ```
//! use std::time::Duration;
//! use seawall::{Breaker, BreakerConfig, ManualClock, State, Window};
//!
//! // Open when half of the last 100 calls failed, whatever came before.
//! let config = BreakerConfig {
//!     trip_on_consecutive_failures: false,
//!     window: Window::Count { size: 100 },
//!     failure_rate_threshold: Some(0.5),
//!     minimum_calls: 100,
//!     ..Default::default()
//! };
//! let breaker = Breaker::with_clock("search", config, ManualClock::new()).unwrap();
//! for _ in 0..1000 {
//!     breaker.try_acquire().unwrap().success();
//! }
//! for _ in 0..49 {
//!     breaker.try_acquire().unwrap().failure();
//! }
//! assert_eq!(breaker.state(), State::Closed);
//! breaker.try_acquire().unwrap().failure(); // 50 of the last 100
//! assert_eq!(breaker.state(), State::Open);
//! ```
//!
//! Windows judge one CLOSED episode at a time: when the breaker closes, the
//! outcomes that opened it leave the window. The project's
//! [architecture notes](https://github.com/seawall-rs/seawall/blob/main/ARCHITECTURE.md)
//! work an example of every rule.
//!
//! ## Permits and episodes
//!
//! Every call takes a [`Permit`] and reports one [`Outcome`]. Permits carry the
//! 64-bit number of the episode (state) that issued them: an outcome that
//! arrives after the breaker moved on, by one state change or by millions,
//! is counted in the metrics as late but never decides the new state. The
//! design, the call path and the invariants are described in the
//! [architecture notes](https://github.com/seawall-rs/seawall/blob/main/ARCHITECTURE.md).

#![deny(unsafe_op_in_unsafe_fn)]

mod breaker;
pub mod budget;
pub mod bulkhead;
pub mod clock;
pub mod config;
pub mod fault;
pub mod hedge;
pub mod limiter;
mod random;
pub mod rate_limit;
pub mod retry;
mod slices;
pub mod stripes;
mod sync;
pub mod telemetry;
pub mod throttle;

#[cfg(seawall_loom)]
#[doc(hidden)]
pub use breaker::CountWindowProbe;
#[cfg(seawall_loom)]
#[doc(hidden)]
pub use breaker::{loom_entry, loom_table};
pub use breaker::{
    protected_call, Breaker, BreakerConfig, CallError, KeyedBreaker, KeyedMetrics, KeyedPermit,
    KeyedRejected, KeyedTicket, Listener, Metrics, Outcome, Permit, Registry, Rejected, Report,
    State, Ticket, Transition, Transitions, Window, WindowCounts,
};
pub use budget::{BudgetCounts, RetryBudget, RetryBudgetConfig, RetryBudgetMetrics};
pub use bulkhead::{
    Admission, Bulkhead, BulkheadConfig, BulkheadError, BulkheadMetrics, BulkheadPermit, Waiter,
};
pub use clock::{Clock, ManualClock, QuantaClock, Timing};
pub use config::ConfigError;
pub use fault::{Fault, FaultConfig, FaultInjector, FaultMetrics};
pub use hedge::{Hedge, HedgeCall, HedgeConfig, HedgeDecision, HedgeMetrics, Resolution};
pub use limiter::{
    AdaptiveLimiter, AdaptiveLimiterConfig, AdaptiveLimiterMetrics, AdaptivePermit, AdaptiveTicket,
    LimitAlgorithm, LimitReached,
};
pub use random::{Random, SeededRandom, ThreadRandom};
pub use rate_limit::{
    KeyedRateLimiter, RateLimitConfig, RateLimited, RateLimiter, RateLimiterMetrics,
    MAX_RESERVATION,
};
pub use retry::{
    Backoff, DefaultHooks, ManualSleep, Retried, Retry, RetryConfig, RetryError, RetryHooks,
    RetryPolicy, RetryState, RetryStrategy, Sleep, Stop, ThreadSleep,
};
pub use throttle::{
    AdaptiveThrottler, Priority, ThrottleConfig, ThrottlePermit, Throttled, ThrottlerMetrics,
};

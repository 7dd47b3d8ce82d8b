//! # Seawall: a lock-free circuit breaker
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
//! outcomes that opened it leave the window. `ARCHITECTURE.md` has a worked
//! example of every rule.
//!
//! ## Permits and episodes
//!
//! Every call takes a [`Permit`] and reports one [`Outcome`]. Permits carry the
//! 64-bit number of the episode (state) that issued them: an outcome that
//! arrives after the breaker moved on, by one state change or by millions,
//! is counted in the metrics as late but never decides the new state. The design, the call path and the invariants are described in
//! `ARCHITECTURE.md`.

#![deny(unsafe_op_in_unsafe_fn)]

mod breaker;
pub mod budget;
pub mod bulkhead;
pub mod clock;
pub mod config;
mod random;
pub mod rate_limit;
pub mod retry;
pub mod stripes;
mod sync;
pub mod telemetry;

pub use breaker::{
    protected_call, Breaker, BreakerConfig, CallError, Listener, Metrics, Outcome, Permit,
    Registry, Rejected, Report, State, Ticket, Transition, Transitions, Window, WindowCounts,
};
pub use budget::{BudgetCounts, RetryBudget, RetryBudgetConfig, RetryBudgetMetrics};
pub use bulkhead::{
    Admission, Bulkhead, BulkheadConfig, BulkheadError, BulkheadMetrics, BulkheadPermit, Waiter,
};
pub use clock::{Clock, ManualClock, QuantaClock};
pub use config::ConfigError;
pub use random::{Random, SeededRandom, ThreadRandom};
pub use rate_limit::{
    KeyedRateLimiter, RateLimitConfig, RateLimited, RateLimiter, RateLimiterMetrics, Timing,
    MAX_RESERVATION,
};
pub use retry::{
    Backoff, DefaultHooks, ManualSleep, Retried, Retry, RetryConfig, RetryError, RetryHooks,
    RetryPolicy, RetryState, RetryStrategy, Sleep, Stop, ThreadSleep,
};

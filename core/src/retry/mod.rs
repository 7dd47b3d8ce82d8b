//! Retry: back-off schedules, named policies, the per-call state machine and
//! a retry executor that knows about the circuit breaker and the retry
//! budget.
//!
//! - [`backoff`]: a [`RetryStrategy`] and its settings
//!   ([`RetryConfig`]) make a validated [`Backoff`], whose
//!   [`delay`](Backoff::delay) is a pure function of the attempt number,
//!   the previous delay and a random number supplied by the caller, so
//!   every schedule is reproducible.
//! - [`policy`]: the named presets ([`RetryPolicy`]).
//! - [`state`]: [`RetryState`], the per-call state machine,
//!   without any I/O: told how each attempt ended, it decides whether to
//!   retry (the budget included) and how long to wait, for bindings that
//!   sleep in their own way (an event loop, a C caller, Python).
//! - [`runner`]: [`Retry`] runs a call to completion with a
//!   [`Sleep`] of the caller's choice, through the same [`RetryState`].
//!
//! ```
//! use std::time::Duration;
//! use seawall::{Backoff, ManualClock, ManualSleep, Retry, RetryConfig, RetryStrategy};
//!
//! let backoff = Backoff::new(RetryConfig {
//!     strategy: RetryStrategy::Exponential,
//!     max_attempts: 4,
//!     initial_delay: Duration::from_millis(100),
//!     ..Default::default()
//! })
//! .unwrap();
//! let clock = ManualClock::new();
//! let sleep = ManualSleep::new(clock.clone());
//! let out = Retry::new(&backoff, &sleep)
//!     .run(|attempt| if attempt < 3 { Err("busy") } else { Ok(attempt) })
//!     .unwrap();
//! assert_eq!(out.value, 3);
//! // Slept 100 ms, then 200 ms, on the manual clock.
//! assert_eq!(out.total_delay, Duration::from_millis(300));
//! ```
//!
//! Every piece of state lives in the call: concurrent calls through one
//! schedule never share attempt counters.
//!
//! # With a breaker and a budget
//!
//! With a [`Breaker`](crate::Breaker), every attempt takes a permit and reports its outcome,
//! so the breaker sees each attempt. A rejection by the breaker is never
//! retried as such: when it announces a next trial (`retry_after`) no later
//! than `max_delay` and within what is left of `max_total_delay`, the
//! executor waits for it and tries again (this counts as an attempt);
//! otherwise it stops at once. With a [`RetryBudget`](crate::RetryBudget)
//! the first attempt is recorded and every retry must be granted by
//! [`can_retry`](crate::RetryBudget::can_retry).

pub mod backoff;
pub mod policy;
pub mod runner;
pub mod state;

pub use backoff::{Backoff, RetryConfig, RetryStrategy, MAX_ATTEMPTS};
pub use policy::RetryPolicy;
pub use runner::{
    DefaultHooks, ManualSleep, Retried, Retry, RetryError, RetryHooks, Sleep, ThreadSleep,
};
pub use state::{RetryState, Stop};

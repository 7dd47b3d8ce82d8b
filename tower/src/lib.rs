//! # seawall-tower: tower layers over the Seawall engines
//!
//! [`tower`] middleware that drives the `seawall` core: a circuit breaker
//! ([`CircuitBreakerLayer`]), a bulkhead ([`BulkheadLayer`]), a rate limiter
//! ([`RateLimitLayer`]) and retries on the core's back-off schedule and retry
//! budget ([`RetryLayer`], feature `tokio`, on by default). The engines are
//! shared (`Arc`) and decide everything; the layers only ask them and report
//! back.
//!
//! Every refusal happens in `call`, never in `poll_ready`: `poll_ready`
//! polls only the inner service, so readiness never takes a breaker trial
//! slot, a bulkhead slot or a rate-limit token. A refused call never reaches
//! the inner service; its future is ready at once with the refusal, one of
//! the variants of [`Error`].
//!
//! ```
//! use std::sync::Arc;
//! use seawall::{Breaker, BreakerConfig, ManualClock};
//! use seawall_tower::{CircuitBreakerLayer, Error};
//! use tower::{service_fn, Layer, Service};
//!
//! # fn block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     let mut f = std::pin::pin!(f);
//! #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
//! #     loop {
//! #         if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; }
//! #     }
//! # }
//! let config = BreakerConfig { failure_threshold: 1, ..Default::default() };
//! let breaker = Arc::new(Breaker::with_clock("db", config, ManualClock::new()).unwrap());
//! let mut svc = CircuitBreakerLayer::new(breaker)
//!     .layer(service_fn(|fail: bool| async move { if fail { Err("down") } else { Ok(()) } }));
//! assert!(matches!(block_on(svc.call(true)), Err(Error::Inner("down"))));
//! // One failure opened the breaker: the next call is refused without running.
//! assert!(matches!(block_on(svc.call(false)), Err(Error::Rejected(_))));
//! ```
//!
//! Stack them with the retry outermost, so every attempt passes the
//! breaker and a rejection's `retry_after` is honoured:
//! `RetryLayer` → `CircuitBreakerLayer` → `BulkheadLayer` /
//! `RateLimitLayer` → the service.

mod breaker;
mod bulkhead;
mod classify;
mod error;
mod future;
mod rate_limit;
#[cfg(feature = "tokio")]
mod retry;

pub use breaker::{BreakerGuard, CircuitBreakerLayer, CircuitBreakerService};
pub use bulkhead::{BulkheadLayer, BulkheadService, BulkheadSlot};
#[cfg(feature = "http")]
pub use classify::HttpStatusClassifier;
pub use classify::{Classify, ClassifyErrors, ClassifyFn};
pub use error::Error;
pub use future::{Guard, ResponseFuture};
pub use rate_limit::{RateLimitLayer, RateLimitService};
#[cfg(feature = "tokio")]
pub use retry::{BackoffPolicy, RetryClassify, RetryErrors, RetryFn, RetryLayer, Verdict};

//! The rate-limit layer: every call asks the limiter in `call`.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use seawall::{Clock, QuantaClock, RateLimiter};
use tower::{Layer, Service};

use crate::error::{Error, Refusal};
use crate::future::ResponseFuture;

/// Wraps a service in a [`RateLimitService`] over a shared [`RateLimiter`].
pub struct RateLimitLayer<C: Clock = QuantaClock> {
    limiter: Arc<RateLimiter<C>>,
}

impl<C: Clock> RateLimitLayer<C> {
    /// A layer over `limiter`.
    pub fn new(limiter: Arc<RateLimiter<C>>) -> Self {
        Self { limiter }
    }

    /// The limiter it drives.
    pub fn limiter(&self) -> &Arc<RateLimiter<C>> {
        &self.limiter
    }
}

impl<C: Clock> Clone for RateLimitLayer<C> {
    fn clone(&self) -> Self {
        Self::new(Arc::clone(&self.limiter))
    }
}

impl<C: Clock> fmt::Debug for RateLimitLayer<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitLayer")
            .field("limiter", &self.limiter)
            .finish()
    }
}

impl<S, C: Clock> Layer<S> for RateLimitLayer<C> {
    type Service = RateLimitService<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimitService {
            inner,
            limiter: Arc::clone(&self.limiter),
        }
    }
}

/// A service behind a rate limiter.
///
/// `poll_ready` polls only the inner service's readiness and spends nothing
/// from the limiter. `call` asks the limiter ([`RateLimiter::check`]); a
/// refused call never reaches the inner service and its future is ready at
/// once with [`Error::RateLimited`], carrying the limiter's `retry_after`.
pub struct RateLimitService<S, C: Clock = QuantaClock> {
    inner: S,
    limiter: Arc<RateLimiter<C>>,
}

impl<S, C: Clock> RateLimitService<S, C> {
    /// The limiter it drives.
    pub fn limiter(&self) -> &Arc<RateLimiter<C>> {
        &self.limiter
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone, C: Clock> Clone for RateLimitService<S, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            limiter: Arc::clone(&self.limiter),
        }
    }
}

impl<S: fmt::Debug, C: Clock> fmt::Debug for RateLimitService<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitService")
            .field("inner", &self.inner)
            .field("limiter", &self.limiter)
            .finish()
    }
}

impl<S, Req, C> Service<Req> for RateLimitService<S, C>
where
    S: Service<Req>,
    C: Clock,
{
    type Response = S::Response;
    type Error = Error<S::Error>;
    type Future = ResponseFuture<S::Future, ()>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Error::Inner)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        match self.limiter.check() {
            Err(limited) => ResponseFuture::refused(Refusal::RateLimited(limited.retry_after)),
            Ok(()) => ResponseFuture::running(self.inner.call(req), ()),
        }
    }
}

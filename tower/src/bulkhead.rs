//! The bulkhead layer: every call takes a slot in `call`, held until the
//! inner future completes or is dropped.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use seawall::{Bulkhead, Clock, QuantaClock};
use tower::{Layer, Service};

use crate::error::{Error, Refusal};
use crate::future::{Guard, ResponseFuture};

/// Wraps a service in a [`BulkheadService`] over a shared [`Bulkhead`].
pub struct BulkheadLayer<C: Clock = QuantaClock> {
    bulkhead: Arc<Bulkhead<C>>,
}

impl<C: Clock> BulkheadLayer<C> {
    /// A layer over `bulkhead`.
    pub fn new(bulkhead: Arc<Bulkhead<C>>) -> Self {
        Self { bulkhead }
    }

    /// The bulkhead it drives.
    pub fn bulkhead(&self) -> &Arc<Bulkhead<C>> {
        &self.bulkhead
    }
}

impl<C: Clock> Clone for BulkheadLayer<C> {
    fn clone(&self) -> Self {
        Self::new(Arc::clone(&self.bulkhead))
    }
}

impl<C: Clock> fmt::Debug for BulkheadLayer<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BulkheadLayer")
            .field("bulkhead", &self.bulkhead)
            .finish()
    }
}

impl<S, C: Clock> Layer<S> for BulkheadLayer<C> {
    type Service = BulkheadService<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        BulkheadService {
            inner,
            bulkhead: Arc::clone(&self.bulkhead),
        }
    }
}

/// A service behind a bulkhead.
///
/// `poll_ready` polls only the inner service's readiness and reserves no
/// slot. `call` takes a free slot without waiting
/// ([`Bulkhead::try_acquire`]); with none free the call never reaches the
/// inner service and its future is ready at once with
/// [`Error::BulkheadFull`] (the bulkhead's queue is not used). The slot
/// moves into the response future and is freed when the inner future
/// completes or the response future is dropped.
pub struct BulkheadService<S, C: Clock = QuantaClock> {
    inner: S,
    bulkhead: Arc<Bulkhead<C>>,
}

impl<S, C: Clock> BulkheadService<S, C> {
    /// The bulkhead it drives.
    pub fn bulkhead(&self) -> &Arc<Bulkhead<C>> {
        &self.bulkhead
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

impl<S: Clone, C: Clock> Clone for BulkheadService<S, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            bulkhead: Arc::clone(&self.bulkhead),
        }
    }
}

impl<S: fmt::Debug, C: Clock> fmt::Debug for BulkheadService<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BulkheadService")
            .field("inner", &self.inner)
            .field("bulkhead", &self.bulkhead)
            .finish()
    }
}

impl<S, Req, C> Service<Req> for BulkheadService<S, C>
where
    S: Service<Req>,
    C: Clock,
{
    type Response = S::Response;
    type Error = Error<S::Error>;
    type Future = ResponseFuture<S::Future, BulkheadSlot<C>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Error::Inner)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        match self.bulkhead.try_acquire() {
            // `try_acquire` refuses only with `Full` (it never waits).
            Err(_) => ResponseFuture::refused(Refusal::BulkheadFull),
            Ok(permit) => {
                // The slot is held by the guard, on the shared bulkhead,
                // before the inner service runs.
                permit.detach();
                let slot = BulkheadSlot {
                    bulkhead: Arc::clone(&self.bulkhead),
                };
                ResponseFuture::running(self.inner.call(req), slot)
            }
        }
    }
}

/// A bulkhead slot held by a response future, freed when it is dropped.
pub struct BulkheadSlot<C: Clock = QuantaClock> {
    bulkhead: Arc<Bulkhead<C>>,
}

impl<Res, E, C: Clock> Guard<Res, E> for BulkheadSlot<C> {
    fn finish(self, _: &Result<Res, E>) {}
}

impl<C: Clock> Drop for BulkheadSlot<C> {
    fn drop(&mut self) {
        // The slot was taken by `call` and is freed exactly once, here.
        self.bulkhead.release_detached();
    }
}

impl<C: Clock> fmt::Debug for BulkheadSlot<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BulkheadSlot")
    }
}

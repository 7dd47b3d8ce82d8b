//! The circuit-breaker layer: every call takes a breaker permit in `call`
//! and reports its outcome when the inner future completes.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use seawall::{Breaker, Clock, Outcome, QuantaClock, Ticket};
use tower::{Layer, Service};

use crate::classify::{Classify, ClassifyErrors};
use crate::error::{Error, Refusal};
use crate::future::{Guard, ResponseFuture};

/// Wraps a service in a [`CircuitBreakerService`] over a shared
/// [`Breaker`].
///
/// The breaker decides everything (when to open, how many trials to admit,
/// when to close); the service only takes a permit per call and reports the
/// outcome its [`Classify`] gives the result.
pub struct CircuitBreakerLayer<Cl = ClassifyErrors, C: Clock = QuantaClock> {
    breaker: Arc<Breaker<C>>,
    classifier: Cl,
}

impl<C: Clock> CircuitBreakerLayer<ClassifyErrors, C> {
    /// A layer over `breaker` that counts every `Err` as a failure and every
    /// `Ok` as a success.
    pub fn new(breaker: Arc<Breaker<C>>) -> Self {
        Self {
            breaker,
            classifier: ClassifyErrors,
        }
    }
}

impl<Cl, C: Clock> CircuitBreakerLayer<Cl, C> {
    /// The same layer, judging results with `classifier` instead.
    pub fn with_classifier<Cl2>(self, classifier: Cl2) -> CircuitBreakerLayer<Cl2, C> {
        CircuitBreakerLayer {
            breaker: self.breaker,
            classifier,
        }
    }

    /// The breaker it drives.
    pub fn breaker(&self) -> &Arc<Breaker<C>> {
        &self.breaker
    }
}

impl<Cl: Clone, C: Clock> Clone for CircuitBreakerLayer<Cl, C> {
    fn clone(&self) -> Self {
        Self {
            breaker: Arc::clone(&self.breaker),
            classifier: self.classifier.clone(),
        }
    }
}

impl<Cl: fmt::Debug, C: Clock> fmt::Debug for CircuitBreakerLayer<Cl, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerLayer")
            .field("breaker", &self.breaker.name())
            .field("classifier", &self.classifier)
            .finish()
    }
}

impl<S, Cl: Clone, C: Clock> Layer<S> for CircuitBreakerLayer<Cl, C> {
    type Service = CircuitBreakerService<S, Cl, C>;

    fn layer(&self, inner: S) -> Self::Service {
        CircuitBreakerService {
            inner,
            breaker: Arc::clone(&self.breaker),
            classifier: self.classifier.clone(),
        }
    }
}

/// A service behind a circuit breaker.
///
/// - `poll_ready` polls only the inner service's readiness: it never takes a
///   permit, so a caller that polls readiness and then does not call (or
///   polls many times) never holds a HALF_OPEN trial slot.
/// - `call` takes the permit ([`Breaker::try_acquire`]). A refused call
///   never reaches the inner service: its future is ready at once with
///   [`Error::Rejected`].
/// - The permit moves into the response future, which reports the outcome
///   [`Classify`] gives the inner result when the inner future completes.
///   A response future dropped before that reports [`Outcome::Ignored`],
///   as the core does for a permit dropped unreported: counted in the
///   metrics only, and a trial slot it held is freed at once (no half-open
///   slot leaks).
pub struct CircuitBreakerService<S, Cl = ClassifyErrors, C: Clock = QuantaClock> {
    inner: S,
    breaker: Arc<Breaker<C>>,
    classifier: Cl,
}

impl<S, Cl, C: Clock> CircuitBreakerService<S, Cl, C> {
    /// The breaker it drives.
    pub fn breaker(&self) -> &Arc<Breaker<C>> {
        &self.breaker
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone, Cl: Clone, C: Clock> Clone for CircuitBreakerService<S, Cl, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            breaker: Arc::clone(&self.breaker),
            classifier: self.classifier.clone(),
        }
    }
}

impl<S: fmt::Debug, Cl: fmt::Debug, C: Clock> fmt::Debug for CircuitBreakerService<S, Cl, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerService")
            .field("inner", &self.inner)
            .field("breaker", &self.breaker.name())
            .field("classifier", &self.classifier)
            .finish()
    }
}

impl<S, Req, Cl, C> Service<Req> for CircuitBreakerService<S, Cl, C>
where
    S: Service<Req>,
    Cl: Classify<S::Response, S::Error> + Clone,
    C: Clock,
{
    type Response = S::Response;
    type Error = Error<S::Error>;
    type Future = ResponseFuture<S::Future, BreakerGuard<Cl, C>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Error::Inner)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        match self.breaker.try_acquire() {
            Err(rejected) => ResponseFuture::refused(Refusal::Rejected(rejected)),
            Ok(permit) => {
                // The guard owns the permit (as a ticket on the shared
                // breaker) before the inner service runs: a panic in `call`
                // drops it, which reports the call as ignored.
                let guard = BreakerGuard {
                    breaker: Arc::clone(&self.breaker),
                    ticket: Some(permit.into_ticket()),
                    classifier: self.classifier.clone(),
                };
                ResponseFuture::running(self.inner.call(req), guard)
            }
        }
    }
}

/// A breaker permit held by a response future: reports the classified
/// outcome when the call finishes, [`Outcome::Ignored`] if dropped first.
pub struct BreakerGuard<Cl, C: Clock = QuantaClock> {
    breaker: Arc<Breaker<C>>,
    ticket: Option<Ticket>,
    classifier: Cl,
}

impl<Res, E, Cl: Classify<Res, E>, C: Clock> Guard<Res, E> for BreakerGuard<Cl, C> {
    fn finish(mut self, result: &Result<Res, E>) {
        if let Some(ticket) = self.ticket.take() {
            self.breaker
                .record(ticket, self.classifier.classify(result));
        }
    }
}

impl<Cl, C: Clock> Drop for BreakerGuard<Cl, C> {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            self.breaker.record(ticket, Outcome::Ignored);
        }
    }
}

impl<Cl, C: Clock> fmt::Debug for BreakerGuard<Cl, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BreakerGuard")
            .field("breaker", &self.breaker.name())
            .field("reported", &self.ticket.is_none())
            .finish()
    }
}

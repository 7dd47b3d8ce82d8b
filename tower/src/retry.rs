//! The retry layer: tower's [`Retry`](tower::retry::Retry) middleware driven
//! by the core's per-call [`RetryState`], with an optional shared
//! [`RetryBudget`], sleeping each delay with `tokio::time::sleep`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use seawall::{
    Backoff, Clock, QuantaClock, Random, Rejected, RetryBudget, RetryState, ThreadRandom,
};
use tower::retry::{Policy, Retry};
use tower::Layer;

use crate::error::Error;

/// What one attempt came to, as the retry policy sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The attempt succeeded: its result is returned.
    Success,
    /// The attempt failed; `retryable` says whether it may be retried.
    Failure {
        /// Whether this request may be sent again after this result.
        retryable: bool,
    },
    /// A circuit breaker refused the attempt: the next try waits for the
    /// trial it announced (when that is within the schedule's limits).
    Rejected(Rejected),
}

/// Judges an attempt's request and result for the retry policy: which
/// requests may be retried, and after which results.
pub trait RetryClassify<Req, Res, E> {
    /// The verdict on an attempt of `request` that ended with `result`.
    fn verdict(&self, request: &Req, result: &Result<Res, E>) -> Verdict;
}

/// The default retry classifier, for services whose error is this crate's
/// [`Error`]: `Ok` is a success, a breaker's [`Error::Rejected`] waits for
/// the announced trial, and every other `Err` (the inner service's error, a
/// full bulkhead, a rate limit) is a retryable failure.
#[derive(Clone, Copy, Debug, Default)]
pub struct RetryErrors;

impl<Req, Res, E> RetryClassify<Req, Res, Error<E>> for RetryErrors {
    fn verdict(&self, _: &Req, result: &Result<Res, Error<E>>) -> Verdict {
        match result {
            Ok(_) => Verdict::Success,
            Err(Error::Rejected(rejected)) => Verdict::Rejected(*rejected),
            Err(_) => Verdict::Failure { retryable: true },
        }
    }
}

/// A retry classifier from a closure over the request and the result.
#[derive(Clone, Copy, Debug)]
pub struct RetryFn<F>(F);

impl<F> RetryFn<F> {
    /// A classifier that asks `f`.
    pub fn new(f: F) -> Self {
        Self(f)
    }
}

impl<Req, Res, E, F> RetryClassify<Req, Res, E> for RetryFn<F>
where
    F: Fn(&Req, &Result<Res, E>) -> Verdict,
{
    fn verdict(&self, request: &Req, result: &Result<Res, E>) -> Verdict {
        (self.0)(request, result)
    }
}

/// Retries failed calls on the core's schedule: wraps a service in tower's
/// [`Retry`] with a [`BackoffPolicy`].
///
/// Put it outside a [`CircuitBreakerLayer`](crate::CircuitBreakerLayer), so
/// that every attempt goes through the breaker and a rejection's
/// `retry_after` is honoured. The request type must be `Clone`: every
/// attempt sends a copy (an `http::Request` is not `Clone`; retry a request
/// description the inner service turns into one).
pub struct RetryLayer<Cl = RetryErrors, C: Clock = QuantaClock> {
    policy: BackoffPolicy<Cl, C>,
}

impl RetryLayer<RetryErrors, QuantaClock> {
    /// A layer retrying on `backoff`'s schedule, with no budget, judging
    /// results with [`RetryErrors`].
    pub fn new(backoff: Backoff) -> Self {
        Self {
            policy: BackoffPolicy {
                state: RetryState::new(&backoff),
                budget: None,
                classifier: RetryErrors,
                random: Arc::new(ThreadRandom),
            },
        }
    }
}

impl<Cl, C: Clock> RetryLayer<Cl, C> {
    /// The same layer, drawing every retry from `budget` (shared by the
    /// dependency's callers); each call's first attempt is recorded in it.
    pub fn with_budget<C2: Clock>(self, budget: Arc<RetryBudget<C2>>) -> RetryLayer<Cl, C2> {
        let p = self.policy;
        RetryLayer {
            policy: BackoffPolicy {
                state: p.state,
                budget: Some(budget),
                classifier: p.classifier,
                random: p.random,
            },
        }
    }

    /// The same layer, judging attempts with `classifier`.
    pub fn with_classifier<Cl2>(self, classifier: Cl2) -> RetryLayer<Cl2, C> {
        let p = self.policy;
        RetryLayer {
            policy: BackoffPolicy {
                state: p.state,
                budget: p.budget,
                classifier,
                random: p.random,
            },
        }
    }

    /// The same layer, drawing the jitter's random numbers from `random`
    /// (by default [`ThreadRandom`]).
    pub fn with_random(mut self, random: impl Random + 'static) -> Self {
        self.policy.random = Arc::new(random);
        self
    }

    /// The policy each call starts from.
    pub fn policy(&self) -> &BackoffPolicy<Cl, C> {
        &self.policy
    }
}

impl<Cl: Clone, C: Clock> Clone for RetryLayer<Cl, C> {
    fn clone(&self) -> Self {
        Self {
            policy: self.policy.clone(),
        }
    }
}

impl<Cl: fmt::Debug, C: Clock> fmt::Debug for RetryLayer<Cl, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryLayer")
            .field("policy", &self.policy)
            .finish()
    }
}

impl<S, Cl: Clone, C: Clock> Layer<S> for RetryLayer<Cl, C> {
    type Service = Retry<BackoffPolicy<Cl, C>, S>;

    fn layer(&self, inner: S) -> Self::Service {
        Retry::new(self.policy.clone(), inner)
    }
}

/// A [`tower::retry::Policy`] over the core's [`RetryState`]: tower clones
/// it for every call, so each call has its own attempt count and delays.
///
/// After each attempt its [`RetryClassify`] gives a [`Verdict`]; the core
/// decides the rest ([`RetryState::on_failure`] for a failure,
/// [`RetryState::on_rejection`] for a breaker's rejection): the delay, or
/// stop after `max_attempts`, a non-retryable failure, a delay over
/// `max_total_delay`, a rejection announcing no trial in time, or a retry
/// the budget refuses. The delay is slept with `tokio::time::sleep`. When
/// it stops, the last attempt's result is the call's.
pub struct BackoffPolicy<Cl = RetryErrors, C: Clock = QuantaClock> {
    state: RetryState,
    budget: Option<Arc<RetryBudget<C>>>,
    classifier: Cl,
    random: Arc<dyn Random>,
}

impl<Cl, C: Clock> BackoffPolicy<Cl, C> {
    /// Attempts this call has begun (0 for the policy a layer starts from).
    pub fn attempts(&self) -> u32 {
        self.state.attempts()
    }

    /// The delay this call has committed so far.
    pub fn total_delay(&self) -> Duration {
        self.state.total_delay()
    }
}

impl<Cl: Clone, C: Clock> Clone for BackoffPolicy<Cl, C> {
    fn clone(&self) -> Self {
        Self {
            state: self.state.clone(),
            budget: self.budget.clone(),
            classifier: self.classifier.clone(),
            random: Arc::clone(&self.random),
        }
    }
}

impl<Cl: fmt::Debug, C: Clock> fmt::Debug for BackoffPolicy<Cl, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackoffPolicy")
            .field("state", &self.state)
            .field("budget", &self.budget)
            .field("classifier", &self.classifier)
            .finish_non_exhaustive()
    }
}

impl<Req, Res, E, Cl, C> Policy<Req, Res, E> for BackoffPolicy<Cl, C>
where
    Req: Clone,
    Cl: RetryClassify<Req, Res, E>,
    C: Clock,
{
    type Future = tokio::time::Sleep;

    fn retry(&mut self, req: &mut Req, result: &mut Result<Res, E>) -> Option<Self::Future> {
        let budget = self.budget.as_deref();
        // tower asks only after an attempt: the first attempt is begun (and
        // recorded in the budget) when its result arrives; later attempts
        // are begun when granted, below.
        if self.state.attempts() == 0 {
            self.state.begin(budget);
        }
        let random = &self.random;
        let decision = match self.classifier.verdict(req, result) {
            Verdict::Success => return None,
            Verdict::Failure { retryable } => {
                self.state.on_failure(retryable, budget, || random.unit())
            }
            Verdict::Rejected(rejected) => self.state.on_rejection(rejected.retry_after, budget),
        };
        let delay = decision.ok()?;
        self.state.begin(budget);
        Some(tokio::time::sleep(delay))
    }

    fn clone_request(&mut self, req: &Req) -> Option<Req> {
        Some(req.clone())
    }
}

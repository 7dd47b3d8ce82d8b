//! The one error of every service in this crate: the inner service's own
//! error, or the engine that refused the call.

use std::fmt;
use std::time::Duration;

use seawall::Rejected;

/// The error of a Seawall service: the wrapped service failed, or one of the
/// engines refused the call without running it.
///
/// Stacked layers nest it (`Error<Error<E>>`, the outer layer's refusals
/// outside); [`Error::flatten`] merges two levels.
#[derive(Debug)]
pub enum Error<E> {
    /// The wrapped service ran the call and returned this error.
    Inner(E),
    /// The circuit breaker refused the call: its state and when it admits
    /// the next trial.
    Rejected(Rejected),
    /// Every slot of the bulkhead was taken.
    BulkheadFull,
    /// The rate limiter refused the call.
    RateLimited {
        /// Time until a call would conform (if nobody else takes the slot
        /// first).
        retry_after: Duration,
    },
}

impl<E> Error<E> {
    /// Whether an engine refused the call (the wrapped service never saw it).
    pub fn is_refusal(&self) -> bool {
        !matches!(self, Error::Inner(_))
    }

    /// The wrapped service's error, if it is one.
    pub fn into_inner(self) -> Option<E> {
        match self {
            Error::Inner(e) => Some(e),
            _ => None,
        }
    }
}

impl<E> Error<Error<E>> {
    /// Merges the errors of two stacked layers into one level.
    pub fn flatten(self) -> Error<E> {
        match self {
            Error::Inner(inner) => inner,
            Error::Rejected(r) => Error::Rejected(r),
            Error::BulkheadFull => Error::BulkheadFull,
            Error::RateLimited { retry_after } => Error::RateLimited { retry_after },
        }
    }
}

impl<E: fmt::Display> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Inner(e) => write!(f, "inner service failed: {e}"),
            Error::Rejected(r) => write!(f, "refused by the circuit breaker: {r}"),
            Error::BulkheadFull => f.write_str("refused by the bulkhead: every slot is taken"),
            Error::RateLimited { retry_after } => {
                write!(f, "refused by the rate limiter; retry in {retry_after:?}")
            }
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for Error<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Inner(e) => Some(e),
            Error::Rejected(r) => Some(r),
            Error::BulkheadFull | Error::RateLimited { .. } => None,
        }
    }
}

/// A refusal carried by a response future until it is polled.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Refusal {
    Rejected(Rejected),
    BulkheadFull,
    RateLimited(Duration),
}

impl Refusal {
    pub(crate) fn into_error<E>(self) -> Error<E> {
        match self {
            Refusal::Rejected(r) => Error::Rejected(r),
            Refusal::BulkheadFull => Error::BulkheadFull,
            Refusal::RateLimited(retry_after) => Error::RateLimited { retry_after },
        }
    }
}

//! What a call holds and what it gets back: the permit (or its detached
//! ticket) that reports the call's outcome, and the errors of a refused or
//! failed call.

use std::fmt;
use std::mem::ManuallyDrop;
use std::time::Duration;

use super::state::{Outcome, State};
use super::Breaker;
use crate::clock::{Clock, QuantaClock};

/// Permission to make one call. Report its outcome with [`Permit::success`],
/// [`Permit::failure`], [`Permit::ignore`] or [`Permit::record`]; dropping it
/// unreported counts as ignored (and frees a trial slot).
#[must_use = "dropping a permit records the call as ignored"]
pub struct Permit<'a, C: Clock = QuantaClock> {
    pub(super) breaker: &'a Breaker<C>,
    pub(super) episode: u64,
    pub(super) start: u64,
}

impl<C: Clock> Permit<'_, C> {
    /// Reports `outcome`.
    #[inline]
    pub fn record(self, outcome: Outcome) {
        let this = ManuallyDrop::new(self);
        this.breaker.record(
            Ticket {
                episode: this.episode,
                start: this.start,
            },
            outcome,
        );
    }

    /// Reports a success.
    #[inline]
    pub fn success(self) {
        self.record(Outcome::Success)
    }

    /// Reports a failure.
    #[inline]
    pub fn failure(self) {
        self.record(Outcome::Failure)
    }

    /// Reports a neutral outcome.
    #[inline]
    pub fn ignore(self) {
        self.record(Outcome::Ignored)
    }

    /// Detaches the permit from the borrow of its breaker, for bindings that
    /// keep the breaker behind their own handle. Report it with
    /// [`Breaker::record`] on the same breaker.
    pub fn into_ticket(self) -> Ticket {
        let this = ManuallyDrop::new(self);
        Ticket {
            episode: this.episode,
            start: this.start,
        }
    }
}

impl<C: Clock> Report for Permit<'_, C> {
    // `always`: a forward. Left to the heuristics, a generic caller with
    // several reports (the Python binding's protected call) kept it out of
    // line with `Permit::record` inlined into it: a call on every report.
    #[inline(always)]
    fn record(self, outcome: Outcome) {
        Permit::record(self, outcome)
    }
}

impl<C: Clock> Drop for Permit<'_, C> {
    fn drop(&mut self) {
        self.breaker.record(
            Ticket {
                episode: self.episode,
                start: self.start,
            },
            Outcome::Ignored,
        );
    }
}

impl<C: Clock> fmt::Debug for Permit<'_, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("episode", &self.episode)
            .finish()
    }
}

/// A permit detached from its breaker: the episode it was issued in and
/// when. Consumed by [`Breaker::record`]; not `Clone`, so a Rust caller cannot
/// report one call twice.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a ticket must be reported with Breaker::record"]
pub struct Ticket {
    pub(super) episode: u64,
    pub(super) start: u64,
}

impl Ticket {
    /// The raw parts, for bindings that must store a ticket in a foreign
    /// struct: `(episode number, start time in clock nanoseconds)`. Episode
    /// numbers are 64-bit and never wrap in practice, so a ticket held across
    /// any number of state changes is late, never current.
    pub fn into_parts(self) -> (u64, u64) {
        (self.episode, self.start)
    }

    /// Rebuilds a ticket from [`Ticket::into_parts`]. Parts that did not come
    /// from this breaker report an outcome for whatever episode they name.
    pub fn from_parts(episode: u64, start: u64) -> Self {
        Self { episode, start }
    }
}

/// A call the breaker refused: the state that refused it and when to come
/// back (`None` while forced open).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rejected {
    /// OPEN, HALF_OPEN (all trial slots taken) or FORCED_OPEN.
    pub state: State,
    /// OPEN: the time until the open time ends and a trial may be admitted.
    /// HALF_OPEN: the time until the outstanding trials expire, the latest
    /// moment the breaker decides (a slot frees sooner if a trial reports).
    pub retry_after: Option<Duration>,
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "circuit breaker is {}", self.state)?;
        match self.retry_after {
            Some(d) => write!(f, "; next trial in {d:?}"),
            None => write!(f, "; until reset"),
        }
    }
}

impl std::error::Error for Rejected {}

/// A permit for one call, reported once with the call's outcome: the
/// [`Permit`] of a [`Breaker`], and the permits of breakers built on one
/// (the distributed breaker's), which share [`protected_call`].
pub trait Report {
    /// Reports `outcome`.
    fn record(self, outcome: Outcome);
}

/// The protected-call protocol behind every breaker's `call_classified`:
/// with the permit `acquired`, runs `f` and reports a success, or what
/// `classify` makes of its error; a rejection is returned without running
/// `f`. A panic in `f` unwinds through the permit, which records the call as
/// ignored when dropped.
#[inline]
pub fn protected_call<P: Report, T, E>(
    acquired: Result<P, Rejected>,
    f: impl FnOnce() -> Result<T, E>,
    classify: impl FnOnce(&E) -> Outcome,
) -> Result<T, CallError<E>> {
    let permit = acquired.map_err(CallError::Rejected)?;
    match f() {
        Ok(v) => {
            permit.record(Outcome::Success);
            Ok(v)
        }
        Err(e) => {
            permit.record(classify(&e));
            Err(CallError::Failed(e))
        }
    }
}

/// The error of [`Breaker::call`]: rejected, or the call's own error.
#[derive(Debug, PartialEq, Eq)]
pub enum CallError<E> {
    /// The breaker did not admit the call.
    Rejected(Rejected),
    /// The call ran and returned this error.
    Failed(E),
}

impl<E: fmt::Display> fmt::Display for CallError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Rejected(r) => r.fmt(f),
            CallError::Failed(e) => e.fmt(f),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for CallError<E> {}

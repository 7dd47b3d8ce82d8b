//! Counts of retried calls: how each call ended and how many retries it
//! took. A retry's state lives in the call ([`crate::RetryState`]), so the
//! counts are kept apart, by whoever drives the calls, in one
//! [`RetryStats`] per retrier, recorded once per call when it ends.

use crate::retry::Stop;
use crate::sync::{AtomicU64, Ordering};

use super::Label;

/// How a retried call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RetryOutcome {
    /// Succeeded at the first attempt.
    Success,
    /// Succeeded after at least one retry.
    SuccessAfterRetry,
    /// Stopped retrying for any reason but a non-retryable error: attempts,
    /// budget, delay budget or the breaker's rejection.
    GaveUp,
    /// Stopped at an error classified as not retryable.
    NotRetryable,
}

impl RetryOutcome {
    /// Every outcome, in the order of the counters.
    pub const ALL: [RetryOutcome; 4] = [
        Self::Success,
        Self::SuccessAfterRetry,
        Self::GaveUp,
        Self::NotRetryable,
    ];

    /// The outcome of a call that stopped for `stop`.
    pub fn stopped(stop: Stop) -> Self {
        match stop {
            Stop::NotRetryable => Self::NotRetryable,
            _ => Self::GaveUp,
        }
    }

    /// The outcome of a call that succeeded at attempt `attempts`.
    pub fn succeeded(attempts: u32) -> Self {
        if attempts > 1 {
            Self::SuccessAfterRetry
        } else {
            Self::Success
        }
    }

    /// Its label value: `success`, `success_after_retry`, `gave_up`,
    /// `not_retryable`.
    pub fn label(self) -> &'static str {
        self.labels()[0].1
    }

    pub(super) fn labels(self) -> &'static [Label] {
        match self {
            Self::Success => &[("outcome", "success")],
            Self::SuccessAfterRetry => &[("outcome", "success_after_retry")],
            Self::GaveUp => &[("outcome", "gave_up")],
            Self::NotRetryable => &[("outcome", "not_retryable")],
        }
    }
}

/// A snapshot of a [`RetryStats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetryCounts {
    /// Calls by outcome, indexed like [`RetryOutcome::ALL`].
    pub calls: [u64; 4],
    /// Attempts beyond the first, over all calls.
    pub retries: u64,
}

impl RetryCounts {
    /// Calls that ended with `outcome`.
    pub fn calls(&self, outcome: RetryOutcome) -> u64 {
        self.calls[outcome as usize]
    }
}

/// The counters of one retrier: one increment per finished call (and one
/// more if it retried), never per attempt.
#[derive(Debug, Default)]
pub struct RetryStats {
    calls: [AtomicU64; 4],
    retries: AtomicU64,
}

impl RetryStats {
    /// Zeroed counters.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one call that ended with `outcome` after `attempts` attempts.
    pub fn record(&self, outcome: RetryOutcome, attempts: u32) {
        // Relaxed: plain counts, nothing is published through them.
        self.calls[outcome as usize].fetch_add(1, Ordering::Relaxed);
        if attempts > 1 {
            self.retries
                .fetch_add(u64::from(attempts - 1), Ordering::Relaxed);
        }
    }

    /// The counts now.
    pub fn counts(&self) -> RetryCounts {
        RetryCounts {
            // Relaxed: see `record`.
            calls: std::array::from_fn(|i| self.calls[i].load(Ordering::Relaxed)),
            retries: self.retries.load(Ordering::Relaxed),
        }
    }
}

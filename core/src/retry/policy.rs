//! The named retry policies: presets of [`RetryConfig`] for common kinds of
//! call, the one table every face (Rust, C, Python) builds its presets from.

use std::time::Duration;

use super::{RetryConfig, RetryStrategy};

/// A named retry policy: a preset [`RetryConfig`] for a kind of call. The
/// values are the original package's `RETRY_POLICIES`; a policy "with
/// jitter" uses [`RetryStrategy::ExponentialWithJitter`] (10% jitter), one
/// without uses [`RetryStrategy::Exponential`]. None caps the total delay.
///
/// | policy | attempts | initial | cap | base | jitter |
/// | --- | --- | --- | --- | --- | --- |
/// | `standard` | 4 | 1 s | 10 s | 2 | yes |
/// | `network` | 4 | 0.5 s | 10 s | 2 | yes |
/// | `conservative` | 3 | 2 s | 20 s | 1.5 | yes |
/// | `database` | 6 | 1 s | 30 s | 1.5 | yes |
/// | `webhook` | 4 | 30 s | 300 s | 2 | no |
/// | `validation` | 2 | 1 s | 1 s | 1 | no |
/// | `critical` | 11 | 0.1 s | 60 s | 1.3 | yes |
///
/// ```
/// use seawall::{Backoff, RetryPolicy};
///
/// let network = RetryPolicy::from_name("network").unwrap();
/// assert_eq!(network.config().max_attempts, 4);
/// let backoff = Backoff::new(network.config()).unwrap();
/// # let _ = backoff;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RetryPolicy {
    /// General purpose.
    Standard,
    /// Network calls to other services.
    Network,
    /// Few, widely spaced retries.
    Conservative,
    /// Database operations.
    Database,
    /// Outgoing webhooks.
    Webhook,
    /// Validation: retry once.
    Validation,
    /// Critical operations: many quick retries.
    Critical,
}

impl RetryPolicy {
    /// Every policy, in the order of the table above.
    pub const ALL: [RetryPolicy; 7] = [
        Self::Standard,
        Self::Network,
        Self::Conservative,
        Self::Database,
        Self::Webhook,
        Self::Validation,
        Self::Critical,
    ];

    /// Its name: `"standard"`, `"network"`, ...
    pub fn name(self) -> &'static str {
        match self {
            Self::Standard => "standard",
            Self::Network => "network",
            Self::Conservative => "conservative",
            Self::Database => "database",
            Self::Webhook => "webhook",
            Self::Validation => "validation",
            Self::Critical => "critical",
        }
    }

    /// The policy named `name`, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }

    /// What it is for, in a few words.
    pub fn description(self) -> &'static str {
        match self {
            Self::Standard => "General purpose",
            Self::Network => "Network calls to other services",
            Self::Conservative => "Few, widely spaced retries",
            Self::Database => "Database operations",
            Self::Webhook => "Outgoing webhooks",
            Self::Validation => "Validation: retry once",
            Self::Critical => "Critical operations: many quick retries",
        }
    }

    /// Its settings (valid: [`Backoff::new`](super::Backoff::new) accepts
    /// every one).
    pub fn config(self) -> RetryConfig {
        // (retries after the first attempt, initial ms, cap s, base, jitter)
        let (retries, initial_ms, max_s, base, jitter) = match self {
            Self::Standard => (3, 1_000, 10, 2.0, true),
            Self::Network => (3, 500, 10, 2.0, true),
            Self::Conservative => (2, 2_000, 20, 1.5, true),
            Self::Database => (5, 1_000, 30, 1.5, true),
            Self::Webhook => (3, 30_000, 300, 2.0, false),
            Self::Validation => (1, 1_000, 1, 1.0, false),
            Self::Critical => (10, 100, 60, 1.3, true),
        };
        RetryConfig {
            strategy: if jitter {
                RetryStrategy::ExponentialWithJitter
            } else {
                RetryStrategy::Exponential
            },
            max_attempts: retries + 1,
            initial_delay: Duration::from_millis(initial_ms),
            max_delay: Duration::from_secs(max_s),
            exponential_base: base,
            ..RetryConfig::default()
        }
    }
}

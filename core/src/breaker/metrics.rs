//! The metrics snapshot of one breaker, and how a breaker takes it.

use std::time::Duration;

use super::counters::Counter;
use super::state::{Kind, State};
use super::window::WindowCounts;
use super::Breaker;
use crate::clock::Clock;
use crate::sync::Ordering;

/// Counts of transitions by the state entered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Transitions {
    /// Entries into CLOSED (trials succeeded, or a reset).
    pub to_closed: u64,
    /// Entries into OPEN (trips and failed trials).
    pub to_open: u64,
    /// Entries into HALF_OPEN.
    pub to_half_open: u64,
    /// Entries into FORCED_OPEN.
    pub to_forced_open: u64,
    /// Entries into FORCED_CLOSED.
    pub to_forced_closed: u64,
}

/// A snapshot of a breaker's books.
///
/// Every counter is exact: once the calls that produced it are complete (their
/// threads joined), `permitted == successes + failures + ignored + late` plus
/// the permits still outstanding. Taken during traffic, each counter is a value it
/// really had, but different counters may be from slightly different moments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Metrics {
    /// The state, as [`crate::Breaker::state`] reads it.
    pub state: State,
    /// Permits issued.
    pub permitted: u64,
    /// Successes reported in the episode that issued their permit.
    pub successes: u64,
    /// Failures reported in the episode that issued their permit.
    pub failures: u64,
    /// Neutral outcomes (and permits dropped without an outcome) reported in
    /// the episode that issued their permit.
    pub ignored: u64,
    /// Outcomes of any kind that arrived after the episode that issued their
    /// permit had ended: counted here only, never toward a decision. (An
    /// outcome that races the end of its episode by nanoseconds may be
    /// counted under its kind instead; it still decides nothing.)
    pub late: u64,
    /// Calls rejected.
    pub rejected: u64,
    /// Successes and failures whose call lasted at least
    /// `slow_call_duration`.
    pub slow_calls: u64,
    /// The counts in the trip rules' window, if one is configured.
    pub window: Option<WindowCounts>,
    /// Consecutive failures counted toward the trip (CLOSED only, else 0).
    pub consecutive_failures: u32,
    /// Trial successes counted toward closing (HALF_OPEN only, else 0).
    pub trial_successes: u32,
    /// Trial permits outstanding (HALF_OPEN only, else 0).
    pub trial_calls_in_flight: u32,
    /// Transitions made so far.
    pub transitions: Transitions,
    /// Time since the last transition was made (or since creation).
    pub time_in_state: Duration,
}

impl<C: Clock> Breaker<C> {
    /// Restarts every counter of [`Breaker::metrics`] from zero (not the
    /// state, not the window). Exact only while no call is in progress.
    pub fn clear_metrics(&self) {
        self.counters.clear();
        for t in &self.cold.transitions {
            // Relaxed: metrics only.
            t.store(0, Ordering::Relaxed);
        }
    }

    /// A snapshot of the breaker's books.
    pub fn metrics(&self) -> Metrics {
        let w = self.word();
        // Relaxed: metrics only.
        let t = |k: Kind| self.cold.transitions[k as usize].load(Ordering::Relaxed);
        let since = self.cold.since.load(Ordering::Relaxed);
        let c = |k: Counter| self.counters.reported(k);
        let now = self.clock.now();
        Metrics {
            state: self.state(),
            permitted: c(Counter::Permitted),
            successes: c(Counter::Successes),
            failures: c(Counter::Failures),
            ignored: c(Counter::Ignored),
            late: c(Counter::Late),
            rejected: c(Counter::Rejected),
            slow_calls: c(Counter::Slow),
            window: self.rules.as_ref().map(|r| r.counts(now, &self.counters)),
            consecutive_failures: if w.kind() == Kind::Closed {
                // The count stays below `failure_threshold`, a u32.
                w.payload() as u32
            } else {
                0
            },
            trial_successes: if w.kind() == Kind::HalfOpen {
                self.limits.trials.successes(w)
            } else {
                0
            },
            trial_calls_in_flight: if w.kind() == Kind::HalfOpen {
                self.limits.trials.inflight(w)
            } else {
                0
            },
            transitions: Transitions {
                to_closed: t(Kind::Closed),
                to_open: t(Kind::Open),
                to_half_open: t(Kind::HalfOpen),
                to_forced_open: t(Kind::ForcedOpen),
                to_forced_closed: t(Kind::ForcedClosed),
            },
            time_in_state: Duration::from_nanos(now.saturating_sub(since)),
        }
    }
}

//! The metrics snapshot of one breaker.

use std::time::Duration;

use super::state::State;
use super::window::WindowCounts;

/// Counts of transitions by the state entered, and by the pair of states.
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
    /// Transitions by `[from][to]`, each index the position of the state in
    /// [`State::ALL`]; read it with [`Transitions::between`].
    pub between: [[u64; 5]; 5],
}

impl Transitions {
    /// Transitions made from `from` to `to`.
    pub fn between(&self, from: State, to: State) -> u64 {
        self.between[from.index()][to.index()]
    }
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

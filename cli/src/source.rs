//! Where calls come from: a built-in scenario ([`crate::scenario`]) or a
//! recorded trace ([`crate::trace`]). The engine loop asks a source for the
//! next arrival, and for what the dependency answers an attempt.

use seawall::SeededRandom;

use crate::Error;

/// A call that arrives at `at` (nanoseconds from the start).
#[derive(Clone, Copy, Debug)]
pub struct Arrival {
    /// When the call is made.
    pub at: u64,
    /// The dependency instance it goes to (0 with one instance).
    pub instance: u32,
    /// The client (a process of the calling fleet, each with its own
    /// breakers) that makes it (0 with one client).
    pub client: u32,
    /// What a trace recorded the dependency answering; `None` when the
    /// scenario draws the answer at each attempt.
    pub given: Option<Answer>,
}

/// What the dependency answers one attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Answer {
    /// Whether the attempt failed.
    pub failed: bool,
    /// How long it took, in nanoseconds; the outcome is recorded then.
    pub latency: u64,
}

/// A span when the dependency (or one instance of it) was unhealthy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Episode {
    /// Its start, in nanoseconds.
    pub start: u64,
    /// Its end (exclusive), in nanoseconds.
    pub end: u64,
    /// The instance it struck; `None`: all of them.
    pub instance: Option<u32>,
}

/// A stream of calls in time order.
pub trait Source {
    /// The calling fleet's clients (calls name one in `0..clients`), each
    /// with its own breakers.
    fn clients(&self) -> u32 {
        1
    }
    /// The next call, or `None` at the end. `draws` is the simulation's
    /// one random sequence.
    fn next_arrival(&mut self, draws: &SeededRandom) -> Result<Option<Arrival>, Error>;
    /// Whether `instance` is unhealthy at `at` (times asked never go back).
    fn degraded(&mut self, at: u64, instance: u32) -> bool;
    /// Whether every answer comes at once (no latency), so none needs
    /// scheduling.
    fn instant(&self) -> bool {
        false
    }
    /// What `instance` answers an attempt made at `at`.
    fn answer(&mut self, at: u64, instance: u32, draws: &SeededRandom) -> Answer;
    /// The share of the source read so far, for a progress bar.
    fn done(&self) -> f64;
    /// The unhealthy spans, once the source is read.
    fn episodes(&self) -> Vec<Episode>;
    /// The simulated span, in nanoseconds, once the source is read.
    fn end(&self) -> u64;
}

//! The Lua scripts, each one atomic on the server. Every script but `read`
//! is the shared prelude (parse and clamp, epoch, trip/close/settle,
//! write-back with TTL and PUBLISH) followed by its body.
//! `store/memory.rs` mirrors them step by step for the tier-0 tests, and
//! the tier-1 tests run one set of scenarios against both.

macro_rules! with_prelude {
    ($body:literal) => {
        concat!(include_str!("scripts/prelude.lua"), include_str!($body))
    };
}

/// Outcome deltas into the time-bucketed fleet window; may trip.
pub(crate) const FLUSH: &str = with_prelude!("scripts/flush.lua");
/// Trial results (fenced by generation) and the trial-permit lease.
pub(crate) const TRIAL: &str = with_prelude!("scripts/trial.lua");
/// Force open, force closed, reset.
pub(crate) const COMMAND: &str = with_prelude!("scripts/command.lua");
/// The current view.
pub(crate) const READ: &str = include_str!("scripts/read.lua");
/// The fleet rate limiter's GCRA lease (no prelude: no breaker state).
pub(crate) const LEASE: &str = include_str!("scripts/lease.lua");

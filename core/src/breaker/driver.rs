//! The CAS driver: the one loop that applies the breaker's decisions.
//!
//! Every operation that may change the state word (acquire past the fast
//! path, outcome, command) or must read it with time in mind (the state a
//! caller sees) hands [`Breaker::drive`] a pure decision function from
//! `decide.rs`. The driver loads nothing but what the decision asks for and
//! does every side effect itself, from the returned value:
//!
//! 1. decide on the word;
//! 2. if the decision depends on the deadline ([`Decision::ByDeadline`]):
//!    read the clock and the deadline word ([`Breaker::deadline`], which
//!    publishes a missing one); if the word's episode is already over, reload
//!    the word and start again; otherwise take the step for "passed" or
//!    "pending";
//! 3. [`Step::Keep`]: done, nothing written. [`Step::Swap`]: raise the
//!    window's floor if the swap starts a CLOSED episode, then
//!    compare-and-swap; a lost swap starts again from the word found; a won
//!    swap that starts an episode runs the transition's side effects
//!    ([`Breaker::transitioned`]: the episode number, the deadline, the
//!    metrics, the log record, the listeners), outside the loop and after
//!    the swap.

use super::deadline::{encode, passed, tag, tag_of, time, OpenTime};
use super::decide::{Decision, Step};
use std::time::Duration;

use super::events::{self, Transition};
use super::state::{Kind, Word};
use super::Breaker;
use crate::clock::{nanos, Clock};
use crate::sync::Ordering;

/// A new episode that a won swap started.
#[derive(Clone, Copy, Debug)]
pub(super) struct Started {
    /// Its 64-bit number.
    pub(super) episode: u64,
    /// The clock reading it started at.
    pub(super) at: u64,
}

/// A decision, applied.
#[derive(Clone, Copy, Debug)]
pub(super) struct Driven<T> {
    /// What the operation answers.
    pub(super) answer: T,
    /// The word in force: the one decided on, or the one swapped in.
    pub(super) word: Word,
    /// The episode the swap started, if it started one.
    pub(super) started: Option<Started>,
    /// For a decision that read the deadline: the clock reading and the
    /// deadline of the decided-on word's episode.
    pub(super) seen: Option<(u64, u64)>,
}

impl<C: Clock> Breaker<C> {
    /// Applies `decide` from the word `w` (just loaded) until a step sticks.
    /// `read_clock` is the reading decisions and transitions use
    /// ([`Clock::recent`] on the call paths, [`Clock::now`] for exact
    /// reads and commands); it is called only when a decision needs the
    /// deadline or a swap starts an episode.
    // `always`: each operation instantiates it once, so the decision's
    // match folds into the loop instead of passing a `Decision` through
    // memory.
    #[inline(always)]
    pub(super) fn drive<T: Copy>(
        &self,
        mut w: Word,
        read_clock: impl Fn(&C) -> u64,
        decide: impl Fn(Word) -> Decision<T>,
    ) -> Driven<T> {
        loop {
            let decision = decide(w);
            let mut seen = None;
            let step = if decision.timed() {
                let now = read_clock(&self.clock);
                let Some(deadline) = self.deadline(w, now) else {
                    // The episode of `w` is over: decide on the current word.
                    w = self.word();
                    continue;
                };
                seen = Some((now, deadline));
                decision.given(passed(w, now, deadline))
            } else {
                decision.given(false)
            };
            let (next, answer) = match step {
                Step::Keep(answer) => {
                    return Driven {
                        answer,
                        word: w,
                        started: None,
                        seen,
                    }
                }
                Step::Swap(next, answer) => (next, answer),
            };
            self.before_swap(w, next);
            if let Err(actual) = self.swap(w, next) {
                w = actual;
                continue;
            }
            let started = (next.gen() != w.gen()).then(|| {
                let at = seen.map_or_else(|| read_clock(&self.clock), |(now, _)| now);
                Started {
                    episode: self.transitioned(w, next, at),
                    at,
                }
            });
            return Driven {
                answer,
                word: next,
                started,
                seen,
            };
        }
    }

    /// Swaps `from` for `to`; on failure returns the word found instead.
    #[inline]
    fn swap(&self, from: Word, to: Word) -> Result<(), Word> {
        // AcqRel on success: Release publishes this thread's earlier writes
        // to whoever loads `to`; Acquire orders after the writer of `from`.
        // Acquire on failure: the returned word is used as a fresh load.
        self.hot
            .word
            .compare_exchange(from.0, to.0, Ordering::AcqRel, Ordering::Acquire)
            .map(|_| ())
            .map_err(Word)
    }

    /// Work that must precede a swap from `from` to `to`: a swap that starts
    /// a CLOSED episode first moves the window's floor to the present, so no
    /// thread can judge the new episode by the old one's outcomes.
    #[inline]
    fn before_swap(&self, from: Word, to: Word) {
        if to.kind() == Kind::Closed && to.gen() != from.gen() {
            if let Some(rules) = &self.rules {
                rules.raise_floor(&self.counters);
            }
        }
    }

    /// The deadline of the episode `w` belongs to: the open time's end for
    /// OPEN, the trial batch's expiry for HALF_OPEN. `None` when that episode
    /// is over: the caller must decide on a fresh word instead.
    #[inline]
    pub(super) fn deadline(&self, w: Word, now: u64) -> Option<u64> {
        // Acquire: pairs with the Release of the swap in `publish_deadline`,
        // so seeing a later episode's deadline means seeing its state word.
        let cur = self.hot.deadline.load(Ordering::Acquire);
        if tag_of(cur) == tag(w.gen()) {
            return Some(time(cur));
        }
        self.publish_deadline(w, now)
    }

    /// Publishes the deadline of the episode `w` starts at `now`, unless one
    /// for it is already there. Returns the deadline in force for `w`, or
    /// `None` when `w`'s episode is over.
    #[cold]
    fn publish_deadline(&self, w: Word, now: u64) -> Option<u64> {
        let length = match w.kind() {
            // Derived from the configuration here (a few instructions, once
            // per episode) rather than kept in the breaker.
            Kind::Open => OpenTime::new(&self.config).length(w.trips(), &*self.cold.random),
            Kind::HalfOpen => nanos(self.config.half_open_timeout),
            Kind::Closed | Kind::ForcedOpen | Kind::ForcedClosed => 0,
        };
        let mine = encode(now.saturating_add(length), w.gen());
        // Acquire: as in `deadline`.
        let mut cur = self.hot.deadline.load(Ordering::Acquire);
        loop {
            if tag_of(cur) == tag(w.gen()) {
                return Some(time(cur));
            }
            // A later episode's deadline in `cur` was published after its
            // swap, and the Acquire above makes that swap visible here, so
            // this check cannot miss it.
            if self.word().gen() != w.gen() {
                return None;
            }
            // A publisher that passed the check and then stalled cannot
            // overwrite a later deadline: publishing that one changed `cur`,
            // so this swap fails and the loop checks again.
            match self.hot.deadline.compare_exchange(
                cur,
                mine,
                // Release: pairs with the Acquire loads above and in
                // `deadline`; Acquire: this thread's own swap of the word
                // happened before, anyone's else is made visible.
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Some(time(mine)),
                Err(actual) => cur = actual,
            }
        }
    }

    /// Side effects of a won swap from `from` to `to` that started a new
    /// generation, at `now`; returns the new episode's number.
    fn transitioned(&self, from: Word, to: Word, now: u64) -> u64 {
        // `to` follows `from` by one generation, so its number follows the
        // number of `from` (which the publication of `from`'s own winner
        // may not have reached yet: `episode` extends across that).
        let episode = self.episode(from) + 1;
        // Relaxed: see `episode`. `fetch_max`, so a stalled winner never
        // moves the number back.
        self.hot.episode.fetch_max(episode, Ordering::Relaxed);
        let deadline = self.publish_deadline(to, now);
        if from.kind() == to.kind() {
            return episode;
        }
        // Relaxed: metrics only.
        self.cold.since.store(now, Ordering::Relaxed);
        self.cold.transitions.get_or_init(Default::default)[from.kind() as usize]
            [to.kind() as usize]
            .fetch_add(1, Ordering::Relaxed);
        let tripped = from.kind() == Kind::Closed && to.kind() == Kind::Open;
        let t = Transition {
            from: from.kind().into(),
            to: to.kind().into(),
            at_nanos: now,
            failures: if tripped {
                self.trip_failures(from, now)
            } else {
                0
            },
            retry_after: match (to.kind(), deadline) {
                (Kind::Open, Some(d)) => Some(Duration::from_nanos(d.saturating_sub(now))),
                _ => None,
            },
        };
        events::record(&self.name, &t);
        self.cold.listeners.notify(&self.name, t);
        episode
    }

    /// The failures that tripped the breaker out of the CLOSED word `from`
    /// at `now`: the window's (which has recorded the last one) when there
    /// is a window, else the consecutive failures `from` counted plus the
    /// one that reached the threshold (without a window, only that trips).
    fn trip_failures(&self, from: Word, now: u64) -> u64 {
        match &self.rules {
            Some(rules) => rules.counts(now, &self.counters).failures,
            None => from.payload() + 1,
        }
    }
}

//! Loom models of seawall's concurrency.
//!
//! The models live in `tests/`, one file per property, each gated with
//! `#![cfg(seawall_loom)]`. Run them with `scripts/test-loom.sh`, which sets
//! `RUSTFLAGS="--cfg seawall_loom"` so that the core's `sync` module hands
//! out loom's atomics and locks, and every interleaving of the modelled
//! threads (up to a preemption bound) runs the production code paths.
//!
//! Without the cfg this crate is empty and its tests compile to nothing, so
//! `cargo test --workspace` stays fast and green.
//!
//! This library holds what the models share: the builder with its default
//! preemption bound, a listener that records transitions, and the check that
//! a breaker's books balance.

#[cfg(seawall_loom)]
pub use support::*;

#[cfg(seawall_loom)]
mod support {
    use std::sync::Arc;
    use std::time::Duration;

    use loom::sync::Mutex;
    use seawall::{Breaker, BreakerConfig, ManualClock, Metrics, State, Transition};

    /// Preemptions explored when `LOOM_MAX_PREEMPTIONS` is not set. Bugs in
    /// lock-free code almost always show up within two or three preemptions;
    /// the bound keeps the suite to minutes on two cores.
    pub const DEFAULT_PREEMPTIONS: usize = 2;

    /// Runs `f` under loom for every interleaving within the preemption bound
    /// (`LOOM_MAX_PREEMPTIONS`, default [`DEFAULT_PREEMPTIONS`]).
    pub fn model<F>(f: F)
    where
        F: Fn() + Sync + Send + 'static,
    {
        let mut b = loom::model::Builder::new();
        if b.preemption_bound.is_none() {
            b.preemption_bound = Some(DEFAULT_PREEMPTIONS);
        }
        b.check(f);
    }

    /// Like [`model`], for long single-path models that need more branches
    /// than loom's default cap.
    pub fn model_with_branches<F>(max_branches: usize, f: F)
    where
        F: Fn() + Sync + Send + 'static,
    {
        let mut b = loom::model::Builder::new();
        if b.preemption_bound.is_none() {
            b.preemption_bound = Some(DEFAULT_PREEMPTIONS);
        }
        b.max_branches = b.max_branches.max(max_branches);
        b.check(f);
    }

    /// The open time used by the models.
    pub const TIMEOUT: Duration = Duration::from_secs(10);
    /// The half-open trial timeout used by the models.
    pub const HALF_OPEN_TIMEOUT: Duration = Duration::from_secs(4);

    /// A breaker on a fresh manual clock (created inside the model, as loom
    /// requires), with `TIMEOUT`, `HALF_OPEN_TIMEOUT` and the given counts,
    /// plus a recorder of its transitions.
    pub fn breaker(
        failure_threshold: u32,
        success_threshold: u32,
        half_open_max_calls: u32,
    ) -> (Arc<Breaker<ManualClock>>, ManualClock, Events) {
        let clock = ManualClock::new();
        let config = BreakerConfig {
            failure_threshold,
            success_threshold,
            half_open_max_calls,
            timeout: TIMEOUT,
            half_open_timeout: HALF_OPEN_TIMEOUT,
            ..Default::default()
        };
        let b = Breaker::with_clock("loom", config, clock.clone()).expect("valid config");
        let events = Events::default();
        b.add_listener(events.listener());
        (Arc::new(b), clock, events)
    }

    /// Every transition delivered to a listener, in delivery order.
    ///
    /// Delivery order is not the order of the swaps that made the
    /// transitions (two winners may notify in either order), so checks use
    /// counts, or [`Events::balance`], rather than the sequence.
    #[derive(Clone, Default)]
    pub struct Events(Arc<Mutex<Vec<Transition>>>);

    impl Events {
        /// A listener that appends to this recorder.
        pub fn listener(&self) -> impl Fn(&str, Transition) + Send + Sync + 'static {
            let log = Arc::clone(&self.0);
            move |_: &str, t: Transition| log.lock().unwrap().push(t)
        }

        /// A copy of everything recorded so far.
        pub fn all(&self) -> Vec<Transition> {
            self.0.lock().unwrap().clone()
        }

        /// How many recorded transitions went from `from` to `to`.
        pub fn count(&self, from: State, to: State) -> usize {
            self.all()
                .iter()
                .filter(|t| t.from == from && t.to == to)
                .count()
        }

        /// Checks that the recorded transitions, in whatever order they were
        /// delivered, form one path from CLOSED to `last`: for every state,
        /// entries minus exits must be 1 for `last`, -1 for CLOSED (the start)
        /// and 0 otherwise; and the per-kind counts match the metrics.
        pub fn balance(&self, last: State, m: &Metrics) {
            let all = self.all();
            for s in STATES {
                let into = all.iter().filter(|t| t.to == s).count() as i64;
                let out = all.iter().filter(|t| t.from == s).count() as i64;
                let want = i64::from(s == last) - i64::from(s == State::Closed);
                assert_eq!(
                    into - out,
                    want,
                    "transitions into/out of {s} do not chain: {all:?}"
                );
            }
            assert!(
                all.iter().all(|t| t.from != t.to),
                "a transition to the same state was reported: {all:?}"
            );
            let t = m.transitions;
            let by_kind = [
                (State::Closed, t.to_closed),
                (State::Open, t.to_open),
                (State::HalfOpen, t.to_half_open),
                (State::ForcedOpen, t.to_forced_open),
                (State::ForcedClosed, t.to_forced_closed),
            ];
            for (s, n) in by_kind {
                let seen = all.iter().filter(|t| t.to == s).count() as u64;
                assert_eq!(
                    seen, n,
                    "metrics count {n} entries into {s}, listeners saw {seen}"
                );
            }
        }
    }

    /// Every public state.
    pub const STATES: [State; 5] = [
        State::Closed,
        State::Open,
        State::HalfOpen,
        State::ForcedOpen,
        State::ForcedClosed,
    ];

    /// After every call has finished: every permit issued got exactly one
    /// outcome (counted in its episode, or late), and every attempt was
    /// either permitted or rejected.
    pub fn assert_books_balance(m: &Metrics, attempts: u64) {
        assert_eq!(
            m.permitted,
            m.successes + m.failures + m.ignored + m.late,
            "permits and outcomes disagree: {m:?}"
        );
        assert_eq!(
            m.permitted + m.rejected,
            attempts,
            "attempts unaccounted for: {m:?}"
        );
    }
}

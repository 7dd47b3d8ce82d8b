//! The circuit breaker and the parts it is made of.
//!
//! A `Breaker` keeps its state in one atomic word and changes it only by
//! compare-and-swap; every decision about the next word is a pure function,
//! applied by one CAS driver.
//!
//! The parts, in dependency order: each imports only from the ones above it
//! and none imports the breaker.
//!
//! | file | what it holds |
//! | --- | --- |
//! | `state.rs` | the packed state word and its fields; the public `State` and `Outcome` |
//! | `config.rs` | `BreakerConfig`, `Window`, validation, the trial limits and rates derived from them |
//! | `decide.rs` | the pure decisions: acquire, outcome, state read, command; word in, step out |
//! | `deadline.rs` | the encoding of the deadline word; the length of an open time (back-off, jitter) |
//! | `counters.rs` | exact striped per-outcome counters |
//! | `window.rs` | the count and time windows |
//! | `rules.rs` | the window rules (failure count, failure rate, slow-call rate) |
//! | `events.rs` | `Transition` events and the listener list |
//! | `metrics.rs` | the `Metrics` snapshot |
//!
//! The breaker itself is one type whose code is split by concern; these
//! files refer to each other:
//!
//! | file | what it holds |
//! | --- | --- |
//! | `mod.rs` | `Breaker`: its fields, constructors, inlined fast paths, operations and metrics |
//! | `driver.rs` | the one CAS loop that applies a decision; the deadline word's reading and publishing; the side effects of a transition |
//! | `permit.rs` | `Permit` and `Ticket` (which report back through the breaker), `Rejected`, `CallError`, and `Report` + `protected_call`: the protected-call protocol every breaker's `call_classified` runs |
//!
//! `registry.rs` (`Registry`, named breakers on one clock) and `keyed.rs`
//! (`KeyedBreaker`, a bounded family of breakers, one per key) sit on top.
//!
//! The fast paths (a CLOSED admission, a steady OPEN rejection, a CLOSED
//! success with nothing to reset) are inlined here and write nothing shared;
//! everything else goes through the driver.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub(crate) mod config;
mod counters;
mod deadline;
mod decide;
mod driver;
mod events;
mod keyed;
mod metrics;
mod permit;
mod registry;
mod rules;
mod state;
mod window;

pub use config::{BreakerConfig, Window};
pub use events::{Listener, Transition};
#[cfg(seawall_loom)]
pub use keyed::{loom_entry, loom_table};
pub use keyed::{KeyedBreaker, KeyedMetrics, KeyedPermit, KeyedRejected, KeyedTicket};
pub use metrics::{Metrics, Transitions};
pub use permit::{protected_call, CallError, Permit, Rejected, Report, Ticket};
pub use registry::Registry;
pub use state::{Outcome, State};
#[cfg(seawall_loom)]
pub use window::CountWindowProbe;
pub use window::WindowCounts;

use crate::clock::{nanos, Clock, QuantaClock};
use crate::config::ConfigError;
use crate::random::{Random, ThreadRandom};
use crate::sync::{AtomicU64, OnceBox, Ordering};
use counters::{Counter, Counters};
use deadline::{passed, tag, tag_of, time};
use decide::{Admission, Limits};
use events::Listeners;
use rules::Rules;
use state::{extend, Kind, Word};
use window::Sample;

/// The words every call reads (and transitions write).
struct Hot {
    /// The packed state word (`state.rs`).
    word: AtomicU64,
    /// The deadline of the current OPEN or HALF_OPEN episode, tagged with the
    /// episode's generation (`deadline.rs`). Written after the transition
    /// that starts the episode, by its winner or by any thread that finds it
    /// missing (helping, so no thread ever waits for another).
    deadline: AtomicU64,
    /// The 64-bit number of a recent episode (the word keeps only its low
    /// bits): raised by every transition's winner right after its swap. With
    /// it the word's generation extends to the episode number that permits
    /// carry, so a permit held across any number of transitions is never
    /// taken for a current one (`Breaker::episode`).
    episode: AtomicU64,
}

/// Written only on transitions.
struct Cold {
    since: AtomicU64,
    /// Transitions made, by `[from][to]` state (indexed like `Kind`); on the
    /// heap from the first transition on.
    transitions: OnceBox<[[AtomicU64; 5]; 5]>,
    listeners: Listeners,
    /// Where the open-time jitter comes from.
    random: Box<dyn Random>,
}

/// A lock-free circuit breaker.
///
/// Take a [`Permit`] with [`Breaker::try_acquire`], run the call, report its
/// [`Outcome`] through the permit; or let [`Breaker::call`] do all three.
/// Every method takes `&self` and is safe to call from any number of threads.
///
/// # Memory ordering
///
/// Every decision is a compare-and-swap of the one state word, so decisions
/// are totally ordered by that word's modification order: of two threads
/// racing to trip, exactly one swap succeeds and only its thread sees the
/// transition. Loads of the word are `Acquire` and successful swaps `AcqRel`,
/// so a thread acting on a word also sees everything the thread that wrote
/// it did before writing. The deadline word is self-describing (its tag names
/// its generation); it is loaded `Acquire` and published by an `AcqRel`
/// swap, so a thread that sees a later episode's deadline also sees that
/// episode's state word. The episode counter and the counters are `Relaxed`
/// (see `driver.rs` and `counters.rs`).
///
/// # Layout
///
/// Everything a call touches sits in the breaker's first 128 bytes (the
/// state, deadline and episode words, the counters' inline stripe and
/// control word, the window, the slow-call threshold, the clock), and the
/// breaker is aligned to 128 bytes (two cache lines, as crossbeam pads on
/// x86_64), so no other object shares them. The counters' inline stripe is
/// written per call only while a single thread counts; once a second does,
/// every thread counts in padded stripes of its own on the heap and the
/// first 128 bytes are read-only between transitions (`core/src/stripes/`).
/// An idle breaker takes 384 bytes plus its name on the heap; see
/// [`Breaker::memory_bytes`].
// `repr(C)`: the fields stay in this order, the per-call ones first.
#[repr(C, align(128))]
pub struct Breaker<C: Clock = QuantaClock> {
    hot: Hot,
    counters: Counters,
    /// The window rules, if the configuration has a window.
    rules: Option<Box<Rules>>,
    /// Slow-call threshold in nanoseconds; 0 when slow calls are not timed.
    slow: u64,
    clock: C,
    cold: Cold,
    config: BreakerConfig,
    name: Arc<str>,
    limits: Limits,
}

impl Breaker<QuantaClock> {
    /// A breaker on the production clock.
    pub fn new(name: impl Into<Arc<str>>, config: BreakerConfig) -> Result<Self, ConfigError> {
        Self::with_clock(name, config, QuantaClock)
    }
}

impl<C: Clock> Breaker<C> {
    /// A breaker on the given clock (a [`crate::ManualClock`] in tests).
    pub fn with_clock(
        name: impl Into<Arc<str>>,
        config: BreakerConfig,
        clock: C,
    ) -> Result<Self, ConfigError> {
        Self::with_clock_and_random(name, config, clock, ThreadRandom)
    }

    /// A breaker on the given clock that draws its open-time jitter
    /// (`timeout_jitter`) from `random`: with a [`crate::SeededRandom`] and
    /// a [`crate::ManualClock`], every open time repeats from run to run.
    pub fn with_clock_and_random(
        name: impl Into<Arc<str>>,
        config: BreakerConfig,
        clock: C,
        random: impl Random + 'static,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self {
            hot: Hot {
                word: AtomicU64::new(Word::INITIAL.0),
                deadline: AtomicU64::new(0),
                episode: AtomicU64::new(0),
            },
            counters: Counters::default(),
            rules: Rules::new(&config).map(Box::new),
            slow: config.slow_call_duration.map_or(0, nanos),
            cold: Cold {
                since: AtomicU64::new(clock.now()),
                transitions: OnceBox::new(),
                listeners: Listeners::default(),
                random: Box::new(random),
            },
            clock,
            limits: Limits::new(&config),
            config,
            name: name.into(),
        })
    }

    /// The breaker's name, as given to listeners.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &BreakerConfig {
        &self.config
    }

    /// The clock it reads.
    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// Registers a listener for every later transition.
    pub fn add_listener(&self, listener: impl Listener + 'static) {
        self.cold.listeners.add(Arc::new(listener));
    }

    #[inline]
    fn word(&self) -> Word {
        // Acquire: pairs with the AcqRel swap that wrote this word (see the
        // type's "Memory ordering").
        Word(self.hot.word.load(Ordering::Acquire))
    }

    /// The 64-bit number of the episode `w` (a word just loaded) belongs to.
    #[inline]
    fn episode(&self, w: Word) -> u64 {
        // Relaxed: the published number only has to be within half a
        // generation cycle of `w`'s episode (see `extend`), whatever it
        // was published with; nothing else is read through it.
        extend(self.hot.episode.load(Ordering::Relaxed), w.gen())
    }

    /// Is `w` (a word just loaded) in the episode numbered `episode`?
    #[inline]
    fn in_episode(&self, w: Word, episode: u64) -> bool {
        self.episode(w) == episode
    }

    /// Asks for permission to make one call.
    ///
    /// CLOSED (and FORCED_CLOSED) admit with a single load of the state word
    /// and no clock read. OPEN rejects after reading the cheap
    /// [`Clock::recent`] time; once the open time has passed, the first caller
    /// becomes a trial call and the breaker HALF_OPEN. HALF_OPEN admits up to
    /// `half_open_max_calls` trials at once.
    // `always`: the CLOSED admission and the steady OPEN rejection are a few
    // instructions each; a call and its register saves would cost more.
    //
    // Its first tests, `admit_closed` and `reject_open` (without
    // `at_once`), are also the C ABI's inline acquire
    // (`try_acquire_at_once`, with `at_once`): one decision for both faces.
    #[inline(always)]
    pub fn try_acquire(&self) -> Result<Permit<'_, C>, Rejected> {
        let w = self.word();
        if let Some(p) = self.admit_closed(w, false) {
            return Ok(p);
        }
        if let Some(r) = self.reject_open(w, false) {
            return Err(r);
        }
        self.acquire_contended(w)
    }

    /// The admission of a CLOSED (or FORCED_CLOSED) word `w`, just loaded;
    /// `None`, having done nothing, in any other state. With `at_once`,
    /// also `None` for what would take a call: timed calls (a clock
    /// reading), or a thread that does not count in its own stripe at once
    /// (`Counters::incr_at_once`).
    #[inline(always)]
    fn admit_closed(&self, w: Word, at_once: bool) -> Option<Permit<'_, C>> {
        if !matches!(w.kind(), Kind::Closed | Kind::ForcedClosed) {
            return None;
        }
        if !at_once {
            return Some(self.admit(self.episode(w)));
        }
        if self.slow != 0 || !self.count(Counter::Permitted, true) {
            return None;
        }
        Some(Permit {
            breaker: self,
            episode: self.episode(w),
            start: 0,
        })
    }

    /// The steady OPEN rejection in `w`, just loaded: this episode's
    /// deadline is published and not yet reached. `None`, having done
    /// nothing, in any other case. With `at_once`, also `None` for what
    /// would take a call: a clock whose recent reading is not at hand
    /// ([`Clock::recent_at_once`]), or a thread that does not count in its
    /// own stripe at once.
    #[inline(always)]
    fn reject_open(&self, w: Word, at_once: bool) -> Option<Rejected> {
        if w.kind() != Kind::Open {
            return None;
        }
        let now = if at_once {
            self.clock.recent_at_once()?
        } else {
            self.clock.recent()
        };
        // The same ordering as in `deadline` (its comment says why).
        let cur = self.hot.deadline.load(Ordering::Acquire);
        let deadline = time(cur);
        // `now < deadline` alone decides here: a deadline that has been
        // reached (or never passes) takes the full path.
        if tag_of(cur) == tag(w.gen()) && now < deadline && self.count(Counter::Rejected, at_once) {
            return Some(Rejected {
                state: State::Open,
                retry_after: Some(Duration::from_nanos(deadline - now)),
            });
        }
        None
    }

    /// Adds one to `c` and returns `true`; with `at_once`, only if that
    /// takes no call (`Counters::incr_at_once`), else `false`, having
    /// counted nothing.
    #[inline(always)]
    fn count(&self, c: Counter, at_once: bool) -> bool {
        if at_once {
            return self.counters.incr_at_once(c);
        }
        self.counters.incr(c);
        true
    }

    /// The first test of [`Breaker::try_acquire`] alone, declining what
    /// would take a call: its answer when that is a CLOSED admission (calls
    /// not timed) or the steady OPEN rejection (the clock's recent reading
    /// at hand), and the thread counts in a stripe of its own; `None`,
    /// having done nothing, in every other case, which `try_acquire` then
    /// decides. For the C ABI, whose exported acquire inlines exactly this
    /// and jumps to its full body otherwise, so that its common cases need
    /// no stack frame.
    #[doc(hidden)]
    #[inline(always)]
    pub fn try_acquire_at_once(&self) -> Option<Result<Permit<'_, C>, Rejected>> {
        let w = self.word();
        if let Some(p) = self.admit_closed(w, true) {
            return Some(Ok(p));
        }
        self.reject_open(w, true).map(Err)
    }

    #[inline]
    fn admit(&self, episode: u64) -> Permit<'_, C> {
        self.counters.incr(Counter::Permitted);
        let start = if self.slow != 0 {
            self.clock.recent()
        } else {
            0
        };
        Permit {
            breaker: self,
            episode,
            start,
        }
    }

    #[inline(never)]
    fn acquire_contended(&self, mut w: Word) -> Result<Permit<'_, C>, Rejected> {
        loop {
            let d = self.drive(w, C::recent, |w| decide::acquire(w, &self.limits));
            match (d.answer, d.started) {
                (Admission::Admit, Some(s)) => return Ok(self.admit(s.episode)),
                // Admitted in the word's own episode, or as a trial joining
                // its batch (the same episode).
                (Admission::Admit, None) => return Ok(self.admit(self.episode(d.word))),
                (Admission::Reject, None) => return Err(self.reject(d.word, d.seen)),
                // An expired trial batch reopened the breaker. Its open time
                // may be over already (a clock at the very end of its range,
                // where every deadline saturates): then the new word decides,
                // and admits a trial, rather than a rejection that says "come
                // back in 0 ns".
                (Admission::Reject, Some(s)) => match self.deadline(d.word, s.at) {
                    Some(deadline) if passed(d.word, s.at, deadline) => w = d.word,
                    Some(deadline) => return Err(self.reject(d.word, Some((s.at, deadline)))),
                    // That episode has ended too: come back at once.
                    None => return Err(self.reject(d.word, Some((s.at, s.at)))),
                },
            }
        }
    }

    #[inline]
    fn reject(&self, w: Word, seen: Option<(u64, u64)>) -> Rejected {
        self.counters.incr(Counter::Rejected);
        let retry_after = match w.kind() {
            Kind::ForcedOpen => None,
            _ => {
                // Every OPEN or HALF_OPEN rejection is decided on the
                // deadline, which `seen` carries; the fallback only guards
                // that.
                let (now, deadline) = seen.unwrap_or_else(|| {
                    let now = self.clock.recent();
                    (now, self.deadline(w, now).unwrap_or(now))
                });
                Some(Duration::from_nanos(deadline.saturating_sub(now)))
            }
        };
        Rejected {
            state: w.kind().into(),
            retry_after,
        }
    }

    /// Reports the outcome of a call made under a detached [`Ticket`]. The
    /// call is timed (for `slow_call_duration`) from the ticket's issue.
    #[inline]
    pub fn record(&self, ticket: Ticket, outcome: Outcome) {
        self.finish(ticket.episode, outcome, || {
            self.clock.recent().saturating_sub(ticket.start)
        });
    }

    /// Reports the outcome of a call made under a detached [`Ticket`] that the
    /// caller timed itself: `elapsed` decides whether it was slow.
    pub fn record_elapsed(&self, ticket: Ticket, outcome: Outcome, elapsed: Duration) {
        self.finish(ticket.episode, outcome, || nanos(elapsed));
    }

    /// Applies one outcome. `elapsed` (nanoseconds) is asked only when slow
    /// calls are timed.
    // `always`: the steady CLOSED success is a few loads and one counter
    // store; left to the heuristics (which the window's inlined
    // `quiet_success` tips over), it becomes a call that spills the permit
    // to the stack and costs more than the path itself.
    //
    // The first test, `quiet_success(.., false)`, is also the C ABI's
    // inline report (`record_at_once`, with `at_once`): one test for both
    // faces.
    #[inline(always)]
    fn finish(&self, episode: u64, outcome: Outcome, elapsed: impl FnOnce() -> u64) {
        let w = self.word();
        if outcome == Outcome::Success && self.quiet_success(w, episode, false) {
            return;
        }
        self.finish_slow(w, episode, outcome, elapsed)
    }

    /// Counts a success in `episode`, reported when the word was `w`, and
    /// returns `true` if it is the steady CLOSED success: nothing to time,
    /// no failure count to reset, so the word stays as it is
    /// (`decide::outcome` keeps it); only counters move, and a window
    /// records it (`Rules::quiet_success`). `false`, having done nothing,
    /// otherwise. With `at_once`, also `false` for what would take a call:
    /// a window, or a thread that does not count in its own stripe at once
    /// (`Counters::incr_at_once`).
    #[inline(always)]
    fn quiet_success(&self, w: Word, episode: u64, at_once: bool) -> bool {
        if !(self.slow == 0
            && w.kind() == Kind::Closed
            && w.payload() == 0
            && self.in_episode(w, episode))
        {
            return false;
        }
        match &self.rules {
            Some(_) if at_once => false,
            Some(r) if !r.quiet_success(|| self.clock.recent()) => false,
            _ => self.count(Counter::Successes, at_once),
        }
    }

    /// The first test of [`Breaker::record`] alone, declining what would
    /// take a call: records `outcome` under `ticket` and returns `true`
    /// when it is the steady CLOSED success, calls are not timed, there is
    /// no window and the thread counts in a stripe of its own; `false`,
    /// having done nothing, in every other case, which `record` then
    /// decides. For the C ABI, whose exported report inlines exactly this
    /// and jumps to its full body otherwise, so that its common case needs
    /// no stack frame.
    #[doc(hidden)]
    #[inline(always)]
    pub fn record_at_once(&self, ticket: Ticket, outcome: Outcome) -> bool {
        outcome == Outcome::Success && self.quiet_success(self.word(), ticket.episode, true)
    }

    #[inline(never)]
    fn finish_slow(&self, w: Word, episode: u64, outcome: Outcome, elapsed: impl FnOnce() -> u64) {
        if !self.in_episode(w, episode) {
            // Late: the episode that issued the permit is over. Counted apart,
            // so it can neither decide the state nor sit in a window.
            self.counters.incr(Counter::Late);
            return;
        }
        let slow = outcome != Outcome::Ignored && self.slow != 0 && elapsed() >= self.slow;
        let count = || {
            self.counters.incr(match outcome {
                Outcome::Success => Counter::Successes,
                Outcome::Failure => Counter::Failures,
                Outcome::Ignored => Counter::Ignored,
            });
            if slow {
                self.counters.incr(Counter::Slow);
            }
        };
        let rule_trips = match &self.rules {
            Some(rules) if w.kind() == Kind::Closed => {
                let now = if rules.needs_time() {
                    self.clock.recent()
                } else {
                    0
                };
                rules.observe(now, Sample { outcome, slow }, &self.counters, count)
            }
            _ => {
                count();
                false
            }
        };
        // The episode may end while this outcome is being applied: it was
        // counted in it, and decides nothing in the next.
        self.drive(w, C::recent, |w| {
            let current = self.in_episode(w, episode);
            decide::outcome(w, current, outcome, &self.limits, rule_trips)
        });
    }

    /// Runs `f` under the breaker; every `Err` counts as a failure.
    pub fn call<T, E>(&self, f: impl FnOnce() -> Result<T, E>) -> Result<T, CallError<E>> {
        self.call_classified(f, |_| Outcome::Failure)
    }

    /// Runs `f` under the breaker; `classify` decides what each `Err` counts
    /// as. A panic in `f` unwinds through the permit, which records the call
    /// as ignored.
    pub fn call_classified<T, E>(
        &self,
        f: impl FnOnce() -> Result<T, E>,
        classify: impl FnOnce(&E) -> Outcome,
    ) -> Result<T, CallError<E>> {
        protected_call(self.try_acquire(), f, classify)
    }

    /// The current state, exact at the moment of the call: an OPEN breaker
    /// whose open time has passed reads as HALF_OPEN (the next call will be a
    /// trial), and a HALF_OPEN one whose outstanding trials have expired
    /// reads as OPEN, without any background thread moving it.
    ///
    /// This reads [`Clock::now`]; `try_acquire` decides on the cheaper
    /// [`Clock::recent`], so on [`QuantaClock`] an acquire may still be
    /// rejected for up to [`QuantaClock::RECENT_RESOLUTION`] after this
    /// reads HALF_OPEN.
    pub fn state(&self) -> State {
        self.drive(self.word(), C::now, |w| decide::read(w, &self.limits))
            .answer
    }

    /// Every call this breaker has admitted since it was made (not reset by
    /// [`Breaker::reset`]): the keyed family's count of calls it let in,
    /// against which it counts the ones that finished.
    pub(crate) fn admitted(&self) -> u64 {
        self.counters.get(Counter::Permitted)
    }

    /// Opens the breaker until [`Breaker::reset`] or [`Breaker::force_closed`].
    pub fn force_open(&self) {
        self.command(Kind::ForcedOpen);
    }

    /// Admits every call (still measured) until [`Breaker::reset`] or
    /// [`Breaker::force_open`].
    pub fn force_closed(&self) {
        self.command(Kind::ForcedClosed);
    }

    /// Returns to CLOSED with no failures counted and no back-off. Permits
    /// issued before the reset can no longer change the state.
    pub fn reset(&self) {
        self.command(Kind::Closed);
    }

    fn command(&self, to: Kind) {
        self.drive(self.word(), C::now, |w| decide::command(w, to));
    }

    /// Restarts every counter of [`Breaker::metrics`] from zero (not the
    /// state, not the window). Exact only while no call is in progress.
    pub fn clear_metrics(&self) {
        self.counters.clear();
        for t in self.cold.transitions.get().into_iter().flatten().flatten() {
            // Relaxed: metrics only.
            t.store(0, Ordering::Relaxed);
        }
    }

    /// A snapshot of the breaker's books.
    pub fn metrics(&self) -> Metrics {
        let w = self.word();
        // Relaxed: metrics only.
        let between: [[u64; 5]; 5] = match self.cold.transitions.get() {
            Some(made) => made
                .each_ref()
                .map(|row| row.each_ref().map(|t| t.load(Ordering::Relaxed))),
            None => [[0; 5]; 5],
        };
        let t = |k: Kind| between.iter().map(|row| row[k as usize]).sum();
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
                between,
            },
            time_in_state: Duration::from_nanos(now.saturating_sub(since)),
        }
    }
}

impl<C: Clock> Breaker<C> {
    /// Bytes this breaker occupies: the struct plus what it owns on the heap
    /// (the window; the counters' padded stripes once a second thread has
    /// counted; the transition counts once it has made a transition), not
    /// counting the name and the listeners.
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.rules.as_ref().map_or(0, |r| r.heap_bytes())
            + self.counters.heap_bytes()
            + self.cold.transitions.get().map_or(0, std::mem::size_of_val)
    }
}

impl<C: Clock> fmt::Debug for Breaker<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Breaker")
            .field("name", &self.name)
            .field("word", &self.word())
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(seawall_loom)))]
mod tests {
    use std::mem::{align_of, offset_of, size_of};

    use super::*;
    use crate::ManualClock;

    #[test]
    fn an_idle_breaker_takes_384_bytes_with_everything_a_call_touches_in_the_first_128() {
        assert_eq!(size_of::<Breaker>(), 384);
        assert_eq!(size_of::<Breaker<ManualClock>>(), 384);
        assert_eq!(align_of::<Breaker>(), 128);
        assert_eq!(offset_of!(Breaker, hot), 0);
        let per_call_end = offset_of!(Breaker<ManualClock>, clock) + size_of::<ManualClock>();
        assert!(per_call_end <= 128, "{per_call_end}");
        assert!(offset_of!(Breaker, counters) + size_of::<Counters>() <= 128);
        let b = Breaker::with_clock("b", BreakerConfig::default(), ManualClock::new()).unwrap();
        assert_eq!(b.memory_bytes(), 384);
    }

    /// Runs `f` on a thread of its own that has counted once, so that it
    /// holds a stripe number; says whether the thread-pointer table lists
    /// it (it may not, if its cell is another thread's).
    fn on_a_counting_thread(f: impl FnOnce(bool) + Send) {
        std::thread::scope(|s| {
            s.spawn(|| {
                Counters::default().incr(Counter::Permitted);
                f(crate::stripes::listed_stripe().is_some())
            });
        });
    }

    #[test]
    fn the_acquire_at_once_answers_as_try_acquire_or_declines_having_done_nothing() {
        on_a_counting_thread(|listed| {
            let clock = ManualClock::new();
            let b = Breaker::with_clock("b", BreakerConfig::default(), clock.clone()).unwrap();
            let full = b.try_acquire().unwrap().into_ticket();
            match b.try_acquire_at_once() {
                Some(Ok(p)) => {
                    assert!(listed);
                    assert_eq!(p.into_ticket(), full, "same episode, start 0");
                    assert_eq!(b.metrics().permitted, 2);
                }
                None => {
                    assert!(!listed);
                    assert_eq!(b.metrics().permitted, 1);
                }
                Some(Err(r)) => panic!("rejected while CLOSED: {r:?}"),
            }
            // The steady OPEN rejection: the same answer as the full path.
            b.force_open();
            b.reset();
            for _ in 0..5 {
                b.try_acquire().unwrap().failure();
            }
            clock.advance(Duration::from_secs(1));
            let full = b.try_acquire().unwrap_err();
            assert_eq!(full.retry_after, Some(Duration::from_secs(59)));
            let rejected = b.metrics().rejected;
            match b.try_acquire_at_once() {
                Some(Err(r)) => {
                    assert!(listed);
                    assert_eq!(r, full);
                    assert_eq!(b.metrics().rejected, rejected + 1);
                }
                None => assert!(!listed),
                Some(Ok(_)) => panic!("admitted while OPEN"),
            }
            // Past the open time the trial is the full path's to admit.
            clock.advance(Duration::from_secs(60));
            let before = b.metrics();
            assert!(b.try_acquire_at_once().is_none());
            let after = b.metrics();
            assert_eq!(after.state, State::HalfOpen);
            assert_eq!(
                (after.permitted, after.rejected),
                (before.permitted, before.rejected)
            );
            let trial = b.try_acquire().unwrap();
            assert!(b.try_acquire_at_once().is_none(), "HALF_OPEN");
            trial.success();
            b.force_open();
            assert!(b.try_acquire_at_once().is_none(), "FORCED_OPEN");
        });
    }

    #[test]
    fn timed_calls_and_an_unpublished_recent_reading_are_the_full_paths() {
        on_a_counting_thread(|_| {
            let config = BreakerConfig {
                slow_call_duration: Some(Duration::from_secs(1)),
                ..Default::default()
            };
            let b = Breaker::with_clock("b", config, ManualClock::new()).unwrap();
            b.try_acquire().unwrap().success();
            assert!(b.try_acquire_at_once().is_none());
            assert_eq!(b.metrics().permitted, 1);
            let t = b.try_acquire().unwrap().into_ticket();
            assert!(!b.record_at_once(t, Outcome::Success));
            assert_eq!(b.metrics().successes, 1);
        });
        /// A clock with no cheap reading: the default `recent_at_once`.
        struct Exact(ManualClock);
        impl Clock for Exact {
            fn now(&self) -> u64 {
                self.0.now()
            }
        }
        on_a_counting_thread(|_| {
            let b = Breaker::with_clock("b", BreakerConfig::default(), Exact(ManualClock::new()))
                .unwrap();
            b.force_open();
            b.reset();
            for _ in 0..5 {
                b.try_acquire().unwrap().failure();
            }
            assert!(b.try_acquire().is_err());
            assert!(b.try_acquire_at_once().is_none());
            assert_eq!(b.metrics().rejected, 1);
        });
    }

    #[test]
    fn the_report_at_once_counts_a_quiet_success_or_declines_having_done_nothing() {
        on_a_counting_thread(|listed| {
            let b = Breaker::with_clock("b", BreakerConfig::default(), ManualClock::new()).unwrap();
            let t = b.try_acquire().unwrap().into_ticket();
            assert_eq!(b.record_at_once(t, Outcome::Success), listed);
            assert_eq!(b.metrics().successes, u64::from(listed));
            // A failure, an ignored call: the full path's.
            let (episode, start) = b.try_acquire().unwrap().into_ticket().into_parts();
            let t = || Ticket::from_parts(episode, start);
            assert!(!b.record_at_once(t(), Outcome::Failure));
            assert!(!b.record_at_once(t(), Outcome::Ignored));
            assert_eq!(b.metrics().failures + b.metrics().ignored, 0);
            b.record(t(), Outcome::Failure);
            // A failure count to reset: the full path's.
            let (episode, start) = b.try_acquire().unwrap().into_ticket().into_parts();
            let t = || Ticket::from_parts(episode, start);
            assert!(!b.record_at_once(t(), Outcome::Success));
            b.record(t(), Outcome::Success);
            assert_eq!(b.metrics().consecutive_failures, 0);
            // A late ticket: the full path counts it as late.
            let (episode, start) = b.try_acquire().unwrap().into_ticket().into_parts();
            let t = || Ticket::from_parts(episode, start);
            b.reset();
            let before = b.metrics();
            assert!(!b.record_at_once(t(), Outcome::Success));
            assert_eq!(b.metrics().successes, before.successes);
            assert_eq!(b.metrics().late, before.late);
            b.record(t(), Outcome::Success);
            assert_eq!(b.metrics().late, before.late + 1);
        });
        on_a_counting_thread(|_| {
            let config = BreakerConfig {
                window: Window::Count { size: 10 },
                failure_rate_threshold: Some(0.5),
                ..Default::default()
            };
            let b = Breaker::with_clock("b", config, ManualClock::new()).unwrap();
            let (episode, start) = b.try_acquire().unwrap().into_ticket().into_parts();
            let t = || Ticket::from_parts(episode, start);
            assert!(!b.record_at_once(t(), Outcome::Success), "a window");
            assert_eq!(b.metrics().window.unwrap().successes, 0);
            b.record(t(), Outcome::Success);
            assert_eq!(b.metrics().window.unwrap().successes, 1);
        });
    }

    #[test]
    fn memory_grows_once_for_a_second_counting_thread_and_once_for_transitions() {
        let b = Breaker::with_clock("b", BreakerConfig::default(), ManualClock::new()).unwrap();
        for _ in 0..100 {
            b.try_acquire().unwrap().success();
        }
        assert_eq!(b.memory_bytes(), 384, "one thread counts inline");
        std::thread::scope(|s| {
            s.spawn(|| b.try_acquire().unwrap().success());
        });
        let grown = b.counters.heap_bytes();
        assert!(grown > 0);
        assert_eq!(b.memory_bytes(), 384 + grown);
        b.force_open();
        b.reset();
        assert_eq!(b.memory_bytes(), 384 + grown + 200);
        assert_eq!(b.metrics().transitions.to_forced_open, 1);
        assert_eq!(b.metrics().permitted, 101);
        b.clear_metrics();
        assert_eq!(b.metrics().transitions.to_forced_open, 0);
        assert_eq!(b.metrics().permitted, 0);
    }
}

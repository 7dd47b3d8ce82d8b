//! The circuit breaker: one CAS loop applying the decisions of `state.rs`.

use std::fmt;
use std::mem::ManuallyDrop;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_utils::CachePadded;

use crate::clock::{nanos, Clock, QuantaClock};
use crate::config::{BreakerConfig, ConfigError};
use crate::counters::{Counter, Counters};
use crate::events::{Listener, Listeners, Transition};
use crate::metrics::{Metrics, Transitions};
use crate::rules::Rules;
use crate::state::{self, Acquire, Kind, Limits, State, Word};
use crate::sync::{AtomicU64, Ordering};
use crate::window::Sample;
use crate::Outcome;

/// Deadlines are stored in whole microseconds (rounded up) shifted left by
/// `TAG_BITS`, with the generation of their episode modulo `2^TAG_BITS` in
/// the low bits: the decoded time is in nanoseconds, a multiple of 1 µs, and
/// timeouts given in whole microseconds come out exact. 55 bits of
/// microseconds cover the clock's whole range, so no deadline is ever cut
/// short of its clock. Generations wrap at a multiple of `2^TAG_BITS`
/// (`state::GEN_MODULUS`), so tags stay in step across the wrap. A
/// power-of-two tag keeps the hot-path check to a mask and a compare (a
/// modulus by 1000 costs two multiplications per check).
///
/// Every generation change publishes a deadline (a dummy one for CLOSED and
/// the forced states), so the stored tag is the current generation's or one a
/// few generations old; mistaking an old value for the current one would take
/// 512 consecutive transitions whose winners all stalled before publishing.
const TAG_BITS: u32 = 9;
const TAG_MASK: u64 = (1 << TAG_BITS) - 1;

/// The last microsecond of the clock's range: deadlines beyond it (a clock
/// near `u64::MAX` plus an open time) saturate to it.
const MAX_MICROS: u64 = u64::MAX / 1000;
const _: () = assert!(MAX_MICROS <= u64::MAX >> TAG_BITS);
// The last representable deadline is within a microsecond of the clock's end.
const _: () = assert!(u64::MAX - MAX_MICROS * 1000 < 1000);

/// The latest deadline there is. An OPEN episode ending there still ends
/// when the clock gets there; a trial batch whose expiry saturated to it
/// never expires (its trials decide it), so a breaker near the end of its
/// clock can still close.
const LAST: u64 = MAX_MICROS * 1000;

fn tag(gen: u32) -> u64 {
    u64::from(gen) & TAG_MASK
}

/// The generation tag a deadline value carries.
fn tag_of(v: u64) -> u64 {
    v & TAG_MASK
}

fn encode(end: u64, gen: u32) -> u64 {
    end.div_ceil(1000).min(MAX_MICROS) << TAG_BITS | tag(gen)
}

/// The time a deadline value encodes, in clock nanoseconds.
fn time(v: u64) -> u64 {
    (v >> TAG_BITS) * 1000
}

/// Has the deadline of the episode `w` belongs to passed at `now`?
fn passed(w: Word, now: u64, deadline: u64) -> bool {
    now >= deadline && !(deadline == LAST && w.kind() == Kind::HalfOpen)
}

/// The episode number that is `gen` modulo `state::GEN_MODULUS` and
/// nearest to `near` (an episode number published a few transitions before
/// or after). Exact while fewer than `GEN_MODULUS / 2` transitions separate
/// the two. Branch-free: the difference, sign-extended from the
/// generation's width.
#[inline]
fn extend(near: u64, gen: u32) -> u64 {
    const SPARE: u32 = u32::BITS - state::GEN_MODULUS.trailing_zeros();
    let delta = ((gen.wrapping_sub(near as u32) << SPARE) as i32) >> SPARE;
    near.wrapping_add(i64::from(delta) as u64)
}

/// The words read on every call share one cache line, apart from everything
/// that is written per call.
struct Hot {
    /// The packed state word (`state.rs`).
    word: AtomicU64,
    /// The deadline of the current OPEN or HALF_OPEN episode, tagged with the
    /// episode's generation (see `encode`). Written after the transition that starts the episode, by its
    /// winner or by any thread that finds it missing (helping, so no thread
    /// ever waits for another).
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
    transitions: [AtomicU64; 5],
    listeners: Listeners,
}

/// How long each OPEN episode lasts.
#[derive(Clone, Copy)]
struct OpenTime {
    base: f64,
    multiplier: f64,
    max: f64,
    jitter: f64,
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
/// its generation) and is read and written `Relaxed`. Counters are `Relaxed`
/// (see `counters.rs`).
pub struct Breaker<C: Clock = QuantaClock> {
    hot: CachePadded<Hot>,
    counters: Counters,
    cold: Cold,
    limits: Limits,
    /// The window rules, if the configuration has a window.
    rules: Option<Box<Rules>>,
    /// Slow-call threshold in nanoseconds; 0 when slow calls are not timed.
    slow: u64,
    half_open: u64,
    open: OpenTime,
    config: BreakerConfig,
    name: Arc<str>,
    clock: C,
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
        config.validate()?;
        let base = nanos(config.timeout) as f64;
        Ok(Self {
            hot: CachePadded::new(Hot {
                word: AtomicU64::new(Word::INITIAL.0),
                deadline: AtomicU64::new(0),
                episode: AtomicU64::new(0),
            }),
            counters: Counters::default(),
            cold: Cold {
                since: AtomicU64::new(clock.now()),
                transitions: Default::default(),
                listeners: Listeners::default(),
            },
            limits: Limits::new(&config),
            rules: Rules::new(&config).map(Box::new),
            slow: config.slow_call_duration.map_or(0, nanos),
            half_open: nanos(config.half_open_timeout),
            open: OpenTime {
                base,
                multiplier: config.timeout_multiplier,
                max: config.max_timeout.map_or(base, |m| nanos(m) as f64),
                jitter: config.timeout_jitter,
            },
            config,
            name: name.into(),
            clock,
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

    /// Asks for permission to make one call.
    ///
    /// CLOSED (and FORCED_CLOSED) admit with a single load of the state word
    /// and no clock read. OPEN rejects after reading the cheap
    /// [`Clock::recent`] time; once the open time has passed, the first caller
    /// becomes a trial call and the breaker HALF_OPEN. HALF_OPEN admits up to
    /// `half_open_max_calls` trials at once.
    // `always`: the CLOSED admission and the steady OPEN rejection are a few
    // instructions each; a call and its register saves would cost more.
    #[inline(always)]
    pub fn try_acquire(&self) -> Result<Permit<'_, C>, Rejected> {
        let w = self.word();
        if matches!(w.kind(), Kind::Closed | Kind::ForcedClosed) {
            return Ok(self.admit(self.episode(w)));
        }
        if w.kind() == Kind::Open {
            // The steady OPEN rejection: this episode's deadline is
            // published and not yet reached. Anything else takes the full
            // path.
            let now = self.clock.recent();
            // The same ordering as in `deadline` (its comment says why).
            let cur = self.hot.deadline.load(Ordering::Acquire);
            let deadline = time(cur);
            // `now < deadline` alone decides here: a deadline that has been
            // reached (or never passes) takes the full path.
            if tag_of(cur) == tag(w.gen()) && now < deadline {
                self.counters.incr(Counter::Rejected);
                return Err(Rejected {
                    state: State::Open,
                    retry_after: Some(Duration::from_nanos(deadline - now)),
                });
            }
        }
        self.acquire_contended(w)
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
            let mut seen = None;
            let mut stale = false;
            let decision = state::acquire(w, &self.limits, || {
                let now = self.clock.recent();
                match self.deadline(w, now) {
                    Some(deadline) => {
                        seen = Some((now, deadline));
                        passed(w, now, deadline)
                    }
                    None => {
                        stale = true;
                        false
                    }
                }
            });
            if stale {
                // The episode of `w` is over: decide on the current word.
                w = self.word();
                continue;
            }
            match decision {
                Acquire::Admit => return Ok(self.admit(self.episode(w))),
                Acquire::Reject => return Err(self.reject(w, seen)),
                Acquire::Trial(next) | Acquire::Expire(next) => {
                    if let Err(actual) = self.swap(w, next) {
                        w = actual;
                        continue;
                    }
                    let now = seen.map_or_else(|| self.clock.recent(), |(now, _)| now);
                    let episode = self.transitioned(w, next, now);
                    if let Acquire::Trial(_) = decision {
                        return Ok(self.admit(episode));
                    }
                    // An expired trial batch reopened the breaker. Its open
                    // time may be over already (a clock at the very end of
                    // its range, where every deadline saturates): then the
                    // new word decides, and admits a trial, rather than a
                    // rejection that says "come back in 0 ns".
                    match self.deadline(next, now) {
                        Some(deadline) if passed(next, now, deadline) => w = next,
                        _ => return Err(self.reject(next, None)),
                    }
                }
            }
        }
    }

    #[inline]
    fn reject(&self, w: Word, seen: Option<(u64, u64)>) -> Rejected {
        self.counters.incr(Counter::Rejected);
        let retry_after = match w.kind() {
            Kind::ForcedOpen => None,
            _ => {
                let (now, deadline) = seen.unwrap_or_else(|| {
                    let now = self.clock.recent();
                    // Only after this thread's own swap to `w`: if that
                    // episode has already ended too, come back at once.
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

    /// The deadline of the episode `w` belongs to: the open time's end for
    /// OPEN, the trial batch's expiry for HALF_OPEN. `None` when that episode
    /// is over: the caller must decide on a fresh word instead.
    #[inline]
    fn deadline(&self, w: Word, now: u64) -> Option<u64> {
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
            Kind::Open => self.open_time(w.trips()),
            Kind::HalfOpen => self.half_open,
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

    /// The length of an OPEN episode after `trips` consecutive trips.
    fn open_time(&self, trips: u32) -> u64 {
        let o = self.open;
        let mut t = o.base;
        if trips > 0 && o.multiplier > 1.0 {
            t = (t * o.multiplier.powi(trips as i32)).min(o.max);
        }
        if o.jitter > 0.0 {
            t *= 1.0 - o.jitter * fastrand::f64();
        }
        // `as` saturates: a float beyond u64 becomes u64::MAX.
        t as u64
    }

    /// Side effects of a successful swap that started a new generation;
    /// returns the new episode's number.
    fn transitioned(&self, from: Word, to: Word, now: u64) -> u64 {
        if to.gen() == from.gen() {
            // A trial joining its batch: the same episode.
            return self.episode(to);
        }
        // `to` follows `from` by one generation, so its number follows the
        // number of `from` (which the publication of `from`'s own winner
        // may not have reached yet: `episode` extends across that).
        let episode = self.episode(from) + 1;
        // Relaxed: see `episode`. `fetch_max`, so a stalled winner never
        // moves the number back.
        self.hot.episode.fetch_max(episode, Ordering::Relaxed);
        self.publish_deadline(to, now);
        if from.kind() == to.kind() {
            return episode;
        }
        // Relaxed: metrics only.
        self.cold.since.store(now, Ordering::Relaxed);
        self.cold.transitions[to.kind() as usize].fetch_add(1, Ordering::Relaxed);
        let t = Transition {
            from: from.kind().into(),
            to: to.kind().into(),
            at_nanos: now,
        };
        self.cold.listeners.notify(&self.name, t);
        episode
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
    #[inline(always)]
    fn finish(&self, episode: u64, outcome: Outcome, elapsed: impl FnOnce() -> u64) {
        let w = self.word();
        // The steady CLOSED success: nothing to time, no failure count to
        // reset, so the word stays as it is (`state::outcome` gives `None`);
        // a window only records it (`Rules::quiet_success`). Only counters
        // move.
        if outcome == Outcome::Success
            && self.slow == 0
            && w.kind() == Kind::Closed
            && w.payload() == 0
            && self.in_episode(w, episode)
            && self
                .rules
                .as_ref()
                .map_or(true, |r| r.quiet_success(|| self.clock.recent()))
        {
            self.counters.incr(Counter::Successes);
            return;
        }
        self.finish_slow(w, episode, outcome, elapsed)
    }

    #[inline(never)]
    fn finish_slow(
        &self,
        mut w: Word,
        episode: u64,
        outcome: Outcome,
        elapsed: impl FnOnce() -> u64,
    ) {
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
        loop {
            let mut seen = None;
            let mut stale = false;
            if !self.in_episode(w, episode) {
                // The episode ended while this outcome was being applied:
                // it was counted in it, and decides nothing in the next.
                return;
            }
            let next = state::outcome(
                w,
                outcome,
                &self.limits,
                || {
                    let now = self.clock.recent();
                    seen = Some(now);
                    match self.deadline(w, now) {
                        Some(deadline) => passed(w, now, deadline),
                        None => {
                            stale = true;
                            false
                        }
                    }
                },
                rule_trips,
            );
            if stale {
                w = self.word();
                continue;
            }
            let Some(next) = next else { return };
            self.before_swap(w, next);
            match self.swap(w, next) {
                Ok(()) => {
                    if next.gen() != w.gen() {
                        let now = seen.unwrap_or_else(|| self.clock.recent());
                        self.transitioned(w, next, now);
                    }
                    return;
                }
                Err(actual) => w = actual,
            }
        }
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
        let permit = self.try_acquire().map_err(CallError::Rejected)?;
        match f() {
            Ok(v) => {
                permit.success();
                Ok(v)
            }
            Err(e) => {
                permit.record(classify(&e));
                Err(CallError::Failed(e))
            }
        }
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
        let now = self.clock.now();
        loop {
            let w = self.word();
            let expired = match w.kind() {
                Kind::Open => self.deadline(w, now).map(|d| passed(w, now, d)),
                Kind::HalfOpen if self.limits.trials.inflight(w) > 0 => {
                    self.deadline(w, now).map(|d| passed(w, now, d))
                }
                _ => Some(false),
            };
            match (w.kind(), expired) {
                (_, None) => continue, // the episode ended while reading
                (Kind::Open, Some(true)) => return State::HalfOpen,
                (Kind::HalfOpen, Some(true)) => return State::Open,
                (k, Some(_)) => return k.into(),
            }
        }
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
        let mut w = self.word();
        while let Some(next) = state::command(w, to) {
            self.before_swap(w, next);
            match self.swap(w, next) {
                Ok(()) => {
                    self.transitioned(w, next, self.clock.now());
                    return;
                }
                Err(actual) => w = actual,
            }
        }
    }

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

impl<C: Clock> Breaker<C> {
    /// Bytes this breaker occupies: the struct plus what it owns on the heap
    /// (the window), not counting the name.
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>() + self.rules.as_ref().map_or(0, |r| r.heap_bytes())
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

/// Permission to make one call. Report its outcome with [`Permit::success`],
/// [`Permit::failure`], [`Permit::ignore`] or [`Permit::record`]; dropping it
/// unreported counts as ignored (and frees a trial slot).
#[must_use = "dropping a permit records the call as ignored"]
pub struct Permit<'a, C: Clock = QuantaClock> {
    breaker: &'a Breaker<C>,
    episode: u64,
    start: u64,
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
    episode: u64,
    start: u64,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_stay_in_step_when_the_generation_wraps() {
        assert_eq!(u64::from(state::GEN_MODULUS) & TAG_MASK, 0);
    }

    #[test]
    fn deadlines_keep_microseconds_exact_and_round_up_below() {
        assert_eq!(time(encode(60_000_000_000, 7)), 60_000_000_000);
        assert_eq!(tag_of(encode(60_000_000_000, 519)), 7);
        assert_eq!(time(encode(1, 0)), 1_000);
        assert_eq!(time(encode(u64::MAX, 511)), LAST);
        let open = Word::INITIAL.enter(Kind::Open, 0);
        let trials = Word::INITIAL.enter(Kind::HalfOpen, 0);
        assert!(
            passed(open, LAST, LAST),
            "an OPEN episode ends at the end of time"
        );
        assert!(!passed(open, LAST - 1, LAST));
        assert!(
            !passed(trials, u64::MAX, LAST),
            "a saturated trial expiry never passes"
        );
        assert!(passed(trials, LAST - 1, LAST - 1000));
    }

    #[test]
    fn episode_numbers_extend_the_generation_both_ways() {
        let m = u64::from(state::GEN_MODULUS);
        assert_eq!(extend(0, 0), 0);
        assert_eq!(extend(0, 5), 5);
        assert_eq!(extend(10 * m + 3, 1), 10 * m + 1, "published ahead");
        assert_eq!(extend(10 * m - 2, 1), 10 * m + 1, "across the wrap");
        assert_eq!(
            extend(10 * m + 1, (m - 1) as u32),
            10 * m - 1,
            "behind, across the wrap"
        );
        assert_eq!(
            extend(u64::MAX - 1, 0),
            u64::MAX.wrapping_add(1),
            "wraps only at 2^64"
        );
    }
}

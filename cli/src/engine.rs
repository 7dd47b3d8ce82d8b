//! The simulation loop: calls arrive from a [`Source`] in time order and go
//! through the real engines (rate limiter, bulkhead, adaptive limiter,
//! adaptive throttler,
//! breaker, retry with its budget) on one simulated clock, which the loop sets to each event's
//! time.
//! Nothing here decides admission, trips, back-off or budgets: the engines
//! do, exactly as in production. The loop only orders events, draws what the
//! dependency answers (or reads it from a trace) and counts.
//!
//! Events are the calls' arrivals (from the source, in order), the
//! completions of calls with a latency, retries after their back-off, and
//! hedges when their delay passes (with a `[hedge]` section: every call is
//! taken as idempotent; the core's `HedgeCall` decides, the loop starts the
//! extra attempts, and a loser's answer, when it comes, is recorded by the
//! breaker as ignored, as a cancelled call is).
//! The last two wait in a heap ordered by time, then by the order they were
//! scheduled, so a run is a pure function of the settings and the seed.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use seawall::{
    AdaptiveLimiter, AdaptiveThrottler, AdaptiveTicket, Backoff, Breaker, Bulkhead, Clock, Hedge,
    HedgeCall, HedgeDecision, Outcome, Permit, Priority, Random, RateLimiter, Resolution,
    RetryBudget, RetryBudgetConfig, RetryState, SeededRandom, State, Stop, Ticket,
};
use seawall_bindings_support::duration::nanos;
use seawall_bindings_support::names::state_number;

use crate::config::Engines;
use crate::report::{HedgeSummary, Histogram, Report, Second, TransitionRecord};
use crate::source::{Answer, Arrival, Source};
use crate::Error;

/// The simulation's clock: the time of the event being handled, set by the
/// loop and read by the engines.
///
/// Not [`seawall::ManualClock`]: that clock wakes the threads and tasks
/// waiting on it at every move, a read-modify-write that would cost more
/// than a breaker's decision at every simulated call. Nothing waits here
/// (the simulated bulkhead refuses rather than queues, and the loop
/// schedules retries itself), so this clock is a plain value, and
/// [`Clock::moves`] is `None` as for a clock no one waits on.
#[derive(Clone, Debug, Default)]
pub struct SimClock(Arc<AtomicU64>);

impl SimClock {
    fn set(&self, at: u64) {
        // Relaxed: one thread sets and reads it.
        self.0.store(at, Ordering::Relaxed);
    }
}

impl Clock for SimClock {
    fn now(&self) -> u64 {
        // Relaxed: see `set`.
        self.0.load(Ordering::Relaxed)
    }
}

/// One second in nanoseconds: the timeline's resolution.
pub const SECOND: u64 = 1_000_000_000;

/// How often (in calls) the loop reports progress.
const PROGRESS_EVERY: u64 = 1 << 16;

/// A pending event in the heap: the earliest time first, then the earliest
/// scheduled.
struct Scheduled {
    key: Reverse<(u64, u64)>,
    event: Pending,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for Scheduled {}

impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key.cmp(&other.key)
    }
}

/// An event waiting for its time.
enum Pending {
    /// An admitted attempt that answers at its time.
    Complete {
        call: Call,
        /// The breaker that admitted it.
        guard: usize,
        ticket: Ticket,
        failed: bool,
        latency: u64,
        bulkhead: bool,
        /// The adaptive limiter's slot, if it admitted the attempt.
        limit: Option<AdaptiveTicket>,
    },
    /// A retry of `call`, due after its back-off.
    Retry(Call),
    /// The hedge delay of `call` (a hedged call's first attempt, as the
    /// template of its extra attempts) passed.
    Hedge(Call),
}

/// A hedged call's state machine, shared by its attempts.
type Hedged = HedgeCall<Arc<Hedge<SimClock>>>;

/// A call in progress: where it goes and, once it has been retried, its
/// retry state. The first attempt carries no state (like the bindings' fast
/// path): it is created, resumed at attempt 1, only when that attempt fails.
struct Call {
    instance: u32,
    client: u32,
    /// The answer a trace recorded for this call, reused by its retries.
    given: Option<Answer>,
    retry: Option<Box<RetryState>>,
    /// When the call arrived: its latency runs from there.
    start: u64,
    /// With hedging: the call's state machine and this attempt's number.
    hedged: Option<(Rc<Hedged>, u32)>,
}

impl Call {
    /// Extra attempt `n` of a hedged call, made from its template.
    fn hedge(&self, n: u32) -> Option<Call> {
        let (call, _) = self.hedged.as_ref()?;
        Some(Call {
            instance: self.instance,
            client: self.client,
            given: self.given,
            retry: None,
            start: self.start,
            hedged: Some((Rc::clone(call), n)),
        })
    }
}

/// One breaker (a client's, for one instance or for all) and the state it
/// is in, kept by its listener so the loop can tell trial calls apart
/// without asking the breaker again.
struct Guard {
    breaker: Breaker<SimClock>,
    state: Arc<AtomicU8>,
}

/// The number of HALF_OPEN in the state a [`Guard`] keeps.
const HALF_OPEN: u8 = state_number(State::HalfOpen) as u8;

/// Runs `source` through `engines` and returns what happened. `progress`
/// is told the share of the source done, from time to time.
pub fn run(
    engines: &Engines,
    seed: u64,
    source: &mut impl Source,
    progress: &mut dyn FnMut(f64),
) -> Result<Report, Error> {
    let clock = SimClock::default();
    let log: Arc<Mutex<Vec<TransitionRecord>>> = Arc::default();
    let limiter = engines
        .rate_limit
        .map(|c| RateLimiter::with_clock(c, clock.clone()))
        .transpose()
        .map_err(|e| Error::Config(e.to_string()))?;
    let bulkhead = engines
        .bulkhead
        .map(|c| Bulkhead::with_clock(c, clock.clone()))
        .transpose()
        .map_err(|e| Error::Config(e.to_string()))?;
    let adaptive = engines
        .adaptive_limiter
        .map(|c| AdaptiveLimiter::with_clock(c, clock.clone()))
        .transpose()
        .map_err(|e| Error::Config(e.to_string()))?;
    let backoff = engines
        .retry
        .map(Backoff::new)
        .transpose()
        .map_err(|e| Error::Config(e.to_string()))?;
    let budget = engines
        .retry_budget
        .map(|c| RetryBudget::with_clock(c, clock.clone()).map(Arc::new))
        .transpose()
        .map_err(|e| Error::Config(e.to_string()))?;
    // Hedges draw from the retry budget, or from a default one of their own.
    let hedge = engines
        .hedge
        .map(|c| {
            let own = || RetryBudget::with_clock(RetryBudgetConfig::default(), clock.clone());
            let budget = match &budget {
                Some(b) => Arc::clone(b),
                None => Arc::new(own()?),
            };
            Hedge::with_clock(c, budget, clock.clone()).map(Arc::new)
        })
        .transpose()
        .map_err(|e| Error::Config(e.to_string()))?;
    // The throttler's draws have their own seeded sequence, apart from the
    // dependency's.
    let throttler = engines
        .throttle
        .map(|c| {
            let random = SeededRandom::new(seed ^ 0x7A60_77E5_u64 << 32);
            AdaptiveThrottler::with_clock_and_random(c, clock.clone(), random)
        })
        .transpose()
        .map_err(|e| Error::Config(e.to_string()))?;

    let mut sim = Sim {
        clock,
        guards: Vec::new(),
        per_instance: engines.breaker_per_instance,
        clients: source.clients(),
        breaker: engines.breaker.clone(),
        seed,
        log: Arc::clone(&log),
        limiter,
        bulkhead,
        adaptive,
        backoff,
        budget,
        hedge,
        latencies: Histogram::default(),
        throttler,
        draws: SeededRandom::new(seed),
        heap: BinaryHeap::new(),
        scheduled: 0,
        timeline: Timeline::default(),
        latency: Default::default(),
    };
    // The first breaker now: a configuration it refuses is an error here.
    sim.guard(0, 0)?;
    if sim.is_plain() && source.instant() {
        sim.run_plain(source, progress)?;
    } else {
        let mut calls = 0u64;
        while let Some(arrival) = source.next_arrival(&sim.draws)? {
            sim.drain_until(arrival.at, source);
            sim.arrive(arrival, source);
            calls += 1;
            if calls % PROGRESS_EVERY == 0 {
                progress(source.done());
            }
        }
        sim.drain_until(u64::MAX, source);
    }
    progress(1.0);

    let transitions = std::mem::take(&mut *log.lock().expect("no listener panicked"));
    let mut report = Report::new(
        sim.timeline.seconds,
        transitions,
        source.episodes(),
        source.end(),
        !engines.breaker_per_instance,
        sim.clients,
        [&sim.latency[0], &sim.latency[1]],
    );
    if !source.instant() {
        report.call_latency = sim.latencies.summary();
    }
    report.hedging = sim.hedge.map(|h| {
        let m = h.metrics();
        HedgeSummary {
            hedges: m.hedges,
            refused: m.refused,
            wins: m.wins,
        }
    });
    Ok(report)
}

struct Sim {
    clock: SimClock,
    /// The breakers, made as the instances they serve first appear.
    guards: Vec<Guard>,
    per_instance: bool,
    /// The calling fleet's clients, each with its own breakers.
    clients: u32,
    breaker: seawall::BreakerConfig,
    seed: u64,
    log: Arc<Mutex<Vec<TransitionRecord>>>,
    limiter: Option<RateLimiter<SimClock>>,
    bulkhead: Option<Bulkhead<SimClock>>,
    adaptive: Option<AdaptiveLimiter<SimClock>>,
    backoff: Option<Backoff>,
    budget: Option<Arc<RetryBudget<SimClock>>>,
    hedge: Option<Arc<Hedge<SimClock>>>,
    /// The latencies of the calls that succeeded, from arrival to the
    /// answer.
    latencies: Histogram,
    throttler: Option<AdaptiveThrottler<SimClock>>,
    /// The dependency's draws (failure, latency, arrivals), one sequence.
    draws: SeededRandom,
    heap: BinaryHeap<Scheduled>,
    /// Events scheduled so far: the tie-break of equal times.
    scheduled: u64,
    timeline: Timeline,
    /// The admitted attempts' latencies: made while the dependency was
    /// healthy, and while it was not.
    latency: [Histogram; 2],
}

impl Sim {
    /// The index of the breaker `client` calls `instance` through, made on
    /// first use: each client's own, one per instance with `per_instance`.
    #[inline]
    fn guard(&mut self, instance: u32, client: u32) -> Result<usize, Error> {
        let i = if self.per_instance {
            instance as usize * self.clients as usize + client as usize
        } else {
            client as usize
        };
        if i < self.guards.len() {
            return Ok(i);
        }
        self.add_guards(i)
    }

    #[cold]
    fn add_guards(&mut self, i: usize) -> Result<usize, Error> {
        while self.guards.len() <= i {
            let n = self.guards.len() as u32;
            let name = if self.per_instance || self.clients > 1 {
                format!("sim-{n}")
            } else {
                "sim".to_owned()
            };
            // Each breaker's jitter has its own seeded sequence, apart from
            // the dependency's draws.
            let random = SeededRandom::new(self.seed ^ (0xB4EA_u64 << 32 | u64::from(n)));
            let breaker = Breaker::with_clock_and_random(
                name,
                self.breaker.clone(),
                self.clock.clone(),
                random,
            )
            .map_err(|e| Error::Config(e.to_string()))?;
            let state = Arc::new(AtomicU8::new(0));
            let (seen, log) = (Arc::clone(&state), Arc::clone(&self.log));
            breaker.add_listener(move |_: &str, t: seawall::Transition| {
                // Relaxed: the simulation runs on one thread; the listener
                // runs inside the engine call that made the transition.
                seen.store(state_number(t.to) as u8, Ordering::Relaxed);
                log.lock()
                    .expect("the listener never panics while holding the log")
                    .push(TransitionRecord::new(n, &t));
            });
            self.guards.push(Guard { breaker, state });
        }
        Ok(i)
    }

    fn schedule(&mut self, at: u64, event: Pending) {
        self.heap.push(Scheduled {
            key: Reverse((at, self.scheduled)),
            event,
        });
        self.scheduled += 1;
    }

    /// Whether every call goes to the one breaker and nothing else: no rate
    /// limiter, bulkhead, adaptive limiter or retries, one client, one
    /// breaker for every instance.
    fn is_plain(&self) -> bool {
        self.limiter.is_none()
            && self.bulkhead.is_none()
            && self.throttler.is_none()
            && self.adaptive.is_none()
            && self.backoff.is_none()
            && self.hedge.is_none()
            && !self.per_instance
            && self.clients == 1
    }

    /// The loop of a plain run ([`Sim::is_plain`]) whose answers all come
    /// at once: every call is one `try_acquire` and, if admitted, one
    /// `record`, so there is nothing to schedule, and the current second's
    /// counts stay in locals. The engine calls, the draws and the counts are
    /// the general loop's (`tests/simulate.rs` compares the two).
    fn run_plain<S: Source>(
        &mut self,
        source: &mut S,
        progress: &mut dyn FnMut(f64),
    ) -> Result<(), Error> {
        let Guard { breaker, state } = &self.guards[0];
        let mut sec = Second::default();
        let (mut index, mut end) = (0usize, SECOND);
        let mut calls = 0u64;
        while let Some(a) = source.next_arrival(&self.draws)? {
            if a.at >= end {
                self.timeline.put(index, std::mem::take(&mut sec));
                index = (a.at / SECOND) as usize;
                end = (a.at / SECOND + 1) * SECOND;
            }
            self.clock.set(a.at);
            let degraded = source.degraded(a.at, a.instance);
            sec.calls += 1;
            sec.attempts += 1;
            sec.degraded |= degraded;
            match breaker.try_acquire() {
                Ok(permit) => {
                    // Relaxed: see the listener; the same thread wrote it.
                    let trial = state.load(Ordering::Relaxed) == HALF_OPEN;
                    let answer = source.answer(a.at, a.instance, &self.draws);
                    permit.record(outcome(answer.failed));
                    sec.admitted += 1;
                    sec.trials += u32::from(trial);
                    sec.reached_while_degraded += u32::from(degraded);
                    sec.failures += u32::from(answer.failed);
                    sec.successes += u32::from(!answer.failed);
                }
                Err(_) => {
                    sec.rejected += 1;
                    sec.rejected_while_degraded += u32::from(degraded);
                }
            }
            calls += 1;
            if calls % PROGRESS_EVERY == 0 {
                progress(source.done());
            }
        }
        self.timeline.put(index, sec);
        Ok(())
    }

    /// Handles every pending event due at or before `until`, in order.
    #[inline]
    fn drain_until<S: Source>(&mut self, until: u64, source: &mut S) {
        while self.heap.peek().is_some_and(|e| e.key.0 .0 <= until) {
            let Some(Scheduled { key, event }) = self.heap.pop() else {
                break;
            };
            let at = key.0 .0;
            self.clock.set(at);
            match event {
                Pending::Complete {
                    call,
                    guard,
                    ticket,
                    failed,
                    latency,
                    bulkhead,
                    limit,
                } => {
                    let took = Duration::from_nanos(latency);
                    let lost = call.hedged.as_ref().is_some_and(|(h, _)| h.is_decided());
                    if lost {
                        // Cancelled when the call was decided: neutral.
                        self.guards[guard]
                            .breaker
                            .record_elapsed(ticket, Outcome::Ignored, took);
                        self.release_limit(limit, Outcome::Ignored, latency);
                        if bulkhead {
                            self.release_bulkhead();
                        }
                        continue;
                    }
                    self.record_answer(failed);
                    self.guards[guard]
                        .breaker
                        .record_elapsed(ticket, outcome(failed), took);
                    self.release_limit(limit, outcome(failed), latency);
                    self.finish(at, call, failed, latency, bulkhead);
                }
                Pending::Retry(call) => self.start(at, call, source),
                Pending::Hedge(template) => self.hedge_due(at, template, source),
            }
        }
    }

    #[inline]
    fn arrive<S: Source>(&mut self, arrival: Arrival, source: &mut S) {
        self.clock.set(arrival.at);
        self.timeline.at(arrival.at).calls += 1;
        if let Some(budget) = &self.budget {
            // The call's first attempt is a request in the budget's window.
            budget.record_attempt(false);
        }
        let hedged = self.hedge.as_ref().map(|h| {
            // The call is a request in the hedge's budget, counted above
            // when that is the retry budget.
            let call = HedgeCall::new(Arc::clone(h), arrival.at, true, self.budget.is_none());
            (Rc::new(call), 0)
        });
        let call = Call {
            instance: arrival.instance,
            client: arrival.client,
            given: arrival.given,
            retry: None,
            start: arrival.at,
            hedged,
        };
        self.start(arrival.at, call, source);
    }

    /// A call's first attempt or a retry, then, for a hedged call, the
    /// timer of its first extra attempt.
    fn start<S: Source>(&mut self, at: u64, call: Call, source: &mut S) {
        let template = call.hedge(0);
        self.attempt(at, call, source);
        if let Some(template) = template {
            self.schedule_hedge(at, template);
        }
    }

    /// Schedules the next extra attempt of the call `template` stands for,
    /// if one may come.
    fn schedule_hedge(&mut self, at: u64, template: Call) {
        let next = template.hedged.as_ref().and_then(|(h, _)| h.next_delay(at));
        if let Some(delay) = next {
            self.schedule(at.saturating_add(nanos(delay)), Pending::Hedge(template));
        }
    }

    /// A hedged call's delay passed: the core decides whether an extra
    /// attempt starts now.
    fn hedge_due<S: Source>(&mut self, at: u64, template: Call, source: &mut S) {
        let Some((h, _)) = &template.hedged else {
            return;
        };
        match h.may_hedge(at) {
            HedgeDecision::Start(n) => {
                let attempt = template.hedge(n).expect("a hedged template");
                self.attempt(at, attempt, source);
                self.schedule_hedge(at, template);
            }
            HedgeDecision::Wait(_) => self.schedule_hedge(at, template),
            HedgeDecision::Refused | HedgeDecision::Done | HedgeDecision::AllFailed => {}
        }
    }

    /// An attempt of `call` refused before it reached the dependency: gives
    /// back the bulkhead slot and the adaptive limiter slot it took, if
    /// any, and tells its hedged call; `true` when that ends the call (an
    /// unhedged call's refusal does; a hedged call's other attempts may run
    /// on).
    fn refused(&self, at: u64, call: &Call, bulkhead: bool, limit: Option<AdaptiveTicket>) -> bool {
        if bulkhead {
            self.release_bulkhead();
        }
        self.release_limit(limit, Outcome::Ignored, 0);
        match &call.hedged {
            None => true,
            Some((h, n)) => h.record_attempt_result(*n, at, false) == Resolution::Failed,
        }
    }

    /// One attempt of `call` at `at` (the clock already reads `at`).
    #[inline]
    fn attempt<S: Source>(&mut self, at: u64, call: Call, source: &mut S) {
        let degraded = match call.given {
            Some(given) => given.failed,
            None => source.degraded(at, call.instance),
        };
        let g = self
            .guard(call.instance, call.client)
            .expect("the configuration was accepted by the first breaker");
        let sec = self.timeline.at(at);
        sec.attempts += 1;
        sec.retries += u32::from(call.retry.is_some());
        sec.degraded |= degraded;

        if let Some(limiter) = &self.limiter {
            if limiter.check().is_err() {
                // A refusal of the limiter ends the call, as it does in the
                // bindings (a limiter's refusal is not retried).
                self.timeline.at(at).rate_limited += 1;
                self.refused(at, &call, false, None);
                return;
            }
        }
        let bulkhead = match &self.bulkhead {
            Some(b) => match b.try_take() {
                Some(permit) => {
                    // The slot is given back when the attempt completes.
                    permit.detach();
                    true
                }
                None => {
                    self.timeline.at(at).bulkhead_full += 1;
                    self.refused(at, &call, false, None);
                    return;
                }
            },
            None => false,
        };
        let limit = match &self.adaptive {
            Some(l) => match l.try_acquire() {
                // The slot is given back, with the attempt's outcome and
                // latency, when it completes.
                Ok(permit) => Some(permit.detach()),
                Err(_) => {
                    self.timeline.at(at).limit_reached += 1;
                    self.refused(at, &call, bulkhead, None);
                    return;
                }
            },
            None => None,
        };
        if let Some(t) = &self.throttler {
            if t.check(Priority::Normal).is_err() {
                // Shed locally: never sent, and (like a limiter's refusal)
                // not retried. An admitted attempt's answer is recorded
                // when it comes; one the breaker rejects never reached the
                // dependency and is recorded nowhere.
                self.timeline.at(at).throttled += 1;
                self.refused(at, &call, bulkhead, limit);
                return;
            }
        }
        let acquired = self.guards[g].breaker.try_acquire();
        let ticket = match acquired.map(Permit::into_ticket) {
            Ok(ticket) => ticket,
            Err(rejected) => {
                let sec = self.timeline.at(at);
                sec.rejected += 1;
                sec.rejected_while_degraded += u32::from(degraded);
                if self.refused(at, &call, bulkhead, limit) {
                    self.after_rejection(at, call, rejected.retry_after);
                }
                return;
            }
        };
        // Relaxed: see the listener; the same thread wrote it.
        let trial = self.guards[g].state.load(Ordering::Relaxed) == HALF_OPEN;
        let answer = match call.given {
            Some(given) => given,
            None => source.answer(at, call.instance, &self.draws),
        };
        let sec = self.timeline.at(at);
        sec.admitted += 1;
        sec.trials += u32::from(trial);
        sec.reached_while_degraded += u32::from(degraded);
        self.latency[usize::from(degraded)].record(answer.latency);
        if answer.latency == 0 {
            self.record_answer(answer.failed);
            self.guards[g]
                .breaker
                .record(ticket, outcome(answer.failed));
            self.release_limit(limit, outcome(answer.failed), 0);
            if answer.failed || bulkhead || call.hedged.is_some() {
                self.finish(at, call, answer.failed, 0, bulkhead);
            } else {
                // The common case, counted here: a success, at once.
                self.timeline.at(at).successes += 1;
                self.latencies.record(at - call.start);
            }
        } else {
            self.schedule(
                at.saturating_add(answer.latency),
                Pending::Complete {
                    call,
                    guard: g,
                    ticket,
                    failed: answer.failed,
                    latency: answer.latency,
                    bulkhead,
                    limit,
                },
            );
        }
    }

    /// Counts an admitted attempt's answer at `at` and, if it failed,
    /// asks the retry state for the next attempt.
    fn finish(&mut self, at: u64, mut call: Call, failed: bool, latency: u64, bulkhead: bool) {
        if bulkhead {
            self.release_bulkhead();
        }
        let sec = self.timeline.at(at);
        sec.failures += u32::from(failed);
        sec.successes += u32::from(!failed);
        sec.latency_sum += latency;
        if let Some((h, n)) = &call.hedged {
            // Only the attempt that decides the call goes on: the winner,
            // or the last failure.
            match h.record_attempt_result(*n, at, !failed) {
                Resolution::Won => {}
                Resolution::Failed => {}
                Resolution::Pending | Resolution::Lost | Resolution::Invalid => return,
            }
        }
        if !failed {
            self.latencies.record(at - call.start);
            return;
        }
        let Some(backoff) = &self.backoff else {
            return;
        };
        let state = call
            .retry
            .get_or_insert_with(|| Box::new(RetryState::resumed(backoff, 1)));
        let draws = &self.draws;
        let decision = state.on_failure(true, self.budget.as_deref(), || draws.unit());
        self.next_attempt(at, call, decision);
    }

    fn after_rejection(&mut self, at: u64, mut call: Call, retry_after: Option<Duration>) {
        let Some(backoff) = &self.backoff else {
            return;
        };
        let state = call
            .retry
            .get_or_insert_with(|| Box::new(RetryState::resumed(backoff, 1)));
        let decision = state.on_rejection(retry_after, self.budget.as_deref());
        self.next_attempt(at, call, decision);
    }

    fn next_attempt(&mut self, at: u64, mut call: Call, decision: Result<Duration, Stop>) {
        match decision {
            Ok(delay) => {
                if let Some(state) = &mut call.retry {
                    state.begin_attempt();
                }
                let due = at.saturating_add(nanos(delay));
                if let (Some(hedge), Some(_)) = (&self.hedge, &call.hedged) {
                    // A retry is a hedged call of its own, counted in the
                    // budget when the retry was granted.
                    let fresh = HedgeCall::new(Arc::clone(hedge), due, true, false);
                    call.hedged = Some((Rc::new(fresh), 0));
                }
                self.schedule(due, Pending::Retry(call));
            }
            Err(Stop::BudgetExhausted) => self.timeline.at(at).budget_exhausted += 1,
            Err(_) => self.timeline.at(at).gave_up += 1,
        }
    }

    /// Tells the throttler, if any, whether the dependency accepted an
    /// attempt it let through.
    fn record_answer(&self, failed: bool) {
        if let Some(t) = &self.throttler {
            t.record(!failed);
        }
    }

    /// Frees the adaptive limiter's slot `limit` (if the attempt took one),
    /// teaching it the attempt's outcome and latency.
    fn release_limit(&self, limit: Option<AdaptiveTicket>, outcome: Outcome, latency: u64) {
        if let (Some(l), Some(ticket)) = (&self.adaptive, limit) {
            l.complete(ticket, outcome, Some(Duration::from_nanos(latency)));
        }
    }

    fn release_bulkhead(&self) {
        if let Some(b) = &self.bulkhead {
            b.release_detached();
        }
    }
}

/// The per-second timeline. Times asked never go back, so the current
/// second's entry is found without a division.
#[derive(Default)]
struct Timeline {
    seconds: Vec<Second>,
    /// The last second asked for: its index, and its end in nanoseconds.
    index: usize,
    to: u64,
}

impl Timeline {
    /// Sets the counts of second `index`, which no event has counted in.
    fn put(&mut self, index: usize, counts: Second) {
        if self.seconds.len() <= index {
            self.seconds.resize_with(index + 1, Default::default);
        }
        self.seconds[index] = counts;
    }

    #[inline]
    fn at(&mut self, at: u64) -> &mut Second {
        if at >= self.to || self.seconds.is_empty() {
            self.index = (at / SECOND) as usize;
            self.to = (at / SECOND + 1) * SECOND;
            if self.seconds.len() <= self.index {
                self.seconds.resize_with(self.index + 1, Default::default);
            }
        }
        &mut self.seconds[self.index]
    }
}

fn outcome(failed: bool) -> Outcome {
    if failed {
        Outcome::Failure
    } else {
        Outcome::Success
    }
}

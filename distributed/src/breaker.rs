//! The distributed breaker: a local [`seawall::Breaker`] plus the fleet
//! overlay. The call path reads one overlay word besides the local breaker:
//! no I/O, no lock, no allocation, the same whether the store is up, down or
//! hung.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use seawall::telemetry::Catalog;
use seawall::{
    Breaker, BreakerConfig, CallError, Clock, Metrics, Outcome, Permit, QuantaClock, Rejected,
    State, Ticket, Transition,
};

use crate::config::FleetConfig;
use crate::coordinator::{Coordinator, Inner};
use crate::keys::Keys;
use crate::member::{Books, Counts, Entry, FleetEvent, Shared};
use crate::overlay::{self, Overlay, Verdict};
use crate::store::{Command, FleetKind, WindowStats};
use crate::Error;

struct Member<C: Clock> {
    shared: Shared,
    local: Breaker<C>,
}

impl<C: Clock> Entry for Member<C> {
    fn shared(&self) -> &Shared {
        &self.shared
    }

    fn now(&self) -> u64 {
        self.local.clock().now()
    }

    fn counts(&self) -> Counts {
        let m = self.local.metrics();
        Counts {
            successes: m.successes,
            failures: m.failures,
            slow: m.slow_calls,
        }
    }

    fn forced(&self) -> bool {
        matches!(self.local.state(), State::ForcedOpen | State::ForcedClosed)
    }

    fn command_local(&self, cmd: Command) {
        match cmd {
            Command::Reset => self.local.reset(),
            Command::ForceOpen => self.local.force_open(),
            Command::ForceClosed => self.local.force_closed(),
        }
    }
}

/// The fleet side of a breaker, for monitoring.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FleetStatus {
    /// The fleet state last learned (CLOSED before anything is known).
    pub state: State,
    /// Its generation within its epoch.
    pub generation: u64,
    /// The epoch: renamed whenever the store lost the state (restart
    /// without persistence, FLUSHALL, expiry); empty when none is stored.
    pub epoch: String,
    /// True while the store is unreachable: the local breaker decides.
    pub degraded: bool,
    /// Successes in the fleet window at the last flush.
    pub window_successes: u64,
    /// Failures in the fleet window at the last flush.
    pub window_failures: u64,
    /// Distinct instances with failures in the window at the last flush.
    pub failing_instances: u64,
    /// Instances that reported recently, at the last flush.
    pub live_instances: u64,
    /// Calls rejected by the fleet (not counted by the local breaker).
    pub rejected: u64,
    /// Flushes of outcome counts sent.
    pub flushes: u64,
    /// Fleet trial permits leased to this instance.
    pub trials_granted: u64,
    /// Trial results the store ignored as belonging to an older generation.
    pub fenced: u64,
    /// Flushes that found another instance's configuration stored: the
    /// fleet disagrees on this breaker's settings (a rolling deploy, or a
    /// mistake). See [`FleetEvent::ConfigMismatch`].
    pub config_conflicts: u64,
}

/// A circuit breaker whose OPEN and HALF_OPEN are shared by a fleet of
/// instances through a store (Redis), on top of a local breaker that keeps
/// deciding on its own.
///
/// A call is admitted only if both admit: a local OPEN rejects even while
/// the fleet is CLOSED; a fleet OPEN rejects even while the local breaker is
/// CLOSED; while the fleet is HALF_OPEN a call also needs one of the fleet's
/// `half_open_max_calls` trial permits, leased ahead of time into a local
/// pool. Operator commands (`force_open`, `force_closed`, `reset`) apply at
/// once locally and then fleet-wide.
pub struct DistributedBreaker<C: Clock = QuantaClock> {
    member: Arc<Member<C>>,
    /// Retry hint while the fleet is HALF_OPEN and no permit is free.
    sync_interval: Duration,
    coordinator: Coordinator,
}

impl DistributedBreaker<QuantaClock> {
    /// A distributed breaker on the production clock.
    pub fn new(
        name: &str,
        config: BreakerConfig,
        fleet: FleetConfig,
        coordinator: &Coordinator,
    ) -> Result<Self, Error> {
        Self::with_clock(name, config, fleet, coordinator, QuantaClock)
    }
}

impl<C: Clock> DistributedBreaker<C> {
    /// A distributed breaker whose local breaker reads `clock`.
    pub fn with_clock(
        name: &str,
        config: BreakerConfig,
        fleet: FleetConfig,
        coordinator: &Coordinator,
        clock: C,
    ) -> Result<Self, Error> {
        let inner = coordinator.inner();
        let keys = Keys::new(&inner.config.namespace, name)?;
        let params = fleet.params(&config, &keys, &inner.nonce)?;
        let local = Breaker::with_clock(name, config, clock)?;
        // A local trip flushes at once: the fleet hears of it without
        // waiting for the next tick.
        let weak: Weak<Inner> = Arc::downgrade(inner);
        local.add_listener(move |_: &str, t: Transition| {
            if t.to == State::Open {
                if let Some(inner) = weak.upgrade() {
                    inner.wake();
                }
            }
        });
        let member = Arc::new(Member {
            shared: Shared::new(keys, params, fleet.urgent()),
            local,
        });
        if inner.is_degraded() {
            member.shared.overlay.store(
                Overlay::new(overlay::CLOSED, 0, true).0,
                // Relaxed: not yet shared with any caller.
                Ordering::Relaxed,
            );
        }
        let entry: Arc<dyn Entry> = member.clone();
        inner.register(Arc::downgrade(&entry));
        Ok(Self {
            member,
            sync_interval: inner.config.sync_interval,
            coordinator: coordinator.clone(),
        })
    }

    /// The breaker's name.
    pub fn name(&self) -> &str {
        self.member.local.name()
    }

    /// The local breaker's configuration.
    pub fn config(&self) -> &BreakerConfig {
        self.member.local.config()
    }

    /// The local breaker (its own state, metrics and listeners).
    pub fn local(&self) -> &Breaker<C> {
        &self.member.local
    }

    /// Registers a listener for the local breaker's transitions.
    pub fn add_listener(&self, listener: impl seawall::Listener + 'static) {
        self.member.local.add_listener(listener);
    }

    /// Registers a listener for fleet events (state changes, degraded,
    /// recovered), called on the coordinator thread. One registered during
    /// an outage this breaker was told of hears its `Degraded` at once, on
    /// the registering thread; a breaker created during an outage is told
    /// of it at the coordinator's next failed reconnection.
    pub fn add_fleet_listener(&self, listener: impl Fn(&str, &FleetEvent) + Send + Sync + 'static) {
        self.member.shared.add_listener(Arc::new(listener));
    }

    #[inline]
    fn overlay(&self) -> Overlay {
        // Acquire: pairs with the coordinator's Release store, so the pool
        // and results it reset before publishing are seen reset.
        Overlay(self.member.shared.overlay.load(Ordering::Acquire))
    }

    /// Asks for permission to make one call: the stricter of the fleet and
    /// the local breaker.
    #[inline]
    pub fn try_acquire(&self) -> Result<DistributedPermit<'_, C>, Rejected> {
        let ov = self.overlay();
        // The fleet's part first (nothing to do while it is CLOSED), then the
        // local breaker's, built in one place: the permit stays in registers
        // on the CLOSED path instead of being merged through the stack.
        let trial = if ov.kind() == overlay::CLOSED {
            None
        } else {
            self.fleet_admission(ov)?
        };
        match self.member.local.try_acquire() {
            Ok(permit) => Ok(DistributedPermit {
                permit,
                fleet: FleetPart {
                    breaker: self,
                    trial,
                },
            }),
            Err(r) => {
                if let Some(tag) = trial {
                    self.member.shared.pool.give_back(tag);
                }
                Err(r)
            }
        }
    }

    /// What the fleet says while it is not CLOSED: a rejection, or admission
    /// holding the trial permit tagged `Some(tag)`, or no restriction
    /// (`None`: the local breaker decides alone).
    #[inline(never)]
    fn fleet_admission(&self, ov: Overlay) -> Result<Option<u32>, Rejected> {
        let s = &self.member.shared;
        if ov.kind() == overlay::OPEN {
            let now = self.member.local.clock().recent();
            if now < ov.deadline() {
                s.rejections.incr();
                return Err(Rejected {
                    state: State::Open,
                    retry_after: Some(Duration::from_nanos(ov.deadline() - now)),
                });
            }
        }
        if ov.degraded() {
            // A fleet OPEN known before the outage has ended: the local
            // breaker decides alone until the store is back.
            return Ok(None);
        }
        // Fleet HALF_OPEN (or OPEN past its deadline: the store moves it to
        // HALF_OPEN when the coordinator asks for a permit).
        let Some(tag) = s.pool.take() else {
            // Relaxed: a hint read by the coordinator; load first so a
            // stream of rejections does not keep writing the line.
            if !s.demand.load(Ordering::Relaxed) {
                s.demand.store(true, Ordering::Relaxed);
            }
            s.rejections.incr();
            return Err(Rejected {
                state: State::HalfOpen,
                retry_after: Some(self.sync_interval),
            });
        };
        Ok(Some(tag))
    }

    /// Runs `f` under the breaker; every `Err` counts as a failure.
    pub fn call<T, E>(&self, f: impl FnOnce() -> Result<T, E>) -> Result<T, CallError<E>> {
        self.call_classified(f, |_| Outcome::Failure)
    }

    /// Runs `f` under the breaker; `classify` decides what each `Err` counts
    /// as. A panic in `f` unwinds through the permit (recorded as ignored).
    pub fn call_classified<T, E>(
        &self,
        f: impl FnOnce() -> Result<T, E>,
        classify: impl FnOnce(&E) -> Outcome,
    ) -> Result<T, CallError<E>> {
        seawall::protected_call(self.try_acquire(), f, classify)
    }

    /// The effective state: a forced local state (an operator's command)
    /// wins; otherwise the stricter of the fleet's and the local one.
    pub fn state(&self) -> State {
        let local = self.member.local.state();
        if matches!(local, State::ForcedOpen | State::ForcedClosed | State::Open) {
            return local;
        }
        let ov = self.overlay();
        let fleet = match ov.kind() {
            overlay::OPEN if self.member.local.clock().now() < ov.deadline() => State::Open,
            overlay::OPEN | overlay::HALF_OPEN if !ov.degraded() => State::HalfOpen,
            _ => State::Closed,
        };
        match (fleet, local) {
            (State::Closed, l) => l,
            (f, _) => f,
        }
    }

    /// The local breaker's metrics, with the effective state and the fleet's
    /// rejections added to `rejected`.
    pub fn metrics(&self) -> Metrics {
        let mut m = self.member.local.metrics();
        m.state = self.state();
        m.rejected += self.member.shared.rejections.total();
        m
    }

    /// What this instance knows of the fleet.
    pub fn fleet(&self) -> FleetStatus {
        let s = &self.member.shared;
        let b: std::sync::MutexGuard<'_, Books> = s.books();
        let WindowStats {
            successes,
            failures,
            failing_instances,
            live_instances,
            config: _,
        } = b.stats;
        FleetStatus {
            state: b.kind.map_or(State::Closed, FleetKind::state),
            generation: b.gen,
            epoch: b.epoch.clone(),
            degraded: self.coordinator.is_degraded(),
            window_successes: successes,
            window_failures: failures,
            failing_instances,
            live_instances,
            rejected: s.rejections.total(),
            flushes: b.flushes,
            trials_granted: b.trials_granted,
            fenced: b.fenced,
            config_conflicts: b.config_conflicts,
        }
    }

    /// Adds this breaker to `catalog`: its [`metrics`](Self::metrics) as a
    /// breaker's families, and the fleet's state and the store's health
    /// (`seawall_breaker_fleet_state`, `seawall_breaker_fleet_degraded`).
    pub fn export(&self, catalog: &mut Catalog) {
        catalog.breaker(self.name(), &self.metrics());
        let f = self.fleet();
        catalog.fleet(self.name(), f.state, f.degraded);
    }

    fn command(&self, cmd: Command) {
        let s = &self.member.shared;
        // The byte first, then the local change: a coordinator that sees the
        // change sees the command pending and does not undo it with a view
        // from before it. Release: pairs with the Acquire load in `apply`.
        s.command.store(cmd as u8 + 1, Ordering::Release);
        self.member.command_local(cmd);
        self.coordinator.inner().wake();
    }

    /// Opens the breaker here at once and across the fleet (an operator's
    /// action), until `reset` or `force_closed`.
    pub fn force_open(&self) {
        self.command(Command::ForceOpen);
    }

    /// Admits every call here at once and across the fleet, until `reset`
    /// or `force_open`.
    pub fn force_closed(&self) {
        self.command(Command::ForceClosed);
    }

    /// Closes the breaker here at once and across the fleet, with no
    /// failures counted and no back-off.
    pub fn reset(&self) {
        self.command(Command::Reset);
    }

    #[cfg(test)]
    pub(crate) fn shared(&self) -> &Shared {
        &self.member.shared
    }

    /// The coordinator this breaker reports to.
    pub fn coordinator(&self) -> &Coordinator {
        &self.coordinator
    }
}

impl<C: Clock> std::fmt::Debug for DistributedBreaker<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DistributedBreaker")
            .field("name", &self.name())
            .field("overlay", &self.overlay())
            .finish_non_exhaustive()
    }
}

/// Permission to make one call through a [`DistributedBreaker`]. Report its
/// outcome like a [`seawall::Permit`]; dropping it counts as ignored (and
/// frees a fleet trial permit).
#[must_use = "dropping a permit records the call as ignored"]
pub struct DistributedPermit<'a, C: Clock = QuantaClock> {
    /// The local breaker's permit (dropped unreported: ignored).
    permit: Permit<'a, C>,
    fleet: FleetPart<'a, C>,
}

/// What a permit means to the fleet. Dropped unreported, it frees its
/// trial permit. Kept apart from the local permit so that
/// `DistributedPermit` needs no `Drop` of its own and reporting moves both
/// out with nothing left to check.
struct FleetPart<'a, C: Clock> {
    breaker: &'a DistributedBreaker<C>,
    /// The generation tag of the fleet trial permit this call holds.
    trial: Option<u32>,
}

impl<C: Clock> FleetPart<'_, C> {
    #[inline]
    fn report(mut self, outcome: Outcome) {
        self.breaker.after(self.trial.take(), outcome);
    }
}

impl<C: Clock> Drop for FleetPart<'_, C> {
    #[inline]
    fn drop(&mut self) {
        if let Some(tag) = self.trial.take() {
            self.breaker.after(Some(tag), Outcome::Ignored);
        }
    }
}

impl<C: Clock> DistributedPermit<'_, C> {
    /// Reports `outcome`.
    #[inline]
    pub fn record(self, outcome: Outcome) {
        let DistributedPermit { permit, fleet } = self;
        permit.record(outcome);
        fleet.report(outcome);
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

    /// The generation tag of the fleet trial permit held (tests).
    #[cfg(test)]
    pub(crate) fn trial_tag(&self) -> Option<u32> {
        self.fleet.trial
    }

    /// Detaches the permit from the borrow of its breaker, for bindings that
    /// keep the breaker behind their own handle. Report it with
    /// [`DistributedBreaker::record`] on the same breaker.
    pub fn into_ticket(self) -> FleetTicket {
        let DistributedPermit { permit, mut fleet } = self;
        FleetTicket {
            ticket: permit.into_ticket(),
            trial: fleet.trial.take(),
        }
    }

    /// Is this call one of the fleet's trial calls?
    pub fn is_fleet_trial(&self) -> bool {
        self.fleet.trial.is_some()
    }
}

impl<C: Clock> seawall::Report for DistributedPermit<'_, C> {
    // `always`: a forward, inlined for generic callers as `seawall::Permit`'s.
    #[inline(always)]
    fn record(self, outcome: Outcome) {
        DistributedPermit::record(self, outcome)
    }
}

/// A [`DistributedPermit`] detached from its breaker (see
/// [`DistributedPermit::into_ticket`]). Not `Clone`: one call, one outcome.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a ticket must be reported with DistributedBreaker::record"]
pub struct FleetTicket {
    ticket: Ticket,
    trial: Option<u32>,
}

impl FleetTicket {
    /// The raw parts, for bindings that must store a ticket as plain data:
    /// the local ticket's parts (see [`Ticket::into_parts`]) and the
    /// generation tag of the fleet trial permit held, if any.
    pub fn into_parts(self) -> (u64, u64, Option<u32>) {
        let (episode, start) = self.ticket.into_parts();
        (episode, start, self.trial)
    }

    /// Rebuilds a ticket from [`FleetTicket::into_parts`]. Parts that did not
    /// come from this breaker report an outcome for whatever local episode
    /// they name, and a trial verdict only if their tag is the fleet's
    /// current trial generation.
    pub fn from_parts(episode: u64, start: u64, trial: Option<u32>) -> Self {
        Self {
            ticket: Ticket::from_parts(episode, start),
            trial,
        }
    }
}

impl<C: Clock> DistributedBreaker<C> {
    /// Reports the outcome of a call made under a detached ticket.
    pub fn record(&self, ticket: FleetTicket, outcome: Outcome) {
        self.member.local.record(ticket.ticket, outcome);
        self.after(ticket.trial, outcome);
    }

    /// As [`DistributedBreaker::record`], for a call the caller timed
    /// itself: `elapsed` decides whether it was slow.
    pub fn record_elapsed(&self, ticket: FleetTicket, outcome: Outcome, elapsed: Duration) {
        self.member
            .local
            .record_elapsed(ticket.ticket, outcome, elapsed);
        self.after(ticket.trial, outcome);
    }

    /// Restarts the local breaker's metrics and the fleet rejection count
    /// from zero (the fleet's counts are not affected).
    pub fn clear_metrics(&self) {
        self.member.local.clear_metrics();
        self.member.shared.rejections.clear();
    }

    /// What an outcome means beyond the local breaker: a trial's verdict
    /// for the fleet, or a failure towards an early flush.
    #[inline]
    fn after(&self, trial: Option<u32>, outcome: Outcome) {
        let s = &self.member.shared;
        match trial {
            Some(tag) => s.results.add(
                tag,
                match outcome {
                    Outcome::Success => Verdict::Success,
                    Outcome::Failure => Verdict::Failure,
                    Outcome::Ignored => Verdict::Freed,
                },
            ),
            // Relaxed: a hint; the coordinator flushes the exact counts.
            None if outcome == Outcome::Failure
                && s.urgent.fetch_add(1, Ordering::Relaxed) + 1 == s.urgent_at =>
            {
                self.coordinator.inner().wake();
            }
            None => {}
        }
    }
}

impl<C: Clock> std::fmt::Debug for DistributedPermit<'_, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DistributedPermit")
            .field("trial", &self.fleet.trial)
            .finish_non_exhaustive()
    }
}

//! The coordinator thread's loop: connecting and reconnecting, ticks over
//! every breaker and rate limiter, applying what the store answers, and
//! degraded mode.

use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Weak};
use std::thread;
use std::time::{Duration, Instant};

use super::{local_only, Inner};
use crate::keys;
use crate::member::{Counts, Entry, FleetEvent};
use crate::overlay::{self, Overlay, LEASE_PER_TICK};
use crate::store::{
    parse_published, Command, FleetKind, Notice, Notify, Store, StoreError, TrialResults, View,
};

/// The coordinator's loop state, owned by its thread.
pub(crate) struct Engine {
    inner: Arc<Inner>,
    store: Box<dyn Store>,
    rx: Receiver<Notice>,
    /// Handed to the store's subscriber at the first connection.
    tx: Option<mpsc::Sender<Notice>>,
    connected: bool,
    /// Degraded has been announced (event, overlays) and recovery not yet.
    announced: bool,
    backoff: Duration,
    next_reconnect: Instant,
    /// Read every breaker's state at the next tick (after a resubscribe or
    /// a recovery: published messages may have been lost).
    read_all: bool,
}

impl Engine {
    pub(super) fn new(inner: Arc<Inner>, store: Box<dyn Store>) -> Self {
        let (tx, rx) = mpsc::channel();
        Self {
            backoff: inner.config.reconnect_min,
            inner,
            store,
            rx,
            tx: Some(tx),
            connected: false,
            announced: false,
            next_reconnect: Instant::now(),
            read_all: true,
        }
    }

    pub(super) fn run(mut self) {
        let sync = self.inner.config.sync_interval;
        let mut next_tick = Instant::now();
        // Relaxed: set before an unpark, which wakes this loop to read it.
        while !self.inner.stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            if !self.connected {
                if now >= self.next_reconnect {
                    self.try_connect();
                    next_tick = Instant::now() + sync;
                }
            } else {
                self.drain_notices();
                // Relaxed: see `Inner::wake`.
                if now >= next_tick || self.inner.urgent.swap(false, Ordering::Relaxed) {
                    self.tick(false);
                    next_tick = now + sync;
                }
            }
            let until = if self.connected {
                next_tick
            } else {
                self.next_reconnect
            };
            if let Some(wait) = until.checked_duration_since(Instant::now()) {
                thread::park_timeout(wait);
            }
        }
    }

    /// One full round, every timer treated as due (tests drive the engine
    /// with this instead of a thread).
    #[cfg(test)]
    pub(crate) fn step(&mut self) {
        if !self.connected {
            self.try_connect();
        }
        if self.connected {
            self.drain_notices();
            self.tick(true);
        }
    }

    fn entries(&self) -> Vec<Arc<dyn Entry>> {
        let mut members = self.inner.members.lock().unwrap_or_else(|e| e.into_inner());
        members.retain(|w| w.strong_count() > 0);
        members.iter().filter_map(Weak::upgrade).collect()
    }

    fn try_connect(&mut self) {
        let result = self.store.reconnect().and_then(|()| {
            if let Some(tx) = self.tx.take() {
                let thread = self
                    .inner
                    .thread
                    .get()
                    .cloned()
                    .unwrap_or_else(thread::current);
                self.store.subscribe(
                    &keys::channel(&self.inner.config.namespace),
                    Notify { tx, thread },
                );
            }
            // Reconcile: every breaker's state afresh (an empty flush, which
            // also announces this instance as live) before deciding anything.
            for e in self.entries() {
                self.flush(&*e, Counts::default())?;
            }
            Ok(())
        });
        match result {
            Ok(()) => {
                self.connected = true;
                self.read_all = false;
                self.backoff = self.inner.config.reconnect_min;
                // Relaxed: a status flag.
                self.inner.degraded.store(false, Ordering::Relaxed);
                self.announced = false;
                for l in self.inner.limiters() {
                    l.set_degraded(false);
                }
                for e in self.entries() {
                    self.rebase(&*e);
                    if e.shared().in_outage() {
                        e.shared().emit(&FleetEvent::Recovered);
                    }
                }
            }
            Err(err) => {
                let min = self.inner.config.reconnect_min;
                let max = self.inner.config.reconnect_max;
                // Full jitter over [backoff/2, backoff], so a fleet that lost
                // the store together does not come back in step.
                let wait = self.backoff.mul_f64(0.5 + fastrand::f64() / 2.0).max(min);
                self.next_reconnect = Instant::now() + wait;
                self.backoff = (self.backoff * 2).min(max);
                self.announce(&err);
            }
        }
    }

    /// Enters degraded mode after a failed operation.
    fn fail(&mut self, err: StoreError) {
        self.connected = false;
        self.backoff = self.inner.config.reconnect_min;
        self.next_reconnect = Instant::now() + self.backoff;
        self.announce(&err);
    }

    /// Enters degraded mode once per outage (status, log, limiters), and
    /// degrades every breaker not yet told of it: at the outage's start, and
    /// at each failed reconnection those registered since.
    fn announce(&mut self, err: &StoreError) {
        // Relaxed: a status flag.
        self.inner.degraded.store(true, Ordering::Relaxed);
        if !std::mem::replace(&mut self.announced, true) {
            log::warn!("seawall-distributed: fleet store unreachable, deciding locally: {err}");
            for l in self.inner.limiters() {
                l.set_degraded(true);
            }
        }
        for e in self.entries() {
            if !e.shared().in_outage() {
                self.degrade(&*e, err);
            }
        }
    }

    /// One breaker enters degraded mode: a known fleet OPEN stays until its
    /// deadline, anything else leaves the decision to the local breaker;
    /// leased permits and unreported trial results are dropped.
    fn degrade(&self, e: &dyn Entry, err: &StoreError) {
        let s = e.shared();
        local_only(s);
        s.emit(&FleetEvent::Degraded {
            error: err.to_string(),
        });
    }

    /// Starts counting afresh: what was counted so far is never flushed
    /// (used at every (re)connection, so an outage's counts are dropped).
    fn rebase(&self, e: &dyn Entry) {
        let counts = e.counts();
        let s = e.shared();
        s.books().base = counts;
        // Relaxed: a hint counter.
        s.urgent.store(0, Ordering::Relaxed);
    }

    fn drain_notices(&mut self) {
        while let Ok(n) = self.rx.try_recv() {
            match n {
                Notice::Resubscribed => self.read_all = true,
                Notice::Published(payload) => {
                    let Some((name, view)) = parse_published(&payload) else {
                        log::warn!("seawall-distributed: unreadable event {payload:?}");
                        continue;
                    };
                    for e in self.entries() {
                        if e.shared().keys.name != name {
                            continue;
                        }
                        if e.shared().books().epoch == view.epoch {
                            self.apply(&*e, &view);
                        } else {
                            // Another epoch: a message from before the state
                            // was lost, or the first of a new epoch. Only the
                            // store can tell; ask it.
                            match self.store.read(&e.shared().keys) {
                                Ok(v) => self.apply(&*e, &v),
                                Err(err) => return self.fail(err),
                            }
                        }
                    }
                }
            }
        }
    }

    fn tick(&mut self, poll_all: bool) {
        let read_all = std::mem::take(&mut self.read_all);
        for e in self.entries() {
            if let Err(err) = self.sync(&*e, read_all || poll_all) {
                self.fail(err);
                return;
            }
        }
        let poll = self.inner.config.poll_interval;
        for l in self.inner.limiters() {
            if let Err(err) = l.sync(&mut *self.store, &self.inner.instance, poll, poll_all) {
                self.fail(err);
                return;
            }
        }
    }

    /// One breaker's round: its command, its trials, its counts (or a poll).
    fn sync(&mut self, e: &dyn Entry, poll: bool) -> Result<(), StoreError> {
        let s = e.shared();
        // Relaxed: the command byte is self-contained.
        let code = s.command.swap(0, Ordering::Relaxed);
        if code != 0 {
            let cmd = match code - 1 {
                3 => Command::ForceOpen,
                4 => Command::ForceClosed,
                _ => Command::Reset,
            };
            match self.store.command(&s.keys, &s.params, cmd) {
                Ok(view) => {
                    // Already applied locally by the caller.
                    s.books().cmd_seen = Some((view.epoch.clone(), view.cmd));
                    self.apply(e, &view);
                }
                Err(err) => {
                    // Keep it for the next connection, unless a newer one came.
                    let _ =
                        s.command
                            .compare_exchange(0, code, Ordering::Relaxed, Ordering::Relaxed);
                    return Err(err);
                }
            }
        }

        // Trials: report what finished, give back what is unused, ask for
        // a permit if callers are waiting for one.
        let (gen, pool_gen) = {
            let b = s.books();
            (b.gen, b.pool_gen)
        };
        let tag = gen as u32;
        let (pool_tag, unused) = s.pool.replace(tag, 0);
        let (res_tag, ok, fail, freed) = s.results.drain(tag);
        let mut results = TrialResults {
            gen: pool_gen,
            ..Default::default()
        };
        if pool_tag == pool_gen as u32 {
            results.freed += u64::from(unused);
        }
        if res_tag == pool_gen as u32 {
            results.successes += ok;
            results.failures += fail;
            results.freed += freed;
        }
        // Relaxed: a hint; a lost one is set again by the next caller.
        let want = if s.demand.swap(false, Ordering::Relaxed) {
            LEASE_PER_TICK
        } else {
            0
        };
        if results.successes + results.failures + results.freed > 0 || want > 0 {
            let ans = self.store.trial(&s.keys, &s.params, results, want)?;
            {
                let mut b = s.books();
                b.fenced += u64::from(ans.fenced);
                b.trials_granted += u64::from(ans.granted);
            }
            self.apply(e, &ans.view);
            if ans.granted > 0 {
                s.books().pool_gen = ans.view.gen;
                s.pool.replace(ans.view.gen as u32, ans.granted);
            }
        }

        // Counts: the deltas since the last flush; an idle breaker sends an
        // empty flush every `poll_interval`, which reads the fleet state and
        // keeps this instance among the live ones (the quorum's default).
        let counts = e.counts();
        let d = counts.since(s.books().base);
        // Relaxed: a hint counter.
        s.urgent.store(0, Ordering::Relaxed);
        let now = e.now();
        let last = s.books().last_contact;
        let poll_nanos = self.inner.config.poll_interval.as_nanos() as u64;
        if !d.is_empty() || poll || last.is_none_or(|l| now.saturating_sub(l) >= poll_nanos) {
            self.flush(e, d)?;
        }
        s.books().base = counts;
        Ok(())
    }

    /// Sends one breaker's deltas (possibly none: a heartbeat) and applies
    /// the answer.
    fn flush(&mut self, e: &dyn Entry, d: Counts) -> Result<(), StoreError> {
        let s = e.shared();
        let (view, stats) = self.store.flush(
            &s.keys,
            &s.params,
            &self.inner.instance,
            d.successes,
            d.failures,
            d.slow,
        )?;
        let ours = s.params.fingerprint();
        let mut mismatch = None;
        {
            let mut b = s.books();
            b.stats = stats;
            b.flushes += u64::from(!d.is_empty());
            if stats.config != 0 && stats.config != ours {
                b.config_conflicts += 1;
                if std::mem::replace(&mut b.config_seen, stats.config) != stats.config {
                    mismatch = Some(stats.config);
                }
            }
        }
        if let Some(theirs) = mismatch {
            log::warn!(
                "seawall-distributed: breaker {:?} is configured differently on another \
                 instance (fingerprint {theirs:012x}, ours {ours:012x}); the fleet decides \
                 on whichever flushed last",
                s.keys.name
            );
            s.emit(&FleetEvent::ConfigMismatch { ours, theirs });
        }
        self.apply(e, &view);
        Ok(())
    }

    /// Adopts a view if it is news: another epoch, or a later generation
    /// (an older one, from a delayed message, is ignored). Converts server
    /// deadlines to the local clock, applies operator commands to the local
    /// breaker, and publishes the overlay.
    fn apply(&self, e: &dyn Entry, view: &View) {
        let s = e.shared();
        let now = e.now();
        let mut event = None;
        let mut command = None;
        {
            let mut b = s.books();
            b.last_contact = Some(now);
            if view.epoch.is_empty() {
                // Nothing stored (yet, or any more): the fleet restricts nothing.
                b.kind = Some(FleetKind::Closed);
                b.epoch.clear();
                b.gen = 0;
            } else {
                let same_epoch = view.epoch == b.epoch;
                if same_epoch && view.gen < b.gen {
                    return;
                }
                let changed = !same_epoch || view.gen != b.gen || b.kind.is_none();
                let from = b.kind;
                b.epoch.clone_from(&view.epoch);
                b.gen = view.gen;
                b.kind = Some(view.kind);
                if changed {
                    s.pool.replace(view.gen as u32, 0);
                    s.results.drain(view.gen as u32);
                    if from.is_some_and(|f| f != view.kind) {
                        event = Some(FleetEvent::StateChanged {
                            from: from.map_or(seawall::State::Closed, FleetKind::state),
                            to: view.kind.state(),
                            generation: view.gen,
                        });
                    }
                }
                let key = (view.epoch.clone(), view.cmd);
                if b.cmd_seen.as_ref() != Some(&key) {
                    let first = b.cmd_seen.is_none();
                    b.cmd_seen = Some(key);
                    command = match view.kind {
                        FleetKind::ForcedOpen => Some(Command::ForceOpen),
                        FleetKind::ForcedClosed => Some(Command::ForceClosed),
                        _ if e.forced() || (view.cmd > 0 && !first) => Some(Command::Reset),
                        _ => None,
                    };
                    // A command of this instance not sent yet is later than
                    // anything this view says: it is applied locally already
                    // and its own answer comes next. Read after the local
                    // state above (Acquire, pairing with the caller's
                    // Release): a local change seen there has its byte seen
                    // here.
                    if s.command.load(Ordering::Acquire) != 0 {
                        command = None;
                    }
                }
            }
        }
        let ov = match view.kind {
            _ if view.epoch.is_empty() => Overlay::new(overlay::CLOSED, 0, false),
            FleetKind::Open => {
                let left = u64::try_from(view.open_until.saturating_sub(view.now)).unwrap_or(0);
                Overlay::new(
                    overlay::OPEN,
                    now.saturating_add(left.saturating_mul(1_000_000)),
                    false,
                )
            }
            FleetKind::HalfOpen => Overlay::new(overlay::HALF_OPEN, 0, false),
            _ => Overlay::new(overlay::CLOSED, 0, false),
        };
        // Release: the pool and results reset above happen before a caller
        // that sees this overlay (Acquire) reads them.
        s.overlay.store(ov.0, Ordering::Release);
        if let Some(cmd) = command {
            e.command_local(cmd);
        }
        if let Some(ev) = event {
            s.emit(&ev);
        }
    }
}

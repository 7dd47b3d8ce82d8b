//! The coordinator: one background thread per process (per `Coordinator`)
//! that flushes every distributed breaker's outcome counts to the store,
//! leases trial permits, sends operator commands, applies what the store
//! answers and publishes to each breaker's overlay word, and runs degraded
//! mode (local decisions, reconnect with back-off) while the store is
//! unreachable. Callers never wait for it: they only wake it.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use crate::config::CoordinatorConfig;
use crate::keys;
use crate::limiter::LimiterEntry;
use crate::member::{Entry, FleetEvent};
use crate::overlay::{self, Overlay, LEASE_PER_TICK};
use crate::store::redis::{RedisStore, Timeouts};
use crate::store::{
    parse_published, Command, FleetKind, Notice, Notify, Store, StoreError, TrialResults, View,
};
use crate::Error;

/// What the coordinator thread and the handles share.
pub(crate) struct Inner {
    pub config: CoordinatorConfig,
    pub instance: String,
    pub nonce: String,
    members: Mutex<Vec<Weak<dyn Entry>>>,
    limiters: Mutex<Vec<Weak<dyn LimiterEntry>>>,
    /// Set by callers (failure bursts, local trips, commands) with an unpark:
    /// tick now rather than at the next interval.
    urgent: AtomicBool,
    stop: AtomicBool,
    degraded: AtomicBool,
    thread: OnceLock<Thread>,
}

impl Inner {
    /// Wakes the coordinator for an early tick. Cheap when nothing is
    /// pending; callers do it only on rare events.
    pub(crate) fn wake(&self) {
        // Relaxed: the flag only asks for a tick; the unpark carries the
        // wake-up, and the coordinator reads the counters it flushes itself.
        self.urgent.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.get() {
            t.unpark();
        }
    }

    /// The coordinator is gone for good: every breaker decides locally.
    fn abandon(&self) {
        // Relaxed: a status flag.
        self.degraded.store(true, Ordering::Relaxed);
        let members = self.members.lock().unwrap_or_else(|e| e.into_inner());
        for e in members.iter().filter_map(Weak::upgrade) {
            local_only(e.shared());
        }
        for l in self.limiters() {
            l.set_degraded(true);
        }
    }

    pub(crate) fn register_limiter(&self, entry: Weak<dyn LimiterEntry>) {
        self.limiters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(entry);
        self.wake();
    }

    fn limiters(&self) -> Vec<Arc<dyn LimiterEntry>> {
        let mut limiters = self.limiters.lock().unwrap_or_else(|e| e.into_inner());
        limiters.retain(|w| w.strong_count() > 0);
        limiters.iter().filter_map(Weak::upgrade).collect()
    }

    pub(crate) fn register(&self, entry: Weak<dyn Entry>) {
        self.members
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(entry);
        self.wake();
    }

    /// Takes the early-tick request (tests).
    #[cfg(test)]
    pub(crate) fn take_urgent(&self) -> bool {
        self.urgent.swap(false, Ordering::Relaxed)
    }

    pub(crate) fn is_degraded(&self) -> bool {
        // Relaxed: a status flag.
        self.degraded.load(Ordering::Relaxed)
    }
}

/// Leaves a breaker to its local decisions: a known fleet OPEN stays until
/// its deadline, anything else restricts nothing; leased permits and
/// unreported trial results are dropped.
fn local_only(s: &crate::member::Shared) {
    let ov = Overlay(s.overlay.load(Ordering::Relaxed));
    let next = if ov.kind() == overlay::OPEN {
        Overlay::new(overlay::OPEN, ov.deadline(), true)
    } else {
        Overlay::new(overlay::CLOSED, 0, true)
    };
    let tag = s.books().gen as u32;
    s.pool.replace(tag, 0);
    s.results.drain(tag);
    // Release: pairs with the callers' Acquire load of the overlay.
    s.overlay.store(next.0, Ordering::Release);
}

/// Stops the thread when the last handle goes. It is told, not joined: the
/// last handle may go on a thread the coordinator is waiting for (a Python
/// thread holding the GIL while the coordinator runs a Python callback), or
/// on the coordinator thread itself (a listener holding a handle). The
/// thread sees the flag at its next wake-up, which the unpark makes
/// immediate, and ends on its own.
struct Handle {
    inner: Arc<Inner>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        // Relaxed: the unpark wakes the thread, which then reads the flag.
        self.inner.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.inner.thread.get() {
            t.unpark();
        }
    }
}

/// A process's link to the fleet store: one background thread serving any
/// number of [`crate::DistributedBreaker`]s. Cloning shares it; the thread
/// stops when the last clone and the last breaker using it are dropped.
#[derive(Clone)]
pub struct Coordinator {
    handle: Arc<Handle>,
}

impl std::fmt::Debug for Coordinator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coordinator")
            .field("instance", &self.handle.inner.instance)
            .field("namespace", &self.handle.inner.config.namespace)
            .field("degraded", &self.is_degraded())
            .finish()
    }
}

fn instance_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".into());
    format!("{host}:{}:{:08x}", std::process::id(), fastrand::u32(..))
}

impl Coordinator {
    /// A coordinator on the Redis server at `redis_url` (`redis://host:port/db`).
    /// Returns at once: it connects in the background, and until it
    /// succeeds (and whenever the server is unreachable later) its breakers
    /// decide locally. Errors only for an invalid URL or configuration.
    pub fn connect(redis_url: &str, config: CoordinatorConfig) -> Result<Self, Error> {
        config.validate()?;
        let store = RedisStore::new(
            redis_url,
            Timeouts {
                connect: config.connect_timeout,
                op: config.op_timeout,
                resubscribe_max: config.reconnect_max.min(Duration::from_secs(5)),
            },
        )?;
        Self::spawn(Box::new(store), config)
    }

    /// The process's coordinator for `redis_url` and the configuration's
    /// namespace: created on first use, shared by every later caller while
    /// any breaker or handle keeps it alive. A forked child never reuses
    /// its parent's (whose thread did not survive the fork): it gets its own.
    pub fn shared(redis_url: &str, config: CoordinatorConfig) -> Result<Self, Error> {
        type Shared = HashMap<(String, String), (u32, Weak<Handle>)>;
        static SHARED: Mutex<Option<Shared>> = Mutex::new(None);
        let mut map = SHARED.lock().unwrap_or_else(|e| e.into_inner());
        let map = map.get_or_insert_with(HashMap::new);
        let pid = std::process::id();
        map.retain(|_, (p, h)| *p == pid && h.strong_count() > 0);
        let key = (redis_url.to_owned(), config.namespace.clone());
        if let Some(handle) = map.get(&key).and_then(|(_, h)| h.upgrade()) {
            return Ok(Self { handle });
        }
        let c = Self::connect(redis_url, config)?;
        map.insert(key, (pid, Arc::downgrade(&c.handle)));
        Ok(c)
    }

    pub(crate) fn spawn(store: Box<dyn Store>, config: CoordinatorConfig) -> Result<Self, Error> {
        let (coordinator, engine) = Self::manual(store, config)?;
        let inner = Arc::clone(&coordinator.handle.inner);
        let thread = thread::Builder::new()
            .name("seawall-fleet".into())
            .spawn(move || {
                let _ = inner.thread.set(thread::current());
                if catch_unwind(AssertUnwindSafe(|| engine.run())).is_err() {
                    // A bug in the coordinator must not leave breakers
                    // waiting for it: they fall back to local decisions.
                    log::error!("seawall-distributed: the coordinator thread panicked");
                    inner.abandon();
                }
            })
            .map_err(|e| {
                Error::Store(StoreError(format!(
                    "cannot start the coordinator thread: {e}"
                )))
            })?;
        // The thread sets its handle first thing; set it here too so a wake
        // before the thread runs is not lost (the same `Thread` either way).
        // The thread is detached (see `Handle`).
        let _ = coordinator.handle.inner.thread.set(thread.thread().clone());
        Ok(coordinator)
    }

    /// A coordinator without a thread: the caller drives the returned
    /// engine with [`Engine::step`] (deterministic tests).
    pub(crate) fn manual(
        store: Box<dyn Store>,
        config: CoordinatorConfig,
    ) -> Result<(Self, Engine), Error> {
        config.validate()?;
        let inner = Arc::new(Inner {
            instance: instance_id(),
            nonce: format!("{:016x}", fastrand::u64(..)),
            config,
            members: Mutex::new(Vec::new()),
            limiters: Mutex::new(Vec::new()),
            urgent: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            // Until the first connection succeeds.
            degraded: AtomicBool::new(true),
            thread: OnceLock::new(),
        });
        let (tx, rx) = mpsc::channel();
        let engine = Engine {
            inner: Arc::clone(&inner),
            store,
            rx,
            tx: Some(tx),
            connected: false,
            announced: false,
            backoff: inner.config.reconnect_min,
            next_reconnect: Instant::now(),
            read_all: true,
        };
        let handle = Arc::new(Handle { inner });
        Ok((Self { handle }, engine))
    }

    pub(crate) fn inner(&self) -> &Arc<Inner> {
        &self.handle.inner
    }

    /// This instance's id in the fleet (`host:pid:random`).
    pub fn instance_id(&self) -> &str {
        &self.handle.inner.instance
    }

    /// The key namespace.
    pub fn namespace(&self) -> &str {
        &self.handle.inner.config.namespace
    }

    /// True while the store is unreachable (or not reached yet).
    pub fn is_degraded(&self) -> bool {
        self.handle.inner.is_degraded()
    }
}

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
    fn run(mut self) {
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
                self.flush(&*e, 0, 0)?;
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
                let announced = std::mem::take(&mut self.announced);
                for l in self.inner.limiters() {
                    l.set_degraded(false);
                }
                for e in self.entries() {
                    self.rebase(&*e);
                    if announced {
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

    /// Enters degraded mode once per outage: status, overlays, events.
    fn announce(&mut self, err: &StoreError) {
        // Relaxed: a status flag.
        self.inner.degraded.store(true, Ordering::Relaxed);
        if !std::mem::replace(&mut self.announced, true) {
            log::warn!("seawall-distributed: fleet store unreachable, deciding locally: {err}");
            for e in self.entries() {
                self.degrade(&*e, err);
            }
            for l in self.inner.limiters() {
                l.set_degraded(true);
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
        let (succ, fails) = e.counts();
        let (base_ok, base_fail) = s.books().base;
        // A user's `clear_metrics` can move the local counts back: start
        // again from there.
        let d_ok = succ.saturating_sub(base_ok);
        let d_fail = fails.saturating_sub(base_fail);
        // Relaxed: a hint counter.
        s.urgent.store(0, Ordering::Relaxed);
        let now = e.now();
        let last = s.books().last_contact;
        let poll_nanos = self.inner.config.poll_interval.as_nanos() as u64;
        if d_ok + d_fail > 0 || poll || last.is_none_or(|l| now.saturating_sub(l) >= poll_nanos) {
            self.flush(e, d_ok, d_fail)?;
        }
        s.books().base = (succ, fails);
        Ok(())
    }

    /// Sends one breaker's deltas (possibly none: a heartbeat) and applies
    /// the answer.
    fn flush(&mut self, e: &dyn Entry, d_ok: u64, d_fail: u64) -> Result<(), StoreError> {
        let s = e.shared();
        let (view, stats) =
            self.store
                .flush(&s.keys, &s.params, &self.inner.instance, d_ok, d_fail)?;
        {
            let mut b = s.books();
            b.stats = stats;
            b.flushes += u64::from(d_ok + d_fail > 0);
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

//! The coordinator: one background thread per process (per `Coordinator`)
//! that flushes every distributed breaker's outcome counts to the store,
//! leases trial permits, sends operator commands, applies what the store
//! answers and publishes to each breaker's overlay word, and runs degraded
//! mode (local decisions, reconnect with back-off) while the store is
//! unreachable. Callers never wait for it: they only wake it.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::thread::{self, Thread};
use std::time::Duration;

use crate::config::CoordinatorConfig;
use crate::limiter::LimiterEntry;
use crate::member::Entry;
use crate::overlay::{self, Overlay};
use crate::store::redis::{RedisStore, Timeouts};
use crate::store::{Store, StoreError};
use crate::Error;

mod engine;

pub(crate) use engine::Engine;

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

fn timeouts(config: &CoordinatorConfig) -> Timeouts {
    Timeouts {
        connect: config.connect_timeout,
        op: config.op_timeout,
        resubscribe_max: config.reconnect_max.min(Duration::from_secs(5)),
    }
}

impl Coordinator {
    /// A coordinator on the Redis server at `redis_url` (`redis://host:port/db`).
    /// Returns at once: it connects in the background, and until it
    /// succeeds (and whenever the server is unreachable later) its breakers
    /// decide locally. Errors only for an invalid URL or configuration.
    pub fn connect(redis_url: &str, config: CoordinatorConfig) -> Result<Self, Error> {
        config.validate()?;
        let store = RedisStore::new(redis_url, timeouts(&config))?;
        Self::spawn(Box::new(store), config)
    }

    /// A coordinator on the Redis Cluster reached through any of `nodes`
    /// (`redis://host:port` each, with the same credentials; one is enough,
    /// listing several lets it start and listen from another node when one
    /// is down). It reads the slot map and sends each breaker's scripts to
    /// the primary owning its hash tag's slot; everything else is as with
    /// [`Coordinator::connect`], `connect_timeout` and `op_timeout` bounding
    /// every node it talks to. Errors for an empty list, an invalid URL or
    /// configuration.
    pub fn connect_cluster(nodes: &[&str], config: CoordinatorConfig) -> Result<Self, Error> {
        config.validate()?;
        let store = RedisStore::cluster(nodes, timeouts(&config))?;
        Self::spawn(Box::new(store), config)
    }

    /// The process's coordinator for `redis_url` and the configuration's
    /// namespace: created on first use, shared by every later caller while
    /// any breaker or handle keeps it alive. A forked child never reuses
    /// its parent's (whose thread did not survive the fork): it gets its own.
    pub fn shared(redis_url: &str, config: CoordinatorConfig) -> Result<Self, Error> {
        Self::shared_as(redis_url.to_owned(), config, |c| {
            Self::connect(redis_url, c)
        })
    }

    /// The process's coordinator for the Redis Cluster reached through
    /// `nodes` (the same list in the same order) and the configuration's
    /// namespace, shared as [`Coordinator::shared`] is.
    pub fn shared_cluster(nodes: &[&str], config: CoordinatorConfig) -> Result<Self, Error> {
        let target = format!("cluster {}", nodes.join(" "));
        Self::shared_as(target, config, |c| Self::connect_cluster(nodes, c))
    }

    /// The shared coordinator for `target` (what it connects to) and the
    /// namespace, made with `connect` when there is none.
    fn shared_as(
        target: String,
        config: CoordinatorConfig,
        connect: impl FnOnce(CoordinatorConfig) -> Result<Self, Error>,
    ) -> Result<Self, Error> {
        type Shared = HashMap<(String, String), (u32, Weak<Handle>)>;
        static SHARED: Mutex<Option<Shared>> = Mutex::new(None);
        let mut map = SHARED.lock().unwrap_or_else(|e| e.into_inner());
        let map = map.get_or_insert_with(HashMap::new);
        let pid = std::process::id();
        map.retain(|_, (p, h)| *p == pid && h.strong_count() > 0);
        let key = (target, config.namespace.clone());
        if let Some(handle) = map.get(&key).and_then(|(_, h)| h.upgrade()) {
            return Ok(Self { handle });
        }
        let c = connect(config)?;
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
        let engine = Engine::new(Arc::clone(&inner), store);
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

//! What the coordinator keeps per breaker: the non-generic part shared with
//! the call path (`Shared`), its own bookkeeping (`Books`, touched only by
//! the coordinator thread and by status reads), and the `Entry` trait
//! through which it reaches the generic local breaker.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8};
use std::sync::{Arc, Mutex, MutexGuard};

use crossbeam_utils::CachePadded;
use seawall::State;

use crate::keys::Keys;
use crate::overlay::{Pool, Rejections, Results};
use crate::store::{Command, FleetKind, Params, WindowStats};

/// A change the coordinator reports to a breaker's fleet listeners (called
/// on the coordinator thread; a panicking listener is caught and logged).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FleetEvent {
    /// The fleet state of this breaker changed.
    StateChanged {
        /// The fleet state before.
        from: State,
        /// The fleet state now.
        to: State,
        /// The fleet generation now (per epoch).
        generation: u64,
    },
    /// The store cannot be reached: this instance decides on its local
    /// breaker alone, still honouring a fleet OPEN it knew until its
    /// deadline.
    Degraded {
        /// The store's error.
        error: String,
    },
    /// The store is reachable again and the fleet state has been read
    /// afresh; the outage's outcome counts were dropped.
    Recovered,
    /// Another instance flushed this breaker with other settings (window,
    /// rules, open times, trials): the fleet decides on whichever flushed
    /// last. Announced once per other configuration seen.
    ConfigMismatch {
        /// This instance's configuration fingerprint.
        ours: u64,
        /// The other one.
        theirs: u64,
    },
}

/// Cumulative outcome counts of a local breaker (slow calls are also
/// successes or failures).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub successes: u64,
    pub failures: u64,
    pub slow: u64,
}

impl Counts {
    /// What was counted since `base` (nothing where the counts went back:
    /// a user's `clear_metrics` restarts them).
    pub(crate) fn since(self, base: Counts) -> Counts {
        Counts {
            successes: self.successes.saturating_sub(base.successes),
            failures: self.failures.saturating_sub(base.failures),
            slow: self.slow.saturating_sub(base.slow),
        }
    }

    pub(crate) fn is_empty(self) -> bool {
        self == Counts::default()
    }
}

/// A fleet listener.
pub type FleetListener = Arc<dyn Fn(&str, &FleetEvent) + Send + Sync>;

/// The fleet side of a breaker, as its callers and its coordinator see it.
pub(crate) struct Shared {
    /// The overlay word (`overlay.rs`); written only by the coordinator.
    pub overlay: CachePadded<AtomicU64>,
    pub pool: Pool,
    pub results: Results,
    pub rejections: Rejections,
    /// A caller found the fleet HALF_OPEN and the pool empty.
    pub demand: AtomicBool,
    /// Failures since the last flush (failure path only).
    pub urgent: AtomicU32,
    /// `urgent` at which the caller wakes the coordinator.
    pub urgent_at: u32,
    /// A pending operator command: 0 none, else `Command as u8 + 1`.
    pub command: AtomicU8,
    pub keys: Keys,
    pub params: Params,
    pub books: Mutex<Books>,
    listeners: Mutex<Listeners>,
}

/// A breaker's fleet listeners and the outage they were told of: one added
/// during an outage hears of it at once, so no listener misses a
/// `Degraded` that came before it (or before its breaker was known).
#[derive(Default)]
struct Listeners {
    all: Vec<FleetListener>,
    /// The `Degraded` event of the outage under way, if any.
    outage: Option<FleetEvent>,
}

/// The coordinator's bookkeeping for one breaker.
#[derive(Debug, Default)]
pub(crate) struct Books {
    /// Cumulative outcome counts already flushed (or dropped).
    pub base: Counts,
    /// The last fleet view applied: epoch ("" = none known), generation.
    pub epoch: String,
    pub gen: u64,
    pub kind: Option<FleetKind>,
    /// The fleet generation of the permits now in the pool.
    pub pool_gen: u64,
    /// The last operator command applied locally: (epoch, cmd).
    pub cmd_seen: Option<(String, u64)>,
    /// Local clock nanoseconds of the last answer from the store.
    pub last_contact: Option<u64>,
    pub stats: WindowStats,
    pub flushes: u64,
    pub fenced: u64,
    /// Flushes that found another configuration's fingerprint, and the last
    /// such fingerprint announced.
    pub config_conflicts: u64,
    pub config_seen: u64,
    pub trials_granted: u64,
}

impl Shared {
    pub(crate) fn new(keys: Keys, params: Params, urgent_at: u32) -> Self {
        Self {
            overlay: CachePadded::new(AtomicU64::new(0)),
            pool: Pool::new(),
            results: Results::new(),
            rejections: Rejections::new(),
            demand: AtomicBool::new(false),
            urgent: AtomicU32::new(0),
            urgent_at,
            command: AtomicU8::new(0),
            keys,
            params,
            books: Mutex::new(Books::default()),
            listeners: Mutex::new(Listeners::default()),
        }
    }

    pub(crate) fn books(&self) -> MutexGuard<'_, Books> {
        self.books.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn listeners(&self) -> MutexGuard<'_, Listeners> {
        self.listeners.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a listener; during an outage it is told of it at once. The
    /// list and the outage change together under one lock, so a listener
    /// hears each `Degraded` exactly once however it races `emit`.
    pub(crate) fn add_listener(&self, l: FleetListener) {
        let outage = {
            let mut ls = self.listeners();
            ls.all.push(Arc::clone(&l));
            ls.outage.clone()
        };
        if let Some(event) = outage {
            self.call(&l, &event);
        }
    }

    /// Whether this breaker's listeners were told of an outage that has not
    /// ended.
    pub(crate) fn in_outage(&self) -> bool {
        self.listeners().outage.is_some()
    }

    /// Calls every fleet listener (never while holding `books`); a
    /// `Degraded` starts this breaker's outage, `Recovered` ends it.
    pub(crate) fn emit(&self, event: &FleetEvent) {
        let listeners = {
            let mut ls = self.listeners();
            match event {
                FleetEvent::Degraded { .. } => ls.outage = Some(event.clone()),
                FleetEvent::Recovered => ls.outage = None,
                _ => {}
            }
            ls.all.clone()
        };
        for l in &listeners {
            self.call(l, event);
        }
    }

    fn call(&self, l: &FleetListener, event: &FleetEvent) {
        if catch_unwind(AssertUnwindSafe(|| l(&self.keys.name, event))).is_err() {
            log::error!(
                "seawall-distributed: a fleet listener of {:?} panicked on {event:?}",
                self.keys.name
            );
        }
    }
}

/// What the coordinator needs from a breaker besides `Shared`: its local
/// breaker, whatever its clock type.
pub(crate) trait Entry: Send + Sync {
    fn shared(&self) -> &Shared;
    /// The local breaker's clock, in nanoseconds.
    fn now(&self) -> u64;
    /// Cumulative outcome counts of the local breaker.
    fn counts(&self) -> Counts;
    /// Is the local breaker forced open or closed?
    fn forced(&self) -> bool;
    /// Applies an operator command to the local breaker.
    fn command_local(&self, cmd: Command);
}

impl FleetKind {
    pub(crate) fn state(self) -> State {
        match self {
            FleetKind::Closed => State::Closed,
            FleetKind::Open => State::Open,
            FleetKind::HalfOpen => State::HalfOpen,
            FleetKind::ForcedOpen => State::ForcedOpen,
            FleetKind::ForcedClosed => State::ForcedClosed,
        }
    }
}

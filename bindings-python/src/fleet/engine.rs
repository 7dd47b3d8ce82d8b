//! What a distributed handle drives: the fleet breaker (or rate limiter)
//! of this process, built from a spec ([`Spec`], [`Build`]) and built
//! again in a forked child ([`PerProcess`]).
//!
//! A forked child inherits the breaker but not the coordinator thread. The
//! Python package calls `_after_fork()` on every distributed handle in the
//! child (`os.register_at_fork`): the handle builds its breaker again on the
//! child's own coordinator and switches to it. The parent's breaker is left
//! alone, never dropped: its bookkeeping may hold locks taken by threads that
//! did not survive the fork, and a call in flight across the fork may still
//! report to it.

use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use seawall::{BreakerConfig, Clock, Transition};
use seawall_bindings_support::DynClock;
use seawall_distributed::{
    Coordinator, CoordinatorConfig, DistributedBreaker as FleetBreaker, FleetConfig, FleetEvent,
};

use crate::policy::{HookListener, Hooks};
use crate::registered;

/// What a distributed breaker is built from, kept to build it again in a
/// forked child.
pub(crate) struct Spec {
    pub(crate) name: String,
    pub(crate) config: BreakerConfig,
    pub(crate) redis_url: String,
    pub(crate) namespace: String,
    pub(crate) clock: DynClock,
    pub(crate) hooks: Arc<Hooks>,
    /// How many other configurations of this breaker the fleet reported
    /// (`FleetEvent::ConfigMismatch`), over every breaker built from this.
    pub(crate) config_mismatches: Arc<AtomicU64>,
}

/// What a [`PerProcess`] is built from, once per process.
pub(crate) trait Build {
    /// What it builds; shared by every thread.
    type Output: Send + Sync;
    fn build(&self) -> Result<Self::Output, seawall_distributed::Error>;
}

/// This process's coordinator for `redis_url` and `namespace`.
pub(crate) fn coordinator(
    redis_url: &str,
    namespace: &str,
) -> Result<Coordinator, seawall_distributed::Error> {
    Coordinator::shared(
        redis_url,
        CoordinatorConfig {
            namespace: namespace.to_owned(),
            ..Default::default()
        },
    )
}

impl Build for Spec {
    type Output = FleetBreaker<DynClock>;

    /// A breaker on this process's coordinator for the URL and namespace,
    /// judged fleet-wide by the rules of the local configuration, with the
    /// handle's hooks listening to both its local and its fleet transitions.
    fn build(&self) -> Result<FleetBreaker<DynClock>, seawall_distributed::Error> {
        let coordinator = coordinator(&self.redis_url, &self.namespace)?;
        let b = FleetBreaker::with_clock(
            &self.name,
            self.config.clone(),
            FleetConfig::from_local(&self.config),
            &coordinator,
            self.clock.clone(),
        )?;
        b.add_listener(HookListener(Arc::clone(&self.hooks)));
        let hooks = HookListener(Arc::clone(&self.hooks));
        let clock = self.clock.clone();
        let mismatches = Arc::clone(&self.config_mismatches);
        b.add_fleet_listener(move |name, event| match event {
            FleetEvent::StateChanged { from, to, .. } => {
                let at_nanos = clock.now();
                seawall::Listener::on_transition(
                    &hooks,
                    name,
                    Transition {
                        from: *from,
                        to: *to,
                        at_nanos,
                    },
                );
            }
            FleetEvent::Degraded { error } => registered::log_warning(&format!(
                "seawall: circuit breaker '{name}' cannot reach Redis ({error}); \
                 deciding on this process's breaker alone until it is back"
            )),
            FleetEvent::Recovered => registered::log_warning(&format!(
                "seawall: circuit breaker '{name}' reaches Redis again; fleet state restored"
            )),
            FleetEvent::ConfigMismatch { ours, theirs } => {
                // Relaxed: a statistic, read on its own.
                mismatches.fetch_add(1, Ordering::Relaxed);
                registered::log_warning(&format!(
                    "seawall: circuit breaker '{name}' is configured differently in another \
                     instance (settings {theirs:016x}, here {ours:016x}); the fleet decides \
                     on the settings of whichever instance reported last"
                ));
            }
        });
        Ok(b)
    }
}

/// The breaker a `DistributedBreaker` handle drives.
pub(crate) type Fleet = PerProcess<Spec>;

/// What `S` builds, switched to a new one in a forked child.
pub(crate) struct PerProcess<S: Build> {
    /// The one in use: from `Box::into_raw`, never null. Replaced only by
    /// [`PerProcess::after_fork`]; a replaced one is never freed.
    current: AtomicPtr<S::Output>,
    /// The process the current one was built in.
    pid: AtomicU32,
    pub(crate) spec: S,
}

// `AtomicPtr` is `Send + Sync` whatever it points to: `PerProcess` hands
// out `&S::Output` to every thread, which `Build` requires to be both.

impl<S: Build> PerProcess<S> {
    pub(crate) fn new(spec: S) -> Result<Self, seawall_distributed::Error> {
        let b = spec.build()?;
        Ok(PerProcess {
            current: AtomicPtr::new(Box::into_raw(Box::new(b))),
            pid: AtomicU32::new(std::process::id()),
            spec,
        })
    }

    #[inline]
    pub(crate) fn get(&self) -> &S::Output {
        // Acquire: pairs with the Release store in `after_fork`, so the new
        // breaker is seen fully built.
        let p = self.current.load(Ordering::Acquire);
        // SAFETY: `p` came from `Box::into_raw` (in `new` or `after_fork`)
        // and is freed only by `Drop`, which has `&mut self`: a breaker
        // replaced by `after_fork` is leaked, so every reference handed out
        // here (and the permits borrowing it) stays valid for `&self`.
        unsafe { &*p }
    }

    /// In a forked child: builds the breaker again on the child's own
    /// coordinator and switches to it (once per process).
    pub(crate) fn after_fork(&self) -> Result<(), seawall_distributed::Error> {
        let pid = std::process::id();
        // Relaxed: called under the interpreter lock, right after the fork.
        if self.pid.load(Ordering::Relaxed) == pid {
            return Ok(());
        }
        let b = self.spec.build()?;
        // Release: pairs with the Acquire load in `get`. The parent's
        // breaker is leaked (see the module documentation).
        self.current
            .store(Box::into_raw(Box::new(b)), Ordering::Release);
        self.pid.store(pid, Ordering::Relaxed);
        Ok(())
    }
}

impl<S: Build> Drop for PerProcess<S> {
    fn drop(&mut self) {
        // SAFETY: the pointer came from `Box::into_raw` and no reference from
        // `get` outlives `&self`; `&mut self` means there is none.
        drop(unsafe { Box::from_raw(*self.current.get_mut()) });
    }
}

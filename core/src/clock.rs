//! Clocks: where time enters the breaker.
//!
//! Time is a `u64` count of nanoseconds since an origin fixed by the clock.
//! Every computation on it saturates, so a clock that steps backwards (quanta
//! readings taken on different cores can, see quanta#111) delays a decision
//! instead of corrupting one.

use std::time::Duration;

// The process-wide refresher lives outside any loom model: plain std atomics.
use std::sync::atomic::{AtomicBool, AtomicU64 as StdAtomicU64};

use std::sync::Arc;

use crate::sync::{AtomicU64, Ordering};

pub use crate::sync::EventCount;

/// A source of time for breakers.
///
/// Production code uses [`QuantaClock`]; tests, benchmarks and loom models use
/// [`ManualClock`], which only moves when told to.
pub trait Clock: Send + Sync + 'static {
    /// The exact current time, in nanoseconds since this clock's origin.
    fn now(&self) -> u64;

    /// A cheap reading that may lag [`Clock::now`] by a bounded amount (for
    /// [`QuantaClock`], about one millisecond). Used on hot paths such as a
    /// rejection while OPEN, where reading the hardware clock would cost more
    /// than the whole decision. Never ahead of `now`.
    fn recent(&self) -> u64 {
        self.now()
    }

    /// [`Clock::recent`] if reading it takes no call (for
    /// [`QuantaClock`], once its refresh thread has published a reading);
    /// `None` otherwise, and by default. For hot paths that must make no
    /// call, which then take their full path (the C ABI's inline breaker
    /// paths).
    #[inline]
    fn recent_at_once(&self) -> Option<u64> {
        None
    }

    /// The event this clock notifies whenever its time moves other than by
    /// the passing of real time, as [`ManualClock::advance`] and
    /// [`ManualClock::set`] do. A wait for a deadline on such a clock sleeps
    /// on it, and ends when the clock passes the deadline, however much or
    /// little real time that takes.
    ///
    /// `None` (the default) for clocks that follow real time: a wait on
    /// them ends at its deadline by a timed sleep. A clock that moves by
    /// hand must return `Some` and call [`EventCount::notify_all`] after
    /// every move.
    fn moves(&self) -> Option<&EventCount> {
        None
    }
}

/// Which reading of the clock an engine decides or measures on: a
/// [`RateLimiter`](crate::RateLimiter)'s decisions, an
/// [`AdaptiveLimiter`](crate::AdaptiveLimiter)'s admission times. Each
/// engine's config says what the lag changes for it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Timing {
    /// [`Clock::now`]: exact. On [`QuantaClock`] a reading costs about as
    /// much as the rest of a rate limiter's check (a hardware counter read).
    #[default]
    Exact,
    /// [`Clock::recent`]: on [`QuantaClock`] one shared load, lagging the
    /// exact time by up to [`QuantaClock::RECENT_RESOLUTION`] (1 ms).
    Recent,
}

impl Timing {
    /// Every timing, in the order above.
    pub const ALL: [Timing; 2] = [Self::Exact, Self::Recent];

    /// Its name (`"exact"`, `"recent"`), as the Python binding spells it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Exact => "exact",
            Self::Recent => "recent",
        }
    }

    /// The timing named `name`, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The reading of `clock` this timing names.
    #[inline]
    pub(crate) fn read<C: Clock>(self, clock: &C) -> u64 {
        match self {
            Self::Exact => clock.now(),
            Self::Recent => clock.recent(),
        }
    }
}

/// Converts a duration to clock nanoseconds, saturating at `u64::MAX`.
pub(crate) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// A clock that moves only when a test advances it. Clones share one time.
///
/// Every move wakes the waits on it (a bulkhead waiter whose deadline the
/// move passes returns at once): see [`Clock::moves`].
#[derive(Clone, Debug, Default)]
pub struct ManualClock {
    shared: Arc<Manual>,
}

#[derive(Debug, Default)]
struct Manual {
    nanos: AtomicU64,
    moved: EventCount,
}

impl ManualClock {
    /// A clock reading zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the clock forward by `by` (saturating).
    pub fn advance(&self, by: Duration) {
        let by = nanos(by);
        let m = &*self.shared;
        // Relaxed: the time is a standalone value; tests order their own
        // steps through the threads they join, and a waiter sees the new
        // time through the Release of the notification below.
        let now = m.nanos.load(Ordering::Relaxed);
        m.nanos.store(now.saturating_add(by), Ordering::Relaxed);
        m.moved.notify_all();
    }

    /// Sets the clock to `nanos`, backwards as well as forwards.
    pub fn set(&self, nanos: u64) {
        // Relaxed: see `advance`.
        self.shared.nanos.store(nanos, Ordering::Relaxed);
        self.shared.moved.notify_all();
    }
}

impl Clock for ManualClock {
    #[inline]
    fn now(&self) -> u64 {
        // Relaxed: see `advance`.
        self.shared.nanos.load(Ordering::Relaxed)
    }

    #[inline]
    fn recent_at_once(&self) -> Option<u64> {
        Some(self.now())
    }

    fn moves(&self) -> Option<&EventCount> {
        Some(&self.shared.moved)
    }
}

/// The production clock: quanta's TSC-based `Instant` for exact readings and
/// a process-wide "recent" value refreshed every millisecond by one
/// background thread for hot-path readings.
///
/// The refresh thread starts on the first [`Clock::recent`] call; until it has
/// published a value, and again in a child process after `fork` (where the
/// thread does not exist), `recent` falls back to an exact reading and
/// restarts the thread, so a forked worker never sees a frozen clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct QuantaClock;

mod upkeep {
    use super::*;
    use std::sync::OnceLock;

    /// How often the background thread refreshes [`RECENT`].
    pub(super) const INTERVAL: Duration = Duration::from_millis(1);

    /// The process's clock and its first raw reading, the origin of time.
    struct Base {
        clock: quanta::Clock,
        origin: u64,
    }

    static BASE: OnceLock<Base> = OnceLock::new();
    /// Nanoseconds since the origin, plus one so that zero means "not running".
    static RECENT: StdAtomicU64 = StdAtomicU64::new(0);
    static RUNNING: AtomicBool = AtomicBool::new(false);

    /// Raw TSC (or OS clock) ticks scaled to nanoseconds since the origin:
    /// one counter read and a multiply-shift, no `Duration` in between. A
    /// reading behind the origin (another core's counter) gives 0.
    #[inline]
    pub(super) fn now() -> u64 {
        let b = match BASE.get() {
            Some(b) => b,
            None => base(),
        };
        b.clock.delta_as_nanos(b.origin, b.clock.raw())
    }

    /// The first reading in the process: calibrates the clock. A `fork`
    /// while another thread is in here would leave the child a `OnceLock`
    /// (and quanta's calibration cell) "being initialised" by a thread
    /// that does not exist there, so the fork handlers are registered
    /// first, and `prepare` finishes this before any fork (see
    /// `register_fork_handlers`).
    #[cold]
    fn base() -> &'static Base {
        register_fork_handlers();
        BASE.get_or_init(|| {
            let clock = quanta::Clock::new();
            let origin = clock.raw();
            Base { clock, origin }
        })
    }

    #[inline]
    pub(super) fn recent() -> u64 {
        recent_at_once().unwrap_or_else(start)
    }

    /// `recent` if the refresher has published a reading.
    #[inline]
    pub(super) fn recent_at_once() -> Option<u64> {
        // Relaxed: RECENT carries only its own value; no other memory is
        // published with it.
        RECENT.load(Ordering::Relaxed).checked_sub(1)
    }

    #[cold]
    fn start() -> u64 {
        let exact = now();
        // Relaxed on both outcomes: RUNNING only elects the one thread that
        // spawns the refresher; nothing else is published through it.
        if RUNNING
            .compare_exchange(false, true, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            let spawned = std::thread::Builder::new()
                .name("seawall-clock".into())
                .spawn(|| loop {
                    // Relaxed: see `recent_at_once`.
                    RECENT.store(now() + 1, Ordering::Relaxed);
                    std::thread::sleep(INTERVAL);
                });
            if spawned.is_err() {
                // Could not start a thread: stay on exact readings and let a
                // later call try again.
                RUNNING.store(false, Ordering::Relaxed);
            }
        }
        exact
    }

    /// Registers, once per process, the fork handlers that keep the clock
    /// usable in a child: `prepare` completes the clock's calibration in the
    /// forking thread, waiting for another thread that is calibrating (so no
    /// child inherits a half-initialised `BASE`); `child` clears the
    /// refresher's state, so that the child's first `recent` restarts it.
    ///
    /// Called before the first calibration, and on Linux also when the
    /// library is loaded (`.init_array`), before any thread can race it. A
    /// flag, not a `Once`: a `Once` caught mid-call by a fork would stay
    /// "running" in the child forever. A thread that loses the swap goes on
    /// while the winner registers.
    #[cfg(unix)]
    extern "C" fn register_fork_handlers() {
        static REGISTERED: AtomicBool = AtomicBool::new(false);
        extern "C" fn prepare() {
            // Before the fork, in the parent: any work is allowed. Once
            // calibrated, one atomic load.
            now();
        }
        extern "C" fn child() {
            // Only atomic stores: async-signal-safe, as a fork handler must be.
            RECENT.store(0, Ordering::Relaxed);
            RUNNING.store(false, Ordering::Relaxed);
        }
        // Relaxed: the flag only elects the one registering thread.
        if !REGISTERED.swap(true, Ordering::Relaxed) {
            // SAFETY: `prepare` and `child` are plain functions valid for the
            // life of the process; `child` only stores to atomics (safe in a
            // forked child), `prepare` runs in the parent before the fork.
            unsafe {
                libc::pthread_atfork(Some(prepare), None, Some(child));
            }
        }
    }

    /// Runs `register_fork_handlers` when the library is loaded, before any
    /// thread of the program can be calibrating the clock.
    #[cfg(target_os = "linux")]
    #[used]
    #[link_section = ".init_array"]
    static REGISTER_AT_LOAD: extern "C" fn() = register_fork_handlers;

    #[cfg(not(unix))]
    fn register_fork_handlers() {}
}

impl Clock for QuantaClock {
    #[inline]
    fn now(&self) -> u64 {
        upkeep::now()
    }

    #[inline]
    fn recent(&self) -> u64 {
        upkeep::recent()
    }

    #[inline]
    fn recent_at_once(&self) -> Option<u64> {
        upkeep::recent_at_once()
    }
}

impl QuantaClock {
    /// The bound on how far [`Clock::recent`] lags [`Clock::now`], scheduling
    /// delays of the refresh thread aside.
    pub const RECENT_RESOLUTION: Duration = upkeep::INTERVAL;
}

#[cfg(all(test, not(seawall_loom)))]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told_and_can_step_back() {
        let c = ManualClock::new();
        assert_eq!(c.now(), 0);
        c.advance(Duration::from_millis(5));
        assert_eq!(c.now(), 5_000_000);
        assert_eq!(c.recent(), 5_000_000);
        assert_eq!(c.recent_at_once(), Some(5_000_000));
        c.set(10);
        assert_eq!(c.now(), 10);
        c.advance(Duration::MAX);
        assert_eq!(c.now(), u64::MAX);
    }

    #[test]
    fn quanta_recent_never_runs_ahead_of_now() {
        let c = QuantaClock;
        for _ in 0..1000 {
            let r = c.recent();
            let n = c.now();
            assert!(r <= n, "recent {r} ahead of now {n}");
        }
        // Once the refresher (which the first `recent` started) has
        // published, the reading is at hand, and never ahead either.
        let r = (0..10_000)
            .find_map(|_| {
                std::thread::sleep(QuantaClock::RECENT_RESOLUTION);
                c.recent_at_once()
            })
            .expect("the refresher publishes");
        assert!(r <= c.now());
    }
}

//! An asymmetric fence pair, for a Dekker-style handshake whose one side
//! runs on every call and the other rarely: the frequent side ([`light`])
//! costs a compiler fence, the rare side ([`Fence::heavy`]) a system call
//! that makes every thread of the process execute a full memory barrier.
//!
//! The handshake: thread A stores X then (light) loads Y; thread B stores Y
//! then (heavy) loads X. At least one of them sees the other's store. The
//! heavy side is Linux's `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`:
//! when it returns, every other thread of the process has run a full
//! barrier at some point since it was entered (or was not running, and a
//! context switch is one). A's barrier point falls either before its load
//! of Y (then the load sees B's store, made before the call) or after it
//! (then its store of X, made before the load, is visible to B's load made
//! after the call). The compiler fence only keeps the compiler from moving
//! A's load above its store. This is the scheme of Folly's
//! `asymmetricHeavyBarrier` and of the Linux kernel's `sys_membarrier`
//! users (liburcu).
//!
//! Where `membarrier` is missing (another OS, a kernel before 4.14, a
//! seccomp filter) both sides are a `SeqCst` fence: the C++ model's
//! fence-to-fence handshake, correct but with a locked instruction per
//! call. Which one a structure uses is decided once, when it is made
//! ([`Fence::new`]), so that both of its sides always agree. Under loom
//! both sides are loom's `SeqCst` fence, which it models.

use super::Ordering;

/// Which pair of fences a structure's two sides run.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Fence {
    /// `membarrier` is registered: the light side is a compiler fence.
    expedited: bool,
}

impl Fence {
    /// Registers the process for expedited `membarrier` (once; the
    /// registration is for the process and is never undone) and returns
    /// the fences to use: `membarrier` and compiler fences if it worked,
    /// `SeqCst` fences on both sides if not.
    pub(crate) fn new() -> Self {
        Self {
            expedited: membarrier::register(),
        }
    }

    /// The frequent side: orders the caller's earlier stores before its
    /// later loads, against a [`Fence::heavy`] of the same `Fence`.
    #[inline(always)]
    pub(crate) fn light(self) {
        if self.expedited {
            // The heavy side makes this a full barrier whenever it matters
            // (see the module docs); here only the compiler must keep the
            // order.
            core::sync::atomic::compiler_fence(Ordering::SeqCst);
        } else {
            // SeqCst: pairs with the SeqCst fence of `heavy` (the
            // fence-to-fence store-buffering handshake).
            super::fence(Ordering::SeqCst);
        }
    }

    /// The rare side: when it returns `true`, every thread's stores made
    /// before its last [`Fence::light`] that did not see the caller's
    /// earlier stores are visible to the caller. `false`: the barrier
    /// could not be issued (a `membarrier` that failed after registering,
    /// which no documented kernel does); the caller must then act as if
    /// the handshake had failed.
    pub(crate) fn heavy(self) -> bool {
        if self.expedited {
            membarrier::expedited()
        } else {
            // SeqCst: pairs with the SeqCst fence of `light`.
            super::fence(Ordering::SeqCst);
            true
        }
    }
}

#[cfg(all(target_os = "linux", not(seawall_loom)))]
mod membarrier {
    use crate::sync::{AtomicU32, Ordering};

    const MEMBARRIER_CMD_PRIVATE_EXPEDITED: libc::c_long = 1 << 3;
    const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_long = 1 << 4;

    const UNKNOWN: u32 = 0;
    const YES: u32 = 1;
    const NO: u32 = 2;

    /// Whether the process is registered: decided by the first caller
    /// (racing first callers each make the same, idempotent, system call).
    static REGISTERED: AtomicU32 = AtomicU32::new(UNKNOWN);

    fn call(cmd: libc::c_long) -> bool {
        // SAFETY: `membarrier(cmd, flags = 0, cpu_id = 0)` reads and writes
        // no memory of ours; an unknown command only returns an error.
        unsafe {
            libc::syscall(
                libc::SYS_membarrier,
                cmd,
                0 as libc::c_long,
                0 as libc::c_long,
            ) == 0
        }
    }

    pub(super) fn register() -> bool {
        // Relaxed: the answer is a fact about the process, not a
        // publication of other memory; a thread that reads UNKNOWN makes
        // the (idempotent) call itself.
        match REGISTERED.load(Ordering::Relaxed) {
            YES => true,
            NO => false,
            _ => {
                let ok = call(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED);
                // Relaxed: as above.
                REGISTERED.store(if ok { YES } else { NO }, Ordering::Relaxed);
                ok
            }
        }
    }

    pub(super) fn expedited() -> bool {
        // A forked child keeps its parent's registration (it is a property
        // of the address space, copied by fork); registering again is
        // harmless and covers any kernel that does not copy it.
        call(MEMBARRIER_CMD_PRIVATE_EXPEDITED)
            || (call(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED)
                && call(MEMBARRIER_CMD_PRIVATE_EXPEDITED))
    }
}

#[cfg(not(all(target_os = "linux", not(seawall_loom))))]
mod membarrier {
    pub(super) fn register() -> bool {
        false
    }

    pub(super) fn expedited() -> bool {
        unreachable!("never registered")
    }
}

#[cfg(all(test, target_os = "linux", not(seawall_loom)))]
mod tests {
    use super::Fence;

    #[test]
    fn registers_on_linux_and_the_heavy_fence_succeeds() {
        let f = Fence::new();
        assert!(
            f.expedited,
            "membarrier is available on every supported kernel"
        );
        assert!(f.heavy());
        f.light();
    }
}

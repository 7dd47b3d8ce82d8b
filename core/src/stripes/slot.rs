//! Which owned stripe the calling thread holds: [`thread_stripe`], asked
//! on every count.
//!
//! A thread's stripe number is claimed at its first count (`free.rs`),
//! kept in the thread-local `INDEX`, and handed back by the thread-local
//! `SLOT`'s destructor when the thread exits.
//!
//! # The thread-pointer table
//!
//! Reading a thread-local is cheap in an executable (an offset from the
//! thread pointer, fixed at link time) but not in a shared library, which
//! is how C programs (`libseawall_ffi.so`) and Python (the extension
//! module) load the core: there every access to `INDEX` is a call to
//! `__tls_get_addr` (the general-dynamic TLS model; Rust has no stable way
//! to ask for another): 13 instructions per access, 26 and about 4 ns on
//! the C breaker's success path (an acquire and a report).
//!
//! So on x86_64 and aarch64 Linux the hot path does not touch thread-local
//! storage. It reads the thread pointer itself (one instruction: the
//! address thread-local storage is found from, so it identifies exactly the
//! threads that `INDEX` does) and looks it up in `table::TABLE`, a small
//! process-wide hash table whose entries pair a live thread's pointer with
//! the stripe number it holds. The table is written only when a thread
//! claims a number, when it exits, and in a forked child; between those
//! it is only read, so its lines stay shared in every core's cache.
//!
//! An entry `tp | i` says "the live thread whose thread pointer is `tp`
//! holds number `i`", and that is true for as long as the entry exists:
//!
//! * it is written by that thread, after it claimed `i` and its `SLOT` is
//!   in place (so its destructor will run), into an empty cell only: a
//!   thread whose cell holds another thread's entry (a collision) is simply
//!   not in the table and takes the thread-local path;
//! * the thread removes it in `SLOT`'s destructor, before handing `i` back,
//!   so a later thread that gets the same thread pointer (the C library
//!   reuses the memory of exited threads) finds no entry and claims a
//!   number of its own. Relaxed suffices: that thread exists only after the
//!   C library took the old thread's memory back and handed it over (a join
//!   or its cache of thread stacks, which synchronise), so the removal
//!   happens before the new thread's first look-up;
//! * in a child process after `fork`, where only the forking thread lives,
//!   a fork handler removes every other thread's entry before the child
//!   runs any code of its own (their numbers stay claimed, as `free.rs`
//!   says); the handler is registered before the first entry is written.
//!
//! Threads beyond the owned stripes, threads whose cell is taken, threads
//! whose thread pointer is not 8-aligned, and every other target use the
//! thread-local path (`by_thread_local`), which is the source of truth in
//! every case; the table only finds its answer faster.
//!
//! The price: a look-up is 8 instructions (thread pointer, hash, table
//! address, load, compare) where an executable's thread-local read is 4,
//! so a Rust program pays about 0.2 ns more per acquire and report (the
//! breaker's criterion bench), while a shared library pays 2 instructions
//! more than a static one instead of 26. One code path for every way the
//! core is linked, since the core cannot know which one it is.

/// The calling thread's owned stripe, or `None`: it counts in the shared
/// stripe (no number was free, or its thread-local storage is being torn
/// down). Under loom always `None` (see the module docs of `stripes`).
#[cfg(seawall_loom)]
#[inline]
pub(crate) fn thread_stripe() -> Option<usize> {
    None
}

/// As [`thread_stripe`]: under loom no thread is listed.
#[cfg(seawall_loom)]
#[inline(always)]
pub(crate) fn listed_stripe() -> Option<usize> {
    None
}

#[cfg(not(seawall_loom))]
use std::cell::Cell;

#[cfg(not(seawall_loom))]
use super::{free, STRIPES};
#[cfg(not(seawall_loom))]
use crate::sync::AtomicU32;

/// The calling thread's owned stripe, or `None`: it counts in the shared
/// stripe (no number was free, or its thread-local storage is being torn
/// down).
#[cfg(not(seawall_loom))]
#[inline]
pub(crate) fn thread_stripe() -> Option<usize> {
    // Where there is no table, `listed_stripe` reads the thread-local
    // itself, and the thread-local path (inlined there) only claims.
    listed_stripe().or_else(|| {
        let i = by_thread_local();
        (i < STRIPES).then_some(i)
    })
}

/// The calling thread's owned stripe if the thread-pointer table lists it
/// (where there is no table: if the thread-local says it holds one): the
/// part of [`thread_stripe`] that makes no call (on targets without a
/// table, a shared library's thread-local read may be one; under loom,
/// never a stripe). `None` says nothing about the thread: [`thread_stripe`]
/// has the answer.
#[cfg(not(seawall_loom))]
#[inline(always)]
pub(crate) fn listed_stripe() -> Option<usize> {
    let x = table::find();
    // Below STRIPES: fits a usize.
    (x < STRIPES as u64).then_some(x as usize)
}

/// `INDEX` of a thread that has not counted yet.
#[cfg(not(seawall_loom))]
const UNCLAIMED: usize = usize::MAX;
/// `INDEX` of a thread that counts in the shared stripe: no number was
/// free when it first counted, or it has exited (its `Slot` is dropped).
#[cfg(not(seawall_loom))]
const SHARED: usize = usize::MAX - 1;

/// The stripe numbers no live thread holds (see `free.rs`).
#[cfg(not(seawall_loom))]
static FREE: AtomicU32 = AtomicU32::new(free::all(STRIPES));

/// The number a thread holds, if it got one; handed back on exit.
#[cfg(not(seawall_loom))]
struct Slot(Option<usize>);

#[cfg(not(seawall_loom))]
impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(i) = self.0 {
            // Counts made after this (by other thread-local destructors) go
            // to the shared stripe: the entry is removed and the number
            // handed back below.
            table::remove(i);
            INDEX.with(|x| x.set(SHARED));
            free::hand_back(&FREE, i);
        }
    }
}

#[cfg(not(seawall_loom))]
crate::sync::thread_local! {
    /// This thread's owned stripe, if it holds one; else `UNCLAIMED` or
    /// `SHARED`. `const` and without a destructor, so reading it is a
    /// plain thread-local load that works at any point of the thread's
    /// life.
    static INDEX: Cell<usize> = const { Cell::new(UNCLAIMED) };
    /// Holds the thread's number and hands it back when the thread exits.
    static SLOT: Slot = Slot(free::claim(&FREE));
}

/// The thread-local path: one load of a `const`-initialised thread-local
/// with no destructor (no lazy-init or torn-down check), claiming a number
/// at the thread's first count; `SHARED` (or above) for the shared stripe.
/// Inlined where it is the only path; where the table answers first, kept
/// out of the callers.
#[cfg(not(seawall_loom))]
#[cfg_attr(
    all(
        target_os = "linux",
        any(target_arch = "x86_64", target_arch = "aarch64")
    ),
    cold,
    inline(never)
)]
#[cfg_attr(
    not(all(
        target_os = "linux",
        any(target_arch = "x86_64", target_arch = "aarch64")
    )),
    inline
)]
fn by_thread_local() -> usize {
    let i = INDEX.with(Cell::get);
    if i < STRIPES {
        i
    } else {
        claim()
    }
}

/// Claims a number at the thread's first count (and enters it in the
/// table); `SHARED` for threads that count in the shared stripe.
#[cfg(not(seawall_loom))]
#[cold]
#[inline(never)]
fn claim() -> usize {
    if INDEX.with(Cell::get) != UNCLAIMED {
        return SHARED;
    }
    // `try_with` fails once the thread's locals are being destroyed.
    let i = SLOT.try_with(|s| s.0).ok().flatten();
    INDEX.with(|x| x.set(i.unwrap_or(SHARED)));
    // Only now: `SLOT` is in place, so its destructor removes the entry.
    if let Some(i) = i {
        table::insert(i);
    }
    i.unwrap_or(SHARED)
}

/// The thread-pointer table (see the module docs).
#[cfg(all(
    not(seawall_loom),
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
mod table {
    use super::STRIPES;
    use crate::sync::{AtomicU32, AtomicU64, Ordering};

    /// The table's size: a power of two well above [`STRIPES`], so that
    /// the owners' thread pointers rarely collide (a thread that collides
    /// only takes the slower path).
    const CELL_BITS: u32 = 6;

    /// An empty cell: no user-space thread pointer is within `STRIPES` of
    /// it (see `find`).
    const EMPTY: u64 = u64::MAX;

    /// `tp | i` (the live thread with thread pointer `tp` holds number
    /// `i`) or `EMPTY`.
    static TABLE: [AtomicU64; 1 << CELL_BITS] = [const { AtomicU64::new(EMPTY) }; 1 << CELL_BITS];

    /// The calling thread's number if it is in the table; otherwise a
    /// value of at least `STRIPES`.
    #[inline(always)]
    pub(super) fn find() -> u64 {
        let tp = thread_pointer();
        // Relaxed: only the thread named by an entry acts on it, and every
        // write that thread must see is its own or happens before it
        // started (see the module docs). Below `STRIPES` only for this
        // thread's own entry: another entry differs from `tp` above the
        // low 3 bits, and `EMPTY` (all ones) differs from any user-space
        // address there.
        TABLE[cell(tp)].load(Ordering::Relaxed) ^ tp
    }

    /// The thread pointer: the address of the calling thread's control
    /// block, unique among live threads, from which the C library finds
    /// its thread-local storage.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    pub(super) fn thread_pointer() -> u64 {
        let tp: u64;
        // SAFETY: the x86-64 System V TLS ABI (followed by glibc and musl)
        // requires the word at `%fs:0` to hold the thread control block's
        // own address; reading it has no other effect. Not `pure`: the
        // value must not be reused across a point where the code may move
        // to another thread (an `await`).
        unsafe {
            std::arch::asm!(
                "mov {}, qword ptr fs:[0]",
                out(reg) tp,
                options(nostack, readonly, preserves_flags)
            );
        }
        tp
    }

    /// The thread pointer (see the x86_64 version).
    #[cfg(target_arch = "aarch64")]
    #[inline(always)]
    pub(super) fn thread_pointer() -> u64 {
        let tp: u64;
        // SAFETY: reads `tpidr_el0`, the register Linux keeps the thread
        // pointer in (readable from user space); no other effect. Not
        // `pure`: see the x86_64 version.
        unsafe {
            std::arch::asm!(
                "mrs {}, tpidr_el0",
                out(reg) tp,
                options(nomem, nostack, preserves_flags)
            );
        }
        tp
    }

    /// The cell of thread pointer `tp`: a multiplicative hash of its low
    /// 32 bits (threads' stacks are megabytes apart, so their pointers
    /// differ in bits 12 to 31; the multiplication carries those up into
    /// the top bits, which are kept). The odd constant is below 2^31, so
    /// x86 multiplies by it as an immediate even inside a loop (one it
    /// would take as negative is first moved into a register): two
    /// instructions with the shift. Always in bounds (`CELL_BITS` bits).
    #[inline(always)]
    fn cell(tp: u64) -> usize {
        // Truncation intended: the low 32 bits are the hash's key.
        ((tp as u32).wrapping_mul(0x7FEB_352D) >> (32 - CELL_BITS)) as usize
    }

    /// Enters the calling thread, which holds number `i`, in its cell if
    /// the cell is empty and the fork handler is registered.
    pub(super) fn insert(i: usize) {
        let tp = thread_pointer();
        if tp % 8 != 0 || !fork_handler_registered() {
            return;
        }
        // Relaxed: see the module docs. Only an empty cell is taken; a
        // failure leaves this thread on the thread-local path.
        let _ = TABLE[cell(tp)].compare_exchange(
            EMPTY,
            tp | i as u64,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }

    /// Removes the calling thread's entry for number `i`, if it has one.
    pub(super) fn remove(i: usize) {
        let tp = thread_pointer();
        // Relaxed: see the module docs. Fails when the thread never got the
        // cell (or a fork handler cleared it): nothing to remove.
        let _ = TABLE[cell(tp)].compare_exchange(
            tp | i as u64,
            EMPTY,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }

    /// The fork handler run in the child: removes every entry but the
    /// forking thread's, the one thread that lives on in the child. Only
    /// atomic loads and stores: async-signal-safe, as a fork handler must
    /// be.
    pub(super) extern "C" fn forget_other_threads() {
        let tp = thread_pointer();
        for c in &TABLE {
            // Relaxed: the child has one thread.
            let v = c.load(Ordering::Relaxed);
            if v != EMPTY && v ^ tp >= STRIPES as u64 {
                c.store(EMPTY, Ordering::Relaxed);
            }
        }
    }

    /// Registers `forget_other_threads` as a fork handler, once per
    /// process; true once it is registered. A state word, not a `Once`: a
    /// `Once` caught mid-call by a fork would stay "running" in the child
    /// forever. Threads that find another one registering do not wait:
    /// they stay out of the table (and use the thread-local path).
    fn fork_handler_registered() -> bool {
        const NO: u32 = 0;
        const REGISTERING: u32 = 1;
        const YES: u32 = 2;
        static STATE: AtomicU32 = AtomicU32::new(NO);
        // Acquire: pairs with the Release store of YES below, so the
        // registration happens before this thread's entry is written.
        match STATE.load(Ordering::Acquire) {
            YES => return true,
            REGISTERING => return false,
            _ => {}
        }
        // Relaxed: the swap only elects the registering thread.
        if STATE
            .compare_exchange(NO, REGISTERING, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            return false;
        }
        // SAFETY: `forget_other_threads` is a plain function valid for the
        // life of the process, doing only atomic loads and stores (safe in
        // a forked child).
        let failed = unsafe { libc::pthread_atfork(None, None, Some(forget_other_threads)) };
        // Release: pairs with the Acquire above. A failed registration
        // (out of memory) is tried again by a later claim.
        STATE.store(if failed == 0 { YES } else { NO }, Ordering::Release);
        failed == 0
    }

    /// The calling thread's stripe as the table alone says it: `None` when
    /// it is not in the table.
    #[cfg(test)]
    pub(super) fn lookup() -> Option<usize> {
        let x = find();
        // Below STRIPES: fits a usize.
        (x < STRIPES as u64).then_some(x as usize)
    }

    /// The number the table gives the thread with thread pointer `tp`.
    #[cfg(test)]
    pub(super) fn entry(tp: u64) -> Option<usize> {
        // Relaxed: as in `find`.
        let x = TABLE[cell(tp)].load(Ordering::Relaxed) ^ tp;
        // Below STRIPES: fits a usize.
        (x < STRIPES as u64).then_some(x as usize)
    }
}

/// No table on this target: every look-up takes the thread-local path.
#[cfg(all(
    not(seawall_loom),
    not(all(
        target_os = "linux",
        any(target_arch = "x86_64", target_arch = "aarch64")
    ))
))]
mod table {
    /// The thread-local's answer, there being no table: a `const`
    /// thread-local with no destructor, so a plain load in an executable
    /// (a shared library may reach it through a call); `UNCLAIMED` or
    /// `SHARED`, above every number, for a thread without one.
    #[inline(always)]
    pub(super) fn find() -> u64 {
        super::INDEX.with(std::cell::Cell::get) as u64
    }

    pub(super) fn insert(_: usize) {}

    pub(super) fn remove(_: usize) {}

    #[cfg(test)]
    pub(super) fn lookup() -> Option<usize> {
        None
    }
}

#[cfg(all(test, not(seawall_loom)))]
mod tests {
    use super::*;

    /// The number the thread-local path says the calling thread holds.
    fn held() -> Option<usize> {
        Some(INDEX.with(Cell::get)).filter(|&i| i < STRIPES)
    }

    #[test]
    fn a_thread_gets_the_number_it_holds() {
        std::thread::spawn(|| {
            assert_eq!(held(), None, "nothing claimed before the first count");
            let s = thread_stripe();
            assert_eq!(s, held());
            assert_eq!(thread_stripe(), s, "the same number on every count");
            assert!(
                table::lookup().is_none() || table::lookup() == s,
                "the table never names another number"
            );
        })
        .join()
        .unwrap();
    }

    #[cfg(all(
        target_os = "linux",
        any(target_arch = "x86_64", target_arch = "aarch64")
    ))]
    #[test]
    fn a_thread_reusing_an_exited_threads_pointer_is_not_in_the_table() {
        // Threads spawned one after another reuse the memory (and so the
        // thread pointer) of the one that exited: the C library caches
        // thread stacks. Each must start outside the table and find its
        // own number in it, never the previous thread's.
        let mut reused = 0;
        let mut last = None;
        for _ in 0..50 {
            let (tp, before, after, s) = std::thread::spawn(|| {
                let before = table::lookup();
                let s = thread_stripe();
                (table::thread_pointer(), before, table::lookup(), s)
            })
            .join()
            .unwrap();
            assert_eq!(before, None, "no entry before the thread's first count");
            assert!(after.is_none() || after == s, "{after:?} vs {s:?}");
            reused += usize::from(last == Some(tp));
            last = Some(tp);
        }
        assert!(
            reused > 0,
            "thread pointers were reused: the case is covered"
        );
    }

    #[test]
    fn threads_beyond_the_owned_stripes_share_and_no_number_has_two_holders() {
        const THREADS: usize = STRIPES * 3;
        let barrier = std::sync::Barrier::new(THREADS);
        let seen: Vec<Option<usize>> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..THREADS)
                .map(|_| {
                    s.spawn(|| {
                        let first = thread_stripe();
                        // All alive at once: every number claimed below is
                        // held by exactly one of them (or another test's
                        // thread).
                        barrier.wait();
                        for _ in 0..1000 {
                            assert_eq!(thread_stripe(), first);
                        }
                        assert!(table::lookup().is_none() || table::lookup() == first);
                        barrier.wait();
                        first
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let owned: Vec<usize> = seen.iter().flatten().copied().collect();
        let mut distinct = owned.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), owned.len(), "{seen:?}");
        assert!(owned.len() <= STRIPES);
        assert!(seen.iter().any(Option::is_none), "some threads share");
    }

    #[cfg(all(
        target_os = "linux",
        any(target_arch = "x86_64", target_arch = "aarch64")
    ))]
    #[test]
    fn a_forked_child_keeps_only_the_forking_threads_entry() {
        // A thread that holds a number and stays alive across the fork,
        // entered in the table (other tests' threads may hold every number
        // or its cell: then the next thread tries).
        let mut found = None;
        for _ in 0..100 {
            let (ready_tx, ready_rx) = std::sync::mpsc::channel();
            let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
            let h = std::thread::spawn(move || {
                let s = thread_stripe();
                let entered = s.is_some() && table::lookup() == s;
                ready_tx.send(entered.then(table::thread_pointer)).unwrap();
                if entered {
                    let _ = done_rx.recv();
                }
            });
            match ready_rx.recv().unwrap() {
                Some(tp) => {
                    found = Some((h, done_tx, tp));
                    break;
                }
                None => h.join().unwrap(),
            }
        }
        let (other, done_tx, other_tp) = found.expect("a thread entered in the table");
        let mine = thread_stripe();
        let mine_in_table = table::lookup();
        // SAFETY: the child only reads atomics and calls `_exit`.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let gone = table::entry(other_tp).is_none();
            let kept = table::lookup() == mine_in_table;
            // SAFETY: ends the child without running the parent's code.
            unsafe { libc::_exit(if gone && kept { 0 } else { 1 }) };
        }
        assert!(pid > 0, "fork failed");
        let mut status = 0;
        // SAFETY: waits for the child started above.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "child status {status}"
        );
        assert!(mine_in_table.is_none() || mine_in_table == mine);
        done_tx.send(()).unwrap();
        other.join().unwrap();
    }
}

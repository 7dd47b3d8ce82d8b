//! The waiters' line and the hand-over of released slots to it.
//!
//! A queued call is a [`Node`]: its state (see the constants below), the
//! event count its thread sleeps on, and the waker of its task. New nodes
//! are pushed onto an inbox (a lock-free stack any thread pushes to with
//! one compare-and-swap); the *line*, in arrival order, belongs to the one
//! thread serving it at the time (the *server*).
//!
//! A release that owes its slot to a waiter adds a *unit* to the work word
//! and, if nobody is serving, becomes the server: it moves the inbox into
//! the line (reversed, so in arrival order) and gives each unit to the node
//! at the head of the line. Threads never wait for one another here: one
//! that finds a server at work leaves its unit (or its push, or its request
//! to clean up) in the work word, and the server, whose final
//! compare-and-swap fails because the word changed, goes round again. So
//! every unit is handed over by a thread that is running, and only the
//! waiter the slot goes to is woken.

use std::collections::VecDeque;
use std::sync::Arc;

use crossbeam_utils::CachePadded;

use super::waker::AtomicWaker;
use super::Bulkhead;
use crate::clock::{Clock, EventCount};
use crate::sync::{AtomicPtr, AtomicU32, AtomicU64, Ordering, UnsafeCell};

/// Queued; no slot committed to it yet.
pub(super) const WAITING: u32 = 0;
/// A released slot was handed to it; its owner has not taken it yet.
pub(super) const GRANTED: u32 = 1;
/// Its owner took the handed slot (a permit now holds it).
pub(super) const TAKEN: u32 = 2;
/// Its owner is leaving (timed out, cancelled or dropped).
pub(super) const LEAVING: u32 = 3;
/// A slot was handed to it while it was leaving; the leaver passes it on.
pub(super) const LEAVING_GRANTED: u32 = 4;
/// Left, and took itself out of the balance: the server skips it.
pub(super) const CANCELLED: u32 = 5;
/// Left when every queued call already had a slot coming: the unit that
/// reaches it goes back to the balance.
pub(super) const REFUSED: u32 = 6;
/// A handed slot its owner passed on instead of taking.
pub(super) const PASSED: u32 = 7;

/// Someone is serving the line.
const SERVING: u64 = 1;
/// A waiter left the line and asked for it to be cleaned.
const CLEAN: u64 = 1 << 1;
/// One slot owed to the line (units are bits 2..34).
const UNIT: u64 = 1 << 2;
const UNITS: u64 = 0xFFFF_FFFF << 2;
/// Bumped by each push (bits 34..64, wrapping off the top): a change the
/// server cannot miss.
const PUSHED: u64 = 1 << 34;

fn units(work: u64) -> u64 {
    (work & UNITS) >> 2
}

/// One queued call.
pub(super) struct Node {
    pub(super) state: AtomicU32,
    /// What the waiting thread sleeps on (on a clock that follows real
    /// time; see `Bulkhead::sleep_on`).
    pub(super) events: EventCount,
    /// The waiting task's waker, if it waits as a future.
    pub(super) waker: AtomicWaker,
    /// The next (older) node in the inbox.
    next: AtomicPtr<Node>,
}

impl Node {
    fn new() -> Self {
        Self {
            state: AtomicU32::new(WAITING),
            events: EventCount::new(),
            waker: AtomicWaker::new(),
            next: AtomicPtr::new(std::ptr::null_mut()),
        }
    }
}

/// The inbox, the line and the work word.
pub(super) struct Queue {
    /// `[pushes: 30 | units: 32 | CLEAN | SERVING]`.
    work: CachePadded<AtomicU64>,
    /// Nodes pushed since the server last looked, newest first; each holds
    /// one reference (`Arc::into_raw`).
    inbox: AtomicPtr<Node>,
    /// Queued nodes, oldest first: touched only by the server.
    line: UnsafeCell<VecDeque<Arc<Node>>>,
    /// Nodes in the inbox or the line that left as `CANCELLED`, as a
    /// two's-complement count: a departure marks its node and only then
    /// counts it, so a server that drops the node in between takes the
    /// count below zero for a moment (the count is whole again once the
    /// departure counts it).
    dead: AtomicU64,
}

// SAFETY: the line (the only field that is not thread-safe on its own) is
// touched only by the thread that set SERVING in the work word, which
// excludes every other thread until it clears the flag (see `serve`); the
// nodes it holds are `Send + Sync`.
unsafe impl Sync for Queue {}
// SAFETY: as above; a `Queue` owns its nodes outright.
unsafe impl Send for Queue {}

impl Queue {
    pub(super) fn new() -> Self {
        Self {
            work: CachePadded::new(AtomicU64::new(0)),
            inbox: AtomicPtr::new(std::ptr::null_mut()),
            line: UnsafeCell::new(VecDeque::new()),
            dead: AtomicU64::new(0),
        }
    }

    /// A node counted as `CANCELLED` (the server drops it when it reaches
    /// the head, or earlier, by a clean-up).
    pub(super) fn count_dead(&self) {
        // Relaxed: a hint for when to clean; the states decide.
        self.dead.fetch_add(1, Ordering::Relaxed);
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        // Acquire: pairs with the pushes' Release; the last access.
        let mut p = self.inbox.swap(std::ptr::null_mut(), Ordering::Acquire);
        while !p.is_null() {
            // SAFETY: every inbox entry is an `Arc::into_raw` of a node,
            // owned by the inbox; the swap gave this thread the list.
            let node = unsafe { Arc::from_raw(p) };
            // Relaxed: written before the push that published it.
            p = node.next.load(Ordering::Relaxed);
        }
    }
}

/// Nodes the server handed a slot to, woken once it has stopped serving.
#[derive(Default)]
struct Wakes(Vec<Arc<Node>>);

impl<C: Clock> Bulkhead<C> {
    /// Queues a new node (the caller has already counted itself in the
    /// balance) and returns it.
    pub(super) fn push(&self, node: Node) -> Arc<Node> {
        let node = Arc::new(node);
        let raw = Arc::into_raw(Arc::clone(&node)).cast_mut();
        let q = &self.queue;
        // Relaxed: a guess for the swap below.
        let mut head = q.inbox.load(Ordering::Relaxed);
        loop {
            // Relaxed: published by the Release of the swap below.
            node.next.store(head, Ordering::Relaxed);
            // Release: pairs with the server's Acquire swap, publishing the
            // node. Relaxed on failure: a new guess.
            match q
                .inbox
                .compare_exchange_weak(head, raw, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(actual) => head = actual,
            }
        }
        // AcqRel: a read-modify-write of the work word, so it is ordered
        // with the server's final compare-and-swap: either that swap sees
        // this change and serves again (the Release here makes the push
        // above visible to it), or this sees the server gone and serves.
        let prev = q.work.fetch_add(PUSHED, Ordering::AcqRel);
        if prev & SERVING == 0 && units(prev) > 0 {
            self.serve();
        }
        node
    }

    /// A new queued node, for `push`.
    pub(super) fn node() -> Node {
        Node::new()
    }

    /// Owes one released slot to the line: the head waiter gets it.
    #[cold]
    pub(super) fn hand_over(&self) {
        // AcqRel: as in `push`. Release also makes what the releaser did
        // under its slot visible to the server, which hands it on with the
        // Release of the grant.
        let prev = self.queue.work.fetch_add(UNIT, Ordering::AcqRel);
        if prev & SERVING == 0 {
            self.serve();
        }
    }

    /// Asks the server to drop the nodes that left (when they are many).
    pub(super) fn clean(&self) {
        // AcqRel: as in `push`.
        let prev = self.queue.work.fetch_or(CLEAN, Ordering::AcqRel);
        if prev & SERVING == 0 {
            self.serve();
        }
    }

    /// Serves the line if nobody else is and there is something to do; see
    /// the module documentation.
    fn serve(&self) {
        let q = &self.queue;
        // Acquire: pairs with the Release of the changes read here.
        let mut cur = q.work.load(Ordering::Acquire);
        loop {
            if cur & SERVING != 0 || (units(cur) == 0 && cur & CLEAN == 0) {
                return;
            }
            // Acquire: pairs with the Release of the previous server's
            // final swap (the line as it left it) and of every change
            // since. Acquire on failure: the value decides again.
            match q.work.compare_exchange_weak(
                cur,
                cur | SERVING,
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    cur |= SERVING;
                    break;
                }
                Err(actual) => cur = actual,
            }
        }
        let mut wakes = Wakes::default();
        // Units handed over and not yet taken off the word.
        let mut done = 0;
        loop {
            let (handed, idle) = q.line.with_mut(|line| {
                // SAFETY: this thread set SERVING, which gives it the line
                // until it clears the flag (the Release/Acquire of the work
                // word orders one server's accesses before the next's).
                let line = unsafe { &mut *line };
                self.take_inbox(line);
                if cur & CLEAN != 0 {
                    self.drop_dead(line);
                }
                let handed = self.hand_units(line, units(cur) - done, &mut wakes);
                (handed, line.is_empty())
            });
            done += handed;
            let next = (cur - done * UNIT) & !CLEAN;
            // Stop when no unit is owed, or when one is but its waiter has
            // not been pushed yet (the push serves again).
            let stop = units(next) == 0 || idle;
            let next = if stop { next & !SERVING } else { next };
            // AcqRel: Release hands the line to the next server; Acquire
            // (also on failure) sees what the changes made since `cur`
            // published (pushes, units).
            match q
                .work
                .compare_exchange(cur, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) if stop => break,
                Ok(_) => {
                    cur = next;
                    done = 0;
                }
                Err(actual) => cur = actual,
            }
        }
        // Wakers run here, with the line left: never in the middle of a
        // hand-over.
        for node in wakes.0 {
            self.wake(&node);
        }
    }

    /// Moves the inbox to the back of the line, oldest first.
    fn take_inbox(&self, line: &mut VecDeque<Arc<Node>>) {
        // Acquire: pairs with the Release of the pushes.
        let mut p = self
            .queue
            .inbox
            .swap(std::ptr::null_mut(), Ordering::Acquire);
        let start = line.len();
        while !p.is_null() {
            // SAFETY: as in `Queue::drop`: the inbox's reference, now the
            // line's.
            let node = unsafe { Arc::from_raw(p) };
            // Relaxed: written before the push that published it.
            p = node.next.load(Ordering::Relaxed);
            line.push_back(node);
        }
        line.make_contiguous()[start..].reverse();
    }

    /// Drops the `CANCELLED` nodes when they are at least half the line, so
    /// that a line whose waiters keep giving up while no slot is released
    /// stays in proportion to the waiters still in it (and the clean-up
    /// costs O(1) per departure over time).
    fn drop_dead(&self, line: &mut VecDeque<Arc<Node>>) {
        // Relaxed: see `count_dead`.
        let dead = self.queue.dead.load(Ordering::Relaxed) as i64;
        if dead <= 0 || dead.saturating_mul(2) < line.len() as i64 {
            return;
        }
        let before = line.len();
        // Relaxed: CANCELLED is final, and nothing is read through it.
        line.retain(|n| n.state.load(Ordering::Relaxed) != CANCELLED);
        let gone = (before - line.len()) as u64;
        self.queue.dead.fetch_sub(gone, Ordering::Relaxed);
    }

    /// Gives up to `owed` units to the head of the line; returns how many
    /// were settled (handed to a waiter, or back to the balance).
    fn hand_units(&self, line: &mut VecDeque<Arc<Node>>, mut owed: u64, wakes: &mut Wakes) -> u64 {
        let mut settled = 0;
        while owed > 0 {
            let Some(node) = line.front() else { break };
            // Relaxed: a guess for the swaps below.
            let mut s = node.state.load(Ordering::Relaxed);
            let handed = loop {
                let next = match s {
                    WAITING => GRANTED,
                    LEAVING => LEAVING_GRANTED,
                    _ => break false,
                };
                // Release: pairs with the Acquire of the owner that takes
                // the slot; with the Acquire of the work word above, what
                // the releaser did under the slot happens before the new
                // holder's call. Relaxed on failure: a new state to judge.
                match node
                    .state
                    .compare_exchange(s, next, Ordering::Release, Ordering::Relaxed)
                {
                    Ok(_) => break true,
                    Err(actual) => s = actual,
                }
            };
            let node = line.pop_front().expect("the head was just read");
            if handed {
                if s == WAITING {
                    wakes.0.push(node);
                }
                owed -= 1;
                settled += 1;
            } else if s == CANCELLED {
                // Relaxed: see `count_dead`.
                self.queue.dead.fetch_sub(1, Ordering::Relaxed);
            } else {
                debug_assert_eq!(s, REFUSED, "a node in the line that left");
                // The slot committed to this waiter goes back: free, or,
                // when a newer waiter is owed one, as a new unit in the
                // work word (which this server serves next). Either way
                // this unit is settled here: handing it on as well would
                // give one slot to two waiters.
                self.give_back();
                owed -= 1;
                settled += 1;
            }
        }
        settled
    }

    /// Wakes the waiter of `node`: its task, and its thread (which sleeps
    /// on the clock's event count if the clock moves by hand).
    pub(super) fn wake(&self, node: &Node) {
        node.waker.wake();
        match self.clock.moves() {
            Some(moves) => moves.notify_all(),
            None => node.events.notify_one(),
        }
    }
}

#[cfg(all(test, not(seawall_loom)))]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{Admission, BulkheadConfig, BulkheadError, ManualClock, Waiter};

    /// One slot, room for eight waiters, a minute's wait.
    fn one_slot() -> Bulkhead<ManualClock> {
        let config = BulkheadConfig {
            max_concurrent: 1,
            max_queue_size: 8,
            timeout: Duration::from_secs(60),
        };
        Bulkhead::with_clock(config, ManualClock::new()).unwrap()
    }

    fn queued<'a>(b: &'a Bulkhead<ManualClock>) -> Waiter<'a, ManualClock> {
        match b.enqueue() {
            Ok(Admission::Queued(w)) => w,
            _ => panic!("expected to queue"),
        }
    }

    /// A waiter that leaves once a slot is on its way to it (`REFUSED`)
    /// while a newer waiter is still owed one: the server converts the
    /// refused slot into one unit for the line, and that one unit reaches
    /// exactly one waiter (it once went on as well, handing one slot to
    /// two waiters).
    #[test]
    fn a_refused_slot_reaches_one_waiter() {
        let b = one_slot();
        let held = b.try_acquire().unwrap();
        let first = queued(&b);
        // Another thread is serving the line: units and pushes wait in the
        // work word for it.
        b.queue.work.fetch_or(SERVING, Ordering::AcqRel);
        // A unit owed to `first`; then `first` leaves, refusing the slot on
        // its way; then `second` queues, owed nothing yet.
        drop(held);
        first.cancel();
        let second = queued(&b);
        // The server comes round.
        b.queue.work.fetch_and(!SERVING, Ordering::AcqRel);
        b.serve();
        let third = queued(&b);
        let got_second = second.try_acquire();
        let got_third = third.try_acquire();
        assert!(
            got_second.is_ok(),
            "the refused slot goes to the next waiter"
        );
        assert_eq!(
            got_third.unwrap_err(),
            BulkheadError::Full,
            "and to no one else"
        );
        drop(got_second);
        assert_eq!(third.try_acquire().map(|_| ()), Ok(()));
        drop(third);
        assert_eq!((b.available_permits(), b.queue_size()), (1, 0));
    }

    /// A waiter's departure marks its node `CANCELLED` and only then
    /// counts it; a server may drop the node in between, taking the count
    /// below zero for a moment. A clean-up asked for in that moment must
    /// see "no dead nodes", not a huge count (it once overflowed).
    #[test]
    fn a_dead_node_dropped_before_it_is_counted_leaves_the_count_whole() {
        let b = one_slot();
        let held = b.try_acquire().unwrap();
        let first = queued(&b);
        let second = queued(&b);
        let third = queued(&b);
        let head = b.queue.line.with_mut(|line| {
            // SAFETY: no server runs: this thread is the only one.
            let line = unsafe { &mut *line };
            b.take_inbox(line);
            line[0].clone()
        });
        // `first` leaves, up to the store of its final state: counted out
        // of the balance, marked CANCELLED, not yet counted as dead.
        b.balance.fetch_add(1, Ordering::Relaxed);
        head.state.store(CANCELLED, Ordering::Relaxed);
        // The release drops the dead head and serves `second`; then a
        // clean-up runs before `first` counts its node.
        drop(held);
        b.clean();
        b.queue.count_dead();
        assert_eq!(b.queue.dead.load(Ordering::Relaxed), 0);
        let got_second = second.try_acquire();
        assert!(got_second.is_ok(), "the slot went to the next waiter");
        assert_eq!(third.try_acquire().unwrap_err(), BulkheadError::Full);
        drop(got_second);
        drop(first);
        drop(third);
        assert_eq!((b.available_permits(), b.queue_size()), (1, 0));
    }
}

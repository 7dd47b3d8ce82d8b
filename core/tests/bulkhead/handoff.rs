//! The direct hand-over: a release hands its slot to the oldest waiter
//! (first come, first served; no newcomer can take it), wakes that waiter
//! whether it waits on a thread or as a future, and waiters that give up
//! while slots are handed over never lose or duplicate a slot.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

use super::*;

/// Wakes a parked thread; counts its wake-ups.
struct ThreadWaker {
    thread: Thread,
    wakes: AtomicU32,
}

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
        self.thread.unpark();
    }
}

/// Runs `fut` to completion on this thread, parking between polls; returns
/// its output and how many times it was woken.
fn block_on<F: Future>(fut: F) -> (F::Output, u32) {
    let waker = Arc::new(ThreadWaker {
        thread: thread::current(),
        wakes: AtomicU32::new(0),
    });
    let w = Waker::from(Arc::clone(&waker));
    let mut cx = Context::from_waker(&w);
    let mut fut = pin!(fut);
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return (out, waker.wakes.load(Ordering::SeqCst));
        }
        thread::park();
    }
}

#[test]
fn slots_go_to_waiters_in_arrival_order_and_no_newcomer_takes_one() {
    let (b, _) = bulkhead(1, 8);
    let mut held = Some(b.try_acquire().unwrap());
    let waiters: Vec<_> = (0..5).map(|_| queued(b.enqueue().unwrap())).collect();
    assert_eq!(b.queue_size(), 5);
    for (i, w) in waiters.iter().enumerate() {
        drop(held.take());
        // Handed over, never freed: a newcomer finds the bulkhead full.
        assert_eq!(b.available_permits(), 0);
        assert_eq!(b.try_acquire().unwrap_err(), BulkheadError::Full);
        for later in &waiters[i + 1..] {
            assert_eq!(later.try_acquire().unwrap_err(), BulkheadError::Full);
        }
        held = Some(w.try_acquire().expect("the oldest waiter has the slot"));
        assert_eq!(b.queue_size(), (4 - i) as u32);
    }
    drop(held);
    assert_eq!((b.available_permits(), b.queue_size()), (1, 0));
}

#[test]
fn threads_are_served_in_the_order_they_queued() {
    let (b, _) = bulkhead(1, 16);
    let b = Arc::new(b);
    b.try_acquire().unwrap().detach();
    let (tx, rx) = mpsc::channel();
    let mut threads = Vec::new();
    for i in 0..6 {
        let (b2, tx) = (Arc::clone(&b), tx.clone());
        threads.push(thread::spawn(move || {
            let p = b2.acquire().expect("served before the deadline");
            tx.send(i).unwrap();
            drop(p);
        }));
        // The next thread queues only once this one has.
        while b.queue_size() < i + 1 {
            thread::yield_now();
        }
    }
    assert!(b.release_detached());
    let order: Vec<u32> = (0..6)
        .map(|_| rx.recv_timeout(HANG_GUARD).unwrap())
        .collect();
    assert_eq!(order, [0, 1, 2, 3, 4, 5]);
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!((b.available_permits(), b.queue_size()), (1, 0));
}

#[test]
fn a_future_is_woken_by_a_release_in_another_thread() {
    // The production clock: the task is woken by the hand-over alone (on a
    // manual clock, the clock's event count would wake it too).
    let config = BulkheadConfig {
        max_concurrent: 1,
        max_queue_size: 1,
        timeout: Duration::from_secs(3600),
    };
    let b = Bulkhead::new(config).unwrap();
    let held = b.try_acquire().unwrap();
    thread::scope(|s| {
        let (tx, rx) = mpsc::channel();
        let b = &b;
        let t = s.spawn(move || {
            let fut = b.acquire_async();
            tx.send(()).unwrap();
            let (r, wakes) = block_on(fut);
            (r.map(drop), wakes)
        });
        rx.recv().unwrap();
        while b.queue_size() == 0 {
            thread::yield_now();
        }
        drop(held);
        let (r, wakes) = t.join().unwrap();
        assert_eq!(r, Ok(()));
        // At most one wake-up, the hand-over's: none when the slot was
        // handed over before the first poll returned Pending (the queue
        // shows the waiter from its push, a moment before that), never a
        // poll of its own.
        assert!(wakes <= 1, "{wakes} wake-ups");
    });
    assert_eq!((b.available_permits(), b.queue_size()), (1, 0));
}

#[test]
fn a_future_is_woken_by_a_cancel_and_by_a_manual_clock_passing_its_deadline() {
    let (b, clock) = bulkhead(1, 2);
    let _held = b.try_acquire().unwrap();
    let cancelled = queued(b.enqueue().unwrap());
    let timed = queued(b.enqueue().unwrap());
    thread::scope(|s| {
        let c = s.spawn(|| block_on(waiting(&cancelled)).0);
        let t = s.spawn(|| block_on(waiting(&timed)).0);
        cancelled.cancel();
        assert_eq!(c.join().unwrap(), Err(BulkheadError::Cancelled));
        clock.advance(Duration::from_secs(30));
        assert_eq!(t.join().unwrap(), Err(BulkheadError::Timeout));
    });
    assert_eq!((b.available_permits(), b.queue_size()), (0, 0));
}

/// A future over a borrowed waiter (the `Future` impl is on the waiter).
fn waiting<'w, 'a>(
    w: &'w Waiter<'a, ManualClock>,
) -> impl Future<Output = Result<(), BulkheadError>> + 'w {
    std::future::poll_fn(move |cx| {
        w.register(cx.waker());
        match w.try_acquire() {
            Err(BulkheadError::Full) => Poll::Pending,
            r => Poll::Ready(r.map(drop)),
        }
    })
}

/// Waiters time out, are cancelled from other threads and are dropped while
/// slots are released and handed over, on the production clock with short
/// deadlines. At no time are more than `max_concurrent` slots held, and
/// once everything is done every slot is free and the queue is empty: no
/// slot was lost in a race between a hand-over and a departure, none was
/// handed twice.
#[test]
fn departures_racing_hand_overs_conserve_slots() {
    const MAX: u32 = 3;
    let config = BulkheadConfig {
        max_concurrent: MAX,
        max_queue_size: 64,
        timeout: Duration::from_millis(2),
    };
    let b = Bulkhead::new(config).unwrap();
    let inside = AtomicU32::new(0);
    let most = AtomicU32::new(0);
    let (got, gave_up) = (AtomicU32::new(0), AtomicU32::new(0));
    let stop = AtomicBool::new(false);
    thread::scope(|s| {
        for t in 0..8u64 {
            let (b, inside, most, got, gave_up) = (&b, &inside, &most, &got, &gave_up);
            s.spawn(move || {
                let mut rng = fastrand::Rng::with_seed(t);
                for _ in 0..1500 {
                    let r = match b.enqueue() {
                        Ok(Admission::Permit(p)) => Ok(p),
                        Ok(Admission::Queued(w)) => match rng.u8(..4) {
                            0 => {
                                // Cancelled (here, racing any hand-over).
                                w.cancel();
                                w.wait()
                            }
                            1 => {
                                // Dropped after a look.
                                let r = w.try_acquire();
                                drop(w);
                                r
                            }
                            _ => w.wait(),
                        },
                        Err(e) => Err(e),
                    };
                    match r {
                        Ok(p) => {
                            let n = inside.fetch_add(1, Ordering::SeqCst) + 1;
                            most.fetch_max(n, Ordering::SeqCst);
                            if rng.bool() {
                                thread::yield_now();
                            }
                            inside.fetch_sub(1, Ordering::SeqCst);
                            got.fetch_add(1, Ordering::SeqCst);
                            drop(p);
                        }
                        Err(_) => {
                            gave_up.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                }
            });
        }
        // Cancels from another thread: waiters of its own, cancelled by
        // a second thread while queued.
        s.spawn(|| {
            while !stop.load(Ordering::SeqCst) {
                if let Ok(Admission::Queued(w)) = b.enqueue() {
                    thread::scope(|s2| {
                        s2.spawn(|| w.cancel());
                        let _ = w.wait();
                    });
                }
            }
        });
        thread::sleep(Duration::from_millis(200));
        stop.store(true, Ordering::SeqCst);
    });
    assert!(most.load(Ordering::SeqCst) <= MAX);
    assert!(got.load(Ordering::SeqCst) > 0);
    assert_eq!((b.available_permits(), b.queue_size()), (MAX, 0));
    // And the bulkhead still works in full.
    let all: Vec<_> = (0..MAX).map(|_| b.try_acquire().unwrap()).collect();
    assert_eq!(b.try_acquire().unwrap_err(), BulkheadError::Full);
    drop(all);
}

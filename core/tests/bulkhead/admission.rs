//! Admission on the manual clock: full, queue full, queue timeout, dropped
//! and cancelled waiters, hand-over to a blocked waiter, detached permits,
//! validation, and exact accounting under threads.

use super::*;

#[test]
fn at_most_max_concurrent_permits_and_each_frees_its_slot() {
    let (b, _) = bulkhead(2, 0);
    assert_eq!(b.available_permits(), 2);
    let p1 = b.try_acquire().unwrap();
    let p2 = b.acquire().unwrap();
    assert_eq!(b.available_permits(), 0);
    assert_eq!(b.try_acquire().unwrap_err(), BulkheadError::Full);
    assert_eq!(b.acquire().unwrap_err(), BulkheadError::Full, "no queue");
    drop(p1);
    assert_eq!(b.available_permits(), 1);
    let p3 = b.try_acquire().unwrap();
    drop((p2, p3));
    assert_eq!(b.available_permits(), 2);
    assert_eq!(b.queue_size(), 0);
}

#[test]
fn the_queue_is_bounded() {
    let (b, _) = bulkhead(1, 2);
    let _held = b.try_acquire().unwrap();
    let w1 = queued(b.enqueue().unwrap());
    let w2 = queued(b.enqueue().unwrap());
    assert_eq!(b.queue_size(), 2);
    assert_eq!(b.enqueue().unwrap_err(), BulkheadError::Full);
    assert_eq!(b.acquire().unwrap_err(), BulkheadError::Full);
    assert_eq!(b.queue_size(), 2);
    drop((w1, w2));
    assert_eq!(b.queue_size(), 0);
}

#[test]
fn a_waiter_times_out_on_the_manual_clock_and_leaves_no_trace() {
    let (b, clock) = bulkhead(1, 1);
    let held = b.try_acquire().unwrap();
    let w = queued(b.enqueue().unwrap());
    assert_eq!(w.try_acquire().unwrap_err(), BulkheadError::Full);
    assert_eq!(b.queue_size(), 1, "still waiting");
    clock.advance(Duration::from_secs(30));
    assert_eq!(w.wait().unwrap_err(), BulkheadError::Timeout);
    assert_eq!(b.queue_size(), 0);
    assert_eq!(
        w.wait().unwrap_err(),
        BulkheadError::Timeout,
        "stays given up"
    );
    drop(w);
    assert_eq!(
        b.queue_size(),
        0,
        "dropping a waiter that left changes nothing"
    );
    drop(held);
    assert_eq!(b.available_permits(), 1);
    // acquire_timeout(0) with every slot taken: enqueued and given up at once.
    let _held = b.try_acquire().unwrap();
    assert_eq!(
        b.acquire_timeout(Duration::ZERO).unwrap_err(),
        BulkheadError::Timeout
    );
    assert_eq!(b.queue_size(), 0);
}

#[test]
fn a_slot_free_at_the_deadline_is_still_taken() {
    let (b, clock) = bulkhead(1, 1);
    let held = b.try_acquire().unwrap();
    let w = queued(b.enqueue().unwrap());
    drop(held);
    clock.advance(Duration::from_secs(60));
    let p = w.wait().unwrap();
    assert_eq!((b.available_permits(), b.queue_size()), (0, 0));
    drop(p);
    assert_eq!(b.available_permits(), 1);
}

#[test]
fn a_dropped_waiter_leaves_the_queue_and_strands_no_slot() {
    let (b, _) = bulkhead(1, 4);
    let held = b.try_acquire().unwrap();
    let w = queued(b.enqueue().unwrap());
    let other = queued(b.enqueue().unwrap());
    // The release hands the slot to `w`, the oldest waiter; `w` is then
    // dropped without taking it, and the slot goes on to `other`.
    drop(held);
    assert_eq!((b.available_permits(), b.queue_size()), (0, 1));
    drop(w);
    assert_eq!((b.available_permits(), b.queue_size()), (0, 0));
    let p = other.try_acquire().unwrap();
    drop(p);
    assert_eq!((b.available_permits(), b.queue_size()), (1, 0));
    // A waiter dropped before any release leaves the queue at once.
    let held = b.try_acquire().unwrap();
    drop(queued(b.enqueue().unwrap()));
    assert_eq!(b.queue_size(), 0);
    drop(held);
    assert_eq!(b.available_permits(), 1);
}

#[test]
fn a_release_wakes_a_blocked_waiter() {
    let (b, _) = bulkhead(1, 1);
    let held = b.try_acquire().unwrap();
    let w = queued(b.enqueue().unwrap());
    std::thread::scope(|s| {
        let t = s.spawn(|| {
            let p = w.wait();
            let ok = p.is_ok();
            drop(p);
            ok
        });
        drop(held);
        assert!(t.join().unwrap(), "the waiter got the freed slot");
    });
    assert_eq!((b.available_permits(), b.queue_size()), (1, 0));
}

#[test]
fn cancel_from_another_thread_ends_a_wait() {
    let (b, _) = bulkhead(1, 1);
    let _held = b.try_acquire().unwrap();
    let w = queued(b.enqueue().unwrap());
    std::thread::scope(|s| {
        let t = s.spawn(|| w.wait().map(drop));
        w.cancel();
        assert_eq!(t.join().unwrap(), Err(BulkheadError::Cancelled));
    });
    assert_eq!(b.queue_size(), 0);
    assert_eq!(w.try_acquire().unwrap_err(), BulkheadError::Cancelled);
    assert_eq!(b.available_permits(), 0, "the holder still holds");
}

/// Waits are woken by the event that ends them: on a manual clock, the move
/// that passes the deadline, with no real time spent on the timeout. Two
/// waiters (3 s and one hour of manual time) block in other threads; each
/// returns `Timeout` only once the clock has been moved past its own
/// deadline, the other staying queued.
#[test]
fn moving_a_manual_clock_past_a_deadline_wakes_the_waiter() {
    let (b, clock) = bulkhead(1, 2);
    let b = Arc::new(b);
    let _held = b.try_acquire().unwrap();
    let (tx, rx) = mpsc::channel();
    let mut returned = Vec::new();
    for (name, timeout) in [
        ("3 s", Duration::from_secs(3)),
        ("1 h", Duration::from_secs(3600)),
    ] {
        let (b, tx) = (Arc::clone(&b), tx.clone());
        let done = Arc::new(AtomicBool::new(false));
        returned.push(Arc::clone(&done));
        std::thread::spawn(move || {
            let r = b.acquire_timeout(timeout).map(drop);
            // SeqCst: a test probe, not production code.
            done.store(true, Ordering::SeqCst);
            tx.send((name, r)).unwrap();
        });
    }
    let has_returned = |i: usize| returned[i].load(Ordering::SeqCst);
    // Both register (the manual clock stands still, so neither can have
    // timed out).
    while b.queue_size() < 2 {
        assert!(
            !has_returned(0) && !has_returned(1),
            "a waiter returned early"
        );
        std::thread::yield_now();
    }
    // A move short of both deadlines wakes them; both sleep on.
    clock.advance(Duration::from_millis(2_999));
    assert!(rx.recv_timeout(Duration::from_millis(50)).is_err());
    assert!(!has_returned(0) && !has_returned(1));
    assert_eq!(b.queue_size(), 2);
    // Past the first deadline: only that waiter returns.
    clock.advance(Duration::from_millis(1));
    let first = rx
        .recv_timeout(HANG_GUARD)
        .expect("the 3 s waiter is still asleep");
    assert_eq!(first, ("3 s", Err(BulkheadError::Timeout)));
    assert!(
        !has_returned(1),
        "the 1 h waiter returned before its deadline"
    );
    assert_eq!(b.queue_size(), 1);
    // `set` moves the clock too.
    clock.set(3_600_000_000_000);
    let second = rx
        .recv_timeout(HANG_GUARD)
        .expect("the 1 h waiter is still asleep");
    assert_eq!(second, ("1 h", Err(BulkheadError::Timeout)));
    assert_eq!((b.available_permits(), b.queue_size()), (0, 0));
}

#[test]
fn on_the_production_clock_a_wait_ends_at_its_deadline() {
    let config = BulkheadConfig {
        max_concurrent: 1,
        max_queue_size: 1,
        timeout: Duration::from_millis(20),
    };
    let b = Bulkhead::new(config).unwrap();
    let _held = b.try_acquire().unwrap();
    assert_eq!(b.acquire().unwrap_err(), BulkheadError::Timeout);
    assert_eq!(b.queue_size(), 0);
}

#[test]
fn detached_permits_are_released_by_hand_and_never_twice() {
    let (b, _) = bulkhead(2, 0);
    b.try_acquire().unwrap().detach();
    assert_eq!(b.available_permits(), 1);
    assert!(b.release_detached());
    assert_eq!(b.available_permits(), 2);
    assert!(!b.release_detached(), "nothing to release");
    assert_eq!(b.available_permits(), 2);
}

#[test]
fn threads_never_exceed_max_concurrent_and_the_books_balance() {
    let (b, _) = bulkhead(2, 8);
    let inside = AtomicU32::new(0);
    let most = AtomicU32::new(0);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..2000 {
                    // The manual clock never moves: every wait ends by a
                    // release, so each acquire succeeds.
                    let p = b.acquire().expect("woken by a release");
                    let n = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(n, Ordering::SeqCst);
                    inside.fetch_sub(1, Ordering::SeqCst);
                    drop(p);
                }
            });
        }
    });
    assert!(most.load(Ordering::SeqCst) <= 2);
    assert_eq!((b.available_permits(), b.queue_size()), (2, 0));
}

#[test]
fn invalid_settings_name_the_field() {
    let bad = |c: BulkheadConfig| Bulkhead::with_clock(c, ManualClock::new()).unwrap_err();
    let d = BulkheadConfig::default;
    let e = bad(BulkheadConfig {
        max_concurrent: 0,
        ..d()
    });
    assert_eq!(
        e.to_string(),
        "invalid max_concurrent = 0: must be an integer in [1, 4294967295]"
    );
    // Any u32 the original package's ints could be: "practically unbounded".
    let wide = Bulkhead::with_clock(
        BulkheadConfig {
            max_concurrent: u32::MAX,
            max_queue_size: u32::MAX,
            ..d()
        },
        ManualClock::new(),
    )
    .unwrap();
    let held: Vec<_> = (0..100_000).map(|_| wide.try_acquire().unwrap()).collect();
    assert_eq!(wide.available_permits(), u32::MAX - 100_000);
    drop(held);
    assert_eq!(wide.available_permits(), u32::MAX);
    assert_eq!(
        bad(BulkheadConfig {
            timeout: Duration::from_secs(400 * 86400),
            ..d()
        })
        .field,
        "timeout"
    );
    let d = d();
    assert_eq!(
        (d.max_concurrent, d.max_queue_size, d.timeout),
        (10, 100, Duration::from_secs(30))
    );
}

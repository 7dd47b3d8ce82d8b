//! Bytes per breaker, measured: a global allocator that counts the bytes
//! live on the heap, around the construction of a breaker. Everything the
//! breaker owns at creation shows up here, whatever `memory_bytes` says.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use seawall::{Breaker, BreakerConfig, Window};

struct Counting;

/// Bytes allocated and not yet freed, by every thread of this test binary.
static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only
// counts the sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // Relaxed: a statistic; the tests read it on the allocating thread.
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // Relaxed: as in `alloc`.
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The tests in this file run one at a time: the count is process-wide.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Heap bytes that `make` leaves allocated, and what it made.
fn heap_of<T>(make: impl FnOnce() -> T) -> (T, usize) {
    // Relaxed: as in `alloc`; no other thread allocates meanwhile.
    let before = LIVE.load(Ordering::Relaxed);
    let value = make();
    (value, LIVE.load(Ordering::Relaxed) - before)
}

fn configs() -> [(&'static str, BreakerConfig); 3] {
    [
        ("no window", BreakerConfig::default()),
        (
            "10-bucket time window",
            BreakerConfig {
                window: Window::Time {
                    length: Duration::from_secs(10),
                    buckets: 10,
                },
                failure_rate_threshold: Some(0.5),
                ..Default::default()
            },
        ),
        (
            "100-call count window",
            BreakerConfig {
                window: Window::Count { size: 100 },
                failure_rate_threshold: Some(0.5),
                ..Default::default()
            },
        ),
    ]
}

#[test]
fn an_idle_breaker_with_its_name_takes_at_most_512_bytes() {
    let _one = one_at_a_time();
    let (b, heap) = heap_of(|| Breaker::new("payments-eu-west-1", BreakerConfig::default()));
    let b = b.unwrap();
    let total = std::mem::size_of_val(&b) + heap;
    assert!(total <= 512, "{total} bytes");
    // The name is all it has on the heap: an `Arc<str>` (two counts and the
    // bytes, rounded up to the counts' alignment).
    assert_eq!(heap, (16 + "payments-eu-west-1".len()).next_multiple_of(8));
}

#[test]
fn memory_bytes_is_what_a_breaker_owns_at_creation_besides_its_name() {
    let _one = one_at_a_time();
    for (what, config) in configs() {
        let name: Arc<str> = Arc::from("b");
        let (b, heap) = heap_of(|| Breaker::new(Arc::clone(&name), config).unwrap());
        assert_eq!(std::mem::size_of_val(&b) + heap, b.memory_bytes(), "{what}");
    }
}

#[test]
fn a_breaker_counted_by_one_thread_allocates_nothing_more() {
    let _one = one_at_a_time();
    let b = Breaker::new("b", BreakerConfig::default()).unwrap();
    // The thread's first count claims its stripe number (the runtime may
    // allocate to register the thread-local that hands it back).
    b.try_acquire().unwrap().success();
    let ((), heap) = heap_of(|| {
        for _ in 0..1000 {
            b.try_acquire().unwrap().success();
            b.try_acquire().unwrap().failure();
        }
    });
    assert_eq!(heap, 0);
    assert_eq!(b.memory_bytes(), std::mem::size_of_val(&b));
}

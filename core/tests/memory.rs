//! Bytes per breaker, measured: a global allocator that counts the bytes
//! live on the heap, around the construction of a breaker. Everything the
//! breaker owns at creation shows up here, whatever `memory_bytes` says.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;
use std::time::Duration;

use seawall::{Breaker, BreakerConfig, Window};

struct Counting;

thread_local! {
    /// Bytes this thread allocated minus the bytes it freed. Per thread:
    /// the test harness's own threads allocate while a test runs (and
    /// under AddressSanitizer, more of them), which a process-wide count
    /// would charge to the breaker. `const` and without a destructor, so
    /// the allocator can reach it at any point of a thread's life.
    static MINE: Cell<isize> = const { Cell::new(0) };
}

fn add(bytes: isize) {
    // `try_with`: nothing to count once the thread's locals are gone.
    let _ = MINE.try_with(|c| c.set(c.get() + bytes));
}

// SAFETY: forwards every call to the system allocator unchanged; only
// counts the sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        add(layout.size() as isize);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        add(-(layout.size() as isize));
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Heap bytes that `make` leaves allocated, and what it made.
fn heap_of<T>(make: impl FnOnce() -> T) -> (T, usize) {
    let before = MINE.with(Cell::get);
    let value = make();
    let after = MINE.with(Cell::get);
    (
        value,
        usize::try_from(after - before).expect("freed more than it allocated"),
    )
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
    for (what, config) in configs() {
        let name: Arc<str> = Arc::from("b");
        let (b, heap) = heap_of(|| Breaker::new(Arc::clone(&name), config).unwrap());
        assert_eq!(std::mem::size_of_val(&b) + heap, b.memory_bytes(), "{what}");
    }
}

#[test]
fn a_breaker_counted_by_one_thread_allocates_nothing_more() {
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

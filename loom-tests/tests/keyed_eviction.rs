//! A keyed breaker's eviction racing with a call of the evicted key, on the
//! entry protocol the family runs (`seawall::loom_entry`: papaya's map is
//! left out, since loom cannot see its synchronization): the call's outcome
//! is never lost, and an entry is freed only after every call that pinned
//! it has finished with it.
#![cfg(seawall_loom)]

use std::sync::Arc;

use loom::thread;
use seawall::loom_entry::LoomEntry;
use seawall::{Breaker, BreakerConfig, ManualClock, State};
use seawall_loom_tests::model;

fn entry() -> Arc<LoomEntry> {
    let config = BreakerConfig {
        failure_threshold: 1,
        ..Default::default()
    };
    let b = Breaker::with_clock("k", config, ManualClock::new()).unwrap();
    Arc::new(LoomEntry::new(b))
}

/// A call (as `KeyedBreaker::try_acquire` and the permit's report run it:
/// pin, acquire, touch the entry, record a failure, unpin) races an
/// evictor (retire if idle; free the entry if retired). Exactly one wins:
/// either the call pinned first, and its failure is in the breaker, which
/// is then OPEN and so never retired; or the entry was retired first, and
/// the call never touches it. The entry's memory is freed only after the
/// call's last access (loom reports the race otherwise).
#[test]
fn eviction_never_loses_a_calls_outcome() {
    model(|| {
        let e = entry();
        let call = {
            let e = e.clone();
            thread::spawn(move || {
                if !e.pin() {
                    return false;
                }
                let p = e.breaker().try_acquire().expect("CLOSED");
                assert_ne!(e.read_memory(), u64::MAX, "used after free");
                p.failure();
                e.unpin();
                true
            })
        };
        let evict = {
            let e = e.clone();
            thread::spawn(move || {
                let retired = e.retire_if_idle(0, 0);
                if retired {
                    e.free();
                }
                retired
            })
        };
        let admitted = call.join().unwrap();
        let retired = evict.join().unwrap();
        assert!(
            admitted != retired,
            "admitted {admitted}, retired {retired}"
        );
        let m = e.breaker().metrics();
        if admitted {
            assert_eq!((m.permitted, m.failures), (1, 1));
            assert_eq!(m.state, State::Open);
        } else {
            assert_eq!(m.permitted, 0);
        }
    });
}

/// Two calls in flight and an evictor: the entry is retired only once both
/// have unpinned (and then only if the breaker is still CLOSED: both
/// succeed here), and never while either can still touch it.
#[test]
fn an_entry_is_retired_only_with_no_call_in_flight() {
    model(|| {
        let e = entry();
        let calls: Vec<_> = (0..2)
            .map(|_| {
                let e = e.clone();
                thread::spawn(move || {
                    if !e.pin() {
                        return 0;
                    }
                    let p = e.breaker().try_acquire().expect("CLOSED");
                    assert_ne!(e.read_memory(), u64::MAX, "used after free");
                    p.success();
                    e.unpin();
                    1
                })
            })
            .collect();
        let retired = e.retire_if_idle(0, 0);
        if retired {
            e.free();
        }
        let admitted: u64 = calls.into_iter().map(|c| c.join().unwrap()).sum();
        let m = e.breaker().metrics();
        assert_eq!((m.permitted, m.successes), (admitted, admitted));
        if !retired {
            assert_eq!(admitted, 2, "a pin fails only on a retired entry");
            assert!(e.retire_if_idle(0, 0), "idle once both calls are done");
        }
    });
}

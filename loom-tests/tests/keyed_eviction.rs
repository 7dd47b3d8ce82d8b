//! A keyed breaker's eviction racing with calls of the evicted key, on the
//! entry protocol the family runs (`seawall::loom_entry`: the family's map is
//! left out, since loom cannot see its synchronization): the call's outcome
//! is never lost, and an entry is freed only after every admitted call has
//! finished with it.
//!
//! The protocol (module docs of `core/src/breaker/keyed.rs`): a call is
//! admitted by the breaker (a count on its thread's stripe), runs the
//! light fence and checks the entry's mark; an evictor marks the entry,
//! runs the heavy fence, and retires it only if every admission is matched
//! by a finish. Under loom both fences are `SeqCst` fences.
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

/// One call as `KeyedBreaker::try_acquire` and the permit's report run it
/// (admission, handshake, an access to the entry, the outcome, the finish);
/// `true` if it was admitted.
fn call(e: &LoomEntry, fail: bool) -> bool {
    let Some(p) = e.admit() else {
        return false;
    };
    assert_ne!(e.read_memory(), u64::MAX, "used after free");
    if fail {
        p.failure();
    } else {
        p.success();
    }
    e.finish();
    true
}

/// An evictor's sweep of the one entry: frees it if it retired it.
fn evict(e: &LoomEntry) -> bool {
    let retired = e.retire_if_idle(0, 0);
    if retired {
        e.free();
    }
    retired
}

/// A failing call races an evictor. Exactly one wins: either the call was
/// admitted first, and its failure is in the breaker, which is then OPEN
/// and so never retired; or the entry was retired first, and the call
/// never touches it (nor records into it) after its admission check. The
/// entry's memory is freed only after the call's last access (loom reports
/// the race otherwise).
#[test]
fn eviction_never_loses_a_calls_outcome() {
    model(|| {
        let e = entry();
        let c = {
            let e = e.clone();
            thread::spawn(move || call(&e, true))
        };
        let retired = evict(&e);
        let admitted = c.join().unwrap();
        assert!(
            admitted != retired,
            "admitted {admitted}, retired {retired}"
        );
        let m = e.breaker().metrics();
        if admitted {
            assert_eq!(m.failures, 1);
            assert_eq!(m.state, State::Open);
        } else {
            assert_eq!(m.failures, 0, "no outcome in a retired breaker");
        }
    });
}

/// Two calls and an evictor: the entry is retired only once both calls
/// are done with it (both succeed, so the breaker stays CLOSED), and never
/// while either can still touch it; if it is not retired, both calls were
/// admitted and a later sweep retires it.
#[test]
fn an_entry_is_retired_only_with_no_call_in_flight() {
    model(|| {
        let e = entry();
        let calls: Vec<_> = (0..2)
            .map(|_| {
                let e = e.clone();
                thread::spawn(move || call(&e, false))
            })
            .collect();
        let retired = evict(&e);
        let admitted: u64 = calls
            .into_iter()
            .map(|c| u64::from(c.join().unwrap()))
            .sum();
        assert_eq!(e.breaker().metrics().successes, admitted);
        if !retired {
            assert_eq!(admitted, 2, "a call is refused only by a retired entry");
            assert!(evict(&e), "idle once both calls are done");
        }
    });
}

/// A failing call and two evictors: a call that cancels one evictor's
/// attempt while the other evictor marks the entry again must still make
/// the first evictor's retirement fail (the attempt number in the mark).
/// At most one evictor retires the entry, and only if the call was not
/// admitted.
#[test]
fn a_cancelled_attempt_never_retires_the_entry() {
    model(|| {
        let e = entry();
        let c = {
            let e = e.clone();
            thread::spawn(move || call(&e, true))
        };
        let other = {
            let e = e.clone();
            thread::spawn(move || evict(&e))
        };
        let mine = evict(&e);
        let theirs = other.join().unwrap();
        let admitted = c.join().unwrap();
        assert!(!(mine && theirs), "retired twice");
        assert!(
            admitted != (mine || theirs),
            "admitted {admitted}, retired {mine} {theirs}"
        );
    });
}

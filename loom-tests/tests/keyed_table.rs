//! The keyed breaker's map (`core/src/breaker/keyed/table.rs`) and its
//! reclamation (`keyed/reclaim.rs`): a link or node that a removal unlinks
//! is freed only once no reader that could have reached it is left.
//!
//! Under loom every read of a link or node touches a cell that its free
//! writes (the memory is then leaked, not freed), so a read that a free is
//! not ordered after is reported as a race. Readers count their guards on
//! an owned stripe (a plain store) or on the shared count (`fetch_add`);
//! under loom both sides of the asymmetric fence are `SeqCst` fences.
#![cfg(seawall_loom)]

use std::sync::Arc;

use loom::thread;
use seawall::loom_table::LoomTable;
use seawall_loom_tests::model;

/// A map holding key `a` = 1.
fn table() -> Arc<LoomTable> {
    let t = Arc::new(LoomTable::new(1));
    assert!(t.insert(None, b"a", 1));
    t
}

/// Removes `a`, then makes two reclamation attempts (each frees only what
/// no reader can reach: none waits).
fn remove_and_reclaim(t: &LoomTable) {
    assert!(t.remove(None, b"a"));
    t.reclaim();
    t.reclaim();
}

/// A reader of `a` on an owned stripe races its removal and reclamation:
/// it finds the value or nothing, never freed memory; once it is done,
/// an attempt frees everything.
#[test]
fn a_reader_on_its_own_stripe_never_reads_freed_memory() {
    model(|| {
        let t = table();
        let r = {
            let t = t.clone();
            thread::spawn(move || t.get(Some(0), b"a"))
        };
        remove_and_reclaim(&t);
        let got = r.join().unwrap();
        assert!(matches!(got, None | Some(1)), "{got:?}");
        assert!(!t.reclaim(), "no reader left: nothing waits");
    });
}

/// The same on the shared count (threads without a stripe number).
#[test]
fn a_reader_on_the_shared_count_never_reads_freed_memory() {
    model(|| {
        let t = table();
        let r = {
            let t = t.clone();
            thread::spawn(move || t.get(None, b"a"))
        };
        remove_and_reclaim(&t);
        assert!(matches!(r.join().unwrap(), None | Some(1)));
        assert!(!t.reclaim());
    });
}

/// Two look-ups in a row on one stripe, across the generation flips of
/// the reclaimer's attempts, while a second key is inserted in front of
/// `a` (so the removal copies a link): every link and node read is alive.
#[test]
fn look_ups_across_generation_flips_and_copied_links_stay_safe() {
    model(|| {
        let t = table();
        assert!(t.insert(None, b"b", 2));
        let r = {
            let t = t.clone();
            thread::spawn(move || (t.get(Some(1), b"a"), t.get(Some(1), b"b")))
        };
        remove_and_reclaim(&t);
        let (a, b) = r.join().unwrap();
        assert!(matches!(a, None | Some(1)), "{a:?}");
        assert_eq!(b, Some(2), "a key not removed is always found");
        assert!(!t.reclaim());
    });
}

//! Model-based property test of the striped counts (`seawall::stripes`):
//! random counts, readings and clears, each made by one of three threads
//! in turn, against a plain sequential model (an array of totals and a
//! baseline). The set starts in its inline stripe and grows its padded
//! stripes when a second thread counts; the readings must not notice when
//! that happens, and `clear` must restart the reported counts whether the
//! set has grown or not.

use std::sync::mpsc;
use std::sync::Arc;
use std::thread;

use proptest::prelude::*;
use seawall::stripes::StripedCounts;

const N: usize = 3;
const THREADS: usize = 3;

#[derive(Clone, Copy, Debug)]
enum Op {
    Count { thread: usize, i: usize },
    Clear { thread: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0..THREADS, 0..N).prop_map(|(thread, i)| Op::Count { thread, i }),
        1 => (0..THREADS).prop_map(|thread| Op::Clear { thread }),
    ]
}

type Job = Box<dyn FnOnce() + Send>;

/// Runs `ops` on worker threads one at a time (each waits for the one
/// before it), checking every reading against the model.
fn check(ops: &[Op]) -> Result<(), TestCaseError> {
    let counts = Arc::new(StripedCounts::<N>::new());
    let (workers, handles): (Vec<mpsc::Sender<Job>>, Vec<_>) = (0..THREADS)
        .map(|_| {
            let (tx, rx) = mpsc::channel::<Job>();
            (
                tx,
                thread::spawn(move || rx.into_iter().for_each(|job| job())),
            )
        })
        .unzip();
    let run = |thread: usize, job: Job| {
        let (done, wait) = mpsc::channel();
        workers[thread]
            .send(Box::new(move || {
                job();
                done.send(()).unwrap();
            }))
            .unwrap();
        wait.recv().unwrap();
    };
    let (mut totals, mut baseline) = ([0u64; N], [0u64; N]);
    let mut counted = [false; THREADS];
    for &op in ops {
        match op {
            Op::Count { thread, i } => {
                let c = Arc::clone(&counts);
                run(thread, Box::new(move || c.incr(i)));
                totals[i] += 1;
                counted[thread] = true;
            }
            Op::Clear { thread } => {
                let c = Arc::clone(&counts);
                run(thread, Box::new(move || c.clear()));
                baseline = totals;
            }
        }
        for i in 0..N {
            prop_assert_eq!(counts.total(i), totals[i]);
            prop_assert_eq!(counts.reported(i), totals[i] - baseline[i]);
        }
        if counted.iter().filter(|&&c| c).count() >= 2 {
            prop_assert!(counts.heap_bytes() > 0, "two threads counted: grown");
        }
    }
    drop(workers);
    for h in handles {
        h.join().unwrap();
    }
    Ok(())
}

proptest! {
    // 128 cases by default (CI-sized); PROPTEST_CASES overrides.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(128),
        ..ProptestConfig::default()
    })]

    #[test]
    fn striped_counts_agree_with_a_sequential_model(ops in prop::collection::vec(op(), 1..40)) {
        check(&ops)?;
    }
}

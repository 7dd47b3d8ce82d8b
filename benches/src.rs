//! Helpers shared by the benchmarks (`benches/`) and the hot-path example
//! (`examples/hot_path.rs`): thread CPU time, and reading back the medians
//! criterion wrote in this run so each bench can print its ratios.

use std::path::{Path, PathBuf};
use std::sync::Barrier;
use std::time::{Duration, Instant, SystemTime};

/// The calling thread's CPU time: unlike wall time, it does not count the
/// time the thread spent preempted by other work on a shared machine.
pub fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_THREAD_CPUTIME_ID is
    // supported on every Linux this runs on.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Where criterion writes its estimates (set explicitly, so the report can
/// read them back): `$CRITERION_HOME`, else `<target>/criterion`.
pub fn criterion_dir() -> PathBuf {
    match std::env::var_os("CRITERION_HOME") {
        Some(d) => PathBuf::from(d),
        None => std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target")))
            .join("criterion"),
    }
}

/// The median (ns per iteration) criterion estimated for `group/id` under
/// `dir`, if that bench ran in this process (estimates older than `since`
/// are ignored).
pub fn median(dir: &Path, since: SystemTime, group: &str, id: &str) -> Option<f64> {
    let path = dir.join(group).join(id).join("new").join("estimates.json");
    if std::fs::metadata(&path).ok()?.modified().ok()? < since {
        return None;
    }
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?;
    json["median"]["point_estimate"].as_f64()
}

/// A median for the reports: two decimals, or `-` when the bench did not
/// run.
pub fn fmt_median(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), |v| format!("{v:.2}"))
}

/// `a / b` for the reports: three decimals, or `-` when either is missing.
pub fn fmt_ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) => format!("{:.3}", a / b),
        _ => "-".to_string(),
    }
}

/// What one thread of a two-thread sample measured: wall-clock and thread
/// CPU time, each from just after the barrier to its last call.
struct Span {
    wall: (Instant, Instant),
    cpu: Duration,
}

/// Runs `iters` calls split over two threads released together by a
/// barrier. Returns (wall figure, busy figure) for the sample: with `cpu`,
/// the larger and the sum of the two threads' CPU times; without, the wall
/// time from the first start to the last finish and the sum of the two
/// threads' wall spans.
pub fn on_two_threads(iters: u64, cpu: bool, call: &(impl Fn() + Sync)) -> (Duration, Duration) {
    let barrier = Barrier::new(2);
    let spans: Vec<Span> = std::thread::scope(|s| {
        let handles: Vec<_> = [iters - iters / 2, iters / 2]
            .into_iter()
            .map(|n| {
                let barrier = &barrier;
                s.spawn(move || {
                    // One call before the barrier: thread set-up (such as the
                    // counter stripe a new thread claims) is not timed.
                    call();
                    barrier.wait();
                    let (start, cpu_start) = (Instant::now(), thread_cpu());
                    for _ in 0..n {
                        call();
                    }
                    let cpu = thread_cpu().saturating_sub(cpu_start);
                    Span {
                        wall: (start, Instant::now()),
                        cpu,
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("bench thread panicked"))
            .collect()
    });
    if cpu {
        let max = spans.iter().map(|s| s.cpu).max().expect("two spans");
        (max, spans.iter().map(|s| s.cpu).sum())
    } else {
        let first = spans.iter().map(|s| s.wall.0).min().expect("two spans");
        let last = spans.iter().map(|s| s.wall.1).max().expect("two spans");
        (
            last - first,
            spans.iter().map(|s| s.wall.1 - s.wall.0).sum(),
        )
    }
}

//! Helpers shared by the benchmarks (`benches/`) and the hot-path example
//! (`examples/hot_path.rs`): thread CPU time, and reading back the medians
//! criterion wrote in this run so each bench can print its ratios.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

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

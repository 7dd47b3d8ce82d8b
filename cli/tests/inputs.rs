//! Traces, settings files and flags: what they replay, and errors that name
//! the file, the line and the field.

use std::io::Write as _;
use std::path::PathBuf;

use seawall_cli::{simulate, Error, Settings};

fn temp(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("seawall-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::File::create(&path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    path
}

fn message(e: Error) -> String {
    e.to_string()
}

fn set(sets: &[&str]) -> Settings {
    let mut s = Settings::default();
    for a in sets {
        s.set(a).unwrap();
    }
    s
}

#[test]
fn a_trace_of_a_scenario_replays_to_the_same_transitions() {
    // The default outage (30 s to 90 s of 120 s at 100 calls/s) written as
    // a trace: every call's time and answer.
    let mut csv = String::from("timestamp,status,latency_ms\n");
    let mut jsonl = String::new();
    for k in 0..12_000u64 {
        let t = 1_700_000_000.0 + k as f64 / 100.0;
        let down = (3_000..9_000).contains(&k);
        let status = if down { 503 } else { 200 };
        csv.push_str(&format!("{t:.2},{status},0\n"));
        let outcome = if down { "error" } else { "ok" };
        jsonl.push_str(&format!(
            "{{\"timestamp\": {t:.2}, \"outcome\": \"{outcome}\"}}\n"
        ));
    }
    let scenario = simulate(&Settings::default(), None, &mut |_| {}).unwrap();
    for path in [temp("outage.csv", &csv), temp("outage.jsonl", &jsonl)] {
        let replay = simulate(&Settings::default(), Some(&path), &mut |_| {}).unwrap();
        assert_eq!(
            replay.transitions,
            scenario.transitions,
            "{}",
            path.display()
        );
        assert_eq!(replay.counts, scenario.counts);
        // The trace's unhealthy span: the seconds most of whose calls failed.
        assert_eq!(replay.episodes, scenario.episodes);
    }
}

#[test]
fn trace_errors_name_the_file_line_and_field() {
    let cases = [
        (
            "bad.csv",
            "timestamp,outcome\n1.0,ok\n1.5,maybe\n",
            ":3: outcome: \"maybe\" is not ok/error",
        ),
        (
            "bad2.csv",
            "timestamp,status\n1.0,200\nsoon,200\n",
            ":3: timestamp: \"soon\" is not a number",
        ),
        (
            "back.csv",
            "timestamp,status\n2.0,200\n1.0,200\n",
            ":3: timestamp: 1 goes back in time",
        ),
        (
            "nocol.csv",
            "time,status\n1.0,200\n",
            "line 1: no timestamp column",
        ),
        (
            "bad.jsonl",
            "{\"timestamp\": 1, \"outcome\": \"ok\"}\n\n{\"timestamp\": 2}\n",
            ":3: outcome: no outcome or status",
        ),
        (
            "bad2.jsonl",
            "{\"timestamp\": 1, \"status\": 200}\nnot json\n",
            ":2: json: ",
        ),
        ("trace.txt", "", "unknown trace format \"txt\""),
    ];
    for (name, text, want) in cases {
        let path = temp(name, text);
        let e = message(simulate(&Settings::default(), Some(&path), &mut |_| {}).unwrap_err());
        assert!(e.contains(name) && e.contains(want), "{name}: {e}");
    }
    let missing = std::env::temp_dir().join("seawall-no-such-trace.csv");
    let e = message(simulate(&Settings::default(), Some(&missing), &mut |_| {}).unwrap_err());
    assert!(e.contains("seawall-no-such-trace.csv"), "{e}");
}

#[test]
fn settings_files_and_flags_use_the_python_field_names_and_name_what_is_wrong() {
    let toml = temp(
        "ok.toml",
        "seed = 3\n[breaker]\nfailure_threshold = 2\ntimeout = 5.5\nwindow = { count = 10 }\nfailure_rate_threshold = 0.5\n[scenario]\nname = \"brownout\"\nrate = 20\n",
    );
    let s = Settings::from_file(&toml).unwrap();
    let e = s.engines().unwrap();
    assert_eq!(e.breaker.failure_threshold, 2);
    assert_eq!(e.breaker.timeout, std::time::Duration::from_millis(5_500));
    assert_eq!(e.breaker.window, seawall::Window::Count { size: 10 });
    assert_eq!(s.seed, 3);
    let yaml = temp(
        "ok.yaml",
        "breaker:\n  failure_threshold: 2\n  window: {time: 30, buckets: 6}\nretry:\n  max_attempts: 4\n",
    );
    let e = Settings::from_file(&yaml).unwrap().engines().unwrap();
    assert_eq!(e.retry.unwrap().max_attempts, 4);

    let unknown = temp(
        "unknown.toml",
        "[breaker]\nfailure_threshold = 2\nfailure_treshold = 3\n",
    );
    let m = message(Settings::from_file(&unknown).unwrap_err());
    assert!(
        m.contains("unknown.toml") && m.contains("line 3") && m.contains("failure_treshold"),
        "{m}"
    );
    let m =
        message(Settings::from_file(&temp("u.yaml", "breaker:\n  timeout: soon\n")).unwrap_err());
    assert!(
        m.contains("u.yaml") && m.contains("line 2") && m.contains("timeout"),
        "{m}"
    );

    // The engine's own checks name the field and its range.
    let m = message(set(&["failure_threshold=0"]).engines().unwrap_err());
    assert!(m.contains("failure_threshold") && m.contains("0"), "{m}");
    let m = message(set(&["timeout=-1"]).engines().unwrap_err());
    assert!(m.contains("timeout") && m.contains("-1.0"), "{m}");
    let m = message(
        set(&["retry_budget.budget_percent=5"])
            .engines()
            .unwrap_err(),
    );
    assert!(m.contains("[retry]"), "{m}");
    let m = message(
        set(&["window.count=10", "window.time=5"])
            .engines()
            .unwrap_err(),
    );
    assert!(m.contains("window"), "{m}");

    let mut s = Settings::default();
    let m = message(s.set("failure_treshold=3").unwrap_err());
    assert!(
        m.contains("--set failure_treshold=3") && m.contains("unknown field"),
        "{m}"
    );
    let m = message(s.set("retry.max_attempts=lots").unwrap_err());
    assert!(m.contains("retry.max_attempts=lots"), "{m}");
    let m = message(s.set("timeout").unwrap_err());
    assert!(m.contains("KEY=VALUE"), "{m}");
}

#[test]
fn scenario_errors_name_the_scenario_and_the_field() {
    let m =
        message(simulate(&set(&["scenario.name=\"earthquake\""]), None, &mut |_| {}).unwrap_err());
    assert!(m.contains("earthquake") && m.contains("flapping"), "{m}");
    let m = message(simulate(&set(&["scenario.period=5"]), None, &mut |_| {}).unwrap_err());
    assert!(
        m.contains("scenario.period does not apply to scenario \"outage\""),
        "{m}"
    );
    let m = message(simulate(&set(&["scenario.end=5"]), None, &mut |_| {}).unwrap_err());
    assert!(m.contains("scenario.end = 5"), "{m}");
    let m = message(simulate(&set(&["scenario.rate=0"]), None, &mut |_| {}).unwrap_err());
    assert!(m.contains("scenario.rate"), "{m}");
    let m = message(
        simulate(
            &set(&["scenario.name=\"partial\"", "scenario.sick=4"]),
            None,
            &mut |_| {},
        )
        .unwrap_err(),
    );
    assert!(m.contains("scenario.sick = 4"), "{m}");
}

//! The `seawall` binary: tables, JSON, pictures that parse and render,
//! sweeps, and exit statuses.

use std::process::{Command, Output};

fn seawall(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_seawall"))
        .args(args)
        .output()
        .unwrap()
}

fn dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("seawall-command-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn simulate_prints_the_table_and_writes_a_timeline_that_parses_and_renders() {
    let d = dir();
    let (svg, png) = (d.join("t.svg"), d.join("t.png"));
    let out = seawall(&[
        "simulate",
        "flapping",
        "--set",
        "timeout=5",
        "--svg",
        svg.to_str().unwrap(),
        "--png",
        png.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    for row in [
        "time to detect",
        "time to recover",
        "reached the failing dependency",
        "rejected while healthy",
        "trial calls",
    ] {
        assert!(table.contains(row), "{table}");
    }
    let svg = std::fs::read_to_string(svg).unwrap();
    let doc = roxmltree::Document::parse(&svg).expect("well-formed SVG");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    // The breaker's bands: red for OPEN among them.
    assert!(doc
        .descendants()
        .any(|n| n.attribute("fill") == Some("#C62828")));
    let png = std::fs::read(png).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "rsvg-convert rendered it");
}

#[test]
fn json_is_json_and_the_same_seed_gives_the_same_bytes() {
    let args = [
        "simulate",
        "brownout",
        "--seed",
        "11",
        "--json",
        "--timeline",
    ];
    let a = seawall(&args);
    assert!(a.status.success(), "{}", text(&a.stderr));
    assert_eq!(a.stdout, seawall(&args).stdout);
    let v: serde_json::Value = serde_json::from_slice(&a.stdout).unwrap();
    assert_eq!(v["seed"], 11);
    assert_eq!(v["timeline"].as_array().unwrap().len(), 120);
}

#[test]
fn a_sweep_marks_the_pareto_front_and_does_not_depend_on_the_number_of_jobs() {
    let d = dir();
    let svg = d.join("sweep.svg");
    let args = |jobs: &'static str| {
        vec![
            "sweep".to_owned(),
            "brownout".into(),
            "--set".into(),
            "window.count=50".into(),
            "--set".into(),
            "trip_on_consecutive_failures=false".into(),
            "--grid".into(),
            "failure_rate_threshold=0.1,0.2,0.3,0.5".into(),
            "--grid".into(),
            "minimum_calls=5,20,50".into(),
            "--jobs".into(),
            jobs.into(),
            "--json".into(),
        ]
    };
    let run = |a: Vec<String>| {
        let o = Command::new(env!("CARGO_BIN_EXE_seawall"))
            .args(&a)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o.stderr));
        o.stdout
    };
    let one = run(args("1"));
    assert_eq!(one, run(args("2")));
    let v: serde_json::Value = serde_json::from_slice(&one).unwrap();
    let points = v["points"].as_array().unwrap();
    assert_eq!(points.len(), 12);
    // The front: no point is better on both measures than one on it.
    let key = |p: &serde_json::Value| {
        (
            p["detect"].as_f64().unwrap_or(f64::INFINITY),
            p["rejected_while_healthy"].as_u64().unwrap(),
        )
    };
    for p in points {
        let (d, r) = key(p);
        let dominated = points.iter().any(|q| {
            let (d2, r2) = key(q);
            d2 <= d && r2 <= r && (d2 < d || r2 < r)
        });
        assert_eq!(p["pareto"].as_bool().unwrap(), !dominated, "{p}");
    }
    // A lower rate threshold detects no later.
    let detect = |ix: u64, iy: u64| {
        points
            .iter()
            .find(|p| p["ix"] == ix && p["iy"] == iy)
            .and_then(|p| p["detect"].as_f64())
            .unwrap_or(f64::INFINITY)
    };
    for iy in 0..3 {
        for ix in 0..3 {
            assert!(detect(ix, iy) <= detect(ix + 1, iy), "{ix} {iy}");
        }
    }

    let mut a = args("2");
    a.pop();
    a.extend(["--svg".into(), svg.to_str().unwrap().into()]);
    let table = text(&run(a));
    assert!(table.contains("front") && table.contains('*'), "{table}");
    let svg = std::fs::read_to_string(svg).unwrap();
    roxmltree::Document::parse(&svg).expect("well-formed SVG");
}

#[test]
fn bad_usage_exits_2_and_bad_input_exits_1_naming_the_problem() {
    let o = seawall(&["simulate", "earthquake"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("earthquake"));
    let o = seawall(&["simulate", "--set", "failure_threshold=0"]);
    assert_eq!(o.status.code(), Some(1));
    let e = text(&o.stderr);
    assert!(
        e.starts_with("seawall: ") && e.contains("failure_threshold"),
        "{e}"
    );
    let o = seawall(&["sweep", "--grid", "failure_threshold"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("KEY=VALUE"));
    let o = seawall(&["sweep"]);
    assert_eq!(o.status.code(), Some(2), "--grid is required");
}

#[test]
fn a_grid_may_sweep_inline_tables() {
    let o = seawall(&[
        "sweep",
        "--set",
        "failure_rate_threshold=0.5",
        "--grid",
        "window={ count = 20 },{ time = 5, buckets = 5 }",
        "--json",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["x"]["values"][1], "{ time = 5, buckets = 5 }");
    assert_eq!(v["points"].as_array().unwrap().len(), 2);
}

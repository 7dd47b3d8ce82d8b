//! The catalog's families as scrape text, written straight into a string.
//!
//! Both text formats a Prometheus server scrapes are here: the classic
//! Prometheus format (0.0.4), which concatenates with other text of that
//! format (what Python's `prometheus_client` writes), and OpenMetrics 1.0,
//! which ends with `# EOF` (what the `prometheus-client` crate writes).
//! The writer does one pass over the samples with no allocation per sample,
//! about a quarter of the instructions per sample of the `prometheus-client`
//! crate's encoder (`cargo run --release -p seawall-benches --example
//! scrape` times both). A
//! server that scrapes often can keep one `String` and [`write_text`] into
//! it: a fresh megabyte per scrape costs as much in page faults as the
//! writing itself.
//!
//! ```
//! use seawall::telemetry::{text, Catalog, TextFormat};
//! use seawall::{Breaker, BreakerConfig, ManualClock};
//!
//! let b = Breaker::with_clock("users", BreakerConfig::default(), ManualClock::new()).unwrap();
//! b.try_acquire().unwrap().success();
//! let mut catalog = Catalog::new();
//! catalog.breaker(b.name(), &b.metrics());
//! let out = text(&catalog.finish(), TextFormat::Prometheus);
//! assert!(out.contains("# TYPE seawall_breaker_calls_total counter\n"));
//! assert!(out.contains("seawall_breaker_calls_total{name=\"users\",outcome=\"success\"} 1\n"));
//! ```

use std::fmt::Write as _;
use std::sync::Arc;

use super::{Family, Label, MetricKind};

/// A text exposition format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TextFormat {
    /// The Prometheus text format 0.0.4: a counter's `# TYPE` line names it
    /// with `_total`, and nothing marks the end, so it joins other text of
    /// this format.
    Prometheus,
    /// OpenMetrics 1.0: a counter's `# TYPE` line names the family without
    /// `_total`, and the text ends with `# EOF`.
    OpenMetrics,
}

/// `families` as text in `format`.
pub fn text(families: &[Family], format: TextFormat) -> String {
    let mut out = String::new();
    write_text(families, format, &mut out);
    out
}

/// Appends `families` as text in `format` to `out`.
pub fn write_text(families: &[Family], format: TextFormat, out: &mut String) {
    let samples: usize = families.iter().map(|f| f.samples.len()).sum();
    // About 70 bytes a sample line, plus the two comment lines per family.
    out.reserve(samples * 72 + families.len() * 160);
    // What a sample line starts with up to the engine's name, rebuilt when
    // the engine changes (an engine's samples of a family are adjacent), and
    // what follows the name for each label set, built once per family: a
    // sample costs two copies and its number.
    let mut head = String::new();
    let mut tails: Vec<(&[Label], String)> = Vec::new();
    for f in families {
        let suffix = match f.kind {
            MetricKind::Counter => "_total",
            MetricKind::Gauge => "",
        };
        let (declared, kind) = match (format, f.kind) {
            (TextFormat::Prometheus, MetricKind::Counter) => (suffix, "counter"),
            (TextFormat::OpenMetrics, MetricKind::Counter) => ("", "counter"),
            (_, MetricKind::Gauge) => ("", "gauge"),
        };
        for line in ["# HELP ", "# TYPE "] {
            out.push_str(line);
            out.push_str(f.name);
            out.push_str(declared);
            out.push(' ');
            if line == "# HELP " {
                escape(out, f.help, format == TextFormat::OpenMetrics);
            } else {
                out.push_str(kind);
            }
            out.push('\n');
        }
        head.clear();
        head.push_str(f.name);
        head.push_str(suffix);
        head.push_str("{name=\"");
        let head_len = head.len();
        let mut engine: Option<&Arc<str>> = None;
        tails.clear();
        for s in &f.samples {
            if !engine.is_some_and(|e| Arc::ptr_eq(e, &s.name)) {
                head.truncate(head_len);
                escape(&mut head, &s.name, true);
                engine = Some(&s.name);
            }
            out.push_str(&head);
            let tail = match tails.iter().position(|(l, _)| std::ptr::eq(*l, s.labels)) {
                Some(i) => &tails[i].1,
                None => {
                    tails.push((s.labels, tail(s.labels)));
                    &tails[tails.len() - 1].1
                }
            };
            out.push_str(tail);
            number(out, s.value);
            out.push('\n');
        }
    }
    if format == TextFormat::OpenMetrics {
        out.push_str("# EOF\n");
    }
}

/// What follows the engine's name in a sample line with `labels`, up to
/// the value: `",outcome="success"} `.
fn tail(labels: &[Label]) -> String {
    let mut t = String::from("\"");
    for (k, v) in labels {
        t.push(',');
        t.push_str(k);
        t.push_str("=\"");
        escape(&mut t, v, true);
        t.push('"');
    }
    t.push_str("} ");
    t
}

/// Appends `s` with `\`, newlines and (with `quote`) `"` escaped, as both
/// formats require in label values (and in help text, without `quote` in
/// the Prometheus format).
fn escape(out: &mut String, s: &str, quote: bool) {
    let special = |b: u8| b == b'\\' || b == b'\n' || (quote && b == b'"');
    if !s.bytes().any(special) {
        out.push_str(s);
        return;
    }
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quote => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

/// Appends a sample's value: a whole number (every count, and gauges such
/// as a state or a capacity) without a fraction, any other value as the
/// shortest decimal that reads back as the same float, and `+Inf`, `-Inf`,
/// `NaN` spelled as both formats spell them.
fn number(out: &mut String, v: f64) {
    // Every whole number below 2^53 is exact as an f64 and as an i64.
    const EXACT: f64 = (1u64 << 53) as f64;
    if v.fract() == 0.0 && v.abs() < EXACT {
        out.push_str(itoa::Buffer::new().format(v as i64));
    } else if v.is_nan() {
        out.push_str("NaN");
    } else if v == f64::INFINITY {
        out.push_str("+Inf");
    } else if v == f64::NEG_INFINITY {
        out.push_str("-Inf");
    } else {
        // Writing into a `String` cannot fail.
        let _ = write!(out, "{v}");
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::telemetry::{Catalog, Sample};

    fn family(kind: MetricKind, name: &str, value: f64) -> Family {
        Family {
            name: "seawall_test_values",
            help: "A help text with a \\ and a \" and a\nnewline.",
            kind,
            samples: vec![Sample {
                name: Arc::from(name),
                labels: &[("outcome", "success")],
                value,
            }],
        }
    }

    #[test]
    fn counters_are_declared_per_format_and_written_with_total() {
        let f = [family(MetricKind::Counter, "users", 3.0)];
        assert_eq!(
            text(&f, TextFormat::Prometheus),
            "# HELP seawall_test_values_total A help text with a \\\\ and a \" and a\\nnewline.\n\
             # TYPE seawall_test_values_total counter\n\
             seawall_test_values_total{name=\"users\",outcome=\"success\"} 3\n"
        );
        assert_eq!(
            text(&f, TextFormat::OpenMetrics),
            "# HELP seawall_test_values A help text with a \\\\ and a \\\" and a\\nnewline.\n\
             # TYPE seawall_test_values counter\n\
             seawall_test_values_total{name=\"users\",outcome=\"success\"} 3\n\
             # EOF\n"
        );
    }

    #[test]
    fn names_are_escaped_and_gauges_keep_their_fraction() {
        let f = [family(MetricKind::Gauge, "a\"b\\c\nd", 0.25)];
        let out = text(&f, TextFormat::Prometheus);
        assert!(out.contains("# TYPE seawall_test_values gauge\n"), "{out}");
        assert!(
            out.ends_with(
                "seawall_test_values{name=\"a\\\"b\\\\c\\nd\",outcome=\"success\"} 0.25\n"
            ),
            "{out}"
        );
        let spelled = |v: f64| {
            let out = text(&[family(MetricKind::Gauge, "x", v)], TextFormat::Prometheus);
            out.lines()
                .last()
                .unwrap()
                .rsplit_once(' ')
                .unwrap()
                .1
                .to_owned()
        };
        assert_eq!(spelled(f64::INFINITY), "+Inf");
        assert_eq!(spelled(f64::NEG_INFINITY), "-Inf");
        assert_eq!(spelled(f64::NAN), "NaN");
        assert_eq!(spelled(1.0), "1");
        assert_eq!(spelled(-3.0), "-3");
        // Past 2^53 a float is no longer an exact count: written as a float.
        assert_eq!(spelled(9007199254740992.0), "9007199254740992");
        assert_eq!(spelled(9007199254740991.0), "9007199254740991");
        assert_eq!(spelled(1e-9), "0.000000001");
    }

    #[test]
    fn no_families_is_empty_or_just_the_end_marker() {
        let none = Catalog::new().finish();
        assert_eq!(text(&none, TextFormat::Prometheus), "");
        assert_eq!(text(&none, TextFormat::OpenMetrics), "# EOF\n");
    }
}

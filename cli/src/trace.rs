//! Recorded traffic replayed through the engines: a CSV file with a header
//! row, or JSON lines (`.jsonl`, `.ndjson`), read one row at a time (a
//! trace is streamed, never loaded whole).
//!
//! Columns (JSON keys), other columns are ignored:
//!
//! - `timestamp`: seconds (any origin: the first row is time 0), in
//!   non-decreasing order;
//! - `outcome` (`ok`, `success`, `true`, `1` / `error`, `failure`, `fail`,
//!   `timeout`, `false`, `0`) or `status` (an HTTP status: 5xx and 429 are
//!   failures);
//! - optional `latency_ms` (or `latency`, in seconds): the outcome is
//!   recorded that long after the call;
//! - optional `instance`: any text or number naming the dependency
//!   instance that answered.
//!
//! A retry of a recorded call gets the answer the row recorded (the trace
//! cannot say what a second attempt would have got). Unhealthy spans are
//! the seconds in which at least half the recorded calls failed; "rejected
//! while healthy" counts refused calls whose row succeeded.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use seawall::SeededRandom;

use crate::engine::SECOND;
use crate::source::{Answer, Arrival, Episode, Source};
use crate::Error;

/// A trace file being replayed.
pub struct Trace {
    path: PathBuf,
    rows: Rows,
    size: u64,
    read: u64,
    line: u64,
    origin: Option<i128>,
    last: u64,
    instances: HashMap<String, u32>,
    /// Calls and failures recorded per second.
    seconds: Vec<(u32, u32)>,
}

enum Rows {
    Csv {
        reader: csv::Reader<File>,
        record: csv::StringRecord,
        columns: Columns,
    },
    Json(BufReader<File>, String),
}

/// Where each column is in a CSV row.
struct Columns {
    timestamp: usize,
    outcome: Option<usize>,
    status: Option<usize>,
    latency_ms: Option<usize>,
    latency: Option<usize>,
    instance: Option<usize>,
}

/// A JSON line's fields.
#[derive(Deserialize)]
struct JsonRow<'a> {
    /// Kept as written: an epoch in seconds as a double would lose the
    /// sub-microsecond digits.
    #[serde(borrow)]
    timestamp: &'a serde_json::value::RawValue,
    outcome: Option<serde_json::Value>,
    status: Option<u16>,
    latency_ms: Option<f64>,
    latency: Option<f64>,
    instance: Option<serde_json::Value>,
}

/// One row, read.
struct Row<'a> {
    /// Nanoseconds since the epoch of the trace's clock.
    timestamp: i128,
    failed: bool,
    latency: f64,
    instance: Option<std::borrow::Cow<'a, str>>,
}

impl Trace {
    /// Opens `path`; the header of a CSV file is read and checked now.
    pub fn open(path: &Path) -> Result<Self, Error> {
        let fail = |e: &dyn std::fmt::Display| Error::Input(format!("{}: {e}", path.display()));
        let file = File::open(path).map_err(|e| fail(&e))?;
        let size = file.metadata().map_err(|e| fail(&e))?.len();
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        let rows = match ext {
            "csv" => {
                // Fields are trimmed as they are read: the reader's own
                // trimming copies every record.
                let mut reader = csv::Reader::from_reader(file);
                let header = reader.headers().map_err(|e| fail(&e))?.clone();
                let find = |name: &str| header.iter().position(|h| h.trim() == name);
                let columns = Columns {
                    timestamp: find("timestamp")
                        .ok_or_else(|| fail(&"line 1: no timestamp column in the header"))?,
                    outcome: find("outcome"),
                    status: find("status"),
                    latency_ms: find("latency_ms"),
                    latency: find("latency"),
                    instance: find("instance"),
                };
                if columns.outcome.is_none() && columns.status.is_none() {
                    return Err(fail(
                        &"line 1: the header needs an outcome or a status column",
                    ));
                }
                Rows::Csv {
                    reader,
                    record: csv::StringRecord::new(),
                    columns,
                }
            }
            "jsonl" | "ndjson" => Rows::Json(BufReader::new(file), String::new()),
            _ => {
                return Err(fail(&format_args!(
                    "unknown trace format {ext:?}: name the file .csv, .jsonl or .ndjson"
                )))
            }
        };
        Ok(Self {
            path: path.to_owned(),
            rows,
            size,
            read: 0,
            // The header is line 1 of a CSV file.
            line: u64::from(ext == "csv"),
            origin: None,
            last: 0,
            instances: HashMap::new(),
            seconds: Vec::new(),
        })
    }

    fn error(&self, field: &str, why: impl std::fmt::Display) -> Error {
        Error::Input(format!(
            "{}:{}: {field}: {why}",
            self.path.display(),
            self.line
        ))
    }
}

/// The number of the instance named `name`, numbering new names in the
/// order they first appear.
fn intern(instances: &mut HashMap<String, u32>, name: &str) -> u32 {
    if let Some(&i) = instances.get(name) {
        return i;
    }
    let i = instances.len() as u32;
    instances.insert(name.to_owned(), i);
    i
}

fn outcome_failed(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "ok" | "success" | "succeeded" | "true" | "1" => Some(false),
        "error" | "failure" | "failed" | "fail" | "timeout" | "false" | "0" => Some(true),
        _ => None,
    }
}

fn status_failed(status: u16) -> bool {
    status >= 500 || status == 429
}

impl Source for Trace {
    fn next_arrival(&mut self, _: &SeededRandom) -> Result<Option<Arrival>, Error> {
        let path = &self.path;
        let instances = &mut self.instances;
        let at_line = |line: u64, (field, why): RowError| {
            Error::Input(format!("{}:{line}: {field}: {why}", path.display()))
        };
        let (timestamp, failed, latency, instance) = match &mut self.rows {
            Rows::Csv {
                reader,
                record,
                columns,
            } => {
                match reader.read_record(record) {
                    Ok(false) => return Ok(None),
                    Ok(true) => {}
                    Err(e) => return Err(Error::Input(format!("{}: {e}", path.display()))),
                }
                if let Some(p) = record.position() {
                    (self.line, self.read) = (p.line(), p.byte());
                }
                let row = csv_row(record, columns).map_err(|e| at_line(self.line, e))?;
                let instance = row.instance.map_or(0, |name| intern(instances, &name));
                (row.timestamp, row.failed, row.latency, instance)
            }
            Rows::Json(reader, buf) => loop {
                buf.clear();
                let n = reader
                    .read_line(buf)
                    .map_err(|e| Error::Input(format!("{}: {e}", path.display())))?;
                if n == 0 {
                    return Ok(None);
                }
                self.read += n as u64;
                self.line += 1;
                if !buf.trim().is_empty() {
                    let row = json_row(buf).map_err(|e| at_line(self.line, e))?;
                    let instance = row.instance.map_or(0, |name| intern(instances, &name));
                    break (row.timestamp, row.failed, row.latency, instance);
                }
            },
        };
        let origin = *self.origin.get_or_insert(timestamp);
        let at = u64::try_from(timestamp - origin).unwrap_or(0);
        if timestamp < origin || at < self.last {
            return Err(self.error(
                "timestamp",
                format_args!(
                    "{} goes back in time: rows must be in time order",
                    timestamp as f64 / SECOND as f64
                ),
            ));
        }
        self.last = at;
        if !(latency.is_finite() && latency >= 0.0) {
            return Err(self.error("latency", "must be a finite number, at least 0"));
        }
        let s = (at / SECOND) as usize;
        if s >= self.seconds.len() {
            self.seconds.resize(s + 1, (0, 0));
        }
        self.seconds[s].0 += 1;
        self.seconds[s].1 += u32::from(failed);
        Ok(Some(Arrival {
            at,
            instance,
            client: 0,
            given: Some(Answer {
                failed,
                latency: (latency * SECOND as f64).round() as u64,
            }),
        }))
    }

    fn degraded(&mut self, _: u64, _: u32) -> bool {
        // Every arrival of a trace carries its answer, which says.
        false
    }

    fn answer(&mut self, _: u64, _: u32, _: &SeededRandom) -> Answer {
        unreachable!("every arrival of a trace carries its answer")
    }

    fn done(&self) -> f64 {
        self.read as f64 / self.size.max(1) as f64
    }

    fn episodes(&self) -> Vec<Episode> {
        let mut out: Vec<Episode> = Vec::new();
        for (s, &(calls, failed)) in self.seconds.iter().enumerate() {
            if calls == 0 || failed * 2 < calls {
                continue;
            }
            let (start, end) = (s as u64 * SECOND, (s as u64 + 1) * SECOND);
            match out.last_mut() {
                Some(e) if e.end == start => e.end = end,
                _ => out.push(Episode {
                    start,
                    end,
                    instance: None,
                }),
            }
        }
        out
    }

    fn end(&self) -> u64 {
        self.last
    }
}

type RowError = (&'static str, String);

/// Seconds written in decimal (`1700000000.123456789`), in nanoseconds,
/// exactly; other notations (`1.7e9`) through a double.
fn timestamp(text: &str) -> Result<i128, RowError> {
    let bad = || ("timestamp", format!("{text:?} is not a number"));
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let exact =
        !whole.is_empty() && fraction.len() <= 9 && fraction.bytes().all(|b| b.is_ascii_digit());
    match (exact, whole.parse::<i64>()) {
        (true, Ok(secs)) => {
            let digits: i128 = if fraction.is_empty() {
                0
            } else {
                fraction.parse().map_err(|_| bad())?
            };
            let scaled = digits * 10i128.pow(9 - fraction.len() as u32);
            let sign = if whole.starts_with('-') { -1 } else { 1 };
            Ok(i128::from(secs) * i128::from(SECOND) + sign * scaled)
        }
        _ => {
            let secs: f64 = text.parse().map_err(|_| bad())?;
            if !secs.is_finite() {
                return Err(bad());
            }
            Ok((secs * SECOND as f64).round() as i128)
        }
    }
}

fn csv_row<'a>(record: &'a csv::StringRecord, c: &Columns) -> Result<Row<'a>, RowError> {
    let get = |i: usize| record.get(i).unwrap_or("").trim();
    let number = |field: &'static str, i: usize| -> Result<f64, RowError> {
        get(i)
            .parse::<f64>()
            .map_err(|_| (field, format!("{:?} is not a number", get(i))))
    };
    let timestamp = timestamp(get(c.timestamp))?;
    let failed = match (c.outcome, c.status) {
        (Some(i), _) if !get(i).is_empty() => outcome_failed(get(i))
            .ok_or_else(|| ("outcome", format!("{:?} is not ok/error", get(i))))?,
        (_, Some(i)) => status_failed(
            get(i)
                .parse()
                .map_err(|_| ("status", format!("{:?} is not an HTTP status", get(i))))?,
        ),
        _ => return Err(("outcome", "empty".into())),
    };
    let latency = match (c.latency_ms, c.latency) {
        (Some(i), _) if !get(i).is_empty() => number("latency_ms", i)? / 1e3,
        (_, Some(i)) if !get(i).is_empty() => number("latency", i)?,
        _ => 0.0,
    };
    let instance = c.instance.map(|i| std::borrow::Cow::Borrowed(get(i)));
    Ok(Row {
        timestamp,
        failed,
        latency,
        instance,
    })
}

fn json_row(line: &str) -> Result<Row<'static>, RowError> {
    let row: JsonRow = serde_json::from_str(line).map_err(|e| ("json", e.to_string()))?;
    let timestamp = timestamp(row.timestamp.get())?;
    let failed = match (&row.outcome, row.status) {
        (Some(serde_json::Value::Bool(ok)), _) => !ok,
        (Some(serde_json::Value::String(s)), _) => {
            outcome_failed(s).ok_or_else(|| ("outcome", format!("{s:?} is not ok/error")))?
        }
        (Some(other), _) => return Err(("outcome", format!("{other} is not ok/error"))),
        (None, Some(status)) => status_failed(status),
        (None, None) => return Err(("outcome", "no outcome or status".into())),
    };
    let latency = match (row.latency_ms, row.latency) {
        (Some(ms), _) => ms / 1e3,
        (None, Some(s)) => s,
        (None, None) => 0.0,
    };
    let instance = row.instance.map(|v| match v {
        serde_json::Value::String(s) => std::borrow::Cow::Owned(s),
        other => std::borrow::Cow::Owned(other.to_string()),
    });
    Ok(Row {
        timestamp,
        failed,
        latency,
        instance,
    })
}

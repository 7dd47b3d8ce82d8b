//! The `log` records the breaker writes: one per transition on the target
//! `seawall`, WARN on entering OPEN and INFO otherwise, with structured
//! fields; one ERROR when a listener panics. A test logger captures them.
//! Every test uses its own breaker name and reads only its records, so the
//! tests may run in parallel under the one global logger.

use std::collections::BTreeMap;
use std::sync::{Mutex, Once};
use std::time::Duration;

use log::kv::{Error, Key, Value, VisitSource};
use log::{Level, Log, Metadata, Record};
use seawall::{Breaker, BreakerConfig, ManualClock, Outcome, State, Transition, Window};

/// One captured record: target, level, message, fields (as text).
#[derive(Clone, Debug)]
struct Captured {
    target: String,
    level: Level,
    message: String,
    fields: BTreeMap<String, String>,
}

struct TestLogger(Mutex<Vec<Captured>>);

impl Log for TestLogger {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &Record<'_>) {
        struct Fields(BTreeMap<String, String>);
        impl<'kvs> VisitSource<'kvs> for Fields {
            fn visit_pair(&mut self, key: Key<'kvs>, value: Value<'kvs>) -> Result<(), Error> {
                self.0.insert(key.to_string(), value.to_string());
                Ok(())
            }
        }
        let mut fields = Fields(BTreeMap::new());
        record.key_values().visit(&mut fields).unwrap();
        self.0.lock().unwrap().push(Captured {
            target: record.target().to_owned(),
            level: record.level(),
            message: record.args().to_string(),
            fields: fields.0,
        });
    }

    fn flush(&self) {}
}

static LOGGER: TestLogger = TestLogger(Mutex::new(Vec::new()));

/// The records so far whose `name` field is `breaker`.
fn records_of(breaker: &str) -> Vec<Captured> {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        log::set_logger(&LOGGER).unwrap();
        log::set_max_level(log::LevelFilter::Trace);
    });
    LOGGER
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.fields.get("name").map(String::as_str) == Some(breaker))
        .cloned()
        .collect()
}

fn config(failures: u32) -> BreakerConfig {
    BreakerConfig {
        failure_threshold: failures,
        success_threshold: 1,
        half_open_max_calls: 1,
        timeout: Duration::from_secs(10),
        ..BreakerConfig::default()
    }
}

fn breaker(name: &str, config: BreakerConfig) -> (Breaker<ManualClock>, ManualClock) {
    records_of(name); // installs the logger before anything is logged
    let clock = ManualClock::new();
    (
        Breaker::with_clock(name, config, clock.clone()).unwrap(),
        clock,
    )
}

fn fail(b: &Breaker<ManualClock>) {
    b.try_acquire().unwrap().record(Outcome::Failure);
}

fn field<'a>(r: &'a Captured, key: &str) -> &'a str {
    r.fields.get(key).map_or("<absent>", String::as_str)
}

#[test]
fn every_transition_is_one_record_with_its_fields() {
    let (b, clock) = breaker("logs-cycle", config(3));
    // Calls that change no state log nothing.
    b.try_acquire().unwrap().record(Outcome::Success);
    fail(&b);
    fail(&b);
    assert!(records_of("logs-cycle").is_empty());
    fail(&b);
    assert!(b.try_acquire().is_err());
    clock.advance(Duration::from_secs(10));
    b.try_acquire().unwrap().record(Outcome::Success);

    let r = records_of("logs-cycle");
    let summary: Vec<_> = r
        .iter()
        .map(|r| (r.level, field(r, "from"), field(r, "to")))
        .collect();
    assert_eq!(
        summary,
        vec![
            (Level::Warn, "CLOSED", "OPEN"),
            (Level::Info, "OPEN", "HALF_OPEN"),
            (Level::Info, "HALF_OPEN", "CLOSED"),
        ]
    );
    for rec in &r {
        assert_eq!(rec.target, "seawall");
    }
    let open = &r[0];
    assert_eq!(open.message, "circuit breaker 'logs-cycle' CLOSED -> OPEN");
    assert_eq!(field(open, "failures"), "3");
    assert_eq!(field(open, "retry_after"), "10");
    assert_eq!(field(&r[1], "failures"), "0");
    assert_eq!(field(&r[1], "retry_after"), "None");
}

#[test]
fn a_window_trip_reports_the_window_failures() {
    let c = BreakerConfig {
        trip_on_consecutive_failures: false,
        window: Window::Count { size: 4 },
        failure_rate_threshold: Some(0.5),
        minimum_calls: 4,
        ..config(3)
    };
    let (b, _) = breaker("logs-window", c);
    b.try_acquire().unwrap().record(Outcome::Success);
    b.try_acquire().unwrap().record(Outcome::Success);
    fail(&b);
    fail(&b);
    assert_eq!(b.state(), State::Open);
    let r = records_of("logs-window");
    assert_eq!(r.len(), 1);
    assert_eq!(field(&r[0], "failures"), "2");
}

#[test]
fn commands_log_at_their_levels() {
    let (b, _) = breaker("logs-commands", config(3));
    b.force_open();
    b.force_closed();
    b.reset();
    b.reset(); // already CLOSED: no transition, no record
    let levels: Vec<_> = records_of("logs-commands")
        .iter()
        .map(|r| (r.level, field(r, "to").to_owned()))
        .collect();
    assert_eq!(
        levels,
        vec![
            (Level::Warn, "FORCED_OPEN".to_owned()),
            (Level::Info, "FORCED_CLOSED".to_owned()),
            (Level::Info, "CLOSED".to_owned()),
        ]
    );
}

#[test]
fn a_panicking_listener_is_logged_as_an_error() {
    let (b, _) = breaker("logs-panic", config(1));
    b.add_listener(|_: &str, _: Transition| panic!("listener fails"));
    fail(&b);
    let r = records_of("logs-panic");
    assert_eq!(r.len(), 2);
    assert_eq!(r[1].level, Level::Error);
    assert_eq!(field(&r[1], "from"), "CLOSED");
    assert_eq!(field(&r[1], "to"), "OPEN");
    assert!(r[1].message.contains("panicked"), "{}", r[1].message);
}

/// With the `tracing` feature every transition is a `tracing` event too.
#[cfg(feature = "tracing")]
mod tracing_events {
    use std::fmt::Debug;
    use std::sync::{Arc, Mutex};

    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Level, Metadata, Subscriber};

    use super::{breaker, fail};

    /// One event's level, target and fields (as text).
    type Captured = (Level, String, Vec<(String, String)>);

    /// Keeps every event.
    #[derive(Clone, Default)]
    struct Events(Arc<Mutex<Vec<Captured>>>);

    impl Subscriber for Events {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            struct Fields(Vec<(String, String)>);
            impl Visit for Fields {
                fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
                    self.0.push((field.name().to_owned(), format!("{value:?}")));
                }
            }
            let mut fields = Fields(Vec::new());
            event.record(&mut fields);
            let m = event.metadata();
            self.0
                .lock()
                .unwrap()
                .push((*m.level(), m.target().to_owned(), fields.0));
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }

    #[test]
    fn a_trip_is_a_warn_event_with_its_fields() {
        let events = Events::default();
        let (b, _) = breaker("tracing-trip", super::config(1));
        tracing::subscriber::with_default(events.clone(), || fail(&b));
        let got = events.0.lock().unwrap().clone();
        assert_eq!(got.len(), 1);
        let (level, target, fields) = &got[0];
        assert_eq!((*level, target.as_str()), (Level::WARN, "seawall"));
        let field = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(field("name"), Some("\"tracing-trip\""));
        assert_eq!(field("from"), Some("\"CLOSED\""));
        assert_eq!(field("to"), Some("\"OPEN\""));
        assert_eq!(field("failures"), Some("1"));
        assert_eq!(field("retry_after"), Some("10.0"));
        // The `log` record is still written.
        assert_eq!(super::records_of("tracing-trip").len(), 1);
    }
}

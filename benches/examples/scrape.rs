//! The time of one metrics scrape of a registry of 1,000 breakers: the
//! catalog read from the breakers' snapshots; the same written as scrape
//! text (what `seawall_registry_prometheus_text` returns); and, beside it,
//! the same families encoded by the `prometheus-client` crate through
//! Seawall's collector. Timing only, nothing asserted: `cargo run
//! --release -p seawall-benches --example scrape [breakers] [rounds]`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use std::sync::Arc;

use seawall::telemetry::prometheus::RegistryCollector;
use seawall::telemetry::{text, write_text, Catalog, TextFormat};
use seawall::{BreakerConfig, Registry};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let breakers: usize = args.next().map_or(1_000, |a| a.parse().expect("breakers"));
    let rounds: usize = args.next().map_or(200, |a| a.parse().expect("rounds"));
    let registry = Arc::new(Registry::new());
    for i in 0..breakers {
        let b = registry
            .get_or_create(&format!("dependency-{i:04}"), &BreakerConfig::default())
            .expect("valid config");
        for _ in 0..10 {
            b.try_acquire().expect("closed").success();
        }
    }
    let catalog = || {
        let mut c = Catalog::new();
        c.registry(&registry);
        c.finish()
    };
    let time = |f: &dyn Fn() -> usize| {
        let samples: Vec<Duration> = (0..rounds)
            .map(|_| {
                let t = Instant::now();
                black_box(f());
                t.elapsed()
            })
            .collect();
        median(samples)
    };
    let families = catalog();
    let samples: usize = families.iter().map(|f| f.samples.len()).sum();
    let bytes = text(&families, TextFormat::OpenMetrics).len();
    let mut client = prometheus_client::registry::Registry::default();
    client.register_collector(Box::new(RegistryCollector::new(Arc::clone(&registry))));
    let read = time(&|| catalog().len());
    let native = time(&|| text(&catalog(), TextFormat::OpenMetrics).len());
    let buffer = std::cell::RefCell::new(String::new());
    let reused = time(&|| {
        let mut out = buffer.borrow_mut();
        out.clear();
        write_text(&catalog(), TextFormat::OpenMetrics, &mut out);
        out.len()
    });
    let crate_text = time(&|| {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &client).expect("encodes");
        out.len()
    });
    println!("{breakers} breakers, {samples} samples, {bytes} bytes of text; median of {rounds}:");
    println!("  catalog (snapshots -> families):         {read:>10.2?}");
    println!("  catalog + scrape text (telemetry::text): {native:>10.2?}");
    println!(
        "  per breaker:                             {:>10.2?}",
        native / breakers as u32
    );
    println!("  the same into a reused buffer:           {reused:>10.2?}");
    println!("  catalog + prometheus-client's encoder:   {crate_text:>10.2?}");
}

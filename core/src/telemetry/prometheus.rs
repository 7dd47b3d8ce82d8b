//! The catalog as a `prometheus-client` [`Collector`] (cargo feature
//! `prometheus-client`): register one over a [`Registry`](crate::Registry) (or anything
//! that yields families) and every scrape reads the engines' snapshots.
//!
//! ```
//! use std::sync::Arc;
//! use seawall::telemetry::prometheus::RegistryCollector;
//! use seawall::{BreakerConfig, ManualClock, Registry};
//!
//! let breakers = Arc::new(Registry::with_clock(ManualClock::new()));
//! breakers.get_or_create("users", &BreakerConfig::default()).unwrap();
//! let mut registry = prometheus_client::registry::Registry::default();
//! registry.register_collector(Box::new(RegistryCollector::new(Arc::clone(&breakers))));
//! let mut out = String::new();
//! prometheus_client::encoding::text::encode(&mut out, &registry).unwrap();
//! assert!(out.contains("seawall_breaker_state{name=\"users\",state=\"closed\"} 1"));
//! ```
//!
//! To serve only Seawall's metrics, [`text`](super::text) writes the same
//! samples with about a quarter of the instructions.

use std::fmt;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;

use super::{Catalog, Family, MetricKind};
use crate::clock::Clock;

/// Encodes `families` with `encoder`: each family's descriptor, then one
/// metric per sample (counters as integers, gauges as floats).
pub fn encode(families: &[Family], encoder: &mut DescriptorEncoder<'_>) -> fmt::Result {
    for f in families {
        let kind = match f.kind {
            MetricKind::Counter => MetricType::Counter,
            MetricKind::Gauge => MetricType::Gauge,
        };
        let mut metric = encoder.encode_descriptor(f.name, f.help, None, kind)?;
        for s in &f.samples {
            let mut labels: Vec<(&str, &str)> = Vec::with_capacity(1 + s.labels.len());
            labels.push(("name", &s.name));
            labels.extend_from_slice(s.labels);
            let family = metric.encode_family(&labels)?;
            match f.kind {
                // Counts are whole numbers; a u64 prints without a decimal point.
                MetricKind::Counter => ConstCounter::new(s.value as u64).encode(family)?,
                MetricKind::Gauge => ConstGauge::new(s.value).encode(family)?,
            }
        }
    }
    Ok(())
}

/// Every breaker of a [`crate::Registry`], read at each scrape.
pub struct RegistryCollector<C: Clock + Clone + Send + Sync + 'static> {
    registry: Arc<crate::Registry<C>>,
}

impl<C: Clock + Clone + Send + Sync + 'static> RegistryCollector<C> {
    /// A collector of `registry`'s breakers.
    pub fn new(registry: Arc<crate::Registry<C>>) -> Self {
        Self { registry }
    }
}

impl<C: Clock + Clone + Send + Sync + 'static> fmt::Debug for RegistryCollector<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryCollector")
            .field("breakers", &self.registry.len())
            .finish()
    }
}

impl<C: Clock + Clone + Send + Sync + 'static> Collector for RegistryCollector<C> {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        let mut catalog = Catalog::new();
        catalog.registry(&self.registry);
        encode(&catalog.finish(), &mut encoder)
    }
}

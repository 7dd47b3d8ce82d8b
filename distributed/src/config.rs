//! The configuration of the fleet side: per breaker ([`FleetConfig`]) and
//! per coordinator ([`CoordinatorConfig`]), their validation, and the script
//! parameters derived from them.

use std::time::Duration;

use seawall::{BreakerConfig, ConfigError};

use crate::keys::Keys;
use crate::store::Params;

/// How the fleet judges one breaker. Open times, trial-call limits and
/// trial expiry come from the local [`BreakerConfig`] (`timeout`,
/// `timeout_multiplier`, `max_timeout`, `half_open_max_calls`,
/// `success_threshold`, `half_open_timeout`), so one configuration reads the
/// same locally and fleet-wide.
#[derive(Clone, Debug, PartialEq)]
pub struct FleetConfig {
    /// The span of the fleet window. `[10 ms, 1 day]`, default 10 s.
    pub window: Duration,
    /// The window's slices (time buckets). `1..=100`, default 10; each
    /// slice at least 1 ms.
    pub buckets: u32,
    /// The share of failed calls in the fleet window that trips the fleet,
    /// once it holds `minimum_calls`. `None` or in `(0, 1]`; default 0.5.
    pub failure_rate_threshold: Option<f64>,
    /// Failures in the fleet window that trip the fleet, whatever the number
    /// of calls. `None` (default) or at least 1.
    pub failure_count_threshold: Option<u32>,
    /// Calls the fleet window must hold before the rate rule may fire. At
    /// least 1, default 20.
    pub minimum_calls: u32,
    /// Distinct instances that must have reported failures within the
    /// window before the fleet trips, so one sick instance opens only its
    /// own local breaker. `None` (default): 2 when the fleet has 2 or more
    /// live instances, else 1. `Some(n)`: n, at least 1.
    pub min_failing_instances: Option<u32>,
    /// Failures since the last flush that make the coordinator flush at
    /// once instead of at its next tick. `None` (default):
    /// `max(1, minimum_calls / 4)`. `Some(n)`: n, at least 1.
    pub urgent_failures: Option<u32>,
    /// Time to live of the breaker's state in the store, refreshed by every
    /// write. `None` (default): `max(1 h, 10 x window, 10 x the longest open
    /// time)`. `Some(d)`: at least the window and the longest open time.
    pub state_ttl: Option<Duration>,
    /// The share of slow calls in the fleet window that trips the fleet,
    /// once it holds `minimum_calls` (slow as the local breaker's
    /// `slow_call_duration` says, which it requires). `None` (default) or in
    /// `(0, 1]`.
    pub slow_call_rate_threshold: Option<f64>,
}

impl Default for FleetConfig {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(10),
            buckets: 10,
            failure_rate_threshold: Some(0.5),
            failure_count_threshold: None,
            minimum_calls: 20,
            min_failing_instances: None,
            urgent_failures: None,
            state_ttl: None,
            slow_call_rate_threshold: None,
        }
    }
}

pub(crate) fn bad(
    field: &'static str,
    value: impl std::fmt::Debug,
    allowed: &'static str,
) -> ConfigError {
    ConfigError {
        field,
        value: format!("{value:?}"),
        allowed,
    }
}

fn ms_ceil(d: Duration) -> u64 {
    d.as_nanos()
        .div_ceil(1_000_000)
        .try_into()
        .unwrap_or(u64::MAX)
}

impl FleetConfig {
    /// The fleet rules that read like a local configuration: its
    /// `minimum_calls`, its failure rate (0.5 when it has none) and count
    /// rules, and its time window when that is one the fleet accepts
    /// (otherwise 10 s in 10 slices). For faces that take one configuration.
    pub fn from_local(local: &BreakerConfig) -> Self {
        let mut fleet = FleetConfig {
            minimum_calls: local.minimum_calls.max(1),
            failure_rate_threshold: local.failure_rate_threshold.or(Some(0.5)),
            failure_count_threshold: local.failure_count_threshold,
            slow_call_rate_threshold: local.slow_call_rate_threshold,
            ..Default::default()
        };
        if let seawall::Window::Time { length, buckets } = local.window {
            let candidate = FleetConfig {
                window: length,
                buckets,
                ..fleet.clone()
            };
            if candidate.validate().is_ok() {
                fleet = candidate;
            }
        }
        fleet
    }

    /// Checks every field; the error names the field, the value and the
    /// allowed range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.window < Duration::from_millis(10) || self.window > Duration::from_secs(86_400) {
            return Err(bad("window", self.window, "in [10 ms, 1 day]"));
        }
        if !(1..=100).contains(&self.buckets) {
            return Err(bad("buckets", self.buckets, "in 1..=100"));
        }
        if self.window / self.buckets < Duration::from_millis(1) {
            return Err(bad(
                "buckets",
                self.buckets,
                "at most window / 1 ms (each slice at least 1 ms)",
            ));
        }
        if let Some(r) = self.failure_rate_threshold {
            if !(r > 0.0 && r <= 1.0) {
                return Err(bad("failure_rate_threshold", r, "None or in (0, 1]"));
            }
        }
        if let Some(r) = self.slow_call_rate_threshold {
            if !(r > 0.0 && r <= 1.0) {
                return Err(bad("slow_call_rate_threshold", r, "None or in (0, 1]"));
            }
        }
        if self.failure_count_threshold == Some(0) {
            return Err(bad("failure_count_threshold", 0, "None or at least 1"));
        }
        if self.failure_rate_threshold.is_none() && self.failure_count_threshold.is_none() {
            return Err(bad(
                "failure_rate_threshold",
                None::<f64>,
                "set (or failure_count_threshold set): the fleet needs a rule to trip on",
            ));
        }
        if self.minimum_calls == 0 {
            return Err(bad("minimum_calls", 0, "at least 1"));
        }
        if self.min_failing_instances == Some(0) {
            return Err(bad(
                "min_failing_instances",
                0,
                "None (automatic) or at least 1",
            ));
        }
        if self.urgent_failures == Some(0) {
            return Err(bad("urgent_failures", 0, "None (automatic) or at least 1"));
        }
        Ok(())
    }

    /// Failures since the last flush that wake the coordinator early.
    pub(crate) fn urgent(&self) -> u32 {
        self.urgent_failures
            .unwrap_or((self.minimum_calls / 4).max(1))
    }

    /// The script parameters of a breaker.
    pub(crate) fn params(
        &self,
        local: &BreakerConfig,
        keys: &Keys,
        nonce: &str,
    ) -> Result<Params, ConfigError> {
        self.validate()?;
        if self.slow_call_rate_threshold.is_some() && local.slow_call_duration.is_none() {
            return Err(bad(
                "slow_call_rate_threshold",
                self.slow_call_rate_threshold,
                "unset unless the local breaker's slow_call_duration is set",
            ));
        }
        let open_ms = ms_ceil(local.timeout).max(1);
        let open_max_ms = local.max_timeout.map_or(open_ms, ms_ceil).max(open_ms);
        let window_ms = ms_ceil(self.window);
        let bucket_ms = (window_ms / u64::from(self.buckets)).max(1);
        let auto_ttl = (10 * window_ms).max(10 * open_max_ms).max(3_600_000);
        let state_ttl_ms = match self.state_ttl {
            None => auto_ttl,
            Some(t) => {
                let t = ms_ceil(t);
                if t < window_ms.max(open_max_ms) {
                    return Err(bad(
                        "state_ttl",
                        self.state_ttl,
                        "None or at least the window and the longest open time",
                    ));
                }
                t
            }
        };
        Ok(Params {
            nonce: nonce.to_owned(),
            channel: keys.channel.clone(),
            name: keys.name.clone(),
            state_ttl_ms,
            open_ms,
            open_mult_milli: (local.timeout_multiplier * 1000.0).round() as u64,
            open_max_ms,
            half_open_max: u64::from(local.half_open_max_calls),
            successes_needed: u64::from(local.success_threshold),
            lease_ms: ms_ceil(local.half_open_timeout).max(1),
            bucket_ms,
            buckets: u64::from(self.buckets),
            minimum_calls: u64::from(self.minimum_calls),
            rate_ppm: self
                .failure_rate_threshold
                .map_or(0, |r| ((r * 1e6).round() as u64).max(1)),
            count: u64::from(self.failure_count_threshold.unwrap_or(0)),
            min_failing: u64::from(self.min_failing_instances.unwrap_or(0)),
            slow_ppm: self
                .slow_call_rate_threshold
                .map_or(0, |r| ((r * 1e6).round() as u64).max(1)),
        })
    }
}

/// How one coordinator (one per process, serving all its distributed
/// breakers) talks to the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoordinatorConfig {
    /// Prefix of every key and of the event channel. No braces (they would
    /// change the keys' Redis Cluster hash tag), 1 to 100 bytes. Default
    /// `"seawall"`.
    pub namespace: String,
    /// How often outcome counts are flushed. `[1 ms, 10 s]`, default 100 ms.
    pub sync_interval: Duration,
    /// How often a breaker with nothing to flush reads the fleet state (to
    /// repair lost pub/sub messages). `[sync_interval, 1 hour]`, default 1 s.
    pub poll_interval: Duration,
    /// The longest any store operation may take before it counts as failed.
    /// `[1 ms, 60 s]`, default 100 ms.
    pub op_timeout: Duration,
    /// The longest a connection attempt may take. `[1 ms, 60 s]`, default
    /// 250 ms.
    pub connect_timeout: Duration,
    /// The first wait before reconnecting after the store failed; doubled
    /// (with jitter) per failed attempt. `[1 ms, reconnect_max]`, default
    /// 100 ms.
    pub reconnect_min: Duration,
    /// The longest wait between reconnection attempts. `[reconnect_min,
    /// 10 min]`, default 30 s.
    pub reconnect_max: Duration,
}

impl Default for CoordinatorConfig {
    fn default() -> Self {
        Self {
            namespace: "seawall".into(),
            sync_interval: Duration::from_millis(100),
            poll_interval: Duration::from_secs(1),
            op_timeout: Duration::from_millis(100),
            connect_timeout: Duration::from_millis(250),
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(30),
        }
    }
}

impl CoordinatorConfig {
    /// Checks every field (the namespace with [`crate::KeyError`]'s rules,
    /// reported here as a `ConfigError` on `namespace` naming them all).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let ms = Duration::from_millis;
        let range = |field, v: Duration, lo: Duration, hi: Duration, allowed| {
            if v < lo || v > hi {
                Err(bad(field, v, allowed))
            } else {
                Ok(())
            }
        };
        if crate::keys::check_namespace(&self.namespace).is_err() {
            return Err(bad(
                "namespace",
                &self.namespace,
                "1 to 100 bytes without '{', '}' (they would change the keys' Redis Cluster \
                 hash tag) or control characters",
            ));
        }
        range(
            "sync_interval",
            self.sync_interval,
            ms(1),
            ms(10_000),
            "in [1 ms, 10 s]",
        )?;
        range(
            "poll_interval",
            self.poll_interval,
            self.sync_interval,
            ms(3_600_000),
            "in [sync_interval, 1 hour]",
        )?;
        range(
            "op_timeout",
            self.op_timeout,
            ms(1),
            ms(60_000),
            "in [1 ms, 60 s]",
        )?;
        range(
            "connect_timeout",
            self.connect_timeout,
            ms(1),
            ms(60_000),
            "in [1 ms, 60 s]",
        )?;
        range(
            "reconnect_min",
            self.reconnect_min,
            ms(1),
            self.reconnect_max,
            "in [1 ms, reconnect_max]",
        )?;
        range(
            "reconnect_max",
            self.reconnect_max,
            self.reconnect_min,
            ms(600_000),
            "in [reconnect_min, 10 min]",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_derive_the_script_parameters() {
        let keys = Keys::new("ns", "db").unwrap();
        let p = FleetConfig::default()
            .params(&BreakerConfig::default(), &keys, "n1")
            .unwrap();
        assert_eq!((p.bucket_ms, p.buckets, p.window_ms()), (1000, 10, 10_000));
        assert_eq!(
            (p.open_ms, p.open_max_ms, p.open_mult_milli),
            (60_000, 60_000, 1000)
        );
        assert_eq!((p.rate_ppm, p.count, p.min_failing), (500_000, 0, 0));
        assert_eq!(p.state_ttl_ms, 3_600_000);
        assert_eq!(
            (p.half_open_max, p.successes_needed, p.lease_ms),
            (1, 3, 30_000)
        );
        assert_eq!(FleetConfig::default().urgent(), 5);
        CoordinatorConfig::default().validate().unwrap();
    }

    #[test]
    fn a_local_configuration_gives_the_fleet_its_rules_and_valid_window() {
        let local = BreakerConfig {
            minimum_calls: 7,
            failure_count_threshold: Some(9),
            window: seawall::Window::Time {
                length: Duration::from_secs(30),
                buckets: 6,
            },
            ..Default::default()
        };
        let f = FleetConfig::from_local(&local);
        assert_eq!((f.minimum_calls, f.failure_count_threshold), (7, Some(9)));
        assert_eq!(f.failure_rate_threshold, Some(0.5));
        assert_eq!((f.window, f.buckets), (Duration::from_secs(30), 6));
        let odd = BreakerConfig {
            window: seawall::Window::Time {
                length: Duration::from_secs(1),
                buckets: 1000,
            },
            failure_rate_threshold: Some(0.25),
            ..Default::default()
        };
        let f = FleetConfig::from_local(&odd);
        assert_eq!(
            (f.window, f.buckets),
            (Duration::from_secs(10), 10),
            "1000 slices: too many"
        );
        assert_eq!(f.failure_rate_threshold, Some(0.25));
        f.validate().unwrap();
    }

    #[test]
    fn bad_settings_name_their_field() {
        let field = |c: FleetConfig| c.validate().unwrap_err().field;
        let d = FleetConfig::default;
        assert_eq!(field(FleetConfig { buckets: 0, ..d() }), "buckets");
        assert_eq!(
            field(FleetConfig {
                window: Duration::from_millis(5),
                ..d()
            }),
            "window"
        );
        assert_eq!(
            field(FleetConfig {
                failure_rate_threshold: Some(1.5),
                ..d()
            }),
            "failure_rate_threshold"
        );
        assert_eq!(
            field(FleetConfig {
                failure_rate_threshold: None,
                ..d()
            }),
            "failure_rate_threshold"
        );
        assert_eq!(
            field(FleetConfig {
                minimum_calls: 0,
                ..d()
            }),
            "minimum_calls"
        );
        assert_eq!(
            field(FleetConfig {
                min_failing_instances: Some(0),
                ..d()
            }),
            "min_failing_instances"
        );
        let c = CoordinatorConfig {
            namespace: "a{b".into(),
            ..Default::default()
        };
        let e = c.validate().unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid namespace = \"a{b\": must be 1 to 100 bytes without '{', '}' (they \
             would change the keys' Redis Cluster hash tag) or control characters"
        );
        let c = CoordinatorConfig {
            poll_interval: Duration::from_millis(10),
            ..Default::default()
        };
        assert_eq!(c.validate().unwrap_err().field, "poll_interval");
    }
}

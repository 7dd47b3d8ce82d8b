//! Tier 0 (no Redis, always run): the in-memory store and coordinators
//! driven step by step on manual clocks. Tier 1 (`redis.rs`): the same
//! script scenarios and a small fleet against a real `redis-server` the
//! tests start themselves; `cluster.rs` the same fleet on a local Redis
//! Cluster of three primaries.

mod cluster;
mod engine;
mod limiter;
mod props;
mod redis;
mod scenarios;
mod server;

use crate::keys::Keys;
use crate::store::Params;

/// Script parameters for store-level tests; `edit` adjusts them.
pub(crate) fn params(keys: &Keys, edit: impl FnOnce(&mut Params)) -> Params {
    let mut p = Params {
        nonce: "n0".into(),
        channel: keys.channel.clone(),
        name: keys.name.clone(),
        state_ttl_ms: 60_000,
        open_ms: 300,
        open_mult_milli: 1000,
        open_max_ms: 300,
        half_open_max: 2,
        successes_needed: 2,
        lease_ms: 10_000,
        bucket_ms: 1000,
        buckets: 10,
        minimum_calls: 10,
        rate_ppm: 500_000,
        count: 0,
        min_failing: 0,
        slow_ppm: 0,
    };
    edit(&mut p);
    p
}

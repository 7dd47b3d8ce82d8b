//! Where fleet state lives: the [`Store`] trait the coordinator drives, the
//! arguments and answers of its four scripts, and the two stores (Redis, and
//! an in-memory one with the scripts' exact semantics for tests).

use std::sync::mpsc::Sender;
use std::thread::Thread;

use crate::keys::{Keys, LimiterKeys};

#[cfg(test)]
pub(crate) mod memory;
pub(crate) mod redis;
mod target;

/// A breaker's fleet state as the store numbers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FleetKind {
    Closed = 0,
    Open = 1,
    HalfOpen = 2,
    ForcedOpen = 3,
    ForcedClosed = 4,
}

impl FleetKind {
    pub(crate) fn from_code(code: i64) -> Option<Self> {
        Some(match code {
            0 => Self::Closed,
            1 => Self::Open,
            2 => Self::HalfOpen,
            3 => Self::ForcedOpen,
            4 => Self::ForcedClosed,
            _ => return None,
        })
    }
}

/// What every script answers: the fleet state after it ran. Times are the
/// server's, in milliseconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct View {
    pub kind: FleetKind,
    /// Bumped by every transition; counts from 0 again in a new epoch.
    pub gen: u64,
    pub open_until: i64,
    pub lease_until: i64,
    /// The server's time when the script ran (clamped to never go back).
    pub now: i64,
    /// Bumped by every operator command (force open/closed, reset).
    pub cmd: u64,
    /// Set when the state hash is (re)created; empty when none exists.
    pub epoch: String,
}

/// What a flush adds to the view: the fleet window after it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct WindowStats {
    pub successes: u64,
    pub failures: u64,
    pub failing_instances: u64,
    pub live_instances: u64,
    /// The smallest configuration fingerprint other than the flushing
    /// instance's among those flushed within three windows (0: none).
    pub config: u64,
}

/// The answer of the trial script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TrialAnswer {
    pub view: View,
    pub granted: u32,
    /// The results sent were of another generation (or state) and ignored.
    pub fenced: bool,
}

/// Trial outcomes reported for one HALF_OPEN generation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct TrialResults {
    pub gen: u64,
    pub successes: u64,
    pub failures: u64,
    /// Permits that ended without a verdict (ignored, or returned unused).
    pub freed: u64,
}

/// An operator's command, applied fleet-wide.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Command {
    Reset = 0,
    ForceOpen = 3,
    ForceClosed = 4,
}

/// The breaker's parameters, sent with every script call as ARGV 1..17 (the
/// scripts keep no configuration, so instances never depend on a stored
/// one). Times in milliseconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Params {
    /// Prefix of a new epoch's name (random per coordinator).
    pub nonce: String,
    pub channel: String,
    pub name: String,
    pub state_ttl_ms: u64,
    pub open_ms: u64,
    /// The open-time multiplier per consecutive trip, in thousandths.
    pub open_mult_milli: u64,
    pub open_max_ms: u64,
    pub half_open_max: u64,
    pub successes_needed: u64,
    pub lease_ms: u64,
    pub bucket_ms: u64,
    pub buckets: u64,
    pub minimum_calls: u64,
    /// Failure rate that trips, in millionths; 0 = no rate rule.
    pub rate_ppm: u64,
    /// Failures in the window that trip; 0 = no count rule.
    pub count: u64,
    /// Distinct failing instances needed; 0 = `min(2, live instances)`.
    pub min_failing: u64,
    /// Slow-call rate that trips, in millionths; 0 = no slow-call rule.
    pub slow_ppm: u64,
}

impl Params {
    /// The name prefix of an epoch a script creates now: the coordinator's
    /// nonce and a fresh random part, so two epochs created in the same
    /// millisecond by the same instance still differ.
    pub(crate) fn epoch_prefix(&self) -> String {
        format!("{}.{:08x}", self.nonce, fastrand::u32(..))
    }

    /// ARGV 1..17, in the scripts' order.
    pub(crate) fn argv(&self) -> Vec<String> {
        vec![
            self.epoch_prefix(),
            self.channel.clone(),
            self.name.clone(),
            self.state_ttl_ms.to_string(),
            self.open_ms.to_string(),
            self.open_mult_milli.to_string(),
            self.open_max_ms.to_string(),
            self.half_open_max.to_string(),
            self.successes_needed.to_string(),
            self.lease_ms.to_string(),
            self.bucket_ms.to_string(),
            self.buckets.to_string(),
            self.minimum_calls.to_string(),
            self.rate_ppm.to_string(),
            self.count.to_string(),
            self.min_failing.to_string(),
            self.slow_ppm.to_string(),
        ]
    }

    /// A fingerprint of everything the instances must agree on (not the
    /// nonce or names): 48 bits, so Lua holds it exactly; never 0.
    pub(crate) fn fingerprint(&self) -> u64 {
        // FNV-1a over the decision parameters' decimal forms.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for a in &self.argv()[3..] {
            for b in a.bytes().chain([b'|']) {
                h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
            }
        }
        (h >> 16).max(1)
    }

    #[cfg(test)]
    pub(crate) fn window_ms(&self) -> u64 {
        self.bucket_ms * self.buckets
    }
}

/// What one instance sends the fleet rate limiter's lease script.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct LeaseArgs {
    /// Microseconds between calls at the fleet's sustained rate.
    pub interval_us: f64,
    pub burst: u64,
    /// Tokens asked for.
    pub want: u64,
    /// Leased tokens given back unused.
    pub returned: u64,
    /// Calls admitted on the local share since the last lease, charged in
    /// full.
    pub debt: u64,
    /// How long an instance stays counted as live after a lease.
    pub member_ttl_ms: u64,
}

impl LeaseArgs {
    /// ARGV of the lease script.
    pub(crate) fn argv(&self, instance: &str) -> Vec<String> {
        vec![
            format!("{:.6}", self.interval_us),
            self.burst.to_string(),
            self.want.to_string(),
            self.returned.to_string(),
            self.debt.to_string(),
            instance.to_owned(),
            self.member_ttl_ms.to_string(),
        ]
    }
}

/// The lease script's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LeaseAnswer {
    pub granted: u64,
    /// Microseconds until one more call would conform.
    pub retry_after_us: u64,
    /// Instances that leased within the member TTL (this one included).
    pub live: u64,
}

/// A store operation that did not complete: unreachable, refused, timed
/// out, or answered something unexpected. The coordinator treats all alike:
/// it enters degraded mode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreError(pub(crate) String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "fleet store: {}", self.0)
    }
}

impl std::error::Error for StoreError {}

/// A published state change, or word that the subscription was
/// re-established (so messages may have been lost: read everything again).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Notice {
    Published(String),
    Resubscribed,
}

/// Where a store delivers notices: a queue and the coordinator thread to
/// wake.
#[derive(Clone, Debug)]
pub(crate) struct Notify {
    pub tx: Sender<Notice>,
    pub thread: Thread,
}

impl Notify {
    /// Queues a notice and wakes the coordinator; false once it is gone.
    pub(crate) fn send(&self, notice: Notice) -> bool {
        let sent = self.tx.send(notice).is_ok();
        self.thread.unpark();
        sent
    }
}

/// The fleet store, driven by one coordinator thread (so `&mut self`).
pub(crate) trait Store: Send {
    /// Adds one instance's outcome deltas to the fleet window and decides
    /// (`slow` calls are also among the successes or failures).
    fn flush(
        &mut self,
        keys: &Keys,
        params: &Params,
        instance: &str,
        successes: u64,
        failures: u64,
        slow: u64,
    ) -> Result<(View, WindowStats), StoreError>;
    /// Reports trial results and asks for `want` more trial permits.
    fn trial(
        &mut self,
        keys: &Keys,
        params: &Params,
        results: TrialResults,
        want: u32,
    ) -> Result<TrialAnswer, StoreError>;
    /// Applies an operator's command fleet-wide.
    fn command(&mut self, keys: &Keys, params: &Params, cmd: Command) -> Result<View, StoreError>;
    /// The current view, changing nothing.
    fn read(&mut self, keys: &Keys) -> Result<View, StoreError>;
    /// The fleet rate limiter's lease: returns, charges, grants.
    fn lease(
        &mut self,
        keys: &LimiterKeys,
        args: &LeaseArgs,
        instance: &str,
    ) -> Result<LeaseAnswer, StoreError>;
    /// Drops the connection and opens a new one (also the first connect).
    fn reconnect(&mut self) -> Result<(), StoreError>;
    /// Starts delivering the channel's messages to `notify`, for as long as
    /// its receiver lives.
    fn subscribe(&mut self, channel: &str, notify: Notify);
}

/// Parses a published state change: `state|gen|open_until|now|cmd|epoch|name`.
pub(crate) fn parse_published(payload: &str) -> Option<(String, View)> {
    let mut it = payload.splitn(7, '|');
    let kind = FleetKind::from_code(it.next()?.parse().ok()?)?;
    let gen = it.next()?.parse().ok()?;
    let open_until = it.next()?.parse().ok()?;
    let now = it.next()?.parse().ok()?;
    let cmd = it.next()?.parse().ok()?;
    let epoch = it.next()?.to_owned();
    let name = it.next()?.to_owned();
    Some((
        name,
        View {
            kind,
            gen,
            open_until,
            lease_until: 0,
            now,
            cmd,
            epoch,
        },
    ))
}

//! An in-memory store with the exact semantics of the Lua scripts, on a
//! manual server clock, for tests that need no Redis. Handles are cheap
//! clones of one shared server, so several coordinators (instances) can use
//! it at once; the server can be taken down to test degraded mode.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use super::{
    Command, FleetKind, LeaseAnswer, LeaseArgs, Notice, Notify, Params, Store, StoreError,
    TrialAnswer, TrialResults, View, WindowStats,
};
use crate::keys::{Keys, LimiterKeys};

#[derive(Clone, Debug)]
enum Value {
    Hash(BTreeMap<String, String>),
    /// member -> score
    ZSet(HashMap<String, i64>),
}

#[derive(Debug, Default)]
struct Server {
    now_ms: i64,
    /// key -> (value, expiry in server ms)
    data: HashMap<String, (Value, Option<i64>)>,
    subscribers: Vec<(String, Notify)>,
    down: bool,
    /// Every published payload, in order (for tests).
    published: Vec<String>,
}

impl Server {
    fn purge(&mut self) {
        let now = self.now_ms;
        self.data.retain(|_, (_, exp)| exp.is_none_or(|e| e > now));
    }

    fn hash(&mut self, key: &str) -> &mut BTreeMap<String, String> {
        let entry = self
            .data
            .entry(key.to_owned())
            .or_insert_with(|| (Value::Hash(BTreeMap::new()), None));
        match &mut entry.0 {
            Value::Hash(h) => h,
            Value::ZSet(_) => panic!("{key} is not a hash"),
        }
    }

    fn zset(&mut self, key: &str) -> &mut HashMap<String, i64> {
        let entry = self
            .data
            .entry(key.to_owned())
            .or_insert_with(|| (Value::ZSet(HashMap::new()), None));
        match &mut entry.0 {
            Value::ZSet(z) => z,
            Value::Hash(_) => panic!("{key} is not a sorted set"),
        }
    }

    fn zcard(&self, key: &str) -> u64 {
        match self.data.get(key) {
            Some((Value::ZSet(z), _)) => z.len() as u64,
            _ => 0,
        }
    }

    /// ZREMRANGEBYSCORE key -inf max; an emptied set disappears, as in Redis.
    fn zrem_upto(&mut self, key: &str, max: i64) {
        if let Some((Value::ZSet(z), _)) = self.data.get_mut(key) {
            z.retain(|_, score| *score > max);
            if z.is_empty() {
                self.data.remove(key);
            }
        }
    }

    fn pexpire(&mut self, key: &str, ms: i64) {
        let at = self.now_ms + ms;
        if let Some((_, exp)) = self.data.get_mut(key) {
            *exp = Some(at);
        }
    }

    fn publish(&mut self, channel: &str, payload: String) {
        self.subscribers
            .retain(|(c, n)| c != channel || n.send(Notice::Published(payload.clone())));
        self.published.push(payload);
    }
}

/// The fields of the state hash, as the prelude holds them in locals.
struct Fields {
    epoch: String,
    kind: i64,
    gen: i64,
    open_until: i64,
    trips: i64,
    inflight: i64,
    lease_until: i64,
    ho_ok: i64,
    cmd: i64,
    now: i64,
    changed: bool,
}

/// One script run: the prelude's part (`begin`, `trip`, `close`, `settle`,
/// `finish`), each a line-by-line mirror of `scripts/prelude.lua`.
struct Run<'a> {
    s: &'a mut Server,
    keys: &'a Keys,
    params: &'a Params,
    f: Fields,
}

fn num(h: &BTreeMap<String, String>, field: &str) -> i64 {
    h.get(field).and_then(|v| v.parse().ok()).unwrap_or(0)
}

impl<'a> Run<'a> {
    fn begin(s: &'a mut Server, keys: &'a Keys, params: &'a Params) -> Self {
        s.purge();
        let mut now = s.now_ms;
        let f = match s.data.get(&keys.state) {
            Some((Value::Hash(h), _)) if h.contains_key("epoch") => {
                let last_now = num(h, "last_now");
                now = now.max(last_now);
                Fields {
                    epoch: h["epoch"].clone(),
                    kind: num(h, "state"),
                    gen: num(h, "gen"),
                    open_until: num(h, "open_until"),
                    trips: num(h, "trips"),
                    inflight: num(h, "inflight"),
                    lease_until: num(h, "lease_until"),
                    ho_ok: num(h, "ho_ok"),
                    cmd: num(h, "cmd"),
                    now,
                    changed: false,
                }
            }
            _ => Fields {
                epoch: format!("{}-{now}", params.epoch_prefix()),
                kind: 0,
                gen: 0,
                open_until: 0,
                trips: 0,
                inflight: 0,
                lease_until: 0,
                ho_ok: 0,
                cmd: 0,
                now,
                changed: false,
            },
        };
        Self { s, keys, params, f }
    }

    fn open_for(&self, n: i64) -> i64 {
        let p = self.params;
        let (mut o, m, mx) = (
            p.open_ms as i64,
            p.open_mult_milli as f64,
            p.open_max_ms as i64,
        );
        let mut i = 2;
        while i <= n && i <= 64 && o < mx {
            // The same double arithmetic as Lua's numbers.
            o = (o as f64 * m / 1000.0).floor() as i64;
            i += 1;
        }
        o.min(mx)
    }

    fn trip(&mut self) {
        self.f.trips += 1;
        let f = &mut self.f;
        (f.kind, f.gen, f.inflight, f.ho_ok, f.lease_until) = (1, f.gen + 1, 0, 0, 0);
        self.f.open_until = self.f.now + self.open_for(self.f.trips);
        self.f.changed = true;
    }

    fn close(&mut self) {
        let f = &mut self.f;
        (
            f.kind,
            f.gen,
            f.trips,
            f.inflight,
            f.ho_ok,
            f.open_until,
            f.lease_until,
        ) = (0, f.gen + 1, 0, 0, 0, 0, 0);
        self.s.data.remove(&self.keys.window);
        self.s.data.remove(&self.keys.failing);
        self.f.changed = true;
    }

    fn settle(&mut self) {
        let f = &mut self.f;
        if f.kind == 1 && f.now >= f.open_until {
            (f.kind, f.gen, f.inflight, f.ho_ok, f.lease_until) = (2, f.gen + 1, 0, 0, 0);
            f.changed = true;
        } else if f.kind == 2 && f.inflight > 0 && f.now >= f.lease_until {
            self.trip();
        }
    }

    fn finish(self) -> View {
        let f = self.f;
        let h = self.s.hash(&self.keys.state);
        for (k, v) in [
            ("state", f.kind),
            ("gen", f.gen),
            ("open_until", f.open_until),
            ("trips", f.trips),
            ("inflight", f.inflight),
            ("lease_until", f.lease_until),
            ("ho_ok", f.ho_ok),
            ("last_now", f.now),
            ("cmd", f.cmd),
        ] {
            h.insert(k.to_owned(), v.to_string());
        }
        h.insert("epoch".to_owned(), f.epoch.clone());
        self.s
            .pexpire(&self.keys.state, self.params.state_ttl_ms as i64);
        if f.changed {
            let payload = format!(
                "{}|{}|{}|{}|{}|{}|{}",
                f.kind, f.gen, f.open_until, f.now, f.cmd, f.epoch, self.params.name
            );
            self.s.publish(&self.params.channel, payload);
        }
        View {
            kind: FleetKind::from_code(f.kind).expect("scripts write known states"),
            gen: f.gen as u64,
            open_until: f.open_until,
            lease_until: f.lease_until,
            now: f.now,
            cmd: f.cmd as u64,
            epoch: f.epoch,
        }
    }
}

/// A handle on a shared in-memory server.
#[derive(Clone, Debug, Default)]
pub(crate) struct MemoryStore {
    server: Arc<Mutex<Server>>,
}

impl MemoryStore {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Server> {
        self.server.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn up(&self) -> Result<MutexGuard<'_, Server>, StoreError> {
        let s = self.lock();
        if s.down {
            return Err(StoreError(
                "connection refused (memory store is down)".into(),
            ));
        }
        Ok(s)
    }

    /// Moves the server clock forward.
    pub(crate) fn advance_ms(&self, ms: i64) {
        self.lock().now_ms += ms;
    }

    /// Sets the server clock (may step back, as after a failover).
    pub(crate) fn set_now_ms(&self, ms: i64) {
        self.lock().now_ms = ms;
    }

    /// Makes every operation fail (true) or work again (false). Nothing is
    /// published while down; coming back up tells every subscriber it was
    /// resubscribed, as the Redis store's subscriber does after a reconnect.
    pub(crate) fn set_down(&self, down: bool) {
        let mut s = self.lock();
        s.down = down;
        if !down {
            s.subscribers.retain(|(_, n)| n.send(Notice::Resubscribed));
        }
    }

    /// Forgets every key (FLUSHALL).
    pub(crate) fn flush_all(&self) {
        self.lock().data.clear();
    }

    /// The remaining time to live of a key in ms, `None` when it has no
    /// expiry or does not exist.
    pub(crate) fn pttl(&self, key: &str) -> Option<i64> {
        let mut s = self.lock();
        s.purge();
        let now = s.now_ms;
        s.data.get(key).and_then(|(_, e)| e.map(|e| e - now))
    }

    /// A field of a hash.
    pub(crate) fn hget(&self, key: &str, field: &str) -> Option<String> {
        let mut s = self.lock();
        s.purge();
        match s.data.get(key) {
            Some((Value::Hash(h), _)) => h.get(field).cloned(),
            _ => None,
        }
    }

    /// Every payload published so far.
    pub(crate) fn published(&self) -> Vec<String> {
        self.lock().published.clone()
    }
}

impl Store for MemoryStore {
    fn flush(
        &mut self,
        keys: &Keys,
        params: &Params,
        instance: &str,
        d_ok: u64,
        d_fail: u64,
        d_slow: u64,
    ) -> Result<(View, WindowStats), StoreError> {
        let mut s = self.up()?;
        let mut run = Run::begin(&mut s, keys, params);
        run.settle();
        let (bms, nb) = (params.bucket_ms as i64, params.buckets as i64);
        let now = run.f.now;
        let b = now.div_euclid(bms);
        let wms = bms * nb;
        let hincrby = |s: &mut Server, field: String, by: u64| {
            let h = s.hash(&keys.window);
            let v = num(h, &field) + by as i64;
            h.insert(field, v.to_string());
        };
        if d_ok > 0 {
            hincrby(run.s, format!("{b}:s"), d_ok);
        }
        if d_fail > 0 {
            hincrby(run.s, format!("{b}:f"), d_fail);
        }
        if d_slow > 0 {
            hincrby(run.s, format!("{b}:l"), d_slow);
        }
        if d_fail > 0 || (d_slow > 0 && params.slow_ppm > 0) {
            run.s.zset(&keys.failing).insert(instance.to_owned(), now);
        }
        run.s.zset(&keys.members).insert(instance.to_owned(), now);
        run.s.zrem_upto(&keys.failing, now - wms);
        run.s.zrem_upto(&keys.members, now - 3 * wms);
        let (mut ok, mut fail, mut slow) = (0i64, 0i64, 0i64);
        if let Some((Value::Hash(h), _)) = run.s.data.get_mut(&keys.window) {
            h.retain(|field, v| {
                let parsed = field.split_once(':').and_then(|(idx, kind)| {
                    let digits = !idx.is_empty() && idx.bytes().all(|c| c.is_ascii_digit());
                    (digits && matches!(kind, "s" | "f" | "l"))
                        .then(|| (idx.parse::<i64>().ok(), kind))
                });
                match parsed {
                    Some((Some(idx), kind)) if idx > b - nb => {
                        let n: i64 = v.parse().unwrap_or(0);
                        match kind {
                            "s" => ok += n,
                            "f" => fail += n,
                            _ => slow += n,
                        }
                        true
                    }
                    _ => false,
                }
            });
            if h.is_empty() {
                run.s.data.remove(&keys.window);
            }
        }
        let failing = run.s.zcard(&keys.failing);
        let live = run.s.zcard(&keys.members);
        let quorum = match params.min_failing {
            0 => live.min(2),
            q => q,
        };
        if run.f.kind == 0 && failing >= quorum {
            let total = ok + fail;
            let (rate, count) = (params.rate_ppm as i64, params.count as i64);
            let slow_rate = params.slow_ppm as i64;
            let enough = total >= params.minimum_calls as i64;
            if (rate > 0 && enough && fail * 1_000_000 >= rate * total)
                || (count > 0 && fail >= count)
                || (slow_rate > 0 && enough && slow * 1_000_000 >= slow_rate * total)
            {
                run.trip();
            }
        }
        run.s.pexpire(&keys.window, wms + bms);
        run.s.pexpire(&keys.failing, wms);
        run.s.pexpire(&keys.members, 3 * wms);
        let ours = params.fingerprint().to_string();
        let cf = run.s.hash(&keys.configs);
        cf.insert(ours.clone(), now.to_string());
        cf.retain(|_, at| at.parse::<i64>().unwrap_or(0) > now - 3 * wms);
        let config = cf
            .keys()
            .filter(|fp| **fp != ours)
            .filter_map(|fp| fp.parse::<u64>().ok())
            .min()
            .unwrap_or(0);
        run.s.pexpire(&keys.configs, 3 * wms);
        let stats = WindowStats {
            successes: ok as u64,
            failures: fail as u64,
            failing_instances: failing,
            live_instances: live,
            config,
        };
        Ok((run.finish(), stats))
    }

    fn trial(
        &mut self,
        keys: &Keys,
        params: &Params,
        r: TrialResults,
        want: u32,
    ) -> Result<TrialAnswer, StoreError> {
        let mut s = self.up()?;
        let mut run = Run::begin(&mut s, keys, params);
        run.settle();
        let (ok, fail, free) = (r.successes as i64, r.failures as i64, r.freed as i64);
        let mut fenced = false;
        if ok + fail + free > 0 {
            if run.f.kind == 2 && r.gen as i64 == run.f.gen {
                if fail > 0 {
                    run.trip();
                } else {
                    run.f.inflight = (run.f.inflight - ok - free).max(0);
                    run.f.ho_ok += ok;
                    if run.f.ho_ok >= params.successes_needed as i64 {
                        run.close();
                    }
                }
            } else {
                fenced = true;
            }
        }
        let mut granted = 0;
        if run.f.kind == 2 && want > 0 {
            granted = (i64::from(want))
                .min(params.half_open_max as i64 - run.f.inflight)
                .max(0);
            if granted > 0 {
                if run.f.inflight == 0 {
                    run.f.lease_until = run.f.now + params.lease_ms as i64;
                }
                run.f.inflight += granted;
            }
        }
        Ok(TrialAnswer {
            view: run.finish(),
            granted: granted as u32,
            fenced,
        })
    }

    fn command(&mut self, keys: &Keys, params: &Params, cmd: Command) -> Result<View, StoreError> {
        let mut s = self.up()?;
        let mut run = Run::begin(&mut s, keys, params);
        let f = &mut run.f;
        (
            f.kind,
            f.gen,
            f.cmd,
            f.inflight,
            f.ho_ok,
            f.open_until,
            f.lease_until,
        ) = (cmd as i64, f.gen + 1, f.cmd + 1, 0, 0, 0, 0);
        if cmd == Command::Reset {
            run.f.trips = 0;
            run.s.data.remove(&keys.window);
            run.s.data.remove(&keys.failing);
        }
        run.f.changed = true;
        Ok(run.finish())
    }

    fn read(&mut self, keys: &Keys) -> Result<View, StoreError> {
        let mut s = self.up()?;
        s.purge();
        let now = s.now_ms;
        Ok(match s.data.get(&keys.state) {
            Some((Value::Hash(h), _)) if h.contains_key("epoch") => View {
                kind: FleetKind::from_code(num(h, "state")).expect("scripts write known states"),
                gen: num(h, "gen") as u64,
                open_until: num(h, "open_until"),
                lease_until: num(h, "lease_until"),
                now: now.max(num(h, "last_now")),
                cmd: num(h, "cmd") as u64,
                epoch: h["epoch"].clone(),
            },
            _ => View {
                kind: FleetKind::Closed,
                gen: 0,
                open_until: 0,
                lease_until: 0,
                now,
                cmd: 0,
                epoch: String::new(),
            },
        })
    }

    /// A line-by-line mirror of `scripts/lease.lua` (the server clock's
    /// milliseconds as microseconds).
    fn lease(
        &mut self,
        keys: &LimiterKeys,
        a: &LeaseArgs,
        instance: &str,
    ) -> Result<LeaseAnswer, StoreError> {
        let mut s = self.up()?;
        s.purge();
        let now = (s.now_ms * 1000) as f64;
        let (t, burst) = (a.interval_us, a.burst as f64);
        let mut tat = s
            .hash(&keys.rate)
            .get("tat")
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
        if a.returned > 0 && tat > now {
            tat = now.max(tat - a.returned as f64 * t);
        }
        tat = tat.max(now) + a.debt as f64 * t;
        let granted = ((now + burst * t - tat) / t)
            .floor()
            .min(a.want as f64)
            .max(0.0);
        tat += granted * t;
        s.hash(&keys.rate).insert("tat".into(), tat.to_string());
        s.pexpire(&keys.rate, ((tat - now) / 1000.0).ceil() as i64 + 1000);
        let now_ms = s.now_ms;
        let ttl = a.member_ttl_ms as i64;
        s.zset(&keys.members).insert(instance.to_owned(), now_ms);
        s.zrem_upto(&keys.members, now_ms - ttl);
        s.pexpire(&keys.members, ttl);
        let retry = (tat - (burst - 1.0) * t - now).ceil().max(0.0);
        Ok(LeaseAnswer {
            granted: granted as u64,
            retry_after_us: retry as u64,
            live: s.zcard(&keys.members),
        })
    }

    fn reconnect(&mut self) -> Result<(), StoreError> {
        self.up().map(drop)
    }

    fn subscribe(&mut self, channel: &str, notify: Notify) {
        let mut s = self.lock();
        s.subscribers.push((channel.to_owned(), notify.clone()));
        if !s.down {
            notify.send(Notice::Resubscribed);
        }
    }
}

//! The Redis store: one synchronous connection (to a server or a Cluster,
//! see `target.rs`) driven by the coordinator thread (every operation
//! bounded by `op_timeout`), the scripts as `redis::Script` (EVALSHA,
//! reloaded transparently on NOSCRIPT), and one subscriber thread per store
//! holding the pub/sub connection.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use redis::{Client, Script, Value};

pub(crate) use super::target::Timeouts;
use super::target::{err, Con, Target};
use super::{
    Command, FleetKind, LeaseAnswer, LeaseArgs, Notice, Notify, Params, Store, StoreError,
    TrialAnswer, TrialResults, View, WindowStats,
};
use crate::keys::{Keys, LimiterKeys};
use crate::scripts;

struct Scripts {
    flush: Script,
    trial: Script,
    command: Script,
    read: Script,
    lease: Script,
}

pub(crate) struct RedisStore {
    target: Target,
    con: Option<Con>,
    timeouts: Timeouts,
    scripts: Scripts,
    /// Tells the subscriber thread to stop (set on drop).
    stop: Arc<AtomicBool>,
}

impl RedisStore {
    /// A store on the server at `url`; connects later
    /// ([`Store::reconnect`]).
    pub(crate) fn new(url: &str, timeouts: Timeouts) -> Result<Self, StoreError> {
        Ok(Self::on(Target::node(url)?, timeouts))
    }

    /// A store on the Redis Cluster reached through `seeds`; connects later.
    pub(crate) fn cluster(seeds: &[&str], timeouts: Timeouts) -> Result<Self, StoreError> {
        Ok(Self::on(Target::cluster(seeds, timeouts)?, timeouts))
    }

    fn on(target: Target, timeouts: Timeouts) -> Self {
        Self {
            target,
            con: None,
            timeouts,
            scripts: Scripts {
                flush: Script::new(scripts::FLUSH),
                trial: Script::new(scripts::TRIAL),
                command: Script::new(scripts::COMMAND),
                read: Script::new(scripts::READ),
                lease: Script::new(scripts::LEASE),
            },
            stop: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Runs a script; any error drops the connection (a timed-out reply
    /// could otherwise be read as the answer to the next command). In a
    /// Cluster, a `MOVED` answer reconnects (a fresh slot map) and runs the
    /// script once more.
    fn run(
        &mut self,
        which: fn(&Scripts) -> &Script,
        keys: &[&str],
        argv: Vec<String>,
    ) -> Result<Vec<Value>, StoreError> {
        let script = which(&self.scripts);
        let mut inv = script.prepare_invoke();
        for k in keys {
            inv.key(k);
        }
        for a in &argv {
            inv.arg(a);
        }
        let Some(con) = self.con.as_mut() else {
            return Err(StoreError("not connected".into()));
        };
        let mut answer = inv.invoke::<Vec<Value>>(con.like());
        if answer.as_ref().is_err_and(|e| self.target.moved(e)) {
            self.con = None;
            let mut con = self.target.connect(self.timeouts)?;
            answer = inv.invoke::<Vec<Value>>(con.like());
            self.con = Some(con);
        }
        answer.map_err(|e| {
            self.con = None;
            err(e)
        })
    }
}

impl Drop for RedisStore {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn int(v: &Value) -> Result<i64, StoreError> {
    match v {
        Value::Int(i) => Ok(*i),
        Value::BulkString(b) => std::str::from_utf8(b)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| StoreError(format!("expected an integer, got {v:?}"))),
        _ => Err(StoreError(format!("expected an integer, got {v:?}"))),
    }
}

fn text(v: &Value) -> Result<String, StoreError> {
    match v {
        Value::BulkString(b) => Ok(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Ok(s.clone()),
        _ => Err(StoreError(format!("expected a string, got {v:?}"))),
    }
}

/// The view every script returns first, then `extra` integers.
fn parse(v: &[Value], extra: usize) -> Result<(View, Vec<i64>), StoreError> {
    if v.len() != 7 + extra {
        return Err(StoreError(format!(
            "script answered {} values, expected {}",
            v.len(),
            7 + extra
        )));
    }
    let code = int(&v[0])?;
    let view = View {
        kind: FleetKind::from_code(code)
            .ok_or_else(|| StoreError(format!("unknown fleet state {code}")))?,
        gen: int(&v[1])? as u64,
        open_until: int(&v[2])?,
        lease_until: int(&v[3])?,
        now: int(&v[4])?,
        cmd: int(&v[5])? as u64,
        epoch: text(&v[6])?,
    };
    let extras = v[7..].iter().map(int).collect::<Result<_, _>>()?;
    Ok((view, extras))
}

impl Store for RedisStore {
    fn flush(
        &mut self,
        keys: &Keys,
        params: &Params,
        instance: &str,
        successes: u64,
        failures: u64,
        slow: u64,
    ) -> Result<(View, WindowStats), StoreError> {
        let mut argv = params.argv();
        argv.extend([
            instance.to_owned(),
            successes.to_string(),
            failures.to_string(),
            slow.to_string(),
            params.fingerprint().to_string(),
        ]);
        let v = self.run(|s| &s.flush, &keys.all(), argv)?;
        let (view, x) = parse(&v, 5)?;
        let stats = WindowStats {
            successes: x[0] as u64,
            failures: x[1] as u64,
            failing_instances: x[2] as u64,
            live_instances: x[3] as u64,
            config: x[4] as u64,
        };
        Ok((view, stats))
    }

    fn trial(
        &mut self,
        keys: &Keys,
        params: &Params,
        r: TrialResults,
        want: u32,
    ) -> Result<TrialAnswer, StoreError> {
        let mut argv = params.argv();
        argv.extend([
            r.gen.to_string(),
            r.successes.to_string(),
            r.failures.to_string(),
            r.freed.to_string(),
            want.to_string(),
        ]);
        let v = self.run(|s| &s.trial, &keys.all(), argv)?;
        let (view, x) = parse(&v, 2)?;
        Ok(TrialAnswer {
            view,
            granted: x[0] as u32,
            fenced: x[1] != 0,
        })
    }

    fn command(&mut self, keys: &Keys, params: &Params, cmd: Command) -> Result<View, StoreError> {
        let mut argv = params.argv();
        argv.push((cmd as u8).to_string());
        let v = self.run(|s| &s.command, &keys.all(), argv)?;
        Ok(parse(&v, 0)?.0)
    }

    fn read(&mut self, keys: &Keys) -> Result<View, StoreError> {
        let v = self.run(|s| &s.read, &keys.all(), Vec::new())?;
        Ok(parse(&v, 0)?.0)
    }

    fn lease(
        &mut self,
        keys: &LimiterKeys,
        args: &LeaseArgs,
        instance: &str,
    ) -> Result<LeaseAnswer, StoreError> {
        let v = self.run(
            |s| &s.lease,
            &[&keys.rate, &keys.members],
            args.argv(instance),
        )?;
        match v.as_slice() {
            [granted, retry, live] => Ok(LeaseAnswer {
                granted: int(granted)?.max(0) as u64,
                retry_after_us: int(retry)?.max(0) as u64,
                live: int(live)?.max(0) as u64,
            }),
            _ => Err(StoreError(format!("unexpected lease answer {v:?}"))),
        }
    }

    fn reconnect(&mut self) -> Result<(), StoreError> {
        self.con = None;
        self.con = Some(self.target.connect(self.timeouts)?);
        Ok(())
    }

    fn subscribe(&mut self, channel: &str, notify: Notify) {
        let servers = self.target.subscribable();
        let channel = channel.to_owned();
        let stop = Arc::clone(&self.stop);
        let t = self.timeouts;
        let spawned = thread::Builder::new()
            .name("seawall-fleet-sub".into())
            .spawn(move || subscriber(servers, channel, notify, stop, t));
        if let Err(e) = spawned {
            log::error!("seawall-distributed: cannot start the subscriber thread: {e}");
        }
    }
}

/// The subscriber thread: holds the pub/sub connection, forwards messages,
/// reconnects with back-off and says so (`Resubscribed`: messages may have
/// been lost). Each session starts on the next of `servers` (the Cluster's
/// seed nodes), so a dead node is left for another. Stops when the store
/// is dropped or the coordinator is gone.
fn subscriber(
    servers: Vec<Client>,
    channel: String,
    notify: Notify,
    stop: Arc<AtomicBool>,
    t: Timeouts,
) {
    // How often a blocked read comes back to check `stop`.
    const CHECK: Duration = Duration::from_millis(200);
    let mut backoff = Duration::from_millis(50);
    let mut next = 0;
    while !stop.load(Ordering::Relaxed) {
        let client = &servers[next % servers.len()];
        next += 1;
        let session = (|| -> Result<(), StoreError> {
            let mut con = client.get_connection_with_timeout(t.connect).map_err(err)?;
            con.set_write_timeout(Some(t.op)).map_err(err)?;
            con.set_read_timeout(Some(t.op)).map_err(err)?;
            let mut ps = con.as_pubsub();
            ps.subscribe(&channel).map_err(err)?;
            ps.set_read_timeout(Some(CHECK)).map_err(err)?;
            backoff = Duration::from_millis(50);
            if !notify.send(Notice::Resubscribed) {
                stop.store(true, Ordering::Relaxed);
            }
            while !stop.load(Ordering::Relaxed) {
                match ps.get_message() {
                    Ok(msg) => {
                        let payload: String = msg.get_payload().map_err(err)?;
                        if !notify.send(Notice::Published(payload)) {
                            stop.store(true, Ordering::Relaxed);
                        }
                    }
                    Err(e) if e.is_timeout() => {}
                    Err(e) => return Err(err(e)),
                }
            }
            Ok(())
        })();
        if let Err(e) = session {
            log::debug!("seawall-distributed: subscriber: {e}");
            // Back off, still checking `stop` often.
            let mut waited = Duration::ZERO;
            while waited < backoff && !stop.load(Ordering::Relaxed) {
                thread::sleep(CHECK.min(backoff));
                waited += CHECK.min(backoff);
            }
            backoff = (backoff * 2).min(t.resubscribe_max);
        }
    }
}

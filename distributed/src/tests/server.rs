//! A real `redis-server` for tier-1 tests: started as a child process on a
//! free loopback port with persistence off, ready once it answers PING,
//! killed when dropped (also when the test panics). [`RedisCluster`] starts
//! several as the primaries of a local Redis Cluster.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

pub(crate) struct RedisServer {
    child: Child,
    pub port: u16,
}

/// The path of `name` (`redis-server`, `redis-cli`), or a panic saying how
/// to install it: a tier-1 test never skips silently.
fn binary(name: &str) -> PathBuf {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/sbin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file());
    match found {
        Some(p) => p,
        None => panic!(
            "this test needs a real Redis server, and `{name}` is not installed: \
             install it with `apt-get install redis-server` (Debian/Ubuntu; \
             redis-cli comes with it)"
        ),
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

impl RedisServer {
    pub(crate) fn start() -> Self {
        Self::start_on(free_port())
    }

    /// Starts a server on `port` (to restart one where clients expect it).
    pub(crate) fn start_on(port: u16) -> Self {
        Self::start_with(port, &[])
    }

    /// Starts a server on `port` with `extra` arguments.
    fn start_with(port: u16, extra: &[&str]) -> Self {
        let child = Command::new(binary("redis-server"))
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        let server = Self { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(mut con) = server.client().get_connection() {
                if redis::cmd("PING").query::<String>(&mut con).is_ok() {
                    return server;
                }
            }
            assert!(
                Instant::now() < deadline,
                "redis-server on port {port} never answered PING"
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends a signal to the server (`STOP`, `CONT`).
    pub(crate) fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{sig} failed");
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub(crate) fn client(&self) -> redis::Client {
        redis::Client::open(self.url()).expect("a valid URL")
    }

    /// Adds the user `fleet` (password `secret`) with the least privileges
    /// a coordinator on namespace `ns` needs: the commands it sends and
    /// those its scripts call, only the namespace's keys and channel; plus
    /// `extra` rules.
    pub(crate) fn add_fleet_user(&self, ns: &str, extra: &[&str]) {
        let (keys, channels) = (format!("~{ns}:*"), format!("&{ns}:*"));
        let mut args = vec![
            "ACL",
            "SETUSER",
            "fleet",
            "on",
            ">secret",
            "resetkeys",
            &keys,
            "resetchannels",
            &channels,
            "-@all",
            "+ping",
            "+evalsha",
            "+script|load",
            "+subscribe",
            "+time",
            "+hmget",
            "+hset",
            "+hgetall",
            "+hdel",
            "+hincrby",
            "+zadd",
            "+zcard",
            "+zremrangebyscore",
            "+pexpire",
            "+del",
            "+publish",
        ];
        args.extend(extra);
        self.cmd::<()>(&args);
    }

    /// Runs one command on a fresh connection.
    pub(crate) fn cmd<T: redis::FromRedisValue>(&self, args: &[&str]) -> T {
        let mut con = self.client().get_connection().expect("connects");
        let mut c = redis::cmd(args[0]);
        for a in &args[1..] {
            c.arg(*a);
        }
        c.query(&mut con).expect("the command succeeds")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A local Redis Cluster of primaries without replicas, each a
/// [`RedisServer`] with its cluster files in a temporary directory; all are
/// killed and the directory removed when dropped (also on panic).
pub(crate) struct RedisCluster {
    pub nodes: Vec<RedisServer>,
    dir: PathBuf,
}

/// A free loopback port whose cluster bus port (port + 10000) is free too.
fn free_cluster_port() -> u16 {
    loop {
        let port = free_port();
        if port <= u16::MAX - 10_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

impl RedisCluster {
    /// Starts `n` nodes, joins them with `redis-cli --cluster create` (the
    /// slots split evenly among them), and waits until every node reports
    /// `cluster_state:ok`.
    pub(crate) fn start(n: usize) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "seawall-cluster-{}-{:08x}",
            std::process::id(),
            fastrand::u32(..)
        ));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let mut cluster = Self {
            nodes: Vec::new(),
            dir,
        };
        let cli = binary("redis-cli");
        for _ in 0..n {
            let port = free_cluster_port();
            let conf = cluster.dir.join(format!("nodes-{port}.conf"));
            let node = RedisServer::start_with(
                port,
                &[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    path(&conf),
                    "--dir",
                    path(&cluster.dir),
                ],
            );
            cluster.nodes.push(node);
        }
        let out = Command::new(cli)
            .args(["--cluster", "create"])
            .args(
                cluster
                    .nodes
                    .iter()
                    .map(|s| format!("127.0.0.1:{}", s.port)),
            )
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .expect("redis-cli runs");
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        wait_for("every node reports cluster_state:ok", || {
            cluster.nodes.iter().all(|s| {
                s.cmd::<String>(&["CLUSTER", "INFO"])
                    .contains("cluster_state:ok")
            })
        });
        cluster
    }

    /// The nodes' URLs, in start order.
    pub(crate) fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temporary path")
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        // Kill the servers before removing the files they write.
        self.nodes.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Waits for `cond`, failing with `what` after 10 s (a bound for a slow CI
/// machine, not a measurement).
pub(crate) fn wait_for(what: &str, cond: impl FnMut() -> bool) {
    wait_until(what, Duration::from_secs(10), cond);
}

/// Waits for `cond` (checked every 2 ms), failing with `what` after `limit`.
pub(crate) fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for: {what}"
        );
        thread::sleep(Duration::from_millis(2));
    }
}

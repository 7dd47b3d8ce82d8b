//! What the multi-process fleet tests drive: `fleet-worker` processes
//! (killed when dropped), the loopback dependency they call (whose answers
//! the test flips and which logs every call), and a subscriber that records
//! every fleet decision Redis publishes. Times are wall-clock microseconds
//! since the Unix epoch, the one clock the processes and Redis `TIME` share.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use crate::common::micros;
use crate::common::server::wait_until;

/// How the dependency answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Ok,
    Fail,
    /// Answers after 200 ms, past the workers' 50 ms call timeout.
    Slow,
}

/// One call that reached the dependency.
#[derive(Clone, Copy, Debug)]
pub struct Call {
    pub at: u64,
    pub worker: usize,
    /// Answered with a failure (or slowly).
    pub failed: bool,
}

#[derive(Default)]
struct Modes {
    all: Option<Mode>,
    per_worker: HashMap<usize, Mode>,
}

/// The dependency: a loopback TCP server, one thread per connection.
pub struct Dependency {
    pub port: u16,
    modes: Arc<Mutex<Modes>>,
    log: Arc<Mutex<Vec<Call>>>,
    stop: Arc<AtomicBool>,
}

impl Dependency {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        listener.set_nonblocking(true).expect("non-blocking");
        let dep = Self {
            port: listener.local_addr().expect("bound").port(),
            modes: Arc::default(),
            log: Arc::default(),
            stop: Arc::default(),
        };
        let (modes, log, stop) = (dep.modes.clone(), dep.log.clone(), dep.stop.clone());
        thread::spawn(move || {
            // Relaxed: a stop flag, polled.
            while !stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((con, _)) => {
                        let (modes, log, stop) = (modes.clone(), log.clone(), stop.clone());
                        thread::spawn(move || serve(con, &modes, &log, &stop));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        dep
    }

    /// Sets how the dependency answers every worker without its own mode.
    pub fn set(&self, mode: Mode) {
        self.modes.lock().unwrap().all = Some(mode);
    }

    /// Sets how the dependency answers one worker.
    pub fn set_for(&self, worker: usize, mode: Mode) {
        self.modes.lock().unwrap().per_worker.insert(worker, mode);
    }

    pub fn calls(&self) -> Vec<Call> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Dependency {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve(con: TcpStream, modes: &Mutex<Modes>, log: &Mutex<Vec<Call>>, stop: &AtomicBool) {
    let _ = con.set_nodelay(true);
    let _ = con.set_read_timeout(Some(Duration::from_millis(100)));
    let mut reader = BufReader::new(con.try_clone().expect("a second handle"));
    let mut con = con;
    let mut id = String::new();
    if reader.read_line(&mut id).is_err() {
        return;
    }
    let Ok(worker) = id.trim().parse::<usize>() else {
        return;
    };
    let mut byte = [0u8];
    while !stop.load(Ordering::Relaxed) {
        match reader.read(&mut byte) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(_) => return,
        }
        let mode = {
            let m = modes.lock().unwrap();
            m.per_worker
                .get(&worker)
                .copied()
                .or(m.all)
                .unwrap_or(Mode::Ok)
        };
        log.lock().unwrap().push(Call {
            at: micros(),
            worker,
            failed: mode != Mode::Ok,
        });
        let answer = match mode {
            Mode::Ok => b'o',
            Mode::Fail => b'f',
            Mode::Slow => {
                thread::sleep(Duration::from_millis(200));
                b'o'
            }
        };
        if con.write_all(&[answer]).is_err() {
            return;
        }
    }
}

/// A fleet decision Redis published.
#[derive(Clone, Debug)]
pub struct Decision {
    /// 0 CLOSED, 1 OPEN, 2 HALF_OPEN (the store's numbering).
    pub state: u8,
    pub gen: u64,
    /// Redis `TIME` when the script decided, in microseconds (whole ms).
    pub at: u64,
}

/// Records every message on a namespace's event channel.
pub struct Decisions {
    seen: Arc<Mutex<Vec<Decision>>>,
    stop: Arc<AtomicBool>,
}

impl Decisions {
    pub fn subscribe(client: redis::Client, namespace: &str) -> Self {
        let seen: Arc<Mutex<Vec<Decision>>> = Arc::default();
        let stop: Arc<AtomicBool> = Arc::default();
        let mut con = client.get_connection().expect("connects");
        let channel = format!("{namespace}:cb:events");
        let (s, st) = (seen.clone(), stop.clone());
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        thread::spawn(move || {
            let mut ps = con.as_pubsub();
            ps.subscribe(&channel).expect("subscribes");
            ps.set_read_timeout(Some(Duration::from_millis(100)))
                .expect("a read timeout");
            let _ = ready_tx.send(());
            while !st.load(Ordering::Relaxed) {
                let msg = match ps.get_message() {
                    Ok(msg) => msg,
                    Err(e) if e.is_timeout() => continue,
                    // The server is gone (the test is ending).
                    Err(_) => break,
                };
                let payload: String = msg.get_payload().expect("a text payload");
                // state|gen|open_until|now|cmd|epoch|name
                let f: Vec<&str> = payload.splitn(7, '|').collect();
                s.lock().unwrap().push(Decision {
                    state: f[0].parse().expect("a state"),
                    gen: f[1].parse().expect("a generation"),
                    at: f[3].parse::<u64>().expect("a time") * 1000,
                });
            }
        });
        ready_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("subscribed");
        Self { seen, stop }
    }

    pub fn all(&self) -> Vec<Decision> {
        self.seen.lock().unwrap().clone()
    }

    /// The first decision to `state` at or after `since`, if any yet.
    pub fn first(&self, state: u8, since: u64) -> Option<Decision> {
        self.all()
            .into_iter()
            .find(|d| d.state == state && d.at >= since)
    }
}

impl Drop for Decisions {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// One line a worker wrote: its kind, its time, the rest.
#[derive(Clone, Debug)]
pub struct Line {
    pub kind: String,
    pub at: u64,
    pub rest: Vec<String>,
}

/// A `fleet-worker` process, killed when dropped (also on panic).
pub struct Worker {
    pub id: usize,
    child: Child,
    stdin: ChildStdin,
    lines: Arc<Mutex<Vec<Line>>>,
}

impl Worker {
    pub fn spawn(id: usize, url: &str, ns: &str, dep: u16, options: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_fleet-worker"))
            .args([url, ns, &dep.to_string(), &id.to_string()])
            .args(options)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("fleet-worker starts");
        let stdin = child.stdin.take().expect("piped");
        let stdout = child.stdout.take().expect("piped");
        let lines: Arc<Mutex<Vec<Line>>> = Arc::default();
        let l = lines.clone();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let mut words = line.split_whitespace().map(str::to_owned);
                let kind = words.next().unwrap_or_default();
                let at = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
                l.lock().unwrap().push(Line {
                    kind,
                    at,
                    rest: words.collect(),
                });
            }
        });
        Self {
            id,
            child,
            stdin,
            lines,
        }
    }

    pub fn send(&mut self, command: &str) {
        writeln!(self.stdin, "{command}").expect("the worker reads its commands");
    }

    pub fn lines(&self) -> Vec<Line> {
        self.lines.lock().unwrap().clone()
    }

    /// The first line of `kind` at or after `since` whose words start with
    /// `rest`.
    pub fn first(&self, kind: &str, since: u64, rest: &[&str]) -> Option<Line> {
        self.lines().into_iter().find(|l| {
            l.kind == kind
                && l.at >= since
                && rest.iter().zip(&l.rest).all(|(a, b)| a == b)
                && l.rest.len() >= rest.len()
        })
    }

    /// Asks for the worker's tally and waits for it.
    pub fn stats(&mut self) -> HashMap<String, u64> {
        let since = micros();
        self.send("stats");
        let mut found = None;
        wait_until("the worker's stats", Duration::from_secs(10), || {
            found = self.first("stats", since, &[]);
            found.is_some()
        });
        found
            .expect("waited for")
            .rest
            .iter()
            .filter_map(|w| w.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.parse().expect("a number")))
            .collect()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

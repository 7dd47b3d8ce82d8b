//! A loopback TCP proxy between coordinators and Redis that passes bytes
//! through, delays them, swallows them (blackhole: connections are
//! accepted, nothing is forwarded either way) or resets every connection.
//! Threads and `std::net` only; every thread notices the mode and the stop
//! flag within 20 ms.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Link {
    Pass = 0,
    /// Each chunk waits the proxy's delay before it is forwarded.
    Delay = 1,
    Blackhole = 2,
    /// Every open connection is reset (RST), new ones too.
    Reset = 3,
}

struct State {
    link: AtomicU8,
    delay_ms: AtomicU64,
    stop: AtomicBool,
}

impl State {
    fn link(&self) -> u8 {
        // Relaxed: a self-contained mode byte, polled.
        self.link.load(Ordering::Relaxed)
    }
}

pub struct Proxy {
    pub port: u16,
    state: Arc<State>,
}

const POLL: Duration = Duration::from_millis(20);

impl Proxy {
    /// A proxy on a free loopback port forwarding to `127.0.0.1:target`.
    pub fn start(target: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        listener.set_nonblocking(true).expect("non-blocking");
        let state = Arc::new(State {
            link: AtomicU8::new(Link::Pass as u8),
            delay_ms: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        });
        let proxy = Self {
            port: listener.local_addr().expect("bound").port(),
            state: state.clone(),
        };
        thread::spawn(move || {
            while !state.stop.load(Ordering::Relaxed) {
                let Ok((client, _)) = listener.accept() else {
                    thread::sleep(Duration::from_millis(2));
                    continue;
                };
                if state.link() == Link::Reset as u8 {
                    reset(&client);
                    continue;
                }
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                    reset(&client);
                    continue;
                };
                let _ = client.set_nonblocking(false);
                for (from, to) in [(&client, &server), (&server, &client)] {
                    let (from, to) = (
                        from.try_clone().expect("a second handle"),
                        to.try_clone().expect("a second handle"),
                    );
                    let state = state.clone();
                    thread::spawn(move || pump(from, to, &state));
                }
            }
        });
        proxy
    }

    pub fn set(&self, link: Link) {
        self.state.link.store(link as u8, Ordering::Relaxed);
    }

    pub fn delay(&self, d: Duration) {
        self.state
            .delay_ms
            .store(d.as_millis() as u64, Ordering::Relaxed);
        self.set(Link::Delay);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::Relaxed);
    }
}

/// Makes the socket's close a reset rather than an orderly shutdown.
fn reset(s: &TcpStream) {
    let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
}

/// Copies `from` to `to` as the link allows. Both pumps of a connection end
/// on a reset or an error and drop their handles; the last drop closes the
/// sockets (with a reset if one was asked for).
fn pump(mut from: TcpStream, mut to: TcpStream, state: &State) {
    let _ = from.set_read_timeout(Some(POLL));
    let mut buf = [0u8; 16 * 1024];
    while !state.stop.load(Ordering::Relaxed) {
        if state.link() == Link::Reset as u8 {
            reset(&from);
            reset(&to);
            return;
        }
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(_) => break,
        };
        match state.link() {
            l if l == Link::Blackhole as u8 => continue,
            l if l == Link::Delay as u8 => {
                thread::sleep(Duration::from_millis(
                    state.delay_ms.load(Ordering::Relaxed),
                ));
            }
            _ => {}
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Write);
}

//! The coordinator handle: a process's link to the fleet store (one
//! background thread serving any number of distributed breakers and fleet
//! rate limiters), and its configuration struct.

use std::ffi::{c_char, CStr};
use std::time::Duration;

use seawall::ConfigError;
use seawall_distributed::{Coordinator, CoordinatorConfig};

use crate::config::{config_error, nanos};
use crate::error::{borrow, name_arg, put, run, seawall_result, text_out, Error};
use crate::handle;

/// A link to the fleet store (Redis, or a Redis Cluster): one background
/// thread that flushes the outcome counts of every distributed breaker and
/// fleet rate limiter built on it, applies what the store answers, and
/// reconnects with back-off while the store is unreachable. One per process
/// is the intended use; each one is a distinct instance of the fleet (its
/// own `seawall_coordinator_instance_id`). Reference-counted like
/// `seawall_breaker`; every function taking one is thread-safe. Its thread
/// stops when the last handle and the last breaker or limiter built on it
/// are released. A forked child does not inherit the thread: build a new
/// coordinator (and new breakers and limiters on it) in the child.
pub struct seawall_coordinator {
    _private: [u8; 0],
}

handle::declare!(seawall_coordinator: Coordinator, Shared, "coordinator");

/// How a coordinator talks to the store. A zero-filled struct (or a NULL
/// `config` argument) means every default: each 0 or NULL field takes its
/// default, listed with the field; `seawall_coordinator_config_default`
/// writes them out. Durations are in nanoseconds. A constructor checks
/// every field and returns `SEAWALL_RESULT_INVALID_CONFIG`, with a last
/// error naming the field, the value and the allowed range, when one is out
/// of range.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct seawall_coordinator_config {
    /// The prefix of every key and of the event channel (NUL-terminated
    /// UTF-8, copied): 1 to 100 bytes, no '{' or '}' (they would change the
    /// keys' Redis Cluster hash tag), no control characters. Instances share
    /// breakers and limiters of the same name in the same namespace. NULL:
    /// "seawall".
    pub key_namespace: *const c_char,
    /// How often outcome counts are flushed: [1 ms, 10 s]; 0: 100 ms.
    pub sync_interval_ns: u64,
    /// How often a breaker with nothing to flush reads the fleet state:
    /// [sync_interval_ns, 1 hour]; 0: 1 s.
    pub poll_interval_ns: u64,
    /// The longest a store operation may take before it counts as failed:
    /// [1 ms, 60 s]; 0: 100 ms.
    pub op_timeout_ns: u64,
    /// The longest a connection attempt may take: [1 ms, 60 s]; 0: 250 ms.
    pub connect_timeout_ns: u64,
    /// The first wait before reconnecting, doubled (with jitter) per failed
    /// attempt: [1 ms, reconnect_max_ns]; 0: 100 ms.
    pub reconnect_min_ns: u64,
    /// The longest wait between reconnection attempts: [reconnect_min_ns,
    /// 10 min]; 0: 30 s.
    pub reconnect_max_ns: u64,
}

impl seawall_coordinator_config {
    /// The configuration the struct describes (0 and NULL: the defaults);
    /// only the namespace's encoding is checked here, the rest by the
    /// coordinator's constructor.
    ///
    /// # Safety
    ///
    /// `key_namespace` is NULL or a NUL-terminated string.
    unsafe fn read(&self) -> Result<CoordinatorConfig, ConfigError> {
        let d = CoordinatorConfig::default();
        let namespace = if self.key_namespace.is_null() {
            d.namespace
        } else {
            // SAFETY: non-NULL and NUL-terminated (the caller's contract).
            let s = unsafe { CStr::from_ptr(self.key_namespace) };
            s.to_str()
                .map_err(|_| ConfigError {
                    field: "namespace",
                    value: format!("\"{}\"", s.to_bytes().escape_ascii()),
                    allowed: "valid UTF-8",
                })?
                .to_owned()
        };
        let or = |ns: u64, default: Duration| {
            if ns == 0 {
                default
            } else {
                Duration::from_nanos(ns)
            }
        };
        Ok(CoordinatorConfig {
            namespace,
            sync_interval: or(self.sync_interval_ns, d.sync_interval),
            poll_interval: or(self.poll_interval_ns, d.poll_interval),
            op_timeout: or(self.op_timeout_ns, d.op_timeout),
            connect_timeout: or(self.connect_timeout_ns, d.connect_timeout),
            reconnect_min: or(self.reconnect_min_ns, d.reconnect_min),
            reconnect_max: or(self.reconnect_max_ns, d.reconnect_max),
        })
    }
}

/// Fills `*out` with the defaults: every duration written out, and
/// `key_namespace` NULL (the default namespace, "seawall").
///
/// # Safety
///
/// `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_coordinator_config_default(
    out: *mut seawall_coordinator_config,
) -> seawall_result {
    const F: &str = "seawall_coordinator_config_default";
    let default = || {
        let d = CoordinatorConfig::default();
        Ok(seawall_coordinator_config {
            key_namespace: std::ptr::null(),
            sync_interval_ns: nanos(d.sync_interval),
            poll_interval_ns: nanos(d.poll_interval),
            op_timeout_ns: nanos(d.op_timeout),
            connect_timeout_ns: nanos(d.connect_timeout),
            reconnect_min_ns: nanos(d.reconnect_min),
            reconnect_max_ns: nanos(d.reconnect_max),
        })
    };
    // SAFETY: `out` is NULL or valid for a write (this function's contract).
    run(F, || unsafe { put(out, F, "out", default) })
}

/// The body of the `_new`s: checks `out`, reads `config` (NULL: the
/// defaults) and writes the handle of the coordinator `connect` makes.
///
/// # Safety
///
/// `config` is NULL or valid; `out` is NULL or valid for a write.
unsafe fn new_coordinator(
    func: &'static str,
    config: *const seawall_coordinator_config,
    out: *mut *const seawall_coordinator,
    connect: impl FnOnce(CoordinatorConfig) -> Result<Coordinator, seawall_distributed::Error>,
) -> Result<(), Error> {
    let make = || {
        let config = if config.is_null() {
            CoordinatorConfig::default()
        } else {
            // SAFETY: `config` is valid (the caller's contract; not NULL
            // here), and so is its `key_namespace`.
            let c = unsafe { borrow(config, func, "config") }?;
            // SAFETY: as above.
            unsafe { c.read() }.map_err(|e| config_error(func, &e))?
        };
        connect(config).map_err(|e| super::build_error(func, e, config_error))
    };
    // SAFETY: `out` is NULL or valid for a write (the caller's contract).
    unsafe { handle::new_handle(func, out, make) }
}

/// Creates a coordinator on the Redis server at `redis_url` (NUL-terminated,
/// `redis://[user:password@]host:port/db`, copied) with `*config` (NULL for
/// the defaults) and writes its handle to `*out`. Release it with
/// `seawall_coordinator_free`.
///
/// Returns at once: it connects in the background, and until it succeeds
/// (and whenever the server is unreachable later) the breakers and limiters
/// on it decide locally (`seawall_coordinator_is_degraded`). So an
/// unreachable server is not an error; a URL the Redis client cannot parse
/// is (`SEAWALL_RESULT_INVALID_ARGUMENT`, the last error says why).
///
/// # Safety
///
/// `redis_url` is NULL or a NUL-terminated string; `config` is NULL or
/// valid (its `key_namespace` NULL or NUL-terminated); `out` is NULL or
/// valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_coordinator_new(
    redis_url: *const c_char,
    config: *const seawall_coordinator_config,
    out: *mut *const seawall_coordinator,
) -> seawall_result {
    const F: &str = "seawall_coordinator_new";
    run(F, || {
        // SAFETY: `redis_url` is NULL or NUL-terminated (this function's
        // contract).
        let url = unsafe { name_arg(redis_url, F, "redis_url") }?;
        // SAFETY: `config` is NULL or valid, `out` NULL or valid for a
        // write (this function's contract).
        unsafe { new_coordinator(F, config, out, |c| Coordinator::connect(url, c)) }
    })
}

/// As `seawall_coordinator_new`, on the Redis Cluster reached through any
/// of the `nodes_len` seed nodes `nodes[0..nodes_len]` (NUL-terminated
/// `redis://host:port` URLs with the same credentials; one is enough,
/// several let it start from another node when one is down). Each breaker's
/// keys share one hash tag, so its scripts go to the one primary owning
/// that slot. An empty list is `SEAWALL_RESULT_INVALID_ARGUMENT`.
///
/// # Safety
///
/// `nodes` is NULL (only with `nodes_len` 0) or points to `nodes_len`
/// pointers, each NULL or a NUL-terminated string; `config` and `out` as
/// for `seawall_coordinator_new`.
#[no_mangle]
pub unsafe extern "C" fn seawall_coordinator_new_cluster(
    nodes: *const *const c_char,
    nodes_len: usize,
    config: *const seawall_coordinator_config,
    out: *mut *const seawall_coordinator,
) -> seawall_result {
    const F: &str = "seawall_coordinator_new_cluster";
    run(F, || {
        let urls = if nodes_len == 0 {
            Vec::new()
        } else {
            // SAFETY: `nodes` is NULL or valid for `nodes_len` reads (this
            // function's contract).
            let nodes = unsafe { borrow(nodes, F, "nodes") }?;
            // SAFETY: `nodes` is non-NULL and aligned (checked) and points
            // to `nodes_len` pointers (this function's contract).
            let nodes = unsafe { std::slice::from_raw_parts(nodes, nodes_len) };
            let node = |(i, &p): (usize, &*const c_char)| {
                // SAFETY: each element is NULL or NUL-terminated (this
                // function's contract).
                unsafe { name_arg(p, F, format_args!("nodes[{i}]")) }
            };
            nodes
                .iter()
                .enumerate()
                .map(node)
                .collect::<Result<_, _>>()?
        };
        let connect = |c| Coordinator::connect_cluster(&urls, c);
        // SAFETY: `config` is NULL or valid, `out` NULL or valid for a
        // write (this function's contract).
        unsafe { new_coordinator(F, config, out, connect) }
    })
}

/// Writes a new handle to the same coordinator to `*out`.
///
/// # Safety
///
/// `coordinator` is NULL or a live handle; `out` is NULL or valid for a
/// write.
#[no_mangle]
pub unsafe extern "C" fn seawall_coordinator_clone(
    coordinator: *const seawall_coordinator,
    out: *mut *const seawall_coordinator,
) -> seawall_result {
    // SAFETY: `coordinator` is NULL or a live handle, `out` NULL or valid
    // for a write (this function's contract).
    unsafe { handle::clone_handle("seawall_coordinator_clone", coordinator, out) }
}

/// Releases one coordinator handle; the breakers and limiters built on it
/// keep it running until they are released too. `NULL` is a no-op.
///
/// # Safety
///
/// `coordinator` is NULL or a live handle, which must not be used
/// afterwards.
#[no_mangle]
pub unsafe extern "C" fn seawall_coordinator_free(coordinator: *const seawall_coordinator) {
    // SAFETY: `coordinator` is NULL or a live handle the caller gives up
    // (this function's contract).
    unsafe { handle::free_handle("seawall_coordinator_free", coordinator) }
}

/// Copies this instance's id in the fleet (`host:pid:random`) into `buf`
/// (NUL-terminated) and its length in bytes into `*out_len` (if not NULL),
/// as `seawall_breaker_name` does.
///
/// # Safety
///
/// `coordinator` is NULL or a live handle; `buf` is NULL or valid for `len`
/// bytes; `out_len` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_coordinator_instance_id(
    coordinator: *const seawall_coordinator,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> seawall_result {
    const F: &str = "seawall_coordinator_instance_id";
    run(F, || {
        // SAFETY: `coordinator` is NULL or a live handle (this function's
        // contract).
        let c = unsafe { handle::borrow(coordinator, F) }?;
        // SAFETY: `buf` is NULL or valid for `len` bytes, `out_len` NULL or
        // valid for a write (this function's contract).
        unsafe { text_out(F, "instance id", c.instance_id(), buf, len, out_len) }
    })
}

/// Writes whether the store is unreachable (or not reached yet) to
/// `*out_degraded`: while it is, every breaker and limiter on the
/// coordinator decides locally.
///
/// # Safety
///
/// `coordinator` is NULL or a live handle; `out_degraded` is NULL or valid
/// for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_coordinator_is_degraded(
    coordinator: *const seawall_coordinator,
    out_degraded: *mut bool,
) -> seawall_result {
    const F: &str = "seawall_coordinator_is_degraded";
    // SAFETY: `coordinator` is NULL or a live handle, `out_degraded` NULL or
    // valid for a write (this function's contract).
    unsafe {
        handle::get(
            F,
            coordinator,
            out_degraded,
            "out_degraded",
            Coordinator::is_degraded,
        )
    }
}

//! The one place every atomic, lock and spin hint of the core comes from.
//!
//! Under `cfg(seawall_loom)` the same names resolve to loom's instrumented
//! types, so the loom models in `loom-tests/` exercise the production code
//! paths unchanged.

#[cfg(not(seawall_loom))]
pub(crate) use core::sync::atomic::{fence, AtomicBool, AtomicU32};
#[cfg(not(seawall_loom))]
pub(crate) use portable_atomic::AtomicU64;
#[cfg(not(seawall_loom))]
pub(crate) use std::sync::Mutex;
// The bulkhead's waiter queue blocks on a condition variable (slow path only).
#[cfg(not(seawall_loom))]
pub(crate) use std::sync::Condvar;

#[cfg(seawall_loom)]
pub(crate) use loom::sync::{
    atomic::{fence, AtomicBool, AtomicU32, AtomicU64},
    Mutex,
};
// loom's `Condvar::wait_timeout` never times out: under loom a waiter only
// returns when notified, so a lost wake-up shows up as a deadlock.
#[cfg(seawall_loom)]
pub(crate) use loom::sync::Condvar;

pub(crate) use core::sync::atomic::Ordering;

#[cfg(not(seawall_loom))]
pub(crate) use std::thread_local;

#[cfg(seawall_loom)]
pub(crate) use loom::thread_local;

//! The atomics the call path and the coordinator share. Under
//! `cfg(seawall_loom)` they are loom's instrumented types, so the loom
//! models (`loom.rs`) check the production code; otherwise std's.

#[cfg(seawall_loom)]
pub(crate) use loom::sync::atomic::AtomicU64;
#[cfg(not(seawall_loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64};

pub(crate) use std::sync::atomic::Ordering;

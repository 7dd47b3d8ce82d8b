//! The model of what the driver holds: handles, what it knows of each, and
//! the permit slots.

use std::collections::{BTreeMap, HashMap};

use seawall_ffi::*;

/// Handles of one kind the driver holds at most; further `_new` are skipped.
pub(crate) const MAX_HANDLES: usize = 6;
/// Permit slots (breaker and bulkhead each).
pub(crate) const SLOTS: usize = 6;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Use {
    Issued,
    Used,
    Forged,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct PermitSlot {
    pub(crate) permit: seawall_permit,
    pub(crate) owner: usize,
    pub(crate) state: Use,
    /// The metrics epoch (count of clears) it was issued in.
    pub(crate) epoch: u64,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct SlotSlot {
    pub(crate) permit: seawall_bulkhead_permit,
    pub(crate) owner: usize,
    pub(crate) state: Use,
}

#[derive(Debug)]
pub(crate) struct BreakerModel {
    pub(crate) refs: usize,
    pub(crate) registries: usize,
    pub(crate) clock: Option<usize>,
    pub(crate) config: seawall_breaker_config,
    pub(crate) name: Vec<u8>,
    pub(crate) epoch: u64,
    /// Permits of this epoch not yet reported.
    pub(crate) outstanding: u64,
    /// Reports this epoch of permits issued in an earlier one.
    pub(crate) extra: u64,
    pub(crate) rejected: u64,
}

#[derive(Debug, Default)]
pub(crate) struct RegistryModel {
    pub(crate) refs: usize,
    pub(crate) clock: Option<usize>,
    pub(crate) names: BTreeMap<Vec<u8>, usize>,
}

#[derive(Debug)]
pub(crate) struct BulkheadModel {
    pub(crate) refs: usize,
    pub(crate) max: u32,
    pub(crate) queue: u32,
    pub(crate) timeout_ns: u64,
    pub(crate) manual: bool,
    pub(crate) held: u32,
}

#[derive(Debug)]
pub(crate) struct LimiterModel {
    pub(crate) refs: usize,
    pub(crate) clock: Option<usize>,
}

#[derive(Debug)]
pub(crate) struct BudgetModel {
    pub(crate) refs: usize,
    pub(crate) max_tokens: u32,
}

/// What the driver knows of a retry state.
#[derive(Debug)]
pub(crate) struct RetryStateModel {
    pub(crate) config: seawall_retry_config,
    pub(crate) attempts: u32,
    pub(crate) total_ns: u64,
    pub(crate) in_attempt: bool,
}

#[derive(Default)]
pub(crate) struct World {
    pub(crate) clocks: Vec<*const seawall_manual_clock>,
    /// Clock address -> (handles held, reading).
    pub(crate) clock_time: HashMap<usize, u64>,
    /// Clock address -> the highest reading it has had (the clock may be
    /// set backwards; a deadline is at most an open time past this).
    pub(crate) clock_max: HashMap<usize, u64>,
    pub(crate) breakers: Vec<*const seawall_breaker>,
    pub(crate) bmodels: HashMap<usize, BreakerModel>,
    pub(crate) registries: Vec<*const seawall_registry>,
    pub(crate) rmodels: HashMap<usize, RegistryModel>,
    pub(crate) limiters: Vec<*const seawall_rate_limiter>,
    pub(crate) lmodels: HashMap<usize, LimiterModel>,
    pub(crate) bulkheads: Vec<*const seawall_bulkhead>,
    pub(crate) hmodels: HashMap<usize, BulkheadModel>,
    pub(crate) budgets: Vec<*const seawall_retry_budget>,
    pub(crate) gmodels: HashMap<usize, BudgetModel>,
    pub(crate) states: Vec<(*mut seawall_retry_state, RetryStateModel)>,
    pub(crate) permits: [Option<PermitSlot>; SLOTS],
    pub(crate) slots: [Option<SlotSlot>; SLOTS],
}

pub(crate) fn pick<T: Copy>(v: &[T], i: u8) -> Option<(usize, T)> {
    if v.is_empty() {
        None
    } else {
        let i = usize::from(i) % v.len();
        Some((i, v[i]))
    }
}

/// The index of one of `n` things, if there is any.
pub(crate) fn pick_index(n: usize, i: u8) -> Option<usize> {
    (n > 0).then(|| usize::from(i) % n)
}

/// A model of a handle type: how many handles of it the driver holds.
pub(crate) trait Counted {
    fn refs(&mut self) -> &mut usize;
}

macro_rules! counted {
    ($($model:ty),*) => {$(
        impl Counted for $model {
            fn refs(&mut self) -> &mut usize {
                &mut self.refs
            }
        }
    )*};
}

counted!(
    BreakerModel,
    RegistryModel,
    LimiterModel,
    BulkheadModel,
    BudgetModel
);

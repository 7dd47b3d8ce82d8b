//! The input: the calls the fuzzer chooses, decoded from its bytes by
//! `Arbitrary`. The variants and their order are the byte format of every
//! corpus and regression input: append new ones, never reorder.

use arbitrary::Arbitrary;
use seawall_fuzz::c::{BreakerField, BudgetField, BulkheadField, RateField, RetryField};
use seawall_fuzz::{Count, Float, Nanos};

#[derive(Arbitrary, Debug)]
pub(crate) enum ClockSel {
    /// NULL: the production clock.
    Production,
    /// One of the manual clocks held (production if there is none).
    Manual(u8),
}

#[derive(Arbitrary, Debug, Clone)]
pub(crate) enum ConfigSel {
    Null,
    Fields(Vec<BreakerField>),
}

/// A name: one of four short ones (so registries see the same names again)
/// or arbitrary bytes up to the first NUL, UTF-8 or not.
#[derive(Arbitrary, Debug)]
pub(crate) enum NameSel {
    Short(u8),
    Bytes(Vec<u8>),
    Null,
}

#[derive(Arbitrary, Debug)]
pub(crate) enum ReportKind {
    Success,
    Failure,
    Ignored,
    /// `seawall_breaker_report` with any outcome number and duration.
    Raw(u32, Nanos),
}

#[derive(Arbitrary, Debug)]
pub(crate) enum Forge {
    Zeroed,
    Bytes([u8; 32]),
    /// A copy of another slot's struct, taken only once that one was
    /// reported or released (copying a live permit is the caller's error).
    CopyOfUsed(u8),
}

#[derive(Arbitrary, Debug)]
pub(crate) enum Command {
    ForceOpen,
    ForceClosed,
    Reset,
    ClearMetrics,
}

#[derive(Arbitrary, Debug)]
pub(crate) enum Op {
    ClockNew,
    ClockFree(u8),
    ClockAdvance(u8, Nanos),
    ClockSet(u8, Nanos),
    ClockNow(u8, bool),
    BreakerNew {
        name: NameSel,
        config: ConfigSel,
        clock: ClockSel,
    },
    BreakerClone(u8),
    BreakerFree(u8),
    Acquire {
        b: u8,
        slot: u8,
        null_permit: bool,
        null_rejection: bool,
    },
    Report {
        b: u8,
        slot: u8,
        kind: ReportKind,
        null_permit: bool,
    },
    ForgePermit {
        slot: u8,
        how: Forge,
    },
    Command(u8, Command),
    Metrics(u8),
    State(u8),
    Name {
        b: u8,
        len: u8,
        null_buf: bool,
        null_len: bool,
    },
    Config(u8),
    Listener(u8),
    /// Fails calls until the breaker leaves CLOSED (at most 64).
    Trip(u8),
    /// A whole scenario in one step, so the fuzzer reaches it easily: a
    /// breaker on a manual clock set to `u64::MAX - below`, tripped, then
    /// checked for a trial after its retry_after and after its open time.
    HighClock {
        below: Nanos,
        config: ConfigSel,
    },
    NotStuck(u8),
    WaitRetryAfter(u8),
    RegistryNew(ClockSel),
    RegistryClone(u8),
    RegistryFree(u8),
    RegistryGetOrCreate {
        r: u8,
        name: NameSel,
        config: ConfigSel,
    },
    RegistryGet {
        r: u8,
        name: NameSel,
    },
    RegistryRemove {
        r: u8,
        name: NameSel,
    },
    RegistryCount(u8),
    RegistryForEach {
        r: u8,
        stop_after: u8,
    },
    LimiterNew {
        fields: Vec<RateField>,
        null_config: bool,
        clock: ClockSel,
    },
    LimiterClone(u8),
    LimiterFree(u8),
    LimiterCheck {
        l: u8,
        null_out: bool,
        then_wait: bool,
    },
    BulkheadNew {
        fields: Vec<BulkheadField>,
        null_config: bool,
        clock: ClockSel,
    },
    BulkheadClone(u8),
    BulkheadFree(u8),
    BulkheadTryAcquire {
        h: u8,
        slot: u8,
    },
    BulkheadAcquire {
        h: u8,
        slot: u8,
        timeout: Option<Nanos>,
    },
    BulkheadRelease {
        h: u8,
        slot: u8,
        null_permit: bool,
    },
    BulkheadForge {
        slot: u8,
        how: Forge,
    },
    BulkheadCounts(u8),
    BudgetNew {
        fields: Vec<BudgetField>,
        null_config: bool,
        clock: ClockSel,
    },
    BudgetClone(u8),
    BudgetFree(u8),
    BudgetRecord(u8, bool),
    BudgetCanRetry(u8, bool),
    BudgetReport(u8),
    RetryDelay {
        fields: Vec<RetryField>,
        null_config: bool,
        attempt: Count,
        previous: Nanos,
        unit: Float,
    },
    RetryStateNew {
        fields: Vec<RetryField>,
        null_config: bool,
        seed: u64,
    },
    RetryStateFree(u8),
    RetryStateBegin {
        s: u8,
        /// One of the budgets held (NULL if none, or for `None`).
        budget: Option<u8>,
        null_out: bool,
    },
    RetryStateFailed {
        s: u8,
        retryable: bool,
        budget: Option<u8>,
        null_stop: bool,
    },
    RetryStateRejected {
        s: u8,
        /// `None`: `UINT64_MAX`, no trial announced.
        retry_after: Option<Nanos>,
        budget: Option<u8>,
    },
    ResultMessage {
        code: u32,
        len: u8,
    },
    LastErrorMessage {
        len: u8,
    },
    StateName(u32),
    NullHandle(u8),
}

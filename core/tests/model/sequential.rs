//! The plain sequential model of the breaker's documented semantics that
//! `main.rs` runs the breaker against: plain integers, an unbounded
//! generation number and absolute deadlines, written from the docs.

use std::time::Duration;

use seawall::{BreakerConfig, Outcome, State};

pub(crate) const US: u64 = 1_000;
pub(crate) const SEC: u64 = 1_000_000_000;

/// The back-off multipliers drawn, as exact fractions `num / den`.
pub(crate) const MULTIPLIERS: [(u64, u64); 3] = [(1, 1), (3, 2), (2, 1)];

#[derive(Clone, Debug)]
pub(crate) struct Params {
    pub(crate) failure_threshold: u32,
    pub(crate) success_threshold: u32,
    pub(crate) half_open_max_calls: u32,
    pub(crate) timeout: u64,
    pub(crate) half_open_timeout: u64,
    pub(crate) multiplier: (u64, u64),
    /// `max_timeout` as a multiple of `timeout`, `None` for no cap given.
    pub(crate) cap: Option<u64>,
    pub(crate) slow: Option<u64>,
    /// `half_open_success_rate` as an exact fraction, `None` for the
    /// default rule (every trial must succeed).
    pub(crate) rate: Option<(u64, u64)>,
}

impl Params {
    /// Trial successes that close a HALF_OPEN breaker, and trial failures
    /// it tolerates: with a rate, the trials are judged as a batch of
    /// `success_threshold` outcomes of which `ceil(rate * batch)` (at least
    /// one) must succeed; without, all of `success_threshold` and none.
    pub(crate) fn trial_rule(&self) -> (u32, u32) {
        let batch = u64::from(self.success_threshold);
        match self.rate {
            None => (self.success_threshold, 0),
            Some((num, den)) => {
                let need = (batch * num).div_ceil(den).max(1);
                (need as u32, (batch - need) as u32)
            }
        }
    }

    pub(crate) fn config(&self) -> BreakerConfig {
        BreakerConfig {
            failure_threshold: self.failure_threshold,
            success_threshold: self.success_threshold,
            half_open_max_calls: self.half_open_max_calls,
            timeout: Duration::from_nanos(self.timeout),
            half_open_timeout: Duration::from_nanos(self.half_open_timeout),
            timeout_multiplier: self.multiplier.0 as f64 / self.multiplier.1 as f64,
            max_timeout: self.cap.map(|k| Duration::from_nanos(k * self.timeout)),
            slow_call_duration: self.slow.map(Duration::from_nanos),
            half_open_success_rate: self.rate.map(|(n, d)| n as f64 / d as f64),
            ..Default::default()
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Books {
    pub(crate) permitted: u64,
    pub(crate) successes: u64,
    pub(crate) failures: u64,
    pub(crate) ignored: u64,
    pub(crate) late: u64,
    pub(crate) rejected: u64,
    pub(crate) slow: u64,
}

/// What the model says an acquire does.
#[derive(Debug, PartialEq)]
pub(crate) enum Admission {
    Admitted {
        gen: u64,
    },
    Rejected {
        state: State,
        retry_after: Option<Duration>,
    },
}

pub(crate) struct Model {
    pub(crate) p: Params,
    /// The stored state: moves only when an operation moves it.
    pub(crate) kind: State,
    pub(crate) gen: u64,
    /// CLOSED: consecutive failures. HALF_OPEN: trial successes.
    pub(crate) count: u32,
    /// HALF_OPEN: trials outstanding in the current batch.
    pub(crate) inflight: u32,
    /// HALF_OPEN: trial failures tolerated so far (success-rate rule).
    pub(crate) fails: u32,
    /// Consecutive trips without closing.
    pub(crate) trips: u32,
    /// OPEN: end of the open time. HALF_OPEN: expiry of the current batch.
    pub(crate) deadline: u64,
    pub(crate) since: u64,
    pub(crate) books: Books,
    /// Transitions made, indexed like `State as usize`.
    pub(crate) entered: [u64; 5],
    pub(crate) events: Vec<(State, State)>,
}

pub(crate) fn index(s: State) -> usize {
    match s {
        State::Closed => 0,
        State::Open => 1,
        State::HalfOpen => 2,
        State::ForcedOpen => 3,
        State::ForcedClosed => 4,
    }
}

impl Model {
    pub(crate) fn new(p: Params) -> Self {
        Self {
            p,
            kind: State::Closed,
            gen: 0,
            count: 0,
            inflight: 0,
            fails: 0,
            trips: 0,
            deadline: 0,
            since: 0,
            books: Books::default(),
            entered: [0; 5],
            events: Vec::new(),
        }
    }

    /// The open time after `trips` consecutive trips: the timeout grown by
    /// the multiplier per trip, capped at `max_timeout` (which defaults to
    /// the timeout itself).
    pub(crate) fn open_time(&self, trips: u32) -> u64 {
        let cap = self.p.cap.unwrap_or(1) * self.p.timeout;
        let (num, den) = self.p.multiplier;
        let mut t = u128::from(self.p.timeout);
        for _ in 0..trips {
            if num == den || t >= u128::from(cap) {
                break;
            }
            t = t * u128::from(num) / u128::from(den);
        }
        t.min(u128::from(cap)) as u64
    }

    /// Deadlines are kept in whole microseconds, rounded up.
    pub(crate) fn deadline_at(end: u64) -> u64 {
        end.div_ceil(US) * US
    }

    /// Starts a new episode of `kind` (a new generation).
    pub(crate) fn enter(&mut self, kind: State, now: u64) {
        self.gen += 1;
        self.count = 0;
        self.inflight = 0;
        self.fails = 0;
        match kind {
            State::Open => {
                self.deadline = Self::deadline_at(now + self.open_time(self.trips));
            }
            State::HalfOpen => {
                self.deadline = Self::deadline_at(now + self.p.half_open_timeout);
            }
            State::Closed | State::ForcedOpen | State::ForcedClosed => self.trips = 0,
        }
        if kind != self.kind {
            self.events.push((self.kind, kind));
            self.entered[index(kind)] += 1;
            self.since = now;
        }
        self.kind = kind;
    }

    pub(crate) fn reopen(&mut self, now: u64) {
        self.trips += 1;
        self.enter(State::Open, now);
    }

    /// What `Breaker::state` reads: OPEN past its open time reads HALF_OPEN;
    /// HALF_OPEN with outstanding trials past their expiry reads OPEN.
    pub(crate) fn observed(&self, now: u64) -> State {
        match self.kind {
            State::Open if now >= self.deadline => State::HalfOpen,
            State::HalfOpen if self.inflight > 0 && now >= self.deadline => State::Open,
            k => k,
        }
    }

    pub(crate) fn reject(&mut self, state: State, retry_after: Option<u64>) -> Admission {
        self.books.rejected += 1;
        Admission::Rejected {
            state,
            retry_after: retry_after.map(Duration::from_nanos),
        }
    }

    pub(crate) fn admit(&mut self) -> Admission {
        self.books.permitted += 1;
        Admission::Admitted { gen: self.gen }
    }

    pub(crate) fn acquire(&mut self, now: u64) -> Admission {
        match self.kind {
            State::Closed | State::ForcedClosed => self.admit(),
            State::ForcedOpen => self.reject(State::ForcedOpen, None),
            State::Open if now >= self.deadline => {
                self.enter(State::HalfOpen, now);
                self.inflight = 1;
                self.admit()
            }
            State::Open => self.reject(State::Open, Some(self.deadline - now)),
            State::HalfOpen => {
                if self.inflight == 0 {
                    // A new batch of trials, with its own expiry.
                    self.gen += 1;
                    self.deadline = Self::deadline_at(now + self.p.half_open_timeout);
                    self.inflight = 1;
                    self.admit()
                } else if now >= self.deadline {
                    // Outstanding trials expired: the breaker reopens.
                    self.reopen(now);
                    let wait = self.deadline - now;
                    self.reject(State::Open, Some(wait))
                } else if self.inflight < self.p.half_open_max_calls {
                    self.inflight += 1;
                    self.admit()
                } else {
                    // All slots taken: the wait reported is the time until the
                    // batch expires.
                    self.reject(State::HalfOpen, Some(self.deadline - now))
                }
            }
        }
    }

    pub(crate) fn outcome(&mut self, gen: u64, start: u64, outcome: Outcome, now: u64) {
        if gen != self.gen {
            self.books.late += 1;
            return;
        }
        match outcome {
            Outcome::Success => self.books.successes += 1,
            Outcome::Failure => self.books.failures += 1,
            Outcome::Ignored => self.books.ignored += 1,
        }
        if let Some(slow) = self.p.slow {
            if outcome != Outcome::Ignored && now.saturating_sub(start) >= slow {
                self.books.slow += 1;
            }
        }
        match self.kind {
            State::Closed => match outcome {
                Outcome::Success => self.count = 0,
                Outcome::Ignored => {}
                Outcome::Failure => {
                    self.count += 1;
                    if self.count >= self.p.failure_threshold {
                        self.enter(State::Open, now);
                    }
                }
            },
            State::HalfOpen => {
                if now >= self.deadline {
                    // The batch expired: reopen, whatever the outcome.
                    self.reopen(now);
                    return;
                }
                let (need, tolerated) = self.p.trial_rule();
                self.inflight -= 1;
                match outcome {
                    Outcome::Success => {
                        self.count += 1;
                        if self.count >= need {
                            self.enter(State::Closed, now);
                        }
                    }
                    Outcome::Failure => {
                        self.fails += 1;
                        if self.fails > tolerated {
                            self.reopen(now);
                        }
                    }
                    Outcome::Ignored => {}
                }
            }
            // FORCED_CLOSED measures only; no permit is issued in an OPEN or
            // FORCED_OPEN generation.
            State::Open | State::ForcedOpen | State::ForcedClosed => {}
        }
    }

    pub(crate) fn command(&mut self, to: State, now: u64) {
        if matches!(to, State::ForcedOpen | State::ForcedClosed) && self.kind == to {
            return;
        }
        self.enter(to, now);
    }
}

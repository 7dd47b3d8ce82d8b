//! One call's retry state machine ([`RetryState`]), without any I/O, and
//! why a call stops retrying ([`Stop`]).

use std::time::Duration;

use super::Backoff;
use crate::breaker::Rejected;
use crate::budget::RetryBudget;
use crate::clock::Clock;

/// Why a call stopped retrying.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stop {
    /// `max_attempts` attempts were made.
    Exhausted,
    /// The error was classified as not retryable.
    NotRetryable,
    /// The breaker refused the call and announced no next trial within
    /// `max_delay` and the remaining delay budget (or is forced open).
    Rejected,
    /// The retry budget refused the retry.
    BudgetExhausted,
    /// The next delay would exceed `max_total_delay`.
    DelayBudgetExhausted,
}

impl Stop {
    /// Its name in `snake_case` (`"exhausted"`, `"not_retryable"`,
    /// `"rejected"`, `"budget_exhausted"`, `"delay_budget_exhausted"`), as
    /// the Python binding reports it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Exhausted => "exhausted",
            Self::NotRetryable => "not_retryable",
            Self::Rejected => "rejected",
            Self::BudgetExhausted => "budget_exhausted",
            Self::DelayBudgetExhausted => "delay_budget_exhausted",
        }
    }
}

/// One call's retry state machine, with no I/O: the caller begins each
/// attempt, says how it ended, and sleeps the delay it is given or stops.
///
/// It owns a copy of its [`Backoff`] (a few words), so it can outlive the
/// schedule it was made from (a handle held by a foreign caller). The loop,
/// with a budget shared by the dependency's callers:
///
/// ```
/// use std::time::Duration;
/// use seawall::{RetryStrategy, RetryBudget, RetryConfig, Backoff, RetryState, Stop};
///
/// let backoff = Backoff::new(RetryConfig {
///     strategy: RetryStrategy::Fixed,
///     initial_delay: Duration::from_millis(10),
///     ..Default::default()
/// })
/// .unwrap();
/// let budget = RetryBudget::new(Default::default()).unwrap();
/// let mut state = RetryState::new(&backoff);
/// let stop = loop {
///     let attempt = state.begin(Some(&budget));
///     let failed = true; // make attempt `attempt` here
///     if !failed {
///         break None;
///     }
///     match state.on_failure(true, Some(&budget), || 0.5) {
///         Ok(delay) => assert_eq!(delay, Duration::from_millis(10)), // sleep it
///         Err(stop) => break Some(stop),
///     }
/// };
/// assert_eq!(stop, Some(Stop::Exhausted));
/// assert_eq!(state.attempts(), 3);
/// assert_eq!(state.total_delay(), Duration::from_millis(20));
/// ```
#[derive(Clone, Debug)]
pub struct RetryState {
    backoff: Backoff,
    attempts: u32,
    total: Duration,
    previous: Duration,
}

impl RetryState {
    /// A call under (a copy of) `backoff` that has made no attempt yet.
    pub fn new(backoff: &Backoff) -> Self {
        Self::resumed(backoff, 0)
    }

    /// A call under (a copy of) `backoff` whose first `attempts` attempts
    /// were begun by the caller, the first one recorded in the budget, if
    /// any, by the caller too: the next [`begin`](RetryState::begin) is
    /// attempt `attempts + 1` and records nothing. A binding that makes a
    /// call's first attempt on its fast path creates the state only after
    /// that attempt failed, with `attempts` 1.
    pub fn resumed(backoff: &Backoff, attempts: u32) -> Self {
        Self {
            backoff: backoff.clone(),
            attempts,
            total: Duration::ZERO,
            previous: Duration::ZERO,
        }
    }

    /// The schedule it follows.
    pub fn backoff(&self) -> &Backoff {
        &self.backoff
    }

    /// Counts the start of an attempt and returns its number (1-based;
    /// it stays at `u32::MAX` once there). With a `budget`, the call's
    /// first attempt is recorded in it as a request; later attempts were
    /// counted when the budget granted them (see [`RetryState::on_failure`]).
    pub fn begin<C: Clock>(&mut self, budget: Option<&RetryBudget<C>>) -> u32 {
        if self.attempts == 0 {
            if let Some(budget) = budget {
                budget.record_attempt(false);
            }
        }
        self.attempts = self.attempts.saturating_add(1);
        self.attempts
    }

    /// [`RetryState::begin`] without a budget.
    pub fn begin_attempt(&mut self) -> u32 {
        self.begin(None::<&RetryBudget>)
    }

    /// Attempts begun so far.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Delay committed so far.
    pub fn total_delay(&self) -> Duration {
        self.total
    }

    /// After the current attempt failed, the whole decision: the delay to
    /// sleep before the next attempt, or why to stop. In order: a failure
    /// not `retryable` stops ([`Stop::NotRetryable`]), as does the last of
    /// `max_attempts` ([`Stop::Exhausted`]) and a delay that would overrun
    /// `max_total_delay` ([`Stop::DelayBudgetExhausted`]); then the
    /// `budget`, if any, is asked for the retry ([`Stop::BudgetExhausted`]
    /// if it refuses; a grant is counted in it at once). A granted delay is
    /// committed: it adds to [`total_delay`](RetryState::total_delay) and
    /// becomes the previous delay of decorrelated jitter.
    ///
    /// `unit` supplies a random number in `[0, 1)` (see
    /// [`Backoff::delay`]); it is called only when a delay is computed,
    /// so a seeded sequence maps one to one onto the delays computed.
    pub fn on_failure<C: Clock>(
        &mut self,
        retryable: bool,
        budget: Option<&RetryBudget<C>>,
        unit: impl FnOnce() -> f64,
    ) -> Result<Duration, Stop> {
        let delay = self.after_failure(retryable, unit)?;
        self.grant(delay, budget)
    }

    /// After the breaker refused the current attempt, the whole decision:
    /// the wait for its next trial, or why to stop. A `retry_after` (the
    /// breaker's announced next trial; `None` when forced open) beyond
    /// `max_delay` or the rest of `max_total_delay` stops
    /// ([`Stop::Rejected`]), as does the last of `max_attempts`
    /// ([`Stop::Exhausted`]) and a refusal of the `budget`
    /// ([`Stop::BudgetExhausted`]; a grant is counted in it). A granted wait
    /// adds to the total but leaves the back-off schedule where it was.
    pub fn on_rejection<C: Clock>(
        &mut self,
        retry_after: Option<Duration>,
        budget: Option<&RetryBudget<C>>,
    ) -> Result<Duration, Stop> {
        let wait = self.trial_wait(retry_after)?;
        ask(budget)?;
        self.commit_wait(wait);
        Ok(wait)
    }

    /// The first part of [`RetryState::on_failure`]: the schedule's
    /// decision alone, without the budget, committing nothing (see
    /// [`RetryState::grant`] and [`RetryState::commit`]).
    pub fn after_failure(
        &self,
        retryable: bool,
        unit: impl FnOnce() -> f64,
    ) -> Result<Duration, Stop> {
        let (backoff, previous) = (&self.backoff, self.previous);
        self.after_failure_with(retryable, |attempt| {
            backoff.delay(attempt, previous, unit())
        })
    }

    /// [`RetryState::after_failure`] with a delay of the caller's own in
    /// place of the back-off's: `delay` is given the number of the attempt
    /// that failed and is called only when a delay is needed (after the
    /// `retryable` and `max_attempts` checks). Its delay is taken as it is
    /// (`max_delay` does not cap it) and still checked against
    /// `max_total_delay`. For schedules the core does not know, such as a
    /// Python caller's `custom_backoff`.
    pub fn after_failure_with(
        &self,
        retryable: bool,
        delay: impl FnOnce(u32) -> Duration,
    ) -> Result<Duration, Stop> {
        if !retryable {
            return Err(Stop::NotRetryable);
        }
        if self.attempts >= self.backoff.config().max_attempts {
            return Err(Stop::Exhausted);
        }
        let d = delay(self.attempts);
        if !self.fits(d) {
            return Err(Stop::DelayBudgetExhausted);
        }
        Ok(d)
    }

    /// The second part of [`RetryState::on_failure`]: asks the `budget`, if
    /// any, for the retry after the `delay` that
    /// [`RetryState::after_failure`] (or `_with`) allowed
    /// ([`Stop::BudgetExhausted`] if it refuses; a grant is counted in it),
    /// then commits the delay (see [`RetryState::commit`]).
    pub fn grant<C: Clock>(
        &mut self,
        delay: Duration,
        budget: Option<&RetryBudget<C>>,
    ) -> Result<Duration, Stop> {
        ask(budget)?;
        self.commit(delay);
        Ok(delay)
    }

    /// The first part of [`RetryState::on_rejection`]: the schedule's
    /// decision alone, without the budget, committing nothing (see
    /// [`RetryState::commit_wait`]).
    pub fn after_rejection(&self, rejected: &Rejected) -> Result<Duration, Stop> {
        self.trial_wait(rejected.retry_after)
    }

    fn trial_wait(&self, retry_after: Option<Duration>) -> Result<Duration, Stop> {
        match retry_after {
            Some(t) if t <= self.backoff.config().max_delay && self.fits(t) => {
                if self.attempts >= self.backoff.config().max_attempts {
                    Err(Stop::Exhausted)
                } else {
                    Ok(t)
                }
            }
            _ => Err(Stop::Rejected),
        }
    }

    fn fits(&self, d: Duration) -> bool {
        match self.backoff.config().max_total_delay {
            Some(cap) => self.total.saturating_add(d) <= cap,
            None => true,
        }
    }

    /// Records that `delay` (from [`RetryState::after_failure`]) is being
    /// slept: it adds to the total and becomes the previous delay of
    /// decorrelated jitter. [`RetryState::on_failure`] does this itself.
    pub fn commit(&mut self, delay: Duration) {
        self.total = self.total.saturating_add(delay);
        self.previous = delay;
    }

    /// Records a wait for the breaker's next trial: it adds to the total
    /// but leaves the back-off schedule where it was.
    /// [`RetryState::on_rejection`] does this itself.
    pub fn commit_wait(&mut self, wait: Duration) {
        self.total = self.total.saturating_add(wait);
    }
}

/// Asks `budget`, if any, for one retry; a grant is counted in it.
fn ask<C: Clock>(budget: Option<&RetryBudget<C>>) -> Result<(), Stop> {
    match budget {
        Some(budget) if !budget.can_retry() => Err(Stop::BudgetExhausted),
        _ => Ok(()),
    }
}

#[cfg(all(test, not(seawall_loom)))]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::retry::{RetryConfig, RetryStrategy};

    fn fixed(max_attempts: u32, max_total_ms: Option<u64>) -> Backoff {
        Backoff::new(RetryConfig {
            strategy: RetryStrategy::Fixed,
            max_attempts,
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            max_total_delay: max_total_ms.map(Duration::from_millis),
            ..Default::default()
        })
        .unwrap()
    }

    /// A budget whose bucket decides (below `min_requests`), holding
    /// `tokens` retries.
    fn budget(tokens: u32) -> RetryBudget<ManualClock> {
        let config = crate::RetryBudgetConfig {
            min_requests: 1_000,
            max_tokens: tokens,
            ..Default::default()
        };
        RetryBudget::with_clock(config, ManualClock::new()).unwrap()
    }

    #[test]
    fn the_first_attempt_is_recorded_and_grants_are_charged() {
        let backoff = fixed(10, None);
        let b = budget(2);
        let mut state = RetryState::new(&backoff);
        assert_eq!(state.begin(Some(&b)), 1);
        assert_eq!((b.counts().requests, b.counts().retries), (1, 0));
        let ms100 = Duration::from_millis(100);
        for attempt in 2..=3 {
            assert_eq!(state.on_failure(true, Some(&b), || 0.5), Ok(ms100));
            // A granted retry is counted by the grant, not by `begin`.
            assert_eq!(state.begin(Some(&b)), attempt);
        }
        let before = b.counts();
        assert_eq!(
            state.on_failure(true, Some(&b), || 0.5),
            Err(Stop::BudgetExhausted)
        );
        assert_eq!(b.counts(), before, "a refusal charges nothing");
        // Nothing was committed by the refusal.
        assert_eq!((state.attempts(), state.total_delay()), (3, 2 * ms100));
        // The schedule's own stops come before the budget is asked.
        let b = budget(5);
        let mut state = RetryState::new(&backoff);
        state.begin(Some(&b));
        assert_eq!(
            state.on_failure(false, Some(&b), || 0.5),
            Err(Stop::NotRetryable)
        );
        assert_eq!(b.remaining_percent(), 100.0);
    }

    #[test]
    fn rejections_wait_for_the_announced_trial_within_the_limits() {
        let backoff = fixed(3, Some(1_500));
        let mut state = RetryState::new(&backoff);
        let none = None::<&RetryBudget>;
        state.begin_attempt();
        let ms = Duration::from_millis;
        // Beyond max_delay (1 s), or no trial announced: stop.
        assert_eq!(
            state.on_rejection(Some(ms(1_001)), none),
            Err(Stop::Rejected)
        );
        assert_eq!(state.on_rejection(None, none), Err(Stop::Rejected));
        assert_eq!(state.on_rejection(Some(ms(1_000)), none), Ok(ms(1_000)));
        assert_eq!(state.total_delay(), ms(1_000));
        state.begin_attempt();
        // 1_000 + 600 would overrun max_total_delay (1.5 s).
        assert_eq!(state.on_rejection(Some(ms(600)), none), Err(Stop::Rejected));
        assert_eq!(state.on_failure(true, none, || 0.5), Ok(ms(100)));
        state.begin_attempt();
        assert_eq!(state.on_rejection(Some(ms(1)), none), Err(Stop::Exhausted));
        assert_eq!(state.total_delay(), ms(1_100));
        // A budget refusal stops a wait like a retry.
        let b = budget(0);
        let mut state = RetryState::new(&backoff);
        state.begin(Some(&b));
        assert_eq!(
            state.on_rejection(Some(ms(10)), Some(&b)),
            Err(Stop::BudgetExhausted)
        );
    }

    #[test]
    fn attempt_counts_saturate() {
        let backoff = Backoff::new(RetryConfig::default()).unwrap();
        let mut state = RetryState::new(&backoff);
        state.attempts = u32::MAX - 1;
        assert_eq!(state.begin_attempt(), u32::MAX);
        assert_eq!(state.begin_attempt(), u32::MAX);
        assert_eq!(state.after_failure(true, || 0.5), Err(Stop::Exhausted));
    }
}

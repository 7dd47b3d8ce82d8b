//! [`Hedge::run`]: a hedged call as a future, on any async runtime (the
//! caller supplies its sleep).

use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::task::Poll;
use std::time::Duration;

use super::{Hedge, HedgeCall, HedgeDecision, Resolution};
use crate::clock::Clock;

impl<C: Clock> Hedge<C> {
    /// Runs one hedged call: `attempt(0)` at once, then `attempt(n)` for
    /// each extra attempt the call's [`HedgeCall`] starts (after its delay,
    /// if `idempotent` and the budget grants it), each slept for with
    /// `sleep` (for example `tokio::time::sleep`). Resolves to the first
    /// `Ok`, or to the error of the last attempt when all of them failed.
    /// The attempts still running are dropped, which cancels them, before
    /// it resolves; dropping the future cancels them all.
    ///
    /// The first attempt and the timer live inside the future; only extra
    /// attempts are boxed, and the timer is made only once the first
    /// attempt did not answer on its first poll.
    ///
    /// ```
    /// use std::future::{pending, ready, Future};
    /// use std::sync::Arc;
    /// use std::task::{Context, Poll, Wake, Waker};
    /// use std::time::Duration;
    /// use seawall::{Hedge, HedgeConfig, ManualClock, RetryBudget, RetryBudgetConfig};
    ///
    /// let clock = ManualClock::new();
    /// let budget = Arc::new(RetryBudget::with_clock(RetryBudgetConfig::default(), clock.clone()).unwrap());
    /// let config = HedgeConfig { quantile: None, delay: Duration::from_millis(5), ..Default::default() };
    /// let hedge = Hedge::with_clock(config, budget, clock.clone()).unwrap();
    /// // The first attempt never answers; the hedge, started 5 ms later, does.
    /// let call = hedge.run(
    ///     true,
    ///     |n| async move { if n == 0 { pending::<()>().await } Ok::<u32, ()>(n) },
    ///     |d| { clock.advance(d); ready(()) }, // a sleep on the manual clock
    /// );
    /// struct Noop;
    /// impl Wake for Noop {
    ///     fn wake(self: Arc<Self>) {}
    /// }
    /// let waker = Waker::from(Arc::new(Noop));
    /// let mut call = std::pin::pin!(call);
    /// let mut cx = Context::from_waker(&waker);
    /// assert_eq!(call.as_mut().poll(&mut cx), Poll::Ready(Ok(1)));
    /// assert_eq!(hedge.metrics().wins, 1);
    /// ```
    pub async fn run<T, E, A, AF, S, SF>(
        &self,
        idempotent: bool,
        mut attempt: A,
        mut sleep: S,
    ) -> Result<T, E>
    where
        A: FnMut(u32) -> AF,
        AF: Future<Output = Result<T, E>>,
        S: FnMut(Duration) -> SF,
        SF: Future<Output = ()>,
    {
        let call = self.start(self.now(), idempotent);
        let mut first = pin!(Some(attempt(0)));
        let mut timer = pin!(None::<SF>);
        let mut timer_due = true;
        let mut extra: Vec<(u32, Pin<Box<AF>>)> = Vec::new();
        let mut last_error = None;
        poll_fn(|cx| loop {
            // Every attempt that ends is reported; the first decisive one
            // answers for the call.
            if let Some(f) = first.as_mut().as_pin_mut() {
                if let Poll::Ready(r) = f.poll(cx) {
                    first.set(None);
                    match self.settle(&call, 0, r, &mut last_error) {
                        Some(done) => return Poll::Ready(done),
                        None => continue,
                    }
                }
            }
            let mut i = 0;
            while i < extra.len() {
                let (n, f) = &mut extra[i];
                let n = *n;
                if let Poll::Ready(r) = f.as_mut().poll(cx) {
                    drop(extra.swap_remove(i));
                    if let Some(done) = self.settle(&call, n, r, &mut last_error) {
                        return Poll::Ready(done);
                    }
                } else {
                    i += 1;
                }
            }
            // Then the timer: made on the first pass that found no answer.
            if timer_due {
                timer_due = false;
                match call.next_delay(self.now()) {
                    Some(d) => timer.set(Some(sleep(d))),
                    None => timer.set(None),
                }
            }
            let Some(t) = timer.as_mut().as_pin_mut() else {
                return Poll::Pending;
            };
            if t.poll(cx).is_pending() {
                return Poll::Pending;
            }
            timer_due = true;
            match call.may_hedge(self.now()) {
                HedgeDecision::Start(n) => extra.push((n, Box::pin(attempt(n)))),
                HedgeDecision::Wait(_) | HedgeDecision::Refused | HedgeDecision::Done => {}
                HedgeDecision::AllFailed => {
                    // Only when another thread reports results: not here,
                    // where every report happens in this poll.
                    if let Some(e) = last_error.take() {
                        return Poll::Ready(Err(e));
                    }
                }
            }
        })
        .await
    }

    /// Reports attempt `n`'s result `r`: the call's answer when it decides
    /// the call, else `None` (a failure kept in `last_error`).
    fn settle<T, E, H>(
        &self,
        call: &HedgeCall<H>,
        n: u32,
        r: Result<T, E>,
        last_error: &mut Option<E>,
    ) -> Option<Result<T, E>>
    where
        H: std::ops::Deref<Target = Self>,
    {
        match call.record_attempt_result(n, self.now(), r.is_ok()) {
            Resolution::Won | Resolution::Failed => Some(r),
            Resolution::Pending | Resolution::Lost | Resolution::Invalid => {
                if let Err(e) = r {
                    *last_error = Some(e);
                }
                None
            }
        }
    }
}

//! Retry budgets (made, cloned, freed, recorded, asked, reported), the
//! retry back-off, and retry states driven through attempts, failures and
//! rejections with or without a budget.

use std::ptr;

use seawall_ffi::*;
use seawall_fuzz::c::{budget_config, retry_config};
use seawall_result as R;

use crate::call::{clone_handle, config_arg, create, expect, free_handle, last};
use crate::model::{pick, pick_index, BudgetModel, RetryStateModel, World, MAX_HANDLES};
use crate::ops::Op;

/// Retry calls: `Op::Budget*`, `Op::RetryDelay`, `Op::RetryState*`.
pub(crate) unsafe fn step(w: &mut World, op: &Op, before: R) {
    match op {
        Op::BudgetNew {
            fields,
            null_config,
            clock,
        } => {
            if w.budgets.len() >= MAX_HANDLES {
                return;
            }
            let c = budget_config(fields);
            let (cp, allowed) = config_arg(&c, *null_config);
            let clock = w.clock_arg(clock);
            let new = |out| unsafe { seawall_retry_budget_new(cp, clock, out) };
            let Some(g) = create("seawall_retry_budget_new", allowed, before, new) else {
                return;
            };
            let mut back = unsafe { std::mem::zeroed::<seawall_retry_budget_config>() };
            assert_eq!(
                unsafe { seawall_retry_budget_get_config(g, &mut back) },
                R::Ok
            );
            w.budgets.push(g);
            w.gmodels.insert(
                g as usize,
                BudgetModel {
                    refs: 1,
                    max_tokens: back.max_tokens,
                },
            );
        }
        Op::BudgetClone(i) => {
            let func = "seawall_retry_budget_clone";
            let (hs, ms) = (&mut w.budgets, &mut w.gmodels);
            unsafe { clone_handle(func, hs, ms, *i, before, seawall_retry_budget_clone) };
        }
        Op::BudgetFree(i) => {
            let (hs, ms) = (&mut w.budgets, &mut w.gmodels);
            unsafe { free_handle(hs, ms, *i, seawall_retry_budget_free) };
        }
        Op::BudgetRecord(i, retry) => {
            if let Some((_, g)) = pick(&w.budgets, *i) {
                let r = unsafe { seawall_retry_budget_record_attempt(g, *retry) };
                expect("seawall_retry_budget_record_attempt", r, &[R::Ok], before);
            }
        }
        Op::BudgetCanRetry(i, null) => {
            if let Some((_, g)) = pick(&w.budgets, *i) {
                let mut allowed = false;
                let out = if *null { ptr::null_mut() } else { &mut allowed };
                let r = unsafe { seawall_retry_budget_can_retry(g, out) };
                let codes: &[R] = if *null { &[R::NullParameter] } else { &[R::Ok] };
                expect("seawall_retry_budget_can_retry", r, codes, before);
            }
        }
        Op::BudgetReport(i) => {
            if let Some((_, g)) = pick(&w.budgets, *i) {
                let mut p = -1.0f64;
                let r = unsafe { seawall_retry_budget_remaining_percent(g, &mut p) };
                expect(
                    "seawall_retry_budget_remaining_percent",
                    r,
                    &[R::Ok],
                    before,
                );
                assert!((0.0..=100.0).contains(&p), "remaining_percent {p}");
                let mut c = seawall_retry_budget_counts {
                    requests: 0,
                    retries: 0,
                };
                let r = unsafe { seawall_retry_budget_get_counts(g, &mut c) };
                expect("seawall_retry_budget_get_counts", r, &[R::Ok], before);
                assert!(c.retries <= c.requests, "{c:?}");
                let _ = w.gmodels[&(g as usize)].max_tokens;
            }
        }
        Op::RetryDelay {
            fields,
            null_config,
            attempt,
            previous,
            unit,
        } => {
            let c = retry_config(fields);
            let cp = if *null_config {
                ptr::null()
            } else {
                &c as *const _
            };
            let mut d = 0xA5u64;
            let r = unsafe { seawall_retry_delay(cp, attempt.0, previous.0, unit.0, &mut d) };
            let codes: &[R] = if *null_config {
                &[R::NullParameter]
            } else {
                &[R::Ok, R::InvalidConfig, R::InvalidArgument]
            };
            expect("seawall_retry_delay", r, codes, before);
            if r == R::Ok {
                assert!(d <= c.max_delay_ns, "delay {d} above max_delay_ns: {c:?}");
            } else {
                assert_eq!(d, 0xA5, "delay written on failure");
            }
        }
        Op::RetryStateNew {
            fields,
            null_config,
            seed,
        } => {
            if w.states.len() >= MAX_HANDLES {
                return;
            }
            let c = retry_config(fields);
            let cp = if *null_config {
                ptr::null()
            } else {
                ptr::from_ref(&c)
            };
            let sentinel = 0xA5A0 as *mut seawall_retry_state;
            let mut out = sentinel;
            let r = unsafe { seawall_retry_state_new(cp, *seed, &mut out) };
            let codes: &[R] = if *null_config {
                &[R::NullParameter]
            } else {
                &[R::Ok, R::InvalidConfig]
            };
            expect("seawall_retry_state_new", r, codes, before);
            if r != R::Ok {
                assert_eq!(out, sentinel, "state written on {r:?}");
                return;
            }
            let model = RetryStateModel {
                config: c,
                attempts: 0,
                total_ns: 0,
                in_attempt: false,
            };
            w.states.push((out, model));
            check_retry_state(w, w.states.len() - 1);
        }
        Op::RetryStateFree(i) => {
            if !w.states.is_empty() {
                let (s, _) = w.states.swap_remove(usize::from(*i) % w.states.len());
                unsafe { seawall_retry_state_free(s) };
            }
        }
        Op::RetryStateBegin {
            s,
            budget,
            null_out,
        } => {
            let Some(i) = pick_index(w.states.len(), *s) else {
                return;
            };
            let g = w.budget_arg(*budget);
            let mut attempt = 0xA5u32;
            let out = if *null_out {
                ptr::null_mut()
            } else {
                ptr::from_mut(&mut attempt)
            };
            let r = unsafe { seawall_retry_state_begin(w.states[i].0, g, out) };
            expect("seawall_retry_state_begin", r, &[R::Ok], before);
            let m = &mut w.states[i].1;
            m.attempts = m.attempts.saturating_add(1);
            m.in_attempt = true;
            if !*null_out {
                assert_eq!(attempt, m.attempts, "attempt number");
            }
            check_retry_state(w, i);
        }
        Op::RetryStateFailed {
            s,
            retryable,
            budget,
            null_stop,
        } => {
            let Some(i) = pick_index(w.states.len(), *s) else {
                return;
            };
            let g = w.budget_arg(*budget);
            let (mut delay, mut stop) = (0xA5u64, seawall_retry_stop::Rejected);
            let out_stop = if *null_stop {
                ptr::null_mut()
            } else {
                ptr::from_mut(&mut stop)
            };
            let r = unsafe {
                seawall_retry_state_failed(w.states[i].0, *retryable, g, &mut delay, out_stop)
            };
            let m = &mut w.states[i].1;
            if !m.in_attempt {
                expect(
                    "seawall_retry_state_failed",
                    r,
                    &[R::InvalidArgument],
                    before,
                );
                assert_eq!(delay, 0xA5, "delay written on failure");
                return;
            }
            m.in_attempt = false;
            let c = m.config;
            let last = m.attempts >= c.max_attempts;
            let codes: &[R] = if !*retryable || last {
                &[R::RetryStopped]
            } else {
                &[R::Ok, R::RetryStopped]
            };
            expect("seawall_retry_state_failed", r, codes, before);
            if r == R::Ok {
                assert!(
                    delay <= c.max_delay_ns,
                    "delay {delay} above the cap: {c:?}"
                );
                m.total_ns = m.total_ns.saturating_add(delay);
                if c.has_max_total_delay != 0 {
                    assert!(m.total_ns <= c.max_total_delay_ns, "total over the cap");
                }
            } else {
                assert_eq!(delay, 0xA5, "delay written on a stop");
                let want = if !*retryable {
                    Some(seawall_retry_stop::NotRetryable)
                } else if last {
                    Some(seawall_retry_stop::Exhausted)
                } else {
                    None
                };
                if !*null_stop {
                    match want {
                        Some(want) => assert_eq!(stop, want),
                        None => {
                            let budget = stop == seawall_retry_stop::BudgetExhausted;
                            assert!(
                                (budget && !g.is_null())
                                    || (stop == seawall_retry_stop::DelayBudgetExhausted
                                        && c.has_max_total_delay != 0),
                                "stopped for {stop:?}"
                            );
                        }
                    }
                }
            }
            check_retry_state(w, i);
        }
        Op::RetryStateRejected {
            s,
            retry_after,
            budget,
        } => {
            let Some(i) = pick_index(w.states.len(), *s) else {
                return;
            };
            let g = w.budget_arg(*budget);
            let after = retry_after.map_or(u64::MAX, |n| n.0);
            let (mut wait, mut stop) = (0xA5u64, seawall_retry_stop::Exhausted);
            let r = unsafe {
                seawall_retry_state_rejected(w.states[i].0, after, g, &mut wait, &mut stop)
            };
            let m = &mut w.states[i].1;
            if !m.in_attempt {
                expect(
                    "seawall_retry_state_rejected",
                    r,
                    &[R::InvalidArgument],
                    before,
                );
                assert_eq!(wait, 0xA5, "wait written on failure");
                return;
            }
            m.in_attempt = false;
            let c = m.config;
            let beyond = after == u64::MAX
                || after > c.max_delay_ns
                || (c.has_max_total_delay != 0
                    && m.total_ns.saturating_add(after) > c.max_total_delay_ns);
            let codes: &[R] = if beyond || m.attempts >= c.max_attempts {
                &[R::RetryStopped]
            } else {
                &[R::Ok, R::RetryStopped]
            };
            expect("seawall_retry_state_rejected", r, codes, before);
            if r == R::Ok {
                assert_eq!(wait, after, "the wait is the trial announced");
                m.total_ns = m.total_ns.saturating_add(wait);
            } else {
                assert_eq!(wait, 0xA5, "wait written on a stop");
                let want = if beyond {
                    seawall_retry_stop::Rejected
                } else if m.attempts >= c.max_attempts {
                    seawall_retry_stop::Exhausted
                } else {
                    assert!(!g.is_null(), "stopped for {stop:?} without a budget");
                    seawall_retry_stop::BudgetExhausted
                };
                assert_eq!(stop, want);
            }
            check_retry_state(w, i);
        }
        _ => unreachable!("step dispatches {op:?} elsewhere"),
    }
}

impl World {
    /// A budget argument: one of the budgets held, or NULL.
    pub(crate) fn budget_arg(&self, sel: Option<u8>) -> *const seawall_retry_budget {
        sel.and_then(|i| pick(&self.budgets, i))
            .map_or(ptr::null(), |(_, g)| g)
    }
}

/// A retry state's getters agree with the model.
pub(crate) fn check_retry_state(w: &World, i: usize) {
    let (s, m) = &w.states[i];
    let before = last();
    let (mut n, mut t) = (0xA5u32, 0xA5u64);
    // SAFETY: live state; the outputs are valid.
    let r = unsafe { seawall_retry_state_attempts(*s, &mut n) };
    expect("seawall_retry_state_attempts", r, &[R::Ok], before);
    // SAFETY: as above.
    let r = unsafe { seawall_retry_state_total_delay(*s, &mut t) };
    expect("seawall_retry_state_total_delay", r, &[R::Ok], before);
    assert_eq!((n, t), (m.attempts, m.total_ns), "retry state books");
}

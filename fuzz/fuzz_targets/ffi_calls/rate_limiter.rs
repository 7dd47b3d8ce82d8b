//! Rate limiters: made, cloned, freed; checks, and the wait a refusal
//! names (waited on a manual clock, or reserved).

use std::ptr;

use seawall_ffi::*;
use seawall_fuzz::c::rate_limiter_config;
use seawall_result as R;

use crate::call::{clock_addr, clone_handle, config_arg, create, expect, free_handle};
use crate::model::{pick, LimiterModel, World, MAX_HANDLES};
use crate::ops::Op;

/// Rate limiter calls: `Op::Limiter*`.
pub(crate) unsafe fn step(w: &mut World, op: &Op, before: R) {
    match op {
        Op::LimiterNew {
            fields,
            null_config,
            clock,
        } => {
            if w.limiters.len() >= MAX_HANDLES {
                return;
            }
            let c = rate_limiter_config(fields);
            let (cp, allowed) = config_arg(&c, *null_config);
            let clock = w.clock_arg(clock);
            let new = |out| unsafe { seawall_rate_limiter_new(cp, clock, out) };
            let Some(l) = create("seawall_rate_limiter_new", allowed, before, new) else {
                return;
            };
            w.limiters.push(l);
            let model = LimiterModel {
                refs: 1,
                clock: clock_addr(clock),
            };
            w.lmodels.insert(l as usize, model);
        }
        Op::LimiterClone(i) => {
            let func = "seawall_rate_limiter_clone";
            let (hs, ms) = (&mut w.limiters, &mut w.lmodels);
            unsafe { clone_handle(func, hs, ms, *i, before, seawall_rate_limiter_clone) };
        }
        Op::LimiterFree(i) => {
            let (hs, ms) = (&mut w.limiters, &mut w.lmodels);
            unsafe { free_handle(hs, ms, *i, seawall_rate_limiter_free) };
        }
        Op::LimiterCheck {
            l,
            null_out,
            then_wait,
        } => {
            let Some((_, l)) = pick(&w.limiters, *l) else {
                return;
            };
            let mut wait = 0xA5u64;
            let out = if *null_out {
                ptr::null_mut()
            } else {
                &mut wait
            };
            let r = unsafe { seawall_rate_limiter_check(l, out) };
            expect(
                "seawall_rate_limiter_check",
                r,
                &[R::Ok, R::RateLimited],
                before,
            );
            if r == R::Ok || *null_out {
                assert_eq!(wait, 0xA5, "wait written on success or through NULL");
                return;
            }
            assert!(wait > 0, "refused with a wait of 0");
            if !*then_wait {
                // A reservation is refused beyond the same wait (changing
                // nothing), and within it takes that turn: on a manual
                // clock only, as the production clock moves between the
                // check and the reservation (the wait shrinks meanwhile).
                if w.lmodels[&(l as usize)].clock.is_some() {
                    reserve_probe(l, wait);
                }
                return;
            }
            // Waiting that long on the limiter's manual clock admits a call.
            let Some(ca) = w.lmodels[&(l as usize)].clock else {
                return;
            };
            let Some(clock) = w.clock_handle(ca) else {
                return;
            };
            let now = w.clock_time[&ca];
            let Some(then) = now.checked_add(wait) else {
                return;
            };
            unsafe { w.set_clock(clock, then) };
            let r = unsafe { seawall_rate_limiter_check(l, ptr::null_mut()) };
            assert_eq!(
                r,
                R::Ok,
                "refused after waiting the {wait} ns it named (clock {then})"
            );
        }
        _ => unreachable!("step dispatches {op:?} elsewhere"),
    }
}

/// After a check refused with `wait` (on a clock that has not moved since):
/// `seawall_rate_limiter_reserve` refuses a smaller `max_wait` with the same
/// wait and changes nothing, then, given `wait`, reserves that very turn (up
/// to the one-year cap on reservations).
pub(crate) fn reserve_probe(l: *const seawall_rate_limiter, wait: u64) {
    const YEAR_NS: u64 = 365 * 24 * 3600 * 1_000_000_000;
    let mut got = 0xA5u64;
    let r = unsafe { seawall_rate_limiter_reserve(l, wait - 1, &mut got) };
    assert_eq!((r, got), (R::RateLimited, wait), "reserve below the wait");
    let r = unsafe { seawall_rate_limiter_reserve(l, wait, &mut got) };
    let want = if wait <= YEAR_NS {
        R::Ok
    } else {
        R::RateLimited
    };
    assert_eq!((r, got), (want, wait), "reserve at the wait");
}

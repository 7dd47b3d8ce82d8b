//! Manual clocks: made, freed, advanced, set (backwards too) and read; the
//! readings the driver expects of them.

use std::ptr;

use seawall_ffi::*;
use seawall_fuzz::c::manual_clock_new;
use seawall_result as R;

use crate::call::{create, expect};
use crate::model::{pick, World, MAX_HANDLES};
use crate::ops::{ClockSel, Op};

impl World {
    /// The clock argument of a `_new`: NULL, or a manual clock held (one is
    /// made if none is).
    pub(crate) fn clock_arg(&mut self, sel: &ClockSel) -> *const seawall_manual_clock {
        match sel {
            ClockSel::Production => ptr::null(),
            ClockSel::Manual(i) => {
                if self.clocks.is_empty() {
                    self.add_clock(manual_clock_new());
                }
                pick(&self.clocks, *i).map_or(ptr::null(), |(_, c)| c)
            }
        }
    }

    /// Holds a new manual clock, which reads 0.
    pub(crate) fn add_clock(&mut self, c: *const seawall_manual_clock) {
        self.clocks.push(c);
        self.clock_time.insert(c as usize, 0);
        self.clock_max.insert(c as usize, 0);
    }

    pub(crate) fn clock_handle(&self, addr: usize) -> Option<*const seawall_manual_clock> {
        self.clocks.iter().copied().find(|c| *c as usize == addr)
    }

    /// Records a clock's new reading.
    pub(crate) fn clock_moved(&mut self, addr: usize, now: u64) {
        self.clock_time.insert(addr, now);
        let max = self.clock_max.entry(addr).or_insert(0);
        *max = (*max).max(now);
    }

    /// How far the clock of a breaker is below the highest reading it had.
    pub(crate) fn clock_back(&self, addr: Option<usize>) -> u64 {
        addr.map_or(0, |a| {
            self.clock_max.get(&a).copied().unwrap_or(0) - self.clock_time[&a]
        })
    }

    pub(crate) fn clock_now(&self, addr: Option<usize>) -> Option<u64> {
        addr.and_then(|a| self.clock_time.get(&a).copied())
    }

    /// Sets manual clock `clock`, which must take it, to `now`.
    pub(crate) unsafe fn set_clock(&mut self, clock: *const seawall_manual_clock, now: u64) {
        assert_eq!(unsafe { seawall_manual_clock_set(clock, now) }, R::Ok);
        self.clock_moved(clock as usize, now);
    }
}

/// Clock calls: `Op::Clock*`.
pub(crate) unsafe fn step(w: &mut World, op: &Op, before: R) {
    match op {
        Op::ClockNew => {
            if w.clocks.len() >= MAX_HANDLES {
                return;
            }
            let new = |out| unsafe { seawall_manual_clock_new(out) };
            if let Some(c) = create("seawall_manual_clock_new", &[R::Ok], before, new) {
                w.add_clock(c);
            }
        }
        Op::ClockFree(i) => {
            if let Some((i, c)) = pick(&w.clocks, *i) {
                w.clocks.swap_remove(i);
                unsafe { seawall_manual_clock_free(c) };
                // The reading stays known while anything holds the clock;
                // a new clock at this address starts at 0 (ClockNew).
            }
        }
        Op::ClockAdvance(i, n) => {
            if let Some((_, c)) = pick(&w.clocks, *i) {
                let r = unsafe { seawall_manual_clock_advance(c, n.0) };
                expect("seawall_manual_clock_advance", r, &[R::Ok], before);
                let t = w.clock_time[&(c as usize)].saturating_add(n.0);
                w.clock_moved(c as usize, t);
            }
        }
        Op::ClockSet(i, n) => {
            if let Some((_, c)) = pick(&w.clocks, *i) {
                let r = unsafe { seawall_manual_clock_set(c, n.0) };
                expect("seawall_manual_clock_set", r, &[R::Ok], before);
                w.clock_moved(c as usize, n.0);
            }
        }
        Op::ClockNow(i, null) => {
            if let Some((_, c)) = pick(&w.clocks, *i) {
                let mut t = 0xA5u64;
                let out = if *null { ptr::null_mut() } else { &mut t };
                let r = unsafe { seawall_manual_clock_now(c, out) };
                if *null {
                    expect("seawall_manual_clock_now", r, &[R::NullParameter], before);
                } else {
                    expect("seawall_manual_clock_now", r, &[R::Ok], before);
                    assert_eq!(t, w.clock_time[&(c as usize)], "the clock reads otherwise");
                }
            }
        }
        _ => unreachable!("step dispatches {op:?} elsewhere"),
    }
}

//! Bulkheads: made, cloned, freed; slots acquired (without blocking on a
//! clock nobody moves), released, forged; counted exactly.

use std::ptr;

use seawall_ffi::*;
use seawall_fuzz::c::bulkhead_config;
use seawall_result as R;

use crate::call::{
    clone_handle, config_arg, create, expect, free_handle, last, permit_arg, permit_back_codes,
};
use crate::model::{pick, BulkheadModel, SlotSlot, Use, World, MAX_HANDLES, SLOTS};
use crate::ops::{Forge, Op};

/// Bulkhead calls: `Op::Bulkhead*`.
pub(crate) unsafe fn step(w: &mut World, op: &Op, before: R) {
    match op {
        Op::BulkheadNew {
            fields,
            null_config,
            clock,
        } => {
            if w.bulkheads.len() >= MAX_HANDLES {
                return;
            }
            let c = bulkhead_config(fields);
            let (cp, allowed) = config_arg(&c, *null_config);
            let clock = w.clock_arg(clock);
            let new = |out| unsafe { seawall_bulkhead_new(cp.cast(), clock, out) };
            let Some(h) = create("seawall_bulkhead_new", allowed, before, new) else {
                return;
            };
            let mut back = seawall_fuzz::c::BulkheadConfigC {
                max_concurrent: 0,
                max_queue_size: 0,
                timeout_ns: 0,
            };
            assert_eq!(
                unsafe { seawall_bulkhead_get_config(h, ptr::from_mut(&mut back).cast()) },
                R::Ok
            );
            w.bulkheads.push(h);
            w.hmodels.insert(
                h as usize,
                BulkheadModel {
                    refs: 1,
                    max: back.max_concurrent,
                    queue: back.max_queue_size,
                    timeout_ns: back.timeout_ns,
                    manual: !clock.is_null(),
                    held: 0,
                },
            );
        }
        Op::BulkheadClone(i) => {
            let func = "seawall_bulkhead_clone";
            let (hs, ms) = (&mut w.bulkheads, &mut w.hmodels);
            unsafe { clone_handle(func, hs, ms, *i, before, seawall_bulkhead_clone) };
        }
        Op::BulkheadFree(i) => {
            let (hs, ms) = (&mut w.bulkheads, &mut w.hmodels);
            // The last handle takes the bulkhead's permits with it.
            if let Some((addr, _)) = unsafe { free_handle(hs, ms, *i, seawall_bulkhead_free) } {
                for s in &mut w.slots {
                    if s.is_some_and(|p| p.owner == addr) {
                        *s = None;
                    }
                }
            }
        }
        Op::BulkheadTryAcquire { h, slot } | Op::BulkheadAcquire { h, slot, .. } => {
            let Some((_, h)) = pick(&w.bulkheads, *h) else {
                return;
            };
            let m = &w.hmodels[&(h as usize)];
            let free = m.held < m.max;
            let sentinel = seawall_bulkhead_permit {
                owner: 0xA5,
                status: 0xA5,
            };
            let mut p = sentinel;
            let (r, allowed): (R, &[R]) = match op {
                Op::BulkheadAcquire { timeout, .. } => {
                    let t = timeout.map_or(m.timeout_ns, |t| t.0);
                    // Only calls that cannot block on a clock nobody moves:
                    // a free slot, no queue, no wait, or a short real wait.
                    let short = !m.manual && t <= 20_000;
                    if !(free || m.queue == 0 || t == 0 || short) {
                        return;
                    }
                    let r = match timeout {
                        Some(t) => unsafe { seawall_bulkhead_acquire_timeout(h, t.0, &mut p) },
                        None => unsafe { seawall_bulkhead_acquire(h, &mut p) },
                    };
                    (
                        r,
                        if free {
                            &[R::Ok]
                        } else {
                            &[R::BulkheadFull, R::BulkheadTimeout]
                        },
                    )
                }
                _ => {
                    let r = unsafe { seawall_bulkhead_try_acquire(h, &mut p) };
                    (r, if free { &[R::Ok] } else { &[R::BulkheadFull] })
                }
            };
            expect("seawall_bulkhead_*acquire*", r, allowed, before);
            if r == R::Ok {
                w.hmodels.get_mut(&(h as usize)).unwrap().held += 1;
                assert_eq!(p.owner, h as usize);
                w.slots[usize::from(*slot) % SLOTS] = Some(SlotSlot {
                    permit: p,
                    owner: h as usize,
                    state: Use::Issued,
                });
            } else {
                assert_eq!(p, sentinel, "permit written on {r:?}");
            }
            check_bulkhead(w, h);
        }
        Op::BulkheadRelease {
            h,
            slot,
            null_permit,
        } => {
            let Some((_, h)) = pick(&w.bulkheads, *h) else {
                return;
            };
            let slot = usize::from(*slot) % SLOTS;
            let entry = w.slots[slot];
            let mut tmp = seawall_bulkhead_permit {
                owner: 0,
                status: 0,
            };
            let held = w.slots[slot].as_mut().map(|s| &mut s.permit);
            let (p, copy) = permit_arg(held, &mut tmp, *null_permit);
            let r = unsafe { seawall_bulkhead_release(h, p) };
            let addr = h as usize;
            let allowed: Vec<R> = if *null_permit {
                vec![R::NullParameter]
            } else {
                let e = entry.map(|e| (e.state, e.owner));
                permit_back_codes(e, addr, R::PermitAlreadyReleased, R::PermitWrongBulkhead)
            };
            expect("seawall_bulkhead_release", r, &allowed, before);
            if r == R::Ok {
                w.hmodels.get_mut(&addr).unwrap().held -= 1;
                w.slots[slot].as_mut().unwrap().state = Use::Used;
            } else if let Some(c) = copy {
                assert_eq!(unsafe { *p }, c, "permit changed on failure");
            }
            check_bulkhead(w, h);
        }
        Op::BulkheadForge { slot, how } => {
            let slot = usize::from(*slot) % SLOTS;
            let live: Vec<usize> = w.hmodels.keys().copied().collect();
            w.slots[slot] = match how {
                Forge::Zeroed => None,
                Forge::Bytes(b) => {
                    let mut owner = u64::from_le_bytes(b[0..8].try_into().unwrap()) as usize;
                    if live.contains(&owner) {
                        owner ^= 1;
                    }
                    let status = u32::from_le_bytes(b[8..12].try_into().unwrap());
                    Some(SlotSlot {
                        permit: seawall_bulkhead_permit { owner, status },
                        owner: 0,
                        state: Use::Forged,
                    })
                }
                Forge::CopyOfUsed(src) => match w.slots[usize::from(*src) % SLOTS] {
                    Some(s) if s.state == Use::Used => Some(s),
                    _ => w.slots[slot],
                },
            };
        }
        Op::BulkheadCounts(i) => {
            if let Some((_, h)) = pick(&w.bulkheads, *i) {
                check_bulkhead(w, h);
            }
        }
        _ => unreachable!("step dispatches {op:?} elsewhere"),
    }
}

pub(crate) fn check_bulkhead(w: &World, h: *const seawall_bulkhead) {
    let m = &w.hmodels[&(h as usize)];
    let before = last();
    let mut n = 0xA5u32;
    // SAFETY: live handle.
    let r = unsafe { seawall_bulkhead_available_permits(h, &mut n) };
    expect("seawall_bulkhead_available_permits", r, &[R::Ok], before);
    assert_eq!(
        n,
        m.max - m.held,
        "available slots miscounted ({} held)",
        m.held
    );
    let mut q = 0xA5u32;
    // SAFETY: live handle.
    let r = unsafe { seawall_bulkhead_queue_size(h, &mut q) };
    expect("seawall_bulkhead_queue_size", r, &[R::Ok], before);
    assert_eq!(q, 0, "a waiter left in the queue");
}

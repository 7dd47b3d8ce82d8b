//! The breaker calls of the input: made, cloned, freed; permits acquired,
//! reported, forged; commands, metrics, state, name, config, listeners;
//! the scenarios of `breaker.rs`.

use std::ffi::{c_char, c_void, CStr};
use std::ptr;

use seawall_ffi::*;
use seawall_result as R;

use crate::breaker::{breaker_cfg, name_of, name_ptr, on_transition, permit_from_bytes};
use crate::call::{cfg_ptr, clock_addr, clone_handle, create, expect};
use crate::model::{pick, PermitSlot, Use, World, MAX_HANDLES, SLOTS};
use crate::ops::{ClockSel, Command, Forge, NameSel, Op};

/// Breaker calls: `Op::Breaker*`, permits, commands and scenarios.
pub(crate) unsafe fn step(w: &mut World, op: &Op, before: R) {
    match op {
        Op::BreakerNew {
            name,
            config,
            clock,
        } => {
            if w.breakers.len() >= MAX_HANDLES {
                return;
            }
            let name = name_of(name);
            let cfg = breaker_cfg(config);
            let clock = w.clock_arg(clock);
            let utf8 = name.as_ref().is_none_or(|n| n.to_str().is_ok());
            let allowed: &[R] = match (&name, utf8) {
                (None, _) => &[R::NullParameter],
                (Some(_), false) => &[R::InvalidArgument, R::InvalidConfig],
                (Some(_), true) if cfg.is_none() => &[R::Ok],
                _ => &[R::Ok, R::InvalidConfig],
            };
            let (n, c) = (name_ptr(&name), cfg_ptr(&cfg));
            let new = |out| unsafe {
                if clock.is_null() {
                    seawall_breaker_new(n, c, out)
                } else {
                    seawall_breaker_new_with_clock(n, c, clock, out)
                }
            };
            let Some(b) = create("seawall_breaker_new", allowed, before, new) else {
                return;
            };
            w.new_breaker_model(b as usize, clock_addr(clock));
            w.bmodels.get_mut(&(b as usize)).unwrap().refs = 1;
            w.breakers.push(b);
        }
        Op::BreakerClone(i) => {
            let func = "seawall_breaker_clone";
            let (hs, ms) = (&mut w.breakers, &mut w.bmodels);
            unsafe { clone_handle(func, hs, ms, *i, before, seawall_breaker_clone) };
        }
        Op::BreakerFree(i) => {
            if let Some((i, b)) = pick(&w.breakers, *i) {
                w.breakers.swap_remove(i);
                unsafe { seawall_breaker_free(b) };
                w.breaker_unref(b as usize, false);
            }
        }
        Op::Acquire {
            b,
            slot,
            null_permit,
            null_rejection,
        } => {
            let Some(b) = w.breaker_handle(*b) else {
                return;
            };
            let slot = usize::from(*slot) % SLOTS;
            let mut p = unsafe { std::mem::zeroed::<seawall_permit>() };
            let mut why = unsafe { std::mem::zeroed::<seawall_rejection>() };
            let out = if *null_permit {
                ptr::null_mut()
            } else {
                &mut p
            };
            let whyp = if *null_rejection {
                ptr::null_mut()
            } else {
                &mut why
            };
            if unsafe { w.acquire(b, out, whyp) } == R::Ok {
                let epoch = w.bmodels[&(b as usize)].epoch;
                // Overwriting an unreported permit leaks it: it stays
                // outstanding in the books, as it would for a C caller.
                w.permits[slot] = Some(PermitSlot {
                    permit: p,
                    owner: b as usize,
                    state: Use::Issued,
                    epoch,
                });
            }
        }
        Op::Report {
            b,
            slot,
            kind,
            null_permit,
        } => {
            let Some(b) = w.breaker_handle(*b) else {
                return;
            };
            unsafe { w.report(b, usize::from(*slot) % SLOTS, kind, *null_permit) };
        }
        Op::ForgePermit { slot, how } => {
            let slot = usize::from(*slot) % SLOTS;
            let live: Vec<usize> = w.bmodels.keys().copied().collect();
            w.permits[slot] = match how {
                Forge::Zeroed => None,
                Forge::Bytes(bytes) => {
                    let mut permit = permit_from_bytes(bytes);
                    if live.contains(&permit.owner) {
                        // An issued-looking struct with a live breaker's
                        // address is a forgery the ABI cannot detect.
                        permit.owner ^= 1;
                    }
                    Some(PermitSlot {
                        permit,
                        owner: 0,
                        state: Use::Forged,
                        epoch: 0,
                    })
                }
                Forge::CopyOfUsed(src) => match w.permits[usize::from(*src) % SLOTS] {
                    Some(s) if s.state == Use::Used => Some(s),
                    _ => w.permits[slot],
                },
            };
        }
        Op::Command(i, cmd) => {
            let Some(b) = w.breaker_handle(*i) else {
                return;
            };
            let (f, r) = match cmd {
                Command::ForceOpen => ("seawall_breaker_force_open", unsafe {
                    seawall_breaker_force_open(b)
                }),
                Command::ForceClosed => ("seawall_breaker_force_closed", unsafe {
                    seawall_breaker_force_closed(b)
                }),
                Command::Reset => ("seawall_breaker_reset", unsafe { seawall_breaker_reset(b) }),
                Command::ClearMetrics => ("seawall_breaker_clear_metrics", unsafe {
                    seawall_breaker_clear_metrics(b)
                }),
            };
            expect(f, r, &[R::Ok], before);
            let mut s = seawall_state::Closed;
            assert_eq!(unsafe { seawall_breaker_state(b, &mut s) }, R::Ok);
            match cmd {
                Command::ForceOpen => assert_eq!(s, seawall_state::ForcedOpen),
                Command::ForceClosed => assert_eq!(s, seawall_state::ForcedClosed),
                Command::Reset => assert_eq!(s, seawall_state::Closed),
                Command::ClearMetrics => {
                    let m = w.bmodels.get_mut(&(b as usize)).unwrap();
                    m.epoch += 1;
                    m.outstanding = 0;
                    m.extra = 0;
                    m.rejected = 0;
                }
            }
            w.check_metrics(b);
        }
        Op::Metrics(i) => {
            if let Some(b) = w.breaker_handle(*i) {
                w.check_metrics(b);
            }
        }
        Op::State(i) => {
            if let Some(b) = w.breaker_handle(*i) {
                let mut s = seawall_state::Closed;
                let r = unsafe { seawall_breaker_state(b, &mut s) };
                expect("seawall_breaker_state", r, &[R::Ok], before);
                let n = unsafe { CStr::from_ptr(seawall_state_name(s as u32)) };
                assert_ne!(n.to_bytes(), b"UNKNOWN");
            }
        }
        Op::Name {
            b,
            len,
            null_buf,
            null_len,
        } => {
            let Some(b) = w.breaker_handle(*b) else {
                return;
            };
            let name = w.bmodels[&(b as usize)].name.clone();
            let mut buf = vec![0xA5u8; usize::from(*len)];
            let bufp = if *null_buf {
                ptr::null_mut()
            } else {
                buf.as_mut_ptr().cast::<c_char>()
            };
            let mut out_len = 0xA5A5usize;
            let lenp = if *null_len {
                ptr::null_mut()
            } else {
                &mut out_len
            };
            let r = unsafe { seawall_breaker_name(b, bufp, usize::from(*len), lenp) };
            let n = usize::from(*len);
            let allowed: &[R] = if *null_buf && n != 0 {
                &[R::NullParameter]
            } else if n > name.len() {
                &[R::Ok]
            } else {
                &[R::BufferTooSmall]
            };
            expect("seawall_breaker_name", r, allowed, before);
            if matches!(r, R::Ok | R::BufferTooSmall) {
                if !*null_len {
                    assert_eq!(out_len, name.len());
                }
                if n > 0 && !*null_buf {
                    let cut = buf.iter().position(|c| *c == 0).expect("NUL-terminated");
                    assert!(cut < n && name.starts_with(&buf[..cut]), "not a prefix");
                    if r == R::Ok {
                        assert_eq!(&buf[..cut], &name[..]);
                    }
                }
            } else {
                assert!(buf.iter().all(|c| *c == 0xA5), "buffer written on failure");
                assert_eq!(out_len, 0xA5A5, "length written on failure");
            }
        }
        Op::Config(i) => {
            if let Some(b) = w.breaker_handle(*i) {
                let mut c = std::mem::MaybeUninit::<seawall_breaker_config>::uninit();
                let r = unsafe { seawall_breaker_get_config(b, c.as_mut_ptr()) };
                expect("seawall_breaker_get_config", r, &[R::Ok], before);
            }
        }
        Op::Listener(i) => {
            if let Some(b) = w.breaker_handle(*i) {
                let r = unsafe {
                    seawall_breaker_add_listener(b, Some(on_transition), b as *mut c_void)
                };
                expect("seawall_breaker_add_listener", r, &[R::Ok], before);
                let r = unsafe { seawall_breaker_add_listener(b, None, ptr::null_mut()) };
                expect(
                    "seawall_breaker_add_listener(NULL)",
                    r,
                    &[R::NullParameter, R::Ok],
                    before,
                );
            }
        }
        Op::HighClock { below, config } => {
            if w.breakers.len() >= MAX_HANDLES {
                return;
            }
            let before_len = w.breakers.len();
            let clock = ClockSel::Manual(0);
            unsafe {
                super::step(
                    w,
                    &Op::BreakerNew {
                        name: NameSel::Short(0),
                        config: config.clone(),
                        clock,
                    },
                )
            };
            if w.breakers.len() == before_len {
                return;
            }
            let b = w.breakers[before_len];
            let ca = w.bmodels[&(b as usize)].clock.expect("a manual clock");
            let c = w.clock_handle(ca).expect("held");
            let now = u64::MAX - below.0;
            unsafe { w.set_clock(c, now) };
            unsafe {
                w.trip(b);
                w.wait_retry_after(b);
                w.trip(b);
                w.not_stuck(b);
            }
        }
        Op::Trip(i) => {
            if let Some(b) = w.breaker_handle(*i) {
                unsafe { w.trip(b) };
            }
        }
        Op::NotStuck(i) => {
            if let Some(b) = w.breaker_handle(*i) {
                unsafe { w.not_stuck(b) };
            }
        }
        Op::WaitRetryAfter(i) => {
            if let Some(b) = w.breaker_handle(*i) {
                unsafe { w.wait_retry_after(b) };
            }
        }
        _ => unreachable!("step dispatches {op:?} elsewhere"),
    }
}

//! Registries: made, cloned, freed; breakers got, created and removed by
//! name; counted and visited in name order.

use std::collections::BTreeMap;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::ptr;

use seawall_ffi::*;
use seawall_result as R;

use crate::breaker::{breaker_cfg, name_of, name_ptr};
use crate::call::{cfg_ptr, clock_addr, clone_handle, create, expect, free_handle};
use crate::model::{pick, RegistryModel, World, MAX_HANDLES};
use crate::ops::Op;

unsafe extern "C" fn visit(
    user_data: *mut c_void,
    name: *const c_char,
    b: *const seawall_breaker,
) -> c_int {
    // SAFETY: `user_data` is the `Visit` of `RegistryForEach`.
    let v = unsafe { &mut *(user_data as *mut Visit) };
    // SAFETY: the registry passes a NUL-terminated name.
    let name = unsafe { CStr::from_ptr(name) }.to_bytes().to_vec();
    if let Some(prev) = &v.last {
        assert!(prev < &name, "names not in order: {prev:?} then {name:?}");
    }
    v.seen.push((name.clone(), b as usize));
    v.last = Some(name);
    c_int::from(v.seen.len() >= v.stop_after)
}

struct Visit {
    seen: Vec<(Vec<u8>, usize)>,
    last: Option<Vec<u8>>,
    stop_after: usize,
}

/// Registry calls: `Op::Registry*`.
pub(crate) unsafe fn step(w: &mut World, op: &Op, before: R) {
    match op {
        Op::RegistryNew(clock) => {
            if w.registries.len() >= MAX_HANDLES {
                return;
            }
            let clock = w.clock_arg(clock);
            let new = |out| unsafe {
                if clock.is_null() {
                    seawall_registry_new(out)
                } else {
                    seawall_registry_new_with_clock(clock, out)
                }
            };
            let Some(r_) = create("seawall_registry_new", &[R::Ok], before, new) else {
                return;
            };
            w.registries.push(r_);
            let old = w.rmodels.insert(
                r_ as usize,
                RegistryModel {
                    refs: 1,
                    clock: clock_addr(clock),
                    names: BTreeMap::new(),
                },
            );
            assert!(old.is_none());
        }
        Op::RegistryClone(i) => {
            let func = "seawall_registry_clone";
            let (hs, ms) = (&mut w.registries, &mut w.rmodels);
            unsafe { clone_handle(func, hs, ms, *i, before, seawall_registry_clone) };
        }
        Op::RegistryFree(i) => {
            let (hs, ms) = (&mut w.registries, &mut w.rmodels);
            // The last handle takes the registry's breakers with it.
            if let Some((_, m)) = unsafe { free_handle(hs, ms, *i, seawall_registry_free) } {
                for b in m.names.values() {
                    w.breaker_unref(*b, true);
                }
            }
        }
        Op::RegistryGetOrCreate { r, name, config } => {
            if w.breakers.len() >= MAX_HANDLES {
                return;
            }
            let Some((_, reg)) = pick(&w.registries, *r) else {
                return;
            };
            let name = name_of(name);
            let cfg = breaker_cfg(config);
            let key = name.as_ref().map(|n| n.to_bytes().to_vec());
            let existing = key
                .as_ref()
                .and_then(|k| w.rmodels[&(reg as usize)].names.get(k).copied());
            let utf8 = name.as_ref().is_none_or(|n| n.to_str().is_ok());
            let unknown_kind = cfg.is_some_and(|c| c.window_kind > 2);
            let allowed: &[R] = if name.is_none() {
                &[R::NullParameter]
            } else if !utf8 {
                &[R::InvalidArgument, R::InvalidConfig]
            } else if unknown_kind {
                &[R::InvalidConfig]
            } else if existing.is_some() || cfg.is_none() {
                &[R::Ok]
            } else {
                &[R::Ok, R::InvalidConfig]
            };
            let (n, c) = (name_ptr(&name), cfg_ptr(&cfg));
            let new = |out| unsafe { seawall_registry_get_or_create(reg, n, c, out) };
            let Some(b) = create("seawall_registry_get_or_create", allowed, before, new) else {
                return;
            };
            let addr = b as usize;
            match existing {
                Some(e) => assert_eq!(addr, e, "get_or_create made a second breaker for a name"),
                None => {
                    let clock = w.rmodels[&(reg as usize)].clock;
                    w.new_breaker_model(addr, clock);
                    w.bmodels.get_mut(&addr).unwrap().registries = 1;
                    w.rmodels
                        .get_mut(&(reg as usize))
                        .unwrap()
                        .names
                        .insert(key.unwrap(), addr);
                }
            }
            w.bmodels.get_mut(&addr).unwrap().refs += 1;
            w.breakers.push(b);
        }
        Op::RegistryGet { r, name } => {
            if w.breakers.len() >= MAX_HANDLES {
                return;
            }
            let Some((_, reg)) = pick(&w.registries, *r) else {
                return;
            };
            let name = name_of(name);
            let existing = name
                .as_ref()
                .and_then(|n| w.rmodels[&(reg as usize)].names.get(n.to_bytes()).copied());
            let allowed: &[R] = match (&name, existing) {
                (None, _) => &[R::NullParameter],
                (Some(_), Some(_)) => &[R::Ok],
                (Some(_), None) => &[R::NotFound, R::InvalidArgument],
            };
            let n = name_ptr(&name);
            let get = |out| unsafe { seawall_registry_get(reg, n, out) };
            if let Some(b) = create("seawall_registry_get", allowed, before, get) {
                assert_eq!(Some(b as usize), existing);
                w.bmodels.get_mut(&(b as usize)).unwrap().refs += 1;
                w.breakers.push(b);
            }
        }
        Op::RegistryRemove { r, name } => {
            let Some((_, reg)) = pick(&w.registries, *r) else {
                return;
            };
            let name = name_of(name);
            let res = unsafe { seawall_registry_remove(reg, name_ptr(&name)) };
            let existing = name.as_ref().and_then(|n| {
                w.rmodels
                    .get_mut(&(reg as usize))
                    .unwrap()
                    .names
                    .remove(n.to_bytes())
            });
            let allowed: &[R] = match (&name, existing) {
                (None, _) => &[R::NullParameter],
                (Some(_), Some(_)) => &[R::Ok],
                (Some(_), None) => &[R::NotFound, R::InvalidArgument],
            };
            expect("seawall_registry_remove", res, allowed, before);
            if let Some(b) = existing {
                w.breaker_unref(b, true);
            }
        }
        Op::RegistryCount(i) => {
            if let Some((_, reg)) = pick(&w.registries, *i) {
                let mut n = 0xA5usize;
                let r = unsafe { seawall_registry_count(reg, &mut n) };
                expect("seawall_registry_count", r, &[R::Ok], before);
                assert_eq!(n, w.rmodels[&(reg as usize)].names.len());
            }
        }
        Op::RegistryForEach { r, stop_after } => {
            let Some((_, reg)) = pick(&w.registries, *r) else {
                return;
            };
            let mut v = Visit {
                seen: Vec::new(),
                last: None,
                stop_after: usize::from(*stop_after).max(1),
            };
            let res = unsafe {
                seawall_registry_for_each(reg, Some(visit), ptr::from_mut(&mut v).cast())
            };
            expect("seawall_registry_for_each", res, &[R::Ok], before);
            let names = &w.rmodels[&(reg as usize)].names;
            let expected: Vec<(Vec<u8>, usize)> = names
                .iter()
                .map(|(k, v)| (k.clone(), *v))
                .take(v.stop_after)
                .collect();
            assert_eq!(v.seen, expected, "for_each visited otherwise");
        }
        _ => unreachable!("step dispatches {op:?} elsewhere"),
    }
}

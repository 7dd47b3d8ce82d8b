//! Tier 0 property tests (proptest; case counts sized for CI, raise them
//! with PROPTEST_CASES): random interleavings of calls, outcomes,
//! coordinator steps, store outages and time, checked against plain models.

use std::time::Duration;

use proptest::prelude::*;
use seawall::{BreakerConfig, Outcome, State};

use super::engine::{patient, Fleet};
use crate::store::{Command, Store, TrialResults};
use crate::FleetConfig;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

#[derive(Clone, Debug)]
enum Op {
    Outcome(usize, bool, usize),
    Step(usize),
    Down,
    Up,
}

fn op(n: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..n, any::<bool>(), 1..20usize).prop_map(|(i, ok, k)| Op::Outcome(i, ok, k)),
        4 => (0..n).prop_map(Op::Step),
        1 => Just(Op::Down),
        1 => Just(Op::Up),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    /// What reaches the fleet window is exactly what was counted while the
    /// instance was connected and flushed: outcomes counted during an
    /// outage (or pending when it began) are dropped, never replayed.
    #[test]
    fn outage_counts_are_never_replayed(ops in proptest::collection::vec(op(3), 1..60)) {
        let fleet = FleetConfig {
            failure_rate_threshold: None,
            failure_count_threshold: Some(u32::MAX),
            ..FleetConfig::default()
        };
        let f = Fleet::new(3, patient(), fleet);
        let mut down = false;
        // Per instance: connected?, pending (ok, fail); fleet window totals.
        let mut connected = [true; 3];
        let mut pending = [(0u64, 0u64); 3];
        let mut window = (0u64, 0u64);
        for op in ops {
            match op {
                Op::Outcome(i, ok, k) => {
                    let o = if ok { Outcome::Success } else { Outcome::Failure };
                    f.record(i, o, k);
                    if ok { pending[i].0 += k as u64 } else { pending[i].1 += k as u64 }
                }
                Op::Step(i) => {
                    f.step(i);
                    if down {
                        connected[i] = false;
                    } else if connected[i] {
                        window.0 += pending[i].0;
                        window.1 += pending[i].1;
                    } else {
                        connected[i] = true;
                    }
                    pending[i] = (0, 0);
                    prop_assert_eq!(f.breakers[i].fleet().degraded, down);
                }
                Op::Down => { down = true; f.store.set_down(true) }
                Op::Up => { down = false; f.store.set_down(false) }
            }
        }
        f.store.set_down(false);
        let sh = f.breakers[0].shared();
        let (_, s) = f.store.clone().flush(&sh.keys, &sh.params, "probe", 0, 0, 0).unwrap();
        prop_assert_eq!((s.successes, s.failures), window);
        for b in &f.breakers {
            prop_assert_eq!(b.state(), State::Closed);
        }
    }

    /// However calls, outcomes and coordinator steps interleave, the trial
    /// calls of one fleet HALF_OPEN generation in flight across all
    /// instances never exceed `half_open_max_calls`.
    #[test]
    fn fleet_trial_permits_never_exceed_the_bound(
        max in 1u32..4,
        ops in proptest::collection::vec((0..3usize, 0..4u8), 1..120),
    ) {
        let local = BreakerConfig { half_open_max_calls: max, success_threshold: 3, ..patient() };
        let f = Fleet::new(3, local, super::engine::fleet_config());
        f.record(0, Outcome::Failure, 10);
        f.record(1, Outcome::Failure, 10);
        f.step_all();
        f.step_all();
        f.advance(Duration::from_secs(1));
        let breakers = &f.breakers;
        let mut held = Vec::new();
        for (i, action) in ops {
            match action {
                0 => {
                    if let Ok(p) = breakers[i].try_acquire() {
                        if let Some(tag) = p.trial_tag() {
                            held.push((i, tag, p));
                        } else {
                            p.success();
                        }
                    }
                }
                1 => f.step(i),
                2 => {
                    if let Some(pos) = held.iter().position(|(j, _, _)| *j == i) {
                        held.remove(pos).2.success();
                    }
                }
                _ => {
                    if let Some(pos) = held.iter().position(|(j, _, _)| *j == i) {
                        let p = held.remove(pos).2;
                        if i == 2 { p.failure() } else { drop(p) }
                    }
                }
            }
            // The store is the authority on the current generation.
            let sh = breakers[0].shared();
            let gen = f.store.clone().read(&sh.keys).unwrap().gen as u32;
            let current = held.iter().filter(|(_, tag, _)| *tag == gen).count();
            prop_assert!(current <= max as usize, "{} trials of generation {}", current, gen);
        }
    }

    /// Generations only grow within an epoch, and a trial result of any
    /// generation but the current HALF_OPEN one is fenced.
    #[test]
    fn generations_grow_and_stale_results_are_fenced(
        ops in proptest::collection::vec((0..6u8, 0..4u64, 0..400i64), 1..80),
    ) {
        let mut store = crate::store::memory::MemoryStore::new();
        let k = crate::keys::Keys::new("p", "g").unwrap();
        let p = super::params(&k, |p| { p.min_failing = 1; p.open_ms = 100; p.open_max_ms = 100; p.lease_ms = 300; });
        let mut last = store.flush(&k, &p, "a", 1, 0, 0).unwrap().0;
        for (what, gen_back, ms) in ops {
            store.advance_ms(ms);
            let before = store.read(&k).unwrap();
            let view = match what {
                0 => store.flush(&k, &p, "a", 0, 10, 0).unwrap().0,
                1 => store.flush(&k, &p, "b", 10, 0, 0).unwrap().0,
                2 => store.trial(&k, &p, TrialResults::default(), 1).unwrap().view,
                3 | 4 => {
                    let gen = before.gen.saturating_sub(gen_back);
                    let r = TrialResults { gen, successes: u64::from(what == 3), failures: u64::from(what == 4), freed: 0 };
                    let a = store.trial(&k, &p, r, 0).unwrap();
                    let current = before.kind == crate::store::FleetKind::HalfOpen && gen == before.gen
                        && store_settled_same(&before, &a.view);
                    if !current {
                        prop_assert!(a.fenced || a.view.gen > before.gen, "{:?} -> {:?}", before, a);
                    }
                    a.view
                }
                _ => store.command(&k, &p, Command::Reset).unwrap(),
            };
            prop_assert_eq!(&view.epoch, &last.epoch);
            prop_assert!(view.gen >= last.gen);
            last = view;
        }
    }
}

/// Did the trial script see the state `before` showed (no lease expiry or
/// other time-driven move in between)?
fn store_settled_same(before: &crate::store::View, after: &crate::store::View) -> bool {
    after.gen <= before.gen + 1
}

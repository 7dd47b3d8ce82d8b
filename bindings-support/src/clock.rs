//! The clock of every engine built by a binding.

use seawall::clock::EventCount;
use seawall::{Clock, ManualClock, QuantaClock};

/// The production clock, or a manual clock that tests move by hand.
///
/// C and Python cannot name a generic type, so the bindings fix the
/// engines' clock parameter to this enum. The match costs one predictable
/// branch, and only on the paths that read the clock at all (rejections,
/// transitions, slow-call timing, waits), never on an admitted call of a
/// CLOSED breaker.
#[derive(Clone, Debug, Default)]
pub enum DynClock {
    /// [`QuantaClock`]: the production clock.
    #[default]
    Quanta,
    /// A [`ManualClock`] shared with the caller, which moves it.
    Manual(ManualClock),
}

impl DynClock {
    /// The manual clock `clock` if there is one, else the production clock:
    /// the clock an engine's optional `clock` argument names.
    pub fn manual_or_quanta(clock: Option<&ManualClock>) -> Self {
        clock.map_or(DynClock::Quanta, |c| DynClock::Manual(c.clone()))
    }
}

impl Clock for DynClock {
    #[inline]
    fn now(&self) -> u64 {
        match self {
            DynClock::Quanta => QuantaClock.now(),
            DynClock::Manual(m) => m.now(),
        }
    }

    #[inline]
    fn recent(&self) -> u64 {
        match self {
            DynClock::Quanta => QuantaClock.recent(),
            DynClock::Manual(m) => m.recent(),
        }
    }

    #[inline]
    fn recent_at_once(&self) -> Option<u64> {
        match self {
            DynClock::Quanta => QuantaClock.recent_at_once(),
            DynClock::Manual(m) => m.recent_at_once(),
        }
    }

    /// The manual clock's: its moves wake the waits on it.
    #[inline]
    fn moves(&self) -> Option<&EventCount> {
        match self {
            DynClock::Quanta => QuantaClock.moves(),
            DynClock::Manual(m) => m.moves(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_manual_clock_is_shared_and_wakes_waits() {
        let m = ManualClock::new();
        let c = DynClock::manual_or_quanta(Some(&m));
        m.advance(Duration::from_nanos(5));
        assert_eq!(c.now(), 5);
        assert_eq!(c.recent(), 5);
        assert_eq!(c.recent_at_once(), Some(5));
        assert!(c.moves().is_some());
    }

    #[test]
    fn the_production_clock_is_the_default() {
        let c = DynClock::manual_or_quanta(None);
        assert!(matches!(c, DynClock::Quanta));
        assert!(c.moves().is_none());
        assert!(c.recent() <= c.now());
    }
}

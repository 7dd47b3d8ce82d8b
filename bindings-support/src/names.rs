//! The numbers and names of the breaker's states and of call outcomes:
//! the one table each that the C enums (`seawall_state`,
//! `seawall_outcome`), the C name function (`seawall_state_name`) and the
//! Python enum members (`CircuitState.HALF_OPEN`, ...) are read from.

use std::ffi::CStr;

use seawall::{Outcome, State};

/// Every state, in number order: a state's number is its index. The
/// numbers are compiled into C callers and never change.
pub const STATES: [State; 5] = [
    State::Closed,
    State::Open,
    State::HalfOpen,
    State::ForcedOpen,
    State::ForcedClosed,
];

/// The upper-case names of [`STATES`], NUL-terminated for C; each is the
/// core's [`State::as_str`] and the name of the Python `CircuitState`
/// member.
const STATE_NAMES: [&CStr; 5] = [
    c"CLOSED",
    c"OPEN",
    c"HALF_OPEN",
    c"FORCED_OPEN",
    c"FORCED_CLOSED",
];

/// The number of `s`.
#[inline]
pub const fn state_number(s: State) -> u32 {
    // The discriminants of `State` follow the order of `STATES` (checked by
    // the tests below), so the number is the index without a table walk.
    match s {
        State::Closed => 0,
        State::Open => 1,
        State::HalfOpen => 2,
        State::ForcedOpen => 3,
        State::ForcedClosed => 4,
    }
}

/// The state numbered `n`, if any.
#[inline]
pub fn state_of(n: u32) -> Option<State> {
    STATES.get(usize::try_from(n).ok()?).copied()
}

/// The upper-case name of `s` (`"HALF_OPEN"`), a static C string.
#[inline]
pub fn state_c_name(s: State) -> &'static CStr {
    STATE_NAMES[state_number(s) as usize]
}

/// Every outcome, in number order: an outcome's number is its index.
pub const OUTCOMES: [Outcome; 3] = [Outcome::Success, Outcome::Failure, Outcome::Ignored];

/// The number of `o`.
#[inline]
pub const fn outcome_number(o: Outcome) -> u32 {
    match o {
        Outcome::Success => 0,
        Outcome::Failure => 1,
        Outcome::Ignored => 2,
    }
}

/// The outcome numbered `n`, if any.
#[inline]
pub fn outcome_of(n: u32) -> Option<Outcome> {
    OUTCOMES.get(usize::try_from(n).ok()?).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_are_numbered_by_their_place_in_the_table() {
        for (i, s) in STATES.iter().enumerate() {
            assert_eq!(state_number(*s) as usize, i);
            assert_eq!(state_of(i as u32), Some(*s));
            assert_eq!(state_c_name(*s).to_str().unwrap(), s.as_str());
        }
        assert_eq!(state_of(5), None);
        assert_eq!(state_of(u32::MAX), None);
    }

    #[test]
    fn outcomes_are_numbered_by_their_place_in_the_table() {
        for (i, o) in OUTCOMES.iter().enumerate() {
            assert_eq!(outcome_number(*o) as usize, i);
            assert_eq!(outcome_of(i as u32), Some(*o));
        }
        assert_eq!(outcome_of(3), None);
    }
}

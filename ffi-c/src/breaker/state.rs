//! The numbers of the breaker's states and of call outcomes as C sees
//! them: the C enums, read from the one table of the bindings
//! (`seawall_bindings_support::names`).

use std::ffi::c_char;

use seawall::State;
use seawall_bindings_support::names;

use crate::error::run_value;

/// A breaker state.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum seawall_state {
    /// Calls flow; outcomes are counted against the trip rules.
    Closed = 0,
    /// Calls are rejected until the open time has passed.
    Open = 1,
    /// A bounded number of trial calls decide whether to close or reopen.
    HalfOpen = 2,
    /// Opened by hand: every call is rejected until reset.
    ForcedOpen = 3,
    /// Closed by hand: every call is admitted and measured, nothing trips.
    ForcedClosed = 4,
}

// The C name of each core state; the numbers are the table's
// (`names::state_number`, checked by the tests below). A match rather than
// a look-up in that table: it compiles to nothing, on the rejection path.
crate::config::mirror_enum!(State => seawall_state { Closed, Open, HalfOpen, ForcedOpen, ForcedClosed });

/// What a call's result counts as, for `seawall_breaker_report`.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum seawall_outcome {
    /// Counts toward closing and resets the consecutive-failure count.
    Success = 0,
    /// Counts toward opening.
    Failure = 1,
    /// Neutral: counted in the metrics only; frees a trial slot.
    Ignored = 2,
}

/// The upper-case name of a state (`"CLOSED"`, `"HALF_OPEN"`, ...), a
/// static string; `"UNKNOWN"` for a number that is not a state.
#[no_mangle]
pub extern "C" fn seawall_state_name(state: u32) -> *const c_char {
    run_value("seawall_state_name", c"UNKNOWN".as_ptr(), || {
        names::state_of(state)
            .map_or(c"UNKNOWN", names::state_c_name)
            .as_ptr()
    })
}

#[cfg(test)]
mod tests {
    use seawall::Outcome;

    use super::*;

    #[test]
    fn c_numbers_are_the_tables_numbers() {
        for (i, s) in names::STATES.iter().enumerate() {
            assert_eq!(seawall_state::from(*s) as u32, i as u32);
            // SAFETY: seawall_state_name returns a static C string.
            let name = unsafe { std::ffi::CStr::from_ptr(seawall_state_name(i as u32)) };
            assert_eq!(name.to_str().unwrap(), s.as_str());
        }
        // SAFETY: as above.
        let unknown = unsafe { std::ffi::CStr::from_ptr(seawall_state_name(5)) };
        assert_eq!(unknown.to_str().unwrap(), "UNKNOWN");
        let outcomes = [
            (seawall_outcome::Success, Outcome::Success),
            (seawall_outcome::Failure, Outcome::Failure),
            (seawall_outcome::Ignored, Outcome::Ignored),
        ];
        for (c, o) in outcomes {
            assert_eq!(c as u32, names::outcome_number(o));
        }
    }
}

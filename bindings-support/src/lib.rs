//! # The glue both faces of seawall share
//!
//! The C ABI (`ffi-c/`) and the Python module (`bindings-python/`) translate
//! the same core into two languages. What the translation needs on both
//! sides lives here, once:
//!
//! * [`clock`]: [`DynClock`], the clock chosen at run time (the production
//!   clock or a manual one), since neither C nor Python can name a type
//!   parameter;
//! * [`names`]: the numbers and names of the breaker's states and of call
//!   outcomes, one table each;
//! * [`duration`]: seconds (`f64`) and nanoseconds (`u64`) to and from
//!   [`std::time::Duration`], with errors naming the field;
//! * [`fields`]: the wording of errors about an argument or a setting, and
//!   the C spelling of the core's field names.
//!
//! Nothing here decides anything: decisions are the core's.

pub mod clock;
pub mod duration;
pub mod fields;
pub mod names;

pub use clock::DynClock;

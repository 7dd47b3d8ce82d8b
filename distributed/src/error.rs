//! What building a distributed breaker, limiter or coordinator can fail on.

use crate::keys::KeyError;
use crate::store::StoreError;

/// Why a distributed breaker or coordinator could not be built.
#[derive(Debug)]
pub enum Error {
    /// A configuration field out of range (names the field).
    Config(seawall::ConfigError),
    /// A namespace or breaker name that cannot form valid keys.
    Key(KeyError),
    /// The store could not be set up (an invalid URL, a thread that could
    /// not start). An unreachable server is not an error: the coordinator
    /// starts degraded and keeps trying.
    Store(StoreError),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Config(e) => e.fmt(f),
            Error::Key(e) => e.fmt(f),
            Error::Store(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Error {}

impl From<seawall::ConfigError> for Error {
    fn from(e: seawall::ConfigError) -> Self {
        Error::Config(e)
    }
}

impl From<KeyError> for Error {
    fn from(e: KeyError) -> Self {
        Error::Key(e)
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        Error::Store(e)
    }
}

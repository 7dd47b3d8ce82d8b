//! Key names: `<namespace>:cb:{<name>}` and its suffixes, so all keys of one
//! breaker share one hash tag (one Redis Cluster slot), and validation of the
//! parts that would break that.

use std::fmt;

/// The longest namespace accepted, in bytes.
pub const MAX_NAMESPACE: usize = 100;
/// The longest breaker name accepted, in bytes.
pub const MAX_NAME: usize = 200;

/// A namespace or breaker name that cannot form keys with one hash tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyError {
    /// `"namespace"` or `"name"`.
    pub field: &'static str,
    /// The rejected value.
    pub value: String,
    /// Why it is rejected.
    pub reason: &'static str,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid {} {:?}: {}",
            self.field, self.value, self.reason
        )
    }
}

impl std::error::Error for KeyError {}

fn check(field: &'static str, value: &str, max: usize) -> Result<(), KeyError> {
    let reason = if value.is_empty() {
        "must not be empty"
    } else if value.len() > max {
        if field == "namespace" {
            "must be at most 100 bytes"
        } else {
            "must be at most 200 bytes"
        }
    } else if value.contains(['{', '}']) {
        // Redis Cluster hashes the first `{...}` of a key: a brace in the
        // namespace would become the tag of every breaker's keys (one slot
        // for all), and one in the name would split a breaker's keys.
        "must not contain '{' or '}' (they would change the key's Redis Cluster hash tag)"
    } else if value.chars().any(char::is_control) {
        "must not contain control characters"
    } else {
        return Ok(());
    };
    Err(KeyError {
        field,
        value: value.to_owned(),
        reason,
    })
}

/// Checks a namespace on its own (a coordinator's, before any breaker).
pub(crate) fn check_namespace(namespace: &str) -> Result<(), KeyError> {
    check("namespace", namespace, MAX_NAMESPACE)
}

/// The keys of one breaker and the namespace's event channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Keys {
    /// The breaker's name, as published in events.
    pub name: String,
    /// Hash: state, generation, epoch, deadlines, trial bookkeeping.
    pub state: String,
    /// Hash: `<bucket>:s` / `<bucket>:f` counts of the fleet window.
    pub window: String,
    /// Sorted set: instances with failures in the window (the quorum).
    pub failing: String,
    /// Sorted set: instances that reported recently.
    pub members: String,
    /// Hash: configuration fingerprint -> when an instance last flushed
    /// with it.
    pub configs: String,
    /// Pub/sub channel of every breaker in the namespace (not a key).
    pub channel: String,
}

impl Keys {
    pub(crate) fn new(namespace: &str, name: &str) -> Result<Self, KeyError> {
        check_namespace(namespace)?;
        check("name", name, MAX_NAME)?;
        let base = format!("{namespace}:cb:{{{name}}}");
        Ok(Self {
            name: name.to_owned(),
            window: format!("{base}:w"),
            failing: format!("{base}:fi"),
            members: format!("{base}:m"),
            configs: format!("{base}:cfg"),
            state: base,
            channel: channel(namespace),
        })
    }

    /// The five keys, in the scripts' `KEYS` order.
    pub(crate) fn all(&self) -> [&str; 5] {
        [
            &self.state,
            &self.window,
            &self.failing,
            &self.members,
            &self.configs,
        ]
    }
}

/// The keys of one fleet rate limiter: `<namespace>:rl:{<name>}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LimiterKeys {
    /// Hash: `tat`, the theoretical arrival time in server microseconds.
    pub rate: String,
    /// Sorted set: instances that leased recently (the fallback's divisor).
    pub members: String,
}

impl LimiterKeys {
    pub(crate) fn new(namespace: &str, name: &str) -> Result<Self, KeyError> {
        check_namespace(namespace)?;
        check("name", name, MAX_NAME)?;
        let rate = format!("{namespace}:rl:{{{name}}}");
        Ok(Self {
            members: format!("{rate}:m"),
            rate,
        })
    }
}

/// The namespace's event channel.
pub(crate) fn channel(namespace: &str) -> String {
    format!("{namespace}:cb:events")
}

/// The Redis Cluster slot of a key (CRC16/XMODEM of its hash tag, mod 16384).
#[cfg(test)]
pub(crate) fn slot(key: &str) -> u16 {
    let bytes = key.as_bytes();
    let tagged = match bytes.iter().position(|&b| b == b'{') {
        Some(open) => match bytes[open + 1..].iter().position(|&b| b == b'}') {
            Some(len) if len > 0 => &bytes[open + 1..open + 1 + len],
            _ => bytes,
        },
        None => bytes,
    };
    let mut crc: u16 = 0;
    for &b in tagged {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc % 16384
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_of_a_breaker_shares_one_slot() {
        let k = Keys::new("svc", "payments").unwrap();
        assert_eq!(k.state, "svc:cb:{payments}");
        let s = slot(&k.state);
        for key in k.all() {
            assert_eq!(slot(key), s, "{key}");
        }
        assert_eq!(slot("123456789"), 12739, "CRC16/XMODEM check value");
        assert_ne!(slot(&Keys::new("svc", "users").unwrap().state), s);
        let l = LimiterKeys::new("svc", "payments").unwrap();
        assert_eq!(l.rate, "svc:rl:{payments}");
        assert_eq!(slot(&l.members), slot(&l.rate));
        assert_eq!(LimiterKeys::new("svc", "a{b").unwrap_err().field, "name");
    }

    #[test]
    fn braces_empty_and_long_parts_are_rejected_by_name() {
        let e = Keys::new("{svc}", "a").unwrap_err();
        assert_eq!(e.field, "namespace");
        assert!(e.to_string().contains("hash tag"), "{e}");
        assert_eq!(Keys::new("svc", "a}b").unwrap_err().field, "name");
        assert_eq!(Keys::new("", "a").unwrap_err().reason, "must not be empty");
        assert_eq!(Keys::new("svc", "").unwrap_err().field, "name");
        assert!(Keys::new("svc", &"x".repeat(201)).is_err());
        assert!(Keys::new("svc", &"x".repeat(200)).is_ok());
        assert!(Keys::new(&"n".repeat(101), "a").is_err());
        assert!(Keys::new("svc", "a\nb").is_err());
        assert!(Keys::new("svc", "a|b:c").is_ok());
    }
}

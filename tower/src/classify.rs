//! How a circuit breaker judges a finished call: a [`Classify`] maps the
//! inner service's result to the [`Outcome`] the breaker records.

use seawall::Outcome;

/// Maps a finished call's result to the [`Outcome`] its breaker records.
pub trait Classify<Res, E> {
    /// The outcome of a call that ended with `result`.
    fn classify(&self, result: &Result<Res, E>) -> Outcome;
}

/// The default classifier: every `Err` is a failure, every `Ok` a success.
#[derive(Clone, Copy, Debug, Default)]
pub struct ClassifyErrors;

impl<Res, E> Classify<Res, E> for ClassifyErrors {
    fn classify(&self, result: &Result<Res, E>) -> Outcome {
        match result {
            Ok(_) => Outcome::Success,
            Err(_) => Outcome::Failure,
        }
    }
}

/// A classifier from a closure over the call's result, for example one that
/// counts an HTTP response's 5xx status as a failure:
///
/// ```
/// use seawall::Outcome;
/// use seawall_tower::{Classify, ClassifyFn};
///
/// // (status, body) stands in for a response type.
/// let classify = ClassifyFn::new(|r: &Result<(u16, String), std::io::Error>| match r {
///     Ok((status, _)) if *status >= 500 => Outcome::Failure,
///     Ok(_) => Outcome::Success,
///     Err(_) => Outcome::Failure,
/// });
/// assert_eq!(classify.classify(&Ok((503, String::new()))), Outcome::Failure);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct ClassifyFn<F>(F);

impl<F> ClassifyFn<F> {
    /// A classifier that asks `f`.
    pub fn new(f: F) -> Self {
        Self(f)
    }
}

impl<Res, E, F> Classify<Res, E> for ClassifyFn<F>
where
    F: Fn(&Result<Res, E>) -> Outcome,
{
    fn classify(&self, result: &Result<Res, E>) -> Outcome {
        (self.0)(result)
    }
}

/// Counts an HTTP response with a server-error status (5xx) as a failure,
/// any other response as a success, and every `Err` as a failure.
#[cfg(feature = "http")]
#[derive(Clone, Copy, Debug, Default)]
pub struct HttpStatusClassifier;

#[cfg(feature = "http")]
impl<B, E> Classify<http::Response<B>, E> for HttpStatusClassifier {
    fn classify(&self, result: &Result<http::Response<B>, E>) -> Outcome {
        match result {
            Ok(response) if response.status().is_server_error() => Outcome::Failure,
            Ok(_) => Outcome::Success,
            Err(_) => Outcome::Failure,
        }
    }
}

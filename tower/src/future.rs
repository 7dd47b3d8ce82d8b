//! The response future shared by the breaker, bulkhead and rate-limit
//! services: a refusal ready at once, or the inner call with what the layer
//! holds for it (a [`Guard`]).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use crate::error::{Error, Refusal};

/// What a layer holds while the inner call runs: told how the call ended
/// when its future completes, and dropped unfinished if the future is
/// dropped first.
pub trait Guard<Res, E> {
    /// The inner call ended with `result`.
    fn finish(self, result: &Result<Res, E>);
}

/// Nothing held (the rate limiter's admission needs no release).
impl<Res, E> Guard<Res, E> for () {
    fn finish(self, _: &Result<Res, E>) {}
}

pin_project! {
    /// The future of a Seawall service's call: ready at once with the
    /// refusal when an engine refused the call, else the inner service's
    /// future, whose outcome is handed to the guard `G` when it completes.
    pub struct ResponseFuture<F, G> {
        #[pin]
        state: State<F, G>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, G> {
        Refused { refusal: Option<Refusal> },
        Running { #[pin] future: F, guard: Option<G> },
    }
}

impl<F, G> ResponseFuture<F, G> {
    pub(crate) fn refused(refusal: Refusal) -> Self {
        Self {
            state: State::Refused {
                refusal: Some(refusal),
            },
        }
    }

    pub(crate) fn running(future: F, guard: G) -> Self {
        Self {
            state: State::Running {
                future,
                guard: Some(guard),
            },
        }
    }
}

impl<F, G, Res, E> Future for ResponseFuture<F, G>
where
    F: Future<Output = Result<Res, E>>,
    G: Guard<Res, E>,
{
    type Output = Result<Res, Error<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Refused { refusal } => Poll::Ready(Err(refusal
                .take()
                .expect("a refused response future polled after it completed")
                .into_error())),
            StateProj::Running { future, guard } => {
                let result = match future.poll(cx) {
                    Poll::Ready(result) => result,
                    Poll::Pending => return Poll::Pending,
                };
                if let Some(guard) = guard.take() {
                    guard.finish(&result);
                }
                Poll::Ready(result.map_err(Error::Inner))
            }
        }
    }
}

impl<F, G> std::fmt::Debug for ResponseFuture<F, G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.state {
            State::Refused { .. } => "refused",
            State::Running { .. } => "running",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}

//! A real HTTP server on loopback and a hyper client as a tower service, for
//! the layers' tests.

#![allow(dead_code)] // Each test file uses a part.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use seawall::{Breaker, BreakerConfig, ManualClock};
use seawall_tower::{CircuitBreakerLayer, HttpStatusClassifier};
use tokio::sync::Notify;

/// A breaker named `http` on a manual clock, and a layer over it that
/// counts 5xx responses as failures.
pub fn http_breaker(
    config: BreakerConfig,
) -> (
    CircuitBreakerLayer<HttpStatusClassifier, ManualClock>,
    Arc<Breaker<ManualClock>>,
    ManualClock,
) {
    let clock = ManualClock::new();
    let breaker = Arc::new(Breaker::with_clock("http", config, clock.clone()).unwrap());
    let layer =
        CircuitBreakerLayer::new(Arc::clone(&breaker)).with_classifier(HttpStatusClassifier);
    (layer, breaker, clock)
}

/// The server's side: the requests it saw, and the gate that `/hang` waits
/// on.
#[derive(Default)]
pub struct Server {
    hits: AtomicUsize,
    flaky: AtomicUsize,
    /// Each `notify_one` lets one `/hang` request answer 200.
    pub release: Notify,
}

impl Server {
    /// Requests the server has received, on every route.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

async fn ok(State(s): State<Arc<Server>>) -> StatusCode {
    s.hits.fetch_add(1, Ordering::SeqCst);
    StatusCode::OK
}

async fn fail(State(s): State<Arc<Server>>) -> StatusCode {
    s.hits.fetch_add(1, Ordering::SeqCst);
    StatusCode::INTERNAL_SERVER_ERROR
}

async fn busy(State(s): State<Arc<Server>>) -> StatusCode {
    s.hits.fetch_add(1, Ordering::SeqCst);
    StatusCode::SERVICE_UNAVAILABLE
}

/// 503 to its first request, 200 to every later one.
async fn flaky(State(s): State<Arc<Server>>) -> StatusCode {
    s.hits.fetch_add(1, Ordering::SeqCst);
    if s.flaky.fetch_add(1, Ordering::SeqCst) == 0 {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    }
}

/// Answers 200 once the test releases it.
async fn hang(State(s): State<Arc<Server>>) -> StatusCode {
    s.hits.fetch_add(1, Ordering::SeqCst);
    s.release.notified().await;
    StatusCode::OK
}

/// One request the client makes: `GET path`. `idempotent` is what a retry
/// classifier may look at.
#[derive(Clone, Copy, Debug)]
pub struct Call {
    pub path: &'static str,
    pub idempotent: bool,
}

impl Call {
    pub fn get(path: &'static str) -> Self {
        Self {
            path,
            idempotent: true,
        }
    }

    pub fn post(path: &'static str) -> Self {
        Self {
            path,
            idempotent: false,
        }
    }
}

pub type Response = hyper::Response<Incoming>;
pub type ClientError = hyper_util::client::legacy::Error;

/// Starts the server on `127.0.0.1:0` (in the test's runtime) and returns
/// it with a client service for it: `Call` in, the server's response out.
pub async fn start() -> (
    Arc<Server>,
    impl tower::Service<
            Call,
            Response = Response,
            Error = ClientError,
            Future = impl std::future::Future<Output = Result<Response, ClientError>> + Send + 'static,
        > + Clone
        + Send
        + 'static,
) {
    let server = Arc::new(Server::default());
    let app = Router::new()
        .route("/ok", get(ok))
        .route("/fail", get(fail))
        .route("/busy", get(busy))
        .route("/flaky", get(flaky))
        .route("/hang", get(hang))
        .with_state(Arc::clone(&server));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let client: Client<HttpConnector, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let service = tower::service_fn(move |call: Call| {
        let client = client.clone();
        let request = hyper::Request::get(format!("http://{addr}{}", call.path))
            .body(Empty::new())
            .unwrap();
        async move { client.request(request).await }
    });
    (server, service)
}

/// Polls `svc` ready and calls it with `call`.
pub async fn send<S: tower::Service<Call>>(
    svc: &mut S,
    call: Call,
) -> Result<S::Response, S::Error> {
    std::future::poll_fn(|cx| svc.poll_ready(cx)).await?;
    svc.call(call).await
}

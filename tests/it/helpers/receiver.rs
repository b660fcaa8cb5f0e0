//! A recording HTTP receiver on 127.0.0.1 for alert channels (Slack, PagerDuty, webhooks):
//! it records every request — method, path, headers, body, arrival — and answers from a
//! script (e.g. 429 with `Retry-After`, then 200), then with its default answer.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::PATIENCE;

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// With the query string.
    pub path: String,
    /// Lowercase names; a header sent more than once has its values joined by ", ".
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
    pub at: Instant,
}

impl Recorded {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|err| {
            panic!(
                "body is not JSON ({err}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: String::new(),
        }
    }

    pub fn ok() -> Reply {
        Reply::status(200).body("ok")
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn body(mut self, body: &str) -> Reply {
        self.body = body.to_owned();
        self
    }
}

#[derive(Default)]
struct Inner {
    requests: Vec<Recorded>,
    script: VecDeque<Reply>,
    default: Option<Reply>,
}

/// Stops when dropped.
pub struct Receiver {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    shutdown: CancellationToken,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Receiver {
    /// On a free port, answering 200 until scripted otherwise.
    pub async fn spawn() -> Receiver {
        Receiver::spawn_on("127.0.0.1:0".parse().unwrap()).await
    }

    /// On `addr`: a port a channel was already pointed at while nothing listened there.
    pub async fn spawn_on(addr: SocketAddr) -> Receiver {
        let listener = TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let inner = Arc::new(Mutex::new(Inner::default()));
        let shutdown = CancellationToken::new();
        let router = axum::Router::new()
            .fallback(record)
            .with_state(inner.clone());
        let stop = shutdown.clone();
        tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await
                .unwrap();
        });
        Receiver {
            addr,
            inner,
            shutdown,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Answer the next requests with `replies`, in order; then the default.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.inner.lock().unwrap().script.extend(replies);
    }

    /// The answer once the script is used up (200 "ok" unless set).
    pub fn always(&self, reply: Reply) {
        self.inner.lock().unwrap().default = Some(reply);
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.inner.lock().unwrap().requests.clone()
    }

    /// Poll until at least `n` requests arrived, or fail after PATIENCE.
    pub async fn wait_for(&self, n: usize) -> Vec<Recorded> {
        let started = Instant::now();
        loop {
            let requests = self.requests();
            if requests.len() >= n {
                return requests;
            }
            assert!(
                started.elapsed() < PATIENCE,
                "timed out waiting for {n} requests; got {}",
                requests.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn record(
    State(inner): State<Arc<Mutex<Inner>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut inner = inner.lock().unwrap();
    inner.requests.push(Recorded {
        method: method.to_string(),
        path: uri
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        // A header sent twice is kept as both values joined by ", ", as HTTP reads it: a
        // test asking for one value sees the duplicate.
        headers: headers
            .keys()
            .map(|name| {
                let values: Vec<&str> = headers
                    .get_all(name)
                    .iter()
                    .map(|value| value.to_str().unwrap_or_default())
                    .collect();
                (name.as_str().to_owned(), values.join(", "))
            })
            .collect(),
        body: body.to_vec(),
        at: Instant::now(),
    });
    let reply = inner
        .script
        .pop_front()
        .or_else(|| inner.default.clone())
        .unwrap_or_else(Reply::ok);
    let mut response = (
        StatusCode::from_u16(reply.status).unwrap(),
        reply.body.clone(),
    )
        .into_response();
    for (name, value) in &reply.headers {
        response.headers_mut().insert(
            axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    response
}

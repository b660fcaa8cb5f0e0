//! DNS → TCP → proxy tunnel → TLS, each phase timed apart on the monotonic clock, each failure
//! kept apart, because "did not resolve", "refused", "the proxy wants credentials" and
//! "certificate expired" point at different owners.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::timeout_at;
use tokio_rustls::client::TlsStream;

use super::happy_eyeballs;
use super::proxy::ProxyFailure;
use super::result::{AddressTried, Outcome, Peer, Phases, TlsInfo};
use super::timing::elapsed_ms;
use crate::config::{NetworkOptions, Proxy};

#[derive(Debug, Clone, PartialEq)]
pub enum NetFailure {
    Dns(String),
    Refused(String),
    /// Every attempt listed, with how each ended.
    ConnectTimeout(String),
    Tls(String),
    /// The egress proxy (its `host:port` second) did not open the tunnel.
    Proxy(ProxyFailure, String),
    /// wsprobe itself ran out of something (descriptors, memory, buffers, local ports): never
    /// the target's fault, so never `connect_refused` or `dns_failed`.
    Local(String),
}

impl NetFailure {
    pub fn message(&self) -> String {
        match self {
            NetFailure::Dns(m)
            | NetFailure::Refused(m)
            | NetFailure::ConnectTimeout(m)
            | NetFailure::Tls(m)
            | NetFailure::Local(m) => m.clone(),
            NetFailure::Proxy(failure, proxy) => failure.message(proxy),
        }
    }
}

/// Where to connect, taken from a `ws://` or `wss://` URL.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub secure: bool,
}

impl Endpoint {
    pub fn from_url(url: &url::Url) -> Result<Self, String> {
        let secure = match url.scheme() {
            "wss" | "https" => true,
            "ws" | "http" => false,
            other => return Err(format!("unsupported URL scheme {other:?}")),
        };
        let host =
            Self::bare_host(url.host_str().ok_or_else(|| "URL has no host".to_owned())?).to_owned();
        let port = url
            .port_or_known_default()
            .unwrap_or(if secure { 443 } else { 80 });
        Ok(Self { host, port, secure })
    }

    /// A URL's host without the brackets of an IPv6 literal.
    pub fn bare_host(host: &str) -> &str {
        host.trim_start_matches('[').trim_end_matches(']')
    }
}

pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// What the transport saw besides its phases, kept whether it got through or not.
#[derive(Debug, Default)]
pub struct Observed {
    pub peer: Option<Peer>,
    pub tried: Vec<AddressTried>,
}

/// How to reach the endpoint: the environment's network options and the proxy chosen for it.
pub struct Route<'a> {
    pub network: &'a NetworkOptions,
    pub proxy: Option<&'a Proxy>,
}

impl Route<'_> {
    /// The host and port wsprobe itself connects to: the proxy's, through one.
    fn first_hop<'e>(&'e self, endpoint: &'e Endpoint) -> (&'e str, u16) {
        match self.proxy {
            Some(proxy) => (proxy.host.as_str(), proxy.port),
            None => (endpoint.host.as_str(), endpoint.port),
        }
    }

    /// Whether a `dns` phase runs: the first hop is a name and no `resolve:` pin covers it.
    pub fn resolves(&self, endpoint: &Endpoint) -> bool {
        let (host, port) = self.first_hop(endpoint);
        host.parse::<IpAddr>().is_err() && self.network.pinned(host, port).is_none()
    }
}

/// Open the transport: resolve → connect (Happy Eyeballs) → proxy tunnel → TLS. Phases are
/// filled in as they complete, so a failure still shows how far the probe got and how long
/// each finished phase took.
pub async fn open(
    endpoint: &Endpoint,
    route: &Route<'_>,
    tls: Option<Arc<ClientConfig>>,
    deadline: Instant,
    phases: &mut Phases,
    observed: &mut Observed,
) -> Result<(Stream, Option<TlsInfo>), NetFailure> {
    let (host, port) = route.first_hop(endpoint);
    let addrs = resolve(host, port, route.network, deadline, phases).await?;
    let started = Instant::now();
    let (mut tcp, addr) =
        happy_eyeballs::race(&addrs, started, deadline, &mut observed.tried).await?;
    if let Some(winner) = observed
        .tried
        .iter()
        .find(|a| a.outcome == Outcome::Connected)
    {
        phases.connect = Some(winner.started_ms + winner.ms);
    }
    observed.peer = Some(Peer::of(&addr.ip()));
    let _ = tcp.set_nodelay(true);
    if let Some(proxy) = route.proxy {
        let started = Instant::now();
        let tunnel =
            super::proxy::open_tunnel(&mut tcp, proxy, &endpoint.host, endpoint.port, deadline)
                .await;
        phases.proxy = Some(elapsed_ms(started));
        tunnel?;
    }
    if !endpoint.secure {
        return Ok((Stream::Plain(tcp), None));
    }
    let config = tls.ok_or_else(|| NetFailure::Tls("no TLS configuration".to_owned()))?;
    let stream = secure(endpoint, tcp, config, deadline, phases).await?;
    let info = tls_info(&stream);
    Ok((Stream::Tls(Box::new(stream)), Some(info)))
}

/// Added to a failed handshake's error when the server had asked for a client certificate.
pub const CERTIFICATE_REQUESTED: &str = " (the server had asked for a client certificate)";

/// The TLS handshake over an open TCP connection (or tunnel), within the probe's deadline,
/// with the URL's host as the server name whatever address was connected to.
async fn secure(
    endpoint: &Endpoint,
    tcp: TcpStream,
    config: Arc<ClientConfig>,
    deadline: Instant,
    phases: &mut Phases,
) -> Result<TlsStream<TcpStream>, NetFailure> {
    let started = Instant::now();
    let server_name = ServerName::try_from(endpoint.host.clone())
        .map_err(|err| NetFailure::Tls(format!("invalid TLS server name: {err}")))?;
    let (config, asked) = super::tls::watching_certificate_requests(&config);
    let connector = tokio_rustls::TlsConnector::from(config);
    let handshake = connector.connect(server_name, tcp);
    let stream = match timeout_at(deadline.into(), handshake).await {
        Err(_) => return Err(NetFailure::Tls("TLS handshake timed out".to_owned())),
        Ok(Err(err)) => {
            let mut text = tls_error_text(&err);
            if asked.load(std::sync::atomic::Ordering::Relaxed) {
                text.push_str(CERTIFICATE_REQUESTED);
            }
            return Err(NetFailure::Tls(text));
        }
        Ok(Ok(stream)) => stream,
    };
    phases.tls = Some(elapsed_ms(started));
    Ok(stream)
}

/// The addresses to try for `host:port`, in the order `ip_family` says: a pin or an IP
/// literal as they are, a name through the system resolver.
async fn resolve(
    host: &str,
    port: u16,
    network: &NetworkOptions,
    deadline: Instant,
    phases: &mut Phases,
) -> Result<Vec<SocketAddr>, NetFailure> {
    let pinned = network.pinned(host, port);
    let (addrs, how) = match pinned.or_else(|| host.parse::<IpAddr>().ok()) {
        Some(ip) => (vec![SocketAddr::new(ip, port)], "is"),
        None => (lookup(host, port, deadline, phases).await?, "resolved to"),
    };
    let how = if pinned.is_some() {
        "is pinned to"
    } else {
        how
    };
    let ordered = happy_eyeballs::order(&addrs, network.ip_family);
    if ordered.is_empty() {
        let found: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
        return Err(NetFailure::Dns(format!(
            "{host} {how} {} only, and ip_family is {}",
            found.join(", "),
            network.ip_family.as_str()
        )));
    }
    Ok(ordered)
}

async fn lookup(
    host: &str,
    port: u16,
    deadline: Instant,
    phases: &mut Phases,
) -> Result<Vec<SocketAddr>, NetFailure> {
    let started = Instant::now();
    let lookup = tokio::net::lookup_host((host, port));
    let addrs: Vec<SocketAddr> = match timeout_at(deadline.into(), lookup).await {
        Err(_) => return Err(NetFailure::Dns(format!("resolving {host} timed out"))),
        Ok(Err(err)) if is_local_exhaustion(&err) => {
            return Err(local_failure(&format!("resolving {host}"), &err));
        }
        Ok(Err(err)) => return Err(NetFailure::Dns(format!("{host} did not resolve: {err}"))),
        Ok(Ok(addrs)) => addrs.collect(),
    };
    phases.dns = Some(elapsed_ms(started));
    if addrs.is_empty() {
        return Err(NetFailure::Dns(format!("{host} resolved to no addresses")));
    }
    Ok(addrs)
}

/// Errors that come from this process or host running out, not from the network or the target:
/// EMFILE/ENFILE (descriptors), ENOBUFS/ENOMEM (memory), EADDRNOTAVAIL (no local port left).
pub fn is_local_exhaustion(err: &io::Error) -> bool {
    const EMFILE: i32 = 24;
    const ENFILE: i32 = 23;
    const ENOMEM: i32 = 12;
    const ENOBUFS: i32 = 105;
    const EADDRNOTAVAIL: i32 = 99;
    matches!(
        err.raw_os_error(),
        Some(EMFILE | ENFILE | ENOMEM | ENOBUFS | EADDRNOTAVAIL)
    ) || err.kind() == io::ErrorKind::OutOfMemory
}

/// The local exhaustion somewhere in `err`'s causes (an HTTP client's error wraps the
/// socket's), if that is what it was.
pub fn local_exhaustion_in<'e>(
    err: &'e (dyn std::error::Error + 'static),
) -> Option<&'e io::Error> {
    let mut cause: Option<&'e (dyn std::error::Error + 'static)> = Some(err);
    while let Some(current) = cause {
        if let Some(io_err) = current.downcast_ref::<io::Error>()
            && is_local_exhaustion(io_err)
        {
            return Some(io_err);
        }
        cause = current.source();
    }
    None
}

pub(super) fn local_failure(doing: &str, err: &io::Error) -> NetFailure {
    NetFailure::Local(format!(
        "wsprobe itself ran out of resources {doing} ({err}): not the target's fault"
    ))
}

fn tls_error_text(err: &io::Error) -> String {
    match err.get_ref() {
        Some(inner) => inner.to_string(),
        None => err.to_string(),
    }
}

fn tls_info(stream: &TlsStream<TcpStream>) -> TlsInfo {
    let (_, connection) = stream.get_ref();
    let version = match connection.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".to_owned(),
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".to_owned(),
        Some(other) => format!("{other:?}"),
        None => "unknown".to_owned(),
    };
    let leaf = connection
        .peer_certificates()
        .and_then(|certs| certs.first())
        .and_then(|der| x509_parser::parse_x509_certificate(der.as_ref()).ok())
        .map(|(_, cert)| cert);
    TlsInfo {
        version,
        cert_subject: leaf.as_ref().map(|c| c.subject().to_string()),
        cert_issuer: leaf.as_ref().map(|c| c.issuer().to_string()),
        cert_not_after: leaf
            .as_ref()
            .and_then(|c| chrono::DateTime::from_timestamp(c.validity().not_after.timestamp(), 0)),
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

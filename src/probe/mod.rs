//! One probe, connecting exactly as a real client does: token → login → health → dns → connect → tls →
//! upgrade → ready → exchange → close. `phases` runs that chain and records the facts,
//! `verdict::decide` and `diagnosis::explain` (both pure) judge them, and `assemble` redacts
//! everything leaving.

mod assemble;
pub mod auth;
mod body;
mod close_tap;
pub mod connect;
pub mod cookies;
pub mod diagnosis;
pub mod evidence;
mod facts;
pub mod handshake;
mod happy_eyeballs;
mod health;
mod jwt_sign;
pub mod keepalive;
mod login;
pub mod message;
mod phases;
pub mod presets;
mod proxy;
pub mod redact;
pub mod replay;
pub mod result;
pub mod session;
mod template;
mod timing;
pub mod tls;
pub mod trace;
pub mod verdict;

pub use result::{HealthInfo, ProbeResult, Status, Verdict};

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use parking_lot::Mutex;

use crate::config::{Environment, IpFamily, ProxySetting, TlsOptions};
use facts::Facts;
use redact::Redactor;
use verdict::Stop;

/// Margin past `timeout` after which a probe is abandoned whatever it is doing: every wait
/// inside already has a deadline, this only guards against a bug turning into a hang.
const HARD_STOP_MARGIN: Duration = Duration::from_secs(2);

/// Probes environments. Holds what is worth keeping between probes: TLS configurations and
/// HTTP clients per TLS setting, and fetched tokens.
pub struct Prober {
    location: Option<String>,
    /// Configured secret values, scrubbed from every text that leaves a probe: built once
    /// (deduplicated, ordered) rather than per probe, which at 10,000 environments sharing a
    /// token was the largest part of a probe's CPU.
    secrets: Redactor,
    tokens: auth::TokenCache,
    clients: Mutex<HashMap<ClientKey, Clients>>,
}

/// What an environment's TLS configuration and HTTP client depend on: environments alike in
/// these share them.
#[derive(Clone, PartialEq, Eq, Hash)]
struct ClientKey {
    tls: TlsOptions,
    proxy: crate::config::ProxySetting,
    ip_family: crate::config::IpFamily,
    /// The `resolve:` pins of the health and token URLs' own `host:port`.
    pins: Vec<crate::config::AddressPin>,
}

impl ClientKey {
    fn of(env: &Environment) -> ClientKey {
        let health = env.health.as_ref().map(|h| &h.url);
        let token = match &env.auth {
            crate::config::Auth::TokenEndpoint { url, .. } => Some(url),
            _ => None,
        };
        let pins = env
            .network
            .resolve
            .iter()
            .filter(|pin| {
                health.into_iter().chain(token).any(|url| {
                    url.host_str()
                        .is_some_and(|host| connect::Endpoint::bare_host(host) == pin.host)
                        && url.port_or_known_default() == Some(pin.port)
                })
            })
            .cloned()
            .collect();
        ClientKey {
            tls: env.tls.clone(),
            proxy: env.network.proxy.clone(),
            ip_family: env.network.ip_family,
            pins,
        }
    }
}

#[derive(Clone)]
struct Clients {
    tls: Arc<rustls::ClientConfig>,
    http: reqwest::Client,
}

impl Prober {
    pub fn new(location: Option<String>, secrets: Vec<String>) -> Self {
        tls::ensure_crypto_provider();
        Self {
            location,
            secrets: Redactor::new(secrets),
            tokens: auth::TokenCache::default(),
            clients: Mutex::new(HashMap::new()),
        }
    }

    pub fn for_config(config: &crate::config::Config) -> Self {
        Self::new(config.location.clone(), config.secret_values())
    }

    pub async fn probe(&self, env: &Environment) -> ProbeResult {
        self.probe_with_history(env, &[]).await
    }

    /// `history`: the environment's earlier results, newest first, for the diagnosis.
    #[tracing::instrument(skip_all, fields(environment = %env.name))]
    pub async fn probe_with_history(
        &self,
        env: &Environment,
        history: &[ProbeResult],
    ) -> ProbeResult {
        let started_at = Utc::now();
        let started = Instant::now();
        let deadline = started + env.timeout;
        let mut facts = Facts::new(self.secrets.clone(), started);
        let gathered = tokio::time::timeout(
            env.timeout + HARD_STOP_MARGIN,
            phases::gather(self, env, deadline, &mut facts),
        )
        .await;
        let stop = match gathered {
            Ok(Ok(())) => None,
            Ok(Err(halt)) => {
                if let Some(error) = halt.error {
                    facts.error = Some(error);
                }
                Some(halt.stop)
            }
            Err(_) => {
                facts.error = Some(format!(
                    "the probe overran its {} ms timeout",
                    env.timeout.as_millis()
                ));
                Some(Stop::ProbeError)
            }
        };
        let result = facts.into_result(env, self.location.clone(), started_at, stop, history);
        tracing::debug!(verdict = %result.verdict, "probe finished");
        result
    }

    /// The TLS configuration and HTTP client for `env`: the health check and the token
    /// request go the way the WebSocket does (same proxy choice, pins of their own
    /// `host:port`, same client certificate), so that they test the same path.
    fn clients(&self, env: &Environment) -> Result<Clients, String> {
        let key = ClientKey::of(env);
        let mut clients = self.clients.lock();
        if let Some(found) = clients.get(&key) {
            return Ok(found.clone());
        }
        let tls = tls::client_config(&key.tls)?;
        let builder = reqwest::Client::builder()
            .tls_backend_preconfigured((*tls).clone())
            .user_agent(concat!("wsprobe/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::limited(3));
        let http = http_route(builder, &key)
            .build()
            .map_err(|err| format!("cannot build the HTTP client: {err}"))?;
        let built = Clients { tls, http };
        clients.insert(key, built.clone());
        Ok(built)
    }
}

/// The proxy, pins and family of `key` on an HTTP client. The proxy is chosen per request URL
/// by the same rule as the WebSocket's (reqwest's own reading of the variables is turned off),
/// so `NO_PROXY` cannot send the health check one way and the socket another.
fn http_route(builder: reqwest::ClientBuilder, key: &ClientKey) -> reqwest::ClientBuilder {
    let builder = match key.proxy.clone() {
        ProxySetting::Direct => builder.no_proxy(),
        ProxySetting::Fixed(proxy) => {
            builder.proxy(reqwest::Proxy::custom(move |_| Some(proxy.url())))
        }
        ProxySetting::Variables(variables) => builder.proxy(reqwest::Proxy::custom(move |url| {
            variables.for_url(url).map(|proxy| proxy.url())
        })),
    };
    let builder = key.pins.iter().fold(builder, |builder, pin| {
        builder.resolve(&pin.host, std::net::SocketAddr::new(pin.address, pin.port))
    });
    // Happy Eyeballs for HTTP is hyper's own; a single family is held by the local address.
    match key.ip_family {
        IpFamily::Ipv4 => builder.local_address(std::net::IpAddr::from([0u8; 4])),
        IpFamily::Ipv6 => builder.local_address(std::net::IpAddr::from([0u16; 8])),
        _ => builder,
    }
}

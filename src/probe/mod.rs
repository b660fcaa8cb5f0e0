//! One probe, connecting exactly as a real client does: token → health → dns → connect → tls →
//! upgrade → ready → exchange → close. `phases` runs that chain and records the facts,
//! `verdict::decide` and `diagnosis::explain` (both pure) judge them, and `assemble` redacts
//! everything leaving.

mod assemble;
pub mod auth;
mod body;
mod close_tap;
pub mod connect;
pub mod diagnosis;
pub mod evidence;
mod facts;
pub mod handshake;
mod health;
pub mod keepalive;
pub mod message;
mod phases;
pub mod presets;
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

use crate::config::{Environment, TlsOptions};
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
    clients: Mutex<HashMap<(Option<std::path::PathBuf>, bool), Clients>>,
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

    fn clients(&self, options: &TlsOptions) -> Result<Clients, String> {
        let key = (options.ca_file.clone(), options.insecure_skip_verify);
        let mut clients = self.clients.lock();
        if let Some(found) = clients.get(&key) {
            return Ok(found.clone());
        }
        let tls = tls::client_config(options)?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured((*tls).clone())
            .user_agent(concat!("wsprobe/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()
            .map_err(|err| format!("cannot build the HTTP client: {err}"))?;
        let built = Clients { tls, http };
        clients.insert(key, built.clone());
        Ok(built)
    }
}

//! The one SMTP sender, beside the HTTP one in [`super::delivery`]: connect, STARTTLS or
//! implicit TLS, AUTH, `MAIL`/`RCPT`/`DATA` (lettre's connection, step by step, so that a
//! failure says which step the server refused), and how the outcome is classified (pure,
//! [`classify`]): RFC 5321 §4.2.1 4yz replies are transient and retried, 5yz permanent; no
//! answer at all is retried, as an HTTP connection error is.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, Certificate, CertificateStore};
use lettre::transport::smtp::client::{TlsParameters, TlsParametersBuilder};
use lettre::transport::smtp::extension::ClientId;

use super::delivery::Attempt;
use crate::config::Secret;
use crate::probe::redact::Redactor;

/// After the server took the message, how long `QUIT` may take: its answer changes nothing.
const QUIT_WAIT: Duration = Duration::from_secs(2);
/// AUTH mechanisms offered, in order of preference (both send the password once, inside TLS).
const MECHANISMS: &[Mechanism] = &[Mechanism::Plain, Mechanism::Login];

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    StartTls,
    /// TLS from the first byte.
    Tls,
    None,
}

/// Where and how to hand mail over.
pub struct Server {
    pub host: String,
    pub port: u16,
    pub security: Security,
    /// Username and password, for AUTH.
    pub credentials: Option<(String, Secret)>,
    /// PEM CA certificates trusted besides the public roots.
    pub ca_pem: Option<Arc<[u8]>>,
    pub insecure_skip_verify: bool,
}

impl Server {
    /// `smtp.example.com:587`, as error texts name it.
    fn label(&self) -> String {
        match self.host.parse::<std::net::Ipv6Addr>() {
            Ok(_) => format!("[{}]:{}", self.host, self.port),
            Err(_) => format!("{}:{}", self.host, self.port),
        }
    }

    fn tls_parameters(&self) -> Result<TlsParameters, lettre::transport::smtp::Error> {
        crate::probe::tls::ensure_crypto_provider();
        let mut builder = TlsParametersBuilder::new(self.host.clone())
            .certificate_store(CertificateStore::WebpkiRoots)
            .dangerous_accept_invalid_certs(self.insecure_skip_verify);
        if let Some(pem) = &self.ca_pem {
            builder = builder.add_root_certificate(Certificate::from_pem(pem)?);
        }
        builder.build_rustls()
    }
}

/// One message for one server: what [`send`] takes.
pub struct MailRequest {
    pub server: Arc<Server>,
    pub envelope: Envelope,
    /// The whole message, headers and MIME body, as it goes after `DATA`.
    pub message: Vec<u8>,
}

impl fmt::Debug for MailRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MailRequest")
            .field("server", &self.server.label())
            .field("envelope", &self.envelope)
            .field("message", &String::from_utf8_lossy(&self.message))
            .finish()
    }
}

/// The exchange with the server, in the order it happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// TCP (and implicit TLS), the greeting, `EHLO`.
    Connect,
    StartTls,
    Auth,
    /// `MAIL`, `RCPT`, `DATA` and the message.
    Send,
}

/// How a step failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// A negative reply: its code and text.
    Reply { code: u16, text: String },
    /// `tls: starttls`, and the server does not offer STARTTLS.
    NoStartTls,
    /// Refused on wsprobe's side before sending (no AUTH mechanism in common, an address
    /// the server cannot take).
    Refused(String),
    /// No usable answer: the connection, TLS, or a reply that is not SMTP.
    Network(String),
}

/// One attempt to hand `mail` over, within `timeout` from connect to the end of `DATA`.
/// Error texts are scrubbed of every secret `redactor` knows.
pub async fn send(mail: &MailRequest, timeout: Duration, redactor: &Redactor) -> Attempt {
    let server = &mail.server;
    let attempt = match tokio::time::timeout(timeout, exchange(mail, timeout)).await {
        Ok(Ok(mut connection)) => {
            let _ = tokio::time::timeout(QUIT_WAIT, connection.quit()).await;
            Attempt::Delivered
        }
        Ok(Err((step, failure))) => classify(server, step, failure),
        Err(_) => Attempt::Retry {
            error: format!(
                "no answer from {} within {}",
                server.label(),
                humantime::format_duration(timeout)
            ),
            retry_after: None,
        },
    };
    match attempt {
        Attempt::Retry { error, retry_after } => Attempt::Retry {
            error: redactor.text(&error),
            retry_after,
        },
        Attempt::Failed { error } => Attempt::Failed {
            error: redactor.text(&error),
        },
        Attempt::Delivered => Attempt::Delivered,
    }
}

/// Connect, protect, authenticate, send: the connection once the server took the message.
async fn exchange(
    mail: &MailRequest,
    timeout: Duration,
) -> Result<AsyncSmtpConnection, (Step, Failure)> {
    let server = &mail.server;
    let at = |step| move |err| (step, failure(err));
    let tls = match server.security {
        Security::None => None,
        _ => Some(server.tls_parameters().map_err(at(Step::Connect))?),
    };
    let hello = ClientId::default();
    let implicit = tls.clone().filter(|_| server.security == Security::Tls);
    let mut connection = AsyncSmtpConnection::connect_tokio1(
        (server.host.as_str(), server.port),
        Some(timeout),
        &hello,
        implicit,
        None,
    )
    .await
    .map_err(at(Step::Connect))?;
    if let (Security::StartTls, Some(tls)) = (server.security, tls) {
        if !connection.can_starttls() {
            connection.abort().await;
            return Err((Step::StartTls, Failure::NoStartTls));
        }
        connection
            .starttls(tls, &hello)
            .await
            .map_err(at(Step::StartTls))?;
    }
    if let Some((username, password)) = &server.credentials {
        let credentials = Credentials::new(username.clone(), password.expose().to_owned());
        connection
            .auth(MECHANISMS, &credentials)
            .await
            .map_err(at(Step::Auth))?;
    }
    connection
        .send(&mail.envelope, &mail.message)
        .await
        .map_err(at(Step::Send))?;
    Ok(connection)
}

/// What a lettre error says, in [`Failure`]'s terms.
fn failure(err: lettre::transport::smtp::Error) -> Failure {
    let source = std::error::Error::source(&err).map(ToString::to_string);
    if let Some(code) = err.status() {
        return Failure::Reply {
            code: code.into(),
            text: source.unwrap_or_default(),
        };
    }
    if err.is_client() {
        return Failure::Refused(source.unwrap_or_else(|| err.to_string()));
    }
    Failure::Network(crate::text::error_chain(&err))
}

/// What a failed step means for the notification. Pure.
pub fn classify(server: &Server, step: Step, failure: Failure) -> Attempt {
    let label = server.label();
    let doing = match step {
        Step::Connect => format!("{label} refused the connection"),
        Step::StartTls => format!("{label} refused STARTTLS"),
        Step::Auth => {
            let user = server.credentials.as_ref().map_or("", |(user, _)| user);
            format!("{label} refused authentication as {user}")
        }
        Step::Send => format!("{label} refused the message"),
    };
    match failure {
        Failure::Reply { code, text } => {
            let error = format!("{doing}: {code} {}", one_line(&text));
            if (400..500).contains(&code) {
                Attempt::Retry {
                    error,
                    retry_after: None,
                }
            } else {
                Attempt::Failed { error }
            }
        }
        Failure::NoStartTls => Attempt::Failed {
            error: format!(
                "{label} does not offer STARTTLS (tls: starttls), so nothing was sent; \
                 tls: tls for a server with implicit TLS (port 465)"
            ),
        },
        Failure::Refused(reason) => Attempt::Failed {
            error: format!("not sent to {label}: {reason}"),
        },
        Failure::Network(reason) => {
            let at = match step {
                Step::Connect => format!("cannot connect to {label}"),
                Step::StartTls => format!("TLS after STARTTLS with {label} failed"),
                Step::Auth => format!("authenticating with {label} failed"),
                Step::Send => format!("sending to {label} failed"),
            };
            Attempt::Retry {
                error: format!("{at}: {reason}"),
                retry_after: None,
            }
        }
    }
}

/// A multi-line reply as one line, bounded: a server's text is evidence, not a payload.
fn one_line(text: &str) -> String {
    let joined: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    crate::text::truncate(&joined.join(" "), 300)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(credentials: bool) -> Server {
        Server {
            host: "smtp.example.com".into(),
            port: 587,
            security: Security::StartTls,
            credentials: credentials
                .then(|| ("alerts@example.com".into(), Secret::new("SMTPS3CRET"))),
            ca_pem: None,
            insecure_skip_verify: false,
        }
    }

    #[test]
    fn replies_are_transient_or_permanent_by_their_first_digit() {
        let retry = |error: &str| Attempt::Retry {
            error: error.into(),
            retry_after: None,
        };
        let failed = |error: &str| Attempt::Failed {
            error: error.into(),
        };
        let reply = |code, text: &str| Failure::Reply {
            code,
            text: text.into(),
        };
        let cases = [
            (
                Step::Auth,
                reply(535, "5.7.8 Authentication credentials invalid"),
                failed(
                    "smtp.example.com:587 refused authentication as alerts@example.com: 535 5.7.8 Authentication credentials invalid",
                ),
            ),
            (
                Step::Auth,
                reply(454, "4.7.0 Temporary authentication failure"),
                retry(
                    "smtp.example.com:587 refused authentication as alerts@example.com: 454 4.7.0 Temporary authentication failure",
                ),
            ),
            (
                Step::Send,
                reply(451, "4.3.0 Try again\nlater"),
                retry("smtp.example.com:587 refused the message: 451 4.3.0 Try again later"),
            ),
            (
                Step::Send,
                reply(
                    550,
                    "5.1.1 <nobody@example.com>: Recipient address rejected",
                ),
                failed(
                    "smtp.example.com:587 refused the message: 550 5.1.1 <nobody@example.com>: Recipient address rejected",
                ),
            ),
            (
                Step::Connect,
                reply(421, "4.3.2 Service shutting down"),
                retry(
                    "smtp.example.com:587 refused the connection: 421 4.3.2 Service shutting down",
                ),
            ),
            (
                Step::StartTls,
                reply(454, "4.7.0 TLS not available"),
                retry("smtp.example.com:587 refused STARTTLS: 454 4.7.0 TLS not available"),
            ),
            (
                Step::Connect,
                Failure::Network("Connection refused (os error 111)".into()),
                retry("cannot connect to smtp.example.com:587: Connection refused (os error 111)"),
            ),
            (
                Step::StartTls,
                Failure::Network("invalid peer certificate: UnknownIssuer".into()),
                retry(
                    "TLS after STARTTLS with smtp.example.com:587 failed: invalid peer certificate: UnknownIssuer",
                ),
            ),
            (
                Step::StartTls,
                Failure::NoStartTls,
                failed(
                    "smtp.example.com:587 does not offer STARTTLS (tls: starttls), so nothing was sent; tls: tls for a server with implicit TLS (port 465)",
                ),
            ),
            (
                Step::Auth,
                Failure::Refused("No compatible authentication mechanism was found".into()),
                failed(
                    "not sent to smtp.example.com:587: No compatible authentication mechanism was found",
                ),
            ),
        ];
        for (step, failure, expected) in cases {
            assert_eq!(
                classify(&server(true), step, failure.clone()),
                expected,
                "{step:?} {failure:?}"
            );
        }
    }

    #[test]
    fn a_long_reply_is_cut() {
        let failure = Failure::Reply {
            code: 550,
            text: "x".repeat(10_000),
        };
        let attempt = classify(&server(false), Step::Send, failure);
        assert!(attempt.error().unwrap().chars().count() < 400);
    }

    #[test]
    fn debug_never_shows_the_password() {
        let mail = MailRequest {
            server: Arc::new(server(true)),
            envelope: Envelope::new(None, vec!["a@example.com".parse().unwrap()]).unwrap(),
            message: b"Subject: hi\r\n\r\nbody".to_vec(),
        };
        let shown = format!("{mail:?}");
        assert!(!shown.contains("SMTPS3CRET"), "{shown}");
        assert!(shown.contains("smtp.example.com:587"), "{shown}");
    }
}

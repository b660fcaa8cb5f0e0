//! `kind: email`: mail through an SMTP server (a submission port with STARTTLS by default, or
//! implicit TLS, or a plain relay), with AUTH when `username` is set. The password is the
//! secret. Addresses are parsed here as RFC 5322 mailboxes, so a typo fails the load, not the
//! first page.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use lettre::message::{Mailbox, Mailboxes};

use super::{ChannelKeys, ChannelSettings};
use crate::config::raw::Text;
use crate::config::{ConfigError, Secret};

/// RFC 5321 §4.5.3.1.8: the fewest recipients a server must accept in one message. More
/// would be refused by some servers, so one message never asks for more.
pub const MAX_RECIPIENTS: usize = 100;

/// How the connection to the server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain TCP, then `STARTTLS` before anything else (RFC 3207); a server that does not
    /// offer it gets nothing. The submission port, 587.
    StartTls,
    /// TLS from the first byte (RFC 8314 "implicit TLS"), port 465.
    Tls,
    /// No TLS at all: a local relay on port 25.
    None,
}

impl SmtpTls {
    pub fn as_str(self) -> &'static str {
        match self {
            SmtpTls::StartTls => "starttls",
            SmtpTls::Tls => "tls",
            SmtpTls::None => "none",
        }
    }

    /// The port a mode is served on when the file does not say (RFC 6409, RFC 8314, RFC 5321).
    pub fn default_port(self) -> u16 {
        match self {
            SmtpTls::StartTls => 587,
            SmtpTls::Tls => 465,
            SmtpTls::None => 25,
        }
    }
}

#[derive(Debug, Clone)]
pub struct SmtpCredentials {
    pub username: String,
    pub password: Secret,
}

/// `ca_file`, read when the config is.
#[derive(Debug, Clone)]
pub struct CaFile {
    pub path: PathBuf,
    pub pem: Arc<[u8]>,
}

#[derive(Debug, Clone)]
pub struct EmailSettings {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub credentials: Option<SmtpCredentials>,
    pub from: Mailbox,
    pub to: Vec<Mailbox>,
    /// Put before every subject (`[wsprobe]`), with a space.
    pub subject_prefix: Option<String>,
    /// CA certificates trusted besides the public roots (a company's own CA).
    pub ca_file: Option<CaFile>,
    pub insecure_skip_verify: bool,
}

impl ChannelSettings for EmailSettings {
    const KEYS: &'static [&'static str] = &[
        "host",
        "port",
        "tls",
        "username",
        "password",
        "from",
        "to",
        "subject_prefix",
        "ca_file",
        "insecure_skip_verify",
        "insecure_auth",
    ];
    const LISTS: &'static [&'static str] = &["to"];

    fn parse(keys: &ChannelKeys<'_>) -> Result<Self, ConfigError> {
        let host = host(keys)?;
        let tls = match keys.get("tls") {
            Some(value) => tls_mode(keys, value)?,
            None => SmtpTls::StartTls,
        };
        let port = match keys.get("port") {
            Some(value) => keys.port(value, "port")?,
            None => tls.default_port(),
        };
        let from = keys.required("from")?;
        let from = mailbox(keys, from, "from")?;
        let (ca_file, insecure_skip_verify) = verification(keys, tls)?;
        Ok(EmailSettings {
            host,
            port,
            tls,
            credentials: credentials(keys, tls)?,
            from,
            to: recipients(keys)?,
            subject_prefix: subject_prefix(keys)?,
            ca_file,
            insecure_skip_verify,
        })
    }

    fn secrets(&self) -> Vec<&Secret> {
        self.credentials.iter().map(|c| &c.password).collect()
    }

    /// The password as AUTH sends it (base64: alone for LOGIN, with the user for PLAIN): a
    /// server may echo what it was sent.
    fn scrubbed(&self) -> Vec<String> {
        let Some(credentials) = &self.credentials else {
            return Vec::new();
        };
        let password = credentials.password.expose();
        vec![
            STANDARD.encode(password),
            STANDARD.encode(format!("\0{}\0{password}", credentials.username)),
        ]
    }
}

/// A host name or an IP address: no scheme, no port (that is `port`).
fn host(keys: &ChannelKeys<'_>) -> Result<String, ConfigError> {
    let value = keys.required("host")?;
    let host = value.value.trim();
    let bracketed = host.strip_prefix('[').and_then(|h| h.strip_suffix(']'));
    let ip = bracketed
        .unwrap_or(host)
        .parse::<std::net::IpAddr>()
        .is_ok();
    let problem = if host.is_empty() {
        Some("must not be empty")
    } else if host.contains("://") {
        Some("a host name, not a URL (the port goes in `port`, the TLS mode in `tls`)")
    } else if !ip && host.contains(':') {
        Some("a host name without a port (the port goes in `port`)")
    } else if !ip && !host.chars().all(|c| c.is_alphanumeric() || "-._".contains(c)) {
        Some("not a host name")
    } else {
        None
    };
    match problem {
        Some(problem) => Err(keys.error(value, "host", format!("{host:?}: {problem}"))),
        None => Ok(bracketed.unwrap_or(host).to_owned()),
    }
}

fn tls_mode(keys: &ChannelKeys<'_>, value: &Text) -> Result<SmtpTls, ConfigError> {
    [SmtpTls::StartTls, SmtpTls::Tls, SmtpTls::None]
        .into_iter()
        .find(|mode| mode.as_str() == value.value.trim())
        .ok_or_else(|| {
            keys.error(
                value,
                "tls",
                format!(
                    "unknown TLS mode {:?}: expected starttls (port 587), tls (port 465) or none (port 25)",
                    value.value
                ),
            )
        })
}

/// `username` and `password`, both or neither; never in clear text unless the file says so.
fn credentials(
    keys: &ChannelKeys<'_>,
    tls: SmtpTls,
) -> Result<Option<SmtpCredentials>, ConfigError> {
    let insecure_auth = keys.flag("insecure_auth")?;
    let (username, password) = match (keys.get("username"), keys.get("password")) {
        (None, None) => {
            if let Some(value) = keys.get("insecure_auth").filter(|_| insecure_auth) {
                return Err(keys.error(value, "insecure_auth", "there is no `username` to send"));
            }
            return Ok(None);
        }
        (None, Some(password)) => {
            return Err(keys.error(password, "password", "a password needs a `username`"));
        }
        (Some(_), None) => return keys.required("password").map(|_| None),
        (Some(username), Some(password)) => (username, password),
    };
    if tls == SmtpTls::None && !insecure_auth {
        return Err(keys.error(
            username,
            "username",
            "AUTH over a connection without TLS (tls: none) would send the password in clear text: \
             use tls: starttls or tls, or set insecure_auth: true to allow it",
        ));
    }
    if tls != SmtpTls::None
        && let Some(value) = keys.get("insecure_auth").filter(|_| insecure_auth)
    {
        return Err(keys.error(
            value,
            "insecure_auth",
            format!("only used with tls: none (AUTH is already inside TLS with tls: {})", tls.as_str()),
        ));
    }
    Ok(Some(SmtpCredentials {
        username: username.value.trim().to_owned(),
        password: keys.secret(password, "password")?,
    }))
}

/// `ca_file` and `insecure_skip_verify`, as an environment's `tls` has them; refused without
/// TLS, where there is nothing to verify.
fn verification(
    keys: &ChannelKeys<'_>,
    tls: SmtpTls,
) -> Result<(Option<CaFile>, bool), ConfigError> {
    let insecure_skip_verify = keys.flag("insecure_skip_verify")?;
    if tls == SmtpTls::None {
        for key in ["ca_file", "insecure_skip_verify"] {
            if let Some(value) = keys.get(key) {
                return Err(keys.error(value, key, "not used with tls: none (no TLS to verify)"));
            }
        }
    }
    let ca_file = match keys.get("ca_file") {
        Some(value) => {
            let (path, pem) = keys.ca_file(value, "ca_file")?;
            Some(CaFile {
                path,
                pem: pem.into(),
            })
        }
        None => None,
    };
    Ok((ca_file, insecure_skip_verify))
}

/// One RFC 5322 mailbox: `alerts@example.com` or `wsprobe <alerts@example.com>`.
fn mailbox(keys: &ChannelKeys<'_>, value: &Text, key: &str) -> Result<Mailbox, ConfigError> {
    Mailbox::from_str(value.value.trim())
        .map_err(|err| keys.error(value, key, invalid_address(&value.value, &err)))
}

fn invalid_address(text: &str, err: &lettre::address::AddressError) -> String {
    let reason = err.to_string().to_lowercase();
    format!(
        "invalid address {text:?} ({reason}): expected name@domain, or a name and <name@domain>"
    )
}

/// `to`: a list of addresses, or one string of them separated by commas (RFC 5322's
/// address list, as Alertmanager writes it).
fn recipients(keys: &ChannelKeys<'_>) -> Result<Vec<Mailbox>, ConfigError> {
    let Some(items) = keys.items("to") else {
        return keys.required("to").map(|_| Vec::new());
    };
    let mut to = Vec::new();
    for (name, item) in &items {
        let mailboxes = Mailboxes::from_str(item.value.trim())
            .map_err(|err| keys.error(item, name, invalid_address(&item.value, &err)))?;
        to.extend(mailboxes);
    }
    if to.is_empty() {
        return Err(keys.list_error("to", "lists no address"));
    }
    if to.len() > MAX_RECIPIENTS {
        return Err(keys.list_error(
            "to",
            format!(
                "{} addresses: at most {MAX_RECIPIENTS} (the fewest an SMTP server must accept in one message, RFC 5321 4.5.3.1.8)",
                to.len()
            ),
        ));
    }
    Ok(to)
}

fn subject_prefix(keys: &ChannelKeys<'_>) -> Result<Option<String>, ConfigError> {
    let Some(value) = keys.get("subject_prefix") else {
        return Ok(None);
    };
    if value.value.chars().any(char::is_control) {
        return Err(keys.error(value, "subject_prefix", "must be one line of text"));
    }
    let prefix = value.value.trim();
    Ok((!prefix.is_empty()).then(|| prefix.to_owned()))
}

#[cfg(test)]
mod tests {
    use crate::config::ChannelKind;
    use crate::config::channels::tests::{channel, error_of};

    use super::*;

    fn settings(entry: &str) -> EmailSettings {
        match channel(entry) {
            ChannelKind::Email(settings) => settings,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn keys_are_validated_at_their_position() {
        const ADDRESSES: &str = "from: a@example.com, to: b@example.com";
        let cases = [
            (
                format!("{{ name: m, kind: email, {ADDRESSES} }}"),
                "6:7: alerts.channels[0]: missing key `host`",
            ),
            (
                format!("{{ name: m, kind: email, host: \"smtp://mail.example.com\", {ADDRESSES} }}"),
                "6:37: alerts.channels[0].host: \"smtp://mail.example.com\": a host name, not a URL (the port goes in `port`, the TLS mode in `tls`)",
            ),
            (
                format!("{{ name: m, kind: email, host: \"mail.example.com:587\", {ADDRESSES} }}"),
                "6:37: alerts.channels[0].host: \"mail.example.com:587\": a host name without a port (the port goes in `port`)",
            ),
            (
                format!("{{ name: m, kind: email, host: mail.example.com, tls: ssl, {ADDRESSES} }}"),
                "6:60: alerts.channels[0].tls: unknown TLS mode \"ssl\": expected starttls (port 587), tls (port 465) or none (port 25)",
            ),
            (
                format!("{{ name: m, kind: email, host: mail.example.com, port: 99999, {ADDRESSES} }}"),
                "6:61: alerts.channels[0].port: invalid port \"99999\": expected a number from 1 to 65535",
            ),
            (
                "{ name: m, kind: email, host: mail.example.com, from: ops, to: b@example.com }".into(),
                "6:61: alerts.channels[0].from: invalid address \"ops\" (invalid input): expected name@domain, or a name and <name@domain>",
            ),
            (
                "{ name: m, kind: email, host: mail.example.com, from: a@example.com, to: [b@example.com, \"not an address\"] }".into(),
                "6:96: alerts.channels[0].to[1]: invalid address \"not an address\" (invalid input): expected name@domain, or a name and <name@domain>",
            ),
            (
                "{ name: m, kind: email, host: mail.example.com, from: a@example.com, to: [] }".into(),
                "6:80: alerts.channels[0].to: lists no address",
            ),
            (
                "{ name: m, kind: email, host: mail.example.com, from: a@example.com }".into(),
                "6:7: alerts.channels[0]: missing key `to`",
            ),
            (
                format!("{{ name: m, kind: email, host: mail.example.com, {ADDRESSES}, username: u }}"),
                "6:7: alerts.channels[0]: missing key `password`",
            ),
            (
                format!("{{ name: m, kind: email, host: mail.example.com, {ADDRESSES}, password: p }}"),
                "6:105: alerts.channels[0].password: a password needs a `username`",
            ),
            (
                format!("{{ name: m, kind: email, host: mail.example.com, tls: none, {ADDRESSES}, username: u, password: p }}"),
                "6:116: alerts.channels[0].username: AUTH over a connection without TLS (tls: none) would send the password in clear text: use tls: starttls or tls, or set insecure_auth: true to allow it",
            ),
            (
                format!("{{ name: m, kind: email, host: mail.example.com, {ADDRESSES}, username: u, password: p, insecure_auth: true }}"),
                "6:136: alerts.channels[0].insecure_auth: only used with tls: none (AUTH is already inside TLS with tls: starttls)",
            ),
            (
                format!("{{ name: m, kind: email, host: mail.example.com, tls: none, {ADDRESSES}, insecure_skip_verify: true }}"),
                "6:128: alerts.channels[0].insecure_skip_verify: not used with tls: none (no TLS to verify)",
            ),
            (
                format!("{{ name: m, kind: email, host: mail.example.com, {ADDRESSES}, insecure_skip_verify: yes }}"),
                "6:117: alerts.channels[0].insecure_skip_verify: expected true or false, not \"yes\"",
            ),
            (
                format!("{{ name: m, kind: email, host: mail.example.com, {ADDRESSES}, ca_file: ./nowhere.pem }}"),
                "6:104: alerts.channels[0].ca_file: cannot read ./nowhere.pem: No such file or directory (os error 2)",
            ),
            (
                format!("{{ name: m, kind: email, host: mail.example.com, {ADDRESSES}, subject_prefix: \"a\\nb\" }}"),
                "6:111: alerts.channels[0].subject_prefix: must be one line of text",
            ),
            (
                format!("{{ name: m, kind: email, host: mail.example.com, {ADDRESSES}, webhook_url: \"https://x\" }}"),
                "6:108: alerts.channels[0].webhook_url: not used by channel kind email (it takes: host, port, tls, username, password, from, to, subject_prefix, ca_file, insecure_skip_verify, insecure_auth)",
            ),
            (
                "{ name: s, kind: slack, webhook_url: \"https://hooks.slack.com/x\", to: [b@example.com] }".into(),
                "6:77: alerts.channels[0].to: not used by channel kind slack (it takes: webhook_url)",
            ),
        ];
        for (entry, expected) in cases {
            assert_eq!(error_of(&entry), format!("probes.yaml:{expected}"), "{entry}");
        }
    }

    #[test]
    fn too_many_recipients_are_refused() {
        let to: Vec<String> = (0..=MAX_RECIPIENTS).map(|i| format!("u{i}@example.com")).collect();
        let error = error_of(&format!(
            "{{ name: m, kind: email, host: mail.example.com, from: a@example.com, to: [{}] }}",
            to.join(", ")
        ));
        assert!(
            error.ends_with("alerts.channels[0].to: 101 addresses: at most 100 (the fewest an SMTP server must accept in one message, RFC 5321 4.5.3.1.8)"),
            "{error}"
        );
    }

    #[test]
    fn the_port_follows_the_tls_mode_unless_set() {
        let cases = [
            ("", SmtpTls::StartTls, 587),
            (", tls: starttls", SmtpTls::StartTls, 587),
            (", tls: tls", SmtpTls::Tls, 465),
            (", tls: none", SmtpTls::None, 25),
            (", tls: tls, port: 2465", SmtpTls::Tls, 2465),
        ];
        for (keys, tls, port) in cases {
            let settings = settings(&format!(
                "{{ name: m, kind: email, host: mail.example.com, from: a@example.com, to: b@example.com{keys} }}"
            ));
            assert_eq!((settings.tls, settings.port), (tls, port), "{keys}");
        }
    }

    #[test]
    fn addresses_are_mailboxes_and_the_password_a_secret() {
        let kind = channel(
            "{ name: m, kind: email, host: \"[::1]\", from: \"wsprobe <alerts@example.com>\", \
             to: \"ops@example.com, On-call <oncall@example.com>\", username: alerts@example.com, \
             password: \"SMTP-S3CRET\", subject_prefix: \" [wsprobe] \" }",
        );
        let ChannelKind::Email(settings) = &kind else {
            panic!("{kind:?}");
        };
        assert_eq!(settings.host, "::1");
        assert_eq!(settings.from.to_string(), "wsprobe <alerts@example.com>");
        let to: Vec<String> = settings.to.iter().map(ToString::to_string).collect();
        assert_eq!(to, ["ops@example.com", "On-call <oncall@example.com>"]);
        assert_eq!(settings.subject_prefix.as_deref(), Some("[wsprobe]"));
        let credentials = settings.credentials.as_ref().unwrap();
        assert_eq!(credentials.username, "alerts@example.com");
        assert_eq!(credentials.password.expose(), "SMTP-S3CRET");
        assert_eq!(kind.secrets().len(), 1);
        // base64("SMTP-S3CRET"), base64("\0alerts@example.com\0SMTP-S3CRET").
        assert_eq!(
            kind.scrubbed(),
            ["U01UUC1TM0NSRVQ=", "AGFsZXJ0c0BleGFtcGxlLmNvbQBTTVRQLVMzQ1JFVA=="]
        );
        assert!(!format!("{kind:?}").contains("SMTP-S3CRET"));

        let relay = settings_of_relay();
        assert!(relay.credentials.is_none() && relay.ca_file.is_none());
        assert_eq!(relay.to.len(), 2);
    }

    /// A relay without AUTH, `to` as a YAML list; `insecure_auth` is allowed with `tls: none`.
    fn settings_of_relay() -> EmailSettings {
        let plain = settings(
            "{ name: m, kind: email, host: localhost, tls: none, from: a@example.com, to: [b@example.com, c@example.com] }",
        );
        let allowed = settings(
            "{ name: m, kind: email, host: localhost, tls: none, from: a@example.com, to: b@example.com, username: u, password: p, insecure_auth: true }",
        );
        assert!(allowed.credentials.is_some());
        plain
    }
}

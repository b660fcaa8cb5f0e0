//! What the protocols' own registries say, as data: every WebSocket close code, HTTP status and
//! TLS alert is one row with its meaning, the layer it points at, the side that acted and what
//! to do. The diagnosis reads a row and the evidence; a new code is a new row, not a new `if`.

pub mod close_codes;
pub mod http_status;
pub mod mqtt;
pub mod tls_alerts;

pub use close_codes::{CLOSE_CODES, CLOSE_RANGES, GRAPHQL_WS, close_code, valid_on_wire};
pub use http_status::{HTTP_STATUSES, http_status, nginx_certificate_page};
pub use tls_alerts::{TLS_ALERTS, tls_alert, tls_alert_in};

use std::fmt;

/// Where in the stack an entry points: the SPEC's seven layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layer {
    Network,
    Proxy,
    Tls,
    Http,
    Auth,
    Application,
    Protocol,
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Layer::Network => "network",
            Layer::Proxy => "proxy",
            Layer::Tls => "TLS",
            Layer::Http => "HTTP",
            Layer::Auth => "auth",
            Layer::Application => "application",
            Layer::Protocol => "protocol",
        })
    }
}

/// Who acted: the SPEC's sides, plus "the path" for what either end or a box between can do
/// (a dropped connection says nothing about who dropped it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    Server,
    /// A proxy, gateway or load balancer (RFC 9110's intermediaries).
    Intermediary,
    Wsprobe,
    Path,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Server => "the server acted",
            Side::Intermediary => "a proxy or gateway acted",
            Side::Wsprobe => "wsprobe acted",
            Side::Path => "the server or something on the path acted",
        })
    }
}

/// One registry entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub code: u16,
    /// The registry's own name for it (`Bad Gateway`, `certificate_required`).
    pub name: &'static str,
    /// Who registered it: `RFC 9110`, `IANA`, `nginx`, `graphql-ws`…
    pub source: &'static str,
    pub layer: Layer,
    pub side: Side,
    /// What it means, as a clause.
    pub meaning: &'static str,
    /// What to do, as a clause.
    pub advice: &'static str,
    /// Response headers that carry the cause, lowercase (HTTP only).
    pub carries: &'static [&'static str],
}

impl Entry {
    /// `{meaning} ({name}: {layer} layer, {side}); {advice}`: the part of a sentence a row
    /// writes.
    pub fn clause(&self) -> String {
        format!(
            "{} ({}: {} layer, {}); {}",
            self.meaning, self.name, self.layer, self.side, self.advice
        )
    }

    /// `{meaning}; {advice}`, without the layer: for sentences that name it their own way.
    pub fn meaning_and_advice(&self) -> String {
        format!("{}; {}", self.meaning, self.advice)
    }

    /// `1014 Bad Gateway`, `HTTP 407 Proxy Authentication Required`, `certificate_required`.
    pub fn label(&self) -> String {
        format!("{} {}", self.code, self.name)
    }
}

/// A row, in the tables' compact spelling.
const fn row(
    code: u16,
    name: &'static str,
    source: &'static str,
    layer: Layer,
    side: Side,
    meaning: &'static str,
    advice: &'static str,
) -> Entry {
    Entry {
        code,
        name,
        source,
        layer,
        side,
        meaning,
        advice,
        carries: &[],
    }
}

impl Entry {
    const fn carrying(mut self, headers: &'static [&'static str]) -> Entry {
        self.carries = headers;
        self
    }
}

#[cfg(test)]
mod tests;

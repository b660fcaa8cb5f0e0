//! Which address answered (`peer`) and how every address tried fared (`addresses_tried`): the
//! evidence that tells "IPv4 firewalled, IPv6 fine" from "the host is down".

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Ipv4,
    Ipv6,
}

impl Family {
    pub fn of(address: &IpAddr) -> Family {
        match address {
            IpAddr::V4(_) => Family::Ipv4,
            IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() => Family::Ipv4,
            IpAddr::V6(_) => Family::Ipv6,
        }
    }

    /// `IPv4`, `IPv6`: for sentences.
    pub fn label(self) -> &'static str {
        match self {
            Family::Ipv4 => "IPv4",
            Family::Ipv6 => "IPv6",
        }
    }
}

/// The address wsprobe's connection went to: the target's, or the egress proxy's when one is
/// used (the target's address is then the proxy's business).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peer {
    pub address: String,
    pub family: Family,
}

impl Peer {
    pub fn of(address: &IpAddr) -> Peer {
        Peer {
            address: address.to_string(),
            family: Family::of(address),
        }
    }
}

/// How one connection attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The first to connect: the one used.
    Connected,
    /// A TCP reset: nothing listens there.
    Refused,
    /// No answer before the probe's deadline (or the system's own connect timeout).
    TimedOut,
    /// No route: the network or host is unreachable from here.
    Unreachable,
    /// Still waiting when another address connected, and abandoned (RFC 8305 §5).
    Cancelled,
    /// Any other error; `error` says which.
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Connected => "connected",
            Outcome::Refused => "refused",
            Outcome::TimedOut => "timed out",
            Outcome::Unreachable => "unreachable",
            Outcome::Cancelled => "abandoned",
            Outcome::Failed => "failed",
        }
    }
}

/// One connection attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AddressTried {
    pub address: String,
    pub family: Family,
    pub outcome: Outcome,
    /// When the attempt began, in milliseconds after the connect phase began.
    #[serde(serialize_with = "crate::wire::ms")]
    pub started_ms: f64,
    /// How long it ran until it ended as `outcome`.
    #[serde(serialize_with = "crate::wire::ms")]
    pub ms: f64,
    /// The system's words, for `failed` and `unreachable`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `IPv4 203.0.113.10 timed out after 4000 ms`.
impl fmt::Display for AddressTried {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {}",
            self.family.label(),
            self.address,
            self.outcome.as_str()
        )?;
        match self.outcome {
            Outcome::TimedOut => write!(f, " after {}", crate::text::ms(Some(self.ms))),
            Outcome::Cancelled => write!(
                f,
                " after {} without an answer",
                crate::text::ms(Some(self.ms))
            ),
            Outcome::Connected => write!(f, " in {}", crate::text::ms(Some(self.ms))),
            _ => match &self.error {
                Some(error) => write!(f, " ({error})"),
                None => Ok(()),
            },
        }
    }
}

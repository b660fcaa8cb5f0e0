//! Connecting to a name with several addresses as RFC 8305 (Happy Eyeballs v2) does: the
//! addresses in the resolver's order (RFC 6724) with the families interleaved, a new attempt
//! every 250 ms while earlier ones are still waiting (or at once when one fails), the first to
//! connect wins and the others are abandoned. Every attempt is recorded, so a result shows
//! "IPv4 timed out, IPv6 connected" rather than only the winner.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use tokio::net::TcpStream;

use super::connect::{NetFailure, is_local_exhaustion, local_failure};
use super::result::{AddressTried, Family, Outcome};
use super::timing::between_ms;
use crate::config::IpFamily;

/// RFC 8305 §5's recommended Connection Attempt Delay.
pub const ATTEMPT_DELAY: Duration = Duration::from_millis(250);

/// The addresses of `family` in the order they are tried. `Any` interleaves the families,
/// starting with the family of the resolver's first address (RFC 8305 §4: its order is RFC
/// 6724's, which puts IPv6 first where IPv6 works); `Prefer*` tries every address of one family
/// before the other's; `Ipv4`/`Ipv6` keep one family only.
pub fn order(addresses: &[SocketAddr], family: IpFamily) -> Vec<SocketAddr> {
    let of = |wanted: Family| -> Vec<SocketAddr> {
        addresses
            .iter()
            .copied()
            .filter(|a| Family::of(&a.ip()) == wanted)
            .collect()
    };
    let (v4, v6) = (of(Family::Ipv4), of(Family::Ipv6));
    match family {
        IpFamily::Ipv4 => v4,
        IpFamily::Ipv6 => v6,
        IpFamily::PreferIpv4 => [v4, v6].concat(),
        IpFamily::PreferIpv6 => [v6, v4].concat(),
        IpFamily::Any => {
            let first = addresses.first().map(|a| Family::of(&a.ip()));
            let (lead, follow) = if first == Some(Family::Ipv4) {
                (v4, v6)
            } else {
                (v6, v4)
            };
            interleave(lead, follow)
        }
    }
}

fn interleave(lead: Vec<SocketAddr>, follow: Vec<SocketAddr>) -> Vec<SocketAddr> {
    let mut out = Vec::with_capacity(lead.len() + follow.len());
    let (mut lead, mut follow) = (lead.into_iter(), follow.into_iter());
    loop {
        match (lead.next(), follow.next()) {
            (None, None) => return out,
            (a, b) => out.extend(a.into_iter().chain(b)),
        }
    }
}

type Attempt = Pin<Box<dyn Future<Output = (usize, io::Result<TcpStream>)> + Send>>;

/// Races connections to `addresses` (already ordered) until one connects or all have failed
/// or `deadline` passes. `tried` gets one entry per attempt started, in starting order, with
/// times from `started`.
pub async fn race(
    addresses: &[SocketAddr],
    started: Instant,
    deadline: Instant,
    tried: &mut Vec<AddressTried>,
) -> Result<(TcpStream, SocketAddr), NetFailure> {
    let mut begun: Vec<Instant> = Vec::with_capacity(addresses.len());
    let mut finished: Vec<bool> = Vec::with_capacity(addresses.len());
    let mut pending: FuturesUnordered<Attempt> = FuturesUnordered::new();
    let mut next_at = started;
    let port = addresses.first().map_or(0, SocketAddr::port);
    let give_up = tokio::time::sleep_until(deadline.into());
    tokio::pin!(give_up);
    loop {
        if pending.is_empty() && begun.len() == addresses.len() {
            return Err(all_failed(tried, port));
        }
        let can_start = begun.len() < addresses.len();
        tokio::select! {
            biased;
            Some((index, outcome)) = pending.next(), if !pending.is_empty() => {
                let now = Instant::now();
                finished[index] = true;
                let attempt = &mut tried[index];
                attempt.ms = between_ms(begun[index], now);
                match outcome {
                    Ok(stream) => {
                        attempt.outcome = Outcome::Connected;
                        abandon(tried, &begun, &finished, Outcome::Cancelled, now);
                        return Ok((stream, addresses[index]));
                    }
                    Err(err) if is_local_exhaustion(&err) => {
                        return Err(local_failure(&format!("connecting to {}", addresses[index]), &err));
                    }
                    Err(err) => {
                        (attempt.outcome, attempt.error) = classify(&err);
                        // A failure starts the next attempt at once (RFC 8305 §5).
                        next_at = now;
                    }
                }
            }
            _ = tokio::time::sleep_until(next_at.into()), if can_start => {
                let index = begun.len();
                let now = Instant::now();
                begun.push(now);
                finished.push(false);
                tried.push(AddressTried {
                    address: addresses[index].ip().to_string(),
                    family: Family::of(&addresses[index].ip()),
                    outcome: Outcome::TimedOut,
                    started_ms: between_ms(started, now),
                    ms: 0.0,
                    error: None,
                });
                let address = addresses[index];
                pending.push(Box::pin(async move { (index, TcpStream::connect(address).await) }));
                next_at = now + ATTEMPT_DELAY;
            }
            _ = &mut give_up => {
                abandon(tried, &begun, &finished, Outcome::TimedOut, Instant::now());
                return Err(all_failed(tried, port));
            }
        }
    }
}

/// Attempts still waiting end as `outcome` now.
fn abandon(
    tried: &mut [AddressTried],
    begun: &[Instant],
    finished: &[bool],
    outcome: Outcome,
    now: Instant,
) {
    for (index, attempt) in tried.iter_mut().enumerate() {
        if !finished[index] {
            attempt.outcome = outcome;
            attempt.ms = between_ms(begun[index], now);
        }
    }
}

fn classify(err: &io::Error) -> (Outcome, Option<String>) {
    const ENETUNREACH: i32 = 101;
    const EHOSTUNREACH: i32 = 113;
    match err.kind() {
        io::ErrorKind::ConnectionRefused => (Outcome::Refused, None),
        io::ErrorKind::TimedOut => (Outcome::TimedOut, None),
        _ if matches!(err.raw_os_error(), Some(ENETUNREACH | EHOSTUNREACH)) => {
            (Outcome::Unreachable, Some(err.to_string()))
        }
        _ => (Outcome::Failed, Some(err.to_string())),
    }
}

/// No attempt connected: a timeout anywhere makes it `connect_timeout` (something on the path
/// drops packets), refusals alone `connect_refused`; the message lists every attempt.
fn all_failed(tried: &[AddressTried], port: u16) -> NetFailure {
    let listed = tried
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let listed = format!("{listed} (port {port})");
    if tried.iter().any(|a| a.outcome == Outcome::TimedOut) {
        NetFailure::ConnectTimeout(format!("TCP connect timed out: {listed}"))
    } else {
        NetFailure::Refused(listed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(list: &[&str]) -> Vec<SocketAddr> {
        list.iter()
            .map(|ip| SocketAddr::new(ip.parse().unwrap(), 443))
            .collect()
    }

    fn ips(list: &[SocketAddr]) -> Vec<String> {
        list.iter().map(|a| a.ip().to_string()).collect()
    }

    #[test]
    fn order_per_family_setting() {
        // As a resolver gives them (RFC 6724: IPv6 first where it works).
        let resolved = addrs(&[
            "2001:db8::1",
            "2001:db8::2",
            "203.0.113.1",
            "203.0.113.2",
            "203.0.113.3",
        ]);
        let v4_first = addrs(&["203.0.113.1", "2001:db8::1", "2001:db8::2"]);
        #[rustfmt::skip]
        let cases: &[(&[SocketAddr], IpFamily, &[&str])] = &[
            (&resolved, IpFamily::Any, &["2001:db8::1", "203.0.113.1", "2001:db8::2", "203.0.113.2", "203.0.113.3"]),
            (&resolved, IpFamily::PreferIpv6, &["2001:db8::1", "2001:db8::2", "203.0.113.1", "203.0.113.2", "203.0.113.3"]),
            (&resolved, IpFamily::PreferIpv4, &["203.0.113.1", "203.0.113.2", "203.0.113.3", "2001:db8::1", "2001:db8::2"]),
            (&resolved, IpFamily::Ipv4, &["203.0.113.1", "203.0.113.2", "203.0.113.3"]),
            (&resolved, IpFamily::Ipv6, &["2001:db8::1", "2001:db8::2"]),
            // The resolver put IPv4 first (no IPv6 route here): Any follows it.
            (&v4_first, IpFamily::Any, &["203.0.113.1", "2001:db8::1", "2001:db8::2"]),
            (&v4_first, IpFamily::Ipv6, &["2001:db8::1", "2001:db8::2"]),
            (&addrs(&["203.0.113.1"]), IpFamily::Ipv6, &[]),
            (&[], IpFamily::Any, &[]),
        ];
        for (resolved, family, expected) in cases {
            assert_eq!(
                ips(&order(resolved, *family)),
                *expected,
                "{family:?} over {:?}",
                ips(resolved)
            );
        }
    }

    #[test]
    fn an_ipv4_mapped_address_counts_as_ipv4() {
        assert_eq!(
            ips(&order(
                &addrs(&["::ffff:203.0.113.1", "2001:db8::1"]),
                IpFamily::Ipv4
            )),
            ["::ffff:203.0.113.1"]
        );
    }

    #[tokio::test]
    async fn refused_addresses_are_all_listed_in_order() {
        // Ports held bound but not listening on loopback: each refuses at once, and no other
        // test can take them meanwhile.
        let held: Vec<tokio::net::TcpSocket> = (0..3)
            .map(|_| {
                let socket = tokio::net::TcpSocket::new_v4().unwrap();
                socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
                socket
            })
            .collect();
        let closed: Vec<SocketAddr> = held.iter().map(|s| s.local_addr().unwrap()).collect();
        let started = Instant::now();
        let mut tried = Vec::new();
        let failure = race(
            &closed,
            started,
            started + Duration::from_secs(20),
            &mut tried,
        )
        .await
        .unwrap_err();
        assert!(matches!(failure, NetFailure::Refused(_)), "{failure:?}");
        assert_eq!(tried.len(), 3);
        assert!(
            tried.iter().all(|a| a.outcome == Outcome::Refused),
            "{tried:?}"
        );
        assert_eq!(
            ips(&closed),
            tried.iter().map(|a| a.address.clone()).collect::<Vec<_>>()
        );
    }
}

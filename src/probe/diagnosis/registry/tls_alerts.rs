//! RFC 8446 §6 alert descriptions, every one named: what a peer says when it ends a TLS
//! connection, during the handshake or (TLS 1.3's `certificate_required`) right after it.

use super::Layer::*;
use super::Side::*;
use super::{Entry, row};

const RFC: &str = "RFC 8446";

pub static TLS_ALERTS: &[Entry] = &[
    row(
        0,
        "close_notify",
        RFC,
        Tls,
        Server,
        "the server closed the TLS connection in an orderly way",
        "it ended the connection on purpose; its logs say why",
    ),
    row(
        10,
        "unexpected_message",
        RFC,
        Tls,
        Server,
        "the server received a TLS message out of order",
        "a TLS-terminating box in between, or a broken TLS stack on one side",
    ),
    row(
        20,
        "bad_record_mac",
        RFC,
        Tls,
        Server,
        "the server could not authenticate a TLS record",
        "something on the path corrupts or rewrites bytes (a middlebox, an MTU problem)",
    ),
    row(
        22,
        "record_overflow",
        RFC,
        Tls,
        Server,
        "the server received a TLS record longer than allowed",
        "a middlebox mangling records, or a broken TLS stack",
    ),
    row(
        40,
        "handshake_failure",
        RFC,
        Tls,
        Server,
        "the server found no acceptable set of TLS parameters (version, cipher suite, curve)",
        "align the server's TLS policy with what wsprobe offers (TLS 1.2 and 1.3, modern suites)",
    ),
    row(
        42,
        "bad_certificate",
        RFC,
        Auth,
        Server,
        "the server refused the client certificate (or the lack of one): it wants a client certificate",
        "give wsprobe a client certificate signed by the CA the server trusts",
    ),
    row(
        43,
        "unsupported_certificate",
        RFC,
        Tls,
        Server,
        "the server cannot use the type of certificate it was given",
        "use a client certificate with a key type the server accepts",
    ),
    row(
        44,
        "certificate_revoked",
        RFC,
        Tls,
        Server,
        "a certificate was revoked by its signer",
        "issue a new certificate",
    ),
    row(
        45,
        "certificate_expired",
        RFC,
        Tls,
        Server,
        "a certificate in the exchange has expired or is not yet valid",
        "renew it, and check both clocks",
    ),
    row(
        46,
        "certificate_unknown",
        RFC,
        Tls,
        Server,
        "the server could not accept a certificate for a reason it does not name",
        "check the client certificate's chain and usage",
    ),
    row(
        47,
        "illegal_parameter",
        RFC,
        Tls,
        Server,
        "a field in the TLS handshake was out of range or inconsistent",
        "a TLS interception box or an incompatible TLS stack; compare with a direct connection",
    ),
    row(
        48,
        "unknown_ca",
        RFC,
        Auth,
        Server,
        "the server does not trust the CA that signed the client certificate",
        "sign the client certificate with a CA in the server's trust list",
    ),
    row(
        49,
        "access_denied",
        RFC,
        Auth,
        Server,
        "the certificate was valid but the server's access control refuses it",
        "grant this certificate's identity access on the server",
    ),
    row(
        50,
        "decode_error",
        RFC,
        Tls,
        Server,
        "the server could not decode a TLS message",
        "something on the path rewrites TLS bytes, or the two TLS stacks disagree",
    ),
    row(
        51,
        "decrypt_error",
        RFC,
        Tls,
        Server,
        "a TLS signature or key exchange check failed on the server",
        "a mismatched certificate and key, or a TLS interception box",
    ),
    row(
        70,
        "protocol_version",
        RFC,
        Tls,
        Server,
        "client and server share no TLS version or cipher suite: the server does not support the version wsprobe offered",
        "the server only speaks a version wsprobe refuses (TLS 1.0/1.1) or one it lacks; update its TLS policy",
    ),
    row(
        71,
        "insufficient_security",
        RFC,
        Tls,
        Server,
        "the server wants stronger cipher suites than were offered",
        "align the server's cipher policy with modern suites",
    ),
    row(
        80,
        "internal_error",
        RFC,
        Tls,
        Server,
        "the server's TLS stack failed internally",
        "the server's logs hold the cause (often a missing key or certificate file)",
    ),
    row(
        86,
        "inappropriate_fallback",
        RFC,
        Tls,
        Server,
        "the server detected a version downgrade retry",
        "a middlebox interfered with the first handshake",
    ),
    row(
        90,
        "user_canceled",
        RFC,
        Tls,
        Server,
        "the server cancelled the handshake",
        "its logs say why",
    ),
    row(
        109,
        "missing_extension",
        RFC,
        Tls,
        Server,
        "the server missed a TLS extension it requires",
        "the TLS stacks disagree; compare with another client",
    ),
    row(
        110,
        "unsupported_extension",
        RFC,
        Tls,
        Server,
        "the server received a TLS extension it never offered",
        "the TLS stacks disagree; compare with another client",
    ),
    row(
        112,
        "unrecognized_name",
        RFC,
        Tls,
        Server,
        "the server has no site for the host name sent in SNI",
        "check the URL's host and the server's SNI routes",
    ),
    row(
        113,
        "bad_certificate_status_response",
        RFC,
        Tls,
        Server,
        "an OCSP status response was invalid",
        "check the server's OCSP stapling",
    ),
    row(
        115,
        "unknown_psk_identity",
        RFC,
        Tls,
        Server,
        "the server does not know the pre-shared key offered",
        "a session resumption went stale; a new connection should pass",
    ),
    row(
        116,
        "certificate_required",
        RFC,
        Auth,
        Server,
        "the server requires a client certificate and none was presented (TLS 1.3 says so right after the handshake)",
        "give wsprobe a client certificate, or turn off client verification on this route",
    ),
    row(
        120,
        "no_application_protocol",
        RFC,
        Tls,
        Server,
        "the server supports none of the application protocols offered in ALPN",
        "offer http/1.1 in ALPN, or enable it on the server",
    ),
];

/// The alert an error text names, in rustls's (`CertificateRequired`) or OpenSSL's
/// (`tlsv13 alert certificate required`) wording.
pub fn tls_alert_in(error: &str) -> Option<Entry> {
    let lower = error.to_ascii_lowercase();
    if !lower.contains("alert") {
        return None;
    }
    let squashed: String = lower
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    // Longest names first: `certificate_required` before `certificate_unknown`'s neighbours,
    // `bad_certificate_status_response` before `bad_certificate`.
    let mut by_length: Vec<&Entry> = TLS_ALERTS.iter().collect();
    by_length.sort_by_key(|e| std::cmp::Reverse(e.name.len()));
    by_length.into_iter().copied().find(|entry| {
        let bare = entry.name;
        let spaced = bare.replace('_', " ");
        let joined = bare.replace('_', "");
        lower.contains(&spaced) || lower.contains(bare) || squashed.contains(&joined)
    })
}

/// The alert with this number.
pub fn tls_alert(code: u16) -> Option<Entry> {
    TLS_ALERTS.iter().find(|e| e.code == code).copied()
}

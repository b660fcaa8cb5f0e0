//! One verdict from all the evidence. Pure: the precedence below is the whole policy.

use super::result::Verdict;

/// The first thing that went wrong on the way from token to close, if anything did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    Token,
    ProbeError,
    Dns,
    ConnectRefused,
    ConnectTimeout,
    Tls,
    UpgradeRejected,
    UpgradeTimeout,
    Protocol,
    ClosedBeforeReady,
    ReadyTimeout,
    ReadyMismatch,
    StepFailed,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Evidence {
    pub stop: Option<Stop>,
    /// The backend's echo shows a required header absent although it was sent.
    pub headers_missing: bool,
    /// `expect_subprotocol` is set and the server selected another or none.
    pub subprotocol_mismatch: bool,
    /// `None` when no health check is configured or it was not reached.
    pub health_ok: Option<bool>,
    pub cert_expiring: bool,
    pub slow: bool,
}

/// Precedence, highest first:
/// 1. failures before any WebSocket exists (token, probe error, dns, connect, tls, upgrade):
///    nothing later can have happened;
/// 2. `headers_stripped`: the stripped header *causes* what follows (the 1011, the missing
///    subprotocol), so it is the verdict, not its symptoms;
/// 3. `protocol_error`: the frames themselves cannot be trusted;
/// 4. `subprotocol_mismatch`: a real client library would already have given up here;
/// 5. what happened in the session (closed/timeout/mismatch before ready, a later step);
/// 6. `health_failed`: the socket works but the HTTP health check does not;
/// 7. the degraded verdicts, certificate before slowness (a deadline beats a symptom).
pub fn decide(evidence: &Evidence) -> Verdict {
    use Stop::*;
    match evidence.stop {
        Some(Token) => return Verdict::TokenFailed,
        Some(ProbeError) => return Verdict::ProbeError,
        Some(Dns) => return Verdict::DnsFailed,
        Some(ConnectRefused) => return Verdict::ConnectRefused,
        Some(ConnectTimeout) => return Verdict::ConnectTimeout,
        Some(Tls) => return Verdict::TlsFailed,
        Some(UpgradeRejected) => return Verdict::UpgradeRejected,
        Some(UpgradeTimeout) => return Verdict::UpgradeTimeout,
        _ => {}
    }
    if evidence.headers_missing {
        return Verdict::HeadersStripped;
    }
    if evidence.stop == Some(Protocol) {
        return Verdict::ProtocolError;
    }
    if evidence.subprotocol_mismatch {
        return Verdict::SubprotocolMismatch;
    }
    match evidence.stop {
        Some(ClosedBeforeReady) => return Verdict::ClosedBeforeReady,
        Some(ReadyTimeout) => return Verdict::ReadyTimeout,
        Some(ReadyMismatch) => return Verdict::ReadyMismatch,
        Some(StepFailed) => return Verdict::StepFailed,
        _ => {}
    }
    if evidence.health_ok == Some(false) {
        return Verdict::HealthFailed;
    }
    if evidence.cert_expiring {
        return Verdict::CertExpiring;
    }
    if evidence.slow {
        return Verdict::Slow;
    }
    Verdict::Ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stop(stop: Stop) -> Evidence {
        Evidence {
            stop: Some(stop),
            ..Evidence::default()
        }
    }

    #[test]
    fn precedence_table() {
        let everything_wrong_after_upgrade = Evidence {
            stop: Some(Stop::ClosedBeforeReady),
            headers_missing: true,
            subprotocol_mismatch: true,
            health_ok: Some(false),
            cert_expiring: true,
            slow: true,
        };
        let cases: Vec<(&str, Evidence, Verdict)> = vec![
            ("nothing wrong", Evidence::default(), Verdict::Ok),
            ("token", stop(Stop::Token), Verdict::TokenFailed),
            ("dns", stop(Stop::Dns), Verdict::DnsFailed),
            (
                "refused",
                stop(Stop::ConnectRefused),
                Verdict::ConnectRefused,
            ),
            (
                "connect timeout",
                stop(Stop::ConnectTimeout),
                Verdict::ConnectTimeout,
            ),
            ("tls", stop(Stop::Tls), Verdict::TlsFailed),
            (
                "rejected",
                stop(Stop::UpgradeRejected),
                Verdict::UpgradeRejected,
            ),
            (
                "upgrade timeout",
                stop(Stop::UpgradeTimeout),
                Verdict::UpgradeTimeout,
            ),
            ("protocol", stop(Stop::Protocol), Verdict::ProtocolError),
            (
                "closed",
                stop(Stop::ClosedBeforeReady),
                Verdict::ClosedBeforeReady,
            ),
            (
                "ready timeout",
                stop(Stop::ReadyTimeout),
                Verdict::ReadyTimeout,
            ),
            (
                "ready mismatch",
                stop(Stop::ReadyMismatch),
                Verdict::ReadyMismatch,
            ),
            ("step", stop(Stop::StepFailed), Verdict::StepFailed),
            ("probe error", stop(Stop::ProbeError), Verdict::ProbeError),
            (
                "stripped header beats the 1011 it caused",
                everything_wrong_after_upgrade,
                Verdict::HeadersStripped,
            ),
            (
                "stripped header beats the missing subprotocol",
                Evidence {
                    headers_missing: true,
                    subprotocol_mismatch: true,
                    ..Evidence::default()
                },
                Verdict::HeadersStripped,
            ),
            (
                "subprotocol mismatch beats the close",
                Evidence {
                    subprotocol_mismatch: true,
                    ..stop(Stop::ClosedBeforeReady)
                },
                Verdict::SubprotocolMismatch,
            ),
            (
                "protocol error beats subprotocol mismatch",
                Evidence {
                    subprotocol_mismatch: true,
                    ..stop(Stop::Protocol)
                },
                Verdict::ProtocolError,
            ),
            (
                "socket failure beats health failure",
                Evidence {
                    health_ok: Some(false),
                    ..stop(Stop::ReadyTimeout)
                },
                Verdict::ReadyTimeout,
            ),
            (
                "health failure with a working socket",
                Evidence {
                    health_ok: Some(false),
                    slow: true,
                    ..Evidence::default()
                },
                Verdict::HealthFailed,
            ),
            (
                "token failure beats everything",
                Evidence {
                    headers_missing: true,
                    ..stop(Stop::Token)
                },
                Verdict::TokenFailed,
            ),
            (
                "expiring certificate beats slowness",
                Evidence {
                    cert_expiring: true,
                    slow: true,
                    ..Evidence::default()
                },
                Verdict::CertExpiring,
            ),
            (
                "slow",
                Evidence {
                    slow: true,
                    health_ok: Some(true),
                    ..Evidence::default()
                },
                Verdict::Slow,
            ),
        ];
        for (name, evidence, want) in cases {
            assert_eq!(decide(&evidence), want, "{name}");
        }
    }

    #[test]
    fn status_follows_verdict() {
        use super::super::result::Status;
        assert_eq!(Verdict::Ok.status(), Status::Up);
        assert_eq!(Verdict::Slow.status(), Status::Degraded);
        assert_eq!(Verdict::CertExpiring.status(), Status::Degraded);
        for verdict in Verdict::ALL.into_iter().skip(3) {
            assert_eq!(verdict.status(), Status::Down, "{verdict}");
        }
    }
}

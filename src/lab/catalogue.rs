//! The lab's WebSocket endpoints: one row per failure, the single source for routing and for
//! what `wsprobe lab` prints.

/// One misbehaviour, served at `/ws/{name}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    Healthy,
    InternalError,
    CleanClose,
    StripAuth,
    StripTrace,
    AuthBackend,
    NoWelcome,
    Reject401,
    NoSubprotocol,
    SlowWelcome,
    Startup,
    Flaky,
    ErrorMessage,
    HangUpgrade,
    Garbage,
    Huge,
    BadAccept,
    HtmlClose,
    TokenExpired,
    BinaryWelcome,
    OtherEvent,
    NoPong,
    Frozen,
    Heartbeat,
    IdleTimeout,
    QueryToken,
    Origin,
}

/// What a row says about its scenario.
pub struct Row {
    pub scenario: Scenario,
    pub name: &'static str,
    /// The verdict wsprobe should give; `None` for internal plumbing not meant to be probed.
    pub expect: Option<&'static str>,
    pub description: &'static str,
}

pub const ROWS: &[Row] = &[
    Row {
        scenario: Scenario::Healthy,
        name: "healthy",
        expect: Some("ok"),
        description: "welcome echoing the received headers (traceparent too), ping/pong, selects jwt-auth",
    },
    Row {
        scenario: Scenario::InternalError,
        name: "internal-error",
        expect: Some("closed_before_ready"),
        description: "accepts, then closes 1011 \"Internal error\" ~63 ms later, before the welcome",
    },
    Row {
        scenario: Scenario::CleanClose,
        name: "clean-close",
        expect: Some("closed_before_ready"),
        description: "accepts, then closes 1000 \"main cleanup\" before the welcome",
    },
    Row {
        scenario: Scenario::StripAuth,
        name: "strip-auth",
        expect: Some("headers_stripped"),
        description: "a proxy that drops Authorization and Sec-WebSocket-Protocol on upgrade; \
                      the backend echoes what it got in an error and closes 1011",
    },
    Row {
        scenario: Scenario::StripTrace,
        name: "strip-trace",
        expect: Some("headers_stripped"),
        description: "a proxy that drops traceparent in front of a healthy backend (with \
                      `echo.require: [traceparent]`)",
    },
    Row {
        scenario: Scenario::AuthBackend,
        name: "auth-backend",
        expect: None,
        description: "the backend behind strip-auth: welcome with credentials, 1011 without",
    },
    Row {
        scenario: Scenario::NoWelcome,
        name: "no-welcome",
        expect: Some("ready_timeout"),
        description: "accepts and never says anything",
    },
    Row {
        scenario: Scenario::Reject401,
        name: "reject-401",
        expect: Some("upgrade_rejected"),
        description: "answers the upgrade with 401 {\"detail\":\"Not authenticated\"}",
    },
    Row {
        scenario: Scenario::NoSubprotocol,
        name: "no-subprotocol",
        expect: Some("subprotocol_mismatch"),
        description: "healthy, but never selects a subprotocol",
    },
    Row {
        scenario: Scenario::SlowWelcome,
        name: "slow-welcome",
        expect: Some("slow"),
        description: "healthy, but the welcome comes 2.5 s after the upgrade",
    },
    Row {
        scenario: Scenario::Startup,
        name: "startup",
        expect: Some("closed_before_ready then ok"),
        description: "closes 1011 \"Service startup incomplete\" until startup is over, then healthy",
    },
    Row {
        scenario: Scenario::Flaky,
        name: "flaky",
        expect: Some("ok / closed_before_ready"),
        description: "odd-numbered connections healthy, even-numbered ones closed 1011",
    },
    Row {
        scenario: Scenario::ErrorMessage,
        name: "error-message",
        expect: Some("ready_mismatch"),
        description: "sends an error message instead of the welcome, then closes 1008",
    },
    Row {
        scenario: Scenario::HangUpgrade,
        name: "hang-upgrade",
        expect: Some("upgrade_timeout"),
        description: "reads the upgrade request and never answers",
    },
    Row {
        scenario: Scenario::Garbage,
        name: "garbage",
        expect: Some("protocol_error"),
        description: "a valid 101 followed by bytes that are not WebSocket frames",
    },
    Row {
        scenario: Scenario::Huge,
        name: "huge",
        expect: Some("protocol_error"),
        description: "a valid 101 followed by one 50 MiB text message",
    },
    Row {
        scenario: Scenario::BadAccept,
        name: "bad-accept",
        expect: Some("protocol_error"),
        description: "a 101 with a wrong Sec-WebSocket-Accept",
    },
    Row {
        scenario: Scenario::HtmlClose,
        name: "html-close",
        expect: Some("closed_before_ready"),
        description: "closes 1011 with an HTML/script close reason (output must escape it)",
    },
    Row {
        scenario: Scenario::TokenExpired,
        name: "token-expired",
        expect: Some("closed_before_ready"),
        description: "the application's own close, 4401 \"token expired\", right after accept",
    },
    Row {
        scenario: Scenario::BinaryWelcome,
        name: "binary-welcome",
        expect: Some("closed_before_ready"),
        description: "a binary frame where the JSON welcome should be, then a 1000 close",
    },
    Row {
        scenario: Scenario::OtherEvent,
        name: "other-event",
        expect: Some("closed_before_ready"),
        description: "a welcome of another protocol version ({\"type\":\"hello\",\"protocol\":2}), then a 1000 close",
    },
    Row {
        scenario: Scenario::NoPong,
        name: "no-pong",
        expect: Some("step_failed"),
        description: "welcomes, then never answers the application ping; its WebSocket layer still answers the close",
    },
    Row {
        scenario: Scenario::Frozen,
        name: "frozen",
        expect: Some("step_failed"),
        description: "welcomes, then stops reading altogether: the ping and the close go unanswered",
    },
    Row {
        scenario: Scenario::Heartbeat,
        name: "heartbeat",
        expect: Some("ok (with keepalive)"),
        description: "sends {\"type\":\"heartbeat\"} every 250 ms and closes 4000 when one is unanswered for 3 s; the pong comes 5 s after the ping",
    },
    Row {
        scenario: Scenario::IdleTimeout,
        name: "idle-timeout",
        expect: Some("ok (with keepalive)"),
        description: "closes 1000 \"idle timeout\" after 3 s without a client message; the pong comes 5 s after the ping",
    },
    Row {
        scenario: Scenario::QueryToken,
        name: "query-token",
        expect: Some("ok"),
        description: "healthy when the URL's query carries a token the lab issued (?token= or ?access_token=), 401 otherwise",
    },
    Row {
        scenario: Scenario::Origin,
        name: "origin",
        expect: Some("ok"),
        description: "healthy when the upgrade's Origin is the lab's own (http://HOST), 403 without one or with another",
    },
];

impl Scenario {
    /// The scenario served at `/ws/{name}`.
    pub fn from_name(name: &str) -> Option<Scenario> {
        ROWS.iter().find(|r| r.name == name).map(|r| r.scenario)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scenario_has_exactly_one_row() {
        for row in ROWS {
            assert_eq!(
                Scenario::from_name(row.name),
                Some(row.scenario),
                "{}",
                row.name
            );
            assert_eq!(
                ROWS.iter().filter(|r| r.scenario == row.scenario).count(),
                1
            );
        }
    }
}

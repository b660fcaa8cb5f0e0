//! The tables are complete and say different things for different entries.
use std::collections::HashSet;

use super::*;

#[test]
fn every_iana_close_code_has_one_row() {
    let codes: Vec<u16> = CLOSE_CODES.iter().map(|e| e.code).collect();
    assert_eq!(codes, (1000..=1015).collect::<Vec<_>>());
    let graphql: Vec<u16> = GRAPHQL_WS.iter().map(|e| e.code).collect();
    assert_eq!(
        graphql,
        [4400, 4401, 4403, 4406, 4408, 4409, 4429, 4499, 4500]
    );
}

#[test]
fn the_ranges_cover_every_code_once() {
    // 1000–1015 are the table's own rows.
    let mut next = 0u32;
    for (first, last, entry) in CLOSE_RANGES {
        assert_eq!(u32::from(*first), next, "gap before {first}");
        assert_eq!(entry.code, *first);
        next = u32::from(*last) + 1;
        if next == 1000 {
            next = 1016;
        }
    }
    assert_eq!(next, 65536);
    for code in [0, 999, 1016, 2999, 3000, 3999, 4000, 4999, 5000, u16::MAX] {
        assert_eq!(close_code(code, None).code, code);
    }
    assert_eq!(close_code(4401, None).name, "Private use");
    assert_eq!(
        close_code(4401, Some("graphql-transport-ws")).name,
        "Unauthorized"
    );
}

#[test]
fn the_wire_accepts_every_registered_code_and_nothing_else() {
    for entry in CLOSE_CODES {
        let local_only = matches!(entry.code, 1004..=1006 | 1015);
        assert_eq!(valid_on_wire(entry.code), !local_only, "{}", entry.code);
    }
    assert!(valid_on_wire(3000) && valid_on_wire(4999));
    assert!(!valid_on_wire(999) && !valid_on_wire(2999) && !valid_on_wire(5000));
}

#[test]
fn every_http_status_rfc_9110_and_the_proxies_define_has_a_row() {
    let rfc_9110 = [
        100, 101, 200, 201, 202, 203, 204, 205, 206, 300, 301, 302, 303, 304, 305, 306, 307, 308,
        400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416, 417,
        418, 421, 422, 426, 500, 501, 502, 503, 504, 505,
    ];
    let others = [
        428, 429, 431, 511, 444, 494, 495, 496, 497, 499, 520, 521, 522, 523, 524, 525, 526, 527,
        530,
    ];
    for status in rfc_9110.iter().chain(&others) {
        let rows = HTTP_STATUSES.iter().filter(|e| e.code == *status).count();
        assert_eq!(rows, 1, "HTTP {status}");
    }
    assert_eq!(HTTP_STATUSES.len(), rfc_9110.len() + others.len());
    assert_eq!(http_status(407).side, Side::Intermediary);
    assert_eq!(http_status(599).name, "Server Error");
}

#[test]
fn every_rfc_8446_alert_has_a_row_and_is_found_in_either_wording() {
    let names = [
        "close_notify",
        "unexpected_message",
        "bad_record_mac",
        "record_overflow",
        "handshake_failure",
        "bad_certificate",
        "unsupported_certificate",
        "certificate_revoked",
        "certificate_expired",
        "certificate_unknown",
        "illegal_parameter",
        "unknown_ca",
        "access_denied",
        "decode_error",
        "decrypt_error",
        "protocol_version",
        "insufficient_security",
        "internal_error",
        "inappropriate_fallback",
        "user_canceled",
        "missing_extension",
        "unsupported_extension",
        "unrecognized_name",
        "bad_certificate_status_response",
        "unknown_psk_identity",
        "certificate_required",
        "no_application_protocol",
    ];
    let table: Vec<&str> = TLS_ALERTS.iter().map(|e| e.name).collect();
    assert_eq!(table, names);
    for entry in TLS_ALERTS {
        let camel: String = entry
            .name
            .split('_')
            .map(|w| w[..1].to_ascii_uppercase() + &w[1..])
            .collect();
        let rustls = format!("received fatal alert: {camel}");
        let openssl = format!("tlsv13 alert {}", entry.name.replace('_', " "));
        for text in [rustls, openssl] {
            assert_eq!(
                tls_alert_in(&text).map(|e| e.name),
                Some(entry.name),
                "{text}"
            );
        }
        assert_eq!(tls_alert(entry.code), Some(*entry));
    }
}

#[test]
fn every_mqtt_failure_code_has_one_row() {
    let v311: Vec<u16> = mqtt::MQTT311_CONNACK.iter().map(|e| e.code).collect();
    assert_eq!(v311, [1, 2, 3, 4, 5]);
    let v5: Vec<u16> = mqtt::MQTT5_REASONS.iter().map(|e| e.code).collect();
    assert_eq!(v5, (0x80..=0xA2).collect::<Vec<_>>());
    for code in 1..=5 {
        assert_eq!(mqtt::connack(code).unwrap().source, "MQTT 3.1.1");
    }
    assert_eq!(mqtt::connack(0x87).unwrap().name, "Not authorized");
    assert_eq!(mqtt::connack(0), None);
    assert_eq!(mqtt::connack(0x10), None);
}

#[test]
fn no_two_entries_of_a_table_mean_the_same() {
    let tables: [(&str, Vec<&Entry>); 4] = [
        (
            "close codes",
            CLOSE_CODES
                .iter()
                .chain(GRAPHQL_WS)
                .chain(CLOSE_RANGES.iter().map(|(_, _, e)| e))
                .collect(),
        ),
        ("HTTP", HTTP_STATUSES.iter().collect()),
        ("TLS", TLS_ALERTS.iter().collect()),
        (
            "MQTT",
            mqtt::MQTT311_CONNACK
                .iter()
                .chain(mqtt::MQTT5_REASONS)
                .chain([&mqtt::MQTT311_SUBACK_FAILURE])
                .collect(),
        ),
    ];
    for (table, entries) in tables {
        let mut seen = HashSet::new();
        for entry in entries {
            assert!(
                seen.insert(entry.meaning),
                "{table}: {} repeats the meaning {:?}",
                entry.code,
                entry.meaning
            );
        }
    }
}

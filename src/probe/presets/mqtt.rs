//! MQTT 3.1.1 (OASIS, 2014) and 5.0 (OASIS, 2019) over the `mqtt` subprotocol, one control
//! packet per binary message (both specifications' §6): `CONNECT` answered `CONNACK`, then
//! `PINGREQ` → `PINGRESP` as the application's ping, an optional `SUBSCRIBE` → `SUBACK`;
//! `PINGREQ` again every Keep Alive; `DISCONNECT` before the close. Refusals: a CONNACK or
//! SUBACK failure code, a server's DISCONNECT with one (the registry's MQTT tables name them).
//! The few packets are encoded and decoded here, by hand: they are small and the
//! specifications give their bytes.

use std::time::Duration;

use tokio_tungstenite::tungstenite::Message;

use super::{Dialect, Fill, Refusal, expect};
use crate::config::Matcher;
use crate::config::protocols::{MqttOptions, MqttVersion};
use crate::probe::diagnosis::registry::mqtt as codes;
use crate::probe::keepalive::Rule;
use crate::probe::message::Incoming;
use crate::probe::session::Action;

/// Control packet types, the high nibble of the first byte (§2.2.1).
const CONNECT: u8 = 0x10;
const CONNACK: u8 = 0x20;
/// SUBSCRIBE's fixed header has flags 0010 (§3.8.1).
const SUBSCRIBE: u8 = 0x82;
const SUBACK: u8 = 0x90;
const PINGREQ: [u8; 2] = [0xC0, 0x00];
const PINGRESP: [u8; 2] = [0xD0, 0x00];
const DISCONNECT: [u8; 2] = [0xE0, 0x00];
/// The one SUBSCRIBE the probe sends.
const PACKET_ID: u16 = 1;

pub(super) fn dialect(options: &MqttOptions, within: Duration, fill: &Fill) -> Dialect {
    let client_id = match &options.client_id {
        Some(id) => fill.text(id),
        None => fresh_client_id(),
    };
    let shown_id = match &options.client_id {
        Some(_) => format!("{client_id:?}"),
        None => "fresh per probe".to_owned(),
    };
    let username = options.username.as_deref().map(|u| fill.text(u));
    let password = options.password.as_ref().map(|p| fill.secret(p));
    let keep_alive = u16::try_from(options.keep_alive.as_secs()).unwrap_or(u16::MAX);
    let connect = Connect {
        version: options.version,
        client_id: &client_id,
        keep_alive,
        username: username.as_deref(),
        password: password.as_deref(),
    };
    let mut opening = vec![
        send(connect.encode(), connect.label(&shown_id)),
        expect(within, Matcher::Binary(vec![CONNACK]), "CONNACK"),
        send(PINGREQ.to_vec(), "PINGREQ".into()),
        expect(within, Matcher::Binary(PINGRESP.to_vec()), "PINGRESP"),
    ];
    if let Some(topic) = &options.topic {
        let topic = fill.text(topic);
        opening.push(send(
            subscribe(options.version, &topic),
            format!("SUBSCRIBE {topic:?} (QoS 0)"),
        ));
        opening.push(expect(within, Matcher::Binary(vec![SUBACK]), "SUBACK"));
    }
    Dialect {
        opening,
        keepalive: vec![Rule::Every {
            period: Some(options.keep_alive),
            message: Message::binary(PINGREQ.to_vec()),
            period_from: None,
        }],
        closing: vec![Message::binary(DISCONNECT.to_vec())],
        refusal,
    }
}

/// A client identifier of its own per probe: two probes with one identifier (a confirmation
/// retry, another location) would take over each other's session. Letters and digits within
/// 23 characters, which every broker must accept (§3.1.3.1).
fn fresh_client_id() -> String {
    format!("wsprobe{:012x}", rand::random::<u64>() & 0xffff_ffff_ffff)
}

fn send(bytes: Vec<u8>, label: String) -> Action {
    Action::Send {
        message: Message::binary(bytes),
        label,
    }
}

/// The fields of a CONNECT packet (clean session, no will).
struct Connect<'a> {
    version: MqttVersion,
    client_id: &'a str,
    keep_alive: u16,
    username: Option<&'a str>,
    password: Option<&'a str>,
}

impl Connect<'_> {
    /// §3.1: protocol name, level, flags, keep alive (v5: properties, none), then the client
    /// identifier, user name and password.
    fn encode(&self) -> Vec<u8> {
        let mut flags = 0x02; // clean session (v5: clean start)
        if self.username.is_some() {
            flags |= 0x80;
        }
        if self.password.is_some() {
            flags |= 0x40;
        }
        let mut body = string("MQTT");
        body.push(match self.version {
            MqttVersion::V311 => 4,
            MqttVersion::V5 => 5,
        });
        body.push(flags);
        body.extend_from_slice(&self.keep_alive.to_be_bytes());
        if self.version == MqttVersion::V5 {
            body.push(0); // no properties
        }
        body.extend(string(self.client_id));
        for field in [self.username, self.password].into_iter().flatten() {
            body.extend(string(field));
        }
        packet(CONNECT, body)
    }

    fn label(&self, shown_id: &str) -> String {
        let version = match self.version {
            MqttVersion::V311 => "3.1.1",
            MqttVersion::V5 => "5",
        };
        let mut label = format!(
            "CONNECT (MQTT {version}, client id {shown_id}, keep alive {} s",
            self.keep_alive
        );
        if let Some(username) = self.username {
            label.push_str(&format!(", username {username:?}"));
        }
        if self.password.is_some() {
            label.push_str(", password [redacted]");
        }
        label.push(')');
        label
    }
}

/// §3.8: one topic filter at QoS 0 (v5: no properties, subscription options 0).
fn subscribe(version: MqttVersion, topic: &str) -> Vec<u8> {
    let mut body = PACKET_ID.to_be_bytes().to_vec();
    if version == MqttVersion::V5 {
        body.push(0);
    }
    body.extend(string(topic));
    body.push(0);
    packet(SUBSCRIBE, body)
}

fn packet(first: u8, body: Vec<u8>) -> Vec<u8> {
    let mut bytes = vec![first];
    bytes.extend(remaining_length(body.len()));
    bytes.extend(body);
    bytes
}

/// §1.5.3: a two-byte length, then the UTF-8 bytes (validation keeps them under 65536).
fn string(text: &str) -> Vec<u8> {
    let len = u16::try_from(text.len()).unwrap_or(u16::MAX);
    let mut bytes = len.to_be_bytes().to_vec();
    bytes.extend_from_slice(&text.as_bytes()[..usize::from(len)]);
    bytes
}

/// §2.2.3: seven bits a byte, the high bit saying another follows.
fn remaining_length(mut len: usize) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(4);
    loop {
        let mut byte = (len % 128) as u8;
        len /= 128;
        if len > 0 {
            byte |= 0x80;
        }
        bytes.push(byte);
        if len == 0 {
            return bytes;
        }
    }
}

/// A packet's first byte and the bytes after its fixed header, if it is whole.
fn split(data: &[u8]) -> Option<(u8, &[u8])> {
    let (&first, rest) = data.split_first()?;
    let (mut len, mut shift, mut used) = (0usize, 0u32, 0usize);
    loop {
        let byte = *rest.get(used)?;
        len |= usize::from(byte & 0x7F) << shift;
        used += 1;
        if byte & 0x80 == 0 {
            break;
        }
        shift += 7;
        if used == 4 {
            return None;
        }
    }
    rest.get(used..used + len).map(|body| (first, body))
}

/// CONNACK and SUBACK failure codes, and a server's DISCONNECT with a reason.
pub(super) fn refusal(message: Incoming<'_>) -> Option<Refusal> {
    let Incoming::Binary(data) = message else {
        return None;
    };
    let (first, body) = split(data)?;
    match first & 0xF0 {
        CONNACK => {
            let code = *body.get(1)?;
            let entry = (code != 0).then(|| codes::connack(code))??;
            let what = match code {
                1..=5 => format!("CONNACK return code {code}"),
                _ => format!("CONNACK reason code 0x{code:02X}"),
            };
            Some(named(what, entry))
        }
        SUBACK => {
            // 3.1.1: packet id, then one code; 5.0: packet id, properties, then the codes.
            let code = if body.len() == 3 {
                let code = body[2];
                return (code >= 0x80).then(|| {
                    named(
                        format!("SUBACK code 0x{code:02X}"),
                        codes::MQTT311_SUBACK_FAILURE,
                    )
                });
            } else {
                *body.last()?
            };
            let entry = (code >= 0x80).then(|| codes::reason(code))??;
            Some(named(format!("SUBACK reason code 0x{code:02X}"), entry))
        }
        0xE0 => {
            let code = *body.first()?;
            let entry = (code >= 0x80).then(|| codes::reason(code))??;
            Some(named(format!("DISCONNECT reason code 0x{code:02X}"), entry))
        }
        _ => None,
    }
}

fn named(what: String, entry: crate::probe::diagnosis::registry::Entry) -> Refusal {
    Refusal {
        what: format!("{what} ({})", entry.source),
        said: Some(entry.name.to_owned()),
        meaning: entry.meaning,
        advice: entry.advice,
        layer: Some(entry.layer),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// MQTT 3.1.1 §2.2.3, Table 2.4, and 5.0 §1.5.5, Table 1-1: each size's edges.
    #[test]
    fn remaining_lengths_as_the_specification_tables_give_them() {
        #[rustfmt::skip]
        let table: &[(usize, &[u8])] = &[
            (0, &[0x00]), (127, &[0x7F]),
            (128, &[0x80, 0x01]), (16_383, &[0xFF, 0x7F]),
            (16_384, &[0x80, 0x80, 0x01]), (2_097_151, &[0xFF, 0xFF, 0x7F]),
            (2_097_152, &[0x80, 0x80, 0x80, 0x01]), (268_435_455, &[0xFF, 0xFF, 0xFF, 0x7F]),
        ];
        for (len, bytes) in table {
            assert_eq!(remaining_length(*len), *bytes, "{len}");
            let mut packet = vec![0x30];
            packet.extend_from_slice(bytes);
            packet.resize(packet.len() + len.min(&200), 0);
            if *len <= 200 {
                assert_eq!(split(&packet).map(|(_, body)| body.len()), Some(*len));
            }
        }
    }

    /// MQTT 3.1.1 §3.1.2.10, Figure 3.6 (protocol name, level 4, flags, keep alive 10), and
    /// the payload as §3.1.3 orders it.
    #[test]
    fn connect_packets_byte_for_byte() {
        let connect = Connect {
            version: MqttVersion::V311,
            client_id: "wsprobe",
            keep_alive: 10,
            username: Some("probe"),
            password: Some("pw"),
        };
        #[rustfmt::skip]
        let expected: &[u8] = &[
            0x10, 30,
            0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0xC2, 0x00, 0x0A,
            0x00, 0x07, b'w', b's', b'p', b'r', b'o', b'b', b'e',
            0x00, 0x05, b'p', b'r', b'o', b'b', b'e',
            0x00, 0x02, b'p', b'w',
        ];
        assert_eq!(connect.encode(), expected);
        let v5 = Connect {
            version: MqttVersion::V5,
            client_id: "a",
            keep_alive: 60,
            username: None,
            password: None,
        };
        assert_eq!(
            v5.encode(),
            [
                0x10, 14, 0, 4, b'M', b'Q', b'T', b'T', 5, 0x02, 0, 60, 0, 0, 1, b'a'
            ]
        );
        assert_eq!(
            subscribe(MqttVersion::V311, "a/b"),
            [0x82, 8, 0, 1, 0, 3, b'a', b'/', b'b', 0]
        );
        assert_eq!(
            subscribe(MqttVersion::V5, "a/b"),
            [0x82, 9, 0, 1, 0, 0, 3, b'a', b'/', b'b', 0]
        );
        let id = fresh_client_id();
        assert!(
            id.len() <= 23 && id.chars().all(|c| c.is_ascii_alphanumeric()),
            "{id}"
        );
    }

    #[test]
    fn failure_codes_are_refusals_named_by_the_registry() {
        let read = |bytes: &[u8]| refusal(Incoming::Binary(bytes)).map(|r| (r.what, r.said));
        let said = |what: &str, name: &str| Some((what.to_owned(), Some(name.to_owned())));
        assert_eq!(read(&[0x20, 0x02, 0x00, 0x00]), None);
        assert_eq!(
            read(&[0x20, 0x02, 0x00, 0x05]),
            said(
                "CONNACK return code 5 (MQTT 3.1.1)",
                "Connection Refused, not authorized"
            )
        );
        assert_eq!(
            read(&[0x20, 0x02, 0x00, 0x04]),
            said(
                "CONNACK return code 4 (MQTT 3.1.1)",
                "Connection Refused, bad user name or password"
            )
        );
        assert_eq!(
            read(&[0x20, 0x03, 0x00, 0x86, 0x00]),
            said(
                "CONNACK reason code 0x86 (MQTT 5.0)",
                "Bad User Name or Password"
            )
        );
        assert_eq!(read(&[0x90, 0x03, 0x00, 0x01, 0x00]), None);
        assert_eq!(
            read(&[0x90, 0x03, 0x00, 0x01, 0x80]),
            said("SUBACK code 0x80 (MQTT 3.1.1)", "Failure")
        );
        assert_eq!(
            read(&[0x90, 0x04, 0x00, 0x01, 0x00, 0x87]),
            said("SUBACK reason code 0x87 (MQTT 5.0)", "Not authorized")
        );
        assert_eq!(
            read(&[0xE0, 0x02, 0x8E, 0x00]),
            said(
                "DISCONNECT reason code 0x8E (MQTT 5.0)",
                "Session taken over"
            )
        );
        assert_eq!(read(&PINGRESP), None);
        assert_eq!(read(&[0x20]), None);
        assert_eq!(refusal(Incoming::Text("20 02 00 05")), None);
    }
}

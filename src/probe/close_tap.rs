//! The server's close frame as it came over the wire. tungstenite answers a close code it does
//! not accept (1014, and every code RFC 6455 forbids) by handing its own 1002 "Protocol
//! violation" up as if the server had sent it; this tap reads the server's frames beside it so
//! that `close_code` is only ever what the server sent.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A close frame's payload as the server sent it: `None` for a frame without a status code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawClose {
    pub code: Option<u16>,
    pub reason: String,
}

/// The first close frame the server sent, shared between the tap and the session.
#[derive(Debug, Clone, Default)]
pub struct CloseWitness(Arc<Mutex<Option<RawClose>>>);

impl CloseWitness {
    pub fn seen(&self) -> Option<RawClose> {
        self.0.lock().ok().and_then(|seen| seen.clone())
    }

    fn record(&self, payload: &[u8]) {
        let close = match payload {
            [high, low, reason @ ..] => RawClose {
                code: Some(u16::from_be_bytes([*high, *low])),
                reason: String::from_utf8_lossy(reason).into_owned(),
            },
            _ => RawClose {
                code: None,
                reason: String::new(),
            },
        };
        if let Ok(mut seen) = self.0.lock() {
            seen.get_or_insert(close);
        }
    }
}

/// Where the scanner is in the server's byte stream (RFC 6455 §5.2 framing).
#[derive(Debug, Default)]
struct Scanner {
    header: Vec<u8>,
    payload_left: u64,
    /// The close frame being collected, with its mask and how far in it is.
    close: Option<(Vec<u8>, Option<[u8; 4]>)>,
    done: bool,
}

const OPCODE_CLOSE: u8 = 0x8;
/// A control frame's payload is at most 125 bytes.
const MAX_CONTROL_PAYLOAD: usize = 125;

impl Scanner {
    fn scan(&mut self, mut data: &[u8], witness: &CloseWitness) {
        while !self.done && !data.is_empty() {
            if self.payload_left > 0 {
                let take = usize::try_from(self.payload_left)
                    .unwrap_or(usize::MAX)
                    .min(data.len());
                if let Some((payload, _)) = &mut self.close
                    && payload.len() < MAX_CONTROL_PAYLOAD
                {
                    let room = MAX_CONTROL_PAYLOAD - payload.len();
                    payload.extend_from_slice(&data[..take.min(room)]);
                }
                self.payload_left -= take as u64;
                data = &data[take..];
                if self.payload_left == 0 {
                    self.finish_frame(witness);
                }
                continue;
            }
            self.header.push(data[0]);
            data = &data[1..];
            self.parse_header();
            if self.header.is_empty() && self.payload_left == 0 {
                self.finish_frame(witness);
            }
        }
    }

    /// Once the header is complete: its payload length and, for a close, the collector.
    fn parse_header(&mut self) {
        let [first, second, ..] = self.header[..] else {
            return;
        };
        let masked = second & 0x80 != 0;
        let extended = match second & 0x7f {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let needed = 2 + extended + if masked { 4 } else { 0 };
        if self.header.len() < needed {
            return;
        }
        let length = match extended {
            2 => u64::from(u16::from_be_bytes([self.header[2], self.header[3]])),
            8 => u64::from_be_bytes(self.header[2..10].try_into().unwrap_or_default()),
            _ => u64::from(second & 0x7f),
        };
        let mask = masked.then(|| {
            let at = 2 + extended;
            [
                self.header[at],
                self.header[at + 1],
                self.header[at + 2],
                self.header[at + 3],
            ]
        });
        self.close = (first & 0x0f == OPCODE_CLOSE).then(|| (Vec::new(), mask));
        self.payload_left = length;
        self.header.clear();
    }

    fn finish_frame(&mut self, witness: &CloseWitness) {
        if let Some((mut payload, mask)) = self.close.take() {
            if let Some(mask) = mask {
                for (i, byte) in payload.iter_mut().enumerate() {
                    *byte ^= mask[i % 4];
                }
            }
            witness.record(&payload);
            self.done = true;
        }
    }
}

/// The socket under tungstenite, reading the server's frames as they pass.
pub struct CloseTap<S> {
    inner: S,
    scanner: Scanner,
    witness: CloseWitness,
}

impl<S> CloseTap<S> {
    /// `already_read`: what came behind the 101 before the tap existed.
    pub fn new(inner: S, already_read: &[u8]) -> (Self, CloseWitness) {
        let witness = CloseWitness::default();
        let mut scanner = Scanner::default();
        scanner.scan(already_read, &witness);
        let tap = CloseTap {
            inner,
            scanner,
            witness: witness.clone(),
        };
        (tap, witness)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for CloseTap<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            this.scanner.scan(&buf.filled()[before..], &this.witness);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for CloseTap<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, data)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(witness: &CloseWitness, chunks: &[&[u8]]) -> Option<RawClose> {
        let mut scanner = Scanner::default();
        for chunk in chunks {
            scanner.scan(chunk, witness);
        }
        witness.seen()
    }

    #[test]
    fn the_close_after_other_frames_is_read_byte_by_byte_or_whole() {
        // A text frame "hi", a 126-length binary frame, then close 1014 "upstream".
        let mut bytes = vec![0x81, 2, b'h', b'i', 0x82, 126, 0, 130];
        bytes.extend(std::iter::repeat_n(0u8, 130));
        bytes.extend([0x88, 10, 0x03, 0xF6]);
        bytes.extend(b"upstream");
        let expected = Some(RawClose {
            code: Some(1014),
            reason: "upstream".into(),
        });
        assert_eq!(frames(&CloseWitness::default(), &[&bytes]), expected);
        let singles: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(frames(&CloseWitness::default(), &singles), expected);
    }

    #[test]
    fn an_empty_close_has_no_code_and_a_masked_one_is_unmasked() {
        assert_eq!(
            frames(&CloseWitness::default(), &[&[0x88, 0]]),
            Some(RawClose {
                code: None,
                reason: String::new()
            })
        );
        let mask = [1, 2, 3, 4];
        let payload = [0x03, 0xE7];
        let masked: Vec<u8> = payload
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ mask[i % 4])
            .collect();
        let mut bytes = vec![0x88, 0x80 | 2];
        bytes.extend(mask);
        bytes.extend(masked);
        assert_eq!(
            frames(&CloseWitness::default(), &[&bytes]).and_then(|c| c.code),
            Some(999)
        );
    }
}

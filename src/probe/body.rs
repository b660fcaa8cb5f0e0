//! A refused upgrade's body as its sender meant it: chunked transfer-encoding undone and gzip
//! or deflate content-encoding inflated, so its excerpt quotes words, not chunk sizes or bytes.
//! Everything is tolerant of a body cut short (the probe reads a bounded prefix).

use std::io::Read;

/// `headers`: lowercase names, as the handshake reads them.
pub fn decoded(raw: &[u8], headers: &[(String, String)]) -> Vec<u8> {
    let has = |name: &str, token: &str| {
        headers
            .iter()
            .filter(|(n, _)| n == name)
            .any(|(_, v)| v.to_ascii_lowercase().contains(token))
    };
    let body = if has("transfer-encoding", "chunked") {
        dechunked(raw)
    } else {
        raw.to_vec()
    };
    if has("content-encoding", "gzip") {
        inflated(flate2::read::GzDecoder::new(&body[..])).unwrap_or(body)
    } else if has("content-encoding", "deflate") {
        inflated(flate2::read::ZlibDecoder::new(&body[..])).unwrap_or(body)
    } else {
        body
    }
}

/// Whether a chunked body is complete (its last, empty chunk has come).
pub fn chunked_complete(raw: &[u8]) -> bool {
    raw.starts_with(b"0\r\n")
        || raw
            .windows(5)
            .any(|w| w == b"\n0\r\n\r" || w == b"\n0\r\n\n")
}

/// RFC 9112 §7.1: `size[;ext] CRLF data CRLF … 0 CRLF CRLF`.
fn dechunked(mut raw: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    while let Some(line_end) = raw.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&raw[..line_end]);
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let Ok(size) = usize::from_str_radix(size_text, 16) else {
            break;
        };
        if size == 0 {
            break;
        }
        raw = &raw[line_end + 2..];
        let take = size.min(raw.len());
        body.extend_from_slice(&raw[..take]);
        raw = raw.get(take + 2..).unwrap_or_default();
    }
    body
}

/// What the decoder gives before the data ends or breaks; `None` when it gives nothing.
fn inflated(mut decoder: impl Read) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match decoder.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buffer[..n]),
        }
        if out.len() > 64 * 1024 {
            break;
        }
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn chunked_then_gzip_and_cut_short() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"{\"error\":\"token expired\"}").unwrap();
        let zipped = gz.finish().unwrap();
        let mut chunked = format!("{:x}\r\n", 10).into_bytes();
        chunked.extend_from_slice(&zipped[..10]);
        chunked.extend_from_slice(format!("\r\n{:x};ext=1\r\n", zipped.len() - 10).as_bytes());
        chunked.extend_from_slice(&zipped[10..]);
        chunked.extend_from_slice(b"\r\n0\r\n\r\n");
        assert!(chunked_complete(&chunked));
        let both = headers(&[
            ("transfer-encoding", "chunked"),
            ("content-encoding", "gzip"),
        ]);
        assert_eq!(decoded(&chunked, &both), b"{\"error\":\"token expired\"}");
        let plain = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
        let only_chunked = headers(&[("transfer-encoding", "chunked")]);
        assert_eq!(decoded(plain, &only_chunked), b"hello world");
        assert_eq!(decoded(&plain[..15], &only_chunked), b"hello w");
        assert!(!chunked_complete(&plain[..15]));
        assert_eq!(decoded(b"as is", &[]), b"as is");
    }
}

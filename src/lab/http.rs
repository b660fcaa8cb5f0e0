//! Just enough HTTP/1.1 for the lab: a bounded request-head reader and one-shot responses.
//!
//! Hand-written on purpose: the lab must be able to answer *wrongly* (bad accept keys, garbage
//! after a 101, a head that never comes), which a framework would not let it do.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Larger heads get 431: real load balancers cap them too, and it bounds memory per connection.
pub const MAX_HEAD: usize = 16 * 1024;
/// A client that has not finished its head by then is dropped (slowloris).
pub const HEAD_DEADLINE: Duration = Duration::from_secs(10);
/// Above this many headers httparse reports `TooManyHeaders`, answered with 431.
const MAX_HEADERS: usize = 64;

/// A parsed request head, plus the bytes that arrived after it.
#[derive(Debug, Clone)]
pub struct Head {
    pub method: String,
    /// The request target as sent, query string included (the proxy forwards it).
    pub target: String,
    /// `1` for HTTP/1.1, `0` for HTTP/1.0.
    pub version: u8,
    /// In arrival order, names as sent; values are raw bytes since HTTP does not promise UTF-8.
    pub headers: Vec<(String, Vec<u8>)>,
    /// Bytes read past the head: a request body, or WebSocket frames sent eagerly.
    pub leftover: Vec<u8>,
}

impl Head {
    /// The target without its query string: routing ignores the query.
    pub fn path(&self) -> &str {
        self.target.split_once('?').map_or(&self.target, |(p, _)| p)
    }

    /// All values of a header (case-insensitive), joined with ", " as RFC 9110 §5.3 allows.
    pub fn header(&self, name: &str) -> Option<String> {
        let values: Vec<String> = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| String::from_utf8_lossy(v).trim().to_owned())
            .collect();
        (!values.is_empty()).then(|| values.join(", "))
    }

    /// Whether a comma-separated header carries `token` (case-insensitive).
    pub fn header_has_token(&self, name: &str, token: &str) -> bool {
        self.header(name)
            .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    }
}

/// Why a head could not be read; each maps to the answer a real server would give.
#[derive(Debug)]
pub enum HeadError {
    /// Malformed request line or header: 400.
    Malformed,
    /// Head over [`MAX_HEAD`] or over [`MAX_HEADERS`] headers: 431.
    TooLarge,
    /// The peer closed before the head was complete: nobody to answer.
    Eof,
    /// [`HEAD_DEADLINE`] passed: dropped without an answer.
    Timeout,
    Io(io::Error),
}

/// Parse `buf` as a request head. `Ok(None)` means "incomplete, read more".
pub fn parse_head(buf: &[u8]) -> Result<Option<Head>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD => return Err(HeadError::TooLarge),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
        Err(_) => return Err(HeadError::Malformed),
    };
    if len > MAX_HEAD {
        return Err(HeadError::TooLarge);
    }
    let (Some(method), Some(target), Some(version)) = (req.method, req.path, req.version) else {
        return Err(HeadError::Malformed);
    };
    Ok(Some(Head {
        method: method.to_owned(),
        target: target.to_owned(),
        version,
        headers: req
            .headers
            .iter()
            .map(|h| (h.name.to_owned(), h.value.to_vec()))
            .collect(),
        leftover: buf[len..].to_vec(),
    }))
}

/// Read one request head, bounded in size and time.
pub async fn read_head<S: AsyncRead + Unpin>(stream: &mut S) -> Result<Head, HeadError> {
    match tokio::time::timeout(HEAD_DEADLINE, read_head_unbounded_time(stream)).await {
        Ok(result) => result,
        Err(_) => Err(HeadError::Timeout),
    }
}

async fn read_head_unbounded_time<S: AsyncRead + Unpin>(stream: &mut S) -> Result<Head, HeadError> {
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await.map_err(HeadError::Io)?;
        if n == 0 {
            return Err(HeadError::Eof);
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(head) = parse_head(&buf)? {
            return Ok(head);
        }
    }
}

/// Read a body of exactly `len` bytes, starting with what already arrived with the head.
pub async fn read_body<S: AsyncRead + Unpin>(
    stream: &mut S,
    already: Vec<u8>,
    len: usize,
) -> io::Result<Vec<u8>> {
    let mut body = already;
    if body.len() >= len {
        body.truncate(len);
        return Ok(body);
    }
    let missing = len - body.len();
    let read = async {
        let start = body.len();
        body.resize(len, 0);
        stream.read_exact(&mut body[start..]).await.map(|_| body)
    };
    tokio::time::timeout(HEAD_DEADLINE, read)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, format!("{missing} body bytes")))?
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        502 => "Bad Gateway",
        _ => "Unknown",
    }
}

/// Write a complete JSON response and close the connection.
pub async fn respond_json<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    status: u16,
    body: &str,
) -> io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n",
        reason = reason_phrase(status),
        len = body.len(),
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.flush().await?;
    linger_close(stream).await;
    Ok(())
}

/// `{"detail": message}`, the error shape of the backends the lab imitates.
pub fn detail(message: &str) -> String {
    serde_json::json!({ "detail": message }).to_string()
}

/// Half-close, then drain what the client still sends for a moment. Dropping a socket with
/// unread input makes the kernel send RST, and the client may lose the answer we just wrote.
async fn linger_close<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S) {
    if stream.shutdown().await.is_err() {
        return;
    }
    let drain = async {
        let mut sink = [0u8; 4096];
        while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), drain).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complete_head_keeps_leftover_and_strips_query_for_routing() {
        let raw = b"GET /ws/healthy?x=1 HTTP/1.1\r\nHost: a\r\nX-A: 1\r\nx-a: 2\r\n\r\n\x81\x80";
        let head = parse_head(raw).unwrap().unwrap();
        assert_eq!(head.method, "GET");
        assert_eq!(head.path(), "/ws/healthy");
        assert_eq!(head.target, "/ws/healthy?x=1");
        assert_eq!(head.header("x-a").as_deref(), Some("1, 2"));
        assert_eq!(head.header("missing"), None);
        assert_eq!(head.leftover, b"\x81\x80");
    }

    #[test]
    fn partial_head_asks_for_more_until_the_cap() {
        assert!(matches!(parse_head(b"GET / HTTP/1.1\r\nHost"), Ok(None)));
        let mut big = b"GET / HTTP/1.1\r\nX: ".to_vec();
        big.resize(MAX_HEAD, b'a');
        assert!(matches!(parse_head(&big), Err(HeadError::TooLarge)));
    }

    #[test]
    fn malformed_and_too_many_headers_are_told_apart() {
        assert!(matches!(
            parse_head(b"GET\0 / HTTP/1.1\r\n\r\n"),
            Err(HeadError::Malformed)
        ));
        let mut many = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            many.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert!(matches!(parse_head(&many), Err(HeadError::TooLarge)));
    }

    #[test]
    fn header_tokens_are_case_insensitive() {
        let raw = b"GET / HTTP/1.1\r\nConnection: keep-alive, Upgrade\r\n\r\n";
        let head = parse_head(raw).unwrap().unwrap();
        assert!(head.header_has_token("connection", "upgrade"));
        assert!(!head.header_has_token("connection", "close"));
    }
}

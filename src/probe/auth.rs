//! Getting the token a real client would hold: a static bearer, a JWT minted here, or one fetched
//! from a token endpoint (cached until its `expires_in`).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::Utc;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use parking_lot::Mutex;

use crate::config::{Auth, JwtAlgorithm, JwtKey, RequestBody};
use crate::text::{error_chain, excerpt};

/// Refetch this long before the endpoint said the token expires, so a probe never sends one
/// that dies in flight.
const EXPIRY_MARGIN: Duration = Duration::from_secs(30);
const BODY_EXCERPT_CHARS: usize = 300;
const MAX_TOKEN_RESPONSE_BYTES: usize = 256 * 1024;

#[derive(Debug, Clone, PartialEq)]
pub struct TokenFailure {
    pub http_status: Option<u16>,
    pub body_excerpt: Option<String>,
    pub message: String,
    /// wsprobe's own resources ran out (descriptors, memory): `probe_error`, not the token
    /// endpoint's fault.
    pub own_fault: bool,
}

impl TokenFailure {
    pub(super) fn message(message: impl Into<String>) -> Self {
        Self {
            http_status: None,
            body_excerpt: None,
            message: message.into(),
            own_fault: false,
        }
    }
}

/// Token endpoint answers, kept per environment and request so a reload that changes the
/// request never reuses a token obtained for the old one.
#[derive(Default)]
pub struct TokenCache {
    entries: Mutex<HashMap<String, (String, Instant)>>,
}

impl TokenCache {
    fn get(&self, key: &str, now: Instant) -> Option<String> {
        let entries = self.entries.lock();
        entries
            .get(key)
            .filter(|(_, until)| *until > now)
            .map(|(token, _)| token.clone())
    }

    fn put(&self, key: String, token: String, until: Instant) {
        let mut entries = self.entries.lock();
        entries.insert(key, (token, until));
    }
}

/// The token for this probe, or `None` for `kind: none`. A token request carries
/// `traceparent` unless the config sets one of its own for the endpoint.
pub async fn obtain(
    auth: &Auth,
    cache_scope: &str,
    http: &reqwest::Client,
    cache: &TokenCache,
    budget: Duration,
    traceparent: &str,
) -> Result<Option<String>, TokenFailure> {
    match auth {
        Auth::None | Auth::Session(_) => Ok(None),
        Auth::Bearer { token } => Ok(Some(token.expose().to_owned())),
        Auth::Jwt {
            algorithm,
            key,
            claims,
            ttl,
        } => mint_jwt(*algorithm, key, claims, *ttl).map(Some),
        Auth::TokenEndpoint {
            url,
            method,
            headers,
            body,
            token_pointer,
        } => {
            let cache_key = format!(
                "{cache_scope}\n{method} {url}\n{}",
                body.as_ref().map(body_key).unwrap_or_default()
            );
            if let Some(token) = cache.get(&cache_key, Instant::now()) {
                return Ok(Some(token));
            }
            let mut request = http.request(method.clone(), url.clone()).timeout(budget);
            if !headers
                .iter()
                .any(|(name, _)| name.eq_ignore_ascii_case(super::trace::TRACEPARENT))
            {
                request = request.header(super::trace::TRACEPARENT, traceparent);
            }
            for (name, value) in headers {
                request = request.header(name, value.expose());
            }
            if let Some(body) = body {
                request = with_body(request, body);
            }
            let (token, expires_in) = fetch(request, token_pointer).await?;
            if let Some(expires_in) = expires_in {
                let lifetime = expires_in.saturating_sub(EXPIRY_MARGIN.min(expires_in / 10));
                cache.put(cache_key, token.clone(), Instant::now() + lifetime);
            }
            Ok(Some(token))
        }
    }
}

/// A request with its body: JSON, or fields form-encoded (`application/x-www-form-urlencoded`,
/// set by `form`).
pub(super) fn with_body(
    request: reqwest::RequestBuilder,
    body: &RequestBody,
) -> reqwest::RequestBuilder {
    match body {
        RequestBody::Json(value) => request.json(value),
        RequestBody::Form(fields) => {
            let fields: Vec<(&str, &str)> = fields
                .iter()
                .map(|(name, value)| (name.as_str(), value.expose()))
                .collect();
            request.form(&fields)
        }
    }
}

/// What identifies a request's body in the token cache.
fn body_key(body: &RequestBody) -> String {
    match body {
        RequestBody::Json(value) => value.to_string(),
        RequestBody::Form(fields) => fields
            .iter()
            .map(|(name, value)| format!("{name}={}", value.expose()))
            .collect::<Vec<_>>()
            .join("&"),
    }
}

async fn fetch(
    request: reqwest::RequestBuilder,
    token_pointer: &str,
) -> Result<(String, Option<Duration>), TokenFailure> {
    let response = request.send().await.map_err(|err| TokenFailure {
        own_fault: super::connect::local_exhaustion_in(&err).is_some(),
        ..TokenFailure::message(format!("token request failed: {}", error_chain(&err)))
    })?;
    let status = response.status();
    let body = read_bounded(response).await?;
    let text = String::from_utf8_lossy(&body);
    if !status.is_success() {
        return Err(TokenFailure {
            http_status: Some(status.as_u16()),
            body_excerpt: Some(excerpt(&text, BODY_EXCERPT_CHARS)),
            message: format!("token endpoint answered HTTP {}", status.as_u16()),
            own_fault: false,
        });
    }
    let failure = |message: String| TokenFailure {
        http_status: Some(status.as_u16()),
        body_excerpt: None,
        message,
        own_fault: false,
    };
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|err| failure(format!("token endpoint answered with invalid JSON: {err}")))?;
    let token = match json.pointer(token_pointer) {
        Some(serde_json::Value::String(token)) if !token.is_empty() => token.clone(),
        _ => {
            return Err(failure(format!(
                "token endpoint answer has no string at {token_pointer}"
            )));
        }
    };
    let expires_in = json
        .get("expires_in")
        .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
        .map(Duration::from_secs);
    Ok((token, expires_in))
}

/// A hostile or broken endpoint must not make us buffer an unbounded body.
pub(super) async fn read_bounded(mut response: reqwest::Response) -> Result<Vec<u8>, TokenFailure> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|err| {
        TokenFailure::message(format!("token response unreadable: {}", error_chain(&err)))
    })? {
        let room = MAX_TOKEN_RESPONSE_BYTES.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= MAX_TOKEN_RESPONSE_BYTES {
            break;
        }
    }
    Ok(body)
}

fn mint_jwt(
    algorithm: JwtAlgorithm,
    key: &JwtKey,
    claims: &serde_json::Map<String, serde_json::Value>,
    ttl: Duration,
) -> Result<String, TokenFailure> {
    let algorithm = match algorithm {
        JwtAlgorithm::HS256 => Algorithm::HS256,
        JwtAlgorithm::HS384 => Algorithm::HS384,
        JwtAlgorithm::HS512 => Algorithm::HS512,
        JwtAlgorithm::RS256 => Algorithm::RS256,
        JwtAlgorithm::ES256 => Algorithm::ES256,
    };
    let encoding_key = match key {
        JwtKey::Secret(secret) => EncodingKey::from_secret(secret.expose().as_bytes()),
        JwtKey::Pem { path, pem } => {
            let parsed = match algorithm {
                Algorithm::ES256 => EncodingKey::from_ec_pem(pem.expose().as_bytes()),
                _ => EncodingKey::from_rsa_pem(pem.expose().as_bytes()),
            };
            parsed.map_err(|err| {
                TokenFailure::message(format!("cannot use JWT key {}: {err}", path.display()))
            })?
        }
    };
    let now = Utc::now().timestamp();
    let mut claims = claims.clone();
    claims.entry("iat").or_insert(now.into());
    claims
        .entry("exp")
        .or_insert((now + ttl.as_secs() as i64).into());
    super::jwt_sign::install();
    jsonwebtoken::encode(&Header::new(algorithm), &claims, &encoding_key)
        .map_err(|err| TokenFailure::message(format!("cannot sign JWT: {err}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use hmac::{Hmac, Mac};

    /// The signature checked with the RustCrypto `hmac` crate, not the ring that made it.
    fn hmac_checks(algorithm: JwtAlgorithm, token: &str, secret: &[u8]) -> bool {
        fn check<M: Mac + hmac::digest::KeyInit>(secret: &[u8], signed: &[u8], sig: &[u8]) -> bool {
            let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(secret).unwrap();
            mac.update(signed);
            mac.verify_slice(sig).is_ok()
        }
        let (signed, signature) = token.rsplit_once('.').unwrap();
        let (signed, sig) = (
            signed.as_bytes(),
            URL_SAFE_NO_PAD.decode(signature).unwrap(),
        );
        match algorithm {
            JwtAlgorithm::HS256 => check::<Hmac<sha2::Sha256>>(secret, signed, &sig),
            JwtAlgorithm::HS384 => check::<Hmac<sha2::Sha384>>(secret, signed, &sig),
            JwtAlgorithm::HS512 => check::<Hmac<sha2::Sha512>>(secret, signed, &sig),
            _ => unreachable!("not an HMAC algorithm"),
        }
    }

    #[test]
    fn minted_jwt_carries_claims_and_expiry() {
        let mut claims = serde_json::Map::new();
        claims.insert("sub".into(), "synthetic-monitor".into());
        let key = JwtKey::Secret(Secret::new("s3cret-s3cret"));
        let secret = b"s3cret-s3cret";
        for algorithm in [
            JwtAlgorithm::HS256,
            JwtAlgorithm::HS384,
            JwtAlgorithm::HS512,
        ] {
            let token = mint_jwt(algorithm, &key, &claims, Duration::from_secs(600)).unwrap();
            assert!(
                hmac_checks(algorithm, &token, secret),
                "{algorithm:?}: {token}"
            );
            assert!(!hmac_checks(algorithm, &token, b"another-secret"));
            let parts: Vec<_> = token.split('.').collect();
            let header: serde_json::Value =
                serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
            assert_eq!(header["alg"], format!("{algorithm:?}"));
            let decoded: serde_json::Value =
                serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
            assert_eq!(decoded["sub"], "synthetic-monitor");
            let iat = decoded["iat"].as_i64().unwrap();
            assert_eq!(decoded["exp"].as_i64().unwrap() - iat, 600);
        }
    }
}

/// RS256 and ES256 signed with ring (`jwt_sign`), keys made and signatures checked by the
/// `openssl` CLI: an implementation other than the signer's.
#[cfg(test)]
mod asymmetric {
    use super::*;
    use crate::config::Secret;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use std::process::Command;

    fn openssl(args: &[&str]) -> Vec<u8> {
        let out = Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    fn mint(algorithm: JwtAlgorithm, pem: &[u8]) -> String {
        let key = JwtKey::Pem {
            path: "test-key.pem".into(),
            pem: Secret::new(String::from_utf8(pem.to_vec()).unwrap()),
        };
        let mut claims = serde_json::Map::new();
        claims.insert("sub".into(), "synthetic-monitor".into());
        mint_jwt(algorithm, &key, &claims, Duration::from_secs(60)).unwrap()
    }

    fn verify(
        token: &str,
        algorithm: &'static dyn ring::signature::VerificationAlgorithm,
        public: &[u8],
    ) {
        let (signed, signature) = token.rsplit_once('.').unwrap();
        let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
        ring::signature::UnparsedPublicKey::new(algorithm, public)
            .verify(signed.as_bytes(), &signature)
            .expect("the signature verifies");
        let payload = signed.split('.').nth(1).unwrap();
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        assert_eq!(claims["sub"], "synthetic-monitor");
    }

    /// An ECDSA signature's fixed form (r ‖ s, RFC 7518 §3.4) as the DER `openssl` reads.
    fn ecdsa_der(fixed: &[u8]) -> Vec<u8> {
        let integer = |half: &[u8]| {
            let trimmed: Vec<u8> = half.iter().copied().skip_while(|b| *b == 0).collect();
            let mut int = if trimmed.first().is_some_and(|b| b & 0x80 != 0) {
                vec![0]
            } else {
                vec![]
            };
            int.extend(trimmed);
            [vec![0x02, int.len() as u8], int].concat()
        };
        let body = [integer(&fixed[..32]), integer(&fixed[32..])].concat();
        [vec![0x30, body.len() as u8], body].concat()
    }

    #[test]
    fn rs256_and_es256_tokens_verify_elsewhere() {
        let dir = tempfile::tempdir().unwrap();
        let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
        let (rsa, rsa1, signed) = (path("rsa.pem"), path("rsa1.pem"), path("signed"));
        openssl(&[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            &rsa,
        ]);
        let rsa_public = openssl(&["rsa", "-in", &rsa, "-RSAPublicKey_out", "-outform", "DER"]);
        let token = mint(JwtAlgorithm::RS256, &std::fs::read(&rsa).unwrap());
        verify(
            &token,
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            &rsa_public,
        );
        // PKCS#1 v1.5 signatures are deterministic: openssl's must be the very same bytes.
        let (header_claims, signature) = token.rsplit_once('.').unwrap();
        std::fs::write(&signed, header_claims).unwrap();
        let by_openssl = openssl(&["dgst", "-sha256", "-sign", &rsa, &signed]);
        assert_eq!(URL_SAFE_NO_PAD.decode(signature).unwrap(), by_openssl);
        // The traditional PKCS#1 PEM ("RSA PRIVATE KEY") signs too.
        openssl(&["rsa", "-in", &rsa, "-traditional", "-out", &rsa1]);
        verify(
            &mint(JwtAlgorithm::RS256, &std::fs::read(&rsa1).unwrap()),
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            &rsa_public,
        );

        let (ec, ec_public, sig) = (path("ec.pem"), path("ec.pub"), path("sig"));
        openssl(&[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            &ec,
        ]);
        // The uncompressed point: the last 65 bytes of the SubjectPublicKeyInfo DER.
        let spki = openssl(&["pkey", "-in", &ec, "-pubout", "-outform", "DER"]);
        let point = &spki[spki.len() - 65..];
        let token = mint(JwtAlgorithm::ES256, &std::fs::read(&ec).unwrap());
        verify(&token, &ring::signature::ECDSA_P256_SHA256_FIXED, point);
        let (header_claims, signature) = token.rsplit_once('.').unwrap();
        std::fs::write(&signed, header_claims).unwrap();
        std::fs::write(&sig, ecdsa_der(&URL_SAFE_NO_PAD.decode(signature).unwrap())).unwrap();
        openssl(&["pkey", "-in", &ec, "-pubout", "-out", &ec_public]);
        let verified = openssl(&[
            "dgst",
            "-sha256",
            "-verify",
            &ec_public,
            "-signature",
            &sig,
            &signed,
        ]);
        assert_eq!(String::from_utf8_lossy(&verified).trim(), "Verified OK");
    }
}

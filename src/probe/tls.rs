//! TLS client configuration per environment: public roots plus `ca_file`, or no verification at
//! all when `insecure_skip_verify` is set (the certificate is still read and reported), and the
//! client certificate of `client_cert`/`client_key` for servers that ask for one (mutual TLS).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rustls::client::ResolvesClientCert;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::config::{ClientIdentity, TlsOptions};

/// The process-wide rustls provider. reqwest is built without one, so it must be installed
/// before the first client is built; doing it here means no caller (test or main) can forget.
pub fn ensure_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

pub fn client_config(options: &TlsOptions) -> Result<Arc<ClientConfig>, String> {
    ensure_crypto_provider();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|err| err.to_string())?;
    let builder = if options.insecure_skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate { provider }))
    } else {
        builder.with_root_certificates(root_store(options)?)
    };
    // rustls presents the certificate only to a server that asks for one (CertificateRequest),
    // so it can go with every connection of the environment.
    let mut config = match &options.client {
        Some(identity) => {
            let (chain, key) = client_identity(identity)?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|err| format!("tls.client_key cannot be used: {err}"))?
        }
        None => builder.with_no_client_auth(),
    };
    // A WebSocket upgrade is HTTP/1.1; servers that also speak h2 must not pick it.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The chain and key read at load (and checked to match there).
fn client_identity(
    identity: &ClientIdentity,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    let chain = CertificateDer::pem_slice_iter(identity.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| format!("bad PEM in {}: {err}", identity.cert_file.display()))?;
    // The key's bytes never reach a message.
    let key = PrivateKeyDer::from_pem_slice(identity.key_pem.expose().as_bytes())
        .map_err(|_| format!("no usable private key in {}", identity.key_file.display()))?;
    Ok((chain, key))
}

fn root_store(options: &TlsOptions) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = &options.ca_file {
        let pem = std::fs::read(path)
            .map_err(|err| format!("cannot read ca_file {}: {err}", path.display()))?;
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|err| format!("bad PEM in {}: {err}", path.display()))?;
            roots
                .add(cert)
                .map_err(|err| format!("bad certificate in {}: {err}", path.display()))?;
            added += 1;
        }
        if added == 0 {
            return Err(format!(
                "no certificate found in ca_file {}",
                path.display()
            ));
        }
    }
    Ok(roots)
}

#[derive(Debug)]
struct AcceptAnyCertificate {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    // Signatures are still checked: skipping chain validation must not also skip proof that
    // the server holds the key of the certificate it showed.
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The configuration for one connection, noting whether the server asks for a client
/// certificate: rustls consults the certificate resolver only on a CertificateRequest, and
/// that request is what tells a TLS 1.2 `handshake_failure` about a missing client certificate
/// from one about cipher suites.
pub fn watching_certificate_requests(
    config: &Arc<ClientConfig>,
) -> (Arc<ClientConfig>, Arc<AtomicBool>) {
    let asked = Arc::new(AtomicBool::new(false));
    let mut watched = (**config).clone();
    watched.client_auth_cert_resolver = Arc::new(CertificateAsked {
        inner: config.client_auth_cert_resolver.clone(),
        asked: asked.clone(),
    });
    (Arc::new(watched), asked)
}

#[derive(Debug)]
struct CertificateAsked {
    inner: Arc<dyn ResolvesClientCert>,
    asked: Arc<AtomicBool>,
}

impl ResolvesClientCert for CertificateAsked {
    fn resolve(
        &self,
        root_hint_subjects: &[&[u8]],
        sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        self.asked.store(true, Ordering::Relaxed);
        self.inner.resolve(root_hint_subjects, sigschemes)
    }

    fn only_raw_public_keys(&self) -> bool {
        self.inner.only_raw_public_keys()
    }

    fn has_certs(&self) -> bool {
        self.inner.has_certs()
    }
}

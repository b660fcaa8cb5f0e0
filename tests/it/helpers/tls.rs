//! Certificates made for a test (a CA of its own and a leaf it signs), and a TLS terminator
//! in front of the lab.

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// A CA made for one test, and a certificate it signed for `names` (host names or IP
/// addresses), valid for `valid_for` from now.
pub struct TestCert {
    pub ca_pem: String,
    pub ca_der: rustls::pki_types::CertificateDer<'static>,
    pub leaf_pem: String,
    pub leaf_der: rustls::pki_types::CertificateDer<'static>,
    /// PKCS#8.
    pub key_pem: String,
    pub key_der: Vec<u8>,
}

pub fn test_cert(names: &[&str], valid_for: time::Duration) -> TestCert {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "wsprobe test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
    let mut leaf_params = CertificateParams::new(names.clone()).unwrap();
    leaf_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, names[0].as_str());
    leaf_params.not_after = time::OffsetDateTime::now_utc() + valid_for;
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
    TestCert {
        ca_pem: ca_cert.pem(),
        ca_der: ca_cert.der().clone(),
        leaf_pem: leaf.pem(),
        leaf_der: leaf.der().clone(),
        key_pem: leaf_key.serialize_pem(),
        key_der: leaf_key.serialize_der(),
    }
}

/// A TLS terminator in front of the lab, with a certificate from a CA made for this test.
pub struct TlsFront {
    pub addr: std::net::SocketAddr,
    pub ca_pem: String,
    _shutdown: tokio_util::sync::DropGuard,
}

pub async fn tls_front(lab: std::net::SocketAddr, valid_for: time::Duration) -> TlsFront {
    tls_front_with(lab, valid_for, false).await
}

/// `client_auth`: the front wants a client certificate signed by its CA, as mutual-TLS
/// gateways do (TLS 1.3 says `certificate_required` right after the handshake).
pub async fn tls_front_with(
    lab: std::net::SocketAddr,
    valid_for: time::Duration,
    client_auth: bool,
) -> TlsFront {
    wsprobe::probe::tls::ensure_crypto_provider();
    let cert = test_cert(&["localhost"], valid_for);
    let builder = rustls::ServerConfig::builder();
    let builder = if client_auth {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert.ca_der.clone()).unwrap();
        let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots))
            .build()
            .unwrap();
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let server = builder
        .with_single_cert(
            vec![cert.leaf_der.clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(cert.key_der.clone().into()),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = tokio::select! {
                _ = stop.cancelled() => return,
                accepted = listener.accept() => accepted.unwrap(),
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut backend = tokio::net::TcpStream::connect(lab).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut backend).await;
            });
        }
    });
    TlsFront {
        addr,
        ca_pem: cert.ca_pem,
        _shutdown: shutdown.drop_guard(),
    }
}

/// A CA of the test's own, a `localhost` server certificate and a client certificate it
/// signed, as PEM files in `dir` (`ca.pem`, `server.pem`, `server.key`, `client.pem`,
/// `client.key`); and a second client certificate signed by another CA (`stranger.pem`,
/// `stranger.key`), which a server trusting the first CA refuses.
pub struct Pki {
    pub dir: tempfile::TempDir,
}

impl Pki {
    pub fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }
}

pub fn pki() -> Pki {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    };
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: String| std::fs::write(dir.path().join(name), text).unwrap();
    let ca = |name: &str| {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap();
        (cert.pem(), Issuer::new(params, key))
    };
    let leaf = |issuer: &Issuer<'_, KeyPair>, name: &str, client: bool, files: (&str, &str)| {
        let key = KeyPair::generate().unwrap();
        let names = if client {
            vec![]
        } else {
            vec![name.to_owned()]
        };
        let mut params = CertificateParams::new(names).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![if client {
            ExtendedKeyUsagePurpose::ClientAuth
        } else {
            ExtendedKeyUsagePurpose::ServerAuth
        }];
        let cert = params.signed_by(&key, issuer).unwrap();
        write(files.0, cert.pem());
        write(files.1, key.serialize_pem());
    };
    let (ca_pem, issuer) = ca("wsprobe test CA");
    write("ca.pem", ca_pem);
    leaf(&issuer, "localhost", false, ("server.pem", "server.key"));
    leaf(&issuer, "probe", true, ("client.pem", "client.key"));
    let (_, other) = ca("another CA");
    leaf(&other, "stranger", true, ("stranger.pem", "stranger.key"));
    Pki { dir }
}

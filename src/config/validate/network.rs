//! The transport an environment asks for: `tls.client_cert`/`client_key` (read and matched
//! here, so a wrong file fails the load and not the first probe), `proxy` (or the standard
//! variables), `ip_family` and `resolve`.

use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::super::network::{
    AddressPin, IpFamily, NO_PROXY_WORD, NetworkOptions, Proxy, ProxySetting, ProxyVariables,
};
use super::*;

/// The proxy variables as read for this load: an error is reported once, by the first
/// environment that relies on them.
pub(crate) struct VariablesRead {
    read: Result<Arc<ProxyVariables>, super::super::network::VariableError>,
    reported: std::cell::Cell<bool>,
}

impl VariablesRead {
    pub(crate) fn new(lookup: &dyn Fn(&str) -> Option<String>) -> Self {
        Self {
            read: ProxyVariables::read(lookup).map(Arc::new),
            reported: std::cell::Cell::new(false),
        }
    }
}

impl Validator<'_> {
    pub(super) fn network(&self, layers: &Layers) -> Result<NetworkOptions> {
        let proxy = match layers.pick(|e| &e.proxy, "proxy") {
            Some((value, key)) => self.proxy(value, &key)?,
            None => self.proxy_variables()?,
        };
        let ip_family = match layers.pick(|e| &e.ip_family, "ip_family") {
            Some((value, key)) => IpFamily::parse(&value.value).ok_or_else(|| {
                self.err(
                    value,
                    &key,
                    format!(
                        "{:?} is not an address family: use one of {}",
                        value.value,
                        IpFamily::NAMES.join(", ")
                    ),
                )
            })?,
            None => IpFamily::default(),
        };
        let resolve = match layers.pick(|e| &e.resolve, "resolve") {
            Some((map, key)) => self.pins(map, &key)?,
            None => Vec::new(),
        };
        Ok(NetworkOptions {
            proxy,
            ip_family,
            resolve,
        })
    }

    fn proxy(&self, value: &Text, key: &str) -> Result<ProxySetting> {
        if value.value.trim().eq_ignore_ascii_case(NO_PROXY_WORD) {
            return Ok(ProxySetting::Direct);
        }
        // The URL is never echoed: it may hold the proxy's password.
        let proxy =
            Proxy::parse(&value.value, key).map_err(|message| self.err(value, key, message))?;
        Ok(ProxySetting::Fixed(Arc::new(proxy)))
    }

    fn proxy_variables(&self) -> Result<ProxySetting> {
        match &self.proxy_variables.read {
            Ok(variables) => Ok(ProxySetting::Variables(variables.clone())),
            Err(_) if self.proxy_variables.reported.get() => Ok(ProxySetting::Direct),
            Err(err) => {
                self.proxy_variables.reported.set(true);
                Err(self.within(
                    &err.variable,
                    format!(
                        "{} (the environment variable, used by every environment without a `proxy` key; set `proxy: none` to ignore it)",
                        err.message
                    ),
                ))
            }
        }
    }

    fn pins(&self, map: &OrderedMap<Text>, key: &str) -> Result<Vec<AddressPin>> {
        let mut pins: Vec<AddressPin> = Vec::with_capacity(map.0.len());
        for (host_port, address) in &map.0 {
            let pin_key = format!("{key}.{}", host_port.value);
            let pin = AddressPin::parse(&host_port.value, &address.value)
                .map_err(|message| self.err(address, &pin_key, message))?;
            if pins
                .iter()
                .any(|p| p.host == pin.host && p.port == pin.port)
            {
                return Err(self.err(host_port, &pin_key, "pinned twice"));
            }
            pins.push(pin);
        }
        Ok(pins)
    }

    /// `client_cert` and `client_key`, each from the environment or `defaults`, both or
    /// neither.
    pub(super) fn client_identity(
        &self,
        own: Option<&RawTls>,
        defaults: Option<&RawTls>,
        here: &str,
    ) -> Result<Option<ClientIdentity>> {
        let pick_key = |field: fn(&RawTls) -> &Option<Text>, name: &str| {
            own.and_then(|tls| {
                field(tls)
                    .as_ref()
                    .map(|v| (v, format!("{here}.tls.{name}")))
            })
            .or_else(|| {
                defaults.and_then(|tls| {
                    field(tls)
                        .as_ref()
                        .map(|v| (v, format!("defaults.tls.{name}")))
                })
            })
        };
        let cert = pick_key(|tls| &tls.client_cert, "client_cert");
        let key = pick_key(|tls| &tls.client_key, "client_key");
        match (cert, key) {
            (None, None) => Ok(None),
            (Some((value, key)), None) => Err(self.err(
                value,
                &key,
                "needs tls.client_key too: the private key of this certificate",
            )),
            (None, Some((value, key))) => Err(self.err(
                value,
                &key,
                "needs tls.client_cert too: the certificate this key belongs to",
            )),
            (Some(cert), Some(key)) => self.load_identity(cert, key).map(Some),
        }
    }

    fn load_identity(
        &self,
        (cert_value, cert_key): (&Text, String),
        (key_value, key_key): (&Text, String),
    ) -> Result<ClientIdentity> {
        let (cert_file, cert_pem, chain, subject) = self.read_chain(cert_value, &cert_key)?;
        let key_file = self.resolve(&key_value.value);
        // The key's bytes are a secret: no error below quotes them.
        let key_pem = std::fs::read_to_string(&key_file).map_err(|err| {
            self.err(
                key_value,
                &key_key,
                format!("cannot read {}: {err}", key_file.display()),
            )
        })?;
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|_| {
            self.err(
                key_value,
                &key_key,
                format!(
                    "{} holds no PEM private key (PKCS#8, PKCS#1 RSA or SEC1 EC, unencrypted)",
                    key_file.display()
                ),
            )
        })?;
        let provider = rustls::crypto::ring::default_provider();
        rustls::sign::CertifiedKey::from_der(chain, key, &provider).map_err(|err| {
            let message = match err {
                rustls::Error::InconsistentKeys(_) => format!(
                    "{} is not the private key of the certificate in {}",
                    key_file.display(),
                    cert_file.display()
                ),
                other => format!("{} cannot be used to sign: {other}", key_file.display()),
            };
            self.err(key_value, &key_key, message)
        })?;
        Ok(ClientIdentity {
            cert_file,
            key_file,
            cert_pem,
            key_pem: Secret::new(key_pem),
            subject,
        })
    }

    /// The certificate file: its path, its text, the chain in it and the leaf's subject.
    fn read_chain(
        &self,
        value: &Text,
        key: &str,
    ) -> Result<(PathBuf, String, Vec<CertificateDer<'static>>, String)> {
        let file = self.resolve(&value.value);
        let pem = std::fs::read_to_string(&file).map_err(|err| {
            self.err(value, key, format!("cannot read {}: {err}", file.display()))
        })?;
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem.as_bytes())
            .filter_map(|cert| cert.ok())
            .collect();
        let Some(leaf) = chain.first() else {
            return Err(self.err(
                value,
                key,
                format!("{} holds no PEM certificate", file.display()),
            ));
        };
        let subject = x509_parser::parse_x509_certificate(leaf.as_ref())
            .map(|(_, cert)| cert.subject().to_string())
            .map_err(|err| {
                self.err(
                    value,
                    key,
                    format!("{} is not a usable certificate: {err}", file.display()),
                )
            })?;
        Ok((file, pem, chain, subject))
    }
}

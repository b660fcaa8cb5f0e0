//! jsonwebtoken's signatures made with `ring`, the crypto rustls already links for every TLS
//! connection. jsonwebtoken's own backends are aws-lc (a second copy of a whole crypto library,
//! ~4 MB of the executable, and with it of the daemon's resident pages: bench/README.md, issue
//! 28) or RustCrypto (another set of RSA/EC crates, `rsa` with an open timing advisory).
//!
//! Only signing, and only the algorithms the configuration accepts (RFC 7518 §3.2 HS256/384/512,
//! §3.3 RS256, §3.4 ES256): wsprobe mints tokens, it never verifies them.

use std::sync::Once;

use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, KeyUtils};
use jsonwebtoken::errors::{ErrorKind, Result};
use jsonwebtoken::{Algorithm, EncodingKey};
use ring::rand::SystemRandom;
use ring::{hmac, signature as ring_sig};

static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: signer,
    verifier_factory: |_, _| Err(ErrorKind::InvalidAlgorithm.into()),
    key_utils: KeyUtils::new_unimplemented(),
};

/// Make `ring` jsonwebtoken's process-wide backend; call before the first `encode`.
pub fn install() {
    static INSTALL: Once = Once::new();
    // Only this module installs one, so the one already there is ours.
    INSTALL.call_once(|| {
        let _ = PROVIDER.install_default();
    });
}

enum Key {
    Hmac(hmac::Key),
    Rsa(ring_sig::RsaKeyPair),
    Ecdsa(ring_sig::EcdsaKeyPair),
}

struct RingSigner {
    algorithm: Algorithm,
    key: Key,
}

/// Parses the key here, so a key ring rejects is named as such ("invalid RSA key: ..."), not as
/// a failed signature.
fn signer(algorithm: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>> {
    let bytes = key.as_bytes();
    let key = match algorithm {
        Algorithm::HS256 => Key::Hmac(hmac::Key::new(hmac::HMAC_SHA256, bytes)),
        Algorithm::HS384 => Key::Hmac(hmac::Key::new(hmac::HMAC_SHA384, bytes)),
        Algorithm::HS512 => Key::Hmac(hmac::Key::new(hmac::HMAC_SHA512, bytes)),
        // jsonwebtoken hands over the PKCS#1 RSAPrivateKey, from either PEM form.
        Algorithm::RS256 => Key::Rsa(
            ring_sig::RsaKeyPair::from_der(bytes)
                .map_err(|err| ErrorKind::InvalidRsaKey(err.to_string()))?,
        ),
        // ... and the PKCS#8 document for EC keys.
        Algorithm::ES256 => Key::Ecdsa(
            ring_sig::EcdsaKeyPair::from_pkcs8(
                &ring_sig::ECDSA_P256_SHA256_FIXED_SIGNING,
                bytes,
                &SystemRandom::new(),
            )
            .map_err(|_| ErrorKind::InvalidEcdsaKey)?,
        ),
        _ => return Err(ErrorKind::InvalidAlgorithm.into()),
    };
    Ok(Box::new(RingSigner {
        algorithm: *algorithm,
        key,
    }))
}

impl signature::Signer<Vec<u8>> for RingSigner {
    fn try_sign(&self, message: &[u8]) -> std::result::Result<Vec<u8>, signature::Error> {
        let rng = SystemRandom::new();
        match &self.key {
            Key::Hmac(key) => Ok(hmac::sign(key, message).as_ref().to_vec()),
            Key::Rsa(pair) => {
                let mut signed = vec![0; pair.public().modulus_len()];
                pair.sign(&ring_sig::RSA_PKCS1_SHA256, &rng, message, &mut signed)
                    .map_err(|_| signature::Error::new())?;
                Ok(signed)
            }
            // The fixed form (r ‖ s) is what JWS wants (RFC 7518 §3.4), not ASN.1 DER.
            Key::Ecdsa(pair) => pair
                .sign(&rng, message)
                .map(|signed| signed.as_ref().to_vec())
                .map_err(|_| signature::Error::new()),
        }
    }
}

impl JwtSigner for RingSigner {
    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}

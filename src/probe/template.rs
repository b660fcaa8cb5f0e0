//! `{token}` and `{token_base64url}` in headers, subprotocols and sent messages.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

pub(super) struct Templates {
    token: String,
    /// Kept beside the token: it is a secret too, redacted wherever it appears.
    pub(super) token_base64url: String,
}

impl Templates {
    pub(super) fn new(token: Option<&str>) -> Self {
        let token = token.unwrap_or_default().to_owned();
        let token_base64url = URL_SAFE_NO_PAD.encode(token.as_bytes());
        Self {
            token,
            token_base64url,
        }
    }

    pub(super) fn fill(&self, template: &str) -> String {
        template
            .replace("{token_base64url}", &self.token_base64url)
            .replace("{token}", &self.token)
    }
}

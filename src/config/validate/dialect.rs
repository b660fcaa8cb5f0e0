//! What a browser's upgrade carries besides credentials: `origin`, `cookies` (RFC 6265 §4.1.1's
//! grammar, so that the `Cookie` header the probe writes is parsed as written) and the
//! synthetic-request baggage; and `{token}` in the URL.

use super::*;

/// The keys of an environment that make its upgrade look like a browser's.
pub(super) struct Dialect {
    pub origin: Option<String>,
    pub cookies: Vec<(String, Secret)>,
    pub synthetic_baggage: bool,
}

/// A cookie name is an RFC 9110 token.
pub(super) fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a cookie name cannot be empty".to_owned());
    }
    match name.chars().find(|c| !is_tchar(*c)) {
        Some(bad) => Err(format!(
            "{name:?} is not a cookie name: {bad:?} is not allowed (RFC 6265 §4.1.1)"
        )),
        None => Ok(()),
    }
}

/// cookie-octet: visible ASCII but for `"`, `,`, `;` and `\`; a value may be wrapped in
/// double quotes as a whole.
pub(super) fn check_value(value: &str) -> Result<(), String> {
    let inner = value
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
        .unwrap_or(value);
    let octet = |c: char| c.is_ascii_graphic() && !matches!(c, '"' | ',' | ';' | '\\');
    match inner.chars().find(|c| !octet(*c)) {
        Some(bad) => Err(format!(
            "{bad:?} is not allowed in a cookie value (RFC 6265 §4.1.1: no spaces, quotes, commas, semicolons or backslashes; percent-encode them)"
        )),
        None => Ok(()),
    }
}

impl Validator<'_> {
    pub(super) fn dialect(&self, layers: &Layers, auth: &Auth) -> Result<Dialect> {
        let origin = match layers.pick(|e| &e.origin, "origin") {
            Some((value, key)) => {
                self.refuse_header(layers, "origin", "set by `origin` too: keep one")?;
                Some(self.origin(value, &key)?)
            }
            None => None,
        };
        let cookies = self.cookies(layers)?;
        if !cookies.is_empty() || matches!(auth, Auth::Session(_)) {
            self.refuse_header(
                layers,
                "cookie",
                "wsprobe builds `Cookie` from `cookies` and the session's cookies: list these under `cookies`",
            )?;
        }
        let synthetic_baggage = layers
            .pick(|e| &e.synthetic_baggage, "synthetic_baggage")
            .is_none_or(|(value, _)| value.value);
        Ok(Dialect {
            origin,
            cookies,
            synthetic_baggage,
        })
    }

    /// An origin as RFC 6454 §6.2 serializes it (`https://app.example.com`), or `null`.
    fn origin(&self, value: &Text, key: &str) -> Result<String> {
        let text = value.value.trim();
        if text == "null" {
            return Ok(text.to_owned());
        }
        let shape = "write scheme://host[:port], like https://app.example.com";
        let url = Url::parse(text)
            .map_err(|err| self.err(value, key, format!("not an origin ({err}): {shape}")))?;
        let bare = url.path() == "/"
            && url.query().is_none()
            && url.fragment().is_none()
            && url.username().is_empty()
            && url.password().is_none();
        let origin = url.origin();
        if !bare || !origin.is_tuple() {
            return Err(self.err(
                value,
                key,
                format!("an origin is a scheme, a host and a port only (RFC 6454): {shape}"),
            ));
        }
        Ok(origin.ascii_serialization())
    }

    /// A header that another key writes, refused in `headers` (of `defaults` or the
    /// environment) so that the two cannot disagree.
    fn refuse_header(&self, layers: &Layers, header: &str, message: &str) -> Result<()> {
        let maps = [
            (layers.defaults.headers.as_ref(), "defaults"),
            (layers.own.headers.as_ref(), layers.here),
        ];
        for (map, prefix) in maps {
            let written = map
                .iter()
                .flat_map(|map| &map.0)
                .find(|(name, _)| name.value.eq_ignore_ascii_case(header));
            if let Some((name, _)) = written {
                return Err(self.err(name, &format!("{prefix}.headers.{}", name.value), message));
            }
        }
        Ok(())
    }

    /// `{token}` and `{token_base64url}` in the URL: known names, in the path or query only
    /// (the host and user are not the request's to carry a credential).
    pub(super) fn url_templates<'r>(
        &self,
        raw: &'r Text,
        url: &Url,
        key: String,
        token_uses: &mut environment::TokenUses<'r>,
    ) -> Result<()> {
        if !uses_token(&raw.value).map_err(|message| self.err(raw, &key, message))? {
            return Ok(());
        }
        let outside = [
            url.host_str().unwrap_or_default(),
            url.username(),
            url.password().unwrap_or_default(),
            url.fragment().unwrap_or_default(),
        ];
        if outside
            .iter()
            .any(|part| part.contains('{') || part.to_ascii_lowercase().contains("%7b"))
        {
            return Err(self.err(
                raw,
                &key,
                "templates are filled in the URL's path and query only",
            ));
        }
        token_uses.push((&raw.referenced, key, environment::Carrier::Handshake));
        Ok(())
    }

    /// `cookies`: `defaults`' then the environment's own, a name written in both taking the
    /// environment's value.
    pub(super) fn cookies(&self, layers: &Layers) -> Result<Vec<(String, Secret)>> {
        let mut cookies: Vec<(String, Secret)> = Vec::new();
        let layered = [
            (layers.defaults.cookies.as_ref(), "defaults"),
            (layers.own.cookies.as_ref(), layers.here),
        ];
        for (map, prefix) in layered {
            for (name, value) in map.iter().flat_map(|map| &map.value.0) {
                let key = format!("{prefix}.cookies.{}", name.value);
                check_name(&name.value).map_err(|message| self.err(name, &key, message))?;
                check_value(&value.value).map_err(|message| self.err(value, &key, message))?;
                let value = Secret::new(value.value.clone());
                match cookies
                    .iter_mut()
                    .find(|(existing, _)| *existing == name.value)
                {
                    Some(entry) => entry.1 = value,
                    None => cookies.push((name.value.clone(), value)),
                }
            }
        }
        Ok(cookies)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_grammar() {
        for name in [
            "sessionid",
            "csrftoken",
            "_app_session",
            "XSRF-TOKEN",
            "__Host-id",
        ] {
            assert_eq!(check_name(name), Ok(()), "{name}");
        }
        for name in ["", "my cookie", "a=b", "a;b", "naïve"] {
            assert!(check_name(name).is_err(), "{name:?}");
        }
        for value in ["en", "", "abc123-_.~!#$%&'()*+/:<=>?@[]^`{|}", "\"quoted\""] {
            assert_eq!(check_value(value), Ok(()), "{value}");
        }
        for value in ["a b", "a;b", "a,b", "a\\b", "a\"b", "é"] {
            assert!(check_value(value).is_err(), "{value:?}");
        }
    }
}

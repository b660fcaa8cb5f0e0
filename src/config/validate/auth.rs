//! `auth`: how the probe gets its token (none, bearer, jwt, token_endpoint), or its session
//! cookies (session).

use super::*;

#[derive(Debug, Clone, Copy)]
enum AuthKind {
    None,
    Bearer,
    Jwt,
    TokenEndpoint,
    Session,
}

impl AuthKind {
    fn parse(text: &str) -> Option<AuthKind> {
        Some(match text {
            "none" => AuthKind::None,
            "bearer" => AuthKind::Bearer,
            "jwt" => AuthKind::Jwt,
            "token_endpoint" => AuthKind::TokenEndpoint,
            "session" => AuthKind::Session,
            _ => return None,
        })
    }

    /// The keys besides `kind` that this kind reads.
    fn keys(self) -> &'static [&'static str] {
        match self {
            AuthKind::None => &[],
            AuthKind::Bearer => &["token"],
            AuthKind::Jwt => &["secret", "key", "algorithm", "claims", "ttl"],
            AuthKind::TokenEndpoint => {
                &["url", "method", "headers", "body", "form", "token_pointer"]
            }
            AuthKind::Session => &["login", "csrf"],
        }
    }
}

/// Where each key besides `kind` is written, if it is: a kind that does not read one refuses it.
fn present_keys(a: &RawAuth) -> [(&'static str, Option<&Location>); 14] {
    [
        ("token", a.token.as_ref().map(|v| &v.referenced)),
        ("secret", a.secret.as_ref().map(|v| &v.referenced)),
        ("key", a.key.as_ref().map(|v| &v.referenced)),
        ("algorithm", a.algorithm.as_ref().map(|v| &v.referenced)),
        ("claims", a.claims.as_ref().map(|v| &v.referenced)),
        ("ttl", a.ttl.as_ref().map(|v| &v.referenced)),
        ("url", a.url.as_ref().map(|v| &v.referenced)),
        ("method", a.method.as_ref().map(|v| &v.referenced)),
        ("headers", a.headers.as_ref().map(|v| &v.referenced)),
        ("body", a.body.as_ref().map(|v| &v.referenced)),
        ("form", a.form.as_ref().map(|v| &v.referenced)),
        (
            "token_pointer",
            a.token_pointer.as_ref().map(|v| &v.referenced),
        ),
        ("login", a.login.as_ref().map(|v| &v.referenced)),
        ("csrf", a.csrf.as_ref().map(|v| &v.referenced)),
    ]
}

impl Validator<'_> {
    pub(super) fn auth(&self, raw: &Located<RawAuth>, key: &str) -> Result<Auth> {
        let a = &raw.value;
        let kind_text = self.required(&a.kind, &raw.referenced, key, "kind")?;
        let kind = AuthKind::parse(&kind_text.value).ok_or_else(|| {
            self.err(
                kind_text,
                &format!("{key}.kind"),
                format!(
                    "unknown auth kind {:?}: expected none, bearer, jwt, token_endpoint or session",
                    kind_text.value
                ),
            )
        })?;
        let present = present_keys(a);
        self.refuse_unused("auth kind", &kind_text.value, kind.keys(), &present, key)?;

        match kind {
            AuthKind::None => Ok(Auth::None),
            AuthKind::Bearer => {
                let token = self.required(&a.token, &raw.referenced, key, "token")?;
                Ok(Auth::Bearer {
                    token: self.secret(token, &format!("{key}.token"))?,
                })
            }
            AuthKind::Jwt => self.jwt(raw, key),
            AuthKind::TokenEndpoint => self.token_endpoint(raw, key),
            AuthKind::Session => self.session(raw, key),
        }
    }

    fn jwt(&self, raw: &Located<RawAuth>, key: &str) -> Result<Auth> {
        let a = &raw.value;
        let algorithm = match &a.algorithm {
            Some(value) => parse_algorithm(&value.value).ok_or_else(|| {
                self.err(
                    value,
                    &format!("{key}.algorithm"),
                    format!(
                        "unknown algorithm {:?}: expected HS256, HS384, HS512, RS256 or ES256",
                        value.value
                    ),
                )
            })?,
            None => JwtAlgorithm::HS256,
        };
        let key_material = self.jwt_key(raw, key, algorithm)?;
        let ttl = match &a.ttl {
            Some(value) => self.positive_duration(value, &format!("{key}.ttl"))?,
            None => DEFAULT_JWT_TTL,
        };
        Ok(Auth::Jwt {
            algorithm,
            key: key_material,
            claims: a
                .claims
                .as_ref()
                .map(|claims| claims.value.clone())
                .unwrap_or_default(),
            ttl,
        })
    }

    /// HMAC algorithms sign with `secret`, the others with the private key file in `key`.
    fn jwt_key(
        &self,
        raw: &Located<RawAuth>,
        key: &str,
        algorithm: JwtAlgorithm,
    ) -> Result<JwtKey> {
        let a = &raw.value;
        match algorithm {
            JwtAlgorithm::HS256 | JwtAlgorithm::HS384 | JwtAlgorithm::HS512 => {
                if let Some(pem) = &a.key {
                    return Err(self.err(
                        pem,
                        &format!("{key}.key"),
                        format!("{algorithm:?} signs with `secret`; `key` is for RS256 and ES256"),
                    ));
                }
                let secret = self.required(&a.secret, &raw.referenced, key, "secret")?;
                Ok(JwtKey::Secret(
                    self.secret(secret, &format!("{key}.secret"))?,
                ))
            }
            JwtAlgorithm::RS256 | JwtAlgorithm::ES256 => {
                if let Some(secret) = &a.secret {
                    return Err(self.err(
                        secret,
                        &format!("{key}.secret"),
                        format!(
                            "{algorithm:?} signs with a private key file: use `key`, not `secret`"
                        ),
                    ));
                }
                let file = self.required(&a.key, &raw.referenced, key, "key")?;
                self.pem_key(file, &format!("{key}.key"), algorithm)
            }
        }
    }

    fn token_endpoint(&self, raw: &Located<RawAuth>, key: &str) -> Result<Auth> {
        let a = &raw.value;
        let url = self.required(&a.url, &raw.referenced, key, "url")?;
        let url = self.url(url, &format!("{key}.url"), &["http", "https"])?;
        let token_pointer = match &a.token_pointer {
            Some(value) => self.pointer(value, &format!("{key}.token_pointer"))?,
            None => DEFAULT_TOKEN_POINTER.to_owned(),
        };
        Ok(Auth::TokenEndpoint {
            url,
            method: self.method(a.method.as_ref(), key)?,
            headers: self.secret_headers(a.headers.as_ref(), key)?,
            body: self.request_body(a.body.as_ref(), a.form.as_ref(), key)?,
            token_pointer,
        })
    }

    /// `method`, POST when absent.
    fn method(&self, value: Option<&Text>, key: &str) -> Result<reqwest::Method> {
        let Some(value) = value else {
            return Ok(reqwest::Method::POST);
        };
        reqwest::Method::from_bytes(value.value.trim().to_ascii_uppercase().as_bytes()).map_err(
            |_| {
                self.err(
                    value,
                    &format!("{key}.method"),
                    format!("invalid HTTP method {:?}", value.value),
                )
            },
        )
    }

    /// A request's `headers`: names checked, values secrets (they carry keys).
    fn secret_headers(
        &self,
        headers: Option<&Located<OrderedMap<String>>>,
        key: &str,
    ) -> Result<Vec<(String, Secret)>> {
        let mut checked = Vec::new();
        for (name, value) in headers.iter().flat_map(|map| &map.value.0) {
            if reqwest::header::HeaderName::from_bytes(name.value.as_bytes()).is_err() {
                return Err(self.err(
                    name,
                    &format!("{key}.headers.{}", name.value),
                    "not a valid HTTP header name",
                ));
            }
            checked.push((name.value.clone(), Secret::new(value.clone())));
        }
        Ok(checked)
    }

    /// `body:` (JSON) or `form:` (form-encoded): one of them at most.
    fn request_body(
        &self,
        body: Option<&Located<serde_json::Value>>,
        form: Option<&Located<OrderedMap<Text>>>,
        key: &str,
    ) -> Result<Option<RequestBody>> {
        match (body, form) {
            (Some(_), Some(form)) => Err(self.err(
                form,
                &format!("{key}.form"),
                "a request sends `body` (JSON) or `form` (form-encoded), not both: keep one",
            )),
            (Some(body), None) => Ok(Some(RequestBody::Json(body.value.clone()))),
            (None, Some(form)) => {
                let fields = form.value.0.iter();
                let fields = fields
                    .map(|(name, value)| (name.value.clone(), Secret::new(value.value.clone())));
                Ok(Some(RequestBody::Form(fields.collect())))
            }
            (None, None) => Ok(None),
        }
    }

    fn session(&self, raw: &Located<RawAuth>, key: &str) -> Result<Auth> {
        let a = &raw.value;
        let login = self.required(&a.login, &raw.referenced, key, "login")?;
        let login_key = format!("{key}.login");
        let l = &login.value;
        let url = self.required(&l.url, &login.referenced, &login_key, "url")?;
        let login = LoginRequest {
            url: self.url(url, &format!("{login_key}.url"), &["http", "https"])?,
            method: self.method(l.method.as_ref(), &login_key)?,
            headers: self.secret_headers(l.headers.as_ref(), &login_key)?,
            body: self.request_body(l.body.as_ref(), l.form.as_ref(), &login_key)?,
            token_pointer: l
                .token_pointer
                .as_ref()
                .map(|pointer| self.pointer(pointer, &format!("{login_key}.token_pointer")))
                .transpose()?,
        };
        let csrf = match &a.csrf {
            Some(csrf) => Some(self.csrf(csrf, &format!("{key}.csrf"), &login)?),
            None => None,
        };
        Ok(Auth::Session(Box::new(SessionAuth { login, csrf })))
    }

    /// `csrf`: the page, the cookie and where the token goes back; a `field` needs a body it
    /// can go in (a form, or a JSON object).
    fn csrf(&self, raw: &Located<RawCsrf>, key: &str, login: &LoginRequest) -> Result<CsrfSource> {
        let c = &raw.value;
        let url = self.required(&c.url, &raw.referenced, key, "url")?;
        let url = self.url(url, &format!("{key}.url"), &["http", "https"])?;
        let cookie = self.required(&c.cookie, &raw.referenced, key, "cookie")?;
        if let Err(message) = super::dialect::check_name(&cookie.value) {
            return Err(self.err(cookie, &format!("{key}.cookie"), message));
        }
        if c.field.is_none() && c.header.is_none() {
            return Err(self.at(
                &raw.referenced,
                key,
                "missing key `field` (the form field the token goes back in) or `header` (the header it goes back in)",
            ));
        }
        if let Some(header) = &c.header
            && reqwest::header::HeaderName::from_bytes(header.value.as_bytes()).is_err()
        {
            return Err(self.err(
                header,
                &format!("{key}.header"),
                "not a valid HTTP header name",
            ));
        }
        if let (Some(field), Some(RequestBody::Json(body))) = (&c.field, &login.body)
            && !body.is_object()
        {
            return Err(self.err(
                field,
                &format!("{key}.field"),
                "the login's `body` is not a JSON object, so the token has no field to go in: use `header`",
            ));
        }
        Ok(CsrfSource {
            url,
            cookie: cookie.value.clone(),
            field: c.field.as_ref().map(|f| f.value.clone()),
            header: c.header.as_ref().map(|h| h.value.clone()),
        })
    }

    /// Read and check the private key now, so a bad key fails `validate`, not the first probe.
    pub(super) fn pem_key(
        &self,
        file: &Text,
        key: &str,
        algorithm: JwtAlgorithm,
    ) -> Result<JwtKey> {
        let path = self.resolve(&file.value);
        let pem = std::fs::read_to_string(&path)
            .map_err(|err| self.err(file, key, format!("cannot read {}: {err}", path.display())))?;
        let parsed = match algorithm {
            JwtAlgorithm::RS256 => {
                jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).map(drop)
            }
            _ => jsonwebtoken::EncodingKey::from_ec_pem(pem.as_bytes()).map(drop),
        };
        parsed.map_err(|err| {
            let wanted = match algorithm {
                JwtAlgorithm::RS256 => "an RSA private key",
                _ => "a PKCS#8 P-256 EC private key",
            };
            self.err(
                file,
                key,
                format!("{} is not {wanted} in PEM form: {err}", path.display()),
            )
        })?;
        Ok(JwtKey::Pem {
            path,
            pem: Secret::new(pem),
        })
    }
}

fn parse_algorithm(text: &str) -> Option<JwtAlgorithm> {
    Some(match text {
        "HS256" => JwtAlgorithm::HS256,
        "HS384" => JwtAlgorithm::HS384,
        "HS512" => JwtAlgorithm::HS512,
        "RS256" => JwtAlgorithm::RS256,
        "ES256" => JwtAlgorithm::ES256,
        _ => return None,
    })
}

//! `auth.kind: session`: log in over HTTP as a browser does, the CSRF page first, then the login
//! request, every answer's `Set-Cookie` kept in an RFC 6265 jar, and the cookies that apply to
//! the WebSocket URL handed to the upgrade. A fresh jar per probe: each probe logs in, so a
//! broken login is seen at once, and no cookie outlives the probe that got it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::cookie::Jar;
use reqwest::header::{HeaderValue, LOCATION, ORIGIN, REFERER};
use url::Url;

use super::auth::{TokenFailure, read_bounded, with_body};
use super::cookies;
use crate::config::{CsrfSource, LoginRequest, RequestBody, Secret, SessionAuth, redact_url};
use crate::text::{error_chain, excerpt};

/// Redirects followed after an answer: enough for a login's "go to the app" and an SSO hop.
const MAX_REDIRECTS: usize = 5;
const BODY_EXCERPT_CHARS: usize = 300;

/// What a login leaves: the cookies for the upgrade, or why there are none; and every cookie
/// value seen on the way, secrets to scrub whatever the outcome.
pub struct Login {
    pub outcome: Result<LoggedIn, TokenFailure>,
    pub seen: Vec<String>,
}

/// A login that worked: the cookies for the upgrade, and the token its answer carried when
/// `login.token_pointer` asks for one.
pub struct LoggedIn {
    pub cookies: Vec<(String, String)>,
    pub token: Option<String>,
}

/// Log in for `ws_url` within `budget`, over a client that trusts what `tls` trusts.
pub async fn log_in(
    session: &SessionAuth,
    ws_url: &Url,
    tls: &rustls::ClientConfig,
    budget: Duration,
) -> Login {
    let jar = Arc::new(Jar::default());
    let mut browser = match Browser::new(tls, jar, Instant::now() + budget) {
        Ok(browser) => browser,
        Err(failure) => {
            return Login {
                outcome: Err(failure),
                seen: Vec::new(),
            };
        }
    };
    let outcome = browser.log_in(session, ws_url).await;
    Login {
        outcome,
        seen: browser.seen,
    }
}

/// One answer: its status and a bounded body, and where it came from.
struct Answer {
    status: u16,
    body: String,
}

impl Answer {
    /// The string (or number) at `pointer` in the body read as JSON.
    fn token(&self, pointer: &str) -> Option<String> {
        let json: serde_json::Value = serde_json::from_str(&self.body).ok()?;
        match json.pointer(pointer)? {
            serde_json::Value::String(token) if !token.is_empty() => Some(token.clone()),
            serde_json::Value::Number(number) => Some(number.to_string()),
            _ => None,
        }
    }
}

/// An HTTP client with its own cookie jar, following redirects by hand so that every hop's
/// cookies are kept and the first answer's status is the one judged.
struct Browser {
    http: reqwest::Client,
    jar: Arc<Jar>,
    deadline: Instant,
    seen: Vec<String>,
}

impl Browser {
    fn new(
        tls: &rustls::ClientConfig,
        jar: Arc<Jar>,
        deadline: Instant,
    ) -> Result<Self, TokenFailure> {
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls.clone())
            .user_agent(concat!("wsprobe/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .cookie_provider(jar.clone())
            .build()
            .map_err(|err| TokenFailure {
                own_fault: true,
                ..TokenFailure::message(format!("cannot build the login's HTTP client: {err}"))
            })?;
        Ok(Self {
            http,
            jar,
            deadline,
            seen: Vec::new(),
        })
    }

    async fn log_in(
        &mut self,
        session: &SessionAuth,
        ws_url: &Url,
    ) -> Result<LoggedIn, TokenFailure> {
        let login = &session.login;
        let token = match &session.csrf {
            Some(csrf) => Some(self.csrf_token(csrf, &login.url).await?),
            None => None,
        };
        let before = self.cookies(ws_url);
        let page = session.csrf.as_ref().map_or(&login.url, |csrf| &csrf.url);
        let request = self.login_request(login, page, session.csrf.as_ref(), token.as_deref());
        let answer = self.visit(request, &login.url).await?;
        let shown = redact_url(&login.url);
        if answer.status >= 400 {
            let refused = if answer.status < 500 {
                format!(
                    "the login at {shown} refused the credentials: HTTP {}",
                    answer.status
                )
            } else {
                format!("the login at {shown} failed: HTTP {}", answer.status)
            };
            return Err(answer.failure(refused));
        }
        let after = self.cookies(ws_url);
        if let Some(pointer) = &login.token_pointer {
            // A login answering with a token is judged by it: such apps need not set a cookie.
            let token = answer.token(pointer).ok_or_else(|| {
                answer.failure(format!(
                    "the login answer from {shown} (HTTP {}) carried no token at {pointer}",
                    answer.status
                ))
            })?;
            self.seen.push(token.clone());
            return Ok(LoggedIn {
                cookies: after,
                token: Some(token),
            });
        }
        let csrf_cookie = session.csrf.as_ref().map(|csrf| csrf.cookie.as_str());
        if cookies::set_by_login(&before, &after, csrf_cookie).is_empty() {
            let message =
                self.no_session_cookie(&shown, &login.url, ws_url, answer.status, csrf_cookie);
            return Err(answer.failure(message));
        }
        Ok(LoggedIn {
            cookies: after,
            token: None,
        })
    }

    /// GET the CSRF page (as a browser shows the form first) and read the token from the
    /// cookie it set, as the login request will carry it.
    async fn csrf_token(
        &mut self,
        csrf: &CsrfSource,
        login_url: &Url,
    ) -> Result<String, TokenFailure> {
        let request = self.http.get(csrf.url.clone());
        let answer = self.visit(request, &csrf.url).await?;
        let shown = redact_url(&csrf.url);
        if answer.status >= 400 {
            let message = format!("the CSRF page {shown} answered HTTP {}", answer.status);
            return Err(answer.failure(message));
        }
        self.cookies(login_url)
            .into_iter()
            .find(|(name, _)| *name == csrf.cookie)
            .map(|(_, value)| value)
            .ok_or_else(|| {
                answer.failure(format!(
                    "the CSRF cookie `{}` was not set by {shown}",
                    csrf.cookie
                ))
            })
    }

    /// The login request as the page's form would send it: its `Referer` and `Origin` (CSRF
    /// protections compare them with the host: Django over HTTPS, Rails, Spring), the token
    /// in the configured field and header, and the configured headers last, so they win.
    fn login_request(
        &self,
        login: &LoginRequest,
        page: &Url,
        csrf: Option<&CsrfSource>,
        token: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let mut request = self
            .http
            .request(login.method.clone(), login.url.clone())
            .timeout(self.remaining())
            .header(REFERER, page.as_str())
            .header(ORIGIN, page.origin().ascii_serialization());
        let field = csrf.and_then(|csrf| csrf.field.as_deref());
        if let Some(body) = with_csrf_field(login.body.as_ref(), field, token) {
            request = with_body(request, &body);
        }
        if let (Some(header), Some(token)) = (csrf.and_then(|c| c.header.as_deref()), token) {
            request = request.header(header, token);
        }
        for (name, value) in &login.headers {
            request = request.header(name, value.expose());
        }
        request
    }

    /// Send `request` (to `url`), then follow redirects with GET while the deadline allows;
    /// the first answer is the one returned.
    async fn visit(
        &mut self,
        request: reqwest::RequestBuilder,
        url: &Url,
    ) -> Result<Answer, TokenFailure> {
        let response = request
            .timeout(self.remaining())
            .send()
            .await
            .map_err(|err| request_failed(&err, url))?;
        let mut location = next_hop(url, response.headers().get(LOCATION), response.status());
        let status = response.status().as_u16();
        let body = read_bounded(response).await?;
        self.remember(url);
        for _ in 0..MAX_REDIRECTS {
            let Some(next) = location.take() else { break };
            let hop = self
                .http
                .get(next.clone())
                .timeout(self.remaining())
                .send()
                .await;
            // The hop is only where cookies may be set: a failing one does not undo the login.
            let Ok(hop) = hop else { break };
            location = next_hop(&next, hop.headers().get(LOCATION), hop.status());
            self.remember(&next);
        }
        Ok(Answer {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }

    /// Why a login that answered well left no session cookie for the upgrade.
    fn no_session_cookie(
        &self,
        shown: &str,
        login_url: &Url,
        ws_url: &Url,
        status: u16,
        csrf_cookie: Option<&str>,
    ) -> String {
        let at_login: Vec<String> = self
            .cookies(login_url)
            .into_iter()
            .map(|(name, _)| name)
            .filter(|name| Some(name.as_str()) != csrf_cookie)
            .collect();
        if at_login.is_empty() {
            format!(
                "the login answer from {shown} (HTTP {status}) set no session cookie: the credentials were likely refused"
            )
        } else {
            format!(
                "the login answer from {shown} (HTTP {status}) set no session cookie that applies to {}: the cookies it set ({}) are for another domain or path, or Secure while the WebSocket URL is ws://",
                redact_url(ws_url),
                at_login.join(", ")
            )
        }
    }

    fn cookies(&self, url: &Url) -> Vec<(String, String)> {
        cookies::for_url(&self.jar, url)
    }

    /// The values the jar holds for `url` are secrets from now on.
    fn remember(&mut self, url: &Url) {
        let values = self.cookies(url).into_iter().map(|(_, value)| value);
        self.seen.extend(values);
    }

    fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }
}

impl Answer {
    /// A failure with this answer as its evidence. An HTML page is kept as its text: a login
    /// page's first bytes are styles and hidden form fields, its reason ("CSRF verification
    /// failed") comes later.
    fn failure(&self, message: String) -> TokenFailure {
        let body = if super::evidence::looks_like_html(self.body.trim()) {
            super::evidence::page_text(&self.body)
        } else {
            self.body.clone()
        };
        TokenFailure {
            http_status: Some(self.status),
            body_excerpt: Some(excerpt(&body, BODY_EXCERPT_CHARS)),
            message,
            own_fault: false,
        }
    }
}

fn request_failed(err: &reqwest::Error, url: &Url) -> TokenFailure {
    TokenFailure {
        own_fault: super::connect::local_exhaustion_in(err).is_some(),
        ..TokenFailure::message(format!(
            "the request to {} failed: {}",
            redact_url(url),
            error_chain(err)
        ))
    }
}

/// Where a redirect answer points, resolved against the URL that answered (RFC 9110 §10.2.2).
fn next_hop(
    from: &Url,
    location: Option<&HeaderValue>,
    status: reqwest::StatusCode,
) -> Option<Url> {
    if !status.is_redirection() {
        return None;
    }
    let location = location?.to_str().ok()?;
    from.join(location)
        .ok()
        .filter(|url| matches!(url.scheme(), "http" | "https"))
}

/// The login body with the CSRF token in `field`: appended to a form, set in a JSON object,
/// or a form of its own when the login sends no body.
fn with_csrf_field(
    body: Option<&RequestBody>,
    field: Option<&str>,
    token: Option<&str>,
) -> Option<RequestBody> {
    let (Some(field), Some(token)) = (field, token) else {
        return body.cloned();
    };
    Some(match body {
        Some(RequestBody::Form(fields)) => {
            let mut fields = fields.clone();
            fields.retain(|(name, _)| name != field);
            fields.push((field.to_owned(), Secret::new(token)));
            RequestBody::Form(fields)
        }
        Some(RequestBody::Json(serde_json::Value::Object(map))) => {
            let mut map = map.clone();
            map.insert(field.to_owned(), token.into());
            RequestBody::Json(map.into())
        }
        // Validation refuses a `field` with a JSON body that is not an object.
        Some(json @ RequestBody::Json(_)) => json.clone(),
        None => RequestBody::Form(vec![(field.to_owned(), Secret::new(token))]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_csrf_token_goes_in_the_field_of_whatever_body_the_login_sends() {
        let form = RequestBody::Form(vec![
            ("username".into(), Secret::new("probe")),
            ("csrfmiddlewaretoken".into(), Secret::new("stale")),
        ]);
        let Some(RequestBody::Form(fields)) =
            with_csrf_field(Some(&form), Some("csrfmiddlewaretoken"), Some("t0k"))
        else {
            panic!("a form stays a form");
        };
        let fields: Vec<(&str, &str)> = fields
            .iter()
            .map(|(n, v)| (n.as_str(), v.expose()))
            .collect();
        assert_eq!(
            fields,
            [("username", "probe"), ("csrfmiddlewaretoken", "t0k")]
        );

        let json = RequestBody::Json(serde_json::json!({ "user": "probe" }));
        assert_eq!(
            with_csrf_field(Some(&json), Some("_csrf"), Some("t0k")),
            Some(RequestBody::Json(
                serde_json::json!({ "user": "probe", "_csrf": "t0k" })
            ))
        );
        assert_eq!(
            with_csrf_field(None, Some("_token"), Some("t0k")),
            Some(RequestBody::Form(vec![(
                "_token".into(),
                Secret::new("t0k")
            )]))
        );
        assert_eq!(
            with_csrf_field(Some(&json), None, Some("t0k")),
            Some(json.clone())
        );
        assert_eq!(with_csrf_field(None, None, None), None);
    }

    #[test]
    fn redirects_resolve_against_the_answering_url() {
        let from = Url::parse("https://app.example.com/accounts/login/").unwrap();
        let found = reqwest::StatusCode::FOUND;
        let hop = |location: &str, status| {
            next_hop(
                &from,
                Some(&HeaderValue::from_str(location).unwrap()),
                status,
            )
        };
        assert_eq!(
            hop("/accounts/profile/", found).unwrap().as_str(),
            "https://app.example.com/accounts/profile/"
        );
        assert_eq!(
            hop("https://sso.example.com/cb", found).unwrap().as_str(),
            "https://sso.example.com/cb"
        );
        assert_eq!(hop("/x", reqwest::StatusCode::OK), None);
        assert_eq!(hop("javascript:alert(1)", found), None);
    }
}

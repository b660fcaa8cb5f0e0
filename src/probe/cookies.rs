//! Cookies on the upgrade: the session's, chosen from an RFC 6265 jar for the WebSocket URL, and
//! the configured `cookies`, in one `Cookie` header. Pure, but for the jar it reads.

use reqwest::cookie::{CookieStore as _, Jar};
use url::Url;

use crate::config::Secret;

/// The http(s) URL a WebSocket URL's cookies are chosen for. RFC 6455 §4.1 sends the cookies
/// a browser would send to the same URL over HTTP, and RFC 6265 §5.4 withholds `HttpOnly`
/// cookies (session cookies usually are) from "non-HTTP" APIs: a jar asked with a `ws://`
/// scheme would drop exactly the session cookie. `wss` maps to `https`, so `Secure` cookies
/// go over `wss://` only (and loopback, which browsers treat as secure).
pub fn http_equivalent(url: &Url) -> Url {
    let scheme = match url.scheme() {
        "ws" => "http",
        "wss" => "https",
        _ => return url.clone(),
    };
    // `set_scheme` refuses a switch between special schemes of different ports' kinds only;
    // ws → http and wss → https share their default ports, so reparsing is the safe way.
    let rest = &url.as_str()[url.scheme().len()..];
    Url::parse(&format!("{scheme}{rest}")).unwrap_or_else(|_| url.clone())
}

/// The cookies `jar` sends to `url` (a WebSocket URL is asked as its http(s) equivalent), as
/// (name, value) in the jar's order, which RFC 6265 §5.4 tells servers not to rely on.
pub fn for_url(jar: &Jar, url: &Url) -> Vec<(String, String)> {
    jar.cookies(&http_equivalent(url))
        .and_then(|header| header.to_str().ok().map(parse_header))
        .unwrap_or_default()
}

/// A `Cookie` header's pairs (`a=1; b=2`); a pair without `=` is a value with an empty name, as
/// RFC 6265bis §5.6 reads it.
pub fn parse_header(header: &str) -> Vec<(String, String)> {
    header
        .split(';')
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((name, value)) => (name.trim().to_owned(), value.trim().to_owned()),
            None => (String::new(), pair.to_owned()),
        })
        .collect()
}

/// The names among `after` that the login set or changed (not in `before` with that value),
/// but the CSRF cookie, which is no session.
pub fn set_by_login(
    before: &[(String, String)],
    after: &[(String, String)],
    csrf_cookie: Option<&str>,
) -> Vec<String> {
    after
        .iter()
        .filter(|(name, value)| !before.iter().any(|(n, v)| n == name && v == value))
        .filter(|(name, _)| Some(name.as_str()) != csrf_cookie)
        .map(|(name, _)| name.clone())
        .collect()
}

/// One `Cookie` header for the upgrade: the session's cookies, then the configured ones; a
/// configured cookie replaces a session cookie of its name (the config says what to send).
pub fn header(session: &[(String, String)], configured: &[(String, Secret)]) -> Option<String> {
    let session = session
        .iter()
        .filter(|(name, _)| !configured.iter().any(|(n, _)| n == name))
        .map(|(name, value)| (name.as_str(), value.as_str()));
    let configured = configured
        .iter()
        .map(|(name, value)| (name.as_str(), value.expose()));
    let pairs: Vec<String> = session
        .chain(configured)
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    (!pairs.is_empty()).then(|| pairs.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    /// RFC 6265's selection through the jar, one row per rule: what a login answer from
    /// `from` set, and whether the upgrade to `to` carries it.
    #[test]
    fn cookies_are_chosen_for_the_websocket_url() {
        #[rustfmt::skip]
        let rows: &[(&str, &str, &str, bool)] = &[
            // (Set-Cookie, answered by, upgrade to, sent?)
            ("sid=1; Path=/; HttpOnly", "https://app.example.com/login", "wss://app.example.com/ws", true),
            ("sid=1; HttpOnly", "http://127.0.0.1:8000/accounts/login/", "ws://127.0.0.1:9000/ws/", false),
            ("sid=1; Path=/; HttpOnly", "http://127.0.0.1:8000/accounts/login/", "ws://127.0.0.1:9000/ws/", true),
            ("sid=1; Path=/api", "https://app.example.com/login", "wss://app.example.com/ws", false),
            ("sid=1; Path=/ws", "https://app.example.com/login", "wss://app.example.com/ws/chat", true),
            ("sid=1; Path=/ws", "https://app.example.com/login", "wss://app.example.com/wsx", false),
            ("sid=1; Path=/", "https://app.example.com/login", "wss://chat.example.com/ws", false),
            ("sid=1; Path=/; Domain=example.com", "https://app.example.com/login", "wss://chat.example.com/ws", true),
            ("sid=1; Path=/; Domain=other.com", "https://app.example.com/login", "wss://app.example.com/ws", false),
            ("sid=1; Path=/; Secure", "https://app.example.com/login", "wss://app.example.com/ws", true),
            ("sid=1; Path=/; Secure", "https://app.example.com/login", "ws://app.example.com/ws", false),
            ("sid=1; Path=/; Max-Age=0", "https://app.example.com/login", "wss://app.example.com/ws", false),
            ("sid=1; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT", "https://app.example.com/login", "wss://app.example.com/ws", false),
        ];
        for (set_cookie, from, to, sent) in rows {
            let jar = Jar::default();
            jar.add_cookie_str(set_cookie, &url(from));
            let chosen = for_url(&jar, &url(to));
            assert_eq!(
                chosen == [("sid".to_owned(), "1".to_owned())],
                *sent,
                "{set_cookie} from {from} to {to}: {chosen:?}"
            );
        }
    }

    #[test]
    fn the_websocket_schemes_map_to_http_ones() {
        let rows = [
            ("ws://h:9000/ws?token=x", "http://h:9000/ws?token=x"),
            ("wss://h/ws", "https://h/ws"),
            ("wss://h:443/ws", "https://h/ws"),
            ("https://h/a", "https://h/a"),
        ];
        for (ws, http) in rows {
            assert_eq!(http_equivalent(&url(ws)).as_str(), http, "{ws}");
        }
    }

    #[test]
    fn the_login_sets_the_session_cookie_and_the_csrf_cookie_is_none() {
        let pair = |n: &str, v: &str| (n.to_owned(), v.to_owned());
        let before = vec![pair("csrftoken", "a"), pair("JSESSIONID", "anon")];
        let after = vec![
            pair("csrftoken", "b"),
            pair("JSESSIONID", "user"),
            pair("sessionid", "s"),
            pair("locale", "en"),
        ];
        let before_with_locale = [before.clone(), vec![pair("locale", "en")]].concat();
        assert_eq!(
            set_by_login(&before_with_locale, &after, Some("csrftoken")),
            ["JSESSIONID", "sessionid"]
        );
        assert_eq!(
            set_by_login(&after, &after, Some("csrftoken")),
            Vec::<String>::new()
        );
        assert_eq!(set_by_login(&before, &before, None), Vec::<String>::new());
    }

    #[test]
    fn one_cookie_header_configured_cookies_winning() {
        let session = vec![
            ("sessionid".to_owned(), "s3ss".to_owned()),
            ("locale".to_owned(), "de".to_owned()),
        ];
        let configured = vec![("locale".to_owned(), Secret::new("en"))];
        assert_eq!(
            header(&session, &configured).as_deref(),
            Some("sessionid=s3ss; locale=en")
        );
        assert_eq!(header(&[], &[]), None);
        assert_eq!(
            parse_header("a=1; b=x=y;  c"),
            [
                ("a".to_owned(), "1".to_owned()),
                ("b".to_owned(), "x=y".to_owned()),
                (String::new(), "c".to_owned()),
            ]
        );
    }
}

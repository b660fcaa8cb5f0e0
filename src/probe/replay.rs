//! The shell command that repeats a probe's request by hand: `websocat` for the WebSocket, or
//! `curl` for the token endpoint when that is where the probe failed. Every secret is a
//! `$VARIABLE`: the variable the config took it from (`${STAGING_KEY}` → `$STAGING_KEY`), the
//! token as `$TOKEN`, any other credential under a name made from its key. Values never appear.
//! Pure: the environment and the config's variables in, text out.

use super::redact::is_credential_header;
use crate::config::{Auth, Environment, RequestBody, Secret, SessionAuth};

/// Part of a shell word: literal text (quoted) or a variable (expanded).
enum Part {
    Text(String),
    Var(String),
}

/// `"…"` with the literal parts escaped for double quotes and the variables left to expand.
fn quote(parts: &[Part]) -> String {
    let mut out = String::from('"');
    for part in parts {
        match part {
            Part::Text(text) => {
                for c in text.chars() {
                    if matches!(c, '"' | '\\' | '$' | '`') {
                        out.push('\\');
                    }
                    out.push(c);
                }
            }
            Part::Var(name) => {
                out.push_str("${");
                out.push_str(name);
                out.push('}');
            }
        }
    }
    out.push('"');
    out
}

/// `text` with every secret value, and the token templates, as variables. `variables` are
/// (name, value) pairs, longest value first so that a value inside another is not split.
fn parts(text: &str, variables: &[(String, String)]) -> Vec<Part> {
    parts_with_token(text, variables, "TOKEN")
}

fn parts_with_token(text: &str, variables: &[(String, String)], token: &str) -> Vec<Part> {
    let mut out = Vec::new();
    let mut literal = String::new();
    let mut rest = text;
    'scan: while !rest.is_empty() {
        for (template, var) in [("{token_base64url}", "TOKEN_BASE64URL"), ("{token}", token)] {
            if let Some(after) = rest.strip_prefix(template) {
                out.push(Part::Text(std::mem::take(&mut literal)));
                out.push(Part::Var(var.to_owned()));
                rest = after;
                continue 'scan;
            }
        }
        for (name, value) in variables {
            if !value.is_empty()
                && let Some(after) = rest.strip_prefix(value.as_str())
            {
                out.push(Part::Text(std::mem::take(&mut literal)));
                out.push(Part::Var(name.clone()));
                rest = after;
                continue 'scan;
            }
        }
        let c = rest.chars().next().expect("not empty");
        literal.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out.push(Part::Text(literal));
    out.retain(|p| !matches!(p, Part::Text(t) if t.is_empty()));
    out
}

/// `X-Api-Key` → `X_API_KEY`: a variable name for a credential that came from no variable.
fn variable_name(key: &str) -> String {
    let name: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    let name = name.trim_matches('_').to_owned();
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        format!("SECRET_{name}")
    } else {
        name
    }
}

/// A credential's value: its variable where it came from one, else one variable for it all.
fn secret_parts(value: &str, key: &str, variables: &[(String, String)]) -> Vec<Part> {
    let parts = parts(value, variables);
    let literal_left = parts
        .iter()
        .any(|p| matches!(p, Part::Text(t) if t.trim().len() >= 4));
    let has_var = parts.iter().any(|p| matches!(p, Part::Var(_)));
    if literal_left && !has_var {
        // `Bearer abc123` written in the file: keep the scheme, hide the rest.
        if let Some((scheme, _)) = value.split_once(' ')
            && scheme.eq_ignore_ascii_case("bearer")
        {
            return vec![
                Part::Text(format!("{scheme} ")),
                Part::Var(variable_name(key)),
            ];
        }
        return vec![Part::Var(variable_name(key))];
    }
    parts
}

/// A URL with its query values as variables (they are secrets however they got there), and
/// its templates as the token's variable (`token` names it).
fn url_parts(url: &url::Url, variables: &[(String, String)], token: &str) -> Vec<Part> {
    let mut base = url.clone();
    base.set_query(None);
    base.set_fragment(None);
    let _ = base.set_password(None);
    // The URL parser percent-encodes a path's braces: the templates as written.
    let base = base
        .as_str()
        .replace("%7Btoken_base64url%7D", "{token_base64url}")
        .replace("%7Btoken%7D", "{token}");
    let mut out = parts_with_token(&base, variables, token);
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    for (i, (key, value)) in pairs.iter().enumerate() {
        out.push(Part::Text(format!(
            "{}{}=",
            if i == 0 { '?' } else { '&' },
            key
        )));
        let from_variable = parts_with_token(value, variables, token);
        if from_variable.iter().any(|p| matches!(p, Part::Var(_))) {
            out.extend(from_variable);
        } else if value.len() >= 8 {
            out.push(Part::Var(variable_name(key)));
        } else {
            out.push(Part::Text(value.clone()));
        }
    }
    out
}

/// The command for `env`; `at_token` when the run failed getting its credential (the token
/// endpoint, or the session's login).
pub fn command(env: &Environment, variables: &[(String, String)], at_token: bool) -> String {
    let mut variables: Vec<(String, String)> = variables.to_vec();
    variables.sort_by_key(|(_, value)| std::cmp::Reverse(value.len()));
    match (at_token, &env.auth) {
        (
            true,
            Auth::TokenEndpoint {
                url,
                method,
                headers,
                body,
                ..
            },
        ) => {
            let mut words = vec!["curl -sS -i".to_owned()];
            words.extend(request_words(
                method,
                headers,
                body.as_ref(),
                &variables,
                "",
            ));
            words.push(quote(&url_parts(url, &variables, "TOKEN")));
            words.join(" ")
        }
        (true, Auth::Session(session)) => login_command(session, &variables),
        _ => websocat_command(env, &variables),
    }
}

/// curl's words for a request's method, headers and body; a form value from no variable
/// becomes one named `{prefix}{FIELD}` (a login's `user` is `$LOGIN_USER`, not the shell's
/// `$USER`).
fn request_words(
    method: &reqwest::Method,
    headers: &[(String, Secret)],
    body: Option<&RequestBody>,
    variables: &[(String, String)],
    prefix: &str,
) -> Vec<String> {
    let mut words = Vec::new();
    if method != reqwest::Method::GET {
        words.push(format!("-X {method}"));
    }
    for (name, value) in headers {
        let mut header = vec![Part::Text(format!("{name}: "))];
        header.extend(secret_parts(value.expose(), name, variables));
        words.push(format!("-H {}", quote(&header)));
    }
    match body {
        Some(RequestBody::Json(body)) => {
            words.push("-H \"Content-Type: application/json\"".to_owned());
            words.push(format!("--data {}", quote(&json_parts(body, variables))));
        }
        Some(RequestBody::Form(fields)) => {
            for (name, value) in fields {
                let mut field = vec![Part::Text(format!("{name}="))];
                let key = format!("{prefix}{name}");
                field.extend(secret_value_parts(value.expose(), &key, variables));
                words.push(format!("--data-urlencode {}", quote(&field)));
            }
        }
        None => {}
    }
    words
}

/// A value that is a secret whatever it looks like: its variable, or one named after its key.
fn secret_value_parts(value: &str, key: &str, variables: &[(String, String)]) -> Vec<Part> {
    let parts = parts(value, variables);
    if parts.iter().any(|p| matches!(p, Part::Var(_))) {
        parts
    } else {
        vec![Part::Var(variable_name(key))]
    }
}

/// The session's login by hand: the CSRF page first into a cookie file (curl's Netscape format:
/// the name in the 6th field, the value in the 7th), then the login with those cookies and the
/// token in its field and header, as the probe sends them.
fn login_command(session: &SessionAuth, variables: &[(String, String)]) -> String {
    let login = &session.login;
    let jar = "/tmp/wsprobe-cookies.txt";
    let page = session.csrf.as_ref().map_or(&login.url, |csrf| &csrf.url);
    let mut words = vec![format!("curl -sS -i -c {jar} -b {jar}")];
    words.push(format!(
        "-H {}",
        quote(&[Part::Text(format!("Referer: {page}"))])
    ));
    words.push(format!(
        "-H {}",
        quote(&[Part::Text(format!(
            "Origin: {}",
            page.origin().ascii_serialization()
        ))])
    ));
    let mut first = String::new();
    if let Some(csrf) = &session.csrf {
        first = format!(
            "curl -sS -o /dev/null -c {jar} {} && ",
            quote(&url_parts(&csrf.url, variables, "TOKEN"))
        );
        // Quotes inside `$(…)` start afresh, even within the double-quoted word around it.
        let token = format!("$(awk '$6 == \"{}\" {{ print $7 }}' {jar})", csrf.cookie);
        if let Some(field) = &csrf.field {
            words.push(format!("--data-urlencode \"{field}={token}\""));
        }
        if let Some(header) = &csrf.header {
            words.push(format!("-H \"{header}: {token}\""));
        }
    }
    words.extend(request_words(
        &login.method,
        &login.headers,
        login.body.as_ref(),
        variables,
        "login_",
    ));
    words.push(quote(&url_parts(&login.url, variables, "TOKEN")));
    format!("{first}{}", words.join(" "))
}

/// websocat with the upgrade's headers: the configured ones, `Origin`, the cookies (the
/// session's as `$SESSION_COOKIES`, set from a login by hand) and the synthetic baggage.
fn websocat_command(env: &Environment, variables: &[(String, String)]) -> String {
    // A bearer token from a variable is that variable; any other token (minted, fetched, or
    // written in the file) is $TOKEN for the user to set.
    let token = match &env.auth {
        Auth::Bearer { token } => variables
            .iter()
            .find(|(_, value)| value == token.expose())
            .map_or("TOKEN", |(name, _)| name.as_str()),
        _ => "TOKEN",
    };
    let mut words = vec!["websocat".to_owned()];
    if env.tls.insecure_skip_verify {
        words.push("--insecure".to_owned());
    }
    let mut headers = env.headers.clone();
    if env.synthetic_baggage {
        super::trace::add_synthetic_baggage(&mut headers);
    }
    for (name, value) in &headers {
        let mut header = vec![Part::Text(format!("{name}: "))];
        if is_credential_header(name) && !value.contains("{token") {
            header.extend(secret_parts(value, name, variables));
        } else {
            header.extend(parts_with_token(value, variables, token));
        }
        words.push(format!("-H {}", quote(&header)));
    }
    if let Some(origin) = &env.origin {
        let origin = format!("Origin: {origin}");
        words.push(format!("-H {}", quote(&[Part::Text(origin)])));
    }
    if let Some(cookie) = cookie_parts(env, variables) {
        words.push(format!("-H {}", quote(&cookie)));
    }
    if !env.subprotocols.is_empty() {
        let offered = env.subprotocols.join(", ");
        words.push(format!("--protocol {}", quote(&parts(&offered, variables))));
    }
    let mut url = url_parts(&env.url, variables, token);
    // A preset's own query (Socket.IO's EIO=4) goes too, as written: it is no secret.
    url.extend(super::presets::added_query(env).map(Part::Text));
    words.push(quote(&url));
    words.join(" ")
}

/// `Cookie: ${SESSION_COOKIES}; locale=${LOCALE}`: the session's cookies and the configured
/// ones, every value a variable.
fn cookie_parts(env: &Environment, variables: &[(String, String)]) -> Option<Vec<Part>> {
    let mut out = vec![Part::Text("Cookie: ".to_owned())];
    if matches!(env.auth, Auth::Session(_)) {
        out.push(Part::Var("SESSION_COOKIES".to_owned()));
    }
    for (name, value) in &env.cookies {
        if out.len() > 1 {
            out.push(Part::Text("; ".to_owned()));
        }
        out.push(Part::Text(format!("{name}=")));
        out.extend(secret_value_parts(value.expose(), name, variables));
    }
    (out.len() > 1).then_some(out)
}

/// A token request body as JSON text, each string value that came from a variable (or any
/// string at all, since the body's strings are credentials) as a variable.
fn json_parts(body: &serde_json::Value, variables: &[(String, String)]) -> Vec<Part> {
    fn walk(
        value: &serde_json::Value,
        key: &str,
        variables: &[(String, String)],
        out: &mut Vec<Part>,
    ) {
        match value {
            serde_json::Value::String(text) => {
                out.push(Part::Text("\"".into()));
                let parts = parts(text, variables);
                if parts.iter().any(|p| matches!(p, Part::Var(_))) {
                    out.extend(parts);
                } else {
                    out.push(Part::Var(variable_name(key)));
                }
                out.push(Part::Text("\"".into()));
            }
            serde_json::Value::Object(map) => {
                out.push(Part::Text("{".into()));
                for (i, (k, v)) in map.iter().enumerate() {
                    if i > 0 {
                        out.push(Part::Text(",".into()));
                    }
                    out.push(Part::Text(format!(
                        "{}:",
                        serde_json::Value::String(k.clone())
                    )));
                    walk(v, k, variables, out);
                }
                out.push(Part::Text("}".into()));
            }
            serde_json::Value::Array(items) => {
                out.push(Part::Text("[".into()));
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(Part::Text(",".into()));
                    }
                    walk(v, key, variables, out);
                }
                out.push(Part::Text("]".into()));
            }
            other => out.push(Part::Text(other.to_string())),
        }
    }
    let mut out = Vec::new();
    walk(body, "body", variables, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(yaml: &str, vars: &[(&str, &str)]) -> (crate::config::Config, Vec<(String, String)>) {
        let owned: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let lookup = owned.clone();
        let config =
            crate::config::load_str(std::path::Path::new("probes.yaml"), yaml, &move |name| {
                lookup
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
            })
            .unwrap();
        let variables = config.variables.clone();
        (config, variables)
    }

    #[test]
    fn secrets_become_variables_and_never_appear() {
        let (config, variables) = env(
            "environments:\n  - name: a\n    url: wss://api.example.com/ws?tenant=acme&key=${WS_KEY}\n    auth: { kind: bearer, token: \"${API_TOKEN}\" }\n    headers: { Authorization: \"Bearer {token}\", X-Api-Key: \"s3cr3t-literal\", X-Trace: \"on $HOME\" }\n    subprotocols: [jwt-auth, \"jwt.{token_base64url}\"]\n",
            &[
                ("WS_KEY", "query-secret-123"),
                ("API_TOKEN", "tok-very-secret"),
            ],
        );
        let command = command(&config.environments[0], &variables, false);
        assert_eq!(
            command,
            "websocat -H \"Authorization: Bearer ${API_TOKEN}\" -H \"X-Api-Key: ${X_API_KEY}\" -H \"X-Trace: on \\$HOME\" -H \"baggage: synthetic_request=true\" --protocol \"jwt-auth, jwt.${TOKEN_BASE64URL}\" \"wss://api.example.com/ws?tenant=acme&key=${WS_KEY}\""
        );
        for secret in ["query-secret-123", "tok-very-secret", "s3cr3t-literal"] {
            assert!(!command.contains(secret), "{command}");
        }
    }

    /// A real shell expands the command into exactly what the probe sends.
    #[test]
    fn bash_expands_the_replay_into_the_probes_request() {
        let (config, variables) = env(
            "environments:\n  - name: a\n    url: ws://lab:8765/ws/healthy?key=${WS_KEY}\n    auth: { kind: bearer, token: \"${API_TOKEN}\" }\n    headers: { Authorization: \"Bearer {token}\", X-Odd: \"a \\\"quoted\\\" `tick` $HOME\" }\n",
            &[
                ("WS_KEY", "query-secret-123"),
                ("API_TOKEN", "tok 'very' $ecret"),
            ],
        );
        let command = command(&config.environments[0], &variables, false);
        let script = format!("websocat() {{ printf '%s\\n' \"$@\"; }}; {command}");
        let out = std::process::Command::new("bash")
            .args(["-c", &script])
            .env("WS_KEY", "query-secret-123")
            .env("API_TOKEN", "tok 'very' $ecret")
            .env("HOME", "/nowhere")
            .output()
            .expect("bash runs");
        let args = String::from_utf8(out.stdout).unwrap();
        assert_eq!(
            args.lines().collect::<Vec<_>>(),
            [
                "-H",
                "Authorization: Bearer tok 'very' $ecret",
                "-H",
                "X-Odd: a \"quoted\" `tick` $HOME",
                "-H",
                "baggage: synthetic_request=true",
                "ws://lab:8765/ws/healthy?key=query-secret-123",
            ],
            "{command}"
        );
    }

    #[test]
    fn a_token_endpoint_failure_replays_as_curl() {
        let (config, variables) = env(
            "environments:\n  - name: a\n    url: ws://lab/ws\n    auth:\n      kind: token_endpoint\n      url: https://auth.example.com/token\n      method: POST\n      headers: { X-E2E-Bypass-Key: \"${E2E_KEY}\" }\n      body: { client: probes, secret: literal-in-file }\n",
            &[("E2E_KEY", "bypass-key-value")],
        );
        let command = command(&config.environments[0], &variables, true);
        assert_eq!(
            command,
            "curl -sS -i -X POST -H \"X-E2E-Bypass-Key: ${E2E_KEY}\" -H \"Content-Type: application/json\" --data \"{\\\"client\\\":\\\"${CLIENT}\\\",\\\"secret\\\":\\\"${SECRET}\\\"}\" \"https://auth.example.com/token\""
        );
        assert!(!command.contains("bypass-key-value") && !command.contains("literal-in-file"));
    }
}

#[cfg(test)]
mod dialect_tests {
    use super::*;

    fn load(yaml: &str, vars: &[(&str, &str)]) -> (crate::config::Config, Vec<(String, String)>) {
        let owned: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let lookup = owned.clone();
        let config =
            crate::config::load_str(std::path::Path::new("probes.yaml"), yaml, &move |name| {
                lookup
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
            })
            .unwrap();
        let variables = config.variables.clone();
        (config, variables)
    }

    const SESSION: &str = "environments:\n  - name: a\n    url: \"wss://app.example.com/ws/{token}x?room=1\"\n    auth: { kind: token_endpoint, url: \"https://auth.example.com/token\", form: { grant_type: client_credentials, client_secret: \"${SECRET}\" } }\n  - name: b\n    url: wss://app.example.com/cable\n    origin: https://app.example.com\n    cookies: { locale: en }\n    auth:\n      kind: session\n      login: { url: \"https://app.example.com/login\", form: { user: probe, password: \"${PW}\" } }\n      csrf: { url: \"https://app.example.com/login\", cookie: csrftoken, field: csrfmiddlewaretoken, header: X-CSRFToken }\n";

    #[test]
    fn form_bodies_sessions_and_url_templates_replay_without_secrets() {
        let (config, variables) = load(
            SESSION,
            &[("SECRET", "client-secret-1"), ("PW", "pass-word-2")],
        );
        let form = command(&config.environments[0], &variables, true);
        assert_eq!(
            form,
            "curl -sS -i -X POST --data-urlencode \"grant_type=${GRANT_TYPE}\" --data-urlencode \"client_secret=${SECRET}\" \"https://auth.example.com/token\""
        );
        let socket = command(&config.environments[0], &variables, false);
        assert_eq!(
            socket,
            "websocat -H \"baggage: synthetic_request=true\" \"wss://app.example.com/ws/${TOKEN}x?room=1\""
        );
        let login = command(&config.environments[1], &variables, true);
        assert_eq!(
            login,
            "curl -sS -o /dev/null -c /tmp/wsprobe-cookies.txt \"https://app.example.com/login\" && curl -sS -i -c /tmp/wsprobe-cookies.txt -b /tmp/wsprobe-cookies.txt -H \"Referer: https://app.example.com/login\" -H \"Origin: https://app.example.com\" --data-urlencode \"csrfmiddlewaretoken=$(awk '$6 == \"csrftoken\" { print $7 }' /tmp/wsprobe-cookies.txt)\" -H \"X-CSRFToken: $(awk '$6 == \"csrftoken\" { print $7 }' /tmp/wsprobe-cookies.txt)\" -X POST --data-urlencode \"user=${LOGIN_USER}\" --data-urlencode \"password=${PW}\" \"https://app.example.com/login\""
        );
        let upgrade = command(&config.environments[1], &variables, false);
        assert_eq!(
            upgrade,
            "websocat -H \"baggage: synthetic_request=true\" -H \"Origin: https://app.example.com\" -H \"Cookie: ${SESSION_COOKIES}; locale=${LOCALE}\" \"wss://app.example.com/cable\""
        );
        for text in [&form, &socket, &login, &upgrade] {
            assert!(
                !text.contains("client-secret-1") && !text.contains("pass-word-2"),
                "{text}"
            );
        }
    }
}

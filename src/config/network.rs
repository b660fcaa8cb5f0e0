//! Where an environment's connections go: the egress proxy (its `proxy` key, or the standard
//! `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY`/`NO_PROXY` variables as curl reads them), the address
//! family and the pinned addresses (`resolve`). Parsed once at load; pure, so the probe and the
//! HTTP client ask the same questions (`proxy_for`, `pinned`) and get the same answers.

use std::net::IpAddr;
use std::sync::Arc;

use url::Url;

use super::model::Secret;

/// An environment's `proxy`, `ip_family` and `resolve`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct NetworkOptions {
    pub proxy: ProxySetting,
    pub ip_family: IpFamily,
    /// `resolve:` pins, in file order.
    pub resolve: Vec<AddressPin>,
}

impl NetworkOptions {
    /// The proxy a connection to `url` goes through, if any.
    pub fn proxy_for(&self, url: &Url) -> Option<&Arc<Proxy>> {
        match &self.proxy {
            ProxySetting::Direct => None,
            ProxySetting::Fixed(proxy) => Some(proxy),
            ProxySetting::Variables(variables) => variables.for_url(url),
        }
    }

    /// The address `resolve:` pins `host:port` to (host compared without case).
    pub fn pinned(&self, host: &str, port: u16) -> Option<IpAddr> {
        self.resolve
            .iter()
            .find(|pin| pin.port == port && pin.host.eq_ignore_ascii_case(host))
            .map(|pin| pin.address)
    }
}

/// Which addresses of a name are tried, and in what order (RFC 8305 §4).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum IpFamily {
    /// Every address, the families interleaved (Happy Eyeballs v2).
    #[default]
    Any,
    Ipv4,
    Ipv6,
    /// Every address, all IPv4 ones first.
    PreferIpv4,
    /// Every address, all IPv6 ones first.
    PreferIpv6,
}

impl IpFamily {
    pub const NAMES: [&str; 5] = ["any", "ipv4", "ipv6", "prefer_ipv4", "prefer_ipv6"];

    pub fn parse(text: &str) -> Option<IpFamily> {
        Some(match text.trim() {
            "any" => IpFamily::Any,
            "ipv4" => IpFamily::Ipv4,
            "ipv6" => IpFamily::Ipv6,
            "prefer_ipv4" => IpFamily::PreferIpv4,
            "prefer_ipv6" => IpFamily::PreferIpv6,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            IpFamily::Any => "any",
            IpFamily::Ipv4 => "ipv4",
            IpFamily::Ipv6 => "ipv6",
            IpFamily::PreferIpv4 => "prefer_ipv4",
            IpFamily::PreferIpv6 => "prefer_ipv6",
        }
    }
}

/// `"host:port": address`, as curl's `--resolve` writes it: the connection goes to `address`,
/// while the Host header and the TLS server name stay `host`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AddressPin {
    pub host: String,
    pub port: u16,
    pub address: IpAddr,
}

impl AddressPin {
    /// `host:port` (a bracketed IPv6 literal as host is allowed) and an IP address.
    pub fn parse(key: &str, address: &str) -> Result<AddressPin, String> {
        let (host, port) = key
            .trim()
            .rsplit_once(':')
            .filter(|(host, _)| !host.is_empty())
            .ok_or_else(|| format!("{key:?} is not host:port (like chat.example.com:443)"))?;
        let port = port
            .parse::<u16>()
            .ok()
            .filter(|port| *port > 0)
            .ok_or_else(|| format!("{port:?} in {key:?} is not a port (1 to 65535)"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let address = address.trim().trim_start_matches('[').trim_end_matches(']');
        let address = address.parse::<IpAddr>().map_err(|_| {
            format!("{address:?} is not an IP address (like 203.0.113.10 or 2001:db8::10)")
        })?;
        Ok(AddressPin {
            host: host.to_ascii_lowercase(),
            port,
            address,
        })
    }
}

/// How an environment chooses its proxy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub enum ProxySetting {
    /// `proxy: none`: straight to the target, whatever the variables say.
    #[default]
    Direct,
    /// `proxy: "http://…"`: every connection of the environment goes through it.
    Fixed(Arc<Proxy>),
    /// No `proxy` key: the standard variables decide, per URL.
    Variables(Arc<ProxyVariables>),
}

/// The word that turns the variables off for an environment.
pub const NO_PROXY_WORD: &str = "none";

/// An HTTP proxy reached with CONNECT (RFC 9110 §9.3.6).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Proxy {
    pub host: String,
    pub port: u16,
    /// From the URL's user info, decoded; sent as `Proxy-Authorization: Basic` (RFC 7617).
    pub credentials: Option<ProxyCredentials>,
    /// Where it was configured (`environments[0].proxy`, `HTTPS_PROXY`), for messages.
    pub source: String,
}

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ProxyCredentials {
    pub user: Secret,
    pub password: Secret,
}

/// The address only: a proxy's credentials never reach a log line.
impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Proxy({} from {}", self.authority(), self.source)?;
        if self.credentials.is_some() {
            f.write_str(", with credentials")?;
        }
        f.write_str(")")
    }
}

/// The proxy's port when its URL names none: what the URL scheme says (RFC 9110 §4.2.1).
const DEFAULT_PROXY_PORT: u16 = 80;

impl Proxy {
    /// `http://[user:password@]host[:port][/]`; a value without a scheme is taken as `http://`,
    /// as curl and the proxy variables' other readers take it.
    pub fn parse(text: &str, source: &str) -> Result<Proxy, String> {
        let text = text.trim();
        let with_scheme = if text.contains("://") {
            text.to_owned()
        } else {
            format!("http://{text}")
        };
        let url = Url::parse(&with_scheme).map_err(|err| format!("not a proxy URL: {err}"))?;
        match url.scheme() {
            "http" => {}
            "https" => return Err("an https:// proxy (TLS to the proxy itself) is not supported: use the proxy's http:// address; the tunnel to a wss:// target is still TLS end to end".to_owned()),
            other => return Err(format!("{other}:// proxies are not supported: wsprobe speaks HTTP CONNECT, so use an http:// proxy URL")),
        }
        let host = url
            .host_str()
            .filter(|host| !host.is_empty())
            .ok_or("a proxy URL needs a host (http://proxy.corp:3128)")?;
        if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
            return Err(
                "a proxy URL is http://[user:password@]host:port, with no path or query".to_owned(),
            );
        }
        let decode = |part: &str| {
            percent_encoding::percent_decode_str(part)
                .decode_utf8_lossy()
                .into_owned()
        };
        let credentials = (!url.username().is_empty()).then(|| ProxyCredentials {
            user: Secret::new(decode(url.username())),
            password: Secret::new(url.password().map(decode).unwrap_or_default()),
        });
        Ok(Proxy {
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_ascii_lowercase(),
            port: url.port().unwrap_or(DEFAULT_PROXY_PORT),
            credentials,
            source: source.to_owned(),
        })
    }

    /// `host:port`, an IPv6 literal bracketed.
    pub fn authority(&self) -> String {
        authority(&self.host, self.port)
    }

    /// The `Proxy-Authorization` value (RFC 7617 Basic), when the URL carried credentials.
    pub fn authorization(&self) -> Option<Secret> {
        use base64::Engine as _;
        let credentials = self.credentials.as_ref()?;
        let pair = format!(
            "{}:{}",
            credentials.user.expose(),
            credentials.password.expose()
        );
        Some(Secret::new(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )))
    }

    /// The proxy as an HTTP client takes it, credentials in the user info (percent-encoded).
    pub fn url(&self) -> Url {
        let mut url = Url::parse(&format!("http://{}", self.authority()))
            .expect("a parsed proxy's address is a URL");
        if let Some(credentials) = &self.credentials {
            let _ = url.set_username(credentials.user.expose());
            let _ = url.set_password(Some(credentials.password.expose()));
        }
        url
    }

    /// What must never appear in a text: the user, the password and the header made of them.
    pub fn secrets(&self) -> Vec<String> {
        let Some(credentials) = &self.credentials else {
            return Vec::new();
        };
        let mut secrets = vec![
            credentials.user.expose().to_owned(),
            credentials.password.expose().to_owned(),
        ];
        if let Some(header) = self.authorization() {
            secrets.push(header.expose().trim_start_matches("Basic ").to_owned());
        }
        secrets.retain(|s| !s.is_empty());
        secrets
    }
}

/// `host:port`, an IPv6 literal bracketed (RFC 3986 §3.2.2).
pub fn authority(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The standard proxy variables, read once at load.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ProxyVariables {
    /// `https_proxy`/`HTTPS_PROXY`: for `wss://` and `https://`.
    pub https: Option<Arc<Proxy>>,
    /// `http_proxy`/`HTTP_PROXY`: for `ws://` and `http://`.
    pub http: Option<Arc<Proxy>>,
    /// `all_proxy`/`ALL_PROXY`: for either, when its own is not set.
    pub all: Option<Arc<Proxy>>,
    pub no_proxy: NoProxy,
}

/// A variable that holds an unusable proxy: its name and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariableError {
    pub variable: String,
    pub message: String,
}

impl ProxyVariables {
    /// The variables as curl reads them: the lowercase spelling first, then the uppercase one;
    /// an empty value is unset.
    pub fn read(lookup: &dyn Fn(&str) -> Option<String>) -> Result<ProxyVariables, VariableError> {
        let get = |name: &str| {
            [name.to_ascii_lowercase(), name.to_owned()]
                .into_iter()
                .find_map(|spelling| {
                    lookup(&spelling)
                        .filter(|value| !value.trim().is_empty())
                        .map(|value| (spelling, value))
                })
        };
        let proxy = |name: &str| -> Result<Option<Arc<Proxy>>, VariableError> {
            get(name)
                .map(|(variable, value)| {
                    Proxy::parse(&value, &variable)
                        .map(Arc::new)
                        .map_err(|message| VariableError { variable, message })
                })
                .transpose()
        };
        Ok(ProxyVariables {
            https: proxy("HTTPS_PROXY")?,
            http: proxy("HTTP_PROXY")?,
            all: proxy("ALL_PROXY")?,
            no_proxy: get("NO_PROXY")
                .map(|(_, value)| NoProxy::parse(&value))
                .unwrap_or_default(),
        })
    }

    /// The proxy for `url`: its scheme's variable, else `ALL_PROXY`, unless `NO_PROXY`
    /// names its host.
    pub fn for_url(&self, url: &Url) -> Option<&Arc<Proxy>> {
        let own = match url.scheme() {
            "wss" | "https" => self.https.as_ref(),
            _ => self.http.as_ref(),
        };
        let proxy = own.or(self.all.as_ref())?;
        let host = url.host_str()?;
        (!self.no_proxy.matches(host)).then_some(proxy)
    }

    pub fn proxies(&self) -> impl Iterator<Item = &Arc<Proxy>> {
        [&self.https, &self.http, &self.all].into_iter().flatten()
    }
}

/// `NO_PROXY` as curl reads it: comma- (or space-) separated; `*` alone matches every host; a
/// name matches itself and every name under it (a leading dot changes nothing); an IP address
/// matches itself and a CIDR block every address in it. Ports in an entry are ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct NoProxy {
    entries: Vec<NoProxyEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum NoProxyEntry {
    Everything,
    Name(String),
    Block(IpAddr, u8),
}

impl NoProxy {
    pub fn parse(text: &str) -> NoProxy {
        let entries = text
            .split([',', ' ', '\t'])
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(NoProxyEntry::parse)
            .collect();
        NoProxy { entries }
    }

    pub fn matches(&self, host: &str) -> bool {
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .trim_end_matches('.')
            .to_ascii_lowercase();
        let ip = host.parse::<IpAddr>().ok();
        self.entries.iter().any(|entry| match (entry, ip) {
            (NoProxyEntry::Everything, _) => true,
            (NoProxyEntry::Block(block, bits), Some(ip)) => in_block(ip, *block, *bits),
            (NoProxyEntry::Name(name), None) => {
                host == *name
                    || host
                        .strip_suffix(name.as_str())
                        .is_some_and(|rest| rest.ends_with('.'))
            }
            _ => false,
        })
    }
}

impl NoProxyEntry {
    fn parse(entry: &str) -> NoProxyEntry {
        if entry == "*" {
            return NoProxyEntry::Everything;
        }
        if let Some((address, bits)) = entry.split_once('/')
            && let (Ok(address), Ok(bits)) = (bare(address).parse::<IpAddr>(), bits.parse::<u8>())
        {
            let max = if address.is_ipv4() { 32 } else { 128 };
            return NoProxyEntry::Block(address, bits.min(max));
        }
        if let Ok(address) = bare(entry).parse::<IpAddr>() {
            let bits = if address.is_ipv4() { 32 } else { 128 };
            return NoProxyEntry::Block(address, bits);
        }
        // `[::1]:8080` was handled above as far as it could be; `host:port` loses its port.
        let name = match entry.rsplit_once(':') {
            Some((name, port)) if port.parse::<u16>().is_ok() => name,
            _ => entry,
        };
        let name = name.trim_start_matches('.').trim_end_matches('.');
        match bare(name).parse::<IpAddr>() {
            Ok(address) => NoProxyEntry::Block(address, if address.is_ipv4() { 32 } else { 128 }),
            Err(_) => NoProxyEntry::Name(name.to_ascii_lowercase()),
        }
    }
}

fn bare(text: &str) -> &str {
    text.trim_start_matches('[').trim_end_matches(']')
}

fn in_block(ip: IpAddr, block: IpAddr, bits: u8) -> bool {
    match (ip, block) {
        (IpAddr::V4(ip), IpAddr::V4(block)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(block) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(block)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(block) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_proxy_matches_as_curl_does() {
        #[rustfmt::skip]
        let cases: &[(&str, &str, bool)] = &[
            // (NO_PROXY, host, bypasses the proxy)
            ("*", "chat.example.com", true),
            ("example.com", "example.com", true),
            ("example.com", "chat.example.com", true),
            ("example.com", "CHAT.Example.COM", true),
            ("example.com", "chat.example.com.", true),
            ("example.com", "notexample.com", false),
            ("example.com", "example.com.evil.net", false),
            (".example.com", "chat.example.com", true),
            (".example.com", "example.com", true),
            ("example.com:8443", "chat.example.com", true),
            ("localhost, 127.0.0.1", "127.0.0.1", true),
            ("localhost,127.0.0.1", "127.0.0.2", false),
            ("10.0.0.0/8", "10.20.30.40", true),
            ("10.0.0.0/8", "11.0.0.1", false),
            ("192.168.1.0/24", "192.168.1.255", true),
            ("192.168.1.0/24", "192.168.2.1", false),
            ("0.0.0.0/0", "203.0.113.9", true),
            ("::1", "[::1]", true),
            ("[::1]", "::1", true),
            ("2001:db8::/32", "2001:db8:1::5", true),
            ("2001:db8::/32", "2001:db9::5", false),
            ("10.0.0.0/8", "chat.example.com", false),
            ("example.com", "10.0.0.1", false),
            ("a.com b.com", "x.b.com", true),
            ("", "example.com", false),
            ("*.example.com", "chat.example.com", false),
        ];
        for (list, host, expected) in cases {
            assert_eq!(
                NoProxy::parse(list).matches(host),
                *expected,
                "NO_PROXY={list:?} host={host:?}"
            );
        }
    }

    fn lookup(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn variables_choose_by_scheme_then_all_then_no_proxy() {
        let variables = ProxyVariables::read(&lookup(&[
            ("HTTPS_PROXY", "http://secure.corp:3128"),
            ("https_proxy", "http://lower.corp:3128"),
            ("HTTP_PROXY", "plain.corp:8080"),
            ("ALL_PROXY", "http://all.corp:1080"),
            ("NO_PROXY", "internal.example.com,10.0.0.0/8"),
        ]))
        .unwrap();
        let via = |url: &str| {
            variables
                .for_url(&Url::parse(url).unwrap())
                .map(|p| p.authority())
        };
        assert_eq!(
            via("wss://chat.example.com/ws").as_deref(),
            Some("lower.corp:3128")
        );
        assert_eq!(
            via("https://chat.example.com/health").as_deref(),
            Some("lower.corp:3128")
        );
        assert_eq!(
            via("ws://chat.example.com/ws").as_deref(),
            Some("plain.corp:8080")
        );
        assert_eq!(via("wss://api.internal.example.com/ws"), None);
        assert_eq!(via("ws://10.1.2.3:8080/ws"), None);

        let only_all =
            ProxyVariables::read(&lookup(&[("ALL_PROXY", "http://all.corp:1080")])).unwrap();
        let url = Url::parse("wss://chat.example.com/ws").unwrap();
        assert_eq!(
            only_all.for_url(&url).map(|p| p.authority()).as_deref(),
            Some("all.corp:1080")
        );
        assert_eq!(
            ProxyVariables::read(&lookup(&[])).unwrap().for_url(&url),
            None
        );
    }

    #[test]
    fn a_bad_variable_is_named() {
        let err = ProxyVariables::read(&lookup(&[("HTTPS_PROXY", "socks5://proxy.corp:1080")]))
            .unwrap_err();
        assert_eq!(err.variable, "HTTPS_PROXY");
        assert!(
            err.message.contains("socks5:// proxies are not supported"),
            "{}",
            err.message
        );
    }

    #[test]
    fn proxy_urls() {
        let proxy = Proxy::parse("http://us%40er:p%3Ass@Proxy.Corp:3128/", "proxy").unwrap();
        assert_eq!(proxy.authority(), "proxy.corp:3128");
        let credentials = proxy.credentials.as_ref().unwrap();
        assert_eq!(credentials.user.expose(), "us@er");
        assert_eq!(credentials.password.expose(), "p:ss");
        // RFC 7617 §2: base64 of user-id ":" password.
        assert_eq!(
            proxy.authorization().unwrap().expose(),
            "Basic dXNAZXI6cDpzcw=="
        );
        assert!(!format!("{proxy:?}").contains("p:ss"));
        assert_eq!(
            proxy.url().as_str(),
            "http://us%40er:p%3Ass@proxy.corp:3128/"
        );
        assert_eq!(
            Proxy::parse("proxy.corp", "p").unwrap().authority(),
            "proxy.corp:80"
        );
        assert_eq!(
            Proxy::parse("http://[::1]:3128", "p").unwrap().authority(),
            "[::1]:3128"
        );
        for bad in [
            "https://proxy.corp:3128",
            "socks5h://proxy.corp:1080",
            "http://proxy.corp:3128/path",
            "http://",
            "http://proxy.corp:99999",
        ] {
            assert!(Proxy::parse(bad, "p").is_err(), "{bad}");
        }
    }

    #[test]
    fn pins() {
        let pin = AddressPin::parse("Chat.Example.com:443", "203.0.113.10").unwrap();
        assert_eq!((pin.host.as_str(), pin.port), ("chat.example.com", 443));
        let v6 = AddressPin::parse("[2001:db8::1]:8443", "[::1]").unwrap();
        assert_eq!(v6.host, "2001:db8::1");
        assert_eq!(v6.address, "::1".parse::<IpAddr>().unwrap());
        for (key, address) in [
            ("chat.example.com", "203.0.113.10"),
            ("chat.example.com:0", "203.0.113.10"),
            (":443", "203.0.113.10"),
            ("chat.example.com:443", "chat.internal"),
        ] {
            assert!(AddressPin::parse(key, address).is_err(), "{key} {address}");
        }
        let options = NetworkOptions {
            resolve: vec![pin],
            ..NetworkOptions::default()
        };
        assert!(options.pinned("CHAT.example.com", 443).is_some());
        assert!(options.pinned("chat.example.com", 8443).is_none());
    }
}

//! `GET /badge/{environment}.svg?kind=status|uptime|latency&window=24h|7d|30d`: a shields-style
//! badge for READMEs and runbooks. The SVG is built by pure code from the environment's status;
//! every text in it is escaped, and it is cacheable (`ETag`, `Cache-Control`), since image
//! proxies (GitHub's camo) fetch it for every view.

use std::fmt::Write as _;

use sha2::{Digest, Sha256};

use super::view::EnvironmentStatus;
use crate::probe::Status;

/// What a badge says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadgeKind {
    Status,
    Uptime,
    Latency,
}

impl BadgeKind {
    pub fn parse(text: Option<&str>) -> Result<BadgeKind, String> {
        match text.unwrap_or("status") {
            "status" => Ok(BadgeKind::Status),
            "uptime" => Ok(BadgeKind::Uptime),
            "latency" => Ok(BadgeKind::Latency),
            other => Err(format!(
                "kind {other:?}: a badge is kind=status, uptime or latency"
            )),
        }
    }
}

/// The window an uptime badge covers; latency is kept per hour for 24 h.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    Day,
    Week,
    Month,
}

impl Window {
    pub fn parse(text: Option<&str>) -> Result<Window, String> {
        match text.unwrap_or("24h") {
            "24h" => Ok(Window::Day),
            "7d" => Ok(Window::Week),
            "30d" => Ok(Window::Month),
            other => Err(format!(
                "window {other:?}: a badge's window is 24h, 7d or 30d"
            )),
        }
    }

    fn label(self) -> &'static str {
        match self {
            Window::Day => "24h",
            Window::Week => "7d",
            Window::Month => "30d",
        }
    }
}

/// Shields' own colours, so a wsprobe badge sits well beside others in a README.
const GREEN: &str = "#4c1";
const YELLOW: &str = "#dfb317";
const RED: &str = "#e05d44";
pub const GREY: &str = "#9f9f9f";

/// Whether a badge of `kind` can cover `window`: latency percentiles are kept for 24 h only.
pub fn available(kind: BadgeKind, window: Window) -> Result<(), String> {
    if kind == BadgeKind::Latency && window != Window::Day {
        return Err("latency percentiles are kept for 24h: use window=24h".to_owned());
    }
    Ok(())
}

/// The label and value a badge shows, and the value's colour. Pure.
pub fn text_of(
    env: &EnvironmentStatus,
    kind: BadgeKind,
    window: Window,
) -> (String, String, &'static str) {
    match kind {
        BadgeKind::Status => {
            let (value, colour) = match env.status {
                Some(Status::Up) => ("up", GREEN),
                Some(Status::Degraded) => ("degraded", YELLOW),
                Some(Status::Down) => ("down", RED),
                None => ("unknown", GREY),
            };
            (env.name.clone(), value.to_owned(), colour)
        }
        BadgeKind::Uptime => {
            let ratio = match window {
                Window::Day => env.uptime.day,
                Window::Week => env.uptime.week,
                Window::Month => env.uptime.month,
            };
            let (value, colour) = match ratio {
                Some(r) if r >= 0.999 => (format!("{:.2}%", r * 100.0), GREEN),
                Some(r) if r >= 0.99 => (format!("{:.2}%", r * 100.0), YELLOW),
                Some(r) => (format!("{:.2}%", r * 100.0), RED),
                None => ("no data".to_owned(), GREY),
            };
            (
                format!("{} uptime {}", env.name, window.label()),
                value,
                colour,
            )
        }
        BadgeKind::Latency => {
            let value = env.latency_ms.p95.map_or_else(
                || "no data".to_owned(),
                |ms| format!("p95 {}", crate::text::ms(Some(ms))),
            );
            let colour = if env.latency_ms.p95.is_some() {
                GREEN
            } else {
                GREY
            };
            (format!("{} latency", env.name), value, colour)
        }
    }
}

/// Verdana 11px, as shields lays it out: an average width is close enough for a badge.
fn text_width(text: &str) -> usize {
    text.chars()
        .map(|c| match c {
            'i' | 'l' | 'j' | '.' | ',' | ':' | ' ' | '|' | '!' | '\'' => 4,
            'm' | 'w' | 'M' | 'W' | '%' => 10,
            c if c.is_ascii_uppercase() => 8,
            _ => 7,
        })
        .sum()
}

/// The badge's SVG for `label: value`. Pure; every text escaped.
pub fn svg(label: &str, value: &str, colour: &str) -> String {
    let (left, right) = (text_width(label) + 10, text_width(value) + 10);
    let width = left + right;
    let (label, value) = (super::feed::escape(label), super::feed::escape(value));
    let mut out = String::with_capacity(1024);
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="20" role="img" aria-label="{label}: {value}"><title>{label}: {value}</title><linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient><clipPath id="r"><rect width="{width}" height="20" rx="3" fill="#fff"/></clipPath><g clip-path="url(#r)"><rect width="{left}" height="20" fill="#555"/><rect x="{left}" width="{right}" height="20" fill="{colour}"/><rect width="{width}" height="20" fill="url(#s)"/></g><g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11"><text x="{lx}" y="14">{label}</text><text x="{rx}" y="14">{value}</text></g></svg>"##,
        lx = left / 2,
        rx = left + right / 2,
    );
    out
}

/// A strong validator for the SVG: the same badge, the same tag.
pub fn etag(svg: &[u8]) -> String {
    let digest = Sha256::digest(svg);
    let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_windows_parse_or_say_what_they_take() {
        assert_eq!(BadgeKind::parse(None), Ok(BadgeKind::Status));
        assert_eq!(BadgeKind::parse(Some("uptime")), Ok(BadgeKind::Uptime));
        assert!(
            BadgeKind::parse(Some("color"))
                .unwrap_err()
                .contains("status, uptime or latency")
        );
        assert_eq!(Window::parse(Some("7d")), Ok(Window::Week));
        assert!(
            Window::parse(Some("1y"))
                .unwrap_err()
                .contains("24h, 7d or 30d")
        );
    }

    #[test]
    fn every_text_is_escaped_and_the_tag_follows_the_bytes() {
        let badge = svg("a<b>&\"c'", "up", GREEN);
        assert!(badge.contains("a&lt;b&gt;&amp;&quot;c&apos;"), "{badge}");
        assert!(!badge.contains("<b>"));
        let tag = |badge: &str| etag(badge.as_bytes());
        assert_eq!(tag(&badge), tag(&svg("a<b>&\"c'", "up", GREEN)));
        assert_ne!(tag(&badge), tag(&svg("a<b>&\"c'", "down", RED)));
    }
}

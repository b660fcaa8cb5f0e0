//! One result's facts, laid out: what the health check answered, how the connection was
//! closed, the headers each side saw, the messages. Everything here comes from a probed server,
//! so all of it goes through maud's escaping; nothing is `PreEscaped`.

use maud::{Markup, html};

use super::{ms, pill, when};
use crate::probe::ProbeResult;
use crate::probe::result::HeaderMap;

/// `1011 "Internal error" after 63 ms`, or `—` without a close.
fn close_text(result: &ProbeResult) -> String {
    let mut text = match (result.close_code, result.close_reason.as_deref()) {
        (Some(code), Some(reason)) if !reason.is_empty() => format!("{code} {reason:?}"),
        (Some(code), _) => code.to_string(),
        _ => return "—".into(),
    };
    if let Some(after) = result.close_after_ms {
        text.push_str(&format!(" after {}", crate::text::ms(Some(after))));
    }
    text
}

fn headers_block(headers: &HeaderMap) -> Markup {
    html! { pre { @for (name, value) in headers { (name) ": " (value) "\n" } } }
}

/// The facts of `result` as a definition list, beside the diagnosis that reads them.
pub fn result_facts(result: &ProbeResult) -> Markup {
    html! {
        dl class="evidence" {
            dt { "Health check" }
            dd {
                @match &result.health {
                    Some(health) => {
                        span class="mono" { "HTTP " (health.http_status.map(|s| s.to_string()).unwrap_or_else(|| "—".into())) }
                        " · " @if health.ok { "as expected" } @else { b { "not as expected" } }
                        @if let Some(error) = &health.error { pre { (error) } }
                    },
                    None => span class="muted" { "none configured" },
                }
            }
            dt { "Upgrade" }
            dd class="mono" {
                "HTTP " (result.http_status.map(|s| s.to_string()).unwrap_or_else(|| "—".into()))
                " · subprotocol " (result.subprotocol.as_deref().unwrap_or("none"))
                " · attempts " (result.attempts)
            }
            @if let Some(body) = &result.body_excerpt {
                dt { "Body" } dd { pre { (body) } }
            }
            dt { "Close" }
            dd class="mono" { (close_text(result)) }
            @if let Some(step) = result.failed_step {
                dt { "Failed step" } dd class="mono" { "steps[" (step) "]" }
            }
            @if let Some(error) = &result.error {
                dt { "Error" } dd { pre { (error) } }
            }
            @for (label, headers) in [("Headers sent", &result.headers.sent), ("Headers returned", &result.headers.response), ("Headers echoed by the backend", &result.headers.echoed)] {
                @if !headers.is_empty() { dt { (label) } dd { (headers_block(headers)) } }
            }
            @if !result.headers.missing.is_empty() {
                dt { "Missing at the backend" } dd class="mono" { (result.headers.missing.join(", ")) }
            }
            @if !result.messages.is_empty() {
                dt { "Messages received" }
                dd { @for message in &result.messages { pre { (message) } } }
            }
            @if let Some(tls) = &result.tls {
                dt { "TLS" } dd class="mono" { (tls.version) " · certificate until " (when(tls.cert_not_after)) }
            }
            dt { "Build" } dd class="mono" { (result.version.as_deref().unwrap_or("—")) }
        }
    }
}

/// One stored run. `shown_above`: it is the run laid out at the top, so only what is not
/// there (phases, trace, replay) is repeated; `diagnosis_shown`: its diagnosis is the one
/// at the top, so it is not said again.
pub fn run_details(
    result: &ProbeResult,
    (in_maintenance, silenced_by): (bool, Option<i64>),
    shown_above: bool,
    diagnosis_shown: bool,
    trace_url: Option<&crate::config::TraceUrl>,
    replay: &str,
) -> Markup {
    html! {
        details {
            summary {
                (pill(result.status.as_str())) " "
                span class="mono" { (when(Some(result.started_at))) } " · "
                code { (result.verdict.as_str()) } " · close " span class="mono" { (close_text(result)) }
                " · total " span class="mono" { (ms(result.phases_ms.total)) }
                @if in_maintenance { " · maintenance" }
                @if let Some(id) = silenced_by { " · silenced by #" (id) }
                @if let Some(attempt) = result.confirmation { " · " span class="confirm" title="a re-probe right after a failure, to confirm it" { "confirmation " (attempt) } }
                @if let Some(location) = &result.requested_by { " · " span class="confirm" title="probed at once because another location saw it fail" { "asked by " (location) } }
                @if shown_above { span class="muted" { " · the run shown above" } }
            }
            @if !diagnosis_shown { p class="diag" { (result.diagnosis) } }
            table class="phases" {
                tr { @for (name, _) in result.phases_ms.named() { th { (name) } } }
                tr { @for (_, value) in result.phases_ms.named() { td class="mono num" { (ms(value)) } } }
            }
            @if let Some(trace_id) = &result.trace_id {
                p class="mono muted" {
                    "trace "
                    @match trace_url {
                        Some(url) => a class="trace" href=(url.link(trace_id)) { (trace_id) },
                        None => span class="trace" { (trace_id) },
                    }
                }
            }
            p { b { "Replay by hand" } " (secrets as variables: set them first)" }
            pre class="replay" { (replay) }
            @if !shown_above { (result_facts(result)) }
        }
    }
}

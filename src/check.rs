//! `wsprobe check`: probe a set of environments once, now, and report for people or pipelines.

use futures_util::StreamExt;

use crate::config::{Config, Environment};
use crate::probe::{ProbeResult, Prober, Status};

pub const DEFAULT_CONCURRENCY: usize = 64;

/// The environments `--env` names, in config order; every name must exist.
pub fn select<'c>(config: &'c Config, names: &[String]) -> Result<Vec<&'c Environment>, String> {
    if let Some(unknown) = names.iter().find(|n| config.environment(n).is_none()) {
        let known: Vec<&str> = config
            .environments
            .iter()
            .map(|e| e.name.as_str())
            .collect();
        return Err(format!(
            "{}: no environment named {unknown:?} (known: {})",
            config.source.display(),
            known.join(", ")
        ));
    }
    Ok(config
        .environments
        .iter()
        .filter(|env| names.is_empty() || names.iter().any(|n| n == env.name.as_str()))
        .map(|env| env.as_ref())
        .collect())
}

/// Probe each environment once, at most `concurrency` at a time; results keep config order.
pub async fn run(
    prober: &Prober,
    environments: &[&Environment],
    concurrency: usize,
) -> Vec<ProbeResult> {
    futures_util::stream::iter(environments.iter().map(|env| prober.probe(env)))
        .buffered(concurrency.max(1))
        .collect()
        .await
}

/// 0 when every environment is up or degraded, 1 when any is down.
pub fn exit_code(results: &[ProbeResult]) -> u8 {
    if results.iter().any(|r| r.status == Status::Down) {
        1
    } else {
        0
    }
}

pub fn render_json(results: &[ProbeResult]) -> String {
    // Serialized from the types, not through a `Value` (whose map sorts keys): the fields keep
    // the SPEC's order, as the API gives them.
    #[derive(serde::Serialize)]
    struct Body<'a> {
        results: &'a [ProbeResult],
    }
    serde_json::to_string_pretty(&Body { results }).expect("results serialize")
}

/// One aligned line per environment, then its diagnosis indented below, so a pipeline log
/// reads like a table and each failure still comes with its sentence.
pub fn render_text(results: &[ProbeResult], color: bool) -> String {
    let name_width = results
        .iter()
        .map(|r| r.environment.chars().count())
        .max()
        .unwrap_or(0)
        .max("ENVIRONMENT".len());
    let verdict_width = results
        .iter()
        .map(|r| r.verdict.as_str().len())
        .max()
        .unwrap_or(0)
        .max("VERDICT".len());
    let mut out = format!(
        "{:<8}  {:<name_width$}  {:<verdict_width$}  {:>5}  {:>10}\n",
        "STATUS", "ENVIRONMENT", "VERDICT", "CLOSE", "TOTAL"
    );
    for result in results {
        let status = format!("{:<8}", result.status.as_str());
        let status = if color {
            paint(result.status, &status)
        } else {
            status
        };
        let close = result
            .close_code
            .map(|c| c.to_string())
            .unwrap_or_else(|| "-".into());
        let total = result
            .phases_ms
            .total
            .map(|t| crate::text::ms(Some(t)))
            .unwrap_or_else(|| "-".into());
        out.push_str(&format!(
            "{status}  {:<name_width$}  {:<verdict_width$}  {close:>5}  {total:>10}\n",
            result.environment,
            result.verdict.as_str(),
        ));
        out.push_str(&format!(
            "          {}\n",
            strip_controls(&result.diagnosis)
        ));
    }
    let down = results.iter().filter(|r| r.status == Status::Down).count();
    let degraded = results
        .iter()
        .filter(|r| r.status == Status::Degraded)
        .count();
    out.push_str(&format!(
        "\n{} environment{}: {} up, {degraded} degraded, {down} down\n",
        results.len(),
        if results.len() == 1 { "" } else { "s" },
        results.len() - down - degraded,
    ));
    out
}

fn paint(status: Status, text: &str) -> String {
    let code = match status {
        Status::Up => "32",
        Status::Degraded => "33",
        Status::Down => "31;1",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// A close reason or message from the server must not be able to drive the terminal.
fn strip_controls(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

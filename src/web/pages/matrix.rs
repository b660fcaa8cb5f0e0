//! A fleet's location × environment matrix: every environment's newest result from each
//! location, so on-call sees at once whether a failure is one path (one red column cell) or
//! the service (a red row).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use maud::{Markup, html};

use super::{ago, pill};
use crate::web::EnvironmentStatus;

/// The matrix, when more than one location reports; nothing for a single node.
pub fn matrix(environments: &[&EnvironmentStatus], now: DateTime<Utc>) -> Markup {
    let locations: BTreeSet<&str> = environments
        .iter()
        .flat_map(|env| env.locations.keys().map(String::as_str))
        .collect();
    if locations.len() < 2 {
        return html! {};
    }
    html! {
        h2 { "Locations" }
        div class="matrix-wrap" {
            table class="matrix" {
                thead { tr {
                    th { "Environment" }
                    @for location in &locations { th class="nowrap" { (location) } }
                } }
                tbody {
                    @for env in environments {
                        tr {
                            td class="name" { a href={ "/environments/" (env.name) } { (env.name) } }
                            @for location in &locations {
                                @match env.locations.get(*location) {
                                    Some(cell) if !cell.reporting => td title={ "no result for 3 intervals; last: " (cell.verdict) ": " (cell.diagnosis) } {
                                        (pill("unknown")) " "
                                        span class="muted" { "silent since " (ago(Some(cell.started_at), now)) }
                                    },
                                    Some(cell) => td title={ (cell.verdict) ": " (cell.diagnosis) } {
                                        (pill(cell.status.as_str())) " "
                                        span class="muted" { (ago(Some(cell.started_at), now)) }
                                    },
                                    None => td class="muted" { "—" },
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::probe::{Status, Verdict};
    use crate::web::{Latency, LocationStatus, Uptime};

    fn env(name: &str, cells: &[(&str, &str)]) -> EnvironmentStatus {
        let at = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        EnvironmentStatus {
            name: name.into(),
            status: Some(Status::Up),
            verdict: None,
            diagnosis: None,
            close_code: None,
            last_run: None,
            next_run: None,
            running: false,
            skipped_slots: 0,
            uptime: Uptime {
                day: None,
                week: None,
                month: None,
            },
            uptime_percent: Uptime {
                day: None,
                week: None,
                month: None,
            },
            latency_ms: Latency {
                p50: None,
                p95: None,
            },
            last_result: None,
            in_maintenance: false,
            maintenance: None,
            open_incident: None,
            silenced_by: None,
            caused_by: None,
            locations: cells
                .iter()
                .map(|(location, status)| {
                    (
                        location.to_string(),
                        LocationStatus {
                            status: match *status {
                                "down" => Status::Down,
                                _ => Status::Up,
                            },
                            verdict: Verdict::ConnectRefused,
                            diagnosis: "<b>refused</b>".into(),
                            started_at: at,
                            close_code: None,
                            reporting: *status != "silent",
                        },
                    )
                })
                .collect::<BTreeMap<_, _>>(),
        }
    }

    #[test]
    fn one_column_per_location_one_row_per_environment_and_nothing_for_one_location() {
        let now = DateTime::from_timestamp(1_800_000_012, 0).unwrap();
        let api = env("api", &[("eu-west", "down"), ("us-east", "up")]);
        let web = env("web", &[("eu-west", "up"), ("us-east", "silent")]);
        let page = matrix(&[&api, &web], now).into_string();
        assert!(
            page.contains("<th class=\"nowrap\">eu-west</th><th class=\"nowrap\">us-east</th>"),
            "{page}"
        );
        assert_eq!(
            page.matches("<tr>").count(),
            3,
            "a header and two environments"
        );
        assert!(page.contains("pill down"));
        assert!(page.contains("silent since"), "web's us-east result is old");
        assert!(page.contains("12 s ago"));
        assert!(
            !page.contains("<b>refused"),
            "server text is escaped: {page}"
        );
        let single = env("api", &[("eu-west", "down")]);
        assert_eq!(matrix(&[&single], now).into_string(), "");
        let other = env("db", &[("ap-south", "up")]);
        let page = matrix(&[&api, &other], now).into_string();
        assert!(
            page.contains("<td class=\"muted\">—</td>"),
            "db has no eu-west result"
        );
    }
}

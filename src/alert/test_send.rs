//! `wsprobe alert test`: one marked test notification through a configured channel, now.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::delivery::{Attempt, Channels};
use super::notification::{EventName, Notification};
use crate::config::Config;

/// One request `send_test` made.
#[derive(Debug, Clone)]
pub struct TestSend {
    /// `test`, or `resolve` (PagerDuty: the test's alert is resolved right after).
    pub what: &'static str,
    pub attempt: Attempt,
    pub took: Duration,
}

/// `wsprobe alert test`: send a clearly marked test notification through the channel named
/// `channel` now, once, through the same channel code the daemon uses. Some kinds resolve
/// their test right after ([`super::Notifier::resolves_its_test`]: PagerDuty's pages at `info`
/// severity but does not stay open).
/// `Err`: no such channel (or no HTTP client), a usage problem.
pub async fn send_test(
    config: &Config,
    channel: &str,
    now: DateTime<Utc>,
) -> Result<(String, Vec<TestSend>), String> {
    let channels = Channels::from_config(config)?;
    let (Some(target), Some(configured)) = (
        channels.get(channel),
        config.alerts.channels.iter().find(|c| c.name == channel),
    ) else {
        let known: Vec<&str> = config
            .alerts
            .channels
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        return Err(if known.is_empty() {
            format!("no channel named {channel:?}: alerts.channels defines none")
        } else {
            format!(
                "no channel named {channel:?} (alerts.channels defines: {})",
                known.join(", ")
            )
        });
    };
    let link = config
        .server
        .public_url
        .as_ref()
        .map(|url| url.as_str().to_owned());
    let mut test = Notification::test(link);
    let channels = &channels;
    let send = |what: &'static str, test: Notification| async move {
        let started = Instant::now();
        let attempt = channels
            .sender
            .send(target, target.request(&test, now), &channels.redactor, now)
            .await;
        TestSend {
            what,
            attempt,
            took: started.elapsed(),
        }
    };
    let mut sends = vec![send("test", test.clone()).await];
    if sends[0].attempt == Attempt::Delivered && target.resolves_its_test() {
        test.event = EventName::Resolved;
        sends.push(send("resolve", test).await);
    }
    Ok((configured.kind.kind().to_owned(), sends))
}

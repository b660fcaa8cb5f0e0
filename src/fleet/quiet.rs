//! Who went quiet, pure: a location none of whose instances has reported for 3 intervals, or
//! one instance that stopped while its location's other replicas go on. Each becomes an
//! incident of its own, named "location eu-west" or "instance host:8080".

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::store::InstanceRecord;

/// How a quiet location's and a quiet instance's incidents are named: `location eu-west`,
/// `instance host:8080`.
pub const LOCATION: &str = "location ";
pub const INSTANCE: &str = "instance ";

/// Intervals without a report after which an instance or a location counts as quiet.
pub const QUIET_INTERVALS: u32 = 3;

/// One watched subject and whether it is quiet now.
#[derive(Debug, Clone, PartialEq)]
pub struct Watch {
    /// The incident's name: `location eu-west` or `instance host:8080`.
    pub name: String,
    /// `Some(sentence)` when quiet.
    pub quiet: Option<String>,
}

/// Silence shorter than this is never quiet, however short the schedule: an instance's word
/// reaches the store through writes and membership rounds seconds apart (a 5 s round, slower
/// on a slow database), and three of a 2 s schedule's intervals are shorter than that.
pub const QUIET_AT_LEAST: Duration = Duration::from_secs(15);

/// Whether something last heard from at `last` has gone quiet by `now`: silent for more than
/// [`QUIET_INTERVALS`] of `interval` (and [`QUIET_AT_LEAST`]). The one rule for locations,
/// instances, and a location's results of one environment.
pub fn is_quiet(last: DateTime<Utc>, now: DateTime<Utc>, interval: Duration) -> bool {
    let limit = (interval * QUIET_INTERVALS).max(QUIET_AT_LEAST);
    now - last > chrono::Duration::from_std(limit).unwrap_or(chrono::Duration::MAX)
}

/// Every location and every instance that ran, quiet or not, as of `now` (the database's
/// clock, which every report is written on); `interval` is the shortest schedule period of
/// the environments probed. `reachable_since`: since when the store answers this instance
/// without a break. Nobody could report while it was away, so silence counts from then: an
/// instance that kept probing through an outage has until three intervals after it to write.
pub fn watch(
    instances: &[InstanceRecord],
    interval: Duration,
    now: DateTime<Utc>,
    reachable_since: DateTime<Utc>,
) -> Vec<Watch> {
    // A probe started is a word too: results may be held back by a locked or slow store.
    let last_word = |i: &InstanceRecord| i.last_report.max(i.last_probe).unwrap_or(i.started_at);
    let silent = |last: DateTime<Utc>| is_quiet(last.max(reachable_since), now, interval);
    let mut by_location: BTreeMap<&str, Vec<&InstanceRecord>> = BTreeMap::new();
    for instance in instances {
        by_location
            .entry(instance.location.as_str())
            .or_default()
            .push(instance);
    }
    let mut watches = Vec::new();
    for (location, members) in by_location {
        let newest = members.iter().map(|i| last_word(i)).max().unwrap_or(now);
        let location_quiet = silent(newest);
        watches.push(Watch {
            name: format!("{LOCATION}{location}"),
            quiet: location_quiet.then(|| {
                format!(
                    "location {location} stopped reporting at {} ({} of its instances answered since): nothing probes from there.",
                    newest.format("%H:%M UTC"),
                    if members.iter().any(|i| !silent(i.last_seen)) {
                        "some"
                    } else {
                        "none"
                    }
                )
            }),
        });
        if location_quiet {
            // The location's incident says it all; its replicas' own incidents stay as they
            // are (open ones are not "reporting again") until the location comes back.
            continue;
        }
        for instance in &members {
            // A replica that shut down cleanly is not missing.
            let quiet = instance.stopped_at.is_none() && silent(last_word(instance));
            let others: Vec<&str> = members
                .iter()
                .filter(|other| other.id != instance.id && !silent(last_word(other)))
                .map(|other| other.id.as_str())
                .collect();
            watches.push(Watch {
                name: format!("{INSTANCE}{}", instance.id),
                quiet: quiet.then(|| {
                    format!(
                        "instance {} of location {location} stopped reporting at {}; {} go on probing its slots.",
                        instance.id,
                        last_word(instance).format("%H:%M UTC"),
                        others.join(", ")
                    )
                }),
            });
        }
    }
    watches
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(id: &str, location: &str, reported_ago: i64, now: DateTime<Utc>) -> InstanceRecord {
        let at = now - chrono::Duration::seconds(reported_ago);
        InstanceRecord {
            id: id.into(),
            location: location.into(),
            version: "0.1.0".into(),
            started_at: now - chrono::Duration::hours(1),
            last_seen: at,
            last_report: Some(at),
            stopped_at: None,
            skew_ms: None,
            last_probe: None,
        }
    }

    /// The store has answered all along.
    fn long_ago(now: DateTime<Utc>) -> DateTime<Utc> {
        now - chrono::Duration::days(1)
    }

    fn quiet(watches: &[Watch]) -> Vec<&str> {
        watches
            .iter()
            .filter(|w| w.quiet.is_some())
            .map(|w| w.name.as_str())
            .collect()
    }

    #[test]
    fn a_location_quiet_for_three_intervals_is_named() {
        let now = Utc::now();
        let minute = Duration::from_secs(60);
        let fleet = [
            instance("a1", "eu-west", 10, now),
            instance("b1", "us-east", 181, now),
        ];
        let watches = watch(&fleet, minute, now, long_ago(now));
        assert_eq!(quiet(&watches), ["location us-east"]);
        let names: Vec<&str> = watches.iter().map(|w| w.name.as_str()).collect();
        assert_eq!(
            names,
            ["location eu-west", "instance a1", "location us-east"]
        );
        let sentence = watches[2].quiet.as_deref().unwrap();
        assert!(
            sentence.starts_with("location us-east stopped reporting at "),
            "{sentence}"
        );
        // Two and a half intervals is not yet quiet.
        let fleet = [instance("b1", "us-east", 150, now)];
        assert!(quiet(&watch(&fleet, minute, now, long_ago(now))).is_empty());
    }

    #[test]
    fn one_replica_down_is_an_instance_incident_not_a_location_one() {
        let now = Utc::now();
        let fleet = [
            instance("a1", "eu-west", 500, now),
            instance("a2", "eu-west", 5, now),
        ];
        let watches = watch(&fleet, Duration::from_secs(60), now, long_ago(now));
        assert_eq!(quiet(&watches), ["instance a1"]);
        let sentence = watches.iter().find_map(|w| w.quiet.clone()).unwrap();
        assert!(
            sentence.ends_with("a2 go on probing its slots."),
            "{sentence}"
        );
        // Stopped on purpose: not missing.
        let mut stopped = fleet.clone();
        stopped[0].stopped_at = Some(now);
        assert!(
            quiet(&watch(
                &stopped,
                Duration::from_secs(60),
                now,
                long_ago(now)
            ))
            .is_empty()
        );
    }

    #[test]
    fn nobody_is_quiet_for_a_store_outage() {
        let now = Utc::now();
        let minute = Duration::from_secs(60);
        // Both last wrote 5 minutes ago: the store was away until 2 minutes ago.
        let fleet = [
            instance("a1", "eu-west", 300, now),
            instance("a2", "eu-west", 300, now),
        ];
        let back = now - chrono::Duration::seconds(120);
        assert!(quiet(&watch(&fleet, minute, now, back)).is_empty());
        // Three intervals after its return, silence is silence again.
        let back = now - chrono::Duration::seconds(181);
        assert_eq!(
            quiet(&watch(&fleet, minute, now, back)),
            ["location eu-west"]
        );
        // The sentence names the last report, not the store's return.
        let sentence = watch(&fleet, minute, now, back)[0].quiet.clone().unwrap();
        let last = (now - chrono::Duration::seconds(300))
            .format("%H:%M UTC")
            .to_string();
        assert!(sentence.contains(&last), "{sentence}");
    }
}

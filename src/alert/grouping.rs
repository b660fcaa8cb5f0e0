//! `alerts.grouping`: failures that start within `wait` of each other go out as one
//! notification per channel (Alertmanager's `group_wait` and `group_by`).
//!
//! The grouping stage sits between the incident step and the outbox and sends nothing
//! itself:
//! - [`Grouper::join`] (pure, `now` passed in): a trigger joins the group waiting for its
//!   label values, or starts one whose wait ends `wait` later. The trigger's outbox rows
//!   are queued as usual, each carrying the group's key and due when the wait ends: the
//!   outbox is what keeps a waiting page through a restart.
//! - [`merge`]: when rows come due, those of one group, channel and event become one
//!   notification listing every member; its outcome is recorded on every row.
//! - [`Grouper::resolve`]: a member's resolve goes out only when it is the group's last open
//!   member, listing them all; a partial resolve is recorded on the incident and the page,
//!   never sent (the group's page stays open, as PagerDuty's incident does).
//! - [`Grouper::lead`]: one member (the lowest open incident id) sends the group's reminders.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::notification::Notification;
use crate::config::{GroupLabel, Grouping};
use crate::probe::Verdict;
use crate::store::PendingNotification;

/// A grouped incident's group, in each of its notifications (and the webhook's event).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    /// The same for the group's life: PagerDuty's `dedup_key`, Opsgenie's alias.
    pub key: String,
    /// The `by` label values the members share.
    pub labels: BTreeMap<String, String>,
    /// Every member known when the notification was made, first one first.
    pub environments: Vec<GroupMember>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupMember {
    pub environment: String,
    pub incident_id: i64,
    /// `open` or `resolved`.
    pub state: String,
    pub verdict: Verdict,
    pub location: Option<String>,
    #[serde(with = "crate::wire::time")]
    pub started_at: DateTime<Utc>,
    #[serde(with = "crate::wire::time_opt")]
    pub resolved_at: Option<DateTime<Utc>>,
    pub diagnosis: String,
}

impl GroupMember {
    fn is_open(&self) -> bool {
        self.resolved_at.is_none()
    }
}

/// A group still taking members.
#[derive(Debug, Clone)]
struct Waiting {
    key: String,
    until: DateTime<Utc>,
}

/// A group with members still open.
#[derive(Debug, Clone)]
struct Live {
    labels: BTreeMap<String, String>,
    members: Vec<GroupMember>,
    /// When its trigger goes out: nothing of the group may go out before.
    sends_at: DateTime<Utc>,
}

/// What a trigger joined.
#[derive(Debug, Clone, PartialEq)]
pub struct Joined {
    pub group: Group,
    /// When the group's rows are due.
    pub due: DateTime<Utc>,
}

/// The groups in memory: those waiting for members, and every group with an open member.
#[derive(Debug, Default)]
pub struct Grouper {
    /// By the `by` label values.
    waiting: HashMap<Vec<String>, Waiting>,
    /// By group key.
    live: HashMap<String, Live>,
    /// The group of each grouped incident still open.
    of_incident: HashMap<i64, String>,
}

/// The `by` label values of `member`: what splits groups.
fn label_values(by: &[GroupLabel], member: &GroupMember) -> Vec<(String, String)> {
    by.iter()
        .map(|label| {
            let value = match label {
                GroupLabel::Verdict => member.verdict.as_str().to_owned(),
                GroupLabel::Location => member.location.clone().unwrap_or_default(),
                GroupLabel::Environment => member.environment.clone(),
            };
            (label.as_str().to_owned(), value)
        })
        .collect()
}

impl Grouper {
    /// `member` triggered at `now`: it joins the group waiting for its label values, or
    /// starts one that waits `grouping.wait`. The group returned lists `member` alone (its
    /// rows' payload): the other members' rows carry theirs, and [`merge`] joins them.
    pub fn join(&mut self, grouping: &Grouping, member: GroupMember, now: DateTime<Utc>) -> Joined {
        let labels = label_values(&grouping.by, &member);
        let values: Vec<String> = labels.iter().map(|(_, v)| v.clone()).collect();
        let waiting = self
            .waiting
            .get(&values)
            .filter(|w| now < w.until && self.live.contains_key(&w.key))
            .cloned();
        let waiting = waiting.unwrap_or_else(|| {
            // The first member's incident id: unique in the store, and stable.
            let until = now + chrono_wait(grouping);
            let started = Waiting {
                key: format!("g{}", member.incident_id),
                // Whole milliseconds: what the outbox keeps, so memory and store agree.
                until: DateTime::from_timestamp_millis(until.timestamp_millis()).unwrap_or(until),
            };
            self.live.insert(
                started.key.clone(),
                Live {
                    labels: labels.iter().cloned().collect(),
                    members: Vec::new(),
                    sends_at: started.until,
                },
            );
            self.waiting.insert(values, started.clone());
            started
        });
        let live = self
            .live
            .get_mut(&waiting.key)
            .expect("a waiting group is live");
        live.members.retain(|m| m.incident_id != member.incident_id);
        live.members.push(member.clone());
        self.of_incident
            .insert(member.incident_id, waiting.key.clone());
        Joined {
            group: Group {
                key: waiting.key.clone(),
                labels: live.labels.clone(),
                environments: vec![member],
            },
            due: waiting.until,
        }
    }

    /// The group of incident `id`, as it stands, when it is grouped.
    pub fn group_of(&self, id: i64) -> Option<Group> {
        let key = self.of_incident.get(&id)?;
        let live = self.live.get(key)?;
        Some(Group {
            key: key.clone(),
            labels: live.labels.clone(),
            environments: live.members.clone(),
        })
    }

    /// When the group of incident `id` goes (went) out: its later notices are due no sooner.
    pub fn sends_at(&self, id: i64) -> Option<DateTime<Utc>> {
        let key = self.of_incident.get(&id)?;
        self.live.get(key).map(|live| live.sends_at)
    }

    /// Whether incident `id` speaks for its group (its lowest open incident id): one reminder
    /// per group, not one per member. An incident in no group speaks for itself.
    pub fn lead(&self, id: i64) -> bool {
        let Some(group) = self.group_of(id) else {
            return true;
        };
        let lead = group
            .environments
            .iter()
            .filter(|m| m.is_open())
            .map(|m| m.incident_id)
            .min();
        lead.is_none_or(|lead| lead == id)
    }

    /// The other open members of incident `id`'s group.
    pub fn open_peers(&self, id: i64) -> Vec<GroupMember> {
        self.group_of(id)
            .map(|g| g.environments)
            .unwrap_or_default()
            .into_iter()
            .filter(|m| m.is_open() && m.incident_id != id)
            .collect()
    }

    /// Incident `id` resolved at `at`. `None`: it was in no group, its resolve goes out as
    /// it is. `Some((group, last))`: the group as it stands now, and whether this was its
    /// last open member (then the group's resolve goes out, and the group is forgotten).
    pub fn resolve(&mut self, id: i64, at: DateTime<Utc>) -> Option<(Group, bool)> {
        let key = self.of_incident.remove(&id)?;
        let live = self.live.get_mut(&key)?;
        for member in live.members.iter_mut().filter(|m| m.incident_id == id) {
            member.state = "resolved".to_owned();
            member.resolved_at = Some(at);
        }
        let group = Group {
            key: key.clone(),
            labels: live.labels.clone(),
            environments: live.members.clone(),
        };
        let last = !group.environments.iter().any(GroupMember::is_open);
        if last {
            self.live.remove(&key);
            self.waiting.retain(|_, w| w.key != key);
        }
        Some((group, last))
    }

    /// The groups of open incidents, from their stored `triggered` notifications (payload,
    /// due at): after a restart, their members' resolves and reminders are still the
    /// group's. Each payload lists its own incident, open.
    pub fn restored(triggers: &[(String, DateTime<Utc>)]) -> Grouper {
        let mut grouper = Grouper::default();
        for (payload, due) in triggers {
            let Some(group) = serde_json::from_str::<Notification>(payload)
                .ok()
                .and_then(|n| n.group)
            else {
                continue;
            };
            let live = grouper.live.entry(group.key.clone()).or_insert(Live {
                labels: group.labels.clone(),
                members: Vec::new(),
                sends_at: *due,
            });
            for member in group.environments {
                if live
                    .members
                    .iter()
                    .all(|m| m.incident_id != member.incident_id)
                {
                    grouper
                        .of_incident
                        .insert(member.incident_id, group.key.clone());
                    live.members.push(member);
                }
            }
        }
        grouper
    }
}

fn chrono_wait(grouping: &Grouping) -> chrono::Duration {
    crate::text::chrono_duration(grouping.wait)
}

/// Due rows as sent: one per row, except rows of one group, channel and event, which become
/// one (the lowest id's, its payload listing every member) whose outcome is every row's.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub row: PendingNotification,
    /// Every row this send stands for, `row.id` first.
    pub ids: Vec<i64>,
}

/// Join the due `rows` of each group, keeping their order otherwise. A row whose payload
/// does not decode goes alone: the outbox reports it failed.
pub fn merge(rows: Vec<PendingNotification>) -> Vec<Batch> {
    let mut batches: Vec<Batch> = Vec::new();
    let mut payloads: Vec<Option<Notification>> = Vec::new();
    let mut index: HashMap<(String, String, String), usize> = HashMap::new();
    for row in rows {
        let notification: Option<Notification> = serde_json::from_str(&row.payload).ok();
        let key = notification.as_ref().and_then(|n| {
            let group = n.group.as_ref()?;
            Some((group.key.clone(), row.channel.clone(), row.event.clone()))
        });
        let Some(key) = key else {
            batches.push(Batch {
                ids: vec![row.id],
                row,
            });
            payloads.push(None);
            continue;
        };
        match index.get(&key) {
            Some(&at) => {
                batches[at].ids.push(row.id);
                let into = payloads[at].as_mut().and_then(|n| n.group.as_mut());
                let from = notification.and_then(|n| n.group);
                if let (Some(into), Some(from)) = (into, from) {
                    join_members(into, from.environments);
                }
            }
            None => {
                index.insert(key, batches.len());
                batches.push(Batch {
                    ids: vec![row.id],
                    row,
                });
                payloads.push(notification);
            }
        }
    }
    for (batch, payload) in batches.iter_mut().zip(payloads) {
        if let Some(notification) = payload.filter(|_| batch.ids.len() > 1) {
            batch.row.payload =
                serde_json::to_string(&notification).expect("a notification always encodes");
        }
    }
    batches
}

/// Add `members` to `group`, a member met again keeping its newest state.
fn join_members(group: &mut Group, members: Vec<GroupMember>) {
    for member in members {
        match group
            .environments
            .iter_mut()
            .find(|m| m.incident_id == member.incident_id)
        {
            Some(known) if member.resolved_at.is_some() => *known = member,
            Some(_) => {}
            None => group.environments.push(member),
        }
    }
    group.environments.sort_by_key(|m| m.incident_id);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::notification::EventName;
    use crate::alert::notification::tests::sample;
    use std::time::Duration;

    fn at(s: u32) -> DateTime<Utc> {
        "2026-12-07T12:00:00Z".parse::<DateTime<Utc>>().unwrap()
            + chrono::Duration::seconds(s.into())
    }

    fn member(env: &str, id: i64, verdict: Verdict, location: &str) -> GroupMember {
        GroupMember {
            environment: env.to_owned(),
            incident_id: id,
            state: "open".into(),
            verdict,
            location: Some(location.to_owned()),
            started_at: at(0),
            resolved_at: None,
            diagnosis: format!("{env} failed"),
        }
    }

    fn grouping(by: &[GroupLabel]) -> Grouping {
        Grouping {
            wait: Duration::from_secs(30),
            by: by.to_vec(),
        }
    }

    const DOWN: Verdict = Verdict::ClosedBeforeReady;
    const REFUSED: Verdict = Verdict::UpgradeRejected;

    /// Triggers (environment, incident id, verdict, location, second) under `by`: the group
    /// key and due second each gets.
    #[test]
    fn triggers_join_the_group_waiting_for_their_labels() {
        type Row = (
            &'static str,
            i64,
            Verdict,
            &'static str,
            u32,
            &'static str,
            u32,
        );
        let verdict = [GroupLabel::Verdict];
        let cases: [(&str, &[GroupLabel], &[Row]); 6] = [
            (
                "no labels: everything in the wait is one group",
                &[],
                &[
                    ("a", 1, DOWN, "eu", 0, "g1", 30),
                    ("b", 2, REFUSED, "us", 10, "g1", 30),
                    ("c", 3, DOWN, "eu", 29, "g1", 30),
                ],
            ),
            (
                "a trigger at the end of the wait starts the next group",
                &verdict,
                &[
                    ("a", 1, DOWN, "eu", 0, "g1", 30),
                    ("b", 2, DOWN, "eu", 30, "g2", 60),
                    ("c", 3, DOWN, "eu", 45, "g2", 60),
                ],
            ),
            (
                "by verdict: another verdict is another group",
                &verdict,
                &[
                    ("a", 1, DOWN, "eu", 0, "g1", 30),
                    ("b", 2, REFUSED, "eu", 5, "g2", 35),
                    ("c", 3, DOWN, "us", 6, "g1", 30),
                    ("d", 4, REFUSED, "us", 7, "g2", 35),
                ],
            ),
            (
                "by location",
                &[GroupLabel::Location],
                &[
                    ("a", 1, DOWN, "eu", 0, "g1", 30),
                    ("b", 2, REFUSED, "eu", 5, "g1", 30),
                    ("c", 3, DOWN, "us", 6, "g3", 36),
                ],
            ),
            (
                "by environment: no two environments share a group",
                &[GroupLabel::Environment],
                &[
                    ("a", 1, DOWN, "eu", 0, "g1", 30),
                    ("b", 2, DOWN, "eu", 1, "g2", 31),
                ],
            ),
            (
                "by verdict and location",
                &[GroupLabel::Verdict, GroupLabel::Location],
                &[
                    ("a", 1, DOWN, "eu", 0, "g1", 30),
                    ("b", 2, DOWN, "us", 1, "g2", 31),
                    ("c", 3, DOWN, "eu", 2, "g1", 30),
                ],
            ),
        ];
        for (name, by, rows) in cases {
            let mut grouper = Grouper::default();
            for &(env, id, verdict, location, second, key, due) in rows {
                let joined = grouper.join(
                    &grouping(by),
                    member(env, id, verdict, location),
                    at(second),
                );
                assert_eq!(
                    (joined.group.key.as_str(), joined.due),
                    (key, at(due)),
                    "{name}: {env}"
                );
                assert_eq!(joined.group.environments.len(), 1, "{name}");
            }
        }
    }

    /// Resolves in order: (incident id, whether the group's resolve goes out).
    type Resolves = &'static [(i64, Option<bool>)];

    #[test]
    fn a_group_resolves_with_its_last_open_member() {
        let cases: [(&str, Resolves); 3] = [
            (
                "in turn",
                &[(2, Some(false)), (1, Some(false)), (3, Some(true))],
            ),
            (
                "an ungrouped incident is its own",
                &[(9, None), (1, Some(false))],
            ),
            (
                "twice is once",
                &[(1, Some(false)), (1, None), (2, Some(false))],
            ),
        ];
        for (name, resolves) in cases {
            let mut grouper = Grouper::default();
            for (env, id) in [("a", 1), ("b", 2), ("c", 3)] {
                grouper.join(&grouping(&[]), member(env, id, DOWN, "eu"), at(id as u32));
            }
            for &(id, expected) in resolves {
                let got = grouper.resolve(id, at(100));
                assert_eq!(
                    got.as_ref().map(|(_, last)| *last),
                    expected,
                    "{name}: {id}"
                );
                if let Some((group, true)) = got {
                    assert!(group.environments.iter().all(|m| m.state == "resolved"));
                    assert_eq!(group.environments.len(), 3, "{name}");
                }
            }
        }
    }

    #[test]
    fn the_lowest_open_member_leads_and_a_group_ends_when_all_resolved() {
        let mut grouper = Grouper::default();
        let g = grouping(&[]);
        for (env, id) in [("a", 1), ("b", 2), ("c", 3)] {
            grouper.join(&g, member(env, id, DOWN, "eu"), at(1));
        }
        assert!(grouper.lead(1) && !grouper.lead(2) && grouper.lead(42));
        assert_eq!(grouper.open_peers(2).len(), 2);
        grouper.resolve(1, at(50));
        assert!(grouper.lead(2) && !grouper.lead(3));
        assert_eq!(grouper.sends_at(3), Some(at(31)));
        grouper.resolve(2, at(51));
        grouper.resolve(3, at(52));
        assert_eq!(grouper.group_of(3), None);
        // The wait ended with the group: a new trigger in it starts another.
        let joined = grouper.join(&g, member("d", 4, DOWN, "eu"), at(20));
        assert_eq!(joined.group.key, "g4");
    }

    fn row(id: i64, channel: &str, group: Option<(&str, &str, i64)>) -> PendingNotification {
        let mut n = sample(EventName::Triggered);
        n.group = group.map(|(key, env, incident)| Group {
            key: key.into(),
            labels: BTreeMap::new(),
            environments: vec![member(env, incident, DOWN, "eu")],
        });
        PendingNotification {
            id,
            incident_id: group.map_or(id, |g| g.2),
            channel: channel.into(),
            kind: "webhook".into(),
            event: "triggered".into(),
            payload: serde_json::to_string(&n).unwrap(),
            attempts: 0,
            created_at: at(0),
            due_at: at(30),
            last_error: None,
        }
    }

    #[test]
    fn due_rows_of_one_group_and_channel_go_as_one() {
        let rows = vec![
            row(10, "pager", Some(("g1", "a", 1))),
            row(11, "hook", Some(("g1", "a", 1))),
            row(12, "pager", None),
            row(13, "pager", Some(("g1", "b", 2))),
            row(14, "hook", Some(("g1", "b", 2))),
            row(15, "pager", Some(("g5", "c", 5))),
            row(16, "pager", Some(("g1", "c", 3))),
        ];
        let batches = merge(rows);
        let ids: Vec<Vec<i64>> = batches.iter().map(|b| b.ids.clone()).collect();
        assert_eq!(ids, [vec![10, 13, 16], vec![11, 14], vec![12], vec![15]]);
        let listed = |b: &Batch| -> Vec<String> {
            let n: Notification = serde_json::from_str(&b.row.payload).unwrap();
            n.group
                .map(|g| g.environments.into_iter().map(|m| m.environment).collect())
                .unwrap_or_default()
        };
        assert_eq!(listed(&batches[0]), ["a", "b", "c"]);
        assert_eq!(listed(&batches[1]), ["a", "b"]);
        assert_eq!(listed(&batches[2]), Vec::<String>::new());
        assert_eq!(listed(&batches[3]), ["c"]);
        assert_eq!(batches[0].row.id, 10);
    }
}

/// What each channel kind makes of a group: every member named, one key for the group.
#[cfg(test)]
mod payload_tests {
    use super::*;
    use crate::alert::channels::{
        discord, google_chat, mattermost, opsgenie, pagerduty, slack, teams, telegram, webhook,
    };
    use crate::alert::facts;
    use crate::alert::notification::EventName;
    use crate::alert::notification::tests::sample;

    /// The sample, as the group `g7` of staging, prod and edge.
    fn grouped(event: EventName) -> Notification {
        let mut n = sample(event);
        let incident = n.incident.clone().unwrap();
        let member = |environment: &str, id: i64| GroupMember {
            environment: environment.to_owned(),
            incident_id: id,
            state: incident.state.clone(),
            verdict: incident.verdict,
            location: Some("us-central1".into()),
            started_at: incident.started_at,
            resolved_at: incident.resolved_at,
            diagnosis: incident.diagnosis.clone(),
        };
        n.group = Some(Group {
            key: "g7".into(),
            labels: [("verdict".to_owned(), "closed_before_ready".to_owned())].into(),
            environments: vec![member("staging", 7), member("prod", 8), member("edge", 9)],
        });
        n
    }

    #[test]
    fn a_group_is_one_key_and_one_headline_naming_every_member() {
        let now = "2026-11-22T23:10:00Z".parse().unwrap();
        let cases = [
            (
                EventName::Triggered,
                "3 environments (staging, prod, edge) are down: closed_before_ready",
                "trigger",
            ),
            (
                EventName::Reminder,
                "3 environments (staging, prod, edge) are still down since 2026-11-22 22:45 UTC: closed_before_ready",
                "trigger",
            ),
            (
                EventName::Resolved,
                "3 environments (staging, prod, edge) recovered after 22m 30s (was closed_before_ready)",
                "resolve",
            ),
        ];
        for (event, headline, action) in cases {
            let n = grouped(event);
            assert_eq!(n.headline(), headline);
            let page = pagerduty::payload(&n, "KEY", "critical", "oncall", now);
            assert_eq!(page["dedup_key"], "wsprobe-group-g7", "{event}");
            assert_eq!(page["event_action"], action, "{event}");
            assert_eq!(opsgenie::alias(&n, "genie"), "wsprobe-group-g7");
        }
        let body = webhook::body(&grouped(EventName::Triggered), now);
        assert_eq!(body["environment"], "staging", "the leader's fields stay");
        assert_eq!(
            body["group"]["environments"][1],
            serde_json::json!({
                "environment": "prod", "incident_id": 8, "state": "open",
                "verdict": "closed_before_ready", "location": "us-central1",
                "started_at": "2026-11-22T22:45:00.000Z", "resolved_at": null,
                "diagnosis": "Closed 1011 \"Internal error\" 63 ms after the upgrade.",
            })
        );
        assert_eq!(
            body["group"]["labels"],
            serde_json::json!({"verdict": "closed_before_ready"})
        );
        // A group of one is the environment's own notification, with its group.
        let mut one = grouped(EventName::Triggered);
        one.group.as_mut().unwrap().environments.truncate(1);
        assert_eq!(one.headline(), "staging is down: closed_before_ready");
    }

    #[test]
    fn every_chat_kind_lists_every_member() {
        let n = grouped(EventName::Triggered);
        let kinds: [(&str, String); 9] = [
            ("slack", slack::payload(&n, "c").to_string()),
            (
                "discord",
                discord::payload(&n, "c", n.result.as_ref().unwrap().started_at).to_string(),
            ),
            ("teams", teams::payload(&n, "c").to_string()),
            ("google_chat", google_chat::payload(&n, "c").to_string()),
            ("mattermost", mattermost::payload(&n, "c").to_string()),
            ("telegram", telegram::payload(&n, "42", "c").to_string()),
            (
                "opsgenie",
                opsgenie::create_payload(&n, "P1", "c").to_string(),
            ),
            ("text (email, ntfy)", facts::plain_lines(&n, "c").join("\n")),
            ("title", facts::title(&n)),
        ];
        for (kind, text) in kinds {
            for env in ["staging", "prod", "edge"] {
                assert!(text.contains(env), "{kind} does not name {env}: {text}");
            }
        }
        assert!(
            facts::plain_lines(&n, "c").contains(
                &"Environments: staging (closed_before_ready, open), prod (closed_before_ready, open), edge (closed_before_ready, open)".to_owned()
            )
        );
    }

    #[test]
    fn groups_come_back_from_their_stored_triggers() {
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let stored: Vec<(String, DateTime<Utc>)> = [("staging", 7), ("prod", 8)]
            .into_iter()
            .flat_map(|(env, id)| {
                let mut n = grouped(EventName::Triggered);
                let group = n.group.as_mut().unwrap();
                group
                    .environments
                    .retain(|m| m.environment == env && m.incident_id == id);
                let payload = serde_json::to_string(&n).unwrap();
                // One row per channel.
                [payload.clone(), payload]
            })
            .map(|payload| (payload, at("2026-11-22T22:50:30Z")))
            .chain([("not a notification".to_owned(), at("2026-11-22T22:50:30Z"))])
            .collect();
        let mut grouper = Grouper::restored(&stored);
        assert_eq!(grouper.group_of(8).unwrap().environments.len(), 2);
        assert_eq!(grouper.sends_at(7), Some(at("2026-11-22T22:50:30Z")));
        assert!(grouper.lead(7) && !grouper.lead(8));
        assert_eq!(
            grouper.resolve(7, at("2026-11-22T23:00:00Z")).map(|r| r.1),
            Some(false)
        );
        assert_eq!(
            grouper.resolve(8, at("2026-11-22T23:00:00Z")).map(|r| r.1),
            Some(true)
        );
    }
}

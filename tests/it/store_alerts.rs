//! Alerting's tables through the one store interface, on every backend this machine has: an
//! alert step's transaction (incident, notifications, state) all or nothing, the outbox's
//! lifecycle, the state read back as the engine left it, the notes written on an incident, and
//! acknowledgements and silences seen through another store on the same database.

use chrono::{DateTime, Utc};
use wsprobe::incident::{MachineState, Open, Recent};
use wsprobe::oncall::{Acknowledgement, Matchers, NewSilence, SilenceState};
use wsprobe::probe::Verdict;
use wsprobe::store::{
    AckOutcome, AlertState, DeliveryState, ExpireOutcome, IncidentFilter, IncidentState, NewNote,
    NewNotification, NoteStatus, Store,
};

use crate::helpers::store::each_backend;

fn at(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(1_796_000_000_000 + ms).unwrap()
}

fn open_state(id: i64) -> AlertState {
    AlertState {
        state: MachineState {
            failures: 2,
            successes: 0,
            failing_since: Some(at(0)),
            open: Some(Open {
                since: at(0),
                opened_at: at(60_000),
                verdict: Verdict::ConnectRefused,
                last_notice_at: at(60_000),
                announced: true,
                acknowledged: false,
                flapping: false,
            }),
            recent: Recent { bits: 0b11, len: 5 },
        },
        incident_id: Some(id),
        diagnosis: Some("Nothing listens on 127.0.0.1:1.".into()),
    }
}

fn notification<'a>(incident_id: i64, channel: &'a str, payload: &'a str) -> NewNotification<'a> {
    NewNotification {
        incident_id,
        channel,
        kind: "webhook",
        event: "triggered",
        payload,
        state: DeliveryState::Pending,
        at: at(60_000),
        attempts: 0,
        due_at: at(60_000),
        last_error: None,
        finished_at: None,
    }
}

async fn an_alert_step_and_its_outbox(store: &Store) {
    assert_eq!(store.alerts().next_incident_id().await.unwrap(), 1);
    let state = open_state(1);
    let open = state.state.open.clone().unwrap();

    // A step that fails half-way leaves nothing behind.
    let mut tx = store.alerts().begin_alerts("api").await.unwrap();
    tx.insert_incident(1, &open, "first try").await.unwrap();
    drop(tx);
    assert_eq!(store.alerts().next_incident_id().await.unwrap(), 1);

    let mut tx = store.alerts().begin_alerts("api").await.unwrap();
    // A NUL from a server's close reason must not cost the incident.
    tx.insert_incident(1, &open, "Nothing listens on 127.0.0.1:1.\0")
        .await
        .unwrap();
    let audit = tx
        .enqueue(&notification(1, "audit", r#"{"event":"triggered"}"#))
        .await
        .unwrap();
    let slack = tx
        .enqueue(&notification(1, "slack", r#"{"event":"triggered"}"#))
        .await
        .unwrap();
    tx.save_state(&state).await.unwrap();
    tx.commit().await.unwrap();

    assert_eq!(store.alerts().next_incident_id().await.unwrap(), 2);
    assert_eq!(
        store.alerts().open_incidents().await.unwrap(),
        [("api".to_owned(), 1)]
    );
    let states = store.alerts().alert_states().await.unwrap();
    assert_eq!(states.len(), 1);
    assert_eq!(states[0].0, "api");
    assert_eq!(states[0].1.state, state.state);
    assert_eq!(states[0].1.incident_id, Some(1));

    // Due now: both, earliest first; one delivered, one retried later, then failed for good.
    let due = store
        .alerts()
        .due_notifications(at(61_000), 10)
        .await
        .unwrap();
    assert_eq!(due.iter().map(|n| n.id).collect::<Vec<_>>(), [audit, slack]);
    assert_eq!(due[0].payload, r#"{"event":"triggered"}"#);
    store
        .alerts()
        .notification_delivered(audit, 1, at(61_000))
        .await
        .unwrap();
    store
        .alerts()
        .notification_retry(slack, 1, at(120_000), "HTTP 503")
        .await
        .unwrap();
    assert_eq!(
        store.alerts().next_notification_due().await.unwrap(),
        Some(at(120_000))
    );
    assert!(
        store
            .alerts()
            .due_notifications(at(61_000), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .alerts()
            .overdue_notifications(at(200_000))
            .await
            .unwrap(),
        1
    );
    store
        .alerts()
        .notification_failed(slack, 2, at(121_000), "HTTP 404")
        .await
        .unwrap();
    let failed = store
        .alerts()
        .failed_notifications(at(0), 10)
        .await
        .unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].environment, "api");
    assert_eq!(failed[0].last_error.as_deref(), Some("HTTP 404"));
    // A finished notification is not touched again.
    store
        .alerts()
        .notification_delivered(slack, 3, at(122_000))
        .await
        .unwrap();

    // Resolve, and the timeline reads back in order.
    let mut tx = store.alerts().begin_alerts("api").await.unwrap();
    tx.set_incident_verdict(1, Verdict::DnsFailed, "The name does not resolve.")
        .await
        .unwrap();
    tx.resolve_incident(1, at(300_000)).await.unwrap();
    tx.save_state(&AlertState::default()).await.unwrap();
    tx.commit().await.unwrap();
    let incidents = store
        .alerts()
        .incidents(&IncidentFilter {
            state: Some(IncidentState::Resolved),
            environment: Some("api"),
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(incidents.len(), 1);
    let incident = &incidents[0];
    assert_eq!(incident.verdict, Verdict::DnsFailed);
    assert_eq!(incident.started_at, at(0));
    assert_eq!(incident.opened_at, at(60_000));
    assert_eq!(incident.resolved_at, Some(at(300_000)));
    let outcomes: Vec<(&str, DeliveryState, u32)> = incident
        .notifications
        .iter()
        .map(|n| (n.channel.as_str(), n.outcome, n.attempts))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("audit", DeliveryState::Delivered, 1),
            ("slack", DeliveryState::Failed, 2)
        ]
    );
    assert_eq!(incident.notifications[0].sent_at, Some(at(61_000)));
    assert!(store.alerts().open_incidents().await.unwrap().is_empty());
    assert!(
        store
            .alerts()
            .incidents(&IncidentFilter {
                state: Some(IncidentState::Open),
                environment: None,
                limit: 10,
            })
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn an_alert_step_is_all_or_nothing_and_the_outbox_keeps_its_timeline() {
    for backend in each_backend().await {
        eprintln!("alert tables on {}", backend.name);
        an_alert_step_and_its_outbox(&backend.store).await;
        backend.store.close().await;
    }
}

async fn notes_on_an_incident(store: &Store) {
    let open = open_state(1).state.open.unwrap();
    let mut tx = store.alerts().begin_alerts("api").await.unwrap();
    tx.insert_incident(1, &open, "down").await.unwrap();
    tx.commit().await.unwrap();
    assert!(store.alerts().incident(2).await.unwrap().is_none());

    let mut tx = store.alerts().begin_alerts("api").await.unwrap();
    let first = tx
        .insert_note(
            1,
            &NewNote {
                status: Some(NoteStatus::Investigating),
                // A NUL must not cost the note on PostgreSQL.
                message: "Looking\0 into it",
                author: Some("ana"),
                at: at(61_000),
            },
        )
        .await
        .unwrap();
    let second = tx
        .insert_note(
            1,
            &NewNote {
                status: None,
                message: "Still on it",
                author: None,
                at: at(62_000),
            },
        )
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert!(second.id > first.id);
    assert_eq!(first.created_at, at(61_000));

    let incident = store.alerts().incident(1).await.unwrap().unwrap();
    assert_eq!(
        incident.notes,
        [first.clone(), second.clone()],
        "oldest first"
    );
    assert_eq!(first.status, Some(NoteStatus::Investigating));
    assert!(first.message.starts_with("Looking") && first.message.ends_with(" into it"));
    let listed = store
        .alerts()
        .incidents(&IncidentFilter {
            state: None,
            environment: None,
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(listed[0].notes, incident.notes);

    // A note without its incident is refused, and leaves nothing.
    let mut tx = store.alerts().begin_alerts("api").await.unwrap();
    let orphan = NewNote {
        status: None,
        message: "nobody's",
        author: None,
        at: at(63_000),
    };
    assert!(tx.insert_note(99, &orphan).await.is_err());
}

#[tokio::test]
async fn notes_are_kept_with_their_incident_oldest_first() {
    for backend in each_backend().await {
        eprintln!("incident notes on {}", backend.name);
        notes_on_an_incident(&backend.store).await;
        backend.store.close().await;
    }
}

/// An acknowledgement and silences written through one store are read through another on
/// the same database: what another process, or another instance of a fleet, sees.
#[tokio::test]
async fn acknowledgements_and_silences_are_seen_by_every_store_on_the_database() {
    for backend in each_backend().await {
        eprintln!("acknowledgements and silences on {}", backend.name);
        let other = backend.another().await;
        acknowledged_by_one_seen_by_another(&backend.store, &other).await;
        silenced_by_one_seen_by_another(&backend.store, &other).await;
        other.close().await;
        backend.store.close().await;
    }
}

async fn acknowledged_by_one_seen_by_another(store: &Store, other: &Store) {
    let state = open_state(1);
    let mut tx = store.alerts().begin_alerts("api").await.unwrap();
    tx.insert_incident(1, state.state.open.as_ref().unwrap(), "refused")
        .await
        .unwrap();
    tx.insert_incident(2, state.state.open.as_ref().unwrap(), "refused")
        .await
        .unwrap();
    tx.resolve_incident(2, at(90_000)).await.unwrap();
    tx.save_state(&state).await.unwrap();
    tx.commit().await.unwrap();

    let ack = Acknowledgement {
        by: "alice".into(),
        at: at(70_000),
        comment: Some("looking \0into it".into()),
    };
    let AckOutcome::Acknowledged(incident) = store.alerts().acknowledge(1, &ack).await.unwrap()
    else {
        panic!("incident 1 is open and nobody acknowledged it");
    };
    let kept = incident.acknowledged.clone().unwrap();
    assert_eq!((kept.by.as_str(), kept.at), ("alice", at(70_000)));
    let second = Acknowledgement {
        by: "bob".into(),
        ..ack.clone()
    };
    let outcome = other.alerts().acknowledge(1, &second).await.unwrap();
    assert!(
        matches!(&outcome, AckOutcome::AlreadyAcknowledged(i) if i.acknowledged.as_ref().unwrap().by == "alice"),
        "the first one stands: {outcome:?}"
    );
    assert!(matches!(
        other.alerts().acknowledge(2, &ack).await.unwrap(),
        AckOutcome::Resolved(_)
    ));
    assert_eq!(
        other.alerts().acknowledge(99, &ack).await.unwrap(),
        AckOutcome::NoSuchIncident
    );
    // The other store reads it with the incident and in the engine's state.
    let seen = other.alerts().incident(1).await.unwrap().unwrap();
    assert_eq!(seen.acknowledged, incident.acknowledged);
    let states = other.alerts().alert_states().await.unwrap();
    assert!(states[0].1.state.open.as_ref().unwrap().acknowledged);
    assert_eq!(other.alerts().incident(99).await.unwrap(), None);
}

async fn silenced_by_one_seen_by_another(store: &Store, other: &Store) {
    let now = at(100_000);
    let new = |environment: &str, from: i64, to: i64| NewSilence {
        matchers: Matchers {
            environment: Some(environment.into()),
            verdict: Some("connect_*".into()),
            ..Matchers::default()
        },
        starts_at: at(from),
        ends_at: at(to),
        created_by: "alice".into(),
        comment: "deploy".into(),
    };
    let active = store
        .alerts()
        .add_silence(&new("api", 0, 600_000), now)
        .await
        .unwrap();
    let pending = store
        .alerts()
        .add_silence(&new("web*", 200_000, 900_000), now)
        .await
        .unwrap();
    assert_eq!(pending.state(now), SilenceState::Pending);
    let current = other.alerts().silences(false, now, 100).await.unwrap();
    assert_eq!(current, [pending.clone(), active.clone()], "newest first");

    let ExpireOutcome::Expired(expired) = other
        .alerts()
        .expire_silence(active.id, at(150_000))
        .await
        .unwrap()
    else {
        panic!("an active silence expires");
    };
    assert_eq!(expired.expired_at, Some(at(150_000)));
    assert_eq!(expired.state(at(150_000)), SilenceState::Expired);
    assert!(matches!(
        store
            .alerts()
            .expire_silence(active.id, at(160_000))
            .await
            .unwrap(),
        ExpireOutcome::AlreadyOver(_)
    ));
    assert_eq!(
        store.alerts().expire_silence(999, now).await.unwrap(),
        ExpireOutcome::NoSuchSilence
    );
    let current = store
        .alerts()
        .silences(false, at(160_000), 100)
        .await
        .unwrap();
    assert_eq!(current, std::slice::from_ref(&pending));
    let all = store
        .alerts()
        .silences(true, at(160_000), 100)
        .await
        .unwrap();
    assert_eq!(all, [pending, expired]);
}

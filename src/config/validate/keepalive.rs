//! `keepalive`: heartbeats answered (`when`) and messages sent on a timer (`every`), each
//! entry one of the two.

use super::environment::{Carrier, TokenUses};
use super::*;

/// A timer faster than this floods the server rather than keeping the session alive.
const MIN_EVERY: Duration = Duration::from_millis(100);

impl Validator<'_> {
    /// The environment's `keepalive` list, or `defaults.keepalive`.
    pub(super) fn keepalive<'r>(
        &self,
        layers: &Layers<'r>,
        token_uses: &mut TokenUses<'r>,
    ) -> Result<Vec<Keepalive>> {
        let Some((list, key)) = layers.pick(|e| &e.keepalive, "keepalive") else {
            return Ok(Vec::new());
        };
        let mut keepalive = Vec::with_capacity(list.len());
        for (i, raw) in list.iter().enumerate() {
            let key = format!("{key}[{i}]");
            if let Some(send) = &raw.value.send {
                let send_key = format!("{key}.send");
                if uses_token(&send.value).map_err(|m| self.err(send, &send_key, m))? {
                    token_uses.push((&send.referenced, send_key, Carrier::Message));
                }
            }
            keepalive.push(self.keepalive_entry(raw, &key)?);
        }
        Ok(keepalive)
    }

    fn keepalive_entry(&self, raw: &Located<RawKeepalive>, key: &str) -> Result<Keepalive> {
        let entry = &raw.value;
        let send = entry.send.as_ref().map(|send| send.value.clone());
        match (&entry.when, &entry.every) {
            (Some(when), None) => {
                let when_key = format!("{key}.when");
                match self.matcher(&MatcherKeys::of_match(&when.value), &when_key)? {
                    // Every message would be a heartbeat, and no step would ever see one.
                    Matcher::Any => Err(self.err(
                        when,
                        &when_key,
                        "`when` needs a matcher (json, contains, equals, prefix, regex or binary): an empty one would take every message from the steps",
                    )),
                    when => Ok(Keepalive::Answer { when, send }),
                }
            }
            (None, Some(every)) => {
                let every_key = format!("{key}.every");
                let period = self.positive_duration(every, &every_key)?;
                if period < MIN_EVERY {
                    return Err(self.err(
                        every,
                        &every_key,
                        "more often than every 100ms floods the server rather than keeping the session alive",
                    ));
                }
                let send = send.ok_or_else(|| {
                    self.err(raw, key, "a timer needs `send`: the message to send every time")
                })?;
                Ok(Keepalive::Every {
                    every: period,
                    send,
                })
            }
            (Some(_), Some(every)) => Err(self.err(
                every,
                &format!("{key}.every"),
                "a keepalive answers a message (`when`) or sends on a timer (`every`), not both: make them two entries",
            )),
            (None, None) => Err(self.err(
                raw,
                key,
                "a keepalive needs `when: {...}` (answer a heartbeat) or `every: 30s` (send on a timer)",
            )),
        }
    }
}

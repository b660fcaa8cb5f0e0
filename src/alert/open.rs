//! Which subjects have an incident open, and who hears when one opens or closes: the one
//! owner of that fact, so the `wsprobe.incidents.open` gauge follows it from one place.

use std::collections::BTreeMap;

use parking_lot::{Mutex, RwLock};

type OpenHook = Box<dyn Fn(&str, bool) + Send + Sync>;

#[derive(Default)]
pub struct OpenIncidents {
    /// Open incident id per subject (an environment, or a quiet location or instance).
    by_subject: Mutex<BTreeMap<String, i64>>,
    hooks: RwLock<Vec<OpenHook>>,
}

impl OpenIncidents {
    pub fn new(open: BTreeMap<String, i64>) -> OpenIncidents {
        OpenIncidents {
            by_subject: Mutex::new(open),
            hooks: RwLock::new(Vec::new()),
        }
    }

    /// Call `hook(subject, open)` whenever a subject's incident opens or closes.
    pub fn on_change(&self, hook: impl Fn(&str, bool) + Send + Sync + 'static) {
        self.hooks.write().push(Box::new(hook));
    }

    /// Tell the hooks again of every incident open now (a listener that forgot, such as
    /// metrics after a reload, hears it once more).
    pub fn announce(&self) {
        let open: Vec<String> = self.by_subject.lock().keys().cloned().collect();
        self.tell(open.iter().map(|subject| (subject.as_str(), true)));
    }

    /// `subject` has incident `id` open, or none.
    pub fn set(&self, subject: &str, id: Option<i64>) {
        let changed = {
            let mut open = self.by_subject.lock();
            match id {
                Some(id) => open.insert(subject.to_owned(), id).is_none(),
                None => open.remove(subject).is_some(),
            }
        };
        if changed {
            self.tell([(subject, id.is_some())]);
        }
    }

    /// Exactly these are open now.
    pub fn replace(&self, open: BTreeMap<String, i64>) {
        let before = std::mem::replace(&mut *self.by_subject.lock(), open.clone());
        let closed = before.keys().filter(|subject| !open.contains_key(*subject));
        let opened = open.keys().filter(|subject| !before.contains_key(*subject));
        let changes: Vec<(&str, bool)> = closed
            .map(|subject| (subject.as_str(), false))
            .chain(opened.map(|subject| (subject.as_str(), true)))
            .collect();
        self.tell(changes);
    }

    pub fn all(&self) -> BTreeMap<String, i64> {
        self.by_subject.lock().clone()
    }

    pub fn get(&self, subject: &str) -> Option<i64> {
        self.by_subject.lock().get(subject).copied()
    }

    fn tell<'a>(&self, changes: impl IntoIterator<Item = (&'a str, bool)>) {
        let hooks = self.hooks.read();
        for (subject, open) in changes {
            for hook in hooks.iter() {
                hook(subject, open);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn hooks_hear_each_change_once() {
        let open = OpenIncidents::new(BTreeMap::from([("a".to_owned(), 1)]));
        let heard = Arc::new(Mutex::new(Vec::new()));
        let into = heard.clone();
        open.on_change(move |subject, is_open| into.lock().push((subject.to_owned(), is_open)));
        open.set("b", Some(2));
        open.set("b", Some(2));
        open.set("a", None);
        open.set("a", None);
        open.replace(BTreeMap::from([("c".to_owned(), 3)]));
        open.announce();
        let heard = heard.lock().clone();
        let heard: Vec<(&str, bool)> = heard
            .iter()
            .map(|(subject, is_open)| (subject.as_str(), *is_open))
            .collect();
        assert_eq!(
            heard,
            [
                ("b", true),
                ("a", false),
                ("b", false),
                ("c", true),
                ("c", true)
            ]
        );
    }
}

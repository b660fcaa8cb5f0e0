//! `depends_on`: every name an environment of this file, and no cycle (a page held for a
//! parent that is held for its child would never go out).

use super::*;

impl Validator<'_> {
    /// Check every environment's `depends_on` against the others; the names are already in
    /// each `Environment`.
    pub(super) fn dependencies(
        &self,
        raw_envs: &Located<Vec<Located<Box<RawEnvironment>>>>,
        environments: &[Arc<Environment>],
    ) -> Result<()> {
        let names: Vec<&str> = environments.iter().map(|env| env.name.as_str()).collect();
        let mut errors = Vec::new();
        for (index, raw) in raw_envs.value.iter().enumerate() {
            for (i, parent) in raw.value.depends_on.iter().flatten().enumerate() {
                let key = format!("environments[{index}].depends_on[{i}]");
                if !names.contains(&parent.value.as_str()) {
                    let hint = super::super::wording::did_you_mean(&parent.value, &names)
                        .map(|name| format!(" (did you mean {name:?}?)"))
                        .unwrap_or_default();
                    errors.push(self.err(
                        parent,
                        &key,
                        format!("no environment is named {:?}{hint}", parent.value),
                    ));
                } else if let Some(cycle) = cycle_through(environments, index, &parent.value) {
                    errors.push(self.err(
                        parent,
                        &key,
                        format!(
                            "a cycle: {}; an environment cannot wait for one that waits for it",
                            cycle.join(" → ")
                        ),
                    ));
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::many(errors))
        }
    }
}

/// The path from environment `from` back to itself through `parent`, if there is one.
fn cycle_through(
    environments: &[Arc<Environment>],
    from: usize,
    parent: &str,
) -> Option<Vec<String>> {
    let start = environments[from].name.as_str();
    let mut path = vec![start.to_owned(), parent.to_owned()];
    let mut seen = std::collections::HashSet::new();
    if walk(environments, parent, start, &mut path, &mut seen) {
        Some(path)
    } else {
        None
    }
}

/// Depth-first from `at`: whether `target` is reachable, leaving the way there in `path`.
fn walk(
    environments: &[Arc<Environment>],
    at: &str,
    target: &str,
    path: &mut Vec<String>,
    seen: &mut std::collections::HashSet<String>,
) -> bool {
    if at == target {
        return true;
    }
    if !seen.insert(at.to_owned()) {
        return false;
    }
    let Some(env) = environments.iter().find(|env| env.name.as_str() == at) else {
        return false;
    };
    for next in &env.depends_on {
        path.push(next.clone());
        if walk(environments, next, target, path, seen) {
            return true;
        }
        path.pop();
    }
    false
}

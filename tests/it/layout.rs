//! The rule of direction in `src/lib.rs`, checked on the source itself: the top-level modules
//! form no import cycle, and no library module reaches back into the command line.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Top-level module -> the top-level modules its code names through `crate::`.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if name == "main" || name == "lib" {
            continue;
        }
        let mut files = Vec::new();
        collect_rust_files(&path, &mut files);
        let uses = graph.entry(name.clone()).or_default();
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for target in crate_references(&text) {
                if target != name {
                    uses.insert(target);
                }
            }
        }
    }
    graph
}

fn collect_rust_files(path: &Path, files: &mut Vec<std::path::PathBuf>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            collect_rust_files(&entry.unwrap().path(), files);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        files.push(path.to_path_buf());
    }
}

/// The first segment after every `crate::` outside comments, grouped imports included
/// (`use crate::{check, config::Config};`).
fn crate_references(text: &str) -> Vec<String> {
    let code: String = text
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut found = Vec::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let head: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !head.is_empty() && head != "self" {
                    found.push(head);
                }
            }
        } else {
            let head: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !head.is_empty() {
                found.push(head);
            }
        }
    }
    found
}

fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| n == node) {
            let mut cycle = path[start..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn top_level_modules_form_no_cycle() {
    let graph = module_graph();
    assert!(graph.contains_key("daemon") && graph.contains_key("probe"));
    assert_eq!(find_cycle(&graph), None, "import cycle in {graph:#?}");
}

#[test]
fn only_the_binary_uses_the_command_line() {
    let users: Vec<_> = module_graph()
        .into_iter()
        .filter(|(name, uses)| name != "cli" && uses.contains("cli"))
        .map(|(name, _)| name)
        .collect();
    assert!(users.is_empty(), "library modules import cli: {users:?}");
}

#[test]
fn references_are_read_from_grouped_imports_too() {
    let text = "use crate::{check, config::Config};\n// crate::web in a comment\nlet x = crate::probe::run();";
    assert_eq!(crate_references(text), ["check", "config", "probe"]);
}

/// The modules in the order `src/lib.rs`'s "# Layout" lists them.
fn layout_order() -> Vec<String> {
    let lib =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    lib.lines()
        .filter_map(|line| line.strip_prefix("//! - [`"))
        .filter_map(|rest| rest.split('`').next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_module_uses_only_modules_listed_above_it() {
    let order = layout_order();
    let graph = module_graph();
    for module in graph.keys() {
        assert!(
            order.contains(module),
            "{module} is missing from lib.rs's # Layout"
        );
    }
    let mut violations = Vec::new();
    for (module, uses) in &graph {
        let at = order.iter().position(|m| m == module).unwrap();
        for used in uses {
            match order.iter().position(|m| m == used) {
                Some(used_at) if used_at < at => {}
                _ => violations.push(format!("{module} uses {used}")),
            }
        }
    }
    assert!(
        violations.is_empty(),
        "against the rule of direction: {violations:?}"
    );
}

#[test]
fn test_files_share_code_only_through_helpers() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it");
    let mut violations = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if name == "layout" {
            // Its own tests spell out `crate::` references as data.
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for target in crate_references(&text) {
            if target != "helpers" {
                violations.push(format!("{name}.rs uses crate::{target}"));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "test files reach into each other: {violations:?}"
    );
}

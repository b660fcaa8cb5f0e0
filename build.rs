use std::path::Path;
use std::process::Command;

fn main() {
    channel_kinds();
    // migrate!() embeds the SQL files at compile time: rebuild when one is added or changed.
    println!("cargo:rerun-if-changed=migrations");
    // --version names the commit: from the build's environment (the Dockerfile passes it, as
    // the image has no .git), else from git, else "unknown commit".
    println!("cargo:rerun-if-env-changed=WSPROBE_COMMIT");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
    let commit = std::env::var("WSPROBE_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(git_commit)
        .unwrap_or_else(|| "unknown commit".to_owned());
    println!("cargo:rustc-env=WSPROBE_COMMIT={}", commit.trim());
}

fn git_commit() -> Option<String> {
    let out = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .filter(|c| !c.is_empty())
}

/// The registry of alert channel kinds, from the files in `src/config/channels/`: a kind is
/// `<kind>.rs` there, declaring `pub struct <Variant>Settings` (or `pub type` naming a shared
/// one), and its notifier beside it in `src/alert/channels/<kind>.rs`. Adding those two files is
/// the whole registration, so a list edited by hand can never disagree with them. Kinds come in
/// the order of their names.
fn channel_kinds() {
    let dir = Path::new("src/config/channels");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut kinds = Vec::new();
    for entry in std::fs::read_dir(dir).expect("src/config/channels is readable") {
        let path = entry.expect("a directory entry").path();
        let Some(kind) = path
            .file_stem()
            .and_then(|s| s.to_str())
            .filter(|_| path.extension().is_some_and(|e| e == "rs"))
        else {
            continue;
        };
        let text = std::fs::read_to_string(&path).expect("a channel kind's file is readable");
        let settings = text.lines().find_map(|line| {
            let name = line
                .strip_prefix("pub struct ")
                .or_else(|| line.strip_prefix("pub type "))?;
            let name: String = name
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            name.ends_with("Settings").then_some(name)
        });
        if let Some(settings) = settings {
            let variant = settings.trim_end_matches("Settings").to_owned();
            kinds.push((kind.to_owned(), variant, settings));
        }
    }
    kinds.sort();
    let rows: String = kinds
        .iter()
        .map(|(kind, variant, settings)| format!("            {kind}: {variant}({settings}),\n"))
        .collect();
    let registry = format!(
        "/// Every channel kind, once: `module: Variant(Settings)`, made by build.rs from the files\n\
         /// in src/config/channels/.\n\
         macro_rules! channel_kinds {{\n    ($then:ident) => {{\n        $then! {{\n{rows}        }}\n    }};\n}}\n"
    );
    let out =
        Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("channel_kinds.rs");
    std::fs::write(out, registry).expect("OUT_DIR is writable");
}

use std::process::Command;

fn main() {
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

//! The test servers' Python environment, `tests/servers/.venv`, made from the pinned
//! `tests/servers/requirements.txt` by `.ci/run`, or here, once per run, on a developer's machine
//! where it is missing or was made from other requirements (it keeps a copy of the ones it was
//! made from). Under CI a missing or stale one is a failure; elsewhere the tests that need it
//! say why and skip.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

fn servers() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/servers")
}

/// The venv's Python with every package of the requirements; `None` (and a word naming `what`
/// needed it) where it cannot be made, outside CI.
pub fn python(what: &str) -> Option<PathBuf> {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let made = PYTHON.get_or_init(|| {
        let venv = servers().join(".venv");
        if is_current(&venv) {
            return Ok(venv.join("bin/python"));
        }
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have {} made from tests/servers/requirements.txt (.ci/run makes it)",
            venv.display()
        );
        make_venv(&venv).map(|()| venv.join("bin/python"))
    });
    match made {
        Ok(python) => Some(python.clone()),
        Err(why) => {
            eprintln!("skipped: no {what} to test against ({why})");
            None
        }
    }
}

/// Made, and from these very requirements.
fn is_current(venv: &Path) -> bool {
    let wanted = std::fs::read(servers().join("requirements.txt")).ok();
    let made_from = std::fs::read(venv.join("requirements.txt")).ok();
    venv.join("bin/python").exists() && wanted.is_some() && wanted == made_from
}

/// `python3 -m venv` and `pip install -r requirements.txt`, in a folder of its own first so
/// that a half-made venv is never taken for a good one, then moved into place.
fn make_venv(venv: &Path) -> Result<(), String> {
    let building = venv.with_extension(format!("building-{}", std::process::id()));
    let run = |command: &mut Command| -> Result<(), String> {
        let out = command
            .output()
            .map_err(|err| format!("{command:?}: {err}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{command:?}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    };
    let requirements = servers().join("requirements.txt");
    run(Command::new("python3").args(["-m", "venv"]).arg(&building))?;
    run(Command::new(building.join("bin/python"))
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
        ])
        .arg(&requirements))?;
    std::fs::copy(&requirements, building.join("requirements.txt"))
        .map_err(|err| format!("cannot keep the requirements in the venv: {err}"))?;
    let _ = std::fs::remove_dir_all(venv);
    match std::fs::rename(&building, venv) {
        Ok(()) => Ok(()),
        // Another run made it meanwhile.
        Err(_) if is_current(venv) => {
            let _ = std::fs::remove_dir_all(&building);
            Ok(())
        }
        Err(err) => Err(format!("cannot move the venv into place: {err}")),
    }
}

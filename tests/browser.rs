//! Runs the browser tests in `tests/browser/` (Node's test runner driving the system
//! chromium through playwright-core) against the server binary cargo just built.
//!
//! Needs Node.js 20 or later, chromium (`apt-get install -y chromium`, or set `CHROMIUM_PATH`)
//! and `npm ci --prefix tests/browser`. Missing pieces fail the test: they never skip it.

use std::path::{Path, PathBuf};
use std::process::Command;

const SETUP: &str = "the browser tests need Node.js >= 20, chromium at /usr/bin/chromium \
     (apt-get install -y chromium, or set CHROMIUM_PATH) and their npm packages: \
     run `npm ci --prefix tests/browser`";

#[test]
fn browser_tests_pass() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("tests").join("browser");
    let node = std::env::var("NODE").unwrap_or_else(|_| "node".to_string());

    match Command::new(&node).arg("--version").output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!("`{node} --version` failed ({}); {SETUP}", String::from_utf8_lossy(&out.stderr)),
        Err(e) => panic!("cannot run `{node}` ({e}); {SETUP}"),
    }
    let chromium = std::env::var_os("CHROMIUM_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(chromium.exists(), "chromium not found at {}; {SETUP}", chromium.display());
    assert!(
        dir.join("node_modules/playwright-core/package.json").exists(),
        "{} is missing playwright-core; {SETUP}",
        dir.join("node_modules").display()
    );

    // The test files are passed one by one: `node --test <dir>` is read differently by
    // different Node versions (a directory before 21, a glob pattern after).
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/browser exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(".test.js")))
        .map(|p| p.strip_prefix(root).map(Path::to_path_buf).unwrap_or(p))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no *.test.js files in {}", dir.display());

    let out = Command::new(&node)
        .arg("--test")
        .args(&files)
        .current_dir(root)
        .env("SWITCHBOARD_BIN", env!("CARGO_BIN_EXE_switchboard"))
        .env("CHROMIUM_PATH", &chromium)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{node} --test` ({e}); {SETUP}"));
    assert!(
        out.status.success(),
        "browser tests failed ({}):\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

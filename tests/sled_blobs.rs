//! sled's blob files across a power cut, as we patch sled (vendor/sled/PATCHES.md).
//!
//! sled writes a page bigger than about 128 KiB to a file of its own, a blob, which its log
//! points to. Released sled 0.34.7 neither syncs blobs nor their directory, and removes a
//! replaced blob as soon as its replacement is written, before anything made it durable. A
//! durable log pointing to a lost blob then opens with pages missing, or not at all ("tried
//! to serialize Uninitialized", which broke the power-cut test about once in 200 cuts).
//! Each test here runs a scenario twice on LazyFS (tests/lazyfs): with sled as patched,
//! where every write the durable log holds must come back, and with the patch switched off,
//! where the same cut must lose something (so the scenario does reach the bug the patch
//! fixes).
//!
//! A scenario writes in a child process that then dies without closing sled (closing would
//! `fsync` its log, as a power cut does not), and the power is cut once it has gone.

mod lazyfs;

use std::fs::File;
use std::path::Path;
use std::process::Command;

/// Set in the child process: which scenario to write, where, and whether sled is patched.
const CHILD: &str = "SLED_BLOBS_CHILD";
/// What the child prints once it has written its scenario.
const WRITTEN: &str = "scenario written";
/// A value of this size makes every node holding it a blob.
const BIG: usize = 300 * 1024;
/// Values of this size stay inline, but a leaf of 17 of them is a blob.
const LARGE: usize = 100 * 1024;

fn value(seed: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

fn config(dir: &Path, patched: bool) -> sled::Config {
    sled::Config::new().path(dir).flush_every_ms(None).power_safe(patched)
}

fn sync_dir(dir: &Path) {
    File::open(dir).unwrap().sync_all().unwrap();
}

/// What a store does once sled has opened: makes the directory as it stands durable.
fn sync_everything(dir: &Path) {
    for d in [dir.join("blobs"), dir.to_owned()] {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                File::open(&path).unwrap().sync_all().unwrap();
            }
        }
        sync_dir(&d);
    }
}

/// A checkpoint as `store::checkpoint` makes one: sled's log flushed and `fdatasync`ed.
fn checkpoint(db: &sled::Db, dir: &Path) {
    db.flush().unwrap();
    File::open(dir.join("db")).unwrap().sync_data().unwrap();
}

/// The child's side: writes `scenario`, then dies as a killed process would.
#[test]
#[ignore = "run by the tests below, in a child process"]
fn child() {
    let Ok(spec) = std::env::var(CHILD) else { return };
    // A failure must not unwind either: dropping sled would sync its log.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("{info}");
        std::process::abort();
    }));
    let mut parts = spec.splitn(3, '|');
    let (scenario, patched, dir) =
        (parts.next().unwrap(), parts.next().unwrap() == "patched", parts.next().unwrap());
    let dir = Path::new(dir);
    let db = config(dir, patched).open().unwrap();
    sync_everything(dir);
    match scenario {
        "new" => {
            // Leaves split as they pass 16 entries: each new right half is a page whose first
            // record points to a blob. A page allocated after them points to none.
            let tree = db.open_tree("large").unwrap();
            for i in 0..40u8 {
                tree.insert([i], value(i, LARGE)).unwrap();
            }
            db.open_tree("after").unwrap().insert("k", "v").unwrap();
            // The log made durable, as a checkpoint or sled's own fsync when it shortens the
            // file does; the blobs only as durable as sled made them.
            checkpoint(&db, dir);
        }
        "replaced" => {
            let tree = db.open_tree("big").unwrap();
            tree.insert("k", value(1, BIG)).unwrap();
            checkpoint(&db, dir);
            // Replaced after the checkpoint, often enough that sled consolidates the page and
            // so replaces the blob of the first value.
            for seed in 2..14 {
                tree.insert("k", value(seed, BIG)).unwrap();
            }
            // Enough more to fill a few of sled's segments: released sled removes a replaced
            // blob once the segment of its replacement is full.
            let filler = db.open_tree("filler").unwrap();
            for i in 0..40u8 {
                filler.insert([i], value(i, LARGE)).unwrap();
                db.flush().unwrap();
            }
            // Another blob's name made durable (the patch syncs the directory for each new
            // blob), which makes any removal so far durable too.
            tree.insert("k2", value(99, BIG)).unwrap();
            db.flush().unwrap();
            sync_dir(&dir.join("blobs"));
        }
        other => panic!("no scenario {other}"),
    }
    // Dies with sled open: no flush, no fsync on the way out.
    println!("{WRITTEN}");
    std::process::abort();
}

/// Runs `scenario` in a child on LazyFS, cuts the power, and opens what survived: the
/// database, or why it did not open.
fn after_a_cut(scenario: &str, patched: bool) -> Result<sled::Db, String> {
    let work = tempfile::tempdir().unwrap();
    let (backing, dir) = (work.path().join("backing"), work.path().join("data"));
    std::fs::create_dir(&backing).unwrap();
    std::fs::create_dir(&dir).unwrap();
    let mut disk = lazyfs::LazyFs::mount(&backing, &dir).expect("mount lazyfs (root and /dev/fuse needed)");
    let mode = if patched { "patched" } else { "released" };
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "child", "--nocapture", "--test-threads", "1"])
        .env(CHILD, format!("{scenario}|{mode}|{}", dir.display()))
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&child.stdout);
    assert!(
        said.contains(WRITTEN),
        "the child wrote its scenario:\n{said}\n{}",
        String::from_utf8_lossy(&child.stderr)
    );
    disk.cut().expect("the power cut");
    // Opened on the plain directory the cut left, without LazyFS in the way.
    drop(disk);
    let opened = std::panic::catch_unwind(|| config(&backing, patched).open());
    let db = match opened {
        Ok(Ok(db)) => db,
        Ok(Err(e)) => return Err(format!("sled refused to open: {e}")),
        Err(panic) => {
            let why = panic
                .downcast_ref::<String>()
                .cloned()
                .or(panic.downcast_ref::<&str>().map(|s| s.to_string()));
            return Err(format!("sled panicked opening: {}", why.unwrap_or_default()));
        }
    };
    // The directory goes with `work`; the database keeps its files open until dropped.
    std::mem::forget(work);
    Ok(db)
}

/// Whether `tree` holds `expected` under `key`.
fn holds(db: &sled::Db, tree: &str, key: &[u8], expected: &[u8]) -> Result<(), String> {
    match db.open_tree(tree).and_then(|t| t.get(key)) {
        Ok(Some(v)) if v == expected => Ok(()),
        other => Err(format!("{tree} {key:?}: {:?}", other.map(|v| v.map(|v| v.len())))),
    }
}

/// Runs `scenario` with sled as patched, where what the durable log held must `read` back
/// after the cut, then as released, where the same cut must lose something: so the scenario
/// reaches the failure the patch prevents.
fn patched_keeps_what_released_loses(scenario: &str, read: impl Fn(&sled::Db) -> Result<(), String>) {
    if !lazyfs::available() {
        eprintln!("SKIPPED: /dev/fuse is missing, so no power cut can be simulated");
        return;
    }
    let db = after_a_cut(scenario, true).expect("sled as patched opens after the cut");
    read(&db).expect("what the durable log held");

    let released = after_a_cut(scenario, false).and_then(|db| read(&db));
    let lost = released.expect_err("released sled loses data after this cut");
    eprintln!("released sled, same cut: {lost}");
}

/// Every page whose record the durable log holds is there after the cut, because its blob
/// was made durable before the record could be. (Released sled panics opening.)
#[test]
fn a_durable_log_never_points_to_a_lost_blob() {
    patched_keeps_what_released_loses("new", |db| {
        (0..40u8).try_for_each(|i| holds(db, "large", &[i], &value(i, LARGE)))
    });
}

/// A value replaced after the last checkpoint still reads after the cut, as of the
/// checkpoint or of a later replacement, because sled removes the replaced blob only once
/// its replacement is durable. (Released sled has lost the value.)
#[test]
fn a_replaced_blob_stays_until_its_replacement_is_durable() {
    patched_keeps_what_released_loses("replaced", |db| {
        // Whichever was durable last; the checkpoint's at least.
        (2..14).fold(holds(db, "big", b"k", &value(1, BIG)), |read, seed| {
            read.or_else(|_| holds(db, "big", b"k", &value(seed, BIG)))
        })
    });
}

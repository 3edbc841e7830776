//! Making what sled has written survive a power cut, not only the death of the process.
//!
//! # What sled 0.34.7 writes, and what its recovery reads
//! Read from the crate's source (`config.rs`, `pagecache/{iobuf,logger,snapshot,segment,
//! blob_io,iterator}.rs`, `flusher.rs`):
//!
//! - `db`, the log: every tree change is a message appended to an in-memory I/O buffer, and
//!   buffers are written with `pwrite` at their segment's offset. `Db::flush` waits until every
//!   buffer reserved so far is written, and the "sync" after each write is
//!   `sync_file_range(WAIT_BEFORE | WRITE | WAIT_AFTER)` (iobuf.rs): the pages go to the
//!   device, but neither the device's cache nor the file's size as the log grows are flushed.
//!   Only sled's own background thread calls `fsync` on `db`, every `flush_every_ms` (500 ms),
//!   and a truncation or a recovery's zeroing of a torn segment does. Recovery
//!   (`read_snapshot_or_default`) replays the log from the snapshot's stable LSN and stops at
//!   the first message whose CRC or segment header does not match: so a write is recovered
//!   only if every log byte before it is durable too, which one `fdatasync` of `db` after
//!   `Db::flush` gives (it covers data and size, and everything sled wrote before it).
//! - `blobs/<lsn>`: a page whose serialized size exceeds a quarter of a segment (about 128 KiB,
//!   e.g. a node holding a large attachment) is written to its own file, named by the LSN of
//!   the log message that points to it, while that message is being reserved. Recovery skips
//!   a replayed message whose blob is missing; when that message was the first record of a
//!   page since the snapshot, the page is left uninitialized and opening panics ("tried to
//!   serialize Uninitialized", sled issue #1387). As released, sled never `fsync`s a blob
//!   or `blobs/`, and removes a replaced blob as soon as its replacement is written, before
//!   it is durable: a power cut (`tests/power_cut.rs` hit this one run in ten) could leave a
//!   durable message pointing to a lost or removed blob. Hence our patch (vendor/sled): with
//!   `sync_blobs` sled `fsync`s each blob file and `blobs/` before the message can be
//!   written, and with `defer_blob_removal` it hands replaced blobs to the checkpoint, which
//!   removes them only after the flush that covers their replacements is durable.
//! - `conf`, the storage parameters, written once when the directory is new and never
//!   `fsync`ed. A missing or short one is rewritten on open; a torn one is not.
//! - `snap.<lsn>`: written only while opening (after replaying the log), as
//!   `snap.<lsn>.generating`, `fsync`ed, then renamed into place and older snapshots removed,
//!   with no `fsync` of the directory. After a cut that loses the rename, recovery starts from
//!   the previous snapshot and replays more of the log, which is only sound while the log
//!   segments it replays have not been reused; so the directory is `fsync`ed before the first
//!   write is acknowledged.
//! - The directory itself and `blobs/` are created on first open.
//!
//! Hence [`DiskSync::open`], right after sled has opened and recovered, `fsync`s every file
//! there and the directories (so the start-up state is the durable one), and
//! [`DiskSync::sync`], after each checkpoint's `Db::flush` (`checkpoint`), `fdatasync`s `db`.
//! Between checkpoints sled's files are not synced by us (sled's own `fsync` of `db` when it
//! truncates the file may make any state of its log durable, which the patch above makes
//! safe): the write-ahead log (`wal`) holds every acknowledged write, and sled is only ever
//! written after the log made the write durable, so what a cut leaves of sled is never ahead
//! of the log.

use std::fs::File;
use std::io;
use std::path::Path;

/// Makes sled's files in one data directory durable; one per open store.
pub struct DiskSync {
    /// sled's log, opened a second time: `fdatasync` works on the file, whichever descriptor.
    log: File,
}

impl DiskSync {
    /// Call once sled has opened `dir`: makes everything it holds durable.
    pub fn open(dir: &Path) -> io::Result<DiskSync> {
        let blobs = dir.join("blobs");
        sync_files_in(&blobs)?;
        sync_files_in(dir)?;
        sync_dir(&blobs)?;
        sync_dir(dir)?;
        // The data directory may have been created just now; a relative one lives in ".".
        sync_dir(dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")))?;
        Ok(DiskSync { log: File::open(dir.join("db"))? })
    }

    /// Call after `Db::flush`: makes everything that flush wrote durable.
    pub fn sync(&mut self) -> io::Result<()> {
        self.log.sync_data()
    }
}

/// `fsync` of every regular file directly in `dir`.
fn sync_files_in(dir: &Path) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            File::open(entry.path())?.sync_all()?;
        }
    }
    Ok(())
}

/// `fsync` of a directory: makes the creation, renaming and removal of its entries durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

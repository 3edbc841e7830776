//! Making what sled has written survive a power cut, not only the death of the process.
//!
//! # What sled 0.34.7 writes, and what its recovery reads
//! Read from the crate's source (`config.rs`, `pagecache/{iobuf,logger,snapshot,segment,
//! blob_io,iterator}.rs`, `flusher.rs`):
//!
//! - `db`, the log: every tree change is a message appended to an in-memory I/O buffer, and
//!   buffers are written with `pwrite` at their segment's offset. Once a buffer is written,
//!   sled counts it as stable and decides on that: a new segment's header vouches that
//!   everything up to its `max_stable_lsn` is on disk (recovery trusts it), a segment whose
//!   pages were all rewritten elsewhere is reused, and a replaced blob is removed. As
//!   released, "written" means `sync_file_range(WAIT_BEFORE | WRITE | WAIT_AFTER)`
//!   (iobuf.rs), which flushes neither the disk's cache nor the file's size: after a power
//!   cut, a reused segment can be on disk while the pages rewritten out of it are not, and
//!   data checkpointed long before is gone. `tests/power_cut.rs`, with cuts that keep a
//!   random half of the unsynced pages (as the kernel's writeback and a volatile disk cache
//!   may), lost a checkpointed login token in the first round of every run.
//! - `blobs/<lsn>`: a page whose serialized size exceeds a quarter of a segment (about 128 KiB,
//!   e.g. a node holding a large attachment) is written to its own file, named by the LSN of
//!   the log message that points to it, while that message is being reserved; as released,
//!   never `fsync`ed, nor its directory. A durable message pointing to a lost blob is skipped
//!   by recovery; when it was a page's first record since the snapshot, the page stays
//!   uninitialized and opening panics ("tried to serialize Uninitialized", sled issue #1387;
//!   `tests/power_cut.rs` hit it about once in 200 cuts, and once in CI).
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
//! Hence our patch of sled (vendor/sled/PATCHES.md), on when the store is power-safe: each
//! buffer write ends with `fdatasync` instead, so what sled decides on is durable, and each
//! blob file and `blobs/` are `fsync`ed before the message pointing to the blob can be
//! written. These syncs are off the acknowledgement's path: sled is written after the
//! write-ahead log made a write durable, by the flusher applying it, and sled's buffers are
//! written by its own threads.
//!
//! And here, [`DiskSync::open`], right after sled has opened and recovered, `fsync`s every
//! file there and the directories (so the start-up state is the durable one), and
//! [`DiskSync::sync`], after each checkpoint's `Db::flush` (`checkpoint`), `fdatasync`s `db`
//! (which the patch has done already for every buffer the flush wrote; kept so that the
//! checkpoint's promise does not rest on the patch alone).

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
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

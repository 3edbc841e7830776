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
//!   the log message that points to it, created with `create_new`, written and closed while
//!   the write is being reserved, before that message can be flushed; never `fsync`ed by sled,
//!   nor its directory. Recovery reads every blob a replayed message points to: a missing one
//!   is skipped (that page version is silently lost), a short or corrupt one ends the replay
//!   right there (everything after it is lost). So each blob must be durable, file and
//!   directory entry, before any acknowledgement that its message covers. Blob files are
//!   removed when the page moves on (after its replacement was written): that removal may
//!   become durable only after the replacement is, so `blobs/` is `fsync`ed after `db`.
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
//! [`DiskSync::sync`], after each checkpoint's `Db::flush` (`checkpoint`), `fsync`s the blob
//! files finished since the last one (inotify's close-after-write events tell which: a blob is
//! complete when its file is closed, and any blob a flushed message points to was closed
//! before the flush returned), then `fdatasync`s `db`, then `fsync`s `blobs/` if a blob
//! appeared. Between checkpoints sled's files are not synced at all: the write-ahead log
//! (`wal`) holds every acknowledged write, and sled is only ever written after the log made
//! the write durable, so what a cut leaves of sled is never ahead of the log.

use std::ffi::{CString, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// Makes sled's files in one data directory durable; one per open store.
pub struct DiskSync {
    /// sled's log, opened a second time: `fdatasync` works on the file, whichever descriptor.
    log: File,
    blobs: PathBuf,
    /// Blob files finished since the last sync; `None` if inotify is unavailable, in which
    /// case every blob file is synced each time (correct, slower with many attachments).
    finished: Option<Inotify>,
}

impl DiskSync {
    /// Call once sled has opened `dir`: makes everything it holds durable, and starts watching
    /// for blob files.
    pub fn open(dir: &Path) -> io::Result<DiskSync> {
        let blobs = dir.join("blobs");
        // Watch before syncing what is there, so a blob finished in between is in one or the
        // other.
        let finished = match Inotify::watch(&blobs) {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(error = %e, "inotify unavailable: every blob file is synced at each flush");
                None
            }
        };
        sync_files_in(&blobs)?;
        sync_files_in(dir)?;
        sync_dir(&blobs)?;
        sync_dir(dir)?;
        // The data directory may have been created just now; a relative one lives in ".".
        sync_dir(dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")))?;
        Ok(DiskSync { log: File::open(dir.join("db"))?, blobs, finished })
    }

    /// Call after `Db::flush`: makes everything that flush wrote durable.
    pub fn sync(&mut self) -> io::Result<()> {
        let new_blobs = match &self.finished {
            Some(watch) => match watch.finished()? {
                Finished::Names(names) => {
                    for name in &names {
                        sync_file(&self.blobs.join(name))?;
                    }
                    !names.is_empty()
                }
                Finished::Overflowed => sync_files_in(&self.blobs)? > 0,
            },
            None => sync_files_in(&self.blobs)? > 0,
        };
        self.log.sync_data()?;
        if new_blobs {
            sync_dir(&self.blobs)?;
        }
        Ok(())
    }
}

/// `fsync` of one file; one that is gone already (sled removed it) needs none.
fn sync_file(path: &Path) -> io::Result<()> {
    match File::open(path) {
        Ok(f) => f.sync_all(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// `fsync` of every regular file directly in `dir`; returns how many.
fn sync_files_in(dir: &Path) -> io::Result<usize> {
    let mut n = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            sync_file(&entry.path())?;
            n += 1;
        }
    }
    Ok(n)
}

/// `fsync` of a directory: makes the creation, renaming and removal of its entries durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// What inotify reported since the last look.
#[derive(Debug, PartialEq, Eq)]
enum Finished {
    Names(Vec<OsString>),
    /// The kernel's queue overflowed: some names were dropped.
    Overflowed,
}

/// An inotify descriptor watching one directory for files closed after writing.
struct Inotify {
    fd: OwnedFd,
}

impl Inotify {
    fn watch(dir: &Path) -> io::Result<Inotify> {
        // SAFETY: plain system calls; the descriptor is owned from here on.
        let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let path = CString::new(dir.as_os_str().as_bytes()).map_err(io::Error::other)?;
        // SAFETY: `path` is a valid C string for the duration of the call.
        let wd = unsafe { libc::inotify_add_watch(fd.as_raw_fd(), path.as_ptr(), libc::IN_CLOSE_WRITE) };
        if wd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Inotify { fd })
    }

    /// Every event queued so far, without waiting.
    fn finished(&self) -> io::Result<Finished> {
        // inotify_event needs 4-byte alignment.
        let mut buf = [0u32; 1024];
        let mut names = Vec::new();
        let mut overflowed = false;
        loop {
            // SAFETY: reads into a buffer we own, of the length given.
            let n = unsafe {
                libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), std::mem::size_of_val(&buf))
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                match e.kind() {
                    io::ErrorKind::WouldBlock => break,
                    io::ErrorKind::Interrupted => continue,
                    _ => return Err(e),
                }
            }
            // SAFETY: the kernel wrote `n` bytes (n >= 0) at the start of `buf`.
            let bytes = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n as usize) };
            overflowed |= parse_events(bytes, &mut names);
        }
        Ok(if overflowed { Finished::Overflowed } else { Finished::Names(names) })
    }
}

/// Appends the names of the `inotify_event`s in `bytes` to `names`; true if one of them says
/// the queue overflowed.
fn parse_events(bytes: &[u8], names: &mut Vec<OsString>) -> bool {
    const HEADER: usize = std::mem::size_of::<libc::inotify_event>();
    let mut overflowed = false;
    let mut at = 0;
    while at + HEADER <= bytes.len() {
        let field = |i: usize| u32::from_ne_bytes(bytes[at + i..at + i + 4].try_into().unwrap());
        // struct inotify_event { int wd; uint32_t mask; uint32_t cookie; uint32_t len; char name[]; }
        let (mask, len) = (field(4), field(12) as usize);
        let end = (at + HEADER + len).min(bytes.len());
        let name = &bytes[at + HEADER..end];
        // The name is padded with NULs to an aligned length.
        let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
        if mask & libc::IN_Q_OVERFLOW != 0 {
            overflowed = true;
        } else if !name.is_empty() {
            names.push(OsString::from_vec(name.to_vec()));
        }
        at = end;
    }
    overflowed
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn event(mask: u32, name: &str) -> Vec<u8> {
        let padded = (name.len() + 1).div_ceil(16) * 16;
        let len = if name.is_empty() { 0 } else { padded };
        let mut out = Vec::new();
        for field in [1u32, mask, 0, len as u32] {
            out.extend_from_slice(&field.to_ne_bytes());
        }
        let mut n = name.as_bytes().to_vec();
        n.resize(len, 0);
        out.extend(n);
        out
    }

    #[test]
    fn events_are_read_with_their_padded_names() {
        let mut bytes = event(libc::IN_CLOSE_WRITE, "1234");
        bytes.extend(event(libc::IN_CLOSE_WRITE, "a-name-longer-than-sixteen-bytes"));
        let mut names = Vec::new();
        assert!(!parse_events(&bytes, &mut names));
        assert_eq!(names, [OsString::from("1234"), OsString::from("a-name-longer-than-sixteen-bytes")]);
    }

    #[test]
    fn an_overflow_is_reported_so_everything_is_synced() {
        let mut bytes = event(libc::IN_CLOSE_WRITE, "7");
        bytes.extend(event(libc::IN_Q_OVERFLOW, ""));
        let mut names = Vec::new();
        assert!(parse_events(&bytes, &mut names));
        assert_eq!(names, [OsString::from("7")]);
    }

    #[test]
    fn a_blob_is_reported_once_it_is_closed_and_not_before() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = dir.path().join("blobs");
        std::fs::create_dir(&blobs).unwrap();
        std::fs::write(dir.path().join("db"), b"log").unwrap();
        let mut sync = DiskSync::open(dir.path()).unwrap();
        let watch = sync.finished.as_ref().expect("inotify works here");

        let mut open = File::create(blobs.join("42")).unwrap();
        open.write_all(b"half").unwrap();
        assert_eq!(watch.finished().unwrap(), Finished::Names(vec![]), "still being written");
        open.write_all(b" and the rest").unwrap();
        drop(open);
        assert_eq!(watch.finished().unwrap(), Finished::Names(vec!["42".into()]));
        assert_eq!(watch.finished().unwrap(), Finished::Names(vec![]), "reported once");

        // A blob removed before the sync got to it is no error.
        std::fs::write(blobs.join("43"), b"short-lived").unwrap();
        std::fs::remove_file(blobs.join("43")).unwrap();
        sync.sync().unwrap();
    }
}

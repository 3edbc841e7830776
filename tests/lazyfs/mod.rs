//! A small LazyFS: a FUSE filesystem that passes every operation through to a backing
//! directory and keeps, in memory, the image a power cut would leave: each file's contents as
//! of its last `fsync`/`fdatasync`, and each directory's entries as of its last `fsync`.
//! [`LazyFs::cut`] is the power cut: it unmounts, rewrites the backing directory to that image
//! and mounts again, so the program started next sees only what it had made durable.
//!
//! What a cut loses, as a disk with a volatile cache may:
//! - every write, size change and truncation of a file since its last fsync/fdatasync (of any
//!   descriptor of that file); a file never synced comes back empty;
//! - every create, unlink, rename and mkdir in a directory since that directory's last fsync
//!   (a created file whose directory was never synced is gone; a renamed one is back under its
//!   old name; an unlinked one is back, with its last synced contents).
//!
//! Syncs are atomic here (a cut never lands inside one) and unsynced writes are all lost, never
//! some of them: the common case LazyFS also models, not every order a disk may reorder into.
//! `sync_file_range` never reaches a FUSE filesystem (it only starts the kernel's writeback
//! of cached pages, and with direct I/O there are none), which is right: it makes nothing
//! durable. Only what the power-cut test needs is implemented: regular files and directories.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::{OsStr, OsString};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, UNIX_EPOCH};

use fuser::{
    BackgroundSession, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo,
    MountOption, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty,
    ReplyEntry, ReplyOpen, ReplyWrite, Request, TimeOrNow,
};

/// The kernel must ask us every time: names and sizes change under it at a cut.
const TTL: Duration = Duration::ZERO;
const PAGE: u64 = 4096;

/// Whether this machine can mount FUSE filesystems at all.
pub fn available() -> bool {
    Path::new("/dev/fuse").exists()
}

/// A mounted LazyFS over `backing`, seen at `mountpoint`.
pub struct LazyFs {
    backing: PathBuf,
    mountpoint: PathBuf,
    model: Arc<Mutex<Model>>,
    session: Option<BackgroundSession>,
}

/// What one cut threw away.
#[derive(Debug, Default, Clone, Copy)]
pub struct Lost {
    /// Files with writes or size changes not covered by a sync.
    pub files: usize,
    /// Directories with entries created, removed or renamed since their last sync.
    pub directories: usize,
}

impl LazyFs {
    /// Mounts over `backing` (whose current contents count as durable) at `mountpoint`.
    pub fn mount(backing: &Path, mountpoint: &Path) -> io::Result<LazyFs> {
        let model = Arc::new(Mutex::new(Model::scan(backing)?));
        let mut fs =
            LazyFs { backing: backing.to_owned(), mountpoint: mountpoint.to_owned(), model, session: None };
        fs.session = Some(fs.spawn()?);
        Ok(fs)
    }

    fn spawn(&self) -> io::Result<BackgroundSession> {
        let mut config = fuser::Config::default();
        config.mount_options = vec![MountOption::FSName("lazyfs".into()), MountOption::DefaultPermissions];
        fuser::spawn_mount(Passthrough { model: self.model.clone() }, &self.mountpoint, &config)
    }

    /// The power cut. Whatever used the filesystem must have exited: nothing may be open.
    pub fn cut(&mut self) -> io::Result<Lost> {
        self.cut_after(|_| Ok(()))
    }

    /// A power cut on a disk that had written some of the unsynced pages when the power went,
    /// in no particular order (as the kernel's writeback and a volatile disk cache may): each
    /// page written since its file's last sync survives with probability one half, as last
    /// written; the rest are lost, as are unsynced directory changes.
    pub fn cut_keeping_some(&mut self, rng: &mut impl rand::Rng) -> io::Result<Lost> {
        self.cut_after(|model| model.keep_some_unsynced_pages(rng))
    }

    /// Unmounts, lets `survive` make more of the model durable, rewrites the backing
    /// directory to the durable image and mounts again.
    fn cut_after(&mut self, survive: impl FnOnce(&mut Model) -> io::Result<()>) -> io::Result<Lost> {
        self.unmount()?;
        survive(&mut lock(&self.model))?;
        let lost = lock(&self.model).restore_durable_image()?;
        *lock(&self.model) = Model::scan(&self.backing)?;
        self.session = Some(self.spawn()?);
        Ok(lost)
    }

    fn unmount(&mut self) -> io::Result<()> {
        match self.session.take() {
            Some(s) => s.umount_and_join(),
            None => Ok(()),
        }
    }
}

impl Drop for LazyFs {
    fn drop(&mut self) {
        let _ = self.unmount();
    }
}

fn lock(model: &Mutex<Model>) -> MutexGuard<'_, Model> {
    // A panic in one request must not hide what the test checks.
    model.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Every file and directory the mount has seen, by our inode number.
struct Model {
    backing: PathBuf,
    nodes: HashMap<u64, Node>,
    next_ino: u64,
}

struct Node {
    /// Where it lives now: (parent inode, name); `None` once unlinked.
    link: Option<(u64, OsString)>,
    kind: Kind,
}

enum Kind {
    File {
        /// The backing file, open for as long as the mount: still usable once unlinked.
        live: File,
        /// Its contents as of its last sync: what a cut leaves.
        durable: Vec<u8>,
        /// Pages written since then.
        dirty: BTreeSet<u64>,
        /// The smallest size it was truncated to since then.
        shrunk_to: Option<u64>,
    },
    Dir {
        live: BTreeMap<OsString, u64>,
        /// Its entries as of its last sync.
        durable: BTreeMap<OsString, u64>,
    },
}

impl Model {
    /// Reads `backing` as it is, all of it durable.
    fn scan(backing: &Path) -> io::Result<Model> {
        let mut model = Model { backing: backing.to_owned(), nodes: HashMap::new(), next_ino: 2 };
        let root = model.scan_dir(backing)?;
        model.nodes.insert(INodeNo::ROOT.0, Node { link: None, kind: root });
        model.reparent(INodeNo::ROOT.0);
        Ok(model)
    }

    fn scan_dir(&mut self, dir: &Path) -> io::Result<Kind> {
        let mut entries = BTreeMap::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let path = entry.path();
            let kind = if entry.file_type()?.is_dir() {
                self.scan_dir(&path)?
            } else {
                let live = OpenOptions::new().read(true).write(true).open(&path)?;
                Kind::File { durable: std::fs::read(&path)?, live, dirty: BTreeSet::new(), shrunk_to: None }
            };
            let ino = self.next_ino;
            self.next_ino += 1;
            self.nodes.insert(ino, Node { link: None, kind });
            entries.insert(entry.file_name(), ino);
        }
        Ok(Kind::Dir { durable: entries.clone(), live: entries })
    }

    /// Sets the links of everything below `dir` from the directory maps.
    fn reparent(&mut self, dir: u64) {
        let children: Vec<(OsString, u64)> = match &self.nodes[&dir].kind {
            Kind::Dir { live, .. } => live.iter().map(|(n, i)| (n.clone(), *i)).collect(),
            Kind::File { .. } => return,
        };
        for (name, ino) in children {
            self.nodes.get_mut(&ino).unwrap().link = Some((dir, name));
            self.reparent(ino);
        }
    }

    fn path(&self, ino: u64) -> Result<PathBuf, Errno> {
        if ino == INodeNo::ROOT.0 {
            return Ok(self.backing.clone());
        }
        let node = self.nodes.get(&ino).ok_or(Errno::ENOENT)?;
        let (parent, name) = node.link.as_ref().ok_or(Errno::ENOENT)?;
        Ok(self.path(*parent)?.join(name))
    }

    fn entries(&mut self, dir: u64) -> Result<&mut BTreeMap<OsString, u64>, Errno> {
        match &mut self.nodes.get_mut(&dir).ok_or(Errno::ENOENT)?.kind {
            Kind::Dir { live, .. } => Ok(live),
            Kind::File { .. } => Err(Errno::ENOTDIR),
        }
    }

    fn child(&mut self, dir: u64, name: &OsStr) -> Result<Option<u64>, Errno> {
        Ok(self.entries(dir)?.get(name).copied())
    }

    fn attr(&self, ino: u64) -> Result<FileAttr, Errno> {
        let node = self.nodes.get(&ino).ok_or(Errno::ENOENT)?;
        let meta = match &node.kind {
            Kind::File { live, .. } => live.metadata()?,
            Kind::Dir { .. } => std::fs::metadata(self.path(ino)?)?,
        };
        let time = |secs: i64, nanos: i64| UNIX_EPOCH + Duration::new(secs.max(0) as u64, nanos as u32);
        Ok(FileAttr {
            ino: INodeNo(ino),
            size: meta.len(),
            blocks: meta.blocks(),
            atime: time(meta.atime(), meta.atime_nsec()),
            mtime: time(meta.mtime(), meta.mtime_nsec()),
            ctime: time(meta.ctime(), meta.ctime_nsec()),
            crtime: UNIX_EPOCH,
            kind: if meta.is_dir() { FileType::Directory } else { FileType::RegularFile },
            perm: (meta.mode() & 0o7777) as u16,
            nlink: if meta.is_dir() { 2 } else { 1 },
            uid: meta.uid(),
            gid: meta.gid(),
            rdev: 0,
            blksize: PAGE as u32,
            flags: 0,
        })
    }

    fn add(&mut self, parent: u64, name: &OsStr, kind: Kind) -> Result<u64, Errno> {
        let ino = self.next_ino;
        self.next_ino += 1;
        self.nodes.insert(ino, Node { link: Some((parent, name.to_owned())), kind });
        self.entries(parent)?.insert(name.to_owned(), ino);
        Ok(ino)
    }

    fn create(&mut self, parent: u64, name: &OsStr, exclusive: bool, truncate: bool) -> Result<u64, Errno> {
        if let Some(ino) = self.child(parent, name)? {
            if exclusive {
                return Err(Errno::EEXIST);
            }
            if truncate {
                self.set_len(ino, 0)?;
            }
            return Ok(ino);
        }
        let path = self.path(parent)?.join(name);
        let live = OpenOptions::new().read(true).write(true).create_new(true).open(path)?;
        self.add(
            parent,
            name,
            Kind::File { live, durable: Vec::new(), dirty: BTreeSet::new(), shrunk_to: None },
        )
    }

    fn mkdir(&mut self, parent: u64, name: &OsStr) -> Result<u64, Errno> {
        if self.child(parent, name)?.is_some() {
            return Err(Errno::EEXIST);
        }
        std::fs::create_dir(self.path(parent)?.join(name))?;
        self.add(parent, name, Kind::Dir { live: BTreeMap::new(), durable: BTreeMap::new() })
    }

    fn unlink(&mut self, parent: u64, name: &OsStr, dir: bool) -> Result<(), Errno> {
        let ino = self.child(parent, name)?.ok_or(Errno::ENOENT)?;
        let path = self.path(ino)?;
        if dir {
            std::fs::remove_dir(path)?;
        } else {
            std::fs::remove_file(path)?;
        }
        self.entries(parent)?.remove(name);
        self.nodes.get_mut(&ino).unwrap().link = None;
        Ok(())
    }

    fn rename(
        &mut self,
        parent: u64,
        name: &OsStr,
        new_parent: u64,
        new_name: &OsStr,
        flags: RenameFlags,
    ) -> Result<(), Errno> {
        if flags.contains(RenameFlags::RENAME_EXCHANGE) {
            return Err(Errno::EINVAL);
        }
        let ino = self.child(parent, name)?.ok_or(Errno::ENOENT)?;
        let replaced = self.child(new_parent, new_name)?;
        if replaced.is_some() && flags.contains(RenameFlags::RENAME_NOREPLACE) {
            return Err(Errno::EEXIST);
        }
        std::fs::rename(self.path(ino)?, self.path(new_parent)?.join(new_name))?;
        if let Some(old) = replaced {
            self.nodes.get_mut(&old).unwrap().link = None;
        }
        self.entries(parent)?.remove(name);
        self.entries(new_parent)?.insert(new_name.to_owned(), ino);
        self.nodes.get_mut(&ino).unwrap().link = Some((new_parent, new_name.to_owned()));
        Ok(())
    }

    fn file(&mut self, ino: u64) -> Result<(&File, &mut BTreeSet<u64>, &mut Option<u64>), Errno> {
        match &mut self.nodes.get_mut(&ino).ok_or(Errno::ENOENT)?.kind {
            Kind::File { live, dirty, shrunk_to, .. } => Ok((live, dirty, shrunk_to)),
            Kind::Dir { .. } => Err(Errno::EISDIR),
        }
    }

    fn read(&mut self, ino: u64, offset: u64, size: u32) -> Result<Vec<u8>, Errno> {
        let (live, _, _) = self.file(ino)?;
        let mut buf = vec![0; size as usize];
        let mut got = 0;
        while got < buf.len() {
            match live.read_at(&mut buf[got..], offset + got as u64)? {
                0 => break,
                n => got += n,
            }
        }
        buf.truncate(got);
        Ok(buf)
    }

    fn write(&mut self, ino: u64, offset: u64, data: &[u8]) -> Result<(), Errno> {
        let (live, dirty, _) = self.file(ino)?;
        live.write_all_at(data, offset)?;
        if !data.is_empty() {
            dirty.extend(offset / PAGE..=(offset + data.len() as u64 - 1) / PAGE);
        }
        Ok(())
    }

    fn set_len(&mut self, ino: u64, size: u64) -> Result<(), Errno> {
        let (live, _, shrunk_to) = self.file(ino)?;
        live.set_len(size)?;
        *shrunk_to = Some(shrunk_to.map_or(size, |s| s.min(size)));
        Ok(())
    }

    /// fsync/fdatasync of a file: its durable contents become what it holds now.
    fn sync_file(&mut self, ino: u64) -> Result<(), Errno> {
        let Kind::File { live, durable, dirty, shrunk_to } =
            &mut self.nodes.get_mut(&ino).ok_or(Errno::ENOENT)?.kind
        else {
            return Ok(());
        };
        let len = live.metadata()?.len();
        if let Some(s) = shrunk_to.take() {
            durable.truncate(s as usize);
        }
        durable.resize(len as usize, 0);
        for page in std::mem::take(dirty) {
            let start = page * PAGE;
            if start < len {
                let end = (start + PAGE).min(len);
                live.read_exact_at(&mut durable[start as usize..end as usize], start)?;
            }
        }
        Ok(())
    }

    /// fsync of a directory: its durable entries become what it lists now.
    fn sync_dir(&mut self, ino: u64) -> Result<(), Errno> {
        if let Kind::Dir { live, durable } = &mut self.nodes.get_mut(&ino).ok_or(Errno::ENOENT)?.kind {
            *durable = live.clone();
        }
        Ok(())
    }

    /// Makes a random half of the pages written since each file's last sync durable.
    fn keep_some_unsynced_pages(&mut self, rng: &mut impl rand::Rng) -> io::Result<()> {
        for node in self.nodes.values_mut() {
            let Kind::File { live, durable, dirty, .. } = &mut node.kind else { continue };
            let len = live.metadata()?.len();
            for &page in dirty.iter() {
                let start = page * PAGE;
                if start >= len || !rng.gen_bool(0.5) {
                    continue;
                }
                let end = (start + PAGE).min(len);
                if durable.len() < end as usize {
                    durable.resize(end as usize, 0);
                }
                live.read_exact_at(&mut durable[start as usize..end as usize], start)?;
            }
        }
        Ok(())
    }

    /// Rewrites the backing directory to the durable image.
    fn restore_durable_image(&self) -> io::Result<Lost> {
        let mut lost = Lost::default();
        for node in self.nodes.values() {
            match &node.kind {
                Kind::File { dirty, shrunk_to, .. } if !dirty.is_empty() || shrunk_to.is_some() => {
                    lost.files += 1
                }
                Kind::Dir { live, durable } if live != durable => lost.directories += 1,
                _ => {}
            }
        }
        for entry in std::fs::read_dir(&self.backing)? {
            let path = entry?.path();
            if path.is_dir() {
                std::fs::remove_dir_all(path)?;
            } else {
                std::fs::remove_file(path)?;
            }
        }
        self.write_durable(INodeNo::ROOT.0, &self.backing)?;
        Ok(lost)
    }

    fn write_durable(&self, dir: u64, path: &Path) -> io::Result<()> {
        let Kind::Dir { durable: entries, .. } = &self.nodes[&dir].kind else { return Ok(()) };
        for (name, ino) in entries {
            let child = path.join(name);
            match &self.nodes[ino].kind {
                Kind::File { durable, .. } => std::fs::write(&child, durable)?,
                Kind::Dir { .. } => {
                    std::fs::create_dir(&child)?;
                    self.write_durable(*ino, &child)?;
                }
            }
        }
        Ok(())
    }
}

/// The FUSE side: each request is one call on the model, under its lock.
struct Passthrough {
    model: Arc<Mutex<Model>>,
}

impl Passthrough {
    fn entry(&self, reply: ReplyEntry, result: Result<u64, Errno>) {
        let model = lock(&self.model);
        match result.and_then(|ino| model.attr(ino)) {
            Ok(attr) => reply.entry(&TTL, &attr, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn empty(reply: ReplyEmpty, result: Result<(), Errno>) {
        match result {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }
}

impl Filesystem for Passthrough {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let found = lock(&self.model).child(parent.0, name).and_then(|c| c.ok_or(Errno::ENOENT));
        self.entry(reply, found);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match lock(&self.model).attr(ino.0) {
            Ok(attr) => reply.attr(&TTL, &attr),
            Err(e) => reply.error(e),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        _mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<std::time::SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<std::time::SystemTime>,
        _chgtime: Option<std::time::SystemTime>,
        _bkuptime: Option<std::time::SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        // Only sizes matter to a power cut; modes and times are left as they are.
        let mut model = lock(&self.model);
        let result = match size {
            Some(size) => model.set_len(ino.0, size),
            None => Ok(()),
        };
        match result.and_then(|()| model.attr(ino.0)) {
            Ok(attr) => reply.attr(&TTL, &attr),
            Err(e) => reply.error(e),
        }
    }

    fn mkdir(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        _mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        let made = lock(&self.model).mkdir(parent.0, name);
        self.entry(reply, made);
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        Self::empty(reply, lock(&self.model).unlink(parent.0, name, false));
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        Self::empty(reply, lock(&self.model).unlink(parent.0, name, true));
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        Self::empty(reply, lock(&self.model).rename(parent.0, name, newparent.0, newname, flags));
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let mut model = lock(&self.model);
        let result = match model.file(ino.0) {
            Ok(_) if flags.0 & libc::O_TRUNC != 0 => model.set_len(ino.0, 0),
            Ok(_) => Ok(()),
            Err(e) => Err(e),
        };
        match result {
            // Direct I/O: every read and write comes here, none is cached by the kernel.
            Ok(()) => reply.opened(FileHandle(0), FopenFlags::FOPEN_DIRECT_IO),
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<fuser::LockOwner>,
        reply: ReplyData,
    ) {
        match lock(&self.model).read(ino.0, offset, size) {
            Ok(data) => reply.data(&data),
            Err(e) => reply.error(e),
        }
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: fuser::WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<fuser::LockOwner>,
        reply: ReplyWrite,
    ) {
        match lock(&self.model).write(ino.0, offset, data) {
            Ok(()) => reply.written(data.len() as u32),
            Err(e) => reply.error(e),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _owner: fuser::LockOwner,
        reply: ReplyEmpty,
    ) {
        // close() makes nothing durable.
        reply.ok();
    }

    fn fsync(&self, _req: &Request, ino: INodeNo, _fh: FileHandle, _datasync: bool, reply: ReplyEmpty) {
        Self::empty(reply, lock(&self.model).sync_file(ino.0));
    }

    fn readdir(&self, _req: &Request, ino: INodeNo, _fh: FileHandle, offset: u64, mut reply: ReplyDirectory) {
        let mut model = lock(&self.model);
        let parent = model.nodes.get(&ino.0).and_then(|n| n.link.as_ref()).map_or(ino.0, |(p, _)| *p);
        let children: Vec<(OsString, u64)> = match model.entries(ino.0) {
            Ok(live) => live.iter().map(|(n, i)| (n.clone(), *i)).collect(),
            Err(e) => return reply.error(e),
        };
        let mut all = vec![
            (OsString::from("."), ino.0, FileType::Directory),
            ("..".into(), parent, FileType::Directory),
        ];
        for (name, child) in children {
            let kind = match model.nodes[&child].kind {
                Kind::Dir { .. } => FileType::Directory,
                Kind::File { .. } => FileType::RegularFile,
            };
            all.push((name, child, kind));
        }
        for (i, (name, child, kind)) in all.into_iter().enumerate().skip(offset as usize) {
            if reply.add(INodeNo(child), i as u64 + 1, kind, name) {
                break;
            }
        }
        reply.ok();
    }

    fn fsyncdir(&self, _req: &Request, ino: INodeNo, _fh: FileHandle, _datasync: bool, reply: ReplyEmpty) {
        Self::empty(reply, lock(&self.model).sync_dir(ino.0));
    }

    fn access(&self, _req: &Request, _ino: INodeNo, _mask: fuser::AccessFlags, reply: ReplyEmpty) {
        reply.ok();
    }

    fn create(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        _mode: u32,
        _umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let mut model = lock(&self.model);
        let made = model.create(parent.0, name, flags & libc::O_EXCL != 0, flags & libc::O_TRUNC != 0);
        match made.and_then(|ino| model.attr(ino)) {
            Ok(attr) => reply.created(&TTL, &attr, Generation(0), FileHandle(0), FopenFlags::FOPEN_DIRECT_IO),
            Err(e) => reply.error(e),
        }
    }
}

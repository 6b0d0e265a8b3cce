//! `rrun image save`: a root filesystem directory as an image archive that
//! `docker load` and `podman load` accept — an OCI image layout that also
//! carries Docker's manifest.json, with one gzip layer and a config taken
//! from a container's record (`--from`). It owns the walk of the rootfs
//! (sorted, fixed times, numeric owners, hard links, the xattrs an image
//! keeps, leaving out the mount points rrun placed) and the file written:
//! an unnamed file linked into place only when complete, so a failed or
//! interrupted save leaves nothing. Rootless, the walk runs in a child
//! joined to rrun's user namespace, where files show the owners the
//! container saw and files of subordinate ids can be read.

pub mod oci;
pub mod tar;

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::cli::ImageSaveArgs;
use crate::state::{self, State};
use crate::sys;

/// The xattr rrun sets on a mount point it had to create in a rootfs
/// (mount.rs), so that an image leaves it out while it is still empty.
pub const PLACED_XATTR: &std::ffi::CStr = c"user.rrun.placed";

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error(transparent)]
    State(#[from] state::StateError),
    #[error(transparent)]
    Ref(#[from] oci::RefError),
    #[error("container {0} is running; stop it before saving its rootfs as an image")]
    Running(String),
    #[error(
        "the rootfs {0} is in use by running container {1}; stop it before saving it as an image"
    )]
    InUse(String, String),
    #[error("no rootfs: give a ROOTFS directory or --from CONTAINER")]
    NoRootfs,
    #[error("rootfs {0}: {1}")]
    Rootfs(String, String),
    #[error("SOURCE_DATE_EPOCH={0:?} is not a number of seconds since the epoch")]
    Epoch(String),
    #[error("output {0}: {1}")]
    Output(String, String),
    #[error("writing the image to {0}: {1}")]
    Write(String, String),
    #[error("the compressed layer is {0} bytes; rrun writes layers under 8 GiB")]
    TooLarge(u64),
    #[error(transparent)]
    Ns(#[from] crate::ns::NsError),
    #[error("reading the rootfs in rrun's user namespace: {0}")]
    Child(String),
    #[error(
        "{0} rootfs entries are owned by ids outside rrun's user namespace (a container sees them as 65534): {1}; chown them to ids the namespace maps, or pass --keep-unmapped to store them as 65534"
    )]
    Unmapped(usize, String),
}

impl ImageError {
    pub fn exit_code(&self) -> i32 {
        match self {
            ImageError::State(e) => e.exit_code(),
            _ => 125,
        }
    }
}

/// What the walk met besides what it wrote.
#[derive(Debug, Default, PartialEq, Eq)]
struct Walked {
    /// Entries whose owner or group shows as the overflow id.
    overflow: Vec<String>,
    warnings: Vec<String>,
    devices: usize,
}

/// The result the archive writer reports (from the child, rootless).
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Done { id: String, walked: Walked },
    Failed(String),
}

impl Outcome {
    /// As the child sends it: NUL-separated fields (no path holds a NUL).
    fn encode(&self) -> Vec<u8> {
        let mut f: Vec<String> = Vec::new();
        match self {
            Outcome::Failed(m) => f.extend(["F".into(), m.clone()]),
            Outcome::Done { id, walked } => {
                f.extend(["D".into(), id.clone(), walked.devices.to_string()]);
                for w in &walked.warnings {
                    f.extend(["w".into(), w.clone()]);
                }
                for o in &walked.overflow {
                    f.extend(["o".into(), o.clone()]);
                }
            }
        }
        f.join("\0").into_bytes()
    }

    fn decode(b: &[u8]) -> Option<Outcome> {
        let text = String::from_utf8_lossy(b);
        let mut f = text.split('\0');
        match f.next()? {
            "F" => Some(Outcome::Failed(f.next()?.to_string())),
            "D" => {
                let id = f.next()?.to_string();
                let mut walked = Walked {
                    devices: f.next()?.parse().ok()?,
                    ..Walked::default()
                };
                while let Some(kind) = f.next() {
                    let v = f.next()?.to_string();
                    match kind {
                        "w" => walked.warnings.push(v),
                        "o" => walked.overflow.push(v),
                        _ => return None,
                    }
                }
                Some(Outcome::Done { id, walked })
            }
            _ => None,
        }
    }
}

/// Options of the walk.
struct Opts {
    mtime: u64,
    devices: bool,
    /// The overflow uid and gid, when the walk runs in a user namespace.
    overflow: Option<(u32, u32)>,
}

pub fn save(a: &ImageSaveArgs) -> Result<i32, ImageError> {
    let st = State::open()?;
    let from = a.from.as_deref().map(|c| st.find(c)).transpose()?;
    if let Some(r) = &from
        && r.active()
    {
        return Err(ImageError::Running(a.from.clone().unwrap_or_default()));
    }
    let given = match (&a.rootfs, &from) {
        (Some(r), _) => PathBuf::from(r),
        (None, Some(rec)) => PathBuf::from(&rec.config.rootfs_path),
        (None, None) => return Err(ImageError::NoRootfs),
    };
    let shown = given.display().to_string();
    let root = fs::canonicalize(&given)
        .map_err(|e| ImageError::Rootfs(shown.clone(), sys::errno_text(&e)))?;
    if !root.is_dir() {
        return Err(ImageError::Rootfs(shown, "not a directory".into()));
    }
    let (records, _) = st.list();
    if let Some(r) = records
        .iter()
        .find(|r| r.active() && Path::new(&r.config.rootfs_path) == root)
    {
        return Err(ImageError::InUse(shown, r.config.name.clone()));
    }
    let reference = match &a.tag {
        Some(t) => oci::Reference::parse(t)?,
        None => oci::default_reference(&match (&from, &a.rootfs) {
            (Some(rec), None) => rec.config.name.clone(),
            _ => root
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        }),
    };
    let epoch = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(s) if !s.is_empty() => s.parse::<u64>().map_err(|_| ImageError::Epoch(s))?,
        _ => 0,
    }
    .min(0o77777777777);
    let created = state::rfc3339(epoch as i64, 0).replace(".000000000Z", "Z");
    let rc = run_config(&root, from.as_ref().map(|r| &r.config));

    let out = Output::create(Path::new(&a.output))?;
    let rootless = !nix::unistd::geteuid().is_root();
    let mut opts = Opts {
        mtime: epoch,
        devices: !a.no_devices,
        overflow: None,
    };
    let outcome = if rootless {
        let nss = crate::ns::user_namespaces(&st)?;
        in_user_ns(&nss, || {
            let read = |p: &str| {
                fs::read_to_string(p)
                    .ok()
                    .and_then(|s| s.trim().parse().ok())
                    .unwrap_or(65534)
            };
            opts.overflow = Some((
                read("/proc/sys/kernel/overflowuid"),
                read("/proc/sys/kernel/overflowgid"),
            ));
            archive(&out.file, &root, &rc, &reference, &created, &opts)
        })?
    } else {
        archive(&out.file, &root, &rc, &reference, &created, &opts)
    };
    let (id, walked) = match outcome {
        Outcome::Done { id, walked } => (id, walked),
        Outcome::Failed(m) => return Err(ImageError::Write(out.shown(), m)),
    };
    if !walked.overflow.is_empty() && !a.keep_unmapped {
        // The overflow id is also a real one (nobody) when the namespace
        // maps it: ask the host who owns each such entry.
        let unmapped = really_unmapped(&root, &walked.overflow);
        if !unmapped.is_empty() {
            let mut list = unmapped[..unmapped.len().min(OVERFLOW_SHOWN)].join(", ");
            if unmapped.len() > OVERFLOW_SHOWN {
                list.push_str(&format!(" and {} more", unmapped.len() - OVERFLOW_SHOWN));
            }
            return Err(ImageError::Unmapped(unmapped.len(), list));
        }
    }
    for w in &walked.warnings {
        eprintln!("rrun: image save: {w}");
    }
    if walked.devices > 0 && rootless {
        eprintln!(
            "rrun: image save: the image holds {} device node(s); a rootless loader may refuse them (--no-devices leaves them out)",
            walked.devices
        );
    }
    out.commit()?;
    if a.tag.is_none() {
        eprintln!("rrun: image save: named the image {}", reference.full());
    }
    println!("{id}");
    Ok(0)
}

/// Which of `paths` (relative to `root`, found by the walk with the
/// overflow id) the host sees owned by an id that rrun's user namespace
/// does not map; those it cannot look at count as unmapped.
fn really_unmapped(root: &Path, paths: &[String]) -> Vec<String> {
    let holder = State::existing().and_then(|st| crate::ns::live_holder(&st));
    let read = |f: &str| {
        holder.as_ref().map(|h| {
            crate::ns::parse_id_map(
                &fs::read_to_string(format!("/proc/{}/{f}", h.pid)).unwrap_or_default(),
            )
        })
    };
    let (Some(um), Some(gm)) = (read("uid_map"), read("gid_map")) else {
        return paths.to_vec();
    };
    let maps = |m: &crate::ns::IdMap, id: u32| {
        m.iter()
            .any(|&(_, out, n)| id >= out && u64::from(id - out) < u64::from(n))
    };
    paths
        .iter()
        .filter(
            |p| match fs::symlink_metadata(root.join(p.trim_end_matches('/'))) {
                Ok(m) => !maps(&um, m.uid()) || !maps(&gm, m.gid()),
                Err(_) => true,
            },
        )
        .cloned()
        .collect()
}

/// Run `f` in a child process joined to the user namespace, and bring
/// its outcome back over a pipe.
fn in_user_ns(
    nss: &crate::ns::UserNamespaces,
    f: impl FnOnce() -> Outcome,
) -> Result<Outcome, ImageError> {
    let (r, w) = nix::unistd::pipe().map_err(|e| ImageError::Child(e.to_string()))?;
    let parent = nix::unistd::getpid();
    // SAFETY: rrun is single-threaded here; the child only joins the
    // namespace, writes the archive and exits.
    match unsafe { nix::unistd::fork() } {
        Err(e) => Err(ImageError::Child(e.to_string())),
        Ok(nix::unistd::ForkResult::Child) => {
            drop(r);
            // A save interrupted in the parent ends here too.
            let orphaned = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                .is_err()
                || nix::unistd::getppid() != parent;
            if orphaned {
                // SAFETY: ending the child at once.
                unsafe { libc::_exit(1) }
            }
            let outcome = match crate::ns::join_user(nss) {
                Ok(_) => f(),
                Err(e) => Outcome::Failed(e.to_string()),
            };
            let code = i32::from(File::from(w).write_all(&outcome.encode()).is_err());
            // SAFETY: ending the child without running the parent's
            // exit handlers.
            unsafe { libc::_exit(code) }
        }
        Ok(nix::unistd::ForkResult::Parent { child }) => {
            drop(w);
            let mut buf = Vec::new();
            let read = File::from(r).read_to_end(&mut buf);
            let _ = nix::sys::wait::waitpid(child, None);
            read.map_err(|e| ImageError::Child(e.to_string()))?;
            Outcome::decode(&buf)
                .ok_or_else(|| ImageError::Child("the child ended without a result".into()))
        }
    }
}

/// The image's Config: a `--from` container's command, user variables,
/// ports, working directory and user; else a shell if there is one.
fn run_config(root: &Path, c: Option<&state::Config>) -> oci::RunConfig {
    let lossy = |s: &OsStr| s.to_string_lossy().into_owned();
    let mut env = vec![format!("PATH={}", crate::plan::DEFAULT_PATH)];
    let Some(c) = c else {
        let sh = fs::symlink_metadata(root.join("bin/sh")).is_ok();
        return oci::RunConfig {
            cmd: if sh {
                vec!["/bin/sh".into()]
            } else {
                Vec::new()
            },
            env,
            ..Default::default()
        };
    };
    for v in &c.user_env {
        let v = lossy(v);
        let key = v.split('=').next().unwrap_or_default().to_string();
        match env
            .iter_mut()
            .find(|e| e.split('=').next() == Some(key.as_str()))
        {
            Some(slot) => *slot = v,
            None => env.push(v),
        }
    }
    let mut cmd = vec![lossy(&c.path)];
    cmd.extend(c.args.iter().map(|a| lossy(a)));
    cmd.retain(|_| !c.path.is_empty());
    let workdir = lossy(&c.workdir);
    oci::RunConfig {
        cmd,
        env,
        exposed: c.exposed.iter().map(|e| e.to_string()).collect(),
        user: c.user.clone(),
        workdir: if workdir == "/" {
            String::new()
        } else {
            workdir
        },
    }
}

/// A `Write` that hashes and counts what passes through it.
struct HashW<W: Write> {
    inner: W,
    hash: Sha256,
    len: u64,
}

impl<W: Write> HashW<W> {
    fn new(inner: W) -> Self {
        HashW {
            inner,
            hash: Sha256::new(),
            len: 0,
        }
    }
    fn hex(self) -> (W, String, u64) {
        (
            self.inner,
            crate::bytes::hex(&self.hash.finalize()),
            self.len,
        )
    }
}

impl<W: Write> Write for HashW<W> {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(b)?;
        self.hash.update(&b[..n]);
        self.len += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn sha256_hex(b: &[u8]) -> String {
    crate::bytes::hex(&Sha256::digest(b))
}

/// Write the whole archive to `file` (at its start): the layer first,
/// streamed behind a placeholder header that is then patched with its
/// digest and size, then the small documents.
fn archive(
    file: &File,
    root: &Path,
    rc: &oci::RunConfig,
    r: &oci::Reference,
    created: &str,
    opts: &Opts,
) -> Outcome {
    let mut walked = Walked::default();
    match write_archive(file, root, rc, r, created, opts, &mut walked) {
        Ok(id) => Outcome::Done { id, walked },
        Err(e) => Outcome::Failed(e),
    }
}

fn write_archive(
    file: &File,
    root: &Path,
    rc: &oci::RunConfig,
    r: &oci::Reference,
    created: &str,
    opts: &Opts,
    walked: &mut Walked,
) -> Result<String, String> {
    let w = |e: tar::TarError| e.to_string();
    let mtime = opts.mtime;
    let meta = |path: String, kind: tar::Kind, mode: u32| tar::Header {
        path: path.into_bytes(),
        kind,
        mode,
        uid: 0,
        gid: 0,
        mtime,
        xattrs: Vec::new(),
    };
    let mut outer = tar::Writer::new(BufWriter::with_capacity(256 * 1024, file));
    for d in ["blobs/", "blobs/sha256/"] {
        outer
            .entry(&meta(d.into(), tar::Kind::Dir, 0o755))
            .map_err(w)?;
    }
    let blob = |hex: &str, size: u64| {
        meta(
            format!("blobs/sha256/{hex}"),
            tar::Kind::File { size },
            0o644,
        )
    };
    let at = outer.written;
    outer
        .raw(&tar::encode(&blob(&"0".repeat(64), 0)))
        .map_err(w)?;

    let gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(HashW::new(&mut outer.inner), flate2::Compression::new(6));
    let mut layer = tar::Writer::new(HashW::new(gz));
    let mut walk = Walk {
        tar: &mut layer,
        opts,
        links: HashMap::new(),
        walked,
    };
    let mut abs = root.to_path_buf();
    walk.dir(&mut abs, &mut Vec::new())?;
    layer.finish().map_err(w)?;
    let (gz, diff_id, _) = layer.into_inner().hex();
    let (_, layer_hex, layer_len) = gz.finish().map_err(|e| format!("compressing: {e}"))?.hex();
    if layer_len > 0o77777777777 {
        return Err(ImageError::TooLarge(layer_len).to_string());
    }
    outer.written += layer_len;
    outer
        .raw(&[0; tar::BLOCK][..tar::padding(layer_len)])
        .map_err(w)?;

    let config = oci::config(
        oci::go_arch(std::env::consts::ARCH),
        rc,
        created,
        &format!("sha256:{diff_id}"),
    );
    let config_hex = sha256_hex(&config);
    let manifest = oci::manifest(
        (&format!("sha256:{config_hex}"), config.len() as u64),
        (&format!("sha256:{layer_hex}"), layer_len),
    );
    let manifest_hex = sha256_hex(&manifest);
    let index = oci::index(
        (&format!("sha256:{manifest_hex}"), manifest.len() as u64),
        r,
    );
    let docker = oci::docker_manifest(&config_hex, &layer_hex, r);
    let small: [(String, &[u8]); 5] = [
        (format!("blobs/sha256/{config_hex}"), &config),
        (format!("blobs/sha256/{manifest_hex}"), &manifest),
        ("index.json".into(), &index),
        ("manifest.json".into(), &docker),
        ("oci-layout".into(), oci::OCI_LAYOUT),
    ];
    for (name, data) in small {
        let h = meta(
            name,
            tar::Kind::File {
                size: data.len() as u64,
            },
            0o644,
        );
        outer.file(&h, &mut &data[..]).map_err(w)?;
    }
    outer.finish().map_err(w)?;
    outer
        .inner
        .flush()
        .map_err(|e| format!("writing: {}", sys::errno_text(&e)))?;
    file.write_all_at(&tar::encode(&blob(&layer_hex, layer_len)), at)
        .map_err(|e| format!("writing: {}", sys::errno_text(&e)))?;
    Ok(format!("sha256:{config_hex}"))
}

struct Walk<'a, W: Write> {
    tar: &'a mut tar::Writer<W>,
    opts: &'a Opts,
    /// Multiply-linked inodes already written: (dev, ino) → path.
    links: HashMap<(u64, u64), Vec<u8>>,
    walked: &'a mut Walked,
}

/// How many overflow-owned paths an error lists.
const OVERFLOW_SHOWN: usize = 10;

impl<W: Write> Walk<'_, W> {
    /// Write the entries below the directory `abs` (whose archive path is
    /// `rel`, "" for the root), children in the order of their names' bytes.
    fn dir(&mut self, abs: &mut PathBuf, rel: &mut Vec<u8>) -> Result<(), String> {
        let err = |p: &Path, e: &io::Error| format!("{}: {}", p.display(), sys::errno_text(e));
        let mut names: Vec<OsString> = fs::read_dir(&*abs)
            .map_err(|e| err(abs, &e))?
            .map(|d| d.map(|d| d.file_name()))
            .collect::<Result<_, _>>()
            .map_err(|e| err(abs, &e))?;
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        for name in names {
            abs.push(&name);
            let len = rel.len();
            rel.extend_from_slice(name.as_bytes());
            let r = self.entry(abs, rel);
            rel.truncate(len);
            abs.pop();
            r?;
        }
        Ok(())
    }

    fn entry(&mut self, abs: &mut PathBuf, rel: &mut Vec<u8>) -> Result<(), String> {
        let err = |e: &io::Error| format!("{}: {}", abs.display(), sys::errno_text(e));
        let m = fs::symlink_metadata(&*abs).map_err(|e| err(&e))?;
        let t = m.file_type();
        if t.is_socket() {
            self.walked.warnings.push(format!(
                "{}: a socket, left out",
                String::from_utf8_lossy(rel)
            ));
            return Ok(());
        }
        if (t.is_block_device() || t.is_char_device()) && !self.opts.devices {
            return Ok(());
        }
        if placed(abs, &m) {
            return Ok(());
        }
        if t.is_dir() {
            rel.push(b'/');
        }
        if let Some((ou, og)) = self.opts.overflow
            && (m.uid() == ou || m.gid() == og)
        {
            self.walked
                .overflow
                .push(String::from_utf8_lossy(rel).into_owned());
        }
        let mut h = tar::Header {
            path: rel.clone(),
            kind: tar::Kind::Dir,
            mode: m.mode() & 0o7777,
            uid: u64::from(m.uid()),
            gid: u64::from(m.gid()),
            mtime: self.opts.mtime,
            xattrs: xattrs(abs).map_err(|e| err(&e))?,
        };
        let dev = || {
            let rdev = m.rdev();
            (libc::major(rdev), libc::minor(rdev))
        };
        let key = (m.dev(), m.ino());
        if !t.is_dir() && m.nlink() > 1 {
            if let Some(first) = self.links.get(&key) {
                h.kind = tar::Kind::Link(first.clone());
                h.xattrs.clear();
                return self.tar.entry(&h).map_err(|e| e.to_string());
            }
            self.links.insert(key, rel.clone());
        }
        if t.is_file() {
            let f = fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
                .open(&*abs)
                .map_err(|e| err(&e))?;
            let fm = f.metadata().map_err(|e| err(&e))?;
            if (fm.dev(), fm.ino()) != key {
                return Err(format!("{}: replaced while being read", abs.display()));
            }
            h.kind = tar::Kind::File { size: fm.len() };
            return self
                .tar
                .file(&h, &mut &f)
                .map_err(|e| format!("{}: {e}", abs.display()));
        }
        h.kind = if t.is_dir() {
            tar::Kind::Dir
        } else if t.is_symlink() {
            let target = fs::read_link(&*abs).map_err(|e| err(&e))?;
            tar::Kind::Symlink(target.into_os_string().into_vec())
        } else if t.is_char_device() {
            self.walked.devices += 1;
            let (major, minor) = dev();
            tar::Kind::Char { major, minor }
        } else if t.is_block_device() {
            self.walked.devices += 1;
            let (major, minor) = dev();
            tar::Kind::Block { major, minor }
        } else {
            tar::Kind::Fifo
        };
        self.tar.entry(&h).map_err(|e| e.to_string())?;
        if t.is_dir() {
            self.dir(abs, rel)?;
        }
        Ok(())
    }
}

use std::os::unix::ffi::OsStringExt;

/// Whether `abs` is a mount point rrun placed and nothing has used since:
/// marked, and an empty file or a directory holding only such entries.
fn placed(abs: &Path, m: &fs::Metadata) -> bool {
    let t = m.file_type();
    if !(t.is_dir() || (t.is_file() && m.len() == 0)) || !has_xattr(abs, PLACED_XATTR) {
        return false;
    }
    if t.is_file() {
        return true;
    }
    let Ok(rd) = fs::read_dir(abs) else {
        return false;
    };
    rd.into_iter().all(|e| {
        e.ok()
            .and_then(|e| {
                let p = e.path();
                let m = fs::symlink_metadata(&p).ok()?;
                Some(placed(&p, &m))
            })
            .unwrap_or(false)
    })
}

fn has_xattr(p: &Path, n: &std::ffi::CStr) -> bool {
    let Ok(c) = sys::cstr(p) else {
        return false;
    };
    // SAFETY: both strings are NUL-terminated; a zero-size query writes
    // nothing.
    unsafe { libc::lgetxattr(c.as_ptr(), n.as_ptr(), std::ptr::null_mut(), 0) >= 0 }
}

/// The xattrs of `p` an image keeps, sorted by name, capabilities made
/// portable.
fn xattrs(p: &Path) -> io::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let c = sys::cstr(p)?;
    let unsupported =
        |e: &io::Error| matches!(e.raw_os_error(), Some(libc::ENOTSUP) | Some(libc::ENODATA));
    let names = match fetch(|buf, len| {
        // SAFETY: `buf` holds `len` bytes (or is null with len 0).
        unsafe { libc::llistxattr(c.as_ptr(), buf.cast(), len) }
    }) {
        Ok(n) => n,
        Err(e) if unsupported(&e) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for name in names.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        if !tar::keep_xattr(name) {
            continue;
        }
        let cn =
            std::ffi::CString::new(name).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        let v = match fetch(|buf, len| {
            // SAFETY: as above; both names are NUL-terminated.
            unsafe { libc::lgetxattr(c.as_ptr(), cn.as_ptr(), buf.cast(), len) }
        }) {
            Ok(v) => v,
            // Removed since it was listed.
            Err(e) if unsupported(&e) => continue,
            Err(e) => return Err(e),
        };
        let v = if name == b"security.capability" {
            tar::portable_capability(&v)
        } else {
            v
        };
        out.push((name.to_vec(), v));
    }
    out.sort();
    Ok(out)
}

/// Call a size-then-fill xattr syscall until the value fits.
fn fetch(call: impl Fn(*mut u8, usize) -> isize) -> io::Result<Vec<u8>> {
    loop {
        let n = call(std::ptr::null_mut(), 0);
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut buf = vec![0u8; n as usize];
        let got = call(buf.as_mut_ptr(), buf.len());
        if got >= 0 {
            buf.truncate(got as usize);
            return Ok(buf);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::ERANGE) {
            return Err(e);
        }
    }
}

/// The archive being written: an unnamed file in the output's directory,
/// given its name only when complete (or, where the filesystem has no
/// unnamed files, a hidden temporary one removed on failure).
struct Output {
    file: File,
    path: PathBuf,
    /// The temporary name, when the file has one.
    temp: Option<PathBuf>,
}

impl Output {
    fn create(path: &Path) -> Result<Output, ImageError> {
        let shown = path.display().to_string();
        let fail = |e: io::Error| ImageError::Output(shown.clone(), sys::errno_text(&e));
        if path.as_os_str().is_empty() || path.as_os_str() == "-" {
            return Err(ImageError::Output(
                shown,
                "give a file name (rrun writes the archive to a file, not to stdout)".into(),
            ));
        }
        if fs::metadata(path).is_ok_and(|m| m.is_dir()) {
            return Err(ImageError::Output(shown, "is a directory".into()));
        }
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let unnamed = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .mode(0o644)
            .custom_flags(libc::O_TMPFILE)
            .open(&dir);
        match unnamed {
            Ok(file) => Ok(Output {
                file,
                path: path.to_path_buf(),
                temp: None,
            }),
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EOPNOTSUPP) | Some(libc::EISDIR) | Some(libc::EINVAL)
                ) =>
            {
                let temp = temp_name(path);
                let file = fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create_new(true)
                    .mode(0o644)
                    .open(&temp)
                    .map_err(fail)?;
                Ok(Output {
                    file,
                    path: path.to_path_buf(),
                    temp: Some(temp),
                })
            }
            Err(e) => Err(fail(e)),
        }
    }

    fn shown(&self) -> String {
        self.path.display().to_string()
    }

    /// Give the complete file its name, replacing what had it.
    fn commit(mut self) -> Result<(), ImageError> {
        let shown = self.shown();
        let fail = |e: io::Error| ImageError::Output(shown.clone(), sys::errno_text(&e));
        let temp = match self.temp.take() {
            Some(t) => t,
            None => {
                let t = temp_name(&self.path);
                let fd = format!("/proc/self/fd/{}", self.file.as_raw_fd());
                nix::unistd::linkat(
                    None,
                    Path::new(&fd),
                    None,
                    &t,
                    nix::fcntl::AtFlags::AT_SYMLINK_FOLLOW,
                )
                .map_err(|e| fail(e.into()))?;
                t
            }
        };
        fs::rename(&temp, &self.path).map_err(|e| {
            let _ = fs::remove_file(&temp);
            fail(e)
        })
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        if let Some(t) = &self.temp {
            let _ = fs::remove_file(t);
        }
    }
}

fn temp_name(path: &Path) -> PathBuf {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    path.with_file_name(format!(".{name}.rrun-{}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> state::Config {
        state::Config {
            path: "/bin/sh".into(),
            args: vec!["-c".into(), "echo hi".into()],
            user_env: vec!["A=1".into(), "PATH=/x".into()],
            user: "1000:1000".into(),
            workdir: "/srv".into(),
            exposed: vec![crate::ports::Exposed {
                port: 80,
                proto: crate::ports::Proto::Tcp,
            }],
            ..Default::default()
        }
    }

    #[test]
    fn outcomes_cross_the_pipe() {
        let done = Outcome::Done {
            id: "sha256:ab".into(),
            walked: Walked {
                overflow: vec!["etc/x".into(), "a\nb/".into()],
                warnings: vec!["s: a socket, left out".into()],
                devices: 3,
            },
        };
        for o in [done, Outcome::Failed("x: EIO".into())] {
            assert_eq!(Outcome::decode(&o.encode()), Some(o));
        }
        assert_eq!(Outcome::decode(b""), None);
        assert_eq!(Outcome::decode(b"D\0id\0x"), None);
        assert_eq!(Outcome::decode(b"D\0id\0\x30\0q\0v"), None);
        assert_eq!(Outcome::decode(b"D\0id\0\x30\0w"), None);
    }

    #[test]
    fn run_config_from_a_record() {
        let rc = run_config(Path::new("/nonexistent"), Some(&cfg()));
        assert_eq!(rc.cmd, ["/bin/sh", "-c", "echo hi"]);
        assert_eq!(rc.env, ["PATH=/x", "A=1"]);
        assert_eq!(rc.exposed, ["80/tcp"]);
        assert_eq!(rc.user, "1000:1000");
        assert_eq!(rc.workdir, "/srv");
        let mut c = cfg();
        c.workdir = "/".into();
        c.user_env.clear();
        let rc = run_config(Path::new("/nonexistent"), Some(&c));
        assert_eq!(rc.workdir, "");
        assert_eq!(rc.env, [format!("PATH={}", crate::plan::DEFAULT_PATH)]);
        let rc = run_config(Path::new("/nonexistent"), None);
        assert!(rc.cmd.is_empty());
    }

    /// A small fixed tree gives these digests: a change to the writer,
    /// flate2 or zlib-rs that changes the bytes shows here.
    #[test]
    fn golden_digests() {
        let dir = std::env::temp_dir().join(format!("rrun-golden-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("bin")).unwrap();
        fs::create_dir_all(dir.join("etc")).unwrap();
        fs::write(dir.join("bin/tool"), b"#!/bin/sh\necho tool\n").unwrap();
        fs::write(dir.join("etc/greeting"), b"hello\n".repeat(1000)).unwrap();
        std::os::unix::fs::symlink("tool", dir.join("bin/sh")).unwrap();
        fs::hard_link(dir.join("bin/tool"), dir.join("bin/tool2")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        for (p, m) in [
            ("", 0o755),
            ("bin", 0o755),
            ("etc", 0o700),
            ("bin/tool", 0o4755),
            ("etc/greeting", 0o600),
        ] {
            fs::set_permissions(dir.join(p), fs::Permissions::from_mode(m)).unwrap();
        }
        for p in ["", "bin", "etc", "bin/tool", "etc/greeting"] {
            std::os::unix::fs::lchown(dir.join(p), Some(0), Some(0)).ok();
        }
        std::os::unix::fs::lchown(dir.join("bin/sh"), Some(0), Some(0)).ok();
        let out = dir.with_extension("tar");
        let file = File::create(&out).unwrap();
        let rc = run_config(&dir, None);
        let r = oci::Reference::parse("golden:1").unwrap();
        let opts = Opts {
            mtime: 0,
            devices: true,
            overflow: None,
        };
        let id = match archive(
            &file,
            &dir.canonicalize().unwrap(),
            &rc,
            &r,
            "1970-01-01T00:00:00Z",
            &opts,
        ) {
            Outcome::Done { id, .. } => id,
            Outcome::Failed(m) => panic!("{m}"),
        };
        let bytes = fs::read(&out).unwrap();
        let _ = fs::remove_dir_all(&dir);
        let _ = fs::remove_file(&out);
        // Ownership only as root (the tests may run as anyone).
        if nix::unistd::geteuid().is_root() {
            assert_eq!(
                id, "sha256:f075b0ac7b59b2d62f67c0a6e0dc1c4efd59b2857f148fef937820125a291750",
                "the image id changed"
            );
            assert_eq!(
                sha256_hex(&bytes),
                "51be8f1068d9216e32f283e0f99a8879c617e3ee3b746c14e1f51a5976d8a207",
                "the archive's bytes changed"
            );
        }
        assert_eq!(bytes.len() % tar::BLOCK, 0);
    }
}

//! A deterministic tar writer: USTAR headers, with POSIX PAX records for
//! what USTAR cannot hold (long paths and link targets, large ids, sizes
//! and times, xattrs), and nothing else — no GNU extensions, no user or
//! group names, no access or change times. Pure: it formats bytes and
//! copies from a `Read` to a `Write`; the caller walks the filesystem.
//! Also the rules for which xattrs an image keeps.

use std::io::{self, Read, Write};

#[derive(Debug, thiserror::Error)]
pub enum TarError {
    #[error("writing: {0}")]
    Write(#[source] io::Error),
    #[error("reading: {0}")]
    Read(#[source] io::Error),
    #[error("it shrank while being read ({got} of {want} bytes)")]
    Shrank { want: u64, got: u64 },
    #[error("it grew while being read (past {0} bytes)")]
    Grew(u64),
}

/// What an entry is, with what each kind carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    File {
        size: u64,
    },
    Dir,
    Symlink(Vec<u8>),
    /// A hard link to an earlier entry (its path).
    Link(Vec<u8>),
    Char {
        major: u32,
        minor: u32,
    },
    Block {
        major: u32,
        minor: u32,
    },
    Fifo,
}

/// One entry's header. `path` is relative, without a leading `/` or `./`;
/// a directory's ends with `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub path: Vec<u8>,
    pub kind: Kind,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
    /// Name and value, in the order they are written (sort them first).
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

pub const BLOCK: usize = 512;

/// Zeros that end an archive.
pub const END: [u8; 2 * BLOCK] = [0; 2 * BLOCK];

/// Bytes of zeros after `size` bytes of content, up to a block boundary.
pub fn padding(size: u64) -> usize {
    let r = (size % BLOCK as u64) as usize;
    if r == 0 { 0 } else { BLOCK - r }
}

/// One PAX record: "<len> <key>=<value>\n", len counting the whole record.
pub fn pax_record(key: &[u8], value: &[u8]) -> Vec<u8> {
    let body = key.len() + value.len() + 3;
    let mut len = body + body.to_string().len();
    if len.to_string().len() + body > len {
        len += 1;
    }
    let mut r = len.to_string().into_bytes();
    r.push(b' ');
    r.extend_from_slice(key);
    r.push(b'=');
    r.extend_from_slice(value);
    r.push(b'\n');
    r
}

/// The largest number an octal field of `width` bytes holds (one byte
/// goes to the terminating NUL).
fn octal_max(width: usize) -> u64 {
    (1u64 << (3 * (width as u32 - 1))) - 1
}

/// `n` in octal, zero-padded to `field.len() - 1` digits and NUL-ended.
fn put_octal(field: &mut [u8], n: u64) {
    let s = format!("{n:0w$o}", w = field.len() - 1);
    field[..s.len()].copy_from_slice(s.as_bytes());
}

/// Split a path into USTAR's prefix (≤ 155) and name (≤ 100) at a `/`.
pub fn split_ustar(path: &[u8]) -> Option<(&[u8], &[u8])> {
    if path.len() <= 100 {
        return Some((&[], path));
    }
    // The last '/' such that the prefix fits (a directory's trailing one
    // does not count); the name must then fit too and not be empty.
    let limit = if path.len() > 156 {
        156
    } else {
        path.len() - usize::from(path.ends_with(b"/"))
    };
    let i = path[..limit].iter().rposition(|&b| b == b'/')?;
    let (prefix, name) = (&path[..i], &path[i + 1..]);
    (i > 0 && !name.is_empty() && name.len() <= 100).then_some((prefix, name))
}

/// The ustar header block for `h`, with `size` as the content size and
/// `typeflag`, filling in what fits; the PAX records for what does not.
fn ustar(h: &Header, typeflag: u8, size: u64) -> ([u8; BLOCK], Vec<u8>) {
    let mut b = [0u8; BLOCK];
    let mut pax = Vec::new();
    match split_ustar(&h.path) {
        Some((prefix, name)) => {
            b[..name.len()].copy_from_slice(name);
            b[345..345 + prefix.len()].copy_from_slice(prefix);
        }
        None => {
            let n = h.path.len().min(100);
            b[..n].copy_from_slice(&h.path[..n]);
            pax.extend(pax_record(b"path", &h.path));
        }
    }
    put_octal(&mut b[100..108], u64::from(h.mode & 0o7777));
    for (field, key, v) in [
        (108..116, &b"uid"[..], h.uid),
        (116..124, b"gid", h.gid),
        (124..136, b"size", size),
        (136..148, b"mtime", h.mtime),
    ] {
        if v <= octal_max(field.len()) {
            put_octal(&mut b[field], v);
        } else {
            put_octal(&mut b[field], 0);
            pax.extend(pax_record(key, v.to_string().as_bytes()));
        }
    }
    b[156] = typeflag;
    let target = match &h.kind {
        Kind::Symlink(t) | Kind::Link(t) => t.as_slice(),
        _ => &[],
    };
    if target.len() <= 100 {
        b[157..157 + target.len()].copy_from_slice(target);
    } else {
        b[157..257].copy_from_slice(&target[..100]);
        pax.extend(pax_record(b"linkpath", target));
    }
    b[257..263].copy_from_slice(b"ustar\0");
    b[263..265].copy_from_slice(b"00");
    if let Kind::Char { major, minor } | Kind::Block { major, minor } = h.kind {
        put_octal(&mut b[329..337], u64::from(major));
        put_octal(&mut b[337..345], u64::from(minor));
    }
    for (name, value) in &h.xattrs {
        let mut key = b"SCHILY.xattr.".to_vec();
        key.extend_from_slice(name);
        pax.extend(pax_record(&key, value));
    }
    checksum(&mut b);
    (b, pax)
}

fn checksum(b: &mut [u8; BLOCK]) {
    b[148..156].fill(b' ');
    let sum: u64 = b.iter().map(|&x| u64::from(x)).sum();
    let s = format!("{sum:06o}\0 ");
    b[148..156].copy_from_slice(s.as_bytes());
}

/// The header blocks of `h`: a PAX extended header and its records first
/// when USTAR cannot hold all of it, then the USTAR block.
pub fn encode(h: &Header) -> Vec<u8> {
    let (typeflag, size) = match h.kind {
        Kind::File { size } => (b'0', size),
        Kind::Link(_) => (b'1', 0),
        Kind::Symlink(_) => (b'2', 0),
        Kind::Char { .. } => (b'3', 0),
        Kind::Block { .. } => (b'4', 0),
        Kind::Dir => (b'5', 0),
        Kind::Fifo => (b'6', 0),
    };
    let (block, pax) = ustar(h, typeflag, size);
    let mut out = Vec::with_capacity(3 * BLOCK + pax.len());
    if !pax.is_empty() {
        let base = h
            .path
            .strip_suffix(b"/")
            .unwrap_or(&h.path)
            .rsplit(|&b| b == b'/')
            .next()
            .unwrap_or_default();
        let mut name = b"PaxHeaders/".to_vec();
        name.extend_from_slice(base);
        name.truncate(100);
        let x = Header {
            path: name,
            kind: Kind::File {
                size: pax.len() as u64,
            },
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime: h.mtime.min(octal_max(12)),
            xattrs: Vec::new(),
        };
        let (xblock, _) = ustar(&x, b'x', pax.len() as u64);
        out.extend_from_slice(&xblock);
        out.extend_from_slice(&pax);
        out.resize(out.len() + padding(pax.len() as u64), 0);
    }
    out.extend_from_slice(&block);
    out
}

/// Writes entries to `W`, counting what it wrote.
pub struct Writer<W: Write> {
    pub inner: W,
    pub written: u64,
    buf: Vec<u8>,
}

impl<W: Write> Writer<W> {
    pub fn new(inner: W) -> Self {
        Writer {
            inner,
            written: 0,
            buf: Vec::new(),
        }
    }

    pub fn into_inner(self) -> W {
        self.inner
    }

    fn put(&mut self, b: &[u8]) -> Result<(), TarError> {
        self.inner.write_all(b).map_err(TarError::Write)?;
        self.written += b.len() as u64;
        Ok(())
    }

    /// An entry without content (anything but a regular file, or an empty
    /// one).
    pub fn entry(&mut self, h: &Header) -> Result<(), TarError> {
        self.put(&encode(h))
    }

    /// A regular file's header and exactly `size` bytes read from `r`: an
    /// error if `r` ends sooner or has more.
    pub fn file(&mut self, h: &Header, r: &mut dyn Read) -> Result<(), TarError> {
        let want = match h.kind {
            Kind::File { size } => size,
            _ => 0,
        };
        self.put(&encode(h))?;
        if self.buf.is_empty() {
            self.buf = vec![0; 256 * 1024];
        }
        let mut got = 0u64;
        let mut buf = std::mem::take(&mut self.buf);
        let res = (|| {
            while got < want {
                let n = (want - got).min(buf.len() as u64) as usize;
                let n = match r.read(&mut buf[..n]) {
                    Ok(0) => return Err(TarError::Shrank { want, got }),
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(TarError::Read(e)),
                };
                self.put(&buf[..n])?;
                got += n as u64;
            }
            loop {
                match r.read(&mut buf[..1]) {
                    Ok(0) => return Ok(()),
                    Ok(_) => return Err(TarError::Grew(want)),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(TarError::Read(e)),
                }
            }
        })();
        self.buf = buf;
        res?;
        self.put(&[0; BLOCK][..padding(want)])
    }

    /// Raw bytes (a blob's content written by the caller), then padding.
    pub fn raw(&mut self, b: &[u8]) -> Result<(), TarError> {
        self.put(b)
    }

    /// The two zero blocks that end the archive (not flushed: a flush
    /// would end a deflate block early).
    pub fn finish(&mut self) -> Result<(), TarError> {
        self.put(&END)
    }
}

/// Whether an image keeps the xattr `name`: file capabilities and the
/// user's own `user.*` ones, not rrun's marks or overlayfs' bookkeeping
/// (nor SELinux labels, ACLs or trusted.*, which belong to this host).
pub fn keep_xattr(name: &[u8]) -> bool {
    if name == b"security.capability" {
        return true;
    }
    name.starts_with(b"user.")
        && !name.starts_with(b"user.rrun.")
        && !name.starts_with(b"user.overlay.")
}

/// A file capability as an image carries it: a revision-3 value names the
/// root id of the user namespace it was set in, which means nothing
/// outside it, so it becomes revision 2 (the same sets, no root id).
pub fn portable_capability(v: &[u8]) -> Vec<u8> {
    const V2_LEN: usize = 20;
    if v.len() == 24 && v[3] == 3 {
        let mut out = v[..V2_LEN].to_vec();
        out[3] = 2;
        return out;
    }
    v.to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hdr(path: &str, kind: Kind) -> Header {
        Header {
            path: path.as_bytes().to_vec(),
            kind,
            mode: 0o755,
            uid: 0,
            gid: 0,
            mtime: 0,
            xattrs: Vec::new(),
        }
    }

    /// Field `r` of a block, up to its first NUL.
    fn field(b: &[u8], r: std::ops::Range<usize>) -> String {
        let f = &b[r];
        let end = f.iter().position(|&c| c == 0).unwrap_or(f.len());
        String::from_utf8_lossy(&f[..end]).into_owned()
    }

    fn octal(b: &[u8], r: std::ops::Range<usize>) -> u64 {
        u64::from_str_radix(field(b, r).trim(), 8).unwrap()
    }

    fn valid_checksum(b: &[u8]) -> bool {
        let mut c = b[..BLOCK].to_vec();
        c[148..156].fill(b' ');
        let sum: u64 = c.iter().map(|&x| u64::from(x)).sum();
        octal(b, 148..154) == sum && b[154] == 0 && b[155] == b' '
    }

    #[test]
    fn padding_to_blocks() {
        assert_eq!(padding(0), 0);
        assert_eq!(padding(1), 511);
        assert_eq!(padding(511), 1);
        assert_eq!(padding(512), 0);
        assert_eq!(padding(513), 511);
        assert_eq!(END.len(), 1024);
        assert!(END.iter().all(|&b| b == 0));
    }

    #[test]
    fn pax_record_lengths_count_themselves() {
        assert_eq!(pax_record(b"path", b"a"), b"9 path=a\n");
        assert_eq!(pax_record(b"path", b"ab"), b"11 path=ab\n");
        for n in 0..300 {
            let v = vec![b'v'; n];
            let r = pax_record(b"k", &v);
            let s = String::from_utf8(r.clone()).unwrap();
            let (len, _) = s.split_once(' ').unwrap();
            assert_eq!(len.parse::<usize>().unwrap(), r.len(), "{s}");
            assert!(s.ends_with('\n'));
        }
        // Crossing a digit boundary: 95 bytes of body + 2 digits = 97;
        // 98 + 2 = 100 needs 3 digits: 101.
        let r = pax_record(b"k", &[b'v'; 94]);
        assert_eq!(r.len(), 100 + 1);
        assert!(r.starts_with(b"101 "));
        let r = pax_record(b"k", &[b'v'; 93]);
        assert_eq!(r.len(), 99);
        assert!(r.starts_with(b"99 "));
    }

    #[test]
    fn octal_fields() {
        assert_eq!(octal_max(8), 0o7777777);
        assert_eq!(octal_max(12), 0o77777777777);
        let mut f = [0xffu8; 8];
        put_octal(&mut f, 0o755);
        assert_eq!(&f, b"0000755\xff");
    }

    #[test]
    fn a_plain_file_header() {
        let mut h = hdr("etc/passwd", Kind::File { size: 1234 });
        h.mode = 0o104755;
        h.uid = 1000;
        h.gid = 1001;
        h.mtime = 1_700_000_000;
        let b = encode(&h);
        assert_eq!(b.len(), BLOCK);
        assert_eq!(field(&b, 0..100), "etc/passwd");
        assert_eq!(octal(&b, 100..108), 0o4755);
        assert_eq!(octal(&b, 108..116), 1000);
        assert_eq!(octal(&b, 116..124), 1001);
        assert_eq!(octal(&b, 124..136), 1234);
        assert_eq!(octal(&b, 136..148), 1_700_000_000);
        assert_eq!(b[156], b'0');
        assert_eq!(&b[257..265], b"ustar\x0000");
        assert_eq!(field(&b, 265..297), "");
        assert_eq!(field(&b, 297..329), "");
        assert_eq!(field(&b, 345..500), "");
        assert!(valid_checksum(&b));
    }

    #[test]
    fn kinds_and_typeflags() {
        let cases = [
            (Kind::Dir, b'5'),
            (Kind::Symlink(b"busybox".to_vec()), b'2'),
            (Kind::Link(b"bin/busybox".to_vec()), b'1'),
            (Kind::Char { major: 1, minor: 3 }, b'3'),
            (Kind::Block { major: 8, minor: 1 }, b'4'),
            (Kind::Fifo, b'6'),
            (Kind::File { size: 0 }, b'0'),
        ];
        for (k, t) in cases {
            let b = encode(&hdr("x", k.clone()));
            assert_eq!(b.len(), BLOCK, "{k:?}");
            assert_eq!(b[156], t, "{k:?}");
            assert_eq!(octal(&b, 124..136), 0, "{k:?}");
            assert!(valid_checksum(&b));
        }
        let b = encode(&hdr("bin/sh", Kind::Symlink(b"busybox".to_vec())));
        assert_eq!(field(&b, 157..257), "busybox");
        let b = encode(&hdr("bin/echo", Kind::Link(b"bin/busybox".to_vec())));
        assert_eq!(field(&b, 157..257), "bin/busybox");
        let b = encode(&hdr(
            "dev/sda1",
            Kind::Block {
                major: 259,
                minor: 1048575,
            },
        ));
        assert_eq!(octal(&b, 329..337), 259);
        assert_eq!(octal(&b, 337..345), 1048575);
        let b = encode(&hdr("dev/null", Kind::Char { major: 1, minor: 3 }));
        assert_eq!(octal(&b, 329..337), 1);
        assert_eq!(octal(&b, 337..345), 3);
        // Not a device: the fields stay empty.
        let b = encode(&hdr("d/", Kind::Dir));
        assert_eq!(&b[329..345], &[0u8; 16]);
    }

    #[test]
    fn ustar_splits_long_paths() {
        let hundred = "a".repeat(100);
        assert_eq!(
            split_ustar(hundred.as_bytes()),
            Some((&b""[..], hundred.as_bytes()))
        );
        let p = format!("{}/{}", "d".repeat(155), "n".repeat(100));
        let (prefix, name) = split_ustar(p.as_bytes()).unwrap();
        assert_eq!(prefix.len(), 155);
        assert_eq!(name.len(), 100);
        // Prefix one too long.
        let p = format!("{}/{}", "d".repeat(156), "n".repeat(10));
        assert_eq!(split_ustar(p.as_bytes()), None);
        // Name one too long.
        let p = format!("{}/{}", "d".repeat(10), "n".repeat(101));
        assert_eq!(split_ustar(p.as_bytes()), None);
        // No slash at all, or only a leading one.
        assert_eq!(split_ustar("x".repeat(101).as_bytes()), None);
        assert_eq!(
            split_ustar(format!("/{}", "x".repeat(100)).as_bytes()),
            None
        );
        // Only a trailing slash: the name would be empty.
        assert_eq!(
            split_ustar(format!("{}/", "x".repeat(100)).as_bytes()),
            None
        );
        // A trailing slash leaves an empty name: not splittable there, but
        // at an earlier slash.
        let p = format!("{}/{}/", "d".repeat(60), "e".repeat(60));
        let (prefix, name) = split_ustar(p.as_bytes()).unwrap();
        assert_eq!(prefix, "d".repeat(60).as_bytes());
        assert_eq!(name, format!("{}/", "e".repeat(60)).as_bytes());
        // A 156-byte directory path: its trailing slash is not searched.
        let p = format!("{}/{}/", "d".repeat(60), "e".repeat(94));
        assert_eq!(p.len(), 156);
        assert_eq!(
            split_ustar(p.as_bytes()).unwrap().0,
            "d".repeat(60).as_bytes()
        );
        // The last usable slash wins.
        let p = format!("a/b/{}", "n".repeat(99));
        assert_eq!(split_ustar(p.as_bytes()).unwrap().0, b"a/b");
        // A slash right at index 155 is usable, at 156 not.
        let p = format!("{}/{}", "d".repeat(155), "n".repeat(5));
        assert!(split_ustar(p.as_bytes()).is_some());
        let p = format!("{}/{}", "d".repeat(156), "n".repeat(5));
        assert!(split_ustar(p.as_bytes()).is_none());
    }

    #[test]
    fn a_split_path_goes_into_prefix_and_name() {
        let p = format!("{}/{}", "d".repeat(120), "file");
        let b = encode(&hdr(&p, Kind::File { size: 0 }));
        assert_eq!(b.len(), BLOCK);
        assert_eq!(field(&b, 0..100), "file");
        assert_eq!(field(&b, 345..500), "d".repeat(120));
        assert!(valid_checksum(&b));
    }

    /// The PAX records of an encoded entry (its first header is 'x').
    fn pax_of(b: &[u8]) -> Vec<(String, Vec<u8>)> {
        assert_eq!(b[156], b'x');
        assert!(valid_checksum(b));
        let size = octal(b, 124..136) as usize;
        let mut rec = &b[BLOCK..BLOCK + size];
        assert!(b[BLOCK + size..].len() >= BLOCK);
        let mut out = Vec::new();
        while !rec.is_empty() {
            let sp = rec.iter().position(|&c| c == b' ').unwrap();
            let len: usize = std::str::from_utf8(&rec[..sp]).unwrap().parse().unwrap();
            let body = &rec[sp + 1..len - 1];
            assert_eq!(rec[len - 1], b'\n');
            let eq = body.iter().position(|&c| c == b'=').unwrap();
            out.push((
                String::from_utf8_lossy(&body[..eq]).into_owned(),
                body[eq + 1..].to_vec(),
            ));
            rec = &rec[len..];
        }
        out
    }

    fn last_block(b: &[u8]) -> &[u8] {
        &b[b.len() - BLOCK..]
    }

    #[test]
    fn pax_for_what_ustar_cannot_hold() {
        let long = format!("{}/{}", "d".repeat(200), "f".repeat(20));
        let mut h = hdr(&long, Kind::File { size: 8 << 30 });
        h.uid = 4_000_000_000;
        h.gid = 2_097_152;
        h.mtime = 1 << 40;
        h.xattrs = vec![
            (b"security.capability".to_vec(), vec![0, 0, 0, 2, 0xff]),
            (b"user.a".to_vec(), b"x=y\n".to_vec()),
        ];
        let b = encode(&h);
        assert_eq!(b.len() % BLOCK, 0);
        let pax = pax_of(&b);
        let keys: Vec<&str> = pax.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "path",
                "uid",
                "gid",
                "size",
                "mtime",
                "SCHILY.xattr.security.capability",
                "SCHILY.xattr.user.a"
            ]
        );
        assert_eq!(pax[0].1, long.as_bytes());
        assert_eq!(pax[1].1, b"4000000000");
        assert_eq!(pax[2].1, b"2097152");
        assert_eq!(pax[3].1, (8u64 << 30).to_string().as_bytes());
        assert_eq!(pax[4].1, (1u64 << 40).to_string().as_bytes());
        assert_eq!(pax[5].1, [0, 0, 0, 2, 0xff]);
        assert_eq!(pax[6].1, b"x=y\n");
        // The extended header names the entry, is a small 0644 file.
        assert_eq!(field(&b, 0..100), format!("PaxHeaders/{}", "f".repeat(20)));
        assert_eq!(octal(&b, 100..108), 0o644);
        assert_eq!(octal(&b, 136..148), octal_max(12));
        let u = last_block(&b);
        assert!(valid_checksum(u));
        assert_eq!(u[156], b'0');
        assert_eq!(field(u, 0..100), "d".repeat(100));
        assert_eq!(octal(u, 108..116), 0);
        assert_eq!(octal(u, 124..136), 0);
        // Largest values that still fit: no PAX.
        let mut h = hdr(
            "f",
            Kind::File {
                size: octal_max(12),
            },
        );
        h.uid = octal_max(8);
        h.gid = octal_max(8);
        h.mtime = octal_max(12);
        assert_eq!(encode(&h).len(), BLOCK);
    }

    #[test]
    fn long_link_targets_and_pax_names() {
        let target = "t".repeat(101);
        let b = encode(&hdr("a/b/", Kind::Symlink(target.clone().into_bytes())));
        let pax = pax_of(&b);
        assert_eq!(pax, [("linkpath".to_string(), target.clone().into_bytes())]);
        assert_eq!(field(&b, 0..100), "PaxHeaders/b");
        let u = last_block(&b);
        assert_eq!(field(u, 157..257), "t".repeat(100));
        let b = encode(&hdr("l", Kind::Link("t".repeat(100).into_bytes())));
        assert_eq!(b.len(), BLOCK);
        // A long base name: the extended header's name is cut at 100.
        let name = "n".repeat(300);
        let b = encode(&hdr(&name, Kind::Dir));
        assert_eq!(field(&b, 0..100), format!("PaxHeaders/{}", &name[..89]));
        assert_eq!(field(last_block(&b), 0..100), &name[..100]);
    }

    #[test]
    fn writer_copies_exactly_and_pads() {
        let mut w = Writer::new(Vec::new());
        w.file(&hdr("f", Kind::File { size: 3 }), &mut &b"abc"[..])
            .unwrap();
        w.entry(&hdr("d/", Kind::Dir)).unwrap();
        w.raw(b"zz").unwrap();
        w.finish().unwrap();
        assert_eq!(w.written, w.inner.len() as u64);
        assert_eq!(w.inner.len(), BLOCK * 2 + BLOCK + 2 + 1024);
        assert_eq!(&w.inner[BLOCK..BLOCK + 3], b"abc");
        assert!(w.inner[BLOCK + 3..2 * BLOCK].iter().all(|&b| b == 0));
        assert_eq!(w.inner[2 * BLOCK + 156], b'5');
        // A large file crosses the buffer.
        let data: Vec<u8> = (0..600_000u32).map(|i| (i % 251) as u8).collect();
        let mut w = Writer::new(Vec::new());
        w.file(
            &hdr(
                "big",
                Kind::File {
                    size: data.len() as u64,
                },
            ),
            &mut &data[..],
        )
        .unwrap();
        assert_eq!(&w.inner[BLOCK..BLOCK + data.len()], &data[..]);
        assert_eq!(
            w.inner.len(),
            BLOCK + data.len() + padding(data.len() as u64)
        );
    }

    #[test]
    fn writer_refuses_files_that_change() {
        let mut w = Writer::new(Vec::new());
        match w.file(&hdr("f", Kind::File { size: 4 }), &mut &b"abc"[..]) {
            Err(TarError::Shrank { want: 4, got: 3 }) => {}
            other => panic!("{other:?}"),
        }
        let mut w = Writer::new(Vec::new());
        match w.file(&hdr("f", Kind::File { size: 2 }), &mut &b"abc"[..]) {
            Err(TarError::Grew(2)) => {}
            other => panic!("{other:?}"),
        }
        /// Fails every read; a writer that kept retrying would be told.
        struct Fails(u32);
        impl Read for Fails {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                self.0 += 1;
                assert!(self.0 < 100, "a failed read retried");
                Err(io::Error::from_raw_os_error(libc::EIO))
            }
        }
        let mut w = Writer::new(Vec::new());
        assert!(matches!(
            w.file(&hdr("f", Kind::File { size: 2 }), &mut Fails(0)),
            Err(TarError::Read(_))
        ));
        let mut w = Writer::new(Vec::new());
        assert!(matches!(
            w.file(&hdr("f", Kind::File { size: 0 }), &mut Fails(0)),
            Err(TarError::Read(_))
        ));
        // A reader that gives one byte first, then all it is asked for,
        // is asked only for what is left of `size`: a longer one is caught.
        struct Short<'a>(&'a [u8], bool);
        impl Read for Short<'_> {
            fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
                let n = if self.1 { b.len() } else { 1 }.min(self.0.len());
                self.1 = true;
                b[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut w = Writer::new(Vec::new());
        match w.file(&hdr("f", Kind::File { size: 2 }), &mut Short(b"abc", false)) {
            Err(TarError::Grew(2)) => {}
            other => panic!("{other:?}"),
        }
        let mut w = Writer::new(Vec::new());
        w.file(&hdr("f", Kind::File { size: 3 }), &mut Short(b"abc", false))
            .unwrap();
        assert_eq!(&w.inner[BLOCK..BLOCK + 3], b"abc");
        // Interrupted reads are retried.
        struct Flaky(u8);
        impl Read for Flaky {
            fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
                self.0 += 1;
                match self.0 {
                    1 | 3 => Err(io::ErrorKind::Interrupted.into()),
                    2 => {
                        b[0] = b'q';
                        Ok(1)
                    }
                    _ => Ok(0),
                }
            }
        }
        let mut w = Writer::new(Vec::new());
        w.file(&hdr("f", Kind::File { size: 1 }), &mut Flaky(0))
            .unwrap();
        assert_eq!(w.inner[BLOCK], b'q');
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::from_raw_os_error(libc::ENOSPC))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut w = Writer::new(Full);
        assert!(matches!(
            w.entry(&hdr("d/", Kind::Dir)),
            Err(TarError::Write(_))
        ));
        assert_eq!(w.written, 0);
    }

    #[test]
    fn xattrs_kept() {
        assert!(keep_xattr(b"security.capability"));
        assert!(keep_xattr(b"user.mime_type"));
        for n in [
            &b"user.rrun.placed"[..],
            b"user.overlay.origin",
            b"trusted.overlay.opaque",
            b"security.selinux",
            b"system.posix_acl_access",
            b"security.capability2",
            b"user",
        ] {
            assert!(!keep_xattr(n), "{}", String::from_utf8_lossy(n));
        }
    }

    #[test]
    fn capabilities_lose_their_root_id() {
        let mut v3 = vec![0, 0, 0, 3];
        v3.extend(1..=16u8);
        v3.extend([0xe8, 0x03, 0, 0]);
        let v2 = portable_capability(&v3);
        assert_eq!(v2.len(), 20);
        assert_eq!(&v2[..4], &[0, 0, 0, 2]);
        assert_eq!(&v2[4..], &v3[4..20]);
        let mut same = v3.clone();
        same[3] = 2;
        assert_eq!(portable_capability(&same), same);
        assert_eq!(portable_capability(&v3[..20]), &v3[..20]);
    }

    #[test]
    fn never_panics_on_odd_input() {
        for len in [0usize, 1, 99, 100, 101, 155, 156, 255, 256, 257, 5000] {
            for slash in [None, Some(0), Some(len / 2), Some(len.saturating_sub(1))] {
                let mut p = vec![b'p'; len];
                if let Some(i) = slash.filter(|&i| i < len) {
                    p[i] = b'/';
                }
                let h = Header {
                    path: p,
                    kind: Kind::Symlink(vec![b'/'; len]),
                    mode: u32::MAX,
                    uid: u64::MAX,
                    gid: u64::MAX,
                    mtime: u64::MAX,
                    xattrs: vec![(vec![b'x'; len], vec![0; len])],
                };
                let b = encode(&h);
                assert_eq!(b.len() % BLOCK, 0);
                assert!(valid_checksum(last_block(&b)));
            }
        }
    }

    use proptest::prelude::*;

    fn kind() -> impl Strategy<Value = Kind> {
        let bytes = proptest::collection::vec(any::<u8>(), 0..300);
        prop_oneof![
            any::<u64>().prop_map(|size| Kind::File { size }),
            Just(Kind::Dir),
            bytes.clone().prop_map(Kind::Symlink),
            bytes.prop_map(Kind::Link),
            (any::<u32>(), any::<u32>()).prop_map(|(major, minor)| Kind::Char {
                major: major & 0xfff,
                minor: minor & 0xfffff
            }),
            Just(Kind::Fifo),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 500, failure_persistence: None, ..ProptestConfig::default() })]

        /// Any header encodes to whole blocks with a valid checksum, and a
        /// reader gets back its path, ids, size, time, target and xattrs.
        #[test]
        fn any_header_reads_back(
            path in proptest::collection::vec(prop_oneof![Just(b'/'), any::<u8>()], 1..400),
            kind in kind(),
            mode in any::<u32>(),
            uid in any::<u64>(),
            gid in any::<u64>(),
            mtime in any::<u64>(),
            xattrs in proptest::collection::btree_map(
                proptest::collection::vec(b'a'..=b'z', 1..20),
                proptest::collection::vec(any::<u8>(), 0..50),
                0..4,
            ),
        ) {
            let h = Header {
                path: path.clone(),
                kind: kind.clone(),
                mode,
                uid,
                gid,
                mtime,
                xattrs: xattrs.clone().into_iter().collect(),
            };
            let b = encode(&h);
            prop_assert_eq!(b.len() % BLOCK, 0);
            let u = last_block(&b);
            prop_assert!(valid_checksum(u));
            let pax: std::collections::BTreeMap<String, Vec<u8>> =
                if b.len() > BLOCK { pax_of(&b).into_iter().collect() } else { Default::default() };
            let num = |k: &str, field: std::ops::Range<usize>| match pax.get(k) {
                Some(v) => String::from_utf8_lossy(v).parse::<u64>().unwrap(),
                None => octal(u, field),
            };
            let got_path = match pax.get("path") {
                Some(p) => p.clone(),
                None => {
                    let end = |f: &[u8]| f.iter().position(|&c| c == 0).unwrap_or(f.len());
                    let (name, prefix) = (&u[0..100], &u[345..500]);
                    let mut p = prefix[..end(prefix)].to_vec();
                    if !p.is_empty() {
                        p.push(b'/');
                    }
                    p.extend_from_slice(&name[..end(name)]);
                    p
                }
            };
            // A NUL in a path cannot come from a filesystem; others must
            // come back exactly.
            if !path.contains(&0) {
                prop_assert_eq!(got_path, path);
            }
            prop_assert_eq!(num("uid", 108..116), uid);
            prop_assert_eq!(num("gid", 116..124), gid);
            prop_assert_eq!(num("mtime", 136..148), mtime);
            prop_assert_eq!(octal(u, 100..108), u64::from(mode & 0o7777));
            match &kind {
                Kind::File { size } => prop_assert_eq!(num("size", 124..136), *size),
                Kind::Symlink(t) | Kind::Link(t) if !t.contains(&0) => {
                    let got = pax.get("linkpath").cloned().unwrap_or_else(|| {
                        let f = &u[157..257];
                        f[..f.iter().position(|&c| c == 0).unwrap_or(100)].to_vec()
                    });
                    prop_assert_eq!(&got, t);
                }
                _ => prop_assert_eq!(num("size", 124..136), 0),
            }
            for (k, v) in &xattrs {
                let key = format!("SCHILY.xattr.{}", String::from_utf8_lossy(k));
                prop_assert_eq!(pax.get(&key), Some(v));
            }
        }
    }
}

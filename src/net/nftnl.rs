//! Adding and removing set and map elements of rrun's nftables tables over
//! netlink, in one batch (one transaction): what a container does on
//! every start and stop. The `nft` program costs ~7 ms a call (it reads
//! the whole ruleset first), twice per container; these messages cost
//! microseconds. The tables themselves are still made with `nft -f`, once
//! per network.
//!
//! Wire format: NFNL_MSG_BATCH_BEGIN, then NFT_MSG_NEWSETELEM or
//! NFT_MSG_DELSETELEM per set, then NFNL_MSG_BATCH_END. Keys are
//! concatenations of fields, each padded to 4 bytes, in network order.

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::sys;

const NETLINK_NETFILTER: libc::c_int = 12;
const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
const NFNL_MSG_BATCH_END: u16 = 0x11;
const NFT_MSG_GETTABLE: u16 = 1;
const NFT_MSG_NEWSETELEM: u16 = 12;
const NFTA_TABLE_NAME: u16 = 1;
const NFTA_TABLE_HANDLE: u16 = 4;
const NFT_MSG_DELSETELEM: u16 = 14;
const NFTA_SET_ELEM_LIST_TABLE: u16 = 1;
const NFTA_SET_ELEM_LIST_SET: u16 = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_SET_ELEM_KEY: u16 = 1;
const NFTA_SET_ELEM_DATA: u16 = 2;
const NFTA_DATA_VALUE: u16 = 1;
const NLA_F_NESTED: u16 = 0x8000;
pub const FAMILY_IP: u8 = libc::AF_INET as u8;
pub const FAMILY_BRIDGE: u8 = 7;

/// One field of a key or value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Addr(Ipv4Addr),
    Port(u16),
}

/// Concatenate fields as nftables lays them out: each in network order,
/// padded to a 4-byte register.
pub fn concat(fields: &[Field]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in fields {
        match f {
            Field::Addr(a) => out.extend_from_slice(&a.octets()),
            Field::Port(p) => {
                out.extend_from_slice(&p.to_be_bytes());
                // A lone port is 2 bytes; in a concatenation it fills a
                // whole register.
                if fields.len() > 1 {
                    out.extend_from_slice(&[0, 0]);
                }
            }
        }
    }
    out
}

/// An element of a set (no value) or map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Elem {
    pub family: u8,
    pub set: String,
    pub key: Vec<u8>,
    pub value: Option<Vec<u8>>,
}

fn attr(buf: &mut Vec<u8>, ty: u16, payload: &[u8]) {
    let len = 4 + payload.len();
    buf.extend_from_slice(&(len as u16).to_ne_bytes());
    buf.extend_from_slice(&ty.to_ne_bytes());
    buf.extend_from_slice(payload);
    while !buf.len().is_multiple_of(4) {
        buf.push(0);
    }
}

fn nested(buf: &mut Vec<u8>, ty: u16, f: impl FnOnce(&mut Vec<u8>)) {
    let mut inner = Vec::new();
    f(&mut inner);
    attr(buf, ty | NLA_F_NESTED, &inner);
}

fn message(
    out: &mut Vec<u8>,
    ty: u16,
    flags: u16,
    seq: u32,
    family: u8,
    res_id: u16,
    attrs: &[u8],
) {
    let len = 16 + 4 + attrs.len();
    out.extend_from_slice(&(len as u32).to_ne_bytes());
    out.extend_from_slice(&ty.to_ne_bytes());
    out.extend_from_slice(&flags.to_ne_bytes());
    out.extend_from_slice(&seq.to_ne_bytes());
    out.extend_from_slice(&0u32.to_ne_bytes());
    out.push(family);
    out.push(0);
    out.extend_from_slice(&res_id.to_be_bytes());
    out.extend_from_slice(attrs);
}

/// The batch that adds (or deletes) `elems`, one message per element so
/// that a missing one can be told apart; returns it and the sequence
/// numbers that expect an answer.
pub fn batch(table: &str, elems: &[Elem], add: bool) -> (Vec<u8>, Vec<u32>) {
    let mut out = Vec::new();
    let mut seqs = Vec::new();
    message(
        &mut out,
        NFNL_MSG_BATCH_BEGIN,
        libc::NLM_F_REQUEST as u16,
        0,
        libc::AF_UNSPEC as u8,
        NFNL_SUBSYS_NFTABLES,
        &[],
    );
    let mut tname = table.as_bytes().to_vec();
    tname.push(0);
    for (i, e) in elems.iter().enumerate() {
        let seq = i as u32 + 1;
        let mut a = Vec::new();
        attr(&mut a, NFTA_SET_ELEM_LIST_TABLE, &tname);
        let mut sname = e.set.as_bytes().to_vec();
        sname.push(0);
        attr(&mut a, NFTA_SET_ELEM_LIST_SET, &sname);
        nested(&mut a, NFTA_SET_ELEM_LIST_ELEMENTS, |l| {
            nested(l, NFTA_LIST_ELEM, |el| {
                nested(el, NFTA_SET_ELEM_KEY, |k| attr(k, NFTA_DATA_VALUE, &e.key));
                if let (true, Some(v)) = (add, &e.value) {
                    nested(el, NFTA_SET_ELEM_DATA, |d| attr(d, NFTA_DATA_VALUE, v));
                }
            })
        });
        let (ty, flags) = if add {
            (
                NFT_MSG_NEWSETELEM,
                libc::NLM_F_REQUEST | libc::NLM_F_CREATE | libc::NLM_F_ACK,
            )
        } else {
            (NFT_MSG_DELSETELEM, libc::NLM_F_REQUEST | libc::NLM_F_ACK)
        };
        message(
            &mut out,
            (NFNL_SUBSYS_NFTABLES << 8) | ty,
            flags as u16,
            seq,
            e.family,
            0,
            &a,
        );
        seqs.push(seq);
    }
    message(
        &mut out,
        NFNL_MSG_BATCH_END,
        libc::NLM_F_REQUEST as u16,
        elems.len() as u32 + 1,
        libc::AF_UNSPEC as u8,
        NFNL_SUBSYS_NFTABLES,
        &[],
    );
    (out, seqs)
}

/// A bound NETLINK_NETFILTER socket (nftables and ctnetlink).
pub(crate) fn socket() -> io::Result<OwnedFd> {
    // SAFETY: a new netlink socket, owned at once.
    let fd = sys::cvt(unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            NETLINK_NETFILTER,
        )
    })?;
    // SAFETY: fd is new and ours.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: sockaddr_nl is plain data; zero lets the kernel pick the port.
    let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    sa.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    // SAFETY: bind with a valid sockaddr_nl of its size.
    sys::cvt(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            &sa as *const _ as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    })?;
    Ok(fd)
}

/// Send one buffer of netlink messages to the kernel.
pub(crate) fn send_buf(fd: &OwnedFd, buf: &[u8]) -> io::Result<()> {
    // SAFETY: buf is valid for its length; the kernel is the destination.
    let n = unsafe {
        libc::send(
            fd.as_raw_fd(),
            buf.as_ptr() as *const libc::c_void,
            buf.len(),
            0,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Receive one datagram of netlink messages; retries on EINTR.
pub(crate) fn recv_buf(fd: &OwnedFd, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        // SAFETY: buf is valid for its length.
        let n = unsafe {
            libc::recv(
                fd.as_raw_fd(),
                buf.as_mut_ptr() as *mut libc::c_void,
                buf.len(),
                0,
            )
        };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// The messages of a received datagram: (type, sequence, body after the
/// 16-byte header). Stops at the first malformed one.
pub(crate) fn messages(buf: &[u8]) -> Vec<(u16, u32, &[u8])> {
    let mut out = Vec::new();
    let mut off = 0usize;
    while off + 16 <= buf.len() {
        let b = &buf[off..];
        let len = u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize;
        if len < 16 || len > b.len() {
            break;
        }
        let ty = u16::from_ne_bytes([b[4], b[5]]);
        let seq = u32::from_ne_bytes([b[8], b[9], b[10], b[11]]);
        out.push((ty, seq, &b[16..len]));
        off += (len + 3) & !3;
    }
    out
}

/// The error code of an NLMSG_ERROR body (0: an acknowledgement).
pub(crate) fn error_code(body: &[u8]) -> i32 {
    match body {
        [a, b, c, d, ..] => i32::from_ne_bytes([*a, *b, *c, *d]),
        _ => -libc::EPROTO,
    }
}

/// Send a batch; returns the errno of each element that failed, by index
/// (a whole batch is one transaction: if one fails, none is applied).
pub fn send(table: &str, elems: &[Elem], add: bool) -> io::Result<Vec<(usize, io::Error)>> {
    if elems.is_empty() {
        return Ok(Vec::new());
    }
    let fd = socket()?;
    let (buf, mut pending) = batch(table, elems, add);
    send_buf(&fd, &buf)?;
    let mut errors = Vec::new();
    let mut rbuf = vec![0u8; 16384];
    while !pending.is_empty() {
        let n = recv_buf(&fd, &mut rbuf)?;
        for (ty, seq, body) in messages(&rbuf[..n]) {
            if ty != libc::NLMSG_ERROR as u16 {
                continue;
            }
            pending.retain(|s| *s != seq);
            let code = error_code(body);
            if code != 0 {
                errors.push((
                    (seq as usize).saturating_sub(1),
                    io::Error::from_raw_os_error(-code),
                ));
                // The transaction is aborted: no more answers come.
                return Ok(errors);
            }
        }
    }
    Ok(errors)
}

/// The request for the tables `names` (family, name), one message each.
pub fn get_tables_request(names: &[(u8, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, (family, name)) in names.iter().enumerate() {
        let mut tname = name.as_bytes().to_vec();
        tname.push(0);
        let mut a = Vec::new();
        attr(&mut a, NFTA_TABLE_NAME, &tname);
        message(
            &mut out,
            (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETTABLE,
            (libc::NLM_F_REQUEST | libc::NLM_F_ACK) as u16,
            i as u32 + 1,
            *family,
            0,
            &a,
        );
    }
    out
}

/// NFTA_TABLE_HANDLE of a NEWTABLE answer's body (after the 4-byte
/// nfgenmsg), if there.
pub fn table_handle(body: &[u8]) -> Option<u64> {
    let mut b = body.get(4..)?;
    while b.len() >= 4 {
        let len = u16::from_ne_bytes([b[0], b[1]]) as usize;
        let ty = u16::from_ne_bytes([b[2], b[3]]) & 0x3fff;
        if len < 4 || len > b.len() {
            return None;
        }
        if ty == NFTA_TABLE_HANDLE {
            let v: [u8; 8] = b.get(4..12)?.try_into().ok()?;
            return Some(u64::from_be_bytes(v));
        }
        b = b.get(((len + 3) & !3).min(b.len())..)?;
    }
    None
}

/// The handles of the tables `names` (None: no such table), in one round
/// trip: what tells a start cheaply whether rrun's rules are still the ones
/// it made.
pub fn table_handles(names: &[(u8, &str)]) -> io::Result<Vec<Option<u64>>> {
    let mut out = vec![None; names.len()];
    if names.is_empty() {
        return Ok(out);
    }
    let fd = socket()?;
    send_buf(&fd, &get_tables_request(names))?;
    let mut pending: Vec<u32> = (1..=names.len() as u32).collect();
    let mut rbuf = vec![0u8; 8192];
    while !pending.is_empty() {
        let n = recv_buf(&fd, &mut rbuf)?;
        if n == 0 {
            break;
        }
        for (ty, seq, body) in messages(&rbuf[..n]) {
            let i = (seq as usize).wrapping_sub(1);
            if ty == libc::NLMSG_ERROR as u16 {
                pending.retain(|s| *s != seq);
                let code = error_code(body);
                if code != 0 && code != -libc::ENOENT {
                    return Err(io::Error::from_raw_os_error(-code));
                }
            } else if let Some(slot) = out.get_mut(i) {
                *slot = table_handle(body);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_requests_and_handles() {
        let req = get_tables_request(&[(FAMILY_IP, "rrun"), (FAMILY_BRIDGE, "rrun")]);
        let msgs = messages(&req);
        assert_eq!(msgs.len(), 2);
        for (i, (ty, seq, body)) in msgs.iter().enumerate() {
            assert_eq!(*ty, (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETTABLE);
            assert_eq!(*seq, i as u32 + 1);
            // nfgenmsg, then NFTA_TABLE_NAME "rrun\0" padded to 8.
            assert_eq!(body[0], [FAMILY_IP, FAMILY_BRIDGE][i]);
            assert_eq!(&body[4..8], &[9, 0, 1, 0]);
            assert_eq!(&body[8..13], b"rrun\0");
        }
        // A NEWTABLE body: nfgenmsg, name, flags, use, handle (big endian).
        let mut b = vec![FAMILY_IP, 0, 0, 0];
        attr(&mut b, NFTA_TABLE_NAME, b"rrun\0");
        attr(&mut b, 2, &0u32.to_be_bytes());
        attr(&mut b, 3, &7u32.to_be_bytes());
        attr(
            &mut b,
            NFTA_TABLE_HANDLE,
            &0x0102_0304_0506_0708u64.to_be_bytes(),
        );
        assert_eq!(table_handle(&b), Some(0x0102_0304_0506_0708));
        assert_eq!(table_handle(&b[..b.len() - 12]), None, "no handle");
        assert_eq!(table_handle(&[1, 2]), None, "too short");
        let mut bad = vec![0, 0, 0, 0];
        bad.extend_from_slice(&[200, 0, 4, 0]);
        assert_eq!(table_handle(&bad), None, "a length past the end");
        let mut zero = vec![0, 0, 0, 0];
        zero.extend_from_slice(&[0, 0, 4, 0, 1, 2, 3, 4]);
        assert_eq!(table_handle(&zero), None, "a zero length");
    }

    #[test]
    fn layout() {
        assert_eq!(concat(&[Field::Port(18181)]), [0x47, 0x05]);
        assert_eq!(
            concat(&[Field::Addr(Ipv4Addr::new(172, 17, 0, 4)), Field::Port(80)]),
            [0xac, 0x11, 0, 4, 0, 0x50, 0, 0]
        );
        // The bytes nft itself sends for `add element ip rrun any_tcp
        // { 18181 : 172.17.0.4 . 80 }` (seen with strace).
        let e = Elem {
            family: FAMILY_IP,
            set: "any_tcp".into(),
            key: concat(&[Field::Port(18181)]),
            value: Some(concat(&[
                Field::Addr(Ipv4Addr::new(172, 17, 0, 4)),
                Field::Port(80),
            ])),
        };
        let (b, seqs) = batch("rrun", &[e], true);
        assert_eq!(seqs, [1]);
        let elements: &[u8] = b"\x24\x00\x03\x80\x20\x00\x01\x80\x0c\x00\x01\x80\x06\x00\x01\x00\x47\x05\x00\x00\x10\x00\x02\x80\x0c\x00\x01\x00\xac\x11\x00\x04\x00\x50\x00\x00";
        assert!(b.windows(elements.len()).any(|w| w == elements), "{b:02x?}");
    }
}

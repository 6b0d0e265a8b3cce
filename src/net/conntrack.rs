//! Deleting stale UDP conntrack entries over ctnetlink. A client that keeps
//! sending to a published UDP port keeps its conntrack entry alive; made
//! while no mapping existed (or pointing at a container that is gone), it
//! would never reach the next container (moby#8795). So when a UDP mapping
//! is added, every UDP entry whose original destination is the host port
//! (made while no mapping existed, or pointing at a container that is
//! gone), and when it is removed, those too and every one whose reply
//! comes from the container's address and port, are deleted by their
//! original tuple. The kernel is asked for those entries
//! alone (a filtered dump, Linux 5.8 and later), not for the host's whole
//! table, which may hold hundreds of thousands of flows; a kernel that
//! refuses the filter gets the plain dump, and every entry returned is
//! checked here again, since older kernels ignore an attribute they do not
//! know and return everything.

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::OwnedFd;

use super::nftnl::{error_code, messages, recv_buf, send_buf};

const NFNL_SUBSYS_CTNETLINK: u16 = 1;
const IPCTNL_MSG_CT_GET: u16 = 1;
const IPCTNL_MSG_CT_DELETE: u16 = 2;
const CTA_TUPLE_ORIG: u16 = 1;
const CTA_TUPLE_REPLY: u16 = 2;
const CTA_TUPLE_IP: u16 = 1;
const CTA_TUPLE_PROTO: u16 = 2;
const CTA_IP_V4_SRC: u16 = 1;
const CTA_IP_V4_DST: u16 = 2;
const CTA_PROTO_NUM: u16 = 1;
const CTA_PROTO_SRC_PORT: u16 = 2;
const CTA_PROTO_DST_PORT: u16 = 3;
const NLA_TYPE_MASK: u16 = 0x3fff;
const NLA_F_NESTED: u16 = 0x8000;
const CTA_FILTER: u16 = 25;
const CTA_FILTER_ORIG_FLAGS: u16 = 1;
const CTA_FILTER_REPLY_FLAGS: u16 = 2;
const CTA_FILTER_F_CTA_IP_SRC: u32 = 1 << 0;
const CTA_FILTER_F_CTA_PROTO_NUM: u32 = 1 << 3;
const CTA_FILTER_F_CTA_PROTO_SRC_PORT: u32 = 1 << 4;
const CTA_FILTER_F_CTA_PROTO_DST_PORT: u32 = 1 << 5;

/// A flow's tuple, as far as it matters here.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tuple {
    pub src: Option<Ipv4Addr>,
    pub dst: Option<Ipv4Addr>,
    pub proto: u8,
    pub sport: u16,
    pub dport: u16,
}

/// The UDP entries one dump asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// Those whose original tuple goes to this port (on any address: the
    /// host port of a mapping, whatever address the client used).
    ToPort(u16),
    /// Those whose reply tuple comes from this address and port (a
    /// container's, behind a mapping).
    From(Ipv4Addr, u16),
}

impl Want {
    /// Whether an entry with these tuples is one `self` asks for.
    pub fn matches(self, orig: &Tuple, reply: &Tuple) -> bool {
        orig.proto == libc::IPPROTO_UDP as u8
            && match self {
                Want::ToPort(p) => orig.dport == p,
                Want::From(a, p) => reply.src == Some(a) && reply.sport == p,
            }
    }
}

/// Append one netlink attribute, padded to 4 bytes.
fn nla(out: &mut Vec<u8>, ty: u16, payload: &[u8]) {
    out.extend_from_slice(&((4 + payload.len()) as u16).to_ne_bytes());
    out.extend_from_slice(&ty.to_ne_bytes());
    out.extend_from_slice(payload);
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

/// The attributes of a dump request that has the kernel return only
/// `w`'s entries: the tuple to compare (CTA_TUPLE_ORIG or _REPLY) and,
/// in CTA_FILTER, which of its fields count.
pub fn filter_attrs(w: Want) -> Vec<u8> {
    let mut ip = Vec::new();
    let mut proto = Vec::new();
    nla(&mut proto, CTA_PROTO_NUM, &[libc::IPPROTO_UDP as u8]);
    let (tuple, which, flags) = match w {
        Want::ToPort(p) => {
            nla(&mut proto, CTA_PROTO_DST_PORT, &p.to_be_bytes());
            (
                CTA_TUPLE_ORIG,
                CTA_FILTER_ORIG_FLAGS,
                CTA_FILTER_F_CTA_PROTO_NUM | CTA_FILTER_F_CTA_PROTO_DST_PORT,
            )
        }
        Want::From(a, p) => {
            nla(&mut ip, CTA_IP_V4_SRC, &a.octets());
            nla(&mut proto, CTA_PROTO_SRC_PORT, &p.to_be_bytes());
            (
                CTA_TUPLE_REPLY,
                CTA_FILTER_REPLY_FLAGS,
                CTA_FILTER_F_CTA_IP_SRC
                    | CTA_FILTER_F_CTA_PROTO_NUM
                    | CTA_FILTER_F_CTA_PROTO_SRC_PORT,
            )
        }
    };
    let mut t = Vec::new();
    if !ip.is_empty() {
        nla(&mut t, CTA_TUPLE_IP | NLA_F_NESTED, &ip);
    }
    nla(&mut t, CTA_TUPLE_PROTO | NLA_F_NESTED, &proto);
    let mut f = Vec::new();
    nla(&mut f, which, &flags.to_ne_bytes());
    let mut out = Vec::new();
    nla(&mut out, tuple | NLA_F_NESTED, &t);
    nla(&mut out, CTA_FILTER | NLA_F_NESTED, &f);
    out
}

/// Iterate netlink attributes: (type without flags, payload).
fn attrs(mut b: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if b.len() < 4 {
            return None;
        }
        let len = u16::from_ne_bytes([b[0], b[1]]) as usize;
        let ty = u16::from_ne_bytes([b[2], b[3]]) & NLA_TYPE_MASK;
        if len < 4 || len > b.len() {
            return None;
        }
        let payload = &b[4..len];
        b = &b[((len + 3) & !3).min(b.len())..];
        Some((ty, payload))
    })
}

pub fn parse_tuple(b: &[u8]) -> Tuple {
    let mut t = Tuple::default();
    for (ty, p) in attrs(b) {
        match ty {
            CTA_TUPLE_IP => {
                for (ty, p) in attrs(p) {
                    let a = (p.len() == 4).then(|| Ipv4Addr::new(p[0], p[1], p[2], p[3]));
                    match ty {
                        CTA_IP_V4_SRC => t.src = a,
                        CTA_IP_V4_DST => t.dst = a,
                        _ => {}
                    }
                }
            }
            CTA_TUPLE_PROTO => {
                for (ty, p) in attrs(p) {
                    match (ty, p.len()) {
                        (CTA_PROTO_NUM, 1) => t.proto = p[0],
                        (CTA_PROTO_SRC_PORT, 2) => t.sport = u16::from_be_bytes([p[0], p[1]]),
                        (CTA_PROTO_DST_PORT, 2) => t.dport = u16::from_be_bytes([p[0], p[1]]),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    t
}

fn header(out: &mut Vec<u8>, ty: u16, flags: u16, seq: u32, payload: &[u8]) {
    let len = 16 + 4 + payload.len();
    out.extend_from_slice(&(len as u32).to_ne_bytes());
    out.extend_from_slice(&((NFNL_SUBSYS_CTNETLINK << 8) | ty).to_ne_bytes());
    out.extend_from_slice(&flags.to_ne_bytes());
    out.extend_from_slice(&seq.to_ne_bytes());
    out.extend_from_slice(&0u32.to_ne_bytes());
    out.extend_from_slice(&[libc::AF_INET as u8, 0, 0, 0]);
    out.extend_from_slice(payload);
}

/// The original-tuple attribute (raw, to delete it by) of every entry the
/// kernel returns for which `stale(orig, reply)` holds; `filter`: the
/// attributes that narrow the dump (none: the whole table).
fn dump(
    fd: &OwnedFd,
    filter: &[u8],
    stale: &dyn Fn(&Tuple, &Tuple) -> bool,
) -> io::Result<Vec<Vec<u8>>> {
    let mut req = Vec::new();
    header(
        &mut req,
        IPCTNL_MSG_CT_GET,
        (libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16,
        1,
        filter,
    );
    send_buf(fd, &req)?;
    let mut found = Vec::new();
    let mut buf = vec![0u8; 65536];
    loop {
        let n = recv_buf(fd, &mut buf)?;
        for (ty, _, body) in messages(&buf[..n]) {
            if ty == libc::NLMSG_DONE as u16 {
                return Ok(found);
            }
            if ty == libc::NLMSG_ERROR as u16 {
                return match error_code(body) {
                    0 => Ok(found),
                    code => Err(io::Error::from_raw_os_error(-code)),
                };
            }
            // After the 4-byte nfgenmsg: the entry's attributes.
            let Some(body) = body.get(4..) else { continue };
            let mut orig_raw = None;
            let (mut orig, mut reply) = (Tuple::default(), Tuple::default());
            for (aty, p) in attrs(body) {
                match aty {
                    CTA_TUPLE_ORIG => {
                        orig = parse_tuple(p);
                        orig_raw = Some(p.to_vec());
                    }
                    CTA_TUPLE_REPLY => reply = parse_tuple(p),
                    _ => {}
                }
            }
            if let Some(raw) = orig_raw
                && stale(&orig, &reply)
            {
                found.push(raw);
            }
        }
    }
}

/// Delete each entry by its original tuple; how many went.
fn delete(fd: &OwnedFd, entries: &[Vec<u8>]) -> usize {
    let mut gone = 0;
    for (i, orig) in entries.iter().enumerate() {
        let mut payload = Vec::new();
        nla(&mut payload, CTA_TUPLE_ORIG | NLA_F_NESTED, orig);
        let mut msg = Vec::new();
        header(
            &mut msg,
            IPCTNL_MSG_CT_DELETE,
            (libc::NLM_F_REQUEST | libc::NLM_F_ACK) as u16,
            i as u32 + 2,
            &payload,
        );
        let mut ack = [0u8; 256];
        if send_buf(fd, &msg).is_ok()
            && let Ok(n) = recv_buf(fd, &mut ack)
            && messages(&ack[..n])
                .iter()
                .any(|(ty, _, body)| *ty == libc::NLMSG_ERROR as u16 && error_code(body) == 0)
        {
            gone += 1;
        }
    }
    gone
}

/// Whether the kernel refused a dump's filter as one it does not support.
fn filter_refused(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EINVAL) | Some(libc::EOPNOTSUPP)
    )
}

/// Delete the UDP entries each of `wants` names: one filtered dump each
/// (the kernel walks its whole table for a dump, filtered or not, so a
/// caller asks only for what its step can have left). Best effort; returns
/// how many went.
pub fn delete_udp(wants: &[Want]) -> io::Result<usize> {
    let fd = super::nftnl::socket()?;
    let mut gone = 0;
    // An entry may answer two wants (a mapped flow does): each dump comes
    // after the previous one's deletions.
    for w in wants {
        match dump(&fd, &filter_attrs(*w), &|o, r| w.matches(o, r)) {
            Ok(entries) => gone += delete(&fd, &entries),
            Err(e) if filter_refused(&e) => {
                let any = |o: &Tuple, r: &Tuple| wants.iter().any(|w| w.matches(o, r));
                return Ok(gone + delete(&fd, &dump(&fd, &[], &any)?));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(gone)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuples() {
        // CTA_TUPLE_IP{src 10.0.0.2, dst 10.0.0.1}, CTA_TUPLE_PROTO{17, 40000, 5353}
        let mut ip = Vec::new();
        for (ty, a) in [
            (CTA_IP_V4_SRC, [10, 0, 0, 2]),
            (CTA_IP_V4_DST, [10, 0, 0, 1]),
        ] {
            ip.extend_from_slice(&8u16.to_ne_bytes());
            ip.extend_from_slice(&ty.to_ne_bytes());
            ip.extend_from_slice(&a);
        }
        let mut proto = Vec::new();
        proto.extend_from_slice(&5u16.to_ne_bytes());
        proto.extend_from_slice(&CTA_PROTO_NUM.to_ne_bytes());
        proto.extend_from_slice(&[17, 0, 0, 0]);
        for (ty, p) in [(CTA_PROTO_SRC_PORT, 40000u16), (CTA_PROTO_DST_PORT, 5353)] {
            proto.extend_from_slice(&6u16.to_ne_bytes());
            proto.extend_from_slice(&ty.to_ne_bytes());
            proto.extend_from_slice(&p.to_be_bytes());
            proto.extend_from_slice(&[0, 0]);
        }
        let mut t = Vec::new();
        for (ty, body) in [
            (CTA_TUPLE_IP | 0x8000, &ip),
            (CTA_TUPLE_PROTO | 0x8000, &proto),
        ] {
            t.extend_from_slice(&((4 + body.len()) as u16).to_ne_bytes());
            t.extend_from_slice(&ty.to_ne_bytes());
            t.extend_from_slice(body);
        }
        let got = parse_tuple(&t);
        assert_eq!(
            got,
            Tuple {
                src: Some(Ipv4Addr::new(10, 0, 0, 2)),
                dst: Some(Ipv4Addr::new(10, 0, 0, 1)),
                proto: 17,
                sport: 40000,
                dport: 5353
            }
        );
        // Garbage never panics.
        for n in 0..t.len() {
            let _ = parse_tuple(&t[..n]);
        }
    }

    /// The request's attributes: (type, payload) at the top level.
    fn top(b: &[u8]) -> Vec<(u16, Vec<u8>)> {
        attrs(b).map(|(t, p)| (t, p.to_vec())).collect()
    }

    #[test]
    fn filter_to_a_port() {
        let got = filter_attrs(Want::ToPort(5353));
        // As this kernel took it: CTA_TUPLE_ORIG{CTA_TUPLE_PROTO{17, dst
        // 5353}}, CTA_FILTER{ORIG_FLAGS = PROTO_NUM | PROTO_DST_PORT}.
        let mut want = vec![24, 0, 1, 0x80, 20, 0, 2, 0x80, 5, 0, 1, 0, 17, 0, 0, 0];
        want.extend_from_slice(&[6, 0, 3, 0, 0x14, 0xe9, 0, 0]);
        want.extend_from_slice(&[12, 0, 25, 0x80, 8, 0, 1, 0]);
        want.extend_from_slice(&40u32.to_ne_bytes());
        assert_eq!(got, want);
        let a = top(&got);
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].0, CTA_TUPLE_ORIG);
        assert_eq!(
            parse_tuple(&a[0].1),
            Tuple {
                proto: 17,
                dport: 5353,
                ..Tuple::default()
            }
        );
        assert_eq!(a[1].0, CTA_FILTER);
        assert_eq!(
            top(&a[1].1),
            vec![(CTA_FILTER_ORIG_FLAGS, 40u32.to_ne_bytes().to_vec())]
        );
    }

    #[test]
    fn filter_from_a_container() {
        let got = filter_attrs(Want::From(Ipv4Addr::new(172, 17, 0, 3), 53));
        let a = top(&got);
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].0, CTA_TUPLE_REPLY);
        assert_eq!(
            parse_tuple(&a[0].1),
            Tuple {
                src: Some(Ipv4Addr::new(172, 17, 0, 3)),
                proto: 17,
                sport: 53,
                ..Tuple::default()
            }
        );
        assert_eq!(a[1].0, CTA_FILTER);
        assert_eq!(
            top(&a[1].1),
            vec![(CTA_FILTER_REPLY_FLAGS, 25u32.to_ne_bytes().to_vec())]
        );
        // Every attribute nested as the kernel's policy wants it, every
        // length a multiple of 4.
        assert_eq!(got.len() % 4, 0);
        assert_eq!(
            u16::from_ne_bytes([got[2], got[3]]),
            CTA_TUPLE_REPLY | 0x8000
        );
        assert_eq!(u16::from_ne_bytes([got[6], got[7]]), CTA_TUPLE_IP | 0x8000);
    }

    #[test]
    fn wants_match_udp_entries_alone() {
        let c = Ipv4Addr::new(172, 17, 0, 3);
        let udp = |src: Option<Ipv4Addr>, sport: u16, dport: u16| Tuple {
            src,
            dst: None,
            proto: 17,
            sport,
            dport,
        };
        let none = Tuple::default();
        let to = Want::ToPort(5353);
        assert!(to.matches(&udp(None, 40000, 5353), &none));
        assert!(!to.matches(&udp(None, 5353, 40000), &none));
        assert!(!to.matches(
            &Tuple {
                proto: 6,
                ..udp(None, 1, 5353)
            },
            &none
        ));
        // The reply tuple does not count for a port.
        assert!(!to.matches(&udp(None, 1, 2), &udp(None, 1, 5353)));
        let from = Want::From(c, 53);
        let orig = udp(None, 40000, 5353);
        assert!(from.matches(&orig, &udp(Some(c), 53, 40000)));
        assert!(!from.matches(&orig, &udp(Some(c), 54, 40000)));
        assert!(!from.matches(&orig, &udp(Some(Ipv4Addr::new(172, 17, 0, 4)), 53, 1)));
        assert!(!from.matches(&udp(Some(c), 53, 1), &none));
        assert!(!from.matches(&Tuple { proto: 6, ..orig }, &udp(Some(c), 53, 1)));
    }

    #[test]
    fn refusals_of_the_filter() {
        for e in [libc::EINVAL, libc::EOPNOTSUPP] {
            assert!(filter_refused(&io::Error::from_raw_os_error(e)));
        }
        for e in [libc::EPERM, libc::ENOENT, libc::ENOBUFS] {
            assert!(!filter_refused(&io::Error::from_raw_os_error(e)));
        }
    }
}

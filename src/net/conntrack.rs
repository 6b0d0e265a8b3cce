//! Deleting stale UDP conntrack entries over ctnetlink. A client that keeps
//! sending to a published UDP port keeps its conntrack entry alive; made
//! while no mapping existed (or pointing at a container that is gone), it
//! would never reach the next container (moby#8795). So when a UDP mapping
//! is added or removed, every UDP entry whose original destination is the
//! host port, or whose reply comes from the container's address and port,
//! is deleted: a dump, then a delete per entry by its original tuple.

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

/// A flow's tuple, as far as it matters here.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tuple {
    pub src: Option<Ipv4Addr>,
    pub dst: Option<Ipv4Addr>,
    pub proto: u8,
    pub sport: u16,
    pub dport: u16,
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

/// Every UDP entry's original-tuple attribute (raw, to delete it by) for
/// which `stale(orig, reply)` holds.
fn dump(fd: &OwnedFd, stale: &dyn Fn(&Tuple, &Tuple) -> bool) -> io::Result<Vec<Vec<u8>>> {
    let mut req = Vec::new();
    header(
        &mut req,
        IPCTNL_MSG_CT_GET,
        (libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16,
        1,
        &[],
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
                && orig.proto == libc::IPPROTO_UDP as u8
                && stale(&orig, &reply)
            {
                found.push(raw);
            }
        }
    }
}

/// Delete the UDP entries to `host_port`, or answered from
/// `container:container_port`. Best effort; returns how many went.
pub fn delete_udp(host_port: u16, container: Ipv4Addr, container_port: u16) -> io::Result<usize> {
    let fd = super::nftnl::socket()?;
    let stale = |o: &Tuple, r: &Tuple| {
        o.dport == host_port || (r.src == Some(container) && r.sport == container_port)
    };
    let entries = dump(&fd, &stale)?;
    let mut gone = 0;
    for (i, orig) in entries.iter().enumerate() {
        let mut payload = Vec::new();
        let len = 4 + orig.len();
        payload.extend_from_slice(&(len as u16).to_ne_bytes());
        payload.extend_from_slice(&(CTA_TUPLE_ORIG | 0x8000).to_ne_bytes());
        payload.extend_from_slice(orig);
        while !payload.len().is_multiple_of(4) {
            payload.push(0);
        }
        let mut msg = Vec::new();
        header(
            &mut msg,
            IPCTNL_MSG_CT_DELETE,
            (libc::NLM_F_REQUEST | libc::NLM_F_ACK) as u16,
            i as u32 + 2,
            &payload,
        );
        let mut ack = [0u8; 256];
        if send_buf(&fd, &msg).is_ok()
            && let Ok(n) = recv_buf(&fd, &mut ack)
            && messages(&ack[..n])
                .iter()
                .any(|(ty, _, body)| *ty == libc::NLMSG_ERROR as u16 && error_code(body) == 0)
        {
            gone += 1;
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
}

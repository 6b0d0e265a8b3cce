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
use std::net::{IpAddr, Ipv4Addr};

use netlink_packet_core::{
    DefaultNla, Emitable, NLA_F_NESTED, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, Nla,
};
use netlink_packet_netfilter::conntrack::{
    ConntrackAttribute as Cta, ConntrackMessage, IPTuple, ProtoTuple, Protocol, Tuple as CtTuple,
};
use netlink_packet_netfilter::{NetfilterMessageInner, NetfilterSubsystem};

use super::nftnl::{Nfnl, Reply, emit};

const FAMILY: u8 = libc::AF_INET as u8;
const IPCTNL_MSG_CT_GET: u8 = 1;
const CTA_TUPLE_ORIG: u16 = 1;
const CTA_TUPLE_REPLY: u16 = 2;
// CTA_FILTER (Linux 5.8) has no type in netlink-packet-netfilter: it goes
// as a raw attribute.
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

/// The attributes of a dump request that has the kernel return only
/// `w`'s entries: the tuple to compare (CTA_TUPLE_ORIG or _REPLY) and,
/// in CTA_FILTER, which of its fields count.
pub fn filter_attrs(w: Want) -> Vec<DefaultNla> {
    let mut proto = vec![ProtoTuple::Protocol(Protocol::Udp)];
    let (tuple, which, flags) = match w {
        Want::ToPort(p) => {
            proto.push(ProtoTuple::DestinationPort(p));
            (
                nested(CTA_TUPLE_ORIG, &[CtTuple::Proto(proto)]),
                CTA_FILTER_ORIG_FLAGS,
                CTA_FILTER_F_CTA_PROTO_NUM | CTA_FILTER_F_CTA_PROTO_DST_PORT,
            )
        }
        Want::From(a, p) => {
            proto.push(ProtoTuple::SourcePort(p));
            (
                nested(
                    CTA_TUPLE_REPLY,
                    &[
                        CtTuple::Ip(vec![IPTuple::SourceAddress(IpAddr::V4(a))]),
                        CtTuple::Proto(proto),
                    ],
                ),
                CTA_FILTER_REPLY_FLAGS,
                CTA_FILTER_F_CTA_IP_SRC
                    | CTA_FILTER_F_CTA_PROTO_NUM
                    | CTA_FILTER_F_CTA_PROTO_SRC_PORT,
            )
        }
    };
    // The flags are a host-order u32, as the kernel's policy reads them.
    let f = DefaultNla::new(which, flags.to_ne_bytes().to_vec());
    vec![tuple, nested(CTA_FILTER, &[f])]
}

/// A nested attribute of `inner`, flagged NLA_F_NESTED: the kernel parses
/// CTA_FILTER strictly and refuses it without the flag, which the crate's
/// ConntrackAttribute::Other cannot carry.
fn nested<T: Nla>(kind: u16, inner: &[T]) -> DefaultNla {
    let mut v = vec![0; inner.buffer_len()];
    inner.emit(&mut v);
    DefaultNla::new(kind | NLA_F_NESTED, v)
}

/// The fields of a decoded tuple that matter here.
fn tuple_of(ts: &[CtTuple]) -> Tuple {
    let mut t = Tuple::default();
    for nla in ts {
        match nla {
            CtTuple::Ip(ips) => {
                for ip in ips {
                    match ip {
                        IPTuple::SourceAddress(IpAddr::V4(a)) => t.src = Some(*a),
                        IPTuple::DestinationAddress(IpAddr::V4(a)) => t.dst = Some(*a),
                        _ => {}
                    }
                }
            }
            CtTuple::Proto(ps) => {
                for p in ps {
                    match p {
                        ProtoTuple::Protocol(n) => t.proto = u8::from(*n),
                        ProtoTuple::SourcePort(p) => t.sport = *p,
                        ProtoTuple::DestinationPort(p) => t.dport = *p,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    t
}

/// A tuple attribute's payload as the kernel sends it; what cannot be
/// decoded is left out.
#[cfg(test)]
pub fn parse_tuple(b: &[u8]) -> Tuple {
    use netlink_packet_core::{NlasIterator, Parseable};
    let ts: Vec<CtTuple> = NlasIterator::new(b)
        .map_while(Result::ok)
        .filter_map(|nla| CtTuple::parse(&nla).ok())
        .collect();
    tuple_of(&ts)
}

/// An entry of a dump: its original tuple (to delete it by), that and its
/// reply tuple as far as they matter here.
pub(crate) fn entry(m: ConntrackMessage) -> Option<(Vec<CtTuple>, Tuple, Tuple)> {
    let (ConntrackMessage::New(attrs) | ConntrackMessage::Get(attrs)) = m else {
        return None;
    };
    let mut orig = None;
    let mut reply = Tuple::default();
    for a in attrs {
        match a {
            Cta::CtaTupleOrig(t) => orig = Some(t),
            Cta::CtaTupleReply(t) => reply = tuple_of(&t),
            _ => {}
        }
    }
    let orig = orig?;
    let o = tuple_of(&orig);
    Some((orig, o, reply))
}

/// The request that dumps the entries `filter` narrows to (none: the whole
/// table). Raw attributes, hence not a ConntrackMessage (see `nested`).
fn dump_request(filter: Vec<DefaultNla>) -> Vec<u8> {
    let mut req = Vec::new();
    emit(
        &mut req,
        NLM_F_REQUEST | NLM_F_DUMP,
        1,
        FAMILY,
        0,
        NetfilterMessageInner::Other {
            subsys: NetfilterSubsystem::Conntrack,
            message_type: IPCTNL_MSG_CT_GET,
            attributes: filter,
        },
    );
    req
}

/// The request that deletes the entry of this original tuple.
fn delete_request(seq: u32, orig: Vec<CtTuple>) -> Vec<u8> {
    let mut msg = Vec::new();
    emit(
        &mut msg,
        NLM_F_REQUEST | NLM_F_ACK,
        seq,
        FAMILY,
        0,
        ConntrackMessage::Delete(vec![Cta::CtaTupleOrig(orig)]),
    );
    msg
}

/// The original tuple (to delete it by) of every entry the kernel returns
/// for which `stale(orig, reply)` holds; `filter`: the attributes that
/// narrow the dump (none: the whole table).
fn dump(
    nl: &mut Nfnl,
    filter: Vec<DefaultNla>,
    stale: &dyn Fn(&Tuple, &Tuple) -> bool,
) -> io::Result<Vec<Vec<CtTuple>>> {
    nl.send(&dump_request(filter))?;
    let mut found = Vec::new();
    loop {
        let Some(msgs) = nl.recv()? else {
            return Ok(found);
        };
        for (_, reply) in msgs {
            match reply {
                Reply::Done | Reply::Ack(0) => return Ok(found),
                Reply::Ack(code) => return Err(io::Error::from_raw_os_error(-code)),
                Reply::Conntrack(m) => {
                    if let Some((raw, orig, reply)) = entry(m)
                        && stale(&orig, &reply)
                    {
                        found.push(raw);
                    }
                }
                Reply::Table(_) | Reply::Other => {}
            }
        }
    }
}

/// Delete each entry by its original tuple; how many went.
fn delete(nl: &mut Nfnl, entries: Vec<Vec<CtTuple>>) -> usize {
    let mut gone = 0;
    for (i, orig) in entries.into_iter().enumerate() {
        if nl.send(&delete_request(i as u32 + 2, orig)).is_ok()
            && let Ok(Some(acks)) = nl.recv()
            && acks.iter().any(|(_, r)| matches!(r, Reply::Ack(0)))
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
    let mut nl = Nfnl::open()?;
    let mut gone = 0;
    // An entry may answer two wants (a mapped flow does): each dump comes
    // after the previous one's deletions.
    for w in wants {
        match dump(&mut nl, filter_attrs(*w), &|o, r| w.matches(o, r)) {
            Ok(entries) => gone += delete(&mut nl, entries),
            Err(e) if filter_refused(&e) => {
                let any = |o: &Tuple, r: &Tuple| wants.iter().any(|w| w.matches(o, r));
                let all = dump(&mut nl, Vec::new(), &any)?;
                return Ok(gone + delete(&mut nl, all));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(gone)
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::NlasIterator;

    const CTA_STATUS: u16 = 3;
    const CTA_ID: u16 = 12;
    const CTA_TUPLE_IP: u16 = 1;
    const CTA_TUPLE_PROTO: u16 = 2;
    const CTA_IP_V4_SRC: u16 = 1;
    const CTA_IP_V4_DST: u16 = 2;
    const CTA_PROTO_NUM: u16 = 1;
    const CTA_PROTO_SRC_PORT: u16 = 2;
    const CTA_PROTO_DST_PORT: u16 = 3;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// One attribute, padded, as the kernel lays it out.
    fn nla(out: &mut Vec<u8>, ty: u16, payload: &[u8]) {
        out.extend_from_slice(&((4 + payload.len()) as u16).to_ne_bytes());
        out.extend_from_slice(&ty.to_ne_bytes());
        out.extend_from_slice(payload);
        while !out.len().is_multiple_of(4) {
            out.push(0);
        }
    }

    /// A tuple's payload: CTA_TUPLE_IP{src, dst}, CTA_TUPLE_PROTO{17, sport, dport}.
    fn tuple_bytes(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16) -> Vec<u8> {
        let mut ip = Vec::new();
        nla(&mut ip, CTA_IP_V4_SRC, &src);
        nla(&mut ip, CTA_IP_V4_DST, &dst);
        let mut proto = Vec::new();
        nla(&mut proto, CTA_PROTO_NUM, &[17]);
        nla(&mut proto, CTA_PROTO_SRC_PORT, &sport.to_be_bytes());
        nla(&mut proto, CTA_PROTO_DST_PORT, &dport.to_be_bytes());
        let mut t = Vec::new();
        nla(&mut t, CTA_TUPLE_IP | NLA_F_NESTED, &ip);
        nla(&mut t, CTA_TUPLE_PROTO | NLA_F_NESTED, &proto);
        t
    }

    #[test]
    fn tuples() {
        let t = tuple_bytes([10, 0, 0, 2], [10, 0, 0, 1], 40000, 5353);
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

    /// The attributes as sent.
    fn bytes(a: &[DefaultNla]) -> Vec<u8> {
        let mut out = vec![0; a.buffer_len()];
        a.emit(&mut out);
        out
    }

    /// The request's attributes: (type without flags, payload) at the top level.
    fn top(b: &[u8]) -> Vec<(u16, Vec<u8>)> {
        NlasIterator::new(b)
            .map(|n| n.expect("an attribute"))
            .map(|n| (n.kind(), n.value().to_vec()))
            .collect()
    }

    /// The bytes rrun's own encoder sent before this module used
    /// netlink-packet-netfilter (the kernel took them): the crate's must be
    /// the same, byte for byte.
    #[test]
    fn requests_as_before() {
        assert_eq!(
            hex(&dump_request(filter_attrs(Want::ToPort(5353)))),
            "3800000001010103010000000000000002000000\
             180001801400028005000100110000000600030014e900000c0019800800010028000000"
        );
        assert_eq!(
            hex(&dump_request(filter_attrs(Want::From(
                Ipv4Addr::new(172, 17, 0, 3),
                53
            )))),
            "4400000001010103010000000000000002000000\
             240002800c00018008000100ac11000314000280050001001100000006000200003500000c0019800800020019000000"
        );
        assert_eq!(
            hex(&dump_request(Vec::new())),
            "1400000001010103010000000000000002000000"
        );
    }

    #[test]
    fn filter_to_a_port() {
        let got = bytes(&filter_attrs(Want::ToPort(5353)));
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
        let got = bytes(&filter_attrs(Want::From(Ipv4Addr::new(172, 17, 0, 3), 53)));
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

    /// A dump's entry (IPCTNL_MSG_CT_NEW) as the kernel sends it.
    fn entry_message(orig: &[u8], reply: &[u8]) -> Vec<u8> {
        let mut body = vec![FAMILY, 0, 0, 0];
        nla(&mut body, CTA_TUPLE_ORIG | NLA_F_NESTED, orig);
        nla(&mut body, CTA_TUPLE_REPLY | NLA_F_NESTED, reply);
        nla(&mut body, CTA_STATUS, &0x18eu32.to_be_bytes());
        nla(&mut body, CTA_ID, &7u32.to_be_bytes());
        let mut m = Vec::new();
        m.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
        m.extend_from_slice(&(1u16 << 8).to_ne_bytes());
        m.extend_from_slice(&[2, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
        m.extend_from_slice(&body);
        m
    }

    #[test]
    fn entries_are_deleted_by_their_tuple_as_sent() {
        let orig = tuple_bytes([10, 0, 0, 2], [10, 0, 0, 1], 40000, 5353);
        let reply = tuple_bytes([172, 17, 0, 3], [10, 0, 0, 2], 53, 40000);
        let got = crate::net::nftnl::replies(&entry_message(&orig, &reply));
        assert_eq!(got.len(), 1);
        let (_, Reply::Conntrack(m)) = got.into_iter().next().unwrap() else {
            panic!()
        };
        let (raw, o, r) = entry(m).expect("an entry");
        assert_eq!(
            (o.sport, o.dport, o.src),
            (40000, 5353, Some(Ipv4Addr::new(10, 0, 0, 2)))
        );
        assert_eq!((r.sport, r.src), (53, Some(Ipv4Addr::new(172, 17, 0, 3))));
        assert!(Want::ToPort(5353).matches(&o, &r));
        assert!(Want::From(Ipv4Addr::new(172, 17, 0, 3), 53).matches(&o, &r));
        // The delete request carries the original tuple as the kernel sent it.
        let del = delete_request(2, raw);
        let mut want = Vec::new();
        nla(&mut want, CTA_TUPLE_ORIG | NLA_F_NESTED, &orig);
        assert_eq!(&del[20..], &want[..]);
        assert_eq!(&del[4..6], &((1u16 << 8) | 2).to_ne_bytes(), "CT_DELETE");
        assert_eq!(&del[6..8], &5u16.to_ne_bytes(), "REQUEST | ACK");
        assert_eq!(&del[8..12], &2u32.to_ne_bytes());
        // No original tuple: no entry.
        let mut no_orig = entry_message(&orig, &reply);
        no_orig[22] = 9;
        let (_, Reply::Conntrack(m)) = crate::net::nftnl::replies(&no_orig)
            .into_iter()
            .next()
            .unwrap()
        else {
            panic!()
        };
        assert!(entry(m).is_none());
        // A deletion's echo is no entry either (a dump gives CT_NEW).
        let mut del = entry_message(&orig, &reply);
        del[4] = 2;
        let (_, Reply::Conntrack(m)) = crate::net::nftnl::replies(&del).into_iter().next().unwrap()
        else {
            panic!()
        };
        assert!(entry(m).is_none());
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

    /// Make a UDP entry over ctnetlink (as `conntrack -I` does).
    fn create(
        nl: &mut Nfnl,
        orig: (Ipv4Addr, Ipv4Addr, u16, u16),
        reply_src: (Ipv4Addr, u16),
    ) -> i32 {
        let t = |src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16| {
            vec![
                CtTuple::Ip(vec![
                    IPTuple::SourceAddress(IpAddr::V4(src)),
                    IPTuple::DestinationAddress(IpAddr::V4(dst)),
                ]),
                CtTuple::Proto(vec![
                    ProtoTuple::Protocol(Protocol::Udp),
                    ProtoTuple::SourcePort(sport),
                    ProtoTuple::DestinationPort(dport),
                ]),
            ]
        };
        let (src, dst, sport, dport) = orig;
        let mut msg = Vec::new();
        emit(
            &mut msg,
            NLM_F_REQUEST | NLM_F_ACK | netlink_packet_core::NLM_F_CREATE,
            99,
            FAMILY,
            0,
            ConntrackMessage::New(vec![
                Cta::CtaTupleOrig(t(src, dst, sport, dport)),
                Cta::CtaTupleReply(t(reply_src.0, src, reply_src.1, sport)),
                Cta::CtaTimeout(60),
            ]),
        );
        if nl.send(&msg).is_err() {
            return -1;
        }
        match nl.recv() {
            Ok(Some(r)) => r
                .iter()
                .find_map(|(_, r)| match r {
                    Reply::Ack(c) => Some(*c),
                    _ => None,
                })
                .unwrap_or(-2),
            _ => -3,
        }
    }

    /// Against this kernel, in a network namespace of its own: the
    /// filtered dumps are taken (not refused, which would fall back to the
    /// whole table), and delete the entries each asks for, and those alone.
    #[test]
    fn filtered_dumps_delete_what_they_name() {
        if !nix::unistd::geteuid().is_root() {
            crate::net::test_skip::needs_root("a network namespace and its conntrack table");
            return;
        }
        let a = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        crate::net::test_skip::in_new_netns(|| {
            let Ok(mut nl) = Nfnl::open() else { return 11 };
            // To the host port 5353 (answered by a container), to 5354,
            // and TCP-free noise on another port.
            for (o, r) in [
                (
                    (a("10.0.0.2"), a("10.0.0.1"), 40000, 5353),
                    (a("172.17.0.3"), 53),
                ),
                (
                    (a("10.0.0.2"), a("10.0.0.1"), 40001, 5354),
                    (a("10.0.0.1"), 5354),
                ),
                (
                    (a("10.0.0.4"), a("10.0.0.1"), 40002, 7000),
                    (a("172.17.0.3"), 54),
                ),
            ] {
                let c = create(&mut nl, o, r);
                if c != 0 {
                    eprintln!("create: {c}");
                    return 12;
                }
            }
            for w in [Want::ToPort(5353), Want::From(a("172.17.0.3"), 54)] {
                match dump(&mut nl, filter_attrs(w), &|o, r| w.matches(o, r)) {
                    Ok(e) if e.len() == 1 => {}
                    r => {
                        eprintln!("{w:?}: {r:?}");
                        return 13;
                    }
                }
            }
            match delete_udp(&[Want::ToPort(5353), Want::From(a("172.17.0.3"), 53)]) {
                Ok(1) => {}
                r => {
                    eprintln!("delete: {r:?}");
                    return 14;
                }
            }
            match delete_udp(&[Want::ToPort(5353)]) {
                Ok(0) => {}
                r => {
                    eprintln!("again: {r:?}");
                    return 15;
                }
            }
            match delete_udp(&[Want::From(a("172.17.0.3"), 54)]) {
                Ok(1) => {}
                r => {
                    eprintln!("from: {r:?}");
                    return 16;
                }
            }
            // The one no want named is still there.
            match dump(&mut nl, Vec::new(), &|_, _| true) {
                Ok(e) if e.len() == 1 && tuple_of(&e[0]).dport == 5354 => 0,
                r => {
                    eprintln!("left: {r:?}");
                    17
                }
            }
        });
    }
}

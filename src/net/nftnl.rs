//! Adding and removing set and map elements of rrun's nftables tables over
//! netlink, in one batch (one transaction): what a container does on
//! every start and stop. The `nft` program costs ~7 ms a call (it reads
//! the whole ruleset first), twice per container; these messages cost
//! microseconds. The tables themselves are still made with `nft -f`, once
//! per network.
//!
//! Wire format: NFNL_MSG_BATCH_BEGIN, then NFT_MSG_NEWSETELEM or
//! NFT_MSG_DELSETELEM per set, then NFNL_MSG_BATCH_END, built as
//! netlink-packet-netfilter's messages. Keys are concatenations of fields,
//! each padded to 4 bytes, in network order. Also the NETLINK_NETFILTER
//! socket and the decoding of answers that `conntrack` shares.

use std::io;
use std::net::Ipv4Addr;

use std::num::NonZeroI32;

use netlink_packet_core::{
    ErrorBuffer, ErrorMessage, NLM_F_ACK, NLM_F_CREATE, NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR,
    NetlinkBuffer, NetlinkHeader, NetlinkMessage, NetlinkPayload, Parseable, ParseableParametrized,
};
use netlink_packet_netfilter::conntrack::ConntrackMessage;
use netlink_packet_netfilter::nftables::{
    DataAttribute, ListAttribute, NfTablesMessage, SetElementAttribute, SetElementList,
    SetElementMessage, TableAttribute, TableMessage,
};
use netlink_packet_netfilter::none::ControlMessage;
use netlink_packet_netfilter::{
    NetfilterHeader, NetfilterMessage, NetfilterMessageInner, NetfilterProtoFamily,
};
use netlink_sys::{Socket, protocols::NETLINK_NETFILTER};

const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFNL_SUBSYS_CTNETLINK: u8 = 1;
const NFT_MSG_NEWTABLE: u8 = 0;
pub const FAMILY_IP: u8 = libc::AF_INET as u8;
pub const FAMILY_BRIDGE: u8 = 7;
pub const FAMILY_IP6: u8 = libc::AF_INET6 as u8;
/// A dump's datagrams are at most 32 KiB (the kernel's largest dump skb).
const RECV_BUF: usize = 65536;

/// One field of a key or value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Addr(Ipv4Addr),
    Addr6(std::net::Ipv6Addr),
    Port(u16),
}

/// Concatenate fields as nftables lays them out: each in network order,
/// padded to a 4-byte register.
pub fn concat(fields: &[Field]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in fields {
        match f {
            Field::Addr(a) => out.extend_from_slice(&a.octets()),
            Field::Addr6(a) => out.extend_from_slice(&a.octets()),
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

/// Append one netlink message (`family`'s nfgenmsg, version 0) to `out`.
pub(crate) fn emit(
    out: &mut Vec<u8>,
    flags: u16,
    seq: u32,
    family: u8,
    res_id: u16,
    inner: impl Into<NetfilterMessageInner>,
) {
    let mut header = NetlinkHeader::default();
    header.flags = flags;
    header.sequence_number = seq;
    let msg = NetfilterMessage::new(
        NetfilterHeader::new(NetfilterProtoFamily::from(family), 0, res_id),
        inner,
    );
    let mut m = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
    m.finalize();
    let start = out.len();
    out.resize(start + m.buffer_len(), 0);
    m.serialize(&mut out[start..]);
}

/// The batch that adds (or deletes) `elems`, one message per element so
/// that a missing one can be told apart; returns it and the sequence
/// numbers that expect an answer.
pub fn batch(table: &str, elems: &[Elem], add: bool) -> (Vec<u8>, Vec<u32>) {
    let mut out = Vec::new();
    let mut seqs = Vec::new();
    let unspec = libc::AF_UNSPEC as u8;
    emit(
        &mut out,
        NLM_F_REQUEST,
        0,
        unspec,
        NFNL_SUBSYS_NFTABLES,
        ControlMessage::BatchBegin,
    );
    for (i, e) in elems.iter().enumerate() {
        let seq = i as u32 + 1;
        let mut el = vec![SetElementAttribute::Key(DataAttribute::Value(
            e.key.clone(),
        ))];
        if let (true, Some(v)) = (add, &e.value) {
            el.push(SetElementAttribute::Data(DataAttribute::Value(v.clone())));
        }
        let list = SetElementMessage {
            attributes: vec![
                SetElementList::Table(table.to_owned()),
                SetElementList::Set(e.set.clone()),
                SetElementList::Elements(vec![ListAttribute::Element(el)]),
            ],
        };
        let (msg, flags) = if add {
            (
                NfTablesMessage::NewSetElement(list),
                NLM_F_REQUEST | NLM_F_CREATE | NLM_F_ACK,
            )
        } else {
            (
                NfTablesMessage::DeleteSetElement(list),
                NLM_F_REQUEST | NLM_F_ACK,
            )
        };
        emit(&mut out, flags, seq, e.family, 0, msg);
        seqs.push(seq);
    }
    emit(
        &mut out,
        NLM_F_REQUEST,
        elems.len() as u32 + 1,
        unspec,
        NFNL_SUBSYS_NFTABLES,
        ControlMessage::BatchEnd,
    );
    (out, seqs)
}

/// What one message of a received datagram says, as far as rrun asks.
#[derive(Debug)]
pub(crate) enum Reply {
    /// An acknowledgement (0) or an error (a negative errno).
    Ack(i32),
    /// The end of a dump.
    Done,
    /// A conntrack entry (of a dump).
    Conntrack(ConntrackMessage),
    /// An nftables table (NFT_MSG_NEWTABLE).
    Table(TableMessage),
    /// Something else, or one this crate cannot decode.
    Other,
}

/// The messages of a received datagram, each with its sequence number.
/// Stops at the first malformed header.
pub(crate) fn replies(buf: &[u8]) -> Vec<(u32, Reply)> {
    let mut out = Vec::new();
    let mut off = 0usize;
    while let Some(rest) = buf.get(off..) {
        let Ok(nb) = NetlinkBuffer::new_checked(rest) else {
            break;
        };
        out.push((
            nb.sequence_number(),
            decode(nb.message_type(), nb.payload()),
        ));
        off += (nb.length() as usize).next_multiple_of(4);
    }
    out
}

/// One message's payload, decoded as far as rrun reads answers: errors,
/// the end of a dump, conntrack entries and tables. Not the crate's whole
/// NetfilterMessage, whose parser would bring every nftables expression
/// and nflog type into the binary.
fn decode(ty: u16, payload: &[u8]) -> Reply {
    match ty {
        NLMSG_ERROR => ErrorBuffer::new_checked(&payload)
            .and_then(|b| ErrorMessage::parse(&b))
            .map_or(Reply::Other, |e| Ack(e.code.map_or(0, NonZeroI32::get))),
        NLMSG_DONE => Reply::Done,
        _ => {
            let Some(body) = payload.get(4..) else {
                return Reply::Other;
            };
            let decoded = match ((ty >> 8) as u8, ty as u8) {
                (NFNL_SUBSYS_CTNETLINK, t) => {
                    ConntrackMessage::parse_with_param(body, t).map(Reply::Conntrack)
                }
                (s, NFT_MSG_NEWTABLE) if s == NFNL_SUBSYS_NFTABLES as u8 => {
                    TableMessage::parse(body).map(Reply::Table)
                }
                _ => return Reply::Other,
            };
            decoded.unwrap_or(Reply::Other)
        }
    }
}

use Reply::Ack;

/// A bound NETLINK_NETFILTER socket (nftables and ctnetlink) and its
/// receive buffer.
pub(crate) struct Nfnl {
    sock: Socket,
    buf: Vec<u8>,
}

impl Nfnl {
    pub(crate) fn open() -> io::Result<Nfnl> {
        let mut sock = Socket::new(NETLINK_NETFILTER)?;
        sock.bind_auto()?;
        Ok(Nfnl {
            sock,
            buf: Vec::with_capacity(RECV_BUF),
        })
    }

    /// Send one buffer of netlink messages to the kernel.
    pub(crate) fn send(&self, buf: &[u8]) -> io::Result<()> {
        self.sock.send(buf, 0).map(drop)
    }

    /// Receive one datagram's messages; retries on EINTR. None: the
    /// socket was shut.
    pub(crate) fn recv(&mut self) -> io::Result<Option<Vec<(u32, Reply)>>> {
        self.buf.clear();
        let n = loop {
            match self.sock.recv(&mut self.buf, 0) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        Ok((n > 0).then(|| replies(&self.buf[..n.min(self.buf.len())])))
    }
}

/// Send a batch; returns the errno of each element that failed, by index
/// (a whole batch is one transaction: if one fails, none is applied).
pub fn send(table: &str, elems: &[Elem], add: bool) -> io::Result<Vec<(usize, io::Error)>> {
    if elems.is_empty() {
        return Ok(Vec::new());
    }
    let mut nl = Nfnl::open()?;
    let (buf, mut pending) = batch(table, elems, add);
    nl.send(&buf)?;
    let mut errors = Vec::new();
    while !pending.is_empty() {
        let Some(msgs) = nl.recv()? else { break };
        for (seq, reply) in msgs {
            let Ack(code) = reply else { continue };
            pending.retain(|s| *s != seq);
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
        let msg = NfTablesMessage::GetTable(TableMessage {
            attributes: vec![TableAttribute::Name((*name).to_owned())],
        });
        emit(
            &mut out,
            NLM_F_REQUEST | NLM_F_ACK,
            i as u32 + 1,
            *family,
            0,
            msg,
        );
    }
    out
}

/// NFTA_TABLE_HANDLE of a NEWTABLE answer, if there.
pub fn table_handle(t: &TableMessage) -> Option<u64> {
    t.attributes.iter().find_map(|a| match a {
        TableAttribute::Handle(h) => Some(*h),
        _ => None,
    })
}

/// The handles of the tables `names` (None: no such table), in one round
/// trip: what tells a start cheaply whether rrun's rules are still the ones
/// it made.
pub fn table_handles(names: &[(u8, &str)]) -> io::Result<Vec<Option<u64>>> {
    let mut out = vec![None; names.len()];
    if names.is_empty() {
        return Ok(out);
    }
    let mut nl = Nfnl::open()?;
    nl.send(&get_tables_request(names))?;
    let mut pending: Vec<u32> = (1..=names.len() as u32).collect();
    while !pending.is_empty() {
        let Some(msgs) = nl.recv()? else { break };
        for (seq, reply) in msgs {
            let i = (seq as usize).wrapping_sub(1);
            match reply {
                Ack(code) => {
                    pending.retain(|s| *s != seq);
                    if code != 0 && code != -libc::ENOENT {
                        return Err(io::Error::from_raw_os_error(-code));
                    }
                }
                Reply::Table(t) => {
                    if let Some(slot) = out.get_mut(i) {
                        *slot = table_handle(&t);
                    }
                }
                Reply::Done | Reply::Conntrack(_) | Reply::Other => {}
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    fn elems() -> [Elem; 2] {
        [
            Elem {
                family: FAMILY_IP,
                set: "any_tcp".into(),
                key: concat(&[Field::Port(18181)]),
                value: Some(concat(&[
                    Field::Addr(Ipv4Addr::new(172, 17, 0, 4)),
                    Field::Port(80),
                ])),
            },
            Elem {
                family: FAMILY_BRIDGE,
                set: "hairpin".into(),
                key: concat(&[Field::Addr(Ipv4Addr::new(172, 17, 0, 4)), Field::Port(80)]),
                value: None,
            },
        ]
    }

    /// The bytes rrun's own encoder sent before this module used
    /// netlink-packet-netfilter (the kernel took them): the crate's must be
    /// the same, byte for byte.
    #[test]
    fn batches_as_before() {
        let (add, seqs) = batch("rrun", &elems(), true);
        assert_eq!(seqs, [1, 2]);
        assert_eq!(
            hex(&add),
            "140000001000010000000000000000000000000a\
             500000000c0a0504010000000000000002000000090001007272756e000000000c000200616e795f7463700024000380200001800c0001800600010047050000100002800c000100ac11000400500000\
             440000000c0a0504020000000000000007000000090001007272756e000000000c0002006861697270696e001800038014000180100001800c000100ac11000400500000\
             140000001100010003000000000000000000000a"
        );
        let (del, seqs) = batch("rrun", &elems(), false);
        assert_eq!(seqs, [1, 2]);
        // Deleting sends no value; the flags lose NLM_F_CREATE.
        assert_eq!(
            hex(&del),
            "140000001000010000000000000000000000000a\
             400000000e0a0500010000000000000002000000090001007272756e000000000c000200616e795f7463700014000380100001800c0001800600010047050000\
             440000000e0a0500020000000000000007000000090001007272756e000000000c0002006861697270696e001800038014000180100001800c000100ac11000400500000\
             140000001100010003000000000000000000000a"
        );
        let (empty, seqs) = batch("rrun", &[], true);
        assert!(seqs.is_empty());
        assert_eq!(replies(&empty).len(), 2, "begin and end alone");
    }

    #[test]
    fn table_requests_as_before() {
        let req = get_tables_request(&[(FAMILY_IP, "rrun"), (FAMILY_BRIDGE, "rrun")]);
        assert_eq!(
            hex(&req),
            "20000000010a0500010000000000000002000000090001007272756e00000000\
             20000000010a0500020000000000000007000000090001007272756e00000000"
        );
        assert!(get_tables_request(&[]).is_empty());
    }

    /// A datagram as the kernel answers: `msgs` (type, seq, body).
    fn datagram(msgs: &[(u16, u32, Vec<u8>)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (ty, seq, body) in msgs {
            out.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
            out.extend_from_slice(&ty.to_ne_bytes());
            out.extend_from_slice(&0u16.to_ne_bytes());
            out.extend_from_slice(&seq.to_ne_bytes());
            out.extend_from_slice(&0u32.to_ne_bytes());
            out.extend_from_slice(body);
            while !out.len().is_multiple_of(4) {
                out.push(0);
            }
        }
        out
    }

    /// An NLMSG_ERROR body: the code, then the request's header.
    fn error_body(code: i32) -> Vec<u8> {
        let mut b = code.to_ne_bytes().to_vec();
        b.extend_from_slice(&[16, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
        b
    }

    #[test]
    fn answers() {
        // A NEWTABLE answer: nfgenmsg, name, flags, use, handle (big endian).
        let mut table = Vec::new();
        emit(
            &mut table,
            0,
            1,
            FAMILY_IP,
            0,
            NfTablesMessage::NewTable(TableMessage {
                attributes: vec![
                    TableAttribute::Name("rrun".into()),
                    TableAttribute::Use(7),
                    TableAttribute::Handle(0x0102_0304_0506_0708),
                ],
            }),
        );
        let mut buf = table.clone();
        buf.extend(datagram(&[
            (libc::NLMSG_ERROR as u16, 2, error_body(0)),
            (libc::NLMSG_ERROR as u16, 3, error_body(-libc::ENOENT)),
            (libc::NLMSG_DONE as u16, 4, 0i32.to_ne_bytes().to_vec()),
            // Messages rrun does not read: another nftables type, a body
            // too short for its nfgenmsg, an error too short for its code.
            ((NFNL_SUBSYS_NFTABLES << 8) | 99, 5, vec![2, 0, 0, 0]),
            (NFNL_SUBSYS_NFTABLES << 8, 6, vec![2, 0]),
            (libc::NLMSG_ERROR as u16, 7, vec![0, 0]),
        ]));
        let got = replies(&buf);
        assert_eq!(got.len(), 7, "{got:?}");
        let seqs: Vec<u32> = got.iter().map(|(s, _)| *s).collect();
        assert_eq!(seqs, [1, 2, 3, 4, 5, 6, 7]);
        let Reply::Table(t) = &got[0].1 else {
            panic!("{got:?}")
        };
        assert_eq!(table_handle(t), Some(0x0102_0304_0506_0708));
        assert!(matches!(got[1].1, Ack(0)));
        assert!(matches!(got[2].1, Ack(c) if c == -libc::ENOENT));
        assert!(matches!(got[3].1, Reply::Done));
        for r in &got[4..] {
            assert!(matches!(r.1, Reply::Other), "{r:?}");
        }

        // No handle in a NEWTABLE; not a NEWTABLE.
        let mut bare = Vec::new();
        emit(
            &mut bare,
            0,
            1,
            FAMILY_IP,
            0,
            NfTablesMessage::NewTable(TableMessage {
                attributes: vec![TableAttribute::Name("rrun".into())],
            }),
        );
        let (_, Reply::Table(t)) = &replies(&bare)[0] else {
            panic!()
        };
        assert_eq!(table_handle(t), None);
        let req = get_tables_request(&[(FAMILY_IP, "rrun")]);
        assert!(matches!(replies(&req)[0].1, Reply::Other), "a GETTABLE");

        // Malformed: a short buffer, a length past the end or below the
        // header's; what came before stays.
        assert!(replies(&[1, 2]).is_empty());
        let mut long = table.clone();
        long.extend_from_slice(&[200, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(replies(&long).len(), 1);
        let mut short = table.clone();
        short.extend_from_slice(&[4, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(replies(&short).len(), 1);
        // A body the crate cannot decode (a handle of 3 bytes).
        let mut bad = table.clone();
        let n = bad.len();
        bad[n - 12..n - 8].copy_from_slice(&[7, 0, 4, 0]);
        assert!(
            matches!(replies(&bad)[0].1, Reply::Other),
            "{:?}",
            replies(&bad)
        );
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
        let (b, seqs) = batch("rrun", &elems()[..1], true);
        assert_eq!(seqs, [1]);
        let elements: &[u8] = b"\x24\x00\x03\x80\x20\x00\x01\x80\x0c\x00\x01\x80\x06\x00\x01\x00\x47\x05\x00\x00\x10\x00\x02\x80\x0c\x00\x01\x00\xac\x11\x00\x04\x00\x50\x00\x00";
        assert!(b.windows(elements.len()).any(|w| w == elements), "{b:02x?}");
    }
}

//! DNS messages (RFC 1035) as the embedded resolver needs them: the header
//! and the one question of a standard query, and the responses it makes
//! itself (A/AAAA/PTR answers, NODATA, errors). Pure: no syscalls, and no
//! panic on any input (src/fuzz.rs feeds it arbitrary bytes).
//!
//! Written by hand rather than with a DNS crate: only this small subset is
//! ever parsed or built, a forwarded message is relayed byte for byte (only
//! its id is rewritten), and a crate would add a large dependency to the
//! static binary for it.
//!
//! Choices:
//! - Only the header and the question are read; whatever follows (answer,
//!   authority and additional records, an EDNS OPT record) is ignored. The
//!   responses built here carry no OPT record, which is what a server
//!   without EDNS answers (RFC 6891 §7); their UDP size limit is therefore
//!   512 bytes (`answer_within` drops the records that do not fit and sets
//!   TC, and the client asks again over TCP).
//! - The question is echoed exactly as received (the client's letter case
//!   included), and answer records name it with a compression pointer.
//! - A name byte outside 0x21..=0x7E, and a '.' or '\' inside a label, is
//!   written into `Query::name` in the presentation format's escapes
//!   (`\DDD`, `\.`, `\\`), so the name stays unambiguous; no container
//!   name contains a backslash, so such a query is never one of ours and is
//!   forwarded like any other.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Bytes in a DNS header.
pub const HEADER_LEN: usize = 12;
/// The largest UDP message a client without EDNS accepts.
pub const UDP_LIMIT: usize = 512;
/// The largest message TCP's 2-byte length prefix can carry.
pub const MAX_MESSAGE: usize = 65535;
/// The longest name on the wire, length bytes and the root's 0 included.
const MAX_NAME: usize = 255;

pub const TYPE_A: u16 = 1;
pub const TYPE_PTR: u16 = 12;
pub const TYPE_AAAA: u16 = 28;
pub const TYPE_ANY: u16 = 255;
pub const CLASS_IN: u16 = 1;
pub const CLASS_ANY: u16 = 255;

pub const NOERROR: u8 = 0;
pub const FORMERR: u8 = 1;
pub const SERVFAIL: u8 = 2;
pub const NXDOMAIN: u8 = 3;
pub const NOTIMP: u8 = 4;
pub const REFUSED: u8 = 5;

// Flag bits of the header's third byte (QR, opcode, AA, TC, RD)...
const QR: u8 = 0x80;
const OPCODE: u8 = 0x78;
const AA: u8 = 0x04;
const TC: u8 = 0x02;
const RD: u8 = 0x01;
// ... and of its fourth (RA, Z, AD, CD, rcode).
const RA: u8 = 0x80;
const RCODE: u8 = 0x0f;
/// What a header-only error keeps of the message's flags.
const ECHOED: u8 = OPCODE + RD;

/// A name in an answer record: a pointer to the question's name, which
/// always starts right after the header.
const NAME_PTR: [u8; 2] = [0xc0, HEADER_LEN as u8];

/// Why a message is not a query this server answers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("message of {0} bytes is shorter than a DNS header")]
    Short(usize),
    #[error("message is a response, not a query")]
    Response,
    #[error("opcode {0} is not a standard query")]
    Opcode(u8),
    #[error("query has {0} questions, not one")]
    Questions(u16),
    #[error("the question runs past the end of the message")]
    Truncated,
    #[error("compression pointer in the question's name")]
    Pointer,
    #[error("label type {0:#04x} in the question's name (a length over 63)")]
    Label(u8),
    #[error("name longer than 255 bytes")]
    NameTooLong,
}

/// A standard query's header fields and its question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub id: u16,
    /// Recursion desired: copied into the response.
    pub rd: bool,
    /// Lowercased (ASCII), no trailing dot, labels joined by '.', odd
    /// bytes escaped (see the module's header). The root is "".
    pub name: String,
    /// How many labels the name has (0 for the root).
    pub labels: usize,
    pub qtype: u16,
    pub qclass: u16,
    /// The question as it came on the wire (name, type, class), echoed in
    /// every response built from this query.
    pub question: Vec<u8>,
}

fn be16(msg: &[u8], at: usize) -> Option<u16> {
    let b = msg.get(at..at + 2)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

/// Reads a standard query: QR=0, OPCODE=0, QDCOUNT=1, an uncompressed
/// name. Everything after the question is ignored.
pub fn parse_query(msg: &[u8]) -> Result<Query, WireError> {
    if msg.len() < HEADER_LEN {
        return Err(WireError::Short(msg.len()));
    }
    let flags = msg[2];
    if flags & QR != 0 {
        return Err(WireError::Response);
    }
    let opcode = (flags & OPCODE) >> 3;
    if opcode != 0 {
        return Err(WireError::Opcode(opcode));
    }
    let qdcount = u16::from_be_bytes([msg[4], msg[5]]);
    if qdcount != 1 {
        return Err(WireError::Questions(qdcount));
    }
    let mut pos = HEADER_LEN;
    let mut name = String::new();
    let mut labels = 0;
    let mut root = None;
    // Each label moves on by a byte at least: the name ends within
    // MAX_NAME of them (the length check below ends it sooner).
    for _ in 0..MAX_NAME {
        let len = *msg.get(pos).ok_or(WireError::Truncated)?;
        match len & 0xc0 {
            0 => {}
            0xc0 => return Err(WireError::Pointer),
            _ => return Err(WireError::Label(len)),
        }
        pos += 1;
        if len == 0 {
            root = Some(pos);
            break;
        }
        let label = msg
            .get(pos..pos + usize::from(len))
            .ok_or(WireError::Truncated)?;
        pos += usize::from(len);
        // The name so far, and the root's 0 still to come.
        if pos - HEADER_LEN + 1 > MAX_NAME {
            return Err(WireError::NameTooLong);
        }
        if labels > 0 {
            name.push('.');
        }
        push_label(&mut name, label);
        labels += 1;
    }
    let pos = root.ok_or(WireError::NameTooLong)?;
    let qtype = be16(msg, pos).ok_or(WireError::Truncated)?;
    let qclass = be16(msg, pos + 2).ok_or(WireError::Truncated)?;
    Ok(Query {
        id: u16::from_be_bytes([msg[0], msg[1]]),
        rd: flags & RD != 0,
        name,
        labels,
        qtype,
        qclass,
        question: msg[HEADER_LEN..pos + 4].to_vec(),
    })
}

fn push_label(name: &mut String, label: &[u8]) {
    for &b in label {
        match b {
            b'.' | b'\\' => {
                name.push('\\');
                name.push(char::from(b));
            }
            0x21..=0x7e => name.push(char::from(b.to_ascii_lowercase())),
            _ => name.push_str(&format!("\\{b:03}")),
        }
    }
}

/// `name` (dotted; a trailing dot allowed; "" or "." is the root) in wire
/// form, or None when a label is empty or longer than 63 bytes, or the
/// whole is longer than 255. No escapes are read: each byte between dots
/// is a byte of the label.
pub fn encode_name(name: &str) -> Option<Vec<u8>> {
    let name = name.strip_suffix('.').unwrap_or(name);
    let mut out = Vec::with_capacity(name.len() + 2);
    if !name.is_empty() {
        for label in name.split('.') {
            let b = label.as_bytes();
            if b.is_empty() || b.len() > 63 {
                return None;
            }
            out.push(b.len() as u8);
            out.extend_from_slice(b);
        }
    }
    out.push(0);
    (out.len() <= MAX_NAME).then_some(out)
}

/// A standard query (RD set, class IN) for `name`, as `encode_name` reads
/// it; None when the name cannot be encoded.
pub fn query(id: u16, name: &str, qtype: u16) -> Option<Vec<u8>> {
    let name = encode_name(name)?;
    let mut out = Vec::with_capacity(HEADER_LEN + name.len() + 4);
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&[RD, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&name);
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    Some(out)
}

/// A response's fourth header byte: RA, and the rcode's 4 bits.
fn fourth_byte(rcode: u8) -> u8 {
    RA + (rcode & RCODE)
}

/// A response's header and the query's question; no records yet.
fn head(q: &Query, rcode: u8, aa: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + q.question.len() + 64);
    out.extend_from_slice(&q.id.to_be_bytes());
    // (Sums of distinct bits.)
    out.push(QR + AA * u8::from(aa) + RD * u8::from(q.rd));
    out.push(fourth_byte(rcode));
    out.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&q.question);
    out
}

fn push_record(out: &mut Vec<u8>, rtype: u16, ttl: u32, rdata: &[u8]) {
    out.extend_from_slice(&NAME_PTR);
    out.extend_from_slice(&rtype.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    out.extend_from_slice(&ttl.to_be_bytes());
    out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    out.extend_from_slice(rdata);
}

/// The authoritative answer for a name of ours (`answer_within` with no
/// limit but TCP's).
pub fn answer(q: &Query, addrs: &[IpAddr], ttl: u32) -> Vec<u8> {
    answer_within(q, addrs, ttl, MAX_MESSAGE)
}

/// The authoritative answer (NOERROR, AA, RA, RD copied) for a name of
/// ours with these addresses: an A record per IPv4 address when A was
/// asked, an AAAA per IPv6 address when AAAA was, both for ANY; any other
/// type gets no records (NODATA). Records that would take the message past
/// `limit` bytes are left out and TC is set.
pub fn answer_within(q: &Query, addrs: &[IpAddr], ttl: u32, limit: usize) -> Vec<u8> {
    let limit = limit.min(MAX_MESSAGE);
    let mut out = head(q, NOERROR, true);
    let mut count: u16 = 0;
    for addr in addrs {
        let (rtype, v4, v6);
        let rdata: &[u8] = match (addr, q.qtype) {
            (IpAddr::V4(a), TYPE_A | TYPE_ANY) => {
                rtype = TYPE_A;
                v4 = a.octets();
                &v4
            }
            (IpAddr::V6(a), TYPE_AAAA | TYPE_ANY) => {
                rtype = TYPE_AAAA;
                v6 = a.octets();
                &v6
            }
            _ => continue,
        };
        if out.len() + NAME_PTR.len() + 10 + rdata.len() > limit {
            out[2] |= TC;
            break;
        }
        push_record(&mut out, rtype, ttl, rdata);
        count += 1;
    }
    out[6..8].copy_from_slice(&count.to_be_bytes());
    out
}

/// The authoritative answer to a reverse lookup: one PTR record naming
/// `target` (dotted, as `encode_name` reads it). A target that cannot be
/// encoded gets SERVFAIL instead.
pub fn ptr_answer(q: &Query, target: &str, ttl: u32) -> Vec<u8> {
    let Some(rdata) = encode_name(target) else {
        return error(q, SERVFAIL);
    };
    let mut out = head(q, NOERROR, true);
    push_record(&mut out, TYPE_PTR, ttl, &rdata);
    out[6..8].copy_from_slice(&1u16.to_be_bytes());
    out
}

/// A response with no records and this rcode, the question echoed;
/// authoritative (AA) only for NXDOMAIN, the one error that speaks for
/// the name.
pub fn error(q: &Query, rcode: u8) -> Vec<u8> {
    head(q, rcode, rcode == NXDOMAIN)
}

/// A header-only response with this rcode to a message that could not be
/// read as a query (FORMERR, NOTIMP): its id, opcode and RD copied, no
/// question. None when the message has no id (under 2 bytes).
pub fn error_header(msg: &[u8], rcode: u8) -> Option<Vec<u8>> {
    let id = msg.get(..2)?;
    let flags = msg.get(2).map_or(0, |f| f & ECHOED);
    let mut out = Vec::with_capacity(HEADER_LEN);
    out.extend_from_slice(id);
    out.push(QR + flags);
    out.push(fourth_byte(rcode));
    out.extend_from_slice(&[0; 8]);
    Some(out)
}

/// A copy of `msg` with its id replaced (a message under 2 bytes is copied
/// unchanged).
pub fn with_id(msg: &[u8], id: u16) -> Vec<u8> {
    let mut out = msg.to_vec();
    set_id(&mut out, id);
    out
}

/// Replaces the id of `msg` in place (nothing when under 2 bytes).
pub fn set_id(msg: &mut [u8], id: u16) {
    if let Some(b) = msg.get_mut(..2) {
        b.copy_from_slice(&id.to_be_bytes());
    }
}

/// The id of a response (a whole header with QR set), else None.
pub fn response_id(msg: &[u8]) -> Option<u16> {
    if msg.len() < HEADER_LEN || msg[2] & QR == 0 {
        return None;
    }
    Some(u16::from_be_bytes([msg[0], msg[1]]))
}

/// Whether `reply` answers the query sent with `id` and `question`: a
/// response with that id that echoes the question (letter case aside), or
/// carries none (some servers' error responses).
pub fn reply_matches(reply: &[u8], id: u16, question: &[u8]) -> bool {
    if response_id(reply) != Some(id) {
        return false;
    }
    match u16::from_be_bytes([reply[4], reply[5]]) {
        0 => true,
        1 => reply
            .get(HEADER_LEN..HEADER_LEN + question.len())
            .is_some_and(|q| q.eq_ignore_ascii_case(question)),
        _ => false,
    }
}

/// The name a reverse lookup of `ip` asks for: "2.0.18.172.in-addr.arpa",
/// or the 32 nibbles of an IPv6 address, lowest first, under "ip6.arpa".
pub fn reverse_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(a) => {
            let [a, b, c, d] = a.octets();
            format!("{d}.{c}.{b}.{a}.in-addr.arpa")
        }
        IpAddr::V6(a) => {
            let mut s = String::with_capacity(72);
            for b in a.octets().iter().rev() {
                s.push(nibble(b & 0xf));
                s.push('.');
                s.push(nibble(b >> 4));
                s.push('.');
            }
            s.push_str("ip6.arpa");
            s
        }
    }
}

fn nibble(n: u8) -> char {
    char::from_digit(u32::from(n), 16).unwrap_or('0')
}

/// The address a reverse-lookup name stands for (the inverse of
/// `reverse_name`; letter case aside), or None for any other name,
/// including partial ones ("18.172.in-addr.arpa") and octets written with
/// leading zeros or signs.
pub fn parse_reverse(name: &str) -> Option<IpAddr> {
    let name = name.to_ascii_lowercase();
    if let Some(rest) = name.strip_suffix(".in-addr.arpa") {
        let mut octets = [0u8; 4];
        let mut parts = rest.split('.');
        for slot in octets.iter_mut().rev() {
            *slot = decimal_octet(parts.next()?)?;
        }
        return parts
            .next()
            .is_none()
            .then_some(IpAddr::V4(Ipv4Addr::from(octets)));
    }
    let rest = name.strip_suffix(".ip6.arpa")?;
    let mut octets = [0u8; 16];
    let mut parts = rest.split('.');
    for slot in octets.iter_mut().rev() {
        let low = hex_nibble(parts.next()?)?;
        let high = hex_nibble(parts.next()?)?;
        *slot = high * 16 + low;
    }
    parts
        .next()
        .is_none()
        .then_some(IpAddr::V6(Ipv6Addr::from(octets)))
}

fn decimal_octet(s: &str) -> Option<u8> {
    let canonical = s == "0" || (!s.starts_with('0') && s.bytes().all(|b| b.is_ascii_digit()));
    if canonical { s.parse().ok() } else { None }
}

fn hex_nibble(s: &str) -> Option<u8> {
    let mut chars = s.chars();
    let digit = chars.next()?.to_digit(16)?;
    chars.next().is_none().then_some(digit as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(name: &str, qtype: u16) -> Query {
        parse_query(&query(0x1234, name, qtype).unwrap()).unwrap()
    }

    fn v4(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// The answer records of a response this module built: (type, class,
    /// ttl, rdata), checking the name pointer and the counts on the way.
    fn records(msg: &[u8], question_len: usize) -> Vec<(u16, u16, u32, Vec<u8>)> {
        let an = u16::from_be_bytes([msg[6], msg[7]]);
        assert_eq!(&msg[4..6], &[0, 1], "qdcount");
        assert_eq!(&msg[8..12], &[0, 0, 0, 0], "nscount, arcount");
        let mut pos = HEADER_LEN + question_len;
        let mut out = vec![];
        for _ in 0..an {
            assert_eq!(&msg[pos..pos + 2], &NAME_PTR);
            let t = u16::from_be_bytes([msg[pos + 2], msg[pos + 3]]);
            let c = u16::from_be_bytes([msg[pos + 4], msg[pos + 5]]);
            let ttl = u32::from_be_bytes(msg[pos + 6..pos + 10].try_into().unwrap());
            let len = usize::from(u16::from_be_bytes([msg[pos + 10], msg[pos + 11]]));
            out.push((t, c, ttl, msg[pos + 12..pos + 12 + len].to_vec()));
            pos += 12 + len;
        }
        assert_eq!(pos, msg.len(), "no trailing bytes");
        out
    }

    #[test]
    fn parses_a_query() {
        let mut m = query(0xbeef, "Web.MyNet", TYPE_AAAA).unwrap();
        // Something after the question (an OPT record) is ignored.
        m[11] = 1;
        m.extend_from_slice(&[0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 0]);
        let got = parse_query(&m).unwrap();
        assert_eq!(
            got,
            Query {
                id: 0xbeef,
                rd: true,
                name: "web.mynet".into(),
                labels: 2,
                qtype: TYPE_AAAA,
                qclass: CLASS_IN,
                question: b"\x03Web\x05MyNet\x00\x00\x1c\x00\x01".to_vec(),
            }
        );
        m[2] = 0;
        assert!(!parse_query(&m).unwrap().rd);
        // Other flags of a query (AA, TC, RA, AD, CD) do not matter.
        m[2] = AA | TC;
        m[3] = 0xf0;
        assert_eq!(parse_query(&m).unwrap().name, "web.mynet");
    }

    #[test]
    fn parses_the_root_and_one_label() {
        let root = q("", TYPE_A);
        assert_eq!((root.name.as_str(), root.labels), ("", 0));
        assert_eq!(root.question, [0, 0, 1, 0, 1]);
        let one = q("web", 99);
        assert_eq!((one.name.as_str(), one.labels, one.qtype), ("web", 1, 99));
    }

    #[test]
    fn rejects_what_is_not_a_standard_query() {
        let good = query(7, "a.b", TYPE_A).unwrap();
        assert_eq!(parse_query(&good[..11]), Err(WireError::Short(11)));
        assert_eq!(parse_query(&[]), Err(WireError::Short(0)));
        let mut m = good.clone();
        m[2] |= QR;
        assert_eq!(parse_query(&m), Err(WireError::Response));
        for opcode in [1u8, 2, 4, 5, 15] {
            let mut m = good.clone();
            m[2] = opcode << 3 | RD;
            assert_eq!(parse_query(&m), Err(WireError::Opcode(opcode)));
        }
        for (hi, lo, n) in [(0, 0, 0), (0, 2, 2), (1, 1, 257)] {
            let mut m = good.clone();
            m[4] = hi;
            m[5] = lo;
            assert_eq!(parse_query(&m), Err(WireError::Questions(n)));
        }
    }

    #[test]
    fn rejects_truncated_questions() {
        let good = query(7, "ab.c", TYPE_A).unwrap();
        assert!(parse_query(&good).is_ok());
        for cut in HEADER_LEN..good.len() {
            assert_eq!(
                parse_query(&good[..cut]),
                Err(WireError::Truncated),
                "{cut}"
            );
        }
    }

    #[test]
    fn rejects_pointers_and_other_label_types() {
        let mut m = query(7, "", TYPE_A).unwrap();
        m.truncate(HEADER_LEN);
        let mut p = m.clone();
        p.extend_from_slice(&[1, b'a', 0xc0, 12, 0, 1, 0, 1]);
        assert_eq!(parse_query(&p), Err(WireError::Pointer));
        for t in [0x40u8, 0x41, 0x7f, 0x80, 0xbf] {
            let mut x = m.clone();
            x.extend_from_slice(&[t, 0, 0, 1, 0, 1]);
            assert_eq!(parse_query(&x), Err(WireError::Label(t)));
        }
        let mut x = m.clone();
        x.push(0xff);
        assert_eq!(parse_query(&x), Err(WireError::Pointer));
        // A label of exactly 63 bytes is fine.
        let max = "a".repeat(63);
        assert_eq!(q(&max, TYPE_A).name, max);
    }

    #[test]
    fn name_length_limit() {
        // 4 labels of 63 (4 * 64 bytes = 256 with their lengths) is over.
        let label = "x".repeat(63);
        let long = [label.as_str(); 4].join(".");
        let mut m = query(1, "", TYPE_A).unwrap();
        m.truncate(HEADER_LEN);
        for l in long.split('.') {
            m.push(63);
            m.extend_from_slice(l.as_bytes());
        }
        m.extend_from_slice(&[0, 0, 1, 0, 1]);
        assert_eq!(parse_query(&m), Err(WireError::NameTooLong));
        // 3 * 64 + 62 bytes of name plus the root's 0: 255, the most.
        let most = format!("{label}.{label}.{label}.{}", "x".repeat(61));
        let got = q(&most, TYPE_A);
        assert_eq!(got.name, most);
        assert_eq!(got.question.len(), 255 + 4);
        // One more byte: 256.
        let over = format!("{label}.{label}.{label}.{}", "x".repeat(62));
        assert_eq!(encode_name(&over), None);
        let mut m = query(1, &most, TYPE_A).unwrap();
        m[HEADER_LEN + 3 * 64] = 62;
        m.insert(HEADER_LEN + 3 * 64 + 1, b'x');
        assert_eq!(parse_query(&m), Err(WireError::NameTooLong));
    }

    #[test]
    fn escapes_odd_bytes() {
        let mut m = query(1, "", TYPE_A).unwrap();
        m.truncate(HEADER_LEN);
        m.extend_from_slice(&[
            6, b'a', b'.', b'\\', b' ', 0x7f, 0x00, 3, b'!', b'~', b'Z', 0, 0, 1, 0, 1,
        ]);
        let got = parse_query(&m).unwrap();
        assert_eq!(got.name, "a\\.\\\\\\032\\127\\000.!~z");
        assert_eq!(got.labels, 2);
    }

    #[test]
    fn encodes_names() {
        assert_eq!(encode_name(""), Some(vec![0]));
        assert_eq!(encode_name("."), Some(vec![0]));
        assert_eq!(encode_name("a.bc."), Some(b"\x01a\x02bc\x00".to_vec()));
        assert_eq!(encode_name("a..b"), None);
        assert_eq!(encode_name(".a"), None);
        assert_eq!(encode_name(&"x".repeat(64)), None);
        assert_eq!(encode_name(&"x".repeat(63)).unwrap().len(), 65);
        assert_eq!(query(1, "a..b", TYPE_A), None);
        assert_eq!(
            query(0x0102, "a", TYPE_PTR).unwrap(),
            b"\x01\x02\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01a\x00\x00\x0c\x00\x01"
        );
    }

    #[test]
    fn answers_a_and_aaaa() {
        let addrs = [v4("172.18.0.2"), v4("fd00::2"), v4("172.18.0.3")];
        let qa = q("Web", TYPE_A);
        let m = answer(&qa, &addrs, 600);
        assert_eq!(&m[..4], &[0x12, 0x34, QR | AA | RD, RA]);
        assert_eq!(
            &m[HEADER_LEN..HEADER_LEN + qa.question.len()],
            &qa.question[..]
        );
        assert_eq!(
            records(&m, qa.question.len()),
            vec![
                (TYPE_A, CLASS_IN, 600, vec![172, 18, 0, 2]),
                (TYPE_A, CLASS_IN, 600, vec![172, 18, 0, 3])
            ]
        );
        let q6 = q("web", TYPE_AAAA);
        let m = answer(&q6, &addrs, 7);
        let six = v4("fd00::2");
        let IpAddr::V6(six) = six else { unreachable!() };
        assert_eq!(
            records(&m, q6.question.len()),
            vec![(TYPE_AAAA, CLASS_IN, 7, six.octets().to_vec())]
        );
        let any = q("web", TYPE_ANY);
        assert_eq!(
            records(&answer(&any, &addrs, 1), any.question.len()).len(),
            3
        );
    }

    #[test]
    fn nodata_for_other_types_and_missing_families() {
        for t in [TYPE_PTR, 16, 15] {
            let qt = q("web", t);
            let m = answer(&qt, &[v4("10.0.0.1")], 600);
            assert_eq!(m[3], RA);
            assert!(records(&m, qt.question.len()).is_empty());
        }
        let q6 = q("web", TYPE_AAAA);
        assert!(records(&answer(&q6, &[v4("10.0.0.1")], 600), q6.question.len()).is_empty());
        let qa = q("web", TYPE_A);
        let mut no_rd = qa.clone();
        no_rd.rd = false;
        let m = answer(&no_rd, &[], 600);
        assert_eq!(&m[2..4], &[QR | AA, RA]);
    }

    #[test]
    fn truncates_to_the_limit() {
        let qa = q("web", TYPE_A);
        let addrs: Vec<IpAddr> = (0..40u8)
            .map(|i| IpAddr::V4(Ipv4Addr::new(10, 0, 0, i)))
            .collect();
        let base = HEADER_LEN + qa.question.len();
        // Room for exactly 3 records of 16 bytes.
        let m = answer_within(&qa, &addrs, 600, base + 3 * 16);
        assert_eq!(m.len(), base + 48);
        assert_eq!(m[2] & TC, TC);
        assert_eq!(records(&m, qa.question.len()).len(), 3);
        let m = answer_within(&qa, &addrs, 600, base + 3 * 16 - 1);
        assert_eq!(records(&m, qa.question.len()).len(), 2);
        // Everything fits: no TC.
        let m = answer_within(&qa, &addrs[..3], 600, base + 3 * 16);
        assert_eq!(m[2] & TC, 0);
        assert_eq!(records(&m, qa.question.len()).len(), 3);
        let m = answer_within(&qa, &addrs, 600, UDP_LIMIT);
        assert!(m.len() <= UDP_LIMIT);
        assert_eq!(m[2] & TC, TC);
        // A limit over TCP's is TCP's.
        let many: Vec<IpAddr> = (0..5000u32)
            .map(|i| IpAddr::V4(Ipv4Addr::from(i)))
            .collect();
        let m = answer_within(&qa, &many, 600, usize::MAX);
        assert!(m.len() <= MAX_MESSAGE && m.len() > MAX_MESSAGE - 16);
        assert_eq!(m[2] & TC, TC);
        assert_eq!(answer(&qa, &many, 600), m);
    }

    #[test]
    fn ptr_answers() {
        let qp = q("2.0.18.172.in-addr.arpa", TYPE_PTR);
        let m = ptr_answer(&qp, "web.mynet", 600);
        assert_eq!(&m[..4], &[0x12, 0x34, QR | AA | RD, RA]);
        assert_eq!(
            records(&m, qp.question.len()),
            vec![(TYPE_PTR, CLASS_IN, 600, b"\x03web\x05mynet\x00".to_vec())]
        );
        let bad = ptr_answer(&qp, "a..b", 600);
        assert_eq!(bad, error(&qp, SERVFAIL));
    }

    #[test]
    fn errors() {
        let qa = q("x.y", TYPE_A);
        let m = error(&qa, NXDOMAIN);
        assert_eq!(&m[..4], &[0x12, 0x34, QR | AA | RD, RA | NXDOMAIN]);
        assert!(records(&m, qa.question.len()).is_empty());
        for rc in [SERVFAIL, REFUSED, FORMERR] {
            assert_eq!(&error(&qa, rc)[2..4], &[QR | RD, RA | rc]);
        }
        // Only the rcode's 4 bits are used.
        assert_eq!(error(&qa, 0x12)[3], RA | 2);
    }

    #[test]
    fn header_only_errors() {
        assert_eq!(error_header(&[], FORMERR), None);
        assert_eq!(error_header(&[9], FORMERR), None);
        assert_eq!(
            error_header(&[1, 2], FORMERR),
            Some(vec![1, 2, QR, RA | FORMERR, 0, 0, 0, 0, 0, 0, 0, 0])
        );
        // Opcode and RD copied; AA, TC and the rest dropped; counts zero.
        let m = [1, 2, 0x28 | AA | TC | RD, 0xff, 0, 1, 0, 1, 0, 1, 0, 1, 3];
        assert_eq!(
            error_header(&m, 0x14),
            Some(vec![
                1,
                2,
                QR | 0x28 | RD,
                RA | NOTIMP,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0
            ])
        );
    }

    #[test]
    fn ids() {
        assert_eq!(with_id(&[1, 2, 3], 0xabcd), vec![0xab, 0xcd, 3]);
        assert_eq!(with_id(&[1], 0xabcd), vec![1]);
        let mut m = [0u8; 2];
        set_id(&mut m, 0x0102);
        assert_eq!(m, [1, 2]);
        let mut r = answer(&q("a", TYPE_A), &[], 1);
        assert_eq!(response_id(&r), Some(0x1234));
        assert_eq!(response_id(&r[..11]), None);
        r[2] &= !QR;
        assert_eq!(response_id(&r), None);
    }

    #[test]
    fn matches_replies() {
        let qa = q("Example.COM", TYPE_A);
        let mut other_case = qa.clone();
        other_case.question = qa.question.to_ascii_lowercase();
        let reply = answer(&other_case, &[v4("1.2.3.4")], 60);
        assert!(reply_matches(&reply, 0x1234, &qa.question));
        assert!(!reply_matches(&reply, 0x1235, &qa.question));
        assert!(!reply_matches(&reply[..11], 0x1234, &qa.question));
        let other = q("example.org", TYPE_A);
        assert!(!reply_matches(&reply, 0x1234, &other.question));
        // A question cut short by the end of the reply.
        assert!(!reply_matches(
            &reply[..HEADER_LEN + 3],
            0x1234,
            &qa.question
        ));
        // No question: accepted; two: not.
        let bare = error_header(&[0x12, 0x34], SERVFAIL).unwrap();
        assert!(reply_matches(&bare, 0x1234, &qa.question));
        let mut two = reply.clone();
        two[5] = 2;
        assert!(!reply_matches(&two, 0x1234, &qa.question));
        // A query is not a reply.
        assert!(!reply_matches(
            &query(0x1234, "example.com", TYPE_A).unwrap(),
            0x1234,
            &qa.question
        ));
    }

    #[test]
    fn reverse_names() {
        assert_eq!(reverse_name(v4("172.18.0.2")), "2.0.18.172.in-addr.arpa");
        let six = v4("2001:db8::abc:1");
        let name = reverse_name(six);
        assert_eq!(
            name,
            "1.0.0.0.c.b.a.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"
        );
        assert_eq!(parse_reverse(&name), Some(six));
        assert_eq!(parse_reverse(&name.to_uppercase()), Some(six));
        assert_eq!(
            parse_reverse("2.0.18.172.in-addr.arpa"),
            Some(v4("172.18.0.2"))
        );
        assert_eq!(
            parse_reverse("255.0.0.10.IN-ADDR.ARPA"),
            Some(v4("10.0.0.255"))
        );
        for bad in [
            "in-addr.arpa",
            ".in-addr.arpa",
            "18.172.in-addr.arpa",
            "0.2.0.18.172.in-addr.arpa",
            "2.0.18.256.in-addr.arpa",
            "2.0.18.01.in-addr.arpa",
            "2.0.18.+1.in-addr.arpa",
            "2.0.18.1a.in-addr.arpa",
            "2.0..172.in-addr.arpa",
            "2.0.18.172.in-addr.arpa.com",
            "2.0.18.172",
            "web",
            "",
            "1.0.ip6.arpa",
            "ip6.arpa",
        ] {
            assert_eq!(parse_reverse(bad), None, "{bad}");
        }
        let with = |f: &dyn Fn(&mut Vec<String>)| {
            let mut parts: Vec<String> = name.split('.').map(str::to_string).collect();
            f(&mut parts);
            parts.join(".")
        };
        assert_eq!(parse_reverse(&with(&|p| p[3] = "g".into())), None);
        assert_eq!(parse_reverse(&with(&|p| p[3] = "00".into())), None);
        assert_eq!(parse_reverse(&with(&|p| p[3] = String::new())), None);
        assert_eq!(parse_reverse(&with(&|p| p.insert(0, "1".into()))), None);
        assert_eq!(parse_reverse(&with(&|p| drop(p.remove(0)))), None);
        assert_eq!(
            parse_reverse(&with(&|p| p[0] = "F".into())),
            Some(v4("2001:db8::abc:f"))
        );
        assert_eq!(
            parse_reverse(&with(&|p| p[1] = "e".into())),
            Some(v4("2001:db8::abc:e1"))
        );
    }

    #[test]
    fn reverse_round_trips() {
        for s in [
            "0.0.0.0",
            "255.255.255.255",
            "10.1.2.3",
            "::",
            "::1",
            "fe80::1:2:3:4",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        ] {
            let ip = v4(s);
            assert_eq!(parse_reverse(&reverse_name(ip)), Some(ip), "{s}");
        }
    }
}

//! Text that need not be UTF-8. Commands, their arguments, env values and
//! paths pass through rrun as the exact bytes the caller gave (`OsString`,
//! `PathBuf`), from the command line to execve; identifiers (names,
//! hostnames, env keys, ports, …) stay `String` and are refused when they
//! are not UTF-8. This module owns how such bytes are recorded in
//! config.json, losslessly: a plain JSON string when they are UTF-8 (so
//! that older records and other tools read them as before), otherwise an
//! object `{"hex": "636166e9"}` holding every byte. Pure.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `s` split at the first `sep` byte.
pub fn split_once(s: &OsStr, sep: u8) -> Option<(&OsStr, &OsStr)> {
    let b = s.as_bytes();
    let i = b.iter().position(|&c| c == sep)?;
    Some((OsStr::from_bytes(&b[..i]), OsStr::from_bytes(&b[i + 1..])))
}

/// `a` and `b` joined by the byte `sep`.
pub fn join(a: &OsStr, sep: u8, b: &OsStr) -> OsString {
    let mut v = Vec::with_capacity(a.len() + 1 + b.len());
    v.extend_from_slice(a.as_bytes());
    v.push(sep);
    v.extend_from_slice(b.as_bytes());
    OsString::from_vec(v)
}

/// `s` for a message: quoted, with control characters and bytes that are
/// not UTF-8 escaped (`"caf\xE9"`), so that it stays one printable line.
pub fn show(s: &OsStr) -> String {
    format!("{s:?}")
}

/// Lower-case hex digits of `b`.
pub fn hex(b: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for &c in b {
        s.push(DIGITS[usize::from(c >> 4)] as char);
        s.push(DIGITS[usize::from(c & 15)] as char);
    }
    s
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return None;
    }
    b.chunks(2)
        .map(|p| Some(digit(p[0])? << 4 | digit(p[1])?))
        .collect()
}

/// One recorded value, as it is written.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Repr<'a> {
    Text(std::borrow::Cow<'a, str>),
    Hex { hex: std::borrow::Cow<'a, str> },
}

impl<'a> Repr<'a> {
    fn of(s: &'a OsStr) -> Repr<'a> {
        match s.to_str() {
            Some(t) => Repr::Text(t.into()),
            None => Repr::Hex {
                hex: hex(s.as_bytes()).into(),
            },
        }
    }

    fn value<E: serde::de::Error>(self) -> Result<OsString, E> {
        match self {
            Repr::Text(t) => Ok(OsString::from(t.into_owned())),
            Repr::Hex { hex } => unhex(&hex)
                .map(OsString::from_vec)
                .ok_or_else(|| E::custom(format!("invalid hex bytes {hex:?}"))),
        }
    }
}

/// `#[serde(with = "crate::bytes::os")]` on an `OsString` field.
pub mod os {
    use super::*;

    pub fn serialize<S: Serializer>(v: &OsString, s: S) -> Result<S::Ok, S::Error> {
        Repr::of(v).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OsString, D::Error> {
        Repr::deserialize(d)?.value()
    }
}

/// `#[serde(with = "crate::bytes::os_vec")]` on a `Vec<OsString>` field.
pub mod os_vec {
    use super::*;

    pub fn serialize<S: Serializer>(v: &[OsString], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|x| Repr::of(x)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<OsString>, D::Error> {
        Vec::<Repr>::deserialize(d)?
            .into_iter()
            .map(Repr::value)
            .collect()
    }
}

/// `#[serde(with = "crate::bytes::path")]` on a `PathBuf` field.
pub mod path {
    use super::*;
    use std::path::{Path, PathBuf};

    pub fn serialize<S: Serializer>(v: &Path, s: S) -> Result<S::Ok, S::Error> {
        Repr::of(v.as_os_str()).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PathBuf, D::Error> {
        Repr::deserialize(d)?.value().map(PathBuf::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, Deserialize, Debug, PartialEq, Default)]
    struct R {
        #[serde(with = "os")]
        one: OsString,
        #[serde(default, with = "os_vec")]
        many: Vec<OsString>,
    }

    fn os(b: &[u8]) -> OsString {
        OsString::from_vec(b.to_vec())
    }

    #[test]
    fn utf8_stays_a_string_other_bytes_become_hex() {
        let r = R {
            one: "/bin/echo".into(),
            many: vec![os(b"caf\xe9"), "A=1".into(), os(b"")],
        };
        let j = serde_json::to_string(&r).unwrap();
        assert_eq!(
            j,
            r#"{"one":"/bin/echo","many":[{"hex":"636166e9"},"A=1",""]}"#
        );
        assert_eq!(serde_json::from_str::<R>(&j).unwrap(), r);
        let r = R {
            one: os(b"\xff\x00\x10\xab"),
            many: vec![],
        };
        let j = serde_json::to_string(&r).unwrap();
        assert_eq!(j, r#"{"one":{"hex":"ff0010ab"},"many":[]}"#);
        assert_eq!(serde_json::from_str::<R>(&j).unwrap(), r);
    }

    #[test]
    fn old_records_read_and_bad_ones_fail() {
        let r: R = serde_json::from_str(r#"{"one":"x"}"#).unwrap();
        assert_eq!(r.one, "x");
        assert!(r.many.is_empty());
        let r: R = serde_json::from_str(r#"{"one":{"hex":"41Ff"}}"#).unwrap();
        assert_eq!(r.one, os(b"A\xff"));
        for bad in [
            r#"{"one":{"hex":"4"}}"#,
            r#"{"one":{"hex":"zz"}}"#,
            r#"{"one":{"hex":"+1"}}"#,
            r#"{"one":{"hex":"é1"}}"#,
            r#"{"one":{"bytes":"41"}}"#,
            r#"{"one":1}"#,
            r#"{"one":"x","many":[1]}"#,
        ] {
            assert!(serde_json::from_str::<R>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn helpers() {
        let s = os(b"K=v\xe9=w");
        let (k, v) = split_once(&s, b'=').unwrap();
        assert_eq!((k, v), (OsStr::new("K"), os(b"v\xe9=w").as_os_str()));
        assert_eq!(split_once(OsStr::new("K"), b'='), None);
        assert_eq!(split_once(OsStr::new("=x"), b'=').unwrap().0, "");
        assert_eq!(join(k, b'=', v), s);
        assert_eq!(show(&os(b"caf\xe9\n")), r#""caf\xE9\n""#);
        assert_eq!(show(OsStr::new("plain")), "\"plain\"");
        assert_eq!(hex(b"\x00\x0f\xf0\xff"), "000ff0ff");
        assert_eq!(unhex("000ff0ff").unwrap(), b"\x00\x0f\xf0\xff");
        assert_eq!(unhex("").unwrap(), b"");
    }
}

//! Pure parsing and printing of ports: `-p/--publish` and `--expose` specs
//! into typed bindings, and the two ways Docker prints them (ps's PORTS
//! column and `port`'s lines). No syscalls; the caller picks free host
//! ports for bindings that ask for any.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    #[error("invalid publish spec {0:?}: {1}")]
    Spec(String, &'static str),
    #[error("invalid hostPort: {0}")]
    HostPort(String),
    #[error("invalid containerPort: {0}")]
    ContainerPort(String),
    #[error("invalid proto: {0}")]
    Proto(String),
    #[error("invalid IP address: {0}")]
    Ip(String),
    #[error("invalid range {0:?}: host and container ranges must have the same length")]
    Uneven(String),
}

/// A container port and protocol, as exposed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Exposed {
    pub port: u16,
    pub proto: Proto,
}

impl fmt::Display for Exposed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.port, self.proto)
    }
}

/// One published port. `host_port` 0 means "any free port", to be chosen
/// when the container starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    pub host_ip: IpAddr,
    pub host_port: u16,
    pub container_port: u16,
    pub proto: Proto,
}

fn parse_proto(s: &str) -> Result<Proto, PortError> {
    match s {
        "tcp" | "" => Ok(Proto::Tcp),
        "udp" => Ok(Proto::Udp),
        _ => Err(PortError::Proto(s.to_string())),
    }
}

/// "80" or "8000-8010"; 1..=65535.
fn parse_range(s: &str, err: impl Fn(String) -> PortError) -> Result<(u16, u16), PortError> {
    let one = |p: &str| -> Result<u16, PortError> {
        if p.is_empty() || !p.chars().all(|c| c.is_ascii_digit()) || p.len() > 5 {
            return Err(err(s.to_string()));
        }
        match p.parse::<u32>() {
            Ok(n) if (1..=65535).contains(&n) => Ok(n as u16),
            _ => Err(err(s.to_string())),
        }
    };
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (one(a)?, one(b)?);
            if b < a {
                return Err(err(s.to_string()));
            }
            Ok((a, b))
        }
        None => {
            let p = one(s)?;
            Ok((p, p))
        }
    }
}

/// `--expose PORT[-PORT][/PROTO]`.
pub fn parse_expose(raw: &str) -> Result<Vec<Exposed>, PortError> {
    let (ports, proto) = raw.split_once('/').unwrap_or((raw, ""));
    let proto = parse_proto(proto)?;
    let (a, b) = parse_range(ports, PortError::ContainerPort)?;
    Ok((a..=b).map(|port| Exposed { port, proto }).collect())
}

/// Split "[v6]:rest", "ip:hp:cp", "hp:cp", "cp" into (ip, host, container).
fn split_publish(raw: &str) -> Result<(Option<&str>, Option<&str>, &str), PortError> {
    let bad = || {
        PortError::Spec(
            raw.to_string(),
            "use [IP:][HOST_PORT:]CONTAINER_PORT[/PROTO]",
        )
    };
    if let Some(rest) = raw.strip_prefix('[') {
        let (ip, rest) = rest.split_once(']').ok_or_else(bad)?;
        let rest = rest.strip_prefix(':').ok_or_else(bad)?;
        let (hp, cp) = rest.split_once(':').ok_or_else(bad)?;
        return Ok((Some(ip), Some(hp), cp));
    }
    let parts: Vec<&str> = raw.split(':').collect();
    match parts.as_slice() {
        [cp] => Ok((None, None, cp)),
        [hp, cp] => Ok((None, Some(hp), cp)),
        [ip, hp, cp] => Ok((Some(ip), Some(hp), cp)),
        _ => Err(bad()),
    }
}

/// [`parse_requested`] with `default_ip` (--ip) for a missing address
/// and port 0 (any) for a missing host port, as a run resolves them.
#[cfg(test)]
pub fn parse_publish(raw: &str, default_ip: IpAddr) -> Result<Vec<Binding>, PortError> {
    Ok(parse_requested(raw)?
        .into_iter()
        .map(|r| r.resolve(default_ip))
        .collect())
}

/// One port of a -p spec as written: what was left out stays None (Docker's
/// HostConfig.PortBindings shows it as "").
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Requested {
    pub host_ip: Option<IpAddr>,
    pub host_port: Option<u16>,
    pub container_port: u16,
    pub proto: Proto,
}

impl Requested {
    /// The binding a run makes of it: a missing address is `default_ip`
    /// (the network's --ip), a missing host port 0 (any free one).
    pub fn resolve(&self, default_ip: IpAddr) -> Binding {
        Binding {
            host_ip: self.host_ip.unwrap_or(default_ip),
            host_port: self.host_port.unwrap_or(0),
            container_port: self.container_port,
            proto: self.proto,
        }
    }
}

/// `-p [IP:][HOST_PORT:]CONTAINER_PORT[/PROTO]`, with ranges of equal length
/// and IPv6 addresses in brackets, one entry a port.
pub fn parse_requested(raw: &str) -> Result<Vec<Requested>, PortError> {
    let (spec, proto) = raw.rsplit_once('/').unwrap_or((raw, ""));
    let proto = parse_proto(proto)?;
    let (ip, hp, cp) = split_publish(spec)?;
    let host_ip = match ip {
        None | Some("") => None,
        Some(ip) => Some(
            ip.parse::<IpAddr>()
                .map_err(|_| PortError::Ip(ip.to_string()))?,
        ),
    };
    if cp.is_empty() {
        return Err(PortError::Spec(raw.to_string(), "no container port given"));
    }
    let (c0, c1) = parse_range(cp, PortError::ContainerPort)?;
    let host = match hp {
        None | Some("") => None,
        Some(h) => Some(parse_range(h, PortError::HostPort)?),
    };
    let n = c1 - c0;
    if let Some((h0, h1)) = host
        && h1 - h0 != n
    {
        return Err(PortError::Uneven(raw.to_string()));
    }
    Ok((0..=n)
        .map(|i| Requested {
            host_ip,
            host_port: host.map(|(h0, _)| h0 + i),
            container_port: c0 + i,
            proto,
        })
        .collect())
}

pub const ANY_V4: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

/// An address and port as Go's net.JoinHostPort writes them.
pub fn host_port(ip: &IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V4(a) => format!("{a}:{port}"),
        IpAddr::V6(a) => format!("[{a}]:{port}"),
    }
}

/// ps's PORTS column, by Docker's rules: ports sorted by container port;
/// runs of consecutive exposed ports (or ports published on the same port
/// number of one address) folded into ranges and listed first; other
/// mappings after them.
pub fn ps_ports(exposed: &[Exposed], bindings: &[Binding]) -> String {
    // (private, ip, public, proto); ip "" for exposed-only.
    let mut ports: Vec<(u16, String, u16, Proto)> = Vec::new();
    for b in bindings {
        ports.push((
            b.container_port,
            b.host_ip.to_string(),
            b.host_port,
            b.proto,
        ));
    }
    for e in exposed {
        if !bindings
            .iter()
            .any(|b| b.container_port == e.port && b.proto == e.proto)
        {
            ports.push((e.port, String::new(), 0, e.proto));
        }
    }
    ports.sort_by(|a, b| (a.0, &a.1, a.2, a.3).cmp(&(b.0, &b.1, b.2, b.3)));
    let mut groups: Vec<(String, u16, u16)> = Vec::new();
    let mut result = Vec::new();
    let mut mappings = Vec::new();
    for (private, ip, public, proto) in ports {
        let key = if ip.is_empty() {
            proto.to_string()
        } else {
            if public != private {
                let ip: IpAddr = ip.parse().unwrap_or(ANY_V4);
                mappings.push(format!("{}->{private}/{proto}", host_port(&ip, public)));
                continue;
            }
            format!("{ip}/{proto}")
        };
        match groups.iter_mut().find(|g| g.0 == key) {
            Some(g) if g.2 + 1 == private => g.2 = private,
            Some(g) => {
                result.push(form_group(&g.0, g.1, g.2));
                *g = (key, private, private);
            }
            None => groups.push((key, private, private)),
        }
    }
    for (k, a, b) in &groups {
        result.push(form_group(k, *a, *b));
    }
    result.extend(mappings);
    result.join(", ")
}

fn form_group(key: &str, first: u16, last: u16) -> String {
    let (ip, proto) = match key.rsplit_once('/') {
        Some((ip, p)) => (Some(ip), p),
        None => (None, key),
    };
    let mut g = first.to_string();
    if first != last {
        g = format!("{g}-{last}");
    }
    match ip {
        Some(ip) => {
            let ip: IpAddr = ip.parse().unwrap_or(ANY_V4);
            let hp = match ip {
                IpAddr::V6(a) => format!("[{a}]"),
                IpAddr::V4(a) => a.to_string(),
            };
            format!("{hp}:{g}->{g}/{proto}")
        }
        None => format!("{g}/{proto}"),
    }
}

/// `rrun port CONTAINER [PORT[/PROTO]]` lines.
pub fn port_lines(bindings: &[Binding], filter: Option<Exposed>) -> Vec<String> {
    let mut b: Vec<&Binding> = bindings.iter().collect();
    b.sort_by_key(|b| (b.container_port, b.proto, b.host_ip, b.host_port));
    b.iter()
        .filter(|b| filter.is_none_or(|f| f.port == b.container_port && f.proto == b.proto))
        .map(|b| match filter {
            Some(_) => host_port(&b.host_ip, b.host_port),
            None => format!(
                "{}/{} -> {}",
                b.container_port,
                b.proto,
                host_port(&b.host_ip, b.host_port)
            ),
        })
        .collect()
}

/// `port`'s PORT[/PROTO] argument.
#[cfg(test)]
pub fn parse_port_filter(raw: &str) -> Result<Exposed, PortError> {
    let e = parse_expose(raw)?;
    match e.as_slice() {
        [one] => Ok(*one),
        _ => Err(PortError::ContainerPort(raw.to_string())),
    }
}

/// `port`'s PRIVATE_PORT[/PROTO] as Docker's CLI reads it: what its error
/// names ("9999/tcp", the text as given), and the one port it can match,
/// if any (a range or another protocol matches none).
pub fn parse_port_arg(
    raw: &str,
) -> Result<(String, Option<Exposed>), crate::filter::PortRangeError> {
    let (port, proto) = match raw.split_once('/') {
        Some((p, pr)) if !pr.is_empty() => (p, pr),
        _ => (raw, "tcp"),
    };
    let (start, end) = if port.is_empty() {
        (0, 0)
    } else {
        crate::filter::port_range(port)?
    };
    let one = match proto {
        "tcp" => Some(Proto::Tcp),
        "udp" => Some(Proto::Udp),
        _ => None,
    }
    .filter(|_| start == end)
    .map(|proto| Exposed { port: start, proto });
    Ok((format!("{port}/{proto}"), one))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(ip: &str, hp: u16, cp: u16, proto: Proto) -> Binding {
        Binding {
            host_ip: ip.parse().unwrap_or(ANY_V4),
            host_port: hp,
            container_port: cp,
            proto,
        }
    }

    #[test]
    fn publish_forms() {
        let any = ANY_V4;
        assert_eq!(
            parse_publish("5000", any).unwrap(),
            [b("0.0.0.0", 0, 5000, Proto::Tcp)]
        );
        assert_eq!(
            parse_publish("3000:80", any).unwrap(),
            [b("0.0.0.0", 3000, 80, Proto::Tcp)]
        );
        assert_eq!(
            parse_publish("127.0.0.1:5000:5000", any).unwrap(),
            [b("127.0.0.1", 5000, 5000, Proto::Tcp)]
        );
        assert_eq!(
            parse_publish("127.0.0.1::5001", any).unwrap(),
            [b("127.0.0.1", 0, 5001, Proto::Tcp)]
        );
        assert_eq!(
            parse_publish("5353:53/udp", any).unwrap(),
            [b("0.0.0.0", 5353, 53, Proto::Udp)]
        );
        assert_eq!(
            parse_publish("[::1]:8080:80", any).unwrap(),
            [b("::1", 8080, 80, Proto::Tcp)]
        );
        assert_eq!(
            parse_publish("[::]:8080:80/udp", any).unwrap(),
            [b("::", 8080, 80, Proto::Udp)]
        );
        let r = parse_publish("8000-8002:80-82", any).unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!(r[2], b("0.0.0.0", 8002, 82, Proto::Tcp));
        let ip: IpAddr = "127.0.0.1".parse().unwrap_or(ANY_V4);
        assert_eq!(parse_publish("80", ip).unwrap()[0].host_ip, ip);
    }

    #[test]
    fn publish_errors() {
        let any = ANY_V4;
        assert_eq!(
            parse_publish("70000:80", any).unwrap_err().to_string(),
            "invalid hostPort: 70000"
        );
        assert!(matches!(
            parse_publish("0:80", any),
            Err(PortError::HostPort(_))
        ));
        assert!(matches!(
            parse_publish("80:0", any),
            Err(PortError::ContainerPort(_))
        ));
        assert!(matches!(
            parse_publish("80:x", any),
            Err(PortError::ContainerPort(_))
        ));
        assert!(matches!(
            parse_publish("80/sctpx", any),
            Err(PortError::Proto(_))
        ));
        assert!(matches!(
            parse_publish("1.2.3:80:80", any),
            Err(PortError::Ip(_))
        ));
        assert!(matches!(
            parse_publish("8000-8002:80-81", any),
            Err(PortError::Uneven(_))
        ));
        assert!(matches!(
            parse_publish("90-80", any),
            Err(PortError::ContainerPort(_))
        ));
        for bad in [
            "",
            ":",
            "a:b:c:d",
            "[::1]80:80",
            "[::1:80:80",
            "80:",
            "-80",
            "1:2:3:4",
        ] {
            assert!(parse_publish(bad, any).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn expose() {
        assert_eq!(
            parse_expose("5432").unwrap(),
            [Exposed {
                port: 5432,
                proto: Proto::Tcp
            }]
        );
        assert_eq!(parse_expose("6000-6002/udp").unwrap().len(), 3);
        assert!(parse_expose("0").is_err());
        assert!(parse_expose("5432/icmp").is_err());
    }

    #[test]
    fn ps_column_reference() {
        // Docker's PORTS column for the three containers of the source
        // document's example: one port published to a free host port,
        // exposed ports alone, and several bindings on one container.
        assert_eq!(
            ps_ports(&[], &[b("0.0.0.0", 32769, 5000, Proto::Tcp)]),
            "0.0.0.0:32769->5000/tcp"
        );
        let exp = [
            Exposed {
                port: 5432,
                proto: Proto::Tcp,
            },
            Exposed {
                port: 5433,
                proto: Proto::Udp,
            },
        ];
        assert_eq!(ps_ports(&exp, &[]), "5432/tcp, 5433/udp");
        let w3 = [
            b("127.0.0.1", 5001, 5001, Proto::Udp),
            b("0.0.0.0", 3000, 80, Proto::Tcp),
            b("127.0.0.1", 32770, 5000, Proto::Tcp),
        ];
        assert_eq!(
            ps_ports(&[], &w3),
            "127.0.0.1:5001->5001/udp, 0.0.0.0:3000->80/tcp, 127.0.0.1:32770->5000/tcp"
        );
        let run: Vec<Exposed> = (6000..=6002)
            .map(|port| Exposed {
                port,
                proto: Proto::Tcp,
            })
            .collect();
        assert_eq!(ps_ports(&run, &[]), "6000-6002/tcp");
        let same: Vec<Binding> = (8000..=8002)
            .map(|p| b("0.0.0.0", p, p, Proto::Tcp))
            .collect();
        assert_eq!(ps_ports(&[], &same), "0.0.0.0:8000-8002->8000-8002/tcp");
        assert_eq!(
            ps_ports(&[], &[b("::1", 8080, 80, Proto::Tcp)]),
            "[::1]:8080->80/tcp"
        );
    }

    #[test]
    fn port_command() {
        let w = [
            b("0.0.0.0", 32769, 5000, Proto::Tcp),
            b("127.0.0.1", 5001, 5001, Proto::Udp),
        ];
        assert_eq!(
            port_lines(&w, None),
            ["5000/tcp -> 0.0.0.0:32769", "5001/udp -> 127.0.0.1:5001"]
        );
        let f = parse_port_filter("5000").ok();
        assert_eq!(port_lines(&w, f), ["0.0.0.0:32769"]);
        let f = parse_port_filter("5001/udp").ok();
        assert_eq!(port_lines(&w, f), ["127.0.0.1:5001"]);
        assert!(port_lines(&w, parse_port_filter("5432").ok()).is_empty());
    }

    #[test]
    fn port_argument_as_docker_cli() {
        let tcp = |port| Exposed {
            port,
            proto: Proto::Tcp,
        };
        assert_eq!(
            parse_port_arg("9999"),
            Ok(("9999/tcp".into(), Some(tcp(9999))))
        );
        assert_eq!(
            parse_port_arg("53/udp"),
            Ok((
                "53/udp".into(),
                Some(Exposed {
                    port: 53,
                    proto: Proto::Udp
                })
            ))
        );
        assert_eq!(parse_port_arg("80/TCP"), Ok(("80/TCP".into(), None)));
        assert_eq!(parse_port_arg("80/sctp"), Ok(("80/sctp".into(), None)));
        assert_eq!(parse_port_arg("80-81"), Ok(("80-81/tcp".into(), None)));
        assert_eq!(
            parse_port_arg("/udp"),
            Ok((
                "/udp".into(),
                Some(Exposed {
                    port: 0,
                    proto: Proto::Udp
                })
            ))
        );
        assert_eq!(parse_port_arg("0"), Ok(("0/tcp".into(), Some(tcp(0)))));
        assert_eq!(
            parse_port_arg("abc").unwrap_err().to_string(),
            r#"strconv.ParseUint: parsing "abc": invalid syntax"#
        );
        // A bare trailing '/' stays part of the port, as Docker's CLI has it.
        assert_eq!(
            parse_port_arg("80/").unwrap_err().to_string(),
            r#"strconv.ParseUint: parsing "80/": invalid syntax"#
        );
    }
}

//! IP address leases on the network's subnet: pure bookkeeping over a
//! struct that the caller loads and stores under the state lock.
//!
//! Addresses are handed out round-robin from where the last one was taken,
//! so that an address given back is not handed out again at once: the
//! kernel drops a container's veth with its namespace asynchronously, and
//! an immediate reuse could meet the old interface's neighbour entries.
//! Given-back addresses also sit out a quarantine before reuse.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnet::{IpNet, Ipv4Net};
use serde::{Deserialize, Serialize};

/// Seconds a released address waits before it may be leased again.
pub const QUARANTINE_SECS: u64 = 30;

/// The network of `addr`/`prefix` (host bits cleared); None past /32.
pub fn subnet_of(addr: Ipv4Addr, prefix: u8) -> Option<Ipv4Net> {
    Ipv4Net::new(addr, prefix).ok().map(|n| n.trunc())
}

/// Whether two networks share an address: one of them holds the other.
pub fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(b) || b.contains(a)
}

/// The `i`th address of `net`, from its network address on.
fn nth(net: Ipv4Net, i: u64) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(net.network()).wrapping_add(i as u32))
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Leases {
    /// Offset in the subnet where the next search starts.
    pub next: u64,
    /// Leased address → container id.
    pub leases: BTreeMap<Ipv4Addr, String>,
    /// Released address → when (seconds since the epoch).
    pub freed: BTreeMap<Ipv4Addr, u64>,
    /// Owners of stopped containers, which keep their address until they
    /// are removed (so that their links stay true when they start again).
    #[serde(default)]
    pub kept: std::collections::BTreeSet<String>,
}

impl Leases {
    /// Lease an address of `subnet` to `id`. Leases whose holder `live`
    /// says is gone are taken back first. None when the subnet is full.
    pub fn allocate(
        &mut self,
        subnet: Ipv4Net,
        gateway: Ipv4Addr,
        id: &str,
        now: u64,
        live: impl Fn(&str) -> bool,
    ) -> Option<Ipv4Addr> {
        let dead: Vec<Ipv4Addr> = self
            .leases
            .iter()
            .filter(|(_, owner)| !live(owner))
            .map(|(ip, _)| *ip)
            .collect();
        for ip in dead {
            self.release(ip, now);
        }
        self.freed
            .retain(|_, t| now.saturating_sub(*t) < QUARANTINE_SECS);
        let size = 1u64 << (32 - subnet.prefix_len());
        if size < 4 {
            return None;
        }
        // Skip the network and broadcast addresses.
        let usable = size - 2;
        for k in 0..usable {
            let off = 1 + (self.next + k) % usable;
            let ip = nth(subnet, off);
            if ip == gateway || self.leases.contains_key(&ip) || self.freed.contains_key(&ip) {
                continue;
            }
            self.leases.insert(ip, id.to_string());
            self.next = off % usable;
            return Some(ip);
        }
        None
    }

    /// The address `id` holds already, or `prefer` if it is a free
    /// address of `subnet` (quarantine aside: the container had it last).
    pub fn reuse(
        &mut self,
        subnet: Ipv4Net,
        gateway: Ipv4Addr,
        id: &str,
        prefer: Option<Ipv4Addr>,
    ) -> Option<Ipv4Addr> {
        self.kept.remove(id);
        if let Some((ip, _)) = self.leases.iter().find(|(_, o)| o.as_str() == id) {
            return Some(*ip);
        }
        let ip = prefer?;
        let usable = subnet.contains(&ip)
            && ip != gateway
            && ip != subnet.network()
            && ip != subnet.broadcast()
            && !self.leases.contains_key(&ip);
        if !usable {
            return None;
        }
        self.freed.remove(&ip);
        self.leases.insert(ip, id.to_string());
        Some(ip)
    }

    pub fn release(&mut self, ip: Ipv4Addr, now: u64) {
        if self.leases.remove(&ip).is_some() {
            self.freed.insert(ip, now);
        }
    }

    /// Give back every address held by `id`.
    pub fn release_owner(&mut self, id: &str, now: u64) {
        self.kept.remove(id);
        let ips: Vec<Ipv4Addr> = self
            .leases
            .iter()
            .filter(|(_, o)| o.as_str() == id)
            .map(|(ip, _)| *ip)
            .collect();
        for ip in ips {
            self.release(ip, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap_or(Ipv4Addr::UNSPECIFIED)
    }

    #[test]
    fn kept_and_preferred_addresses() {
        let net: Ipv4Net = "172.17.0.0/16".parse().unwrap_or_else(|e| panic!("{e}"));
        let gw = ip("172.17.0.1");
        let mut l = Leases::default();
        // Nothing held, nothing preferred: none.
        assert_eq!(l.reuse(net, gw, "a", None), None);
        // A preferred free address is taken, quarantine or not.
        l.freed.insert(ip("172.17.0.9"), 5);
        assert_eq!(
            l.reuse(net, gw, "a", Some(ip("172.17.0.9"))),
            Some(ip("172.17.0.9"))
        );
        assert!(!l.freed.contains_key(&ip("172.17.0.9")));
        assert_eq!(
            l.leases.get(&ip("172.17.0.9")).map(String::as_str),
            Some("a")
        );
        // What `a` holds comes back, and its kept mark goes.
        l.kept.insert("a".into());
        assert_eq!(
            l.reuse(net, gw, "a", Some(ip("172.17.0.3"))),
            Some(ip("172.17.0.9"))
        );
        assert!(l.kept.is_empty());
        // Another's address, the gateway, the network and broadcast
        // addresses and one outside the subnet are never taken.
        for bad in [
            "172.17.0.9",
            "172.17.0.1",
            "172.17.0.0",
            "172.17.255.255",
            "10.0.0.2",
        ] {
            assert_eq!(l.reuse(net, gw, "b", Some(ip(bad))), None, "{bad}");
        }
        // Given back, the kept mark goes with the lease.
        l.kept.insert("a".into());
        l.release_owner("a", 7);
        assert!(l.kept.is_empty() && l.leases.is_empty());
        assert_eq!(l.freed.get(&ip("172.17.0.9")), Some(&7));
    }

    #[test]
    fn subnets() {
        let sub = |a: &str, p| subnet_of(ip(a), p).unwrap_or_else(|| panic!("{a}/{p}"));
        let s = sub("172.17.0.1", 16);
        assert_eq!(s.to_string(), "172.17.0.0/16");
        assert!(s.contains(&ip("172.17.255.254")));
        assert!(!s.contains(&ip("172.18.0.1")));
        let over = |a: Ipv4Net, b: Ipv4Net| overlaps(&a.into(), &b.into());
        assert!(over(s, sub("172.17.5.0", 24)));
        assert!(over(sub("172.17.5.0", 24), s));
        assert!(over(s, sub("172.0.0.0", 8)));
        assert!(!over(s, sub("192.168.0.0", 16)));
        assert!(!over(s, sub("172.18.0.0", 16)));
        assert!(!overlaps(
            &s.into(),
            &"::/0".parse().unwrap_or_else(|e| panic!("{e}"))
        ));
        assert_eq!(s.broadcast(), ip("172.17.255.255"));
        assert!(sub("10.0.0.0", 0).contains(&ip("1.2.3.4")));
        assert_eq!(subnet_of(ip("10.0.0.1"), 33), None);
        assert_eq!(nth(s, 258), ip("172.17.1.2"));
    }

    #[test]
    fn round_robin_and_quarantine() {
        let s = subnet_of(ip("192.168.5.1"), 29).unwrap_or_default(); // .0-.7: usable .1-.6, gw .1
        let gw = ip("192.168.5.1");
        let mut l = Leases::default();
        let live = |_: &str| true;
        let a = l.allocate(s, gw, "a", 0, live);
        let b = l.allocate(s, gw, "b", 0, live);
        assert_eq!(a, Some(ip("192.168.5.2")));
        assert_eq!(b, Some(ip("192.168.5.3")));
        l.release(ip("192.168.5.2"), 0);
        // Not handed out again at once, even though lower.
        assert_eq!(l.allocate(s, gw, "c", 1, live), Some(ip("192.168.5.4")));
        assert_eq!(l.allocate(s, gw, "d", 1, live), Some(ip("192.168.5.5")));
        assert_eq!(l.allocate(s, gw, "e", 1, live), Some(ip("192.168.5.6")));
        // .2 is in quarantine, the rest taken: full.
        assert_eq!(l.allocate(s, gw, "f", 2, live), None);
        // After the quarantine it comes back.
        assert_eq!(
            l.allocate(s, gw, "f", 2 + QUARANTINE_SECS, live),
            Some(ip("192.168.5.2"))
        );
        // Dead owners' leases are reclaimed (and quarantined).
        let only_f = |o: &str| o == "f";
        let t = 100;
        assert_eq!(l.allocate(s, gw, "g", t, only_f), None);
        assert!(
            l.allocate(s, gw, "g", t + QUARANTINE_SECS, only_f)
                .is_some()
        );
        l.release_owner("g", 0);
        assert!(!l.leases.values().any(|o| o == "g"));
    }
}

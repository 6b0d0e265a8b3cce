//! A user-defined network's name table (`networks/NAME/names.json`): the
//! names (container name, short id, network aliases) each container on it
//! answers to. Changed under the state lock when a container is plugged in
//! and when it is given back, and replaced whole (write then rename), so
//! a reader never sees half of it. Every container's resolver reads it
//! again when it changes (one stat per query), and answers with an entry
//! only while its lease lock is held: a container whose monitor was killed
//! stops resolving at once, before anything cleans up after it.

use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{LeaseLocks, Net, read_json, write_json};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Table {
    pub entries: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub id: String,
    /// Lowercase; the container's name first.
    pub names: Vec<String>,
    pub ip: Ipv4Addr,
    /// Its IPv6 address, where the network has IPv6.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip6: Option<std::net::Ipv6Addr>,
    /// A network it was connected to (`network connect`): no live process
    /// holds that lease's lock, so its monitor's life (pid, start time)
    /// says whether it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitor: Option<(i32, u64)>,
}

fn path(net: &Net) -> PathBuf {
    net.dir.join("names.json")
}

pub fn load(net: &Net) -> Table {
    read_json(&path(net)).ok().flatten().unwrap_or_default()
}

/// Put `e` in the table (replacing the container's earlier entry). The
/// caller holds the state lock.
pub fn add(net: &Net, e: Entry) -> Result<(), super::NetError> {
    let mut t = load(net);
    t.entries.retain(|x| x.id != e.id);
    t.entries.push(e);
    write_json(&path(net), &t)
}

/// Take `id` out of the table. The caller holds the state lock.
pub fn remove(net: &Net, id: &str) {
    let mut t = load(net);
    let n = t.entries.len();
    t.entries.retain(|x| x.id != id);
    if t.entries.len() != n {
        let _ = write_json(&path(net), &t);
    }
}

/// `id` is called `name` now (its first name). The caller holds the state
/// lock.
pub fn rename(net: &Net, id: &str, name: &str) {
    let mut t = load(net);
    let Some(e) = t.entries.iter_mut().find(|x| x.id == id) else {
        return;
    };
    let name = name.to_ascii_lowercase();
    e.names.retain(|n| *n != name);
    match e.names.first_mut() {
        Some(first) => *first = name,
        None => e.names.push(name),
    }
    let _ = write_json(&path(net), &t);
}

/// The lookups of one resolver: the tables of its networks, read again
/// whenever their file changes.
pub struct Cache {
    nets: Vec<Cached>,
}

struct Cached {
    net: Net,
    /// (inode, mtime ns, size) of the file last read.
    seen: Option<(u64, i64, u64)>,
    table: Table,
    locks: Option<LeaseLocks>,
}

impl Cached {
    fn refresh(&mut self) {
        let now = std::fs::metadata(path(&self.net)).ok().map(|m| {
            (
                m.ino(),
                m.mtime() * 1_000_000_000 + m.mtime_nsec(),
                m.size(),
            )
        });
        if now != self.seen || now.is_none() {
            self.table = load(&self.net);
            self.seen = now;
        }
        if self.locks.is_none() {
            self.locks = LeaseLocks::open(&self.net, false).ok();
        }
    }

    fn live(&self, e: &Entry) -> bool {
        match e.monitor {
            Some((pid, start)) => crate::sys::alive(pid, start),
            None => self.locks.as_ref().is_some_and(|l| l.held(e.ip)),
        }
    }
}

impl Cache {
    pub fn new(nets: Vec<Net>) -> Cache {
        Cache {
            nets: nets
                .into_iter()
                .map(|net| Cached {
                    net,
                    seen: None,
                    table: Table::default(),
                    locks: None,
                })
                .collect(),
        }
    }

    /// Answer for these networks from now on (a container connected to
    /// another network, or disconnected from one).
    pub fn set_nets(&mut self, nets: Vec<Net>) {
        if nets.len() == self.nets.len() && nets.iter().zip(&self.nets).all(|(a, b)| *a == b.net) {
            return;
        }
        *self = Cache::new(nets);
    }

    /// The live addresses `name` (lowercase) stands for on these networks.
    pub fn lookup(&mut self, name: &str) -> Vec<IpAddr> {
        let mut out = Vec::new();
        for c in &mut self.nets {
            c.refresh();
            // `web.NETWORK` is `web` on NETWORK, as Docker answers it.
            let name = name
                .strip_suffix(c.net.name.as_str())
                .and_then(|n| n.strip_suffix('.'))
                .unwrap_or(name);
            for e in &c.table.entries {
                if e.names.iter().any(|n| n == name)
                    && !out.contains(&IpAddr::V4(e.ip))
                    && c.live(e)
                {
                    out.push(IpAddr::V4(e.ip));
                    out.extend(e.ip6.map(IpAddr::V6));
                }
            }
        }
        out
    }

    /// The name of the live container at `ip`, if one is on these networks.
    pub fn reverse(&mut self, ip: IpAddr) -> Option<String> {
        for c in &mut self.nets {
            c.refresh();
            if let Some(e) = c
                .table
                .entries
                .iter()
                .find(|e| IpAddr::V4(e.ip) == ip || e.ip6.map(IpAddr::V6) == Some(ip))
                && c.live(e)
            {
                return e.names.first().map(|n| format!("{n}.{}", c.net.name));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(tag: &str) -> Net {
        let dir = std::env::temp_dir().join(format!("rrun-dnsnames-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        Net {
            name: "app".into(),
            dir,
        }
    }

    fn entry(id: &str, names: &[&str], ip: [u8; 4]) -> Entry {
        Entry {
            id: id.into(),
            names: names.iter().map(|s| s.to_string()).collect(),
            ip: Ipv4Addr::from(ip),
            ip6: None,
            monitor: None,
        }
    }

    #[test]
    fn table_answers_only_for_held_leases() {
        let net = scratch("held");
        add(&net, entry("a1", &["web", "www", "a1short"], [10, 0, 0, 2])).unwrap_or_default();
        add(&net, entry("b2", &["db"], [10, 0, 0, 3])).unwrap_or_default();
        let locks = LeaseLocks::open(&net, true).unwrap_or_else(|e| panic!("{e}"));
        let held = locks
            .hold(Ipv4Addr::new(10, 0, 0, 2))
            .unwrap_or_else(|e| panic!("{e}"));
        let mut c = Cache::new(vec![net.clone()]);
        assert_eq!(c.lookup("web"), [IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2))]);
        assert_eq!(c.lookup("www"), [IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2))]);
        assert_eq!(
            c.lookup("web.app"),
            [IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2))]
        );
        assert!(c.lookup("web.other").is_empty());
        assert!(c.lookup("app").is_empty());
        // db's lease is not held: its holder is gone.
        assert!(c.lookup("db").is_empty());
        assert_eq!(
            c.reverse(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2))).as_deref(),
            Some("web.app")
        );
        assert_eq!(c.reverse(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 3))), None);
        // Changes are seen at the next query.
        rename(&net, "a1", "Front");
        assert_eq!(c.lookup("front"), [IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2))]);
        assert!(c.lookup("web").is_empty());
        assert_eq!(
            c.reverse(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2))).as_deref(),
            Some("front.app")
        );
        rename(&net, "zz", "none");
        remove(&net, "a1");
        assert!(c.lookup("front").is_empty());
        remove(&net, "a1");
        assert_eq!(load(&net).entries.len(), 1);
        // Replacing an entry keeps one per container.
        add(&net, entry("b2", &["db2"], [10, 0, 0, 3])).unwrap_or_default();
        assert_eq!(load(&net).entries, [entry("b2", &["db2"], [10, 0, 0, 3])]);
        drop(held);
        let _ = std::fs::remove_dir_all(&net.dir);
    }

    #[test]
    fn missing_table_is_empty() {
        let net = scratch("missing");
        let mut c = Cache::new(vec![net.clone()]);
        assert!(c.lookup("web").is_empty());
        assert_eq!(c.reverse(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2))), None);
        assert_eq!(load(&net), Table::default());
        let _ = std::fs::remove_dir_all(&net.dir);
    }
}

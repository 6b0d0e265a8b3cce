//! A container's userspace port forwarder, from its monitor's side. The
//! monitor keeps the published ports' host sockets for the container's
//! life; the forwarder (a child running `forward::serve` on copies of them)
//! is started at the first client of any port, and started again within a
//! second if it dies, with the same sockets: clients wait in their backlog
//! meanwhile, so a port never stays dead while `ps` says Up. Kernel NAT, where
//! the network has it, takes every client it can before they reach these
//! sockets; the rest (the host's own loopback clients, IPv6 host addresses,
//! networks without kernel NAT, rootless) are the forwarder's.

use std::marker::PhantomData;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use super::network::BridgePrep;
use super::tty::Aux;
use nix::fcntl::{FcntlArg, fcntl};
use nix::sys::prctl;
use nix::sys::resource::{Resource, getrlimit, setrlimit};
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, Pid, close, dup2, fork};

use crate::forward;
use crate::net;
use crate::ports::Proto;
use crate::sys;

/// A dead forwarder is started again at once, unless it lived less than
/// this: then when this much has passed since its start (a forwarder that
/// keeps dying does not make the monitor spin).
const RESTART_PAUSE: Duration = Duration::from_secs(1);

/// A socket the forwarder serves: one of the prep's held ports (borrowed
/// for the supervisor's lifetime) or a hairpin socket the supervisor owns.
struct Served {
    fd: RawFd,
    proto: Proto,
    target: SocketAddr,
    hairpin: bool,
}

struct Running {
    pid: libc::pid_t,
    pidfd: OwnedFd,
    started: Instant,
    /// The forwarder stops when this closes (or we die).
    _stop: OwnedFd,
}

/// The forwarder of one container, supervised by its monitor.
pub struct Supervisor<'a> {
    ports: Vec<Served>,
    /// The held ports' sockets, which `ports` names by raw fd.
    _held: PhantomData<&'a BridgePrep>,
    /// Rootless hairpin sockets, bound in the user's network namespace.
    _hairpin: Vec<OwnedFd>,
    opts: forward::Options,
    running: Option<Running>,
    not_before: Option<Instant>,
}

impl<'a> Supervisor<'a> {
    /// The supervisor of the container's published ports; None without any.
    pub fn new(b: &'a BridgePrep) -> Option<Supervisor<'a>> {
        let target = |port: u16| SocketAddr::new(IpAddr::V4(b.ip), port);
        let mut ports: Vec<Served> = b
            .held
            .bindings
            .iter()
            .zip(&b.held.fds)
            .chain(b.held.shadows.iter().map(|(bind, fd)| (bind, fd)))
            .map(|(bind, fd)| Served {
                fd: fd.as_raw_fd(),
                proto: bind.proto,
                target: target(bind.container_port),
                hairpin: false,
            })
            .collect();
        if ports.is_empty() {
            return None;
        }
        // Rootless hairpin: a container reaching a published port through
        // the host's address reaches the user's namespace, where pasta put
        // that address. The same port bound there (this process is in that
        // namespace) serves it. Best effort: an address not copied there, or
        // 127.0.0.1 (a container's loopback is its own), has no hairpin.
        let mut hairpin = Vec::new();
        if b.rootless {
            for bind in &b.held.bindings {
                let IpAddr::V4(a) = bind.host_ip else {
                    continue;
                };
                if a.is_loopback() {
                    continue;
                }
                if let Ok(h) = net::hold_ports(std::slice::from_ref(bind), |_| None) {
                    for fd in h.fds {
                        ports.push(Served {
                            fd: fd.as_raw_fd(),
                            proto: bind.proto,
                            target: target(bind.container_port),
                            hairpin: true,
                        });
                        hairpin.push(fd);
                    }
                }
            }
        }
        Some(Supervisor {
            ports,
            _held: PhantomData,
            _hairpin: hairpin,
            opts: forward::Options {
                udp_idle: b.udp_idle,
                transparent: b.transparent,
                ..Default::default()
            },
            running: None,
            not_before: None,
        })
    }

    /// Fork the forwarder on copies of the sockets.
    fn start(&mut self) -> std::io::Result<()> {
        let (r, w) = sys::pipe_cloexec()?;
        // SAFETY: the monitor is single-threaded; the child serves and exits.
        let pid = match unsafe { fork() }? {
            ForkResult::Child => {
                drop(w);
                child(&self.ports, r, &self.opts);
            }
            ForkResult::Parent { child } => child,
        };
        drop(r);
        let pidfd = match sys::pidfd_open(pid.as_raw()) {
            Ok(p) => p,
            Err(e) => {
                // Killing and reaping our own child.
                let _ = kill(pid, Signal::SIGKILL);
                let _ = waitpid(pid, None);
                return Err(e);
            }
        };
        self.running = Some(Running {
            pid: pid.as_raw(),
            pidfd,
            started: Instant::now(),
            _stop: w,
        });
        Ok(())
    }

    /// Reap a forwarder that ended; what to say about it.
    fn reap(&mut self, now: Instant) -> Option<String> {
        let run = self.running.take()?;
        let mut status = 0;
        // SAFETY: reaping our own child, whose pidfd said it ended.
        let w = unsafe { libc::waitpid(run.pid, &mut status, libc::WNOHANG) };
        if w == 0 {
            // Not ended after all (a spurious wakeup).
            self.running = Some(run);
            return None;
        }
        let pause_until = run.started + RESTART_PAUSE;
        self.not_before = (pause_until > now).then_some(pause_until);
        Some(format!(
            "rrun: the port forwarder (pid {}) ended ({}); starting it again",
            run.pid,
            super::describe(status)
        ))
    }
}

impl Aux for Supervisor<'_> {
    fn fds(&self) -> Vec<RawFd> {
        match &self.running {
            Some(r) => vec![r.pidfd.as_raw_fd()],
            // Paused after a quick death: nothing to watch until then.
            None if self.not_before.is_some() => Vec::new(),
            // The first one when a client comes (a dead one is started
            // again by `ready` without waiting for one).
            None => self.ports.iter().map(|p| p.fd).collect(),
        }
    }

    fn deadline(&self) -> Option<Instant> {
        match &self.running {
            Some(_) => None,
            None => self.not_before,
        }
    }

    fn ready(&mut self, now: Instant) -> Vec<String> {
        let mut notes = Vec::new();
        if self.running.is_some() {
            notes.extend(self.reap(now));
            if self.running.is_some() {
                return notes;
            }
        }
        if self.not_before.is_some_and(|t| t > now) {
            return notes;
        }
        self.not_before = None;
        if let Err(e) = self.start() {
            self.not_before = Some(now + RESTART_PAUSE);
            notes.push(format!(
                "rrun: starting the port forwarder: {}; trying again in a second",
                sys::errno_text(&e)
            ));
        }
        notes
    }
}

impl Drop for Supervisor<'_> {
    fn drop(&mut self) {
        if let Some(r) = self.running.take() {
            // The stop pipe closes with `r` after this; kill instead of
            // waiting for the loop to notice, then reap.
            let pid = Pid::from_raw(r.pid);
            let _ = kill(pid, Signal::SIGKILL);
            let _ = waitpid(pid, None);
        }
    }
}

/// The forwarder process: serves copies of `ports` until `stop` closes.
fn child(ports: &[Served], stop: OwnedFd, opts: &forward::Options) -> ! {
    let _ = prctl::set_pdeathsig(Signal::SIGKILL);
    let _ = prctl::set_name(c"rrun-forward");
    // SAFETY: signal state of this child only.
    unsafe { super::child::reset_signals() };
    if let Ok(null) = std::fs::File::options()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        let _ = dup2(null.as_raw_fd(), 0);
        let _ = dup2(null.as_raw_fd(), 1);
    }
    // Connections are fds: as many as the hard limit allows.
    if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
    // Hold nothing of the monitor's but the ports and the stop pipe: a copy
    // of the report pipe of -d would keep the caller waiting, one of the
    // container's output pipes would keep its reader from seeing the end.
    let keep: Vec<RawFd> = ports
        .iter()
        .map(|p| p.fd)
        .chain([stop.as_raw_fd()])
        .collect();
    if let Ok(rd) = std::fs::read_dir("/proc/self/fd") {
        let open: Vec<RawFd> = rd
            .flatten()
            .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
            .collect();
        for fd in open {
            if fd > 2 && !keep.contains(&fd) {
                // A descriptor this child inherited and does not use.
                let _ = close(fd);
            }
        }
    }
    let ports: Vec<forward::Port> = ports
        .iter()
        .filter_map(|p| {
            // A copy of a socket we hold, owned here.
            let fd = fcntl(p.fd, FcntlArg::F_DUPFD_CLOEXEC(3)).ok()?;
            Some(forward::Port {
                // SAFETY: fd was just made by F_DUPFD_CLOEXEC.
                fd: unsafe { OwnedFd::from_raw_fd(fd) },
                proto: match p.proto {
                    Proto::Tcp => forward::Proto::Tcp,
                    Proto::Udp => forward::Proto::Udp,
                },
                target: p.target,
                hairpin: p.hairpin,
            })
        })
        .collect();
    let code = match forward::serve(ports, stop.as_fd(), opts) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("rrun: port forwarder: {e}");
            1
        }
    };
    // SAFETY: ending the forwarder without the monitor's handlers.
    unsafe { libc::_exit(code) }
}

//! The monitor's foreground loop: forwards signals to the container,
//! relays the pty (-t) between the caller's terminal and the container,
//! keeps the window size in step, and returns the wait status. Also the
//! caller's terminal mode, restored on every way out.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::Instant;

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::sys::termios::{self, SetArg, Termios};

use crate::sys;

pub fn is_tty(fd: RawFd) -> bool {
    nix::unistd::isatty(fd).unwrap_or(false)
}

/// The caller's window size, from whichever of stdin/stdout is a terminal.
pub fn winsize() -> Option<libc::winsize> {
    for fd in [0, 1, 2] {
        // SAFETY: TIOCGWINSZ fills a winsize for a terminal fd.
        unsafe {
            let mut ws: libc::winsize = std::mem::zeroed();
            if libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) == 0 && ws.ws_row > 0 {
                return Some(ws);
            }
        }
    }
    None
}

/// The caller's terminal in raw mode; the old mode comes back on drop.
pub struct RawMode {
    fd: BorrowedFd<'static>,
    saved: Termios,
}

impl RawMode {
    /// `fd`: one of the standard streams, which rrun never closes.
    pub fn enter(fd: RawFd) -> Option<RawMode> {
        if !(0..=2).contains(&fd) {
            return None;
        }
        // SAFETY: a standard stream stays open for the life of the process.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let saved = termios::tcgetattr(fd).ok()?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(fd, SetArg::TCSANOW, &raw).ok()?;
        Some(RawMode { fd, saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(self.fd, SetArg::TCSADRAIN, &self.saved);
    }
}

/// Which of the container's output streams bytes came from.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// Where the container's output goes: the caller's stdout/stderr in the
/// foreground, the log with -d.
pub trait Sink {
    /// False: nobody reads this stream any more (a closed pipe), so the
    /// relay stops reading it and the container's next write to it fails
    /// (EPIPE, SIGPIPE), as it would have writing there itself.
    fn write(&mut self, stream: Stream, data: &[u8]) -> bool;
    /// End of a stream: flush any partial line.
    fn close(&mut self, stream: Stream);
    /// A line of rrun's own about the container (the forwarder restarted),
    /// kept apart from the container's partial lines.
    fn note(&mut self, text: &str);
}

/// Something else the monitor's loop watches: the port forwarder.
pub trait Aux {
    /// Fds whose readability calls `ready`.
    fn fds(&self) -> Vec<RawFd>;
    /// When to call `ready` even if none of them is readable.
    fn deadline(&self) -> Option<Instant>;
    /// Act on what is ready; returns notes for the sink.
    fn ready(&mut self, now: Instant) -> Vec<String>;
}

/// The caller's own stdout and stderr.
pub struct Terminal;

impl Sink for Terminal {
    fn write(&mut self, stream: Stream, data: &[u8]) -> bool {
        let fd = if stream == Stream::Stdout { 1 } else { 2 };
        !matches!(sys::write_all(fd, data), Err(e) if e.raw_os_error() == Some(libc::EPIPE))
    }
    fn close(&mut self, _: Stream) {}
    fn note(&mut self, text: &str) {
        let _ = sys::write_all(2, format!("{text}\n").as_bytes());
    }
}

/// A kept foreground container's output: to the caller and into its log,
/// as Docker keeps the log of an attached container.
pub struct Tee<'a> {
    pub terminal: Terminal,
    pub log: &'a mut dyn Sink,
}

impl Sink for Tee<'_> {
    fn write(&mut self, stream: Stream, data: &[u8]) -> bool {
        self.log.write(stream, data);
        self.terminal.write(stream, data)
    }
    fn close(&mut self, stream: Stream) {
        self.log.close(stream);
    }
    fn note(&mut self, text: &str) {
        self.log.note(text);
        self.terminal.note(text);
    }
}

/// An output the relay reads: borrowed (the pty master, which the monitor
/// keeps for resizing) or owned (a pipe's read end).
pub enum Source {
    Borrowed(RawFd),
    Owned(OwnedFd),
}

impl Source {
    fn fd(&self) -> RawFd {
        match self {
            Source::Borrowed(fd) => *fd,
            Source::Owned(fd) => fd.as_raw_fd(),
        }
    }
}

pub struct Relay<'a> {
    pub pid: libc::pid_t,
    pub pidfd: &'a OwnedFd,
    pub sfd: &'a OwnedFd,
    /// The container's output: the pty master, or stdout/stderr pipes
    /// (owned: a pipe nobody reads any more is closed).
    pub sources: Vec<(Source, Stream)>,
    /// The pty master, to write the caller's stdin to (-it) and to set the
    /// window size on.
    pub master: Option<RawFd>,
    /// Relay fd 0 into the master.
    pub stdin: bool,
    pub sink: &'a mut dyn Sink,
    pub forwarded: &'a [libc::c_int],
    pub aux: Option<&'a mut dyn Aux>,
}

fn read_some(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match nix::unistd::read(fd, buf) {
            Ok(n) => return Ok(n),
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// Copy everything the container still has written.
fn drain(fd: RawFd, stream: Stream, buf: &mut [u8], sink: &mut dyn Sink) {
    if let Ok(fl) = fcntl(fd, FcntlArg::F_GETFL) {
        let _ = fcntl(
            fd,
            FcntlArg::F_SETFL(OFlag::from_bits_retain(fl) | OFlag::O_NONBLOCK),
        );
    }
    while let Ok(n) = read_some(fd, buf) {
        if n == 0 || !sink.write(stream, &buf[..n]) {
            break;
        }
    }
    sink.close(stream);
}

/// Run until the container process exits; returns its wait status.
pub fn relay(mut r: Relay) -> i32 {
    let mut buf = vec![0u8; 64 * 1024];
    let mut sources = r.sources;
    let mut stdin_open = r.stdin && r.master.is_some();
    loop {
        let mut fds = vec![
            libc::pollfd {
                fd: r.sfd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: r.pidfd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        for (src, _) in &sources {
            fds.push(libc::pollfd {
                fd: src.fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        if stdin_open {
            fds.push(libc::pollfd {
                fd: 0,
                events: libc::POLLIN,
                revents: 0,
            });
        }
        let aux_at = fds.len();
        let (aux_fds, deadline) = match &r.aux {
            Some(a) => (a.fds(), a.deadline()),
            None => (Vec::new(), None),
        };
        fds.extend(aux_fds.iter().map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        }));
        let timeout = deadline.map_or(-1, |t| {
            let d = t.saturating_duration_since(Instant::now());
            // Rounded up, so as not to wake a hair early and spin.
            d.as_micros().div_ceil(1000).min(i32::MAX as u128) as libc::c_int
        });
        // SAFETY: fds is a valid array of pollfd of the length given.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
        if n < 0 {
            continue;
        }
        let now = Instant::now();
        let aux_due =
            fds[aux_at..].iter().any(|p| p.revents != 0) || deadline.is_some_and(|t| t <= now);
        if let (true, Some(a)) = (aux_due, r.aux.as_deref_mut()) {
            for note in a.ready(now) {
                r.sink.note(&note);
            }
        }
        if fds[0].revents & libc::POLLIN != 0 {
            while let Some(sig) = next_signal(r.sfd) {
                if sig == libc::SIGWINCH && r.master.is_some() {
                    // The kernel signals the container's foreground group
                    // when the pty's size changes.
                    if let (Some(ws), Some(m)) = (winsize(), r.master) {
                        // SAFETY: TIOCSWINSZ with a valid winsize.
                        unsafe { libc::ioctl(m, libc::TIOCSWINSZ, &ws) };
                    }
                } else if r.forwarded.contains(&sig) {
                    let _ = sys::pidfd_send_signal(r.pidfd, sig);
                }
            }
        }
        let mut closed = Vec::new();
        for (i, (src, stream)) in sources.iter().enumerate() {
            let re = fds[2 + i].revents;
            if re & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
                let fd = src.fd();
                match read_some(fd, &mut buf) {
                    Ok(n) if n > 0 => {
                        if !r.sink.write(*stream, &buf[..n]) {
                            r.sink.close(*stream);
                            closed.push(fd);
                        }
                    }
                    // EOF, or EIO from a pty whose slaves are all closed.
                    _ => {
                        r.sink.close(*stream);
                        closed.push(fd);
                    }
                }
            }
        }
        if stdin_open {
            let re = fds[2 + sources.len()].revents;
            if re & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
                match (read_some(0, &mut buf), r.master) {
                    (Ok(n), Some(m)) if n > 0 => {
                        let _ = sys::write_all(m, &buf[..n]);
                    }
                    (_, Some(m)) => {
                        // End of input: the terminal's end-of-file character.
                        let _ = sys::write_all(m, &[4]);
                        stdin_open = false;
                    }
                    _ => stdin_open = false,
                }
            }
        }
        // Dropping an owned pipe end closes it.
        sources.retain(|(src, _)| !closed.contains(&src.fd()));
        if fds[1].revents & libc::POLLIN != 0 {
            let mut status = 0;
            // SAFETY: reaping our own child, which has exited.
            let w = unsafe { libc::waitpid(r.pid, &mut status, 0) };
            if w == r.pid {
                for (src, stream) in &sources {
                    drain(src.fd(), *stream, &mut buf, r.sink);
                }
                return status;
            }
        }
    }
}

/// The next signal waiting in the signalfd `sfd` (non-blocking), if any.
pub(crate) fn next_signal(sfd: &OwnedFd) -> Option<libc::c_int> {
    // SAFETY: signalfd_siginfo is plain data; read fills it.
    let mut si: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
    let sz = std::mem::size_of::<libc::signalfd_siginfo>();
    // SAFETY: reading one record into si, of its size.
    let got = unsafe { libc::read(sfd.as_raw_fd(), &mut si as *mut _ as *mut libc::c_void, sz) };
    (got == sz as isize).then_some(si.ssi_signo as libc::c_int)
}

//! The sync socket between the monitor and the container process: a
//! SOCK_SEQPACKET pair, so each message arrives whole. The container end is
//! close-on-exec, so a successful execve shows up as end-of-file.
//!
//!   monitor → container: Go (the network and state are ready)
//!   container → monitor: Tty (the pty master, as SCM_RIGHTS), Exec (about
//!   to execve), Error (code and message; the process then exits)

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use crate::sys;

pub enum Msg {
    Go,
    Exec,
    Error { code: i32, msg: String },
    Tty(OwnedFd),
}

pub fn pair() -> io::Result<(OwnedFd, OwnedFd)> {
    sys::seqpacket_pair()
}

/// Send a message; errors are ignored, since the peer being gone is
/// noticed by the receiving side as end-of-file.
pub fn send(sock: RawFd, m: &Msg) {
    let buf: Vec<u8> = match m {
        Msg::Go => vec![b'G'],
        Msg::Exec => vec![b'X'],
        Msg::Error { code, msg } => {
            let mut b = vec![b'E'];
            b.extend_from_slice(&code.to_le_bytes());
            // Keep it to one datagram of modest size.
            b.extend_from_slice(&msg.as_bytes()[..msg.len().min(4000)]);
            b
        }
        Msg::Tty(_) => return,
    };
    // SAFETY: buf is valid for its length; MSG_NOSIGNAL avoids SIGPIPE.
    unsafe {
        libc::send(
            sock,
            buf.as_ptr() as *const libc::c_void,
            buf.len(),
            libc::MSG_NOSIGNAL,
        )
    };
}

/// Send an fd (the pty master) with SCM_RIGHTS.
pub fn send_fd(sock: RawFd, fd: RawFd) -> io::Result<()> {
    let mut byte = [b'T'];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr() as *mut libc::c_void,
        iov_len: 1,
    };
    // SAFETY: CMSG_SPACE is a pure size computation.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) } as usize;
    let mut cbuf = vec![0u8; space];
    // SAFETY: msghdr points at iov and cbuf, both alive across sendmsg; the
    // CMSG macros stay within cbuf, sized by CMSG_SPACE for one fd.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr() as *mut libc::c_void;
        msg.msg_controllen = space;
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_RIGHTS;
        (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as usize;
        std::ptr::write_unaligned(libc::CMSG_DATA(c) as *mut RawFd, fd);
        sys::cvt(libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL) as libc::c_int)?;
    }
    Ok(())
}

/// Receive one message; Ok(None) at end-of-file.
pub fn recv(sock: RawFd) -> io::Result<Option<Msg>> {
    let mut buf = vec![0u8; 4096];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr() as *mut libc::c_void,
        iov_len: buf.len(),
    };
    // SAFETY: a pure size computation.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) } as usize;
    let mut cbuf = vec![0u8; space];
    // SAFETY: msghdr points at live buffers of the sizes given; received
    // fds are taken over into OwnedFd exactly once.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr() as *mut libc::c_void;
        msg.msg_controllen = space;
        let n = loop {
            let n = libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC);
            if n >= 0 {
                break n as usize;
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        };
        let mut fd = None;
        let c = libc::CMSG_FIRSTHDR(&msg);
        if !c.is_null() && (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS
        {
            fd = Some(OwnedFd::from_raw_fd(std::ptr::read_unaligned(
                libc::CMSG_DATA(c) as *const RawFd,
            )));
        }
        if n == 0 {
            return Ok(None);
        }
        Ok(Some(match buf[0] {
            b'G' => Msg::Go,
            b'X' => Msg::Exec,
            b'T' => Msg::Tty(fd.ok_or_else(|| io::Error::other("terminal message without an fd"))?),
            b'E' if n >= 5 => Msg::Error {
                code: i32::from_le_bytes([buf[1], buf[2], buf[3], buf[4]]),
                msg: String::from_utf8_lossy(&buf[5..n]).into_owned(),
            },
            _ => return Err(io::Error::other("malformed message on the sync socket")),
        }))
    }
}

/// Whether the other end has closed (poll without waiting).
pub fn peer_gone(sock: RawFd) -> bool {
    let mut p = libc::pollfd {
        fd: sock,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, no wait.
    let r = unsafe { libc::poll(&mut p, 1, 0) };
    r > 0 && p.revents & (libc::POLLHUP | libc::POLLIN | libc::POLLERR) != 0
}

//! --init: a tiny pid 1 that starts the command, forwards every signal it
//! can catch to it, reaps orphans, and exits with the command's status.
//! It runs from a sealed memfd copy of rrun (see `sys::sealed_self`), so
//! /proc/1/exe inside the container never leads to the host's binary
//! (runc CVE-2019-5736), and it is not dumpable.

use std::ffi::{CString, OsString};

use std::os::fd::RawFd;

use super::child;
use crate::sys;

/// The init's main: argv is ["rrun-init", SOCK, PATH, COMMAND...], the
/// last two as bytes.
pub fn main(args: &[OsString]) -> ! {
    // SAFETY: prctl and signal mask calls on ourselves.
    unsafe {
        libc::prctl(libc::PR_SET_DUMPABLE, 0);
    }
    let sock: RawFd = args
        .get(1)
        .and_then(|s| s.to_str()?.parse().ok())
        .unwrap_or(-1);
    let path = args.get(2).cloned().unwrap_or_default();
    let argv: Vec<CString> = args
        .iter()
        .skip(3)
        .filter_map(|a| CString::new(a.as_encoded_bytes()).ok())
        .collect();
    let env: Vec<CString> = std::env::vars_os()
        .filter_map(|(k, v)| {
            let mut b = k.into_encoded_bytes();
            b.push(b'=');
            b.extend(v.into_encoded_bytes());
            CString::new(b).ok()
        })
        .collect();
    // Block everything: blocked signals are delivered to a pid 1 even when
    // it has no handler (an unhandled one would be dropped), and sigwait
    // takes them in turn.
    // SAFETY: signal set manipulation on a zeroed set.
    let all = unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::sigprocmask(libc::SIG_BLOCK, &all, std::ptr::null_mut());
        all
    };
    // SAFETY: single-threaded; the child only execs or exits.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        let e = std::io::Error::last_os_error();
        let why = if e.raw_os_error() == Some(libc::EAGAIN) {
            " (its --pids-limit or --ulimit nproc leaves no room for the command beside the init)"
        } else {
            ""
        };
        let msg = format!("--init: starting the command: {}{why}", sys::errno_text(&e));
        super::proto::send(sock, &super::proto::Msg::Error { code: 125, msg });
        // SAFETY: exiting.
        unsafe { libc::_exit(125) }
    }
    if pid == 0 {
        // SAFETY: restoring the default mask in the child before exec; the
        // socket is made close-on-exec so a successful exec closes it.
        unsafe {
            child::reset_signals();
        }
        let _ = sys::set_cloexec(sock, true);
        child::exec_command(&argv, &env, &path, sock);
    }
    // SAFETY: closing our copy of the socket; the monitor then sees EOF
    // once the command has exec'd.
    unsafe { libc::close(sock) };
    loop {
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waiting for a blocked signal into a valid siginfo.
        let sig = unsafe { libc::sigwaitinfo(&all, &mut info) };
        if sig < 0 {
            continue;
        }
        if sig == libc::SIGCHLD {
            loop {
                let mut status = 0;
                // SAFETY: reaping any child without blocking.
                let r = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
                if r <= 0 {
                    break;
                }
                if r == pid {
                    let code = if libc::WIFEXITED(status) {
                        libc::WEXITSTATUS(status)
                    } else if libc::WIFSIGNALED(status) {
                        128 + libc::WTERMSIG(status)
                    } else {
                        125
                    };
                    // SAFETY: exiting pid 1 ends the namespace's other processes.
                    unsafe { libc::_exit(code) }
                }
            }
        } else {
            // SAFETY: forwarding a signal to our child.
            unsafe { libc::kill(pid, sig) };
        }
    }
}

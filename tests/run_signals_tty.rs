//! Signals to rrun reach the container's main process; -t under a pty
//! harness: output, exit code, TERM, window size, input, terminal restored.

#[macro_use]
mod common;

use common::*;
use std::os::fd::AsRawFd;

both_modes!(
    signals_reach_pid_one,
    init_forwards_sigterm,
    tty_output_and_exit_code,
    tty_window_size_follows,
);

fn signals_reach_pid_one(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let args = cx.sh_args(
        &[],
        "for s in INT HUP QUIT USR1 USR2 WINCH; do trap \"echo got-$s\" $s; done; \
         trap 'echo got-TERM; exit 143' TERM; \
         echo ready; while :; do sleep 0.1; done",
    );
    let mut p = cx.spawn(cx.cmd(&args), Input::Null);
    p.wait_line("ready");
    for (sig, name) in [
        (libc::SIGINT, "INT"),
        (libc::SIGHUP, "HUP"),
        (libc::SIGQUIT, "QUIT"),
        (libc::SIGUSR1, "USR1"),
        (libc::SIGUSR2, "USR2"),
        // Without -t too: the container may size its own output.
        (libc::SIGWINCH, "WINCH"),
    ] {
        p.signal(sig);
        let got = p.wait_line("got-");
        if got != format!("got-{name}") {
            p.fail(&format!(
                "sent SIG{name} to rrun, the container reported {got:?}"
            ));
        }
        if p.exited().is_some() {
            p.fail(&format!("rrun exited after SIG{name}"));
        }
    }
    // A command that traps TERM and exits 143: rrun exits 143.
    p.signal(libc::SIGTERM);
    p.wait_line("got-TERM");
    let out = p.wait();
    out.expect_code(143);
    cx.assert_nothing_left("signals");
}

fn init_forwards_sigterm(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    // With --init the command is not pid 1, so SIGTERM's default action
    // applies: it dies of it, and rrun reports 128+15.
    let args = cx.sh_args(&["--init"], "echo ready; exec sleep 30");
    let mut p = cx.spawn(cx.cmd(&args), Input::Null);
    p.wait_line("ready");
    p.signal(libc::SIGTERM);
    p.wait().expect_code(143);
    cx.assert_nothing_left("--init and SIGTERM");
}

fn termios_of(p: &Proc, fd: i32) -> libc::termios {
    // SAFETY: tcgetattr fills a zeroed termios.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(fd, &mut t) != 0 {
            panic!(
                "tcgetattr on the pty of {}: {}",
                p.what,
                std::io::Error::last_os_error()
            );
        }
        t
    }
}

fn tty_output_and_exit_code(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let args = cx.sh_args(&["-it"], "stty size; tty; echo TERM=$TERM; exit 3");
    let mut p = cx.spawn_pty(cx.cmd(&args), 40, 100);
    let status = p.wait_exit();
    // The caller's terminal is restored.
    let after = termios_of(&p, master_fd(&p));
    let out = p.wait();
    assert_eq!(status.code(), Some(3), "exit code through -t\n{out}");
    let lines = out.lines();
    assert!(
        lines.contains(&"40 100"),
        "stty size inside is the pty's 40x100\n{out}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("/dev/pts/")),
        "tty inside is a /dev/pts path\n{out}"
    );
    assert!(lines.contains(&"TERM=xterm"), "TERM=xterm with -t\n{out}");
    // A new pty starts in cooked mode; rrun makes it raw while it runs.
    let mask = libc::ECHO | libc::ICANON | libc::ISIG;
    assert_eq!(
        after.c_lflag & mask,
        mask,
        "the terminal's ECHO/ICANON/ISIG are restored at exit\n{out}"
    );
    // And when the command dies of a signal, or cannot be found.
    for (opts, script, code) in [
        (&["-it", "--init"][..], "kill -9 $$", 137),
        (&["-it"][..], "exec /nonexistent", 127),
    ] {
        let mut p = cx.spawn_pty(cx.cmd(&cx.sh_args(opts, script)), 40, 100);
        let status = p.wait_exit();
        let after = termios_of(&p, master_fd(&p));
        let out = p.wait();
        assert_eq!(status.code(), Some(code), "{script}\n{out}");
        assert_eq!(
            after.c_lflag & mask,
            mask,
            "the terminal is restored after {script:?}\n{out}"
        );
    }
    cx.assert_nothing_left("-it");
}

fn tty_window_size_follows(mode: Mode) {
    let Some(cx) = Ctx::new(mode) else { return };
    let args = cx.sh_args(
        &["-it"],
        "trap 'stty size' WINCH; trap 'exit 5' INT; stty size; echo ready; \
         while :; do sleep 0.1; done",
    );
    let mut p = cx.spawn_pty(cx.cmd(&args), 40, 100);
    p.wait_line("40 100");
    p.wait_line("ready");
    // The kernel sends SIGWINCH to the pty's foreground process group, rrun.
    p.resize(50, 120);
    p.wait_line("50 120");
    p.resize(24, 80);
    p.wait_line("24 80");
    // ^C typed on the terminal interrupts the container.
    p.write_stdin(b"\x03");
    let status = p.wait_exit();
    let out = p.wait();
    assert_eq!(status.code(), Some(5), "^C reaches the container\n{out}");
}

fn master_fd(p: &Proc) -> i32 {
    p.master().expect("spawned on a pty").as_raw_fd()
}

//! From parsed flags to a validated, typed run plan: everything that can be
//! checked before anything is made is checked here, so that bad input fails
//! with nothing to clean up. Reads only: the rootfs's /etc/passwd and
//! /etc/group (resolved inside the rootfs), the host's resolv.conf and
//! hostname, and the sources of volumes.

use std::fs;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::path::PathBuf;

use crate::cli::RunArgs;
use crate::hosts;
use crate::mount::Kind;
use crate::spec::{self, EnvVar, SpecError, Tmpfs, User, Volume};
use crate::sys;

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("rootfs {0}: {1}")]
    Rootfs(String, String),
    #[error("{0}")]
    Spec(#[from] SpecError),
    #[error("env file {0}: {1}")]
    EnvFile(String, String),
    #[error("invalid volume {0:?}: source {1}: {2}")]
    VolumeSource(String, String, String),
    #[error("invalid network mode {0:?}: {1}")]
    Net(String, &'static str),
    #[error("invalid working directory {0:?}: it must be an absolute path")]
    Workdir(String),
    #[error("{0}")]
    Random(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetMode {
    None,
    Host,
}

impl NetMode {
    pub fn name(self) -> &'static str {
        match self {
            NetMode::None => "none",
            NetMode::Host => "host",
        }
    }
}

/// A validated `rrun run`.
#[derive(Debug, Clone)]
pub struct RunPlan {
    pub id: String,
    /// --name, validated; None: a generated one is picked at creation.
    pub name: Option<String>,
    pub detach: bool,
    pub rm: bool,
    /// The rootfs as the user wrote it (for ps), and resolved.
    pub rootfs_arg: String,
    pub rootfs: PathBuf,
    pub argv: Vec<String>,
    pub env: Vec<EnvVar>,
    pub workdir: String,
    pub user: User,
    pub hostname: String,
    pub interactive: bool,
    pub tty: bool,
    pub init: bool,
    pub net: NetMode,
    pub caps: u64,
    pub user_spec: String,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub volume_specs: Vec<String>,
    pub tmpfs_specs: Vec<String>,
    pub volumes: Vec<(Volume, Kind)>,
    pub read_only: bool,
    pub tmpfs: Vec<Tmpfs>,
    pub hosts_file: String,
    pub hostname_file: String,
    pub resolv_file: String,
}

pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Read a file inside the rootfs without following any symlink out of it.
/// A missing or unreadable file reads as empty.
fn read_in_rootfs(root: &fs::File, path: &str) -> String {
    let Ok(fd) = sys::openat2(
        root.as_raw_fd(),
        path,
        libc::O_RDONLY,
        sys::RESOLVE_IN_ROOT | sys::RESOLVE_NO_MAGICLINKS,
    ) else {
        return String::new();
    };
    let mut s = String::new();
    // A passwd file is small; cap what a hostile rootfs can make us read.
    let _ = fs::File::from(fd).take(4 << 20).read_to_string(&mut s);
    s
}

fn host_resolv() -> hosts::Resolv {
    let main = hosts::parse_resolv(&fs::read_to_string("/etc/resolv.conf").unwrap_or_default());
    if hosts::is_resolved_stub(&main)
        && let Ok(up) = fs::read_to_string("/run/systemd/resolve/resolv.conf")
    {
        return hosts::parse_resolv(&up);
    }
    main
}

pub fn build(a: &RunArgs) -> Result<RunPlan, PlanError> {
    // The rootfs.
    let rootfs = fs::canonicalize(&a.rootfs)
        .map_err(|e| PlanError::Rootfs(a.rootfs.clone(), sys::errno_text(&e)))?;
    let root = fs::File::open(&rootfs)
        .map_err(|e| PlanError::Rootfs(a.rootfs.clone(), sys::errno_text(&e)))?;
    if !root.metadata().map(|m| m.is_dir()).unwrap_or(false) {
        return Err(PlanError::Rootfs(
            a.rootfs.clone(),
            "not a directory".into(),
        ));
    }

    let name = a.name.as_deref().map(spec::validate_name).transpose()?;
    let id =
        sys::random_hex64().map_err(|e| PlanError::Random(format!("reading random bytes: {e}")))?;

    let net = match a.net.as_deref() {
        None | Some("none") => NetMode::None,
        Some("host") => NetMode::Host,
        Some("bridge") | Some("default") => {
            return Err(PlanError::Net(
                a.net.clone().unwrap_or_default(),
                "bridge networking is not available in this version of rrun; use --net=none or --net=host",
            ));
        }
        Some(n) if n.starts_with("container:") => {
            return Err(PlanError::Net(
                n.to_string(),
                "sharing another container's network is not available in this version of rrun",
            ));
        }
        Some(n) => return Err(PlanError::Net(n.to_string(), "use none or host")),
    };

    let host_hostname = || {
        fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    let hostname = match &a.hostname {
        Some(h) => {
            spec::validate_hostname(h)?;
            h.clone()
        }
        // As Docker: with the host's network, the host's name.
        None if net == NetMode::Host => host_hostname(),
        None => id[..12].to_string(),
    };

    // Environment: Docker's defaults, then -e and --env-file in order.
    let lookup = |k: &str| std::env::var(k).ok();
    let mut env = vec![
        EnvVar {
            key: "PATH".into(),
            value: DEFAULT_PATH.into(),
        },
        EnvVar {
            key: "HOSTNAME".into(),
            value: hostname.clone(),
        },
    ];
    if a.tty {
        env.push(EnvVar {
            key: "TERM".into(),
            value: "xterm".into(),
        });
    }
    for f in &a.env_file {
        let text = fs::read_to_string(f)
            .map_err(|e| PlanError::EnvFile(f.clone(), sys::errno_text(&e)))?;
        let vars = spec::parse_env_file(f, &text, &lookup)?;
        spec::merge_env(&mut env, vars);
    }
    for e in &a.env {
        if let Some(v) = spec::parse_env(e, &lookup)? {
            spec::merge_env(&mut env, [v]);
        }
    }

    // The user, from the rootfs's own files.
    let user_spec = a.user.clone().unwrap_or_else(|| "0".into());
    let passwd = spec::parse_passwd(&read_in_rootfs(&root, "/etc/passwd"));
    let group = spec::parse_group(&read_in_rootfs(&root, "/etc/group"));
    let user = spec::resolve_user(&user_spec, &passwd, &group)?;
    if !env.iter().any(|e| e.key == "HOME") {
        env.push(EnvVar {
            key: "HOME".into(),
            value: user.home.clone(),
        });
    }

    let workdir = match &a.workdir {
        Some(w) if !w.starts_with('/') => return Err(PlanError::Workdir(w.clone())),
        Some(w) => spec::container_path(w).or_else(|_| {
            if w.split('/').all(|c| c.is_empty() || c == ".") {
                Ok("/".to_string())
            } else {
                Err(PlanError::Workdir(w.clone()))
            }
        })?,
        None => "/".into(),
    };

    let mut volumes = Vec::new();
    for raw in &a.volume {
        let v = spec::parse_volume(raw)?;
        let md = fs::metadata(&v.src).map_err(|e| {
            PlanError::VolumeSource(raw.clone(), v.src.clone(), sys::errno_text(&e))
        })?;
        let kind = if md.is_dir() { Kind::Dir } else { Kind::File };
        volumes.push((v, kind));
    }
    let tmpfs = a
        .tmpfs
        .iter()
        .map(|t| spec::parse_tmpfs(t))
        .collect::<Result<Vec<_>, _>>()?;
    let caps = spec::effective_caps(&a.cap_add, &a.cap_drop)?;

    let argv = if a.command.is_empty() {
        vec!["/bin/sh".to_string()]
    } else {
        a.command.clone()
    };

    let host_net = net == NetMode::Host;
    let hosts_file = if host_net {
        fs::read_to_string("/etc/hosts").unwrap_or_else(|_| hosts::hosts_file(&hostname, None, &[]))
    } else {
        hosts::hosts_file(&hostname, None, &[])
    };
    let resolv_file = hosts::resolv_file(&host_resolv(), host_net, &[], &[]);

    Ok(RunPlan {
        id,
        name,
        detach: a.detach,
        rm: a.rm,
        rootfs_arg: a.rootfs.clone(),
        rootfs,
        user_spec: a.user.clone().unwrap_or_default(),
        cap_add: a.cap_add.clone(),
        cap_drop: a.cap_drop.clone(),
        volume_specs: a.volume.clone(),
        tmpfs_specs: a.tmpfs.clone(),
        argv,
        env,
        workdir,
        user,
        hostname_file: hosts::hostname_file(&hostname),
        hostname,
        interactive: a.interactive,
        tty: a.tty,
        init: a.init,
        net,
        caps,
        volumes,
        read_only: a.read_only,
        tmpfs,
        hosts_file,
        resolv_file,
    })
}

//! `rrun generate kube` and `rrun kube play|down`: the records read, the
//! manifest written or read, and the containers started or removed. What a
//! manifest says and how it maps to runs is kube.rs's; this module only
//! reads state, prints, and starts each container with this same binary's
//! `run -d` (so that a pod's container is started exactly as the user's
//! own `run` would start it, its errors in run's words).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::net::IpAddr;
use std::process::{Command, Stdio};

use crate::cli;
use crate::kube::{self, KubeError, ServiceDef};
use crate::net::networks;
use crate::state::{State, StateError};

#[derive(Debug, thiserror::Error)]
pub enum KubeCmdError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Kube(#[from] KubeError),
    #[error("--image {0:?}: use ROOTFS=IMAGE")]
    ImageFlag(String),
    #[error("--rootfs {0:?}: use IMAGE=DIR")]
    RootfsFlag(String),
    #[error("--type {0:?}: use pod or deployment")]
    Type(String),
    #[error("reading {0}: {1}")]
    Read(String, #[source] io::Error),
    #[error("writing {0}: {1}")]
    Write(String, #[source] io::Error),
    #[error("starting rrun {0}: {1}")]
    Spawn(&'static str, #[source] io::Error),
    #[error(
        "the container name {0} is in use: remove it first (rrun kube down FILE, or rrun rm -f {0})"
    )]
    InUse(String),
    /// The run printed its own error; the play was undone.
    #[error(
        "pod {pod}: container {name} did not start (exit {code}); nothing of this play is left"
    )]
    Run {
        pod: String,
        name: String,
        code: i32,
    },
    #[error(
        "--network {0}: kube play needs a user-defined network, where the pods' and Services' names resolve"
    )]
    NotUserNetwork(String),
    #[error("creating network {0} failed (exit {1})")]
    Network(String, i32),
}

impl KubeCmdError {
    pub fn exit_code(&self) -> i32 {
        match self {
            KubeCmdError::State(e) => e.exit_code(),
            _ => 125,
        }
    }
}

/// The label of a network kube play made (kube down removes only such).
const KUBE_NETWORK_LABEL: &str = "io.rrun.kube";

fn self_exe() -> Command {
    Command::new("/proc/self/exe")
}

/// `rrun generate kube [--service] [--type pod|deployment] [--image ROOTFS=IMAGE]
/// [-f FILE] CONTAINER…`.
pub fn generate(a: &cli::GenerateArgs) -> Result<i32, KubeCmdError> {
    let mut opts = kube::GenerateOptions {
        service: a.service,
        ..Default::default()
    };
    match a.kind.as_deref() {
        None | Some("pod") => {}
        Some("deployment") => opts.deployment = true,
        Some(o) => return Err(KubeCmdError::Type(o.to_string())),
    }
    for i in &a.image {
        let (r, img) = crate::bytes::split_once(i, b'=')
            .filter(|(r, img)| !r.is_empty() && !img.is_empty())
            .ok_or_else(|| KubeCmdError::ImageFlag(i.to_string_lossy().into()))?;
        let img = img
            .to_str()
            .ok_or_else(|| KubeCmdError::ImageFlag(i.to_string_lossy().into()))?;
        opts.images.push((r.to_os_string(), img.to_string()));
        // The rootfs's absolute path names it too.
        if let Ok(abs) = std::fs::canonicalize(r) {
            opts.images.push((abs.into_os_string(), img.to_string()));
        }
    }
    let st = State::open()?;
    let mut ctrs = Vec::new();
    for key in &a.containers {
        let r = st.find(key)?;
        if !ctrs
            .iter()
            .any(|c: &crate::state::Config| c.id == r.config.id)
        {
            ctrs.push(r.config);
        }
    }
    let g = kube::generate(&ctrs, &opts)?;
    for n in &g.notes {
        eprintln!("rrun: generate kube: {n}");
    }
    let yaml = kube::to_yaml(&g.docs);
    match &a.file {
        Some(f) => crate::state::write_atomic(std::path::Path::new(f), yaml.as_bytes(), 0o644)
            .map_err(|e| KubeCmdError::Write(f.to_string_lossy().into(), e))?,
        None => {
            let mut out = io::stdout().lock();
            out.write_all(yaml.as_bytes())
                .and_then(|_| out.flush())
                .map_err(|e| KubeCmdError::Write("standard output".into(), e))?;
        }
    }
    Ok(0)
}

fn read_manifest(file: &OsString) -> Result<(String, kube::Manifest), KubeCmdError> {
    let shown = file.to_string_lossy().to_string();
    let mut text = String::new();
    let r = if file == "-" {
        io::stdin().lock().read_to_string(&mut text)
    } else {
        std::fs::File::open(file).and_then(|mut f| f.read_to_string(&mut text))
    };
    r.map_err(|e| KubeCmdError::Read(shown.clone(), e))?;
    let m = kube::parse_manifest(&shown, &text)?;
    for n in &m.notes {
        eprintln!("rrun: kube play: {n}");
    }
    Ok((shown, m))
}

/// What a play made so far, undone on drop unless it finished.
struct Undo {
    names: Vec<String>,
    network: Option<String>,
    done: bool,
}

impl Drop for Undo {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        if !self.names.is_empty() {
            let _ = self_exe()
                .arg("rm")
                .arg("-f")
                .args(&self.names)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        if let Some(n) = &self.network {
            let _ = self_exe()
                .args(["network", "rm", n])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// The address a container has on a network, from its record.
fn address_on(st: &State, name: &str, network: &str) -> Option<IpAddr> {
    let r = st.find(name).ok()?;
    r.attachments
        .iter()
        .find(|a| a.network == network)
        .map(|a| IpAddr::V4(a.ip))
        .or_else(|| r.state.net.as_ref().and_then(|n| n.ip))
}

/// `rrun kube play [--network NAME] [--rootfs IMAGE=DIR…] FILE`.
pub fn play(a: &cli::KubePlayArgs) -> Result<i32, KubeCmdError> {
    let mut o = kube::PlayOptions {
        network: a
            .network
            .clone()
            .unwrap_or_else(|| kube::DEFAULT_NETWORK.into()),
        ..Default::default()
    };
    if matches!(o.network.as_str(), "bridge" | "host" | "none" | "default")
        || o.network.starts_with("container:")
    {
        return Err(KubeCmdError::NotUserNetwork(o.network.clone()));
    }
    for r in &a.rootfs {
        let (img, dir) = crate::bytes::split_once(r, b'=')
            .filter(|(i, d)| !i.is_empty() && !d.is_empty())
            .ok_or_else(|| KubeCmdError::RootfsFlag(r.to_string_lossy().into()))?;
        let img = img
            .to_str()
            .ok_or_else(|| KubeCmdError::RootfsFlag(r.to_string_lossy().into()))?;
        o.rootfs.push((img.to_string(), dir.to_os_string()));
    }
    let (_, m) = read_manifest(&a.file)?;
    let (runs, notes) = kube::plan(&m, &o)?;
    for n in &notes {
        eprintln!("rrun: kube play: {n}");
    }
    let st = State::open()?;
    for p in &runs {
        for c in &p.ctrs {
            if st.find(&c.name).is_ok_and(|r| r.config.name == c.name) {
                return Err(KubeCmdError::InUse(c.name.clone()));
            }
        }
    }
    let mut undo = Undo {
        names: Vec::new(),
        network: None,
        done: false,
    };
    let on_network = format!("--net={}", o.network);
    let needs_network = runs.iter().any(|p| {
        p.ctrs
            .first()
            .is_some_and(|c| c.flags.iter().any(|f| *f == *on_network))
    });
    if needs_network && networks::find(&st, &o.network).is_err() {
        let s = self_exe()
            .args([
                "network",
                "create",
                "--label",
                "io.rrun.kube=true",
                &o.network,
            ])
            .stdout(Stdio::null())
            .status()
            .map_err(|e| KubeCmdError::Spawn("network create", e))?;
        if !s.success() {
            return Err(KubeCmdError::Network(
                o.network.clone(),
                s.code().unwrap_or(125),
            ));
        }
        undo.network = Some(o.network.clone());
    }
    // The Services whose pods run, with the address their name resolves to.
    let mut up: Vec<(&ServiceDef, IpAddr)> = Vec::new();
    let mut out = String::new();
    for p in &runs {
        out.push_str(&format!("Pod:\n{}\nContainers:\n", p.pod));
        for c in &p.ctrs {
            let mut cmd = self_exe();
            cmd.args(["run", "-d"]).args(&c.flags);
            let mut injected = Vec::new();
            if p.service_links {
                let mut seen = BTreeMap::new();
                for (s, ip) in &up {
                    for (k, v) in kube::service_env(s, *ip) {
                        if !c.env_names.contains(&k) && seen.insert(k.clone(), ()).is_none() {
                            cmd.arg(format!("--env={k}={v}"));
                            injected.push(k);
                        }
                    }
                }
            }
            if !injected.is_empty() {
                cmd.arg(format!(
                    "--label={}={}",
                    kube::INJECTED_LABEL,
                    injected.join(",")
                ));
            }
            // After `--`, a rootfs from a manifest is never taken for a flag.
            cmd.arg("--").arg(&c.rootfs).args(&c.command);
            let res = cmd
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .output()
                .map_err(|e| KubeCmdError::Spawn("run", e))?;
            if !res.status.success() {
                return Err(KubeCmdError::Run {
                    pod: p.pod.clone(),
                    name: c.name.clone(),
                    code: res.status.code().unwrap_or(125),
                });
            }
            undo.names.push(c.name.clone());
            out.push_str(String::from_utf8_lossy(&res.stdout).trim());
            out.push('\n');
        }
        if let Some(owner) = p.ctrs.first()
            && let Some(ip) = address_on(&st, &owner.name, &o.network)
        {
            for name in &p.services {
                if let Some(s) = m.services.iter().find(|s| &s.name == name) {
                    up.push((s, ip));
                }
            }
        }
    }
    undo.done = true;
    print!("{out}");
    Ok(0)
}

/// `rrun kube down [--network NAME] FILE`: removes the containers the
/// manifest's pods ran (only those kube play started), then the network if
/// kube play made it and nothing else uses it.
pub fn down(a: &cli::KubeDownArgs) -> Result<i32, KubeCmdError> {
    let (_, m) = read_manifest(&a.file)?;
    let st = State::open()?;
    let mut pods: Vec<String> = Vec::new();
    let mut names = Vec::new();
    for (pod, name) in kube::container_names(&m) {
        let Ok(r) = st.find(&name) else { continue };
        if r.config.name != name {
            continue;
        }
        if r.config.labels.get(kube::POD_LABEL) != Some(&pod) {
            eprintln!(
                "rrun: kube down: {name} was not started by kube play for pod {pod}: left as it is"
            );
            continue;
        }
        names.push(name);
        if !pods.contains(&pod) {
            pods.push(pod);
        }
    }
    if !names.is_empty() {
        let s = self_exe()
            .arg("rm")
            .arg("-f")
            .args(&names)
            .stdout(Stdio::null())
            .status()
            .map_err(|e| KubeCmdError::Spawn("rm", e))?;
        if !s.success() {
            return Ok(s.code().unwrap_or(1));
        }
    }
    let network = a
        .network
        .clone()
        .unwrap_or_else(|| kube::DEFAULT_NETWORK.into());
    let made_by_play = networks::find(&st, &network).is_ok_and(|d| {
        d.labels
            .get(KUBE_NETWORK_LABEL)
            .is_some_and(|v| v == "true")
    });
    if made_by_play {
        // In use by another play's pods: it stays (network rm says so).
        let _ = self_exe()
            .args(["network", "rm", &network])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    let mut out = String::from("Pods stopped:\n");
    for p in &pods {
        out.push_str(p);
        out.push('\n');
    }
    out.push_str("Pods removed:\n");
    for p in &pods {
        out.push_str(p);
        out.push('\n');
    }
    print!("{out}");
    Ok(0)
}

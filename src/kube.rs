//! Kubernetes manifests, both ways: `generate kube` turns containers' records
//! into Pods (or Deployments) and Services, and `kube play`/`kube down` read a
//! manifest into the containers that run it. The objects are k8s-openapi's
//! types for one API version (v1.33, the oldest the crate supports, so every
//! field written exists on every cluster it supports); they are converted
//! only to and from `serde_json::Value`, and YAML only ever sees a `Value`,
//! which keeps the types' code in the binary once (measured: about half of
//! what serialising the types to YAML directly costs).
//!
//! Pure: records and text in, manifests, notes and run plans out. The
//! commands that read state and start containers are in kubecmd.rs.
//!
//! A pod is a network namespace: each container that owns one becomes a pod,
//! and a container started `--net=container:X` joins X's pod. With
//! `--service`, each link alias and network alias becomes a Service selecting
//! the pod of the container it names, so that the peer finds it by the same
//! name through cluster DNS, and Kubernetes gives the peer the Docker-link
//! style variables of that Service.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, ContainerPort, EmptyDirVolumeSource, EnvVar, HostAlias,
    HostPathVolumeSource, Pod, PodDNSConfig, PodDNSConfigOption, PodSecurityContext, PodSpec,
    PodTemplateSpec, ResourceRequirements, SecurityContext, Service, ServicePort, ServiceSpec,
    Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;

use crate::ports::{Exposed, Proto};
use crate::restart::Policy;
use crate::state::Config;

/// The annotation (per container, `KEY/CONTAINER`) that records the rootfs
/// directory a container ran on, so that a generated manifest plays back.
pub const ROOTFS_ANNOTATION: &str = "io.rrun.rootfs";
/// A restart policy Kubernetes cannot say (on-failure's count,
/// unless-stopped), kept for the round trip.
pub const RESTART_ANNOTATION: &str = "io.rrun.restart";
/// Labels kube play puts on what it starts: the pod, and the variables it
/// injected for Services (which generate kube leaves out again).
pub const POD_LABEL: &str = "io.rrun.kube.pod";
pub const INJECTED_LABEL: &str = "io.rrun.kube.injected";
/// The network kube play starts pods on unless told another.
pub const DEFAULT_NETWORK: &str = "rrun-kube";

#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    #[error("{ctr}: {what} is not valid UTF-8, which a manifest cannot hold")]
    NotUtf8 { ctr: String, what: &'static str },
    #[error("{a} and {b} would both be pod {pod}: rename one (rrun rename)")]
    PodClash { a: String, b: String, pod: String },
    #[error("{a} and {b} would both be container {name} of pod {pod}: rename one (rrun rename)")]
    CtrClash {
        a: String,
        b: String,
        pod: String,
        name: String,
    },
    #[error("{file}: document {doc}: {source}")]
    Yaml {
        file: String,
        doc: usize,
        #[source]
        source: yaml_serde::Error,
    },
    #[error("{file}: document {doc} ({kind}): {source}")]
    Type {
        file: String,
        doc: usize,
        kind: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{file}: {what}")]
    Invalid { file: String, what: String },
    #[error(
        "{pod}: container {ctr} runs image {image:?}, and no rootfs is known for it: pass --rootfs {image}=DIR"
    )]
    NoRootfs {
        pod: String,
        ctr: String,
        image: String,
    },
    #[error("converting {kind}: {source}")]
    Convert {
        kind: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

/// A DNS-1123 label made of `s`: lower case, `[a-z0-9-]`, no dash at either
/// end, at most 63 characters; `fallback` if nothing is left.
pub fn dns_label(s: &str, fallback: &str) -> String {
    let mut out = crate::spec::label_chars(s);
    out.truncate(63);
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() {
        fallback.to_string()
    } else {
        out
    }
}

/// A DNS-1035 label (a Service's name): a DNS-1123 label that starts with a
/// letter.
pub fn dns1035_label(s: &str) -> String {
    let l = dns_label(s, "svc");
    if l.starts_with(|c: char| c.is_ascii_lowercase()) {
        l
    } else {
        dns_label(&format!("x{l}"), "svc")
    }
}

/// A byte count as a Kubernetes quantity: the largest binary suffix that
/// divides it exactly (`64Mi`), else bytes.
pub fn bytes_quantity(n: i64) -> String {
    for (suffix, shift) in [("Ti", 40), ("Gi", 30), ("Mi", 20), ("Ki", 10)] {
        if n != 0 && n % (1i64 << shift) == 0 {
            return format!("{}{suffix}", n >> shift);
        }
    }
    n.to_string()
}

/// CPUs ×10⁹ (Docker's NanoCpus) as a quantity: whole CPUs, else millicores
/// (rounded up: Kubernetes has nothing finer).
pub fn cpu_quantity(nano: i64) -> String {
    if nano % 1_000_000_000 == 0 {
        return (nano / 1_000_000_000).to_string();
    }
    format!("{}m", (nano + 999_999) / 1_000_000)
}

/// A quantity (`64Mi`, `1G`, `1.5`, `500m`, `1e3`) as a number ×10⁹ —
/// nanounits, so that `500m` CPUs and `0.5` agree — rounded up, as
/// Kubernetes rounds. None for anything else, or a value past i64.
pub fn parse_quantity_nano(q: &str) -> Option<i128> {
    let q = q.trim();
    let split = q
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(q.len());
    let (num, suffix) = q.split_at(split);
    let (mul_num, mul_den): (i128, i128) = match suffix {
        "" => (1, 1),
        "n" => (1, 1_000_000_000),
        "u" => (1, 1_000_000),
        "m" => (1, 1000),
        "k" => (1000, 1),
        "M" => (1_000_000, 1),
        "G" => (1_000_000_000, 1),
        "T" => (1_000_000_000_000, 1),
        "P" => (1_000_000_000_000_000, 1),
        "E" => (1_000_000_000_000_000_000, 1),
        "Ki" => (1 << 10, 1),
        "Mi" => (1 << 20, 1),
        "Gi" => (1 << 30, 1),
        "Ti" => (1 << 40, 1),
        "Pi" => (1 << 50, 1),
        "Ei" => (1 << 60, 1),
        s if s.starts_with(['e', 'E']) => {
            let e: u32 = s[1..].parse().ok().filter(|e| *e <= 18)?;
            (10i128.pow(e), 1)
        }
        _ => return None,
    };
    let num = num.strip_prefix('+').unwrap_or(num);
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    if int.is_empty() && frac.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || int.len() > 19
        || frac.len() > 18
    {
        return None;
    }
    let scale = 10i128.pow(frac.len() as u32);
    let mantissa: i128 = format!("{int}{frac}").parse().ok()?;
    // value ×10⁹ = mantissa / scale × mul_num / mul_den × 10⁹
    let num = mantissa.checked_mul(mul_num)?.checked_mul(1_000_000_000)?;
    let den = scale * mul_den;
    let v = (num + den - 1) / den;
    (v / 1_000_000_000 <= i64::MAX as i128).then_some(v)
}

/// What `generate kube` is asked for.
#[derive(Debug, Default, Clone)]
pub struct GenerateOptions {
    pub service: bool,
    pub deployment: bool,
    /// ROOTFS=IMAGE: what Kubernetes pulls for a rootfs, as given or as
    /// its absolute path.
    pub images: Vec<(OsString, String)>,
}

/// A manifest's documents, and what Kubernetes cannot say about the
/// containers (one line each, for stderr).
#[derive(Debug, Default)]
pub struct Generated {
    pub docs: Vec<Value>,
    pub notes: Vec<String>,
}

/// The image a rootfs directory is named by when nothing else says:
/// `localhost/<its directory's name>:latest`, the name `image save`
/// gives it.
pub fn default_image(rootfs_path: &OsStr) -> String {
    let base = std::path::Path::new(rootfs_path)
        .file_name()
        .map(|b| b.to_string_lossy().to_string())
        .unwrap_or_default();
    crate::image::oci::default_reference(&base).full()
}

fn utf8(ctr: &str, what: &'static str, s: &OsStr) -> Result<String, KubeError> {
    s.to_str().map(str::to_string).ok_or(KubeError::NotUtf8 {
        ctr: ctr.to_string(),
        what,
    })
}

fn proto_name(p: Proto) -> String {
    match p {
        Proto::Tcp => "TCP".into(),
        Proto::Udp => "UDP".into(),
    }
}

/// The container a `--net=container:X` names among `ctrs`, by name or id
/// (or a prefix of the id).
fn find_ctr<'a>(ctrs: &'a [Config], key: &str) -> Option<&'a Config> {
    ctrs.iter()
        .find(|c| c.name == key || c.id == key)
        .or_else(|| {
            let mut m = ctrs
                .iter()
                .filter(|c| !key.is_empty() && c.id.starts_with(key));
            let first = m.next();
            if m.next().is_some() { None } else { first }
        })
}

/// Which pod each container is in: the index of the container that owns
/// its network namespace.
fn owners(ctrs: &[Config]) -> Vec<usize> {
    (0..ctrs.len())
        .map(|i| {
            let mut cur = i;
            // A chain of container: modes ends at its owner (bounded, so a
            // cycle of records cannot loop).
            for _ in 0..ctrs.len() {
                let Some(target) = ctrs[cur].net.strip_prefix("container:") else {
                    break;
                };
                match find_ctr(ctrs, target).and_then(|t| ctrs.iter().position(|c| c.id == t.id)) {
                    Some(j) => cur = j,
                    None => break,
                }
            }
            cur
        })
        .collect()
}

/// Kubernetes names a container inside its pod; a container kube play
/// named `POD-NAME` is `NAME` again.
fn ctr_name(pod: &str, c: &Config, owner: bool) -> String {
    if owner {
        return dns_label(&c.name, "ctr");
    }
    // The pod's prefix goes before the name is cut to 63, or a long
    // `POD-NAME` would be cut back to the pod's own name.
    let full = crate::spec::label_chars(&c.name);
    match full.strip_prefix(&format!("{pod}-")) {
        Some(rest) => dns_label(rest, "ctr"),
        None => dns_label(&full, "ctr"),
    }
}

/// `generate kube`'s manifest for `ctrs` (records in the order given).
pub fn generate(ctrs: &[Config], opts: &GenerateOptions) -> Result<Generated, KubeError> {
    let mut g = Generated::default();
    let own = owners(ctrs);
    // Pod names, by owner index, in the order owners come.
    let mut pods: Vec<(usize, String)> = Vec::new();
    for (i, &o) in own.iter().enumerate() {
        if o == i {
            let name = dns_label(&ctrs[i].name, "pod");
            if let Some((j, _)) = pods.iter().find(|(_, n)| *n == name) {
                return Err(KubeError::PodClash {
                    a: ctrs[*j].name.clone(),
                    b: ctrs[i].name.clone(),
                    pod: name,
                });
            }
            pods.push((i, name));
        }
    }
    for (i, c) in ctrs.iter().enumerate() {
        if own[i] == i
            && let Some(t) = c.net.strip_prefix("container:")
        {
            g.notes.push(format!(
                "{}: shares the network of {t}, which is not among the containers given: it is a pod of its own",
                c.name
            ));
        }
    }
    let pod_of = |i: usize| -> &str {
        pods.iter()
            .find(|(o, _)| *o == own[i])
            .map(|(_, n)| n.as_str())
            .unwrap_or_default()
    };

    let mut services: Vec<(String, Value)> = Vec::new();
    if opts.service {
        for (i, c) in ctrs.iter().enumerate() {
            for l in &c.links {
                let Some(j) = ctrs.iter().position(|t| t.id == l.target_id) else {
                    g.notes.push(format!(
                        "{}: link to {} as {}: {} is not among the containers given, so no Service is made for it",
                        c.name, l.target_name, l.alias, l.target_name
                    ));
                    continue;
                };
                add_service(&mut g, &mut services, &l.alias, ctrs, &own, j, pod_of(j))?;
            }
            for a in &c.network_aliases {
                add_service(&mut g, &mut services, a, ctrs, &own, i, pod_of(i))?;
            }
        }
    } else {
        for c in ctrs {
            for l in &c.links {
                g.notes.push(format!(
                    "{}: link {}:{}: its variables hold this machine's addresses and are not written; --service makes a Service {} that Kubernetes gives such variables for",
                    c.name,
                    l.target_name,
                    l.alias,
                    dns1035_label(&l.alias)
                ));
            }
        }
    }

    let mut pod_docs = Vec::new();
    for (o, pod) in &pods {
        // The owner first: kube play gives the first container the pod's
        // network namespace.
        let members: Vec<usize> = std::iter::once(*o)
            .chain((0..ctrs.len()).filter(|&i| own[i] == *o && i != *o))
            .collect();
        let (spec, annotations) = pod_spec(&mut g, ctrs, *o, &members, pod, opts)?;
        let labels = BTreeMap::from([("app".to_string(), pod.clone())]);
        let meta = ObjectMeta {
            name: Some(pod.clone()),
            labels: Some(labels.clone()),
            annotations: (!annotations.is_empty()).then_some(annotations),
            ..Default::default()
        };
        let v = if opts.deployment {
            let mut spec = spec;
            if spec
                .restart_policy
                .as_deref()
                .is_some_and(|p| p != "Always")
            {
                g.notes.push(format!(
                    "{pod}: a Deployment's pods restart always: restart policy {} is not written",
                    spec.restart_policy.as_deref().unwrap_or_default()
                ));
            }
            spec.restart_policy = Some("Always".into());
            let d = Deployment {
                metadata: ObjectMeta {
                    name: Some(pod.clone()),
                    labels: Some(labels.clone()),
                    ..Default::default()
                },
                spec: Some(DeploymentSpec {
                    replicas: Some(1),
                    selector: LabelSelector {
                        match_labels: Some(labels),
                        ..Default::default()
                    },
                    template: PodTemplateSpec {
                        metadata: Some(meta),
                        spec: Some(spec),
                    },
                    ..Default::default()
                }),
                ..Default::default()
            };
            to_value("Deployment", &d)?
        } else {
            let p = Pod {
                metadata: meta,
                spec: Some(spec),
                ..Default::default()
            };
            to_value("Pod", &p)?
        };
        pod_docs.push(v);
    }
    // Services first: Kubernetes gives a pod the variables of the Services
    // that exist when it starts.
    g.docs.extend(services.into_iter().map(|(_, v)| v));
    g.docs.extend(pod_docs);
    Ok(g)
}

fn to_value<T: serde::Serialize>(kind: &'static str, t: &T) -> Result<Value, KubeError> {
    serde_json::to_value(t).map_err(|source| KubeError::Convert { kind, source })
}

fn add_service(
    g: &mut Generated,
    services: &mut Vec<(String, Value)>,
    alias: &str,
    ctrs: &[Config],
    own: &[usize],
    target: usize,
    pod: &str,
) -> Result<(), KubeError> {
    let name = dns1035_label(alias);
    if name != alias {
        g.notes.push(format!(
            "{}: the name {alias} is not a DNS-1035 label: its Service is {name}",
            ctrs[target].name
        ));
    }
    let selector = BTreeMap::from([("app".to_string(), pod.to_string())]);
    if let Some((_, v)) = services.iter().find(|(n, _)| *n == name) {
        if v["spec"]["selector"]["app"] != pod {
            g.notes.push(format!(
                "{}: Service {name} already selects pod {}: not made again",
                ctrs[target].name, v["spec"]["selector"]["app"]
            ));
        }
        return Ok(());
    }
    // The ports every container of the pod exposes: they share an address.
    let mut ports: Vec<Exposed> = Vec::new();
    for (i, c) in ctrs.iter().enumerate() {
        if own[i] == own[target] {
            for e in exposed_ports(c) {
                if !ports.contains(&e) {
                    ports.push(e);
                }
            }
        }
    }
    let spec = if ports.is_empty() {
        g.notes.push(format!(
            "{}: exposes no port: Service {name} is headless (its name resolves to the pod, without link variables)",
            ctrs[target].name
        ));
        ServiceSpec {
            cluster_ip: Some("None".into()),
            selector: Some(selector),
            ..Default::default()
        }
    } else {
        ServiceSpec {
            ports: Some(
                ports
                    .iter()
                    .map(|e| ServicePort {
                        name: Some(format!("{}-{}", e.proto, e.port)),
                        port: i32::from(e.port),
                        protocol: Some(proto_name(e.proto)),
                        target_port: Some(IntOrString::Int(i32::from(e.port))),
                        ..Default::default()
                    })
                    .collect(),
            ),
            selector: Some(selector),
            ..Default::default()
        }
    };
    let s = Service {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            ..Default::default()
        },
        spec: Some(spec),
        ..Default::default()
    };
    services.push((name, to_value("Service", &s)?));
    Ok(())
}

/// A container's exposed ports: --expose and the container side of -p,
/// sorted as Docker lists them.
fn exposed_ports(c: &Config) -> Vec<Exposed> {
    let mut v: Vec<Exposed> = c.exposed.clone();
    for p in &c.publish {
        for r in crate::ports::parse_requested(p).unwrap_or_default() {
            let e = Exposed {
                port: r.container_port,
                proto: r.proto,
            };
            if !v.contains(&e) {
                v.push(e);
            }
        }
    }
    v.sort_by_key(|e| (e.port, e.proto == Proto::Udp));
    v
}

type Annotations = BTreeMap<String, String>;

fn pod_spec(
    g: &mut Generated,
    ctrs: &[Config],
    owner: usize,
    members: &[usize],
    pod: &str,
    opts: &GenerateOptions,
) -> Result<(PodSpec, Annotations), KubeError> {
    let oc = &ctrs[owner];
    let mut ann = Annotations::new();
    let mut spec = PodSpec::default();
    let mut volumes: Vec<Volume> = Vec::new();
    let mut containers = Vec::new();
    let mut groups: BTreeSet<i64> = BTreeSet::new();
    let mut named: Vec<(String, usize)> = Vec::new();
    for &i in members {
        let c = &ctrs[i];
        let name = ctr_name(pod, c, i == owner);
        // Kubernetes refuses a pod with two containers of one name, and
        // their annotations would be one.
        if let Some((_, j)) = named.iter().find(|(n, _)| *n == name) {
            return Err(KubeError::CtrClash {
                a: ctrs[*j].name.clone(),
                b: c.name.clone(),
                pod: pod.to_string(),
                name,
            });
        }
        named.push((name.clone(), i));
        let k = container(g, c, &name, opts, &mut volumes, &mut ann)?;
        for a in &c.group_add {
            match a.parse::<u32>() {
                Ok(n) => {
                    groups.insert(i64::from(n));
                }
                Err(_) => g.notes.push(format!(
                    "{}: --group-add {a}: Kubernetes takes group ids: not written",
                    c.name
                )),
            }
        }
        if i != owner && c.restart != oc.restart {
            g.notes.push(format!(
                "{}: a pod has one restart policy: {}'s ({}) is written",
                c.name,
                oc.name,
                oc.restart.name()
            ));
        }
        containers.push(k);
    }
    spec.containers = containers;
    if !volumes.is_empty() {
        spec.volumes = Some(volumes);
    }
    if !groups.is_empty() {
        spec.security_context = Some(PodSecurityContext {
            supplemental_groups: Some(groups.into_iter().collect()),
            ..Default::default()
        });
    }
    let (policy, kept) = match oc.restart {
        Policy::No => ("Never", None),
        Policy::Always => ("Always", None),
        Policy::UnlessStopped => ("Always", Some("unless-stopped".to_string())),
        Policy::OnFailure(0) => ("OnFailure", None),
        Policy::OnFailure(n) => ("OnFailure", Some(format!("on-failure:{n}"))),
    };
    spec.restart_policy = Some(policy.into());
    if let Some(k) = kept {
        g.notes.push(format!(
            "{}: restart policy {k} has no Kubernetes equivalent: written as {policy} (and kept in an annotation for kube play)",
            oc.name
        ));
        ann.insert(
            format!("{RESTART_ANNOTATION}/{}", ctr_name(pod, oc, true)),
            k,
        );
    }
    if !oc.hostname.is_empty() && !oc.id.starts_with(&oc.hostname) {
        spec.hostname = Some(dns_label(&oc.hostname, "host"));
        if spec.hostname.as_deref() != Some(oc.hostname.as_str()) {
            g.notes.push(format!(
                "{}: hostname {} is not a DNS-1123 label: written as {}",
                oc.name,
                oc.hostname,
                spec.hostname.as_deref().unwrap_or_default()
            ));
        }
    }
    if !oc.domainname.is_empty() {
        g.notes.push(format!(
            "{}: --domainname has no Kubernetes equivalent: not written",
            oc.name
        ));
    }
    if !oc.dns.is_empty() || !oc.dns_search.is_empty() || !oc.dns_options.is_empty() {
        let nonempty = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
        spec.dns_config = Some(PodDNSConfig {
            nameservers: nonempty(&oc.dns),
            searches: nonempty(&oc.dns_search),
            options: (!oc.dns_options.is_empty()).then(|| {
                oc.dns_options
                    .iter()
                    .map(|o| {
                        let (n, v) = o.split_once(':').unwrap_or((o, ""));
                        PodDNSConfigOption {
                            name: Some(n.to_string()),
                            value: (!v.is_empty()).then(|| v.to_string()),
                        }
                    })
                    .collect()
            }),
        });
    }
    if !oc.add_hosts.is_empty() {
        let mut by_ip: Vec<HostAlias> = Vec::new();
        for h in &oc.add_hosts {
            let Some((name, ip)) = h.split_once(':') else {
                continue;
            };
            match by_ip.iter_mut().find(|a| a.ip == ip) {
                Some(a) => a.hostnames.get_or_insert_default().push(name.to_string()),
                None => by_ip.push(HostAlias {
                    ip: ip.to_string(),
                    hostnames: Some(vec![name.to_string()]),
                }),
            }
        }
        spec.host_aliases = Some(by_ip);
    }
    match oc.net.as_str() {
        "host" => spec.host_network = Some(true),
        "none" => g.notes.push(format!(
            "{}: --net=none has no Kubernetes equivalent: the pod gets the cluster's network",
            oc.name
        )),
        _ => {}
    }
    Ok((spec, ann))
}

fn container(
    g: &mut Generated,
    c: &Config,
    name: &str,
    opts: &GenerateOptions,
    volumes: &mut Vec<Volume>,
    ann: &mut Annotations,
) -> Result<Container, KubeError> {
    let who = c.name.as_str();
    let mut k = Container {
        name: name.to_string(),
        ..Default::default()
    };
    let image = opts
        .images
        .iter()
        .find(|(r, _)| *r == c.rootfs || *r == c.rootfs_path)
        .map(|(_, i)| i.clone())
        .unwrap_or_else(|| default_image(&c.rootfs_path));
    k.image = Some(image);
    ann.insert(
        format!("{ROOTFS_ANNOTATION}/{name}"),
        utf8(who, "the rootfs path", &c.rootfs_path)?,
    );
    let mut command = vec![utf8(who, "the command", &c.path)?];
    for a in &c.args {
        command.push(utf8(who, "an argument", a)?);
    }
    if !c.path.is_empty() {
        k.command = Some(command);
    }
    let injected: BTreeSet<&str> = c
        .labels
        .get(INJECTED_LABEL)
        .map(|s| s.split(',').collect())
        .unwrap_or_default();
    let mut env = Vec::new();
    for e in &c.user_env {
        let e = utf8(who, "an environment variable", e)?;
        let (n, v) = e.split_once('=').unwrap_or((&e, ""));
        if injected.contains(n) {
            continue;
        }
        env.push(EnvVar {
            name: n.to_string(),
            value: Some(v.to_string()),
            ..Default::default()
        });
    }
    if !env.is_empty() {
        k.env = Some(env);
    }
    let mut ports = Vec::new();
    let mut published: Vec<Exposed> = Vec::new();
    for p in &c.publish {
        for r in crate::ports::parse_requested(p).unwrap_or_default() {
            let e = Exposed {
                port: r.container_port,
                proto: r.proto,
            };
            published.push(e);
            if r.host_port.is_none() {
                g.notes.push(format!(
                    "{who}: -p {p}: a random host port has no Kubernetes equivalent: written as containerPort {e} alone"
                ));
            }
            ports.push(ContainerPort {
                container_port: i32::from(r.container_port),
                host_port: r.host_port.map(i32::from),
                host_ip: r.host_ip.map(|ip| ip.to_string()),
                protocol: Some(proto_name(r.proto)),
                ..Default::default()
            });
        }
    }
    for e in exposed_ports(c) {
        if !published.contains(&e) {
            ports.push(ContainerPort {
                container_port: i32::from(e.port),
                protocol: Some(proto_name(e.proto)),
                ..Default::default()
            });
        }
    }
    if c.publish_all {
        g.notes.push(format!(
            "{who}: -P has no Kubernetes equivalent: its exposed ports are written as containerPorts"
        ));
    }
    if !ports.is_empty() {
        k.ports = Some(ports);
    }
    if !c.workdir.is_empty() && c.workdir.as_bytes() != b"/" {
        k.working_dir = Some(utf8(who, "the working directory", &c.workdir)?);
    }
    let mut sc = SecurityContext::default();
    if !c.user.is_empty() {
        sc.run_as_user = Some(i64::from(c.uid));
        sc.run_as_group = Some(i64::from(c.gid));
    }
    let caps = |v: &[String]| -> Option<Vec<String>> {
        (!v.is_empty()).then(|| {
            v.iter()
                .map(|c| {
                    let c = c.to_ascii_uppercase();
                    c.strip_prefix("CAP_").map(str::to_string).unwrap_or(c)
                })
                .collect()
        })
    };
    if !c.cap_add.is_empty() || !c.cap_drop.is_empty() {
        sc.capabilities = Some(Capabilities {
            add: caps(&c.cap_add),
            drop: caps(&c.cap_drop),
        });
    }
    if c.privileged {
        sc.privileged = Some(true);
    }
    if c.read_only {
        sc.read_only_root_filesystem = Some(true);
    }
    if sc != SecurityContext::default() {
        k.security_context = Some(sc);
    }
    if c.tty {
        k.tty = Some(true);
    }
    if c.interactive {
        k.stdin = Some(true);
    }
    let mut mounts = Vec::new();
    for b in &c.binds {
        let Ok(v) = crate::spec::parse_volume(b) else {
            continue;
        };
        let path = utf8(who, "a volume's host path", v.src.as_os_str())?;
        let vname = volume_name(name, "host", volumes.len());
        volumes.push(Volume {
            name: vname.clone(),
            host_path: Some(HostPathVolumeSource { path, type_: None }),
            ..Default::default()
        });
        mounts.push(VolumeMount {
            name: vname,
            mount_path: utf8(who, "a volume's path", v.dst.as_os_str())?,
            read_only: v.readonly.then_some(true),
            ..Default::default()
        });
    }
    for t in &c.tmpfs {
        let Ok(t) = crate::spec::parse_tmpfs(t) else {
            continue;
        };
        let mut size = None;
        for o in t.data.split(',').filter(|o| !o.is_empty()) {
            match o.strip_prefix("size=") {
                Some(s) => match tmpfs_size(s) {
                    Some(b) => size = Some(Quantity(bytes_quantity(b))),
                    None => g.notes.push(format!(
                        "{who}: --tmpfs size={s} has no Kubernetes equivalent: not written"
                    )),
                },
                None => g.notes.push(format!(
                    "{who}: --tmpfs option {o} has no Kubernetes equivalent: not written"
                )),
            }
        }
        let vname = volume_name(name, "tmpfs", volumes.len());
        volumes.push(Volume {
            name: vname.clone(),
            empty_dir: Some(EmptyDirVolumeSource {
                medium: Some("Memory".into()),
                size_limit: size,
            }),
            ..Default::default()
        });
        mounts.push(VolumeMount {
            name: vname,
            mount_path: utf8(who, "a tmpfs path", t.dst.as_os_str())?,
            read_only: t.readonly.then_some(true),
            ..Default::default()
        });
    }
    if !mounts.is_empty() {
        k.volume_mounts = Some(mounts);
    }
    let mut limits = BTreeMap::new();
    if c.limits.memory > 0 {
        limits.insert(
            "memory".to_string(),
            Quantity(bytes_quantity(c.limits.memory)),
        );
    }
    if c.limits.nano_cpus > 0 {
        limits.insert(
            "cpu".to_string(),
            Quantity(cpu_quantity(c.limits.nano_cpus)),
        );
    }
    if !limits.is_empty() {
        k.resources = Some(ResourceRequirements {
            limits: Some(limits),
            ..Default::default()
        });
    }
    let mut unsaid = Vec::new();
    if c.limits.swap_given {
        unsaid.push("--memory-swap");
    }
    if c.limits.pids.is_some() {
        unsaid.push("--pids-limit");
    }
    if !c.devices.is_empty() {
        unsaid.push("--device");
    }
    if !c.ulimits.is_empty() {
        unsaid.push("--ulimit");
    }
    if c.init {
        unsaid.push("--init");
    }
    if c.auto_remove {
        unsaid.push("--rm");
    }
    if !c.seccomp && !c.privileged {
        unsaid.push("--security-opt seccomp=unconfined");
    }
    if c.labels.keys().any(|k| !k.starts_with("io.rrun.kube.")) {
        unsaid.push("--label");
    }
    for u in unsaid {
        g.notes.push(format!(
            "{who}: {u} has no equivalent in a Kubernetes container: not written"
        ));
    }
    Ok(k)
}

/// A volume's name: unique in its pod by its index, which a long container
/// name does not push past the 63 characters of a label.
fn volume_name(ctr: &str, kind: &str, i: usize) -> String {
    let short = dns_label(&ctr[..ctr.len().min(40)], "ctr");
    format!("{short}-{kind}-{i}")
}

/// tmpfs's size= (digits with k, m or g) in bytes; None for a percentage.
fn tmpfs_size(s: &str) -> Option<i64> {
    let (digits, shift) = match s.as_bytes().last() {
        Some(b'k' | b'K') => (&s[..s.len() - 1], 10),
        Some(b'm' | b'M') => (&s[..s.len() - 1], 20),
        Some(b'g' | b'G') => (&s[..s.len() - 1], 30),
        _ => (s, 0),
    };
    digits.parse::<i64>().ok()?.checked_mul(1 << shift)
}

/// The manifest as YAML: its documents, each after `---`.
///
/// Written here rather than by the YAML crate's serializer: a manifest is
/// maps, lists and scalars, in block style, and the crate's emitter is
/// tens of KB of the binary (issue 18 allows this whole feature 1.5 MB).
pub fn to_yaml(docs: &[Value]) -> String {
    let mut out = String::from("# Kubernetes YAML made by rrun generate kube (API v1.33)\n");
    for d in docs {
        out.push_str("---\n");
        match d {
            Value::Object(m) if !m.is_empty() => yaml_map(m, 0, &mut out),
            Value::Array(a) if !a.is_empty() => yaml_seq(a, 0, &mut out),
            v => {
                out.push_str(&yaml_scalar(v));
                out.push('\n');
            }
        }
    }
    out
}

fn indent(n: usize, out: &mut String) {
    out.extend(std::iter::repeat_n(' ', n));
}

/// A map's entries at column `col`, the first one where the cursor is.
fn yaml_map(m: &serde_json::Map<String, Value>, col: usize, out: &mut String) {
    for (i, (k, v)) in m.iter().enumerate() {
        if i > 0 {
            indent(col, out);
        }
        out.push_str(&yaml_str(k));
        out.push(':');
        match v {
            Value::Object(c) if !c.is_empty() => {
                out.push('\n');
                indent(col + 2, out);
                yaml_map(c, col + 2, out);
            }
            // A list under a key starts at the key's column, as kubectl
            // writes it.
            Value::Array(a) if !a.is_empty() => {
                out.push('\n');
                indent(col, out);
                yaml_seq(a, col, out);
            }
            v => {
                out.push(' ');
                out.push_str(&yaml_scalar(v));
                out.push('\n');
            }
        }
    }
}

/// A list's items at column `col`, the first one where the cursor is.
fn yaml_seq(a: &[Value], col: usize, out: &mut String) {
    for (i, v) in a.iter().enumerate() {
        if i > 0 {
            indent(col, out);
        }
        out.push_str("- ");
        match v {
            Value::Object(c) if !c.is_empty() => yaml_map(c, col + 2, out),
            Value::Array(c) if !c.is_empty() => yaml_seq(c, col + 2, out),
            v => {
                out.push_str(&yaml_scalar(v));
                out.push('\n');
            }
        }
    }
}

fn yaml_scalar(v: &Value) -> String {
    match v {
        Value::String(s) => yaml_str(s),
        Value::Object(_) => "{}".into(),
        Value::Array(_) => "[]".into(),
        // null, booleans and numbers: JSON's spelling is YAML's.
        v => v.to_string(),
    }
}

/// A string as a YAML scalar: plain when no YAML reader could take it for
/// anything else, else quoted (single quotes where that is enough, JSON's
/// double quotes, which YAML reads too, for control characters).
pub fn yaml_str(s: &str) -> String {
    let special = |c: char| c.is_control() || c == '\u{feff}' || c == '\u{2028}' || c == '\u{2029}';
    if s.chars().any(special) {
        let mut q = String::from('"');
        for c in s.chars() {
            match c {
                '"' => q.push_str("\\\""),
                '\\' => q.push_str("\\\\"),
                c if special(c) => q.push_str(&format!("\\u{:04x}", u32::from(c))),
                c => q.push(c),
            }
        }
        q.push('"');
        return q;
    }
    let lower = s.to_ascii_lowercase();
    let plain = !s.is_empty()
        && !s.starts_with(|c: char| {
            c.is_ascii_digit() || c.is_whitespace() || "-+.?:,[]{}#&*!|>'\"%@`~=<".contains(c)
        })
        && !s.ends_with(|c: char| c.is_whitespace() || c == ':')
        && !s.contains(": ")
        && !s.contains(" #")
        && !s.contains(['\'', '"', '\\'])
        && !matches!(
            lower.as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n" | "null"
        );
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "''"))
    }
}

/// A Service as kube play uses it: the pods it selects get its name.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceDef {
    pub name: String,
    pub selector: BTreeMap<String, String>,
    /// Port, protocol (upper case), name.
    pub ports: Vec<(u16, String, Option<String>)>,
    /// clusterIP: None: a name without variables.
    pub headless: bool,
}

/// A Pod, or the template of a Deployment, as kube play starts it.
#[derive(Debug, Clone)]
pub struct PodDef {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub spec: PodSpec,
    /// A Deployment's pods restart always.
    pub deployment: bool,
}

/// What a manifest holds that kube play acts on, and a line for each field
/// or document it ignores.
#[derive(Debug, Default)]
pub struct Manifest {
    /// The file as shown in errors.
    pub file: String,
    pub pods: Vec<PodDef>,
    pub services: Vec<ServiceDef>,
    pub notes: Vec<String>,
}

/// The fields kube play acts on, by path: `[]` any element of a list, `*`
/// any key of a map.
const POD_FIELDS: &[&str] = &[
    "containers[].name",
    "containers[].image",
    "containers[].imagePullPolicy",
    "containers[].command[]",
    "containers[].args[]",
    "containers[].env[].name",
    "containers[].env[].value",
    "containers[].ports[].containerPort",
    "containers[].ports[].hostPort",
    "containers[].ports[].hostIP",
    "containers[].ports[].protocol",
    "containers[].ports[].name",
    "containers[].workingDir",
    "containers[].securityContext.runAsUser",
    "containers[].securityContext.runAsGroup",
    "containers[].securityContext.privileged",
    "containers[].securityContext.readOnlyRootFilesystem",
    "containers[].securityContext.capabilities.add[]",
    "containers[].securityContext.capabilities.drop[]",
    "containers[].volumeMounts[].name",
    "containers[].volumeMounts[].mountPath",
    "containers[].volumeMounts[].readOnly",
    "containers[].resources.limits.memory",
    "containers[].resources.limits.cpu",
    "containers[].tty",
    "containers[].stdin",
    "restartPolicy",
    "hostname",
    "hostNetwork",
    "enableServiceLinks",
    "volumes[].name",
    "volumes[].hostPath.path",
    "volumes[].hostPath.type",
    "volumes[].emptyDir.medium",
    "volumes[].emptyDir.sizeLimit",
    "dnsConfig.nameservers[]",
    "dnsConfig.searches[]",
    "dnsConfig.options[].name",
    "dnsConfig.options[].value",
    "hostAliases[].ip",
    "hostAliases[].hostnames[]",
    "securityContext.supplementalGroups[]",
];

const META_FIELDS: &[&str] = &["name", "labels.*", "annotations.*"];

const SERVICE_FIELDS: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata.name",
    "metadata.labels.*",
    "metadata.annotations.*",
    "spec.selector.*",
    "spec.ports[].name",
    "spec.ports[].port",
    "spec.ports[].targetPort",
    "spec.ports[].protocol",
    "spec.clusterIP",
    "spec.type",
];

fn allowed(kind: &str, path: &[String]) -> bool {
    let mut pats: Vec<String> = Vec::new();
    match kind {
        "Service" => pats.extend(SERVICE_FIELDS.iter().map(|s| s.to_string())),
        "Pod" => {
            pats.extend(["apiVersion".into(), "kind".into()]);
            pats.extend(META_FIELDS.iter().map(|f| format!("metadata.{f}")));
            pats.extend(POD_FIELDS.iter().map(|f| format!("spec.{f}")));
        }
        _ => {
            pats.extend(["apiVersion".into(), "kind".into()]);
            pats.extend(META_FIELDS.iter().map(|f| format!("metadata.{f}")));
            pats.extend(["spec.replicas".into(), "spec.selector.matchLabels.*".into()]);
            pats.extend(
                META_FIELDS
                    .iter()
                    .map(|f| format!("spec.template.metadata.{f}")),
            );
            pats.extend(POD_FIELDS.iter().map(|f| format!("spec.template.spec.{f}")));
        }
    }
    pats.iter().any(|p| {
        let p: Vec<&str> = p.split('.').collect();
        // An empty map or list stands for itself: allowed where something
        // below it is.
        p.len() >= path.len()
            && path
                .iter()
                .zip(&p)
                .all(|(seg, pat)| *pat == "*" || seg == pat)
    })
}

/// Every leaf of `v` (and every empty map) that `kind` does not act
/// on, as a path.
fn ignored_fields(
    kind: &str,
    v: &Value,
    path: &mut Vec<String>,
    shown: &str,
    out: &mut Vec<String>,
) {
    match v {
        Value::Null => {}
        Value::Object(m) if !m.is_empty() => {
            for (k, v) in m {
                path.push(k.clone());
                let shown = if shown.is_empty() {
                    k.clone()
                } else {
                    format!("{shown}.{k}")
                };
                ignored_fields(kind, v, path, &shown, out);
                path.pop();
            }
        }
        // An empty list says nothing (as null), so nothing is ignored.
        Value::Array(a) => {
            let Some(last) = path.pop() else {
                return;
            };
            path.push(format!("{last}[]"));
            for (i, v) in a.iter().enumerate() {
                ignored_fields(kind, v, path, &format!("{shown}[{i}]"), out);
            }
            path.pop();
            path.push(last);
        }
        _ => {
            if !allowed(kind, path) {
                out.push(shown.to_string());
            }
        }
    }
}

/// A YAML document as a `Value`, refused when a map holds a key twice:
/// Kubernetes refuses it, and taking the last (as `Value` does) would run
/// what a reader of the file does not see (`command: [sleep]` before
/// `command: [rm]`).
struct Unique(Value);

impl<'de> serde::Deserialize<'de> for Unique {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UniqueVisitor).map(Unique)
    }
}

struct UniqueVisitor;

impl<'de> serde::de::Visitor<'de> for UniqueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a YAML value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom(format!("{v} is not a finite number")))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(UniqueVisitor)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Value, A::Error> {
        let mut v = Vec::new();
        while let Some(Unique(e)) = a.next_element()? {
            v.push(e);
        }
        Ok(Value::Array(v))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Value, A::Error> {
        use serde::de::Error;
        let mut m = serde_json::Map::new();
        while let Some(k) = a.next_key::<String>()? {
            if m.contains_key(&k) {
                return Err(A::Error::custom(format!("the key {k:?} is given twice")));
            }
            let Unique(v) = a.next_value()?;
            m.insert(k, v);
        }
        Ok(Value::Object(m))
    }
}

/// The parser refuses nesting past 128 levels, but only after scanning
/// them, in time that grows with the square of the depth (100,000 `[`:
/// 30 s here): deeper brackets are refused before it runs.
const MAX_FLOW_DEPTH: usize = 256;

/// How deep `[` and `{` nest in `text`, quotes and comments aside (an
/// over-estimate elsewhere, as in a block scalar, only makes it larger).
fn flow_depth(text: &str) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    let mut quote: Option<char> = None;
    let mut comment = false;
    let mut prev = '\n';
    for c in text.chars() {
        match (quote, c) {
            _ if comment => comment = c != '\n',
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '#') if prev.is_whitespace() => comment = true,
            (None, '[' | '{') => {
                depth += 1;
                max = max.max(depth);
            }
            (None, ']' | '}') => depth = depth.saturating_sub(1),
            _ => {}
        }
        prev = c;
    }
    max
}

/// Read a manifest: each YAML document, checked against Kubernetes' types
/// (a wrong apiVersion or a value of the wrong type is an error), and a
/// note for each field and document kube play does not act on.
pub fn parse_manifest(file: &str, text: &str) -> Result<Manifest, KubeError> {
    use serde::Deserialize;
    if flow_depth(text) > MAX_FLOW_DEPTH {
        return Err(KubeError::Invalid {
            file: file.to_string(),
            what: format!("brackets nest deeper than {MAX_FLOW_DEPTH}"),
        });
    }
    let mut m = Manifest {
        file: file.to_string(),
        ..Default::default()
    };
    for (n, doc) in yaml_serde::Deserializer::from_str(text).enumerate() {
        let n = n + 1;
        let v = Unique::deserialize(doc)
            .map_err(|source| KubeError::Yaml {
                file: file.to_string(),
                doc: n,
                source,
            })?
            .0;
        if v.is_null() {
            continue;
        }
        let kind = v["kind"].as_str().unwrap_or_default().to_string();
        let typed_err = |source| KubeError::Type {
            file: file.to_string(),
            doc: n,
            kind: kind.clone(),
            source,
        };
        let mut ignored = Vec::new();
        match kind.as_str() {
            "Pod" => {
                let p = Pod::deserialize(&v).map_err(typed_err)?;
                ignored_fields("Pod", &v, &mut Vec::new(), "", &mut ignored);
                let name = p.metadata.name.clone().unwrap_or_default();
                m.pods.push(PodDef {
                    name,
                    labels: p.metadata.labels.clone().unwrap_or_default(),
                    annotations: p.metadata.annotations.clone().unwrap_or_default(),
                    spec: p.spec.unwrap_or_default(),
                    deployment: false,
                });
            }
            "Deployment" => {
                let d = Deployment::deserialize(&v).map_err(typed_err)?;
                ignored_fields("Deployment", &v, &mut Vec::new(), "", &mut ignored);
                let name = d.metadata.name.clone().unwrap_or_default();
                let spec = d.spec.unwrap_or_default();
                match spec.replicas {
                    Some(0) => {
                        m.notes.push(format!(
                            "{file}: Deployment {name} asks for no replicas: not started"
                        ));
                        continue;
                    }
                    Some(r) if r > 1 => m.notes.push(format!(
                        "{file}: Deployment {name}: one replica runs here, not {r}"
                    )),
                    _ => {}
                }
                let meta = spec.template.metadata.unwrap_or_default();
                let mut labels = meta.labels.unwrap_or_default();
                if labels.is_empty() {
                    labels = spec.selector.match_labels.unwrap_or_default();
                }
                m.pods.push(PodDef {
                    name,
                    labels,
                    annotations: meta.annotations.unwrap_or_default(),
                    spec: spec.template.spec.unwrap_or_default(),
                    deployment: true,
                });
            }
            "Service" => {
                let s = Service::deserialize(&v).map_err(typed_err)?;
                ignored_fields("Service", &v, &mut Vec::new(), "", &mut ignored);
                let name = s.metadata.name.clone().unwrap_or_default();
                let spec = s.spec.unwrap_or_default();
                if let Some(t) = spec.type_.as_deref().filter(|t| *t != "ClusterIP") {
                    m.notes.push(format!(
                        "{file}: Service {name}: type {t} is served as ClusterIP: its name resolves on the pods' network"
                    ));
                }
                let mut ports = Vec::new();
                for p in spec.ports.unwrap_or_default() {
                    let Ok(port) = u16::try_from(p.port) else {
                        return Err(KubeError::Invalid {
                            file: file.to_string(),
                            what: format!("Service {name}: port {} is out of range", p.port),
                        });
                    };
                    // Both end up in the names of the variables a pod gets.
                    let proto = p.protocol.clone().unwrap_or_else(|| "TCP".into());
                    if !matches!(proto.as_str(), "TCP" | "UDP" | "SCTP") {
                        return Err(KubeError::Invalid {
                            file: file.to_string(),
                            what: format!(
                                "Service {name}: protocol {proto:?} is not TCP, UDP or SCTP"
                            ),
                        });
                    }
                    if let Some(n) = p.name.as_deref().filter(|n| dns_label(n, "") != *n) {
                        return Err(KubeError::Invalid {
                            file: file.to_string(),
                            what: format!(
                                "Service {name}: port name {n:?} is not a DNS-1123 label"
                            ),
                        });
                    }
                    if let Some(t) = &p.target_port
                        && *t != IntOrString::Int(p.port)
                    {
                        m.notes.push(format!(
                            "{file}: Service {name}: port {port} reaches the pod's port {port}: a targetPort other than the port needs a proxy rrun does not run"
                        ));
                    }
                    ports.push((port, proto, p.name));
                }
                m.services.push(ServiceDef {
                    name,
                    selector: spec.selector.unwrap_or_default(),
                    ports,
                    headless: spec.cluster_ip.as_deref() == Some("None"),
                });
            }
            other => {
                m.notes.push(format!(
                    "{file}: document {n}: kind {other:?} is not one kube play runs (Pod, Deployment, Service): ignored"
                ));
                continue;
            }
        }
        for f in ignored {
            m.notes
                .push(format!("{file}: {kind}: ignoring {f} (not supported)"));
        }
    }
    for p in &m.pods {
        if p.name.is_empty() || dns_label(&p.name, "") != p.name {
            return Err(KubeError::Invalid {
                file: file.to_string(),
                what: format!("pod name {:?} is not a DNS-1123 label", p.name),
            });
        }
        if p.spec.containers.is_empty() {
            return Err(KubeError::Invalid {
                file: file.to_string(),
                what: format!("pod {} has no containers", p.name),
            });
        }
    }
    for s in &m.services {
        if s.name.is_empty() || dns1035_label(&s.name) != s.name {
            return Err(KubeError::Invalid {
                file: file.to_string(),
                what: format!("Service name {:?} is not a DNS-1035 label", s.name),
            });
        }
    }
    Ok(m)
}

/// Whether a Service selects a pod: a selector that is not empty and that
/// the pod's labels all match.
pub fn selects(s: &ServiceDef, p: &PodDef) -> bool {
    !s.selector.is_empty() && s.selector.iter().all(|(k, v)| p.labels.get(k) == Some(v))
}

/// The rrun name of a pod's container: the pod's own name for a container
/// named as its pod, else `POD-CONTAINER`.
pub fn run_name(pod: &str, ctr: &str) -> String {
    if pod == ctr {
        pod.to_string()
    } else {
        format!("{pod}-{ctr}")
    }
}

/// How kube play runs one container: `rrun run -d FLAGS ROOTFS COMMAND…`.
#[derive(Debug, Clone, PartialEq)]
pub struct CtrRun {
    pub name: String,
    pub flags: Vec<OsString>,
    pub rootfs: OsString,
    pub command: Vec<OsString>,
    /// The variables the manifest sets (a Service's do not replace them).
    pub env_names: BTreeSet<String>,
}

/// A pod: its first container owns the network namespace, the others
/// join it.
#[derive(Debug, Clone, PartialEq)]
pub struct PodRun {
    pub pod: String,
    pub ctrs: Vec<CtrRun>,
    /// The Services that select it.
    pub services: Vec<String>,
    /// Kubernetes' service variables go into its containers.
    pub service_links: bool,
}

#[derive(Debug, Clone, Default)]
pub struct PlayOptions {
    pub network: String,
    /// IMAGE=DIR.
    pub rootfs: Vec<(String, OsString)>,
}

/// An image reference in one spelling, so that `web`, `web:latest` and
/// `docker.io/library/web:latest` are one.
fn norm_image(i: &str) -> String {
    let i = i
        .strip_prefix("docker.io/library/")
        .or_else(|| i.strip_prefix("docker.io/"))
        .unwrap_or(i);
    let last = i.rsplit('/').next().unwrap_or(i);
    if last.contains(':') || last.contains('@') {
        i.to_string()
    } else {
        format!("{i}:latest")
    }
}

/// The runs a manifest makes: pods that Services select first (a pod gets
/// the variables of the Services that exist when it starts), each in file
/// order otherwise.
pub fn plan(m: &Manifest, o: &PlayOptions) -> Result<(Vec<PodRun>, Vec<String>), KubeError> {
    let mut notes = Vec::new();
    let mut runs = Vec::new();
    let mut seen = BTreeSet::new();
    let (first, rest): (Vec<&PodDef>, Vec<&PodDef>) = m
        .pods
        .iter()
        .partition(|p| m.services.iter().any(|s| selects(s, p)));
    for p in first.into_iter().chain(rest) {
        if !seen.insert(p.name.clone()) {
            return Err(KubeError::Invalid {
                file: m.file.clone(),
                what: format!("two pods are named {}", p.name),
            });
        }
        runs.push(pod_run(p, m, o, &mut notes)?);
    }
    let mut names: BTreeMap<&str, &str> = BTreeMap::new();
    for r in &runs {
        for c in &r.ctrs {
            if c.name.len() < 2 {
                return Err(KubeError::Invalid {
                    file: m.file.clone(),
                    what: format!(
                        "pod {}: its container would be named {}, and rrun's names take two characters or more",
                        r.pod, c.name
                    ),
                });
            }
            if let Some(other) = names.insert(&c.name, &r.pod) {
                return Err(KubeError::Invalid {
                    file: m.file.clone(),
                    what: format!(
                        "pods {other} and {} would both run a container named {}",
                        r.pod, c.name
                    ),
                });
            }
        }
    }
    for s in &m.services {
        if !m.pods.iter().any(|p| selects(s, p)) {
            notes.push(format!(
                "Service {}: selects none of the pods here: its name resolves to nothing",
                s.name
            ));
        }
        for p in m.pods.iter().filter(|p| selects(s, p)) {
            if p.spec.host_network == Some(true) {
                notes.push(format!(
                    "Service {}: pod {} uses the host's network, not the pods' network: the name does not resolve to it",
                    s.name, p.name
                ));
            }
        }
    }
    Ok((runs, notes))
}

fn os(s: impl AsRef<str>) -> OsString {
    OsString::from(s.as_ref())
}

/// `--flag=value`, one word: a value from a manifest that starts with a
/// dash stays a value.
fn kv(flag: &str, v: impl AsRef<str>) -> OsString {
    OsString::from(format!("{flag}={}", v.as_ref()))
}

fn pod_run(
    p: &PodDef,
    m: &Manifest,
    o: &PlayOptions,
    notes: &mut Vec<String>,
) -> Result<PodRun, KubeError> {
    let spec = &p.spec;
    let invalid = |what: String| KubeError::Invalid {
        file: m.file.clone(),
        what: format!("pod {}: {what}", p.name),
    };
    let services: Vec<String> = m
        .services
        .iter()
        .filter(|s| selects(s, p))
        .map(|s| s.name.clone())
        .collect();
    let host_net = spec.host_network == Some(true);
    let owner = run_name(&p.name, &spec.containers[0].name);
    let mut names = BTreeSet::new();
    let mut ctrs = Vec::new();
    for (i, c) in spec.containers.iter().enumerate() {
        if dns_label(&c.name, "") != c.name {
            return Err(invalid(format!(
                "container name {:?} is not a DNS-1123 label",
                c.name
            )));
        }
        if !names.insert(c.name.clone()) {
            return Err(invalid(format!("two containers are named {}", c.name)));
        }
        let name = run_name(&p.name, &c.name);
        let mut f: Vec<OsString> = vec![
            kv("--name", &name),
            kv("--label", format!("{POD_LABEL}={}", p.name)),
        ];
        if i == 0 {
            if host_net {
                f.push(kv("--net", "host"));
            } else {
                f.push(kv("--net", &o.network));
                for s in &services {
                    f.push(kv("--network-alias", s));
                }
            }
            pod_flags(p, &mut f);
            // Every port of the pod is the owner's: they share its network.
            for c in &spec.containers {
                for port in c.ports.iter().flatten() {
                    let proto = port
                        .protocol
                        .as_deref()
                        .unwrap_or("TCP")
                        .to_ascii_lowercase();
                    let cp = if port.container_port == 0 {
                        port.host_port.unwrap_or(0)
                    } else {
                        port.container_port
                    };
                    if !(1..=65535).contains(&cp) {
                        return Err(invalid(format!("container port {cp} is out of range")));
                    }
                    match port.host_port.filter(|&h| h != 0) {
                        Some(h) => {
                            if !(1..=65535).contains(&h) {
                                return Err(invalid(format!("host port {h} is out of range")));
                            }
                            let ip = match port.host_ip.as_deref() {
                                Some(ip) if ip.contains(':') => format!("[{ip}]:"),
                                Some(ip) if !ip.is_empty() => format!("{ip}:"),
                                _ => String::new(),
                            };
                            f.push(kv("--publish", format!("{ip}{h}:{cp}/{proto}")));
                        }
                        None if !host_net => f.push(kv("--expose", format!("{cp}/{proto}"))),
                        None => {}
                    }
                }
            }
        } else {
            f.push(kv("--net", format!("container:{owner}")));
        }
        let mut env_names = BTreeSet::new();
        ctr_flags(&m.file, p, c, &mut f, &mut env_names, notes)?;
        let rootfs = rootfs_of(p, c, o)?;
        let mut command: Vec<OsString> = Vec::new();
        command.extend(c.command.iter().flatten().map(os));
        if c.command.is_none() && c.args.is_some() {
            notes.push(format!(
                "pod {}: container {}: args without command: the args are the command (a rootfs has no entrypoint)",
                p.name, c.name
            ));
        }
        command.extend(c.args.iter().flatten().map(os));
        ctrs.push(CtrRun {
            name,
            flags: f,
            rootfs,
            command,
            env_names,
        });
    }
    Ok(PodRun {
        pod: p.name.clone(),
        ctrs,
        services,
        service_links: spec.enable_service_links != Some(false),
    })
}

/// The pod-wide settings, which belong to the container that owns the
/// pod's namespaces.
fn pod_flags(p: &PodDef, f: &mut Vec<OsString>) {
    let spec = &p.spec;
    if let Some(h) = &spec.hostname {
        f.push(kv("--hostname", h));
    }
    if let Some(d) = &spec.dns_config {
        for n in d.nameservers.iter().flatten() {
            f.push(kv("--dns", n));
        }
        for s in d.searches.iter().flatten() {
            f.push(kv("--dns-search", s));
        }
        for opt in d.options.iter().flatten() {
            let name = opt.name.clone().unwrap_or_default();
            let o = match &opt.value {
                Some(v) => format!("{name}:{v}"),
                None => name,
            };
            f.push(kv("--dns-option", o));
        }
    }
    for a in spec.host_aliases.iter().flatten() {
        for h in a.hostnames.iter().flatten() {
            f.push(kv("--add-host", format!("{h}:{}", a.ip)));
        }
    }
}

fn ctr_flags(
    file: &str,
    p: &PodDef,
    c: &Container,
    f: &mut Vec<OsString>,
    env_names: &mut BTreeSet<String>,
    notes: &mut Vec<String>,
) -> Result<(), KubeError> {
    let spec = &p.spec;
    let invalid = |what: String| KubeError::Invalid {
        file: file.to_string(),
        what: format!("pod {}: container {}: {what}", p.name, c.name),
    };
    for e in c.env.iter().flatten() {
        if e.name.is_empty() || e.name.contains(['=', '\0']) {
            return Err(invalid(format!(
                "environment variable name {:?} is not valid",
                e.name
            )));
        }
        env_names.insert(e.name.clone());
        f.push(kv(
            "--env",
            format!("{}={}", e.name, e.value.clone().unwrap_or_default()),
        ));
    }
    if let Some(w) = &c.working_dir {
        f.push(kv("--workdir", w));
    }
    if let Some(sc) = &c.security_context {
        match (sc.run_as_user, sc.run_as_group) {
            (Some(u), Some(g)) => f.push(kv("--user", format!("{u}:{g}"))),
            (Some(u), None) => f.push(kv("--user", u.to_string())),
            (None, Some(_)) => notes.push(format!(
                "pod {}: container {}: runAsGroup without runAsUser is not supported: ignored",
                p.name, c.name
            )),
            (None, None) => {}
        }
        if let Some(caps) = &sc.capabilities {
            for a in caps.add.iter().flatten() {
                f.push(kv("--cap-add", a));
            }
            for d in caps.drop.iter().flatten() {
                f.push(kv("--cap-drop", d));
            }
        }
        if sc.privileged == Some(true) {
            f.push(os("--privileged"));
        }
        if sc.read_only_root_filesystem == Some(true) {
            f.push(os("--read-only"));
        }
    }
    for g in spec
        .security_context
        .iter()
        .flat_map(|s| s.supplemental_groups.iter().flatten())
    {
        f.push(kv("--group-add", g.to_string()));
    }
    for vm in c.volume_mounts.iter().flatten() {
        let Some(v) = spec.volumes.iter().flatten().find(|v| v.name == vm.name) else {
            return Err(invalid(format!(
                "volume {} is not in the pod's volumes",
                vm.name
            )));
        };
        let ro = vm.read_only == Some(true);
        // run's -v and --tmpfs read what follows a ':' as options.
        if vm.mount_path.contains(':') {
            return Err(invalid(format!(
                "mountPath {:?} holds a ':', which rrun cannot mount at",
                vm.mount_path
            )));
        }
        if let Some(h) = &v.host_path {
            if h.path.contains(':') {
                return Err(invalid(format!(
                    "hostPath {:?} holds a ':', which rrun cannot mount",
                    h.path
                )));
            }
            let mut s = format!("{}:{}", h.path, vm.mount_path);
            if ro {
                s.push_str(":ro");
            }
            f.push(kv("--volume", s));
        } else if let Some(e) = &v.empty_dir {
            if e.medium.as_deref() != Some("Memory") {
                notes.push(format!(
                    "pod {}: volume {}: an emptyDir is a tmpfs here (in memory, not on disk)",
                    p.name, v.name
                ));
            }
            let mut opts = Vec::new();
            if let Some(q) = &e.size_limit {
                let b = parse_quantity_nano(&q.0)
                    .ok_or_else(|| invalid(format!("sizeLimit {:?} is not a quantity", q.0)))?;
                opts.push(format!("size={}", (b + 999_999_999) / 1_000_000_000));
            }
            if ro {
                opts.push("ro".into());
            }
            let s = if opts.is_empty() {
                vm.mount_path.clone()
            } else {
                format!("{}:{}", vm.mount_path, opts.join(","))
            };
            f.push(kv("--tmpfs", s));
        } else {
            notes.push(format!(
                "pod {}: volume {}: only hostPath and emptyDir volumes are supported: not mounted",
                p.name, v.name
            ));
        }
    }
    if let Some(l) = c.resources.as_ref().and_then(|r| r.limits.as_ref()) {
        if let Some(q) = l.get("memory") {
            let b = parse_quantity_nano(&q.0)
                .ok_or_else(|| invalid(format!("memory limit {:?} is not a quantity", q.0)))?;
            f.push(kv(
                "--memory",
                format!("{}b", (b + 999_999_999) / 1_000_000_000),
            ));
        }
        if let Some(q) = l.get("cpu") {
            let n = parse_quantity_nano(&q.0)
                .ok_or_else(|| invalid(format!("cpu limit {:?} is not a quantity", q.0)))?;
            let cpus = if n % 1_000_000_000 == 0 {
                (n / 1_000_000_000).to_string()
            } else {
                format!("{n}e-9")
            };
            f.push(kv("--cpus", cpus));
        }
    }
    if c.tty == Some(true) {
        f.push(os("-t"));
    }
    if c.stdin == Some(true) {
        f.push(os("-i"));
    }
    let kept = p
        .annotations
        .get(&format!("{RESTART_ANNOTATION}/{}", c.name));
    let policy = match (kept, spec.restart_policy.as_deref()) {
        (Some(k), _) => k.clone(),
        (None, _) if p.deployment => "always".into(),
        (None, Some("Never")) => "no".into(),
        (None, Some("OnFailure")) => "on-failure".into(),
        (None, Some("Always") | None) => "always".into(),
        (None, Some(other)) => {
            return Err(invalid(format!(
                "restartPolicy {other:?} is not Always, OnFailure or Never"
            )));
        }
    };
    if policy != "no" {
        f.push(kv("--restart", policy));
    }
    Ok(())
}

fn rootfs_of(p: &PodDef, c: &Container, o: &PlayOptions) -> Result<OsString, KubeError> {
    let image = c.image.clone().unwrap_or_default();
    if let Some((_, d)) = o
        .rootfs
        .iter()
        .find(|(i, _)| *i == image || norm_image(i) == norm_image(&image))
    {
        return Ok(d.clone());
    }
    if let Some(d) = p
        .annotations
        .get(&format!("{ROOTFS_ANNOTATION}/{}", c.name))
    {
        return Ok(OsString::from(d));
    }
    Err(KubeError::NoRootfs {
        pod: p.name.clone(),
        ctr: c.name.clone(),
        image,
    })
}

/// Kubernetes' variables for a Service, as the kubelet makes them for the
/// pods that start after it: `NAME_SERVICE_HOST`, `NAME_PORT_5432_TCP_ADDR`…
/// (`ip` stands for the cluster IP: the address the name resolves to).
pub fn service_env(s: &ServiceDef, ip: std::net::IpAddr) -> Vec<(String, String)> {
    if s.headless || s.ports.is_empty() {
        return Vec::new();
    }
    let up = |x: &str| x.to_ascii_uppercase().replace('-', "_");
    let name = up(&s.name);
    let host = match ip {
        std::net::IpAddr::V6(v) => format!("[{v}]"),
        v4 => v4.to_string(),
    };
    let (p0, proto0, _) = &s.ports[0];
    let mut v = vec![
        (format!("{name}_SERVICE_HOST"), ip.to_string()),
        (format!("{name}_SERVICE_PORT"), p0.to_string()),
    ];
    for (port, _, pname) in &s.ports {
        if let Some(n) = pname {
            v.push((format!("{name}_SERVICE_PORT_{}", up(n)), port.to_string()));
        }
    }
    v.push((
        format!("{name}_PORT"),
        format!("{}://{host}:{p0}", proto0.to_ascii_lowercase()),
    ));
    for (port, proto, _) in &s.ports {
        let lower = proto.to_ascii_lowercase();
        let base = format!("{name}_PORT_{port}_{}", proto.to_ascii_uppercase());
        v.push((base.clone(), format!("{lower}://{host}:{port}")));
        v.push((format!("{base}_PROTO"), lower));
        v.push((format!("{base}_PORT"), port.to_string()));
        v.push((format!("{base}_ADDR"), ip.to_string()));
    }
    v
}

/// The rrun names of the containers a manifest's pods run, for kube down.
pub fn container_names(m: &Manifest) -> Vec<(String, String)> {
    m.pods
        .iter()
        .flat_map(|p| {
            p.spec
                .containers
                .iter()
                .map(|c| (p.name.clone(), run_name(&p.name, &c.name)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::LinkConf;
    use serde::Deserialize;

    fn ctr(name: &str, id: &str) -> Config {
        Config {
            id: format!("{id:0<64}"),
            name: name.into(),
            hostname: id[..id.len().min(12)].into(),
            rootfs: "./rootfs".into(),
            rootfs_path: "/srv/rootfs".into(),
            path: "sh".into(),
            args: vec!["-c".into(), "echo hi".into()],
            net: "bridge".into(),
            seccomp: true,
            ..Default::default()
        }
    }

    fn web_db() -> Vec<Config> {
        let mut db = ctr("db", "d0");
        db.user_env = vec!["PG_VERSION=9.3".into()];
        db.exposed = vec![Exposed {
            port: 5432,
            proto: Proto::Tcp,
        }];
        db.restart = Policy::OnFailure(3);
        db.limits.memory = 64 << 20;
        db.limits.nano_cpus = 500_000_000;
        let mut web = ctr("web", "e0");
        web.publish = vec!["127.0.0.1:8080:5000".into(), "53/udp".into()];
        web.links = vec![LinkConf {
            target_id: db.id.clone(),
            target_name: "db".into(),
            alias: "my_db".into(),
        }];
        web.env = vec!["MY_DB_PORT=tcp://172.17.0.2:5432".into()];
        web.binds = vec!["/data:/srv/data:ro".into()];
        web.tmpfs = vec!["/run:size=16m,mode=1777".into()];
        vec![web, db]
    }

    fn make(ctrs: &[Config], service: bool, deployment: bool) -> Generated {
        generate(
            ctrs,
            &GenerateOptions {
                service,
                deployment,
                images: vec![],
            },
        )
        .unwrap()
    }

    #[test]
    fn labels() {
        assert_eq!(dns_label("My_Web.1", "x"), "my-web-1");
        assert_eq!(dns_label("__a__", "x"), "a");
        assert_eq!(dns_label("-", "x"), "x");
        assert_eq!(dns_label("", "fb"), "fb");
        assert_eq!(dns_label(&"a".repeat(70), "x").len(), 63);
        assert_eq!(
            dns_label(&format!("{}_b", "a".repeat(62)), "x"),
            "a".repeat(62)
        );
        assert_eq!(dns_label("a--b", "x"), "a-b");
        assert_eq!(dns_label("Zz9", "x"), "zz9");
        assert_eq!(dns1035_label("db"), "db");
        assert_eq!(dns1035_label("1db"), "x1db");
        assert_eq!(dns1035_label("my_db"), "my-db");
        assert_eq!(dns1035_label("_"), "svc");
    }

    #[test]
    fn quantities() {
        assert_eq!(bytes_quantity(64 << 20), "64Mi");
        assert_eq!(bytes_quantity(1 << 30), "1Gi");
        assert_eq!(bytes_quantity(3 << 40), "3Ti");
        assert_eq!(bytes_quantity(1536), "1536");
        assert_eq!(bytes_quantity(2048), "2Ki");
        assert_eq!(bytes_quantity(1000), "1000");
        assert_eq!(bytes_quantity(0), "0");
        assert_eq!(cpu_quantity(500_000_000), "500m");
        assert_eq!(cpu_quantity(2_000_000_000), "2");
        assert_eq!(cpu_quantity(1_500_000_000), "1500m");
        assert_eq!(cpu_quantity(1_000_001), "2m");
        assert_eq!(cpu_quantity(1_000_000), "1m");
        let g = 1_000_000_000i128;
        for (q, v) in [
            ("64Mi", 64 * (1 << 20) * g),
            ("1Ki", 1024 * g),
            ("1Gi", (1 << 30) * g),
            ("1Ti", (1 << 40) * g),
            ("1Pi", (1 << 50) * g),
            ("1Ei", (1 << 60) * g),
            ("500m", 500_000_000),
            ("1.5", 1_500_000_000),
            ("+2", 2 * g),
            (".5", 500_000_000),
            ("5.", 5 * g),
            ("1k", 1000 * g),
            ("1M", 1_000_000 * g),
            ("1G", 1_000_000_000 * g),
            ("1T", 1_000_000_000_000 * g),
            ("1P", 1_000_000_000_000_000 * g),
            ("1e3", 1000 * g),
            ("1E2", 100 * g),
            ("3n", 3),
            ("3u", 3000),
            ("0.0000000001", 1),
            ("0.000000000000000001", 1),
            (" 7 ", 7 * g),
        ] {
            assert_eq!(parse_quantity_nano(q), Some(v), "{q}");
        }
        for bad in [
            "",
            "-1",
            "1x",
            "Mi",
            "1.2.3",
            "1e19",
            "1ea",
            ".",
            "1-",
            "a1",
            "9Ei",
            "99999999999999999999",
            "1x3",
            "++5",
            ".+5",
            "0.0000000000000000001",
        ] {
            assert_eq!(parse_quantity_nano(bad), None, "{bad}");
        }
        assert_eq!(parse_quantity_nano("1E"), Some(g * g * g));
        // Just inside and just past i64 units.
        let max = i64::MAX as i128;
        assert_eq!(parse_quantity_nano("9223372036854775807"), Some(max * g));
        assert_eq!(parse_quantity_nano("9223372036854775808"), None);
        assert_eq!(parse_quantity_nano("9223372036854775807001m"), None);
        assert_eq!(parse_quantity_nano("1e18"), Some(g * g * g));
        assert_eq!(parse_quantity_nano("1e9"), Some(g * g));
    }

    #[test]
    fn images() {
        assert_eq!(
            default_image(OsStr::new("/srv/My Root")),
            "localhost/my-root:latest"
        );
        assert_eq!(default_image(OsStr::new("/")), "localhost/rootfs:latest");
        assert_eq!(
            default_image(OsStr::new("/x/_a.b_")),
            "localhost/a-b:latest",
            "the name image save gives it"
        );
        assert_eq!(norm_image("web"), "web:latest");
        assert_eq!(norm_image("docker.io/library/web:1"), "web:1");
        assert_eq!(norm_image("docker.io/me/web"), "me/web:latest");
        assert_eq!(
            norm_image("localhost:5000/web"),
            "localhost:5000/web:latest"
        );
        assert_eq!(norm_image("web@sha256:ab"), "web@sha256:ab");
    }

    /// Every document, read into its Kubernetes type and written again,
    /// keeps every field: nothing generate writes is lost on a cluster.
    fn assert_round_trip(docs: &[Value]) {
        for d in docs {
            let back = match d["kind"].as_str() {
                Some("Pod") => serde_json::to_value(Pod::deserialize(d).unwrap()).unwrap(),
                Some("Service") => serde_json::to_value(Service::deserialize(d).unwrap()).unwrap(),
                Some("Deployment") => {
                    serde_json::to_value(Deployment::deserialize(d).unwrap()).unwrap()
                }
                k => panic!("kind {k:?}"),
            };
            assert_eq!(&back, d);
            let mut lost = Vec::new();
            ignored_fields(
                d["kind"].as_str().unwrap(),
                d,
                &mut Vec::new(),
                "",
                &mut lost,
            );
            assert_eq!(
                lost,
                Vec::<String>::new(),
                "kube play ignores what generate writes"
            );
        }
    }

    #[test]
    fn web_and_db() {
        let g = make(&web_db(), true, false);
        assert_round_trip(&g.docs);
        let kinds: Vec<&str> = g.docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["Service", "Pod", "Pod"]);
        let svc = &g.docs[0];
        assert_eq!(svc["metadata"]["name"], "my-db");
        assert_eq!(svc["spec"]["selector"]["app"], "db");
        assert_eq!(
            svc["spec"]["ports"],
            serde_json::json!([{"name": "tcp-5432", "port": 5432, "protocol": "TCP", "targetPort": 5432}])
        );
        let web = &g.docs[1];
        assert_eq!(web["metadata"]["name"], "web");
        assert_eq!(web["metadata"]["labels"]["app"], "web");
        assert_eq!(
            web["metadata"]["annotations"]["io.rrun.rootfs/web"],
            "/srv/rootfs"
        );
        let c = &web["spec"]["containers"][0];
        assert_eq!(c["name"], "web");
        assert_eq!(c["image"], "localhost/rootfs:latest");
        assert_eq!(c["command"], serde_json::json!(["sh", "-c", "echo hi"]));
        assert!(
            c.get("env").is_none(),
            "link variables are not written: {c}"
        );
        assert_eq!(
            c["ports"],
            serde_json::json!([
                {"containerPort": 5000, "hostIP": "127.0.0.1", "hostPort": 8080, "protocol": "TCP"},
                {"containerPort": 53, "protocol": "UDP"}
            ])
        );
        assert_eq!(
            c["volumeMounts"],
            serde_json::json!([
                {"mountPath": "/srv/data", "name": "web-host-0", "readOnly": true},
                {"mountPath": "/run", "name": "web-tmpfs-1"}
            ])
        );
        assert_eq!(
            web["spec"]["volumes"],
            serde_json::json!([
                {"hostPath": {"path": "/data"}, "name": "web-host-0"},
                {"emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}, "name": "web-tmpfs-1"}
            ])
        );
        assert_eq!(web["spec"]["restartPolicy"], "Never");
        assert!(
            web["spec"].get("hostname").is_none(),
            "the default hostname is not written"
        );
        assert!(web["spec"].get("enableServiceLinks").is_none());
        let db = &g.docs[2];
        let c = &db["spec"]["containers"][0];
        assert_eq!(
            c["env"],
            serde_json::json!([{"name": "PG_VERSION", "value": "9.3"}])
        );
        assert_eq!(
            c["ports"],
            serde_json::json!([{"containerPort": 5432, "protocol": "TCP"}])
        );
        assert_eq!(
            c["resources"],
            serde_json::json!({"limits": {"cpu": "500m", "memory": "64Mi"}})
        );
        assert_eq!(db["spec"]["restartPolicy"], "OnFailure");
        assert_eq!(
            db["metadata"]["annotations"]["io.rrun.restart/db"],
            "on-failure:3"
        );
        let notes = g.notes.join("\n");
        assert!(
            notes.contains("web: -p 53/udp: a random host port"),
            "{notes}"
        );
        assert!(notes.contains("web: --tmpfs option mode=1777"), "{notes}");
        assert!(
            notes.contains("on-failure:3 has no Kubernetes equivalent"),
            "{notes}"
        );
        assert!(
            notes.contains("my_db is not a DNS-1035 label: its Service is my-db"),
            "{notes}"
        );
        // The YAML is the documents.
        let y = to_yaml(&g.docs);
        assert_eq!(y.matches("\n---\n").count(), 3);
        let m = parse_manifest("f", &y).unwrap();
        assert_eq!(m.pods.len(), 2);
        assert_eq!(m.services.len(), 1);
        assert_eq!(m.notes, Vec::<String>::new());
    }

    #[test]
    fn without_service_links_are_a_note() {
        let g = make(&web_db(), false, false);
        assert_eq!(g.docs.len(), 2);
        assert!(
            g.notes
                .iter()
                .any(|n| n.contains("--service makes a Service my-db")),
            "{:?}",
            g.notes
        );
        // A link to a container not given.
        let g = make(&web_db()[..1], true, false);
        assert_eq!(g.docs.len(), 1);
        assert!(
            g.notes
                .iter()
                .any(|n| n.contains("db is not among the containers given"))
        );
    }

    #[test]
    fn deployment() {
        let g = make(&web_db(), false, true);
        assert_round_trip(&g.docs);
        let d = &g.docs[1];
        assert_eq!(d["kind"], "Deployment");
        assert_eq!(d["apiVersion"], "apps/v1");
        assert_eq!(d["spec"]["replicas"], 1);
        assert_eq!(d["metadata"]["name"], "db");
        assert_eq!(d["metadata"]["labels"]["app"], "db");
        assert_eq!(d["spec"]["selector"]["matchLabels"]["app"], "db");
        assert_eq!(d["spec"]["template"]["metadata"]["labels"]["app"], "db");
        assert_eq!(d["spec"]["template"]["spec"]["restartPolicy"], "Always");
        assert!(
            g.notes
                .iter()
                .any(|n| n.contains("db: a Deployment's pods restart always"))
        );
        assert!(
            g.notes.iter().any(
                |n| n.contains("web: a Deployment's pods restart always: restart policy Never")
            )
        );
    }

    #[test]
    fn shared_network_is_one_pod() {
        let mut a = ctr("app", "a1");
        a.exposed = vec![Exposed {
            port: 80,
            proto: Proto::Tcp,
        }];
        a.network_aliases = vec!["www".into()];
        a.hostname = "apphost".into();
        a.dns = vec!["9.9.9.9".into()];
        a.dns_search = vec!["example.com".into()];
        a.dns_options = vec!["ndots:2".into(), "rotate".into()];
        a.add_hosts = vec![
            "h1:10.0.0.1".into(),
            "h2:10.0.0.1".into(),
            "h3:10.0.0.3".into(),
        ];
        a.restart = Policy::UnlessStopped;
        let mut side = ctr("app-side", "b2");
        side.net = "container:app".into();
        side.exposed = vec![Exposed {
            port: 9000,
            proto: Proto::Udp,
        }];
        side.restart = Policy::UnlessStopped;
        let mut third = ctr("third", "c3");
        third.net = format!("container:{}", &side.id[..8]);
        // Given before the container whose network it shares.
        let g = make(&[third, a, side], true, false);
        assert_round_trip(&g.docs);
        assert_eq!(g.docs.len(), 2, "{:#?}", g.docs);
        let svc = &g.docs[0];
        assert_eq!(svc["metadata"]["name"], "www");
        assert_eq!(
            svc["spec"]["ports"].as_array().unwrap().len(),
            2,
            "the pod's ports"
        );
        assert_eq!(svc["spec"]["ports"][1]["name"], "udp-9000");
        let p = &g.docs[1];
        let names: Vec<&str> = p["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["app", "third", "side"], "the owner first");
        assert_eq!(p["spec"]["hostname"], "apphost");
        assert_eq!(
            p["spec"]["dnsConfig"],
            serde_json::json!({"nameservers": ["9.9.9.9"], "options": [{"name": "ndots", "value": "2"}, {"name": "rotate"}], "searches": ["example.com"]})
        );
        assert_eq!(
            p["spec"]["hostAliases"],
            serde_json::json!([{"hostnames": ["h1", "h2"], "ip": "10.0.0.1"}, {"hostnames": ["h3"], "ip": "10.0.0.3"}])
        );
        assert_eq!(p["spec"]["restartPolicy"], "Always");
        assert_eq!(
            p["metadata"]["annotations"]["io.rrun.restart/app"],
            "unless-stopped"
        );
        assert!(
            g.notes
                .iter()
                .any(|n| n.contains("third: a pod has one restart policy"))
        );
        assert!(
            !g.notes.iter().any(|n| n.contains("side: a pod has one")),
            "{:?}",
            g.notes
        );
        // Joined, but to a container not given: a pod of its own, said so.
        let mut lone = ctr("lone", "f1");
        lone.net = "container:elsewhere".into();
        let g = make(&[lone], false, false);
        assert_eq!(g.docs.len(), 1);
        assert!(g.notes[0].contains("not among the containers given"));
    }

    #[test]
    fn settings_and_notes() {
        let mut c = ctr("Odd_Name", "a1");
        c.user = "1000:1000".into();
        c.uid = 1000;
        c.gid = 100;
        c.cap_add = vec!["net_admin".into(), "CAP_SYS_TIME".into()];
        c.cap_drop = vec!["ALL".into()];
        c.read_only = true;
        c.tty = true;
        c.interactive = true;
        c.workdir = "/srv".into();
        c.group_add = vec!["10".into(), "wheel".into()];
        c.limits.swap_given = true;
        c.limits.pids = Some(10);
        c.init = true;
        c.auto_remove = true;
        c.seccomp = false;
        c.ulimits = vec![crate::ulimit::Ulimit {
            name: "nofile".into(),
            soft: 1,
            hard: 1,
        }];
        c.labels.insert("a".into(), "b".into());
        c.net = "host".into();
        c.publish_all = true;
        c.domainname = "example.org".into();
        c.hostname = "My_Host".into();
        c.tmpfs = vec!["/t:size=10%".into()];
        let g = make(&[c], false, false);
        assert_round_trip(&g.docs);
        let p = &g.docs[0];
        assert_eq!(p["metadata"]["name"], "odd-name");
        assert_eq!(p["spec"]["hostNetwork"], true);
        assert_eq!(p["spec"]["hostname"], "my-host");
        assert_eq!(
            p["spec"]["securityContext"]["supplementalGroups"],
            serde_json::json!([10])
        );
        let k = &p["spec"]["containers"][0];
        assert_eq!(
            k["securityContext"],
            serde_json::json!({"capabilities": {"add": ["NET_ADMIN", "SYS_TIME"], "drop": ["ALL"]}, "readOnlyRootFilesystem": true, "runAsGroup": 100, "runAsUser": 1000})
        );
        assert_eq!(k["tty"], true);
        assert_eq!(k["stdin"], true);
        assert_eq!(k["workingDir"], "/srv");
        let notes = g.notes.join("\n");
        for n in [
            "--group-add wheel",
            "--memory-swap",
            "--pids-limit",
            "--ulimit",
            "--init",
            "--rm",
            "seccomp=unconfined",
            "--label",
            "-P has no",
            "--domainname",
            "hostname My_Host is not a DNS-1123 label",
            "size=10%",
        ] {
            assert!(notes.contains(n), "{n}: {notes}");
        }
        assert!(!notes.contains("--device"), "{notes}");
        // What is not said is not noted.
        let g = make(&[ctr("plain", "b1")], false, false);
        assert_eq!(g.notes, Vec::<String>::new());
        let k = &g.docs[0]["spec"]["containers"][0];
        assert!(
            k.get("securityContext").is_none() && k.get("workingDir").is_none(),
            "{k}"
        );
        // Privileged, and --net=none.
        let mut c = ctr("p", "b2");
        c.privileged = true;
        c.seccomp = false;
        c.net = "none".into();
        c.labels.insert(POD_LABEL.into(), "p".into());
        c.devices = vec![crate::state::DeviceConf {
            host: "/dev/null".into(),
            container: "/dev/x".into(),
            perms: "rwm".into(),
        }];
        let g = make(&[c], false, false);
        assert_eq!(
            g.docs[0]["spec"]["containers"][0]["securityContext"]["privileged"],
            true
        );
        let notes = g.notes.join("\n");
        assert!(
            notes.contains("--net=none") && notes.contains("--device"),
            "{notes}"
        );
        assert!(
            !notes.contains("seccomp") && !notes.contains("--label"),
            "{notes}"
        );
    }

    #[test]
    fn long_names_keep_volumes_apart() {
        let mut c = ctr(&"a".repeat(63), "a1");
        c.binds = vec!["/x:/x".into(), "/y:/y".into()];
        let g = make(&[c], false, false);
        let v = &g.docs[0]["spec"]["volumes"];
        assert_eq!(v[0]["name"], format!("{}-host-0", "a".repeat(40)));
        assert_eq!(v[1]["name"], format!("{}-host-1", "a".repeat(40)));
    }

    #[test]
    fn long_and_clashing_container_names() {
        // `POD-NAME` longer than 63: the pod's prefix goes first.
        let (pod, side) = ("a".repeat(63), "b".repeat(63));
        let owner = ctr(&pod, "a1");
        let mut joined = ctr(&format!("{pod}-{side}"), "b2");
        joined.net = format!("container:{pod}");
        let g = make(&[owner, joined], false, false);
        assert_round_trip(&g.docs);
        let c = &g.docs[0]["spec"]["containers"];
        assert_eq!(c[0]["name"], pod.as_str());
        assert_eq!(c[1]["name"], side.as_str());
        let ann = &g.docs[0]["metadata"]["annotations"];
        assert!(
            ann[format!("{ROOTFS_ANNOTATION}/{side}")].is_string(),
            "{ann}"
        );
        // Two names that make one label: refused, not one container twice.
        let owner = ctr("pod1", "a1");
        let mut dot = ctr("j.1", "b2");
        dot.net = "container:pod1".into();
        let mut under = ctr("j_1", "c3");
        under.net = "container:pod1".into();
        let e = generate(&[owner, dot, under], &GenerateOptions::default())
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "j.1 and j_1 would both be container j-1 of pod pod1: rename one (rrun rename)"
        );
    }

    #[test]
    fn headless_ports_and_sizes() {
        let mut quiet = ctr("quiet", "a1");
        quiet.network_aliases = vec!["q".into()];
        quiet.tmpfs = vec![
            "/a:size=1k".into(),
            "/b:size=2g,ro".into(),
            "/c:size=5".into(),
        ];
        let mut busy = ctr("busy", "b1");
        busy.network_aliases = vec!["b".into()];
        busy.exposed = vec![
            Exposed {
                port: 53,
                proto: Proto::Udp,
            },
            Exposed {
                port: 80,
                proto: Proto::Tcp,
            },
        ];
        busy.publish = vec!["8053:53/tcp".into(), "8080:80".into()];
        let g = make(&[quiet, busy], true, false);
        assert_round_trip(&g.docs);
        assert_eq!(
            g.docs[0]["spec"],
            serde_json::json!({"clusterIP": "None", "selector": {"app": "quiet"}})
        );
        assert!(g.notes.iter().any(|n| n.contains("Service q is headless")));
        let ports: Vec<&str> = g.docs[1]["spec"]["ports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            ports,
            ["tcp-53", "udp-53", "tcp-80"],
            "by port, TCP first, once each"
        );
        let q = &g.docs[2]["spec"];
        assert_eq!(q["volumes"][0]["emptyDir"]["sizeLimit"], "1Ki");
        assert_eq!(q["volumes"][1]["emptyDir"]["sizeLimit"], "2Gi");
        assert_eq!(q["volumes"][2]["emptyDir"]["sizeLimit"], "5");
        assert_eq!(q["containers"][0]["volumeMounts"][1]["readOnly"], true);
        assert!(
            q["containers"][0]["volumeMounts"][0]
                .get("readOnly")
                .is_none()
        );
        assert_eq!(tmpfs_size("3m"), Some(3 << 20));
        assert_eq!(tmpfs_size("3M"), Some(3 << 20));
        assert_eq!(tmpfs_size("10%"), None);
    }

    #[test]
    fn refusals() {
        let mut c = ctr("a", "a1");
        c.args = vec![OsString::from_vec(vec![0xff])];
        let e = generate(&[c], &GenerateOptions::default()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "a: an argument is not valid UTF-8, which a manifest cannot hold"
        );
        let e = generate(
            &[ctr("a_b", "a1"), ctr("a.b", "b1")],
            &GenerateOptions::default(),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "a_b and a.b would both be pod a-b: rename one (rrun rename)"
        );
    }

    use std::os::unix::ffi::OsStringExt;

    #[test]
    fn injected_variables_are_not_written() {
        let mut c = ctr("w", "a1");
        c.user_env = vec!["DB_PORT=x".into(), "MINE=1".into(), "FLAG".into()];
        c.labels
            .insert(INJECTED_LABEL.into(), "DB_PORT,OTHER".into());
        let g = make(&[c], false, false);
        assert_eq!(
            g.docs[0]["spec"]["containers"][0]["env"],
            serde_json::json!([{"name": "MINE", "value": "1"}, {"name": "FLAG", "value": ""}])
        );
    }

    #[test]
    fn service_variables() {
        let s = ServiceDef {
            name: "my-db".into(),
            selector: BTreeMap::new(),
            ports: vec![
                (5432, "TCP".into(), Some("tcp-5432".into())),
                (53, "UDP".into(), None),
            ],
            headless: false,
        };
        let v = service_env(&s, "10.0.0.5".parse().unwrap());
        let want = [
            ("MY_DB_SERVICE_HOST", "10.0.0.5"),
            ("MY_DB_SERVICE_PORT", "5432"),
            ("MY_DB_SERVICE_PORT_TCP_5432", "5432"),
            ("MY_DB_PORT", "tcp://10.0.0.5:5432"),
            ("MY_DB_PORT_5432_TCP", "tcp://10.0.0.5:5432"),
            ("MY_DB_PORT_5432_TCP_PROTO", "tcp"),
            ("MY_DB_PORT_5432_TCP_PORT", "5432"),
            ("MY_DB_PORT_5432_TCP_ADDR", "10.0.0.5"),
            ("MY_DB_PORT_53_UDP", "udp://10.0.0.5:53"),
            ("MY_DB_PORT_53_UDP_PROTO", "udp"),
            ("MY_DB_PORT_53_UDP_PORT", "53"),
            ("MY_DB_PORT_53_UDP_ADDR", "10.0.0.5"),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert_eq!(v, want);
        let v = service_env(&s, "fd00::1".parse().unwrap());
        assert_eq!(v[0].1, "fd00::1");
        assert_eq!(v[3].1, "tcp://[fd00::1]:5432");
        let headless = ServiceDef {
            headless: true,
            ..s.clone()
        };
        assert!(service_env(&headless, "10.0.0.5".parse().unwrap()).is_empty());
        let portless = ServiceDef { ports: vec![], ..s };
        assert!(service_env(&portless, "10.0.0.5".parse().unwrap()).is_empty());
    }

    const MANIFEST: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: db}
spec:
  selector: {app: db}
  ports: [{port: 5432, targetPort: 5433, name: pg}]
  type: NodePort
---
apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web}
  annotations: {io.rrun.rootfs/web: /r/web, io.rrun.rootfs/side: /r/side}
  namespace: prod
spec:
  affinity: {nodeAffinity: {}}
  hostname: h
  dnsConfig: {nameservers: [1.1.1.1], searches: [s.example], options: [{name: ndots, value: "1"}, {name: edns0}]}
  hostAliases: [{ip: 10.0.0.9, hostnames: [a, b]}]
  securityContext: {supplementalGroups: [7]}
  enableServiceLinks: false
  restartPolicy: OnFailure
  volumes:
  - {name: data, hostPath: {path: /d}}
  - {name: scratch, emptyDir: {sizeLimit: 1Mi}}
  - {name: cfg, configMap: {name: c}}
  containers:
  - name: web
    image: web:1
    command: [sh, -c]
    args: [echo hi]
    env: [{name: A, value: "1"}, {name: B, valueFrom: {fieldRef: {fieldPath: x}}}]
    ports:
    - {containerPort: 80, hostPort: 8080, hostIP: "::1"}
    - {containerPort: 81, hostPort: 8081, hostIP: 127.0.0.1, protocol: UDP}
    - {containerPort: 0, hostPort: 9090}
    - {containerPort: 82}
    workingDir: /w
    securityContext: {runAsUser: 5, runAsGroup: 6, privileged: true, readOnlyRootFilesystem: true, capabilities: {add: [NET_ADMIN], drop: [ALL]}}
    volumeMounts: [{name: data, mountPath: /data, readOnly: true}, {name: scratch, mountPath: /tmp}, {name: cfg, mountPath: /cfg}]
    resources: {limits: {memory: 64Mi, cpu: 250m}, requests: {cpu: 100m}}
    tty: true
    stdin: true
    livenessProbe: {exec: {command: ["true"]}}
  - name: side
    image: side
    args: [run]
    ports: [{containerPort: 83}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: db}
spec:
  replicas: 3
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      restartPolicy: Always
      containers: [{name: db, image: "docker.io/library/pg:latest", securityContext: {runAsUser: 9}}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: c}
---
"#;

    fn play_opts() -> PlayOptions {
        PlayOptions {
            network: "net1".into(),
            rootfs: vec![("pg".into(), "/r/pg".into())],
        }
    }

    fn strs(v: &[OsString]) -> Vec<String> {
        v.iter().map(|s| s.to_string_lossy().to_string()).collect()
    }

    #[test]
    fn manifest_and_notes() {
        let m = parse_manifest("f.yaml", MANIFEST).unwrap();
        assert_eq!(m.pods.len(), 2);
        assert_eq!(
            m.services,
            [ServiceDef {
                name: "db".into(),
                selector: BTreeMap::from([("app".into(), "db".into())]),
                ports: vec![(5432, "TCP".into(), Some("pg".into()))],
                headless: false,
            }]
        );
        let want = [
            "f.yaml: Service db: type NodePort is served as ClusterIP: its name resolves on the pods' network",
            "f.yaml: Service db: port 5432 reaches the pod's port 5432: a targetPort other than the port needs a proxy rrun does not run",
            "f.yaml: Pod: ignoring metadata.namespace (not supported)",
            "f.yaml: Pod: ignoring spec.affinity.nodeAffinity (not supported)",
            "f.yaml: Pod: ignoring spec.volumes[2].configMap.name (not supported)",
            "f.yaml: Pod: ignoring spec.containers[0].env[1].valueFrom.fieldRef.fieldPath (not supported)",
            "f.yaml: Pod: ignoring spec.containers[0].resources.requests.cpu (not supported)",
            "f.yaml: Pod: ignoring spec.containers[0].livenessProbe.exec.command[0] (not supported)",
            "f.yaml: Deployment db: one replica runs here, not 3",
            "f.yaml: document 4: kind \"ConfigMap\" is not one kube play runs (Pod, Deployment, Service): ignored",
        ];
        let mut got = m.notes.clone();
        got.sort();
        let mut want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(got, want);

        let (runs, notes) = plan(&m, &play_opts()).unwrap();
        // The pod a Service selects first.
        assert_eq!(
            runs.iter().map(|r| r.pod.as_str()).collect::<Vec<_>>(),
            ["db", "web"]
        );
        let db = &runs[0];
        assert_eq!(db.services, ["db"]);
        assert!(db.service_links);
        assert_eq!(
            strs(&db.ctrs[0].flags),
            [
                "--name=db",
                "--label=io.rrun.kube.pod=db",
                "--net=net1",
                "--network-alias=db",
                "--user=9",
                "--restart=always"
            ]
        );
        assert_eq!(db.ctrs[0].rootfs, "/r/pg");
        assert!(db.ctrs[0].command.is_empty());
        let web = &runs[1];
        assert!(!web.service_links);
        assert!(web.services.is_empty());
        let w = &web.ctrs[0];
        assert_eq!(w.name, "web");
        assert_eq!(w.rootfs, "/r/web");
        assert_eq!(strs(&w.command), ["sh", "-c", "echo hi"]);
        assert_eq!(
            w.env_names,
            BTreeSet::from(["A".to_string(), "B".to_string()])
        );
        assert_eq!(
            strs(&w.flags),
            [
                "--name=web",
                "--label=io.rrun.kube.pod=web",
                "--net=net1",
                "--hostname=h",
                "--dns=1.1.1.1",
                "--dns-search=s.example",
                "--dns-option=ndots:1",
                "--dns-option=edns0",
                "--add-host=a:10.0.0.9",
                "--add-host=b:10.0.0.9",
                "--publish=[::1]:8080:80/tcp",
                "--publish=127.0.0.1:8081:81/udp",
                "--publish=9090:9090/tcp",
                "--expose=82/tcp",
                "--expose=83/tcp",
                "--env=A=1",
                "--env=B=",
                "--workdir=/w",
                "--user=5:6",
                "--cap-add=NET_ADMIN",
                "--cap-drop=ALL",
                "--privileged",
                "--read-only",
                "--group-add=7",
                "--volume=/d:/data:ro",
                "--tmpfs=/tmp:size=1048576",
                "--memory=67108864b",
                "--cpus=250000000e-9",
                "-t",
                "-i",
                "--restart=on-failure"
            ]
        );
        let s = &web.ctrs[1];
        assert_eq!(s.name, "web-side");
        assert_eq!(s.rootfs, "/r/side");
        assert_eq!(strs(&s.command), ["run"]);
        assert_eq!(
            strs(&s.flags),
            [
                "--name=web-side",
                "--label=io.rrun.kube.pod=web",
                "--net=container:web",
                "--group-add=7",
                "--restart=on-failure"
            ]
        );
        let notes = notes.join("\n");
        assert!(
            notes.contains("volume scratch: an emptyDir is a tmpfs here"),
            "{notes}"
        );
        assert!(
            notes.contains("volume cfg: only hostPath and emptyDir"),
            "{notes}"
        );
        assert!(
            notes.contains("container side: args without command"),
            "{notes}"
        );
        assert_eq!(
            container_names(&m),
            [
                ("web".to_string(), "web".to_string()),
                ("web".into(), "web-side".into()),
                ("db".into(), "db".into())
            ]
        );
    }

    #[test]
    fn nesting() {
        assert_eq!(flow_depth("a: [[1], {b: [2]}]"), 3);
        assert_eq!(flow_depth("a: '[[[' # [[[[\nb: \"{{\" [x]"), 1);
        assert_eq!(flow_depth("a: 'it''s [' [x]"), 1);
        assert_eq!(
            flow_depth("a#[[: [x]"),
            3,
            "a # inside a word is no comment"
        );
        assert_eq!(flow_depth("]]] [x]"), 1);
        let deep = format!("a: {}{}", "[".repeat(257), "]".repeat(257));
        assert_eq!(
            parse_manifest("f", &deep).unwrap_err().to_string(),
            "f: brackets nest deeper than 256"
        );
        let ok = format!("a: {}{}", "[".repeat(256), "]".repeat(256));
        assert!(
            !parse_manifest("f", &ok)
                .unwrap_err()
                .to_string()
                .contains("brackets")
        );
    }

    #[test]
    fn duplicate_keys_and_names() {
        let e = parse_manifest(
            "f",
            "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: a, command: [sleep], command: [rm]}]}\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("f: document 1: "), "{e}");
        assert!(e.contains("the key \"command\" is given twice"), "{e}");
        let e = parse_manifest("f", "a: 1\n---\nb: .nan\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("f: document 2: ") && e.contains("not a finite number"),
            "{e}"
        );
        // Values of each kind come through.
        let m = parse_manifest(
            "f",
            "apiVersion: v1\nkind: Service\nmetadata: {name: s, labels: {a: 'x'}}\nspec: {clusterIP: None, ports: [{port: 1, targetPort: 1.0e0}], selector: {k: v}}\n",
        );
        assert!(m.is_err(), "a float is no port");
        let o = PlayOptions {
            network: "n".into(),
            rootfs: vec![("i".into(), "/r".into())],
        };
        let two = "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: b-c, image: i}]}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: a-b}\nspec: {containers: [{name: c, image: i}]}\n";
        let e = plan(&parse_manifest("f", two).unwrap(), &o)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "f: pods a and a-b would both run a container named a-b-c"
        );
        let one = "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: a, image: i}]}\n";
        let e = plan(&parse_manifest("f", one).unwrap(), &o)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("would be named a, and rrun's names take two"),
            "{e}"
        );
        let hn = "apiVersion: v1\nkind: Pod\nmetadata: {name: hh, labels: {app: hh}}\nspec: {hostNetwork: true, containers: [{name: hh, image: i}]}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: hs}\nspec: {selector: {app: hh}}\n";
        let (_, notes) = plan(&parse_manifest("f", hn).unwrap(), &o).unwrap();
        assert_eq!(
            notes,
            [
                "Service hs: pod hh uses the host's network, not the pods' network: the name does not resolve to it"
            ]
        );
    }

    /// Whatever the strings, maps and lists, the YAML written reads back as
    /// the same value.
    #[test]
    fn yaml_reads_back() {
        let tricky = [
            "",
            " ",
            "a",
            "true",
            "True",
            "NO",
            "y",
            "null",
            "~",
            "0",
            "010",
            "0x1f",
            "1e3",
            ".5",
            "-",
            "-c",
            "- a",
            "a: b",
            "a:b",
            "a #b",
            "a#b",
            "#x",
            "x:",
            "'",
            "\"",
            "a'b",
            "\\",
            "a\nb",
            "\t",
            "é",
            "日本",
            "[x]",
            "{x}",
            "*x",
            "&x",
            "!x",
            "|",
            ">",
            "%x",
            "@x",
            "`x",
            "=",
            "<<",
            "? x",
            "a, b",
            "a\u{2028}b",
            "\u{feff}x",
            "1:20",
            "+1",
            "/tmp",
            "echo hi; exec httpd -f -p 5000 -h /",
            "x ",
            " x",
            "9.3",
            ".inf",
            "-.nan",
            "2001-01-01",
        ];
        let mut doc = serde_json::Map::new();
        for (i, t) in tricky.iter().enumerate() {
            doc.insert(t.to_string(), Value::String(t.to_string()));
            doc.insert(
                format!("k{i}"),
                serde_json::json!([t, {"x": [t, [], {}]}, [[t]]]),
            );
        }
        doc.insert(
            "n".into(),
            serde_json::json!([1, -2, 1.5, true, false, null, {}, []]),
        );
        let docs = vec![
            Value::Object(doc),
            serde_json::json!(["a", ["b", ["c"]], {"d": 1}]),
        ];
        let y = to_yaml(&docs);
        let back: Vec<Value> = yaml_serde::Deserializer::from_str(&y)
            .map(|d| {
                use serde::Deserialize;
                Value::deserialize(d).unwrap_or_else(|e| panic!("{e}\n{y}"))
            })
            .collect();
        assert_eq!(back, docs, "{y}");
        assert!(
            y.contains("\nk0:\n- ''\n- x:\n  - ''\n  - []\n  - {}\n- - - ''\n"),
            "{y}"
        );
        assert_eq!(yaml_str("sh"), "sh");
        assert_eq!(yaml_str("9.3"), "'9.3'");
        assert_eq!(yaml_str("it's"), "'it''s'");
        assert_eq!(yaml_str("a\nb\""), "\"a\\u000ab\\\"\"");
    }

    #[test]
    fn manifest_refusals() {
        let e = |t: &str| parse_manifest("f", t).unwrap_err().to_string();
        assert!(e("a: [").starts_with("f: document 1: "), "{}", e("a: ["));
        assert!(
            e("apiVersion: v2\nkind: Pod\nmetadata: {name: a}\n")
                .starts_with("f: document 1 (Pod): "),
        );
        assert!(
            e("apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: 3}\n")
                .starts_with("f: document 1 (Pod): ")
        );
        assert_eq!(
            e("apiVersion: v1\nkind: Pod\nmetadata: {name: A}\nspec: {containers: [{name: a}]}\n"),
            "f: pod name \"A\" is not a DNS-1123 label"
        );
        assert_eq!(
            e("apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: []}\n"),
            "f: pod a has no containers"
        );
        assert_eq!(
            e("apiVersion: v1\nkind: Service\nmetadata: {name: 1a}\n"),
            "f: Service name \"1a\" is not a DNS-1035 label"
        );
        assert_eq!(
            e(
                "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {ports: [{port: 70000}]}\n"
            ),
            "f: Service a: port 70000 is out of range"
        );
        assert_eq!(
            e(
                "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {ports: [{port: 1, protocol: 'X=Y'}]}\n"
            ),
            "f: Service a: protocol \"X=Y\" is not TCP, UDP or SCTP"
        );
        assert_eq!(
            e(
                "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {ports: [{port: 1, name: 'A=B'}]}\n"
            ),
            "f: Service a: port name \"A=B\" is not a DNS-1123 label"
        );
        let m = parse_manifest("f", "").unwrap();
        assert!(m.pods.is_empty() && m.notes.is_empty());
        // A field that is null says nothing, so nothing is ignored.
        let m = parse_manifest(
            "f",
            "apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: null}\nspec: {affinity: null, tolerations: [], containers: [{name: a, command: []}]}\n",
        )
        .unwrap();
        assert_eq!(m.notes, Vec::<String>::new());
        let m = parse_manifest(
            "f",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\nspec: {replicas: 0, selector: {matchLabels: {x: y}}, template: {spec: {containers: [{name: a}]}}}\n",
        )
        .unwrap();
        assert!(m.pods.is_empty());
        assert_eq!(
            m.notes,
            ["f: Deployment a asks for no replicas: not started"]
        );
        // Labels from the selector when the template has none.
        let m = parse_manifest(
            "f",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\nspec: {selector: {matchLabels: {x: y}}, template: {spec: {containers: [{name: a}]}}}\n",
        )
        .unwrap();
        assert_eq!(m.pods[0].labels, BTreeMap::from([("x".into(), "y".into())]));
        assert!(m.pods[0].deployment);
    }

    fn pod(yaml_spec: &str) -> Manifest {
        parse_manifest(
            "f",
            &format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: p, labels: {{app: p}}}}\nspec: {yaml_spec}\n"),
        )
        .unwrap()
    }

    #[test]
    fn plan_refusals() {
        let o = PlayOptions {
            network: "n".into(),
            rootfs: vec![("img".into(), "/r".into())],
        };
        let e = |spec: &str| plan(&pod(spec), &o).unwrap_err().to_string();
        assert_eq!(
            e("{containers: [{name: a, image: other}]}"),
            "p: container a runs image \"other\", and no rootfs is known for it: pass --rootfs other=DIR"
        );
        assert_eq!(
            e("{containers: [{name: a, image: img}, {name: a, image: img}]}"),
            "f: pod p: two containers are named a"
        );
        assert_eq!(
            e("{containers: [{name: A_b, image: img}]}"),
            "f: pod p: container name \"A_b\" is not a DNS-1123 label"
        );
        assert_eq!(
            e("{containers: [{name: a, image: img, ports: [{containerPort: 70000}]}]}"),
            "f: pod p: container port 70000 is out of range"
        );
        assert_eq!(
            e(
                "{containers: [{name: a, image: img, ports: [{containerPort: 1, hostPort: 70000}]}]}"
            ),
            "f: pod p: host port 70000 is out of range"
        );
        assert_eq!(
            e("{containers: [{name: a, image: img, volumeMounts: [{name: v, mountPath: /v}]}]}"),
            "f: pod p: container a: volume v is not in the pod's volumes"
        );
        assert_eq!(
            e("{containers: [{name: a, image: img, resources: {limits: {memory: lots}}}]}"),
            "f: pod p: container a: memory limit \"lots\" is not a quantity"
        );
        assert_eq!(
            e("{containers: [{name: a, image: img, resources: {limits: {cpu: x}}}]}"),
            "f: pod p: container a: cpu limit \"x\" is not a quantity"
        );
        assert_eq!(
            e(
                "{volumes: [{name: v, emptyDir: {sizeLimit: x}}], containers: [{name: a, image: img, volumeMounts: [{name: v, mountPath: /v}]}]}"
            ),
            "f: pod p: container a: sizeLimit \"x\" is not a quantity"
        );
        assert_eq!(
            e("{restartPolicy: Sometimes, containers: [{name: a, image: img}]}"),
            "f: pod p: container a: restartPolicy \"Sometimes\" is not Always, OnFailure or Never"
        );
        assert_eq!(
            e("{containers: [{name: a, image: img, env: [{name: 'A=B', value: x}]}]}"),
            "f: pod p: container a: environment variable name \"A=B\" is not valid"
        );
        assert_eq!(
            e(
                "{volumes: [{name: v, emptyDir: {}}], containers: [{name: a, image: img, volumeMounts: [{name: v, mountPath: '/t:exec,uid=5'}]}]}"
            ),
            "f: pod p: container a: mountPath \"/t:exec,uid=5\" holds a ':', which rrun cannot mount at"
        );
        assert_eq!(
            e(
                "{volumes: [{name: v, hostPath: {path: '/h:/x'}}], containers: [{name: a, image: img, volumeMounts: [{name: v, mountPath: /v}]}]}"
            ),
            "f: pod p: container a: hostPath \"/h:/x\" holds a ':', which rrun cannot mount"
        );
        assert_eq!(
            e("{containers: [{name: a, image: img, env: [{name: ''}]}]}"),
            "f: pod p: container a: environment variable name \"\" is not valid"
        );
        // A value that looks like a flag stays the flag's value.
        let (runs, _) = plan(
            &pod("{containers: [{name: a, image: img, workingDir: --privileged, env: [{name: X, value: --privileged}]}]}"),
            &o,
        )
        .unwrap();
        let f = strs(&runs[0].ctrs[0].flags);
        assert!(f.contains(&"--workdir=--privileged".to_string()), "{f:?}");
        assert!(f.contains(&"--env=X=--privileged".to_string()), "{f:?}");
        assert!(!f.contains(&"--privileged".to_string()), "{f:?}");
        let mut m = pod("{containers: [{name: a, image: img}]}");
        m.pods.push(m.pods[0].clone());
        assert_eq!(
            plan(&m, &o).unwrap_err().to_string(),
            "f: two pods are named p"
        );
    }

    #[test]
    fn plan_variants() {
        let o = PlayOptions {
            network: "n".into(),
            rootfs: vec![("docker.io/library/img".into(), "/r".into())],
        };
        let m = pod(
            "{hostNetwork: true, restartPolicy: Never, containers: [{name: a, image: 'img:latest', ports: [{containerPort: 5, hostPort: 6}, {containerPort: 7}], securityContext: {runAsGroup: 3}, volumeMounts: [{name: e, mountPath: /e, readOnly: true}]}], volumes: [{name: e, emptyDir: {medium: Memory}}]}",
        );
        let (runs, notes) = plan(&m, &o).unwrap();
        assert_eq!(
            strs(&runs[0].ctrs[0].flags),
            [
                "--name=p-a",
                "--label=io.rrun.kube.pod=p",
                "--net=host",
                "--publish=6:5/tcp",
                "--tmpfs=/e:ro"
            ]
        );
        assert!(
            notes
                .iter()
                .any(|n| n.contains("runAsGroup without runAsUser")),
            "{notes:?}"
        );
        // A Service selecting nothing here.
        let mut m = pod(
            "{containers: [{name: pp, image: img, command: [x], resources: {limits: {cpu: '2'}}}]}",
        );
        m.services.push(ServiceDef {
            name: "s".into(),
            selector: BTreeMap::from([("app".into(), "other".into())]),
            ports: vec![],
            headless: false,
        });
        m.services.push(ServiceDef {
            name: "all".into(),
            selector: BTreeMap::new(),
            ports: vec![],
            headless: false,
        });
        let (runs, notes) = plan(&m, &o).unwrap();
        assert!(
            runs[0].services.is_empty(),
            "an empty selector selects nothing"
        );
        assert_eq!(runs[0].ctrs[0].name, "p-pp");
        assert_eq!(
            strs(&runs[0].ctrs[0].flags)[3..],
            ["--cpus=2", "--restart=always"]
        );
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(notes[0].contains("Service s: selects none of the pods"));
        // The annotation's rootfs, when no --rootfs names the image.
        let m = pod("{containers: [{name: pp, image: zz}]}");
        let mut m2 = m;
        m2.pods[0]
            .annotations
            .insert(format!("{ROOTFS_ANNOTATION}/pp"), "/ann".into());
        let (runs, _) = plan(&m2, &o).unwrap();
        assert_eq!(runs[0].ctrs[0].rootfs, "/ann");
        // --rootfs wins over the annotation.
        let o2 = PlayOptions {
            network: "n".into(),
            rootfs: vec![("zz".into(), "/given".into())],
        };
        let (runs, _) = plan(&m2, &o2).unwrap();
        assert_eq!(runs[0].ctrs[0].rootfs, "/given");
        // A kept restart policy wins; a Deployment restarts always.
        let mut m3 = pod("{restartPolicy: Never, containers: [{name: pp, image: zz}]}");
        m3.pods[0]
            .annotations
            .insert(format!("{RESTART_ANNOTATION}/pp"), "on-failure:4".into());
        let (runs, _) = plan(&m3, &o2).unwrap();
        assert!(strs(&runs[0].ctrs[0].flags).ends_with(&["--restart=on-failure:4".into()]));
        m3.pods[0].annotations.clear();
        let (runs, _) = plan(&m3, &o2).unwrap();
        assert!(
            !strs(&runs[0].ctrs[0].flags)
                .iter()
                .any(|f| f.starts_with("--restart"))
        );
        m3.pods[0].deployment = true;
        let (runs, _) = plan(&m3, &o2).unwrap();
        assert!(strs(&runs[0].ctrs[0].flags).ends_with(&["--restart=always".into()]));
    }

    #[test]
    fn selection() {
        let m = pod("{containers: [{name: p, image: i}]}");
        let p = &m.pods[0];
        let s = |sel: &[(&str, &str)]| ServiceDef {
            name: "s".into(),
            selector: sel
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            ports: vec![],
            headless: false,
        };
        assert!(selects(&s(&[("app", "p")]), p));
        assert!(!selects(&s(&[("app", "q")]), p));
        assert!(!selects(&s(&[("app", "p"), ("x", "y")]), p));
        assert!(!selects(&s(&[]), p));
        assert_eq!(run_name("p", "p"), "p");
        assert_eq!(run_name("p", "q"), "p-q");
    }
}

//! The image's small documents: the reference it is named by (normalised
//! as Docker does), its config, the OCI manifest and index, and Docker's
//! manifest.json. Pure; every document is compact JSON with its keys in
//! sorted order and no trailing newline, so that the same input gives the
//! same bytes, and so the same digests.

use serde_json::Value;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RefError {
    #[error(
        "invalid reference format: {0:?} (a name is lowercase letters, digits and . _ - separators, with an optional :TAG)"
    )]
    Invalid(String),
    #[error(
        "invalid reference format: {0:?} (a digest cannot name an image being saved; give a tag)"
    )]
    Digest(String),
}

/// An image name, normalised: `domain/path:tag`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub domain: String,
    pub path: String,
    pub tag: String,
}

const DOCKER_HUB: &str = "docker.io";

impl Reference {
    /// Parse `NAME[:TAG]` as `docker tag` does: no registry means Docker
    /// Hub, and a one-part Hub name is in `library/`; the tag defaults to
    /// `latest`.
    pub fn parse(s: &str) -> Result<Reference, RefError> {
        let bad = || RefError::Invalid(s.to_string());
        if s.contains('@') {
            return Err(RefError::Digest(s.to_string()));
        }
        let last = s.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match s[last..].rfind(':') {
            Some(i) => (&s[..last + i], &s[last + i + 1..]),
            None => (s, "latest"),
        };
        if !valid_tag(tag) {
            return Err(bad());
        }
        let (domain, path) = match name.split_once('/') {
            Some((d, rest)) if d.contains(['.', ':']) || d == "localhost" => {
                (d.to_string(), rest.to_string())
            }
            _ => (DOCKER_HUB.to_string(), name.to_string()),
        };
        if !valid_domain(&domain) || path.is_empty() || !path.split('/').all(valid_component) {
            return Err(bad());
        }
        let path = if domain == DOCKER_HUB && !path.contains('/') {
            format!("library/{path}")
        } else {
            path
        };
        if domain.len() + 1 + path.len() > 255 {
            return Err(bad());
        }
        Ok(Reference {
            domain,
            path,
            tag: tag.to_string(),
        })
    }

    /// The full reference: `docker.io/library/web:1.0`.
    pub fn full(&self) -> String {
        format!("{}/{}:{}", self.domain, self.path, self.tag)
    }

    /// The form Docker shows: `web:1.0`, `user/web:1.0`,
    /// `localhost/web:latest`.
    pub fn familiar(&self) -> String {
        if self.domain != DOCKER_HUB {
            return self.full();
        }
        let p = self.path.strip_prefix("library/").unwrap_or(&self.path);
        format!("{p}:{}", self.tag)
    }
}

fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// One path component: `[a-z0-9]+` runs joined by `.`, `_`, `__` or any
/// number of `-`.
fn valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-')) {
            return false;
        }
    }
    true
}

fn valid_domain(d: &str) -> bool {
    let (host, port) = match d.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (d, None),
    };
    port.is_none_or(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()))
        && !host.is_empty()
        && host.split('.').all(|l| {
            !l.is_empty()
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
        })
}

/// A default name for an image of the directory or container `base`:
/// `localhost/<base, made a valid name>:latest`.
pub fn default_reference(base: &str) -> Reference {
    let mut path = crate::spec::label_chars(base);
    path.truncate(128);
    let path = path.trim_end_matches('-');
    Reference {
        domain: "localhost".into(),
        path: if path.is_empty() { "rootfs" } else { path }.to_string(),
        tag: "latest".into(),
    }
}

/// The architecture as Go (and so image configs) names it.
pub fn go_arch(rust: &str) -> &str {
    match rust {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        "riscv64" => "riscv64",
        "s390x" => "s390x",
        other => other,
    }
}

/// What the image runs: Docker's Config fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunConfig {
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    /// `"80/tcp"` and the like.
    pub exposed: Vec<String>,
    pub user: String,
    pub workdir: String,
}

/// `s` as a JSON string.
fn q(s: &str) -> String {
    Value::String(s.into()).to_string()
}

/// Strings as a JSON array.
fn list<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let v: Vec<String> = items.into_iter().map(q).collect();
    format!("[{}]", v.join(","))
}

/// The image config: `created` is the fixed time (RFC 3339), `diff_id`
/// the uncompressed layer's digest (`sha256:…`). Keys in sorted order.
pub fn config(arch: &str, rc: &RunConfig, created: &str, diff_id: &str) -> Vec<u8> {
    let mut c: Vec<String> = Vec::new();
    if !rc.cmd.is_empty() {
        c.push(format!(
            "\"Cmd\":{}",
            list(rc.cmd.iter().map(String::as_str))
        ));
    }
    if !rc.env.is_empty() {
        c.push(format!(
            "\"Env\":{}",
            list(rc.env.iter().map(String::as_str))
        ));
    }
    if !rc.exposed.is_empty() {
        let mut ports: Vec<&String> = rc.exposed.iter().collect();
        ports.sort();
        ports.dedup();
        let p: Vec<String> = ports
            .into_iter()
            .map(|p| format!("{}:{{}}", q(p)))
            .collect();
        c.push(format!("\"ExposedPorts\":{{{}}}", p.join(",")));
    }
    if !rc.user.is_empty() {
        c.push(format!("\"User\":{}", q(&rc.user)));
    }
    if !rc.workdir.is_empty() {
        c.push(format!("\"WorkingDir\":{}", q(&rc.workdir)));
    }
    let created = q(created);
    format!(
        "{{\"architecture\":{},\"config\":{{{}}},\"created\":{created},\"history\":[{{\"created\":{created},\"created_by\":\"rrun image save\"}}],\"os\":\"linux\",\"rootfs\":{{\"diff_ids\":[{}],\"type\":\"layers\"}}}}",
        q(arch),
        c.join(","),
        q(diff_id)
    )
    .into_bytes()
}

/// A content descriptor: digest, media type, size (and annotations first,
/// when there are some).
fn descriptor(annotations: &str, digest: &str, media: &str, size: u64) -> String {
    format!(
        "{{{annotations}\"digest\":{},\"mediaType\":{},\"size\":{size}}}",
        q(digest),
        q(media)
    )
}

pub const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";

/// The OCI image manifest of one gzip layer.
pub fn manifest(config: (&str, u64), layer: (&str, u64)) -> Vec<u8> {
    format!(
        "{{\"config\":{},\"layers\":[{}],\"mediaType\":{},\"schemaVersion\":2}}",
        descriptor(
            "",
            config.0,
            "application/vnd.oci.image.config.v1+json",
            config.1
        ),
        descriptor(
            "",
            layer.0,
            "application/vnd.oci.image.layer.v1.tar+gzip",
            layer.1
        ),
        q(MANIFEST_TYPE)
    )
    .into_bytes()
}

/// index.json: the manifest, named fully for containerd and podman and by
/// its tag for OCI tools.
pub fn index(manifest: (&str, u64), r: &Reference) -> Vec<u8> {
    let ann = format!(
        "\"annotations\":{{\"io.containerd.image.name\":{},\"org.opencontainers.image.ref.name\":{}}},",
        q(&r.full()),
        q(&r.tag)
    );
    format!(
        "{{\"manifests\":[{}],\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"schemaVersion\":2}}",
        descriptor(&ann, manifest.0, MANIFEST_TYPE, manifest.1)
    )
    .into_bytes()
}

/// Docker's manifest.json: paths into blobs/sha256 (digests without
/// their `sha256:`).
pub fn docker_manifest(config_hex: &str, layer_hex: &str, r: &Reference) -> Vec<u8> {
    format!(
        "[{{\"Config\":{},\"Layers\":[{}],\"RepoTags\":[{}]}}]",
        q(&format!("blobs/sha256/{config_hex}")),
        q(&format!("blobs/sha256/{layer_hex}")),
        q(&r.familiar())
    )
    .into_bytes()
}

pub const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> Reference {
        Reference::parse(s).unwrap()
    }

    #[test]
    fn references_normalise_as_docker() {
        assert_eq!(r("web").full(), "docker.io/library/web:latest");
        assert_eq!(r("web:1.0").full(), "docker.io/library/web:1.0");
        assert_eq!(r("web:1.0").familiar(), "web:1.0");
        assert_eq!(r("me/web").full(), "docker.io/me/web:latest");
        assert_eq!(r("me/web").familiar(), "me/web:latest");
        assert_eq!(r("localhost/web").full(), "localhost/web:latest");
        assert_eq!(r("localhost/web").familiar(), "localhost/web:latest");
        assert_eq!(
            r("registry.example:5000/a/b:v_1.2-x").full(),
            "registry.example:5000/a/b:v_1.2-x"
        );
        assert_eq!(r("host:5000/a").tag, "latest");
        assert_eq!(r("host:5000/a").domain, "host:5000");
        assert_eq!(r("a.b__c-d---e").path, "library/a.b__c-d---e");
        assert_eq!(r("docker.io/library/x").familiar(), "x:latest");
        assert_eq!(r("docker.io/x").path, "library/x");
        for bad in [
            "",
            "Web",
            "web:",
            ":tag",
            "web:-x",
            "web:.x",
            "a//b",
            "a/",
            "/a",
            "a..b",
            "a-",
            "-a",
            "a___b",
            "host:port/x",
            "web:t!",
            "a b",
        ] {
            assert_eq!(
                Reference::parse(bad),
                Err(RefError::Invalid(bad.into())),
                "{bad}"
            );
        }
        assert!(matches!(
            Reference::parse("web@sha256:00"),
            Err(RefError::Digest(_))
        ));
        assert!(Reference::parse(&format!("web:{}", "t".repeat(128))).is_ok());
        assert!(Reference::parse(&format!("web:{}", "t".repeat(129))).is_err());
        assert!(Reference::parse(&format!("x/{}", "a".repeat(250))).is_err());
        // The name is at most 255 bytes with its domain: docker.io/x/… is
        // 9 + 1 + 2 + n.
        assert!(Reference::parse(&format!("x/{}", "a".repeat(243))).is_ok());
        assert!(Reference::parse(&format!("x/{}", "a".repeat(244))).is_err());
        // A long domain counts too.
        let d = format!("{}.io", "h".repeat(60));
        assert!(Reference::parse(&format!("{d}/{}", "p".repeat(191))).is_ok());
        assert!(Reference::parse(&format!("{d}/{}", "p".repeat(192))).is_err());
        assert!(Reference::parse("_tag:_t").is_err());
        assert_eq!(r("w:_t").tag, "_t");
        assert!(Reference::parse("-bad.host/x").is_err());
        assert!(Reference::parse("bad-.host/x").is_err());
        assert!(Reference::parse("ho_st.x/x").is_err());
        assert!(Reference::parse("h.x:/x").is_err());
    }

    #[test]
    fn default_names() {
        assert_eq!(
            default_reference("rootfs").full(),
            "localhost/rootfs:latest"
        );
        assert_eq!(default_reference("My_Root fs!").path, "my-root-fs");
        assert_eq!(default_reference("__").path, "rootfs");
        assert_eq!(default_reference("").path, "rootfs");
        assert_eq!(default_reference("-a--b-").path, "a-b");
        let long = default_reference(&format!("{}-{}", "a".repeat(127), "b".repeat(300)));
        assert_eq!(long.path, "a".repeat(127));
        assert!(Reference::parse(&long.full()).is_ok());
        for b in ["x.y", "Ünïcode", "a b c", "9"] {
            let d = default_reference(b);
            assert_eq!(Reference::parse(&d.full()), Ok(d.clone()), "{b}");
        }
    }

    #[test]
    fn arch_names() {
        assert_eq!(go_arch("x86_64"), "amd64");
        assert_eq!(go_arch("aarch64"), "arm64");
        assert_eq!(go_arch("x86"), "386");
        assert_eq!(go_arch("powerpc64"), "ppc64le");
        assert_eq!(go_arch("riscv64"), "riscv64");
        assert_eq!(go_arch("s390x"), "s390x");
        assert_eq!(go_arch("mips"), "mips");
    }

    #[test]
    fn documents_are_compact_and_sorted() {
        let rc = RunConfig {
            cmd: vec!["/bin/sh".into(), "-c".into(), "echo hi".into()],
            env: vec!["PATH=/bin".into(), "A=b".into()],
            exposed: vec!["80/tcp".into(), "53/udp".into(), "80/tcp".into()],
            user: "1000:1000".into(),
            workdir: "/srv".into(),
        };
        let c = config("amd64", &rc, "1970-01-01T00:00:00Z", "sha256:ab");
        assert_eq!(
            String::from_utf8(c).unwrap(),
            r#"{"architecture":"amd64","config":{"Cmd":["/bin/sh","-c","echo hi"],"Env":["PATH=/bin","A=b"],"ExposedPorts":{"53/udp":{},"80/tcp":{}},"User":"1000:1000","WorkingDir":"/srv"},"created":"1970-01-01T00:00:00Z","history":[{"created":"1970-01-01T00:00:00Z","created_by":"rrun image save"}],"os":"linux","rootfs":{"diff_ids":["sha256:ab"],"type":"layers"}}"#
        );
        let odd = RunConfig {
            env: vec!["Q=\"a\"\n\\".into()],
            ..Default::default()
        };
        let v: Value = serde_json::from_slice(&config("x", &odd, "t", "d")).unwrap();
        assert_eq!(v["config"]["Env"][0], "Q=\"a\"\n\\");
        let c = config("arm64", &RunConfig::default(), "t", "d");
        assert_eq!(
            String::from_utf8(c).unwrap(),
            r#"{"architecture":"arm64","config":{},"created":"t","history":[{"created":"t","created_by":"rrun image save"}],"os":"linux","rootfs":{"diff_ids":["d"],"type":"layers"}}"#
        );
        let m = manifest(("sha256:c", 10), ("sha256:l", 20));
        assert_eq!(
            String::from_utf8(m).unwrap(),
            r#"{"config":{"digest":"sha256:c","mediaType":"application/vnd.oci.image.config.v1+json","size":10},"layers":[{"digest":"sha256:l","mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","size":20}],"mediaType":"application/vnd.oci.image.manifest.v1+json","schemaVersion":2}"#
        );
        let i = index(("sha256:m", 30), &r("web:1.0"));
        assert_eq!(
            String::from_utf8(i).unwrap(),
            r#"{"manifests":[{"annotations":{"io.containerd.image.name":"docker.io/library/web:1.0","org.opencontainers.image.ref.name":"1.0"},"digest":"sha256:m","mediaType":"application/vnd.oci.image.manifest.v1+json","size":30}],"mediaType":"application/vnd.oci.image.index.v1+json","schemaVersion":2}"#
        );
        let d = docker_manifest("c", "l", &r("web:1.0"));
        assert_eq!(
            String::from_utf8(d).unwrap(),
            r#"[{"Config":"blobs/sha256/c","Layers":["blobs/sha256/l"],"RepoTags":["web:1.0"]}]"#
        );
    }

    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

        /// No name makes the parser panic; one it accepts, written out in
        /// full, parses back to itself; a default name is always valid.
        #[test]
        fn references_never_panic_and_round_trip(
            s in proptest::string::string_regex("[a-zA-Z0-9._:/@-]{0,40}").unwrap(),
            any_text in ".{0,40}",
        ) {
            for t in [&s, &any_text] {
                if let Ok(r) = Reference::parse(t) {
                    prop_assert_eq!(Reference::parse(&r.full()), Ok(r.clone()));
                    prop_assert_eq!(Reference::parse(&r.familiar()), Ok(r.clone()));
                }
                let d = default_reference(t);
                prop_assert_eq!(Reference::parse(&d.full()), Ok(d));
            }
        }
    }
}

//! `rrun rename CONTAINER NEW_NAME`, running or not, with Docker's
//! checks and words. Under the state directory's lock: the new name is
//! taken with symlink(2) (so a racing start or rename never gets it too),
//! the record's config.json rewritten, the old name given up. As in
//! Docker, a container that links to the renamed one shows the new name
//! in its HostConfig.Links and NAMES, and a renamed linker's `rrun exec`
//! sees its link variables under its new name; nothing running is
//! changed (its /etc/hosts and environment stay as they were).

use std::ffi::OsString;

use crate::cli;
use crate::spec::{self, SpecError};
use crate::state::{self, LinkConf, State, StateError};

#[derive(Debug, thiserror::Error)]
pub enum RenameError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error("Neither old nor new names may be empty")]
    Empty,
    #[error("Renaming a container with the same name as its current name")]
    Same,
    /// The name as Docker shows it (with its leading slash), and why.
    #[error("Error when allocating new name: {}", name_text(.0, .1))]
    BadName(String, SpecError),
    #[error(
        "Error when allocating new name: Conflict. The container name \"/{0}\" is already in use by container \"{1}\". You have to remove (or rename) that container to be able to reuse that name."
    )]
    InUse(String, String),
    #[error("renaming container {0}: writing {1}: {2}")]
    Write(String, String, String),
}

impl RenameError {
    pub fn exit_code(&self) -> i32 {
        match self {
            RenameError::Write(..) => 125,
            RenameError::State(e) => e.exit_code(),
            _ => 1,
        }
    }
}

/// Docker validates "/NAME": its error shows the slash.
fn slashed(name: &str) -> String {
    if name.starts_with('/') {
        name.to_string()
    } else {
        format!("/{name}")
    }
}

fn name_text(shown: &str, e: &SpecError) -> String {
    match e {
        SpecError::LongName(_) => SpecError::LongName(shown.to_string()).to_string(),
        _ => SpecError::BadName(shown.to_string()).to_string(),
    }
}

/// The environment of a renamed container: each of its link's
/// `ALIAS_NAME=/OLD/alias` now says `/NEW/alias`, as Docker's exec gives
/// it (the variable is made as hosts.rs makes it at the start).
pub fn rename_link_env(
    env: &[OsString],
    links: &[LinkConf],
    old: &str,
    new: &str,
) -> Vec<OsString> {
    let any = std::net::IpAddr::from([0, 0, 0, 0]);
    let name_var = |alias: &str, linker: &str| {
        crate::hosts::link_env(alias, linker, any, &[], &[])
            .into_iter()
            .next()
            .map(|(k, v)| (format!("{k}={}", v.to_string_lossy()), k, v))
    };
    let mut out = env.to_vec();
    for l in links {
        let (Some((was, ..)), Some((_, key, value))) =
            (name_var(&l.alias, old), name_var(&l.alias, new))
        else {
            continue;
        };
        for e in out.iter_mut().filter(|e| e.as_os_str() == was.as_str()) {
            *e = crate::bytes::join(key.as_ref(), b'=', &value);
        }
    }
    out
}

pub fn rename(a: &cli::RenameArgs) -> Result<i32, RenameError> {
    if a.container.is_empty() || a.new_name.is_empty() {
        return Err(RenameError::Empty);
    }
    let st = State::open()?;
    let lock = st.lock()?;
    let r = st.find(&a.container)?;
    let id = r.id().to_string();
    let old = r.config.name.clone();
    let shown = slashed(&a.new_name);
    if shown == slashed(&old) {
        return Err(RenameError::Same);
    }
    let new = spec::validate_name(&a.new_name).map_err(|e| RenameError::BadName(shown, e))?;
    st.reserve_name_locked(&lock, &new, &id)
        .map_err(|e| match e {
            StateError::NameInUse(n, owner) => RenameError::InUse(n, owner),
            e => e.into(),
        })?;
    let mut c = r.config.clone();
    c.env = rename_link_env(&c.env, &c.links, &old, &new);
    c.name = new.clone();
    let path = r.dir.join("config.json");
    if let Err(e) = state::write_json(&path, &c) {
        st.release_name(&new, &id);
        return Err(RenameError::Write(
            a.container.clone(),
            path.display().to_string(),
            crate::sys::errno_text(&e),
        ));
    }
    st.release_name(&old, &id);
    // On a user-defined network, the new name resolves and the old one
    // no longer does, as in Docker.
    if let Some(n) = r
        .state
        .net
        .as_ref()
        .filter(|n| !n.released && n.network.is_some())
    {
        crate::net::dnsnames::rename(&crate::net::Net::of(&st, n), &id, &new);
    }
    // And on the networks it was connected to since (`network connect`).
    for a in &r.attachments {
        crate::net::dnsnames::rename(&crate::net::Net::user(&st, &a.network), &id, &new);
    }
    // Those linking to it show its new name (HostConfig.Links); best
    // effort: a record that cannot be rewritten shows the old one.
    let (records, _) = st.list();
    for mut linker in records {
        let mut changed = false;
        for l in linker.config.links.iter_mut().filter(|l| l.target_id == id) {
            l.target_name = new.clone();
            changed = true;
        }
        if changed {
            let _ = state::write_json(&linker.dir.join("config.json"), &linker.config);
        }
    }
    drop(lock);
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_texts() {
        let bad = |n: &str| {
            let e = spec::validate_name(n).unwrap_err();
            RenameError::BadName(slashed(n), e).to_string()
        };
        assert_eq!(
            bad("bad name"),
            "Error when allocating new name: Invalid container name (/bad name), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        );
        assert_eq!(
            bad("//x2"),
            "Error when allocating new name: Invalid container name (//x2), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        );
        assert_eq!(
            bad(&"x".repeat(129)),
            format!(
                "Error when allocating new name: Invalid container name (/{}): at most 128 characters are allowed",
                "x".repeat(129)
            )
        );
        assert_eq!(
            RenameError::InUse("bb1".into(), "c1ff".into()).to_string(),
            "Error when allocating new name: Conflict. The container name \"/bb1\" is already in use by container \"c1ff\". You have to remove (or rename) that container to be able to reuse that name."
        );
        assert_eq!(
            RenameError::Same.to_string(),
            "Renaming a container with the same name as its current name"
        );
        assert_eq!(
            RenameError::Empty.to_string(),
            "Neither old nor new names may be empty"
        );
        assert_eq!(slashed("/a"), "/a");
        assert_eq!(slashed("a"), "/a");
        for (e, code) in [
            (RenameError::Empty, 1),
            (RenameError::Same, 1),
            (RenameError::InUse("a".into(), "b".into()), 1),
            (RenameError::State(StateError::NoSuch("x".into())), 1),
            (
                RenameError::State(StateError::NotDir("/x".into(), "RRUN_ROOT")),
                125,
            ),
            (RenameError::Write("a".into(), "b".into(), "c".into()), 125),
        ] {
            assert_eq!(e.exit_code(), code, "{e}");
        }
    }

    #[test]
    fn link_variables_follow_the_linker() {
        let os = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        let link = |alias: &str| LinkConf {
            target_id: "t".into(),
            target_name: "db".into(),
            alias: alias.into(),
        };
        let env = os(&[
            "PATH=/bin",
            "DB_NAME=/web/db",
            "DB_PORT=tcp://172.17.0.2:5432",
            "MY_DB-X_NAME=/web/my_db-x",
            "MY_DB_X_NAME=/web/my_db-x",
            "OTHER_NAME=/web/db",
            "DB_NAME=/web2/db",
        ]);
        let got = rename_link_env(&env, &[link("db"), link("my_db-x")], "web", "web2");
        assert_eq!(
            got,
            os(&[
                "PATH=/bin",
                "DB_NAME=/web2/db",
                "DB_PORT=tcp://172.17.0.2:5432",
                "MY_DB-X_NAME=/web/my_db-x",
                "MY_DB_X_NAME=/web2/my_db-x",
                "OTHER_NAME=/web/db",
                "DB_NAME=/web2/db",
            ])
        );
        assert_eq!(rename_link_env(&env, &[], "web", "web2"), env);
    }
}

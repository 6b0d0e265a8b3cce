//! Restart policies (`--restart`): their parsing, in Docker's words, and
//! the decisions a container's monitor takes when its process exits —
//! whether to start it again, and after how long (Docker's back-off:
//! 100 ms doubling, capped at one minute, back to 100 ms once a run lasted
//! 10 s). Pure: the monitor owns the clock and the waiting.

use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RestartError {
    #[error("invalid restart policy format")]
    Format,
    #[error("invalid restart policy {0}")]
    Name(String),
    #[error("maximum retry count cannot be used with restart policy '{0}'")]
    CountNotAllowed(String),
    #[error("maximum retry count cannot be negative")]
    Negative,
    #[error("strconv.Atoi: parsing {0}: invalid syntax")]
    Count(String),
    #[error("Conflicting options: --restart and --rm")]
    WithRm,
}

/// When a container's process is started again after it exits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Policy {
    #[default]
    No,
    /// On a non-zero exit, at most this many times (0: without a limit).
    OnFailure(u32),
    Always,
    UnlessStopped,
}

impl Policy {
    /// Docker's HostConfig.RestartPolicy.Name ("no" for none).
    pub fn name(self) -> &'static str {
        match self {
            Policy::No => "no",
            Policy::OnFailure(_) => "on-failure",
            Policy::Always => "always",
            Policy::UnlessStopped => "unless-stopped",
        }
    }

    /// HostConfig.RestartPolicy.MaximumRetryCount.
    pub fn max_retries(self) -> u32 {
        match self {
            Policy::OnFailure(n) => n,
            _ => 0,
        }
    }
}

/// `--restart no|on-failure[:N]|always|unless-stopped`, refused with
/// `--rm` as Docker refuses it.
pub fn parse(raw: &str, rm: bool) -> Result<Policy, RestartError> {
    let mut parts = raw.split(':');
    let name = parts.next().unwrap_or_default();
    let count = parts.next();
    if parts.next().is_some() {
        return Err(RestartError::Format);
    }
    let policy = match name {
        "" | "no" => {
            if count.is_some() {
                return Err(RestartError::CountNotAllowed(name.into()));
            }
            Policy::No
        }
        "always" | "unless-stopped" => {
            if count.is_some() {
                return Err(RestartError::CountNotAllowed(name.into()));
            }
            if name == "always" {
                Policy::Always
            } else {
                Policy::UnlessStopped
            }
        }
        "on-failure" => match count {
            None => Policy::OnFailure(0),
            Some(c) => {
                let n: i64 = c
                    .parse()
                    .map_err(|_| RestartError::Count(crate::goquote::quote(c)))?;
                if n < 0 {
                    return Err(RestartError::Negative);
                }
                Policy::OnFailure(u32::try_from(n).map_err(|_| RestartError::Count(c.into()))?)
            }
        },
        other => return Err(RestartError::Name(other.into())),
    };
    if rm && policy != Policy::No {
        return Err(RestartError::WithRm);
    }
    Ok(policy)
}

/// Whether a process that exited with `code`, after `restarts` restarts,
/// starts again. `stopped`: the user stopped it (stop, rm -f, restart's
/// own stop), which ends every policy.
pub fn again(p: Policy, code: i32, restarts: u32, stopped: bool) -> bool {
    if stopped {
        return false;
    }
    match p {
        Policy::No => false,
        Policy::Always | Policy::UnlessStopped => true,
        Policy::OnFailure(max) => code != 0 && (max == 0 || restarts < max),
    }
}

/// The first wait before a restart.
pub const FIRST_DELAY: Duration = Duration::from_millis(100);
/// The longest wait.
pub const MAX_DELAY: Duration = Duration::from_secs(60);
/// A run at least this long resets the wait.
pub const RESET_AFTER: Duration = Duration::from_secs(10);

/// The wait before the next restart, given the last one (`None`: this is
/// the first) and how long the process ran.
pub fn delay(last: Option<Duration>, ran: Duration) -> Duration {
    match last {
        Some(d) if ran < RESET_AFTER => (d * 2).min(MAX_DELAY),
        _ => FIRST_DELAY,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_policies() {
        assert_eq!(parse("no", false), Ok(Policy::No));
        assert_eq!(parse("", false), Ok(Policy::No));
        assert_eq!(parse("always", false), Ok(Policy::Always));
        assert_eq!(parse("unless-stopped", false), Ok(Policy::UnlessStopped));
        assert_eq!(parse("on-failure", false), Ok(Policy::OnFailure(0)));
        assert_eq!(parse("on-failure:3", false), Ok(Policy::OnFailure(3)));
        assert_eq!(parse("on-failure:0", false), Ok(Policy::OnFailure(0)));
        assert_eq!(parse("no", true), Ok(Policy::No));
    }

    #[test]
    fn refuses_what_docker_refuses() {
        assert_eq!(parse("a:b:c", false), Err(RestartError::Format));
        assert_eq!(
            parse("sometimes", false),
            Err(RestartError::Name("sometimes".into()))
        );
        assert_eq!(
            parse("always:3", false),
            Err(RestartError::CountNotAllowed("always".into()))
        );
        assert_eq!(
            parse("unless-stopped:1", false),
            Err(RestartError::CountNotAllowed("unless-stopped".into()))
        );
        assert_eq!(
            parse("no:1", false),
            Err(RestartError::CountNotAllowed("no".into()))
        );
        assert_eq!(parse("on-failure:-1", false), Err(RestartError::Negative));
        assert_eq!(
            parse("on-failure:x", false),
            Err(RestartError::Count("\"x\"".into()))
        );
        assert_eq!(parse("always", true), Err(RestartError::WithRm));
        assert_eq!(parse("on-failure", true), Err(RestartError::WithRm));
        assert_eq!(
            RestartError::Count("\"x\"".into()).to_string(),
            "strconv.Atoi: parsing \"x\": invalid syntax"
        );
    }

    #[test]
    fn names_and_counts() {
        assert_eq!(Policy::No.name(), "no");
        assert_eq!(Policy::OnFailure(2).name(), "on-failure");
        assert_eq!(Policy::Always.name(), "always");
        assert_eq!(Policy::UnlessStopped.name(), "unless-stopped");
        assert_eq!(Policy::OnFailure(2).max_retries(), 2);
        assert_eq!(Policy::Always.max_retries(), 0);
    }

    #[test]
    fn decides_like_docker() {
        assert!(!again(Policy::No, 1, 0, false));
        assert!(again(Policy::Always, 0, 100, false));
        assert!(again(Policy::UnlessStopped, 0, 0, false));
        assert!(!again(Policy::Always, 1, 0, true));
        assert!(!again(Policy::OnFailure(0), 0, 0, false));
        assert!(again(Policy::OnFailure(0), 1, 1000, false));
        assert!(again(Policy::OnFailure(2), 3, 1, false));
        assert!(!again(Policy::OnFailure(2), 3, 2, false));
        assert!(!again(Policy::OnFailure(2), 3, 0, true));
    }

    #[test]
    fn backs_off_like_docker() {
        let ms = Duration::from_millis;
        assert_eq!(delay(None, ms(0)), ms(100));
        assert_eq!(delay(Some(ms(100)), ms(5)), ms(200));
        assert_eq!(delay(Some(ms(400)), ms(9_999)), ms(800));
        assert_eq!(delay(Some(ms(400)), ms(10_000)), ms(100));
        assert_eq!(delay(Some(ms(40_000)), ms(0)), MAX_DELAY);
        assert_eq!(delay(Some(MAX_DELAY), ms(0)), MAX_DELAY);
    }
}

//! The allowlist in force for one session, shared with the browser's enforcement layers.
//! It can grow during a session (a pattern the user allows for this run), so it sits
//! behind a lock; every request is judged against the current set.

use std::sync::{Arc, RwLock};

use allowlist::{Decision, Pattern, Policy};
use anyhow::{Context, Result};
use browser::{Guard, SharedGuard};

#[derive(Debug, Default)]
pub struct LivePolicy(RwLock<Policy>);

impl LivePolicy {
    pub fn new(p: Policy) -> Arc<LivePolicy> {
        Arc::new(LivePolicy(RwLock::new(p)))
    }

    pub fn add(&self, p: Pattern) {
        self.0.write().unwrap_or_else(|e| e.into_inner()).add(p);
    }

    pub fn remove(&self, raw: &str) -> bool {
        self.0.write().unwrap_or_else(|e| e.into_inner()).remove(raw)
    }

    pub fn patterns(&self) -> Vec<String> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).patterns().iter().map(|p| p.to_string()).collect()
    }

    pub fn guard(self: &Arc<Self>) -> SharedGuard {
        self.clone()
    }
}

impl Guard for LivePolicy {
    fn judge(&self, url: &str) -> Option<String> {
        match self.0.read().unwrap_or_else(|e| e.into_inner()).decide(url) {
            Decision::Allow => None,
            Decision::Block { reason } => Some(reason),
        }
    }

    fn hosts(&self) -> Option<Vec<String>> {
        Some(self.0.read().unwrap_or_else(|e| e.into_inner()).patterns().iter().map(|p| p.host_glob()).collect())
    }
}

/// The session's policy: the patterns given (file and `--allow`) plus `extra` hosts the
/// command itself needs (the demo site, the URL of `errand open`).
pub fn build(base: Policy, allow: &[String], extra: &[String]) -> Result<Arc<LivePolicy>> {
    let live = LivePolicy::new(base);
    for a in allow {
        live.add(Pattern::parse(a).with_context(|| format!("bad --allow {a:?}"))?);
    }
    for e in extra {
        live.add(Pattern::parse(e).with_context(|| format!("cannot allow {e:?}"))?);
    }
    Ok(live)
}

/// The host (and port) of a URL as an allowlist pattern, e.g. `127.0.0.1:8080`.
pub fn pattern_for_url(url: &str) -> Result<String> {
    let u = match url::Url::parse(url) {
        Ok(u) => u,
        Err(url::ParseError::RelativeUrlWithoutBase) => {
            anyhow::bail!("{url:?} is not a full address; write it with its scheme, e.g. https://{url}")
        }
        Err(e) => anyhow::bail!("{url:?} is not a valid URL ({e})"),
    };
    if !matches!(u.scheme(), "http" | "https") {
        anyhow::bail!("{url} is not a web address: errand opens http:// and https:// pages only");
    }
    let host = u.host_str().with_context(|| format!("{url} has no host"))?;
    Ok(match u.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    })
}

/// A person's answer when the model heads for a host off the allowlist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllowAnswer {
    /// For this one action.
    Once,
    /// Until the session ends.
    Session,
    /// Added to the allowlist file.
    Always,
    /// The default, and the only answer without a terminal.
    Deny,
}

impl AllowAnswer {
    /// What a person typed: `o`/`once`, `s`/`session`, `a`/`always`; anything else denies.
    pub fn parse(line: &str) -> AllowAnswer {
        match line.trim().to_ascii_lowercase().as_str() {
            "o" | "once" => AllowAnswer::Once,
            "s" | "session" => AllowAnswer::Session,
            "a" | "always" => AllowAnswer::Always,
            _ => AllowAnswer::Deny,
        }
    }

    /// As the recording names it.
    pub fn as_str(self) -> &'static str {
        match self {
            AllowAnswer::Once => "once",
            AllowAnswer::Session => "session",
            AllowAnswer::Always => "always",
            AllowAnswer::Deny => "deny",
        }
    }

    /// As the narration says it.
    pub fn said(self) -> &'static str {
        match self {
            AllowAnswer::Once => "allowed once",
            AllowAnswer::Session => "allowed for this session",
            AllowAnswer::Always => "allowed always",
            AllowAnswer::Deny => "denied",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_answers_parse_and_anything_else_denies() {
        for (typed, want) in [
            ("o", AllowAnswer::Once),
            (" Session\n", AllowAnswer::Session),
            ("A", AllowAnswer::Always),
            ("", AllowAnswer::Deny),
            ("yes", AllowAnswer::Deny),
        ] {
            assert_eq!(AllowAnswer::parse(typed), want, "{typed:?}");
        }
    }
}

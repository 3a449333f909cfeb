//! A shortcut for refusals: a browser errand launches fails at once, inside Chromium,
//! every http and https request to a host the allowlist cannot allow.
//!
//! Why it exists: news and shop pages ask for dozens of third-party hosts (ads, trackers,
//! fonts) that errand refuses. Through the proxy alone each refusal cost Chromium a
//! connection and a round trip (a CONNECT and its `403`), holding one of the page's
//! request slots meanwhile, and the page's own requests queued behind them: measured
//! with `errand-bench guard`, the page's same-origin requests waited 3 to 7 ms longer at
//! the median than in a browser where those hosts simply do not resolve. Failed here
//! (`Network.setBlockedURLs`, `net::ERR_BLOCKED_BY_CLIENT`), they end as fast as there.
//!
//! It is a shortcut, not a boundary. It can only fail more than the allowlist does:
//! each allowed host is let through whatever the scheme and port, IPv6 literals are
//! always let through (an IPv4-mapped address reaches an IPv4 host the allowlist may
//! name), and anything it cannot express turns it off. What gets past it (WebSockets,
//! which it does not cover; targets that went away before they were set up) is judged
//! by the proxy as before. What it fails is recorded like any refusal, from the
//! `Network.loadingFailed` event (see the driver's `Effect::Failed`).

use std::collections::BTreeSet;
use std::sync::Mutex;

use serde_json::{json, Value};

use crate::{Cdp, SharedGuard};

/// The `Network.setBlockedURLs` parameters for these allowed hosts (as
/// [`crate::Guard::hosts`] gives them), or `None` when a host cannot be written as a
/// URL pattern, so nothing is failed in Chromium at all.
pub fn blocked_urls(hosts: &[String]) -> Option<Value> {
    let mut patterns = vec![];
    let mut allow = |host: &str| patterns.push(json!({"urlPattern": format!("*://{host}:*/*"), "block": false}));
    for h in hosts {
        if h.starts_with('[') {
            continue; // covered by the IPv6 rule below
        }
        let (wild, name) = match h.strip_prefix("*.") {
            Some(d) => (true, d),
            None => (false, h.as_str()),
        };
        // Host names as the allowlist normalises them: lower-case ASCII (IDNA done),
        // digits, dots, hyphens, underscores. Anything else could mean something in
        // URL-pattern syntax: no shortcut rather than a wrong one.
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-._".contains(&b)) {
            return None;
        }
        // A trailing dot is the same DNS name, and the allowlist treats it so.
        for n in [name.to_string(), format!("{name}.")] {
            if wild {
                allow(&format!("*.{n}"));
            }
            allow(&n);
        }
    }
    allow(r"\[*\]");
    patterns.push(json!({"urlPattern": "http://*:*/*", "block": true}));
    patterns.push(json!({"urlPattern": "https://*:*/*", "block": true}));
    Some(json!({ "urlPatterns": patterns }))
}

/// The shortcut of one browser: the sessions it was given to and what they were given,
/// so a change of the allowlist (a host the person allowed a moment ago) reaches every
/// one of them before the next action.
pub struct Shortcut {
    guard: SharedGuard,
    inner: Mutex<Applied>,
}

#[derive(Default)]
struct Applied {
    params: Option<Value>,
    sessions: BTreeSet<String>,
}

impl Shortcut {
    pub fn new(guard: SharedGuard) -> Shortcut {
        Shortcut { guard, inner: Mutex::default() }
    }

    fn current(&self) -> Option<Value> {
        self.guard.hosts().and_then(|h| blocked_urls(&h))
    }

    /// The call for a target being set up (sent before it runs), and the session noted
    /// for later changes. `None`: nothing to send. A new target gets the allowlist as it
    /// is now; what the older sessions were given is left as it was, so the next
    /// [`Shortcut::refresh`] still sees that they need the change.
    pub fn for_target(&self, session: &str) -> Option<Value> {
        let params = self.current()?;
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.sessions.insert(session.to_string());
        if inner.params.is_none() {
            inner.params = Some(params.clone());
        }
        Some(params)
    }

    /// Give every session the current allowlist if it changed since they got theirs.
    /// A session that is gone is forgotten; one that cannot take the new patterns gets
    /// an empty list (nothing failed in Chromium), never a stale one.
    pub async fn refresh(&self, cdp: &Cdp) {
        let Some((params, sessions)) = self.pending() else { return };
        let params = params.unwrap_or_else(|| json!({"urlPatterns": []}));
        let calls = sessions.iter().map(|s| cdp.raw(Some(s), "Network.setBlockedURLs", params.clone()));
        let answers = futures::future::join_all(calls).await;
        let mut gone = vec![];
        for (session, answer) in sessions.into_iter().zip(answers) {
            if let Err(e) = answer {
                tracing::debug!(target: "errand::guard", "the shortcut could not be updated in session {session}: {e}");
                gone.push(session);
            }
        }
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        for s in gone {
            inner.sessions.remove(&s);
        }
    }

    /// What to send to which sessions, if the allowlist changed since they got theirs
    /// (taken as sent from here on).
    fn pending(&self) -> Option<(Option<Value>, Vec<String>)> {
        let params = self.current();
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner.params == params {
            return None;
        }
        inner.params = params.clone();
        Some((params, inner.sessions.iter().cloned().collect()))
    }

    /// A session that ended.
    pub fn forget(&self, session: &str) {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).sessions.remove(session);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patterns(hosts: &[&str]) -> Vec<(String, bool)> {
        let hosts: Vec<String> = hosts.iter().map(|h| h.to_string()).collect();
        let v = blocked_urls(&hosts).unwrap_or_default();
        v["urlPatterns"]
            .as_array()
            .map(|a| a.iter().map(|p| (p["urlPattern"].as_str().unwrap_or_default().to_string(), p["block"] == true)).collect())
            .unwrap_or_default()
    }

    #[test]
    fn allowed_hosts_come_first_and_everything_else_over_http_is_failed() {
        let p = patterns(&["docs.rs", "*.wikipedia.org", "127.0.0.1", "[::1]"]);
        let allowed: Vec<&str> = p.iter().filter(|(_, b)| !b).map(|(u, _)| u.as_str()).collect();
        assert_eq!(
            allowed,
            [
                "*://docs.rs:*/*",
                "*://docs.rs.:*/*",
                "*://*.wikipedia.org:*/*",
                "*://wikipedia.org:*/*",
                "*://*.wikipedia.org.:*/*",
                "*://wikipedia.org.:*/*",
                "*://127.0.0.1:*/*",
                "*://127.0.0.1.:*/*",
                r"*://\[*\]:*/*",
            ]
        );
        // The first match wins: the refusals come last, and only for http and https.
        assert_eq!(&p[p.len() - 2..], &[("http://*:*/*".to_string(), true), ("https://*:*/*".to_string(), true)]);
    }

    /// A guard whose hosts a test can change, as a person allowing a host does.
    struct Hosts(std::sync::Mutex<Vec<String>>);

    impl crate::Guard for Hosts {
        fn judge(&self, _: &str) -> Option<String> {
            None
        }
        fn hosts(&self) -> Option<Vec<String>> {
            Some(self.0.lock().unwrap().clone())
        }
    }

    #[test]
    fn a_change_reaches_every_older_session_even_after_a_new_target_got_it() {
        let guard = std::sync::Arc::new(Hosts(std::sync::Mutex::new(vec!["a.example".into()])));
        let s = Shortcut::new(guard.clone());
        assert!(s.for_target("one").is_some());
        assert!(s.pending().is_none(), "nothing changed yet");
        guard.0.lock().unwrap().push("b.example".into());
        // A popup opened after the change gets the new list at once...
        let popup = s.for_target("two").unwrap().to_string();
        assert!(popup.contains("b.example"));
        // ...and the older session is still brought up to date before the next action.
        let (params, sessions) = s.pending().expect("the change is still pending for session one");
        assert!(params.unwrap().to_string().contains("b.example"));
        assert_eq!(sessions, ["one", "two"]);
        assert!(s.pending().is_none(), "sent once");
        s.forget("one");
        guard.0.lock().unwrap().pop();
        assert_eq!(s.pending().unwrap().1, ["two"]);
    }

    #[test]
    fn a_host_it_cannot_write_turns_the_shortcut_off() {
        for odd in ["a(b).com", "*", "", "x:y", "Upper.com"] {
            assert!(blocked_urls(&[odd.to_string()]).is_none(), "{odd:?}");
        }
        // No hosts at all: everything over http and https is failed (nothing is allowed).
        assert_eq!(patterns(&[]).len(), 3);
    }
}

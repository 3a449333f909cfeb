//! Helpers shared by the browser-level tests: an allowlist guard, and the fixture site's
//! hosts as allowlist patterns.
#![allow(dead_code)]

use std::sync::{Arc, RwLock};

use allowlist::{Decision, Pattern, Policy};
use browser::{Guard, SharedGuard};
use fixtures::Site;

/// A guard that allows what `patterns` (allowlist patterns) allow and blocks the rest.
pub fn guard(patterns: &[String]) -> SharedGuard {
    let policy = Policy::parse(patterns).expect("valid patterns");
    Arc::new(move |url: &str| match policy.decide(url) {
        Decision::Allow => None,
        Decision::Block { reason } => Some(reason),
    })
}

/// An allowlist that can grow during a session and names its hosts, as errand's own
/// does: a launched Chromium then fails requests to every other host itself (the
/// shortcut), before they reach the proxy.
pub struct Live(RwLock<Policy>);

impl Live {
    pub fn new(patterns: &[String]) -> Arc<Live> {
        Arc::new(Live(RwLock::new(Policy::parse(patterns).expect("valid patterns"))))
    }

    pub fn allow(&self, pattern: &str) {
        self.0.write().unwrap().add(Pattern::parse(pattern).unwrap());
    }
}

impl Guard for Live {
    fn judge(&self, url: &str) -> Option<String> {
        match self.0.read().unwrap().decide(url) {
            Decision::Allow => None,
            Decision::Block { reason } => Some(reason),
        }
    }

    fn hosts(&self) -> Option<Vec<String>> {
        Some(self.0.read().unwrap().patterns().iter().map(|p| p.host_glob()).collect())
    }
}

/// The site's two servers (`host:port` of its origin and its foreign host) as patterns.
pub fn site_hosts(site: &Site) -> Vec<String> {
    let host = |o: &str| o.split_once("://").map(|(_, h)| h).unwrap_or(o).to_string();
    vec![host(&site.origin), host(&site.foreign)]
}

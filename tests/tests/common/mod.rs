//! Helpers shared by the browser-level tests: an allowlist guard, and the fixture site's
//! hosts as allowlist patterns.
#![allow(dead_code)]

use std::sync::Arc;

use allowlist::{Decision, Policy};
use browser::SharedGuard;
use fixtures::Site;

/// A guard that allows what `patterns` (allowlist patterns) allow and blocks the rest.
pub fn guard(patterns: &[String]) -> SharedGuard {
    let policy = Policy::parse(patterns).expect("valid patterns");
    Arc::new(move |url: &str| match policy.decide(url) {
        Decision::Allow => None,
        Decision::Block { reason } => Some(reason),
    })
}

/// errand's own allowlist for a session: it can grow, and it names its hosts, so a
/// launched Chromium fails requests to every other host itself (the shortcut), before
/// they reach the proxy.
pub fn live(patterns: &[String]) -> Arc<errand::policy::LivePolicy> {
    errand::policy::LivePolicy::new(Policy::parse(patterns).expect("valid patterns"))
}

/// The site's two servers (`host:port` of its origin and its foreign host) as patterns.
pub fn site_hosts(site: &Site) -> Vec<String> {
    let host = |o: &str| o.split_once("://").map(|(_, h)| h).unwrap_or(o).to_string();
    vec![host(&site.origin), host(&site.foreign)]
}

//! Request enforcement: every request from every target is judged before it leaves.
//!
//! The browser crate does not know the policy itself (that is the `allowlist` crate,
//! wired in by the agent); it asks a [`Guard`]. Enforcement is layered, so that a page
//! or a hijacked model that gets past one layer meets the next:
//!
//! 1. **A filtering proxy** (when errand launches Chromium). All of Chromium's HTTP,
//!    HTTPS, WebSocket and EventSource traffic, loopback included, from every page,
//!    popup, frame and worker, goes through a proxy on 127.0.0.1 that applies the guard to
//!    every request line and CONNECT tunnel before a byte goes upstream; each redirect
//!    hop is a new request and is judged again. A refusal is a `403` marked with
//!    [`crate::proxy::BLOCKED_HEADER`], recorded with its URL and reason; the event task
//!    then names the target and resource type behind it from the Network domain.
//! 2. **Launch flags** (when errand launches Chromium): Chromium's own resolver is turned
//!    off (`--host-resolver-rules=MAP * ~NOTFOUND`), so no DNS lookup of any name leaves
//!    the browser (dns-prefetch of `secret.evil.example` resolves nothing; the proxy
//!    resolves only allowed hosts); WebRTC may not use UDP outside a proxy
//!    (`--force-webrtc-ip-handling-policy=disable_non_proxied_udp`), so no STUN packet
//!    reaches an arbitrary host; QUIC is off.
//! 3. **CDP interception** (attached with `--cdp-url`, where 1 and 2 are out of reach).
//!    `Fetch.enable` for every URL on every target errand attaches to: pages, popups,
//!    same- and out-of-process iframes, dedicated, shared and service workers. New
//!    targets are paused at start (`waitForDebuggerOnStart`) and only resumed once
//!    interception is on, so their very first request is judged. Each redirect hop is
//!    paused again. A blocked request fails at once with `BlockedByClient` and is
//!    recorded. Under the proxy this layer is off by default ([`crate::Options::intercept`]):
//!    Chromium routes intercepted requests through its UI thread, which cost about 20 ms
//!    per request during page loads on a 2-core machine against 0.5 ms for the proxy
//!    (`errand-bench guard`), and it adds nothing the proxy misses.
//!
//! In launch mode Chromium also fails at once, inside the browser, what the allowlist
//! refuses for certain ([`crate::shortcut`]): a shortcut for speed that only ever fails
//! more, never lets more through; the proxy still judges everything that gets past it.
//!
//! The model's own navigations are judged before they are sent, whatever the mode.
//!
//! Attached to a browser errand did not launch, layers 1 and 2 are out of reach; errand
//! says so at start (see [`crate::Browser::layers`]).

use std::sync::Arc;

use serde::Serialize;

/// Decides whether a URL may be requested. `None` allows; `Some(reason)` blocks.
pub trait Guard: Send + Sync {
    fn judge(&self, url: &str) -> Option<String>;

    /// Every host the guard may allow, whatever the scheme and port (`example.com`,
    /// `*.example.com` for a domain and its subdomains, `127.0.0.1`, `[::1]`), so a
    /// launched Chromium can fail the rest at once (see [`crate::shortcut`]). `None`, the
    /// default: no shortcut, the proxy judges every request.
    fn hosts(&self) -> Option<Vec<String>> {
        None
    }
}

impl<F: Fn(&str) -> Option<String> + Send + Sync> Guard for F {
    fn judge(&self, url: &str) -> Option<String> {
        self(url)
    }
}

pub type SharedGuard = Arc<dyn Guard>;

/// The layer that stopped a request; recorded and shown by these names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    /// errand's filtering proxy refused it (the allowlist).
    Proxy,
    /// DevTools interception failed it (attach mode).
    Cdp,
    /// Chromium failed it before it reached the proxy (the [`crate::shortcut`] for hosts
    /// the allowlist refuses, a host that skips the proxy and dies at the resolver, a port
    /// Chromium never uses).
    Browser,
    /// A state-changing request nobody approved.
    Consent,
    /// A secret's placeholder headed for a host the secret is not bound to.
    Secrets,
}

impl Layer {
    pub fn as_str(self) -> &'static str {
        match self {
            Layer::Proxy => "proxy",
            Layer::Cdp => "cdp",
            Layer::Browser => "browser",
            Layer::Consent => "consent",
            Layer::Secrets => "secrets",
        }
    }
}

/// Serialised as its name, from the one mapping in [`Layer::as_str`].
impl Serialize for Layer {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Compared with its name, as it is recorded.
impl PartialEq<&str> for Layer {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl std::fmt::Display for Layer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request that a layer stopped.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Blocked {
    pub url: String,
    pub reason: String,
    /// Which layer stopped it.
    pub layer: Layer,
    /// The kind of target or request: page, iframe, worker, service_worker, connect…
    pub source: String,
    /// The resource type Chromium reported (Document, Script, Fetch, Ping…), if known.
    pub resource: String,
}

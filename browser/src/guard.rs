//! Request enforcement: every request from every target is judged before it leaves.
//!
//! The browser crate does not know the policy itself (that is the `allowlist` crate,
//! wired in by the agent); it asks a [`Guard`]. Enforcement is layered, so that a page
//! or a hijacked model that gets past one layer meets the next:
//!
//! 1. **CDP interception** (always, also with `--cdp-url`). `Fetch.enable` for every URL
//!    on every target errand attaches to: pages, popups, same- and out-of-process iframes,
//!    dedicated, shared and service workers. New targets are paused at start
//!    (`waitForDebuggerOnStart`) and only resumed once interception is on, so their very
//!    first request is judged. Each redirect hop is paused again. A blocked request fails
//!    at once with `BlockedByClient` and is recorded with its URL, the target it came
//!    from and the reason.
//! 2. **A filtering proxy** (when errand launches Chromium). All of Chromium's HTTP,
//!    HTTPS, WebSocket and EventSource traffic, loopback included, goes through a proxy on
//!    127.0.0.1 that applies the same guard to every request line and CONNECT tunnel. It
//!    catches what CDP interception cannot see (WebSocket handshakes, requests of targets
//!    that could not be attached).
//! 3. **Launch flags** (when errand launches Chromium): Chromium's own resolver is turned
//!    off (`--host-resolver-rules=MAP * ~NOTFOUND`), so no DNS lookup of any name leaves
//!    the browser (dns-prefetch of `secret.evil.example` resolves nothing; the proxy
//!    resolves only allowed hosts); WebRTC may not use UDP outside a proxy
//!    (`--force-webrtc-ip-handling-policy=disable_non_proxied_udp`), so no STUN packet
//!    reaches an arbitrary host; QUIC is off.
//!
//! Attached to a browser errand did not launch, layers 2 and 3 are out of reach; errand
//! says so at start (see [`crate::Browser::layers`]).

use std::sync::Arc;

use serde::Serialize;

/// Decides whether a URL may be requested. `None` allows; `Some(reason)` blocks.
pub trait Guard: Send + Sync {
    fn judge(&self, url: &str) -> Option<String>;
}

impl<F: Fn(&str) -> Option<String> + Send + Sync> Guard for F {
    fn judge(&self, url: &str) -> Option<String> {
        self(url)
    }
}

pub type SharedGuard = Arc<dyn Guard>;

/// A request that a layer stopped.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Blocked {
    pub url: String,
    pub reason: String,
    /// Which layer stopped it: `cdp` or `proxy`.
    pub layer: String,
    /// The kind of target or request: page, iframe, worker, service_worker, connect…
    pub source: String,
    /// The resource type Chromium reported (Document, Script, Fetch, Ping…), if known.
    pub resource: String,
}

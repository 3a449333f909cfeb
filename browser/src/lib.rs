//! errand's Chromium controller: launch or attach, track every tab and frame, build the
//! page state a model reads, and execute web actions.
//!
//! Why it exists: the agent needs one object that drives a real browser robustly
//! (timeouts on every call, crashes reported in seconds, dialogs never hanging) and
//! shows a page the way a model needs to see it (compact, with stable element refs).
//!
//! Layout:
//! * [`cdp`]: the DevTools connection (chromiumoxide's `Connection` and typed protocol).
//! * [`launch`]: finding and starting Chromium, or resolving a `--cdp-url`.
//! * [`Browser`] (this file): targets, sessions, frames and the event task that owns them.
//! * [`state`]: the page state, built by one in-page walk per frame.
//! * [`actions`]: navigate, click, type… each followed by a bounded wait for the page to settle.

pub mod actions;
pub mod cdp;
pub mod consent;
pub mod extract;
mod gate;
pub mod guard;
pub mod launch;
pub mod proxy;
pub mod secrets;
pub mod shortcut;
pub mod state;
pub mod tls;
mod tracker;
pub mod upstream;
pub mod userflow;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::mpsc;

pub use actions::{Action, Direction, ElementTarget, Locator, Outcome};
pub use cdp::{Cdp, CdpError, Event};
pub use consent::{Consent, SharedConsent, Submission, Verdict};
pub use guard::{Blocked, Guard, Layer, SharedGuard};
pub use launch::{LaunchOptions, Source};
pub use state::{PageState, StateOptions};
pub use tracker::DocStatus;
pub(crate) use tracker::{title_is_address, Effect, State, Tab};

/// Everything that can go wrong while driving the browser, with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum BrowserError {
    #[error("no Chromium found ({detail}); install it with `apt-get install chromium` or pass --chrome PATH")]
    NoChrome { detail: String },
    #[error("could not start {exe}: {message}{}", if log.is_empty() { String::new() } else { format!("\nChromium said:\n{log}") })]
    Launch { exe: PathBuf, message: String, log: String },
    #[error("bad --cdp-url {url}: {message}")]
    BadCdpUrl { url: String, message: String },
    #[error(transparent)]
    Cdp(#[from] CdpError),
    #[error("the browser is gone: {0}")]
    Crashed(String),
    #[error("ref {0} is stale: the page changed since it was shown; here is a fresh page state")]
    StaleRef(String),
    #[error("there is no element {0} on this page; use a ref from the latest page state")]
    UnknownRef(String),
    #[error("no element matches {0}")]
    NotFound(String),
    #[error("{0}")]
    Action(String),
    #[error("could not create a temporary browser profile: {0}")]
    Profile(std::io::Error),
    #[error("blocked: {reason}")]
    Blocked { url: String, reason: String },
    #[error("could not start errand's filtering proxy: {0}")]
    Proxy(std::io::Error),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
}

impl BrowserError {
    /// True for errors the caller should answer with a fresh page state.
    pub fn wants_fresh_state(&self) -> bool {
        matches!(self, BrowserError::StaleRef(_) | BrowserError::UnknownRef(_))
    }
}

pub type Result<T, E = BrowserError> = std::result::Result<T, E>;

/// Timeouts and limits; the defaults suit interactive use.
#[derive(Clone)]
pub struct Options {
    /// Longest wait for any single protocol call.
    pub call_timeout: Duration,
    /// Longest wait for Chromium to start.
    pub launch_timeout: Duration,
    /// Longest wait for a page to settle after an action.
    pub settle_timeout: Duration,
    /// How long the network and DOM must be quiet to count as settled.
    pub quiet: Duration,
    /// Where downloads go (normally the session's output folder); `None` denies downloads.
    pub download_dir: Option<PathBuf>,
    /// Accept `confirm()` dialogs (default: dismiss, the safe answer).
    pub accept_confirms: bool,
    /// A fixed viewport for every tab (headless runs); `None` keeps the window's.
    pub viewport: Option<(u32, u32)>,
    /// Judges every request (see [`guard`]); `None` lets everything through.
    pub guard: Option<SharedGuard>,
    /// With a guard on a launched browser: also route traffic through the filtering proxy
    /// and set the network launch flags (layers 2 and 3). Only benchmarks turn this off.
    pub proxy_layer: bool,
    /// CDP request interception (layer 1). `None` (the default) decides: on when a guard
    /// is set and no proxy judges every request (attached browsers), off under the proxy,
    /// because in Chromium interception costs every request about 20 ms while pages
    /// load (measured by `errand-bench guard`), the proxy under 1 ms.
    pub intercept: Option<bool>,
    /// Decides about every state-changing request (see [`consent`]); `None` lets them through.
    pub consent: Option<SharedConsent>,
    /// PEM files of certificate authorities the proxy trusts beside the platform's, for
    /// intranet servers and tests (`--trust-ca`).
    pub trust_ca: Vec<PathBuf>,
    /// How errand's proxy reaches servers: directly (the default) or through the
    /// network's proxy.
    pub upstream: upstream::Route,
    /// Secrets errand's proxy writes into requests to their hosts, in place of the
    /// `{{secret:NAME}}` the page holds.
    pub secrets: Vec<secrets::Binding>,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("call_timeout", &self.call_timeout)
            .field("settle_timeout", &self.settle_timeout)
            .field("download_dir", &self.download_dir)
            .field("guard", &self.guard.is_some())
            .finish()
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            call_timeout: Duration::from_secs(10),
            launch_timeout: Duration::from_secs(20),
            settle_timeout: Duration::from_secs(5),
            quiet: Duration::from_millis(100),
            download_dir: None,
            accept_confirms: false,
            viewport: Some((1280, 720)),
            guard: None,
            proxy_layer: true,
            intercept: None,
            consent: None,
            trust_ca: vec![],
            upstream: upstream::Route::Direct,
            secrets: vec![],
        }
    }
}

/// Something that happened in the browser that the caller should hear about.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    NewTab { index: usize, url: String },
    TabClosed { url: String },
    Dialog { dialog: String, message: String, answer: String },
    Download { url: String, file: String, state: String },
    DownloadDenied { url: String },
    Crashed { detail: String },
}

/// A running browser under errand's control.
pub struct Browser {
    pub(crate) cdp: Cdp,
    pub(crate) st: Arc<Mutex<State>>,
    pub(crate) opts: Options,
    pub(crate) refs: Mutex<state::RefTable>,
    child: tokio::sync::Mutex<Option<tokio::process::Child>>,
    profile: Mutex<Option<tempfile::TempDir>>,
    /// What was launched or attached to, for the session log.
    pub description: String,
    pub launched: bool,
    /// Every request a layer stopped, in order.
    pub(crate) blocked: Arc<Mutex<Vec<Blocked>>>,
    /// How many of `blocked` the page state has already reported.
    pub(crate) blocked_shown: Mutex<usize>,
    /// The enforcement layers in force.
    layers: Vec<String>,
    /// errand's filtering proxy, which runs as long as the browser is kept.
    _proxy: Option<proxy::Proxy>,
    /// Refusals failed inside Chromium at once (launch mode; see [`shortcut`]).
    pub(crate) shortcut: Option<Arc<shortcut::Shortcut>>,
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Browser").field("description", &self.description).finish()
    }
}

pub(crate) const WALKER: &str = include_str!("walker.js");

/// How [`Browser::layers`] names the interception layer, in both modes.
const CDP_LAYER: &str = "cdp: every request of every page, frame, popup and worker is intercepted and judged";

impl Browser {
    /// Launch Chromium or attach to one, and open errand's tab.
    pub async fn start(source: Source, opts: Options) -> Result<Browser> {
        match source {
            Source::Launch(mut l) => {
                let mut opts = opts;
                let blocked: Arc<Mutex<Vec<Blocked>>> = Arc::default();
                let proxied = (opts.guard.is_some() || opts.consent.is_some() || !opts.secrets.is_empty()) && opts.proxy_layer;
                let intercept = resolve_intercept(&mut opts, proxied);
                let mut layers = vec![];
                if opts.guard.is_some() && intercept {
                    layers.push(CDP_LAYER.to_string());
                }
                let mut proxy = None;
                if proxied {
                    // A certificate authority for this launch only: the proxy opens https
                    // to see (and hold) what each request does, and Chromium accepts the
                    // one key its certificates carry, for this launch only.
                    let authority = Arc::new(tls::Authority::new()?);
                    let client_tls = tls::client_config(&opts.trust_ca)?;
                    let setup = proxy::Setup {
                        guard: opts.guard.clone(),
                        blocked: blocked.clone(),
                        mitm: Some(authority.clone()),
                        consent: opts.consent.is_some() && !intercept,
                        client_tls,
                        route: opts.upstream.clone(),
                        secrets: opts.secrets.clone(),
                    };
                    let p = proxy::start(setup).await.map_err(BrowserError::Proxy)?;
                    // Loopback goes through the proxy too. Chromium's own background calls
                    // (update and account services, which no switch silences) skip it and
                    // die at the resolver below, so they never reach the network nor fill
                    // the record; a page's attempt on those hosts dies there too, and the
                    // event task records it as the page's (see `Network.loadingFailed`).
                    // Only hosts the allowlist refuses anyway skip the proxy.
                    let skipped: Vec<&str> = proxy::CHROMIUM_SERVICES
                        .iter()
                        .copied()
                        .filter(|h| opts.guard.as_ref().is_none_or(|g| g.judge(&format!("https://{h}/")).is_some()))
                        .collect();
                    let bypass = format!("--proxy-bypass-list=<-loopback>;{}", skipped.join(";"));
                    l.extra_args.extend([
                        format!("--proxy-server=http://{}", p.addr),
                        bypass,
                        // The proxy is the only name Chromium needs, and it is an IP literal.
                        format!("--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE {}", p.addr.ip()),
                        "--force-webrtc-ip-handling-policy=disable_non_proxied_udp".to_string(),
                        "--webrtc-ip-handling-policy=disable_non_proxied_udp".to_string(),
                        format!("--ignore-certificate-errors-spki-list={}", authority.spki_hash()),
                    ]);
                    if opts.guard.is_some() {
                        layers.extend([
                            format!("proxy: every HTTP, HTTPS and WebSocket request of every page, frame, popup and worker goes through errand's filtering proxy at {} and is judged", p.addr),
                            "flags: Chromium resolves no host names itself and fails requests to hosts the allowlist refuses before they reach the proxy; WebRTC sends no UDP outside the proxy; QUIC is off".to_string(),
                        ]);
                    }
                    if let Some(via) = &p.via {
                        layers.push(format!("upstream: servers are reached through the network's proxy {via}, after errand's own checks"));
                    }
                    if opts.consent.is_some() && !intercept {
                        layers.push("consent: every state-changing request (forms, POST/PUT/DELETE, beacons) is held in errand's proxy, which opens https with a certificate authority made for this run only".to_string());
                    }
                    proxy = Some(p);
                }
                let shortcut = opts.guard.clone().filter(|_| proxied && !intercept).map(|g| Arc::new(shortcut::Shortcut::new(g)));
                let (profile, dir) = match &l.profile {
                    Some(p) => {
                        std::fs::create_dir_all(p).map_err(BrowserError::Profile)?;
                        (None, p.clone())
                    }
                    None => {
                        let t = tempfile::Builder::new().prefix("errand-profile-").tempdir().map_err(BrowserError::Profile)?;
                        let d = t.path().to_path_buf();
                        (Some(t), d)
                    }
                };
                let launched = launch::launch(&l, &dir, opts.launch_timeout).await?;
                let (cdp, events) = Cdp::connect(&launched.ws_url, opts.call_timeout).await?;
                let st: Arc<Mutex<State>> = Arc::default();
                if let (Some(p), Some(consent)) = (&proxy, opts.consent.clone().filter(|_| !intercept)) {
                    p.set_gate(Arc::new(gate::ConsentGate { cdp: cdp.clone(), st: st.clone(), consent, blocked: blocked.clone() }));
                }
                let b = Browser {
                    cdp,
                    st,
                    opts,
                    refs: Mutex::default(),
                    child: tokio::sync::Mutex::new(Some(launched.child)),
                    profile: Mutex::new(profile),
                    description: format!("launched {}", launched.executable.display()),
                    launched: true,
                    blocked,
                    blocked_shown: Mutex::new(0),
                    layers,
                    _proxy: proxy,
                    shortcut,
                };
                b.init(events, Reached::Launched).await?;
                Ok(b)
            }
            Source::Attach(url) => {
                let mut opts = opts;
                resolve_intercept(&mut opts, false);
                let ws = launch::resolve_cdp_url(&url, opts.call_timeout).await?;
                let (cdp, events) = Cdp::connect(&ws, opts.call_timeout).await?;
                let blocked: Arc<Mutex<Vec<Blocked>>> = Arc::default();
                // errand's browser context sends its traffic through errand's proxy when the
                // browser can reach it (it runs on this machine): that covers what a
                // DevTools session misses (requests of targets going away or not yet set up,
                // speculative loads, WebSocket handshakes). The proxy cannot open https
                // here (this browser was not told to trust errand's key, and must not trust
                // it for the user's other tabs), so consent stays with interception.
                let local = url::Url::parse(&ws).ok().and_then(|u| u.host_str().map(upstream::is_loopback)).unwrap_or(false);
                let mut proxy = None;
                if opts.guard.is_some() && opts.proxy_layer && local {
                    let setup = proxy::Setup {
                        guard: opts.guard.clone(),
                        blocked: blocked.clone(),
                        mitm: None,
                        consent: false,
                        client_tls: tls::client_config(&opts.trust_ca)?,
                        route: opts.upstream.clone(),
                        secrets: opts.secrets.clone(),
                    };
                    proxy = Some(proxy::start(setup).await.map_err(BrowserError::Proxy)?);
                }
                let proxy_addr = proxy.as_ref().map(|p| p.addr);
                let layers = match (&opts.guard, &proxy) {
                    (None, _) => vec![],
                    (Some(_), Some(p)) => vec![
                        CDP_LAYER.to_string(),
                        format!("proxy: errand's browser context sends every HTTP, HTTPS and WebSocket request through errand's filtering proxy at {}, which judges it again", p.addr),
                        "not active: the launch flags (errand did not start this browser); DNS prefetch and WebRTC (STUN) are not covered in this mode".to_string(),
                    ],
                    (Some(_), None) => vec![
                        CDP_LAYER.to_string(),
                        "not active: the filtering proxy (the browser is on another machine) and launch flags (errand did not start this browser); WebSocket handshakes, preconnects, DNS prefetch and WebRTC (STUN) are not covered in this mode".to_string(),
                    ],
                };
                let b = Browser {
                    cdp,
                    st: Arc::default(),
                    opts,
                    refs: Mutex::default(),
                    child: tokio::sync::Mutex::new(None),
                    profile: Mutex::new(None),
                    description: format!("attached to {url}"),
                    launched: false,
                    blocked,
                    blocked_shown: Mutex::new(0),
                    layers,
                    _proxy: proxy,
                    shortcut: None,
                };
                b.init(events, Reached::Attached { proxy: proxy_addr }).await?;
                Ok(b)
            }
        }
    }

    /// Convenience: launch a local headless Chromium with default options.
    pub async fn launch_default() -> Result<Browser> {
        Browser::start(Source::Launch(LaunchOptions::default()), Options::default()).await
    }

    pub(crate) fn st(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means another task panicked mid-update; the state is
        // still the best we have.
        self.st.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn cdp(&self) -> &Cdp {
        &self.cdp
    }

    /// Evaluate an expression in errand's isolated world of the active tab's main frame
    /// (where `__errand` lives). For diagnostics and benchmarks.
    pub async fn eval_main(&self, expr: &str) -> Result<Value> {
        let tab = self.active_tab()?;
        self.eval_in_frame(&tab.target_id, expr).await
    }

    /// The active tab's DevTools session id.
    pub fn active_session(&self) -> Option<String> {
        self.active_tab().ok().and_then(|t| t.session)
    }

    /// The enforcement layers in force, one line each (empty without a guard).
    pub fn layers(&self) -> &[String] {
        &self.layers
    }

    /// Every request stopped so far.
    pub fn blocked(&self) -> Vec<Blocked> {
        self.blocked.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Requests stopped since the last call (for the page state and action outcomes).
    pub(crate) fn new_blocked(&self) -> Vec<Blocked> {
        let all = self.blocked.lock().unwrap_or_else(|p| p.into_inner());
        let mut shown = self.blocked_shown.lock().unwrap_or_else(|p| p.into_inner());
        let out = all[(*shown).min(all.len())..].iter().filter(|b| b.source != "chromium").cloned().collect();
        *shown = all.len();
        out
    }

    /// Judge a URL with the guard, if there is one.
    pub fn judge(&self, url: &str) -> Option<String> {
        self.opts.guard.as_ref().and_then(|g| g.judge(url))
    }

    async fn init(&self, events: mpsc::UnboundedReceiver<Event>, reached: Reached) -> Result<()> {
        tokio::spawn(event_task(self.cdp.clone(), events, self.st.clone(), self.opts.clone(), self.blocked.clone(), self.shortcut.clone()));
        let c = &self.cdp;
        c.raw(None, "Target.setDiscoverTargets", json!({"discover": true})).await?;
        if let Some(dir) = &self.opts.download_dir {
            let _ = c
                .raw(None, "Browser.setDownloadBehavior", json!({"behavior": "allowAndName", "downloadPath": dir, "eventsEnabled": true}))
                .await;
        } else {
            let _ = c.raw(None, "Browser.setDownloadBehavior", json!({"behavior": "deny", "eventsEnabled": true})).await;
        }
        if let Reached::Attached { proxy } = reached {
            // Work in a browser context of our own: the user's other tabs and cookies stay
            // untouched, and only our pages are tracked.
            let mut params = json!({"disposeOnDetach": true});
            if let Some(addr) = proxy {
                params["proxyServer"] = json!(format!("http://{addr}"));
                params["proxyBypassList"] = json!("<-loopback>");
            }
            let ctx = c.raw(None, "Target.createBrowserContext", params).await?;
            let ctx = ctx["browserContextId"].as_str().unwrap_or_default().to_string();
            self.st().context = Some(ctx.clone());
            c.raw(None, "Target.setAutoAttach", auto_attach()).await?;
            c.raw(None, "Target.createTarget", json!({"url": "about:blank", "browserContextId": ctx})).await?;
        } else {
            c.raw(None, "Target.setAutoAttach", auto_attach()).await?;
        }
        // Wait (bounded) for the first tab to be attached and set up.
        let deadline = Instant::now() + self.opts.call_timeout;
        loop {
            {
                let st = self.st();
                if let Some(t) = st.tabs.first() {
                    if t.session.as_ref().is_some_and(|s| st.ready.contains(s)) && st.frames.contains_key(&t.target_id) {
                        break;
                    }
                }
                if let Some(g) = &st.gone {
                    return Err(BrowserError::Crashed(g.clone()));
                }
            }
            if Instant::now() > deadline {
                return Err(BrowserError::Action("Chromium started but opened no tab in time".into()));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(())
    }

    /// Fails at once if the browser has exited or crashed.
    pub fn check_alive(&self) -> Result<()> {
        if let Some(g) = &self.st().gone {
            return Err(BrowserError::Crashed(g.clone()));
        }
        if self.cdp.is_closed() {
            return Err(BrowserError::Crashed("the DevTools connection closed".into()));
        }
        Ok(())
    }

    /// Whether the browser process or connection is gone (detected within a second or so).
    pub fn is_gone(&self) -> bool {
        self.check_alive().is_err()
    }

    /// The process id of a browser errand launched.
    pub async fn pid(&self) -> Option<u32> {
        self.child.lock().await.as_ref().and_then(|c| c.id())
    }

    /// Close the browser (a launched one is shut down; an attached one keeps running and
    /// only errand's context is closed).
    pub async fn close(&self) {
        // From here on, what a page sends (unload beacons and the like) is declined
        // unasked: the session that could ask about it is over.
        self.st().closing = true;
        let ctx = self.st().context.clone();
        if let Some(ctx) = ctx {
            let _ = self.cdp.raw(None, "Target.disposeBrowserContext", json!({"browserContextId": ctx})).await;
            return;
        }
        let _ = self.cdp.raw_with_timeout(None, "Browser.close", json!({}), Duration::from_secs(2)).await;
        let mut child = self.child.lock().await;
        if let Some(c) = child.as_mut() {
            if tokio::time::timeout(Duration::from_secs(3), c.wait()).await.is_err() {
                let _ = c.start_kill();
                let _ = c.wait().await;
            }
        }
        *child = None;
        // Chromium is gone now, so its temporary profile can be removed whole.
        let profile = self.profile.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(p) = profile {
            let path = p.path().to_path_buf();
            if p.close().is_err() {
                let _ = std::fs::remove_dir_all(&path);
            }
        }
    }

    /// The active tab's target and session.
    pub(crate) fn active_tab(&self) -> Result<Tab> {
        let st = self.st();
        if let Some(g) = &st.gone {
            return Err(BrowserError::Crashed(g.clone()));
        }
        st.tabs
            .get(st.active)
            .cloned()
            .filter(|t| t.session.is_some())
            .ok_or_else(|| BrowserError::Action("no open tab; open one with tab_new".into()))
    }

    pub(crate) fn take_changes(&self) -> Vec<Change> {
        std::mem::take(&mut self.st().changes)
    }

    /// Run `expr` in errand's isolated world of `frame`, creating the world (and installing
    /// the walker) when the frame has a new document. Returns the value by value.
    pub(crate) async fn eval_in_frame(&self, frame: &str, expr: &str) -> Result<Value> {
        let mut install = false;
        for attempt in 0..3 {
            let (session, world) = self.world(frame).await?;
            // The walker is normally there already (installed at document start); a
            // document that predates errand gets it on first use.
            let expression = if install { format!("{WALKER}\n;{expr}") } else { expr.to_string() };
            let r = self
                .cdp
                .raw(
                    Some(&session),
                    "Runtime.evaluate",
                    json!({"expression": expression, "contextId": world, "returnByValue": true, "awaitPromise": true}),
                )
                .await;
            match r {
                Ok(v) => {
                    if let Some(ex) = v.get("exceptionDetails") {
                        let msg = ex["exception"]["description"].as_str().or(ex["text"].as_str()).unwrap_or("script error");
                        if msg.contains("__errand is not defined") && !install {
                            install = true;
                            continue;
                        }
                        return Err(BrowserError::Action(format!("in-page script failed: {}", msg.lines().next().unwrap_or(msg))));
                    }
                    return Ok(v["result"]["value"].clone());
                }
                Err(e) if e.is_gone() && attempt < 2 => {
                    self.forget_world(frame, world);
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(BrowserError::Action("the frame's document kept changing; try again".into()))
    }

    /// Drop a world that no longer exists. Its walker registry is gone with it, so the
    /// frame's generation moves on and every ref minted in it becomes stale.
    fn forget_world(&self, frame: &str, world: i64) {
        self.st().forget_world(frame, world);
    }

    /// errand's isolated world for a frame: (session, context id).
    async fn world(&self, frame: &str) -> Result<(String, i64)> {
        let (session, world, generation) = {
            let st = self.st();
            let f = st.frames.get(frame).ok_or_else(|| BrowserError::Action(format!("frame {frame} is gone")))?;
            (f.session.clone(), f.world, f.generation)
        };
        if let Some(w) = world {
            return Ok((session, w));
        }
        let id = create_world(&self.cdp, &self.st, frame, &session, generation).await?;
        Ok((session, id))
    }

    /// The frame's generation (changes whenever it commits a new document).
    pub(crate) fn frame_generation(&self, frame: &str) -> Option<u64> {
        self.st().frames.get(frame).map(|f| f.generation)
    }

    /// Frames of a tab in document order (parents before children), with depth.
    pub(crate) fn frames_of(&self, tab: &str) -> Vec<(String, Option<String>, String)> {
        let st = self.st();
        let mut out = vec![];
        let mut stack = vec![tab.to_string()];
        let mut children: HashMap<&str, Vec<&str>> = HashMap::new();
        for (id, f) in st.frames.iter() {
            if f.tab == tab {
                if let Some(p) = &f.parent {
                    children.entry(p.as_str()).or_default().push(id.as_str());
                }
            }
        }
        for v in children.values_mut() {
            v.sort();
        }
        while let Some(id) = stack.pop() {
            if let Some(f) = st.frames.get(&id) {
                out.push((id.clone(), f.parent.clone(), f.url.clone()));
                if let Some(kids) = children.get(id.as_str()) {
                    for k in kids.iter().rev() {
                        stack.push(k.to_string());
                    }
                }
            }
        }
        out
    }

    /// Tabs with fresh titles and URLs (one call; target info events lag behind).
    pub async fn tabs_fresh(&self) -> Vec<(usize, String, String, bool)> {
        if self.st().tabs.len() > 1 {
            if let Ok(r) = self.cdp.raw(None, "Target.getTargets", json!({})).await {
                let mut st = self.st();
                for info in r["targetInfos"].as_array().into_iter().flatten() {
                    if let Some(t) = st.tabs.iter_mut().find(|t| Some(t.target_id.as_str()) == info["targetId"].as_str()) {
                        t.url = info["url"].as_str().unwrap_or_default().into();
                        t.title = info["title"].as_str().unwrap_or_default().into();
                    }
                }
            }
        }
        self.tabs()
    }

    /// How the active tab's document arrived (HTTP status, unreachable server).
    pub fn document_status(&self) -> DocStatus {
        let st = self.st();
        st.tabs.get(st.active).and_then(|t| st.documents.get(&t.target_id)).cloned().unwrap_or_default()
    }

    /// How a frame's (or tab's, by its target id) document arrived.
    pub(crate) fn frame_status(&self, frame: &str) -> DocStatus {
        self.st().documents.get(frame).cloned().unwrap_or_default()
    }

    /// Tabs as (index, title, url, active).
    pub fn tabs(&self) -> Vec<(usize, String, String, bool)> {
        let st = self.st();
        st.tabs.iter().enumerate().map(|(i, t)| (i, t.title.clone(), t.url.clone(), i == st.active)).collect()
    }

    /// The number of network requests still in flight in the active tab's sessions.
    pub(crate) fn net_quiet_for(&self) -> (usize, Duration) {
        let st = self.st();
        let now = Instant::now();
        // Requests running for over 2 s (long polls, streams) do not hold up settling.
        let n = st.inflight.values().filter(|t| now.duration_since(**t) < Duration::from_secs(2)).count() + st.consent_pending;
        let quiet = st.last_net.map(|t| now.duration_since(t)).unwrap_or(Duration::from_secs(3600));
        (n, quiet)
    }

    /// The tab's document is navigating, or one of its frames started to within the last
    /// 2 s (long enough for a frame's form submission to be held for consent, which then
    /// holds settling itself; short enough that a hung ad frame does not stall every step).
    pub(crate) fn pending_navigation(&self, tab: &str) -> bool {
        let st = self.st();
        st.navigating.get(tab).is_some_and(|t| t.elapsed() < Duration::from_secs(30))
            || st
                .navigating
                .iter()
                .any(|(f, t)| f != tab && t.elapsed() < Duration::from_secs(2) && st.frames.get(f).is_some_and(|fr| fr.tab == tab))
    }
}

/// How errand reached the browser, for [`Browser::init`].
enum Reached {
    Launched,
    /// Over `--cdp-url`; errand's browser context sends its traffic through this proxy
    /// of errand's, if there is one.
    Attached {
        proxy: Option<std::net::SocketAddr>,
    },
}

/// Settle [`Options::intercept`] once, before any target attaches: on only when there is
/// something to judge or hold and no proxy of errand's to do it (attached browsers),
/// because a DevTools session misses what a target sends as it goes away or before it is
/// set up. An explicit `Some(true)` (benchmarks) keeps it on whenever there is anything
/// to judge, `Some(false)` keeps it off.
fn resolve_intercept(opts: &mut Options, proxied: bool) -> bool {
    let anything = opts.guard.is_some() || opts.consent.is_some();
    let on = match opts.intercept {
        Some(false) => false,
        Some(true) => anything,
        None => anything && !proxied,
    };
    opts.intercept = Some(on);
    on
}

/// Attach to every kind of target (pages, iframes, all workers), paused until set up.
fn auto_attach() -> Value {
    json!({
        "autoAttach": true,
        "waitForDebuggerOnStart": true,
        "flatten": true,
        "filter": [{"type": "browser", "exclude": true}, {"type": "tab", "exclude": true}, {}],
    })
}

/// Create errand's isolated world in a frame's current document and remember it, unless
/// the frame moved on to another document meanwhile. Chromium keeps one world per name
/// and frame, so this is the world the walker was installed in at document start.
async fn create_world(cdp: &Cdp, st: &Mutex<State>, frame: &str, session: &str, generation: u64) -> Result<i64> {
    let r = cdp
        .raw(Some(session), "Page.createIsolatedWorld", json!({"frameId": frame, "worldName": "errand", "grantUniveralAccess": false}))
        .await?;
    let id = r["executionContextId"].as_i64().ok_or_else(|| BrowserError::Action("Chromium gave no isolated world".into()))?;
    let mut st = st.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(f) = st.frames.get_mut(frame) {
        if f.generation == generation {
            f.world = Some(id);
        }
    }
    Ok(id)
}

/// Set up a freshly attached target, then let it run. Runs in its own task so the event
/// task never waits on the browser.
#[allow(clippy::too_many_arguments)] // what a new target needs; goes with the tracker split (issue 17)
async fn setup_target(
    cdp: Cdp,
    session: String,
    kind: String,
    tab: Option<String>,
    st: Arc<Mutex<State>>,
    viewport: Option<(u32, u32)>,
    guarded: bool,
    consent: bool,
    blocked_urls: Option<Value>,
) {
    let s = Some(session.as_str());
    if guarded {
        // Before anything else, and before the target runs: its first request is judged.
        tracing::debug!(target: "errand::consent", "Fetch.enable on a {kind} session {session}");
        if let Err(e) = cdp.raw(s, "Fetch.enable", json!({"patterns": [{"urlPattern": "*", "requestStage": "Request"}]})).await {
            tracing::warn!("could not intercept requests of a {kind} target: {e}");
        }
    }
    // The rest is sent in order without waiting for each answer, as Puppeteer does:
    // Chromium dispatches a session's commands in order, but answers `Page.enable` for a
    // popup opened with `noopener` only after its first navigation, which waits for the
    // target to be resumed. Awaiting one by one would hang that tab for good.
    let page_like = kind == "page" || kind == "iframe";
    let mut calls: Vec<(&str, Value)> = vec![];
    if page_like {
        calls.push(("Page.enable", json!({})));
        if kind == "page" {
            if let Some((w, h)) = viewport {
                calls.push((
                    "Emulation.setDeviceMetricsOverride",
                    json!({"width": w, "height": h, "deviceScaleFactor": 1, "mobile": false}),
                ));
            }
        }
        // The walker runs at the start of every document, in errand's own world: it sees
        // mutations from the beginning and the first page state needs no install.
        if consent {
            // The walker reports each form as it is submitted through this binding
            // (bindings report only with the Runtime domain on).
            calls.push(("Runtime.enable", json!({})));
            calls.push(("Runtime.addBinding", json!({"name": "__errandSubmitted", "executionContextName": "errand"})));
        }
        calls.push(("Page.addScriptToEvaluateOnNewDocument", json!({"source": WALKER, "worldName": "errand"})));
        calls.push(("Network.enable", json!({})));
        calls.push(("Page.getFrameTree", json!({})));
    } else if kind.contains("worker") {
        calls.push(("Network.enable", json!({})));
    }
    if let Some(params) = blocked_urls {
        // Before the target runs, like interception: its first request already meets it.
        calls.push(("Network.setBlockedURLs", params));
    }
    if page_like || kind.contains("worker") {
        calls.push(("Target.setAutoAttach", auto_attach()));
    }
    calls.push(("Runtime.runIfWaitingForDebugger", json!({})));
    let answers = futures::future::join_all(calls.iter().map(|(m, p)| cdp.raw(s, m, p.clone()))).await;
    for ((method, _), answer) in calls.iter().zip(answers) {
        match (*method, answer) {
            ("Network.enable", Err(e)) => tracing::warn!("Network.enable failed on a {kind}: {e}"),
            ("Page.getFrameTree", Ok(tree)) => {
                if let Some(tab) = &tab {
                    let mut st = st.lock().unwrap_or_else(|p| p.into_inner());
                    st.add_tree(&tree["frameTree"], None, &session, tab);
                }
            }
            (m, Err(e)) => tracing::debug!("{m} failed on a {kind}: {e}"),
            _ => {}
        }
    }
    st.lock().unwrap_or_else(|p| p.into_inner()).ready.insert(session);
}

/// A paused state-changing request and where it came from.
struct Held {
    id: Value,
    session: Option<String>,
    url: String,
    method: String,
    params: Value,
    sender: gate::Sender,
}

/// Describe a held request, ask the consent policy, and let it go or fail it.
async fn decide_held(cdp: Cdp, st: Arc<Mutex<State>>, consent: SharedConsent, blocked: Arc<Mutex<Vec<Blocked>>>, h: Held) {
    let req = &h.params["request"];
    let content_type = req["headers"]
        .as_object()
        .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case("content-type")))
        .and_then(|(_, v)| v.as_str())
        .unwrap_or_default()
        .to_string();
    let sub = gate::submission(&cdp, &st, &h.sender, &h.method, &h.url, &content_type, &post_body(req)).await;
    let verdict = consent.decide(sub).await;
    match verdict {
        Verdict::Allow => cdp.send_nowait(h.session.as_deref(), "Fetch.continueRequest", json!({"requestId": h.id})),
        Verdict::Deny(reason) => {
            if h.sender.resource == "Document" {
                // A declined form submission leaves the page as it was: a 204 answer to a
                // navigation means "stay", where a failure would show an error page.
                cdp.send_nowait(
                    h.session.as_deref(),
                    "Fetch.fulfillRequest",
                    json!({"requestId": h.id, "responseCode": 204, "responseHeaders": [], "body": ""}),
                );
            } else {
                cdp.send_nowait(h.session.as_deref(), "Fetch.failRequest", json!({"requestId": h.id, "errorReason": "BlockedByClient"}));
            }
            blocked.lock().unwrap_or_else(|p| p.into_inner()).push(Blocked {
                url: h.url.clone(),
                reason: format!("{reason} ({} {})", h.method, h.url),
                layer: crate::guard::Layer::Consent,
                source: h.sender.source,
                resource: h.sender.resource,
            });
        }
    }
    let mut s = st.lock().unwrap_or_else(|p| p.into_inner());
    s.consent_pending = s.consent_pending.saturating_sub(1);
    s.last_net = Some(Instant::now());
}

/// The request body as text (from `postData`, or the base64 `postDataEntries`).
fn post_body(req: &Value) -> String {
    if let Some(s) = req["postData"].as_str() {
        return s.to_string();
    }
    use base64::Engine;
    req["postDataEntries"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e["bytes"].as_str())
                .filter_map(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                .map(|b| String::from_utf8_lossy(&b).to_string())
                .collect::<String>()
        })
        .unwrap_or_default()
}

/// The driver: the one task that reads every event. The [`tracker`] applies it to the
/// state under the lock; what it asks for (set up a target, answer a dialog, create a
/// world, record a refusal, name a download) is done here once the lock is released.
/// DevTools interception (`Fetch.requestPaused`, attach mode) is judged here too.
async fn event_task(
    cdp: Cdp,
    mut rx: mpsc::UnboundedReceiver<Event>,
    st: Arc<Mutex<State>>,
    opts: Options,
    blocked: Arc<Mutex<Vec<Blocked>>>,
    shortcut: Option<Arc<shortcut::Shortcut>>,
) {
    let tracking = tracker::Tracking { accept_confirms: opts.accept_confirms, downloads: opts.download_dir.is_some() };
    while let Some(ev) = rx.recv().await {
        let sess = ev.session.clone().unwrap_or_default();
        tracing::trace!(target: "errand::cdp", "{} {:?}", ev.method, ev.session);
        if ev.method == "Fetch.requestPaused" {
            paused(&cdp, &st, &opts, &blocked, &ev);
            continue;
        }
        if let (Some(s), "Target.detachedFromTarget") = (&shortcut, ev.method.as_str()) {
            s.forget(ev.params["sessionId"].as_str().unwrap_or_default());
        }
        let effects = st.lock().unwrap_or_else(|p| p.into_inner()).apply(&ev.method, &ev.params, &sess, &tracking);
        for effect in effects {
            match effect {
                Effect::SetUp { session, kind, tab } => {
                    let networked = kind == "page" || kind == "iframe" || kind.contains("worker");
                    let blocked_urls = shortcut.as_ref().filter(|_| networked).and_then(|s| s.for_target(&session));
                    tokio::spawn(setup_target(
                        cdp.clone(),
                        session,
                        kind,
                        tab,
                        st.clone(),
                        opts.viewport,
                        opts.intercept == Some(true),
                        opts.consent.is_some(),
                        blocked_urls,
                    ));
                }
                Effect::LeaveAlone { session } => {
                    cdp.send_nowait(Some(&session), "Runtime.runIfWaitingForDebugger", json!({}));
                    cdp.send_nowait(None, "Target.detachFromTarget", json!({"sessionId": session}));
                }
                Effect::CreateWorld { frame, session, generation } => {
                    let (cdp2, st2) = (cdp.clone(), st.clone());
                    tokio::spawn(async move {
                        let _ = create_world(&cdp2, &st2, &frame, &session, generation).await;
                    });
                }
                Effect::Attribute { url, resource, source } => proxy::attribute(&blocked, |b| b.url == url, &resource, &source),
                Effect::Failed { url, resource, source } => {
                    let tunnel = proxy::tunnel_url(&url);
                    let same = |b: &Blocked| b.url == url || Some(&b.url) == tunnel.as_ref();
                    proxy::attribute(&blocked, same, &resource, &source);
                    // Failed in Chromium before it reached the proxy (by the shortcut for
                    // hosts the allowlist refuses, on a port Chromium never uses, or a
                    // Chromium service host that skips the proxy and dies at the
                    // resolver): still the page's attempt on a host the allowlist
                    // refuses, so it is recorded as one.
                    // Checked and recorded under one lock: the proxy may record it meanwhile.
                    let mut list = blocked.lock().unwrap_or_else(|p| p.into_inner());
                    let known = list.iter().any(same);
                    if !known && opts.intercept != Some(true) {
                        if let Some(reason) = opts.guard.as_ref().and_then(|g| g.judge(&url)) {
                            list.push(Blocked { url, reason, layer: crate::guard::Layer::Browser, source, resource });
                        }
                    }
                }
                Effect::AnswerDialog { session, accept } => {
                    cdp.send_nowait(Some(&session), "Page.handleJavaScriptDialog", json!({"accept": accept}));
                }
                Effect::NameDownload { guid, url, suggested } => {
                    let Some(dir) = &opts.download_dir else { continue };
                    // Chromium saved it under its GUID; give it the page's name, made
                    // safe, and never over another file.
                    let file = match name_download(dir, &guid, &suggested) {
                        Ok(name) => name,
                        Err(e) => {
                            tracing::warn!("could not name the download {guid}: {e}");
                            guid.clone()
                        }
                    };
                    st.lock().unwrap_or_else(|p| p.into_inner()).changes.push(Change::Download { url, file, state: "completed".into() });
                }
            }
        }
    }
}

/// A request paused by DevTools interception (attached with `--cdp-url`, or
/// `--intercept`): judged by the guard; a state-changing one is held for consent in a task
/// of its own, so the event task never waits on a person.
fn paused(cdp: &Cdp, st: &Arc<Mutex<State>>, opts: &Options, blocked: &Arc<Mutex<Vec<Blocked>>>, ev: &Event) {
    let p = &ev.params;
    let sess = ev.session.clone().unwrap_or_default();
    let id = p["requestId"].clone();
    let url = p["request"]["url"].as_str().unwrap_or_default().to_string();
    // No URL in logs: a GET form can put a secret into it.
    tracing::debug!(target: "errand::consent", "paused {} ({}) frame {} session {sess}", p["request"]["method"], p["resourceType"], p["frameId"]);
    let verdict = opts.guard.as_ref().and_then(|g| g.judge(&url));
    let method = p["request"]["method"].as_str().unwrap_or("GET").to_string();
    let resource = p["resourceType"].as_str().unwrap_or_default().to_string();
    let mut s = st.lock().unwrap_or_else(|p| p.into_inner());
    let source = s.sessions.get(&sess).map(|(_, k)| k.clone()).unwrap_or_default();
    if let (None, Some(c)) = (&verdict, opts.consent.as_ref().filter(|_| consent::is_state_changing(&method))) {
        s.consent_pending += 1;
        let frame = p["frameId"].as_str().unwrap_or_default().to_string();
        let (world, frame_url, frame_session) =
            s.frames.get(&frame).map(|f| (f.world, f.url.clone(), f.session.clone())).unwrap_or((None, String::new(), String::new()));
        let tab_url =
            s.frames.get(&frame).and_then(|f| s.tabs.iter().find(|t| t.target_id == f.tab)).map(|t| t.url.clone()).unwrap_or_default();
        drop(s);
        let sender = gate::Sender { frame, frame_session, world, source, resource, frame_url, tab_url };
        let held = Held { id, session: ev.session.clone(), url, method, params: p.clone(), sender };
        tokio::spawn(decide_held(cdp.clone(), st.clone(), c.clone(), blocked.clone(), held));
        return;
    }
    drop(s);
    tracing::trace!(target: "errand::guard", "decided in {:?} after receipt", ev.received.elapsed());
    match verdict {
        None => cdp.send_nowait(Some(&sess), "Fetch.continueRequest", json!({"requestId": id})),
        Some(reason) => {
            cdp.send_nowait(Some(&sess), "Fetch.failRequest", json!({"requestId": id, "errorReason": "BlockedByClient"}));
            blocked.lock().unwrap_or_else(|p| p.into_inner()).push(Blocked {
                url,
                reason,
                layer: crate::guard::Layer::Cdp,
                source,
                resource,
            });
        }
    }
}

/// Rename a finished download from its GUID to the name the page suggested: one plain
/// file name (no folders, no leading dots, no control characters), and `name (2).ext`
/// when that is taken. Returns the name given.
fn name_download(dir: &std::path::Path, guid: &str, suggested: &str) -> std::io::Result<String> {
    let mut name: String = suggested.chars().map(|c| if c == '/' || c == '\\' || c.is_control() { '_' } else { c }).collect();
    name = name.trim_start_matches('.').trim().chars().take(120).collect();
    if name.is_empty() {
        name = "download".into();
    }
    let (stem, ext) = match name.rfind('.') {
        Some(i) if i > 0 => (name[..i].to_string(), name[i..].to_string()),
        _ => (name.clone(), String::new()),
    };
    let mut candidate = name.clone();
    let mut n = 2;
    while std::fs::symlink_metadata(dir.join(&candidate)).is_ok() {
        candidate = format!("{stem} ({n}){ext}");
        n += 1;
    }
    std::fs::rename(dir.join(guid), dir.join(&candidate))?;
    Ok(candidate)
}

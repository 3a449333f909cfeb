//! errand's Chromium controller: launch or attach, track every tab and frame, build the
//! page state a model reads, and execute web actions.
//!
//! Why it exists: the agent needs one object that drives a real browser robustly
//! (timeouts on every call, crashes reported in seconds, dialogs never hanging) and
//! shows a page the way a model needs to see it (compact, with stable element refs).
//!
//! Layout (every module):
//! * [`cdp`]: the DevTools connection (chromiumoxide's `Connection` and typed protocol).
//! * [`launch`]: finding and starting Chromium, or resolving a `--cdp-url`.
//! * [`Browser`] (this file): the handle on targets, sessions and frames; started in
//!   `start` (launch or attach, and the enforcement layers of each mode), kept up to date
//!   by the event task in `driver`, whose state the pure `tracker` owns.
//! * Enforcement: [`guard`] (the layers and what they refused), [`proxy`] (the filtering
//!   proxy; its answers in `proxy/answers.rs`), [`upstream`] and [`tls`] (its way out and
//!   its certificates), [`consent`] and `gate` (holding state-changing requests for a
//!   person's yes), [`secrets`] (values written in only for their hosts), [`shortcut`]
//!   (refusals that fail inside Chromium first).
//! * [`state`]: the page state, built by one in-page walk per frame; rendered as the
//!   model reads it in `state/render.rs`.
//! * [`actions`]: navigate, click, type… each followed by a bounded wait for the page to
//!   settle. In `actions/`: `input` (mouse and keys, shared with Recorder flows),
//!   `resolve` (what a ref, selector or text names), `settle` (as long as the page is
//!   busy, and no longer), `tabs` (navigation and tabs), `read` (screenshots,
//!   extraction, tables).
//! * [`extract`]: the main content of a rendered page (`extract/schema.rs`: what its
//!   schema.org JSON-LD states that the visible page hides; `extract/repeats.rs`: a
//!   carousel's cloned slides, once; `extract/densest.rs`: the block holding most of the
//!   page's prose, to check rs-trafilatura's choice against).
//! * [`userflow`]: Chrome Recorder flows, driven through a `Flow` handle.
//! * `js/`: the code errand puts in pages (the walker with its forms and secret fields, extraction, tables, flows).

pub mod actions;
pub mod cdp;
pub mod consent;
mod driver;
pub mod extract;
mod gate;
pub mod guard;
mod js;
pub mod launch;
pub mod proxy;
pub mod secrets;
pub mod shortcut;
mod start;
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

use driver::{auto_attach, create_world, event_task};

pub use actions::{Action, Direction, ElementTarget, Locator, Outcome, PendingPicture};
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
    /// How long the network and DOM must stay quiet, once the page has rendered what an
    /// action set off, to count as settled.
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
    /// Benchmarks only: extraction results also carry the rendered HTML the extractor
    /// read (`"rendered"`), so extraction rules can be measured again without a browser.
    pub keep_rendered: bool,
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
            quiet: Duration::from_millis(25),
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
            keep_rendered: false,
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
    /// The last thumbnail taken, for reuse while the page has not changed since (see
    /// [`Browser::thumbnail`]).
    pub(crate) picture: Arc<Mutex<actions::Pictures>>,
    /// Woken after every DevTools event the tracker took in: a settle waiting for the
    /// network looks again at once rather than at its next poll.
    pub(crate) changed: Arc<tokio::sync::Notify>,
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Browser").field("description", &self.description).finish()
    }
}

impl Browser {
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
        tokio::spawn(event_task(
            self.cdp.clone(),
            events,
            self.st.clone(),
            self.opts.clone(),
            self.blocked.clone(),
            self.shortcut.clone(),
            self.changed.clone(),
        ));
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

    /// Downloads that completed since the last action took its changes (a big file that
    /// outlasted its step): the caller records them before it ends.
    pub fn take_downloads(&self) -> Vec<Change> {
        let mut st = self.st();
        let (done, rest) = std::mem::take(&mut st.changes).into_iter().partition(|c| matches!(c, Change::Download { .. }));
        st.changes = rest;
        done
    }

    /// Run `expr` in errand's isolated world of `frame`, creating the world (and installing
    /// the walker) when the frame has a new document. Returns the value by value.
    pub(crate) async fn eval_in_frame(&self, frame: &str, expr: &str) -> Result<Value> {
        // Page code the expression needs and the world lacks, sent with it.
        let mut install: Vec<&str> = vec![];
        for attempt in 0..4 {
            let (session, world) = self.world(frame).await?;
            let expression = if install.is_empty() { expr.to_string() } else { format!("{}\n;{expr}", install.join("\n;")) };
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
                        // The walker is normally there already (installed at document
                        // start); a document that predates errand gets it on first use,
                        // and a Recorder flow's code the first time a flow calls it.
                        if let Some(code) = js::missing(msg).filter(|c| !install.contains(c)) {
                            install.push(code);
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
}

/// How errand reached the browser, for [`Browser::init`].
pub(crate) enum Reached {
    Launched,
    /// Over `--cdp-url`; errand's browser context sends its traffic through this proxy
    /// of errand's, if there is one.
    Attached {
        proxy: Option<std::net::SocketAddr>,
    },
}

//! The tracker: errand's picture of the browser (tabs, frames and their documents,
//! requests in flight, dialogs, downloads) as DevTools events change it.
//!
//! Pure: no I/O, no lock, no DevTools call. The event task (the driver, in `lib.rs`)
//! feeds it each event under the state lock and carries out the [`Effect`]s it returns
//! once the lock is released, so the rules here are tested without a browser (see the
//! tests below). A frame's document generation moves only here ([`State::new_document`]):
//! a ref minted in an older document is stale.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use crate::{consent, gate, proxy, Change};

mod events;
use events::{Attached, Binding, Dialog, Download, Event, FrameInfo, Ids, InfoChanged, Navigated, Received, Sent};

#[derive(Debug, Clone)]
pub(crate) struct Tab {
    pub target_id: String,
    pub session: Option<String>,
    pub url: String,
    pub title: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Frame {
    pub parent: Option<String>,
    /// The session that owns this frame's document (differs from the parent's for OOPIFs).
    pub session: String,
    pub url: String,
    /// The top-level tab's target id.
    pub tab: String,
    /// errand's isolated world in the current document, if created.
    pub world: Option<i64>,
    /// Bumped whenever the frame commits a new document.
    pub generation: u64,
    /// When errand first saw the frame (a generation number): orders a frame's children
    /// as they were attached, which is how Recorder flows index frames.
    pub born: u64,
    /// Navigations the frame committed, same-document ones included.
    pub navs: u64,
}

#[derive(Debug, Default)]
pub(crate) struct State {
    pub tabs: Vec<Tab>,
    pub active: usize,
    /// session id -> (target id, target type)
    pub sessions: HashMap<String, (String, String)>,
    pub frames: HashMap<String, Frame>,
    /// (session, requestId) -> when it started
    pub inflight: HashMap<(String, String), Instant>,
    /// (session, requestId) -> (URL, resource type) of requests under way, to name the
    /// page and resource behind a request the proxy refused.
    pub requests: HashMap<(String, String), (String, String)>,
    pub last_net: Option<Instant>,
    pub changes: Vec<Change>,
    pub recent_dialogs: Vec<Change>,
    /// Downloads under way (and, once complete, until the driver has named the file), by
    /// GUID: while one is, the browser is not quiet (for up to [`DOWNLOAD_WAIT`]).
    pub downloads: HashMap<String, Downloading>,
    pub gone: Option<String>,
    pub generation: u64,
    /// Our browser context when attached to someone else's browser.
    pub context: Option<String>,
    pub navigating: HashMap<String, Instant>,
    /// State-changing requests waiting for a consent decision.
    pub consent_pending: usize,
    /// session -> the last form submitted there, as the walker described it, and when.
    pub submitted: HashMap<String, (Instant, Value)>,
    /// Sessions whose set-up (domains enabled, children auto-attached) is complete.
    pub ready: HashSet<String>,
    /// frame id -> how its current document arrived: the HTTP status, and the net error
    /// when errand's proxy could not reach the server.
    pub documents: HashMap<String, DocStatus>,
    /// State-changing requests DevTools reported lately, for the proxy's consent gate.
    pub writes: Vec<gate::Write>,
    /// Tabs errand is closing: what they send now is declined unasked.
    pub closing_tabs: HashSet<String>,
    /// The session is ending: every held request is declined unasked.
    pub closing: bool,
}

/// How a frame's document arrived.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DocStatus {
    /// The HTTP status (0 when unknown).
    pub status: u16,
    pub status_text: String,
    /// `ERR_CONNECTION_REFUSED` and the like: the server could not be reached.
    pub net_error: Option<String>,
    /// errand's proxy refused it (the host is not on the allowlist).
    pub blocked: bool,
}

impl DocStatus {
    /// Why this document is not the page asked for, if it is not: an HTTP error or an
    /// unreachable server.
    pub fn problem(&self) -> Option<String> {
        if let Some(e) = &self.net_error {
            if e.starts_with("ERR_CERT") {
                return Some(format!("net::{e} (errand could not verify the server's certificate; for an intranet server, pass its certificate authority with --trust-ca FILE)"));
            }
            return Some(format!("net::{e}"));
        }
        if self.blocked {
            return Some("blocked: its host is not on the allowlist".into());
        }
        (self.status >= 400).then(|| format!("HTTP {} {}", self.status, self.status_text).trim_end().to_string())
    }
}

/// What the tracker needs to know of the session's options.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Tracking {
    /// Accept `confirm()` dialogs (else they are dismissed).
    pub accept_confirms: bool,
    /// Downloads are kept (else each is reported as denied).
    pub downloads: bool,
}

/// What the driver must do after an event, outside the state lock.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Effect {
    /// A new target of ours: set it up (domains, interception, auto-attach) and resume it.
    SetUp { session: String, kind: String, tab: Option<String> },
    /// Someone else's tab in a browser errand attached to: resume it and detach.
    LeaveAlone { session: String },
    /// A frame committed a document: create errand's isolated world in it now, off the
    /// critical path of the next page state.
    CreateWorld { frame: String, session: String, generation: u64 },
    /// The proxy refused this response: name the resource and the target behind it.
    Attribute { url: String, resource: String, source: String },
    /// A request failed in Chromium: if the proxy refused it, name what was behind it;
    /// if it never reached the proxy, judge it and record it as blocked.
    Failed { url: String, resource: String, source: String },
    /// Answer the open dialog: a dialog left open freezes the page.
    AnswerDialog { session: String, accept: bool },
    /// A download finished: give the file the page's name.
    NameDownload { guid: String, url: String, suggested: String },
}

/// Whose requests and navigations hold up settling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// After an action: everything in the browser (a popup the action opened loads too),
    /// and the network must have been quiet for the quiet window.
    Browser,
    /// One tab of several loading at once: its own frames' requests only.
    Tab,
}

/// Requests running this long (long polls, streams) no longer hold up settling.
const LONG_REQUEST: Duration = Duration::from_secs(2);

/// How long a download under way keeps the browser from being quiet: a small file (the
/// usual case) is in the output folder when the action's step ends; a big one is recorded
/// when it completes, at a later step or when the run finishes.
const DOWNLOAD_WAIT: Duration = Duration::from_secs(10);

/// A download Chromium is saving.
#[derive(Debug, Clone)]
pub struct Downloading {
    pub url: String,
    pub file: String,
    pub since: Instant,
}

impl State {
    /// Whether `tab` is busy as far as DevTools shows: its document navigating (for at
    /// most 30 s), one of its frames starting to within the last 2 s (long enough for a
    /// frame's form submission to be held for consent, short enough that a hung ad frame
    /// does not stall every step), a request in flight, or one waiting for consent.
    /// `None` when busy; else how long the network has been quiet (for [`Scope::Tab`],
    /// which does not judge by other tabs' traffic, as long as can be).
    pub(crate) fn network_quiet(&self, tab: &str, scope: Scope, now: Instant) -> Option<Duration> {
        let navigating = self.navigating.iter().any(|(f, t)| {
            let age = now.saturating_duration_since(*t);
            if f == tab {
                age < Duration::from_secs(30)
            } else {
                age < LONG_REQUEST && self.frames.get(f).is_some_and(|fr| fr.tab == tab)
            }
        });
        let of_tab = |session: &str| {
            self.sessions.get(session).is_some_and(|(target, _)| target == tab || self.frames.get(target).is_some_and(|f| f.tab == tab))
        };
        let inflight = self
            .inflight
            .iter()
            .any(|((s, _), t)| now.saturating_duration_since(*t) < LONG_REQUEST && (scope == Scope::Browser || of_tab(s)));
        let downloading =
            scope == Scope::Browser && self.downloads.values().any(|d| now.saturating_duration_since(d.since) < DOWNLOAD_WAIT);
        if navigating || inflight || downloading || self.consent_pending > 0 {
            return None;
        }
        Some(match (scope, self.last_net) {
            (Scope::Browser, Some(t)) => now.saturating_duration_since(t),
            _ => Duration::MAX,
        })
    }

    /// The next document generation.
    fn next_generation(&mut self) -> u64 {
        self.generation += 1;
        self.generation
    }

    /// Frame `id` committed a new document or lost its world: its generation moves on
    /// (so every ref minted in the old one is stale) and its world is gone. Returns the
    /// new generation.
    pub(crate) fn new_document(&mut self, id: &str) -> Option<u64> {
        let g = self.next_generation();
        let f = self.frames.get_mut(id)?;
        f.generation = g;
        f.world = None;
        Some(g)
    }

    /// Whether a ref minted in `frame` at `generation` still points into its document.
    pub(crate) fn is_current(&self, frame: &str, generation: u64) -> bool {
        self.frames.get(frame).is_some_and(|f| f.generation == generation)
    }

    /// The frame `id`, first seen now, or as known.
    fn frame_entry(&mut self, id: &str, parent: Option<String>, session: &str, url: &str, tab: &str) -> &mut Frame {
        let generation = self.next_generation();
        self.frames.entry(id.to_string()).or_insert_with(|| Frame {
            parent,
            session: session.to_string(),
            url: url.to_string(),
            tab: tab.to_string(),
            world: None,
            generation,
            born: generation,
            navs: 0,
        })
    }

    /// Forget a frame and its descendants.
    pub(crate) fn remove_frame(&mut self, id: &str) {
        let kids: Vec<String> = self.frames.iter().filter(|(_, f)| f.parent.as_deref() == Some(id)).map(|(k, _)| k.clone()).collect();
        for k in kids {
            self.remove_frame(&k);
        }
        self.frames.remove(id);
    }

    /// A world that no longer exists: its walker registry is gone with it, so the frame
    /// has a new generation and every ref minted in it is stale.
    pub(crate) fn forget_world(&mut self, frame: &str, world: i64) {
        if self.frames.get(frame).is_some_and(|f| f.world == Some(world)) {
            self.new_document(frame);
        }
    }

    /// Learn a frame tree (`Page.getFrameTree`) of a tab's session.
    pub(crate) fn add_tree(&mut self, node: &Value, parent: Option<&str>, session: &str, tab: &str) {
        let f = &node["frame"];
        let Some(id) = f["id"].as_str() else { return };
        let url = f["url"].as_str().unwrap_or_default().to_string();
        let parent = parent.map(str::to_string).or_else(|| f["parentId"].as_str().map(str::to_string));
        let e = self.frame_entry(id, parent.clone(), session, &url, tab);
        e.session = session.to_string();
        // The tree is a snapshot that may be answered after a navigation event was already
        // seen; the event is the later truth.
        if e.navs == 0 {
            e.url = url;
        }
        if e.parent.is_none() {
            e.parent = parent;
        }
        if let Some(kids) = node["childFrames"].as_array() {
            for k in kids {
                self.add_tree(k, Some(id), session, tab);
            }
        }
    }

    /// The kind of target behind a session ("page", "iframe", "worker"…).
    fn source_of(&self, session: &str) -> String {
        self.sessions.get(session).map(|(_, k)| k.clone()).unwrap_or_default()
    }

    /// Apply one DevTools event (`method`, `p`, from session `sess`) and say what the
    /// driver must do about it.
    pub(crate) fn apply(&mut self, method: &str, p: &Value, sess: &str, t: &Tracking) -> Vec<Effect> {
        self.apply_event(Event::parse(method, p), sess, t)
    }

    /// [`State::apply`] for an event already read.
    fn apply_event(&mut self, event: Event, sess: &str, t: &Tracking) -> Vec<Effect> {
        let mut fx = vec![];
        let failed = matches!(event, Event::LoadingFailed(_));
        match event {
            Event::Attached(Attached { session_id: session, target_info: info }) => {
                let target = info.target_id.clone();
                let kind = info.kind.clone();
                let ours = match (&self.context, info.browser_context_id.as_deref()) {
                    (Some(c), Some(t)) => c == t,
                    (Some(_), None) => false,
                    (None, _) => true,
                };
                self.sessions.insert(session.clone(), (target.clone(), kind.clone()));
                let mut tab = None;
                if kind == "page" {
                    if !ours {
                        fx.push(Effect::LeaveAlone { session });
                        return fx;
                    }
                    let url = info.url.clone();
                    let idx = match self.tabs.iter().position(|t| t.target_id == target) {
                        Some(i) => {
                            self.tabs[i].session = Some(session.clone());
                            i
                        }
                        None => {
                            let title = info.title.clone();
                            self.tabs.push(Tab { target_id: target.clone(), session: Some(session.clone()), url: url.clone(), title });
                            self.tabs.len() - 1
                        }
                    };
                    if idx > 0 {
                        self.changes.push(Change::NewTab { index: idx, url });
                    }
                    // The tab's main frame has the target's id; a new session is a new document.
                    self.frames.remove(&target);
                    self.frame_entry(&target, None, &session, "", &target);
                    tab = Some(target.clone());
                } else if kind == "iframe" {
                    // An out-of-process iframe: the frame keeps its id, its document moves to
                    // the new session.
                    let parent_tab = self.sessions.get(sess).map(|(t, _)| t.clone());
                    let tab_id = parent_tab.as_ref().and_then(|t| self.frames.get(t).map(|f| f.tab.clone())).unwrap_or_default();
                    let f = self.frame_entry(&target, parent_tab, &session, "", &tab_id);
                    f.session = session.clone();
                    let tab_of = f.tab.clone();
                    self.new_document(&target);
                    tab = Some(tab_of);
                }
                fx.push(Effect::SetUp { session, kind, tab });
            }
            Event::Detached(Ids { session_id: Some(session), .. }) => {
                let session = session.as_str();
                self.sessions.remove(session);
                self.ready.remove(session);
                self.inflight.retain(|(k, _), _| k != session);
                self.requests.retain(|(k, _), _| k != session);
                for t in self.tabs.iter_mut() {
                    if t.session.as_deref() == Some(session) {
                        t.session = None;
                    }
                }
            }
            Event::InfoChanged(InfoChanged { target_info: info }) if info.kind == "page" => {
                if let Some(t) = self.tabs.iter_mut().find(|t| t.target_id == info.target_id) {
                    let url = info.url.as_str();
                    let title = info.title.as_str();
                    // While a page loads Chromium titles it with its address; that
                    // must not replace the title the page itself gave.
                    if !(url == t.url && !t.title.is_empty() && title_is_address(title, url)) {
                        t.title = title.into();
                    }
                    t.url = url.into();
                }
            }
            Event::Destroyed(Ids { target_id: Some(id), .. }) => {
                let id = id.as_str();
                if let Some(i) = self.tabs.iter().position(|t| t.target_id == id) {
                    let t = self.tabs.remove(i);
                    self.changes.push(Change::TabClosed { url: t.url });
                    self.frames.retain(|_, f| f.tab != id);
                    if self.active >= i && self.active > 0 {
                        self.active -= 1;
                    }
                }
            }
            Event::Crashed(Ids { status, .. }) => {
                let detail = format!("a page crashed ({})", status.as_deref().unwrap_or("renderer crash"));
                self.changes.push(Change::Crashed { detail });
            }
            Event::FrameAttached(Ids { frame_id, parent_frame_id: parent, .. }) => {
                let id = frame_id.unwrap_or_default();
                let tab = parent.as_ref().and_then(|pp| self.frames.get(pp)).map(|f| f.tab.clone()).unwrap_or_default();
                self.frame_entry(&id, parent, sess, "", &tab);
            }
            Event::FrameNavigated(Navigated { frame: FrameInfo { id, url, parent_id: parent } }) => {
                let tab = match &parent {
                    Some(pp) => self.frames.get(pp).map(|f| f.tab.clone()).unwrap_or_default(),
                    None => self.sessions.get(sess).map(|(t, _)| t.clone()).unwrap_or_default(),
                };
                let e = self.frame_entry(&id, parent.clone(), sess, &url, &tab);
                e.url = url.clone();
                e.navs += 1;
                if parent.is_some() && e.parent.is_none() {
                    e.parent = parent;
                }
                let session = e.session.clone();
                let generation = self.new_document(&id).unwrap_or_default();
                if !url.starts_with("about:") && !url.starts_with("chrome-error:") {
                    fx.push(Effect::CreateWorld { frame: id.clone(), session, generation });
                }
                // A new document: frames of the old one are gone.
                let kids: Vec<String> =
                    self.frames.iter().filter(|(_, f)| f.parent.as_deref() == Some(&id)).map(|(k, _)| k.clone()).collect();
                for k in kids {
                    if self.frames.get(&k).is_some_and(|f| f.session == sess) {
                        self.remove_frame(&k);
                    }
                }
                if let Some(t) = self.tabs.iter_mut().find(|t| t.target_id == id) {
                    t.url = url;
                }
            }
            Event::WithinDocument(Ids { frame_id: Some(id), url: Some(url), .. }) => {
                let (id, url) = (id.as_str(), url.as_str());
                if let Some(f) = self.frames.get_mut(id) {
                    f.url = url.to_string();
                    f.navs += 1;
                }
                if let Some(t) = self.tabs.iter_mut().find(|t| t.target_id == id) {
                    t.url = url.to_string();
                }
            }
            Event::Navigating(Ids { frame_id, .. }) => {
                tracing::debug!(target: "errand::consent", "navigation requested: frame {frame_id:?} session {sess}");
                if let Some(id) = frame_id {
                    self.navigating.insert(id, Instant::now());
                }
            }
            Event::DomContentLoaded => {
                tracing::debug!(target: "errand::settle", "domContentEventFired in session {sess} (target {:?})", self.sessions.get(sess).map(|x| x.0.clone()));
                // The document is parsed and its scripts have run (and started their
                // requests): from here on, settling is about the network and the DOM.
                if let Some((t, _)) = self.sessions.get(sess).cloned() {
                    self.navigating.remove(&t);
                }
            }
            Event::StoppedLoading(Ids { frame_id, .. }) => {
                tracing::debug!(target: "errand::settle", "frameStoppedLoading {frame_id:?} in session {sess}");
                if let Some(id) = frame_id {
                    self.navigating.remove(&id);
                }
            }
            // A swap moves the frame to another process; it lives on in the new session.
            Event::FrameDetached(Ids { frame_id: Some(id), reason, .. }) if reason.as_deref() != Some("swap") => {
                self.remove_frame(&id);
            }
            Event::RequestSent(sent) => self.request_sent(&sent, sess),
            Event::ResponseReceived(Received { kind, frame_id, response: r }) => {
                // The proxy marks its refusals.
                let refused = r.status == 403 && r.header(proxy::BLOCKED_HEADER).is_some();
                if let (true, Some(frame)) = (kind == "Document", frame_id) {
                    let net_error = r.header(proxy::UNREACHABLE_HEADER).map(str::to_string);
                    let status_text = Some(r.status_text.clone()).filter(|t| !t.is_empty()).unwrap_or_else(|| reason_phrase(r.status));
                    self.documents.insert(frame, DocStatus { status: r.status, status_text, net_error, blocked: refused });
                }
                if refused {
                    // Name the resource and target behind the refusal.
                    fx.push(Effect::Attribute { url: r.url, resource: kind, source: self.source_of(sess) });
                }
            }
            Event::LoadingFinished(Ids { request_id: Some(id), .. }) | Event::LoadingFailed(Ids { request_id: Some(id), .. }) => {
                let id = id.as_str();
                // An out-of-process frame's document request starts in the parent's
                // session and finishes in the frame's own: request ids are unique, so
                // the one started elsewhere ends here too (else it would hold settling
                // for 2 s on every page with a cross-site frame).
                let before = self.inflight.len();
                self.inflight.retain(|(_, r), _| r != id);
                if self.inflight.len() < before {
                    self.last_net = Some(Instant::now());
                }
                let key = (sess.to_string(), id.to_string());
                let req = self.requests.remove(&key).or_else(|| {
                    let other = self.requests.keys().find(|(_, r)| r == id).cloned();
                    other.and_then(|k| self.requests.remove(&k))
                });
                // A request the proxy refused may fail here rather than show its 403
                // (CORS, or an https/wss one refused at CONNECT, a tunnel error).
                if let Some((url, resource)) = req.filter(|_| failed) {
                    fx.push(Effect::Failed { url, resource, source: self.source_of(sess) });
                }
            }
            Event::BindingCalled(Binding { name, payload }) if name == "__errandSubmitted" => {
                tracing::debug!(target: "errand::consent", "form submitted in session {sess}");
                if let Ok(v) = serde_json::from_str::<Value>(&payload) {
                    self.submitted.insert(sess.to_string(), (Instant::now(), v));
                }
            }
            Event::DialogOpening(Dialog { kind, message }) => {
                let kind = if kind.is_empty() { "alert".to_string() } else { kind };
                let message = message.chars().take(300).collect::<String>();
                // Never leave a dialog open: it would freeze the page and every call into it.
                let accept = match kind.as_str() {
                    "alert" | "beforeunload" => true,
                    "confirm" => t.accept_confirms,
                    _ => false,
                };
                let answer = if accept { "accepted" } else { "dismissed" }.to_string();
                let change = Change::Dialog { dialog: kind, message, answer };
                self.changes.push(change.clone());
                self.recent_dialogs.push(change);
                fx.push(Effect::AnswerDialog { session: sess.to_string(), accept });
            }
            Event::DownloadBegins(Download { guid, url, suggested_filename: file, .. }) => {
                self.downloads.insert(guid, Downloading { url, file, since: Instant::now() });
            }
            Event::DownloadProgress(Download { guid, state, .. }) if state == "completed" || state == "canceled" => {
                match (self.downloads.get(&guid).cloned(), t.downloads, state.as_str()) {
                    (None, ..) => {}
                    // Still under way until the driver has named the file: a step that
                    // settles in between would end without it.
                    (Some(d), true, "completed") => fx.push(Effect::NameDownload { guid, url: d.url, suggested: d.file }),
                    (Some(d), false, _) => {
                        self.downloads.remove(&guid);
                        self.changes.push(Change::DownloadDenied { url: d.url });
                    }
                    (Some(d), true, _) => {
                        self.downloads.remove(&guid);
                        self.changes.push(Change::Download { url: d.url, file: d.file, state });
                    }
                }
            }
            Event::ConnectionClosed => {
                self.gone.get_or_insert_with(|| "Chromium exited or crashed (the DevTools connection closed)".into());
                self.changes.push(Change::Crashed { detail: "the browser exited or crashed".into() });
            }
            _ => {}
        }
        fx
    }

    fn request_sent(&mut self, p: &Sent, sess: &str) {
        let ty = p.kind.as_str();
        if ty != "EventSource" && ty != "WebSocket" {
            if let Some(id) = &p.request_id {
                self.inflight.insert((sess.to_string(), id.to_string()), Instant::now());
                self.last_net = Some(Instant::now());
            }
        }
        if let (Some(id), Some(url)) = (&p.request_id, &p.request.url) {
            self.requests.insert((sess.to_string(), id.to_string()), (url.to_string(), ty.to_string()));
            let method = p.request.method.as_deref().unwrap_or("GET");
            if consent::is_state_changing(method) && p.redirect_response.is_none() {
                // Who sent it, for the proxy's consent gate.
                self.writes.push(gate::Write {
                    at: Instant::now(),
                    method: method.to_string(),
                    url: url.to_string(),
                    session: sess.to_string(),
                    frame: p.frame_id.clone().unwrap_or_default(),
                    resource: ty.to_string(),
                    claimed: false,
                });
            }
        }
        if ty == "Document" {
            // A new document is on its way: the old one's status no longer holds.
            if let Some(frame) = &p.frame_id {
                self.documents.remove(frame);
            }
        }
    }
}

/// Is this target title only Chromium's stand-in for a page without one yet (its address
/// without the scheme)?
pub(crate) fn title_is_address(title: &str, url: &str) -> bool {
    let bare = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    title.is_empty() || title == url || title == bare || title == bare.trim_end_matches('/')
}

/// The standard reason phrase of an HTTP status (HTTP/2 responses carry none).
fn reason_phrase(status: u16) -> String {
    hyper::StatusCode::from_u16(status).ok().and_then(|c| c.canonical_reason()).unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests;

//! Web actions: each one is executed with real input events where a person would use
//! them (mouse, keyboard), then waits, bounded, for the page to settle, and reports what
//! changed. Element actions also return a durable [`Locator`] so a replay can find the
//! element again without the snapshot ref.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::{Browser, BrowserError, Change, Result};

mod input;
pub(crate) use input::Press;
use resolve::{check_stale, locator_of};
use tabs::tab_label;
mod read;
pub use read::PendingPicture;
pub(crate) use read::Pictures;
mod resolve;
mod settle;
mod tabs;

/// How an action names its element: a snapshot ref, a CSS selector, or visible text.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum ElementTarget {
    Ref(String),
    Selector(String),
    Text(String),
}

impl std::fmt::Display for ElementTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ElementTarget::Ref(r) => write!(f, "{r}"),
            ElementTarget::Selector(s) => write!(f, "selector {s:?}"),
            ElementTarget::Text(t) => write!(f, "text {t:?}"),
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Up,
    #[default]
    Down,
    Left,
    Right,
    Top,
    Bottom,
}

/// One web action.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    Navigate {
        url: String,
    },
    Click {
        target: ElementTarget,
    },
    Type {
        target: ElementTarget,
        text: String,
        #[serde(default)]
        append: bool,
        #[serde(default)]
        submit: bool,
    },
    Select {
        target: ElementTarget,
        value: String,
    },
    Check {
        target: ElementTarget,
        checked: bool,
    },
    Press {
        key: String,
    },
    Hover {
        target: ElementTarget,
    },
    Scroll {
        #[serde(default)]
        direction: Direction,
        target: Option<ElementTarget>,
    },
    Back,
    Forward,
    TabNew {
        url: Option<String>,
    },
    TabSwitch {
        index: usize,
    },
    TabClose {
        index: Option<usize>,
    },
    Wait {
        text: Option<String>,
        selector: Option<String>,
        ms: Option<u64>,
    },
    Screenshot {
        #[serde(default)]
        full_page: bool,
    },
    Extract,
}

/// How to find an element again later: CSS path (one selector per shadow tree), role and
/// accessible name, text, and the locators of the frames it sits in (outermost first).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Locator {
    pub css: Vec<String>,
    pub role: String,
    pub name: String,
    pub text: String,
    pub tag: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub frames: Vec<Vec<String>>,
    /// The same frames as child indexes from the tab's main frame (how Chrome's Recorder
    /// names them), when the element sits in one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub frame_index: Vec<usize>,
    /// Where errand pressed, from the top-left of the element's box (CSS pixels).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<[f64; 2]>,
}

/// What an action did.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Outcome {
    /// One line for the narration and the model.
    pub summary: String,
    pub url_before: String,
    pub url: String,
    pub title: String,
    pub changes: Vec<Change>,
    pub locator: Option<Locator>,
    /// False when the page was still busy at the settle timeout.
    pub settled: bool,
    #[serde(skip)]
    pub image: Option<Vec<u8>>,
    /// Extra results (extracted content, …).
    pub data: Option<Value>,
    /// The text was typed into a password or secret field (callers must not log it).
    pub secret: bool,
    /// Requests the allowlist stopped while the action ran.
    pub blocked: Vec<crate::Blocked>,
    /// Why the page now shown is not the one asked for: `HTTP 404 Not Found`, or
    /// `net::ERR_CONNECTION_REFUSED` (then the navigation itself failed).
    pub problem: Option<String>,
}

/// The longest `wait` a model may ask for.
pub const MAX_WAIT: Duration = Duration::from_secs(10);

impl Browser {
    /// Execute one action on the active tab and wait for the page to settle.
    pub async fn act(&self, action: &Action) -> Result<Outcome> {
        self.check_alive()?;
        if let Some(s) = &self.shortcut {
            // A host the person allowed since the last action must not fail in Chromium.
            s.refresh(&self.cdp).await;
        }
        self.take_changes();
        // What changes the page makes the last picture stale; reading it does not (a
        // picture kept is still checked against the page before it serves again).
        // A scroll of the whole page forgets it only if the page moved.
        if !matches!(action, Action::Extract | Action::Screenshot { .. } | Action::Wait { .. } | Action::Scroll { target: None, .. }) {
            self.forget_picture();
        }
        let before = self.active_tab()?;
        let acted_on = self.document_of(&before.target_id);
        let t0 = std::time::Instant::now();
        let mut out = Outcome { url_before: before.url.clone(), ..Default::default() };
        let mut settle = true;
        let mut closed: Option<String> = None;
        match action {
            Action::Navigate { url } => {
                self.navigate(url).await?;
                out.summary = format!("navigated to {url}");
            }
            Action::Click { target } => {
                let (loc, desc) = self.click(target).await?;
                out.summary = format!("clicked {desc}");
                out.locator = Some(loc);
            }
            Action::Type { target, text, append, submit } => {
                let (frame, local) = self.resolve(target).await?;
                let r = self.eval_in_frame(&frame, &format!("__errand.focusForTyping({local}, {append})")).await?;
                check_stale(&r, target)?;
                if let Some(e) = r["error"].as_str() {
                    return Err(BrowserError::Action(e.to_string()));
                }
                out.secret = r["secret"].as_bool().unwrap_or(false);
                let session = before.session.clone().unwrap_or_default();
                if !append && text.is_empty() {
                    self.key(&session, "Delete", 0).await?;
                } else if !text.is_empty() {
                    self.cdp.raw(Some(&session), "Input.insertText", json!({"text": text})).await?;
                }
                let mut loc = locator_of(&r);
                self.place(&mut loc, &frame).await;
                out.locator = Some(loc.clone());
                let shown = if out.secret { "••••".to_string() } else { format!("{text:?}") };
                out.summary = format!("typed {shown} into {} \"{}\"", loc.role, loc.name);
                if *submit {
                    self.key(&session, "Enter", 0).await?;
                    out.summary.push_str(" and pressed Enter");
                }
            }
            Action::Select { target, value } => {
                let (frame, local) = self.resolve(target).await?;
                let r = self.eval_in_frame(&frame, &format!("__errand.selectOption({local}, {})", json!(value))).await?;
                check_stale(&r, target)?;
                if let Some(e) = r["error"].as_str() {
                    return Err(BrowserError::Action(e.to_string()));
                }
                let mut loc = locator_of(&r);
                self.place(&mut loc, &frame).await;
                out.summary = format!("selected \"{}\" in {} \"{}\"", r["chosen"].as_str().unwrap_or(value), loc.role, loc.name);
                out.locator = Some(loc);
            }
            Action::Check { target, checked } => {
                let (frame, local) = self.resolve(target).await?;
                let r = self.eval_in_frame(&frame, &format!("__errand.checked({local})")).await?;
                check_stale(&r, target)?;
                if r["checkable"] != Value::Bool(true) {
                    return Err(BrowserError::Action(format!("{target} is not a checkbox or radio button")));
                }
                if r["checked"].as_bool() == Some(*checked) {
                    let loc = self.locator_at(&frame, local).await;
                    out.summary = format!("{target} was already {}", if *checked { "checked" } else { "unchecked" });
                    out.locator = loc;
                    settle = false;
                } else {
                    let (loc, desc) = self.click(target).await?;
                    out.locator = Some(loc);
                    let r = self.eval_in_frame(&frame, &format!("__errand.checked({local})")).await;
                    let now = r.ok().and_then(|r| r["checked"].as_bool());
                    out.summary = match now {
                        Some(c) if c == *checked => format!("{} {desc}", if *checked { "checked" } else { "unchecked" }),
                        Some(_) => format!("clicked {desc} but it did not change (the page may prevent it)"),
                        None => format!("clicked {desc}"),
                    };
                }
            }
            Action::Press { key } => {
                let session = before.session.clone().unwrap_or_default();
                self.press(&session, key).await?;
                out.summary = format!("pressed {key}");
            }
            Action::Hover { target } => {
                let (frame, local) = self.resolve(target).await?;
                let (x, y, loc) = self.point(&frame, local, target).await?;
                let session = before.session.clone().unwrap_or_default();
                self.hover_at(&session, x, y).await?;
                out.summary = format!("hovered over {} \"{}\"", loc.role, loc.name);
                out.locator = Some(loc);
            }
            Action::Scroll { direction, target } => {
                if let Some(t) = target {
                    let (frame, local) = self.resolve(t).await?;
                    let r = self.eval_in_frame(&frame, &format!("__errand.scrollTo({local})")).await?;
                    check_stale(&r, t)?;
                    out.summary = format!("scrolled {t} into view");
                    let mut loc = locator_of(&r);
                    self.place(&mut loc, &frame).await;
                    out.locator = Some(loc);
                } else {
                    let expr = match direction {
                        Direction::Down => "__errand.scrollBy(Math.round(innerHeight*0.8))".to_string(),
                        Direction::Up => "__errand.scrollBy(-Math.round(innerHeight*0.8))".to_string(),
                        Direction::Top => "__errand.scrollBy(-1e9)".to_string(),
                        Direction::Bottom => "__errand.scrollBy(1e9)".to_string(),
                        Direction::Left => {
                            "(scrollBy({left:-Math.round(innerWidth*0.8),behavior:'instant'}),{moved:1,y:scrollY})".to_string()
                        }
                        Direction::Right => {
                            "(scrollBy({left:Math.round(innerWidth*0.8),behavior:'instant'}),{moved:1,y:scrollY})".to_string()
                        }
                    };
                    let r = self.eval_in_frame(&before.target_id, &expr).await?;
                    let moved = r["moved"].as_i64().unwrap_or(0);
                    if moved == 0 {
                        // Nothing moved, so no scroll event ran: nothing to settle, and the
                        // last picture still shows the page.
                        settle = false;
                    } else {
                        self.forget_picture();
                    }
                    out.summary = if moved == 0 {
                        format!("could not scroll {direction:?}: already at the edge").to_lowercase()
                    } else {
                        format!("scrolled {} to y={}", format!("{direction:?}").to_lowercase(), r["y"].as_i64().unwrap_or(0))
                    };
                }
            }
            Action::Back | Action::Forward => {
                let session = before.session.clone().unwrap_or_default();
                let h = self.cdp.raw(Some(&session), "Page.getNavigationHistory", json!({})).await?;
                let cur = h["currentIndex"].as_i64().unwrap_or(0);
                let to = if matches!(action, Action::Back) { cur - 1 } else { cur + 1 };
                let entries = h["entries"].as_array().cloned().unwrap_or_default();
                let Some(e) = usize::try_from(to).ok().and_then(|i| entries.get(i)) else {
                    return Err(BrowserError::Action(format!(
                        "cannot go {}: no page in that direction of this tab's history",
                        if matches!(action, Action::Back) { "back" } else { "forward" }
                    )));
                };
                self.mark_navigating(&before.target_id);
                self.cdp.raw(Some(&session), "Page.navigateToHistoryEntry", json!({"entryId": e["id"]})).await?;
                out.summary = format!(
                    "went {} to {}",
                    if matches!(action, Action::Back) { "back" } else { "forward" },
                    e["url"].as_str().unwrap_or("")
                );
            }
            Action::TabNew { url } => {
                let idx = self.new_tab().await?;
                out.summary = format!("opened tab [{idx}]");
                if let Some(u) = url {
                    self.navigate(u).await?;
                    out.summary.push_str(&format!(" and navigated to {u}"));
                }
            }
            Action::TabSwitch { index } => {
                let t = {
                    let mut st = self.st();
                    let Some(t) = st.tabs.get(*index).cloned() else {
                        return Err(BrowserError::Action(format!("there is no tab [{index}]; there are {} tabs", st.tabs.len())));
                    };
                    st.active = *index;
                    t
                };
                let _ = self.cdp.raw(None, "Target.activateTarget", json!({"targetId": t.target_id})).await;
                out.summary = format!("switched to tab [{index}] {}", t.url);
                settle = false;
            }
            Action::TabClose { index } => {
                let (t, n, i) = {
                    let st = self.st();
                    let i = index.unwrap_or(st.active);
                    let Some(t) = st.tabs.get(i).cloned() else {
                        return Err(BrowserError::Action(format!("there is no tab [{i}]")));
                    };
                    (t, st.tabs.len(), i)
                };
                if n == 1 {
                    return Err(BrowserError::Action("cannot close the last tab; navigate instead".into()));
                }
                let (title, url) = self.tabs_fresh().await.into_iter().find(|x| x.0 == i).map(|x| (x.1, x.2)).unwrap_or_default();
                self.close_target(&t.target_id).await?;
                closed = Some(url.clone());
                out.summary = format!("closed tab [{i}]{}", tab_label(&title, &url));
                settle = false;
            }
            Action::Wait { text, selector, ms } => {
                out.summary = self.wait_for(text.as_deref(), selector.as_deref(), *ms).await?;
            }
            Action::Screenshot { full_page } => {
                let img = self.screenshot(*full_page, "png", None).await?;
                out.summary = format!("took a {} screenshot ({} KB)", if *full_page { "full-page" } else { "viewport" }, img.len() / 1024);
                out.image = Some(img);
                settle = false;
            }
            Action::Extract => {
                let v = self.extract().await?;
                let words = v["text"].as_str().map(|t| t.split_whitespace().count()).unwrap_or(0);
                out.summary = format!("extracted the main content ({words} words)");
                out.data = Some(v);
                settle = false;
            }
        }
        tracing::debug!(target: "errand::timing", "acted in {:?}", t0.elapsed());
        out.settled = if settle { self.settle_after(acted_on).await? } else { true };
        tracing::debug!(target: "errand::timing", "settled by {:?}", t0.elapsed());
        if let Ok(t) = self.active_tab() {
            out.url = t.url.clone();
            out.title = t.title.clone();
            // Target info lags behind the page; ask the page itself when it can answer.
            if let Ok(v) = self.eval_in_frame(&t.target_id, "[location.href, document.title]").await {
                if let (Some(u), Some(ti)) = (v[0].as_str(), v[1].as_str()) {
                    out.url = u.to_string();
                    out.title = ti.to_string();
                    // Keep what the page said: a later `tabs()` must not show the address
                    // Chromium uses as a title while a page loads.
                    if let Some(tab) = self.st().tabs.iter_mut().find(|x| x.target_id == t.target_id) {
                        tab.url = out.url.clone();
                        tab.title = out.title.clone();
                    }
                }
            }
        }
        out.problem = self.document_status().problem();
        if let (Some(p), Action::Navigate { url } | Action::TabNew { url: Some(url) }) = (&out.problem, action) {
            if p.starts_with("net::") {
                // As the browser reports it without a proxy: the page could not be loaded.
                return Err(BrowserError::Action(format!("could not load {url}: {p}")));
            }
        }
        if let Some(p) = &out.problem {
            if matches!(action, Action::Navigate { .. } | Action::TabNew { .. } | Action::Back | Action::Forward) {
                out.summary.push_str(&format!(" (the server answered {p})"));
            }
        }
        out.changes = self.take_changes();
        if let Some(url) = closed {
            // The tab errand closed is in the summary already.
            if let Some(k) = out.changes.iter().position(|c| matches!(c, Change::TabClosed { url: u } if *u == url)) {
                out.changes.remove(k);
            }
        }
        if out.changes.iter().any(|c| matches!(c, Change::NewTab { .. })) {
            self.name_new_tabs(&mut out.changes).await;
        }
        out.blocked = self.new_blocked();
        let (declined, stopped): (Vec<_>, Vec<_>) = out.blocked.iter().cloned().partition(|b| b.layer == crate::guard::Layer::Consent);
        if !stopped.is_empty() {
            out.summary.push_str(&format!("; blocked {}", blocked_summary(&stopped)));
        }
        if !declined.is_empty() {
            out.summary.push_str(&format!("; {}", blocked_summary(&declined)));
        }
        if out.url != out.url_before && !matches!(action, Action::Navigate { .. }) && !out.url.is_empty() {
            out.summary.push_str(&format!("; now at {}", out.url));
        }
        for c in &out.changes {
            match c {
                Change::NewTab { index, url } => {
                    let title = self.tabs().into_iter().find(|x| x.0 == *index).map(|x| x.1).unwrap_or_default();
                    out.summary.push_str(&format!("; opened tab [{index}]{}", tab_label(&title, url)))
                }
                Change::Dialog { dialog, message, answer } => out.summary.push_str(&format!("; {dialog} dialog \"{message}\" {answer}")),
                Change::Download { file, state, .. } if state != "completed" => out.summary.push_str(&format!("; download {file} {state}")),
                Change::Download { file, .. } => out.summary.push_str(&format!("; downloaded {file} into the output folder's downloads/")),
                Change::DownloadDenied { url } => {
                    out.summary.push_str(&format!("; download of {url} refused (downloads are off for this command)"))
                }
                Change::Crashed { detail } => out.summary.push_str(&format!("; {detail}")),
                Change::TabClosed { url } => out.summary.push_str(&format!("; a tab closed itself{}", tab_label("", url))),
            }
        }
        if !out.settled {
            out.summary.push_str(&format!("; the page was still busy after {:?}", self.opts.settle_timeout));
        }
        Ok(out)
    }

    /// Poll a condition (every 10 ms) until it holds or the time is up.
    pub(crate) async fn wait_until(&self, max: Duration, mut cond: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + max;
        loop {
            if cond() {
                return true;
            }
            if Instant::now() > deadline || self.is_gone() {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn wait_for(&self, text: Option<&str>, selector: Option<&str>, ms: Option<u64>) -> Result<String> {
        let cap = ms.map(Duration::from_millis).unwrap_or(MAX_WAIT).min(MAX_WAIT);
        if text.is_none() && selector.is_none() {
            tokio::time::sleep(cap).await;
            return Ok(format!("waited {} ms", cap.as_millis()));
        }
        let deadline = Instant::now() + cap;
        loop {
            self.check_alive()?;
            if let Some(t) = text {
                let tab = self.active_tab()?;
                for (frame, _, _) in self.frames_of(&tab.target_id) {
                    if self.eval_in_frame(&frame, &format!("__errand.hasText({})", json!(t))).await.ok() == Some(Value::Bool(true)) {
                        return Ok(format!("text {t:?} appeared"));
                    }
                }
            }
            if let Some(s) = selector {
                if self.resolve(&ElementTarget::Selector(s.to_string())).await.is_ok() {
                    return Ok(format!("element {s:?} appeared"));
                }
            }
            if Instant::now() > deadline {
                return Err(BrowserError::Action(format!(
                    "waited {} ms but {} did not appear",
                    cap.as_millis(),
                    text.map(|t| format!("text {t:?}")).or(selector.map(|s| format!("element {s:?}"))).unwrap_or_default()
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// "evil.example is not on the allowlist (3 requests), …" — one entry per distinct reason.
pub fn blocked_summary(b: &[crate::Blocked]) -> String {
    let mut seen: Vec<(String, usize)> = vec![];
    for x in b {
        match seen.iter_mut().find(|(r, _)| *r == x.reason) {
            Some((_, n)) => *n += 1,
            None => seen.push((x.reason.clone(), 1)),
        }
    }
    seen.iter().map(|(r, n)| if *n > 1 { format!("{r} ({n} requests)") } else { r.clone() }).collect::<Vec<_>>().join("; ")
}

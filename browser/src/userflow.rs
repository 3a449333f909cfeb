//! The browser half of running Chrome Recorder user flows (`errand replay FLOW.json`):
//! find a step's page or frame, find its element by any of the Recorder's selector kinds,
//! wait until the element can take the action, and press, type, hover, scroll.
//!
//! Why it exists apart from [`crate::actions`]: a model's actions name elements by the
//! refs of a page state errand showed it; a Recorder flow names them by selectors, frame
//! index paths and tab URLs, and must mean what it means to the reference runner
//! (@puppeteer/replay): the same waits (visible, enabled, in view, not moving), the same
//! click point, the same typing. The step logic lives in the agent; the flow's types in
//! `recordings::flow`. Everything still goes through this browser's guard and consent,
//! which sit below any action. The flow's operations live on [`Flow`]
//! (`browser.flow().locate(…)`), apart from a model's actions on [`Browser`].

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::actions::Press;
use crate::{Browser, BrowserError, Result};

/// How often a wait looks again (the reference polls every 100 ms too).
const POLL: Duration = Duration::from_millis(50);

/// What an element must be before an action: the reference's locator conditions.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ready {
    /// Enabled (form controls without `disabled`): clicks and fills.
    pub enabled: bool,
}

/// A click or double click: where (from the element's top-left; `None`: its middle),
/// which button (`left`, `middle`, `right`, `back`, `forward`), how many presses (2: a
/// double click), how long each is held, and the modifier keys held (Input domain bits).
#[derive(Debug, Clone, Copy)]
pub struct Click<'a> {
    pub offset: Option<(f64, f64)>,
    pub button: &'a str,
    pub count: i64,
    pub hold: Duration,
    pub modifiers: i64,
}

/// A viewport as a Recorder `setViewport` step gives it.
#[derive(Debug, Clone, Copy)]
pub struct Viewport {
    pub width: u32,
    pub height: u32,
    pub scale: f64,
    pub mobile: bool,
    pub touch: bool,
    pub landscape: bool,
}

/// An element found for a flow step: its frame and its number in that frame's registry.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub frame: String,
    pub id: i64,
    /// The selector (of the step's list) that found it.
    pub selector: usize,
}

/// Split `aria/Name[role="button"]` into the name and role (both optional), as the
/// reference reads ARIA selectors.
pub fn parse_aria(q: &str) -> (Option<String>, Option<String>) {
    let mut name = String::new();
    let mut role = None;
    let mut named = None;
    let mut rest = q;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        // [attr="value"] or [attr='value']
        let parsed = (|| {
            let eq = after.find('=')?;
            let attr = after[..eq].trim();
            let v = after[eq + 1..].trim_start();
            let quote = v.chars().next().filter(|c| *c == '"' || *c == '\'')?;
            let end = v[1..].find(quote)? + 1;
            let value = &v[1..end];
            let tail = v[end + 1..].trim_start().strip_prefix(']')?;
            Some((attr.to_string(), value.to_string(), tail))
        })();
        match parsed {
            Some((attr, value, tail)) if attr == "role" || attr == "name" => {
                name.push_str(&rest[..open]);
                if attr == "role" {
                    role = Some(value);
                } else {
                    named = Some(value);
                }
                rest = tail;
            }
            _ => {
                name.push_str(&rest[..open + 1]);
                rest = after;
            }
        }
    }
    name.push_str(rest);
    let name = named.or_else(|| Some(name.trim().to_string()).filter(|n| !n.is_empty()));
    (name, role)
}

/// A frame's children in the order errand first saw them (which is how the reference
/// runner's `childFrames()` orders them).
fn children(st: &crate::State, parent: &str) -> Vec<String> {
    let mut kids: Vec<(&String, u64)> =
        st.frames.iter().filter(|(_, f)| f.parent.as_deref() == Some(parent)).map(|(k, f)| (k, f.born)).collect();
    kids.sort_by_key(|(_, b)| *b);
    kids.into_iter().map(|(k, _)| k.clone()).collect()
}

impl Browser {
    /// The target id of the first tab: what a flow calls "main".
    pub fn first_page(&self) -> Result<String> {
        let st = self.st();
        st.tabs.first().map(|t| t.target_id.clone()).ok_or_else(|| BrowserError::Action("no open tab".into()))
    }

    /// A frame's child indexes from its tab's main frame (children in the order they were
    /// attached): the inverse of [`Flow::frame`].
    pub fn frame_index_path(&self, frame: &str) -> Vec<usize> {
        let st = self.st();
        let mut path = vec![];
        let mut cur = frame.to_string();
        while let Some(parent) = st.frames.get(&cur).and_then(|f| f.parent.clone()) {
            path.push(children(&st, &parent).iter().position(|k| *k == cur).unwrap_or(0));
            cur = parent;
        }
        path.reverse();
        path
    }

    /// Whether a frame's document lives in another process than its tab's (its own
    /// session): input aimed at it crosses processes.
    pub(crate) fn out_of_process(&self, frame: &str) -> bool {
        let st = self.st();
        st.frames.get(frame).is_some_and(|f| st.frames.get(&f.tab).is_some_and(|t| t.session != f.session))
    }

    /// The frame's URL as errand last saw it.
    pub fn frame_url(&self, frame: &str) -> String {
        self.st().frames.get(frame).map(|f| f.url.clone()).unwrap_or_default()
    }

    /// Navigations the frame has committed so far (see [`Flow::wait_navigation`]).
    pub fn frame_navigations(&self, frame: &str) -> u64 {
        self.st().frames.get(frame).map(|f| f.navs).unwrap_or(0)
    }

    /// The tab that holds a frame.
    pub fn page_of(&self, frame: &str) -> Option<String> {
        self.st().frames.get(frame).map(|f| f.tab.clone())
    }

    /// Run Recorder flow steps on this browser.
    pub fn flow(&self) -> Flow<'_> {
        Flow { b: self }
    }
}

/// The browser as a Recorder flow drives it: find a step's page or frame and its element by
/// the flow's selectors, wait as the reference runner waits, and send its input.
#[derive(Clone, Copy)]
pub struct Flow<'a> {
    b: &'a Browser,
}

impl Flow<'_> {
    /// The tab (its main frame id) or out-of-process frame whose URL is exactly `url`,
    /// waiting up to `timeout` for it to appear. Returns (frame, is a page).
    pub async fn target(&self, url: &str, timeout: Duration) -> Result<(String, bool)> {
        let deadline = Instant::now() + timeout;
        loop {
            self.b.check_alive()?;
            self.b.tabs_fresh().await;
            {
                let st = self.b.st();
                if let Some(t) = st.tabs.iter().find(|t| t.url == url && t.session.is_some()) {
                    return Ok((t.target_id.clone(), true));
                }
                let oopif = st.frames.iter().find(|(_, f)| {
                    f.url == url && f.parent.as_ref().and_then(|p| st.frames.get(p)).is_some_and(|p| p.session != f.session)
                });
                if let Some((id, _)) = oopif {
                    return Ok((id.clone(), false));
                }
            }
            if Instant::now() > deadline {
                return Err(BrowserError::Action(format!("no tab or frame with the URL {url} appeared within {} ms", timeout.as_millis())));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The frame reached from `root` by child indexes (children in the order they were
    /// attached), waiting up to `timeout` for it to exist.
    pub async fn frame(&self, root: &str, path: &[usize], timeout: Duration) -> Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let mut cur = Some(root.to_string());
            {
                let st = self.b.st();
                for &i in path {
                    let Some(c) = cur.take() else { break };
                    cur = children(&st, &c).get(i).cloned();
                }
            }
            if let Some(f) = cur {
                return Ok(f);
            }
            if Instant::now() > deadline {
                return Err(BrowserError::Action(format!("the page has no frame at index path {path:?}")));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    fn session_of(&self, frame: &str) -> Result<String> {
        self.b.st().frames.get(frame).map(|f| f.session.clone()).ok_or_else(|| BrowserError::Action(format!("frame {frame} is gone")))
    }

    /// Call `__errandFlow.<call>` in the frame (its code is sent along the first time a
    /// document needs it).
    async fn eval(&self, frame: &str, call: &str) -> Result<Value> {
        self.b.eval_in_frame(frame, &format!("__errandFlow.{call}")).await
    }

    /// Every element one selector (its parts chained through shadow roots) finds, as the
    /// reference's locators find an action's element (`locator`) or as its waitForElement
    /// counts them (they differ for later parts like `.class`; see flow.js).
    pub async fn query(&self, frame: &str, parts: &[String], locator: bool) -> Result<Vec<i64>> {
        let mut scopes: Vec<Option<i64>> = vec![None];
        let mut found = vec![];
        for part in parts {
            let (kind, q) = match part.split_once('/') {
                Some((k @ ("aria" | "text" | "xpath" | "pierce"), q)) => (k, q),
                _ => ("css", part.as_str()),
            };
            found = if kind == "aria" {
                self.aria_query(frame, &scopes, q).await?
            } else {
                let v = self.eval(frame, &format!("query({}, {}, {}, {locator})", json!(scopes), json!(kind), json!(q))).await?;
                serde_json::from_value(v).unwrap_or_default()
            };
            if found.is_empty() {
                break;
            }
            scopes = found.iter().map(|i| Some(*i)).collect();
        }
        Ok(found)
    }

    /// `aria/` parts: Chromium's accessibility tree answers by computed name and role
    /// (what the reference does), text leaves left out.
    async fn aria_query(&self, frame: &str, scopes: &[Option<i64>], q: &str) -> Result<Vec<i64>> {
        let (name, role) = parse_aria(q);
        let session = self.session_of(frame)?;
        // Make sure the registry exists, then get each scope as a protocol object.
        self.eval(frame, "keep").await?;
        let (_, world) = self.world_of(frame).await?;
        let mut out = vec![];
        for s in scopes {
            let expr = match s {
                None => "document".to_string(),
                Some(id) => format!("__errandFlow.scopeOf({id})"),
            };
            let r = self.b.cdp.raw(Some(&session), "Runtime.evaluate", json!({"expression": expr, "contextId": world})).await?;
            let Some(obj) = r["result"]["objectId"].as_str() else { continue };
            let mut p = json!({"objectId": obj});
            if let Some(n) = &name {
                p["accessibleName"] = json!(n);
            }
            if let Some(r) = &role {
                p["role"] = json!(r);
            }
            let nodes = self.b.cdp.raw(Some(&session), "Accessibility.queryAXTree", p).await?;
            for n in nodes["nodes"].as_array().into_iter().flatten() {
                let role = n["role"]["value"].as_str().unwrap_or_default();
                if role == "StaticText" || role == "InlineTextBox" {
                    continue;
                }
                let Some(backend) = n["backendDOMNodeId"].as_i64() else { continue };
                let Ok(o) =
                    self.b.cdp.raw(Some(&session), "DOM.resolveNode", json!({"backendNodeId": backend, "executionContextId": world})).await
                else {
                    continue;
                };
                let Some(oid) = o["object"]["objectId"].as_str() else { continue };
                let k = self
                    .b
                    .cdp
                    .raw(Some(&session), "Runtime.callFunctionOn", json!({"functionDeclaration": "function(){return __errandFlow.keep(this)}", "objectId": oid, "returnByValue": true}))
                    .await?;
                if let Some(id) = k["result"]["value"].as_i64() {
                    if !out.contains(&id) {
                        out.push(id);
                    }
                }
            }
        }
        Ok(out)
    }

    /// The frame's session and errand's world in it.
    async fn world_of(&self, frame: &str) -> Result<(String, i64)> {
        self.b.eval_in_frame(frame, "0").await?;
        let st = self.b.st();
        let f = st.frames.get(frame).ok_or_else(|| BrowserError::Action(format!("frame {frame} is gone")))?;
        Ok((f.session.clone(), f.world.ok_or_else(|| BrowserError::Action("the frame has no errand world".into()))?))
    }

    /// Find the step's element the way the reference's locators do: the selectors race
    /// (each polled in turn), a selector's first match must be visible, in view (scrolled
    /// there if not), enabled when asked, and its box still between two looks. Returns the
    /// element, or after `timeout` says what was missing.
    pub async fn locate(&self, frame: &str, selectors: &[Vec<String>], ready: Ready, timeout: Duration) -> Result<Found> {
        let deadline = Instant::now() + timeout;
        let mut last_rect: Vec<Option<Value>> = vec![None; selectors.len()];
        let mut why = vec![String::from("not found"); selectors.len()];
        // The reference races all selectors at once, and a query through the accessibility
        // tree (aria/) takes a few protocol round trips where the others take one: when
        // several are ready, a non-ARIA one wins. Looking at those first, in list order,
        // picks the same element (it matters when the selectors disagree).
        let mut order: Vec<usize> = (0..selectors.len()).collect();
        order.sort_by_key(|&i| (selectors[i].iter().any(|p| p.starts_with("aria/")), i));
        loop {
            self.b.check_alive()?;
            for &i in &order {
                let sel = &selectors[i];
                let ids = match self.query(frame, sel, true).await {
                    Ok(ids) => ids,
                    Err(e @ BrowserError::Crashed(_)) => return Err(e),
                    Err(e) => {
                        why[i] = e.to_string();
                        continue;
                    }
                };
                let Some(&id) = ids.first() else {
                    why[i] = "not found".into();
                    last_rect[i] = None;
                    continue;
                };
                let c = self.eval(frame, &format!("check({id})")).await?;
                if c["gone"] == true {
                    why[i] = "found, then removed".into();
                    continue;
                }
                if c["visible"] != true {
                    why[i] = "found but not visible".into();
                    last_rect[i] = None;
                    continue;
                }
                if ready.enabled && c["enabled"] != true {
                    why[i] = "found but disabled".into();
                    continue;
                }
                if c["inView"] != true {
                    self.eval(frame, &format!("scrollIntoView({id})")).await?;
                    why[i] = "found but could not be scrolled into view".into();
                    last_rect[i] = None;
                    continue;
                }
                // Stable: the same box as at the last look.
                if last_rect[i].as_ref() == Some(&c["rect"]) {
                    return Ok(Found { frame: frame.to_string(), id, selector: i });
                }
                why[i] = "found but still moving".into();
                last_rect[i] = Some(c["rect"].clone());
            }
            if Instant::now() > deadline {
                let detail: Vec<String> = selectors.iter().zip(&why).map(|(s, w)| format!("{} ({w})", s.join(" >> "))).collect();
                return Err(BrowserError::NotFound(format!("{} within {} ms", detail.join("; "), timeout.as_millis())));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// All elements the first selector with any match finds (waitForElement counts these).
    pub async fn query_all(&self, frame: &str, selectors: &[Vec<String>]) -> Result<Vec<i64>> {
        for sel in selectors {
            let ids = self.query(frame, sel, false).await?;
            if !ids.is_empty() {
                return Ok(ids);
            }
        }
        Ok(vec![])
    }

    /// waitForElement's `attributes` and `properties` conditions on every element.
    pub async fn matches(&self, frame: &str, ids: &[i64], attributes: &Value, properties: &Value) -> Result<bool> {
        let v = self.eval(frame, &format!("matches({}, {}, {})", json!(ids), attributes, properties)).await?;
        Ok(v == true)
    }

    /// Call one of the in-page flow helpers on an element.
    pub async fn call(&self, found: &Found, call: &str, args: &[Value]) -> Result<Value> {
        let mut a = vec![json!(found.id)];
        a.extend(args.iter().cloned());
        let list: Vec<String> = a.iter().map(|v| v.to_string()).collect();
        self.eval(&found.frame, &format!("{call}({})", list.join(", "))).await
    }

    /// The element's press point in the tab's coordinates.
    async fn point(&self, found: &Found, offset: Option<(f64, f64)>) -> Result<(f64, f64)> {
        let (ox, oy) = offset.map(|(x, y)| (json!(x), json!(y))).unwrap_or((Value::Null, Value::Null));
        let p = self.call(found, "point", &[ox, oy]).await?;
        let (fx, fy) = self.b.frame_offset(&found.frame).await?;
        Ok((p[0].as_f64().unwrap_or(0.0) + fx, p[1].as_f64().unwrap_or(0.0) + fy))
    }

    fn page_session(&self, page: &str) -> Result<String> {
        let st = self.b.st();
        st.tabs
            .iter()
            .find(|t| t.target_id == page)
            .and_then(|t| t.session.clone())
            .ok_or_else(|| BrowserError::Action("the step's tab is closed".into()))
    }

    /// Move to the element's point and press as `c` says.
    pub async fn click(&self, page: &str, found: &Found, c: &Click<'_>) -> Result<()> {
        let Click { offset, button, count, hold, modifiers } = *c;
        let s = self.page_session(page)?;
        let press = Press { button, count, hold, modifiers };
        self.b.press_at(&s, &found.frame, press, async || self.point(found, offset).await).await
    }

    /// Move the mouse over the element's middle.
    pub async fn hover(&self, page: &str, found: &Found) -> Result<()> {
        let (x, y) = self.point(found, None).await?;
        let s = self.page_session(page)?;
        self.b.hover_at(&s, x, y).await
    }

    /// Press or release one key (a `KeyboardEvent.key` value such as `a`, `Enter`, `Tab`,
    /// or a code such as `KeyA`) with the modifiers held. Returns the key's modifier bit,
    /// if it is a modifier, so the caller can track what is held.
    pub async fn key(&self, page: &str, key: &str, down: bool, modifiers: i64) -> Result<i64> {
        let s = self.page_session(page)?;
        self.b.key_event(&s, key, down, modifiers).await
    }

    /// Type text into whatever has focus: known keys are pressed, anything else inserted.
    pub async fn type_text(&self, page: &str, text: &str) -> Result<()> {
        let s = self.page_session(page)?;
        for ch in text.chars() {
            let k = ch.to_string();
            let known = chromiumoxide::keys::USKEYBOARD_LAYOUT.iter().any(|d| d.key == k);
            if known {
                self.key(page, &k, true, 0).await?;
                self.key(page, &k, false, 0).await?;
            } else {
                self.b.cdp.raw(Some(&s), "Input.insertText", json!({"text": k})).await?;
            }
        }
        Ok(())
    }

    /// The tab's viewport, as a Recorder `setViewport` step sets it.
    pub async fn viewport(&self, page: &str, v: &Viewport) -> Result<()> {
        let Viewport { width, height, scale, mobile, touch, landscape } = *v;
        let s = self.page_session(page)?;
        let orientation =
            if landscape { json!({"angle": 90, "type": "landscapePrimary"}) } else { json!({"angle": 0, "type": "portraitPrimary"}) };
        self.b
            .cdp
            .raw(
                Some(&s),
                "Emulation.setDeviceMetricsOverride",
                json!({"width": width, "height": height, "deviceScaleFactor": scale, "mobile": mobile, "screenOrientation": orientation}),
            )
            .await?;
        self.b.cdp.raw(Some(&s), "Emulation.setTouchEmulationEnabled", json!({"enabled": touch})).await?;
        Ok(())
    }

    /// Throttle the tab's network (bytes/s, ms), as `emulateNetworkConditions` asks.
    pub async fn network(&self, page: &str, download: f64, upload: f64, latency: f64) -> Result<()> {
        let s = self.page_session(page)?;
        let offline = download == 0.0 && upload == 0.0;
        self.b
            .cdp
            .raw(
                Some(&s),
                "Network.emulateNetworkConditions",
                json!({"offline": offline, "latency": latency, "downloadThroughput": download, "uploadThroughput": upload}),
            )
            .await?;
        Ok(())
    }

    /// Scroll the frame's window to (x, y).
    pub async fn scroll_window(&self, frame: &str, x: f64, y: f64) -> Result<()> {
        self.b.eval_in_frame(frame, &format!("window.scroll({x}, {y})")).await?;
        Ok(())
    }

    /// Navigate a frame and wait for its load event (a refused navigation fails).
    pub async fn goto(&self, frame: &str, url: &str, timeout: Duration) -> Result<()> {
        let session = self.session_of(frame)?;
        let before = self.b.frame_navigations(frame);
        let r = self.b.cdp.raw(Some(&session), "Page.navigate", json!({"url": url, "frameId": frame})).await?;
        if let Some(err) = r["errorText"].as_str().filter(|e| !e.is_empty()) {
            let why = self.b.judge(url).map(|r| format!(" ({r})")).unwrap_or_default();
            return Err(BrowserError::Action(format!("navigating to {url} failed: {err}{why}")));
        }
        if r["loaderId"].is_null() {
            // Same-document navigation: nothing to load.
            return Ok(());
        }
        self.wait_navigation(frame, before, timeout).await?;
        // The proxy's own page for a server it could not reach is a failed navigation, as
        // the browser reports it without a proxy (an HTTP error status is not: the
        // reference runner's goto accepts a 404).
        if let Some(e) = self.b.frame_status(frame).net_error {
            return Err(BrowserError::Action(format!("navigating to {url} failed: net::{e}")));
        }
        Ok(())
    }

    /// Wait until the frame has committed a navigation after `since` (see
    /// [`Browser::frame_navigations`]) and its document has loaded. Returns its URL and title.
    pub async fn wait_navigation(&self, frame: &str, since: u64, timeout: Duration) -> Result<(String, String)> {
        let deadline = Instant::now() + timeout;
        loop {
            self.b.check_alive()?;
            if self.b.frame_navigations(frame) > since {
                if let Ok(v) = self.b.eval_in_frame(frame, "[document.readyState, location.href, document.title]").await {
                    if v[0] == "complete" {
                        return Ok((v[1].as_str().unwrap_or_default().into(), v[2].as_str().unwrap_or_default().into()));
                    }
                }
            }
            if Instant::now() > deadline {
                return Err(BrowserError::Action(format!("no navigation finished within {} ms", timeout.as_millis())));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Evaluate a page expression in the frame's own (main) world, where the page's
    /// globals are, awaiting a promise, and say whether the result is truthy.
    pub async fn truthy(&self, frame: &str, expression: &str, timeout: Duration) -> Result<bool> {
        let (session, world) = self.world_of(frame).await?;
        // From errand's world to the same document in the page's world: the document node
        // resolved without a context lands in the main world.
        let d = self.b.cdp.raw(Some(&session), "Runtime.evaluate", json!({"expression": "document", "contextId": world})).await?;
        let oid = d["result"]["objectId"].clone();
        let node = self.b.cdp.raw(Some(&session), "DOM.describeNode", json!({"objectId": oid})).await?;
        let main = self.b.cdp.raw(Some(&session), "DOM.resolveNode", json!({"backendNodeId": node["node"]["backendNodeId"]})).await?;
        let body = format!("async function() {{ return !!(await (\n{expression}\n)); }}");
        let r = self
            .b
            .cdp
            .raw_with_timeout(
                Some(&session),
                "Runtime.callFunctionOn",
                json!({"functionDeclaration": body, "objectId": main["object"]["objectId"], "returnByValue": true, "awaitPromise": true}),
                timeout,
            )
            .await?;
        if let Some(ex) = r.get("exceptionDetails") {
            let msg = ex["exception"]["description"].as_str().or(ex["text"].as_str()).unwrap_or("script error");
            return Err(BrowserError::Action(format!("the expression failed: {}", msg.lines().next().unwrap_or(msg))));
        }
        Ok(r["result"]["value"] == true)
    }

    /// Close a tab.
    pub async fn close(&self, page: &str) -> Result<()> {
        self.b.close_target(page).await
    }
}

#[cfg(test)]
mod tests {
    use super::parse_aria;

    #[test]
    fn aria_selectors_split_into_name_and_role() {
        let s = |x: &str| Some(x.to_string());
        let table = [
            ("Open Popup", (s("Open Popup"), None)),
            ("Name:", (s("Name:"), None)),
            ("Submit[role=\"button\"]", (s("Submit"), s("button"))),
            ("[role='link']", (None, s("link"))),
            ("Buy now [role=\"button\"] ", (s("Buy now"), s("button"))),
            ("[name=\"Save\"][role=\"button\"]", (s("Save"), s("button"))),
            ("Price [EUR]", (s("Price [EUR]"), None)),
            ("", (None, None)),
        ];
        for (q, want) in table {
            assert_eq!(parse_aria(q), want, "{q}");
        }
    }
}

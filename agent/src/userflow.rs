//! `errand replay FLOW.json`: run a Chrome DevTools Recorder user flow (the
//! @puppeteer/replay format) under errand's allowlist, consent and recording.
//!
//! Why it exists: people record flows in Chrome's Recorder panel and should be able to
//! run them without a model and without giving up errand's guarantees. A step means what
//! it means to the reference runner: the same per-step timeout (step, then flow, then
//! 5 s), the same target and frame resolution, the same waits before acting, the same
//! events; a step that cannot complete fails the replay with its number and reason.
//! The browser half lives in `browser::userflow`; the flow's types in `recordings::flow`.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Result;
use browser::userflow::{Click, Ready, Viewport};
use browser::{Browser, BrowserError};
use recordings::flow::{AssertedEvent, Button, Common, Operator, Selector, Step, UserFlow};
use recordings::{Record, Recorder};
use serde_json::{json, Value};

use crate::events::Event;
use crate::narrate::Narrator;
use crate::session;

/// What the replay command passes on.
pub struct FlowArgs<'a> {
    pub confirm: crate::consent::Confirm,
    pub confirm_timeout: u64,
    pub until: Option<u32>,
    pub keep_going: bool,
    pub json: bool,
    pub record_dir: Option<std::path::PathBuf>,
    pub browser: &'a crate::args::BrowserArgs,
}

/// The reference runner's default step timeout.
const DEFAULT_TIMEOUT_MS: u64 = 5000;
/// Page loads get the reference's navigation timeout.
const NAVIGATION_TIMEOUT: Duration = Duration::from_secs(30);

/// Every host a flow names itself (navigations, targets, expected navigations): the
/// person chose to run this flow, so these are the sites it may visit.
pub fn hosts(flow: &UserFlow) -> Vec<String> {
    let mut urls = vec![];
    for s in &flow.steps {
        if let Step::Navigate { url, .. } = s {
            urls.push(url.clone());
        }
        let c = common(s);
        if let Some(t) = c.target.as_ref().filter(|t| t.as_str() != "main") {
            urls.push(t.clone());
        }
        for e in &c.asserted_events {
            let AssertedEvent::Navigation { url: Some(u), .. } = e else { continue };
            urls.push(u.clone());
        }
    }
    let mut out: Vec<String> = vec![];
    for u in urls {
        if let Ok(p) = crate::policy::pattern_for_url(&u) {
            if !out.contains(&p) {
                out.push(p);
            }
        }
    }
    out
}

fn common(s: &Step) -> &Common {
    match s {
        Step::SetViewport { common, .. }
        | Step::Navigate { common, .. }
        | Step::Click { common, .. }
        | Step::DoubleClick { common, .. }
        | Step::Hover { common, .. }
        | Step::Change { common, .. }
        | Step::KeyDown { common, .. }
        | Step::KeyUp { common, .. }
        | Step::Scroll { common, .. }
        | Step::Close { common, .. }
        | Step::WaitForElement { common, .. }
        | Step::WaitForExpression { common, .. }
        | Step::EmulateNetworkConditions { common, .. }
        | Step::CustomStep { common, .. } => common,
    }
}

/// The step's type as the flow spells it.
fn type_name(s: &Step) -> String {
    serde_json::to_value(s).ok().and_then(|v| v["type"].as_str().map(str::to_string)).unwrap_or_default()
}

/// A short description of a step for the narration.
fn describe(s: &Step) -> String {
    let sel = |v: &[Selector]| v.first().map(|s| s.parts().join(" >> ")).unwrap_or_default();
    match s {
        Step::SetViewport { width, height, .. } => format!("setViewport {width}x{height}"),
        Step::Navigate { url, .. } => format!("navigate {url}"),
        Step::Click { press, .. } => format!("click {}", sel(&press.selectors)),
        Step::DoubleClick { press, .. } => format!("doubleClick {}", sel(&press.selectors)),
        Step::Hover { selectors, .. } => format!("hover {}", sel(selectors)),
        Step::Change { selectors, .. } => format!("change {}", sel(selectors)),
        Step::KeyDown { key, .. } => format!("keyDown {key}"),
        Step::KeyUp { key, .. } => format!("keyUp {key}"),
        Step::Scroll { selectors, x, y, .. } => format!(
            "scroll {}to {},{}",
            selectors.as_deref().map(|s| format!("{} ", sel(s))).unwrap_or_default(),
            x.unwrap_or(0.0),
            y.unwrap_or(0.0)
        ),
        Step::Close { .. } => "close".into(),
        Step::WaitForElement { selectors, .. } => format!("waitForElement {}", sel(selectors)),
        Step::WaitForExpression { expression, .. } => format!("waitForExpression {}", crate::text::one_line(expression, 60)),
        Step::EmulateNetworkConditions { .. } => "emulateNetworkConditions".into(),
        Step::CustomStep { name, .. } => format!("customStep {name}"),
    }
}

fn selectors(v: &[Selector]) -> Vec<Vec<String>> {
    v.iter().map(|s| s.parts().into_iter().map(str::to_string).collect()).collect()
}

fn button(b: Option<Button>) -> &'static str {
    match b {
        None | Some(Button::Primary) => "left",
        Some(Button::Auxiliary) => "middle",
        Some(Button::Secondary) => "right",
        Some(Button::Back) => "back",
        Some(Button::Forward) => "forward",
    }
}

/// Run one flow. Exit 0 when every step completed, 1 when a step failed, 2 on bad input.
pub async fn run(path: &Path, flow: UserFlow, a: FlowArgs<'_>) -> Result<ExitCode> {
    let mut narr = Narrator::new(a.json);
    let file = match session::allowlist_file(a.browser) {
        Ok(f) => f,
        Err(e) => return Ok(narr.bad_input(&e)),
    };
    let named = hosts(&flow);
    let live = match crate::policy::build(file.base, &a.browser.allow, &named) {
        Ok(l) => l,
        Err(e) => return Ok(narr.bad_input(&format!("{e:#}"))),
    };
    let id = session::session_id();
    let (rec_dir, rec) = match session::open_recording(a.record_dir.clone(), &id) {
        Ok(r) => r,
        Err(e) => return Ok(narr.bad_input(&e)),
    };
    narr.redact_with(rec.secrets().clone());
    let (consent, consent_policy) = session::consent(a.confirm, false, a.confirm_timeout, file.rules, &rec, session::Asking::Terminal);
    narr.info(&format!(
        "replay {}: Recorder flow \"{}\", {} (recording {id})",
        path.display(),
        flow.title,
        crate::stdio::plural(flow.steps.len(), "step")
    ));
    narr.info(&format!(
        "allowlist: {} (the flow's own hosts: {})",
        live.patterns().join(", "),
        if named.is_empty() { "none".into() } else { named.join(", ") }
    ));
    narr.event(Event::FlowStart {
        session: &id,
        flow: path,
        title: &flow.title,
        steps: flow.steps.len(),
        allowlist: live.patterns(),
        recording: &rec_dir,
    });
    if let Some(n) = consent.notice() {
        narr.info(&n);
    }
    let mut opts = a.browser.options(live.guard());
    opts.consent = Some(std::sync::Arc::new(consent.clone()));
    let browser = match Browser::start(a.browser.source(vec![]), opts).await {
        Ok(b) => b,
        Err(e) => return Ok(session::browser_failed(&rec, &narr, &e).await),
    };
    rec.log(Record::SessionStart {
        session: id.clone(),
        task: format!("Recorder flow: {}", flow.title),
        model: format!("none (Chrome Recorder flow {})", path.display()),
        allowlist: live.patterns(),
        layers: browser.layers().to_vec(),
        out_dir: String::new(),
        errand_version: env!("CARGO_PKG_VERSION").into(),
        browser: browser.description.clone(),
        consent: consent_policy,
        inputs: vec![],
        dry_run: false,
    });
    let main = browser.first_page()?;
    let mut r = FlowRun { browser: &browser, flow: &flow, main, modifiers: 0, narr: &narr, rec: &rec, blocked_seen: 0 };
    let started = Instant::now();
    let mut failed: Vec<String> = vec![];
    let mut ran = 0u32;
    let mut stopped = None;
    for (i, step) in flow.steps.iter().enumerate() {
        let n = i as u32 + 1;
        if a.until.is_some_and(|u| n > u) {
            break;
        }
        let t = Instant::now();
        let (url_before, title_before) = r.where_now().await;
        // Ctrl-C or SIGTERM ends the step where it is; the flow is then recorded as
        // stopped, and the browser closed below like at any other end.
        let res = tokio::select! {
            res = r.step(n, step) => res,
            why = crate::signals::interrupted() => {
                stopped = Some(why);
                Err(format!("stopped by {why}"))
            }
        };
        let (url, title) = r.where_now().await;
        let shot = if browser.is_gone() { session::Shot::default() } else { session::picture(&browser, &rec, &narr, n).await };
        ran += 1;
        let ms = t.elapsed().as_millis() as u64;
        let (ok, summary) = match &res {
            Ok(s) => (true, s.clone()),
            Err(e) => (false, e.clone()),
        };
        narr.line(&format!("[{n}] {} → {}{summary} ({ms} ms)", describe(step), if ok { "" } else { "FAILED: " }));
        narr.event(Event::FlowStep { step: n, kind: &type_name(step), ok, summary: &summary, url: &url, ms });
        rec.log(Record::Step {
            step: n,
            tool: format!("flow.{}", type_name(step)),
            args: serde_json::to_value(step).unwrap_or(Value::Null),
            intent: describe(step),
            ok,
            summary: summary.clone(),
            url_before,
            title_before,
            url,
            title,
            locator: None,
            screenshot: shot.file,
            screenshot_sha256: shot.sha256,
            ms,
        });
        r.record_blocks();
        if !ok {
            failed.push(format!("step {n} ({}): {summary}", type_name(step)));
            if !a.keep_going || browser.is_gone() || stopped.is_some() {
                break;
            }
        }
    }
    let ms = started.elapsed().as_millis();
    let (outcome, text, code) = if let Some(why) = stopped {
        ("aborted", format!("flow stopped by {why} at step {ran}"), ExitCode::from(1))
    } else if failed.is_empty() {
        ("done", format!("flow passed: {ran} steps in {ms} ms"), ExitCode::SUCCESS)
    } else {
        ("failed", format!("flow failed at {}", failed.join("; ")), ExitCode::from(1))
    };
    narr.line(&text);
    narr.event(Event::FlowEnd { outcome, steps: ran, failed: &failed, ms, recording: &rec_dir });
    rec.log(Record::SessionEnd { outcome: outcome.into(), steps: ran, tokens_in: 0, tokens_out: 0, summary: text });
    rec.flush().await;
    browser.close().await;
    Ok(code)
}

struct FlowRun<'a> {
    browser: &'a Browser,
    flow: &'a UserFlow,
    /// The flow's "main" tab.
    main: String,
    /// Modifier keys held down by keyDown steps (Alt 1, Control 2, Meta 4, Shift 8).
    modifiers: i64,
    narr: &'a Narrator,
    rec: &'a Recorder,
    blocked_seen: usize,
}

impl FlowRun<'_> {
    /// The active tab's URL and title.
    async fn where_now(&self) -> (String, String) {
        self.browser.tabs_fresh().await.into_iter().find(|t| t.3).map(|t| (t.2, t.1)).unwrap_or_default()
    }

    /// Record what was blocked since the last step; the page's attempts are narrated.
    fn record_blocks(&mut self) {
        for b in session::record_blocks(self.browser, self.rec, self.narr, &mut self.blocked_seen) {
            self.narr.line(&format!("  blocked {} ({}): {}", b.url, b.layer, b.reason));
        }
    }

    /// Run one step; Ok carries what happened, Err why the step failed.
    async fn step(&mut self, n: u32, step: &Step) -> Result<String, String> {
        let c = common(step);
        let timeout = Duration::from_millis(c.timeout.or(self.flow.timeout).filter(|t| *t > 0).unwrap_or(DEFAULT_TIMEOUT_MS));
        let b = self.browser;
        let flow = b.flow();
        // The step's tab or out-of-process frame, then its frame by index path.
        let (root, page, is_page) = match c.target.as_deref() {
            None | Some("main") => (self.main.clone(), self.main.clone(), true),
            Some(url) => {
                let (f, is_page) = flow.target(url, timeout).await.map_err(|e| format!("target not found: {e}"))?;
                let page = b.page_of(&f).unwrap_or_else(|| self.main.clone());
                (f, page, is_page)
            }
        };
        let frame = match &c.frame {
            Some(path) if !path.is_empty() => flow.frame(&root, path, timeout).await.map_err(|e| e.to_string())?,
            _ => root.clone(),
        };
        let navigations = b.frame_navigations(&frame);
        let err = |e: BrowserError| e.to_string();
        let mut said = match step {
            Step::SetViewport { width, height, device_scale_factor, is_mobile, has_touch, is_landscape, .. } => {
                if is_page {
                    let v = Viewport {
                        width: *width,
                        height: *height,
                        scale: *device_scale_factor,
                        mobile: *is_mobile,
                        touch: *has_touch,
                        landscape: *is_landscape,
                    };
                    flow.viewport(&page, &v).await.map_err(err)?;
                    format!("viewport {width}x{height}")
                } else {
                    "not a tab: viewport left alone".into()
                }
            }
            Step::Navigate { url, .. } => {
                if let Some(why) = b.judge(url) {
                    return Err(format!("{url} is not on the allowlist ({why}); allow its host with --allow or in the allowlist file"));
                }
                flow.goto(&frame, url, NAVIGATION_TIMEOUT.max(timeout)).await.map_err(err)?;
                format!("at {}", b.frame_url(&frame))
            }
            Step::Click { press, duration, .. } => {
                let found = flow.locate(&frame, &selectors(&press.selectors), Ready { enabled: true }, timeout).await.map_err(err)?;
                let hold = Duration::from_millis(duration.unwrap_or(0));
                let c = Click {
                    offset: Some((press.offset_x, press.offset_y)),
                    button: button(press.button),
                    count: 1,
                    hold,
                    modifiers: self.modifiers,
                };
                flow.click(&page, &found, &c).await.map_err(err)?;
                format!("clicked (selector {})", found.selector + 1)
            }
            Step::DoubleClick { press, .. } => {
                let found = flow.locate(&frame, &selectors(&press.selectors), Ready { enabled: true }, timeout).await.map_err(err)?;
                let c = Click {
                    offset: Some((press.offset_x, press.offset_y)),
                    button: button(press.button),
                    count: 2,
                    hold: Duration::ZERO,
                    modifiers: self.modifiers,
                };
                flow.click(&page, &found, &c).await.map_err(err)?;
                format!("double-clicked (selector {})", found.selector + 1)
            }
            Step::Hover { selectors: s, .. } => {
                let found = flow.locate(&frame, &selectors(s), Ready::default(), timeout).await.map_err(err)?;
                flow.hover(&page, &found).await.map_err(err)?;
                format!("hovering (selector {})", found.selector + 1)
            }
            Step::Change { selectors: s, value, .. } => {
                let found = flow.locate(&frame, &selectors(s), Ready { enabled: true }, timeout).await.map_err(err)?;
                let prep = flow.call(&found, "prepareFill", &[json!(value)]).await.map_err(err)?;
                match prep["kind"].as_str().unwrap_or_default() {
                    "select" => {
                        flow.call(&found, "select", &[json!(value)]).await.map_err(err)?;
                        format!("selected {value:?}")
                    }
                    "typeable" => {
                        if prep["secret"] == true {
                            self.rec.secrets().add(value);
                        }
                        flow.type_text(&page, prep["type"].as_str().unwrap_or_default()).await.map_err(err)?;
                        if prep["secret"] == true {
                            "typed a secret value".into()
                        } else {
                            format!("typed {value:?}")
                        }
                    }
                    "other" => {
                        flow.call(&found, "setValue", &[json!(value)]).await.map_err(err)?;
                        format!("set to {value:?}")
                    }
                    "checkable" => {
                        let on = !value.is_empty();
                        if prep["click"] == true {
                            let c = Click { offset: None, button: button(None), count: 1, hold: Duration::ZERO, modifiers: self.modifiers };
                            flow.click(&page, &found, &c).await.map_err(err)?;
                            format!("clicked to {}", if on { "check it" } else { "uncheck it" })
                        } else {
                            format!("already {}", if on { "checked" } else { "unchecked" })
                        }
                    }
                    _ => return Err("the element cannot be filled out (not a form field, select or editable element)".into()),
                }
            }
            Step::KeyDown { key, .. } | Step::KeyUp { key, .. } => {
                let down = matches!(step, Step::KeyDown { .. });
                let bit = flow.key(&self.main, key, down, self.modifiers).await.map_err(err)?;
                if down {
                    self.modifiers |= bit;
                } else {
                    self.modifiers &= !bit;
                }
                // The reference pauses 100 ms after each key event.
                tokio::time::sleep(Duration::from_millis(100)).await;
                format!("{} {key}", if down { "pressed" } else { "released" })
            }
            Step::Scroll { selectors: s, x, y, .. } => {
                let (x, y) = (x.unwrap_or(0.0), y.unwrap_or(0.0));
                match s {
                    Some(s) if !s.is_empty() => {
                        let found = flow.locate(&frame, &selectors(s), Ready::default(), timeout).await.map_err(err)?;
                        flow.call(&found, "scrollElement", &[json!(x), json!(y)]).await.map_err(err)?;
                        format!("element scrolled to {x},{y}")
                    }
                    _ => {
                        flow.scroll_window(&frame, x, y).await.map_err(err)?;
                        format!("page scrolled to {x},{y}")
                    }
                }
            }
            Step::Close { .. } => {
                if is_page {
                    flow.close(&page).await.map_err(err)?;
                    "tab closed".into()
                } else {
                    "not a tab: nothing to close".into()
                }
            }
            Step::WaitForElement { selectors: s, operator, count, visible, properties, attributes, .. } => {
                let want = count.unwrap_or(1) as usize;
                let op = operator.unwrap_or(Operator::AtLeast);
                let visible = visible.unwrap_or(true);
                let attrs = attributes.clone().map(Value::Object).unwrap_or(Value::Null);
                let props = properties.clone().unwrap_or(Value::Null);
                let deadline = Instant::now() + timeout;
                let sels = selectors(s);
                loop {
                    let ids = flow.query_all(&frame, &sels).await.map_err(err)?;
                    let mut hit = match op {
                        Operator::AtLeast => ids.len() >= want,
                        Operator::Exactly => ids.len() == want,
                        Operator::AtMost => ids.len() <= want,
                    };
                    if hit && (!attrs.is_null() || !props.is_null()) {
                        hit = flow.matches(&frame, &ids, &attrs, &props).await.map_err(err)?;
                    }
                    if hit == visible {
                        break format!("{} element(s) found", ids.len());
                    }
                    if Instant::now() > deadline {
                        return Err(format!(
                            "waitForElement timed out after {} ms: the element(s) could not be found as asked ({} found, wanted {} {want}{})",
                            timeout.as_millis(),
                            ids.len(),
                            match op {
                                Operator::AtLeast => ">=",
                                Operator::Exactly => "==",
                                Operator::AtMost => "<=",
                            },
                            if visible { "" } else { ", and the condition to stop holding" }
                        ));
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            Step::WaitForExpression { expression, .. } => {
                let deadline = Instant::now() + timeout;
                loop {
                    let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(50));
                    match flow.truthy(&frame, expression, left).await {
                        Ok(true) => break "the expression is true".to_string(),
                        Ok(false) => {}
                        // The reference stops waiting when the expression throws (its poller
                        // dies and the step times out), so an error fails the step: at once.
                        Err(_) if Instant::now() >= deadline => {
                            return Err(format!(
                                "waitForExpression timed out after {} ms: the expression's promise never settled",
                                timeout.as_millis()
                            ))
                        }
                        Err(e) => return Err(format!("{e}; an expression that throws is not tried again")),
                    }
                    if Instant::now() > deadline {
                        return Err(format!(
                            "waitForExpression timed out after {} ms: the expression never became true",
                            timeout.as_millis()
                        ));
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            Step::EmulateNetworkConditions { download, upload, latency, .. } => {
                flow.network(&self.main, *download, *upload, *latency).await.map_err(err)?;
                format!("network: {download} B/s down, {upload} B/s up, {latency} ms")
            }
            Step::CustomStep { name, .. } => {
                // The reference runner skips custom steps too; say so rather than pretend.
                format!("customStep {name:?} is not supported by errand; skipped")
            }
        };
        // Expected navigations: the frame must have navigated since the step began.
        for e in &c.asserted_events {
            let AssertedEvent::Navigation { url, title } = e;
            let (now_url, now_title) =
                flow.wait_navigation(&frame, navigations, timeout).await.map_err(|e| format!("expected a navigation: {e}"))?;
            said.push_str(&format!("; navigated to {now_url}"));
            // The reference waits for the navigation only; a different address or title
            // is worth a note, not a failure.
            if let Some(u) = url.as_ref().filter(|u| !u.is_empty() && **u != now_url) {
                self.narr.line(&format!("  note: step {n} was recorded navigating to {u}, this time {now_url}"));
            }
            if let Some(t) = title.as_ref().filter(|t| !t.is_empty() && **t != now_title) {
                self.narr.line(&format!("  note: step {n} was recorded with the title {t:?}, this time {now_title:?}"));
            }
        }
        Ok(said)
    }
}

//! The driver: the one task that reads every DevTools event, and what it does about them:
//! setting up each new target before it runs, creating errand's isolated worlds,
//! recording refusals, answering dialogs, naming downloads, and (attach mode) judging and
//! holding requests paused by interception.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::js::{TIMERS, WALKER};
use crate::{
    consent, gate, proxy, shortcut, tracker, Blocked, BrowserError, Cdp, Change, Effect, Event, Options, Result, SharedConsent, State,
    Verdict,
};

/// Attach to every kind of target (pages, iframes, all workers), paused until set up.
pub(crate) fn auto_attach() -> Value {
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
pub(crate) async fn create_world(cdp: &Cdp, st: &Mutex<State>, frame: &str, session: &str, generation: u64) -> Result<i64> {
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
        calls.push(("Page.addScriptToEvaluateOnNewDocument", json!({"source": *WALKER, "worldName": "errand"})));
        // The timer watch runs in the page's world, before the page's own scripts.
        calls.push(("Page.addScriptToEvaluateOnNewDocument", json!({"source": *TIMERS})));
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
            // A worker that ended before it was set up has nothing left to watch.
            ("Network.enable", Err(e)) if e.is_gone() => tracing::debug!("Network.enable on a {kind} that is gone: {e}"),
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
pub(crate) async fn event_task(
    cdp: Cdp,
    mut rx: mpsc::UnboundedReceiver<Event>,
    st: Arc<Mutex<State>>,
    opts: Options,
    blocked: Arc<Mutex<Vec<Blocked>>>,
    shortcut: Option<Arc<shortcut::Shortcut>>,
    changed: Arc<tokio::sync::Notify>,
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
        changed.notify_waiters();
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
                    let Some(dir) = &opts.download_dir else {
                        st.lock().unwrap_or_else(|p| p.into_inner()).downloads.remove(&guid);
                        continue;
                    };
                    // Chromium saved it under its GUID; give it the page's name, made
                    // safe, and never over another file.
                    let file = match name_download(dir, &guid, &suggested) {
                        Ok(name) => name,
                        Err(e) => {
                            tracing::warn!("could not name the download {guid}: {e}");
                            guid.clone()
                        }
                    };
                    // One lock: the download stops counting as under way as its change appears.
                    let mut locked = st.lock().unwrap_or_else(|p| p.into_inner());
                    locked.downloads.remove(&guid);
                    locked.changes.push(Change::Download { url, file, state: "completed".into() });
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

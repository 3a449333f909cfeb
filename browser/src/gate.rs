//! Consent in the proxy: the browser's side of [`proxy::Gate`].
//!
//! The proxy holds every state-changing request it sees, but knows only its method, URL,
//! headers and body. This gate finds who sent it (the frame or worker DevTools reported
//! it for, or else the page its `Referer` names), describes it for a person as the walker
//! sees the form (purpose, fields, which are secret), and asks the session's consent.
//! A request whose sender is gone (its frame removed, its tab closed or closing, the
//! session ending) is declined without asking: nobody could judge it, and a page
//! that is going away has nothing left to submit on the person's behalf.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use serde_json::{json, Value};

use crate::cdp::Cdp;
use crate::consent::{self, SharedConsent, Submission, Verdict};
use crate::guard::Blocked;
use crate::proxy::{Gate, Outgoing};
use crate::State;

/// How long a held request waits for DevTools to report who sent it. DevTools' events
/// can trail the network by hundreds of milliseconds when many frames start at once on a
/// busy machine (30 sandboxed frames posting on two cores: 300 ms was not always enough);
/// only requests DevTools never reports (a frame torn down as it sent) wait this long.
const SENDER_WAIT: Duration = Duration::from_secs(2);

/// A state-changing request DevTools reported (`Network.requestWillBeSent`), kept a few
/// seconds so the proxy's copy can be matched to its sender.
#[derive(Debug, Clone)]
pub(crate) struct Write {
    pub at: Instant,
    pub method: String,
    pub url: String,
    pub session: String,
    pub frame: String,
    pub resource: String,
    pub claimed: bool,
}

/// Who sent a held request.
#[derive(Debug, Default, Clone)]
pub(crate) struct Sender {
    pub frame: String,
    /// The session of the frame's document (where errand's world is).
    pub frame_session: String,
    pub world: Option<i64>,
    /// page, iframe, worker, … (the DevTools target kind)
    pub source: String,
    pub resource: String,
    pub frame_url: String,
    pub tab_url: String,
}

pub(crate) struct ConsentGate {
    pub cdp: Cdp,
    pub st: Arc<Mutex<State>>,
    pub consent: SharedConsent,
    pub blocked: Arc<Mutex<Vec<Blocked>>>,
}

impl Gate for ConsentGate {
    fn hold(&self, o: Outgoing) -> BoxFuture<'static, Verdict> {
        let (cdp, st, consent, blocked) = (self.cdp.clone(), self.st.clone(), self.consent.clone(), self.blocked.clone());
        Box::pin(async move {
            let _pending = Pending::new(st.clone());
            // No URL in logs: a form can put a secret into it.
            tracing::debug!(target: "errand::consent", "held {} (dest {})", o.method, o.dest);
            let (verdict, sender) = match find_sender(&st, &o).await {
                Err(g) => (Verdict::Deny(g.why), g.sender),
                Ok(sender) => {
                    let sub = submission(&cdp, &st, &sender, &o.method, &o.url, &o.content_type, &String::from_utf8_lossy(&o.body)).await;
                    (consent.decide(sub).await, sender)
                }
            };
            if let Verdict::Deny(reason) = &verdict {
                lock(&blocked).push(Blocked {
                    url: o.url.clone(),
                    reason: format!("{reason} ({} {})", o.method, o.url),
                    layer: crate::guard::Layer::Consent,
                    source: sender.source,
                    resource: sender.resource,
                });
            }
            verdict
        })
    }
}

/// Counts a request as waiting for consent (settling waits for it) until dropped.
struct Pending(Arc<Mutex<State>>);

impl Pending {
    fn new(st: Arc<Mutex<State>>) -> Pending {
        lock(&st).consent_pending += 1;
        Pending(st)
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        let mut s = lock(&self.0);
        s.consent_pending = s.consent_pending.saturating_sub(1);
        s.last_net = Some(Instant::now());
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn strip(u: &str) -> &str {
    u.split('#').next().unwrap_or_default()
}

fn origin_of(u: &str) -> Option<String> {
    url::Url::parse(u).ok().map(|u| u.origin().ascii_serialization()).filter(|o| o != "null")
}

/// The resource type DevTools would give, from `Sec-Fetch-Dest`.
fn resource_of(o: &Outgoing) -> String {
    if o.is_navigation() {
        "Document"
    } else if o.dest.ends_with("worker") {
        "Worker"
    } else {
        "Other"
    }
    .to_string()
}

/// A held request whose sender is gone, so nobody can be asked about it: why, and what
/// is known of the sender.
struct Gone {
    why: String,
    sender: Sender,
}

fn gone(why: &str, sender: Sender) -> Box<Gone> {
    Box::new(Gone { why: why.to_string(), sender })
}

/// Find the frame or worker behind a held request, or say why nobody can be asked.
async fn find_sender(st: &Mutex<State>, o: &Outgoing) -> Result<Sender, Box<Gone>> {
    let deadline = Instant::now() + SENDER_WAIT;
    loop {
        {
            let mut s = lock(st);
            if s.closing || s.gone.is_some() {
                return Err(gone(
                    "declined: the session was ending, so nobody could be asked",
                    Sender { resource: resource_of(o), ..Sender::default() },
                ));
            }
            s.writes.retain(|w| w.at.elapsed() < Duration::from_secs(10));
            if let Some(w) =
                s.writes.iter_mut().find(|w| !w.claimed && w.method.eq_ignore_ascii_case(&o.method) && strip(&w.url) == strip(&o.url))
            {
                w.claimed = true;
                let w = w.clone();
                return sender_of(&s, &w.frame, &w.session, &w.resource);
            }
        }
        if Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // DevTools never reported it (a frame torn down as it sent, a worker errand did not
    // attach to): the page its Referer names, if that page is still open. A full Referer
    // must match a page exactly: another page of the same site is not the sender. Only
    // an origin-only Referer (a cross-origin request) or none (then `Origin`) can be
    // matched by origin.
    let s = lock(st);
    let resource = resource_of(o);
    let path = url::Url::parse(&o.referer).ok().map(|u| format!("{}{}", u.path(), u.query().map(|q| format!("?{q}")).unwrap_or_default()));
    let found = match path.as_deref() {
        Some(p) if p != "/" => s.frames.iter().find(|(_, f)| strip(&f.url) == strip(&o.referer)),
        _ => {
            let wanted = origin_of(&o.referer).or_else(|| origin_of(&o.origin));
            s.frames.iter().find(|(_, f)| wanted.is_some() && origin_of(&f.url) == wanted)
        }
    };
    match found {
        Some((id, f)) => sender_of(&s, id, &f.session, &resource),
        None => Err(gone(
            "declined: no open page sent it (its tab or frame was already gone), so nobody could be asked",
            Sender { resource, ..Sender::default() },
        )),
    }
}

/// The sender as state knows it, if it is still there to ask about.
fn sender_of(s: &State, frame: &str, session: &str, resource: &str) -> Result<Sender, Box<Gone>> {
    let source = s.sessions.get(session).map(|(_, k)| k.clone()).unwrap_or_default();
    let mut sender = Sender {
        source: source.clone(),
        resource: resource.to_string(),
        frame: frame.to_string(),
        frame_session: session.to_string(),
        ..Sender::default()
    };
    if frame.is_empty() {
        // A worker: it must still be attached.
        if source.is_empty() {
            return Err(gone("declined: the worker that sent it was gone, so nobody could be asked", sender));
        }
        return Ok(sender);
    }
    let Some(f) = s.frames.get(frame) else {
        return Err(gone("declined: it was sent by a frame that was being removed, so nobody could be asked", sender));
    };
    sender.frame_session = f.session.clone();
    sender.world = f.world;
    sender.frame_url = f.url.clone();
    let Some(tab) = s.tabs.iter().find(|t| t.target_id == f.tab) else {
        return Err(gone("declined: it was sent by a tab that was closed, so nobody could be asked", sender));
    };
    sender.tab_url = tab.url.clone();
    if s.closing_tabs.contains(&f.tab) {
        return Err(gone("declined: it was sent by a tab that was closing, so nobody could be asked", sender));
    }
    if sender.source.is_empty() {
        sender.source = if f.parent.is_some() { "iframe" } else { "page" }.into();
    }
    Ok(sender)
}

/// A held request described for a person: the page and frame that sent it, the form's
/// purpose, and its fields with the page's secret ones masked. Both consent paths (the
/// proxy's gate and DevTools interception) ask with this.
pub(crate) async fn submission(
    cdp: &Cdp,
    st: &Mutex<State>,
    sender: &Sender,
    method: &str,
    url: &str,
    content_type: &str,
    body: &str,
) -> Submission {
    let d = describe(cdp, st, sender, url).await;
    let secret: Vec<String> =
        d["secret"].as_array().map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect()).unwrap_or_default();
    let (fields, body) = consent::describe_body(content_type, body, &secret);
    Submission {
        method: method.to_string(),
        url: url.to_string(),
        page: if sender.tab_url.is_empty() { sender.frame_url.clone() } else { sender.tab_url.clone() },
        frame: if sender.frame_url != sender.tab_url { sender.frame_url.clone() } else { String::new() },
        resource: sender.resource.clone(),
        purpose: d["purpose"].as_str().unwrap_or_default().to_string(),
        fields,
        body,
    }
}

/// The walker's description of what a request submits: for a form, as it was submitted
/// (reported through a binding); for a script's request, asked in the frame's current
/// document. `Null` when neither is there.
async fn describe(cdp: &Cdp, st: &Mutex<State>, sender: &Sender, url: &str) -> Value {
    let without_query = |u: &str| u.split(['?', '#']).next().unwrap_or_default().to_string();
    if sender.resource == "Document" {
        // The walker's report can trail the request a little.
        for _ in 0..10 {
            {
                let s = lock(st);
                // The newest form submitted to this address lately.
                let form = s
                    .submitted
                    .values()
                    .filter(|(t, v)| {
                        t.elapsed() < Duration::from_secs(3) && v["action"].as_str().map(without_query) == Some(without_query(url))
                    })
                    .max_by_key(|(t, _)| *t);
                if let Some((_, v)) = form {
                    return v.clone();
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        return Value::Null;
    }
    if sender.frame.is_empty() || sender.frame_session.is_empty() {
        return Value::Null;
    }
    // Ask errand's world in the frame's current document (the remembered one may belong
    // to the document before; Chromium keeps one world per name and frame, so creating
    // it finds it).
    let world = cdp
        .raw_with_timeout(
            Some(&sender.frame_session),
            "Page.createIsolatedWorld",
            json!({"frameId": sender.frame, "worldName": "errand"}),
            Duration::from_secs(2),
        )
        .await
        .ok()
        .and_then(|r| r["executionContextId"].as_i64())
        .or(sender.world);
    let Some(ctx) = world else { return Value::Null };
    let expr = format!("__errand.describeSubmit({})", json!(url));
    let params = json!({"expression": expr, "contextId": ctx, "returnByValue": true});
    match cdp.raw_with_timeout(Some(&sender.frame_session), "Runtime.evaluate", params, Duration::from_millis(500)).await {
        Ok(r) => r["result"]["value"].clone(),
        Err(_) => Value::Null,
    }
}

//! The DevTools protocol client: one task owns the WebSocket, every call has a timeout.
//!
//! errand talks to Chromium through chromiumoxide's [`Connection`] and its generated,
//! typed protocol (`chromiumoxide::cdp`), but not through chromiumoxide's `Handler`.
//! The handler resumes child targets (out-of-process iframes, workers) the moment they
//! attach, before a client can install request interception on them, and it drops the
//! session ids of nested sessions. errand's guarantees (every request from every target
//! is judged before it leaves) need both, so this module multiplexes sessions itself:
//!
//! * [`Cdp::call`] sends a typed command on a session and waits at most a timeout.
//! * Every event, with its session id, goes to one [`mpsc`] receiver owned by the
//!   browser's event task, which keeps the state of tabs, frames and the network.
//! * A message that cannot be parsed is logged and skipped; the loop keeps going.
//! * When the socket closes (the browser exited or crashed) every pending call fails at
//!   once with [`CdpError::Closed`], and so does every later call: never a hang.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chromiumoxide::types::{CallId, Command, EventMessage, Message, Method, MethodId};
use chromiumoxide::Connection;
use futures::StreamExt;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

/// An event from the browser, with the session it came from (`None`: the browser itself).
#[derive(Debug, Clone)]
pub struct Event {
    pub method: String,
    pub session: Option<String>,
    pub params: Value,
    /// When errand read it off the socket.
    pub received: std::time::Instant,
}

/// Why a protocol call failed.
#[derive(Debug, thiserror::Error)]
pub enum CdpError {
    #[error("the browser connection is closed (Chromium exited or crashed)")]
    Closed,
    #[error("{method} got no answer within {timeout:?}; the page may be hung")]
    Timeout { method: String, timeout: Duration },
    #[error("{method} failed: {message} (code {code})")]
    Protocol { method: String, code: i64, message: String },
    #[error("could not read the answer to {method}: {source}")]
    Decode { method: String, source: serde_json::Error },
    #[error("could not connect to the DevTools endpoint {url}: {message}")]
    Connect { url: String, message: String },
}

impl CdpError {
    /// True when the call failed because the session or context it named is gone
    /// (a navigation replaced the document, a frame was detached, a tab closed).
    pub fn is_gone(&self) -> bool {
        match self {
            CdpError::Protocol { message, .. } => {
                let m = message.to_ascii_lowercase();
                m.contains("cannot find context")
                    || m.contains("session with given id not found")
                    || m.contains("no frame")
                    || m.contains("not found")
                    || m.contains("execution context was destroyed")
                    || m.contains("inspected target navigated or closed")
            }
            _ => false,
        }
    }
}

/// A raw event as it comes off the socket. chromiumoxide's own `CdpJsonEventMessage`
/// does not read the top-level `sessionId` (it looks inside `params`), which would lose
/// which frame or worker an event came from, so errand brings its own.
#[derive(Debug, serde::Deserialize)]
struct RawEvent {
    method: MethodId,
    #[serde(rename = "sessionId")]
    session_id: Option<String>,
    #[serde(default)]
    params: Value,
}

impl Method for RawEvent {
    fn identifier(&self) -> MethodId {
        self.method.clone()
    }
}

impl EventMessage for RawEvent {
    fn session_id(&self) -> Option<&str> {
        self.session_id.as_deref()
    }
}

struct Request {
    method: String,
    session: Option<String>,
    params: Value,
    reply: oneshot::Sender<Result<Value, CdpError>>,
}

/// A cheap, clonable handle to the connection task.
#[derive(Clone)]
pub struct Cdp {
    tx: mpsc::UnboundedSender<Request>,
    closed: Arc<AtomicBool>,
    pub timeout: Duration,
}

impl std::fmt::Debug for Cdp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cdp").field("closed", &self.is_closed()).finish()
    }
}

impl Cdp {
    /// Connect to a browser-level DevTools WebSocket URL.
    pub async fn connect(ws_url: &str, timeout: Duration) -> Result<(Cdp, mpsc::UnboundedReceiver<Event>), CdpError> {
        let conn = tokio::time::timeout(timeout, Connection::<RawEvent>::connect(ws_url))
            .await
            .map_err(|_| CdpError::Connect { url: ws_url.into(), message: "timed out".into() })?
            .map_err(|e| CdpError::Connect { url: ws_url.into(), message: e.to_string() })?;
        let (tx, rx) = mpsc::unbounded_channel();
        let (etx, erx) = mpsc::unbounded_channel();
        let closed = Arc::new(AtomicBool::new(false));
        tokio::spawn(io_task(conn, rx, etx, closed.clone()));
        Ok((Cdp { tx, closed, timeout }, erx))
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Send a typed command and decode its typed answer.
    pub async fn call<C: Command>(&self, session: Option<&str>, cmd: C) -> Result<C::Response, CdpError> {
        let method = cmd.identifier().to_string();
        let params = serde_json::to_value(&cmd).map_err(|source| CdpError::Decode { method: method.clone(), source })?;
        let v = self.raw(session, &method, params).await?;
        C::response_from_value(v).map_err(|source| CdpError::Decode { method, source })
    }

    /// Send an untyped command (for parameters the generated types do not cover).
    pub async fn raw(&self, session: Option<&str>, method: &str, params: Value) -> Result<Value, CdpError> {
        self.raw_with_timeout(session, method, params, self.timeout).await
    }

    pub async fn raw_with_timeout(&self, session: Option<&str>, method: &str, params: Value, timeout: Duration) -> Result<Value, CdpError> {
        if self.is_closed() {
            return Err(CdpError::Closed);
        }
        let (reply, rx) = oneshot::channel();
        let req = Request { method: method.to_string(), session: session.map(str::to_string), params, reply };
        self.tx.send(req).map_err(|_| CdpError::Closed)?;
        match tokio::time::timeout(timeout, rx).await {
            Err(_) => Err(CdpError::Timeout { method: method.to_string(), timeout }),
            Ok(Err(_)) => Err(CdpError::Closed),
            Ok(Ok(r)) => r,
        }
    }

    /// Fire a command without waiting for its answer (used where waiting could deadlock,
    /// e.g. resuming a target from inside the event task).
    pub fn send_nowait(&self, session: Option<&str>, method: &str, params: Value) {
        let (reply, _rx) = oneshot::channel();
        let _ = self.tx.send(Request { method: method.to_string(), session: session.map(str::to_string), params, reply });
    }
}

/// A command sent and not answered yet.
struct Pending {
    method: String,
    reply: oneshot::Sender<Result<Value, CdpError>>,
    sent: std::time::Instant,
}

/// With `ERRAND_LOG=errand::cdp=debug`: an answer that took 20 ms or more, and what else
/// was waiting for one meanwhile (to find what holds a connection up).
fn slow_answer(method: &str, sent: std::time::Instant, others: &HashMap<CallId, Pending>) {
    let took = sent.elapsed();
    tracing::trace!(target: "errand::cdp", "{method} answered after {} us", took.as_micros());
    if took >= Duration::from_millis(20) && tracing::enabled!(target: "errand::cdp", tracing::Level::DEBUG) {
        let waiting: Vec<String> = others.values().map(|p| format!("{} ({} ms)", p.method, p.sent.elapsed().as_millis())).collect();
        tracing::debug!(target: "errand::cdp", "{method} answered after {} ms; still waiting: {}", took.as_millis(), waiting.join(", "));
    }
}

async fn io_task(
    mut conn: Connection<RawEvent>,
    mut rx: mpsc::UnboundedReceiver<Request>,
    events: mpsc::UnboundedSender<Event>,
    closed: Arc<AtomicBool>,
) {
    let mut pending: HashMap<CallId, Pending> = HashMap::new();
    loop {
        tokio::select! {
            req = rx.recv() => {
                let Some(req) = req else { break };
                let session = req.session.map(Into::into);
                match conn.submit_command(req.method.clone().into(), session, req.params) {
                    Ok(id) => { pending.insert(id, Pending { method: req.method, reply: req.reply, sent: std::time::Instant::now() }); }
                    Err(e) => {
                        let _ = req.reply.send(Err(CdpError::Decode { method: req.method, source: e }));
                    }
                }
            }
            msg = conn.next() => {
                match msg {
                    None => break,
                    Some(Ok(Message::Response(resp))) => {
                        if let Some(Pending { method, reply, sent }) = pending.remove(&resp.id) {
                            slow_answer(&method, sent, &pending);
                            let r = match (resp.result, resp.error) {
                                (_, Some(e)) => Err(CdpError::Protocol { method, code: e.code, message: e.message }),
                                (Some(v), None) => Ok(v),
                                (None, None) => Ok(Value::Null),
                            };
                            let _ = reply.send(r);
                        }
                    }
                    Some(Ok(Message::Event(ev))) => {
                        let _ = events.send(Event {
                            method: ev.method.to_string(),
                            session: ev.session_id,
                            params: ev.params,
                            received: std::time::Instant::now(),
                        });
                    }
                    Some(Err(chromiumoxide::error::CdpError::InvalidMessage(text, err))) => {
                        // A page's string with a lone UTF-16 surrogate (a console message, a
                        // title, an evaluated value) makes the whole message unparseable:
                        // mend the escape and deliver it rather than drop an answer or an
                        // event. Never log the payload: it is the page's, and may hold a
                        // secret the page read.
                        match serde_json::from_str::<Value>(&mend_surrogates(&text)) {
                            Ok(v) if v["id"].is_u64() => {
                                let id = chromiumoxide::types::CallId::new(v["id"].as_u64().unwrap_or_default() as usize);
                                if let Some(Pending { method, reply, .. }) = pending.remove(&id) {
                                    let r = match v.get("error") {
                                        Some(e) => Err(CdpError::Protocol { method, code: e["code"].as_i64().unwrap_or_default(), message: e["message"].as_str().unwrap_or_default().to_string() }),
                                        None => Ok(v.get("result").cloned().unwrap_or(Value::Null)),
                                    };
                                    let _ = reply.send(r);
                                }
                            }
                            Ok(v) if v["method"].is_string() => {
                                let _ = events.send(Event {
                                    method: v["method"].as_str().unwrap_or_default().to_string(),
                                    session: v["sessionId"].as_str().map(str::to_string),
                                    params: v.get("params").cloned().unwrap_or(Value::Null),
                                    received: std::time::Instant::now(),
                                });
                            }
                            _ => tracing::warn!("skipping a DevTools message errand cannot parse ({err}; {} bytes, not shown)", text.len()),
                        }
                    }
                    Some(Err(e)) => {
                        // A reset after the browser exits is the normal end of a session.
                        tracing::debug!("DevTools connection error: {e}");
                        if matches!(e, chromiumoxide::error::CdpError::Ws(_)) { break; }
                    }
                }
            }
        }
    }
    closed.store(true, Ordering::SeqCst);
    for (_, p) in pending.drain() {
        let _ = p.reply.send(Err(CdpError::Closed));
    }
    // Fail everything that is still queued, and everything sent later.
    rx.close();
    while let Ok(req) = rx.try_recv() {
        let _ = req.reply.send(Err(CdpError::Closed));
    }
    let _ = events.send(Event { method: "errand.closed".into(), session: None, params: Value::Null, received: std::time::Instant::now() });
}

/// JSON text with every `\\uD800`–`\\uDFFF` escape that is not part of a surrogate pair
/// replaced by `\\uFFFD`, the replacement character (serde_json refuses lone surrogates,
/// which JavaScript strings may hold).
pub fn mend_surrogates(text: &str) -> String {
    let b = text.as_bytes();
    let hex = |i: usize| -> Option<u16> { text.get(i..i + 4).and_then(|h| u16::from_str_radix(h, 16).ok()) };
    let escape_at = |i: usize| -> Option<u16> { (b.get(i) == Some(&b'\\') && b.get(i + 1) == Some(&b'u')).then(|| hex(i + 2)).flatten() };
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut last = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            if let Some(u) = escape_at(i) {
                let high = (0xD800..0xDC00).contains(&u);
                let low = (0xDC00..0xE000).contains(&u);
                if high && escape_at(i + 6).is_some_and(|n| (0xDC00..0xE000).contains(&n)) {
                    i += 12;
                    continue;
                }
                if high || low {
                    out.push_str(&text[last..i]);
                    out.push_str("\\uFFFD");
                    i += 6;
                    last = i;
                    continue;
                }
                i += 6;
                continue;
            }
            // Any other escape: skip the escaped character.
            i += 2;
            continue;
        }
        i += 1;
    }
    out.push_str(&text[last..]);
    out
}

#[cfg(test)]
mod surrogate_tests {
    #[test]
    fn lone_surrogates_are_mended_and_pairs_kept() {
        let t = r#"{"a":"x\ud800y","b":"\ud83d\ude00","c":"\\ud800","d":"\udc00"}"#;
        let m = super::mend_surrogates(t);
        assert_eq!(m, r#"{"a":"x\uFFFDy","b":"\ud83d\ude00","c":"\\ud800","d":"\uFFFD"}"#);
        assert!(serde_json::from_str::<serde_json::Value>(&m).is_ok());
    }
}

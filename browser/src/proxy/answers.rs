//! What the proxy answers instead of the upstream (a refusal, a declined submission, an
//! unreachable server) and how it records and names what it refused.

use std::sync::Mutex;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};

use super::{Body, Outgoing, BLOCKED_HEADER, UNREACHABLE_HEADER};
use crate::guard::Blocked;

/// The answer to a declined request: a form sent as a navigation gets `204 No Content`,
/// which keeps the page where it was; anything else a refusal.
pub(super) fn declined(held: &Outgoing, reason: &str) -> Response<Body> {
    let mut r = if held.is_navigation() {
        let mut r = Response::new(empty());
        *r.status_mut() = StatusCode::NO_CONTENT;
        r
    } else {
        text(StatusCode::FORBIDDEN, format!("declined by errand: {reason}"))
    };
    r.headers_mut().insert(BLOCKED_HEADER, HeaderValue::from_static("consent"));
    r
}

/// The proxy's answer when it could not reach a server or trust its certificate.
pub(super) fn unreachable(url: &str, e: &(dyn std::error::Error + 'static)) -> Response<Body> {
    let mut detail = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        detail = format!("{detail}: {c}");
        cause = c.source();
    }
    let code = net_error(&detail);
    let msg = if code.starts_with("ERR_CERT") {
        format!("errand refused {url}: the server's certificate could not be verified ({detail}); for an intranet server, pass its certificate authority with --trust-ca FILE")
    } else {
        format!("cannot reach {url}: {detail}")
    };
    let mut r = text(StatusCode::BAD_GATEWAY, msg);
    r.headers_mut().insert(UNREACHABLE_HEADER, HeaderValue::from_static(code));
    r
}

/// The Chromium net error for a failure to reach a server, from its description.
pub fn net_error(detail: &str) -> &'static str {
    let d = detail.to_ascii_lowercase();
    if d.contains("notvalidforname") || d.contains("not valid for name") {
        "ERR_CERT_COMMON_NAME_INVALID"
    } else if d.contains("expired") || d.contains("notvalidyet") {
        "ERR_CERT_DATE_INVALID"
    } else if d.contains("unknownissuer") || d.contains("unknown issuer") {
        "ERR_CERT_AUTHORITY_INVALID"
    } else if d.contains("certificate") {
        "ERR_CERT_INVALID"
    } else if d.contains("refused") {
        "ERR_CONNECTION_REFUSED"
    } else if d.contains("dns") || d.contains("resolve") || d.contains("name or service") {
        "ERR_NAME_NOT_RESOLVED"
    } else if d.contains("timed out") || d.contains("timeout") {
        "ERR_CONNECTION_TIMED_OUT"
    } else if d.contains("reset") {
        "ERR_CONNECTION_RESET"
    } else if d.contains("closed") || d.contains("incomplete") || d.contains("empty") {
        "ERR_EMPTY_RESPONSE"
    } else {
        "ERR_CONNECTION_FAILED"
    }
}

pub(super) fn empty() -> Body {
    Full::new(Bytes::new()).map_err(|never| match never {}).boxed()
}

pub(super) fn refusal(reason: &str) -> Response<Body> {
    let mut r = text(StatusCode::FORBIDDEN, format!("blocked by errand: {reason}"));
    r.headers_mut().insert(BLOCKED_HEADER, HeaderValue::from_static("1"));
    r
}

/// The URL under which a refused CONNECT for this request's URL was recorded (https and
/// wss only: plain http is refused by its own URL, never by a tunnel).
pub fn tunnel_url(url: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    if !matches!(u.scheme(), "https" | "wss") {
        return None;
    }
    Some(format!("https://{}:{}/", u.host_str()?, u.port_or_known_default()?))
}

/// Fill in the resource type and the target kind of the newest matching proxy record
/// that has none yet (the proxy itself only sees the request line).
pub fn attribute(blocked: &Mutex<Vec<Blocked>>, matches: impl Fn(&Blocked) -> bool, resource: &str, source: &str) {
    let mut b = blocked.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(rec) = b.iter_mut().rev().find(|x| x.layer == crate::guard::Layer::Proxy && x.resource.is_empty() && matches(x)) {
        rec.resource = resource.to_string();
        if !source.is_empty() {
            rec.source = source.to_string();
        }
    }
}

pub(super) fn text(code: StatusCode, msg: String) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(msg)).map_err(|never| match never {}).boxed());
    *r.status_mut() = code;
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    // errand's own answers (refusals, unreachable hosts) are never stored: Chromium would
    // spend a disk-cache write on each, and a refusal must not outlive the person's
    // allowing the host a moment later.
    r.headers_mut().insert(hyper::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// Hosts Chromium itself calls in the background (component updates, sign-in, network
/// time) despite the switches that should silence it. They are blocked like any other
/// host, but recorded as Chromium's own so they are not reported to the model as the
/// page's doing.
pub const CHROMIUM_SERVICES: &[&str] = &[
    "update.googleapis.com",
    "accounts.google.com",
    "clients2.google.com",
    "clientservices.googleapis.com",
    "redirector.gvt1.com",
    "optimizationguide-pa.googleapis.com",
    "content-autofill.googleapis.com",
];

pub(super) fn record(blocked: &Mutex<Vec<Blocked>>, url: &str, reason: &str, source: &str) {
    let host = url::Url::parse(url).ok().and_then(|u| u.host_str().map(str::to_string)).unwrap_or_default();
    let source = if CHROMIUM_SERVICES.contains(&host.as_str()) { "chromium" } else { source };
    let mut b = blocked.lock().unwrap_or_else(|p| p.into_inner());
    b.push(Blocked {
        url: url.to_string(),
        reason: reason.to_string(),
        layer: crate::guard::Layer::Proxy,
        source: source.into(),
        resource: String::new(),
    });
}

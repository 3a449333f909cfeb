//! The filtering proxy: errand's second enforcement layer (see [`crate::guard`]).
//!
//! An HTTP/1.1 forward proxy on 127.0.0.1 that Chromium is told to use for every request,
//! loopback included, built on hyper. It judges each CONNECT tunnel (https, wss) by its
//! host and port and each plain request (http) by its absolute URL, before any byte
//! reaches the upstream; refused ones get `403` and are recorded. Every request on a
//! kept-alive connection is judged on its own, and upstream connections are pooled, so
//! the layer costs little per request.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::{TcpListener, TcpStream};

use crate::guard::{Blocked, SharedGuard};

type Body = BoxBody<Bytes, hyper::Error>;

/// The header on the proxy's refusals, so the browser's event task can tell them from a
/// site's own 403s and name the page and resource behind them.
pub const BLOCKED_HEADER: &str = "x-errand-blocked";
/// Marks the proxy's own answer when it could not reach a server: the value is the net
/// error Chromium would report without a proxy (`ERR_CONNECTION_REFUSED`), so errand can
/// fail the navigation as the browser would instead of showing the proxy's page.
pub const UNREACHABLE_HEADER: &str = "x-errand-unreachable";

/// A running proxy.
#[derive(Debug, Clone)]
pub struct Proxy {
    pub addr: SocketAddr,
}

struct Ctx {
    guard: SharedGuard,
    blocked: Arc<Mutex<Vec<Blocked>>>,
    client: Client<HttpConnector, Incoming>,
}

/// Start the proxy on an ephemeral loopback port.
pub async fn start(guard: SharedGuard, blocked: Arc<Mutex<Vec<Blocked>>>) -> std::io::Result<Proxy> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(Duration::from_secs(10)));
    // Small requests on loopback: Nagle's algorithm with delayed ACKs would add up to
    // 40 ms to a request written in two parts.
    connector.set_nodelay(true);
    let client = Client::builder(TokioExecutor::new()).build(connector);
    let ctx = Arc::new(Ctx { guard, blocked, client });
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else { continue };
            let _ = sock.set_nodelay(true);
            let ctx = ctx.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| handle(ctx.clone(), req));
                let conn = hyper::server::conn::http1::Builder::new()
                    .preserve_header_case(true)
                    .serve_connection(TokioIo::new(sock), service)
                    .with_upgrades();
                if let Err(e) = conn.await {
                    tracing::debug!(target: "errand::proxy", "connection ended: {e}");
                }
            });
        }
    });
    Ok(Proxy { addr })
}

async fn handle(ctx: Arc<Ctx>, mut req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    if req.method() == Method::CONNECT {
        let Some(authority) = req.uri().authority().map(|a| a.to_string()) else {
            return Ok(text(StatusCode::BAD_REQUEST, "CONNECT needs host:port".into()));
        };
        let url = format!("https://{authority}/");
        if let Some(reason) = ctx.guard.judge(&url) {
            record(&ctx.blocked, &url, &reason, "connect");
            return Ok(refusal(&reason));
        }
        let upstream = match tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(&authority)).await {
            Ok(Ok(s)) => {
                let _ = s.set_nodelay(true);
                s
            }
            Ok(Err(e)) => return Ok(text(StatusCode::BAD_GATEWAY, format!("cannot reach {authority}: {e}"))),
            Err(_) => return Ok(text(StatusCode::GATEWAY_TIMEOUT, format!("cannot reach {authority}: timed out"))),
        };
        tokio::spawn(async move {
            match hyper::upgrade::on(req).await {
                Ok(upgraded) => {
                    let mut client = TokioIo::new(upgraded);
                    let mut upstream = upstream;
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                }
                Err(e) => tracing::debug!(target: "errand::proxy", "tunnel to {authority} failed: {e}"),
            }
        });
        return Ok(Response::new(empty()));
    }
    let url = req.uri().to_string();
    if req.uri().scheme().is_none() {
        return Ok(text(StatusCode::BAD_REQUEST, "errand's proxy takes absolute URLs only".into()));
    }
    if let Some(reason) = ctx.guard.judge(&url) {
        record(&ctx.blocked, &url, &reason, "request");
        return Ok(refusal(&reason));
    }
    for h in ["proxy-connection", "proxy-authorization"] {
        req.headers_mut().remove(h);
    }
    match ctx.client.request(req).await {
        Ok(resp) => Ok(resp.map(|b| b.boxed())),
        Err(e) => {
            use std::error::Error;
            let mut detail = e.to_string();
            let mut cause = e.source();
            while let Some(c) = cause {
                detail = format!("{detail}: {c}");
                cause = c.source();
            }
            let mut r = text(StatusCode::BAD_GATEWAY, format!("cannot reach {url}: {detail}"));
            r.headers_mut().insert(UNREACHABLE_HEADER, hyper::header::HeaderValue::from_static(net_error(&detail)));
            Ok(r)
        }
    }
}

/// The Chromium net error for a failure to reach a server, from its description.
pub fn net_error(detail: &str) -> &'static str {
    let d = detail.to_ascii_lowercase();
    if d.contains("refused") {
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

fn empty() -> Body {
    Full::new(Bytes::new()).map_err(|never| match never {}).boxed()
}

fn refusal(reason: &str) -> Response<Body> {
    let mut r = text(StatusCode::FORBIDDEN, format!("blocked by errand: {reason}"));
    r.headers_mut().insert(BLOCKED_HEADER, hyper::header::HeaderValue::from_static("1"));
    r
}

/// The URL under which a refused CONNECT for this request's URL was recorded.
pub fn tunnel_url(url: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    Some(format!("https://{}:{}/", u.host_str()?, u.port_or_known_default()?))
}

/// Fill in the resource type and the target kind of the newest matching proxy record
/// that has none yet (the proxy itself only sees the request line).
pub fn attribute(blocked: &Mutex<Vec<Blocked>>, matches: impl Fn(&Blocked) -> bool, resource: &str, source: &str) {
    let mut b = blocked.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(rec) = b.iter_mut().rev().find(|x| x.layer == "proxy" && x.resource.is_empty() && matches(x)) {
        rec.resource = resource.to_string();
        if !source.is_empty() {
            rec.source = source.to_string();
        }
    }
}

fn text(code: StatusCode, msg: String) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(msg)).map_err(|never| match never {}).boxed());
    *r.status_mut() = code;
    r.headers_mut().insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("text/plain"));
    r
}

/// Hosts Chromium itself calls in the background (component updates, sign-in, network
/// time) despite the switches that should silence it. They are blocked like any other
/// host, but recorded as Chromium's own so they are not reported to the model as the
/// page's doing.
pub const CHROMIUM_SERVICES: &[&str] = &["update.googleapis.com", "accounts.google.com", "clients2.google.com", "clientservices.googleapis.com", "redirector.gvt1.com", "optimizationguide-pa.googleapis.com", "content-autofill.googleapis.com"];

fn record(blocked: &Mutex<Vec<Blocked>>, url: &str, reason: &str, source: &str) {
    let host = url::Url::parse(url).ok().and_then(|u| u.host_str().map(str::to_string)).unwrap_or_default();
    let source = if CHROMIUM_SERVICES.contains(&host.as_str()) { "chromium" } else { source };
    let mut b = blocked.lock().unwrap_or_else(|p| p.into_inner());
    b.push(Blocked { url: url.to_string(), reason: reason.to_string(), layer: "proxy".into(), source: source.into(), resource: String::new() });
}

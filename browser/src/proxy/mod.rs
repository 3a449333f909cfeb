//! The filtering proxy: errand's second enforcement layer (see [`crate::guard`]), and
//! the one place consent is decided for a browser errand launches.
//!
//! An HTTP/1.1 forward proxy on 127.0.0.1 that Chromium is told to use for every request,
//! loopback included, built on hyper. It judges each CONNECT tunnel (https, wss) by its
//! host and port and each plain request (http) by its absolute URL, before any byte
//! reaches the upstream; refused ones get `403` and are recorded.
//!
//! With a session certificate authority ([`crate::tls`]) it also opens the tunnels: the
//! requests inside (HTTP/1.1 or HTTP/2, and WebSocket handshakes) are judged one by one
//! like plain ones, and every state-changing request is held here, body and all, while
//! the [`Gate`] asks for consent. Nothing a page sends can go around this: not a request
//! from a frame or popup that is closing, nor one sent before DevTools could attach to a
//! new frame, because none of them leaves Chromium except through this proxy. Upstream
//! connections are pooled and verified (see [`crate::tls::client_config`]), so the layer
//! costs little per request.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures::future::BoxFuture;
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::HeaderValue;
use hyper::{Method, Request, Response, StatusCode, Uri, Version};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;

use crate::consent::{self, Verdict};
use crate::guard::{Blocked, SharedGuard};
use crate::secrets::{self, Binding, Context};
use crate::tls::Authority;
use crate::upstream::{Route, Upstream};

mod answers;
pub use answers::{attribute, net_error, tunnel_url, CHROMIUM_SERVICES};
use answers::{declined, empty, record, refusal, text, unreachable};

type Body = BoxBody<Bytes, hyper::Error>;

/// The header on the proxy's refusals, so the browser's event task can tell them from a
/// site's own 403s and name the page and resource behind them.
pub const BLOCKED_HEADER: &str = "x-errand-blocked";
/// Marks the proxy's own answer when it could not reach a server: the value is the net
/// error Chromium would report without a proxy (`ERR_CONNECTION_REFUSED`), so errand can
/// fail the navigation as the browser would instead of showing the proxy's page.
pub const UNREACHABLE_HEADER: &str = "x-errand-unreachable";
/// The largest request body held for consent; a bigger one is declined unseen.
const MAX_HELD_BODY: usize = 64 << 20;

/// A state-changing request held in the proxy, as the proxy sees it.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub method: String,
    pub url: String,
    /// `Referer`, `Origin`, `Sec-Fetch-Dest` and `Content-Type`, as Chromium sent them
    /// (empty when absent).
    pub referer: String,
    pub origin: String,
    pub dest: String,
    pub content_type: String,
    pub body: Bytes,
}

impl Outgoing {
    /// Is this a navigation (a form sent as a page or frame load)?
    pub fn is_navigation(&self) -> bool {
        matches!(self.dest.as_str(), "document" | "iframe" | "frame" | "embed" | "object")
    }
}

/// Decides about held requests: the browser crate's consent, which knows the pages.
pub trait Gate: Send + Sync {
    fn hold(&self, o: Outgoing) -> BoxFuture<'static, Verdict>;
}

pub type SharedGate = Arc<dyn Gate>;

/// What the proxy enforces and how it reaches servers.
pub struct Setup {
    pub guard: Option<SharedGuard>,
    pub blocked: Arc<Mutex<Vec<Blocked>>>,
    /// Open https tunnels with this authority's certificates (launched browsers only).
    pub mitm: Option<Arc<Authority>>,
    /// Hold state-changing requests for the [`Gate`] (needs `mitm` for https).
    pub consent: bool,
    /// TLS towards servers.
    pub client_tls: rustls::ClientConfig,
    /// Through which proxy, if any, servers are reached.
    pub route: Route,
    /// Secrets the proxy writes into requests to their hosts (see [`crate::secrets`]).
    pub secrets: Vec<Binding>,
}

/// A running proxy.
#[derive(Clone)]
pub struct Proxy {
    pub addr: SocketAddr,
    /// The network's proxy errand's proxy connects through, if any (no credentials).
    pub via: Option<String>,
    gate: Arc<OnceLock<SharedGate>>,
    _stop: Arc<Stop>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl Proxy {
    /// Give the proxy its consent gate. Until then every state-changing request is
    /// declined: there is nobody to ask yet.
    pub fn set_gate(&self, gate: SharedGate) {
        let _ = self.gate.set(gate);
    }
}

struct Ctx {
    guard: Option<SharedGuard>,
    blocked: Arc<Mutex<Vec<Blocked>>>,
    client: Client<HttpsConnector<Upstream>, Body>,
    /// HTTP/1.1 only, for WebSocket handshakes: an upgrade cannot ride on HTTP/2.
    client_h1: Client<HttpsConnector<Upstream>, Body>,
    upstream: Upstream,
    mitm: Option<Arc<Authority>>,
    consent: bool,
    gate: Arc<OnceLock<SharedGate>>,
    secrets: Vec<Binding>,
    /// The runtime that started the proxy, where the gate runs.
    main: tokio::runtime::Handle,
}

impl Ctx {
    fn judge(&self, url: &str) -> Option<String> {
        self.guard.as_ref().and_then(|g| g.judge(url))
    }
}

/// Start the proxy on an ephemeral loopback port, on a thread of its own: page loads
/// fill errand's main runtime with DevTools events, and a request should not wait behind
/// them. What needs the pages (the consent [`Gate`]) still runs on the caller's runtime.
/// The proxy stops when the last clone of the returned [`Proxy`] is dropped.
pub async fn start(setup: Setup) -> std::io::Result<Proxy> {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    std_listener.set_nonblocking(true)?;
    let addr = std_listener.local_addr()?;
    let mut http = HttpConnector::new();
    http.set_connect_timeout(Some(Duration::from_secs(10)));
    // Small requests on loopback: Nagle's algorithm with delayed ACKs would add up to
    // 40 ms to a request written in two parts.
    http.set_nodelay(true);
    http.enforce_http(false);
    let upstream = Upstream::new(&setup.route, http).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(setup.client_tls.clone())
        .https_or_http()
        .enable_all_versions()
        .wrap_connector(upstream.clone());
    let client = Client::builder(TokioExecutor::new()).build(connector);
    let h1 = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(setup.client_tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(upstream.clone());
    let client_h1 = Client::builder(TokioExecutor::new()).build(h1);
    let via = upstream.describe();
    let gate: Arc<OnceLock<SharedGate>> = Arc::default();
    let main = tokio::runtime::Handle::current();
    let ctx = Arc::new(Ctx {
        guard: setup.guard,
        blocked: setup.blocked,
        client,
        client_h1,
        upstream,
        mitm: setup.mitm,
        consent: setup.consent,
        gate: gate.clone(),
        secrets: setup.secrets,
        main,
    });
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let listener = {
        let _inside = rt.enter();
        TcpListener::from_std(std_listener)?
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    std::thread::Builder::new().name("errand-proxy".into()).spawn(move || {
        rt.block_on(async move {
            tokio::select! {
                _ = accept(listener, ctx) => {}
                _ = stopped => {}
            }
        });
        // Dropping the runtime here ends every open connection and tunnel.
    })?;
    Ok(Proxy { addr, via, gate, _stop: Arc::new(Stop(Some(stop))) })
}

/// Ends the proxy's thread when dropped.
struct Stop(Option<tokio::sync::oneshot::Sender<()>>);

impl Drop for Stop {
    fn drop(&mut self) {
        if let Some(s) = self.0.take() {
            let _ = s.send(());
        }
    }
}

async fn accept(listener: TcpListener, ctx: Arc<Ctx>) {
    loop {
        let sock = match listener.accept().await {
            Ok((sock, _)) => sock,
            Err(e) => {
                // Out of file descriptors, most likely: let some close.
                tracing::warn!(target: "errand::proxy", "cannot accept a connection: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
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
}

async fn handle(ctx: Arc<Ctx>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    if req.method() == Method::CONNECT {
        let Some(authority) = req.uri().authority().map(|a| a.to_string()) else {
            return Ok(text(StatusCode::BAD_REQUEST, "CONNECT needs host:port".into()));
        };
        let url = format!("https://{authority}/");
        if let Some(reason) = ctx.judge(&url) {
            record(&ctx.blocked, &url, &reason, "connect");
            return Ok(refusal(&reason));
        }
        if ctx.mitm.is_some() {
            // Opened here: each request inside is judged (and held) on its own.
            tokio::spawn(async move {
                match hyper::upgrade::on(req).await {
                    Ok(upgraded) => open_tunnel(ctx, upgraded, authority).await,
                    Err(e) => tracing::debug!(target: "errand::proxy", "tunnel to {authority} failed: {e}"),
                }
            });
            return Ok(Response::new(empty()));
        }
        let upstream = match tokio::time::timeout(Duration::from_secs(10), ctx.upstream.tunnel(&authority)).await {
            Ok(Ok(s)) => TokioIo::new(s),
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
    if req.uri().scheme().is_none() {
        return Ok(text(StatusCode::BAD_REQUEST, "errand's proxy takes absolute URLs only".into()));
    }
    let url = req.uri().to_string();
    Ok(forward(ctx, req, url).await)
}

/// Serve the requests inside an accepted CONNECT tunnel: TLS (its first byte is a
/// handshake record) with this session's certificate for the host, else plain HTTP
/// (Chromium tunnels `ws://` too).
async fn open_tunnel(ctx: Arc<Ctx>, upgraded: hyper::upgrade::Upgraded, authority: String) {
    let mut io = BufReader::new(TokioIo::new(upgraded));
    let tls = match io.fill_buf().await {
        Ok([first, ..]) => *first == 0x16,
        _ => return,
    };
    if !tls {
        return serve_tunnel(ctx, TokioIo::new(io), "http", authority).await;
    }
    let Some(mitm) = ctx.mitm.clone() else { return };
    let host = authority.rsplit_once(':').map(|(h, _)| h).unwrap_or(&authority);
    let config = match mitm.server_config(host) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(target: "errand::proxy", "no certificate for {host}: {e}");
            return;
        }
    };
    match tokio_rustls::TlsAcceptor::from(config).accept(io).await {
        Ok(stream) => serve_tunnel(ctx, TokioIo::new(stream), "https", authority).await,
        Err(e) => tracing::debug!(target: "errand::proxy", "TLS with the browser for {authority} failed: {e}"),
    }
}

/// Serve HTTP/1.1 or HTTP/2 (and upgrades) on a tunnel's stream.
async fn serve_tunnel<S>(ctx: Arc<Ctx>, io: TokioIo<S>, scheme: &'static str, authority: String)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = {
        let (ctx, authority) = (ctx.clone(), authority.clone());
        hyper::service::service_fn(move |req| inner(ctx.clone(), req, scheme, authority.clone()))
    };
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    if let Err(e) = builder.serve_connection_with_upgrades(io, service).await {
        tracing::debug!(target: "errand::proxy", "tunnel to {authority} ended: {e}");
    }
}

/// A request inside a tunnel: its URL is the tunnel's scheme and host (never what the
/// request itself claims) with the request's path.
async fn inner(ctx: Arc<Ctx>, req: Request<Incoming>, scheme: &'static str, authority: String) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/").to_string();
    let url = format!("{scheme}://{authority}{path}");
    Ok(forward(ctx, req, url).await)
}

/// Judge, hold if it changes state, and send one request upstream.
async fn forward(ctx: Arc<Ctx>, req: Request<Incoming>, url: String) -> Response<Body> {
    if let Some(reason) = ctx.judge(&url) {
        record(&ctx.blocked, &url, &reason, "request");
        return refusal(&reason);
    }
    let Ok(uri) = url.parse::<Uri>() else {
        return text(StatusCode::BAD_REQUEST, format!("not a URL errand can send: {url}"));
    };
    let (mut parts, body) = req.into_parts();
    parts.uri = uri;
    parts.version = Version::HTTP_11;
    for h in ["proxy-connection", "proxy-authorization"] {
        parts.headers.remove(h);
    }
    // Plain http through the network's proxy carries that proxy's credentials (https
    // gets them on its CONNECT).
    if parts.uri.scheme_str() == Some("http") {
        if let Some(auth) = ctx.upstream.intercept(&parts.uri).and_then(|i| i.basic_auth().cloned()) {
            parts.headers.insert(hyper::header::PROXY_AUTHORIZATION, auth);
        }
    }
    let websocket = parts.headers.get(hyper::header::UPGRADE).is_some();
    // The browser's side of a WebSocket upgrade, once the server agrees.
    let client_upgrade = if websocket { parts.extensions.remove::<hyper::upgrade::OnUpgrade>() } else { None };
    let holds = ctx.consent && consent::is_state_changing(parts.method.as_str());
    let may_fill = !ctx.secrets.is_empty() && !matches!(parts.method, Method::GET | Method::HEAD) && !websocket;
    let body: Body = if holds || may_fill {
        let header = |n: &str| parts.headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        let held = Outgoing {
            method: parts.method.to_string(),
            url: url.clone(),
            referer: header("referer"),
            origin: header("origin"),
            dest: header("sec-fetch-dest"),
            content_type: header("content-type"),
            body: Bytes::new(),
        };
        let bytes = match http_body_util::Limited::new(body, MAX_HELD_BODY).collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                tracing::debug!(target: "errand::proxy", "a held request's body could not be read: {e}");
                return declined(&held, "its body could not be read whole (over 64 MiB, or cut off)");
            }
        };
        let held = Outgoing { body: bytes.clone(), ..held };
        if holds {
            // Decided in a task of its own: a page that withdraws its request while a
            // person is asked (its frame navigates on) does not cut the question short,
            // and the answer is still recorded.
            let verdict = match ctx.gate.get() {
                Some(g) => {
                    let (g, held) = (g.clone(), held.clone());
                    ctx.main
                        .spawn(async move { g.hold(held).await })
                        .await
                        .unwrap_or_else(|e| Verdict::Deny(format!("errand could not decide ({e})")))
                }
                None => Verdict::Deny("errand was not ready to ask about it yet".into()),
            };
            if let Verdict::Deny(reason) = verdict {
                return declined(&held, &reason);
            }
        }
        // Secrets are written in only now, after the person saw the placeholder.
        let bytes = match std::str::from_utf8(&bytes) {
            Ok(text) if !ctx.secrets.is_empty() && secrets::has_placeholder(text) => {
                let f = secrets::fill(text, Context::of_body(&held.content_type), &url, &ctx.secrets);
                note_refused(&ctx, &url, &f);
                if f.filled.is_empty() {
                    bytes
                } else {
                    parts.headers.remove(hyper::header::CONTENT_LENGTH);
                    Bytes::from(f.text)
                }
            }
            _ => bytes,
        };
        Full::new(bytes).map_err(|never| match never {}).boxed()
    } else {
        body.boxed()
    };
    if !ctx.secrets.is_empty() {
        fill_head(&ctx, &mut parts, &url);
    }
    let client = if websocket { &ctx.client_h1 } else { &ctx.client };
    match client.request(Request::from_parts(parts, body)).await {
        Ok(mut resp) => {
            if let (Some(browser_side), StatusCode::SWITCHING_PROTOCOLS) = (client_upgrade, resp.status()) {
                let server_side = hyper::upgrade::on(&mut resp);
                tokio::spawn(async move {
                    if let (Ok(a), Ok(b)) = (browser_side.await, server_side.await) {
                        let _ = tokio::io::copy_bidirectional(&mut TokioIo::new(a), &mut TokioIo::new(b)).await;
                    }
                });
            }
            resp.map(|b| b.boxed())
        }
        Err(e) => unreachable(&url, &e),
    }
}

/// Write secrets into a request's URL and headers where they may go.
fn fill_head(ctx: &Ctx, parts: &mut hyper::http::request::Parts, url: &str) {
    if let Some(pq) = parts.uri.path_and_query().map(|p| p.as_str().to_string()).filter(|p| secrets::has_placeholder(p)) {
        let f = secrets::fill(&pq, Context::Url, url, &ctx.secrets);
        note_refused(ctx, url, &f);
        if !f.filled.is_empty() {
            let mut p = parts.uri.clone().into_parts();
            if let Ok(pq) = f.text.parse() {
                p.path_and_query = Some(pq);
                if let Ok(u) = Uri::from_parts(p) {
                    parts.uri = u;
                }
            }
        }
    }
    for value in parts.headers.values_mut() {
        let Some(text) = value.to_str().ok().filter(|t| secrets::has_placeholder(t)).map(str::to_string) else { continue };
        let f = secrets::fill(&text, Context::Raw, url, &ctx.secrets);
        note_refused(ctx, url, &f);
        if let (false, Ok(v)) = (f.filled.is_empty(), HeaderValue::from_str(&f.text)) {
            *value = v;
        }
    }
}

/// Record each placeholder that was sent where its secret may not go (it went out as the
/// placeholder).
fn note_refused(ctx: &Ctx, url: &str, f: &secrets::Filled) {
    for name in &f.refused {
        let hosts = ctx.secrets.iter().find(|b| &b.name == name).map(|b| b.hosts.join(", ")).unwrap_or_default();
        let reason = format!("the placeholder {{{{secret:{name}}}}} was sent to a destination the secret is not bound to ({hosts}); it went out as the placeholder, never the value");
        ctx.blocked.lock().unwrap_or_else(|p| p.into_inner()).push(Blocked {
            url: url.to_string(),
            reason,
            layer: crate::guard::Layer::Secrets,
            source: String::new(),
            resource: String::new(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A refusal is marked as errand's and is never stored by the browser's cache, so a
    /// host the person allows a moment later is not answered from a stale refusal.
    #[tokio::test]
    async fn refusals_are_marked_and_never_cached() {
        let guard: SharedGuard = Arc::new(|_: &str| Some("not on the allowlist".to_string()));
        let blocked: Arc<Mutex<Vec<Blocked>>> = Arc::default();
        let client_tls = crate::tls::client_config(&[]).map_err(|e| e.to_string()).unwrap();
        let setup = Setup {
            guard: Some(guard),
            blocked: blocked.clone(),
            mitm: None,
            consent: false,
            client_tls,
            route: Route::default(),
            secrets: vec![],
        };
        let proxy = start(setup).await.unwrap();
        let mut s = tokio::net::TcpStream::connect(proxy.addr).await.unwrap();
        s.write_all(b"GET http://foreign.example/x HTTP/1.1\r\nHost: foreign.example\r\nConnection: close\r\n\r\n").await.unwrap();
        let mut got = String::new();
        s.read_to_string(&mut got).await.unwrap();
        let head = got.to_ascii_lowercase();
        assert!(head.starts_with("http/1.1 403"), "{got}");
        assert!(head.contains("x-errand-blocked: 1"), "{got}");
        assert!(head.contains("cache-control: no-store"), "{got}");
        assert_eq!(blocked.lock().unwrap()[0].url, "http://foreign.example/x");
    }
}

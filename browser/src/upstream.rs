//! How errand's proxy reaches servers: directly, or through the network's own proxy.
//!
//! Many company networks let nothing out except through their proxy. errand's proxy
//! judges every request first (allowlist, consent) and only then connects: through
//! `HTTPS_PROXY` / `HTTP_PROXY` / `ALL_PROXY` (with `NO_PROXY` honoured, as curl reads
//! them; loopback is always reached directly, as Chromium does) or `--upstream-proxy URL`.
//! https and WebSockets go through a CONNECT tunnel; plain http is sent to the proxy in
//! absolute form, with the proxy's credentials when its URL carries them.
//!
//! hyper-util's proxy matcher reads the variables; the connector around it is written
//! here because hyper-util's tunnel alone cannot send plain http in absolute form.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper::rt::{Read, ReadBufCursor, Write};
use hyper::Uri;
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::client::proxy::matcher::{Intercept, Matcher};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Where upstream connections go.
#[derive(Clone, Default)]
pub enum Route {
    /// Straight to each server.
    #[default]
    Direct,
    /// The environment's proxy variables (loopback always direct).
    FromEnv,
    /// This proxy for every host not in `NO_PROXY`.
    Via(String),
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Route::Direct => write!(f, "Direct"),
            Route::FromEnv => write!(f, "FromEnv"),
            // Never print credentials a proxy URL may carry.
            Route::Via(u) => write!(f, "Via({})", without_credentials(u)),
        }
    }
}

/// A proxy URL with any user name and password taken out, for messages.
pub fn without_credentials(u: &str) -> String {
    match url::Url::parse(u) {
        Ok(mut p) => {
            let _ = p.set_username("");
            let _ = p.set_password(None);
            p.to_string()
        }
        Err(_) => "(an unreadable proxy URL)".into(),
    }
}

/// Check an `--upstream-proxy` URL: an http:// proxy with a host.
pub fn validate(u: &str) -> Result<(), String> {
    let parsed =
        url::Url::parse(u).map_err(|e| format!("--upstream-proxy {}: {e}; write it as http://HOST:PORT", without_credentials(u)))?;
    if parsed.scheme() != "http" || parsed.host_str().is_none() {
        return Err(format!("--upstream-proxy {}: errand speaks to an upstream proxy over plain http; write it as http://HOST:PORT (https sites still go through it encrypted, in CONNECT tunnels)", without_credentials(u)));
    }
    Ok(())
}

/// The upstream proxy rules in force, built once per session.
#[derive(Clone)]
pub struct Upstream {
    direct: HttpConnector,
    matcher: Option<Arc<Matcher>>,
    /// Loopback destinations skip the proxy.
    loopback_direct: bool,
}

impl Upstream {
    pub fn new(route: &Route, direct: HttpConnector) -> Result<Upstream, String> {
        let (matcher, loopback_direct) = match route {
            Route::Direct => (None, false),
            Route::FromEnv => (Some(Matcher::from_env()), true),
            Route::Via(u) => {
                validate(u)?;
                let no = std::env::var("NO_PROXY").or_else(|_| std::env::var("no_proxy")).unwrap_or_default();
                (Some(Matcher::builder().all(u.clone()).no(no).build()), false)
            }
        };
        Ok(Upstream { direct, matcher: matcher.map(Arc::new), loopback_direct })
    }

    /// The proxy for this destination, if any.
    pub fn intercept(&self, dst: &Uri) -> Option<Intercept> {
        let m = self.matcher.as_ref()?;
        if self.loopback_direct && dst.host().is_some_and(is_loopback) {
            return None;
        }
        m.intercept(dst)
    }

    /// Whether any proxy is configured (for the start-up narration).
    pub fn describe(&self) -> Option<String> {
        let m = self.matcher.as_ref()?;
        let probe: Uri = "https://example.com/".parse().ok()?;
        m.intercept(&probe).map(|i| without_credentials(&i.uri().to_string()))
    }

    /// A raw connection to `host:port` (for CONNECT tunnels errand does not open): as
    /// for an https request to it, without the TLS.
    pub async fn tunnel(&self, authority: &str) -> Result<TokioIo<TcpStream>, BoxError> {
        let uri: Uri = format!("https://{authority}/").parse()?;
        Ok(tower_service::Service::call(&mut self.clone(), uri).await?.io)
    }

    /// A CONNECT tunnel through the network's proxy, with its credentials if it has any.
    fn through(&self, i: &Intercept) -> Tunnel<HttpConnector> {
        let t = Tunnel::new(i.uri().clone(), self.direct.clone());
        match i.basic_auth() {
            Some(auth) => t.with_auth(auth.clone()),
            None => t,
        }
    }
}

/// localhost, 127.0.0.0/8 or ::1 (bracketed or not).
pub(crate) fn is_loopback(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost") || h.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

async fn tower_call<S>(mut s: S, uri: Uri) -> Result<S::Response, BoxError>
where
    S: tower_service::Service<Uri>,
    S::Error: Into<BoxError>,
{
    std::future::poll_fn(|cx| s.poll_ready(cx)).await.map_err(Into::into)?;
    s.call(uri).await.map_err(Into::into)
}

/// A connection to a server, or to the proxy in front of it.
pub struct Conn {
    io: TokioIo<TcpStream>,
    /// Requests on it go in absolute form (plain http through a proxy).
    proxied: bool,
}

impl Connection for Conn {
    fn connected(&self) -> Connected {
        self.io.connected().proxy(self.proxied)
    }
}

impl Read for Conn {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: ReadBufCursor<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl Write for Conn {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

impl tower_service::Service<Uri> for Upstream {
    type Response = Conn;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Conn, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let https = dst.scheme_str() == Some("https");
            match this.intercept(&dst) {
                None => Ok(Conn { io: tower_call(this.direct.clone(), dst).await?, proxied: false }),
                // CONNECT to the server's host and port (the tunnel assumes 443 when the
                // URL has none, which is right for https).
                Some(i) if https => Ok(Conn { io: tower_call(this.through(&i), dst).await?, proxied: false }),
                Some(i) => Ok(Conn { io: tower_call(this.direct.clone(), i.uri().clone()).await?, proxied: true }),
            }
        })
    }
}

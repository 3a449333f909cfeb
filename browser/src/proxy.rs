//! The filtering proxy: errand's second enforcement layer (see [`crate::guard`]).
//!
//! A minimal HTTP/1.1 forward proxy on 127.0.0.1 that Chromium is told to use for every
//! request, loopback included. It judges each CONNECT tunnel (https, wss) by its host and
//! port and each plain request (http, ws) by its absolute URL, before any byte reaches the
//! upstream; refused ones get `403` and are recorded. Written by hand: the proxy crates
//! on crates.io are man-in-the-middle frameworks (TLS interception, certificates) far
//! beyond this job, which needs only to read one request head and splice two sockets.
//!
//! Plain requests are forwarded with `Connection: close`, so every request arrives on a
//! fresh proxy connection and is judged on its own (no second request can ride on a
//! tunnel opened for an allowed host).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::guard::{Blocked, SharedGuard};

const MAX_HEAD: usize = 64 * 1024;

/// A running proxy.
#[derive(Debug, Clone)]
pub struct Proxy {
    pub addr: SocketAddr,
}

/// Start the proxy on an ephemeral loopback port.
pub async fn start(guard: SharedGuard, blocked: Arc<Mutex<Vec<Blocked>>>) -> std::io::Result<Proxy> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else { continue };
            let (guard, blocked) = (guard.clone(), blocked.clone());
            tokio::spawn(async move {
                if let Err(e) = handle(sock, guard, blocked).await {
                    tracing::debug!(target: "errand::proxy", "connection ended: {e}");
                }
            });
        }
    });
    Ok(Proxy { addr })
}

async fn handle(mut client: TcpStream, guard: SharedGuard, blocked: Arc<Mutex<Vec<Blocked>>>) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(4096);
    let head_end = loop {
        let mut chunk = [0u8; 4096];
        let n = client.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > MAX_HEAD {
            return refuse(&mut client, 431, "request head too large").await;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let first = lines.next().unwrap_or_default();
    let mut parts = first.split_whitespace();
    let (method, target, version) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or("HTTP/1.1"));
    if method.eq_ignore_ascii_case("CONNECT") {
        let url = format!("https://{target}/");
        if let Some(reason) = guard.judge(&url) {
            record(&blocked, &url, &reason, "connect");
            return refuse(&mut client, 403, &format!("blocked by errand: {reason}")).await;
        }
        let mut upstream = match connect(target).await {
            Ok(s) => s,
            Err(e) => return refuse(&mut client, 502, &format!("cannot reach {target}: {e}")).await,
        };
        client.write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n").await?;
        let rest = &buf[head_end..];
        if !rest.is_empty() {
            upstream.write_all(rest).await?;
        }
        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
        return Ok(());
    }
    let Ok(url) = url::Url::parse(target) else {
        return refuse(&mut client, 400, "errand's proxy takes absolute URLs only").await;
    };
    if let Some(reason) = guard.judge(url.as_str()) {
        record(&blocked, url.as_str(), &reason, "request");
        return refuse(&mut client, 403, &format!("blocked by errand: {reason}")).await;
    }
    let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
        return refuse(&mut client, 400, "no host").await;
    };
    let authority = format!("{host}:{port}");
    let mut upstream = match connect(&authority).await {
        Ok(s) => s,
        Err(e) => return refuse(&mut client, 502, &format!("cannot reach {authority}: {e}")).await,
    };
    let path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    };
    let mut out = format!("{method} {path} {version}\r\n");
    let mut upgrade = false;
    for l in lines {
        if l.is_empty() {
            continue;
        }
        let name = l.split(':').next().unwrap_or("").trim().to_ascii_lowercase();
        if name == "upgrade" {
            upgrade = true;
        }
        if name == "proxy-connection" || name == "proxy-authorization" || name == "connection" || name == "keep-alive" {
            continue;
        }
        out.push_str(l);
        out.push_str("\r\n");
    }
    out.push_str(if upgrade { "Connection: Upgrade\r\n\r\n" } else { "Connection: close\r\n\r\n" });
    upstream.write_all(out.as_bytes()).await?;
    let rest = &buf[head_end..];
    if !rest.is_empty() {
        upstream.write_all(rest).await?;
    }
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
    Ok(())
}

async fn connect(authority: &str) -> std::io::Result<TcpStream> {
    tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(authority))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))?
}

async fn refuse(client: &mut TcpStream, code: u16, msg: &str) -> std::io::Result<()> {
    let reason = match code {
        403 => "Forbidden",
        400 => "Bad Request",
        431 => "Request Header Fields Too Large",
        _ => "Bad Gateway",
    };
    let resp = format!("HTTP/1.1 {code} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{msg}", msg.len());
    client.write_all(resp.as_bytes()).await?;
    client.shutdown().await
}

/// Hosts Chromium itself calls in the background (component updates, sign-in, network
/// time) despite the switches that should silence it. They are blocked like any other
/// host, but recorded as Chromium's own so they are not reported to the model as the
/// page's doing.
const CHROMIUM_SERVICES: &[&str] = &["update.googleapis.com", "accounts.google.com", "clients2.google.com", "clientservices.googleapis.com", "redirector.gvt1.com", "optimizationguide-pa.googleapis.com", "content-autofill.googleapis.com"];

fn record(blocked: &Mutex<Vec<Blocked>>, url: &str, reason: &str, source: &str) {
    let host = url::Url::parse(url).ok().and_then(|u| u.host_str().map(str::to_string)).unwrap_or_default();
    let source = if CHROMIUM_SERVICES.contains(&host.as_str()) { "chromium" } else { source };
    let mut b = blocked.lock().unwrap_or_else(|p| p.into_inner());
    b.push(Blocked { url: url.to_string(), reason: reason.to_string(), layer: "proxy".into(), source: source.into(), resource: String::new() });
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

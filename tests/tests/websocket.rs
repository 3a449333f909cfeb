//! WebSockets through errand's proxy: judged at the handshake, then carried both ways,
//! over `ws://` (a plain CONNECT tunnel) and `wss://` (TLS opened in the proxy, the
//! server's certificate verified by errand).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::sync::Arc;

mod common;

use browser::{Action, Browser, LaunchOptions, Options, Source, StateOptions, Submission, Verdict};
use fixtures::{Site, TestCa};
use futures::StreamExt;

/// An echo server on 127.0.0.1 (TLS with a certificate from `ca` when given).
async fn echo(ca: Option<&TestCa>) -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let tls = ca.map(|c| c.acceptor(&["127.0.0.1"]));
    let scheme = if tls.is_some() { "wss" } else { "ws" };
    tokio::spawn(async move {
        while let Ok((sock, _)) = l.accept().await {
            let tls = tls.clone();
            tokio::spawn(async move {
                async fn serve<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(s: S) {
                    let Ok(mut ws) = async_tungstenite::tokio::accept_async(s).await else { return };
                    while let Some(Ok(m)) = ws.next().await {
                        if m.is_text() && ws.send(m).await.is_err() {
                            return;
                        }
                    }
                }
                match tls {
                    Some(a) => {
                        if let Ok(s) = a.accept(sock).await {
                            serve(s).await
                        }
                    }
                    None => serve(sock).await,
                }
            });
        }
    });
    format!("{scheme}://{addr}/chat")
}

async fn start(ca: Option<&TestCa>) -> Browser {
    // Any port on 127.0.0.1: the page's site and the echo server.
    let guard = common::guard(&["127.0.0.1".to_string()]);
    let consent: browser::SharedConsent = Arc::new(|_: Submission| Verdict::Deny("no".into()));
    let opts = Options {
        guard: Some(guard),
        consent: Some(consent),
        trust_ca: ca.map(|c| vec![c.pem.clone()]).unwrap_or_default(),
        ..Options::default()
    };
    Browser::start(Source::Launch(LaunchOptions::default()), opts).await.expect("Chromium starts")
}

async fn round_trip(ca: Option<&TestCa>) {
    let site = match ca {
        Some(c) => Site::start_tls(c).await,
        None => Site::start().await,
    };
    let socket = echo(ca).await;
    let b = start(ca).await;
    b.act(&Action::Navigate { url: site.url(&format!("/ws.html?u={socket}")) }).await.unwrap();
    b.act(&Action::Wait { text: Some("echo: hello over the socket".into()), selector: None, ms: Some(5000) }).await.unwrap();
    let s = b.state(&StateOptions::default()).await.unwrap().render();
    assert!(s.contains("echo: hello over the socket"), "{s}");
    b.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_websocket_round_trips_through_the_proxy() {
    round_trip(None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_secure_websocket_round_trips_through_the_proxy() {
    round_trip(Some(&TestCa::new())).await;
}

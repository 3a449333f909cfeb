//! The allowlist enforced in a real Chromium against a hostile page: an exfiltration test
//! with a sink on another loopback address that counts every TCP connection and UDP packet.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

mod common;

use browser::{Action, Browser, BrowserError, LaunchOptions, Options, SharedGuard, Source, StateOptions};
use common::{guard, live};
use fixtures::Site;

struct Sink {
    url: String,
    udp_port: u16,
    /// TCP connections accepted.
    tcp: Arc<AtomicUsize>,
    /// Bytes received over them.
    bytes: Arc<AtomicUsize>,
    udp: Arc<AtomicUsize>,
}

/// A raw sink on 127.0.0.3: any connection or datagram counts, whatever it carries.
async fn sink() -> Sink {
    let l = tokio::net::TcpListener::bind("127.0.0.3:0").await.expect("bind 127.0.0.3");
    let url = format!("http://{}", l.local_addr().unwrap());
    let tcp = Arc::new(AtomicUsize::new(0));
    let bytes = Arc::new(AtomicUsize::new(0));
    let (t, by) = (tcp.clone(), bytes.clone());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            t.fetch_add(1, Ordering::SeqCst);
            let by = by.clone();
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut b = [0u8; 4096];
                let n = s.read(&mut b).await.unwrap_or(0);
                by.fetch_add(n, Ordering::SeqCst);
                if std::env::var("SINK_DEBUG").is_ok() {
                    eprintln!("SINK got: {:?}", String::from_utf8_lossy(&b[..n]).lines().next());
                }
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok").await;
            });
        }
    });
    let u = tokio::net::UdpSocket::bind("127.0.0.3:0").await.unwrap();
    let udp_port = u.local_addr().unwrap().port();
    let udp = Arc::new(AtomicUsize::new(0));
    let c = udp.clone();
    tokio::spawn(async move {
        let mut b = [0u8; 2048];
        while u.recv_from(&mut b).await.is_ok() {
            c.fetch_add(1, Ordering::SeqCst);
        }
    });
    Sink { url, udp_port, tcp, bytes, udp }
}

/// How the guard is given: as a bare judge (the proxy alone refuses) or naming its hosts
/// as errand's allowlist does (Chromium fails the rest first, the proxy the remainder).
#[derive(Clone, Copy, PartialEq)]
enum Shortcut {
    Off,
    On,
}

async fn run(site: &Site, sink: &Sink, allow_sink: bool, shortcut: Shortcut) -> Browser {
    run_on(site, sink, allow_sink, Source::Launch(LaunchOptions::default()), "", shortcut).await
}

async fn run_on(site: &Site, sink: &Sink, allow_sink: bool, source: Source, skip: &str, shortcut: Shortcut) -> Browser {
    let origin = site.origin.trim_start_matches("http://").to_string();
    let mut patterns = vec![origin];
    if allow_sink {
        patterns.push(sink.url.trim_start_matches("http://").to_string());
    }
    let guard: SharedGuard = match shortcut {
        Shortcut::Off => guard(&patterns),
        Shortcut::On => live(&patterns).guard(),
    };
    let opts = Options { guard: Some(guard), ..Options::default() };
    let b = Browser::start(source, opts).await.expect("Chromium starts");
    let page = format!("{}/exfil.html?sink={}&stun={}&skip={skip}", site.origin, urlencode(&sink.url), sink.udp_port);
    b.act(&Action::Navigate { url: page }).await.expect("the allowed page loads");
    b.act(&Action::Wait { text: Some("all fired".into()), selector: None, ms: Some(8000) }).await.expect("the page fired everything");
    let s = b.state(&StateOptions::default()).await.unwrap();
    let leak = s.find("button", "Leak on click").unwrap().ref_.clone();
    let o = b.act(&Action::Click { target: browser::ElementTarget::Ref(leak) }).await.unwrap();
    if !allow_sink {
        // The model is told plainly what its action ran into.
        assert!(o.summary.contains("blocked 127.0.0.3 is not on the allowlist"), "{}", o.summary);
        assert!(!o.blocked.is_empty());
    }
    // Last, as it leaves the page: a link with ping= (its href resolves against the
    // hostile <base href>, so the navigation itself is another attempt).
    b.act(&Action::TabSwitch { index: 0 }).await.unwrap();
    let s = b.state(&StateOptions::default()).await.unwrap();
    let ping = s.find("link", "Ping link").unwrap().ref_.clone();
    b.act(&Action::Click { target: browser::ElementTarget::Ref(ping) }).await.unwrap();
    b.settle().await.unwrap();
    b
}

fn urlencode(s: &str) -> String {
    s.replace(':', "%3A").replace('/', "%2F")
}

#[tokio::test]
async fn a_hostile_page_cannot_reach_a_host_off_the_allowlist() {
    hostile_page(Shortcut::Off).await;
}

/// The same with errand's own kind of allowlist: most attempts now fail inside Chromium
/// and are recorded from its events; the rest (the WebSocket) still meet the proxy.
#[tokio::test]
async fn a_hostile_page_cannot_reach_a_host_off_the_allowlist_with_the_shortcut_on() {
    hostile_page(Shortcut::On).await;
}

async fn hostile_page(shortcut: Shortcut) {
    let site = Site::start().await;
    let sink = sink().await;
    let b = run(&site, &sink, false, shortcut).await;
    // The model also tries to go there itself.
    let e = b.act(&Action::Navigate { url: format!("{}/v/model-navigate", sink.url) }).await.unwrap_err();
    assert!(matches!(e, BrowserError::Blocked { .. }), "{e}");
    assert!(e.to_string().starts_with("blocked: 127.0.0.3 is not on the allowlist"), "{e}");
    // Userinfo: the host is what follows the @ (Chromium refuses such URLs for
    // subresources, so the page's own attempt never becomes a request).
    let tricky = format!("{}@{}/v/userinfo", site.origin, sink.url.trim_start_matches("http://"));
    let e = b.act(&Action::Navigate { url: tricky }).await.unwrap_err();
    assert!(e.to_string().contains("127.0.0.3 is not on the allowlist"), "{e}");
    let e = b.act(&Action::TabNew { url: Some("http://2130706435/".into()) }).await.unwrap_err();
    assert!(e.to_string().contains("127.0.0.3 is not on the allowlist"), "{e}");
    // Give stragglers (workers) a bounded chance to try before checking the record.
    for _ in 0..50 {
        if b.blocked().iter().any(|x| x.url.contains("/v/service-worker")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let blocked = b.blocked();
    let listed: Vec<String> = blocked.iter().map(|x| format!("{} [{} {} {}]", x.url, x.layer, x.source, x.resource)).collect();
    assert_eq!(sink.tcp.load(Ordering::SeqCst), 0, "the sink received a connection; blocked were:\n{}", listed.join("\n"));
    assert_eq!(sink.bytes.load(Ordering::SeqCst), 0);
    assert_eq!(sink.udp.load(Ordering::SeqCst), 0, "the sink received UDP (STUN)");
    // Every vector that reached the request stage is on record, with its reason. (<a ping>
    // never becomes a request: errand launches Chromium with --no-pings.)
    for v in [
        "img",
        "base/rel-img",
        "srcset",
        "script",
        "style",
        "import",
        "bg",
        "iframe",
        "meta-refresh",
        "redirect",
        "form",
        "fetch",
        "xhr",
        "beacon",
        "eventsource",
        "import-module",
        "worker",
        "worker-file",
        "shared-worker",
        "decimal",
        "hex",
        "short",
        "mapped",
        "trailing-dot",
        "userinfo",
        "window-open",
        "click-fetch",
        "click-beacon",
        "favicon",
        "model-navigate",
        "base/",
        "service-worker",
    ] {
        assert!(
            blocked.iter().any(|x| x.url.contains(&format!("/v/{v}")) && x.reason.contains("127.0.0.3 is not on the allowlist")),
            "no record of the {v} attempt; recorded:\n{}",
            listed.join("\n")
        );
    }
    // The WebSocket handshake never reaches CDP interception; the proxy stops it.
    assert!(blocked.iter().any(|x| x.layer == "proxy"), "the proxy layer recorded the WebSocket:\n{}", listed.join("\n"));
    // Launched by errand: the proxy judges every request and the launch flags hold DNS
    // and WebRTC; CDP interception is not needed on top (it would cost ~20 ms a request).
    assert!(b.layers().len() == 2 && b.layers()[0].starts_with("proxy:"), "{:?}", b.layers());
    // The proxy's refusals are attributed to the resource and target that made them.
    for (v, resource) in [("/v/img", "Image"), ("/v/script", "Script"), ("/v/fetch", "Fetch"), ("/v/xhr", "XHR")] {
        assert!(
            blocked.iter().any(|x| x.url.contains(v) && x.resource == resource && x.source == "page"),
            "{v} is not attributed to a {resource} of the page:\n{}",
            listed.join("\n")
        );
    }
    // Which layer stopped the image: Chromium itself with the shortcut, else the proxy.
    let img = blocked.iter().find(|x| x.url.ends_with("/v/img")).map(|x| x.layer.to_string()).unwrap_or_default();
    assert_eq!(img, if shortcut == Shortcut::On { "browser" } else { "proxy" }, "{}", listed.join("\n"));
    // Nothing reported to the model is Chromium's own background traffic.
    assert!(blocked.iter().filter(|x| x.source == "chromium").all(|x| !x.url.contains("127.0.0.3")));
    b.close().await;
}

#[tokio::test]
async fn the_same_page_reaches_the_sink_when_it_is_allowed() {
    let site = Site::start().await;
    let sink = sink().await;
    let b = run(&site, &sink, true, Shortcut::On).await;
    let _ = b.act(&Action::Wait { text: Some("never appears".into()), selector: None, ms: Some(500) }).await;
    assert!(sink.tcp.load(Ordering::SeqCst) > 5, "with the sink allowed, the vectors reach it (so the blocking test can fail)");
    // WebRTC UDP stays off under errand whatever the allowlist says.
    assert_eq!(sink.udp.load(Ordering::SeqCst), 0);
    b.close().await;
}

#[tokio::test]
async fn attached_over_cdp_the_cdp_layer_still_holds() {
    let site = Site::start().await;
    let sink = sink().await;
    let profile = tempfile::tempdir().unwrap();
    let ext = browser::launch::launch(&LaunchOptions::default(), profile.path(), Duration::from_secs(20)).await.unwrap();
    // errand's browser context goes through errand's proxy (the browser is on this
    // machine), so WebSocket handshakes, preconnects, sandboxed frames and speculative
    // loads are judged there too. Without the launch flags errand cannot stop STUN; it
    // says so at start, and the page skips that vector here.
    let b = run_on(&site, &sink, false, Source::Attach(ext.ws_url.clone()), "stun", Shortcut::On).await;
    let gaps = b.layers().iter().find(|l| l.starts_with("not active")).cloned().unwrap_or_default();
    assert!(gaps.contains("WebRTC") && !gaps.contains("WebSocket"), "errand names what is out of reach: {:?}", b.layers());
    assert!(b.layers().iter().any(|l| l.starts_with("proxy:")), "{:?}", b.layers());
    let e = b.act(&Action::Navigate { url: format!("{}/v/model-navigate", sink.url) }).await.unwrap_err();
    assert!(matches!(e, BrowserError::Blocked { .. }), "{e}");
    let _ = b.act(&Action::Wait { text: Some("never appears".into()), selector: None, ms: Some(1500) }).await;
    let listed: Vec<String> = b.blocked().iter().map(|x| format!("{} [{} {} {}]", x.url, x.layer, x.source, x.resource)).collect();
    // Not one connection reaches the sink: speculative ones go to errand's proxy too.
    assert_eq!(sink.bytes.load(Ordering::SeqCst), 0, "request data reached the sink; blocked were:\n{}", listed.join("\n"));
    assert_eq!(sink.tcp.load(Ordering::SeqCst), 0, "a connection reached the sink; blocked were:\n{}", listed.join("\n"));
    assert_eq!(sink.udp.load(Ordering::SeqCst), 0, "the sink received UDP (STUN)");
    assert!(listed.len() > 25, "the CDP layer recorded the attempts:\n{}", listed.join("\n"));
    b.close().await;
    let mut child = ext.child;
    let _ = child.start_kill();
}

/// A host allowed during the session (the person said yes when the model headed there)
/// is reachable from the next action on: the shortcut in Chromium follows the allowlist
/// and never keeps failing what is now allowed.
#[tokio::test]
async fn a_host_allowed_during_the_session_is_reachable_from_the_next_action() {
    let site = Site::start().await;
    let (origin, foreign) = {
        let h = common::site_hosts(&site);
        (h[0].clone(), h[1].clone())
    };
    let policy = live(&[origin]);
    let opts = Options { guard: Some(policy.guard()), ..Options::default() };
    let b = Browser::start(Source::Launch(LaunchOptions::default()), opts).await.unwrap();
    b.act(&Action::Navigate { url: site.url("/library.html") }).await.unwrap();
    let fetch = |tag: &str| {
        let expr = format!("fetch('{}/{tag}', {{mode: 'no-cors'}}).then(() => 'sent', () => 'failed')", site.foreign);
        let b = &b;
        async move {
            let r = b
                .cdp()
                .raw(
                    b.active_session().as_deref(),
                    "Runtime.evaluate",
                    serde_json::json!({"expression": expr, "awaitPromise": true, "returnByValue": true}),
                )
                .await
                .unwrap();
            r["result"]["value"].as_str().unwrap_or_default().to_string()
        }
    };
    assert_eq!(fetch("before").await, "failed");
    let reached = |path: &str| site.foreign_log.lock().unwrap().iter().any(|l| l.path == path);
    assert!(!reached("/before"), "a refused host was reached");
    assert!(b.blocked().iter().any(|x| x.url.ends_with("/before") && x.layer == "browser"), "{:?}", b.blocked());
    policy.add(allowlist::Pattern::parse(&foreign).unwrap());
    b.act(&Action::Wait { text: None, selector: None, ms: Some(10) }).await.unwrap();
    assert_eq!(fetch("after").await, "sent");
    assert!(reached("/after"), "the host allowed a moment ago was not reached");
    b.close().await;
}

//! Consent in a real Chromium: every route a page has to send a state-changing request is
//! held at the network layer until the consent policy decides.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::sync::{Arc, Mutex};
use std::time::Duration;

mod common;

use browser::{Action, Browser, ElementTarget, LaunchOptions, Options, Source, Submission, Verdict};
use fixtures::{Site, TestCa};

async fn start(site: &Site, approve: bool, seen: Arc<Mutex<Vec<Submission>>>) -> Browser {
    start_with(site, approve, seen, None).await
}

async fn start_with(site: &Site, approve: bool, seen: Arc<Mutex<Vec<Submission>>>, ca: Option<&TestCa>) -> Browser {
    let guard = common::guard(&common::site_hosts(site));
    let consent: browser::SharedConsent = Arc::new(move |s: Submission| {
        seen.lock().unwrap().push(s);
        if approve {
            Verdict::Allow
        } else {
            Verdict::Deny("the user declined this submission".into())
        }
    });
    let opts = Options {
        guard: Some(guard),
        consent: Some(consent),
        trust_ca: ca.map(|c| vec![c.pem.clone()]).unwrap_or_default(),
        ..Options::default()
    };
    Browser::start(Source::Launch(LaunchOptions::default()), opts).await.expect("Chromium starts")
}

fn text(t: &str) -> ElementTarget {
    ElementTarget::Text(t.into())
}

/// The routes, each as the action that triggers it and the request it sends.
fn routes() -> Vec<(&'static str, Action)> {
    vec![
        ("native", Action::Click { target: text("Sign in") }),
        ("scripted-fetch", Action::Click { target: text("Subscribe") }),
        ("timer", Action::Click { target: text("Send later") }),
        ("enter", Action::Type { target: ElementTarget::Selector("#note".into()), text: "hello".into(), append: false, submit: true }),
        ("delete", Action::Click { target: text("Delete item") }),
        ("beacon", Action::Click { target: text("Send beacon") }),
        ("iframe", Action::Click { target: text("Vote") }),
    ]
}

fn writes(site: &Site) -> Vec<(String, String, String)> {
    let mut v: Vec<(String, String, String)> = site
        .requests()
        .into_iter()
        .chain(site.foreign_log.lock().unwrap().clone())
        .filter(|l| l.method != "GET")
        .map(|l| (l.method, l.query, l.body))
        .collect();
    v.sort();
    v
}

/// Wait (bounded) until the servers have seen `n` state-changing requests.
async fn until_writes(site: &Site, n: usize) {
    for _ in 0..100 {
        if writes(site).len() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn denied_submissions_never_reach_the_server_by_any_route() {
    denied(None).await;
}

#[tokio::test]
async fn denied_submissions_never_reach_the_server_by_any_route_over_https() {
    denied(Some(&TestCa::new())).await;
}

async fn site_for(ca: Option<&TestCa>) -> Site {
    match ca {
        Some(ca) => Site::start_tls(ca).await,
        None => Site::start().await,
    }
}

async fn denied(ca: Option<&TestCa>) {
    let site = site_for(ca).await;
    let seen = Arc::new(Mutex::new(vec![]));
    let b = start_with(&site, false, seen.clone(), ca).await;
    for (route, action) in routes() {
        b.act(&Action::Navigate { url: site.url("/consent.html") }).await.unwrap();
        let o = b.act(&action).await.unwrap_or_else(|e| panic!("{route}: {e}"));
        // The policy is asked (the timer's form goes a moment after the click).
        for _ in 0..100 {
            if seen.lock().unwrap().iter().any(|s| s.url.contains(&format!("route={route}"))) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(seen.lock().unwrap().iter().any(|s| s.url.contains(&format!("route={route}"))), "{route} was never held");
        if route != "timer" {
            assert!(o.summary.contains("the user declined this submission"), "{route}: {}", o.summary);
        }
    }
    // The GET search form is ordinary navigation: never held, and it goes through.
    b.act(&Action::Navigate { url: site.url("/consent.html") }).await.unwrap();
    b.act(&Action::Click { target: ElementTarget::Selector("#search button".into()) }).await.unwrap();
    assert!(site.requests().iter().any(|l| l.method == "GET" && l.path == "/echo" && l.query == "q=otters"));
    b.act(&Action::Wait { text: None, selector: None, ms: Some(300) }).await.unwrap();
    assert_eq!(writes(&site), vec![], "a state-changing request reached a server");
    let seen = seen.lock().unwrap().clone();
    assert!(seen.iter().all(|s| s.method != "GET"));
    // Described for a person: purpose, fields, secrets masked.
    let native = seen.iter().find(|s| s.url.contains("route=native")).unwrap();
    assert_eq!(native.method, "POST");
    assert!(native.purpose.contains("Sign in"), "{native:?}");
    assert!(native.fields.contains(&("user".into(), "ann".into())));
    assert!(native.fields.contains(&("password".into(), browser::consent::MASK.into())), "{native:?}");
    let fetch = seen.iter().find(|s| s.url.contains("route=scripted-fetch")).unwrap();
    assert!(fetch.fields.contains(&("list".into(), "weekly".into())), "{fetch:?}");
    let frame = seen.iter().find(|s| s.url.contains("route=iframe")).unwrap();
    assert!(frame.purpose.contains("Partner poll") && frame.frame.contains("consent-frame.html"), "{frame:?}");
    assert!(seen.iter().any(|s| s.method == "DELETE"));
    b.close().await;
}

#[tokio::test]
async fn approved_submissions_arrive_exactly_once_with_their_body() {
    approved(None).await;
}

#[tokio::test]
async fn approved_submissions_arrive_exactly_once_with_their_body_over_https() {
    approved(Some(&TestCa::new())).await;
}

async fn approved(ca: Option<&TestCa>) {
    let site = site_for(ca).await;
    let seen = Arc::new(Mutex::new(vec![]));
    let b = start_with(&site, true, seen.clone(), ca).await;
    for (i, (route, action)) in routes().into_iter().enumerate() {
        b.act(&Action::Navigate { url: site.url("/consent.html") }).await.unwrap();
        b.act(&action).await.unwrap_or_else(|e| panic!("{route}: {e}"));
        until_writes(&site, i + 1).await;
    }
    b.act(&Action::Wait { text: None, selector: None, ms: Some(300) }).await.unwrap();
    let w = writes(&site);
    let one = |route: &str| -> (String, String) {
        let hits: Vec<&(String, String, String)> = w.iter().filter(|(_, q, _)| q.contains(&format!("route={route}"))).collect();
        assert_eq!(hits.len(), 1, "{route}: {w:?}");
        (hits[0].0.clone(), hits[0].2.clone())
    };
    assert_eq!(one("native"), ("POST".into(), "user=ann&password=hunter2".into()));
    assert_eq!(one("scripted-fetch"), ("POST".into(), r#"{"email":"ann@example.org","list":"weekly"}"#.into()));
    assert_eq!(one("timer"), ("POST".into(), "comment=later".into()));
    assert_eq!(one("enter"), ("POST".into(), "note=hello".into()));
    assert_eq!(one("delete"), ("DELETE".into(), String::new()));
    assert_eq!(one("beacon"), ("POST".into(), "seen=1".into()));
    assert_eq!(one("iframe"), ("POST".into(), "choice=yes".into()));
    assert_eq!(w.len(), 7, "nothing sent twice: {w:?}");
    b.close().await;
}

#[tokio::test]
async fn new_tabs_from_a_post_form_and_a_noopener_popup_load() {
    let site = Site::start().await;
    let seen = Arc::new(Mutex::new(vec![]));
    let b = start(&site, true, seen.clone()).await;
    b.act(&Action::Navigate { url: site.url("/popup.html") }).await.unwrap();
    // A popup without an opener is a tab of its own, attached and resumed like any other.
    let o = b.act(&Action::Click { target: text("Open without opener") }).await.unwrap();
    assert!(o.summary.contains("opened tab [1]") && o.summary.contains("/popup-target.html"), "{}", o.summary);
    b.act(&Action::TabSwitch { index: 1 }).await.unwrap();
    b.settle().await.unwrap();
    let s = b.state(&Default::default()).await.unwrap();
    assert!(s.render().contains("I am the popup"), "the noopener tab loaded: {}", s.render());
    b.act(&Action::TabSwitch { index: 0 }).await.unwrap();
    // A POST form aimed at a new tab: asked about, approved, and its answer shows there.
    let o = b.act(&Action::Click { target: text("Order in a new tab") }).await.unwrap();
    assert!(o.summary.contains("opened tab [2]"), "{}", o.summary);
    until_writes(&site, 1).await;
    assert_eq!(writes(&site), vec![("POST".to_string(), "route=blank-post".to_string(), "item=kettle".to_string())]);
    assert!(seen.lock().unwrap().iter().any(|s| s.url.contains("route=blank-post")), "the person was asked");
    b.act(&Action::TabSwitch { index: 2 }).await.unwrap();
    b.settle().await.unwrap();
    let s = b.state(&Default::default()).await.unwrap();
    assert!(s.render().contains("kettle"), "the new tab shows the server's answer: {}", s.render());
    b.close().await;
}

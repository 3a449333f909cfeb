//! The tracker's rules, without a browser: DevTools events in, state and effects out.

use super::*;
use serde_json::json;

const T: Tracking = Tracking { accept_confirms: false, downloads: false };

/// A state with tabs attached, as Chromium announces them.
fn with_tabs(ids: &[&str]) -> State {
    let mut s = State::default();
    for id in ids {
        let fx = s.apply(
            "Target.attachedToTarget",
            &json!({"sessionId": format!("s-{id}"), "targetInfo": {"targetId": id, "type": "page", "url": "about:blank"}}),
            "",
            &T,
        );
        assert!(matches!(&fx[..], [Effect::SetUp { kind, .. }] if kind == "page"), "{fx:?}");
    }
    s
}

fn navigated(s: &mut State, frame: &str, url: &str, session: &str) -> Vec<Effect> {
    s.apply("Page.frameNavigated", &json!({"frame": {"id": frame, "url": url}}), session, &T)
}

#[test]
fn a_new_document_makes_its_refs_stale() {
    let mut s = with_tabs(&["A"]);
    navigated(&mut s, "A", "http://a.test/one", "s-A");
    let minted = s.frames["A"].generation;
    assert!(s.is_current("A", minted));
    // Same-document navigation keeps the document, and its refs.
    s.apply("Page.navigatedWithinDocument", &json!({"frameId": "A", "url": "http://a.test/one#two"}), "s-A", &T);
    assert!(s.is_current("A", minted));
    let fx = navigated(&mut s, "A", "http://a.test/two", "s-A");
    assert!(!s.is_current("A", minted), "a ref from the old document still resolves");
    assert!(matches!(&fx[..], [Effect::CreateWorld { frame, .. }] if frame == "A"), "{fx:?}");
    // A world that died takes its refs with it too.
    let now = s.frames["A"].generation;
    if let Some(f) = s.frames.get_mut("A") {
        f.world = Some(7);
    }
    s.forget_world("A", 7);
    assert!(!s.is_current("A", now));
    assert!(!s.is_current("gone", 0), "a ref into a frame that is gone");
}

#[test]
fn a_request_that_starts_in_one_session_and_ends_in_another_leaves_nothing_in_flight() {
    let mut s = with_tabs(&["A"]);
    let sent = json!({"requestId": "r1", "type": "Document", "frameId": "F", "request": {"url": "http://b.test/frame", "method": "GET"}});
    s.apply("Network.requestWillBeSent", &sent, "s-A", &T);
    assert_eq!(s.inflight.len(), 1);
    // The out-of-process frame's own session reports the end.
    s.apply("Network.loadingFinished", &json!({"requestId": "r1"}), "s-F", &T);
    assert!(s.inflight.is_empty(), "{:?}", s.inflight);
    assert!(s.requests.is_empty());
    // A session that goes away takes its requests with it.
    s.apply(
        "Network.requestWillBeSent",
        &json!({"requestId": "r2", "type": "Image", "request": {"url": "http://a.test/i.png"}}),
        "s-A",
        &T,
    );
    s.apply("Target.detachedFromTarget", &json!({"sessionId": "s-A"}), "", &T);
    assert!(s.inflight.is_empty());
}

#[test]
fn closing_a_tab_before_the_active_one_keeps_the_right_tab_active() {
    let mut s = with_tabs(&["A", "B", "C"]);
    s.active = 2;
    s.apply("Target.targetDestroyed", &json!({"targetId": "A"}), "", &T);
    assert_eq!(s.tabs[s.active].target_id, "C");
    // Closing one after it changes nothing; closing the active one moves to its left.
    let mut s = with_tabs(&["A", "B", "C"]);
    s.active = 1;
    s.apply("Target.targetDestroyed", &json!({"targetId": "C"}), "", &T);
    assert_eq!(s.tabs[s.active].target_id, "B");
    s.apply("Target.targetDestroyed", &json!({"targetId": "B"}), "", &T);
    assert_eq!(s.tabs[s.active].target_id, "A");
    assert!(s.frames.keys().all(|f| f == "A"), "frames of closed tabs are forgotten: {:?}", s.frames.keys());
    assert!(matches!(s.changes.last(), Some(Change::TabClosed { .. })));
}

#[test]
fn a_confirm_dialog_is_dismissed_and_reported() {
    let mut s = with_tabs(&["A"]);
    let fx = s.apply("Page.javascriptDialogOpening", &json!({"type": "confirm", "message": "Delete everything?"}), "s-A", &T);
    assert_eq!(fx, vec![Effect::AnswerDialog { session: "s-A".into(), accept: false }]);
    let want = Change::Dialog { dialog: "confirm".into(), message: "Delete everything?".into(), answer: "dismissed".into() };
    assert_eq!(s.changes.last(), Some(&want));
    assert_eq!(s.recent_dialogs, vec![want]);
    // An alert is accepted: it only informs.
    let fx = s.apply("Page.javascriptDialogOpening", &json!({"type": "alert", "message": "Hi"}), "s-A", &T);
    assert_eq!(fx, vec![Effect::AnswerDialog { session: "s-A".into(), accept: true }]);
}

#[test]
fn someone_elses_tab_in_an_attached_browser_is_left_alone() {
    let mut s = State { context: Some("ours".into()), ..State::default() };
    let fx = s.apply(
        "Target.attachedToTarget",
        &json!({"sessionId": "s1", "targetInfo": {"targetId": "X", "type": "page", "browserContextId": "theirs"}}),
        "",
        &T,
    );
    assert_eq!(fx, vec![Effect::LeaveAlone { session: "s1".into() }]);
    assert!(s.tabs.is_empty());
}

#[test]
fn a_tab_is_settled_only_when_nothing_of_its_own_is_under_way() {
    let mut s = with_tabs(&["A", "B"]);
    navigated(&mut s, "A", "http://a.test/", "s-A");
    navigated(&mut s, "B", "http://b.test/", "s-B");
    let now = Instant::now();
    assert_eq!(s.network_quiet("A", Scope::Tab, now), Some(Duration::MAX), "a tab with nothing under way");
    // B's request holds up B, and everything after an action, but not A on its own.
    let img = json!({"requestId": "r1", "type": "Image", "request": {"url": "http://b.test/i.png"}});
    s.apply("Network.requestWillBeSent", &img, "s-B", &T);
    let now = Instant::now();
    assert_eq!(s.network_quiet("B", Scope::Tab, now), None);
    assert_eq!(s.network_quiet("A", Scope::Browser, now), None);
    assert!(s.network_quiet("A", Scope::Tab, now).is_some());
    // A request running for over 2 s (a long poll) no longer counts.
    assert!(s.network_quiet("B", Scope::Tab, now + Duration::from_secs(3)).is_some());
    s.apply("Network.loadingFinished", &json!({"requestId": "r1"}), "s-B", &T);
    let quiet = s.network_quiet("A", Scope::Browser, Instant::now()).expect("quiet once the request ended");
    assert!(quiet < Duration::from_secs(1), "the quiet window starts when the request ended: {quiet:?}");
    // A navigation holds up its tab until its document is parsed.
    s.apply("Page.frameRequestedNavigation", &json!({"frameId": "A"}), "s-A", &T);
    assert_eq!(s.network_quiet("A", Scope::Tab, Instant::now()), None);
    s.apply("Page.domContentEventFired", &json!({}), "s-A", &T);
    assert!(s.network_quiet("A", Scope::Tab, Instant::now()).is_some());
    // A request waiting for a person's yes holds up every tab.
    s.consent_pending = 1;
    assert_eq!(s.network_quiet("A", Scope::Tab, Instant::now()), None);
}

#[test]
fn a_download_keeps_the_browser_busy_until_its_file_is_named() {
    let saving = Tracking { accept_confirms: false, downloads: true };
    let mut s = with_tabs(&["A"]);
    navigated(&mut s, "A", "http://a.test/", "s-A");
    let begin = json!({"guid": "g1", "url": "http://a.test/report.txt", "suggestedFilename": "report.txt"});
    s.apply("Browser.downloadWillBegin", &begin, "", &saving);
    assert_eq!(s.network_quiet("A", Scope::Browser, Instant::now()), None, "a download under way is work in progress");
    assert!(s.network_quiet("A", Scope::Tab, Instant::now()).is_some(), "but not the tab's own");
    // Complete: the driver names the file; until then the step is not over.
    let fx = s.apply("Browser.downloadProgress", &json!({"guid": "g1", "state": "completed"}), "", &saving);
    assert!(matches!(&fx[..], [Effect::NameDownload { guid, suggested, .. }] if guid == "g1" && suggested == "report.txt"), "{fx:?}");
    assert_eq!(s.network_quiet("A", Scope::Browser, Instant::now()), None);
    assert!(s.changes.is_empty(), "{:?}", s.changes);
    // A download that runs for long no longer holds up the step.
    assert!(s.network_quiet("A", Scope::Browser, Instant::now() + Duration::from_secs(11)).is_some());
    // Refused downloads (no output folder) end at once, reported as refused.
    s.downloads.clear();
    s.apply("Browser.downloadWillBegin", &begin, "", &T);
    s.apply("Browser.downloadProgress", &json!({"guid": "g1", "state": "canceled"}), "", &T);
    assert!(s.downloads.is_empty());
    assert!(matches!(&s.changes[..], [Change::DownloadDenied { url }] if url.ends_with("report.txt")), "{:?}", s.changes);
}

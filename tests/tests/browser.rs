//! The browser controller against real Chromium and the fixture site.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::time::Duration;

use browser::{Action, Browser, BrowserError, Change, Direction, ElementTarget, LaunchOptions, Options, Source, StateOptions};
use fixtures::Site;

async fn start() -> (Site, Browser) {
    start_with(Options::default()).await
}

async fn start_with(opts: Options) -> (Site, Browser) {
    let site = Site::start().await;
    let b = Browser::start(Source::Launch(LaunchOptions::default()), opts).await.expect("Chromium starts");
    (site, b)
}

async fn goto(b: &Browser, url: String) -> browser::Outcome {
    b.act(&Action::Navigate { url }).await.expect("navigation works")
}

async fn state(b: &Browser) -> browser::PageState {
    b.state(&StateOptions::default()).await.expect("page state")
}

fn r(s: &browser::PageState, role: &str, name: &str) -> ElementTarget {
    let e = s.find(role, name).unwrap_or_else(|| panic!("no {role} {name:?} in\n{}", s.render()));
    ElementTarget::Ref(e.ref_.clone())
}

#[tokio::test]
async fn page_state_lists_every_form_control_with_its_state() {
    let (site, b) = start().await;
    goto(&b, site.url("/form.html")).await;
    let s = state(&b).await;
    let text = s.render();
    assert!(text.starts_with("Page: Form fixture — http://127.0.0.1:"), "{text}");
    for (role, name) in [
        ("textbox", "Query"),
        ("textbox", "Password"),
        ("combobox", "Colour"),
        ("checkbox", "I agree"),
        ("radio", "Small"),
        ("radio", "Large"),
        ("textbox", "Notes"),
        ("textbox", "Rich editor"),
        ("button", "Search"),
        ("link", "Far away link"),
        ("clickable", "Hover me"),
    ] {
        assert!(s.find(role, name).is_some(), "missing {role} {name:?} in\n{text}");
    }
    assert!(text.contains("combobox \"Colour\" value=\"Red\""), "{text}");
    assert!(text.contains("button \"Disabled button\" disabled"), "{text}");
    // The far link is below the viewport and marked so.
    assert!(text.contains("link \"Far away link\" ↓"), "{text}");
    assert!(text.contains("# Search the catalogue"), "{text}");
    b.close().await;
}

#[tokio::test]
async fn typing_selecting_checking_and_submitting_a_get_form() {
    let (site, b) = start().await;
    goto(&b, site.url("/form.html")).await;
    let s = state(&b).await;
    let o =
        b.act(&Action::Type { target: r(&s, "textbox", "Query"), text: "blue shoes".into(), append: false, submit: false }).await.unwrap();
    assert_eq!(o.locator.as_ref().unwrap().css, vec!["#q".to_string()]);
    let o =
        b.act(&Action::Type { target: r(&s, "textbox", "Password"), text: "hunter2".into(), append: false, submit: false }).await.unwrap();
    assert!(o.secret, "a password field is reported as secret");
    assert!(!o.summary.contains("hunter2"), "the narration never shows a typed password: {}", o.summary);
    let o = b.act(&Action::Select { target: r(&s, "combobox", "Colour"), value: "Green".into() }).await.unwrap();
    assert!(o.summary.contains("Green"), "{}", o.summary);
    b.act(&Action::Check { target: r(&s, "checkbox", "I agree"), checked: true }).await.unwrap();
    let again = b.act(&Action::Check { target: r(&s, "checkbox", "I agree"), checked: true }).await.unwrap();
    assert!(again.summary.contains("already checked"), "{}", again.summary);
    b.act(&Action::Check { target: r(&s, "radio", "Large"), checked: true }).await.unwrap();
    b.act(&Action::Type { target: r(&s, "textbox", "Notes"), text: "line one".into(), append: false, submit: false }).await.unwrap();
    let s2 = state(&b).await;
    let t = s2.render();
    assert!(t.contains("textbox \"Query\" value=\"blue shoes\""), "{t}");
    assert!(t.contains("textbox \"Password\" value=••••"), "password values are masked in the page state: {t}");
    assert!(!t.contains("hunter2"));
    assert!(t.contains("checkbox \"I agree\" checked"), "{t}");
    assert!(t.contains("combobox \"Colour\" value=\"Green\""), "{t}");
    let o = b.act(&Action::Click { target: r(&s, "button", "Search") }).await.unwrap();
    assert!(o.url.contains("/echo?"), "{o:?}");
    let echo = site.requests().into_iter().find(|q| q.path == "/echo").expect("the form reached the server");
    assert_eq!(echo.method, "GET");
    assert!(echo.query.contains("q=blue+shoes"), "{}", echo.query);
    assert!(echo.query.contains("colour=g"), "{}", echo.query);
    assert!(echo.query.contains("agree=yes"), "{}", echo.query);
    assert!(echo.query.contains("size=l"), "{}", echo.query);
    assert!(echo.query.contains("notes=line+one"), "{}", echo.query);
    b.close().await;
}

#[tokio::test]
async fn typing_appends_and_submits_with_enter() {
    let (site, b) = start().await;
    goto(&b, site.url("/form.html")).await;
    let s = state(&b).await;
    let q = r(&s, "textbox", "Query");
    b.act(&Action::Type { target: q.clone(), text: "abc".into(), append: false, submit: false }).await.unwrap();
    b.act(&Action::Type { target: q.clone(), text: "xyz".into(), append: false, submit: false }).await.unwrap();
    let o = b.act(&Action::Type { target: q, text: "def".into(), append: true, submit: true }).await.unwrap();
    assert!(o.summary.contains("pressed Enter"), "{}", o.summary);
    assert!(o.url.contains("q=xyzdef"), "replace then append, then Enter submits: {}", o.url);
    b.close().await;
}

#[tokio::test]
async fn type_into_contenteditable_and_refuse_non_fields() {
    let (site, b) = start().await;
    goto(&b, site.url("/form.html")).await;
    let s = state(&b).await;
    b.act(&Action::Type { target: r(&s, "textbox", "Rich editor"), text: "rich text".into(), append: false, submit: false }).await.unwrap();
    let t = state(&b).await.render();
    assert!(t.contains("textbox \"Rich editor\" value=\"rich text\""), "{t}");
    let e = b.act(&Action::Type { target: r(&s, "button", "Search"), text: "x".into(), append: false, submit: false }).await.unwrap_err();
    assert!(e.to_string().contains("not a text field"), "{e}");
    let e = b.act(&Action::Click { target: r(&s, "button", "Disabled button") }).await;
    // A disabled button can be clicked at (nothing happens) but never navigates.
    assert!(e.map(|o| o.url.ends_with("/form.html")).unwrap_or(true));
    b.close().await;
}

#[tokio::test]
async fn press_hover_and_scroll() {
    let (site, b) = start().await;
    goto(&b, site.url("/form.html")).await;
    let s = state(&b).await;
    b.act(&Action::Press { key: "Escape".into() }).await.unwrap();
    b.act(&Action::Press { key: "ArrowDown".into() }).await.unwrap();
    let e = b.act(&Action::Press { key: "Hyper+x".into() }).await.unwrap_err();
    assert!(e.to_string().contains("unknown modifier"), "{e}");
    b.act(&Action::Hover { target: r(&s, "clickable", "Hover me") }).await.unwrap();
    let t = state(&b).await.render();
    assert!(t.contains("Escape ArrowDown"), "keys reached the page: {t}");
    assert!(t.contains("hovered"), "{t}");
    let o = b.act(&Action::Scroll { direction: Direction::Down, target: None }).await.unwrap();
    assert!(o.summary.starts_with("scrolled down to y="), "{}", o.summary);
    let s2 = state(&b).await;
    assert!(s2.scroll.1 > 0, "page scrolled");
    b.act(&Action::Scroll { direction: Direction::Down, target: Some(r(&s, "link", "Far away link")) }).await.unwrap();
    let s3 = state(&b).await;
    assert_eq!(s3.find("link", "Far away link").unwrap().where_, 0, "the far link is now in view");
    let top = b.act(&Action::Scroll { direction: Direction::Top, target: None }).await.unwrap();
    assert!(top.summary.contains("y=0"), "{}", top.summary);
    let edge = b.act(&Action::Scroll { direction: Direction::Up, target: None }).await.unwrap();
    assert!(edge.summary.contains("already at the edge"), "{}", edge.summary);
    b.close().await;
}

#[tokio::test]
async fn frames_same_origin_nested_and_cross_origin_are_seen_and_clicked() {
    let (site, b) = start().await;
    goto(&b, site.url("/frames.html")).await;
    let s = state(&b).await;
    let t = s.render();
    assert!(t.contains(", cross-origin]"), "the cross-origin frame is labelled: {t}");
    assert_eq!(s.elements.iter().filter(|e| e.name == "Inner button").count(), 1, "the display:none frame is not shown: {t}");
    for (name, after) in [
        ("Top button", "Top clicked"),
        ("Inner button", "Inner clicked"),
        ("Deep button", "Deep clicked"),
        ("Cross button", "Cross clicked"),
    ] {
        let o = b.act(&Action::Click { target: r(&s, "button", name) }).await.unwrap();
        let now = state(&b).await;
        assert!(now.find("button", after).is_some(), "clicking {name} worked: {}", now.render());
        if name == "Cross button" {
            assert_eq!(o.locator.clone().unwrap().frames, vec![vec!["#cross".to_string()]], "frame path recorded for replay");
        }
        if name == "Deep button" {
            assert_eq!(o.locator.clone().unwrap().frames.len(), 2, "nested frame path");
        }
    }
    b.act(&Action::Type { target: r(&s, "textbox", "Cross field"), text: "over the border".into(), append: false, submit: false })
        .await
        .unwrap();
    let t = state(&b).await.render();
    assert!(t.contains("textbox \"Cross field\" value=\"over the border\""), "typing into an out-of-process iframe: {t}");
    b.close().await;
}

#[tokio::test]
async fn open_shadow_roots_are_walked_and_usable() {
    let (site, b) = start().await;
    goto(&b, site.url("/shadow.html")).await;
    let s = state(&b).await;
    assert!(s.find("link", "Deep shadow link").is_some(), "nested shadow root: {}", s.render());
    b.act(&Action::Type { target: r(&s, "textbox", "Shadow field"), text: "hi".into(), append: false, submit: false }).await.unwrap();
    let o = b.act(&Action::Click { target: r(&s, "button", "Shadow button") }).await.unwrap();
    assert_eq!(o.locator.unwrap().css.len(), 2, "the CSS path steps through the shadow root");
    assert!(state(&b).await.render().contains("shadow clicked: hi"));
    // Selector targets pierce open shadow roots too.
    b.act(&Action::Click { target: ElementTarget::Selector("#sh-btn".into()) }).await.unwrap();
    b.close().await;
}

#[tokio::test]
async fn spa_route_change_makes_old_refs_stale_not_wrong() {
    let (site, b) = start().await;
    goto(&b, site.url("/spa.html")).await;
    let s = state(&b).await;
    let home = r(&s, "button", "Home action");
    let o = b.act(&Action::Click { target: r(&s, "link", "About") }).await.unwrap();
    assert!(o.url.ends_with("/spa/about"), "{o:?}");
    let s2 = state(&b).await;
    assert!(s2.render().contains("# About view"), "{}", s2.render());
    assert!(s2.find("button", "About action").is_some());
    let e = b.act(&Action::Click { target: home }).await.unwrap_err();
    assert!(matches!(e, BrowserError::StaleRef(_)), "{e}");
    assert!(e.wants_fresh_state());
    // Refs of elements that survived stay the same.
    assert_eq!(s.find("link", "About").unwrap().ref_, s2.find("link", "About").unwrap().ref_);
    b.close().await;
}

#[tokio::test]
async fn refs_from_a_previous_page_are_stale_and_unknown_refs_are_refused() {
    let (site, b) = start().await;
    goto(&b, site.url("/form.html")).await;
    let s = state(&b).await;
    let search = r(&s, "button", "Search");
    goto(&b, site.url("/index.html")).await;
    let _ = state(&b).await;
    let e = b.act(&Action::Click { target: search }).await.unwrap_err();
    assert!(matches!(e, BrowserError::StaleRef(_)), "{e}");
    assert!(e.to_string().contains("stale"));
    let e = b.act(&Action::Click { target: ElementTarget::Ref("e9999".into()) }).await.unwrap_err();
    assert!(matches!(e, BrowserError::UnknownRef(_)), "{e}");
    let e = b.act(&Action::Click { target: ElementTarget::Selector("#nope".into()) }).await.unwrap_err();
    assert!(matches!(e, BrowserError::NotFound(_)), "{e}");
    assert!(site.requests().iter().all(|q| q.path != "/echo"), "nothing was submitted by a stale click");
    b.close().await;
}

#[tokio::test]
async fn popups_and_new_tabs_are_tracked_switched_and_closed() {
    let (site, b) = start().await;
    goto(&b, site.url("/popup.html")).await;
    let s = state(&b).await;
    let o = b.act(&Action::Click { target: r(&s, "button", "Open popup") }).await.unwrap();
    assert!(o.changes.iter().any(|c| matches!(c, Change::NewTab { index: 1, .. })), "{o:?}");
    // The narration names the new tab by its address, never with blanks.
    assert!(
        o.summary.contains(&format!("opened tab [1] {}", site.url("/popup-target.html")))
            || o.summary.contains(&format!("opened tab [1] \"Popup target\" {}", site.url("/popup-target.html"))),
        "{}",
        o.summary
    );
    let o = b.act(&Action::Click { target: r(&s, "link", "New tab link") }).await.unwrap();
    assert!(o.changes.iter().any(|c| matches!(c, Change::NewTab { index: 2, .. })), "{o:?}");
    assert_eq!(b.tabs().len(), 3);
    b.act(&Action::TabSwitch { index: 1 }).await.unwrap();
    b.settle().await.unwrap();
    let p = state(&b).await;
    assert!(p.render().contains("I am the popup"), "{}", p.render());
    assert!(p.render().contains("Tabs: [0] Popup fixture"), "{}", p.render());
    let o = b.act(&Action::TabClose { index: None }).await.unwrap();
    assert_eq!(b.tabs().len(), 2);
    assert!(o.summary.starts_with(&format!("closed tab [1] \"Popup target\" {};", site.url("/popup-target.html"))), "{}", o.summary);
    b.act(&Action::TabNew { url: Some(site.url("/index.html")) }).await.unwrap();
    assert!(state(&b).await.render().contains("Plain text paragraph"));
    let e = b.act(&Action::TabSwitch { index: 7 }).await.unwrap_err();
    assert!(e.to_string().contains("no tab [7]"), "{e}");
    b.close().await;
}

#[tokio::test]
async fn dialogs_are_answered_and_reported_never_hang() {
    let (site, b) = start().await;
    goto(&b, site.url("/dialogs.html")).await;
    let s = state(&b).await;
    let o = b.act(&Action::Click { target: r(&s, "button", "Alert") }).await.unwrap();
    assert!(
        o.changes.iter().any(|c| matches!(c, Change::Dialog { dialog, answer, .. } if dialog == "alert" && answer == "accepted")),
        "{o:?}"
    );
    assert!(state(&b).await.render().contains("after alert"));
    let o = b.act(&Action::Click { target: r(&s, "button", "Confirm") }).await.unwrap();
    assert!(o.summary.contains("confirm dialog \"Delete everything?\" dismissed"), "{}", o.summary);
    let st = state(&b).await;
    assert!(st.render().contains("cancelled"));
    b.act(&Action::Click { target: r(&s, "button", "Prompt") }).await.unwrap();
    assert!(state(&b).await.render().contains("prompt: null"));
    b.act(&Action::Click { target: r(&s, "button", "Arm beforeunload") }).await.unwrap();
    let o = b.act(&Action::Click { target: r(&s, "link", "Leave page") }).await.unwrap();
    assert!(o.url.ends_with("/index.html"), "beforeunload does not trap the agent: {o:?}");
    b.close().await;
}

#[tokio::test]
async fn what_a_scroll_sets_off_is_waited_for() {
    let opts = Options { settle_timeout: Duration::from_millis(3000), ..Options::default() };
    let (site, b) = start_with(opts).await;
    goto(&b, site.url("/scroll-loads.html")).await;
    let s = state(&b).await;
    assert!(s.find("link", "Loaded item: slept 400 ms").is_none(), "nothing loaded before the scroll:\n{}", s.render());
    let o = b.act(&Action::Scroll { direction: Direction::Bottom, target: None }).await.unwrap();
    assert!(o.settled, "{o:?}");
    let s = state(&b).await;
    let t = s.render();
    assert!(s.find("button", "Drawn after the scroll").is_some(), "what the scroll handler drew two frames later:\n{t}");
    assert!(s.find("button", "Shown after a pause").is_some(), "what it showed on a short timer:\n{t}");
    assert!(s.find("link", "Loaded item: slept 400 ms").is_some(), "what coming into view fetched:\n{t}");
    b.close().await;
}

#[tokio::test]
async fn slow_pages_are_waited_for_and_never_loading_pages_are_bounded() {
    let opts = Options { settle_timeout: Duration::from_millis(1500), ..Options::default() };
    let (site, b) = start_with(opts).await;
    let o = goto(&b, site.url("/slow.html")).await;
    assert!(o.settled, "{o:?}");
    assert!(state(&b).await.render().contains("Loaded: slept 800 ms"), "settling waited for the slow request");
    let o = goto(&b, site.url("/never.html")).await;
    assert!(!o.settled, "a page that never finishes loading is reported, not waited on forever: {o:?}");
    assert!(o.summary.contains("still busy"), "{}", o.summary);
    let s = state(&b).await;
    b.act(&Action::Click { target: r(&s, "button", "Still clickable") }).await.unwrap();
    b.close().await;
}

#[tokio::test]
async fn what_a_click_sets_off_on_a_short_timer_is_waited_for_and_a_ticking_clock_is_not() {
    let opts = Options { settle_timeout: Duration::from_millis(1500), ..Options::default() };
    let (site, b) = start_with(opts).await;
    goto(&b, site.url("/timers.html")).await;
    let s = state(&b).await;
    let o = b.act(&Action::Click { target: r(&s, "button", "Show results") }).await.unwrap();
    assert!(o.settled, "{o:?}");
    let s = state(&b).await;
    assert!(s.find("button", "Result one").is_some(), "the view drawn 200 ms after the click is in the next state:\n{}", s.render());
    // A clock ticking every 80 ms on a chain of timers that never ends is not a page that is busy.
    let o = b.act(&Action::Click { target: r(&s, "button", "Start clock") }).await.unwrap();
    assert!(o.settled, "{o:?}");
    let o = b.act(&Action::Click { target: r(&s, "button", "Do nothing") }).await.unwrap();
    assert!(o.settled, "a page that ticks on a timer still settles: {o:?}");
    b.close().await;
}

#[tokio::test]
async fn a_page_that_builds_itself_after_its_load_event_is_waited_for() {
    let (site, b) = start().await;
    let o = goto(&b, site.url("/builds-after-load.html")).await;
    assert!(o.settled, "{o:?}");
    let s = state(&b).await;
    assert!(s.find("button", "Built after load").is_some(), "a chain of short timers and a request after load:\n{}", s.render());
    b.close().await;
}

#[tokio::test]
async fn what_a_page_draws_in_its_next_animation_frames_is_waited_for() {
    let (site, b) = start().await;
    goto(&b, site.url("/animation-frames.html")).await;
    let s = state(&b).await;
    // In the document acted on: what the click's handlers draw two frames later.
    let o = b.act(&Action::Click { target: r(&s, "button", "Draw in two frames") }).await.unwrap();
    assert!(o.settled, "{o:?}");
    let s = state(&b).await;
    assert!(s.find("button", "Drawn two frames after the click").is_some(), "{}", s.render());
    // In the document that replaced it, reached by a click and by navigating: what its
    // scripts draw two frames after its load.
    let o = b.act(&Action::Click { target: r(&s, "link", "Next page") }).await.unwrap();
    assert!(o.settled && o.url.ends_with("/animation-frames-next.html"), "{o:?}");
    let s = state(&b).await;
    assert!(s.find("button", "Drawn two frames after load").is_some(), "after a click:\n{}", s.render());
    for _ in 0..3 {
        let o = goto(&b, site.url("/animation-frames-next.html")).await;
        assert!(o.settled, "{o:?}");
        let s = state(&b).await;
        assert!(s.find("button", "Drawn two frames after load").is_some(), "after navigating:\n{}", s.render());
    }
    b.close().await;
}

#[tokio::test]
async fn a_page_with_5000_links_stays_within_budget() {
    let (site, b) = start().await;
    goto(&b, site.url("/links5000")).await;
    let s = state(&b).await;
    assert_eq!(s.elements.len(), 5000, "every link is found");
    let t = s.render();
    assert!(t.contains("more elements below; scroll down to see them"), "{}", &t[t.len().saturating_sub(400)..]);
    assert!(t.len() < 20_000, "render is budgeted: {} chars", t.len());
    b.close().await;
}

#[tokio::test]
async fn back_forward_wait_and_screenshots() {
    let (site, b) = start().await;
    goto(&b, site.url("/index.html")).await;
    goto(&b, site.url("/form.html")).await;
    let o = b.act(&Action::Back).await.unwrap();
    assert!(o.url.ends_with("/index.html"), "{o:?}");
    let o = b.act(&Action::Forward).await.unwrap();
    assert!(o.url.ends_with("/form.html"), "{o:?}");
    let e = b.act(&Action::Forward).await.unwrap_err();
    assert!(e.to_string().contains("cannot go forward"), "{e}");
    let o = b.act(&Action::Wait { text: Some("Search the catalogue".into()), selector: None, ms: None }).await.unwrap();
    assert!(o.summary.contains("appeared"));
    let e = b.act(&Action::Wait { text: Some("never there".into()), selector: None, ms: Some(300) }).await.unwrap_err();
    assert!(e.to_string().contains("did not appear"), "{e}");
    b.act(&Action::Wait { text: None, selector: Some("#go".into()), ms: None }).await.unwrap();
    let shot = b.act(&Action::Screenshot { full_page: false }).await.unwrap().image.unwrap();
    assert_eq!(&shot[..8], b"\x89PNG\r\n\x1a\n");
    let h = u32::from_be_bytes([shot[20], shot[21], shot[22], shot[23]]);
    assert_eq!(h, 720, "viewport screenshot");
    let full = b.act(&Action::Screenshot { full_page: true }).await.unwrap().image.unwrap();
    let h = u32::from_be_bytes([full[20], full[21], full[22], full[23]]);
    assert!(h > 2000, "full-page screenshot covers the long page: {h}");
    b.close().await;
}

#[tokio::test]
async fn extract_returns_markdown_and_injections_are_flagged() {
    let (site, b) = start().await;
    goto(&b, site.url("/injection.html")).await;
    let s = state(&b).await;
    assert!(s.render().contains("Warning: the page contains text that reads like instructions"), "{}", s.render());
    let o = b.act(&Action::Extract).await.unwrap();
    let v = o.data.unwrap();
    assert_eq!(v["title"], "Injection fixture");
    assert!(v["markdown"].as_str().unwrap().contains("Normal text."), "{v}");
    assert_eq!(v["lang"], "en");
    b.close().await;
}

#[tokio::test]
async fn extract_keeps_collapsed_answers_and_not_hidden_menus_or_dialogs() {
    let (site, b) = start().await;
    goto(&b, site.url("/faq.html")).await;
    let v = b.act(&Action::Extract).await.unwrap().data.unwrap();
    let text = v["text"].as_str().unwrap();
    // What one click opens is content: an FAQ's answers (hidden by a class, by the hidden
    // attribute), a closed <details>.
    for kept in ["$99 per month", "prorated to the day", "refund the whole amount", "guests who only view"] {
        assert!(text.contains(kept), "lost {kept:?}:\n{text}");
    }
    // A hidden menu, a hidden cookie dialog, a screen-reader note are not.
    for dropped in ["Customer portal", "We use cookies", "Opens in a new window"] {
        assert!(!text.contains(dropped), "kept {dropped:?}:\n{text}");
    }
    b.close().await;
}

#[tokio::test]
async fn extract_reads_a_pages_kind_from_the_address_it_names_as_canonical() {
    // Served from loopback, the page names a forum's address as its own: the replies under
    // its opening post are the thread's content (see `thread::with_unread_posts`).
    let (site, b) = start().await;
    goto(&b, site.url("/boots-replies.html")).await;
    let v = b.act(&Action::Extract).await.unwrap().data.unwrap();
    let text = v["text"].as_str().unwrap();
    assert_eq!(v["page_type"], "forum", "{v}");
    for kept in ["My leather boots are three years old", "Wax the seams", "waterproof socks"] {
        assert!(text.contains(kept), "lost {kept:?}:\n{text}");
    }
    b.close().await;
}

#[tokio::test]
async fn extract_spaces_words_as_the_page_shows_them() {
    let (site, b) = start().await;
    goto(&b, site.url("/spacing.html")).await;
    let v = b.act(&Action::Extract).await.unwrap().data.unwrap();
    let (text, md) = (v["text"].as_str().unwrap(), v["markdown"].as_str().unwrap());
    // Words that run across inline elements stay whole, in the text as in the Markdown.
    for whole in ["up to $5,000 in aid", "March 1st;", "(Grant Rules 2026)", "grants.apply(\"roof\")"] {
        assert!(text.contains(whole), "lost {whole:?}:\n{text}");
    }
    // Inline elements the page's style lays out as boxes (tag chips, a line of its own)
    // are apart, in the Markdown too.
    for apart in ["Roofs Windows Porches", "office Monday"] {
        assert!(text.contains(apart), "ran together {apart:?}:\n{text}");
    }
    assert!(md.contains("/t/roofs) [Windows](") && md.contains("office Monday"), "{md}");
    b.close().await;
}

#[tokio::test]
async fn downloads_land_only_in_the_output_folder() {
    let out = tempfile::tempdir().unwrap();
    let opts = Options { download_dir: Some(out.path().to_path_buf()), ..Options::default() };
    let (site, b) = start_with(opts).await;
    goto(&b, site.url("/popup.html")).await;
    let s = state(&b).await;
    b.act(&Action::Click { target: r(&s, "link", "Download file") }).await.unwrap();
    // The download finishes in the background; poll the folder (bounded).
    let mut found = false;
    for _ in 0..100 {
        let names: Vec<_> = std::fs::read_dir(out.path()).unwrap().flatten().collect();
        if names.iter().any(|e| std::fs::read_to_string(e.path()).map(|t| t == "hello download\n").unwrap_or(false)) {
            found = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(found, "the download is in the output folder");
    b.close().await;

    // Without an output folder, downloads are refused.
    let (site, b) = start().await;
    goto(&b, site.url("/popup.html")).await;
    let s = state(&b).await;
    let o = b.act(&Action::Click { target: r(&s, "link", "Download file") }).await.unwrap();
    let _ = o;
    b.close().await;
}

#[tokio::test]
async fn a_killed_browser_is_reported_not_hung() {
    let (site, b) = start().await;
    goto(&b, site.url("/index.html")).await;
    let pid = b.pid().await.expect("launched browser has a pid");
    std::process::Command::new("kill").args(["-9", &pid.to_string()]).status().unwrap();
    let gone = tokio::time::timeout(Duration::from_secs(10), async {
        while !b.is_gone() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(gone.is_ok(), "the crash is detected");
    let e = b.act(&Action::Navigate { url: site.url("/form.html") }).await.unwrap_err();
    assert!(matches!(e, BrowserError::Crashed(_)), "{e}");
    assert!(e.to_string().contains("exited or crashed"), "{e}");
    let e = b.state(&StateOptions::default()).await.unwrap_err();
    assert!(matches!(e, BrowserError::Crashed(_)), "{e}");
}

#[tokio::test]
async fn cdp_url_attaches_to_a_separately_started_chromium() {
    let site = Site::start().await;
    let profile = tempfile::tempdir().unwrap();
    let ext = browser::launch::launch(&LaunchOptions::default(), profile.path(), Duration::from_secs(20)).await.unwrap();
    let port = ext.ws_url.split(':').nth(2).and_then(|p| p.split('/').next()).unwrap().to_string();
    for url in [format!("http://127.0.0.1:{port}"), ext.ws_url.clone()] {
        let b = Browser::start(Source::Attach(url.clone()), Options::default()).await.expect("attach");
        assert!(!b.launched);
        goto(&b, site.url("/form.html")).await;
        let s = state(&b).await;
        b.act(&Action::Type { target: r(&s, "textbox", "Query"), text: "attached".into(), append: false, submit: true }).await.unwrap();
        assert!(site.requests().iter().any(|q| q.query.contains("q=attached")));
        b.close().await;
    }
    // errand closed only its own context: the browser it attached to still runs.
    let mut child = ext.child;
    assert!(child.try_wait().unwrap().is_none(), "the external browser keeps running");
    let _ = child.start_kill();
    let e = Browser::start(Source::Attach("http://127.0.0.1:9".into()), Options::default()).await.unwrap_err();
    assert!(e.to_string().contains("bad --cdp-url"), "{e}");
}

#[tokio::test]
async fn missing_chromium_names_the_package_to_install() {
    let e = browser::launch::find_chrome(Some(std::path::Path::new("/nonexistent/chrome"))).unwrap_err();
    assert!(e.to_string().contains("apt-get install chromium"), "{e}");
    assert!(e.to_string().contains("--chrome PATH"), "{e}");
    let opts = LaunchOptions { chrome: Some("/nonexistent/chrome".into()), ..LaunchOptions::default() };
    let e = Browser::start(Source::Launch(opts), Options::default()).await.unwrap_err();
    assert!(matches!(e, BrowserError::NoChrome { .. }), "{e}");
}

#[tokio::test]
async fn extract_table_reads_headers_spans_and_numbers_as_shown() {
    let (site, b) = start().await;
    goto(&b, site.url("/tables.html")).await;
    // Stacked headers merge; spans repeat their text in every slot; numbers stay text.
    let t = b.extract_table(Some(&ElementTarget::Selector("#prices".into()))).await.unwrap();
    assert_eq!(t["caption"], "Installed prices");
    assert_eq!(t["header"], serde_json::json!(["Region", "Price (EUR) from", "Price (EUR) to", "Share"]));
    assert_eq!(
        t["rows"],
        serde_json::json!([
            ["North", "8,000", "12,500", "12 %"],
            ["North", "9,100", "14,000", "−4.5 %"],
            ["South", "about 7,000", "about 7,000", "0.30"]
        ])
    );
    assert_eq!(t["columns"], 4);
    // A header row of <th> cells outside <thead>; trailing zeros kept.
    let t = b.extract_table(Some(&ElementTarget::Selector("#plain".into()))).await.unwrap();
    assert_eq!(t["header"], serde_json::json!(["Model", "COP at 7 °C"]));
    assert_eq!(t["rows"][1], serde_json::json!(["B-200", "4.10"]));
    // No header cells: no header, every row is data.
    let t = b.extract_table(Some(&ElementTarget::Selector("#bare".into()))).await.unwrap();
    assert_eq!(t["header"], serde_json::json!([]));
    assert_eq!(t["rows"].as_array().unwrap().len(), 2);
    // Without a target: the page's largest table.
    let t = b.extract_table(None).await.unwrap();
    assert_eq!(t["caption"], "Installed prices");
    // A page without tables says so.
    goto(&b, site.url("/articles/script-broken.html")).await;
    let e = b.extract_table(None).await.unwrap_err();
    assert!(e.to_string().contains("no table"), "{e}");
    b.close().await;
}

#[tokio::test]
async fn thumbnails_are_small_jpegs_with_secret_fields_drawn_as_dots() {
    let (site, b) = start().await;
    goto(&b, site.url("/secret.html")).await;
    for (sel, text) in [("#api", "tok-123456"), ("#key", "k-987"), ("#plain", "Ada")] {
        b.act(&Action::Type { target: ElementTarget::Selector(sel.into()), text: text.into(), append: false, submit: false })
            .await
            .unwrap();
    }
    let img = b.thumbnail().await.unwrap();
    assert_eq!(&img[..3], &[0xFF, 0xD8, 0xFF], "a JPEG");
    assert!(img.len() < 150_000, "{} bytes", img.len());
    // What the picture shows: the secret fields' text as dots, the others as typed.
    let drawn = b
        .eval_main("[...document.querySelectorAll('#api, #key, #plain')].map((e) => getComputedStyle(e).webkitTextSecurity)")
        .await
        .unwrap();
    assert_eq!(drawn, serde_json::json!(["disc", "disc", "none"]));
    b.close().await;
}

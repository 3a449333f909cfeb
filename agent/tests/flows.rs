//! `errand replay FLOW.json` with Chrome Recorder user flows: the real binary and a real
//! Chromium over the fixture site (127.0.0.1, with 127.0.0.2 as the out-of-process
//! frame's host). Each flow ends by checking the page's own account of what happened
//! (a `waitForExpression` on its event log), so a flow passes only if every step did
//! what the reference runner (@puppeteer/replay) would have done.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test
#![recursion_limit = "256"]

mod common;

use std::path::PathBuf;

use fixtures::Site;
use serde_json::{json, Value};

struct Ran {
    code: i32,
    stderr: String,
    rec: PathBuf,
    _tmp: tempfile::TempDir,
}

async fn replay(flow: Value, extra: &[&str]) -> Ran {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("flow.json");
    std::fs::write(&file, serde_json::to_string_pretty(&flow).unwrap()).unwrap();
    let rec = tmp.path().join("rec");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_errand"))
        .arg("replay")
        .arg(&file)
        .arg("--record-dir")
        .arg(&rec)
        .args(extra)
        .env("ERRAND_ALLOWLIST", tmp.path().join("allowlist.toml"))
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    eprintln!("{stderr}");
    Ran { code: out.status.code().unwrap_or(-1), stderr, rec, _tmp: tmp }
}

/// The recording's log lines.
fn records(r: &Ran) -> Vec<Value> {
    let dir = std::fs::read_dir(&r.rec).unwrap().next().unwrap().unwrap().path();
    std::fs::read_to_string(dir.join("session.jsonl")).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn check(expr: &str) -> Value {
    json!({"type": "waitForExpression", "expression": expr, "timeout": 2000})
}

fn viewport(w: u32, h: u32) -> Value {
    json!({"type": "setViewport", "width": w, "height": h, "deviceScaleFactor": 1, "isMobile": false, "hasTouch": false, "isLandscape": false})
}

/// Every step type and selector kind over the controls page, ending with the page's
/// own log of the events it saw.
fn every_step_flow(site: &Site) -> Value {
    let page = site.url("/flows/controls.html");
    let log = [
        "click button",
        // A double click presses twice (click, click, dblclick), as Puppeteer's does.
        "click button",
        "click button",
        "dblclick button",
        "change input tesTtx",
        "contextmenu input tesTtx",
        "mouseenter hover",
        "change flavour mint",
        "change colour #336699",
        "change prefilled abcdef",
        "change subscribe on",
        "click later",
        "click shape",
        "click orphan",
        "click orphan",
        "click late",
    ]
    .join("\n");
    json!({
        "title": "every step",
        "steps": [
            viewport(900, 700),
            {"type": "navigate", "url": page, "assertedEvents": [{"type": "navigation", "url": page, "title": "Flow controls"}]},
            // ARIA name first; the rest are the fall-backs the Recorder writes.
            {"type": "click", "target": "main", "selectors": [["aria/Press me"], ["#button"]], "offsetX": 5, "offsetY": 5},
            // A stale first selector falls through to the next one.
            {"type": "doubleClick", "selectors": [["#renamed-button"], ["xpath///*[@id=\"button\"]"]], "offsetX": 5, "offsetY": 5},
            {"type": "keyDown", "target": "main", "key": "Tab"},
            {"type": "keyUp", "target": "main", "key": "Tab"},
            {"type": "change", "selectors": [["aria/Note"]], "value": "tes"},
            // Shift held across steps capitalises a key named by its code (KeyT), not one
            // named by its character (t), as Puppeteer's keyboard does.
            {"type": "keyDown", "key": "Shift"},
            {"type": "keyDown", "key": "KeyT"},
            {"type": "keyUp", "key": "KeyT"},
            {"type": "keyDown", "key": "t"},
            {"type": "keyUp", "key": "t"},
            {"type": "keyUp", "key": "Shift"},
            {"type": "keyDown", "key": "KeyX"},
            {"type": "keyUp", "key": "KeyX"},
            {"type": "keyDown", "key": "Enter"},
            {"type": "keyUp", "key": "Enter"},
            {"type": "click", "selectors": [["#input"]], "button": "secondary", "offsetX": 2, "offsetY": 2},
            {"type": "hover", "selectors": [["text/Hover here"]]},
            // Every mouse button, in order.
            {"type": "click", "selectors": ["#buttons"], "button": "primary", "offsetX": 1, "offsetY": 1},
            {"type": "click", "selectors": ["#buttons"], "button": "auxiliary", "offsetX": 1, "offsetY": 1},
            {"type": "click", "selectors": ["#buttons"], "button": "secondary", "offsetX": 1, "offsetY": 1},
            {"type": "click", "selectors": ["#buttons"], "button": "back", "offsetX": 1, "offsetY": 1},
            {"type": "click", "selectors": ["#buttons"], "button": "forward", "offsetX": 1, "offsetY": 1},
            // A text selector finds the label; clicking it focuses its field.
            {"type": "click", "selectors": [["text/Your na"]], "offsetX": 1, "offsetY": 1},
            check("document.activeElement.id === 'field'"),
            {"type": "change", "selectors": [["aria/Flavour"]], "value": "mint"},
            {"type": "change", "selectors": [["#colour"]], "value": "#336699"},
            // Typing keeps a matching prefix and adds the rest.
            {"type": "change", "selectors": [["#prefilled"]], "value": "abcdef"},
            // A value that does not extend the old one replaces it.
            {"type": "change", "selectors": [["#replaced"]], "value": "cba"},
            check("document.querySelector('#replaced').value === 'cba'"),
            // A checkbox is checked by a truthy value, as the reference runner's fill does.
            {"type": "change", "selectors": [["aria/Subscribe"]], "value": "on"},
            check("document.querySelector('#subscribe').checked === true"),
            {"type": "click", "selectors": [["aria/Agree"]], "offsetX": 1, "offsetY": 1},
            // Disabled for 300 ms: the click waits until it is enabled.
            {"type": "click", "selectors": [["#later"]], "offsetX": 1, "offsetY": 1},
            {"type": "click", "selectors": [["svg > path"]], "offsetX": 2, "offsetY": 2},
            // Inside a 0x0 parent, itself visible. A later part that starts like a type
            // selector looks inside the element; one like `#id` or `.class` must match the
            // element itself in light DOM (as Puppeteer's `>>>>` does), so finds nothing.
            {"type": "click", "selectors": [[".nowhere", "button"]], "offsetX": 1, "offsetY": 1},
            {"type": "click", "selectors": [[".nowhere", "#orphan"], [".nowhere", "button"]], "offsetX": 1, "offsetY": 1},
            check("document.querySelector('#log').textContent.endsWith('click orphan\\nclick orphan\\n')"),
            // waitForElement counts with plain querySelectorAll in each part's context.
            {"type": "waitForElement", "selectors": [[".nowhere", "#orphan"]], "operator": "==", "count": 1},
            // Through the shadow root, by parts and by pierce.
            {"type": "waitForElement", "selectors": [["errand-host", "button.inner"]]},
            {"type": "click", "selectors": [["errand-host", "button.inner"]], "offsetX": 1, "offsetY": 1},
            {"type": "waitForElement", "selectors": [["pierce/button.inner"]], "operator": ">=", "count": 2},
            // In a shadow root any part searches it. pierce/ after another part: waitForElement
            // searches from there, an action's locator finds nothing (see the #late click).
            {"type": "waitForElement", "selectors": [["#host", ".inner"]], "operator": "==", "count": 1},
            {"type": "waitForElement", "selectors": [["body", "pierce/button.inner"]], "operator": ">=", "count": 2},
            {"type": "waitForElement", "selectors": [["errand-host", "text/Add one"]], "operator": "==", "count": 2},
            {"type": "waitForElement", "selectors": [["errand-host"]], "operator": "==", "count": 2, "attributes": {"id": "host"}, "visible": false},
            {"type": "waitForElement", "selectors": ["#hover"], "attributes": {"data-hovered": "yes"}, "properties": {"tagName": "BUTTON"}},
            {"type": "waitForElement", "selectors": ["#no-such-thing"], "operator": "==", "count": 0},
            {"type": "scroll", "selectors": [["#box"]], "x": 30, "y": 40},
            {"type": "scroll", "x": 0, "y": 50},
            // Far below the fold: scrolled into view before the click.
            {"type": "click", "selectors": [["body", "pierce/#late"], ["#late"]], "offsetX": 3, "offsetY": 3},
            {"type": "emulateNetworkConditions", "download": 1000000, "upload": 500000, "latency": 5},
            {"type": "customStep", "name": "screenshotForMe", "parameters": {}},
            check("window.innerWidth === 900 && window.innerHeight === 700"),
            check("presses.join(',') === '0,1,2,3,4'"),
            check("document.querySelector('#check').checked"),
            check("document.querySelector('#box').scrollTop === 40 && document.querySelector('#box').scrollLeft === 30"),
            check(&format!("document.querySelector('#log').textContent.trim() === {}", json!(log))),
        ]
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn every_step_type_and_selector_kind_replays() {
    let site = Site::start().await;
    let flow = every_step_flow(&site);
    let r = replay(flow.clone(), &[]).await;
    let n = flow["steps"].as_array().unwrap().len();
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains(&format!("flow passed: {n} steps")), "{}", r.stderr);
    assert!(r.stderr.contains("customStep \"screenshotForMe\" is not supported by errand; skipped"), "{}", r.stderr);
    assert!(r.stderr.contains("(selector 2)"), "the stale selector fell through: {}", r.stderr);
    // The recording has a step record per flow step, and verifies.
    let recs = records(&r);
    assert_eq!(recs.iter().filter(|l| l["type"] == "step").count(), n);
    assert!(recs.iter().filter(|l| l["type"] == "step").all(|l| l["ok"] == true));
    // Each step left a screenshot, and the recording verifies.
    let dir = std::fs::read_dir(&r.rec).unwrap().next().unwrap().unwrap().path();
    for l in recs.iter().filter(|l| l["type"] == "step") {
        let shot = l["screenshot"].as_str().unwrap_or_else(|| panic!("no screenshot: {l}"));
        assert!(std::fs::metadata(dir.join(shot)).unwrap().len() > 1000);
    }
    let v = std::process::Command::new(env!("CARGO_BIN_EXE_errand")).args(["recordings", "verify"]).arg(&dir).output().unwrap();
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));
}

/// Frames by index path and by URL, in and out of process, and a popup.
fn frames_flow(site: &Site) -> Value {
    let frames = site.url("/flows/frames.html");
    let far = format!("{}/flows/frame-far.html", site.foreign);
    let far2 = format!("{}/flows/frame-far2.html", site.foreign);
    let opener = site.url("/flows/opener.html");
    let popup = site.url("/flows/popup.html");
    json!({
        "title": "frames and popups",
        "timeout": 4000,
        "steps": [
            {"type": "navigate", "url": frames, "assertedEvents": [{"type": "navigation", "url": frames, "title": ""}]},
            // A same-process frame by index path.
            {"type": "click", "frame": [0], "selectors": [["aria/Local button"]], "offsetX": 2, "offsetY": 2},
            {"type": "waitForElement", "frame": [0], "selectors": [["text/Pressed locally"]]},
            // An out-of-process frame (127.0.0.2) by its URL as the target…
            {"type": "click", "target": far, "selectors": [["aria/Far button"], ["body > button"]], "offsetX": 2, "offsetY": 2},
            {"type": "waitForExpression", "target": far, "expression": "document.querySelector('button').textContent === 'Pressed far away'"},
            // …and by index path; its link, clicked through the target, navigates the frame as the step asserts.
            {"type": "waitForElement", "frame": [1], "selectors": [["aria/Next far page"]]},
            {"type": "click", "target": far, "selectors": [["aria/Next far page"]], "offsetX": 2, "offsetY": 2,
             "assertedEvents": [{"type": "navigation", "url": far2, "title": "Far frame two"}]},
            {"type": "waitForElement", "target": far2, "selectors": ["#arrived"]},
            {"type": "waitForElement", "frame": [1], "selectors": ["#arrived"]},
            // A same-process frame navigating to the other host becomes out-of-process.
            {"type": "click", "frame": [0], "selectors": [["aria/To the far page"]], "offsetX": 2, "offsetY": 2,
             "assertedEvents": [{"type": "navigation", "url": far2, "title": ""}]},
            {"type": "waitForElement", "frame": [0], "selectors": ["#arrived"]},
            // A popup, found by its URL, then closed.
            {"type": "navigate", "url": opener},
            {"type": "click", "selectors": [["aria/Open the popup"], ["#open"]], "offsetX": 2, "offsetY": 2},
            {"type": "click", "target": popup, "selectors": [["aria/Press in popup"], ["body > button"]], "offsetX": 2, "offsetY": 2},
            {"type": "waitForElement", "target": popup, "selectors": [["text/Pressed in popup"]]},
            {"type": "close", "target": popup},
            {"type": "waitForExpression", "expression": "document.title === 'Opener'"},
        ]
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn frames_out_of_process_frames_and_popups() {
    let site = Site::start().await;
    let flow = frames_flow(&site);
    let opener = site.url("/flows/opener.html");
    let popup = site.url("/flows/popup.html");
    let n = flow["steps"].as_array().unwrap().len();
    let r = replay(flow, &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains(&format!("flow passed: {n} steps")), "{}", r.stderr);
    // The popup is gone: a step aimed at it now fails, naming the step.
    let gone = json!({
        "title": "closed popup",
        "timeout": 1000,
        "steps": [
            {"type": "navigate", "url": opener},
            {"type": "click", "target": popup, "selectors": [["body > button"]], "offsetX": 2, "offsetY": 2},
        ]
    });
    let r = replay(gone, &[]).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("flow failed at step 2 (click): target not found"), "{}", r.stderr);
}

/// Flows whose second step cannot complete, with what errand must say about it.
fn failing_flows(site: &Site) -> Vec<(Value, &'static str)> {
    let page = site.url("/flows/controls.html");
    // A port where nothing listens: the browser reports it as a net error, and so must
    // errand, although its proxy is the one that could not connect.
    let closed = common::refused_port();
    let unreachable = format!("http://127.0.0.1:{closed}/");
    let cases: Vec<(Value, &str)> = vec![
        (json!({"type": "navigate", "url": unreachable}), "step 2 (navigate): navigating to http://127.0.0.1:"),
        (json!({"type": "navigate", "url": unreachable}), "net::ERR_CONNECTION_REFUSED"),
        // No selector matches: every one is named with why.
        (
            json!({"type": "click", "selectors": [["#nope"], ["aria/Nothing like this"]], "offsetX": 1, "offsetY": 1}),
            "step 2 (click): no element matches #nope (not found); aria/Nothing like this (not found)",
        ),
        // Found but never visible (the log is empty, so it has no height): never clicked.
        (
            json!({"type": "click", "selectors": [["#log"]], "offsetX": 1, "offsetY": 1}),
            "step 2 (click): no element matches #log (found but not visible)",
        ),
        (
            json!({"type": "waitForElement", "selectors": ["button"], "operator": "==", "count": 3}),
            "step 2 (waitForElement): waitForElement timed out",
        ),
        (
            json!({"type": "waitForExpression", "expression": "window.neverSet === true"}),
            "step 2 (waitForExpression): waitForExpression timed out",
        ),
        // It throws until the paragraph appears (400 ms in), and the reference gives up on
        // an expression that throws.
        (
            json!({"type": "waitForExpression", "expression": "document.querySelector('#appears-later').textContent === 'here'"}),
            "step 2 (waitForExpression): the expression failed: TypeError",
        ),
        (json!({"type": "change", "selectors": ["#box"], "value": "x"}), "step 2 (change): the element cannot be filled out"),
        (
            json!({"type": "click", "frame": [3], "selectors": ["button"], "offsetX": 1, "offsetY": 1}),
            "step 2 (click): the page has no frame at index path [3]",
        ),
        (json!({"type": "keyDown", "key": "NoSuchKey"}), "step 2 (keyDown): unknown key \"NoSuchKey\""),
        // The step's own timeout wins over the flow's.
        (json!({"type": "click", "selectors": ["#nope"], "offsetX": 1, "offsetY": 1, "timeout": 300}), "within 300 ms"),
    ];
    cases.into_iter().map(|(bad, want)| (json!({"title": "fails", "timeout": 700, "steps": [{"type": "navigate", "url": page, "timeout": 5000}, bad, check("true")]}), want)).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_step_that_cannot_complete_fails_the_flow_with_its_number_and_reason() {
    let site = Site::start().await;
    for (flow, want) in failing_flows(&site) {
        let r = replay(flow, &[]).await;
        assert_eq!(r.code, 1, "{want}: {}", r.stderr);
        assert!(r.stderr.contains(want), "wanted {want:?} in:\n{}", r.stderr);
        // The flow stopped there: step 3 never ran.
        assert!(!r.stderr.contains("\n[3] "), "{}", r.stderr);
        let recs = records(&r);
        assert_eq!(recs.last().unwrap()["outcome"], "failed");
    }
    // A file that is not a flow is refused before anything starts.
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("bad.json");
    std::fs::write(&f, r#"{"title": "x", "steps": [{"type": "navigate"}]}"#).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_errand"))
        .arg("replay")
        .arg(&f)
        .arg("--record-dir")
        .arg(tmp.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("step 1 of the flow: missing field `url`"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flow_cannot_submit_or_reach_hosts_it_does_not_name() {
    let site = Site::start().await;
    let opener = site.url("/flows/opener.html");
    let elsewhere = format!("{}/flows/popup.html", site.foreign);
    let flow = json!({
        "title": "submit",
        "steps": [
            {"type": "navigate", "url": opener},
            {"type": "change", "selectors": [["input[name=q]"]], "value": "hello there"},
            {"type": "click", "selectors": [["#send"]], "offsetX": 2, "offsetY": 2},
            check("location.pathname === '/flows/opener.html'"),
        ]
    });
    let r = replay(flow, &[]).await;
    // The click itself completes (as with the reference); the POST it caused is held and,
    // with no terminal to ask, declined.
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!site.requests().iter().any(|l| l.method == "POST"), "a POST reached the server");
    let recs = records(&r);
    let consent: Vec<&Value> = recs.iter().filter(|l| l["type"] == "consent").collect();
    assert_eq!(consent.len(), 1, "{recs:?}");
    assert_eq!(consent[0]["method"], "POST");
    assert!(consent[0]["decision"].as_str().unwrap().starts_with("den"), "{:?}", consent[0]);
    // The page's report to a host the flow never named was blocked and recorded.
    assert!(site.foreign_log.lock().unwrap().iter().all(|l| !l.path.contains("beacon")));
    assert!(recs.iter().any(|l| l["type"] == "blocked" && l["url"].as_str().unwrap_or_default().contains("/flows/beacon")), "{recs:?}");
    assert!(r.stderr.contains("blocked "), "{}", r.stderr);

    // With --confirm approve, the same flow sends the form.
    let flow = json!({"title": "submit", "steps": [
        {"type": "navigate", "url": opener},
        {"type": "click", "selectors": [["#send"]], "offsetX": 2, "offsetY": 2, "assertedEvents": [{"type": "navigation"}]},
        check("document.querySelector('#method').textContent === 'POST'"),
    ]});
    let r = replay(flow, &["--confirm", "approve"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(site.requests().iter().any(|l| l.method == "POST" && l.path == "/echo"));

    // A navigation to a host named nowhere in the flow is not made.
    let sneaky = json!({"title": "sneaky", "timeout": 1000, "steps": [
        {"type": "navigate", "url": opener},
        {"type": "waitForExpression", "expression": &format!("(location.href = {}, true)", json!(elsewhere))},
        {"type": "waitForElement", "selectors": [["text/Press in popup"]]},
    ]});
    let before = site.foreign_log.lock().unwrap().len();
    let r = replay(sneaky, &[]).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("step 3 (waitForElement)"), "{}", r.stderr);
    assert!(site.foreign_log.lock().unwrap()[before..].iter().all(|l| l.path != "/flows/popup.html"), "the foreign host was reached");
}

/// The differential test: every flow above through errand and through the reference
/// runner (@puppeteer/replay), with the same outcome. Opt-in: needs Node.js and the
/// reference installed (tests/reference/README.md), named by $ERRAND_REFERENCE.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Node.js and @puppeteer/replay: see tests/reference/README.md"]
async fn matches_the_reference_runner() {
    let dir =
        PathBuf::from(std::env::var("ERRAND_REFERENCE").expect("set ERRAND_REFERENCE to the folder with run-flow.mjs and node_modules"));
    let site = Site::start().await;
    let mut flows = vec![(every_step_flow(&site), true), (frames_flow(&site), true)];
    flows.extend(failing_flows(&site).into_iter().map(|(f, _)| (f, false)));
    let tmp = tempfile::tempdir().unwrap();
    flows.push((exported_frames_flow(&site, tmp.path()).await, true));
    let foreign = site.foreign.trim_start_matches("http://").to_string();
    // The reference's own "everything" flow, on errand's controls page: its selectors
    // and offsets as Chrome's Recorder writes them.
    let page = site.url("/flows/controls.html");
    flows.push((
        json!({"title": "recorder-style", "steps": [
            viewport(900, 700),
            {"type": "navigate", "url": page, "assertedEvents": [{"type": "navigation", "url": page, "title": ""}]},
            {"type": "click", "target": "main", "selectors": [["aria/Press me"], ["#button"], ["xpath///*[@id=\"button\"]"], ["text/Press me"]], "offsetY": 9, "offsetX": 20},
            {"type": "keyDown", "target": "main", "key": "Tab"},
            {"type": "keyUp", "key": "Tab", "target": "main"},
            {"type": "change", "value": "test", "selectors": [["#input"], ["xpath///*[@id=\"input\"]"]], "target": "main"},
            {"type": "keyDown", "target": "main", "key": "Enter"},
            {"type": "keyUp", "key": "Enter", "target": "main"},
            // The selectors disagree (a recording artefact): the reference races them and a
            // CSS query beats an ARIA one, so the mouse goes to #button, not #hover.
            {"type": "hover", "target": "main", "selectors": [["aria/Hover here"], ["#button"], ["text/Hover here"]]},
            {"type": "waitForExpression", "expression": "new Promise(resolve => setTimeout(() => resolve(true), 300))"},
            {"type": "waitForElement", "target": "main", "selectors": ["button"], "count": 2},
            check("document.querySelector('#log').textContent === 'click button\\nchange input test\\n'"),
        ]}),
        true,
    ));
    let mut differ = vec![];
    for (i, (flow, want)) in flows.iter().enumerate() {
        let file = dir.join(format!("flow-{i}.json"));
        std::fs::write(&file, flow.to_string()).unwrap();
        let reference = std::process::Command::new("node").arg(dir.join("run-flow.mjs")).arg(&file).current_dir(&dir).output().unwrap();
        let said = String::from_utf8_lossy(&reference.stdout).trim().to_string();
        // The exported flow does not name the cross-origin frame's host.
        let errand = replay(flow.clone(), &["--allow", &foreign]).await;
        eprintln!("flow {i} ({}): reference {said}; errand exit {}", flow["title"], errand.code);
        let (ref_pass, errand_pass) = (said.starts_with("PASS"), errand.code == 0);
        assert_eq!(errand_pass, *want, "flow {i}: errand did not do what this file expects");
        if ref_pass != errand_pass {
            differ.push(format!("flow {i} {}: reference {said}, errand exit {}", flow["title"], errand.code));
        }
    }
    assert!(differ.is_empty(), "outcomes differ:\n{}", differ.join("\n"));
}

/// errand's own session over frames.html (a script for a model), exported as a Recorder
/// flow, with checks of what the pages show appended.
async fn exported_frames_flow(site: &Site, tmp: &std::path::Path) -> Value {
    let rec = tmp.join("rec");
    let script = tmp.join("script.json");
    std::fs::write(
        &script,
        json!([
            {"tool": "click", "args": {"text": "Top button"}},
            {"tool": "click", "args": {"text": "Deep button"}},
            {"tool": "click", "args": {"text": "Cross button"}},
            {"tool": "type", "args": {"selector": "#cross-input", "text": "hello"}},
            {"tool": "done", "args": {"summary": "pressed"}}
        ])
        .to_string(),
    )
    .unwrap();
    let foreign = site.foreign.trim_start_matches("http://").to_string();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_errand"))
        .args([
            "run",
            "Press the buttons",
            "--start",
            &site.url("/frames.html"),
            "--allow",
            &foreign,
            "--model",
            &format!("script:{}", script.display()),
        ])
        .arg("--record-dir")
        .arg(&rec)
        .arg("--out")
        .arg(tmp.join("out"))
        .env("ERRAND_ALLOWLIST", tmp.join("allowlist.toml"))
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let id = std::fs::read_dir(&rec).unwrap().next().unwrap().unwrap().file_name().to_string_lossy().to_string();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_errand"))
        .args(["recordings", "export", &id, "--format", "puppeteer-replay"])
        .arg("--record-dir")
        .arg(&rec)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!String::from_utf8_lossy(&o.stderr).contains("inside a frame"), "{}", String::from_utf8_lossy(&o.stderr));
    let mut flow: Value = serde_json::from_slice(&o.stdout).unwrap();
    for (frame, expr) in [
        (json!([]), "document.querySelector('#top-button').textContent === 'Top clicked'"),
        (json!([1, 0]), "document.querySelector('button').textContent === 'Deep clicked'"),
        (json!([2]), "document.querySelector('#cross-button').textContent === 'Cross clicked'"),
        (json!([2]), "document.querySelector('#cross-input').value === 'hello'"),
    ] {
        flow["steps"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "waitForExpression", "frame": frame, "expression": expr, "timeout": 2000}));
    }
    flow
}

/// errand's own session, exported as a Recorder flow (frames as index paths, the offsets
/// errand pressed at), replays as a flow, here and (opt-in) in the reference runner.
#[tokio::test(flavor = "multi_thread")]
async fn an_exported_session_with_frames_replays_as_a_recorder_flow() {
    let site = Site::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let flow = exported_frames_flow(&site, tmp.path()).await;
    let steps = flow["steps"].as_array().unwrap().clone();
    let clicks: Vec<&Value> = steps.iter().filter(|s| s["type"] == "click").collect();
    assert_eq!(clicks.len(), 3, "{steps:?}");
    assert_eq!(clicks[0].get("frame"), None);
    // frames.html: the same-origin frame, the nested one (holding the deep one), the cross one.
    assert_eq!(clicks[1]["frame"], json!([1, 0]));
    assert_eq!(clicks[2]["frame"], json!([2]));
    // Pressed in the middle: the offset is half the button's size, not a corner.
    assert!(clicks[0]["offsetX"].as_f64().unwrap() > 10.0 && clicks[0]["offsetY"].as_f64().unwrap() > 5.0, "{:?}", clicks[0]);
    let change = steps.iter().find(|s| s["type"] == "change").unwrap();
    assert_eq!(change["frame"], json!([2]));
    // Replayed as a flow, with the pages' own account checked at the end.
    let foreign = site.foreign.trim_start_matches("http://").to_string();
    let r = replay(flow, &["--allow", &foreign]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
}

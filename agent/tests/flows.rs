//! `errand replay FLOW.json` with Chrome Recorder user flows: the real binary and a real
//! Chromium over the fixture site (127.0.0.1, with 127.0.0.2 as the out-of-process
//! frame's host). Each flow ends by checking the page's own account of what happened
//! (a `waitForExpression` on its event log), so a flow passes only if every step did
//! what the reference runner (@puppeteer/replay) would have done.

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

#[tokio::test(flavor = "multi_thread")]
async fn every_step_type_and_selector_kind_replays() {
    let site = Site::start().await;
    let page = site.url("/flows/controls.html");
    let log = [
        "click button",
        // A double click presses twice (click, click, dblclick), as Puppeteer's does.
        "click button",
        "click button",
        "dblclick button",
        "change input test",
        "contextmenu input test",
        "mouseenter hover",
        "change flavour mint",
        "change colour #336699",
        "change prefilled abcdef",
        "click later",
        "click shape",
        "click orphan",
        "click late",
    ]
    .join("\n");
    let flow = json!({
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
            {"type": "change", "selectors": [["aria/Note"]], "value": "test"},
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
            {"type": "click", "selectors": [["aria/Agree"]], "offsetX": 1, "offsetY": 1},
            // Disabled for 300 ms: the click waits until it is enabled.
            {"type": "click", "selectors": [["#later"]], "offsetX": 1, "offsetY": 1},
            {"type": "click", "selectors": [["svg > path"]], "offsetX": 2, "offsetY": 2},
            // Inside a 0x0 parent, itself visible.
            {"type": "click", "selectors": [[".nowhere", "#orphan"]], "offsetX": 1, "offsetY": 1},
            // Through the shadow root, by parts and by pierce.
            {"type": "waitForElement", "selectors": [["errand-host", "button.inner"]]},
            {"type": "click", "selectors": [["errand-host", "button.inner"]], "offsetX": 1, "offsetY": 1},
            {"type": "waitForElement", "selectors": [["pierce/button.inner"]], "operator": ">=", "count": 2},
            {"type": "waitForElement", "selectors": [["errand-host"]], "operator": "==", "count": 2, "attributes": {"id": "host"}, "visible": false},
            {"type": "waitForElement", "selectors": ["#hover"], "attributes": {"data-hovered": "yes"}, "properties": {"tagName": "BUTTON"}},
            {"type": "waitForElement", "selectors": ["#no-such-thing"], "operator": "==", "count": 0},
            {"type": "scroll", "selectors": [["#box"]], "x": 30, "y": 40},
            {"type": "scroll", "x": 0, "y": 50},
            // Far below the fold: scrolled into view before the click.
            {"type": "click", "selectors": [["#late"]], "offsetX": 3, "offsetY": 3},
            {"type": "emulateNetworkConditions", "download": 1000000, "upload": 500000, "latency": 5},
            {"type": "customStep", "name": "screenshotForMe", "parameters": {}},
            check("window.innerWidth === 900 && window.innerHeight === 700"),
            check("presses.join(',') === '0,1,2,3,4'"),
            check("document.querySelector('#check').checked"),
            check("document.querySelector('#box').scrollTop === 40 && document.querySelector('#box').scrollLeft === 30"),
            check(&format!("document.querySelector('#log').textContent.trim() === {}", json!(log))),
        ]
    });
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
}

//! Replay without the model, and secrets that never reach a recording.

use std::path::{Path, PathBuf};

use fixtures::Site;
use serde_json::{json, Value};

use crate::common::*;

/// `errand replay` (async: the fixture site is served by this test's runtime).
async fn replay_cmd(d: &Dirs, id: &str, out: &Path, extra: &[&str]) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_errand"))
        .args(["replay", id, "--record-dir"])
        .arg(&d.rec)
        .arg("--out")
        .arg(out)
        .args(extra)
        .env("ERRAND_ALLOWLIST", d.root.join("allowlist.toml"))
        .env_remove("ANTHROPIC_API_KEY")
        .output()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_recorded_session_replays_without_the_model_and_stops_where_the_page_changed() {
    use std::sync::atomic::Ordering::SeqCst;
    let site = Site::start().await;
    let d = dirs();
    // The original session: a model (mocked at the HTTP level) buys the kettle by its ref,
    // reads the confirmation and writes a note citing it.
    let server = vendor(
        "/v1/messages",
        vec![
            claude("Buying the kettle.", &[("t1", "click", json!({"ref": "e1"}))]),
            claude("Reading the confirmation.", &[("t2", "extract", json!({}))]),
            claude("Noting it.", &[("t3", "write_file", json!({"path": "order.md", "content": "Ordered one kettle [1].\n"}))]),
            claude("Done.", &[("t4", "done", json!({"summary": "ordered"}))]),
        ],
    )
    .await;
    let r = run(errand(
        &d,
        &["Buy the kettle", "--start", &site.url("/shop"), "--model", "anthropic:claude-test"],
        &[("ANTHROPIC_API_KEY", "sk-test"), ("ANTHROPIC_BASE_URL", &server.uri())],
    ))
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    drop(server); // the model server is gone for the replays
    let (dir, original) = recording(&d.rec);
    let id = dir.file_name().unwrap().to_string_lossy().to_string();
    let last_url = |lines: &[Value]| {
        lines.iter().rev().find(|l| l["type"] == "step" && l["tool"] != "done").map(|l| l["url"].as_str().unwrap().to_string()).unwrap()
    };
    let order = std::fs::read(d.out.join("order.md")).unwrap();
    // A replay uses today's allowlist only: the shop's host is on it.
    allow_site(&d, &site);

    // Same page: same files (same hashes), same final page, and the replay is recorded.
    let out1 = d.root.join("replay1");
    let o = replay_cmd(&d, &id, &out1, &[]).await;
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("order.md: same as recorded") && err.contains("replay matched the recording"), "{err}");
    assert_eq!(std::fs::read(out1.join("order.md")).unwrap(), order);
    let replays: Vec<PathBuf> = std::fs::read_dir(&d.rec).unwrap().flatten().map(|e| e.path()).filter(|p| *p != dir).collect();
    assert_eq!(replays.len(), 1);
    let text = std::fs::read_to_string(replays[0].join("session.jsonl")).unwrap();
    let replayed: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(replayed[0]["model"], format!("replay:{id}"));
    assert_eq!(last_url(&replayed), last_url(&original));
    assert!(last_url(&original).ends_with("/shop-done?item=kettle"));

    // Replayed into a folder that already has the note (from another session): the note
    // is not overwritten, the copy gets another name, and the replay says it diverged.
    let mut before = std::fs::read(out1.join("order.md")).unwrap();
    before.extend_from_slice(b"A person's own line.\n");
    std::fs::write(out1.join("order.md"), &before).unwrap();
    let o = replay_cmd(&d, &id, &out1, &[]).await;
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("diverged: step 3 could not write order.md: the output folder already has a file by that name"), "{err}");
    assert_eq!(std::fs::read(out1.join("order.md")).unwrap(), before, "a person's file was overwritten");
    assert_eq!(std::fs::read(out1.join("order (2).md")).unwrap(), order);

    // Exported as a Chrome Recorder / @puppeteer/replay user flow.
    let o = recordings_cmd(&d.rec, &["export", &id, "--format", "puppeteer-replay"]);
    assert!(o.status.success());
    let flow: Value = serde_json::from_slice(&o.stdout).unwrap();
    let typed = recordings::flow::parse(&String::from_utf8_lossy(&o.stdout)).expect("a valid Recorder flow");
    assert_eq!(typed.steps.len(), flow["steps"].as_array().unwrap().len());
    assert_eq!(flow["title"], "Buy the kettle");
    let steps = flow["steps"].as_array().unwrap();
    assert_eq!(steps[0]["type"], "setViewport");
    assert_eq!(
        steps[1],
        json!({"type": "navigate", "url": site.url("/shop"), "assertedEvents": [{"type": "navigation", "url": site.url("/shop")}]})
    );
    assert_eq!(steps[2]["type"], "click");
    let sels = steps[2]["selectors"].as_array().unwrap();
    assert!(sels.contains(&json!(["aria/Buy the kettle[role=\"button\"]"])) && sels.contains(&json!(["#buy"])), "{sels:?}");
    assert_eq!(steps[2]["assertedEvents"][0]["url"], site.url("/shop-done?item=kettle"));
    assert!(String::from_utf8_lossy(&o.stderr).contains("step 2 (extract) has no Recorder equivalent"));

    // A recording from elsewhere cannot widen the allowlist: one edited to start on the
    // foreign host is refused before anything starts, as is any recording that does not
    // verify (unless forced).
    let moved = d.root.join("elsewhere");
    copy_dir(&dir, &moved);
    let log = std::fs::read_to_string(moved.join("session.jsonl")).unwrap().replace(&site.origin, &site.foreign);
    std::fs::write(moved.join("session.jsonl"), log).unwrap();
    let o = replay_cmd(&d, moved.to_str().unwrap(), &d.root.join("r-elsewhere"), &[]).await;
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("altered"), "{}", String::from_utf8_lossy(&o.stderr));
    let o = replay_cmd(&d, moved.to_str().unwrap(), &d.root.join("r-elsewhere"), &["--force"]).await;
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("today's allowlist does not allow") && err.contains("--allow 127.0.0.2:"), "{err}");
    assert!(site.foreign_log.lock().unwrap().is_empty(), "the replay reached the foreign host");

    // The button moved (other buttons before it, another ref): found by its role and name.
    site.shop.store(1, SeqCst);
    let o = replay_cmd(&d, &id, &d.root.join("replay2"), &[]).await;
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));

    // The button is gone: the replay stops at step 1 and says what it looked for.
    site.shop.store(2, SeqCst);
    let out3 = d.root.join("replay3");
    let o = replay_cmd(&d, &id, &out3, &[]).await;
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("diverged: step 1") && err.contains("Buy the kettle"), "{err}");
    assert!(err.contains("order.md: not written this time"), "{err}");
    assert!(!err.contains("<page_state") && !err.contains("untrusted web content"), "page-state markup in the divergence: {err}");

    // A step recorded with a text target, replayed after the text changed: the durable
    // locator (the CSS path) still finds the button.
    site.shop.store(0, SeqCst);
    let d2 = dirs();
    let model = script_model(
        &d2,
        "buy.json",
        json!([{"tool": "click", "args": {"text": "Buy the kettle"}}, {"tool": "done", "args": {"summary": "bought"}}]),
    );
    let r = run(errand(&d2, &["Buy the kettle", "--start", &site.url("/shop"), "--model", &model], &[])).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let (dir2, _) = recording(&d2.rec);
    site.shop.store(3, SeqCst);
    allow_site(&d2, &site);
    let o = replay_cmd(&d2, dir2.file_name().unwrap().to_str().unwrap(), &d2.root.join("replay"), &[]).await;
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("replay matched the recording"), "{err}");
}

#[tokio::test]
async fn no_secret_survives_in_any_file_of_a_recording_or_its_report() {
    let site = Site::start().await;
    let d = dirs();
    let script = script_model(
        &d,
        "script.json",
        json!([
            {"tool": "type", "args": {"selector": "#api", "text": "tok-SECRET-4711"}},
            {"tool": "type", "args": {"selector": "#key", "text": "key-SECRET-0815"}},
            {"tool": "type", "args": {"selector": "#plain", "text": "Ada Lovelace"}},
            {"tool": "screenshot"},
            {"tool": "navigate", "args": {"url": site.url("/form.html")}},
            {"tool": "type", "args": {"selector": "#pw", "text": "pw-SECRET-1234", "submit": true}},
            {"tool": "done", "args": {"summary": "typed"}}
        ]),
    );
    let r = run(errand(
        &d,
        &["Fill in the account form", "--start", &site.url("/secret.html"), "--model", &script],
        &[("ANTHROPIC_API_KEY", "sk-ant-SECRET-KEY"), ("OPENAI_API_KEY", "sk-SECRET-OPENAI")],
    ))
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let (dir, lines) = recording(&d.rec);
    let o = recordings_cmd(&d.rec, &["report", dir.to_str().unwrap()]);
    assert!(o.status.success());
    // The plain field's text is kept (so the recording is useful); no secret is, anywhere.
    let everything = all_text(&dir);
    assert!(everything.contains("Ada Lovelace"));
    assert!(lines.iter().filter(|l| l["type"] == "step" && l["screenshot"].is_string()).count() >= 5);
    for secret in ["tok-SECRET-4711", "key-SECRET-0815", "pw-SECRET-1234", "sk-ant-SECRET-KEY", "sk-SECRET-OPENAI", "SECRET"] {
        assert!(!everything.contains(secret), "{secret} is in the recording");
        assert!(!r.stderr.contains(secret), "{secret} was narrated");
    }
    // Replaying stops at the first typed secret and says why; no model is involved.
    let id = dir.file_name().unwrap().to_string_lossy().to_string();
    allow_site(&d, &site);
    let o = replay_cmd(&d, &id, &d.root.join("again"), &[]).await;
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("step 1 typed a secret") && err.contains("--until 0"), "{err}");
    assert!(!err.contains("the model failed"), "{err}");
}

/// Lines re-chained as someone without errand's key would: each line's `prev`, own hash
/// and a made-up signature recomputed.
pub(crate) fn rechain(lines: &[&str]) -> String {
    let mut out = String::new();
    let mut prev = String::new();
    for l in lines {
        let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
        let o = v.as_object_mut().unwrap();
        o.remove("hash");
        o.remove("mac");
        o.insert("prev".into(), json!(prev));
        let seq = out.lines().count();
        o.insert("seq".into(), json!(seq));
        let unsealed = serde_json::to_string(&v).unwrap();
        let hash = recordings::sha256(unsealed.as_bytes());
        let mac = recordings::sha256(format!("guess{hash}").as_bytes());
        let sealed = format!("{},\"hash\":\"{hash}\",\"mac\":\"{mac}\"}}", unsealed.strip_suffix('}').unwrap());
        prev = recordings::sha256(sealed.as_bytes());
        out.push_str(&sealed);
        out.push('\n');
    }
    out
}

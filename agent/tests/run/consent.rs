//! Consent: nothing state-changing leaves without a person's yes or a rule, whatever
//! the model asks.

use fixtures::Site;
use serde_json::{json, Value};

use crate::common::*;
use crate::runs::run_at_terminal;

fn writes(site: &Site) -> Vec<(String, String, String)> {
    site.requests()
        .into_iter()
        .chain(site.foreign_log.lock().unwrap().clone())
        .filter(|l| l.method != "GET")
        .map(|l| (l.method, l.query, l.body))
        .collect()
}

#[tokio::test]
async fn a_hostile_model_cannot_submit_anything_without_a_person() {
    let site = Site::start().await;
    let d = dirs();
    let page = site.url("/consent.html");
    let mut steps = vec![];
    for action in [
        json!({"tool": "click", "args": {"text": "Sign in"}}),
        json!({"tool": "click", "args": {"text": "Subscribe"}}),
        json!({"tool": "click", "args": {"text": "Send later"}}),
        json!({"tool": "type", "args": {"selector": "#note", "text": "hello", "submit": true}}),
        json!({"tool": "click", "args": {"text": "Delete item"}}),
        json!({"tool": "click", "args": {"text": "Send beacon"}}),
        json!({"tool": "click", "args": {"text": "Vote"}}),
    ] {
        steps.push(json!({"tool": "navigate", "args": {"url": page}}));
        steps.push(action);
        steps.push(json!({"tool": "wait", "args": {"ms": 200}}));
    }
    steps.push(json!({"tool": "done", "args": {"summary": "tried"}}));
    let script = script_model(&d, "consent-script.json", Value::Array(steps));
    let foreign = site.foreign.trim_start_matches("http://").to_string();
    let r = run(errand(&d, &["Sign in and post things", "--start", &page, "--allow", &foreign, "--model", &script, "--json"], &[])).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("no terminal to ask at: form submissions and state-changing requests will be denied"), "{}", r.stderr);
    assert_eq!(writes(&site), vec![], "a state-changing request reached a server");
    // The model was told, step by step.
    let told = r.stdout.lines().filter(|l| l.contains("submissions are denied in this run")).count();
    assert!(told >= 6, "{}", r.stdout);
    let (dir, lines) = recording(&d.rec);
    let consents: Vec<&Value> = lines.iter().filter(|l| l["type"] == "consent").collect();
    assert!(consents.len() >= 7, "{consents:?}\n{}", r.stderr);
    assert!(consents.iter().all(|c| c["decision"] == "deny" && c["by"] == "policy"));
    // The typed password never reaches the recording.
    assert!(!all_text(&dir).contains("hunter2"));
}

#[tokio::test]
async fn approve_sends_once_and_dry_run_lists_what_would_have_been_sent() {
    let site = Site::start().await;
    let page = site.url("/consent.html");
    let steps = json!([
        {"tool": "click", "args": {"text": "Sign in"}},
        {"tool": "done", "args": {"summary": "signed in"}}
    ]);
    let d = dirs();
    let script = script_model(&d, "consent-script.json", steps.clone());
    let r = run(errand(&d, &["Sign in", "--start", &page, "--model", &script, "--confirm", "approve"], &[])).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("warning: --confirm approve"), "{}", r.stderr);
    assert_eq!(writes(&site), vec![("POST".to_string(), "route=native".to_string(), "user=ann&password=hunter2".to_string())]);

    site.log.lock().unwrap().clear();
    let d = dirs();
    let script = script_model(&d, "consent-script.json", steps);
    let r = run(errand(&d, &["Sign in", "--start", &page, "--model", &script, "--confirm", "approve", "--dry-run"], &[])).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(writes(&site), vec![]);
    assert!(
        r.stderr.contains("would have submitted: POST") && r.stderr.contains("route=native") && r.stderr.contains("password=••••••"),
        "{}",
        r.stderr
    );
    let (_, lines) = recording(&d.rec);
    assert!(lines.iter().any(|l| l["type"] == "consent" && l["by"] == "dry run"));
}

#[tokio::test]
async fn at_a_terminal_a_person_approves_or_declines_a_submission() {
    let site = Site::start().await;
    let page = site.url("/consent.html");
    for (answer, sent) in [("y\n", true), ("n\n", false)] {
        site.log.lock().unwrap().clear();
        let d = dirs();
        let script = script_model(
            &d,
            "consent-script.json",
            json!([
                {"tool": "click", "args": {"text": "Sign in"}},
                {"tool": "done", "args": {"summary": "signed in"}}
            ]),
        );
        let args: Vec<String> = vec!["Sign in".into(), "--start".into(), page.clone(), "--model".into(), script.clone()];
        let r = run_at_terminal(&d, &args, answer).await;
        assert_eq!(r.code, 0, "{}", r.stderr);
        // The prompt shows the request, the form's purpose and its fields, the password masked.
        assert!(
            r.stderr.contains("the page wants to send a request")
                && r.stderr.contains("sends:   POST")
                && r.stderr.contains("route=native"),
            "{}",
            r.stderr
        );
        assert!(r.stderr.contains("purpose: Sign in"), "{}", r.stderr);
        assert!(r.stderr.contains("user = ann") && r.stderr.contains("password = ••••••"), "{}", r.stderr);
        assert!(!r.stderr.contains("hunter2"), "{}", r.stderr);
        let w = writes(&site);
        if sent {
            assert_eq!(w, vec![("POST".to_string(), "route=native".to_string(), "user=ann&password=hunter2".to_string())]);
        } else {
            assert_eq!(w, vec![]);
            assert!(r.stderr.contains("the user declined this submission"), "{}", r.stderr);
        }
        let (_, lines) = recording(&d.rec);
        let c: Vec<&Value> = lines.iter().filter(|l| l["type"] == "consent").collect();
        assert_eq!(c.len(), 1);
        assert_eq!((c[0]["decision"].as_str(), c[0]["by"].as_str()), (Some(if sent { "allow" } else { "deny" }), Some("person")));
    }
}

#[tokio::test]
async fn a_submit_rule_lets_one_endpoint_through_without_asking() {
    let site = Site::start().await;
    let page = site.url("/consent.html");
    let d = dirs();
    std::fs::create_dir_all(&d.root).unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_errand"))
        .args(["allow", "submit-add", &site.url("/echo")])
        .env("ERRAND_ALLOWLIST", d.root.join("allowlist.toml"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let script = script_model(
        &d,
        "consent-script.json",
        json!([
            {"tool": "click", "args": {"text": "Sign in"}},
            {"tool": "navigate", "args": {"url": page}},
            {"tool": "click", "args": {"text": "Delete item"}},
            {"tool": "done", "args": {"summary": "ok"}}
        ]),
    );
    let r = run(errand(&d, &["Sign in", "--start", &page, "--model", &script], &[])).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    // Both go to /echo (any query), so the rule lets both through; nothing else would.
    let w = writes(&site);
    assert_eq!(w.len(), 2, "{w:?}");
    let (_, lines) = recording(&d.rec);
    assert!(lines.iter().filter(|l| l["type"] == "consent").all(|l| l["by"] == "rule" && l["decision"] == "allow"));
}

#[tokio::test]
async fn at_a_terminal_site_approves_the_rest_of_a_site_and_abort_stops_the_run() {
    let site = Site::start().await;
    let page = site.url("/consent.html");
    let steps = json!([
        {"tool": "click", "args": {"text": "Delete item"}},
        {"tool": "click", "args": {"text": "Send beacon"}},
        {"tool": "done", "args": {"summary": "ok"}}
    ]);
    // "s": the first request goes, and so does the site's next one, without a question.
    let d = dirs();
    let script = script_model(&d, "consent-script.json", steps.clone());
    let args: Vec<String> = vec!["Clean up".into(), "--start".into(), page.clone(), "--model".into(), script.clone()];
    let r = run_at_terminal(&d, &args, "s\n").await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(writes(&site).len(), 2, "{:?}", writes(&site));
    assert_eq!(r.stderr.matches("Send it?").count(), 1, "{}", r.stderr);
    let (_, lines) = recording(&d.rec);
    let by: Vec<&str> = lines.iter().filter(|l| l["type"] == "consent").filter_map(|l| l["by"].as_str()).collect();
    assert_eq!(by, vec!["person", "session approval"]);
    // "a": declined, and the run stops there (exit 1), its recording finalised.
    site.log.lock().unwrap().clear();
    let d = dirs();
    let script = script_model(&d, "consent-script.json", steps);
    let args: Vec<String> = vec!["Clean up".into(), "--start".into(), page.clone(), "--model".into(), script.clone()];
    let r = run_at_terminal(&d, &args, "a\n").await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(writes(&site), vec![]);
    let (_, lines) = recording(&d.rec);
    let end = lines.last().unwrap();
    assert_eq!((end["outcome"].as_str(), end["summary"].as_str()), (Some("aborted"), Some("stopped at the consent prompt")));
}

#[tokio::test]
async fn an_unanswered_prompt_is_a_no_after_the_timeout() {
    let site = Site::start().await;
    let page = site.url("/consent.html");
    let d = dirs();
    let script = script_model(
        &d,
        "consent-script.json",
        json!([
            {"tool": "click", "args": {"text": "Sign in"}},
            {"tool": "done", "args": {"summary": "ok"}}
        ]),
    );
    let args: Vec<String> =
        vec!["Sign in".into(), "--start".into(), page, "--model".into(), script.clone(), "--confirm-timeout".into(), "1".into()];
    let r = run_at_terminal(&d, &args, "").await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("no answer within 1 s: declined"), "{}", r.stderr);
    assert_eq!(writes(&site), vec![]);
    let (_, lines) = recording(&d.rec);
    assert!(lines.iter().any(|l| l["type"] == "consent" && l["by"] == "timeout" && l["decision"] == "deny"));
}

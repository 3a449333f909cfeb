//! Model vendors in their wire formats: Anthropic Messages and OpenAI Chat Completions,
//! mocked at the HTTP level, and their errors.

use fixtures::Site;
use serde_json::{json, Value};
use wiremock::ResponseTemplate;

use crate::common::*;

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

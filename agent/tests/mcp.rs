//! `errand mcp` as an agent host uses it: the real binary started over stdio by rmcp's
//! own client, a real Chromium on the fixture site. The host is as untrusted as a model:
//! whatever it calls, the allowlist and consent hold, and the session is recorded.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fixtures::Site;
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, ElicitRequestParams, ElicitResult, ElicitationAction,
    Implementation,
};
use rmcp::service::{RequestContext, RoleClient, RunningService};
use rmcp::transport::TokioChildProcess;
use rmcp::{ClientHandler, ErrorData, ServiceExt};
use serde_json::{json, Value};

/// A host whose person gives `answer` to every consent question (`None`: the host
/// cannot ask at all), and keeps the questions it was asked.
#[derive(Clone)]
struct Host {
    answer: Option<&'static str>,
    asked: Arc<Mutex<Vec<String>>>,
}

impl ClientHandler for Host {
    fn get_info(&self) -> ClientConfig {
        let caps =
            if self.answer.is_some() { ClientCapabilities::builder().enable_elicitation().build() } else { ClientCapabilities::default() };
        ClientConfig::new(caps, Implementation::new("test-host", "1.0"))
    }

    async fn create_elicitation(&self, req: ElicitRequestParams, _: RequestContext<RoleClient>) -> Result<ElicitResult, ErrorData> {
        if let ElicitRequestParams::FormElicitationParams { message, .. } = &req {
            self.asked.lock().unwrap().push(message.clone());
        }
        Ok(match self.answer {
            Some("decline") | None => ElicitResult::new(ElicitationAction::Decline),
            Some(a) => ElicitResult::new(ElicitationAction::Accept).with_content(json!({"answer": a})),
        })
    }
}

struct Session {
    client: RunningService<RoleClient, Host>,
    asked: Arc<Mutex<Vec<String>>>,
    _tmp: tempfile::TempDir,
    rec: PathBuf,
    root: PathBuf,
    /// errand's process id.
    pid: u32,
}

/// `errand mcp` started by a host, allowed the fixture site (and `extra`).
async fn connect(site: &Site, answer: Option<&'static str>, extra: &[&str]) -> Session {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_errand"));
    let host = site.origin.trim_start_matches("http://").to_string();
    cmd.arg("mcp").args(["--allow", &host]).args(extra).arg("--out").arg(root.join("out")).arg("--record-dir").arg(root.join("rec"));
    cmd.env("ERRAND_ALLOWLIST", root.join("allowlist.toml")).env("ERRAND_SECRETS", root.join("secrets.json"));
    let (transport, _) = TokioChildProcess::builder(cmd).stderr(std::process::Stdio::null()).spawn().unwrap();
    let pid = transport.id().expect("errand runs");
    let asked = Arc::new(Mutex::new(vec![]));
    let client = Host { answer, asked: asked.clone() }.serve(transport).await.expect("errand mcp answers the handshake");
    Session { client, asked, rec: root.join("rec"), root, _tmp: tmp, pid }
}

impl Session {
    async fn call(&self, name: &str, args: Value) -> CallToolResult {
        let Value::Object(args) = args else { panic!("arguments are an object") };
        let call = self.client.call_tool(CallToolRequestParams::new(name.to_string()).with_arguments(args));
        tokio::time::timeout(Duration::from_secs(60), call).await.expect("the call returns").expect("a tool result, never a protocol error")
    }

    /// End the session as a host does, and wait for errand to finish its recording.
    /// Returns the recording, the session's folder, and the guard that keeps it.
    async fn close(self) -> (PathBuf, PathBuf, tempfile::TempDir) {
        let _ = self.client.cancel().await;
        let rec = self.rec.clone();
        for _ in 0..200 {
            // The newest recording (a session whose browser was replaced has several).
            let mut dirs: Vec<PathBuf> =
                std::fs::read_dir(&rec).map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect()).unwrap_or_default();
            dirs.sort_by_key(|d| std::fs::metadata(d.join("session.jsonl")).and_then(|m| m.modified()).ok());
            if let Some(dir) = dirs.pop() {
                if std::fs::read_to_string(dir.join("session.jsonl")).unwrap_or_default().contains("\"session_end\"") {
                    return (dir, self.root.clone(), self._tmp);
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the recording was not finished after the host left");
    }
}

fn text(r: &CallToolResult) -> String {
    r.content.iter().filter_map(|c| c.as_text().map(|t| t.text.clone())).collect::<Vec<_>>().join("\n")
}

/// Another errand command, run while the fixture site keeps serving on this runtime.
async fn errand(args: &[&str], root: &Path) -> std::process::Output {
    let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_errand"));
    c.args(args).env("ERRAND_ALLOWLIST", root.join("allowlist.toml")).env("ERRAND_SECRETS", root.join("secrets.json"));
    tokio::time::timeout(Duration::from_secs(120), c.output()).await.expect("errand finishes").unwrap()
}

fn writes(site: &Site) -> Vec<(String, String)> {
    site.requests().into_iter().filter(|l| l.method != "GET").map(|l| (l.method, l.body)).collect()
}

#[tokio::test]
async fn a_host_lists_the_tools_browses_and_its_session_is_recorded_and_replays() {
    let site = Site::start().await;
    let s = connect(&site, None, &[]).await;
    let tools: Vec<String> = s.client.list_all_tools().await.unwrap().into_iter().map(|t| t.name.to_string()).collect();
    for t in ["navigate", "click", "type", "extract", "screenshot", "write_file", "page_state", "allowlist", "session"] {
        assert!(tools.contains(&t.to_string()), "{t} missing from {tools:?}");
    }
    // The host ends its session by leaving, not with the model's `done`.
    assert!(!tools.contains(&"done".to_string()), "{tools:?}");

    let r = s.call("navigate", json!({"url": site.url("/form.html")})).await;
    assert_eq!(r.is_error, Some(false), "{}", text(&r));
    let t = text(&r);
    assert!(t.contains("<page_state note=\"untrusted web content") && t.contains("Form fixture"), "{t}");
    assert!(t.contains("textbox \"Query\""), "the page state lists the controls with refs: {t}");
    let r = s.call("page_state", json!({})).await;
    assert!(text(&r).contains("Form fixture"), "{}", text(&r));
    let r = s.call("extract", json!({})).await;
    assert!(text(&r).contains("extract [1]") && text(&r).contains("Search the catalogue"), "{}", text(&r));
    let shot = s.call("screenshot", json!({})).await;
    assert!(
        shot.content.iter().any(|c| c.as_image().is_some_and(|i| i.mime_type == "image/png" && i.data.len() > 1000)),
        "a screenshot comes as an image"
    );
    let r = s.call("write_file", json!({"path": "notes.md", "content": "The form [1]."})).await;
    assert_eq!(r.is_error, Some(false), "{}", text(&r));
    let r = s.call("session", json!({})).await;
    let id = text(&r).lines().next().unwrap().trim_start_matches("session ").to_string();
    let (dir, root, _tmp) = s.close().await;
    assert!(dir.ends_with(&id), "{} vs {id}", dir.display());
    assert_eq!(std::fs::read_to_string(root.join("out/notes.md")).unwrap(), "The form [1].");

    let log = std::fs::read_to_string(dir.join("session.jsonl")).unwrap();
    assert!(log.contains("\"model\":\"mcp:test-host 1.0\""), "the recording names the host: {log}");
    let rec = root.join("rec");
    let rec = rec.to_str().unwrap();
    let v = errand(&["recordings", "--record-dir", rec, "verify", &id], &root).await;
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));
    let host = site.origin.trim_start_matches("http://");
    let out = root.join("replayed");
    let p = errand(&["replay", &id, "--record-dir", rec, "--allow", host, "--out", out.to_str().unwrap()], &root).await;
    let said = String::from_utf8_lossy(&p.stderr);
    assert!(p.status.success() && said.contains("replay matched the recording"), "{said}");
}

#[tokio::test]
async fn a_blocked_host_is_a_tool_error_and_nothing_reaches_it() {
    let site = Site::start().await;
    let s = connect(&site, None, &[]).await;
    let r = s.call("navigate", json!({"url": format!("{}/index.html", site.foreign)})).await;
    assert_eq!(r.is_error, Some(true));
    let t = text(&r);
    assert!(t.contains("is not on the allowlist") && t.contains("errand allow add"), "{t}");
    // A page that reaches for the foreign host on its own is held back too.
    let r = s.call("navigate", json!({"url": site.url("/exfil.html")})).await;
    assert_eq!(r.is_error, Some(false), "{}", text(&r));
    let r = s.call("allowlist", json!({})).await;
    assert!(text(&r).contains(site.origin.trim_start_matches("http://")) && !text(&r).contains("127.0.0.2"), "{}", text(&r));
    s.close().await;
    assert!(site.foreign_log.lock().unwrap().is_empty(), "{:?}", site.foreign_log.lock().unwrap());
}

#[tokio::test]
async fn a_submission_is_put_to_the_person_through_the_host() {
    let site = Site::start().await;
    let signed_in = ("POST".to_string(), "user=ann&password=hunter2".to_string());
    for (answer, sent) in [(Some("decline"), false), (None, false), (Some("send once"), true)] {
        site.log.lock().unwrap().clear();
        let s = connect(&site, answer, &[]).await;
        s.call("navigate", json!({"url": site.url("/consent.html")})).await;
        let r = s.call("click", json!({"text": "Sign in"})).await;
        let t = text(&r);
        let asked = s.asked.lock().unwrap().clone();
        let (dir, _, _tmp) = s.close().await;
        if sent {
            assert_eq!(writes(&site), vec![signed_in.clone()], "sent exactly once");
        } else {
            assert_eq!(writes(&site), vec![], "{answer:?}: {t}");
            assert!(t.contains("declined") || t.contains("denied"), "the host is told: {t}");
        }
        match answer {
            // A host that cannot ask is never asked: no means no.
            None => assert!(asked.is_empty()),
            Some(_) => {
                assert_eq!(asked.len(), 1, "{asked:?}");
                let q = &asked[0];
                assert!(q.contains("sends:   POST") && q.contains("route=native") && q.contains("user = ann"), "{q}");
                assert!(!q.contains("hunter2"), "the password is masked: {q}");
            }
        }
        let log = std::fs::read_to_string(dir.join("session.jsonl")).unwrap();
        let consent: Vec<Value> =
            log.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()).filter(|l| l["type"] == "consent").collect();
        assert_eq!(consent.len(), 1, "{log}");
        let by = if answer.is_some() { "person" } else { "policy" };
        assert_eq!((consent[0]["decision"].as_str(), consent[0]["by"].as_str()), (Some(if sent { "allow" } else { "deny" }), Some(by)));
        assert!(!log.contains("hunter2"));
    }
}

#[tokio::test]
async fn bad_calls_are_tool_errors_and_the_session_goes_on() {
    let site = Site::start().await;
    let s = connect(&site, None, &[]).await;
    s.call("navigate", json!({"url": site.url("/form.html")})).await;
    for (name, args, says) in [
        ("fly", json!({}), "there is no tool \"fly\""),
        ("done", json!({"summary": "x"}), "there is no tool \"done\""),
        ("click", json!({}), "click needs \"ref\""),
        ("click", json!({"ref": "e999"}), "e999"),
        ("write_file", json!({"path": "../escape.md", "content": "x"}), "error"),
    ] {
        let r = s.call(name, args).await;
        assert_eq!(r.is_error, Some(true), "{name}: {}", text(&r));
        assert!(text(&r).contains(says), "{name}: {}", text(&r));
    }
    let r = s.call("navigate", json!({"url": site.url("/index.html")})).await;
    assert_eq!(r.is_error, Some(false), "the session still works: {}", text(&r));
    let (_, root, _tmp) = s.close().await;
    assert!(!root.join("escape.md").exists());
}

/// `errand mcp --http` on a free loopback port with a bearer token; returns the server,
/// its endpoint, the token and its folder.
async fn http_server(site: &Site, extra: &[&str]) -> (tokio::process::Child, String, String, tempfile::TempDir) {
    use tokio::io::AsyncBufReadExt;
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let token = "s3cret-token-for-the-test";
    std::fs::write(root.join("token"), format!("{token}\n")).unwrap();
    let host = site.origin.trim_start_matches("http://").to_string();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_errand"));
    cmd.args(["mcp", "--http", "127.0.0.1:0", "--allow", &host, "--token-file"]).arg(root.join("token")).args(extra);
    cmd.arg("--out").arg(root.join("out")).arg("--record-dir").arg(root.join("rec"));
    cmd.env("ERRAND_ALLOWLIST", root.join("allowlist.toml")).env("ERRAND_SECRETS", root.join("secrets.json"));
    cmd.stdin(std::process::Stdio::null()).stderr(std::process::Stdio::piped()).kill_on_drop(true);
    let mut child = cmd.spawn().unwrap();
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let url = loop {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("errand mcp says where")
            .unwrap()
            .expect("a line");
        if let Some(rest) = line.split("serving MCP at ").nth(1) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    // Keep reading errand's narration so it never blocks on a full pipe; it is shown
    // when a test fails (the test harness captures it otherwise).
    tokio::spawn(async move {
        while let Ok(Some(l)) = lines.next_line().await {
            eprintln!("errand: {l}");
        }
    });
    (child, url, token.to_string(), tmp)
}

async fn http_client(url: &str, token: &str) -> Result<RunningService<RoleClient, Host>, rmcp::service::ClientInitializeError> {
    http_host(url, token, Host { answer: None, asked: Arc::default() }).await
}

async fn http_host(url: &str, token: &str, host: Host) -> Result<RunningService<RoleClient, Host>, rmcp::service::ClientInitializeError> {
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
    use rmcp::transport::StreamableHttpClientTransport;
    let t = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(url.to_string()).auth_header(token.to_string()),
    );
    host.serve(t).await
}

async fn call(c: &RunningService<RoleClient, Host>, name: &str, args: Value) -> String {
    let Value::Object(args) = args else { panic!("arguments are an object") };
    let r =
        tokio::time::timeout(Duration::from_secs(60), c.call_tool(CallToolRequestParams::new(name.to_string()).with_arguments(args))).await;
    text(&r.expect("the call returns").expect("a tool result"))
}

#[tokio::test]
async fn two_http_sessions_keep_their_tabs_and_files_apart() {
    let site = Site::start().await;
    let (mut server, url, token, tmp) = http_server(&site, &["--max-sessions", "2"]).await;
    // a's host cannot ask its person; b's says yes.
    let a = http_client(&url, &token).await.expect("session a");
    let b_asked = Arc::new(Mutex::new(vec![]));
    let b = http_host(&url, &token, Host { answer: Some("send once"), asked: b_asked.clone() }).await.expect("session b");
    let tools: Vec<String> = a.list_all_tools().await.unwrap().into_iter().map(|t| t.name.to_string()).collect();
    assert!(tools.iter().any(|t| t == "page_state") && tools.iter().any(|t| t == "navigate"), "{tools:?}");
    let t = call(&a, "navigate", json!({"url": site.url("/form.html")})).await;
    assert!(t.contains("Form fixture"), "{t}");
    call(&a, "tab_new", json!({"url": site.url("/tables.html")})).await;
    // Over HTTP too, a blocked host is a tool error and nothing reaches it.
    let t = call(&a, "navigate", json!({"url": format!("{}/index.html", site.foreign)})).await;
    assert!(t.contains("is not on the allowlist"), "{t}");
    call(&a, "write_file", json!({"path": "a.md", "content": "from a"})).await;
    let t = call(&b, "page_state", json!({})).await;
    assert!(t.contains("<page_state"), "b's session has no page: {t}");
    assert!(!t.contains("Form fixture") && !t.contains("tables.html"), "b sees a's tabs: {t}");
    call(&b, "write_file", json!({"path": "a.md", "content": "from b"})).await;
    let folder = |t: String| {
        PathBuf::from(t.lines().find_map(|l| l.strip_prefix("output folder: ")).unwrap_or_else(|| panic!("no output folder in: {t}")))
    };
    let (out_a, out_b) = (folder(call(&a, "session", json!({})).await), folder(call(&b, "session", json!({})).await));
    assert_ne!(out_a, out_b);
    assert_eq!(std::fs::read_to_string(out_a.join("a.md")).unwrap(), "from a");
    assert_eq!(std::fs::read_to_string(out_b.join("a.md")).unwrap(), "from b");
    // Each session's consent goes to its own host: a's is declined, b's person is asked
    // and its one submission is sent once.
    site.log.lock().unwrap().clear();
    call(&a, "navigate", json!({"url": site.url("/consent.html")})).await;
    let t = call(&a, "click", json!({"text": "Sign in"})).await;
    assert!(t.contains("declined") || t.contains("denied"), "{t}");
    assert_eq!(writes(&site), vec![], "{t}");
    call(&b, "navigate", json!({"url": site.url("/consent.html")})).await;
    call(&b, "click", json!({"text": "Sign in"})).await;
    assert_eq!(writes(&site), vec![("POST".to_string(), "user=ann&password=hunter2".to_string())]);
    assert_eq!(b_asked.lock().unwrap().len(), 1, "{:?}", b_asked.lock().unwrap());
    // A third session is refused while two are open, with a reason.
    let third = http_client(&url, &token).await;
    assert!(third.is_err(), "a third session was let in");
    let _ = a.cancel().await;
    let _ = b.cancel().await;
    // Stopped like a service: every session's recording is finished, and it exits 0.
    unsafe { libc::kill(server.id().unwrap() as i32, libc::SIGTERM) };
    let status = tokio::time::timeout(Duration::from_secs(30), server.wait()).await.expect("errand mcp stops").unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(site.foreign_log.lock().unwrap().is_empty(), "{:?}", site.foreign_log.lock().unwrap());
    let recs: Vec<PathBuf> = std::fs::read_dir(tmp.path().join("rec")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(recs.len(), 2, "{recs:?}");
    let rec_dir = tmp.path().join("rec");
    for r in recs {
        let log = std::fs::read_to_string(r.join("session.jsonl")).unwrap();
        assert!(log.contains("\"session_end\"") && log.contains("mcp:test-host 1.0"), "{log}");
        assert!(!log.contains(&token), "the bearer token is never recorded");
        assert!(!log.contains("hunter2"), "the typed password is never recorded");
        let id = r.file_name().unwrap().to_str().unwrap();
        let v = errand(&["recordings", "--record-dir", rec_dir.to_str().unwrap(), "verify", id], tmp.path()).await;
        assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));
    }
}

#[tokio::test]
async fn http_requests_without_the_token_or_from_a_web_page_are_refused() {
    let site = Site::start().await;
    let (_server, url, token, tmp) = http_server(&site, &[]).await;
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}});
    let http = reqwest::Client::new();
    let post = |auth: Option<&str>, origin: Option<&str>| {
        let mut r = http.post(&url).header("accept", "application/json, text/event-stream").json(&init);
        if let Some(a) = auth {
            r = r.header("authorization", format!("Bearer {a}"));
        }
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        r.send()
    };
    assert_eq!(post(None, None).await.unwrap().status(), 401);
    assert_eq!(post(Some("wrong-token"), None).await.unwrap().status(), 401);
    assert_eq!(post(Some(&token), Some("http://evil.example")).await.unwrap().status(), 403);
    assert!(http_client(&url, "wrong-token").await.is_err());
    // Nothing was started for any of them.
    assert!(!tmp.path().join("rec").exists() || std::fs::read_dir(tmp.path().join("rec")).unwrap().next().is_none());
    assert_eq!(post(Some(&token), None).await.unwrap().status(), 200);
}

#[tokio::test]
async fn with_ask_to_allow_the_person_at_the_host_may_let_a_host_through() {
    let site = Site::start().await;
    let foreign = format!("{}/index.html", site.foreign);
    // Without --ask-to-allow nobody is asked, and the host stays blocked.
    let s = connect(&site, Some("allow once"), &[]).await;
    let r = s.call("navigate", json!({"url": foreign})).await;
    assert_eq!(r.is_error, Some(true), "{}", text(&r));
    assert!(s.asked.lock().unwrap().is_empty());
    s.close().await;
    assert!(site.foreign_log.lock().unwrap().is_empty());

    for (answer, through) in [("decline", false), ("allow once", true)] {
        site.foreign_log.lock().unwrap().clear();
        let s = connect(&site, Some(answer), &["--ask-to-allow", "session"]).await;
        let r = s.call("navigate", json!({"url": foreign})).await;
        let asked = s.asked.lock().unwrap().clone();
        assert_eq!(asked.len(), 1, "{asked:?}");
        assert!(asked[0].contains("127.0.0.2") && asked[0].contains("not on the allowlist"), "{}", asked[0]);
        assert_eq!(r.is_error, Some(!through), "{answer}: {}", text(&r));
        let (dir, root, _tmp) = s.close().await;
        assert_eq!(!site.foreign_log.lock().unwrap().is_empty(), through, "{answer}");
        // Never written to the file from MCP without --ask-to-allow always.
        assert!(!std::fs::read_to_string(root.join("allowlist.toml")).unwrap_or_default().contains("127.0.0.2"));
        let log = std::fs::read_to_string(dir.join("session.jsonl")).unwrap();
        assert!(log.contains("\"allow_prompt\""), "{log}");
    }
}

/// The processes whose parent is `pid`, by name.
fn children(pid: u32) -> Vec<(u32, String)> {
    let mut found = vec![];
    for e in std::fs::read_dir("/proc").unwrap().filter_map(|e| e.ok()) {
        let Ok(child) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else { continue };
        // pid (comm) state ppid ...: the name may hold spaces, so split after its ')'.
        let Some((name, rest)) = stat.split_once(" (").and_then(|(_, r)| r.rsplit_once(") ")) else { continue };
        if rest.split_whitespace().nth(1).and_then(|p| p.parse::<u32>().ok()) == Some(pid) {
            found.push((child, name.to_string()));
        }
    }
    found
}

#[tokio::test]
async fn a_browser_that_crashes_is_replaced_for_the_next_call() {
    let site = Site::start().await;
    let s = connect(&site, None, &[]).await;
    let r = s.call("navigate", json!({"url": site.url("/form.html")})).await;
    assert_eq!(r.is_error, Some(false), "{}", text(&r));
    let first = text(&s.call("session", json!({})).await);
    let chromium: Vec<u32> = children(s.pid).into_iter().filter(|(_, n)| n.contains("chrom")).map(|(p, _)| p).collect();
    assert!(!chromium.is_empty(), "errand's Chromium among {:?}", children(s.pid));
    for p in chromium {
        unsafe { libc::kill(p as i32, libc::SIGKILL) };
    }
    // The host is told, and a later call works in a new browser.
    let mut said = vec![];
    let mut worked = false;
    for _ in 0..4 {
        let r = s.call("navigate", json!({"url": site.url("/index.html")})).await;
        said.push(text(&r));
        if r.is_error == Some(false) {
            worked = true;
            break;
        }
    }
    assert!(worked, "no call worked after the crash: {said:#?}");
    assert!(said.iter().any(|t| t.contains("crashed")), "the host is told the browser crashed: {said:#?}");
    let second = text(&s.call("session", json!({})).await);
    assert_ne!(first.lines().next(), second.lines().next(), "a new recording for the new browser");
    let (dir, root, _tmp) = s.close().await;
    // Both recordings are finished and readable: the first says how it ended.
    let recs: Vec<PathBuf> = std::fs::read_dir(root.join("rec")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(recs.len(), 2, "{recs:?}");
    let old = recs.iter().find(|r| **r != dir).unwrap();
    let log = std::fs::read_to_string(old.join("session.jsonl")).unwrap();
    assert!(log.contains("\"session_end\"") && log.contains("crashed"), "{log}");
    let id = old.file_name().unwrap().to_str().unwrap();
    let v = errand(&["recordings", "--record-dir", root.join("rec").to_str().unwrap(), "show", id], &root).await;
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
}

/// Attached to a browser the person started (`--cdp-url`), the host gets the same
/// boundary: the allowlist holds for its calls and for what pages do, and a submission
/// waits for the person.
#[tokio::test]
async fn attached_with_cdp_url_the_allowlist_and_consent_still_hold() {
    let site = Site::start().await;
    let profile = tempfile::tempdir().unwrap();
    let ext = browser::launch::launch(&browser::LaunchOptions::default(), profile.path(), Duration::from_secs(20)).await.unwrap();
    let s = connect(&site, Some("decline"), &["--cdp-url", &ext.ws_url]).await;
    let r = s.call("navigate", json!({"url": site.url("/form.html")})).await;
    assert_eq!(r.is_error, Some(false), "{}", text(&r));
    let r = s.call("navigate", json!({"url": format!("{}/index.html", site.foreign)})).await;
    assert_eq!(r.is_error, Some(true), "{}", text(&r));
    assert!(text(&r).contains("is not on the allowlist"), "{}", text(&r));
    s.call("navigate", json!({"url": site.url("/exfil.html")})).await;
    s.call("navigate", json!({"url": site.url("/consent.html")})).await;
    let r = s.call("click", json!({"text": "Sign in"})).await;
    assert!(text(&r).contains("declined"), "{}", text(&r));
    assert_eq!(s.asked.lock().unwrap().len(), 1);
    let (dir, _, _tmp) = s.close().await;
    assert!(site.foreign_log.lock().unwrap().is_empty(), "{:?}", site.foreign_log.lock().unwrap());
    assert_eq!(writes(&site), vec![], "nothing was submitted");
    let log = std::fs::read_to_string(dir.join("session.jsonl")).unwrap();
    assert!(log.contains("\"session_end\""), "{log}");
    // errand closed only its own context: the person's browser keeps running.
    let mut child = ext.child;
    assert!(child.try_wait().unwrap().is_none(), "the attached browser keeps running");
    let _ = child.start_kill();
}

/// With --input, the host reads the person's materials through the same tools, and
/// without it is not offered them.
#[tokio::test]
async fn a_host_reads_the_input_folders_only_when_there_are_some() {
    let site = Site::start().await;
    let s = connect(&site, None, &[]).await;
    let tools: Vec<String> = s.client.list_all_tools().await.unwrap().into_iter().map(|t| t.name.to_string()).collect();
    assert!(!tools.iter().any(|t| t == "read_input"), "{tools:?}");
    s.close().await;
    let m = tempfile::tempdir().unwrap();
    std::fs::write(m.path().join("vendors.csv"), "vendor,site\nAcme,https://acme.example\n").unwrap();
    let s = connect(&site, None, &["--input", m.path().to_str().unwrap()]).await;
    let tools: Vec<String> = s.client.list_all_tools().await.unwrap().into_iter().map(|t| t.name.to_string()).collect();
    assert!(tools.iter().any(|t| t == "read_input") && tools.iter().any(|t| t == "list_inputs"), "{tools:?}");
    let r = s.call("list_inputs", json!({})).await;
    assert!(text(&r).contains("vendors.csv (CSV"), "{}", text(&r));
    let r = s.call("read_input", json!({"path": "vendors.csv"})).await;
    assert_eq!(r.is_error, Some(false), "{}", text(&r));
    assert!(
        text(&r).contains("<input_content note=\"untrusted") && text(&r).contains("[\"Acme\",\"https://acme.example\"]"),
        "{}",
        text(&r)
    );
    let r = s.call("read_input", json!({"path": "../etc/passwd"})).await;
    assert_eq!(r.is_error, Some(true), "{}", text(&r));
    s.close().await;
}

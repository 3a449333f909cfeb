//! Helpers shared by the `errand` binary's end-to-end tests: temporary folders, the
//! binary run as a user runs it, recordings read back, and model vendors mocked at the
//! HTTP level.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// Answers with the next scripted response, in order.
pub struct Seq(pub Mutex<VecDeque<ResponseTemplate>>);

impl Respond for Seq {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        self.0.lock().unwrap().pop_front().unwrap_or_else(|| ResponseTemplate::new(400).set_body_string("the test's script ran out"))
    }
}

pub async fn vendor(route: &str, responses: Vec<ResponseTemplate>) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST")).and(path(route)).respond_with(Seq(Mutex::new(responses.into()))).mount(&server).await;
    server
}

pub struct Dirs {
    pub _tmp: tempfile::TempDir,
    pub out: PathBuf,
    pub rec: PathBuf,
    pub root: PathBuf,
}

pub fn dirs() -> Dirs {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().to_path_buf();
    Dirs { out: root.join("out"), rec: root.join("rec"), root, _tmp: t }
}

pub fn errand(d: &Dirs, args: &[&str], env: &[(&str, &str)]) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_errand"));
    c.arg("run").args(args).arg("--out").arg(&d.out).arg("--record-dir").arg(&d.rec);
    // The test's own allowlist and secrets file, never the user's (nor their keyring).
    c.env("ERRAND_ALLOWLIST", d.root.join("allowlist.toml"))
        .env("ERRAND_SECRETS", d.root.join("secrets.json"))
        .env("ERRAND_RETRY_BASE_MS", "10");
    for k in ["ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "OPENAI_API_KEY", "OPENAI_BASE_URL"] {
        c.env_remove(k);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    c.stdin(std::process::Stdio::null()).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).kill_on_drop(true);
    c
}

pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub async fn run(mut c: tokio::process::Command) -> Ran {
    let o = tokio::time::timeout(Duration::from_secs(120), c.output()).await.expect("errand finishes").expect("errand runs");
    Ran {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into(),
        stderr: String::from_utf8_lossy(&o.stderr).into(),
    }
}

/// The one recording under a record dir, as parsed lines.
pub fn recording(rec: &Path) -> (PathBuf, Vec<Value>) {
    let dir = std::fs::read_dir(rec).expect("a recording").next().expect("one recording").unwrap().path();
    let text = std::fs::read_to_string(dir.join("session.jsonl")).unwrap();
    (dir, text.lines().map(|l| serde_json::from_str(l).expect("each line is JSON")).collect())
}

pub fn all_text(dir: &Path) -> String {
    let mut s = String::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            s.push_str(&all_text(&p));
        } else {
            s.push_str(&String::from_utf8_lossy(&std::fs::read(&p).unwrap()));
        }
    }
    s
}

pub fn claude(text: &str, calls: &[(&str, &str, Value)]) -> ResponseTemplate {
    let mut content = vec![json!({"type": "text", "text": text})];
    for (id, name, input) in calls {
        content.push(json!({"type": "tool_use", "id": id, "name": name, "input": input}));
    }
    ResponseTemplate::new(200).set_body_json(json!({
        "id": "msg_test", "type": "message", "role": "assistant", "model": "claude-test",
        "content": content, "stop_reason": "tool_use", "stop_sequence": null,
        "usage": {"input_tokens": 1000, "output_tokens": 50, "cache_read_input_tokens": 800, "cache_creation_input_tokens": 0}
    }))
}

pub fn anthropic_error(status: u16, kind: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({"type": "error", "error": {"type": kind, "message": message}}))
}

pub fn body(r: &Request) -> Value {
    serde_json::from_slice(&r.body).expect("the request body is JSON")
}

pub fn recordings_cmd(rec: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_errand")).arg("recordings").arg("--record-dir").arg(rec).args(args).output().unwrap()
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        if e.path().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// Put the fixture site on the test's allowlist file.
pub fn allow_site(d: &Dirs, site: &fixtures::Site) {
    std::fs::create_dir_all(&d.root).unwrap();
    std::fs::write(d.root.join("allowlist.toml"), format!("allow = [\"{}\"]\n", site.origin.trim_start_matches("http://"))).unwrap();
}

/// Write a script model (tool calls in order) under the test's folder; returns the
/// `--model` value that runs it.
pub fn script_model(d: &Dirs, name: &str, calls: Value) -> String {
    std::fs::create_dir_all(&d.root).unwrap();
    let path = d.root.join(name);
    std::fs::write(&path, calls.to_string()).unwrap();
    format!("script:{}", path.display())
}

/// A loopback port where nothing listens, and nothing will: it stays bound (without
/// listening) for the rest of the test binary, so no server of a test running beside this
/// one can take it, and a connection to it is refused.
pub fn refused_port() -> u16 {
    let reserved = tokio::net::TcpSocket::new_v4().unwrap();
    reserved.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = reserved.local_addr().unwrap().port();
    std::mem::forget(reserved);
    port
}

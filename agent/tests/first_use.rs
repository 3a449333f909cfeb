//! What a new user meets in the first hour: closed pipes, signals, HTTP errors, careless
//! arguments, the help text, the narration's wording, and files the model writes beside
//! errand's own. Each test runs the real binary against real Chromium on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::*;
use fixtures::Site;
use serde_json::{json, Value};

fn bin() -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_errand"));
    for k in ["ANTHROPIC_API_KEY", "OPENAI_API_KEY"] {
        c.env_remove(k);
    }
    c
}

/// Run with stdout a pipe whose reader is gone before errand writes: every write fails
/// with a broken pipe. Returns (exit code, stderr).
fn with_closed_stdout(mut c: std::process::Command) -> (Option<i32>, String) {
    let mut child = c.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    (o.status.code(), String::from_utf8_lossy(&o.stderr).to_string())
}

#[tokio::test]
async fn a_reader_that_stops_reading_is_normal() {
    let d = dirs();
    // A run whose stdout goes away mid-run still finishes, and so does its recording.
    let mut c = bin();
    c.args(["demo", "--json", "--out"]).arg(&d.out).arg("--record-dir").arg(&d.rec);
    let (code, err) = with_closed_stdout(c);
    assert_eq!(code, Some(0), "{err}");
    assert!(!err.contains("panicked") && !err.contains("Broken pipe"), "{err}");
    let (dir, lines) = recording(&d.rec);
    assert_eq!(lines.last().unwrap()["type"], "session_end", "the recording was finished");
    let id = dir.file_name().unwrap().to_str().unwrap().to_string();
    // Listing and showing into a closed pipe: quiet, no panic.
    for args in [vec!["list"], vec!["show", id.as_str()], vec!["export", id.as_str()]] {
        let mut c = bin();
        c.arg("recordings").arg("--record-dir").arg(&d.rec).args(&args);
        let (code, err) = with_closed_stdout(c);
        assert_eq!(code, Some(0), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

// Multi-threaded: the fixture site must answer while this test waits on errand.
#[tokio::test(flavor = "multi_thread")]
async fn extract_into_a_closed_pipe_stops_quietly_and_http_errors_are_errors() {
    let site = Site::start().await;
    let (index, missing) = (site.url("/index.html"), site.url("/no-such-page.html"));
    let mut c = bin();
    c.args(["extract", &index, &index, &index]);
    let (code, err) = with_closed_stdout(c);
    assert!(!err.contains("panicked"), "{err}");
    assert_ne!(code, Some(101), "{err}");
    // A 404 is a failure with its status, never an error page read as content.
    let o = bin().args(["extract", "--json", &missing, &index]).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let lines: Vec<Value> = String::from_utf8_lossy(&o.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(lines[0]["error"].as_str().unwrap().contains("HTTP 404"), "{}", lines[0]);
    assert!(lines[0]["text"].is_null());
    assert_eq!(lines[1]["status"], 200);
    assert!(lines[1]["error"].is_null());
    // `open` of a 404 shows the page state with its status and fails.
    let o = bin().args(["open", &missing]).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stdout).contains("Status: HTTP 404"), "{}", String::from_utf8_lossy(&o.stdout));
    assert!(String::from_utf8_lossy(&o.stderr).contains("answered HTTP 404"));
    // A port where nothing listens is a failed navigation, not the proxy's page.
    let closed = common::refused_port();
    let o = bin().args(["open", &format!("http://127.0.0.1:{closed}/")]).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("net::ERR_CONNECTION_REFUSED"), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Temporary profiles errand left in `tmp`.
fn profiles(tmp: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(tmp)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with("errand-profile-"))
        .collect()
}

#[tokio::test]
async fn sigterm_and_ctrl_c_close_the_browser_remove_the_profile_and_end_the_recording() {
    let site = Site::start().await;
    let d = dirs();
    let tmp = tempfile::tempdir().unwrap();
    let model = script_model(&d, "slow.json", json!([{"tool": "wait", "args": {"ms": 9000}}, {"tool": "done", "args": {"summary": "x"}}]));
    let start = site.url("/index.html");
    for signal in [libc_signal::TERM, libc_signal::INT] {
        let mut c = errand(&d, &["slow", "--start", &start, "--model", &model], &[("TMPDIR", tmp.path().to_str().unwrap())]);
        c.stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        let pid = child.id().unwrap() as i32;
        // Wait until the run is under way (the first step is recorded).
        let rec_has_step = || {
            std::fs::read_dir(&d.rec)
                .ok()
                .and_then(|mut r| r.next())
                .and_then(|e| e.ok())
                .map(|e| std::fs::read_to_string(e.path().join("session.jsonl")).unwrap_or_default().contains("\"step\":1,"))
                .unwrap_or(false)
        };
        for _ in 0..300 {
            if rec_has_step() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(profiles(tmp.path()).len(), 1, "the run has a temporary profile");
        libc_signal::send(pid, signal);
        let status = tokio::time::timeout(Duration::from_secs(30), child.wait()).await.unwrap().unwrap();
        assert_eq!(status.code(), Some(1), "signal {signal}");
        let (dir, lines) = recording(&d.rec);
        let end = lines.last().unwrap();
        assert_eq!(end["type"], "session_end", "signal {signal}");
        assert!(end["summary"].as_str().unwrap().starts_with("stopped by"), "{end}");
        assert!(profiles(tmp.path()).is_empty(), "signal {signal} left {:?}", profiles(tmp.path()));
        std::fs::remove_dir_all(dir).unwrap();
    }
    // `open` and `extract` too: interrupted while a page never answers.
    for cmd in ["open", "extract"] {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_errand"))
            .args([cmd, &site.url("/never")])
            .env("TMPDIR", tmp.path())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        for _ in 0..300 {
            if !profiles(tmp.path()).is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(700)).await;
        libc_signal::send(child.id().unwrap() as i32, libc_signal::INT);
        let status = tokio::time::timeout(Duration::from_secs(30), child.wait()).await.unwrap().unwrap();
        assert_eq!(status.code(), Some(1), "{cmd}");
        assert!(profiles(tmp.path()).is_empty(), "{cmd} left {:?}", profiles(tmp.path()));
    }
}

/// Signals as a user's terminal or service manager sends them.
mod libc_signal {
    pub const TERM: i32 = libc::SIGTERM;
    pub const INT: i32 = libc::SIGINT;
    pub fn send(pid: i32, sig: i32) {
        // SAFETY: kill(2) with a child's pid touches no memory of this process.
        let r = unsafe { libc::kill(pid, sig) };
        assert_eq!(r, 0, "kill({pid}, {sig}) failed");
    }
}

#[tokio::test]
async fn the_models_files_are_never_replaced_by_errands_own() {
    let site = Site::start().await;
    let d = dirs();
    let model = script_model(
        &d,
        "script.json",
        json!([
            {"tool": "extract"},
            {"tool": "write_file", "args": {"path": "sources.json", "content": "{\"mine\": true}"}},
            {"tool": "write_file", "args": {"path": "notes//a.md", "content": "# Notes [1]"}},
            {"tool": "done", "args": {"summary": "wrote my own sources.json"}}
        ]),
    );
    let r = run(errand(&d, &["read", "--start", &site.url("/articles/otters.html"), "--model", &model], &[])).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(std::fs::read_to_string(d.out.join("sources.json")).unwrap(), "{\"mine\": true}");
    let map: Value = serde_json::from_str(&std::fs::read_to_string(d.out.join("sources (2).json")).unwrap()).unwrap();
    assert!(map["files"].as_array().unwrap().iter().any(|f| f["file"] == "notes/a.md"), "{map}");
    // A doubled slash is the same name, not a clash.
    assert!(r.stderr.contains("wrote 11 bytes to notes/a.md (") && !r.stderr.contains("not yours to overwrite"), "{}", r.stderr);
}

#[test]
fn help_names_every_value_the_environment_and_the_exit_codes() {
    let o = bin().args(["run", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success());
    for want in [
        "-s, --start <URL>",
        "-o, --out <DIR>",
        "-m, --model <MODEL>",
        "--record-dir <DIR>",
        "--confirm-timeout <SECONDS>",
        "--max-steps <N>",
        "--chrome <FILE>",
        "--profile <DIR>",
        "--allowlist <FILE>",
        "--cdp-url <URL>",
        "Examples:",
        "ANTHROPIC_API_KEY",
        "OPENAI_BASE_URL",
        "CHROME",
        "ERRAND_LOG",
        "Exit codes:",
    ] {
        assert!(help.contains(want), "run --help lacks {want:?}:\n{help}");
    }
    // Every option and argument says what it is.
    let mut last_was_flag = false;
    for line in help.lines() {
        let t = line.trim();
        if last_was_flag {
            assert!(!t.is_empty(), "an option without a description in:\n{help}");
        }
        last_was_flag = t.starts_with("--")
            || (t.len() > 3 && t.starts_with('-') && t.as_bytes()[2] == b',')
            || (t.starts_with('<') && t.ends_with('>'));
    }
    // Every subcommand's arguments and options say what they are (the short help puts the
    // description on the same line).
    for cmd in [
        &["demo"][..],
        &["extract"],
        &["open"],
        &["allow", "add"],
        &["allow", "remove"],
        &["allow", "check"],
        &["allow", "submit-add"],
        &["allow", "submit-remove"],
        &["recordings", "list"],
        &["recordings", "show"],
        &["recordings", "verify"],
        &["recordings", "report"],
        &["recordings", "export"],
    ] {
        let o = bin().args(cmd).arg("-h").output().unwrap();
        let help = String::from_utf8_lossy(&o.stdout);
        for line in help.lines().filter(|l| l.starts_with("  ") && matches!(l.trim_start().chars().next(), Some('-' | '<'))) {
            let t = line.trim();
            assert!(t.split("  ").filter(|p| !p.trim().is_empty()).count() > 1, "{cmd:?}: {t:?} has no description");
        }
    }
    let o = bin().args(["--cdp-url", "ftp://example", "open", "http://127.0.0.1:9/"]).output();
    let o = o.unwrap();
    assert_eq!(o.status.code(), Some(2));
    let o = bin().args(["open", "--cdp-url", "ftp://example", "http://127.0.0.1:9/"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("DevTools address"));
}

#[tokio::test]
async fn narration_reads_as_english_and_carries_no_colour_codes_off_a_terminal() {
    let site = Site::start().await;
    let d = dirs();
    let model = script_model(&d, "one.json", json!([{"tool": "done", "args": {"summary": "nothing to do"}}]));
    // A warning from the log is printed too (an unknown log target level is still a filter).
    let r = run(errand(&d, &["one step", "--start", &site.url("/index.html"), "--model", &model], &[("ERRAND_LOG", "warn,errand=debug")]))
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains("errand: errand"), "{}", r.stderr);
    assert!(r.stderr.contains("after 1 step in"), "{}", r.stderr);
    assert!(!r.stderr.contains('\u{1b}'), "colour codes in narration that is not on a terminal: {:?}", r.stderr);
}

#[test]
fn the_readme_installs_errand_and_the_license_it_declares_is_there() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    assert!(readme.contains("cargo install --path agent"), "the README says how to put errand on PATH");
    assert!(readme.contains("first build"), "the README says how long the first build takes");
    assert!(!readme.contains("(issue "), "internal issue numbers in the README");
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    assert!(manifest.contains("license = \"MIT OR Apache-2.0\""));
    for f in ["LICENSE-MIT", "LICENSE-APACHE"] {
        assert!(root.join(f).is_file(), "{f} is missing");
    }
}

#[tokio::test]
async fn the_builtin_policy_follows_the_sites_structure_and_fails_when_nothing_is_relevant() {
    let site = Site::start().await;
    let d = dirs();
    let start = site.url("/kayaks/index.html");
    // "Pricing" shares no word with the task: found through the site's navigation. The
    // gallery answers 404: noted as not read, never cited.
    let r = run(errand(&d, &["What do kayak rental plans cost and where can I see otters?", "--start", &start, "--model", "builtin"], &[]))
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report = std::fs::read_to_string(d.out.join("report.md")).unwrap();
    assert!(report.contains("25 euros") && report.contains("/kayaks/pricing.html>"), "{report}");
    assert!(report.contains("Otters are often seen"), "{report}");
    let not_read = report.split("## Not read").nth(1).unwrap_or_else(|| panic!("{report}"));
    assert!(not_read.contains("/kayaks/gallery.html>: the server answered HTTP 404"), "{report}");
    let sources = std::fs::read_to_string(d.out.join("sources.csv")).unwrap();
    assert!(!sources.contains("gallery"), "{sources}");
    // Nothing on the site answers the task: the run says so and fails.
    let d = dirs();
    let r = run(errand(&d, &["Which submarines does the harbour sell?", "--start", &start, "--model", "builtin"], &[])).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("nothing relevant to the task was found"), "{}", r.stderr);
    assert!(std::fs::read_to_string(d.out.join("report.md")).unwrap().contains("Nothing on the pages read matched"));
}

#[tokio::test]
async fn a_run_saves_downloads_in_its_output_folder() {
    let site = Site::start().await;
    let d = dirs();
    std::fs::create_dir_all(d.out.join("downloads")).unwrap();
    std::fs::write(d.out.join("downloads/report.txt"), "someone else's file").unwrap();
    let model = script_model(
        &d,
        "dl.json",
        json!([{"tool": "click", "args": {"text": "Download file"}}, {"tool": "wait", "args": {"ms": 1500}}, {"tool": "done", "args": {"summary": "downloaded"}}]),
    );
    let r = run(errand(&d, &["download the file", "--start", &site.url("/popup.html"), "--model", &model], &[])).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    // Named as the server suggested (report.txt), beside (never over) the file already there.
    assert_eq!(std::fs::read_to_string(d.out.join("downloads/report.txt")).unwrap(), "someone else's file");
    assert_eq!(std::fs::read_to_string(d.out.join("downloads/report (2).txt")).unwrap(), "hello download\n");
    assert!(r.stderr.contains("downloaded report (2).txt"), "{}", r.stderr);
    assert!(!r.stderr.contains("refused"), "{}", r.stderr);
    let (_, lines) = recording(&d.rec);
    assert!(lines.iter().any(|l| l["type"] == "file_written" && l["path"] == "downloads/report (2).txt"), "the download is recorded");
}

#[tokio::test]
async fn a_recorder_flow_stops_cleanly_on_sigterm() {
    let site = Site::start().await;
    let d = dirs();
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(&d.root).unwrap();
    let flow = d.root.join("wait.json");
    let steps = json!({"title": "waits", "steps": [{"type": "navigate", "url": site.url("/index.html")}, {"type": "waitForExpression", "expression": "window.neverSet === true", "timeout": 30000}]});
    std::fs::write(&flow, steps.to_string()).unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_errand"))
        .arg("replay")
        .arg(&flow)
        .arg("--record-dir")
        .arg(&d.rec)
        .env("TMPDIR", tmp.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Under way: the navigation (step 1) is recorded.
    for _ in 0..500 {
        let started = std::fs::read_dir(&d.rec)
            .ok()
            .and_then(|mut r| r.next())
            .and_then(|e| e.ok())
            .map(|e| std::fs::read_to_string(e.path().join("session.jsonl")).unwrap_or_default().contains("\"step\":1,"))
            .unwrap_or(false);
        if started {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    libc_signal::send(child.id().unwrap() as i32, libc_signal::TERM);
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait()).await.unwrap().unwrap();
    assert_eq!(status.code(), Some(1));
    let (_, lines) = recording(&d.rec);
    let end = lines.last().unwrap();
    assert_eq!((end["type"].as_str(), end["outcome"].as_str()), (Some("session_end"), Some("aborted")), "{end}");
    assert!(end["summary"].as_str().unwrap().contains("stopped by SIGTERM at step 2"), "{end}");
    assert!(profiles(tmp.path()).is_empty(), "left {:?}", profiles(tmp.path()));
}

#[tokio::test]
async fn chromiums_background_calls_stay_out_of_the_record_and_a_pages_calls_to_those_hosts_do_not() {
    let site = Site::start().await;
    let d = dirs();
    let model =
        script_model(&d, "look.json", json!([{"tool": "wait", "args": {"ms": 1500}}, {"tool": "done", "args": {"summary": "looked"}}]));
    let r = run(errand(&d, &["look", "--start", &site.url("/google-hosts.html"), "--model", &model], &[])).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let (_, lines) = recording(&d.rec);
    let blocked: Vec<(&str, &str)> =
        lines.iter().filter(|l| l["type"] == "blocked").map(|l| (l["url"].as_str().unwrap(), l["source"].as_str().unwrap())).collect();
    // Chromium's own update and account calls: stopped at launch, so none in the record.
    assert!(blocked.iter().all(|(_, source)| *source != "chromium"), "{blocked:?}");
    // The page's calls to the very same hosts are refused and recorded as the page's.
    assert!(blocked.iter().any(|(u, _)| u.starts_with("http://update.googleapis.com/pixel.gif")), "{blocked:?}");
    assert!(blocked.iter().any(|(u, _)| u.starts_with("https://accounts.google.com/ListAccounts")), "{blocked:?}");
}

// Multi-threaded: the fixture site must answer while this test waits on errand.
#[tokio::test(flavor = "multi_thread")]
async fn open_and_extract_only_read_a_page_that_posts_as_it_loads() {
    let site = Site::start().await;
    let page = site.url("/posts-on-load.html");
    let o = bin().args(["open", &page]).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(0), "{err}");
    // The page tried, and was refused.
    assert!(err.contains("route=onload-fetch"), "{err}");
    let o = bin().args(["extract", &page]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("must send none of them"));
    // Both commands have ended, and their browsers with them: nothing more can arrive.
    let sent: Vec<_> =
        site.requests().into_iter().filter(|r| r.method != "GET").map(|r| format!("{} {}?{}", r.method, r.path, r.query)).collect();
    assert!(sent.is_empty(), "state-changing requests reached the server: {sent:?}");
}

// Multi-threaded: the fixture site must answer while this test waits on errand.
#[tokio::test(flavor = "multi_thread")]
async fn short_passwords_and_credentials_in_a_base_url_are_never_recorded() {
    let site = Site::start().await;
    // A short password, typed and sent in a GET form's address.
    let d = dirs();
    let model = script_model(
        &d,
        "pw.json",
        json!([{"tool": "type", "args": {"selector": "#pw", "text": "Q7", "submit": true}}, {"tool": "done", "args": {"summary": "typed"}}]),
    );
    let r = run(errand(&d, &["sign in", "--start", &site.url("/form.html"), "--model", &model], &[])).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(site.requests().iter().any(|q| q.query.contains("pw=Q7")), "the form was sent with the password");
    let (dir, _) = recording(&d.rec);
    let everything = all_text(&dir);
    assert!(!everything.contains("pw=Q7") && !everything.contains("\"Q7\""), "the short password is in the recording");
    // A gateway address with credentials in it, unreachable: the error says so without them.
    let d = dirs();
    let closed = common::refused_port();
    let base = format!("http://gw-user:gw-TOKEN-4711@127.0.0.1:{closed}");
    let r = run(errand(
        &d,
        &["x", "--start", &site.url("/index.html"), "--model", "anthropic:claude-test"],
        &[("ANTHROPIC_API_KEY", "sk-test"), ("ANTHROPIC_BASE_URL", &base)],
    ))
    .await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("cannot reach"), "{}", r.stderr);
    let (dir, _) = recording(&d.rec);
    assert!(!all_text(&dir).contains("gw-TOKEN-4711") && !r.stderr.contains("gw-TOKEN-4711"), "{}", r.stderr);
}

#[tokio::test]
async fn a_lone_surrogate_neither_stalls_errand_nor_puts_the_pages_text_in_its_logs() {
    let site = Site::start().await;
    let d = dirs();
    let model = script_model(&d, "read.json", json!([{"tool": "extract"}, {"tool": "done", "args": {"summary": "read"}}]));
    let r = run(errand(&d, &["read", "--start", &site.url("/surrogate.html"), "--model", &model], &[])).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains("no answer within"), "a DevTools answer was dropped: {}", r.stderr);
    assert!(!r.stderr.contains("PAYLOAD-4711"), "the page's console text is in errand's log: {}", r.stderr);
    let (_, lines) = recording(&d.rec);
    let title = lines.iter().find(|l| l["type"] == "step" && l["tool"] == "extract").unwrap()["title"].as_str().unwrap().to_string();
    assert!(title.starts_with("Lone ") && title.ends_with(" title"), "{title}");
}

#[tokio::test]
async fn a_password_the_model_announces_before_typing_it_is_never_recorded() {
    let site = Site::start().await;
    let d = dirs();
    let server = vendor(
        "/v1/messages",
        vec![
            claude(
                "I will sign in with the password Hunter2Secret!",
                &[("t1", "type", json!({"selector": "#pw", "text": "Hunter2Secret!"}))],
            ),
            claude("Signed in; Hunter2Secret! worked.", &[("t2", "done", json!({"summary": "signed in"}))]),
        ],
    )
    .await;
    let r = run(errand(
        &d,
        &["sign in", "--start", &site.url("/form.html"), "--model", "anthropic:claude-test"],
        &[("ANTHROPIC_API_KEY", "sk-test"), ("ANTHROPIC_BASE_URL", &server.uri())],
    ))
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let (dir, lines) = recording(&d.rec);
    assert!(
        lines.iter().any(|l| l["type"] == "model_turn" && l["text"].as_str().unwrap().contains("password [secret]")),
        "the turn is recorded, redacted"
    );
    assert!(!all_text(&dir).contains("Hunter2Secret") && !r.stderr.contains("Hunter2Secret"), "{}", r.stderr);
}

#[tokio::test]
async fn a_password_field_that_turns_into_text_on_focus_stays_secret_in_every_file() {
    let site = Site::start().await;
    let d = dirs();
    // The page makes its password field a text field as it is focused; the model also
    // copies the code into a file it writes.
    let model = script_model(
        &d,
        "reveal.json",
        json!([
            {"tool": "type", "args": {"selector": "#code", "text": "Zx9-Vault-Code", "submit": true}},
            {"tool": "write_file", "args": {"path": "notes.md", "content": "# Notes\n\nUnlocked with Zx9-Vault-Code.\n"}},
            {"tool": "done", "args": {"summary": "unlocked"}}
        ]),
    );
    let r = run(errand(&d, &["unlock", "--start", &site.url("/reveal.html"), "--model", &model], &[])).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let (dir, lines) = recording(&d.rec);
    // The form was held (no terminal: declined), its field masked in the record.
    assert!(
        lines.iter().any(|l| l["type"] == "consent" && l["url"].as_str().unwrap_or_default().contains("route=reveal")),
        "the submission was held"
    );
    let report = recordings_cmd(&d.rec, &["report", dir.to_str().unwrap()]);
    assert!(report.status.success(), "{}", String::from_utf8_lossy(&report.stderr));
    let notes = std::fs::read_to_string(d.out.join("notes.md")).unwrap();
    assert!(notes.contains("Unlocked with [secret]."), "{notes}");
    for (what, text) in
        [("recording", all_text(&dir)), ("outputs", all_text(&d.out)), ("narration", r.stderr.clone()), ("--json", r.stdout.clone())]
    {
        assert!(!text.contains("Zx9-Vault-Code"), "the code is in the {what}");
    }
}

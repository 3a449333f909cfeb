//! Recordings: listed, shown, verified, reported; readable after kill -9; tampering located.

use std::path::Path;
use std::time::Duration;

use fixtures::Site;
use serde_json::{json, Value};

use crate::common::*;
use crate::replay::rechain;

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
    // Every browser step has a small picture beside the log (reading the demo's input
    // files, writing files and finishing are not in the browser).
    let in_browser = |t: &Value| !["write_file", "done", "read_input", "list_inputs"].contains(&t.as_str().unwrap_or_default());
    let steps: Vec<&Value> = lines.iter().filter(|l| l["type"] == "step" && in_browser(&l["tool"])).collect();
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
    assert!(
        shown.contains("[1] read_input")
            && shown.contains("] extract")
            && shown.contains("wrote report.md")
            && shown.contains("session end: done"),
        "{shown}"
    );
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
    let script = script_model(
        &d,
        "script.json",
        json!([{"tool": "extract"}, {"tool": "wait", "args": {"ms": 10000}}, {"tool": "done", "args": {"summary": "x"}}]),
    );
    let mut c = errand(&d, &["Read the otters page", "--start", &site.url("/articles/otters.html"), "--model", &script, "--json"], &[]);
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

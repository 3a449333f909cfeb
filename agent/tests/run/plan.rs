//! Plans a person approves: `errand run --dry-run` sends nothing and writes nothing into
//! the output folder, `errand plan` lists what it would do, and `errand replay --execute`
//! does exactly that (each planned submission once, the planned files byte for byte), and
//! stops when a page asks for anything the plan did not hold.

use std::path::Path;

use fixtures::Site;
use serde_json::{json, Value};

use crate::common::*;

const REPORT: &str = "# Newsletter\n\nSubscribed ann@example.org to the weekly letter.\n";
const TABLE: &str = "list,address\nweekly,ann@example.org\nmonthly,ann@example.org\n";

/// The requests that change something on the fixture site, as (query, body).
fn writes(site: &Site) -> Vec<(String, String)> {
    site.requests().into_iter().filter(|l| l.method != "GET").map(|l| (l.query, l.body)).collect()
}

/// A script that subscribes on `page`'s form, then writes a report and a table.
fn subscribe_then_write(d: &Dirs) -> String {
    script_model(
        d,
        "plan-script.json",
        json!([
            {"tool": "click", "args": {"text": "Subscribe"}},
            {"tool": "write_file", "args": {"path": "report.md", "content": REPORT}},
            {"tool": "write_file", "args": {"path": "tables/t.csv", "content": TABLE}},
            {"tool": "done", "args": {"summary": "subscribed and noted"}}
        ]),
    )
}

async fn errand_cmd(d: &Dirs, args: &[&str]) -> Ran {
    let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_errand"));
    c.args(args)
        .arg("--record-dir")
        .arg(&d.rec)
        .env("ERRAND_ALLOWLIST", d.root.join("allowlist.toml"))
        .env("ERRAND_SECRETS", d.root.join("secrets.json"))
        .env_remove("ANTHROPIC_API_KEY")
        .env_remove("OPENAI_API_KEY")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    run(c).await
}

fn id_of(dir: &Path) -> String {
    dir.file_name().unwrap().to_string_lossy().to_string()
}

/// The plan's files as (path, sha256), read from `errand plan --json`.
fn planned_files(plan: &Value) -> Vec<(String, String)> {
    plan["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["path"].as_str().unwrap().to_string(), f["sha256"].as_str().unwrap().to_string()))
        .collect()
}

/// A dry run of [`subscribe_then_write`] starting at `page` on a fixture site of its own:
/// the site, the test's folders, what errand printed, and the recording's id.
async fn dry_run(page: &str, extra: &[&str]) -> (Site, Dirs, Ran, String) {
    let site = Site::start().await;
    let d = dirs();
    allow_site(&d, &site);
    let script = subscribe_then_write(&d);
    let page = site.url(page);
    let args = [&["Subscribe Ann", "--start", &page, "--model", &script, "--dry-run"], extra].concat();
    let r = run(errand(&d, &args, &[])).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(writes(&site), vec![], "a dry run sends nothing");
    let (dir, _) = recording(&d.rec);
    let id = id_of(&dir);
    (site, d, r, id)
}

#[tokio::test]
async fn a_dry_run_plans_and_replay_execute_carries_the_plan_out_exactly() {
    // Even with --confirm approve, a dry run sends nothing.
    let (site, d, r, id) = dry_run("/consent.html", &["--confirm", "approve"]).await;
    assert!(!d.out.exists(), "a dry run leaves the output folder alone: {}", r.stderr);
    assert!(r.stderr.contains("would write report.md (") && r.stderr.contains("would write tables/t.csv (2 rows)"), "{}", r.stderr);
    assert!(r.stderr.contains("would have submitted: POST") && r.stderr.contains("route=scripted-fetch"), "{}", r.stderr);
    assert!(r.stderr.contains(&format!("errand replay {id} --execute --out {}", d.out.display())), "{}", r.stderr);

    // The plan, as a person reads it and as JSON.
    let text = errand_cmd(&d, &["plan", &id]).await;
    assert_eq!(text.code, 0, "{}", text.stderr);
    for want in
        ["submissions it would make (1)", "POST", "route=scripted-fetch", "files it would write", "report.md", "tables/t.csv (2 rows)"]
    {
        assert!(text.stdout.contains(want), "{want} in\n{}", text.stdout);
    }
    let json = errand_cmd(&d, &["plan", &id, "--json"]).await;
    assert_eq!(json.code, 0, "{}", json.stderr);
    let plan: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(plan["dry_run"], true);
    assert_eq!(plan["submissions"].as_array().unwrap().len(), 1, "{plan}");
    assert_eq!(plan["submissions"][0]["method"], "POST");
    let files = planned_files(&plan);
    let sha = |s: &str| recordings::sha256(s.as_bytes());
    assert!(files.contains(&("report.md".into(), sha(REPORT))) && files.contains(&("tables/t.csv".into(), sha(TABLE))), "{files:?}");

    // The report shows it as a plan.
    let report = recordings_cmd(&d.rec, &["report", &id]);
    assert!(report.status.success(), "{}", String::from_utf8_lossy(&report.stderr));
    let html = std::fs::read_to_string(String::from_utf8_lossy(&report.stdout).trim()).unwrap();
    assert!(html.contains("<h2>Plan</h2>") && html.contains("Files it would write") && html.contains("route=scripted-fetch"), "{html}");

    // Carried out: the one submission reaches the site once, and the files are the plan's.
    let out = d.root.join("carried-out");
    let rec_before = std::fs::read_dir(&d.rec).unwrap().count();
    let x = errand_cmd(&d, &["replay", &id, "--execute", "--confirm", "approve", "--out", out.to_str().unwrap()]).await;
    assert_eq!(x.code, 0, "{}", x.stderr);
    assert!(x.stderr.contains("the plan was carried out"), "{}", x.stderr);
    let w = writes(&site);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].0.contains("route=scripted-fetch") && w[0].1.contains("weekly"), "{w:?}");
    for (path, want) in &files {
        let got = recordings::sha256(&std::fs::read(out.join(path)).unwrap());
        assert_eq!(&got, want, "{path}");
    }
    assert_eq!(std::fs::read_dir(&d.rec).unwrap().count(), rec_before + 1, "the execution is recorded too");
}

#[tokio::test]
async fn execute_stops_when_a_page_asks_for_a_submission_the_plan_does_not_hold() {
    let (site, d, r, id) = dry_run("/plan-drift.html", &[]).await;
    assert!(r.stderr.contains("would have submitted: POST") && r.stderr.contains("route=drift"), "{}", r.stderr);

    // The page's form now posts to another address than the one planned: declined,
    // nothing reaches the site, and nothing planned after that step is written.
    let out = d.root.join("carried-out");
    let x = errand_cmd(&d, &["replay", &id, "--execute", "--confirm", "approve", "--out", out.to_str().unwrap()]).await;
    assert_eq!(x.code, 1, "{}", x.stderr);
    assert_eq!(writes(&site), vec![]);
    assert!(x.stderr.contains("diverged") && x.stderr.contains("planned and not sent: POST"), "{}", x.stderr);
    assert!(x.stderr.contains("the plan was not carried out in full"), "{}", x.stderr);
    // A plan is carried out exactly or not at all: nothing suggests going past the divergence.
    assert!(!x.stderr.contains("--keep-going"), "{}", x.stderr);
    assert!(!out.join("report.md").exists() && !out.join("tables/t.csv").exists(), "{}", x.stderr);
}

#[tokio::test]
async fn only_a_dry_run_has_a_plan_to_show_or_carry_out() {
    let site = Site::start().await;
    let d = dirs();
    allow_site(&d, &site);
    let script = script_model(&d, "s.json", json!([{"tool": "done", "args": {"summary": "nothing to do"}}]));
    let r = run(errand(&d, &["Nothing", "--start", &site.url("/consent.html"), "--model", &script], &[])).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let (dir, _) = recording(&d.rec);
    let id = id_of(&dir);
    let before = std::fs::read_dir(&d.rec).unwrap().count();
    let p = errand_cmd(&d, &["plan", &id]).await;
    assert_eq!(p.code, 2, "{}", p.stderr);
    assert!(p.stderr.contains("was not a dry run"), "{}", p.stderr);
    let x = errand_cmd(&d, &["replay", &id, "--execute", "--out", d.root.join("x").to_str().unwrap()]).await;
    assert_eq!(x.code, 2, "{}", x.stderr);
    assert!(x.stderr.contains("was not a dry run"), "{}", x.stderr);
    assert!(!d.root.join("x").exists());
    let nonsense = errand_cmd(&d, &["plan", "no-such-session"]).await;
    assert_eq!(nonsense.code, 2, "{}", nonsense.stderr);
    // Nothing was started: no new recording.
    assert_eq!(std::fs::read_dir(&d.rec).unwrap().count(), before);
}

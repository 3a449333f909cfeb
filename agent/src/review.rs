//! `errand recordings`: find, read and check session recordings.
//!
//! A recording is a folder (see the `recordings` crate); these commands never change its
//! log. `list` shows the newest first, `show` prints a readable timeline, `verify` tells a
//! complete, unaltered recording from an edited, truncated or reordered one and says where,
//! `report` writes one self-contained HTML page (pictures inlined, no network needed).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use recordings::flow;
use recordings::{Line, Record};
use serde_json::json;

use crate::tools;

#[derive(Subcommand, Debug)]
pub enum RecordingsCmd {
    /// Recordings, newest first: id, when, steps, outcome, task
    List {
        /// One JSON object per recording per line
        #[arg(long, short = 'j')]
        json: bool,
    },
    /// A recording's timeline, readable in the terminal
    Show {
        /// The recording: its id, a unique prefix of it, or its folder
        #[arg(value_name = "ID")]
        id: String,
    },
    /// Check that a recording is complete and unaltered: exit 0 if so, 1 if it was altered
    /// or damaged (saying where), 3 if it is intact but has no end (stopped early), 2 if
    /// there is no such recording
    Verify {
        /// The recording: its id, a unique prefix of it, or its folder
        #[arg(value_name = "ID")]
        id: String,
    },
    /// Write the recording as a Chrome DevTools Recorder / @puppeteer/replay user flow
    Export {
        /// The recording: its id, a unique prefix of it, or its folder
        #[arg(value_name = "ID")]
        id: String,
        /// The format: puppeteer-replay (the Recorder's JSON)
        #[arg(long, default_value = "puppeteer-replay")]
        format: String,
        /// Write here instead of stdout
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Write a self-contained HTML review of a recording (report.html in its folder)
    Report {
        /// The recording: its id, a unique prefix of it, or its folder
        #[arg(value_name = "ID")]
        id: String,
        /// Open it in the desktop's browser
        #[arg(long)]
        open: bool,
    },
}

pub fn run(cmd: RecordingsCmd, root: Option<PathBuf>) -> Result<ExitCode> {
    let root = root.unwrap_or_else(crate::session::default_record_root);
    // A recording that is not there is bad input (exit 2), like a mistyped id.
    let found = |id: &str| find(&root, id).map_err(|e| errln!("error: {e:#}"));
    match cmd {
        RecordingsCmd::List { json } => list(&root, json),
        RecordingsCmd::Show { id } => match found(&id) {
            Ok(d) => show(&d),
            Err(()) => Ok(ExitCode::from(crate::exit::BAD_INPUT)),
        },
        RecordingsCmd::Verify { id } => match found(&id) {
            Ok(d) => verify(&d),
            Err(()) => Ok(ExitCode::from(crate::exit::BAD_INPUT)),
        },
        RecordingsCmd::Export { id, format, out } => {
            if format != "puppeteer-replay" {
                bail!("unknown --format {format:?}; the one format is puppeteer-replay");
            }
            let Ok(dir) = found(&id) else { return Ok(ExitCode::from(crate::exit::BAD_INPUT)) };
            let (uf, skipped) = user_flow(&dir)?;
            let text = serde_json::to_string_pretty(&uf)?;
            // What errand writes must read back as a valid flow.
            recordings::flow::parse(&text).map_err(|e| anyhow::anyhow!("errand wrote an invalid flow ({e}); please report this"))?;
            match out {
                Some(p) => std::fs::write(&p, text + "\n").with_context(|| format!("cannot write {}", p.display()))?,
                None => outln!("{text}"),
            }
            for s in skipped {
                errln!("not exported: {s}");
            }
            Ok(ExitCode::SUCCESS)
        }
        RecordingsCmd::Report { id, open } => {
            let Ok(dir) = found(&id) else { return Ok(ExitCode::from(crate::exit::BAD_INPUT)) };
            let html = report(&dir)?;
            let path = dir.join("report.html");
            std::fs::write(&path, html).with_context(|| format!("cannot write {}", path.display()))?;
            outln!("{}", path.display());
            if open {
                let opened = std::process::Command::new("xdg-open").arg(&path).status();
                if !opened.is_ok_and(|s| s.success()) {
                    errln!("could not open it (no xdg-open); open {} in a browser", path.display());
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A recording by folder path, by id under the root, or by a unique prefix of an id.
pub fn find(root: &Path, id: &str) -> Result<PathBuf> {
    let p = PathBuf::from(id);
    if p.join(recordings::LOG).is_file() {
        return Ok(p);
    }
    if root.join(id).join(recordings::LOG).is_file() {
        return Ok(root.join(id));
    }
    let mut hits: Vec<PathBuf> =
        ids(root).into_iter().filter(|d| d.file_name().is_some_and(|n| n.to_string_lossy().starts_with(id))).collect();
    match hits.len() {
        1 => Ok(hits.remove(0)),
        0 => bail!("no recording {id:?} in {} (see `errand recordings list`, or pass a recording folder)", root.display()),
        n => bail!("{n} recordings start with {id:?}; give more of the id"),
    }
}

fn ids(root: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(root) else { return vec![] };
    rd.flatten().map(|e| e.path()).filter(|p| p.join(recordings::LOG).is_file()).collect()
}

fn when(ms: u64) -> String {
    chrono::DateTime::from_timestamp_millis(ms as i64).map(|d| d.format("%Y-%m-%d %H:%M:%S UTC").to_string()).unwrap_or_default()
}

struct Summary {
    id: String,
    t: u64,
    task: String,
    steps: usize,
    outcome: String,
}

fn summarise(dir: &Path) -> Option<Summary> {
    let r = recordings::read(dir).ok()?;
    let first = r.lines.first()?;
    let task = r.lines.iter().find_map(|l| match &l.record {
        Record::SessionStart { task, .. } => Some(task.clone()),
        _ => None,
    });
    let outcome = r.lines.iter().rev().find_map(|l| match &l.record {
        Record::SessionEnd { outcome, .. } => Some(outcome.clone()),
        _ => None,
    });
    Some(Summary {
        id: dir.file_name()?.to_string_lossy().to_string(),
        t: first.t,
        task: task.unwrap_or_default(),
        steps: r.lines.iter().filter(|l| matches!(l.record, Record::Step { .. })).count(),
        outcome: outcome.unwrap_or_else(|| "incomplete".into()),
    })
}

fn list(root: &Path, as_json: bool) -> Result<ExitCode> {
    let mut all: Vec<Summary> = ids(root).iter().filter_map(|d| summarise(d)).collect();
    all.sort_by(|a, b| b.t.cmp(&a.t).then(b.id.cmp(&a.id)));
    if as_json {
        for s in &all {
            outln!("{}", json!({"id": s.id, "started": when(s.t), "task": s.task, "steps": s.steps, "outcome": s.outcome}));
        }
        return Ok(ExitCode::SUCCESS);
    }
    if all.is_empty() {
        errln!("no recordings in {}", root.display());
        return Ok(ExitCode::SUCCESS);
    }
    outln!("{:<22} {:<24} {:>5}  {:<10} task", "id", "started", "steps", "outcome");
    for s in &all {
        outln!("{:<22} {:<24} {:>5}  {:<10} {}", s.id, when(s.t), s.steps, s.outcome, crate::text::one_line(&s.task, 70));
    }
    Ok(ExitCode::SUCCESS)
}

/// One line of the timeline for a record, or None for records not worth a line.
pub fn timeline_line(l: &Line, t0: u64) -> Option<String> {
    let at = format!("+{:>6.1}s", l.t.saturating_sub(t0) as f64 / 1000.0);
    let text = match &l.record {
        Record::SessionStart { session, task, model, allowlist, consent, errand_version, .. } => format!(
            "session {session} (errand {errand_version})\n          task: {task}\n          model: {model}; allowlist: {}; consent: {}",
            allowlist.join(", "),
            if consent.is_empty() { "not recorded" } else { consent }
        ),
        Record::ModelTurn { turn, text, tokens_in, tokens_out, ms, .. } if !text.trim().is_empty() => {
            format!("model turn {turn} ({ms} ms, {tokens_in} in / {tokens_out} out): {}", crate::text::one_line(text, 100))
        }
        Record::ModelTurn { .. } => return None,
        Record::Step { step, tool, args, ok, summary, url, ms, .. } => {
            let args =
                if args.as_object().is_some_and(|o| o.is_empty()) { String::new() } else { crate::text::one_line(&args.to_string(), 80) };
            format!(
                "[{step}] {tool} {args} → {}{} ({ms} ms)\n          at {url}",
                if *ok { "" } else { "error: " },
                crate::text::one_line(summary, 120)
            )
        }
        Record::Blocked { url, reason, layer, .. } => format!("blocked {url}: {reason} ({layer})"),
        Record::Extract { n, url, title, file, .. } => format!("extract [{n}] {title} — {url} (saved as {file})"),
        Record::FileWritten { path, bytes, sha256 } => {
            format!("wrote {path} ({bytes} bytes, sha256 {})", sha256.chars().take(12).collect::<String>())
        }
        Record::Flag { url, text } => format!("flagged text on {url}: {}", crate::text::one_line(text, 100)),
        Record::Consent { method, url, purpose, decision, by, .. } => format!("consent: {method} {url} ({purpose}) → {decision} by {by}"),
        Record::AllowPrompt { url, pattern, answer } => format!("allow prompt for {url} ({pattern}): {answer}"),
        Record::Error { message } => format!("error: {message}"),
        Record::SessionEnd { outcome, steps, summary, .. } => {
            format!("session end: {outcome} after {steps} steps: {}", crate::text::one_line(summary, 120))
        }
    };
    Some(format!("{at}  {text}"))
}

fn show(dir: &Path) -> Result<ExitCode> {
    let r = recordings::read(dir).with_context(|| format!("cannot read the recording in {}", dir.display()))?;
    outln!("recording {}", dir.display());
    if !r.skipped.is_empty() {
        outln!("  note: unreadable line(s) {:?} skipped (a torn last line means errand was stopped mid-write)", r.skipped);
    }
    if let Some(n) = r.broken_at {
        outln!("  note: the hash chain breaks at line {n}; run `errand recordings verify` for details");
    }
    let t0 = r.lines.first().map(|l| l.t).unwrap_or(0);
    for l in &r.lines {
        if let Some(s) = timeline_line(l, t0) {
            outln!("{s}");
        }
    }
    if !r.lines.iter().any(|l| matches!(l.record, Record::SessionEnd { .. })) {
        outln!("(no session end: the session was stopped before it finished)");
    }
    Ok(ExitCode::SUCCESS)
}

/// Does the recording verify (complete, unaltered)? Err says what is wrong, in one line.
pub fn check(dir: &Path) -> Result<(), String> {
    let v = verification(dir).map_err(|e| format!("{e:#}"))?;
    if let Some(p) = v.problems.first() {
        return Err(format!("it was altered or is damaged (line {}: {})", p.line, p.what));
    }
    if !v.complete {
        return Err("it has no end (the session was stopped before it finished)".into());
    }
    Ok(())
}

/// `verify`'s exit code for a log that was edited, reordered or damaged.
pub const VERIFY_ALTERED: u8 = 1;
/// `verify`'s exit code for a log that is intact but has no end (a session stopped early).
pub const VERIFY_INCOMPLETE: u8 = 3;

/// The recording's log checked, with the files it names read from inside its folder only.
/// Signatures are checked against this machine's recording key.
fn verification(dir: &Path) -> Result<recordings::Verdict> {
    let path = dir.join(recordings::LOG);
    let bytes = recordings::read_inside(dir, recordings::LOG).with_context(|| format!("cannot read {}", path.display()))?;
    let text = String::from_utf8_lossy(&bytes);
    let key = recordings::Key::load(&crate::session::data_dir())?;
    Ok(recordings::verify(&text, key.as_ref(), |file| recordings::read_inside(dir, file).ok().map(|b| recordings::sha256(&b))))
}

fn verify(dir: &Path) -> Result<ExitCode> {
    let v = verification(dir)?;
    for p in &v.problems {
        outln!("line {}: {}", p.line, p.what);
    }
    if v.ok() {
        outln!("{}: complete and unaltered ({} records)", dir.display(), v.records);
        return Ok(ExitCode::SUCCESS);
    }
    if !v.problems.is_empty() {
        if !v.complete {
            outln!("{}: incomplete: no session_end (stopped early, or truncated)", dir.display());
        }
        outln!("{}: altered or damaged: {} problem(s) above", dir.display(), v.problems.len());
        return Ok(ExitCode::from(VERIFY_ALTERED));
    }
    outln!("{}: incomplete: {} records and no session_end (stopped early, or truncated)", dir.display(), v.records);
    Ok(ExitCode::from(VERIFY_INCOMPLETE))
}

/// Text for HTML (element content and quoted attribute values).
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

const STYLE: &str = "body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:70rem;padding:0 1rem;color:#222}
h1{font-size:1.5rem}h2{margin-top:2rem;border-bottom:1px solid #ddd}code{font-size:.85em;word-break:break-all}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #eee;padding:.35rem;text-align:left;vertical-align:top}
.err{color:#a00}.ok{color:#070}td.done{background:#e8f5e9}td.blocked{background:#fde7e7}td.declined{background:#fff3e0}td.failed{background:#fde7e7;color:#a00}
.badge{font-size:.75em;font-weight:600;padding:.05rem .35rem;border-radius:.3rem;margin-right:.3rem;text-transform:uppercase}
.done .badge{background:#2e7d32;color:#fff}.blocked .badge{background:#c62828;color:#fff}.declined .badge{background:#ef6c00;color:#fff}.failed .badge{background:#b71c1c;color:#fff}
.md{border:1px solid #ddd;padding:0 1rem;border-radius:.3rem}.md table td,.md table th{border:1px solid #ddd}
.flag{background:#fff8e1}img.thumb{width:160px;cursor:zoom-in;border:1px solid #ccc}
img.thumb.big{width:100%;max-width:64rem;cursor:zoom-out}pre{white-space:pre-wrap;background:#f6f6f6;padding:.6rem;max-height:20rem;overflow:auto}
.meta{color:#555}.file{display:grid;grid-template-columns:1fr 1fr;gap:1rem}";

/// The review page's one script: thumbnails enlarge on click.
const REPORT_SCRIPT: &str =
    "for (const i of document.querySelectorAll('img.thumb')) i.addEventListener('click', () => i.classList.toggle('big'));";

/// How a blocked request made by no page (Chromium's own) is labelled.
pub const BACKGROUND: &str = "browser background";

/// A step's outcome for the eye: done, blocked (the allowlist stopped it or something it
/// caused), declined (a submission a person or policy said no to), or failed.
fn step_outcome(ok: bool, summary: &str) -> &'static str {
    let s = summary.to_ascii_lowercase();
    if s.contains("not on the allowlist") || s.contains("; blocked ") || s.starts_with("blocked") || s.contains("error: blocked") {
        "blocked"
    } else if s.contains("declined") || s.contains("denied") {
        "declined"
    } else if ok {
        "done"
    } else {
        "failed"
    }
}

/// A Markdown output file as HTML for the review page. Raw HTML in it is shown as text,
/// and links as their text and address (the page stays offline and loads nothing).
fn markdown(text: &str) -> String {
    use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
    let mut dest: Vec<String> = vec![];
    let events = Parser::new_ext(text, Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH).filter_map(|e| match e {
        Event::Html(h) | Event::InlineHtml(h) => Some(Event::Text(h)),
        Event::Start(Tag::Link { dest_url, .. }) => {
            dest.push(dest_url.to_string());
            None
        }
        Event::End(TagEnd::Link) => dest.pop().map(|u| Event::Code(format!(" <{u}>").into())),
        Event::Start(Tag::Image { dest_url, .. }) => Some(Event::Code(format!("[image {dest_url}]").into())),
        Event::End(TagEnd::Image) => None,
        e => Some(e),
    });
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, events);
    html
}

/// The review page of a recording: one HTML file with everything inlined (pictures as
/// data URIs, no scripts or styles from elsewhere, page addresses as text), so it opens
/// offline and sends nothing anywhere.
pub fn report(dir: &Path) -> Result<String> {
    let r = recordings::read(dir).with_context(|| format!("cannot read the recording in {}", dir.display()))?;
    let mut h = String::from(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">",
    );
    // No script runs but the page's own (allowed by its hash), no form goes anywhere, and
    // nothing loads: whatever a crafted recording smuggles in stays inert text.
    let script_hash = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        <sha2::Sha256 as sha2::Digest>::digest(REPORT_SCRIPT.as_bytes()),
    );
    h.push_str(&format!("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'sha256-{script_hash}'; form-action 'none'; base-uri 'none'\">"));
    let start = r.lines.iter().find(|l| matches!(l.record, Record::SessionStart { .. }));
    let task = start.and_then(|l| match &l.record {
        Record::SessionStart { task, .. } => Some(task.as_str()),
        _ => None,
    });
    h.push_str(&format!(
        "<title>errand recording: {}</title><style>{STYLE}</style></head><body>",
        esc(&crate::text::one_line(task.unwrap_or("?"), 80))
    ));
    h.push_str(&format!("<h1>{}</h1>", esc(task.unwrap_or("(no session start)"))));
    let mut out_dir = None;
    if let Some(l) = start {
        if let Record::SessionStart { session, model, allowlist, consent, errand_version, out_dir: o, browser, .. } = &l.record {
            out_dir = Some(PathBuf::from(o));
            h.push_str(&format!(
                "<p class=\"meta\" id=\"session\">Session <code>{}</code>, started {}; errand {}; model {}; browser {}<br>Allowlist: <code>{}</code><br>Consent: {}<br>Output folder: <code>{}</code></p>",
                esc(session),
                esc(&when(l.t)),
                esc(errand_version),
                esc(model),
                esc(browser),
                esc(&allowlist.join(", ")),
                esc(consent),
                esc(o)
            ));
        }
    }
    let end = r.lines.iter().rev().find_map(|l| match &l.record {
        Record::SessionEnd { outcome, steps, summary, .. } => {
            Some(format!("<p id=\"outcome\"><b>{}</b> after {steps} steps: {}</p>", esc(outcome), esc(summary)))
        }
        _ => None,
    });
    h.push_str(
        &end.unwrap_or_else(|| "<p id=\"outcome\" class=\"err\"><b>incomplete</b>: the session was stopped before it finished</p>".into()),
    );
    if !r.skipped.is_empty() || r.broken_at.is_some() {
        h.push_str(&format!("<p class=\"err\">This log has unreadable lines {:?} or a broken hash chain (at line {:?}); check it with <code>errand recordings verify</code>.</p>", r.skipped, r.broken_at));
    }

    h.push_str("<h2>Steps</h2><table id=\"steps\"><tr><th>#</th><th>intent and action</th><th>outcome</th><th>page after</th></tr>");
    let mut intent = String::new();
    for l in &r.lines {
        match &l.record {
            Record::ModelTurn { text, .. } => intent = text.clone(),
            Record::Step { step, tool, args, intent: i, ok, summary, url, title, screenshot, screenshot_sha256, ms, .. } => {
                let said = if i.is_empty() { &intent } else { i };
                let mut args = args.clone();
                if let Some(c) = args.get_mut("content").and_then(|c| c.as_str().map(|s| s.len())) {
                    args["content"] = serde_json::json!(format!("({c} bytes)"));
                }
                // Only a plain file of the recording that matches its recorded hash.
                let shot = screenshot
                    .as_ref()
                    .and_then(|f| recordings::read_inside(dir, f).ok())
                    .filter(|b| screenshot_sha256.as_deref() == Some(recordings::sha256(b).as_str()));
                let img = match shot {
                    Some(b) => format!(
                        "<br><img class=\"thumb\" alt=\"page after step {step}\" src=\"data:image/jpeg;base64,{}\">",
                        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, b)
                    ),
                    None => String::new(),
                };
                let outcome = step_outcome(*ok, summary);
                h.push_str(&format!(
                    "<tr class=\"step\"><td>{step}</td><td>{}<br><code>{} {}</code></td><td class=\"{outcome}\"><span class=\"badge\">{outcome}</span>{} <span class=\"meta\">({ms} ms)</span></td><td>{}<br><code>{}</code>{img}</td></tr>",
                    esc(&crate::text::one_line(said, 200)),
                    esc(tool),
                    esc(&crate::text::one_line(&args.to_string(), 200)),
                    esc(summary),
                    esc(title),
                    esc(url)
                ));
            }
            _ => {}
        }
    }
    h.push_str("</table>");

    let flags: Vec<&Line> = r.lines.iter().filter(|l| matches!(l.record, Record::Flag { .. })).collect();
    h.push_str(&format!("<h2>Flagged page text ({})</h2><p class=\"meta\">Text on pages that reads like instructions to an agent. It was shown to the model as untrusted data, never as instructions.</p><table id=\"flags\"><tr><th>page</th><th>text</th></tr>", flags.len()));
    for l in flags {
        if let Record::Flag { url, text } = &l.record {
            h.push_str(&format!("<tr class=\"flag\"><td><code>{}</code></td><td>{}</td></tr>", esc(url), esc(text)));
        }
    }
    h.push_str("</table>");

    // The page's blocked requests first; the browser's own background traffic (update and
    // account services, no page behind it) apart, so it neither alarms nor hides anything.
    let (background, blocked): (Vec<&Line>, Vec<&Line>) = r
        .lines
        .iter()
        .filter(|l| matches!(l.record, Record::Blocked { .. }))
        .partition(|l| matches!(&l.record, Record::Blocked { source, .. } if source == BACKGROUND || source == "chromium"));
    h.push_str(&format!(
        "<h2>Blocked requests ({})</h2><table id=\"blocked\"><tr><th>address</th><th>why</th><th>layer</th></tr>",
        blocked.len()
    ));
    for l in blocked {
        if let Record::Blocked { url, reason, layer, source, .. } = &l.record {
            h.push_str(&format!(
                "<tr><td><code>{}</code></td><td>{}</td><td>{} ({})</td></tr>",
                esc(url),
                esc(reason),
                esc(layer),
                esc(source)
            ));
        }
    }
    h.push_str("</table>");
    if !background.is_empty() {
        h.push_str(&format!("<details id=\"background\"><summary>Browser background requests, blocked ({})</summary><p class=\"meta\">Chromium's own calls to its update and account services; no page sent them.</p><ul>", background.len()));
        for l in background {
            if let Record::Blocked { url, .. } = &l.record {
                h.push_str(&format!("<li><code>{}</code></li>", esc(url)));
            }
        }
        h.push_str("</ul></details>");
    }

    let consents: Vec<&Line> = r.lines.iter().filter(|l| matches!(l.record, Record::Consent { .. })).collect();
    h.push_str(&format!(
        "<h2>Consent decisions ({})</h2><table id=\"consent\"><tr><th>request</th><th>purpose and fields</th><th>decision</th></tr>",
        consents.len()
    ));
    for l in consents {
        if let Record::Consent { method, url, purpose, fields, decision, by, .. } = &l.record {
            let f: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let class = if decision.starts_with("allow") || decision.starts_with("approve") || decision.starts_with("sent") {
                "done"
            } else {
                "declined"
            };
            h.push_str(&format!(
                "<tr><td><code>{} {}</code></td><td>{}<br><code>{}</code></td><td class=\"{class}\">{} (by {})</td></tr>",
                esc(method),
                esc(url),
                esc(purpose),
                esc(&f.join(" ")),
                esc(decision),
                esc(by)
            ));
        }
    }
    h.push_str("</table>");

    // Extracts, then each output file beside the extracts it cites.
    let mut extracts: Vec<(u32, String, String, String)> = vec![];
    for l in &r.lines {
        if let Record::Extract { n, url, title, file, sha256, .. } = &l.record {
            let md = recordings::read_inside(dir, file)
                .ok()
                .filter(|b| recordings::sha256(b) == *sha256)
                .map(|b| String::from_utf8_lossy(&b).to_string())
                .unwrap_or_default();
            extracts.push((*n, url.clone(), title.clone(), md));
        }
    }
    h.push_str(&format!("<h2>Extracts ({})</h2>", extracts.len()));
    for (n, url, title, md) in &extracts {
        h.push_str(&format!(
            "<details class=\"extract\" id=\"extract-{n}\"><summary>[{n}] {} — <code>{}</code></summary><pre>{}</pre></details>",
            esc(title),
            esc(url),
            esc(md)
        ));
    }
    // errand's map of sources is the last sources*.json it wrote (a model may have taken
    // the plain name for a file of its own).
    // It is read only while it matches its recorded hash, like every file shown.
    let map = r.lines.iter().rev().find_map(|l| match &l.record {
        Record::FileWritten { path, sha256, .. } if path.starts_with("sources") && path.ends_with(".json") => {
            Some((path.clone(), sha256.clone()))
        }
        _ => None,
    });
    let cites: serde_json::Value = out_dir
        .as_ref()
        .zip(map.and_then(|(m, sha)| crate::output::check_path(&m).ok().map(|p| (p, sha))))
        .and_then(|(o, (m, sha))| std::fs::read(o.join(m)).ok().filter(|b| recordings::sha256(b) == sha))
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let files: Vec<&Line> = r.lines.iter().filter(|l| matches!(l.record, Record::FileWritten { .. })).collect();
    h.push_str(&format!("<h2>Files written ({})</h2>", files.len()));
    for l in files {
        if let Record::FileWritten { path, sha256, bytes } = &l.record {
            let content =
                out_dir.as_ref().and_then(|o| crate::output::check_path(path).ok().map(|p| o.join(p))).and_then(|p| std::fs::read(p).ok());
            let note = match &content {
                Some(c) if recordings::sha256(c) == *sha256 => String::new(),
                Some(_) => " <span class=\"err\">(changed since the run)</span>".into(),
                None => " <span class=\"meta\">(not found in the output folder)</span>".into(),
            };
            let used: Vec<String> = cites["files"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|f| f["file"] == path.as_str())
                .flat_map(|f| f["sources"].as_array().cloned().unwrap_or_default())
                .filter_map(|s| s["n"].as_u64().map(|n| (n, s)))
                .map(|(n, s)| {
                    format!(
                        "<li><a href=\"#extract-{n}\">[{n}]</a> {} — <code>{}</code></li>",
                        esc(s["title"].as_str().unwrap_or_default()),
                        esc(s["url"].as_str().unwrap_or_default())
                    )
                })
                .collect();
            // Only a file that still matches its recorded hash is shown: a recording from
            // elsewhere cannot make the report copy in some other file of this machine.
            let text =
                content.filter(|c| recordings::sha256(c) == *sha256).map(|c| String::from_utf8_lossy(&c).to_string()).unwrap_or_default();
            let shown = if path.ends_with(".md") && !text.is_empty() {
                format!("<div class=\"md\">{}</div>", markdown(&text))
            } else {
                format!("<pre>{}</pre>", esc(&text))
            };
            h.push_str(&format!(
                "<div class=\"file\" data-path=\"{}\"><div><h3><code>{}</code> ({bytes} bytes){note}</h3>{shown}</div><div><h3>Cites</h3><ul>{}</ul></div></div>",
                esc(path),
                esc(path),
                if used.is_empty() { "<li>no extracts</li>".to_string() } else { used.join("") }
            ));
        }
    }
    h.push_str(&format!("<script>{REPORT_SCRIPT}</script></body></html>"));
    Ok(h)
}

/// Recorder selectors for a recorded locator, most specific first: the CSS path (one part
/// per shadow root, as the Recorder writes pierced selectors), `aria/Name[role="r"]`, and
/// `text/…` when the element shows text.
fn selectors(loc: &serde_json::Value) -> Vec<flow::Selector> {
    let mut out = vec![];
    let css: Vec<String> =
        loc["css"].as_array().map(|a| a.iter().filter_map(|c| c.as_str().map(str::to_string)).collect()).unwrap_or_default();
    if !css.is_empty() {
        out.push(flow::Selector::Parts(css));
    }
    let (role, name) = (loc["role"].as_str().unwrap_or_default(), loc["name"].as_str().unwrap_or_default());
    if !name.is_empty() {
        out.push(flow::Selector::Parts(vec![if role.is_empty() {
            format!("aria/{name}")
        } else {
            format!("aria/{name}[role=\"{role}\"]")
        }]));
    }
    if let Some(t) = loc["text"].as_str().filter(|t| !t.is_empty() && t.len() < 64) {
        out.push(flow::Selector::Parts(vec![format!("text/{t}")]));
    }
    out
}

/// The recording as a @puppeteer/replay `UserFlow`, and the steps that have no
/// equivalent there (history moves, extracts, files), named.
pub fn user_flow(dir: &Path) -> Result<(flow::UserFlow, Vec<String>)> {
    use flow::{Common, Step as F};
    let rec = crate::model::replay::load(dir).map_err(|e| anyhow::anyhow!(e))?;
    let mut steps = vec![F::SetViewport {
        width: 1280,
        height: 720,
        device_scale_factor: 1.0,
        is_mobile: false,
        has_touch: false,
        is_landscape: true,
        common: Common::default(),
    }];
    let mut skipped = vec![];
    if let Some(start) = &rec.start {
        steps.push(F::Navigate { url: start.clone(), common: Common { asserted_events: tools::navigation(start), ..Common::default() } });
    }
    let mut here = rec.start.clone().unwrap_or_default();
    for s in &rec.steps {
        let before = std::mem::replace(&mut here, s.url.clone());
        let loc = s.locator.clone().unwrap_or_default();
        // Inside a frame: the Recorder's child-index path (recorded since errand knows it).
        let in_frame = loc["frames"].as_array().is_some_and(|f| !f.is_empty());
        let frame: Option<Vec<usize>> = serde_json::from_value(loc["frame_index"].clone()).ok().filter(|f: &Vec<usize>| !f.is_empty());
        if in_frame && frame.is_none() {
            skipped.push(format!("step {} ({}) acts inside a frame, and this recording predates frame indexes", s.n, s.tool));
            continue;
        }
        let at = Common { frame: frame.clone(), ..Common::default() };
        let offset = serde_json::from_value::<[f64; 2]>(loc["offset"].clone()).unwrap_or([1.0, 1.0]);
        let moved = s.url != before && !s.url.is_empty() && frame.is_none();
        let recorded = tools::Recorded { args: &s.args, selectors: selectors(&loc), at, offset, url: &s.url, moved };
        match tools::export(&s.tool, &recorded) {
            Some(more) => steps.extend(more),
            None => skipped.push(format!("step {} ({}) has no Recorder equivalent", s.n, s.tool)),
        }
    }
    Ok((flow::UserFlow { title: rec.task, timeout: None, selector_attribute: None, steps }, skipped))
}

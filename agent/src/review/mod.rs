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

mod export;
pub mod plan;
mod report;

pub use export::user_flow;
pub use report::report;

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
        Record::InputRead { n, path, sha256, bytes, part } => {
            format!("input [{n}] {path} part {part} ({bytes} bytes, sha256 {})", sha256.chars().take(12).collect::<String>())
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

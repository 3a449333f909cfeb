//! `errand recordings`: find, read and check session recordings.
//!
//! A recording is a folder (see the `recordings` crate); these commands never change one.
//! `list` shows the newest first, `show` prints a readable timeline, `verify` tells a
//! complete, unaltered recording from an edited, truncated or reordered one and says where.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use recordings::{Line, Record};
use serde_json::json;

#[derive(Subcommand, Debug)]
pub enum RecordingsCmd {
    /// Recordings, newest first: id, when, steps, outcome, task
    List {
        #[arg(long)]
        json: bool,
    },
    /// A recording's timeline, readable in the terminal
    Show { id: String },
    /// Check that a recording is complete and unaltered (exit 1 if not, saying where)
    Verify { id: String },
}

pub fn run(cmd: RecordingsCmd, root: Option<PathBuf>) -> Result<ExitCode> {
    let root = root.unwrap_or_else(crate::run::default_record_root);
    match cmd {
        RecordingsCmd::List { json } => list(&root, json),
        RecordingsCmd::Show { id } => show(&find(&root, &id)?),
        RecordingsCmd::Verify { id } => verify(&find(&root, &id)?),
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
    let mut hits: Vec<PathBuf> = ids(root).into_iter().filter(|d| d.file_name().is_some_and(|n| n.to_string_lossy().starts_with(id))).collect();
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
            println!("{}", json!({"id": s.id, "started": when(s.t), "task": s.task, "steps": s.steps, "outcome": s.outcome}));
        }
        return Ok(ExitCode::SUCCESS);
    }
    if all.is_empty() {
        eprintln!("no recordings in {}", root.display());
        return Ok(ExitCode::SUCCESS);
    }
    println!("{:<22} {:<24} {:>5}  {:<10} task", "id", "started", "steps", "outcome");
    for s in &all {
        println!("{:<22} {:<24} {:>5}  {:<10} {}", s.id, when(s.t), s.steps, s.outcome, crate::run::one_line(&s.task, 70));
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
            format!("model turn {turn} ({ms} ms, {tokens_in} in / {tokens_out} out): {}", crate::run::one_line(text, 100))
        }
        Record::ModelTurn { .. } => return None,
        Record::Step { step, tool, args, ok, summary, url, ms, .. } => {
            let args = if args.as_object().is_some_and(|o| o.is_empty()) { String::new() } else { crate::run::one_line(&args.to_string(), 80) };
            format!("[{step}] {tool} {args} → {}{} ({ms} ms)\n          at {url}", if *ok { "" } else { "error: " }, crate::run::one_line(summary, 120))
        }
        Record::Blocked { url, reason, layer, .. } => format!("blocked {url}: {reason} ({layer})"),
        Record::Extract { n, url, title, file, .. } => format!("extract [{n}] {title} — {url} (saved as {file})"),
        Record::FileWritten { path, bytes, sha256 } => format!("wrote {path} ({bytes} bytes, sha256 {})", &sha256[..sha256.len().min(12)]),
        Record::Flag { url, text } => format!("flagged text on {url}: {}", crate::run::one_line(text, 100)),
        Record::Consent { method, url, purpose, decision, by, .. } => format!("consent: {method} {url} ({purpose}) → {decision} by {by}"),
        Record::AllowPrompt { url, pattern, answer } => format!("allow prompt for {url} ({pattern}): {answer}"),
        Record::Error { message } => format!("error: {message}"),
        Record::SessionEnd { outcome, steps, summary, .. } => format!("session end: {outcome} after {steps} steps: {}", crate::run::one_line(summary, 120)),
    };
    Some(format!("{at}  {text}"))
}

fn show(dir: &Path) -> Result<ExitCode> {
    let r = recordings::read(dir).with_context(|| format!("cannot read the recording in {}", dir.display()))?;
    println!("recording {}", dir.display());
    if !r.skipped.is_empty() {
        println!("  note: unreadable line(s) {:?} skipped (a torn last line means errand was stopped mid-write)", r.skipped);
    }
    if let Some(n) = r.broken_at {
        println!("  note: the hash chain breaks at line {n}; run `errand recordings verify` for details");
    }
    let t0 = r.lines.first().map(|l| l.t).unwrap_or(0);
    for l in &r.lines {
        if let Some(s) = timeline_line(l, t0) {
            println!("{s}");
        }
    }
    if !r.lines.iter().any(|l| matches!(l.record, Record::SessionEnd { .. })) {
        println!("(no session end: the session was stopped before it finished)");
    }
    Ok(ExitCode::SUCCESS)
}

fn verify(dir: &Path) -> Result<ExitCode> {
    let path = dir.join(recordings::LOG);
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let v = recordings::verify(&text, |file| {
        // Only files inside the recording folder are looked at.
        let rel = crate::output::check_path(file).ok()?;
        std::fs::read(dir.join(rel)).ok().map(|b| recordings::sha256(&b))
    });
    for p in &v.problems {
        println!("line {}: {}", p.line, p.what);
    }
    if v.ok() {
        println!("{}: complete and unaltered ({} records)", dir.display(), v.records);
        return Ok(ExitCode::SUCCESS);
    }
    if !v.complete {
        println!("{}: incomplete: {} records and no session_end (stopped early, or truncated)", dir.display(), v.records);
    }
    if !v.problems.is_empty() {
        println!("{}: altered or damaged: {} problem(s) above", dir.display(), v.problems.len());
    }
    Ok(ExitCode::from(1))
}

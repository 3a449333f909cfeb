//! `errand plan`: what a dry run would have done, for a person to approve before
//! `errand replay ID --execute` does it.
//!
//! Read from the recording's signed log alone (the steps, the submissions the dry run
//! declined, the files it wrote into its plan folder); the plan folder's files only lend
//! a CSV its row count, and only while they match the hash the log has for them.

use std::path::Path;

use recordings::{Line, Record};
use serde::Serialize;

use crate::tools;

/// A dry run's plan.
#[derive(Debug, Default, Serialize, PartialEq)]
pub struct Plan {
    pub session: String,
    pub task: String,
    pub dry_run: bool,
    /// How the dry run ended (`done`, `failed`, …), or `incomplete`.
    pub outcome: String,
    pub steps: Vec<PlanStep>,
    pub submissions: Vec<PlanSubmission>,
    pub files: Vec<PlanFile>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct PlanStep {
    pub step: u32,
    pub intent: String,
    /// The tool and its target, as the narration says it ("click button \"Send\"").
    pub action: String,
    pub ok: bool,
}

/// A submission the dry run declined, as it would have been sent (secrets masked).
#[derive(Debug, Serialize, PartialEq)]
pub struct PlanSubmission {
    /// The step it came during (0: before the first).
    pub step: u32,
    pub method: String,
    pub url: String,
    pub purpose: String,
    pub fields: Vec<(String, String)>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct PlanFile {
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
    /// "4.2 KB", or "12 rows" for a CSV.
    pub size: String,
}

/// The plan in a recording's lines; `read` gives a planned file's bytes, if it has them.
pub fn of(lines: &[Line], read: impl Fn(&str) -> Option<Vec<u8>>) -> Plan {
    let mut plan = Plan { outcome: "incomplete".into(), ..Plan::default() };
    // Step records are logged when the step ends; a submission during it comes first.
    let mut step = 1;
    for l in lines {
        match &l.record {
            Record::SessionStart { session, task, dry_run, .. } => {
                plan.session = session.clone();
                plan.task = task.clone();
                plan.dry_run = *dry_run;
            }
            Record::Step { step: n, tool, args, intent, ok, .. } => {
                if *n > 0 {
                    plan.steps.push(PlanStep { step: *n, intent: intent.clone(), action: tools::describe(tool, Some(args)), ok: *ok });
                }
                step = n + 1;
            }
            Record::Consent { method, url, purpose, fields, by, .. } if by == "dry run" => plan.submissions.push(PlanSubmission {
                step,
                method: method.clone(),
                url: url.clone(),
                purpose: purpose.clone(),
                fields: fields.clone(),
            }),
            Record::FileWritten { path, sha256, bytes } => {
                let content = read(path).filter(|c| recordings::sha256(c) == *sha256);
                let size = crate::output::size_of(path, content.as_deref()).unwrap_or_else(|| crate::output::human_size(*bytes));
                plan.files.push(PlanFile { path: path.clone(), bytes: *bytes, sha256: sha256.clone(), size });
            }
            Record::SessionEnd { outcome, .. } => plan.outcome = outcome.clone(),
            _ => {}
        }
    }
    plan
}

/// The plan of the recording in `dir`, its files read from its plan folder.
pub fn load(dir: &Path) -> anyhow::Result<Plan> {
    use anyhow::Context;
    let r = recordings::read(dir).with_context(|| format!("cannot read the recording in {}", dir.display()))?;
    Ok(in_folder(&r.lines, &dir.join(crate::run::PLAN_DIR)))
}

/// [`of`], the planned files read from `folder` (a dry run's plan folder).
pub fn in_folder(lines: &[Line], folder: &Path) -> Plan {
    of(lines, |p| crate::output::check_path(p).ok().and_then(|rel| std::fs::read(folder.join(rel)).ok()))
}

/// `errand plan ID`: the plan on stdout, as text or (`--json`) one JSON object.
pub fn command(id: &str, json: bool, root: Option<std::path::PathBuf>) -> std::process::ExitCode {
    use std::process::ExitCode;
    let root = root.unwrap_or_else(crate::session::default_record_root);
    let dir = match super::find(&root, id) {
        Ok(d) => d,
        Err(e) => {
            errln!("error: {e:#}");
            return ExitCode::from(crate::exit::BAD_INPUT);
        }
    };
    let name = dir.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let p = match load(&dir) {
        Ok(p) => p,
        Err(e) => {
            errln!("error: {e:#}");
            return ExitCode::from(crate::exit::BAD_INPUT);
        }
    };
    if !p.dry_run {
        errln!("error: {name} was not a dry run, so it has no plan; `errand recordings show {name}` shows what it did, and `errand run --dry-run …` makes a plan");
        return ExitCode::from(crate::exit::BAD_INPUT);
    }
    // A plan that does not verify is shown, with a warning: replay --execute refuses it.
    if let Err(why) = super::check(&dir) {
        errln!("warning: {name}: {why}; errand replay --execute will not carry out this plan");
    }
    if json {
        match serde_json::to_string(&p) {
            Ok(j) => outln!("{j}"),
            Err(e) => {
                errln!("error: the plan could not be written as JSON: {e}");
                return ExitCode::from(1);
            }
        }
    } else {
        outln!("{}", text(&p, &name).trim_end());
    }
    ExitCode::SUCCESS
}

/// The plan for the terminal.
pub fn text(p: &Plan, id: &str) -> String {
    use crate::consent::shown;
    let mut t = format!("plan {id}: {}\n", shown(&p.task, 300));
    if p.outcome != "done" {
        t.push_str(&format!("  the dry run ended {}: the plan may be incomplete\n", p.outcome));
    }
    t.push_str(&format!("\nsteps ({}):\n", p.steps.len()));
    for s in &p.steps {
        let intent = if s.intent.is_empty() { String::new() } else { format!(" — {}", shown(&s.intent, 120)) };
        t.push_str(&format!("  {:>3}. {}{intent}{}\n", s.step, shown(&s.action, 120), if s.ok { "" } else { " (failed)" }));
    }
    t.push_str(&format!("\nsubmissions it would make ({}):\n", p.submissions.len()));
    if p.submissions.is_empty() {
        t.push_str("  none\n");
    }
    for s in &p.submissions {
        let purpose = if s.purpose.is_empty() { String::new() } else { format!(" ({})", shown(&s.purpose, 80)) };
        t.push_str(&format!("  at step {}: {} {}{purpose}\n", s.step, shown(&s.method, 10), shown(&s.url, 300)));
        for (k, v) in &s.fields {
            t.push_str(&format!("      {} = {}\n", shown(k, 60), shown(v, 120)));
        }
    }
    t.push_str(&format!("\nfiles it would write ({}):\n", p.files.len()));
    if p.files.is_empty() {
        t.push_str("  none\n");
    }
    for f in &p.files {
        t.push_str(&format!("  {} ({})\n", shown(&f.path, 200), f.size));
    }
    t.push_str(&format!(
        "\nto carry it out: errand replay {id} --execute --out DIR (each submission is still put to you, unless --confirm approve)\n"
    ));
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn line(record: Record) -> Line {
        Line { v: 1, seq: 0, t: 0, prev: String::new(), record, hash: String::new(), mac: String::new() }
    }

    #[test]
    fn a_plan_lists_steps_declined_submissions_and_files() {
        let step = |n: u32, tool: &str, args| Record::Step {
            step: n,
            tool: tool.into(),
            args,
            intent: "send the form".into(),
            ok: true,
            summary: String::new(),
            url_before: String::new(),
            title_before: String::new(),
            url: String::new(),
            title: String::new(),
            locator: None,
            screenshot: None,
            screenshot_sha256: None,
            ms: 1,
        };
        let consent = |by: &str| Record::Consent {
            method: "POST".into(),
            url: "http://a.test/echo".into(),
            page: String::new(),
            purpose: "Sign in".into(),
            fields: vec![("user".into(), "ann".into()), ("password".into(), "[redacted]".into())],
            decision: "deny".into(),
            by: by.into(),
        };
        let csv = b"plan,price\nA,1\nB,2\n".to_vec();
        let lines = vec![
            line(step(0, "navigate", json!({"url": "http://a.test/"}))),
            line(consent("dry run")),
            line(step(1, "click", json!({"text": "Sign in"}))),
            // Declined by a person, not planned: not in the plan.
            line(consent("person")),
            line(step(2, "write_file", json!({"path": "t.csv", "content": "…"}))),
            line(Record::FileWritten { path: "t.csv".into(), sha256: recordings::sha256(&csv), bytes: csv.len() as u64 }),
            line(Record::FileWritten { path: "gone.md".into(), sha256: "x".into(), bytes: 4300 }),
        ];
        let p = of(&lines, |path| (path == "t.csv").then(|| csv.clone()));
        assert_eq!(p.outcome, "incomplete");
        assert_eq!(p.steps.len(), 2, "step 0 is errand's own opening of the start page");
        assert_eq!(p.steps[0].action, tools::describe("click", Some(&json!({"text": "Sign in"}))));
        assert_eq!(p.submissions.len(), 1);
        assert_eq!(p.submissions[0].step, 1, "the submission came during step 1");
        let sizes: Vec<(&str, &str)> = p.files.iter().map(|f| (f.path.as_str(), f.size.as_str())).collect();
        assert_eq!(sizes, vec![("t.csv", "2 rows"), ("gone.md", "4.2 KB")]);
        let t = text(&p, "ID");
        assert!(t.contains("at step 1: POST http://a.test/echo (Sign in)\n      user = ann\n      password = [redacted]"), "{t}");
        assert!(t.contains("  t.csv (2 rows)\n  gone.md (4.2 KB)"), "{t}");
        assert!(t.contains("may be incomplete"), "{t}");
    }
}

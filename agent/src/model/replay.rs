//! `errand replay`: a recorded session's steps issued again, in order, without a model.
//!
//! Each step goes through the same agent loop as a model's call, so the allowlist, consent
//! and output-folder rules apply again. Elements are found by their durable locators (role
//! and accessible name, then the CSS path), never by the recorded ref, which is stale.
//! After each step the page must be where the recording's was (same URL, and the step
//! must succeed where it did); a divergence stops the replay with the step, what was
//! expected and what was found, or is noted and passed over with `--keep-going`.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use recordings::Record;
use serde_json::{json, Value};

use super::{ProviderError, Reply, Request, ToolCall, Turn};

/// One recorded step to issue again.
#[derive(Debug, Clone)]
pub struct Step {
    pub n: u32,
    pub tool: String,
    pub args: Value,
    pub intent: String,
    pub ok: bool,
    pub url: String,
    pub locator: Option<Value>,
    /// Milliseconds from the previous step's record to this one's (for `--speed`).
    pub gap_ms: u64,
    /// The SHA-256 of the input file the step read, if it read one.
    pub input_sha256: Option<String>,
}

/// What a replay needs from a recording.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub task: String,
    /// The page the session started on (before its first step).
    pub start: Option<String>,
    pub steps: Vec<Step>,
    /// Files the session wrote: (path, SHA-256).
    pub files: Vec<(String, String)>,
    /// A dry run (`errand run --dry-run`), whose plan `replay --execute` carries out.
    pub dry_run: bool,
    /// The submissions the dry run declined: its plan's.
    pub planned: Vec<crate::consent::Planned>,
}

/// Read a recording's steps. Steps that failed in the recording are kept (they are
/// expected to fail again); a step whose typed text was a secret cannot be replayed.
pub fn load(dir: &Path) -> Result<Recorded, String> {
    let r = recordings::read(dir).map_err(|e| e.to_string())?;
    let mut out = Recorded { task: String::new(), start: None, steps: vec![], files: vec![], dry_run: false, planned: vec![] };
    let mut last_t = None;
    // A file read is logged just before the step that read it.
    let mut input_sha256 = None;
    for l in &r.lines {
        match &l.record {
            Record::InputRead { sha256, .. } => input_sha256 = Some(sha256.clone()),
            Record::SessionStart { task, dry_run, .. } => {
                out.task = task.clone();
                out.dry_run = *dry_run;
            }
            Record::Consent { method, url, fields, by, .. } if by == crate::consent::By::DryRun.as_str() => {
                out.planned.push(crate::consent::Planned::new(method, url, fields))
            }
            // Step 0 is errand's own opening of the start page, not a call to repeat.
            Record::Step { step: 0, args, .. } => out.start = args["url"].as_str().map(str::to_string),
            Record::Step { step, tool, args, intent, ok, url_before, url, locator, .. } => {
                if out.start.is_none() && !url_before.is_empty() && !url_before.starts_with("about:") {
                    out.start = Some(url_before.clone());
                }
                let gap_ms = last_t.map(|t: u64| l.t.saturating_sub(t)).unwrap_or(0);
                last_t = Some(l.t);
                out.steps.push(Step {
                    n: *step,
                    tool: tool.clone(),
                    args: args.clone(),
                    intent: intent.clone(),
                    ok: *ok,
                    url: url.clone(),
                    locator: locator.clone(),
                    gap_ms,
                    input_sha256: input_sha256.take(),
                });
            }
            Record::FileWritten { path, sha256, .. } if path != "sources.json" => out.files.push((path.clone(), sha256.clone())),
            _ => {}
        }
    }
    if out.steps.is_empty() {
        return Err(format!("the recording {} has no steps to replay", dir.display()));
    }
    Ok(out)
}

/// The URL without its fragment, for comparing where two steps landed.
fn place(url: &str) -> String {
    url.split('#').next().unwrap_or(url).to_string()
}

/// A current target for a recorded locator: the one element of the page state with the
/// same role and name, else the CSS path (when the element is not inside a frame).
/// Err says what was looked for and what was found.
pub fn target(locator: &Value, elements: &[browser::state::Element]) -> Result<Value, String> {
    let role = locator["role"].as_str().unwrap_or_default();
    let name = locator["name"].as_str().unwrap_or_default();
    let css: Vec<&str> = locator["css"].as_array().into_iter().flatten().filter_map(|c| c.as_str()).collect();
    let in_frame = locator["frames"].as_array().is_some_and(|f| !f.is_empty());
    let same: Vec<&browser::state::Element> = elements.iter().filter(|e| !role.is_empty() && e.role == role && e.name == name).collect();
    if same.len() == 1 {
        return Ok(json!({"ref": same[0].ref_}));
    }
    if css.len() == 1 && !in_frame {
        return Ok(json!({"selector": css[0]}));
    }
    Err(match same.len() {
        0 => format!("no {role} named {name:?} on the page"),
        n => format!("{n} elements are {role} {name:?}; the recording cannot tell which"),
    })
}

pub struct Replay {
    pub source: String,
    rec: Recorded,
    next: usize,
    until: Option<u32>,
    keep_going: bool,
    speed: Option<f64>,
    /// Divergences met so far (shared with the command, which reports them).
    pub diverged: Arc<Mutex<Vec<String>>>,
    /// The plan being carried out (`--execute`), and how many of the requests it declined
    /// as not its own have been reported.
    plan: Option<(Arc<crate::consent::Plan>, usize)>,
}

impl Replay {
    pub fn new(source: &str, rec: Recorded, until: Option<u32>, keep_going: bool, speed: Option<f64>) -> Replay {
        Replay { source: source.to_string(), rec, next: 0, until, keep_going, speed, diverged: Arc::new(Mutex::new(vec![])), plan: None }
    }

    /// Carry out `plan`: a request it does not have is a divergence.
    pub fn executing(mut self, plan: Arc<crate::consent::Plan>) -> Replay {
        self.plan = Some((plan, 0));
        self
    }

    fn diverge(&mut self, what: String) -> Result<(), ProviderError> {
        if let Ok(mut d) = self.diverged.lock() {
            d.push(what.clone());
        }
        if self.keep_going {
            Ok(())
        } else if self.plan.is_some() {
            // A plan is carried out exactly or not at all: there is no going past this.
            Err(ProviderError::Diverged(format!(
                "the replay diverged from the approved plan: {what}; make a new plan with errand run --dry-run"
            )))
        } else {
            Err(ProviderError::Diverged(format!("the replay diverged: {what}; run with --keep-going to continue past it")))
        }
    }

    pub async fn next(&mut self, req: &Request<'_>) -> Result<Reply, ProviderError> {
        let obs = req.observation;
        // Check where the previous step landed.
        if self.next > 0 {
            let prev = self.rec.steps[self.next - 1].clone();
            let failed = match req.turns.last() {
                Some(Turn::Results(r)) => r.iter().find(|x| x.name == prev.tool).map(|x| (x.is_error, x.text.clone())),
                _ => None,
            };
            if let Some((true, text)) = &failed {
                if prev.ok {
                    // The result carries the page state for a model; the person reading the
                    // divergence wants the error alone.
                    let error = text.split("<page_state").next().unwrap_or_default();
                    self.diverge(format!("step {} ({}) failed: {}", prev.n, prev.tool, crate::text::one_line(error, 200)))?;
                }
            }
            // An input file read again must be the file the recording read.
            if let (Some((false, text)), Some(want)) = (&failed, &prev.input_sha256) {
                if !text.contains(&format!("sha256 {want}")) {
                    let path = prev.args["path"].as_str().unwrap_or_default();
                    self.diverge(format!("step {} read the input file {path}, which has changed since the recording", prev.n))?;
                }
            }
            // Carrying out a plan: the page sent something the plan does not have.
            if let Some((plan, seen)) = &mut self.plan {
                let off: Vec<String> = plan.off_plan.lock().map(|o| o[*seen..].to_vec()).unwrap_or_default();
                *seen += off.len();
                if let Some(first) = off.first() {
                    self.diverge(format!(
                        "during step {} ({}) the page sent {first}, which is not in the approved plan; it was declined",
                        prev.n, prev.tool
                    ))?;
                }
            }
            // A file the recording names, written under another name: the output folder
            // already has one that is not this session's (errand never overwrites it).
            if let (Some((false, _)), "write_file", Some(obs)) = (&failed, prev.tool.as_str(), obs) {
                let path = prev.args["path"].as_str().unwrap_or_default();
                let asked = crate::output::check_path(path).map(|p| p.to_string_lossy().to_string());
                if asked.is_ok_and(|a| !obs.written.contains(&a)) {
                    self.diverge(format!("step {} could not write {path}: the output folder already has a file by that name", prev.n))?;
                }
            }
            let here = obs.and_then(|o| o.state).map(|s| s.url.clone()).unwrap_or_default();
            // Only a step that may move the page is checked for where it left it; a name that is
            // no tool (a crafted recording) is checked too.
            let web = crate::tools::kind(&prev.tool).is_none_or(|k| k == crate::tools::Kind::Web);
            if web && prev.ok && !prev.url.is_empty() && !here.is_empty() && place(&here) != place(&prev.url) {
                self.diverge(format!("after step {} ({}) the page is {here}, where the recording was at {}", prev.n, prev.tool, prev.url))?;
            }
        }
        let past_until = self.until.is_some_and(|u| self.next < self.rec.steps.len() && self.rec.steps[self.next].n > u);
        let Some(step) = self.rec.steps.get(self.next).cloned().filter(|_| !past_until) else {
            let n = self.next;
            self.next += 1;
            return Ok(Reply {
                text: "Replay finished.".into(),
                calls: vec![ToolCall {
                    id: format!("replay-end-{n}"),
                    name: "done".into(),
                    args: Ok(json!({"summary": format!("replayed {} of {}", crate::stdio::plural(n, "step"), self.source)})),
                }],
                ..Reply::default()
            });
        };
        self.next += 1;
        if let Some(speed) = self.speed.filter(|s| *s > 0.0) {
            tokio::time::sleep(Duration::from_millis((step.gap_ms as f64 / speed) as u64).min(Duration::from_secs(30))).await;
        }
        let mut args = step.args.clone();
        if step.tool == "type" && args["text"] == recordings::REDACTED {
            return Err(ProviderError::Unfinished(format!("step {} typed a secret, which recordings never keep, so the replay stops there; replay up to the step before it with --until {}", step.n, step.n.saturating_sub(1))));
        }
        // An element named by its visible text: the durable locator finds it even when the
        // text has changed since (the recorded text stays when the locator finds nothing).
        let by_text = args.get("text").is_some()
            && !matches!(step.tool.as_str(), "type" | "wait")
            && args.get("ref").is_none()
            && args.get("selector").is_none();
        if by_text {
            let elements = obs.and_then(|o| o.state).map(|s| s.elements.as_slice()).unwrap_or(&[]);
            let found = step.locator.as_ref().and_then(|loc| target(loc, elements).ok());
            if let (Some(t), Some(o)) = (found, args.as_object_mut()) {
                o.remove("text");
                for (k, v) in t.as_object().into_iter().flatten() {
                    o.insert(k.clone(), v.clone());
                }
            }
        }
        if args.get("ref").is_some() {
            let Some(loc) = step.locator.as_ref() else {
                self.diverge(format!("step {} ({}) has no locator to find its element by", step.n, step.tool))?;
                return Ok(Reply { text: String::new(), calls: vec![], ..Reply::default() });
            };
            let elements = obs.and_then(|o| o.state).map(|s| s.elements.as_slice()).unwrap_or(&[]);
            match target(loc, elements) {
                Ok(t) => {
                    if let Some(o) = args.as_object_mut() {
                        o.remove("ref");
                        for (k, v) in t.as_object().into_iter().flatten() {
                            o.insert(k.clone(), v.clone());
                        }
                    }
                }
                Err(why) => {
                    self.diverge(format!("step {} ({} {}): {why}", step.n, step.tool, loc["name"].as_str().unwrap_or_default()))?;
                }
            }
        }
        let text = if step.intent.is_empty() {
            format!("Replaying step {}.", step.n)
        } else {
            format!("Replaying step {}: {}", step.n, step.intent)
        };
        Ok(Reply {
            text,
            calls: vec![ToolCall { id: format!("replay-{}", step.n), name: step.tool.clone(), args: Ok(args) }],
            ..Reply::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn el(r: &str, role: &str, name: &str) -> browser::state::Element {
        browser::state::Element {
            ref_: r.into(),
            role: role.into(),
            name: name.into(),
            state: String::new(),
            where_: 0,
            x: 0.0,
            y: 0.0,
            href: None,
            frame: 0,
        }
    }

    #[test]
    fn locators_find_elements_by_role_and_name_then_css() {
        let loc = json!({"role": "button", "name": "Search", "css": ["#go"], "frames": []});
        // Moved (another ref), same label: found by role and name.
        assert_eq!(target(&loc, &[el("e1", "link", "Home"), el("e7", "button", "Search")]), Ok(json!({"ref": "e7"})));
        // Not in the state (say, below the listed elements): the CSS path.
        assert_eq!(target(&loc, &[el("e1", "link", "Home")]), Ok(json!({"selector": "#go"})));
        // Two alike and no CSS to tell them apart: a divergence that says so.
        let loc2 = json!({"role": "button", "name": "Buy", "css": [], "frames": []});
        assert!(target(&loc2, &[el("e1", "button", "Buy"), el("e2", "button", "Buy")]).unwrap_err().contains("2 elements"));
        assert!(target(&loc2, &[]).unwrap_err().contains("no button named \"Buy\""));
    }
}

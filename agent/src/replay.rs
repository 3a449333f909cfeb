//! `errand replay`: a recorded session, or a Chrome DevTools Recorder flow, run again
//! without a model under today's allowlist and consent.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use crate::args::{file_policy, BrowserArgs};
use crate::{consent, model, output, policy, review, run, session, stdio, userflow};

#[derive(clap::Args, Debug)]
pub struct ReplayArgs {
    /// The recording: its id (or a unique prefix) under --record-dir, or its folder; or a
    /// Chrome DevTools Recorder user flow (a .json file, the @puppeteer/replay format)
    recording: String,
    /// The output folder for the replay's files (default ./errand-out/<new session id>)
    #[arg(long, short = 'o', value_name = "DIR")]
    out: Option<PathBuf>,
    /// The input folders to read again (repeatable); a recording never names them for
    /// you, and each file read is checked against the one recorded
    #[arg(long = "input", short = 'i', value_name = "DIR")]
    input: Vec<PathBuf>,
    /// Who approves state-changing requests again: ask (on a terminal; otherwise deny),
    /// deny, or approve
    #[arg(long, value_enum, default_value_t = consent::Confirm::Ask)]
    confirm: consent::Confirm,
    /// Seconds to wait for an answer before a submission counts as declined
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    confirm_timeout: u64,
    /// Keep the recorded pace, N times faster (default: as fast as the pages allow)
    #[arg(long, value_name = "N", value_parser = crate::args::positive)]
    speed: Option<f64>,
    /// Stop after this step
    #[arg(long, value_name = "N")]
    until: Option<u32>,
    /// Note divergences and go on instead of stopping at the first
    #[arg(long)]
    keep_going: bool,
    /// Replay a recording that does not verify (altered, or stopped before its end)
    #[arg(long)]
    force: bool,
    /// Carry out a dry run's plan (see `errand plan ID`): its steps again, this time
    /// sending its submissions (each still put to you, unless --confirm approve or a rule)
    /// and writing its files into --out; anything off the plan stops it
    #[arg(long)]
    execute: bool,
    /// Print events as JSON Lines on stdout
    #[arg(long, short = 'j')]
    json: bool,
    /// Where recordings are found, and where the replay's own recording goes
    #[arg(long, env = "ERRAND_RECORD_DIR", value_name = "DIR")]
    record_dir: Option<PathBuf>,
    #[command(flatten)]
    browser: BrowserArgs,
}

/// `errand replay`: the recorded steps through the agent loop again (see model::replay),
/// then the new files compared with the recorded ones.
pub async fn run(a: ReplayArgs) -> Result<ExitCode> {
    let as_file = PathBuf::from(&a.recording);
    if as_file.is_file() {
        let text = match std::fs::read_to_string(&as_file) {
            Ok(t) => t,
            Err(e) => {
                errln!("error: cannot read {}: {e}", as_file.display());
                return Ok(ExitCode::from(2));
            }
        };
        let flow = match recordings::flow::parse(&text) {
            Ok(f) => f,
            Err(e) => {
                errln!("error: {}: {e}; errand replays Chrome Recorder flows (JSON) and errand recordings (folders)", as_file.display());
                return Ok(ExitCode::from(2));
            }
        };
        let args = userflow::FlowArgs {
            confirm: a.confirm,
            confirm_timeout: a.confirm_timeout,
            until: a.until,
            keep_going: a.keep_going,
            json: a.json,
            record_dir: a.record_dir.clone(),
            browser: &a.browser,
        };
        return userflow::run(&as_file, flow, args).await;
    }
    let root = a.record_dir.clone().unwrap_or_else(session::default_record_root);
    let dir = match review::find(&root, &a.recording) {
        Ok(d) => d,
        Err(e) => {
            errln!("error: {e:#}");
            return Ok(ExitCode::from(2));
        }
    };
    // A recording is input from wherever it came: it must verify (or be forced), and it
    // never widens today's allowlist.
    if a.execute && a.keep_going {
        errln!("error: --execute stops at the first divergence from the plan; leave out --keep-going");
        return Ok(ExitCode::from(2));
    }
    if let Err(why) = review::check(&dir) {
        // A plan carried out is one a person approved, exactly as recorded.
        if a.execute {
            errln!("error: {}: {why}; --execute carries out only a plan that verifies (see `errand recordings verify`); make a new one with errand run --dry-run", dir.display());
            return Ok(ExitCode::from(2));
        }
        if !a.force {
            errln!("error: {}: {why}; see `errand recordings verify`, or pass --force to replay it anyway", dir.display());
            return Ok(ExitCode::from(2));
        }
        errln!("warning: {}: {why}; replaying it anyway (--force)", dir.display());
    }
    let rec = match model::replay::load(&dir) {
        Ok(r) => r,
        Err(e) => {
            errln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    if let Some(start) = &rec.start {
        match file_policy(&a.browser, &[]) {
            Ok(live) => {
                if let Some(why) = browser::Guard::judge(live.as_ref(), start) {
                    let host = policy::pattern_for_url(start).unwrap_or_else(|_| start.clone());
                    errln!("error: the recording starts at {start}, which today's allowlist does not allow ({why}); replay it with --allow {host}, or add it with errand allow add {host}");
                    return Ok(ExitCode::from(2));
                }
            }
            Err(e) => {
                errln!("error: {e:#}");
                return Ok(ExitCode::from(2));
            }
        }
    }
    let id = dir.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    if a.execute && !rec.dry_run {
        errln!("error: {id} was not a dry run, so it has no plan to carry out; replay it without --execute, or make a plan with errand run --dry-run");
        return Ok(ExitCode::from(2));
    }
    // A dry run replayed without --execute is a dry run again: its files go to the new
    // recording's plan folder, and nothing is sent.
    let dry = rec.dry_run && !a.execute;
    if dry && a.out.is_some() {
        errln!("error: {id} is a dry run: replayed, it plans again and writes no output folder; pass --execute to carry it out into --out");
        return Ok(ExitCode::from(2));
    }
    let new_id = session::session_id();
    let out = match (&a.out, dry) {
        (_, true) => session::recording_dir(a.record_dir.clone(), &new_id).join(run::PLAN_DIR),
        (Some(o), false) => o.clone(),
        (None, false) => PathBuf::from("errand-out").join(&new_id),
    };
    let plan = a.execute.then(|| std::sync::Arc::new(consent::Plan::new(rec.planned.clone())));
    let files = rec.files.clone();
    let steps = rec.steps.len() as u32;
    errln!("errand replay {id}: {}, from {}", stdio::plural(steps as usize, "step"), rec.start.as_deref().unwrap_or("the first step"));
    if let Some(p) = &plan {
        errln!(
            "carrying out the plan: {} and {} into {}; anything else a page sends is declined and stops it",
            stdio::plural(p.left().len(), "submission"),
            stdio::plural(files.len(), "file"),
            out.display()
        );
    }
    let args = run::RunArgs {
        task: rec.task.clone(),
        start: rec.start.clone().into_iter().collect(),
        out: (!dry).then(|| out.clone()),
        model: None,
        max_steps: steps + 2,
        max_tokens: u64::MAX,
        record_dir: a.record_dir.clone(),
        json: a.json,
        confirm: a.confirm,
        confirm_timeout: a.confirm_timeout,
        dry_run: dry,
        max_pages: 20,
        search: None,
        browser: a.browser,
        out_per_session: false,
        input: a.input.clone(),
        plan: plan.clone(),
        session_id: Some(new_id),
    };
    let mut r = model::replay::Replay::new(&id, rec, a.until, a.keep_going, a.speed);
    if let Some(p) = &plan {
        r = r.executing(p.clone());
    }
    let diverged = r.diverged.clone();
    let code = run::run_with(args, Some(model::Provider::Replay(r))).await?;
    // The new files against the recorded ones.
    let mut differ = 0;
    if a.until.is_none() {
        for (path, sha) in &files {
            let now = output::check_path(path).ok().and_then(|p| std::fs::read(out.join(p)).ok()).map(|b| recordings::sha256(&b));
            let verdict = match now {
                Some(h) if &h == sha => "same as recorded",
                Some(_) => {
                    differ += 1;
                    "differs from the recorded file"
                }
                None => {
                    differ += 1;
                    "not written this time"
                }
            };
            errln!("  {path}: {verdict}");
        }
    }
    let d = diverged.lock().map(|d| d.clone()).unwrap_or_default();
    for x in &d {
        errln!("  diverged: {x}");
    }
    // The plan's submissions that were not sent (declined, or never made).
    let unsent = plan.as_ref().map(|p| p.left()).unwrap_or_default();
    for u in &unsent {
        errln!("  planned and not sent: {} {}", u.method, u.url);
    }
    let matched = d.is_empty() && differ == 0 && code == ExitCode::SUCCESS;
    match (&plan, matched && unsent.is_empty()) {
        (Some(_), true) => errln!("the plan was carried out: {} in {}", stdio::plural(files.len(), "file"), out.display()),
        (Some(_), false) => errln!("the plan was not carried out in full (see above)"),
        (None, true) => errln!("replay matched the recording"),
        (None, false) => {}
    }
    Ok(if matched && unsent.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

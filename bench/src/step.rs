//! `step`: errand's own work per agent step, from a scripted run's recording.

use std::path::PathBuf;

use anyhow::{Context, Result};
use errand::outln;
use errand::site::{self, Pages};
use serde_json::{json, Value};

use crate::stats::*;

/// How long the stand-in for a real model takes per reply in the second run: less than
/// any hosted model takes for a turn.
const THINK_MS: u64 = 300;

/// Per-step overhead of the real agent loop: a `script:` run over the demo site, twice:
/// with a "model" that answers at once (the worst case, as in a replay or the built-in
/// policy: the recording's picture of each step is drawn on the next step's path) and
/// with one that takes [`THINK_MS`] per reply (the picture is drawn while it thinks, as
/// with a real model). The recording times each model turn; the gap between one reply and
/// the next request is errand's: executing the call, settling, the new page state,
/// narration and recording.
pub async fn step(rounds: usize, chrome: Option<PathBuf>) -> Result<()> {
    for think in [0, THINK_MS] {
        once(rounds, chrome.clone(), think).await?;
    }
    Ok(())
}

async fn once(rounds: usize, chrome: Option<PathBuf>, think: u64) -> Result<()> {
    let mut pages = (*Pages::demo().0).clone();
    pages.insert("/guide.html".into(), long_page().into_bytes());
    let origin = site::serve(Pages(std::sync::Arc::new(pages)), "127.0.0.1:0").await?;
    let tmp = tempfile::tempdir()?;
    let cycle = |_: usize| {
        [
            json!({"tool": "navigate", "args": {"url": format!("{origin}/")}}),
            json!({"tool": "click", "args": {"text": "What a heat pump costs"}}),
            json!({"tool": "extract"}),
            json!({"tool": "extract_table"}),
            json!({"tool": "scroll", "args": {"direction": "down"}}),
            json!({"tool": "back"}),
            json!({"tool": "click", "args": {"text": "Heat pumps in cold climates"}}),
            json!({"tool": "extract"}),
            // A page several screens long, scrolled through.
            json!({"tool": "navigate", "args": {"url": format!("{origin}/guide.html")}}),
            json!({"tool": "scroll", "args": {"direction": "down"}}),
            json!({"tool": "scroll", "args": {"direction": "down"}}),
        ]
        .into_iter()
        .map(|mut c| {
            c["think_ms"] = json!(think);
            c
        })
        .collect::<Vec<_>>()
    };
    let mut script: Vec<Value> = (0..rounds).flat_map(cycle).collect();
    script.push(json!({"tool": "done", "args": {"summary": "benchmark"}}));
    let file = tmp.path().join("script.json");
    std::fs::write(&file, serde_json::to_string(&script)?)?;
    let browser = errand::args::BrowserArgs { chrome, allowlist: Some(tmp.path().join("allowlist.toml")), ..Default::default() };
    let args = errand::run::RunArgs {
        task: "benchmark".into(),
        start: vec![format!("{origin}/")],
        out: Some(tmp.path().join("out")),
        model: Some(format!("script:{}", file.display())),
        max_steps: 1000,
        max_tokens: u64::MAX,
        record_dir: Some(tmp.path().join("rec")),
        json: false,
        max_pages: 0,
        search: None,
        confirm: errand::consent::Confirm::Deny,
        confirm_timeout: 1,
        dry_run: false,
        browser,
        out_per_session: false,
        plan: None,
        session_id: None,
        input: vec![],
    };
    errand::run::run(args).await?;
    let rec = std::fs::read_dir(tmp.path().join("rec"))?.next().context("no recording")??.path();
    let log = recordings::read(&rec)?;
    // A turn's record is logged after its steps ran, so the time from one step's record
    // to the next, less the model's time for the turn between, is errand's for the later
    // step: the page state and request after the earlier one, then executing the call,
    // settling, the recording's picture and narration. The first step is the start page,
    // opened before any turn; each turn of the script makes one call.
    let model_ms: Vec<u64> = log
        .lines
        .iter()
        .filter_map(|l| match &l.record {
            recordings::Record::ModelTurn { ms, .. } => Some(*ms),
            _ => None,
        })
        .collect();
    // (time logged, the call's own time: acting and settling, tool) per step.
    let steps: Vec<(u64, u64, String)> = log
        .lines
        .iter()
        .filter_map(|l| match &l.record {
            // A scroll that moved the page apart from one that could not (it runs nothing).
            recordings::Record::Step { ms, tool, summary, .. } if tool == "scroll" && summary.starts_with("could not") => {
                Some((l.t, *ms, "scroll (at edge)".to_string()))
            }
            recordings::Record::Step { ms, tool, .. } => Some((l.t, *ms, tool.clone())),
            _ => None,
        })
        .collect();
    let mut all = vec![];
    let mut by_tool: std::collections::BTreeMap<String, (Vec<f64>, Vec<f64>)> = Default::default();
    for (i, w) in steps.windows(2).enumerate() {
        let Some(model) = model_ms.get(i) else { break };
        if w[1].2 == "done" {
            continue;
        }
        let gap = w[1].0.saturating_sub(w[0].0).saturating_sub(*model) as f64;
        all.push(gap);
        let e = by_tool.entry(w[1].2.clone()).or_default();
        e.0.push(gap);
        e.1.push(w[1].1 as f64);
    }
    let model = if think == 0 { "a model that answers at once".to_string() } else { format!("a model that takes {think} ms a reply") };
    outln!("errand per-step overhead: {} steps of a scripted run over the demo site, {model} (model time excluded)", all.len());
    outln!("  all steps        median {:>6.1} ms   p95 {:>6.1} ms", median(&mut all), p95(&mut all));
    for (tool, (mut v, mut act)) in by_tool {
        outln!(
            "  {tool:<16} median {:>6.1} ms   p95 {:>6.1} ms   ({} steps; acting and settling {:.1} ms, the rest the page state and the last picture if not drawn yet)",
            median(&mut v),
            p95(&mut v),
            v.len(),
            median(&mut act)
        );
    }
    // The recording's size per step: log, extracts and one screenshot a step.
    fn size(p: &std::path::Path) -> u64 {
        std::fs::read_dir(p)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| if e.path().is_dir() { size(&e.path()) } else { e.metadata().map(|m| m.len()).unwrap_or(0) })
            .sum()
    }
    let steps = log.lines.iter().filter(|l| matches!(l.record, recordings::Record::Step { .. })).count().max(1);
    let shots = std::fs::read_dir(rec.join("screenshots")).map(|d| d.count()).unwrap_or(0);
    let bytes = size(&rec);
    outln!(
        "  recording        {:.1} KB per step ({} KB for {steps} steps, {shots} screenshots)",
        bytes as f64 / 1024.0 / steps as f64,
        bytes / 1024
    );
    Ok(())
}

/// A guide several screens long (60 sections) for the scrolls of the cycle.
fn long_page() -> String {
    let mut html = String::from(
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>Heat pump guide</title></head><body><h1>Heat pump guide</h1>",
    );
    for i in 1..=60 {
        html.push_str(&format!(
            "<h2>Section {i}</h2><p>Section {i} of the guide: how a heat pump moves heat from outside air into a home, what it costs to run in winter, and what an installer checks before fitting one.</p>"
        ));
    }
    html.push_str("</body></html>");
    html
}

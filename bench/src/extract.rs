//! `extract`: extraction quality and speed on a benchmark set, scored by its own script.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use browser::{Browser, LaunchOptions, Options, Source};
use errand::site;
use errand::{errln, outln};
use serde_json::{json, Value};

use crate::guard::origins_only;
use crate::pages_from_dir;

/// Extract every benchmark page through a real Chromium (pages served from loopback, their
/// other hosts failing fast) and score the text with the benchmark's own `score.py`.
pub async fn extract(
    dir: PathBuf,
    limit: Option<usize>,
    predictions: Option<PathBuf>,
    parallel: usize,
    chrome: Option<PathBuf>,
) -> Result<()> {
    let pages = pages_from_dir(&dir.join("html"))
        .with_context(|| format!("no benchmark at {} (run from the repository root, or pass --dir)", dir.display()))?;
    let mut ids = pages.ids();
    if let Some(n) = limit {
        ids.truncate(n);
    }
    let origin = site::serve(pages, "127.0.0.1:0").await?;
    let opts =
        Options { settle_timeout: Duration::from_secs(3), guard: Some(origins_only(std::slice::from_ref(&origin))?), ..Options::default() };
    let b = Browser::start(Source::Launch(LaunchOptions { chrome, ..LaunchOptions::default() }), opts).await?;
    let t = Instant::now();
    let mut out = serde_json::Map::new();
    let mut failed = 0;
    let mut without_scripts = 0;
    // The same call `errand extract` makes, `parallel` pages at a time.
    let urls: Vec<String> = ids.iter().map(|id| format!("{origin}{id}")).collect();
    let mut results = std::pin::pin!(b.extract_urls(&urls, parallel));
    let mut n = 0;
    while let Some((i, r)) = futures::StreamExt::next(&mut results).await {
        let key = ids[i].trim_start_matches('/').trim_end_matches(".html").to_string();
        let body = match r {
            Ok(v) => {
                if v["view"] != "rendered" {
                    without_scripts += 1;
                }
                v["text"].as_str().unwrap_or_default().to_string()
            }
            Err(_) => String::new(),
        };
        if body.is_empty() {
            failed += 1;
        }
        out.insert(key, json!({"articleBody": body}));
        n += 1;
        if n % 40 == 0 {
            errln!("  {n}/{} pages", ids.len());
        }
    }
    let secs = t.elapsed().as_secs_f64();
    b.close().await;
    let tmp = tempfile::NamedTempFile::new()?;
    let path = predictions.unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::write(&path, serde_json::to_string(&Value::Object(out))?)?;
    // With --limit, score against the same pages' ground truth only.
    let truth_tmp = tempfile::NamedTempFile::new()?;
    let mut truth = dir.join("ground-truth.json");
    if limit.is_some() {
        let all: Value =
            serde_json::from_str(&std::fs::read_to_string(&truth).with_context(|| format!("cannot read {}", truth.display()))?)?;
        let subset: serde_json::Map<String, Value> = ids
            .iter()
            .map(|id| id.trim_start_matches('/').trim_end_matches(".html").to_string())
            .filter_map(|k| all.get(&k).map(|v| (k, v.clone())))
            .collect();
        std::fs::write(truth_tmp.path(), serde_json::to_string(&subset)?)?;
        truth = truth_tmp.path().to_path_buf();
    }
    let score = std::process::Command::new("python3")
        .arg(dir.join("score.py"))
        .arg(&path)
        .arg(&truth)
        .output()
        .context("cannot run python3 to score (install python3)")?;
    outln!("errand extraction benchmark: {} pages ({failed} with no text; {without_scripts} read again without scripts)", ids.len());
    outln!("  score.py (F1 precision recall pages): {}", String::from_utf8_lossy(&score.stdout).trim());
    if !score.status.success() {
        outln!("  score.py failed: {}", String::from_utf8_lossy(&score.stderr).trim());
    }
    outln!("  {:.1} pages per second, page load included, {parallel} at a time ({:.1} s)", ids.len() as f64 / secs, secs);
    Ok(())
}

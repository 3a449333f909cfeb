//! `extract`: extraction quality and speed on a benchmark set, scored by its own script.
//!
//! Two sets: the 181 news pages of `article-extraction` and the 1,497 pages of seven page
//! types of `wcxb-dev`. Both are loaded through a real Chromium with the call `errand
//! extract` makes and scored by the set's own `score.py`, so the numbers are the ones the
//! benchmark's authors publish. `--sample` and `--fold` take a part of a set, for quick
//! loops and for checking that what helps on some pages helps on the others.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use browser::{Browser, LaunchOptions, Options, Source};
use errand::site;
use errand::{errln, outln};
use serde_json::{json, Value};

use crate::guard::origins_only;
use crate::pages_from_dir;

/// A benchmark set: where its truth is and how its `score.py` wants predictions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Set {
    /// 181 news pages; `score.py PREDICTIONS TRUTH`, predictions `{id: {articleBody}}`.
    ArticleExtraction,
    /// 1,497 pages of seven types; `score.py PREDICTIONS` with the truth beside it,
    /// predictions `{id: {text}}`.
    WcxbDev,
}

impl Set {
    fn folder(self) -> &'static str {
        match self {
            Set::ArticleExtraction => "article-extraction",
            Set::WcxbDev => "wcxb-dev",
        }
    }

    fn field(self) -> &'static str {
        match self {
            Set::ArticleExtraction => "articleBody",
            Set::WcxbDev => "text",
        }
    }
}

/// rs-trafilatura's published F1 by page type on the WCXB development split, the figures
/// issue 18 asks errand to reach on every type.
const PUBLISHED: &[(&str, f64)] = &[
    ("article", 0.932),
    ("documentation", 0.932),
    ("service", 0.844),
    ("forum", 0.808),
    ("collection", 0.716),
    ("listing", 0.707),
    ("product", 0.641),
];

/// Which pages of a set to run.
#[derive(Clone, Copy, Debug, Default)]
pub struct Part {
    /// Only the first N pages.
    pub limit: Option<usize>,
    /// N pages spread evenly over the set.
    pub sample: Option<usize>,
    /// Fold K of N (0-based): the pages whose id hashes to K; `held_out` takes the others.
    pub fold: Option<(u64, u64)>,
    pub held_out: bool,
}

/// Parse `K/N` (fold K of N, 0-based).
pub fn parse_fold(s: &str) -> Result<(u64, u64), String> {
    let (k, n) = s.split_once('/').ok_or("a fold is K/N, such as 0/5")?;
    let k: u64 = k.trim().parse().map_err(|_| format!("{k:?} is not a fold number"))?;
    let n: u64 = n.trim().parse().map_err(|_| format!("{n:?} is not a number of folds"))?;
    if n < 2 || k >= n {
        return Err(format!("fold {k}/{n}: need 2 or more folds and K below N"));
    }
    Ok((k, n))
}

/// The fold a page falls in: a hash of its id, so folds mix page types and sites.
fn fold_of(id: &str, n: u64) -> u64 {
    // FNV-1a: stable across runs and Rust versions, unlike the std hasher.
    let h = id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    h % n
}

/// The ids of `all` (sorted) that `part` selects.
fn select(mut ids: Vec<String>, part: Part) -> Vec<String> {
    if let Some((k, n)) = part.fold {
        ids.retain(|id| (fold_of(id, n) == k) != part.held_out);
    }
    if let Some(s) = part.sample.filter(|&s| s > 0 && s < ids.len()) {
        let step = ids.len() as f64 / s as f64;
        ids = (0..s).map(|i| ids[(i as f64 * step) as usize].clone()).collect();
    }
    if let Some(n) = part.limit {
        ids.truncate(n);
    }
    ids
}

/// Extract every selected page through a real Chromium (pages served from loopback, their
/// other hosts failing fast) and score the text with the set's own `score.py`.
pub async fn extract(
    set: Set,
    dir: Option<PathBuf>,
    part: Part,
    predictions: Option<PathBuf>,
    parallel: usize,
    chrome: Option<PathBuf>,
    rendered: Rendered,
) -> Result<()> {
    let dir = dir.unwrap_or_else(|| Path::new("../shared/bench").join(set.folder()));
    let pages = pages_from_dir(&dir.join("html"))
        .with_context(|| format!("no benchmark at {} (run from the repository root, or pass --dir)", dir.display()))?;
    let ids = select(pages.ids(), part);
    if ids.is_empty() {
        bail!("no pages selected: check --limit, --sample and --fold");
    }
    let t = Instant::now();
    let mut out = serde_json::Map::new();
    let mut failed = 0;
    let mut without_scripts = 0;
    let mut put = |id: &str, v: &Value| {
        if v["view"] == "without scripts" {
            without_scripts += 1;
        }
        let body = v["text"].as_str().unwrap_or_default();
        if body.is_empty() {
            failed += 1;
        }
        out.insert(key(id), json!({ set.field(): body, "page_type": v["page_type"], "markdown": v["markdown"] }));
    };
    if let Rendered::From(from) = &rendered {
        // Again from the rendered pages a browser run kept: extraction rules alone.
        let results = offline(from, &ids, &pages)?;
        for (id, v) in ids.iter().zip(&results) {
            put(id, v);
        }
    } else {
        let origin = site::serve(pages, "127.0.0.1:0").await?;
        let opts = Options {
            settle_timeout: Duration::from_secs(3),
            guard: Some(origins_only(std::slice::from_ref(&origin))?),
            keep_rendered: matches!(rendered, Rendered::Save(_)),
            ..Options::default()
        };
        let b = Browser::start(Source::Launch(LaunchOptions { chrome, ..LaunchOptions::default() }), opts).await?;
        // The same call `errand extract` makes, `parallel` pages at a time.
        let urls: Vec<String> = ids.iter().map(|id| format!("{origin}{id}")).collect();
        let mut results = std::pin::pin!(b.extract_urls(&urls, parallel));
        let mut n = 0;
        while let Some((i, r)) = futures::StreamExt::next(&mut results).await {
            let mut v = r.unwrap_or_else(|_| json!({}));
            if let (Rendered::Save(to), Some(html)) = (&rendered, v.as_object_mut().and_then(|o| o.remove("rendered"))) {
                std::fs::create_dir_all(to)?;
                let keep = json!({ "url": v["url"], "view": v["view"], "text": v["text"], "html": html });
                std::fs::write(to.join(format!("{}.json", key(&ids[i]))), serde_json::to_vec(&keep)?)?;
            }
            put(&ids[i], &v);
            n += 1;
            if n % 40 == 0 {
                errln!("  {n}/{} pages", ids.len());
            }
        }
        b.close().await;
    }
    let secs = t.elapsed().as_secs_f64();
    let tmp = tempfile::tempdir()?;
    let path = predictions.unwrap_or_else(|| tmp.path().join("predictions.json"));
    std::fs::write(&path, serde_json::to_string(&Value::Object(out))?)?;
    let keys: Vec<String> = ids.iter().map(|id| key(id)).collect();
    let score = score(set, &dir, &path, &keys, tmp.path())?;
    outln!(
        "errand extraction benchmark, {}: {} pages ({failed} with no text; {without_scripts} read again without scripts)",
        set.folder(),
        ids.len()
    );
    if !score.status.success() {
        bail!("score.py failed: {}", String::from_utf8_lossy(&score.stderr).trim());
    }
    let stdout = String::from_utf8_lossy(&score.stdout).to_string();
    match set {
        Set::ArticleExtraction => outln!("  score.py (F1 precision recall pages): {}", stdout.trim()),
        Set::WcxbDev => {
            for line in stdout.lines().filter(|l| !l.starts_with("by type:")) {
                outln!("  score.py: {line}");
            }
            outln!("  by page type        errand   rs-trafilatura (published)   pages");
            for (ty, f1, pages) in by_type(&stdout) {
                let published = PUBLISHED.iter().find(|(t, _)| *t == ty).map(|(_, f)| *f);
                let mark = match published {
                    Some(p) if f1 >= p => "",
                    Some(_) => "  below",
                    None => "",
                };
                let published = published.map(|p| format!("{p:.3}")).unwrap_or_else(|| "-".into());
                outln!("  {ty:<18} {f1:>7.3}   {published:>26}   {pages:>5}{mark}");
            }
        }
    }
    if matches!(rendered, Rendered::From(_)) {
        outln!("  {:.1} pages per second, from kept rendered pages (no browser) ({:.1} s)", ids.len() as f64 / secs, secs);
    } else {
        outln!("  {:.1} pages per second, page load included, {parallel} at a time ({:.1} s)", ids.len() as f64 / secs, secs);
    }
    Ok(())
}

/// Where the rendered pages come from.
#[derive(Clone, Debug, Default)]
pub enum Rendered {
    /// A browser loads every page.
    #[default]
    Load,
    /// A browser loads every page, and each rendered page is kept in this folder.
    Save(PathBuf),
    /// No browser: the rendered pages kept in this folder go through extraction again.
    From(PathBuf),
}

/// Extraction of kept rendered pages (with the page's file as the HTML the server sent),
/// on every core: `{text, markdown, view, page_type}` per id. A page extraction found nothing in
/// keeps the text the browser run gave (errand's in-page extractor needs the live page).
fn offline(from: &Path, ids: &[String], pages: &errand::site::Pages) -> Result<Vec<Value>> {
    let one = |id: &String| -> Result<Value> {
        let path = from.join(format!("{}.json", key(id)));
        let kept: Value = serde_json::from_slice(
            &std::fs::read(&path).with_context(|| format!("cannot read {} (keep the pages first with --save-rendered)", path.display()))?,
        )?;
        // The HTML the server sent is the page's file, as the browser run served it.
        let sent = pages.0.get(id).map(|b| String::from_utf8_lossy(b).into_owned());
        let html = kept["html"].as_str().unwrap_or_default();
        let url = kept["url"].as_str().unwrap_or_default();
        Ok(match browser::extract::article_of(html, sent.as_deref(), url) {
            Some((a, view)) => {
                json!({ "text": a.text.trim(), "markdown": a.markdown.trim(), "view": view.as_str(), "page_type": a.page_type })
            }
            None => kept,
        })
    };
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let chunk = ids.len().div_ceil(cores).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = ids.chunks(chunk).map(|part| s.spawn(move || part.iter().map(one).collect::<Result<Vec<_>>>())).collect();
        let mut all = Vec::with_capacity(ids.len());
        for h in handles {
            all.extend(h.join().map_err(|_| anyhow::anyhow!("an extraction thread panicked"))??);
        }
        Ok(all)
    })
}

/// The predictions key of a served page: its file name without `.html`.
fn key(id: &str) -> String {
    id.trim_start_matches('/').trim_end_matches(".html").to_string()
}

/// Run the set's `score.py` on the predictions, against the truth of the pages run only.
fn score(set: Set, dir: &Path, predictions: &Path, keys: &[String], tmp: &Path) -> Result<std::process::Output> {
    let subset = |all: Value| -> Value { Value::Object(keys.iter().filter_map(|k| all.get(k).map(|v| (k.clone(), v.clone()))).collect()) };
    let mut cmd = std::process::Command::new("python3");
    match set {
        Set::ArticleExtraction => {
            let truth = dir.join("ground-truth.json");
            let all: Value =
                serde_json::from_str(&std::fs::read_to_string(&truth).with_context(|| format!("cannot read {}", truth.display()))?)?;
            let part = tmp.join("ground-truth.json");
            std::fs::write(&part, serde_json::to_string(&subset(all))?)?;
            cmd.arg(dir.join("score.py")).arg(predictions).arg(&part);
        }
        Set::WcxbDev => {
            // score.py reads the truth beside itself: a copy of it next to the part's truth.
            let truth = dir.join("truth.json.gz");
            let mut text = String::new();
            std::io::Read::read_to_string(
                &mut flate2::read::GzDecoder::new(std::fs::File::open(&truth).with_context(|| format!("cannot read {}", truth.display()))?),
                &mut text,
            )?;
            let all: Value = serde_json::from_str(&text)?;
            let mut gz = flate2::write::GzEncoder::new(std::fs::File::create(tmp.join("truth.json.gz"))?, flate2::Compression::fast());
            gz.write_all(serde_json::to_string(&subset(all))?.as_bytes())?;
            gz.finish()?;
            std::fs::copy(dir.join("score.py"), tmp.join("score.py")).with_context(|| format!("no score.py in {}", dir.display()))?;
            cmd.arg(tmp.join("score.py")).arg(predictions);
        }
    }
    cmd.output().context("cannot run python3 to score (install python3)")
}

/// `by type: article 0.919 (793), forum 0.670 (113)` as (type, F1, pages).
fn by_type(stdout: &str) -> Vec<(String, f64, usize)> {
    let Some(line) = stdout.lines().find_map(|l| l.strip_prefix("by type: ")) else { return vec![] };
    line.split(", ")
        .filter_map(|item| {
            let mut w = item.split_whitespace();
            let ty = w.next()?.to_string();
            let f1 = w.next()?.parse().ok()?;
            let pages = w.next()?.trim_matches(|c| c == '(' || c == ')').parse().ok()?;
            Some((ty, f1, pages))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_split_the_pages_and_a_fold_and_its_rest_make_the_whole() {
        let ids: Vec<String> = (1..=100).map(|i| format!("/{i:04}.html")).collect();
        let fold = select(ids.clone(), Part { fold: Some((1, 5)), ..Part::default() });
        let rest = select(ids.clone(), Part { fold: Some((1, 5)), held_out: true, ..Part::default() });
        assert_eq!(fold.len() + rest.len(), 100);
        assert!(fold.iter().all(|id| !rest.contains(id)));
        assert!((10..=30).contains(&fold.len()), "a fifth, roughly: {}", fold.len());
        let sample = select(ids, Part { sample: Some(10), ..Part::default() });
        assert_eq!(sample.len(), 10);
        assert_eq!(sample[1], "/0011.html", "spread evenly");
        assert!(parse_fold("5/5").is_err() && parse_fold("0/1").is_err() && parse_fold("x").is_err());
        assert_eq!(parse_fold("2/5"), Ok((2, 5)));
    }

    #[test]
    fn the_per_type_line_of_score_py_is_read() {
        let out = "F1 0.823 precision 0.8 recall 0.9 pages 3 missing 0\nby type: article 0.919 (793), forum 0.670 (113)\n";
        assert_eq!(by_type(out), vec![("article".into(), 0.919, 793), ("forum".into(), 0.670, 113)]);
    }
}

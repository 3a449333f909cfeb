//! `errand bench`: benchmarks that print numbers (speed and size targets live here,
//! never in timed tests).
//!
//! `page-state` serves the article-extraction pages from loopback and measures, per page,
//! the time to build the page state (cold: first call on a new document, which creates
//! errand's isolated world; warm: the median of the next calls), its size in characters
//! and o200k tokens, and the share of the page's visible interactive elements it lists.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use browser::{Action, Browser, LaunchOptions, Options, Source, StateOptions};
use clap::Subcommand;
use serde_json::json;

use crate::site::{self, Pages};

#[derive(Subcommand)]
pub enum Which {
    /// Page-state build time, size and coverage on real pages
    PageState {
        /// Folder of pages (`*.html` or `*.html.gz`)
        #[arg(long, default_value = "../shared/bench/article-extraction/html")]
        pages: PathBuf,
        /// Only the first N pages
        #[arg(long)]
        limit: Option<usize>,
        /// Warm repetitions per page
        #[arg(long, default_value_t = 5)]
        reps: usize,
        /// Print one line per page
        #[arg(long)]
        per_page: bool,
        /// Chromium executable
        #[arg(long)]
        chrome: Option<PathBuf>,
    },
}

/// Counted in the page's main world, independently of errand's walker: what a person
/// could click or type into, visible on the page (any scroll position).
const VISIBLE_INTERACTIVE: &str = r#"(() => {
  const sel = 'a[href],button,input:not([type=hidden]),select,textarea,summary,[contenteditable=""],[contenteditable=true],[role=button],[role=link],[role=checkbox],[role=radio],[role=tab],[role=menuitem],[role=combobox],[role=textbox],[role=switch],[role=option],[role=searchbox],[role=slider]';
  let n = 0;
  const walk = (root) => {
    for (const el of root.querySelectorAll(sel)) {
      if (!el.checkVisibility({visibilityProperty: true})) continue;
      const r = el.getBoundingClientRect();
      if (r.width <= 0 || r.height <= 0) continue;
      if (getComputedStyle(el).pointerEvents === 'none') continue;
      n++;
    }
    for (const h of root.querySelectorAll('*')) if (h.shadowRoot) walk(h.shadowRoot);
  };
  walk(document);
  return n;
})()"#;

pub async fn run(which: Which) -> Result<()> {
    match which {
        Which::PageState { pages, limit, reps, per_page, chrome } => page_state(pages, limit, reps, per_page, chrome).await,
    }
}

struct Row {
    id: String,
    cold_ms: f64,
    warm_ms: f64,
    chars: usize,
    tokens: usize,
    listed: usize,
    visible: usize,
    exposed: usize,
}

async fn page_state(dir: PathBuf, limit: Option<usize>, reps: usize, per_page: bool, chrome: Option<PathBuf>) -> Result<()> {
    let pages = Pages::from_dir(&dir).with_context(|| format!("no benchmark pages at {} (run from the repository root, or pass --pages)", dir.display()))?;
    let mut ids = pages.ids();
    if let Some(n) = limit {
        ids.truncate(n);
    }
    let origin = site::serve(pages, "127.0.0.1:0").await?;
    let bpe = tiktoken_rs::o200k_base().context("cannot load the o200k tokenizer")?;

    // Pages reference hosts that do not exist here: make every lookup but loopback fail at
    // once, so loading measures the page, not DNS time-outs.
    let extra = vec!["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1".to_string()];
    let launch = LaunchOptions { chrome, extra_args: extra, ..LaunchOptions::default() };

    // Launch to first page state, on the first page (browser start included).
    let t0 = Instant::now();
    let b = Browser::start(Source::Launch(launch), Options { settle_timeout: Duration::from_secs(3), ..Options::default() }).await?;
    let launched = t0.elapsed();
    let first = format!("{origin}/{}", ids.first().map(|s| s.trim_start_matches('/')).unwrap_or(""));
    b.act(&Action::Navigate { url: first }).await?;
    let loaded = t0.elapsed();
    let opts = StateOptions::default();
    let _ = b.state(&opts).await?;
    let first_state = t0.elapsed();
    eprintln!(
        "launch to first page state: {:.0} ms (launch {:.0} ms, page load {:.0} ms, state {:.1} ms)",
        ms(first_state),
        ms(launched),
        ms(loaded - launched),
        ms(first_state - loaded)
    );

    let mut rows = vec![];
    let mut failed = vec![];
    for (i, id) in ids.iter().enumerate() {
        let url = format!("{origin}{id}");
        if let Err(e) = b.act(&Action::Navigate { url: url.clone() }).await {
            failed.push(format!("{id}: {e}"));
            continue;
        }
        let t = Instant::now();
        let s = match b.state(&opts).await {
            Ok(s) => s,
            Err(e) => {
                failed.push(format!("{id}: {e}"));
                continue;
            }
        };
        let cold = t.elapsed();
        let mut warm = vec![];
        let mut broke = None;
        for _ in 0..reps {
            let t = Instant::now();
            if let Err(e) = b.state(&opts).await {
                broke = Some(e);
                break;
            }
            warm.push(ms(t.elapsed()));
        }
        if let Some(e) = broke {
            // Some pages navigate themselves away (e.g. a script redirect to https).
            failed.push(format!("{id}: {e} (now at {})", b.tabs().first().map(|t| t.2.clone()).unwrap_or_default()));
            continue;
        }
        let text = s.render();
        let tokens = bpe.encode_with_special_tokens(&text).len();
        let visible = b
            .cdp()
            .raw(
                b.active_session().as_deref(),
                "Runtime.evaluate",
                json!({"expression": VISIBLE_INTERACTIVE, "returnByValue": true}),
            )
            .await
            .ok()
            .and_then(|v| v["result"]["value"].as_u64())
            .unwrap_or(0) as usize;
        let listed = s.listed();
        // Main-frame elements of the standard kinds that the render lists.
        let exposed = s.listed_main_standard();
        let row = Row {
            id: id.trim_start_matches('/').trim_end_matches(".html").to_string(),
            cold_ms: ms(cold),
            warm_ms: median(&mut warm),
            chars: text.chars().count(),
            tokens,
            listed,
            visible,
            exposed: exposed.min(visible),
        };
        if per_page {
            println!(
                "{:>4} {:<12} cold {:>6.1} ms  warm {:>6.1} ms  {:>6} chars {:>6} tokens  listed {:>4}  visible {:>4}  exposed {:>5.1}%",
                i + 1,
                row.id,
                row.cold_ms,
                row.warm_ms,
                row.chars,
                row.tokens,
                row.listed,
                row.visible,
                100.0 * share(&row)
            );
        } else if i % 20 == 0 {
            eprintln!("  {}/{} pages", i + 1, ids.len());
        }
        rows.push(row);
    }
    b.close().await;

    let mut cold: Vec<f64> = rows.iter().map(|r| r.cold_ms).collect();
    let mut warm: Vec<f64> = rows.iter().map(|r| r.warm_ms).collect();
    let mut toks: Vec<f64> = rows.iter().map(|r| r.tokens as f64).collect();
    let mut chars: Vec<f64> = rows.iter().map(|r| r.chars as f64).collect();
    let mut listed: Vec<f64> = rows.iter().map(|r| r.listed as f64).collect();
    let mut shares: Vec<f64> = rows.iter().map(share).collect();
    let all_exposed = rows.iter().filter(|r| share(r) >= 0.999).count();
    println!("errand page-state benchmark: {} pages ({} failed), Chromium headless 1280x720", rows.len(), failed.len());
    println!("  launch to first page state   {:>8.0} ms", ms(first_state));
    println!("  build time, cold (new doc)   median {:>7.1} ms   p95 {:>7.1} ms", median(&mut cold), p95(&mut cold));
    println!("  build time, warm             median {:>7.1} ms   p95 {:>7.1} ms", median(&mut warm), p95(&mut warm));
    println!("  size, o200k tokens           median {:>7.0}      p95 {:>7.0}", median(&mut toks), p95(&mut toks));
    println!("  size, characters             median {:>7.0}      p95 {:>7.0}", median(&mut chars), p95(&mut chars));
    println!("  interactive refs listed      median {:>7.0}", median(&mut listed));
    println!(
        "  visible interactive exposed  median {:>6.1}%   min {:>6.1}%   pages with all exposed: {}/{}",
        100.0 * median(&mut shares),
        100.0 * shares.iter().cloned().fold(1.0, f64::min),
        all_exposed,
        rows.len()
    );
    println!("  peers (issue 4, same pages): Playwright MCP 44.6/88.1 ms, 8,725/18,369 tokens; browser-use 224.8/619.7 ms, 3,426/8,369 tokens");
    for f in &failed {
        println!("  failed: {f}");
    }
    Ok(())
}

fn share(r: &Row) -> f64 {
    if r.visible == 0 {
        1.0
    } else {
        r.exposed as f64 / r.visible as f64
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(v: &mut [f64]) -> f64 {
    pct(v, 0.5)
}

fn p95(v: &mut [f64]) -> f64 {
    pct(v, 0.95)
}

fn pct(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let i = ((v.len() - 1) as f64 * q).round() as usize;
    v[i]
}

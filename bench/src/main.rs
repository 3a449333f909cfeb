//! `errand-bench`: errand's benchmarks, which print numbers (speed and size targets live
//! here, never in timed tests). A crate of its own so the shipped `errand` binary does not
//! carry the tokenizer tables, gzip and https test servers only benchmarks use.
//!
//! `page-state` serves the article-extraction pages from loopback and measures, per page,
//! the time to build the page state (cold: first call on a new document, which creates
//! errand's isolated world; warm: the median of the next calls), its size in characters
//! and o200k tokens, and the share of the page's visible interactive elements it lists.
//!
//! Layout: one module per benchmark (`page_state`, `step`, `guard`, `extract`, `mcp`), and
//! `stats` for the medians and percentiles they print.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use errand::errln;
use errand::site::{self, Pages};

mod extract;
mod guard;
mod mcp;
mod page_state;
mod stats;
mod step;

#[derive(Parser)]
#[command(
    name = "errand-bench",
    about = "errand's benchmarks: they print numbers (run from the repository root, where ../shared/bench is found)"
)]
struct Cli {
    #[command(subcommand)]
    which: Which,
}

fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ERRAND_LOG").unwrap_or_else(|_| errand::LOG_DEFAULT.into());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let cli = Cli::parse();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            errln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run(cli.which)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            errln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// The benchmark pages of a folder served on loopback: their ids (the first `limit`) and
/// the origin.
pub(crate) async fn serve_pages(dir: &PathBuf, limit: Option<usize>) -> Result<(Vec<String>, String)> {
    let pages = pages_from_dir(dir)
        .with_context(|| format!("no benchmark pages at {} (run from the repository root, or pass --pages)", dir.display()))?;
    let mut ids = pages.ids();
    if let Some(n) = limit {
        ids.truncate(n);
    }
    Ok((ids, site::serve(pages, "127.0.0.1:0").await?))
}

/// Every `*.html` and `*.html.gz` file of a folder, served as `/<name>.html`.
pub(crate) fn pages_from_dir(dir: &PathBuf) -> Result<Pages> {
    let mut map = HashMap::new();
    for e in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let p = e?.path();
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        let bytes = std::fs::read(&p).with_context(|| format!("cannot read {}", p.display()))?;
        if let Some(stem) = name.strip_suffix(".gz") {
            let mut out = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut out)
                .with_context(|| format!("{} is not valid gzip", p.display()))?;
            map.insert(format!("/{stem}"), out);
        } else if name.ends_with(".html") {
            map.insert(format!("/{name}"), bytes);
        }
    }
    Ok(Pages(std::sync::Arc::new(map)))
}

#[derive(Subcommand)]
enum Which {
    /// Added latency per request of the allowlist enforcement layers (CDP interception,
    /// filtering proxy): the same pages loaded without and with them, request by request
    Guard {
        /// Folder of pages (`*.html` or `*.html.gz`)
        #[arg(long, default_value = "../shared/bench/article-extraction/html")]
        pages: PathBuf,
        /// Only the first N pages
        #[arg(long)]
        limit: Option<usize>,
        /// Chromium executable
        #[arg(long)]
        chrome: Option<PathBuf>,
        /// Measure the CDP layer alone (no proxy, no launch flags)
        #[arg(long)]
        cdp_only: bool,
        /// Also with consent on: held in errand's proxy (as now) and by DevTools request
        /// interception on every target (as before), side by side
        #[arg(long)]
        consent: bool,
        /// New https hosts to time the proxy's TLS handshakes on (0 skips it)
        #[arg(long, default_value_t = 20)]
        hosts: usize,
    },
    /// errand's own time per agent step (everything but the model's reply): a scripted
    /// run of the real agent loop over the demo site, timed from its recording
    Step {
        /// Rounds of the 11-step cycle (navigate, click, extract, table, scroll, back, …, scrolls down a long page)
        #[arg(long, default_value_t = 6)]
        rounds: usize,
        /// Chromium executable
        #[arg(long)]
        chrome: Option<PathBuf>,
    },
    /// Extraction quality (F1, precision, recall with the set's own score.py; per page type
    /// on wcxb-dev, beside rs-trafilatura's published figures) and speed, page load included
    Extract {
        /// Which benchmark set
        #[arg(long, value_enum, default_value = "article-extraction")]
        set: extract::Set,
        /// The set's folder (html/, its truth, score.py) [default: ../shared/bench/SET]
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Only the first N pages
        #[arg(long)]
        limit: Option<usize>,
        /// N pages spread evenly over the set, for quick loops
        #[arg(long)]
        sample: Option<usize>,
        /// Only fold K of N (0-based, by a hash of the page id), such as 0/5
        #[arg(long, value_parser = extract::parse_fold)]
        fold: Option<(u64, u64)>,
        /// With --fold: every page but that fold's
        #[arg(long, requires = "fold")]
        held_out: bool,
        /// Keep the predictions here (default: a temporary file)
        #[arg(long)]
        predictions: Option<PathBuf>,
        /// Pages loaded at once, as `errand extract --parallel`
        #[arg(long, default_value_t = 4)]
        parallel: usize,
        /// Chromium executable
        #[arg(long)]
        chrome: Option<PathBuf>,
        /// Keep each rendered page in this folder, for --rendered
        #[arg(long, conflicts_with = "rendered")]
        save_rendered: Option<PathBuf>,
        /// No browser: extract again from the rendered pages kept in this folder (quick
        /// loops on extraction rules; no page-load speed)
        #[arg(long)]
        rendered: Option<PathBuf>,
    },
    /// The page_state tool through `errand mcp` as an agent host sees it: time and tokens
    Mcp {
        /// Folder of pages (`*.html` or `*.html.gz`)
        #[arg(long, default_value = "../shared/bench/article-extraction/html")]
        pages: PathBuf,
        /// Only the first N pages
        #[arg(long)]
        limit: Option<usize>,
        /// Wait this long after each navigate before calling page_state (a host's model
        /// thinking)
        #[arg(long, default_value_t = 0)]
        pause_ms: u64,
    },
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
        /// List the visible interactive elements the page state missed, per page
        #[arg(long)]
        audit: bool,
    },
}

async fn run(which: Which) -> Result<()> {
    match which {
        Which::Guard { pages, limit, chrome, cdp_only, consent, hosts } => {
            guard::guard(pages, limit, chrome, cdp_only, consent, hosts).await
        }
        Which::Step { rounds, chrome } => step::step(rounds, chrome).await,
        Which::Extract { set, dir, limit, sample, fold, held_out, predictions, parallel, chrome, save_rendered, rendered } => {
            let part = extract::Part { limit, sample, fold, held_out };
            let rendered = match (save_rendered, rendered) {
                (Some(to), _) => extract::Rendered::Save(to),
                (_, Some(from)) => extract::Rendered::From(from),
                _ => extract::Rendered::Load,
            };
            extract::extract(set, dir, part, predictions, parallel, chrome, rendered).await
        }
        Which::Mcp { pages, limit, pause_ms } => mcp::mcp(pages, limit, pause_ms).await,
        Which::PageState { pages, limit, reps, per_page, chrome, audit } => {
            page_state::page_state(pages, limit, reps, per_page, chrome, audit).await
        }
    }
}

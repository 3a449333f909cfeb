//! `errand bench`: benchmarks that print numbers (speed and size targets live here,
//! never in timed tests).
//!
//! `page-state` serves the article-extraction pages from loopback and measures, per page,
//! the time to build the page state (cold: first call on a new document, which creates
//! errand's isolated world; warm: the median of the next calls), its size in characters
//! and o200k tokens, and the share of the page's visible interactive elements it lists.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use browser::{Action, Browser, LaunchOptions, Options, Source, StateOptions};
use clap::Subcommand;
use serde_json::{json, Value};

use crate::site::{self, Pages};

#[derive(Subcommand)]
pub enum Which {
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
        /// Rounds of the 8-step cycle (navigate, click, extract, table, scroll, back, …)
        #[arg(long, default_value_t = 6)]
        rounds: usize,
        /// Chromium executable
        #[arg(long)]
        chrome: Option<PathBuf>,
    },
    /// Extraction quality (F1, precision, recall with the benchmark's score.py) and speed
    /// on the article-extraction pages, page load included
    Extract {
        /// The benchmark folder (html/, ground-truth.json, score.py)
        #[arg(long, default_value = "../shared/bench/article-extraction")]
        dir: PathBuf,
        /// Only the first N pages
        #[arg(long)]
        limit: Option<usize>,
        /// Keep the predictions here (default: a temporary file)
        #[arg(long)]
        predictions: Option<PathBuf>,
        /// Pages loaded at once, as `errand extract --parallel`
        #[arg(long, default_value_t = 4)]
        parallel: usize,
        /// Chromium executable
        #[arg(long)]
        chrome: Option<PathBuf>,
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

/// The independent reference for "visible interactive elements": a plain DOM query, not
/// errand's walker. `eachVisibleInteractive(cb)` calls `cb(el, rect)` for every element a
/// person could click or type into that is rendered with a size (any scroll position).
const VISIBLE_JS: &str = r#"const eachVisibleInteractive = (cb) => {
  const sel = 'a[href],button,input:not([type=hidden]),select,textarea,summary,[contenteditable=""],[contenteditable=true],[role=button],[role=link],[role=checkbox],[role=radio],[role=tab],[role=menuitem],[role=combobox],[role=textbox],[role=switch],[role=option],[role=searchbox],[role=slider]';
  const walk = (root) => {
    for (const el of root.querySelectorAll(sel)) {
      if (!el.checkVisibility({visibilityProperty: true})) continue;
      const r = el.getBoundingClientRect();
      if (r.width <= 0 || r.height <= 0) continue;
      if (getComputedStyle(el).pointerEvents === 'none') continue;
      cb(el, r);
    }
    for (const h of root.querySelectorAll('*')) if (h.shadowRoot) walk(h.shadowRoot);
  };
  walk(document);
};"#;

/// [all, in the viewport], counted in the page's main world.
fn visible_interactive() -> String {
    format!(
        "(() => {{ {VISIBLE_JS} let n = 0, v = 0; eachVisibleInteractive((el, r) => {{ n++; if (r.bottom > 0 && r.top < innerHeight && r.right > 0 && r.left < innerWidth) v++; }}); return [n, v]; }})()"
    )
}

/// Run in errand's isolated world after a snapshot: the visible interactive elements of
/// the independent count that the walker never registered.
fn audit_js() -> String {
    format!(
        r#"(() => {{ {VISIBLE_JS} const out = []; eachVisibleInteractive((el, r) => {{
  if (__errand.known(el)) return;
  const path = [];
  for (let p = el; p && path.length < 4; p = p.parentElement) path.push(p.tagName.toLowerCase() + (p.id ? '#' + p.id : ''));
  out.push(el.outerHTML.slice(0, 140).replace(/\s+/g, ' ') + '  @' + Math.round(r.left) + ',' + Math.round(r.top) + ' in ' + path.join('<'));
}}); return out; }})()"#
    )
}

pub async fn run(which: Which) -> Result<()> {
    match which {
        Which::Guard { pages, limit, chrome, cdp_only, consent, hosts } => guard(pages, limit, chrome, cdp_only, consent, hosts).await,
        Which::Step { rounds, chrome } => step(rounds, chrome).await,
        Which::Extract { dir, limit, predictions, parallel, chrome } => extract(dir, limit, predictions, parallel, chrome).await,
        Which::PageState { pages, limit, reps, per_page, chrome, audit } => page_state(pages, limit, reps, per_page, chrome, audit).await,
    }
}

struct Row {
    id: String,
    cold_ms: f64,
    warm_ms: f64,
    inpage_ms: f64,
    chars: usize,
    tokens: usize,
    listed: usize,
    visible: usize,
    exposed: usize,
    /// In-viewport share (the render always lists every element in the viewport).
    vp_share: f64,
}

async fn page_state(dir: PathBuf, limit: Option<usize>, reps: usize, per_page: bool, chrome: Option<PathBuf>, audit: bool) -> Result<()> {
    let pages = Pages::from_dir(&dir)
        .with_context(|| format!("no benchmark pages at {} (run from the repository root, or pass --pages)", dir.display()))?;
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
    errln!(
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
        if s.url != url {
            // A page that navigates itself away (e.g. a script redirect to https, which
            // fails here) is reported, not measured as if it were the page.
            failed.push(format!("{id}: the page navigated itself to {}", s.url));
            continue;
        }
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
        let inpage = b
            .eval_main("(() => { const t = performance.now(); __errand.snapshot({maxText: 1200}); return performance.now() - t; })()")
            .await
            .ok()
            .and_then(|v| v.as_f64())
            .unwrap_or(0.0);
        let text = s.render();
        let tokens = bpe.encode_with_special_tokens(&text).len();
        let counted = b
            .cdp()
            .raw(b.active_session().as_deref(), "Runtime.evaluate", json!({"expression": visible_interactive(), "returnByValue": true}))
            .await
            .ok()
            .map(|v| v["result"]["value"].clone())
            .unwrap_or_default();
        let visible = counted[0].as_u64().unwrap_or(0) as usize;
        let visible_vp = counted[1].as_u64().unwrap_or(0) as usize;
        let exposed_vp = s.elements.iter().filter(|e| e.frame == 0 && e.where_ == 0 && e.role != "clickable").count();
        let listed = s.listed();
        // Main-frame elements of the standard kinds that the render lists.
        let exposed = s.listed_main_standard();
        let row = Row {
            id: id.trim_start_matches('/').trim_end_matches(".html").to_string(),
            cold_ms: ms(cold),
            warm_ms: median(&mut warm),
            inpage_ms: inpage,
            chars: text.chars().count(),
            tokens,
            listed,
            visible,
            exposed: exposed.min(visible),
            vp_share: if visible_vp == 0 { 1.0 } else { exposed_vp.min(visible_vp) as f64 / visible_vp as f64 },
        };
        if audit && share(&row) < 1.0 {
            if let Ok(v) = b.eval_main(&audit_js()).await {
                outln!("audit {} ({} listed, {} visible):", row.id, row.exposed, row.visible);
                for m in v.as_array().into_iter().flatten().take(15) {
                    outln!("    {}", m.as_str().unwrap_or_default());
                }
            }
        }
        if per_page {
            outln!(
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
            errln!("  {}/{} pages", i + 1, ids.len());
        }
        rows.push(row);
    }
    b.close().await;

    let mut cold: Vec<f64> = rows.iter().map(|r| r.cold_ms).collect();
    let mut warm: Vec<f64> = rows.iter().map(|r| r.warm_ms).collect();
    let mut inpage: Vec<f64> = rows.iter().map(|r| r.inpage_ms).collect();
    let mut toks: Vec<f64> = rows.iter().map(|r| r.tokens as f64).collect();
    let mut chars: Vec<f64> = rows.iter().map(|r| r.chars as f64).collect();
    let mut listed: Vec<f64> = rows.iter().map(|r| r.listed as f64).collect();
    let mut shares: Vec<f64> = rows.iter().map(share).collect();
    let all_exposed = rows.iter().filter(|r| share(r) >= 0.999).count();
    let all_vp = rows.iter().filter(|r| r.vp_share >= 0.999).count();
    let budget_cut = rows.iter().filter(|r| share(r) < 0.999 && r.listed >= StateOptions::default().max_elements).count();
    outln!("errand page-state benchmark: {} pages ({} failed), Chromium headless 1280x720", rows.len(), failed.len());
    outln!("  launch to first page state   {:>8.0} ms", ms(first_state));
    outln!("  build time, cold (new doc)   median {:>7.1} ms   p95 {:>7.1} ms", median(&mut cold), p95(&mut cold));
    outln!("  build time, warm             median {:>7.1} ms   p95 {:>7.1} ms", median(&mut warm), p95(&mut warm));
    outln!("  of which the in-page walk    median {:>7.1} ms   p95 {:>7.1} ms", median(&mut inpage), p95(&mut inpage));
    outln!("  size, o200k tokens           median {:>7.0}      p95 {:>7.0}", median(&mut toks), p95(&mut toks));
    outln!("  size, characters             median {:>7.0}      p95 {:>7.0}", median(&mut chars), p95(&mut chars));
    outln!("  interactive refs listed      median {:>7.0}", median(&mut listed));
    outln!(
        "  visible interactive exposed  median {:>6.1}%   min {:>6.1}%   pages with all exposed: {}/{}",
        100.0 * median(&mut shares),
        100.0 * shares.iter().cloned().fold(1.0, f64::min),
        all_exposed,
        rows.len()
    );
    outln!("  in the viewport: pages with every visible element listed: {all_vp}/{}", rows.len());
    outln!("  pages over the {}-element budget (rest summarised as \"N more below\"): {budget_cut}", StateOptions::default().max_elements);
    outln!(
        "  peers (issue 4, same pages): Playwright MCP 44.6/88.1 ms, 8,725/18,369 tokens; browser-use 224.8/619.7 ms, 3,426/8,369 tokens"
    );
    for f in &failed {
        outln!("  failed: {f}");
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

/// Timings of the page's same-origin requests (the document and its relative
/// subresources; the pages' other hosts do not exist here and fail at once either way).
const TIMINGS: &str = r#"(() => {
  const out = [];
  const nav = performance.getEntriesByType('navigation')[0];
  if (nav) out.push([location.href, nav.responseEnd - nav.fetchStart, nav.responseEnd - nav.requestStart]);
  for (const e of performance.getEntriesByType('resource')) {
    if (e.name.startsWith(location.origin) && e.responseEnd > 0 && e.requestStart > 0) out.push([e.name, e.responseEnd - e.fetchStart, e.responseEnd - e.requestStart]);
  }
  return out;
})()"#;

/// 150 sequential same-origin fetches from an idle page: per-request time with nothing
/// else competing.
const SEQUENTIAL: &str = r#"(async () => {
  const out = [];
  for (let i = 0; i < 150; i++) {
    const t = performance.now();
    await fetch('/seq-' + i + '?' + Math.random(), { cache: 'no-store' }).then((r) => r.text()).catch(() => {});
    out.push(performance.now() - t);
  }
  return out.slice(10);
})()"#;

/// A guard allowing the benchmark's own local sites and nothing else.
fn origins_only(origins: &[String]) -> Result<browser::SharedGuard> {
    let patterns = origins.iter().map(|o| crate::policy::pattern_for_url(o)).collect::<Result<Vec<_>>>()?;
    Ok(crate::policy::build(allowlist::Policy::default(), &[], &patterns)?.guard())
}

/// How a benchmark browser enforces.
#[derive(Clone, Copy, PartialEq)]
enum Enforce {
    Nothing,
    /// DevTools interception alone, as when attached.
    Cdp,
    /// The filtering proxy and launch flags, as launched by errand.
    Proxy,
    /// The proxy, with consent held in it (now).
    ProxyConsent,
    /// The proxy, with consent by DevTools interception on every target (before).
    CdpConsent,
}

impl Enforce {
    fn label(self) -> &'static str {
        match self {
            Enforce::Nothing => "without enforcement",
            Enforce::Cdp => "CDP interception",
            Enforce::Proxy => "proxy + flags",
            Enforce::ProxyConsent => "proxy, consent in proxy (now)",
            Enforce::CdpConsent => "proxy, consent by CDP (before)",
        }
    }
}

struct BenchTls {
    /// The CA file the proxy is told to trust.
    ca: PathBuf,
    /// The key the servers' certificates carry, for an unguarded Chromium to accept.
    spki: String,
}

async fn bench_browser(origins: &[String], how: Enforce, chrome: Option<PathBuf>, tls: Option<&BenchTls>) -> Result<Browser> {
    let mut extra = vec![];
    if matches!(how, Enforce::Nothing | Enforce::Cdp) {
        extra.push("--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1".to_string());
        if let Some(t) = tls {
            extra.push(format!("--ignore-certificate-errors-spki-list={}", t.spki));
        }
    }
    let launch = LaunchOptions { chrome, extra_args: extra, ..LaunchOptions::default() };
    let mut opts = Options {
        settle_timeout: Duration::from_secs(3),
        proxy_layer: how != Enforce::Cdp,
        trust_ca: tls.map(|t| vec![t.ca.clone()]).unwrap_or_default(),
        ..Options::default()
    };
    if how != Enforce::Nothing {
        opts.guard = Some(origins_only(origins)?);
    }
    if matches!(how, Enforce::ProxyConsent | Enforce::CdpConsent) {
        opts.consent = Some(std::sync::Arc::new(|_: browser::Submission| browser::Verdict::Deny("benchmark".into())));
    }
    if how == Enforce::CdpConsent {
        opts.intercept = Some(true);
    }
    Ok(Browser::start(Source::Launch(launch), opts).await?)
}

/// `n` https servers on 127.0.0.2, 127.0.0.3, … with certificates from a CA made for the
/// benchmark, each answering any path with a few bytes any origin may read.
async fn https_hosts(n: usize, dir: &std::path::Path) -> Result<(Vec<String>, BenchTls)> {
    let authority = browser::tls::Authority::new()?;
    let ca = dir.join("bench-ca.pem");
    std::fs::write(&ca, authority.ca_pem())?;
    let mut origins = vec![];
    for i in 0..n {
        let ip = format!("127.0.0.{}", 2 + i);
        let listener = tokio::net::TcpListener::bind(format!("{ip}:0")).await.with_context(|| format!("cannot listen on {ip}"))?;
        origins.push(format!("https://{}", listener.local_addr()?));
        let acceptor = tokio_rustls::TlsAcceptor::from(authority.server_config(&ip)?);
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                // As real servers do: no Nagle delay on small writes.
                let _ = sock.set_nodelay(true);
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(sock).await else { return };
                    let service = hyper::service::service_fn(|_req| async {
                        let mut r = hyper::Response::new(http_body_util::Full::new(hyper::body::Bytes::from_static(b"ok")));
                        r.headers_mut().insert("access-control-allow-origin", hyper::header::HeaderValue::from_static("*"));
                        Ok::<_, std::convert::Infallible>(r)
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                        .await;
                });
            }
        });
    }
    Ok((origins, BenchTls { ca, spki: authority.spki_hash().to_string() }))
}

/// From an idle page: the first request to each new https host (connection and TLS
/// handshakes included), then a second one to the same host (connection reused).
async fn new_hosts(b: &Browser, origin: &str, hosts: &[String]) -> Result<(Vec<f64>, Vec<f64>)> {
    b.act(&Action::Navigate { url: format!("{origin}/errand-idle") }).await?;
    let expr = format!(
        r#"(async () => {{
  const first = [], again = [];
  for (const h of {hosts}) {{
    let t = performance.now();
    await fetch(h + '/a?' + Math.random(), {{ cache: 'no-store' }}).then((r) => r.text()).catch(() => {{}});
    first.push(performance.now() - t);
    t = performance.now();
    await fetch(h + '/b?' + Math.random(), {{ cache: 'no-store' }}).then((r) => r.text()).catch(() => {{}});
    again.push(performance.now() - t);
  }}
  return [first, again];
}})()"#,
        hosts = json!(hosts)
    );
    let v = eval_value(b, &expr).await;
    Ok((floats(&v[0]), floats(&v[1])))
}

/// The numbers of a JSON array (none if it is not one).
fn floats(v: &Value) -> Vec<f64> {
    v.as_array().map(|a| a.iter().filter_map(|x| x.as_f64()).collect()).unwrap_or_default()
}

async fn eval_value(b: &Browser, expression: &str) -> Value {
    b.cdp()
        .raw(
            b.active_session().as_deref(),
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
        )
        .await
        .ok()
        .map(|v| v["result"]["value"].clone())
        .unwrap_or_default()
}

async fn sequential(b: &Browser, origin: &str) -> Result<Vec<f64>> {
    // An idle same-origin page (a plain 404): nothing else competes with the fetches.
    b.act(&Action::Navigate { url: format!("{origin}/errand-idle") }).await?;
    Ok(floats(&eval_value(b, SEQUENTIAL).await))
}

/// Per same-origin request of a page load: the whole time the page waited for it
/// (`fetchStart` to `responseEnd`: the browser's own queue, connecting, the request on
/// the wire) and the part on the wire alone (`requestStart` to `responseEnd`).
async fn page_timings(b: &Browser, url: &str) -> Option<HashMap<String, (f64, f64)>> {
    b.act(&Action::Navigate { url: url.to_string() }).await.ok()?;
    let v = eval_value(b, TIMINGS).await;
    // Leave the page: its timers and animations would otherwise take the machine from
    // the next browser's measurement.
    if let Some(origin) = url::Url::parse(url).ok().map(|u| u.origin().ascii_serialization()) {
        let _ = b.act(&Action::Navigate { url: format!("{origin}/errand-idle") }).await;
    }
    let mut out = HashMap::new();
    for row in v.as_array().into_iter().flatten() {
        if let (Some(u), Some(total), Some(wire)) = (row[0].as_str(), row[1].as_f64(), row[2].as_f64()) {
            out.entry(u.to_string()).or_insert((total, wire));
        }
    }
    Some(out)
}

async fn guard(dir: PathBuf, limit: Option<usize>, chrome: Option<PathBuf>, cdp_only: bool, consent: bool, hosts: usize) -> Result<()> {
    let pages = Pages::from_dir(&dir)
        .with_context(|| format!("no benchmark pages at {} (run from the repository root, or pass --pages)", dir.display()))?;
    let mut ids = pages.ids();
    if let Some(n) = limit {
        ids.truncate(n);
    }
    let origin = site::serve(pages, "127.0.0.1:0").await?;
    let tmp = tempfile::tempdir()?;
    let hosts = if cdp_only { 0 } else { hosts };
    let (https, tls) = if hosts > 0 {
        let (o, t) = https_hosts(hosts, tmp.path()).await?;
        (o, Some(t))
    } else {
        (vec![], None)
    };
    let mut allowed = vec![origin.clone()];
    allowed.extend(https.iter().cloned());
    // Browsers side by side, used in rotation (which goes first rotates too), so drift in
    // the machine's load affects all alike.
    let mut kinds = vec![Enforce::Nothing, if cdp_only { Enforce::Cdp } else { Enforce::Proxy }];
    if consent {
        kinds.extend([Enforce::ProxyConsent, Enforce::CdpConsent]);
    }
    let mut browsers = vec![];
    for k in &kinds {
        browsers.push(bench_browser(&allowed, *k, chrome.clone(), tls.as_ref()).await?);
    }
    let n = kinds.len();
    let order = |i: usize| (0..n).map(move |j| (i + j) % n);
    let mut seq: Vec<Vec<f64>> = vec![vec![]; n];
    for round in 0..n.max(2) {
        for k in order(round) {
            seq[k].extend(sequential(&browsers[k], &origin).await?);
        }
    }
    // Per variant: its timings and its differences from the unguarded browser's, request
    // by request (paired by URL), for the whole time and for the time on the wire.
    let mut with: Vec<Vec<f64>> = vec![vec![]; n];
    let mut deltas: Vec<Vec<f64>> = vec![vec![]; n];
    let mut wire: Vec<Vec<f64>> = vec![vec![]; n];
    let mut wire_deltas: Vec<Vec<f64>> = vec![vec![]; n];
    let mut loaded = 0;
    for (i, id) in ids.iter().enumerate() {
        let url = format!("{origin}{id}");
        let mut t: Vec<Option<HashMap<String, (f64, f64)>>> = vec![None; n];
        for k in order(i) {
            t[k] = page_timings(&browsers[k], &url).await;
        }
        let Some(base) = t[0].clone() else { continue };
        if t.iter().any(|x| x.is_none()) {
            continue;
        }
        loaded += 1;
        for (u, (x, xw)) in &base {
            if t.iter().skip(1).all(|m| m.as_ref().is_some_and(|m| m.contains_key(u))) {
                with[0].push(*x);
                wire[0].push(*xw);
                for k in 1..n {
                    let (y, yw) = t[k].as_ref().and_then(|m| m.get(u)).copied().unwrap_or_default();
                    with[k].push(y);
                    deltas[k].push(y - x);
                    wire[k].push(yw);
                    wire_deltas[k].push(yw - xw);
                }
            }
        }
        if i % 40 == 0 {
            errln!("  {}/{} pages", i + 1, ids.len());
        }
    }
    let mut handshakes: Vec<(Vec<f64>, Vec<f64>)> = vec![];
    if !https.is_empty() {
        // Each browser meets the hosts as new ones: every browser has its own process.
        for b in browsers.iter().take(2) {
            handshakes.push(new_hosts(b, &origin, &https).await?);
        }
    }
    for b in &browsers {
        b.close().await;
    }
    outln!(
        "errand enforcement-latency benchmark ({})",
        if cdp_only { "CDP interception alone, as when attached" } else { "filtering proxy and launch flags, as launched by errand" }
    );
    outln!("  sequential requests from an idle page ({} each):", seq[0].len());
    let (mp, pp) = (median(&mut seq[0].clone()), p95(&mut seq[0].clone()));
    for k in 0..n {
        let (m, p) = (median(&mut seq[k]), p95(&mut seq[k]));
        outln!(
            "    {:<32} median {m:>6.2} ms   p95 {p:>6.2} ms{}",
            kinds[k].label(),
            if k == 0 { String::new() } else { format!("   added median {:>5.2} ms  p95 {:>5.2} ms", m - mp, p - pp) }
        );
    }
    outln!("  during page loads: {loaded} pages, {} same-origin requests paired by URL", with[0].len());
    for (title, with, deltas) in [
        ("whole time the page waited (fetchStart to responseEnd):", &mut with, &mut deltas),
        ("on the wire (requestStart to responseEnd: the proxy's hop and work, without the browser's queue):", &mut wire, &mut wire_deltas),
    ] {
        outln!("   {title}");
        for k in 0..n {
            let (m, p) = (median(&mut with[k]), p95(&mut with[k]));
            let added = if k == 0 {
                String::new()
            } else {
                format!("   added median {:>5.2} ms  p95 {:>5.2} ms", median(&mut deltas[k]), p95(&mut deltas[k]))
            };
            outln!("    {:<32} median {m:>6.2} ms   p95 {p:>6.2} ms{added}", kinds[k].label());
        }
    }
    if let [(plain_new, plain_again), (proxy_new, proxy_again)] = handshakes.as_mut_slice() {
        outln!("  https: {} new hosts, one request each and then a second (connection reused):", https.len());
        outln!("    first request, {:<19} median {:>6.2} ms   p95 {:>6.2} ms", "without enforcement", median(plain_new), p95(plain_new));
        outln!("    first request, {:<19} median {:>6.2} ms   p95 {:>6.2} ms   (TLS opened and verified in the proxy: added {:.2} ms per new host)", "through the proxy", median(proxy_new), p95(proxy_new), median(proxy_new) - median(plain_new));
        outln!(
            "    second request, {:<18} median {:>6.2} ms   p95 {:>6.2} ms",
            "without enforcement",
            median(plain_again),
            p95(plain_again)
        );
        outln!("    second request, {:<18} median {:>6.2} ms   p95 {:>6.2} ms", "through the proxy", median(proxy_again), p95(proxy_again));
    }
    Ok(())
}

/// Per-step overhead of the real agent loop: a `script:` run (the "model" answers at once)
/// over the demo site. The recording times each model turn; the gap between one reply
/// and the next request is errand's: executing the call, settling, the new page state,
/// narration and recording.
async fn step(rounds: usize, chrome: Option<PathBuf>) -> Result<()> {
    let origin = site::serve(Pages::demo(), "127.0.0.1:0").await?;
    let tmp = tempfile::tempdir()?;
    let cycle = |_: usize| {
        vec![
            json!({"tool": "navigate", "args": {"url": format!("{origin}/")}}),
            json!({"tool": "click", "args": {"text": "What a heat pump costs"}}),
            json!({"tool": "extract"}),
            json!({"tool": "extract_table"}),
            json!({"tool": "scroll", "args": {"direction": "down"}}),
            json!({"tool": "back"}),
            json!({"tool": "click", "args": {"text": "Heat pumps in cold climates"}}),
            json!({"tool": "extract"}),
        ]
    };
    let mut script: Vec<Value> = (0..rounds).flat_map(cycle).collect();
    script.push(json!({"tool": "done", "args": {"summary": "benchmark"}}));
    let file = tmp.path().join("script.json");
    std::fs::write(&file, serde_json::to_string(&script)?)?;
    let browser = crate::args::BrowserArgs { chrome, allowlist: Some(tmp.path().join("allowlist.toml")), ..Default::default() };
    let args = crate::run::RunArgs {
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
        confirm: crate::consent::Confirm::Deny,
        confirm_timeout: 1,
        dry_run: false,
        browser,
    };
    crate::run::run(args).await?;
    let rec = std::fs::read_dir(tmp.path().join("rec"))?.next().context("no recording")??.path();
    let log = recordings::read(&rec)?;
    // (time the reply was logged, model time) per turn, and the tool of each turn.
    let turns: Vec<(u64, u64, String)> = log
        .lines
        .iter()
        .filter_map(|l| match &l.record {
            recordings::Record::ModelTurn { ms, calls, .. } => {
                Some((l.t, *ms, calls.first().and_then(|c| c["tool"].as_str()).unwrap_or("").to_string()))
            }
            _ => None,
        })
        .collect();
    let mut all = vec![];
    let mut by_tool: std::collections::BTreeMap<String, Vec<f64>> = Default::default();
    for w in turns.windows(2) {
        let gap = w[1].0.saturating_sub(w[1].1).saturating_sub(w[0].0) as f64;
        all.push(gap);
        by_tool.entry(w[0].2.clone()).or_default().push(gap);
    }
    outln!("errand per-step overhead: {} steps of a scripted run over the demo site (model time excluded)", all.len());
    outln!("  all steps        median {:>6.1} ms   p95 {:>6.1} ms", median(&mut all), p95(&mut all));
    for (tool, mut v) in by_tool {
        outln!("  {tool:<16} median {:>6.1} ms   p95 {:>6.1} ms   ({} steps)", median(&mut v), p95(&mut v), v.len());
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

/// Extract every benchmark page through a real Chromium (pages served from loopback, their
/// other hosts failing fast) and score the text with the benchmark's own `score.py`.
async fn extract(dir: PathBuf, limit: Option<usize>, predictions: Option<PathBuf>, parallel: usize, chrome: Option<PathBuf>) -> Result<()> {
    let pages = Pages::from_dir(&dir.join("html"))
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

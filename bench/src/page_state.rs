//! `page-state`: the page state's build time, size in characters and tokens, and the share
//! of the visible interactive elements it lists.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use browser::{Action, Browser, LaunchOptions, Options, Source, StateOptions};
use errand::{errln, outln};
use serde_json::json;

use crate::serve_pages;
use crate::stats::*;

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

pub async fn page_state(
    dir: PathBuf,
    limit: Option<usize>,
    reps: usize,
    per_page: bool,
    chrome: Option<PathBuf>,
    audit: bool,
) -> Result<()> {
    let (ids, origin) = serve_pages(&dir, limit).await?;
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

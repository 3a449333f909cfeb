//! `errand open` and `errand extract`: the read-only commands. They allow only the hosts
//! they are given (plus the allowlist for `open`) and refuse every state-changing request
//! a page sends.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use browser::{Action, Browser, StateOptions};

use crate::args::BrowserArgs;
use crate::signals::interrupted;
use crate::{policy, stdio};

/// `errand extract`: one browser for all the URLs; one failing URL gets its error and the
/// rest go on (exit 1 if any failed). Only the named URLs' hosts are allowed.
pub async fn extract(urls: Vec<String>, args: BrowserArgs, json: bool, parallel: usize) -> Result<ExitCode> {
    let mut hosts = vec![];
    for u in &urls {
        match policy::pattern_for_url(u) {
            Ok(p) => hosts.push(p),
            Err(e) => {
                errln!("error: {e:#}");
                return Ok(ExitCode::from(2));
            }
        }
    }
    let live = match policy::build(allowlist::Policy::default(), &args.allow, &hosts) {
        Ok(l) => l,
        Err(e) => {
            errln!("error: {e:#}");
            return Ok(ExitCode::from(2));
        }
    };
    let b = Browser::start(args.source(vec![]), args.read_only(live.guard())).await.context("could not start the browser")?;
    let mut failures = 0;
    let t = Instant::now();
    // The pages still loading are dropped with the stream at the end of this block,
    // before the browser closes.
    {
        let mut results = std::pin::pin!(b.extract_urls(&urls, parallel));
        let mut stop = std::pin::pin!(interrupted());
        loop {
            let next = tokio::select! {
                n = futures::StreamExt::next(&mut results) => n,
                why = &mut stop => {
                    errln!("stopped by {why}");
                    failures += 1;
                    break;
                }
            };
            let Some((i, r)) = next else { break };
            let url = &urls[i];
            let r = r.map_err(|e| e.to_string());
            let line = match r {
                Ok(v) => {
                    let again = if v["view"] == "without scripts" {
                        "; its scripts lost the article, so it was read again without scripts"
                    } else {
                        ""
                    };
                    errln!(
                        "[{}/{}] {url}: {} chars of text ({} ms since start{again})",
                        i + 1,
                        urls.len(),
                        v["text"].as_str().map(|t| t.chars().count()).unwrap_or(0),
                        t.elapsed().as_millis()
                    );
                    if json {
                        let mut o = serde_json::json!({"url": url, "error": null});
                        for k in ["status", "title", "byline", "date", "lang", "page_type", "markdown", "text", "view"] {
                            o[k] = v.get(k).cloned().unwrap_or(serde_json::Value::Null);
                        }
                        o.to_string()
                    } else {
                        let title = v["title"].as_str().unwrap_or_default();
                        format!("# {title}\n\nSource: <{url}>\n\n{}\n", v["markdown"].as_str().unwrap_or_default().trim())
                    }
                }
                Err(e) => {
                    failures += 1;
                    errln!("[{}/{}] {url}: {e}", i + 1, urls.len());
                    if json {
                        serde_json::json!({"url": url, "status": null, "title": null, "byline": null, "date": null, "lang": null, "page_type": null, "markdown": null, "text": null, "view": null, "error": e}).to_string()
                    } else {
                        continue;
                    }
                }
            };
            if !crate::stdio::out(&line) {
                // Nobody reads the rest (`| head`): stop loading pages.
                break;
            }
        }
    }
    tokio::time::timeout(Duration::from_secs(5), b.close()).await.ok();
    Ok(ExitCode::from(if failures > 0 { 1 } else { 0 }))
}

pub async fn show(args: &BrowserArgs, url: &str, json: bool, live: std::sync::Arc<policy::LivePolicy>) -> Result<ExitCode> {
    let t = Instant::now();
    errln!("[1] starting the browser; allowlist: {}", live.patterns().join(", "));
    let b = Browser::start(args.source(vec![]), args.read_only(live.guard())).await.context("could not start the browser")?;
    errln!("    {} ({} ms)", b.description, t.elapsed().as_millis());
    for l in b.layers() {
        errln!("    enforcing {l}");
    }
    let work = async {
        errln!("[2] navigate {url}");
        let o = b.act(&Action::Navigate { url: url.to_string() }).await.with_context(|| format!("could not open {url}"))?;
        errln!("    {} ({} ms)", o.summary, t.elapsed().as_millis());
        errln!("[3] page state");
        let s = b.state(&StateOptions::default()).await.context("could not read the page")?;
        errln!("    {} ({} ms since start)", stdio::plural(s.elements.len(), "element"), t.elapsed().as_millis());
        for blocked in b.blocked().into_iter().filter(|x| x.source != "chromium") {
            errln!("    blocked {} ({})", blocked.url, blocked.reason);
        }
        if json {
            outln!("{}", serde_json::to_string(&s)?);
        } else {
            outln!("{}", s.render());
        }
        Ok::<_, anyhow::Error>(s)
    };
    let s = tokio::select! {
        s = work => s,
        why = interrupted() => Err(anyhow::anyhow!("stopped by {why}")),
    };
    let s = match s {
        Ok(s) => s,
        Err(e) => {
            // The browser is closed (and its profile removed) on every way out.
            tokio::time::timeout(Duration::from_secs(5), b.close()).await.ok();
            return Err(e);
        }
    };
    tokio::time::timeout(Duration::from_secs(5), b.close()).await.ok();
    if let Some(p) = &s.problem {
        errln!("error: {url} answered {p}");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

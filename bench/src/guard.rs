//! `guard`: the time errand's enforcement (proxy, flags, consent) adds per request.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use browser::{Action, Browser, LaunchOptions, Options, Source};
use errand::{errln, outln};
use serde_json::{json, Value};

use crate::serve_pages;
use crate::stats::*;

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
pub fn origins_only(origins: &[String]) -> Result<browser::SharedGuard> {
    let patterns = origins.iter().map(|o| errand::policy::pattern_for_url(o)).collect::<Result<Vec<_>>>()?;
    Ok(errand::policy::build(allowlist::Policy::default(), &[], &patterns)?.guard())
}

/// How a benchmark browser enforces.
#[derive(Clone, Copy, PartialEq)]
enum Enforce {
    Nothing,
    /// No enforcement, but what errand refuses fails inside Chromium as under errand's
    /// shortcut: a baseline whose refusals cost the same, so the difference is the proxy's.
    FailFast,
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
            Enforce::FailFast => "none, refusals fail in Chromium",
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
    if matches!(how, Enforce::Nothing | Enforce::FailFast | Enforce::Cdp) {
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
    if !matches!(how, Enforce::Nothing | Enforce::FailFast) {
        opts.guard = Some(origins_only(origins)?);
    }
    if matches!(how, Enforce::ProxyConsent | Enforce::CdpConsent) {
        opts.consent = Some(std::sync::Arc::new(|_: browser::Submission| browser::Verdict::Deny("benchmark".into())));
    }
    if how == Enforce::CdpConsent {
        opts.intercept = Some(true);
    }
    let b = Browser::start(Source::Launch(launch), opts).await?;
    if how == Enforce::FailFast {
        // The benchmark keeps to its first tab, whose session outlives its navigations.
        // The same hosts, from the same allowlist, as errand's own shortcut is given.
        if let Some(params) = origins_only(origins)?.hosts().and_then(|h| browser::shortcut::blocked_urls(&h)) {
            b.cdp().raw(b.active_session().as_deref(), "Network.setBlockedURLs", params).await?;
        }
    }
    Ok(b)
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

pub async fn guard(dir: PathBuf, limit: Option<usize>, chrome: Option<PathBuf>, cdp_only: bool, consent: bool, hosts: usize) -> Result<()> {
    let (ids, origin) = serve_pages(&dir, limit).await?;
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
    if !cdp_only {
        kinds.push(Enforce::FailFast);
    }
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
    // Against the baseline whose refusals fail in Chromium too: what the proxy itself adds.
    let fast = kinds.iter().position(|k| *k == Enforce::FailFast);
    let diff = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x - y).collect::<Vec<f64>>();
    let mut vs_fast: Vec<(usize, Vec<f64>, Vec<f64>)> = match fast {
        Some(f) => (1..n).filter(|&k| k != f).map(|k| (k, diff(&with[k], &with[f]), diff(&wire[k], &wire[f]))).collect(),
        None => vec![],
    };
    outln!("  during page loads: {loaded} pages, {} same-origin requests paired by URL", with[0].len());
    outln!("  (the pages' third-party hosts fail at the resolver without enforcement, inside Chromium by errand's shortcut with it)");
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
    if !vs_fast.is_empty() {
        outln!("   against the baseline whose refusals also fail in Chromium (the proxy's own cost):");
        for (k, whole, wire) in &mut vs_fast {
            outln!(
                "    {:<32} whole wait added median {:>5.2} ms  p95 {:>5.2} ms   on the wire added median {:>5.2} ms  p95 {:>5.2} ms",
                kinds[*k].label(),
                median(whole),
                p95(whole),
                median(wire),
                p95(wire)
            );
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

//! `errand`: a browser agent that turns web research into documents, under a domain
//! allowlist and human consent. This binary is a thin command line over the library
//! crates: `browser` drives Chromium, `allowlist` decides where it may go, `recordings`
//! keeps the session log.

#[macro_use]
mod stdio;
mod allow;
mod bench;
mod consent;
mod model;
mod narrate;
mod output;
mod policy;
mod review;
mod run;
mod secrets;
mod site;
mod tools;
mod userflow;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use browser::{Action, Browser, LaunchOptions, Options, Source, StateOptions};
use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(name = "errand", version, about = "A browser agent that turns web research into documents, under a domain allowlist and your consent", after_help = AFTER_HELP)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Args, Clone, Debug, Default)]
pub struct BrowserArgs {
    /// Chromium executable (default: $CHROME, then chromium, chromium-browser, google-chrome on PATH)
    #[arg(long, global = true, value_name = "FILE")]
    chrome: Option<PathBuf>,
    /// Show the browser window instead of running headless
    #[arg(long, global = true)]
    headed: bool,
    /// Keep the browser profile in this folder (default: a fresh temporary profile)
    #[arg(long, global = true, value_name = "DIR")]
    profile: Option<PathBuf>,
    /// Attach to a running browser (ws://… or http://host:port) instead of launching one
    #[arg(long, global = true, value_name = "URL", value_parser = cdp_url)]
    cdp_url: Option<String>,
    /// Also allow this host pattern for this run only (repeatable)
    #[arg(long = "allow", value_name = "PATTERN", global = true)]
    allow: Vec<String>,
    /// The allowlist file (default ~/.config/errand/allowlist.toml)
    #[arg(long, global = true, env = "ERRAND_ALLOWLIST", value_name = "FILE")]
    allowlist: Option<PathBuf>,
    /// Also trust the certificate authorities in this PEM file for https servers (an
    /// intranet's own CA; repeatable). The platform's roots are always trusted.
    #[arg(long = "trust-ca", global = true, value_name = "FILE", value_parser = trust_ca)]
    trust_ca: Vec<PathBuf>,
    /// Reach servers through this proxy (http://[USER:PASS@]HOST:PORT), after errand's own
    /// checks. Default: HTTPS_PROXY / HTTP_PROXY / ALL_PROXY, honouring NO_PROXY
    #[arg(long = "upstream-proxy", global = true, value_name = "URL", value_parser = upstream_proxy)]
    upstream_proxy: Option<String>,
}

/// Text with the `user:password@` of every URL in it replaced by `…@`.
fn without_userinfo(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        out.push_str(&rest[..i + 3]);
        rest = &rest[i + 3..];
        let end = rest.find(|c: char| c.is_whitespace() || c == '/' || c == '\'' || c == '"').unwrap_or(rest.len());
        if let Some(at) = rest[..end].rfind('@') {
            out.push('…');
            rest = &rest[at..];
        }
    }
    out.push_str(rest);
    out
}

/// `--upstream-proxy` must be an http:// proxy address: checked before anything starts.
fn upstream_proxy(s: &str) -> Result<String, String> {
    browser::upstream::validate(s).map(|_| s.to_string())
}

/// `--trust-ca` must name a readable PEM file with certificates: checked before anything starts.
fn trust_ca(s: &str) -> Result<PathBuf, String> {
    let p = PathBuf::from(s);
    browser::tls::trusted(&p).map(|_| p).map_err(|e| e.to_string())
}

/// `--cdp-url` must be a DevTools address: checked before anything starts.
fn cdp_url(s: &str) -> Result<String, String> {
    match url::Url::parse(s) {
        Ok(u) if matches!(u.scheme(), "ws" | "wss" | "http" | "https") && u.host_str().is_some() => Ok(s.to_string()),
        Ok(u) => Err(format!("{s} is a {} address; give the browser's DevTools address, ws://HOST:PORT/devtools/browser/… or http://HOST:PORT", u.scheme())),
        Err(e) => Err(format!("{e}; give the browser's DevTools address, ws://HOST:PORT/devtools/browser/… or http://HOST:PORT")),
    }
}

impl BrowserArgs {
    pub fn source(&self, extra_args: Vec<String>) -> Source {
        match &self.cdp_url {
            Some(u) => Source::Attach(u.clone()),
            None => Source::Launch(LaunchOptions {
                chrome: self.chrome.clone(),
                headed: self.headed,
                profile: self.profile.clone(),
                extra_args,
                ..LaunchOptions::default()
            }),
        }
    }

    pub fn options(&self, guard: browser::SharedGuard) -> Options {
        let upstream = match &self.upstream_proxy {
            Some(u) => browser::upstream::Route::Via(u.clone()),
            None => browser::upstream::Route::FromEnv,
        };
        Options { viewport: if self.headed { None } else { Some((1280, 720)) }, guard: Some(guard), trust_ca: self.trust_ca.clone(), upstream, ..Options::default() }
    }

    /// [`BrowserArgs::options`] for the commands that only read (`open`, `extract`): every
    /// form submission and other state-changing request a page sends is refused.
    pub fn read_only(&self, guard: browser::SharedGuard) -> Options {
        let deny: browser::SharedConsent = std::sync::Arc::new(|_: browser::Submission| browser::Verdict::Deny("this command only reads pages: it sends no form and no other state-changing request".into()));
        Options { consent: Some(deny), ..self.options(guard) }
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a demo research task on the bundled heat-pump site (offline, no API key)
    #[command(after_help = AFTER_HELP)]
    Demo {
        #[command(flatten)]
        browser: BrowserArgs,
        /// Print events as JSON Lines on stdout
        #[arg(long)]
        json: bool,
        /// The output folder (default ./errand-out/<session-id>)
        #[arg(long, short = 'o', value_name = "DIR")]
        out: Option<PathBuf>,
        /// Where recordings go (default ~/.local/share/errand/recordings)
        #[arg(long, env = "ERRAND_RECORD_DIR", value_name = "DIR")]
        record_dir: Option<PathBuf>,
    },
    /// Extract the main content of pages as Markdown (their hosts are allowed, nothing else)
    #[command(after_help = AFTER_HELP)]
    Extract {
        /// The pages to read (their hosts are allowed for this run)
        #[arg(required = true, value_name = "URL")]
        urls: Vec<String>,
        #[command(flatten)]
        browser: BrowserArgs,
        /// One JSON object per URL per line: url, title, byline, date, lang, markdown, text,
        /// view, error
        #[arg(long)]
        json: bool,
        /// Pages loaded at once (each in a tab of its own)
        #[arg(long, short = 'p', default_value_t = 4, value_name = "N", value_parser = run::at_least_one)]
        parallel: usize,
    },
    /// Open a URL and print its page state (the compact view a model reads)
    #[command(after_help = AFTER_HELP)]
    Open {
        /// The page to open (its host is allowed for this run)
        #[arg(value_name = "URL")]
        url: String,
        #[command(flatten)]
        browser: BrowserArgs,
        /// Print the page state as JSON
        #[arg(long)]
        json: bool,
    },
    /// Do a research task in the browser and write the results as files
    #[command(after_help = AFTER_HELP)]
    Run(run::RunArgs),
    /// List, edit and check the domain allowlist (default ~/.config/errand/allowlist.toml)
    Allow {
        #[command(subcommand)]
        cmd: allow::AllowCmd,
        /// The allowlist file to use
        #[arg(long, global = true, env = "ERRAND_ALLOWLIST", value_name = "FILE")]
        allowlist: Option<PathBuf>,
    },
    /// Store secrets the model may use by name (`{{secret:NAME}}`) but never see; errand
    /// writes a value in only for requests to its hosts
    Secrets {
        #[command(subcommand)]
        cmd: secrets::SecretsCmd,
    },
    /// Replay a recorded session without a model, under today's allowlist and consent
    #[command(after_help = AFTER_HELP)]
    Replay(ReplayArgs),
    /// List, show and verify session recordings (default ~/.local/share/errand/recordings)
    #[command(after_help = AFTER_HELP)]
    Recordings {
        #[command(subcommand)]
        cmd: review::RecordingsCmd,
        /// Where recordings are
        #[arg(long, env = "ERRAND_RECORD_DIR", global = true, value_name = "DIR")]
        record_dir: Option<PathBuf>,
    },
    /// Benchmarks that print numbers
    Bench {
        #[command(subcommand)]
        which: bench::Which,
    },
}

const AFTER_HELP: &str = "Examples:
  errand demo
  errand run \"Collect the prices of the three plans into a CSV and a summary\" -s https://vendor.example/pricing -o prices
  errand extract https://example.com/article --json | jq .title
  errand allow add docs.rs '*.wikipedia.org'
  errand recordings list
  errand replay 20261130-071502-3fa2

Environment:
  ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL   Claude (--model anthropic:MODEL), and a proxy or gateway for it
  OPENAI_API_KEY, OPENAI_BASE_URL         OpenAI or any server that speaks its Chat Completions API
  CHROME                                  the Chromium executable (else chromium, google-chrome… on PATH)
  ERRAND_ALLOWLIST                        the allowlist file (default ~/.config/errand/allowlist.toml)
  ERRAND_RECORD_DIR                       where recordings go (default ~/.local/share/errand/recordings)
  ERRAND_LOG                              log filter, e.g. debug or errand::consent=debug

Exit codes:
  0  success
  1  the work failed (a run that did not finish, a page that could not be read, a recording
     that was altered)
  2  usage or bad input (nothing was started)
  3  recordings verify: intact, but the session was stopped before it ended";

/// Ctrl-C (SIGINT) or SIGTERM, once either came: set by one task that listens from the
/// moment errand starts, so a signal that arrives while Chromium is still starting is not
/// fatal but waits for the command to stop cleanly.
static STOP: std::sync::OnceLock<tokio::sync::watch::Receiver<Option<&'static str>>> = std::sync::OnceLock::new();

fn listen_for_signals() {
    let (tx, rx) = tokio::sync::watch::channel(None);
    let _ = STOP.set(rx);
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::spawn(async move {
        #[cfg(unix)]
        let why = match term {
            Some(mut term) => tokio::select! {
                _ = tokio::signal::ctrl_c() => "Ctrl-C",
                _ = term.recv() => "SIGTERM",
            },
            None => {
                let _ = tokio::signal::ctrl_c().await;
                "Ctrl-C"
            }
        };
        #[cfg(not(unix))]
        let why = {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        };
        let _ = tx.send(Some(why));
    });
}

/// Resolves when the user asks errand to stop: Ctrl-C or SIGTERM. Commands select on it
/// so the browser is closed, its temporary profile removed and the recording finished on
/// either, instead of the process dying where it stands.
pub async fn interrupted() -> &'static str {
    let Some(rx) = STOP.get() else { return std::future::pending().await };
    let mut rx = rx.clone();
    let why = rx.wait_for(|v| v.is_some()).await.ok().and_then(|v| *v);
    match why {
        Some(w) => w,
        None => std::future::pending().await,
    }
}

/// The demo's task: answered from the bundled site, which also carries a prompt
/// injection (the forum page) and a link off the allowlist.
const DEMO_TASK: &str = "How much does an air-source heat pump cost to buy, install and run, and how do heat pumps cope with cold climates?";

fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ERRAND_LOG").unwrap_or_else(|_| "warn".into());
    // Colour codes only on a terminal: a log file or a pipe gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr).init();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            if !e.use_stderr() {
                let _ = e.print();
                return ExitCode::from(0);
            }
            // clap repeats a rejected value: never a password inside a URL.
            errln!("{}", without_userinfo(&e.render().to_string()).trim_end());
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            errln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let code = match rt.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            errln!("error: {e:#}");
            ExitCode::from(1)
        }
    };
    // A prompt still reading the terminal (after its timeout) must not hold up the exit.
    rt.shutdown_timeout(Duration::from_millis(500));
    code
}

async fn run(cli: Cli) -> Result<ExitCode> {
    listen_for_signals();
    match cli.cmd {
        Cmd::Allow { cmd, allowlist } => Ok(allow::run(cmd, allowlist)),
        Cmd::Secrets { cmd } => Ok(secrets::run(cmd)),
        Cmd::Demo { browser, json, out, record_dir } => {
            let origin = site::serve(site::Pages::demo(), "127.0.0.1:0").await?;
            errln!("errand demo: serving the bundled demo site at {origin}");
            // The demo allows its own site and nothing else (plus any --allow), and uses
            // an empty allowlist file of its own so the user's file is not needed.
            let mut browser = browser;
            if browser.allowlist.is_none() {
                browser.allowlist = Some(std::env::temp_dir().join(format!("errand-demo-allowlist-{}.toml", std::process::id())));
            }
            let args = run::RunArgs {
                task: DEMO_TASK.into(),
                start: vec![format!("{origin}/")],
                out,
                model: Some("builtin".into()),
                max_steps: 40,
                max_tokens: 2_000_000,
                record_dir,
                json,
                max_pages: 20,
                search: None,
                confirm: consent::Confirm::Ask,
                confirm_timeout: 300,
                dry_run: false,
                browser,
            };
            run::run(args).await
        }
        Cmd::Open { url, browser, json } => {
            let live = match open_policy(&browser, &url) {
                Ok(l) => l,
                Err(e) => {
                    errln!("error: {e:#}");
                    return Ok(ExitCode::from(run::BAD_INPUT));
                }
            };
            show(&browser, &url, json, live).await
        }
        Cmd::Recordings { cmd, record_dir } => review::run(cmd, record_dir),
        Cmd::Replay(a) => replay(a).await,
        Cmd::Bench { which } => bench::run(which).await.map(|_| ExitCode::SUCCESS),
        Cmd::Run(args) => run::run(args).await,
        Cmd::Extract { urls, browser, json, parallel } => extract(urls, browser, json, parallel).await,
    }
}

#[derive(clap::Args, Debug)]
struct ReplayArgs {
    /// The recording: its id (or a unique prefix) under --record-dir, or its folder; or a
    /// Chrome DevTools Recorder user flow (a .json file, the @puppeteer/replay format)
    recording: String,
    /// The output folder for the replay's files (default ./errand-out/<new session id>)
    #[arg(long, short = 'o', value_name = "DIR")]
    out: Option<PathBuf>,
    /// Who approves state-changing requests again: ask (on a terminal; otherwise deny),
    /// deny, or approve
    #[arg(long, value_enum, default_value_t = consent::Confirm::Ask)]
    confirm: consent::Confirm,
    /// Seconds to wait for an answer before a submission counts as declined
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    confirm_timeout: u64,
    /// Keep the recorded pace, N times faster (default: as fast as the pages allow)
    #[arg(long, value_name = "N", value_parser = run::positive)]
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
async fn replay(a: ReplayArgs) -> Result<ExitCode> {
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
    let root = a.record_dir.clone().unwrap_or_else(run::default_record_root);
    let dir = match review::find(&root, &a.recording) {
        Ok(d) => d,
        Err(e) => {
            errln!("error: {e:#}");
            return Ok(ExitCode::from(2));
        }
    };
    // A recording is input from wherever it came: it must verify (or be forced), and it
    // never widens today's allowlist.
    if let Err(why) = review::check(&dir) {
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
    let out = a.out.clone().unwrap_or_else(|| PathBuf::from("errand-out").join(run::session_id()));
    let files = rec.files.clone();
    let steps = rec.steps.len() as u32;
    errln!("errand replay {id}: {}, from {}", stdio::plural(steps as usize, "step"), rec.start.as_deref().unwrap_or("the first step"));
    let args = run::RunArgs {
        task: rec.task.clone(),
        start: rec.start.clone().into_iter().collect(),
        out: Some(out.clone()),
        model: None,
        max_steps: steps + 2,
        max_tokens: u64::MAX,
        record_dir: a.record_dir.clone(),
        json: a.json,
        confirm: a.confirm,
        confirm_timeout: a.confirm_timeout,
        dry_run: false,
        max_pages: 20,
        search: None,
        browser: a.browser,
    };
    let r = model::replay::Replay::new(&id, rec, a.until, a.keep_going, a.speed);
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
    if d.is_empty() && differ == 0 && code == ExitCode::SUCCESS {
        errln!("replay matched the recording");
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::from(1))
    }
}

/// `errand extract`: one browser for all the URLs; one failing URL gets its error and the
/// rest go on (exit 1 if any failed). Only the named URLs' hosts are allowed.
async fn extract(urls: Vec<String>, args: BrowserArgs, json: bool, parallel: usize) -> Result<ExitCode> {
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
                let again = if v["view"] == "without scripts" { "; its scripts lost the article, so it was read again without scripts" } else { "" };
                errln!("[{}/{}] {url}: {} chars of text ({} ms since start{again})", i + 1, urls.len(), v["text"].as_str().map(|t| t.chars().count()).unwrap_or(0), t.elapsed().as_millis());
                if json {
                    let mut o = serde_json::json!({"url": url, "error": null});
                    for k in ["status", "title", "byline", "date", "lang", "markdown", "text", "view"] {
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
                    serde_json::json!({"url": url, "status": null, "title": null, "byline": null, "date": null, "lang": null, "markdown": null, "text": null, "view": null, "error": e}).to_string()
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
    drop(results);
    tokio::time::timeout(Duration::from_secs(5), b.close()).await.ok();
    Ok(ExitCode::from(if failures > 0 { 1 } else { 0 }))
}

/// The policy for `errand open`: the allowlist file, `--allow`, and the URL's own host.
fn open_policy(browser: &BrowserArgs, url: &str) -> Result<std::sync::Arc<policy::LivePolicy>> {
    file_policy(browser, &[policy::pattern_for_url(url)?])
}

/// The allowlist file and `--allow`, plus `extra` patterns the command itself needs.
fn file_policy(browser: &BrowserArgs, extra: &[String]) -> Result<std::sync::Arc<policy::LivePolicy>> {
    let path = allow::path(browser.allowlist.clone()).map_err(|e| anyhow::anyhow!(e))?;
    let base = allowlist::file::load(&path).map_err(|e| anyhow::anyhow!("{e}"))?;
    policy::build(base, &browser.allow, extra)
}

async fn show(args: &BrowserArgs, url: &str, json: bool, live: std::sync::Arc<policy::LivePolicy>) -> Result<ExitCode> {
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

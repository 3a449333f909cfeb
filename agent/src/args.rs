//! Command-line pieces several commands share: the browser options (`--chrome`,
//! `--allow`, `--cdp-url`, …) with the checks that run before anything starts, the policy
//! they make with the allowlist file, and value parsers.

use std::path::PathBuf;

use anyhow::Result;
use browser::{LaunchOptions, Options, Source};
use clap::Args;

use crate::{allow, policy};

#[derive(Args, Clone, Debug, Default)]
pub struct BrowserArgs {
    /// Chromium executable (default: $CHROME, then chromium, chromium-browser, google-chrome on PATH)
    #[arg(long, global = true, value_name = "FILE")]
    pub chrome: Option<PathBuf>,
    /// Show the browser window instead of running headless
    #[arg(long, global = true)]
    pub headed: bool,
    /// Keep the browser profile in this folder (default: a fresh temporary profile)
    #[arg(long, global = true, value_name = "DIR")]
    pub profile: Option<PathBuf>,
    /// Attach to a running browser (ws://… or http://host:port) instead of launching one
    #[arg(long, global = true, value_name = "URL", value_parser = cdp_url)]
    pub cdp_url: Option<String>,
    /// Also allow this host pattern for this run only (repeatable)
    #[arg(long = "allow", value_name = "PATTERN", global = true)]
    pub allow: Vec<String>,
    /// The allowlist file (default ~/.config/errand/allowlist.toml)
    #[arg(long, global = true, env = "ERRAND_ALLOWLIST", value_name = "FILE")]
    pub allowlist: Option<PathBuf>,
    /// Also trust the certificate authorities in this PEM file for https servers (an
    /// intranet's own CA; repeatable). The platform's roots are always trusted.
    #[arg(long = "trust-ca", global = true, value_name = "FILE", value_parser = trust_ca)]
    pub trust_ca: Vec<PathBuf>,
    /// Reach servers through this proxy (http://[USER:PASS@]HOST:PORT), after errand's own
    /// checks. Default: HTTPS_PROXY / HTTP_PROXY / ALL_PROXY, honouring NO_PROXY
    #[arg(long = "upstream-proxy", global = true, value_name = "URL", value_parser = upstream_proxy)]
    pub upstream_proxy: Option<String>,
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
        Ok(u) => Err(format!(
            "{s} is a {} address; give the browser's DevTools address, ws://HOST:PORT/devtools/browser/… or http://HOST:PORT",
            u.scheme()
        )),
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
        Options {
            viewport: if self.headed { None } else { Some((1280, 720)) },
            guard: Some(guard),
            trust_ca: self.trust_ca.clone(),
            upstream,
            ..Options::default()
        }
    }

    /// [`BrowserArgs::options`] for the commands that only read (`open`, `extract`): every
    /// form submission and other state-changing request a page sends is refused.
    pub fn read_only(&self, guard: browser::SharedGuard) -> Options {
        let deny: browser::SharedConsent = std::sync::Arc::new(|_: browser::Submission| {
            browser::Verdict::Deny("this command only reads pages: it sends no form and no other state-changing request".into())
        });
        Options { consent: Some(deny), ..self.options(guard) }
    }
}

/// The policy for `errand open`: the allowlist file, `--allow`, and the URL's own host.
pub fn open_policy(browser: &BrowserArgs, url: &str) -> Result<std::sync::Arc<policy::LivePolicy>> {
    file_policy(browser, &[policy::pattern_for_url(url)?])
}

/// The allowlist file and `--allow`, plus `extra` patterns the command itself needs.
pub fn file_policy(browser: &BrowserArgs, extra: &[String]) -> Result<std::sync::Arc<policy::LivePolicy>> {
    let path = allow::path(browser.allowlist.clone()).map_err(|e| anyhow::anyhow!(e))?;
    let base = allowlist::file::load(&path).map_err(|e| anyhow::anyhow!("{e}"))?;
    policy::build(base, &browser.allow, extra)
}

/// A count that must be 1 or more (`--parallel`, `--max-pages`).
pub fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be 1 or more".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("{e}")),
    }
}

/// A speed-up factor that must be above 0 (`--speed`).
pub fn positive(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
        Ok(_) => Err("must be a number above 0, e.g. 2 for twice the recorded pace".into()),
        Err(e) => Err(format!("{e}")),
    }
}

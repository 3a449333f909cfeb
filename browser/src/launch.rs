//! Finding, starting and attaching to Chromium.
//!
//! Discovery order: `--chrome PATH`, then `$CHROME`, then `chromium`, `chromium-browser`,
//! `google-chrome`, `google-chrome-stable` on `PATH`. errand starts Chromium itself with
//! `--remote-debugging-port=0` and reads the DevTools URL Chromium prints on stderr, or
//! attaches to a browser someone else started (`--cdp-url`). A launched browser gets a
//! fresh temporary profile (removed when errand ends) unless a profile folder is given.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::BrowserError;

/// The names errand looks for on `PATH`, in order.
pub const CANDIDATES: &[&str] = &["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"];

/// Where the browser comes from.
#[derive(Debug, Clone)]
pub enum Source {
    /// Launch a local Chromium.
    Launch(LaunchOptions),
    /// Attach to a running browser: `ws://…/devtools/browser/…` or `http://host:port`.
    Attach(String),
}

#[derive(Debug, Clone)]
pub struct LaunchOptions {
    /// An explicit executable (`--chrome`); otherwise discovery.
    pub chrome: Option<PathBuf>,
    pub headed: bool,
    /// A persistent profile folder; `None` gives a fresh temporary one.
    pub profile: Option<PathBuf>,
    pub window: (u32, u32),
    /// Extra command-line switches (e.g. a proxy for the allowlist layers).
    pub extra_args: Vec<String>,
}

impl Default for LaunchOptions {
    fn default() -> Self {
        LaunchOptions { chrome: None, headed: false, profile: None, window: (1280, 720), extra_args: vec![] }
    }
}

/// Resolve the Chromium executable: explicit path, `$CHROME`, then `PATH`.
pub fn find_chrome(explicit: Option<&Path>) -> Result<PathBuf, BrowserError> {
    if let Some(p) = explicit {
        return if p.is_file() {
            Ok(p.to_path_buf())
        } else {
            which::which(p).map_err(|_| BrowserError::NoChrome { detail: format!("--chrome {} does not exist", p.display()) })
        };
    }
    if let Some(env) = std::env::var_os("CHROME").filter(|v| !v.is_empty()) {
        let p = PathBuf::from(&env);
        return if p.is_file() {
            Ok(p)
        } else {
            which::which(&p)
                .map_err(|_| BrowserError::NoChrome { detail: format!("$CHROME is {} but no such program exists", p.display()) })
        };
    }
    for name in CANDIDATES {
        if let Ok(p) = which::which(name) {
            return Ok(p);
        }
    }
    Err(BrowserError::NoChrome { detail: format!("none of {} is on PATH", CANDIDATES.join(", ")) })
}

/// The switches errand always passes. The networking ones keep Chromium from calling
/// home (it would stall on a closed network and leak lookups of its own).
pub fn base_args(opts: &LaunchOptions, profile: &Path) -> Vec<String> {
    let mut a = vec![
        "--remote-debugging-port=0".to_string(),
        format!("--user-data-dir={}", profile.display()),
        format!("--window-size={},{}", opts.window.0, opts.window.1),
        "--no-first-run".into(),
        "--no-default-browser-check".into(),
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        "--disable-default-apps".into(),
        "--disable-extensions".into(),
        "--disable-breakpad".into(),
        "--disable-client-side-phishing-detection".into(),
        "--disable-domain-reliability".into(),
        "--disable-features=Translate,OptimizationHints,MediaRouter,InterestFeedContentSuggestions,AutofillServerCommunication,CertificateTransparencyComponentUpdater,DialMediaRouteProvider,NetworkTimeServiceQuerying,ChromeWhatsNewUI,PrivacySandboxSettings4,AccountConsistency,SigninInterception,LensOverlay,ComponentUpdater".into(),
        "--no-pings".into(),
        "--safebrowsing-disable-auto-update".into(),
        "--disable-field-trial-config".into(),
        "--metrics-recording-only".into(),
        "--password-store=basic".into(),
        "--use-mock-keychain".into(),
        "--mute-audio".into(),
        "--hide-scrollbars".into(),
        "--disable-quic".into(),
        "--disable-gpu".into(),
        "about:blank".into(),
    ];
    if !opts.headed {
        a.insert(0, "--headless=new".into());
    }
    // Chromium refuses to start as root without this; errand is usually run in
    // containers and CI as root. Site isolation still separates origins.
    if is_root() {
        a.insert(0, "--no-sandbox".into());
    }
    a.extend(opts.extra_args.iter().cloned());
    a
}

fn is_root() -> bool {
    // SAFETY-free check: the effective uid is in /proc/self/status on Linux.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0")))
        .unwrap_or(false)
}

/// A running Chromium that errand started.
pub struct Launched {
    pub child: Child,
    pub ws_url: String,
    pub executable: PathBuf,
}

/// Start Chromium and wait (bounded) for its DevTools URL.
pub async fn launch(opts: &LaunchOptions, profile: &Path, timeout: Duration) -> Result<Launched, BrowserError> {
    let exe = find_chrome(opts.chrome.as_deref())?;
    let mut cmd = Command::new(&exe);
    cmd.args(base_args(opts, profile)).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).kill_on_drop(true);
    // If errand itself is killed (kill -9, a crash), Chromium goes with it instead of
    // living on headless and unseen. The signal fires when the spawning thread exits:
    // a tokio worker, which lives as long as errand's runtime.
    #[cfg(target_os = "linux")]
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|e| BrowserError::Launch { exe: exe.clone(), message: e.to_string(), log: String::new() })?;
    let Some(stderr) = child.stderr.take() else {
        return Err(BrowserError::Launch { exe, message: "no stderr pipe".into(), log: String::new() });
    };
    let mut lines = BufReader::new(stderr).lines();
    let mut log = String::new();
    let found = tokio::time::timeout(timeout, async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(i) = line.find("ws://") {
                return Some(line[i..].trim().to_string());
            }
            if log.len() < 4000 {
                log.push_str(&line);
                log.push('\n');
            }
        }
        None
    })
    .await;
    match found {
        Ok(Some(ws_url)) => {
            // Keep draining stderr so Chromium never blocks on a full pipe.
            tokio::spawn(async move {
                while let Ok(Some(line)) = lines.next_line().await {
                    tracing::trace!(target: "chromium", "{line}");
                }
            });
            Ok(Launched { child, ws_url, executable: exe })
        }
        Ok(None) => {
            let status = child.try_wait().ok().flatten();
            Err(BrowserError::Launch {
                exe,
                message: format!(
                    "Chromium exited before it was ready ({})",
                    status.map(|s| s.to_string()).unwrap_or_else(|| "still running".into())
                ),
                log,
            })
        }
        Err(_) => {
            let _ = child.start_kill();
            Err(BrowserError::Launch { exe, message: format!("no DevTools endpoint within {timeout:?}"), log })
        }
    }
}

/// Turn a `--cdp-url` into a browser WebSocket URL: `ws://` and `wss://` are used as they
/// are; `http://host:port` is asked for `/json/version`.
pub async fn resolve_cdp_url(url: &str, timeout: Duration) -> Result<String, BrowserError> {
    if url.starts_with("ws://") || url.starts_with("wss://") {
        return Ok(url.to_string());
    }
    let parsed = url::Url::parse(url).map_err(|e| BrowserError::BadCdpUrl { url: url.into(), message: e.to_string() })?;
    if parsed.scheme() != "http" {
        return Err(BrowserError::BadCdpUrl { url: url.into(), message: "use ws://…, wss://… or http://host:port".into() });
    }
    let host = parsed.host_str().unwrap_or("127.0.0.1").to_string();
    let port = parsed.port_or_known_default().unwrap_or(9222);
    // A one-shot HTTP/1.0 GET: pulling in an HTTP client crate for one local request to
    // the DevTools endpoint would add more than it saves.
    let body = tokio::time::timeout(timeout, async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
        s.write_all(format!("GET /json/version HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n").as_bytes()).await?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = s.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf);
            if let Some(end) = text.find("\r\n\r\n") {
                let len = text[..end]
                    .lines()
                    .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap_or(0)));
                if let Some(len) = len {
                    if buf.len() >= end + 4 + len {
                        break;
                    }
                }
            }
        }
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&buf).to_string())
    })
    .await
    .map_err(|_| BrowserError::BadCdpUrl { url: url.into(), message: "no answer from /json/version".into() })?
    .map_err(|e| BrowserError::BadCdpUrl { url: url.into(), message: e.to_string() })?;
    let json = body.split("\r\n\r\n").nth(1).unwrap_or("");
    let v: serde_json::Value = serde_json::from_str(json)
        .map_err(|e| BrowserError::BadCdpUrl { url: url.into(), message: format!("/json/version is not JSON: {e}") })?;
    v.get("webSocketDebuggerUrl")
        .and_then(|s| s.as_str())
        .map(|s| s.to_string())
        .ok_or_else(|| BrowserError::BadCdpUrl { url: url.into(), message: "/json/version has no webSocketDebuggerUrl".into() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headless_root_runs_get_the_quiet_network_switches() {
        let a = base_args(&LaunchOptions::default(), Path::new("/tmp/p"));
        for s in [
            "--headless=new",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--remote-debugging-port=0",
            "--user-data-dir=/tmp/p",
        ] {
            assert!(a.iter().any(|x| x == s), "missing {s}");
        }
        let headed = base_args(&LaunchOptions { headed: true, ..LaunchOptions::default() }, Path::new("/tmp/p"));
        assert!(!headed.iter().any(|x| x.starts_with("--headless")));
    }

    #[test]
    fn explicit_missing_chrome_is_a_clear_error() {
        let e = find_chrome(Some(Path::new("/no/such/chrome"))).unwrap_err().to_string();
        assert!(e.contains("--chrome /no/such/chrome does not exist"), "{e}");
        assert!(e.contains("apt-get install chromium"), "{e}");
    }
}

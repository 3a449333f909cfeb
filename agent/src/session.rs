//! What every session shares, whoever drives it (`errand run`, a replay, a Recorder
//! flow): its id, where errand keeps its data and recordings, and the screenshot each step
//! leaves in the recording.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use browser::{Blocked, Browser, BrowserError};
use recordings::{Record, Recorder};

use crate::args::BrowserArgs;
use crate::consent::{Asker, Confirm, SessionConsent};
use crate::events::Event;
use crate::narrate::Narrator;

/// A new session's id: when it began, to the second, and four hex digits from the
/// millisecond and the process id. Within one process no two ids share a millisecond:
/// `errand mcp` begins a session per client, and a session begun in a millisecond already
/// given out is stamped with the next one free (the ids name recordings and output
/// folders, so equal ids would fail the later session).
pub fn session_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = recordings::now_ms();
    let ms = match LAST.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| Some(now.max(last + 1))) {
        Ok(last) | Err(last) => now.max(last + 1),
    };
    let secs = ms / 1000;
    // Civil date from Unix days (no time crate needed for one format).
    let (y, m, d) = civil(secs / 86_400);
    let t = secs % 86_400;
    format!("{y:04}{m:02}{d:02}-{:02}{:02}{:02}-{:04x}", t / 3600, t / 60 % 60, t % 60, (ms as u32 ^ std::process::id()) & 0xffff)
}

fn civil(days: u64) -> (i64, u32, u32) {
    // Howard Hinnant's days-to-civil algorithm.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// errand's data folder: `$XDG_DATA_HOME/errand`, else `~/.local/share/errand`. It holds
/// the recordings (by default) and the key that signs them.
pub fn data_dir() -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("errand")
}

pub fn default_record_root() -> PathBuf {
    data_dir().join("recordings")
}

/// A step's screenshot as its record names it: the file in the recording and its SHA-256,
/// both absent when there is none.
#[derive(Default, Clone)]
pub struct Shot {
    pub file: Option<String>,
    pub sha256: Option<String>,
}

/// A thumbnail of the page after step `n`, saved in the recording as
/// `screenshots/NNN.jpg`; none (and a note) if the browser cannot take one, or if the page
/// shows a secret typed in this session (a GET form puts a password in the address, an
/// echo page prints it).
pub async fn picture(browser: &Browser, rec: &Recorder, narr: &Narrator, n: u32) -> Shot {
    let shot = match start_picture(browser, rec).await {
        Ok(pending) => save_picture(rec, n, pending).await,
        Err(e) => Err(e),
    };
    shot.unwrap_or_else(|e| {
        if let Some(e) = e {
            narr.line(&e);
        }
        Shot::default()
    })
}

/// Ask for the thumbnail of the page as it is now ([`picture`] in two halves: the page is
/// checked for secrets and Chromium asked here; [`save_picture`] waits for it). `Err`:
/// there will be no picture of this step, and why, if a person should know.
pub async fn start_picture(browser: &Browser, rec: &Recorder) -> Result<browser::PendingPicture, Option<String>> {
    let secrets = rec.secrets();
    if !secrets.is_empty() {
        let shown = browser.eval_main("location.href + '\\n' + (document.body ? document.body.innerText : '')").await;
        if shown.map(|v| secrets.found_in(v.as_str().unwrap_or_default())).unwrap_or(true) {
            return Err(Some("    no screenshot for this step: the page shows a secret typed earlier".into()));
        }
    }
    browser.start_thumbnail().await.map_err(|_| None)
}

/// Wait for a picture asked for with [`start_picture`] and save it as step `n`'s. `Err`:
/// the line to narrate when it could not be saved.
pub async fn save_picture(rec: &Recorder, n: u32, pending: browser::PendingPicture) -> Result<Shot, Option<String>> {
    let Ok(Ok(img)) = tokio::time::timeout(Duration::from_secs(10), pending.finish()).await else { return Ok(Shot::default()) };
    let file = format!("screenshots/{n:03}.jpg");
    std::fs::create_dir_all(rec.dir.join("screenshots"))
        .and_then(|_| std::fs::write(rec.dir.join(&file), &img))
        .map_err(|e| Some(format!("    could not save a screenshot in the recording: {e}")))?;
    Ok(Shot { file: Some(file), sha256: Some(recordings::sha256(&img)) })
}

/// The allowlist file a session uses: where it is, its patterns and its `[[submit]]`
/// rules. An error here is bad input: the file is reported and left as it is.
pub struct AllowlistFile {
    pub path: PathBuf,
    pub base: allowlist::Policy,
    pub rules: Vec<String>,
}

pub fn allowlist_file(browser: &BrowserArgs) -> Result<AllowlistFile, String> {
    let path = crate::allow::path(browser.allowlist.clone())?;
    let (base, rules) = allowlist::file::load_all(&path).map_err(|e| e.to_string())?;
    Ok(AllowlistFile { path, base, rules })
}

/// Create the recording of session `id` under `root` (default: the data folder's), signed
/// with errand's key. Returns its folder, absolute, and the recorder.
/// The folder the recording of session `id` goes in (absolute).
pub fn recording_dir(root: Option<PathBuf>, id: &str) -> PathBuf {
    let dir = root.unwrap_or_else(default_record_root).join(id);
    std::path::absolute(&dir).unwrap_or(dir)
}

pub fn open_recording(root: Option<PathBuf>, id: &str) -> Result<(PathBuf, Recorder), String> {
    let key = recordings::Key::load_or_create(&data_dir()).map_err(|e| e.to_string())?;
    let dir = recording_dir(root, id);
    let rec = Recorder::create(&dir, key).map_err(|e| e.to_string())?;
    Ok((dir, rec))
}

/// Where a person is asked about a submission.
pub enum Asking {
    /// At errand's terminal, if there is one.
    Terminal,
    /// At an agent host (`errand mcp`), through its asker if it can ask; never at errand's
    /// terminal (stdin is the protocol there).
    Host(Option<Arc<dyn Asker>>),
}

/// The session's consent, and how the recording describes its policy ("ask (no
/// terminal: deny); submit rules: none"). Without a terminal nobody can be asked.
pub fn consent(
    confirm: Confirm,
    dry_run: bool,
    timeout_secs: u64,
    rules: Vec<String>,
    rec: &Recorder,
    who: Asking,
) -> (SessionConsent, String) {
    let (interactive, asker, how) = match who {
        Asking::Terminal => {
            let tty = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
            (tty, None, if tty { "" } else { " (no terminal: deny)" })
        }
        Asking::Host(Some(a)) => (true, Some(a), " (through the MCP client)"),
        Asking::Host(None) => (false, None, " (the MCP client cannot ask: deny)"),
    };
    let policy = format!(
        "{}{}{}; submit rules: {}",
        format!("{confirm:?}").to_lowercase(),
        if confirm == Confirm::Ask { how } else { "" },
        if dry_run { "; dry run" } else { "" },
        if rules.is_empty() { "none".to_string() } else { rules.join(", ") }
    );
    (SessionConsent::new(confirm, dry_run, interactive, rules, Duration::from_secs(timeout_secs), rec.clone(), asker), policy)
}

/// The browser would not start: the recording says so and is closed readable, and the
/// person is told. Exit 1.
pub async fn browser_failed(rec: &Recorder, narr: &Narrator, e: &BrowserError) -> ExitCode {
    rec.log(Record::Error { message: e.to_string() });
    rec.log(Record::SessionEnd { outcome: "failed".into(), steps: 0, tokens_in: 0, tokens_out: 0, summary: e.to_string() });
    rec.flush().await;
    narr.line(&format!("error: could not start the browser: {e}"));
    ExitCode::from(1)
}

/// Record every request the browser blocked since `seen` (which moves on) and announce
/// the page's (not Chromium's own background calls) as `blocked` events. Returns the
/// page's, for the caller to narrate or tell the model.
pub fn record_blocks(browser: &Browser, rec: &Recorder, narr: &Narrator, seen: &mut usize) -> Vec<Blocked> {
    let all = browser.blocked();
    let mut page = vec![];
    for b in all.iter().skip(*seen) {
        rec.log(Record::Blocked {
            url: b.url.clone(),
            reason: b.reason.clone(),
            layer: b.layer.to_string(),
            source: b.source.clone(),
            resource: b.resource.clone(),
        });
        if b.source != "chromium" {
            narr.event(Event::Blocked { url: &b.url, reason: &b.reason, layer: b.layer });
            page.push(b.clone());
        }
    }
    *seen = all.len();
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_sort_by_time() {
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(civil(20_417), (2025, 11, 25));
        assert_eq!(session_id().len(), 20);
    }

    /// `errand mcp` begins a session per client, and two clients can begin in the same
    /// millisecond: their recordings and output folders are named by the id, so two equal
    /// ids would fail the second session.
    #[test]
    fn sessions_begun_together_in_one_process_get_different_ids() {
        let threads: Vec<_> = (0..4).map(|_| std::thread::spawn(|| (0..500).map(|_| session_id()).collect::<Vec<_>>())).collect();
        let ids: Vec<String> = threads.into_iter().flat_map(|t| t.join().unwrap_or_default()).collect();
        let unique: std::collections::HashSet<&String> = ids.iter().collect();
        assert_eq!((ids.len(), unique.len()), (2000, 2000), "equal ids among {ids:?}");
    }
}

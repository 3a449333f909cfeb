//! errand's session log: what the agent did, kept so a person can review and replay it.
//!
//! A recording is a folder holding `session.jsonl`, an append-only JSON Lines log. Each
//! line is one [`Record`] in an envelope with the schema version, a sequence number, the
//! time, and the SHA-256 of the line before it (a hash chain, so an edited, truncated or
//! reordered log can be told from a complete one). One task owns the file and writes
//! each record as it comes, flushed at once: killing errand at any moment leaves every
//! record so far readable, with at most a torn last line, which [`read`] skips and
//! reports. Callers redact secrets before logging; this crate never sees them.
//!
//! Each line also carries its own SHA-256 (`hash`, over the line without `hash` and
//! `mac`, so the last line is covered too) and an HMAC of it (`mac`) under a key kept in
//! errand's data folder ([`Key`]): whoever edits a log and recomputes the chain cannot
//! recompute the MACs, so `verify` tells a re-chained or forged log from a true one.
//! Screenshots and extracts are hashed in the records that name them.
//!
//! The review report and replay (issue 9) build on this format.
//!
//! Layout: this file holds the records, the writer and [`read`]; `key` the signing key,
//! `secrets` the redaction of secret values, `verify` the checks of a whole recording,
//! and [`flow`] Chrome Recorder flows (read, checked, exported).

pub mod flow;
mod key;
mod secrets;
mod verify;

use key::{seal, unseal};
pub use key::{Key, KEY_FILE};
pub use secrets::{Secrets, REDACTED};
pub use verify::{verify, Problem, Verdict};

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};

/// The version of the log's schema, in every line.
pub const SCHEMA: u32 = 1;

/// The file name of the log inside a recording folder.
pub const LOG: &str = "session.jsonl";

/// One event of a session.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    SessionStart {
        session: String,
        task: String,
        model: String,
        allowlist: Vec<String>,
        layers: Vec<String>,
        out_dir: String,
        errand_version: String,
        #[serde(default)]
        browser: String,
        /// Who approves state-changing requests in this session (ask, deny, approve, dry
        /// run) and the submit rules in force.
        #[serde(default)]
        consent: String,
        /// The input folders the model could read (absolute paths).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        inputs: Vec<String>,
        /// A dry run (`errand run --dry-run`): nothing was sent, and the files went to the
        /// recording's `plan/` folder (`out_dir`); `errand replay --execute` carries it out.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        dry_run: bool,
    },
    /// What the model answered (the calls are logged again, executed, as steps). Logged
    /// after the steps its calls made, once the secrets they typed are known.
    ModelTurn {
        turn: u32,
        #[serde(default)]
        text: String,
        calls: Vec<Value>,
        tokens_in: u64,
        tokens_out: u64,
        ms: u64,
    },
    /// One tool call and what came of it.
    Step {
        step: u32,
        tool: String,
        args: Value,
        #[serde(default)]
        intent: String,
        ok: bool,
        summary: String,
        url_before: String,
        /// The page's title before the step.
        #[serde(default)]
        title_before: String,
        url: String,
        title: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        locator: Option<Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        screenshot: Option<String>,
        /// SHA-256 of the screenshot file.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        screenshot_sha256: Option<String>,
        ms: u64,
    },
    Blocked {
        url: String,
        reason: String,
        layer: String,
        source: String,
        resource: String,
    },
    Extract {
        n: u32,
        url: String,
        title: String,
        sha256: String,
        file: String,
    },
    FileWritten {
        path: String,
        sha256: String,
        bytes: u64,
    },
    /// A file read from an input folder: its path as the model named it (`folder/path`),
    /// the SHA-256 and size of its bytes, the part read, and its source number.
    InputRead {
        n: u32,
        path: String,
        sha256: String,
        bytes: u64,
        part: u32,
    },
    Flag {
        url: String,
        text: String,
    },
    /// A state-changing request, what was decided and who decided (person, rule, session
    /// approval, policy, dry run, timeout). Secret field values arrive masked.
    Consent {
        method: String,
        url: String,
        page: String,
        purpose: String,
        fields: Vec<(String, String)>,
        decision: String,
        by: String,
    },
    /// The person's answer when the model tried to open a host off the allowlist.
    AllowPrompt {
        url: String,
        pattern: String,
        answer: String,
    },
    Error {
        message: String,
    },
    SessionEnd {
        outcome: String,
        steps: u32,
        tokens_in: u64,
        tokens_out: u64,
        summary: String,
    },
}

/// A record as it sits in the log.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Line {
    pub v: u32,
    pub seq: u64,
    /// Milliseconds since the Unix epoch.
    pub t: u64,
    /// SHA-256 (hex) of the previous line's bytes; empty on the first line.
    pub prev: String,
    #[serde(flatten)]
    pub record: Record,
    /// SHA-256 (hex) of this line without `hash` and `mac`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hash: String,
    /// HMAC-SHA256 (hex) of `hash` under the machine's recording key.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mac: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    #[error("cannot write the recording in {dir}: {source}; pass --record-dir to record elsewhere")]
    Create { dir: PathBuf, source: std::io::Error },
    #[error("cannot read the recording {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("the recording key {path}: {source}")]
    Key { path: PathBuf, source: std::io::Error },
}

enum Msg {
    Record(Box<Record>),
    /// A place in the log, kept for a record that is still being made (see [`Slot`]).
    Reserve {
        id: u64,
        t: u64,
    },
    /// The record for a kept place; `None` when its maker gave up.
    Fill {
        id: u64,
        record: Option<Box<Record>>,
    },
    Finish(oneshot::Sender<()>),
}

/// A place in the log kept for a record finished later: records logged after it wait
/// (in memory, in order) until it is filled, so the log's order is the order things
/// happened in, and the line keeps the time the place was taken. A step's picture is
/// taken this way while errand goes on with the next page state and model request.
/// Dropped unfilled, the place is given up and nothing is written for it.
#[derive(Debug)]
pub struct Slot {
    id: u64,
    tx: mpsc::UnboundedSender<Msg>,
    filled: bool,
}

impl Slot {
    /// Write the record in the kept place.
    pub fn fill(mut self, record: Record) {
        self.filled = true;
        let _ = self.tx.send(Msg::Fill { id: self.id, record: Some(Box::new(record)) });
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if !self.filled {
            let _ = self.tx.send(Msg::Fill { id: self.id, record: None });
        }
    }
}

/// A handle to the task that owns a recording's log.
#[derive(Clone, Debug)]
pub struct Recorder {
    tx: mpsc::UnboundedSender<Msg>,
    pub dir: PathBuf,
    secrets: Secrets,
}

impl Recorder {
    /// Create the folder (which must not hold a log yet) and start the writer task, which
    /// signs every line with `key`.
    pub fn create(dir: &Path, key: Key) -> Result<Recorder, RecordingError> {
        let err = |source| RecordingError::Create { dir: dir.to_path_buf(), source };
        std::fs::create_dir_all(dir).map_err(err)?;
        let file = std::fs::OpenOptions::new().create_new(true).append(true).open(dir.join(LOG)).map_err(err)?;
        let (tx, rx) = mpsc::unbounded_channel();
        let secrets = Secrets::default();
        tokio::spawn(writer(file, rx, secrets.clone(), key));
        Ok(Recorder { tx, dir: dir.to_path_buf(), secrets })
    }

    /// The secrets this recording redacts (add to them as they become known).
    pub fn secrets(&self) -> &Secrets {
        &self.secrets
    }

    /// Append a record (written and flushed by the writer task, in order).
    pub fn log(&self, record: Record) {
        let _ = self.tx.send(Msg::Record(Box::new(record)));
    }

    /// Keep the next place in the log for a record made later ([`Slot`]).
    pub fn reserve(&self) -> Slot {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let _ = self.tx.send(Msg::Reserve { id, t: now_ms() });
        Slot { id, tx: self.tx.clone(), filled: false }
    }

    /// Wait until everything logged so far is on disk (records waiting behind a place
    /// not yet filled are written when it is).
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Msg::Finish(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

/// One entry of the writer's queue: a record with the time it was logged, or a kept place
/// not yet filled.
enum Queued {
    Ready(u64, Box<Record>),
    Kept(u64, u64),
}

async fn writer(file: std::fs::File, mut rx: mpsc::UnboundedReceiver<Msg>, secrets: Secrets, key: Key) {
    let mut w = Writer { file, seq: 0, prev: String::new(), secrets, key };
    // Records that wait behind a kept place, oldest first.
    let mut queue: std::collections::VecDeque<Queued> = Default::default();
    while let Some(m) = rx.recv().await {
        let finished = match m {
            Msg::Record(record) => {
                queue.push_back(Queued::Ready(now_ms(), record));
                None
            }
            Msg::Reserve { id, t } => {
                queue.push_back(Queued::Kept(id, t));
                None
            }
            Msg::Fill { id, record } => {
                if let Some(i) = queue.iter().position(|q| matches!(q, Queued::Kept(k, _) if *k == id)) {
                    match (record, &queue[i]) {
                        (Some(r), &Queued::Kept(_, t)) => queue[i] = Queued::Ready(t, r),
                        _ => drop(queue.remove(i)),
                    }
                }
                None
            }
            Msg::Finish(done) => Some(done),
        };
        w.write_ready(&mut queue);
        if let Some(done) = finished {
            let _ = w.file.sync_data();
            let _ = done.send(());
        }
    }
    // Every handle is gone: what still waits behind a place never filled is written.
    queue.retain(|q| matches!(q, Queued::Ready(..)));
    w.write_ready(&mut queue);
    let _ = w.file.sync_data();
}

struct Writer {
    file: std::fs::File,
    seq: u64,
    prev: String,
    secrets: Secrets,
    key: Key,
}

impl Writer {
    /// Write the records at the front of the queue, up to the first place not yet filled.
    fn write_ready(&mut self, queue: &mut std::collections::VecDeque<Queued>) {
        while let Some(Queued::Ready(..)) = queue.front() {
            let Some(Queued::Ready(t, record)) = queue.pop_front() else { break };
            self.write(t, *record);
        }
    }

    fn write(&mut self, t: u64, record: Record) {
        let line = Line { v: SCHEMA, seq: self.seq, t, prev: self.prev.clone(), record, hash: String::new(), mac: String::new() };
        let Ok(text) = serde_json::to_string(&line) else { return };
        let mut text = seal(&self.secrets.redact(&text), &self.key);
        self.prev = hex(&Sha256::digest(text.as_bytes()));
        text.push('\n');
        // One write per record: a crash tears at most the last line.
        if let Err(e) = self.file.write_all(text.as_bytes()).and_then(|_| self.file.flush()) {
            eprintln!("errand: could not write to the recording: {e}");
        }
        self.seq += 1;
    }
}

pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 of some bytes, in hex.
pub fn sha256(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// A recording as read back.
#[derive(Debug, Default)]
pub struct Read {
    pub lines: Vec<Line>,
    /// Lines that could not be parsed (1-based line numbers), e.g. a torn last line.
    pub skipped: Vec<usize>,
    /// Where the hash chain breaks (1-based line number), if it does.
    pub broken_at: Option<usize>,
}

/// Read a file of a recording folder: `rel` must be a plain relative path, and neither
/// it nor any folder on the way may be a symbolic link, so a recording from elsewhere
/// cannot make errand read (and show, or embed in a report) some other file of this
/// machine.
pub fn read_inside(dir: &Path, rel: &str) -> std::io::Result<Vec<u8>> {
    use std::path::Component;
    let bad = |why: &str| std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{rel}: {why}"));
    let rel_path = Path::new(rel);
    if rel.is_empty() || !rel_path.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(bad("not a plain path inside the recording"));
    }
    let mut p = dir.to_path_buf();
    for c in rel_path.components() {
        p.push(c);
        if std::fs::symlink_metadata(&p)?.file_type().is_symlink() {
            return Err(bad("a symbolic link (not followed)"));
        }
    }
    let mut o = std::fs::OpenOptions::new();
    o.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.custom_flags(libc::O_NOFOLLOW);
    }
    let mut f = o.open(&p)?;
    if !f.metadata()?.is_file() {
        return Err(bad("not a plain file"));
    }
    let mut out = vec![];
    std::io::Read::read_to_end(&mut f, &mut out)?;
    Ok(out)
}

/// Read a recording folder's log, skipping (and reporting) unreadable lines.
pub fn read(dir: &Path) -> Result<Read, RecordingError> {
    let path = dir.join(LOG);
    let bytes = read_inside(dir, LOG).map_err(|source| RecordingError::Read { path: path.clone(), source })?;
    let text = String::from_utf8(bytes)
        .map_err(|e| RecordingError::Read { path: path.clone(), source: std::io::Error::new(std::io::ErrorKind::InvalidData, e) })?;
    let mut out = Read::default();
    let mut prev = String::new();
    for (i, raw) in text.lines().enumerate() {
        match serde_json::from_str::<Line>(raw) {
            Ok(line) => {
                if line.prev != prev && out.broken_at.is_none() {
                    out.broken_at = Some(i + 1);
                }
                prev = sha256(raw.as_bytes());
                out.lines.push(line);
            }
            Err(_) => out.skipped.push(i + 1),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn short_secrets_are_redacted_where_they_stand_alone() {
        let s = super::Secrets::default();
        s.add("x9");
        assert_eq!(s.redact("pw=x9&user=ann; box9 x9y \"x9\""), format!("pw={r}&user=ann; box9 x9y \"{r}\"", r = super::REDACTED));
        assert!(s.found_in("the password is x9.") && !s.found_in("box9"));
    }

    use super::*;

    #[tokio::test]
    async fn a_kept_place_holds_later_records_back_until_it_is_filled() {
        let d = tempfile::tempdir().unwrap();
        let r = Recorder::create(d.path(), Key::from_bytes(b"test key")).unwrap();
        let msg = |m: &str| Record::Error { message: m.into() };
        r.log(msg("first"));
        let slot = r.reserve();
        let given_up = r.reserve();
        r.log(msg("third"));
        r.flush().await;
        let messages = |d: &Path| {
            read(d)
                .unwrap()
                .lines
                .into_iter()
                .map(|l| match l.record {
                    Record::Error { message } => message,
                    _ => String::new(),
                })
                .collect::<Vec<_>>()
        };
        // Only what came before the open place is on disk.
        assert_eq!(messages(d.path()), ["first"]);
        drop(given_up);
        slot.fill(msg("second"));
        r.flush().await;
        let back = read(d.path()).unwrap();
        assert_eq!(messages(d.path()), ["first", "second", "third"]);
        assert_eq!(back.broken_at, None);
        assert!(back.lines[1].t <= back.lines[2].t);
        assert_eq!(back.lines.iter().map(|l| l.seq).collect::<Vec<_>>(), [0, 1, 2]);
    }

    #[tokio::test]
    async fn records_chain_and_a_torn_line_is_skipped() {
        let d = tempfile::tempdir().unwrap();
        let r = Recorder::create(d.path(), Key::from_bytes(b"test key")).unwrap();
        r.log(Record::Error { message: "one".into() });
        r.log(Record::Error { message: "two".into() });
        r.flush().await;
        let back = read(d.path()).unwrap();
        assert_eq!(back.lines.len(), 2);
        assert_eq!(back.broken_at, None);
        assert_eq!(back.lines[1].seq, 1);
        // A torn last line (as after kill -9) is skipped and reported.
        let mut f = std::fs::OpenOptions::new().append(true).open(d.path().join(LOG)).unwrap();
        f.write_all(b"{\"v\":1,\"seq\":2,\"t\":").unwrap();
        let back = read(d.path()).unwrap();
        assert_eq!((back.lines.len(), back.skipped.clone()), (2, vec![3]));
        // An edited line breaks the chain at the line after it.
        let text = std::fs::read_to_string(d.path().join(LOG)).unwrap().replace("one", "uno");
        std::fs::write(d.path().join(LOG), text).unwrap();
        assert_eq!(read(d.path()).unwrap().broken_at, Some(2));
        // A second recorder never reuses a folder's log.
        assert!(Recorder::create(d.path(), Key::from_bytes(b"test key")).is_err());
    }

    #[tokio::test]
    async fn secrets_are_redacted_in_every_form_before_writing() {
        let d = tempfile::tempdir().unwrap();
        let r = Recorder::create(d.path(), Key::from_bytes(b"test key")).unwrap();
        r.secrets().add("p@ss word&1");
        r.secrets().add("abc"); // short: redacted only where it stands alone
        r.log(Record::Error {
            message: "typed p@ss word&1 then went to /echo?pw=p%40ss+word%261 and /x?pw=p%40ss%20word%261 (abc) abcd".into(),
        });
        r.flush().await;
        let text = std::fs::read_to_string(d.path().join(LOG)).unwrap();
        assert!(!text.contains("p@ss") && !text.contains("p%40ss"), "{text}");
        assert_eq!(text.matches(REDACTED).count(), 4, "{text}");
        assert!(!text.contains("(abc)") && text.contains("abcd"), "{text}");
        // The chain covers what is on disk.
        assert_eq!(read(d.path()).unwrap().broken_at, None);
        assert!(r.secrets().found_in("…p%40ss+word%261…") && !r.secrets().found_in("nothing"));
    }
}

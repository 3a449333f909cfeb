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

pub mod flow;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
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

/// The key that signs recordings made on this machine, kept in errand's data folder
/// (`recording.key`, readable by its owner only). Made on first use.
#[derive(Clone)]
pub struct Key(Vec<u8>);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(…)")
    }
}

/// The key file's name inside errand's data folder.
pub const KEY_FILE: &str = "recording.key";

impl Key {
    /// A key from bytes (tests).
    pub fn from_bytes(b: &[u8]) -> Key {
        Key(b.to_vec())
    }

    /// Read the key in `data_dir`, or make one there. Two errands starting at once agree
    /// on one key: it is written to a temporary file and linked into place, never over
    /// another.
    pub fn load_or_create(data_dir: &Path) -> Result<Key, RecordingError> {
        let path = data_dir.join(KEY_FILE);
        if let Some(k) = Key::load(data_dir)? {
            return Ok(k);
        }
        let err = |source| RecordingError::Key { path: path.clone(), source };
        std::fs::create_dir_all(data_dir).map_err(err)?;
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| err(std::io::Error::other(e.to_string())))?;
        let tmp = data_dir.join(format!(".{KEY_FILE}.{}", std::process::id()));
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            o.mode(0o600);
        }
        let _ = std::fs::remove_file(&tmp);
        let mut f = o.open(&tmp).map_err(err)?;
        f.write_all(hex(&bytes).as_bytes()).and_then(|_| f.sync_all()).map_err(err)?;
        let linked = std::fs::hard_link(&tmp, &path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => Ok(Key(bytes.to_vec())),
            // Another errand made one first: use it.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Key::load(data_dir)?.ok_or_else(|| err(e)),
            Err(e) => Err(err(e)),
        }
    }

    /// Read the key in `data_dir`, if there is one.
    pub fn load(data_dir: &Path) -> Result<Option<Key>, RecordingError> {
        let path = data_dir.join(KEY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(t) => {
                let t = t.trim();
                let bytes: Option<Vec<u8>> =
                    (t.len() == 64).then(|| (0..32).map(|i| u8::from_str_radix(&t[2 * i..2 * i + 2], 16).ok()).collect()).flatten();
                bytes.map(|b| Some(Key(b))).ok_or_else(|| RecordingError::Key { path, source: std::io::Error::other("not a recording key (64 hex digits); move it away and errand makes a new one (recordings signed with it will then no longer verify)") })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(RecordingError::Key { path, source }),
        }
    }

    fn mac(&self, hash: &str) -> String {
        use hmac::Mac;
        #[allow(clippy::expect_used)] // HMAC takes a key of any length: this cannot fail
        let mut m = <hmac::Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        m.update(hash.as_bytes());
        hex(&m.finalize().into_bytes())
    }
}

/// A line's text signed: its own hash and the MAC appended as the last two fields.
fn seal(unsealed: &str, key: &Key) -> String {
    let hash = sha256(unsealed.as_bytes());
    let mac = key.mac(&hash);
    let body = unsealed.strip_suffix('}').unwrap_or(unsealed);
    format!("{body},\"hash\":\"{hash}\",\"mac\":\"{mac}\"}}")
}

/// Split a line into its text without `hash`/`mac` and the two values, if it has them.
fn unseal(raw: &str) -> Option<(String, &str, &str)> {
    // `,"hash":"<64 hex>","mac":"<64 hex>"}` is exactly 148 bytes.
    let i = raw.len().checked_sub(148).filter(|i| raw.is_char_boundary(*i))?;
    let t = &raw[i..];
    if !t.starts_with(",\"hash\":\"") || !t.ends_with("\"}") || &t[73..82] != "\",\"mac\":\"" {
        return None;
    }
    Some((format!("{}}}", &raw[..i]), &t[9..73], &t[82..146]))
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
    Finish(oneshot::Sender<()>),
}

/// Values that must never be written anywhere: typed secrets and API keys. The writer
/// task redacts every line with it just before writing (so the hash chain covers what is
/// on disk), and whoever else writes beside the log (extract files, narration) uses the
/// same set. A secret is also caught in its URL-encoded forms (a GET form puts a password
/// field into the address).
#[derive(Clone, Debug, Default)]
pub struct Secrets(Arc<Mutex<Vec<String>>>, Arc<Mutex<Vec<String>>>);

/// What a secret is replaced with.
pub const REDACTED: &str = "[secret]";

impl Secrets {
    /// Remember a secret. One shorter than 4 characters is too common to hunt for inside
    /// words, so it is redacted only where it stands alone (between non-alphanumerics).
    pub fn add(&self, secret: &str) {
        if secret.is_empty() {
            return;
        }
        if secret.chars().count() < 4 {
            let mut short = self.1.lock().unwrap_or_else(|p| p.into_inner());
            if !short.iter().any(|s| s == secret) {
                short.push(secret.to_string());
            }
            return;
        }
        let form: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
        let mut all = vec![secret.to_string(), form.replace('+', "%20"), form];
        if let Ok(json) = serde_json::to_string(secret) {
            all.push(json.trim_matches('"').to_string());
        }
        let mut v = self.0.lock().unwrap_or_else(|p| p.into_inner());
        for s in all {
            if !v.contains(&s) {
                v.push(s);
            }
        }
        // Longest first, so a secret is not half-replaced through a shorter form of it.
        v.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }

    pub fn redact(&self, text: &str) -> String {
        let v = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = text.to_string();
        for s in v.iter() {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), REDACTED);
            }
        }
        drop(v);
        for s in self.1.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            out = replace_alone(&out, s, REDACTED);
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).is_empty() && self.1.lock().unwrap_or_else(|p| p.into_inner()).is_empty()
    }

    /// Whether a text shows any secret.
    pub fn found_in(&self, text: &str) -> bool {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).iter().any(|s| text.contains(s.as_str()))
            || self.1.lock().unwrap_or_else(|p| p.into_inner()).iter().any(|s| replace_alone(text, s, "") != text)
    }
}

/// `text` with every occurrence of `needle` that stands alone (no letter or digit right
/// before or after it) replaced.
fn replace_alone(text: &str, needle: &str, with: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(needle) {
        let before = rest[..i].chars().next_back();
        let after = rest[i + needle.len()..].chars().next();
        let alone = !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric);
        out.push_str(&rest[..i]);
        out.push_str(if alone { with } else { needle });
        rest = &rest[i + needle.len()..];
    }
    out.push_str(rest);
    out
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

    /// Wait until everything logged so far is on disk.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Msg::Finish(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

async fn writer(mut file: std::fs::File, mut rx: mpsc::UnboundedReceiver<Msg>, secrets: Secrets, key: Key) {
    let mut seq = 0u64;
    let mut prev = String::new();
    while let Some(m) = rx.recv().await {
        match m {
            Msg::Record(record) => {
                let line =
                    Line { v: SCHEMA, seq, t: now_ms(), prev: prev.clone(), record: *record, hash: String::new(), mac: String::new() };
                let Ok(text) = serde_json::to_string(&line) else { continue };
                let mut text = seal(&secrets.redact(&text), &key);
                prev = hex(&Sha256::digest(text.as_bytes()));
                text.push('\n');
                // One write per record: a crash tears at most the last line.
                if let Err(e) = file.write_all(text.as_bytes()).and_then(|_| file.flush()) {
                    eprintln!("errand: could not write to the recording: {e}");
                }
                seq += 1;
            }
            Msg::Finish(done) => {
                let _ = file.sync_data();
                let _ = done.send(());
            }
        }
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

/// What `verify` found wrong with a recording, each with the line (1-based) it concerns.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub line: usize,
    pub what: String,
}

/// The result of checking a recording: complete and unaltered when `problems` is empty
/// and `complete` is true.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Verdict {
    pub records: usize,
    /// The log ends with a `session_end` record.
    pub complete: bool,
    pub problems: Vec<Problem>,
}

impl Verdict {
    pub fn ok(&self) -> bool {
        self.complete && self.problems.is_empty()
    }
}

/// Check a log's text: every line parses, the schema is known, sequence numbers run
/// 0, 1, 2… without gaps (a line removed or moved shows here), each line carries the hash
/// of the one before (an edited line breaks the chain at the next), the log opens with
/// `session_start` and ends with `session_end` (a truncated log does not), each line's own
/// hash matches it and its MAC matches the hash under `key` (so a log edited and
/// re-chained, or made up whole, fails). Pure: `files` answers the SHA-256 of a file of
/// the recording folder (extracts, screenshots), or None if missing.
pub fn verify(text: &str, key: Option<&Key>, files: impl Fn(&str) -> Option<String>) -> Verdict {
    let mut v = Verdict::default();
    let mut prev = String::new();
    let mut last: Option<&Record> = None;
    let mut lines: Vec<Line> = vec![];
    let raw: Vec<&str> = text.split_inclusive('\n').collect();
    for (i, r) in raw.iter().enumerate() {
        let n = i + 1;
        let body = r.strip_suffix('\n');
        let Some(body) = body else {
            v.problems.push(Problem { line: n, what: "the last line is cut short (the log was truncated mid-write)".into() });
            break;
        };
        let line: Line = match serde_json::from_str(body) {
            Ok(l) => l,
            Err(e) => {
                v.problems.push(Problem { line: n, what: format!("not a record: {e}") });
                prev = sha256(body.as_bytes());
                continue;
            }
        };
        match (unseal(body), key) {
            (None, _) => v.problems.push(Problem { line: n, what: "the line is not signed (recorded by an errand before 0.1 signed its logs, or made up)".into() }),
            (Some((unsealed, hash, _)), _) if sha256(unsealed.as_bytes()) != hash || line.hash != hash => {
                v.problems.push(Problem { line: n, what: "the line was edited (its own hash does not match it)".into() })
            }
            (Some(_), None) => v.problems.push(Problem { line: n, what: "there is no recording key on this machine to check its signature against".into() }),
            (Some((_, hash, mac)), Some(k)) if k.mac(hash) != mac => v.problems.push(Problem {
                line: n,
                what: "its signature does not match this machine's recording key (the log was re-chained or made up, or recorded by another user or machine)".into(),
            }),
            _ => {}
        }
        if line.v != SCHEMA {
            v.problems.push(Problem { line: n, what: format!("schema version {} (this errand reads {SCHEMA})", line.v) });
        }
        if line.seq != i as u64 {
            v.problems.push(Problem {
                line: n,
                what: format!("sequence number {} where {i} was expected (a record was removed, added or moved)", line.seq),
            });
        }
        if line.prev != prev {
            v.problems.push(Problem {
                line: n,
                what: "the hash of the line before does not match (that line was edited, or lines were removed or reordered)".into(),
            });
        }
        if i == 0 && !matches!(line.record, Record::SessionStart { .. }) {
            v.problems.push(Problem { line: n, what: "the log does not start with session_start".into() });
        }
        if let Record::Extract { n: k, sha256: want, file, .. } = &line.record {
            match files(file) {
                None => v.problems.push(Problem { line: n, what: format!("extract {k}: {file} is missing") }),
                Some(got) if &got != want => v.problems.push(Problem {
                    line: n,
                    what: format!("extract {k}: {file} was changed (its SHA-256 differs from the one recorded)"),
                }),
                _ => {}
            }
        }
        if let Record::Step { step, screenshot: Some(file), screenshot_sha256, .. } = &line.record {
            match (files(file), screenshot_sha256) {
                (None, _) => v.problems.push(Problem {
                    line: n,
                    what: format!("step {step}: its screenshot {file} is missing (or is not a plain file inside the recording)"),
                }),
                (Some(_), None) => {
                    v.problems.push(Problem { line: n, what: format!("step {step}: its screenshot {file} has no recorded hash") })
                }
                (Some(got), Some(want)) if &got != want => v.problems.push(Problem {
                    line: n,
                    what: format!("step {step}: its screenshot {file} was changed (its SHA-256 differs from the one recorded)"),
                }),
                _ => {}
            }
        }
        prev = sha256(body.as_bytes());
        lines.push(line);
    }
    v.records = lines.len();
    for l in &lines {
        last = Some(&l.record);
    }
    v.complete = matches!(last, Some(Record::SessionEnd { .. }));
    if raw.is_empty() {
        v.problems.push(Problem { line: 0, what: "the log is empty".into() });
    }
    v
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

#[cfg(test)]
mod verify_tests {
    use super::*;

    fn key() -> Key {
        Key::from_bytes(b"this machine's key")
    }

    fn log(records: Vec<Record>) -> String {
        log_with(records, &key())
    }

    /// A log as errand writes it, signed with `key`.
    fn log_with(records: Vec<Record>, key: &Key) -> String {
        let mut out = String::new();
        let mut prev = String::new();
        for (i, r) in records.into_iter().enumerate() {
            let l = seal(
                &serde_json::to_string(&Line {
                    v: SCHEMA,
                    seq: i as u64,
                    t: 1,
                    prev: prev.clone(),
                    record: r,
                    hash: String::new(),
                    mac: String::new(),
                })
                .unwrap(),
                key,
            );
            prev = sha256(l.as_bytes());
            out.push_str(&l);
            out.push('\n');
        }
        out
    }

    fn start() -> Record {
        Record::SessionStart {
            session: "s".into(),
            task: "t".into(),
            model: "builtin".into(),
            allowlist: vec!["127.0.0.1".into()],
            layers: vec![],
            out_dir: "o".into(),
            errand_version: "0".into(),
            browser: String::new(),
            consent: "deny".into(),
        }
    }

    fn end() -> Record {
        Record::SessionEnd { outcome: "done".into(), steps: 1, tokens_in: 0, tokens_out: 0, summary: "ok".into() }
    }

    fn err(m: &str) -> Record {
        Record::Error { message: m.into() }
    }

    #[test]
    fn tells_intact_edited_truncated_and_reordered_logs_apart() {
        let good = log(vec![start(), err("a"), err("b"), end()]);
        let lines: Vec<&str> = good.lines().collect();
        let join = |ls: &[&str]| ls.iter().map(|l| format!("{l}\n")).collect::<String>();
        let none = |_: &str| None;
        let cases: Vec<(&str, String, bool, Vec<usize>)> = vec![
            ("intact", good.clone(), true, vec![]),
            ("edited", good.replace("\"a\"", "\"A\""), true, vec![2, 3]),
            ("the last line edited", good.replace("\"ok\"", "\"OK\""), true, vec![4]),
            // Edited and re-chained by someone without this machine's key.
            ("re-chained", log_with(vec![start(), err("A"), err("b"), end()], &Key::from_bytes(b"another key")), true, vec![1, 2, 3, 4]),
            (
                "a record deleted and the rest re-chained",
                log_with(vec![start(), err("b"), end()], &Key::from_bytes(b"another key")),
                true,
                vec![1, 2, 3],
            ),
            ("truncated at a record boundary", join(&lines[..3]), false, vec![]),
            ("torn last line", format!("{}{}", join(&lines[..3]), &lines[3][..20]), false, vec![4]),
            ("reordered", join(&[lines[0], lines[2], lines[1], lines[3]]), true, vec![2, 3, 4]),
            ("a line removed", join(&[lines[0], lines[2], lines[3]]), true, vec![2, 3]),
        ];
        for (name, text, complete, at) in cases {
            let v = verify(&text, Some(&key()), none);
            assert_eq!(v.complete, complete, "{name}: {v:?}");
            let mut got: Vec<usize> = v.problems.iter().map(|p| p.line).collect();
            got.dedup();
            assert_eq!(got, at, "{name}: {v:?}");
            assert_eq!(v.ok(), complete && at.is_empty(), "{name}");
        }
    }

    #[test]
    fn extract_files_are_checked_against_their_hashes() {
        let text = log(vec![
            start(),
            Record::Extract { n: 1, url: "u".into(), title: "t".into(), sha256: sha256(b"md"), file: "extracts/001.md".into() },
            end(),
        ]);
        let k = key();
        assert!(verify(&text, Some(&k), |_| Some(sha256(b"md"))).ok());
        let v = verify(&text, Some(&k), |_| Some(sha256(b"changed")));
        assert!(v.problems[0].what.contains("was changed") && v.problems[0].line == 2, "{v:?}");
        assert!(verify(&text, Some(&k), |_| None).problems[0].what.contains("missing"));
        // Screenshots too, and one without a recorded hash does not pass.
        let step = |sha: Option<String>| Record::Step {
            step: 1,
            tool: "click".into(),
            args: serde_json::json!({}),
            intent: String::new(),
            ok: true,
            summary: String::new(),
            url_before: String::new(),
            title_before: String::new(),
            url: String::new(),
            title: String::new(),
            locator: None,
            screenshot: Some("screenshots/001.jpg".into()),
            screenshot_sha256: sha,
            ms: 1,
        };
        let text = log(vec![start(), step(Some(sha256(b"jpg"))), end()]);
        assert!(verify(&text, Some(&k), |_| Some(sha256(b"jpg"))).ok());
        assert!(verify(&text, Some(&k), |_| Some(sha256(b"other"))).problems[0].what.contains("screenshot"));
        assert!(!verify(&log(vec![start(), step(None), end()]), Some(&k), |_| Some(sha256(b"jpg"))).ok());
        // Without a key nothing verifies.
        assert!(!verify(&text, None, |_| Some(sha256(b"jpg"))).ok());
    }

    #[test]
    fn a_key_is_made_once_and_kept() {
        let d = tempfile::tempdir().unwrap();
        assert!(Key::load(d.path()).unwrap().is_none());
        let a = Key::load_or_create(d.path()).unwrap();
        let b = Key::load_or_create(d.path()).unwrap();
        assert_eq!(a.0, b.0);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(d.path().join(KEY_FILE)).unwrap().permissions().mode() & 0o777, 0o600);
        }
        std::fs::write(d.path().join(KEY_FILE), "nonsense").unwrap();
        assert!(Key::load(d.path()).unwrap_err().to_string().contains("not a recording key"));
    }
}

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
        ms: u64,
    },
    Blocked { url: String, reason: String, layer: String, source: String, resource: String },
    Extract { n: u32, url: String, title: String, sha256: String, file: String },
    FileWritten { path: String, sha256: String, bytes: u64 },
    Flag { url: String, text: String },
    /// A state-changing request, what was decided and who decided (person, rule, session
    /// approval, policy, dry run, timeout). Secret field values arrive masked.
    Consent { method: String, url: String, page: String, purpose: String, fields: Vec<(String, String)>, decision: String, by: String },
    /// The person's answer when the model tried to open a host off the allowlist.
    AllowPrompt { url: String, pattern: String, answer: String },
    Error { message: String },
    SessionEnd { outcome: String, steps: u32, tokens_in: u64, tokens_out: u64, summary: String },
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
}

#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    #[error("cannot write the recording in {dir}: {source}; pass --record-dir to record elsewhere")]
    Create { dir: PathBuf, source: std::io::Error },
    #[error("cannot read the recording {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
}

enum Msg {
    Record(Record),
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
    /// Create the folder (which must not hold a log yet) and start the writer task.
    pub fn create(dir: &Path) -> Result<Recorder, RecordingError> {
        let err = |source| RecordingError::Create { dir: dir.to_path_buf(), source };
        std::fs::create_dir_all(dir).map_err(err)?;
        let file = std::fs::OpenOptions::new().create_new(true).append(true).open(dir.join(LOG)).map_err(err)?;
        let (tx, rx) = mpsc::unbounded_channel();
        let secrets = Secrets::default();
        tokio::spawn(writer(file, rx, secrets.clone()));
        Ok(Recorder { tx, dir: dir.to_path_buf(), secrets })
    }

    /// The secrets this recording redacts (add to them as they become known).
    pub fn secrets(&self) -> &Secrets {
        &self.secrets
    }

    /// Append a record (written and flushed by the writer task, in order).
    pub fn log(&self, record: Record) {
        let _ = self.tx.send(Msg::Record(record));
    }

    /// Wait until everything logged so far is on disk.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Msg::Finish(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

async fn writer(mut file: std::fs::File, mut rx: mpsc::UnboundedReceiver<Msg>, secrets: Secrets) {
    let mut seq = 0u64;
    let mut prev = String::new();
    while let Some(m) = rx.recv().await {
        match m {
            Msg::Record(record) => {
                let line = Line { v: SCHEMA, seq, t: now_ms(), prev: prev.clone(), record };
                let Ok(text) = serde_json::to_string(&line) else { continue };
                let mut text = secrets.redact(&text);
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

/// Read a recording folder's log, skipping (and reporting) unreadable lines.
pub fn read(dir: &Path) -> Result<Read, RecordingError> {
    let path = dir.join(LOG);
    let text = std::fs::read_to_string(&path).map_err(|source| RecordingError::Read { path: path.clone(), source })?;
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
/// `session_start` and ends with `session_end` (a truncated log does not). Pure: `files`
/// answers the SHA-256 of a file of the recording folder (extracts), or None if missing.
pub fn verify(text: &str, files: impl Fn(&str) -> Option<String>) -> Verdict {
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
        if line.v != SCHEMA {
            v.problems.push(Problem { line: n, what: format!("schema version {} (this errand reads {SCHEMA})", line.v) });
        }
        if line.seq != i as u64 {
            v.problems.push(Problem { line: n, what: format!("sequence number {} where {i} was expected (a record was removed, added or moved)", line.seq) });
        }
        if line.prev != prev {
            v.problems.push(Problem { line: n, what: "the hash of the line before does not match (that line was edited, or lines were removed or reordered)".into() });
        }
        if i == 0 && !matches!(line.record, Record::SessionStart { .. }) {
            v.problems.push(Problem { line: n, what: "the log does not start with session_start".into() });
        }
        if let Record::Extract { n: k, sha256: want, file, .. } = &line.record {
            match files(file) {
                None => v.problems.push(Problem { line: n, what: format!("extract {k}: {file} is missing") }),
                Some(got) if &got != want => v.problems.push(Problem { line: n, what: format!("extract {k}: {file} was changed (its SHA-256 differs from the one recorded)") }),
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
        let r = Recorder::create(d.path()).unwrap();
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
        assert!(Recorder::create(d.path()).is_err());
    }

    #[tokio::test]
    async fn secrets_are_redacted_in_every_form_before_writing() {
        let d = tempfile::tempdir().unwrap();
        let r = Recorder::create(d.path()).unwrap();
        r.secrets().add("p@ss word&1");
        r.secrets().add("abc"); // short: redacted only where it stands alone
        r.log(Record::Error { message: "typed p@ss word&1 then went to /echo?pw=p%40ss+word%261 and /x?pw=p%40ss%20word%261 (abc) abcd".into() });
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

    fn log(records: Vec<Record>) -> String {
        let mut out = String::new();
        let mut prev = String::new();
        for (i, r) in records.into_iter().enumerate() {
            let l = serde_json::to_string(&Line { v: SCHEMA, seq: i as u64, t: 1, prev: prev.clone(), record: r }).unwrap();
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
            ("edited", good.replace("\"a\"", "\"A\""), true, vec![3]),
            ("truncated at a record boundary", join(&lines[..3]), false, vec![]),
            ("torn last line", format!("{}{}", join(&lines[..3]), &lines[3][..20]), false, vec![4]),
            ("reordered", join(&[lines[0], lines[2], lines[1], lines[3]]), true, vec![2, 3, 4]),
            ("a line removed", join(&[lines[0], lines[2], lines[3]]), true, vec![2, 3]),
        ];
        for (name, text, complete, at) in cases {
            let v = verify(&text, none);
            assert_eq!(v.complete, complete, "{name}: {v:?}");
            let mut got: Vec<usize> = v.problems.iter().map(|p| p.line).collect();
            got.dedup();
            assert_eq!(got, at, "{name}: {v:?}");
            assert_eq!(v.ok(), complete && at.is_empty(), "{name}");
        }
    }

    #[test]
    fn extract_files_are_checked_against_their_hashes() {
        let text = log(vec![start(), Record::Extract { n: 1, url: "u".into(), title: "t".into(), sha256: sha256(b"md"), file: "extracts/001.md".into() }, end()]);
        assert!(verify(&text, |_| Some(sha256(b"md"))).ok());
        let v = verify(&text, |_| Some(sha256(b"changed")));
        assert!(v.problems[0].what.contains("was changed") && v.problems[0].line == 2, "{v:?}");
        assert!(verify(&text, |_| None).problems[0].what.contains("missing"));
    }
}

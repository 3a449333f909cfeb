//! `verify`: whether a recording is complete and unaltered, and if not, where.

use crate::*;

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
            inputs: vec![],
            dry_run: false,
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

    /// `errand mcp` begins a session per client, each making the key if there is none:
    /// sessions of one process making it at once all get the one key the file holds.
    #[test]
    fn sessions_of_one_process_making_the_key_at_once_agree_on_it() {
        for _ in 0..20 {
            let d = tempfile::tempdir().unwrap();
            let keys: Vec<_> = std::thread::scope(|s| {
                let made: Vec<_> = (0..8).map(|_| s.spawn(|| Key::load_or_create(d.path()).map(|k| k.0))).collect();
                made.into_iter().map(|t| t.join().unwrap()).collect()
            });
            let file = Key::load(d.path()).unwrap().unwrap().0;
            for k in keys {
                assert_eq!(k.unwrap(), file);
            }
        }
    }
}

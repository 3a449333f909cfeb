//! The allowlist file: a commented, human-editable TOML file.
//!
//! ```toml
//! # Hosts errand's browser may reach.
//! allow = [
//!   "docs.rs",
//!   "*.wikipedia.org",
//! ]
//! ```
//!
//! Reading reports a malformed file or a bad pattern with its line and column. Edits go
//! through `toml_edit`, so the user's comments, order and layout stay as they were; they
//! are made under an exclusive lock on a sidecar `.lock` file (two concurrent edits both
//! land) and written atomically (a temporary file in the same folder, then a rename). A
//! failed edit leaves the file byte-for-byte unchanged.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use toml_edit::{Array, DocumentMut, Item, Value};

use crate::{Pattern, PatternError, Policy};

/// What went wrong with the allowlist file.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{path}:{line}:{column}: {message}")]
    Syntax { path: PathBuf, line: usize, column: usize, message: String },
    #[error("{path}:{line}:{column}: {source}")]
    Pattern { path: PathBuf, line: usize, column: usize, source: PatternError },
    #[error("{path}: {message}")]
    Shape { path: PathBuf, message: String },
    #[error("cannot {action} {path}: {source}")]
    Io { action: &'static str, path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    BadPattern(#[from] PatternError),
}

/// The file's text when it does not exist yet.
pub const TEMPLATE: &str = r#"# errand allowlist: the hosts errand's browser may reach. Everything else is blocked.
#
# Patterns:
#   "docs.rs"              one host
#   "*.wikipedia.org"      a host and all its subdomains (wikipedia.org too)
#   "127.0.0.1:8080"       an IP address, optionally with a port
#   "https://example.com"  only over https (and wss)
#
# Edit this file by hand, or with `errand allow add|remove PATTERN`.
allow = [
]

# Form submissions and other state-changing requests ask for your yes, except to
# endpoints named in a rule like this (`errand allow submit-add|submit-remove URL`):
# [[submit]]
# url = "https://intranet.example/search"
"#;

/// The default location: `$XDG_CONFIG_HOME/errand/allowlist.toml` (or `~/.config/…`).
pub fn default_path() -> Option<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(x).join("errand/allowlist.toml"));
    }
    std::env::var_os("HOME").filter(|v| !v.is_empty()).map(|h| PathBuf::from(h).join(".config/errand/allowlist.toml"))
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0) + 1;
    (line, column)
}

/// Parse the file's text into a policy, with positions in every error.
pub fn parse(path: &Path, text: &str) -> Result<Policy, FileError> {
    let doc = toml_edit::Document::parse(text).map_err(|e| {
        let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
        FileError::Syntax { path: path.to_path_buf(), line, column, message: e.message().trim().to_string() }
    })?;
    let shape = |message: &str| FileError::Shape { path: path.to_path_buf(), message: message.to_string() };
    for (key, _) in doc.as_table().iter() {
        if key != "allow" && key != "submit" {
            return Err(shape(&format!("unknown key {key:?}; the file has `allow = [...]` (and `[[submit]]` rules)")));
        }
    }
    let mut patterns = vec![];
    let Some(item) = doc.get("allow") else { return Ok(Policy::default()) };
    let Some(arr) = item.as_array() else {
        return Err(shape("`allow` must be a list of strings, e.g. allow = [\"docs.rs\"]"));
    };
    for v in arr.iter() {
        let (line, column) = v.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
        let Some(s) = v.as_str() else {
            return Err(FileError::Syntax {
                path: path.to_path_buf(),
                line,
                column,
                message: "each allowlist entry must be a string".into(),
            });
        };
        let p = Pattern::parse(s).map_err(|source| FileError::Pattern { path: path.to_path_buf(), line, column, source })?;
        patterns.push(p);
    }
    Ok(Policy::new(patterns))
}

/// The file's text; `None` when there is no file.
fn read(path: &Path) -> Result<Option<String>, FileError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(FileError::Io { action: "read", path: path.to_path_buf(), source }),
    }
}

/// Read the policy from a file; a missing file is an empty policy.
pub fn load(path: &Path) -> Result<Policy, FileError> {
    match read(path)? {
        Some(text) => parse(path, &text),
        None => Ok(Policy::default()),
    }
}

/// The policy and the `[[submit]]` rules of a file from one read, so both come from the
/// same text even while someone edits the file; a missing file has neither.
pub fn load_all(path: &Path) -> Result<(Policy, Vec<String>), FileError> {
    match read(path)? {
        Some(text) => Ok((parse(path, &text)?, submit_rules(path, &text)?)),
        None => Ok((Policy::default(), vec![])),
    }
}

/// The `[[submit]]` rules: URLs (scheme, host, port and path; any query) to which
/// state-changing requests may go without asking.
///
/// ```toml
/// [[submit]]
/// url = "https://intranet.example/search"
/// ```
pub fn submit_rules(path: &Path, text: &str) -> Result<Vec<String>, FileError> {
    let doc = toml_edit::Document::parse(text).map_err(|e| {
        let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
        FileError::Syntax { path: path.to_path_buf(), line, column, message: e.message().trim().to_string() }
    })?;
    let Some(item) = doc.get("submit") else { return Ok(vec![]) };
    let shape = || FileError::Shape { path: path.to_path_buf(), message: "`[[submit]]` rules each need url = \"https://…\"".into() };
    let tables = item.as_array_of_tables().ok_or_else(shape)?;
    let mut out = vec![];
    for t in tables.iter() {
        let v = t.get("url").ok_or_else(shape)?;
        let (line, column) = v.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
        let url = v.as_str().ok_or_else(shape)?;
        match url::Url::parse(url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => out.push(u.to_string()),
            _ => {
                return Err(FileError::Syntax {
                    path: path.to_path_buf(),
                    line,
                    column,
                    message: format!("{url:?} is not an http(s) URL"),
                });
            }
        }
    }
    Ok(out)
}

/// The `[[submit]]` rules of a file; a missing file has none.
pub fn load_submit_rules(path: &Path) -> Result<Vec<String>, FileError> {
    match read(path)? {
        Some(text) => submit_rules(path, &text),
        None => Ok(vec![]),
    }
}

/// What an edit changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Edit {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub unchanged: Vec<String>,
}

/// Add patterns (validated first; none is written if any is bad).
pub fn add(path: &Path, patterns: &[String]) -> Result<Edit, FileError> {
    for p in patterns {
        Pattern::parse(p)?;
    }
    edit_allow(path, |arr, edit| {
        for p in patterns {
            let exists = arr.iter().any(|v| v.as_str().is_some_and(|s| s.eq_ignore_ascii_case(p.trim())));
            if exists {
                edit.unchanged.push(p.clone());
            } else {
                // One entry per line, as a person writes them; existing entries keep
                // their layout and comments.
                let mut v = Value::from(p.trim());
                v.decor_mut().set_prefix("\n  ");
                arr.push_formatted(v);
                arr.set_trailing_comma(true);
                if !arr.trailing().as_str().is_some_and(|t| t.contains('\n')) {
                    arr.set_trailing("\n");
                }
                edit.added.push(p.clone());
            }
        }
    })
}

/// Remove patterns (exact text, case-insensitive).
pub fn remove(path: &Path, patterns: &[String]) -> Result<Edit, FileError> {
    edit_allow(path, |arr, edit| {
        for p in patterns {
            let Some(i) = arr.iter().position(|v| v.as_str().is_some_and(|s| s.eq_ignore_ascii_case(p.trim()))) else {
                edit.unchanged.push(p.clone());
                continue;
            };
            // A comment at the end of the previous line lives in this entry's prefix:
            // hand it to the next entry (or the closing bracket) so it survives.
            let prefix = arr.get(i).and_then(|v| v.decor().prefix()).and_then(|r| r.as_str()).unwrap_or_default().to_string();
            arr.remove(i);
            if prefix.contains('#') {
                if let Some(next) = arr.get_mut(i) {
                    next.decor_mut().set_prefix(prefix);
                } else {
                    let trailing = arr.trailing().as_str().unwrap_or_default().to_string();
                    arr.set_trailing(format!("{}\n{}", prefix.trim_end(), trailing.trim_start_matches([' ', '\n'])));
                }
            }
            edit.removed.push(p.clone());
        }
    })
}

/// Normalise a submit rule's URL, refusing anything but http(s).
fn submit_url(u: &str) -> Result<String, FileError> {
    match url::Url::parse(u.trim()) {
        Ok(x) if matches!(x.scheme(), "http" | "https") && x.host_str().is_some() => Ok(x.to_string()),
        _ => Err(FileError::Shape {
            path: PathBuf::new(),
            message: format!("{u:?} is not an http(s) URL; a submit rule names an endpoint like https://intranet.example/search"),
        }),
    }
}

/// Add `[[submit]]` rules: state-changing requests to these endpoints go without asking.
pub fn add_submit(path: &Path, urls: &[String]) -> Result<Edit, FileError> {
    let urls: Vec<String> = urls.iter().map(|u| submit_url(u)).collect::<Result<_, _>>()?;
    edit(path, |doc, edit| {
        if doc.get("submit").is_none() {
            doc["submit"] = Item::ArrayOfTables(toml_edit::ArrayOfTables::new());
        }
        let Some(aot) = doc["submit"].as_array_of_tables_mut() else { return };
        for u in urls {
            if aot.iter().any(|t| t.get("url").and_then(|v| v.as_str()) == Some(u.as_str())) {
                edit.unchanged.push(u);
            } else {
                let mut t = toml_edit::Table::new();
                t["url"] = toml_edit::value(u.clone());
                aot.push(t);
                edit.added.push(u);
            }
        }
    })
}

/// Remove `[[submit]]` rules.
pub fn remove_submit(path: &Path, urls: &[String]) -> Result<Edit, FileError> {
    let urls: Vec<String> = urls.iter().map(|u| submit_url(u)).collect::<Result<_, _>>()?;
    edit(path, |doc, edit| {
        let Some(aot) = doc.get_mut("submit").and_then(|i| i.as_array_of_tables_mut()) else {
            edit.unchanged.extend(urls);
            return;
        };
        for u in urls {
            let found = aot.iter().position(|t| t.get("url").and_then(|v| v.as_str()) == Some(u.as_str()));
            match found {
                Some(i) => {
                    aot.remove(i);
                    edit.removed.push(u);
                }
                None => edit.unchanged.push(u),
            }
        }
    })
}

fn edit_allow(path: &Path, change: impl FnOnce(&mut Array, &mut Edit)) -> Result<Edit, FileError> {
    let mut bad = false;
    let r = edit(path, |doc, e| {
        if doc.get("allow").is_none() {
            doc["allow"] = Item::Value(Value::Array(Array::new()));
        }
        match doc["allow"].as_array_mut() {
            Some(arr) => change(arr, e),
            None => bad = true,
        }
    })?;
    if bad {
        return Err(FileError::Shape { path: path.to_path_buf(), message: "`allow` must be a list".into() });
    }
    Ok(r)
}

fn edit(path: &Path, change: impl FnOnce(&mut DocumentMut, &mut Edit)) -> Result<Edit, FileError> {
    let io = |action: &'static str| move |source| FileError::Io { action, path: path.to_path_buf(), source };
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io("create the folder of"))?;
    let lock_path = path.with_extension("toml.lock");
    let lock = OpenOptions::new().create(true).truncate(false).write(true).open(&lock_path).map_err(io("lock"))?;
    lock.lock().map_err(io("lock"))?;
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => TEMPLATE.to_string(),
        Err(source) => return Err(FileError::Io { action: "read", path: path.to_path_buf(), source }),
    };
    // Validate the whole file first: a malformed file is reported and left alone.
    parse(path, &text)?;
    submit_rules(path, &text)?;
    let mut doc: DocumentMut =
        text.parse().map_err(|e: toml_edit::TomlError| FileError::Shape { path: path.to_path_buf(), message: e.to_string() })?;
    let mut result = Edit::default();
    change(&mut doc, &mut result);
    if result.added.is_empty() && result.removed.is_empty() && path.exists() {
        return Ok(result);
    }
    let out = doc.to_string();
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io("write"))?;
    tmp.write_all(out.as_bytes()).map_err(io("write"))?;
    tmp.as_file().sync_all().map_err(io("write"))?;
    tmp.persist(path).map_err(|e| FileError::Io { action: "replace", path: path.to_path_buf(), source: e.error })?;
    drop(lock);
    Ok(result)
}

/// Create the file from the template if it does not exist.
pub fn ensure(path: &Path) -> Result<(), FileError> {
    if path.exists() {
        return Ok(());
    }
    edit_allow(path, |_, _| {}).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_all_reads_the_patterns_and_the_rules_together() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("allowlist.toml");
        let (policy, rules) = load_all(&p).unwrap();
        assert!(policy.patterns().is_empty() && rules.is_empty(), "a missing file allows nothing and has no rules");
        std::fs::write(&p, "allow = [\"docs.rs\"]\n[[submit]]\nurl = \"https://docs.rs/search\"\n").unwrap();
        let (policy, rules) = load_all(&p).unwrap();
        assert_eq!(policy.patterns().iter().map(|x| x.to_string()).collect::<Vec<_>>(), ["docs.rs"]);
        assert_eq!(rules, ["https://docs.rs/search"]);
        std::fs::write(&p, "allow = [\"docs.rs\"]\n[[submit]]\nurl = \"ftp://x\"\n").unwrap();
        let e = load_all(&p).unwrap_err().to_string();
        assert!(e.contains("allowlist.toml:3:"), "a bad rule is reported with its line: {e}");
    }

    #[test]
    fn submit_rules_are_added_and_removed_keeping_the_rest() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("allowlist.toml");
        std::fs::write(&p, "# mine\nallow = [\"docs.rs\"] # docs\n").unwrap();
        let e = add_submit(&p, &["https://intranet.example/search".into()]).unwrap();
        assert_eq!(e.added, vec!["https://intranet.example/search".to_string()]);
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.starts_with("# mine\nallow = [\"docs.rs\"] # docs\n"), "{text}");
        assert_eq!(load_submit_rules(&p).unwrap(), vec!["https://intranet.example/search".to_string()]);
        assert!(add_submit(&p, &["ftp://x/".into()]).is_err());
        remove_submit(&p, &["https://intranet.example/search".into()]).unwrap();
        assert_eq!(load_submit_rules(&p).unwrap(), Vec::<String>::new());
        assert_eq!(load(&p).unwrap().patterns().len(), 1);
    }

    #[test]
    fn errors_carry_line_and_column() {
        let p = Path::new("a.toml");
        let e = parse(p, "allow = [\n  \"docs.rs\",\n  \"*.com\",\n]\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "a.toml:3:3: \"*.com\" would allow every site under the public suffix \"com\"; name a site instead, e.g. *.example.com"
        );
        let e = parse(p, "allow = [\n  \"docs.rs\"\n  \"x\"\n]\n").unwrap_err();
        assert!(e.to_string().starts_with("a.toml:3:3: "), "{e}");
        let e = parse(p, "allow = \"docs.rs\"\n").unwrap_err();
        assert!(e.to_string().contains("must be a list"), "{e}");
        let e = parse(p, "alow = []\n").unwrap_err();
        assert!(e.to_string().contains("unknown key \"alow\""), "{e}");
        let e = parse(p, "allow = [1]\n").unwrap_err();
        assert_eq!(e.to_string(), "a.toml:1:10: each allowlist entry must be a string");
    }

    #[test]
    fn the_template_is_valid_and_empty() {
        assert_eq!(parse(Path::new("t"), TEMPLATE).unwrap(), Policy::default());
    }

    #[test]
    fn edits_keep_comments_and_order() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("allowlist.toml");
        std::fs::write(&f, "# my sites\nallow = [\n  \"docs.rs\", # rust docs\n  \"b.example\",\n]\n").unwrap();
        let e = add(&f, &["c.example".into(), "docs.rs".into()]).unwrap();
        assert_eq!(e.added, vec!["c.example"]);
        assert_eq!(e.unchanged, vec!["docs.rs"]);
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(text.starts_with("# my sites\n"), "{text}");
        assert!(text.contains("# rust docs"), "{text}");
        let order: Vec<String> = load(&f).unwrap().patterns().iter().map(|p| p.to_string()).collect();
        assert_eq!(order, ["docs.rs", "b.example", "c.example"]);
        remove(&f, &["B.example".into()]).unwrap();
        let order: Vec<String> = load(&f).unwrap().patterns().iter().map(|p| p.to_string()).collect();
        assert_eq!(order, ["docs.rs", "c.example"]);
        assert!(std::fs::read_to_string(&f).unwrap().contains("# rust docs"));
    }

    #[test]
    fn a_bad_pattern_or_malformed_file_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("allowlist.toml");
        let original = "allow = [\n  \"docs.rs\",\n  \"bad pattern\",\n]\n";
        std::fs::write(&f, original).unwrap();
        assert!(add(&f, &["ok.example".into()]).is_err());
        assert_eq!(std::fs::read_to_string(&f).unwrap(), original);
        std::fs::write(&f, "allow = [\n").unwrap();
        let e = remove(&f, &["docs.rs".into()]).unwrap_err();
        assert!(matches!(e, FileError::Syntax { .. }), "{e}");
        assert!(e.to_string().starts_with(&format!("{}:", f.display())), "{e}");
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "allow = [\n");
        std::fs::write(&f, "allow = []\n").unwrap();
        assert!(add(&f, &["*.co.uk".into()]).is_err());
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "allow = []\n");
    }

    #[test]
    fn a_missing_file_is_created_from_the_template() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("sub/allowlist.toml");
        assert_eq!(load(&f).unwrap(), Policy::default());
        add(&f, &["docs.rs".into()]).unwrap();
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(text.starts_with("# errand allowlist"), "{text}");
        assert!(text.contains("allow = [\n  \"docs.rs\",\n]"), "{text}");
    }
}

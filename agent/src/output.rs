//! The output folder: the only place errand writes a run's results.
//!
//! Files are opened through a capability handle on the folder (`cap-std`), so no path the
//! model gives (`..`, absolute, through a symlink) can reach outside it. Writes are atomic
//! (a temporary file renamed into place). errand never deletes, and never overwrites a
//! file it did not write in this session: a clash gets a new name (`report (2).md`) and
//! the model is told. CSV and JSON are validated before anything is written.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Component, Path, PathBuf};

use cap_std::fs::Dir;

/// Largest file a run may write.
pub const MAX_FILE_BYTES: usize = 5 * 1024 * 1024;
/// Most files a run may write.
pub const MAX_FILES: usize = 200;

#[derive(Debug, thiserror::Error)]
pub enum OutError {
    #[error("{path:?} is not a relative path inside the output folder ({why}); use a name like \"report.md\" or \"data/table.csv\"")]
    BadPath { path: String, why: &'static str },
    #[error("{path} is {bytes} bytes; the limit is {MAX_FILE_BYTES} bytes per file")]
    TooBig { path: String, bytes: usize },
    #[error("this run already wrote {MAX_FILES} files, the limit")]
    TooMany,
    #[error("{path} is not valid {kind}: {why}; nothing was written")]
    Invalid { path: String, kind: &'static str, why: String },
    #[error("cannot write {path} in the output folder: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("cannot open the output folder {dir}: {source}; pass --out DIR to write elsewhere")]
    Open { dir: PathBuf, source: std::io::Error },
}

/// What a write did.
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    /// The path written, relative to the folder (differs from the asked one after a clash).
    pub path: String,
    pub asked: String,
    pub sha256: String,
    pub bytes: usize,
}

pub struct OutDir {
    dir: Dir,
    pub root: PathBuf,
    written: HashSet<String>,
    tmp: u64,
}

impl OutDir {
    /// Create (if needed) and open the folder.
    pub fn open(root: &Path) -> Result<OutDir, OutError> {
        let err = |source| OutError::Open { dir: root.to_path_buf(), source };
        std::fs::create_dir_all(root).map_err(err)?;
        // The absolute path goes into the recording, so its review finds the files from
        // whatever folder it is run in.
        let root = std::fs::canonicalize(root).map_err(err)?;
        let dir = Dir::open_ambient_dir(&root, cap_std::ambient_authority()).map_err(err)?;
        Ok(OutDir { dir, root, written: HashSet::new(), tmp: 0 })
    }

    /// Files written in this session, relative paths.
    pub fn written(&self) -> Vec<String> {
        let mut v: Vec<String> = self.written.iter().cloned().collect();
        v.sort();
        v
    }

    /// Write a file (see the module doc for the rules).
    pub fn write(&mut self, path: &str, content: &[u8]) -> Result<Written, OutError> {
        self.write_as(path, content, false)
    }

    /// Write a file errand makes itself (`sources.json`): it never replaces a file, not
    /// even one the model wrote in this session; a clash gets a new name.
    pub fn write_new(&mut self, path: &str, content: &[u8]) -> Result<Written, OutError> {
        self.write_as(path, content, true)
    }

    fn write_as(&mut self, path: &str, content: &[u8], fresh: bool) -> Result<Written, OutError> {
        let rel = check_path(path)?;
        // Every refusal comes before anything is created: a refused write leaves no folder.
        if content.len() > MAX_FILE_BYTES {
            return Err(OutError::TooBig { path: path.into(), bytes: content.len() });
        }
        validate(path, content)?;
        let io = |source| OutError::Io { path: path.into(), source };
        let target = self.free_name(&rel, fresh).map_err(io)?;
        let key = target.to_string_lossy().to_string();
        if !self.written.contains(&key) && self.written.len() >= MAX_FILES {
            return Err(OutError::TooMany);
        }
        let parent = rel.parent().filter(|p| !p.as_os_str().is_empty());
        if let Some(p) = parent {
            self.dir.create_dir_all(p).map_err(io)?;
        }
        self.tmp += 1;
        let tmp_name = format!(".errand-tmp-{}-{}", std::process::id(), self.tmp);
        let tmp = parent.map(|p| p.join(&tmp_name)).unwrap_or_else(|| PathBuf::from(&tmp_name));
        let mut f = self.dir.create(&tmp).map_err(io)?;
        f.write_all(content).and_then(|_| f.sync_all()).map_err(io)?;
        drop(f);
        self.dir.rename(&tmp, &self.dir, &target).map_err(io)?;
        self.written.insert(key.clone());
        // The name as asked, spelled as the written one is (`a//b.txt` is `a/b.txt`), so a
        // difference means a clash and nothing else.
        let asked = rel.to_string_lossy().to_string();
        Ok(Written { path: key, asked, sha256: recordings::sha256(content), bytes: content.len() })
    }

    /// The asked name if it is free or ours (and not `fresh`), else `name (2).ext`, `name (3).ext`, …
    fn free_name(&self, rel: &Path, fresh: bool) -> std::io::Result<PathBuf> {
        let ours = |p: &Path| !fresh && self.written.contains(&p.to_string_lossy().to_string());
        let taken = |p: &Path| -> std::io::Result<bool> {
            match self.dir.symlink_metadata(p) {
                Ok(_) => Ok(!ours(p)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
                Err(e) => Err(e),
            }
        };
        if !taken(rel)? {
            return Ok(rel.to_path_buf());
        }
        let stem = rel.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
        let ext = rel.extension().map(|e| format!(".{}", e.to_string_lossy())).unwrap_or_default();
        for n in 2..10_000 {
            let cand = rel.with_file_name(format!("{stem} ({n}){ext}"));
            if !taken(&cand)? {
                return Ok(cand);
            }
        }
        Err(std::io::Error::other("no free name"))
    }
}

/// Only plain relative names: no root, no `..`, no `.` tricks, no NUL, nothing hidden
/// that errand itself uses.
pub fn check_path(path: &str) -> Result<PathBuf, OutError> {
    let bad = |why| Err(OutError::BadPath { path: path.into(), why });
    if path.trim().is_empty() {
        return bad("it is empty");
    }
    if path.contains('\0') {
        return bad("it contains a NUL byte");
    }
    if path.contains('\\') {
        return bad("use / to separate folders");
    }
    let p = Path::new(path);
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => {
                if n.to_string_lossy().starts_with(".errand-tmp-") {
                    return bad("that name is reserved");
                }
                out.push(n)
            }
            Component::CurDir => {}
            Component::ParentDir => return bad("it goes up with .."),
            Component::RootDir | Component::Prefix(_) => return bad("it is absolute"),
        }
    }
    if out.as_os_str().is_empty() || path.ends_with('/') {
        return bad("it names a folder, not a file");
    }
    Ok(out)
}

fn validate(path: &str, content: &[u8]) -> Result<(), OutError> {
    let ext = Path::new(path).extension().map(|e| e.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    let invalid = |kind, why: String| Err(OutError::Invalid { path: path.into(), kind, why });
    match ext.as_str() {
        "json" => {
            if let Err(e) = serde_json::from_slice::<serde_json::Value>(content) {
                return invalid("JSON", format!("{e}"));
            }
        }
        "csv" => {
            let mut r = csv::ReaderBuilder::new().has_headers(false).flexible(false).from_reader(content);
            for rec in r.records() {
                if let Err(e) = rec {
                    let why = match e.kind() {
                        csv::ErrorKind::UnequalLengths { expected_len, len, pos } => format!(
                            "line {} has {len} columns where the first row has {expected_len}",
                            pos.as_ref().map(|p| p.line()).unwrap_or(0)
                        ),
                        _ => e.to_string(),
                    };
                    return invalid("CSV", why);
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// How a file is described in a plan ("would write report.md (4.2 KB)"): a CSV by its
/// rows under the header, anything else by its size.
pub fn size_of(path: &str, content: Option<&[u8]>) -> Option<String> {
    let csv = Path::new(path).extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    let c = content?;
    if csv {
        let rows = csv::ReaderBuilder::new().has_headers(true).flexible(true).from_reader(c).records().count();
        return Some(crate::stdio::plural(rows, "row"));
    }
    Some(human_size(c.len() as u64))
}

/// A size as a person reads it: 812 bytes, 4.2 KB, 1.3 MB.
pub fn human_size(bytes: u64) -> String {
    match bytes {
        0..1024 => crate::stdio::plural(bytes as usize, "byte"),
        1024..1_048_576 => format!("{:.1} KB", bytes as f64 / 1024.0),
        _ => format!("{:.1} MB", bytes as f64 / 1_048_576.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_outside_the_folder_are_refused() {
        for bad in ["", "/etc/passwd", "../x.md", "a/../../x", "a\\b.md", "dir/", ".errand-tmp-1"] {
            assert!(check_path(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(check_path("./data/p.csv").unwrap(), PathBuf::from("data/p.csv"));
    }

    /// Every file and folder under `root`, relative, sorted.
    fn listing(root: &Path) -> Vec<String> {
        let mut out = vec![];
        let mut stack = vec![root.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                let p = e.path();
                out.push(p.strip_prefix(root).unwrap().display().to_string());
                if e.file_type().unwrap().is_dir() {
                    stack.push(p);
                }
            }
        }
        out.sort();
        out
    }

    #[test]
    fn escapes_are_refused_and_leave_both_sides_unchanged() {
        let d = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("data")).unwrap();
        std::fs::write(d.path().join("data/keep.csv"), "a\n1\n").unwrap();
        std::os::unix::fs::symlink(outside.path(), d.path().join("link")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("x.md"), d.path().join("dangling.md")).unwrap();
        let before = listing(d.path());
        let mut o = OutDir::open(d.path()).unwrap();
        let escape = format!("{}/x.md", outside.path().display());
        for bad in ["../x.md", "data/../../x.md", escape.as_str(), "link/x.md", "link/../x.md", "data/keep.csv/x", "/dev/null"] {
            assert!(o.write(bad, b"escape").is_err(), "{bad} was written");
        }
        // A symlink inside the folder is someone else's file: it is not written through.
        let w = o.write("dangling.md", b"mine").unwrap();
        assert_eq!(w.path, "dangling (2).md");
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0, "nothing reached the outside folder");
        let mut after = listing(d.path());
        after.retain(|p| p != "dangling (2).md");
        assert_eq!(before, after, "the folder is unchanged");
        assert_eq!(std::fs::read_to_string(d.path().join("data/keep.csv")).unwrap(), "a\n1\n");
    }

    #[test]
    fn clashes_get_new_names_and_own_files_may_be_rewritten() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("report.md"), "theirs").unwrap();
        let mut o = OutDir::open(d.path()).unwrap();
        let w = o.write("report.md", b"ours").unwrap();
        assert_eq!(w.path, "report (2).md");
        assert_eq!(std::fs::read_to_string(d.path().join("report.md")).unwrap(), "theirs");
        // Our own file may be revised in place.
        let w = o.write("report (2).md", b"ours v2").unwrap();
        assert_eq!(w.path, "report (2).md");
        assert_eq!(std::fs::read_to_string(d.path().join("report (2).md")).unwrap(), "ours v2");
        // Through a symlink out of the folder: refused by the capability handle.
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), d.path().join("link")).unwrap();
        assert!(o.write("link/x.md", b"x").is_err());
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_doubled_slash_is_no_clash_and_a_refused_write_creates_no_folder() {
        let d = tempfile::tempdir().unwrap();
        let mut o = OutDir::open(d.path()).unwrap();
        let w = o.write("a//b.txt", b"x").unwrap();
        assert_eq!((w.path.as_str(), w.asked.as_str()), ("a/b.txt", "a/b.txt"));
        let big = vec![b'x'; MAX_FILE_BYTES + 1];
        assert!(matches!(o.write("big/dir/f.txt", &big), Err(OutError::TooBig { .. })));
        assert!(o.write("bad/t.csv", b"a,b\n1\n").is_err());
        assert!(!d.path().join("big").exists() && !d.path().join("bad").exists(), "a refused write left folders behind");
    }

    #[test]
    fn errands_own_files_never_replace_the_models() {
        let d = tempfile::tempdir().unwrap();
        let mut o = OutDir::open(d.path()).unwrap();
        o.write("sources.json", b"{\"mine\": true}").unwrap();
        let w = o.write_new("sources.json", b"{}").unwrap();
        assert_eq!(w.path, "sources (2).json");
        assert_eq!(std::fs::read_to_string(d.path().join("sources.json")).unwrap(), "{\"mine\": true}");
    }

    #[test]
    fn csv_and_json_are_validated_before_writing() {
        let d = tempfile::tempdir().unwrap();
        let mut o = OutDir::open(d.path()).unwrap();
        let e = o.write("t.csv", b"a,b\n1,2,3\n").unwrap_err();
        assert!(e.to_string().contains("line 2 has 3 columns where the first row has 2"), "{e}");
        assert!(o.write("t.json", b"{nope").is_err());
        assert!(!d.path().join("t.csv").exists() && !d.path().join("t.json").exists());
        o.write("t.csv", b"a,b\n\"1,5\",2\n").unwrap();
    }

    #[test]
    fn plans_describe_tables_by_rows_and_other_files_by_size() {
        assert_eq!(size_of("t/prices.csv", Some(b"plan,price\nA,1\nB,2\n")).as_deref(), Some("2 rows"));
        assert_eq!(size_of("t/one.CSV", Some(b"plan,price\nA,1")).as_deref(), Some("1 row"));
        assert_eq!(size_of("report.md", Some(&[b'x'; 4300])).as_deref(), Some("4.2 KB"));
        assert_eq!(size_of("a.json", Some(b"{}")).as_deref(), Some("2 bytes"));
        assert_eq!(human_size(3 * 1_048_576 + 400_000), "3.4 MB");
        assert_eq!(size_of("gone.md", None), None);
    }
}

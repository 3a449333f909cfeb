//! Input folders (`--input DIR`): a person's own materials, which the model may read and
//! never change.
//!
//! Each folder is opened once through a directory handle (`cap-std`), read-only: no path
//! the model gives (`..`, absolute, a symlink leading out) reaches outside it, and only
//! regular files are read (a device or a pipe could hang or never end). A file is
//! limited in size and so is what one run reads in all. errand has no tool that writes,
//! renames or deletes here: writes go to the output folder only, which may not lie
//! inside an input folder (or hold one).
//!
//! Paths are shown to the model as the folder's name and the path inside it
//! (`materials/vendors.csv`); with one folder its name may be left out.

pub mod flags;
pub mod formats;

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use cap_std::fs::Dir;

pub use formats::{Format, Rendered};

/// Largest input file read.
pub const MAX_FILE_BYTES: u64 = 25 * 1024 * 1024;
/// Most bytes one run reads from its input folders.
pub const MAX_RUN_BYTES: u64 = 200 * 1024 * 1024;
/// Most entries one listing shows.
pub const MAX_LISTED: usize = 500;

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("cannot open the input folder {dir}: {source}; pass --input with a folder that exists and can be read")]
    Open { dir: PathBuf, source: std::io::Error },
    #[error("--input {dir} is not a folder; pass the folder that holds the files")]
    NotAFolder { dir: PathBuf },
    #[error("the output folder {out} and the input folder {input} overlap; errand never writes where it reads: pass --out elsewhere")]
    Overlap { out: PathBuf, input: PathBuf },
    #[error("{path:?} is not a path inside the input folders ({why}); use a path as list_inputs shows it")]
    BadPath { path: String, why: &'static str },
    #[error("there are no input folders in this run (errand run, errand replay and errand mcp take them with --input DIR)")]
    NoFolders,
    #[error("{path} is not in the input folders ({source}); list_inputs shows what is there")]
    NotFound { path: String, source: std::io::Error },
    #[error("{path} is not a regular file (a device, pipe or socket) and is not read")]
    NotAFile { path: String },
    #[error("{path} is a folder: list it with list_inputs, or read a file in it")]
    IsFolder { path: String },
    #[error("{path} is {bytes} bytes; input files over {MAX_FILE_BYTES} bytes are not read")]
    TooBig { path: String, bytes: u64 },
    #[error("this run has read {read} bytes from its input folders, near the limit of {MAX_RUN_BYTES}; {path} is not read")]
    Budget { path: String, read: u64 },
    #[error("cannot read {path}: {source}")]
    Io { path: String, source: std::io::Error },
}

/// One input folder.
pub struct Folder {
    /// Its name as the model sees it (the folder's own name, made unique).
    pub label: String,
    /// Its absolute path.
    pub root: PathBuf,
    dir: Dir,
}

/// An entry a listing shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub path: String,
    pub folder: bool,
    pub bytes: u64,
    pub format: Format,
    /// Last modified, RFC 3339 (UTC); empty when unknown.
    pub modified: String,
}

/// A file's bytes as read, with what identifies them.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// As the model names it: `folder/path`.
    pub path: String,
    /// Where it is on disk.
    pub abs: PathBuf,
    pub bytes: Vec<u8>,
    pub sha256: String,
    pub format: Format,
}

/// The run's input folders.
#[derive(Default)]
pub struct Inputs {
    folders: Vec<Folder>,
    /// Bytes counted against [`MAX_RUN_BYTES`]: each file's bytes once while they stay
    /// the same, however many of its parts are read.
    read: u64,
    /// The files (path, SHA-256) already counted.
    counted: std::collections::HashSet<(String, String)>,
    /// The last few files rendered, by path and SHA-256: a model reading a long PDF part by
    /// part has it parsed once, not once a part.
    rendered: Vec<(String, String, std::sync::Arc<formats::Rendered>)>,
}

/// How many renderings [`Inputs::render`] keeps.
const RENDERED_KEPT: usize = 4;

impl Inputs {
    /// Open every folder (read-only). No folders is allowed: the tools then say so.
    pub fn open(dirs: &[PathBuf]) -> Result<Inputs, InputError> {
        let mut folders: Vec<Folder> = vec![];
        for d in dirs {
            let err = |source| InputError::Open { dir: d.clone(), source };
            let root = std::fs::canonicalize(d).map_err(err)?;
            if !root.is_dir() {
                return Err(InputError::NotAFolder { dir: d.clone() });
            }
            let dir = Dir::open_ambient_dir(&root, cap_std::ambient_authority()).map_err(err)?;
            let base = root.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_else(|| "input".into());
            let mut label = base.clone();
            let mut k = 2;
            while folders.iter().any(|f| f.label == label) {
                label = format!("{base}-{k}");
                k += 1;
            }
            if folders.iter().any(|f| f.root == root) {
                continue;
            }
            folders.push(Folder { label, root, dir });
        }
        Ok(Inputs { folders, ..Inputs::default() })
    }

    pub fn is_empty(&self) -> bool {
        self.folders.is_empty()
    }

    pub fn folders(&self) -> &[Folder] {
        &self.folders
    }

    /// Refuse an output folder that is, holds, or lies inside an input folder.
    pub fn check_apart(&self, out: &Path) -> Result<(), InputError> {
        let out_abs = absolute(out);
        for f in &self.folders {
            if out_abs.starts_with(&f.root) || f.root.starts_with(&out_abs) {
                return Err(InputError::Overlap { out: out.to_path_buf(), input: f.root.clone() });
            }
        }
        Ok(())
    }

    /// Which folder `path` names, and the path inside it.
    fn resolve<'a>(&'a self, path: &str) -> Result<(&'a Folder, PathBuf), InputError> {
        if self.folders.is_empty() {
            return Err(InputError::NoFolders);
        }
        let labels: Vec<&str> = self.folders.iter().map(|f| f.label.as_str()).collect();
        let (i, rel) = split(path, &labels).map_err(|why| InputError::BadPath { path: path.to_string(), why })?;
        Ok((&self.folders[i], rel))
    }

    /// What is in a folder (`None`: the top, which is the folders themselves when there
    /// are several), sorted by path.
    pub fn list(&self, path: Option<&str>) -> Result<Vec<Entry>, InputError> {
        if self.folders.is_empty() {
            return Err(InputError::NoFolders);
        }
        let path = path.map(str::trim).filter(|p| !p.is_empty() && *p != "." && *p != "/");
        if path.is_none() && self.folders.len() > 1 {
            return Ok(self
                .folders
                .iter()
                .map(|f| Entry { path: f.label.clone(), folder: true, bytes: 0, format: Format::Other, modified: String::new() })
                .collect());
        }
        let (f, rel) = match path {
            Some(p) => self.resolve(p)?,
            None => (&self.folders[0], PathBuf::new()),
        };
        let shown = |rel: &Path| format!("{}/{}", f.label, rel.display()).trim_end_matches('/').to_string();
        let io = |source| InputError::NotFound { path: shown(&rel), source };
        let entries = if rel.as_os_str().is_empty() { f.dir.entries().map_err(io)? } else { f.dir.read_dir(&rel).map_err(io)? };
        let mut out = vec![];
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            let child = rel.join(&name);
            // What a symlink leads to, when it stays inside the folder; one leading out
            // is listed as not readable.
            let meta = f.dir.metadata(&child).ok();
            let folder = meta.as_ref().is_some_and(|m| m.is_dir());
            let bytes = meta.as_ref().map(|m| m.len()).unwrap_or(0);
            let modified = meta
                .as_ref()
                .and_then(|m| m.modified().ok())
                .map(|t| chrono::DateTime::<chrono::Utc>::from(t.into_std()).to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_default();
            // Only a file whose name does not say its format is opened to look.
            let format = match meta.as_ref().is_some_and(|m| m.is_file()) {
                true => Format::by_name(&name).unwrap_or_else(|| Format::sniff(&self.head(f, &child))),
                false => Format::Other,
            };
            out.push(Entry { path: shown(&child), folder, bytes, format, modified });
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        out.truncate(MAX_LISTED);
        Ok(out)
    }

    /// Every file errand can read in the folders, as the model names them: breadth
    /// first, at most [`MAX_LISTED`], folders at most four deep.
    pub fn files(&self) -> Vec<String> {
        let mut out = vec![];
        let mut queue: Vec<(Option<String>, usize)> =
            if self.folders.len() > 1 { self.folders.iter().map(|f| (Some(f.label.clone()), 0)).collect() } else { vec![(None, 0)] };
        while !queue.is_empty() && out.len() < MAX_LISTED {
            let (dir, depth) = queue.remove(0);
            for e in self.list(dir.as_deref()).unwrap_or_default() {
                if e.folder && depth < 4 {
                    queue.push((Some(e.path), depth + 1));
                } else if !e.folder && e.format != Format::Other && out.len() < MAX_LISTED {
                    out.push(e.path);
                }
            }
        }
        out
    }

    /// The first bytes of a file, to tell text from binary.
    fn head(&self, f: &Folder, rel: &Path) -> Vec<u8> {
        let mut buf = vec![0; 512];
        match f.dir.open(rel).and_then(|mut file| file.read(&mut buf)) {
            Ok(n) => buf.truncate(n),
            Err(_) => buf.clear(),
        }
        buf
    }

    /// Read a whole file, within the limits.
    pub fn load(&mut self, path: &str) -> Result<Loaded, InputError> {
        let (f, rel) = self.resolve(path)?;
        let shown = format!("{}/{}", f.label, rel.display());
        let meta = f.dir.metadata(&rel).map_err(|source| InputError::NotFound { path: shown.clone(), source })?;
        if meta.is_dir() {
            return Err(InputError::IsFolder { path: shown });
        }
        if !meta.is_file() {
            return Err(InputError::NotAFile { path: shown });
        }
        if meta.len() > MAX_FILE_BYTES {
            return Err(InputError::TooBig { path: shown, bytes: meta.len() });
        }
        let again = self.counted.iter().any(|(p, _)| *p == shown);
        if !again && self.read + meta.len() > MAX_RUN_BYTES {
            return Err(InputError::Budget { path: shown, read: self.read });
        }
        let io = |source| InputError::Io { path: shown.clone(), source };
        let mut file = f.dir.open(&rel).map_err(io)?;
        let mut bytes = vec![];
        // Bounded even if the file grew since it was measured.
        (&mut file).take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(io)?;
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(InputError::TooBig { path: shown, bytes: bytes.len() as u64 });
        }
        let name = rel.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        let format = Format::of(&name, &bytes[..bytes.len().min(512)]);
        let abs = f.root.join(&rel);
        let sha256 = recordings::sha256(&bytes);
        // A file read before, with the same bytes, is not counted again; one that changed is.
        if self.counted.insert((shown.clone(), sha256.clone())) {
            if self.read + bytes.len() as u64 > MAX_RUN_BYTES {
                return Err(InputError::Budget { path: shown, read: self.read });
            }
            self.read += bytes.len() as u64;
        }
        Ok(Loaded { sha256, abs, path: shown, bytes, format })
    }

    /// [`formats::render`] of a loaded file, kept for the next part of it.
    pub fn render(&mut self, loaded: &Loaded) -> Result<std::sync::Arc<formats::Rendered>, formats::FormatError> {
        if let Some((_, _, r)) = self.rendered.iter().find(|(p, h, _)| *p == loaded.path && *h == loaded.sha256) {
            return Ok(r.clone());
        }
        let r = std::sync::Arc::new(formats::render(loaded.format, &loaded.bytes, &loaded.path)?);
        if self.rendered.len() >= RENDERED_KEPT {
            self.rendered.remove(0);
        }
        self.rendered.push((loaded.path.clone(), loaded.sha256.clone(), r.clone()));
        Ok(r)
    }
}

/// An absolute form of `p` without touching the disk beyond what exists.
fn absolute(p: &Path) -> PathBuf {
    if let Ok(c) = std::fs::canonicalize(p) {
        return c;
    }
    // Not created yet: its nearest existing parent, canonical, and the rest.
    let mut rest = vec![];
    let mut cur = p.to_path_buf();
    while let Some(name) = cur.file_name().map(|n| n.to_os_string()) {
        rest.push(name);
        cur.pop();
        let base = if cur.as_os_str().is_empty() { PathBuf::from(".") } else { cur.clone() };
        if let Ok(c) = std::fs::canonicalize(&base) {
            return rest.iter().rev().fold(c, |acc, n| acc.join(n));
        }
    }
    std::env::current_dir().map(|d| d.join(p)).unwrap_or_else(|_| p.to_path_buf())
}

/// Which of the folders `labels` a model's `path` names, and the relative path inside it.
/// Pure: the checks that need no disk (absolute paths, `..`) happen here; the directory
/// handle refuses symlinks that lead out.
pub fn split(path: &str, labels: &[&str]) -> Result<(usize, PathBuf), &'static str> {
    let p = Path::new(path.trim());
    let mut parts: Vec<String> = vec![];
    for c in p.components() {
        match c {
            Component::Normal(s) => parts.push(s.to_string_lossy().to_string()),
            Component::CurDir => {}
            Component::ParentDir => return Err("\"..\" is not allowed"),
            Component::RootDir | Component::Prefix(_) => return Err("absolute paths are not allowed"),
        }
    }
    if parts.is_empty() {
        return Err("empty");
    }
    if let Some(i) = labels.iter().position(|l| *l == parts[0]) {
        return Ok((i, parts[1..].iter().collect()));
    }
    // With one folder, its name may be left out.
    if labels.len() == 1 {
        return Ok((0, parts.iter().collect()));
    }
    Err("it does not start with one of the input folders' names")
}

#[cfg(test)]
mod tests;

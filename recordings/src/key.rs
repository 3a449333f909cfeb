//! The key that signs recordings: made once, kept in errand's data folder, and the
//! sealing of each line with its own hash and an HMAC under that key.

use std::io::Write;
use std::path::Path;

use sha2::Sha256;

use crate::{hex, sha256, RecordingError};

/// The key that signs recordings made on this machine, kept in errand's data folder
/// (`recording.key`, readable by its owner only). Made on first use.
#[derive(Clone)]
pub struct Key(pub(crate) Vec<u8>);

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

    /// Read the key in `data_dir`, or make one there. Two errands (or two sessions of one)
    /// starting at once agree on one key: it is written to a temporary file and linked
    /// into place, never over another.
    pub fn load_or_create(data_dir: &Path) -> Result<Key, RecordingError> {
        let path = data_dir.join(KEY_FILE);
        if let Some(k) = Key::load(data_dir)? {
            return Ok(k);
        }
        let err = |source| RecordingError::Key { path: path.clone(), source };
        std::fs::create_dir_all(data_dir).map_err(err)?;
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| err(std::io::Error::other(e.to_string())))?;
        // A temporary name of this call's own: sessions of one process (`errand mcp`)
        // can make the key at once, and must not write, link or remove each other's file.
        static MADE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = MADE.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let tmp = data_dir.join(format!(".{KEY_FILE}.{}.{n}", std::process::id()));
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

    pub(crate) fn mac(&self, hash: &str) -> String {
        use hmac::Mac;
        #[allow(clippy::expect_used)] // HMAC takes a key of any length: this cannot fail
        let mut m = <hmac::Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        m.update(hash.as_bytes());
        hex(&m.finalize().into_bytes())
    }
}

/// A line's text signed: its own hash and the MAC appended as the last two fields.
pub(crate) fn seal(unsealed: &str, key: &Key) -> String {
    let hash = sha256(unsealed.as_bytes());
    let mac = key.mac(&hash);
    let body = unsealed.strip_suffix('}').unwrap_or(unsealed);
    format!("{body},\"hash\":\"{hash}\",\"mac\":\"{mac}\"}}")
}

/// Split a line into its text without `hash`/`mac` and the two values, if it has them.
pub(crate) fn unseal(raw: &str) -> Option<(String, &str, &str)> {
    // `,"hash":"<64 hex>","mac":"<64 hex>"}` is exactly 148 bytes.
    let i = raw.len().checked_sub(148).filter(|i| raw.is_char_boundary(*i))?;
    let t = &raw[i..];
    if !t.starts_with(",\"hash\":\"") || !t.ends_with("\"}") || &t[73..82] != "\",\"mac\":\"" {
        return None;
    }
    Some((format!("{}}}", &raw[..i]), &t[9..73], &t[82..146]))
}

//! Values that must never be written anywhere, and their redaction.

use std::sync::{Arc, Mutex};

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

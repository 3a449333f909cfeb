//! Secrets bound to destinations: the page and the model only ever hold a placeholder.
//!
//! A person stores a secret under a name with the hosts it may be sent to. The model is
//! told the name and types `{{secret:NAME}}`; the page holds those characters, whatever
//! its scripts do with them. errand's proxy swaps the placeholder for the value in a
//! request (URL, headers, body) only when the request goes to a host the secret is bound
//! to, over https unless the binding says `http://`. Anywhere else the placeholder goes
//! out as it is, and the attempt is reported. This module is the pure part: finding
//! placeholders in any of the spellings a browser sends (as typed, percent-encoded in a
//! URL or form) and writing the value in the encoding of where it stands.

use std::sync::Arc;

/// A secret and where it may go.
#[derive(Clone)]
pub struct Binding {
    pub name: String,
    pub value: String,
    /// The destinations as the person wrote them (for messages).
    pub hosts: Vec<String>,
    /// May the value be sent to this URL?
    pub allows: Arc<dyn Fn(&str) -> bool + Send + Sync>,
}

impl std::fmt::Debug for Binding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Binding").field("name", &self.name).field("hosts", &self.hosts).finish_non_exhaustive()
    }
}

/// How the text around a placeholder is encoded, and so how the value must be.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Context {
    /// A URL's path or query: percent-encoded.
    Url,
    /// An `application/x-www-form-urlencoded` body.
    Form,
    /// A JSON body: inside a string.
    Json,
    /// Anything else (text, multipart, headers): as is.
    Raw,
}

impl Context {
    /// The context of a request body with this `Content-Type`.
    pub fn of_body(content_type: &str) -> Context {
        let ct = content_type.to_ascii_lowercase();
        if ct.contains("application/x-www-form-urlencoded") {
            Context::Form
        } else if ct.contains("json") {
            Context::Json
        } else {
            Context::Raw
        }
    }
}

/// What filling a text did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Filled {
    pub text: String,
    /// Names whose value was written in.
    pub filled: Vec<String>,
    /// Names whose placeholder was left because the destination is not theirs.
    pub refused: Vec<String>,
    /// Placeholders naming no stored secret.
    pub unknown: Vec<String>,
}

/// One character of the placeholder's punctuation, as typed or percent-encoded.
fn punct(s: &[u8], i: usize, c: u8) -> Option<usize> {
    if s.get(i) == Some(&c) {
        return Some(i + 1);
    }
    if s.get(i) == Some(&b'%') {
        let hex = std::str::from_utf8(s.get(i + 1..i + 3)?).ok()?;
        if u8::from_str_radix(hex, 16).ok()? == c {
            return Some(i + 3);
        }
    }
    None
}

/// A placeholder starting at `i`: its end and name.
fn placeholder_at(s: &[u8], i: usize) -> Option<(usize, String)> {
    let mut j = punct(s, i, b'{')?;
    j = punct(s, j, b'{')?;
    if s.get(j..j + 6)? != b"secret" {
        return None;
    }
    j = punct(s, j + 6, b':')?;
    let start = j;
    while s.get(j).is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-') {
        j += 1;
    }
    if j == start {
        return None;
    }
    let name = String::from_utf8_lossy(&s[start..j]).to_string();
    j = punct(s, j, b'}')?;
    j = punct(s, j, b'}')?;
    Some((j, name))
}

/// Does the text hold a placeholder in any spelling?
pub fn has_placeholder(text: &str) -> bool {
    let s = text.as_bytes();
    (0..s.len()).any(|i| (s[i] == b'{' || s[i] == b'%') && placeholder_at(s, i).is_some())
}

fn encode(value: &str, ctx: Context) -> String {
    match ctx {
        Context::Url => value
            .bytes()
            .map(|b| if b.is_ascii_alphanumeric() || b"-._~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
            .collect(),
        Context::Form => url::form_urlencoded::byte_serialize(value.as_bytes()).collect(),
        Context::Json => serde_json::to_string(value).map(|j| j[1..j.len() - 1].to_string()).unwrap_or_default(),
        Context::Raw => value.to_string(),
    }
}

/// Write in the values of the placeholders in `text` that may go to `url`.
pub fn fill(text: &str, ctx: Context, url: &str, bindings: &[Binding]) -> Filled {
    let s = text.as_bytes();
    let mut out = Filled::default();
    let mut i = 0;
    let mut last = 0;
    let mut result = String::new();
    while i < s.len() {
        if s[i] == b'{' || s[i] == b'%' {
            if let Some((end, name)) = placeholder_at(s, i) {
                match bindings.iter().find(|b| b.name == name) {
                    Some(b) if (b.allows)(url) => {
                        result.push_str(&text[last..i]);
                        result.push_str(&encode(&b.value, ctx));
                        last = end;
                        out.filled.push(name);
                    }
                    Some(_) => out.refused.push(name),
                    None => out.unknown.push(name),
                }
                i = end;
                continue;
            }
        }
        i += 1;
    }
    result.push_str(&text[last..]);
    out.text = result;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bank() -> Vec<Binding> {
        vec![Binding {
            name: "bank".into(),
            value: "p@ss \"w&rd\"".into(),
            hosts: vec!["bank.example".into()],
            allows: Arc::new(|u: &str| u.starts_with("https://bank.example/")),
        }]
    }

    #[test]
    fn placeholders_are_filled_in_the_encoding_of_where_they_stand() {
        let to = "https://bank.example/login";
        let cases = [
            ("pw={{secret:bank}}&u=ann", Context::Raw, "pw=p@ss \"w&rd\"&u=ann"),
            ("pw=%7B%7Bsecret%3Abank%7D%7D&u=ann", Context::Form, "pw=p%40ss+%22w%26rd%22&u=ann"),
            ("/login?pw=%7b%7bsecret%3abank%7d%7d", Context::Url, "/login?pw=p%40ss%20%22w%26rd%22"),
            (r#"{"pw":"{{secret:bank}}"}"#, Context::Json, r#"{"pw":"p@ss \"w&rd\""}"#),
            ("two {{secret:bank}} {{secret:bank}}", Context::Raw, "two p@ss \"w&rd\" p@ss \"w&rd\""),
        ];
        for (text, ctx, want) in cases {
            let f = fill(text, ctx, to, &bank());
            assert_eq!(f.text, want, "{text}");
            assert!(!f.filled.is_empty() && f.refused.is_empty(), "{text}");
        }
    }

    #[test]
    fn elsewhere_the_placeholder_goes_out_as_it_is() {
        for to in ["https://evil.example/steal", "http://bank.example/login", "https://bank.example.evil.example/"] {
            let f = fill("pw=%7B%7Bsecret%3Abank%7D%7D", Context::Form, to, &bank());
            assert_eq!(f.text, "pw=%7B%7Bsecret%3Abank%7D%7D", "{to}");
            assert_eq!(f.refused, vec!["bank".to_string()]);
        }
        let f = fill("{{secret:other}} {{secret:}} {secret:bank} {{ secret:bank }}", Context::Raw, "https://bank.example/", &bank());
        assert_eq!(f.text, "{{secret:other}} {{secret:}} {secret:bank} {{ secret:bank }}");
        assert_eq!((f.unknown, f.filled), (vec!["other".to_string()], vec![]));
        assert!(has_placeholder("a=%7B%7Bsecret%3Ax%7D%7D") && has_placeholder("{{secret:x}}") && !has_placeholder("{{secret}}"));
    }
}

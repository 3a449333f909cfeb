//! Consent: no state-changing request leaves the browser without a yes.
//!
//! Every request that is not a plain read (any method but GET, HEAD and OPTIONS: form
//! posts, `fetch`/XHR with POST, PUT, PATCH or DELETE, beacons) is held paused at the
//! network layer, on every target (pages, popups, frames in or out of process, workers),
//! while the session's [`Consent`] decides. The browser crate describes the request as
//! well as it can (the page, the form's purpose from its legend, heading or button, every
//! field with secret ones masked) and the caller decides: a person at a prompt, a rule, a
//! policy. A denied request fails at once; an approved one continues, once.
//!
//! This needs CDP request interception, so it is on whenever a consent policy is set,
//! also under the proxy (whose CONNECT tunnels hide https requests' methods).

use std::sync::Arc;

use futures::future::BoxFuture;
use serde::Serialize;

/// A state-changing request, described for a person.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Submission {
    pub method: String,
    pub url: String,
    /// The top-level page it came from.
    pub page: String,
    /// The frame or worker that sent it, when not the page itself.
    pub frame: String,
    /// Document (a form), Fetch, XHR, Ping (beacon), …
    pub resource: String,
    /// What the form is for: its legend, heading, label or submit button text.
    pub purpose: String,
    /// Field names and values; values of password, card and secret fields are masked.
    pub fields: Vec<(String, String)>,
    /// The body when it is not form fields (JSON, text), trimmed; masked if secret-looking.
    pub body: String,
}

/// What a consent policy answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Allow,
    /// Refused, with the reason the model is told.
    Deny(String),
}

/// Decides about one held request. Called concurrently for concurrent requests; the
/// implementation serialises prompts itself.
pub trait Consent: Send + Sync {
    fn decide(&self, s: Submission) -> BoxFuture<'static, Verdict>;
}

pub type SharedConsent = Arc<dyn Consent>;

impl<F> Consent for F
where
    F: Fn(Submission) -> Verdict + Send + Sync,
{
    fn decide(&self, s: Submission) -> BoxFuture<'static, Verdict> {
        let v = self(s);
        Box::pin(async move { v })
    }
}

/// Methods that only read.
pub fn is_state_changing(method: &str) -> bool {
    !matches!(method.to_ascii_uppercase().as_str(), "GET" | "HEAD" | "OPTIONS")
}

const SECRET_WORDS: &[&str] =
    &["pass", "pwd", "secret", "token", "card", "cc-", "ccnum", "cvc", "cvv", "pin", "ssn", "iban", "otp", "apikey", "api_key"];

/// True for a field name that suggests a secret.
pub fn secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    SECRET_WORDS.iter().any(|w| n.contains(w))
}

pub const MASK: &str = "••••••";

/// Fields of a request body: urlencoded forms and JSON objects (top level) become fields;
/// anything else is shown as trimmed text. `secret` names the page's secret fields.
pub fn describe_body(content_type: &str, body: &str, secret: &[String]) -> (Vec<(String, String)>, String) {
    let is_secret = |k: &str| secret_name(k) || secret.iter().any(|s| s == k);
    let ct = content_type.to_ascii_lowercase();
    if ct.contains("application/x-www-form-urlencoded") || (ct.is_empty() && body.contains('=') && !body.trim_start().starts_with('{')) {
        let fields = url::form_urlencoded::parse(body.as_bytes())
            .map(|(k, v)| {
                let v = if is_secret(&k) { MASK.to_string() } else { v.to_string() };
                (k.to_string(), v)
            })
            .collect();
        return (fields, String::new());
    }
    if let Ok(serde_json::Value::Object(o)) = serde_json::from_str::<serde_json::Value>(body) {
        let fields = o
            .iter()
            .map(|(k, v)| {
                let shown = match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), if is_secret(k) { MASK.to_string() } else { shown })
            })
            .collect();
        return (fields, String::new());
    }
    if ct.contains("multipart/form-data") {
        // name="x"\r\n\r\nvalue
        let mut fields = vec![];
        for part in body.split("Content-Disposition: form-data; name=\"").skip(1) {
            if let Some((name, rest)) = part.split_once('"') {
                let value = rest.split("\r\n\r\n").nth(1).unwrap_or_default().split("\r\n--").next().unwrap_or_default();
                fields.push((name.to_string(), if is_secret(name) { MASK.to_string() } else { value.to_string() }));
            }
        }
        return (fields, String::new());
    }
    let mut text: String = body.chars().take(500).collect();
    if secret_name(&text) {
        text = MASK.to_string();
    }
    (vec![], text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_become_fields_with_secrets_masked() {
        let (f, _) = describe_body("application/x-www-form-urlencoded", "user=ann&password=hunter2&note=a+b", &[]);
        assert_eq!(f, vec![("user".into(), "ann".into()), ("password".into(), MASK.into()), ("note".into(), "a b".into())]);
        let (f, _) = describe_body("application/json", r#"{"q": "otters", "card_number": "4111", "n": 3}"#, &[]);
        // (JSON objects come back with their keys sorted.)
        assert_eq!(f, vec![("card_number".into(), MASK.into()), ("n".into(), "3".into()), ("q".into(), "otters".into())]);
        let (f, _) = describe_body("application/x-www-form-urlencoded", "code=1234", &["code".to_string()]);
        assert_eq!(f[0].1, MASK);
        let (f, t) = describe_body("text/plain", "beacon data", &[]);
        assert!(f.is_empty() && t == "beacon data");
        assert!(is_state_changing("post") && is_state_changing("DELETE") && !is_state_changing("GET") && !is_state_changing("OPTIONS"));
    }
}

//! `--model script:FILE`: a JSON array of tool calls issued in order, as if a model chose
//! them. For scripted jobs and tests; the calls meet the same allowlist, consent and
//! output rules as a model's. An entry's `think_ms` makes the "model" take that long to
//! answer, standing in for a real model's reply time (what errand does meanwhile, such as
//! drawing the recording's pictures, then happens off the step's path as it would).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use super::{ProviderError, Reply, Request, ToolCall};

pub struct Script {
    pub path: PathBuf,
    /// Each call: tool, arguments, and how long the "model" takes to choose it.
    calls: Vec<(String, Value, Duration)>,
    next: usize,
}

impl Script {
    pub fn load(path: &Path) -> Result<Script, ProviderError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| ProviderError::Config(format!("cannot read the script {}: {e}", path.display())))?;
        let v: Value = serde_json::from_str(&text).map_err(|e| {
            ProviderError::Config(format!(
                "the script {} is not valid JSON (line {}, column {}): {e}",
                path.display(),
                e.line(),
                e.column()
            ))
        })?;
        let arr = v.as_array().ok_or_else(|| {
            ProviderError::Config(format!("the script {} must be a JSON array of {{\"tool\": …, \"args\": {{…}}}} objects", path.display()))
        })?;
        let mut calls = vec![];
        for (i, c) in arr.iter().enumerate() {
            let tool = c["tool"]
                .as_str()
                .ok_or_else(|| ProviderError::Config(format!("the script {}: entry {} has no \"tool\" name", path.display(), i + 1)))?;
            let think = match &c["think_ms"] {
                Value::Null => 0,
                v => v.as_u64().filter(|&ms| ms <= 600_000).ok_or_else(|| {
                    ProviderError::Config(format!(
                        "the script {}: entry {} has a \"think_ms\" that is not a number of milliseconds up to 600000",
                        path.display(),
                        i + 1
                    ))
                })?,
            };
            let args = if c["args"].is_null() { Value::Object(Default::default()) } else { c["args"].clone() };
            calls.push((tool.to_string(), args, Duration::from_millis(think)));
        }
        Ok(Script { path: path.to_path_buf(), calls, next: 0 })
    }

    pub async fn next(&mut self, _req: &Request<'_>) -> Result<Reply, ProviderError> {
        let Some((tool, args, think)) = self.calls.get(self.next).cloned() else {
            return Ok(Reply { text: "the script has no more steps".into(), ..Reply::default() });
        };
        self.next += 1;
        tokio::time::sleep(think).await;
        let args = if args.is_object() { Ok(args) } else { Err(args.to_string()) };
        Ok(Reply {
            text: String::new(),
            calls: vec![ToolCall { id: format!("script-{}", self.next), name: tool, args }],
            ..Reply::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(text: &str) -> Result<Script, ProviderError> {
        let dir = tempfile::tempdir().map_err(|e| ProviderError::Config(e.to_string()))?;
        let path = dir.path().join("script.json");
        std::fs::write(&path, text).map_err(|e| ProviderError::Config(e.to_string()))?;
        Script::load(&path)
    }

    fn request() -> Request<'static> {
        Request { system: "", tools: &[], turns: &[], observation: None, max_tokens: 100 }
    }

    #[tokio::test]
    async fn a_call_with_think_ms_takes_at_least_that_long_and_the_others_do_not_wait() {
        let mut s = script(r#"[{"tool": "extract", "think_ms": 200}, {"tool": "done", "args": {"summary": "x"}}]"#).unwrap();
        let t = std::time::Instant::now();
        let first = s.next(&request()).await.unwrap();
        assert!(t.elapsed() >= Duration::from_millis(200), "answered after {:?}", t.elapsed());
        assert_eq!(first.calls[0].name, "extract");
        let second = s.next(&request()).await.unwrap();
        assert_eq!(second.calls[0].name, "done");
    }

    #[test]
    fn a_think_ms_that_is_not_a_number_of_milliseconds_is_refused_with_its_entry() {
        for bad in [r#""soon""#, "-5", "1.5", "600001"] {
            let text = format!(r#"[{{"tool": "extract"}}, {{"tool": "extract", "think_ms": {bad}}}]"#);
            let e = script(&text).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(e.contains("entry 2") && e.contains("think_ms"), "{bad}: {e}");
        }
    }
}

//! The OpenAI Chat Completions API with `tools` / `tool_calls`: OpenAI itself and the
//! local servers that speak it (Ollama, llama.cpp's server, vLLM).
//!
//! Tool results go back as `tool` messages paired by `tool_call_id`. Chat Completions
//! cannot put an image in a tool message, so a screenshot follows as a user message with
//! an image part.

use base64::Engine;
use serde_json::{json, Value};

use super::{http_client, send, ProviderError, Reply, Request, ToolCall, Turn, Usage};

pub const DEFAULT_MODEL: &str = "gpt-4.1";
const KEY_VAR: &str = "OPENAI_API_KEY";

pub struct OpenAi {
    pub model: String,
    key: Option<String>,
    base: String,
    client: reqwest::Client,
}

impl OpenAi {
    pub fn from_env(model: &str) -> Result<OpenAi, ProviderError> {
        let base = std::env::var("OPENAI_BASE_URL").unwrap_or_else(|_| "https://api.openai.com/v1".into());
        let key = std::env::var(KEY_VAR).ok();
        // Local servers need no key; OpenAI itself does.
        if key.is_none() && base.contains("api.openai.com") {
            return Err(ProviderError::Config(format!(
                "--model openai:{model} needs {KEY_VAR} (or OPENAI_BASE_URL for a local server); set it, or use --model builtin"
            )));
        }
        Ok(OpenAi { model: model.to_string(), key, base: base.trim_end_matches('/').to_string(), client: http_client()? })
    }

    pub async fn next(&self, req: &Request<'_>) -> Result<Reply, ProviderError> {
        let url = format!("{}/chat/completions", self.base);
        let mut r = self.client.post(&url).json(&body(&self.model, req));
        if let Some(k) = &self.key {
            r = r.bearer_auth(k);
        }
        let text = send("OpenAI", KEY_VAR, &url, r).await?;
        parse(&text)
    }
}

pub fn body(model: &str, req: &Request<'_>) -> Value {
    let tools: Vec<Value> = req
        .tools
        .iter()
        .map(|t| json!({"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.schema}}))
        .collect();
    let mut messages = vec![json!({"role": "system", "content": req.system})];
    for t in req.turns {
        match t {
            Turn::User(text) => messages.push(json!({"role": "user", "content": text})),
            Turn::Assistant { text, calls } => {
                let mut m = json!({"role": "assistant", "content": if text.is_empty() { Value::Null } else { json!(text) }});
                if !calls.is_empty() {
                    m["tool_calls"] = calls
                        .iter()
                        .map(|c| {
                            let args = match &c.args {
                                Ok(v) => v.to_string(),
                                Err(raw) => raw.clone(),
                            };
                            json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": args}})
                        })
                        .collect();
                }
                messages.push(m);
            }
            Turn::Results(rs) => {
                for r in rs {
                    let text = if r.is_error { format!("error: {}", r.text) } else { r.text.clone() };
                    messages.push(json!({"role": "tool", "tool_call_id": r.id, "content": text}));
                }
                for r in rs {
                    if let Some((media, bytes)) = &r.image {
                        let data = base64::engine::general_purpose::STANDARD.encode(bytes);
                        messages.push(json!({"role": "user", "content": [
                            {"type": "text", "text": format!("The screenshot from {}:", r.name)},
                            {"type": "image_url", "image_url": {"url": format!("data:{media};base64,{data}")}}
                        ]}));
                    }
                }
            }
        }
    }
    json!({"model": model, "messages": messages, "tools": tools, "tool_choice": "auto", "max_tokens": req.max_tokens})
}

pub fn parse(text: &str) -> Result<Reply, ProviderError> {
    let bad = |m: String| ProviderError::BadResponse { provider: "OpenAI".into(), message: m };
    let v: Value = serde_json::from_str(text).map_err(|e| bad(format!("not JSON ({e})")))?;
    let msg = &v["choices"][0]["message"];
    if msg.is_null() {
        return Err(bad("no choices[0].message".into()));
    }
    let mut reply = Reply { text: msg["content"].as_str().unwrap_or_default().to_string(), ..Reply::default() };
    for c in msg["tool_calls"].as_array().into_iter().flatten() {
        let raw = c["function"]["arguments"].as_str().unwrap_or("{}");
        let args = match serde_json::from_str::<Value>(raw) {
            Ok(v) if v.is_object() => Ok(v),
            _ => Err(raw.to_string()),
        };
        reply.calls.push(ToolCall {
            id: c["id"].as_str().unwrap_or_default().to_string(),
            name: c["function"]["name"].as_str().unwrap_or_default().to_string(),
            args,
        });
    }
    let u = &v["usage"];
    reply.usage = Usage {
        input: u["prompt_tokens"].as_u64().unwrap_or(0),
        output: u["completion_tokens"].as_u64().unwrap_or(0),
        cache_read: u["prompt_tokens_details"]["cached_tokens"].as_u64().unwrap_or(0),
        cache_write: 0,
    };
    Ok(reply)
}

//! The Anthropic Messages API with tool use.
//!
//! Tool results go back as `tool_result` blocks paired with their `tool_use` ids, in one
//! user message per turn; screenshots ride inside the tool result as image blocks. The
//! stable prefix (system prompt and tool definitions) is marked for prompt caching, and so
//! is the newest turn, so each step pays full price only for what is new.

use base64::Engine;
use serde_json::{json, Value};

use super::{http_client, send, ProviderError, Reply, Request, ToolCall, Turn, Usage};

pub const DEFAULT_MODEL: &str = "claude-sonnet-4-5";
const VERSION: &str = "2023-06-01";
const KEY_VAR: &str = "ANTHROPIC_API_KEY";

pub struct Anthropic {
    pub model: String,
    key: String,
    base: String,
    client: reqwest::Client,
}

impl Anthropic {
    pub fn from_env(model: &str) -> Result<Anthropic, ProviderError> {
        let key = std::env::var(KEY_VAR)
            .map_err(|_| ProviderError::Config(format!("--model anthropic:{model} needs {KEY_VAR}; set it, or use --model builtin")))?;
        let base = std::env::var("ANTHROPIC_BASE_URL").unwrap_or_else(|_| "https://api.anthropic.com".into());
        Ok(Anthropic { model: model.to_string(), key, base: base.trim_end_matches('/').to_string(), client: http_client()? })
    }

    pub async fn next(&self, req: &Request<'_>) -> Result<Reply, ProviderError> {
        let url = format!("{}/v1/messages", self.base);
        let r = self.client.post(&url).header("x-api-key", &self.key).header("anthropic-version", VERSION).json(&body(&self.model, req));
        let text = send("Anthropic", KEY_VAR, &url, r).await?;
        parse(&text)
    }
}

/// The request body for a conversation.
pub fn body(model: &str, req: &Request<'_>) -> Value {
    let mut tools: Vec<Value> =
        req.tools.iter().map(|t| json!({"name": t.name, "description": t.description, "input_schema": t.schema})).collect();
    if let Some(last) = tools.last_mut() {
        last["cache_control"] = json!({"type": "ephemeral"});
    }
    let mut messages: Vec<Value> = req
        .turns
        .iter()
        .map(|t| match t {
            Turn::User(text) => json!({"role": "user", "content": [{"type": "text", "text": text}]}),
            Turn::Assistant { text, calls } => {
                let mut content = vec![];
                if !text.is_empty() {
                    content.push(json!({"type": "text", "text": text}));
                }
                for c in calls {
                    let input = c.args.clone().unwrap_or_else(|_| json!({}));
                    content.push(json!({"type": "tool_use", "id": c.id, "name": c.name, "input": input}));
                }
                json!({"role": "assistant", "content": content})
            }
            Turn::Results(rs) => {
                let content: Vec<Value> = rs
                    .iter()
                    .map(|r| {
                        let mut parts = vec![json!({"type": "text", "text": r.text})];
                        if let Some((media, bytes)) = &r.image {
                            let data = base64::engine::general_purpose::STANDARD.encode(bytes);
                            parts.push(json!({"type": "image", "source": {"type": "base64", "media_type": media, "data": data}}));
                        }
                        json!({"type": "tool_result", "tool_use_id": r.id, "content": parts, "is_error": r.is_error})
                    })
                    .collect();
                json!({"role": "user", "content": content})
            }
        })
        .collect();
    // Cache up to the newest turn too: the next request repeats all of it.
    if let Some(block) = messages.last_mut().and_then(|m| m["content"].as_array_mut()).and_then(|c| c.last_mut()) {
        block["cache_control"] = json!({"type": "ephemeral"});
    }
    json!({
        "model": model,
        "max_tokens": req.max_tokens,
        "system": [{"type": "text", "text": req.system, "cache_control": {"type": "ephemeral"}}],
        "tools": tools,
        "messages": messages,
    })
}

/// Read a Messages API response.
pub fn parse(text: &str) -> Result<Reply, ProviderError> {
    let bad = |m: String| ProviderError::BadResponse { provider: "Anthropic".into(), message: m };
    let v: Value = serde_json::from_str(text).map_err(|e| bad(format!("not JSON ({e})")))?;
    let content = v["content"].as_array().ok_or_else(|| bad("no content".into()))?;
    let mut reply = Reply::default();
    for block in content {
        match block["type"].as_str() {
            Some("text") => {
                if !reply.text.is_empty() {
                    reply.text.push('\n');
                }
                reply.text.push_str(block["text"].as_str().unwrap_or_default());
            }
            Some("tool_use") => {
                let input = &block["input"];
                reply.calls.push(ToolCall {
                    id: block["id"].as_str().unwrap_or_default().to_string(),
                    name: block["name"].as_str().unwrap_or_default().to_string(),
                    args: if input.is_object() { Ok(input.clone()) } else { Err(input.to_string()) },
                });
            }
            _ => {}
        }
    }
    let u = &v["usage"];
    reply.usage = Usage {
        input: u["input_tokens"].as_u64().unwrap_or(0)
            + u["cache_read_input_tokens"].as_u64().unwrap_or(0)
            + u["cache_creation_input_tokens"].as_u64().unwrap_or(0),
        output: u["output_tokens"].as_u64().unwrap_or(0),
        cache_read: u["cache_read_input_tokens"].as_u64().unwrap_or(0),
        cache_write: u["cache_creation_input_tokens"].as_u64().unwrap_or(0),
    };
    Ok(reply)
}

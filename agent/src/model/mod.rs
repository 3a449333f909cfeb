//! Model providers: what chooses errand's next web action.
//!
//! The agent loop speaks one neutral conversation ([`Turn`]s of text, tool calls and tool
//! results); each provider translates it to its wire format and back. Providers are an
//! enum rather than trait objects: there are four, known at compile time, and the enum
//! keeps `async fn` simple. Every failure is a [`ProviderError`] with friendly text, and
//! [`Provider::next`] retries the ones worth retrying (rate limits, server errors,
//! timeouts) with backoff, honouring `retry-after`.

pub mod anthropic;
pub mod builtin;
pub mod mcp;
pub mod openai;
pub mod replay;
pub mod script;

use std::time::Duration;

use browser::state::PageState;

use serde_json::Value;

pub use crate::tools::ToolSpec;

/// A tool call the model made.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// The arguments; `Err` holds the raw text when they were not a JSON object.
    pub args: Result<Value, String>,
}

/// The result of one tool call, returned to the model.
#[derive(Debug, Clone)]
pub struct ToolResult {
    pub id: String,
    pub name: String,
    pub text: String,
    /// A screenshot (JPEG or PNG bytes, with its media type).
    pub image: Option<(String, Vec<u8>)>,
    pub is_error: bool,
}

/// One entry of the conversation.
#[derive(Debug, Clone)]
pub enum Turn {
    User(String),
    Assistant { text: String, calls: Vec<ToolCall> },
    Results(Vec<ToolResult>),
}

/// What a provider is asked.
pub struct Request<'a> {
    pub system: &'a str,
    pub tools: &'a [ToolSpec],
    pub turns: &'a [Turn],
    /// Structured view of the latest observation, for the built-in policy.
    pub observation: Option<&'a crate::model::Observation<'a>>,
    pub max_tokens: u32,
}

#[derive(Debug, Clone, Default)]
pub struct Usage {
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    #[allow(dead_code)] // shown by recordings review (issue 9)
    pub cache_write: u64,
}

/// A provider's answer.
#[derive(Debug, Clone, Default)]
pub struct Reply {
    pub text: String,
    pub calls: Vec<ToolCall>,
    pub usage: Usage,
}

/// Why a provider could not answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProviderError {
    #[error("{provider} rejected the API key ({message}); check {key_var}")]
    Auth { provider: String, key_var: String, message: String },
    #[error("{provider} is rate limiting errand{}: {message}", retry_after.map(|d| format!(" (retry after {} s)", d.as_secs_f64())).unwrap_or_default())]
    RateLimit { provider: String, retry_after: Option<Duration>, message: String },
    #[error("the conversation is too long for the model ({message}); shorten the task or lower --max-steps")]
    ContextTooLong { message: String },
    #[error("{provider} had a server error (HTTP {status}): {message}")]
    Server { provider: String, status: u16, message: String },
    #[error("cannot reach {provider} at {url}: {message}; check the network or the base URL")]
    Network { provider: String, url: String, message: String },
    #[error("{provider} sent an answer errand cannot read: {message}")]
    BadResponse { provider: String, message: String },
    #[error("{0}")]
    Config(String),
    /// A replay found the page elsewhere than the recording did.
    #[error("{0}")]
    Diverged(String),
    /// The policy ended without doing the task (the built-in policy found nothing relevant).
    #[error("{0}")]
    Unfinished(String),
    /// Whoever drove the session ended it (an MCP client disconnected): not a failure.
    #[error("{0}")]
    Ended(String),
}

impl ProviderError {
    /// How long to wait before retrying, or `None` if retrying cannot help.
    fn retry_delay(&self, attempt: u32, base: Duration) -> Option<Duration> {
        let backoff = base * 2u32.saturating_pow(attempt);
        match self {
            ProviderError::RateLimit { retry_after, .. } => Some(retry_after.unwrap_or(backoff).min(Duration::from_secs(60))),
            ProviderError::Server { .. } | ProviderError::Network { .. } => Some(backoff),
            _ => None,
        }
    }
}

/// The model behind a run.
pub enum Provider {
    Anthropic(anthropic::Anthropic),
    OpenAi(openai::OpenAi),
    Script(script::Script),
    // Boxed: its state (frontier, seen sentences) is several times the size of the rest.
    Builtin(Box<builtin::Builtin>),
    Replay(replay::Replay),
    /// An agent host's tool calls over MCP (`errand mcp`).
    Mcp(mcp::Mcp),
}

/// How many times a failed request is retried.
pub const RETRIES: u32 = 4;

impl Provider {
    /// Parse `--model`: `anthropic:MODEL`, `openai:MODEL`, `script:FILE`, `builtin`; `None`
    /// picks Anthropic or OpenAI when their key is set, else the built-in policy.
    pub fn from_spec(spec: Option<&str>, task: &str) -> Result<Provider, ProviderError> {
        let spec = match spec {
            Some(s) => s.to_string(),
            None if std::env::var_os("ANTHROPIC_API_KEY").is_some() => format!("anthropic:{}", anthropic::DEFAULT_MODEL),
            None if std::env::var_os("OPENAI_API_KEY").is_some() => format!("openai:{}", openai::DEFAULT_MODEL),
            None => "builtin".to_string(),
        };
        let (kind, rest) = spec.split_once(':').unwrap_or((spec.as_str(), ""));
        match kind {
            "anthropic" => Ok(Provider::Anthropic(anthropic::Anthropic::from_env(or(rest, anthropic::DEFAULT_MODEL))?)),
            "openai" => Ok(Provider::OpenAi(openai::OpenAi::from_env(or(rest, openai::DEFAULT_MODEL))?)),
            "script" if !rest.is_empty() => Ok(Provider::Script(script::Script::load(std::path::Path::new(rest))?)),
            "builtin" => Ok(Provider::Builtin(Box::new(builtin::Builtin::new(task)))),
            _ => Err(ProviderError::Config(format!("unknown --model {spec:?}; use anthropic:MODEL, openai:MODEL, script:FILE or builtin"))),
        }
    }

    /// A short name for narration and the recording.
    pub fn describe(&self) -> String {
        match self {
            Provider::Anthropic(a) => format!("anthropic:{}", a.model),
            Provider::OpenAi(o) => format!("openai:{}", o.model),
            Provider::Script(s) => format!("script:{}", s.path.display()),
            Provider::Builtin(_) => "builtin".into(),
            Provider::Replay(r) => format!("replay:{}", r.source),
            Provider::Mcp(m) => format!("mcp:{}", m.client),
        }
    }

    /// Ask for the next step, retrying transient failures. `on_retry` hears about each
    /// wait (for narration).
    pub async fn next(&mut self, req: &Request<'_>, on_retry: &mut dyn FnMut(&ProviderError, Duration)) -> Result<Reply, ProviderError> {
        let base = retry_base();
        let mut attempt = 0;
        loop {
            let r = match self {
                Provider::Anthropic(a) => a.next(req).await,
                Provider::OpenAi(o) => o.next(req).await,
                Provider::Script(s) => s.next(req).await,
                Provider::Builtin(b) => b.next(req),
                Provider::Replay(r) => r.next(req).await,
                Provider::Mcp(m) => m.next(req).await,
            };
            match r {
                Err(e) if attempt < RETRIES => match e.retry_delay(attempt, base) {
                    Some(d) => {
                        on_retry(&e, d);
                        tokio::time::sleep(d).await;
                        attempt += 1;
                    }
                    None => return Err(e),
                },
                other => return other,
            }
        }
    }
}

fn or<'a>(s: &'a str, default: &'a str) -> &'a str {
    if s.is_empty() {
        default
    } else {
        s
    }
}

/// The first retry's delay (doubling after): 500 ms, or `ERRAND_RETRY_BASE_MS`.
fn retry_base() -> Duration {
    std::env::var("ERRAND_RETRY_BASE_MS").ok().and_then(|v| v.parse().ok()).map(Duration::from_millis).unwrap_or(Duration::from_millis(500))
}

/// Read `retry-after` (seconds, or an HTTP date we treat as unknown).
pub(crate) fn retry_after(h: &reqwest::header::HeaderMap) -> Option<Duration> {
    h.get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<f64>().ok()).map(Duration::from_secs_f64)
}

/// The HTTP client the vendors are called with: bounded connect and total time.
pub(crate) fn http_client() -> Result<reqwest::Client, ProviderError> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(15))
        .timeout(Duration::from_secs(300))
        .build()
        .map_err(|e| ProviderError::Config(format!("cannot set up the HTTP client: {e}")))
}

/// Send a request to a vendor and return the body of a successful answer, or the failure
/// classified.
pub(crate) async fn send(provider: &str, key_var: &str, url: &str, r: reqwest::RequestBuilder) -> Result<String, ProviderError> {
    let net = |e: reqwest::Error| ProviderError::Network { provider: provider.into(), url: url.into(), message: e.to_string() };
    let resp = r.send().await.map_err(net)?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.map_err(net)?;
    if !(200..300).contains(&status) {
        return Err(http_error(provider, key_var, status, &headers, &text));
    }
    Ok(text)
}

/// Classify a non-success HTTP answer from a vendor.
pub(crate) fn http_error(provider: &str, key_var: &str, status: u16, headers: &reqwest::header::HeaderMap, body: &str) -> ProviderError {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let message = v["error"]["message"].as_str().map(str::to_string).unwrap_or_else(|| body.chars().take(300).collect());
    let code = v["error"]["code"].as_str().or(v["error"]["type"].as_str()).unwrap_or_default().to_string();
    let lower = message.to_ascii_lowercase();
    let provider = provider.to_string();
    match status {
        401 | 403 => ProviderError::Auth { provider, key_var: key_var.into(), message },
        429 => ProviderError::RateLimit { provider, retry_after: retry_after(headers), message },
        400 | 413
            if code == "context_length_exceeded"
                || lower.contains("too long")
                || lower.contains("context length")
                || lower.contains("maximum context") =>
        {
            ProviderError::ContextTooLong { message }
        }
        500..=599 => ProviderError::Server { provider, status, message },
        _ => ProviderError::BadResponse { provider, message: format!("HTTP {status}: {message}") },
    }
}

/// One extract taken during the run.
#[derive(Debug, Clone)]
pub struct Extract {
    pub n: u32,
    pub url: String,
    pub title: String,
    pub markdown: String,
    /// When it was taken (RFC 3339, UTC).
    pub fetched_at: String,
    /// The input file it was read from, when it is not a web page.
    pub input: Option<InputFile>,
}

/// An input file a source was read from.
#[derive(Debug, Clone, PartialEq)]
pub struct InputFile {
    /// As the model names it: `folder/path`.
    pub path: String,
    /// SHA-256 of its bytes.
    pub sha256: String,
}

/// The structured view of where the run stands (for the built-in policy; models get
/// the rendered text). Borrowed from the session: nothing is copied per step.
pub struct Observation<'a> {
    pub task: &'a str,
    pub start: &'a [String],
    pub state: Option<&'a PageState>,
    pub extracts: &'a [Extract],
    pub written: Vec<String>,
    pub max_pages: usize,
    /// The readable files of the input folders, as the model names them.
    pub inputs: &'a [String],
    /// The allowlist in force: `judge(url)` is `None` when it may be opened.
    pub guard: &'a dyn browser::Guard,
}

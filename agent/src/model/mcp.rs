//! An agent host as the "model": under `errand mcp`, each tool call a host makes over the
//! Model Context Protocol enters errand's own agent loop as if a model had made it, and
//! the loop's result (the outcome and the page as it is now) goes back to the host.
//!
//! Reusing the loop rather than calling the browser directly is the point: every call
//! passes the same allowlist, consent, output-folder rules, narration and recording as
//! `errand run`, and an MCP session's recording reviews and replays like any other.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::{ProviderError, Reply, Request, ToolCall, ToolResult, Turn, Usage};
use crate::consent::Asker;
use crate::policy::LivePolicy;

/// One tool call from the host, and where its result goes.
pub struct Call {
    pub name: String,
    pub args: serde_json::Value,
    pub reply: oneshot::Sender<ToolResult>,
}

/// What the host may ask about its session (the `session` and `allowlist` tools).
#[derive(Clone)]
pub struct SessionInfo {
    pub id: String,
    pub out: PathBuf,
    pub recording: PathBuf,
    pub allowlist_file: PathBuf,
    pub live: Arc<LivePolicy>,
}

/// The provider side of the link: the loop asks it for the next call.
pub struct Mcp {
    /// The host as it named itself (`clientInfo`), e.g. "claude-code 2.1.0".
    pub client: String,
    calls: mpsc::Receiver<Call>,
    pending: Option<oneshot::Sender<ToolResult>>,
    ready: Option<oneshot::Sender<SessionInfo>>,
    /// How a person at the host is asked about a submission; `None` when the host
    /// cannot ask (no elicitation support), which means no.
    pub asker: Option<Arc<dyn Asker>>,
    /// Whether the person may be asked to allow a host off the allowlist.
    pub ask_to_allow: AskToAllow,
    n: u64,
}

/// `errand mcp --ask-to-allow`: whether a host off the allowlist is put to the person at
/// the agent host, and whether "always" (written to the allowlist file) is offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum AskToAllow {
    /// Never ask: a host off the allowlist is refused
    #[default]
    Never,
    /// Offer "allow once" and "allow for this session"
    Session,
    /// Offer "always" too, which adds the host to the allowlist file
    Always,
}

impl Mcp {
    /// A provider fed by `calls`; `ready` hears the session's details once it has begun.
    pub fn new(client: String, calls: mpsc::Receiver<Call>, ready: oneshot::Sender<SessionInfo>, asker: Option<Arc<dyn Asker>>) -> Mcp {
        Mcp { client, calls, pending: None, ready: Some(ready), asker, ask_to_allow: AskToAllow::Never, n: 0 }
    }

    /// The session has begun: tell the server its id, folders and allowlist.
    pub fn started(&mut self, info: SessionInfo) {
        if let Some(tx) = self.ready.take() {
            let _ = tx.send(info);
        }
    }

    /// Hand the last call's result back to the host, then wait for its next call. The
    /// host disconnecting ends the session.
    pub async fn next(&mut self, req: &Request<'_>) -> Result<Reply, ProviderError> {
        if let Some(tx) = self.pending.take() {
            // One call per turn: the turn's results are that call's.
            if let Some(Turn::Results(r)) = req.turns.last() {
                if let Some(result) = r.last() {
                    let _ = tx.send(result.clone());
                }
            }
        }
        let Some(call) = self.calls.recv().await else {
            return Err(ProviderError::Ended(format!("{} ended the session", self.client)));
        };
        self.n += 1;
        self.pending = Some(call.reply);
        Ok(Reply {
            text: String::new(),
            calls: vec![ToolCall { id: format!("mcp-{}", self.n), name: call.name, args: Ok(call.args) }],
            usage: Usage::default(),
        })
    }
}

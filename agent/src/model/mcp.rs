//! An agent host as the "model": under `errand mcp`, each tool call a host makes over the
//! Model Context Protocol enters errand's own agent loop as if a model had made it, and
//! the loop's result (the outcome and the page as it is now) goes back to the host.
//!
//! Reusing the loop rather than calling the browser directly is the point: every call
//! passes the same allowlist, consent, output-folder rules, narration and recording as
//! `errand run`, and an MCP session's recording reviews and replays like any other.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, watch};

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

/// Where a client session is: its browser starting, running, or ended for good.
#[derive(Clone)]
pub enum Phase {
    Starting,
    Started(SessionInfo),
    Ended,
}

/// What outlives one run of the agent loop within a client session: a browser that
/// crashes is replaced by a new run (a new browser and recording) on the same link, so
/// the host's connection and its pending call survive it.
pub struct Link {
    calls: tokio::sync::Mutex<mpsc::Receiver<Call>>,
    /// The call being run, so a run that dies during it can still answer it.
    pending: std::sync::Mutex<Option<oneshot::Sender<ToolResult>>>,
    pub phase: watch::Sender<Phase>,
    /// The host has gone (its calls' sender was dropped).
    gone: AtomicBool,
}

impl Link {
    pub fn new(calls: mpsc::Receiver<Call>) -> Arc<Link> {
        let (phase, _) = watch::channel(Phase::Starting);
        Arc::new(Link { calls: tokio::sync::Mutex::new(calls), pending: Default::default(), phase, gone: AtomicBool::new(false) })
    }

    /// The host has left: its session is over.
    pub fn host_gone(&self) -> bool {
        self.gone.load(Ordering::SeqCst)
    }

    /// Let go of the call a run died during, if any: its caller then says why from the
    /// session's phase.
    pub fn drop_pending(&self) {
        drop(self.pending.lock().unwrap_or_else(|p| p.into_inner()).take());
    }
}

/// The provider side of the link: the loop asks it for the next call.
pub struct Mcp {
    /// The host as it named itself (`clientInfo`), e.g. "claude-code 2.1.0".
    pub client: String,
    link: Arc<Link>,
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
    pub fn new(client: String, link: Arc<Link>, asker: Option<Arc<dyn Asker>>) -> Mcp {
        Mcp { client, link, asker, ask_to_allow: AskToAllow::Never, n: 0 }
    }

    /// The session has begun: tell the server its id, folders and allowlist.
    pub fn started(&mut self, info: SessionInfo) {
        self.link.phase.send_replace(Phase::Started(info));
    }

    /// Hand the last call's result back to the host, then wait for its next call. The
    /// host disconnecting ends the session.
    pub async fn next(&mut self, req: &Request<'_>) -> Result<Reply, ProviderError> {
        let pending = self.link.pending.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(tx) = pending {
            // One call per turn: the turn's results are that call's.
            if let Some(Turn::Results(r)) = req.turns.last() {
                if let Some(result) = r.last() {
                    let _ = tx.send(result.clone());
                }
            }
        }
        let Some(call) = self.link.calls.lock().await.recv().await else {
            self.link.gone.store(true, Ordering::SeqCst);
            return Err(ProviderError::Ended(format!("{} ended the session", self.client)));
        };
        self.n += 1;
        *self.link.pending.lock().unwrap_or_else(|p| p.into_inner()) = Some(call.reply);
        Ok(Reply {
            text: String::new(),
            calls: vec![ToolCall { id: format!("mcp-{}", self.n), name: call.name, args: Ok(call.args) }],
            usage: Usage::default(),
        })
    }
}

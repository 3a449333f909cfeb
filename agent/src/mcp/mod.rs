//! `errand mcp`: the guarded browser as a Model Context Protocol server, for agent hosts
//! (Claude Code, Claude Desktop, Cursor, VS Code) to drive.
//!
//! The host is treated exactly as errand treats a model: untrusted. Its tool calls enter
//! errand's own agent loop (see [`crate::model::mcp`]), so the allowlist, the consent
//! hold, the output folder and the recording apply to every call as in `errand run`, and
//! nothing the host says can change them. A state-changing request the page makes is put
//! to the person through the host's own window (an MCP elicitation: send once, allow
//! this site for the session, decline); a host that cannot ask gets no.
//!
//! Served over stdio (one session, for hosts that start errand) or streamable HTTP
//! (`--http`: one browser, output folder and recording per client session, loopback
//! only unless told otherwise, `Origin` checked, an optional bearer token).

mod server;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use clap::Args;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::ServiceExt;
use tokio::sync::mpsc;

use crate::args::BrowserArgs;
use crate::consent::Confirm;
use crate::model::mcp::AskToAllow;
pub use server::tool_list;
use server::{Server, Shared};

#[derive(Args, Debug, Clone)]
pub struct McpArgs {
    /// The output folder for the session's files and downloads (default
    /// ./errand-out/<session-id>; over --http each session gets <DIR>/<session-id>)
    #[arg(long, short = 'o', value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// A folder of the person's materials the host may read and never change (repeatable)
    #[arg(long = "input", short = 'i', value_name = "DIR")]
    pub input: Vec<PathBuf>,
    /// Where recordings go (default ~/.local/share/errand/recordings)
    #[arg(long, env = "ERRAND_RECORD_DIR", value_name = "DIR")]
    pub record_dir: Option<PathBuf>,
    /// Who approves form submissions and other state-changing requests: ask (the person
    /// at the agent host, if it can ask; otherwise deny), deny, or approve
    #[arg(long, value_enum, default_value_t = Confirm::Ask)]
    pub confirm: Confirm,
    /// Seconds to wait for the person's answer before a submission counts as declined
    #[arg(long, default_value_t = 120, value_name = "SECONDS")]
    pub confirm_timeout: u64,
    /// Serve streamable HTTP at this address (e.g. 127.0.0.1:8931) instead of stdio; the
    /// endpoint is http://ADDR/mcp
    #[arg(long, value_name = "ADDR")]
    pub http: Option<SocketAddr>,
    /// When the model heads for a host off the allowlist, ask the person at the agent host
    /// (allow once, for the session, or decline; with `always`, also "always", which adds
    /// it to the allowlist file)
    #[arg(long, value_enum, default_value_t = AskToAllow::Never, value_name = "WHEN")]
    pub ask_to_allow: AskToAllow,
    /// Over --http: a file holding the bearer token every request must carry
    /// (`Authorization: Bearer TOKEN`); required when ADDR is not a loopback address
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Over --http: most client sessions at once (each has a browser of its own)
    #[arg(long, default_value_t = 4, value_name = "N", value_parser = crate::args::at_least_one)]
    pub max_sessions: usize,
    /// Over --http: a web page origin allowed to call the server (e.g.
    /// http://localhost:6274 for the MCP Inspector); requests from any other page are
    /// refused (repeatable)
    #[arg(long, value_name = "ORIGIN")]
    pub allow_origin: Vec<String>,
    #[command(flatten)]
    pub browser: BrowserArgs,
}

/// Serve MCP until the host leaves (stdio) or errand is stopped (HTTP). Exit code: the
/// session's over stdio (0 when the host ended it), 0 for an HTTP server stopped by
/// Ctrl-C or SIGTERM, 2 for bad input before anything was served.
pub async fn serve(args: McpArgs) -> Result<ExitCode> {
    let bad = |e: String| {
        errln!("error: {e}");
        Ok(ExitCode::from(crate::exit::BAD_INPUT))
    };
    // Refuse bad input before any host is told the server is ready.
    if let Err(e) = crate::session::allowlist_file(&args.browser) {
        return bad(e);
    }
    if let Some(out) = &args.out {
        if let Err(e) = crate::inputs::Inputs::open(&args.input).and_then(|i| i.check_apart(out)) {
            return bad(e.to_string());
        }
    } else if let Err(e) = crate::inputs::Inputs::open(&args.input) {
        return bad(e.to_string());
    }
    let token = match &args.token_file {
        None => None,
        Some(f) => match std::fs::read_to_string(f) {
            Ok(t) if !t.trim().is_empty() => Some(t.trim().to_string()),
            Ok(_) => return bad(format!("--token-file {} is empty; put the token in it", f.display())),
            Err(e) => return bad(format!("cannot read --token-file {}: {e}", f.display())),
        },
    };
    if args.http.is_none() && (token.is_some() || !args.allow_origin.is_empty()) {
        return bad("--token-file and --allow-origin apply to --http; over stdio the host that starts errand is the only client".into());
    }
    if let Some(addr) = args.http {
        if !addr.ip().is_loopback() && token.is_none() {
            return bad(format!(
                "--http {addr} is reachable from other machines: give it a bearer token with --token-file FILE, or bind 127.0.0.1"
            ));
        }
    }
    let (ended, ended_rx) = mpsc::unbounded_channel();
    let http = args.http;
    let shared = Arc::new(Shared { args, live: AtomicUsize::new(0), started: AtomicUsize::new(0), ended });
    match http {
        None => stdio(shared, ended_rx).await,
        Some(addr) => serve_http(shared, addr, token, ended_rx).await,
    }
}

/// One session over stdin and stdout.
async fn stdio(shared: Arc<Shared>, mut ended: mpsc::UnboundedReceiver<ExitCode>) -> Result<ExitCode> {
    let running = match Server::new(shared.clone()).serve(rmcp::transport::stdio()).await {
        Ok(r) => r,
        Err(e) => {
            errln!("error: the MCP client did not start a session: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    let token = running.cancellation_token();
    tokio::select! {
        // The host left: its calls' sender went with the handler, and the loop ends the
        // session cleanly.
        _ = running.waiting() => {}
        // The session ended first (the browser crashed, Ctrl-C): stop serving.
        code = ended.recv() => {
            token.cancel();
            return Ok(code.unwrap_or(ExitCode::from(1)));
        }
    }
    if shared.started.load(Ordering::SeqCst) == 0 {
        errln!("errand mcp: the client left before its session began");
        return Ok(ExitCode::from(1));
    }
    Ok(ended.recv().await.unwrap_or(ExitCode::from(1)))
}

#[derive(Clone)]
struct Gate {
    shared: Arc<Shared>,
    token: Option<Arc<str>>,
}

/// Streamable HTTP at `addr`/mcp until Ctrl-C or SIGTERM.
async fn serve_http(
    shared: Arc<Shared>,
    addr: SocketAddr,
    token: Option<String>,
    mut ended: mpsc::UnboundedReceiver<ExitCode>,
) -> Result<ExitCode> {
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            errln!("error: cannot listen on {addr}: {e}; pick another port with --http");
            return Ok(ExitCode::from(crate::exit::BAD_INPUT));
        }
    };
    let bound = listener.local_addr().unwrap_or(addr);
    let stop = tokio_util::sync::CancellationToken::new();
    // Browsers send `Origin`; agent hosts do not. A page on any origin not named with
    // --allow-origin is refused (DNS rebinding, a page calling a local server).
    let mut config = StreamableHttpServerConfig::default().with_cancellation_token(stop.clone());
    config = if shared.args.allow_origin.is_empty() {
        config.enforce_origin_validation()
    } else {
        config.with_allowed_origins(shared.args.allow_origin.clone())
    };
    if !addr.ip().is_loopback() {
        // Reachable by name from elsewhere: the bearer token guards it instead.
        config = config.disable_allowed_hosts();
    }
    let factory = shared.clone();
    let mcp = StreamableHttpService::new(move || Ok(Server::new(factory.clone())), Arc::new(LocalSessionManager::default()), config);
    let gate = Gate { shared: shared.clone(), token: token.map(Arc::from) };
    let app = axum::Router::new().nest_service("/mcp", mcp).layer(axum::middleware::from_fn_with_state(gate, check));
    errln!(
        "errand mcp: serving MCP at http://{bound}/mcp (at most {} sessions{}); stop with Ctrl-C",
        shared.args.max_sessions,
        if shared.args.token_file.is_some() { ", bearer token required" } else { "" }
    );
    let served = axum::serve(listener, app).with_graceful_shutdown(async {
        let why = crate::signals::interrupted().await;
        errln!("errand mcp: {why}: ending every session");
    });
    if let Err(e) = served.await {
        errln!("error: the HTTP server stopped: {e}");
    }
    stop.cancel();
    // Each session's loop hears the signal too and finishes its recording.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while shared.live.load(Ordering::SeqCst) > 0 {
        if tokio::time::timeout_at(deadline, ended.recv()).await.is_err() {
            break;
        }
    }
    Ok(ExitCode::from(0))
}

/// Refuse, before MCP sees it, a request without the bearer token, and a new session
/// beyond --max-sessions.
async fn check(State(gate): State<Gate>, req: Request, next: Next) -> Response {
    if let Some(want) = &gate.token {
        let given = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
        if !given.is_some_and(|g| constant_time_eq(g.as_bytes(), want.as_bytes())) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "errand mcp: a bearer token is required (see --token-file)\n",
            )
                .into_response();
        }
    }
    let new_session = req.method() == Method::POST && !req.headers().contains_key("mcp-session-id");
    if new_session && gate.shared.live.load(Ordering::SeqCst) >= gate.shared.args.max_sessions {
        let body = serde_json::json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32000, "message": format!(
            "errand mcp is serving its most sessions at once ({}); end one, or start errand mcp with a higher --max-sessions",
            gate.shared.args.max_sessions
        )}});
        return (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
    }
    next.run(req).await
}

/// Compare secrets without leaking where they differ through timing.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

//! The command line: what errand's commands and options are, and which module runs each.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::args::{open_policy, BrowserArgs};
use crate::replay::ReplayArgs;
use crate::signals::listen_for_signals;
use crate::{allow, consent, exit, open, replay, review, run, secrets, site};

#[derive(Parser)]
#[command(name = "errand", version, about = "A browser agent that turns web research into documents, under a domain allowlist and your consent", after_help = AFTER_HELP)]
pub struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a demo research task on the bundled heat-pump site (offline, no API key)
    #[command(after_help = AFTER_HELP)]
    Demo {
        #[command(flatten)]
        browser: BrowserArgs,
        /// Print events as JSON Lines on stdout
        #[arg(long)]
        json: bool,
        /// The output folder (default ./errand-out/<session-id>)
        #[arg(long, short = 'o', value_name = "DIR")]
        out: Option<PathBuf>,
        /// Where recordings go (default ~/.local/share/errand/recordings)
        #[arg(long, env = "ERRAND_RECORD_DIR", value_name = "DIR")]
        record_dir: Option<PathBuf>,
    },
    /// Extract the main content of pages as Markdown (their hosts are allowed, nothing else)
    #[command(after_help = AFTER_HELP)]
    Extract {
        /// The pages to read (their hosts are allowed for this run)
        #[arg(required = true, value_name = "URL")]
        urls: Vec<String>,
        #[command(flatten)]
        browser: BrowserArgs,
        /// One JSON object per URL per line: url, title, byline, date, lang, page_type
        /// (article, forum, product, collection, listing, documentation, service),
        /// markdown, text, view, error
        #[arg(long)]
        json: bool,
        /// Pages loaded at once (each in a tab of its own)
        #[arg(long, short = 'p', default_value_t = 4, value_name = "N", value_parser = crate::args::at_least_one)]
        parallel: usize,
    },
    /// Open a URL and print its page state (the compact view a model reads)
    #[command(after_help = AFTER_HELP)]
    Open {
        /// The page to open (its host is allowed for this run)
        #[arg(value_name = "URL")]
        url: String,
        #[command(flatten)]
        browser: BrowserArgs,
        /// Print the page state as JSON
        #[arg(long)]
        json: bool,
    },
    /// Do a research task in the browser and write the results as files
    #[command(after_help = AFTER_HELP)]
    Run(run::RunArgs),
    /// Serve the guarded browser to an agent host (Claude Code, Cursor, …) over MCP on stdio
    #[command(after_help = AFTER_HELP)]
    Mcp(crate::mcp::McpArgs),
    /// List, edit and check the domain allowlist (default ~/.config/errand/allowlist.toml)
    Allow {
        #[command(subcommand)]
        cmd: allow::AllowCmd,
        /// The allowlist file to use
        #[arg(long, global = true, env = "ERRAND_ALLOWLIST", value_name = "FILE")]
        allowlist: Option<PathBuf>,
    },
    /// Store secrets the model may use by name (`{{secret:NAME}}`) but never see; errand
    /// writes a value in only for requests to its hosts
    Secrets {
        #[command(subcommand)]
        cmd: secrets::SecretsCmd,
    },
    /// Replay a recorded session without a model, under today's allowlist and consent
    /// (`--execute`: carry out an approved dry run)
    #[command(after_help = AFTER_HELP)]
    Replay(ReplayArgs),
    /// Show what a dry run (`errand run --dry-run`) would do: its steps, the submissions it
    /// would make and the files it would write
    #[command(after_help = AFTER_HELP)]
    Plan {
        /// The dry run's recording: its id, a unique prefix of it, or its folder
        #[arg(value_name = "ID")]
        id: String,
        /// The plan as one JSON object
        #[arg(long, short = 'j')]
        json: bool,
        /// Where recordings are
        #[arg(long, env = "ERRAND_RECORD_DIR", value_name = "DIR")]
        record_dir: Option<PathBuf>,
    },
    /// List, show and verify session recordings (default ~/.local/share/errand/recordings)
    #[command(after_help = AFTER_HELP)]
    Recordings {
        #[command(subcommand)]
        cmd: review::RecordingsCmd,
        /// Where recordings are
        #[arg(long, env = "ERRAND_RECORD_DIR", global = true, value_name = "DIR")]
        record_dir: Option<PathBuf>,
    },
}

const AFTER_HELP: &str = "Examples:
  errand demo
  errand run \"Collect the prices of the three plans into a CSV and a summary\" -s https://vendor.example/pricing -o prices
  errand extract https://example.com/article --json | jq .title
  errand allow add docs.rs '*.wikipedia.org'
  errand recordings list
  errand replay 20261130-071502-3fa2
  errand run \"Sign me up for the newsletter\" -s https://vendor.example/ --dry-run
  errand plan 20261130-071502-3fa2
  errand replay 20261130-071502-3fa2 --execute -o signup

Environment:
  ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL   Claude (--model anthropic:MODEL), and a proxy or gateway for it
  OPENAI_API_KEY, OPENAI_BASE_URL         OpenAI or any server that speaks its Chat Completions API
  CHROME                                  the Chromium executable (else chromium, google-chrome… on PATH)
  ERRAND_ALLOWLIST                        the allowlist file (default ~/.config/errand/allowlist.toml)
  ERRAND_RECORD_DIR                       where recordings go (default ~/.local/share/errand/recordings)
  ERRAND_LOG                              log filter, e.g. debug or errand::consent=debug

Exit codes:
  0  success
  1  the work failed (a run that did not finish, a page that could not be read, a recording
     that was altered)
  2  usage or bad input (nothing was started)
  3  recordings verify: intact, but the session was stopped before it ended";

/// Text with the `user:password@` of every URL in it replaced by `…@`.
fn without_userinfo(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        out.push_str(&rest[..i + 3]);
        rest = &rest[i + 3..];
        let end = rest.find(|c: char| c.is_whitespace() || c == '/' || c == '\'' || c == '"').unwrap_or(rest.len());
        if let Some(at) = rest[..end].rfind('@') {
            out.push('…');
            rest = &rest[at..];
        }
    }
    out.push_str(rest);
    out
}

/// The demo's task: answered from the bundled site, which also carries a prompt
/// injection (the forum page) and a link off the allowlist.
const DEMO_TASK: &str =
    "How much does an air-source heat pump cost to buy, install and run, and how do heat pumps cope with cold climates?";

pub fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ERRAND_LOG").unwrap_or_else(|_| crate::LOG_DEFAULT.into());
    // Colour codes only on a terminal: a log file or a pipe gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr).init();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            if !e.use_stderr() {
                let _ = e.print();
                return ExitCode::from(0);
            }
            // clap repeats a rejected value: never a password inside a URL.
            errln!("{}", without_userinfo(&e.render().to_string()).trim_end());
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            errln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let code = match rt.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            errln!("error: {e:#}");
            ExitCode::from(1)
        }
    };
    // A prompt still reading the terminal (after its timeout) must not hold up the exit.
    rt.shutdown_timeout(Duration::from_millis(500));
    code
}

async fn run(cli: Cli) -> Result<ExitCode> {
    listen_for_signals();
    match cli.cmd {
        Cmd::Allow { cmd, allowlist } => Ok(allow::run(cmd, allowlist)),
        Cmd::Secrets { cmd } => Ok(secrets::run(cmd)),
        Cmd::Demo { browser, json, out, record_dir } => {
            let origin = site::serve(site::Pages::demo(), "127.0.0.1:0").await?;
            errln!("errand demo: serving the bundled demo site at {origin}");
            // The demo allows its own site and nothing else (plus any --allow), and uses
            // an empty allowlist file of its own so the user's file is not needed.
            let mut browser = browser;
            if browser.allowlist.is_none() {
                browser.allowlist = Some(std::env::temp_dir().join(format!("errand-demo-allowlist-{}.toml", std::process::id())));
            }
            // The person's materials: notes and installers' quotes, read-only, in a
            // folder of the demo's own (removed afterwards).
            let scratch = tempfile::Builder::new().prefix("errand-demo-").tempdir()?;
            let materials = site::demo_materials(scratch.path(), &origin)?;
            errln!("errand demo: the task comes with notes and quotes (read-only) in {}", materials.display());
            let args = run::RunArgs {
                task: DEMO_TASK.into(),
                start: vec![format!("{origin}/")],
                out,
                model: Some("builtin".into()),
                max_steps: 40,
                max_tokens: 2_000_000,
                record_dir,
                json,
                max_pages: 20,
                search: None,
                confirm: consent::Confirm::Ask,
                confirm_timeout: 300,
                dry_run: false,
                browser,
                out_per_session: false,
                plan: None,
                session_id: None,
                input: vec![materials],
            };
            let code = run::run(args).await;
            drop(scratch);
            code
        }
        Cmd::Open { url, browser, json } => {
            let live = match open_policy(&browser, &url) {
                Ok(l) => l,
                Err(e) => {
                    errln!("error: {e:#}");
                    return Ok(ExitCode::from(exit::BAD_INPUT));
                }
            };
            open::show(&browser, &url, json, live).await
        }
        Cmd::Recordings { cmd, record_dir } => review::run(cmd, record_dir),
        Cmd::Replay(a) => replay::run(a).await,
        Cmd::Plan { id, json, record_dir } => Ok(review::plan::command(&id, json, record_dir)),
        Cmd::Run(args) => run::run(args).await,
        Cmd::Mcp(args) => crate::mcp::serve(args).await,
        Cmd::Extract { urls, browser, json, parallel } => open::extract(urls, browser, json, parallel).await,
    }
}

//! errand as a library: the agent loop, its tools, model providers, consent, output
//! files and the commands, for the `errand` binary and any other front end (an MCP server,
//! batches of tasks) to use.
//!
//! Module map:
//! - [`cli`]: the command line, and which module runs each command.
//! - [`args`]: options several commands share (the browser, the allowlist) and value parsers.
//! - [`run`]: `errand run`, the agent loop; [`tools`]: the one table of the model's tools.
//! - [`mcp`]: `errand mcp`, the guarded browser as an MCP server for agent hosts.
//! - [`model`]: model providers (Anthropic, OpenAI-compatible, scripts, the built-in
//!   policy, replay) and the observation types they read.
//! - [`session`]: what every session shares: ids, data folders, step screenshots.
//! - [`consent`]: who approves state-changing requests; [`secrets`]: `errand secrets` and
//!   the values the proxy writes in; [`policy`]: the live allowlist of a session.
//! - [`allow`]: `errand allow`; [`open`]: `errand open` and `errand extract`;
//!   [`replay`]: `errand replay`; [`userflow`]: Recorder flows; [`review`]:
//!   `errand recordings`; [`site`]: the bundled demo site (and benchmark pages).
//! - [`narrate`]: the narration on stderr and `--json` output; [`events`]: every
//!   `--json` event, typed in one enum; [`output`]: files in the
//!   output folder; [`inputs`]: the person's read-only input folders and the formats
//!   read from them; [`stdio`]: printing that survives a closed pipe; [`text`]: text
//!   helpers; [`signals`]: Ctrl-C and SIGTERM; [`exit`]: exit codes.

#[macro_use]
pub mod stdio;
pub mod allow;
pub mod args;
pub mod cli;
pub mod consent;
pub mod events;
pub mod exit;
pub mod inputs;
pub mod mcp;
pub mod model;
pub mod narrate;
pub mod open;
pub mod output;
pub mod policy;
pub mod replay;
pub mod review;
pub mod run;
pub mod secrets;
pub mod session;
pub mod signals;
pub mod site;
pub mod text;
pub mod tools;
pub mod userflow;

/// The log filter when `ERRAND_LOG` is not set: warnings, but not the HTML parser's notes on
/// markup it repairs (one line per table a page nests wrongly), which say nothing a user
/// can act on.
pub const LOG_DEFAULT: &str = "warn,html5ever=error";

//! `errand allow`: list, edit and check the domain allowlist file.

use std::path::PathBuf;
use std::process::ExitCode;

use allowlist::{file, Decision};
use clap::Subcommand;

#[derive(Subcommand)]
pub enum AllowCmd {
    /// Print the patterns in the allowlist file
    List,
    /// Add patterns (e.g. docs.rs, *.wikipedia.org, 127.0.0.1:8080, https://example.com)
    Add {
        /// Host patterns: a host, *.domain (the domain and its subdomains), an IP with an
        /// optional port, or an address with a scheme to allow only that scheme
        #[arg(required = true, value_name = "PATTERN")]
        patterns: Vec<String>,
    },
    /// Remove patterns
    Remove {
        /// Patterns exactly as `errand allow list` shows them
        #[arg(required = true, value_name = "PATTERN")]
        patterns: Vec<String>,
    },
    /// Let state-changing requests (form submissions, POST…) to these endpoints go without asking
    SubmitAdd {
        /// Endpoints (scheme, host, port and path; any query) that may receive submissions
        #[arg(required = true, value_name = "URL")]
        urls: Vec<String>,
    },
    /// Remove submit rules
    SubmitRemove {
        /// Endpoints exactly as they were added
        #[arg(required = true, value_name = "URL")]
        urls: Vec<String>,
    },
    /// Say whether each URL is allowed, and why not; exit 0 only if all are
    Check {
        /// Addresses to judge as the browser would parse them
        #[arg(required = true, value_name = "URL")]
        urls: Vec<String>,
    },
}

/// Resolve `--allowlist` or the default location.
pub fn path(explicit: Option<PathBuf>) -> Result<PathBuf, String> {
    explicit.or_else(file::default_path).ok_or_else(|| "no home folder to keep the allowlist in; pass --allowlist FILE".to_string())
}

pub fn run(cmd: AllowCmd, explicit: Option<PathBuf>) -> ExitCode {
    let path = match path(explicit) {
        Ok(p) => p,
        Err(e) => {
            errln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    // Bad input (a malformed file, a bad pattern) exits 2 and changes nothing.
    let fail = |e: file::FileError| {
        errln!("error: {e}");
        ExitCode::from(2)
    };
    match cmd {
        AllowCmd::List => match file::load_all(&path) {
            Ok((p, rules)) => {
                errln!("{} ({} patterns, {} submit rules)", path.display(), p.patterns().len(), rules.len());
                for pat in p.patterns() {
                    outln!("{pat}");
                }
                for r in rules {
                    outln!("submit: {r}");
                }
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        },
        AllowCmd::SubmitAdd { urls } => match file::add_submit(&path, &urls) {
            Ok(edit) => report(&path, &[("submissions allowed to", &edit.added), ("already a rule:", &edit.unchanged)]),
            Err(e) => fail(e),
        },
        AllowCmd::SubmitRemove { urls } => match file::remove_submit(&path, &urls) {
            Ok(edit) => report(&path, &[("no longer allowed without asking:", &edit.removed), ("not a rule:", &edit.unchanged)]),
            Err(e) => fail(e),
        },
        AllowCmd::Add { patterns } => match file::add(&path, &patterns) {
            Ok(edit) => report(&path, &[("added", &edit.added), ("already allowed:", &edit.unchanged)]),
            Err(e) => fail(e),
        },
        AllowCmd::Remove { patterns } => match file::remove(&path, &patterns) {
            Ok(edit) => report(&path, &[("removed", &edit.removed), ("not in the allowlist:", &edit.unchanged)]),
            Err(e) => fail(e),
        },
        AllowCmd::Check { urls } => match file::load(&path) {
            Ok(policy) => {
                let mut all = true;
                for u in &urls {
                    match policy.decide(u) {
                        Decision::Allow => outln!("allow {u}"),
                        Decision::Block { reason } => {
                            all = false;
                            outln!("block {u}: {reason}");
                        }
                    }
                }
                if all {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                }
            }
            Err(e) => fail(e),
        },
    }
}

/// Print what an edit did, one pattern a line, and where the file is.
fn report(path: &std::path::Path, groups: &[(&str, &Vec<String>)]) -> ExitCode {
    for (label, patterns) in groups {
        for p in patterns.iter() {
            outln!("{label} {p}");
        }
    }
    errln!("{}", path.display());
    ExitCode::SUCCESS
}

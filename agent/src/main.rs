//! `errand`: a browser agent that turns web research into documents, under a domain
//! allowlist and human consent. The binary is the command line alone; everything it runs
//! is in the `errand` library (see its module map) over the `browser`, `allowlist` and
//! `recordings` crates.

fn main() -> std::process::ExitCode {
    errand::cli::main()
}

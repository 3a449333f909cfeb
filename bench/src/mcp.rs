//! `mcp`: the `page_state` tool as an agent host sees it: `errand mcp` started over stdio
//! by rmcp's client, each benchmark page opened with `navigate`, then `page_state` timed
//! from the call to its result, and the result's text counted in o200k tokens.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use errand::{errln, outln};
use rmcp::model::CallToolRequestParams;
use rmcp::transport::TokioChildProcess;
use rmcp::ServiceExt;
use serde_json::json;

use crate::serve_pages;
use crate::stats::*;

pub async fn mcp(dir: PathBuf, limit: Option<usize>, pause_ms: u64) -> Result<()> {
    let (ids, origin) = serve_pages(&dir, limit).await?;
    let bpe = tiktoken_rs::o200k_base().context("cannot load the o200k tokenizer")?;
    // The errand binary built beside this one.
    let exe = std::env::current_exe()?.with_file_name("errand");
    let tmp = tempfile::tempdir()?;
    let host = origin.trim_start_matches("http://").to_string();
    let mut cmd = tokio::process::Command::new(&exe);
    cmd.args(["mcp", "--confirm", "deny", "--allow", &host]).arg("--allowlist").arg(tmp.path().join("allowlist.toml"));
    cmd.arg("--out").arg(tmp.path().join("out")).arg("--record-dir").arg(tmp.path().join("rec"));
    let (transport, _) = TokioChildProcess::builder(cmd)
        .stderr(std::process::Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start {} (build it first: cargo build --release)", exe.display()))?;
    let client = ().serve(transport).await.context("errand mcp did not answer the handshake")?;
    let call = |name: &str, args: serde_json::Value| {
        let serde_json::Value::Object(args) = args else { unreachable!("arguments are objects") };
        client.call_tool(CallToolRequestParams::new(name.to_string()).with_arguments(args))
    };
    let (mut times, mut tokens, mut failed) = (vec![], vec![], vec![]);
    for (i, id) in ids.iter().enumerate() {
        let url = format!("{origin}{id}");
        match call("navigate", json!({"url": url})).await {
            Ok(r) if r.is_error != Some(true) => {}
            other => {
                failed.push(format!("{id}: {:?}", other.map(|r| r.content.first().and_then(|c| c.as_text().map(|t| t.text.clone())))));
                continue;
            }
        }
        // A host's model takes its time between calls; `--pause-ms` stands in for it.
        tokio::time::sleep(std::time::Duration::from_millis(pause_ms)).await;
        let t = Instant::now();
        let r = call("page_state", json!({})).await?;
        times.push(ms(t.elapsed()));
        let text: String = r.content.iter().filter_map(|c| c.as_text().map(|t| t.text.as_str())).collect();
        tokens.push(bpe.encode_with_special_tokens(&text).len() as f64);
        if i % 20 == 0 {
            errln!("  {}/{} pages", i + 1, ids.len());
        }
    }
    let _ = client.cancel().await;
    outln!(
        "MCP page_state tool call as an agent host sees it (errand mcp over stdio, called {pause_ms} ms after navigate), {} pages:",
        times.len()
    );
    outln!("  time    median {:>6.1} ms   p95 {:>6.1} ms", median(&mut times), p95(&mut times));
    outln!("  size    median {:>6.0} tokens (o200k)   p95 {:>6.0} tokens", median(&mut tokens), p95(&mut tokens));
    outln!("  measured the same way on these pages: Playwright MCP 73 ms, 8,725 tokens; Chrome DevTools MCP 74 ms, 6,605 tokens");
    if !failed.is_empty() {
        outln!("  {} pages not measured:", failed.len());
        for f in failed.iter().take(10) {
            outln!("    {f}");
        }
    }
    Ok(())
}

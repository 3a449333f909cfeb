//! `errand recordings report`: one self-contained HTML page to review a session, with
//! everything page- or recording-supplied escaped and a CSP that runs no script but the
//! report's own.

use super::*;

/// Text for HTML (element content and quoted attribute values).
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

const STYLE: &str = "body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:70rem;padding:0 1rem;color:#222}
h1{font-size:1.5rem}h2{margin-top:2rem;border-bottom:1px solid #ddd}code{font-size:.85em;word-break:break-all}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #eee;padding:.35rem;text-align:left;vertical-align:top}
.err{color:#a00}.ok{color:#070}td.done{background:#e8f5e9}td.blocked{background:#fde7e7}td.declined{background:#fff3e0}td.failed{background:#fde7e7;color:#a00}
.badge{font-size:.75em;font-weight:600;padding:.05rem .35rem;border-radius:.3rem;margin-right:.3rem;text-transform:uppercase}
.done .badge{background:#2e7d32;color:#fff}.blocked .badge{background:#c62828;color:#fff}.declined .badge{background:#ef6c00;color:#fff}.failed .badge{background:#b71c1c;color:#fff}
.md{border:1px solid #ddd;padding:0 1rem;border-radius:.3rem}.md table td,.md table th{border:1px solid #ddd}
.flag{background:#fff8e1}img.thumb{width:160px;cursor:zoom-in;border:1px solid #ccc}
img.thumb.big{width:100%;max-width:64rem;cursor:zoom-out}pre{white-space:pre-wrap;background:#f6f6f6;padding:.6rem;max-height:20rem;overflow:auto}
.meta{color:#555}.file{display:grid;grid-template-columns:1fr 1fr;gap:1rem}";

/// The review page's one script: thumbnails enlarge on click.
const REPORT_SCRIPT: &str =
    "for (const i of document.querySelectorAll('img.thumb')) i.addEventListener('click', () => i.classList.toggle('big'));";

/// How a blocked request made by no page (Chromium's own) is labelled.
pub const BACKGROUND: &str = "browser background";

/// A step's outcome for the eye: done, blocked (the allowlist stopped it or something it
/// caused), declined (a submission a person or policy said no to), or failed.
fn step_outcome(ok: bool, summary: &str) -> &'static str {
    let s = summary.to_ascii_lowercase();
    if s.contains("not on the allowlist") || s.contains("; blocked ") || s.starts_with("blocked") || s.contains("error: blocked") {
        "blocked"
    } else if s.contains("declined") || s.contains("denied") {
        "declined"
    } else if ok {
        "done"
    } else {
        "failed"
    }
}

/// A dry run's plan: what carrying it out would send and write.
fn plan_section(lines: &[Line], folder: &Path) -> String {
    let p = super::plan::in_folder(lines, folder);
    let mut h = String::from("<h2>Plan</h2><p id=\"plan\">A dry run: nothing was sent, and nothing was written to an output folder. Carried out with <code>errand replay ID --execute</code>, it would:</p><ul id=\"plan-items\">");
    for s in &p.submissions {
        let fields: Vec<String> = s.fields.iter().map(|(k, v)| format!("{}={}", esc(k), esc(v))).collect();
        h.push_str(&format!(
            "<li class=\"submission\">at step {}, send <code>{} {}</code>{} {}</li>",
            s.step,
            esc(&s.method),
            esc(&s.url),
            if s.purpose.is_empty() { String::new() } else { format!(" ({})", esc(&s.purpose)) },
            fields.join(", ")
        ));
    }
    for f in &p.files {
        h.push_str(&format!("<li class=\"file\">write <code>{}</code> ({})</li>", esc(&f.path), esc(&f.size)));
    }
    if p.submissions.is_empty() && p.files.is_empty() {
        h.push_str("<li>send nothing and write no files</li>");
    }
    h.push_str("</ul>");
    h
}

/// A Markdown output file as HTML for the review page. Raw HTML in it is shown as text,
/// and links as their text and address (the page stays offline and loads nothing).
fn markdown(text: &str) -> String {
    use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
    let mut dest: Vec<String> = vec![];
    let events = Parser::new_ext(text, Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH).filter_map(|e| match e {
        Event::Html(h) | Event::InlineHtml(h) => Some(Event::Text(h)),
        Event::Start(Tag::Link { dest_url, .. }) => {
            dest.push(dest_url.to_string());
            None
        }
        Event::End(TagEnd::Link) => dest.pop().map(|u| Event::Code(format!(" <{u}>").into())),
        Event::Start(Tag::Image { dest_url, .. }) => Some(Event::Code(format!("[image {dest_url}]").into())),
        Event::End(TagEnd::Image) => None,
        e => Some(e),
    });
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, events);
    html
}

/// The review page of a recording: one HTML file with everything inlined (pictures as
/// data URIs, no scripts or styles from elsewhere, page addresses as text), so it opens
/// offline and sends nothing anywhere.
pub fn report(dir: &Path) -> Result<String> {
    let r = recordings::read(dir).with_context(|| format!("cannot read the recording in {}", dir.display()))?;
    let mut h = String::from(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">",
    );
    // No script runs but the page's own (allowed by its hash), no form goes anywhere, and
    // nothing loads: whatever a crafted recording smuggles in stays inert text.
    let script_hash = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        <sha2::Sha256 as sha2::Digest>::digest(REPORT_SCRIPT.as_bytes()),
    );
    h.push_str(&format!("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'sha256-{script_hash}'; form-action 'none'; base-uri 'none'\">"));
    let start = r.lines.iter().find(|l| matches!(l.record, Record::SessionStart { .. }));
    let task = start.and_then(|l| match &l.record {
        Record::SessionStart { task, .. } => Some(task.as_str()),
        _ => None,
    });
    h.push_str(&format!(
        "<title>errand recording: {}</title><style>{STYLE}</style></head><body>",
        esc(&crate::text::one_line(task.unwrap_or("?"), 80))
    ));
    h.push_str(&format!("<h1>{}</h1>", esc(task.unwrap_or("(no session start)"))));
    let mut out_dir = None;
    let mut dry = false;
    if let Some(l) = start {
        if let Record::SessionStart { session, model, allowlist, consent, errand_version, out_dir: o, browser, dry_run, .. } = &l.record {
            // A dry run's files are in its own plan folder, wherever the recording is now.
            out_dir = Some(if *dry_run { dir.join(crate::run::PLAN_DIR) } else { PathBuf::from(o) });
            dry = *dry_run;
            h.push_str(&format!(
                "<p class=\"meta\" id=\"session\">Session <code>{}</code>, started {}; errand {}; model {}; browser {}<br>Allowlist: <code>{}</code><br>Consent: {}<br>Output folder: <code>{}</code></p>",
                esc(session),
                esc(&when(l.t)),
                esc(errand_version),
                esc(model),
                esc(browser),
                esc(&allowlist.join(", ")),
                esc(consent),
                esc(o)
            ));
        }
    }
    let end = r.lines.iter().rev().find_map(|l| match &l.record {
        Record::SessionEnd { outcome, steps, summary, .. } => {
            Some(format!("<p id=\"outcome\"><b>{}</b> after {steps} steps: {}</p>", esc(outcome), esc(summary)))
        }
        _ => None,
    });
    h.push_str(
        &end.unwrap_or_else(|| "<p id=\"outcome\" class=\"err\"><b>incomplete</b>: the session was stopped before it finished</p>".into()),
    );
    if dry {
        h.push_str(&plan_section(&r.lines, &dir.join(crate::run::PLAN_DIR)));
    }
    if !r.skipped.is_empty() || r.broken_at.is_some() {
        h.push_str(&format!("<p class=\"err\">This log has unreadable lines {:?} or a broken hash chain (at line {:?}); check it with <code>errand recordings verify</code>.</p>", r.skipped, r.broken_at));
    }

    h.push_str("<h2>Steps</h2><table id=\"steps\"><tr><th>#</th><th>intent and action</th><th>outcome</th><th>page after</th></tr>");
    let mut intent = String::new();
    for l in &r.lines {
        match &l.record {
            Record::ModelTurn { text, .. } => intent = text.clone(),
            Record::Step { step, tool, args, intent: i, ok, summary, url, title, screenshot, screenshot_sha256, ms, .. } => {
                let said = if i.is_empty() { &intent } else { i };
                let mut args = args.clone();
                if let Some(c) = args.get_mut("content").and_then(|c| c.as_str().map(|s| s.len())) {
                    args["content"] = serde_json::json!(format!("({c} bytes)"));
                }
                // Only a plain file of the recording that matches its recorded hash.
                let shot = screenshot
                    .as_ref()
                    .and_then(|f| recordings::read_inside(dir, f).ok())
                    .filter(|b| screenshot_sha256.as_deref() == Some(recordings::sha256(b).as_str()));
                let img = match shot {
                    Some(b) => format!(
                        "<br><img class=\"thumb\" alt=\"page after step {step}\" src=\"data:image/jpeg;base64,{}\">",
                        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, b)
                    ),
                    None => String::new(),
                };
                let outcome = step_outcome(*ok, summary);
                h.push_str(&format!(
                    "<tr class=\"step\"><td>{step}</td><td>{}<br><code>{} {}</code></td><td class=\"{outcome}\"><span class=\"badge\">{outcome}</span>{} <span class=\"meta\">({ms} ms)</span></td><td>{}<br><code>{}</code>{img}</td></tr>",
                    esc(&crate::text::one_line(said, 200)),
                    esc(tool),
                    esc(&crate::text::one_line(&args.to_string(), 200)),
                    esc(summary),
                    esc(title),
                    esc(url)
                ));
            }
            _ => {}
        }
    }
    h.push_str("</table>");

    let flags: Vec<&Line> = r.lines.iter().filter(|l| matches!(l.record, Record::Flag { .. })).collect();
    h.push_str(&format!("<h2>Flagged page text ({})</h2><p class=\"meta\">Text on pages that reads like instructions to an agent. It was shown to the model as untrusted data, never as instructions.</p><table id=\"flags\"><tr><th>page</th><th>text</th></tr>", flags.len()));
    for l in flags {
        if let Record::Flag { url, text } = &l.record {
            h.push_str(&format!("<tr class=\"flag\"><td><code>{}</code></td><td>{}</td></tr>", esc(url), esc(text)));
        }
    }
    h.push_str("</table>");

    // The page's blocked requests first; the browser's own background traffic (update and
    // account services, no page behind it) apart, so it neither alarms nor hides anything.
    let (background, blocked): (Vec<&Line>, Vec<&Line>) = r
        .lines
        .iter()
        .filter(|l| matches!(l.record, Record::Blocked { .. }))
        .partition(|l| matches!(&l.record, Record::Blocked { source, .. } if source == BACKGROUND || source == "chromium"));
    h.push_str(&format!(
        "<h2>Blocked requests ({})</h2><table id=\"blocked\"><tr><th>address</th><th>why</th><th>layer</th></tr>",
        blocked.len()
    ));
    for l in blocked {
        if let Record::Blocked { url, reason, layer, source, .. } = &l.record {
            h.push_str(&format!(
                "<tr><td><code>{}</code></td><td>{}</td><td>{} ({})</td></tr>",
                esc(url),
                esc(reason),
                esc(layer),
                esc(source)
            ));
        }
    }
    h.push_str("</table>");
    if !background.is_empty() {
        h.push_str(&format!("<details id=\"background\"><summary>Browser background requests, blocked ({})</summary><p class=\"meta\">Chromium's own calls to its update and account services; no page sent them.</p><ul>", background.len()));
        for l in background {
            if let Record::Blocked { url, .. } = &l.record {
                h.push_str(&format!("<li><code>{}</code></li>", esc(url)));
            }
        }
        h.push_str("</ul></details>");
    }

    let consents: Vec<&Line> = r.lines.iter().filter(|l| matches!(l.record, Record::Consent { .. })).collect();
    h.push_str(&format!(
        "<h2>Consent decisions ({})</h2><table id=\"consent\"><tr><th>request</th><th>purpose and fields</th><th>decision</th></tr>",
        consents.len()
    ));
    for l in consents {
        if let Record::Consent { method, url, purpose, fields, decision, by, .. } = &l.record {
            let f: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let class = if decision.starts_with("allow") || decision.starts_with("approve") || decision.starts_with("sent") {
                "done"
            } else {
                "declined"
            };
            h.push_str(&format!(
                "<tr><td><code>{} {}</code></td><td>{}<br><code>{}</code></td><td class=\"{class}\">{} (by {})</td></tr>",
                esc(method),
                esc(url),
                esc(purpose),
                esc(&f.join(" ")),
                esc(decision),
                esc(by)
            ));
        }
    }
    h.push_str("</table>");

    // Extracts, then each output file beside the extracts it cites.
    let mut extracts: Vec<(u32, String, String, String)> = vec![];
    for l in &r.lines {
        if let Record::Extract { n, url, title, file, sha256, .. } = &l.record {
            let md = recordings::read_inside(dir, file)
                .ok()
                .filter(|b| recordings::sha256(b) == *sha256)
                .map(|b| String::from_utf8_lossy(&b).to_string())
                .unwrap_or_default();
            extracts.push((*n, url.clone(), title.clone(), md));
        }
    }
    h.push_str(&format!("<h2>Extracts ({})</h2>", extracts.len()));
    for (n, url, title, md) in &extracts {
        h.push_str(&format!(
            "<details class=\"extract\" id=\"extract-{n}\"><summary>[{n}] {} — <code>{}</code></summary><pre>{}</pre></details>",
            esc(title),
            esc(url),
            esc(md)
        ));
    }
    // errand's map of sources is the last sources*.json it wrote (a model may have taken
    // the plain name for a file of its own).
    // It is read only while it matches its recorded hash, like every file shown.
    let map = r.lines.iter().rev().find_map(|l| match &l.record {
        Record::FileWritten { path, sha256, .. } if path.starts_with("sources") && path.ends_with(".json") => {
            Some((path.clone(), sha256.clone()))
        }
        _ => None,
    });
    let cites: serde_json::Value = out_dir
        .as_ref()
        .zip(map.and_then(|(m, sha)| crate::output::check_path(&m).ok().map(|p| (p, sha))))
        .and_then(|(o, (m, sha))| std::fs::read(o.join(m)).ok().filter(|b| recordings::sha256(b) == sha))
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    // The input files read: one row per file, whatever parts were read.
    let mut inputs: Vec<(u32, &str, &str, u64)> = vec![];
    for l in &r.lines {
        if let Record::InputRead { n, path, sha256, bytes, .. } = &l.record {
            if !inputs.iter().any(|(_, p, s, _)| p == path && s == sha256) {
                inputs.push((*n, path, sha256, *bytes));
            }
        }
    }
    if !inputs.is_empty() {
        h.push_str(&format!("<h2>Input files read ({})</h2><ul>", inputs.len()));
        for (n, path, sha256, bytes) in inputs {
            h.push_str(&format!(
                "<li class=\"input\"><a href=\"#extract-{n}\">[{n}]</a> <code>{}</code> ({bytes} bytes, sha256 <code>{}</code>)</li>",
                esc(path),
                esc(sha256)
            ));
        }
        h.push_str("</ul>");
    }
    let files: Vec<&Line> = r.lines.iter().filter(|l| matches!(l.record, Record::FileWritten { .. })).collect();
    h.push_str(&format!("<h2>{} ({})</h2>", if dry { "Files it would write" } else { "Files written" }, files.len()));
    for l in files {
        if let Record::FileWritten { path, sha256, bytes } = &l.record {
            let content =
                out_dir.as_ref().and_then(|o| crate::output::check_path(path).ok().map(|p| o.join(p))).and_then(|p| std::fs::read(p).ok());
            let note = match &content {
                Some(c) if recordings::sha256(c) == *sha256 => String::new(),
                Some(_) => " <span class=\"err\">(changed since the run)</span>".into(),
                None => " <span class=\"meta\">(not found in the output folder)</span>".into(),
            };
            let used: Vec<String> = cites["files"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|f| f["file"] == path.as_str())
                .flat_map(|f| f["sources"].as_array().cloned().unwrap_or_default())
                .filter_map(|s| s["n"].as_u64().map(|n| (n, s)))
                .map(|(n, s)| {
                    format!(
                        "<li><a href=\"#extract-{n}\">[{n}]</a> {} — <code>{}</code></li>",
                        esc(s["title"].as_str().unwrap_or_default()),
                        esc(s["url"].as_str().unwrap_or_default())
                    )
                })
                .collect();
            // Only a file that still matches its recorded hash is shown: a recording from
            // elsewhere cannot make the report copy in some other file of this machine.
            let text =
                content.filter(|c| recordings::sha256(c) == *sha256).map(|c| String::from_utf8_lossy(&c).to_string()).unwrap_or_default();
            let shown = if path.ends_with(".md") && !text.is_empty() {
                format!("<div class=\"md\">{}</div>", markdown(&text))
            } else {
                format!("<pre>{}</pre>", esc(&text))
            };
            h.push_str(&format!(
                "<div class=\"file\" data-path=\"{}\"><div><h3><code>{}</code> ({bytes} bytes){note}</h3>{shown}</div><div><h3>Cites</h3><ul>{}</ul></div></div>",
                esc(path),
                esc(path),
                if used.is_empty() { "<li>no extracts</li>".to_string() } else { used.join("") }
            ));
        }
    }
    h.push_str(&format!("<script>{REPORT_SCRIPT}</script></body></html>"));
    Ok(h)
}

//! `--model builtin`: errand's offline research policy. No API key, deterministic.
//!
//! From the start pages it reads allowed pages breadth-first by relevance: links are
//! ranked by how many of the task's terms their text and address carry, the best unread
//! one is opened and extracted, and it stops after `--max-pages` pages or once three
//! pages in a row add nothing relevant. It then writes `report.md` (the most relevant
//! passages of each page, each cited `[n]` to its extract, and the sources) and, when a
//! relevant page holds a table, `table.csv`, and calls `done`. It acts only through the
//! same tools a model uses, under the same rules, and never follows what pages say.

use std::collections::HashSet;

use serde_json::json;

use super::{ProviderError, Reply, Request, ToolCall};
use crate::run::{Extract, Observation};

const STOP: &[&str] = &[
    "the", "and", "for", "with", "that", "this", "from", "into", "what", "which", "how", "about", "are", "was", "were", "you", "your", "our",
    "their", "its", "his", "her", "can", "does", "did", "has", "have", "had", "not", "but", "all", "any", "each", "more", "most", "some",
    "such", "than", "then", "them", "they", "there", "these", "those", "will", "would", "should", "could", "a", "an", "of", "to", "in", "on",
    "at", "by", "or", "is", "it", "be", "as", "do", "if", "so", "we", "i", "me", "my", "collect", "find", "write", "summary", "summarise",
    "summarize", "report", "page", "pages", "site", "one", "csv", "markdown", "file", "files", "list", "make", "give", "get", "out",
];

fn stem(w: &str) -> String {
    let w = w.trim_end_matches("'s");
    let mut s: String = w.chars().take(6).collect();
    if s.len() > 4 && s.ends_with('s') {
        s.pop();
    }
    s
}

/// The task's search terms (stemmed, stop words dropped).
pub fn terms(text: &str) -> Vec<String> {
    let mut out: Vec<String> = vec![];
    for w in text.to_lowercase().split(|c: char| !c.is_alphanumeric()) {
        if w.len() < 3 || STOP.contains(&w) {
            continue;
        }
        let s = stem(w);
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// How many of the terms a text carries (each counted once).
pub fn score(terms: &[String], text: &str) -> usize {
    let words: HashSet<String> = text.to_lowercase().split(|c: char| !c.is_alphanumeric()).filter(|w| w.len() >= 3).map(stem).collect();
    terms.iter().filter(|t| words.contains(*t)).count()
}

enum Phase {
    Browse,
    WroteReport,
    WroteTable,
    Finished,
}

pub struct Builtin {
    terms: Vec<String>,
    opened: HashSet<String>,
    extracted: HashSet<String>,
    /// Relevance of each extract, in order.
    gains: Vec<usize>,
    phase: Phase,
    calls: u32,
    /// The first relevant table, as CSV, and the extract it came from.
    table: Option<(String, u32)>,
    /// Links seen on the pages read so far, with their relevance, in the order seen.
    frontier: Vec<(String, usize)>,
}

fn norm(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            u.set_fragment(None);
            u.to_string()
        }
        Err(_) => url.to_string(),
    }
}

impl Builtin {
    pub fn new(task: &str) -> Builtin {
        Builtin { terms: terms(task), opened: HashSet::new(), extracted: HashSet::new(), gains: vec![], phase: Phase::Browse, calls: 0, table: None, frontier: vec![] }
    }

    fn call(&mut self, text: String, tool: &str, args: serde_json::Value) -> Result<Reply, ProviderError> {
        self.calls += 1;
        Ok(Reply { text, calls: vec![ToolCall { id: format!("builtin-{}", self.calls), name: tool.into(), args: Ok(args) }], ..Reply::default() })
    }

    pub fn next(&mut self, req: &Request<'_>) -> Result<Reply, ProviderError> {
        let Some(obs) = req.observation else {
            return Err(ProviderError::Config("the built-in policy needs errand's page observations".into()));
        };
        match self.phase {
            Phase::Browse => {}
            Phase::WroteReport => {
                if let Some((csv, n)) = self.table.take() {
                    self.phase = Phase::WroteTable;
                    return self.call(format!("Saving the table from [{n}] as CSV."), "write_file", json!({"path": "table.csv", "content": csv, "sources": [n]}));
                }
                self.phase = Phase::Finished;
                return self.finish(obs);
            }
            Phase::WroteTable => {
                self.phase = Phase::Finished;
                return self.finish(obs);
            }
            Phase::Finished => return self.finish(obs),
        }
        // Record what the last extract added.
        if self.gains.len() < obs.extracts.len() {
            for x in &obs.extracts[self.gains.len()..] {
                self.gains.push(score(&self.terms, &format!("{} {}", x.title, x.markdown)));
            }
        }
        let here = obs.state.as_ref().map(|s| norm(&s.url)).unwrap_or_default();
        if obs.state.is_none() || here.starts_with("about:") {
            if let Some(start) = obs.start.iter().find(|s| !self.opened.contains(&norm(s))).cloned() {
                self.opened.insert(norm(&start));
                return self.call(format!("Opening the start page {start}."), "navigate", json!({"url": start}));
            }
        }
        self.opened.insert(here.clone());
        let stale = self.gains.len() >= 3 && self.gains.iter().rev().take(3).all(|g| *g == 0);
        if here.starts_with("http") && !self.extracted.contains(&here) && obs.extracts.len() < obs.max_pages {
            self.extracted.insert(here.clone());
            return self.call(format!("Reading {here}."), "extract", json!({}));
        }
        self.learn_links(obs);
        if obs.extracts.len() < obs.max_pages && !stale {
            if let Some(url) = self.best_link() {
                self.opened.insert(norm(&url));
                return self.call(format!("Following the most relevant unread link: {url}."), "navigate", json!({"url": url}));
            }
        }
        self.report(obs)
    }

    /// Add the current page's links on the start pages' hosts to the frontier, each
    /// scored by the task terms in its text and address.
    fn learn_links(&mut self, obs: &Observation) {
        let hosts: Vec<String> = obs.start.iter().filter_map(|s| url::Url::parse(s).ok()).filter_map(|u| u.host_str().map(|h| format!("{h}:{:?}", u.port()))).collect();
        let Some(st) = obs.state.as_ref() else { return };
        let Ok(base) = url::Url::parse(&st.url) else { return };
        for e in st.elements.iter().filter(|e| e.role == "link") {
            let Some(href) = &e.href else { continue };
            let Ok(u) = base.join(href) else { continue };
            let key = u.host_str().map(|h| format!("{h}:{:?}", u.port())).unwrap_or_default();
            if !matches!(u.scheme(), "http" | "https") || !hosts.contains(&key) {
                continue;
            }
            let n = norm(u.as_str());
            let s = score(&self.terms, &format!("{} {}", e.name, u.path().replace(['-', '_', '/', '.'], " ")));
            match self.frontier.iter_mut().find(|(x, _)| *x == n) {
                Some((_, old)) => *old = (*old).max(s),
                None => self.frontier.push((n, s)),
            }
        }
    }

    /// The most relevant unread link (first seen wins a tie), if any carries a task term.
    fn best_link(&self) -> Option<String> {
        let mut best: Option<&(String, usize)> = None;
        for f in self.frontier.iter().filter(|(u, s)| *s > 0 && !self.opened.contains(u) && !self.extracted.contains(u)) {
            if best.is_none_or(|b| f.1 > b.1) {
                best = Some(f);
            }
        }
        best.map(|(u, _)| u.clone())
    }

    fn report(&mut self, obs: &Observation) -> Result<Reply, ProviderError> {
        let mut md = format!("# {}\n\n", obs.task.trim());
        let relevant: Vec<&Extract> = obs.extracts.iter().filter(|x| score(&self.terms, &format!("{} {}", x.title, x.markdown)) > 0).collect();
        md.push_str(&format!(
            "_Compiled offline by errand's built-in research policy from {} page{} read ({} relevant). Passages are quoted from the pages, each cited to its source._\n\n",
            obs.extracts.len(),
            if obs.extracts.len() == 1 { "" } else { "s" },
            relevant.len()
        ));
        for x in &relevant {
            md.push_str(&format!("## {} [{}]\n\n", x.title.trim(), x.n));
            for p in self.passages(&x.markdown, 3) {
                if p.starts_with('|') {
                    md.push_str(&format!("{p}\n\n(table from [{}])\n\n", x.n));
                    if self.table.is_none() {
                        self.table = table_csv(&p).map(|csv| (csv, x.n));
                    }
                } else {
                    md.push_str(&format!("{p} [{}]\n\n", x.n));
                }
            }
        }
        if relevant.is_empty() {
            md.push_str("Nothing on the pages read matched the task's terms.\n\n");
        }
        md.push_str("## Sources\n\n");
        for x in &relevant {
            md.push_str(&format!("[{}] {} — <{}>\n\n", x.n, x.title.trim(), x.url));
        }
        self.phase = Phase::WroteReport;
        self.call(format!("Writing the report from {} relevant pages.", relevant.len()), "write_file", json!({"path": "report.md", "content": md}))
    }

    /// The `k` most relevant paragraphs (or tables) of a Markdown text, in page order.
    fn passages(&self, md: &str, k: usize) -> Vec<String> {
        // Paragraphs and tables; not headings, and not lists that are mostly links (menus).
        let linky = |b: &str| {
            let lines: Vec<&str> = b.lines().collect();
            lines.iter().filter(|l| l.trim_start().starts_with("- [") || l.trim_start().starts_with("* [")).count() * 2 > lines.len()
        };
        let blocks: Vec<&str> = md.split("\n\n").map(str::trim).filter(|b| !b.is_empty() && !b.starts_with('#') && !linky(b)).collect();
        let mut scored: Vec<(usize, usize)> = blocks.iter().enumerate().map(|(i, b)| (score(&self.terms, b), i)).filter(|(s, _)| *s > 0).collect();
        scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut pick: Vec<usize> = scored.into_iter().take(k).map(|(_, i)| i).collect();
        pick.sort();
        pick.into_iter().map(|i| blocks[i].to_string()).collect()
    }

    fn finish(&mut self, obs: &Observation) -> Result<Reply, ProviderError> {
        let summary = format!("Read {} pages; wrote {}.", obs.extracts.len(), if obs.written.is_empty() { "nothing".to_string() } else { obs.written.join(", ") });
        self.call("Finished.".into(), "done", json!({"summary": summary}))
    }
}

/// A Markdown pipe table as CSV (header row, then body rows; the separator row dropped).
fn table_csv(md: &str) -> Option<String> {
    let mut w = csv::Writer::from_writer(vec![]);
    let mut width = None;
    for line in md.lines().map(str::trim).filter(|l| l.starts_with('|')) {
        let cells: Vec<String> = line.trim_matches('|').split('|').map(|c| c.trim().to_string()).collect();
        if cells.iter().all(|c| !c.is_empty() && c.chars().all(|ch| matches!(ch, '-' | ':' | ' '))) {
            continue;
        }
        match width {
            None => width = Some(cells.len()),
            Some(n) if n != cells.len() => return None,
            _ => {}
        }
        w.write_record(&cells).ok()?;
    }
    width?;
    String::from_utf8(w.into_inner().ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_and_scores() {
        let t = terms("How much does a heat pump cost to install and run?");
        assert!(t.contains(&"heat".to_string()) && t.contains(&"pump".to_string()) && t.contains(&"cost".to_string()));
        assert_eq!(score(&t, "What a heat pump costs"), 3);
        assert_eq!(score(&t, "Reader forum"), 0);
    }

    #[test]
    fn markdown_tables_become_csv() {
        let csv = table_csv("| Item | Price |\n| --- | ---: |\n| Unit | £7,000 |\n| Fitting, labour | £2,500 |").unwrap();
        assert_eq!(csv, "Item,Price\nUnit,\"£7,000\"\n\"Fitting, labour\",\"£2,500\"\n");
    }
}

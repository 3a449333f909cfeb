//! `--model builtin`: errand's offline research policy. No API key, deterministic.
//!
//! From the start pages (or a site search, `--search`) it reads allowed pages
//! breadth-first by relevance: every link seen on a page read is a candidate, ranked by
//! BM25 of the task's terms against the link's text and address, and the best unread one
//! is opened and extracted. It stops after `--max-pages` pages or once three pages in a
//! row add no new relevant sentence. It then writes `report.md` (an overview made of the
//! most relevant sentences, then a section per source quoting its key passages, every
//! quote cited `[n]` to its extract), `sources.csv`, and `tables/*.csv` for relevant
//! tables, and calls `done`. It acts only through the same tools a model uses, under the
//! same rules, and never follows what pages say.

use std::collections::HashSet;

use serde_json::json;

use super::{ProviderError, Reply, Request, ToolCall};
use crate::model::{Extract, Observation};

mod text;

use text::*;
pub use text::{bm25, keywords, score, search_url, terms};

enum Phase {
    Browse,
    Writing,
    Finished,
}

/// A link seen on a page read: where it goes and the words that describe it.
struct Link {
    url: String,
    words: String,
    /// On how many pages read it appeared: site navigation appears on every page.
    pages: usize,
}

pub struct Builtin {
    terms: Vec<String>,
    opened: HashSet<String>,
    extracted: HashSet<String>,
    /// New relevant sentences each extract added, in order.
    gains: Vec<usize>,
    /// The same for web pages only: whether reading more pages pays off.
    page_gains: Vec<usize>,
    seen: HashSet<String>,
    phase: Phase,
    calls: u32,
    /// Files still to write, in order: (path, content, extracts cited).
    queue: Vec<(String, String, Vec<u32>)>,
    frontier: Vec<Link>,
    /// Pages whose links were learned already.
    learned: HashSet<String>,
    /// Pages that answered an error: (URL, why).
    unusable: Vec<(String, String)>,
    /// Relevant pages in the report.
    relevant: usize,
    /// Input files read so far (they are read first, in order).
    inputs_read: usize,
    /// Allowed web addresses found in the input files: start pages too.
    found_starts: Option<Box<[String]>>,
}

/// Most input files the policy reads.
const MAX_INPUTS: usize = 20;
/// Most start pages taken from input files.
const MAX_FOUND_STARTS: usize = 10;

impl Builtin {
    pub fn new(task: &str) -> Builtin {
        Builtin {
            terms: terms(task),
            opened: HashSet::new(),
            extracted: HashSet::new(),
            gains: vec![],
            page_gains: vec![],
            seen: HashSet::new(),
            phase: Phase::Browse,
            calls: 0,
            queue: vec![],
            frontier: vec![],
            learned: HashSet::new(),
            unusable: vec![],
            relevant: 0,
            inputs_read: 0,
            found_starts: None,
        }
    }

    fn call(&mut self, text: String, tool: &str, args: serde_json::Value) -> Result<Reply, ProviderError> {
        self.calls += 1;
        Ok(Reply {
            text,
            calls: vec![ToolCall { id: format!("builtin-{}", self.calls), name: tool.into(), args: Ok(args) }],
            ..Reply::default()
        })
    }

    pub fn next(&mut self, req: &Request<'_>) -> Result<Reply, ProviderError> {
        let Some(obs) = req.observation else {
            return Err(ProviderError::Config("the built-in policy needs errand's page observations".into()));
        };
        match self.phase {
            Phase::Browse => {}
            Phase::Writing => {
                if self.queue.is_empty() {
                    self.phase = Phase::Finished;
                    return self.finish(obs);
                }
                let (path, content, cites) = self.queue.remove(0);
                return self.call(format!("Writing {path}."), "write_file", json!({"path": path, "content": content, "sources": cites}));
            }
            Phase::Finished => return self.finish(obs),
        }
        // The person's materials come first: each readable input file is read once.
        if let Some(path) = obs.inputs.get(self.inputs_read).filter(|_| self.inputs_read < MAX_INPUTS).cloned() {
            self.inputs_read += 1;
            return self.call(format!("Reading the input file {path}."), "read_input", json!({"path": path}));
        }
        if self.found_starts.is_none() {
            self.found_starts = Some(found_starts(obs).into_boxed_slice());
        }
        let starts = self.starts(obs);
        // Record what the newest extracts added.
        for x in obs.extracts.iter().skip(self.gains.len()) {
            let mut gain = 0;
            for s in sentences(&x.markdown) {
                if score(&self.terms, &s) > 0 && self.seen.insert(s.to_lowercase()) {
                    gain += 1;
                }
            }
            self.gains.push(gain);
            if x.input.is_none() {
                self.page_gains.push(gain);
            }
        }
        let here = obs.state.as_ref().map(|s| norm(&s.url)).unwrap_or_default();
        if obs.state.is_none() || here.starts_with("about:") {
            if let Some(start) = starts.iter().find(|s| !self.opened.contains(&norm(s))).cloned() {
                self.opened.insert(norm(&start));
                return self.call(format!("Opening the start page {start}."), "navigate", json!({"url": start}));
            }
        }
        self.opened.insert(here.clone());
        // Three pages in a row with nothing new ends the reading once something relevant
        // was found; before that, the site's structure gets six pages.
        let found = self.gains.iter().any(|g| *g > 0);
        let g = &self.page_gains;
        let stale = (found && g.len() >= 3 && g.iter().rev().take(3).all(|g| *g == 0)) || (!found && g.len() >= 6);
        if let Some(p) = obs.state.as_ref().and_then(|s| s.problem.clone()) {
            // An error page is no source: noted for the report, never extracted or cited.
            if here.starts_with("http") && !self.unusable.iter().any(|(u, _)| *u == here) {
                self.unusable.push((here.clone(), p));
            }
            self.extracted.insert(here.clone());
        }
        if here.starts_with("http") && !self.extracted.contains(&here) && pages(obs) < obs.max_pages {
            self.extracted.insert(here.clone());
            return self.call(format!("Reading {here}."), "extract", json!({}));
        }
        self.learn_links(obs, &starts);
        if pages(obs) < obs.max_pages && !stale {
            // Start pages not yet read come first, then the best-ranked link.
            let next = starts.iter().map(|s| norm(s)).find(|s| !self.opened.contains(s)).or_else(|| self.best_link());
            if let Some(url) = next {
                self.opened.insert(url.clone());
                return self.call(format!("Following the most relevant unread link: {url}."), "navigate", json!({"url": url}));
            }
        }
        self.write_all(obs);
        self.phase = Phase::Writing;
        self.next(req)
    }

    /// Add the current page's links on the start pages' hosts to the frontier, described
    /// by their text and the words of their address.
    fn learn_links(&mut self, obs: &Observation, starts: &[String]) {
        let hosts: Vec<String> = starts
            .iter()
            .filter_map(|s| url::Url::parse(s).ok())
            .filter_map(|u| u.host_str().map(|h| format!("{h}:{:?}", u.port())))
            .collect();
        let Some(st) = obs.state.as_ref() else { return };
        let Ok(base) = url::Url::parse(&st.url) else { return };
        if !self.learned.insert(norm(&st.url)) {
            return;
        }
        let mut page_links = HashSet::new();
        for e in st.elements.iter().filter(|e| e.role == "link") {
            let Some(href) = &e.href else { continue };
            let Ok(u) = base.join(href) else { continue };
            let key = u.host_str().map(|h| format!("{h}:{:?}", u.port())).unwrap_or_default();
            if !matches!(u.scheme(), "http" | "https") || !hosts.contains(&key) {
                continue;
            }
            let n = norm(u.as_str());
            if !page_links.insert(n.clone()) {
                continue;
            }
            let desc = format!("{} {}", e.name, u.path().replace(['-', '_', '/', '.'], " "));
            match self.frontier.iter_mut().find(|l| l.url == n) {
                Some(l) => {
                    l.words.push(' ');
                    l.words.push_str(&e.name);
                    l.pages += 1;
                }
                None => self.frontier.push(Link { url: n, words: desc, pages: 0 }),
            }
        }
    }

    /// The start pages given, then those found in the input files.
    fn starts(&self, obs: &Observation) -> Vec<String> {
        let mut all = obs.start.to_vec();
        all.extend(self.found_starts.iter().flatten().filter(|u| !obs.start.contains(u)).cloned());
        all
    }

    /// The unread link with the best BM25 score (first seen wins a tie), if any scores.
    fn best_link(&self) -> Option<String> {
        let docs: Vec<String> = self.frontier.iter().map(|l| l.words.clone()).collect();
        let scores = bm25(&self.terms, &docs);
        let mut best: Option<(usize, f64)> = None;
        for (i, l) in self.frontier.iter().enumerate() {
            if scores[i] <= 0.0 || self.opened.contains(&l.url) || self.extracted.contains(&l.url) {
                continue;
            }
            if best.is_none_or(|(_, s)| scores[i] > s) {
                best = Some((i, scores[i]));
            }
        }
        if let Some((i, _)) = best {
            return Some(self.frontier[i].url.clone());
        }
        // Nothing shares a word with the task ("Pricing" for "what do plans cost"): follow
        // the site's own structure, the unread link found on the most pages (navigation).
        let mut structural: Option<&Link> = None;
        for l in &self.frontier {
            if self.opened.contains(&l.url) || self.extracted.contains(&l.url) {
                continue;
            }
            if structural.is_none_or(|s| l.pages > s.pages) {
                structural = Some(l);
            }
        }
        structural.map(|l| l.url.clone())
    }

    /// Queue report.md, sources.csv and the relevant tables.
    fn write_all(&mut self, obs: &Observation) {
        let docs: Vec<String> = obs.extracts.iter().map(|x| format!("{} {}", x.title, x.markdown)).collect();
        let rel = bm25(&self.terms, &docs);
        let relevant: Vec<(&Extract, f64)> = obs.extracts.iter().zip(rel.iter().copied()).filter(|(_, r)| *r > 0.0).collect();

        let mut md = format!("# {}\n\n", obs.task.trim());
        md.push_str(&format!(
            "_Compiled offline by errand's built-in research policy from {} read ({} relevant). Passages are quoted from the sources, each cited to its source._\n\n",
            sources_read(obs),
            relevant.len()
        ));
        // Overview: the most relevant sentences of all pages, best first, one per source
        // before any source gets a second.
        let mut pool: Vec<(usize, usize, u32, String)> = vec![];
        for (x, _) in &relevant {
            for (i, s) in sentences(&x.markdown).into_iter().enumerate() {
                let sc = score(&self.terms, &s);
                if sc > 0 {
                    pool.push((sc, i, x.n, s));
                }
            }
        }
        pool.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        let mut overview: Vec<(u32, String)> = vec![];
        for round in 0..3 {
            for (_, _, n, s) in &pool {
                if overview.len() >= 5 {
                    break;
                }
                let from_n = overview.iter().filter(|(m, _)| m == n).count();
                if from_n == round && !overview.iter().any(|(_, t)| t == s) {
                    overview.push((*n, s.clone()));
                }
            }
        }
        if !overview.is_empty() {
            md.push_str("## Overview\n\n");
            for (n, s) in &overview {
                md.push_str(&format!("- {s} [{n}]\n"));
            }
            md.push('\n');
        }
        let mut tables = vec![];
        for (x, _) in &relevant {
            md.push_str(&format!("## {} [{}]\n\n", x.title.trim(), x.n));
            for p in self.passages(&x.markdown, 3) {
                if p.starts_with('|') {
                    md.push_str(&format!("{p}\n\n(table from [{}])\n\n", x.n));
                } else {
                    let quoted: Vec<String> = unlink(&p).lines().map(|l| format!("> {}", l.trim())).collect();
                    md.push_str(&format!("{} [{}]\n\n", quoted.join("\n"), x.n));
                }
            }
            for (k, t) in x.markdown.split("\n\n").map(str::trim).filter(|b| b.starts_with('|')).enumerate() {
                if score(&self.terms, t) > 0 {
                    if let Some(csv) = table_csv(t) {
                        let name = format!("tables/{}-{}.csv", slug(&x.title), k + 1);
                        tables.push((name, csv, vec![x.n]));
                    }
                }
            }
        }
        if relevant.is_empty() {
            md.push_str("Nothing on the pages read matched the task's terms.\n\n");
        }
        self.relevant = relevant.len();
        // What was not read, and why: a reader can tell a thin report from a thin search.
        let unread: Vec<&Link> =
            self.frontier.iter().filter(|l| !self.opened.contains(&l.url) && !self.extracted.contains(&l.url)).take(10).collect();
        if !self.unusable.is_empty() || !unread.is_empty() {
            md.push_str("## Not read\n\n");
            for (u, p) in &self.unusable {
                md.push_str(&format!("- <{u}>: the server answered {p}\n"));
            }
            let why = if pages(obs) >= obs.max_pages {
                "the page limit (--max-pages) was reached"
            } else {
                "ranked below the pages read, which had stopped adding anything new"
            };
            for l in unread {
                md.push_str(&format!("- <{}>: {why}\n", l.url));
            }
            md.push('\n');
        }
        md.push_str("## Sources\n\n");
        for (x, _) in &relevant {
            md.push_str(&format!("[{}] {} — <{}>\n\n", x.n, x.title.trim(), x.url));
        }
        let cites: Vec<u32> = relevant.iter().map(|(x, _)| x.n).collect();
        self.queue.push(("report.md".into(), md, cites));

        let mut w = csv::Writer::from_writer(vec![]);
        let _ = w.write_record(["n", "title", "url", "fetched_at", "words", "relevance"]);
        for (x, r) in obs.extracts.iter().zip(rel.iter()) {
            let words = x.markdown.split_whitespace().count().to_string();
            let _ = w.write_record([
                x.n.to_string(),
                x.title.trim().to_string(),
                x.url.clone(),
                x.fetched_at.clone(),
                words,
                format!("{r:.2}"),
            ]);
        }
        if let Ok(csv) = w.into_inner().map_err(|e| e.to_string()).and_then(|b| String::from_utf8(b).map_err(|e| e.to_string())) {
            self.queue.push(("sources.csv".into(), csv, obs.extracts.iter().map(|x| x.n).collect()));
        }
        self.queue.extend(tables);
    }

    /// The `k` most relevant paragraphs (or tables) of a Markdown text, in page order.
    fn passages(&self, md: &str, k: usize) -> Vec<String> {
        // Paragraphs and tables; not headings, and not lists that are mostly links (menus).
        let linky = |b: &str| {
            let lines: Vec<&str> = b.lines().collect();
            lines.iter().filter(|l| l.trim_start().starts_with("- [") || l.trim_start().starts_with("* [")).count() * 2 > lines.len()
        };
        let blocks: Vec<&str> = md.split("\n\n").map(str::trim).filter(|b| !b.is_empty() && !b.starts_with('#') && !linky(b)).collect();
        let mut scored: Vec<(usize, usize)> =
            blocks.iter().enumerate().map(|(i, b)| (score(&self.terms, b), i)).filter(|(s, _)| *s > 0).collect();
        scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut pick: Vec<usize> = scored.into_iter().take(k).map(|(_, i)| i).collect();
        pick.sort();
        pick.into_iter().map(|i| blocks[i].to_string()).collect()
    }

    fn finish(&mut self, obs: &Observation) -> Result<Reply, ProviderError> {
        if self.relevant == 0 {
            return Err(ProviderError::Unfinished(format!(
                "nothing relevant to the task was found on the {} read; report.md says which pages were not read and why",
                crate::stdio::plural(obs.extracts.len(), "page")
            )));
        }
        let summary = format!(
            "Read {}; wrote {}.",
            sources_read(obs),
            if obs.written.is_empty() { "nothing".to_string() } else { obs.written.join(", ") }
        );
        self.call("Finished.".into(), "done", json!({"summary": summary}))
    }
}

/// Web pages read so far (input files are not pages).
fn pages(obs: &Observation) -> usize {
    obs.extracts.iter().filter(|x| x.input.is_none()).count()
}

/// What was read, in words: "5 pages", or "5 pages and 2 input files".
fn sources_read(obs: &Observation) -> String {
    match obs.extracts.len() - pages(obs) {
        0 => crate::stdio::plural(pages(obs), "page"),
        n => format!("{} and {}", crate::stdio::plural(pages(obs), "page"), crate::stdio::plural(n, "input file")),
    }
}

/// The web addresses the input files name that the allowlist lets through, in the order
/// found. An address off the allowlist is never opened, whatever the file says about it.
fn found_starts(obs: &Observation) -> Vec<String> {
    let mut out: Vec<String> = vec![];
    for x in obs.extracts.iter().filter(|x| x.input.is_some()) {
        for u in urls_in(&x.markdown) {
            if out.len() < MAX_FOUND_STARTS && !out.contains(&u) && obs.guard.judge(&u).is_none() {
                out.push(u);
            }
        }
    }
    out
}

/// The http(s) addresses written in a text, without the punctuation around them.
fn urls_in(text: &str) -> Vec<String> {
    let mut out = vec![];
    for (i, _) in text.match_indices("http") {
        let rest = &text[i..];
        if !(rest.starts_with("http://") || rest.starts_with("https://")) {
            continue;
        }
        let end = rest
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | ')' | ']' | ',' | '|' | '`'))
            .unwrap_or(rest.len());
        let u = rest[..end].trim_end_matches(['.', ';', ':', '!', '?']);
        if let Ok(parsed) = url::Url::parse(u) {
            if parsed.host_str().is_some() {
                out.push(parsed.to_string());
            }
        }
    }
    out
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
    fn bm25_ranks_links_by_the_task_terms() {
        let t = terms("heat pump running costs");
        let docs: Vec<String> = [
            "Reader forum articles forum html",                            // no term
            "What a heat pump costs articles costs html",                  // three terms
            "Heat pumps in cold climates articles cold climates html",     // two terms
            "Home",                                                        // none
            "heat heat heat heat heat heat heat heat heat heat heat heat", // one term, repeated: saturates
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let s = bm25(&t, &docs);
        assert_eq!(s[0], 0.0);
        assert_eq!(s[3], 0.0);
        assert!(s[1] > s[2] && s[2] > 0.0, "{s:?}");
        assert!(s[1] > s[4], "term repetition saturates: {s:?}");
        assert!(bm25(&t, &[]).is_empty());
    }

    #[test]
    fn search_urls_carry_the_task_keywords() {
        assert_eq!(
            search_url("http://127.0.0.1:8/search?q={query}", "Find the weight of otters").unwrap(),
            "http://127.0.0.1:8/search?q=weight+otters"
        );
        assert!(search_url("http://x/search", "otters").unwrap_err().contains("{query}"));
        assert!(search_url("file:///etc/{query}", "otters").is_err());
    }

    #[test]
    fn sentences_skip_headings_tables_and_links() {
        let s = sentences("# Title\n\nOtters eat fish and frogs in rivers. They weigh 7 to 12 kg as adults, see [the table](http://x/t).\n\n| a | b |\n| --- | --- |\n| 1 | 2 |\n\n- A list item that is long enough to count here\n- [Another](http://x/a) item that is long enough to count\n\nRead on: [what otters eat](http://x/e) and [where they live](http://x/l).");
        assert_eq!(
            s,
            vec![
                "Otters eat fish and frogs in rivers.",
                "They weigh 7 to 12 kg as adults, see the table.",
                "A list item that is long enough to count here",
                "Another item that is long enough to count"
            ]
        );
        assert_eq!(slug("What a heat pump costs!"), "what-a-heat-pump-costs");
    }

    #[test]
    fn markdown_tables_become_csv() {
        let csv = table_csv("| Item | Price |\n| --- | ---: |\n| Unit | £7,000 |\n| Fitting, labour | £2,500 |").unwrap();
        assert_eq!(csv, "Item,Price\nUnit,\"£7,000\"\n\"Fitting, labour\",\"£2,500\"\n");
    }
}

//! The text work of the built-in policy, pure and table-tested: the task's terms, BM25
//! ranking of links and pages, sentences and slugs of an extract, tables as CSV.

use std::collections::{HashMap, HashSet};

pub const STOP: &[&str] = &[
    "the",
    "and",
    "for",
    "with",
    "that",
    "this",
    "from",
    "into",
    "what",
    "which",
    "how",
    "about",
    "are",
    "was",
    "were",
    "you",
    "your",
    "our",
    "their",
    "its",
    "his",
    "her",
    "can",
    "does",
    "did",
    "has",
    "have",
    "had",
    "not",
    "but",
    "all",
    "any",
    "each",
    "more",
    "most",
    "some",
    "such",
    "than",
    "then",
    "them",
    "they",
    "there",
    "these",
    "those",
    "will",
    "would",
    "should",
    "could",
    "a",
    "an",
    "of",
    "to",
    "in",
    "on",
    "at",
    "by",
    "or",
    "is",
    "it",
    "be",
    "as",
    "do",
    "if",
    "so",
    "we",
    "i",
    "me",
    "my",
    "collect",
    "find",
    "write",
    "summary",
    "summarise",
    "summarize",
    "report",
    "page",
    "pages",
    "site",
    "one",
    "csv",
    "markdown",
    "file",
    "files",
    "list",
    "make",
    "give",
    "get",
    "out",
    "much",
    "many",
    "when",
    "where",
    "who",
    "why",
    "also",
    "into",
    "over",
    "under",
];

pub fn stem(w: &str) -> String {
    let w = w.trim_end_matches("'s");
    let mut s: String = w.chars().take(6).collect();
    if s.chars().count() > 4 && s.ends_with('s') {
        s.pop();
    }
    s
}

pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| w.chars().count() >= 3).map(|w| w.to_lowercase())
}

/// The task's key words, in order, without stop words (what a search box gets).
pub fn keywords(text: &str) -> Vec<String> {
    let mut out: Vec<String> = vec![];
    for w in words(text) {
        if !STOP.contains(&w.as_str()) && !out.contains(&w) {
            out.push(w);
        }
    }
    out
}

/// The task's search terms (stemmed keywords).
pub fn terms(text: &str) -> Vec<String> {
    let mut out: Vec<String> = vec![];
    for w in keywords(text) {
        let s = stem(&w);
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// How many of the terms a text carries (each counted once).
pub fn score(terms: &[String], text: &str) -> usize {
    let have: HashSet<String> = words(text).map(|w| stem(&w)).collect();
    terms.iter().filter(|t| have.contains(*t)).count()
}

/// Okapi BM25 (k1 = 1.2, b = 0.75) of the query terms against each document of a small
/// collection; idf is the non-negative variant, so a term found everywhere adds little.
/// Written here because the collections are a few hundred short link texts: an index
/// crate (tantivy) would be heavier than the ranking itself.
pub fn bm25(terms: &[String], docs: &[String]) -> Vec<f64> {
    let (k1, b) = (1.2, 0.75);
    let toks: Vec<Vec<String>> = docs.iter().map(|d| words(d).map(|w| stem(&w)).collect()).collect();
    let n = docs.len() as f64;
    let avg = (toks.iter().map(Vec::len).sum::<usize>() as f64 / n.max(1.0)).max(1.0);
    let df: HashMap<&String, f64> = terms.iter().map(|t| (t, toks.iter().filter(|d| d.contains(t)).count() as f64)).collect();
    toks.iter()
        .map(|d| {
            let len = d.len() as f64;
            terms
                .iter()
                .map(|t| {
                    let tf = d.iter().filter(|w| *w == t).count() as f64;
                    if tf == 0.0 {
                        return 0.0;
                    }
                    let idf = ((n - df[t] + 0.5) / (df[t] + 0.5) + 1.0).ln();
                    idf * tf * (k1 + 1.0) / (tf + k1 * (1.0 - b + b * len / avg))
                })
                .sum()
        })
        .collect()
}

/// The search page for a task: `{query}` in the template replaced by the task's keywords.
pub fn search_url(template: &str, task: &str) -> Result<String, String> {
    if !template.contains("{query}") {
        return Err(format!(
            "--search {template}: the template needs {{query}} where the search words go, e.g. https://site/search?q={{query}}"
        ));
    }
    let q: String =
        url::form_urlencoded::byte_serialize(keywords(task).into_iter().take(8).collect::<Vec<_>>().join(" ").as_bytes()).collect();
    let u = template.replace("{query}", &q);
    match url::Url::parse(&u) {
        Ok(p) if matches!(p.scheme(), "http" | "https") => Ok(u),
        _ => Err(format!("--search {template}: not an http(s) address")),
    }
}

pub fn norm(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            u.set_fragment(None);
            u.to_string()
        }
        Err(_) => url.to_string(),
    }
}

/// Sentences of a Markdown text (headings, tables, code and mostly-link blocks left out;
/// list items count as sentences of their own).
pub fn sentences(md: &str) -> Vec<String> {
    let mut out = vec![];
    for block in md.split("\n\n").map(str::trim) {
        if block.is_empty() || block.starts_with('#') || block.starts_with('|') || block.starts_with("```") {
            continue;
        }
        let text = unlink(block);
        // Navigation prose ("Read on: [a] and [b]") is mostly link text.
        if text.chars().count() > 0 && (block.chars().count() - text.chars().count()) * 10 > text.chars().count() * 4 {
            continue;
        }
        for line in text.lines() {
            let line = line.trim().trim_start_matches(['-', '*', '>', '+']).trim_start();
            let line = line.trim_start_matches(|c: char| c.is_ascii_digit()).trim_start_matches(['.', ')']).trim_start();
            let mut cur = String::new();
            let chars: Vec<char> = line.chars().collect();
            for (i, c) in chars.iter().enumerate() {
                cur.push(*c);
                let end = matches!(c, '.' | '!' | '?') && chars.get(i + 1).is_none_or(|n| n.is_whitespace());
                if end && cur.trim().chars().count() > 30 {
                    out.push(cur.split_whitespace().collect::<Vec<_>>().join(" "));
                    cur.clear();
                }
            }
            let rest = cur.split_whitespace().collect::<Vec<_>>().join(" ");
            if rest.chars().count() > 30 {
                out.push(rest);
            }
        }
    }
    out
}

/// `[text](url)` → `text`, so quotes read as prose.
pub fn unlink(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('[') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        match (after.find("]("), after.find(']')) {
            (Some(j), Some(k)) if j == k => match after[j + 2..].find(')') {
                Some(e) => {
                    out.push_str(&after[..j]);
                    rest = &after[j + 2 + e + 1..];
                }
                None => {
                    out.push('[');
                    rest = after;
                }
            },
            _ => {
                out.push('[');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// A file-name-safe slug of a title.
pub fn slug(s: &str) -> String {
    let mut out = String::new();
    for w in s.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).take(6) {
        if !out.is_empty() {
            out.push('-');
        }
        out.push_str(&w.to_lowercase());
    }
    if out.is_empty() {
        "table".into()
    } else {
        out
    }
}

/// A Markdown pipe table as CSV (header row, then body rows; the separator row dropped;
/// cells exactly as shown, numbers left as text).
pub fn table_csv(md: &str) -> Option<String> {
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

//! The block of a page that holds most of its prose, found the way Readability finds it:
//! each paragraph scores its parent and grandparent, and link-heavy blocks count less.
//!
//! rs-trafilatura looks for the content container by its class or id first (`article`,
//! `content`, `post`…), so a page whose list of other stories is called `article-list`
//! is read as that list, and one whose sidebar comes first in a `content` wrapper as the
//! sidebar. When its reading holds under half the prose of the densest block, the page is
//! read again from that block alone (see `article`).
//!
//! Written by hand: the Readability ports on crates.io extract the whole article their
//! own way; what is wanted here is only the block it would start from, to check
//! rs-trafilatura's choice against.

use std::collections::HashMap;

use dom_query::{Document, NodeId, NodeRef};

use super::squash_len;
use super::words::lower_words;

/// The fewest words of prose a block must hold to overrule rs-trafilatura's reading.
const MIN_WORDS: usize = 80;

/// The page's densest block, when rs-trafilatura's reading (`text`) of `html` holds
/// under half the words of its prose: a page holding only the head and that block, to
/// be read again.
pub(super) fn missed_block(html: &str, text: &str) -> Option<String> {
    let doc = Document::from(html);
    let best = densest(&doc)?;
    let prose: Vec<String> = best
        .descendants_it()
        .filter(|d| d.is_element() && (d.has_name("p") || d.has_name("pre")))
        .flat_map(|p| lower_words(&p.text()).collect::<Vec<_>>())
        .collect();
    if prose.len() < MIN_WORDS || holds_most(&prose, text) {
        return None;
    }
    Some(super::block_alone(&doc, &best.inner_html()))
}

/// Whether `text` holds half the words of `prose` or more, counted as bags, word for
/// word: a "the" in the text stands for one "the" of the prose, not for all of them.
fn holds_most(prose: &[String], text: &str) -> bool {
    let mut read: HashMap<String, usize> = HashMap::new();
    for w in lower_words(text) {
        *read.entry(w).or_default() += 1;
    }
    let kept = prose.iter().filter(|w| read.get_mut(*w).is_some_and(|n| n.checked_sub(1).map(|left| *n = left).is_some())).count();
    kept * 2 >= prose.len()
}

/// The element whose paragraphs (`p`, `pre` of 25 characters or more, at most half link
/// text) score highest: a paragraph adds 1, its commas and a point per 100 characters
/// (up to 3) to its parent, half that to its grandparent; a block's score is cut by its
/// share of link text. Blocks beside the main content (see [`aside`]) do not count.
fn densest(doc: &Document) -> Option<NodeRef<'_>> {
    let link_len =
        |n: &NodeRef| -> usize { n.descendants_it().filter(|d| d.is_element() && d.has_name("a")).map(|a| squash_len(&a.text())).sum() };
    let mut scores: HashMap<NodeId, f64> = HashMap::new();
    for p in doc.select("body p, body pre").nodes() {
        let text = p.text();
        let len = squash_len(&text);
        if len < 25 {
            continue;
        }
        let density = link_len(p) as f64 / len as f64;
        if density > 0.5 {
            continue;
        }
        let commas = text.matches([',', '，', '、']).count();
        let s = (1.0 + commas as f64 + (len / 100).min(3) as f64) * (1.0 - density);
        let mut up = p.parent();
        for share in [1.0, 0.5] {
            let Some(a) = up.filter(|a| a.is_element() && !a.has_name("body") && !a.has_name("html")) else { break };
            *scores.entry(a.id).or_default() += s * share;
            up = a.parent();
        }
    }
    let best = scores
        .into_iter()
        .filter(|(id, _)| {
            let n = NodeRef::new(*id, &doc.tree);
            !std::iter::once(n).chain(n.ancestors_it(None)).any(|a| aside(&a))
        })
        .map(|(id, s)| {
            let n = NodeRef::new(id, &doc.tree);
            let len = squash_len(&n.text()).max(1);
            (id, s * (1.0 - (link_len(&n) as f64 / len as f64).min(0.9)))
        })
        // Ties go to the element first in the document, so the choice does not depend
        // on the map's order.
        .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))?;
    Some(NodeRef::new(best.0, &doc.tree))
}

/// Whether an element is beside a page's main content: its footer, navigation or
/// sidebar, a dialog, a consent banner, comments or reviews. (Class words that name a
/// layout, `sidebar-container`, `sticky-footer`, and forms, which ASP.NET wraps whole
/// pages in, are no sign.)
fn aside(n: &NodeRef) -> bool {
    if n.has_name("body") || n.has_name("html") {
        return false;
    }
    if ["footer", "aside", "nav", "dialog"].iter().any(|t| n.has_name(t)) {
        return true;
    }
    if matches!(n.attr("role").as_deref(), Some("dialog" | "navigation" | "complementary" | "contentinfo" | "banner")) {
        return true;
    }
    super::has_token(n, ASIDE)
}

const ASIDE: &[&str] = &["comment", "comments", "reviews", "cookie", "consent", "onetrust", "modal", "popup"];

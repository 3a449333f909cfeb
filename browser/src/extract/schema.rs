//! What a page states about itself in schema.org markup: the content its visible page
//! hides, and what kind of page it is.
//!
//! Why it exists: a shop often puts a product's description in a tab the reader has to
//! open, so the rendered page (without what a reader cannot see) leaves it out, while the
//! page's JSON-LD `Product` carries it whole. The description is added to an extract only
//! when the extract lacks most of its words, so a page that shows it is not doubled.

use std::collections::HashSet;

use super::{find_ci, squash};

/// Descriptions shorter than this many words are labels, not descriptions.
const MIN_WORDS: usize = 8;

/// The descriptions of the `Product`s (and `ProductGroup`s) in the JSON-LD of `html`, as
/// plain text, each once, in page order.
pub fn product_descriptions(html: &str) -> Vec<String> {
    let doc = dom_query::Document::from(html);
    let mut out: Vec<String> = vec![];
    each_ld_object(&doc, |o| {
        if let (true, Some(d)) = (has_type(o, is_product), o.get("description").and_then(|d| d.as_str())) {
            // Descriptions are often HTML: their text, entities decoded.
            let text = dom_query::Document::from(format!("<body>{d}</body>").as_str()).select("body").text();
            let text = squash(&text);
            if !text.is_empty() && !out.contains(&text) {
                out.push(text);
            }
        }
    });
    out
}

/// Whether `html` says it is a discussion thread: a schema.org `DiscussionForumPosting`
/// or `QAPage`, in JSON-LD or in microdata. Forum software marks its threads up so
/// (Discourse, Invision, XenForo, phpBB, Stack Exchange), and no other kind of page
/// does. (wcxb-dev: 66 pages say so, all of them threads; 4 were not found to be
/// threads otherwise. Read as threads, two of them gain: forum 0.772 -> 0.780.)
pub fn declares_thread(html: &str) -> bool {
    let is_thread = |t: &str| matches!(short_type(t), "DiscussionForumPosting" | "QAPage");
    // Parsing the page costs milliseconds: only when it names either type at all.
    let b = html.as_bytes();
    if find_ci(b, b"DiscussionForumPosting").is_none() && find_ci(b, b"QAPage").is_none() {
        return false;
    }
    let doc = dom_query::Document::from(html);
    if doc.select("[itemtype]").iter().any(|n| n.attr("itemtype").is_some_and(|t| t.split_whitespace().any(is_thread))) {
        return true;
    }
    let mut found = false;
    each_ld_object(&doc, |o| found |= has_type(o, is_thread));
    found
}

/// Calls `f` with every object of every JSON-LD block of `doc`, nested ones included, in
/// page order. Blocks that are not JSON are passed over.
fn each_ld_object(doc: &dom_query::Document, mut f: impl FnMut(&serde_json::Map<String, serde_json::Value>)) {
    for script in doc.select(r#"script[type="application/ld+json"]"#).iter() {
        let Ok(value) = serde_json::from_str::<serde_json::Value>(script.text().trim()) else { continue };
        let mut stack = vec![&value];
        while let Some(v) = stack.pop() {
            match v {
                serde_json::Value::Array(items) => stack.extend(items.iter().rev()),
                serde_json::Value::Object(o) => {
                    f(o);
                    stack.extend(o.values().filter(|v| v.is_object() || v.is_array()));
                }
                _ => {}
            }
        }
    }
}

/// Whether a JSON-LD object's `@type` (one, or a list) is one `is` accepts.
fn has_type(o: &serde_json::Map<String, serde_json::Value>, is: impl Fn(&str) -> bool) -> bool {
    match o.get("@type") {
        Some(serde_json::Value::String(t)) => is(t),
        Some(serde_json::Value::Array(ts)) => ts.iter().filter_map(|t| t.as_str()).any(is),
        _ => false,
    }
}

/// A schema.org type without its vocabulary's address: `https://schema.org/QAPage` is
/// `QAPage`.
fn short_type(t: &str) -> &str {
    t.trim().trim_start_matches("http://schema.org/").trim_start_matches("https://schema.org/")
}

fn is_product(t: &str) -> bool {
    matches!(short_type(t), "Product" | "ProductGroup")
}

/// The descriptions of `descriptions` that `text` leaves out: at least [`MIN_WORDS`]
/// words, most of them not in `text`.
pub fn missing_from<'a>(text: &str, descriptions: &'a [String]) -> Vec<&'a str> {
    let have: HashSet<String> = words(text).collect();
    descriptions
        .iter()
        .filter(|d| {
            let w: Vec<String> = words(d).collect();
            w.len() >= MIN_WORDS && w.iter().filter(|x| have.contains(*x)).count() * 2 < w.len()
        })
        .map(String::as_str)
        .collect()
}

/// Lowercase words, as the benchmarks and a reader count them.
fn words(s: &str) -> impl Iterator<Item = String> + '_ {
    s.split(|c: char| !(c.is_alphanumeric() || c == '_')).filter(|w| !w.is_empty()).map(str::to_lowercase)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"<html><head>
        <script type="application/ld+json">{"@context":"https://schema.org","@graph":[
          {"@type":"BreadcrumbList","itemListElement":[]},
          {"@type":["Product"],"name":"Quarter socks","description":"<p>Cushioned &amp; breathable quarter socks knitted from merino wool, with a blister tab at the heel and a seamless toe.</p>",
           "offers":{"@type":"Offer","price":"14"}}]}</script>
        <script type="application/ld+json">{"@type":"Organization","description":"A company that sells socks and gives a pair away for every pair sold."}</script>
        <script type="application/ld+json">not json</script>
        </head><body><h1>Quarter socks</h1><p>$14</p></body></html>"#;

    #[test]
    fn product_descriptions_are_read_from_json_ld_as_text() {
        let d = product_descriptions(PAGE);
        assert_eq!(
            d,
            vec!["Cushioned & breathable quarter socks knitted from merino wool, with a blister tab at the heel and a seamless toe."
                .to_string()]
        );
    }

    #[test]
    fn a_description_is_missing_only_when_the_text_lacks_most_of_its_words() {
        let d = product_descriptions(PAGE);
        assert_eq!(missing_from("Quarter socks $14", &d).len(), 1, "the visible page hid it");
        let shown = "Quarter socks. Cushioned and breathable quarter socks knitted from merino wool, with a blister tab.";
        assert!(missing_from(shown, &d).is_empty(), "the page shows it: not added twice");
        let short = vec!["Red, size M".to_string()];
        assert!(missing_from("", &short).is_empty(), "a label is not a description");
    }

    #[test]
    fn a_thread_is_known_by_its_schema_org_type_in_json_ld_or_microdata() {
        let ld = r#"<html><head><script type="application/ld+json">{"@context":"https://schema.org","@graph":[
            {"@type":"WebPage"},{"@type":["DiscussionForumPosting"],"headline":"Boots"}]}</script></head><body><p>Boots</p></body></html>"#;
        assert!(declares_thread(ld));
        let qa = r#"<script type="application/ld+json">{"@type":"QAPage","mainEntity":{"@type":"Question"}}</script>"#;
        assert!(declares_thread(qa));
        let micro = r#"<body><div itemscope itemtype="http://schema.org/DiscussionForumPosting"><p>Boots</p></div></body>"#;
        assert!(declares_thread(micro));
    }

    #[test]
    fn a_page_that_only_names_a_thread_type_is_not_a_thread() {
        let article = r#"<html><head><script type="application/ld+json">{"@type":"Article","about":"QAPage markup"}</script></head>
            <body><p>Mark a forum thread up as a DiscussionForumPosting and a question as a QAPage.</p></body></html>"#;
        assert!(!declares_thread(article));
        assert!(!declares_thread(PAGE), "a product page");
    }
}

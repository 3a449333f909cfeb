//! What a page states about itself in schema.org JSON-LD, for the content its visible
//! page hides.
//!
//! Why it exists: a shop often puts a product's description in a tab the reader has to
//! open, so the rendered page (without what a reader cannot see) leaves it out, while the
//! page's JSON-LD `Product` carries it whole. The description is added to an extract only
//! when the extract lacks most of its words, so a page that shows it is not doubled.

use std::collections::HashSet;

/// Descriptions shorter than this many words are labels, not descriptions.
const MIN_WORDS: usize = 8;

/// The descriptions of the `Product`s (and `ProductGroup`s) in the JSON-LD of `html`, as
/// plain text, each once, in page order.
pub fn product_descriptions(html: &str) -> Vec<String> {
    let doc = dom_query::Document::from(html);
    let mut out: Vec<String> = vec![];
    for script in doc.select(r#"script[type="application/ld+json"]"#).iter() {
        let Ok(value) = serde_json::from_str::<serde_json::Value>(script.text().trim()) else { continue };
        let mut stack = vec![&value];
        while let Some(v) = stack.pop() {
            match v {
                serde_json::Value::Array(items) => stack.extend(items.iter().rev()),
                serde_json::Value::Object(o) => {
                    let is_product = match o.get("@type") {
                        Some(serde_json::Value::String(t)) => is_product(t),
                        Some(serde_json::Value::Array(ts)) => ts.iter().filter_map(|t| t.as_str()).any(is_product),
                        _ => false,
                    };
                    if let (true, Some(d)) = (is_product, o.get("description").and_then(|d| d.as_str())) {
                        // Descriptions are often HTML: their text, entities decoded.
                        let text = dom_query::Document::from(format!("<body>{d}</body>").as_str()).select("body").text();
                        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
                        if !text.is_empty() && !out.contains(&text) {
                            out.push(text);
                        }
                    }
                    stack.extend(o.values().filter(|v| v.is_object() || v.is_array()));
                }
                _ => {}
            }
        }
    }
    out
}

fn is_product(t: &str) -> bool {
    matches!(t.trim_start_matches("http://schema.org/").trim_start_matches("https://schema.org/"), "Product" | "ProductGroup")
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
}

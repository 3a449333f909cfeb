//! A Discourse thread whose scripts did not run, read from the posts the page preloads.
//!
//! Why it exists: Discourse (the forum software of thousands of communities) sends each
//! thread's first posts as JSON inside the page (`#data-preloaded`) and draws them with
//! scripts from a CDN. When those scripts do not run (their host is not on the allowlist,
//! a bot check stops them), the page a reader gets shows nothing but a spinner. rs-trafilatura
//! knows the JSON, but reads only the posts' text: not who wrote each or when, and every
//! link preview ("onebox") whole, as if the poster had written it. Here the page's body is
//! drawn again from the JSON: each post with an "author · date" line, a link preview as
//! its title alone.

use dom_query::Document;
use serde_json::Value;

use super::words::{find_ci, page_words, squash};

/// `html` with its body drawn from the thread it preloads, when it preloads one and does
/// not show it; `None` otherwise.
pub(super) fn redrawn(html: &str) -> Option<String> {
    find_ci(html.as_bytes(), b"data-preloaded")?;
    let doc = Document::from(html);
    let data = doc.select("#data-preloaded").attr("data-preloaded")?;
    let outer: Value = serde_json::from_str(&data).ok()?;
    // The thread is a JSON string of its own, under "topic_<id>".
    let topic = outer.as_object()?.iter().find(|(k, _)| k.starts_with("topic_"))?.1.as_str()?;
    let topic: Value = serde_json::from_str(topic).ok()?;
    let posts = topic.get("post_stream")?.get("posts")?.as_array()?;
    let page = Document::from("<html><body><article></article></body></html>");
    let thread = page.select("article");
    let article = *thread.nodes().first()?;
    for post in posts {
        let Some(cooked) = post.get("cooked").and_then(Value::as_str).filter(|c| !c.trim().is_empty()) else { continue };
        let author = ["username", "name"].iter().find_map(|k| post.get(*k)?.as_str().filter(|s| !s.is_empty())).unwrap_or("");
        let date = post.get("created_at").and_then(Value::as_str).and_then(shown_date).unwrap_or_default();
        let line = [author, date.as_str()].iter().filter(|s| !s.is_empty()).copied().collect::<Vec<_>>().join(" · ");
        // The posts side by side in one article, as rs-trafilatura keeps a body whole
        // (wrapped one by one, it kept the first alone).
        article.append_html("<p><span></span><br></p>");
        if let Some(span) = article.last_child().and_then(|p| p.first_element_child()) {
            span.set_text(line);
        }
        let post = Document::from(cooked);
        // A link preview is the linked page's words, not the poster's: its title alone.
        for onebox in post.select("aside.onebox").nodes() {
            let title = dom_query::Selection::from(*onebox).select("h3, h4").first().text();
            onebox.set_text(squash(&title));
            // As a paragraph: an `aside` is what rs-trafilatura drops first.
            onebox.rename("p");
            onebox.remove_attr("class");
        }
        thread.append_html(format!("{}<br>", post.select("body").inner_html()));
    }
    let drawn = thread.text();
    // Shown already (the scripts ran): the page as it is.
    let shown = page_words(html);
    let words: Vec<String> = drawn.split(|c: char| !c.is_alphanumeric()).filter(|w| w.len() > 3).map(str::to_lowercase).collect();
    if words.is_empty() || words.iter().filter(|w| shown.contains(*w)).count() * 2 >= words.len() {
        return None;
    }
    let head = doc.select("head").html();
    Some(format!("<!DOCTYPE html><html>{head}<body>{}</body></html>", thread.html()))
}

/// A post's time (`2024-05-03T08:45:44.134Z`) as Discourse shows it: `May 3, 2024, 8:45am`
/// (in UTC). Read by hand: the format is fixed, and a date library would be one more
/// dependency for one line.
fn shown_date(iso: &str) -> Option<String> {
    const MONTHS: [&str; 12] =
        ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];
    let n = |r: std::ops::Range<usize>| iso.get(r)?.parse::<u32>().ok();
    let (year, month, day, hour, minute) = (n(0..4)?, n(5..7)?, n(8..10)?, n(11..13)?, n(14..16)?);
    let name = MONTHS.get(usize::try_from(month).ok()?.checked_sub(1)?)?;
    if day == 0 || day > 31 || hour > 23 || minute > 59 {
        return None;
    }
    let (h12, half) = (if hour % 12 == 0 { 12 } else { hour % 12 }, if hour < 12 { "am" } else { "pm" });
    Some(format!("{name} {day}, {year}, {h12}:{minute:02}{half}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Discourse page as a reader gets it when its scripts do not run: a spinner, and
    /// the thread as JSON in an attribute.
    fn shell(posts: &str) -> String {
        let topic = serde_json::json!({ "post_stream": { "posts": serde_json::from_str::<Value>(posts).unwrap_or_default() } });
        let outer = serde_json::json!({ "topic_42": topic.to_string(), "site": "{}" });
        let attr = outer.to_string().replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;").replace('>', "&gt;");
        format!(
            r#"<html><head><title>Boots for wet winters - Trail Talk</title></head><body><section id="d-splash">Loading…</section>
            <div class="hidden" id="data-preloaded" data-preloaded="{attr}"></div></body></html>"#
        )
    }

    const POSTS: &str = r#"[
        {"username":"mossy_rock","created_at":"2025-01-12T09:05:00.000Z","cooked":"<p>My old boots leak after an hour of wet grass. I walk about fifteen kilometres most weekends on muddy moorland paths from November to March, often in sleet.</p><p>Which boots have kept your feet dry in those conditions, and were they worth the money?</p>"},
        {"username":"fellwalker","created_at":"2025-01-12T13:40:10.000Z","cooked":"<p>Leather with a membrane has kept me dry for six winters. Wax them every month and they stay dry even in deep bog, but they take a few weeks to break in properly.</p><aside class=\"onebox\"><header>shop.example</header><article><h3><a href=\"https://shop.example/boots\">Fell boots, waxed leather</a></h3><p>Buy now and save 20% on every pair this week only</p></article></aside>"}
    ]"#;

    #[test]
    fn a_thread_its_scripts_did_not_draw_is_read_from_its_posts_with_their_authors() {
        let a = super::super::article(&shell(POSTS), "http://127.0.0.1:8080/p/42").expect("a reading");
        assert_eq!(a.page_type, "forum");
        assert_eq!(a.title, "Boots for wet winters", "from the page's head");
        let at = |s: &str| a.text.find(s).unwrap_or_else(|| panic!("no {s:?} in:\n{}", a.text));
        let order = [
            at("mossy_rock · January 12, 2025, 9:05am"),
            at("My old boots leak"),
            at("fellwalker · January 12, 2025, 1:40pm"),
            at("Leather with a membrane"),
            at("Fell boots, waxed leather"),
        ];
        assert!(order.windows(2).all(|w| w[0] < w[1]), "in the thread's order:\n{}", a.text);
        assert!(!a.text.contains("Buy now"), "a link preview is its title alone:\n{}", a.text);
    }

    #[test]
    fn a_thread_the_page_shows_or_a_page_without_one_is_left_alone() {
        let posts: Vec<Value> = serde_json::from_str(POSTS).unwrap_or_default();
        let drawn: String = posts.iter().filter_map(|p| p["cooked"].as_str()).collect();
        let shown = shell(POSTS).replace("Loading…", &drawn);
        assert!(redrawn(&shown).is_none(), "the scripts ran");
        assert!(redrawn("<html><body><p>data-preloaded is an attribute name</p></body></html>").is_none());
        assert!(redrawn(&shell("[]")).is_none(), "no posts");
        let broken = shell(POSTS).replace("topic_42", "topic_42x").replace("post_stream", "stream");
        assert!(redrawn(&broken).is_none(), "not a thread");
    }

    #[test]
    fn post_times_are_shown_as_discourse_shows_them() {
        assert_eq!(shown_date("2024-05-03T08:45:44.134Z").as_deref(), Some("May 3, 2024, 8:45am"));
        assert_eq!(shown_date("2024-12-31T00:07:00Z").as_deref(), Some("December 31, 2024, 12:07am"));
        assert_eq!(shown_date("2024-13-01T10:00:00Z"), None);
        assert_eq!(shown_date("yesterday"), None);
    }
}

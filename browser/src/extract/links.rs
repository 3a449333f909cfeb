//! The links of an extract's Markdown made absolute against the page, so they still lead
//! somewhere once the extract is out of the browser.

/// Markdown links and images made absolute against the page's address, so an extract
/// still points at the right pages once it is out of the browser.
pub(super) fn absolute_links(md: &str, page: &str) -> String {
    let Ok(base) = url::Url::parse(page) else { return md.to_string() };
    let mut out = String::with_capacity(md.len());
    let mut rest = md;
    while let Some(i) = rest.find("](") {
        out.push_str(&rest[..i + 2]);
        rest = &rest[i + 2..];
        let end = rest.find(')').unwrap_or(rest.len());
        let target = &rest[..end];
        match base.join(target.trim()) {
            Ok(u) if !target.contains(char::is_whitespace) => out.push_str(u.as_str()),
            _ => out.push_str(target),
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_links_become_absolute() {
        assert_eq!(
            absolute_links("see [a](/x.html) and [b](https://o.example/y) ![i](p.png)", "http://h.example/d/page"),
            "see [a](http://h.example/x.html) and [b](https://o.example/y) ![i](http://h.example/d/p.png)"
        );
    }
}

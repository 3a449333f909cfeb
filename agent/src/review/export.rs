//! `errand recordings export`: a recording as a Chrome DevTools Recorder user flow.

use super::*;

/// Recorder selectors for a recorded locator, most specific first: the CSS path (one part
/// per shadow root, as the Recorder writes pierced selectors), `aria/Name[role="r"]`, and
/// `text/…` when the element shows text.
fn selectors(loc: &serde_json::Value) -> Vec<flow::Selector> {
    let mut out = vec![];
    let css: Vec<String> =
        loc["css"].as_array().map(|a| a.iter().filter_map(|c| c.as_str().map(str::to_string)).collect()).unwrap_or_default();
    if !css.is_empty() {
        out.push(flow::Selector::Parts(css));
    }
    let (role, name) = (loc["role"].as_str().unwrap_or_default(), loc["name"].as_str().unwrap_or_default());
    if !name.is_empty() {
        out.push(flow::Selector::Parts(vec![if role.is_empty() {
            format!("aria/{name}")
        } else {
            format!("aria/{name}[role=\"{role}\"]")
        }]));
    }
    if let Some(t) = loc["text"].as_str().filter(|t| !t.is_empty() && t.len() < 64) {
        out.push(flow::Selector::Parts(vec![format!("text/{t}")]));
    }
    out
}

/// The recording as a @puppeteer/replay `UserFlow`, and the steps that have no
/// equivalent there (history moves, extracts, files), named.
pub fn user_flow(dir: &Path) -> Result<(flow::UserFlow, Vec<String>)> {
    use flow::{Common, Step as F};
    let rec = crate::model::replay::load(dir).map_err(|e| anyhow::anyhow!(e))?;
    let mut steps = vec![F::SetViewport {
        width: 1280,
        height: 720,
        device_scale_factor: 1.0,
        is_mobile: false,
        has_touch: false,
        is_landscape: true,
        common: Common::default(),
    }];
    let mut skipped = vec![];
    if let Some(start) = &rec.start {
        steps.push(F::Navigate { url: start.clone(), common: Common { asserted_events: tools::navigation(start), ..Common::default() } });
    }
    let mut here = rec.start.clone().unwrap_or_default();
    for s in &rec.steps {
        let before = std::mem::replace(&mut here, s.url.clone());
        let loc = s.locator.clone().unwrap_or_default();
        // Inside a frame: the Recorder's child-index path (recorded since errand knows it).
        let in_frame = loc["frames"].as_array().is_some_and(|f| !f.is_empty());
        let frame: Option<Vec<usize>> = serde_json::from_value(loc["frame_index"].clone()).ok().filter(|f: &Vec<usize>| !f.is_empty());
        if in_frame && frame.is_none() {
            skipped.push(format!("step {} ({}) acts inside a frame, and this recording predates frame indexes", s.n, s.tool));
            continue;
        }
        let at = Common { frame: frame.clone(), ..Common::default() };
        let offset = serde_json::from_value::<[f64; 2]>(loc["offset"].clone()).unwrap_or([1.0, 1.0]);
        let moved = s.url != before && !s.url.is_empty() && frame.is_none();
        let recorded = tools::Recorded { args: &s.args, selectors: selectors(&loc), at, offset, url: &s.url, moved };
        match tools::export(&s.tool, &recorded) {
            Some(more) => steps.extend(more),
            None => skipped.push(format!("step {} ({}) has no Recorder equivalent", s.n, s.tool)),
        }
    }
    Ok((flow::UserFlow { title: rec.task, timeout: None, selector_attribute: None, steps }, skipped))
}

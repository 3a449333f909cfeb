//! Tabs and navigation: load a URL in a tab (refused up front when the allowlist
//! refuses it), open and close tabs, and name the tabs an action opened.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::{Browser, BrowserError, Change, Result, Tab};

impl Browser {
    pub(super) async fn navigate(&self, url: &str) -> Result<()> {
        if let Some(reason) = self.judge(url) {
            self.blocked.lock().unwrap_or_else(|p| p.into_inner()).push(crate::Blocked {
                url: url.to_string(),
                reason: reason.clone(),
                layer: crate::guard::Layer::Cdp,
                source: "navigate".into(),
                resource: "Document".into(),
            });
            return Err(BrowserError::Blocked { url: url.to_string(), reason });
        }
        self.navigate_in(&self.active_tab()?, url).await
    }

    /// Start loading `url` (already judged) in `tab`.
    pub(crate) async fn navigate_in(&self, tab: &Tab, url: &str) -> Result<()> {
        let session = tab.session.clone().unwrap_or_default();
        self.mark_navigating(&tab.target_id);
        let r = self.cdp.raw(Some(&session), "Page.navigate", json!({"url": url})).await?;
        if let Some(e) = r["errorText"].as_str().filter(|e| !e.is_empty()) {
            self.st().navigating.remove(&tab.target_id);
            return Err(BrowserError::Action(format!("could not load {url}: {e}")));
        }
        if r.get("loaderId").is_none() {
            // Same-document navigation (a fragment): nothing will load.
            self.st().navigating.remove(&tab.target_id);
        }
        Ok(())
    }

    pub(super) fn mark_navigating(&self, frame: &str) {
        self.st().navigating.insert(frame.to_string(), Instant::now());
    }

    pub(super) async fn new_tab(&self) -> Result<usize> {
        let tab = self.open_tab().await?;
        let mut st = self.st();
        let idx = st.tabs.iter().position(|t| t.target_id == tab.target_id).unwrap_or(0);
        st.active = idx;
        st.changes.retain(|c| !matches!(c, Change::NewTab { .. }));
        Ok(idx)
    }

    /// Open a blank tab in errand's browser context without switching to it.
    pub(crate) async fn open_tab(&self) -> Result<Tab> {
        let ctx = self.st().context.clone();
        let mut p = json!({"url": "about:blank"});
        if let Some(c) = ctx {
            p["browserContextId"] = json!(c);
        }
        let r = self.cdp.raw(None, "Target.createTarget", p).await?;
        let id = r["targetId"].as_str().unwrap_or_default().to_string();
        let ok = self
            .wait_until(self.opts.call_timeout, || {
                let st = self.st();
                st.tabs.iter().any(|t| t.target_id == id && t.session.as_ref().is_some_and(|s| st.ready.contains(s)))
                    && st.frames.contains_key(&id)
            })
            .await;
        if !ok {
            return Err(BrowserError::Action("the new tab did not open in time".into()));
        }
        let st = self.st();
        st.tabs.iter().find(|t| t.target_id == id).cloned().ok_or_else(|| BrowserError::Action("the new tab closed at once".into()))
    }

    /// Close a tab and wait (bounded) until errand has seen it go.
    pub(crate) async fn close_target(&self, target: &str) -> Result<()> {
        // What the page sends as it goes (pagehide beacons, keepalive fetches) is
        // declined unasked from now on.
        self.st().closing_tabs.insert(target.to_string());
        self.cdp.raw(None, "Target.closeTarget", json!({"targetId": target})).await?;
        self.wait_until(Duration::from_secs(5), || !self.st().tabs.iter().any(|x| x.target_id == target)).await;
        Ok(())
    }

    /// Fill in the address of tabs the action opened: a popup's target starts at
    /// about:blank (or nothing) and learns its URL a moment later. Waits at most 2 s.
    pub(super) async fn name_new_tabs(&self, changes: &mut [Change]) {
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        loop {
            let tabs = self.tabs_fresh().await;
            let mut missing = false;
            for c in changes.iter_mut() {
                if let Change::NewTab { index, url } = c {
                    if let Some(t) = tabs.iter().find(|t| t.0 == *index) {
                        if !t.2.is_empty() && t.2 != "about:blank" {
                            *url = t.2.clone();
                        }
                    }
                    missing |= url.is_empty() || url == "about:blank";
                }
            }
            if !missing || std::time::Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// ` "Title" url` for narration, leaving out what is not known yet (a tab still loading
/// has no title, or Chromium's stand-in, and may have no address).
pub(super) fn tab_label(title: &str, url: &str) -> String {
    let mut s = String::new();
    if !crate::title_is_address(title.trim(), url) {
        s.push_str(&format!(" \"{}\"", title.trim()));
    }
    if !url.is_empty() {
        s.push_str(&format!(" {url}"));
    } else if s.is_empty() {
        s.push_str(" (not loaded yet)");
    }
    s
}

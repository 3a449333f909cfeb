//! Element resolution: what an action's target (a snapshot ref, a CSS selector or
//! visible text) names, as a frame and the walker's number for the element there.

use serde_json::{json, Value};

use super::{ElementTarget, Locator};
use crate::{Browser, BrowserError, Result};

impl Browser {
    /// Find the frame and walker id of an element target.
    pub async fn resolve(&self, target: &ElementTarget) -> Result<(String, i64)> {
        match target {
            ElementTarget::Ref(r) => self.resolve_ref(r),
            ElementTarget::Selector(s) => self.find_in_frames(&format!("__errand.find({})", json!(s)), &target.to_string()).await,
            ElementTarget::Text(t) => self.find_in_frames(&format!("__errand.findText({})", json!(t)), &target.to_string()).await,
        }
    }

    pub(super) async fn find_in_frames(&self, expr: &str, what: &str) -> Result<(String, i64)> {
        let tab = self.active_tab()?;
        for (frame, _, _) in self.frames_of(&tab.target_id) {
            let Ok(r) = self.eval_in_frame(&frame, expr).await else { continue };
            if let Some(e) = r["error"].as_str() {
                return Err(BrowserError::Action(e.to_string()));
            }
            if let Some(id) = r["id"].as_i64() {
                return Ok((frame, id));
            }
        }
        Err(BrowserError::NotFound(what.to_string()))
    }

    /// Public ref of an element target (minting one for selector/text targets).
    pub async fn ref_of(&self, target: &ElementTarget) -> Result<String> {
        let (frame, local) = self.resolve(target).await?;
        Ok(self.ref_for(&frame, local))
    }
}

pub(crate) fn check_stale(r: &Value, target: &ElementTarget) -> Result<()> {
    if r["stale"] == Value::Bool(true) {
        return Err(match target {
            ElementTarget::Ref(x) => BrowserError::StaleRef(x.clone()),
            other => BrowserError::NotFound(other.to_string()),
        });
    }
    Ok(())
}

pub(crate) fn locator_of(r: &Value) -> Locator {
    serde_json::from_value(r["loc"].clone()).unwrap_or_default()
}

//! Input as a person gives it: an element scrolled into view and checked for what covers
//! it, then real mouse events at its centre; keys and chords as key events; and the
//! durable [`Locator`] of what was touched, so a replay can find it again.

use std::time::Duration;

use serde_json::{json, Value};

use crate::actions::{check_stale, locator_of, ElementTarget, Locator};
use crate::{Browser, BrowserError, Result};

impl Browser {
    /// Scroll an element into view and return its centre in top-level coordinates,
    /// refusing if another element covers it.
    pub(crate) async fn point(&self, frame: &str, local: i64, target: &ElementTarget) -> Result<(f64, f64, Locator)> {
        let r = self.eval_in_frame(frame, &format!("__errand.prepare({local})")).await?;
        check_stale(&r, target)?;
        let mut loc = locator_of(&r);
        if r["hidden"] == Value::Bool(true) {
            return Err(BrowserError::Action(format!("{target} ({} \"{}\") is not visible", loc.role, loc.name)));
        }
        if r["ok"] == Value::Bool(false) {
            return Err(BrowserError::Action(format!(
                "{target} ({} \"{}\") is covered by {}; close or scroll past it first",
                loc.role,
                loc.name,
                r["cover"].as_str().unwrap_or("another element")
            )));
        }
        let (ox, oy) = self.frame_offset(frame).await?;
        tracing::debug!(target: "errand::input", "press point in frame {frame}: {} {} in the frame, which is at {ox} {oy}", r["x"], r["y"]);
        self.place(&mut loc, frame).await;
        let half = |k: &str| (r[k].as_f64().unwrap_or(0.0) * 5.0).round() / 10.0;
        loc.offset = Some([half("w"), half("h")]);
        Ok((r["x"].as_f64().unwrap_or(0.0) + ox, r["y"].as_f64().unwrap_or(0.0) + oy, loc))
    }

    pub(crate) async fn click(&self, target: &ElementTarget) -> Result<(Locator, String)> {
        let (frame, local) = self.resolve(target).await?;
        let (mut x, mut y, mut loc) = self.point(&frame, local, target).await?;
        let session = self.active_tab()?.session.unwrap_or_default();
        for attempt in 0.. {
            self.mouse(&session, "mouseMoved", x, y, 0).await?;
            self.mouse(&session, "mousePressed", x, y, 1).await?;
            self.mouse(&session, "mouseReleased", x, y, 1).await?;
            // A press that went astray is sent again, a few times (see press_arrived).
            if self.press_arrived(&frame, attempt).await || attempt >= 4 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            (x, y, loc) = self.point(&frame, local, target).await?;
        }
        let desc = format!("{} \"{}\"", loc.role, loc.name);
        Ok((loc, desc))
    }

    pub(crate) async fn mouse(&self, session: &str, kind: &str, x: f64, y: f64, clicks: i64) -> Result<()> {
        let mut p = json!({"type": kind, "x": x, "y": y});
        if kind != "mouseMoved" {
            p["button"] = json!("left");
            p["clickCount"] = json!(clicks);
            p["buttons"] = json!(if kind == "mousePressed" { 1 } else { 0 });
        }
        self.cdp.raw(Some(session), "Input.dispatchMouseEvent", p).await?;
        Ok(())
    }

    /// Top-left of a frame's viewport in top-level coordinates. Box models come in the
    /// coordinates of the owner's local root, so only out-of-process boundaries add up.
    pub(crate) async fn frame_offset(&self, frame: &str) -> Result<(f64, f64)> {
        let (mut x, mut y) = (0.0, 0.0);
        let mut cur = frame.to_string();
        loop {
            let parent = self.st().frames.get(&cur).and_then(|f| f.parent.clone());
            let Some(parent) = parent else { break };
            let psession = self.st().frames.get(&parent).map(|f| f.session.clone()).unwrap_or_default();
            let owner = self.cdp.raw(Some(&psession), "DOM.getFrameOwner", json!({"frameId": cur})).await?;
            let node = owner["backendNodeId"].clone();
            let _ = self.cdp.raw(Some(&psession), "DOM.scrollIntoViewIfNeeded", json!({"backendNodeId": node})).await;
            let bm = self
                .cdp
                .raw(Some(&psession), "DOM.getBoxModel", json!({"backendNodeId": node}))
                .await
                .map_err(|_| BrowserError::Action("the element's frame is not visible".into()))?;
            x += bm["model"]["content"][0].as_f64().unwrap_or(0.0);
            y += bm["model"]["content"][1].as_f64().unwrap_or(0.0);
            // Jump to the local root of the parent's session.
            let st = self.st();
            let mut root = parent.clone();
            while let Some(p) = st.frames.get(&root).and_then(|f| f.parent.clone()) {
                if st.frames.get(&p).map(|f| &f.session) != Some(&psession) {
                    break;
                }
                root = p;
            }
            cur = root;
        }
        Ok((x, y))
    }

    /// Record in a locator the frames that hold the element: as CSS paths (errand's own
    /// replay) and as child indexes (Chrome's Recorder).
    pub(crate) async fn place(&self, loc: &mut Locator, frame: &str) {
        loc.frames = self.frame_path(frame).await;
        loc.frame_index = self.frame_index_path(frame);
    }

    /// Locators of the iframe elements that hold `frame`, outermost first.
    pub(crate) async fn frame_path(&self, frame: &str) -> Vec<Vec<String>> {
        let mut path = vec![];
        let mut cur = frame.to_string();
        loop {
            let parent = self.st().frames.get(&cur).and_then(|f| f.parent.clone());
            let Some(p) = parent else { break };
            let css = self.owner_css(&cur, &p).await.unwrap_or_default();
            path.push(css);
            cur = p;
        }
        path.reverse();
        path
    }

    pub(crate) async fn owner_css(&self, child: &str, parent: &str) -> Option<Vec<String>> {
        // Make sure the parent's world and walker exist, then ask it for the owner's path.
        self.eval_in_frame(parent, "0").await.ok()?;
        let (psession, world) = {
            let st = self.st();
            let f = st.frames.get(parent)?;
            (f.session.clone(), f.world?)
        };
        let owner = self.cdp.raw(Some(&psession), "DOM.getFrameOwner", json!({"frameId": child})).await.ok()?;
        let obj = self
            .cdp
            .raw(Some(&psession), "DOM.resolveNode", json!({"backendNodeId": owner["backendNodeId"], "executionContextId": world}))
            .await
            .ok()?;
        let r = self
            .cdp
            .raw(
                Some(&psession),
                "Runtime.callFunctionOn",
                json!({"functionDeclaration": "function(){return __errand.locatorOf(this).css}", "objectId": obj["object"]["objectId"], "returnByValue": true}),
            )
            .await
            .ok()?;
        serde_json::from_value(r["result"]["value"].clone()).ok()
    }

    pub(crate) async fn locator_at(&self, frame: &str, local: i64) -> Option<Locator> {
        let v = self.eval_in_frame(frame, &format!("__errand.locator({local})")).await.ok()?;
        let mut loc: Locator = serde_json::from_value(v).ok()?;
        self.place(&mut loc, frame).await;
        Some(loc)
    }

    /// Press a key or a chord such as `Enter`, `Tab`, `Control+a`, `Shift+ArrowDown`.
    pub(crate) async fn press(&self, session: &str, chord: &str) -> Result<()> {
        let parts: Vec<&str> = chord.split('+').map(str::trim).filter(|s| !s.is_empty()).collect();
        let Some((key, mods)) = parts.split_last() else {
            return Err(BrowserError::Action("press needs a key, e.g. Enter".into()));
        };
        let mut bits = 0;
        for m in mods {
            bits |= match m.to_ascii_lowercase().as_str() {
                "alt" => 1,
                "control" | "ctrl" => 2,
                "meta" | "cmd" | "command" => 4,
                "shift" => 8,
                other => return Err(BrowserError::Action(format!("unknown modifier {other}; use Control, Shift, Alt or Meta"))),
            };
        }
        self.key(session, key, bits).await
    }

    pub(crate) async fn key(&self, session: &str, key: &str, modifiers: i64) -> Result<()> {
        let key = match key.to_ascii_lowercase().as_str() {
            "esc" => "Escape",
            "return" => "Enter",
            "space" => " ",
            "up" => "ArrowUp",
            "down" => "ArrowDown",
            "left" => "ArrowLeft",
            "right" => "ArrowRight",
            "del" => "Delete",
            _ => key,
        };
        let def = chromiumoxide::keys::get_key_definition(key).ok_or_else(|| {
            BrowserError::Action(format!("unknown key {key:?}; use names like Enter, Tab, Escape, ArrowDown, PageDown, a"))
        })?;
        let text = if modifiers & !8 != 0 { None } else { def.text.or(if def.key.chars().count() == 1 { Some(def.key) } else { None }) };
        let mut down = json!({
            "type": if text.is_some() { "keyDown" } else { "rawKeyDown" },
            "key": def.key, "code": def.code, "windowsVirtualKeyCode": def.key_code, "modifiers": modifiers,
        });
        if let Some(t) = text {
            down["text"] = json!(if t == "\r" { "\r" } else { t });
            down["unmodifiedText"] = down["text"].clone();
        }
        if def.key == "a" && modifiers & 2 != 0 {
            down["commands"] = json!(["selectAll"]);
        }
        self.cdp.raw(Some(session), "Input.dispatchKeyEvent", down).await?;
        self.cdp
            .raw(
                Some(session),
                "Input.dispatchKeyEvent",
                json!({"type": "keyUp", "key": def.key, "code": def.code, "windowsVirtualKeyCode": def.key_code, "modifiers": modifiers}),
            )
            .await?;
        Ok(())
    }
}

//! Input as a person gives it: an element scrolled into view and checked for what covers
//! it, then real mouse events at its centre; keys and chords as key events; and the
//! durable [`Locator`] of what was touched, so a replay can find it again.

use std::time::Duration;

use serde_json::{json, Value};

use super::resolve::{check_stale, locator_of};
use super::{ElementTarget, Locator};
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
        let session = self.active_tab()?.session.unwrap_or_default();
        let mut loc = Locator::default();
        self.press_at(&session, &frame, Press::LEFT, async || {
            let (x, y, l) = self.point(&frame, local, target).await?;
            loc = l;
            Ok((x, y))
        })
        .await?;
        let desc = format!("{} \"{}\"", loc.role, loc.name);
        Ok((loc, desc))
    }

    /// Move to a point and press there as `press` says; the point is asked for anew before
    /// each try. A press that went astray (see [`Browser::press_arrived`]) is sent again,
    /// 100 ms apart; after three astray presses into an out-of-process frame the frame is
    /// given the press in the page (`synthPress`). errand's own clicks and Recorder flows'
    /// both come here.
    pub(crate) async fn press_at(
        &self,
        session: &str,
        frame: &str,
        press: Press<'_>,
        mut point: impl AsyncFnMut() -> Result<(f64, f64)>,
    ) -> Result<()> {
        let Press { button, count, hold, modifiers } = press;
        let bit = button_bit(button);
        for attempt in 0.. {
            let (x, y) = point().await?;
            if attempt >= IN_PAGE_AFTER && self.out_of_process(frame) {
                // See `synthPress` in walker.js: the browser keeps sending these presses
                // to the frame's parent, so the frame is given the press itself.
                let (ox, oy) = self.frame_offset(frame).await?;
                let (fx, fy) = (x - ox, y - oy);
                tracing::warn!(target: "errand::input", "{attempt} presses at {x} {y} did not reach frame {frame}; firing the press in the frame at {fx} {fy}");
                let r = self
                    .eval_in_frame(frame, &format!("__errand.synthPress({fx}, {fy}, {}, {bit}, {count}, {modifiers})", json!(button)))
                    .await?;
                if r != Value::Bool(true) {
                    return Err(BrowserError::Action(format!(
                        "the press at {fx:.0} {fy:.0} did not reach its frame, which has nothing at that point"
                    )));
                }
                break;
            }
            let moved = Mouse { kind: "mouseMoved", x, y, button: "none", buttons: 0, clicks: 0, modifiers };
            let pressed = |n| Mouse { kind: "mousePressed", x, y, button, buttons: bit, clicks: n, modifiers };
            let released = |n| Mouse { kind: "mouseReleased", x, y, button, buttons: 0, clicks: n, modifiers };
            if hold.is_zero() {
                // Sent together and answered together: DevTools hands one session's input
                // to the page in the order it came, and a press flushes the move that
                // waits for the next frame, so this saves a round trip and a frame per
                // event without changing what the page sees.
                let mut all = vec![moved];
                for n in 1..=count {
                    all.extend([pressed(n), released(n)]);
                }
                futures::future::try_join_all(all.into_iter().map(|m| self.mouse(session, m))).await?;
            } else {
                self.mouse(session, moved).await?;
                for n in 1..=count {
                    self.mouse(session, pressed(n)).await?;
                    tokio::time::sleep(hold).await;
                    self.mouse(session, released(n)).await?;
                }
            }
            if self.press_arrived(frame, attempt).await || attempt >= 4 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }

    /// Move the mouse to a point without pressing.
    pub(crate) async fn hover_at(&self, session: &str, x: f64, y: f64) -> Result<()> {
        self.mouse(session, Mouse { kind: "mouseMoved", x, y, button: "none", buttons: 0, clicks: 0, modifiers: 0 }).await
    }

    /// One `Input.dispatchMouseEvent`.
    async fn mouse(&self, session: &str, m: Mouse<'_>) -> Result<()> {
        let mut p = json!({"type": m.kind, "x": m.x, "y": m.y, "modifiers": m.modifiers, "buttons": m.buttons});
        if m.kind != "mouseMoved" {
            p["button"] = json!(m.button);
            p["clickCount"] = json!(m.clicks);
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

    /// Whether the element's document saw the press just sent (armed when its point was
    /// taken). A press aimed into an out-of-process frame not yet taking input goes to
    /// its parent instead; only such frames can lose one, so only they pay for the check.
    /// A document that changed or went away saw it.
    pub(crate) async fn press_arrived(&self, frame: &str, attempt: u32) -> bool {
        let seen = !self.out_of_process(frame) || self.eval_in_frame(frame, "__errand.pressed()").await.map(|v| v != false).unwrap_or(true);
        tracing::debug!(target: "errand::input", "press in frame {frame} seen: {seen} (attempt {attempt})");
        seen
    }

    /// Press and release a key (a name such as `Enter`, `Esc`, `ArrowDown`, `a`) with the
    /// modifiers held.
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
        self.key_event(session, key, true, modifiers).await?;
        self.key_event(session, key, false, modifiers).await?;
        Ok(())
    }

    /// Press or release one key (a `KeyboardEvent.key` value such as `a`, `Enter`, `Tab`,
    /// or a code such as `KeyA`) with the modifiers held, as a US keyboard sends it.
    /// Returns the key's modifier bit, if it is a modifier, so a caller can track what is
    /// held. errand's own keys and Recorder flows' both come here.
    pub(crate) async fn key_event(&self, session: &str, key: &str, down: bool, modifiers: i64) -> Result<i64> {
        let layout = chromiumoxide::keys::USKEYBOARD_LAYOUT;
        let def = layout.iter().find(|d| d.key == key).or_else(|| layout.iter().find(|d| d.code == key)).ok_or_else(|| {
            BrowserError::Action(format!("unknown key {key:?}; use names like Enter, Tab, Escape, ArrowDown, PageDown, a"))
        })?;
        let bit = match def.key {
            "Alt" => 1,
            "Control" => 2,
            "Meta" => 4,
            "Shift" => 8,
            _ => 0,
        };
        let location = if def.code.ends_with("Left") && bit != 0 {
            1
        } else if def.code.ends_with("Right") && bit != 0 {
            2
        } else if def.code.starts_with("Numpad") {
            3
        } else {
            0
        };
        // With Shift held, a letter named by its code (`KeyT`) is its capital, key and text;
        // named by its key (`t`) it stays as it is. That is Puppeteer's US layout.
        let by_code = def.key != key && def.code == key;
        let shifted = (by_code && modifiers & 8 != 0 && def.key.len() == 1 && def.key.chars().all(|c| c.is_ascii_lowercase()))
            .then(|| def.key.to_ascii_uppercase());
        let key = shifted.as_deref().unwrap_or(def.key);
        let mut p = json!({"key": key, "code": def.code, "windowsVirtualKeyCode": def.key_code, "modifiers": modifiers, "location": location, "isKeypad": location == 3});
        if down {
            // Text only without Control/Alt/Meta held, as a keyboard types.
            let text = shifted
                .as_deref()
                .or(def.text)
                .or(if def.key.chars().count() == 1 { Some(def.key) } else { None })
                .filter(|_| modifiers & !8 == 0);
            match text {
                Some(t) => {
                    p["type"] = json!("keyDown");
                    p["text"] = json!(t);
                    p["unmodifiedText"] = json!(t);
                }
                None => p["type"] = json!("rawKeyDown"),
            }
            // Headless Chromium maps no shortcut to an editing command by itself.
            if def.key == "a" && modifiers & 2 != 0 {
                p["commands"] = json!(["selectAll"]);
            }
        } else {
            p["type"] = json!("keyUp");
        }
        self.cdp.raw(Some(session), "Input.dispatchKeyEvent", p).await?;
        Ok(bit)
    }
}

/// How many presses into an out-of-process frame go astray before errand gives the
/// frame the press in the page instead (see `press_at`).
const IN_PAGE_AFTER: u32 = 3;

/// A press as a person makes it: which button, how many clicks, each held how long, with
/// which modifiers (Input's bits: Alt 1, Control 2, Meta 4, Shift 8).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Press<'a> {
    pub button: &'a str,
    pub count: i64,
    pub hold: Duration,
    pub modifiers: i64,
}

impl Press<'_> {
    /// One plain left click.
    pub const LEFT: Press<'static> = Press { button: "left", count: 1, hold: Duration::ZERO, modifiers: 0 };
}

/// One mouse event as `Input.dispatchMouseEvent` takes it.
struct Mouse<'a> {
    kind: &'a str,
    x: f64,
    y: f64,
    button: &'a str,
    buttons: i64,
    clicks: i64,
    modifiers: i64,
}

/// Mouse buttons as the Input domain names them, with their `buttons` bit.
fn button_bit(button: &str) -> i64 {
    match button {
        "left" => 1,
        "right" => 2,
        "middle" => 4,
        "back" => 8,
        "forward" => 16,
        _ => 0,
    }
}

//! The page state: what the model sees of the browser, compact and with stable refs.
//!
//! One in-page walk per frame (see `walker.js`), run in errand's isolated world, lists
//! every visible interactive element and a trimmed text outline. Frames are walked
//! concurrently; an out-of-process iframe is walked through its own session, and its
//! elements' positions are moved into top-level coordinates with the frame owner's box.
//!
//! Refs (`e12`) are minted here, never reused within a session, and bound to the exact DOM
//! node and document they came from: when that document is gone or the node is detached,
//! the ref is *stale* and an action on it fails with [`BrowserError::StaleRef`]; it can
//! never land on another element.

use std::collections::HashMap;

use futures::future::join_all;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::js::Snapshot;
use crate::{Browser, BrowserError, Change, Result};

mod render;

/// Size budgets for the page state.
#[derive(Debug, Clone)]
pub struct StateOptions {
    /// Characters of page text in the outline.
    pub max_text: usize,
    /// Elements listed before the rest are summarised as "N more below".
    pub max_elements: usize,
}

impl Default for StateOptions {
    fn default() -> Self {
        StateOptions { max_text: 1200, max_elements: 250 }
    }
}

/// Where a ref points: a node in one document of one frame.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct RefKey {
    pub frame: String,
    pub generation: u64,
    pub local: i64,
}

#[derive(Debug, Default)]
pub(crate) struct RefTable {
    next: u64,
    by_key: HashMap<RefKey, u64>,
    by_ref: HashMap<u64, RefKey>,
}

impl RefTable {
    pub fn mint(&mut self, key: RefKey) -> u64 {
        if let Some(r) = self.by_key.get(&key) {
            return *r;
        }
        self.next += 1;
        self.by_key.insert(key.clone(), self.next);
        self.by_ref.insert(self.next, key);
        self.next
    }
    pub fn get(&self, r: u64) -> Option<&RefKey> {
        self.by_ref.get(&r)
    }
}

/// Parse `e12` (or `12`) into its number.
pub fn parse_ref(s: &str) -> Option<u64> {
    let s = s.trim();
    let s = s.strip_prefix('e').or_else(|| s.strip_prefix('E')).unwrap_or(s);
    s.parse().ok()
}

/// One interactive element as shown to the model.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Element {
    #[serde(rename = "ref")]
    pub ref_: String,
    pub role: String,
    pub name: String,
    pub state: String,
    /// 0 in the viewport, -1 above, 1 below, 2 beside.
    pub where_: i8,
    /// Centre in top-level viewport coordinates.
    pub x: f64,
    pub y: f64,
    pub href: Option<String>,
    /// Index into `PageState::frames` (0 is the main frame).
    pub frame: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FrameSummary {
    pub url: String,
    pub title: String,
    pub cross_origin: bool,
}

/// The whole page state; [`PageState::render`] gives the model's text.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PageState {
    pub url: String,
    pub title: String,
    pub tabs: Vec<(usize, String, String, bool)>,
    pub scroll: (i64, i64, i64, i64),
    pub viewport: (i64, i64),
    pub elements: Vec<Element>,
    pub frames: Vec<FrameSummary>,
    pub text: String,
    pub text_more: usize,
    pub flags: Vec<String>,
    pub dialogs: Vec<String>,
    pub blocked: Vec<String>,
    pub max_elements: usize,
    pub ready: String,
    /// Why this is not the page asked for: `HTTP 404 Not Found`, `net::ERR_…`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// The document's HTTP status (0 when unknown: `about:`, `data:`, a cached page).
    #[serde(default)]
    pub status: u16,
}

struct FrameWalk {
    frame: String,
    parent: Option<String>,
    url: String,
    generation: u64,
    offset: Option<(f64, f64)>,
    data: Option<Snapshot>,
}

impl Browser {
    /// Build the page state of the active tab.
    pub async fn state(&self, opts: &StateOptions) -> Result<PageState> {
        let tab = self.active_tab()?;
        let frames = self.frames_of(&tab.target_id);
        // A JSON string crosses the protocol much faster than a structured value.
        let call = format!("JSON.stringify(__errand.snapshot({}))", json!({"maxText": opts.max_text}));
        // Walk every frame and fetch every child frame's box, all at once.
        let main_id = tab.target_id.as_str();
        let walks = frames.iter().map(|(id, _, url)| {
            let call = &call;
            async move {
                if id != main_id && (url.starts_with("chrome-error:") || url.starts_with("about:blank")) {
                    return None;
                }
                let t = std::time::Instant::now();
                let r = self.eval_in_frame(id, call).await;
                tracing::trace!(target: "errand::state", "walk {url:?} {:?} ok={}", t.elapsed(), r.is_ok());
                r.ok().and_then(|v| v.as_str().and_then(|s| serde_json::from_str::<Snapshot>(s).ok()))
            }
        });
        let t0 = std::time::Instant::now();
        let datas = join_all(walks).await;
        let t_walk = t0.elapsed();
        // Only frames that show elements (and the frames around them) need their position:
        // ad and error frames usually show none, and each box costs two round trips.
        let mut needed: std::collections::HashSet<&str> = std::collections::HashSet::new();
        let parent_of: HashMap<&str, Option<&str>> = frames.iter().map(|(id, p, _)| (id.as_str(), p.as_deref())).collect();
        for ((id, _, _), data) in frames.iter().zip(&datas) {
            let shows = data.as_ref().is_some_and(|d| d.rows.iter().any(|r| r.role != "iframe"));
            if shows {
                let mut cur = Some(id.as_str());
                while let Some(c) = cur {
                    if !needed.insert(c) {
                        break;
                    }
                    cur = parent_of.get(c).copied().flatten();
                }
            }
        }
        let boxes = frames.iter().map(|(id, parent, _)| {
            let wanted = needed.contains(id.as_str());
            async move {
                match parent {
                    None => Some((0.0, 0.0)),
                    Some(p) if wanted => self.frame_box(id, p).await,
                    Some(_) => None,
                }
            }
        });
        let boxes = join_all(boxes).await;
        let t_box = t0.elapsed();
        let mut walked: Vec<FrameWalk> = frames
            .iter()
            .zip(datas)
            .zip(boxes)
            .map(|(((id, parent, url), data), offset)| FrameWalk {
                frame: id.clone(),
                parent: parent.clone(),
                url: url.clone(),
                generation: self.frame_generation(id).unwrap_or(0),
                offset,
                data,
            })
            .collect();
        // Compose offsets top-down (frames_of lists parents first). A frame owner's box is
        // given in the coordinates of its session's local root (the top of the page for
        // in-process frames, the out-of-process iframe itself otherwise).
        let sessions: HashMap<String, String> = {
            let st = self.st();
            walked.iter().filter_map(|w| st.frames.get(&w.frame).map(|f| (w.frame.clone(), f.session.clone()))).collect()
        };
        let mut abs: HashMap<String, (f64, f64)> = HashMap::new();
        let mut root_of_session: HashMap<String, (f64, f64)> = HashMap::new();
        for w in walked.iter_mut() {
            let own = sessions.get(&w.frame).cloned().unwrap_or_default();
            let a = match (&w.parent, w.offset) {
                (None, _) => Some((0.0, 0.0)),
                (Some(p), Some((ox, oy))) if abs.contains_key(p) => {
                    let ps = sessions.get(p).cloned().unwrap_or_default();
                    root_of_session.get(&ps).map(|(bx, by)| (bx + ox, by + oy))
                }
                _ => None, // hidden frame, or inside one
            };
            match a {
                Some(a) => {
                    let parent_session = w.parent.as_ref().and_then(|p| sessions.get(p));
                    if w.parent.is_none() || parent_session != Some(&own) {
                        root_of_session.insert(own, a);
                    }
                    abs.insert(w.frame.clone(), a);
                    w.offset = Some(a);
                }
                None => w.offset = None,
            }
        }
        // Show frames in page order: depth first, siblings top to bottom, left to right.
        walked = order_frames(walked);
        let main = walked
            .first()
            .and_then(|w| w.data.clone())
            .ok_or_else(|| BrowserError::Action("the page did not answer (it may still be loading); try wait".into()))?;
        let main_origin = origin(&walked[0].url);
        let mut ps = PageState {
            url: main.url.unwrap_or_default(),
            title: main.title,
            tabs: self.tabs_fresh().await,
            scroll: (main.scroll[0] as i64, main.scroll[1] as i64, main.scroll[2] as i64, main.scroll[3] as i64),
            viewport: (main.vp[0] as i64, main.vp[1] as i64),
            elements: vec![],
            frames: vec![],
            text: main.text,
            text_more: main.more,
            flags: vec![],
            dialogs: vec![],
            blocked: vec![],
            max_elements: opts.max_elements,
            ready: main.ready,
            problem: None,
            status: 0,
        };
        let doc = self.document_status();
        ps.problem = doc.problem();
        ps.status = doc.status;
        let vp = ps.viewport;
        let mut refs = self.refs.lock().unwrap_or_else(|p| p.into_inner());
        for w in walked.iter() {
            let (Some(data), Some((ox, oy))) = (&w.data, w.offset) else { continue };
            let summary = if w.parent.is_none() {
                FrameSummary { url: ps.url.clone(), title: ps.title.clone(), cross_origin: false }
            } else {
                FrameSummary {
                    url: data.url.clone().unwrap_or_else(|| w.url.clone()),
                    title: data.title.clone(),
                    cross_origin: origin(&w.url) != main_origin,
                }
            };
            ps.frames.push(summary);
            let fi = ps.frames.len() - 1;
            ps.flags.extend(data.flags.iter().cloned());
            for row in data.rows.iter().cloned() {
                if row.role == "iframe" {
                    continue; // frames are shown through their own elements
                }
                let r = refs.mint(RefKey { frame: w.frame.clone(), generation: w.generation, local: row.id });
                let (x, y) = (ox + row.left + row.width / 2.0, oy + row.top + row.height / 2.0);
                let mut where_ = row.where_;
                if fi != 0 {
                    where_ = if y < 0.0 {
                        -1
                    } else if y > vp.1 as f64 {
                        1
                    } else if x < 0.0 || x > vp.0 as f64 {
                        2
                    } else {
                        0
                    };
                }
                ps.elements.push(Element {
                    ref_: format!("e{r}"),
                    role: row.role,
                    name: row.name,
                    state: row.state,
                    where_,
                    x,
                    y,
                    href: row.href,
                    frame: fi,
                });
            }
        }
        drop(refs);
        tracing::debug!(target: "errand::state", "walks {:?}, boxes {:?}, total {:?}, frames {}", t_walk, t_box - t_walk, t0.elapsed(), frames.len());
        let newly = self.new_blocked();
        if !newly.is_empty() {
            ps.blocked = vec![crate::actions::blocked_summary(&newly)];
        }
        {
            let mut st = self.st();
            ps.dialogs = st
                .recent_dialogs
                .drain(..)
                .filter_map(|c| match c {
                    Change::Dialog { dialog, message, answer } => Some(format!("{dialog} \"{message}\" was {answer}")),
                    _ => None,
                })
                .collect();
        }
        Ok(ps)
    }

    /// The content-box origin of a child frame inside its parent, or `None` when the
    /// frame is not rendered (display:none, zero size).
    async fn frame_box(&self, frame: &str, parent: &str) -> Option<(f64, f64)> {
        let psession = self.st().frames.get(parent)?.session.clone();
        let owner = self.cdp.raw(Some(&psession), "DOM.getFrameOwner", json!({"frameId": frame})).await.ok()?;
        let node = owner["backendNodeId"].as_i64()?;
        let bm = self.cdp.raw(Some(&psession), "DOM.getBoxModel", json!({"backendNodeId": node})).await.ok()?;
        let q = bm["model"]["content"].as_array()?;
        let (x, y) = (q.first()?.as_f64()?, q.get(1)?.as_f64()?);
        let (w, h) = (bm["model"]["width"].as_f64()?, bm["model"]["height"].as_f64()?);
        if w <= 0.0 || h <= 0.0 {
            return None;
        }
        Some((x, y))
    }

    /// Resolve a public ref to its frame and node id, checking it is not stale.
    pub(crate) fn resolve_ref(&self, r: &str) -> Result<(String, i64)> {
        let n = parse_ref(r).ok_or_else(|| BrowserError::UnknownRef(r.to_string()))?;
        let key = {
            let refs = self.refs.lock().unwrap_or_else(|p| p.into_inner());
            refs.get(n).cloned().ok_or_else(|| BrowserError::UnknownRef(r.to_string()))?
        };
        if self.st().is_current(&key.frame, key.generation) {
            Ok((key.frame, key.local))
        } else {
            Err(BrowserError::StaleRef(r.to_string()))
        }
    }

    /// Mint (or look up) the ref of an element the walker registered with `local` id.
    pub(crate) fn ref_for(&self, frame: &str, local: i64) -> String {
        let generation = self.frame_generation(frame).unwrap_or(0);
        let mut refs = self.refs.lock().unwrap_or_else(|p| p.into_inner());
        format!("e{}", refs.mint(RefKey { frame: frame.to_string(), generation, local }))
    }
}

fn order_frames(walked: Vec<FrameWalk>) -> Vec<FrameWalk> {
    let mut rest: Vec<Option<FrameWalk>> = walked.into_iter().map(Some).collect();
    let mut out = Vec::with_capacity(rest.len());
    fn visit(parent: Option<&str>, rest: &mut Vec<Option<FrameWalk>>, out: &mut Vec<FrameWalk>) {
        let mut kids: Vec<usize> = (0..rest.len()).filter(|i| rest[*i].as_ref().is_some_and(|w| w.parent.as_deref() == parent)).collect();
        kids.sort_by(|a, b| {
            let pa = rest[*a].as_ref().and_then(|w| w.offset).unwrap_or((f64::MAX, f64::MAX));
            let pb = rest[*b].as_ref().and_then(|w| w.offset).unwrap_or((f64::MAX, f64::MAX));
            (pa.1, pa.0).partial_cmp(&(pb.1, pb.0)).unwrap_or(std::cmp::Ordering::Equal)
        });
        for k in kids {
            if let Some(w) = rest[k].take() {
                let id = w.frame.clone();
                out.push(w);
                visit(Some(&id), rest, out);
            }
        }
    }
    visit(None, &mut rest, &mut out);
    out
}

fn origin(u: &str) -> String {
    url::Url::parse(u).map(|u| u.origin().ascii_serialization()).unwrap_or_default()
}

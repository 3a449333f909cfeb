//! Reading pages: screenshots and thumbnails, extraction of the active tab or of many
//! URLs in tabs of their own, and tables as rows of cells.

use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

use crate::actions::ElementTarget;
use crate::js::{Quiet, EXTRACT, RENDERED, TABLE};
use crate::tracker::Scope;
use crate::{Browser, BrowserError, Change, Result, Tab};

/// Below this many characters of text, `extract_urls` also reads the page without scripts.
const SHORT_ARTICLE: usize = 500;

/// A thumbnail and when it was asked for: it shows the page as it was then, so it stands
/// for the page as long as nothing has changed there since.
pub(crate) struct Picture {
    tab: String,
    asked: Instant,
    bytes: Vec<u8>,
}

/// The thumbnail kept for reuse, and how many times an action has made kept ones stale:
/// a picture still being taken when an action forgets them is not kept when it comes.
#[derive(Default)]
pub(crate) struct Pictures {
    kept: Option<Picture>,
    generation: u64,
    /// A picture asked for while the page settled, still being drawn, with when it was
    /// asked for (see [`Browser::begin_picture`]).
    taking: Option<(Instant, tokio::task::JoinHandle<Result<Vec<u8>>>)>,
}

/// A thumbnail on its way ([`Browser::start_thumbnail`]): what the page showed when it was
/// asked for, whatever happens after.
pub struct PendingPicture(Pending);

enum Pending {
    Ready(Vec<u8>),
    Taking(tokio::task::JoinHandle<Result<Vec<u8>>>),
}

impl PendingPicture {
    /// The picture, once Chromium has drawn it.
    pub async fn finish(self) -> Result<Vec<u8>> {
        match self.0 {
            Pending::Ready(bytes) => Ok(bytes),
            Pending::Taking(task) => task.await.map_err(|e| BrowserError::Action(format!("the screenshot was lost: {e}")))?,
        }
    }
}

/// The image in a `Page.captureScreenshot` reply.
fn decode_screenshot(reply: &Value) -> Result<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(reply["data"].as_str().unwrap_or_default())
        .map_err(|e| BrowserError::Action(format!("Chromium sent an unreadable screenshot: {e}")))
}

impl Browser {
    /// Capture the active tab. `format` is `png` or `jpeg` (with `quality`).
    pub async fn screenshot(&self, full_page: bool, format: &str, quality: Option<u8>) -> Result<Vec<u8>> {
        let tab = self.active_tab()?;
        let session = tab.session.unwrap_or_default();
        let mut p = json!({"format": format});
        if let Some(q) = quality {
            p["quality"] = json!(q);
        }
        if full_page {
            let m = self.cdp.raw(Some(&session), "Page.getLayoutMetrics", json!({})).await?;
            let w = m["cssContentSize"]["width"].as_f64().unwrap_or(1280.0);
            let h = m["cssContentSize"]["height"].as_f64().unwrap_or(720.0).min(16384.0);
            p["clip"] = json!({"x": 0, "y": 0, "width": w, "height": h, "scale": 1});
            p["captureBeyondViewport"] = json!(true);
        }
        self.capture(&session, p, Duration::from_secs(20)).await
    }

    /// `Page.captureScreenshot` with these parameters, decoded.
    pub(crate) async fn capture(&self, session: &str, params: Value, timeout: Duration) -> Result<Vec<u8>> {
        decode_screenshot(&self.cdp.raw_with_timeout(Some(session), "Page.captureScreenshot", params, timeout).await?)
    }

    /// A small picture of the active tab for the recording: the viewport at half scale as
    /// JPEG, with secret fields drawn as dots first. The one taken while the last action
    /// settled serves if nothing has changed since it was asked for.
    pub async fn thumbnail(&self) -> Result<Vec<u8>> {
        self.start_thumbnail().await?.finish().await
    }

    /// [`Browser::thumbnail`], returned as soon as Chromium has been asked for it: drawing
    /// it takes two or three frames (35 to 50 ms), which errand spends on the next page
    /// state and model request. Finish it before the next action, which could otherwise
    /// show in the picture.
    pub async fn start_thumbnail(&self) -> Result<PendingPicture> {
        // One asked for while the page settled is kept when it comes, if nothing changed.
        let taking = self.pictures().taking.take();
        if let Some((_, task)) = taking {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
        let tab = self.active_tab()?;
        if let Some(bytes) = self.unchanged_picture(&tab.target_id).await {
            return Ok(PendingPicture(Pending::Ready(bytes)));
        }
        self.start_picture(&tab).await
    }

    /// Ask for a thumbnail of `tab`, kept with the time it was asked for when it comes.
    async fn start_picture(&self, tab: &Tab) -> Result<PendingPicture> {
        let asked = Instant::now();
        let generation = self.pictures().generation;
        let _ = self.eval_in_frame(&tab.target_id, "__errand.maskSecrets()").await;
        let session = tab.session.clone().unwrap_or_default();
        let m = self.cdp.raw(Some(&session), "Page.getLayoutMetrics", json!({})).await?;
        let w = m["cssVisualViewport"]["clientWidth"].as_f64().unwrap_or(1280.0);
        let h = m["cssVisualViewport"]["clientHeight"].as_f64().unwrap_or(720.0);
        let p = json!({"format": "jpeg", "quality": 55, "clip": {"x": 0, "y": 0, "width": w, "height": h, "scale": 0.5}});
        let (cdp, pictures, tab) = (self.cdp.clone(), self.picture.clone(), tab.target_id.clone());
        Ok(PendingPicture(Pending::Taking(tokio::spawn(async move {
            let r = cdp.raw_with_timeout(Some(&session), "Page.captureScreenshot", p, Duration::from_secs(10)).await?;
            tracing::debug!(target: "errand::timing", "picture taken in {:?}", asked.elapsed());
            let bytes = decode_screenshot(&r)?;
            let mut kept = pictures.lock().unwrap_or_else(|p| p.into_inner());
            if kept.generation == generation {
                kept.kept = Some(Picture { tab, asked, bytes: bytes.clone() });
            }
            Ok(bytes)
        }))))
    }

    /// Ask for a thumbnail of `tab` and go on: it is kept when it comes (unless an action
    /// has made it stale by then), for [`Browser::start_thumbnail`] to use. One at a time.
    pub(crate) async fn begin_picture(&self, tab: &Tab) {
        if self.pictures().taking.as_ref().is_some_and(|(_, t)| !t.is_finished()) {
            return;
        }
        let asked = Instant::now();
        if let Ok(PendingPicture(Pending::Taking(task))) = self.start_picture(tab).await {
            self.pictures().taking = Some((asked, task));
        }
    }

    fn pictures(&self) -> std::sync::MutexGuard<'_, Pictures> {
        self.picture.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the kept thumbnail is of `tab` and was asked for after `since`.
    pub(crate) fn picture_since(&self, tab: &str, since: Instant) -> bool {
        let p = self.pictures();
        p.kept.as_ref().is_some_and(|p| p.tab == tab && p.asked >= since) || p.taking.as_ref().is_some_and(|(asked, _)| *asked >= since)
    }

    /// Forget the kept thumbnail: an action is about to change what it shows.
    pub(crate) fn forget_picture(&self) {
        let mut p = self.pictures();
        p.kept = None;
        p.taking = None;
        p.generation += 1;
    }

    /// The kept thumbnail, if it is of `tab` and nothing has happened there since it was
    /// asked for: no change to the DOM, no scrolling, no short timer run or pending, no
    /// request.
    async fn unchanged_picture(&self, tab: &str) -> Option<Vec<u8>> {
        let asked = self.pictures().kept.as_ref().filter(|p| p.tab == tab)?.asked;
        let q = Quiet::read(&self.eval_in_frame(tab, "__errand.quietFor()").await.ok()?);
        let now = Instant::now();
        // A pending short timer may change the page any moment.
        if q.timers {
            return None;
        }
        let dom = q.dom;
        let net = self.st().network_quiet(tab, Scope::Browser, now)?;
        // `now` is after the page answered: the change is placed later than it was, never
        // earlier, so a doubtful picture is taken again.
        if now.checked_sub(net.min(dom)).is_some_and(|last| last >= asked) {
            return None;
        }
        self.pictures().kept.as_ref().filter(|p| p.tab == tab && p.asked == asked).map(|p| p.bytes.clone())
    }

    /// The main content of the active tab's page: `{url, title, byline, date, lang,
    /// markdown, text, extractor}`. The rendered page (after scripts, without what a
    /// reader cannot see) goes through [`crate::extract::article`]; a page it finds no
    /// article in gets errand's own in-page extractor.
    pub async fn extract(&self) -> Result<Value> {
        let tab = self.active_tab()?;
        self.extract_in(&tab.target_id).await
    }

    pub(crate) async fn extract_in(&self, target: &str) -> Result<Value> {
        let call = format!("({RENDERED})()");
        let t0 = Instant::now();
        let (page, sent) = tokio::join!(self.eval_in_frame(target, &call), self.sent_html(target));
        let page = page?;
        tracing::debug!(target: "errand::timing", "extract: page read in {:?}", t0.elapsed());
        let url = page["url"].as_str().unwrap_or_default().to_string();
        let html = page["html"].as_str().unwrap_or_default().to_string();
        let sent = sent.filter(|_| page["sent"] == true);
        let base = url.clone();
        let rendered = self.opts.keep_rendered.then(|| html.clone());
        // Parsing a big page takes tens of milliseconds: off the async threads.
        let art = tokio::task::spawn_blocking(move || crate::extract::article_of(&html, sent.as_deref(), &base)).await.ok().flatten();
        tracing::debug!(target: "errand::timing", "extract: parsed by {:?}", t0.elapsed());
        let pick = |k: &str, alt: &str| -> Value {
            let v = page[k].as_str().unwrap_or_default();
            Value::String(if v.is_empty() { alt.to_string() } else { v.to_string() })
        };
        let mut v = match art {
            Some((a, view)) => json!({
                "url": url,
                "title": pick("title", &a.title),
                "byline": pick("byline", &a.byline),
                "date": pick("date", &a.date),
                "lang": pick("lang", &a.lang),
                "page_type": a.page_type,
                "markdown": a.markdown.trim(),
                "text": a.text.trim(),
                "extractor": "rs-trafilatura",
                "view": view.as_str(),
            }),
            None => {
                let mut v = self.eval_in_frame(target, &format!("({EXTRACT})()")).await?;
                v["extractor"] = json!("errand");
                v
            }
        };
        if let Some(html) = rendered {
            v["rendered"] = json!(html);
        }
        Ok(v)
    }

    /// The HTML the server sent for the document `frame` shows (the tab's top frame), if
    /// Chromium still holds the response; its navigation's request id is its loader id.
    async fn sent_html(&self, frame: &str) -> Option<String> {
        let session = self.st().frames.get(frame)?.session.clone();
        let tree = self.cdp.raw(Some(&session), "Page.getFrameTree", json!({})).await.ok()?;
        let f = &tree["frameTree"]["frame"];
        if f["id"].as_str()? != frame {
            return None;
        }
        let body = self.cdp.raw(Some(&session), "Network.getResponseBody", json!({ "requestId": f["loaderId"] })).await.ok()?;
        let text = body["body"].as_str()?;
        if body["base64Encoded"] == true {
            let bytes = base64::engine::general_purpose::STANDARD.decode(text).ok()?;
            Some(String::from_utf8_lossy(&bytes).into_owned())
        } else {
            Some(text.to_string())
        }
    }

    /// Extract several pages, `parallel` at a time, each in a background tab of its own
    /// (the same browser, the same allowlist and consent), yielding results in the order
    /// of `urls` as they become ready. When the rendered page holds little or nothing (an
    /// error page after a client-side redirect that failed, a script that replaced the
    /// article, errand's own "blocked" page), the page is read once more with its scripts
    /// off, the way the server sent it, and the fuller of the two is kept (`"view":
    /// "rendered"` or `"without scripts"`).
    pub fn extract_urls<'a>(&'a self, urls: &'a [String], parallel: usize) -> impl futures::Stream<Item = (usize, Result<Value>)> + 'a {
        use futures::StreamExt;
        futures::stream::iter(urls.iter().enumerate())
            .map(move |(i, u)| async move { (i, self.extract_in_new_tab(u).await) })
            .buffered(parallel.max(1))
    }

    pub(crate) async fn extract_in_new_tab(&self, url: &str) -> Result<Value> {
        let t0 = Instant::now();
        let tab = self.open_tab().await?;
        tracing::debug!(target: "errand::timing", "tab for {url} open in {} ms", t0.elapsed().as_millis());
        let r = async {
            let mut v = match self.load_and_extract(&tab, url, false).await {
                Ok(v) => v,
                // The page's scripts may have sent it where it cannot load (from http to an
                // https the server does not speak): the page as the server sent it, if it
                // loads; else the first error.
                Err(e @ BrowserError::Action(_)) => {
                    return match self.load_and_extract(&tab, url, true).await {
                        Ok(mut w) if w["text"].as_str().is_some_and(|t| !t.trim().is_empty()) => {
                            w["view"] = json!("without scripts");
                            Ok(w)
                        }
                        _ => Err(e),
                    };
                }
                Err(e) => return Err(e),
            };
            if v["view"].is_null() {
                v["view"] = json!("rendered");
            }
            let len = |v: &Value| v["text"].as_str().map(|t| t.chars().count()).unwrap_or(0);
            let landed = v["url"].as_str().unwrap_or_default().to_string();
            let failed_page =
                landed.starts_with("chrome-error:") || landed.starts_with("data:") || self.blocked().iter().any(|b| b.url == landed);
            if len(&v) >= SHORT_ARTICLE && !failed_page {
                return Ok(v);
            }
            match self.load_and_extract(&tab, url, true).await {
                Ok(mut w) if len(&w) > 2 * len(&v) || (failed_page && len(&w) > 0) => {
                    w["view"] = json!("without scripts");
                    Ok(w)
                }
                _ => Ok(v),
            }
        }
        .await;
        let _ = self.close_target(&tab.target_id).await;
        self.st().changes.retain(|c| !matches!(c, Change::NewTab { .. } | Change::TabClosed { .. }));
        tracing::debug!(target: "errand::timing", "extracted {url} in {} ms", t0.elapsed().as_millis());
        r
    }

    /// Load `url` in `tab` (scripts on or off) and extract it once the page settles.
    pub(crate) async fn load_and_extract(&self, tab: &Tab, url: &str, scripts_off: bool) -> Result<Value> {
        if let Some(reason) = self.judge(url) {
            return Err(BrowserError::Blocked { url: url.to_string(), reason });
        }
        let session = tab.session.clone().unwrap_or_default();
        self.cdp.raw(Some(&session), "Emulation.setScriptExecutionDisabled", json!({ "value": scripts_off })).await?;
        let t0 = Instant::now();
        self.navigate_in(tab, url).await?;
        let loaded = t0.elapsed();
        self.settle_tab(tab, scripts_off).await?;
        tracing::debug!(target: "errand::timing", "loaded {url} in {} ms, settled by {} ms", loaded.as_millis(), t0.elapsed().as_millis());
        let doc = self.frame_status(&tab.target_id);
        // A page sent to a blocked host is read again without scripts by the caller.
        if let Some(p) = doc.problem().filter(|_| !doc.blocked) {
            // An error page is not the page's content: say so rather than extract it.
            return Err(BrowserError::Action(if p.starts_with("net::") {
                format!("could not load {url}: {p}")
            } else {
                format!("{url} answered {p}")
            }));
        }
        let mut v = self.extract_in(&tab.target_id).await?;
        v["status"] = json!(doc.status);
        Ok(v)
    }
}

impl Browser {
    /// Read a table as rows of cell texts: the one a target names (or contains, or sits
    /// in), or the page's largest. Returns `{caption, header, rows, columns}`.
    pub async fn extract_table(&self, target: Option<&ElementTarget>) -> Result<Value> {
        let (frame, arg) = match target {
            Some(t) => {
                let (frame, local) = self.resolve(t).await?;
                (frame, format!("__errand.get({local})"))
            }
            None => (self.active_tab()?.target_id, "null".to_string()),
        };
        let r = self.eval_in_frame(&frame, &format!("({TABLE})({arg})")).await?;
        match r["error"].as_str() {
            Some(e) => Err(BrowserError::Action(e.to_string())),
            None => Ok(r),
        }
    }
}

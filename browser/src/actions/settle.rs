//! Settling: after an action (or a page load), wait until the page is quiet, and no
//! longer than it is busy.
//!
//! Why it exists: a model that reads a page still loading sees half of it; a fixed wait
//! after every action costs every step the same time whether the page does anything or
//! not. Both errand's own actions and the extraction of several tabs at once come here.
//!
//! What "quiet" means: nothing under way that DevTools shows (a navigation, a request in
//! flight, one waiting for consent: the tracker's [`State::network_quiet`]), no short
//! timer of the page's pending (the timer watch, `js/timers.js`, tells errand's world when
//! a `setTimeout` of up to 250 ms is set and when none is left, following a chain of them
//! for a few hops; for the first second only, as a page that keeps setting them from an
//! animation loop is never without one), the page rendered twice since the last change (so
//! what an action set off in its handlers, in the next animation frame or in an
//! IntersectionObserver has run and shows; once, for a document that replaced the one
//! acted on, which ran none of the action's handlers; a change the first frame itself
//! made, as the scroll event a scroll dispatches there, was drawn in it and followed by
//! the second), and no change to the DOM or scroll position for [`crate::Options::quiet`]
//! (25 ms) after that. A page that has just loaded gets no
//! longer: what its scripts still do after the load event (timers that set timers, then a
//! request, then the view) shows as one of those. A page that is still busy when the
//! settle timeout comes is reported as such, not waited on forever.
//!
//! While the page only has to stay quiet for a while longer, the recording's picture of
//! it is asked for; it is drawn while errand goes on ([`Browser::thumbnail`] uses it if
//! nothing changed since). While the network is busy, the settle looks again as soon as
//! DevTools reports a change, not at its next poll.
//!
//! [`State::network_quiet`]: crate::tracker::State::network_quiet

use std::time::{Duration, Instant};

use crate::js::{Quiet, SettleCheck};
use crate::tracker::Scope;
use crate::{Browser, BrowserError, Result, Tab};

/// In the page: two rendered frames (or 100 ms, for a tab that renders none because it
/// is hidden), then how long the DOM has been unchanged and whether it is parsed.
/// Third: how long ago the first frame ran its animation callbacks (-1 if none ran).
/// What happened before them (the action, the scroll events a scroll dispatches in that
/// frame) was drawn in it, and what it set off for the next frame ran in the second.
const AFTER_FRAMES: &str = "new Promise((done) => { let first = -1; \
     const reply = () => done([__errand.quietFor(), document.readyState, first < 0 ? -1 : performance.now() - first]); \
     setTimeout(reply, 100); requestAnimationFrame(() => { first = performance.now(); requestAnimationFrame(() => setTimeout(reply, 0)); }); })";

/// [`AFTER_FRAMES`] with one frame: for a document that replaced the one acted on. No
/// handler of the action runs in it, so no chain of frames the action set off has to
/// show; what its own scripts do after their first frame shows as a DOM change within
/// the quiet window that follows, which makes the page render again.
const AFTER_FRAME: &str = "new Promise((done) => { const reply = () => done([__errand.quietFor(), document.readyState, -1]); \
     setTimeout(reply, 100); requestAnimationFrame(() => setTimeout(reply, 0)); })";

/// A tab's document at one moment: its target and its main frame's generation.
pub(crate) type Document = Option<(String, u64)>;

/// The shortest wait for quiet worth drawing the recording's picture in.
const PICTURE_WAIT: Duration = Duration::from_millis(15);

/// How long a pending short timer keeps a page from settling.
const TIMER_BUDGET: Duration = Duration::from_secs(1);

/// In the page, at once: how long the DOM has been unchanged (with the load and timers,
/// see [`Quiet`]) and whether it is parsed.
const QUIET_NOW: &str = "[__errand.quietFor(), document.readyState]";

impl Browser {
    /// Wait for the active tab to settle after an action: no navigation pending, nothing
    /// in flight anywhere in the browser (a popup the action opened loads too), the
    /// network and the DOM quiet for [`crate::Options::quiet`]. Returns false if still
    /// busy at the settle timeout. A request waiting for a person's decision is not a
    /// slow page: the wait for it does not count against the timeout.
    pub async fn settle(&self) -> Result<bool> {
        self.settle_in(None, false, None).await
    }

    /// [`Browser::settle`] after an action on `acted_on` ([`Browser::document_of`] the
    /// active tab before it): a new document in its place renders once, not twice.
    pub(crate) async fn settle_after(&self, acted_on: Document) -> Result<bool> {
        self.settle_in(None, false, acted_on).await
    }

    /// The document tab `target` shows now.
    pub(crate) fn document_of(&self, target: &str) -> Document {
        self.st().frames.get(target).map(|f| (target.to_string(), f.generation))
    }

    /// [`Browser::settle`] for one tab of several loading at once: its navigation done,
    /// its own requests finished, its DOM quiet. `scripts_off`: the tab runs no scripts, so
    /// it draws no animation frames to wait for (and none of the page's code runs).
    pub(crate) async fn settle_tab(&self, tab: &Tab, scripts_off: bool) -> Result<bool> {
        self.settle_in(Some(tab), scripts_off, None).await
    }

    async fn settle_in(&self, only: Option<&Tab>, scripts_off: bool, acted_on: Document) -> Result<bool> {
        let scope = if only.is_some() { Scope::Tab } else { Scope::Browser };
        let quiet = self.opts.quiet;
        let start = Instant::now();
        let mut deadline = start + self.opts.settle_timeout;
        // When the page last began rendering twice with nothing under way: what happened
        // before that has shown its effects.
        let mut rendered: Option<Instant> = None;
        loop {
            // Registered before the network is looked at, so an event in between wakes it.
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            self.check_alive()?;
            let tab = match only {
                Some(t) => t.target_id.clone(),
                None => self.active_tab()?.target_id,
            };
            let network = {
                let st = self.st();
                if scope == Scope::Browser && st.consent_pending > 0 {
                    deadline = Instant::now() + self.opts.settle_timeout;
                }
                st.network_quiet(&tab, scope, Instant::now())
            };
            let mut busy = false;
            let wait = match network {
                // Something is under way: look again when the tracker hears of a change,
                // or shortly (a request's time runs out without an event).
                None => {
                    tracing::trace!(target: "errand::timing", "settle +{:?}: network busy", start.elapsed());
                    busy = true;
                    Duration::from_millis(10)
                }
                Some(_) => {
                    let asked = Instant::now();
                    let replaced = acted_on.is_some() && self.document_of(&tab) != acted_on;
                    let expr = match () {
                        _ if rendered.is_some() || scripts_off => QUIET_NOW,
                        _ if replaced => AFTER_FRAME,
                        _ => AFTER_FRAMES,
                    };
                    match self.eval_in_frame(&tab, expr).await {
                        Ok(v) => {
                            let now = Instant::now();
                            let SettleCheck { quiet: Quiet { mut dom, timers }, ready, first_frame } = SettleCheck::read(&v);
                            // A pending short timer is the page still at work, for as long
                            // as an action's own chain of timers takes; a page that keeps
                            // setting them from elsewhere (an animation loop) is judged by
                            // its DOM alone after that.
                            if timers && now.duration_since(start) < TIMER_BUDGET {
                                dom = Duration::ZERO;
                            }
                            // Nothing may have started while the page rendered.
                            let net = self.st().network_quiet(&tab, scope, now).unwrap_or_default();
                            // When the network or the DOM last did something (`None`: long ago).
                            let last = now.checked_sub(net.min(dom));
                            // What happened up to this point has been drawn and followed
                            // by a frame: when the page was asked, or (after two frames)
                            // when the first of them ran.
                            let drawn = first_frame.and_then(|f| now.checked_sub(f)).map_or(asked, |t| t.max(asked));
                            rendered = match rendered {
                                // Something happened since the page rendered: it has to
                                // render again.
                                Some(r) if last.is_some_and(|l| l > r) => None,
                                Some(r) => Some(r),
                                None => last.is_none_or(|l| l <= drawn).then_some(drawn),
                            };
                            tracing::trace!(target: "errand::timing", "settle +{:?}: net {net:?} dom {dom:?} timers {timers} rendered {:?} {}", start.elapsed(), rendered.map(|r| r.duration_since(start)), ready);
                            if rendered.is_some() && net >= quiet && dom >= quiet && ready != "loading" {
                                return Ok(true);
                            }
                            // As long as the page still has to stay quiet.
                            quiet.saturating_sub(net.min(dom)).max(Duration::from_millis(5))
                        }
                        Err(BrowserError::Crashed(g)) => return Err(BrowserError::Crashed(g)),
                        // The document is being replaced: look again shortly.
                        Err(_) => {
                            rendered = None;
                            Duration::from_millis(10)
                        }
                    }
                }
            };
            let now = Instant::now();
            if now > deadline {
                return Ok(false);
            }
            // The page has rendered what happened and only has to stay quiet for a while:
            // ask for the recording's picture meanwhile. It serves if nothing changes
            // before the step is recorded ([`Browser::thumbnail`]). Not for a short wait:
            // the page answers no check while Chromium draws it (35 to 70 ms), so the
            // settle would end when the picture is drawn instead of when the page is quiet.
            if only.is_none() && wait >= PICTURE_WAIT && rendered.is_some_and(|r| !self.picture_since(&tab, r)) {
                if let Ok(t) = self.active_tab() {
                    self.begin_picture(&t).await;
                }
            }
            let nap = tokio::time::sleep(wait.min(deadline.saturating_duration_since(Instant::now())));
            if busy {
                tokio::select! {
                    _ = nap => {}
                    _ = changed => {}
                }
            } else {
                nap.await;
            }
        }
    }
}

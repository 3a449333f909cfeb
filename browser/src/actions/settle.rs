//! Settling: after an action (or a page load), wait until the page is quiet, and no
//! longer than it is busy.
//!
//! Why it exists: a model that reads a page still loading sees half of it; a fixed wait
//! after every action costs every step the same time whether the page does anything or
//! not. Both errand's own actions and the extraction of several tabs at once come here.
//!
//! What "quiet" means: nothing under way that DevTools shows (a navigation, a request in
//! flight, one waiting for consent: the tracker's [`State::network_quiet`]), the page
//! rendered twice since we last looked (so what an action set off in its handlers, in
//! the next animation frame or in an IntersectionObserver has run and shows), at least
//! half the quiet window since the action (for what it sets off on a short timer), and
//! no change to the DOM for the quiet window ([`crate::Options::quiet`]). A page that is
//! still busy when the settle timeout comes is reported as such, not waited on forever.
//!
//! [`State::network_quiet`]: crate::tracker::State::network_quiet

use std::time::{Duration, Instant};

use crate::tracker::Scope;
use crate::{Browser, BrowserError, Result, Tab};

/// In the page: two rendered frames (or 100 ms, for a tab that renders none because it
/// is hidden), then how long the DOM has been unchanged and whether it is parsed.
const AFTER_FRAMES: &str = "new Promise((done) => { const reply = () => done([__errand.quietFor(), document.readyState]); \
     setTimeout(reply, 100); requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(reply, 0))); })";

/// In the page, at once: how long the DOM has been unchanged and whether it is parsed.
const QUIET_NOW: &str = "[__errand.quietFor(), document.readyState]";

impl Browser {
    /// Wait for the active tab to settle after an action: no navigation pending, nothing
    /// in flight anywhere in the browser (a popup the action opened loads too), the
    /// network and the DOM quiet for [`crate::Options::quiet`]. Returns false if still
    /// busy at the settle timeout. A request waiting for a person's decision is not a
    /// slow page: the wait for it does not count against the timeout.
    pub async fn settle(&self) -> Result<bool> {
        self.settle_in(None).await
    }

    /// [`Browser::settle`] for one tab of several loading at once: its navigation done,
    /// its own requests finished, its DOM quiet.
    pub(crate) async fn settle_tab(&self, tab: &Tab) -> Result<bool> {
        self.settle_in(Some(tab)).await
    }

    async fn settle_in(&self, only: Option<&Tab>) -> Result<bool> {
        let scope = if only.is_some() { Scope::Tab } else { Scope::Browser };
        let quiet = self.opts.quiet;
        let start = Instant::now();
        // What an action sets off on a short timer (a view drawn 30 ms after a click) shows
        // no sign beforehand: give it half the quiet window.
        let floor = quiet / 2;
        let mut deadline = start + self.opts.settle_timeout;
        // When the page last began rendering twice with nothing under way: what happened
        // before that has shown its effects.
        let mut rendered: Option<Instant> = None;
        loop {
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
            let wait = match network {
                // Something is under way: look again shortly.
                None => Duration::from_millis(10),
                Some(_) => {
                    let asked = Instant::now();
                    let expr = if rendered.is_some() { QUIET_NOW } else { AFTER_FRAMES };
                    match self.eval_in_frame(&tab, expr).await {
                        Ok(v) => {
                            let now = Instant::now();
                            let dom = Duration::from_secs_f64(v[0].as_f64().unwrap_or(0.0).max(0.0) / 1000.0);
                            // Nothing may have started while the page rendered.
                            let net = self.st().network_quiet(&tab, scope, now).unwrap_or_default();
                            // When the network or the DOM last did something (`None`: long ago).
                            let last = now.checked_sub(net.min(dom));
                            rendered = match rendered {
                                // Something happened since the page rendered: it has to
                                // render again.
                                Some(r) if last.is_some_and(|l| l > r) => None,
                                Some(r) => Some(r),
                                None => last.is_none_or(|l| l <= asked).then_some(asked),
                            };
                            let waited = now.duration_since(start);
                            if rendered.is_some() && net >= quiet && dom >= quiet && waited >= floor && v[1] != "loading" {
                                return Ok(true);
                            }
                            // As long as the page still has to stay quiet.
                            quiet.saturating_sub(net.min(dom)).max(floor.saturating_sub(waited)).max(Duration::from_millis(5))
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
            tokio::time::sleep(wait.min(deadline - now)).await;
        }
    }
}
